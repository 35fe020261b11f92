/* SPDX-License-Identifier: Apache-2.0 */
/* The DHCP client's state machine driven with a fake clock and fake
 * sockets: every transition of RFC 2131 §4.4 that the integration tests
 * would need minutes (or a misbehaving server) to reach. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dhcp_client.h"
#include "packet.h"

#define SEC 1000ULL
#define SERVER 0xc0000201u /* 192.0.2.1 */
#define OTHER_SERVER 0xc0000202u
#define ADDR 0xc0000232u   /* 192.0.2.50 */

static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

struct sent {
        uint8_t buf[1024];
        size_t len;
        uint32_t src, dst; /* dst 0: broadcast */
};

struct fake {
        struct sent sent[64];
        unsigned nsent;
        unsigned probes;
        unsigned arp_done;
        unsigned bound, renewed, unbound;
        struct dhcp_lease last;
        uint32_t rnd;
        char log[64][320];
        unsigned nlog;
        int bound_result;
};

static int f_bcast(void *ud, uint32_t src, const void *buf, size_t len)
{
        struct fake *f = ud;
        struct sent *s = &f->sent[f->nsent++ % 64];
        memcpy(s->buf, buf, len);
        s->len = len;
        s->src = src;
        s->dst = 0;
        return 0;
}

static int f_ucast(void *ud, uint32_t src, uint32_t dst, const void *buf, size_t len)
{
        struct fake *f = ud;
        f_bcast(ud, src, buf, len);
        f->sent[(f->nsent - 1) % 64].dst = dst;
        return 0;
}

static int f_probe(void *ud, uint32_t addr)
{
        struct fake *f = ud;
        assert_int_equal(addr, ADDR);
        f->probes++;
        return 0;
}

static void f_arp_done(void *ud) { ((struct fake *)ud)->arp_done++; }

static int f_bound(void *ud, const struct dhcp_lease *l, bool renewed)
{
        struct fake *f = ud;
        f->last = *l;
        if (renewed)
                f->renewed++;
        else
                f->bound++;
        return f->bound_result;
}

static void f_unbound(void *ud, const struct dhcp_lease *l, const char *why)
{
        ((struct fake *)ud)->unbound++;
}

static uint32_t f_random(void *ud)
{
        struct fake *f = ud;
        return f->rnd = f->rnd * 1103515245u + 12345u;
}

static void f_log(void *ud, int level, const char *msg)
{
        struct fake *f = ud;
        snprintf(f->log[f->nlog++ % 64], sizeof(f->log[0]), "%s", msg);
}

static const struct dhcp_client_ops ops = { f_bcast, f_ucast, f_probe, f_arp_done, f_bound, f_unbound, f_random, f_log };

/* ---- looking into what the client sent ---- */

static const struct sent *last_sent(const struct fake *f)
{
        assert_true(f->nsent > 0);
        return &f->sent[(f->nsent - 1) % 64];
}

/* The value of option code in a BOOTREQUEST, or NULL. */
static const uint8_t *opt(const struct sent *s, uint8_t code, size_t *len)
{
        size_t i = 240;
        while (i < s->len) {
                uint8_t c = s->buf[i];
                if (c == 0) {
                        i++;
                        continue;
                }
                if (c == 255 || i + 1 >= s->len)
                        return NULL;
                size_t l = s->buf[i + 1];
                if (c == code) {
                        *len = l;
                        return s->buf + i + 2;
                }
                i += 2 + l;
        }
        return NULL;
}

static int sent_type(const struct sent *s)
{
        size_t l;
        const uint8_t *v = opt(s, 53, &l);
        return v && l == 1 ? v[0] : -1;
}

static uint32_t sent_xid(const struct sent *s)
{
        return (uint32_t)s->buf[4] << 24 | (uint32_t)s->buf[5] << 16 | (uint32_t)s->buf[6] << 8 | s->buf[7];
}

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool has_opt(const struct sent *s, uint8_t code)
{
        size_t l;
        return opt(s, code, &l) != NULL;
}

