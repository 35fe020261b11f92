/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "sntp.h"
#include "util.h"

#define COOKIE 0x5eed5eed0badcafeULL
#define NS_PER_S 1000000000LL
#define ERA_BOUNDARY 2085978496LL /* 2036-02-07T06:28:16Z: NTP seconds wrap to 0 */
#define BUILD_TIME 1795168800LL   /* 2026-11-20T10:00:00Z */

/* Offsets of RFC 5905 §7.3's header. */
#define OFF_STRATUM 1
#define OFF_ROOT_DISP 8
#define OFF_REFID 12
#define OFF_ORIGINATE 24
#define OFF_RECEIVE 32
#define OFF_TRANSMIT 40

/* A reply in the shape chronyd sends as a "local stratum 8" server
 * (hand-built, not a capture): received at 2026-11-20T10:00:00.25Z by the
 * server's clock, sent back 50 us later. */
static const uint8_t reply[SNTP_PACKET_LEN] = {
        0x24, 8, 6, 0xe7,                               /* LI 0, VN 4, mode 4; stratum 8; poll 6; precision -25 */
        0x00, 0x00, 0x00, 0x00,                         /* root delay 0 */
        0x00, 0x00, 0x00, 0x11,                         /* root dispersion ~0.26 ms */
        0x7f, 0x7f, 0x01, 0x01,                         /* refid 127.127.1.1: chrony's local reference */
        0xee, 0xaa, 0x98, 0x60, 0x00, 0x00, 0x00, 0x00, /* reference: 64 s before */
        0x5e, 0xed, 0x5e, 0xed, 0x0b, 0xad, 0xca, 0xfe, /* originate: our cookie */
        0xee, 0xaa, 0x98, 0xa0, 0x40, 0x00, 0x00, 0x00, /* receive: BUILD_TIME + 0.25 s */
        0xee, 0xaa, 0x98, 0xa0, 0x40, 0x03, 0x46, 0xdc, /* transmit: BUILD_TIME + 0.25005 s */
};

static uint64_t ts_at(int64_t unix_s, int64_t ns)
{
        struct timespec t = { .tv_sec = (time_t)unix_s, .tv_nsec = (long)ns };
        return sntp_ts_from_timespec(&t);
}

static void put_ts(uint8_t *b, uint64_t ts)
{
        for (int i = 0; i < 8; i++)
                b[i] = (uint8_t)(ts >> (56 - 8 * i));
}

static void assert_near(int64_t got, int64_t want, int64_t tolerance)
{
        if (got - want > tolerance || want - got > tolerance)
                fail_msg("got %lld, want %lld (+-%lld)", (long long)got, (long long)want, (long long)tolerance);
}

static struct sntp_packet parse_ok(const uint8_t *buf, size_t len)
{
        struct sntp_packet p;
        char why[160] = "";
        int r = sntp_packet_parse(buf, len, &p, why, sizeof(why));
        if (r < 0)
                fail_msg("parse failed (%d): %s", r, why);
        return p;
}

/* The check refuses the fixture with one byte changed. */
static void expect_refused(size_t off, uint8_t value, int err, const char *why_part)
{
        uint8_t b[SNTP_PACKET_LEN];
        char why[160] = "";

        memcpy(b, reply, sizeof(b));
        b[off] = value;
        struct sntp_packet p = parse_ok(b, sizeof(b));
        assert_int_equal(sntp_reply_check(&p, COOKIE, why, sizeof(why)), err);
        if (why_part && !strstr(why, why_part))
                fail_msg("reason \"%s\" does not contain \"%s\"", why, why_part);
}

/* A packet whose receive and transmit are the given server times. */
static struct sntp_packet server_times(uint64_t t2, uint64_t t3)
{
        uint8_t b[SNTP_PACKET_LEN];
        memcpy(b, reply, sizeof(b));
        put_ts(b + OFF_RECEIVE, t2);
        put_ts(b + OFF_TRANSMIT, t3);
        struct sntp_packet p = parse_ok(b, sizeof(b));
        assert_int_equal(sntp_reply_check(&p, COOKIE, NULL, 0), 0);
        return p;
}

