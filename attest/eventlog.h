/* SPDX-License-Identifier: Apache-2.0 */
/* The TCG PC Client event log in its crypto-agile form, as a node reads it
 * from /sys/kernel/security/tpm0/binary_bios_measurements and sends it to
 * the verifier: parsed from untrusted bytes, replayed into PCR values per
 * bank, and listed for people.
 *
 * Layout (all integers little-endian):
 *   event 0, in the old SHA-1 layout: pcr u32, type u32 (EV_NO_ACTION),
 *     a 20-byte zero digest, size u32, then the "Spec ID Event03" structure:
 *     platform class u32, spec minor/major/errata u8, uintn size u8,
 *     algorithm count u32, count × (algorithm id u16, digest size u16),
 *     vendor info size u8 and that many bytes;
 *   events 1…n: pcr u32, type u32, digest count u32, count × (algorithm id
 *     u16, digest of the size event 0 declared for it), size u32, data.
 *
 * What the parser refuses, beyond malformed structure: a first event that
 * is not a crypto-agile Spec ID event (TPM 1.2 SHA-1 logs included), a
 * second Spec ID event, an algorithm in an event that event 0 did not
 * declare or one declared twice, more digests than declared algorithms, a
 * PCR index above 23, a StartupLocality event that is misplaced, repeated
 * or names a locality other than 0, 3 or 4, and any byte after the last
 * complete event. A log cut exactly between two events is a well-formed
 * shorter log: only the comparison of its replay with quoted PCRs can tell.
 *
 * Error convention of every function here:
 *   -EBADMSG  malformed or meaningless (why names the event index, its byte
 *             offset and the field);
 *   -E2BIG    well-formed but beyond Ember's bounds (EVLOG_MAX_*);
 *   -ENOENT   a bank the log does not carry;
 *   -EOPNOTSUPP  a bank Ember cannot hash (SM3, SHA-3);
 *   -ENOMEM, -EINVAL (NULL arguments), -EIO (the hash library failed).
 * 'why' (may be NULL) receives a plain-words reason on every failure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EVLOG_MAX_BYTES (1u << 20)       /* a whole log */
#define EVLOG_MAX_EVENT_DATA (64u << 10) /* one event's data (a large dbx is ~25 KiB) */
#define EVLOG_MAX_EVENTS 4096            /* events, event 0 included */
#define EVLOG_MAX_ALGS 8                 /* banks declared in event 0 */
#define EVLOG_DIGEST_MAX 64              /* largest digest (SHA-512) */
#define EVLOG_PCRS 24

/* TPM_ALG_ID values of the hash algorithms a bank may use. */
enum {
        EVLOG_ALG_SHA1 = 0x0004,
        EVLOG_ALG_SHA256 = 0x000B,
        EVLOG_ALG_SHA384 = 0x000C,
        EVLOG_ALG_SHA512 = 0x000D,
        EVLOG_ALG_SM3_256 = 0x0012,
        EVLOG_ALG_SHA3_256 = 0x0027,
        EVLOG_ALG_SHA3_384 = 0x0028,
        EVLOG_ALG_SHA3_512 = 0x0029,
};

/* Event types Ember treats specially (the others only have names). */
enum {
        EVLOG_EV_NO_ACTION = 0x00000003,
        EVLOG_EV_SEPARATOR = 0x00000004,
        EVLOG_EV_EVENT_TAG = 0x00000006,
};

struct evlog_alg {
        uint16_t id;   /* TPM_ALG_ID */
        uint16_t size; /* digest bytes, 1…EVLOG_DIGEST_MAX */
};

/* Event 0's "Spec ID Event03" structure. */
struct evlog_spec_id {
        uint32_t platform_class;
        uint8_t version_minor, version_major, errata, uintn_size;
        size_t n_algs;
        struct evlog_alg algs[EVLOG_MAX_ALGS]; /* a bank's "slot" is its index here */
        const uint8_t *vendor;                 /* into struct evlog's bytes */
        uint8_t vendor_len;
};

