/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dhcp_msg.h"
#include "reader.h"
#include "util.h"

/* The client of every fixture: a QEMU NIC on libvirt's default network,
 * served by dnsmasq at 192.168.122.1. */
static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
#define XID 0x3903f326u
#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* Offsets of RFC 2131 §2's fixed header. */
#define OFF_CHADDR 28
#define OFF_SNAME 44
#define OFF_FILE 108
#define OFF_COOKIE 236
#define OFF_OPTIONS 240

/* A DHCPOFFER in the shape dnsmasq sends on libvirt's default network
 * (hand-built, not a capture): options up to END, no padding. */
static const uint8_t offer[] = {
        0x02, 0x01, 0x06, 0x00,             /* op BOOTREPLY, htype Ethernet, hlen 6, hops 0 */
        0x39, 0x03, 0xf3, 0x26,             /* xid */
        0x00, 0x00, 0x00, 0x00,             /* secs, flags (unicast reply) */
        0, 0, 0, 0,                         /* ciaddr */
        192, 168, 122, 57,                  /* yiaddr */
        192, 168, 122, 1,                   /* siaddr: dnsmasq names itself next server */
        0, 0, 0, 0,                         /* giaddr */
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, /* chaddr, then 10 zero bytes, sname, file */
        [OFF_COOKIE] = 99, 130, 83, 99,     /* magic cookie */
        53, 1, 2,                           /* message type OFFER */
        54, 4, 192, 168, 122, 1,            /* server id */
        51, 4, 0x00, 0x00, 0x0e, 0x10,      /* lease 3600 s */
        58, 4, 0x00, 0x00, 0x07, 0x08,      /* T1 1800 s */
        59, 4, 0x00, 0x00, 0x0c, 0x4e,      /* T2 3150 s */
        1, 4, 255, 255, 255, 0,             /* subnet mask */
        28, 4, 192, 168, 122, 255,          /* broadcast address: not decoded, skipped */
        3, 4, 192, 168, 122, 1,             /* router */
        6, 4, 192, 168, 122, 1,             /* DNS server */
        15, 10, 'e', 'm', 'b', 'e', 'r', '.', 't', 'e', 's', 't', /* domain */
        12, 5, 'n', 'o', 'd', 'e', '1',     /* hostname */
        255,                                /* END */
};

/* The DHCPACK that follows, with MTU and NTP; END, then four PAD bytes. */
#define ACK_END 324
static const uint8_t ack[ACK_END + 5] = {
        0x02, 0x01, 0x06, 0x00, 0x39, 0x03, 0xf3, 0x26, 0x00, 0x00, 0x00, 0x00,
        0, 0, 0, 0,                         /* ciaddr */
        192, 168, 122, 57,                  /* yiaddr */
        192, 168, 122, 1,                   /* siaddr */
        0, 0, 0, 0,                         /* giaddr */
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
        [OFF_COOKIE] = 99, 130, 83, 99,
        53, 1, 5,                           /* message type ACK */
        54, 4, 192, 168, 122, 1,
        51, 4, 0x00, 0x00, 0x0e, 0x10,
        58, 4, 0x00, 0x00, 0x07, 0x08,
        59, 4, 0x00, 0x00, 0x0c, 0x4e,
        1, 4, 255, 255, 255, 0,
        28, 4, 192, 168, 122, 255,
        3, 4, 192, 168, 122, 1,
        6, 8, 192, 168, 122, 1, 9, 9, 9, 9, /* two DNS servers */
        15, 10, 'e', 'm', 'b', 'e', 'r', '.', 't', 'e', 's', 't',
        12, 5, 'n', 'o', 'd', 'e', '1',
        26, 2, 0x05, 0xdc,                  /* MTU 1500 */
        42, 4, 192, 168, 122, 1,            /* NTP server */
        255,                                /* END (offset ACK_END), PAD follows */
};

/* A reply with the OFFER's fixed header and the given options. */
static size_t reply_with(uint8_t *buf, size_t size, const uint8_t *opts, size_t n)
{
        assert_true(size >= OFF_OPTIONS + n);
        memset(buf, 0, size);
        memcpy(buf, offer, OFF_OPTIONS);
        memcpy(buf + OFF_OPTIONS, opts, n);
        return OFF_OPTIONS + n;
}

/* The parser refuses, names why, and leaves *ret as it was. */
static void expect_reject(const uint8_t *buf, size_t len, int err, const char *why_part)
{
        struct dhcp_msg m, orig;
        char why[160] = "";

        memset(&m, 0xa5, sizeof(m));
        orig = m;
        assert_int_equal(dhcp_msg_parse(buf, len, &m, why, sizeof(why)), err);
        assert_memory_equal(&m, &orig, sizeof(m));
        if (why_part && !strstr(why, why_part))
                fail_msg("reason \"%s\" does not contain \"%s\"", why, why_part);
}

static void expect_opts_reject(const uint8_t *opts, size_t n, int err, const char *why_part)
{
        uint8_t buf[1024];
        expect_reject(buf, reply_with(buf, sizeof(buf), opts, n), err, why_part);
}

static struct dhcp_msg parse_ok(const uint8_t *buf, size_t len)
{
        struct dhcp_msg m;
        char why[160] = "";
        int r = dhcp_msg_parse(buf, len, &m, why, sizeof(why));
        if (r < 0)
                fail_msg("parse failed (%d): %s", r, why);
        return m;
}

