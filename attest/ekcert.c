/* SPDX-License-Identifier: Apache-2.0 */
/* EK certificates: parsed by mbedtls, their chain checked against the
 * operator's CAs, their key compared with the EK (ekcert.h). */
#include "ekcert.h"

#include <errno.h>
#include <mbedtls/asn1.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mbed.h"
#include "reason.h"
#include "util.h"

#define CA_CERT_MAX 16384 /* a CA certificate's DER, as an operator adds it */

/* tcg-kp-EKCertificate, 2.23.133.8.1 */
#define OID_TCG_KP_EK "\x67\x81\x05\x08\x01"
/* tcg-at-tpmManufacturer, tpmModel, tpmVersion: 2.23.133.2.{1,2,3} */
#define OID_TCG_AT "\x67\x81\x05\x02"

#define ID(x) MBEDTLS_X509_ID_FLAG(x)
static const mbedtls_x509_crt_profile ek_profile = {
        .allowed_mds = ID(MBEDTLS_MD_SHA256) | ID(MBEDTLS_MD_SHA384) | ID(MBEDTLS_MD_SHA512),
        .allowed_pks = ID(MBEDTLS_PK_RSA) | ID(MBEDTLS_PK_RSASSA_PSS) | ID(MBEDTLS_PK_ECKEY) | ID(MBEDTLS_PK_ECDSA),
        .allowed_curves = ID(MBEDTLS_ECP_DP_SECP256R1) | ID(MBEDTLS_ECP_DP_SECP384R1) | ID(MBEDTLS_ECP_DP_SECP521R1),
        .rsa_min_bitlen = 2048,
};

struct ekcert_trust {
        mbedtls_x509_crt anchors, intermediates;
        size_t n_anchors, n_intermediates;
};

/* ---- what a certificate says ----------------------------------------- */

/* Certificate bytes for a log line: anything but printable ASCII is '?'. */
static void printable(char *dst, size_t dstlen, const unsigned char *src, size_t n)
{
        size_t j = 0;
        if (dstlen == 0)
                return;
        for (size_t i = 0; i < n && j + 1 < dstlen; i++)
                dst[j++] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
        dst[j] = '\0';
}

static void name_of(char *dst, size_t len, const mbedtls_x509_name *name)
{
        char tmp[EKCERT_NAME_MAX];
        if (mbedtls_x509_dn_gets(tmp, sizeof(tmp), name) < 0)
                snprintf(tmp, sizeof(tmp), "(a name longer than %d bytes)", EKCERT_NAME_MAX);
        printable(dst, len, (const unsigned char *)tmp, strlen(tmp));
}

/* A name for messages: the subject, or the TPM the SAN names when empty. */
static void label_of(char *dst, size_t len, const struct ekcert_info *i)
{
        if (i->subject[0])
                snprintf(dst, len, "%s", i->subject);
        else
                snprintf(dst, len, "(empty subject%s%.200s)", i->tpm[0] ? "; TPM " : "", i->tpm);
}

static int64_t unix_time(const mbedtls_x509_time *t)
{
        struct tm tm = { .tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
                         .tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec };
        return (int64_t)timegm(&tm);
}

