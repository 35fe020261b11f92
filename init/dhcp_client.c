/* SPDX-License-Identifier: Apache-2.0 */
/* DHCPv4 client: one transition function per event (timer, DHCP message,
 * ARP packet), the RFC rule beside the code that implements it. */
#include "dhcp_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "packet.h"
#include "util.h"

#define SEC 1000ULL
/* RFC 2131 §4.1: 4 s, doubled up to 64 s, randomized by ±1 s. */
#define RETRANSMIT_FIRST_MS (4 * SEC)
#define RETRANSMIT_MAX_MS (64 * SEC)
#define RETRANSMIT_JITTER_MS SEC
/* §4.4.5: in RENEWING and REBINDING wait half the time left, at least 60 s. */
#define RENEW_MIN_WAIT_MS (60 * SEC)
/* §3.1 step 5: wait at least ten seconds after a DECLINE. */
#define DECLINE_WAIT_MS (10 * SEC)
#define REQUEST_ATTEMPTS 4     /* REQUESTING: 4+8+16+32 s, then back to INIT */
#define REBOOT_ATTEMPTS 2      /* INIT-REBOOT: 4+8 s, then INIT (§3.2 leaves it open) */
#define NAK_MAX_DELAY_MS (64 * SEC)

const struct acd_timing ACD_OFF = { 0 };
/* On a switched segment the owner of an address answers an ARP request in
 * well under a millisecond; 3 probes 100–150 ms apart and 200 ms of
 * listening afterwards find it while keeping a boot fast. */
const struct acd_timing ACD_FAST = { .probes = 3, .probe_wait_ms = 50, .probe_min_ms = 100,
                                     .probe_max_ms = 150, .announce_wait_ms = 200 };
/* RFC 5227 §1.1: PROBE_WAIT 1 s, PROBE_NUM 3, PROBE_MIN 1 s, PROBE_MAX 2 s,
 * ANNOUNCE_WAIT 2 s. */
const struct acd_timing ACD_RFC5227 = { .probes = 3, .probe_wait_ms = 1000, .probe_min_ms = 1000,
                                        .probe_max_ms = 2000, .announce_wait_ms = 2000 };

static const char *const state_names[_DHCP_STATE_MAX] = {
        [DHCP_STATE_INIT] = "init",
        [DHCP_STATE_SELECTING] = "selecting",
        [DHCP_STATE_REQUESTING] = "requesting",
        [DHCP_STATE_CHECKING] = "checking",
        [DHCP_STATE_BOUND] = "bound",
        [DHCP_STATE_RENEWING] = "renewing",
        [DHCP_STATE_REBINDING] = "rebinding",
        [DHCP_STATE_REBOOTING] = "rebooting",
        [DHCP_STATE_DECLINED] = "declined",
};

const char *dhcp_state_name(enum dhcp_state s)
{
        return (unsigned)s < _DHCP_STATE_MAX ? state_names[s] : "?";
}

__attribute__((format(printf, 3, 4))) static void client_log(struct dhcp_client *c, int level, const char *fmt, ...)
{
        char msg[320];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (c->ops->log)
                c->ops->log(c->ud, level, msg);
}

static unsigned long long deadline_at(unsigned long long start, uint32_t s)
{
        return s == DHCP_LEASE_INFINITE ? 0 : start + (unsigned long long)s * SEC;
}

uint32_t dhcp_lease_remaining(const struct dhcp_lease *l, unsigned long long now_ms)
{
        if (l->lease_s == DHCP_LEASE_INFINITE)
                return DHCP_LEASE_INFINITE;
        unsigned long long end = deadline_at(l->acquired_ms, l->lease_s);
        return now_ms >= end ? 0 : (uint32_t)((end - now_ms) / SEC);
}

