/* SPDX-License-Identifier: Apache-2.0 */
/* The simulated Ember node of ember-attest-load: a TPM in software (EK, AK,
 * ActivateCredential, Quote) and the node's side of the protocol's messages,
 * as attest-load.c describes them. */
#include "attest-sim.h"

#include <errno.h>
#include <mbedtls/aes.h>
#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "client.h"
#include "hex.h"
#include "eventlog.h"
#include "fileio.h"
#include "makecred.h"
#include "quote.h"
#include "util.h"

#define EXTRA_LABEL "ember-v1"

/* ---- small helpers -------------------------------------------------------- */

uint64_t now_ns(clockid_t clk)
{
        struct timespec ts;
        clock_gettime(clk, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t mono_ms(void) { return now_ns(CLOCK_MONOTONIC) / 1000000; }

static void hexs(const uint8_t *d, size_t n, char *out)
{
        for (size_t i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
}

char *b64(const uint8_t *d, size_t n)
{
        size_t need = 0, olen = 0;
        (void)mbedtls_base64_encode(NULL, 0, &need, d, n);
        char *s = malloc(need + 1);
        if (s && mbedtls_base64_encode((unsigned char *)s, need + 1, &olen, d, n) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

int unb64(const char *s, uint8_t *out, size_t max, size_t *ret_len)
{
        size_t n = 0;
        if (!s || mbedtls_base64_decode(out, max, &n, (const unsigned char *)s, strlen(s)) != 0 || n == 0)
                return -EBADMSG;
        *ret_len = n;
        return 0;
}

const char *json_str(json_object *o, const char *key)
{
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                                                 : NULL;
}

/* ---- the simulated TPM's keys ----------------------------------------- */

#define EK_ATTRS                                                                                                  \
        (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |                        \
         TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)

/* PolicyA of the TCG EK Credential Profile, the low-range templates'
 * authPolicy (PolicySecret(TPM_RH_ENDORSEMENT)), as the profile lists it. */
static const uint8_t ek_policy_a[32] = {
        0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
        0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};

static int bn_param(const EVP_PKEY *k, const char *name, uint8_t *out, size_t len)
{
        BIGNUM *bn = NULL;
        int ok = EVP_PKEY_get_bn_param(k, name, &bn) == 1 && BN_bn2binpad(bn, out, (int)len) == (int)len;
        BN_free(bn);
        return ok ? 0 : -EINVAL;
}

/* The EK's public area: template L-1 (RSA) or L-2 (ECC) with the key's
 * public part in unique, as CreatePrimary returns it. */
static int ek_area(enum ek_kind kind, const EVP_PKEY *k, TPM2B_PUBLIC *ret)
{
        TPM2B_PUBLIC t = { 0 };
        TPMT_PUBLIC *p = &t.publicArea;
        const TPMT_SYM_DEF_OBJECT aes128 = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
        p->nameAlg = TPM2_ALG_SHA256;
        p->objectAttributes = EK_ATTRS;
        p->authPolicy.size = sizeof(ek_policy_a);
        memcpy(p->authPolicy.buffer, ek_policy_a, sizeof(ek_policy_a));
        if (kind == EK_RSA) {
                p->type = TPM2_ALG_RSA;
                p->parameters.rsaDetail = (TPMS_RSA_PARMS){ .symmetric = aes128, .scheme.scheme = TPM2_ALG_NULL,
                                                            .keyBits = 2048, .exponent = 0 };
                p->unique.rsa.size = 256;
                if (bn_param(k, OSSL_PKEY_PARAM_RSA_N, p->unique.rsa.buffer, 256) < 0)
                        return -EINVAL;
        } else {
                p->type = TPM2_ALG_ECC;
                p->parameters.eccDetail = (TPMS_ECC_PARMS){ .symmetric = aes128, .scheme.scheme = TPM2_ALG_NULL,
                                                            .curveID = TPM2_ECC_NIST_P256, .kdf.scheme = TPM2_ALG_NULL };
                p->unique.ecc.x.size = p->unique.ecc.y.size = 32;
                if (bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, p->unique.ecc.x.buffer, 32) < 0 ||
                    bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, p->unique.ecc.y.buffer, 32) < 0)
                        return -EINVAL;
        }
        *ret = t;
        return 0;
}

/* The AK: client.c's template (restricted RSASSA-SHA256 signing key). */
static int ak_area(const EVP_PKEY *k, TPM2B_PUBLIC *ret)
{
        TPM2B_PUBLIC t = attest_ak_template;
        t.publicArea.unique.rsa.size = 256;
        if (bn_param(k, OSSL_PKEY_PARAM_RSA_N, t.publicArea.unique.rsa.buffer, 256) < 0)
                return -EINVAL;
        *ret = t;
        return 0;
}

static int marshal_public(const TPM2B_PUBLIC *pub, uint8_t *out, size_t *ret_len)
{
        size_t off = 0;
        if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, out, sizeof(TPM2B_PUBLIC), &off) != TSS2_RC_SUCCESS)
                return -EINVAL;
        *ret_len = off;
        return 0;
}

const char *ek_prefix(enum ek_kind kind) { return kind == EK_RSA ? "rsa" : "ecc"; }

static EVP_PKEY *gen_key(enum ek_kind kind)
{
        return kind == EK_RSA ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
}

/* One node of the pool: DIR/KIND-NNNNN.pem (EK, then AK) and .ek.pub. */
int node_make(const char *dir, enum ek_kind kind, size_t i)
{
        char pem[4200], tmp[4300], pub[4200];
        struct stat st;
        snprintf(pem, sizeof(pem), "%s/%s-%05zu.pem", dir, ek_prefix(kind), i);
        snprintf(pub, sizeof(pub), "%s/%s-%05zu.ek.pub", dir, ek_prefix(kind), i);
        if (stat(pem, &st) == 0 && stat(pub, &st) == 0)
                return 0;
        EVP_PKEY *ek = gen_key(kind), *ak = gen_key(EK_RSA);
        TPM2B_PUBLIC area;
        uint8_t bytes[sizeof(TPM2B_PUBLIC)];
        size_t len;
        int r = ek && ak ? ek_area(kind, ek, &area) : -ENOMEM;
        if (r == 0)
                r = marshal_public(&area, bytes, &len);
        snprintf(tmp, sizeof(tmp), "%s.tmp", pem);
        FILE *f = r == 0 ? fopen(tmp, "we") : NULL;
        if (r == 0 && !f)
                r = negative_errno();
        if (f) {
                fchmod(fileno(f), 0600);
                if (!PEM_write_PrivateKey(f, ek, NULL, NULL, 0, NULL, NULL) ||
                    !PEM_write_PrivateKey(f, ak, NULL, NULL, 0, NULL, NULL))
                        r = -EIO;
                if (fclose(f) != 0 && r == 0)
                        r = negative_errno();
        }
        if (r == 0 && rename(tmp, pem) < 0)
                r = negative_errno();
        if (r < 0)
                unlink(tmp);
        if (r == 0)
                r = write_file_atomic(pub, bytes, len, 0644);
        EVP_PKEY_free(ek);
        EVP_PKEY_free(ak);
        return r;
}

static char *challenge_json(const struct node *n)
{
        _cleanup_free_ char *e = b64(n->ek_pub, n->ek_pub_len), *a = b64(n->ak_pub, n->ak_pub_len);
        char *s = NULL;
        if (!e || !a || asprintf(&s, "{\"ek_pub\":\"%s\",\"ak_pub\":\"%s\"}", e, a) < 0)
                return NULL;
        return s;
}

void node_free(struct node *n)
{
        EVP_PKEY_free(n->ek);
        EVP_PKEY_free(n->ak);
        free(n->challenge_body);
        memset(n, 0, sizeof(*n));
}

int node_load(const char *dir, enum ek_kind kind, size_t i, struct node *n, char *why)
{
        char pem[4200];
        TPM2B_PUBLIC ak;
        snprintf(pem, sizeof(pem), "%s/%s-%05zu.pem", dir, ek_prefix(kind), i);
        FILE *f = fopen(pem, "re");
        if (!f)
                return snprintf(why, WHY, "%.300s: %s (run `ember-attest-load keys` first)", pem, strerror(errno)), -ENOENT;
        n->ek = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        n->ak = n->ek ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
        fclose(f);
        int r = n->ak ? ek_area(kind, n->ek, &n->ek_area) : -EBADMSG;
        if (r == 0)
                r = ak_area(n->ak, &ak);
        if (r == 0)
                r = marshal_public(&n->ek_area, n->ek_pub, &n->ek_pub_len);
        if (r == 0)
                r = marshal_public(&ak, n->ak_pub, &n->ak_pub_len);
        if (r == 0)
                r = makecred_name(&ak, &n->ak_name);
        if (r == 0)
                r = quote_qualified_name(&n->ek_area, &ak, &n->ak_qn);
        if (r == 0 && !(n->challenge_body = challenge_json(n)))
                r = -ENOMEM;
        if (r < 0) {
                node_free(n);
                return snprintf(why, WHY, "%.300s: not an %s EK and an RSA AK", pem, ek_prefix(kind)), r;
        }
        return 0;
}

/* ---- ActivateCredential and Quote in software ------------------------------ */

static int seed_rsa(const struct node *n, const TPM2B_ENCRYPTED_SECRET *enc, uint8_t seed[32])
{
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(n->ek, NULL);
        unsigned char *label = OPENSSL_memdup("IDENTITY", sizeof("IDENTITY")); /* with its NUL */
        size_t len = 256;
        uint8_t out[256];
        int ok = c && label && EVP_PKEY_decrypt_init(c) == 1 &&
                 EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
                 EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) == 1 &&
                 EVP_PKEY_CTX_set0_rsa_oaep_label(c, label, sizeof("IDENTITY")) == 1;
        if (ok)
                label = NULL; /* the context owns it */
        ok = ok && EVP_PKEY_decrypt(c, out, &len, enc->secret, enc->size) == 1 && len == 32;
        if (ok)
                memcpy(seed, out, 32);
        OPENSSL_free(label);
        EVP_PKEY_CTX_free(c);
        OPENSSL_cleanse(out, sizeof(out));
        return ok ? 0 : -EBADMSG;
}

