/* SPDX-License-Identifier: Apache-2.0 */
#include "overlay_stage.h"

#include <errno.h>
#include <json-c/json.h>
#include <mbedtls/pk.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "attest_stage.h"
#include "fileio.h"
#include "hex.h"
#include "log.h"
#include "open.h"
#include "reason.h"
#include "util.h"

#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 16000
#define PROGRESS_MIN (1u << 20) /* smaller blobs are not worth a progress line */

static unsigned long long mono_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

static int path_in(const char *dir, const char *name, char *out, size_t len)
{
        return (size_t)snprintf(out, len, "%s/%s", dir, name) >= len ? -ENAMETOOLONG : 0;
}

/* What the attest stage left: the overlay the reply named, the credential,
 * E and the unwrapped data key. */
static int load_attestation(const char *dir, struct attest_result *res, const struct reason *w)
{
        char path[512];
        _cleanup_free_ char *text = NULL, *cred = NULL, *key = NULL;
        size_t len = 0;
        json_object *o = NULL, *ov, *v;
        int k = path_in(dir, "result.json", path, sizeof(path));
        if (k == 0 && (k = read_file_all(path, 65536, &text, &len)) < 0)
                return reason_fail(w, k, "reading %s: %s (did the attest stage run?)", path, strerror(-k));
        o = json_tokener_parse(text);
        if (!o || !json_object_object_get_ex(o, "overlay", &ov)) {
                json_object_put(o);
                return reason_fail(w, -ENOENT, "the attestation server assigned no overlay to this machine "
                                   "(emberctl overlay assign)");
        }
        const char *id = json_object_object_get_ex(ov, "id", &v) ? json_object_get_string(v) : NULL;
        const char *sha = json_object_object_get_ex(ov, "sha256", &v) ? json_object_get_string(v) : NULL;
        const char *url = json_object_object_get_ex(ov, "url", &v) ? json_object_get_string(v) : NULL;
        int64_t serial = json_object_object_get_ex(ov, "serial", &v) ? json_object_get_int64(v) : 0;
        int64_t size = json_object_object_get_ex(ov, "size", &v) ? json_object_get_int64(v) : 0;
        if (!id || strlen(id) >= sizeof(res->overlay.id) || !url || strlen(url) >= sizeof(res->overlay.url) ||
            serial <= 0 || size <= 0 || hex_decode(sha, res->overlay.sha256, sizeof(res->overlay.sha256)) < 0)
                k = reason_fail(w, -EBADMSG, "%s: its overlay is malformed", path);
        if (k == 0) {
                snprintf(res->overlay.id, sizeof(res->overlay.id), "%s", id);
                snprintf(res->overlay.url, sizeof(res->overlay.url), "%s", url);
                res->overlay.serial = (uint64_t)serial;
                res->overlay.size = (uint64_t)size;
        }
        json_object_put(o);
        if (k < 0)
                return k;

        if ((k = path_in(dir, "credential", path, sizeof(path))) == 0 && (k = read_file_all(path, 8192, &cred, &len)) < 0)
                return reason_fail(w, k, "reading %s: %s", path, strerror(-k));
        if ((k = path_in(dir, "overlay.key", path, sizeof(path))) == 0 && (k = read_file_all(path, 64, &key, &len)) < 0)
                return reason_fail(w, k, "reading %s: %s", path, strerror(-k));
        if (len != sizeof(res->overlay.key))
                return reason_fail(w, -EBADMSG, "%s holds %zu bytes, not a data key", path, len);
        memcpy(res->overlay.key, key, len);
        explicit_bzero(key, len);
        if ((k = path_in(dir, "e.key", path, sizeof(path))) < 0 || mbedtls_pk_parse_keyfile(&res->e, path, NULL) != 0)
                return reason_fail(w, -EBADMSG, "reading E from %s failed", path);
        res->credential = TAKE_PTR(cred);
        res->overlay.present = true;
        return 0;
}

struct feed {
        struct overlay_open *op;
        uint64_t got, total, next_report;
};

static int feed_bytes(void *ud, const void *p, size_t n)
{
        struct feed *f = ud;
        int k = overlay_open_feed(f->op, p, n);
        if (k < 0)
                return k;
        f->got += n;
        if (f->total >= PROGRESS_MIN && f->got >= f->next_report) {
                log_info("overlay", "%.1f of %.1f MiB verified and extracted", (double)f->got / 1048576.0,
                         (double)f->total / 1048576.0);
                f->next_report += f->total / 10;
        }
        return 0;
}

/* One whole attempt: a fresh opener (and staging directory) fed from a
 * fresh download. */
static int attempt(const struct overlay_stage_opts *o, const struct attest_client_config *cc,
                   const struct attest_result *res, const struct overlay_signers *signers, const char *staging,
                   const struct reason *w)
{
        struct overlay_open_config cfg;
        _cleanup_overlay_open_ struct overlay_open *op = NULL;
        char why[400] = "";
        overlay_open_config_default(&cfg);
        cfg.signers = signers;
        cfg.data_key = res->overlay.key;
        cfg.expect_id = cfg.expect_serial = cfg.expect_digest = true;
        cfg.serial = res->overlay.serial;
        memcpy(cfg.ct_sha256, res->overlay.sha256, sizeof(cfg.ct_sha256));
        cfg.staging = staging;
        int k = overlay_id_parse(res->overlay.id, cfg.id);
        if (k < 0)
                return reason_fail(w, -EBADMSG, "overlay id %s is not a UUID", res->overlay.id);
        (void)overlay_remove_tree(staging); /* a previous attempt's, or a previous boot's */
        k = overlay_open_new(&cfg, &op, why, sizeof(why));
        if (k < 0)
                return reason_fail(w, k, "%s", why);
        struct feed f = { .op = op, .total = res->overlay.size, .next_report = res->overlay.size / 10 };
        unsigned long long left = o->deadline_ms > mono_now_ms() + 1000 ? o->deadline_ms - mono_now_ms() : 1000;
        k = attest_fetch_overlay(cc, res, feed_bytes, &f, (unsigned)(left < 600000 ? left : 600000), why, sizeof(why));
        if (k == 0)
                k = overlay_open_finish(op);
        if (k < 0) {
                const char *oe = overlay_open_error(op);
                /* the opener's own reason when it refused; else the transfer's */
                return reason_fail(w, k, "%s", oe && *oe ? oe : why);
        }
        log_info("overlay", "verified: signed by a pinned signer, overlay %s serial %llu, %u entries",
                 res->overlay.id, (unsigned long long)res->overlay.serial, overlay_open_entries(op));
        return (int)overlay_open_entries(op);
}

