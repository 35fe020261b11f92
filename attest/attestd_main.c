/* SPDX-License-Identifier: Apache-2.0 */
/* ember-attestd: the verifier. Serves the attestation protocol over HTTPS
 * with the key and certificate `emberctl server init` made, keeping its
 * state in DIR/attestd.db. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "http.h"
#include "server.h"
#include "util.h"

static const char usage_text[] =
        "Usage: ember-attestd --dir DIR [--listen ADDR:PORT] [--threads N]\n"
        "                     [--rate-per-source N]\n"
        "\n"
        "Verifies nodes' TPM evidence against the approved images and releases\n"
        "credentials to attested, enrolled machines.\n"
        "\n"
        "  --dir DIR           keys and database from `emberctl server init`\n"
        "  --listen ADDR:PORT  IPv4 address and port (default 0.0.0.0:8443)\n"
        "  --threads N         worker threads (default 4)\n"
        "  --rate-per-source N requests a second one client address may make, in\n"
        "                      bursts of up to 2N (default 20); nodes behind NAT or\n"
        "                      a proxy share one address, so raise it to what the\n"
        "                      largest such group needs when it boots at once; 0\n"
        "                      turns this limit off. Each EK stays limited to one\n"
        "                      attestation a second (bursts of 5) either way.\n"
        "  --help              this text\n"
        "\n"
        "SIGTERM or SIGINT stops it; every decision is in the audit log\n"
        "(`emberctl audit`).\n";

static int read_pem(const char *dir, const char *name, char **ret)
{
        char path[4200];
        size_t len;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int r = read_file_all(path, 64 * 1024, ret, &len);
        if (r < 0)
                fprintf(stderr, "ember-attestd: reading %s failed: %s\n", path, strerror(-r));
        return r;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = { { "dir", required_argument, NULL, 'd' },
                                               { "listen", required_argument, NULL, 'l' },
                                               { "threads", required_argument, NULL, 't' },
                                               { "rate-per-source", required_argument, NULL, 'r' },
                                               { "help", no_argument, NULL, 'h' },
                                               { NULL, 0, NULL, 0 } };
        const char *dir = NULL;
        char addr[64] = "0.0.0.0", *end;
        unsigned long port = 8443, threads = 4, rate = (unsigned long)SERVER_RATE_PER_SOURCE;
        int c;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case 'l': {
                        const char *colon = strrchr(optarg, ':');
                        if (!colon || colon == optarg || (size_t)(colon - optarg) >= sizeof(addr) ||
                            (port = strtoul(colon + 1, &end, 10)) > 65535 || *end || end == colon + 1)
                                return fprintf(stderr, "ember-attestd: --listen %s: expected ADDR:PORT\n", optarg), 2;
                        snprintf(addr, sizeof(addr), "%.*s", (int)(colon - optarg), optarg);
                        break;
                }
                case 't':
                        if ((threads = strtoul(optarg, &end, 10)) == 0 || threads > 256 || *end)
                                return fprintf(stderr, "ember-attestd: --threads %s: expected 1 to 256\n", optarg), 2;
                        break;
                case 'r':
                        errno = 0;
                        if ((rate = strtoul(optarg, &end, 10)) > 1000000 || *end || end == optarg || errno ||
                            *optarg == '-')
                                return fprintf(stderr, "ember-attestd: --rate-per-source %s: expected 0 to 1000000\n",
                                               optarg), 2;
                        break;
                case 'h':
                        return fputs(usage_text, stdout), 0;
                default:
                        return 2;
                }
        }
        if (!dir || optind != argc)
                return fputs("ember-attestd: --dir DIR is required (try --help)\n", stderr), 2;

        _cleanup_free_ char *cert = NULL, *key = NULL;
        char db[4200], why[300];
        if (read_pem(dir, "server.crt", &cert) < 0 || read_pem(dir, "server.key", &key) < 0)
                return 1;
        snprintf(db, sizeof(db), "%s/attestd.db", dir);
        struct server *srv;
        if (server_open(db, &srv, why, sizeof(why)) < 0)
                return fprintf(stderr, "ember-attestd: %s\n", why), 1;
        server_set_rate_per_source(srv, (double)rate);

        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* the HTTP threads inherit it */
        signal(SIGPIPE, SIG_IGN);

        struct http_config cfg = { .bind = addr, .port = (uint16_t)port, .cert_pem = cert, .key_pem = key,
                                   .max_body = SERVER_MAX_BODY, .threads = (unsigned)threads, .timeout_s = 30 };
        struct http_server *http;
        if (http_start(&cfg, server_handle, srv, &http, why, sizeof(why)) < 0) {
                server_close(srv);
                return fprintf(stderr, "ember-attestd: %s\n", why), 1;
        }
        explicit_bzero(key, strlen(key));
        fprintf(stderr, "ember-attestd: listening on https://%s:%u/ (database %s)\n", addr, http_port(http), db);
        if (rate == 0)
                fputs("ember-attestd: no per-source rate limit (--rate-per-source 0); the per-EK limit stays\n", stderr);
        int sig = 0;
        sigwait(&set, &sig);
        fprintf(stderr, "ember-attestd: signal %d: stopping\n", sig);
        http_stop(http);
        server_close(srv);
        return 0;
}
