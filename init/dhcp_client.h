/* SPDX-License-Identifier: Apache-2.0 */
/* The DHCPv4 client state machine (RFC 2131 §4.4, Figure 5), with Rapid
 * Commit (RFC 4039) and address conflict detection (RFC 5227) between ACK
 * and use. It owns no socket and no clock: the caller feeds it received
 * packets and the monotonic time, and it answers through the ops table
 * (send, probe, configure, deconfigure, log). That keeps every transition
 * testable without a network, and the same code runs in PID 1's network
 * process and in `ember-init network` on a host. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dhcp_msg.h"

enum dhcp_state {
        DHCP_STATE_INIT,
        DHCP_STATE_SELECTING,
        DHCP_STATE_REQUESTING,
        DHCP_STATE_CHECKING,   /* ARP-probing the ACKed address */
        DHCP_STATE_BOUND,
        DHCP_STATE_RENEWING,
        DHCP_STATE_REBINDING,
        DHCP_STATE_REBOOTING,  /* INIT-REBOOT: confirming a remembered address */
        DHCP_STATE_DECLINED,   /* waiting before starting over (RFC 2131 §3.1 step 5) */
        _DHCP_STATE_MAX,
};

const char *dhcp_state_name(enum dhcp_state s);

/* What the node got. Times are monotonic ms. */
struct dhcp_lease {
        uint32_t addr, server_id;
        unsigned prefix;
        uint32_t lease_s, t1_s, t2_s;
        uint16_t mtu;              /* 0: not given */
        struct dhcp_addrs routers, dns, ntp;
        struct dhcp_route routes[DHCP_MAX_ROUTES]; /* the routes to install: option 121, else option 3 */
        size_t n_routes;
        bool classless;            /* routes came from option 121 (option 3 ignored, RFC 3442) */
        char domain[DHCP_NAME_MAX + 1];
        char hostname[DHCP_NAME_MAX + 1];
        bool rapid_commit;         /* this lease came from a 2-message exchange */
        unsigned long long acquired_ms; /* when the REQUEST (or DISCOVER) that got it was sent */
};

/* Seconds of lease left at now_ms (0 when expired, UINT32_MAX for infinite). */
uint32_t dhcp_lease_remaining(const struct dhcp_lease *l, unsigned long long now_ms);

/* RFC 5227 timing. Ember's default probes fast (see README: conflict
 * detection); rfc5227 uses the RFC's constants. probes = 0: off. */
struct acd_timing {
        unsigned probes;
        unsigned probe_wait_ms;     /* random delay before the first probe: [0, this] */
        unsigned probe_min_ms, probe_max_ms; /* between probes */
        unsigned announce_wait_ms;  /* after the last probe */
};
extern const struct acd_timing ACD_OFF, ACD_FAST, ACD_RFC5227;

struct dhcp_client_ops {
        /* A DHCP message from 0.0.0.0 (or ciaddr when rebinding) to
         * 255.255.255.255, on the packet socket. */
        int (*send_broadcast)(void *ud, uint32_t src, const void *buf, size_t len);
        /* A DHCP message to the server through the kernel's UDP stack
         * (RENEWING, RFC 2131 §4.4.5). */
        int (*send_unicast)(void *ud, uint32_t src, uint32_t dst, const void *buf, size_t len);
        /* An ARP probe for addr (sender IP 0), and the caller starts
         * delivering ARP packets through dhcp_client_handle_arp(). */
        int (*send_arp_probe)(void *ud, uint32_t addr);
        /* Probing is over: the caller may stop listening for ARP. */
        void (*arp_done)(void *ud);
        /* The lease is to be configured (first time, or renewed when
         * 'renewed' — then only lifetimes and options may have changed). */
        int (*bound)(void *ud, const struct dhcp_lease *l, bool renewed);
        /* The lease is gone (expired, NAK): remove the address. */
        void (*unbound)(void *ud, const struct dhcp_lease *l, const char *why);
        uint32_t (*random)(void *ud);
        void (*log)(void *ud, int level, const char *msg); /* level: 0 info, 1 warn */
};

struct dhcp_client_config {
        uint8_t mac[6];
        const char *hostname;      /* sent in option 12; NULL for none */
        bool rapid_commit;         /* offer RFC 4039 in DISCOVER */
        struct acd_timing acd;
        uint32_t init_reboot_addr; /* start in INIT-REBOOT asking for this address; 0: INIT */
};

struct dhcp_client {
        struct dhcp_client_config cfg;
        const struct dhcp_client_ops *ops;
        void *ud;
        enum dhcp_state state;
        uint32_t xid;
        unsigned long long started_ms;  /* start of this acquisition (secs field) */
        unsigned long long next_ms;     /* the one timer: 0 when none */
        unsigned long long deadline_ms; /* end of the current state's retries */
        unsigned attempt;               /* transmissions in this state */
        unsigned naks;                  /* in a row, for the restart delay */
        struct dhcp_msg offer;          /* SELECTING → REQUESTING */
        struct dhcp_lease pending;      /* ACKed, being probed */
        struct dhcp_lease lease;        /* configured */
        bool have_lease;
        unsigned probes_sent;
        unsigned long long bound_ms;    /* when the current lease was first bound */
        unsigned leases;                /* how many times bound (not renewals) */
        unsigned renewals;
};

void dhcp_client_init(struct dhcp_client *c, const struct dhcp_client_config *cfg,
                      const struct dhcp_client_ops *ops, void *ud);
/* Sends the first DISCOVER (or INIT-REBOOT REQUEST). */
void dhcp_client_start(struct dhcp_client *c, unsigned long long now_ms);
/* The time at which dhcp_client_tick() wants to run (0: never). */
unsigned long long dhcp_client_next(const struct dhcp_client *c);
void dhcp_client_tick(struct dhcp_client *c, unsigned long long now_ms);
/* A BOOTP payload that arrived on port 68 (IP/UDP already stripped).
 * Anything malformed or not ours is dropped with at most one log line. */
void dhcp_client_handle_dhcp(struct dhcp_client *c, unsigned long long now_ms, const void *buf, size_t len);
/* An ARP payload seen while probing. */
void dhcp_client_handle_arp(struct dhcp_client *c, unsigned long long now_ms, const void *buf, size_t len);
/* Renew now (SIGUSR1 in the tool, as udhcpc does). */
void dhcp_client_renew_now(struct dhcp_client *c, unsigned long long now_ms);

/* Converts a validated ACK into the lease to configure. */
void dhcp_lease_from_ack(const struct dhcp_msg *m, unsigned long long acquired_ms, struct dhcp_lease *ret);
