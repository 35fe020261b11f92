/* SPDX-License-Identifier: Apache-2.0 */
/* `ember-init report`: a boot report made and sent as PID 1 does at the end
 * of a boot (init/boot_report.h, attest/report.h), from a boot.json and
 * options, with the credential and E an attest stage left in a directory. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_stage.h"
#include "boot.h"
#include "boot_report.h"
#include "fileio.h"
#include "report.h"
#include "util.h"

#define BOOT_JSON_PATH "/run/ember/boot.json"
#define BOOT_JSON_MAX (64u << 10)

static const char usage[] =
        "Usage: report [--print] [--boot-json FILE] [--boot-id UUID] [--outcome up|failed]\n"
        "              [--failed-stage STAGE] [--reason TEXT] [--lkg WORD] [--lkg-detail TEXT]\n"
        "              [--lkg-boot] [--consecutive-failures N]\n"
        "              [--url https://ATTEST-SERVER] [--attest-dir DIR] [--pins FILE] [--ca FILE]\n"
        "              [--proxy URL]\n"
        "       report --json FILE --url https://ATTEST-SERVER [--attest-dir DIR] [--pins FILE] ...\n"
        "Makes the boot report PID 1 sends at the end of a boot: outcome and\n"
        "timeline from --boot-json (default " BOOT_JSON_PATH "; \"-\" for none), the\n"
        "rest from the options (boot id default: this boot's), and sends it to the\n"
        "attestation server (POST /v1/report) with the credential and E in DIR\n"
        "(default " ATTEST_STATE_DIR "), the server authenticated by the pins and CA\n"
        "(default the image's). At most 10 s, one retry.\n"
        "\n"
        "  --print        print the report's JSON instead of sending it\n"
        "  --json FILE    send FILE as the report, as it is\n"
        "  --lkg WORD     committed, unchanged, blessed, none (default) or failed\n"
        "  --consecutive-failures N\n"
        "                 failed boots in a row, this one included (default: 1 for a\n"
        "                 failed boot, 0 for one that is up)\n"
        "\n"
        "Exit 0 sent (or printed), 1 failed or refused, 2 bad usage.\n";

static int result_from_name(const char *s, enum stage_result *ret)
{
        for (int i = 0; i < _RESULT_MAX; i++)
                if (streq(s, stage_result_name((enum stage_result)i))) {
                        *ret = (enum stage_result)i;
                        return 0;
                }
        return -EINVAL;
}

static int64_t int_of(json_object *o, const char *key)
{
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int) ? json_object_get_int64(v)
                                                                                              : -1;
}

/* boot.json as timeline_to_json() writes it, back into a struct timeline. */
static int timeline_load(const char *path, struct timeline *t)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        json_object *stages, *v;
        int k = read_file_all(path, BOOT_JSON_MAX, &text, &len);
        if (k < 0)
                return fprintf(stderr, "report: reading %s: %s\n", path, strerror(-k)), k;
        json_object *o = json_tokener_parse(text);
        timeline_init(t, "", "");
        k = o && json_object_object_get_ex(o, "stages", &stages) && json_object_is_type(stages, json_type_array) ? 0 : -EBADMSG;
        for (size_t i = 0; k == 0 && i < json_object_array_length(stages); i++) {
                json_object *e = json_object_array_get_idx(stages, i);
                const char *name = json_object_object_get_ex(e, "stage", &v) ? json_object_get_string(v) : NULL;
                const char *res = json_object_object_get_ex(e, "result", &v) ? json_object_get_string(v) : NULL;
                const char *detail = json_object_object_get_ex(e, "detail", &v) ? json_object_get_string(v) : "";
                int64_t start = int_of(e, "start_ms"), took = int_of(e, "duration_ms");
                enum stage_result r;
                enum stage s = name ? stage_from_name(name) : _STAGE_INVALID;
                if (s == _STAGE_INVALID || !res || result_from_name(res, &r) < 0 || start < 0 || took < 0 ||
                    timeline_begin(t, s, (unsigned long long)start) < 0)
                        k = -EBADMSG;
                else if (r != RESULT_PENDING)
                        k = timeline_end(t, r, (unsigned long long)(start + took), detail);
        }
        json_object_put(o);
        if (k < 0)
                fprintf(stderr, "report: %s is not a boot timeline (boot.json)\n", path);
        return k;
}

struct opts {
        const char *boot_json, *json, *url, *dir, *pins, *ca, *proxy, *outcome, *failed_stage, *reason, *lkg_detail;
        bool print;
};

