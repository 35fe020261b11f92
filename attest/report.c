/* SPDX-License-Identifier: Apache-2.0 */
/* Boot outcome reports: the body's one parser (the server's), its one
 * builder (the node's), the node's sender, and the server's own refusal
 * rows. report.h has the message; protocol.c checks the credential and
 * the proof by E before a body gets here. */
#include "report.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "fileio.h"
#include "reason.h"
#include "util.h"
#include "uuid.h"

/* what the credential, E's public key, the time and the signature take in
 * a body, with room to spare: a report's own fields get the rest */
#define REPORT_PROOF_ROOM 4096
#define REPORT_RETRY_PAUSE_MS 1000
#define REPORT_CONNECT_TIMEOUT_MS 5000

size_t report_escape(const char *s, size_t n, char *out, size_t outlen)
{
        size_t o = 0;
        if (outlen == 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c >= 0x20 && c < 0x7f) {
                        if (outlen - o < 2)
                                break;
                        out[o++] = (char)c;
                } else {
                        if (outlen - o < 5)
                                break;
                        snprintf(out + o, 5, "\\x%02x", c);
                        o += 4;
                }
        }
        out[o] = '\0';
        return o;
}

/* A stage or result name: 1 to REPORT_NAME_MAX of [a-z0-9_-]. */
static bool name_ok(const char *s, size_t n)
{
        if (n == 0 || n > REPORT_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
                        return false;
        return true;
}

static const char *const lkg_values[] = {
        BOOT_REPORT_LKG_COMMITTED, BOOT_REPORT_LKG_UNCHANGED, BOOT_REPORT_LKG_BLESSED,
        BOOT_REPORT_LKG_NONE,      BOOT_REPORT_LKG_FAILED,
};

static bool lkg_ok(const char *s)
{
        for (size_t i = 0; i < ELEMENTSOF(lkg_values); i++)
                if (streq(s, lkg_values[i]))
                        return true;
        return false;
}

/* ---- the parser ----------------------------------------------------------- */

enum field {
        F_BOOT_ID,
        F_OUTCOME,
        F_FAILED_STAGE,
        F_REASON,
        F_LKG,
        F_LKG_DETAIL,
        F_LKG_BOOT,
        F_FAILURES,
        F_TIMELINE,
        _F_MAX,
};

static const struct {
        const char *name;
        bool required;
} fields[_F_MAX] = {
        [F_BOOT_ID] = { "boot_id", true },       [F_OUTCOME] = { "outcome", true },
        [F_FAILED_STAGE] = { "failed_stage" },   [F_REASON] = { "reason" },
        [F_LKG] = { "lkg", true },               [F_LKG_DETAIL] = { "lkg_detail" },
        [F_LKG_BOOT] = { "lkg_boot", true },     [F_FAILURES] = { "consecutive_failures", true },
        [F_TIMELINE] = { "timeline", true },
};

/* the proof of possession: protocol.c's, not the report's */
static const char *const proof_fields[] = { "credential", "e_pub", "time", "signature" };

/* A field name from the body, fit for a message. */
static const char *esc_key(const char *key, char *buf, size_t len)
{
        report_escape(key, strlen(key), buf, len);
        return buf;
}

static int string_of(json_object *v, const char *name, const char **ret, size_t *ret_len, const struct reason *w)
{
        if (!json_object_is_type(v, json_type_string))
                return reason_fail(w, -EBADMSG, "\"%s\" must be a string", name);
        int n = json_object_get_string_len(v);
        if (n < 0)
                return reason_fail(w, -EBADMSG, "\"%s\" must be a string", name);
        *ret = json_object_get_string(v);
        *ret_len = (size_t)n;
        return 0;
}

/* One of a few fixed words: the whole string, no NUL inside. */
static bool word_is(const char *s, size_t n, const char *word)
{
        return n == strlen(word) && memcmp(s, word, n) == 0;
}

static int text_field(json_object *v, const char *name, char *out, size_t outlen, const struct reason *w)
{
        const char *s;
        size_t n;
        int k = string_of(v, name, &s, &n, w);
        if (k < 0)
                return k;
        if (n > REPORT_TEXT_MAX)
                return reason_fail(w, -EBADMSG, "\"%s\" is %zu bytes, more than %d", name, n, REPORT_TEXT_MAX);
        report_escape(s, n, out, outlen);
        return 0;
}

static int name_field(json_object *v, const char *name, char out[STORE_REPORT_NAME], const struct reason *w)
{
        const char *s;
        size_t n;
        int k = string_of(v, name, &s, &n, w);
        if (k < 0)
                return k;
        if (!name_ok(s, n))
                return reason_fail(w, -EBADMSG, "\"%s\" must be 1 to %d of a-z, 0-9, '-' and '_'", name, REPORT_NAME_MAX);
        memcpy(out, s, n);
        out[n] = '\0';
        return 0;
}

static int uint_field(json_object *v, const char *name, uint64_t max, uint64_t *ret, const struct reason *w)
{
        /* json-c keeps integers apart from doubles: 1.0 and 1e3 are refused */
        if (!json_object_is_type(v, json_type_int))
                return reason_fail(w, -EBADMSG, "\"%s\" must be an integer", name);
        int64_t x = json_object_get_int64(v);
        if (x < 0 || (uint64_t)x > max)
                return reason_fail(w, -EBADMSG, "\"%s\" must be 0 to %llu", name, (unsigned long long)max);
        *ret = (uint64_t)x;
        return 0;
}

/* {"stage": NAME, "ms": N, "result": NAME}, nothing else */
static int parse_stage(json_object *e, size_t i, struct report_stage *st, const struct reason *w)
{
        char key[40];
        unsigned seen = 0;
        if (!json_object_is_type(e, json_type_object))
                return reason_fail(w, -EBADMSG, "timeline[%zu] must be an object", i);
        json_object_object_foreach(e, k, v)
        {
                int r;
                if (streq(k, "stage") && !(seen & 1))
                        r = name_field(v, "timeline[].stage", st->stage, w), seen |= 1;
                else if (streq(k, "ms") && !(seen & 2))
                        r = uint_field(v, "timeline[].ms", REPORT_STAGE_MS_MAX, &st->ms, w), seen |= 2;
                else if (streq(k, "result") && !(seen & 4))
                        r = name_field(v, "timeline[].result", st->result, w), seen |= 4;
                else
                        return reason_fail(w, -EBADMSG, "timeline[%zu]: unknown field \"%s\"", i, esc_key(k, key, sizeof(key)));
                if (r < 0)
                        return r;
        }
        if (seen != 7)
                return reason_fail(w, -EBADMSG, "timeline[%zu] needs \"stage\", \"ms\" and \"result\"", i);
        return 0;
}

static int parse_timeline(json_object *v, struct report_rec *r, const struct reason *w)
{
        if (!json_object_is_type(v, json_type_array))
                return reason_fail(w, -EBADMSG, "\"timeline\" must be an array");
        size_t n = json_object_array_length(v);
        if (n > REPORT_TIMELINE_MAX)
                return reason_fail(w, -EBADMSG, "\"timeline\" has %zu stages, more than %d", n, REPORT_TIMELINE_MAX);
        for (size_t i = 0; i < n; i++) {
                int k = parse_stage(json_object_array_get_idx(v, i), i, &r->timeline[i], w);
                if (k < 0)
                        return k;
        }
        r->n_timeline = n;
        return 0;
}

static int parse_field(enum field f, json_object *v, struct report_rec *r, const struct reason *w)
{
        const char *name = fields[f].name, *s;
        char esc[40];
        size_t n;
        uint64_t x;
        int k = 0;
        switch (f) {
        case F_BOOT_ID: {
                uint8_t b[16];
                if ((k = string_of(v, name, &s, &n, w)) < 0)
                        return k;
                if (n != 36 || uuid_parse(s, b) < 0)
                        return reason_fail(w, -EBADMSG, "\"boot_id\" must be a UUID");
                for (size_t i = 0; i <= 36; i++)
                        r->boot_id[i] = s[i] >= 'A' && s[i] <= 'F' ? (char)(s[i] - 'A' + 'a') : s[i];
                return 0;
        }
        case F_OUTCOME:
                if ((k = string_of(v, name, &s, &n, w)) < 0)
                        return k;
                if (!word_is(s, n, "up") && !word_is(s, n, "failed"))
                        return reason_fail(w, -EBADMSG, "\"outcome\" must be \"up\" or \"failed\", not \"%s\"",
                                           esc_key(s, esc, sizeof(esc)));
                memcpy(r->outcome, s, n + 1);
                return 0;
        case F_FAILED_STAGE:
                return name_field(v, name, r->failed_stage, w);
        case F_REASON:
                return text_field(v, name, r->reason, sizeof(r->reason), w);
        case F_LKG:
                if ((k = string_of(v, name, &s, &n, w)) < 0)
                        return k;
                if (n >= sizeof(r->lkg) || strlen(s) != n || !lkg_ok(s))
                        return reason_fail(w, -EBADMSG,
                                           "\"lkg\" must be committed, unchanged, blessed, none or failed, not \"%s\"",
                                           esc_key(s, esc, sizeof(esc)));
                memcpy(r->lkg, s, n + 1);
                return 0;
        case F_LKG_DETAIL:
                return text_field(v, name, r->lkg_detail, sizeof(r->lkg_detail), w);
        case F_LKG_BOOT:
                if (!json_object_is_type(v, json_type_boolean))
                        return reason_fail(w, -EBADMSG, "\"lkg_boot\" must be true or false");
                r->lkg_boot = json_object_get_boolean(v);
                return 0;
        case F_FAILURES:
                if ((k = uint_field(v, name, REPORT_FAILURES_MAX, &x, w)) < 0)
                        return k;
                r->consecutive_failures = (uint32_t)x;
                return 0;
        case F_TIMELINE:
                return parse_timeline(v, r, w);
        default:
                return -EINVAL;
        }
}

/* What no single field shows. */
static int check_report(const struct report_rec *r, const struct reason *w)
{
        bool up = streq(r->outcome, "up");
        if (up && r->failed_stage[0])
                return reason_fail(w, -EBADMSG, "\"failed_stage\" is for a failed boot, and this one is up");
        if (!up && r->consecutive_failures == 0)
                return reason_fail(w, -EBADMSG, "a failed boot counts itself: \"consecutive_failures\" is at least 1");
        return 0;
}

static int report_from_object(json_object *o, struct report_rec *r, const struct reason *w)
{
        unsigned seen = 0;
        char key[40];
        json_object_object_foreach(o, k, v)
        {
                size_t f = 0, p = 0;
                while (f < _F_MAX && !streq(k, fields[f].name))
                        f++;
                if (f == _F_MAX) {
                        while (p < ELEMENTSOF(proof_fields) && !streq(k, proof_fields[p]))
                                p++;
                        if (p < ELEMENTSOF(proof_fields))
                                continue;
                        return reason_fail(w, -EBADMSG, "unknown field \"%s\"", esc_key(k, key, sizeof(key)));
                }
                int e = parse_field((enum field)f, v, r, w);
                if (e < 0)
                        return e;
                seen |= 1u << f;
        }
        for (size_t f = 0; f < _F_MAX; f++)
                if (fields[f].required && !(seen & (1u << f)))
                        return reason_fail(w, -EBADMSG, "missing field \"%s\"", fields[f].name);
        return check_report(r, w);
}

int report_parse(const char *body, size_t len, struct report_rec *ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        if (!body || !ret)
                return reason_fail(&w, -EINVAL, "no report");
        if (len > REPORT_BODY_MAX)
                return reason_fail(&w, -E2BIG, "a report is at most %d bytes", REPORT_BODY_MAX);
        if (len == 0)
                return reason_fail(&w, -EBADMSG, "the body is empty");
        /* the body, the timeline, its stages: nothing deeper is a report */
        struct json_tokener *tok = json_tokener_new_ex(4);
        if (!tok)
                return reason_fail(&w, -ENOMEM, "out of memory");
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        json_object *o = json_tokener_parse_ex(tok, body, (int)len);
        enum json_tokener_error e = json_tokener_get_error(tok);
        size_t end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (!o || e != json_tokener_success || end != len || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return reason_fail(&w, -EBADMSG, "the body must be one JSON object (%s)",
                                   e != json_tokener_success ? json_tokener_error_desc(e) : "trailing bytes or not an object");
        }
        struct report_rec *r = calloc(1, sizeof(*r));
        int k = r ? report_from_object(o, r, &w) : reason_fail(&w, -ENOMEM, "out of memory");
        json_object_put(o);
        if (k == 0)
                *ret = *r;
        free(r);
        return k;
}

uint64_t report_total_ms(const struct report_rec *r)
{
        uint64_t t = 0;
        for (size_t i = 0; i < r->n_timeline && i < STORE_REPORT_STAGES; i++)
                t += r->timeline[i].ms; /* at most 16 × REPORT_STAGE_MS_MAX: no overflow */
        return t;
}

int report_record_refusal(struct store *s, const char *machine_id, const char *session_id, const char *reason,
                          int64_t now)
{
        if (!s || !machine_id || !session_id || !reason)
                return -EINVAL;
        struct report_rec *rec = calloc(1, sizeof(*rec)), *last = calloc(1, sizeof(*last));
        int k = rec && last ? 0 : -ENOMEM;
        if (k == 0) {
                snprintf(rec->machine_id, sizeof(rec->machine_id), "%s", machine_id);
                snprintf(rec->boot_id, sizeof(rec->boot_id), "%s", session_id);
                rec->received = now;
                snprintf(rec->outcome, sizeof(rec->outcome), "refused");
                snprintf(rec->failed_stage, sizeof(rec->failed_stage), "attest");
                size_t n = strlen(reason);
                report_escape(reason, n < REPORT_TEXT_MAX ? n : REPORT_TEXT_MAX, rec->reason, sizeof(rec->reason));
                k = s->ops->report_latest(s, machine_id, last);
        }
        if (k == 0 || k == -ENOENT) {
                uint32_t before = k == 0 && !streq(last->outcome, "up") ? last->consecutive_failures : 0;
                rec->consecutive_failures = before < REPORT_FAILURES_MAX ? before + 1 : REPORT_FAILURES_MAX;
                k = s->ops->report_put(s, rec);
        }
        free(rec);
        free(last);
        return k;
}

/* ---- the builder ------------------------------------------------------------ */

static int add(json_object *o, const char *key, json_object *v)
{
        if (!v || json_object_object_add(o, key, v) != 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* Text as the server keeps it: escaped, then cut to REPORT_TEXT_MAX. */
static int add_text(json_object *o, const char *key, const char *s, size_t size)
{
        char buf[REPORT_TEXT_MAX + 1];
        report_escape(s, strnlen(s, size), buf, sizeof(buf));
        return buf[0] ? add(o, key, json_object_new_string(buf)) : 0;
}

static int boot_report_check(const struct boot_report *r, const char *lkg)
{
        uint8_t b[16];
        if (strnlen(r->boot_id, sizeof(r->boot_id)) != 36 || uuid_parse(r->boot_id, b) < 0 || !lkg_ok(lkg) || r->n_timeline > REPORT_TIMELINE_MAX ||
            r->consecutive_failures > REPORT_FAILURES_MAX || (!r->up && r->consecutive_failures == 0))
                return -EINVAL;
        size_t fs = strnlen(r->failed_stage, sizeof(r->failed_stage));
        if (fs && (r->up || !name_ok(r->failed_stage, fs)))
                return -EINVAL;
        for (size_t i = 0; i < r->n_timeline; i++) {
                const struct boot_report_stage *st = &r->timeline[i];
                if (!name_ok(st->stage, strnlen(st->stage, sizeof(st->stage))) ||
                    !name_ok(st->result, strnlen(st->result, sizeof(st->result))) || st->ms > REPORT_STAGE_MS_MAX)
                        return -EINVAL;
        }
        return 0;
}

static int add_timeline(json_object *o, const struct boot_report *r)
{
        json_object *a = json_object_new_array();
        int k = add(o, "timeline", a);
        for (size_t i = 0; k == 0 && i < r->n_timeline; i++) {
                const struct boot_report_stage *st = &r->timeline[i];
                json_object *e = json_object_new_object();
                if (!e || json_object_array_add(a, e) != 0) {
                        json_object_put(e);
                        return -ENOMEM;
                }
                if ((k = add(e, "stage", json_object_new_string(st->stage))) == 0 &&
                    (k = add(e, "ms", json_object_new_int64((int64_t)st->ms))) == 0)
                        k = add(e, "result", json_object_new_string(st->result));
        }
        return k;
}

int boot_report_json(const struct boot_report *r, char **ret)
{
        const char *lkg = r && r->lkg ? r->lkg : BOOT_REPORT_LKG_NONE;
        char boot_id[STORE_ID_LEN];
        if (!r || !ret || boot_report_check(r, lkg) < 0)
                return -EINVAL;
        for (size_t i = 0; i < sizeof(boot_id); i++)
                boot_id[i] = r->boot_id[i] >= 'A' && r->boot_id[i] <= 'F' ? (char)(r->boot_id[i] - 'A' + 'a') : r->boot_id[i];
        json_object *o = json_object_new_object();
        int k = o ? 0 : -ENOMEM;
        if (k == 0 && (k = add(o, "boot_id", json_object_new_string(boot_id))) == 0 &&
            (k = add(o, "outcome", json_object_new_string(r->up ? "up" : "failed"))) == 0 &&
            (k = r->failed_stage[0] ? add(o, "failed_stage", json_object_new_string(r->failed_stage)) : 0) == 0 &&
            (k = add_text(o, "reason", r->reason, sizeof(r->reason))) == 0 &&
            (k = add(o, "lkg", json_object_new_string(lkg))) == 0 &&
            (k = add_text(o, "lkg_detail", r->lkg_detail, sizeof(r->lkg_detail))) == 0 &&
            (k = add(o, "lkg_boot", json_object_new_boolean(r->lkg_boot))) == 0 &&
            (k = add(o, "consecutive_failures", json_object_new_int64(r->consecutive_failures))) == 0)
                k = add_timeline(o, r);
        const char *t = k == 0 ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                               : NULL;
        char *s = t ? strdup(t) : NULL;
        json_object_put(o);
        if (!s)
                return k < 0 ? k : -ENOMEM;
        *ret = s;
        return 0;
}

/* ---- the node's sender ------------------------------------------------------------ */

static uint64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The server was not reached, or failed: another try may do. A refusal
 * (-EPERM) or a key that is not pinned (-EKEYREJECTED) will not change. */
static bool send_retryable(int k)
{
        return k == -EHOSTUNREACH || k == -ENETUNREACH || k == -ECONNREFUSED || k == -ETIMEDOUT || k == -ECONNABORTED;
}

static void pause_ms(unsigned ms)
{
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int attest_report_send(const struct attest_client_config *cfg, const struct attest_result *res, const char *json_body,
                       char *detail, size_t len)
{
        const struct reason w = { detail, len };
        char why[600] = "";
        if (!cfg || !res || !res->credential || !json_body)
                return reason_fail(&w, -EINVAL, "boot report: no credential or no report to send");
        size_t n = strlen(json_body);
        if (n > REPORT_BODY_MAX - REPORT_PROOF_ROOM)
                return reason_fail(&w, -E2BIG, "boot report: %zu bytes, more than the %d a report may have", n,
                                   REPORT_BODY_MAX - REPORT_PROOF_ROOM);
        const uint64_t deadline = mono_ms() + REPORT_SEND_TIMEOUT_MS;
        struct attest_client_config c = *cfg;
        unsigned connect = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : REPORT_CONNECT_TIMEOUT_MS;
        unsigned attempt;
        int k;
        for (attempt = 1;; attempt++) {
                uint64_t now = mono_ms();
                unsigned left = deadline > now ? (unsigned)(deadline - now) : 1;
                c.request_timeout_ms = left;
                c.connect_timeout_ms = connect < left ? connect : left;
                k = attest_post_proven(&c, res, "/v1/report", json_body, why, sizeof(why));
                /* one retry, and only with a second left for it after the pause */
                if (k == 0 || attempt == 2 || !send_retryable(k) ||
                    mono_ms() + REPORT_RETRY_PAUSE_MS + 1000 > deadline)
                        break;
                pause_ms(REPORT_RETRY_PAUSE_MS);
        }
        if (k < 0)
                return reason_fail(&w, k, "boot report: %s%s", why[0] ? why : strerror(-k),
                                   attempt == 2 ? " (tried twice)" : "");
        snprintf(detail, len, "boot report accepted by %s%s", cfg->url, attempt == 2 ? " (second try)" : "");
        return 0;
}

int attest_report_load(const char *dir, struct attest_result *res, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        char path[512];
        _cleanup_free_ char *cred = NULL;
        size_t n = 0;
        if (!dir || !res)
                return reason_fail(&w, -EINVAL, "no attestation directory");
        *res = (struct attest_result){ 0 };
        mbedtls_pk_init(&res->e);
        if ((size_t)snprintf(path, sizeof(path), "%s/credential", dir) >= sizeof(path))
                return reason_fail(&w, -ENAMETOOLONG, "%s: name too long", dir);
        int k = read_file_all(path, 8192, &cred, &n);
        if (k < 0)
                return reason_fail(&w, k, "reading %s: %s (did the attest stage run?)", path, strerror(-k));
        while (n > 0 && (cred[n - 1] == '\n' || cred[n - 1] == '\r'))
                cred[--n] = '\0';
        if (n == 0 || strlen(cred) != n)
                return reason_fail(&w, -EBADMSG, "%s holds no credential", path);
        snprintf(path, sizeof(path), "%s/e.key", dir);
        if (mbedtls_pk_parse_keyfile(&res->e, path, NULL) != 0) {
                explicit_bzero(cred, n);
                mbedtls_pk_free(&res->e);
                return reason_fail(&w, -EBADMSG, "reading E from %s failed", path);
        }
        res->credential = TAKE_PTR(cred);
        return 0;
}
