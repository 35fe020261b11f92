/* SPDX-License-Identifier: Apache-2.0 */
/* TPM2_MakeCredential in software: the verifier wraps a secret S so that
 * only the TPM holding the node's EK, with the AK of the given Name loaded
 * beside it, gets S back from TPM2_ActivateCredential (TPM 2.0 Part 1 §24,
 * credential protection). The seed is shared with RSA-OAEP (Part 1 Annex B)
 * or with a one-pass ECDH and KDFe (Annex C); the keys come from KDFa (Part 1
 * §11.4.10).
 *
 * Every parameter comes from the EK's public area, as a real TPM's
 * MakeCredential would take it: the EK's nameAlg is the seed size, the OAEP
 * hash, the KDFa/KDFe hash and the HMAC; its symmetric definition gives the
 * AES-CFB key size.
 *
 * What Ember takes as an EK (decided here, refused otherwise):
 *   * a storage key: restricted, decrypt, not sign (-EBADMSG);
 *   * nameAlg SHA-256, SHA-384 or SHA-512; SHA-1 is refused (-EOPNOTSUPP):
 *     no TCG EK template uses it, and a 20-byte seed and a SHA-1 HMAC are
 *     below what the rest of the protocol relies on;
 *   * symmetric AES-128-CFB or AES-256-CFB (the TCG templates' choices);
 *   * RSA 2048, 3072 or 4096 bits, scheme NULL, exponent 0 (= 65537) or any
 *     exponent mbedtls accepts as a public key; the modulus as long as
 *     keyBits says;
 *   * ECC NIST P-256 or P-384, scheme and KDF NULL, a point on the curve.
 *
 * Errors are -errno with the reason written to why (when given):
 * -EBADMSG for malformed bytes or an EK that cannot be a valid storage key,
 * -EOPNOTSUPP for algorithms and sizes Ember does not take, -EINVAL for bad
 * arguments, -ENOMEM, -EIO for a failure of the crypto library or of the
 * random source. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

/* Where random bytes come from. makecred() with rng == NULL uses a
 * CTR_DRBG seeded from mbedtls_entropy for the call; tests inject a
 * deterministic source. fill returns 0 or -errno; a failure makes
 * makecred() fail with -EIO. */
struct makecred_rng {
        int (*fill)(void *userdata, uint8_t *buf, size_t len);
        void *userdata;
};

/* The two outputs of TPM2_MakeCredential, marshalled as the TPM would
 * return them: what the node passes to TPM2_ActivateCredential. */
struct makecred_blobs {
        uint8_t credential_blob[sizeof(TPM2B_ID_OBJECT)]; /* TPM2B_ID_OBJECT */
        size_t credential_blob_len;
        uint8_t secret[sizeof(TPM2B_ENCRYPTED_SECRET)];   /* TPM2B_ENCRYPTED_SECRET */
        size_t secret_len;
};

/* Unmarshals a TPM2B_PUBLIC (with tss2-mu) that must use every one of the
 * len bytes, have a size field equal to the public area's length and not 0
 * (tss2-mu checks neither), and marshal back to the same bytes (so a Name
 * computed from it is the hash of exactly what was received). -EBADMSG
 * otherwise; *ret is written only on success. Checks no meaning. */
int makecred_parse_public(const void *buf, size_t len, TPM2B_PUBLIC *ret, char *why, size_t whylen);

/* Is ek an EK Ember can make credentials for (the list above)? 0 or the
 * -errno of the first refusal. */
int makecred_check_ek(const TPM2B_PUBLIC *ek, char *why, size_t whylen);

/* The object's Name: nameAlg (big-endian) ‖ H_nameAlg(marshalled
 * TPMT_PUBLIC). SHA-1, SHA-256, SHA-384 and SHA-512 names; -EOPNOTSUPP for
 * another nameAlg, -EINVAL for NULL arguments. */
int makecred_name(const TPM2B_PUBLIC *pub, TPM2B_NAME *ret);

/* TPM2_MakeCredential(ek, credential = secret, objectName = ak_name).
 * ak_name must be a digest Name (algorithm ‖ digest of its size); secret
 * is 1 to digest-size-of-ek's-nameAlg bytes, as the TPM command requires.
 * The EK is checked with makecred_check_ek() first. *ret is written only on
 * success. */
int makecred(const TPM2B_PUBLIC *ek, const TPM2B_NAME *ak_name, const uint8_t *secret, size_t secret_len,
             const struct makecred_rng *rng, struct makecred_blobs *ret, char *why, size_t whylen);

/* KDFa (Part 1 §11.4.10.2): HMAC_hash(key, [i]₃₂ ‖ label ‖ 00 ‖ context_u ‖
 * context_v ‖ [bits]₃₂) for i = 1, 2, …, concatenated and cut to bits/8
 * bytes written to out. label is a C string (its NUL is the 00). bits must
 * be a positive multiple of 8 (nothing here needs another size): -EINVAL
 * otherwise, and for an unknown hash. */
int makecred_kdfa(TPM2_ALG_ID hash, const uint8_t *key, size_t key_len, const char *label,
                  const uint8_t *context_u, size_t u_len, const uint8_t *context_v, size_t v_len,
                  size_t bits, uint8_t *out);

/* KDFe (Part 1 §11.4.10.3): H_hash([i]₃₂ ‖ z ‖ label ‖ 00 ‖ party_u ‖
 * party_v) for i = 1, 2, …, concatenated and cut to bits/8 bytes. Same rules
 * as makecred_kdfa(). */
int makecred_kdfe(TPM2_ALG_ID hash, const uint8_t *z, size_t z_len, const char *label,
                  const uint8_t *party_u, size_t u_len, const uint8_t *party_v, size_t v_len,
                  size_t bits, uint8_t *out);
