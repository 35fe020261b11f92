/* SPDX-License-Identifier: Apache-2.0 */
/* The golden digest list's parser (/etc/ember/rke2.digests): hostile
 * input by assumption, pure code (the fuzz harness links only this). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "measure.h"
#include "util.h"

/* ---- the digest list --------------------------------------------------- */

void measure_digests_free(struct measure_digests *d)
{
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++)
                free(d->e[i].path);
        free(d->e);
        *d = (struct measure_digests){ 0 };
}

/* Absolute, canonical, printable ASCII: what a verifier can compare
 * byte for byte. NULL when fine, else why not. */
const char *measure_path_problem(const char *p, size_t n)
{
        if (n == 0 || p[0] != '/')
                return "the path is not absolute";
        if (n > MEASURE_PATH_MAX)
                return "the path is too long";
        if (p[n - 1] == '/')
                return "the path ends in '/'";
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)p[i];
                if (c < 0x20 || c >= 0x7f)
                        return "the path has a control or non-ASCII byte";
                if (c == '\\')
                        return "the path has a backslash (sha256sum's escaped names are not accepted)";
                if (c != '/')
                        continue;
                const char *s = p + i + 1;
                size_t left = n - i - 1;
                if (left >= 1 && s[0] == '/')
                        return "the path has an empty component (\"//\")";
                if ((left == 1 && s[0] == '.') || (left >= 2 && s[0] == '.' && s[1] == '/'))
                        return "the path has a \".\" component";
                if ((left == 2 && s[0] == '.' && s[1] == '.') || (left >= 3 && s[0] == '.' && s[1] == '.' && s[2] == '/'))
                        return "the path has a \"..\" component";
        }
        return NULL;
}

static bool lower_hex(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static int entry_cmp(const void *a, const void *b)
{
        return strcmp(((const struct measure_entry *)a)->path, ((const struct measure_entry *)b)->path);
}

/* One "<hex>  <path>" line (no newline) into e. */
static int parse_line(const char *s, size_t n, unsigned no, struct measure_entry *e, const struct reason *w)
{
        if (n < 64 + 2 + 1)
                return reason_fail(w, -EBADMSG, "line %u: too short for \"<sha256>  <path>\"", no);
        if (!lower_hex(s, 64))
                return reason_fail(w, -EBADMSG, "line %u: the digest is not 64 lowercase hex digits", no);
        if (s[64] != ' ' || (s[65] != ' ' && s[65] != '*'))
                return reason_fail(w, -EBADMSG, "line %u: expected two spaces (or \" *\") after the digest", no);
        const char *why = measure_path_problem(s + 66, n - 66);
        if (why)
                return reason_fail(w, -EBADMSG, "line %u: %s", no, why);
        char hex[65];
        memcpy(hex, s, 64);
        hex[64] = '\0';
        if (hex_decode(hex, e->sha256, 32) < 0)
                return reason_fail(w, -EBADMSG, "line %u: the digest is not hex", no);
        e->path = strndup(s + 66, n - 66);
        return e->path ? 0 : reason_fail(w, -ENOMEM, "out of memory");
}

int measure_digests_parse(const char *text, size_t len, struct measure_digests *ret, const struct reason *w)
{
        struct measure_digests d = { 0 };
        unsigned no = 0;
        int r = 0;

        if (!text || !ret)
                return -EINVAL;
        if (len > MEASURE_DIGESTS_MAX)
                return reason_fail(w, -EBADMSG, "the digest list is larger than %u bytes", MEASURE_DIGESTS_MAX);
        if (memchr(text, '\0', len))
                return reason_fail(w, -EBADMSG, "the digest list has a NUL byte");
        if (len > 0 && text[len - 1] != '\n')
                return reason_fail(w, -EBADMSG, "the digest list does not end with a newline (truncated?)");
        for (size_t off = 0; off < len && r == 0;) {
                const char *s = text + off, *nl = memchr(s, '\n', len - off);
                size_t n = (size_t)(nl - s); /* a newline is always there: checked above */
                off += n + 1;
                no++;
                if (n > 66 + MEASURE_PATH_MAX)
                        r = reason_fail(w, -EBADMSG, "line %u: longer than %u bytes", no, 66 + MEASURE_PATH_MAX);
                else if (n == 0)
                        r = reason_fail(w, -EBADMSG, "line %u: empty", no);
                else if (s[0] == '#')
                        continue;
                else if (d.n == MEASURE_FILES_MAX)
                        r = reason_fail(w, -EBADMSG, "line %u: more than %u files", no, MEASURE_FILES_MAX);
                else {
                        struct measure_entry *ne = realloc(d.e, (d.n + 1) * sizeof(*d.e));
                        if (!ne) {
                                r = reason_fail(w, -ENOMEM, "out of memory");
                                break;
                        }
                        d.e = ne;
                        d.e[d.n] = (struct measure_entry){ 0 };
                        r = parse_line(s, n, no, &d.e[d.n], w);
                        if (r == 0)
                                d.n++;
                }
        }
        if (r == 0 && d.n == 0)
                r = reason_fail(w, -EBADMSG, "the digest list names no file");
        if (r == 0) {
                /* duplicates, found on a sorted copy so the file's order stays */
                _cleanup_free_ struct measure_entry *s = malloc(d.n * sizeof(*s));
                if (!s)
                        r = reason_fail(w, -ENOMEM, "out of memory");
                else {
                        memcpy(s, d.e, d.n * sizeof(*s));
                        qsort(s, d.n, sizeof(*s), entry_cmp);
                        for (size_t i = 1; r == 0 && i < d.n; i++)
                                if (streq(s[i - 1].path, s[i].path))
                                        r = reason_fail(w, -EBADMSG, "%s is listed twice", s[i].path);
                }
        }
        if (r < 0) {
                measure_digests_free(&d);
                return r;
        }
        *ret = d;
        return 0;
}