static struct sntp_result measure_ok(const struct sntp_packet *p, uint64_t t1, uint64_t t4)
{
        struct sntp_result res;
        char why[160] = "";
        if (sntp_measure(p, t1, t4, &res, why, sizeof(why)) < 0)
                fail_msg("measure failed: %s", why);
        return res;
}

/* ---- requests ----------------------------------------------------------- */

static void test_request_layout(void **state)
{
        uint8_t b[64];

        memset(b, 0xa5, sizeof(b));
        assert_int_equal(sntp_request_build(0x0123456789abcdefULL, b, sizeof(b)), SNTP_PACKET_LEN);
        assert_int_equal(b[0], 0x23); /* LI 0, VN 4, mode 3 */
        for (size_t i = 1; i < OFF_TRANSMIT; i++)
                assert_int_equal(b[i], 0);
        static const uint8_t xmt[8] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
        assert_memory_equal(b + OFF_TRANSMIT, xmt, 8);
        for (size_t i = SNTP_PACKET_LEN; i < sizeof(b); i++)
                assert_int_equal(b[i], 0xa5); /* nothing written past the header */
}

static void test_request_refused(void **state)
{
        uint8_t b[SNTP_PACKET_LEN], orig[SNTP_PACKET_LEN];

        memset(b, 0xa5, sizeof(b));
        memcpy(orig, b, sizeof(b));
        assert_int_equal(sntp_request_build(COOKIE, b, SNTP_PACKET_LEN - 1), -ENOBUFS);
        assert_int_equal(sntp_request_build(0, b, sizeof(b)), -EINVAL);
        assert_int_equal(sntp_request_build(COOKIE, NULL, 48), -EINVAL);
        assert_memory_equal(b, orig, sizeof(b));
}

/* What we send, the server reads as a request and would answer. */
static void test_request_parses_as_client(void **state)
{
        uint8_t b[SNTP_PACKET_LEN];
        char why[160] = "";

        assert_int_equal(sntp_request_build(COOKIE, b, sizeof(b)), SNTP_PACKET_LEN);
        struct sntp_packet p = parse_ok(b, sizeof(b));
        assert_int_equal(p.mode, SNTP_MODE_CLIENT);
        assert_int_equal(p.version, 4);
        assert_int_equal(p.transmit, COOKIE);
        /* our own request echoed back is no answer */
        assert_int_equal(sntp_reply_check(&p, COOKIE, why, sizeof(why)), -ENOMSG);
        assert_non_null(strstr(why, "mode 3"));
}

/* ---- the fixture and the arithmetic ------------------------------------- */

static void test_reply_fixture(void **state)
{
        struct sntp_packet p = parse_ok(reply, sizeof(reply));
        char why[160] = "", refid[SNTP_REFID_STRLEN];

        assert_int_equal(p.leap, 0);
        assert_int_equal(p.version, 4);
        assert_int_equal(p.mode, SNTP_MODE_SERVER);
        assert_int_equal(p.stratum, 8);
        assert_int_equal(p.poll, 6);
        assert_int_equal(p.precision, -25);
        assert_int_equal(p.root_dispersion, 0x11);
        assert_int_equal(p.refid, 0x7f7f0101);
        assert_int_equal(p.originate, COOKIE);
        assert_int_equal(p.receive, (uint64_t)0xeeaa98a0 << 32 | 0x40000000);
        assert_int_equal(p.receive, ts_at(BUILD_TIME, 250000000));
        if (sntp_reply_check(&p, COOKIE, why, sizeof(why)) < 0)
                fail_msg("check failed: %s", why);
        assert_string_equal(sntp_refid_str(p.stratum, p.refid, refid), "127.127.1.1");

        /* sent at .240 by our clock, answered 300 us later */
        struct sntp_result res =
                measure_ok(&p, ts_at(BUILD_TIME, 240000000), ts_at(BUILD_TIME, 240300000));
        assert_near(res.offset_ns, 9875000, 3); /* ((.250 - .240) + (.25005 - .2403)) / 2 */
        assert_near(res.delay_ns, 250000, 3);   /* 300 us less the 50 us the server held it */
        assert_int_equal(res.stratum, 8);
        assert_int_equal(res.refid, 0x7f7f0101);
        assert_int_equal(res.leap, 0);
        assert_true(res.root_distance_ns > 0 && res.root_distance_ns < 1000000);
}

