/* SPDX-License-Identifier: Apache-2.0 */
#include "quote.h"
#include "mbed.h"

#include <errno.h>
#include <mbedtls/bignum.h>
#include <mbedtls/constant_time.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/rsa.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "makecred.h"
#include "reason.h"
#include "util.h"

struct hash {
        uint16_t alg;
        mbedtls_md_type_t md;
        size_t size;
        bool strong; /* fit for signatures and names, not only for PCR banks */
};

static const struct hash hashes[] = {
        { TPM2_ALG_SHA1, MBEDTLS_MD_SHA1, 20, false },
        { TPM2_ALG_SHA256, MBEDTLS_MD_SHA256, 32, true },
        { TPM2_ALG_SHA384, MBEDTLS_MD_SHA384, 48, true },
        { TPM2_ALG_SHA512, MBEDTLS_MD_SHA512, 64, true },
};

static const struct hash *hash_find(uint16_t alg)
{
        for (size_t i = 0; i < ELEMENTSOF(hashes); i++)
                if (hashes[i].alg == alg)
                        return &hashes[i];
        return NULL;
}

static const struct hash *hash_find_strong(uint16_t alg)
{
        const struct hash *h = hash_find(alg);
        return h && h->strong ? h : NULL;
}

size_t quote_digest_size(uint16_t alg)
{
        const struct hash *h = hash_find(alg);
        return h ? h->size : 0;
}

/* An algorithm's name for a reason string; C11 keeps the returned array
 * alive until the end of the full expression (the printf call). */
struct alg_str {
        char s[12];
};

static struct alg_str alg_str(uint16_t alg)
{
        static const struct {
                uint16_t alg;
                const char *name;
        } names[] = {
                { TPM2_ALG_SHA1, "sha1" },     { TPM2_ALG_SHA256, "sha256" }, { TPM2_ALG_SHA384, "sha384" },
                { TPM2_ALG_SHA512, "sha512" }, { TPM2_ALG_RSASSA, "rsassa" }, { TPM2_ALG_RSAPSS, "rsapss" },
                { TPM2_ALG_ECDSA, "ecdsa" },   { TPM2_ALG_ECDAA, "ecdaa" },   { TPM2_ALG_SM2, "sm2" },
                { TPM2_ALG_ECSCHNORR, "ecschnorr" }, { TPM2_ALG_HMAC, "hmac" }, { TPM2_ALG_NULL, "null" },
        };
        struct alg_str r;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i].alg == alg) {
                        snprintf(r.s, sizeof(r.s), "%s", names[i].name);
                        return r;
                }
        snprintf(r.s, sizeof(r.s), "0x%04x", alg);
        return r;
}

/* "0,2,4,7,9" for a PCR mask. */
struct pcr_str {
        char s[3 * 32 + 1];
};

static struct pcr_str pcr_str(uint32_t mask)
{
        struct pcr_str r = { "" };
        size_t off = 0;
        for (unsigned i = 0; i < 32; i++)
                if (mask & (UINT32_C(1) << i))
                        off += (size_t)snprintf(r.s + off, sizeof(r.s) - off, "%s%u", off ? "," : "", i);
        if (!off)
                snprintf(r.s, sizeof(r.s), "none");
        return r;
}

/* tss2-mu's codes, likewise: every unmarshalling failure is a malformed
 * structure. */
static int mu_fail(const struct reason *w, TSS2_RC rc, const char *what)
{
        return reason_fail(w, -EBADMSG, "%s does not unmarshal (TSS2_RC 0x%x: %s)", what, rc, Tss2_RC_Decode(rc));
}

static int digest(const struct hash *h, const uint8_t *buf, size_t len, uint8_t *out, const struct reason *w)
{
        int r = mbedtls_md(mbedtls_md_info_from_type(h->md), buf, len, out);
        return r ? mbed_reason(w, r, -EIO, "hashing failed") : 0;
}

/* ---- parsing: bytes to structures, no meaning ---- */

