/* SPDX-License-Identifier: Apache-2.0 */
#include "makecred.h"
#include "mbed.h"

#include <assert.h>
#include <errno.h>
#include <mbedtls/aes.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <stdbool.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "reason.h"
#include "util.h"

/* Labels of Part 1 §24 (each used with its terminating NUL). */
#define LABEL_IDENTITY "IDENTITY"   /* OAEP label / KDFe label of the seed */
#define LABEL_STORAGE "STORAGE"     /* KDFa label of the AES key */
#define LABEL_INTEGRITY "INTEGRITY" /* KDFa label of the HMAC key */

#define MAX_DIGEST 64 /* SHA-512 */

struct hash_info {
        TPM2_ALG_ID alg;
        mbedtls_md_type_t md;
        size_t size;
        const char *name;
};

static const struct hash_info hashes[] = {
        { TPM2_ALG_SHA1, MBEDTLS_MD_SHA1, 20, "SHA-1" },
        { TPM2_ALG_SHA256, MBEDTLS_MD_SHA256, 32, "SHA-256" },
        { TPM2_ALG_SHA384, MBEDTLS_MD_SHA384, 48, "SHA-384" },
        { TPM2_ALG_SHA512, MBEDTLS_MD_SHA512, 64, "SHA-512" },
};

static const struct hash_info *hash_find(TPM2_ALG_ID alg)
{
        for (size_t i = 0; i < ELEMENTSOF(hashes); i++)
                if (hashes[i].alg == alg)
                        return &hashes[i];
        return NULL;
}

struct curve_info {
        TPM2_ECC_CURVE id;
        mbedtls_ecp_group_id group;
        size_t bytes;
        const char *name;
};

static const struct curve_info curves[] = {
        { TPM2_ECC_NIST_P256, MBEDTLS_ECP_DP_SECP256R1, 32, "NIST P-256" },
        { TPM2_ECC_NIST_P384, MBEDTLS_ECP_DP_SECP384R1, 48, "NIST P-384" },
};

static const struct curve_info *curve_find(TPM2_ECC_CURVE id)
{
        for (size_t i = 0; i < ELEMENTSOF(curves); i++)
                if (curves[i].id == id)
                        return &curves[i];
        return NULL;
}

static void put_be16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}

/* ---- KDFa / KDFe (Part 1 §11.4.10) ---- */

struct kdf_input {
        const char *label;
        const uint8_t *u, *v;
        size_t u_len, v_len;
};

static bool kdf_args_ok(const struct hash_info *h, const uint8_t *secret, size_t secret_len,
                        const struct kdf_input *in, size_t bits, const uint8_t *out)
{
        return h && (secret || !secret_len) && in->label && (in->u || !in->u_len) && (in->v || !in->v_len) && out &&
               bits > 0 && bits % 8 == 0 && bits <= UINT32_MAX;
}

static int md_update(mbedtls_md_context_t *md, bool hmac, const uint8_t *p, size_t n)
{
        if (n == 0)
                return 0;
        return hmac ? mbedtls_md_hmac_update(md, p, n) : mbedtls_md_update(md, p, n);
}

/* Block i of either KDF, as the formulas of §11.4.10 list the inputs:
 *   KDFa: HMAC(secret, [i]₃₂ ‖ label ‖ 00 ‖ u ‖ v ‖ [bits]₃₂)
 *   KDFe: H([i]₃₂ ‖ secret ‖ label ‖ 00 ‖ u ‖ v)
 * Returns an mbedtls code. */
static int kdf_block(mbedtls_md_context_t *md, bool hmac, uint32_t i, const uint8_t *secret, size_t secret_len,
                     const struct kdf_input *in, size_t bits, uint8_t *block)
{
        uint8_t counter[4], be_bits[4];
        put_be32(counter, i);
        put_be32(be_bits, (uint32_t)bits);
        const struct {
                const uint8_t *p;
                size_t n;
        } parts[] = {
                { counter, sizeof(counter) },
                { secret, hmac ? 0 : secret_len },
                { (const uint8_t *)in->label, strlen(in->label) + 1 },
                { in->u, in->u_len },
                { in->v, in->v_len },
                { be_bits, hmac ? sizeof(be_bits) : 0 },
        };
        int r = hmac ? mbedtls_md_hmac_starts(md, secret_len ? secret : (const uint8_t *)"", secret_len)
                     : mbedtls_md_starts(md);
        for (size_t k = 0; r == 0 && k < ELEMENTSOF(parts); k++)
                r = md_update(md, hmac, parts[k].p, parts[k].n);
        if (r == 0)
                r = hmac ? mbedtls_md_hmac_finish(md, block) : mbedtls_md_finish(md, block);
        return r;
}