/* Extension fields and a MAC after the header are ignored. */
static void test_reply_with_extension(void **state)
{
        uint8_t b[SNTP_PACKET_LEN + 20];

        memcpy(b, reply, sizeof(reply));
        memset(b + SNTP_PACKET_LEN, 0xee, 20);
        struct sntp_packet p = parse_ok(b, sizeof(b));
        assert_int_equal(sntp_reply_check(&p, COOKIE, NULL, 0), 0);
}

/* Our clock 1.5 s behind the server's: 10 ms each way, held 1 ms. */
static void test_offset_positive(void **state)
{
        int64_t t1 = 500000000; /* ns past BUILD_TIME by our clock */
        struct sntp_packet p = server_times(ts_at(BUILD_TIME + 2, 10000000),  /* t1 + 1.5 + 0.010 */
                                            ts_at(BUILD_TIME + 2, 11000000)); /* + 1 ms */
        struct sntp_result res = measure_ok(&p, ts_at(BUILD_TIME, t1), ts_at(BUILD_TIME, t1 + 21000000));
        assert_near(res.offset_ns, 1500000000, 3);
        assert_near(res.delay_ns, 20000000, 3);
}

/* Our clock 3.25 s ahead of the server's. */
static void test_offset_negative(void **state)
{
        struct sntp_packet p = server_times(ts_at(BUILD_TIME - 4, 755000000),  /* t1 - 3.25 + 0.005 */
                                            ts_at(BUILD_TIME - 4, 755000000)); /* held 0 */
        struct sntp_result res = measure_ok(&p, ts_at(BUILD_TIME, 0), ts_at(BUILD_TIME, 10000000));
        assert_near(res.offset_ns, -3250000000LL, 3);
        assert_near(res.delay_ns, 10000000, 3);
}

/* A clock still in 2001 against a server in 2026: 25 years, well inside
 * the 68 the wrapping arithmetic allows. */
static void test_offset_years(void **state)
{
        const int64_t was = 978307200; /* 2001-01-01T00:00:00Z */
        struct sntp_packet p = server_times(ts_at(BUILD_TIME, 1000), ts_at(BUILD_TIME, 2000));
        struct sntp_result res = measure_ok(&p, ts_at(was, 0), ts_at(was, 2000));
        assert_near(res.offset_ns, (BUILD_TIME - was) * NS_PER_S + 500, 3);
        assert_near(res.delay_ns, 1000, 3);
}

/* 2036: the server has crossed into era 1 (its seconds field restarted at
 * 0), our clock is 1.005 s behind and still in era 0. 15 ms each way, held
 * 10 ms. */
static void test_offset_across_era_forward(void **state)
{
        uint64_t t1 = ts_at(ERA_BOUNDARY - 1, 0), t4 = ts_at(ERA_BOUNDARY - 1, 40000000);
        uint64_t t2 = ts_at(ERA_BOUNDARY, 20000000), t3 = ts_at(ERA_BOUNDARY, 30000000);

        assert_int_equal(t1 >> 32, UINT32_MAX); /* the last second of era 0 */
        assert_int_equal(t4 >> 32, UINT32_MAX);
        assert_int_equal(t2 >> 32, 0);          /* the first of era 1 */
        assert_int_equal(t3 >> 32, 0);
        struct sntp_packet p = server_times(t2, t3);
        struct sntp_result res = measure_ok(&p, t1, t4);
        /* out: T2 - T1 = 1.020 s; back: T3 - T4 = 0.990 s */
        assert_near(res.offset_ns, 1005000000, 3);
        assert_near(res.delay_ns, 30000000, 3);
}