void dhcp_lease_from_ack(const struct dhcp_msg *m, unsigned long long acquired_ms, struct dhcp_lease *ret)
{
        struct dhcp_lease l = { .addr = m->yiaddr, .server_id = m->server_id, .lease_s = m->lease_s,
                                .mtu = (m->have & DHCP_HAVE_MTU) ? m->mtu : 0, .routers = m->routers,
                                .dns = m->dns, .ntp = m->ntp, .rapid_commit = m->rapid_commit,
                                .acquired_ms = acquired_ms };
        int p = (m->have & DHCP_HAVE_MASK) ? dhcp_mask_to_prefix(m->subnet_mask) : -1;
        if (p < 0) {
                /* RFC 2131 leaves a missing mask to the client: the classful
                 * default is what every client does. */
                uint32_t a = m->yiaddr >> 24;
                p = a < 128 ? 8 : a < 192 ? 16 : 24;
        }
        l.prefix = (unsigned)p;
        (void)dhcp_msg_timers(m, &l.t1_s, &l.t2_s);
        if (m->have & DHCP_HAVE_ROUTES) {
                /* RFC 3442: with option 121 the router option is ignored. */
                memcpy(l.routes, m->routes, sizeof(l.routes));
                l.n_routes = m->n_routes;
                l.classless = true;
        } else if (m->routers.n > 0) {
                l.routes[0] = (struct dhcp_route){ .dest = 0, .prefix = 0, .router = m->routers.a[0] };
                l.n_routes = 1;
        }
        snprintf(l.domain, sizeof(l.domain), "%s", m->domain);
        snprintf(l.hostname, sizeof(l.hostname), "%s", m->hostname);
        *ret = l;
}

/* Random in [0, n). */
static unsigned long long rnd(struct dhcp_client *c, unsigned long long n)
{
        return n ? c->ops->random(c->ud) % n : 0;
}

/* §4.1: the wait before the attempt-th retransmission, with ±1 s jitter. */
static unsigned long long retransmit_delay(struct dhcp_client *c)
{
        unsigned long long d = RETRANSMIT_FIRST_MS;
        for (unsigned i = 1; i < c->attempt && d < RETRANSMIT_MAX_MS; i++)
                d *= 2;
        if (d > RETRANSMIT_MAX_MS)
                d = RETRANSMIT_MAX_MS;
        return d - RETRANSMIT_JITTER_MS + rnd(c, 2 * RETRANSMIT_JITTER_MS + 1);
}

static uint16_t secs_since(const struct dhcp_client *c, unsigned long long now)
{
        unsigned long long s = (now - c->started_ms) / SEC;
        return s > UINT16_MAX ? UINT16_MAX : (uint16_t)s;
}

static void set_state(struct dhcp_client *c, enum dhcp_state s)
{
        c->state = s;
        c->attempt = 0;
}

static int send_msg(struct dhcp_client *c, const struct dhcp_build *b, uint32_t src, uint32_t unicast_to)
{
        uint8_t buf[1024];
        int n = dhcp_msg_build(b, buf, sizeof(buf));
        if (n < 0) {
                client_log(c, 1, "building %s failed: %s", dhcp_type_to_string(b->type), strerror(-n));
                return n;
        }
        int r = unicast_to ? c->ops->send_unicast(c->ud, src, unicast_to, buf, (size_t)n)
                           : c->ops->send_broadcast(c->ud, src, buf, (size_t)n);
        if (r < 0)
                client_log(c, 1, "sending %s failed: %s", dhcp_type_to_string(b->type), strerror(-r));
        return r;
}

static struct dhcp_build build_base(struct dhcp_client *c, enum dhcp_type type, unsigned long long now)
{
        struct dhcp_build b = { .type = type, .xid = c->xid };
        memcpy(b.chaddr, c->cfg.mac, 6);
        if (type == DHCP_DISCOVER || type == DHCP_REQUEST) {
                b.secs = secs_since(c, now);
                b.hostname = c->cfg.hostname;
        }
        return b;
}

static void send_discover(struct dhcp_client *c, unsigned long long now)
{
        struct dhcp_build b = build_base(c, DHCP_DISCOVER, now);
        b.rapid_commit = c->cfg.rapid_commit;
        c->attempt++;
        (void)send_msg(c, &b, 0, 0);
        c->next_ms = now + retransmit_delay(c);
}

