/* SPDX-License-Identifier: Apache-2.0 */
/* The signed release manifest (manifest.h, docs/release-manifest.md):
 * meaning, parser, writer, pinned signers, signature, file check. */
#include "manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "authenticode.h"
#include "hex.h"
#include "lkg.h"
#include "mbed.h"
#include "reason.h"
#include "util.h"

#define JSON_DEPTH 4 /* object, files array, file object */
#define PEM_BEGIN "-----BEGIN "
#define PEM_PUB_LABEL "PUBLIC KEY-----"
#define PEM_PUB_END "-----END PUBLIC KEY-----"
/* the longest line manifest_format writes for one file, and for the rest */
#define FORMAT_FILE_MAX (MANIFEST_NAME_MAX + 2 * 64 + 128)
#define FORMAT_MAX (MANIFEST_VERSION_MAX + 128 + MANIFEST_FILES_MAX * FORMAT_FILE_MAX)

_Static_assert(MANIFEST_VERSION_MAX == LKG_VERSION_MAX, "a release version is an LKG version");
_Static_assert(FORMAT_MAX <= MANIFEST_JSON_MAX, "what manifest_format writes, manifest_parse reads");

/* ---- meaning ---- */

static bool name_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
}

static int name_check(const char *name, const struct reason *w)
{
        size_t n = strnlen(name, MANIFEST_NAME_MAX + 1);
        if (n == 0)
                return reason_fail(w, -EINVAL, "empty file name");
        if (n > MANIFEST_NAME_MAX)
                return reason_fail(w, -EINVAL, "file name longer than %d bytes", MANIFEST_NAME_MAX);
        if (name[0] == '.')
                return reason_fail(w, -EINVAL, "file name %s starts with a dot", name);
        for (size_t i = 0; i < n; i++)
                if (!name_char(name[i]))
                        return reason_fail(w, -EINVAL, "byte 0x%02x at offset %zu not allowed in a file name",
                                           (unsigned char)name[i], i);
        return 0;
}

int manifest_name_check(const char *name, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        if (!name)
                return -EINVAL;
        return name_check(name, &w);
}

int manifest_check(const struct release_manifest *m, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        char vwhy[160];
        const struct reason vw = { vwhy, sizeof(vwhy) };
        if (!m)
                return -EINVAL;
        if (strnlen(m->version, sizeof(m->version)) == sizeof(m->version))
                return reason_fail(&w, -EINVAL, "version: longer than %d bytes", MANIFEST_VERSION_MAX);
        if (lkg_version_check(m->version, &vw) < 0)
                return reason_fail(&w, -EINVAL, "version: %s", vwhy);
        if (m->created < 0 || m->created > MANIFEST_CREATED_MAX)
                return reason_fail(&w, -EINVAL, "created %" PRId64 " is not a time from 1970 to 9999", m->created);
        if (m->n_files == 0 || m->n_files > MANIFEST_FILES_MAX)
                return reason_fail(&w, -EINVAL, "%zu files: a release has 1 to %d", m->n_files, MANIFEST_FILES_MAX);
        for (size_t i = 0; i < m->n_files; i++) {
                const struct release_file *f = &m->files[i];
                if (strnlen(f->name, sizeof(f->name)) == sizeof(f->name))
                        return reason_fail(&w, -EINVAL, "file %zu: file name longer than %d bytes", i + 1,
                                           MANIFEST_NAME_MAX);
                if (name_check(f->name, &vw) < 0)
                        return reason_fail(&w, -EINVAL, "file %zu: %s", i + 1, vwhy);
                for (size_t j = 0; j < i; j++)
                        if (strcasecmp(m->files[j].name, f->name) == 0)
                                return reason_fail(&w, -EINVAL, "file %zu: %s named twice (names ignore case)", i + 1,
                                                   f->name);
                if (f->size == 0 || f->size > MANIFEST_SIZE_MAX)
                        return reason_fail(&w, -EINVAL, "file %s: size %" PRIu64 " not in 1..%" PRIu64, f->name,
                                           f->size, MANIFEST_SIZE_MAX);
        }
        const struct release_file *k = manifest_file(m, "vmlinuz");
        if (!k)
                return reason_fail(&w, -EINVAL, "no file named vmlinuz (the kernel)");
        if (!k->has_authenticode)
                return reason_fail(&w, -EINVAL, "vmlinuz has no authenticode digest");
        if (!manifest_file(m, "initrd"))
                return reason_fail(&w, -EINVAL, "no file named initrd");
        return 0;
}

