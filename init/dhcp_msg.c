/* SPDX-License-Identifier: Apache-2.0 */
/* DHCPv4 message codec. The parser reads untrusted bytes only through the
 * reader of lib/reader.h and fills a local struct that reaches the caller
 * only when every check passed; the builder writes only through a writer
 * held to the same rule (each write fits whole or writes nothing). */
#include "dhcp_msg.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "reader.h"
#include "reason.h"
#include "util.h"

#define BOOTREQUEST 1
#define BOOTREPLY 2
#define HTYPE_ETHERNET 1
#define ETH_ALEN_ 6
#define CHADDR_LEN 16
#define SNAME_LEN 64
#define FILE_LEN 128
#define BOOTP_FIXED_LEN 236
#define DEFAULT_MAX_MSG_SIZE 1500
#define MIN_MAX_MSG_SIZE 576 /* RFC 2132 §9.10 */
#define MIN_MTU 68           /* RFC 2132 §5.1 */
#define LABEL_MAX 63

/* RFC 2131 §3: the first four octets of 'options'. */
static const uint8_t magic_cookie[4] = { 99, 130, 83, 99 };

enum {
        OPT_PAD = 0,
        OPT_SUBNET_MASK = 1,
        OPT_ROUTER = 3,
        OPT_DNS = 6,
        OPT_HOSTNAME = 12,
        OPT_DOMAIN = 15,
        OPT_MTU = 26,
        OPT_NTP = 42,
        OPT_REQUESTED_IP = 50,
        OPT_LEASE = 51,
        OPT_OVERLOAD = 52,
        OPT_MSG_TYPE = 53,
        OPT_SERVER_ID = 54,
        OPT_PARAM_LIST = 55,
        OPT_MAX_MSG_SIZE = 57,
        OPT_T1 = 58,
        OPT_T2 = 59,
        OPT_CLIENT_ID = 61,
        OPT_RAPID_COMMIT = 80,
        OPT_CLASSLESS_ROUTES = 121,
        OPT_END = 255,
};


const char *dhcp_type_to_string(int type)
{
        static const char *const names[] = {
                [DHCP_DISCOVER] = "DISCOVER", [DHCP_OFFER] = "OFFER",
                [DHCP_REQUEST] = "REQUEST",   [DHCP_DECLINE] = "DECLINE",
                [DHCP_ACK] = "ACK",           [DHCP_NAK] = "NAK",
                [DHCP_RELEASE] = "RELEASE",   [DHCP_INFORM] = "INFORM",
        };
        if (type <= 0 || (size_t)type >= ELEMENTSOF(names))
                return "unknown";
        return names[type];
}

static const char *opt_name(uint8_t code)
{
        switch (code) {
        case OPT_SUBNET_MASK: return "subnet mask";
        case OPT_ROUTER: return "routers";
        case OPT_DNS: return "DNS servers";
        case OPT_HOSTNAME: return "hostname";
        case OPT_DOMAIN: return "domain name";
        case OPT_MTU: return "interface MTU";
        case OPT_NTP: return "NTP servers";
        case OPT_REQUESTED_IP: return "requested address";
        case OPT_LEASE: return "lease time";
        case OPT_OVERLOAD: return "option overload";
        case OPT_MSG_TYPE: return "message type";
        case OPT_SERVER_ID: return "server id";
        case OPT_T1: return "renewal time";
        case OPT_T2: return "rebinding time";
        case OPT_RAPID_COMMIT: return "rapid commit";
        case OPT_CLASSLESS_ROUTES: return "classless routes";
        default: return "unknown";
        }
}

char *dhcp_addr_str(uint32_t addr, char buf[static DHCP_ADDR_STRLEN])
{
        snprintf(buf, DHCP_ADDR_STRLEN, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff,
                 (addr >> 8) & 0xff, addr & 0xff);
        return buf;
}

int dhcp_mask_to_prefix(uint32_t mask)
{
        uint32_t host = ~mask;
        /* contiguous ones then zeros: the host part plus one is a power of two */
        if (host & (host + 1))
                return -EINVAL;
        return __builtin_popcount(mask);
}

uint32_t dhcp_prefix_to_mask(unsigned prefix)
{
        if (prefix == 0)
                return 0;
        if (prefix >= 32)
                return UINT32_MAX;
        return UINT32_MAX << (32 - prefix);
}

/* Hostnames and domain names: LDH characters and dots, labels of 1..63,
 * at most 253 in all (RFC 1035 §2.3.4, RFC 1123 §2.1); one trailing dot
 * (a fully qualified name) is allowed. */