/* Z = x(d_EK · Q_e); seed = KDFe(SHA-256, Z, "IDENTITY", Q_e.x, Q_EK.x). */
static int seed_ecc(const struct node *n, const TPM2B_ENCRYPTED_SECRET *enc, uint8_t seed[32])
{
        TPMS_ECC_POINT q = { 0 };
        size_t off = 0, zlen = 32;
        uint8_t pt[65] = { 0x04 }, z[32];
        char group[] = "prime256v1";
        if (Tss2_MU_TPMS_ECC_POINT_Unmarshal(enc->secret, enc->size, &off, &q) != TSS2_RC_SUCCESS || off != enc->size ||
            q.x.size != 32 || q.y.size != 32)
                return -EBADMSG;
        memcpy(pt + 1, q.x.buffer, 32);
        memcpy(pt + 33, q.y.buffer, 32);
        OSSL_PARAM params[] = { OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
                                OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)), OSSL_PARAM_END };
        EVP_PKEY *peer = NULL;
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL), *dc = EVP_PKEY_CTX_new(n->ek, NULL);
        int ok = pc && dc && EVP_PKEY_fromdata_init(pc) == 1 &&
                 EVP_PKEY_fromdata(pc, &peer, EVP_PKEY_PUBLIC_KEY, params) == 1 && EVP_PKEY_derive_init(dc) == 1 &&
                 EVP_PKEY_derive_set_peer(dc, peer) == 1 && EVP_PKEY_derive(dc, z, &zlen) == 1 && zlen == 32;
        EVP_PKEY_free(peer);
        EVP_PKEY_CTX_free(pc);
        EVP_PKEY_CTX_free(dc);
        if (ok)
                ok = makecred_kdfe(TPM2_ALG_SHA256, z, 32, "IDENTITY", q.x.buffer, 32, n->ek_area.publicArea.unique.ecc.x.buffer,
                                   32, 256, seed) == 0;
        OPENSSL_cleanse(z, sizeof(z));
        return ok ? 0 : -EBADMSG;
}

