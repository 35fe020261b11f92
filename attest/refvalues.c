/* SPDX-License-Identifier: Apache-2.0 */
#include "refvalues.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "reason.h"

static bool is_leap(int64_t y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, y >= 1970). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
        static const int before[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };
        int64_t days = 0;
        for (int64_t yy = 1970; yy < y; yy++)
                days += is_leap(yy) ? 366 : 365;
        return days + before[m - 1] + (m > 2 && is_leap(y)) + d - 1;
}

int ref_parse_time(const char *s, int64_t *ret)
{
        int y, mo, d, h, mi, sec, n = 0;
        static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        if (!s || strlen(s) < 20 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
                return -EINVAL;
        const char *rest = s + 19;
        if (*rest == '.') {
                rest++;
                if (*rest < '0' || *rest > '9')
                        return -EINVAL;
                while (*rest >= '0' && *rest <= '9')
                        rest++;
        }
        if (!streq(rest, "Z") || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
            (mo == 2 && d == 29 && !is_leap(y)) || h > 23 || mi > 59 || sec > 60)
                return -EINVAL;
        *ret = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec;
        return 0;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char)(c | 0x20);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int hex_digest(const char *s, uint8_t out[REF_DIGEST])
{
        uint8_t d[REF_DIGEST];
        if (!s || strlen(s) != 2 * REF_DIGEST)
                return -EINVAL;
        for (size_t i = 0; i < REF_DIGEST; i++) {
                int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                d[i] = (uint8_t)(hi << 4 | lo);
        }
        memcpy(out, d, REF_DIGEST);
        return 0;
}

static int pcr_from_name(const char *name)
{
        const char *p = startswith(name, "tpm_pcr");
        if (!p || !*p || strlen(p) > 2 || (p[0] == '0' && p[1]))
                return -EINVAL;
        int v = 0;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                v = v * 10 + (*p - '0');
        }
        return v < REF_PCRS ? v : -EINVAL;
}

static json_object *field(json_object *o, const char *key, json_type type)
{
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, type) ? v : NULL;
}

/* One entry: {"version","name","expiration","value":[…]}. */
static int parse_entry(json_object *e, size_t idx, struct ref_image *img, size_t *ret_k, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        json_object *ver = field(e, "version", json_type_string), *name = field(e, "name", json_type_string),
                    *exp = field(e, "expiration", json_type_string), *val = field(e, "value", json_type_array);
        if (!json_object_is_type(e, json_type_object) || !name || !exp || !val)
                return reason_fail(&w, -EBADMSG, "entry %zu: needs string \"name\", \"expiration\" and an array \"value\"", idx);
        if (ver && !streq(json_object_get_string(ver), REF_VERSION))
                return reason_fail(&w, -EBADMSG, "entry %zu: version %s is not %s", idx, json_object_get_string(ver), REF_VERSION);
        int pcr = pcr_from_name(json_object_get_string(name));
        if (pcr < 0)
                return reason_fail(&w, -EBADMSG, "entry %zu: name must be tpm_pcr0 … tpm_pcr23", idx);
        if (pcr == 10)
                return reason_fail(&w, -EBADMSG, "entry %zu: PCR 10 (IMA) is not in the TCG event log and cannot be approved", idx);
        int64_t expires;
        if (ref_parse_time(json_object_get_string(exp), &expires) < 0)
                return reason_fail(&w, -EBADMSG, "entry %zu (tpm_pcr%d): expiration is not an RFC 3339 UTC time", idx, pcr);
        size_t k = json_object_array_length(val);
        if (k == 0)
                return reason_fail(&w, -EBADMSG, "entry %zu (tpm_pcr%d): no values", idx, pcr);
        if (k > REF_MAX_PATHS)
                return reason_fail(&w, -E2BIG, "entry %zu (tpm_pcr%d): %zu values, at most %d boot paths", idx, pcr, k, REF_MAX_PATHS);
        for (size_t p = 0; p < REF_MAX_PATHS; p++)
                if (img->paths[p].mask & (1u << pcr))
                        return reason_fail(&w, -EBADMSG, "entry %zu: tpm_pcr%d appears twice", idx, pcr);
        for (size_t i = 0; i < k; i++) {
                json_object *v = json_object_array_get_idx(val, i);
                uint8_t d[REF_DIGEST];
                if (!json_object_is_type(v, json_type_string) || hex_digest(json_object_get_string(v), d) < 0)
                        return reason_fail(&w, -EBADMSG, "entry %zu (tpm_pcr%d): value %zu is not 64 hex digits (SHA-256)", idx, pcr, i);
                /* a single value holds on every path: filled in later */
                for (size_t p = (k == 1 ? 0 : i); p < (k == 1 ? REF_MAX_PATHS : i + 1); p++) {
                        memcpy(img->paths[p].value[pcr], d, REF_DIGEST);
                        img->paths[p].mask |= 1u << pcr;
                        if (expires < img->paths[p].expires)
                                img->paths[p].expires = expires;
                }
        }
        *ret_k = k;
        return 0;
}

