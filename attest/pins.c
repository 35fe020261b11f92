/* SPDX-License-Identifier: Apache-2.0 */
#include "pins.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "reason.h"

#define PIN_PREFIX "sha256//"
#define PIN_B64_LEN 44 /* base64 of a 32-byte SHA-256, padded */

static bool b64_char(char c)
{
        return isalnum((unsigned char)c) || c == '+' || c == '/' || c == '=';
}

int attest_pins_parse(const char *text, size_t len, char **ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        char out[ATTEST_PINS_MAX * (sizeof(PIN_PREFIX) + PIN_B64_LEN)];
        size_t n = 0, off = 0;
        unsigned line = 0;

        for (size_t pos = 0; pos < len;) {
                const char *s = text + pos;
                const char *nl = memchr(s, '\n', len - pos);
                size_t l = nl ? (size_t)(nl - s) : len - pos;
                pos += l + (nl ? 1 : 0);
                line++;
                while (l > 0 && isspace((unsigned char)*s))
                        s++, l--;
                while (l > 0 && isspace((unsigned char)s[l - 1]))
                        l--;
                if (l == 0 || *s == '#')
                        continue;
                bool ok = l == strlen(PIN_PREFIX) + PIN_B64_LEN && memcmp(s, PIN_PREFIX, strlen(PIN_PREFIX)) == 0 &&
                          s[l - 1] == '=';
                for (size_t i = strlen(PIN_PREFIX); ok && i < l; i++)
                        ok = b64_char(s[i]) && (s[i] != '=' || i == l - 1);
                if (!ok)
                        return reason_fail(&w, -EINVAL, "line %u: not a pin (sha256// and the 44 base64 characters of "
                                           "a SHA-256 of the key)", line);
                if (n == ATTEST_PINS_MAX)
                        return reason_fail(&w, -E2BIG, "more than %d pins", ATTEST_PINS_MAX);
                if (n > 0)
                        out[off++] = ';';
                memcpy(out + off, s, l);
                off += l;
                n++;
        }
        if (n == 0)
                return reason_fail(&w, -ENOENT, "no pin in it");
        out[off] = '\0';
        char *p = strdup(out);
        if (!p)
                return reason_fail(&w, -ENOMEM, "out of memory");
        *ret = p;
        return 0;
}