static int parse_public(const char *what, const uint8_t *buf, size_t len, TPM2B_PUBLIC *ret, const struct reason *w)
{
        char inner[160] = "";
        /* the unmarshalled form is never shorter than the marshalled one */
        if (len > sizeof(TPM2B_PUBLIC))
                return reason_fail(w, -EMSGSIZE, "%s is %zu bytes, longer than a TPM2B_PUBLIC can be", what, len);
        int r = makecred_parse_public(buf, len, ret, inner, sizeof(inner));
        return r < 0 ? reason_fail(w, r, "%s: %s", what, inner) : 0;
}

int quote_parse_attest(const uint8_t *buf, size_t len, TPMS_ATTEST *ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        TPMS_ATTEST a = { 0 };
        uint8_t again[sizeof(((TPM2B_ATTEST *)NULL)->attestationData)];
        size_t off = 0, off2 = 0;

        if (!buf || !ret)
                return -EINVAL;
        if (len > sizeof(again))
                return reason_fail(&w, -EMSGSIZE, "quote is %zu bytes, longer than a TPMS_ATTEST can be", len);
        TSS2_RC rc = Tss2_MU_TPMS_ATTEST_Unmarshal(buf, len, &off, &a);
        if (rc != TSS2_RC_SUCCESS)
                return mu_fail(&w, rc, "quote (TPMS_ATTEST)");
        if (off != len)
                return reason_fail(&w, -EBADMSG, "quote (TPMS_ATTEST): %zu bytes after its end", len - off);
        /* The signature covers these bytes, the checks read the structure:
         * they must be the same thing. */
        rc = Tss2_MU_TPMS_ATTEST_Marshal(&a, again, sizeof(again), &off2);
        if (rc != TSS2_RC_SUCCESS || off2 != len || memcmp(again, buf, len) != 0)
                return reason_fail(&w, -EBADMSG, "quote (TPMS_ATTEST) is not in canonical form");
        *ret = a;
        return 0;
}

int quote_parse_signature(const uint8_t *buf, size_t len, TPMT_SIGNATURE *ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        TPMT_SIGNATURE s = { 0 };
        size_t off = 0;

        if (!buf || !ret)
                return -EINVAL;
        if (len > sizeof(TPMT_SIGNATURE))
                return reason_fail(&w, -EMSGSIZE, "signature is %zu bytes, longer than a TPMT_SIGNATURE can be", len);
        TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Unmarshal(buf, len, &off, &s);
        if (rc != TSS2_RC_SUCCESS)
                return mu_fail(&w, rc, "signature (TPMT_SIGNATURE)");
        if (off != len)
                return reason_fail(&w, -EBADMSG, "signature (TPMT_SIGNATURE): %zu bytes after its end", len - off);
        *ret = s;
        return 0;
}

/* ---- the AK ---- */

static int check_ak_scheme(uint16_t scheme, uint16_t hash, bool rsa, const struct reason *w)
{
        if (scheme == TPM2_ALG_NULL)
                return 0;
        if (rsa ? scheme != TPM2_ALG_RSASSA && scheme != TPM2_ALG_RSAPSS : scheme != TPM2_ALG_ECDSA)
                return reason_fail(w, -EKEYREJECTED, "AK signing scheme %s not supported (%s)", alg_str(scheme).s,
                                   rsa ? "rsassa or rsapss" : "ecdsa");
        if (!hash_find_strong(hash))
                return reason_fail(w, -EKEYREJECTED, "AK scheme hash %s not supported (sha256, sha384, sha512)",
                                   alg_str(hash).s);
        return 0;
}

static int check_ak_rsa(const TPMT_PUBLIC *ak, const struct reason *w)
{
        const TPMS_RSA_PARMS *p = &ak->parameters.rsaDetail;
        if (p->keyBits < 2048 || p->keyBits > 4096 || p->keyBits % 8)
                return reason_fail(w, -EKEYREJECTED, "AK RSA key size %u not supported (2048 to 4096 bits)", p->keyBits);
        if (ak->unique.rsa.size != p->keyBits / 8)
                return reason_fail(w, -EKEYREJECTED, "AK modulus is %u bytes, its keyBits say %u", ak->unique.rsa.size,
                                   p->keyBits / 8);
        return check_ak_scheme(p->scheme.scheme, p->scheme.details.anySig.hashAlg, true, w);
}

