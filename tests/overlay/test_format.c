/* SPDX-License-Identifier: Apache-2.0 */
/* The overlay header (parse, meaning, marshal), its signature against
 * pinned signers, and the chunk cipher. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/sha256.h>

#include "format.h"
#include "testkeys.h"

static struct overlay_signing_key *key_a, *key_b;
static struct overlay_signers *pin_a;

static int setup(void **state)
{
        if (overlay_signing_key_parse(TEST_KEY_A, strlen(TEST_KEY_A), &key_a, NULL) < 0 ||
            overlay_signing_key_parse(TEST_KEY_B, strlen(TEST_KEY_B), &key_b, NULL) < 0 ||
            overlay_signers_parse(TEST_PUB_A, strlen(TEST_PUB_A), &pin_a, NULL) < 0)
                return -1;
        return 0;
}

static int teardown(void **state)
{
        overlay_signing_key_free(key_a);
        overlay_signing_key_free(key_b);
        overlay_signers_free(pin_a);
        return 0;
}

/* A consistent header: 3 chunks of 4 KiB, the last 100 bytes. */
static void sample(struct overlay_header *h)
{
        memset(h, 0, sizeof(*h));
        h->version = OVERLAY_VERSION;
        for (int i = 0; i < OVERLAY_ID_LEN; i++)
                h->id[i] = (uint8_t)(0xa0 + i);
        h->serial = 42;
        h->created = 1700000000;
        h->chunk_size = 4096;
        h->payload_size = 2 * 4096 + 100;
        h->chunk_count = 3;
        h->content_size = 40000;
        h->entries = 12;
        memset(h->key_id, 0x11, sizeof(h->key_id));
        memset(h->nonce_base, 0x22, sizeof(h->nonce_base));
        memset(h->ct_sha256, 0x33, sizeof(h->ct_sha256));
}

static size_t signed_sample(struct overlay_header *h, uint8_t *buf)
{
        size_t len;
        sample(h);
        assert_int_equal(overlay_header_sign(h, key_a, NULL), 0);
        assert_int_equal(overlay_header_marshal(h, buf, OVERLAY_HEADER_MAX, &len), 0);
        assert_int_equal(len, OVERLAY_FIXED_LEN + OVERLAY_SIG_SLOT);
        return len;
}

static void test_roundtrip(void **state)
{
        struct overlay_header h, p;
        uint8_t buf[OVERLAY_HEADER_MAX], again[OVERLAY_HEADER_MAX];
        char why[200] = "";
        const struct reason w = { why, sizeof(why) };
        size_t len = signed_sample(&h, buf), len2;
        uint32_t hl;

        assert_memory_equal(buf, OVERLAY_MAGIC, 8);
        /* big-endian fields at their documented offsets */
        assert_int_equal(buf[9], 1);
        assert_int_equal(buf[12] << 24 | buf[13] << 16 | buf[14] << 8 | buf[15], 258);
        assert_int_equal(buf[39], 42);
        assert_int_equal(buf[50] << 8 | buf[51], 4096);
        assert_int_equal(buf[79], 12);
        assert_int_equal(buf[80], 0x11);
        assert_int_equal(buf[112], 0x22);
        assert_int_equal(buf[120], 0x33);
        assert_memory_equal(buf + 152, overlay_signing_key_id(key_a), 32);
        assert_int_equal(buf[184] << 8 | buf[185], h.sig_len);
        assert_int_equal(buf[186], 0x30); /* DER SEQUENCE */

        assert_int_equal(overlay_header_prefix(buf, OVERLAY_PREFIX_LEN, &hl, &w), 0);
        assert_int_equal(hl, len);
        assert_int_equal(overlay_header_parse(buf, len, &p, &w), 0);
        assert_int_equal(overlay_header_check(&p, NULL, &w), 0);
        assert_int_equal(overlay_header_verify(&p, pin_a, &w), 0);
        assert_int_equal(overlay_header_marshal(&p, again, sizeof(again), &len2), 0);
        assert_int_equal(len2, len);
        assert_memory_equal(again, buf, len);
        assert_int_equal(p.serial, 42);
        assert_int_equal(p.chunk_count, 3);
        assert_int_equal(overlay_chunk_len(&p, 0), 4096);
        assert_int_equal(overlay_chunk_len(&p, 2), 100);
        assert_int_equal(overlay_chunk_len(&p, 3), 0);
        assert_int_equal(overlay_file_size(&p), 258 + 2 * 4096 + 100 + 3 * 16);
        assert_int_equal(overlay_header_marshal(&p, again, len - 1, &len2), -ENOBUFS);
}