/* credentialBlob = TPM2B_DIGEST(integrity HMAC) ‖ AES-CFB(encIdentity):
 * the HMAC is checked before anything is decrypted, as the TPM does. */
static int unprotect(const struct node *n, const uint8_t seed[32], const TPM2B_ID_OBJECT *id, uint8_t *s, size_t *s_len,
                     char *why)
{
        uint8_t hmac_key[32], aes_key[16], mac[32], plain[2 + 64], iv[16] = { 0 };
        size_t iv_off = 0;
        if (id->size < 2 + 32 + 2 || id->credential[0] != 0 || id->credential[1] != 32 ||
            id->size - 34u > sizeof(plain))
                return snprintf(why, WHY, "credential blob of %u bytes is not what MakeCredential makes", id->size), -EBADMSG;
        const uint8_t *enc = id->credential + 34;
        size_t enc_len = id->size - 34u;
        if (makecred_kdfa(TPM2_ALG_SHA256, seed, 32, "INTEGRITY", NULL, 0, NULL, 0, 256, hmac_key) < 0 ||
            makecred_kdfa(TPM2_ALG_SHA256, seed, 32, "STORAGE", n->ak_name.name, n->ak_name.size, NULL, 0, 128, aes_key) < 0)
                return snprintf(why, WHY, "KDFa failed"), -EIO;
        mbedtls_md_context_t md;
        mbedtls_md_init(&md);
        int r = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
        r = r ? r : mbedtls_md_hmac_starts(&md, hmac_key, sizeof(hmac_key));
        r = r ? r : mbedtls_md_hmac_update(&md, enc, enc_len);
        r = r ? r : mbedtls_md_hmac_update(&md, n->ak_name.name, n->ak_name.size);
        r = r ? r : mbedtls_md_hmac_finish(&md, mac);
        mbedtls_md_free(&md);
        if (r || CRYPTO_memcmp(mac, id->credential + 2, 32) != 0)
                return snprintf(why, WHY, "ActivateCredential: the integrity HMAC does not verify"), -EBADMSG;
        mbedtls_aes_context aes;
        mbedtls_aes_init(&aes);
        r = mbedtls_aes_setkey_enc(&aes, aes_key, 128);
        r = r ? r : mbedtls_aes_crypt_cfb128(&aes, MBEDTLS_AES_DECRYPT, enc_len, &iv_off, iv, enc, plain);
        mbedtls_aes_free(&aes);
        size_t len = (size_t)plain[0] << 8 | plain[1];
        if (r || len == 0 || len > 32 || len != enc_len - 2)
                return snprintf(why, WHY, "ActivateCredential: the decrypted credential is malformed"), -EBADMSG;
        memcpy(s, plain + 2, len);
        *s_len = len;
        OPENSSL_cleanse(plain, sizeof(plain));
        OPENSSL_cleanse(aes_key, sizeof(aes_key));
        return 0;
}

