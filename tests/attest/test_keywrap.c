/* SPDX-License-Identifier: Apache-2.0 */
/* The overlay key wrapped to E: it opens only with E's private key, in the
 * context (session, nonce, E, overlay id and serial) it was made for, and
 * any altered byte or foreign point is refused. */
#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keywrap.h"

static mbedtls_entropy_context ent;
static mbedtls_ctr_drbg_context drbg;

static void make_key(mbedtls_pk_context *pk, mbedtls_ecp_group_id curve, uint8_t *der, size_t *der_len)
{
        mbedtls_pk_init(pk);
        assert_int_equal(mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
        assert_int_equal(mbedtls_ecp_gen_key(curve, mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, &drbg), 0);
        int n = mbedtls_pk_write_pubkey_der(pk, der, 200);
        assert_true(n > 0);
        memmove(der, der + 200 - n, (size_t)n);
        *der_len = (size_t)n;
}

static const uint8_t nonce[32] = { 1, 2, 3 };
static const uint8_t oid[16] = { 0xaa, 0xbb };
static const uint8_t data_key[32] = { 0x42, 0x43, 0x44, [31] = 0x99 };

static void test_roundtrip_and_refusals(void **state)
{
        mbedtls_pk_context e, other;
        uint8_t der[200], oder[200], t[32], t2[32], got[32];
        size_t der_len, oder_len;
        struct keywrap kw, bad;
        char why[200];
        const struct reason w = { why, sizeof(why) };
        make_key(&e, MBEDTLS_ECP_DP_SECP256R1, der, &der_len);
        make_key(&other, MBEDTLS_ECP_DP_SECP256R1, oder, &oder_len);

        keywrap_context("session-1", nonce, sizeof(nonce), der, der_len, oid, 7, t);
        assert_int_equal(keywrap_seal(der, der_len, t, data_key, &kw, &w), 0);
        assert_int_equal(keywrap_open(&e, t, &kw, got, &w), 0);
        assert_memory_equal(got, data_key, sizeof(got));
        assert_memory_not_equal(kw.ct, data_key, sizeof(data_key));

        /* two wraps of one key differ (fresh ephemeral key and IV) */
        struct keywrap kw2;
        assert_int_equal(keywrap_seal(der, der_len, t, data_key, &kw2, &w), 0);
        assert_memory_not_equal(kw.epk, kw2.epk, sizeof(kw.epk));
        assert_memory_not_equal(kw.ct, kw2.ct, sizeof(kw.ct));

        /* another node's E */
        memset(got, 0, sizeof(got));
        assert_int_equal(keywrap_open(&other, t, &kw, got, &w), -EBADMSG);
        assert_non_null(strstr(why, "does not open"));
        static const uint8_t zero[32];
        assert_memory_equal(got, zero, sizeof(got)); /* nothing written on failure */

        /* another context: each part of it counts */
        keywrap_context("session-2", nonce, sizeof(nonce), der, der_len, oid, 7, t2);
        assert_int_equal(keywrap_open(&e, t2, &kw, got, &w), -EBADMSG);
        keywrap_context("session-1", nonce, sizeof(nonce) - 1, der, der_len, oid, 7, t2);
        assert_int_equal(keywrap_open(&e, t2, &kw, got, &w), -EBADMSG);
        keywrap_context("session-1", nonce, sizeof(nonce), oder, oder_len, oid, 7, t2);
        assert_int_equal(keywrap_open(&e, t2, &kw, got, &w), -EBADMSG);
        uint8_t oid2[16] = { 0xaa, 0xbc };
        keywrap_context("session-1", nonce, sizeof(nonce), der, der_len, oid2, 7, t2);
        assert_int_equal(keywrap_open(&e, t2, &kw, got, &w), -EBADMSG);
        keywrap_context("session-1", nonce, sizeof(nonce), der, der_len, oid, 6, t2); /* an older serial */
        assert_int_equal(keywrap_open(&e, t2, &kw, got, &w), -EBADMSG);

        /* every byte of iv and ct matters */
        for (size_t i = 0; i < sizeof(kw.iv) + sizeof(kw.ct); i++) {
                bad = kw;
                if (i < sizeof(kw.iv))
                        bad.iv[i] ^= 0x01;
                else
                        bad.ct[i - sizeof(kw.iv)] ^= 0x80;
                assert_int_equal(keywrap_open(&e, t, &bad, got, &w), -EBADMSG);
        }
        /* a server point off the curve, or not a point */
        bad = kw;
        bad.epk[40] ^= 0x01;
        assert_int_equal(keywrap_open(&e, t, &bad, got, &w), -EINVAL);
        bad = kw;
        bad.epk[0] = 0x05;
        assert_int_equal(keywrap_open(&e, t, &bad, got, &w), -EINVAL);
        memset(&bad, 0, sizeof(bad));
        assert_int_equal(keywrap_open(&e, t, &bad, got, &w), -EINVAL);

        /* E of another curve, or not a key at all */
        mbedtls_pk_context p384;
        uint8_t d384[200];
        size_t l384;
        make_key(&p384, MBEDTLS_ECP_DP_SECP384R1, d384, &l384);
        assert_int_equal(keywrap_seal(d384, l384, t, data_key, &bad, &w), -EINVAL);
        assert_int_equal(keywrap_open(&p384, t, &kw, got, &w), -EINVAL);
        assert_int_equal(keywrap_seal((const uint8_t *)"garbage", 7, t, data_key, &bad, &w), -EINVAL);
        for (size_t n = 0; n < der_len; n++) /* every truncation of E's DER */
                assert_int_equal(keywrap_seal(der, n, t, data_key, &bad, &w), -EINVAL);

        mbedtls_pk_free(&p384);
        mbedtls_pk_free(&other);
        mbedtls_pk_free(&e);
}

int main(void)
{
        mbedtls_entropy_init(&ent);
        mbedtls_ctr_drbg_init(&drbg);
        if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0) != 0)
                return 1;
        const struct CMUnitTest tests[] = { cmocka_unit_test(test_roundtrip_and_refusals) };
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        mbedtls_ctr_drbg_free(&drbg);
        mbedtls_entropy_free(&ent);
        return r;
}
