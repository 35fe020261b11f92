/* SPDX-License-Identifier: Apache-2.0 */
#include "format.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <mbedtls/ecp.h>
#include <mbedtls/gcm.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "fileio.h"
#include "mbed.h"
#include "reader.h"
#include "util.h"

#define KEY_ID_LABEL "ember-overlay-key-id"
#define PEM_FILE_MAX (64u << 10)
#define PEM_BEGIN "-----BEGIN "
#define PEM_PUB_END "-----END PUBLIC KEY-----"
#define AAD_LEN (OVERLAY_HASH_LEN + 8 + 1)
#define IV_LEN 12

struct signer {
        mbedtls_pk_context pk;
        uint8_t id[OVERLAY_HASH_LEN];
};

struct overlay_signers {
        struct signer v[OVERLAY_SIGNERS_MAX];
        size_t n;
};

struct overlay_signing_key {
        struct signer s;
};

struct overlay_cipher {
        mbedtls_gcm_context gcm;
        uint8_t nonce_base[OVERLAY_NONCE_LEN];
        uint8_t bound[OVERLAY_HASH_LEN];
};

void overlay_limits_default(struct overlay_limits *l)
{
        *l = (struct overlay_limits){
                .max_content = OVERLAY_MAX_CONTENT_DEFAULT,
                .max_entries = OVERLAY_MAX_ENTRIES_DEFAULT,
                .max_ratio = OVERLAY_MAX_RATIO_DEFAULT,
                .max_chunk_size = OVERLAY_CHUNK_MAX,
        };
}

/* reader.h has no 64-bit read; this one also consumes nothing on failure. */
static int rd_be64(struct reader *r, uint64_t *ret)
{
        uint32_t hi, lo;
        if (rd_remaining(r) < 8)
                return -EBADMSG;
        (void)rd_be32(r, &hi);
        (void)rd_be32(r, &lo);
        *ret = (uint64_t)hi << 32 | lo;
        return 0;
}

static uint8_t *put_be(uint8_t *p, uint64_t v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
        return p + n;
}

static uint8_t *put_bytes(uint8_t *p, const void *src, size_t n)
{
        memcpy(p, src, n);
        return p + n;
}

void overlay_hex(const uint8_t *p, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[p[i] >> 4];
                out[2 * i + 1] = digits[p[i] & 15];
        }
        out[2 * n] = '\0';
}

int overlay_unhex(const char *s, uint8_t *out, size_t n)
{
        return hex_decode(s, out, n);
}

