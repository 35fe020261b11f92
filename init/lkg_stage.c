/* SPDX-License-Identifier: Apache-2.0 */
/* The lkg stage: see lkg_stage.h and docs/lkg.md. */
#include "lkg_stage.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "esp.h"
#include "eventlog.h"
#include "fileio.h"
#include "lkg.h"
#include "log.h"
#include "manifest.h"
#include "reason.h"
#include "util.h"

#define SIGNERS_MAX (16u << 10)
#define CONNECT_TIMEOUT_S 10L
#define EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define ESP_CANDIDATES 8

#define OPT(o, field, dflt) ((o)->field ? (o)->field : (dflt))

/* ---- downloads ---- */

struct sink {
        int fd;          /* -1: into mem */
        char *mem;
        size_t len, cap; /* cap: the most bytes accepted */
        mbedtls_sha256_context sha;
        int err;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
        struct sink *s = ud;
        size_t n = size * nmemb;
        if (s->cap - s->len < n) {
                s->err = -EFBIG;
                return 0;
        }
        if (s->fd >= 0) {
                int r = write_full(s->fd, p, n);
                if (r < 0) {
                        s->err = r;
                        return 0;
                }
        } else {
                memcpy(s->mem + s->len, p, n);
        }
        mbedtls_sha256_update_ret(&s->sha, (const unsigned char *)p, n);
        s->len += n;
        return n;
}

static unsigned long long mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

/* GET base/name into s (at most s->cap bytes); sha256 of what arrived into
 * ret_sha. Transport failures are -ECONNABORTED-like errnos, so a caller can
 * tell an unreachable boot server from a bad release. */
static int fetch(const struct lkg_stage_opts *o, const char *name, struct sink *s, uint8_t ret_sha[32],
                 const struct reason *w)
{
        char url[1024];
        size_t blen = strlen(o->boot_url);
        bool slash = blen > 0 && o->boot_url[blen - 1] == '/';
        if ((size_t)snprintf(url, sizeof(url), "%s%s%s", o->boot_url, slash ? "" : "/", name) >= sizeof(url))
                return reason_fail(w, -ENAMETOOLONG, "the boot URL is too long");
        CURL *c = curl_easy_init();
        if (!c)
                return reason_fail(w, -ENOMEM, "curl_easy_init failed");
        long total = 0;
        if (o->deadline_ms) {
                unsigned long long now = mono_ms();
                if (now + 2000 >= o->deadline_ms) {
                        curl_easy_cleanup(c);
                        return reason_fail(w, -ETIMEDOUT, "GET %s: no time left", url);
                }
                total = (long)((o->deadline_ms - now) / 1000);
        }
        mbedtls_sha256_init(&s->sha);
        mbedtls_sha256_starts_ret(&s->sha, 0);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
        if (total > 0)
                curl_easy_setopt(c, CURLOPT_TIMEOUT, total);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(c, CURLOPT_PROXY, o->proxy ? o->proxy : "");
        CURLcode cc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        mbedtls_sha256_finish_ret(&s->sha, ret_sha);
        mbedtls_sha256_free(&s->sha);
        if (s->err == -EFBIG)
                return reason_fail(w, -EFBIG, "GET %s: more than the %zu bytes expected", url, s->cap);
        if (s->err < 0)
                return reason_fail(w, s->err, "GET %s: keeping the download failed: %s", url, strerror(-s->err));
        if (cc != CURLE_OK)
                return reason_fail(w, -ECONNABORTED, "GET %s: %s (curl error %d)", url, curl_easy_strerror(cc), (int)cc);
        if (status != 200)
                return reason_fail(w, status >= 500 ? -ECONNABORTED : -ENOENT, "GET %s: HTTP %ld", url, status);
        return 0;
}

static int fetch_mem(const struct lkg_stage_opts *o, const char *name, size_t cap, char **ret, size_t *ret_len,
                     const struct reason *w)
{
        uint8_t sha[32];
        struct sink s = { .fd = -1, .cap = cap, .mem = malloc(cap) };
        if (!s.mem)
                return reason_fail(w, -ENOMEM, "out of memory");
        int r = fetch(o, name, &s, sha, w);
        if (r < 0) {
                free(s.mem);
                return r;
        }
        *ret = s.mem;
        *ret_len = s.len;
        return 0;
}

