/* SPDX-License-Identifier: Apache-2.0 */
/* Puts what DHCP or ip= said into the kernel and /etc: the address with the
 * lease's lifetime, routes, MTU (rtnetlink, netdev.h), resolv.conf and the
 * hostname. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "dhcp_client.h"
#include "ipconfig.h"
#include "netdev.h"

#define NETCONF_ROUTE_METRIC 1024 /* below any static route an operator adds */
#define NETCONF_MAX_NS 3          /* what libc resolvers read (MAXNS) */

struct netconf {
        struct nl *nl;
        int ifindex;
        char ifname[16];
        const char *resolv_conf; /* NULL: leave it alone */
        bool set_hostname;
        const char *hostname_override; /* ip='s hostname wins over DHCP's */
};

/* A new lease (renewed = same address, new lifetimes/options). old may be
 * NULL; when its routes equal the new ones they are left untouched. */
int netconf_apply_lease(const struct netconf *nc, const struct dhcp_lease *old, const struct dhcp_lease *l,
                        unsigned long long now_ms);
/* The lease is gone: its address and DHCP routes are removed. */
int netconf_remove_lease(const struct netconf *nc, const struct dhcp_lease *l);
/* ip=<client>:…: address, gateway, DNS and hostname without lifetime. */
int netconf_apply_static(const struct netconf *nc, const struct ip_config *ip);

/* resolv.conf text for these servers and search domain (written
 * atomically). Names from the network are checked again here: only
 * letters, digits, '-', '.' and '_' reach the file. */
int netconf_write_resolv(const char *path, const char *ifname, const char *domain, const uint32_t *dns, size_t n);
bool netconf_name_ok(const char *s);