void overlay_id_format(const uint8_t id[OVERLAY_ID_LEN], char out[OVERLAY_ID_STR])
{
        char h[2 * OVERLAY_ID_LEN + 1];
        overlay_hex(id, OVERLAY_ID_LEN, h);
        snprintf(out, OVERLAY_ID_STR, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

int overlay_id_parse(const char *s, uint8_t out[OVERLAY_ID_LEN])
{
        char h[2 * OVERLAY_ID_LEN + 1];
        size_t n = 0;
        if (!s || strlen(s) != OVERLAY_ID_STR - 1)
                return -EINVAL;
        for (size_t i = 0; s[i]; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash != (s[i] == '-'))
                        return -EINVAL;
                if (!dash)
                        h[n++] = s[i];
        }
        h[n] = '\0';
        return overlay_unhex(h, out, OVERLAY_ID_LEN);
}

int overlay_id_random(uint8_t out[OVERLAY_ID_LEN])
{
        int r = getrandom_full(out, OVERLAY_ID_LEN);
        if (r < 0)
                return r;
        out[6] = (out[6] & 0x0f) | 0x40;
        out[8] = (out[8] & 0x3f) | 0x80;
        return 0;
}

void overlay_key_id(const uint8_t key[OVERLAY_KEY_LEN], uint8_t out[OVERLAY_HASH_LEN])
{
        mbedtls_sha256_context c;
        mbedtls_sha256_init(&c);
        (void)mbedtls_sha256_starts_ret(&c, 0);
        (void)mbedtls_sha256_update_ret(&c, (const unsigned char *)KEY_ID_LABEL, strlen(KEY_ID_LABEL));
        (void)mbedtls_sha256_update_ret(&c, key, OVERLAY_KEY_LEN);
        (void)mbedtls_sha256_finish_ret(&c, out);
        mbedtls_sha256_free(&c);
}

int overlay_header_prefix(const uint8_t *p, size_t len, uint32_t *ret_header_len, const struct reason *w)
{
        struct reader r;
        const uint8_t *magic;
        uint16_t version, flags;
        uint32_t header_len;

        rd_init(&r, p, len);
        if (rd_bytes(&r, OVERLAY_MAGIC_LEN, &magic) < 0 || rd_be16(&r, &version) < 0 || rd_be16(&r, &flags) < 0 ||
            rd_be32(&r, &header_len) < 0)
                return reason_fail(w, -EBADMSG, "header: truncated (%zu bytes)", len);
        if (memcmp(magic, OVERLAY_MAGIC, OVERLAY_MAGIC_LEN) != 0)
                return reason_fail(w, -EBADMSG, "header: not a sealed overlay (no " OVERLAY_MAGIC " magic)");
        if (version != OVERLAY_VERSION)
                return reason_fail(w, -EBADMSG, "header: format version %u (this reader knows %u)", version,
                                   OVERLAY_VERSION);
        if (flags != 0)
                return reason_fail(w, -EBADMSG, "header: flags 0x%04x (none are defined)", flags);
        if (header_len <= OVERLAY_FIXED_LEN || header_len > OVERLAY_HEADER_MAX)
                return reason_fail(w, -EBADMSG, "header: length %" PRIu32 " out of range (%u..%u)", header_len,
                                   OVERLAY_FIXED_LEN + 1, OVERLAY_HEADER_MAX);
        *ret_header_len = header_len;
        return 0;
}

int overlay_header_parse(const uint8_t *p, size_t len, struct overlay_header *ret, const struct reason *w)
{
        struct reader r;
        const uint8_t *pad;
        int err;

        /* large (the signature slot): callers keep theirs off small stacks */
        struct overlay_header *h = calloc(1, sizeof(*h));
        if (!h)
                return reason_fail(w, -ENOMEM, "header: out of memory");
        err = overlay_header_prefix(p, len, &h->header_len, w);
        if (err < 0)
                goto out;
        err = -EBADMSG;
        if (len != h->header_len) {
                reason_fail(w, err, "header: %zu bytes where its length field says %" PRIu32, len, h->header_len);
                goto out;
        }
        rd_init(&r, p, len);
        (void)rd_skip(&r, OVERLAY_MAGIC_LEN);
        h->version = OVERLAY_VERSION;
        h->flags = 0;
        (void)rd_skip(&r, 8);
        /* header_len < len is checked above: every fixed field is there */
        (void)rd_copy(&r, h->id, OVERLAY_ID_LEN);
        (void)rd_be64(&r, &h->serial);
        (void)rd_be64(&r, &h->created);
        (void)rd_be32(&r, &h->chunk_size);
        (void)rd_be64(&r, &h->chunk_count);
        (void)rd_be64(&r, &h->payload_size);
        (void)rd_be64(&r, &h->content_size);
        (void)rd_be32(&r, &h->entries);
        (void)rd_copy(&r, h->key_id, OVERLAY_HASH_LEN);
        (void)rd_copy(&r, h->nonce_base, OVERLAY_NONCE_LEN);
        (void)rd_copy(&r, h->ct_sha256, OVERLAY_HASH_LEN);
        (void)rd_copy(&r, h->signer_id, OVERLAY_HASH_LEN);
        (void)rd_be16(&r, &h->sig_len);
        if (h->sig_len == 0 || rd_copy(&r, h->sig, h->sig_len) < 0) {
                reason_fail(w, err, "header: signature length %u does not fit its %" PRIu32 "-byte header", h->sig_len,
                            h->header_len);
                goto out;
        }
        (void)rd_bytes(&r, rd_remaining(&r), &pad);
        for (size_t i = 0; i < len - OVERLAY_FIXED_LEN - h->sig_len; i++)
                if (pad[i] != 0) {
                        reason_fail(w, err, "header: byte %zu after the signature is not zero",
                                    OVERLAY_FIXED_LEN + h->sig_len + i);
                        goto out;
                }
        memcpy(ret, h, sizeof(*h));
        err = 0;
out:
        free(h);
        return err;
}

/* zstd's own worst case for a frame of n bytes (ZSTD_COMPRESSBOUND in
 * zstd.h, the same formula), saturating instead of wrapping. */
static uint64_t compress_bound(uint64_t n)
{
        const uint64_t block = 128u << 10;
        uint64_t b;
        if (__builtin_add_overflow(n, n >> 8, &b))
                return UINT64_MAX;
        return n < block ? b + ((block - n) >> 11) : b;
}

static int check_geometry(const struct overlay_header *h, const struct overlay_limits *l, const struct reason *w)
{
        if (h->chunk_size < OVERLAY_CHUNK_MIN || h->chunk_size > OVERLAY_CHUNK_MAX)
                return reason_fail(w, -EBADMSG, "header: chunk size %" PRIu32 " out of range (%u..%u)", h->chunk_size,
                                   OVERLAY_CHUNK_MIN, OVERLAY_CHUNK_MAX);
        if (h->chunk_size > l->max_chunk_size)
                return reason_fail(w, -E2BIG, "header: chunk size %" PRIu32 " over this reader's %" PRIu32,
                                   h->chunk_size, l->max_chunk_size);
        uint64_t want = h->payload_size == 0 ? 1 : (h->payload_size - 1) / h->chunk_size + 1;
        if (h->chunk_count != want)
                return reason_fail(w, -EBADMSG,
                                   "header: %" PRIu64 " chunks, but %" PRIu64 " bytes of payload in chunks of %" PRIu32
                                   " make %" PRIu64,
                                   h->chunk_count, h->payload_size, h->chunk_size, want);
        /* the IV numbers chunks in 32 bits */
        if (h->chunk_count > UINT32_MAX)
                return reason_fail(w, -EBADMSG, "header: %" PRIu64 " chunks, more than the nonce can number",
                                   h->chunk_count);
        return 0;
}

int overlay_header_check(const struct overlay_header *h, const struct overlay_limits *l, const struct reason *w)
{
        struct overlay_limits def;
        if (!h)
                return -EINVAL;
        if (!l) {
                overlay_limits_default(&def);
                l = &def;
        }
        if (h->serial == 0)
                return reason_fail(w, -EBADMSG, "header: serial 0 (serials start at 1)");
        int r = check_geometry(h, l, w);
        if (r < 0)
                return r;
        if (h->content_size > l->max_content)
                return reason_fail(w, -E2BIG, "header: %" PRIu64 " bytes of content, over the limit of %" PRIu64,
                                   h->content_size, l->max_content);
        if (h->entries > l->max_entries)
                return reason_fail(w, -E2BIG, "header: %" PRIu32 " entries, over the limit of %" PRIu32, h->entries,
                                   l->max_entries);
        if (h->payload_size > compress_bound(h->content_size))
                return reason_fail(w, -EBADMSG,
                                   "header: %" PRIu64 " bytes of payload for %" PRIu64
                                   " bytes of content: more than compression can add",
                                   h->payload_size, h->content_size);
        uint64_t allowed;
        if (!__builtin_mul_overflow(h->payload_size, (uint64_t)l->max_ratio, &allowed) &&
            !__builtin_add_overflow(allowed, OVERLAY_RATIO_ALLOWANCE, &allowed) && h->content_size > allowed)
                return reason_fail(w, -E2BIG,
                                   "header: %" PRIu64 " bytes of content from %" PRIu64
                                   " compressed: ratio over %" PRIu32 ":1",
                                   h->content_size, h->payload_size, l->max_ratio);
        return 0;
}

static void marshal_signed(const struct overlay_header *h, uint8_t out[OVERLAY_SIGNED_LEN])
{
        uint8_t *p = out;
        p = put_bytes(p, OVERLAY_MAGIC, OVERLAY_MAGIC_LEN);
        p = put_be(p, h->version, 2);
        p = put_be(p, h->flags, 2);
        p = put_be(p, h->header_len, 4);
        p = put_bytes(p, h->id, OVERLAY_ID_LEN);
        p = put_be(p, h->serial, 8);
        p = put_be(p, h->created, 8);
        p = put_be(p, h->chunk_size, 4);
        p = put_be(p, h->chunk_count, 8);
        p = put_be(p, h->payload_size, 8);
        p = put_be(p, h->content_size, 8);
        p = put_be(p, h->entries, 4);
        p = put_bytes(p, h->key_id, OVERLAY_HASH_LEN);
        p = put_bytes(p, h->nonce_base, OVERLAY_NONCE_LEN);
        p = put_bytes(p, h->ct_sha256, OVERLAY_HASH_LEN);
        put_bytes(p, h->signer_id, OVERLAY_HASH_LEN);
}

int overlay_header_marshal(const struct overlay_header *h, uint8_t *buf, size_t size, size_t *ret_len)
{
        if (!h || !buf || h->header_len > OVERLAY_HEADER_MAX || h->sig_len > OVERLAY_SIG_MAX ||
            h->header_len < (uint32_t)OVERLAY_FIXED_LEN + h->sig_len)
                return -EINVAL;
        if (size < h->header_len)
                return -ENOBUFS;
        marshal_signed(h, buf);
        put_be(buf + OVERLAY_SIGNED_LEN, h->sig_len, 2);
        memcpy(buf + OVERLAY_FIXED_LEN, h->sig, h->sig_len);
        memset(buf + OVERLAY_FIXED_LEN + h->sig_len, 0, h->header_len - OVERLAY_FIXED_LEN - h->sig_len);
        *ret_len = h->header_len;
        return 0;
}

uint64_t overlay_chunk_len(const struct overlay_header *h, uint64_t index)
{
        if (index >= h->chunk_count)
                return 0;
        if (index + 1 < h->chunk_count)
                return h->chunk_size;
        return h->payload_size - index * h->chunk_size;
}

uint64_t overlay_file_size(const struct overlay_header *h)
{
        return h->header_len + h->payload_size + h->chunk_count * OVERLAY_TAG_LEN;
}

static void signed_hash(const struct overlay_header *h, uint8_t out[OVERLAY_HASH_LEN])
{
        uint8_t buf[OVERLAY_SIGNED_LEN];
        marshal_signed(h, buf);
        mbedtls_sha256_ret(buf, sizeof(buf), out, 0);
}

/* SHA-256 of the public key's SubjectPublicKeyInfo DER. */
static int signer_init(struct signer *s, const struct reason *w, const char *what)
{
        unsigned char der[256];
        if (mbedtls_pk_get_type(&s->pk) != MBEDTLS_PK_ECKEY || mbedtls_pk_ec(s->pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1)
                return reason_fail(w, -EBADMSG, "%s: not an ECDSA P-256 key", what);
        /* the writer fills der from its end */
        int len = mbedtls_pk_write_pubkey_der(&s->pk, der, sizeof(der));
        if (len < 0)
                return mbed_reason(w, len, -EBADMSG, what);
        mbedtls_sha256_ret(der + sizeof(der) - (size_t)len, (size_t)len, s->id, 0);
        return 0;
}

static int parse_pub_block(struct signer *s, const char *start, size_t len, const struct reason *w, const char *what)
{
        /* mbedtls wants PEM NUL-terminated, the NUL counted in its length */
        _cleanup_free_ unsigned char *buf = malloc(len + 1);
        if (!buf)
                return reason_fail(w, -ENOMEM, "%s: out of memory", what);
        memcpy(buf, start, len);
        buf[len] = '\0';
        mbedtls_pk_init(&s->pk);
        int rc = mbedtls_pk_parse_public_key(&s->pk, buf, len + 1);
        if (rc != 0) {
                mbedtls_pk_free(&s->pk);
                return mbed_reason(w, rc, -EBADMSG, what);
        }
        rc = signer_init(s, w, what);
        if (rc < 0)
                mbedtls_pk_free(&s->pk);
        return rc;
}

int overlay_signers_parse(const char *pem, size_t len, struct overlay_signers **ret, const struct reason *w)
{
        const char *p = pem, *end = pem + len;
        char what[48];
        int r;

        if (!pem || !ret)
                return -EINVAL;
        struct overlay_signers *s = calloc(1, sizeof(*s));
        if (!s)
                return reason_fail(w, -ENOMEM, "signer keys: out of memory");
        for (;;) {
                const char *b = memmem(p, (size_t)(end - p), PEM_BEGIN, strlen(PEM_BEGIN));
                if (!b)
                        break;
                snprintf(what, sizeof(what), "signer key %zu", s->n + 1);
                const char *label = b + strlen(PEM_BEGIN);
                const char *nl = memchr(label, '\n', (size_t)(end - label));
                size_t llen = nl ? (size_t)(nl - label) : (size_t)(end - label);
                if (llen < 15 || memcmp(label, "PUBLIC KEY-----", 15) != 0) {
                        size_t shown = 0;
                        while (shown < llen && shown < 40 && (isalnum((unsigned char)label[shown]) || label[shown] == ' '))
                                shown++;
                        r = reason_fail(w, -EBADMSG, "%s: a %.*s block, not a PUBLIC KEY", what, (int)shown, label);
                        goto fail;
                }
                const char *e = memmem(label, (size_t)(end - label), PEM_PUB_END, strlen(PEM_PUB_END));
                if (!e) {
                        r = reason_fail(w, -EBADMSG, "%s: no " PEM_PUB_END " line", what);
                        goto fail;
                }
                if (s->n == OVERLAY_SIGNERS_MAX) {
                        r = reason_fail(w, -E2BIG, "more than %d signer keys", OVERLAY_SIGNERS_MAX);
                        goto fail;
                }
                p = e + strlen(PEM_PUB_END);
                r = parse_pub_block(&s->v[s->n], b, (size_t)(p - b), w, what);
                if (r < 0)
                        goto fail;
                s->n++;
        }
        if (s->n == 0) {
                r = reason_fail(w, -ENOENT, "signer keys: no PUBLIC KEY block");
                goto fail;
        }
        *ret = s;
        return 0;
fail:
        overlay_signers_free(s);
        return r;
}

int overlay_signers_load(const char *path, struct overlay_signers **ret, const struct reason *w)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_file_all(path, PEM_FILE_MAX, &buf, &len);
        if (r < 0)
                return reason_fail(w, r, "reading signer keys %s: %s", path, strerror(-r));
        return overlay_signers_parse(buf, len, ret, w);
}

size_t overlay_signers_count(const struct overlay_signers *s)
{
        return s ? s->n : 0;
}

const uint8_t *overlay_signers_id(const struct overlay_signers *s, size_t i)
{
        return s && i < s->n ? s->v[i].id : NULL;
}

void overlay_signers_free(struct overlay_signers *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                mbedtls_pk_free(&s->v[i].pk);
        free(s);
}

int overlay_header_verify(const struct overlay_header *h, const struct overlay_signers *s, const struct reason *w)
{
        char id[2 * OVERLAY_HASH_LEN + 1];
        uint8_t hash[OVERLAY_HASH_LEN];
        if (!h || !s)
                return -EINVAL;
        overlay_hex(h->signer_id, OVERLAY_HASH_LEN, id);
        for (size_t i = 0; i < s->n; i++) {
                if (memcmp(s->v[i].id, h->signer_id, OVERLAY_HASH_LEN) != 0)
                        continue;
                signed_hash(h, hash);
                /* mbedtls_pk_verify takes a non-const context but does not change it */
                int rc = mbedtls_pk_verify((mbedtls_pk_context *)&s->v[i].pk, MBEDTLS_MD_SHA256, hash, sizeof(hash),
                                           h->sig, h->sig_len);
                if (rc == MBEDTLS_ERR_MPI_ALLOC_FAILED || rc == MBEDTLS_ERR_ECP_ALLOC_FAILED)
                        return mbed_reason(w, rc, -ENOMEM, "signature");
                if (rc != 0)
                        return reason_fail(w, -EBADMSG, "signature: does not verify with pinned signer %.16s…", id);
                return 0;
        }
        return reason_fail(w, -EPERM, "signature: signer %.16s… is not pinned", id);
}

int overlay_signing_key_parse(const char *pem, size_t len, struct overlay_signing_key **ret, const struct reason *w)
{
        if (!pem || !ret)
                return -EINVAL;
        _cleanup_free_ unsigned char *buf = malloc(len + 1);
        struct overlay_signing_key *k = calloc(1, sizeof(*k));
        if (!buf || !k) {
                free(k);
                return reason_fail(w, -ENOMEM, "signing key: out of memory");
        }
        memcpy(buf, pem, len);
        buf[len] = '\0';
        mbedtls_pk_init(&k->s.pk);
        int rc = mbedtls_pk_parse_key(&k->s.pk, buf, len + 1, NULL, 0);
        mbedtls_platform_zeroize(buf, len);
        if (rc != 0) {
                overlay_signing_key_free(k);
                return mbed_reason(w, rc, -EBADMSG, "signing key");
        }
        rc = signer_init(&k->s, w, "signing key");
        if (rc < 0) {
                overlay_signing_key_free(k);
                return rc;
        }
        *ret = k;
        return 0;
}

int overlay_signing_key_load(const char *path, struct overlay_signing_key **ret, const struct reason *w)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_file_all(path, PEM_FILE_MAX, &buf, &len);
        if (r < 0)
                return reason_fail(w, r, "reading signing key %s: %s", path, strerror(-r));
        r = overlay_signing_key_parse(buf, len, ret, w);
        mbedtls_platform_zeroize(buf, len);
        return r;
}