static void start_discovery(struct dhcp_client *c, unsigned long long now)
{
        c->xid = c->ops->random(c->ud);
        c->started_ms = now;
        set_state(c, DHCP_STATE_SELECTING);
        client_log(c, 0, "sending DHCPDISCOVER (xid 0x%08x%s)", c->xid, c->cfg.rapid_commit ? ", rapid commit offered" : "");
        send_discover(c, now);
}

/* The REQUEST of the current state, (re)sent; timers are the caller's. */
static void send_request(struct dhcp_client *c, unsigned long long now)
{
        struct dhcp_build b = build_base(c, DHCP_REQUEST, now);
        uint32_t src = 0, to = 0;
        switch (c->state) {
        case DHCP_STATE_REQUESTING:
                b.state = DHCP_REQ_SELECTING;
                b.requested_ip = c->offer.yiaddr;
                b.server_id = c->offer.server_id;
                break;
        case DHCP_STATE_REBOOTING:
                b.state = DHCP_REQ_INIT_REBOOT;
                b.requested_ip = c->cfg.init_reboot_addr;
                break;
        case DHCP_STATE_RENEWING:
                b.state = DHCP_REQ_RENEWING;
                b.ciaddr = src = c->lease.addr;
                to = c->lease.server_id;
                break;
        case DHCP_STATE_REBINDING:
                b.state = DHCP_REQ_REBINDING;
                b.ciaddr = src = c->lease.addr;
                break;
        default:
                return;
        }
        if (c->attempt++ == 0)
                c->pending.acquired_ms = now; /* §4.4.1: the lease counts from the request */
        (void)send_msg(c, &b, src, to);
}

void dhcp_client_init(struct dhcp_client *c, const struct dhcp_client_config *cfg,
                      const struct dhcp_client_ops *ops, void *ud)
{
        *c = (struct dhcp_client){ .cfg = *cfg, .ops = ops, .ud = ud, .state = DHCP_STATE_INIT };
}

void dhcp_client_start(struct dhcp_client *c, unsigned long long now)
{
        if (!c->cfg.init_reboot_addr)
                return start_discovery(c, now);
        char a[DHCP_ADDR_STRLEN];
        c->xid = c->ops->random(c->ud);
        c->started_ms = now;
        set_state(c, DHCP_STATE_REBOOTING);
        client_log(c, 0, "sending DHCPREQUEST for remembered %s (INIT-REBOOT, xid 0x%08x)",
             dhcp_addr_str(c->cfg.init_reboot_addr, a), c->xid);
        send_request(c, now);
        c->next_ms = now + retransmit_delay(c);
}

unsigned long long dhcp_client_next(const struct dhcp_client *c)
{
        return c->next_ms;
}

static void drop_lease(struct dhcp_client *c, const char *why)
{
        if (c->have_lease)
                c->ops->unbound(c->ud, &c->lease, why);
        c->have_lease = false;
}

/* Back to INIT: at once the first time, then with a growing delay so a
 * server that keeps refusing is not hammered. */
static void restart(struct dhcp_client *c, unsigned long long now, unsigned long long delay)
{
        set_state(c, DHCP_STATE_INIT);
        c->next_ms = now + delay;
        if (delay)
                client_log(c, 0, "starting over in %llu s", delay / SEC);
}

static void schedule_bound(struct dhcp_client *c)
{
        unsigned long long t1 = deadline_at(c->lease.acquired_ms, c->lease.t1_s);
        c->next_ms = t1; /* 0 for an infinite lease: nothing more to do */
}

static void log_lease(struct dhcp_client *c, const struct dhcp_lease *l, const char *verb, unsigned long long now)
{
        char a[DHCP_ADDR_STRLEN], s[DHCP_ADDR_STRLEN];
        if (l->lease_s == DHCP_LEASE_INFINITE)
                client_log(c, 0, "%s %s/%u from %s, infinite lease, after %llu ms", verb, dhcp_addr_str(l->addr, a),
                     l->prefix, dhcp_addr_str(l->server_id, s), now - c->started_ms);
        else
                client_log(c, 0, "%s %s/%u from %s, lease %u s (renew at %u s, rebind at %u s)%s, after %llu ms", verb,
                     dhcp_addr_str(l->addr, a), l->prefix, dhcp_addr_str(l->server_id, s), l->lease_s, l->t1_s,
                     l->t2_s, l->rapid_commit ? ", rapid commit" : "", now - c->started_ms);
}

