/* SPDX-License-Identifier: Apache-2.0 */
/* ember-attest-load phases: the verifier's request handling (protocol.c,
 * the same code ember-attestd runs) called in this process, without TLS or
 * HTTP, for one simulated node over and over; timed as a whole, and by
 * phase: the store calls on their way through, the rest one by one with
 * the inputs of the last attestation. */
#include "attest-sim.h"

#include <errno.h>
#include <mbedtls/sha256.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eventlog.h"
#include "fileio.h"
#include "http.h"
#include "makecred.h"
#include "protocol.h"
#include "quote.h"
#include "refvalues.h"
#include "store.h"
#include "util.h"

struct phase {
        const char *name;
        uint64_t wall_ns, cpu_ns, calls;
};

/* TIMED(phase, statements…): adds their wall and thread CPU time to phase */
#define TIMED(ph, ...)                                                                               \
        do {                                                                                         \
                uint64_t _w = now_ns(CLOCK_MONOTONIC), _c = now_ns(CLOCK_THREAD_CPUTIME_ID);         \
                __VA_ARGS__;                                                                         \
                (ph)->cpu_ns += now_ns(CLOCK_THREAD_CPUTIME_ID) - _c;                                \
                (ph)->wall_ns += now_ns(CLOCK_MONOTONIC) - _w;                                       \
        } while (0)

/* The store the handlers get: the SQLite store, with the calls they make
 * timed on the way through (writes, reads, and the image list, whose
 * callbacks parse and match reference values: the policy). Operations not
 * named here are passed on untimed. */
struct timed_store {
        struct store base; /* first: the handlers see a struct store */
        struct store *real;
        struct store_ops ops;
        struct phase write, read, policy;
};

#define TIMED_OP(op, ph, params, args)                                     \
        static int timed_##op params                                       \
        {                                                                  \
                struct timed_store *t = (struct timed_store *)s;           \
                int r;                                                     \
                TIMED(&t->ph, r = t->real->ops->op args);                  \
                t->ph.calls++;                                             \
                return r;                                                  \
        }

TIMED_OP(machine_put, write, (struct store *s, const struct machine *m), (t->real, m))
TIMED_OP(session_put, write, (struct store *s, const struct session *se), (t->real, se))
TIMED_OP(session_take, write, (struct store *s, const char *id, int64_t now, struct session *ret), (t->real, id, now, ret))
TIMED_OP(session_gc, write, (struct store *s, int64_t now), (t->real, now))
TIMED_OP(attestation_put, write, (struct store *s, const struct attestation *a), (t->real, a))
TIMED_OP(audit, write,
         (struct store *s, int64_t now, const char *actor, const char *action, const char *subject, const char *detail),
         (t->real, now, actor, action, subject, detail))
TIMED_OP(machine_get, read, (struct store *s, const char *id, struct machine *ret), (t->real, id, ret))
TIMED_OP(machine_by_ek, read, (struct store *s, const uint8_t ek_hash[STORE_HASH_LEN], struct machine *ret),
         (t->real, ek_hash, ret))
TIMED_OP(image_list, policy, (struct store *s, image_cb cb, void *ud), (t->real, cb, ud))

static void timed_store_init(struct timed_store *t, struct store *real)
{
        *t = (struct timed_store){ .real = real, .ops = *real->ops };
        t->ops.machine_put = timed_machine_put;
        t->ops.session_put = timed_session_put;
        t->ops.session_take = timed_session_take;
        t->ops.session_gc = timed_session_gc;
        t->ops.attestation_put = timed_attestation_put;
        t->ops.audit = timed_audit;
        t->ops.machine_get = timed_machine_get;
        t->ops.machine_by_ek = timed_machine_by_ek;
        t->ops.image_list = timed_image_list;
        t->base.ops = &t->ops;
        t->write.name = "  SQLite writes, one transaction each (WAL, sync=FULL)";
        t->read.name = "  SQLite reads (machine by EK, by id)";
        t->policy.name = "  policy: image list, reference values, match";
}

/* Other nodes' sessions, live for the whole run: what a server under load
 * has in its table while it works. */
static int fill_sessions(struct store *st, const struct node *n, size_t count)
{
        struct session *se = calloc(1, sizeof(*se));
        int r = se ? 0 : -ENOMEM;
        for (size_t i = 0; r == 0 && i < count; i++) {
                *se = (struct session){ .expires = (int64_t)time(NULL) + 3600, .pcr_mask = 0x2ff,
                                        .ek_pub_len = n->ek_pub_len, .ak_pub_len = n->ak_pub_len };
                memcpy(se->ek_pub, n->ek_pub, n->ek_pub_len);
                memcpy(se->ak_pub, n->ak_pub, n->ak_pub_len);
                snprintf(se->machine_id, sizeof(se->machine_id), "other");
                r = uuid_random(se->id);
                r = r ? r : getrandom_full(se->nonce, sizeof(se->nonce));
                r = r ? r : getrandom_full(se->secret, sizeof(se->secret));
                r = r ? r : st->ops->session_put(st, se);
        }
        free(se);
        return r;
}