/* ---- server replies ---- */

struct reply {
        uint8_t type;
        uint32_t xid, yiaddr, server;
        uint32_t lease, t1, t2;
        bool rapid;
        const uint8_t *chaddr;
};

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = v >> 24;
        p[1] = v >> 16;
        p[2] = v >> 8;
        p[3] = v;
}

static size_t add_opt32(uint8_t *b, size_t i, uint8_t code, uint32_t v)
{
        b[i] = code;
        b[i + 1] = 4;
        put32(b + i + 2, v);
        return i + 6;
}

static size_t make_reply(const struct reply *r, uint8_t *b)
{
        memset(b, 0, 548);
        b[0] = 2;
        b[1] = 1;
        b[2] = 6;
        put32(b + 4, r->xid);
        put32(b + 16, r->type == 6 ? 0 : r->yiaddr);
        memcpy(b + 28, r->chaddr ? r->chaddr : mac, 6);
        put32(b + 236, 0x63825363);
        size_t i = 240;
        b[i++] = 53;
        b[i++] = 1;
        b[i++] = r->type;
        i = add_opt32(b, i, 54, r->server);
        if (r->type != 6) {
                i = add_opt32(b, i, 51, r->lease);
                if (r->t1)
                        i = add_opt32(b, i, 58, r->t1);
                if (r->t2)
                        i = add_opt32(b, i, 59, r->t2);
                i = add_opt32(b, i, 1, 0xffffff00u);
                i = add_opt32(b, i, 3, SERVER);
                i = add_opt32(b, i, 6, SERVER);
        }
        if (r->rapid) {
                b[i++] = 80;
                b[i++] = 0;
        }
        b[i++] = 255;
        return i < 300 ? 300 : i;
}

static void deliver(struct dhcp_client *c, unsigned long long now, const struct reply *r)
{
        uint8_t b[600];
        size_t n = make_reply(r, b);
        dhcp_client_handle_dhcp(c, now, b, n);
}

static void start(struct dhcp_client *c, struct fake *f, bool rapid, struct acd_timing acd, uint32_t reboot)
{
        memset(f, 0, sizeof(*f));
        f->rnd = 7;
        struct dhcp_client_config cfg = { .hostname = "node-1", .rapid_commit = rapid, .acd = acd,
                                          .init_reboot_addr = reboot };
        memcpy(cfg.mac, mac, 6);
        dhcp_client_init(c, &cfg, &ops, f);
        dhcp_client_start(c, 1000);
}

/* DISCOVER → OFFER → REQUEST → ACK, no conflict detection. */
static void bind_plain(struct dhcp_client *c, struct fake *f, uint32_t lease, uint32_t t1, uint32_t t2)
{
        start(c, f, false, ACD_OFF, 0);
        const struct sent *d = last_sent(f);
        assert_int_equal(sent_type(d), 1);
        uint32_t xid = sent_xid(d);
        deliver(c, 1010, &(struct reply){ .type = 2, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = lease,
                                          .t1 = t1, .t2 = t2 });
        const struct sent *rq = last_sent(f);
        assert_int_equal(sent_type(rq), 3);
        assert_int_equal(sent_xid(rq), xid);
        deliver(c, 1020, &(struct reply){ .type = 5, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = lease,
                                          .t1 = t1, .t2 = t2 });
        assert_int_equal(c->state, DHCP_STATE_BOUND);
}