static int check_name(const char *s, size_t n, const char *what, const struct reason *w)
{
        size_t label = 0;

        if (n == 0)
                return reason_fail(w, -EBADMSG, "%s empty", what);
        if (n > DHCP_NAME_MAX)
                return reason_fail(w, -EBADMSG, "%s %zu characters long, over %d", what, n, DHCP_NAME_MAX);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '.') {
                        if (label == 0)
                                return reason_fail(w, -EBADMSG, "%s has an empty label at offset %zu", what, i);
                        label = 0;
                        continue;
                }
                if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
                    c != '-')
                        return reason_fail(w, -EBADMSG, "%s has a bad character 0x%02x at offset %zu", what, c, i);
                if (++label > LABEL_MAX)
                        return reason_fail(w, -EBADMSG, "%s has a label over %d characters", what, LABEL_MAX);
        }
        return 0;
}

/* ---- parsing ------------------------------------------------------------ */

/* The option areas in the order RFC 2131 §4.1 reads them: 'options',
 * then 'file', then 'sname' when option 52 overloads them. */
struct regions {
        struct reader r[3];
        const char *name[3];
        size_t n;
};

/* The next option of an area: 1 with its code and value, 0 at END. */
static int opt_next(struct reader *r, const char *area, uint8_t *ret_code, struct reader *ret_val,
                    const struct reason *w)
{
        uint8_t code, len;

        do {
                if (rd_u8(r, &code) < 0)
                        return reason_fail(w, -EBADMSG, "%s: no END option", area);
        } while (code == OPT_PAD);
        if (code == OPT_END) {
                *ret_code = code;
                return 0;
        }
        if (rd_u8(r, &len) < 0)
                return reason_fail(w, -EBADMSG, "%s: option %u has no length", area, code);
        if (rd_sub(r, len, ret_val) < 0)
                return reason_fail(w, -EBADMSG, "%s: option %u length %u runs past the end (%zu left)", area,
                            code, len, rd_remaining(r));
        *ret_code = code;
        return 1;
}

/* Walks one area to its END so later passes may trust its structure. */
static int area_check(const struct reader *area, const char *name, const struct reason *w)
{
        struct reader r = *area, v;
        uint8_t code;
        int k;

        while ((k = opt_next(&r, name, &code, &v, w)) > 0)
                ;
        return k;
}

/* RFC 3396: every instance of a code, across all areas, concatenated in
 * order, into buf (DHCP_OPT_CONCAT_MAX bytes, Ember's bound on the
 * total). 1 when the code occurs. */
static int opt_gather(const struct regions *rg, uint8_t code, uint8_t *buf, size_t *ret_len,
                      const struct reason *w)
{
        size_t n = 0;
        bool found = false;

        for (size_t i = 0; i < rg->n; i++) {
                struct reader r = rg->r[i], v;
                uint8_t c;
                int k;
                while ((k = opt_next(&r, rg->name[i], &c, &v, w)) > 0) {
                        if (c != code)
                                continue;
                        if (DHCP_OPT_CONCAT_MAX - n < rd_remaining(&v))
                                return reason_fail(w, -E2BIG,
                                            "option %u (%s) over %d bytes after concatenation", code,
                                            opt_name(code), DHCP_OPT_CONCAT_MAX);
                        size_t vl = rd_remaining(&v);
                        if (rd_copy(&v, buf + n, vl) < 0)
                                return reason_fail(w, -EBADMSG, "option %u: short copy", code);
                        n += vl;
                        found = true;
                }
                if (k < 0)
                        return k;
        }
        *ret_len = n;
        return found;
}

static int parse_header(struct reader *r, struct dhcp_msg *m, struct reader *ret_sname,
                        struct reader *ret_file, const struct reason *w)
{
        uint8_t op, htype, hlen, hops, cookie[4];
        const uint8_t *chaddr;
        struct reader sname, file;

        if (rd_remaining(r) < BOOTP_FIXED_LEN + sizeof(cookie))
                return reason_fail(w, -EBADMSG, "truncated: %zu bytes, header and cookie need %zu",
                            rd_remaining(r), BOOTP_FIXED_LEN + sizeof(cookie));
        if (rd_u8(r, &op) < 0 || rd_u8(r, &htype) < 0 || rd_u8(r, &hlen) < 0 || rd_u8(r, &hops) < 0 ||
            rd_be32(r, &m->xid) < 0 || rd_skip(r, 2) < 0 || rd_be16(r, &m->flags) < 0 ||
            rd_be32(r, &m->ciaddr) < 0 || rd_be32(r, &m->yiaddr) < 0 || rd_be32(r, &m->siaddr) < 0 ||
            rd_be32(r, &m->giaddr) < 0 || rd_bytes(r, CHADDR_LEN, &chaddr) < 0 ||
            rd_sub(r, SNAME_LEN, &sname) < 0 || rd_sub(r, FILE_LEN, &file) < 0 ||
            rd_copy(r, cookie, sizeof(cookie)) < 0)
                return reason_fail(w, -EBADMSG, "truncated header");