static int phases_store(const struct cfg *c, const struct node *n, struct store **ret)
{
        _cleanup_free_ char *json = NULL, *canon = NULL;
        size_t len;
        struct ref_image *img = calloc(1, sizeof(*img));
        struct approval a;
        struct machine m = { .state = MACHINE_ENROLLED, .created = (int64_t)time(NULL) };
        char why[300];
        char side[4200];
        uint8_t digest[32];
        unlink(c->db);
        snprintf(side, sizeof(side), "%s-wal", c->db);
        unlink(side);
        snprintf(side, sizeof(side), "%s-shm", c->db);
        unlink(side);
        int r = img ? read_file_all(c->image, REF_DOC_MAX, &json, &len) : -ENOMEM;
        if (r == 0 && (r = ref_parse(json, len, img, why, sizeof(why))) < 0)
                fprintf(stderr, "ember-attest-load: %s: %s\n", c->image, why);
        if (r == 0 && !(canon = ref_export(img)))
                r = -ENOMEM;
        free(img);
        if (r == 0)
                r = store_open_sqlite(c->db, ret);
        if (r < 0)
                return r;
        mbedtls_sha256_ret((const unsigned char *)canon, strlen(canon), digest, 0);
        m.updated = m.created;
        mbedtls_sha256_ret(n->ek_pub, n->ek_pub_len, m.ek_hash, 0);
        snprintf(m.note, sizeof(m.note), "ember-attest-load phases");
        r = (*ret)->ops->approve(*ret, "bench", digest, canon, "file bench", m.created, &a);
        if (r == 0)
                r = uuid_random(m.id);
        if (r == 0)
                r = getrandom_full(m.secret, sizeof(m.secret));
        if (r == 0)
                r = (*ret)->ops->machine_put(*ret, &m);
        return r < 0 ? r : fill_sessions(*ret, n, c->sessions);
}

/* One request through the handler, the handler alone timed into ph. */
static int handle(struct protocol *p, const char *path, const char *body, struct phase *ph, json_object **ret, char *why)
{
        struct http_request rq = { .method = "POST", .path = path, .client = "127.0.0.1", .body = (const uint8_t *)body,
                                   .body_len = strlen(body) };
        struct http_reply rp = { 0 };
        bool handled;
        TIMED(ph, handled = protocol_handle(p, &rq, &rp));
        if (!handled)
                return snprintf(why, WHY, "%s: not handled", path), -ENOENT;
        json_object *o = rp.body ? json_tokener_parse(rp.body) : NULL;
        if (rp.status != 200) {
                snprintf(why, WHY, "%s: %u %.300s", path, rp.status, rp.body ? rp.body : "");
                free(rp.body);
                json_object_put(o);
                return -EPERM;
        }
        free(rp.body);
        *ret = o;
        return o ? 0 : -EBADMSG;
}

/* What the last attestation left, for the phases timed one by one. */
struct last {
        struct challenge ch;
        char *evidence;
};

/* count attestations of node n through the two handlers, back to back */
static int phases_handlers(const struct cfg *c, struct protocol *p, const struct node *n, const struct boot *b,
                           struct phase *chal, struct phase *evid, struct last *last)
{
        char why[WHY];
        uint8_t e[160];
        size_t e_len;
        for (size_t i = 0; i < c->count; i++) {
                json_object *o = NULL;
                int r;
                if (e_make(e, sizeof(e), &e_len) < 0)
                        return -EIO;
                r = handle(p, "/v1/attest/challenge", n->challenge_body, chal, &o, why);
                if (r == 0)
                        r = parse_challenge(o, &last->ch, why);
                json_object_put(o);
                free(last->evidence);
                last->evidence = r == 0 ? answer(n, b, &last->ch, e, e_len, why) : NULL;
                if (!last->evidence)
                        return fprintf(stderr, "ember-attest-load: phases: %s\n", why), -EPROTO;
                o = NULL;
                r = handle(p, "/v1/attest/evidence", last->evidence, evid, &o, why);
                json_object_put(o);
                if (r < 0)
                        return fprintf(stderr, "ember-attest-load: phases: %s\n", why), r;
        }
        return 0;
}

/* The phases that are not store calls, each on its own, count times, with
 * the inputs of the last attestation. */