static int check_ak_ecc(const TPMT_PUBLIC *ak, const struct reason *w)
{
        const TPMS_ECC_PARMS *p = &ak->parameters.eccDetail;
        if (p->curveID != TPM2_ECC_NIST_P256 && p->curveID != TPM2_ECC_NIST_P384)
                return reason_fail(w, -EKEYREJECTED, "AK curve 0x%04x not supported (NIST P-256, P-384)", p->curveID);
        return check_ak_scheme(p->scheme.scheme, p->scheme.details.anySig.hashAlg, false, w);
}

int quote_check_ak(const TPMT_PUBLIC *ak, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        if (!ak)
                return -EINVAL;
        TPMA_OBJECT a = ak->objectAttributes;
        if (ak->type != TPM2_ALG_RSA && ak->type != TPM2_ALG_ECC)
                return reason_fail(&w, -EKEYREJECTED, "AK is not an RSA or ECC key (type 0x%04x)", ak->type);
        if (!(a & TPMA_OBJECT_RESTRICTED))
                return reason_fail(&w, -EKEYREJECTED, "AK not restricted: its TPM would sign any digest as a quote");
        if (!(a & TPMA_OBJECT_SIGN_ENCRYPT))
                return reason_fail(&w, -EKEYREJECTED, "AK not a signing key");
        if (a & TPMA_OBJECT_DECRYPT)
                return reason_fail(&w, -EKEYREJECTED, "AK is a decryption key");
        if (!(a & TPMA_OBJECT_FIXEDTPM))
                return reason_fail(&w, -EKEYREJECTED, "AK not fixedTPM: it may have been duplicated out of the TPM");
        if (!(a & TPMA_OBJECT_FIXEDPARENT))
                return reason_fail(&w, -EKEYREJECTED, "AK not fixedParent");
        if (!(a & TPMA_OBJECT_SENSITIVEDATAORIGIN))
                return reason_fail(&w, -EKEYREJECTED, "AK not sensitiveDataOrigin: its private key came from outside the TPM");
        if (ak->nameAlg != TPM2_ALG_SHA256 && ak->nameAlg != TPM2_ALG_SHA384)
                return reason_fail(&w, -EKEYREJECTED, "AK nameAlg %s not supported (sha256, sha384)", alg_str(ak->nameAlg).s);
        return ak->type == TPM2_ALG_RSA ? check_ak_rsa(ak, &w) : check_ak_ecc(ak, &w);
}

/* nameAlg ‖ H_nameAlg(prefix ‖ name): one step down the qualified-name
 * chain. */
static int qualify(uint16_t name_alg, const uint8_t *prefix, size_t prefix_len, const TPM2B_NAME *name, TPM2B_NAME *ret)
{
        const struct hash *h = hash_find_strong(name_alg);
        _cleanup_(mbedtls_md_free) mbedtls_md_context_t md;
        mbedtls_md_init(&md);
        if (!h)
                return -EOPNOTSUPP;
        int r = mbedtls_md_setup(&md, mbedtls_md_info_from_type(h->md), 0);
        if (!r)
                r = mbedtls_md_starts(&md);
        if (!r)
                r = mbedtls_md_update(&md, prefix, prefix_len);
        if (!r)
                r = mbedtls_md_update(&md, name->name, name->size);
        if (!r)
                r = mbedtls_md_finish(&md, ret->name + 2);
        if (r)
                return mbed_reason(NULL, r, -EIO, "hashing a qualified name failed");
        ret->name[0] = (uint8_t)(name_alg >> 8);
        ret->name[1] = (uint8_t)name_alg;
        ret->size = (UINT16)(2 + h->size);
        return 0;
}

