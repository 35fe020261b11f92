/* SPDX-License-Identifier: Apache-2.0 */
/* EK certificates (attest/ekcert.c) on swtpm's real ones and on
 * certificates made here for what swtpm does not produce.
 *
 * Captured (tests/attest/data/README-ekcert.md): swtpm-localca's root and
 * intermediate, the RSA-2048 and ECC P-384 EK certificates from NV
 * 0x01c00002 and 0x01c00016 with their EKs' TPM2B_PUBLICs, and the platform
 * certificate (0x01c08000: the same key, another extended key usage).
 *
 * Made at test time with mbedtls (a P-256 CA key; the captured RSA EK as
 * the certified key): a root, an expired root, EK certificates with the
 * vendors' forms (empty subject, critical SAN directoryName, TCG
 * subjectDirectoryAttributes, notAfter 9999), an unknown critical
 * extension, SHA-1, not yet valid, and an intermediate that takes the name
 * of swtpm's. */
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
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "ekcert.h"
#include "fileio.h"
#include "makecred.h"
#include "util.h"

#define CERT_BUF 4096

struct blob {
        uint8_t *p;
        size_t len;
};

static struct {
        struct blob root, issuer, rsa, ecc, platform;
        TPM2B_PUBLIC ek_rsa, ek_ecc;
        mbedtls_entropy_context entropy;
        mbedtls_ctr_drbg_context drbg;
        mbedtls_pk_context ca_key;  /* every made CA's */
        mbedtls_pk_context ek_key;  /* the RSA EK's public key */
        struct blob made_root;      /* CN=Ember test root, made with ca_key */
        unsigned serial;
} f;

static struct blob fixture(const char *name)
{
        char path[512];
        char *buf;
        size_t len;
        snprintf(path, sizeof(path), "%s/%s", EMBER_TEST_DATA, name);
        if (read_file_all(path, 64 * 1024, &buf, &len) < 0)
                fail_msg("cannot read %s", path);
        return (struct blob){ (uint8_t *)buf, len };
}

static TPM2B_PUBLIC ek_fixture(const char *name)
{
        struct blob b = fixture(name);
        TPM2B_PUBLIC pub;
        char why[200];
        assert_int_equal(makecred_parse_public(b.p, b.len, &pub, why, sizeof(why)), 0);
        free(b.p);
        return pub;
}

/* ---- certificates made here -------------------------------------------- */

struct ext {
        const char *oid; /* DER content of the OID */
        size_t oid_len;
        bool critical;
        const uint8_t *val;
        size_t len;
};

struct spec {
        const char *subject, *issuer;
        const char *from, *to; /* YYYYMMDDhhmmss */
        bool ca;
        mbedtls_md_type_t md;          /* 0: SHA-256 */
        mbedtls_pk_context *key;       /* the certified key; 0: ca_key */
        struct ext ext[4];
};

static struct blob make(const struct spec *s)
{
        mbedtls_x509write_cert c;
        mbedtls_mpi serial;
        unsigned char buf[CERT_BUF];
        mbedtls_x509write_crt_init(&c);
        mbedtls_mpi_init(&serial);
        assert_int_equal(mbedtls_mpi_lset(&serial, (mbedtls_mpi_sint)++f.serial), 0);
        mbedtls_x509write_crt_set_version(&c, MBEDTLS_X509_CRT_VERSION_3);
        assert_int_equal(mbedtls_x509write_crt_set_serial(&c, &serial), 0);
        assert_int_equal(mbedtls_x509write_crt_set_validity(&c, s->from, s->to), 0);
        assert_int_equal(mbedtls_x509write_crt_set_subject_name(&c, s->subject), 0);
        assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&c, s->issuer), 0);
        mbedtls_x509write_crt_set_subject_key(&c, s->key ? s->key : &f.ca_key);
        mbedtls_x509write_crt_set_issuer_key(&c, &f.ca_key);
        mbedtls_x509write_crt_set_md_alg(&c, s->md ? s->md : MBEDTLS_MD_SHA256);
        assert_int_equal(mbedtls_x509write_crt_set_basic_constraints(&c, s->ca, -1), 0);
        assert_int_equal(mbedtls_x509write_crt_set_key_usage(&c, s->ca ? MBEDTLS_X509_KU_KEY_CERT_SIGN
                                                                        : MBEDTLS_X509_KU_KEY_ENCIPHERMENT),
                         0);
        for (size_t i = 0; i < ELEMENTSOF(s->ext) && s->ext[i].oid; i++)
                assert_int_equal(mbedtls_x509write_crt_set_extension(&c, s->ext[i].oid, s->ext[i].oid_len,
                                                                     s->ext[i].critical, s->ext[i].val, s->ext[i].len),
                                 0);
        int n = mbedtls_x509write_crt_der(&c, buf, sizeof(buf), mbedtls_ctr_drbg_random, &f.drbg);
        assert_true(n > 0);
        struct blob b = { malloc((size_t)n), (size_t)n };
        assert_non_null(b.p);
        memcpy(b.p, buf + sizeof(buf) - n, (size_t)n);
        mbedtls_x509write_crt_free(&c);
        mbedtls_mpi_free(&serial);
        return b;
}

