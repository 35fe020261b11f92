/* SPDX-License-Identifier: Apache-2.0 */
/* `ember-init ready` and `ember-init rke2-config`: the ready stage's wait
 * and rke2's configuration as PID 1 reads them, outside PID 1, on any root:
 * the tests run them against the rke2 stand-in. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "log.h"
#include "ready.h"
#include "rke2conf.h"
#include "util.h"

static const char ready_usage[] =
        "Usage: ready [--root DIR] [--kubeconfig F] [--node NAME] [--timeout S]\n"
        "Waits for the Node to be Ready, as the ready stage does: GET\n"
        "/api/v1/nodes/NAME with the kubeconfig rke2 writes, polled with backoff.\n"
        "Each change of state is printed once. Exit 0 Ready, 1 not Ready by the\n"
        "deadline (or rke2's configuration unusable), 2 bad usage.\n"
        "\n"
        "  --root DIR        read rke2's configuration under DIR (default /)\n"
        "  --kubeconfig F    this kubeconfig (default: the one rke2's role implies)\n"
        "  --node NAME       this node (default: node-name, else the hostname)\n"
        "  --timeout S       give up after S seconds, 1 to 86400 (default 900)\n"
        "  --request-timeout MS  per request, 100 to 600000 (default 10000)\n"
        "  --tls-files       hand CA, certificate and key to libcurl as files\n"
        "  --scratch DIR     where those files go (default /run/ember)\n"
        "  --as-localhost    ask for a loopback API server as localhost\n";

/* A decimal number from min to max. */
static int parse_num(const char *s, unsigned long min, unsigned long max, unsigned *ret)
{
        char *end;
        if (!*s || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -ERANGE;
        *ret = (unsigned)v;
        return 0;
}

int tool_ready(int argc, char **argv)
{
        static const struct option opts[] = {
                { "root", required_argument, NULL, 'r' },    { "kubeconfig", required_argument, NULL, 'k' },
                { "node", required_argument, NULL, 'n' },    { "timeout", required_argument, NULL, 't' },
                { "request-timeout", required_argument, NULL, 'q' },
                { "tls-files", no_argument, NULL, 'f' },     { "scratch", required_argument, NULL, 's' },
                { "as-localhost", no_argument, NULL, 'l' },  { "help", no_argument, NULL, 'h' },
                {},
        };
        struct ready_params p = { .timeout_s = 900 };
        char detail[700] = "";
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'r': p.root = optarg; break;
                case 'k': p.kubeconfig = optarg; break;
                case 'n': p.node_name = optarg; break;
                case 't':
                        if (parse_num(optarg, 1, 86400, &p.timeout_s) < 0)
                                return fprintf(stderr, "ready: --timeout %s: expected seconds from 1 to 86400\n", optarg), 2;
                        break;
                case 'q':
                        if (parse_num(optarg, 100, 600000, &p.request_timeout_ms) < 0)
                                return fprintf(stderr, "ready: --request-timeout %s: expected 100 to 600000 ms\n", optarg), 2;
                        break;
                case 'f': p.tls_files = true; break;
                case 's': p.scratch_dir = optarg; break;
                case 'l': p.loopback_as_localhost = true; break;
                case 'h': return fputs(ready_usage, stdout), 0;
                default: return fputs(ready_usage, stderr), 2;
                }
        }
        if (optind != argc)
                return fputs(ready_usage, stderr), 2;
        int r = ready_wait(&p, detail, sizeof(detail));
        if (r < 0)
                return fprintf(stderr, "ready: %s\n", detail[0] ? detail : strerror(-r)), 1;
        printf("ready: %s\n", detail);
        return 0;
}

int tool_rke2_config(int argc, char **argv)
{
        static const struct option opts[] = { { "root", required_argument, NULL, 'r' },
                                               { "help", no_argument, NULL, 'h' }, {} };
        const char *root = "";
        char why[400] = "";
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c == 'r')
                        root = optarg;
                else if (c == 'h')
                        return puts("Usage: rke2-config [--root DIR]\nPrints rke2's role, the rule that decided it, "
                                    "the node name and the kubeconfig as JSON."), 0;
                else
                        return 2;
        }
        if (optind != argc)
                return fprintf(stderr, "usage: rke2-config [--root DIR]\n"), 2;
        struct rke2_conf conf;
        int r = rke2conf_load(root, &conf, &(struct reason){ why, sizeof(why) });
        if (r < 0)
                return fprintf(stderr, "rke2-config: %s\n", why[0] ? why : strerror(-r)), 1;
        _cleanup_free_ char *json = rke2conf_to_json(&conf);
        rke2conf_free(&conf);
        if (!json)
                return fprintf(stderr, "rke2-config: out of memory\n"), 1;
        printf("%s\n", json);
        return 0;
}