static void test_dora(void **state)
{
        struct dhcp_client c;
        struct fake f;
        start(&c, &f, false, ACD_OFF, 0);
        assert_int_equal(c.state, DHCP_STATE_SELECTING);
        const struct sent *d = last_sent(&f);
        assert_int_equal(d->dst, 0);
        assert_int_equal(d->buf[0], 1); /* BOOTREQUEST */
        assert_memory_equal(d->buf + 28, mac, 6);
        assert_false(has_opt(d, 80)); /* rapid commit not offered */
        size_t l;
        const uint8_t *h = opt(d, 12, &l);
        assert_non_null(h);
        assert_int_equal(l, 6);
        assert_memory_equal(h, "node-1", 6);
        assert_true(has_opt(d, 61)); /* client identifier */
        uint32_t xid = sent_xid(d);

        deliver(&c, 1010, &(struct reply){ .type = 2, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = 3600 });
        assert_int_equal(c.state, DHCP_STATE_REQUESTING);
        const struct sent *rq = last_sent(&f);
        assert_int_equal(sent_type(rq), 3);
        const uint8_t *v = opt(rq, 50, &l);
        assert_non_null(v);
        assert_int_equal(be32(v), ADDR);
        v = opt(rq, 54, &l);
        assert_non_null(v);
        assert_int_equal(be32(v), SERVER);
        assert_int_equal(be32(rq->buf + 12), 0); /* ciaddr empty when selecting */

        /* a second offer while requesting is ignored */
        unsigned before = f.nsent;
        deliver(&c, 1015, &(struct reply){ .type = 2, .xid = xid, .yiaddr = ADDR + 1, .server = SERVER, .lease = 3600 });
        assert_int_equal(f.nsent, before);

        deliver(&c, 1020, &(struct reply){ .type = 5, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = 3600 });
        assert_int_equal(c.state, DHCP_STATE_BOUND);
        assert_int_equal(f.bound, 1);
        assert_int_equal(f.last.addr, ADDR);
        assert_int_equal(f.last.prefix, 24);
        assert_int_equal(f.last.t1_s, 1800);
        assert_int_equal(f.last.t2_s, 3150);
        assert_int_equal(f.last.n_routes, 1);
        assert_int_equal(f.last.routes[0].router, SERVER);
        assert_false(f.last.rapid_commit);
        /* T1 counts from the REQUEST (sent at 1010) */
        assert_int_equal(dhcp_client_next(&c), 1010 + 1800 * SEC);
}

static void test_rapid_commit(void **state)
{
        struct dhcp_client c;
        struct fake f;
        start(&c, &f, true, ACD_OFF, 0);
        const struct sent *d = last_sent(&f);
        assert_true(has_opt(d, 80));
        uint32_t xid = sent_xid(d);
        deliver(&c, 1005, &(struct reply){ .type = 5, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = 600,
                                           .rapid = true });
        assert_int_equal(c.state, DHCP_STATE_BOUND);
        assert_int_equal(f.nsent, 1); /* two messages in all */
        assert_true(f.last.rapid_commit);
        assert_int_equal(f.last.acquired_ms, 1000);
}

static void test_ack_without_rapid_commit_ignored(void **state)
{
        struct dhcp_client c;
        struct fake f;
        start(&c, &f, true, ACD_OFF, 0);
        uint32_t xid = sent_xid(last_sent(&f));
        deliver(&c, 1005, &(struct reply){ .type = 5, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = 600 });
        assert_int_equal(c.state, DHCP_STATE_SELECTING);
        /* nor is a rapid ACK when we did not offer rapid commit */
        start(&c, &f, false, ACD_OFF, 0);
        xid = sent_xid(last_sent(&f));
        deliver(&c, 1005, &(struct reply){ .type = 5, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = 600,
                                           .rapid = true });
        assert_int_equal(c.state, DHCP_STATE_SELECTING);
        assert_int_equal(f.bound, 0);
}