        if (op != BOOTREPLY)
                return reason_fail(w, -ENOMSG, "op %u, not BOOTREPLY", op);
        if (htype != HTYPE_ETHERNET)
                return reason_fail(w, -ENOMSG, "hardware type %u, not Ethernet", htype);
        if (hlen != ETH_ALEN_)
                return reason_fail(w, -EBADMSG, "hardware address length %u for Ethernet, not 6", hlen);
        if (memcmp(cookie, magic_cookie, sizeof(cookie)) != 0)
                return reason_fail(w, -ENOMSG, "no DHCP magic cookie: a plain BOOTP reply");
        memcpy(m->chaddr, chaddr, ETH_ALEN_);
        *ret_sname = sname;
        *ret_file = file;
        return 0;
}

/* RFC 2132 §9.3: option 52, in the options area only, lends 'file' (1),
 * 'sname' (2) or both (3) to options. Each lent area is read to its own
 * END, as the options area is. */
static int add_overload(struct regions *rg, const struct reader *sname, const struct reader *file,
                        const struct reason *w)
{
        struct regions main_only = { .r = { rg->r[0] }, .name = { rg->name[0] }, .n = 1 };
        uint8_t buf[DHCP_OPT_CONCAT_MAX];
        size_t n;
        int k, err;

        k = opt_gather(&main_only, OPT_OVERLOAD, buf, &n, w);
        if (k <= 0)
                return k;
        if (n != 1 || buf[0] < 1 || buf[0] > 3)
                return reason_fail(w, -EBADMSG, "option 52 (option overload) invalid: length %zu value %u", n,
                            n > 0 ? buf[0] : 0);
        if (buf[0] & 1) {
                err = area_check(file, "file", w);
                if (err < 0)
                        return err;
                rg->r[rg->n] = *file;
                rg->name[rg->n++] = "file";
        }
        if (buf[0] & 2) {
                err = area_check(sname, "sname", w);
                if (err < 0)
                        return err;
                rg->r[rg->n] = *sname;
                rg->name[rg->n++] = "sname";
        }
        return 0;
}

static int get_u32(uint8_t code, struct reader *v, uint32_t *dst, unsigned have_bit,
                   struct dhcp_msg *m, const struct reason *w)
{
        if (rd_remaining(v) != 4 || rd_be32(v, dst) < 0)
                return reason_fail(w, -EBADMSG, "option %u (%s) length %zu, expected 4", code, opt_name(code),
                            rd_remaining(v));
        m->have |= have_bit;
        return 0;
}

static int get_addrs(uint8_t code, struct reader *v, struct dhcp_addrs *dst, const struct reason *w)
{
        size_t len = rd_remaining(v);

        if (len == 0 || len % 4 != 0)
                return reason_fail(w, -EBADMSG, "option %u (%s) length %zu, not a multiple of 4", code,
                            opt_name(code), len);
        if (len / 4 > DHCP_MAX_ADDRS)
                return reason_fail(w, -E2BIG, "option %u (%s) lists %zu addresses, at most %d", code,
                            opt_name(code), len / 4, DHCP_MAX_ADDRS);
        for (size_t i = 0; i < len / 4; i++)
                if (rd_be32(v, &dst->a[i]) < 0)
                        return reason_fail(w, -EBADMSG, "option %u: short read", code);
        dst->n = len / 4;
        return 0;
}

static int get_name(uint8_t code, struct reader *v, char dst[static DHCP_NAME_MAX + 1],
                    const struct reason *w)
{
        size_t n = rd_remaining(v);
        const uint8_t *s;
        char what[48];
        int err;

        if (rd_bytes(v, n, &s) < 0)
                return reason_fail(w, -EBADMSG, "option %u: short read", code);
        /* RFC 2132 §2 says options carry no NUL terminator, yet some
         * servers send one; trailing NULs are not part of the name. */
        while (n > 0 && s[n - 1] == '\0')
                n--;
        snprintf(what, sizeof(what), "option %u (%s)", code, opt_name(code));
        err = check_name((const char *)s, n, what, w);
        if (err < 0)
                return err;
        memcpy(dst, s, n);
        dst[n] = '\0';
        return 0;
}

/* RFC 3442 "Classless Route Option Format": a prefix length, only the
 * significant destination octets (prefix/8 rounded up), then the router. */