int quote_qualified_name(const TPM2B_PUBLIC *ek, const TPM2B_PUBLIC *ak, TPM2B_NAME *ret)
{
        static const uint8_t endorsement[4] = { TPM2_RH_ENDORSEMENT >> 24, (TPM2_RH_ENDORSEMENT >> 16) & 0xff,
                                                (TPM2_RH_ENDORSEMENT >> 8) & 0xff, TPM2_RH_ENDORSEMENT & 0xff };
        TPM2B_NAME ek_name, ak_name, ek_qn, ak_qn;
        if (!ek || !ak || !ret)
                return -EINVAL;
        if (!hash_find_strong(ek->publicArea.nameAlg) || !hash_find_strong(ak->publicArea.nameAlg))
                return -EOPNOTSUPP;
        int r = makecred_name(ek, &ek_name);
        if (r >= 0)
                r = makecred_name(ak, &ak_name);
        if (r >= 0)
                r = qualify(ek->publicArea.nameAlg, endorsement, sizeof(endorsement), &ek_name, &ek_qn);
        if (r >= 0)
                r = qualify(ak->publicArea.nameAlg, ek_qn.name, ek_qn.size, &ak_name, &ak_qn);
        if (r < 0)
                return r;
        *ret = ak_qn;
        return 0;
}

/* ---- the attestation's header ---- */

static void hex_prefix(const uint8_t *b, size_t n, char out[25])
{
        size_t i;
        for (i = 0; i < n && i < 12; i++)
                snprintf(out + 2 * i, 3, "%02x", b[i]);
        out[2 * i] = 0;
}

static int check_header(const TPMS_ATTEST *a, const TPM2B_PUBLIC *ek, const TPM2B_PUBLIC *ak,
                        const struct quote_expect *exp, const struct reason *w)
{
        TPM2B_NAME qn;
        char got[25], want[25];

        if (a->magic != TPM2_GENERATED_VALUE)
                return reason_fail(w, -EPROTO, "quote magic 0x%08x is not TPM_GENERATED_VALUE: not made by a TPM", a->magic);
        if (a->type != TPM2_ST_ATTEST_QUOTE)
                return reason_fail(w, -EPROTOTYPE, "attestation type 0x%04x is not TPM_ST_ATTEST_QUOTE", a->type);
        int r = quote_qualified_name(ek, ak, &qn);
        if (r == -EOPNOTSUPP) /* the AK's nameAlg passed quote_check_ak() */
                return reason_fail(w, -EKEYREJECTED, "EK nameAlg %s not supported (sha256, sha384, sha512)",
                                   alg_str(ek->publicArea.nameAlg).s);
        if (r < 0)
                return reason_fail(w, r, "computing the AK's qualified name failed: %s", strerror(-r));
        if (a->qualifiedSigner.size != qn.size || memcmp(a->qualifiedSigner.name, qn.name, qn.size) != 0) {
                hex_prefix(a->qualifiedSigner.name, a->qualifiedSigner.size, got);
                hex_prefix(qn.name, qn.size, want);
                return reason_fail(w, -ENOKEY, "qualifiedSigner %s… is not the AK's qualified name under the EK %s…", got,
                                   want);
        }
        /* the length is no secret; the contents are compared in constant time */
        if (a->extraData.size != exp->extra_len ||
            mbedtls_ct_memcmp(a->extraData.buffer, exp->extra, exp->extra_len) != 0)
                return reason_fail(w, -ESTALE, "extraData is not the expected qualifying data (stale or replayed quote)");
        return 0;
}

/* ---- the signature ---- */

/* Which hash signed the quote; refuses schemes the AK cannot or may not
 * use. */
