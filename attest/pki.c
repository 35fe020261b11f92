/* SPDX-License-Identifier: Apache-2.0 */
#include "pki.h"
#include "mbed.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reason.h"
#include "util.h"

#define PEM_MAX 4096

struct rng {
        mbedtls_entropy_context entropy;
        mbedtls_ctr_drbg_context drbg;
};

static int write_file_new(const char *dir, const char *name, const unsigned char *data, size_t len, mode_t mode)
{
        char path[4096], tmp[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return negative_errno();
        if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
                int r = negative_errno();
                unlink(tmp);
                return r;
        }
        /* link() fails rather than replace an existing file */
        if (link(tmp, path) < 0) {
                int r = negative_errno();
                unlink(tmp);
                return r;
        }
        unlink(tmp);
        return 0;
}

static int make_key(struct rng *g, mbedtls_pk_context *pk, const struct reason *w)
{
        int rc = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
        if (rc == 0)
                rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, &g->drbg);
        return rc ? mbed_reason(w, rc, -EIO, "generating a P-256 key") : 0;
}

/* subjectAltName: dNSName or iPAddress per name, DER built with mbedtls's
 * ASN.1 writer (it writes backwards from the end of the buffer). */
static int san_der(const char *const *names, size_t n, unsigned char *buf, size_t size, size_t *ret_len)
{
        unsigned char *p = buf + size;
        size_t len = 0;
        int rc;
        for (size_t i = n; i-- > 0;) {
                struct in_addr a;
                size_t l = 0;
                if (inet_pton(AF_INET, names[i], &a) == 1) {
                        if ((rc = mbedtls_asn1_write_raw_buffer(&p, buf, (const unsigned char *)&a, 4)) < 0)
                                return rc;
                        l += (size_t)rc;
                        if ((rc = mbedtls_asn1_write_len(&p, buf, l)) < 0)
                                return rc;
                        l += (size_t)rc;
                        if ((rc = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)) < 0)
                                return rc;
                } else {
                        if ((rc = mbedtls_asn1_write_raw_buffer(&p, buf, (const unsigned char *)names[i], strlen(names[i]))) < 0)
                                return rc;
                        l += (size_t)rc;
                        if ((rc = mbedtls_asn1_write_len(&p, buf, l)) < 0)
                                return rc;
                        l += (size_t)rc;
                        if ((rc = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME)) < 0)
                                return rc;
                }
                len += l + (size_t)rc;
        }
        if ((rc = mbedtls_asn1_write_len(&p, buf, len)) < 0)
                return rc;
        len += (size_t)rc;
        if ((rc = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
                return rc;
        len += (size_t)rc;
        memmove(buf, p, len);
        *ret_len = len;
        return 0;
}

static int valid_name(const char *s)
{
        if (!s || !*s || strlen(s) > 253)
                return 0;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
                      *s == '.'))
                        return 0;
        return 1;
}

struct cert_spec {
        const char *subject, *issuer;
        mbedtls_pk_context *key, *issuer_key;
        int serial;
        unsigned days;
        int is_ca;
        const unsigned char *san;
        size_t san_len;
};

static int make_cert(struct rng *g, const struct cert_spec *c, unsigned char *pem, size_t size, const struct reason *w)
{
        mbedtls_x509write_cert crt;
        mbedtls_mpi serial;
        char from[16], to[16];
        time_t now = time(NULL), later = now + (time_t)c->days * 86400;
        struct tm tm;
        strftime(from, sizeof(from), "%Y%m%d%H%M%S", gmtime_r(&now, &tm));
        strftime(to, sizeof(to), "%Y%m%d%H%M%S", gmtime_r(&later, &tm));
        mbedtls_x509write_crt_init(&crt);
        mbedtls_mpi_init(&serial);
        mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
        mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
        mbedtls_x509write_crt_set_subject_key(&crt, c->key);
        mbedtls_x509write_crt_set_issuer_key(&crt, c->issuer_key);
        int rc = mbedtls_mpi_lset(&serial, c->serial);
        if (!rc)
                rc = mbedtls_x509write_crt_set_serial(&crt, &serial);
        if (!rc)
                rc = mbedtls_x509write_crt_set_subject_name(&crt, c->subject);
        if (!rc)
                rc = mbedtls_x509write_crt_set_issuer_name(&crt, c->issuer);
        if (!rc)
                rc = mbedtls_x509write_crt_set_validity(&crt, from, to);
        if (!rc)
                rc = mbedtls_x509write_crt_set_basic_constraints(&crt, c->is_ca, c->is_ca ? 0 : -1);
        if (!rc)
                rc = mbedtls_x509write_crt_set_key_usage(&crt, c->is_ca ? MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN
                                                                        : MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
        if (!rc)
                rc = mbedtls_x509write_crt_set_subject_key_identifier(&crt);
        if (!rc && c->san)
                rc = mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                         MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, c->san, c->san_len);
        if (!rc)
                rc = mbedtls_x509write_crt_pem(&crt, pem, size, mbedtls_ctr_drbg_random, &g->drbg);
        mbedtls_x509write_crt_free(&crt);
        mbedtls_mpi_free(&serial);
        return rc ? mbed_reason(w, rc, -EIO, "writing a certificate") : 0;
}

