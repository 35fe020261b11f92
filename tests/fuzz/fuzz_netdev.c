/* SPDX-License-Identifier: Apache-2.0 */
/* An RTM_NEWLINK payload (ifinfomsg and its attributes) as rtnetlink
 * returns it: the link parser must never read past it, whatever the
 * attribute lengths and nesting (IFLA_LINKINFO) claim. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "netdev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct nl_link l;
        if (nl_link_parse(data, size, &l) == 0 && !memchr(l.info.name, '\0', sizeof(l.info.name)))
                __builtin_trap(); /* names are always terminated */
        return 0;
}
