/* SPDX-License-Identifier: Apache-2.0 */
/* rtnetlink on a plain socket. Requests are built in a bounded buffer where
 * every append fits whole or poisons the request; replies are read only
 * through lib/reader.h, as untrusted bytes: each message's length, sequence
 * number and port id are checked, every attribute this module uses must
 * have exactly its type's size, and nothing reaches a caller before the
 * whole exchange (up to NLMSG_DONE or the ACK) succeeded. */
#include "netdev.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "reader.h"
#include "util.h"

/* The kernel never builds a dump datagram above 32 KiB (netlink_dump caps
 * its buffer there), so one receive always holds a whole datagram. */
#define NL_RX_SIZE 32768
#define NL_REQ_SIZE 256
#define NL_MAX_ERRNO 4095
#define DUMP_TRIES 3
#define FLUSH_BATCH 32
#define FLUSH_ROUNDS 64
#define VLAN_ID_MAX 4094

/* MTUs and metrics travel as u32. */
_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "unsigned is 32 bits");

_Static_assert(sizeof(struct ifinfomsg) % NLMSG_ALIGNTO == 0, "ifinfomsg is padded");
_Static_assert(sizeof(struct ifaddrmsg) % NLMSG_ALIGNTO == 0, "ifaddrmsg is padded");
_Static_assert(sizeof(struct rtmsg) % NLMSG_ALIGNTO == 0, "rtmsg is padded");

/* --- Requests ---------------------------------------------------------------- */

struct req {
        union {
                struct nlmsghdr h;
                uint8_t b[NL_REQ_SIZE];
        } u;
        size_t len;
        int err; /* the first append that did not fit; the request is not sent */
};

static void req_init(struct req *r, uint16_t type, uint16_t flags)
{
        memset(r, 0, sizeof(*r));
        r->len = NLMSG_HDRLEN;
        r->u.h.nlmsg_type = type;
        r->u.h.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
}

/* Room for len bytes plus zero padding to the next 4-byte boundary (the
 * buffer starts zeroed), or NULL when it does not fit. */
static uint8_t *req_reserve(struct req *r, size_t len)
{
        if (r->err < 0)
                return NULL;
        if (len > sizeof(r->u.b) || sizeof(r->u.b) - r->len < NLMSG_ALIGN(len)) {
                r->err = -ENOBUFS;
                return NULL;
        }
        uint8_t *p = r->u.b + r->len;
        r->len += NLMSG_ALIGN(len);
        return p;
}

static void req_put(struct req *r, const void *data, size_t len)
{
        uint8_t *p = req_reserve(r, len);
        if (p)
                memcpy(p, data, len);
}

static void req_attr(struct req *r, uint16_t type, const void *data, size_t len)
{
        uint8_t *p = req_reserve(r, RTA_LENGTH(len));
        if (!p)
                return;
        struct rtattr a = { .rta_len = (unsigned short)RTA_LENGTH(len), .rta_type = type };
        memcpy(p, &a, sizeof(a));
        if (len)
                memcpy(p + RTA_LENGTH(0), data, len);
}

static void req_attr_u16(struct req *r, uint16_t type, uint16_t v) { req_attr(r, type, &v, sizeof(v)); }
static void req_attr_u32(struct req *r, uint16_t type, uint32_t v) { req_attr(r, type, &v, sizeof(v)); }

/* IPv4 addresses travel in network byte order. */
static void req_attr_in4(struct req *r, uint16_t type, uint32_t addr)
{
        uint32_t be = htonl(addr);
        req_attr(r, type, &be, sizeof(be));
}

static void req_attr_str(struct req *r, uint16_t type, const char *s)
{
        req_attr(r, type, s, strlen(s) + 1);
}

/* A nest is an attribute whose length is known once its members are in. */
static size_t req_nest_begin(struct req *r, uint16_t type)
{
        size_t off = r->len;
        req_attr(r, type, NULL, 0);
        return off;
}

static void req_nest_end(struct req *r, size_t off)
{
        struct rtattr a;
        if (r->err < 0)
                return;
        memcpy(&a, r->u.b + off, sizeof(a));
        a.rta_len = (unsigned short)(r->len - off);
        memcpy(r->u.b + off, &a, sizeof(a));
}

/* --- Replies ----------------------------------------------------------------- */

/* Called with the payload of each data message of the exchange. */
typedef int (*msg_fn)(struct reader payload, void *userdata);

