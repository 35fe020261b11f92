/* SPDX-License-Identifier: Apache-2.0 */
/* efi/manifest.c: the writer and the parser agree byte for byte; hostile,
 * truncated and mistyped release.json is refused with its reason and
 * nothing written; signatures by a pinned key verify (the second of two:
 * key rotation) and no other does (an unpinned key, a changed byte of the
 * manifest or of the signature); signer files of other key types are
 * refused; a file is checked against its entry. The keys are fixed test
 * keys (openssl ecparam -name prime256v1 -genkey), used nowhere else. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/sha256.h>

#include "authenticode.h"
#include "manifest.h"

static const char KEY_A[] =
        "-----BEGIN EC PRIVATE KEY-----\n"
        "MHcCAQEEIEmlWs3rdfbZgZcITVN17X9bpER5X17aP6u0/HOOLaxWoAoGCCqGSM49\n"
        "AwEHoUQDQgAEkQpemE7hlX207k2J7Nc1qzHa0wjUrK/WsTBmtaXU7sU+hzjpfHAU\n"
        "/2rxAvciihkAb7SZEcO/efsF9vRrn1u+qw==\n"
        "-----END EC PRIVATE KEY-----\n";

static const char PUB_A[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEkQpemE7hlX207k2J7Nc1qzHa0wjU\n"
        "rK/WsTBmtaXU7sU+hzjpfHAU/2rxAvciihkAb7SZEcO/efsF9vRrn1u+qw==\n"
        "-----END PUBLIC KEY-----\n";

static const char KEY_B[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/JsKilMSRswHxp8z\n"
        "W5VfRO1n/uerNw+Zt/Z/peyuLJihRANCAASs2VkDvcmUaTL/4RJotNgsniXV1LoQ\n"
        "BZTOcNNvYzOOzRBV4UhAL+3xeLnOU5bcxbD89yHJMrbGMK2d3Zy1y/Fy\n"
        "-----END PRIVATE KEY-----\n";

static const char PUB_B[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAErNlZA73JlGky/+ESaLTYLJ4l1dS6\n"
        "EAWUznDTb2Mzjs0QVeFIQC/t8Xi5zlOW3MWw/PchyTK2xjCtnd2ctcvxcg==\n"
        "-----END PUBLIC KEY-----\n";

static const char KEY_C[] =
        "-----BEGIN EC PRIVATE KEY-----\n"
        "MHcCAQEEIPsgPlmI507BNPSnI7ZMDuDt0alLyJxefkN7vJeCduPFoAoGCCqGSM49\n"
        "AwEHoUQDQgAE0KRZKu/War1ZEbq7+UNl0cIFrY33W78Osfs3eLoeev9+IObi8vFH\n"
        "ZxC++Itm0gVJHBiJ3kNgpXf4s8XVTm3TDg==\n"
        "-----END EC PRIVATE KEY-----\n";

static const char PUB_C[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0KRZKu/War1ZEbq7+UNl0cIFrY33\n"
        "W78Osfs3eLoeev9+IObi8vFHZxC++Itm0gVJHBiJ3kNgpXf4s8XVTm3TDg==\n"
        "-----END PUBLIC KEY-----\n";

static const char PUB_P384[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEhpl6UUzVe5qFpFwTdDug0Sxn3ud6aSZP\n"
        "KnFgJmXo6uxJtRTMVKLeap4ozTo1fBoucJhrL2KhlGP1qxsnCegZ2Zyus3Kwr4nC\n"
        "zdJ8nWQ3RjzotvAGVFKkTB3UCB1s2lGD\n"
        "-----END PUBLIC KEY-----\n";

static const char PUB_RSA[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDWIbCIxbcofXIbzrh4q/B9pUYX\n"
        "QCvP7PNhjt8P7JW20Uu73XFnZGxnl9rLX5pt3H0FMqaTqEwY4dIkVCwu5+UmWPQU\n"
        "hVmehgVBDjXBRl+gfLrkrFUJypmdj2Xncz69NOMgOOfhsWdeaZ0OypG89ASDv5uz\n"
        "UbicoX5hQtlF/HxMUQIDAQAB\n"
        "-----END PUBLIC KEY-----\n";

static const char KEY_P384[] =
        "-----BEGIN EC PRIVATE KEY-----\n"
        "MIGkAgEBBDAELDaQUTTVUfbrAXg3abAW/dlCjwVg07P1TGio+BOW7ghGvhXuidgp\n"
        "xBZ9rCCVBn2gBwYFK4EEACKhZANiAASGmXpRTNV7moWkXBN0O6DRLGfe53ppJk8q\n"
        "cWAmZejq7Em1FMxUot5qnijNOjV8Gi5wmGsvYqGUY/WrGycJ6BnZnK6zcrCvicLN\n"
        "0nydZDdGPOi28AZUUqRMHdQIHWzaUYM=\n"
        "-----END EC PRIVATE KEY-----\n";

/* ---- fixtures ---- */

