/* SPDX-License-Identifier: Apache-2.0 */
/* Which interface the network stage configures: BOOTIF's MAC, else
 * ember.ifname, else the first with carrier. Pure: the caller lists the
 * links (rtnetlink) and logs the reason. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct link_info {
        char name[16];
        uint8_t mac[6];
        bool loopback;
        bool carrier;
        int ifindex; /* filled by init/netdev.c */
        unsigned mtu;
        bool up;     /* IFF_UP */
};

enum if_reason { IF_BY_BOOTIF, IF_BY_NAME, IF_BY_CARRIER };

/* Returns the index into links[], or -ENODEV (nothing matches: the named
 * one or the MAC is absent) / -EAGAIN (no carrier yet: ask again after the
 * link settles). */
int if_choose(const struct link_info *links, size_t n, const uint8_t *bootif, const char *ifname,
              enum if_reason *ret_reason);
const char *if_reason_name(enum if_reason r);

/* dracut's vlan=<name>:<parent>, e.g. vlan=eth0.42:eth0 or vlan=vlan42:eth0.
 * The VLAN id is the number after the last '.' or after "vlan". */
struct vlan_spec {
        char name[16];
        char parent[16];
        uint16_t id;
};
int vlan_parse(const char *s, struct vlan_spec *ret);
