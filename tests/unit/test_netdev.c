/* SPDX-License-Identifier: Apache-2.0 */
/* init/netdev.c against the real kernel, in a network namespace of the
 * test's own (so the host's network is never touched); `ip` only sets up
 * links and routes that netdev must then see. The parser is also fed
 * messages built here, well-formed and broken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sched.h>

#include "netdev.h"
#include "util.h"

#define A(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define NO_LINK 99999

static struct nl nl = NL_CLOSED;

static int sh(const char *cmd)
{
        int r = system(cmd);
        if (r != 0)
                print_error("'%s' failed (%d)\n", cmd, r);
        return r;
}

static int ifindex_of(const char *name)
{
        struct link_info l;
        assert_int_equal(nl_link_get(&nl, name, &l), 0);
        return l.ifindex;
}

static int group_setup(void **state)
{
        if (nl_open(&nl) < 0)
                return -1;
        return sh("ip link add ve0 type veth peer name ve1") == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
        nl_close(&nl);
        nl_close(&nl); /* closing twice is harmless */
        return 0;
}

static const struct link_info *find_link(const struct link_info *l, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (streq(l[i].name, name))
                        return &l[i];
        return NULL;
}

static void test_loopback(void **state)
{
        struct link_info lo, links[16];
        size_t n = 0;
        static const uint8_t zero[6];
        assert_int_equal(nl_link_get(&nl, "lo", &lo), 0);
        assert_true(lo.loopback);
        assert_int_equal(lo.ifindex, 1);
        assert_int_equal(lo.mtu, 65536);
        assert_memory_equal(lo.mac, zero, 6);
        assert_int_equal(nl_links(&nl, links, ELEMENTSOF(links), &n), 0);
        const struct link_info *l = find_link(links, n, "lo");
        assert_non_null(l);
        assert_true(l->loopback);
}

