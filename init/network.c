/* SPDX-License-Identifier: Apache-2.0 */
/* Sockets, timers and the lease's life for the DHCP client of
 * dhcp_client.c. DHCP replies are read on a packet socket (there is no
 * address to receive them on before the first lease), sent as broadcasts
 * through it, and sent by unicast through the kernel's UDP stack when
 * renewing. ARP probes go through a second packet socket opened only while
 * probing. */
#include "network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netdb.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "ifchoice.h"
#include "ipconfig.h"
#include "log.h"
#include "netconf.h"
#include "netdev.h"
#include "netsync.h"
#include "packet.h"
#include "util.h"

#define LINK_POLL_MS 50
#define MAX_LINKS 64
#define RX_BUF 2048

struct net {
        const struct network_opts *o;
        struct nl nl;
        struct netconf nc;
        struct link_info link;
        int raw_fd, udp_fd, arp_fd, sig_fd;
        uint32_t udp_bound_to;
        struct dhcp_client client;
        bool notified, done;
        struct netsync sync;
};

void network_opts_default(struct network_opts *o)
{
        *o = (struct network_opts){ .rapid_commit = true, .acd = ACD_FAST, .notify_fd = -1,
                                    .link_timeout_ms = 30000 };
}

static void notify(struct net *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notify(struct net *n, const char *fmt, ...)
{
        char line[256];
        va_list ap;
        if (n->notified || n->o->notify_fd < 0)
                return;
        va_start(ap, fmt);
        int len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
        va_end(ap);
        if (len < 0)
                return;
        if ((size_t)len > sizeof(line) - 2)
                len = sizeof(line) - 2;
        line[len++] = '\n';
        (void)!write(n->o->notify_fd, line, (size_t)len);
        n->notified = true;
}

/* ---- sockets ---------------------------------------------------------- */

/* Only IPv4/UDP to port 68, not fragments: the kernel drops everything
 * else before it reaches us (the offset of a SOCK_DGRAM packet socket is
 * the IP header). */
static int attach_dhcp_filter(int fd)
{
        static struct sock_filter code[] = {
                BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_UDP, 0, 6),
                BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
                BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 4, 0),
                BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
                BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DHCP_CLIENT_PORT, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, 0xffff),
                BPF_STMT(BPF_RET | BPF_K, 0),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(code), .filter = code };
        return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? negative_errno() : 0;
}

static int open_packet(int ifindex, uint16_t proto)
{
        _cleanup_close_ int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(proto));
        if (fd < 0)
                return negative_errno();
        struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(proto), .sll_ifindex = ifindex };
        if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

static int open_raw(int ifindex)
{
        int one = 1;
        _cleanup_close_ int fd = open_packet(ifindex, ETH_P_IP);
        if (fd < 0)
                return fd;
        int r = attach_dhcp_filter(fd);
        if (r < 0)
                return r;
        if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

static int send_link(int fd, int ifindex, uint16_t proto, const void *buf, size_t len)
{
        struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_protocol = htons(proto), .sll_ifindex = ifindex,
                                  .sll_halen = 6, .sll_addr = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
        ssize_t w = sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to));
        return w < 0 ? negative_errno() : 0;
}

static int op_send_broadcast(void *ud, uint32_t src, const void *buf, size_t len)
{
        struct net *n = ud;
        uint8_t frame[RX_BUF];
        int fl = udp_frame_build(src, INADDR_BROADCAST, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, buf, len, frame,
                                 sizeof(frame));
        if (fl < 0)
                return fl;
        return send_link(n->raw_fd, n->link.ifindex, ETH_P_IP, frame, (size_t)fl);
}

/* A socket bound to the leased address and port 68, used only to send:
 * replies are read on the packet socket, so this one drops everything. */