static int time_makecred(const struct cfg *c, const struct node *n, struct phase *ph)
{
        uint8_t s[32] = { 1 };
        char why[300];
        int r = 0;
        for (size_t i = 0; r == 0 && i < c->count; i++)
                TIMED(ph, {
                        TPM2B_PUBLIC ek, ak;
                        TPM2B_NAME name;
                        struct makecred_blobs blobs;
                        r = makecred_parse_public(n->ek_pub, n->ek_pub_len, &ek, why, sizeof(why));
                        r = r ? r : makecred_check_ek(&ek, why, sizeof(why));
                        r = r ? r : makecred_parse_public(n->ak_pub, n->ak_pub_len, &ak, why, sizeof(why));
                        r = r ? r : quote_check_ak(&ak.publicArea, why, sizeof(why));
                        r = r ? r : makecred_name(&ak, &name);
                        r = r ? r : makecred(&ek, &name, s, sizeof(s), NULL, &blobs, why, sizeof(why));
                });
        if (r < 0)
                fprintf(stderr, "ember-attest-load: phases: makecred: %s\n", why);
        return r;
}

static int time_quote(const struct cfg *c, const struct node *n, const struct boot *b, uint32_t mask, struct phase *ph)
{
        uint8_t extra[32] = { 2 };
        char why[WHY];
        struct quoted q;
        struct quote_pcr pcrs[PCRS];
        size_t np = 0;
        int r = quote(n, b, mask, extra, &q, why);
        for (int i = 0; i < PCRS; i++)
                if (mask & (1u << i)) {
                        pcrs[np] = (struct quote_pcr){ .bank = TPM2_ALG_SHA256, .index = (uint8_t)i };
                        memcpy(pcrs[np++].digest, b->pcr[i], 32);
                }
        struct quote_selection sel = { .bank = { { .alg = TPM2_ALG_SHA256, .pcrs = mask } }, .n_banks = 1 };
        struct quote_evidence ev = { n->ak_pub, n->ak_pub_len, q.attest, q.attest_len, q.sig, q.sig_len, pcrs, np };
        struct quote_expect ex = { n->ek_pub, n->ek_pub_len, extra, sizeof(extra), &sel };
        for (size_t i = 0; r == 0 && i < c->count; i++)
                TIMED(ph, r = quote_verify(&ev, &ex, NULL, why, sizeof(why)));
        if (r < 0)
                fprintf(stderr, "ember-attest-load: phases: quote_verify: %s\n", why);
        return r;
}

static int time_evlog(const struct cfg *c, const struct boot *b, struct phase *ph)
{
        struct evlog_pcrs *rep = calloc(1, sizeof(*rep));
        char why[300] = "out of memory";
        int r = rep ? 0 : -ENOMEM;
        for (size_t i = 0; r == 0 && i < c->count; i++)
                TIMED(ph, {
                        struct evlog *log = NULL;
                        r = evlog_parse(b->event_log, b->event_log_len, &log, why, sizeof(why));
                        r = r ? r : evlog_replay(log, EVLOG_ALG_SHA256, rep, why, sizeof(why));
                        evlog_free(log);
                });
        if (r < 0)
                fprintf(stderr, "ember-attest-load: phases: the event log: %s\n", why);
        free(rep);
        return r;
}

/* Parsing both request bodies and decoding their base64 fields. */
static int time_json(const struct cfg *c, const struct node *n, const char *evidence, struct phase *ph)
{
        static const char *const fields[] = { "quote", "signature", "event_log", "e_pub" };
        uint8_t *buf = malloc(EVLOG_MAX_BYTES + 3);
        int r = buf ? 0 : -ENOMEM;
        for (size_t i = 0; r == 0 && i < c->count; i++)
                TIMED(ph, {
                        json_object *a = json_tokener_parse(n->challenge_body), *e = json_tokener_parse(evidence);
                        size_t len;
                        r = a && e ? 0 : -EBADMSG;
                        r = r ? r : unb64(json_str(a, "ek_pub"), buf, EVLOG_MAX_BYTES, &len);
                        r = r ? r : unb64(json_str(a, "ak_pub"), buf, EVLOG_MAX_BYTES, &len);
                        for (size_t f = 0; r == 0 && f < ELEMENTSOF(fields); f++)
                                r = unb64(json_str(e, fields[f]), buf, EVLOG_MAX_BYTES, &len);
                        json_object_put(a);
                        json_object_put(e);
                });
        if (r < 0)
                fprintf(stderr, "ember-attest-load: phases: parsing the requests failed\n");
        free(buf);
        return r;
}

static double ms_each(uint64_t ns, size_t count) { return (double)ns / 1e6 / (double)count; }

static void phase_line(const struct phase *p, size_t count, double base_cpu_ms)
{
        double cpu = ms_each(p->cpu_ns, count);
        printf("  %-54s %8.3f %8.3f %6.1f%%", p->name, ms_each(p->wall_ns, count), cpu,
               base_cpu_ms > 0 ? cpu / base_cpu_ms * 100 : 0);
        if (p->calls)
                printf("  (%.1f calls)", (double)p->calls / (double)count);
        putchar('\n');
}