static int get_route(struct reader *v, struct dhcp_route *ret, const struct reason *w)
{
        uint8_t prefix, octets[4] = { 0 };
        uint32_t dest, router;
        char a[DHCP_ADDR_STRLEN];

        if (rd_u8(v, &prefix) < 0)
                return reason_fail(w, -EBADMSG, "option 121 (classless routes) truncated");
        if (prefix > 32)
                return reason_fail(w, -EBADMSG, "option 121 (classless routes): prefix /%u over 32", prefix);
        size_t sig = (prefix + 7u) / 8u;
        if (rd_copy(v, octets, sig) < 0)
                return reason_fail(w, -EBADMSG,
                            "option 121 (classless routes): /%u needs %zu destination octets, %zu left",
                            prefix, sig, rd_remaining(v));
        dest = (uint32_t)octets[0] << 24 | (uint32_t)octets[1] << 16 | (uint32_t)octets[2] << 8 |
               octets[3];
        if (dest & ~dhcp_prefix_to_mask(prefix))
                return reason_fail(w, -EBADMSG, "option 121 (classless routes): %s/%u has host bits set",
                            dhcp_addr_str(dest, a), prefix);
        if (rd_be32(v, &router) < 0)
                return reason_fail(w, -EBADMSG, "option 121 (classless routes): %s/%u has no router",
                            dhcp_addr_str(dest, a), prefix);
        *ret = (struct dhcp_route){ .dest = dest, .prefix = prefix, .router = router };
        return 0;
}

static int get_routes(struct reader *v, struct dhcp_msg *m, const struct reason *w)
{
        size_t n = 0;

        /* RFC 3442: the option's minimum length is 5 */
        if (rd_remaining(v) < 5)
                return reason_fail(w, -EBADMSG, "option 121 (classless routes) length %zu, under 5",
                            rd_remaining(v));
        while (rd_remaining(v) > 0) {
                if (n == DHCP_MAX_ROUTES)
                        return reason_fail(w, -E2BIG, "option 121 (classless routes): over %d routes",
                                    DHCP_MAX_ROUTES);
                int err = get_route(v, &m->routes[n], w);
                if (err < 0)
                        return err;
                n++;
        }
        m->n_routes = n;
        m->have |= DHCP_HAVE_ROUTES;
        return 0;
}

static int get_small(uint8_t code, struct reader *v, struct dhcp_msg *m, const struct reason *w)
{
        size_t len = rd_remaining(v);

        switch (code) {
        case OPT_MSG_TYPE:
                if (len != 1 || rd_u8(v, &m->type) < 0)
                        return reason_fail(w, -EBADMSG, "option 53 (message type) length %zu, expected 1", len);
                if (m->type == 0)
                        return reason_fail(w, -EBADMSG, "option 53 (message type) 0");
                return 0;
        case OPT_MTU:
                if (len != 2 || rd_be16(v, &m->mtu) < 0)
                        return reason_fail(w, -EBADMSG, "option 26 (interface MTU) length %zu, expected 2", len);
                if (m->mtu < MIN_MTU)
                        return reason_fail(w, -EBADMSG, "option 26 (interface MTU) %u, under %d", m->mtu,
                                    MIN_MTU);
                m->have |= DHCP_HAVE_MTU;
                return 0;
        case OPT_RAPID_COMMIT: /* RFC 4039: length 0 */
                if (len != 0)
                        return reason_fail(w, -EBADMSG, "option 80 (rapid commit) length %zu, expected 0", len);
                m->rapid_commit = true;
                return 0;
        default:
                return reason_fail(w, -EBADMSG, "option %u not decodable", code);
        }
}

static int decode_option(uint8_t code, struct reader *v, struct dhcp_msg *m, const struct reason *w)
{
        switch (code) {
        case OPT_SERVER_ID: return get_u32(code, v, &m->server_id, DHCP_HAVE_SERVER_ID, m, w);
        case OPT_LEASE: return get_u32(code, v, &m->lease_s, DHCP_HAVE_LEASE, m, w);
        case OPT_T1: return get_u32(code, v, &m->t1_s, DHCP_HAVE_T1, m, w);
        case OPT_T2: return get_u32(code, v, &m->t2_s, DHCP_HAVE_T2, m, w);
        case OPT_SUBNET_MASK: return get_u32(code, v, &m->subnet_mask, DHCP_HAVE_MASK, m, w);
        case OPT_REQUESTED_IP:
                return get_u32(code, v, &m->requested_ip, DHCP_HAVE_REQUESTED_IP, m, w);
        case OPT_ROUTER: return get_addrs(code, v, &m->routers, w);
        case OPT_DNS: return get_addrs(code, v, &m->dns, w);
        case OPT_NTP: return get_addrs(code, v, &m->ntp, w);
        case OPT_HOSTNAME: return get_name(code, v, m->hostname, w);
        case OPT_DOMAIN: return get_name(code, v, m->domain, w);
        case OPT_CLASSLESS_ROUTES: return get_routes(v, m, w);
        default: return get_small(code, v, m, w);
        }
}