/* Parses, then the validator refuses with err and a reason holding why_part. */
static void expect_invalid(const uint8_t *opts, size_t n, int err, const char *why_part)
{
        uint8_t buf[1024];
        char why[160] = "";
        struct dhcp_msg m = parse_ok(buf, reply_with(buf, sizeof(buf), opts, n));
        assert_int_equal(dhcp_msg_validate(&m, XID, mac, why, sizeof(why)), err);
        if (!strstr(why, why_part))
                fail_msg("reason \"%s\" does not contain \"%s\"", why, why_part);
}

static void expect_valid(const uint8_t *opts, size_t n, struct dhcp_msg *ret)
{
        uint8_t buf[1024];
        char why[160] = "";
        struct dhcp_msg m = parse_ok(buf, reply_with(buf, sizeof(buf), opts, n));
        if (dhcp_msg_validate(&m, XID, mac, why, sizeof(why)) < 0)
                fail_msg("validate failed: %s", why);
        if (ret)
                *ret = m;
}

/* Header of every hand-made reply below: an OFFER from 192.168.122.1. */
#define OFFER_HEAD 53, 1, 2, 54, 4, 192, 168, 122, 1
#define LEASE_3600 51, 4, 0x00, 0x00, 0x0e, 0x10
#define MASK_24 1, 4, 255, 255, 255, 0

/* ---- fixtures ----------------------------------------------------------- */

static void test_offer_fixture(void **state)
{
        struct dhcp_msg m = parse_ok(offer, sizeof(offer));
        char why[160];

        assert_int_equal(m.type, DHCP_OFFER);
        assert_int_equal(m.xid, XID);
        assert_memory_equal(m.chaddr, mac, 6);
        assert_int_equal(m.yiaddr, IP(192, 168, 122, 57));
        assert_int_equal(m.siaddr, IP(192, 168, 122, 1));
        assert_int_equal(m.server_id, IP(192, 168, 122, 1));
        assert_int_equal(m.lease_s, 3600);
        assert_int_equal(m.t1_s, 1800);
        assert_int_equal(m.t2_s, 3150);
        assert_int_equal(m.subnet_mask, IP(255, 255, 255, 0));
        assert_int_equal(m.routers.n, 1);
        assert_int_equal(m.routers.a[0], IP(192, 168, 122, 1));
        assert_int_equal(m.dns.n, 1);
        assert_int_equal(m.ntp.n, 0);
        assert_string_equal(m.domain, "ember.test");
        assert_string_equal(m.hostname, "node1");
        assert_false(m.have & (DHCP_HAVE_MTU | DHCP_HAVE_ROUTES));
        assert_false(m.rapid_commit);
        assert_int_equal(dhcp_msg_validate(&m, XID, mac, why, sizeof(why)), 0);
}

static void test_ack_fixture(void **state)
{
        struct dhcp_msg m = parse_ok(ack, sizeof(ack));
        uint32_t t1, t2;

        assert_int_equal(ack[ACK_END], 255);
        assert_int_equal(ack[ACK_END - 1], 1);
        assert_int_equal(m.type, DHCP_ACK);
        assert_int_equal(m.dns.n, 2);
        assert_int_equal(m.dns.a[1], IP(9, 9, 9, 9));
        assert_int_equal(m.mtu, 1500);
        assert_true(m.have & DHCP_HAVE_MTU);
        assert_int_equal(m.ntp.n, 1);
        assert_int_equal(m.ntp.a[0], IP(192, 168, 122, 1));
        assert_int_equal(dhcp_msg_validate(&m, XID, mac, NULL, 0), 0);
        assert_int_equal(dhcp_msg_timers(&m, &t1, &t2), 0);
        assert_int_equal(t1, 1800);
        assert_int_equal(t2, 3150);
}

/* ---- truncation and structure ------------------------------------------ */

static void test_truncated_offer(void **state)
{
        for (size_t len = 0; len < sizeof(offer); len++)
                expect_reject(offer, len, -EBADMSG, NULL);
}

static void test_truncated_ack(void **state)
{
        for (size_t len = 0; len <= ACK_END; len++)
                expect_reject(ack, len, -EBADMSG, NULL);
        /* END is the last byte the parser needs; padding after it is optional */
        parse_ok(ack, ACK_END + 1);
}

static void test_option_past_end(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 15, 10, 'e', 'm', 'b' };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "options: option 15 length 10 runs past the end");
}

static void test_option_without_length(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 51 };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "option 51 has no length");
}

static void test_missing_end(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, LEASE_3600, 0, 0, 0 };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "options: no END option");
}

static void test_overload_file_garbage(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 52, 1, 1, LEASE_3600, 255 };
        uint8_t buf[1024];
        size_t len = reply_with(buf, sizeof(buf), o, sizeof(o));

        /* 'file' read as options: 66/66 fits once, the second runs out */
        memset(buf + OFF_FILE, 0x42, 128);
        expect_reject(buf, len, -EBADMSG, "file: option 66 length 66 runs past the end");
        /* 'file' needs its own END even when it holds nothing but PAD */
        memset(buf + OFF_FILE, 0, 128);
        expect_reject(buf, len, -EBADMSG, "file: no END option");
}

