/* SPDX-License-Identifier: Apache-2.0 */
/* ember-attest-load: the load generator and the microbenchmark of
 * bench/attest. It plays many Ember nodes against ember-attestd, each with
 * keys held in software instead of a TPM, so that the server, not a TPM,
 * limits the rate:
 *
 *   EK     RSA-2048 with the public area of the TCG EK profile's template
 *          L-1 (or ECC P-256, template L-2); AK an RSA-2048 restricted
 *          RSASSA-SHA256 signing key with the attributes client.c asks its
 *          TPM for;
 *   ActivateCredential, in software: makecred.c backwards (RSA-OAEP with
 *          label "IDENTITY" or ECDH + KDFe for the seed, KDFa for the keys,
 *          the integrity HMAC checked, AES-CFB decrypted);
 *   Quote, in software: a TPMS_ATTEST as a TPM makes it (qualifiedSigner
 *          the AK's qualified name under the EK, extraData as client.c
 *          computes it, the digest of the reported PCRs), signed by the AK;
 *   the PCR values and event log of a captured OVMF boot, which replay to
 *          each other: the server does all of its work and accepts.
 *
 * One attestation is one node's boot: a fresh E, a fresh curl handle and
 * so a fresh TCP connection and full TLS handshake (no session resumption),
 * then the challenge and the evidence on that connection, as client.c
 * sends them.
 *
 * The simulated TPMs' private-key operations use OpenSSL's libcrypto,
 * which libcurl loads anyway: its RSA-2048 private operation is several
 * times faster than mbedtls', which keeps a generator that shares a small
 * machine with the server ahead of it. Nothing on the server's side
 * changes.
 *
 * Subcommands (see usage_text): keys, run, tls here; phases in
 * attest-phases.c; the simulated node in attest-sim.c. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest-sim.h"
#include "fileio.h"
#include "util.h"

#define MAX_ERRORS_SHOWN 5
#define REPLY_MAX (64u << 10)

static const char usage_text[] =
        "Usage: ember-attest-load keys   --dir DIR --nodes N [--ek rsa|ecc] [--threads T]\n"
        "       ember-attest-load run    --dir DIR --nodes N [--ek rsa|ecc] --url URL --pin PIN\n"
        "                                --event-log FILE --pcrs FILE --concurrency C --count K\n"
        "                                [--first I] [--server-pid PID]\n"
        "       ember-attest-load tls    --url URL --pin PIN --concurrency C --count K [--server-pid PID]\n"
        "       ember-attest-load phases --dir DIR [--ek rsa|ecc] --event-log FILE --pcrs FILE\n"
        "                                --image FILE --db PATH --count K [--sessions S]\n"
        "\n"
        "The load generator of bench/attest: simulated Ember nodes whose TPM is\n"
        "software (keys in DIR), so the server is what limits the rate.\n"
        "\n"
        "  keys    make the nodes missing from the pool DIR: per node an EK and an AK\n"
        "          (DIR/rsa-NNNNN.pem or ecc-NNNNN.pem, as --ek says) and the EK public\n"
        "          area to enrol (.ek.pub beside it, a TPM2B_PUBLIC for `emberctl\n"
        "          machine enroll --ek`)\n"
        "  run     K attestations from C threads, each a node's boot: a fresh TLS\n"
        "          connection, challenge, ActivateCredential, quote, evidence; nodes\n"
        "          are taken in turn from I (default 0), never two at once\n"
        "  tls     K fresh TLS connections, each one GET /healthz: the handshake's cost\n"
        "  phases  the verifier's request handling in this process (no TLS, no HTTP),\n"
        "          timed as a whole and by phase, against a fresh database at PATH\n"
        "          (on the disk whose fsync is to be measured) with the image FILE and\n"
        "          S unexpired sessions of other nodes in it (default 0), as a server\n"
        "          under load has: every challenge leaves one for a minute\n"
        "\n"
        "  --server-pid PID  also report the server's CPU time per operation\n"
        "                    (from /proc/PID/stat)\n"
        "\n"
        "Prints a human summary and one line \"RESULT key=value ...\" for scripts.\n"
        "Exit status: 0 when every operation succeeded, 1 otherwise, 2 bad usage.\n";

static uint64_t mono_us(void) { return now_ns(CLOCK_MONOTONIC) / 1000; }

/* utime + stime of a process, in nanoseconds; 0 when it cannot be read. */
static uint64_t proc_cpu_ns(pid_t pid)
{
        char path[64], *buf = NULL;
        size_t len;
        unsigned long long ut = 0, st = 0;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if (pid <= 0 || read_file_all(path, 4096, &buf, &len) < 0)
                return 0;
        const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
        /* after ")": state(3) … utime(14) stime(15) */
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
                ut = st = 0;
        free(buf);
        return (ut + st) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK));
}

