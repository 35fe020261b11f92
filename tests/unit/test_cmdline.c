/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cmdline.h"
#include "util.h"

static struct cmdline split_ok(const char *s)
{
        struct cmdline c = { 0 };
        assert_int_equal(cmdline_split(s, strlen(s), &c), 0);
        return c;
}

static void test_split_plain(void **state)
{
        struct cmdline c = split_ok("  console=ttyS0  quiet\tember.debug ro=  ");
        assert_int_equal(c.n, 4);
        assert_string_equal(c.params[0].key, "console");
        assert_string_equal(c.params[0].value, "ttyS0");
        assert_string_equal(c.params[1].key, "quiet");
        assert_null(c.params[1].value);
        assert_string_equal(c.params[2].key, "ember.debug");
        assert_string_equal(c.params[3].key, "ro");
        assert_string_equal(c.params[3].value, "");
        cmdline_free(&c);
}

/* The kernel's next_arg(): quotes group blanks and are stripped around the
 * value or around the whole parameter. */
static void test_split_quotes(void **state)
{
        struct cmdline c = split_ok("a=\"x y\" \"b=1 2\" c=\"unterminated d=4");
        assert_int_equal(c.n, 3);
        assert_string_equal(c.params[0].key, "a");
        assert_string_equal(c.params[0].value, "x y");
        assert_string_equal(c.params[1].key, "b");
        assert_string_equal(c.params[1].value, "1 2");
        assert_string_equal(c.params[2].key, "c");
        assert_string_equal(c.params[2].value, "unterminated d=4");
        cmdline_free(&c);
}

static void test_split_double_dash(void **state)
{
        struct cmdline c = split_ok("a=1 -- init-arg=2");
        assert_int_equal(c.n, 1);
        assert_string_equal(c.params[0].key, "a");
        cmdline_free(&c);
}

static void test_split_limits(void **state)
{
        struct cmdline c = { 0 };
        char *big = malloc(CMDLINE_MAX + 2);
        assert_non_null(big);
        memset(big, 'a', CMDLINE_MAX + 1);
        big[CMDLINE_MAX + 1] = '\0';
        assert_int_equal(cmdline_split(big, CMDLINE_MAX + 1, &c), -E2BIG);
        assert_null(c.params);
        /* too many parameters */
        for (size_t i = 0; i < CMDLINE_MAX; i += 2) {
                big[i] = 'x';
                big[i + 1] = ' ';
        }
        big[CMDLINE_MAX] = '\0';
        assert_int_equal(cmdline_split(big, CMDLINE_MAX, &c), -E2BIG);
        assert_null(c.params);
        free(big);
        /* an embedded NUL ends the text */
        static const char nul[] = "a=1\0b=2";
        c = (struct cmdline){ 0 };
        assert_int_equal(cmdline_split(nul, sizeof(nul) - 1, &c), 0);
        assert_int_equal(c.n, 1);
        cmdline_free(&c);
}

static int apply(const char *s, struct ember_config *cfg, struct diag_list *d, bool debug_image)
{
        struct cmdline c = split_ok(s);
        config_init(cfg);
        *d = (struct diag_list){ .n = 0 };
        int r = config_apply_cmdline(cfg, &c, debug_image, d);
        cmdline_free(&c);
        return r;
}

static bool has_diag(const struct diag_list *d, enum diag_level lvl, const char *needle)
{
        for (size_t i = 0; i < d->n; i++)
                if (d->items[i].level == lvl && strstr(d->items[i].msg, needle))
                        return true;
        return false;
}

static void test_config_values(void **state)
{
        struct ember_config cfg;
        struct diag_list d;
        assert_int_equal(apply("ember.attest_url=https://10.0.2.2:8443/ ember.boot-url=http://10.0.2.2/b "
                               "ember.ifname=eth0 BOOTIF=01-52-54-00-12-34-56 ember.ready_timeout=600 "
                               "ember.stop_after=modules ember.root_size=2G ember.watchdog=30 ember.debug "
                               "ember.rke2_console ip=dhcp vlan=eth0.42:eth0 ember.backoff=4,40",
                               &cfg, &d, false),
                         0);
        assert_string_equal(cfg.attest_url, "https://10.0.2.2:8443/");
        assert_string_equal(cfg.boot_url, "http://10.0.2.2/b");
        assert_string_equal(cfg.ifname, "eth0");
        assert_true(cfg.have_bootif);
        assert_int_equal(cfg.bootif[0], 0x52);
        assert_int_equal(cfg.bootif[5], 0x56);
        assert_int_equal(cfg.ready_timeout_s, 600);
        assert_int_equal(cfg.stop_after, STAGE_MODULES);
        assert_int_equal(cfg.root_size_kind, SIZE_BYTES);
        assert_int_equal(cfg.root_size, 2ULL << 30);
        assert_int_equal(cfg.watchdog_s, 30);
        assert_int_equal(cfg.backoff_base_s, 4);
        assert_int_equal(cfg.backoff_cap_s, 40);
        assert_true(cfg.debug);
        assert_true(cfg.rke2_console);
        assert_string_equal(cfg.ip, "dhcp");
        assert_string_equal(cfg.vlan, "eth0.42:eth0");
        assert_int_equal(d.n, 0);
        config_free(&cfg);
}