static void test_overload_bad_value(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 52, 1, 4, 255 };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "option 52 (option overload) invalid");
}

/* RFC 3396: a hostname split across options, file and sname is one
 * string; options from an overloaded sname count. */
static void test_overload_and_concatenation(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 52, 1, 3, 12, 2, 'n', 'o', 255 };
        static const uint8_t file[] = { 12, 2, 'd', 'e', LEASE_3600, 255 };
        static const uint8_t sname[] = { 12, 1, '1', 58, 4, 0, 0, 0, 100, 255 };
        uint8_t buf[1024];
        size_t len = reply_with(buf, sizeof(buf), o, sizeof(o));

        memcpy(buf + OFF_FILE, file, sizeof(file));
        memcpy(buf + OFF_SNAME, sname, sizeof(sname));
        struct dhcp_msg m = parse_ok(buf, len);
        assert_string_equal(m.hostname, "node1");
        assert_int_equal(m.lease_s, 3600);
        assert_int_equal(m.t1_s, 100);
}

/* Without option 52, file and sname are names, however option-like. */
static void test_no_overload_ignores_file(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 255 };
        uint8_t buf[1024];
        size_t len = reply_with(buf, sizeof(buf), o, sizeof(o));

        memset(buf + OFF_FILE, 0x42, 128);
        struct dhcp_msg m = parse_ok(buf, len);
        assert_false(m.have & DHCP_HAVE_LEASE);
}

static void test_split_option_over_bound(void **state)
{
        uint8_t o[900], *p = o;
        const uint8_t head[] = { OFFER_HEAD };

        memcpy(p, head, sizeof(head));
        p += sizeof(head);
        /* three 200-byte pieces of one option: 600 bytes concatenated */
        for (int i = 0; i < 3; i++) {
                *p++ = 12;
                *p++ = 200;
                memset(p, 'a', 200);
                p += 200;
        }
        *p++ = 255;
        expect_opts_reject(o, (size_t)(p - o), -E2BIG,
                           "option 12 (hostname) over 512 bytes after concatenation");
}

/* Two copies of a one-byte option concatenate into a two-byte one. */
static void test_repeated_fixed_option(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 53, 1, 2, 255 };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "option 53 (message type) length 2, expected 1");
}

static void test_wrong_fixed_length(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 51, 3, 0, 0, 1, 255 };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "option 51 (lease time) length 3, expected 4");
}

/* ---- header ------------------------------------------------------------- */

static void test_op_bootrequest(void **state)
{
        uint8_t buf[sizeof(offer)];
        memcpy(buf, offer, sizeof(buf));
        buf[0] = 1;
        expect_reject(buf, sizeof(buf), -ENOMSG, "op 1, not BOOTREPLY");
}

static void test_hlen_16(void **state)
{
        uint8_t buf[sizeof(offer)];
        memcpy(buf, offer, sizeof(buf));
        buf[2] = 16;
        expect_reject(buf, sizeof(buf), -EBADMSG, "hardware address length 16");
}

static void test_not_ethernet(void **state)
{
        uint8_t buf[sizeof(offer)];
        memcpy(buf, offer, sizeof(buf));
        buf[1] = 32; /* InfiniBand */
        expect_reject(buf, sizeof(buf), -ENOMSG, "hardware type 32");
}

static void test_bad_cookie(void **state)
{
        uint8_t buf[sizeof(offer)];
        memcpy(buf, offer, sizeof(buf));
        buf[OFF_COOKIE + 3] = 0;
        expect_reject(buf, sizeof(buf), -ENOMSG, "no DHCP magic cookie");
}

static void test_no_message_type(void **state)
{
        static const uint8_t o[] = { 54, 4, 192, 168, 122, 1, LEASE_3600, 255 };
        expect_opts_reject(o, sizeof(o), -ENOMSG, "no option 53");
}

/* ---- option contents ---------------------------------------------------- */

static void test_route_prefix_33(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 121, 9, 33, 10, 0, 0, 0, 192, 168, 122, 1, 255 };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "prefix /33 over 32");
}

static void test_route_too_few_octets(void **state)
{
        /* a good route, then /32 with only three destination octets */
        static const uint8_t o[] = { OFFER_HEAD, 121, 12, 24, 10, 1, 2, 192, 168, 122, 1,
                                     32, 10, 0, 0, 255 };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "/32 needs 4 destination octets, 3 left");
}

static void test_route_no_router(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 121, 6, 16, 10, 1, 192, 168, 122, 255 };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "10.1.0.0/16 has no router");
}

static void test_route_host_bits(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 121, 9, 25, 10, 1, 2, 129, 192, 168, 122, 1, 255 };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "10.1.2.129/25 has host bits set");
}

