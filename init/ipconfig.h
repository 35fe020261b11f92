/* SPDX-License-Identifier: Apache-2.0 */
/* The kernel's ip= parameter (Documentation/admin-guide/nfs/nfsroot.rst):
 *   ip=<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>:<dns0>:<dns1>
 * or a lone method (ip=dhcp). Parsing only: the network stage applies it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ip_method {
        IP_METHOD_DHCP,   /* dhcp, on, any, both, bootp: Ember only speaks DHCP */
        IP_METHOD_STATIC, /* off, none, or empty with a client address */
};

struct ip_config {
        enum ip_method method;
        uint32_t client, server, gateway, netmask; /* host order, 0: unset */
        char hostname[64];
        char device[16];
        uint32_t dns[2];
        unsigned prefix; /* from netmask; 0 when no netmask */
};

/* Fills *ret on success. -EINVAL with why naming the field. An empty
 * autoconf field with a client address means static (as dracut reads it). */
int ip_config_parse(const char *s, struct ip_config *ret, char *why, size_t whylen);