static int kdf(const struct hash_info *h, bool hmac, const uint8_t *secret, size_t secret_len,
               const struct kdf_input *in, size_t bits, uint8_t *out)
{
        mbedtls_md_context_t md;
        uint8_t block[MAX_DIGEST];
        size_t len = bits / 8, done = 0;
        int r;

        mbedtls_md_init(&md);
        r = mbedtls_md_setup(&md, mbedtls_md_info_from_type(h->md), hmac);
        for (uint32_t i = 1; r == 0 && done < len; i++) {
                r = kdf_block(&md, hmac, i, secret, secret_len, in, bits, block);
                if (r == 0) {
                        size_t n = len - done < h->size ? len - done : h->size;
                        memcpy(out + done, block, n);
                        done += n;
                }
        }
        mbedtls_md_free(&md);
        mbedtls_platform_zeroize(block, sizeof(block));
        if (r != 0) {
                mbedtls_platform_zeroize(out, len);
                return mbed_errno(r);
        }
        return 0;
}

int makecred_kdfa(TPM2_ALG_ID hash, const uint8_t *key, size_t key_len, const char *label,
                  const uint8_t *context_u, size_t u_len, const uint8_t *context_v, size_t v_len,
                  size_t bits, uint8_t *out)
{
        const struct hash_info *h = hash_find(hash);
        const struct kdf_input in = { label, context_u, context_v, u_len, v_len };
        if (!kdf_args_ok(h, key, key_len, &in, bits, out))
                return -EINVAL;
        return kdf(h, true, key, key_len, &in, bits, out);
}

int makecred_kdfe(TPM2_ALG_ID hash, const uint8_t *z, size_t z_len, const char *label,
                  const uint8_t *party_u, size_t u_len, const uint8_t *party_v, size_t v_len,
                  size_t bits, uint8_t *out)
{
        const struct hash_info *h = hash_find(hash);
        const struct kdf_input in = { label, party_u, party_v, u_len, v_len };
        if (!kdf_args_ok(h, z, z_len, &in, bits, out))
                return -EINVAL;
        return kdf(h, false, z, z_len, &in, bits, out);
}

/* ---- parsing and checking the EK ---- */

int makecred_parse_public(const void *buf, size_t len, TPM2B_PUBLIC *ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        TPM2B_PUBLIC pub = { 0 }; /* tss2-mu refuses a destination whose size is not 0 */
        uint8_t again[sizeof(TPMT_PUBLIC)];
        size_t off = 0, again_len = 0;

        if (!buf || !ret)
                return -EINVAL;
        TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, &pub);
        if (rc != TSS2_RC_SUCCESS)
                return reason_fail(&w, -EBADMSG, "not a TPM2B_PUBLIC (%zu bytes): unmarshalling failed (TSS2_RC 0x%x)",
                                   len, rc);
        if (off != len)
                return reason_fail(&w, -EBADMSG, "not a TPM2B_PUBLIC: %zu bytes after its end", len - off);
        /* tss2-mu believes the public area, not the size in front of it,
         * and takes size 0 as an empty public area */
        if (pub.size == 0)
                return reason_fail(&w, -EBADMSG, "not a TPM2B_PUBLIC: empty");
        if (pub.size != off - 2)
                return reason_fail(&w, -EBADMSG, "not a TPM2B_PUBLIC: size field says %u bytes, the public area has %zu",
                                   pub.size, off - 2);
        /* so that a Name computed from the structure is the hash of exactly
         * the bytes received */
        if (Tss2_MU_TPMT_PUBLIC_Marshal(&pub.publicArea, again, sizeof(again), &again_len) != TSS2_RC_SUCCESS ||
            again_len != off - 2 || memcmp(again, (const uint8_t *)buf + 2, again_len) != 0)
                return reason_fail(&w, -EBADMSG, "not a TPM2B_PUBLIC: its public area is not canonically marshalled");
        *ret = pub;
        return 0;
}

