/* SPDX-License-Identifier: Apache-2.0 */
/* SNTP client (RFC 4330, and RFC 5905 in client mode): a pure packet layer
 * that builds requests and parses and checks replies, and sntp_query(),
 * one exchange with one server over UDP. The packet layer keeps no state,
 * opens nothing and logs nothing; the caller reports the reason strings.
 *
 * Timestamps are NTP's 64-bit fixed point (RFC 5905 §6): seconds since
 * 1900-01-01 in the upper 32 bits, the fraction of a second in the lower
 * 32, as uint64_t in host byte order.
 *
 * Eras. The 32-bit seconds wrap every 2^32 s (136 years), the first time
 * on 2036-02-07T06:28:16Z, and a packet does not say which era it is in.
 * This module never needs to know: it only ever uses the difference of two
 * timestamps, computed as an unsigned 64-bit subtraction (which wraps the
 * same way the timestamps do) and read as signed. That gives the true
 * interval, across an era boundary too, whenever the two instants are less
 * than 2^31 s (68 years) apart. Local time enters by folding the Unix
 * seconds modulo 2^32. A local clock more than 68 years from the server's
 * would read as the wrong sign; clock_floor() (clock.h) rules that out by
 * moving the clock to at least the image's build time first.
 *
 * Error convention of the parser and the checks:
 *   -EBADMSG  malformed or meaningless (too short, unknown version, zero or
 *             disordered timestamps, reserved stratum): drop it with a
 *             warning naming why;
 *   -ENOMSG   not a server's answer to our request (another mode, such as a
 *             broadcast, or another originate timestamp): drop it quietly;
 *   -EACCES   a kiss-o'-death (stratum 0): the server asks us to stop or to
 *             slow down; the four-letter code is in the packet's refid and
 *             in 'why';
 *   -ENODATA  an answer, but the server has no usable time (leap indicator
 *             3 or stratum 16: unsynchronised; root distance over 16 s);
 *   -EINVAL   a programmer error (NULL or out-of-range arguments).
 * 'why' (may be NULL) receives a plain-words reason on every failure. */
#pragma once

#include <stdint.h>
#include <stddef.h>
#include <time.h>

#define SNTP_PORT 123
#define SNTP_PACKET_LEN 48  /* the header; extension fields and a MAC may follow */
#define SNTP_VERSION 4
#define SNTP_UNIX_EPOCH 2208988800u /* 1970-01-01 in NTP seconds (era 0) */
#define SNTP_MAX_HOLD_NS 1000000000LL  /* T3 - T2: a server holding a request longer is broken */
#define SNTP_MAX_ROOT_DISTANCE_NS 16000000000LL /* RFC 5905 MAXDIST-style bound: 16 s */
#define SNTP_QUERY_MAX_TIMEOUT_MS 60000u
#define SNTP_QUERY_TRIES 3
#define SNTP_REFID_STRLEN 20 /* "255.255.255.255", or four bytes escaped as \xNN, and NUL */

enum sntp_mode {
        SNTP_MODE_CLIENT = 3,
        SNTP_MODE_SERVER = 4,
        SNTP_MODE_BROADCAST = 5,
};

enum sntp_leap {
        SNTP_LEAP_NONE = 0,
        SNTP_LEAP_ADD = 1,    /* the last minute of the day has 61 seconds */
        SNTP_LEAP_DELETE = 2, /* the last minute of the day has 59 seconds */
        SNTP_LEAP_UNSYNC = 3, /* the server's clock is not synchronised */
};

/* The 48-byte header, decoded but not judged. */
struct sntp_packet {
        uint8_t leap;    /* enum sntp_leap, 0..3 */
        uint8_t version; /* 0..7 */
        uint8_t mode;    /* 0..7 */
        uint8_t stratum; /* 0 kiss-o'-death, 1 primary, 2..15 secondary, 16 unsynchronised */
        int8_t poll;     /* log2 seconds */
        int8_t precision; /* log2 seconds */
        uint32_t root_delay;      /* NTP short format, 16.16 seconds */
        uint32_t root_dispersion; /* NTP short format, 16.16 seconds */
        uint32_t refid;  /* stratum 0: the kiss code; 1: a source name; else an upstream's IPv4 */
        uint64_t reference, originate, receive, transmit;
};