int ref_parse(const char *json, size_t len, struct ref_image *ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        if (!json || len > REF_DOC_MAX)
                return reason_fail(&w, -E2BIG, "reference values larger than %u bytes", REF_DOC_MAX);
        struct json_tokener *tok = json_tokener_new_ex(16);
        if (!tok)
                return -ENOMEM;
        json_object *doc = json_tokener_parse_ex(tok, json, (int)len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t used = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        int r;
        if (!doc || jerr != json_tokener_success) {
                r = reason_fail(&w, -EBADMSG, "not JSON: %s", json_tokener_error_desc(jerr));
                goto out;
        }
        for (; used < len; used++)
                if (!strchr(" \t\r\n", json[used])) {
                        r = reason_fail(&w, -EBADMSG, "trailing bytes after the JSON document");
                        goto out;
                }
        if (!json_object_is_type(doc, json_type_array) || json_object_array_length(doc) == 0) {
                r = reason_fail(&w, -EBADMSG, "expected a non-empty array of reference values");
                goto out;
        }
        struct ref_image *img = calloc(1, sizeof(*img));
        if (!img) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t p = 0; p < REF_MAX_PATHS; p++)
                img->paths[p].expires = INT64_MAX;
        size_t paths = 1;
        for (size_t i = 0; i < json_object_array_length(doc); i++) {
                size_t k = 0;
                r = parse_entry(json_object_array_get_idx(doc, i), i, img, &k, why, whylen);
                if (r < 0) {
                        free(img);
                        goto out;
                }
                if (k > 1 && paths > 1 && k != paths) {
                        free(img);
                        r = reason_fail(&w, -EBADMSG,
                                 "entry %zu lists %zu values but an earlier one %zu: every multi-valued PCR must list one value per boot path",
                                 i, k, paths);
                        goto out;
                }
                if (k > 1)
                        paths = k;
        }
        img->n_paths = paths;
        for (size_t p = paths; p < REF_MAX_PATHS; p++)
                img->paths[p] = (struct ref_path){ 0 };
        *ret = *img;
        free(img);
        r = 0;
out:
        json_object_put(doc);
        return r;
}

static void hex(const uint8_t *d, char out[2 * REF_DIGEST + 1])
{
        for (size_t i = 0; i < REF_DIGEST; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void format_time(int64_t t, char out[32])
{
        time_t tt = (time_t)t;
        struct tm tm;
        if (t == INT64_MAX || !gmtime_r(&tt, &tm))
                snprintf(out, 32, "9999-12-31T23:59:59Z");
        else
                strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* True when PCR pcr holds the same value on every path. */
static bool same_on_all(const struct ref_image *img, int pcr)
{
        for (size_t p = 1; p < img->n_paths; p++)
                if (memcmp(img->paths[p].value[pcr], img->paths[0].value[pcr], REF_DIGEST) != 0)
                        return false;
        return true;
}

char *ref_export(const struct ref_image *img)
{
        json_object *doc = json_object_new_array();
        char h[2 * REF_DIGEST + 1], t[32], name[16];
        if (!doc)
                return NULL;
        for (int pcr = 0; pcr < REF_PCRS; pcr++) {
                if (img->n_paths == 0 || !(img->paths[0].mask & (1u << pcr)))
                        continue;
                json_object *e = json_object_new_object(), *vals = json_object_new_array();
                int64_t expires = INT64_MAX;
                size_t n = same_on_all(img, pcr) ? 1 : img->n_paths;
                for (size_t p = 0; p < img->n_paths; p++)
                        if (img->paths[p].expires < expires)
                                expires = img->paths[p].expires;
                for (size_t p = 0; p < n; p++) {
                        hex(img->paths[p].value[pcr], h);
                        json_object_array_add(vals, json_object_new_string(h));
                }
                snprintf(name, sizeof(name), "tpm_pcr%d", pcr);
                format_time(expires, t);
                json_object_object_add(e, "version", json_object_new_string(REF_VERSION));
                json_object_object_add(e, "name", json_object_new_string(name));
                json_object_object_add(e, "expiration", json_object_new_string(t));
                json_object_object_add(e, "value", vals);
                json_object_array_add(doc, e);
        }
        const char *s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                    JSON_C_TO_STRING_NOSLASHESCAPE);
        char *ret = s ? strdup(s) : NULL;
        json_object_put(doc);
        return ret;
}

uint32_t ref_selection(const struct ref_image *img)
{
        uint32_t m = 0;
        for (size_t p = 0; p < img->n_paths; p++)
                m |= img->paths[p].mask;
        return m;
}

int ref_match(const struct ref_image *img, const struct ref_pcrs *pcrs, int64_t now, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        int best = -1, best_pcr = -1;
        unsigned best_good = 0;
        bool any_live = false;
        for (size_t p = 0; p < img->n_paths; p++) {
                const struct ref_path *path = &img->paths[p];
                if (path->expires <= now)
                        continue;
                any_live = true;
                unsigned good = 0;
                int first_bad = -1;
                for (int pcr = 0; pcr < REF_PCRS; pcr++) {
                        if (!(path->mask & (1u << pcr)))
                                continue;
                        if ((pcrs->mask & (1u << pcr)) && memcmp(path->value[pcr], pcrs->value[pcr], REF_DIGEST) == 0)
                                good++;
                        else if (first_bad < 0)
                                first_bad = pcr;
                }
                if (first_bad < 0)
                        return (int)p;
                if (best < 0 || good > best_good) {
                        best = (int)p;
                        best_good = good;
                        best_pcr = first_bad;
                }
        }
        if (!any_live)
                return reason_fail(&w, -ENOENT, "every reference value of this image has expired");
        return reason_fail(&w, -ENOENT, "PCR %d: no approved boot path of this image has this value", best_pcr);
}