/* One event. Pointers point into the owning struct evlog's copy of the log. */
struct evlog_event {
        size_t offset; /* of the event's first byte in the log */
        uint32_t pcr;
        uint32_t type;
        /* by slot of spec.algs; NULL when the event carries no digest for
         * that bank (always for event 0, whose SHA-1 field is not a digest) */
        const uint8_t *digest[EVLOG_MAX_ALGS];
        const uint8_t *data;
        uint32_t data_len;
};

struct evlog {
        uint8_t *bytes; /* the log, copied: the events point into it */
        size_t len;
        struct evlog_spec_id spec;
        /* PCR 0's value after TPM2_Startup, from a StartupLocality event
         * (0 when there is none) */
        uint8_t startup_locality;
        bool have_startup_locality;
        struct evlog_event *events; /* events[0] is the Spec ID event */
        size_t n_events;
};

/* Parses len bytes of log (copied; buf need not outlive the result). *ret
 * is written only on success and freed with evlog_free. */
int evlog_parse(const void *buf, size_t len, struct evlog **ret, char *why, size_t whylen);
void evlog_free(struct evlog *log); /* accepts NULL */
static inline void evlog_freep(struct evlog **p) { evlog_free(*p); }
#define _cleanup_evlog_ __attribute__((cleanup(evlog_freep)))

/* The slot of bank alg in log->spec.algs, -ENOENT if the log lacks it. */
int evlog_bank_slot(const struct evlog *log, uint16_t alg);

/* One bank's PCRs after replaying the log.
 *
 * Start values (what a PCR holds after TPM2_Startup, and so what Ember's
 * replay yields for a PCR the log never extends):
 *   PCR 0        zeros, except that a StartupLocality event sets the last
 *                byte to the locality (3: started from locality 3; 4: an
 *                H-CRTM sequence, whose own event the log then carries);
 *   PCRs 1–16, 23  zeros;
 *   PCRs 17–22   all ones: the D-RTM PCRs keep that value until a dynamic
 *                launch resets them, and a firmware (SRTM) log records no
 *                dynamic launch. Ember replays events into them from all
 *                ones, which can only match a quote when no D-RTM ever ran.
 * PCR 10 belongs to IMA, whose events are not in this log: a node's real
 * PCR 10 will differ from the replay, so a verifier must not select it.
 *
 * EV_NO_ACTION events are never extended; every other event extends its
 * PCR with new = H(old ‖ digest). */
struct evlog_pcrs {
        uint16_t alg;
        uint16_t size;     /* digest bytes of alg */
        uint32_t extended; /* bit n: at least one event extended PCR n */
        uint8_t value[EVLOG_PCRS][EVLOG_DIGEST_MAX];
};

/* Replays bank alg (SHA-1, SHA-256, SHA-384 or SHA-512). -EBADMSG when an
 * event that is extended carries no digest for this bank: the bank cannot
 * be replayed. *ret written only on success. */
int evlog_replay(const struct evlog *log, uint16_t alg, struct evlog_pcrs *ret, char *why, size_t whylen);

/* "EV_SEPARATOR" etc. for the common types, NULL for others. */
const char *evlog_type_name(uint32_t type);
/* "sha256" etc., NULL for an unknown algorithm. */
const char *evlog_alg_name(uint16_t alg);
/* A short, printable, escaped summary of event i's data ("var SecureBoot,
 * 1 byte", "tag 0x8f3b22ed \"Linux initrd\"", …) into buf, always
 * NUL-terminated (cut if too long). -EINVAL when i is out of range. */
int evlog_describe(const struct evlog *log, size_t i, char *buf, size_t len);
/* One line per event: index, "pcr N", the type's name (or "type 0x…"),
 * each logged digest as ALG:HEX, then the summary of evlog_describe.
 * Returns -EIO when out fails. */
int evlog_print(const struct evlog *log, FILE *out);
