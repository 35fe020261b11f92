/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4/UDP framing and ARP: round trips, every truncation, and the hostile
 * length fields a packet socket can deliver. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "packet.h"

#define SRC 0xc0000201u
#define DST 0xffffffffu

static size_t frame(uint8_t *out, size_t size)
{
        static const char payload[] = "a DHCP message would be here";
        int n = udp_frame_build(SRC, DST, 67, 68, payload, sizeof(payload), out, size);
        assert_true(n > 0);
        return (size_t)n;
}

static void test_round_trip(void **state)
{
        uint8_t b[256];
        struct udp_frame f;
        size_t n = frame(b, sizeof(b));
        assert_int_equal(n, 28 + 29);
        assert_int_equal(b[0], 0x45);
        assert_int_equal(inet_csum(b, 20, 0), 0); /* header checksum verifies */
        assert_int_equal(udp_frame_parse(b, n, 68, true, &f, NULL, 0), 0);
        assert_int_equal(f.src, SRC);
        assert_int_equal(f.dst, DST);
        assert_int_equal(f.sport, 67);
        assert_int_equal(f.len, 29);
        assert_string_equal((const char *)f.payload, "a DHCP message would be here");
}

static void test_link_padding_ignored(void **state)
{
        uint8_t b[256];
        struct udp_frame f;
        size_t n = frame(b, sizeof(b));
        memset(b + n, 0xee, 20); /* Ethernet pads short frames */
        assert_int_equal(udp_frame_parse(b, n + 20, 68, true, &f, NULL, 0), 0);
        assert_int_equal(f.len, 29);
}

static void test_every_truncation(void **state)
{
        uint8_t b[256], copy[256];
        struct udp_frame f = { .len = 12345 };
        char why[120];
        size_t n = frame(b, sizeof(b));
        memcpy(copy, b, n);
        for (size_t len = 0; len < n; len++) {
                int r = udp_frame_parse(b, len, 68, true, &f, why, sizeof(why));
                assert_int_equal(r, -EBADMSG);
                assert_true(strlen(why) > 0);
                assert_int_equal(f.len, 12345); /* untouched */
        }
        assert_memory_equal(b, copy, n);
}

static void test_not_for_us(void **state)
{
        uint8_t b[256];
        struct udp_frame f;
        size_t n = frame(b, sizeof(b));
        assert_int_equal(udp_frame_parse(b, n, 67, true, &f, NULL, 0), -ENOMSG); /* other port */
        b[0] = 0x65; /* IPv6 version nibble */
        assert_int_equal(udp_frame_parse(b, n, 68, true, &f, NULL, 0), -ENOMSG);
}

static void fix_ip_csum(uint8_t *b)
{
        b[10] = b[11] = 0;
        uint16_t c = inet_csum(b, 20, 0);
        b[10] = c >> 8;
        b[11] = c & 0xff;
}

static void test_hostile_headers(void **state)
{
        uint8_t b[256], good[256];
        struct udp_frame f;
        char why[120];
        size_t n = frame(good, sizeof(good));

        memcpy(b, good, n);
        b[0] = 0x44; /* IHL 16 bytes */
        assert_int_equal(udp_frame_parse(b, n, 68, true, &f, why, sizeof(why)), -EBADMSG);

        memcpy(b, good, n);
        b[0] = 0x4f; /* IHL 60 bytes: past the UDP header, checksum now wrong */
        assert_int_equal(udp_frame_parse(b, n, 68, true, &f, why, sizeof(why)), -EBADMSG);

        memcpy(b, good, n);
        b[2] = 0xff; /* total length beyond what arrived */
        b[3] = 0xff;
        fix_ip_csum(b);
        assert_int_equal(udp_frame_parse(b, n, 68, true, &f, why, sizeof(why)), -EBADMSG);

        memcpy(b, good, n);
        b[2] = 0;
        b[3] = 10; /* total length shorter than the header */
        fix_ip_csum(b);
        assert_int_equal(udp_frame_parse(b, n, 68, true, &f, why, sizeof(why)), -EBADMSG);

        memcpy(b, good, n);
        b[15] ^= 1; /* source changed: header checksum fails */
        assert_int_equal(udp_frame_parse(b, n, 68, true, &f, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "checksum"));

        memcpy(b, good, n);
        b[9] = 6; /* TCP */
        fix_ip_csum(b);
        assert_int_equal(udp_frame_parse(b, n, 68, true, &f, why, sizeof(why)), -ENOMSG);

        memcpy(b, good, n);
        b[6] = 0x20; /* more fragments */
        fix_ip_csum(b);
        assert_int_equal(udp_frame_parse(b, n, 68, true, &f, why, sizeof(why)), -ENOMSG);

        memcpy(b, good, n);
        b[24] = 0;
        b[25] = 4; /* UDP length below its header */
        assert_int_equal(udp_frame_parse(b, n, 68, false, &f, why, sizeof(why)), -EBADMSG);

        memcpy(b, good, n);
        b[24] = 0x10; /* UDP length past the IP payload */
        assert_int_equal(udp_frame_parse(b, n, 68, false, &f, why, sizeof(why)), -EBADMSG);

        memcpy(b, good, n);
        b[40] ^= 0x55; /* payload changed: UDP checksum fails ... */
        assert_int_equal(udp_frame_parse(b, n, 68, true, &f, why, sizeof(why)), -EBADMSG);
        /* ... unless the kernel says it was never filled in */
        assert_int_equal(udp_frame_parse(b, n, 68, false, &f, why, sizeof(why)), 0);

        memcpy(b, good, n);
        b[26] = b[27] = 0; /* checksum 0: none sent (RFC 768) */
        b[40] ^= 0x55;
        assert_int_equal(udp_frame_parse(b, n, 68, true, &f, why, sizeof(why)), 0);
}

