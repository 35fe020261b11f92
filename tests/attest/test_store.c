/* SPDX-License-Identifier: Apache-2.0 */
/* The verifier's SQLite store: machines, approvals counted per image,
 * single-use sessions, trusted EK CAs, deleted EKs remembered, the audit
 * log, and nothing lost to `kill -9`. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "util.h"

static char dir[64], path[96];

static int setup(void **state)
{
        snprintf(dir, sizeof(dir), "/tmp/ember-store.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/ember.db", dir);
        struct store *s;
        assert_int_equal(store_open_sqlite(path, &s), 0);
        *state = s;
        return 0;
}

static int teardown(void **state)
{
        char cmd[128];
        store_close(*state);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        return system(cmd);
}

static struct machine new_machine(uint8_t tag, enum machine_state st)
{
        struct machine m = { .state = st, .created = 1000 + tag, .updated = 1000 + tag };
        assert_int_equal(uuid_random(m.id), 0);
        memset(m.ek_hash, tag, sizeof(m.ek_hash));
        memset(m.secret, 0x40 + tag, sizeof(m.secret));
        snprintf(m.note, sizeof(m.note), "rack %u", tag);
        return m;
}

static void test_machines(void **state)
{
        struct store *s = *state;
        struct machine a = new_machine(1, MACHINE_ENROLLED), b = new_machine(2, MACHINE_PENDING), got;
        assert_int_equal(s->ops->machine_put(s, &a), 0);
        assert_int_equal(s->ops->machine_put(s, &b), 0);
        assert_int_equal(s->ops->machine_get(s, a.id, &got), 0);
        assert_memory_equal(&got, &a, sizeof(a));
        assert_int_equal(s->ops->machine_by_ek(s, b.ek_hash, &got), 0);
        assert_string_equal(got.id, b.id);
        /* one EK, one machine */
        struct machine dup = new_machine(1, MACHINE_PENDING);
        assert_int_equal(s->ops->machine_put(s, &dup), -EEXIST);
        /* state changes are updates of the same row */
        a.state = MACHINE_REVOKED;
        a.reset_count = 7;
        assert_int_equal(s->ops->machine_put(s, &a), 0);
        assert_int_equal(s->ops->machine_get(s, a.id, &got), 0);
        assert_int_equal(got.state, MACHINE_REVOKED);
        assert_int_equal(got.reset_count, 7);
        char deleted[STORE_ID_LEN];
        assert_int_equal(s->ops->ek_deleted(s, b.ek_hash, deleted), -ENOENT);
        assert_int_equal(s->ops->machine_delete(s, b.id), 0);
        assert_int_equal(s->ops->machine_delete(s, b.id), -ENOENT);
        assert_int_equal(s->ops->machine_by_ek(s, b.ek_hash, &got), -ENOENT);
        /* the EK is remembered as deleted, and only that one */
        assert_int_equal(s->ops->ek_deleted(s, b.ek_hash, deleted), 0);
        assert_string_equal(deleted, b.id);
        assert_int_equal(s->ops->ek_deleted(s, a.ek_hash, deleted), -ENOENT);
        /* deleting an unknown machine remembers nothing */
        assert_int_equal(s->ops->machine_delete(s, "no-such-machine"), -ENOENT);
        assert_int_equal(machine_state_from_name("revoked"), MACHINE_REVOKED);
        assert_int_equal(machine_state_from_name("bogus"), -EINVAL);
}

static int count_images(const struct image *img, void *ud)
{
        unsigned *n = ud;
        n[0]++;
        n[1] += img->approvals;
        return 0;
}

struct ca_seen {
        unsigned n;
        char ids[4][STORE_CA_ID_LEN];
        size_t der_len[4];
};

static int seen_ca(const struct ek_ca *ca, void *ud)
{
        struct ca_seen *c = ud;
        if (c->n < 4) {
                memcpy(c->ids[c->n], ca->id, STORE_CA_ID_LEN);
                c->der_len[c->n] = ca->der_len;
                assert_memory_equal(ca->der, "DER of a CA", ca->der_len);
        }
        c->n++;
        return 0;
}