static void fill(uint8_t d[32], uint8_t first)
{
        for (int i = 0; i < 32; i++)
                d[i] = (uint8_t)(first + i);
}

static struct release_manifest good(void)
{
        struct release_manifest m = { .version = "1.2.0", .created = 1700000000, .n_files = 3 };
        snprintf(m.files[0].name, sizeof(m.files[0].name), "vmlinuz");
        m.files[0].size = 8247232;
        fill(m.files[0].sha256, 0x00);
        m.files[0].has_authenticode = true;
        fill(m.files[0].authenticode, 0x20);
        snprintf(m.files[1].name, sizeof(m.files[1].name), "initrd");
        m.files[1].size = 1;
        fill(m.files[1].sha256, 0x40);
        snprintf(m.files[2].name, sizeof(m.files[2].name), "ipxe-x86_64.efi");
        m.files[2].size = (uint64_t)1 << 40;
        fill(m.files[2].sha256, 0x60);
        m.files[2].has_authenticode = true;
        fill(m.files[2].authenticode, 0x80);
        return m;
}

#define H00 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define H20 "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
#define H40 "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
#define H60 "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
#define H80 "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"

/* docs/release-manifest.md shows these bytes */
static const char GOOD_JSON[] =
        "{\"format\":\"ember-release-1\",\"version\":\"1.2.0\",\"created\":1700000000,\"files\":["
        "{\"name\":\"vmlinuz\",\"size\":8247232,\"sha256\":\"" H00 "\",\"authenticode\":\"" H20 "\"},"
        "{\"name\":\"initrd\",\"size\":1,\"sha256\":\"" H40 "\"},"
        "{\"name\":\"ipxe-x86_64.efi\",\"size\":1099511627776,\"sha256\":\"" H60 "\",\"authenticode\":\"" H80 "\"}"
        "]}\n";

static int parse_str(const char *s, struct release_manifest *m, char *why, size_t whylen)
{
        return manifest_parse((const uint8_t *)s, strlen(s), m, why, whylen);
}

static void assert_parse_refused(const char *json, size_t len, const char *why_part)
{
        struct release_manifest m, untouched;
        char why[300] = "";
        memset(&m, 0xa5, sizeof(m));
        memcpy(&untouched, &m, sizeof(m));
        int r = manifest_parse((const uint8_t *)json, len, &m, why, sizeof(why));
        if (r != -EBADMSG || !strstr(why, why_part))
                fail_msg("%.*s: got %d \"%s\", expected -EBADMSG \"%s\"", (int)(len < 300 ? len : 300), json, r, why,
                         why_part);
        assert_memory_equal(&m, &untouched, sizeof(m));
}

/* GOOD_JSON with the first occurrence of from replaced by to */
static void assert_edit_refused(const char *from, const char *to, const char *why_part)
{
        char buf[4096];
        const char *at = strstr(GOOD_JSON, from);
        assert_non_null(at);
        int n = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - GOOD_JSON), GOOD_JSON, to, at + strlen(from));
        assert_true(n > 0 && (size_t)n < sizeof(buf));
        assert_parse_refused(buf, (size_t)n, why_part);
}

/* ---- writer and parser ---- */

