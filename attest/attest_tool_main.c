/* SPDX-License-Identifier: Apache-2.0 */
/* ember-attest-client: runs the node's side of the attestation protocol
 * (client.c) from a host, against any TPM a TCTI loader spec reaches
 * (swtpm in the tests). PID 1 runs the same attest_run() with the device
 * TCTI. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "client.h"
#include "fileio.h"
#include "report.h"
#include "util.h"

static const char usage_text[] =
        "Usage: ember-attest-client --tcti SPEC --url https://HOST:PORT (--pin PIN | --ca FILE)...\n"
        "                           [--ek auto|rsa|ecc256|ecc384] [--event-log FILE] [--timeout MS]\n"
        "                           [--overlay-out FILE [--overlay-key-out FILE]] [--report FILE]...\n"
        "Attests this TPM to ember-attestd, as an Ember node does at boot: EK, AK,\n"
        "challenge, ActivateCredential, quote, evidence; prints the credential's\n"
        "machine, image and expiry and the time each step took, or why it failed.\n"
        "\n"
        "  --tcti SPEC        TPM to use (tss2 TCTI loader spec, e.g.\n"
        "                     swtpm:host=127.0.0.1,port=2321 or device:/dev/tpmrm0)\n"
        "  --url URL          the server, https only\n"
        "  --pin PIN          the server key's pin, sha256//BASE64 (as `emberctl server\n"
        "                     init` prints it); repeat for several\n"
        "  --ca FILE          PEM CA(s) the server's certificate must chain to\n"
        "  --ek TYPE          endorsement key: rsa (TCG template L-1), ecc256 (L-2),\n"
        "                     ecc384 (H-2), or auto (default): the first of those\n"
        "                     whose certificate the TPM holds, else rsa\n"
        "  --event-log FILE   default " ATTEST_EVENT_LOG_DEFAULT "\n"
        "  --timeout MS       per request (default 20000)\n"
        "  --overlay-out FILE fetch the overlay the attestation named into FILE, as\n"
        "                     a node does (with the credential and a proof by E, or\n"
        "                     from the URL the server gave)\n"
        "  --overlay-key-out FILE\n"
        "                     write its data key, unwrapped with E, to FILE (0600,\n"
        "                     hex), for emberctl overlay apply --data-key\n"
        "  --report FILE      then send FILE's JSON as a boot report (POST /v1/report,\n"
        "                     with the credential and a proof by E), as a node does at\n"
        "                     the end of a boot; repeat for several, sent in order\n"
        "  --help             this text\n"
        "\n"
        "Exit status: 0 attested, 1 failed or refused, 2 bad usage.\n";

static int usage_error(const char *msg, const char *arg)
{
        fprintf(stderr, "ember-attest-client: %s%s (try --help)\n", msg, arg ? arg : "");
        return 2;
}

/* --pin may repeat: curl takes the pins joined with ';'. */
static int add_pin(char **pins, const char *pin)
{
        char *n = NULL;
        if (asprintf(&n, "%s%s%s", *pins ? *pins : "", *pins ? ";" : "", pin) < 0)
                return -ENOMEM;
        free(*pins);
        *pins = n;
        return 0;
}

