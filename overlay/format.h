/* SPDX-License-Identifier: Apache-2.0 */
/* The sealed overlay's container: its signed header, the pinned signer keys
 * that may sign one, and the AES-256-GCM chunk records that follow it.
 * docs/overlay-format.md describes the bytes; this is the only code that
 * reads or writes them. Everything here is pure computation (no files, no
 * global state), so the node's /init links it as it is. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reason.h"

#define OVERLAY_MAGIC "EMBEROVL"
#define OVERLAY_MAGIC_LEN 8
#define OVERLAY_VERSION 1
#define OVERLAY_ID_LEN 16
#define OVERLAY_HASH_LEN 32
#define OVERLAY_KEY_LEN 32
#define OVERLAY_NONCE_LEN 8
#define OVERLAY_TAG_LEN 16

/* Offsets that matter beyond the parser: the bytes up to header_len tell a
 * streaming reader how much header to wait for; each chunk's AAD binds
 * every field before ct_sha256; the signature covers everything before
 * sig_len. */
#define OVERLAY_PREFIX_LEN 16
#define OVERLAY_BOUND_LEN 120
#define OVERLAY_SIGNED_LEN 184
#define OVERLAY_FIXED_LEN 186
#define OVERLAY_HEADER_MAX 4096
#define OVERLAY_SIG_MAX (OVERLAY_HEADER_MAX - OVERLAY_FIXED_LEN)
/* Room a signer reserves for a DER ECDSA P-256 signature (at most 72
 * bytes): header_len is signed, so it is fixed before the signature's own
 * length is known, and the unused end of the slot is zeros. */
#define OVERLAY_SIG_SLOT 72

#define OVERLAY_CHUNK_MIN 4096u
#define OVERLAY_CHUNK_MAX (16u << 20)
#define OVERLAY_CHUNK_DEFAULT (1u << 20)

struct overlay_header {
        uint16_t version;
        uint16_t flags;
        uint32_t header_len;
        uint8_t id[OVERLAY_ID_LEN];
        uint64_t serial;
        uint64_t created;
        uint32_t chunk_size;
        uint64_t chunk_count;
        uint64_t payload_size;
        uint64_t content_size;
        uint32_t entries;
        uint8_t key_id[OVERLAY_HASH_LEN];
        uint8_t nonce_base[OVERLAY_NONCE_LEN];
        uint8_t ct_sha256[OVERLAY_HASH_LEN];
        uint8_t signer_id[OVERLAY_HASH_LEN];
        uint16_t sig_len;
        uint8_t sig[OVERLAY_SIG_MAX];
};

/* What a reader accepts beyond the format's own bounds. */
struct overlay_limits {
        uint64_t max_content;    /* bytes of tar */
        uint32_t max_entries;
        uint32_t max_ratio;      /* content_size : payload_size */
        uint32_t max_chunk_size; /* plaintext bytes a reader buffers per chunk */
};

#define OVERLAY_MAX_CONTENT_DEFAULT ((uint64_t)1 << 30)
#define OVERLAY_MAX_ENTRIES_DEFAULT 100000u
#define OVERLAY_MAX_RATIO_DEFAULT 100u
/* Small tars compress far better than any ratio (a 1 KiB end-of-archive
 * marker and 512-byte headers are mostly zeros): this much content is
 * always allowed on top of max_ratio × payload_size. */
#define OVERLAY_RATIO_ALLOWANCE ((uint64_t)1 << 20)

void overlay_limits_default(struct overlay_limits *l);

/* From the first OVERLAY_PREFIX_LEN bytes: magic, version and flags are
 * right and header_len is within bounds. -EBADMSG otherwise, with why. */
int overlay_header_prefix(const uint8_t *p, size_t len, uint32_t *ret_header_len, const struct reason *w);

/* Parses a whole header: len must be exactly its header_len. Syntax only
 * (every field read, lengths agree); *ret is written only on success. */
int overlay_header_parse(const uint8_t *p, size_t len, struct overlay_header *ret, const struct reason *w);

/* The header's meaning: serial, chunk geometry, sizes that agree with each
 * other, and the limits (NULL: the defaults). */
int overlay_header_check(const struct overlay_header *h, const struct overlay_limits *l, const struct reason *w);

/* The header's bytes: header_len of them (the signature slot's unused end
 * zero). -EINVAL if header_len cannot hold the signature, -ENOBUFS if size
 * is too small. */