/* Every prefix of a good header fails, and the output is not touched. */
static void test_truncated(void **state)
{
        struct overlay_header h, out;
        uint8_t buf[OVERLAY_HEADER_MAX];
        size_t len = signed_sample(&h, buf);
        for (size_t n = 0; n < len; n++) {
                char why[200] = "";
                const struct reason w = { why, sizeof(why) };
                uint32_t hl = 0xdeadbeef;
                memset(&out, 0xaa, sizeof(out));
                struct overlay_header before = out;
                assert_int_equal(overlay_header_parse(buf, n, &out, &w), -EBADMSG);
                assert_memory_equal(&out, &before, sizeof(out));
                assert_true(strlen(why) > 0);
                if (n < OVERLAY_PREFIX_LEN) {
                        assert_int_equal(overlay_header_prefix(buf, n, &hl, &w), -EBADMSG);
                        assert_int_equal(hl, 0xdeadbeef);
                } else
                        assert_non_null(strstr(why, "where its length field says"));
        }
        /* and one byte too many */
        buf[len] = 0;
        assert_int_equal(overlay_header_parse(buf, len + 1, &out, NULL), -EBADMSG);
}

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

struct mutation {
        const char *name;
        size_t off;
        uint8_t value;
        const char *why;
};

static void test_hostile_syntax(void **state)
{
        static const struct mutation m[] = {
                { "magic", 0, 'X', "no EMBEROVL magic" },
                { "version", 9, 2, "format version 2" },
                { "flags", 11, 1, "flags 0x0001" },
                { "header_len low", 14, 0, "out of range" },
                { "header_len high", 13, 0x20, "out of range" },
                { "header_len other", 15, 0xff, "where its length field says" },
                { "sig_len 0", 185, 0, "signature length 0" },
                { "sig_len beyond", 184, 1, "does not fit" },
                { "padding", 257, 1, "after the signature is not zero" },
        };
        struct overlay_header h, out;
        uint8_t good[OVERLAY_HEADER_MAX];
        size_t len = signed_sample(&h, good);
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
                uint8_t buf[OVERLAY_HEADER_MAX];
                char why[200] = "";
                const struct reason w = { why, sizeof(why) };
                memcpy(buf, good, len);
                buf[m[i].off] = m[i].value;
                if (m[i].off == 257)
                        assert_true(h.sig_len < 72); /* the test needs a shorter signature */
                assert_int_equal(overlay_header_parse(buf, len, &out, &w), -EBADMSG);
                if (!strstr(why, m[i].why))
                        fail_msg("%s: '%s' lacks '%s'", m[i].name, why, m[i].why);
        }
        /* the largest header there may be is still read whole */
        uint8_t big[OVERLAY_HEADER_MAX + 1];
        memset(big, 0, sizeof(big));
        memcpy(big, good, OVERLAY_FIXED_LEN);
        put32(big + 12, OVERLAY_HEADER_MAX);
        big[184] = 0, big[185] = 1, big[186] = 0x30;
        assert_int_equal(overlay_header_parse(big, OVERLAY_HEADER_MAX, &out, NULL), 0);
        assert_int_equal(out.sig_len, 1);
        put32(big + 12, OVERLAY_HEADER_MAX + 1);
        assert_int_equal(overlay_header_parse(big, OVERLAY_HEADER_MAX + 1, &out, NULL), -EBADMSG);
}

static void check_meaning(const struct overlay_header *h, const struct overlay_limits *l, int err, const char *want)
{
        char why[300] = "";
        const struct reason w = { why, sizeof(why) };
        int r = overlay_header_check(h, l, &w);
        if (r != err)
                fail_msg("%d, wanted %d (%s)", r, err, why);
        if (want && !strstr(why, want))
                fail_msg("'%s' lacks '%s'", why, want);
}