static int sym_check(const TPMT_SYM_DEF_OBJECT *sym, const struct reason *w)
{
        if (sym->algorithm != TPM2_ALG_AES)
                return reason_fail(w, -EOPNOTSUPP, "EK symmetric algorithm 0x%04x not supported (AES only)", sym->algorithm);
        if (sym->keyBits.aes != 128 && sym->keyBits.aes != 256)
                return reason_fail(w, -EOPNOTSUPP, "EK symmetric key size %u not supported (AES-128 or AES-256)",
                                   sym->keyBits.aes);
        if (sym->mode.aes != TPM2_ALG_CFB)
                return reason_fail(w, -EOPNOTSUPP, "EK symmetric mode 0x%04x not supported (CFB only)", sym->mode.aes);
        return 0;
}

/* Loads the EK's RSA public key into rsa (initialised by the caller) and
 * has mbedtls check it. */
static int rsa_load(const TPMT_PUBLIC *p, mbedtls_rsa_context *rsa, const struct reason *w)
{
        const TPMS_RSA_PARMS *parms = &p->parameters.rsaDetail;
        uint32_t e = parms->exponent ? parms->exponent : 65537; /* Part 2: 0 means 2^16 + 1 */
        uint8_t be_e[4];
        int r;

        put_be32(be_e, e);
        r = mbedtls_rsa_import_raw(rsa, p->unique.rsa.buffer, p->unique.rsa.size, NULL, 0, NULL, 0, NULL, 0, be_e,
                                   sizeof(be_e));
        if (r == 0)
                r = mbedtls_rsa_complete(rsa);
        if (r == 0)
                r = mbedtls_rsa_check_pubkey(rsa);
        if (r != 0)
                return mbed_reason(w, r, 0, "EK RSA public key check failed");
        return 0;
}

/* Loads the EK's point into q on grp (both initialised by the caller). */
static int ecc_load(const TPMT_PUBLIC *p, const struct curve_info *c, mbedtls_ecp_group *grp,
                    mbedtls_ecp_point *q, const struct reason *w)
{
        const TPMS_ECC_POINT *pt = &p->unique.ecc;
        int r;

        if (pt->x.size == 0 || pt->x.size > c->bytes || pt->y.size == 0 || pt->y.size > c->bytes)
                return reason_fail(w, -EBADMSG, "EK point coordinates of %u and %u bytes do not fit %s", pt->x.size,
                                   pt->y.size, c->name);
        r = mbedtls_ecp_group_load(grp, c->group);
        if (r != 0)
                return mbed_reason(w, r, 0, "loading curve failed");
        r = mbedtls_mpi_read_binary(&q->X, pt->x.buffer, pt->x.size);
        if (r == 0)
                r = mbedtls_mpi_read_binary(&q->Y, pt->y.buffer, pt->y.size);
        if (r == 0)
                r = mbedtls_mpi_lset(&q->Z, 1);
        if (r != 0)
                return mbed_reason(w, r, 0, "reading the EK point failed");
        if (mbedtls_ecp_check_pubkey(grp, q) != 0)
                return reason_fail(w, -EBADMSG, "EK public point is not on %s", c->name);
        return 0;
}

static int rsa_check(const TPMT_PUBLIC *p, const struct reason *w)
{
        const TPMS_RSA_PARMS *parms = &p->parameters.rsaDetail;
        int r = sym_check(&parms->symmetric, w);
        if (r < 0)
                return r;
        if (parms->scheme.scheme != TPM2_ALG_NULL)
                return reason_fail(w, -EBADMSG, "EK RSA scheme is 0x%04x, a storage key's is NULL", parms->scheme.scheme);
        if (parms->keyBits != 2048 && parms->keyBits != 3072 && parms->keyBits != 4096)
                return reason_fail(w, -EOPNOTSUPP, "EK RSA key size %u not supported (2048, 3072 or 4096 bits)",
                                   parms->keyBits);
        if (p->unique.rsa.size != parms->keyBits / 8)
                return reason_fail(w, -EBADMSG, "EK RSA modulus is %u bytes, keyBits %u needs %u", p->unique.rsa.size,
                                   parms->keyBits, parms->keyBits / 8);
        if (!(p->unique.rsa.buffer[0] & 0x80))
                return reason_fail(w, -EBADMSG, "EK RSA modulus is shorter than keyBits %u (top bit clear)", parms->keyBits);

        _cleanup_(mbedtls_rsa_free) mbedtls_rsa_context rsa;
        mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V21, MBEDTLS_MD_NONE);
        return rsa_load(p, &rsa, w);
}

