/* SPDX-License-Identifier: Apache-2.0 */
/* SNTP client. The packet layer reads untrusted bytes only through the
 * reader of lib/reader.h and fills a local struct that reaches the caller
 * only when the read succeeded. sntp_query() owns one socket for one
 * exchange and closes it on every path. */
#include "sntp.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "reader.h"
#include "reason.h"
#include "util.h"

#define NS_PER_S 1000000000LL
#define DELAY_SLACK_NS 1000000LL /* clock granularity, ours and the server's */
#define RECV_BUF 1024            /* a header with room for extension fields */
#define STRATUM_MAX 15
#define STRATUM_UNSYNC 16


/* ---- timestamps --------------------------------------------------------- */

uint64_t sntp_ts_from_timespec(const struct timespec *ts)
{
        /* the shift drops everything above 32 bits of seconds: the era */
        uint64_t secs = (uint64_t)(int64_t)ts->tv_sec + SNTP_UNIX_EPOCH;
        uint64_t frac = ((uint64_t)ts->tv_nsec << 32) / (uint64_t)NS_PER_S;
        return secs << 32 | (frac & UINT32_MAX);
}

int64_t sntp_ts_diff_ns(uint64_t a, uint64_t b)
{
        /* two's complement: the wrapped difference read as signed */
        int64_t d = (int64_t)(a - b);
        int64_t secs = d >> 32; /* floor, so the fraction below is never negative */
        uint64_t frac = (uint64_t)d & UINT32_MAX;
        return secs * NS_PER_S + (int64_t)((frac * (uint64_t)NS_PER_S) >> 32);
}

uint64_t sntp_ts_add_ns(uint64_t ts, uint64_t ns)
{
        uint64_t secs = ns / (uint64_t)NS_PER_S, rest = ns % (uint64_t)NS_PER_S;
        return ts + (secs << 32) + (rest << 32) / (uint64_t)NS_PER_S;
}

int64_t sntp_short_to_ns(uint32_t v)
{
        return (int64_t)(v >> 16) * NS_PER_S + (int64_t)(((uint64_t)(v & 0xffff) * NS_PER_S) >> 16);
}

char *sntp_refid_str(uint8_t stratum, uint32_t refid, char buf[static SNTP_REFID_STRLEN])
{
        if (stratum > 1) {
                snprintf(buf, SNTP_REFID_STRLEN, "%u.%u.%u.%u", refid >> 24, (refid >> 16) & 0xff,
                         (refid >> 8) & 0xff, refid & 0xff);
                return buf;
        }
        uint8_t c[4] = { (uint8_t)(refid >> 24), (uint8_t)(refid >> 16), (uint8_t)(refid >> 8),
                         (uint8_t)refid };
        size_t n = 4, o = 0;
        while (n > 0 && c[n - 1] == '\0')
                n--;
        for (size_t i = 0; i < n; i++) {
                if (c[i] >= 0x20 && c[i] < 0x7f && c[i] != '\\')
                        buf[o++] = (char)c[i];
                else
                        o += (size_t)snprintf(buf + o, SNTP_REFID_STRLEN - o, "\\x%02x", c[i]);
        }
        buf[o] = '\0';
        return buf;
}

/* ---- the packet layer --------------------------------------------------- */

/* RFC 5905 §7.3: the first octet packs LI (2 bits), VN (3) and mode (3). */
#define FIRST_OCTET(li, vn, mode) ((uint8_t)((li) << 6 | (vn) << 3 | (mode)))
#define OFF_TRANSMIT 40

int sntp_request_build(uint64_t cookie, void *buf, size_t size)
{
        uint8_t *b = buf;

        if (!buf || cookie == 0)
                return -EINVAL;
        if (size < SNTP_PACKET_LEN)
                return -ENOBUFS;
        memset(b, 0, SNTP_PACKET_LEN);
        b[0] = FIRST_OCTET(SNTP_LEAP_NONE, SNTP_VERSION, SNTP_MODE_CLIENT);
        for (int i = 0; i < 8; i++)
                b[OFF_TRANSMIT + i] = (uint8_t)(cookie >> (56 - 8 * i));
        return SNTP_PACKET_LEN;
}

static int rd_ts(struct reader *r, uint64_t *ret)
{
        uint32_t hi, lo;
        struct reader save = *r;

        if (rd_be32(r, &hi) < 0 || rd_be32(r, &lo) < 0) {
                *r = save;
                return -EBADMSG;
        }
        *ret = (uint64_t)hi << 32 | lo;
        return 0;
}