/* The options Ember reads; any other option is skipped. */
static const uint8_t decoded_options[] = {
        OPT_MSG_TYPE, OPT_SERVER_ID, OPT_LEASE, OPT_T1, OPT_T2, OPT_SUBNET_MASK,
        OPT_REQUESTED_IP, OPT_ROUTER, OPT_DNS, OPT_NTP, OPT_HOSTNAME, OPT_DOMAIN,
        OPT_MTU, OPT_CLASSLESS_ROUTES, OPT_RAPID_COMMIT,
};

static int decode_options(const struct regions *rg, struct dhcp_msg *m, const struct reason *w)
{
        uint8_t buf[DHCP_OPT_CONCAT_MAX];

        for (size_t i = 0; i < ELEMENTSOF(decoded_options); i++) {
                uint8_t code = decoded_options[i];
                struct reader v;
                size_t n;
                int k = opt_gather(rg, code, buf, &n, w);
                if (k < 0)
                        return k;
                if (k == 0)
                        continue;
                rd_init(&v, buf, n);
                k = decode_option(code, &v, m, w);
                if (k < 0)
                        return k;
        }
        return 0;
}

int dhcp_msg_parse(const void *buf, size_t len, struct dhcp_msg *ret, char *why, size_t whylen)
{
        struct reason w = { why, whylen };
        struct regions rg = { .name = { "options" }, .n = 1 };
        struct reader r, sname, file;
        struct dhcp_msg m = { 0 };
        int err;

        if (!buf || !ret)
                return reason_fail(&w, -EINVAL, "no buffer");
        rd_init(&r, buf, len);
        err = parse_header(&r, &m, &sname, &file, &w);
        if (err < 0)
                return err;
        rg.r[0] = r;
        err = area_check(&rg.r[0], "options", &w);
        if (err < 0)
                return err;
        err = add_overload(&rg, &sname, &file, &w);
        if (err < 0)
                return err;
        err = decode_options(&rg, &m, &w);
        if (err < 0)
                return err;
        if (m.type == 0)
                return reason_fail(&w, -ENOMSG, "no option 53 (message type): a plain BOOTP reply");
        *ret = m;
        return 0;
}

/* ---- meaning ------------------------------------------------------------ */

int dhcp_msg_timers(const struct dhcp_msg *m, uint32_t *ret_t1, uint32_t *ret_t2)
{
        uint32_t t1, t2;

        if (!m || !ret_t1 || !ret_t2)
                return -EINVAL;
        if (!(m->have & DHCP_HAVE_LEASE))
                return -ENODATA;
        if (m->lease_s == DHCP_LEASE_INFINITE) {
                t1 = t2 = DHCP_LEASE_INFINITE;
        } else {
                /* RFC 2131 §4.4.5: 0.5 and 0.875 of the lease */
                t1 = (uint32_t)((uint64_t)m->lease_s / 2);
                t2 = (uint32_t)((uint64_t)m->lease_s * 7 / 8);
        }
        if (m->have & DHCP_HAVE_T1)
                t1 = m->t1_s;
        if (m->have & DHCP_HAVE_T2)
                t2 = m->t2_s;
        *ret_t1 = t1;
        *ret_t2 = t2;
        return 0;
}

/* Why an address cannot be a host's own or a server's, or NULL. */
static const char *addr_unusable(uint32_t a)
{
        if (a >> 24 == 0)
                return "in 0.0.0.0/8";
        if (a >> 24 == 127)
                return "loopback";
        if (a >> 28 == 0xe)
                return "multicast";
        if (a == UINT32_MAX)
                return "broadcast";
        if (a >> 28 == 0xf)
                return "reserved (240.0.0.0/4)";
        return NULL;
}

static int check_address(const struct dhcp_msg *m, const struct reason *w)
{
        char a[DHCP_ADDR_STRLEN], n[DHCP_ADDR_STRLEN];
        const char *bad;

        bad = addr_unusable(m->yiaddr);
        if (bad)
                return reason_fail(w, -EBADMSG, "yiaddr %s is %s", dhcp_addr_str(m->yiaddr, a), bad);
        if (!(m->have & DHCP_HAVE_MASK))
                return 0;
        int prefix = dhcp_mask_to_prefix(m->subnet_mask);
        if (prefix < 0)
                return reason_fail(w, -EBADMSG, "subnet mask %s not contiguous",
                            dhcp_addr_str(m->subnet_mask, a));
        if (prefix == 0)
                return reason_fail(w, -EBADMSG, "subnet mask 0.0.0.0");
        /* on /31 and /32 (RFC 3021) every address is a host address */
        uint32_t host = m->yiaddr & ~m->subnet_mask;
        if (prefix <= 30 && (host == 0 || host == ~m->subnet_mask))
                return reason_fail(w, -EBADMSG, "yiaddr %s is the %s address of %s/%d",
                            dhcp_addr_str(m->yiaddr, a), host ? "broadcast" : "network",
                            dhcp_addr_str(m->yiaddr & m->subnet_mask, n), prefix);
        return 0;
}