/* DER TLV with a short length */
static size_t tlv(uint8_t *out, uint8_t tag, const void *v, size_t n)
{
        assert_true(n < 128);
        out[0] = tag;
        out[1] = (uint8_t)n;
        memmove(out + 2, v, n);
        return n + 2;
}

/* SET { SEQUENCE { OID 2.23.133.2.<k>, UTF8String s } } */
static size_t tcg_attr(uint8_t *out, uint8_t k, const char *s)
{
        uint8_t oid[] = { 0x67, 0x81, 0x05, 0x02, k }, atv[96], seq[100];
        size_t n = tlv(atv, 0x06, oid, sizeof(oid));
        n += tlv(atv + n, 0x0c, s, strlen(s));
        n = tlv(seq, 0x30, atv, n);
        return tlv(out, 0x31, seq, n);
}

/* subjectAltName: SEQUENCE { [4] { Name of the TPM's manufacturer, model, version } } */
static size_t tpm_san(uint8_t *out)
{
        uint8_t rdns[120], name[124], dir[126];
        size_t n = tcg_attr(rdns, 1, "id:414D4400");
        n += tcg_attr(rdns + n, 2, "AMD fTPM");
        n += tcg_attr(rdns + n, 3, "id:00030001");
        n = tlv(name, 0x30, rdns, n);
        n = tlv(dir, 0xa4, name, n);
        return tlv(out, 0x30, dir, n);
}

/* subjectDirectoryAttributes: SEQUENCE { SEQUENCE { tcg-at-tpmSpecification,
 * SET { SEQUENCE { "2.0", 0, 164 } } } } */
static size_t tpm_spec(uint8_t *out)
{
        static const uint8_t oid[] = { 0x67, 0x81, 0x05, 0x02, 0x10 }, level[] = { 0x00 }, revision[] = { 0x00, 0xa4 };
        uint8_t spec[32], set[40], attr[60];
        size_t n = tlv(spec, 0x0c, "2.0", 3);
        n += tlv(spec + n, 0x02, level, sizeof(level));
        n += tlv(spec + n, 0x02, revision, sizeof(revision));
        n = tlv(set, 0x30, spec, n);
        n = tlv(set, 0x31, set, n);
        size_t a = tlv(attr, 0x06, oid, sizeof(oid));
        memcpy(attr + a, set, n);
        a = tlv(attr, 0x30, attr, a + n);
        return tlv(out, 0x30, attr, a);
}

static const uint8_t eku_ek[] = { 0x30, 0x07, 0x06, 0x05, 0x67, 0x81, 0x05, 0x08, 0x01 };

#define OID_SAN "\x55\x1d\x11"
#define OID_SDA "\x55\x1d\x09"
#define OID_EKU "\x55\x1d\x25"
#define OID_PRIVATE "\x2b\x06\x01\x04\x01\x86\x8d\x1f\x01" /* 1.3.6.1.4.1.99999.1 */
#define EXT(o, crit, v, n) { o, sizeof(o) - 1, crit, v, n }

/* An EK certificate for the captured RSA EK, issued in ca_key's name. */
static struct blob make_ek(const char *issuer, const char *from, const char *to, mbedtls_md_type_t md, struct ext extra)
{
        uint8_t san[140], sda[80];
        size_t san_len = tpm_san(san), sda_len = tpm_spec(sda);
        struct spec s = { .subject = "", .issuer = issuer, .from = from, .to = to, .md = md, .key = &f.ek_key,
                          .ext = { EXT(OID_SAN, true, san, san_len), EXT(OID_EKU, false, eku_ek, sizeof(eku_ek)),
                                   EXT(OID_SDA, false, sda, sda_len), extra } };
        return make(&s);
}