/* The other way: our clock in era 1, the server 2 s behind in era 0. */
static void test_offset_across_era_backward(void **state)
{
        uint64_t t1 = ts_at(ERA_BOUNDARY, 500000000), t4 = ts_at(ERA_BOUNDARY, 520000000);
        uint64_t t2 = ts_at(ERA_BOUNDARY - 2, 510000000), t3 = ts_at(ERA_BOUNDARY - 2, 510000000);

        assert_int_equal(t1 >> 32, 0);
        assert_int_equal(t2 >> 32, UINT32_MAX - 1);
        struct sntp_packet p = server_times(t2, t3);
        struct sntp_result res = measure_ok(&p, t1, t4);
        assert_near(res.offset_ns, -2000000000LL, 3);
        assert_near(res.delay_ns, 20000000, 3);
}

static void test_timestamp_helpers(void **state)
{
        struct timespec unix0 = { 0, 0 };

        assert_int_equal(sntp_ts_from_timespec(&unix0), (uint64_t)SNTP_UNIX_EPOCH << 32);
        assert_int_equal(ts_at(0, 500000000) & UINT32_MAX, 0x80000000u);
        assert_int_equal(sntp_ts_from_timespec(&(struct timespec){ ERA_BOUNDARY, 0 }), 0);
        assert_int_equal(sntp_ts_diff_ns(0, (uint64_t)UINT32_MAX << 32), NS_PER_S);
        assert_int_equal(sntp_ts_diff_ns((uint64_t)UINT32_MAX << 32, 0), -NS_PER_S);
        assert_int_equal(sntp_ts_diff_ns(0x80000000u, 0), 500000000);
        assert_int_equal(sntp_ts_diff_ns(0, 0x80000000u), -500000000);
        assert_int_equal(sntp_ts_add_ns((uint64_t)UINT32_MAX << 32, 1500000000), 0x80000000u);
        assert_int_equal(sntp_short_to_ns(0x00018000), 1500000000);
        assert_int_equal(sntp_short_to_ns(0xffffffff), 65535 * NS_PER_S + 999984741);
}

static void test_refid_text(void **state)
{
        char b[SNTP_REFID_STRLEN];

        assert_string_equal(sntp_refid_str(1, 0x47505300, b), "GPS");
        assert_string_equal(sntp_refid_str(0, 0x52415445, b), "RATE");
        assert_string_equal(sntp_refid_str(2, 0xc0000201, b), "192.0.2.1");
        assert_string_equal(sntp_refid_str(1, 0x015c0aff, b), "\\x01\\x5c\\x0a\\xff");
        assert_string_equal(sntp_refid_str(1, 0, b), "");
}

/* ---- refusals ----------------------------------------------------------- */

static void test_truncated(void **state)
{
        for (size_t len = 0; len < SNTP_PACKET_LEN; len++) {
                struct sntp_packet p, orig;
                char why[160] = "";
                memset(&p, 0xa5, sizeof(p));
                orig = p;
                assert_int_equal(sntp_packet_parse(reply, len, &p, why, sizeof(why)), -EBADMSG);
                assert_memory_equal(&p, &orig, sizeof(p));
                assert_non_null(strstr(why, "truncated"));
        }
        assert_int_equal(sntp_packet_parse(NULL, 48, &(struct sntp_packet){ 0 }, NULL, 0), -EINVAL);
}

static void test_wrong_mode(void **state)
{
        static const uint8_t others[] = { 0, 1, 2, 3, 6, 7 };
        for (size_t i = 0; i < ELEMENTSOF(others); i++)
                expect_refused(0, (uint8_t)(0x20 | others[i]), -ENOMSG, "not a server reply");
        expect_refused(0, 0x25, -ENOMSG, "broadcast (mode 5) refused");
}

