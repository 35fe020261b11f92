/* SPDX-License-Identifier: Apache-2.0 */
/* A node's quote evidence: any bytes parse or fail cleanly, and a refusal
 * always comes with a reason.
 *
 * An input is five fields, each a big-endian 16-bit length and that many
 * bytes: EK TPM2B_PUBLIC, AK TPM2B_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE,
 * expected extraData; then PCR values to the end, each a big-endian bank
 * algorithm, an index and the bank's digest size of bytes. The selection
 * asked for is that of the PCR values. The seeds in
 * tests/fuzz/corpus/attest_quote/ are the quotes captured from swtpm
 * (tests/attest/data/quote-*) in this form. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_tpm2_types.h>

#include "quote.h"
#include "reader.h"

#define MAX_PCRS (QUOTE_MAX_BANKS * QUOTE_PCRS)

static int field(struct reader *r, const uint8_t **ret, size_t *ret_len)
{
        uint16_t n;
        if (rd_be16(r, &n) < 0 || rd_bytes(r, n, ret) < 0)
                return -1;
        *ret_len = n;
        return 0;
}

static void pcr_values(struct reader *r, struct quote_pcr *pcrs, size_t *ret_n, struct quote_selection *sel)
{
        size_t n = 0;
        uint16_t bank;
        uint8_t index;
        const uint8_t *d;
        *sel = (struct quote_selection){ 0 };
        while (n < MAX_PCRS && rd_be16(r, &bank) == 0 && rd_u8(r, &index) == 0 && quote_digest_size(bank) &&
               rd_bytes(r, quote_digest_size(bank), &d) == 0) {
                pcrs[n] = (struct quote_pcr){ .bank = bank, .index = index };
                memcpy(pcrs[n].digest, d, quote_digest_size(bank));
                n++;
                size_t b;
                for (b = 0; b < sel->n_banks && sel->bank[b].alg != bank; b++)
                        ;
                if (b == QUOTE_MAX_BANKS)
                        continue;
                if (b == sel->n_banks)
                        sel->bank[sel->n_banks++] = (struct quote_bank){ .alg = bank };
                if (index < 32) /* beyond 23: the selection is refused, as it should be */
                        sel->bank[b].pcrs |= UINT32_C(1) << index;
        }
        *ret_n = n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct quote_pcr pcrs[MAX_PCRS];
        static TPMS_ATTEST attest;
        static TPMT_SIGNATURE sig;
        struct quote_selection sel;
        struct quote_evidence ev = { 0 };
        struct quote_expect ex = { .selection = &sel };
        struct quote_info info;
        struct reader r;
        char why[256];

        rd_init(&r, data, size);
        if (field(&r, &ex.ek_pub, &ex.ek_pub_len) < 0 || field(&r, &ev.ak_pub, &ev.ak_pub_len) < 0 ||
            field(&r, &ev.attest, &ev.attest_len) < 0 || field(&r, &ev.sig, &ev.sig_len) < 0 ||
            field(&r, &ex.extra, &ex.extra_len) < 0)
                return 0;
        pcr_values(&r, pcrs, &ev.n_pcrs, &sel);
        ev.pcrs = pcrs;

        /* the parsers alone, whatever the others make of their fields */
        why[0] = 0;
        if (quote_parse_attest(ev.attest, ev.attest_len, &attest, why, sizeof(why)) == 0)
                (void)quote_check_clock(&attest.clockInfo, why, sizeof(why));
        else if (!why[0])
                __builtin_trap();
        why[0] = 0;
        if (quote_parse_signature(ev.sig, ev.sig_len, &sig, why, sizeof(why)) < 0 && !why[0])
                __builtin_trap();

        why[0] = 0;
        if (quote_verify(&ev, &ex, &info, why, sizeof(why)) < 0) {
                if (!why[0] || !memchr(why, 0, sizeof(why)))
                        __builtin_trap();
        }
        return 0;
}
