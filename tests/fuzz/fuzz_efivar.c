/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: what efi/efivar.c parses from EFI variables another program
 * may have written: UTF-16 strings (LoaderEntrySelected), GUID strings
 * (LoaderDevicePartUUID) and Ember's boot state record. The first byte
 * chooses the parser and, for the decoder, the output's size. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "efivar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void utf16(const uint8_t *p, size_t n, size_t cap)
{
        char *out = malloc(cap ? cap : 1);
        if (!out)
                return;
        memset(out, 'z', cap ? cap : 1);
        int r = efivar_utf16_ascii(p, n, cap ? out : NULL, cap);
        if (r >= 0) {
                assert((size_t)r < cap && out[r] == '\0' && strlen(out) == (size_t)r);
                for (int i = 0; i < r; i++)
                        assert(out[i] >= 0x20 && out[i] < 0x7f && out[i] == (char)p[2 * i] && p[2 * i + 1] == 0);
                /* everything but one trailing NUL was used */
                assert(n == 2 * (size_t)r || (n == 2 * (size_t)r + 2 && p[n - 1] == 0 && p[n - 2] == 0));
        } else {
                assert(r == -EBADMSG || r == -ENOBUFS || r == -EINVAL);
                for (size_t i = 0; i < cap; i++)
                        assert(out[i] == 'z');
        }
        free(out);
}

static void guid(const uint8_t *p, size_t n)
{
        char *s = malloc(n + 1), out[EFIVAR_GUID_STRLEN], again[EFIVAR_GUID_STRLEN];
        if (!s)
                return;
        memcpy(s, p, n);
        s[n] = '\0';
        if (efivar_guid_canonical(s, out) == 0) {
                assert(strlen(out) == 36 && strncasecmp(out, s, 36) == 0);
                assert(efivar_guid_canonical(out, again) == 0 && strcmp(out, again) == 0);
        }
        free(s);
}

static void record(const uint8_t *p, size_t n)
{
        struct bootstate st;
        uint8_t out[BOOTSTATE_SIZE];
        if (bootstate_parse(p, n, &st) == 0) {
                /* what parses formats back to the same bytes */
                assert(n == BOOTSTATE_SIZE);
                assert(bootstate_format(&st, out) == BOOTSTATE_SIZE && memcmp(out, p, n) == 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        const uint8_t *p = data + 1;
        size_t n = size - 1;
        switch (data[0] % 3) {
        case 0:
                utf16(p, n, data[0] / 3);
                break;
        case 1:
                guid(p, n);
                break;
        default:
                record(p, n);
                break;
        }
        return 0;
}