int sntp_packet_parse(const void *buf, size_t len, struct sntp_packet *ret, char *why, size_t whylen)
{
        struct reason w = { why, whylen };
        struct sntp_packet p = { 0 };
        struct reader r;
        uint8_t first, poll_, precision;

        if (!buf || !ret)
                return reason_fail(&w, -EINVAL, "no buffer");
        if (len < SNTP_PACKET_LEN)
                return reason_fail(&w, -EBADMSG, "truncated: %zu bytes, the header needs %d", len,
                            SNTP_PACKET_LEN);
        rd_init(&r, buf, len);
        if (rd_u8(&r, &first) < 0 || rd_u8(&r, &p.stratum) < 0 || rd_u8(&r, &poll_) < 0 ||
            rd_u8(&r, &precision) < 0 || rd_be32(&r, &p.root_delay) < 0 ||
            rd_be32(&r, &p.root_dispersion) < 0 || rd_be32(&r, &p.refid) < 0 ||
            rd_ts(&r, &p.reference) < 0 || rd_ts(&r, &p.originate) < 0 || rd_ts(&r, &p.receive) < 0 ||
            rd_ts(&r, &p.transmit) < 0)
                return reason_fail(&w, -EBADMSG, "truncated header");
        p.leap = first >> 6;
        p.version = (first >> 3) & 7;
        p.mode = first & 7;
        p.poll = (int8_t)poll_;
        p.precision = (int8_t)precision;
        *ret = p;
        return 0;
}

/* RFC 5905 §7.4: a kiss code is four ASCII capitals; anything else is shown
 * escaped. */
static int kiss(const struct sntp_packet *p, const struct reason *w)
{
        char code[SNTP_REFID_STRLEN];
        const char *meaning;

        sntp_refid_str(0, p->refid, code);
        if (streq(code, "RATE"))
                meaning = ": asking too often";
        else if (streq(code, "DENY") || streq(code, "RSTR"))
                meaning = ": access refused";
        else
                meaning = "";
        return reason_fail(w, -EACCES, "kiss-o'-death %s%s", code, meaning);
}

int sntp_reply_check(const struct sntp_packet *p, uint64_t cookie, char *why, size_t whylen)
{
        struct reason w = { why, whylen };

        if (!p)
                return reason_fail(&w, -EINVAL, "no packet");
        if (p->mode == SNTP_MODE_BROADCAST)
                return reason_fail(&w, -ENOMSG, "broadcast (mode 5) refused: Ember only takes answers");
        if (p->mode != SNTP_MODE_SERVER)
                return reason_fail(&w, -ENOMSG, "mode %u, not a server reply", p->mode);
        /* before anything else is believed, kiss codes included: only a
         * peer that saw our request can echo its cookie (RFC 5905 §8) */
        if (p->originate != cookie)
                return reason_fail(&w, -ENOMSG, "originate timestamp %016llx is not our request's",
                            (unsigned long long)p->originate);
        if (p->version != 3 && p->version != 4)
                return reason_fail(&w, -EBADMSG, "version %u, not 3 or 4", p->version);
        if (p->stratum == 0)
                return kiss(p, &w);
        if (p->stratum == STRATUM_UNSYNC)
                return reason_fail(&w, -ENODATA, "stratum 16: server not synchronised");
        if (p->stratum > STRATUM_MAX)
                return reason_fail(&w, -EBADMSG, "stratum %u is reserved", p->stratum);
        if (p->leap == SNTP_LEAP_UNSYNC)
                return reason_fail(&w, -ENODATA, "leap indicator 3: server not synchronised");
        if (p->receive == 0 || p->transmit == 0)
                return reason_fail(&w, -EBADMSG, "%s timestamp is zero", p->receive == 0 ? "receive" : "transmit");
        int64_t hold = sntp_ts_diff_ns(p->transmit, p->receive);
        if (hold < 0 || hold > SNTP_MAX_HOLD_NS)
                return reason_fail(&w, -EBADMSG, "transmit timestamp %lld ns after the receive timestamp",
                            (long long)hold);
        int64_t dist = sntp_short_to_ns(p->root_delay) / 2 + sntp_short_to_ns(p->root_dispersion);
        if (dist > SNTP_MAX_ROOT_DISTANCE_NS)
                return reason_fail(&w, -ENODATA, "root distance %lld ms over %lld ms", (long long)(dist / 1000000),
                            SNTP_MAX_ROOT_DISTANCE_NS / 1000000);
        return 0;
}