static int ecc_check(const TPMT_PUBLIC *p, const struct reason *w)
{
        const TPMS_ECC_PARMS *parms = &p->parameters.eccDetail;
        const struct curve_info *c = curve_find(parms->curveID);
        int r = sym_check(&parms->symmetric, w);
        if (r < 0)
                return r;
        if (parms->scheme.scheme != TPM2_ALG_NULL)
                return reason_fail(w, -EBADMSG, "EK ECC scheme is 0x%04x, a storage key's is NULL", parms->scheme.scheme);
        if (parms->kdf.scheme != TPM2_ALG_NULL)
                return reason_fail(w, -EOPNOTSUPP, "EK ECC KDF 0x%04x not supported (NULL only)", parms->kdf.scheme);
        if (!c)
                return reason_fail(w, -EOPNOTSUPP, "EK curve 0x%04x not supported (NIST P-256 or P-384)", parms->curveID);

        _cleanup_(mbedtls_ecp_group_free) mbedtls_ecp_group grp;
        _cleanup_(mbedtls_ecp_point_free) mbedtls_ecp_point q;
        mbedtls_ecp_group_init(&grp);
        mbedtls_ecp_point_init(&q);
        return ecc_load(p, c, &grp, &q, w);
}

int makecred_check_ek(const TPM2B_PUBLIC *ek, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        const TPMT_PUBLIC *p;
        const struct hash_info *h;

        if (!ek)
                return -EINVAL;
        p = &ek->publicArea;
        if (p->type != TPM2_ALG_RSA && p->type != TPM2_ALG_ECC)
                return reason_fail(&w, -EOPNOTSUPP, "EK type 0x%04x not supported (RSA or ECC)", p->type);
        if (!(p->objectAttributes & TPMA_OBJECT_RESTRICTED) || !(p->objectAttributes & TPMA_OBJECT_DECRYPT) ||
            (p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT))
                return reason_fail(&w, -EBADMSG, "EK is not a storage key (restricted decrypt, not sign): attributes 0x%08x",
                                   p->objectAttributes);
        h = hash_find(p->nameAlg);
        if (!h)
                return reason_fail(&w, -EOPNOTSUPP, "EK nameAlg 0x%04x not supported (SHA-256, SHA-384 or SHA-512)",
                                   p->nameAlg);
        if (h->alg == TPM2_ALG_SHA1)
                return reason_fail(&w, -EOPNOTSUPP, "EK nameAlg SHA-1 not supported (SHA-256, SHA-384 or SHA-512)");
        return p->type == TPM2_ALG_RSA ? rsa_check(p, &w) : ecc_check(p, &w);
}

int makecred_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *ret)
{
        uint8_t area[sizeof(TPMT_PUBLIC)];
        size_t off = 0;
        TPM2B_NAME name = { 0 };
        const struct hash_info *h;

        if (!pub || !ret)
                return -EINVAL;
        h = hash_find(pub->publicArea.nameAlg);
        if (!h)
                return -EOPNOTSUPP;
        if (Tss2_MU_TPMT_PUBLIC_Marshal(&pub->publicArea, area, sizeof(area), &off) != TSS2_RC_SUCCESS)
                return -EINVAL;
        put_be16(name.name, h->alg);
        int r = mbedtls_md(mbedtls_md_info_from_type(h->md), area, off, name.name + 2);
        if (r != 0)
                return mbed_errno(r);
        name.size = (UINT16)(2 + h->size);
        *ret = name;
        return 0;
}

/* ---- randomness ---- */

