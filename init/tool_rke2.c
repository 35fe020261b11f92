/* SPDX-License-Identifier: Apache-2.0 */
/* `ember-init rke2`: PID 1's supervision of rke2 outside PID 1, so the
 * tests can watch restarts, backoff, the log cap, the console tail and
 * the orderly stop with the rke2 stand-in or any program. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "boot.h"
#include "log.h"
#include "rke2_run.h"
#include "supervise.h"
#include "util.h"

static const char usage[] =
        "Usage: rke2 --role server|agent [OPTIONS] [-- ARGS...]\n"
        "Starts BINARY ROLE ARGS... the way PID 1 starts rke2 and supervises it:\n"
        "output into a size-capped log, restarts with doubling backoff, failed\n"
        "after too many quick restarts, SIGTERM/SIGINT stop it in order.\n"
        "  --binary PATH        default " RKE2_BINARY "\n"
        "  --log PATH           default " RKE2_LOG_PATH "\n"
        "  --log-cap BYTES      the log and its rotation together (default 16 MiB)\n"
        "  --cgroup DIR         run it in this cgroup (default: the caller's)\n"
        "  --env-file PATH      KEY=VALUE lines for its environment\n"
        "  --max-restarts N     failed after N restarts (default 5)\n"
        "  --backoff MIN,MAX    restart backoff in ms (default 2000,30000)\n"
        "  --stable S           a run this long resets the count (default 120)\n"
        "  --run-for S          stop it in order after S seconds (default: run on)\n"
        "  --stop-grace S       SIGTERM, then SIGKILL after S seconds (default 20)\n"
        "  --console            its lines on stderr too, prefixed \"rke2| \"\n"
        "Exit 0: stopped in order; 1: it kept failing; 2: bad usage.\n";

static bool stop_now(void *userdata)
{
        return rke2_failed(userdata);
}

static int parse_u(const char *s, unsigned long max, unsigned long *ret)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v > max || *s == '-')
                return -EINVAL;
        *ret = v;
        return 0;
}

int tool_rke2(int argc, char **argv)
{
        static const struct option opts[] = {
                { "role", required_argument, NULL, 'R' },       { "binary", required_argument, NULL, 'b' },
                { "log", required_argument, NULL, 'l' },        { "log-cap", required_argument, NULL, 'L' },
                { "cgroup", required_argument, NULL, 'g' },     { "env-file", required_argument, NULL, 'e' },
                { "max-restarts", required_argument, NULL, 'm' }, { "backoff", required_argument, NULL, 'B' },
                { "stable", required_argument, NULL, 's' },     { "run-for", required_argument, NULL, 'f' },
                { "stop-grace", required_argument, NULL, 'G' }, { "console", no_argument, NULL, 'C' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        static struct rke2_run r;
        const char *role = NULL, *binary = NULL, *logp = NULL, *cgroup = "", *envf = "";
        unsigned long cap = RKE2_LOG_CAP, maxr = 5, bmin = 2000, bmax = 30000, stable = 120, run_for = 0,
                      grace = 20;
        bool console = false;
        int c, idx = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, "+", opts, &idx)) != -1) {
                int bad = 0;
                switch (c) {
                case 'R': role = optarg; break;
                case 'b': binary = optarg; break;
                case 'l': logp = optarg; break;
                case 'L': bad = parse_u(optarg, 1ul << 32, &cap) < 0 || cap < 4096; break;
                case 'g': cgroup = optarg; break;
                case 'e': envf = optarg; break;
                case 'm': bad = parse_u(optarg, 1000, &maxr) < 0; break;
                case 'B': {
                        char *comma = strchr(optarg, ',');
                        if (!comma) {
                                bad = 1;
                                break;
                        }
                        *comma = '\0';
                        bad = parse_u(optarg, 600000, &bmin) < 0 || parse_u(comma + 1, 600000, &bmax) < 0 ||
                              bmin == 0 || bmax < bmin;
                        break;
                }
                case 's': bad = parse_u(optarg, 86400, &stable) < 0; break;
                case 'f': bad = parse_u(optarg, 86400, &run_for) < 0; break;
                case 'G': bad = parse_u(optarg, 3600, &grace) < 0; break;
                case 'C': console = true; break;
                case 'h': return fputs(usage, stdout), 0;
                default: return fputs(usage, stderr), 2;
                }
                if (bad)
                        return fprintf(stderr, "rke2: invalid value for --%s: %s\n", opts[idx].name, optarg), 2;
        }
        if (!role || !(streq(role, "server") || streq(role, "agent")))
                return fputs("rke2: --role server|agent is required\n", stderr), 2;
        if (argc - optind > RKE2_MAX_ARGS)
                return fprintf(stderr, "rke2: at most %d arguments after --\n", RKE2_MAX_ARGS), 2;

        rke2_run_init(&r, role);
        if (binary)
                snprintf(r.binary, sizeof(r.binary), "%s", binary);
        if (logp)
                snprintf(r.log_path, sizeof(r.log_path), "%s", logp);
        snprintf(r.cgroup, sizeof(r.cgroup), "%s", cgroup);
        snprintf(r.env_file, sizeof(r.env_file), "%s", envf);
        r.log_cap = cap;
        r.console = console;
        r.max_restarts = (unsigned)maxr;
        r.backoff_min_ms = (unsigned)bmin;
        r.backoff_max_ms = (unsigned)bmax;
        r.stable_ms = (unsigned)stable * 1000;
        for (int i = optind; i < argc; i++)
                r.args[i - optind] = argv[i];

        struct loop l;
        if (loop_init(&l) < 0)
                return fprintf(stderr, "rke2: signalfd: %m\n"), 1;
        char detail[400];
        if (rke2_start(&l, &r, detail, sizeof(detail)) < 0)
                return fprintf(stderr, "rke2: %s\n", detail), 1;
        log_info("rke2", "%s", detail);
        enum loop_request req = loop_run(&l, run_for ? now_ms() + run_for * 1000 : 0, stop_now, &r);
        if (rke2_failed(&r)) {
                log_err("rke2", "rke2 %s keeps failing: %u restarts, last %s %d", role, r.proc.restarts,
                        WIFEXITED(r.proc.last_status) ? "status" : "signal",
                        WIFEXITED(r.proc.last_status) ? WEXITSTATUS(r.proc.last_status)
                                                      : WTERMSIG(r.proc.last_status));
                rke2_stop(&l, &r, (unsigned)grace * 1000);
                return 1;
        }
        if (req != REQUEST_NONE)
                log_info("rke2", "stop requested");
        rke2_stop(&l, &r, (unsigned)grace * 1000);
        log_info("rke2", "rke2 %s stopped (%s %d)", role, WIFEXITED(r.proc.last_status) ? "status" : "signal",
                 WIFEXITED(r.proc.last_status) ? WEXITSTATUS(r.proc.last_status) : WTERMSIG(r.proc.last_status));
        return 0;
}