static void date_of(char *dst, size_t len, const mbedtls_x509_time *t)
{
        snprintf(dst, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", t->year, t->mon, t->day, t->hour, t->min, t->sec);
}

/* One AttributeTypeAndValue of a directoryName: when it is one of the TCG
 * TPM attributes, "label value" is appended to out. Consumes exactly the
 * SEQUENCE or fails. */
static int tcg_attribute(unsigned char **p, const unsigned char *end, char *out, size_t len)
{
        static const char *const labels[] = { "manufacturer", "model", "version" };
        size_t n, oid_len;
        if (mbedtls_asn1_get_tag(p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
                return -EBADMSG;
        const unsigned char *atv_end = *p + n, *oid;
        if (mbedtls_asn1_get_tag(p, atv_end, &oid_len, MBEDTLS_ASN1_OID) != 0)
                return -EBADMSG;
        oid = *p;
        *p += oid_len;
        if (atv_end - *p < 1)
                return -EBADMSG;
        unsigned char tag = *(*p)++;
        if (mbedtls_asn1_get_len(p, atv_end, &n) != 0)
                return -EBADMSG;
        bool string = tag == MBEDTLS_ASN1_UTF8_STRING || tag == MBEDTLS_ASN1_PRINTABLE_STRING ||
                      tag == MBEDTLS_ASN1_IA5_STRING;
        if (string && oid_len == 5 && memcmp(oid, OID_TCG_AT, 4) == 0 && oid[4] >= 1 && oid[4] <= 3) {
                char v[64];
                size_t used = strlen(out);
                printable(v, sizeof(v), *p, n);
                snprintf(out + used, len - used, "%s%s %s", used ? ", " : "", labels[oid[4] - 1], v);
        }
        *p = (unsigned char *)atv_end;
        return 0;
}

/* The TPM an EK certificate's subjectAltName directoryName names. mbedtls
 * keeps such an entry unparsed; anything malformed in it is skipped (the
 * words are for the log, not a check). */
static void tpm_of(const mbedtls_x509_crt *c, char *out, size_t len)
{
        out[0] = '\0';
        for (const mbedtls_x509_sequence *s = &c->subject_alt_names; s && s->buf.p; s = s->next) {
                if (s->buf.tag != (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 4))
                        continue;
                unsigned char *p = s->buf.p;
                const unsigned char *end = p + s->buf.len;
                size_t n;
                if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
                        continue;
                end = p + n;
                while (p < end) {
                        if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SET) != 0)
                                break;
                        const unsigned char *set_end = p + n;
                        while (p < set_end)
                                if (tcg_attribute(&p, set_end, out, len) < 0)
                                        return;
                }
        }
}

/* Names match as mbedtls matches an issuer to a CA: the same attributes in
 * the same order, values byte for byte, or ignoring ASCII case when both
 * are UTF8String or PrintableString (a CA's subject and the issuer field
 * of what it signed are often encoded differently). */
static bool same_value(const mbedtls_x509_buf *a, const mbedtls_x509_buf *b)
{
        if (a->len != b->len)
                return false;
        if (a->len == 0 || (a->tag == b->tag && memcmp(a->p, b->p, a->len) == 0))
                return true;
        bool text_a = a->tag == MBEDTLS_ASN1_UTF8_STRING || a->tag == MBEDTLS_ASN1_PRINTABLE_STRING,
             text_b = b->tag == MBEDTLS_ASN1_UTF8_STRING || b->tag == MBEDTLS_ASN1_PRINTABLE_STRING;
        if (!text_a || !text_b)
                return false;
        for (size_t i = 0; i < a->len; i++) {
                unsigned char x = a->p[i], y = b->p[i];
                if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z'))
                        return false;
        }
        return true;
}

static bool same_name(const mbedtls_x509_name *a, const mbedtls_x509_name *b)
{
        for (; a && b; a = a->next, b = b->next)
                if (a->oid.tag != b->oid.tag || !same_value(&a->oid, &b->oid) || !same_value(&a->val, &b->val) ||
                    a->next_merged != b->next_merged)
                        return false;
        return !a && !b;
}

static void info_of(const mbedtls_x509_crt *c, struct ekcert_info *ret)
{
        uint8_t h[32];
        *ret = (struct ekcert_info){ .ca = c->ca_istrue != 0,
                                     .not_before = unix_time(&c->valid_from),
                                     .not_after = unix_time(&c->valid_to) };
        mbedtls_sha256_ret(c->raw.p, c->raw.len, h, 0);
        for (size_t i = 0; i < sizeof(h); i++)
                snprintf(ret->id + 2 * i, 3, "%02x", h[i]);
        name_of(ret->subject, sizeof(ret->subject), &c->subject);
        name_of(ret->issuer, sizeof(ret->issuer), &c->issuer);
        ret->self_issued = same_name(&c->subject, &c->issuer);
        tpm_of(c, ret->tpm, sizeof(ret->tpm));
}

/* ---- parsing ----------------------------------------------------------- */

/* How many bytes the outer DER SEQUENCE takes. What follows it may be
 * NV padding (one byte value, 0x00 or 0xFF, repeated) when padding is
 * allowed; nothing otherwise. */
static int der_extent(const uint8_t *der, size_t len, bool padding, const char *what, size_t *ret,
                      const struct reason *w)
{
        unsigned char *p = (unsigned char *)der;
        size_t n;
        if (mbedtls_asn1_get_tag(&p, der + len, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
                return reason_fail(w, -EBADMSG, "%s: not DER (no SEQUENCE that fits in its %zu bytes)", what, len);
        size_t used = (size_t)(p - der) + n;
        for (size_t i = used; i < len; i++)
                if (!padding || der[i] != der[used] || (der[used] != 0x00 && der[used] != 0xff))
                        return reason_fail(w, -EBADMSG, "%s: %zu bytes after the certificate%s", what, len - used,
                                           padding ? " that are not NV padding" : "");
        *ret = used;
        return 0;
}

struct parse_ctx {
        char critical_oid[64];
};

/* mbedtls asks about every extension it does not know. A non-critical one
 * is skipped whatever this says; a critical one refuses the certificate,
 * and its OID is kept for the reason. */
static int unknown_extension(void *ud, mbedtls_x509_crt const *crt, mbedtls_x509_buf const *oid, int critical,
                             const unsigned char *p, const unsigned char *end)
{
        struct parse_ctx *c = ud;
        if (critical && !c->critical_oid[0] &&
            mbedtls_oid_get_numeric_string(c->critical_oid, sizeof(c->critical_oid), oid) < 0)
                snprintf(c->critical_oid, sizeof(c->critical_oid), "(an OID too long to show)");
        return MBEDTLS_ERR_X509_FEATURE_UNAVAILABLE;
}

/* Parses one certificate onto the end of chain. */
static int parse_one(mbedtls_x509_crt *chain, const uint8_t *der, size_t len, const char *what, const struct reason *w)
{
        struct parse_ctx c = { "" };
        char msg[96];
        int rc = mbedtls_x509_crt_parse_der_with_ext_cb(chain, der, len, 1, unknown_extension, &c);
        if (rc == 0)
                return 0;
        if (c.critical_oid[0])
                return reason_fail(w, -EBADMSG, "%s: critical extension %s is not one mbedtls understands", what,
                                   c.critical_oid);
        if (rc == MBEDTLS_ERR_PK_UNKNOWN_PK_ALG)
                return reason_fail(w, -EBADMSG,
                                   "%s: its key is neither RSA nor EC (id-RSAES-OAEP, as TPM 1.2 certificates have, "
                                   "is not supported)",
                                   what);
        snprintf(msg, sizeof(msg), "%s: not a certificate mbedtls can parse", what);
        return mbed_reason(w, rc, -EBADMSG, msg);
}

int ekcert_split(const uint8_t *buf, size_t len, int (*cb)(const uint8_t *der, size_t len, void *ud), void *ud,
                 char *why, size_t whylen)
{
        static const char begin[] = "-----BEGIN ", cert_begin[] = "-----BEGIN CERTIFICATE-----",
                          cert_end[] = "-----END CERTIFICATE-----";
        const struct reason w = { why, whylen };
        if (!buf || !cb)
                return reason_fail(&w, -EINVAL, "ekcert_split: missing argument");
        if (len == 0)
                return reason_fail(&w, -EBADMSG, "empty: no certificate");
        if (!memmem(buf, len, begin, strlen(begin))) {
                int r = cb(buf, len, ud); /* one DER certificate: cb says what is wrong with it */
                return r < 0 ? r : 0;
        }
        /* mbedtls reads PEM from a C string */
        _cleanup_free_ char *text = malloc(len + 1);
        if (!text)
                return reason_fail(&w, -ENOMEM, "out of memory");
        memcpy(text, buf, len);
        text[len] = '\0';
        if (strlen(text) != len)
                return reason_fail(&w, -EBADMSG, "a NUL byte in PEM text");
        unsigned n = 0;
        for (char *p = strstr(text, begin); p; p = strstr(p, begin)) {
                if (!startswith(p, cert_begin)) {
                        char kind[40];
                        printable(kind, sizeof(kind), (const unsigned char *)p, strcspn(p, "\n"));
                        return reason_fail(&w, -EBADMSG, "PEM block %u is not a certificate (%s)", n + 1, kind);
                }
                mbedtls_pem_context pem;
                size_t use = 0;
                mbedtls_pem_init(&pem);
                int rc = mbedtls_pem_read_buffer(&pem, cert_begin, cert_end, (const unsigned char *)p, NULL, 0, &use);
                if (rc != 0) {
                        char what[48];
                        mbedtls_pem_free(&pem);
                        snprintf(what, sizeof(what), "PEM block %u", n + 1);
                        return mbed_reason(&w, rc, -EBADMSG, what);
                }
                int r = cb(pem.buf, pem.buflen, ud); /* mbedtls 2.28 has no accessor */
                mbedtls_pem_free(&pem);
                if (r < 0)
                        return r;
                n++;
                p += use;
        }
        return n ? 0 : reason_fail(&w, -EBADMSG, "no certificate in it");
}

/* Is c a certificate a CA may be (ekcert.h's rules)? */
static int check_ca(const mbedtls_x509_crt *c, const struct ekcert_info *i, const struct reason *w)
{
        char name[EKCERT_NAME_MAX + 24];
        label_of(name, sizeof(name), i);
        if (!c->ca_istrue && !(c->version < 3 && i->self_issued))
                return reason_fail(w, -EPERM, "%s is not a CA certificate (no basicConstraints cA)%s", name,
                                   i->tpm[0] ? ": an EK certificate? Add the CA that issued it" : "");
        if (mbedtls_x509_crt_check_key_usage(c, MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0)
                return reason_fail(w, -EPERM, "%s: its key usage does not allow signing certificates", name);
        return 0;
}

int ekcert_ca_info(const uint8_t *der, size_t len, struct ekcert_info *ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        mbedtls_x509_crt c;
        struct ekcert_info i;
        size_t used;
        if (!der || !ret)
                return reason_fail(&w, -EINVAL, "ekcert_ca_info: missing argument");
        if (len == 0 || len > CA_CERT_MAX)
                return reason_fail(&w, -EBADMSG, "CA certificate: %zu bytes (1 to %d expected)", len, CA_CERT_MAX);
        int r = der_extent(der, len, false, "CA certificate", &used, &w);
        if (r < 0)
                return r;
        mbedtls_x509_crt_init(&c);
        r = parse_one(&c, der, len, "CA certificate", &w);
        if (r == 0) {
                info_of(&c, &i);
                r = check_ca(&c, &i, &w);
        }
        mbedtls_x509_crt_free(&c);
        if (r == 0)
                *ret = i;
        return r;
}

/* ---- the trusted CAs ---------------------------------------------------- */

int ekcert_trust_new(struct ekcert_trust **ret)
{
        struct ekcert_trust *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        mbedtls_x509_crt_init(&t->anchors);
        mbedtls_x509_crt_init(&t->intermediates);
        *ret = t;
        return 0;
}

void ekcert_trust_free(struct ekcert_trust *t)
{
        if (!t)
                return;
        mbedtls_x509_crt_free(&t->anchors);
        mbedtls_x509_crt_free(&t->intermediates);
        free(t);
}

int ekcert_trust_add(struct ekcert_trust *t, const uint8_t *der, size_t len, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        struct ekcert_info i;
        if (!t)
                return reason_fail(&w, -EINVAL, "ekcert_trust_add: missing argument");
        int r = ekcert_ca_info(der, len, &i, why, whylen);
        if (r < 0)
                return r;
        r = parse_one(i.self_issued ? &t->anchors : &t->intermediates, der, len, "CA certificate", &w);
        if (r < 0)
                return r;
        if (i.self_issued)
                t->n_anchors++;
        else
                t->n_intermediates++;
        return 0;
}

size_t ekcert_trust_anchors(const struct ekcert_trust *t)
{
        return t ? t->n_anchors : 0;
}

/* ---- verification ------------------------------------------------------- */

/* Did parent's key make child's signature? Only to order the candidates:
 * mbedtls checks the chain it is given on its own. */
static bool signed_by(const mbedtls_x509_crt *child, const mbedtls_x509_crt *parent)
{
        const mbedtls_md_info_t *md = mbedtls_md_info_from_type(child->sig_md);
        unsigned char h[MBEDTLS_MD_MAX_SIZE];
        if (!md || mbedtls_md(md, child->tbs.p, child->tbs.len, h) != 0)
                return false;
        return mbedtls_pk_verify_ext(child->sig_pk, child->sig_opts, (mbedtls_pk_context *)&parent->pk, child->sig_md, h,
                                     mbedtls_md_get_size(md), child->sig.p, child->sig.len) == 0;
}

static bool listed(const mbedtls_x509_crt *const *v, size_t n, const mbedtls_x509_crt *x)
{
        for (size_t k = 0; k < n; k++)
                if (v[k] == x)
                        return true;
        return false;
}

/* mbedtls looks for a certificate's issuer among the trusted CAs, then
 * among the certificates after it in the chain, where it takes the first
 * whose name matches, whatever its signature says. So the intermediates
 * go in breadth-first from the EK certificate, and for each certificate
 * those whose key signed it before those that only share the name (two CAs
 * may have one name); the rest last, in case mbedtls matches a name that
 * is encoded differently. */
static int add_intermediates(const struct ekcert_trust *t, mbedtls_x509_crt *chain, const struct reason *w)
{
        const mbedtls_x509_crt *used[64];
        size_t n = 0;
        int r;
        for (const mbedtls_x509_crt *c = chain; c && c->raw.p; c = c->next)
                for (int pass = 0; pass < 2; pass++)
                        for (const mbedtls_x509_crt *i = &t->intermediates; i && i->raw.p && n < ELEMENTSOF(used);
                             i = i->next) {
                                if (listed(used, n, i) || !same_name(&c->issuer, &i->subject) ||
                                    signed_by(c, i) != (pass == 0))
                                        continue;
                                if ((r = parse_one(chain, i->raw.p, i->raw.len, "CA certificate", w)) < 0)
                                        return r;
                                used[n++] = i;
                        }
        for (const mbedtls_x509_crt *i = &t->intermediates; i && i->raw.p; i = i->next)
                if (!listed(used, n, i) && (r = parse_one(chain, i->raw.p, i->raw.len, "CA certificate", w)) < 0)
                        return r;
        return 0;
}

/* What mbedtls found, certificate by certificate (depth 0 is the EK's). */
struct seen {
        const mbedtls_x509_crt *crt[MBEDTLS_X509_MAX_VERIFY_CHAIN_SIZE];
        uint32_t flags[MBEDTLS_X509_MAX_VERIFY_CHAIN_SIZE];
        int top;
};

static int record(void *ud, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
        struct seen *s = ud;
        if (depth >= 0 && depth < (int)ELEMENTSOF(s->crt)) {
                s->crt[depth] = crt;
                s->flags[depth] = *flags;
                if (depth > s->top)
                        s->top = depth;
        }
        return 0;
}

/* The first failed check from the top of the chain, in words. */
static int explain(const struct seen *s, uint32_t all, const struct reason *w)
{
        char who[2 * EKCERT_NAME_MAX], name[EKCERT_NAME_MAX + 24], other[EKCERT_NAME_MAX], date[32];
        int d = s->top;
        while (d > 0 && s->flags[d] == 0)
                d--;
        if (d < 0 || !s->crt[d] || s->flags[d] == 0) {
                char text[160];
                mbedtls_x509_crt_verify_info(text, sizeof(text), "", all);
                text[strcspn(text, "\n")] = '\0';
                return reason_fail(w, -EPERM, "EK certificate: does not verify (%s)", text);
        }
        const mbedtls_x509_crt *c = s->crt[d];
        uint32_t f = s->flags[d];
        struct ekcert_info i;
        info_of(c, &i);
        label_of(name, sizeof(name), &i);
        if (d == 0)
                snprintf(who, sizeof(who), "EK certificate");
        else
                snprintf(who, sizeof(who), "EK certificate: CA %s", name);
        if (f & MBEDTLS_X509_BADCERT_NOT_TRUSTED) {
                if (d < s->top && s->crt[d + 1]) {
                        name_of(other, sizeof(other), &s->crt[d + 1]->subject);
                        return reason_fail(w, -EPERM, "%s: its signature does not verify with the key of %s", who, other);
                }
                if (d == 0)
                        return reason_fail(w, -EPERM, "EK certificate: not signed by a trusted CA (issuer %s)", i.issuer);
                return reason_fail(w, -EPERM, "EK certificate: not signed by a trusted CA (its chain ends at %s, issuer %s)",
                                   name, i.issuer);
        }
        if (f & MBEDTLS_X509_BADCERT_EXPIRED) {
                date_of(date, sizeof(date), &c->valid_to);
                return reason_fail(w, -EPERM, "%s expired on %s", who, date);
        }
        if (f & MBEDTLS_X509_BADCERT_FUTURE) {
                date_of(date, sizeof(date), &c->valid_from);
                return reason_fail(w, -EPERM, "%s is not valid before %s", who, date);
        }
        if (f & MBEDTLS_X509_BADCERT_BAD_MD) {
                const mbedtls_md_info_t *md = mbedtls_md_info_from_type(c->sig_md);
                return reason_fail(w, -EPERM, "%s is signed with %s, which Ember does not accept", who,
                                   md ? mbedtls_md_get_name(md) : "an unknown hash");
        }
        if (f & (MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY))
                return reason_fail(w, -EPERM,
                                   "%s: a key in its chain is not one Ember accepts (RSA of 2048 bits or more, "
                                   "EC P-256, P-384 or P-521)",
                                   who);
        char text[160];
        mbedtls_x509_crt_verify_info(text, sizeof(text), "", f);
        text[strcspn(text, "\n")] = '\0';
        return reason_fail(w, -EPERM, "%s: %s", who, text);
}

static int verify_chain(const struct ekcert_trust *t, mbedtls_x509_crt *chain, struct ekcert_verdict *v,
                        const struct reason *w)
{
        struct seen s = { .top = -1 };
        uint32_t flags = 0;
        int rc = mbedtls_x509_crt_verify_with_profile(chain, (mbedtls_x509_crt *)&t->anchors, NULL, &ek_profile, NULL,
                                                      &flags, record, &s);
        if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || (rc == 0 && flags))
                return explain(&s, flags, w);
        if (rc != 0)
                return mbed_reason(w, rc, -EPERM, "EK certificate: verifying its chain");
        if (s.top < 0 || !s.crt[s.top])
                return reason_fail(w, -EIO, "EK certificate: mbedtls verified it but named no CA");
        struct ekcert_info anchor;
        info_of(s.crt[s.top], &anchor);
        memcpy(v->ca_id, anchor.id, sizeof(v->ca_id));
        label_of(v->ca_subject, sizeof(v->ca_subject), &anchor);
        return 0;
}

static int compare_mpi(const mbedtls_mpi *have, const uint8_t *want, size_t want_len, bool *ret)
{
        mbedtls_mpi m;
        mbedtls_mpi_init(&m);
        int rc = mbedtls_mpi_read_binary(&m, want, want_len);
        if (rc == 0)
                *ret = mbedtls_mpi_cmp_mpi(have, &m) == 0;
        mbedtls_mpi_free(&m);
        return rc;
}

static int same_rsa(mbedtls_rsa_context *rsa, const TPMT_PUBLIC *a, const struct reason *w)
{
        mbedtls_mpi n, e;
        bool same_n = false;
        uint32_t exponent = a->parameters.rsaDetail.exponent ? a->parameters.rsaDetail.exponent : 65537;
        mbedtls_mpi_init(&n);
        mbedtls_mpi_init(&e);
        int rc = mbedtls_rsa_export(rsa, &n, NULL, NULL, NULL, &e), r = 0;
        if (rc == 0)
                rc = compare_mpi(&n, a->unique.rsa.buffer, a->unique.rsa.size, &same_n);
        if (rc != 0)
                r = mbed_reason(w, rc, -EIO, "EK certificate: reading its RSA key");
        else if (!same_n)
                r = reason_fail(w, -EKEYREJECTED, "EK certificate certifies another key (its RSA modulus is not the EK's)");
        else if (mbedtls_mpi_cmp_int(&e, (mbedtls_mpi_sint)exponent) != 0)
                r = reason_fail(w, -EKEYREJECTED, "EK certificate certifies another key (its RSA exponent is not the EK's)");
        mbedtls_mpi_free(&n);
        mbedtls_mpi_free(&e);
        return r;
}

static int same_ec(const mbedtls_ecp_keypair *ec, const TPMT_PUBLIC *a, const struct reason *w)
{
        mbedtls_ecp_group_id want;
        switch (a->parameters.eccDetail.curveID) {
        case TPM2_ECC_NIST_P256:
                want = MBEDTLS_ECP_DP_SECP256R1;
                break;
        case TPM2_ECC_NIST_P384:
                want = MBEDTLS_ECP_DP_SECP384R1;
                break;
        case TPM2_ECC_NIST_P521:
                want = MBEDTLS_ECP_DP_SECP521R1;
                break;
        default:
                return reason_fail(w, -EKEYREJECTED, "EK certificate: the EK's curve 0x%04x is not one Ember knows",
                                   a->parameters.eccDetail.curveID);
        }
        if (ec->grp.id != want) {
                const mbedtls_ecp_curve_info *have = mbedtls_ecp_curve_info_from_grp_id(ec->grp.id),
                                             *ek = mbedtls_ecp_curve_info_from_grp_id(want);
                return reason_fail(w, -EKEYREJECTED, "EK certificate certifies another key (curve %s, the EK's is %s)",
                                   have ? have->name : "unknown", ek ? ek->name : "?");
        }
        bool same_x = false, same_y = false;
        int rc = compare_mpi(&ec->Q.X, a->unique.ecc.x.buffer, a->unique.ecc.x.size, &same_x);
        if (rc == 0)
                rc = compare_mpi(&ec->Q.Y, a->unique.ecc.y.buffer, a->unique.ecc.y.size, &same_y);
        if (rc != 0)
                return mbed_reason(w, rc, -EIO, "EK certificate: reading its EC key");
        if (!same_x || !same_y || mbedtls_mpi_cmp_int(&ec->Q.Z, 1) != 0)
                return reason_fail(w, -EKEYREJECTED, "EK certificate certifies another key (its EC point is not the EK's)");
        return 0;
}

static int same_key(const mbedtls_pk_context *pk, const TPM2B_PUBLIC *ek, const struct reason *w)
{
        const TPMT_PUBLIC *a = &ek->publicArea;
        mbedtls_pk_type_t t = mbedtls_pk_get_type(pk);
        bool rsa = t == MBEDTLS_PK_RSA, ec = t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECKEY_DH || t == MBEDTLS_PK_ECDSA;
        if (a->type == TPM2_ALG_RSA && rsa)
                return same_rsa(mbedtls_pk_rsa(*pk), a, w);
        if (a->type == TPM2_ALG_ECC && ec)
                return same_ec(mbedtls_pk_ec(*pk), a, w);
        return reason_fail(w, -EKEYREJECTED, "EK certificate certifies another key (an %s key; the EK is %s)",
                           rsa ? "RSA" : ec ? "EC" : "unknown", a->type == TPM2_ALG_RSA ? "RSA" : "ECC");
}

/* What only an EK certificate must be. */
static int check_leaf(const mbedtls_x509_crt *c, const struct reason *w)
{
        if (c->ca_istrue)
                return reason_fail(w, -EPERM, "EK certificate: is a CA certificate, not an EK's");
        if (mbedtls_x509_crt_check_extended_key_usage(c, OID_TCG_KP_EK, sizeof(OID_TCG_KP_EK) - 1) != 0)
                return reason_fail(w, -EPERM, "EK certificate: its extended key usage does not include "
                                              "tcg-kp-EKCertificate (2.23.133.8.1)");
        return 0;
}

int ekcert_verify(const struct ekcert_trust *t, const uint8_t *der, size_t len, const TPM2B_PUBLIC *ek,
                  struct ekcert_verdict *ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        struct ekcert_verdict v = { 0 };
        mbedtls_x509_crt chain;
        size_t used;
        if (!t || !der || !ek || !ret)
                return reason_fail(&w, -EINVAL, "ekcert_verify: missing argument");
        const TPMU_PUBLIC_ID *u = &ek->publicArea.unique;
        if (ek->publicArea.type == TPM2_ALG_RSA ? u->rsa.size > sizeof(u->rsa.buffer)
                                                : u->ecc.x.size > sizeof(u->ecc.x.buffer) ||
                                                          u->ecc.y.size > sizeof(u->ecc.y.buffer))
                return reason_fail(&w, -EINVAL, "ekcert_verify: the EK's sizes exceed their buffers");
        if (len == 0 || len > EKCERT_MAX)
                return reason_fail(&w, -EBADMSG, "EK certificate: %zu bytes (1 to %d expected)", len, EKCERT_MAX);
        int r = der_extent(der, len, true, "EK certificate", &used, &w);
        if (r < 0)
                return r;
        mbedtls_x509_crt_init(&chain);
        r = parse_one(&chain, der, used, "EK certificate", &w);
        if (r == 0)
                r = check_leaf(&chain, &w);
        if (r == 0 && t->n_anchors == 0 && t->n_intermediates == 0)
                r = reason_fail(&w, -EPERM, "EK certificate: no EK CA is trusted (emberctl ek-ca add)");
        if (r == 0)
                r = add_intermediates(t, &chain, &w);
        if (r == 0)
                r = verify_chain(t, &chain, &v, &w);
        if (r == 0)
                r = same_key(&chain.pk, ek, &w);
        if (r == 0)
                info_of(&chain, &v.cert);
        mbedtls_x509_crt_free(&chain);
        if (r == 0)
                *ret = v;
        return r;
}
