/* SPDX-License-Identifier: Apache-2.0 */
/* Reference values in Trustee's JSON shape, one image per document, and
 * the policy rule that values of two boot paths never combine. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "refvalues.h"

#define A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define E "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define LATER "2099-01-01T00:00:00Z"
#define NOW 1795000000LL /* 2026-11-18 */

/* Two boot paths (ESP and network): PCR 4 and 9 differ per path, PCR 7 is common. */
static const char two_paths[] =
        "[{\"version\":\"0.1.0\",\"name\":\"tpm_pcr4\",\"expiration\":\"" LATER "\",\"value\":[\"" A "\",\"" B "\"]},"
        " {\"version\":\"0.1.0\",\"name\":\"tpm_pcr7\",\"expiration\":\"" LATER "\",\"value\":[\"" E "\"]},"
        " {\"version\":\"0.1.0\",\"name\":\"tpm_pcr9\",\"expiration\":\"" LATER "\",\"value\":[\"" C "\",\"" D "\"]}]";

static void set(struct ref_pcrs *p, int pcr, const char *hexv)
{
        for (int i = 0; i < REF_DIGEST; i++) {
                unsigned v;
                sscanf(hexv + 2 * i, "%2x", &v);
                p->value[pcr][i] = (uint8_t)v;
        }
        p->mask |= 1u << pcr;
}

static struct ref_image *parse_ok(const char *doc)
{
        struct ref_image *img = calloc(1, sizeof(*img));
        char why[200] = "";
        assert_non_null(img);
        int r = ref_parse(doc, strlen(doc), img, why, sizeof(why));
        if (r < 0)
                fail_msg("ref_parse: %s", why);
        return img;
}

static void test_paths_never_combine(void **state)
{
        struct ref_image *img = parse_ok(two_paths);
        char why[200];
        assert_int_equal(img->n_paths, 2);
        assert_int_equal(ref_selection(img), (1u << 4) | (1u << 7) | (1u << 9));

        struct ref_pcrs esp = { 0 }, net = { 0 }, mixed = { 0 };
        set(&esp, 4, A), set(&esp, 7, E), set(&esp, 9, C);
        set(&net, 4, B), set(&net, 7, E), set(&net, 9, D);
        set(&mixed, 4, A), set(&mixed, 7, E), set(&mixed, 9, D); /* PCR 4 of path 0, PCR 9 of path 1 */
        assert_int_equal(ref_match(img, &esp, NOW, why, sizeof(why)), 0);
        assert_int_equal(ref_match(img, &net, NOW, why, sizeof(why)), 1);
        assert_int_equal(ref_match(img, &mixed, NOW, why, sizeof(why)), -ENOENT);
        assert_non_null(strstr(why, "PCR 9: no approved boot path"));

        /* a PCR the path fixes but the node did not prove */
        struct ref_pcrs partial = esp;
        partial.mask &= ~(1u << 7);
        assert_int_equal(ref_match(img, &partial, NOW, why, sizeof(why)), -ENOENT);
        assert_non_null(strstr(why, "PCR 7"));
        free(img);
}

static void test_expired(void **state)
{
        static const char doc[] = "[{\"version\":\"0.1.0\",\"name\":\"tpm_pcr4\",\"expiration\":\"2026-11-27T18:05:14Z\",\"value\":[\"" A "\"]}]";
        struct ref_image *img = parse_ok(doc);
        struct ref_pcrs p = { 0 };
        char why[200];
        int64_t t;
        set(&p, 4, A);
        assert_int_equal(ref_parse_time("2026-11-27T18:05:14Z", &t), 0);
        assert_int_equal(ref_match(img, &p, t - 1, why, sizeof(why)), 0);
        assert_int_equal(ref_match(img, &p, t, why, sizeof(why)), -ENOENT);
        assert_non_null(strstr(why, "expired"));
        free(img);
}

static void test_round_trip(void **state)
{
        struct ref_image *img = parse_ok(two_paths);
        char *out = ref_export(img);
        assert_non_null(out);
        assert_non_null(strstr(out, "\"name\": \"tpm_pcr7\""));
        assert_non_null(strstr(out, "\"expiration\": \"2099-01-01T00:00:00Z\""));
        struct ref_image *again = parse_ok(out);
        assert_int_equal(again->n_paths, img->n_paths);
        assert_memory_equal(again->paths, img->paths, sizeof(img->paths[0]) * img->n_paths);
        free(out);
        free(again);
        free(img);
}