static void test_wrong_version(void **state)
{
        static const uint8_t bad[] = { 0, 1, 2, 5, 6, 7 };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char want[32];
                snprintf(want, sizeof(want), "version %u, not 3 or 4", bad[i]);
                expect_refused(0, (uint8_t)(bad[i] << 3 | 4), -EBADMSG, want);
        }
        expect_refused(0, 3 << 3 | 4, 0, NULL); /* NTPv3 servers are fine */
}

static void test_unsynchronised(void **state)
{
        expect_refused(0, 0xe4, -ENODATA, "leap indicator 3"); /* LI 3, VN 4, mode 4 */
        expect_refused(OFF_STRATUM, 16, -ENODATA, "stratum 16");
        expect_refused(OFF_STRATUM, 17, -EBADMSG, "stratum 17 is reserved");
        expect_refused(OFF_STRATUM, 255, -EBADMSG, "stratum 255 is reserved");
        expect_refused(OFF_STRATUM, 15, 0, NULL);
        expect_refused(0, 0x64, 0, NULL); /* LI 1: a leap second tonight, still good time */
}

static void test_kiss_of_death(void **state)
{
        uint8_t b[SNTP_PACKET_LEN];
        char why[160] = "", code[SNTP_REFID_STRLEN];

        memcpy(b, reply, sizeof(b));
        b[0] = 0xe4; /* servers send KoD with LI 3 */
        b[OFF_STRATUM] = 0;
        memcpy(b + OFF_REFID, "RATE", 4);
        struct sntp_packet p = parse_ok(b, sizeof(b));
        assert_int_equal(sntp_reply_check(&p, COOKIE, why, sizeof(why)), -EACCES);
        assert_non_null(strstr(why, "kiss-o'-death RATE"));
        /* the parsed packet still holds the code for the caller to act on */
        assert_string_equal(sntp_refid_str(p.stratum, p.refid, code), "RATE");

        memcpy(b + OFF_REFID, "DENY", 4);
        p = parse_ok(b, sizeof(b));
        assert_int_equal(sntp_reply_check(&p, COOKIE, why, sizeof(why)), -EACCES);
        assert_non_null(strstr(why, "DENY: access refused"));

        memcpy(b + OFF_REFID, "\x01\x1b[2", 4); /* escaped before anyone prints it */
        p = parse_ok(b, sizeof(b));
        assert_int_equal(sntp_reply_check(&p, COOKIE, why, sizeof(why)), -EACCES);
        assert_non_null(strstr(why, "\\x01\\x1b[2"));

        /* a kiss with another originate is a spoof, not a kiss */
        assert_int_equal(sntp_reply_check(&p, COOKIE + 1, why, sizeof(why)), -ENOMSG);
}

static void test_originate_mismatch(void **state)
{
        expect_refused(OFF_ORIGINATE + 7, 0xff, -ENOMSG, "originate timestamp");
        expect_refused(OFF_ORIGINATE, 0x00, -ENOMSG, "is not our request's");
}

static void test_zero_timestamps(void **state)
{
        uint8_t b[SNTP_PACKET_LEN];
        char why[160] = "";

        memcpy(b, reply, sizeof(b));
        memset(b + OFF_TRANSMIT, 0, 8);
        struct sntp_packet p = parse_ok(b, sizeof(b));
        assert_int_equal(sntp_reply_check(&p, COOKIE, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "transmit timestamp is zero"));

        memcpy(b, reply, sizeof(b));
        memset(b + OFF_RECEIVE, 0, 8);
        p = parse_ok(b, sizeof(b));
        assert_int_equal(sntp_reply_check(&p, COOKIE, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "receive timestamp is zero"));
}