/* applied.json, atomically, after the commit. */
static int write_applied(const char *path, const char *id, uint64_t serial, const uint8_t sha256[32], int entries,
                         uint64_t bytes)
{
        char hex[65], dir[512];
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", sha256[i]);
        const char *slash = strrchr(path, '/');
        if (!slash || (size_t)(slash - path) >= sizeof(dir))
                return -EINVAL;
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
        if (dir[0] && mkdir(dir, 0755) < 0 && errno != EEXIST)
                return negative_errno();
        json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "id", json_object_new_string(id));
        json_object_object_add(o, "serial", json_object_new_int64((int64_t)serial));
        json_object_object_add(o, "digest", json_object_new_string(hex));
        json_object_object_add(o, "entries", json_object_new_int(entries));
        json_object_object_add(o, "bytes", json_object_new_int64((int64_t)bytes));
        const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        int k = t ? write_file_atomic(path, t, strlen(t), 0644) : -ENOMEM;
        json_object_put(o);
        return k;
}

int overlay_stage_run(const struct overlay_stage_opts *o, char *detail, size_t len)
{
        const struct reason w = { detail, len };
        const char *dir = o->attest_dir ? o->attest_dir : ATTEST_STATE_DIR;
        const char *staging = o->staging ? o->staging : OVERLAY_STAGING_PATH;
        const char *root = o->root ? o->root : "/";
        const char *signers_path = o->signers ? o->signers : OVERLAY_SIGNERS_PATH;
        struct attest_result res = { 0 };
        _cleanup_overlay_signers_ struct overlay_signers *signers = NULL;
        _cleanup_free_ char *pins = NULL;
        const char *ca = NULL;
        char why[400];
        const struct reason ww = { why, sizeof(why) };

        if (overlay_signers_load(signers_path, &signers, &ww) < 0)
                return reason_fail(&w, -ENOKEY, "the image pins no overlay signer: %s (add them with `emberctl image "
                                   "site --overlay-signer`)", why);
        int k = attest_server_trust(o->pins_path, o->ca_path, &pins, &ca, &w);
        if (k < 0)
                return k;
        mbedtls_pk_init(&res.e);
        k = load_attestation(dir, &res, &w);
        if (k < 0) {
                attest_result_free(&res);
                return k;
        }
        struct attest_client_config cc = { .url = o->attest_url, .pins = pins, .ca_file = ca, .proxy = o->proxy };
        log_info("overlay", "fetching overlay %s serial %llu (%llu bytes) from %s", res.overlay.id,
                 (unsigned long long)res.overlay.serial, (unsigned long long)res.overlay.size,
                 res.overlay.url[0] ? res.overlay.url : "the attestation server");
        unsigned delay = RETRY_FIRST_MS;
        for (unsigned n = 1;; n++) {
                k = attempt(o, &cc, &res, signers, staging, &w);
                if (k >= 0 || !attest_error_retryable(k))
                        break;
                uint32_t jitter = 0;
                (void)getrandom_full(&jitter, sizeof(jitter));
                unsigned wait = delay / 2 + jitter % (delay / 2 + 1);
                if (o->deadline_ms && mono_now_ms() + wait + 5000 >= o->deadline_ms)
                        break;
                log_warn("overlay", "attempt %u: %s; trying again in %u.%u s", n, detail, wait / 1000, wait % 1000 / 100);
                struct timespec ts = { wait / 1000, (long)(wait % 1000) * 1000000L };
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
                delay = delay * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : delay * 2;
        }
        char id[ATTEST_ID_LEN];
        uint64_t serial = res.overlay.serial, size = res.overlay.size;
        uint8_t digest[32];
        memcpy(digest, res.overlay.sha256, sizeof(digest));
        snprintf(id, sizeof(id), "%s", res.overlay.id);
        attest_result_free(&res);
        if (k < 0)
                return k;
        int entries = k;
        k = overlay_commit(staging, root, why, sizeof(why));
        if (k < 0)
                return reason_fail(&w, strstr(why, "partly changed") ? -ENOTRECOVERABLE : k, "%s", why);
        const char *applied = o->applied ? o->applied : streq(root, "/") ? OVERLAY_APPLIED_PATH : NULL;
        if (applied && (k = write_applied(applied, id, serial, digest, entries, size)) < 0)
                return reason_fail(&w, k, "overlay %s serial %llu applied, but recording it in %s failed: %s", id,
                                   (unsigned long long)serial, applied, strerror(-k));
        snprintf(detail, len, "overlay %s serial %llu applied: %d entries, %llu bytes", id, (unsigned long long)serial,
                 entries, (unsigned long long)size);
        return 0;
}
