/* SPDX-License-Identifier: Apache-2.0 */
#include "ifchoice.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *if_reason_name(enum if_reason r)
{
        switch (r) {
        case IF_BY_BOOTIF:
                return "BOOTIF names its MAC";
        case IF_BY_NAME:
                return "ember.ifname names it";
        case IF_BY_CARRIER:
                return "first interface with carrier";
        }
        return "?";
}

int if_choose(const struct link_info *links, size_t n, const uint8_t *bootif, const char *ifname,
              enum if_reason *ret_reason)
{
        /* An explicit choice that is absent is an error, never a silent
         * fallback to another interface. */
        if (bootif) {
                for (size_t i = 0; i < n; i++)
                        if (!links[i].loopback && memcmp(links[i].mac, bootif, 6) == 0)
                                return *ret_reason = IF_BY_BOOTIF, (int)i;
                return -ENODEV;
        }
        if (ifname) {
                for (size_t i = 0; i < n; i++)
                        if (streq(links[i].name, ifname))
                                return *ret_reason = IF_BY_NAME, (int)i;
                return -ENODEV;
        }
        bool any = false;
        for (size_t i = 0; i < n; i++) {
                if (links[i].loopback)
                        continue;
                any = true;
                if (links[i].carrier)
                        return *ret_reason = IF_BY_CARRIER, (int)i;
        }
        return any ? -EAGAIN : -ENODEV;
}

static bool valid_name(const char *s, size_t n)
{
        if (n == 0 || n > 15)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] == '/' || s[i] == ':' || !isgraph((unsigned char)s[i]))
                        return false;
        return true;
}

static int vlan_id(const char *name, uint16_t *ret)
{
        const char *dot = strrchr(name, '.');
        const char *digits = dot ? dot + 1 : startswith(name, "vlan");
        char *end;
        if (!digits || !isdigit((unsigned char)*digits))
                return -EINVAL;
        unsigned long v = strtoul(digits, &end, 10);
        if (*end || v < 1 || v > 4094)
                return -EINVAL;
        *ret = (uint16_t)v;
        return 0;
}

int vlan_parse(const char *s, struct vlan_spec *ret)
{
        struct vlan_spec v = { .id = 0 };
        const char *colon = s ? strchr(s, ':') : NULL;
        if (!colon || strchr(colon + 1, ':'))
                return -EINVAL;
        size_t nl = (size_t)(colon - s), pl = strlen(colon + 1);
        if (!valid_name(s, nl) || !valid_name(colon + 1, pl))
                return -EINVAL;
        memcpy(v.name, s, nl);
        memcpy(v.parent, colon + 1, pl);
        if (streq(v.name, v.parent) || vlan_id(v.name, &v.id) < 0)
                return -EINVAL;
        *ret = v;
        return 0;
}
