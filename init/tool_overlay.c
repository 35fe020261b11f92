/* SPDX-License-Identifier: Apache-2.0 */
/* `ember-init overlay`: the overlay stage outside PID 1, on what an attest
 * stage left in a directory, into any root: the tests run it against
 * servers that fail on purpose. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "log.h"
#include "overlay_stage.h"
#include "util.h"

static const char usage[] =
        "Usage: overlay --attest-dir DIR --root DIR [--signers PEM] [--staging DIR]\n"
        "               [--url https://ATTEST-SERVER] [--pins FILE] [--ca FILE] [--timeout S]\n"
        "Runs the overlay stage: fetches the overlay DIR/result.json names (with\n"
        "DIR/credential and DIR/e.key from the attestation server, or from its URL),\n"
        "verifies it against the signers, extracts it into the staging directory\n"
        "(default ROOT/.ember-overlay-staging) and commits it into ROOT. Exit 0\n"
        "applied, 1 failed, 2 bad usage.\n";

int tool_overlay(int argc, char **argv)
{
        static const struct option opts[] = {
                { "attest-dir", required_argument, NULL, 'a' }, { "root", required_argument, NULL, 'r' },
                { "signers", required_argument, NULL, 's' },    { "staging", required_argument, NULL, 'S' },
                { "url", required_argument, NULL, 'u' },        { "pins", required_argument, NULL, 'p' },
                { "ca", required_argument, NULL, 'c' },         { "timeout", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },             {},
        };
        struct overlay_stage_opts o = { .signers = OVERLAY_SIGNERS_PATH };
        char staging[4200], detail[400] = "";
        unsigned long timeout = 300;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'a': o.attest_dir = optarg; break;
                case 'r': o.root = optarg; break;
                case 's': o.signers = optarg; break;
                case 'S': o.staging = optarg; break;
                case 'u': o.attest_url = optarg; break;
                case 'p': o.pins_path = optarg; break;
                case 'c': o.ca_path = optarg; break;
                case 't': timeout = strtoul(optarg, NULL, 10); break;
                case 'h': return fputs(usage, stdout), 0;
                default: return fputs(usage, stderr), 2;
                }
        }
        if (!o.attest_dir || !o.root || optind != argc || timeout == 0 || timeout > 3600)
                return fputs(usage, stderr), 2;
        if (!o.staging) {
                snprintf(staging, sizeof(staging), "%s/.ember-overlay-staging", o.root);
                o.staging = staging;
        }
        o.deadline_ms = now_ms() + timeout * 1000ULL;
        int r = overlay_stage_run(&o, detail, sizeof(detail));
        if (r < 0)
                return fprintf(stderr, "overlay: %s\n", detail[0] ? detail : strerror(-r)), 1;
        printf("%s\n", detail);
        return 0;
}