static int activate(const struct node *n, const uint8_t *blob, size_t blob_len, const uint8_t *secret, size_t secret_len,
                    uint8_t s[32], size_t *s_len, char *why)
{
        TPM2B_ID_OBJECT id = { 0 };
        TPM2B_ENCRYPTED_SECRET enc = { 0 };
        size_t o1 = 0, o2 = 0;
        uint8_t seed[32];
        if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(blob, blob_len, &o1, &id) != TSS2_RC_SUCCESS || o1 != blob_len ||
            Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(secret, secret_len, &o2, &enc) != TSS2_RC_SUCCESS || o2 != secret_len)
                return snprintf(why, WHY, "the challenge's blobs do not unmarshal"), -EBADMSG;
        int r = n->ek_area.publicArea.type == TPM2_ALG_RSA ? seed_rsa(n, &enc, seed) : seed_ecc(n, &enc, seed);
        if (r < 0)
                return snprintf(why, WHY, "ActivateCredential: recovering the seed failed"), r;
        r = unprotect(n, seed, &id, s, s_len, why);
        OPENSSL_cleanse(seed, sizeof(seed));
        return r;
}

/* TPM Clock and resetCount from the wall clock: every boot of a simulated
 * node is later than its last one, across runs too, as the server's
 * counter check wants. */