struct exchange {
        uint16_t want; /* the only data message type the reply may carry */
        msg_fn fn;
        void *userdata;
        int result; /* the first error: the kernel's, a callback's, or a bad message */
        bool done;
        bool interrupted; /* NLM_F_DUMP_INTR: the dump may be inconsistent */
};

static int rd_s32(struct reader *r, int32_t *ret)
{
        return rd_copy(r, ret, sizeof(*ret));
}

static void set_result(struct exchange *x, int err)
{
        if (x->result == 0)
                x->result = err;
}

/* The status of NLMSG_ERROR and NLMSG_DONE: 0 or a plausible -errno. */
static int read_status(struct reader *payload, bool optional)
{
        int32_t err = 0;
        if (rd_remaining(payload) == 0 && optional)
                return 0;
        if (rd_s32(payload, &err) < 0 || err > 0 || err < -NL_MAX_ERRNO)
                return -EBADMSG;
        return err;
}

static void handle_msg(struct exchange *x, const struct nlmsghdr *h, struct reader payload)
{
        if (h->nlmsg_flags & NLM_F_DUMP_INTR)
                x->interrupted = true;
        switch (h->nlmsg_type) {
        case NLMSG_NOOP:
                return;
        case NLMSG_ERROR: /* an error, or the ACK (0) that ends a request */
                set_result(x, read_status(&payload, false));
                x->done = true;
                return;
        case NLMSG_DONE: /* ends a dump; older kernels carry no status */
                set_result(x, read_status(&payload, true));
                x->done = true;
                return;
        }
        if (h->nlmsg_type != x->want || !x->fn) {
                set_result(x, -EBADMSG);
                return;
        }
        if (x->result == 0)
                x->result = x->fn(payload, x->userdata);
}

/* One datagram: a run of aligned messages. Framing errors end the whole
 * exchange at once, since where it ends can no longer be known. */
static int read_datagram(const struct nl *nl, unsigned seq, struct exchange *x, size_t len)
{
        struct reader r;
        rd_init(&r, nl->buf, len);
        while (rd_remaining(&r) > 0 && !x->done) {
                struct nlmsghdr h;
                struct reader payload;
                if (rd_copy(&r, &h, sizeof(h)) < 0 || h.nlmsg_len < sizeof(h) ||
                    rd_sub(&r, h.nlmsg_len - sizeof(h), &payload) < 0)
                        return -EBADMSG;
                /* The last message of a datagram may lack its padding. */
                size_t pad = NLMSG_ALIGN(h.nlmsg_len) - h.nlmsg_len;
                (void)rd_skip(&r, pad < rd_remaining(&r) ? pad : rd_remaining(&r));
                /* Leftovers of an exchange abandoned after an error. */
                if (h.nlmsg_seq != seq || h.nlmsg_pid != nl->portid)
                        continue;
                handle_msg(x, &h, payload);
        }
        return 0;
}

