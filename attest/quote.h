/* SPDX-License-Identifier: Apache-2.0 */
/* Verifying a TPM2_Quote from a node: the AK's public area, the quote
 * (TPMS_ATTEST), its signature (TPMT_SIGNATURE) and the PCR values the node
 * reports, all untrusted bytes, against what the server itself knows: the
 * node's enrolled EK, the qualifying data it recomputed and the PCR
 * selection it asked for.
 *
 * Facts this relies on (checked against swtpm 0.7 / libtpms and tpm2-tools
 * 5.4; see tests/attest/t-quote-tpm2tools):
 *   * TPMS_ATTEST.qualifiedSigner is the AK's *Qualified* Name, not its
 *     Name: QN(AK) = nameAlg_AK ‖ H_AK(QN(parent) ‖ Name(AK)), and for a
 *     primary key (the EK) QN(EK) = nameAlg_EK ‖ H_EK(hierarchy handle ‖
 *     Name(EK)) with the endorsement hierarchy's handle 0x4000000B as four
 *     big-endian bytes. tpm2_createak makes the AK a child of the EK, so
 *     the verifier computes the expected value from the EK and AK public
 *     areas; a match also proves the AK sits under that EK.
 *   * pcrDigest is computed with the hash of the signing scheme the quote
 *     was signed with (the TPM takes the hash from the scheme after merging
 *     the caller's scheme with the key's), not with the AK's nameAlg: it is
 *     H_sig(value ‖ value ‖ …) over the selected PCRs, banks in the order of
 *     the selection, PCRs ascending within a bank.
 *   * The TPM removes unallocated banks from the selection before quoting,
 *     so the quote's pcrSelect is what was really covered; it must equal
 *     what the server asked for.
 *   * An RSAPSS quote from libtpms has a salt as long as the digest; older
 *     TPMs use the longest salt that fits. Any salt length is accepted.
 *
 * Each check refuses with its own -errno and names itself in why (no
 * secrets: these strings reach the operator's log and the node's console):
 *   -EINVAL        bad arguments (the server's own inputs malformed)
 *   -EMSGSIZE      a structure longer than its TPM type can be
 *   -EBADMSG       a structure that does not unmarshal, leaves bytes over,
 *                  or whose size field disagrees with its contents
 *   -EKEYREJECTED  the AK is not an attestation key Ember takes ("AK not
 *                  restricted", "AK not fixedTPM", …)
 *   -EPROTO        magic is not TPM_GENERATED_VALUE
 *   -EPROTOTYPE    type is not TPM_ST_ATTEST_QUOTE
 *   -ENOKEY        qualifiedSigner is not the AK's qualified name under the EK
 *   -ESTALE        extraData is not the expected qualifying data
 *   -EOPNOTSUPP    signature algorithm or hash not taken, or not the AK's own
 *   -EBADE         the signature does not verify with the AK
 *   -EDOM          pcrSelect is not the selection that was asked for
 *   -ENODATA       the reported PCR values are not exactly the selected ones
 *   -EILSEQ        the reported PCR values do not hash to pcrDigest
 *   -ETIME         clockInfo.safe is not YES
 *   -ENOMEM        out of memory (mbedtls)
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#define QUOTE_PCRS 24       /* PCRs per bank Ember selects from */
#define QUOTE_MAX_BANKS 4   /* SHA-1, SHA-256, SHA-384, SHA-512 */
#define QUOTE_DIGEST_MAX 64

/* One PCR value as the node reports it. digest holds digest-size-of-bank
 * bytes (20, 32, 48 or 64). */
struct quote_pcr {
        uint16_t bank;      /* TPM2_ALG_SHA1, TPM2_ALG_SHA256, … */
        uint8_t index;      /* 0 … 23 */
        uint8_t digest[QUOTE_DIGEST_MAX];
};

/* A PCR selection: banks in order, each with a PCR bitmask (bit i: PCR i). */
struct quote_bank {
        uint16_t alg;
        uint32_t pcrs;      /* bits 0 … 23; never 0 */
};

