/* SPDX-License-Identifier: Apache-2.0 */
/* Interface configuration over rtnetlink (NETLINK_ROUTE): list links, bring
 * them up, set the MTU, add VLANs, IPv4 addresses and routes. No logging:
 * callers name the action and the object.
 *
 * Addresses are uint32_t in host byte order everywhere in this module.
 * Every function returns 0 (nl_route_flush: a count) or a negative errno;
 * the kernel's own error (NLMSG_ERROR) is passed through unchanged, e.g.
 *   -ENODEV         no link with that index (or name),
 *   -EEXIST         a link of that name exists and is something else,
 *   -EADDRNOTAVAIL  nl_addr_del of an address the link does not have,
 *   -EOPNOTSUPP     a link kind the kernel does not know (no 8021q).
 * Module errors of its own:
 *   -EINVAL     bad arguments (NULL, ifindex <= 0, prefix > 32, ...);
 *   -E2BIG      a list has more entries than the caller's array holds: the
 *               whole call fails rather than return a silently shortened
 *               list (a BOOTIF match could be among the missing ones);
 *   -EBADMSG    a reply that breaks netlink's framing or carries attributes
 *               of the wrong size (replies are read as untrusted bytes);
 *   -EMSGSIZE   a reply datagram larger than the receive buffer;
 *   -EAGAIN     a dump was interrupted by concurrent changes three times;
 *   -ETIMEDOUT  the kernel did not answer within NL_TIMEOUT_S.
 * Output arrays are scratch until a call succeeds; ret_ values are written
 * only on success. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ifchoice.h"

#define NL_TIMEOUT_S 5
#define NL_FOREVER UINT32_MAX /* an address lifetime that never ends */

#define NL_CLOSED { .fd = -1 }
struct nl {
        int fd;
        unsigned seq;
        unsigned portid;
        uint8_t *buf; /* receive buffer, allocated once by nl_open */
        size_t buflen;
};

/* A NETLINK_ROUTE socket (CLOEXEC) with a receive buffer large enough for
 * any dump datagram. *nl is written only on success. */
int nl_open(struct nl *nl);
/* Leaves *nl closed (NL_CLOSED). Accepts one that is already closed or
 * zeroed, so it also serves as a cleanup handler. */
void nl_close(struct nl *nl);
#define _cleanup_nl_ __attribute__((cleanup(nl_close)))

/* Every link. carrier is IFF_LOWER_UP or IFLA_CARRIER, loopback is
 * IFF_LOOPBACK, up is IFF_UP; mac stays zero unless IFLA_ADDRESS has six
 * bytes. More than max links: -E2BIG. */
int nl_links(struct nl *nl, struct link_info *links, size_t max, size_t *ret_n);
/* -ENODEV when no link has that name. */
int nl_link_get(struct nl *nl, const char *name, struct link_info *ret);
int nl_link_set_up(struct nl *nl, int ifindex);
int nl_link_set_mtu(struct nl *nl, int ifindex, unsigned mtu);

/* An 802.1Q link 'name' on the parent with VLAN id 1..4094. A link of that
 * name that already is exactly that VLAN is success (idempotent); any other
 * link of that name is -EEXIST. */
int nl_vlan_add(struct nl *nl, int parent_ifindex, const char *name, uint16_t id);

/* Adds or replaces addr/prefix (broadcast derived from the prefix, none for
 * /31 and /32) with the given lifetimes in seconds (NL_FOREVER: permanent;
 * valid >= 1, preferred <= valid). Adding an address the link already has
 * updates its lifetimes: that is how a renewed lease extends it. The kernel
 * adds the prefix route (protocol kernel) itself. */
int nl_addr_add(struct nl *nl, int ifindex, uint32_t addr, unsigned prefix, uint32_t valid_s,
                uint32_t preferred_s);
/* -EADDRNOTAVAIL (from the kernel) when the link does not have it. */
int nl_addr_del(struct nl *nl, int ifindex, uint32_t addr, unsigned prefix);

struct nl_addr {
        uint32_t addr;
        unsigned prefix;
        uint32_t valid_s, preferred_s; /* remaining; NL_FOREVER when permanent */
};
/* The IPv4 addresses of one link (ifindex 0: of every link). -ENODEV for a
 * link that does not exist. */
int nl_addr_list(struct nl *nl, int ifindex, struct nl_addr *out, size_t max, size_t *ret_n);

/* Adds or replaces dest/prefix in the main table with protocol DHCP: via
 * gateway (scope universe), or on-link when gateway is 0 (scope link).
 * prefsrc 0: none. metric 0 is the kernel's default priority. A link that
 * does not exist is -ENODEV, except via a gateway: the kernel looks for the
 * gateway's net first and answers -ENETUNREACH. */
int nl_route_add(struct nl *nl, int ifindex, uint32_t dest, unsigned prefix, uint32_t gateway,
                 uint32_t prefsrc, unsigned metric);

struct nl_route {
        uint32_t dest;
        unsigned prefix;
        uint32_t gateway; /* 0: on-link */
        uint32_t prefsrc; /* 0: none */
        unsigned metric;
        unsigned char protocol; /* RTPROT_* */
        int ifindex;
};
/* The unicast IPv4 routes of the main table through one link (ifindex 0:
 * through any). Multipath routes are not reported. -ENODEV for a link that
 * does not exist. */
int nl_route_list(struct nl *nl, int ifindex, struct nl_route *out, size_t max, size_t *ret_n);
/* Deletes every route nl_route_list reports for that link with that
 * protocol; returns how many it deleted. */
int nl_route_flush(struct nl *nl, int ifindex, unsigned char protocol);

/* The parser behind nl_links/nl_link_get, exposed for tests: one
 * RTM_NEWLINK payload (struct ifinfomsg and attributes). kind is "" when
 * the link has no IFLA_INFO_KIND; vlan_id is 0 unless it is a VLAN. */
struct nl_link {
        struct link_info info;
        int parent_ifindex; /* IFLA_LINK, 0 when absent */
        char kind[16];
        uint16_t vlan_id;
        uint16_t vlan_proto; /* ETH_P_8021Q or ETH_P_8021AD; 0 when absent */
};
int nl_link_parse(const void *payload, size_t len, struct nl_link *ret);
