/* SPDX-License-Identifier: Apache-2.0 */
#include "keywrap.h"

#include <errno.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/sha256.h>
#include <string.h>

#include "util.h"

#define LABEL "ember-v1 overlay key"

static int rng(void *ud, unsigned char *buf, size_t len)
{
        return getrandom_full(buf, len) < 0 ? MBEDTLS_ERR_ECP_RANDOM_FAILED : 0;
}

void keywrap_context(const char *session, const uint8_t *nonce, size_t nonce_len, const uint8_t *e_pub_der,
                     size_t e_len, const uint8_t overlay_id[KEYWRAP_ID_LEN], uint64_t serial, uint8_t out[32])
{
        uint8_t eh[32], be[8];
        mbedtls_sha256_context c;
        mbedtls_sha256_ret(e_pub_der, e_len, eh, 0);
        for (int i = 0; i < 8; i++)
                be[i] = (uint8_t)(serial >> (56 - 8 * i));
        mbedtls_sha256_init(&c);
        mbedtls_sha256_starts_ret(&c, 0);
        mbedtls_sha256_update_ret(&c, (const unsigned char *)LABEL, strlen(LABEL));
        mbedtls_sha256_update_ret(&c, (const unsigned char *)session, strlen(session) + 1);
        mbedtls_sha256_update_ret(&c, nonce, nonce_len);
        mbedtls_sha256_update_ret(&c, eh, sizeof(eh));
        mbedtls_sha256_update_ret(&c, overlay_id, KEYWRAP_ID_LEN);
        mbedtls_sha256_update_ret(&c, be, sizeof(be));
        mbedtls_sha256_finish_ret(&c, out);
        mbedtls_sha256_free(&c);
}

/* KEK = HKDF-SHA256(ikm = Z, info = LABEL ‖ Q_s ‖ T) */
static int kek_of(const mbedtls_mpi *z, const uint8_t epk[KEYWRAP_POINT_LEN], const uint8_t context[32], uint8_t kek[32])
{
        uint8_t zb[32], info[sizeof(LABEL) - 1 + KEYWRAP_POINT_LEN + 32];
        if (mbedtls_mpi_write_binary(z, zb, sizeof(zb)) != 0)
                return -EINVAL;
        memcpy(info, LABEL, sizeof(LABEL) - 1);
        memcpy(info + sizeof(LABEL) - 1, epk, KEYWRAP_POINT_LEN);
        memcpy(info + sizeof(LABEL) - 1 + KEYWRAP_POINT_LEN, context, 32);
        int r = mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), NULL, 0, zb, sizeof(zb), info, sizeof(info),
                             kek, 32);
        explicit_bzero(zb, sizeof(zb));
        return r == 0 ? 0 : -EINVAL;
}

static int p256_of(mbedtls_pk_context *pk, const mbedtls_ecp_keypair **ret)
{
        if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY)
                return -EINVAL;
        const mbedtls_ecp_keypair *kp = mbedtls_pk_ec(*pk);
        if (kp->grp.id != MBEDTLS_ECP_DP_SECP256R1)
                return -EINVAL;
        *ret = kp;
        return 0;
}

int keywrap_seal(const uint8_t *e_pub_der, size_t e_len, const uint8_t context[32], const uint8_t key[KEYWRAP_KEY_LEN],
                 struct keywrap *out, const struct reason *w)
{
        mbedtls_pk_context pk;
        mbedtls_ecp_group grp;
        mbedtls_mpi d, z;
        mbedtls_ecp_point q;
        mbedtls_gcm_context gcm;
        const mbedtls_ecp_keypair *e;
        uint8_t kek[32];
        size_t n = 0;
        int r;