static void print_result(const struct attest_result *res)
{
        char when[64] = "?", hex[2 * sizeof(res->ek_name.name) + 1] = "";
        time_t t = (time_t)res->expires;
        struct tm tm;
        if (gmtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        for (size_t i = 0; i < res->ek_name.size && i < sizeof(res->ek_name.name); i++)
                snprintf(hex + 2 * i, 3, "%02x", res->ek_name.name[i]);
        printf("attested\n");
        printf("machine    %s\n", res->machine);
        printf("image      %s (%s)\n", res->image, res->image_name);
        printf("expires    %lld (%s)\n", (long long)res->expires, when);
        printf("credential %s\n", res->credential);
        printf("ek         %s\n", attest_ek_to_string(res->ek_type));
        printf("ek_name    %s\n", hex);
        if (res->overlay.present) {
                char d[65];
                for (int i = 0; i < 32; i++)
                        snprintf(d + 2 * i, 3, "%02x", res->overlay.sha256[i]);
                printf("overlay    %s serial %llu, %llu bytes, sha256 %s, %s%s\n", res->overlay.id,
                       (unsigned long long)res->overlay.serial, (unsigned long long)res->overlay.size, d,
                       res->overlay.url[0] ? "at " : "served by the attestation server",
                       res->overlay.url[0] ? res->overlay.url : "");
        } else {
                printf("overlay    none assigned\n");
        }
        if (res->ek_cert_len)
                printf("ek_cert    %zu bytes sent\n", res->ek_cert_len);
        else
                printf("ek_cert    none\n");
        printf("timings   ");
        for (int s = 0; s < _ATTEST_STEP_MAX; s++)
                printf(" %s=%ums", attest_step_name(s), res->step_ms[s]);
        printf(" total=%ums\n", res->total_ms);
}

static void warn_stderr(void *ud, const char *line)
{
        fprintf(stderr, "ember-attest-client: %s\n", line);
}

static const char *overlay_out, *overlay_key_out;

static int to_file(void *ud, const void *p, size_t n)
{
        return fwrite(p, 1, n, ud) == n ? 0 : -EIO;
}

static int fetch(const struct attest_client_config *cfg, const struct attest_result *res)
{
        char why[600] = "";
        if (!overlay_out)
                return 0;
        if (!res->overlay.present)
                return fprintf(stderr, "ember-attest-client: --overlay-out: the server assigned no overlay\n"), 1;
        if (overlay_key_out) {
                char hex[66];
                for (int i = 0; i < 32; i++)
                        snprintf(hex + 2 * i, 3, "%02x", res->overlay.key[i]);
                hex[64] = '\n';
                int k = write_file_atomic(overlay_key_out, hex, 65, 0600);
                explicit_bzero(hex, sizeof(hex));
                if (k < 0)
                        return fprintf(stderr, "ember-attest-client: %s: %s\n", overlay_key_out, strerror(-k)), 1;
        }
        FILE *f = fopen(overlay_out, "we");
        if (!f)
                return fprintf(stderr, "ember-attest-client: %s: %m\n", overlay_out), 1;
        int k = attest_fetch_overlay(cfg, res, to_file, f, 0, why, sizeof(why));
        if (fclose(f) != 0 && k == 0)
                k = -EIO;
        if (k < 0)
                return fprintf(stderr, "ember-attest-client: fetching the overlay: %s\n", why[0] ? why : strerror(-k)), 1;
        printf("fetched    %llu bytes into %s\n", (unsigned long long)res->overlay.size, overlay_out);
        return 0;
}

#define REPORTS_MAX 8
static const char *reports[REPORTS_MAX];
static size_t n_reports;

static int send_reports(const struct attest_client_config *cfg, const struct attest_result *res)
{
        for (size_t i = 0; i < n_reports; i++) {
                _cleanup_free_ char *body = NULL;
                char detail[700] = "";
                size_t len;
                int k = read_file_all(reports[i], 1u << 20, &body, &len);
                if (k < 0)
                        return fprintf(stderr, "ember-attest-client: %s: %s\n", reports[i], strerror(-k)), 1;
                k = attest_report_send(cfg, res, body, detail, sizeof(detail));
                if (k < 0)
                        return fprintf(stderr, "ember-attest-client: %s: %s\n", reports[i], detail[0] ? detail : strerror(-k)), 1;
                printf("report     %s: %s\n", reports[i], detail);
        }
        return 0;
}

static int run(const char *tcti_spec, const struct attest_client_config *cfg)
{
        TSS2_TCTI_CONTEXT *tcti = NULL;
        ESYS_CONTEXT *esys = NULL;
        struct attest_result res = { 0 };
        char why[600] = "";
        TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti_spec, &tcti);
        if (rc != TSS2_RC_SUCCESS) {
                fprintf(stderr, "ember-attest-client: opening the TPM (%s): Tss2_TctiLdr_Initialize failed: %s\n", tcti_spec,
                        Tss2_RC_Decode(rc));
                return 1;
        }
        rc = Esys_Initialize(&esys, tcti, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                fprintf(stderr, "ember-attest-client: Esys_Initialize failed: %s\n", Tss2_RC_Decode(rc));
                Tss2_TctiLdr_Finalize(&tcti);
                return 1;
        }
        int r = attest_run(esys, cfg, &res, why, sizeof(why));
        Esys_Finalize(&esys);
        Tss2_TctiLdr_Finalize(&tcti);
        if (r < 0) {
                fprintf(stderr, "ember-attest-client: %s\n", why[0] ? why : strerror(-r));
                return 1;
        }
        print_result(&res);
        r = fetch(cfg, &res);
        if (r == 0)
                r = send_reports(cfg, &res);
        attest_result_free(&res);
        return r;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "tcti", required_argument, NULL, 't' },     { "url", required_argument, NULL, 'u' },
                { "pin", required_argument, NULL, 'p' },      { "ca", required_argument, NULL, 'c' },
                { "event-log", required_argument, NULL, 'l' }, { "timeout", required_argument, NULL, 'T' },
                { "ek", required_argument, NULL, 'e' },       { "help", no_argument, NULL, 'h' },
                { "overlay-out", required_argument, NULL, 'o' }, { "overlay-key-out", required_argument, NULL, 'k' },
                { "report", required_argument, NULL, 'R' },   {},
        };
        struct attest_client_config cfg = { .warn = warn_stderr };
        _cleanup_free_ char *pins = NULL;
        const char *tcti = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 't':
                        tcti = optarg;
                        break;
                case 'u':
                        cfg.url = optarg;
                        break;
                case 'p':
                        if (add_pin(&pins, optarg) < 0)
                                return fputs("ember-attest-client: out of memory\n", stderr), 1;
                        break;
                case 'c':
                        cfg.ca_file = optarg;
                        break;
                case 'e':
                        if (attest_ek_from_string(optarg, &cfg.ek) < 0)
                                return usage_error("--ek expects auto, rsa, ecc256 or ecc384, got ", optarg);
                        break;
                case 'o':
                        overlay_out = optarg;
                        break;
                case 'k':
                        overlay_key_out = optarg;
                        break;
                case 'l':
                        cfg.event_log_path = optarg;
                        break;
                case 'R':
                        if (n_reports == REPORTS_MAX)
                                return usage_error("--report: at most 8", NULL);
                        reports[n_reports++] = optarg;
                        break;
                case 'T': {
                        char *end;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (*end || end == optarg || v == 0 || v > 600000)
                                return usage_error("--timeout expects 1 to 600000 ms, got ", optarg);
                        cfg.request_timeout_ms = (unsigned)v;
                        break;
                }
                case 'h':
                        return fputs(usage_text, stdout), 0;
                default:
                        return usage_error("bad option", NULL);
                }
        }
        if (optind < argc)
                return usage_error("unexpected argument ", argv[optind]);
        if (!tcti || !cfg.url)
                return usage_error("--tcti and --url are required", NULL);
        if (!pins && !cfg.ca_file)
                return usage_error("give the server's --pin or --ca: Ember never talks to an unauthenticated server", NULL);
        cfg.pins = pins;
        return run(tcti, &cfg);
}