static int nl_send(struct nl *nl, struct req *r, unsigned *ret_seq)
{
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        if (r->err < 0)
                return r->err;
        if (++nl->seq == 0)
                nl->seq = 1;
        r->u.h.nlmsg_len = (uint32_t)r->len;
        r->u.h.nlmsg_seq = nl->seq;
        r->u.h.nlmsg_pid = nl->portid;
        for (;;) {
                ssize_t n = sendto(nl->fd, r->u.b, r->len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if ((size_t)n != r->len)
                        return -EIO;
                break;
        }
        *ret_seq = nl->seq;
        return 0;
}

/* Sends one request and reads its whole answer. ret_interrupted may be
 * NULL for requests that are not dumps. */
static int nl_transact(struct nl *nl, struct req *r, uint16_t want, msg_fn fn, void *userdata,
                       bool *ret_interrupted)
{
        struct exchange x = { .want = want, .fn = fn, .userdata = userdata };
        unsigned seq = 0;
        int ret = nl_send(nl, r, &seq);
        if (ret < 0)
                return ret;
        while (!x.done) {
                struct sockaddr_nl from = { 0 };
                socklen_t fromlen = sizeof(from);
                ssize_t n = recvfrom(nl->fd, nl->buf, nl->buflen, MSG_TRUNC, (struct sockaddr *)&from,
                                     &fromlen);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : negative_errno();
                if ((size_t)n > nl->buflen)
                        return -EMSGSIZE; /* truncated: part of the answer is lost */
                if (fromlen != sizeof(from) || from.nl_family != AF_NETLINK || from.nl_pid != 0)
                        continue; /* not the kernel */
                ret = read_datagram(nl, seq, &x, (size_t)n);
                if (ret < 0)
                        return ret;
        }
        if (ret_interrupted)
                *ret_interrupted = x.interrupted;
        return x.result;
}

/* A dump, asked again when the kernel says a concurrent change may have
 * made it inconsistent. *count is the callback's, reset before each try. */
static int nl_dump(struct nl *nl, uint16_t type, const void *hdr, size_t hdrlen, uint16_t want, msg_fn fn,
                   void *userdata, size_t *count)
{
        for (unsigned i = 0; i < DUMP_TRIES; i++) {
                struct req r;
                bool interrupted = false;
                req_init(&r, type, NLM_F_DUMP);
                req_put(&r, hdr, hdrlen);
                if (type == RTM_GETLINK)
                        req_attr_u32(&r, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
                *count = 0;
                int ret = nl_transact(nl, &r, want, fn, userdata, &interrupted);
                if (ret < 0 || !interrupted)
                        return ret;
        }
        return -EAGAIN;
}

/* --- Attributes -------------------------------------------------------------- */

/* tb[t] becomes the payload of attribute t (p == NULL: absent). Types at or
 * above n are skipped; a repeated one is refused (the kernel sends each
 * top-level attribute once). */
static int attrs_parse(struct reader r, struct reader *tb, size_t n)
{
        memset(tb, 0, n * sizeof(*tb));
        while (rd_remaining(&r) > 0) {
                struct rtattr a;
                struct reader v;
                if (rd_copy(&r, &a, sizeof(a)) < 0 || a.rta_len < sizeof(a) ||
                    rd_sub(&r, a.rta_len - sizeof(a), &v) < 0)
                        return -EBADMSG;
                size_t pad = RTA_ALIGN(a.rta_len) - a.rta_len;
                (void)rd_skip(&r, pad < rd_remaining(&r) ? pad : rd_remaining(&r));
                unsigned type = a.rta_type & NLA_TYPE_MASK;
                if (type >= n)
                        continue;
                if (tb[type].p)
                        return -EBADMSG;
                tb[type] = v;
        }
        return 0;
}

static bool has(const struct reader *a) { return a->p != NULL; }

static int attr_fixed(const struct reader *a, void *ret, size_t size)
{
        if (a->len != size)
                return -EBADMSG;
        memcpy(ret, a->p, size);
        return 0;
}

static int attr_u8(const struct reader *a, uint8_t *ret) { return attr_fixed(a, ret, sizeof(*ret)); }
static int attr_u16(const struct reader *a, uint16_t *ret) { return attr_fixed(a, ret, sizeof(*ret)); }
static int attr_u32(const struct reader *a, uint32_t *ret) { return attr_fixed(a, ret, sizeof(*ret)); }

static int attr_in4(const struct reader *a, uint32_t *ret)
{
        uint32_t be;
        if (attr_fixed(a, &be, sizeof(be)) < 0)
                return -EBADMSG;
        *ret = ntohl(be);
        return 0;
}

/* An ifindex travels as u32; ours is an int. */
static int attr_ifindex(const struct reader *a, int *ret)
{
        uint32_t v;
        if (attr_u32(a, &v) < 0 || v > INT_MAX)
                return -EBADMSG;
        *ret = (int)v;
        return 0;
}

/* A NUL-terminated string that fits buf with its NUL. */
static int attr_str(const struct reader *a, char *buf, size_t size)
{
        const uint8_t *nul = a->len ? memchr(a->p, 0, a->len) : NULL;
        if (!nul || (size_t)(nul - a->p) >= size)
                return -EBADMSG;
        memcpy(buf, a->p, (size_t)(nul - a->p) + 1);
        return 0;
}

/* --- Links ------------------------------------------------------------------- */

static int parse_vlan_data(struct reader data, struct nl_link *l)
{
        struct reader tb[IFLA_VLAN_MAX + 1];
        if (attrs_parse(data, tb, ELEMENTSOF(tb)) < 0 || attr_u16(&tb[IFLA_VLAN_ID], &l->vlan_id) < 0)
                return -EBADMSG;
        if (has(&tb[IFLA_VLAN_PROTOCOL])) {
                uint16_t be;
                if (attr_u16(&tb[IFLA_VLAN_PROTOCOL], &be) < 0)
                        return -EBADMSG;
                l->vlan_proto = ntohs(be);
        }
        return 0;
}

static int parse_linkinfo(struct reader info, struct nl_link *l)
{
        struct reader tb[IFLA_INFO_MAX + 1];
        if (attrs_parse(info, tb, ELEMENTSOF(tb)) < 0)
                return -EBADMSG;
        if (!has(&tb[IFLA_INFO_KIND]))
                return 0;
        /* Every kind the kernel has is a short word; a longer one is garbage. */
        if (attr_str(&tb[IFLA_INFO_KIND], l->kind, sizeof(l->kind)) < 0)
                return -EBADMSG;
        if (streq(l->kind, "vlan") && has(&tb[IFLA_INFO_DATA]))
                return parse_vlan_data(tb[IFLA_INFO_DATA], l);
        return 0;
}

int nl_link_parse(const void *payload, size_t len, struct nl_link *ret)
{
        struct nl_link l = { 0 };
        struct reader r, tb[IFLA_MAX + 1];
        struct ifinfomsg ifi;
        uint32_t mtu = 0;
        uint8_t carrier = 0;

        if (!payload || !ret)
                return -EINVAL;
        rd_init(&r, payload, len);
        if (rd_copy(&r, &ifi, sizeof(ifi)) < 0 || attrs_parse(r, tb, ELEMENTSOF(tb)) < 0)
                return -EBADMSG;
        if (ifi.ifi_index <= 0 || attr_str(&tb[IFLA_IFNAME], l.info.name, sizeof(l.info.name)) < 0 ||
            l.info.name[0] == '\0')
                return -EBADMSG;
        if (has(&tb[IFLA_MTU]) && attr_u32(&tb[IFLA_MTU], &mtu) < 0)
                return -EBADMSG;
        if (has(&tb[IFLA_CARRIER]) && attr_u8(&tb[IFLA_CARRIER], &carrier) < 0)
                return -EBADMSG;
        if (has(&tb[IFLA_LINK]) && attr_ifindex(&tb[IFLA_LINK], &l.parent_ifindex) < 0)
                return -EBADMSG;
        if (has(&tb[IFLA_LINKINFO]) && parse_linkinfo(tb[IFLA_LINKINFO], &l) < 0)
                return -EBADMSG;
        /* Other hardware types have other address lengths: no MAC then. */
        if (has(&tb[IFLA_ADDRESS]) && tb[IFLA_ADDRESS].len == sizeof(l.info.mac))
                memcpy(l.info.mac, tb[IFLA_ADDRESS].p, sizeof(l.info.mac));
        l.info.ifindex = ifi.ifi_index;
        l.info.mtu = mtu;
        l.info.loopback = ifi.ifi_flags & IFF_LOOPBACK;
        l.info.up = ifi.ifi_flags & IFF_UP;
        /* On a link that is up, carrier means IFF_RUNNING: the kernel sets
         * it once its link watch has activated the queueing discipline;
         * IFF_LOWER_UP comes earlier, and a packet sent in between goes to
         * the noop qdisc and is lost (a DHCP client then waits 4 s). On a
         * link that is down, IFLA_CARRIER tells drivers that sense the
         * cable anyway. */
        l.info.carrier = (ifi.ifi_flags & IFF_UP) ? !!(ifi.ifi_flags & IFF_RUNNING)
                                                  : (ifi.ifi_flags & IFF_LOWER_UP) || carrier;
        *ret = l;
        return 0;
}

struct links_ctx {
        struct link_info *out;
        size_t max, n;
};

static int links_msg(struct reader payload, void *userdata)
{
        struct links_ctx *c = userdata;
        struct nl_link l;
        int ret = nl_link_parse(payload.p, payload.len, &l);
        if (ret < 0)
                return ret;
        if (c->n >= c->max)
                return -E2BIG;
        c->out[c->n++] = l.info;
        return 0;
}

int nl_links(struct nl *nl, struct link_info *links, size_t max, size_t *ret_n)
{
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
        struct links_ctx c = { .out = links, .max = max };
        if (!nl || (!links && max) || !ret_n)
                return -EINVAL;
        int ret = nl_dump(nl, RTM_GETLINK, &ifi, sizeof(ifi), RTM_NEWLINK, links_msg, &c, &c.n);
        if (ret < 0)
                return ret;
        *ret_n = c.n;
        return 0;
}

struct link_query_ctx {
        struct nl_link l;
        bool have;
};

static int link_query_msg(struct reader payload, void *userdata)
{
        struct link_query_ctx *c = userdata;
        if (c->have)
                return -EBADMSG; /* one request, one link */
        int ret = nl_link_parse(payload.p, payload.len, &c->l);
        if (ret < 0)
                return ret;
        c->have = true;
        return 0;
}

/* One link by index (name NULL) or by name (ifindex 0). */
static int link_query(struct nl *nl, int ifindex, const char *name, struct nl_link *ret)
{
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
        struct link_query_ctx c = { .have = false };
        struct req r;
        req_init(&r, RTM_GETLINK, NLM_F_ACK);
        req_put(&r, &ifi, sizeof(ifi));
        if (name)
                req_attr_str(&r, IFLA_IFNAME, name);
        req_attr_u32(&r, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        int err = nl_transact(nl, &r, RTM_NEWLINK, link_query_msg, &c, NULL);
        if (err < 0)
                return err;
        /* An ACK without the link, or another link than asked for. (By name
         * the kernel also matches alternative names, so only the index is
         * compared.) */
        if (!c.have || (ifindex > 0 && c.l.info.ifindex != ifindex))
                return -EBADMSG;
        *ret = c.l;
        return 0;
}

static bool ifname_ok(const char *name)
{
        return name && name[0] != '\0' && strlen(name) < IFNAMSIZ;
}

int nl_link_get(struct nl *nl, const char *name, struct link_info *ret)
{
        struct nl_link l;
        if (!nl || !ifname_ok(name) || !ret)
                return -EINVAL;
        int err = link_query(nl, 0, name, &l);
        if (err < 0)
                return err;
        *ret = l.info;
        return 0;
}

/* RTM_SETLINK only changes an existing link, never creates one. */
static void req_setlink(struct req *r, int ifindex, unsigned flags, unsigned change)
{
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = flags,
                                 .ifi_change = change };
        req_init(r, RTM_SETLINK, NLM_F_ACK);
        req_put(r, &ifi, sizeof(ifi));
}

int nl_link_set_up(struct nl *nl, int ifindex)
{
        struct req r;
        if (!nl || ifindex <= 0)
                return -EINVAL;
        req_setlink(&r, ifindex, IFF_UP, IFF_UP);
        return nl_transact(nl, &r, 0, NULL, NULL, NULL);
}

int nl_link_set_mtu(struct nl *nl, int ifindex, unsigned mtu)
{
        struct req r;
        if (!nl || ifindex <= 0 || mtu == 0)
                return -EINVAL;
        req_setlink(&r, ifindex, 0, 0);
        req_attr_u32(&r, IFLA_MTU, (uint32_t)mtu);
        return nl_transact(nl, &r, 0, NULL, NULL, NULL);
}

static bool is_vlan(const struct nl_link *l, int parent_ifindex, uint16_t id)
{
        return streq(l->kind, "vlan") && l->parent_ifindex == parent_ifindex && l->vlan_id == id &&
               (l->vlan_proto == 0 || l->vlan_proto == ETH_P_8021Q);
}

int nl_vlan_add(struct nl *nl, int parent_ifindex, const char *name, uint16_t id)
{
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
        struct nl_link l;
        struct req r;
        if (!nl || parent_ifindex <= 0 || !ifname_ok(name) || id < 1 || id > VLAN_ID_MAX)
                return -EINVAL;
        req_init(&r, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        req_put(&r, &ifi, sizeof(ifi));
        req_attr_str(&r, IFLA_IFNAME, name);
        req_attr_u32(&r, IFLA_LINK, (uint32_t)parent_ifindex);
        size_t info = req_nest_begin(&r, IFLA_LINKINFO);
        req_attr_str(&r, IFLA_INFO_KIND, "vlan");
        size_t data = req_nest_begin(&r, IFLA_INFO_DATA);
        req_attr_u16(&r, IFLA_VLAN_ID, id);
        req_nest_end(&r, data);
        req_nest_end(&r, info);
        int err = nl_transact(nl, &r, 0, NULL, NULL, NULL);
        if (err != -EEXIST)
                return err;
        /* Created before (an earlier attempt, or the initrd was re-run):
         * fine if it is exactly this VLAN. */
        err = link_query(nl, 0, name, &l);
        if (err < 0)
                return err;
        return is_vlan(&l, parent_ifindex, id) ? 0 : -EEXIST;
}

/* --- Addresses --------------------------------------------------------------- */

static uint32_t prefix_mask(unsigned prefix)
{
        return prefix == 0 ? 0 : UINT32_MAX << (32 - prefix);
}

static void req_addr(struct req *r, uint16_t type, uint16_t flags, int ifindex, uint32_t addr,
                     unsigned prefix)
{
        struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = (unsigned char)prefix,
                                 .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = (uint32_t)ifindex };
        req_init(r, type, (uint16_t)(NLM_F_ACK | flags));
        req_put(r, &ifa, sizeof(ifa));
        req_attr_in4(r, IFA_LOCAL, addr);
        /* IFA_ADDRESS equal to IFA_LOCAL: not point-to-point; on delete it
         * also makes the kernel match the prefix length. */
        req_attr_in4(r, IFA_ADDRESS, addr);
}

int nl_addr_add(struct nl *nl, int ifindex, uint32_t addr, unsigned prefix, uint32_t valid_s,
                uint32_t preferred_s)
{
        struct req r;
        if (!nl || ifindex <= 0 || addr == 0 || prefix < 1 || prefix > 32 || valid_s == 0 ||
            preferred_s > valid_s)
                return -EINVAL;
        req_addr(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, ifindex, addr, prefix);
        /* /31 (RFC 3021) and /32 have no broadcast address. */
        if (prefix <= 30)
                req_attr_in4(&r, IFA_BROADCAST, addr | ~prefix_mask(prefix));
        struct ifa_cacheinfo ci = { .ifa_prefered = preferred_s, .ifa_valid = valid_s };
        req_attr(&r, IFA_CACHEINFO, &ci, sizeof(ci));
        return nl_transact(nl, &r, 0, NULL, NULL, NULL);
}

int nl_addr_del(struct nl *nl, int ifindex, uint32_t addr, unsigned prefix)
{
        struct req r;
        if (!nl || ifindex <= 0 || prefix > 32)
                return -EINVAL;
        req_addr(&r, RTM_DELADDR, 0, ifindex, addr, prefix);
        return nl_transact(nl, &r, 0, NULL, NULL, NULL);
}

struct addr_ctx {
        int ifindex;
        struct nl_addr *out;
        size_t max, n;
};

static int addr_msg(struct reader payload, void *userdata)
{
        struct addr_ctx *c = userdata;
        struct reader tb[IFA_MAX + 1];
        struct ifaddrmsg ifa;
        if (rd_copy(&payload, &ifa, sizeof(ifa)) < 0 || attrs_parse(payload, tb, ELEMENTSOF(tb)) < 0)
                return -EBADMSG;
        if (ifa.ifa_family != AF_INET || (c->ifindex > 0 && ifa.ifa_index != (uint32_t)c->ifindex))
                return 0;
        if (ifa.ifa_prefixlen > 32)
                return -EBADMSG;
        struct nl_addr a = { .prefix = ifa.ifa_prefixlen, .valid_s = NL_FOREVER, .preferred_s = NL_FOREVER };
        /* IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on
         * point-to-point links and the same address elsewhere. */
        if (attr_in4(has(&tb[IFA_LOCAL]) ? &tb[IFA_LOCAL] : &tb[IFA_ADDRESS], &a.addr) < 0)
                return -EBADMSG;
        if (has(&tb[IFA_CACHEINFO])) {
                struct ifa_cacheinfo ci;
                if (attr_fixed(&tb[IFA_CACHEINFO], &ci, sizeof(ci)) < 0)
                        return -EBADMSG;
                a.valid_s = ci.ifa_valid;
                a.preferred_s = ci.ifa_prefered;
        }
        if (c->n >= c->max)
                return -E2BIG;
        c->out[c->n++] = a;
        return 0;
}

/* A dump of a link that does not exist is merely empty: ask first. */
static int link_must_exist(struct nl *nl, int ifindex)
{
        struct nl_link l;
        return ifindex > 0 ? link_query(nl, ifindex, NULL, &l) : 0;
}

int nl_addr_list(struct nl *nl, int ifindex, struct nl_addr *out, size_t max, size_t *ret_n)
{
        struct ifaddrmsg ifa = { .ifa_family = AF_INET };
        struct addr_ctx c = { .ifindex = ifindex, .out = out, .max = max };
        if (!nl || ifindex < 0 || (!out && max) || !ret_n)
                return -EINVAL;
        int ret = link_must_exist(nl, ifindex);
        if (ret < 0)
                return ret;
        ret = nl_dump(nl, RTM_GETADDR, &ifa, sizeof(ifa), RTM_NEWADDR, addr_msg, &c, &c.n);
        if (ret < 0)
                return ret;
        *ret_n = c.n;
        return 0;
}

/* --- Routes ------------------------------------------------------------------ */

/* Fills the request shared by add and delete; the caller adds the rest. */
static void req_route(struct req *r, uint16_t type, uint16_t flags, const struct nl_route *rt,
                      unsigned char scope)
{
        struct rtmsg rtm = { .rtm_family = AF_INET, .rtm_dst_len = (unsigned char)rt->prefix,
                             .rtm_table = RT_TABLE_MAIN, .rtm_protocol = rt->protocol,
                             .rtm_scope = scope, .rtm_type = RTN_UNICAST };
        req_init(r, type, (uint16_t)(NLM_F_ACK | flags));
        req_put(r, &rtm, sizeof(rtm));
        if (rt->prefix > 0)
                req_attr_in4(r, RTA_DST, rt->dest);
        req_attr_u32(r, RTA_OIF, (uint32_t)rt->ifindex);
        if (rt->gateway)
                req_attr_in4(r, RTA_GATEWAY, rt->gateway);
        if (rt->prefsrc)
                req_attr_in4(r, RTA_PREFSRC, rt->prefsrc);
        req_attr_u32(r, RTA_PRIORITY, rt->metric);
}

int nl_route_add(struct nl *nl, int ifindex, uint32_t dest, unsigned prefix, uint32_t gateway,
                 uint32_t prefsrc, unsigned metric)
{
        const struct nl_route rt = { .dest = dest, .prefix = prefix, .gateway = gateway,
                                     .prefsrc = prefsrc, .metric = metric,
                                     .protocol = RTPROT_DHCP, .ifindex = ifindex };
        struct req r;
        /* Host bits beyond the prefix would make the kernel refuse it. */
        if (!nl || ifindex <= 0 || prefix > 32 || (dest & ~prefix_mask(prefix)) != 0)
                return -EINVAL;
        req_route(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &rt,
                  gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
        return nl_transact(nl, &r, 0, NULL, NULL, NULL);
}

/* 1: a route this module reports, 0: another kind, < 0: malformed. */
static int route_parse(struct reader payload, struct nl_route *ret)
{
        struct reader tb[RTA_MAX + 1];
        struct rtmsg rtm;
        uint32_t table, metric = 0;
        struct nl_route rt = { .ifindex = 0 };

        if (rd_copy(&payload, &rtm, sizeof(rtm)) < 0 || attrs_parse(payload, tb, ELEMENTSOF(tb)) < 0)
                return -EBADMSG;
        table = rtm.rtm_table;
        if (has(&tb[RTA_TABLE]) && attr_u32(&tb[RTA_TABLE], &table) < 0)
                return -EBADMSG;
        if (rtm.rtm_family != AF_INET || table != RT_TABLE_MAIN || rtm.rtm_type != RTN_UNICAST ||
            (rtm.rtm_flags & RTM_F_CLONED) || has(&tb[RTA_MULTIPATH]) || has(&tb[RTA_VIA]))
                return 0;
        if (rtm.rtm_dst_len > 32 || (rtm.rtm_dst_len > 0 && !has(&tb[RTA_DST])))
                return -EBADMSG;
        if (has(&tb[RTA_DST]) && attr_in4(&tb[RTA_DST], &rt.dest) < 0)
                return -EBADMSG;
        if (has(&tb[RTA_GATEWAY]) && attr_in4(&tb[RTA_GATEWAY], &rt.gateway) < 0)
                return -EBADMSG;
        if (has(&tb[RTA_PREFSRC]) && attr_in4(&tb[RTA_PREFSRC], &rt.prefsrc) < 0)
                return -EBADMSG;
        if (has(&tb[RTA_PRIORITY]) && attr_u32(&tb[RTA_PRIORITY], &metric) < 0)
                return -EBADMSG;
        if (has(&tb[RTA_OIF]) && attr_ifindex(&tb[RTA_OIF], &rt.ifindex) < 0)
                return -EBADMSG;
        rt.prefix = rtm.rtm_dst_len;
        rt.metric = metric;
        rt.protocol = rtm.rtm_protocol;
        *ret = rt;
        return 1;
}

struct route_ctx {
        int ifindex;  /* 0: any */
        int protocol; /* -1: any */
        struct nl_route *out;
        size_t max, n;
        bool batch; /* stop quietly at max and set 'more' (nl_route_flush) */
        bool more;
};

static int route_msg(struct reader payload, void *userdata)
{
        struct route_ctx *c = userdata;
        struct nl_route rt;
        int ret = route_parse(payload, &rt);
        if (ret <= 0)
                return ret;
        if ((c->ifindex > 0 && rt.ifindex != c->ifindex) ||
            (c->protocol >= 0 && rt.protocol != c->protocol))
                return 0;
        if (c->n >= c->max) {
                c->more = true;
                return c->batch ? 0 : -E2BIG;
        }
        c->out[c->n++] = rt;
        return 0;
}

static int route_dump(struct nl *nl, struct route_ctx *c)
{
        struct rtmsg rtm = { .rtm_family = AF_INET };
        int ret = link_must_exist(nl, c->ifindex);
        if (ret < 0)
                return ret;
        c->more = false;
        return nl_dump(nl, RTM_GETROUTE, &rtm, sizeof(rtm), RTM_NEWROUTE, route_msg, c, &c->n);
}

int nl_route_list(struct nl *nl, int ifindex, struct nl_route *out, size_t max, size_t *ret_n)
{
        struct route_ctx c = { .ifindex = ifindex, .protocol = -1, .out = out, .max = max };
        if (!nl || ifindex < 0 || (!out && max) || !ret_n)
                return -EINVAL;
        int ret = route_dump(nl, &c);
        if (ret < 0)
                return ret;
        *ret_n = c.n;
        return 0;
}

static int route_del(struct nl *nl, const struct nl_route *rt)
{
        struct req r;
        /* Scope NOWHERE matches any scope; the rest must match exactly. */
        req_route(&r, RTM_DELROUTE, 0, rt, RT_SCOPE_NOWHERE);
        return nl_transact(nl, &r, 0, NULL, NULL, NULL);
}

/* In batches, so that no count the kernel reports sizes an allocation. */
int nl_route_flush(struct nl *nl, int ifindex, unsigned char protocol)
{
        int deleted = 0;
        if (!nl || ifindex <= 0)
                return -EINVAL;
        for (unsigned round = 0; round < FLUSH_ROUNDS; round++) {
                struct nl_route batch[FLUSH_BATCH];
                struct route_ctx c = { .ifindex = ifindex, .protocol = protocol, .out = batch,
                                       .max = FLUSH_BATCH, .batch = true };
                int progress = 0;
                int ret = route_dump(nl, &c);
                if (ret < 0)
                        return ret;
                for (size_t i = 0; i < c.n; i++) {
                        ret = route_del(nl, &batch[i]);
                        if (ret == -ESRCH)
                                continue; /* gone meanwhile */
                        if (ret < 0)
                                return ret;
                        progress++;
                }
                if (deleted > INT_MAX - progress)
                        return -EOVERFLOW;
                deleted += progress;
                if (!c.more)
                        return deleted;
                if (progress == 0)
                        return -EAGAIN; /* the same routes keep coming back */
        }
        return -EAGAIN;
}

/* --- The socket -------------------------------------------------------------- */

int nl_open(struct nl *nl)
{
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        socklen_t salen = sizeof(sa);
        /* A PID 1 must not hang on a kernel that does not answer. */
        struct timeval timeout = { .tv_sec = NL_TIMEOUT_S };
        if (!nl)
                return -EINVAL;
        _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return negative_errno();
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *)&sa, &salen) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0)
                return negative_errno();
        if (salen != sizeof(sa) || sa.nl_family != AF_NETLINK)
                return -EPROTO;
        uint8_t *buf = malloc(NL_RX_SIZE);
        if (!buf)
                return -ENOMEM;
        *nl = (struct nl){ .fd = TAKE_FD(fd), .portid = sa.nl_pid, .buf = buf, .buflen = NL_RX_SIZE };
        return 0;
}

/* Open means having the buffer, so a zeroed struct also reads as closed. */
void nl_close(struct nl *nl)
{
        if (!nl || !nl->buf)
                return;
        if (nl->fd >= 0)
                close(nl->fd);
        free(nl->buf);
        *nl = (struct nl)NL_CLOSED;
}
