/* SPDX-License-Identifier: Apache-2.0 */
/* rke2's environment file lines and the console tail of its log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rke2_run.h"

static void test_env_lines(void **state)
{
        char *k, *v;
        char l1[] = "HTTP_PROXY=http://proxy:3128\n";
        assert_int_equal(rke2_env_line(l1, &k, &v), 1);
        assert_string_equal(k, "HTTP_PROXY");
        assert_string_equal(v, "http://proxy:3128");
        char l2[] = "  export NO_PROXY=\"a,b c\"  ";
        assert_int_equal(rke2_env_line(l2, &k, &v), 1);
        assert_string_equal(k, "NO_PROXY");
        assert_string_equal(v, "a,b c");
        char l3[] = "EMPTY=";
        assert_int_equal(rke2_env_line(l3, &k, &v), 1);
        assert_string_equal(v, "");
        char l4[] = "Q='single'";
        assert_int_equal(rke2_env_line(l4, &k, &v), 1);
        assert_string_equal(v, "single");
        char c1[] = "# comment=1", c2[] = "   ", c3[] = "";
        assert_int_equal(rke2_env_line(c1, &k, &v), 0);
        assert_int_equal(rke2_env_line(c2, &k, &v), 0);
        assert_int_equal(rke2_env_line(c3, &k, &v), 0);
        char b1[] = "no equals", b2[] = "=value", b3[] = "1ABC=x", b4[] = "A-B=x", b5[] = "Q=\"open",
             b6[] = "A B=x";
        assert_int_equal(rke2_env_line(b1, &k, &v), -EINVAL);
        assert_int_equal(rke2_env_line(b2, &k, &v), -EINVAL);
        assert_int_equal(rke2_env_line(b3, &k, &v), -EINVAL);
        assert_int_equal(rke2_env_line(b4, &k, &v), -EINVAL);
        assert_int_equal(rke2_env_line(b5, &k, &v), -EINVAL);
        assert_int_equal(rke2_env_line(b6, &k, &v), -EINVAL);
}

struct lines {
        char text[8][600];
        int n;
};

static void collect(const char *line, void *u)
{
        struct lines *l = u;
        if (l->n < 8)
                snprintf(l->text[l->n], sizeof(l->text[0]), "%s", line);
        l->n++;
}

static void write_str(const char *path, const char *s)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(s, f);
        fclose(f);
}

static void test_tail(void **state)
{
        char dir[] = "/tmp/ember-tail-XXXXXX", log[64], rot[64];
        assert_non_null(mkdtemp(dir));
        snprintf(log, sizeof(log), "%s/rke2.log", dir);
        snprintf(rot, sizeof(rot), "%s/rke2.log.1", dir);
        struct lines l = { .n = 0 };

        /* no log at all */
        assert_int_equal(rke2_log_tail(log, 5, collect, &l), 0);

        /* the older run's lines are in the rotation; only the last run shows */
        write_str(rot, "old 1\n" RKE2_START_MARKER "x server (start 1)\nrun1 a\n");
        write_str(log, "run1 b\n" RKE2_START_MARKER "x server (start 2)\nrun2 a\nrun2 \x1b[1mb\x7f\n");
        assert_int_equal(rke2_log_tail(log, 10, collect, &l), 3);
        assert_string_equal(l.text[0], RKE2_START_MARKER "x server (start 2)");
        assert_string_equal(l.text[1], "run2 a");
        assert_string_equal(l.text[2], "run2 \\x1b[1mb\\x7f");

        /* fewer lines asked than the run has: the last n */
        l.n = 0;
        assert_int_equal(rke2_log_tail(log, 2, collect, &l), 2);
        assert_string_equal(l.text[0], "run2 a");

        /* no marker: the last n lines across the rotation, no final newline */
        write_str(rot, "r1\nr2\n");
        write_str(log, "c1\nc2");
        l.n = 0;
        assert_int_equal(rke2_log_tail(log, 3, collect, &l), 3);
        assert_string_equal(l.text[0], "r2");
        assert_string_equal(l.text[2], "c2");

        /* a line longer than the console line is cut, not overflowed */
        char big[4000];
        memset(big, 'A', sizeof(big) - 2);
        big[sizeof(big) - 2] = '\n';
        big[sizeof(big) - 1] = '\0';
        write_str(log, big);
        unlink(rot);
        l.n = 0;
        assert_int_equal(rke2_log_tail(log, 3, collect, &l), 1);
        assert_true(strlen(l.text[0]) < 512);

        unlink(log);
        rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_env_lines),
                cmocka_unit_test(test_tail),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