static void test_disordered_server_times(void **state)
{
        uint8_t b[SNTP_PACKET_LEN];
        char why[160] = "";

        memcpy(b, reply, sizeof(b));
        put_ts(b + OFF_TRANSMIT, ts_at(BUILD_TIME, 249000000)); /* before the receive */
        struct sntp_packet p = parse_ok(b, sizeof(b));
        assert_int_equal(sntp_reply_check(&p, COOKIE, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "transmit timestamp"));

        put_ts(b + OFF_TRANSMIT, ts_at(BUILD_TIME + 2, 0)); /* held 1.75 s */
        p = parse_ok(b, sizeof(b));
        assert_int_equal(sntp_reply_check(&p, COOKIE, why, sizeof(why)), -EBADMSG);
}

static void test_root_distance(void **state)
{
        uint8_t b[SNTP_PACKET_LEN];
        char why[160] = "";

        memcpy(b, reply, sizeof(b));
        b[OFF_ROOT_DISP] = 0x00;
        b[OFF_ROOT_DISP + 1] = 0x11; /* 17 s */
        struct sntp_packet p = parse_ok(b, sizeof(b));
        assert_int_equal(sntp_reply_check(&p, COOKIE, why, sizeof(why)), -ENODATA);
        assert_non_null(strstr(why, "root distance"));
}

static void test_measure_contradictions(void **state)
{
        struct sntp_packet p = parse_ok(reply, sizeof(reply));
        struct sntp_result res, orig;
        char why[160] = "";
        uint64_t t1 = ts_at(BUILD_TIME, 240000000);

        memset(&res, 0xa5, sizeof(res));
        orig = res;
        /* received before it was sent */
        assert_int_equal(sntp_measure(&p, t1, t1 - 1000, &res, why, sizeof(why)), -EBADMSG);
        /* a 10 us round trip with the server's 50 us hold in it: within
         * clock granularity, read as a delay of 0 */
        assert_int_equal(sntp_measure(&p, t1, ts_at(BUILD_TIME, 240010000), &res, why, sizeof(why)), 0);
        assert_int_equal(res.delay_ns, 0);
        res = orig;
        p.transmit = p.receive + ((uint64_t)1 << 31); /* held 0.5 s */
        assert_int_equal(sntp_measure(&p, t1, ts_at(BUILD_TIME, 250000000), &res, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "longer than the round trip"));
        assert_memory_equal(&res, &orig, sizeof(res));
}

/* ---- the clock ---------------------------------------------------------- */

static void expect_epoch(const char *text, size_t len, int err, int64_t want)
{
        int64_t v = -7;
        assert_int_equal(clock_epoch_parse(text, len, &v), err);
        assert_int_equal(v, err == 0 ? want : -7);
}

static void test_epoch_parse(void **state)
{
        expect_epoch("1795168800", 10, 0, BUILD_TIME);
        expect_epoch("1795168800\n", 11, 0, BUILD_TIME);
        expect_epoch("0", 1, 0, 0);
        expect_epoch("253402300799", 12, 0, CLOCK_EPOCH_MAX);
        expect_epoch("", 0, -EBADMSG, 0);
        expect_epoch("\n", 1, -EBADMSG, 0);
        expect_epoch("abc", 3, -EBADMSG, 0);
        expect_epoch("17951x8800", 10, -EBADMSG, 0);
        expect_epoch("-1", 2, -EBADMSG, 0);
        expect_epoch("+1795168800", 11, -EBADMSG, 0);
        expect_epoch(" 1795168800", 11, -EBADMSG, 0);
        expect_epoch("1795168800\n\n", 12, -EBADMSG, 0);
        expect_epoch("1795168800\r\n", 12, -EBADMSG, 0);
        expect_epoch("1795\0" "168800", 11, -EBADMSG, 0); /* an embedded NUL */
        expect_epoch("0x6b0a", 6, -EBADMSG, 0);
        expect_epoch("1.5", 3, -EBADMSG, 0);
        expect_epoch("253402300800", 12, -ERANGE, 0);
        expect_epoch("9223372036854775807", 19, -ERANGE, 0);
        expect_epoch("18446744073709551617", 20, -ERANGE, 0);
        expect_epoch("99999999999999999999999999999999999999", 38, -ERANGE, 0);
        assert_int_equal(clock_epoch_parse(NULL, 0, &(int64_t){ 0 }), -EINVAL);
}