static void clock_info(TPMS_CLOCK_INFO *ci)
{
        uint64_t ms = now_ns(CLOCK_REALTIME) / 1000000 - 1600000000000ull;
        *ci = (TPMS_CLOCK_INFO){ .clock = ms, .resetCount = (UINT32)(ms / 1000), .restartCount = 0, .safe = TPM2_YES };
}

static int sign_rsassa(EVP_PKEY *ak, const uint8_t digest[32], TPMT_SIGNATURE *sig)
{
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(ak, NULL);
        size_t len = sizeof(sig->signature.rsassa.sig.buffer);
        int ok = c && EVP_PKEY_sign_init(c) == 1 && EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1 &&
                 EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
                 EVP_PKEY_sign(c, sig->signature.rsassa.sig.buffer, &len, digest, 32) == 1;
        EVP_PKEY_CTX_free(c);
        sig->sigAlg = TPM2_ALG_RSASSA;
        sig->signature.rsassa.hash = TPM2_ALG_SHA256;
        sig->signature.rsassa.sig.size = (UINT16)len;
        return ok ? 0 : -EIO;
}

int quote(const struct node *n, const struct boot *b, uint32_t mask, const uint8_t extra[32], struct quoted *q, char *why)
{
        TPMS_ATTEST a = { .magic = TPM2_GENERATED_VALUE, .type = TPM2_ST_ATTEST_QUOTE, .qualifiedSigner = n->ak_qn,
                          .firmwareVersion = 0x2000100000000ull };
        TPMS_QUOTE_INFO *qi = &a.attested.quote;
        TPMT_SIGNATURE sig = { 0 };
        uint8_t dig[32];
        a.extraData.size = 32;
        memcpy(a.extraData.buffer, extra, 32);
        clock_info(&a.clockInfo);
        qi->pcrSelect.count = 1;
        qi->pcrSelect.pcrSelections[0] = (TPMS_PCR_SELECTION){ .hash = TPM2_ALG_SHA256, .sizeofSelect = 3 };
        mbedtls_sha256_context c;
        mbedtls_sha256_init(&c);
        mbedtls_sha256_starts_ret(&c, 0);
        for (int i = 0; i < PCRS; i++)
                if (mask & (1u << i)) {
                        qi->pcrSelect.pcrSelections[0].pcrSelect[i / 8] |= (uint8_t)(1u << (i % 8));
                        mbedtls_sha256_update_ret(&c, b->pcr[i], 32);
                }
        mbedtls_sha256_finish_ret(&c, qi->pcrDigest.buffer);
        mbedtls_sha256_free(&c);
        qi->pcrDigest.size = 32;
        q->attest_len = q->sig_len = 0;
        if (Tss2_MU_TPMS_ATTEST_Marshal(&a, q->attest, sizeof(q->attest), &q->attest_len) != TSS2_RC_SUCCESS)
                return snprintf(why, WHY, "marshalling the quote failed"), -EIO;
        mbedtls_sha256_ret(q->attest, q->attest_len, dig, 0);
        if (sign_rsassa(n->ak, dig, &sig) < 0 ||
            Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, q->sig, sizeof(q->sig), &q->sig_len) != TSS2_RC_SUCCESS)
                return snprintf(why, WHY, "signing the quote failed"), -EIO;
        return 0;
}