int overlay_header_marshal(const struct overlay_header *h, uint8_t *buf, size_t size, size_t *ret_len);

/* Plaintext bytes of chunk index (0 beyond the last). */
uint64_t overlay_chunk_len(const struct overlay_header *h, uint64_t index);
/* Bytes of the whole file: header, chunk ciphertexts and their tags. */
uint64_t overlay_file_size(const struct overlay_header *h);

/* SHA-256("ember-overlay-key-id" ‖ key). */
void overlay_key_id(const uint8_t key[OVERLAY_KEY_LEN], uint8_t out[OVERLAY_HASH_LEN]);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void overlay_hex(const uint8_t *p, size_t n, char *out);
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (37 bytes with the NUL). */
#define OVERLAY_ID_STR 37
void overlay_id_format(const uint8_t id[OVERLAY_ID_LEN], char out[OVERLAY_ID_STR]);
int overlay_id_parse(const char *s, uint8_t out[OVERLAY_ID_LEN]);
/* A random (version 4) UUID. */
int overlay_id_random(uint8_t out[OVERLAY_ID_LEN]);
/* Exactly 2n hex digits, either case. */
int overlay_unhex(const char *s, uint8_t *out, size_t n);

/* Pinned signer public keys (ECDSA P-256): one or more "PUBLIC KEY" PEM
 * blocks; text outside the blocks is ignored, any other block refused. */
#define OVERLAY_SIGNERS_MAX 16
struct overlay_signers;
int overlay_signers_parse(const char *pem, size_t len, struct overlay_signers **ret, const struct reason *w);
int overlay_signers_load(const char *path, struct overlay_signers **ret, const struct reason *w);
size_t overlay_signers_count(const struct overlay_signers *s);
const uint8_t *overlay_signers_id(const struct overlay_signers *s, size_t i);
void overlay_signers_free(struct overlay_signers *s);

/* The signature is by the pinned signer h->signer_id names, over the header
 * as overlay_header_marshal writes it. */
int overlay_header_verify(const struct overlay_header *h, const struct overlay_signers *s, const struct reason *w);

/* The operator's overlay signing key: a PEM ECDSA P-256 private key. */
struct overlay_signing_key;
int overlay_signing_key_parse(const char *pem, size_t len, struct overlay_signing_key **ret, const struct reason *w);
int overlay_signing_key_load(const char *path, struct overlay_signing_key **ret, const struct reason *w);
const uint8_t *overlay_signing_key_id(const struct overlay_signing_key *k);
void overlay_signing_key_free(struct overlay_signing_key *k);

/* Sets header_len (OVERLAY_FIXED_LEN + OVERLAY_SIG_SLOT), signer_id, then
 * sig and sig_len: the signature covers every other field, so they must be
 * final. */
int overlay_header_sign(struct overlay_header *h, const struct overlay_signing_key *k, const struct reason *w);

/* The chunk cipher of one overlay: its data key, nonce base and the hash of
 * the header fields every chunk's AAD binds. */
struct overlay_cipher;
int overlay_cipher_new(const uint8_t key[OVERLAY_KEY_LEN], const struct overlay_header *h, struct overlay_cipher **ret);
void overlay_cipher_free(struct overlay_cipher *c);

/* rec receives len + OVERLAY_TAG_LEN bytes: ciphertext, then tag. */
int overlay_chunk_seal(struct overlay_cipher *c, uint64_t index, bool last, const uint8_t *pt, size_t len, uint8_t *rec);
/* pt receives rec_len - OVERLAY_TAG_LEN bytes, only if the tag verifies
 * (-EBADMSG otherwise: wrong key, another position, or altered bytes; pt
 * is then zeroed). pt may be rec itself: the record is opened in place. */
int overlay_chunk_open(struct overlay_cipher *c, uint64_t index, bool last, const uint8_t *rec, size_t rec_len, uint8_t *pt);

static inline void overlay_signers_freep(struct overlay_signers **s) { overlay_signers_free(*s); }
static inline void overlay_signing_key_freep(struct overlay_signing_key **k) { overlay_signing_key_free(*k); }
static inline void overlay_cipher_freep(struct overlay_cipher **c) { overlay_cipher_free(*c); }
#define _cleanup_overlay_signers_ __attribute__((cleanup(overlay_signers_freep)))
#define _cleanup_overlay_signing_key_ __attribute__((cleanup(overlay_signing_key_freep)))
#define _cleanup_overlay_cipher_ __attribute__((cleanup(overlay_cipher_freep)))