struct rng {
        const struct makecred_rng *inject;
        mbedtls_entropy_context entropy;
        mbedtls_ctr_drbg_context drbg;
};

static void rng_done(struct rng *r)
{
        mbedtls_ctr_drbg_free(&r->drbg);
        mbedtls_entropy_free(&r->entropy);
}

/* Initialises r (rng_done() is then always safe) and seeds the DRBG unless
 * the caller injected a source. Returns an mbedtls code. */
static int rng_start(struct rng *r, const struct makecred_rng *inject)
{
        static const char personal[] = "ember makecred";
        r->inject = inject;
        mbedtls_entropy_init(&r->entropy);
        mbedtls_ctr_drbg_init(&r->drbg);
        if (inject)
                return 0;
        return mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy, (const unsigned char *)personal,
                                     sizeof(personal) - 1);
}

/* mbedtls' f_rng. */
static int rng_fill(void *userdata, unsigned char *buf, size_t len)
{
        struct rng *r = userdata;
        if (r->inject)
                return r->inject->fill(r->inject->userdata, buf, len) < 0 ? MBEDTLS_ERR_ENTROPY_SOURCE_FAILED : 0;
        return mbedtls_ctr_drbg_random(&r->drbg, buf, len);
}

/* ---- seed sharing (Part 1 Annex B.10.3 and C.6.4) ---- */

/* RSA: a random seed of the nameAlg's digest size, OAEP-encrypted to the
 * EK with the nameAlg as OAEP hash and "IDENTITY\0" as label. */
static int seed_rsa(const TPMT_PUBLIC *p, const struct hash_info *h, struct rng *rng, uint8_t *seed,
                    TPM2B_ENCRYPTED_SECRET *ret, const struct reason *w)
{
        int r = rng_fill(rng, seed, h->size);
        if (r != 0)
                return mbed_reason(w, r, 0, "drawing the seed failed");

        _cleanup_(mbedtls_rsa_free) mbedtls_rsa_context rsa;
        mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V21, h->md);
        r = rsa_load(p, &rsa, w);
        if (r < 0)
                return r;
        if (mbedtls_rsa_get_len(&rsa) > sizeof(ret->secret))
                return reason_fail(w, -EOPNOTSUPP, "EK RSA modulus of %zu bytes is too long", mbedtls_rsa_get_len(&rsa));
        r = mbedtls_rsa_rsaes_oaep_encrypt(&rsa, rng_fill, rng, MBEDTLS_RSA_PUBLIC, (const unsigned char *)LABEL_IDENTITY,
                                           sizeof(LABEL_IDENTITY), h->size, seed, ret->secret);
        if (r != 0)
                return mbed_reason(w, r, 0, "RSA-OAEP failed");
        ret->size = (UINT16)mbedtls_rsa_get_len(&rsa);
        return 0;
}

/* ECC: an ephemeral key pair (d_e, Q_e) on the EK's curve; Z is the
 * x-coordinate of d_e·Q_EK, padded to the curve's size as the TPM pads it;
 * seed = KDFe(nameAlg, Z, "IDENTITY", Q_e.x, Q_EK.x) and the encrypted
 * secret is the marshalled Q_e. The EK's x goes into KDFe exactly as its
 * public area holds it, since that is what the TPM will use. */
