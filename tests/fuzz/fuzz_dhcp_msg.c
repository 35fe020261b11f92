/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: a DHCP reply parsed, checked, and when it passes, answered
 * with a REQUEST built into a buffer of an input-chosen size, so the writer
 * sees every boundary as well. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dhcp_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void answer(const struct dhcp_msg *m, size_t bufsize)
{
        struct dhcp_build b = {
                .type = DHCP_REQUEST,
                .state = DHCP_REQ_SELECTING,
                .xid = m->xid,
                .requested_ip = m->yiaddr,
                .server_id = m->server_id,
                .hostname = m->hostname[0] ? m->hostname : NULL,
                .max_msg_size = m->mtu >= 576 ? m->mtu : 0,
        };
        memcpy(b.chaddr, m->chaddr, sizeof(b.chaddr));

        /* exactly bufsize bytes on the heap: ASan sees any overrun */
        uint8_t *buf = malloc(bufsize ? bufsize : 1);
        if (!buf)
                return;
        int r = dhcp_msg_build(&b, buf, bufsize);
        assert(r == -ENOBUFS || (r >= DHCP_MIN_LEN && (size_t)r <= bufsize));
        free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct dhcp_msg m;
        char why[128];

        if (dhcp_msg_parse(data, size, &m, why, sizeof(why)) < 0)
                return 0;
        assert(m.type != 0 && m.routers.n <= DHCP_MAX_ADDRS && m.n_routes <= DHCP_MAX_ROUTES);
        assert(strlen(m.hostname) <= DHCP_NAME_MAX && strlen(m.domain) <= DHCP_NAME_MAX);
        if (dhcp_msg_validate(&m, m.xid, m.chaddr, why, sizeof(why)) < 0)
                return 0;
        if (m.type != DHCP_OFFER && m.type != DHCP_ACK)
                return 0;
        /* the last input byte picks the buffer size: short, tight or ample */
        answer(&m, 240 + (size_t)data[size - 1] * 2);
        answer(&m, 1500);
        return 0;
}