const uint8_t *overlay_signing_key_id(const struct overlay_signing_key *k)
{
        return k ? k->s.id : NULL;
}

void overlay_signing_key_free(struct overlay_signing_key *k)
{
        if (!k)
                return;
        mbedtls_pk_free(&k->s.pk);
        free(k);
}

/* ECDSA here is deterministic (RFC 6979); randomness only blinds it. */
static int rng(void *ctx, unsigned char *out, size_t n)
{
        return getrandom_full(out, n) < 0 ? MBEDTLS_ERR_ECP_RANDOM_FAILED : 0;
}

int overlay_header_sign(struct overlay_header *h, const struct overlay_signing_key *k, const struct reason *w)
{
        uint8_t hash[OVERLAY_HASH_LEN];
        unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
        size_t sig_len = 0;
        if (!h || !k)
                return -EINVAL;
        h->header_len = OVERLAY_FIXED_LEN + OVERLAY_SIG_SLOT;
        memcpy(h->signer_id, k->s.id, OVERLAY_HASH_LEN);
        signed_hash(h, hash);
        int rc = mbedtls_pk_sign((mbedtls_pk_context *)&k->s.pk, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, &sig_len,
                                 rng, NULL);
        if (rc != 0)
                return mbed_reason(w, rc, -EIO, "signing the header");
        if (sig_len == 0 || sig_len > OVERLAY_SIG_SLOT)
                return reason_fail(w, -EIO, "signing the header: a %zu-byte signature", sig_len);
        memcpy(h->sig, sig, sig_len);
        h->sig_len = (uint16_t)sig_len;
        return 0;
}

