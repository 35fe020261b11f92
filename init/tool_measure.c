/* SPDX-License-Identifier: Apache-2.0 */
/* `ember-init measure`: the measured start outside PID 1 (against a root
 * and any TPM a TCTI reaches), and `measure digests`, which writes the
 * image's golden digest list (/etc/ember/rke2.digests) at build time. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "hex.h"
#include "measure.h"
#include "util.h"

static const char usage[] =
        "Usage: measure --root DIR [--tcti CONF] [--digests FILE] [--log FILE] [--pcr N]\n"
        "               [--overlay-digest HEX --overlay-id UUID --overlay-serial N |\n"
        "                --overlay-applied FILE] [--require-overlay] [--no-tpm]\n"
        "       measure digests --root DIR PATH...\n"
        "\n"
        "The first form verifies the files DIR/etc/ember/rke2.digests lists (exactly\n"
        "them, unchanged, nothing unlisted beside them), then extends each and the\n"
        "overlay into PCR 8 (--pcr) and appends to DIR/run/ember/measure.log. The\n"
        "overlay comes from the options or DIR/run/ember/overlay/applied.json.\n"
        "Exit 0 verified and extended, 1 refused (the reason on stderr), 2 bad usage.\n"
        "\n"
        "The second prints the digest list for the image's files PATH (absolute\n"
        "within DIR), for the image build.\n";

static int tool_digests(int argc, char **argv)
{
        const char *root = NULL;
        char why[600] = "";
        const struct reason w = { why, sizeof(why) };
        int i = 1;
        if (i + 1 < argc && streq(argv[i], "--root")) {
                root = argv[i + 1];
                i += 2;
        }
        if (!root || i >= argc)
                return fputs(usage, stderr), 2;
        _cleanup_free_ char *out = NULL;
        int r = measure_digests_render(root, argv + i, (size_t)(argc - i), &out, &w);
        if (r < 0)
                return fprintf(stderr, "measure digests: %s\n", why[0] ? why : strerror(-r)), 1;
        fputs(out, stdout);
        return fflush(stdout) == 0 ? 0 : 1;
}

int tool_measure(int argc, char **argv)
{
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },           { "tcti", required_argument, NULL, 't' },
                { "digests", required_argument, NULL, 'd' },        { "log", required_argument, NULL, 'l' },
                { "pcr", required_argument, NULL, 'p' },            { "overlay-digest", required_argument, NULL, 'o' },
                { "overlay-id", required_argument, NULL, 'i' },     { "overlay-serial", required_argument, NULL, 's' },
                { "overlay-applied", required_argument, NULL, 'a' }, { "require-overlay", no_argument, NULL, 'R' },
                { "no-tpm", no_argument, NULL, 'n' },               { "help", no_argument, NULL, 'h' },
                {},
        };
        struct measure_params p = { 0 };
        struct measure_overlay ov = { 0 };
        const char *ovd = NULL, *ovid = NULL, *ovserial = NULL;
        char detail[800] = "", *end;
        int c;

        if (argc > 1 && streq(argv[1], "digests"))
                return tool_digests(argc - 1, argv + 1);
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'r': p.root = optarg; break;
                case 't': p.tcti = optarg; break;
                case 'd': p.digests = optarg; break;
                case 'l': p.log_path = optarg; break;
                case 'p':
                        p.pcr = (unsigned)strtoul(optarg, &end, 10);
                        if (*end || p.pcr == 0 || p.pcr > 23)
                                return fprintf(stderr, "measure: --pcr %s: expected 1 to 23\n", optarg), 2;
                        break;
                case 'o': ovd = optarg; break;
                case 'i': ovid = optarg; break;
                case 's': ovserial = optarg; break;
                case 'a': p.overlay_applied = optarg; break;
                case 'R': p.require_overlay = true; break;
                case 'n': p.no_tpm = true; break;
                case 'h': return fputs(usage, stdout), 0;
                default: return fputs(usage, stderr), 2;
                }
        }
        if (!p.root || optind != argc)
                return fputs(usage, stderr), 2;
        if (ovd || ovid || ovserial) {
                if (!ovd || !ovid || !ovserial || hex_decode(ovd, ov.sha256, 32) < 0 || strlen(ovid) >= sizeof(ov.id) ||
                    strchr(ovid, ':') || (ov.serial = strtoull(ovserial, &end, 10)) == 0 || *end)
                        return fprintf(stderr, "measure: --overlay-digest (64 hex), --overlay-id and --overlay-serial "
                                       "(from 1) go together\n"), 2;
                snprintf(ov.id, sizeof(ov.id), "%s", ovid);
                p.overlay = &ov;
        }
        int r = measure_rke2(&p, detail, sizeof(detail));
        if (r < 0)
                return fprintf(stderr, "measure: %s\n", detail[0] ? detail : strerror(-r)), 1;
        printf("%s\n", detail);
        return 0;
}