static int open_udp(struct net *n, uint32_t src)
{
        static struct sock_filter drop[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
        struct sock_fprog prog = { .len = 1, .filter = drop };
        int one = 1;
        if (n->udp_fd >= 0 && n->udp_bound_to == src)
                return 0;
        n->udp_fd = safe_close(n->udp_fd);
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(DHCP_CLIENT_PORT),
                                   .sin_addr.s_addr = htonl(src) };
        if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, n->link.name, (socklen_t)strlen(n->link.name)) < 0 ||
            bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
                return negative_errno();
        n->udp_fd = TAKE_FD(fd);
        n->udp_bound_to = src;
        return 0;
}

static int op_send_unicast(void *ud, uint32_t src, uint32_t dst, const void *buf, size_t len)
{
        struct net *n = ud;
        int r = open_udp(n, src);
        if (r < 0)
                return r;
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(DHCP_SERVER_PORT),
                                  .sin_addr.s_addr = htonl(dst) };
        return sendto(n->udp_fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0 ? negative_errno() : 0;
}

static int op_send_arp_probe(void *ud, uint32_t addr)
{
        struct net *n = ud;
        if (n->arp_fd < 0) {
                n->arp_fd = open_packet(n->link.ifindex, ETH_P_ARP);
                if (n->arp_fd < 0)
                        return n->arp_fd;
        }
        struct arp_pkt p = { .op = ARP_REQUEST, .tpa = addr };
        uint8_t buf[ARP_PKT_LEN];
        memcpy(p.sha, n->link.mac, 6);
        arp_build(&p, buf);
        return send_link(n->arp_fd, n->link.ifindex, ETH_P_ARP, buf, sizeof(buf));
}

static void op_arp_done(void *ud)
{
        struct net *n = ud;
        n->arp_fd = safe_close(n->arp_fd);
}

/* ---- the lease record ------------------------------------------------- */

static json_object *addrs_json(const struct dhcp_addrs *a)
{
        char s[DHCP_ADDR_STRLEN];
        json_object *arr = json_object_new_array();
        for (size_t i = 0; arr && i < a->n; i++)
                json_object_array_add(arr, json_object_new_string(dhcp_addr_str(a->a[i], s)));
        return arr;
}

static void write_state(struct net *n, const struct dhcp_lease *l, const char *state)
{
        char s[DHCP_ADDR_STRLEN], tmp[4096];
        if (!n->o->state_path)
                return;
        json_object *o = json_object_new_object();
        if (!o)
                return;
        json_object_object_add(o, "interface", json_object_new_string(n->link.name));
        json_object_object_add(o, "state", json_object_new_string(state));
        if (l) {
                json_object *routes = json_object_new_array();
                for (size_t i = 0; routes && i < l->n_routes; i++) {
                        char d[DHCP_ADDR_STRLEN + 4], g[DHCP_ADDR_STRLEN];
                        snprintf(d, sizeof(d), "%s/%u", dhcp_addr_str(l->routes[i].dest, s), l->routes[i].prefix);
                        json_object *r = json_object_new_object();
                        json_object_object_add(r, "destination", json_object_new_string(d));
                        json_object_object_add(r, "gateway", json_object_new_string(dhcp_addr_str(l->routes[i].router, g)));
                        json_object_array_add(routes, r);
                }
                json_object_object_add(o, "address", json_object_new_string(dhcp_addr_str(l->addr, s)));
                json_object_object_add(o, "prefix", json_object_new_int((int)l->prefix));
                json_object_object_add(o, "server", json_object_new_string(dhcp_addr_str(l->server_id, s)));
                json_object_object_add(o, "lease_s", json_object_new_int64(l->lease_s));
                json_object_object_add(o, "t1_s", json_object_new_int64(l->t1_s));
                json_object_object_add(o, "t2_s", json_object_new_int64(l->t2_s));
                json_object_object_add(o, "acquired_ms", json_object_new_int64((int64_t)l->acquired_ms));
                json_object_object_add(o, "expires_ms",
                                       json_object_new_int64(l->lease_s == DHCP_LEASE_INFINITE
                                                                     ? 0
                                                                     : (int64_t)(l->acquired_ms + l->lease_s * 1000ULL)));
                json_object_object_add(o, "rapid_commit", json_object_new_boolean(l->rapid_commit));
                json_object_object_add(o, "mtu", json_object_new_int(l->mtu));
                json_object_object_add(o, "routes", routes);
                json_object_object_add(o, "dns", addrs_json(&l->dns));
                json_object_object_add(o, "ntp", addrs_json(&l->ntp));
                json_object_object_add(o, "domain", json_object_new_string(l->domain));
                json_object_object_add(o, "hostname", json_object_new_string(l->hostname));
        }
        json_object_object_add(o, "leases", json_object_new_int((int)n->client.leases));
        json_object_object_add(o, "renewals", json_object_new_int((int)n->client.renewals));
        const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
        snprintf(tmp, sizeof(tmp), "%s.tmp", n->o->state_path);
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t len = strlen(text);
        if (fd < 0 || write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || rename(tmp, n->o->state_path) < 0)
                log_warn("network", "writing %s failed: %m, continuing", n->o->state_path);
        json_object_put(o);
}

