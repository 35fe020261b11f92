/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ipconfig.h"
#include "util.h"

#define A(a, b, c, d) (((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

static void test_static_full(void **state)
{
        struct ip_config c;
        char why[128] = "";
        assert_int_equal(ip_config_parse("192.0.2.10:192.0.2.1:192.0.2.1:255.255.255.0:node-1.example:eth0:off:"
                                         "192.0.2.53:192.0.2.54",
                                         &c, why, sizeof(why)),
                         0);
        assert_int_equal(c.method, IP_METHOD_STATIC);
        assert_int_equal(c.client, A(192, 0, 2, 10));
        assert_int_equal(c.gateway, A(192, 0, 2, 1));
        assert_int_equal(c.netmask, A(255, 255, 255, 0));
        assert_int_equal(c.prefix, 24);
        assert_string_equal(c.hostname, "node-1.example");
        assert_string_equal(c.device, "eth0");
        assert_int_equal(c.dns[0], A(192, 0, 2, 53));
        assert_int_equal(c.dns[1], A(192, 0, 2, 54));
}

static void test_short_forms(void **state)
{
        struct ip_config c;
        char why[128];
        assert_int_equal(ip_config_parse("dhcp", &c, why, sizeof(why)), 0);
        assert_int_equal(c.method, IP_METHOD_DHCP);
        assert_int_equal(ip_config_parse(":::::eth1:dhcp", &c, why, sizeof(why)), 0);
        assert_int_equal(c.method, IP_METHOD_DHCP);
        assert_string_equal(c.device, "eth1");
        /* a client address with the autoconf field left out is static */
        assert_int_equal(ip_config_parse("192.0.2.7::192.0.2.1:255.255.255.0", &c, why, sizeof(why)), 0);
        assert_int_equal(c.method, IP_METHOD_STATIC);
        assert_int_equal(c.prefix, 24);
}

static void test_rejected(void **state)
{
        static const struct {
                const char *in, *needle;
        } cases[] = {
                { "bogus", "unknown method 'bogus'" },
                { "off", "a lone method must be dhcp" },
                { "192.0.2.300::::::off", "client address '192.0.2.300'" },
                { "192.0.2.7::192.0.2.1:255.0.255.0:::off", "not contiguous" },
                { "192.0.2.7::198.51.100.1:255.255.255.0:::off", "gateway outside" },
                { "::::::off", "without a client address" },
                { "192.0.2.7::::bad_host:::", "hostname" },
                { "192.0.2.7:::::a/b::", "device" },
                { "192.0.2.7:::::averyveryverylongname::", "device" },
                { "192.0.2.7::::::rarp", "unknown autoconf method 'rarp'" },
                { "192.0.2.7::::::off:8.8.8.x", "dns0" },
                { "1:2:3:4:5:6:7:8:9:10", "more than 9" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct ip_config c;
                memset(&c, 0xa5, sizeof(c));
                char why[128] = "";
                int r = ip_config_parse(cases[i].in, &c, why, sizeof(why));
                if (r != -EINVAL || !strstr(why, cases[i].needle))
                        fail_msg("%s: r=%d why='%s'", cases[i].in, r, why);
                for (size_t b = 0; b < sizeof(c); b++)
                        assert_int_equal(((uint8_t *)&c)[b], 0xa5); /* untouched */
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_static_full),
                cmocka_unit_test(test_short_forms),
                cmocka_unit_test(test_rejected),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
