/* SPDX-License-Identifier: Apache-2.0 */
/* TPM2_MakeCredential in software: KDFa/KDFe against vectors from an
 * independent implementation, Names against tpm2_readpublic, the EK
 * publics Ember refuses, and the shape of what it makes. That a real TPM
 * accepts the result is tests/attest/t-makecred-swtpm's job.
 *
 * Driver mode, for that script (no extra CMake target needed): when the
 * environment names inputs, this binary runs no tests and instead
 *   EMBER_MAKECRED_NAME_OF=FILE   prints the hex Name of the TPM2B_PUBLIC
 *                                 in FILE;
 *   EMBER_MAKECRED_EK=FILE        (TPM2B_PUBLIC of the EK)
 *   EMBER_MAKECRED_AK_NAME=HEX    (the AK's Name)
 *   EMBER_MAKECRED_SECRET=FILE    (the secret S)
 *   EMBER_MAKECRED_OUT=FILE       writes the credential in tpm2-tools'
 *                                 file format (be32 0xBADCC0DE, be32 1,
 *                                 TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET),
 *                                 which tpm2_activatecredential -i reads.
 * It exits 0 on success, 1 with the reason on standard error otherwise. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include <cmocka.h>

#include "fileio.h"
#include "makecred.h"
#include "util.h"

/* Fixtures from a swtpm 0.7.1 manufactured with `swtpm_setup --tpm2
 * --create-ek-cert --create-platform-cert` (`tpm2_readpublic -o`): its
 * RSA-2048 EK (0x81010001: SHA-256, AES-128-CFB, exponent 0), its ECC P-384
 * EK (0x81010016: SHA-384, AES-256-CFB) and an AK made by `tpm2_createak -C
 * 0x81010001 -G rsa -g sha256 -s rsassa`. */
