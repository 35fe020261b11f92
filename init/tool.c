/* SPDX-License-Identifier: Apache-2.0 */
/* Outside PID 1 the same binary runs single stages as tools, so the host
 * build and the tests exercise exactly the code that boots. */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>

#include "boot.h"
#include "fileio.h"
#include "clock.h"
#include "cmdline.h"
#include "kmod.h"
#include "log.h"
#include "sntp.h"
#include "util.h"

static const char usage_text[] =
        "Usage: %s COMMAND [OPTIONS]\n"
        "\n"
        "Ember's /init. As PID 1 it boots the node; otherwise it runs single\n"
        "stages as tools:\n"
        "\n"
        "  cmdline [--file F | --string S]   parse a kernel command line (default\n"
        "                                    /proc/cmdline), print the settings as\n"
        "                                    JSON; exit 1 if a value is invalid\n"
        "  modules resolve --dir D NAME...   print the modules.dep lines of NAME and\n"
        "                                    its dependencies, in load order\n"
        "  network [OPTIONS]                 configure an interface and keep its\n"
        "                                    DHCP lease (see network --help)\n"
        "  sntp SERVER[:PORT] [--timeout MS] [--set]\n"
        "                                    ask an NTP server for the time, print\n"
        "                                    offset, delay, stratum and refid; --set\n"
        "                                    steps the clock (see sntp --help)\n"
        "  overlay --attest-dir D --root R   the overlay stage on an attest stage's\n"
        "                                    results, into R (see overlay --help)\n"
        "  hostprep --root R [OPTIONS]       prepare R for rke2: sysctls, cgroup2,\n"
        "                                    files, default route, programs\n"
        "                                    (see hostprep --help)\n"
        "  measure --root R [OPTIONS]        verify rke2's files against the golden\n"
        "                                    digests, extend them and the overlay\n"
        "                                    into PCR 8 (see measure --help)\n"
        "  measure digests --root R PATH...  print the golden digest list\n"
        "  rke2 --role server|agent [OPTIONS] supervise rke2 (or a stand-in) as PID 1\n"
        "                                    does (see rke2 --help)\n"
        "  ready [OPTIONS]                   wait for this Node to be Ready, as the\n"
        "                                    ready stage does (see ready --help)\n"
        "  rke2-config [--root DIR]          print rke2's role, the rule that chose\n"
        "                                    it, node name and kubeconfig as JSON\n"
        "  report [OPTIONS]                  make the boot report PID 1 sends and send\n"
        "                                    it to the attestation server (see report --help)\n"
        "  esp [OPTIONS]                     list the ESPs the lkg stage would use and\n"
        "                                    whether it may write to them (see esp --help)\n"
        "  version                           print the version\n"
        "  help                              this text\n";

static int tool_cmdline(int argc, char **argv)
{
        static const struct option opts[] = { { "file", required_argument, NULL, 'f' },
                                               { "string", required_argument, NULL, 's' },
                                               { "debug-image", no_argument, NULL, 'd' },
                                               { NULL, 0, NULL, 0 } };
        const char *file = "/proc/cmdline", *str = NULL;
        bool debug_image = EMBER_IS_DEBUG_IMAGE;
        int c;
        while ((c = getopt_long(argc, argv, "f:s:", opts, NULL)) != -1) {
                if (c == 'f')
                        file = optarg;
                else if (c == 's')
                        str = optarg;
                else if (c == 'd')
                        debug_image = true;
                else
                        return 2;
        }
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = str ? ((text = strdup(str)) ? (len = strlen(str), 0) : -ENOMEM)
                    : read_file_all(file, CMDLINE_MAX, &text, &len);
        if (r < 0)
                return fprintf(stderr, "cmdline: reading %s failed: %s\n", str ? "--string" : file, strerror(-r)), 1;

        struct cmdline cl = { 0 };
        r = cmdline_split(text, len, &cl);
        if (r < 0)
                return fprintf(stderr, "cmdline: %s\n",
                               r == -E2BIG ? "command line too long or too many parameters" : strerror(-r)),
                       1;
        struct ember_config cfg;
        struct diag_list diags = { .n = 0 };
        config_init(&cfg);
        r = config_apply_cmdline(&cfg, &cl, debug_image, &diags);
        for (size_t i = 0; i < diags.n; i++)
                fprintf(stderr, "cmdline: %s: %s\n", diags.items[i].level == DIAG_ERR ? "error" : "warning",
                        diags.items[i].msg);
        _cleanup_free_ char *json = r < 0 ? NULL : config_to_json(&cfg, true);
        if (json)
                printf("%s\n", json);
        config_free(&cfg);
        cmdline_free(&cl);
        return r == 0 ? 0 : 1;
}