/* Each invalid value is reported with its key and reason, and the default
 * stays in place. */
static void test_config_invalid(void **state)
{
        static const struct {
                const char *arg, *needle;
        } cases[] = {
                { "ember.attest_url=http://plain", "ember.attest_url=http://plain: must be an https:// URL" },
                { "ember.attest_url=", "ember.attest_url: missing value" },
                { "ember.attest_url=https://", "must be an https:// URL" },
                { "ember.boot_url=ftp://x", "ember.boot_url=ftp://x" },
                { "ember.ifname=../etc", "not a valid interface name" },
                { "ember.ifname=abcdefghijklmnop", "not a valid interface name" },
                { "BOOTIF=52-54-00-12-34-56", "expected 01-aa-bb-cc-dd-ee-ff" },
                { "BOOTIF=06-52-54-00-12-34-56", "only hardware type 01" },
                { "BOOTIF=01-52-54-00-12-34-5z", "expected 01-aa-bb-cc-dd-ee-ff" },
                { "ember.ready_timeout=5", "from 10 to 86400" },
                { "ember.ready_timeout=12x", "from 10 to 86400" },
                { "ember.ready_timeout=99999999999999999999", "from 10 to 86400" },
                { "ember.stop_after=nowhere", "not a stage name" },
                { "ember.root_size=95%", "10%-90%" },
                { "ember.root_size=1M", "at least 64M" },
                { "ember.root_size=12T", "10%-90%" },
                { "ember.debug=yes", "takes no value" },
                { "ember.rke2_console=on", "takes no value" },
                { "ember.watchdog=1", "from 2 to 600" },
                { "ember.backoff=0", "BASE from 1 to 3600" },
                { "ember.backoff=10,5", "CAP from BASE to 86400" },
                { "ember.backoff=10,", "CAP from BASE to 86400" },
                { "ember.backoff=,10", "BASE from 1 to 3600" },
                { "ember.backoff=99999999999999999999,1", "expected BASE[,CAP]" },
                { "\"ember.attest_url=https://a b\"", "blanks or control characters" },
                { "vlan=eth0:eth0", "vlan=eth0:eth0: expected <name>:<parent>" },
                { "ip=192.0.2.7::198.51.100.1:255.255.255.0:::off", "ip=192.0.2.7::198.51.100.1:255.255.255.0:::off: gateway outside" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct ember_config cfg;
                struct diag_list d;
                int r = apply(cases[i].arg, &cfg, &d, false);
                if (r != 1 || !has_diag(&d, DIAG_ERR, cases[i].needle))
                        fail_msg("%s: r=%d, first diag '%s'", cases[i].arg, r, d.n ? d.items[0].msg : "");
                assert_null(cfg.boot_url);
                assert_null(cfg.ifname);
                assert_false(cfg.have_bootif);
                assert_int_equal(cfg.ready_timeout_s, 900);
                assert_int_equal(cfg.backoff_base_s, 10);
                assert_int_equal(cfg.backoff_cap_s, 600);
                assert_int_equal(cfg.stop_after, _STAGE_INVALID);
                assert_int_equal(cfg.root_size, 50);
                config_free(&cfg);
        }
}

static void test_config_warnings(void **state)
{
        struct ember_config cfg;
        struct diag_list d;
        assert_int_equal(apply("ember.frobnicate=1 ember.ready_timeout=60 ember.ready_timeout=70 "
                               "ember.debug_hang_after=modules other.key=1",
                               &cfg, &d, false),
                         0);
        assert_true(has_diag(&d, DIAG_WARN, "unknown parameter ember.frobnicate, ignoring"));
        assert_true(has_diag(&d, DIAG_WARN, "ember.ready_timeout given more than once"));
        assert_true(has_diag(&d, DIAG_WARN, "only honoured by debug images"));
        assert_true(has_diag(&d, DIAG_WARN, "ember.attest_url is not set"));
        assert_false(has_diag(&d, DIAG_WARN, "other.key"));
        assert_int_equal(cfg.ready_timeout_s, 70);
        /* a production image never takes a debug switch */
        assert_int_equal(cfg.debug_hang_after, _STAGE_INVALID);
        config_free(&cfg);

        assert_int_equal(apply("ember.debug_hang_after=modules", &cfg, &d, true), 0);
        assert_int_equal(cfg.debug_hang_after, STAGE_MODULES);
        config_free(&cfg);
}

static void test_unknown_key_escaped(void **state)
{
        struct ember_config cfg;
        struct diag_list d;
        assert_int_equal(apply("ember.\x1b[2Jx=1", &cfg, &d, false), 0);
        assert_true(has_diag(&d, DIAG_WARN, "ember.\\x1b[2Jx"));
        config_free(&cfg);
}

static void test_parse_size(void **state)
{
        enum size_kind k;
        uint64_t v;
        assert_int_equal(parse_size("75%", &k, &v), 0);
        assert_int_equal(k, SIZE_PERCENT);
        assert_int_equal(v, 75);
        assert_int_equal(parse_size("512M", &k, &v), 0);
        assert_int_equal(v, 512ULL << 20);
        assert_int_equal(parse_size("3k", &k, &v), 0);
        assert_int_equal(v, 3072);
        assert_int_equal(parse_size("101%", &k, &v), -ERANGE);
        assert_int_equal(parse_size("0", &k, &v), -EINVAL);
        assert_int_equal(parse_size("-1G", &k, &v), -EINVAL);
        assert_int_equal(parse_size("1GB", &k, &v), -EINVAL);
        assert_int_equal(parse_size("99999999999999999G", &k, &v), -ERANGE);
}

static void test_config_json(void **state)
{
        struct ember_config cfg;
        struct diag_list d;
        apply("ember.stop_after=rootfs", &cfg, &d, false);
        char *j = config_to_json(&cfg, true);
        assert_non_null(j);
        assert_non_null(strstr(j, "\"stop_after\": \"rootfs\""));
        assert_non_null(strstr(j, "\"bootif\": null"));
        free(j);
        config_free(&cfg);
}

static void test_proxy_and_acd(void **state)
{
        struct ember_config cfg;
        struct diag_list d;
        assert_int_equal(apply("ember.proxy=http://ops:s3cret@proxy.example:3128/ ember.acd=rfc5227", &cfg, &d, false), 0);
        assert_string_equal(cfg.proxy, "http://ops:s3cret@proxy.example:3128/");
        assert_int_equal(cfg.acd, ACD_MODE_RFC5227);
        char *j = config_to_json(&cfg, false);
        assert_non_null(j);
        /* the password never reaches the settings line on the console */
        assert_null(strstr(j, "s3cret"));
        assert_non_null(strstr(j, "\"proxy\":\"http://***@proxy.example:3128/\""));
        assert_non_null(strstr(j, "\"acd\":\"rfc5227\""));
        free(j);
        config_free(&cfg);

        assert_int_equal(apply("ember.proxy=https://proxy:3128 ember.acd=sometimes", &cfg, &d, false), 2);
        assert_null(cfg.proxy);
        assert_int_equal(cfg.acd, ACD_MODE_FAST);
        assert_true(has_diag(&d, DIAG_ERR, "ember.proxy"));
        assert_true(has_diag(&d, DIAG_ERR, "expected fast, rfc5227 or off"));
        config_free(&cfg);
}

static void test_url_redact(void **state)
{
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "http://proxy:3128", "http://proxy:3128" },
                { "http://u:p@proxy:3128", "http://***@proxy:3128" },
                { "http://u:p@w@proxy:3128/x@y", "http://***@proxy:3128/x@y" },
                { "https://h/path?q=a@b", "https://h/path?q=a@b" },
                { "u:p@host", "***@host" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *r = url_redact(cases[i].in);
                assert_non_null(r);
                assert_string_equal(r, cases[i].out);
                free(r);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_split_plain),      cmocka_unit_test(test_split_quotes),
                cmocka_unit_test(test_split_double_dash), cmocka_unit_test(test_split_limits),
                cmocka_unit_test(test_config_values),    cmocka_unit_test(test_config_invalid),
                cmocka_unit_test(test_config_warnings),  cmocka_unit_test(test_unknown_key_escaped),
                cmocka_unit_test(test_parse_size),       cmocka_unit_test(test_config_json),
                cmocka_unit_test(test_proxy_and_acd),    cmocka_unit_test(test_url_redact),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