static int setup(void **state)
{
        f.root = fixture("ekcert-swtpm-root.der");
        f.issuer = fixture("ekcert-swtpm-issuer.der");
        f.rsa = fixture("ekcert-swtpm-rsa.der");
        f.ecc = fixture("ekcert-swtpm-ecc384.der");
        f.platform = fixture("ekcert-swtpm-platform.der");
        f.ek_rsa = ek_fixture("ekcert-swtpm-rsa.pub");
        f.ek_ecc = ek_fixture("ekcert-swtpm-ecc384.pub");

        mbedtls_entropy_init(&f.entropy);
        mbedtls_ctr_drbg_init(&f.drbg);
        assert_int_equal(mbedtls_ctr_drbg_seed(&f.drbg, mbedtls_entropy_func, &f.entropy,
                                               (const unsigned char *)"ember ekcert", 12), 0);
        mbedtls_pk_init(&f.ca_key);
        assert_int_equal(mbedtls_pk_setup(&f.ca_key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
        assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(f.ca_key), mbedtls_ctr_drbg_random,
                                             &f.drbg), 0);
        static const uint8_t e65537[] = { 0x01, 0x00, 0x01 };
        mbedtls_pk_init(&f.ek_key);
        assert_int_equal(mbedtls_pk_setup(&f.ek_key, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
        assert_int_equal(mbedtls_rsa_import_raw(mbedtls_pk_rsa(f.ek_key), f.ek_rsa.publicArea.unique.rsa.buffer,
                                                f.ek_rsa.publicArea.unique.rsa.size, NULL, 0, NULL, 0, NULL, 0, e65537,
                                                sizeof(e65537)), 0);
        assert_int_equal(mbedtls_rsa_complete(mbedtls_pk_rsa(f.ek_key)), 0);
        struct spec root = { .subject = "CN=Ember test root", .issuer = "CN=Ember test root", .from = "20200101000000",
                             .to = "99991231235959", .ca = true };
        f.made_root = make(&root);
        return 0;
}

static int teardown(void **state)
{
        struct blob *all[] = { &f.root, &f.issuer, &f.rsa, &f.ecc, &f.platform, &f.made_root };
        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                free(all[i]->p);
        mbedtls_pk_free(&f.ca_key);
        mbedtls_pk_free(&f.ek_key);
        mbedtls_ctr_drbg_free(&f.drbg);
        mbedtls_entropy_free(&f.entropy);
        return 0;
}

/* A trust store of the given certificates (NULL-terminated). */
static struct ekcert_trust *trust(const struct blob *first, ...)
{
        struct ekcert_trust *t;
        char why[300];
        va_list ap;
        assert_int_equal(ekcert_trust_new(&t), 0);
        va_start(ap, first);
        for (const struct blob *b = first; b; b = va_arg(ap, const struct blob *))
                if (ekcert_trust_add(t, b->p, b->len, why, sizeof(why)) < 0)
                        fail_msg("trust_add: %s", why);
        va_end(ap);
        return t;
}

/* Verifies; on failure checks the verdict was not written. */
static int verify(const struct ekcert_trust *t, const uint8_t *der, size_t len, const TPM2B_PUBLIC *ek,
                  struct ekcert_verdict *v, char *why, size_t whylen)
{
        struct ekcert_verdict before;
        memset(v, 0xa5, sizeof(*v));
        memcpy(&before, v, sizeof(before));
        int r = ekcert_verify(t, der, len, ek, v, why, whylen);
        if (r < 0)
                assert_memory_equal(v, &before, sizeof(before));
        return r;
}

static void hex_sha256(const struct blob *b, char out[EKCERT_ID_LEN])
{
        uint8_t h[32];
        mbedtls_sha256_ret(b->p, b->len, h, 0);
        for (int i = 0; i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* ---- swtpm's certificates ------------------------------------------------ */

static void test_swtpm_accepted(void **state)
{
        struct ekcert_verdict v;
        char why[300], root_id[EKCERT_ID_LEN];
        hex_sha256(&f.root, root_id);
        /* either order of adding */
        struct ekcert_trust *t = trust(&f.root, &f.issuer, NULL), *t2 = trust(&f.issuer, &f.root, NULL);
        assert_int_equal(ekcert_trust_anchors(t), 1);
        assert_int_equal(verify(t, f.rsa.p, f.rsa.len, &f.ek_rsa, &v, why, sizeof(why)), 0);
        assert_string_equal(v.ca_id, root_id);
        assert_string_equal(v.ca_subject, "CN=swtpm-localca-rootca");
        assert_string_equal(v.cert.issuer, "CN=swtpm-localca");
        assert_string_equal(v.cert.tpm, "manufacturer id:00001014, model swtpm, version id:20191023");
        assert_false(v.cert.ca);
        assert_true(v.cert.not_after > 253402300000); /* 9999-12-31 */
        assert_int_equal(verify(t2, f.rsa.p, f.rsa.len, &f.ek_rsa, &v, why, sizeof(why)), 0);
        assert_int_equal(verify(t, f.ecc.p, f.ecc.len, &f.ek_ecc, &v, why, sizeof(why)), 0);
        assert_string_equal(v.ca_id, root_id);
        assert_int_equal(verify(t2, f.ecc.p, f.ecc.len, &f.ek_ecc, &v, why, sizeof(why)), 0);
        ekcert_trust_free(t);
        ekcert_trust_free(t2);
}

static void test_wrong_ca(void **state)
{
        struct ekcert_verdict v;
        char why[300];
        struct ekcert_trust *t = trust(&f.made_root, NULL);
        assert_int_equal(verify(t, f.rsa.p, f.rsa.len, &f.ek_rsa, &v, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "EK certificate: not signed by a trusted CA (issuer CN=swtpm-localca)");
        ekcert_trust_free(t);
        /* nothing trusted at all */
        t = trust(NULL);
        assert_int_equal(verify(t, f.ecc.p, f.ecc.len, &f.ek_ecc, &v, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "EK certificate: no EK CA is trusted (emberctl ek-ca add)");
        ekcert_trust_free(t);
}

static void test_chain_incomplete(void **state)
{
        struct ekcert_verdict v;
        char why[300];
        /* the intermediate missing */
        struct ekcert_trust *t = trust(&f.root, NULL);
        assert_int_equal(verify(t, f.rsa.p, f.rsa.len, &f.ek_rsa, &v, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "EK certificate: not signed by a trusted CA (issuer CN=swtpm-localca)");
        ekcert_trust_free(t);
        /* the root missing: an intermediate is never trusted on its own */
        t = trust(&f.issuer, NULL);
        assert_int_equal(ekcert_trust_anchors(t), 0);
        assert_int_equal(verify(t, f.rsa.p, f.rsa.len, &f.ek_rsa, &v, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "EK certificate: not signed by a trusted CA (its chain ends at CN=swtpm-localca, "
                                 "issuer CN=swtpm-localca-rootca)");
        ekcert_trust_free(t);
}

static void test_another_key(void **state)
{
        struct ekcert_verdict v;
        char why[300];
        struct ekcert_trust *t = trust(&f.root, &f.issuer, NULL);
        assert_int_equal(verify(t, f.rsa.p, f.rsa.len, &f.ek_ecc, &v, why, sizeof(why)), -EKEYREJECTED);
        assert_string_equal(why, "EK certificate certifies another key (an RSA key; the EK is ECC)");
        assert_int_equal(verify(t, f.ecc.p, f.ecc.len, &f.ek_rsa, &v, why, sizeof(why)), -EKEYREJECTED);
        assert_string_equal(why, "EK certificate certifies another key (an EC key; the EK is RSA)");

        TPM2B_PUBLIC ek = f.ek_rsa;
        ek.publicArea.unique.rsa.buffer[100] ^= 1;
        assert_int_equal(verify(t, f.rsa.p, f.rsa.len, &ek, &v, why, sizeof(why)), -EKEYREJECTED);
        assert_string_equal(why, "EK certificate certifies another key (its RSA modulus is not the EK's)");
        ek = f.ek_rsa;
        ek.publicArea.parameters.rsaDetail.exponent = 3;
        assert_int_equal(verify(t, f.rsa.p, f.rsa.len, &ek, &v, why, sizeof(why)), -EKEYREJECTED);
        assert_string_equal(why, "EK certificate certifies another key (its RSA exponent is not the EK's)");
        ek.publicArea.parameters.rsaDetail.exponent = 65537; /* the same as 0 */
        assert_int_equal(verify(t, f.rsa.p, f.rsa.len, &ek, &v, why, sizeof(why)), 0);

        ek = f.ek_ecc;
        ek.publicArea.unique.ecc.y.buffer[5] ^= 0x80;
        assert_int_equal(verify(t, f.ecc.p, f.ecc.len, &ek, &v, why, sizeof(why)), -EKEYREJECTED);
        assert_string_equal(why, "EK certificate certifies another key (its EC point is not the EK's)");
        ek = f.ek_ecc;
        ek.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        assert_int_equal(verify(t, f.ecc.p, f.ecc.len, &ek, &v, why, sizeof(why)), -EKEYREJECTED);
        assert_string_equal(why, "EK certificate certifies another key (curve secp384r1, the EK's is secp256r1)");
        /* the key check comes after the chain: an untrusted certificate is only "not trusted" */
        ekcert_trust_free(t);
        t = trust(&f.root, NULL);
        assert_int_equal(verify(t, f.rsa.p, f.rsa.len, &f.ek_ecc, &v, why, sizeof(why)), -EPERM);
        ekcert_trust_free(t);
}

static void test_not_an_ek_certificate(void **state)
{
        struct ekcert_verdict v;
        char why[300];
        struct ekcert_trust *t = trust(&f.root, &f.issuer, NULL);
        /* swtpm's platform certificate: the same key, chains, but says it is not an EK certificate */
        assert_int_equal(verify(t, f.platform.p, f.platform.len, &f.ek_rsa, &v, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "EK certificate: its extended key usage does not include tcg-kp-EKCertificate "
                                 "(2.23.133.8.1)");
        /* a CA's own certificate */
        assert_int_equal(verify(t, f.issuer.p, f.issuer.len, &f.ek_rsa, &v, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "EK certificate: is a CA certificate, not an EK's");
        ekcert_trust_free(t);
}

/* ---- malformed bytes ------------------------------------------------------- */

static void test_truncated(void **state)
{
        struct ekcert_verdict v;
        char why[300];
        struct ekcert_trust *t = trust(&f.root, &f.issuer, NULL);
        const struct blob *certs[] = { &f.rsa, &f.ecc };
        for (size_t c = 0; c < ELEMENTSOF(certs); c++) {
                size_t lens[] = { 1, 2, 3, 4, 5, 20, 100, certs[c]->len / 2, certs[c]->len - 300, certs[c]->len - 2,
                                  certs[c]->len - 1 };
                for (size_t i = 0; i < ELEMENTSOF(lens); i++) {
                        int r = verify(t, certs[c]->p, lens[i], c ? &f.ek_ecc : &f.ek_rsa, &v, why, sizeof(why));
                        if (r != -EBADMSG)
                                fail_msg("%zu of %zu bytes: %d %s", lens[i], certs[c]->len, r, why);
                        assert_non_null(strstr(why, "EK certificate: not DER"));
                }
        }
        /* every length, no crash, never accepted */
        for (size_t n = 1; n < f.rsa.len; n++)
                assert_true(verify(t, f.rsa.p, n, &f.ek_rsa, &v, why, sizeof(why)) < 0);
        assert_int_equal(verify(t, f.rsa.p, 0, &f.ek_rsa, &v, why, sizeof(why)), -EBADMSG);
        assert_string_equal(why, "EK certificate: 0 bytes (1 to 4096 expected)");
        ekcert_trust_free(t);
}

static void test_padding(void **state)
{
        struct ekcert_verdict v;
        char why[300];
        uint8_t buf[CERT_BUF + 64];
        struct ekcert_trust *t = trust(&f.root, &f.issuer, NULL);
        memcpy(buf, f.rsa.p, f.rsa.len);
        memset(buf + f.rsa.len, 0xff, 64);
        assert_int_equal(verify(t, buf, f.rsa.len + 64, &f.ek_rsa, &v, why, sizeof(why)), 0);
        memset(buf + f.rsa.len, 0x00, 64);
        assert_int_equal(verify(t, buf, f.rsa.len + 64, &f.ek_rsa, &v, why, sizeof(why)), 0);
        buf[f.rsa.len + 63] = 0x01;
        assert_int_equal(verify(t, buf, f.rsa.len + 64, &f.ek_rsa, &v, why, sizeof(why)), -EBADMSG);
        assert_string_equal(why, "EK certificate: 64 bytes after the certificate that are not NV padding");
        /* a second certificate after the first is not padding either */
        memcpy(buf + f.rsa.len, f.rsa.p, f.rsa.len);
        assert_int_equal(verify(t, buf, 2 * f.rsa.len, &f.ek_rsa, &v, why, sizeof(why)), -EBADMSG);
        ekcert_trust_free(t);
}

static void test_garbage(void **state)
{
        struct ekcert_verdict v;
        char why[300];
        uint8_t buf[CERT_BUF];
        struct ekcert_trust *t = trust(&f.root, &f.issuer, NULL);
        assert_int_equal(verify(t, (const uint8_t *)"hello", 5, &f.ek_rsa, &v, why, sizeof(why)), -EBADMSG);
        /* a SEQUENCE of the right length holding nonsense */
        static const uint8_t seq[] = { 0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xff };
        assert_int_equal(verify(t, seq, sizeof(seq), &f.ek_rsa, &v, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "EK certificate: not a certificate mbedtls can parse: "));
        /* a length that claims more than there is */
        static const uint8_t huge[] = { 0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00 };
        assert_int_equal(verify(t, huge, sizeof(huge), &f.ek_rsa, &v, why, sizeof(why)), -EBADMSG);
        /* too large for an NV index */
        uint8_t *big = calloc(1, EKCERT_MAX + 1);
        assert_non_null(big);
        assert_int_equal(verify(t, big, EKCERT_MAX + 1, &f.ek_rsa, &v, why, sizeof(why)), -EBADMSG);
        free(big);
        /* one flipped bit in the signature */
        memcpy(buf, f.rsa.p, f.rsa.len);
        buf[f.rsa.len - 10] ^= 0x01;
        assert_int_equal(verify(t, buf, f.rsa.len, &f.ek_rsa, &v, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "EK certificate: its signature does not verify with the key of CN=swtpm-localca");
        /* a TPM 1.2-style key: id-RSAES-OAEP in the SubjectPublicKeyInfo */
        static const uint8_t rsa_encryption[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
        memcpy(buf, f.rsa.p, f.rsa.len);
        uint8_t *oid = memmem(buf, f.rsa.len, rsa_encryption, sizeof(rsa_encryption));
        assert_non_null(oid);
        oid[sizeof(rsa_encryption) - 1] = 0x07;
        assert_int_equal(verify(t, buf, f.rsa.len, &f.ek_rsa, &v, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "id-RSAES-OAEP"));
        ekcert_trust_free(t);
}

static void test_bad_arguments(void **state)
{
        struct ekcert_verdict v;
        struct ekcert_trust *t = trust(&f.root, NULL);
        TPM2B_PUBLIC ek = f.ek_rsa;
        assert_int_equal(ekcert_verify(NULL, f.rsa.p, f.rsa.len, &f.ek_rsa, &v, NULL, 0), -EINVAL);
        assert_int_equal(ekcert_verify(t, NULL, f.rsa.len, &f.ek_rsa, &v, NULL, 0), -EINVAL);
        assert_int_equal(ekcert_verify(t, f.rsa.p, f.rsa.len, NULL, &v, NULL, 0), -EINVAL);
        assert_int_equal(ekcert_verify(t, f.rsa.p, f.rsa.len, &f.ek_rsa, NULL, NULL, 0), -EINVAL);
        ek.publicArea.unique.rsa.size = sizeof(ek.publicArea.unique.rsa.buffer) + 1;
        assert_int_equal(ekcert_verify(t, f.rsa.p, f.rsa.len, &ek, &v, NULL, 0), -EINVAL);
        assert_int_equal(ekcert_trust_add(t, NULL, 10, NULL, 0), -EINVAL);
        assert_int_equal(ekcert_trust_add(NULL, f.root.p, f.root.len, NULL, 0), -EINVAL);
        ekcert_trust_free(t);
        ekcert_trust_free(NULL);
}

/* ---- certificates made here ------------------------------------------------ */

static void test_vendor_forms(void **state)
{
        struct ekcert_verdict v;
        char why[300];
        struct blob ek = make_ek("CN=Ember test root", "20200101000000", "99991231235959", 0, (struct ext){ 0 });
        struct ekcert_trust *t = trust(&f.made_root, NULL);
        if (verify(t, ek.p, ek.len, &f.ek_rsa, &v, why, sizeof(why)) < 0)
                fail_msg("%s", why);
        assert_string_equal(v.cert.subject, "");
        assert_string_equal(v.cert.tpm, "manufacturer id:414D4400, model AMD fTPM, version id:00030001");
        assert_string_equal(v.ca_subject, "CN=Ember test root");
        free(ek.p);
        ekcert_trust_free(t);
}

static void test_unknown_critical_extension(void **state)
{
        struct ekcert_verdict v;
        char why[300];
        static const uint8_t null[] = { 0x05, 0x00 };
        struct blob ek = make_ek("CN=Ember test root", "20200101000000", "99991231235959", 0,
                                 (struct ext)EXT(OID_PRIVATE, true, null, sizeof(null)));
        struct ekcert_trust *t = trust(&f.made_root, NULL);
        assert_int_equal(verify(t, ek.p, ek.len, &f.ek_rsa, &v, why, sizeof(why)), -EBADMSG);
        assert_string_equal(why, "EK certificate: critical extension 1.3.6.1.4.1.99999.1 is not one mbedtls understands");
        free(ek.p);
        /* the same, not critical: skipped */
        ek = make_ek("CN=Ember test root", "20200101000000", "99991231235959", 0,
                     (struct ext)EXT(OID_PRIVATE, false, null, sizeof(null)));
        assert_int_equal(verify(t, ek.p, ek.len, &f.ek_rsa, &v, why, sizeof(why)), 0);
        free(ek.p);
        ekcert_trust_free(t);
}

static void test_dates_and_hashes(void **state)
{
        struct ekcert_verdict v;
        char why[300];
        struct spec old = { .subject = "CN=Ember test expired root", .issuer = "CN=Ember test expired root",
                            .from = "20100101000000", .to = "20200101000000", .ca = true };
        struct blob expired_root = make(&old);
        struct ekcert_trust *t = trust(&f.made_root, &expired_root, NULL);

        struct blob ek = make_ek("CN=Ember test expired root", "20100101000000", "99991231235959", 0, (struct ext){ 0 });
        assert_int_equal(verify(t, ek.p, ek.len, &f.ek_rsa, &v, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "EK certificate: CA CN=Ember test expired root expired on 2020-01-01T00:00:00Z");
        free(ek.p);

        ek = make_ek("CN=Ember test root", "20200101000000", "20210101000000", 0, (struct ext){ 0 });
        assert_int_equal(verify(t, ek.p, ek.len, &f.ek_rsa, &v, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "EK certificate expired on 2021-01-01T00:00:00Z");
        free(ek.p);

        ek = make_ek("CN=Ember test root", "20990101000000", "99991231235959", 0, (struct ext){ 0 });
        assert_int_equal(verify(t, ek.p, ek.len, &f.ek_rsa, &v, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "EK certificate is not valid before 2099-01-01T00:00:00Z");
        free(ek.p);

        ek = make_ek("CN=Ember test root", "20200101000000", "99991231235959", MBEDTLS_MD_SHA1, (struct ext){ 0 });
        assert_int_equal(verify(t, ek.p, ek.len, &f.ek_rsa, &v, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "EK certificate is signed with SHA1, which Ember does not accept");
        free(ek.p);

        ek = make_ek("CN=Ember test root", "20200101000000", "99991231235959", MBEDTLS_MD_SHA384, (struct ext){ 0 });
        assert_int_equal(verify(t, ek.p, ek.len, &f.ek_rsa, &v, why, sizeof(why)), 0);
        free(ek.p);
        free(expired_root.p);
        ekcert_trust_free(t);
}

/* An intermediate that takes the name of swtpm's, with another key. */
static void test_same_name_other_key(void **state)
{
        struct ekcert_verdict v;
        char why[300], made_id[EKCERT_ID_LEN];
        struct spec s = { .subject = "CN=swtpm-localca", .issuer = "CN=Ember test root", .from = "20200101000000",
                          .to = "99991231235959", .ca = true };
        struct blob impostor = make(&s);
        struct blob ek = make_ek("CN=swtpm-localca", "20200101000000", "99991231235959", 0, (struct ext){ 0 });
        /* swtpm's chain trusted: the names match, the signature does not */
        struct ekcert_trust *t = trust(&f.root, &f.issuer, NULL);
        assert_int_equal(verify(t, ek.p, ek.len, &f.ek_rsa, &v, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "EK certificate: its signature does not verify with the key of CN=swtpm-localca");
        ekcert_trust_free(t);
        /* both trusted, each with its root: each certificate finds its own issuer */
        t = trust(&f.issuer, &impostor, &f.root, &f.made_root, NULL);
        assert_int_equal(verify(t, ek.p, ek.len, &f.ek_rsa, &v, why, sizeof(why)), 0);
        hex_sha256(&f.made_root, made_id);
        assert_string_equal(v.ca_id, made_id);
        assert_int_equal(verify(t, f.rsa.p, f.rsa.len, &f.ek_rsa, &v, why, sizeof(why)), 0);
        assert_string_equal(v.ca_subject, "CN=swtpm-localca-rootca");
        ekcert_trust_free(t);
        free(impostor.p);
        free(ek.p);
}

/* ---- CA certificates and files ------------------------------------------- */

static void test_ca_info(void **state)
{
        struct ekcert_info i;
        char why[300];
        uint8_t buf[CERT_BUF];
        assert_int_equal(ekcert_ca_info(f.root.p, f.root.len, &i, why, sizeof(why)), 0);
        assert_string_equal(i.subject, "CN=swtpm-localca-rootca");
        assert_true(i.ca && i.self_issued);
        assert_int_equal(ekcert_ca_info(f.issuer.p, f.issuer.len, &i, why, sizeof(why)), 0);
        assert_true(i.ca && !i.self_issued);
        assert_string_equal(i.issuer, "CN=swtpm-localca-rootca");
        memset(&i, 0x5a, sizeof(i));
        struct ekcert_info before = i;
        assert_int_equal(ekcert_ca_info(f.rsa.p, f.rsa.len, &i, why, sizeof(why)), -EPERM);
        assert_string_equal(why, "CN=unknown is not a CA certificate (no basicConstraints cA): an EK certificate? "
                                 "Add the CA that issued it");
        assert_memory_equal(&i, &before, sizeof(i));
        /* no padding after a CA certificate */
        memcpy(buf, f.root.p, f.root.len);
        buf[f.root.len] = 0;
        assert_int_equal(ekcert_ca_info(buf, f.root.len + 1, &i, why, sizeof(why)), -EBADMSG);
        assert_string_equal(why, "CA certificate: 1 bytes after the certificate");
        assert_int_equal(ekcert_ca_info(f.root.p, f.root.len - 1, &i, why, sizeof(why)), -EBADMSG);
        assert_memory_equal(&i, &before, sizeof(i));
}

struct split_ctx {
        unsigned n;
        size_t len[4];
};

static int count_der(const uint8_t *der, size_t len, void *ud)
{
        struct split_ctx *c = ud;
        if (c->n < ELEMENTSOF(c->len))
                c->len[c->n] = len;
        c->n++;
        return 0;
}

static size_t pem_of(const struct blob *b, char *out, size_t len)
{
        size_t olen;
        assert_int_equal(mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n", b->p,
                                                  b->len, (unsigned char *)out, len, &olen), 0);
        return olen - 1; /* without the NUL */
}

static void test_split(void **state)
{
        char pem[3 * CERT_BUF], why[300];
        struct split_ctx c = { 0 };
        size_t n = pem_of(&f.root, pem, sizeof(pem));
        n += pem_of(&f.issuer, pem + n, sizeof(pem) - n);
        assert_int_equal(ekcert_split((const uint8_t *)pem, n, count_der, &c, why, sizeof(why)), 0);
        assert_int_equal(c.n, 2);
        assert_int_equal(c.len[0], f.root.len);
        assert_int_equal(c.len[1], f.issuer.len);
        c = (struct split_ctx){ 0 };
        assert_int_equal(ekcert_split(f.root.p, f.root.len, count_der, &c, why, sizeof(why)), 0);
        assert_int_equal(c.n, 1);
        assert_int_equal(ekcert_split((const uint8_t *)"", 0, count_der, &c, why, sizeof(why)), -EBADMSG);

        static const char key[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        c = (struct split_ctx){ 0 };
        memcpy(pem + n, key, sizeof(key) - 1);
        assert_int_equal(ekcert_split((const uint8_t *)pem, n + sizeof(key) - 1, count_der, &c, why, sizeof(why)),
                         -EBADMSG);
        assert_string_equal(why, "PEM block 3 is not a certificate (-----BEGIN PRIVATE KEY-----)");
        static const char broken[] = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert_int_equal(ekcert_split((const uint8_t *)broken, sizeof(broken) - 1, count_der, &c, why, sizeof(why)),
                         -EBADMSG);
        assert_non_null(strstr(why, "PEM block 1: "));
        static const char unterminated[] = "-----BEGIN CERTIFICATE-----\nMIIB\n";
        assert_int_equal(ekcert_split((const uint8_t *)unterminated, sizeof(unterminated) - 1, count_der, &c, why,
                                      sizeof(why)),
                         -EBADMSG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_swtpm_accepted),
                cmocka_unit_test(test_wrong_ca),
                cmocka_unit_test(test_chain_incomplete),
                cmocka_unit_test(test_another_key),
                cmocka_unit_test(test_not_an_ek_certificate),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_padding),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_bad_arguments),
                cmocka_unit_test(test_vendor_forms),
                cmocka_unit_test(test_unknown_critical_extension),
                cmocka_unit_test(test_dates_and_hashes),
                cmocka_unit_test(test_same_name_other_key),
                cmocka_unit_test(test_ca_info),
                cmocka_unit_test(test_split),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