/* ---- client callbacks ------------------------------------------------- */

static int op_bound(void *ud, const struct dhcp_lease *l, bool renewed)
{
        struct net *n = ud;
        char a[DHCP_ADDR_STRLEN], g[DHCP_ADDR_STRLEN];
        int r = netconf_apply_lease(&n->nc, renewed ? &n->client.lease : NULL, l, now_ms());
        if (r < 0)
                return r;
        write_state(n, l, "bound");
        if (!renewed) {
                const char *gw = "no gateway";
                for (size_t i = 0; i < l->n_routes; i++)
                        if (l->routes[i].prefix == 0)
                                gw = dhcp_addr_str(l->routes[i].router, g);
                notify(n, "%s %s/%u via %s, DHCP lease %u s%s", n->link.name, dhcp_addr_str(l->addr, a), l->prefix,
                       gw, l->lease_s, l->rapid_commit ? ", rapid commit" : "");
                netsync_lease(&n->sync, &l->ntp, now_ms());
        }
        if (n->o->once)
                n->done = true;
        return 0;
}

static void op_unbound(void *ud, const struct dhcp_lease *l, const char *why)
{
        struct net *n = ud;
        log_warn("network", "lease of %s/%u ended (%s)", inet_ntoa((struct in_addr){ htonl(l->addr) }), l->prefix, why);
        (void)netconf_remove_lease(&n->nc, l);
        n->udp_fd = safe_close(n->udp_fd);
        write_state(n, NULL, "unbound");
        netsync_lease(&n->sync, NULL, now_ms());
}

static uint32_t op_random(void *ud)
{
        uint32_t v;
        if (getrandom_full(&v, sizeof(v)) < 0) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                v = (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16;
        }
        return v;
}

static void op_log(void *ud, int level, const char *msg)
{
        if (level)
                log_warn("dhcp", "%s", msg);
        else
                log_info("dhcp", "%s", msg);
}

static const struct dhcp_client_ops client_ops = {
        .send_broadcast = op_send_broadcast,
        .send_unicast = op_send_unicast,
        .send_arp_probe = op_send_arp_probe,
        .arp_done = op_arp_done,
        .bound = op_bound,
        .unbound = op_unbound,
        .random = op_random,
        .log = op_log,
};

/* ---- receiving -------------------------------------------------------- */