static void phases_report(const struct cfg *c, const struct phase *chal, const struct phase *evid,
                          const struct timed_store *ts, const struct phase *own, size_t n_own)
{
        size_t k = c->count;
        const struct phase *parts[8];
        size_t np = 0;
        struct phase rest = { .name = "  rest: replies, JSON building, randomness, copies" };
        uint64_t hc = chal->cpu_ns + evid->cpu_ns, hw = chal->wall_ns + evid->wall_ns, sc = 0, sw = 0;
        for (size_t i = 0; i < n_own; i++)
                parts[np++] = &own[i];
        parts[np++] = &ts->policy;
        parts[np++] = &ts->read;
        parts[np++] = &ts->write;
        for (size_t i = 0; i < np; i++) {
                sc += parts[i]->cpu_ns;
                sw += parts[i]->wall_ns;
        }
        rest.cpu_ns = hc > sc ? hc - sc : 0;
        rest.wall_ns = hw > sw ? hw - sw : 0;
        double hcpu = ms_each(hc, k);
        printf("The verifier's request handling in one thread, no TLS or HTTP (%zu attestations, %zu other live sessions,\n"
               "ms each):\n", k, c->sessions);
        printf("  %-54s %8s %8s %7s\n", "", "wall", "CPU", "of CPU");
        phase_line(chal, k, hcpu);
        phase_line(evid, k, hcpu);
        for (size_t i = 0; i < np; i++)
                phase_line(parts[i], k, hcpu);
        phase_line(&rest, k, hcpu);
        printf("RESULT mode=phases n=%zu sessions=%zu handler_cpu_ms=%.4f handler_wall_ms=%.4f makecred_cpu_ms=%.4f quote_cpu_ms=%.4f "
               "evlog_cpu_ms=%.4f json_cpu_ms=%.4f policy_cpu_ms=%.4f db_read_cpu_ms=%.4f db_read_wall_ms=%.4f "
               "db_write_cpu_ms=%.4f db_write_wall_ms=%.4f db_writes=%.1f rest_cpu_ms=%.4f\n",
               k, c->sessions, hcpu, ms_each(hw, k), ms_each(own[0].cpu_ns, k), ms_each(own[1].cpu_ns, k), ms_each(own[2].cpu_ns, k),
               ms_each(own[3].cpu_ns, k), ms_each(ts->policy.cpu_ns, k), ms_each(ts->read.cpu_ns, k),
               ms_each(ts->read.wall_ns, k), ms_each(ts->write.cpu_ns, k), ms_each(ts->write.wall_ns, k),
               (double)ts->write.calls / (double)k, ms_each(rest.cpu_ns, k));
}

int cmd_phases(const struct cfg *c)
{
        struct boot b = { 0 };
        struct node n = { 0 };
        struct store *st = NULL;
        struct timed_store *ts = calloc(1, sizeof(*ts));
        struct last last = { 0 };
        char why[WHY];
        struct phase chal = { .name = "challenge handler, all of it" }, evid = { .name = "evidence handler, all of it" };
        struct phase own[] = {
                { .name = "  MakeCredential (EK, AK checks, RSA-OAEP, KDFa, AES)" },
                { .name = "  quote verification (QN, RSA signature, PCR digest)" },
                { .name = "  event log: parse + replay (SHA-256 bank)" },
                { .name = "  JSON parse + base64 decode of both requests" },
        };
        int r = ts ? boot_load(c, &b) : -ENOMEM;
        if (r == 0 && (r = node_load(c->dir, c->ek, 0, &n, why)) < 0)
                fprintf(stderr, "ember-attest-load: %s\n", why);
        if (r == 0 && (r = phases_store(c, &n, &st)) < 0)
                fprintf(stderr, "ember-attest-load: phases: setting up %s failed: %s\n", c->db, strerror(-r));
        if (r == 0) {
                /* one node attests over and over: the per-EK limit is the
                 * server's defence, not a cost measured here */
                struct protocol p = { .store = &ts->base, .now_ms = mono_ms };
                timed_store_init(ts, st);
                ratelimit_init(&p.by_ek, 1e9, 1e9);
                r = phases_handlers(c, &p, &n, &b, &chal, &evid, &last);
        }
        if (r == 0)
                r = time_makecred(c, &n, &own[0]);
        if (r == 0)
                r = time_quote(c, &n, &b, last.ch.mask, &own[1]);
        if (r == 0)
                r = time_evlog(c, &b, &own[2]);
        if (r == 0)
                r = time_json(c, &n, last.evidence, &own[3]);
        if (r == 0)
                phases_report(c, &chal, &evid, ts, own, ELEMENTSOF(own));
        free(last.evidence);
        store_close(st);
        free(ts);
        node_free(&n);
        boot_free(&b);
        return r < 0 ? 1 : 0;
}
