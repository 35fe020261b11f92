/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>

#include "rootfs.h"
#include "timeline.h"
#include "util.h"

static void test_order_enforced(void **state)
{
        struct timeline t;
        timeline_init(&t, "1.0", "6.1.0");
        assert_int_equal(timeline_end(&t, RESULT_OK, 5, NULL), -EINVAL);
        assert_int_equal(timeline_begin(&t, STAGE_EARLY, 100), 0);
        assert_int_equal(timeline_begin(&t, STAGE_ROOTFS, 110), -EINVAL); /* early still open */
        assert_int_equal(timeline_end(&t, RESULT_PENDING, 120, NULL), -EINVAL);
        assert_int_equal(timeline_end(&t, RESULT_OK, 150, "x"), 0);
        assert_int_equal(timeline_end(&t, RESULT_OK, 160, "x"), -EINVAL); /* closed twice */
        assert_int_equal(timeline_begin(&t, STAGE_EARLY, 170), -EINVAL);  /* backwards */
        assert_int_equal(timeline_begin(&t, STAGE_MOUNTS, 170), 0);       /* skipping is fine */
        assert_int_equal(timeline_end(&t, RESULT_OK, 160, NULL), 0);     /* clock never runs back */
        assert_int_equal(timeline_last(&t)->end_ms, 170);
        assert_int_equal(t.n, 2);
}

static void test_json(void **state)
{
        struct timeline t;
        timeline_init(&t, "0.1.0", "6.1.0-56-amd64");
        timeline_begin(&t, STAGE_EARLY, 2000);
        timeline_end(&t, RESULT_OK, 2010, "4 parameters");
        timeline_begin(&t, STAGE_ROOTFS, 2010);
        timeline_end(&t, RESULT_OK, 2300, "\"quoted\"\n");
        timeline_begin(&t, STAGE_NETWORK, 2300);
        timeline_end(&t, RESULT_NOT_IMPLEMENTED, 2301, "not implemented in this build");

        char *s = timeline_to_json(&t);
        assert_non_null(s);
        json_object *o = json_tokener_parse(s);
        assert_non_null(o);
        json_object *v, *stages;
        assert_true(json_object_object_get_ex(o, "outcome", &v));
        assert_string_equal(json_object_get_string(v), "not-implemented");
        assert_true(json_object_object_get_ex(o, "kernel", &v));
        assert_string_equal(json_object_get_string(v), "6.1.0-56-amd64");
        assert_true(json_object_object_get_ex(o, "total_ms", &v));
        assert_int_equal(json_object_get_int64(v), 2301);
        assert_true(json_object_object_get_ex(o, "stages", &stages));
        assert_int_equal(json_object_array_length(stages), 3);
        json_object *r = json_object_array_get_idx(stages, 1);
        assert_true(json_object_object_get_ex(r, "duration_ms", &v));
        assert_int_equal(json_object_get_int64(v), 290);
        assert_true(json_object_object_get_ex(r, "detail", &v));
        assert_string_equal(json_object_get_string(v), "\"quoted\"\n");
        assert_true(json_object_object_get_ex(r, "stage", &v));
        assert_string_equal(json_object_get_string(v), "rootfs");
        json_object_put(o);
        free(s);
}

struct lines {
        char buf[2048];
        int n;
};

static void collect(const char *line, void *userdata)
{
        struct lines *l = userdata;
        size_t o = strlen(l->buf);
        snprintf(l->buf + o, sizeof(l->buf) - o, "%s\n", line);
        l->n++;
}

static void test_table(void **state)
{
        struct timeline t;
        struct lines l = { "", 0 };
        timeline_init(&t, "0.1.0", "k");
        timeline_begin(&t, STAGE_EARLY, 1500);
        timeline_end(&t, RESULT_OK, 1512, "ok");
        timeline_begin(&t, STAGE_MODULES, 1512);
        timeline_end(&t, RESULT_OK, 2012, "5 loaded, 0 failed");
        timeline_format(&t, collect, &l);
        assert_int_equal(l.n, 4);
        assert_non_null(strstr(l.buf, "modules      ok                   1.512s   500 ms  5 loaded, 0 failed"));
        assert_non_null(strstr(l.buf, "boot stopped after 2.012 s"));
}

static void test_rootfs_size(void **state)
{
        int clamped;
        assert_int_equal(rootfs_size(SIZE_PERCENT, 50, 1000ULL << 20, 10ULL << 20, &clamped), 500ULL << 20);
        assert_false(clamped);
        assert_int_equal(rootfs_size(SIZE_BYTES, 100ULL << 20, 1ULL << 30, 80ULL << 20, &clamped), 144ULL << 20);
        assert_true(clamped);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_order_enforced),
                cmocka_unit_test(test_json),
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_rootfs_size),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
