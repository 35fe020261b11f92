/* SPDX-License-Identifier: Apache-2.0 */
/* The overlay's data key, wrapped by the attestation server to the node's
 * ephemeral key E (P-256), so that only the process holding E — the node
 * that just attested — can unwrap it:
 *
 *   the server makes a one-time P-256 key pair (d_s, Q_s);
 *   Z    = x(d_s · Q_E), 32 bytes;
 *   T    = SHA-256(context), the context binding the wrap to one
 *          attestation and one overlay (keywrap_context());
 *   KEK  = HKDF-SHA256(salt = "", ikm = Z, info = "ember-v1 overlay key" ‖ Q_s ‖ T);
 *   wrap = AES-256-GCM(KEK, iv = 12 random bytes, aad = T, data key)
 *
 * and sends Q_s (uncompressed point), iv and the 48 bytes of ciphertext and
 * tag. The node recomputes T from what it knows itself (the session, the
 * nonce, its E) and from the overlay the reply names, so a wrap made for
 * another attestation, another node or another overlay fails to open. */
#pragma once

#include <mbedtls/pk.h>
#include <stddef.h>
#include <stdint.h>

#include "reason.h"

#define KEYWRAP_KEY_LEN 32
#define KEYWRAP_POINT_LEN 65 /* 0x04 ‖ x ‖ y */
#define KEYWRAP_IV_LEN 12
#define KEYWRAP_CT_LEN (KEYWRAP_KEY_LEN + 16)
#define KEYWRAP_ID_LEN 16

struct keywrap {
        uint8_t epk[KEYWRAP_POINT_LEN];
        uint8_t iv[KEYWRAP_IV_LEN];
        uint8_t ct[KEYWRAP_CT_LEN];
};

/* T = SHA-256("ember-v1 overlay key" ‖ session ‖ NUL ‖ nonce ‖ SHA-256(E_pub DER) ‖ overlay id ‖ serial (8, BE)). */
void keywrap_context(const char *session, const uint8_t *nonce, size_t nonce_len, const uint8_t *e_pub_der,
                     size_t e_len, const uint8_t overlay_id[KEYWRAP_ID_LEN], uint64_t serial, uint8_t out[32]);

/* The server's side: wraps key to E (a DER SubjectPublicKeyInfo of a P-256
 * key). 0, or -errno with why. */
int keywrap_seal(const uint8_t *e_pub_der, size_t e_len, const uint8_t context[32], const uint8_t key[KEYWRAP_KEY_LEN],
                 struct keywrap *out, const struct reason *w);

/* The node's side: unwraps with E's private key. -EBADMSG when the wrap
 * does not open (another key, another context, altered), -EINVAL for a
 * point not on the curve; key is written only on success. */
int keywrap_open(mbedtls_pk_context *e, const uint8_t context[32], const struct keywrap *in,
                 uint8_t key[KEYWRAP_KEY_LEN], const struct reason *w);