static const uint8_t ek_rsa[316] = {
        0x01, 0x3a, 0x00, 0x01, 0x00, 0x0b, 0x00, 0x03, 0x00, 0xb2, 0x00, 0x20,
        0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d,
        0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64,
        0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa, 0x00, 0x06, 0x00, 0x80,
        0x00, 0x43, 0x00, 0x10, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
        0xc7, 0xf8, 0xbe, 0xd9, 0xd8, 0x60, 0x55, 0x71, 0x27, 0x01, 0x68, 0xc1,
        0xb5, 0x40, 0x90, 0x00, 0x59, 0x5f, 0xa1, 0x71, 0x02, 0xfa, 0x0c, 0x35,
        0x36, 0x92, 0xef, 0x0a, 0x88, 0x56, 0x6f, 0x33, 0x35, 0x21, 0xf1, 0xa1,
        0x99, 0x6a, 0xfd, 0xf0, 0x90, 0xc2, 0xe8, 0xa3, 0x17, 0x78, 0xb5, 0xcf,
        0x47, 0x38, 0x8e, 0x76, 0x2e, 0x6c, 0x72, 0x1d, 0x58, 0x0c, 0xff, 0x79,
        0x5b, 0xe7, 0xc3, 0x32, 0x27, 0x2a, 0x1d, 0x34, 0x5d, 0x8e, 0x5d, 0x8b,
        0xfd, 0xf9, 0xac, 0xa1, 0x6a, 0xc3, 0xc2, 0x85, 0xf5, 0xa2, 0x2f, 0x20,
        0x95, 0x8e, 0x91, 0x41, 0xf5, 0xac, 0x3f, 0x4c, 0x86, 0xdf, 0xd3, 0x8b,
        0x13, 0xdf, 0xba, 0x1b, 0x01, 0x90, 0xc7, 0x09, 0xe1, 0xc1, 0xaa, 0x37,
        0x5d, 0x6d, 0xe7, 0xeb, 0x9c, 0xad, 0x78, 0x3c, 0xbb, 0x37, 0x01, 0x1d,
        0x75, 0x34, 0x84, 0x37, 0xdb, 0x0c, 0xdf, 0x4b, 0xf2, 0xfd, 0x4c, 0x60,
        0x3e, 0x6f, 0xba, 0x8f, 0x5c, 0xbe, 0x0e, 0x34, 0x99, 0xaa, 0x8d, 0xe8,
        0x20, 0x5c, 0x19, 0xcf, 0x55, 0x8d, 0xad, 0x1d, 0x51, 0x6f, 0x87, 0xe7,
        0x29, 0x6f, 0xe6, 0x76, 0xf7, 0x82, 0x02, 0xf2, 0xc9, 0x1d, 0xf3, 0x54,
        0x6a, 0x39, 0xce, 0x17, 0x0b, 0xf1, 0xeb, 0x36, 0x90, 0xb7, 0xb0, 0xb7,
        0x81, 0xfc, 0xf2, 0x8f, 0x7b, 0x25, 0xa3, 0xfa, 0x4f, 0xfd, 0x11, 0x4a,
        0xe2, 0x00, 0xc2, 0x6c, 0x8f, 0xad, 0x86, 0xbb, 0xb2, 0x0c, 0x7b, 0x66,
        0x5a, 0x34, 0x9b, 0xff, 0x50, 0x4e, 0x29, 0xa6, 0xf5, 0x50, 0x33, 0x31,
        0xca, 0xb8, 0x26, 0xd4, 0x32, 0x1b, 0xca, 0xbf, 0xd6, 0x78, 0xc3, 0x5d,
        0x4c, 0x0e, 0x47, 0x14, 0xfe, 0x08, 0x6f, 0x81, 0x06, 0x62, 0x3d, 0xef,
        0x0d, 0xd2, 0x32, 0xdc, 0xc5, 0xcf, 0x68, 0x72, 0xbd, 0x19, 0xe2, 0xcb,
        0x3b, 0xb0, 0xfa, 0x31,
};
static const uint8_t ek_ecc[172] = {
        0x00, 0xaa, 0x00, 0x23, 0x00, 0x0c, 0x00, 0x03, 0x00, 0xf2, 0x00, 0x30,
        0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82, 0xbc,
        0xf5, 0xfd, 0x3a, 0x1a, 0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4,
        0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca, 0xcb, 0x47, 0xba, 0x09,
        0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12,
        0x00, 0x06, 0x01, 0x00, 0x00, 0x43, 0x00, 0x10, 0x00, 0x04, 0x00, 0x10,
        0x00, 0x30, 0x21, 0x6a, 0x59, 0xfb, 0x45, 0x15, 0xa1, 0xf3, 0xce, 0xb1,
        0x26, 0x3f, 0x5d, 0x72, 0xff, 0x43, 0xc1, 0xd8, 0xbd, 0x03, 0xf0, 0x0b,
        0xdf, 0x63, 0xa7, 0xd8, 0xe2, 0x10, 0xd5, 0x14, 0xe5, 0x0a, 0xd9, 0xa1,
        0xea, 0x97, 0x68, 0x02, 0xbf, 0xb3, 0x8d, 0x5c, 0xf2, 0xdd, 0x54, 0x4d,
        0xe2, 0x9f, 0x00, 0x30, 0x6b, 0xac, 0x0f, 0x49, 0xec, 0xef, 0x47, 0x61,
        0x34, 0x43, 0x4d, 0xf0, 0x89, 0xc1, 0x66, 0x28, 0xbd, 0xc0, 0xd0, 0xb6,
        0x7a, 0xe5, 0x0e, 0x2e, 0x92, 0x2d, 0xc2, 0xd4, 0xfa, 0x2d, 0xb2, 0xee,
        0x14, 0x18, 0x5c, 0x51, 0x9f, 0x48, 0x84, 0x5b, 0x45, 0xbe, 0x09, 0x68,
        0xc5, 0x84, 0x76, 0x73,
};
static const uint8_t ak_rsa[282] = {
        0x01, 0x18, 0x00, 0x01, 0x00, 0x0b, 0x00, 0x05, 0x00, 0x72, 0x00, 0x00,
        0x00, 0x10, 0x00, 0x14, 0x00, 0x0b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x8f, 0x20, 0x1c, 0xac, 0xcb, 0xa1, 0xa9, 0x03, 0xad, 0x76,
        0xc6, 0x84, 0x44, 0x9e, 0xae, 0x7f, 0x15, 0xf6, 0xea, 0x3d, 0x15, 0x81,
        0x29, 0x9e, 0x7f, 0x58, 0xd2, 0xb4, 0xa7, 0x25, 0xd8, 0xf9, 0xc0, 0xce,
        0xe8, 0x15, 0xea, 0x02, 0x9a, 0x78, 0x0e, 0x25, 0xc2, 0x6c, 0x11, 0xca,
        0xc7, 0x0a, 0x6a, 0x83, 0xa3, 0x7d, 0x6f, 0x01, 0x0f, 0x6a, 0xf2, 0x94,
        0x34, 0x4a, 0x52, 0x0a, 0x9b, 0x17, 0x1a, 0x3e, 0x15, 0x66, 0x99, 0xce,
        0x31, 0xe2, 0x21, 0x79, 0x90, 0x35, 0x96, 0x46, 0x8f, 0x21, 0x1d, 0x4f,
        0xd8, 0x08, 0x88, 0x25, 0x5c, 0x9e, 0x43, 0xf9, 0x8a, 0x56, 0x6d, 0x5f,
        0x69, 0xa8, 0x8f, 0x97, 0x47, 0x65, 0xfa, 0xf2, 0x61, 0xb2, 0xf9, 0xf5,
        0x8a, 0x0d, 0x42, 0xd5, 0x7d, 0x0d, 0xda, 0x5f, 0x48, 0x47, 0x86, 0xbc,
        0xe6, 0x5d, 0xb6, 0x89, 0xe9, 0xdf, 0x92, 0x41, 0x79, 0xeb, 0x34, 0xa8,
        0xfc, 0xdd, 0x10, 0x14, 0x69, 0x81, 0x7a, 0x96, 0x25, 0x38, 0xa4, 0x16,
        0x2a, 0x68, 0x4e, 0x04, 0xa0, 0xe1, 0x5f, 0x0a, 0x5d, 0xb0, 0xa7, 0x57,
        0x6a, 0xdf, 0x15, 0x60, 0xc2, 0xac, 0x4e, 0x20, 0x39, 0xa4, 0x72, 0xe9,
        0x1f, 0x54, 0x0c, 0x86, 0x27, 0x00, 0x88, 0x88, 0x54, 0x86, 0xc8, 0xd7,
        0x6f, 0x35, 0xa1, 0xc6, 0x19, 0xd5, 0x1b, 0x59, 0x74, 0x6f, 0x2a, 0x0c,
        0xa5, 0x93, 0x62, 0xca, 0x59, 0x1c, 0x8c, 0x70, 0xdf, 0x70, 0x49, 0x82,
        0xb3, 0x47, 0x3c, 0x79, 0xb1, 0xa9, 0x21, 0x7f, 0xa0, 0x95, 0x4b, 0x88,
        0xff, 0xc2, 0x58, 0xbf, 0x66, 0x0e, 0xf7, 0x98, 0xc7, 0xda, 0x65, 0x41,
        0xb1, 0x98, 0x92, 0xd0, 0x9b, 0x8b, 0x5d, 0x2f, 0x08, 0x65, 0x5d, 0x4c,
        0x68, 0x15, 0xa2, 0x55, 0xb1, 0xf2, 0x33, 0x72, 0xeb, 0x0b, 0xcf, 0x34,
        0xab, 0x27, 0x0e, 0xaa, 0x25, 0xe5,
};