static char *write_temp(const void *data, size_t len)
{
        char *path = strdup("/tmp/ember-test-epoch.XXXXXX");
        assert_non_null(path);
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        close(fd);
        return path;
}

static void test_epoch_file(void **state)
{
        char huge[200];
        int64_t v = -7;

        memset(huge, '1', sizeof(huge));
        _cleanup_free_ char *good = write_temp("1795168800\n", 11);
        _cleanup_free_ char *big = write_temp(huge, sizeof(huge));
        _cleanup_free_ char *empty = write_temp("", 0);
        assert_int_equal(clock_epoch_read(good, &v), 0);
        assert_int_equal(v, BUILD_TIME);
        assert_int_equal(clock_epoch_read(big, &v), -EFBIG);
        assert_int_equal(clock_epoch_read(empty, &v), -EBADMSG);
        assert_int_equal(clock_epoch_read("/nonexistent/build-epoch", &v), -ENOENT);
        assert_int_equal(v, BUILD_TIME);
        unlink(good);
        unlink(big);
        unlink(empty);
}

static void test_floor_plan(void **state)
{
        struct timespec set = { -1, -1 }, untouched = { -1, -1 };

        /* a clock in 2001: set to exactly the build time */
        assert_int_equal(clock_floor_plan(&(struct timespec){ 978307200, 5 }, BUILD_TIME, &set), 1);
        assert_int_equal(set.tv_sec, BUILD_TIME);
        assert_int_equal(set.tv_nsec, 0);
        /* a hair before */
        assert_int_equal(clock_floor_plan(&(struct timespec){ BUILD_TIME - 1, 999999999 }, BUILD_TIME, &set), 1);
        /* at or after it: left alone, *ret_set untouched */
        set = untouched;
        assert_int_equal(clock_floor_plan(&(struct timespec){ BUILD_TIME, 0 }, BUILD_TIME, &set), 0);
        assert_int_equal(clock_floor_plan(&(struct timespec){ BUILD_TIME + 86400, 0 }, BUILD_TIME, &set), 0);
        assert_int_equal(set.tv_sec, -1);
        /* a floor of 0 (an image built without a known time) never moves the clock */
        assert_int_equal(clock_floor_plan(&(struct timespec){ 0, 0 }, 0, &set), 0);
        assert_int_equal(clock_floor_plan(&(struct timespec){ 0, 0 }, -1, &set), -EINVAL);
        assert_int_equal(clock_floor_plan(&(struct timespec){ 0, 0 }, CLOCK_EPOCH_MAX + 1, &set), -EINVAL);
}

/* The whole of clock_floor() where it does not need to set anything: the
 * host's clock is later than 1970-01-01T00:00:01Z. */
static void test_floor_not_needed(void **state)
{
        char detail[160] = "";
        _cleanup_free_ char *one = write_temp("1\n", 2);
        _cleanup_free_ char *bad = write_temp("17951688OO\n", 11);

        assert_int_equal(clock_floor(one, detail, sizeof(detail)), 0);
        assert_non_null(strstr(detail, "is not before build time 1970-01-01T00:00:01Z"));
        assert_int_equal(clock_floor(bad, detail, sizeof(detail)), -EBADMSG);
        assert_non_null(strstr(detail, "not a decimal number of seconds"));
        assert_int_equal(clock_floor("/nonexistent/build-epoch", detail, sizeof(detail)), -ENOENT);
        unlink(one);
        unlink(bad);
}