static void test_not_ours_dropped(void **state)
{
        struct dhcp_client c;
        struct fake f;
        static const uint8_t other[6] = { 2, 0, 0, 0, 0, 9 };
        start(&c, &f, false, ACD_OFF, 0);
        uint32_t xid = sent_xid(last_sent(&f));
        deliver(&c, 1005, &(struct reply){ .type = 2, .xid = xid + 1, .yiaddr = ADDR, .server = SERVER, .lease = 600 });
        deliver(&c, 1005, &(struct reply){ .type = 2, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = 600,
                                           .chaddr = other });
        assert_int_equal(c.state, DHCP_STATE_SELECTING);
        assert_int_equal(f.nlog, 1); /* only "sending DHCPDISCOVER": not ours is silent */
        /* an OFFER with a zero lease is hostile: one warning, no change */
        deliver(&c, 1005, &(struct reply){ .type = 2, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = 0 });
        assert_int_equal(c.state, DHCP_STATE_SELECTING);
        assert_int_equal(f.nlog, 2);
        assert_non_null(strstr(f.log[1], "dropping"));
}

static void test_truncated_replies(void **state)
{
        struct dhcp_client c;
        struct fake f;
        uint8_t b[600];
        start(&c, &f, false, ACD_OFF, 0);
        uint32_t xid = sent_xid(last_sent(&f));
        size_t n = make_reply(&(struct reply){ .type = 2, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = 600 }, b);
        for (size_t len = 0; len < 262; len++) {
                dhcp_client_handle_dhcp(&c, 1005, b, len);
                assert_int_equal(c.state, DHCP_STATE_SELECTING);
        }
        dhcp_client_handle_dhcp(&c, 1005, b, n);
        assert_int_equal(c.state, DHCP_STATE_REQUESTING);
}

static void test_wrong_server_in_requesting(void **state)
{
        struct dhcp_client c;
        struct fake f;
        start(&c, &f, false, ACD_OFF, 0);
        uint32_t xid = sent_xid(last_sent(&f));
        deliver(&c, 1010, &(struct reply){ .type = 2, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = 600 });
        deliver(&c, 1020, &(struct reply){ .type = 5, .xid = xid, .yiaddr = ADDR, .server = OTHER_SERVER, .lease = 600 });
        assert_int_equal(c.state, DHCP_STATE_REQUESTING);
        deliver(&c, 1020, &(struct reply){ .type = 6, .xid = xid, .server = OTHER_SERVER });
        assert_int_equal(c.state, DHCP_STATE_REQUESTING);
}

static void test_backoff(void **state)
{
        struct dhcp_client c;
        struct fake f;
        start(&c, &f, false, ACD_OFF, 0);
        unsigned long long now = 1000, expect = 4 * SEC;
        for (int i = 0; i < 8; i++) {
                unsigned long long next = dhcp_client_next(&c);
                unsigned long long d = next - now;
                assert_true(d >= expect - SEC && d <= expect + SEC);
                dhcp_client_tick(&c, next - 1); /* not yet */
                assert_int_equal(f.nsent, (unsigned)i + 1);
                now = next;
                dhcp_client_tick(&c, now);
                assert_int_equal(f.nsent, (unsigned)i + 2);
                assert_int_equal(sent_type(last_sent(&f)), 1);
                /* secs counts from the start */
                unsigned secs = (unsigned)last_sent(&f)->buf[8] << 8 | last_sent(&f)->buf[9];
                assert_int_equal(secs, (now - 1000) / SEC);
                expect = expect * 2 > 64 * SEC ? 64 * SEC : expect * 2;
        }
}

static void test_request_gives_up(void **state)
{
        struct dhcp_client c;
        struct fake f;
        start(&c, &f, false, ACD_OFF, 0);
        uint32_t xid = sent_xid(last_sent(&f));
        deliver(&c, 1010, &(struct reply){ .type = 2, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = 600 });
        for (int i = 0; i < 4; i++)
                dhcp_client_tick(&c, dhcp_client_next(&c));
        assert_int_equal(c.state, DHCP_STATE_SELECTING);
        assert_int_equal(sent_type(last_sent(&f)), 1);
        assert_int_not_equal(sent_xid(last_sent(&f)), xid);
}