static void test_ek_cas(void **state)
{
        struct store *s = *state;
        struct ek_ca a = { .subject = "CN=A", .not_after = 253402300799, .added = 10,
                           .der = (const uint8_t *)"DER of a CA", .der_len = 11 };
        struct ek_ca b = a, c = a;
        char removed[STORE_CA_ID_LEN];
        struct ca_seen seen = { 0 };
        snprintf(a.id, sizeof(a.id), "%064d", 1);
        snprintf(b.id, sizeof(b.id), "%063d2", 0);
        snprintf(c.id, sizeof(c.id), "ff%062d", 3);
        b.added = 11;
        c.added = 12;
        c.der_len = 4;
        assert_int_equal(s->ops->ek_ca_add(s, &a), 0);
        assert_int_equal(s->ops->ek_ca_add(s, &b), 0);
        assert_int_equal(s->ops->ek_ca_add(s, &c), 0);
        assert_int_equal(s->ops->ek_ca_add(s, &a), -EEXIST);
        assert_int_equal(s->ops->ek_ca_list(s, seen_ca, &seen), 0);
        assert_int_equal(seen.n, 3);
        assert_string_equal(seen.ids[0], a.id);
        assert_int_equal(seen.der_len[2], 4);
        /* a prefix names one CA, or it is refused */
        assert_int_equal(s->ops->ek_ca_remove(s, "00000000", removed), -ENOTUNIQ);
        assert_int_equal(s->ops->ek_ca_remove(s, "", removed), -EINVAL);
        assert_int_equal(s->ops->ek_ca_remove(s, "abcdef01", removed), -ENOENT);
        assert_int_equal(s->ops->ek_ca_remove(s, "ff00", removed), 0);
        assert_string_equal(removed, c.id);
        assert_int_equal(s->ops->ek_ca_remove(s, a.id, removed), 0);
        assert_int_equal(s->ops->ek_ca_remove(s, a.id, removed), -ENOENT);
        seen = (struct ca_seen){ 0 };
        assert_int_equal(s->ops->ek_ca_list(s, seen_ca, &seen), 0);
        assert_int_equal(seen.n, 1);
        assert_string_equal(seen.ids[0], b.id);
}

static void test_approvals(void **state)
{
        struct store *s = *state;
        uint8_t d1[32], d2[32];
        struct approval a1, a2, a3;
        unsigned n[2];
        memset(d1, 1, sizeof(d1));
        memset(d2, 2, sizeof(d2));
        assert_int_equal(s->ops->approve(s, "ember-1.0", d1, "[…]", "file a.json", 10, &a1), 0);
        assert_int_equal(s->ops->approve(s, "ember-1.0", d1, "[…]", "file b.json", 11, &a2), 0);
        assert_int_equal(s->ops->approve(s, "ember-1.1", d2, "[…]", "file c.json", 12, &a3), 0);
        assert_string_equal(a1.image_id, a2.image_id); /* same values, same image */
        n[0] = n[1] = 0;
        assert_int_equal(s->ops->image_list(s, count_images, n), 0);
        assert_int_equal(n[0], 2);
        assert_int_equal(n[1], 3);
        /* one of two approvals removed: still approved */
        assert_int_equal(s->ops->unapprove(s, a1.id), 0);
        n[0] = n[1] = 0;
        assert_int_equal(s->ops->image_list(s, count_images, n), 0);
        assert_int_equal(n[0], 2);
        /* the last one removed: the image is gone */
        assert_int_equal(s->ops->unapprove(s, a2.id), 0);
        n[0] = n[1] = 0;
        assert_int_equal(s->ops->image_list(s, count_images, n), 0);
        assert_int_equal(n[0], 1);
        assert_int_equal(s->ops->unapprove(s, a2.id), -ENOENT);
}

