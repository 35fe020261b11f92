/* SPDX-License-Identifier: Apache-2.0 */
/* What reaches /etc/resolv.conf from a lease: at most three servers, and a
 * search domain only when it is a plain DNS name. */
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

#include "fileio.h"
#include "netconf.h"

static char *write_and_read(const char *domain, const uint32_t *dns, size_t n)
{
        char dir[] = "/tmp/ember-resolv.XXXXXX", path[64];
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/resolv.conf", dir);
        assert_int_equal(netconf_write_resolv(path, "eth0", domain, dns, n), 0);
        char *text = NULL;
        size_t len;
        assert_int_equal(read_file_all(path, 4096, &text, &len), 0);
        unlink(path);
        rmdir(dir); /* fails if a temporary file was left behind */
        assert_int_equal(access(dir, F_OK), -1);
        return text;
}

static void test_servers_and_domain(void **state)
{
        const uint32_t dns[4] = { 0xc0000235u, 0xc0000236u, 0xc0000237u, 0xc0000238u };
        char *t = write_and_read("example.org", dns, 4);
        assert_non_null(strstr(t, "search example.org\n"));
        assert_non_null(strstr(t, "nameserver 192.0.2.53\nnameserver 192.0.2.54\nnameserver 192.0.2.55\n"));
        assert_null(strstr(t, "192.0.2.56")); /* resolvers read three */
        free(t);
}

static void test_hostile_domain_left_out(void **state)
{
        const uint32_t dns[1] = { 0xc0000235u };
        static const char *const bad[] = { "evil.org\nnameserver 203.0.113.1", "a b", "x;rm", "" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char *t = write_and_read(bad[i], dns, 1);
                assert_null(strstr(t, "search"));
                assert_null(strstr(t, "203.0.113.1"));
                assert_non_null(strstr(t, "nameserver 192.0.2.53\n"));
                free(t);
        }
}

static void test_name_ok(void **state)
{
        assert_true(netconf_name_ok("node-1.example_lab.org"));
        assert_false(netconf_name_ok(NULL));
        assert_false(netconf_name_ok(""));
        assert_false(netconf_name_ok("tab\there"));
        assert_false(netconf_name_ok("ünïcode"));
        char longname[300];
        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        assert_false(netconf_name_ok(longname));
}

static void test_unwritable(void **state)
{
        const uint32_t dns[1] = { 0xc0000235u };
        assert_int_equal(netconf_write_resolv("/nonexistent-dir/resolv.conf", "eth0", NULL, dns, 1), -ENOENT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_servers_and_domain),
                cmocka_unit_test(test_hostile_domain_left_out),
                cmocka_unit_test(test_name_ok),
                cmocka_unit_test(test_unwritable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
