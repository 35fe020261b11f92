/* SPDX-License-Identifier: Apache-2.0 */
/* Boot outcome reports: after each boot a node tells the attestation
 * server how it went, over the channel its attestation opened:
 *
 *   POST /v1/report {credential, e_pub, time, signature,       (as /v1/overlay)
 *                    boot_id, outcome, failed_stage?, reason?, lkg, lkg_detail?,
 *                    lkg_boot, consecutive_failures, timeline: [{stage, ms, result}, …]}
 *     → 200 {}
 *
 * The credential and the proof by E are checked exactly as for /v1/overlay
 * (protocol.c); the rest is this file's: one parser the server runs on the
 * body (and the fuzzer with it), one builder a node runs to make it, and
 * the node's sender. The server also writes a row of its own when it
 * refuses a machine's evidence (outcome "refused", stage "attest").
 *
 * What the server keeps (store.h struct report_rec) is escaped: every
 * byte outside printable ASCII becomes \xNN, so nothing a node sends can
 * reach a terminal or a log as a control sequence. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define REPORT_BODY_MAX 16384      /* bytes of the whole POST body, proof included */
#define REPORT_TEXT_MAX 300        /* bytes of reason and lkg_detail, as sent */
#define REPORT_NAME_MAX 15         /* stage and result names: [a-z0-9_-], 1 to 15 bytes */
#define REPORT_TIMELINE_MAX 16     /* stages in a timeline */
#define REPORT_FAILURES_MAX 1000000
#define REPORT_STAGE_MS_MAX 1000000000ULL /* 11.6 days: longer is a broken clock */
#define REPORT_SEND_TIMEOUT_MS 10000 /* everything attest_report_send() may take, its retry included */

/* ---- the server's side ------------------------------------------------ */

/* Parses a report body into *ret (text escaped, names checked, boot_id in
 * lower case); the proof fields are allowed and left to the caller, any
 * other field is refused. machine_id and received are left empty for the
 * caller. *ret is written only on success. -EBADMSG (or -E2BIG, -ENOMEM)
 * with why: one line, naming the field, with nothing of the body in it
 * unescaped. */
int report_parse(const char *body, size_t len, struct report_rec *ret, char *why, size_t whylen);

/* Escapes n bytes of s into out (always NUL-terminated when outlen > 0):
 * printable ASCII as is, every other byte (NUL too) as \xNN; an escape is
 * never cut in half. Returns the bytes written. Text that is already
 * printable ASCII comes out unchanged. */
size_t report_escape(const char *s, size_t n, char *out, size_t outlen);

/* The server's own verdict as a report row: a refused attestation of a
 * known machine (outcome "refused", failed_stage "attest", the refusal as
 * reason), keyed by the attestation session, so each attempt is one row.
 * consecutive_failures continues the machine's last report. 0 or -errno. */
int report_record_refusal(struct store *s, const char *machine_id, const char *session_id, const char *reason,
                          int64_t now);

/* The boot time a report's timeline adds up to, in ms. */
uint64_t report_total_ms(const struct report_rec *r);

/* ---- the node's side -------------------------------------------------- */

/* lkg values: what the last-known-good step did this boot. */
#define BOOT_REPORT_LKG_COMMITTED "committed" /* wrote this image to the ESP as the new LKG */
#define BOOT_REPORT_LKG_UNCHANGED "unchanged" /* the ESP already held it */
#define BOOT_REPORT_LKG_BLESSED "blessed"     /* marked the booted, counted entry good */
#define BOOT_REPORT_LKG_NONE "none"           /* no LKG step ran (no ESP, not configured, boot failed first) */
#define BOOT_REPORT_LKG_FAILED "failed"       /* the LKG step failed (lkg_detail says why) */

struct boot_report_stage {
        char stage[REPORT_NAME_MAX + 1];  /* stage_name(): "network", "attest", … */
        unsigned long long ms;            /* how long it took */
        char result[REPORT_NAME_MAX + 1]; /* stage_result_name(): "ok", "failed", "timeout", … */
};

/* One boot, as /init knows it at its end (init/timeline.h has the stages
 * and results; init/boot_report.h fills this from a struct timeline). */
struct boot_report {
        char boot_id[STORE_ID_LEN];      /* /proc/sys/kernel/random/boot_id */
        bool up;                         /* false: failed */
        char failed_stage[REPORT_NAME_MAX + 1]; /* "" when up */
        char reason[REPORT_TEXT_MAX + 1];       /* why it failed; may be "" */
        const char *lkg;                 /* BOOT_REPORT_LKG_*; NULL: "none" */
        char lkg_detail[REPORT_TEXT_MAX + 1];
        bool lkg_boot;                   /* this boot started the ESP's last-known-good */
        unsigned consecutive_failures;   /* failed boots in a row, this one included */
        struct boot_report_stage timeline[REPORT_TIMELINE_MAX];
        size_t n_timeline;
};

/* The POST body's report fields as JSON (malloc'ed into *ret). Text is
 * escaped as report_escape() does and, if it then exceeds
 * REPORT_TEXT_MAX, cut there. -EINVAL for what the server would refuse (a
 * boot_id that is no UUID, a bad stage or result name, an unknown lkg, a
 * failed_stage on a boot that is up, too many stages), -ENOMEM. */
int boot_report_json(const struct boot_report *r, char **ret);

struct attest_client_config;
struct attest_result;

/* Sends a report body (boot_report_json's) to cfg's server with res's
 * credential and a fresh proof of possession of its E, the server's TLS
 * authenticated as for attest_run(). Bounded: REPORT_SEND_TIMEOUT_MS in
 * all, one retry at most, and only when the server was not reached or
 * failed (5xx, 429, connection lost). 0 with a one-line summary in
 * detail, or -errno with why there: -EPERM the server refused (its text,
 * escaped), -E2BIG the body is too large, and attest_fetch_overlay()'s
 * codes for the rest. */
int attest_report_send(const struct attest_client_config *cfg, const struct attest_result *res, const char *json_body,
                       char *detail, size_t len);

/* What /init holds after the attest stage: the credential and E from
 * DIR/credential and DIR/e.key (init/attest_stage.h's ATTEST_STATE_DIR).
 * res is initialised here; attest_result_free() it. 0 or -errno with why. */
int attest_report_load(const char *dir, struct attest_result *res, char *why, size_t whylen);