static void test_hostile_meaning(void **state)
{
        struct overlay_header h;
        struct overlay_limits l;
        overlay_limits_default(&l);

        sample(&h), h.serial = 0, check_meaning(&h, NULL, -EBADMSG, "serial 0");
        sample(&h), h.chunk_size = 4095, check_meaning(&h, NULL, -EBADMSG, "chunk size 4095 out of range");
        sample(&h), h.chunk_size = (16u << 20) + 1, check_meaning(&h, NULL, -EBADMSG, "out of range");
        sample(&h), l.max_chunk_size = 1024 * 1024, h.chunk_size = 2 << 20, h.payload_size = 100, h.chunk_count = 1;
        check_meaning(&h, &l, -E2BIG, "over this reader's");
        overlay_limits_default(&l);
        sample(&h), h.chunk_count = 4, check_meaning(&h, NULL, -EBADMSG, "4 chunks, but 8292 bytes");
        sample(&h), h.chunk_count = 2, check_meaning(&h, NULL, -EBADMSG, "make 3");
        /* exactly full chunks: no empty chunk after them */
        sample(&h), h.payload_size = 3 * 4096, check_meaning(&h, NULL, 0, NULL);
        sample(&h), h.payload_size = 3 * 4096 + 1, check_meaning(&h, NULL, -EBADMSG, "make 4");
        /* an empty payload is one empty chunk */
        sample(&h), h.payload_size = 0, h.chunk_count = 1, check_meaning(&h, NULL, 0, NULL);
        sample(&h), h.payload_size = 0, h.chunk_count = 0, check_meaning(&h, NULL, -EBADMSG, "make 1");
        /* more chunks than a 32-bit IV counter numbers */
        sample(&h), h.payload_size = (uint64_t)4096 << 32, h.chunk_count = (uint64_t)1 << 32;
        h.content_size = h.payload_size, l.max_content = UINT64_MAX;
        check_meaning(&h, &l, -EBADMSG, "more than the nonce can number");
        overlay_limits_default(&l);
        sample(&h), h.content_size = (1ull << 30) + 1, check_meaning(&h, NULL, -E2BIG, "over the limit");
        sample(&h), l.max_content = 39999, check_meaning(&h, &l, -E2BIG, "40000 bytes of content");
        overlay_limits_default(&l);
        sample(&h), h.entries = 100001, check_meaning(&h, NULL, -E2BIG, "100001 entries");
        /* payload more than zstd could ever make of the content */
        sample(&h), h.content_size = 10, check_meaning(&h, NULL, -EBADMSG, "more than compression can add");
        /* ratio: 100:1 plus 1 MiB */
        sample(&h), h.content_size = 100 * (2 * 4096 + 100) + (1 << 20), check_meaning(&h, NULL, 0, NULL);
        h.content_size++, check_meaning(&h, NULL, -E2BIG, "ratio over 100:1");
        l.max_ratio = 1000, check_meaning(&h, &l, 0, NULL);
        assert_int_equal(overlay_header_check(NULL, NULL, NULL), -EINVAL);
}