static void expect_refused(const char *doc, int err, const char *needle)
{
        struct ref_image *img = calloc(1, sizeof(*img));
        char why[300] = "";
        assert_non_null(img);
        memset(img, 0x5a, sizeof(*img));
        int r = ref_parse(doc, strlen(doc), img, why, sizeof(why));
        if (r != err || !strstr(why, needle))
                fail_msg("%s: got %d '%s', expected %d '%s'", doc, r, why, err, needle);
        for (size_t i = 0; i < sizeof(*img); i++) /* untouched on failure */
                assert_int_equal(((unsigned char *)img)[i], 0x5a);
        free(img);
}

#define ENTRY(n, e, v) "{\"version\":\"0.1.0\",\"name\":\"" n "\",\"expiration\":\"" e "\",\"value\":" v "}"

static void test_refusals(void **state)
{
        expect_refused("", -EBADMSG, "not JSON");
        expect_refused("{}", -EBADMSG, "array");
        expect_refused("[]", -EBADMSG, "non-empty");
        expect_refused("[" ENTRY("tpm_pcr4", LATER, "[\"" A "\"]") "] x", -EBADMSG, "trailing");
        expect_refused("[" ENTRY("tpm_pcr10", LATER, "[\"" A "\"]") "]", -EBADMSG, "PCR 10");
        expect_refused("[" ENTRY("tpm_pcr24", LATER, "[\"" A "\"]") "]", -EBADMSG, "tpm_pcr0");
        expect_refused("[" ENTRY("tpm_pcr04", LATER, "[\"" A "\"]") "]", -EBADMSG, "tpm_pcr0");
        expect_refused("[" ENTRY("pcr4", LATER, "[\"" A "\"]") "]", -EBADMSG, "name");
        expect_refused("[" ENTRY("tpm_pcr4", "tomorrow", "[\"" A "\"]") "]", -EBADMSG, "RFC 3339");
        expect_refused("[" ENTRY("tpm_pcr4", "2026-02-29T00:00:00Z", "[\"" A "\"]") "]", -EBADMSG, "RFC 3339");
        expect_refused("[" ENTRY("tpm_pcr4", LATER, "[]") "]", -EBADMSG, "no values");
        expect_refused("[" ENTRY("tpm_pcr4", LATER, "[\"abc\"]") "]", -EBADMSG, "64 hex");
        expect_refused("[" ENTRY("tpm_pcr4", LATER, "[\"" "g" A "\"]") "]", -EBADMSG, "64 hex");
        expect_refused("[" ENTRY("tpm_pcr4", LATER, "[42]") "]", -EBADMSG, "64 hex");
        expect_refused("[" ENTRY("tpm_pcr4", LATER, "[\"" A "\"]") "," ENTRY("tpm_pcr4", LATER, "[\"" B "\"]") "]",
                       -EBADMSG, "twice");
        expect_refused("[" ENTRY("tpm_pcr4", LATER, "[\"" A "\",\"" B "\"]") "," ENTRY("tpm_pcr9", LATER,
                       "[\"" A "\",\"" B "\",\"" C "\"]") "]", -EBADMSG, "one value per boot path");
        expect_refused("[{\"version\":\"9.9\",\"name\":\"tpm_pcr4\",\"expiration\":\"" LATER "\",\"value\":[\"" A "\"]}]",
                       -EBADMSG, "version");
        /* more boot paths than Ember keeps */
        char big[4096] = "[{\"name\":\"tpm_pcr4\",\"expiration\":\"" LATER "\",\"value\":[";
        for (int i = 0; i <= REF_MAX_PATHS; i++)
                strcat(big, i ? ",\"" A "\"" : "\"" A "\"");
        strcat(big, "]}]");
        expect_refused(big, -E2BIG, "at most");
}

static void test_time(void **state)
{
        int64_t t;
        assert_int_equal(ref_parse_time("1970-01-01T00:00:00Z", &t), 0);
        assert_int_equal(t, 0);
        assert_int_equal(ref_parse_time("2000-03-01T00:00:00Z", &t), 0);
        assert_int_equal(t, 951868800);
        assert_int_equal(ref_parse_time("2026-11-27T18:05:14.123Z", &t), 0);
        assert_int_equal(t, 1795802714);
        assert_int_equal(ref_parse_time("2026-11-27T18:05:14+01:00", &t), -EINVAL);
        assert_int_equal(ref_parse_time("2026-13-01T00:00:00Z", &t), -EINVAL);
        assert_int_equal(ref_parse_time("2026-11-27T18:05:14.Z", &t), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_paths_never_combine),
                cmocka_unit_test(test_expired),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_refusals),
                cmocka_unit_test(test_time),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
