/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4/UDP and ARP framing for the DHCP client. Every length field of a
 * received packet is compared with what actually arrived before use. */
#include "packet.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "reader.h"
#include "reason.h"

#define IPPROTO_UDP_ 17
#define IP_FLAG_MF 0x2000
#define IP_FRAG_OFFSET 0x1fff
#define UDP_MAX_PAYLOAD (65535 - UDP_FRAME_OVERHEAD)

static void put16(uint8_t *p, uint16_t v)
{
        p[0] = v >> 8;
        p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
        put16(p, v >> 16);
        put16(p + 2, v & 0xffff);
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RFC 1071 one's complement sum; 'sum' carries a pseudo-header's part. */
uint16_t inet_csum(const void *buf, size_t len, uint32_t sum)
{
        const uint8_t *p = buf;
        uint64_t s = sum;
        for (; len > 1; p += 2, len -= 2)
                s += (uint32_t)p[0] << 8 | p[1];
        if (len)
                s += (uint32_t)p[0] << 8;
        while (s >> 16)
                s = (s & 0xffff) + (s >> 16);
        return (uint16_t)~s;
}

static uint32_t pseudo_sum(uint32_t src, uint32_t dst, size_t udp_len)
{
        return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + IPPROTO_UDP_ + (uint32_t)udp_len;
}

int udp_frame_build(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, const void *payload,
                    size_t len, void *out, size_t size)
{
        if (len > UDP_MAX_PAYLOAD)
                return -E2BIG;
        if (size < UDP_FRAME_OVERHEAD || size - UDP_FRAME_OVERHEAD < len)
                return -ENOBUFS;
        uint8_t *ip = out, *udp = ip + IPV4_HDR_LEN;
        size_t total = UDP_FRAME_OVERHEAD + len;

        memset(ip, 0, UDP_FRAME_OVERHEAD);
        ip[0] = 0x45; /* version 4, 5 words */
        ip[1] = 0x10; /* low delay, as the BSD clients have always sent */
        put16(ip + 2, (uint16_t)total);
        ip[8] = 64;
        ip[9] = IPPROTO_UDP_;
        put32(ip + 12, src);
        put32(ip + 16, dst);
        put16(ip + 10, inet_csum(ip, IPV4_HDR_LEN, 0));

        put16(udp, sport);
        put16(udp + 2, dport);
        put16(udp + 4, (uint16_t)(UDP_HDR_LEN + len));
        if (len)
                memcpy(udp + UDP_HDR_LEN, payload, len);
        uint16_t c = inet_csum(udp, UDP_HDR_LEN + len, pseudo_sum(src, dst, UDP_HDR_LEN + len));
        put16(udp + 6, c ? c : 0xffff); /* RFC 768: a computed zero is sent as all ones */
        return (int)total;
}

int udp_frame_parse(const void *buf, size_t len, uint16_t dport, bool verify_udp_csum,
                    struct udp_frame *ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        struct reader r, ipr, udpr;
        uint8_t vihl, tos, ttl, proto;
        uint16_t total, id, frag, hcsum, sport, dp, ulen, ucsum;
        uint32_t src, dst;

        rd_init(&r, buf, len);
        if (rd_u8(&r, &vihl) < 0)
                return reason_fail(&w, -EBADMSG, "empty packet");
        if (vihl >> 4 != 4)
                return reason_fail(&w, -ENOMSG, "not IPv4");
        size_t ihl = (size_t)(vihl & 0x0f) * 4;
        if (ihl < IPV4_HDR_LEN)
                return reason_fail(&w, -EBADMSG, "IPv4 header length %zu below 20", ihl);
        if (rd_u8(&r, &tos) < 0 || rd_be16(&r, &total) < 0)
                return reason_fail(&w, -EBADMSG, "truncated IPv4 header");
        if (total < ihl || total > len)
                return reason_fail(&w, -EBADMSG, "IPv4 total length %u does not fit the %zu bytes received",
                            total, len);
        if (ihl > total)
                return reason_fail(&w, -EBADMSG, "IPv4 header longer than the packet");
        if (inet_csum(buf, ihl, 0) != 0)
                return reason_fail(&w, -EBADMSG, "bad IPv4 header checksum");
        if (rd_be16(&r, &id) < 0 || rd_be16(&r, &frag) < 0 || rd_u8(&r, &ttl) < 0 || rd_u8(&r, &proto) < 0 ||
            rd_be16(&r, &hcsum) < 0 || rd_be32(&r, &src) < 0 || rd_be32(&r, &dst) < 0 ||
            rd_skip(&r, ihl - IPV4_HDR_LEN) < 0)
                return reason_fail(&w, -EBADMSG, "truncated IPv4 header");
        if (proto != IPPROTO_UDP_)
                return reason_fail(&w, -ENOMSG, "not UDP");
        if (frag & (IP_FLAG_MF | IP_FRAG_OFFSET))
                return reason_fail(&w, -ENOMSG, "a fragment");

        /* From here on only the bytes the IP header claims (link padding cut). */
        rd_init(&ipr, (const uint8_t *)buf + ihl, total - ihl);
        if (rd_be16(&ipr, &sport) < 0 || rd_be16(&ipr, &dp) < 0 || rd_be16(&ipr, &ulen) < 0 ||
            rd_be16(&ipr, &ucsum) < 0)
                return reason_fail(&w, -EBADMSG, "truncated UDP header");
        if (dp != dport)
                return reason_fail(&w, -ENOMSG, "UDP port %u", dp);
        if (ulen < UDP_HDR_LEN || ulen > total - ihl)
                return reason_fail(&w, -EBADMSG, "UDP length %u does not fit the IPv4 payload of %zu bytes",
                            ulen, total - ihl);
        if (verify_udp_csum && ucsum != 0 &&
            inet_csum((const uint8_t *)buf + ihl, ulen, pseudo_sum(src, dst, ulen)) != 0)
                return reason_fail(&w, -EBADMSG, "bad UDP checksum");
        rd_init(&udpr, (const uint8_t *)buf + ihl + UDP_HDR_LEN, ulen - UDP_HDR_LEN);

        *ret = (struct udp_frame){ .src = src, .dst = dst, .sport = sport, .dport = dp,
                                   .payload = udpr.p, .len = udpr.len };
        return 0;
}

void arp_build(const struct arp_pkt *p, uint8_t out[static ARP_PKT_LEN])
{
        put16(out, 1);           /* Ethernet */
        put16(out + 2, 0x0800);  /* IPv4 */
        out[4] = 6;
        out[5] = 4;
        put16(out + 6, p->op);
        memcpy(out + 8, p->sha, 6);
        put32(out + 14, p->spa);
        memcpy(out + 18, p->tha, 6);
        put32(out + 24, p->tpa);
}

int arp_parse(const void *buf, size_t len, struct arp_pkt *ret)
{
        struct reader r;
        uint16_t htype, ptype, op;
        uint8_t hlen, plen;
        const uint8_t *b;

        rd_init(&r, buf, len);
        if (rd_be16(&r, &htype) < 0 || rd_be16(&r, &ptype) < 0 || rd_u8(&r, &hlen) < 0 || rd_u8(&r, &plen) < 0 ||
            rd_be16(&r, &op) < 0)
                return -EBADMSG;
        if (htype != 1 || ptype != 0x0800 || hlen != 6 || plen != 4)
                return -ENOMSG;
        if (op != ARP_REQUEST && op != ARP_REPLY)
                return -ENOMSG;
        if (rd_bytes(&r, 20, &b) < 0)
                return -EBADMSG;
        struct arp_pkt p = { .op = op, .spa = get32(b + 6), .tpa = get32(b + 16) };
        memcpy(p.sha, b, 6);
        memcpy(p.tha, b + 10, 6);
        *ret = p;
        return 0;
}

bool arp_conflicts(const struct arp_pkt *p, uint32_t addr, const uint8_t ours[6])
{
        if (memcmp(p->sha, ours, 6) == 0)
                return false; /* our own probe looped back */
        if (p->spa == addr)
                return true; /* someone uses it */
        /* someone else probes for it at the same time (RFC 5227 §2.1.1) */
        return p->op == ARP_REQUEST && p->spa == 0 && p->tpa == addr;
}