int overlay_cipher_new(const uint8_t key[OVERLAY_KEY_LEN], const struct overlay_header *h, struct overlay_cipher **ret)
{
        uint8_t bound[OVERLAY_SIGNED_LEN];
        if (!key || !h || !ret)
                return -EINVAL;
        struct overlay_cipher *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        mbedtls_gcm_init(&c->gcm);
        int rc = mbedtls_gcm_setkey(&c->gcm, MBEDTLS_CIPHER_ID_AES, key, 8 * OVERLAY_KEY_LEN);
        if (rc != 0) {
                overlay_cipher_free(c);
                return mbed_errno(rc);
        }
        memcpy(c->nonce_base, h->nonce_base, OVERLAY_NONCE_LEN);
        marshal_signed(h, bound);
        mbedtls_sha256_ret(bound, OVERLAY_BOUND_LEN, c->bound, 0);
        *ret = c;
        return 0;
}

void overlay_cipher_free(struct overlay_cipher *c)
{
        if (!c)
                return;
        mbedtls_gcm_free(&c->gcm);
        free(c);
}

static int chunk_params(const struct overlay_cipher *c, uint64_t index, bool last, uint8_t iv[IV_LEN],
                        uint8_t aad[AAD_LEN])
{
        if (index > UINT32_MAX)
                return -EINVAL;
        memcpy(iv, c->nonce_base, OVERLAY_NONCE_LEN);
        put_be(iv + OVERLAY_NONCE_LEN, index, 4);
        memcpy(aad, c->bound, OVERLAY_HASH_LEN);
        put_be(aad + OVERLAY_HASH_LEN, index, 8);
        aad[AAD_LEN - 1] = last ? 1 : 0;
        return 0;
}