struct quote_selection {
        struct quote_bank bank[QUOTE_MAX_BANKS];
        size_t n_banks;     /* 1 … QUOTE_MAX_BANKS, each alg once */
};

/* What the node sent: untrusted. */
struct quote_evidence {
        const uint8_t *ak_pub;      /* TPM2B_PUBLIC, marshalled (tpm2_createak -u) */
        size_t ak_pub_len;
        const uint8_t *attest;      /* TPMS_ATTEST: TPM2B_ATTEST's contents (tpm2_quote -m) */
        size_t attest_len;
        const uint8_t *sig;         /* TPMT_SIGNATURE, marshalled (tpm2_quote -s, format tss) */
        size_t sig_len;
        const struct quote_pcr *pcrs;
        size_t n_pcrs;
};

/* What the server knows on its own. */
struct quote_expect {
        const uint8_t *ek_pub;      /* the node's enrolled EK (TPM2B_PUBLIC): the AK's parent */
        size_t ek_pub_len;
        const uint8_t *extra;       /* the qualifying data the server recomputed */
        size_t extra_len;           /* 1 … 64 */
        const struct quote_selection *selection; /* what the node was asked to quote */
};

/* The TPM's clock and counters as the quote states them. They are in
 * clear text because the AK is in the endorsement hierarchy (a TPM
 * obfuscates resetCount, restartCount and firmwareVersion for keys of the
 * owner or null hierarchy, which the qualified-name check rules out).
 *
 * The server keeps the last accepted values per machine and refuses a
 * quote whose counters go backwards (quote_check_counters): resetCount
 * counts TPM Resets (boots), restartCount TPM Restarts and Resumes since
 * the last Reset, and Clock (milliseconds powered) never goes back while
 * safe is YES. Only TPM2_Clear zeroes them; a cleared TPM has a new
 * storage seed and must be enrolled again anyway. */
struct quote_info {
        uint64_t clock;
        uint32_t reset_count;
        uint32_t restart_count;
        uint64_t firmware_version;
        uint16_t hash_alg;          /* the signature's hash, which pcrDigest uses too */
};

/* Every check above, in that order. On success *ret (may be NULL) gets the
 * quote's clock and counters; on failure nothing is written. */
int quote_verify(const struct quote_evidence *ev, const struct quote_expect *exp, struct quote_info *ret,
                 char *why, size_t whylen);

/* The stages quote_verify() is made of, for tests and for callers that
 * hold parsed structures. Parsers write *ret only on success. */
int quote_parse_attest(const uint8_t *buf, size_t len, TPMS_ATTEST *ret, char *why, size_t whylen);
int quote_parse_signature(const uint8_t *buf, size_t len, TPMT_SIGNATURE *ret, char *why, size_t whylen);

/* Is ak a key whose quotes Ember believes: a restricted signing (not
 * decrypting) RSA (2048 … 4096 bits) or ECC (NIST P-256, P-384) key,
 * fixedTPM, fixedParent, sensitiveDataOrigin, nameAlg SHA-256 or SHA-384,
 * scheme NULL or RSASSA/RSAPSS/ECDSA with SHA-256/384/512? */
int quote_check_ak(const TPMT_PUBLIC *ak, char *why, size_t whylen);

/* QN(AK) for an AK that is a child of the primary ek in the endorsement
 * hierarchy. -EOPNOTSUPP for a nameAlg other than SHA-256/384/512. */
int quote_qualified_name(const TPM2B_PUBLIC *ek, const TPM2B_PUBLIC *ak, TPM2B_NAME *ret);

/* clockInfo rules on their own: safe must be YES. */
int quote_check_clock(const TPMS_CLOCK_INFO *ci, char *why, size_t whylen);

/* The server's rule across quotes of one machine: (resetCount,
 * restartCount) never decrease (compared in that order), and Clock never
 * decreases. -ERANGE when cur goes back behind prev. */
int quote_check_counters(const struct quote_info *prev, const struct quote_info *cur, char *why, size_t whylen);

/* Digest size of a hash algorithm Ember computes (SHA-1/256/384/512), 0
 * for any other. */
size_t quote_digest_size(uint16_t alg);