/* The release file into work_dir/name, exactly as the manifest describes it. */
static int fetch_file(const struct lkg_stage_opts *o, const struct release_file *f, int *ret_fd,
                      const struct reason *w)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", OPT(o, work_dir, LKG_WORK_DIR), f->name);
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return reason_fail(w, negative_errno(), "creating %s: %m", path);
        uint8_t sha[32];
        struct sink s = { .fd = fd, .cap = f->size };
        int r = fetch(o, f->name, &s, sha, w);
        if (r < 0)
                return r;
        if (s.len != f->size)
                return reason_fail(w, -EBADMSG, "%s: %zu bytes arrived, the release says %" PRIu64, f->name, s.len,
                                   f->size);
        if (memcmp(sha, f->sha256, 32) != 0)
                return reason_fail(w, -EBADMSG, "%s: sha256 %02x%02x%02x%02x… is not the release's", f->name, sha[0],
                                   sha[1], sha[2], sha[3]);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* ---- what booted, by the TPM event log ---- */

static bool logged(const struct evlog *log, int slot, uint32_t pcr, bool app_only, const uint8_t digest[32])
{
        for (size_t i = 1; i < log->n_events; i++) {
                const struct evlog_event *e = &log->events[i];
                if (e->pcr != pcr || !e->digest[slot] || (app_only && e->type != EV_EFI_BOOT_SERVICES_APPLICATION))
                        continue;
                if (memcmp(e->digest[slot], digest, 32) == 0)
                        return true;
        }
        return false;
}

/* The kernel's Authenticode digest among PCR 4's EFI applications, the
 * initrd's sha256 among PCR 9's events: what the firmware and the kernel
 * recorded as they loaded them. */
static int check_booted(const struct lkg_stage_opts *o, const struct release_manifest *m, const struct reason *w)
{
        const struct release_file *k = manifest_file(m, "vmlinuz"), *i = manifest_file(m, "initrd");
        _cleanup_free_ char *bytes = NULL;
        size_t n = 0;
        const char *path = OPT(o, eventlog, LKG_EVENTLOG_PATH);
        int r = read_file_all(path, EVLOG_MAX_BYTES, &bytes, &n);
        if (r < 0)
                return reason_fail(w, r, "cannot tell what booted: reading the TPM event log %s: %s", path, strerror(-r));
        char why[200] = "";
        _cleanup_evlog_ struct evlog *log = NULL;
        if ((r = evlog_parse(bytes, n, &log, why, sizeof(why))) < 0)
                return reason_fail(w, r, "cannot tell what booted: the TPM event log: %s", why);
        int slot = evlog_bank_slot(log, EVLOG_ALG_SHA256);
        if (slot < 0)
                return reason_fail(w, -ENOENT, "cannot tell what booted: the TPM event log has no sha256 bank");
        if (!k->has_authenticode || !logged(log, slot, 4, true, k->authenticode))
                return reason_fail(w, -EMEDIUMTYPE, "release %s's kernel is not the kernel that booted (not in PCR 4)",
                                   m->version);
        if (!logged(log, slot, 9, false, i->sha256))
                return reason_fail(w, -EMEDIUMTYPE,
                                   "release %s's initrd is not the initrd that booted (not in PCR 9; an unmeasured "
                                   "initrd= boot cannot become an LKG)",
                                   m->version);
        return 0;
}

/* ---- the release ---- */

static int get_release(const struct lkg_stage_opts *o, struct release_manifest *m, const struct reason *w)
{
        _cleanup_free_ char *pem = NULL, *json = NULL, *sig = NULL;
        size_t pemlen = 0, jlen = 0, slen = 0;
        const char *signers = OPT(o, signers, LKG_SIGNERS_PATH);
        int r = read_file_all(signers, SIGNERS_MAX, &pem, &pemlen);
        if (r == -ENOENT)
                return reason_fail(w, LKG_STAGE_SKIPPED, "the image pins no release signer (%s): nothing can prove what "
                                   "booted", signers);
        if (r < 0)
                return reason_fail(w, r, "reading %s: %s", signers, strerror(-r));
        if ((r = fetch_mem(o, "release.json", MANIFEST_JSON_MAX, &json, &jlen, w)) < 0 ||
            (r = fetch_mem(o, "release.json.sig", MANIFEST_SIG_MAX + 1, &sig, &slen, w)) < 0)
                return r;
        char why[256] = "";
        if ((r = manifest_open((const uint8_t *)json, jlen, (const uint8_t *)sig, slen, pem, pemlen, m, why,
                               sizeof(why))) < 0)
                return reason_fail(w, r, "the release manifest at %s: %s", o->boot_url, why);
        return 0;
}