static uint64_t self_cpu_ns(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
               ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* ---- HTTPS ---------------------------------------------------------------- */

struct conn {
        CURL *curl;
        struct curl_slist *headers;
        char err[CURL_ERROR_SIZE];
        char *body;
        size_t len;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
        struct conn *c = ud;
        size_t n = size * nmemb;
        if (n > REPLY_MAX - c->len)
                return 0;
        char *b = realloc(c->body, c->len + n + 1);
        if (!b)
                return 0;
        memcpy(b + c->len, data, n);
        c->body = b;
        c->len += n;
        b[c->len] = '\0';
        return n;
}

static void conn_close(struct conn *c)
{
        if (c->curl)
                curl_easy_cleanup(c->curl);
        curl_slist_free_all(c->headers);
        free(c->body);
        memset(c, 0, sizeof(*c));
}

/* A new handle: a new connection and a full handshake, the server
 * authenticated by its pinned key as client.c does it. */
static int conn_open(struct conn *c, const char *pin)
{
        memset(c, 0, sizeof(*c));
        c->curl = curl_easy_init();
        c->headers = curl_slist_append(NULL, "Content-Type: application/json");
        struct curl_slist *h = c->headers ? curl_slist_append(c->headers, "Expect:") : NULL;
        if (!c->curl || !h)
                return -ENOMEM;
        c->headers = h;
        CURLcode r = curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->err);
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_PROXY, "");
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_SSL_SESSIONID_CACHE, 0L);
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 120000L);
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_CAINFO, NULL); /* no CA bundle to load: the pin decides */
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_CAPATH, NULL);
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 0L);
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 0L);
        r = r ? r : curl_easy_setopt(c->curl, CURLOPT_PINNEDPUBLICKEY, pin);
        return r == CURLE_OK ? 0 : -EOPNOTSUPP;
}

struct timing {
        uint32_t tls_us;    /* TCP connect to TLS established (first request only) */
        uint32_t server_us; /* request sent to the first byte of the reply */
};

/* body NULL: GET. 0 and the status in *status, or -EIO with curl's reason. */
static int request(struct conn *c, const char *url, const char *body, long *status, struct timing *t, char *why)
{
        curl_off_t conn = 0, app = 0, pre = 0, start = 0;
        free(c->body);
        c->body = NULL;
        c->len = 0;
        c->err[0] = '\0';
        curl_easy_setopt(c->curl, CURLOPT_URL, url);
        if (body) {
                curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        }
        CURLcode r = curl_easy_perform(c->curl);
        if (r != CURLE_OK)
                return snprintf(why, WHY, "%s: %s%s%s", url, curl_easy_strerror(r), c->err[0] ? ": " : "", c->err), -EIO;
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
        curl_easy_getinfo(c->curl, CURLINFO_CONNECT_TIME_T, &conn);
        curl_easy_getinfo(c->curl, CURLINFO_APPCONNECT_TIME_T, &app);
        curl_easy_getinfo(c->curl, CURLINFO_PRETRANSFER_TIME_T, &pre);
        curl_easy_getinfo(c->curl, CURLINFO_STARTTRANSFER_TIME_T, &start);
        t->tls_us = app > conn ? (uint32_t)(app - conn) : 0;
        t->server_us = start > pre ? (uint32_t)(start - pre) : 0;
        return 0;
}

/* POST and a 200 with a JSON object, or the server's refusal as the reason. */
static int post(struct conn *c, const char *base, const char *path, const char *body, json_object **ret, struct timing *t,
                char *why)
{
        char url[600];
        long status = 0;
        snprintf(url, sizeof(url), "%s%s", base, path);
        int r = request(c, url, body, &status, t, why);
        if (r < 0)
                return r;
        json_object *o = c->body ? json_tokener_parse(c->body) : NULL;
        if (status != 200) {
                const char *err = o ? json_str(o, "error") : NULL;
                snprintf(why, WHY, "%s: HTTP %ld: %.300s", path, status, err ? err : "no reason given");
                json_object_put(o);
                return -EPERM;
        }
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return snprintf(why, WHY, "%s: the reply is not a JSON object", path), -EBADMSG;
        }
        *ret = o;
        return 0;
}

