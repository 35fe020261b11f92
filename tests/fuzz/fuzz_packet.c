/* SPDX-License-Identifier: Apache-2.0 */
/* Whatever a packet socket on port 68 or ARP can deliver: the frame
 * parser, then the DHCP client state machine fed the payload, and the ARP
 * parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dhcp_client.h"
#include "packet.h"

static int nop_send(void *ud, uint32_t src, const void *b, size_t l) { return 0; }
static int nop_ucast(void *ud, uint32_t s, uint32_t d, const void *b, size_t l) { return 0; }
static int nop_probe(void *ud, uint32_t a) { return 0; }
static int nop_bound(void *ud, const struct dhcp_lease *l, bool r) { return 0; }
static void nop_unbound(void *ud, const struct dhcp_lease *l, const char *w) {}
static uint32_t fixed_random(void *ud) { return 0x11223344u; }

static const struct dhcp_client_ops ops = { .send_broadcast = nop_send, .send_unicast = nop_ucast,
                                            .send_arp_probe = nop_probe, .bound = nop_bound,
                                            .unbound = nop_unbound, .random = fixed_random };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct udp_frame f;
        struct arp_pkt a;
        struct dhcp_client c;
        struct dhcp_client_config cfg = { .mac = { 2, 0, 0, 0, 0, 1 }, .rapid_commit = true, .acd = ACD_FAST };

        (void)arp_parse(data, size, &a);
        for (int csum = 0; csum < 2; csum++) {
                if (udp_frame_parse(data, size, 68, csum, &f, NULL, 0) < 0)
                        continue;
                /* f.payload lies inside data */
                if (f.payload < data || f.len > size || (size_t)(f.payload - data) > size - f.len)
                        __builtin_trap();
                dhcp_client_init(&c, &cfg, &ops, NULL);
                dhcp_client_start(&c, 1000);
                dhcp_client_handle_dhcp(&c, 1001, f.payload, f.len);
                dhcp_client_tick(&c, dhcp_client_next(&c));
                dhcp_client_handle_arp(&c, 1002, f.payload, f.len);
        }
        return 0;
}