static void test_renew_rebind_expire(void **state)
{
        struct dhcp_client c;
        struct fake f;
        bind_plain(&c, &f, 120, 60, 105);
        unsigned long long t0 = 1010;
        assert_int_equal(dhcp_client_next(&c), t0 + 60 * SEC);

        /* T1: unicast REQUEST with ciaddr, no server id, no requested ip */
        dhcp_client_tick(&c, t0 + 60 * SEC);
        assert_int_equal(c.state, DHCP_STATE_RENEWING);
        const struct sent *s = last_sent(&f);
        assert_int_equal(sent_type(s), 3);
        assert_int_equal(s->dst, SERVER);
        assert_int_equal(s->src, ADDR);
        assert_int_equal(be32(s->buf + 12), ADDR);
        assert_false(has_opt(s, 54));
        assert_false(has_opt(s, 50));
        /* retry never later than T2 */
        assert_int_equal(dhcp_client_next(&c), t0 + 105 * SEC);

        /* T2: broadcast */
        dhcp_client_tick(&c, t0 + 105 * SEC);
        assert_int_equal(c.state, DHCP_STATE_REBINDING);
        s = last_sent(&f);
        assert_int_equal(s->dst, 0);
        assert_int_equal(s->src, ADDR);
        assert_int_equal(be32(s->buf + 12), ADDR);
        assert_int_equal(dhcp_client_next(&c), t0 + 120 * SEC);

        /* expiry: the address goes, discovery starts again */
        dhcp_client_tick(&c, t0 + 120 * SEC);
        assert_int_equal(f.unbound, 1);
        assert_int_equal(c.state, DHCP_STATE_SELECTING);
        assert_int_equal(sent_type(last_sent(&f)), 1);
}

static void test_renewal_acked(void **state)
{
        struct dhcp_client c;
        struct fake f;
        bind_plain(&c, &f, 120, 60, 105);
        dhcp_client_tick(&c, 1010 + 60 * SEC);
        uint32_t xid = sent_xid(last_sent(&f));
        /* an ACK from another server while renewing is not ours to take */
        deliver(&c, 61020, &(struct reply){ .type = 5, .xid = xid, .yiaddr = ADDR, .server = OTHER_SERVER, .lease = 120 });
        assert_int_equal(c.state, DHCP_STATE_RENEWING);
        deliver(&c, 61020, &(struct reply){ .type = 5, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = 120,
                                            .t1 = 60, .t2 = 105 });
        assert_int_equal(c.state, DHCP_STATE_BOUND);
        assert_int_equal(f.renewed, 1);
        assert_int_equal(f.bound, 1);
        assert_int_equal(f.unbound, 0);
        assert_int_equal(c.renewals, 1);
        assert_int_equal(dhcp_client_next(&c), 61010 + 60 * SEC);
}

static void test_rebinding_acked_by_other_server(void **state)
{
        struct dhcp_client c;
        struct fake f;
        bind_plain(&c, &f, 120, 60, 105);
        dhcp_client_tick(&c, 1010 + 60 * SEC);
        dhcp_client_tick(&c, 1010 + 105 * SEC);
        uint32_t xid = sent_xid(last_sent(&f));
        deliver(&c, 107000, &(struct reply){ .type = 5, .xid = xid, .yiaddr = ADDR, .server = OTHER_SERVER, .lease = 120 });
        assert_int_equal(c.state, DHCP_STATE_BOUND);
        assert_int_equal(f.renewed, 1);
        assert_int_equal(c.lease.server_id, OTHER_SERVER);
}