static void test_sessions(void **state)
{
        struct store *s = *state;
        static struct session se = { .pcr_mask = 0x290, .expires = 100, .ak_pub_len = 34, .ek_pub_len = 300 }, got;
        assert_int_equal(uuid_random(se.id), 0);
        memset(se.nonce, 7, sizeof(se.nonce));
        assert_int_equal(s->ops->session_put(s, &se), 0);
        assert_int_equal(s->ops->session_take(s, se.id, 50, &got), 0);
        assert_memory_equal(got.nonce, se.nonce, sizeof(se.nonce));
        assert_int_equal(got.pcr_mask, 0x290);
        assert_int_equal(got.ak_pub_len, 34);
        assert_int_equal(got.ek_pub_len, 300);
        /* single use */
        assert_int_equal(s->ops->session_take(s, se.id, 51, &got), -EALREADY);
        assert_int_equal(s->ops->session_take(s, "no-such-session", 51, &got), -ENOENT);
        /* expired: refused, and consumed all the same */
        static struct session old = { .expires = 100 };
        assert_int_equal(uuid_random(old.id), 0);
        assert_int_equal(s->ops->session_put(s, &old), 0);
        assert_int_equal(s->ops->session_take(s, old.id, 100, &got), -ETIME);
        assert_int_equal(s->ops->session_take(s, old.id, 10, &got), -EALREADY);
        assert_int_equal(s->ops->session_gc(s, 101), 2);
        assert_int_equal(s->ops->session_gc(s, 101), 0); /* once a second at most */
        assert_int_equal(s->ops->session_gc(s, 102), 0);
}

static struct overlay_rec new_overlay(const char *id, uint64_t serial)
{
        struct overlay_rec o = { .serial = serial, .size = 1000 + serial, .registered = 5 };
        snprintf(o.id, sizeof(o.id), "%s", id);
        memset(o.ct_sha256, (int)serial, sizeof(o.ct_sha256));
        memset(o.key, 0x30 + (int)serial, sizeof(o.key));
        snprintf(o.path, sizeof(o.path), "/srv/overlays/%s-%llu.ovl", id, (unsigned long long)serial);
        return o;
}

static int count_cb(const struct overlay_rec *o, void *ud)
{
        ++*(int *)ud;
        return 0;
}

static void test_overlays(void **state)
{
        struct store *s = *state;
        static const char A[] = "11111111-2222-4333-8444-555555555555", B[] = "99999999-2222-4333-8444-555555555555";
        struct overlay_rec got, o = new_overlay(A, 3);
        char id[STORE_ID_LEN], grp[STORE_GROUP_MAX];
        assert_int_equal(s->ops->overlay_current(s, A, &got), -ENOENT);
        assert_int_equal(s->ops->overlay_put(s, &o), 0);
        assert_int_equal(s->ops->overlay_put(s, &o), -EEXIST);
        o = new_overlay(A, 2); /* older than what is registered: a rollback */
        assert_int_equal(s->ops->overlay_put(s, &o), -ESTALE);
        o = new_overlay(A, 5);
        assert_int_equal(s->ops->overlay_put(s, &o), 0);
        assert_int_equal(s->ops->overlay_current(s, A, &got), 0);
        assert_int_equal(got.serial, 5);
        assert_int_equal(got.size, 1005);
        assert_memory_equal(got.key, o.key, sizeof(o.key));
        assert_memory_equal(got.ct_sha256, o.ct_sha256, sizeof(o.ct_sha256));
        assert_string_equal(got.path, o.path);
        o = new_overlay(B, 1);
        snprintf(o.url, sizeof(o.url), "https://cdn.example/b.ovl");
        o.path[0] = '\0';
        assert_int_equal(s->ops->overlay_put(s, &o), 0);
        int n = 0;
        assert_int_equal(s->ops->overlay_list(s, count_cb, &n), 0);
        assert_int_equal(n, 3);

        /* machine, then its group, then the default */
        struct machine m = new_machine(9, MACHINE_ENROLLED);
        assert_int_equal(s->ops->machine_put(s, &m), 0);
        assert_int_equal(s->ops->overlay_for(s, m.id, id), -ENOENT);
        assert_int_equal(s->ops->assign(s, "default", B), 0);
        assert_int_equal(s->ops->overlay_for(s, m.id, id), 0);
        assert_string_equal(id, B);
        assert_int_equal(s->ops->machine_group(s, m.id, grp), -ENOENT);
        assert_int_equal(s->ops->machine_set_group(s, m.id, "rack-7"), 0);
        assert_int_equal(s->ops->machine_group(s, m.id, grp), 0);
        assert_string_equal(grp, "rack-7");
        assert_int_equal(s->ops->assign(s, "group:rack-7", A), 0);
        assert_int_equal(s->ops->overlay_for(s, m.id, id), 0);
        assert_string_equal(id, A);
        char target[STORE_TARGET_MAX];
        snprintf(target, sizeof(target), "machine:%s", m.id);
        assert_int_equal(s->ops->assign(s, target, B), 0);
        assert_int_equal(s->ops->overlay_for(s, m.id, id), 0);
        assert_string_equal(id, B);
        assert_int_equal(s->ops->unassign(s, target), 0);
        assert_int_equal(s->ops->unassign(s, target), -ENOENT);
        assert_int_equal(s->ops->overlay_for(s, m.id, id), 0);
        assert_string_equal(id, A);
        assert_int_equal(s->ops->machine_set_group(s, m.id, ""), 0); /* leaves the group */
        assert_int_equal(s->ops->overlay_for(s, m.id, id), 0);
        assert_string_equal(id, B);
}

