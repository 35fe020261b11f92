/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the Node object the API server answers with (its Ready
 * condition). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "ready.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char why[200] = "";
        struct node_status st;
        int k = ready_parse_node((const char *)data, size, size & 1 ? "node-1" : NULL, &st,
                                 &(struct reason){ why, sizeof(why) });
        if (k < 0 && !why[0] && k != -ENOMEM)
                abort();
        if (k == 0 && st.ready > NODE_READY_UNKNOWN)
                abort();
        return 0;
}
