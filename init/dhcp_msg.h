/* SPDX-License-Identifier: Apache-2.0 */
/* DHCPv4 messages (RFC 2131, options RFC 2132): parsed from bytes, checked
 * for meaning, and built into a caller's buffer. Pure: no sockets, no
 * globals, no logging; the caller reports the reason strings.
 *
 * Addresses are uint32_t in host byte order everywhere in this module.
 * The buffers hold the BOOTP payload only (from 'op'), never IP/UDP headers.
 *
 * Error convention of the parser and the validator:
 *   -ENOMSG   not a DHCP reply meant for this client (a BOOTREQUEST, another
 *             hardware type, a plain BOOTP reply, another xid or chaddr):
 *             drop it quietly;
 *   -EBADMSG  malformed or meaningless: drop it with a warning naming why;
 *   -E2BIG    well-formed but beyond Ember's bounds (counts, lengths);
 *   -EINVAL   a programmer error (NULL arguments).
 * 'why' (may be NULL) receives a plain-words reason on every failure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHCP_CLIENT_PORT 68
#define DHCP_SERVER_PORT 67
#define DHCP_MIN_LEN 300         /* RFC 1542 §2.1: a BOOTP message is at least 300 bytes */
#define DHCP_MAX_ADDRS 16        /* routers, DNS and NTP servers each */
#define DHCP_MAX_ROUTES 32       /* classless static routes */
#define DHCP_NAME_MAX 253        /* hostname and domain, as in DNS */
#define DHCP_OPT_CONCAT_MAX 512  /* one option after RFC 3396 concatenation */
#define DHCP_LEASE_INFINITE UINT32_MAX
#define DHCP_ADDR_STRLEN 16      /* "255.255.255.255" and its NUL */

enum dhcp_type {
        DHCP_DISCOVER = 1,
        DHCP_OFFER = 2,
        DHCP_REQUEST = 3,
        DHCP_DECLINE = 4,
        DHCP_ACK = 5,
        DHCP_NAK = 6,
        DHCP_RELEASE = 7,
        DHCP_INFORM = 8,
};

/* Which optional fields of struct dhcp_msg a message carried. */
enum {
        DHCP_HAVE_SERVER_ID = 1u << 0,
        DHCP_HAVE_LEASE = 1u << 1,
        DHCP_HAVE_T1 = 1u << 2,
        DHCP_HAVE_T2 = 1u << 3,
        DHCP_HAVE_MASK = 1u << 4,
        DHCP_HAVE_MTU = 1u << 5,
        DHCP_HAVE_REQUESTED_IP = 1u << 6,
        DHCP_HAVE_ROUTES = 1u << 7, /* option 121, even when it lists no route */
};

struct dhcp_addrs {
        uint32_t a[DHCP_MAX_ADDRS];
        size_t n;
};

/* RFC 3442: dest/prefix via router; router 0.0.0.0 means on-link. */
struct dhcp_route {
        uint32_t dest;
        uint8_t prefix;
        uint32_t router;
};

struct dhcp_msg {
        uint8_t type; /* enum dhcp_type; option 53 */
        uint32_t xid;
        uint16_t flags;
        uint32_t ciaddr, yiaddr, siaddr, giaddr;
        uint8_t chaddr[6];
        unsigned have; /* DHCP_HAVE_* */
        uint32_t server_id;    /* 54 */
        uint32_t lease_s;      /* 51 */
        uint32_t t1_s, t2_s;   /* 58, 59 */
        uint32_t subnet_mask;  /* 1 */
        uint32_t requested_ip; /* 50, only in requests: kept for round trips */
        uint16_t mtu;          /* 26 */
        struct dhcp_addrs routers; /* 3 */
        struct dhcp_addrs dns;     /* 6 */
        struct dhcp_addrs ntp;     /* 42 */
        /* 121; when present a client MUST ignore option 3 (RFC 3442), but
         * both are kept so the choice is the client's and visible. */
        struct dhcp_route routes[DHCP_MAX_ROUTES];
        size_t n_routes;
        char domain[DHCP_NAME_MAX + 1];   /* 15, "" when absent */
        char hostname[DHCP_NAME_MAX + 1]; /* 12, "" when absent */
        bool rapid_commit; /* 80 (RFC 4039) */
};

/* Decodes a BOOTREPLY for an Ethernet client (RFC 2131 §2, RFC 2132), with
 * option overload (52) and split options concatenated (RFC 3396). *ret is
 * written only on success. */
int dhcp_msg_parse(const void *buf, size_t len, struct dhcp_msg *ret, char *why, size_t whylen);

/* Checks that a parsed reply is the answer to our transaction and makes
 * sense: an OFFER or ACK carries a server id, a usable address, a lease with
 * ordered timers, a contiguous mask and reachable routers; a NAK carries a
 * server id. */
int dhcp_msg_validate(const struct dhcp_msg *m, uint32_t expected_xid, const uint8_t chaddr[6],
                      char *why, size_t whylen);

/* T1 and T2 as given, or RFC 2131 §4.4.5's defaults (0.5 and 0.875 of the
 * lease; both infinite for an infinite lease). -ENODATA without a lease. */
int dhcp_msg_timers(const struct dhcp_msg *m, uint32_t *ret_t1, uint32_t *ret_t2);

/* The REQUEST's situation decides which fields it carries (RFC 2131 §4.3.2,
 * table 5 of §4.4.1). */
enum dhcp_request_state {
        DHCP_REQ_SELECTING,   /* answering an OFFER: server id + requested IP */
        DHCP_REQ_INIT_REBOOT, /* confirming a remembered address: requested IP */
        DHCP_REQ_RENEWING,    /* unicast to the server: ciaddr */
        DHCP_REQ_REBINDING,   /* broadcast to any server: ciaddr */
};

/* What to build. Fields a given message must not carry must be zero/false/
 * NULL; the builder refuses (-EINVAL) rather than silently drop them. */
struct dhcp_build {
        enum dhcp_type type; /* DISCOVER, REQUEST, DECLINE or RELEASE */
        enum dhcp_request_state state; /* REQUEST only */
        uint32_t xid;
        uint16_t secs;          /* DISCOVER, REQUEST */
        uint8_t chaddr[6];
        uint32_t ciaddr;        /* REQUEST renewing/rebinding, RELEASE */
        uint32_t requested_ip;  /* DISCOVER (optional), REQUEST selecting/init-reboot, DECLINE */
        uint32_t server_id;     /* REQUEST selecting, DECLINE, RELEASE */
        const char *hostname;   /* DISCOVER, REQUEST; NULL for none */
        uint16_t max_msg_size;  /* DISCOVER, REQUEST; 0 for 1500; at least 576 */
        bool broadcast;         /* DISCOVER, REQUEST: ask for broadcast replies */
        bool rapid_commit;      /* DISCOVER only (RFC 4039) */
};

/* Writes the message into buf (padded to DHCP_MIN_LEN) and returns its
 * length, -ENOBUFS when size is too small, -EINVAL for an inconsistent b. */
int dhcp_msg_build(const struct dhcp_build *b, void *buf, size_t size);

const char *dhcp_type_to_string(int type);
/* Dotted quad into buf; returns buf. */
char *dhcp_addr_str(uint32_t addr, char buf[static DHCP_ADDR_STRLEN]);
/* The prefix length of a contiguous netmask, -EINVAL when it has holes. */
int dhcp_mask_to_prefix(uint32_t mask);
uint32_t dhcp_prefix_to_mask(unsigned prefix);