/* extraData = SHA-256("ember-v1" ‖ nonce ‖ S ‖ SHA-256(E_pub)), client.c's */
static void extra_data(const uint8_t *nonce, size_t nonce_len, const uint8_t *s, size_t s_len, const uint8_t *e, size_t e_len,
                       uint8_t out[32])
{
        uint8_t eh[32];
        mbedtls_sha256_context c;
        mbedtls_sha256_ret(e, e_len, eh, 0);
        mbedtls_sha256_init(&c);
        mbedtls_sha256_starts_ret(&c, 0);
        mbedtls_sha256_update_ret(&c, (const unsigned char *)EXTRA_LABEL, strlen(EXTRA_LABEL));
        mbedtls_sha256_update_ret(&c, nonce, nonce_len);
        mbedtls_sha256_update_ret(&c, s, s_len);
        mbedtls_sha256_update_ret(&c, eh, sizeof(eh));
        mbedtls_sha256_finish_ret(&c, out);
        mbedtls_sha256_free(&c);
}

/* E: a fresh P-256 key, its public key as DER SubjectPublicKeyInfo. */
int e_make(uint8_t *der, size_t max, size_t *ret_len)
{
        EVP_PKEY *e = EVP_EC_gen("P-256");
        unsigned char *p = NULL;
        int len = e ? i2d_PUBKEY(e, &p) : -1;
        EVP_PKEY_free(e);
        if (len <= 0 || (size_t)len > max) {
                OPENSSL_free(p);
                return -EIO;
        }
        memcpy(der, p, (size_t)len);
        OPENSSL_free(p);
        *ret_len = (size_t)len;
        return 0;
}

/* ---- the protocol's messages, node side --------------------------------- */

int parse_challenge(json_object *o, struct challenge *c, char *why)
{
        json_object *sel, *bank;
        const char *sid = json_str(o, "session");
        if (!sid || strlen(sid) >= sizeof(c->session))
                return snprintf(why, WHY, "the challenge has no session"), -EBADMSG;
        snprintf(c->session, sizeof(c->session), "%s", sid);
        if (unb64(json_str(o, "nonce"), c->nonce, sizeof(c->nonce), &c->nonce_len) < 0 ||
            unb64(json_str(o, "credential_blob"), c->blob, sizeof(c->blob), &c->blob_len) < 0 ||
            unb64(json_str(o, "encrypted_secret"), c->secret, sizeof(c->secret), &c->secret_len) < 0)
                return snprintf(why, WHY, "the challenge's nonce or blobs are not base64"), -EBADMSG;
        if (!json_object_object_get_ex(o, "pcr_selection", &sel) || !json_object_object_get_ex(sel, "sha256", &bank) ||
            !json_object_is_type(bank, json_type_array))
                return snprintf(why, WHY, "the challenge has no pcr_selection.sha256"), -EBADMSG;
        c->mask = 0;
        for (size_t i = 0; i < json_object_array_length(bank); i++) {
                int p = json_object_get_int(json_object_array_get_idx(bank, i));
                if (p < 0 || p >= PCRS)
                        return snprintf(why, WHY, "the challenge selects PCR %d", p), -EBADMSG;
                c->mask |= 1u << p;
        }
        return c->mask ? 0 : (snprintf(why, WHY, "the challenge selects no PCR"), -EBADMSG);
}

