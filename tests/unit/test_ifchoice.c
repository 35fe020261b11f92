/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ifchoice.h"
#include "util.h"

static const struct link_info links[] = {
        { .name = "lo", .loopback = true, .carrier = true },
        { .name = "enp1s0", .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x01 } },
        { .name = "enp2s0", .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x02 }, .carrier = true },
        { .name = "enp3s0", .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x03 }, .carrier = true },
};

static void test_bootif_wins(void **state)
{
        enum if_reason why;
        const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x01 };
        /* BOOTIF beats ember.ifname and does not need carrier yet */
        assert_int_equal(if_choose(links, 4, mac, "enp3s0", &why), 1);
        assert_int_equal(why, IF_BY_BOOTIF);
        const uint8_t absent[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x09 };
        why = IF_BY_NAME;
        assert_int_equal(if_choose(links, 4, absent, NULL, &why), -ENODEV);
        assert_int_equal(why, IF_BY_NAME); /* untouched on failure */
}

static void test_name_then_carrier(void **state)
{
        enum if_reason why;
        assert_int_equal(if_choose(links, 4, NULL, "enp3s0", &why), 3);
        assert_int_equal(why, IF_BY_NAME);
        assert_int_equal(if_choose(links, 4, NULL, "eth9", &why), -ENODEV);
        assert_int_equal(if_choose(links, 4, NULL, NULL, &why), 2);
        assert_int_equal(why, IF_BY_CARRIER);
        /* links but no carrier yet: wait; only loopback: nothing to wait for */
        assert_int_equal(if_choose(links, 2, NULL, NULL, &why), -EAGAIN);
        assert_int_equal(if_choose(links, 1, NULL, NULL, &why), -ENODEV);
}

static void test_vlan(void **state)
{
        struct vlan_spec v;
        assert_int_equal(vlan_parse("eth0.42:eth0", &v), 0);
        assert_string_equal(v.name, "eth0.42");
        assert_string_equal(v.parent, "eth0");
        assert_int_equal(v.id, 42);
        assert_int_equal(vlan_parse("vlan7:enp1s0", &v), 0);
        assert_int_equal(v.id, 7);
        static const char *const bad[] = { "eth0.0:eth0", "eth0.4095:eth0", "eth0:eth0", "mgmt:eth0",
                                           "eth0.42", "eth0.42:", ":eth0", "a:b:c", "eth0.4x:eth0",
                                           "averyveryverylong.1:eth0", "eth0.42:a/b", NULL };
        for (size_t i = 0; bad[i]; i++) {
                memset(&v, 0xa5, sizeof(v));
                if (vlan_parse(bad[i], &v) != -EINVAL)
                        fail_msg("%s accepted", bad[i]);
                assert_int_equal(v.id, 0xa5a5);
        }
        assert_int_equal(vlan_parse(NULL, &v), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bootif_wins),
                cmocka_unit_test(test_name_then_carrier),
                cmocka_unit_test(test_vlan),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
