/* SPDX-License-Identifier: Apache-2.0 */
/* The frames around DHCP before the interface has an address: IPv4 + UDP
 * headers on a packet socket (the kernel's own stack cannot send from
 * 0.0.0.0 or receive broadcasts for an address it does not have), and ARP
 * for address conflict detection (RFC 5227). Pure: no sockets, no state.
 * Addresses are uint32_t in host byte order; the link header is the
 * kernel's business (SOCK_DGRAM packet sockets). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPV4_HDR_LEN 20
#define UDP_HDR_LEN 8
#define UDP_FRAME_OVERHEAD (IPV4_HDR_LEN + UDP_HDR_LEN)
#define ARP_PKT_LEN 28 /* Ethernet/IPv4 ARP payload */

struct udp_frame {
        uint32_t src, dst;
        uint16_t sport, dport;
        const uint8_t *payload; /* points into the parsed buffer */
        size_t len;
};

/* Wraps payload into IPv4 + UDP with both checksums, TTL 64 and DF unset
 * (RFC 2131 §4.1 servers may fragment nothing). Returns the frame length,
 * -ENOBUFS when out is too small, -E2BIG for a payload over 65507 bytes. */
int udp_frame_build(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, const void *payload,
                    size_t len, void *out, size_t size);

/* Reads an IPv4 + UDP packet addressed to dport. -ENOMSG for packets that
 * are simply not for us (other protocol, port, a fragment), -EBADMSG for
 * malformed ones (lengths, header or UDP checksum). verify_udp_csum is
 * false when the kernel says the checksum is not yet filled in (packets
 * from this host through veth with offload: PACKET_AUXDATA). */
int udp_frame_parse(const void *buf, size_t len, uint16_t dport, bool verify_udp_csum,
                    struct udp_frame *ret, char *why, size_t whylen);

enum { ARP_REQUEST = 1, ARP_REPLY = 2 };

struct arp_pkt {
        uint16_t op;
        uint8_t sha[6];
        uint32_t spa;
        uint8_t tha[6];
        uint32_t tpa;
};

/* An Ethernet/IPv4 ARP payload, ARP_PKT_LEN bytes. */
void arp_build(const struct arp_pkt *p, uint8_t out[static ARP_PKT_LEN]);
/* -ENOMSG for other hardware/protocol types, -EBADMSG when short or odd. */
int arp_parse(const void *buf, size_t len, struct arp_pkt *ret);

/* RFC 5227 §2.1.1: while probing addr, does this packet say someone else
 * has it (or wants it)? */
bool arp_conflicts(const struct arp_pkt *p, uint32_t addr, const uint8_t ours[6]);

uint16_t inet_csum(const void *buf, size_t len, uint32_t sum);