static void enter_bound(struct dhcp_client *c, unsigned long long now, bool renewed)
{
        c->lease = c->pending;
        c->have_lease = true;
        c->naks = 0;
        set_state(c, DHCP_STATE_BOUND);
        if (renewed)
                c->renewals++;
        else {
                c->leases++;
                c->bound_ms = now;
        }
        log_lease(c, &c->lease, renewed ? "lease renewed:" : "bound to", now);
        int r = c->ops->bound(c->ud, &c->lease, renewed);
        if (r < 0) {
                /* Not configured means not usable: give it back and retry. */
                client_log(c, 1, "configuring the lease failed: %s", strerror(-r));
                drop_lease(c, "configuration failed");
                return restart(c, now, DECLINE_WAIT_MS);
        }
        schedule_bound(c);
}

/* RFC 5227 §2.1: probe before use; the ACK has been received. */
static void start_checking(struct dhcp_client *c, unsigned long long now)
{
        if (c->cfg.acd.probes == 0)
                return enter_bound(c, now, false);
        set_state(c, DHCP_STATE_CHECKING);
        c->probes_sent = 0;
        c->next_ms = now + rnd(c, c->cfg.acd.probe_wait_ms + 1ULL);
}

static void send_decline(struct dhcp_client *c, unsigned long long now, const char *why)
{
        char a[DHCP_ADDR_STRLEN];
        struct dhcp_build b = build_base(c, DHCP_DECLINE, now);
        b.requested_ip = c->pending.addr;
        b.server_id = c->pending.server_id;
        client_log(c, 1, "address %s is in use (%s): sending DHCPDECLINE", dhcp_addr_str(c->pending.addr, a), why);
        (void)send_msg(c, &b, 0, 0);
        if (c->ops->arp_done)
                c->ops->arp_done(c->ud);
        set_state(c, DHCP_STATE_DECLINED);
        c->next_ms = now + DECLINE_WAIT_MS;
        client_log(c, 0, "starting over in %llu s (RFC 2131 §3.1)", DECLINE_WAIT_MS / SEC);
}

static void tick_checking(struct dhcp_client *c, unsigned long long now)
{
        const struct acd_timing *t = &c->cfg.acd;
        if (c->probes_sent < t->probes) {
                char a[DHCP_ADDR_STRLEN];
                if (c->probes_sent == 0)
                        client_log(c, 0, "probing %s with ARP (%u probes)", dhcp_addr_str(c->pending.addr, a), t->probes);
                int r = c->ops->send_arp_probe(c->ud, c->pending.addr);
                if (r < 0)
                        client_log(c, 1, "sending an ARP probe failed: %s", strerror(-r));
                c->probes_sent++;
                c->next_ms = now + (c->probes_sent < t->probes
                                            ? t->probe_min_ms + rnd(c, t->probe_max_ms - t->probe_min_ms + 1ULL)
                                            : t->announce_wait_ms);
                return;
        }
        if (c->ops->arp_done)
                c->ops->arp_done(c->ud);
        enter_bound(c, now, false);
}

/* §4.4.5: RENEWING waits half the time to T2, REBINDING half the time to
 * expiry, each at least 60 s and never past the state's end. */
static void schedule_retry_until(struct dhcp_client *c, unsigned long long now, unsigned long long end)
{
        unsigned long long wait = end > now ? (end - now) / 2 : 0;
        if (wait < RENEW_MIN_WAIT_MS)
                wait = RENEW_MIN_WAIT_MS;
        c->next_ms = end && now + wait > end ? end : now + wait;
}