static int check_sig_scheme(const TPMT_PUBLIC *ak, const TPMT_SIGNATURE *s, const struct hash **ret,
                            const struct reason *w)
{
        bool rsa = ak->type == TPM2_ALG_RSA;
        const TPMT_RSA_SCHEME *rs = &ak->parameters.rsaDetail.scheme;
        const TPMT_ECC_SCHEME *es = &ak->parameters.eccDetail.scheme;
        uint16_t scheme = rsa ? rs->scheme : es->scheme;
        uint16_t scheme_hash = rsa ? rs->details.anySig.hashAlg : es->details.anySig.hashAlg;

        if (rsa ? s->sigAlg != TPM2_ALG_RSASSA && s->sigAlg != TPM2_ALG_RSAPSS : s->sigAlg != TPM2_ALG_ECDSA)
                return reason_fail(w, -EOPNOTSUPP, "signature algorithm %s does not fit an %s AK", alg_str(s->sigAlg).s,
                                   rsa ? "RSA" : "ECC");
        const struct hash *h = hash_find_strong(s->signature.any.hashAlg);
        if (!h)
                return reason_fail(w, -EOPNOTSUPP, "signature hash %s not accepted (sha256, sha384, sha512)",
                                   alg_str(s->signature.any.hashAlg).s);
        if (scheme != TPM2_ALG_NULL && (scheme != s->sigAlg || scheme_hash != h->alg))
                return reason_fail(w, -EOPNOTSUPP, "signature scheme %s-%s is not the AK's %s-%s", alg_str(s->sigAlg).s,
                                   alg_str(h->alg).s, alg_str(scheme).s, alg_str(scheme_hash).s);
        *ret = h;
        return 0;
}

static int verify_rsa(const TPMT_PUBLIC *ak, const TPMT_SIGNATURE *s, const struct hash *h, const uint8_t *dig,
                      const struct reason *w)
{
        uint32_t e = ak->parameters.rsaDetail.exponent ? ak->parameters.rsaDetail.exponent : 65537;
        const uint8_t eb[4] = { (uint8_t)(e >> 24), (uint8_t)(e >> 16), (uint8_t)(e >> 8), (uint8_t)e };
        const TPM2B_PUBLIC_KEY_RSA *sig = s->sigAlg == TPM2_ALG_RSASSA ? &s->signature.rsassa.sig : &s->signature.rsapss.sig;
        _cleanup_(mbedtls_rsa_free) mbedtls_rsa_context rsa;
        mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);

        int r = mbedtls_rsa_import_raw(&rsa, ak->unique.rsa.buffer, ak->unique.rsa.size, NULL, 0, NULL, 0, NULL, 0, eb,
                                       sizeof(eb));
        if (!r)
                r = mbedtls_rsa_complete(&rsa);
        if (!r)
                r = mbedtls_rsa_check_pubkey(&rsa);
        if (r)
                return mbed_reason(w, r, -EKEYREJECTED, "AK's RSA public key is not usable");
        /* mbedtls reads a modulus' length of signature */
        if (sig->size != mbedtls_rsa_get_len(&rsa))
                return reason_fail(w, -EBADE, "signature is %u bytes, the AK's modulus %zu", sig->size,
                                   mbedtls_rsa_get_len(&rsa));
        if (s->sigAlg == TPM2_ALG_RSASSA)
                r = mbedtls_rsa_pkcs1_verify(&rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC, h->md, (unsigned)h->size, dig,
                                             sig->buffer);
        else
                r = mbedtls_rsa_rsassa_pss_verify_ext(&rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC, h->md, (unsigned)h->size, dig,
                                                      h->md, MBEDTLS_RSA_SALT_LEN_ANY, sig->buffer);
        return r ? mbed_reason(w, r, -EBADE, "signature does not verify with the AK") : 0;
}