static void test_format_parse(void **state)
{
        struct release_manifest m = good(), back;
        char *json = NULL;
        assert_int_equal(manifest_format(&m, &json), 0);
        assert_string_equal(json, GOOD_JSON);
        assert_int_equal(parse_str(json, &back, NULL, 0), 0);
        assert_memory_equal(&back.files, &m.files, sizeof(m.files[0]) * m.n_files);
        assert_string_equal(back.version, "1.2.0");
        assert_int_equal(back.created, 1700000000);
        assert_int_equal(back.n_files, 3);
        assert_ptr_equal(manifest_file(&back, "initrd"), &back.files[1]);
        assert_null(manifest_file(&back, "INITRD"));
        assert_null(manifest_file(&back, "initrd2"));
        free(json);

        /* the smallest release: vmlinuz and initrd, created at 0 */
        m.n_files = 2;
        m.created = 0;
        snprintf(m.version, sizeof(m.version), "v");
        assert_int_equal(manifest_format(&m, &json), 0);
        assert_int_equal(parse_str(json, &back, NULL, 0), 0);
        free(json);

        /* the writer refuses what the parser would */
        m = good();
        m.files[0].has_authenticode = false;
        assert_int_equal(manifest_format(&m, &json), -EINVAL);
        assert_int_equal(manifest_format(NULL, &json), -EINVAL);
}

/* One edit of good() per case of test_check, and what manifest_check says */
static const char *const check_why[] = {
        "version: empty version",
        "version: version must start",
        "two separators",
        "version",
        "created -1",
        "created 253402300800",
        "0 files",
        "9 files",
        "file 3: empty file name",
        "file 3: file name .hidden starts with a dot",
        "file 3: byte 0x2f at offset 1",
        "byte 0x20",
        "byte 0xc3",
        "file 3: file name longer than 64",
        "file 3: vmlinuz named twice",
        "file 3: InitRD named twice (names ignore case)",
        "no file named vmlinuz",
        "no file named initrd",
        "vmlinuz has no authenticode digest",
        "file initrd: size 0 not in 1..1099511627776",
        "size 1099511627777",
};

static void check_edit(size_t i, struct release_manifest *m)
{
        char *name = m->files[2].name;
        const size_t n = sizeof(m->files[2].name);
        switch (i) {
        case 0: m->version[0] = '\0'; break;
        case 1: snprintf(m->version, sizeof(m->version), "../x"); break;
        case 2: snprintf(m->version, sizeof(m->version), "1..2"); break;
        case 3: memset(m->version, 'a', sizeof(m->version)); break;
        case 4: m->created = -1; break;
        case 5: m->created = MANIFEST_CREATED_MAX + 1; break;
        case 6: m->n_files = 0; break;
        case 7: m->n_files = MANIFEST_FILES_MAX + 1; break;
        case 8: name[0] = '\0'; break;
        case 9: snprintf(name, n, ".hidden"); break;
        case 10: snprintf(name, n, "a/b"); break;
        case 11: snprintf(name, n, "a b"); break;
        case 12: snprintf(name, n, "\xc3\xa9"); break;
        case 13: memset(name, 'a', n); break;
        case 14: snprintf(name, n, "vmlinuz"); break;
        case 15: snprintf(name, n, "InitRD"); break;
        case 16: snprintf(m->files[0].name, n, "linux"); break;
        case 17: snprintf(m->files[1].name, n, "initramfs"); break;
        case 18: m->files[0].has_authenticode = false; break;
        case 19: m->files[1].size = 0; break;
        case 20: m->files[1].size = MANIFEST_SIZE_MAX + 1; break;
        default: fail();
        }
}

static void test_check(void **state)
{
        char why[200];
        struct release_manifest m = good();
        assert_int_equal(manifest_check(&m, why, sizeof(why)), 0);
        for (size_t i = 0; i < sizeof(check_why) / sizeof(check_why[0]); i++) {
                m = good();
                check_edit(i, &m);
                why[0] = '\0';
                int r = manifest_check(&m, why, sizeof(why));
                if (r != -EINVAL || !strstr(why, check_why[i]))
                        fail_msg("case %zu: got %d \"%s\", expected \"%s\"", i, r, why, check_why[i]);
        }
        /* a name of exactly 64 bytes is fine */
        m = good();
        memset(m.files[2].name, 'a', 64);
        m.files[2].name[64] = '\0';
        assert_int_equal(manifest_check(&m, NULL, 0), 0);
}

