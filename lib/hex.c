/* SPDX-License-Identifier: Apache-2.0 */
#include "hex.h"

#include <errno.h>
#include <string.h>

static int digit(char c)
{
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int hex_decode(const char *s, uint8_t *out, size_t n)
{
        if (!s || strlen(s) != 2 * n)
                return -EINVAL;
        for (size_t i = 0; i < 2 * n; i++)
                if (digit(s[i]) < 0)
                        return -EINVAL;
        for (size_t i = 0; i < n; i++)
                out[i] = (uint8_t)(digit(s[2 * i]) << 4 | digit(s[2 * i + 1]));
        return 0;
}