/* The server's threads share one store: operations that are transactions
 * (session_take, approve) must not interleave. */
#define THREADS 8
#define ROUNDS 150
static void *worker(void *arg)
{
        struct store *s = arg;
        long failures = 0;
        for (int i = 0; i < ROUNDS; i++) {
                struct session se = { .expires = 1000 }, got;
                if (uuid_random(se.id) < 0 || s->ops->session_put(s, &se) < 0 ||
                    s->ops->session_take(s, se.id, 10, &got) != 0 ||
                    s->ops->session_take(s, se.id, 10, &got) != -EALREADY ||
                    s->ops->audit(s, 10, "test", "round", se.id, NULL) < 0)
                        failures++;
                (void)s->ops->session_gc(s, i);
        }
        return (void *)failures;
}

static void test_threads(void **state)
{
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++)
                assert_int_equal(pthread_create(&t[i], NULL, worker, *state), 0);
        long failures = 0;
        for (int i = 0; i < THREADS; i++) {
                void *f;
                assert_int_equal(pthread_join(t[i], &f), 0);
                failures += (long)f;
        }
        assert_int_equal(failures, 0);
}

static void test_attestations(void **state)
{
        struct store *s = *state;
        struct attestation a = { .time = 5, .pcrs_json = "{\"4\":\"aa\"}" }, got;
        snprintf(a.session_id, sizeof(a.session_id), "s-1");
        snprintf(a.machine_id, sizeof(a.machine_id), "m-1");
        snprintf(a.verdict, sizeof(a.verdict), "ok");
        assert_int_equal(s->ops->attestation_put(s, &a), 0);
        assert_int_equal(s->ops->attestation_put(s, &a), -EEXIST);
        assert_int_equal(s->ops->attestation_get(s, "s-1", &got), 0);
        assert_string_equal(got.pcrs_json, a.pcrs_json);
        assert_string_equal(got.machine_id, "m-1");
        free(got.pcrs_json);
        assert_int_equal(s->ops->attestation_get(s, "s-2", &got), -ENOENT);
}

static int collect(const char *line, void *ud)
{
        char *buf = ud;
        strcat(buf, line);
        strcat(buf, "\n");
        return 0;
}

static void test_audit(void **state)
{
        struct store *s = *state;
        static char buf[4096];
        buf[0] = '\0';
        assert_int_equal(s->ops->audit(s, 0, "operator", "machine.approve", "m-1", "from pending"), 0);
        assert_int_equal(s->ops->audit(s, 60, "server", "attest.refuse", "m-2", "PCR 9: no approved image has this value"), 0);
        assert_int_equal(s->ops->audit_list(s, collect, buf), 0);
        assert_string_equal(buf, "1970-01-01T00:00:00Z operator machine.approve m-1: from pending\n"
                                 "1970-01-01T00:01:00Z server attest.refuse m-2: PCR 9: no approved image has this value\n");
}

