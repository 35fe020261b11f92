/* SPDX-License-Identifier: Apache-2.0 */
#include "netconf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

bool netconf_name_ok(const char *s)
{
        if (!s || !*s || strlen(s) > DHCP_NAME_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '-' || *p == '.' || *p == '_'))
                        return false;
        return true;
}

int netconf_write_resolv(const char *path, const char *ifname, const char *domain, const uint32_t *dns, size_t n)
{
        char tmp[4096], text[1024], a[DHCP_ADDR_STRLEN];
        size_t off = 0;
        off += (size_t)snprintf(text + off, sizeof(text) - off, "# written by Ember from the network configuration of %s\n",
                                ifname);
        if (domain && *domain && netconf_name_ok(domain))
                off += (size_t)snprintf(text + off, sizeof(text) - off, "search %s\n", domain);
        for (size_t i = 0; i < n && i < NETCONF_MAX_NS; i++)
                off += (size_t)snprintf(text + off, sizeof(text) - off, "nameserver %s\n", dhcp_addr_str(dns[i], a));
        if (off >= sizeof(text))
                return -E2BIG;
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.ember-tmp", path) >= sizeof(tmp))
                return -ENAMETOOLONG;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return negative_errno();
        if (write(fd, text, off) != (ssize_t)off || fsync(fd) < 0) {
                int r = errno ? -errno : -EIO;
                unlink(tmp);
                return r;
        }
        if (rename(tmp, path) < 0) {
                int r = negative_errno();
                unlink(tmp);
                return r;
        }
        return 0;
}

static bool routes_equal(const struct dhcp_lease *a, const struct dhcp_lease *b)
{
        if (!a || a->n_routes != b->n_routes || a->addr != b->addr)
                return false;
        for (size_t i = 0; i < a->n_routes; i++)
                if (a->routes[i].dest != b->routes[i].dest || a->routes[i].prefix != b->routes[i].prefix ||
                    a->routes[i].router != b->routes[i].router)
                        return false;
        return true;
}

static int apply_routes(const struct netconf *nc, const struct dhcp_lease *l)
{
        char d[DHCP_ADDR_STRLEN], g[DHCP_ADDR_STRLEN];
        int r = nl_route_flush(nc->nl, nc->ifindex, RTPROT_DHCP);
        if (r < 0)
                log_warn("network", "removing old DHCP routes on %s failed: %s, continuing", nc->ifname, strerror(-r));
        /* on-link routes first: a gateway must be reachable before a route uses it */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < l->n_routes; i++) {
                        const struct dhcp_route *rt = &l->routes[i];
                        if ((pass == 0) != (rt->router == 0))
                                continue;
                        r = nl_route_add(nc->nl, nc->ifindex, rt->dest, rt->prefix, rt->router, l->addr,
                                         NETCONF_ROUTE_METRIC);
                        dhcp_addr_str(rt->dest, d);
                        if (r < 0)
                                return log_err("network", "adding route %s/%u via %s on %s failed: %s", d, rt->prefix,
                                               rt->router ? dhcp_addr_str(rt->router, g) : "link", nc->ifname,
                                               strerror(-r)),
                                       r;
                        log_info("network", "route %s/%u via %s%s", d, rt->prefix,
                                 rt->router ? dhcp_addr_str(rt->router, g) : "link (on-link)",
                                 l->classless ? " (classless, RFC 3442)" : "");
                }
        return 0;
}

static void apply_hostname(const struct netconf *nc, const char *name, const char *source)
{
        char esc[80];
        if (!nc->set_hostname || !name || !*name)
                return;
        if (!netconf_name_ok(name) || strlen(name) > 64)
                return log_warn("network", "hostname \"%s\" from %s is not a valid host name, ignoring",
                                log_escape(name, esc, sizeof(esc)), source);
        if (sethostname(name, strlen(name)) < 0)
                return log_warn("network", "setting the hostname failed: %m, continuing");
        log_info("network", "hostname %s (from %s)", name, source);
}

static void apply_resolv(const struct netconf *nc, const char *domain, const uint32_t *dns, size_t n)
{
        if (!nc->resolv_conf || n == 0)
                return;
        if (n > NETCONF_MAX_NS)
                log_warn("network", "%zu DNS servers offered, resolvers read only the first %d, ignoring the rest", n,
                         NETCONF_MAX_NS);
        if (domain && *domain && !netconf_name_ok(domain)) {
                char esc[80];
                log_warn("network", "search domain \"%s\" is not a valid name, ignoring",
                         log_escape(domain, esc, sizeof(esc)));
        }
        int r = netconf_write_resolv(nc->resolv_conf, nc->ifname, domain, dns, n);
        if (r < 0)
                log_err("network", "writing %s failed: %s", nc->resolv_conf, strerror(-r));
        else
                log_debug("network", "wrote %s", nc->resolv_conf);
}