static void test_offset_plan(void **state)
{
        const struct timespec now = { BUILD_TIME, 900000000 };
        struct timespec t = { -1, -1 };

        assert_int_equal(clock_offset_plan(999, true, &now, &t), CLOCK_UNCHANGED);
        assert_int_equal(clock_offset_plan(-999, false, &now, &t), CLOCK_UNCHANGED);
        assert_int_equal(clock_offset_plan(400000000, true, &now, &t), CLOCK_SLEWING);
        assert_int_equal(clock_offset_plan(-499999999, true, &now, &t), CLOCK_SLEWING);
        assert_int_equal(t.tv_sec, -1);
        /* steps: the nanoseconds carry and borrow */
        assert_int_equal(clock_offset_plan(500000000, true, &now, &t), CLOCK_STEPPED);
        assert_int_equal(t.tv_sec, BUILD_TIME + 1);
        assert_int_equal(t.tv_nsec, 400000000);
        assert_int_equal(clock_offset_plan(400000000, false, &now, &t), CLOCK_STEPPED);
        assert_int_equal(t.tv_sec, BUILD_TIME + 1);
        assert_int_equal(t.tv_nsec, 300000000);
        assert_int_equal(clock_offset_plan(-3950000000LL, true, &now, &t), CLOCK_STEPPED);
        assert_int_equal(t.tv_sec, BUILD_TIME - 4);
        assert_int_equal(t.tv_nsec, 950000000);
        /* out of 1970..9999 */
        assert_int_equal(clock_offset_plan(-(BUILD_TIME + 1) * NS_PER_S, false, &now, &t), -ERANGE);
        assert_int_equal(clock_offset_plan(INT64_MIN, false, &now, &t), -ERANGE);
        assert_int_equal(clock_offset_plan(INT64_MAX, false, &(struct timespec){ CLOCK_EPOCH_MAX - 5, 0 }, &t),
                         -ERANGE);
        assert_int_equal(t.tv_sec, BUILD_TIME - 4);
}

static void test_formats(void **state)
{
        char u[CLOCK_UTC_STRLEN], o[CLOCK_OFFSET_STRLEN];

        assert_string_equal(clock_format_utc(BUILD_TIME, u), "2026-11-20T10:00:00Z");
        assert_string_equal(clock_format_utc(0, u), "1970-01-01T00:00:00Z");
        assert_string_equal(clock_format_utc(ERA_BOUNDARY, u), "2036-02-07T06:28:16Z");
        assert_string_equal(clock_format_offset(0, o), "+0.000000000");
        assert_string_equal(clock_format_offset(-1, o), "-0.000000001");
        assert_string_equal(clock_format_offset(1500000000, o), "+1.500000000");
        assert_string_equal(clock_format_offset(INT64_MIN, o), "-9223372036.854775808");
        assert_string_equal(clock_format_offset(INT64_MAX, o), "+9223372036.854775807");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_request_layout),
                cmocka_unit_test(test_request_refused),
                cmocka_unit_test(test_request_parses_as_client),
                cmocka_unit_test(test_reply_fixture),
                cmocka_unit_test(test_reply_with_extension),
                cmocka_unit_test(test_offset_positive),
                cmocka_unit_test(test_offset_negative),
                cmocka_unit_test(test_offset_years),
                cmocka_unit_test(test_offset_across_era_forward),
                cmocka_unit_test(test_offset_across_era_backward),
                cmocka_unit_test(test_timestamp_helpers),
                cmocka_unit_test(test_refid_text),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_wrong_mode),
                cmocka_unit_test(test_wrong_version),
                cmocka_unit_test(test_unsynchronised),
                cmocka_unit_test(test_kiss_of_death),
                cmocka_unit_test(test_originate_mismatch),
                cmocka_unit_test(test_zero_timestamps),
                cmocka_unit_test(test_disordered_server_times),
                cmocka_unit_test(test_root_distance),
                cmocka_unit_test(test_measure_contradictions),
                cmocka_unit_test(test_epoch_parse),
                cmocka_unit_test(test_epoch_file),
                cmocka_unit_test(test_floor_plan),
                cmocka_unit_test(test_floor_not_needed),
                cmocka_unit_test(test_offset_plan),
                cmocka_unit_test(test_formats),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
