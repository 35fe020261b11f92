/* SPDX-License-Identifier: Apache-2.0 */
/* EK publics as a node sends them (TPM2B_PUBLIC bytes): any bytes parse or
 * fail cleanly; whatever parses has a Name; whatever passes the EK check
 * gets a well-formed credential (a check that lets through a key the crypto
 * then chokes on is a bug); and a refused EK never gets one. Seeds: swtpm's
 * RSA-2048, P-256 and P-384 EKs and an AK. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "makecred.h"

/* deterministic, so a crash reproduces from its input alone */
static int fill(void *userdata, uint8_t *buf, size_t len)
{
        uint64_t *state = userdata;
        for (size_t i = 0; i < len; i++) {
                *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
                buf[i] = (uint8_t)(*state >> 56);
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const uint8_t secret[16] = "ember fuzz S....";
        TPM2B_PUBLIC ek;
        TPM2B_NAME name;
        struct makecred_blobs out;
        uint64_t state = size;
        struct makecred_rng rng = { fill, &state };
        char why[256];

        if (makecred_parse_public(data, size, &ek, why, sizeof(why)) < 0)
                return 0;
        int named = makecred_name(&ek, &name);
        if (named < 0 && named != -EOPNOTSUPP)
                __builtin_trap();
        if (named < 0)
                name = (TPM2B_NAME){ .size = 34, .name = { 0x00, 0x0b } };

        if (makecred_check_ek(&ek, why, sizeof(why)) < 0) {
                if (makecred(&ek, &name, secret, sizeof(secret), &rng, &out, why, sizeof(why)) >= 0)
                        __builtin_trap();
                return 0;
        }
        if (named < 0 || makecred(&ek, &name, secret, sizeof(secret), &rng, &out, why, sizeof(why)) < 0)
                __builtin_trap();

        TPM2B_ID_OBJECT id = { 0 };
        TPM2B_ENCRYPTED_SECRET enc = { 0 };
        size_t off = 0;
        if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(out.credential_blob, out.credential_blob_len, &off, &id) !=
                    TSS2_RC_SUCCESS ||
            off != out.credential_blob_len)
                __builtin_trap();
        off = 0;
        if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(out.secret, out.secret_len, &off, &enc) != TSS2_RC_SUCCESS ||
            off != out.secret_len)
                __builtin_trap();
        return 0;
}