static void test_ip_options_skipped(void **state)
{
        uint8_t inner[256], b[256];
        struct udp_frame f;
        size_t n = frame(inner, sizeof(inner));
        /* rebuild with a 24-byte header: 4 bytes of NOP options */
        memcpy(b, inner, 20);
        memset(b + 20, 1, 4);
        memcpy(b + 24, inner + 20, n - 20);
        b[0] = 0x46;
        b[3] += 4;
        fix_ip_csum(b);
        b[10] = b[11] = 0;
        uint16_t c = inet_csum(b, 24, 0);
        b[10] = c >> 8;
        b[11] = c & 0xff;
        assert_int_equal(udp_frame_parse(b, n + 4, 68, true, &f, NULL, 0), 0);
        assert_int_equal(f.len, 29);
}

static void test_build_limits(void **state)
{
        uint8_t b[64];
        assert_int_equal(udp_frame_build(SRC, DST, 68, 67, "x", 1, b, 28), -ENOBUFS);
        assert_int_equal(udp_frame_build(SRC, DST, 68, 67, "x", 1, b, 10), -ENOBUFS);
        assert_int_equal(udp_frame_build(SRC, DST, 68, 67, b, 70000, b, sizeof(b)), -E2BIG);
}

static void test_arp(void **state)
{
        static const uint8_t me[6] = { 2, 0, 0, 0, 0, 1 }, other[6] = { 2, 0, 0, 0, 0, 2 };
        struct arp_pkt p = { .op = ARP_REQUEST, .tpa = 0xc0000232u }, q;
        uint8_t b[ARP_PKT_LEN];
        memcpy(p.sha, me, 6);
        arp_build(&p, b);
        assert_int_equal(arp_parse(b, sizeof(b), &q), 0);
        assert_int_equal(q.op, ARP_REQUEST);
        assert_int_equal(q.spa, 0);
        assert_int_equal(q.tpa, 0xc0000232u);
        assert_memory_equal(q.sha, me, 6);
        for (size_t len = 0; len < sizeof(b); len++)
                assert_int_equal(arp_parse(b, len, &q), -EBADMSG);
        b[1] = 6; /* IEEE 802 hardware type */
        assert_int_equal(arp_parse(b, sizeof(b), &q), -ENOMSG);
        b[1] = 1;
        b[7] = 3; /* RARP */
        assert_int_equal(arp_parse(b, sizeof(b), &q), -ENOMSG);

        /* conflicts (RFC 5227 §2.1.1) */
        assert_false(arp_conflicts(&p, 0xc0000232u, me)); /* our own probe */
        memcpy(p.sha, other, 6);
        assert_true(arp_conflicts(&p, 0xc0000232u, me)); /* another probe for it */
        p.tpa = 0xc0000233u;
        assert_false(arp_conflicts(&p, 0xc0000232u, me)); /* a probe for something else */
        p.op = ARP_REPLY;
        p.spa = 0xc0000232u;
        assert_true(arp_conflicts(&p, 0xc0000232u, me)); /* its owner speaks */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_link_padding_ignored),
                cmocka_unit_test(test_every_truncation),
                cmocka_unit_test(test_not_for_us),
                cmocka_unit_test(test_hostile_headers),
                cmocka_unit_test(test_ip_options_skipped),
                cmocka_unit_test(test_build_limits),
                cmocka_unit_test(test_arp),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