int netconf_apply_lease(const struct netconf *nc, const struct dhcp_lease *old, const struct dhcp_lease *l,
                        unsigned long long now)
{
        uint32_t left = dhcp_lease_remaining(l, now);
        char a[DHCP_ADDR_STRLEN];
        int r = nl_addr_add(nc->nl, nc->ifindex, l->addr, l->prefix, left, left);
        if (r < 0)
                return log_err("network", "adding %s/%u to %s failed: %s", dhcp_addr_str(l->addr, a), l->prefix,
                               nc->ifname, strerror(-r)),
                       r;
        if (l->mtu && (!old || old->mtu != l->mtu)) {
                r = nl_link_set_mtu(nc->nl, nc->ifindex, l->mtu);
                if (r < 0)
                        log_warn("network", "setting MTU %u on %s failed: %s, continuing", l->mtu, nc->ifname,
                                 strerror(-r));
                else
                        log_info("network", "MTU %u on %s", l->mtu, nc->ifname);
        }
        if (!routes_equal(old, l)) {
                r = apply_routes(nc, l);
                if (r < 0)
                        return r;
        }
        if (!old) {
                apply_resolv(nc, l->domain, l->dns.a, l->dns.n);
                apply_hostname(nc, nc->hostname_override ? nc->hostname_override : l->hostname,
                               nc->hostname_override ? "ip=" : "DHCP");
        } else if (old->dns.n != l->dns.n || memcmp(old->dns.a, l->dns.a, sizeof(l->dns.a[0]) * l->dns.n) != 0 ||
                   strcmp(old->domain, l->domain) != 0) {
                apply_resolv(nc, l->domain, l->dns.a, l->dns.n);
        }
        return 0;
}

int netconf_remove_lease(const struct netconf *nc, const struct dhcp_lease *l)
{
        char a[DHCP_ADDR_STRLEN];
        int r = nl_route_flush(nc->nl, nc->ifindex, RTPROT_DHCP);
        if (r < 0)
                log_warn("network", "removing DHCP routes on %s failed: %s", nc->ifname, strerror(-r));
        r = nl_addr_del(nc->nl, nc->ifindex, l->addr, l->prefix);
        if (r < 0 && r != -EADDRNOTAVAIL)
                return log_err("network", "removing %s/%u from %s failed: %s", dhcp_addr_str(l->addr, a), l->prefix,
                               nc->ifname, strerror(-r)),
                       r;
        log_info("network", "removed %s/%u from %s", dhcp_addr_str(l->addr, a), l->prefix, nc->ifname);
        return 0;
}

int netconf_apply_static(const struct netconf *nc, const struct ip_config *ip)
{
        char a[DHCP_ADDR_STRLEN], g[DHCP_ADDR_STRLEN];
        unsigned prefix = ip->prefix ? ip->prefix : 24;
        if (!ip->prefix)
                log_warn("network", "ip= gives no netmask: using /24");
        int r = nl_addr_add(nc->nl, nc->ifindex, ip->client, prefix, UINT32_MAX, UINT32_MAX);
        if (r < 0)
                return log_err("network", "adding %s/%u to %s failed: %s", dhcp_addr_str(ip->client, a), prefix,
                               nc->ifname, strerror(-r)),
                       r;
        log_info("network", "static address %s/%u on %s (ip=)", dhcp_addr_str(ip->client, a), prefix, nc->ifname);
        if (ip->gateway) {
                r = nl_route_add(nc->nl, nc->ifindex, 0, 0, ip->gateway, ip->client, NETCONF_ROUTE_METRIC);
                if (r < 0)
                        return log_err("network", "adding the default route via %s failed: %s",
                                       dhcp_addr_str(ip->gateway, g), strerror(-r)),
                               r;
                log_info("network", "route 0.0.0.0/0 via %s", dhcp_addr_str(ip->gateway, g));
        }
        uint32_t dns[2];
        size_t n = 0;
        for (size_t i = 0; i < 2; i++)
                if (ip->dns[i])
                        dns[n++] = ip->dns[i];
        apply_resolv(nc, NULL, dns, n);
        apply_hostname(nc, ip->hostname, "ip=");
        return 0;
}