/* The Names `tpm2_readpublic -c <handle or context>` printed for them. */
static const char ek_rsa_name[] = "000be6878b959d2ced72c90ad7a2eb5c91e6bc391229853fb57f3affef7cb5e729e4";
static const char ek_ecc_name[] =
        "000c121c630d8216983ffdfc4efde28f3d853d115c1922e7ae308fd7a806b2f22862cd687d5ca924fe656810c99aea030684";
static const char ak_rsa_name[] = "000b23c06fc61d61fae17d9996f7ed84b08de8a0ab15df59408a79820969aff426a9";

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
        size_t n = strlen(hex) / 2;
        assert_true(strlen(hex) % 2 == 0 && n <= max);
        for (size_t i = 0; i < n; i++) {
                unsigned v;
                assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
                out[i] = (uint8_t)v;
        }
        return n;
}

static TPM2B_PUBLIC parse_ok(const uint8_t *buf, size_t len)
{
        TPM2B_PUBLIC pub;
        char why[200] = "";
        if (makecred_parse_public(buf, len, &pub, why, sizeof(why)) < 0)
                fail_msg("makecred_parse_public: %s", why);
        return pub;
}

/* ---- KDFs ---- */

/* Expected outputs computed with Python's hmac/hashlib from the definitions
 * of Part 1 §11.4.10, written apart from Ember's code:
 *
 *   def kdfa(h, key, label, u, v, bits):
 *       out, i = b'', 1
 *       while len(out) * 8 < bits:
 *           out += hmac.new(key, pack('>I', i) + label + b'\0' + u + v + pack('>I', bits), h).digest(); i += 1
 *       return out[:bits // 8]
 *   def kdfe(h, z, label, u, v, bits):
 *       out, i = b'', 1
 *       while len(out) * 8 < bits:
 *           out += hashlib.new(h, pack('>I', i) + z + label + b'\0' + u + v).digest(); i += 1
 *       return out[:bits // 8]
 *
 * seq(start, n) is the bytes start, start+1, … (mod 256). The vectors cover
 * a key shorter than a block, exactly one block, SHA-384, both contexts, and
 * several blocks with a partial last one. That a TPM accepts what KDFa and
 * KDFe derive is checked against swtpm by t-makecred-swtpm. */
struct kdf_vector {
        bool kdfe;
        TPM2_ALG_ID hash;
        uint8_t key_start;
        size_t key_len;
        const char *label;
        uint16_t u_prefix; /* 0: none; else a Name-like nameAlg in front of u */
        uint8_t u_start;
        size_t u_len;
        uint8_t v_start;
        size_t v_len;
        size_t bits;
        const char *expect;
};

static const struct kdf_vector kdf_vectors[] = {
        { false, TPM2_ALG_SHA256, 0x00, 32, "STORAGE", 0x000b, 0x20, 32, 0, 0, 128, "44d0c54553f7cd6bf17d99c547ec79d6" },
        { false, TPM2_ALG_SHA256, 0x00, 32, "INTEGRITY", 0, 0, 0, 0, 0, 256,
          "bacf689f634ece301e1f1b15b072d9c87db6a69585db42b1a0cb8f73ebe2692e" },
        { false, TPM2_ALG_SHA384, 0x40, 48, "STORAGE", 0x000c, 0x80, 48, 0, 0, 256,
          "85565bfdd5e60f66f598265c283177a8cfd47bec3e7f58cadd3a5fd8f564b33c" },
        { false, TPM2_ALG_SHA256, 0x10, 20, "KDF", 0, 0xa0, 7, 0xc0, 9, 520,
          "782ea482e2943aa476ba777b9a7a0a57f634964b8e2359c7d7dba58527bc926bc41e05dfd0c04f84be76de223f09752d601e9525b9"
          "2027b0087655a61f3934307a" },
        { true, TPM2_ALG_SHA256, 0x01, 32, "IDENTITY", 0, 0x30, 32, 0x60, 32, 256,
          "36808eefadb131adcfbb3cd7a29002de1eaf8c65c05b77a1f482b83e05af6d19" },
        { true, TPM2_ALG_SHA384, 0x02, 48, "IDENTITY", 0, 0x31, 48, 0x61, 48, 384,
          "49f531fa0c93ffb12f90888becdf77ec46a6954ee8411b236ef8bf06d0f8097e38990afc2e2816c462f73e3a2b910660" },
        { true, TPM2_ALG_SHA256, 0x03, 32, "IDENTITY", 0, 0x32, 5, 0, 0, 520,
          "1be0c4392a2773a76b2714a05672c6e332bb681ea44c8a362f3efd1e715e30d7d9c6cc81888c4746b4e5bbdac60c63c19986a3e01fd5"
          "04f7f9c2c3b98d38cef5dc" },
};

