/* SPDX-License-Identifier: Apache-2.0 */
/* EK certificates (TCG EK Credential Profile for TPM 2.0): does the
 * certificate a node read from its TPM's NV index chain to a CA the
 * operator trusts, and does it certify exactly the EK the node presented?
 *
 * Trust: the operator adds CA certificates. A self-issued one (subject =
 * issuer) is a trust anchor; any other is an intermediate, which only
 * completes a path from an EK certificate to an anchor and is never trusted
 * on its own. The chain is checked by mbedtls (signatures; every CA's
 * basicConstraints cA and keyCertSign; every certificate's validity at the
 * server's clock) under a fixed profile: SHA-256/384/512 signatures, RSA of
 * 2048 bits or more, NIST P-256/P-384/P-521.
 *
 * What mbedtls 2.28 does with real EK certificates (swtpm's, and the forms
 * vendors use), and what Ember does about it:
 *   * a critical subjectAltName holding only a directoryName (TPM
 *     manufacturer, model, version): mbedtls keeps it unparsed and accepts
 *     the certificate; Ember reads the three TCG attributes for the log;
 *   * an empty subject: accepted (the SAN names the TPM);
 *   * subjectDirectoryAttributes (TPM specification) and other TCG
 *     extensions, non-critical as the profile says: skipped; a critical
 *     extension mbedtls does not know refuses the certificate (named);
 *   * notAfter 99991231235959Z (GeneralizedTime): parsed and honoured;
 *   * extended key usage: when present it must allow tcg-kp-EKCertificate;
 *   * an NV index larger than the certificate: trailing 0x00 or 0xFF bytes
 *     are cut off, any other trailing byte is refused;
 *   * TPM 1.2-era certificates whose key is id-RSAES-OAEP, and SHA-1
 *     signatures: mbedtls cannot parse the first and the profile refuses the
 *     second; both are refused with that reason.
 *
 * Errors are -errno with a one-line reason in why (when given): -EBADMSG
 * for bytes that are not a certificate Ember can read, -EPERM for one that
 * does not chain to a trusted CA (or no CA is trusted, or it is a CA's own),
 * -EKEYREJECTED for a certificate that chains but certifies another key than
 * the EK, -EINVAL for bad arguments, -ENOMEM, -EIO for mbedtls failing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#define EKCERT_MAX 4096   /* bytes of DER accepted, as the node reads them */
#define EKCERT_ID_LEN 65  /* hex SHA-256 of the DER, and its NUL */
#define EKCERT_NAME_MAX 256

/* What a certificate says, every string printable ASCII. */
struct ekcert_info {
        char id[EKCERT_ID_LEN];
        char subject[EKCERT_NAME_MAX]; /* "" when empty */
        char issuer[EKCERT_NAME_MAX];
        int64_t not_before, not_after; /* unix seconds, UTC */
        bool ca;                       /* basicConstraints cA */
        bool self_issued;              /* subject = issuer: a trust anchor */
        /* "manufacturer id:…, model …, version id:…" from a subjectAltName
         * directoryName (an EK certificate's), or "" */
        char tpm[EKCERT_NAME_MAX];
};

/* The certificates in a file's bytes: PEM (one or more CERTIFICATE blocks;
 * other blocks are refused) or one DER certificate. cb gets each DER in
 * turn; its negative return stops the walk and is returned. At least one
 * certificate or -EBADMSG. Checks nothing about the certificates. */
int ekcert_split(const uint8_t *buf, size_t len, int (*cb)(const uint8_t *der, size_t len, void *ud), void *ud,
                 char *why, size_t whylen);

/* A CA certificate for the trust store: parses (strictly: no padding, no
 * unknown critical extension) and must be a CA — basicConstraints cA, or a
 * version 1 self-issued root. *ret written only on success. */
int ekcert_ca_info(const uint8_t *der, size_t len, struct ekcert_info *ret, char *why, size_t whylen);

/* The trusted CAs, built per use from the store's rows. */
struct ekcert_trust;
int ekcert_trust_new(struct ekcert_trust **ret);
void ekcert_trust_free(struct ekcert_trust *t);
/* Adds one CA certificate (ekcert_ca_info()'s rules): an anchor when
 * self-issued, an intermediate otherwise. */
int ekcert_trust_add(struct ekcert_trust *t, const uint8_t *der, size_t len, char *why, size_t whylen);
size_t ekcert_trust_anchors(const struct ekcert_trust *t);

/* The outcome of a verification that succeeded. */
struct ekcert_verdict {
        struct ekcert_info cert;         /* the EK certificate */
        char ca_id[EKCERT_ID_LEN];       /* the trust anchor it chains to */
        char ca_subject[EKCERT_NAME_MAX];
};

/* The EK certificate der (a node's bytes) chains to an anchor of t and
 * its public key is exactly ek's: RSA modulus and exponent (0 meaning
 * 65537), or ECC curve and point. The chain is checked before the key, so
 * -EKEYREJECTED always means a certificate a trusted CA issued. *ret written
 * only on success. */
int ekcert_verify(const struct ekcert_trust *t, const uint8_t *der, size_t len, const TPM2B_PUBLIC *ek,
                  struct ekcert_verdict *ret, char *why, size_t whylen);