static int verify_ecdsa(const TPMT_PUBLIC *ak, const TPMT_SIGNATURE *s, const struct hash *h, const uint8_t *dig,
                        const struct reason *w)
{
        const TPMS_ECC_POINT *pt = &ak->unique.ecc;
        const TPMS_SIGNATURE_ECDSA *sig = &s->signature.ecdsa;
        _cleanup_(mbedtls_ecp_group_free) mbedtls_ecp_group grp;
        _cleanup_(mbedtls_ecp_point_free) mbedtls_ecp_point q;
        _cleanup_(mbedtls_mpi_free) mbedtls_mpi sr;
        _cleanup_(mbedtls_mpi_free) mbedtls_mpi ss;
        mbedtls_ecp_group_init(&grp);
        mbedtls_ecp_point_init(&q);
        mbedtls_mpi_init(&sr);
        mbedtls_mpi_init(&ss);

        int r = mbedtls_ecp_group_load(&grp, ak->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256 ?
                                                     MBEDTLS_ECP_DP_SECP256R1 : MBEDTLS_ECP_DP_SECP384R1);
        if (r)
                return mbed_reason(w, r, -EIO, "loading the AK's curve failed");
        size_t flen = (grp.pbits + 7) / 8;
        if (pt->x.size > flen || pt->y.size > flen)
                return reason_fail(w, -EKEYREJECTED, "AK point coordinates (%u, %u bytes) are longer than its curve's %zu",
                                   pt->x.size, pt->y.size, flen);
        r = mbedtls_mpi_read_binary(&q.X, pt->x.buffer, pt->x.size);
        if (!r)
                r = mbedtls_mpi_read_binary(&q.Y, pt->y.buffer, pt->y.size);
        if (!r)
                r = mbedtls_mpi_lset(&q.Z, 1);
        if (!r)
                r = mbedtls_ecp_check_pubkey(&grp, &q);
        if (r)
                return mbed_reason(w, r, -EKEYREJECTED, "AK's ECC public key is not a point on its curve");
        if (sig->signatureR.size > flen || sig->signatureS.size > flen)
                return reason_fail(w, -EBADE, "ECDSA signature values are longer than the curve's %zu bytes", flen);
        r = mbedtls_mpi_read_binary(&sr, sig->signatureR.buffer, sig->signatureR.size);
        if (!r)
                r = mbedtls_mpi_read_binary(&ss, sig->signatureS.buffer, sig->signatureS.size);
        if (!r)
                r = mbedtls_ecdsa_verify(&grp, dig, h->size, &q, &sr, &ss);
        return r ? mbed_reason(w, r, -EBADE, "signature does not verify with the AK") : 0;
}

static int check_signature(const TPMT_PUBLIC *ak, const TPMT_SIGNATURE *s, const uint8_t *attest, size_t attest_len,
                           const struct hash **ret, const struct reason *w)
{
        const struct hash *h = NULL;
        uint8_t dig[QUOTE_DIGEST_MAX];
        int r = check_sig_scheme(ak, s, &h, w);
        if (r < 0)
                return r;
        r = digest(h, attest, attest_len, dig, w);
        if (r < 0)
                return r;
        r = ak->type == TPM2_ALG_RSA ? verify_rsa(ak, s, h, dig, w) : verify_ecdsa(ak, s, h, dig, w);
        if (r < 0)
                return r;
        *ret = h;
        return 0;
}

/* ---- PCRs ---- */

static int check_asked(const struct quote_selection *sel)
{
        if (!sel || sel->n_banks == 0 || sel->n_banks > QUOTE_MAX_BANKS)
                return -EINVAL;
        for (size_t b = 0; b < sel->n_banks; b++) {
                if (!hash_find(sel->bank[b].alg) || sel->bank[b].pcrs == 0 || sel->bank[b].pcrs >> QUOTE_PCRS)
                        return -EINVAL;
                for (size_t c = 0; c < b; c++)
                        if (sel->bank[c].alg == sel->bank[b].alg)
                                return -EINVAL;
        }
        return 0;
}

static uint32_t sel_mask(const TPMS_PCR_SELECTION *s)
{
        uint32_t m = 0;
        for (unsigned i = 0; i < s->sizeofSelect && i < 4; i++)
                m |= (uint32_t)s->pcrSelect[i] << (8 * i);
        return m;
}