static int check_timers(const struct dhcp_msg *m, const struct reason *w)
{
        uint32_t t1, t2;

        if (!(m->have & DHCP_HAVE_LEASE))
                return reason_fail(w, -EBADMSG, "%s without a lease time", dhcp_type_to_string(m->type));
        if (m->lease_s == 0)
                return reason_fail(w, -EBADMSG, "lease time 0");
        if (dhcp_msg_timers(m, &t1, &t2) < 0)
                return reason_fail(w, -EBADMSG, "no timers");
        /* RFC 2131 §4.4.5: T1 < T2 < lease; an infinite lease never renews */
        if (t1 >= t2 && t2 != DHCP_LEASE_INFINITE)
                return reason_fail(w, -EBADMSG, "T1 (%u) not below T2 (%u)", t1, t2);
        if (m->lease_s != DHCP_LEASE_INFINITE && t2 >= m->lease_s)
                return reason_fail(w, -EBADMSG, "T2 (%u) not below the lease time (%u)", t2, m->lease_s);
        return 0;
}

/* A gateway is reachable when it is inside yiaddr/mask or inside a
 * classless route whose router is 0.0.0.0 (on-link, RFC 3442), the way
 * /32 cloud networks reach their gateway. */
static bool gateway_reachable(const struct dhcp_msg *m, uint32_t gw)
{
        if (((gw ^ m->yiaddr) & m->subnet_mask) == 0)
                return true;
        for (size_t i = 0; i < m->n_routes; i++)
                if (m->routes[i].router == 0 &&
                    ((gw ^ m->routes[i].dest) & dhcp_prefix_to_mask(m->routes[i].prefix)) == 0)
                        return true;
        return false;
}

static int check_gateways(const struct dhcp_msg *m, const struct reason *w)
{
        char a[DHCP_ADDR_STRLEN], n[DHCP_ADDR_STRLEN];
        int prefix = dhcp_mask_to_prefix(m->subnet_mask);

        /* without a mask there is no subnet to hold them to: the client
         * decides how to reach them */
        if (!(m->have & DHCP_HAVE_MASK))
                return 0;
        dhcp_addr_str(m->yiaddr & m->subnet_mask, n);
        /* RFC 3442 "DHCP Client Behavior": with option 121 the client MUST
         * ignore option 3, so only 121's routers are held to the subnet */
        if (m->have & DHCP_HAVE_ROUTES) {
                for (size_t i = 0; i < m->n_routes; i++) {
                        uint32_t gw = m->routes[i].router;
                        if (gw != 0 && !gateway_reachable(m, gw))
                                return reason_fail(w, -EBADMSG, "classless route router %s outside %s/%d",
                                            dhcp_addr_str(gw, a), n, prefix);
                }
                return 0;
        }
        for (size_t i = 0; i < m->routers.n; i++)
                if (!gateway_reachable(m, m->routers.a[i]))
                        return reason_fail(w, -EBADMSG, "router %s outside %s/%d",
                                    dhcp_addr_str(m->routers.a[i], a), n, prefix);
        return 0;
}

static int check_lease(const struct dhcp_msg *m, const struct reason *w)
{
        const char *type = dhcp_type_to_string(m->type);
        char a[DHCP_ADDR_STRLEN];
        int err;

        /* RFC 2131 §4.3.1 table 3: OFFER and ACK MUST carry a server id */
        if (!(m->have & DHCP_HAVE_SERVER_ID))
                return reason_fail(w, -EBADMSG, "%s without a server id", type);
        if (addr_unusable(m->server_id))
                return reason_fail(w, -EBADMSG, "server id %s is %s", dhcp_addr_str(m->server_id, a),
                            addr_unusable(m->server_id));
        err = check_address(m, w);
        if (err < 0)
                return err;
        err = check_timers(m, w);
        if (err < 0)
                return err;
        return check_gateways(m, w);
}