static void receive_dhcp(struct net *n)
{
        for (int i = 0; i < 16; i++) {
                uint8_t buf[RX_BUF];
                union {
                        struct cmsghdr h;
                        char b[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
                } ctl;
                struct sockaddr_ll from;
                struct iovec iov = { buf, sizeof(buf) };
                struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
                                     .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof(ctl) };
                ssize_t len = recvmsg(n->raw_fd, &mh, MSG_DONTWAIT);
                if (len < 0)
                        return;
                if (from.sll_pkttype == PACKET_OUTGOING)
                        continue;
                bool csum_ok = true;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                        if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
                            c->cmsg_len >= CMSG_LEN(sizeof(struct tpacket_auxdata))) {
                                struct tpacket_auxdata aux;
                                memcpy(&aux, CMSG_DATA(c), sizeof(aux));
                                if (aux.tp_status & TP_STATUS_CSUMNOTREADY)
                                        csum_ok = false;
                        }
                struct udp_frame f;
                char why[120];
                int r = udp_frame_parse(buf, (size_t)len, DHCP_CLIENT_PORT, csum_ok, &f, why, sizeof(why));
                if (r == -EBADMSG)
                        log_warn("dhcp", "dropping a packet to port 68: %s", why);
                if (r < 0)
                        continue;
                dhcp_client_handle_dhcp(&n->client, now_ms(), f.payload, f.len);
        }
}