static void seq(uint8_t *out, uint8_t start, size_t n)
{
        for (size_t i = 0; i < n; i++)
                out[i] = (uint8_t)(start + i);
}

static void test_kdf_vectors(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(kdf_vectors); i++) {
                const struct kdf_vector *t = &kdf_vectors[i];
                uint8_t key[64], u[2 + 64], v[64], expect[128], out[128 + 1];
                size_t u_len = 0, n = unhex(t->expect, expect, sizeof(expect));
                seq(key, t->key_start, t->key_len);
                if (t->u_prefix) {
                        u[0] = (uint8_t)(t->u_prefix >> 8);
                        u[1] = (uint8_t)t->u_prefix;
                        u_len = 2;
                }
                seq(u + u_len, t->u_start, t->u_len);
                u_len += t->u_len;
                seq(v, t->v_start, t->v_len);
                assert_int_equal(n, t->bits / 8);
                memset(out, 0xee, sizeof(out));
                int r = t->kdfe ? makecred_kdfe(t->hash, key, t->key_len, t->label, u, u_len, v, t->v_len, t->bits, out)
                                : makecred_kdfa(t->hash, key, t->key_len, t->label, u, u_len, v, t->v_len, t->bits, out);
                assert_int_equal(r, 0);
                if (memcmp(out, expect, n) != 0)
                        fail_msg("vector %zu differs", i);
                assert_int_equal(out[n], 0xee); /* wrote bits/8 bytes, no more */
        }
}

static void test_kdf_bad_args(void **state)
{
        uint8_t key[32] = { 1 }, out[64];
        assert_int_equal(makecred_kdfa(TPM2_ALG_SHA256, key, 32, "X", NULL, 0, NULL, 0, 0, out), -EINVAL);
        assert_int_equal(makecred_kdfa(TPM2_ALG_SHA256, key, 32, "X", NULL, 0, NULL, 0, 127, out), -EINVAL);
        assert_int_equal(makecred_kdfa(TPM2_ALG_SM3_256, key, 32, "X", NULL, 0, NULL, 0, 128, out), -EINVAL);
        assert_int_equal(makecred_kdfa(TPM2_ALG_SHA256, key, 32, NULL, NULL, 0, NULL, 0, 128, out), -EINVAL);
        assert_int_equal(makecred_kdfa(TPM2_ALG_SHA256, key, 32, "X", NULL, 5, NULL, 0, 128, out), -EINVAL);
        assert_int_equal(makecred_kdfe(TPM2_ALG_SHA256, NULL, 32, "X", NULL, 0, NULL, 0, 128, out), -EINVAL);
        assert_int_equal(makecred_kdfe(TPM2_ALG_SHA256, key, 32, "X", NULL, 0, NULL, 0, 128, NULL), -EINVAL);
        /* an empty key and empty contexts are legal */
        assert_int_equal(makecred_kdfa(TPM2_ALG_SHA256, NULL, 0, "X", NULL, 0, NULL, 0, 128, out), 0);
}

/* ---- Names ---- */

static void assert_name(const uint8_t *pub_bytes, size_t len, const char *hex)
{
        TPM2B_PUBLIC pub = parse_ok(pub_bytes, len);
        TPM2B_NAME name;
        uint8_t expect[sizeof(name.name)];
        size_t n = unhex(hex, expect, sizeof(expect));
        assert_int_equal(makecred_name(&pub, &name), 0);
        assert_int_equal(name.size, n);
        assert_memory_equal(name.name, expect, n);
}

static void test_name(void **state)
{
        assert_name(ak_rsa, sizeof(ak_rsa), ak_rsa_name);
        assert_name(ek_rsa, sizeof(ek_rsa), ek_rsa_name);
        assert_name(ek_ecc, sizeof(ek_ecc), ek_ecc_name); /* SHA-384 */

        TPM2B_PUBLIC pub = parse_ok(ak_rsa, sizeof(ak_rsa));
        TPM2B_NAME name = { .size = 7 };
        pub.publicArea.nameAlg = TPM2_ALG_NULL;
        assert_int_equal(makecred_name(&pub, &name), -EOPNOTSUPP);
        assert_int_equal(name.size, 7);
        assert_int_equal(makecred_name(NULL, &name), -EINVAL);
}