static int check_selection(const TPML_PCR_SELECTION *q, const struct quote_selection *asked, const struct reason *w)
{
        if (q->count != asked->n_banks)
                return reason_fail(w, -EDOM, "quote covers %u PCR banks, %zu were asked for", q->count, asked->n_banks);
        for (size_t b = 0; b < asked->n_banks; b++) {
                const TPMS_PCR_SELECTION *s = &q->pcrSelections[b];
                uint16_t alg = asked->bank[b].alg;
                if (s->hash != alg)
                        return reason_fail(w, -EDOM, "quote's bank %zu is %s, %s was asked for", b, alg_str(s->hash).s,
                                           alg_str(alg).s);
                if (s->sizeofSelect > 4 || sel_mask(s) != asked->bank[b].pcrs)
                        return reason_fail(w, -EDOM, "quote selects %s PCRs %s, %s were asked for", alg_str(alg).s,
                                           pcr_str(sel_mask(s)).s, pcr_str(asked->bank[b].pcrs).s);
        }
        return 0;
}

/* The reported value of bank:index; -ENODATA unless exactly one. */
static int find_pcr(const struct quote_pcr *pcrs, size_t n, uint16_t bank, unsigned index, const struct quote_pcr **ret,
                    const struct reason *w)
{
        const struct quote_pcr *found = NULL;
        for (size_t i = 0; i < n; i++) {
                if (pcrs[i].bank != bank || pcrs[i].index != index)
                        continue;
                if (found)
                        return reason_fail(w, -ENODATA, "PCR %s:%u reported more than once", alg_str(bank).s, index);
                found = &pcrs[i];
        }
        if (!found)
                return reason_fail(w, -ENODATA, "PCR %s:%u is quoted but no value was reported", alg_str(bank).s, index);
        *ret = found;
        return 0;
}

/* A reported value outside the selection: the caller would otherwise take
 * an unproven value for a proven one. */
static int check_no_extra(const TPML_PCR_SELECTION *q, const struct quote_pcr *pcrs, size_t n, const struct reason *w)
{
        for (size_t i = 0; i < n; i++) {
                bool quoted = false;
                for (unsigned b = 0; b < q->count && !quoted; b++)
                        quoted = q->pcrSelections[b].hash == pcrs[i].bank && pcrs[i].index < 32 &&
                                 (sel_mask(&q->pcrSelections[b]) & (UINT32_C(1) << pcrs[i].index));
                if (!quoted)
                        return reason_fail(w, -ENODATA, "PCR %s:%u reported but not quoted", alg_str(pcrs[i].bank).s,
                                           pcrs[i].index);
        }
        return 0;
}

static int check_pcr_digest(const TPMS_QUOTE_INFO *qi, const struct quote_pcr *pcrs, size_t n, const struct hash *h,
                            const struct reason *w)
{
        uint8_t d[QUOTE_DIGEST_MAX];
        _cleanup_(mbedtls_md_free) mbedtls_md_context_t md;
        mbedtls_md_init(&md);

        int r = check_no_extra(&qi->pcrSelect, pcrs, n, w);
        if (r < 0)
                return r;
        r = mbedtls_md_setup(&md, mbedtls_md_info_from_type(h->md), 0);
        if (!r)
                r = mbedtls_md_starts(&md);
        for (unsigned b = 0; !r && b < qi->pcrSelect.count; b++) {
                const TPMS_PCR_SELECTION *s = &qi->pcrSelect.pcrSelections[b];
                uint32_t mask = sel_mask(s);
                for (unsigned i = 0; !r && i < QUOTE_PCRS; i++) {
                        const struct quote_pcr *v = NULL;
                        if (!(mask & (UINT32_C(1) << i)))
                                continue;
                        int e = find_pcr(pcrs, n, s->hash, i, &v, w);
                        if (e < 0)
                                return e;
                        r = mbedtls_md_update(&md, v->digest, quote_digest_size(s->hash));
                }
        }
        if (!r)
                r = mbedtls_md_finish(&md, d);
        if (r)
                return mbed_reason(w, r, -EIO, "hashing the PCR values failed");
        if (qi->pcrDigest.size != h->size || memcmp(qi->pcrDigest.buffer, d, h->size) != 0)
                return reason_fail(w, -EILSEQ, "PCR values do not match the quote's pcrDigest (%s over the selection)",
                                   alg_str(h->alg).s);
        return 0;
}