/* ---- one attestation, one handshake ------------------------------------------ */

struct sample {
        uint32_t total_us, tls_us, challenge_us, evidence_us, node_us;
};

static int attest_once(const struct cfg *cfg, const struct node *n, const struct boot *b, struct sample *s, char *why)
{
        struct conn c;
        struct challenge ch;
        struct timing t1 = { 0 }, t2 = { 0 };
        json_object *reply = NULL;
        uint8_t e[160];
        size_t e_len;
        _cleanup_free_ char *evidence = NULL;
        uint64_t start = mono_us(), node0, node1;

        if (e_make(e, sizeof(e), &e_len) < 0)
                return snprintf(why, WHY, "making E failed"), -EIO;
        int r = conn_open(&c, cfg->pin);
        if (r < 0)
                snprintf(why, WHY, "curl: %s", strerror(-r));
        if (r == 0)
                r = post(&c, cfg->url, "/v1/attest/challenge", n->challenge_body, &reply, &t1, why);
        if (r == 0) {
                r = parse_challenge(reply, &ch, why);
                json_object_put(reply);
                reply = NULL;
        }
        node0 = mono_us();
        if (r == 0 && !(evidence = answer(n, b, &ch, e, e_len, why)))
                r = -EBADMSG;
        node1 = mono_us();
        if (r == 0)
                r = post(&c, cfg->url, "/v1/attest/evidence", evidence, &reply, &t2, why);
        if (r == 0 && (!json_str(reply, "credential") || !json_str(reply, "machine")))
                r = (snprintf(why, WHY, "the verdict has no credential or machine"), -EBADMSG);
        json_object_put(reply);
        conn_close(&c);
        if (r < 0)
                return r;
        *s = (struct sample){ .total_us = (uint32_t)(mono_us() - start), .tls_us = t1.tls_us, .challenge_us = t1.server_us,
                              .evidence_us = t2.server_us, .node_us = (uint32_t)(node1 - node0) };
        return 0;
}

static int healthz_once(const struct cfg *cfg, struct sample *s, char *why)
{
        struct conn c;
        struct timing t = { 0 };
        char url[600];
        long status = 0;
        uint64_t start = mono_us();
        snprintf(url, sizeof(url), "%s/healthz", cfg->url);
        int r = conn_open(&c, cfg->pin);
        if (r < 0)
                snprintf(why, WHY, "curl: %s", strerror(-r));
        if (r == 0)
                r = request(&c, url, NULL, &status, &t, why);
        if (r == 0 && status != 200)
                r = (snprintf(why, WHY, "/healthz: HTTP %ld", status), -EPERM);
        conn_close(&c);
        if (r == 0)
                *s = (struct sample){ .total_us = (uint32_t)(mono_us() - start), .tls_us = t.tls_us,
                                      .challenge_us = t.server_us };
        return r;
}

/* ---- the load: C threads sharing K operations -------------------------------- */

struct load {
        const struct cfg *cfg;
        struct node *nodes;
        const struct boot *boot;
        bool tls_only;
        atomic_size_t next_job, next_node, errors;
        struct sample *samples;
        bool *ok;
        pthread_barrier_t start;
        pthread_mutex_t lock;
        char shown[MAX_ERRORS_SHOWN][WHY];
        size_t n_shown;
};

/* The next node not attesting right now: a node boots once at a time. */
static struct node *claim(struct load *l)
{
        for (;;) {
                size_t k = atomic_fetch_add(&l->next_node, 1);
                struct node *n = &l->nodes[(l->cfg->first + k) % l->cfg->nodes];
                if (atomic_exchange(&n->busy, 1) == 0)
                        return n;
        }
}