static void print_dep_line(const struct moddb *db, size_t i)
{
        const struct moddep *m = &db->mods[i];
        printf("%s:", m->path);
        for (size_t d = 0; d < m->ndeps; d++)
                printf(" %s", db->mods[m->deps[d]].path);
        printf("\n");
}

static int tool_modules(int argc, char **argv)
{
        if (argc < 4 || !streq(argv[1], "resolve") || !streq(argv[2], "--dir"))
                return fprintf(stderr, "usage: modules resolve --dir DIR NAME...\n"), 2;
        const char *dir = argv[3];
        char path[4096], err[512] = "";
        _cleanup_free_ char *dep = NULL, *builtin = NULL;
        _cleanup_(moddb_free) struct moddb db = { 0 };
        size_t len;
        int r, failed = 0;

        snprintf(path, sizeof(path), "%s/modules.dep", dir);
        if ((r = read_file_all(path, 64u << 20, &dep, &len)) < 0)
                return fprintf(stderr, "modules: reading %s failed: %s\n", path, strerror(-r)), 1;
        if ((r = moddb_parse_dep(&db, dep, len, err, sizeof(err))) < 0)
                return fprintf(stderr, "modules: %s: %s\n", path, err), 1;
        snprintf(path, sizeof(path), "%s/modules.builtin", dir);
        if (read_file_all(path, 64u << 20, &builtin, &len) == 0 && moddb_parse_builtin(&db, builtin, len) < 0)
                return fprintf(stderr, "modules: out of memory\n"), 1;

        _cleanup_free_ unsigned char *state = calloc(db.n + 1, 1);
        _cleanup_free_ size_t *order = calloc(db.n + 1, sizeof(size_t));
        size_t norder = 0;
        if (!state || !order)
                return 1;
        for (int i = 4; i < argc; i++) {
                if (moddb_find(&db, argv[i]) < 0 && moddb_is_builtin(&db, argv[i])) {
                        fprintf(stderr, "modules: %s is built into the kernel, nothing to load\n", argv[i]);
                        continue;
                }
                if (moddb_resolve(&db, argv[i], state, order, &norder, err, sizeof(err)) < 0) {
                        fprintf(stderr, "modules: %s\n", err);
                        failed++;
                }
        }
        for (size_t i = 0; i < norder; i++)
                print_dep_line(&db, order[i]);
        return failed ? 1 : 0;
}

static const char sntp_usage[] =
        "Usage: sntp SERVER[:PORT] [--timeout MS] [--set]\n"
        "\n"
        "One SNTP exchange with SERVER (an IPv4 address; PORT defaults to 123).\n"
        "Prints one line: offset (the server's clock minus ours, seconds), round-\n"
        "trip delay (seconds), the server's stratum and reference id. Exit 1 when\n"
        "no usable reply came.\n"
        "\n"
        "  --timeout MS   give up after MS milliseconds, 1 to 60000 (default 2000);\n"
        "                 up to 3 requests are sent in that time\n"
        "  --set          step the clock by the offset (needs CAP_SYS_TIME)\n";

/* A decimal number from 1 to max, digits only. */
static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
        unsigned long v = 0;

        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned long)(*s - '0');
                if (v > max)
                        return -ERANGE;
        }
        if (v == 0)
                return -ERANGE;
        *ret = (unsigned)v;
        return 0;
}

/* SERVER[:PORT] with SERVER a dotted IPv4 address. */
static int parse_server(const char *arg, uint32_t *ret_addr, uint16_t *ret_port)
{
        char host[INET_ADDRSTRLEN];
        const char *colon = strchr(arg, ':');
        size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
        unsigned port = SNTP_PORT;
        struct in_addr in;

        if (n >= sizeof(host))
                return -EINVAL;
        memcpy(host, arg, n);
        host[n] = '\0';
        if (inet_pton(AF_INET, host, &in) != 1)
                return -EINVAL;
        if (colon && parse_uint(colon + 1, UINT16_MAX, &port) < 0)
                return -ERANGE;
        *ret_addr = ntohl(in.s_addr);
        *ret_port = (uint16_t)port;
        return 0;
}