static void test_routes_decoded(void **state)
{
        /* default route, 10.0.0.0/8 and an on-link /32 */
        static const uint8_t o[] = { OFFER_HEAD, 121, 20, 0, 192, 168, 122, 1,
                                     8, 10, 192, 168, 122, 254,
                                     32, 172, 16, 0, 1, 0, 0, 0, 0, 255 };
        uint8_t buf[1024];
        struct dhcp_msg m = parse_ok(buf, reply_with(buf, sizeof(buf), o, sizeof(o)));

        assert_int_equal(m.n_routes, 3);
        assert_int_equal(m.routes[0].dest, 0);
        assert_int_equal(m.routes[0].prefix, 0);
        assert_int_equal(m.routes[0].router, IP(192, 168, 122, 1));
        assert_int_equal(m.routes[1].dest, IP(10, 0, 0, 0));
        assert_int_equal(m.routes[1].prefix, 8);
        assert_int_equal(m.routes[1].router, IP(192, 168, 122, 254));
        assert_int_equal(m.routes[2].dest, IP(172, 16, 0, 1));
        assert_int_equal(m.routes[2].prefix, 32);
        assert_int_equal(m.routes[2].router, 0);
}

static void test_too_many_routes(void **state)
{
        uint8_t o[300], *p = o;
        const uint8_t head[] = { OFFER_HEAD };

        memcpy(p, head, sizeof(head));
        p += sizeof(head);
        *p++ = 121;
        *p++ = 33 * 5;
        for (int i = 0; i < 33; i++) { /* 0.0.0.0/0 via 0.0.0.0, 33 times */
                memset(p, 0, 5);
                p += 5;
        }
        *p++ = 255;
        expect_opts_reject(o, (size_t)(p - o), -E2BIG, "over 32 routes");
}

static void test_hostname_bad_character(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 12, 5, 'n', 'o', '_', 'd', 'e', 255 };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "option 12 (hostname) has a bad character 0x5f at offset 2");
}

static void test_hostname_label_too_long(void **state)
{
        uint8_t o[100] = { OFFER_HEAD, 12, 64 };
        size_t n = 11;
        memset(o + n, 'a', 64);
        n += 64;
        o[n++] = 255;
        expect_opts_reject(o, n, -EBADMSG, "option 12 (hostname) has a label over 63 characters");
}

static void test_domain_too_long(void **state)
{
        uint8_t o[300] = { OFFER_HEAD, 15, 254 };
        size_t n = 11;
        /* 254 characters in labels of 49 and dots: every label is fine */
        for (size_t i = 0; i < 254; i++)
                o[n + i] = i % 50 == 49 ? '.' : 'a';
        n += 254;
        o[n++] = 255;
        expect_opts_reject(o, n, -EBADMSG, "option 15 (domain name) 254 characters long, over 253");
}

static void test_domain_empty_label(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 15, 5, 'a', '.', '.', 'b', 'c', 255 };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "empty label");
}

/* Some servers NUL-terminate strings despite RFC 2132 §2. */
static void test_domain_trailing_nul(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 15, 4, 'a', '.', 'b', 0, 255 };
        uint8_t buf[1024];
        struct dhcp_msg m = parse_ok(buf, reply_with(buf, sizeof(buf), o, sizeof(o)));
        assert_string_equal(m.domain, "a.b");
}

static void test_too_many_dns(void **state)
{
        uint8_t o[120] = { OFFER_HEAD, 6, 17 * 4 };
        size_t n = 11;
        memset(o + n, 9, 17 * 4);
        n += 17 * 4;
        o[n++] = 255;
        expect_opts_reject(o, n, -E2BIG, "option 6 (DNS servers) lists 17 addresses, at most 16");
}

static void test_router_list_bad_length(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 3, 5, 192, 168, 122, 1, 2, 255 };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "option 3 (routers) length 5, not a multiple of 4");
}

static void test_mtu_too_small(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 26, 2, 0, 40, 255 };
        expect_opts_reject(o, sizeof(o), -EBADMSG, "option 26 (interface MTU) 40, under 68");
}

static void test_rapid_commit(void **state)
{
        static const uint8_t good[] = { 53, 1, 5, 54, 4, 192, 168, 122, 1, 80, 0, 255 };
        static const uint8_t bad[] = { OFFER_HEAD, 80, 1, 0, 255 };
        uint8_t buf[1024];
        struct dhcp_msg m = parse_ok(buf, reply_with(buf, sizeof(buf), good, sizeof(good)));
        assert_true(m.rapid_commit);
        expect_opts_reject(bad, sizeof(bad), -EBADMSG, "option 80 (rapid commit) length 1");
}

/* ---- meaning ------------------------------------------------------------ */

static void test_lease_zero(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 51, 4, 0, 0, 0, 0, MASK_24, 255 };
        expect_invalid(o, sizeof(o), -EBADMSG, "lease time 0");
}

static void test_lease_missing(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, MASK_24, 255 };
        expect_invalid(o, sizeof(o), -EBADMSG, "OFFER without a lease time");
}

static void test_lease_infinite(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 51, 4, 0xff, 0xff, 0xff, 0xff, MASK_24, 255 };
        struct dhcp_msg m;
        uint32_t t1, t2;
        expect_valid(o, sizeof(o), &m);
        assert_int_equal(dhcp_msg_timers(&m, &t1, &t2), 0);
        assert_int_equal(t1, DHCP_LEASE_INFINITE);
        assert_int_equal(t2, DHCP_LEASE_INFINITE);
}

static void test_t1_above_t2(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, LEASE_3600, 58, 4, 0, 0, 0x02, 0x58, /* 600 */
                                     59, 4, 0, 0, 0x01, 0x2c, /* 300 */ 255 };
        expect_invalid(o, sizeof(o), -EBADMSG, "T1 (600) not below T2 (300)");
}