int sntp_measure(const struct sntp_packet *p, uint64_t t1, uint64_t t4, struct sntp_result *ret,
                 char *why, size_t whylen)
{
        struct reason w = { why, whylen };

        if (!p || !ret)
                return reason_fail(&w, -EINVAL, "no packet");
        /* each difference is within +-2^31 s, so each sum below fits */
        int64_t rtt = sntp_ts_diff_ns(t4, t1);
        int64_t hold = sntp_ts_diff_ns(p->transmit, p->receive);
        if (rtt < 0)
                return reason_fail(&w, -EBADMSG, "reply received %lld ns before the request was sent",
                            (long long)-rtt);
        if (hold < 0 || hold > SNTP_MAX_HOLD_NS)
                return reason_fail(&w, -EBADMSG, "server held the request for %lld ns", (long long)hold);
        int64_t delay = rtt - hold;
        if (delay < -DELAY_SLACK_NS)
                return reason_fail(&w, -EBADMSG, "server held the request %lld ns longer than the round trip took",
                            (long long)-delay);
        int64_t out = sntp_ts_diff_ns(p->receive, t1), back = sntp_ts_diff_ns(p->transmit, t4);
        *ret = (struct sntp_result){
                .offset_ns = (out + back) / 2,
                .delay_ns = delay < 0 ? 0 : delay,
                .root_distance_ns = sntp_short_to_ns(p->root_delay) / 2 + sntp_short_to_ns(p->root_dispersion),
                .stratum = p->stratum,
                .leap = p->leap,
                .precision = p->precision,
                .refid = p->refid,
        };
        return 0;
}

/* ---- one exchange ------------------------------------------------------- */

struct attempt {
        uint64_t cookie;
        uint64_t t1;      /* NTP timestamp of CLOCK_REALTIME at sending */
        int64_t mono_ns;  /* CLOCK_MONOTONIC at sending */
};

struct exchange {
        int fd;
        struct attempt sent[SNTP_QUERY_TRIES];
        size_t n_sent;
        int sock_err;      /* the last error the socket reported, 0 for none */
        char dropped[160]; /* why the last datagram was dropped, "" for none */
};

static int64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* A cookie nobody off the path can guess. GRND_INSECURE (Linux 5.6) never
 * blocks, early in boot included; older kernels refuse the flag and get the
 * plain call, which blocks only until the pool is first seeded. */
static int new_cookie(uint64_t *ret)
{
        uint64_t c = 0;
        ssize_t n;

        do {
                n = getrandom(&c, sizeof(c), GRND_INSECURE);
                if (n < 0 && errno == EINVAL)
                        n = getrandom(&c, sizeof(c), 0);
        } while ((n < 0 && errno == EINTR) || (n == (ssize_t)sizeof(c) && c == 0));
        if (n < 0)
                return negative_errno();
        if (n != (ssize_t)sizeof(c))
                return -EIO;
        *ret = c;
        return 0;
}

static int send_request(struct exchange *x)
{
        struct attempt a;
        struct timespec real;
        uint8_t pkt[SNTP_PACKET_LEN];
        int r = new_cookie(&a.cookie);

        if (r < 0)
                return r;
        r = sntp_request_build(a.cookie, pkt, sizeof(pkt));
        if (r < 0)
                return r;
        clock_gettime(CLOCK_REALTIME, &real);
        a.mono_ns = mono_ns();
        a.t1 = sntp_ts_from_timespec(&real);
        /* counted even when send fails: the try is spent either way */
        x->sent[x->n_sent++] = a;
        ssize_t n = send(x->fd, pkt, sizeof(pkt), MSG_NOSIGNAL);
        /* an ICMP error for an earlier try, pending on the socket, fails
         * this send without sending; reporting it cleared it */
        if (n < 0 && errno == ECONNREFUSED)
                n = send(x->fd, pkt, sizeof(pkt), MSG_NOSIGNAL);
        if (n < 0)
                x->sock_err = negative_errno();
        return 0;
}

/* 1 with *ret filled when the datagram is the answer, 0 when it was
 * dropped and waiting goes on, negative when the server's answer ends the
 * exchange without a result. */
static int take_reply(struct exchange *x, const uint8_t *buf, size_t len, int64_t t4_mono,
                      struct sntp_result *ret, const struct reason *w)
{
        struct sntp_packet p;
        const struct attempt *a = NULL;
        int r;

