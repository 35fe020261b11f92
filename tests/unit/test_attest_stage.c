/* SPDX-License-Identifier: Apache-2.0 */
/* The attest stage's own parts: the image's pin file, what it leaves for
 * the overlay stage, and every way it refuses before touching a TPM. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ctr_drbg.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "attest_stage.h"
#include "fileio.h"
#include "pins.h"

#define PIN_A "sha256//1iLbHazoRTUWNMHnoqLajEwIE+d16KNJ2NgzPR4FT2Y="
#define PIN_B "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

static int parse(const char *text, char **ret, char *why)
{
        return attest_pins_parse(text, strlen(text), ret, why, 200);
}

static void test_pins_good(void **state)
{
        char why[200] = "", *p = NULL;
        assert_int_equal(parse(PIN_A, &p, why), 0);
        assert_string_equal(p, PIN_A);
        free(p);
        assert_int_equal(parse("# pins\n\n  " PIN_A "  \r\n#" PIN_B "\n\t" PIN_B "\n", &p, why), 0);
        assert_string_equal(p, PIN_A ";" PIN_B);
        free(p);
}

static void test_pins_bad(void **state)
{
        static const char *const bad[] = {
                "sha1//1iLbHazoRTUWNMHnoqLajEwIE+d16KNJ2NgzPR4FT2Y=",
                "sha256//1iLbHazoRTUWNMHnoqLajEwIE+d16KNJ2NgzPR4FT2Y",   /* 43 characters */
                "sha256//1iLbHazoRTUWNMHnoqLajEwIE+d16KNJ2NgzPR4FT2Y==", /* 45 */
                "sha256//1iLbHazoRTUWNMHnoqLajEwIE+d16KN=2NgzPR4FT2Y=",  /* '=' inside */
                "sha256//1iLbHazoRTUWNMHnoqLajEwIE+d16KNJ2NgzPR4FT2Y;",
                "sha256//1iLbHazoRTUWNMHnoqLajEwI d16KNJ2NgzPR4FT2YA=",
                "sha256//",
                PIN_A ";" PIN_B, /* one a line, not curl's list */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char why[200] = "", *p = NULL;
                assert_int_equal(parse(bad[i], &p, why), -EINVAL);
                assert_null(p);
                assert_non_null(strstr(why, "line 1: not a pin"));
        }
        char why[200] = "", *p = NULL;
        assert_int_equal(parse(PIN_A "\n\nsha256//x\n", &p, why), -EINVAL);
        assert_non_null(strstr(why, "line 3"));
        assert_int_equal(parse("", &p, why), -ENOENT);
        assert_int_equal(parse("# only a comment\n\n", &p, why), -ENOENT);
        assert_null(p);
}

static void test_pins_limits(void **state)
{
        char text[2048] = "", why[200], *p = NULL;
        for (int i = 0; i < ATTEST_PINS_MAX; i++)
                strcat(text, PIN_B "\n");
        assert_int_equal(parse(text, &p, why), 0);
        assert_int_equal(strlen(p), ATTEST_PINS_MAX * strlen(PIN_B) + ATTEST_PINS_MAX - 1);
        free(p);
        p = NULL;
        strcat(text, PIN_A "\n");
        assert_int_equal(parse(text, &p, why), -E2BIG);
        assert_null(p);
        /* not NUL-terminated: the length is what counts */
        assert_int_equal(attest_pins_parse(PIN_A "garbage", strlen(PIN_A), &p, why, sizeof(why)), 0);
        assert_string_equal(p, PIN_A);
        free(p);
        /* every truncation of a good pin is refused, none is read past */
        for (size_t n = 1; n < strlen(PIN_A); n++) {
                char *cut = malloc(n);
                memcpy(cut, PIN_A, n);
                p = NULL;
                assert_int_equal(attest_pins_parse(cut, n, &p, why, sizeof(why)), -EINVAL);
                assert_null(p);
                free(cut);
        }
}

static void make_key(mbedtls_pk_context *pk)
{
        mbedtls_entropy_context ent;
        mbedtls_ctr_drbg_context drbg;
        mbedtls_entropy_init(&ent);
        mbedtls_ctr_drbg_init(&drbg);
        assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0), 0);
        mbedtls_pk_init(pk);
        assert_int_equal(mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
        assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, &drbg), 0);
        mbedtls_ctr_drbg_free(&drbg);
        mbedtls_entropy_free(&ent);
}

static mode_t mode_of(const char *dir, const char *name)
{
        char path[700];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(lstat(path, &st), 0);
        return st.st_mode & 07777;
}