static void test_signature(void **state)
{
        struct overlay_header h, p;
        uint8_t buf[OVERLAY_HEADER_MAX];
        char why[200] = "", hex[65];
        const struct reason w = { why, sizeof(why) };
        struct overlay_signers *pin_b = NULL, *both = NULL;
        size_t len = signed_sample(&h, buf);

        assert_int_equal(overlay_signers_parse(TEST_PUB_B, strlen(TEST_PUB_B), &pin_b, NULL), 0);
        /* a signer nobody pinned */
        assert_int_equal(overlay_header_parse(buf, len, &p, NULL), 0);
        assert_int_equal(overlay_header_verify(&p, pin_b, &w), -EPERM);
        overlay_hex(overlay_signing_key_id(key_a), 32, hex);
        hex[16] = '\0';
        assert_non_null(strstr(why, "is not pinned"));
        assert_non_null(strstr(why, hex));
        /* any of several pinned keys */
        const char two[] = TEST_PUB_B "some words between blocks\n" TEST_PUB_A;
        assert_int_equal(overlay_signers_parse(two, strlen(two), &both, NULL), 0);
        assert_int_equal(overlay_signers_count(both), 2);
        assert_memory_equal(overlay_signers_id(both, 1), overlay_signing_key_id(key_a), 32);
        assert_null(overlay_signers_id(both, 2));
        assert_int_equal(overlay_header_verify(&p, both, &w), 0);
        sample(&h), assert_int_equal(overlay_header_sign(&h, key_b, NULL), 0);
        assert_int_equal(overlay_header_verify(&h, both, &w), 0);

        /* every signed field counts: change one after signing */
        assert_int_equal(overlay_header_parse(buf, len, &p, NULL), 0);
        p.serial++;
        assert_int_equal(overlay_header_verify(&p, pin_a, &w), -EBADMSG);
        assert_non_null(strstr(why, "does not verify with pinned signer"));
        assert_int_equal(overlay_header_parse(buf, len, &p, NULL), 0);
        p.ct_sha256[31] ^= 1;
        assert_int_equal(overlay_header_verify(&p, pin_a, NULL), -EBADMSG);
        /* B's signature under A's name */
        sample(&h), assert_int_equal(overlay_header_sign(&h, key_b, NULL), 0);
        memcpy(h.signer_id, overlay_signing_key_id(key_a), 32);
        assert_int_equal(overlay_header_verify(&h, both, NULL), -EBADMSG);
        /* a signature with a byte more */
        assert_int_equal(overlay_header_parse(buf, len, &p, NULL), 0);
        p.sig[p.sig_len++] = 0;
        assert_int_equal(overlay_header_verify(&p, pin_a, NULL), -EBADMSG);

        overlay_signers_free(pin_b);
        overlay_signers_free(both);
}

static void expect_signers(const char *pem, int err, const char *want)
{
        char why[200] = "";
        const struct reason w = { why, sizeof(why) };
        struct overlay_signers *s = (struct overlay_signers *)0x1;
        assert_int_equal(overlay_signers_parse(pem, strlen(pem), &s, &w), err);
        assert_ptr_equal(s, (struct overlay_signers *)0x1);
        if (!strstr(why, want))
                fail_msg("'%s' lacks '%s'", why, want);
}

static void test_signer_files(void **state)
{
        expect_signers("", -ENOENT, "no PUBLIC KEY block");
        expect_signers("just text\n", -ENOENT, "no PUBLIC KEY block");
        expect_signers(TEST_KEY_A, -EBADMSG, "a PRIVATE KEY block, not a PUBLIC KEY");
        expect_signers(TEST_PUB_A TEST_KEY_B, -EBADMSG, "signer key 2: a EC PRIVATE KEY block");
        expect_signers(TEST_PUB_P384, -EBADMSG, "not an ECDSA P-256 key");
        expect_signers("-----BEGIN PUBLIC KEY-----\nAAAA\n", -EBADMSG, "no -----END PUBLIC KEY----- line");
        expect_signers("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n", -EBADMSG, "mbedtls");
        char many[17 * sizeof(TEST_PUB_A)] = "";
        for (int i = 0; i < 17; i++)
                strcat(many, TEST_PUB_A);
        expect_signers(many, -E2BIG, "more than 16");

        struct overlay_signing_key *k = NULL;
        char why[200] = "";
        const struct reason w = { why, sizeof(why) };
        assert_int_equal(overlay_signing_key_parse(TEST_PUB_A, strlen(TEST_PUB_A), &k, &w), -EBADMSG);
        assert_null(k);
        assert_non_null(strstr(why, "signing key"));
        assert_int_equal(overlay_signing_key_load("/nonexistent/key.pem", &k, &w), -ENOENT);
        assert_non_null(strstr(why, "/nonexistent/key.pem"));
}