static void receive_arp(struct net *n)
{
        for (int i = 0; i < 16 && n->arp_fd >= 0; i++) {
                uint8_t buf[256];
                struct sockaddr_ll from;
                socklen_t fl = sizeof(from);
                ssize_t len = recvfrom(n->arp_fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
                if (len < 0)
                        return;
                if (from.sll_pkttype == PACKET_OUTGOING)
                        continue;
                dhcp_client_handle_arp(&n->client, now_ms(), buf, (size_t)len);
        }
}

/* false when asked to stop */
static bool handle_signal(struct net *n)
{
        struct signalfd_siginfo si;
        while (read(n->sig_fd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGUSR1) {
                        dhcp_client_renew_now(&n->client, now_ms());
                        continue;
                }
                log_info("network", "signal %u: stopping, the address stays configured", si.ssi_signo);
                return false;
        }
        return true;
}

static int min_timeout(unsigned long long now, unsigned long long a, unsigned long long b)
{
        unsigned long long next = !a ? b : !b ? a : a < b ? a : b;
        if (!next)
                return 60000;
        if (next <= now)
                return 0;
        return next - now > 60000 ? 60000 : (int)(next - now);
}

/* What to send in option 12: the name asked for; in PID 1 the kernel's
 * hostname, or, when the node has none yet, ember-<MAC> — which also
 * becomes the hostname until DHCP or ip= names the node, so every node
 * has a unique name (rke2 registers the Node under it). */
static const char *client_hostname(struct net *n, char *buf, size_t len)
{
        struct utsname u;
        if (n->o->hostname || !n->o->set_hostname)
                return n->o->hostname;
        if (uname(&u) == 0 && u.nodename[0] && !streq(u.nodename, "(none)") && !streq(u.nodename, "localhost"))
                return snprintf(buf, len, "%.63s", u.nodename), buf;
        const uint8_t *m = n->link.mac;
        snprintf(buf, len, "ember-%02x%02x%02x%02x%02x%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
        if (sethostname(buf, strlen(buf)) < 0)
                log_warn("network", "setting the hostname %s failed: %m, continuing", buf);
        else
                log_info("network", "hostname %s until the network names the node", buf);
        return buf;
}

static int run_dhcp(struct net *n)
{
        char name[64];
        n->raw_fd = open_raw(n->link.ifindex);
        if (n->raw_fd < 0)
                return log_err("network", "opening a packet socket on %s failed: %s", n->link.name,
                               strerror(-n->raw_fd)),
                       n->raw_fd;
        struct dhcp_client_config cc = { .hostname = client_hostname(n, name, sizeof(name)), .rapid_commit = n->o->rapid_commit,
                                          .acd = n->o->acd, .init_reboot_addr = n->o->request_addr };
        /* a restarted process confirms the address it had (INIT-REBOOT) */
        if (!cc.init_reboot_addr && n->o->state_path)
                cc.init_reboot_addr = network_remembered_addr(n->o->state_path);
        memcpy(cc.mac, n->link.mac, 6);
        dhcp_client_init(&n->client, &cc, &client_ops, n);
        dhcp_client_start(&n->client, now_ms());
        while (!n->done) {
                unsigned long long now = now_ms();
                dhcp_client_tick(&n->client, now);
                netsync_tick(&n->sync, now);
                if (n->done)
                        break;
                struct pollfd p[3] = { { n->raw_fd, POLLIN, 0 }, { n->sig_fd, POLLIN, 0 }, { n->arp_fd, POLLIN, 0 } };
                int r = poll(p, n->arp_fd >= 0 ? 3 : 2,
                             min_timeout(now_ms(), dhcp_client_next(&n->client), netsync_next(&n->sync)));
                if (r < 0 && errno != EINTR)
                        return log_err("network", "poll failed: %m"), negative_errno();
                if (r <= 0)
                        continue;
                if (p[1].revents && !handle_signal(n))
                        break;
                if (p[0].revents)
                        receive_dhcp(n);
                if (n->arp_fd >= 0 && p[2].revents)
                        receive_arp(n);
        }
        return 0;
}

/* ---- the interface ---------------------------------------------------- */

static void log_choice(const struct link_info *l, enum if_reason why)
{
        log_info("network", "using %s (%02x:%02x:%02x:%02x:%02x:%02x): %s", l->name, l->mac[0], l->mac[1], l->mac[2],
                 l->mac[3], l->mac[4], l->mac[5], if_reason_name(why));
}

/* Brings every candidate up so carrier can be seen, then waits for the
 * interface the rules choose. */
static int choose_link(struct net *n, const char *want, struct link_info *ret)
{
        const struct network_opts *o = n->o;
        unsigned long long end = now_ms() + o->link_timeout_ms, warned = 0, raised_at = 0;
        static struct link_info links[MAX_LINKS];
        for (;;) {
                size_t cnt = 0;
                int r = nl_links(&n->nl, links, MAX_LINKS, &cnt);
                if (r < 0 && r != -E2BIG)
                        return log_err("network", "listing links failed: %s", strerror(-r)), r;
                for (size_t i = 0; i < cnt; i++)
                        if (!links[i].loopback && !links[i].up &&
                            (!want || streq(links[i].name, want)) &&
                            (!o->have_bootif || memcmp(links[i].mac, o->bootif, 6) == 0) &&
                            nl_link_set_up(&n->nl, links[i].ifindex) >= 0)
                                raised_at = now_ms();
                enum if_reason why;
                int idx = if_choose(links, cnt, o->have_bootif ? o->bootif : NULL, want, &why);
                unsigned long long now = now_ms();
                if (idx >= 0 && (links[idx].carrier || now >= end)) {
                        if (!links[idx].carrier)
                                log_warn("network", "%s has no carrier after %u ms, trying anyway", links[idx].name,
                                         o->link_timeout_ms);
                        log_choice(&links[idx], why);
                        *ret = links[idx];
                        return 0;
                }
                if (now >= end)
                        return log_err("network", "%s", idx == -ENODEV && want ? "the named interface does not exist"
                                                         : idx == -ENODEV ? "no interface has the BOOTIF MAC address"
                                                                          : "no interface got carrier"),
                               -ENODEV;
                if (!warned && now + o->link_timeout_ms - end > 5000) {
                        log_info("network", "waiting for %s (up to %u s)", want ? want : o->have_bootif ? "the BOOTIF interface" : "carrier",
                                 o->link_timeout_ms / 1000);
                        warned = now;
                }
                /* a virtual or already-cabled link runs within milliseconds of
                 * being raised: look closely then, and at ease afterwards */
                usleep(raised_at && now_ms() - raised_at < 100 ? 1000 : LINK_POLL_MS * 1000);
        }
}

static int setup_vlan(struct net *n, const char *spec, struct link_info *ret)
{
        struct vlan_spec v;
        struct link_info parent;
        int r = vlan_parse(spec, &v);
        if (r < 0)
                return log_err("network", "vlan=%s is not <name>:<parent> with a VLAN id in the name", spec), r;
        r = choose_link(n, v.parent, &parent);
        if (r < 0)
                return r;
        r = nl_vlan_add(&n->nl, parent.ifindex, v.name, v.id);
        if (r < 0)
                return log_err("network", "creating VLAN %s (id %u) on %s failed: %s", v.name, v.id, v.parent, strerror(-r)), r;
        r = nl_link_get(&n->nl, v.name, ret);
        if (r >= 0)
                r = nl_link_set_up(&n->nl, ret->ifindex);
        if (r < 0)
                return log_err("network", "bringing up VLAN %s failed: %s", v.name, strerror(-r)), r;
        log_info("network", "VLAN %s (id %u) on %s", v.name, v.id, v.parent);
        return 0;
}

static int bring_up_loopback(struct net *n)
{
        struct link_info lo;
        int r = nl_link_get(&n->nl, "lo", &lo);
        if (r >= 0 && !lo.up)
                r = nl_link_set_up(&n->nl, lo.ifindex);
        if (r < 0)
                log_warn("network", "bringing up lo failed: %s, continuing", strerror(-r));
        return r;
}

static int open_signals(void)
{
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGTERM);
        sigaddset(&s, SIGINT);
        sigaddset(&s, SIGUSR1);
        if (sigprocmask(SIG_BLOCK, &s, NULL) < 0)
                return negative_errno();
        int fd = signalfd(-1, &s, SFD_CLOEXEC | SFD_NONBLOCK);
        return fd < 0 ? negative_errno() : fd;
}

int network_run(const struct network_opts *o)
{
        struct ip_config ip = { .method = IP_METHOD_DHCP };
        char why[120];
        static struct net n;
        n = (struct net){ .o = o, .raw_fd = -1, .udp_fd = -1, .arp_fd = -1, .sig_fd = -1 };

        if (o->ip && ip_config_parse(o->ip, &ip, why, sizeof(why)) < 0)
                return log_err("network", "ip=%s: %s", o->ip, why), -EINVAL;
        int r = nl_open(&n.nl);
        if (r < 0)
                return log_err("network", "opening rtnetlink failed: %s", strerror(-r)), r;
        n.sig_fd = open_signals();
        (void)bring_up_loopback(&n);
        const char *want = o->ifname ? o->ifname : ip.device[0] ? ip.device : NULL;
        r = o->vlan ? setup_vlan(&n, o->vlan, &n.link) : choose_link(&n, want, &n.link);
        if (r < 0)
                goto out;
        n.nc = (struct netconf){ .nl = &n.nl, .ifindex = n.link.ifindex, .resolv_conf = o->resolv_conf,
                                 .set_hostname = o->set_hostname,
                                 .hostname_override = ip.hostname[0] ? ip.hostname : NULL };
        snprintf(n.nc.ifname, sizeof(n.nc.ifname), "%s", n.link.name);
        netsync_init(&n.sync, o->sntp);
        if (ip.method == IP_METHOD_STATIC) {
                r = netconf_apply_static(&n.nc, &ip);
                if (r >= 0) {
                        char a[DHCP_ADDR_STRLEN], g[DHCP_ADDR_STRLEN];
                        notify(&n, "%s %s/%u via %s, static (ip=)", n.link.name, dhcp_addr_str(ip.client, a),
                               ip.prefix ? ip.prefix : 24, ip.gateway ? dhcp_addr_str(ip.gateway, g) : "no gateway");
                }
                goto out;
        }
        r = run_dhcp(&n);
out:
        safe_close(n.raw_fd);
        safe_close(n.udp_fd);
        safe_close(n.arp_fd);
        safe_close(n.sig_fd);
        nl_close(&n.nl);
        return r < 0 ? r : 0;
}

uint32_t network_remembered_addr(const char *state_path)
{
        json_object *o = json_object_from_file(state_path), *a, *e;
        struct in_addr in;
        uint32_t ret = 0;
        if (!o)
                return 0;
        if (json_object_object_get_ex(o, "address", &a) && json_object_object_get_ex(o, "expires_ms", &e) &&
            json_object_is_type(a, json_type_string) && inet_pton(AF_INET, json_object_get_string(a), &in) == 1) {
                int64_t exp = json_object_get_int64(e);
                if (exp == 0 || (exp > 0 && (unsigned long long)exp > now_ms()))
                        ret = ntohl(in.s_addr);
        }
        json_object_put(o);
        return ret;
}

/* host and port of an http(s) URL: [user@]host[:port] or [v6][:port]. */
static int url_authority(const char *url, char *host, size_t hostlen, char *port, size_t portlen)
{
        const char *p = startswith(url, "https://");
        const char *defport = "443";
        if (!p) {
                p = startswith(url, "http://");
                defport = "80";
        }
        if (!p)
                return -EINVAL;
        size_t n = strcspn(p, "/?#");
        const char *at = memrchr(p, '@', n);
        if (at) {
                n -= (size_t)(at + 1 - p);
                p = at + 1;
        }
        const char *end = p + n, *colon = NULL;
        if (*p == '[') {
                const char *close = memchr(p, ']', n);
                if (!close)
                        return -EINVAL;
                colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
                if ((size_t)(close - p - 1) >= hostlen)
                        return -ENAMETOOLONG;
                snprintf(host, hostlen, "%.*s", (int)(close - p - 1), p + 1);
        } else {
                colon = memchr(p, ':', n);
                size_t hl = colon ? (size_t)(colon - p) : n;
                if (hl == 0 || hl >= hostlen)
                        return -EINVAL;
                snprintf(host, hostlen, "%.*s", (int)hl, p);
        }
        if (colon && (size_t)(end - colon - 1) >= portlen)
                return -EINVAL;
        snprintf(port, portlen, "%.*s", colon ? (int)(end - colon - 1) : (int)strlen(defport), colon ? colon + 1 : defport);
        return *port ? 0 : -EINVAL;
}

void network_probe_url(const char *url, const char *proxy)
{
        char host[256], port[8], esc[300];
        const char *target = proxy ? proxy : url;
        if (!url)
                return;
        if (url_authority(target, host, sizeof(host), port, sizeof(port)) < 0)
                return log_warn("network", "cannot find host and port in %s, not probing", proxy ? "ember.proxy" : "the URL");
        log_escape(host, esc, sizeof(esc));
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
        unsigned long long t0 = now_ms();
        int r = getaddrinfo(host, port, &hints, &ai);
        if (r != 0)
                return log_warn("network", "resolving %s failed: %s; later stages will retry", esc, gai_strerror(r));
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int ok = fd >= 0 ? connect(fd, ai->ai_addr, ai->ai_addrlen) : -1;
        if (ok < 0 && errno == EINPROGRESS) {
                struct pollfd p = { fd, POLLOUT, 0 };
                int err = 0;
                socklen_t el = sizeof(err);
                if (poll(&p, 1, 5000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
                        ok = 0;
                else
                        errno = err ? err : ETIMEDOUT;
        }
        if (ok == 0)
                log_info("network", "%s %s port %s answers (TCP, %llu ms)", proxy ? "proxy" : "attestation server", esc,
                         port, now_ms() - t0);
        else
                log_warn("network", "%s %s port %s does not answer: %m; later stages will retry",
                         proxy ? "proxy" : "attestation server", esc, port);
        safe_close(fd);
        freeaddrinfo(ai);
}