int dhcp_msg_validate(const struct dhcp_msg *m, uint32_t expected_xid, const uint8_t chaddr[6],
                      char *why, size_t whylen)
{
        struct reason w = { why, whylen };
        const uint8_t *c;

        if (!m || !chaddr)
                return reason_fail(&w, -EINVAL, "no message");
        if (m->xid != expected_xid)
                return reason_fail(&w, -ENOMSG, "xid 0x%08x is not ours (0x%08x)", m->xid, expected_xid);
        c = m->chaddr;
        if (memcmp(c, chaddr, ETH_ALEN_) != 0)
                return reason_fail(&w, -ENOMSG, "chaddr %02x:%02x:%02x:%02x:%02x:%02x is not ours", c[0], c[1],
                            c[2], c[3], c[4], c[5]);
        switch (m->type) {
        case DHCP_OFFER:
        case DHCP_ACK:
                return check_lease(m, &w);
        case DHCP_NAK: /* RFC 2131 §4.3.1 table 3 */
                if (!(m->have & DHCP_HAVE_SERVER_ID))
                        return reason_fail(&w, -EBADMSG, "NAK without a server id");
                return 0;
        default:
                return reason_fail(&w, -EBADMSG, "message type %u (%s) is not a reply", m->type,
                            dhcp_type_to_string(m->type));
        }
}

/* ---- building ----------------------------------------------------------- */

/* The output twin of struct reader: each write fits whole or writes
 * nothing, and the comparisons cannot overflow (off <= len always). */
struct writer {
        uint8_t *p;
        size_t len;
        size_t off;
};

static int wr_bytes(struct writer *w, const void *src, size_t n)
{
        if (w->len - w->off < n)
                return -ENOBUFS;
        if (n)
                memcpy(w->p + w->off, src, n);
        w->off += n;
        return 0;
}

static int wr_zero(struct writer *w, size_t n)
{
        if (w->len - w->off < n)
                return -ENOBUFS;
        memset(w->p + w->off, 0, n);
        w->off += n;
        return 0;
}

static int wr_u8(struct writer *w, uint8_t v) { return wr_bytes(w, &v, 1); }

static int wr_be16(struct writer *w, uint16_t v)
{
        uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
        return wr_bytes(w, b, sizeof(b));
}

static int wr_be32(struct writer *w, uint32_t v)
{
        uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
        return wr_bytes(w, b, sizeof(b));
}

/* One whole option (code, length, value) or nothing. */
static int wr_option(struct writer *w, uint8_t code, const void *val, size_t n)
{
        assert(n <= UINT8_MAX); /* our own options only */
        if (w->len - w->off < 2 || w->len - w->off - 2 < n)
                return -ENOBUFS;
        w->p[w->off++] = code;
        w->p[w->off++] = (uint8_t)n;
        return wr_bytes(w, val, n);
}

static int wr_option_be32(struct writer *w, uint8_t code, uint32_t v)
{
        uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
        return wr_option(w, code, b, sizeof(b));
}

/* RFC 2131 §4.3.2: which of ciaddr, requested address and server id a
 * REQUEST carries depends on why it is sent. */
static int check_request(const struct dhcp_build *b)
{
        switch (b->state) {
        case DHCP_REQ_SELECTING:
                return b->server_id && b->requested_ip && !b->ciaddr ? 0 : -EINVAL;
        case DHCP_REQ_INIT_REBOOT:
                return !b->server_id && b->requested_ip && !b->ciaddr ? 0 : -EINVAL;
        case DHCP_REQ_RENEWING:
        case DHCP_REQ_REBINDING:
                return !b->server_id && !b->requested_ip && b->ciaddr ? 0 : -EINVAL;
        default:
                return -EINVAL;
        }
}

/* RFC 2131 §4.4.1 table 5; fields a message must not carry are refused,
 * not dropped, so a caller's mistake is never silent. */
static int check_build(const struct dhcp_build *b)
{
        bool asks = b->type == DHCP_DISCOVER || b->type == DHCP_REQUEST;

        if (!asks && b->type != DHCP_DECLINE && b->type != DHCP_RELEASE)
                return -EINVAL;
        if (!asks && (b->secs || b->hostname || b->max_msg_size || b->broadcast))
                return -EINVAL;
        if (b->rapid_commit && b->type != DHCP_DISCOVER)
                return -EINVAL;
        if (b->max_msg_size && b->max_msg_size < MIN_MAX_MSG_SIZE)
                return -EINVAL;
        if (b->hostname && check_name(b->hostname, strnlen(b->hostname, DHCP_NAME_MAX + 1),
                                      "hostname", NULL) < 0)
                return -EINVAL;
        switch (b->type) {
        case DHCP_DISCOVER:
                return !b->ciaddr && !b->server_id ? 0 : -EINVAL;
        case DHCP_REQUEST:
                return check_request(b);
        case DHCP_DECLINE:
                return !b->ciaddr && b->requested_ip && b->server_id ? 0 : -EINVAL;
        default: /* RELEASE */
                return b->ciaddr && !b->requested_ip && b->server_id ? 0 : -EINVAL;
        }
}

