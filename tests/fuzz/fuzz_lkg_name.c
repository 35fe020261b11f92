/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: systemd-boot entry names with boot counters (efi/lkg.c), and
 * the version order over what parses. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lkg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1), why[128];
        const struct reason w = { why, sizeof(why) };
        struct lkg_entry_name n, again;
        char name[LKG_ENTRY_NAME_MAX];
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        memset(&n, 0xa5, sizeof(n));
        if (lkg_entry_name_parse(s, &n, &w) == 0) {
                /* what parses formats back to itself and parses the same */
                assert(lkg_version_check(n.version, NULL) == 0);
                assert(lkg_entry_name_format(&n, name, sizeof(name)) == 0);
                assert(strcmp(name, s) == 0);
                assert(lkg_entry_name_parse(name, &again, NULL) == 0);
                assert(strcmp(n.version, again.version) == 0 && n.counted == again.counted &&
                       n.has_done == again.has_done && n.left == again.left && n.done == again.done);
                assert(lkg_version_cmp(n.version, n.version) == 0);
        }
        /* the order is antisymmetric on any two strings */
        const char *half = s + size / 2;
        int ab = lkg_version_cmp(s, half), ba = lkg_version_cmp(half, s);
        assert((ab > 0) == (ba < 0) && (ab == 0) == (ba == 0));
        free(s);
        return 0;
}