static void test_veth_listed(void **state)
{
        struct link_info links[16], ve0, ve1;
        static const uint8_t zero[6];
        size_t n = 0;
        assert_int_equal(nl_links(&nl, links, ELEMENTSOF(links), &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(nl_link_get(&nl, "ve0", &ve0), 0);
        assert_int_equal(nl_link_get(&nl, "ve1", &ve1), 0);
        const struct link_info *l0 = find_link(links, n, "ve0"), *l1 = find_link(links, n, "ve1");
        assert_non_null(l0);
        assert_non_null(l1);
        assert_memory_equal(l0, &ve0, sizeof(ve0));
        assert_memory_equal(l1, &ve1, sizeof(ve1));
        assert_false(ve0.loopback);
        assert_memory_not_equal(ve0.mac, zero, 6);
        assert_memory_not_equal(ve1.mac, zero, 6);
        assert_memory_not_equal(ve0.mac, ve1.mac, 6);
        assert_int_equal(ve0.mac[0] & 1, 0); /* unicast */
        assert_int_not_equal(ve0.ifindex, ve1.ifindex);

        /* no silently shortened list, and no count on failure */
        n = 77;
        assert_int_equal(nl_links(&nl, links, 2, &n), -E2BIG);
        assert_int_equal(n, 77);
        assert_int_equal(nl_links(&nl, NULL, 0, &n), -E2BIG);
        assert_int_equal(nl_links(&nl, NULL, 4, &n), -EINVAL);
}

static void test_up_and_mtu(void **state)
{
        struct link_info l;
        int ve0 = ifindex_of("ve0"), ve1 = ifindex_of("ve1");
        assert_int_equal(nl_link_set_up(&nl, ve0), 0);
        assert_int_equal(nl_link_get(&nl, "ve0", &l), 0);
        assert_true(l.up);
        assert_false(l.carrier); /* its peer is still down */
        assert_int_equal(nl_link_set_up(&nl, ve1), 0);
        assert_int_equal(nl_link_set_up(&nl, ve1), 0); /* idempotent */
        assert_int_equal(nl_link_get(&nl, "ve0", &l), 0);
        assert_true(l.carrier);

        assert_int_equal(l.mtu, 1500);
        assert_int_equal(nl_link_set_mtu(&nl, ve0, 1400), 0);
        assert_int_equal(nl_link_get(&nl, "ve0", &l), 0);
        assert_int_equal(l.mtu, 1400);
        assert_int_equal(nl_link_set_mtu(&nl, ve0, 1500), 0);
        assert_int_equal(nl_link_set_mtu(&nl, ve0, 0), -EINVAL);
        assert_int_equal(nl_link_set_mtu(&nl, ve0, 10), -EINVAL); /* the kernel's word: below 68 */
}

static void test_vlan(void **state)
{
        int ve0 = ifindex_of("ve0"), ve1 = ifindex_of("ve1");
        /* a name taken by something that is not this VLAN */
        assert_int_equal(nl_vlan_add(&nl, ve0, "ve1", 7), -EEXIST);
        assert_int_equal(nl_vlan_add(&nl, ve0, "ve0.7", 0), -EINVAL);
        assert_int_equal(nl_vlan_add(&nl, ve0, "ve0.7", 4095), -EINVAL);
        assert_int_equal(nl_vlan_add(&nl, ve0, "averyverylongname", 7), -EINVAL);

        int r = nl_vlan_add(&nl, ve0, "ve0.7", 7);
        if (r == -EOPNOTSUPP) {
                /* this kernel has no 8021q: nl_link_parse's test covers
                 * reading VLANs back */
                print_message("no 8021q in this kernel: VLAN creation not tested\n");
                skip();
        }
        assert_int_equal(r, 0);
        struct link_info l;
        assert_int_equal(nl_link_get(&nl, "ve0.7", &l), 0);
        assert_int_not_equal(l.ifindex, ve0);
        assert_int_equal(nl_vlan_add(&nl, ve0, "ve0.7", 7), 0);       /* already there */
        assert_int_equal(nl_vlan_add(&nl, ve0, "ve0.7", 8), -EEXIST); /* another id */
        assert_int_equal(nl_vlan_add(&nl, ve1, "ve0.7", 7), -EEXIST); /* another parent */
}

static const struct nl_addr *find_addr(const struct nl_addr *a, size_t n, uint32_t addr)
{
        for (size_t i = 0; i < n; i++)
                if (a[i].addr == addr)
                        return &a[i];
        return NULL;
}

static const struct nl_addr *get_addr(int ifindex, uint32_t addr)
{
        static struct nl_addr a[8];
        size_t n = 0;
        assert_int_equal(nl_addr_list(&nl, ifindex, a, ELEMENTSOF(a), &n), 0);
        return find_addr(a, n, addr);
}

static void assert_lifetimes(const struct nl_addr *a, uint32_t valid, uint32_t preferred)
{
        assert_non_null(a);
        assert_in_range(a->valid_s, valid - 5, valid);
        assert_in_range(a->preferred_s, preferred - 5, preferred);
}

static void test_addr_lifetimes(void **state)
{
        int ve0 = ifindex_of("ve0");
        const uint32_t ip = A(10, 77, 0, 2);
        const struct nl_addr *a;

        assert_int_equal(nl_addr_add(&nl, ve0, ip, 24, 120, 60), 0);
        a = get_addr(ve0, ip);
        assert_lifetimes(a, 120, 60);
        assert_int_equal(a->prefix, 24);
        assert_non_null(get_addr(0, ip)); /* every link */
        assert_null(get_addr(ifindex_of("ve1"), ip));

        /* a renewed lease extends the same address */
        assert_int_equal(nl_addr_add(&nl, ve0, ip, 24, 600, 300), 0);
        assert_lifetimes(get_addr(ve0, ip), 600, 300);
        assert_int_equal(nl_addr_add(&nl, ve0, ip, 24, NL_FOREVER, NL_FOREVER), 0);
        a = get_addr(ve0, ip);
        assert_non_null(a);
        assert_int_equal(a->valid_s, NL_FOREVER);
        assert_int_equal(a->preferred_s, NL_FOREVER);
        struct nl_addr list[4];
        size_t n = 0;
        assert_int_equal(nl_addr_list(&nl, ve0, list, ELEMENTSOF(list), &n), 0);
        assert_int_equal(n, 1);

        /* a /32 (no broadcast) beside it; then too many for the array */
        assert_int_equal(nl_addr_add(&nl, ve0, A(10, 78, 0, 9), 32, 100, 100), 0);
        assert_lifetimes(get_addr(ve0, A(10, 78, 0, 9)), 100, 100);
        n = 5;
        assert_int_equal(nl_addr_list(&nl, ve0, list, 1, &n), -E2BIG);
        assert_int_equal(n, 5);
        assert_int_equal(nl_addr_del(&nl, ve0, A(10, 78, 0, 9), 32), 0);

        assert_int_equal(nl_addr_add(&nl, ve0, ip, 24, 10, 20), -EINVAL); /* preferred > valid */
        assert_int_equal(nl_addr_add(&nl, ve0, ip, 24, 0, 0), -EINVAL);
        assert_int_equal(nl_addr_add(&nl, ve0, ip, 33, 10, 10), -EINVAL);
        assert_int_equal(nl_addr_add(&nl, ve0, 0, 24, 10, 10), -EINVAL);
}

static void test_addr_del(void **state)
{
        int ve0 = ifindex_of("ve0");
        const uint32_t ip = A(10, 79, 0, 5);
        assert_int_equal(nl_addr_add(&nl, ve0, ip, 16, 300, 300), 0);
        assert_non_null(get_addr(ve0, ip));
        assert_int_equal(nl_addr_del(&nl, ve0, ip, 24), -EADDRNOTAVAIL); /* not with that prefix */
        assert_int_equal(nl_addr_del(&nl, ve0, ip, 16), 0);
        assert_null(get_addr(ve0, ip));
        assert_int_equal(nl_addr_del(&nl, ve0, ip, 16), -EADDRNOTAVAIL);
}

static const struct nl_route *find_route(const struct nl_route *r, size_t n, uint32_t dest, unsigned prefix)
{
        const struct nl_route *found = NULL;
        for (size_t i = 0; i < n; i++)
                if (r[i].dest == dest && r[i].prefix == prefix) {
                        assert_null(found); /* exactly one */
                        found = &r[i];
                }
        return found;
}

static void test_routes(void **state)
{
        int ve0 = ifindex_of("ve0");
        const uint32_t ip = A(10, 77, 0, 2), gw = A(10, 77, 0, 1);
        struct nl_route r[32];
        const struct nl_route *rt;
        size_t n = 0;

        assert_int_equal(nl_link_set_up(&nl, ve0), 0);
        assert_int_equal(nl_addr_add(&nl, ve0, ip, 24, NL_FOREVER, NL_FOREVER), 0);
        assert_int_equal(sh("ip route add 10.88.0.0/16 dev ve0"), 0); /* protocol boot */
        assert_int_equal(nl_route_add(&nl, ve0, 0, 0, gw, ip, 100), 0);
        assert_int_equal(nl_route_add(&nl, ve0, 0, 0, gw, ip, 100), 0); /* replaced, not doubled */
        assert_int_equal(nl_route_add(&nl, ve0, A(10, 99, 0, 0), 24, 0, 0, 50), 0);

        assert_int_equal(nl_route_list(&nl, ve0, r, ELEMENTSOF(r), &n), 0);
        assert_int_equal(n, 4);
        rt = find_route(r, n, 0, 0);
        assert_non_null(rt);
        assert_int_equal(rt->gateway, gw);
        assert_int_equal(rt->prefsrc, ip);
        assert_int_equal(rt->metric, 100);
        assert_int_equal(rt->protocol, RTPROT_DHCP);
        assert_int_equal(rt->ifindex, ve0);
        rt = find_route(r, n, A(10, 99, 0, 0), 24);
        assert_non_null(rt);
        assert_int_equal(rt->gateway, 0);
        assert_int_equal(rt->prefsrc, 0);
        assert_int_equal(rt->metric, 50);
        assert_int_equal(rt->protocol, RTPROT_DHCP);
        rt = find_route(r, n, A(10, 77, 0, 0), 24); /* the address's prefix route */
        assert_non_null(rt);
        assert_int_equal(rt->protocol, RTPROT_KERNEL);
        assert_int_equal(rt->prefsrc, ip);
        rt = find_route(r, n, A(10, 88, 0, 0), 16);
        assert_non_null(rt);
        assert_int_equal(rt->protocol, RTPROT_BOOT);
        n = 9;
        assert_int_equal(nl_route_list(&nl, ve0, r, 3, &n), -E2BIG);
        assert_int_equal(n, 9);

        /* host bits past the prefix; a gateway no connected net reaches */
        assert_int_equal(nl_route_add(&nl, ve0, A(10, 99, 0, 1), 24, 0, 0, 0), -EINVAL);
        assert_int_equal(nl_route_add(&nl, ve0, A(10, 98, 0, 0), 24, A(192, 0, 2, 1), 0, 0), -ENETUNREACH);

        assert_int_equal(nl_route_flush(&nl, ve0, RTPROT_DHCP), 2);
        assert_int_equal(nl_route_list(&nl, ve0, r, ELEMENTSOF(r), &n), 0);
        assert_int_equal(n, 2);
        assert_non_null(find_route(r, n, A(10, 77, 0, 0), 24));
        assert_non_null(find_route(r, n, A(10, 88, 0, 0), 16));
        assert_int_equal(nl_route_flush(&nl, ve0, RTPROT_DHCP), 0);
}

/* More routes than one flush batch holds. */
static void test_flush_many(void **state)
{
        int ve0 = ifindex_of("ve0");
        struct nl_route r[64];
        size_t n = 0;
        assert_int_equal(nl_addr_add(&nl, ve0, A(10, 77, 0, 2), 24, NL_FOREVER, NL_FOREVER), 0);
        for (unsigned i = 0; i < 45; i++)
                assert_int_equal(nl_route_add(&nl, ve0, A(10, 100, i, 0), 24, A(10, 77, 0, 1), 0, i), 0);
        assert_int_equal(nl_route_flush(&nl, ve0, RTPROT_DHCP), 45);
        assert_int_equal(nl_route_list(&nl, 0, r, ELEMENTSOF(r), &n), 0);
        for (size_t i = 0; i < n; i++)
                assert_int_not_equal(r[i].protocol, RTPROT_DHCP);
}

static void test_errors(void **state)
{
        struct link_info l;
        struct nl_addr a[2];
        struct nl_route r[2];
        size_t n = 0;
        memset(&l, 0xa5, sizeof(l));
        assert_int_equal(nl_link_get(&nl, "nosuch0", &l), -ENODEV);
        assert_int_equal(l.ifindex, (int)0xa5a5a5a5); /* untouched */
        assert_int_equal(nl_link_get(&nl, "", &l), -EINVAL);
        assert_int_equal(nl_link_get(&nl, "sixteencharsname", &l), -EINVAL);
        assert_int_equal(nl_link_get(&nl, NULL, &l), -EINVAL);
        assert_int_equal(nl_link_set_up(&nl, NO_LINK), -ENODEV);
        assert_int_equal(nl_link_set_mtu(&nl, NO_LINK, 1400), -ENODEV);
        int v = nl_vlan_add(&nl, NO_LINK, "bad.5", 5); /* the kind is looked up first */
        assert_true(v == -ENODEV || v == -EOPNOTSUPP);
        assert_int_equal(nl_addr_add(&nl, NO_LINK, A(10, 1, 1, 1), 24, 10, 10), -ENODEV);
        assert_int_equal(nl_addr_del(&nl, NO_LINK, A(10, 1, 1, 1), 24), -ENODEV);
        assert_int_equal(nl_addr_list(&nl, NO_LINK, a, ELEMENTSOF(a), &n), -ENODEV);
        assert_int_equal(nl_route_add(&nl, NO_LINK, A(10, 1, 0, 0), 16, 0, 0, 0), -ENODEV);
        /* via a gateway the kernel looks for the gateway's net first */
        assert_int_equal(nl_route_add(&nl, NO_LINK, 0, 0, A(10, 1, 1, 1), 0, 0), -ENETUNREACH);
        assert_int_equal(nl_route_list(&nl, NO_LINK, r, ELEMENTSOF(r), &n), -ENODEV);
        assert_int_equal(nl_route_flush(&nl, NO_LINK, RTPROT_DHCP), -ENODEV);
        assert_int_equal(nl_link_set_up(&nl, 0), -EINVAL);
        assert_int_equal(nl_link_set_up(&nl, -3), -EINVAL);
        assert_int_equal(nl_link_set_up(NULL, 1), -EINVAL);
        assert_int_equal(nl_route_flush(&nl, 0, RTPROT_DHCP), -EINVAL);
        assert_int_equal(nl_open(NULL), -EINVAL);
}

/* --- nl_link_parse on messages built here -------------------------------- */

struct msg {
        uint8_t b[512];
        size_t len;
};

static void put(struct msg *m, const void *data, size_t len)
{
        assert_true(len <= sizeof(m->b) - m->len);
        memcpy(m->b + m->len, data, len);
        m->len += NLMSG_ALIGN(len);
}

static size_t attr(struct msg *m, uint16_t type, const void *data, size_t len)
{
        size_t off = m->len;
        struct rtattr a = { .rta_len = (unsigned short)RTA_LENGTH(len), .rta_type = type };
        put(m, &a, sizeof(a));
        if (len)
                put(m, data, len);
        return off;
}

static void nest_end(struct msg *m, size_t off)
{
        struct rtattr a;
        memcpy(&a, m->b + off, sizeof(a));
        a.rta_len = (unsigned short)(m->len - off);
        memcpy(m->b + off, &a, sizeof(a));
}

struct vlan_fixture {
        const char *name;
        int mtu_len;         /* bytes of IFLA_MTU */
        bool dup_name;
        uint16_t address_len;
        bool vlan_id;
};

/* An RTM_NEWLINK payload as the kernel sends for a VLAN. */
static void build_vlan(struct msg *m, const struct vlan_fixture *f)
{
        const struct ifinfomsg ifi = { .ifi_type = 1, .ifi_index = 5,
                                       .ifi_flags = IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_LOWER_UP };
        const uint8_t mac[20] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
        const uint32_t mtu = 1496, parent = 2;
        const uint16_t id = 42, proto = htons(ETH_P_8021Q);
        const uint8_t carrier = 1;
        memset(m, 0, sizeof(*m));
        put(m, &ifi, sizeof(ifi));
        attr(m, IFLA_IFNAME, f->name, strlen(f->name) + 1);
        if (f->dup_name)
                attr(m, IFLA_IFNAME, f->name, strlen(f->name) + 1);
        attr(m, IFLA_MTU, &mtu, (size_t)f->mtu_len);
        attr(m, IFLA_LINK, &parent, sizeof(parent));
        attr(m, IFLA_ADDRESS, mac, f->address_len);
        attr(m, IFLA_CARRIER, &carrier, sizeof(carrier));
        attr(m, 0x7ff, "future", 6); /* unknown to this build: skipped */
        size_t info = attr(m, IFLA_LINKINFO, NULL, 0);
        attr(m, IFLA_INFO_KIND, "vlan", 5);
        size_t data = attr(m, IFLA_INFO_DATA, NULL, 0);
        attr(m, IFLA_VLAN_PROTOCOL, &proto, sizeof(proto));
        if (f->vlan_id)
                attr(m, IFLA_VLAN_ID, &id, sizeof(id));
        nest_end(m, data);
        nest_end(m, info);
}

static const struct vlan_fixture good = { .name = "eth0.42", .mtu_len = 4, .address_len = 6,
                                          .vlan_id = true };

static void assert_rejected(const struct msg *m, size_t len)
{
        struct nl_link l;
        memset(&l, 0xa5, sizeof(l));
        assert_int_equal(nl_link_parse(m->b, len, &l), -EBADMSG);
        assert_int_equal(l.vlan_id, 0xa5a5);
}

static void test_link_parse(void **state)
{
        struct msg m;
        struct nl_link l;
        build_vlan(&m, &good);
        assert_int_equal(nl_link_parse(m.b, m.len, &l), 0);
        assert_string_equal(l.info.name, "eth0.42");
        assert_int_equal(l.info.ifindex, 5);
        assert_int_equal(l.info.mtu, 1496);
        assert_true(l.info.up);
        assert_true(l.info.carrier);
        assert_false(l.info.loopback);
        assert_memory_equal(l.info.mac, ((const uint8_t[]){ 0x52, 0x54, 0, 0x12, 0x34, 0x56 }), 6);
        assert_int_equal(l.parent_ifindex, 2);
        assert_string_equal(l.kind, "vlan");
        assert_int_equal(l.vlan_id, 42);
        assert_int_equal(l.vlan_proto, ETH_P_8021Q);

        /* up with lower-layer carrier but not yet running (the qdisc is not
         * active): not carrier yet, a packet sent now would be lost */
        struct ifinfomsg *ifi = (struct ifinfomsg *)m.b;
        ifi->ifi_flags &= ~(unsigned)IFF_RUNNING;
        assert_int_equal(nl_link_parse(m.b, m.len, &l), 0);
        assert_false(l.info.carrier);
        ifi->ifi_flags |= IFF_RUNNING;

        /* an InfiniBand-sized address is no MAC, and no error */
        struct vlan_fixture f = good;
        f.address_len = 20;
        build_vlan(&m, &f);
        assert_int_equal(nl_link_parse(m.b, m.len, &l), 0);
        assert_memory_equal(l.info.mac, ((const uint8_t[6]){ 0 }), 6);

        /* every cut inside the last attribute leaves it longer than what is left */
        build_vlan(&m, &good);
        for (size_t cut = 1; cut <= 4; cut++)
                assert_rejected(&m, m.len - cut);
        assert_rejected(&m, sizeof(struct ifinfomsg) - 1);
        assert_int_equal(nl_link_parse(NULL, 0, &l), -EINVAL);

        f = good;
        f.mtu_len = 2;
        build_vlan(&m, &f);
        assert_rejected(&m, m.len);
        f = good;
        f.dup_name = true;
        build_vlan(&m, &f);
        assert_rejected(&m, m.len);
        f = good;
        f.name = "sixteencharsname";
        build_vlan(&m, &f);
        assert_rejected(&m, m.len);
        f = good;
        f.vlan_id = false;
        build_vlan(&m, &f);
        assert_rejected(&m, m.len);

        /* a name without its NUL; an attribute shorter than its header */
        build_vlan(&m, &good);
        m.b[sizeof(struct ifinfomsg) + RTA_LENGTH(0) + 7] = 'x';
        assert_rejected(&m, m.len);
        build_vlan(&m, &good);
        m.b[sizeof(struct ifinfomsg)] = 2;
        m.b[sizeof(struct ifinfomsg) + 1] = 0;
        assert_rejected(&m, m.len);
        /* no index */
        build_vlan(&m, &good);
        memset(m.b + offsetof(struct ifinfomsg, ifi_index), 0, sizeof(int));
        assert_rejected(&m, m.len);
}

int main(void)
{
        /* Everything below happens in a network namespace of our own. */
        if (unshare(CLONE_NEWNET) < 0) {
                fprintf(stderr, "test_netdev: unshare(CLONE_NEWNET): %s (needs root)\n", strerror(errno));
                return 1;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_link_parse),
                cmocka_unit_test(test_loopback),
                cmocka_unit_test(test_veth_listed),
                cmocka_unit_test(test_up_and_mtu),
                cmocka_unit_test(test_vlan),
                cmocka_unit_test(test_addr_lifetimes),
                cmocka_unit_test(test_addr_del),
                cmocka_unit_test(test_routes),
                cmocka_unit_test(test_flush_many),
                cmocka_unit_test(test_errors),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