static void test_nak_restarts(void **state)
{
        struct dhcp_client c;
        struct fake f;
        bind_plain(&c, &f, 120, 60, 105);
        dhcp_client_tick(&c, 1010 + 60 * SEC);
        uint32_t xid = sent_xid(last_sent(&f));
        deliver(&c, 61100, &(struct reply){ .type = 6, .xid = xid, .server = SERVER });
        assert_int_equal(f.unbound, 1);
        assert_int_equal(c.state, DHCP_STATE_INIT);
        assert_int_equal(dhcp_client_next(&c), 61100); /* at once */
        dhcp_client_tick(&c, 61100);
        assert_int_equal(c.state, DHCP_STATE_SELECTING);
        assert_int_equal(sent_type(last_sent(&f)), 1);
        /* a second NAK in a row waits before starting over */
        xid = sent_xid(last_sent(&f));
        deliver(&c, 61200, &(struct reply){ .type = 2, .xid = xid, .yiaddr = ADDR, .server = SERVER, .lease = 120 });
        deliver(&c, 61300, &(struct reply){ .type = 6, .xid = xid, .server = SERVER });
        assert_int_equal(f.unbound, 1); /* nothing was bound */
        assert_int_equal(dhcp_client_next(&c), 61300 + SEC);
}

static void test_init_reboot(void **state)
{
        struct dhcp_client c;
        struct fake f;
        start(&c, &f, true, ACD_OFF, ADDR);
        assert_int_equal(c.state, DHCP_STATE_REBOOTING);
        const struct sent *s = last_sent(&f);
        assert_int_equal(sent_type(s), 3);
        size_t l;
        const uint8_t *v = opt(s, 50, &l);
        assert_non_null(v);
        assert_int_equal(be32(v), ADDR);
        assert_false(has_opt(s, 54));
        /* NAK: forget it, discover */
        deliver(&c, 1010, &(struct reply){ .type = 6, .xid = sent_xid(s), .server = SERVER });
        dhcp_client_tick(&c, 1010);
        assert_int_equal(c.state, DHCP_STATE_SELECTING);
        assert_int_equal(f.unbound, 0);

        /* silence: after two tries, discover */
        start(&c, &f, true, ACD_OFF, ADDR);
        dhcp_client_tick(&c, dhcp_client_next(&c));
        assert_int_equal(c.state, DHCP_STATE_REBOOTING);
        dhcp_client_tick(&c, dhcp_client_next(&c));
        assert_int_equal(c.state, DHCP_STATE_SELECTING);
        assert_int_equal(sent_type(last_sent(&f)), 1);

        /* ACK: bound with the remembered address */
        start(&c, &f, true, ACD_OFF, ADDR);
        deliver(&c, 1010, &(struct reply){ .type = 5, .xid = sent_xid(last_sent(&f)), .yiaddr = ADDR, .server = SERVER,
                                           .lease = 600 });
        assert_int_equal(c.state, DHCP_STATE_BOUND);
}

static void arp_from(struct dhcp_client *c, unsigned long long now, uint16_t op, const uint8_t sha[6], uint32_t spa,
                     uint32_t tpa)
{
        struct arp_pkt p = { .op = op, .spa = spa, .tpa = tpa };
        uint8_t b[ARP_PKT_LEN];
        memcpy(p.sha, sha, 6);
        arp_build(&p, b);
        dhcp_client_handle_arp(c, now, b, sizeof(b));
}

static void ack_with_acd(struct dhcp_client *c, struct fake *f)
{
        start(c, f, true, ACD_FAST, 0);
        deliver(c, 1005, &(struct reply){ .type = 5, .xid = sent_xid(last_sent(f)), .yiaddr = ADDR, .server = SERVER,
                                          .lease = 600, .rapid = true });
        assert_int_equal(c->state, DHCP_STATE_CHECKING);
        assert_int_equal(f->bound, 0);
}

