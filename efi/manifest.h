/* SPDX-License-Identifier: Apache-2.0 */
/* The signed release manifest (docs/release-manifest.md): release.json names
 * a release's version and, for each of its files (the kernel "vmlinuz", the
 * "initrd", optional others), its size, SHA-256 and, for PE images, the
 * Authenticode SHA-256 firmware measures into PCR 4; release.json.sig is a
 * DER ECDSA P-256 signature over SHA-256 of release.json's exact bytes by
 * one of the keys a node pins in /etc/ember/release-signers.pem.
 *
 * Only mbedtls and json-c, no files or global state: the node's /init links
 * it as it is. Functions return >= 0 or -errno and say why they refused in
 * why (which may be NULL). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANIFEST_FORMAT "ember-release-1"
#define MANIFEST_FILE_NAME "release.json"
#define MANIFEST_SIG_NAME "release.json.sig"
#define MANIFEST_SIGNERS_PATH "/etc/ember/release-signers.pem"

#define MANIFEST_JSON_MAX (64u << 10)
#define MANIFEST_FILES_MAX 8
#define MANIFEST_NAME_MAX 64
#define MANIFEST_VERSION_MAX 64                 /* = LKG_VERSION_MAX: a version names an ESP directory */
#define MANIFEST_SIZE_MAX ((uint64_t)1 << 40)   /* a file's size: 1 .. 1 TiB */
#define MANIFEST_CREATED_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define MANIFEST_SIG_MAX 72                     /* a DER ECDSA P-256 signature */
#define MANIFEST_SIGNERS_MAX 16
#define MANIFEST_PEM_MAX (64u << 10)

struct release_file {
        char name[MANIFEST_NAME_MAX + 1];
        uint64_t size;
        uint8_t sha256[32];
        bool has_authenticode;
        uint8_t authenticode[32];
};

struct release_manifest {
        char version[MANIFEST_VERSION_MAX + 1];
        int64_t created; /* Unix time */
        struct release_file files[MANIFEST_FILES_MAX];
        size_t n_files;
};

/* The meaning of a manifest, whoever made it: the version rule of
 * lkg_version_check; 1..MANIFEST_FILES_MAX files; names [A-Za-z0-9._-],
 * 1..MANIFEST_NAME_MAX bytes, no leading dot, unique ignoring case (a FAT
 * ESP ignores it); "vmlinuz" and "initrd" present, "vmlinuz" with its
 * Authenticode digest; sizes 1..MANIFEST_SIZE_MAX; created
 * 0..MANIFEST_CREATED_MAX. 0 or -EINVAL. */
int manifest_check(const struct release_manifest *m, char *why, size_t whylen);

/* The file name rule above, for one name: 0 or -EINVAL with why. */
int manifest_name_check(const char *name, char *why, size_t whylen);

/* Parses release.json's bytes (at most MANIFEST_JSON_MAX): JSON with exactly
 * the keys of the format, the right types, then manifest_check, then the
 * bytes must be exactly what manifest_format writes for the result (one
 * manifest, one byte string: no duplicate keys, whitespace or alternative
 * encodings). A parser: *ret is written only on success. -EBADMSG with why,
 * -EINVAL (NULL arguments), -ENOMEM. */
int manifest_parse(const uint8_t *json, size_t len, struct release_manifest *ret, char *why, size_t whylen);

/* release.json's bytes for m (manifest_check first: -EINVAL): the one
 * line, ending in a newline, that manifest_parse accepts. *ret_json is a
 * NUL-terminated malloc'd string; its length is strlen. */
int manifest_format(const struct release_manifest *m, char **ret_json);

/* The file named name (exact bytes), or NULL. */
const struct release_file *manifest_file(const struct release_manifest *m, const char *name);

/* The pinned signers: one or more "PUBLIC KEY" PEM blocks of ECDSA P-256
 * keys (text between blocks is ignored, any other block refused), at most
 * MANIFEST_SIGNERS_MAX. Returns how many, or -EINVAL (malformed), -ENOENT
 * (no key), -E2BIG, -ENOMEM. */
int manifest_signers_check(const char *pem, size_t pemlen, char *why, size_t whylen);

/* The signature sig over SHA-256(json) verifies with one of the pinned
 * signers: returns that signer's index (0-based, in PEM order). -EPERM when
 * none verifies it; -EBADMSG when json or sig are too long or sig empty;
 * the errors of manifest_signers_check for a bad signers file. Checks the
 * signature only: manifest_parse the bytes after. */
int manifest_verify(const uint8_t *json, size_t len, const uint8_t *sig, size_t siglen, const char *signers_pem,
                    size_t pemlen, char *why, size_t whylen);

/* manifest_verify, then manifest_parse: what a node does with the two files
 * it downloaded. Returns the signer's index; *ret is written only on
 * success. */
int manifest_open(const uint8_t *json, size_t len, const uint8_t *sig, size_t siglen, const char *signers_pem,
                  size_t pemlen, struct release_manifest *ret, char *why, size_t whylen);

/* Signs json (at most MANIFEST_JSON_MAX bytes) with a PEM ECDSA P-256
 * private key: sig receives the DER signature, *ret_siglen its length
 * (<= MANIFEST_SIG_MAX). 0, -EINVAL (not such a key, with why), -EIO. */
int manifest_sign(const uint8_t *json, size_t len, const char *key_pem, size_t keylen,
                  uint8_t sig[MANIFEST_SIG_MAX], size_t *ret_siglen, char *why, size_t whylen);

/* data is the file f describes: its size, SHA-256 and, when f carries one,
 * Authenticode SHA-256 agree. 0, or -EBADMSG naming the first that does
 * not; -EIO (mbedtls failed). */
int manifest_file_check(const struct release_file *f, const uint8_t *data, size_t len, char *why, size_t whylen);