static void test_t2_above_lease(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, LEASE_3600, 59, 4, 0, 0, 0x0e, 0x10, 255 };
        expect_invalid(o, sizeof(o), -EBADMSG, "T2 (3600) not below the lease time (3600)");
}

/* RFC 2131 §4.4.5 defaults when the server sends neither. */
static void test_default_timers(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, 51, 4, 0, 0, 0x03, 0xe8 /* 1000 */, 255 };
        struct dhcp_msg m;
        uint32_t t1 = 1, t2 = 2;
        expect_valid(o, sizeof(o), &m);
        assert_int_equal(dhcp_msg_timers(&m, &t1, &t2), 0);
        assert_int_equal(t1, 500);
        assert_int_equal(t2, 875);
}

static void test_router_outside_subnet(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, LEASE_3600, MASK_24, 3, 8, 192, 168, 122, 1,
                                     10, 0, 0, 1, 255 };
        expect_invalid(o, sizeof(o), -EBADMSG, "router 10.0.0.1 outside 192.168.122.0/24");
}

static void test_mask_not_contiguous(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, LEASE_3600, 1, 4, 255, 0, 255, 0, 255 };
        expect_invalid(o, sizeof(o), -EBADMSG, "subnet mask 255.0.255.0 not contiguous");
}

static void test_yiaddr_unusable(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, LEASE_3600, MASK_24, 255 };
        static const struct {
                uint8_t a[4];
                const char *why;
        } cases[] = {
                { { 0, 0, 0, 0 }, "yiaddr 0.0.0.0 is in 0.0.0.0/8" },
                { { 255, 255, 255, 255 }, "yiaddr 255.255.255.255 is broadcast" },
                { { 224, 0, 0, 251 }, "yiaddr 224.0.0.251 is multicast" },
                { { 127, 0, 0, 1 }, "yiaddr 127.0.0.1 is loopback" },
                { { 192, 168, 122, 255 }, "is the broadcast address of 192.168.122.0/24" },
                { { 192, 168, 122, 0 }, "is the network address of 192.168.122.0/24" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint8_t buf[1024];
                char why[160] = "";
                size_t len = reply_with(buf, sizeof(buf), o, sizeof(o));
                memcpy(buf + 16, cases[i].a, 4);
                struct dhcp_msg m = parse_ok(buf, len);
                assert_int_equal(dhcp_msg_validate(&m, XID, mac, why, sizeof(why)), -EBADMSG);
                if (!strstr(why, cases[i].why))
                        fail_msg("reason \"%s\" does not contain \"%s\"", why, cases[i].why);
        }
}

static void test_no_server_id(void **state)
{
        static const uint8_t o[] = { 53, 1, 5, LEASE_3600, 255 };
        expect_invalid(o, sizeof(o), -EBADMSG, "ACK without a server id");
}

static void test_wrong_xid(void **state)
{
        struct dhcp_msg m = parse_ok(offer, sizeof(offer));
        char why[160] = "";
        assert_int_equal(dhcp_msg_validate(&m, XID + 1, mac, why, sizeof(why)), -ENOMSG);
        assert_string_equal(why, "xid 0x3903f326 is not ours (0x3903f327)");
}

static void test_wrong_chaddr(void **state)
{
        static const uint8_t other[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x57 };
        struct dhcp_msg m = parse_ok(offer, sizeof(offer));
        char why[160] = "";
        assert_int_equal(dhcp_msg_validate(&m, XID, other, why, sizeof(why)), -ENOMSG);
        assert_string_equal(why, "chaddr 52:54:00:12:34:56 is not ours");
}

static void test_nak(void **state)
{
        static const uint8_t good[] = { 53, 1, 6, 54, 4, 192, 168, 122, 1, 255 };
        static const uint8_t bad[] = { 53, 1, 6, 255 };
        expect_valid(good, sizeof(good), NULL);
        expect_invalid(bad, sizeof(bad), -EBADMSG, "NAK without a server id");
}

static void test_request_is_not_a_reply(void **state)
{
        static const uint8_t o[] = { 53, 1, 3, 255 };
        expect_invalid(o, sizeof(o), -EBADMSG, "message type 3 (REQUEST) is not a reply");
}

/* Option 121 and option 3 together: both are kept, the client prefers 121
 * (RFC 3442), and option 3's router is then not held to the subnet. */
static void test_routes_and_routers_both_kept(void **state)
{
        static const uint8_t ok[] = { OFFER_HEAD, LEASE_3600, MASK_24,
                                      3, 4, 10, 9, 9, 9,
                                      121, 5, 0, 192, 168, 122, 254, 255 };
        struct dhcp_msg m;

        expect_valid(ok, sizeof(ok), &m);
        assert_true(m.have & DHCP_HAVE_ROUTES);
        assert_int_equal(m.n_routes, 1);
        assert_int_equal(m.routes[0].router, IP(192, 168, 122, 254));
        assert_int_equal(m.routers.n, 1);
        assert_int_equal(m.routers.a[0], IP(10, 9, 9, 9));
}