static void test_parse_truncated(void **state)
{
        /* every prefix; nothing but the whole is a manifest */
        for (size_t len = 0; len < strlen(GOOD_JSON); len++)
                assert_parse_refused(GOOD_JSON, len, "");
        assert_parse_refused(GOOD_JSON, 0, "truncated JSON");
        assert_parse_refused(GOOD_JSON, 40, "truncated JSON");
        /* the final newline is part of it */
        assert_parse_refused(GOOD_JSON, strlen(GOOD_JSON) - 1, "not in canonical form at byte");
}

static void test_parse_syntax(void **state)
{
        static const struct {
                const char *json, *why;
        } cases[] = {
                { "[]", "not a JSON object" },
                { "null", "not a JSON object" },
                { "\"x\"", "not a JSON object" },
                { " {}", "not a JSON object" },
                { "{}", "no \"format\"" },
                { "{,}", "not JSON" },
                /* json-c takes single quotes even when strict: the
                 * canonical form would not */
                { "{'format':1}", "no \"version\"" },
                { "{\"format\":1,}", "not JSON" },
                { "[[[[[[[[[[]]]]]]]]]]", "not a JSON object" },
                { "{\"a\":[[[[[[[[[[]]]]]]]]]]}", "not JSON: nesting too deep" },
                { "{\"a\":{\"b\":{\"c\":{\"d\":1}}}}", "not JSON" },
                { "{} {}", "" },
                { "\xef\xbb\xbf{}", "not a JSON object" },
                { "{\"\\u0000format\":1}", "unknown key \"\"" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                assert_parse_refused(cases[i].json, strlen(cases[i].json), cases[i].why);
        /* a NUL byte anywhere */
        char buf[sizeof(GOOD_JSON)];
        memcpy(buf, GOOD_JSON, sizeof(buf));
        buf[30] = '\0';
        assert_parse_refused(buf, sizeof(buf) - 1, "NUL byte at offset 30");
        /* too long, whatever it holds */
        size_t big = MANIFEST_JSON_MAX + 1;
        char *huge = malloc(big);
        assert_non_null(huge);
        memset(huge, ' ', big);
        memcpy(huge, GOOD_JSON, strlen(GOOD_JSON));
        assert_parse_refused(huge, big, "65537 bytes, more than 65536");
        free(huge);
        struct release_manifest m;
        assert_int_equal(manifest_parse(NULL, 0, &m, NULL, 0), -EBADMSG);
        assert_int_equal(manifest_parse((const uint8_t *)GOOD_JSON, strlen(GOOD_JSON), NULL, NULL, 0), -EINVAL);
}

static void test_parse_fields(void **state)
{
        static const struct {
                const char *from, *to, *why;
        } cases[] = {
                { "{\"format\"", "{\"extra\":1,\"format\"", "unknown key \"extra\"" },
                { "\"files\":[", "\"Files\":[", "unknown key \"Files\"" },
                { "\"format\":\"ember-release-1\",", "", "no \"format\"" },
                { "\"version\":\"1.2.0\",", "", "no \"version\"" },
                { "\"created\":1700000000,", "", "no \"created\"" },
                { "ember-release-1", "ember-release-2", "format is not \"ember-release-1\"" },
                { "\"ember-release-1\"", "1", "format is not" },
                { "\"ember-release-1\"", "\"ember-release-1\\u0000x\"", "format is not" },
                { "\"1.2.0\"", "1.2", "version is not a string" },
                { "\"1.2.0\"", "\"../../x\"", "version: version must start" },
                { "\"1.2.0\"", "\"\"", "version: empty version" },
                { "\"1.2.0\"", "\"1.2\\u0000x\"", "version holds a NUL" },
                { "\"1.2.0\"", "\"1.2.0" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
                  "version longer than 64 bytes" },
                { "1700000000", "\"1700000000\"", "created is not an integer" },
                { "1700000000", "1700000000.0", "created is not an integer" },
                { "1700000000", "1.7e9", "created is not an integer" },
                { "1700000000", "-1", "created out of range" },
                { "1700000000", "253402300800", "created out of range" },
                { "1700000000", "99999999999999999999999", "created" },
                { "1700000000", "true", "created is not an integer" },
                { "1700000000", "null", "created is null" },
                { "\"files\":[", "\"files\":{\"a\":[", "" },
                { "[{\"name\":\"vmlinuz\"", "[1,{\"name\":\"vmlinuz\"", "files[0] is not an object" },
                { "\"name\":\"vmlinuz\",", "", "files[0]: no \"name\"" },
                { ",\"size\":1,", ",", "files[1]: no \"size\"" },
                { "\"sha256\":\"" H40 "\"", "\"sha\":\"" H40 "\"", "files[1]: unknown key \"sha\"" },
                { "{\"name\":\"initrd\",", "{\"name\":\"initrd\",\"mode\":420,", "files[1]: unknown key \"mode\"" },
                { "\"vmlinuz\"", "7", "files[0].name is not a string" },
                { "\"initrd\"", "\"init/rd\"", "file 2: byte 0x2f at offset 4" },
                { "\"initrd\"", "\".initrd\"", "starts with a dot" },
                { "\"initrd\"", "\"VMLINUZ\"", "file 2: VMLINUZ named twice" },
                { "\"initrd\"", "\"vmlinuz\"", "file 2: vmlinuz named twice" },
                { "\"ipxe-x86_64.efi\"", "\"initrd\"", "file 3: initrd named twice" },
                { "\"initrd\"", "\"initrd\\u002f\"", "byte 0x2f" },
                { "\"size\":1,", "\"size\":0,", "file initrd: size out of range 1..1099511627776" },
                { "\"size\":1,", "\"size\":-1,", "size out of range" },
                { "\"size\":1,", "\"size\":1099511627777,", "size out of range" },
                { "\"size\":1,", "\"size\":18446744073709551615,", "size out of range" },
                { "\"size\":1,", "\"size\":1.0,", "file initrd: size is not an integer" },
                { "\"size\":1,", "\"size\":\"1\",", "size is not an integer" },
                { "\"size\":1,", "\"size\":01,", "" },
                { H40, "404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F",
                  "file initrd: sha256 is not 64 lower-case hex digits" },
                { H40, "40", "sha256 is not 64 lower-case hex digits" },
                { H40, H40 "00", "sha256 longer than 64 bytes" },
                { H40, "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5g", "not 64 lower-case" },
                { "\"" H40 "\"", "[]", "sha256 is not a string" },
                { ",\"authenticode\":\"" H20 "\"", "", "vmlinuz has no authenticode digest" },
                { "\"authenticode\":\"" H20 "\"", "\"authenticode\":\"\"", "vmlinuz: authenticode is not 64" },
                { "\"authenticode\":\"" H20 "\"", "\"authenticode\":null", "files[0]: authenticode is null" },
                { "{\"name\":\"initrd\"", "{\"name\":\"initrd\"},{\"name\":\"initrd\"", "" },
                { "]}", "]}\n", "not in canonical form at byte 579" },
                { "]}\n", "]}\nx", "not JSON: unexpected character at byte 579" },
                { "{\"format\":\"ember-release-1\"", "{'format':\"ember-release-1\"", "not in canonical form at byte 1" },
                { "\"ember-release-1\"", "'ember-release-1'", "not JSON: unexpected character at byte 10" },
                { "]}\n", "]}", "not in canonical form" },
                { "]}\n", "]} ", "not in canonical form" },
                { "]}\n", "]}\r\n", "not in canonical form" },
                { "{\"format\"", "{ \"format\"", "not in canonical form at byte 1" },
                { "\"version\":\"1.2.0\",", "\"version\":\"1.2.0\",\"version\":\"9\",", "not in canonical form at byte 39" },
                { "\"version\":\"1.2.0\",", "\"version\":\"0.1\",\"version\":\"1.2.0\",", "not in canonical form" },
                { "\"created\":1700000000,", "\"created\":1700000000,\"created\":1700000000,",
                  "not in canonical form" },
                { "\"name\":\"initrd\",", "\"name\":\"initrd\",\"name\":\"initrd\",", "not in canonical form" },
                { "\"version\":\"1.2.0\",\"created\":1700000000", "\"created\":1700000000,\"version\":\"1.2.0\"",
                  "not in canonical form at byte 29" },
                { "\"1.2.0\"", "\"\\u0031.2.0\"", "not in canonical form" },
                { "1700000000", "1700000000e0", "created is not an integer" },
                { "\"size\":1,", "\"size\":-0,", "size out of range" },
                { "\"created\":1700000000", "\"created\":-0", "not in canonical form" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                assert_edit_refused(cases[i].from, cases[i].to, cases[i].why);

        /* nine files */
        char buf[8192];
        size_t off = (size_t)snprintf(buf, sizeof(buf), "{\"format\":\"ember-release-1\",\"version\":\"1\",\"created\":0,\"files\":[");
        for (int i = 0; i < 9; i++)
                off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s{\"name\":\"f%d\",\"size\":1,\"sha256\":\"" H00 "\"}",
                                        i ? "," : "", i);
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "]}\n");
        assert_parse_refused(buf, off, "9 files: a release has 1 to 8");
        assert_edit_refused("\"files\":[{\"name\":\"vmlinuz\",\"size\":8247232,\"sha256\":\"" H00 "\",\"authenticode\":\"" H20
                            "\"},{\"name\":\"initrd\",\"size\":1,\"sha256\":\"" H40 "\"},{\"name\":\"ipxe-x86_64.efi\","
                            "\"size\":1099511627776,\"sha256\":\"" H60 "\",\"authenticode\":\"" H80 "\"}]",
                            "\"files\":[]", "0 files");
}

/* ---- signers and signatures ---- */

static int sign_str(const char *json, const char *key, uint8_t sig[MANIFEST_SIG_MAX], size_t *siglen)
{
        char why[200] = "";
        int r = manifest_sign((const uint8_t *)json, strlen(json), key, strlen(key), sig, siglen, why, sizeof(why));
        if (r < 0)
                print_message("manifest_sign: %s\n", why);
        return r;
}

static int verify_str(const char *json, const uint8_t *sig, size_t siglen, const char *pem, char *why, size_t whylen)
{
        return manifest_verify((const uint8_t *)json, strlen(json), sig, siglen, pem, strlen(pem), why, whylen);
}

static void test_sign_verify(void **state)
{
        uint8_t sig[MANIFEST_SIG_MAX], bad[MANIFEST_SIG_MAX + 8];
        size_t siglen = 0;
        char why[300], pinned[4096], json[sizeof(GOOD_JSON)];
        assert_int_equal(sign_str(GOOD_JSON, KEY_A, sig, &siglen), 0);
        assert_true(siglen >= 8 && siglen <= MANIFEST_SIG_MAX);
        assert_int_equal(verify_str(GOOD_JSON, sig, siglen, PUB_A, why, sizeof(why)), 0);

        /* rotation: the second pinned key, with comments around the blocks */
        snprintf(pinned, sizeof(pinned), "# old key, retiring\n%s\n# new key\n%s", PUB_C, PUB_A);
        assert_int_equal(verify_str(GOOD_JSON, sig, siglen, pinned, why, sizeof(why)), 1);
        assert_int_equal(manifest_signers_check(pinned, strlen(pinned), NULL, 0), 2);

        /* a key that is not pinned: signed by it, or checked against others */
        uint8_t csig[MANIFEST_SIG_MAX];
        size_t csiglen = 0;
        assert_int_equal(sign_str(GOOD_JSON, KEY_C, csig, &csiglen), 0);
        snprintf(pinned, sizeof(pinned), "%s%s", PUB_A, PUB_B);
        assert_int_equal(verify_str(GOOD_JSON, csig, csiglen, pinned, why, sizeof(why)), -EPERM);
        assert_int_equal(verify_str(GOOD_JSON, sig, siglen, PUB_B, why, sizeof(why)), -EPERM);
        assert_non_null(strstr(why, "does not verify with any of the 1 pinned signer key(s)"));
        snprintf(pinned, sizeof(pinned), "%s%s", PUB_B, PUB_C);
        assert_int_equal(verify_str(GOOD_JSON, sig, siglen, pinned, why, sizeof(why)), -EPERM);
        assert_non_null(strstr(why, "any of the 2 pinned"));

        /* every byte of the manifest counts, and of the signature */
        for (size_t i = 0; i < strlen(GOOD_JSON); i += 7) {
                memcpy(json, GOOD_JSON, sizeof(json));
                json[i] ^= 0x01;
                assert_int_equal(verify_str(json, sig, siglen, PUB_A, NULL, 0), -EPERM);
        }
        for (size_t i = 0; i < siglen; i++) {
                memcpy(bad, sig, siglen);
                bad[i] ^= 0x80;
                assert_int_equal(verify_str(GOOD_JSON, bad, siglen, PUB_A, NULL, 0), -EPERM);
        }
        /* shorter, longer, empty, too long */
        assert_int_equal(verify_str(GOOD_JSON, sig, siglen - 1, PUB_A, NULL, 0), -EPERM);
        memcpy(bad, sig, siglen);
        bad[siglen] = 0;
        int r = verify_str(GOOD_JSON, bad, siglen + 1, PUB_A, NULL, 0);
        assert_true(r == -EPERM || r == -EBADMSG);
        assert_int_equal(verify_str(GOOD_JSON, sig, 0, PUB_A, why, sizeof(why)), -EBADMSG);
        assert_int_equal(verify_str(GOOD_JSON, bad, MANIFEST_SIG_MAX + 1, PUB_A, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "signature: 73 bytes"));

        /* a PKCS #8 key signs as well; a P-384 key cannot sign */
        assert_int_equal(sign_str(GOOD_JSON, KEY_B, sig, &siglen), 0);
        snprintf(pinned, sizeof(pinned), "%s%s", PUB_A, PUB_B);
        assert_int_equal(verify_str(GOOD_JSON, sig, siglen, pinned, NULL, 0), 1);
        assert_int_equal(manifest_sign((const uint8_t *)GOOD_JSON, strlen(GOOD_JSON), KEY_P384, strlen(KEY_P384), sig,
                                       &siglen, why, sizeof(why)),
                         -EINVAL);
        assert_non_null(strstr(why, "signing key: not an ECDSA P-256 key"));
        assert_int_equal(manifest_sign((const uint8_t *)GOOD_JSON, strlen(GOOD_JSON), PUB_A, strlen(PUB_A), sig,
                                       &siglen, why, sizeof(why)),
                         -EINVAL);
        assert_non_null(strstr(why, "signing key: "));
}

static void test_signers(void **state)
{
        static const char *const bad_blocks[] = {
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                "-----BEGIN PUBLIC KEY-----\n",
                "-----BEGIN PUBLIC KEY",
                "-----BEGIN ",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        };
        char why[300], pem[8192];
        for (size_t i = 0; i < sizeof(bad_blocks) / sizeof(bad_blocks[0]); i++)
                assert_int_equal(manifest_signers_check(bad_blocks[i], strlen(bad_blocks[i]), why, sizeof(why)),
                                 -EINVAL);
        assert_int_equal(manifest_signers_check(PUB_P384, strlen(PUB_P384), why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "signer key 1: not an ECDSA P-256 key"));
        snprintf(pem, sizeof(pem), "%s%s", PUB_A, PUB_RSA);
        assert_int_equal(manifest_signers_check(pem, strlen(pem), why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "signer key 2: not an ECDSA P-256 key"));
        assert_int_equal(manifest_signers_check(KEY_A, strlen(KEY_A), why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "signer key 1: not a PUBLIC KEY block"));
        assert_int_equal(manifest_signers_check("", 0, why, sizeof(why)), -ENOENT);
        assert_int_equal(manifest_signers_check("just text\n", 10, why, sizeof(why)), -ENOENT);
        assert_int_equal(manifest_signers_check(NULL, 0, why, sizeof(why)), -ENOENT);
        /* a cut in the middle of a key */
        assert_int_equal(manifest_signers_check(PUB_A, strlen(PUB_A) - 30, why, sizeof(why)), -EINVAL);
        pem[0] = '\0';
        for (int i = 0; i < MANIFEST_SIGNERS_MAX; i++)
                strcat(pem, i % 2 ? PUB_A : PUB_B);
        assert_int_equal(manifest_signers_check(pem, strlen(pem), NULL, 0), MANIFEST_SIGNERS_MAX);
        strcat(pem, PUB_C);
        assert_int_equal(manifest_signers_check(pem, strlen(pem), why, sizeof(why)), -E2BIG);
        /* a bad signers file is the caller's problem, not the signature's */
        uint8_t sig[MANIFEST_SIG_MAX];
        size_t siglen;
        assert_int_equal(sign_str(GOOD_JSON, KEY_A, sig, &siglen), 0);
        assert_int_equal(verify_str(GOOD_JSON, sig, siglen, PUB_P384, NULL, 0), -EINVAL);
        assert_int_equal(verify_str(GOOD_JSON, sig, siglen, "", NULL, 0), -ENOENT);
}

static void test_open(void **state)
{
        uint8_t sig[MANIFEST_SIG_MAX];
        size_t siglen;
        char why[300], pinned[2048];
        struct release_manifest m, untouched;
        snprintf(pinned, sizeof(pinned), "%s%s", PUB_B, PUB_A);
        assert_int_equal(sign_str(GOOD_JSON, KEY_A, sig, &siglen), 0);
        assert_int_equal(manifest_open((const uint8_t *)GOOD_JSON, strlen(GOOD_JSON), sig, siglen, pinned,
                                       strlen(pinned), &m, why, sizeof(why)),
                         1);
        assert_string_equal(m.version, "1.2.0");

        /* signed but not a manifest: the signature is not enough */
        static const char not_canonical[] = "{\"format\":\"ember-release-1\"}";
        assert_int_equal(sign_str(not_canonical, KEY_A, sig, &siglen), 0);
        memset(&m, 0xa5, sizeof(m));
        memcpy(&untouched, &m, sizeof(m));
        assert_int_equal(manifest_open((const uint8_t *)not_canonical, strlen(not_canonical), sig, siglen, pinned,
                                       strlen(pinned), &m, why, sizeof(why)),
                         -EBADMSG);
        assert_memory_equal(&m, &untouched, sizeof(m));
        /* not signed by a pinned key: not even parsed */
        assert_int_equal(manifest_open((const uint8_t *)GOOD_JSON, strlen(GOOD_JSON), sig, siglen, pinned,
                                       strlen(pinned), &m, why, sizeof(why)),
                         -EPERM);
        assert_memory_equal(&m, &untouched, sizeof(m));
}

/* ---- files ---- */

/* The smallest PE32+ image: no sections, no data directories, 16 bytes of
 * trailing data. */
static size_t tiny_pe(uint8_t *b)
{
        memset(b, 0, 0xd8);
        b[0] = 'M';
        b[1] = 'Z';
        b[0x3c] = 0x40;
        memcpy(b + 0x40, "PE\0\0", 4);
        b[0x40 + 20] = 112;         /* SizeOfOptionalHeader */
        b[0x58] = 0x0b;             /* Magic 0x20b */
        b[0x59] = 0x02;
        b[0x58 + 60] = 0xc8;        /* SizeOfHeaders: the optional header's end */
        memset(b + 0xc8, 0x77, 16); /* trailing data */
        return 0xd8;
}

static void test_file_check(void **state)
{
        uint8_t pe[0xd8];
        char why[300];
        size_t len = tiny_pe(pe);
        struct release_file f = { .name = "vmlinuz", .size = len, .has_authenticode = true };
        mbedtls_sha256_ret(pe, len, f.sha256, 0);
        assert_int_equal(authenticode_sha256(pe, len, f.authenticode), 0);
        assert_int_equal(manifest_file_check(&f, pe, len, why, sizeof(why)), 0);

        assert_int_equal(manifest_file_check(&f, pe, len - 1, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "vmlinuz: 215 bytes, the manifest says 216"));
        pe[0xcd] ^= 1;
        assert_int_equal(manifest_file_check(&f, pe, len, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "vmlinuz: sha256 "));
        pe[0xcd] ^= 1;
        /* the sha256 agrees but the authenticode digest does not */
        f.authenticode[0] ^= 1;
        assert_int_equal(manifest_file_check(&f, pe, len, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "vmlinuz: authenticode "));
        /* an entry with an authenticode digest for a file that is no PE */
        uint8_t text[] = "not a PE image";
        f.size = sizeof(text);
        mbedtls_sha256_ret(text, sizeof(text), f.sha256, 0);
        assert_int_equal(manifest_file_check(&f, text, sizeof(text), why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "vmlinuz: not a PE image the authenticode digest can be computed for: no MZ"));
        f.has_authenticode = false;
        assert_int_equal(manifest_file_check(&f, text, sizeof(text), why, sizeof(why)), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format_parse), cmocka_unit_test(test_check),
                cmocka_unit_test(test_parse_truncated), cmocka_unit_test(test_parse_syntax),
                cmocka_unit_test(test_parse_fields), cmocka_unit_test(test_sign_verify),
                cmocka_unit_test(test_signers), cmocka_unit_test(test_open),
                cmocka_unit_test(test_file_check),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