int pki_init(const char *dir, const char *const *names, size_t n, unsigned days, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        static const char *const files[] = { "ca.key", "ca.crt", "server.key", "server.crt" };
        unsigned char ca_key[PEM_MAX], srv_key[PEM_MAX], ca_crt[PEM_MAX], srv_crt[PEM_MAX], san[1024];
        char subject[300];
        size_t san_len;
        struct rng g;
        mbedtls_pk_context ca, srv;
        int r = 0, rc;

        if (n == 0)
                return reason_fail(&w, -EINVAL, "the server needs at least one name (DNS name or IPv4 address)");
        for (size_t i = 0; i < n; i++)
                if (!valid_name(names[i]))
                        return reason_fail(&w, -EINVAL, "'%s' is not a DNS name or IPv4 address", names[i]);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
                if (access(path, F_OK) == 0)
                        return reason_fail(&w, -EEXIST, "%s exists: refusing to replace the server's keys", path);
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return reason_fail(&w, negative_errno(), "creating %s: %m", dir);
        if (san_der(names, n, san, sizeof(san), &san_len) < 0)
                return reason_fail(&w, -E2BIG, "too many or too long names");

        mbedtls_entropy_init(&g.entropy);
        mbedtls_ctr_drbg_init(&g.drbg);
        mbedtls_pk_init(&ca);
        mbedtls_pk_init(&srv);
        rc = mbedtls_ctr_drbg_seed(&g.drbg, mbedtls_entropy_func, &g.entropy, (const unsigned char *)"ember-pki", 9);
        if (rc) {
                r = mbed_reason(&w, rc, -EIO, "seeding the random generator");
                goto out;
        }
        if ((r = make_key(&g, &ca, &w)) < 0 || (r = make_key(&g, &srv, &w)) < 0)
                goto out;
        snprintf(subject, sizeof(subject), "CN=%s,O=Ember", names[0]);
        struct cert_spec cs = { "CN=Ember attestation CA,O=Ember", "CN=Ember attestation CA,O=Ember", &ca, &ca, 1, days, 1, NULL, 0 };
        struct cert_spec ss = { subject, "CN=Ember attestation CA,O=Ember", &srv, &ca, 2, days, 0, san, san_len };
        if ((r = make_cert(&g, &cs, ca_crt, sizeof(ca_crt), &w)) < 0 || (r = make_cert(&g, &ss, srv_crt, sizeof(srv_crt), &w)) < 0)
                goto out;
        if ((rc = mbedtls_pk_write_key_pem(&ca, ca_key, sizeof(ca_key))) || (rc = mbedtls_pk_write_key_pem(&srv, srv_key, sizeof(srv_key)))) {
                r = mbed_reason(&w, rc, -EIO, "writing a key");
                goto out;
        }
        const unsigned char *data[] = { ca_key, ca_crt, srv_key, srv_crt };
        const mode_t modes[] = { 0600, 0644, 0600, 0644 };
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if ((r = write_file_new(dir, files[i], data[i], strlen((const char *)data[i]), modes[i])) < 0) {
                        reason_fail(&w, r, "writing %s/%s: %s", dir, files[i], strerror(-r));
                        goto out;
                }
out:
        explicit_bzero(ca_key, sizeof(ca_key));
        explicit_bzero(srv_key, sizeof(srv_key));
        mbedtls_pk_free(&ca);
        mbedtls_pk_free(&srv);
        mbedtls_ctr_drbg_free(&g.drbg);
        mbedtls_entropy_free(&g.entropy);
        return r;
}

int pki_pin_of_cert(const char *path, char out[PKI_PIN_LEN], char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        mbedtls_x509_crt crt;
        unsigned char der[1024], hash[32];
        size_t olen;
        mbedtls_x509_crt_init(&crt);
        int rc = mbedtls_x509_crt_parse_file(&crt, path);
        if (rc) {
                mbedtls_x509_crt_free(&crt);
                return mbed_reason(&w, rc, -EIO, "reading the certificate");
        }
        /* the key writer fills from the end of der */
        int len = mbedtls_pk_write_pubkey_der(&crt.pk, der, sizeof(der));
        mbedtls_x509_crt_free(&crt);
        if (len < 0)
                return mbed_reason(&w, len, -EIO, "encoding the public key");
        mbedtls_sha256_ret(der + sizeof(der) - (size_t)len, (size_t)len, hash, 0);
        memcpy(out, "sha256//", 8);
        rc = mbedtls_base64_encode((unsigned char *)out + 8, PKI_PIN_LEN - 8, &olen, hash, sizeof(hash));
        return rc ? mbed_reason(&w, rc, -EIO, "encoding the pin") : 0;
}