static int write_header(struct writer *w, const struct dhcp_build *b)
{
        /* RFC 2131 §2: the broadcast flag is the top bit of 'flags' */
        uint16_t flags = b->broadcast ? 0x8000 : 0;
        int err;

        if ((err = wr_u8(w, BOOTREQUEST)) < 0 || (err = wr_u8(w, HTYPE_ETHERNET)) < 0 ||
            (err = wr_u8(w, ETH_ALEN_)) < 0 || (err = wr_u8(w, 0)) < 0 ||
            (err = wr_be32(w, b->xid)) < 0 || (err = wr_be16(w, b->secs)) < 0 ||
            (err = wr_be16(w, flags)) < 0 || (err = wr_be32(w, b->ciaddr)) < 0 ||
            (err = wr_zero(w, 3 * 4)) < 0 || /* yiaddr, siaddr, giaddr */
            (err = wr_bytes(w, b->chaddr, ETH_ALEN_)) < 0 ||
            (err = wr_zero(w, CHADDR_LEN - ETH_ALEN_ + SNAME_LEN + FILE_LEN)) < 0 ||
            (err = wr_bytes(w, magic_cookie, sizeof(magic_cookie))) < 0)
                return err;
        return 0;
}

/* Everything the parser decodes that a server may send. */
static const uint8_t param_request_list[] = {
        OPT_SUBNET_MASK, OPT_CLASSLESS_ROUTES, OPT_ROUTER, OPT_DNS, OPT_HOSTNAME, OPT_DOMAIN,
        OPT_MTU, OPT_NTP, OPT_LEASE, OPT_T1, OPT_T2,
};

/* Options only DISCOVER and REQUEST may carry (RFC 2131 table 5). */
static int write_asks(struct writer *w, const struct dhcp_build *b)
{
        uint16_t max = b->max_msg_size ? b->max_msg_size : DEFAULT_MAX_MSG_SIZE;
        uint8_t mb[2] = { (uint8_t)(max >> 8), (uint8_t)max };
        int err;

        err = wr_option(w, OPT_MAX_MSG_SIZE, mb, sizeof(mb));
        if (err < 0)
                return err;
        err = wr_option(w, OPT_PARAM_LIST, param_request_list, sizeof(param_request_list));
        if (err < 0)
                return err;
        if (b->hostname) {
                err = wr_option(w, OPT_HOSTNAME, b->hostname, strlen(b->hostname));
                if (err < 0)
                        return err;
        }
        if (b->rapid_commit)
                return wr_option(w, OPT_RAPID_COMMIT, NULL, 0);
        return 0;
}

static int write_options(struct writer *w, const struct dhcp_build *b)
{
        uint8_t type = (uint8_t)b->type;
        /* RFC 2132 §9.14: hardware type 1, then the MAC */
        uint8_t client_id[1 + ETH_ALEN_] = { HTYPE_ETHERNET };
        int err;

        memcpy(client_id + 1, b->chaddr, ETH_ALEN_);
        err = wr_option(w, OPT_MSG_TYPE, &type, 1);
        if (err < 0)
                return err;
        err = wr_option(w, OPT_CLIENT_ID, client_id, sizeof(client_id));
        if (err < 0)
                return err;
        if (b->requested_ip) {
                err = wr_option_be32(w, OPT_REQUESTED_IP, b->requested_ip);
                if (err < 0)
                        return err;
        }
        if (b->server_id) {
                err = wr_option_be32(w, OPT_SERVER_ID, b->server_id);
                if (err < 0)
                        return err;
        }
        if (b->type == DHCP_DISCOVER || b->type == DHCP_REQUEST)
                return write_asks(w, b);
        return 0;
}

int dhcp_msg_build(const struct dhcp_build *b, void *buf, size_t size)
{
        /* a UDP payload never exceeds this, and the length must fit an int */
        struct writer w = { .p = buf, .len = size < UINT16_MAX ? size : UINT16_MAX };
        int err;

        if (!b || !buf)
                return -EINVAL;
        err = check_build(b);
        if (err < 0)
                return err;
        err = write_header(&w, b);
        if (err < 0)
                return err;
        err = write_options(&w, b);
        if (err < 0)
                return err;
        err = wr_u8(&w, OPT_END);
        if (err < 0)
                return err;
        if (w.off < DHCP_MIN_LEN) {
                err = wr_zero(&w, DHCP_MIN_LEN - w.off);
                if (err < 0)
                        return err;
        }
        return (int)w.off;
}
