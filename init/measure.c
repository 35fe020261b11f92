/* SPDX-License-Identifier: Apache-2.0 */
/* The measured start: see measure.h and docs/measured-start.md.
 *
 * Parse (the digest list), check (every file hashed and compared, nothing
 * unlisted beside them, the overlay's records agree) and only then act
 * (extend and log): a refused start leaves the PCR untouched. TSS2_RC codes
 * become -errno in one place, esys_fail(). */
#include "measure.h"

#include <dirent.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tcti_device.h>
#include <unistd.h>
#ifdef EMBER_HAVE_TCTILDR
#include <tss2/tss2_tctildr.h>
#endif

#include "fileio.h"
#include "hex.h"
#include "log.h"
#include "util.h"

#define HASH_CHUNK (64u << 10)
#define BANKS_MAX 8

static const char *const type_names[_MEASURE_TYPE_MAX] = {
        [MEASURE_RKE2_BINARY] = "rke2-binary",
        [MEASURE_RKE2_RUNTIME] = "rke2-runtime",
        [MEASURE_OVERLAY] = "overlay",
};

const char *measure_type_name(enum measure_type t)
{
        return t >= 0 && t < _MEASURE_TYPE_MAX ? type_names[t] : NULL;
}

static void to_hex(const uint8_t *d, size_t n, char *out)
{
        for (size_t i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
        out[2 * n] = '\0';
}

static int in_root(const char *root, const char *path, char *out, size_t len)
{
        bool plain = !root || !*root || streq(root, "/");
        return (size_t)snprintf(out, len, "%s%s", plain ? "" : root, path) >= len ? -ENAMETOOLONG : 0;
}

/* ---- hashing files ------------------------------------------------------ */

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
struct ember_open_how {
        uint64_t flags, mode, resolve;
};
#define EMBER_RESOLVE_NO_SYMLINKS 0x04
#define EMBER_RESOLVE_BENEATH 0x08

/* root+path with no symlink in any component (openat2), or, on kernels
 * before 5.6, O_NOFOLLOW on the last one. */
static int open_nofollow(const char *root, const char *path, int flags)
{
        const char *r0 = root && *root ? root : "/";
        _cleanup_close_ int rootfd = open(r0, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return negative_errno();
        struct ember_open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
                                      .resolve = EMBER_RESOLVE_NO_SYMLINKS | EMBER_RESOLVE_BENEATH };
        const char *rel = path;
        while (*rel == '/')
                rel++;
        long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
        if (fd < 0 && (errno == ENOSYS || errno == E2BIG))
                fd = openat(rootfd, rel, flags | O_CLOEXEC | O_NOFOLLOW);
        return fd < 0 ? negative_errno() : (int)fd;
}

int measure_hash_file(const char *root, const char *path, uint8_t out[32], const struct reason *w)
{
        _cleanup_close_ int fd = open_nofollow(root, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
        struct stat st;
        if (fd < 0 && fd == -ELOOP)
                return reason_fail(w, fd, "rke2: %s is a symlink or lies under one, not a file of the image", path);
        if (fd < 0 && fd == -ENOENT)
                return reason_fail(w, fd, "rke2: %s is missing: the image's golden digests list it", path);
        if (fd < 0)
                return reason_fail(w, fd, "rke2: opening %s failed: %s", path, strerror(-fd));
        if (fstat(fd, &st) < 0)
                return reason_fail(w, negative_errno(), "rke2: %s: %m", path);
        if (!S_ISREG(st.st_mode))
                return reason_fail(w, -EINVAL, "rke2: %s is not a regular file", path);
        _cleanup_free_ uint8_t *buf = malloc(HASH_CHUNK);
        if (!buf)
                return reason_fail(w, -ENOMEM, "out of memory");
        mbedtls_sha256_context c;
        mbedtls_sha256_init(&c);
        int r = mbedtls_sha256_starts_ret(&c, 0) == 0 ? 0 : -EIO;
        for (;;) {
                ssize_t n = r == 0 ? read(fd, buf, HASH_CHUNK) : 0;
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        r = negative_errno();
                if (n <= 0)
                        break;
                if (mbedtls_sha256_update_ret(&c, buf, (size_t)n) != 0)
                        r = -EIO;
        }
        if (r == 0 && mbedtls_sha256_finish_ret(&c, out) != 0)
                r = -EIO;
        mbedtls_sha256_free(&c);
        return r < 0 ? reason_fail(w, r, "rke2: reading %s failed: %s", path, strerror(-r)) : 0;
}

static bool listed(const struct measure_digests *d, const char *path)
{
        for (size_t i = 0; i < d->n; i++)
                if (streq(d->e[i].path, path))
                        return true;
        return false;
}

/* Nothing but listed files (and subdirectories) in dir. */
static int only_listed(const char *root, const char *dir, const struct measure_digests *d, const struct reason *w)
{
        int fd = open_nofollow(root, dir, O_RDONLY | O_DIRECTORY);
        if (fd < 0)
                return reason_fail(w, fd, "rke2: listing %s failed: %s", dir, strerror(-fd));
        DIR *dh = fdopendir(fd);
        if (!dh) {
                close(fd);
                return reason_fail(w, -ENOMEM, "rke2: listing %s failed: %m", dir);
        }
        int r = 0;
        for (struct dirent *de; r == 0 && (de = readdir(dh));) {
                char p[MEASURE_PATH_MAX + 300];
                struct stat st;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
                        continue;
                snprintf(p, sizeof(p), "%s/%s", streq(dir, "/") ? "" : dir, de->d_name);
                if (!listed(d, p)) {
                        char esc[300];
                        r = reason_fail(w, -EEXIST, "rke2: %s/%s is beside rke2's files but not in the image's golden "
                                        "digests: refusing to start with unmeasured inputs",
                                        streq(dir, "/") ? "" : dir, log_escape(de->d_name, esc, sizeof(esc)));
                }
        }
        closedir(dh);
        return r;
}

int measure_verify(const char *root, const struct measure_digests *d, const struct reason *w)
{
        for (size_t i = 0; i < d->n; i++) {
                uint8_t got[32];
                char eh[65], gh[65];
                int r = measure_hash_file(root, d->e[i].path, got, w);
                if (r < 0)
                        return r;
                if (memcmp(got, d->e[i].sha256, 32) != 0) {
                        to_hex(d->e[i].sha256, 32, eh);
                        to_hex(got, 32, gh);
                        return reason_fail(w, -EKEYREJECTED, "rke2: %s does not match the image's golden digest "
                                           "(expected %s, got %s)", d->e[i].path, eh, gh);
                }
        }
        for (size_t i = 0; i < d->n; i++) {
                char dir[MEASURE_PATH_MAX + 1];
                const char *slash = strrchr(d->e[i].path, '/');
                size_t n = (size_t)(slash - d->e[i].path);
                memcpy(dir, d->e[i].path, n);
                dir[n ? n : 1] = '\0';
                if (n == 0)
                        dir[0] = '/';
                bool seen = false; /* each directory once */
                for (size_t j = 0; j < i && !seen; j++)
                        seen = strncmp(d->e[j].path, dir, n) == 0 && d->e[j].path[n] == '/' && !strchr(d->e[j].path + n + 1, '/');
                int r = seen ? 0 : only_listed(root, dir, d, w);
                if (r < 0)
                        return r;
        }
        return 0;
}

int measure_digests_render(const char *root, char *const *paths, size_t n, char **ret, const struct reason *w)
{
        size_t cap = n * (64 + 2 + MEASURE_PATH_MAX + 1) + 1, off = 0;
        if (n == 0 || n > MEASURE_FILES_MAX)
                return reason_fail(w, -EINVAL, "between 1 and %u paths", MEASURE_FILES_MAX);
        _cleanup_free_ char *out = malloc(cap);
        if (!out)
                return reason_fail(w, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                uint8_t d[32];
                char hex[65];
                const char *why = measure_path_problem(paths[i], strlen(paths[i]));
                if (why)
                        return reason_fail(w, -EINVAL, "%s: %s", paths[i], why);
                int r = measure_hash_file(root, paths[i], d, w);
                if (r < 0)
                        return r;
                to_hex(d, 32, hex);
                off += (size_t)snprintf(out + off, cap - off, "%s  %s\n", hex, paths[i]);
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* ---- events ------------------------------------------------------------ */

int measure_event_bytes(const struct measure_event *ev, uint8_t *buf, size_t len)
{
        const char *type = measure_type_name(ev->type);
        if (!type)
                return -EINVAL;
        size_t nl = sizeof(MEASURE_EVENT_LABEL), nt = strlen(type) + 1, ns = strnlen(ev->subject, sizeof(ev->subject));
        if (ns == sizeof(ev->subject))
                return -EINVAL;
        ns++;
        if (len < nl + nt + ns + 32)
                return -ENOBUFS;
        memcpy(buf, MEASURE_EVENT_LABEL, nl);
        memcpy(buf + nl, type, nt);
        memcpy(buf + nl + nt, ev->subject, ns);
        memcpy(buf + nl + nt + ns, ev->sha256, 32);
        return (int)(nl + nt + ns + 32);
}

static int digest_size(uint16_t alg)
{
        switch (alg) {
        case TPM2_ALG_SHA1: return 20;
        case TPM2_ALG_SHA256: return 32;
        case TPM2_ALG_SHA384: return 48;
        case TPM2_ALG_SHA512: return 64;
        default: return -ENOTSUP;
        }
}

static const char *alg_name(uint16_t alg)
{
        switch (alg) {
        case TPM2_ALG_SHA1: return "sha1";
        case TPM2_ALG_SHA256: return "sha256";
        case TPM2_ALG_SHA384: return "sha384";
        case TPM2_ALG_SHA512: return "sha512";
        case TPM2_ALG_SM3_256: return "sm3_256";
        default: return "unknown";
        }
}

static int hash_alg(uint16_t alg, const uint8_t *in, size_t n, uint8_t *out)
{
        switch (alg) {
        case TPM2_ALG_SHA1: return mbedtls_sha1_ret(in, n, out) == 0 ? 20 : -EIO;
        case TPM2_ALG_SHA256: return mbedtls_sha256_ret(in, n, out, 0) == 0 ? 32 : -EIO;
        case TPM2_ALG_SHA384: return mbedtls_sha512_ret(in, n, out, 1) == 0 ? 48 : -EIO;
        case TPM2_ALG_SHA512: return mbedtls_sha512_ret(in, n, out, 0) == 0 ? 64 : -EIO;
        default: return -ENOTSUP;
        }
}

int measure_event_digest(const struct measure_event *ev, uint16_t alg, uint8_t *out, size_t outlen)
{
        uint8_t buf[sizeof(MEASURE_EVENT_LABEL) + 16 + MEASURE_PATH_MAX + 1 + 32];
        int ds = digest_size(alg);
        if (ds < 0)
                return ds;
        if (outlen < (size_t)ds)
                return -ENOBUFS;
        int n = measure_event_bytes(ev, buf, sizeof(buf));
        return n < 0 ? n : hash_alg(alg, buf, (size_t)n, out);
}

/* ---- the TPM ----------------------------------------------------------- */

struct measure_tpm {
        TSS2_TCTI_CONTEXT *tcti;
        bool loader; /* from Tss2_TctiLdr_Initialize */
        ESYS_CONTEXT *esys;
        uint16_t banks[BANKS_MAX];
        size_t nbanks;
};

static int esys_fail(const struct reason *w, const char *what, const char *func, TSS2_RC rc)
{
        return reason_fail(w, -EIO, "measure: %s: %s failed: %s (TSS2_RC 0x%08x)", what, func, Tss2_RC_Decode(rc),
                           (unsigned)rc);
}

#define ESYS(w, what, func, ...)                                                   \
        ({                                                                         \
                TSS2_RC _esys_rc = func(__VA_ARGS__);                              \
                _esys_rc == TSS2_RC_SUCCESS ? 0 : esys_fail(w, what, #func, _esys_rc); \
        })

void measure_tpm_close(struct measure_tpm *t)
{
        if (!t)
                return;
        if (t->esys)
                Esys_Finalize(&t->esys);
#ifdef EMBER_HAVE_TCTILDR
        if (t->loader)
                Tss2_TctiLdr_Finalize(&t->tcti);
#endif
        if (t->tcti) {
                Tss2_Tcti_Finalize(t->tcti);
                free(t->tcti);
        }
        free(t);
}

static int tcti_device(const char *dev, TSS2_TCTI_CONTEXT **ret, const struct reason *w)
{
        size_t size = 0;
        if (access(dev, R_OK | W_OK) < 0)
                return reason_fail(w, -ENODEV, "measure: no TPM 2.0 at %s: %m", dev);
        TSS2_RC rc = Tss2_Tcti_Device_Init(NULL, &size, dev);
        if (rc != TSS2_RC_SUCCESS)
                return esys_fail(w, "opening the TPM", "Tss2_Tcti_Device_Init", rc);
        TSS2_TCTI_CONTEXT *t = calloc(1, size);
        if (!t)
                return reason_fail(w, -ENOMEM, "out of memory");
        rc = Tss2_Tcti_Device_Init(t, &size, dev);
        if (rc != TSS2_RC_SUCCESS) {
                free(t);
                return esys_fail(w, "opening the TPM", "Tss2_Tcti_Device_Init", rc);
        }
        *ret = t;
        return 0;
}

/* Which banks have pcr allocated (TPM2_CAP_PCRS). */
static int read_banks(struct measure_tpm *t, unsigned pcr, const struct reason *w)
{
        TPMI_YES_NO more = 0;
        TPMS_CAPABILITY_DATA *cap = NULL;
        int r = ESYS(w, "reading the PCR banks", Esys_GetCapability, t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                     TPM2_CAP_PCRS, 0, 1, &more, &cap);
        if (r < 0)
                return r;
        const TPML_PCR_SELECTION *sel = &cap->data.assignedPCR;
        for (UINT32 i = 0; r == 0 && i < sel->count && i < TPM2_NUM_PCR_BANKS; i++) {
                const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
                if (pcr / 8 >= s->sizeofSelect || !(s->pcrSelect[pcr / 8] & (1u << (pcr % 8))))
                        continue;
                if (digest_size(s->hash) < 0)
                        r = reason_fail(w, -ENOTSUP, "measure: the TPM has a %s bank (0x%04x) allocated for PCR %u, "
                                        "which Ember cannot extend with the right digest", alg_name(s->hash), s->hash, pcr);
                else if (t->nbanks < BANKS_MAX)
                        t->banks[t->nbanks++] = s->hash;
        }
        Esys_Free(cap);
        if (r == 0 && t->nbanks == 0)
                r = reason_fail(w, -ENOTSUP, "measure: no PCR bank is allocated for PCR %u", pcr);
        bool sha256 = false;
        for (size_t i = 0; i < t->nbanks; i++)
                sha256 |= t->banks[i] == TPM2_ALG_SHA256;
        if (r == 0 && !sha256)
                r = reason_fail(w, -ENOTSUP, "measure: the TPM has no SHA-256 bank for PCR %u", pcr);
        return r;
}

int measure_tpm_open(const char *tcti, unsigned pcr, struct measure_tpm **ret, const struct reason *w)
{
        const char *conf = tcti ? tcti : MEASURE_TCTI_DEFAULT;
        const char *dev = startswith(conf, "device:");
        struct measure_tpm *t = calloc(1, sizeof(*t));
        int r = 0;
        if (!t)
                return reason_fail(w, -ENOMEM, "out of memory");
        if (pcr > 23)
                r = reason_fail(w, -EINVAL, "measure: PCR %u does not exist", pcr);
        else if (dev || conf[0] == '/')
                r = tcti_device(dev ? dev : conf, &t->tcti, w);
        else {
#ifdef EMBER_HAVE_TCTILDR
                TSS2_RC rc = Tss2_TctiLdr_Initialize(conf, &t->tcti);
                if (rc == TSS2_RC_SUCCESS)
                        t->loader = true;
                else
                        r = esys_fail(w, "opening the TPM", "Tss2_TctiLdr_Initialize", rc);
#else
                r = reason_fail(w, -ENOTSUP, "measure: TCTI %s: this /init has only the device TCTI (device:PATH)", conf);
#endif
        }
        if (r == 0)
                r = ESYS(w, "opening the TPM", Esys_Initialize, &t->esys, t->tcti, NULL);
        if (r == 0)
                r = read_banks(t, pcr, w);
        if (r < 0) {
                measure_tpm_close(t);
                return r;
        }
        *ret = t;
        return 0;
}

static int pcr_read_sha256(struct measure_tpm *t, unsigned pcr, uint8_t out[32], const struct reason *w)
{
        TPML_PCR_SELECTION sel = { .count = 1 };
        UINT32 counter;
        TPML_PCR_SELECTION *got = NULL;
        TPML_DIGEST *vals = NULL;
        sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
        sel.pcrSelections[0].sizeofSelect = 3;
        sel.pcrSelections[0].pcrSelect[pcr / 8] = (uint8_t)(1u << (pcr % 8));
        int r = ESYS(w, "reading the PCR", Esys_PCR_Read, t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel,
                     &counter, &got, &vals);
        if (r == 0 && (vals->count != 1 || vals->digests[0].size != 32))
                r = reason_fail(w, -EIO, "measure: the TPM returned no SHA-256 value for PCR %u", pcr);
        if (r == 0)
                memcpy(out, vals->digests[0].buffer, 32);
        Esys_Free(got);
        Esys_Free(vals);
        return r;
}

/* The log line: everything a verifier needs to recompute the event and
 * replay the SHA-256 PCR. */
static int log_append(const char *path, unsigned pcr, const struct measure_event *ev, const TPML_DIGEST_VALUES *dv,
                      const uint8_t after[32], const struct reason *w)
{
        char hex[129];
        const char *colon = strrchr(ev->subject, ':');
        if (ev->type == MEASURE_OVERLAY && !colon)
                return reason_fail(w, -EINVAL, "measure: an overlay event's subject is \"<id>:<serial>\"");
        json_object *o = json_object_new_object(), *dg = json_object_new_object();
        if (!o || !dg) {
                json_object_put(o);
                json_object_put(dg);
                return reason_fail(w, -ENOMEM, "out of memory");
        }
        json_object_object_add(o, "pcr", json_object_new_int((int)pcr));
        json_object_object_add(o, "type", json_object_new_string(measure_type_name(ev->type)));
        if (ev->type == MEASURE_OVERLAY) {
                json_object_object_add(o, "overlay", json_object_new_string_len(ev->subject, (int)(colon - ev->subject)));
                json_object_object_add(o, "serial", json_object_new_int64(strtoll(colon + 1, NULL, 10)));
        } else {
                json_object_object_add(o, "path", json_object_new_string(ev->subject));
        }
        json_object_object_add(o, "subject", json_object_new_string(ev->subject));
        to_hex(ev->sha256, 32, hex);
        json_object_object_add(o, "sha256", json_object_new_string(hex));
        for (UINT32 i = 0; i < dv->count; i++) {
                int ds = digest_size(dv->digests[i].hashAlg);
                to_hex((const uint8_t *)&dv->digests[i].digest, (size_t)ds, hex);
                json_object_object_add(dg, alg_name(dv->digests[i].hashAlg), json_object_new_string(hex));
                if (dv->digests[i].hashAlg == TPM2_ALG_SHA256)
                        json_object_object_add(o, "event_sha256", json_object_new_string(hex));
        }
        json_object_object_add(o, "digests", dg);
        to_hex(after, 32, hex);
        json_object_object_add(o, "pcr_sha256", json_object_new_string(hex));
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        _cleanup_free_ char *line = s ? strdup(s) : NULL;
        json_object_put(o);
        if (!line)
                return reason_fail(w, -ENOMEM, "out of memory");
        _cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        int r = fd < 0 ? negative_errno() : write_full(fd, line, strlen(line));
        if (r == 0)
                r = write_full(fd, "\n", 1);
        if (r == 0 && fsync(fd) < 0)
                r = negative_errno();
        return r < 0 ? reason_fail(w, r, "measure: appending to %s failed: %s", path, strerror(-r)) : 0;
}

int measure_extend(struct measure_tpm *t, unsigned pcr, const struct measure_event *ev, const char *log_path,
                   const struct reason *w)
{
        TPML_DIGEST_VALUES dv = { 0 };
        uint8_t before[32], after[32], expect[32], cat[64];
        int r;
        if (!t || pcr > 23 || measure_type_name(ev->type) == NULL)
                return -EINVAL;
        if (ev->type == MEASURE_OVERLAY && !strrchr(ev->subject, ':'))
                return reason_fail(w, -EINVAL, "measure: an overlay event's subject is \"<id>:<serial>\"");
        for (size_t i = 0; i < t->nbanks; i++) {
                dv.digests[dv.count].hashAlg = t->banks[i];
                r = measure_event_digest(ev, t->banks[i], (uint8_t *)&dv.digests[dv.count].digest,
                                         sizeof(dv.digests[dv.count].digest));
                if (r < 0)
                        return reason_fail(w, r, "measure: hashing the event for the %s bank failed", alg_name(t->banks[i]));
                if (t->banks[i] == TPM2_ALG_SHA256)
                        memcpy(cat + 32, &dv.digests[dv.count].digest, 32);
                dv.count++;
        }
        if ((r = pcr_read_sha256(t, pcr, before, w)) < 0)
                return r;
        r = ESYS(w, "extending the PCR", Esys_PCR_Extend, t->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                 ESYS_TR_NONE, &dv);
        if (r < 0)
                return r;
        if ((r = pcr_read_sha256(t, pcr, after, w)) < 0)
                return r;
        memcpy(cat, before, 32);
        mbedtls_sha256_ret(cat, sizeof(cat), expect, 0);
        if (memcmp(expect, after, 32) != 0)
                log_warn("measure", "PCR %u changed by someone else during the extend: the log will not replay, ignoring",
                         pcr);
        return log_append(log_path, pcr, ev, &dv, after, w);
}

/* ---- the stage --------------------------------------------------------- */

static int read_overlay_json(const char *path, bool applied, struct measure_overlay *ov, const struct reason *w)
{
        _cleanup_free_ char *text = NULL;
        size_t n = 0;
        int r = read_file_all(path, 65536, &text, &n);
        if (r < 0)
                return r == -ENOENT ? r : reason_fail(w, r, "measure: reading %s failed: %s", path, strerror(-r));
        json_object *o = json_tokener_parse(text), *ovj = o, *v;
        if (!applied && (!o || !json_object_object_get_ex(o, "overlay", &ovj))) {
                json_object_put(o);
                return -ENOENT;
        }
        const char *id = ovj && json_object_object_get_ex(ovj, "id", &v) && json_object_is_type(v, json_type_string)
                                 ? json_object_get_string(v) : NULL;
        const char *sha = ovj && json_object_object_get_ex(ovj, applied ? "digest" : "sha256", &v) &&
                                          json_object_is_type(v, json_type_string)
                                  ? json_object_get_string(v) : NULL;
        int64_t serial = ovj && json_object_object_get_ex(ovj, "serial", &v) && json_object_is_type(v, json_type_int)
                                 ? json_object_get_int64(v) : 0;
        r = 0;
        if (!id || strlen(id) >= sizeof(ov->id) || strchr(id, ':') || serial <= 0 || !sha ||
            hex_decode(sha, ov->sha256, 32) < 0)
                r = reason_fail(w, -EBADMSG, "measure: %s: the overlay's id, serial or digest is malformed", path);
        else {
                snprintf(ov->id, sizeof(ov->id), "%s", id);
                ov->serial = (uint64_t)serial;
        }
        json_object_put(o);
        return r;
}

/* The applied overlay, checked against what the attestation reply named. */
static int overlay_of(const struct measure_params *p, struct measure_overlay *ov, bool *have, const struct reason *w)
{
        char path[4096], rpath[4096];
        struct measure_overlay named;
        *have = false;
        if (p->overlay) {
                *ov = *p->overlay;
                *have = true;
                return 0;
        }
        if (p->overlay_applied)
                snprintf(path, sizeof(path), "%s", p->overlay_applied);
        else if (in_root(p->root, MEASURE_OVERLAY_APPLIED, path, sizeof(path)) < 0)
                return reason_fail(w, -ENAMETOOLONG, "root too long");
        int r = read_overlay_json(path, true, ov, w);
        if (r == -ENOENT)
                return p->require_overlay ? reason_fail(w, r, "measure: %s is missing: no applied overlay to measure",
                                                        path) : 0;
        if (r < 0)
                return r;
        *have = true;
        if (in_root(p->root, MEASURE_ATTEST_RESULT, rpath, sizeof(rpath)) < 0)
                return reason_fail(w, -ENAMETOOLONG, "root too long");
        r = read_overlay_json(rpath, false, &named, w);
        if (r == -ENOENT)
                return 0; /* a test root without an attestation */
        if (r < 0)
                return r;
        if (!streq(named.id, ov->id) || named.serial != ov->serial || memcmp(named.sha256, ov->sha256, 32) != 0)
                return reason_fail(w, -EKEYREJECTED, "measure: the applied overlay (%s serial %llu) is not the one the "
                                   "attestation reply named (%s serial %llu, or another digest)", ov->id,
                                   (unsigned long long)ov->serial, named.id, (unsigned long long)named.serial);
        return 0;
}

int measure_rke2(const struct measure_params *p, char *detail, size_t len)
{
        const struct reason w = { detail, len };
        char dpath[4096], lpath[4096], hex[65];
        _cleanup_free_ char *text = NULL;
        _cleanup_(measure_digests_free) struct measure_digests d = { 0 };
        struct measure_overlay ov;
        struct measure_tpm *t = NULL;
        unsigned pcr = p->pcr ? p->pcr : MEASURE_PCR;
        bool have_ov = false;
        size_t n = 0;
        char why[400];
        const struct reason ww = { why, sizeof(why) };

        if (p->digests)
                snprintf(dpath, sizeof(dpath), "%s", p->digests);
        else if (in_root(p->root, MEASURE_DIGESTS_PATH, dpath, sizeof(dpath)) < 0)
                return reason_fail(&w, -ENAMETOOLONG, "root too long");
        if (p->log_path)
                snprintf(lpath, sizeof(lpath), "%s", p->log_path);
        else if (in_root(p->root, MEASURE_LOG_PATH, lpath, sizeof(lpath)) < 0)
                return reason_fail(&w, -ENAMETOOLONG, "root too long");

        /* parse */
        int r = read_file_all(dpath, MEASURE_DIGESTS_MAX, &text, &n);
        if (r < 0)
                return reason_fail(&w, r, "rke2: reading the image's golden digests %s failed: %s", dpath,
                                   r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
        if ((r = measure_digests_parse(text, n, &d, &ww)) < 0)
                return reason_fail(&w, r, "rke2: %s: %s", dpath, why);
        /* check: nothing is extended unless everything checks out */
        if ((r = measure_verify(p->root, &d, &w)) < 0)
                return r;
        if ((r = overlay_of(p, &ov, &have_ov, &w)) < 0)
                return r;
        log_info("measure", "%zu rke2 files match the image's golden digests%s", d.n,
                 have_ov ? "; the applied overlay is the one attested" : "");
        if (p->no_tpm) {
                snprintf(detail, len, "%zu files verified (no TPM: nothing extended)", d.n);
                return 0;
        }
        /* act */
        if ((r = measure_tpm_open(p->tcti, pcr, &t, &w)) < 0)
                return r;
        for (size_t i = 0; r == 0 && i <= d.n; i++) {
                struct measure_event ev = { 0 };
                if (i == d.n) {
                        if (!have_ov)
                                break;
                        ev.type = MEASURE_OVERLAY;
                        snprintf(ev.subject, sizeof(ev.subject), "%s:%llu", ov.id, (unsigned long long)ov.serial);
                        memcpy(ev.sha256, ov.sha256, 32);
                } else {
                        ev.type = startswith(d.e[i].path, MEASURE_RUNTIME_DIR) ? MEASURE_RKE2_RUNTIME : MEASURE_RKE2_BINARY;
                        snprintf(ev.subject, sizeof(ev.subject), "%s", d.e[i].path);
                        memcpy(ev.sha256, d.e[i].sha256, 32);
                }
                r = measure_extend(t, pcr, &ev, lpath, &w);
                if (r == 0) {
                        to_hex(ev.sha256, 32, hex);
                        log_info("measure", "PCR %u extended: %s %s sha256 %s", pcr, measure_type_name(ev.type),
                                 ev.subject, hex);
                }
        }
        measure_tpm_close(t);
        if (r < 0)
                return r;
        snprintf(detail, len, "%zu rke2 files%s verified and extended into PCR %u (log %s)", d.n,
                 have_ov ? " and the overlay" : "", pcr, lpath);
        return 0;
}
