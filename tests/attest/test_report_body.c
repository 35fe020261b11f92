/* SPDX-License-Identifier: Apache-2.0 */
/* Boot reports (report.h): the body's parser refuses everything but a
 * well-formed report and escapes what it keeps; the node's builder makes
 * exactly what the parser takes; the server's refusal rows continue a
 * machine's count of failures. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "report.h"
#include "util.h"

#define BOOT_ID "0f8fad5b-d9cb-469f-a165-70867728950e"

static const char good[] =
        "{\"credential\":\"x.y\",\"e_pub\":\"AAAA\",\"time\":1,\"signature\":\"AAAA\","
        "\"boot_id\":\"" BOOT_ID "\",\"outcome\":\"failed\",\"failed_stage\":\"rke2\","
        "\"reason\":\"rke2 exited with status 1\",\"lkg\":\"unchanged\",\"lkg_detail\":\"already there\","
        "\"lkg_boot\":true,\"consecutive_failures\":2,"
        "\"timeline\":[{\"stage\":\"network\",\"ms\":1234,\"result\":\"ok\"},{\"stage\":\"rke2\",\"ms\":40000,\"result\":\"failed\"}]}";

static int parse(const char *body, struct report_rec *r, char *why, size_t whylen)
{
        return report_parse(body, strlen(body), r, why, whylen);
}

static void test_escape(void **state)
{
        char out[64];
        (void)state;
        assert_int_equal(report_escape("a\x01" "b\xff" "c\x7f", 6, out, sizeof(out)), 15);
        assert_string_equal(out, "a\\x01b\\xffc\\x7f");
        /* printable ASCII is unchanged, so escaping twice is escaping once */
        char twice[64];
        report_escape(out, strlen(out), twice, sizeof(twice));
        assert_string_equal(twice, out);
        /* a NUL inside is escaped, not an end */
        report_escape("a\0b", 3, out, sizeof(out));
        assert_string_equal(out, "a\\x00b");
        /* never half an escape: "a" fits, "\x01" (4 bytes) does not in 5 */
        assert_int_equal(report_escape("a\x01", 2, out, 5), 1);
        assert_string_equal(out, "a");
        assert_int_equal(report_escape("abc", 3, out, 1), 0);
        assert_string_equal(out, "");
}

static void test_parse_good(void **state)
{
        struct report_rec r;
        char why[300] = "";
        (void)state;
        assert_int_equal(parse(good, &r, why, sizeof(why)), 0);
        assert_string_equal(r.boot_id, BOOT_ID);
        assert_string_equal(r.outcome, "failed");
        assert_string_equal(r.failed_stage, "rke2");
        assert_string_equal(r.reason, "rke2 exited with status 1");
        assert_string_equal(r.lkg, "unchanged");
        assert_string_equal(r.lkg_detail, "already there");
        assert_true(r.lkg_boot);
        assert_int_equal(r.consecutive_failures, 2);
        assert_int_equal(r.n_timeline, 2);
        assert_string_equal(r.timeline[1].stage, "rke2");
        assert_int_equal(r.timeline[1].ms, 40000);
        assert_string_equal(r.timeline[1].result, "failed");
        assert_int_equal(report_total_ms(&r), 41234);
        assert_string_equal(r.machine_id, "");
        assert_int_equal(r.received, 0);
}

/* What the server keeps of hostile text: escaped, whatever it was. */
static void test_parse_escapes(void **state)
{
        struct report_rec r;
        char why[300] = "";
        (void)state;
        const char *body = "{\"boot_id\":\"0F8FAD5B-D9CB-469F-A165-70867728950E\",\"outcome\":\"failed\","
                           "\"reason\":\"\\u001b[2J\\u0000gone\\r\\nfake: line \\u00e9\",\"lkg\":\"none\","
                           "\"lkg_boot\":false,\"consecutive_failures\":1,\"timeline\":[]}";
        assert_int_equal(parse(body, &r, why, sizeof(why)), 0);
        assert_string_equal(r.boot_id, BOOT_ID); /* lower case */
        assert_string_equal(r.reason, "\\x1b[2J\\x00gone\\x0d\\x0afake: line \\xc3\\xa9");
        assert_string_equal(r.failed_stage, "");
}

