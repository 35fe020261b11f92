/* SPDX-License-Identifier: Apache-2.0 */
/* The Node object the API server answers with: its Ready condition, and
 * every way the body can be wrong (each refused with what was wrong,
 * leaving the caller's struct untouched). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ready.h"

#define NODE(status_json) "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"}" status_json "}"
#define COND(s, r, m) "{\"type\":\"Ready\",\"status\":\"" s "\",\"reason\":\"" r "\",\"message\":\"" m "\"}"

static int parse(const char *json, size_t len, const char *name, struct node_status *st, char *why)
{
        struct node_status before;
        memset(st, 0x77, sizeof(*st));
        before = *st;
        why[0] = '\0';
        int k = ready_parse_node(json, len, name, st, &(struct reason){ why, 300 });
        if (k < 0) {
                assert_memory_equal(st, &before, sizeof(before));
                assert_true(why[0] != '\0');
        }
        return k;
}

static void good(const char *json, enum node_ready want, const char *reason, const char *message)
{
        struct node_status st;
        char why[300];
        int k = parse(json, strlen(json), "n1", &st, why);
        if (k != 0)
                fail_msg("%s: %s", json, why);
        assert_int_equal(st.ready, want);
        assert_string_equal(st.reason, reason);
        assert_string_equal(st.message, message);
}

static void bad(const char *json, size_t len, const char *needle)
{
        struct node_status st;
        char why[300];
        int k = parse(json, len, "n1", &st, why);
        if (k != -EBADMSG || !strstr(why, needle))
                fail_msg("expected -EBADMSG with \"%s\", got %d: %s", needle, k, why);
}
#define BAD(json, needle) bad(json, strlen(json), needle)

static void test_conditions(void **state)
{
        good(NODE(",\"status\":{\"conditions\":[" COND("True", "KubeletReady", "kubelet is posting ready status") "]}"),
             NODE_READY_TRUE, "KubeletReady", "kubelet is posting ready status");
        good(NODE(",\"status\":{\"conditions\":[{\"type\":\"MemoryPressure\",\"status\":\"False\"}," COND(
                     "False", "KubeletNotReady", "container runtime network not ready") "]}"),
             NODE_READY_FALSE, "KubeletNotReady", "container runtime network not ready");
        good(NODE(",\"status\":{\"conditions\":[" COND("Unknown", "NodeStatusUnknown", "Kubelet stopped posting") "]}"),
             NODE_READY_UNKNOWN, "NodeStatusUnknown", "Kubelet stopped posting");
        /* just registered: no status, no conditions, or no Ready among them */
        good(NODE(""), NODE_READY_NONE, "", "");
        good(NODE(",\"status\":{}"), NODE_READY_NONE, "", "");
        good(NODE(",\"status\":{\"conditions\":null}"), NODE_READY_NONE, "", "");
        good(NODE(",\"status\":{\"conditions\":[]}"), NODE_READY_NONE, "", "");
        good(NODE(",\"status\":{\"conditions\":[{\"type\":\"DiskPressure\",\"status\":\"False\"}]}"), NODE_READY_NONE, "", "");
        /* reason and message are optional; control bytes in them are escaped */
        good(NODE(",\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}"), NODE_READY_TRUE, "", "");
        good(NODE(",\"status\":{\"conditions\":[" COND("False", "A\\u001b[31m", "x\\ny") "]}"), NODE_READY_FALSE,
             "A\\x1b[31m", "x\\x0ay");
        /* trailing whitespace is fine (the API server ends with a newline) */
        good(NODE("") "\n", NODE_READY_NONE, "", "");
}

static void test_refusals(void **state)
{
        BAD(NODE(",\"status\":{\"conditions\":{\"type\":\"Ready\"}}"), "status.conditions is not an array");
        BAD(NODE(",\"status\":{\"conditions\":[1]}"), "status.conditions[0] is not an object");
        BAD(NODE(",\"status\":{\"conditions\":[{\"status\":\"True\"}]}"), "status.conditions[0] has no type");
        BAD(NODE(",\"status\":{\"conditions\":[{\"type\":7}]}"), "status.conditions[0].type is not a string");
        BAD(NODE(",\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":true}]}"),
            "status.conditions[0].status is not a string");
        BAD(NODE(",\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"Maybe\"}]}"),
            "has status \"Maybe\", not True, False or Unknown");
        BAD(NODE(",\"status\":{\"conditions\":[{\"type\":\"Ready\"}]}"), "has status none");
        BAD(NODE(",\"status\":{\"conditions\":[" COND("True", "", "") "," COND("False", "", "") "]}"),
            "two Ready conditions");
        BAD(NODE(",\"status\":[]"), "status is not an object");
        BAD("{\"kind\":\"Status\",\"metadata\":{}}", "kind is \"Status\", not Node");
        BAD("{\"metadata\":{\"name\":\"n1\"}}", "kind is missing, not Node");
        BAD("{\"kind\":\"Node\"}", "metadata is missing");
        BAD("{\"kind\":\"Node\",\"metadata\":{}}", "metadata.name is missing");
        BAD("{\"kind\":\"Node\",\"metadata\":{\"name\":\"n2\"}}", "metadata.name is \"n2\", not \"n1\"");
        BAD("[1]", "the top level is not an object");
        BAD("", "not one JSON object");
        BAD("{\"kind\":\"Node\"} {}", "trailing data");
        BAD("nonsense", "not one JSON object");
        /* a body cut anywhere: truncated, never a crash nor a verdict */
        const char *full = NODE(",\"status\":{\"conditions\":[" COND("True", "KubeletReady", "ok") "]}");
        for (size_t cut = 1; cut < strlen(full); cut++)
                bad(full, cut, "truncated");
}

static void test_limits(void **state)
{
        /* deeper than the tokenizer's limit */
        char deep[200] = "{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"},\"x\":";
        size_t n = strlen(deep);
        for (int i = 0; i < 40; i++)
                deep[n++] = '[';
        for (int i = 0; i < 40; i++)
                deep[n++] = ']';
        deep[n++] = '}';
        deep[n] = '\0';
        BAD(deep, "not one JSON object");
        /* more than 1 MiB */
        size_t big = READY_RESPONSE_MAX + 2;
        char *huge = malloc(big);
        assert_non_null(huge);
        memset(huge, ' ', big);
        huge[0] = '{';
        huge[big - 1] = '}';
        bad(huge, big, "larger than 1048576 bytes");
        free(huge);
        /* too many conditions */
        char *many = malloc(64 * 1024), *p = many;
        p += sprintf(p, "{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"},\"status\":{\"conditions\":[");
        for (int i = 0; i < 100; i++)
                p += sprintf(p, "%s{\"type\":\"T%d\",\"status\":\"False\"}", i ? "," : "", i);
        p += sprintf(p, "]}}");
        bad(many, (size_t)(p - many), "status.conditions has 100 entries");
        free(many);
}

static void test_state_names(void **state)
{
        for (int s = 0; s < _READY_STATE_MAX; s++)
                assert_true(ready_state_name((enum ready_state)s)[0] != '?');
        assert_string_equal(ready_state_name(READY_STATE_READY), "Ready");
        assert_string_equal(ready_state_name(READY_STATE_NOT_FOUND), "node not found");
        assert_string_equal(ready_state_name(_READY_STATE_MAX), "?");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_conditions),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_state_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