static void test_state_write(void **state)
{
        char base[] = "/tmp/ember-test-attest.XXXXXX", dir[600], path[700];
        assert_non_null(mkdtemp(base));
        snprintf(dir, sizeof(dir), "%s/attest", base);
        struct attest_result r = { .expires = 1800000000, .ek_type = ATTEST_EK_ECC_P384, .ek_cert_len = 700,
                                   .total_ms = 1234 };
        strcpy(r.machine, "93a03787-2113-4193-aa61-b677dcd06849");
        strcpy(r.image, "dbda1e4e-ffb2-47cd-a013-a36e0ab880d6");
        strcpy(r.image_name, "ember-0.1.0-site");
        r.step_ms[ATTEST_STEP_QUOTE] = 14;
        make_key(&r.e);

        assert_int_equal(attest_state_write(dir, &r), -EINVAL); /* no credential */
        r.credential = strdup("eyJtYWNoaW5lIjoi.c2lnbmF0dXJl");
        assert_int_equal(attest_state_write(dir, &r), 0);
        assert_int_equal(mode_of(base, "attest"), 0700);
        assert_int_equal(mode_of(dir, "credential"), 0600);
        assert_int_equal(mode_of(dir, "e.key"), 0600);
        assert_int_equal(mode_of(dir, "result.json"), 0644);

        char *text = NULL;
        size_t len = 0;
        snprintf(path, sizeof(path), "%s/credential", dir);
        assert_int_equal(read_file_all(path, 4096, &text, &len), 0);
        assert_string_equal(text, r.credential);
        free(text);

        /* E reads back as the same key */
        mbedtls_pk_context back;
        mbedtls_pk_init(&back);
        snprintf(path, sizeof(path), "%s/e.key", dir);
        assert_int_equal(mbedtls_pk_parse_keyfile(&back, path, NULL), 0);
        assert_int_equal(mbedtls_mpi_cmp_mpi(&mbedtls_pk_ec(back)->d, &mbedtls_pk_ec(r.e)->d), 0);
        mbedtls_pk_free(&back);

        snprintf(path, sizeof(path), "%s/result.json", dir);
        assert_int_equal(read_file_all(path, 65536, &text, &len), 0);
        json_object *o = json_tokener_parse(text);
        assert_non_null(o);
        json_object *v, *steps;
        assert_true(json_object_object_get_ex(o, "machine", &v));
        assert_string_equal(json_object_get_string(v), r.machine);
        assert_true(json_object_object_get_ex(o, "image_name", &v));
        assert_string_equal(json_object_get_string(v), "ember-0.1.0-site");
        assert_true(json_object_object_get_ex(o, "ek", &v));
        assert_string_equal(json_object_get_string(v), "ecc384");
        assert_true(json_object_object_get_ex(o, "expires", &v));
        assert_int_equal(json_object_get_int64(v), 1800000000);
        assert_true(json_object_object_get_ex(o, "step_ms", &steps));
        assert_true(json_object_object_get_ex(steps, "quote", &v));
        assert_int_equal(json_object_get_int(v), 14);
        assert_null(strstr(text, r.credential)); /* no secret in the public file */
        assert_null(strstr(text, "PRIVATE"));
        json_object_put(o);
        free(text);

        /* written again: replaced whole, nothing left over */
        assert_int_equal(attest_state_write(dir, &r), 0);
        snprintf(path, sizeof(path), "%s/credential.ember-tmp", dir);
        assert_int_equal(access(path, F_OK), -1);

        attest_result_free(&r);
        char cmd[700];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
        assert_int_equal(system(cmd), 0);
}

static void test_retryable(void **state)
{
        assert_true(attest_error_retryable(-ECONNREFUSED));
        assert_true(attest_error_retryable(-ETIMEDOUT));
        assert_true(attest_error_retryable(-EHOSTUNREACH));
        assert_true(attest_error_retryable(-ECONNABORTED));
        /* verdicts and local faults are not retried */
        assert_false(attest_error_retryable(-EPERM));
        assert_false(attest_error_retryable(-EKEYREJECTED));
        assert_false(attest_error_retryable(-EIO));
        assert_false(attest_error_retryable(-EBADMSG));
        assert_false(attest_error_retryable(-EINVAL));
}

static void test_stage_refusals(void **state)
{
        char base[] = "/tmp/ember-test-attest.XXXXXX", pins[600], ca[600], detail[320];
        assert_non_null(mkdtemp(base));
        snprintf(pins, sizeof(pins), "%s/attest.pins", base);
        snprintf(ca, sizeof(ca), "%s/attest-ca.pem", base);
        struct attest_stage_opts o = { .url = NULL, .pins_path = pins, .ca_path = ca, .state_dir = base,
                                       .tpm_device = "/nonexistent/tpmrm0" };

        assert_int_equal(attest_stage_run(&o, detail, sizeof(detail)), -EINVAL);
        assert_non_null(strstr(detail, "ember.attest_url is not set"));

        o.url = "https://10.0.2.2:8443";
        assert_int_equal(attest_stage_run(&o, detail, sizeof(detail)), -ENOKEY);
        assert_non_null(strstr(detail, "the image names no attestation server key"));

        assert_int_equal(write_file_atomic(pins, "# rotated\nsha256//short\n", 24, 0644), 0);
        assert_int_equal(attest_stage_run(&o, detail, sizeof(detail)), -EINVAL);
        assert_non_null(strstr(detail, "attest.pins: line 2: not a pin"));

        assert_int_equal(write_file_atomic(pins, PIN_A "\n", strlen(PIN_A) + 1, 0644), 0);
        assert_int_equal(attest_stage_run(&o, detail, sizeof(detail)), -ENODEV);
        assert_non_null(strstr(detail, "no TPM 2.0: /nonexistent/tpmrm0"));

        /* a CA alone is enough to get as far as the TPM */
        assert_int_equal(unlink(pins), 0);
        assert_int_equal(write_file_atomic(ca, "x", 1, 0644), 0);
        assert_int_equal(attest_stage_run(&o, detail, sizeof(detail)), -ENODEV);

        char cmd[700];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
        assert_int_equal(system(cmd), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pins_good),   cmocka_unit_test(test_pins_bad),
                cmocka_unit_test(test_pins_limits), cmocka_unit_test(test_state_write),
                cmocka_unit_test(test_retryable),   cmocka_unit_test(test_stage_refusals),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