static void tick_lease(struct dhcp_client *c, unsigned long long now)
{
        unsigned long long t2 = deadline_at(c->lease.acquired_ms, c->lease.t2_s);
        unsigned long long end = deadline_at(c->lease.acquired_ms, c->lease.lease_s);
        char a[DHCP_ADDR_STRLEN], s[DHCP_ADDR_STRLEN];

        if (end && now >= end) {
                client_log(c, 1, "lease on %s expired without an answer: removing the address", dhcp_addr_str(c->lease.addr, a));
                drop_lease(c, "lease expired");
                return start_discovery(c, now);
        }
        if (t2 && now >= t2 && c->state != DHCP_STATE_REBINDING) {
                c->xid = c->ops->random(c->ud);
                set_state(c, DHCP_STATE_REBINDING);
                client_log(c, 1, "no answer from %s until T2: rebinding (broadcast, xid 0x%08x)",
                     dhcp_addr_str(c->lease.server_id, s), c->xid);
        } else if (c->state == DHCP_STATE_BOUND) {
                c->xid = c->ops->random(c->ud);
                c->started_ms = now;
                set_state(c, DHCP_STATE_RENEWING);
                client_log(c, 0, "T1 reached: renewing %s with %s (xid 0x%08x)", dhcp_addr_str(c->lease.addr, a),
                     dhcp_addr_str(c->lease.server_id, s), c->xid);
        }
        send_request(c, now);
        schedule_retry_until(c, now, c->state == DHCP_STATE_RENEWING ? t2 : end);
}

static void tick_request(struct dhcp_client *c, unsigned long long now, unsigned limit)
{
        if (c->attempt >= limit) {
                client_log(c, 1, "no answer to DHCPREQUEST after %u tries: starting over", c->attempt);
                return start_discovery(c, now);
        }
        send_request(c, now);
        c->next_ms = now + retransmit_delay(c);
}

void dhcp_client_tick(struct dhcp_client *c, unsigned long long now)
{
        if (!c->next_ms || now < c->next_ms)
                return;
        c->next_ms = 0;
        switch (c->state) {
        case DHCP_STATE_INIT:
        case DHCP_STATE_DECLINED:
                return start_discovery(c, now);
        case DHCP_STATE_SELECTING:
                if (c->attempt >= 3)
                        client_log(c, 1, "no DHCPOFFER yet after %u DHCPDISCOVERs; still trying", c->attempt);
                return send_discover(c, now);
        case DHCP_STATE_REQUESTING:
                return tick_request(c, now, REQUEST_ATTEMPTS);
        case DHCP_STATE_REBOOTING:
                return tick_request(c, now, REBOOT_ATTEMPTS);
        case DHCP_STATE_CHECKING:
                return tick_checking(c, now);
        case DHCP_STATE_BOUND:
        case DHCP_STATE_RENEWING:
        case DHCP_STATE_REBINDING:
                return tick_lease(c, now);
        case _DHCP_STATE_MAX:
                break;
        }
}

void dhcp_client_renew_now(struct dhcp_client *c, unsigned long long now)
{
        if (c->state != DHCP_STATE_BOUND)
                return;
        /* pretend T1 is now, keeping the lease's real end */
        c->next_ms = now;
        c->xid = c->ops->random(c->ud);
        c->started_ms = now;
        set_state(c, DHCP_STATE_RENEWING);
        client_log(c, 0, "renewing on request (xid 0x%08x)", c->xid);
        send_request(c, now);
        unsigned long long t2 = deadline_at(c->lease.acquired_ms, c->lease.t2_s);
        schedule_retry_until(c, now, t2);
}

static void handle_offer(struct dhcp_client *c, unsigned long long now, const struct dhcp_msg *m)
{
        char a[DHCP_ADDR_STRLEN], s[DHCP_ADDR_STRLEN];
        /* §4.4.1: the first acceptable offer wins; the xid stays. */
        c->offer = *m;
        set_state(c, DHCP_STATE_REQUESTING);
        client_log(c, 0, "DHCPOFFER of %s from %s: sending DHCPREQUEST", dhcp_addr_str(m->yiaddr, a),
             dhcp_addr_str(m->server_id, s));
        send_request(c, now);
        c->next_ms = now + retransmit_delay(c);
}

/* Which server may answer in this state (§4.4.1, §4.4.5). 0: any. */
static uint32_t expected_server(const struct dhcp_client *c)
{
        switch (c->state) {
        case DHCP_STATE_REQUESTING:
                return c->offer.server_id;
        case DHCP_STATE_RENEWING:
                return c->lease.server_id;
        default:
                return 0;
        }
}