static char *evidence_json(const struct challenge *c, const struct boot *b, const struct quoted *q, const uint8_t *e,
                           size_t e_len, char *why)
{
        json_object *o = json_object_new_object(), *pcrs = json_object_new_object(), *bank = json_object_new_object();
        _cleanup_free_ char *qb = b64(q->attest, q->attest_len), *sb = b64(q->sig, q->sig_len), *eb = b64(e, e_len);
        char *ret = NULL;
        for (int i = 0; i < PCRS; i++)
                if (c->mask & (1u << i)) {
                        char k[4], h[65];
                        snprintf(k, sizeof(k), "%d", i);
                        hexs(b->pcr[i], 32, h);
                        json_object_object_add(bank, k, json_object_new_string(h));
                }
        json_object_object_add(pcrs, "sha256", bank);
        json_object_object_add(o, "session", json_object_new_string(c->session));
        json_object_object_add(o, "quote", json_object_new_string(qb ? qb : ""));
        json_object_object_add(o, "signature", json_object_new_string(sb ? sb : ""));
        json_object_object_add(o, "pcrs", pcrs);
        json_object_object_add(o, "event_log", json_object_new_string(b->event_log_b64));
        json_object_object_add(o, "e_pub", json_object_new_string(eb ? eb : ""));
        const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (t && qb && sb && eb)
                ret = strdup(t);
        json_object_put(o);
        if (!ret)
                snprintf(why, WHY, "building the evidence: out of memory");
        return ret;
}

/* The node's work between the two requests: E's hash goes into the quote,
 * so E is made first. */
char *answer(const struct node *n, const struct boot *b, const struct challenge *c, const uint8_t *e, size_t e_len,
             char *why)
{
        uint8_t s[32], extra[32];
        size_t s_len;
        struct quoted q;
        for (int i = 0; i < PCRS; i++)
                if ((c->mask & (1u << i)) && !(b->have & (1u << i)))
                        return snprintf(why, WHY, "the server asks for PCR %d, which the .pcrs file lacks", i), NULL;
        if (activate(n, c->blob, c->blob_len, c->secret, c->secret_len, s, &s_len, why) < 0)
                return NULL;
        extra_data(c->nonce, c->nonce_len, s, s_len, e, e_len, extra);
        OPENSSL_cleanse(s, sizeof(s));
        if (quote(n, b, c->mask, extra, &q, why) < 0)
                return NULL;
        return evidence_json(c, b, &q, e, e_len, why);
}

/* ---- inputs ------------------------------------------------------------------- */

/* "sha256 INDEX HEX" lines, as in the .pcrs files of tests/attest/data. */
int boot_load(const struct cfg *c, struct boot *b)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = read_file_all(c->pcrs, 1 << 20, &text, &len);
        if (r < 0)
                return fprintf(stderr, "ember-attest-load: reading %s: %s\n", c->pcrs, strerror(-r)), r;
        *b = (struct boot){ 0 };
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char bank[16], hex[129];
                int i;
                if (sscanf(line, "%15s %d %128s", bank, &i, hex) != 3 || !streq(bank, "sha256"))
                        continue;
                if (i < 0 || i >= PCRS || hex_decode(hex, b->pcr[i], 32) < 0)
                        return fprintf(stderr, "ember-attest-load: %s: bad line: %s\n", c->pcrs, line), -EBADMSG;
                b->have |= 1u << i;
        }
        char *log = NULL;
        r = read_file_all(c->event_log, EVLOG_MAX_BYTES, &log, &b->event_log_len);
        if (r < 0)
                return fprintf(stderr, "ember-attest-load: reading %s: %s\n", c->event_log, strerror(-r)), r;
        b->event_log = (uint8_t *)log;
        b->event_log_b64 = b64(b->event_log, b->event_log_len);
        if (!b->have || !b->event_log_b64)
                return fprintf(stderr, "ember-attest-load: no sha256 PCRs in %s\n", c->pcrs), -EBADMSG;
        return 0;
}

void boot_free(struct boot *b)
{
        free(b->event_log);
        free(b->event_log_b64);
}
