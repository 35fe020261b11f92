/* SPDX-License-Identifier: Apache-2.0 */
/* The endorsement key types the node's client can use, by name; no TPM
 * library needed, so the command line parser can check ember.attest_ek. */
#pragma once

/* Which endorsement key: one of the TCG EK Credential Profile's templates
 * L-1 (RSA-2048), L-2 (ECC NIST P-256) or H-2 (ECC NIST P-384), each with
 * its certificate's NV index (0x01c00002, 0x01c0000a, 0x01c00016). AUTO
 * takes the first of those whose certificate the TPM holds, else RSA-2048.
 * A machine is enrolled by one EK: a node must keep using the same one. */
enum attest_ek {
        ATTEST_EK_AUTO,
        ATTEST_EK_RSA2048,
        ATTEST_EK_ECC_P256,
        ATTEST_EK_ECC_P384,
        _ATTEST_EK_MAX,
};

/* "auto", "rsa", "ecc256", "ecc384"; NULL for a value out of range. */
const char *attest_ek_to_string(enum attest_ek t);
/* 0, or -EINVAL for a name that is none of those. */
int attest_ek_from_string(const char *s, enum attest_ek *ret);