/* ---- clock ---- */

int quote_check_clock(const TPMS_CLOCK_INFO *ci, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        if (!ci)
                return -EINVAL;
        if (ci->safe != TPM2_YES)
                return reason_fail(&w, -ETIME,
                                   "clockInfo.safe is NO: the TPM may have reported a later Clock before, so this quote "
                                   "cannot be ordered after earlier ones");
        return 0;
}

int quote_check_counters(const struct quote_info *prev, const struct quote_info *cur, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        if (!prev || !cur)
                return -EINVAL;
        if (cur->reset_count < prev->reset_count)
                return reason_fail(&w, -ERANGE, "resetCount went back from %u to %u (an old quote, or a cleared TPM)",
                                   prev->reset_count, cur->reset_count);
        if (cur->reset_count == prev->reset_count && cur->restart_count < prev->restart_count)
                return reason_fail(&w, -ERANGE, "restartCount went back from %u to %u within reset %u",
                                   prev->restart_count, cur->restart_count, cur->reset_count);
        if (cur->clock < prev->clock)
                return reason_fail(&w, -ERANGE, "Clock went back from %llu to %llu ms",
                                   (unsigned long long)prev->clock, (unsigned long long)cur->clock);
        return 0;
}

/* ---- all together ---- */

struct parsed {
        TPM2B_PUBLIC ek, ak;
        TPMS_ATTEST attest;
        TPMT_SIGNATURE sig;
};

static int parse_all(const struct quote_evidence *ev, const struct quote_expect *exp, struct parsed *p,
                     const struct reason *w)
{
        int r = parse_public("EK public", exp->ek_pub, exp->ek_pub_len, &p->ek, w);
        if (r < 0)
                return r;
        r = parse_public("AK public", ev->ak_pub, ev->ak_pub_len, &p->ak, w);
        if (r < 0)
                return r;
        r = quote_parse_attest(ev->attest, ev->attest_len, &p->attest, w->buf, w->len);
        if (r < 0)
                return r;
        return quote_parse_signature(ev->sig, ev->sig_len, &p->sig, w->buf, w->len);
}

int quote_verify(const struct quote_evidence *ev, const struct quote_expect *exp, struct quote_info *ret,
                 char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        const struct hash *h = NULL;
        struct parsed p = { 0 };

        if (!ev || !exp || !ev->ak_pub || !ev->attest || !ev->sig || (!ev->pcrs && ev->n_pcrs) || !exp->ek_pub ||
            !exp->extra || exp->extra_len == 0 || exp->extra_len > sizeof(p.attest.extraData.buffer) ||
            check_asked(exp->selection) < 0)
                return reason_fail(&w, -EINVAL, "quote verification called with bad arguments");
        int r = parse_all(ev, exp, &p, &w);
        if (r < 0)
                return r;
        r = quote_check_ak(&p.ak.publicArea, why, whylen);
        if (r < 0)
                return r;
        r = check_header(&p.attest, &p.ek, &p.ak, exp, &w);
        if (r < 0)
                return r;
        r = check_signature(&p.ak.publicArea, &p.sig, ev->attest, ev->attest_len, &h, &w);
        if (r < 0)
                return r;
        r = check_selection(&p.attest.attested.quote.pcrSelect, exp->selection, &w);
        if (r < 0)
                return r;
        r = check_pcr_digest(&p.attest.attested.quote, ev->pcrs, ev->n_pcrs, h, &w);
        if (r < 0)
                return r;
        r = quote_check_clock(&p.attest.clockInfo, why, whylen);
        if (r < 0)
                return r;
        if (ret)
                *ret = (struct quote_info){
                        .clock = p.attest.clockInfo.clock,
                        .reset_count = p.attest.clockInfo.resetCount,
                        .restart_count = p.attest.clockInfo.restartCount,
                        .firmware_version = p.attest.firmwareVersion,
                        .hash_alg = h->alg,
                };
        return 0;
}