static void test_route_router_outside_subnet(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, LEASE_3600, MASK_24,
                                     121, 5, 0, 10, 0, 0, 1, 255 };
        expect_invalid(o, sizeof(o), -EBADMSG, "classless route router 10.0.0.1 outside 192.168.122.0/24");
}

/* A /32 address whose gateway is reached through an on-link host route,
 * as some cloud networks hand out. */
static void test_slash32_with_onlink_gateway(void **state)
{
        static const uint8_t o[] = { OFFER_HEAD, LEASE_3600, 1, 4, 255, 255, 255, 255,
                                     121, 14, 32, 10, 128, 0, 1, 0, 0, 0, 0,
                                     0, 10, 128, 0, 1, 255 };
        expect_valid(o, sizeof(o), NULL);
}

/* ---- building ----------------------------------------------------------- */

/* The option with this code in a message we built (trusted bytes). */
static const uint8_t *find_opt(const uint8_t *buf, size_t len, uint8_t code, uint8_t *ret_len)
{
        size_t i = OFF_OPTIONS;
        while (i < len && buf[i] != 255) {
                if (buf[i] == 0) {
                        i++;
                        continue;
                }
                assert_true(i + 1 < len && i + 2 + buf[i + 1] <= len);
                if (buf[i] == code) {
                        *ret_len = buf[i + 1];
                        return buf + i + 2;
                }
                i += 2 + buf[i + 1];
        }
        return NULL;
}

/* Builds b, checks the common parts, and parses it back as if it were a
 * reply (op flipped: the parser accepts only BOOTREPLY). */
