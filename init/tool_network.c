/* SPDX-License-Identifier: Apache-2.0 */
/* `ember-init network`: the network process of PID 1, run on a host (tests
 * in network namespaces, the DHCP benchmark). Same code, host-friendly
 * defaults: it only writes resolv.conf, sets the hostname or steps the
 * clock when asked to. */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "network.h"
#include "boot.h"
#include "util.h"

static const char usage_text[] =
        "Usage: ember-init network [OPTIONS]\n"
        "\n"
        "Configures one interface the way Ember's PID 1 does and keeps its DHCP\n"
        "lease for as long as it runs (SIGTERM stops it, SIGUSR1 renews now).\n"
        "\n"
        "  --interface NAME      the interface (default: the first with carrier)\n"
        "  --bootif MAC          choose the interface by MAC (01-aa-bb-... or aa:bb:...)\n"
        "  --vlan NAME:PARENT    create a tagged VLAN and configure it (vlan= syntax)\n"
        "  --ip SPEC             kernel ip= syntax; 'dhcp' (default) or a static address\n"
        "  --acd MODE            address conflict detection: fast (default), rfc5227, off\n"
        "  --no-rapid-commit     do not offer Rapid Commit (RFC 4039)\n"
        "  --request ADDR        start with INIT-REBOOT for a remembered address\n"
        "  --hostname NAME       send NAME in option 12\n"
        "  --set-hostname        set the host name from the lease or ip=\n"
        "  --resolv-conf PATH    write the DNS servers and search domain there\n"
        "  --ntp                 query the lease's NTP servers and step the clock\n"
        "  --state PATH          keep the lease record (JSON) there; an unexpired\n"
        "                        record is confirmed first (INIT-REBOOT)\n"
        "  --link-timeout MS     wait this long for the interface and carrier (30000)\n"
        "  --once                exit 0 after the first lease is configured\n"
        "  --help                this text\n";

static int parse_mac(const char *s, uint8_t mac[6])
{
        unsigned v[7];
        char tail;
        if (sscanf(s, "%2x-%2x-%2x-%2x-%2x-%2x-%2x%c", &v[6], &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) == 7 &&
            v[6] == 1)
                ;
        else if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
                return -EINVAL;
        for (int i = 0; i < 6; i++)
                mac[i] = (uint8_t)v[i];
        return 0;
}

int tool_network(int argc, char **argv)
{
        enum { O_ACD = 256, O_NO_RC, O_REQUEST, O_HOSTNAME, O_SET_HOSTNAME, O_RESOLV, O_NTP, O_STATE, O_LINK_TIMEOUT,
               O_ONCE, O_BOOTIF, O_VLAN, O_IP };
        static const struct option opts[] = {
                { "interface", required_argument, NULL, 'i' },
                { "bootif", required_argument, NULL, O_BOOTIF },
                { "vlan", required_argument, NULL, O_VLAN },
                { "ip", required_argument, NULL, O_IP },
                { "acd", required_argument, NULL, O_ACD },
                { "no-rapid-commit", no_argument, NULL, O_NO_RC },
                { "request", required_argument, NULL, O_REQUEST },
                { "hostname", required_argument, NULL, O_HOSTNAME },
                { "set-hostname", no_argument, NULL, O_SET_HOSTNAME },
                { "resolv-conf", required_argument, NULL, O_RESOLV },
                { "ntp", no_argument, NULL, O_NTP },
                { "state", required_argument, NULL, O_STATE },
                { "link-timeout", required_argument, NULL, O_LINK_TIMEOUT },
                { "once", no_argument, NULL, O_ONCE },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        struct network_opts o;
        struct in_addr in;
        char *end;
        int c;

        network_opts_default(&o);
        optind = 1;
        while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
                switch (c) {
                case 'i':
                        o.ifname = optarg;
                        break;
                case O_BOOTIF:
                        if (parse_mac(optarg, o.bootif) < 0)
                                return fprintf(stderr, "network: --bootif %s is not a MAC address\n", optarg), 2;
                        o.have_bootif = true;
                        break;
                case O_VLAN:
                        o.vlan = optarg;
                        break;
                case O_IP:
                        o.ip = optarg;
                        break;
                case O_ACD:
                        if (streq(optarg, "fast"))
                                o.acd = ACD_FAST;
                        else if (streq(optarg, "rfc5227"))
                                o.acd = ACD_RFC5227;
                        else if (streq(optarg, "off"))
                                o.acd = ACD_OFF;
                        else
                                return fprintf(stderr, "network: --acd %s: expected fast, rfc5227 or off\n", optarg), 2;
                        break;
                case O_NO_RC:
                        o.rapid_commit = false;
                        break;
                case O_REQUEST:
                        if (inet_pton(AF_INET, optarg, &in) != 1 || in.s_addr == 0)
                                return fprintf(stderr, "network: --request %s is not an IPv4 address\n", optarg), 2;
                        o.request_addr = ntohl(in.s_addr);
                        break;
                case O_HOSTNAME:
                        o.hostname = optarg;
                        break;
                case O_SET_HOSTNAME:
                        o.set_hostname = true;
                        break;
                case O_RESOLV:
                        o.resolv_conf = optarg;
                        break;
                case O_NTP:
                        o.sntp = true;
                        break;
                case O_STATE:
                        o.state_path = optarg;
                        break;
                case O_LINK_TIMEOUT:
                        errno = 0;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || v > 3600000)
                                return fprintf(stderr, "network: --link-timeout %s is not a number of ms up to 3600000\n",
                                               optarg), 2;
                        o.link_timeout_ms = (unsigned)v;
                        break;
                case O_ONCE:
                        o.once = true;
                        break;
                case 'h':
                        return fputs(usage_text, stdout), 0;
                default:
                        return fputs("network: try 'ember-init network --help'\n", stderr), 2;
                }
        }
        if (optind < argc)
                return fprintf(stderr, "network: unexpected argument '%s'\n", argv[optind]), 2;
        if (o.ifname && o.vlan)
                return fputs("network: --interface and --vlan exclude each other (the VLAN names its parent)\n", stderr), 2;
        return network_run(&o) < 0 ? 1 : 0;
}