/* A writer killed right after its calls returned loses none of them. */
static void test_kill_9(void **state)
{
        enum { N = 50 };
        char ids[N][STORE_ID_LEN];
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct store *w;
                if (store_open_sqlite(path, &w) < 0)
                        _exit(1);
                for (int i = 0; i < N; i++) {
                        struct machine m = new_machine((uint8_t)(100 + i), MACHINE_ENROLLED);
                        if (w->ops->machine_put(w, &m) < 0)
                                _exit(1);
                        (void)!write(p[1], m.id, STORE_ID_LEN); /* acknowledged */
                }
                raise(SIGKILL);
        }
        close(p[1]);
        for (int i = 0; i < N; i++)
                assert_int_equal(read(p[0], ids[i], STORE_ID_LEN), STORE_ID_LEN);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        struct store *r;
        struct machine got;
        assert_int_equal(store_open_sqlite(path, &r), 0);
        for (int i = 0; i < N; i++)
                assert_int_equal(r->ops->machine_get(r, ids[i], &got), 0);
        store_close(r);
}

/* ---- boot reports ---- */

static struct report_rec new_report(const char *machine_id, unsigned i, const char *outcome)
{
        struct report_rec r = { .received = 5000 + i, .consecutive_failures = streq(outcome, "up") ? 0 : i };
        snprintf(r.machine_id, sizeof(r.machine_id), "%s", machine_id);
        snprintf(r.boot_id, sizeof(r.boot_id), "00000000-0000-4000-8000-%012x", i);
        snprintf(r.outcome, sizeof(r.outcome), "%s", outcome);
        snprintf(r.lkg, sizeof(r.lkg), "none");
        if (!streq(outcome, "up")) {
                snprintf(r.failed_stage, sizeof(r.failed_stage), "rke2");
                snprintf(r.reason, sizeof(r.reason), "boot %u: rke2 exited \\x1b", i);
        }
        r.n_timeline = 2;
        r.timeline[0] = (struct report_stage){ .stage = "network", .ms = 1000 + i, .result = "ok" };
        r.timeline[1] = (struct report_stage){ .stage = "rke2", .ms = 20 };
        snprintf(r.timeline[1].result, sizeof(r.timeline[1].result), "%s", streq(outcome, "up") ? "ok" : "failed");
        return r;
}

struct collected {
        char boot_ids[64][STORE_ID_LEN];
        unsigned n;
};

static int collect_report(const struct report_rec *r, void *ud)
{
        struct collected *c = ud;
        if (c->n < 64)
                memcpy(c->boot_ids[c->n], r->boot_id, STORE_ID_LEN);
        c->n++;
        return 0;
}

/* A resend of a boot's report replaces its row, in its place. */
static void test_reports_idempotent(void **state)
{
        struct store *s = *state;
        struct machine m = new_machine(1, MACHINE_ENROLLED);
        struct report_rec a = new_report(m.id, 1, "failed"), b = new_report(m.id, 2, "up"), got;
        static struct collected c;
        assert_int_equal(s->ops->machine_put(s, &m), 0);
        assert_int_equal(s->ops->report_latest(s, m.id, &got), -ENOENT);
        assert_int_equal(s->ops->report_put(s, &a), 0);
        assert_int_equal(s->ops->report_put(s, &b), 0);
        assert_int_equal(s->ops->report_put(s, &a), 0);
        a.timeline[1].ms = 777;
        snprintf(a.reason, sizeof(a.reason), "resent");
        assert_int_equal(s->ops->report_put(s, &a), 0);
        memset(&c, 0, sizeof(c));
        assert_int_equal(s->ops->report_list(s, m.id, 0, collect_report, &c), 0);
        assert_int_equal(c.n, 2);
        assert_string_equal(c.boot_ids[0], b.boot_id); /* newest first: a keeps its place */
        assert_string_equal(c.boot_ids[1], a.boot_id);
        assert_int_equal(s->ops->report_latest(s, m.id, &got), 0);
        assert_memory_equal(&got, &b, sizeof(b));
        memset(&c, 0, sizeof(c));
        assert_int_equal(s->ops->report_list(s, m.id, 1, collect_report, &c), 0);
        assert_int_equal(c.n, 1);
}