static void test_ids(void **state)
{
        uint8_t id[16], back[16], k[32], want[32];
        char s[OVERLAY_ID_STR];
        assert_int_equal(overlay_id_random(id), 0);
        assert_int_equal(id[6] >> 4, 4);
        assert_int_equal(id[8] >> 6, 2);
        overlay_id_format(id, s);
        assert_int_equal(strlen(s), 36);
        assert_int_equal(overlay_id_parse(s, back), 0);
        assert_memory_equal(id, back, 16);
        assert_int_equal(overlay_id_parse("0123456789ABCDEF0123456789abcdef", back), -EINVAL);
        assert_int_equal(overlay_id_parse("01234567-89ab-cdef-0123-456789abcdeg", back), -EINVAL);
        assert_int_equal(overlay_id_parse("01234567-89ab-cdef-0123-456789abcdef", back), 0);
        assert_int_equal(overlay_id_parse("0123456-789ab-cdef-0123-456789abcdef", back), -EINVAL);
        assert_int_equal(overlay_unhex("0g", back, 1), -EINVAL);

        /* key id = SHA-256("ember-overlay-key-id" || key) */
        memcpy(k, TEST_DATA_KEY, 32);
        uint8_t in[20 + 32];
        memcpy(in, "ember-overlay-key-id", 20);
        memcpy(in + 20, k, 32);
        mbedtls_sha256_ret(in, sizeof(in), want, 0);
        uint8_t got[32];
        overlay_key_id(k, got);
        assert_memory_equal(got, want, 32);
}

static void test_chunks(void **state)
{
        struct overlay_header h, other;
        struct overlay_cipher *c = NULL, *wrong_key = NULL, *wrong_header = NULL;
        uint8_t pt[300], rec[300 + 16], out[300];
        uint8_t key[32];
        memcpy(key, TEST_DATA_KEY, 32);
        for (size_t i = 0; i < sizeof(pt); i++)
                pt[i] = (uint8_t)i;
        sample(&h);
        other = h;
        other.serial++;
        assert_int_equal(overlay_cipher_new(key, &h, &c), 0);
        assert_int_equal(overlay_cipher_new(key, &other, &wrong_header), 0);
        key[0] ^= 1;
        assert_int_equal(overlay_cipher_new(key, &h, &wrong_key), 0);

        assert_int_equal(overlay_chunk_seal(c, 5, false, pt, sizeof(pt), rec), 0);
        assert_memory_not_equal(rec, pt, sizeof(pt));
        assert_int_equal(overlay_chunk_open(c, 5, false, rec, sizeof(rec), out), 0);
        assert_memory_equal(out, pt, sizeof(pt));

        /* no plaintext unless the tag verifies */
        memset(out, 0, sizeof(out));
        assert_int_equal(overlay_chunk_open(wrong_key, 5, false, rec, sizeof(rec), out), -EBADMSG);
        assert_memory_not_equal(out, pt, 16);
        assert_int_equal(overlay_chunk_open(c, 4, false, rec, sizeof(rec), out), -EBADMSG);
        assert_int_equal(overlay_chunk_open(c, 5, true, rec, sizeof(rec), out), -EBADMSG);
        assert_int_equal(overlay_chunk_open(wrong_header, 5, false, rec, sizeof(rec), out), -EBADMSG);
        for (size_t i = 0; i < sizeof(rec); i += 37) {
                rec[i] ^= 0x80;
                assert_int_equal(overlay_chunk_open(c, 5, false, rec, sizeof(rec), out), -EBADMSG);
                rec[i] ^= 0x80;
        }
        /* the tag alone: an empty chunk */
        assert_int_equal(overlay_chunk_seal(c, 0, true, NULL, 0, rec), 0);
        assert_int_equal(overlay_chunk_open(c, 0, true, rec, 16, out), 0);
        assert_int_equal(overlay_chunk_open(c, 0, false, rec, 16, out), -EBADMSG);
        assert_int_equal(overlay_chunk_open(c, 0, true, rec, 15, out), -EINVAL);
        /* the IV numbers chunks in 32 bits */
        assert_int_equal(overlay_chunk_seal(c, (uint64_t)1 << 32, true, pt, 1, rec), -EINVAL);

        overlay_cipher_free(c);
        overlay_cipher_free(wrong_key);
        overlay_cipher_free(wrong_header);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip),       cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_hostile_syntax),  cmocka_unit_test(test_hostile_meaning),
                cmocka_unit_test(test_signature),       cmocka_unit_test(test_signer_files),
                cmocka_unit_test(test_ids),             cmocka_unit_test(test_chunks),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