int overlay_chunk_seal(struct overlay_cipher *c, uint64_t index, bool last, const uint8_t *pt, size_t len, uint8_t *rec)
{
        uint8_t iv[IV_LEN], aad[AAD_LEN];
        if (!c || (!pt && len) || !rec || chunk_params(c, index, last, iv, aad) < 0)
                return -EINVAL;
        int rc = mbedtls_gcm_crypt_and_tag(&c->gcm, MBEDTLS_GCM_ENCRYPT, len, iv, sizeof(iv), aad, sizeof(aad), pt, rec,
                                           OVERLAY_TAG_LEN, rec + len);
        return rc ? mbed_errno(rc) : 0;
}

int overlay_chunk_open(struct overlay_cipher *c, uint64_t index, bool last, const uint8_t *rec, size_t rec_len, uint8_t *pt)
{
        uint8_t iv[IV_LEN], aad[AAD_LEN];
        if (!c || !rec || rec_len < OVERLAY_TAG_LEN || !pt || chunk_params(c, index, last, iv, aad) < 0)
                return -EINVAL;
        size_t len = rec_len - OVERLAY_TAG_LEN;
        int rc = mbedtls_gcm_auth_decrypt(&c->gcm, len, iv, sizeof(iv), aad, sizeof(aad), rec + len, OVERLAY_TAG_LEN, rec,
                                          pt);
        if (rc == MBEDTLS_ERR_GCM_AUTH_FAILED)
                return -EBADMSG;
        return rc ? mbed_errno(rc) : 0;
}