/* Everything a report holds comes back, timeline and escaped text too. */
static void test_reports_roundtrip(void **state)
{
        struct store *s = *state;
        struct machine m = new_machine(2, MACHINE_ENROLLED);
        struct report_rec r = new_report(m.id, 3, "failed"), got;
        r.lkg_boot = true;
        snprintf(r.lkg, sizeof(r.lkg), "failed");
        memset(r.lkg_detail, 'x', sizeof(r.lkg_detail) - 1);
        memset(r.reason, 'y', sizeof(r.reason) - 1);
        r.n_timeline = STORE_REPORT_STAGES;
        for (unsigned i = 0; i < STORE_REPORT_STAGES; i++) {
                r.timeline[i] = (struct report_stage){ .ms = 1000000000ULL - i };
                snprintf(r.timeline[i].stage, sizeof(r.timeline[i].stage), "stage-%u", i);
                snprintf(r.timeline[i].result, sizeof(r.timeline[i].result), "not-implemented");
        }
        assert_int_equal(s->ops->machine_put(s, &m), 0);
        assert_int_equal(s->ops->report_put(s, &r), 0);
        assert_int_equal(s->ops->report_latest(s, m.id, &got), 0);
        assert_memory_equal(&got, &r, sizeof(r));
}

/* A machine keeps its newest STORE_REPORT_KEEP, whatever the others have. */
static void test_reports_pruned(void **state)
{
        struct store *s = *state;
        struct machine m = new_machine(3, MACHINE_ENROLLED), other = new_machine(4, MACHINE_ENROLLED);
        static struct collected c;
        assert_int_equal(s->ops->machine_put(s, &m), 0);
        assert_int_equal(s->ops->machine_put(s, &other), 0);
        for (unsigned i = 0; i < 3; i++) {
                struct report_rec r = new_report(other.id, i, "up");
                assert_int_equal(s->ops->report_put(s, &r), 0);
        }
        for (unsigned i = 0; i < STORE_REPORT_KEEP + 10; i++) {
                struct report_rec r = new_report(m.id, i, i % 3 ? "up" : "failed");
                assert_int_equal(s->ops->report_put(s, &r), 0);
        }
        memset(&c, 0, sizeof(c));
        assert_int_equal(s->ops->report_list(s, m.id, 0, collect_report, &c), 0);
        assert_int_equal(c.n, STORE_REPORT_KEEP);
        for (unsigned i = 0; i < STORE_REPORT_KEEP; i++) {
                struct report_rec want = new_report(m.id, STORE_REPORT_KEEP + 9 - i, "up");
                assert_string_equal(c.boot_ids[i], want.boot_id);
        }
        memset(&c, 0, sizeof(c));
        assert_int_equal(s->ops->report_list(s, m.id, 20, collect_report, &c), 0);
        assert_int_equal(c.n, 20);
        memset(&c, 0, sizeof(c));
        assert_int_equal(s->ops->report_list(s, other.id, 0, collect_report, &c), 0);
        assert_int_equal(c.n, 3);
        /* a pruned boot reported again is a new row, the newest; the oldest goes */
        struct report_rec again = new_report(m.id, 0, "up");
        assert_int_equal(s->ops->report_put(s, &again), 0);
        memset(&c, 0, sizeof(c));
        assert_int_equal(s->ops->report_list(s, m.id, 0, collect_report, &c), 0);
        assert_int_equal(c.n, STORE_REPORT_KEEP);
        assert_string_equal(c.boot_ids[0], again.boot_id);
}

/* Reports belong to a machine: none for an unknown one, and they go with it. */
static void test_reports_machine(void **state)
{
        struct store *s = *state;
        struct machine m = new_machine(5, MACHINE_ENROLLED);
        struct report_rec r = new_report(m.id, 1, "up"), got;
        static struct collected c;
        assert_int_equal(s->ops->report_put(s, &r), -ENOENT);
        assert_int_equal(s->ops->machine_put(s, &m), 0);
        assert_int_equal(s->ops->report_put(s, &r), 0);
        assert_int_equal(s->ops->machine_delete(s, m.id), 0);
        assert_int_equal(s->ops->report_latest(s, m.id, &got), -ENOENT);
        memset(&c, 0, sizeof(c));
        assert_int_equal(s->ops->report_list(s, m.id, 0, collect_report, &c), 0);
        assert_int_equal(c.n, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_machines, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ek_cas, setup, teardown),
                cmocka_unit_test_setup_teardown(test_approvals, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
                cmocka_unit_test_setup_teardown(test_overlays, setup, teardown),
                cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_attestations, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kill_9, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reports_idempotent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reports_roundtrip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reports_pruned, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reports_machine, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