static int tool_sntp(int argc, char **argv)
{
        static const struct option opts[] = { { "timeout", required_argument, NULL, 't' },
                                               { "set", no_argument, NULL, 's' },
                                               { "help", no_argument, NULL, 'h' },
                                               { NULL, 0, NULL, 0 } };
        unsigned timeout_ms = 2000;
        bool set = false;
        int c;

        while ((c = getopt_long(argc, argv, "t:sh", opts, NULL)) != -1) {
                if (c == 't') {
                        if (parse_uint(optarg, SNTP_QUERY_MAX_TIMEOUT_MS, &timeout_ms) < 0)
                                return fprintf(stderr, "sntp: --timeout %s: expected milliseconds from 1 to %u\n",
                                               optarg, SNTP_QUERY_MAX_TIMEOUT_MS),
                                       2;
                } else if (c == 's') {
                        set = true;
                } else if (c == 'h') {
                        return printf("%s", sntp_usage), 0;
                } else {
                        return fprintf(stderr, "%s", sntp_usage), 2;
                }
        }
        if (optind != argc - 1)
                return fprintf(stderr, "sntp: expected one SERVER[:PORT]\n%s", sntp_usage), 2;

        const char *arg = argv[optind];
        char esc[64], why[256] = "", off[CLOCK_OFFSET_STRLEN], delay[CLOCK_OFFSET_STRLEN];
        char refid[SNTP_REFID_STRLEN], detail[160] = "";
        struct sntp_result res;
        uint32_t addr;
        uint16_t port;
        int r = parse_server(arg, &addr, &port);
        if (r < 0)
                return fprintf(stderr, "sntp: %s: %s\n", log_escape(arg, esc, sizeof(esc)),
                               r == -ERANGE ? "port must be 1 to 65535" : "expected an IPv4 address, e.g. 192.0.2.1:123"),
                       2;
        r = sntp_query(addr, port, timeout_ms, &res, why, sizeof(why));
        if (r < 0)
                return fprintf(stderr, "sntp: %s: %s\n", log_escape(arg, esc, sizeof(esc)), why), 1;
        printf("%s offset=%ss delay=%ss stratum=%u refid=%s\n", arg, clock_format_offset(res.offset_ns, off),
               clock_format_offset(res.delay_ns, delay) + 1, res.stratum,
               sntp_refid_str(res.stratum, res.refid, refid));
        if (!set)
                return 0;
        r = clock_step(res.offset_ns, detail, sizeof(detail));
        if (r < 0)
                return fprintf(stderr, "sntp: %s\n", detail[0] ? detail : strerror(-r)), 1;
        printf("sntp: %s\n", detail);
        return 0;
}

int tool_main(int argc, char **argv)
{
        const char *prog = argc > 0 ? argv[0] : "init";
        if (argc < 2 || streq(argv[1], "help") || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                printf(usage_text, prog);
                return argc < 2 ? 2 : 0;
        }
        if (streq(argv[1], "version") || streq(argv[1], "--version")) {
                printf("ember-init %s%s\n", EMBER_VERSION, EMBER_IS_DEBUG_IMAGE ? " (debug image)" : "");
                return 0;
        }
        if (streq(argv[1], "cmdline"))
                return tool_cmdline(argc - 1, argv + 1);
        if (streq(argv[1], "modules"))
                return tool_modules(argc - 1, argv + 1);
        if (streq(argv[1], "sntp"))
                return tool_sntp(argc - 1, argv + 1);
        if (streq(argv[1], "network"))
                return tool_network(argc - 1, argv + 1);
        if (streq(argv[1], "overlay"))
                return tool_overlay(argc - 1, argv + 1);
        if (streq(argv[1], "hostprep"))
                return tool_hostprep(argc - 1, argv + 1);
        if (streq(argv[1], "measure"))
                return tool_measure(argc - 1, argv + 1);
        if (streq(argv[1], "ready"))
                return tool_ready(argc - 1, argv + 1);
        if (streq(argv[1], "rke2-config"))
                return tool_rke2_config(argc - 1, argv + 1);
        if (streq(argv[1], "rke2"))
                return tool_rke2(argc - 1, argv + 1);
        if (streq(argv[1], "esp"))
                return tool_esp(argc - 1, argv + 1);
        if (streq(argv[1], "report"))
                return tool_report(argc - 1, argv + 1);
        fprintf(stderr, "%s: unknown command '%s' (try '%s help')\n", prog, argv[1], prog);
        return 2;
}