const struct release_file *manifest_file(const struct release_manifest *m, const char *name)
{
        if (!m || !name)
                return NULL;
        for (size_t i = 0; i < m->n_files && i < MANIFEST_FILES_MAX; i++)
                if (strncmp(m->files[i].name, name, sizeof(m->files[i].name)) == 0)
                        return &m->files[i];
        return NULL;
}

/* ---- writer ---- */

static void hex32(const uint8_t d[32], char out[65])
{
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < 32; i++) {
                out[2 * i] = digits[d[i] >> 4];
                out[2 * i + 1] = digits[d[i] & 15];
        }
        out[64] = '\0';
}

/* Appends to buf (size FORMAT_MAX); -ENOBUFS when it would not fit. */
static int put(char *buf, size_t *off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int put(char *buf, size_t *off, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(buf + *off, FORMAT_MAX - *off, fmt, ap);
        va_end(ap);
        if (k < 0 || (size_t)k >= FORMAT_MAX - *off)
                return -ENOBUFS;
        *off += (size_t)k;
        return 0;
}

/* Every string written was checked to need no escaping: names and versions
 * are letters, digits and a few punctuation marks. */
int manifest_format(const struct release_manifest *m, char **ret_json)
{
        char a[65], s[65];
        size_t off = 0;
        if (!m || !ret_json || manifest_check(m, NULL, 0) < 0)
                return -EINVAL;
        _cleanup_free_ char *buf = malloc(FORMAT_MAX);
        if (!buf)
                return -ENOMEM;
        int k = put(buf, &off, "{\"format\":\"%s\",\"version\":\"%s\",\"created\":%" PRId64 ",\"files\":[",
                    MANIFEST_FORMAT, m->version, m->created);
        for (size_t i = 0; k == 0 && i < m->n_files; i++) {
                const struct release_file *f = &m->files[i];
                hex32(f->sha256, s);
                k = put(buf, &off, "%s{\"name\":\"%s\",\"size\":%" PRIu64 ",\"sha256\":\"%s\"", i ? "," : "", f->name,
                        f->size, s);
                if (k == 0 && f->has_authenticode) {
                        hex32(f->authenticode, a);
                        k = put(buf, &off, ",\"authenticode\":\"%s\"", a);
                }
                if (k == 0)
                        k = put(buf, &off, "}");
        }
        if (k == 0)
                k = put(buf, &off, "]}\n");
        if (k < 0)
                return k; /* cannot happen: FORMAT_MAX bounds every field */
        *ret_json = TAKE_PTR(buf);
        return 0;
}

/* ---- parser ---- */

static void json_putp(json_object **o)
{
        if (*o)
                json_object_put(*o);
}

static void tokener_freep(json_tokener **t)
{
        if (*t)
                json_tokener_free(*t);
}

/* A key from the input, for a message: printable ASCII, at most 32 bytes. */
static const char *shown(const char *s, char out[40])
{
        size_t i = 0;
        for (; s[i] && i < 32; i++)
                out[i] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' ? s[i] : '?';
        snprintf(out + i, 40 - i, "%s", s[i] ? "…" : "");
        return out;
}

/* A string of at most max bytes, without NUL, into out (max + 1 bytes). */
static int get_string(json_object *o, const char *what, char *out, size_t max, const struct reason *w)
{
        if (!json_object_is_type(o, json_type_string))
                return reason_fail(w, -EBADMSG, "%s is not a string", what);
        const char *s = json_object_get_string(o);
        int n = json_object_get_string_len(o);
        if (n < 0 || (size_t)n > max)
                return reason_fail(w, -EBADMSG, "%s longer than %zu bytes", what, max);
        if (strlen(s) != (size_t)n)
                return reason_fail(w, -EBADMSG, "%s holds a NUL", what);
        memcpy(out, s, (size_t)n + 1);
        return 0;
}

static int get_int(json_object *o, const char *what, int64_t min, int64_t max, int64_t *ret, const struct reason *w)
{
        if (!json_object_is_type(o, json_type_int))
                return reason_fail(w, -EBADMSG, "%s is not an integer", what);
        /* json-c gives INT64_MAX for an integer beyond it: beyond max too */
        int64_t v = json_object_get_int64(o);
        if (v < min || v > max)
                return reason_fail(w, -EBADMSG, "%s out of range %" PRId64 "..%" PRId64, what, min, max);
        *ret = v;
        return 0;
}

static int get_hex32(json_object *o, const char *what, uint8_t out[32], const struct reason *w)
{
        char s[65];
        if (get_string(o, what, s, 64, w) < 0)
                return -EBADMSG;
        if (strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64 || hex_decode(s, out, 32) < 0)
                return reason_fail(w, -EBADMSG, "%s is not 64 lower-case hex digits", what);
        return 0;
}

static int parse_file(json_object *o, size_t i, struct release_file *f, const struct reason *w)
{
        char what[64 + MANIFEST_NAME_MAX], key[40];
        json_object *name = NULL, *size = NULL, *sha = NULL, *auth = NULL;
        snprintf(what, sizeof(what), "files[%zu]", i);
        if (!json_object_is_type(o, json_type_object))
                return reason_fail(w, -EBADMSG, "%s is not an object", what);
        json_object_object_foreach(o, k, v) {
                json_object **slot = streq(k, "name") ? &name : streq(k, "size") ? &size : streq(k, "sha256") ? &sha
                                   : streq(k, "authenticode") ? &auth : NULL;
                if (!slot)
                        return reason_fail(w, -EBADMSG, "%s: unknown key \"%s\"", what, shown(k, key));
                if (!v) /* json-c's null */
                        return reason_fail(w, -EBADMSG, "%s: %s is null", what, k);
                *slot = v;
        }
        if (!name || !size || !sha)
                return reason_fail(w, -EBADMSG, "%s: no \"%s\"", what, !name ? "name" : !size ? "size" : "sha256");
        int64_t n;
        snprintf(what, sizeof(what), "files[%zu].name", i);
        if (get_string(name, what, f->name, MANIFEST_NAME_MAX, w) < 0)
                return -EBADMSG;
        /* before the name goes into a message */
        char nwhy[160];
        const struct reason nw = { nwhy, sizeof(nwhy) };
        if (name_check(f->name, &nw) < 0)
                return reason_fail(w, -EBADMSG, "file %zu: %s", i + 1, nwhy);
        snprintf(what, sizeof(what), "file %s: size", f->name);
        if (get_int(size, what, 1, (int64_t)MANIFEST_SIZE_MAX, &n, w) < 0)
                return -EBADMSG;
        f->size = (uint64_t)n;
        snprintf(what, sizeof(what), "file %s: sha256", f->name);
        if (get_hex32(sha, what, f->sha256, w) < 0)
                return -EBADMSG;
        f->has_authenticode = auth != NULL;
        snprintf(what, sizeof(what), "file %s: authenticode", f->name);
        if (auth && get_hex32(auth, what, f->authenticode, w) < 0)
                return -EBADMSG;
        return 0;
}

static int parse_top(json_object *o, struct release_manifest *m, const struct reason *w)
{
        char key[40], format[sizeof(MANIFEST_FORMAT)];
        json_object *fmt = NULL, *version = NULL, *created = NULL, *files = NULL;
        if (!json_object_is_type(o, json_type_object))
                return reason_fail(w, -EBADMSG, "not a JSON object");
        json_object_object_foreach(o, k, v) {
                json_object **slot = streq(k, "format") ? &fmt : streq(k, "version") ? &version
                                   : streq(k, "created") ? &created : streq(k, "files") ? &files : NULL;
                if (!slot)
                        return reason_fail(w, -EBADMSG, "unknown key \"%s\"", shown(k, key));
                if (!v)
                        return reason_fail(w, -EBADMSG, "%s is null", k);
                *slot = v;
        }
        if (!fmt || !version || !created || !files)
                return reason_fail(w, -EBADMSG, "no \"%s\"",
                                   !fmt ? "format" : !version ? "version" : !created ? "created" : "files");
        if (!json_object_is_type(fmt, json_type_string) || !streq(json_object_get_string(fmt), MANIFEST_FORMAT) ||
            get_string(fmt, "format", format, sizeof(format) - 1, w) < 0)
                return reason_fail(w, -EBADMSG, "format is not \"" MANIFEST_FORMAT "\"");
        if (get_string(version, "version", m->version, MANIFEST_VERSION_MAX, w) < 0 ||
            get_int(created, "created", 0, MANIFEST_CREATED_MAX, &m->created, w) < 0)
                return -EBADMSG;
        if (!json_object_is_type(files, json_type_array))
                return reason_fail(w, -EBADMSG, "files is not an array");
        size_t n = json_object_array_length(files);
        if (n == 0 || n > MANIFEST_FILES_MAX)
                return reason_fail(w, -EBADMSG, "%zu files: a release has 1 to %d", n, MANIFEST_FILES_MAX);
        for (size_t i = 0; i < n; i++)
                if (parse_file(json_object_array_get_idx(files, i), i, &m->files[i], w) < 0)
                        return -EBADMSG;
        m->n_files = n;
        return 0;
}

static int parse_json(const uint8_t *json, size_t len, json_object **ret, const struct reason *w)
{
        _cleanup_(tokener_freep) json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
        if (!tok)
                return reason_fail(w, -ENOMEM, "out of memory");
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        json_object *o = json_tokener_parse_ex(tok, (const char *)json, (int)len);
        enum json_tokener_error e = json_tokener_get_error(tok);
        if (!o && e == json_tokener_continue)
                return reason_fail(w, -EBADMSG, "truncated JSON (%zu bytes)", len);
        if (!o)
                return reason_fail(w, -EBADMSG, "not JSON: %s at byte %zu", json_tokener_error_desc(e),
                                   json_tokener_get_parse_end(tok));
        if (json_tokener_get_parse_end(tok) != len) {
                json_object_put(o);
                return reason_fail(w, -EBADMSG, "bytes after the JSON value at byte %zu",
                                   json_tokener_get_parse_end(tok));
        }
        *ret = o;
        return 0;
}

int manifest_parse(const uint8_t *json, size_t len, struct release_manifest *ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        char cwhy[200];
        _cleanup_(json_putp) json_object *o = NULL;
        _cleanup_free_ char *canon = NULL;
        struct release_manifest m = { 0 };
        if ((!json && len) || !ret)
                return -EINVAL;
        if (len > MANIFEST_JSON_MAX)
                return reason_fail(&w, -EBADMSG, "%zu bytes, more than %u", len, MANIFEST_JSON_MAX);
        const uint8_t *nul = len ? memchr(json, '\0', len) : NULL;
        if (nul)
                return reason_fail(&w, -EBADMSG, "NUL byte at offset %zu", (size_t)(nul - json));
        /* json-c would wait for more after a bare literal; ours is an object */
        if (len > 0 && json[0] != '{')
                return reason_fail(&w, -EBADMSG, "not a JSON object (byte 0 is not '{')");
        int k = parse_json(json, len, &o, &w);
        if (k < 0)
                return k;
        if ((k = parse_top(o, &m, &w)) < 0)
                return k;
        if (manifest_check(&m, cwhy, sizeof(cwhy)) < 0)
                return reason_fail(&w, -EBADMSG, "%s", cwhy);
        if ((k = manifest_format(&m, &canon)) < 0)
                return reason_fail(&w, k, "writing the canonical form: %s", strerror(-k));
        size_t clen = strlen(canon), i = 0;
        while (i < clen && i < len && canon[i] == (char)json[i])
                i++;
        if (i != clen || i != len)
                return reason_fail(&w, -EBADMSG, "not in canonical form at byte %zu (duplicate keys, whitespace, "
                                   "escapes or key order other than manifest_format writes)", i);
        *ret = m;
        return 0;
}

/* ---- signers and signatures ---- */

struct signers {
        mbedtls_pk_context pk[MANIFEST_SIGNERS_MAX];
        size_t n;
};

static void signers_free(struct signers *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                mbedtls_pk_free(&s->pk[i]);
        free(s);
}

static void signers_freep(struct signers **s) { signers_free(*s); }

static bool is_p256(const mbedtls_pk_context *pk)
{
        return mbedtls_pk_get_type(pk) == MBEDTLS_PK_ECKEY &&
               mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

/* One PEM block, [start, start + len), into pk. */
static int parse_pub(mbedtls_pk_context *pk, const char *start, size_t len, const char *what, const struct reason *w)
{
        /* mbedtls wants PEM NUL-terminated, the NUL counted in its length */
        _cleanup_free_ unsigned char *buf = malloc(len + 1);
        if (!buf)
                return reason_fail(w, -ENOMEM, "%s: out of memory", what);
        memcpy(buf, start, len);
        buf[len] = '\0';
        mbedtls_pk_init(pk);
        int rc = mbedtls_pk_parse_public_key(pk, buf, len + 1);
        if (rc != 0) {
                mbedtls_pk_free(pk);
                return mbed_reason(w, rc, -EINVAL, what);
        }
        if (!is_p256(pk)) {
                mbedtls_pk_free(pk);
                return reason_fail(w, -EINVAL, "%s: not an ECDSA P-256 key", what);
        }
        return 0;
}

static int signers_parse(const char *pem, size_t len, struct signers **ret, const struct reason *w)
{
        const char *p = pem, *end = pem + len;
        char what[48];
        if (len > MANIFEST_PEM_MAX)
                return reason_fail(w, -EINVAL, "signer keys: more than %u bytes", MANIFEST_PEM_MAX);
        _cleanup_(signers_freep) struct signers *s = calloc(1, sizeof(*s));
        if (!s)
                return reason_fail(w, -ENOMEM, "signer keys: out of memory");
        for (;;) {
                const char *b = memmem(p, (size_t)(end - p), PEM_BEGIN, strlen(PEM_BEGIN));
                if (!b)
                        break;
                snprintf(what, sizeof(what), "signer key %zu", s->n + 1);
                const char *label = b + strlen(PEM_BEGIN);
                if ((size_t)(end - label) < strlen(PEM_PUB_LABEL) ||
                    memcmp(label, PEM_PUB_LABEL, strlen(PEM_PUB_LABEL)) != 0)
                        return reason_fail(w, -EINVAL, "%s: not a PUBLIC KEY block", what);
                const char *e = memmem(label, (size_t)(end - label), PEM_PUB_END, strlen(PEM_PUB_END));
                if (!e)
                        return reason_fail(w, -EINVAL, "%s: no " PEM_PUB_END " line", what);
                if (s->n == MANIFEST_SIGNERS_MAX)
                        return reason_fail(w, -E2BIG, "more than %d signer keys", MANIFEST_SIGNERS_MAX);
                p = e + strlen(PEM_PUB_END);
                int k = parse_pub(&s->pk[s->n], b, (size_t)(p - b), what, w);
                if (k < 0)
                        return k;
                s->n++;
        }
        if (s->n == 0)
                return reason_fail(w, -ENOENT, "signer keys: no PUBLIC KEY block");
        *ret = TAKE_PTR(s);
        return 0;
}

int manifest_signers_check(const char *pem, size_t pemlen, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        _cleanup_(signers_freep) struct signers *s = NULL;
        if (!pem && pemlen)
                return -EINVAL;
        int k = signers_parse(pem ? pem : "", pemlen, &s, &w);
        return k < 0 ? k : (int)s->n;
}

int manifest_verify(const uint8_t *json, size_t len, const uint8_t *sig, size_t siglen, const char *signers_pem,
                    size_t pemlen, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        _cleanup_(signers_freep) struct signers *s = NULL;
        uint8_t hash[32];
        if ((!json && len) || (!sig && siglen) || (!signers_pem && pemlen))
                return -EINVAL;
        if (len > MANIFEST_JSON_MAX)
                return reason_fail(&w, -EBADMSG, "release.json: %zu bytes, more than %u", len, MANIFEST_JSON_MAX);
        if (siglen == 0 || siglen > MANIFEST_SIG_MAX)
                return reason_fail(&w, -EBADMSG, "signature: %zu bytes, not 1..%d", siglen, MANIFEST_SIG_MAX);
        int k = signers_parse(signers_pem ? signers_pem : "", pemlen, &s, &w);
        if (k < 0)
                return k;
        if (mbedtls_sha256_ret(json ? json : (const uint8_t *)"", len, hash, 0) != 0)
                return reason_fail(&w, -EIO, "SHA-256 failed");
        for (size_t i = 0; i < s->n; i++) {
                int rc = mbedtls_pk_verify(&s->pk[i], MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, siglen);
                if (rc == 0)
                        return (int)i;
                if (mbed_errno(rc) == -ENOMEM)
                        return mbed_reason(&w, rc, -ENOMEM, "verifying the signature");
        }
        return reason_fail(&w, -EPERM, "signature: does not verify with any of the %zu pinned signer key(s)", s->n);
}

int manifest_open(const uint8_t *json, size_t len, const uint8_t *sig, size_t siglen, const char *signers_pem,
                  size_t pemlen, struct release_manifest *ret, char *why, size_t whylen)
{
        struct release_manifest m;
        if (!ret)
                return -EINVAL;
        int signer = manifest_verify(json, len, sig, siglen, signers_pem, pemlen, why, whylen);
        if (signer < 0)
                return signer;
        int k = manifest_parse(json, len, &m, why, whylen);
        if (k < 0)
                return k;
        *ret = m;
        return signer;
}

/* ECDSA here is deterministic (RFC 6979); randomness only blinds it. */
static int rng(void *ctx, unsigned char *out, size_t n)
{
        return getrandom_full(out, n) < 0 ? MBEDTLS_ERR_ECP_RANDOM_FAILED : 0;
}

static void pk_freep(mbedtls_pk_context *pk) { mbedtls_pk_free(pk); }

int manifest_sign(const uint8_t *json, size_t len, const char *key_pem, size_t keylen,
                  uint8_t sig[MANIFEST_SIG_MAX], size_t *ret_siglen, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        uint8_t hash[32];
        unsigned char out[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
        size_t outlen = 0;
        _cleanup_(pk_freep) mbedtls_pk_context pk;
        mbedtls_pk_init(&pk);
        if ((!json && len) || !key_pem || !sig || !ret_siglen)
                return -EINVAL;
        if (len > MANIFEST_JSON_MAX)
                return reason_fail(&w, -EINVAL, "release.json: %zu bytes, more than %u", len, MANIFEST_JSON_MAX);
        _cleanup_free_ unsigned char *buf = malloc(keylen + 1);
        if (!buf)
                return reason_fail(&w, -ENOMEM, "signing key: out of memory");
        memcpy(buf, key_pem, keylen);
        buf[keylen] = '\0';
        int rc = mbedtls_pk_parse_key(&pk, buf, keylen + 1, NULL, 0);
        mbedtls_platform_zeroize(buf, keylen);
        if (rc != 0)
                return mbed_reason(&w, rc, -EINVAL, "signing key");
        if (!is_p256(&pk))
                return reason_fail(&w, -EINVAL, "signing key: not an ECDSA P-256 key");
        if (mbedtls_sha256_ret(json ? json : (const uint8_t *)"", len, hash, 0) != 0)
                return reason_fail(&w, -EIO, "SHA-256 failed");
        rc = mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, hash, sizeof(hash), out, &outlen, rng, NULL);
        if (rc != 0)
                return mbed_reason(&w, rc, -EIO, "signing release.json");
        if (outlen == 0 || outlen > MANIFEST_SIG_MAX)
                return reason_fail(&w, -EIO, "signing release.json: a %zu-byte signature", outlen);
        memcpy(sig, out, outlen);
        *ret_siglen = outlen;
        return 0;
}

/* ---- a file against its entry ---- */

int manifest_file_check(const struct release_file *f, const uint8_t *data, size_t len, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        char pwhy[200], want[65], got[65];
        uint8_t d[32];
        if (!f || (!data && len))
                return -EINVAL;
        if ((uint64_t)len != f->size)
                return reason_fail(&w, -EBADMSG, "%s: %zu bytes, the manifest says %" PRIu64, f->name, len, f->size);
        if (mbedtls_sha256_ret(data ? data : (const uint8_t *)"", len, d, 0) != 0)
                return reason_fail(&w, -EIO, "%s: SHA-256 failed", f->name);
        if (memcmp(d, f->sha256, 32) != 0) {
                hex32(d, got);
                hex32(f->sha256, want);
                return reason_fail(&w, -EBADMSG, "%s: sha256 %.16s…, the manifest says %.16s…", f->name, got, want);
        }
        if (!f->has_authenticode)
                return 0;
        int k = authenticode_sha256_why(data, len, d, pwhy, sizeof(pwhy));
        if (k == -EBADMSG)
                return reason_fail(&w, k, "%s: not a PE image the authenticode digest can be computed for: %s",
                                   f->name, pwhy);
        if (k < 0)
                return reason_fail(&w, k, "%s: authenticode: %s", f->name, strerror(-k));
        if (memcmp(d, f->authenticode, 32) != 0) {
                hex32(d, got);
                hex32(f->authenticode, want);
                return reason_fail(&w, -EBADMSG, "%s: authenticode %.16s…, the manifest says %.16s…", f->name, got,
                                   want);
        }
        return 0;
}