/* ---- parsing ---- */

static void assert_parse_fails(const uint8_t *buf, size_t len, const char *why_part)
{
        TPM2B_PUBLIC pub, before;
        char why[200] = "";
        memset(&pub, 0xa5, sizeof(pub));
        before = pub;
        assert_int_equal(makecred_parse_public(buf, len, &pub, why, sizeof(why)), -EBADMSG);
        assert_memory_equal(&pub, &before, sizeof(pub)); /* nothing written */
        if (why_part && !strstr(why, why_part))
                fail_msg("reason \"%s\" lacks \"%s\"", why, why_part);
}

static void test_parse_truncated(void **state)
{
        static const struct {
                const uint8_t *p;
                size_t len;
        } fixtures[] = { { ek_rsa, sizeof(ek_rsa) }, { ek_ecc, sizeof(ek_ecc) }, { ak_rsa, sizeof(ak_rsa) } };
        for (size_t f = 0; f < ELEMENTSOF(fixtures); f++) {
                for (size_t len = 0; len < fixtures[f].len; len++) {
                        /* a heap copy of exactly len bytes, so ASan sees any read past it */
                        uint8_t *copy = malloc(len ? len : 1);
                        assert_non_null(copy);
                        memcpy(copy, fixtures[f].p, len);
                        assert_parse_fails(copy, len, "TPM2B_PUBLIC");
                        free(copy);
                }
                parse_ok(fixtures[f].p, fixtures[f].len);
        }
}

static void test_parse_size_field(void **state)
{
        uint8_t buf[sizeof(ek_rsa) + 1];
        memcpy(buf, ek_rsa, sizeof(ek_rsa));
        buf[sizeof(ek_rsa)] = 0;
        assert_parse_fails(buf, sizeof(buf), "1 bytes after its end"); /* trailing byte */
        buf[1]++;
        assert_parse_fails(buf, sizeof(buf), NULL); /* size covers it, public area does not */
        buf[1] -= 2;
        assert_parse_fails(buf, sizeof(ek_rsa), "size field says 313"); /* size one short */
        assert_parse_fails((const uint8_t *)"\0\0", 2, "empty");
        assert_int_equal(makecred_parse_public(NULL, 0, &(TPM2B_PUBLIC){ 0 }, NULL, 0), -EINVAL);
}

/* ---- checking the EK ---- */

static void test_check_real_eks(void **state)
{
        char why[200] = "";
        TPM2B_PUBLIC rsa = parse_ok(ek_rsa, sizeof(ek_rsa)), ecc = parse_ok(ek_ecc, sizeof(ek_ecc)),
                     ak = parse_ok(ak_rsa, sizeof(ak_rsa));
        assert_int_equal(makecred_check_ek(&rsa, why, sizeof(why)), 0);
        assert_int_equal(makecred_check_ek(&ecc, why, sizeof(why)), 0);
        /* an AK signs: never an EK */
        assert_int_equal(makecred_check_ek(&ak, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "EK is not a storage key (restricted decrypt"));
}

/* A mutated EK goes the whole way a node's bytes go: marshalled, parsed,
 * checked; the refusal must be err with a reason naming the problem. */
static void assert_refused(const TPM2B_PUBLIC *ek, int err, const char *why_part)
{
        uint8_t buf[sizeof(TPM2B_PUBLIC)];
        size_t off = 0;
        char why[200] = "";
        TPM2B_PUBLIC copy = *ek, parsed;
        copy.size = 0; /* let tss2-mu compute it */
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&copy, buf, sizeof(buf), &off), TSS2_RC_SUCCESS);
        assert_int_equal(makecred_parse_public(buf, off, &parsed, why, sizeof(why)), 0);
        assert_int_equal(makecred_check_ek(&parsed, why, sizeof(why)), err);
        if (!strstr(why, why_part))
                fail_msg("reason \"%s\" lacks \"%s\"", why, why_part);
}

