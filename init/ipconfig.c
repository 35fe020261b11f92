/* SPDX-License-Identifier: Apache-2.0 */
#include "ipconfig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define IP_FIELDS 9

static const char *const field_names[IP_FIELDS] = {
        "client address", "server address", "gateway", "netmask", "hostname",
        "device",         "autoconf method", "dns0",   "dns1",
};

static int parse_method(const char *s, enum ip_method *ret)
{
        static const char *const dhcp[] = { "dhcp", "on", "any", "both", "bootp", "dhcp4" };
        for (size_t i = 0; i < ELEMENTSOF(dhcp); i++)
                if (streq(s, dhcp[i])) {
                        *ret = IP_METHOD_DHCP;
                        return 0;
                }
        if (streq(s, "off") || streq(s, "none") || streq(s, "")) {
                *ret = IP_METHOD_STATIC;
                return 0;
        }
        return -EINVAL;
}

static int parse_addr(const char *s, uint32_t *ret)
{
        struct in_addr a;
        if (!*s) {
                *ret = 0;
                return 0;
        }
        if (inet_pton(AF_INET, s, &a) != 1)
                return -EINVAL;
        *ret = ntohl(a.s_addr);
        return 0;
}

static int mask_prefix(uint32_t mask)
{
        unsigned p = 0;
        while (p < 32 && (mask & (0x80000000u >> p)))
                p++;
        return p < 32 && (mask << p) != 0 ? -EINVAL : (int)p;
}

static bool valid_hostname(const char *s)
{
        size_t label = 0;
        for (; *s; s++) {
                if (*s == '.') {
                        if (label == 0)
                                return false;
                        label = 0;
                } else if (isalnum((unsigned char)*s) || *s == '-') {
                        if (++label > 63)
                                return false;
                } else
                        return false;
        }
        return true;
}

/* Splits at ':' into at most IP_FIELDS fields (kept in place in buf). */
static int split_fields(char *buf, char *fields[IP_FIELDS])
{
        int n = 0;
        char *p = buf;
        for (;;) {
                if (n == IP_FIELDS)
                        return -E2BIG;
                fields[n++] = p;
                char *c = strchr(p, ':');
                if (!c)
                        break;
                *c = '\0';
                p = c + 1;
        }
        for (int i = n; i < IP_FIELDS; i++)
                fields[i] = (char *)"";
        return n;
}

static int check_static(struct ip_config *c, char *why, size_t whylen)
{
        if (c->method != IP_METHOD_STATIC)
                return 0;
        if (!c->client)
                return snprintf(why, whylen, "static configuration without a client address"), -EINVAL;
        if (c->netmask && c->gateway && (c->gateway & c->netmask) != (c->client & c->netmask))
                return snprintf(why, whylen, "gateway outside the client's subnet"), -EINVAL;
        return 0;
}

int ip_config_parse(const char *s, struct ip_config *ret, char *why, size_t whylen)
{
        char buf[512];
        char *f[IP_FIELDS];
        struct ip_config c = { .method = IP_METHOD_DHCP };

        if (!s || strlen(s) >= sizeof(buf))
                return snprintf(why, whylen, "empty or longer than %zu characters", sizeof(buf) - 1), -EINVAL;
        strcpy(buf, s);
        int n = split_fields(buf, f);
        if (n < 0)
                return snprintf(why, whylen, "more than %d ':'-separated fields", IP_FIELDS), -EINVAL;
        if (n == 1) { /* ip=dhcp */
                if (parse_method(f[0], &c.method) < 0 || c.method != IP_METHOD_DHCP)
                        return snprintf(why, whylen, "unknown method '%.32s' (a lone method must be dhcp)", f[0]),
                               -EINVAL;
                *ret = c;
                return 0;
        }

        uint32_t *addrs[] = { &c.client, &c.server, &c.gateway, &c.netmask };
        for (int i = 0; i < 4; i++)
                if (parse_addr(f[i], addrs[i]) < 0)
                        return snprintf(why, whylen, "%s '%.32s' is not an IPv4 address", field_names[i], f[i]), -EINVAL;
        if (c.netmask) {
                int p = mask_prefix(c.netmask);
                if (p < 0)
                        return snprintf(why, whylen, "netmask '%.32s' is not contiguous", f[3]), -EINVAL;
                c.prefix = (unsigned)p;
        }
        if (strlen(f[4]) >= sizeof(c.hostname) || !valid_hostname(f[4]))
                return snprintf(why, whylen, "hostname is not a valid host name"), -EINVAL;
        if (strlen(f[5]) >= sizeof(c.device) || strchr(f[5], '/'))
                return snprintf(why, whylen, "device is not a valid interface name"), -EINVAL;
        strcpy(c.hostname, f[4]);
        strcpy(c.device, f[5]);
        if (parse_method(f[6], &c.method) < 0)
                return snprintf(why, whylen, "unknown autoconf method '%.32s'", f[6]), -EINVAL;
        for (int i = 0; i < 2; i++)
                if (parse_addr(f[7 + i], &c.dns[i]) < 0)
                        return snprintf(why, whylen, "%s '%.32s' is not an IPv4 address", field_names[7 + i], f[7 + i]),
                               -EINVAL;
        int r = check_static(&c, why, whylen);
        if (r < 0)
                return r;
        *ret = c;
        return 0;
}
