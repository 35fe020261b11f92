/* SPDX-License-Identifier: Apache-2.0 */
#include "uuid.h"

#include <errno.h>
#include <string.h>

int uuid_parse(const char *s, uint8_t out[16])
{
        static const int dash[] = { 8, 13, 18, 23 };
        if (!s || strlen(s) != 36)
                return -EINVAL;
        for (size_t i = 0; i < 4; i++)
                if (s[dash[i]] != '-')
                        return -EINVAL;
        for (size_t i = 0, o = 0; i < 36; i++) {
                if (s[i] == '-' && (i == 8 || i == 13 || i == 18 || i == 23))
                        continue;
                int v = s[i] >= '0' && s[i] <= '9' ? s[i] - '0'
                        : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                        : s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 10
                                                      : -1;
                if (v < 0)
                        return -EINVAL;
                out[o / 2] = (uint8_t)(o % 2 ? (out[o / 2] | v) : v << 4);
                o++;
        }
        return 0;
}