static void test_check_refuses(void **state)
{
        const TPM2B_PUBLIC rsa = parse_ok(ek_rsa, sizeof(ek_rsa)), ecc = parse_ok(ek_ecc, sizeof(ek_ecc));
        TPM2B_PUBLIC t;

        t = rsa; /* RSA-1024 (a modulus of the right length, so only the size is wrong) */
        t.publicArea.parameters.rsaDetail.keyBits = 1024;
        t.publicArea.unique.rsa.size = 128;
        assert_refused(&t, -EOPNOTSUPP, "EK RSA key size 1024 not supported");
        t = rsa;
        t.publicArea.nameAlg = TPM2_ALG_SHA1;
        assert_refused(&t, -EOPNOTSUPP, "EK nameAlg SHA-1 not supported");
        t = ecc;
        t.publicArea.nameAlg = TPM2_ALG_SM3_256;
        assert_refused(&t, -EOPNOTSUPP, "EK nameAlg 0x0012 not supported");
        t = rsa;
        t.publicArea.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
        assert_refused(&t, -EBADMSG, "EK is not a storage key (restricted decrypt");
        t = ecc;
        t.publicArea.objectAttributes &= ~TPMA_OBJECT_DECRYPT;
        assert_refused(&t, -EBADMSG, "EK is not a storage key (restricted decrypt");
        t = rsa;
        t.publicArea.objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT;
        assert_refused(&t, -EBADMSG, "EK is not a storage key (restricted decrypt");
        t = ecc;
        t.publicArea.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
        assert_refused(&t, -EOPNOTSUPP, "EK curve 0x0010 not supported");
        t = ecc;
        t.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P521;
        assert_refused(&t, -EOPNOTSUPP, "EK curve 0x0005 not supported");
        t = ecc; /* a P-384 point claimed for P-256 */
        t.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        assert_refused(&t, -EBADMSG, "do not fit NIST P-256");
        t = ecc;
        t.publicArea.unique.ecc.y.buffer[10] ^= 1;
        assert_refused(&t, -EBADMSG, "EK public point is not on NIST P-384");
        t = ecc;
        t.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_KDF1_SP800_56A;
        t.publicArea.parameters.eccDetail.kdf.details.kdf1_sp800_56a.hashAlg = TPM2_ALG_SHA384;
        assert_refused(&t, -EOPNOTSUPP, "EK ECC KDF 0x0020 not supported");
        t = rsa;
        t.publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        assert_refused(&t, -EOPNOTSUPP, "EK symmetric algorithm 0x0010 not supported");
        t = rsa;
        t.publicArea.parameters.rsaDetail.symmetric.keyBits.aes = 192;
        assert_refused(&t, -EOPNOTSUPP, "EK symmetric key size 192 not supported");
        t = ecc;
        t.publicArea.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CBC;
        assert_refused(&t, -EOPNOTSUPP, "EK symmetric mode 0x0042 not supported");
        t = rsa;
        t.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_OAEP;
        t.publicArea.parameters.rsaDetail.scheme.details.oaep.hashAlg = TPM2_ALG_SHA256;
        assert_refused(&t, -EBADMSG, "EK RSA scheme is 0x0017");
        t = rsa;
        t.publicArea.parameters.rsaDetail.exponent = 65536; /* even */
        assert_refused(&t, -EBADMSG, "EK RSA public key check failed");
        t = rsa;
        t.publicArea.unique.rsa.buffer[0] = 0x01; /* a 2041-bit modulus */
        assert_refused(&t, -EBADMSG, "EK RSA modulus is shorter than keyBits 2048");
        t = rsa;
        t.publicArea.unique.rsa.size = 255;
        assert_refused(&t, -EBADMSG, "EK RSA modulus is 255 bytes");
        t = rsa;
        t.publicArea.type = TPM2_ALG_KEYEDHASH;
        t.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
        t.publicArea.unique.keyedHash.size = 32;
        assert_refused(&t, -EOPNOTSUPP, "EK type 0x0008 not supported");
}

/* ---- making credentials ---- */

/* A deterministic source (a 64-bit LCG): the output only has to be
 * reproducible and differ between seeds. */
struct test_rng {
        uint64_t state;
        bool fail;
};

static int test_fill(void *userdata, uint8_t *buf, size_t len)
{
        struct test_rng *t = userdata;
        if (t->fail)
                return -EIO;
        for (size_t i = 0; i < len; i++) {
                t->state = t->state * 6364136223846793005ULL + 1442695040888963407ULL;
                buf[i] = (uint8_t)(t->state >> 56);
        }
        return 0;
}

static void make_ok(const uint8_t *ek_bytes, size_t ek_len, uint64_t seed, const uint8_t *s, size_t s_len,
                    struct makecred_blobs *out)
{
        TPM2B_PUBLIC ek = parse_ok(ek_bytes, ek_len), ak = parse_ok(ak_rsa, sizeof(ak_rsa));
        TPM2B_NAME name;
        struct test_rng t = { .state = seed };
        struct makecred_rng rng = { test_fill, &t };
        char why[200] = "";
        assert_int_equal(makecred_name(&ak, &name), 0);
        if (makecred(&ek, &name, s, s_len, &rng, out, why, sizeof(why)) < 0)
                fail_msg("makecred: %s", why);
}

/* What came out unmarshals as the two TPM structures, every byte used, and
 * the credential is TPM2B_DIGEST(HMAC) ‖ encrypted (size ‖ S). */
static void assert_shape(const struct makecred_blobs *b, size_t digest, size_t s_len, size_t secret_size)
{
        TPM2B_ID_OBJECT id = { 0 };
        TPM2B_ENCRYPTED_SECRET enc = { 0 };
        size_t off = 0;
        assert_int_equal(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(b->credential_blob, b->credential_blob_len, &off, &id), 0);
        assert_int_equal(off, b->credential_blob_len);
        assert_int_equal(id.size, 2 + digest + 2 + s_len);
        assert_int_equal(id.credential[0] << 8 | id.credential[1], digest);
        off = 0;
        assert_int_equal(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(b->secret, b->secret_len, &off, &enc), 0);
        assert_int_equal(off, b->secret_len);
        assert_int_equal(enc.size, secret_size);
}