/* Every refusal names the field and leaves *ret alone. */
static void refused(const char *body, const char *expect)
{
        struct report_rec r;
        char why[300] = "";
        memset(&r, 0xa5, sizeof(r));
        int k = parse(body, &r, why, sizeof(why));
        if (k >= 0 || !strstr(why, expect))
                fail_msg("%s: got %d \"%s\", wanted a refusal saying \"%s\"", body, k, why, expect);
        for (size_t i = 0; i < sizeof(r); i++)
                if (((unsigned char *)&r)[i] != 0xa5)
                        fail_msg("%s: *ret changed", body);
        for (const char *p = why; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                        fail_msg("%s: the reason carries byte 0x%02x unescaped", body, (unsigned char)*p);
}

#define BASE "\"boot_id\":\"" BOOT_ID "\",\"lkg\":\"none\",\"lkg_boot\":false,\"timeline\":[]"
#define UP "{" BASE ",\"outcome\":\"up\",\"consecutive_failures\":0"

static void test_parse_refusals(void **state)
{
        (void)state;
        refused("", "empty");
        refused("[]", "one JSON object");
        refused("{\"boot_id\":", "one JSON object");
        refused(UP "} {}", "one JSON object");
        /* strict JSON (json-c still takes a key in single quotes: harmless, the key is what it is) */
        refused("{\"boot_id\":'x'}", "one JSON object");
        refused(UP ",}", "one JSON object");
        refused(UP ",\"consecutive_failures\":01}", "one JSON object");
        refused(UP ",\"consecutive_failures\":NaN}", "\"consecutive_failures\" must be an integer");
        refused(UP ",\"reason\":\"\xc3\x28\"}", "one JSON object"); /* not UTF-8 */
        refused(UP ",\"x\":{\"a\":{\"b\":{\"c\":[]}}}}", "one JSON object"); /* too deep */
        refused(UP ",\"evil\\u001b[2J\":1}", "unknown field \"evil\\x1b[2J\"");
        refused("{\"outcome\":\"up\",\"lkg\":\"none\",\"lkg_boot\":false,\"consecutive_failures\":0,\"timeline\":[]}",
                "missing field \"boot_id\"");
        refused("{" BASE ",\"consecutive_failures\":0}", "missing field \"outcome\"");
        refused("{\"boot_id\":\"" BOOT_ID "\",\"outcome\":\"up\",\"lkg_boot\":false,\"consecutive_failures\":0,\"timeline\":[]}",
                "missing field \"lkg\"");
        refused("{" BASE ",\"outcome\":\"up\"}", "missing field \"consecutive_failures\"");
        refused("{\"boot_id\":\"" BOOT_ID "\",\"outcome\":\"up\",\"lkg\":\"none\",\"lkg_boot\":false,\"consecutive_failures\":0}",
                "missing field \"timeline\"");
        refused("{\"boot_id\":\"x\",\"outcome\":\"up\"}", "\"boot_id\" must be a UUID");
        refused("{\"boot_id\":\"" BOOT_ID "x\"}", "\"boot_id\" must be a UUID");
        refused("{\"boot_id\":\"0f8fad5b-d9cb-469f-a165-70867728950\\u0000\"}", "\"boot_id\" must be a UUID");
        refused("{\"boot_id\":7}", "\"boot_id\" must be a string");
        refused(UP ",\"outcome\":\"refused\"}", "\"outcome\" must be \"up\" or \"failed\", not \"refused\"");
        refused(UP ",\"outcome\":\"up\\u0000x\"}", "\"outcome\" must be");
        refused(UP ",\"lkg\":\"maybe\"}", "\"lkg\" must be committed");
        refused(UP ",\"lkg\":\"none\\u0000\"}", "\"lkg\" must be committed");
        refused(UP ",\"lkg_boot\":1}", "\"lkg_boot\" must be true or false");
        refused(UP ",\"consecutive_failures\":-1}", "\"consecutive_failures\" must be 0 to");
        refused(UP ",\"consecutive_failures\":1.0}", "\"consecutive_failures\" must be an integer");
        refused(UP ",\"consecutive_failures\":\"1\"}", "\"consecutive_failures\" must be an integer");
        refused(UP ",\"consecutive_failures\":99999999999999999999999}", "\"consecutive_failures\"");
        refused(UP ",\"failed_stage\":\"rke2\"}", "\"failed_stage\" is for a failed boot");
        refused("{" BASE ",\"outcome\":\"failed\",\"consecutive_failures\":0}", "at least 1");
        refused(UP ",\"failed_stage\":\"RKE2\"}", "\"failed_stage\" must be 1 to 15 of a-z");
        refused(UP ",\"failed_stage\":\"\"}", "\"failed_stage\" must be 1 to 15");
        refused(UP ",\"failed_stage\":\"abcdefghijklmnop\"}", "\"failed_stage\" must be 1 to 15");
        refused(UP ",\"timeline\":{}}", "\"timeline\" must be an array");
        refused(UP ",\"timeline\":[1]}", "timeline[0] must be an object");
        refused(UP ",\"timeline\":[{\"stage\":\"a\",\"ms\":1}]}", "timeline[0] needs");
        refused(UP ",\"timeline\":[{\"stage\":\"a\",\"ms\":1,\"result\":\"ok\",\"x\":1}]}", "timeline[0]: unknown field \"x\"");
        refused(UP ",\"timeline\":[{\"stage\":\"a b\",\"ms\":1,\"result\":\"ok\"}]}", "\"timeline[].stage\" must be");
        refused(UP ",\"timeline\":[{\"stage\":\"a\",\"ms\":1,\"result\":\"\"}]}", "\"timeline[].result\" must be");
        refused(UP ",\"timeline\":[{\"stage\":\"a\",\"ms\":-5,\"result\":\"ok\"}]}", "\"timeline[].ms\" must be 0 to");
        refused(UP ",\"timeline\":[{\"stage\":\"a\",\"ms\":1000000001,\"result\":\"ok\"}]}", "\"timeline[].ms\" must be 0 to");

        char big[2048];
        size_t o = (size_t)snprintf(big, sizeof(big), UP ",\"timeline\":[");
        for (int i = 0; i < 17; i++)
                o += (size_t)snprintf(big + o, sizeof(big) - o, "%s{\"stage\":\"s%d\",\"ms\":1,\"result\":\"ok\"}", i ? "," : "", i);
        snprintf(big + o, sizeof(big) - o, "]}");
        refused(big, "\"timeline\" has 17 stages, more than 16");
        char why[300];

        char reason[600];
        memset(reason, 'r', 301);
        reason[301] = '\0';
        char *body;
        assert_true(asprintf(&body, UP ",\"reason\":\"%s\"}", reason) > 0);
        refused(body, "\"reason\" is 301 bytes, more than 300");
        free(body);
        reason[300] = '\0';
        struct report_rec r;
        assert_true(asprintf(&body, UP ",\"lkg_detail\":\"%s\"}", reason) > 0);
        assert_int_equal(parse(body, &r, NULL, 0), 0); /* 300 is fine, and why may be absent */
        free(body);

        /* a NUL after the object: the length counts, not the string */
        static const char nul_after[] = UP "}\0";
        assert_int_equal(report_parse(nul_after, sizeof(nul_after) - 1, &r, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "trailing bytes"));

        char *huge = malloc(REPORT_BODY_MAX + 2);
        assert_non_null(huge);
        memset(huge, ' ', REPORT_BODY_MAX + 1);
        huge[REPORT_BODY_MAX + 1] = '\0';
        memcpy(huge, UP "}", strlen(UP "}"));
        refused(huge, "at most 16384 bytes");
        free(huge);
}

/* A body cut anywhere is refused, and nothing is written. */
static void test_parse_truncated(void **state)
{
        struct report_rec r, before;
        char why[300];
        (void)state;
        memset(&r, 0x5a, sizeof(r));
        before = r;
        for (size_t n = 0; n < strlen(good); n++) {
                assert_int_not_equal(report_parse(good, n, &r, why, sizeof(why)), 0);
                assert_memory_equal(&r, &before, sizeof(r));
        }
}

static struct boot_report sample(void)
{
        struct boot_report b = { .boot_id = "0F8FAD5B-D9CB-469F-A165-70867728950E", .up = false, .failed_stage = "overlay",
                                 .lkg = BOOT_REPORT_LKG_FAILED, .lkg_boot = true, .consecutive_failures = 4,
                                 .n_timeline = 3 };
        snprintf(b.reason, sizeof(b.reason), "signer \x1b[31mnot pinned\x1b[0m");
        snprintf(b.lkg_detail, sizeof(b.lkg_detail), "ESP full: 3 MiB free");
        b.timeline[0] = (struct boot_report_stage){ "network", 1500, "ok" };
        b.timeline[1] = (struct boot_report_stage){ "attest", 900, "ok" };
        b.timeline[2] = (struct boot_report_stage){ "overlay", 20, "failed" };
        return b;
}

/* The builder makes what the parser takes, field for field. */
static void test_build_roundtrip(void **state)
{
        struct boot_report b = sample();
        struct report_rec r;
        char why[300] = "", *json = NULL;
        (void)state;
        assert_int_equal(boot_report_json(&b, &json), 0);
        assert_int_equal(parse(json, &r, why, sizeof(why)), 0);
        assert_string_equal(r.boot_id, BOOT_ID);
        assert_string_equal(r.outcome, "failed");
        assert_string_equal(r.failed_stage, "overlay");
        assert_string_equal(r.reason, "signer \\x1b[31mnot pinned\\x1b[0m");
        assert_string_equal(r.lkg, "failed");
        assert_string_equal(r.lkg_detail, "ESP full: 3 MiB free");
        assert_true(r.lkg_boot);
        assert_int_equal(r.consecutive_failures, 4);
        assert_int_equal(r.n_timeline, 3);
        for (size_t i = 0; i < 3; i++) {
                assert_string_equal(r.timeline[i].stage, b.timeline[i].stage);
                assert_int_equal(r.timeline[i].ms, b.timeline[i].ms);
                assert_string_equal(r.timeline[i].result, b.timeline[i].result);
        }
        free(json);

        /* up: no failed_stage, and empty text is left out; lkg NULL is "none" */
        struct boot_report u = { .boot_id = BOOT_ID, .up = true };
        assert_int_equal(boot_report_json(&u, &json), 0);
        assert_string_equal(json, "{\"boot_id\":\"" BOOT_ID "\",\"outcome\":\"up\",\"lkg\":\"none\",\"lkg_boot\":false,"
                                  "\"consecutive_failures\":0,\"timeline\":[]}");
        assert_int_equal(parse(json, &r, why, sizeof(why)), 0);
        free(json);

        /* text that escapes to more than 300 bytes is cut there, never inside an escape */
        memset(b.reason, 0x01, REPORT_TEXT_MAX);
        b.reason[REPORT_TEXT_MAX] = '\0';
        assert_int_equal(boot_report_json(&b, &json), 0);
        assert_int_equal(parse(json, &r, why, sizeof(why)), 0);
        assert_int_equal(strlen(r.reason), REPORT_TEXT_MAX);
        assert_memory_equal(r.reason + REPORT_TEXT_MAX - 4, "\\x01", 4);
        free(json);
}

/* The builder refuses what the server would. */
static void test_build_refusals(void **state)
{
        char *json = NULL;
        struct boot_report b;
        (void)state;
        b = sample(), snprintf(b.boot_id, sizeof(b.boot_id), "not-a-uuid");
        assert_int_equal(boot_report_json(&b, &json), -EINVAL);
        b = sample(), b.up = true; /* a failed stage on a boot that is up */
        assert_int_equal(boot_report_json(&b, &json), -EINVAL);
        b = sample(), b.lkg = "maybe";
        assert_int_equal(boot_report_json(&b, &json), -EINVAL);
        b = sample(), b.consecutive_failures = 0;
        assert_int_equal(boot_report_json(&b, &json), -EINVAL);
        b = sample(), snprintf(b.timeline[1].stage, sizeof(b.timeline[1].stage), "Attest");
        assert_int_equal(boot_report_json(&b, &json), -EINVAL);
        b = sample(), b.timeline[1].result[0] = '\0';
        assert_int_equal(boot_report_json(&b, &json), -EINVAL);
        b = sample(), b.timeline[0].ms = REPORT_STAGE_MS_MAX + 1;
        assert_int_equal(boot_report_json(&b, &json), -EINVAL);
        b = sample(), b.n_timeline = REPORT_TIMELINE_MAX + 1;
        assert_int_equal(boot_report_json(&b, &json), -EINVAL);
        assert_int_equal(boot_report_json(NULL, &json), -EINVAL);
        assert_null(json);
}

/* ---- the server's refusal rows, on a real store ---- */

static char dir[64], path[96];

static int setup(void **state)
{
        snprintf(dir, sizeof(dir), "/tmp/ember-report.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/ember.db", dir);
        struct store *s;
        assert_int_equal(store_open_sqlite(path, &s), 0);
        *state = s;
        return 0;
}

static int teardown(void **state)
{
        char cmd[128];
        store_close(*state);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        return system(cmd);
}

static void test_refusal_rows(void **state)
{
        struct store *s = *state;
        struct machine m = { .state = MACHINE_ENROLLED, .created = 1, .updated = 1 };
        struct report_rec r;
        char why[300];
        assert_int_equal(uuid_random(m.id), 0);
        memset(m.ek_hash, 7, sizeof(m.ek_hash));
        assert_int_equal(s->ops->machine_put(s, &m), 0);
        assert_int_equal(report_record_refusal(s, "no-such-machine", "00000000-0000-4000-8000-000000000001", "x", 10),
                         -ENOENT);

        assert_int_equal(report_record_refusal(s, m.id, "00000000-0000-4000-8000-000000000001",
                                               "PCR 9: no approved image \x1b[2J", 10), 0);
        assert_int_equal(s->ops->report_latest(s, m.id, &r), 0);
        assert_string_equal(r.outcome, "refused");
        assert_string_equal(r.failed_stage, "attest");
        assert_string_equal(r.reason, "PCR 9: no approved image \\x1b[2J");
        assert_string_equal(r.boot_id, "00000000-0000-4000-8000-000000000001");
        assert_string_equal(r.lkg, "");
        assert_int_equal(r.consecutive_failures, 1);
        assert_int_equal(r.received, 10);

        /* after the node's own failed report with 2, a refusal is the 3rd in a row */
        char body[512];
        snprintf(body, sizeof(body), "{\"boot_id\":\"" BOOT_ID "\",\"outcome\":\"failed\",\"lkg\":\"none\",\"lkg_boot\":false,"
                                     "\"consecutive_failures\":2,\"timeline\":[]}");
        assert_int_equal(parse(body, &r, why, sizeof(why)), 0);
        snprintf(r.machine_id, sizeof(r.machine_id), "%s", m.id);
        assert_int_equal(s->ops->report_put(s, &r), 0);
        assert_int_equal(report_record_refusal(s, m.id, "00000000-0000-4000-8000-000000000002", "no approved image", 20), 0);
        assert_int_equal(s->ops->report_latest(s, m.id, &r), 0);
        assert_int_equal(r.consecutive_failures, 3);

        /* after a boot that came up, the count starts again */
        snprintf(body, sizeof(body), UP "}");
        assert_int_equal(parse(body, &r, why, sizeof(why)), 0);
        snprintf(r.machine_id, sizeof(r.machine_id), "%s", m.id);
        snprintf(r.boot_id, sizeof(r.boot_id), "00000000-0000-4000-8000-0000000000ff");
        assert_int_equal(s->ops->report_put(s, &r), 0);
        assert_int_equal(report_record_refusal(s, m.id, "00000000-0000-4000-8000-000000000003", "no approved image", 30), 0);
        assert_int_equal(s->ops->report_latest(s, m.id, &r), 0);
        assert_int_equal(r.consecutive_failures, 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_escape),
                cmocka_unit_test(test_parse_good),
                cmocka_unit_test(test_parse_escapes),
                cmocka_unit_test(test_parse_refusals),
                cmocka_unit_test(test_parse_truncated),
                cmocka_unit_test(test_build_roundtrip),
                cmocka_unit_test(test_build_refusals),
                cmocka_unit_test_setup_teardown(test_refusal_rows, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
