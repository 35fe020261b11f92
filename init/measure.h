/* SPDX-License-Identifier: Apache-2.0 */
/* The measured start of rke2 (docs/measured-start.md): before rke2 runs,
 * every file the image's golden digest list names (/etc/ember/rke2.digests:
 * the rke2 binary, its runtime image tarballs) is hashed and compared with
 * it, nothing unlisted may sit beside them, and then each file and the
 * applied overlay are extended into PCR 8 and recorded in Ember's own event
 * log, /run/ember/measure.log, so a verifier can replay the PCR.
 *
 * The event extended for each measurement, in every allocated PCR bank
 * (hashed with that bank's algorithm):
 *
 *     "ember-measure-v1" 0x00 || TYPE 0x00 || SUBJECT 0x00 || SHA-256(content)
 *
 * TYPE is "rke2-binary", "rke2-runtime" or "overlay"; SUBJECT is the file's
 * absolute path in the image, or "<overlay id>:<serial>" for the overlay,
 * whose content digest is its ciphertext's SHA-256 (the one the
 * attestation reply named and the overlay stage verified). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reason.h"

#define MEASURE_DIGESTS_PATH "/etc/ember/rke2.digests"
#define MEASURE_LOG_PATH "/run/ember/measure.log"
#define MEASURE_OVERLAY_APPLIED "/run/ember/overlay/applied.json"
#define MEASURE_ATTEST_RESULT "/run/ember/attest/result.json"
#define MEASURE_RUNTIME_DIR "/var/lib/rancher/rke2/agent/images/"
#define MEASURE_PCR 8
#define MEASURE_TCTI_DEFAULT "device:/dev/tpmrm0"
#define MEASURE_EVENT_LABEL "ember-measure-v1"

#define MEASURE_DIGESTS_MAX (1u << 20) /* bytes of the digest file */
#define MEASURE_FILES_MAX 1024
#define MEASURE_PATH_MAX 4095

enum measure_type {
        MEASURE_RKE2_BINARY,
        MEASURE_RKE2_RUNTIME,
        MEASURE_OVERLAY,
        _MEASURE_TYPE_MAX,
};
const char *measure_type_name(enum measure_type t);

/* ---- the golden digest list ------------------------------------------ */

struct measure_entry {
        char *path; /* absolute within the image, canonical */
        uint8_t sha256[32];
};

struct measure_digests {
        struct measure_entry *e;
        size_t n;
};

/* Parses sha256sum-style text ("<64 lowercase hex>  /abs/path\n" lines,
 * '#' comment lines). Refused with -EBADMSG and "line N: why" in w: NUL
 * bytes, a missing final newline, long lines, bad hex, relative or
 * non-canonical paths ("//", ".", "..", trailing '/'), control or
 * non-ASCII bytes, duplicates, no entry at all, too many. *ret is written
 * only on success. */
int measure_digests_parse(const char *text, size_t len, struct measure_digests *ret, const struct reason *w);
void measure_digests_free(struct measure_digests *d);
/* NULL when p (n bytes) is an absolute, canonical, printable ASCII path
 * of at most MEASURE_PATH_MAX bytes; else why not. */
const char *measure_path_problem(const char *p, size_t n);

/* The digest file for paths under root, as the image build writes it
 * (malloc'd text). Each path must be an absolute regular file. */
int measure_digests_render(const char *root, char *const *paths, size_t n, char **ret, const struct reason *w);

/* ---- checks (no TPM) --------------------------------------------------- */

/* Streaming SHA-256 of root+path: no symlink anywhere in the path, regular
 * files only. */
int measure_hash_file(const char *root, const char *path, uint8_t out[32], const struct reason *w);

/* Every listed file present and equal to its golden digest, and no other
 * file in their directories. 0, or -EKEYREJECTED (mismatch), -ENOENT
 * (missing), -EEXIST (unlisted file), -ELOOP (symlink) … with the reason. */
int measure_verify(const char *root, const struct measure_digests *d, const struct reason *w);

/* ---- events ------------------------------------------------------------ */

struct measure_event {
        enum measure_type type;
        char subject[MEASURE_PATH_MAX + 1];
        uint8_t sha256[32]; /* of the content */
};

/* The canonical event bytes above into buf; their length, or -ENOBUFS. */
int measure_event_bytes(const struct measure_event *ev, uint8_t *buf, size_t len);
/* The event's digest with a TPM hash algorithm (TPM2_ALG_SHA1/256/384/512):
 * its size, or -ENOTSUP for another algorithm. */
int measure_event_digest(const struct measure_event *ev, uint16_t alg, uint8_t *out, size_t outlen);

/* ---- the TPM ----------------------------------------------------------- */

struct measure_tpm;
/* tcti: NULL or "device:PATH" (the only one in the static /init); the host
 * build also takes any TCTI loader spec ("swtpm:host=…,port=…"). Reads the
 * allocated PCR banks; -ENOTSUP if one has an algorithm Ember cannot hash. */
int measure_tpm_open(const char *tcti, unsigned pcr, struct measure_tpm **ret, const struct reason *w);
void measure_tpm_close(struct measure_tpm *t);

/* Extends ev into pcr in every allocated bank, reads the SHA-256 PCR back,
 * and appends the log line (O_APPEND, fsync) to log_path. */
int measure_extend(struct measure_tpm *t, unsigned pcr, const struct measure_event *ev, const char *log_path,
                   const struct reason *w);

/* ---- the stage --------------------------------------------------------- */

struct measure_overlay {
        char id[37];
        uint64_t serial;
        uint8_t sha256[32];
};

struct measure_params {
        const char *root;     /* NULL or "/" */
        const char *digests;  /* NULL: MEASURE_DIGESTS_PATH under root */
        const char *tcti;     /* NULL: MEASURE_TCTI_DEFAULT */
        const char *log_path; /* NULL: MEASURE_LOG_PATH under root */
        unsigned pcr;         /* 0: MEASURE_PCR */
        /* the overlay: given here, or read from the overlay stage's
         * applied.json (NULL: MEASURE_OVERLAY_APPLIED under root) and
         * checked against the attestation reply (result.json) */
        const struct measure_overlay *overlay;
        const char *overlay_applied;
        bool require_overlay; /* PID 1: the node never starts rke2 without one */
        bool no_tpm;          /* verify only */
};

/* Parse the digest list, verify every file (nothing is extended when any
 * check fails), then extend and log each file and the overlay. 0 with a
 * summary in detail, or -errno with the reason ("rke2: /usr/local/bin/rke2
 * does not match the image's golden digest (expected …, got …)"). */
int measure_rke2(const struct measure_params *p, char *detail, size_t len);