static void test_acd_clean(void **state)
{
        struct dhcp_client c;
        struct fake f;
        static const uint8_t other[6] = { 2, 0, 0, 0, 0, 9 };
        ack_with_acd(&c, &f);
        unsigned long long start_ms = 1005, now = start_ms;
        while (c.state == DHCP_STATE_CHECKING) {
                now = dhcp_client_next(&c);
                dhcp_client_tick(&c, now);
                /* unrelated ARP traffic and our own probes echoed back are no conflict */
                arp_from(&c, now, ARP_REQUEST, other, 0xc0000263u, SERVER);
                arp_from(&c, now, ARP_REQUEST, mac, 0, ADDR);
        }
        assert_int_equal(f.probes, 3);
        assert_int_equal(f.arp_done, 1);
        assert_int_equal(c.state, DHCP_STATE_BOUND);
        assert_int_equal(f.bound, 1);
        /* 3 probes 100-150 ms apart after up to 50 ms, then 200 ms */
        assert_true(now - start_ms >= 400 && now - start_ms <= 550);
}

static void test_acd_conflict(void **state)
{
        static const uint8_t other[6] = { 2, 0, 0, 0, 0, 9 };
        for (int kind = 0; kind < 2; kind++) {
                struct dhcp_client c;
                struct fake f;
                ack_with_acd(&c, &f);
                unsigned long long now = dhcp_client_next(&c);
                dhcp_client_tick(&c, now);
                if (kind == 0) /* the owner answers */
                        arp_from(&c, now + 1, ARP_REPLY, other, ADDR, 0);
                else /* another host probes for the same address */
                        arp_from(&c, now + 1, ARP_REQUEST, other, 0, ADDR);
                assert_int_equal(c.state, DHCP_STATE_DECLINED);
                const struct sent *s = last_sent(&f);
                assert_int_equal(sent_type(s), 4);
                size_t l;
                const uint8_t *v = opt(s, 50, &l);
                assert_non_null(v);
                assert_int_equal(be32(v), ADDR);
                v = opt(s, 54, &l);
                assert_non_null(v);
                assert_int_equal(be32(v), SERVER);
                assert_int_equal(f.bound, 0);
                assert_int_equal(f.arp_done, 1);
                /* RFC 2131 §3.1: ten seconds before trying again */
                assert_int_equal(dhcp_client_next(&c), now + 1 + 10 * SEC);
                dhcp_client_tick(&c, now + 1 + 10 * SEC);
                assert_int_equal(c.state, DHCP_STATE_SELECTING);
        }
}

static void test_bound_failure_gives_back(void **state)
{
        struct dhcp_client c;
        struct fake f;
        start(&c, &f, true, ACD_OFF, 0);
        f.bound_result = -EPERM;
        deliver(&c, 1005, &(struct reply){ .type = 5, .xid = sent_xid(last_sent(&f)), .yiaddr = ADDR, .server = SERVER,
                                           .lease = 600, .rapid = true });
        assert_int_equal(c.state, DHCP_STATE_INIT);
        assert_false(c.have_lease);
        assert_int_equal(dhcp_client_next(&c), 1005 + 10 * SEC);
}

static void test_infinite_lease(void **state)
{
        struct dhcp_client c;
        struct fake f;
        bind_plain(&c, &f, DHCP_LEASE_INFINITE, 0, 0);
        assert_int_equal(dhcp_client_next(&c), 0);
        assert_int_equal(dhcp_lease_remaining(&c.lease, 1ULL << 40), DHCP_LEASE_INFINITE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dora),
                cmocka_unit_test(test_rapid_commit),
                cmocka_unit_test(test_ack_without_rapid_commit_ignored),
                cmocka_unit_test(test_not_ours_dropped),
                cmocka_unit_test(test_truncated_replies),
                cmocka_unit_test(test_wrong_server_in_requesting),
                cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_request_gives_up),
                cmocka_unit_test(test_renew_rebind_expire),
                cmocka_unit_test(test_renewal_acked),
                cmocka_unit_test(test_rebinding_acked_by_other_server),
                cmocka_unit_test(test_nak_restarts),
                cmocka_unit_test(test_init_reboot),
                cmocka_unit_test(test_acd_clean),
                cmocka_unit_test(test_acd_conflict),
                cmocka_unit_test(test_bound_failure_gives_back),
                cmocka_unit_test(test_infinite_lease),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