static void handle_nak(struct dhcp_client *c, unsigned long long now, const struct dhcp_msg *m)
{
        char s[DHCP_ADDR_STRLEN];
        client_log(c, 1, "DHCPNAK from %s in state %s: dropping the lease and starting over",
             dhcp_addr_str(m->server_id, s), dhcp_state_name(c->state));
        drop_lease(c, "DHCPNAK");
        unsigned long long delay = 0;
        if (c->naks++ > 0) {
                delay = SEC << (c->naks - 2 < 6 ? c->naks - 2 : 6);
                if (delay > NAK_MAX_DELAY_MS)
                        delay = NAK_MAX_DELAY_MS;
        }
        restart(c, now, delay);
}

static void handle_ack(struct dhcp_client *c, unsigned long long now, const struct dhcp_msg *m)
{
        unsigned long long acquired = c->pending.acquired_ms ? c->pending.acquired_ms : now;
        if (c->state == DHCP_STATE_SELECTING)
                acquired = c->started_ms; /* rapid commit: the DISCOVER was the request */
        dhcp_lease_from_ack(m, acquired, &c->pending);
        bool same = c->have_lease && c->lease.addr == c->pending.addr;
        if ((c->state == DHCP_STATE_RENEWING || c->state == DHCP_STATE_REBINDING) && same)
                return enter_bound(c, now, true);
        if (c->have_lease) {
                char a[DHCP_ADDR_STRLEN];
                client_log(c, 1, "server moved us off %s", dhcp_addr_str(c->lease.addr, a));
                drop_lease(c, "address changed");
        }
        start_checking(c, now);
}

void dhcp_client_handle_dhcp(struct dhcp_client *c, unsigned long long now, const void *buf, size_t len)
{
        struct dhcp_msg m;
        char why[160] = "";
        int r = dhcp_msg_parse(buf, len, &m, why, sizeof(why));
        if (r == 0)
                r = dhcp_msg_validate(&m, c->xid, c->cfg.mac, why, sizeof(why));
        if (r == -ENOMSG)
                return; /* someone else's conversation */
        if (r < 0)
                return client_log(c, 1, "dropping a DHCP message: %s", why);

        uint32_t srv = expected_server(c);
        if (srv && m.server_id != srv) {
                char s[DHCP_ADDR_STRLEN];
                return client_log(c, 1, "dropping a DHCP%s from %s: not the server we are talking to",
                            dhcp_type_to_string(m.type), dhcp_addr_str(m.server_id, s));
        }
        switch (c->state) {
        case DHCP_STATE_SELECTING:
                if (m.type == DHCP_OFFER)
                        return handle_offer(c, now, &m);
                /* RFC 4039 §4: an ACK in SELECTING only with rapid commit. */
                if (m.type == DHCP_ACK && m.rapid_commit && c->cfg.rapid_commit)
                        return handle_ack(c, now, &m);
                return;
        case DHCP_STATE_REQUESTING:
        case DHCP_STATE_REBOOTING:
        case DHCP_STATE_RENEWING:
        case DHCP_STATE_REBINDING:
                if (m.type == DHCP_ACK)
                        return handle_ack(c, now, &m);
                if (m.type == DHCP_NAK)
                        return handle_nak(c, now, &m);
                return;
        default:
                return; /* late duplicates */
        }
}

void dhcp_client_handle_arp(struct dhcp_client *c, unsigned long long now, const void *buf, size_t len)
{
        struct arp_pkt p;
        if (c->state != DHCP_STATE_CHECKING || arp_parse(buf, len, &p) < 0)
                return;
        if (!arp_conflicts(&p, c->pending.addr, c->cfg.mac))
                return;
        char why[64];
        snprintf(why, sizeof(why), "%s from %02x:%02x:%02x:%02x:%02x:%02x",
                 p.spa ? "ARP from its owner" : "ARP probe", p.sha[0], p.sha[1], p.sha[2], p.sha[3], p.sha[4], p.sha[5]);
        send_decline(c, now, why);
}