        mbedtls_pk_init(&pk);
        mbedtls_ecp_group_init(&grp);
        mbedtls_mpi_init(&d);
        mbedtls_mpi_init(&z);
        mbedtls_ecp_point_init(&q);
        mbedtls_gcm_init(&gcm);
        if (mbedtls_pk_parse_public_key(&pk, e_pub_der, e_len) != 0 || p256_of(&pk, &e) < 0) {
                r = reason_fail(w, -EINVAL, "wrapping the overlay key: E is not a P-256 public key");
                goto out;
        }
        if (mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
            mbedtls_ecdh_gen_public(&grp, &d, &q, rng, NULL) != 0 ||
            mbedtls_ecdh_compute_shared(&grp, &z, &e->Q, &d, rng, NULL) != 0 ||
            mbedtls_ecp_point_write_binary(&grp, &q, MBEDTLS_ECP_PF_UNCOMPRESSED, &n, out->epk, sizeof(out->epk)) != 0 ||
            n != KEYWRAP_POINT_LEN || getrandom_full(out->iv, sizeof(out->iv)) < 0 || kek_of(&z, out->epk, context, kek) < 0 ||
            mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, kek, 256) != 0 ||
            mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, KEYWRAP_KEY_LEN, out->iv, sizeof(out->iv), context, 32,
                                      key, out->ct, 16, out->ct + KEYWRAP_KEY_LEN) != 0) {
                r = reason_fail(w, -EIO, "wrapping the overlay key failed");
                goto out;
        }
        r = 0;
out:
        explicit_bzero(kek, sizeof(kek));
        mbedtls_gcm_free(&gcm);
        mbedtls_ecp_point_free(&q);
        mbedtls_mpi_free(&z);
        mbedtls_mpi_free(&d);
        mbedtls_ecp_group_free(&grp);
        mbedtls_pk_free(&pk);
        return r;
}

int keywrap_open(mbedtls_pk_context *e, const uint8_t context[32], const struct keywrap *in,
                 uint8_t key[KEYWRAP_KEY_LEN], const struct reason *w)
{
        const mbedtls_ecp_keypair *kp;
        mbedtls_ecp_point q;
        mbedtls_mpi z;
        mbedtls_gcm_context gcm;
        uint8_t kek[32], pt[KEYWRAP_KEY_LEN];
        int r;

        if (p256_of(e, &kp) < 0)
                return reason_fail(w, -EINVAL, "unwrapping the overlay key: E is not a P-256 key");
        mbedtls_ecp_point_init(&q);
        mbedtls_mpi_init(&z);
        mbedtls_gcm_init(&gcm);
        if (mbedtls_ecp_point_read_binary(&kp->grp, &q, in->epk, sizeof(in->epk)) != 0 ||
            mbedtls_ecp_check_pubkey(&kp->grp, &q) != 0) {
                r = reason_fail(w, -EINVAL, "the wrapped overlay key: the server's point is not on P-256");
                goto out;
        }
        if (mbedtls_ecdh_compute_shared((mbedtls_ecp_group *)&kp->grp, &z, &q, &kp->d, rng, NULL) != 0 ||
            kek_of(&z, in->epk, context, kek) < 0 || mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, kek, 256) != 0) {
                r = reason_fail(w, -EIO, "unwrapping the overlay key failed");
                goto out;
        }
        if (mbedtls_gcm_auth_decrypt(&gcm, KEYWRAP_KEY_LEN, in->iv, sizeof(in->iv), context, 32,
                                     in->ct + KEYWRAP_KEY_LEN, 16, in->ct, pt) != 0) {
                r = reason_fail(w, -EBADMSG, "the wrapped overlay key does not open (not for this node, this "
                                "attestation or this overlay, or altered)");
                goto out;
        }
        memcpy(key, pt, KEYWRAP_KEY_LEN);
        r = 0;
out:
        explicit_bzero(pt, sizeof(pt));
        explicit_bzero(kek, sizeof(kek));
        mbedtls_gcm_free(&gcm);
        mbedtls_mpi_free(&z);
        mbedtls_ecp_point_free(&q);
        return r;
}
