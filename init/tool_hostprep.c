/* SPDX-License-Identifier: Apache-2.0 */
/* `ember-init hostprep`: host preparation for rke2 outside PID 1, against
 * any root (the tests give it a crafted /proc/sys, /proc/net and PATH). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "boot.h"
#include "hostprep.h"
#include "util.h"

static const char usage[] =
        "Usage: hostprep --root DIR [--moddir DIR] [--modules-list FILE] [--hostname NAME]\n"
        "                [--path LIST] [--no-cgroup]\n"
        "Prepares DIR for rke2 (docs/rke2-host.md): sysctls under DIR/proc/sys, the\n"
        "cgroup2 controllers, directories, /etc/hosts and /etc/machine-id, a default\n"
        "route in DIR/proc/net/route or ipv6_route, and the programs rke2 runs in\n"
        "PATH (symlinks resolved inside DIR). Modules are loaded only with --moddir\n"
        "(the list is DIR/etc/ember/rke2-modules.list unless --modules-list).\n"
        "Exit 0 ready, 1 a problem (each one on stderr), 2 bad usage.\n";

int tool_hostprep(int argc, char **argv)
{
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },     { "moddir", required_argument, NULL, 'm' },
                { "modules-list", required_argument, NULL, 'l' }, { "hostname", required_argument, NULL, 'H' },
                { "path", required_argument, NULL, 'p' },     { "no-cgroup", no_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },           {},
        };
        struct hostprep_params p = { 0 };
        char detail[800] = "";
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'r': p.root = optarg; break;
                case 'm': p.moddir = optarg; break;
                case 'l': p.modules_list = optarg; break;
                case 'H': p.hostname = optarg; break;
                case 'p': p.path = optarg; break;
                case 'c': p.skip_cgroup = true; break;
                case 'h': return fputs(usage, stdout), 0;
                default: return fputs(usage, stderr), 2;
                }
        }
        if (!p.root || optind != argc)
                return fputs(usage, stderr), 2;
        int r = hostprep_run(&p, detail, sizeof(detail));
        if (r < 0)
                return fprintf(stderr, "hostprep: %s\n", detail[0] ? detail : strerror(-r)), 1;
        printf("%s\n", detail);
        return 0;
}