/* ---- the ESP ---- */

/* The first ESP the node may write to, mounted; *ret_dirfd its root. */
static int mount_esp(const struct lkg_stage_opts *o, const char *partuuid, int *ret_dirfd, const struct reason *w)
{
        struct esp_cand c[ESP_CANDIDATES];
        size_t n = 0;
        char why[256] = "", refusals[512] = "";
        int r = esp_find(OPT(o, sysfs_block, "/sys/class/block"), OPT(o, dev_dir, "/dev"), partuuid, c,
                         ELEMENTSOF(c), &n, why, sizeof(why));
        if (r < 0)
                return reason_fail(w, r, "looking for an ESP: %s", why);
        if (n == 0)
                return reason_fail(w, LKG_STAGE_SKIPPED, "no EFI System Partition on any disk%s%s", why[0] ? ": " : "",
                                   why);
        const char *mp = OPT(o, mountpoint, LKG_ESP_MOUNT);
        (void)mkdir(mp, 0700);
        for (size_t i = 0; i < n; i++) {
                why[0] = '\0';
                r = esp_mount(&c[i], mp, ret_dirfd, why, sizeof(why));
                if (r == 0) {
                        log_info("lkg", "ESP %s%s mounted", c[i].dev, c[i].booted ? " (booted from)" : "");
                        return 0;
                }
                size_t off = strlen(refusals);
                snprintf(refusals + off, sizeof(refusals) - off, "%s%s: %s", off ? "; " : "", c[i].dev, why);
        }
        return reason_fail(w, LKG_STAGE_SKIPPED, "no ESP this node may write to: %s", refusals);
}

/* The command line for the entry's options: what the kernel booted with,
 * without a loader's "initrd=…" (systemd-boot adds its own). */
static void entry_options(const char *cmdline, char *out, size_t len)
{
        size_t o = 0;
        const char *p = cmdline;
        out[0] = '\0';
        while (*p) {
                while (*p == ' ' || *p == '\n' || *p == '\t')
                        p++;
                const char *e = p;
                while (*e && *e != ' ' && *e != '\n' && *e != '\t')
                        e++;
                if (e > p && !startswith(p, "initrd=") && o + (size_t)(e - p) + 2 < len) {
                        o += (size_t)snprintf(out + o, len - o, "%s%.*s", o ? " " : "", (int)(e - p), p);
                }
                p = e;
        }
}