static int build(const struct opts *o, struct boot_report *r, char **ret)
{
        struct timeline *t = calloc(1, sizeof(*t));
        int k = t ? 0 : -ENOMEM;
        if (k == 0 && !streq(o->boot_json, "-") && (k = timeline_load(o->boot_json, t)) == 0)
                boot_report_from_timeline(r, t);
        free(t);
        if (k < 0)
                return k;
        if (o->outcome)
                r->up = streq(o->outcome, "up");
        if (r->up)
                r->failed_stage[0] = '\0';
        if (o->failed_stage)
                snprintf(r->failed_stage, sizeof(r->failed_stage), "%s", o->failed_stage);
        if (o->reason)
                snprintf(r->reason, sizeof(r->reason), "%s", o->reason);
        if (o->lkg_detail)
                snprintf(r->lkg_detail, sizeof(r->lkg_detail), "%s", o->lkg_detail);
        if (!r->boot_id[0] && (k = boot_report_read_boot_id(NULL, r->boot_id)) < 0)
                return fprintf(stderr, "report: reading this boot's id from %s: %s\n", BOOT_ID_PATH, strerror(-k)), k;
        if (!r->up && r->consecutive_failures == 0)
                r->consecutive_failures = 1; /* the default --help names: this boot itself */
        k = boot_report_json(r, ret);
        if (k == -EINVAL)
                fprintf(stderr, "report: the server would refuse this report (a boot id that is no UUID, a "
                        "stage name not of a-z 0-9 - _, an lkg word it does not know, or a failed stage on a boot "
                        "that is up)\n");
        return k;
}

static int send_report(const struct opts *o, const char *json)
{
        struct attest_result res = { 0 };
        _cleanup_free_ char *pins = NULL;
        const char *ca = NULL;
        char why[700] = "";
        const struct reason w = { why, sizeof(why) };
        int k = attest_server_trust(o->pins, o->ca, &pins, &ca, &w);
        if (k == 0)
                k = attest_report_load(o->dir ? o->dir : ATTEST_STATE_DIR, &res, why, sizeof(why));
        if (k == 0) {
                struct attest_client_config cc = { .url = o->url, .pins = pins, .ca_file = ca, .proxy = o->proxy };
                k = attest_report_send(&cc, &res, json, why, sizeof(why));
        }
        attest_result_free(&res);
        if (k < 0)
                return fprintf(stderr, "report: %s\n", why[0] ? why : strerror(-k)), 1;
        printf("%s\n", why);
        return 0;
}

int tool_report(int argc, char **argv)
{
        static const struct option options[] = {
                { "print", no_argument, NULL, 'P' },           { "boot-json", required_argument, NULL, 'b' },
                { "boot-id", required_argument, NULL, 'i' },   { "outcome", required_argument, NULL, 'o' },
                { "failed-stage", required_argument, NULL, 's' }, { "reason", required_argument, NULL, 'r' },
                { "lkg", required_argument, NULL, 'l' },       { "lkg-detail", required_argument, NULL, 'd' },
                { "lkg-boot", no_argument, NULL, 'B' },        { "consecutive-failures", required_argument, NULL, 'n' },
                { "json", required_argument, NULL, 'j' },      { "url", required_argument, NULL, 'u' },
                { "attest-dir", required_argument, NULL, 'a' }, { "pins", required_argument, NULL, 'p' },
                { "ca", required_argument, NULL, 'c' },        { "proxy", required_argument, NULL, 'x' },
                { "help", no_argument, NULL, 'h' },            {},
        };
        struct opts o = { .boot_json = BOOT_JSON_PATH };
        struct boot_report r = { .up = true };
        char *end;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (c) {
                case 'P': o.print = true; break;
                case 'b': o.boot_json = optarg; break;
                case 'i': snprintf(r.boot_id, sizeof(r.boot_id), "%s", optarg); break;
                case 'o': o.outcome = optarg; break;
                case 's': o.failed_stage = optarg; break;
                case 'r': o.reason = optarg; break;
                case 'l': r.lkg = optarg; break;
                case 'd': o.lkg_detail = optarg; break;
                case 'B': r.lkg_boot = true; break;
                case 'n': {
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (*end || end == optarg || v > REPORT_FAILURES_MAX)
                                return fprintf(stderr, "report: --consecutive-failures expects 0 to %d\n", REPORT_FAILURES_MAX), 2;
                        r.consecutive_failures = (unsigned)v;
                        break;
                }
                case 'j': o.json = optarg; break;
                case 'u': o.url = optarg; break;
                case 'a': o.dir = optarg; break;
                case 'p': o.pins = optarg; break;
                case 'c': o.ca = optarg; break;
                case 'x': o.proxy = optarg; break;
                case 'h': return fputs(usage, stdout), 0;
                default: return fputs(usage, stderr), 2;
                }
        }
        if (optind != argc || (o.outcome && !streq(o.outcome, "up") && !streq(o.outcome, "failed")) ||
            (!o.print && !o.url) || (o.json && o.print))
                return fputs(usage, stderr), 2;
        _cleanup_free_ char *json = NULL;
        size_t len;
        int k = o.json ? read_file_all(o.json, REPORT_BODY_MAX, &json, &len) : build(&o, &r, &json);
        if (k < 0) {
                if (o.json)
                        fprintf(stderr, "report: %s: %s\n", o.json, strerror(-k));
                return 1;
        }
        if (o.print)
                return printf("%s\n", json), 0;
        return send_report(&o, json);
}