/* What one exchange tells the caller. */
struct sntp_result {
        int64_t offset_ns; /* the server's clock minus ours: add it to ours to agree */
        int64_t delay_ns;  /* the round trip less the server's hold time; >= 0 */
        int64_t root_distance_ns; /* the server's own error bound: root delay / 2 + dispersion */
        uint8_t stratum;
        uint8_t leap;      /* SNTP_LEAP_NONE, _ADD or _DELETE */
        int8_t precision;
        uint32_t refid;
};

/* Writes a client request (LI 0, VN 4, mode 3, every other field zero but
 * the transmit timestamp) into buf and returns its length, SNTP_PACKET_LEN;
 * -ENOBUFS when size is too small. 'cookie' becomes the transmit timestamp
 * and must come back as the reply's originate timestamp. It need not be
 * the time: RFC 5905 lets a client put any value there, and a random one is
 * what an off-path attacker cannot guess. 0 is refused (-EINVAL): a zero
 * originate is what a server sends when it has nothing to echo. */
int sntp_request_build(uint64_t cookie, void *buf, size_t size);

/* Decodes the first SNTP_PACKET_LEN bytes of a datagram; whatever follows
 * (RFC 7822 extension fields, a MAC) is ignored. Checks nothing but the
 * length, so the caller can read a kiss code from a packet that
 * sntp_reply_check() refuses. *ret is written only on success. */
int sntp_packet_parse(const void *buf, size_t len, struct sntp_packet *ret, char *why, size_t whylen);

/* Checks that a parsed packet is a usable server reply to the request
 * whose transmit timestamp was 'cookie' (RFC 4330 §5, RFC 5905 §8). */
int sntp_reply_check(const struct sntp_packet *p, uint64_t cookie, char *why, size_t whylen);

/* Offset and delay from a checked reply (T2 receive, T3 transmit) and our
 * own send and receive times t1 and t4, all NTP timestamps (RFC 5905 §8):
 *   offset = ((T2 - T1) + (T3 - T4)) / 2,  delay = (T4 - T1) - (T3 - T2).
 * -EBADMSG when the times contradict each other: t4 before t1, the server
 * holding the request for a negative time or longer than SNTP_MAX_HOLD_NS,
 * or a delay below zero by more than clock granularity can explain (a
 * delay within 1 ms of zero reads as 0). *ret is written only on success. */
int sntp_measure(const struct sntp_packet *p, uint64_t t1, uint64_t t4, struct sntp_result *ret,
                 char *why, size_t whylen);

/* One exchange with server:port (host byte order; port 0 means 123) over a
 * connected UDP socket, so datagrams from other addresses never reach us.
 * Sends up to SNTP_QUERY_TRIES requests spread over timeout_ms (1 ..
 * SNTP_QUERY_MAX_TIMEOUT_MS), each with its own random cookie, and takes
 * the first reply that passes the checks, whichever request it answers.
 * Malformed and foreign datagrams are dropped and waiting goes on; a
 * kiss-o'-death or an unsynchronised server ends the exchange at once.
 * T1 is CLOCK_REALTIME at sending; T4 is T1 plus the CLOCK_MONOTONIC time
 * the exchange took, so that a step of the real-time clock by someone else
 * meanwhile cannot pass for network delay or offset.
 * Returns 0, the packet layer's codes for the reply that ended the wait,
 * -ETIMEDOUT when no usable reply came, or the socket's error (such as
 * -ECONNREFUSED after an ICMP port unreachable) when one was seen and no
 * reply came; 'why' then says so, with the last dropped datagram's fault,
 * but not the server, which the caller names. *ret is written only on
 * success. */
int sntp_query(uint32_t server, uint16_t port, unsigned timeout_ms, struct sntp_result *ret, char *why,
               size_t whylen);

/* NTP timestamp of a Unix time, its seconds folded into their era. */
uint64_t sntp_ts_from_timespec(const struct timespec *ts);
/* a - b in nanoseconds, for instants less than 2^31 s apart (see Eras). */
int64_t sntp_ts_diff_ns(uint64_t a, uint64_t b);
/* ts moved on by ns >= 0. */
uint64_t sntp_ts_add_ns(uint64_t ts, uint64_t ns);
/* NTP short format (16.16 seconds) in nanoseconds. */
int64_t sntp_short_to_ns(uint32_t v);

/* The reference id as text: stratum 0 and 1 carry four ASCII characters
 * (a kiss code, a source such as GPS), shown with trailing NULs dropped and
 * anything unprintable escaped; other strata an IPv4 address, dotted. */
char *sntp_refid_str(uint8_t stratum, uint32_t refid, char buf[static SNTP_REFID_STRLEN]);