static int commit(const struct lkg_stage_opts *o, char *detail, size_t len)
{
        const struct reason w = { detail, len };
        struct release_manifest m;
        int r = get_release(o, &m, &w);
        if (r != 0)
                return r;
        log_info("lkg", "release %s: signed manifest checked", m.version);
        const struct release_file *k = manifest_file(&m, "vmlinuz"), *i = manifest_file(&m, "initrd");
        if (!k || !i)
                return reason_fail(&w, -EBADMSG, "release %s names no vmlinuz or no initrd", m.version);
        if ((r = check_booted(o, &m, &w)) < 0)
                return r;
        log_info("lkg", "release %s is what booted (kernel in PCR 4, initrd in PCR 9)", m.version);

        const char *wd = OPT(o, work_dir, LKG_WORK_DIR);
        if (mkdir(wd, 0700) < 0 && errno != EEXIST)
                return reason_fail(&w, negative_errno(), "creating %s: %m", wd);
        _cleanup_close_ int kfd = -1, ifd = -1;
        if ((r = fetch_file(o, k, &kfd, &w)) < 0 || (r = fetch_file(o, i, &ifd, &w)) < 0)
                return r;
        log_info("lkg", "kernel (%" PRIu64 " bytes) and initrd (%" PRIu64 " bytes) fetched again and checked", k->size,
                 i->size);

        int espfd = -1;
        if ((r = mount_esp(o, NULL, &espfd, &w)) != 0)
                return r;
        char options[4096];
        entry_options(o->cmdline ? o->cmdline : "", options, sizeof(options));
        struct lkg_artifacts a = { .version = m.version, .options = options,
                                   .kernel = { .fd = kfd }, .initrd = { .fd = ifd } };
        memcpy(a.kernel.sha256, k->sha256, 32);
        memcpy(a.initrd.sha256, i->sha256, 32);
        struct lkg_result res;
        char why[320] = "";
        const struct reason cw = { why, sizeof(why) };
        r = lkg_commit(espfd, &a, NULL, &res, &cw);
        esp_umount(OPT(o, mountpoint, LKG_ESP_MOUNT), espfd);
        if (r < 0)
                return reason_fail(&w, r, "committing release %s: %s", m.version, why);
        if (res.warning[0])
                log_warn("lkg", "%s, ignoring", res.warning);
        if (res.outcome != LKG_WRITTEN)
                return snprintf(detail, len, "unchanged: release %s already is on the ESP as %s", m.version, res.entry), 0;
        snprintf(detail, len, "committed release %s as %s%s%s%s%s", m.version, res.entry,
                 res.previous[0] ? ", previous LKG " : "", res.previous, res.removed ? ", older removed" : "",
                 res.loader_conf_written ? ", loader.conf written" : "");
        return 0;
}

static int bless(const struct lkg_stage_opts *o, char *detail, size_t len)
{
        const struct reason w = { detail, len };
        int espfd = -1;
        int r = mount_esp(o, o->partuuid, &espfd, &w);
        if (r != 0)
                return r;
        char entry[LKG_ENTRY_NAME_MAX] = "", why[320] = "";
        const struct reason bw = { why, sizeof(why) };
        r = lkg_bless(espfd, o->booted_entry, entry, &bw);
        esp_umount(OPT(o, mountpoint, LKG_ESP_MOUNT), espfd);
        if (r < 0)
                return reason_fail(&w, r, "blessing %s: %s", o->booted_entry, why);
        if (r == 0)
                return snprintf(detail, len, "unchanged: booted %s, already blessed", entry[0] ? entry : o->booted_entry), 0;
        snprintf(detail, len, "blessed %s (booted as %s): it reached Ready", entry, o->booted_entry);
        return 0;
}

int lkg_stage_run(const struct lkg_stage_opts *o, char *detail, size_t len)
{
        const struct reason w = { detail, len };
        struct lkg_entry_name n;
        if (access("/sys/firmware/efi", F_OK) < 0)
                return reason_fail(&w, LKG_STAGE_SKIPPED, "not booted through UEFI: no ESP to keep an LKG on");
        if (o->booted_entry && lkg_entry_name_parse(o->booted_entry, &n, NULL) == 0)
                return bless(o, detail, len);
        if (!o->boot_url)
                return reason_fail(&w, LKG_STAGE_SKIPPED, "no ember.boot_url: nothing to fetch again");
        return commit(o, detail, len);
}

int lkg_stage_uncount(const struct lkg_stage_opts *o, char *detail, size_t len)
{
        const struct reason w = { detail, len };
        int espfd = -1;
        int r = mount_esp(o, o->partuuid, &espfd, &w);
        if (r != 0)
                return r < 0 ? r : 0;
        char entry[LKG_ENTRY_NAME_MAX] = "", why[320] = "";
        const struct reason uw = { why, sizeof(why) };
        r = lkg_uncount(espfd, o->booted_entry, entry, &uw);
        esp_umount(OPT(o, mountpoint, LKG_ESP_MOUNT), espfd);
        if (r < 0)
                return reason_fail(&w, r, "giving back the try of %s: %s", o->booted_entry, why);
        if (r > 0)
                snprintf(detail, len, "the try systemd-boot counted was given back: %s", entry);
        else
                snprintf(detail, len, "no try was counted for %s", o->booted_entry);
        return r;
}

const char *lkg_stage_outcome_word(const char *detail)
{
        static const char *const words[] = { "committed", "unchanged", "blessed" };
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (startswith(detail, words[i]))
                        return words[i];
        return "none";
}