static void test_make_shape(void **state)
{
        uint8_t s[48];
        struct makecred_blobs a, b;
        seq(s, 0x5a, sizeof(s));

        make_ok(ek_rsa, sizeof(ek_rsa), 1, s, 32, &a);
        assert_shape(&a, 32, 32, 256); /* SHA-256 HMAC; OAEP block of the 2048-bit modulus */
        make_ok(ek_rsa, sizeof(ek_rsa), 1, s, 32, &b);
        assert_memory_equal(&a, &b, sizeof(a)); /* same randomness, same output */
        make_ok(ek_rsa, sizeof(ek_rsa), 2, s, 32, &b);
        assert_memory_not_equal(a.credential_blob, b.credential_blob, a.credential_blob_len);
        make_ok(ek_rsa, sizeof(ek_rsa), 1, s, 1, &b);
        assert_shape(&b, 32, 1, 256);

        /* P-384 / SHA-384: an HMAC of 48 bytes, a secret of up to 48, the
         * ephemeral point (2 + 48) * 2 */
        make_ok(ek_ecc, sizeof(ek_ecc), 1, s, 48, &a);
        assert_shape(&a, 48, 48, 2 + 48 + 2 + 48);
        make_ok(ek_ecc, sizeof(ek_ecc), 1, s, 48, &b);
        assert_memory_equal(&a, &b, sizeof(a));
        make_ok(ek_ecc, sizeof(ek_ecc), 3, s, 48, &b);
        assert_memory_not_equal(a.secret, b.secret, a.secret_len);
}

static void assert_make_fails(const TPM2B_PUBLIC *ek, const TPM2B_NAME *name, size_t s_len,
                              const struct makecred_rng *rng, int err, const char *why_part)
{
        uint8_t s[65] = { 0 };
        struct makecred_blobs out, before;
        char why[200] = "";
        memset(&out, 0xa5, sizeof(out));
        before = out;
        assert_int_equal(makecred(ek, name, s, s_len, rng, &out, why, sizeof(why)), err);
        assert_memory_equal(&out, &before, sizeof(out));
        if (why_part && !strstr(why, why_part))
                fail_msg("reason \"%s\" lacks \"%s\"", why, why_part);
}

static void test_make_refuses(void **state)
{
        TPM2B_PUBLIC rsa = parse_ok(ek_rsa, sizeof(ek_rsa)), ecc = parse_ok(ek_ecc, sizeof(ek_ecc)),
                     ak = parse_ok(ak_rsa, sizeof(ak_rsa));
        TPM2B_NAME name, bad;
        struct test_rng t = { .state = 1 };
        struct makecred_rng rng = { test_fill, &t };
        assert_int_equal(makecred_name(&ak, &name), 0);

        /* the secret is a TPM2B_DIGEST no longer than the EK's nameAlg digest */
        assert_make_fails(&rsa, &name, 0, &rng, -EINVAL, "credential of 0 bytes");
        assert_make_fails(&rsa, &name, 33, &rng, -EINVAL, "must be 1 to 32 (the EK's SHA-256 digest size)");
        assert_make_fails(&ecc, &name, 49, &rng, -EINVAL, "must be 1 to 48");

        /* Names that are not algorithm ‖ digest */
        bad = name;
        bad.size = 33;
        assert_make_fails(&rsa, &bad, 32, &rng, -EINVAL, "not a digest Name");
        bad.size = 0;
        assert_make_fails(&rsa, &bad, 32, &rng, -EINVAL, "not a digest Name");
        bad = name;
        bad.name[1] = 0x99;
        assert_make_fails(&rsa, &bad, 32, &rng, -EINVAL, "algorithm 0x0099");
        bad.size = 4; /* a handle's Name */
        memcpy(bad.name, "\x81\x01\x00\x01", 4);
        assert_make_fails(&rsa, &bad, 32, &rng, -EINVAL, "not a digest Name");

        /* the EK is checked by makecred() itself */
        TPM2B_PUBLIC weak = rsa;
        weak.publicArea.objectAttributes &= ~TPMA_OBJECT_DECRYPT;
        assert_make_fails(&weak, &name, 32, &rng, -EBADMSG, "not a storage key");

        /* a failing random source fails the call, never a weak credential */
        t.fail = true;
        assert_make_fails(&rsa, &name, 32, &rng, -EIO, "drawing the seed failed");
        assert_make_fails(&ecc, &name, 32, &rng, -EIO, "ephemeral ECC key failed");

        struct makecred_blobs out;
        uint8_t s[32] = { 0 };
        assert_int_equal(makecred(NULL, &name, s, 32, NULL, &out, NULL, 0), -EINVAL);
        assert_int_equal(makecred(&rsa, NULL, s, 32, NULL, &out, NULL, 0), -EINVAL);
        assert_int_equal(makecred(&rsa, &name, NULL, 32, NULL, &out, NULL, 0), -EINVAL);
        assert_int_equal(makecred(&rsa, &name, s, 32, &(struct makecred_rng){ NULL, NULL }, &out, NULL, 0), -EINVAL);
}

/* The default source (CTR_DRBG from mbedtls_entropy) works and does not
 * repeat itself. */