        r = sntp_packet_parse(buf, len, &p, x->dropped, sizeof(x->dropped));
        if (r < 0)
                return 0;
        for (size_t i = 0; i < x->n_sent; i++)
                if (x->sent[i].cookie == p.originate)
                        a = &x->sent[i];
        if (!a) {
                snprintf(x->dropped, sizeof(x->dropped),
                         "originate timestamp %016llx is none of our requests'",
                         (unsigned long long)p.originate);
                return 0;
        }
        r = sntp_reply_check(&p, a->cookie, x->dropped, sizeof(x->dropped));
        if (r == -EACCES || r == -ENODATA)
                return reason_fail(w, r, "%s", x->dropped);
        if (r < 0)
                return 0;
        uint64_t t4 = sntp_ts_add_ns(a->t1, (uint64_t)(t4_mono - a->mono_ns));
        r = sntp_measure(&p, a->t1, t4, ret, x->dropped, sizeof(x->dropped));
        return r < 0 ? 0 : 1;
}

/* Reads every queued datagram. */
static int drain(struct exchange *x, struct sntp_result *ret, const struct reason *w)
{
        uint8_t buf[RECV_BUF];

        for (;;) {
                ssize_t n = recv(x->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
                int64_t t4_mono = mono_ns();
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return 0;
                if (n < 0) {
                        /* an ICMP error for one of our requests: the next try may fare better */
                        x->sock_err = negative_errno();
                        continue;
                }
                /* MSG_TRUNC reports the datagram's real length; only the head is kept */
                int r = take_reply(x, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf), t4_mono, ret, w);
                if (r != 0)
                        return r;
        }
}

static int open_socket(uint32_t server, uint16_t port)
{
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons(port),
                .sin_addr.s_addr = htonl(server),
        };
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        if (fd < 0)
                return negative_errno();
        if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

static int give_up(const struct exchange *x, unsigned timeout_ms, const struct reason *w)
{
        int err = x->sock_err ? x->sock_err : -ETIMEDOUT;

        if (x->sock_err)
                return reason_fail(w, err, "no reply in %u ms to %zu requests: %s%s%s", timeout_ms, x->n_sent,
                            err == -ECONNREFUSED ? "port unreachable" : strerror(-err),
                            x->dropped[0] ? "; dropped: " : "", x->dropped);
        return reason_fail(w, err, "no reply in %u ms to %zu requests%s%s", timeout_ms, x->n_sent,
                    x->dropped[0] ? "; dropped: " : "", x->dropped);
}

int sntp_query(uint32_t server, uint16_t port, unsigned timeout_ms, struct sntp_result *ret, char *why,
               size_t whylen)
{
        struct reason w = { why, whylen };
        struct exchange x = { .fd = -1 };
        struct sntp_result res;

        if (!ret || server == 0 || server == UINT32_MAX || timeout_ms == 0 ||
            timeout_ms > SNTP_QUERY_MAX_TIMEOUT_MS)
                return reason_fail(&w, -EINVAL, "bad arguments");
        if (port == 0)
                port = SNTP_PORT;
        _cleanup_close_ int fd = open_socket(server, port);
        if (fd < 0)
                return reason_fail(&w, fd, "UDP socket to the server: %s", strerror(-fd));
        x.fd = fd;

        int64_t start = mono_ns(), step = (int64_t)timeout_ms * 1000000 / SNTP_QUERY_TRIES;
        int64_t deadline = start + (int64_t)timeout_ms * 1000000;
        for (;;) {
                int64_t now = mono_ns();
                if (x.n_sent < SNTP_QUERY_TRIES && now >= start + (int64_t)x.n_sent * step) {
                        int r = send_request(&x);
                        if (r < 0)
                                return reason_fail(&w, r, "making a request: %s", strerror(-r));
                        continue;
                }
                if (now >= deadline)
                        return give_up(&x, timeout_ms, &w);
                int64_t until = x.n_sent < SNTP_QUERY_TRIES ? start + (int64_t)x.n_sent * step : deadline;
                /* rounded up so the wake-up is never early */
                int ms = (int)((until - now + 999999) / 1000000);
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int n = poll(&pfd, 1, ms);
                if (n < 0 && errno != EINTR) {
                        int err = negative_errno();
                        return reason_fail(&w, err, "waiting for the reply: %s", strerror(-err));
                }
                if (n <= 0)
                        continue;
                int r = drain(&x, &res, &w);
                if (r < 0)
                        return r;
                if (r > 0) {
                        *ret = res;
                        return 0;
                }
        }
}