static int seed_ecc(const TPMT_PUBLIC *p, const struct hash_info *h, struct rng *rng, uint8_t *seed,
                    TPM2B_ENCRYPTED_SECRET *ret, const struct reason *w)
{
        const struct curve_info *c = curve_find(p->parameters.eccDetail.curveID);
        TPMS_ECC_POINT eph = { 0 };
        uint8_t z[MAX_DIGEST + 2]; /* room for P-521, should it ever be added */
        size_t off = 0;
        int r;

        assert(c && c->bytes <= sizeof(z) && c->bytes <= sizeof(eph.x.buffer)); /* makecred_check_ek() passed */

        _cleanup_(mbedtls_ecp_group_free) mbedtls_ecp_group grp;
        _cleanup_(mbedtls_ecp_point_free) mbedtls_ecp_point q_ek;
        _cleanup_(mbedtls_ecp_point_free) mbedtls_ecp_point q_e;
        _cleanup_(mbedtls_mpi_free) mbedtls_mpi d_e;
        _cleanup_(mbedtls_mpi_free) mbedtls_mpi shared;
        mbedtls_ecp_group_init(&grp);
        mbedtls_ecp_point_init(&q_ek);
        mbedtls_ecp_point_init(&q_e);
        mbedtls_mpi_init(&d_e);
        mbedtls_mpi_init(&shared);

        r = ecc_load(p, c, &grp, &q_ek, w);
        if (r < 0)
                return r;
        r = mbedtls_ecp_gen_keypair(&grp, &d_e, &q_e, rng_fill, rng);
        if (r != 0)
                return mbed_reason(w, r, 0, "generating the ephemeral ECC key failed");
        r = mbedtls_ecdh_compute_shared(&grp, &shared, &q_ek, &d_e, rng_fill, rng);
        if (r == 0)
                r = mbedtls_mpi_write_binary(&shared, z, c->bytes);
        if (r == 0)
                r = mbedtls_mpi_write_binary(&q_e.X, eph.x.buffer, c->bytes);
        if (r == 0)
                r = mbedtls_mpi_write_binary(&q_e.Y, eph.y.buffer, c->bytes);
        if (r != 0) {
                mbedtls_platform_zeroize(z, sizeof(z));
                return mbed_reason(w, r, 0, "ECDH failed");
        }
        eph.x.size = eph.y.size = (UINT16)c->bytes;

        r = makecred_kdfe(h->alg, z, c->bytes, LABEL_IDENTITY, eph.x.buffer, eph.x.size, p->unique.ecc.x.buffer,
                          p->unique.ecc.x.size, h->size * 8, seed);
        mbedtls_platform_zeroize(z, sizeof(z));
        if (r < 0)
                return reason_fail(w, r, "KDFe failed");
        if (Tss2_MU_TPMS_ECC_POINT_Marshal(&eph, ret->secret, sizeof(ret->secret), &off) != TSS2_RC_SUCCESS)
                return reason_fail(w, -EIO, "marshalling the ephemeral point failed");
        ret->size = (UINT16)off;
        return 0;
}

/* ---- credential protection (Part 1 §24.4, §24.5) ---- */

struct keys {
        uint8_t seed[MAX_DIGEST];
        uint8_t aes[32];
        uint8_t hmac[MAX_DIGEST];
        uint8_t plain[2 + MAX_DIGEST]; /* the credential as a marshalled TPM2B_DIGEST */
};

static void keys_wipe(struct keys *k) { mbedtls_platform_zeroize(k, sizeof(*k)); }

/* credentialBlob = TPM2B_DIGEST(HMAC_nameAlg(hmacKey, encIdentity ‖ name)) ‖ encIdentity,
 * encIdentity = AES-CFB(symKey, IV 0, size ‖ secret). */
static int protect(const struct hash_info *h, unsigned aes_bits, struct keys *k, const TPM2B_NAME *name,
                   const uint8_t *secret, size_t secret_len, TPM2B_ID_OBJECT *ret, const struct reason *w)
{
        uint8_t *out = ret->credential, *enc = out + 2 + h->size;
        size_t plain_len = 2 + secret_len, iv_off = 0;
        uint8_t iv[16] = { 0 };
        int r;

        assert(2 + h->size + plain_len <= sizeof(ret->credential));
        put_be16(k->plain, (uint16_t)secret_len);
        memcpy(k->plain + 2, secret, secret_len);

        r = makecred_kdfa(h->alg, k->seed, h->size, LABEL_STORAGE, name->name, name->size, NULL, 0, aes_bits, k->aes);
        if (r < 0)
                return reason_fail(w, r, "KDFa of the storage key failed");
        r = makecred_kdfa(h->alg, k->seed, h->size, LABEL_INTEGRITY, NULL, 0, NULL, 0, h->size * 8, k->hmac);
        if (r < 0)
                return reason_fail(w, r, "KDFa of the integrity key failed");

        _cleanup_(mbedtls_aes_free) mbedtls_aes_context aes;
        mbedtls_aes_init(&aes);
        r = mbedtls_aes_setkey_enc(&aes, k->aes, aes_bits);
        if (r == 0)
                r = mbedtls_aes_crypt_cfb128(&aes, MBEDTLS_AES_ENCRYPT, plain_len, &iv_off, iv, k->plain, enc);
        if (r != 0)
                return mbed_reason(w, r, 0, "AES-CFB failed");

        _cleanup_(mbedtls_md_free) mbedtls_md_context_t md;
        mbedtls_md_init(&md);
        r = mbedtls_md_setup(&md, mbedtls_md_info_from_type(h->md), 1);
        if (r == 0)
                r = mbedtls_md_hmac_starts(&md, k->hmac, h->size);
        if (r == 0)
                r = mbedtls_md_hmac_update(&md, enc, plain_len);
        if (r == 0)
                r = mbedtls_md_hmac_update(&md, name->name, name->size);
        if (r == 0)
                r = mbedtls_md_hmac_finish(&md, out + 2);
        if (r != 0)
                return mbed_reason(w, r, 0, "HMAC failed");
        put_be16(out, (uint16_t)h->size);
        ret->size = (UINT16)(2 + h->size + plain_len);
        return 0;
}