static void *worker(void *ud)
{
        struct load *l = ud;
        char why[WHY];
        pthread_barrier_wait(&l->start);
        for (;;) {
                size_t j = atomic_fetch_add(&l->next_job, 1);
                if (j >= l->cfg->count)
                        break;
                int r;
                why[0] = '\0';
                if (l->tls_only) {
                        r = healthz_once(l->cfg, &l->samples[j], why);
                } else {
                        struct node *n = claim(l);
                        r = attest_once(l->cfg, n, l->boot, &l->samples[j], why);
                        atomic_store(&n->busy, 0);
                }
                l->ok[j] = r == 0;
                if (r < 0) {
                        atomic_fetch_add(&l->errors, 1);
                        pthread_mutex_lock(&l->lock);
                        if (l->n_shown < MAX_ERRORS_SHOWN)
                                snprintf(l->shown[l->n_shown++], WHY, "%s", why);
                        pthread_mutex_unlock(&l->lock);
                }
        }
        return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the successful samples' field, in ms. */
static double pct_ms(const struct load *l, size_t field_off, double p)
{
        size_t n = 0;
        uint32_t *v = malloc(l->cfg->count * sizeof(*v));
        if (!v)
                return 0;
        for (size_t i = 0; i < l->cfg->count; i++)
                if (l->ok[i])
                        v[n++] = *(const uint32_t *)((const uint8_t *)&l->samples[i] + field_off);
        double r = 0;
        if (n) {
                qsort(v, n, sizeof(*v), cmp_u32);
                size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
                r = v[(k ? k : 1) - 1] / 1000.0;
        }
        free(v);
        return r;
}

#define PCT(l, f, p) pct_ms(l, offsetof(struct sample, f), p)

static void report(const struct load *l, double wall_s, uint64_t srv_cpu_ns, uint64_t gen_cpu_ns)
{
        const struct cfg *c = l->cfg;
        size_t errors = atomic_load(&l->errors), good = c->count - errors;
        double rate = wall_s > 0 ? (double)good / wall_s : 0;
        double srv_ms = good && srv_cpu_ns ? (double)srv_cpu_ns / 1e6 / (double)good : 0;
        double gen_ms = good ? (double)gen_cpu_ns / 1e6 / (double)good : 0;
        const char *what = l->tls_only ? "TLS connections (GET /healthz)" : "attestations";
        printf("concurrency %zu: %zu %s, %zu errors, %.2f s, %.1f/s\n", c->concurrency, good, what, errors, wall_s, rate);
        printf("  latency ms: p50 %.2f  p99 %.2f  max %.2f\n", PCT(l, total_us, 50), PCT(l, total_us, 99),
               PCT(l, total_us, 100));
        if (l->tls_only)
                printf("  medians ms: TLS handshake %.2f, request %.2f\n", PCT(l, tls_us, 50), PCT(l, challenge_us, 50));
        else
                printf("  medians ms: TLS handshake %.2f, challenge %.2f, node (activate + quote) %.2f, evidence %.2f\n",
                       PCT(l, tls_us, 50), PCT(l, challenge_us, 50), PCT(l, node_us, 50), PCT(l, evidence_us, 50));
        if (srv_ms > 0)
                printf("  server CPU %.3f ms each (%.0f per CPU-second), %.0f%% of a core busy; generator CPU %.3f ms each\n",
                       srv_ms, 1000.0 / srv_ms, (double)srv_cpu_ns / 1e9 / wall_s * 100.0, gen_ms);
        for (size_t i = 0; i < l->n_shown; i++)
                fprintf(stderr, "ember-attest-load: FAILED: %s\n", l->shown[i]);
        printf("RESULT mode=%s concurrency=%zu n=%zu errors=%zu wall_s=%.3f rate=%.2f p50_ms=%.3f p99_ms=%.3f "
               "tls_p50_ms=%.3f challenge_p50_ms=%.3f evidence_p50_ms=%.3f node_p50_ms=%.3f server_cpu_ms=%.4f "
               "server_util=%.3f gen_cpu_ms=%.4f\n",
               l->tls_only ? "tls" : "attest", c->concurrency, good, errors, wall_s, rate, PCT(l, total_us, 50),
               PCT(l, total_us, 99), PCT(l, tls_us, 50), PCT(l, challenge_us, 50), PCT(l, evidence_us, 50),
               PCT(l, node_us, 50), srv_ms, wall_s > 0 ? (double)srv_cpu_ns / 1e9 / wall_s : 0, gen_ms);
}

static int run_load(const struct cfg *c, struct node *nodes, const struct boot *b, bool tls_only)
{
        struct load *l = calloc(1, sizeof(*l));
        pthread_t *th = calloc(c->concurrency, sizeof(*th));
        int r = 0;
        if (!l || !th) {
                free(l);
                free(th);
                return -ENOMEM;
        }
        *l = (struct load){ .cfg = c, .nodes = nodes, .boot = b, .tls_only = tls_only };
        l->samples = calloc(c->count, sizeof(*l->samples));
        l->ok = calloc(c->count, sizeof(*l->ok));
        if (!l->samples || !l->ok) {
                free(l->samples);
                free(l->ok);
                free(l);
                free(th);
                return -ENOMEM;
        }
        pthread_mutex_init(&l->lock, NULL);
        pthread_barrier_init(&l->start, NULL, (unsigned)c->concurrency + 1);
        size_t started = 0;
        while (started < c->concurrency && pthread_create(&th[started], NULL, worker, l) == 0)
                started++;
        if (started < c->concurrency) {
                /* the started ones wait at the barrier for the rest: nothing to join */
                fprintf(stderr, "ember-attest-load: starting %zu threads failed after %zu\n", c->concurrency, started);
                exit(1);
        }
        uint64_t srv0 = proc_cpu_ns(c->server_pid), gen0 = self_cpu_ns();
        uint64_t t0 = now_ns(CLOCK_MONOTONIC);
        pthread_barrier_wait(&l->start);
        for (size_t i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        double wall = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
        uint64_t srv = c->server_pid ? proc_cpu_ns(c->server_pid) - srv0 : 0, gen = self_cpu_ns() - gen0;
        report(l, wall, srv, gen);
        r = atomic_load(&l->errors) ? -EPROTO : 0;
        pthread_barrier_destroy(&l->start);
        pthread_mutex_destroy(&l->lock);
        free(l->samples);
        free(l->ok);
        free(l);
        free(th);
        return r;
}

static struct node *nodes_load(const struct cfg *c, size_t n)
{
        struct node *nodes = calloc(n, sizeof(*nodes));
        char why[WHY];
        for (size_t i = 0; nodes && i < n; i++)
                if (node_load(c->dir, c->ek, i, &nodes[i], why) < 0) {
                        fprintf(stderr, "ember-attest-load: %s\n", why);
                        while (i-- > 0)
                                node_free(&nodes[i]);
                        free(nodes);
                        return NULL;
                }
        return nodes;
}

static void nodes_free(struct node *nodes, size_t n)
{
        for (size_t i = 0; nodes && i < n; i++)
                node_free(&nodes[i]);
        free(nodes);
}

/* ---- keys ------------------------------------------------------------------------ */

struct keygen {
        const struct cfg *cfg;
        atomic_size_t next, failed;
};

static void *keygen_worker(void *ud)
{
        struct keygen *k = ud;
        for (size_t i; (i = atomic_fetch_add(&k->next, 1)) < k->cfg->nodes;) {
                int r = node_make(k->cfg->dir, k->cfg->ek, i);
                if (r < 0) {
                        fprintf(stderr, "ember-attest-load: making node %zu in %s failed: %s\n", i, k->cfg->dir, strerror(-r));
                        atomic_fetch_add(&k->failed, 1);
                }
        }
        return NULL;
}

static int cmd_keys(const struct cfg *c)
{
        struct keygen k = { .cfg = c };
        size_t n = c->threads ? c->threads : (size_t)sysconf(_SC_NPROCESSORS_ONLN);
        pthread_t th[64];
        if (n > ELEMENTSOF(th))
                n = ELEMENTSOF(th);
        if (mkdir(c->dir, 0700) < 0 && errno != EEXIST)
                return fprintf(stderr, "ember-attest-load: mkdir %s: %m\n", c->dir), 1;
        uint64_t t0 = mono_us();
        size_t started = 0;
        while (started < n && pthread_create(&th[started], NULL, keygen_worker, &k) == 0)
                started++;
        if (started == 0)
                keygen_worker(&k);
        for (size_t i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        printf("pool %s: %zu %s nodes ready (%.1f s)\n", c->dir, c->nodes, ek_prefix(c->ek), (mono_us() - t0) / 1e6);
        return atomic_load(&k.failed) ? 1 : 0;
}

static int cmd_run(const struct cfg *c, bool tls_only)
{
        struct boot b = { 0 };
        struct node *nodes = NULL;
        if (!tls_only) {
                if (boot_load(c, &b) < 0)
                        return 1;
                if (!(nodes = nodes_load(c, c->nodes))) {
                        boot_free(&b);
                        return 1;
                }
        }
        int r = run_load(c, nodes, &b, tls_only);
        nodes_free(nodes, tls_only ? 0 : c->nodes);
        boot_free(&b);
        return r < 0 ? 1 : 0;
}

/* ---- main ---------------------------------------------------------------------------- */

static int number(const char *opt, const char *s, size_t min, size_t max, size_t *ret)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end || end == s || *s == '-' || v < min || v > max) {
                fprintf(stderr, "ember-attest-load: %s %s: expected %zu to %zu\n", opt, s, min, max);
                return -EINVAL;
        }
        *ret = (size_t)v;
        return 0;
}

static int parse_args(int argc, char **argv, struct cfg *c)
{
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },         { "nodes", required_argument, NULL, 'n' },
                { "ek", required_argument, NULL, 'e' },          { "threads", required_argument, NULL, 't' },
                { "url", required_argument, NULL, 'u' },         { "pin", required_argument, NULL, 'p' },
                { "event-log", required_argument, NULL, 'l' },   { "pcrs", required_argument, NULL, 'P' },
                { "concurrency", required_argument, NULL, 'c' }, { "count", required_argument, NULL, 'k' },
                { "first", required_argument, NULL, 'f' },       { "server-pid", required_argument, NULL, 's' },
                { "image", required_argument, NULL, 'i' },       { "db", required_argument, NULL, 'D' },
                { "sessions", required_argument, NULL, 'S' },    { "help", no_argument, NULL, 'h' },
                {},
        };
        size_t v;
        int o;
        while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                const char *name = NULL;
                size_t min = 1, max = 0, *dst = NULL;
                switch (o) {
                case 'd':
                        c->dir = optarg;
                        break;
                case 'u':
                        c->url = optarg;
                        break;
                case 'p':
                        c->pin = optarg;
                        break;
                case 'l':
                        c->event_log = optarg;
                        break;
                case 'P':
                        c->pcrs = optarg;
                        break;
                case 'i':
                        c->image = optarg;
                        break;
                case 'D':
                        c->db = optarg;
                        break;
                case 'n':
                        name = "--nodes", max = 100000, dst = &c->nodes;
                        break;
                case 't':
                        name = "--threads", max = 64, dst = &c->threads;
                        break;
                case 'c':
                        name = "--concurrency", max = 1024, dst = &c->concurrency;
                        break;
                case 'k':
                        name = "--count", max = 10000000, dst = &c->count;
                        break;
                case 'f':
                        name = "--first", min = 0, max = 10000000, dst = &c->first;
                        break;
                case 'S':
                        name = "--sessions", min = 0, max = 1000000, dst = &c->sessions;
                        break;
                case 's':
                        name = "--server-pid", max = 1u << 22, dst = &v;
                        break;
                case 'e':
                        if (!streq(optarg, "rsa") && !streq(optarg, "ecc"))
                                return fprintf(stderr, "ember-attest-load: --ek rsa or ecc, not %s\n", optarg), 2;
                        c->ek = streq(optarg, "rsa") ? EK_RSA : EK_ECC;
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        exit(0);
                default:
                        return 2;
                }
                if (dst && number(name, optarg, min, max, dst) < 0)
                        return 2;
                if (o == 's')
                        c->server_pid = (pid_t)v;
        }
        return 0;
}