static struct dhcp_msg round_trip(const struct dhcp_build *b, uint8_t *buf, size_t *ret_len)
{
        static const uint8_t client_id[7] = { 1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
        uint8_t n = 0;
        const uint8_t *v;
        int len = dhcp_msg_build(b, buf, 1024);

        assert_true(len >= DHCP_MIN_LEN);
        assert_int_equal(buf[0], 1);
        v = find_opt(buf, (size_t)len, 61, &n);
        assert_non_null(v);
        assert_int_equal(n, 7);
        assert_memory_equal(v, client_id, 7);
        buf[0] = 2;
        struct dhcp_msg m = parse_ok(buf, (size_t)len);
        buf[0] = 1;
        assert_int_equal(m.type, b->type);
        assert_int_equal(m.xid, b->xid);
        assert_memory_equal(m.chaddr, mac, 6);
        assert_int_equal(m.ciaddr, b->ciaddr);
        assert_int_equal(m.yiaddr, 0);
        assert_int_equal(m.requested_ip, b->requested_ip);
        assert_int_equal(!!(m.have & DHCP_HAVE_REQUESTED_IP), b->requested_ip != 0);
        assert_int_equal(m.server_id, b->server_id);
        assert_int_equal(!!(m.have & DHCP_HAVE_SERVER_ID), b->server_id != 0);
        assert_int_equal(m.flags, b->broadcast ? 0x8000 : 0);
        assert_int_equal(m.rapid_commit, b->rapid_commit);
        assert_string_equal(m.hostname, b->hostname ? b->hostname : "");
        *ret_len = (size_t)len;
        return m;
}

static void assert_asks(const uint8_t *buf, size_t len, uint16_t max)
{
        static const uint8_t want[] = { 1, 3, 6, 12, 15, 26, 42, 51, 58, 59, 121 };
        uint8_t n = 0;
        const uint8_t *v = find_opt(buf, len, 57, &n);

        assert_non_null(v);
        assert_int_equal(n, 2);
        assert_int_equal(v[0] << 8 | v[1], max);
        v = find_opt(buf, len, 55, &n);
        assert_non_null(v);
        for (size_t i = 0; i < sizeof(want); i++)
                assert_non_null(memchr(v, want[i], n));
}

static void assert_no_asks(const uint8_t *buf, size_t len)
{
        uint8_t n;
        assert_null(find_opt(buf, len, 55, &n));
        assert_null(find_opt(buf, len, 57, &n));
        assert_null(find_opt(buf, len, 12, &n));
}

static struct dhcp_build base(enum dhcp_type type)
{
        struct dhcp_build b = { .type = type, .xid = XID };
        memcpy(b.chaddr, mac, 6);
        return b;
}

static void test_build_discover(void **state)
{
        uint8_t buf[1024];
        size_t len;
        struct dhcp_build b = base(DHCP_DISCOVER);
        b.hostname = "node1";
        b.rapid_commit = true;
        b.broadcast = true;
        b.secs = 3;
        round_trip(&b, buf, &len);
        assert_int_equal(len, DHCP_MIN_LEN);
        assert_int_equal(buf[8] << 8 | buf[9], 3);
        assert_asks(buf, len, 1500);

        b = base(DHCP_DISCOVER);
        b.requested_ip = IP(192, 168, 122, 57);
        b.max_msg_size = 9000;
        round_trip(&b, buf, &len);
        assert_asks(buf, len, 9000);
}

static void test_build_request_states(void **state)
{
        uint8_t buf[1024];
        size_t len;
        struct dhcp_build b = base(DHCP_REQUEST);

        b.state = DHCP_REQ_SELECTING;
        b.server_id = IP(192, 168, 122, 1);
        b.requested_ip = IP(192, 168, 122, 57);
        b.hostname = "node1.ember.test";
        round_trip(&b, buf, &len);
        assert_asks(buf, len, 1500);

        b = base(DHCP_REQUEST);
        b.state = DHCP_REQ_INIT_REBOOT;
        b.requested_ip = IP(192, 168, 122, 57);
        round_trip(&b, buf, &len);
        assert_asks(buf, len, 1500);

        for (int s = DHCP_REQ_RENEWING; s <= DHCP_REQ_REBINDING; s++) {
                b = base(DHCP_REQUEST);
                b.state = (enum dhcp_request_state)s;
                b.ciaddr = IP(192, 168, 122, 57);
                round_trip(&b, buf, &len);
                assert_asks(buf, len, 1500);
        }
}

static void test_build_decline_release(void **state)
{
        uint8_t buf[1024];
        size_t len;
        struct dhcp_build b = base(DHCP_DECLINE);

        b.server_id = IP(192, 168, 122, 1);
        b.requested_ip = IP(192, 168, 122, 57);
        round_trip(&b, buf, &len);
        assert_no_asks(buf, len);

        b = base(DHCP_RELEASE);
        b.server_id = IP(192, 168, 122, 1);
        b.ciaddr = IP(192, 168, 122, 57);
        round_trip(&b, buf, &len);
        assert_no_asks(buf, len);
}

/* Every size below the message's length fails whole, and nothing is
 * written past the given size. */
static void test_build_short_buffer(void **state)
{
        uint8_t buf[1024];
        struct dhcp_build b = base(DHCP_DISCOVER);
        b.hostname = "a-rather-long-hostname-that-pushes.the-message-past-three-hundred-bytes."
                     "so-the-padding-is-not-what-decides-its-length";
        int need = dhcp_msg_build(&b, buf, sizeof(buf));

        assert_true(need > DHCP_MIN_LEN);
        for (int size = 0; size < need; size++) {
                memset(buf, 0xee, sizeof(buf));
                assert_int_equal(dhcp_msg_build(&b, buf, (size_t)size), -ENOBUFS);
                for (size_t i = (size_t)size; i < sizeof(buf); i++)
                        assert_int_equal(buf[i], 0xee);
        }
        assert_int_equal(dhcp_msg_build(&b, buf, (size_t)need), need);
}

static void test_build_inconsistent(void **state)
{
        uint8_t buf[1024];
        struct dhcp_build b;

        b = base(DHCP_OFFER); /* servers' messages are not built */
        assert_int_equal(dhcp_msg_build(&b, buf, sizeof(buf)), -EINVAL);
        b = base(DHCP_DISCOVER);
        b.server_id = 1; /* RFC 2131 table 5: MUST NOT */
        assert_int_equal(dhcp_msg_build(&b, buf, sizeof(buf)), -EINVAL);
        b = base(DHCP_REQUEST); /* selecting without a server id */
        b.requested_ip = IP(192, 168, 122, 57);
        assert_int_equal(dhcp_msg_build(&b, buf, sizeof(buf)), -EINVAL);
        b = base(DHCP_REQUEST); /* renewing with a requested address */
        b.state = DHCP_REQ_RENEWING;
        b.ciaddr = b.requested_ip = IP(192, 168, 122, 57);
        assert_int_equal(dhcp_msg_build(&b, buf, sizeof(buf)), -EINVAL);
        b = base(DHCP_REQUEST);
        b.state = DHCP_REQ_SELECTING;
        b.server_id = IP(192, 168, 122, 1);
        b.requested_ip = IP(192, 168, 122, 57);
        b.rapid_commit = true; /* RFC 4039: DISCOVER only */
        assert_int_equal(dhcp_msg_build(&b, buf, sizeof(buf)), -EINVAL);
        b = base(DHCP_RELEASE);
        b.server_id = IP(192, 168, 122, 1);
        b.ciaddr = IP(192, 168, 122, 57);
        b.hostname = "node1"; /* table 5: "all others" MUST NOT */
        assert_int_equal(dhcp_msg_build(&b, buf, sizeof(buf)), -EINVAL);
        b = base(DHCP_DISCOVER);
        b.hostname = "bad_name";
        assert_int_equal(dhcp_msg_build(&b, buf, sizeof(buf)), -EINVAL);
        b = base(DHCP_DISCOVER);
        b.max_msg_size = 575; /* RFC 2132 §9.10 */
        assert_int_equal(dhcp_msg_build(&b, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(dhcp_msg_build(NULL, buf, sizeof(buf)), -EINVAL);
}

/* ---- helpers ------------------------------------------------------------ */

static void test_masks(void **state)
{
        char a[DHCP_ADDR_STRLEN];
        assert_int_equal(dhcp_mask_to_prefix(0xffffff00), 24);
        assert_int_equal(dhcp_mask_to_prefix(0xffffffff), 32);
        assert_int_equal(dhcp_mask_to_prefix(0), 0);
        assert_int_equal(dhcp_mask_to_prefix(0xff00ff00), -EINVAL);
        assert_int_equal(dhcp_mask_to_prefix(0x00ffffff), -EINVAL);
        assert_int_equal(dhcp_prefix_to_mask(0), 0);
        assert_int_equal(dhcp_prefix_to_mask(1), 0x80000000);
        assert_int_equal(dhcp_prefix_to_mask(32), 0xffffffff);
        assert_string_equal(dhcp_addr_str(IP(255, 0, 10, 1), a), "255.0.10.1");
        assert_string_equal(dhcp_type_to_string(DHCP_ACK), "ACK");
        assert_string_equal(dhcp_type_to_string(0), "unknown");
        assert_string_equal(dhcp_type_to_string(99), "unknown");
}

/* The reader consumes nothing on failure. */
static void test_reader(void **state)
{
        static const uint8_t d[] = { 1, 2, 3, 4, 5 };
        struct reader r, sub;
        uint32_t v32 = 0;
        uint16_t v16 = 0;
        uint8_t v8 = 0, out[8];
        const uint8_t *p = NULL;

        rd_init(&r, d, sizeof(d));
        assert_int_equal(rd_be32(&r, &v32), 0);
        assert_int_equal(v32, 0x01020304);
        assert_int_equal(rd_be32(&r, &v32), -EBADMSG);
        assert_int_equal(rd_be16(&r, &v16), -EBADMSG);
        assert_int_equal(rd_remaining(&r), 1);
        assert_int_equal(rd_u8(&r, &v8), 0);
        assert_int_equal(v8, 5);
        assert_int_equal(rd_u8(&r, &v8), -EBADMSG);

        rd_init(&r, d, sizeof(d));
        assert_int_equal(rd_skip(&r, SIZE_MAX), -EBADMSG);
        assert_int_equal(rd_bytes(&r, 6, &p), -EBADMSG);
        assert_null(p);
        assert_int_equal(rd_copy(&r, out, 6), -EBADMSG);
        assert_int_equal(rd_sub(&r, 2, &sub), 0);
        assert_int_equal(rd_remaining(&sub), 2);
        assert_int_equal(rd_be16(&sub, &v16), 0);
        assert_int_equal(v16, 0x0102);
        assert_int_equal(rd_sub(&r, 4, &sub), -EBADMSG);
        assert_int_equal(rd_remaining(&r), 3);
        assert_int_equal(rd_bytes(&r, 3, &p), 0);
        assert_ptr_equal(p, d + 2);
        assert_int_equal(rd_remaining(&r), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_offer_fixture),
                cmocka_unit_test(test_ack_fixture),
                cmocka_unit_test(test_truncated_offer),
                cmocka_unit_test(test_truncated_ack),
                cmocka_unit_test(test_option_past_end),
                cmocka_unit_test(test_option_without_length),
                cmocka_unit_test(test_missing_end),
                cmocka_unit_test(test_overload_file_garbage),
                cmocka_unit_test(test_overload_bad_value),
                cmocka_unit_test(test_overload_and_concatenation),
                cmocka_unit_test(test_no_overload_ignores_file),
                cmocka_unit_test(test_split_option_over_bound),
                cmocka_unit_test(test_repeated_fixed_option),
                cmocka_unit_test(test_wrong_fixed_length),
                cmocka_unit_test(test_op_bootrequest),
                cmocka_unit_test(test_hlen_16),
                cmocka_unit_test(test_not_ethernet),
                cmocka_unit_test(test_bad_cookie),
                cmocka_unit_test(test_no_message_type),
                cmocka_unit_test(test_route_prefix_33),
                cmocka_unit_test(test_route_too_few_octets),
                cmocka_unit_test(test_route_no_router),
                cmocka_unit_test(test_route_host_bits),
                cmocka_unit_test(test_routes_decoded),
                cmocka_unit_test(test_too_many_routes),
                cmocka_unit_test(test_hostname_bad_character),
                cmocka_unit_test(test_hostname_label_too_long),
                cmocka_unit_test(test_domain_too_long),
                cmocka_unit_test(test_domain_empty_label),
                cmocka_unit_test(test_domain_trailing_nul),
                cmocka_unit_test(test_too_many_dns),
                cmocka_unit_test(test_router_list_bad_length),
                cmocka_unit_test(test_mtu_too_small),
                cmocka_unit_test(test_rapid_commit),
                cmocka_unit_test(test_lease_zero),
                cmocka_unit_test(test_lease_missing),
                cmocka_unit_test(test_lease_infinite),
                cmocka_unit_test(test_t1_above_t2),
                cmocka_unit_test(test_t2_above_lease),
                cmocka_unit_test(test_default_timers),
                cmocka_unit_test(test_router_outside_subnet),
                cmocka_unit_test(test_mask_not_contiguous),
                cmocka_unit_test(test_yiaddr_unusable),
                cmocka_unit_test(test_no_server_id),
                cmocka_unit_test(test_wrong_xid),
                cmocka_unit_test(test_wrong_chaddr),
                cmocka_unit_test(test_nak),
                cmocka_unit_test(test_request_is_not_a_reply),
                cmocka_unit_test(test_routes_and_routers_both_kept),
                cmocka_unit_test(test_route_router_outside_subnet),
                cmocka_unit_test(test_slash32_with_onlink_gateway),
                cmocka_unit_test(test_build_discover),
                cmocka_unit_test(test_build_request_states),
                cmocka_unit_test(test_build_decline_release),
                cmocka_unit_test(test_build_short_buffer),
                cmocka_unit_test(test_build_inconsistent),
                cmocka_unit_test(test_masks),
                cmocka_unit_test(test_reader),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