static int name_check(const TPM2B_NAME *name, const struct reason *w)
{
        const struct hash_info *h;
        if (name->size < 2 || name->size > sizeof(name->name))
                return reason_fail(w, -EINVAL, "AK name of %u bytes is not a digest Name", name->size);
        h = hash_find((TPM2_ALG_ID)(name->name[0] << 8 | name->name[1]));
        if (!h || name->size != 2 + h->size)
                return reason_fail(w, -EINVAL, "AK name (%u bytes, algorithm 0x%02x%02x) is not a digest Name", name->size,
                                   name->name[0], name->name[1]);
        return 0;
}

static int blobs_marshal(const TPM2B_ID_OBJECT *id, const TPM2B_ENCRYPTED_SECRET *secret, struct makecred_blobs *ret,
                         const struct reason *w)
{
        struct makecred_blobs b = { 0 };
        if (Tss2_MU_TPM2B_ID_OBJECT_Marshal(id, b.credential_blob, sizeof(b.credential_blob), &b.credential_blob_len) !=
                    TSS2_RC_SUCCESS ||
            Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(secret, b.secret, sizeof(b.secret), &b.secret_len) != TSS2_RC_SUCCESS)
                return reason_fail(w, -EIO, "marshalling the credential failed");
        *ret = b;
        return 0;
}

int makecred(const TPM2B_PUBLIC *ek, const TPM2B_NAME *ak_name, const uint8_t *secret, size_t secret_len,
             const struct makecred_rng *rng_inject, struct makecred_blobs *ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        TPM2B_ID_OBJECT id = { 0 };
        TPM2B_ENCRYPTED_SECRET enc = { 0 };
        const struct hash_info *h;
        int r;

        if (!ek || !ak_name || !secret || !ret || (rng_inject && !rng_inject->fill))
                return -EINVAL;
        r = makecred_check_ek(ek, why, whylen);
        if (r < 0)
                return r;
        r = name_check(ak_name, &w);
        if (r < 0)
                return r;
        h = hash_find(ek->publicArea.nameAlg);
        if (secret_len == 0 || secret_len > h->size)
                return reason_fail(&w, -EINVAL, "credential of %zu bytes: must be 1 to %zu (the EK's %s digest size)",
                                   secret_len, h->size, h->name);

        _cleanup_(keys_wipe) struct keys k = { 0 };
        _cleanup_(rng_done) struct rng rng;
        r = rng_start(&rng, rng_inject);
        if (r != 0)
                return mbed_reason(&w, r, 0, "seeding the random generator failed");

        if (ek->publicArea.type == TPM2_ALG_RSA)
                r = seed_rsa(&ek->publicArea, h, &rng, k.seed, &enc, &w);
        else
                r = seed_ecc(&ek->publicArea, h, &rng, k.seed, &enc, &w);
        if (r < 0)
                return r;
        r = protect(h, ek->publicArea.parameters.asymDetail.symmetric.keyBits.aes, &k, ak_name, secret, secret_len, &id,
                    &w);
        if (r < 0)
                return r;
        return blobs_marshal(&id, &enc, ret, &w);
}