static int missing(const char *cmd, const char *what)
{
        fprintf(stderr, "ember-attest-load %s: %s (try --help)\n", cmd, what);
        return 2;
}

int main(int argc, char **argv)
{
        struct cfg c = { .ek = EK_RSA, .concurrency = 1 };
        if (argc < 2)
                return missing("", "a subcommand is required");
        if (streq(argv[1], "--help") || streq(argv[1], "-h"))
                return fputs(usage_text, stdout), 0;
        const char *cmd = argv[1];
        int r = parse_args(argc - 1, argv + 1, &c);
        if (r)
                return r;
        if (optind != argc - 1)
                return missing(cmd, "unexpected arguments");
        bool keys = streq(cmd, "keys"), run = streq(cmd, "run"), tls = streq(cmd, "tls"), phases = streq(cmd, "phases");
        if (!keys && !run && !tls && !phases)
                return missing(cmd, "unknown subcommand");
        if ((keys || run || phases) && !c.dir)
                return missing(cmd, "--dir DIR is required");
        if ((keys || run) && !c.nodes)
                return missing(cmd, "--nodes N is required");
        if ((run || tls) && (!c.url || !c.pin || !c.count))
                return missing(cmd, "--url, --pin and --count are required");
        if ((run || phases) && (!c.event_log || !c.pcrs))
                return missing(cmd, "--event-log and --pcrs are required");
        if (phases && (!c.image || !c.db || !c.count))
                return missing(cmd, "--image, --db and --count are required");
        if (run && c.nodes < 2 * c.concurrency)
                return missing(cmd, "--nodes must be at least twice --concurrency (a node boots once at a time)");
        if (keys)
                return cmd_keys(&c);
        if (phases)
                return cmd_phases(&c);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return fputs("ember-attest-load: curl_global_init failed\n", stderr), 1;
        r = cmd_run(&c, tls);
        curl_global_cleanup();
        return r;
}