static void test_make_default_rng(void **state)
{
        TPM2B_PUBLIC rsa = parse_ok(ek_rsa, sizeof(ek_rsa)), ecc = parse_ok(ek_ecc, sizeof(ek_ecc)),
                     ak = parse_ok(ak_rsa, sizeof(ak_rsa));
        TPM2B_NAME name;
        struct makecred_blobs a, b;
        uint8_t s[32] = { 7 };
        char why[200] = "";
        assert_int_equal(makecred_name(&ak, &name), 0);
        assert_int_equal(makecred(&rsa, &name, s, sizeof(s), NULL, &a, why, sizeof(why)), 0);
        assert_int_equal(makecred(&rsa, &name, s, sizeof(s), NULL, &b, why, sizeof(why)), 0);
        assert_memory_not_equal(a.secret, b.secret, a.secret_len);
        assert_int_equal(makecred(&ecc, &name, s, sizeof(s), NULL, &a, why, sizeof(why)), 0);
        assert_int_equal(makecred(&ecc, &name, s, sizeof(s), NULL, &b, why, sizeof(why)), 0);
        assert_memory_not_equal(a.secret, b.secret, a.secret_len);
}

/* ---- driver mode (see the top of this file) ---- */

static int read_public(const char *path, TPM2B_PUBLIC *ret)
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        char why[200] = "";
        int r = read_file_all(path, 64 * 1024, &buf, &len);
        if (r < 0) {
                fprintf(stderr, "makecred: reading %s: %s\n", path, strerror(-r));
                return r;
        }
        r = makecred_parse_public(buf, len, ret, why, sizeof(why));
        if (r < 0)
                fprintf(stderr, "makecred: %s: %s\n", path, why);
        return r;
}

static int drive_name(const char *path)
{
        TPM2B_PUBLIC pub;
        TPM2B_NAME name;
        if (read_public(path, &pub) < 0 || makecred_name(&pub, &name) < 0)
                return 1;
        for (size_t i = 0; i < name.size; i++)
                printf("%02x", name.name[i]);
        printf("\n");
        return 0;
}

static int drive_make(const char *ek_path, const char *name_hex, const char *secret_path, const char *out_path)
{
        static const uint8_t header[8] = { 0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1 };
        _cleanup_free_ char *secret = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        TPM2B_PUBLIC ek;
        TPM2B_NAME name = { 0 };
        struct makecred_blobs out;
        size_t secret_len, hex_len = strlen(name_hex);
        char why[256] = "";

        if (hex_len % 2 || hex_len / 2 > sizeof(name.name)) {
                fprintf(stderr, "makecred: EMBER_MAKECRED_AK_NAME is not a hex Name\n");
                return 1;
        }
        for (size_t i = 0; i < hex_len / 2; i++) {
                unsigned v;
                if (sscanf(name_hex + 2 * i, "%2x", &v) != 1) {
                        fprintf(stderr, "makecred: EMBER_MAKECRED_AK_NAME is not a hex Name\n");
                        return 1;
                }
                name.name[i] = (uint8_t)v;
        }
        name.size = (UINT16)(hex_len / 2);
        if (read_public(ek_path, &ek) < 0)
                return 1;
        if (read_file_all(secret_path, 1024, &secret, &secret_len) < 0) {
                fprintf(stderr, "makecred: cannot read %s\n", secret_path);
                return 1;
        }
        if (makecred(&ek, &name, (const uint8_t *)secret, secret_len, NULL, &out, why, sizeof(why)) < 0) {
                fprintf(stderr, "makecred: %s\n", why);
                return 1;
        }
        f = fopen(out_path, "we");
        if (!f || fwrite(header, 1, sizeof(header), f) != sizeof(header) ||
            fwrite(out.credential_blob, 1, out.credential_blob_len, f) != out.credential_blob_len ||
            fwrite(out.secret, 1, out.secret_len, f) != out.secret_len || fflush(f) != 0) {
                fprintf(stderr, "makecred: writing %s failed\n", out_path);
                return 1;
        }
        return 0;
}

int main(void)
{
        const char *name_of = getenv("EMBER_MAKECRED_NAME_OF"), *ek = getenv("EMBER_MAKECRED_EK");
        if (name_of)
                return drive_name(name_of);
        if (ek) {
                const char *name = getenv("EMBER_MAKECRED_AK_NAME"), *secret = getenv("EMBER_MAKECRED_SECRET"),
                           *out = getenv("EMBER_MAKECRED_OUT");
                if (!name || !secret || !out) {
                        fprintf(stderr, "makecred: EMBER_MAKECRED_EK needs _AK_NAME, _SECRET and _OUT\n");
                        return 1;
                }
                return drive_make(ek, name, secret, out);
        }

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kdf_vectors),      cmocka_unit_test(test_kdf_bad_args),
                cmocka_unit_test(test_name),             cmocka_unit_test(test_parse_truncated),
                cmocka_unit_test(test_parse_size_field), cmocka_unit_test(test_check_real_eks),
                cmocka_unit_test(test_check_refuses),    cmocka_unit_test(test_make_shape),
                cmocka_unit_test(test_make_refuses),     cmocka_unit_test(test_make_default_rng),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
