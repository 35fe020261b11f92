/* SPDX-License-Identifier: Apache-2.0 */
/* TPM2_Quote verification (attest/quote.c) on quotes captured from swtpm
 * with tpm2-tools (tests/attest/data/quote-*, made by
 * EMBER_QUOTE_CAPTURE=DIR tests/attest/t-quote-tpm2tools BUILD-DIR): one
 * EK; AKs rsa, rsa2 (RSASSA-SHA256), ecc (ECDSA P-256 SHA-256), ecc384
 * (ECDSA P-384 SHA-384), pss (RSAPSS-SHA256), each with a quote over
 * sha256:0,2,4,7,9 qualified by quote-nonce; and a quote from an
 * unrestricted signing key.
 *
 * The same binary is the verifier the integration test drives. With
 * EMBER_QUOTE_AK set, main() runs one verification instead of the tests:
 *   EMBER_QUOTE_EK     the EK's TPM2B_PUBLIC (tpm2_createek -u), the AK's parent
 *   EMBER_QUOTE_AK     the AK's TPM2B_PUBLIC (tpm2_createak -u)
 *   EMBER_QUOTE_MSG    the TPMS_ATTEST (tpm2_quote -m)
 *   EMBER_QUOTE_SIG    the TPMT_SIGNATURE (tpm2_quote -s)
 *   EMBER_QUOTE_PCRS   the PCR values as text, one "sha256:N=<hex>" a line
 *   EMBER_QUOTE_NONCE  the expected qualifying data in hex (tpm2_quote -q)
 *   EMBER_QUOTE_SEL    optional: the selection asked for, e.g.
 *                      "sha256:0,2,4,7,9+sha1:0"; default: that of the PCRs
 * It prints "accept" (the clock and counters go to stderr) and exits 0, or
 * prints "reject: <reason>" and exits 1; 2 when the inputs cannot be read. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <tss2/tss2_mu.h>

#include "fileio.h"
#include "quote.h"
#include "util.h"

#define MAX_FILE (64 * 1024)
#define MAX_PCRS (QUOTE_MAX_BANKS * QUOTE_PCRS)

/* ---- inputs: files, hex, PCR text ---- */

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char)(c | 0x20);
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Hex (surrounding white space ignored) to at most max bytes. */
static int parse_hex(const char *s, uint8_t *out, size_t max, size_t *ret_len)
{
        size_t n = 0;
        while (*s == ' ' || *s == '\t' || *s == '\n')
                s++;
        for (; hexval(s[0]) >= 0 && hexval(s[1]) >= 0; s += 2) {
                if (n == max)
                        return -E2BIG;
                out[n++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
        }
        while (*s == ' ' || *s == '\t' || *s == '\n')
                s++;
        if (*s)
                return -EINVAL;
        *ret_len = n;
        return 0;
}

static uint16_t alg_from_name(const char *s)
{
        return streq(s, "sha1") ? TPM2_ALG_SHA1 :
               streq(s, "sha256") ? TPM2_ALG_SHA256 :
               streq(s, "sha384") ? TPM2_ALG_SHA384 :
               streq(s, "sha512") ? TPM2_ALG_SHA512 : 0;
}

/* Adds PCR index of bank alg to sel, a new bank going last. */
static int sel_add(struct quote_selection *sel, uint16_t alg, unsigned index)
{
        size_t b;
        for (b = 0; b < sel->n_banks && sel->bank[b].alg != alg; b++)
                ;
        if (b == QUOTE_MAX_BANKS)
                return -E2BIG;
        if (b == sel->n_banks)
                sel->bank[sel->n_banks++] = (struct quote_bank){ .alg = alg };
        sel->bank[b].pcrs |= UINT32_C(1) << index;
        return 0;
}

/* "sha256:0,2,4+sha1:0" */
static int parse_sel(const char *spec, struct quote_selection *ret)
{
        struct quote_selection sel = { 0 };
        char buf[256], *save = NULL;
        if (strlen(spec) >= sizeof(buf))
                return -EINVAL;
        strcpy(buf, spec);
        for (char *bank = strtok_r(buf, "+", &save); bank; bank = strtok_r(NULL, "+", &save)) {
                char *list = strchr(bank, ':'), *save2 = NULL;
                if (!list)
                        return -EINVAL;
                *list++ = 0;
                uint16_t alg = alg_from_name(bank);
                if (!alg)
                        return -EINVAL;
                for (char *i = strtok_r(list, ",", &save2); i; i = strtok_r(NULL, ",", &save2)) {
                        char *end;
                        unsigned long v = strtoul(i, &end, 10);
                        if (*end || v >= QUOTE_PCRS || sel_add(&sel, alg, (unsigned)v) < 0)
                                return -EINVAL;
                }
        }
        *ret = sel;
        return 0;
}

/* One "sha256:N=<hex>" a line; the selection they make, banks in order of
 * first appearance. */
static int parse_pcrs(const char *text, struct quote_pcr *pcrs, size_t *ret_n, struct quote_selection *ret_sel)
{
        struct quote_selection sel = { 0 };
        size_t n = 0;
        for (const char *p = text; *p;) {
                const char *eol = strchrnul(p, '\n');
                char line[256], alg[16], hex[2 * QUOTE_DIGEST_MAX + 2];
                unsigned index;
                size_t len;
                if ((size_t)(eol - p) >= sizeof(line))
                        return -EINVAL;
                memcpy(line, p, (size_t)(eol - p));
                line[eol - p] = 0;
                p = *eol ? eol + 1 : eol;
                if (!line[0])
                        continue;
                if (n == MAX_PCRS || sscanf(line, "%15[a-z0-9]:%u=%129s", alg, &index, hex) != 3)
                        return -EINVAL;
                pcrs[n] = (struct quote_pcr){ .bank = alg_from_name(alg), .index = (uint8_t)index };
                if (!pcrs[n].bank || index >= QUOTE_PCRS || parse_hex(hex, pcrs[n].digest, QUOTE_DIGEST_MAX, &len) < 0 ||
                    len != quote_digest_size(pcrs[n].bank) || sel_add(&sel, pcrs[n].bank, index) < 0)
                        return -EINVAL;
                n++;
        }
        *ret_n = n;
        *ret_sel = sel;
        return 0;
}

/* ---- the CLI ---- */

static int cli_read(const char *var, char **ret, size_t *ret_len)
{
        const char *path = getenv(var);
        if (!path)
                return fprintf(stderr, "test_attest_quote: %s is not set\n", var), -EINVAL;
        int r = read_file_all(path, MAX_FILE, ret, ret_len);
        if (r < 0)
                fprintf(stderr, "test_attest_quote: reading %s (%s) failed: %s\n", path, var, strerror(-r));
        return r;
}

static int cli(void)
{
        _cleanup_free_ char *ek = NULL, *ak = NULL, *msg = NULL, *sig = NULL, *pcrtext = NULL;
        size_t ek_len, ak_len, msg_len, sig_len, pcr_len, n_pcrs, nonce_len;
        static struct quote_pcr pcrs[MAX_PCRS];
        struct quote_selection sel;
        uint8_t nonce[QUOTE_DIGEST_MAX];
        char why[512] = "";
        struct quote_info info;

        if (cli_read("EMBER_QUOTE_EK", &ek, &ek_len) < 0 || cli_read("EMBER_QUOTE_AK", &ak, &ak_len) < 0 ||
            cli_read("EMBER_QUOTE_MSG", &msg, &msg_len) < 0 || cli_read("EMBER_QUOTE_SIG", &sig, &sig_len) < 0 ||
            cli_read("EMBER_QUOTE_PCRS", &pcrtext, &pcr_len) < 0)
                return 2;
        const char *nh = getenv("EMBER_QUOTE_NONCE");
        if (!nh || parse_hex(nh, nonce, sizeof(nonce), &nonce_len) < 0 || nonce_len == 0)
                return fprintf(stderr, "test_attest_quote: EMBER_QUOTE_NONCE must be 1 to 64 bytes in hex\n"), 2;
        if (parse_pcrs(pcrtext, pcrs, &n_pcrs, &sel) < 0)
                return fprintf(stderr, "test_attest_quote: EMBER_QUOTE_PCRS: expected lines sha256:N=<hex>\n"), 2;
        const char *s = getenv("EMBER_QUOTE_SEL");
        if (s && parse_sel(s, &sel) < 0)
                return fprintf(stderr, "test_attest_quote: EMBER_QUOTE_SEL: expected e.g. sha256:0,2,4\n"), 2;

        const struct quote_evidence ev = {
                .ak_pub = (const uint8_t *)ak, .ak_pub_len = ak_len,
                .attest = (const uint8_t *)msg, .attest_len = msg_len,
                .sig = (const uint8_t *)sig, .sig_len = sig_len,
                .pcrs = pcrs, .n_pcrs = n_pcrs,
        };
        const struct quote_expect ex = {
                .ek_pub = (const uint8_t *)ek, .ek_pub_len = ek_len,
                .extra = nonce, .extra_len = nonce_len,
                .selection = &sel,
        };
        int r = quote_verify(&ev, &ex, &info, why, sizeof(why));
        if (r < 0) {
                printf("reject: %s\n", why);
                return 1;
        }
        printf("accept\n");
        fprintf(stderr, "hash 0x%04x, clock %llu ms, resetCount %u, restartCount %u\n", info.hash_alg,
                (unsigned long long)info.clock, info.reset_count, info.restart_count);
        return 0;
}

/* ---- fixtures ---- */

struct fixture {
        char *ek, *ak, *msg, *sig;
        size_t ek_len, ak_len, msg_len, sig_len;
        struct quote_pcr pcrs[MAX_PCRS];
        size_t n_pcrs;
        struct quote_selection sel;
        uint8_t nonce[QUOTE_DIGEST_MAX];
        size_t nonce_len;
        struct quote_evidence ev;
        struct quote_expect ex;
};

static void read_data(const char *name, char **ret, size_t *ret_len)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", EMBER_TEST_DATA, name);
        int r = read_file_all(path, MAX_FILE, ret, ret_len);
        if (r < 0)
                fail_msg("reading %s: %s", path, strerror(-r));
}

/* The AK of key and the quote of quote (usually the same name). */
static struct fixture *fixture_load(const char *key, const char *quote)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char name[64], *text;
        size_t len;
        assert_non_null(f);
        read_data("quote-ek.pub", &f->ek, &f->ek_len);
        snprintf(name, sizeof(name), "quote-ak-%s.pub", key);
        read_data(name, &f->ak, &f->ak_len);
        snprintf(name, sizeof(name), "quote-%s.msg", quote);
        read_data(name, &f->msg, &f->msg_len);
        snprintf(name, sizeof(name), "quote-%s.sig", quote);
        read_data(name, &f->sig, &f->sig_len);
        read_data("quote-pcrs", &text, &len);
        assert_int_equal(parse_pcrs(text, f->pcrs, &f->n_pcrs, &f->sel), 0);
        free(text);
        read_data("quote-nonce", &text, &len);
        assert_int_equal(parse_hex(text, f->nonce, sizeof(f->nonce), &f->nonce_len), 0);
        free(text);
        f->ev = (struct quote_evidence){
                .ak_pub = (const uint8_t *)f->ak, .ak_pub_len = f->ak_len,
                .attest = (const uint8_t *)f->msg, .attest_len = f->msg_len,
                .sig = (const uint8_t *)f->sig, .sig_len = f->sig_len,
                .pcrs = f->pcrs, .n_pcrs = f->n_pcrs,
        };
        f->ex = (struct quote_expect){
                .ek_pub = (const uint8_t *)f->ek, .ek_pub_len = f->ek_len,
                .extra = f->nonce, .extra_len = f->nonce_len,
                .selection = &f->sel,
        };
        return f;
}

static void fixture_free(struct fixture *f)
{
        free(f->ek);
        free(f->ak);
        free(f->msg);
        free(f->sig);
        free(f);
}

static void expect_accept(const struct quote_evidence *ev, const struct quote_expect *ex, struct quote_info *ret)
{
        char why[512] = "";
        int r = quote_verify(ev, ex, ret, why, sizeof(why));
        if (r < 0)
                fail_msg("rejected (%s): %s", strerror(-r), why);
}

/* Refused with err, a reason containing needle (when given), and *ret
 * untouched. */
static void expect_reject(const struct quote_evidence *ev, const struct quote_expect *ex, int err, const char *needle)
{
        char why[512] = "";
        struct quote_info info, before;
        memset(&info, 0xa5, sizeof(info));
        memcpy(&before, &info, sizeof(info));
        int r = quote_verify(ev, ex, &info, why, sizeof(why));
        if (r != err)
                fail_msg("expected %d (%s), got %d (%s): %s", err, strerror(-err), r, r < 0 ? strerror(-r) : "accepted",
                         why);
        if (!why[0])
                fail_msg("refused without a reason");
        if (needle && !strstr(why, needle))
                fail_msg("reason \"%s\" does not name \"%s\"", why, needle);
        assert_memory_equal(&info, &before, sizeof(info));
}

/* ---- tests ---- */

static void test_accept(void **state)
{
        static const struct {
                const char *name;
                uint16_t hash;
        } ok[] = { { "rsa", TPM2_ALG_SHA256 }, { "rsa2", TPM2_ALG_SHA256 }, { "ecc", TPM2_ALG_SHA256 },
                   { "ecc384", TPM2_ALG_SHA384 }, { "pss", TPM2_ALG_SHA256 } };
        struct quote_info first = { 0 };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                struct fixture *f = fixture_load(ok[i].name, ok[i].name);
                struct quote_info info;
                expect_accept(&f->ev, &f->ex, &info);
                /* P-384: pcrDigest is SHA-384 over the SHA-256 bank's values */
                assert_int_equal(info.hash_alg, ok[i].hash);
                /* captured in this order within one boot of one swtpm */
                if (i == 0)
                        first = info;
                assert_int_equal(quote_check_counters(&first, &info, NULL, 0), 0);
                assert_int_equal(info.reset_count, first.reset_count);
                /* ret may be NULL */
                assert_int_equal(quote_verify(&f->ev, &f->ex, NULL, NULL, 0), 0);
                fixture_free(f);
        }
}

static void test_every_byte_flip(void **state)
{
        static const char *const names[] = { "rsa", "ecc", "pss" };
        for (size_t k = 0; k < ELEMENTSOF(names); k++) {
                struct fixture *f = fixture_load(names[k], names[k]);
                uint8_t *m = (uint8_t *)f->msg;
                for (size_t i = 0; i < f->msg_len; i++)
                        for (unsigned x = 0x01; x <= 0x80; x <<= 7) {
                                char why[512] = "";
                                struct quote_info info, before;
                                memset(&info, 0x5a, sizeof(info));
                                memcpy(&before, &info, sizeof(info));
                                m[i] ^= (uint8_t)x;
                                int r = quote_verify(&f->ev, &f->ex, &info, why, sizeof(why));
                                m[i] ^= (uint8_t)x;
                                if (r >= 0 || !why[0])
                                        fail_msg("%s: byte %zu ^ 0x%02x: %d, \"%s\"", names[k], i, x, r, why);
                                assert_memory_equal(&info, &before, sizeof(info));
                        }
                fixture_free(f);
        }
}

static void truncate_each(struct fixture *f, size_t *len, const char *what)
{
        size_t full = *len;
        for (size_t l = 0; l < full; l++) {
                *len = l;
                char why[512] = "";
                struct quote_info info, before;
                memset(&info, 0xa5, sizeof(info));
                memcpy(&before, &info, sizeof(info));
                int r = quote_verify(&f->ev, &f->ex, &info, why, sizeof(why));
                if (r != -EBADMSG || !why[0])
                        fail_msg("%s cut to %zu of %zu bytes: %d, \"%s\"", what, l, full, r, why);
                assert_memory_equal(&info, &before, sizeof(info));
        }
        *len = full;
}

static void test_truncations(void **state)
{
        static const char *const names[] = { "rsa", "ecc" };
        for (size_t k = 0; k < ELEMENTSOF(names); k++) {
                struct fixture *f = fixture_load(names[k], names[k]);
                truncate_each(f, &f->ex.ek_pub_len, "EK public");
                truncate_each(f, &f->ev.ak_pub_len, "AK public");
                truncate_each(f, &f->ev.attest_len, "attest");
                truncate_each(f, &f->ev.sig_len, "signature");
                expect_accept(&f->ev, &f->ex, NULL);

                /* the parsers on their own write nothing when they refuse */
                for (size_t l = 0; l < f->msg_len; l++) {
                        static TPMS_ATTEST a, before;
                        memset(&a, 0x33, sizeof(a));
                        before = a;
                        assert_int_equal(quote_parse_attest((const uint8_t *)f->msg, l, &a, NULL, 0), -EBADMSG);
                        assert_memory_equal(&a, &before, sizeof(a));
                }
                for (size_t l = 0; l < f->sig_len; l++) {
                        static TPMT_SIGNATURE s, before;
                        memset(&s, 0x33, sizeof(s));
                        before = s;
                        assert_int_equal(quote_parse_signature((const uint8_t *)f->sig, l, &s, NULL, 0), -EBADMSG);
                        assert_memory_equal(&s, &before, sizeof(s));
                }
                fixture_free(f);
        }
}

static void test_trailing_bytes(void **state)
{
        struct fixture *f = fixture_load("rsa", "rsa");
        char *bufs[] = { f->ek, f->ak, f->msg, f->sig };
        size_t *lens[] = { &f->ex.ek_pub_len, &f->ev.ak_pub_len, &f->ev.attest_len, &f->ev.sig_len };
        const uint8_t **ptrs[] = { &f->ex.ek_pub, &f->ev.ak_pub, &f->ev.attest, &f->ev.sig };
        static const char *const what[] = { "EK public", "AK public", "TPMS_ATTEST", "TPMT_SIGNATURE" };
        for (size_t i = 0; i < ELEMENTSOF(bufs); i++) {
                const uint8_t *orig = *ptrs[i];
                uint8_t *longer = calloc(1, *lens[i] + 1);
                assert_non_null(longer);
                memcpy(longer, bufs[i], *lens[i]);
                *ptrs[i] = longer;
                (*lens[i])++;
                expect_reject(&f->ev, &f->ex, -EBADMSG, what[i]);
                expect_reject(&f->ev, &f->ex, -EBADMSG, "after its end");
                (*lens[i])--;
                *ptrs[i] = orig;
                free(longer);
        }
        /* longer than the TPM type can be: refused before unmarshalling */
        uint8_t *huge = calloc(1, sizeof(TPMS_ATTEST) + sizeof(TPM2B_PUBLIC) + 1);
        assert_non_null(huge);
        f->ev.attest = huge;
        f->ev.attest_len = sizeof(TPMS_ATTEST) + 1;
        expect_reject(&f->ev, &f->ex, -EMSGSIZE, "longer than a TPMS_ATTEST");
        f->ev.attest = (const uint8_t *)f->msg;
        f->ev.attest_len = f->msg_len;
        f->ev.ak_pub = huge;
        f->ev.ak_pub_len = sizeof(TPM2B_PUBLIC) + 1;
        expect_reject(&f->ev, &f->ex, -EMSGSIZE, "AK public");
        free(huge);
        fixture_free(f);
}

static void test_extra_data(void **state)
{
        struct fixture *f = fixture_load("ecc", "ecc");
        f->nonce[5] ^= 1;
        expect_reject(&f->ev, &f->ex, -ESTALE, "extraData");
        f->nonce[5] ^= 1;
        f->ex.extra_len--;
        expect_reject(&f->ev, &f->ex, -ESTALE, "extraData");
        f->ex.extra_len++;
        expect_accept(&f->ev, &f->ex, NULL);
        fixture_free(f);
}

static void test_selection(void **state)
{
        struct fixture *f = fixture_load("rsa", "rsa");
        struct quote_selection sel;

        assert_int_equal(parse_sel("sha256:0,2,4,7", &sel), 0);
        f->ex.selection = &sel;
        expect_reject(&f->ev, &f->ex, -EDOM, "quote selects sha256 PCRs 0,2,4,7,9, 0,2,4,7 were asked for");
        assert_int_equal(parse_sel("sha256:0,2,4,7,9,10", &sel), 0);
        expect_reject(&f->ev, &f->ex, -EDOM, "quote selects sha256 PCRs 0,2,4,7,9, 0,2,4,7,9,10 were asked for");
        assert_int_equal(parse_sel("sha1:0,2,4,7,9", &sel), 0);
        expect_reject(&f->ev, &f->ex, -EDOM, "is sha256, sha1 was asked for");
        assert_int_equal(parse_sel("sha256:0,2,4,7,9+sha1:0", &sel), 0);
        expect_reject(&f->ev, &f->ex, -EDOM, "covers 1 PCR banks, 2 were asked for");

        /* the server's own selection must make sense */
        sel = (struct quote_selection){ .n_banks = 1, .bank = { { TPM2_ALG_SHA256, 0 } } };
        expect_reject(&f->ev, &f->ex, -EINVAL, NULL);
        sel.bank[0].pcrs = UINT32_C(1) << 24;
        expect_reject(&f->ev, &f->ex, -EINVAL, NULL);
        sel = (struct quote_selection){ .n_banks = 2, .bank = { { TPM2_ALG_SHA256, 1 }, { TPM2_ALG_SHA256, 2 } } };
        expect_reject(&f->ev, &f->ex, -EINVAL, NULL);
        f->ex.selection = NULL;
        expect_reject(&f->ev, &f->ex, -EINVAL, NULL);
        fixture_free(f);
}

static void test_pcr_values(void **state)
{
        struct fixture *f = fixture_load("ecc384", "ecc384");
        struct quote_pcr saved;

        f->pcrs[2].digest[31] ^= 0x80;
        expect_reject(&f->ev, &f->ex, -EILSEQ, "pcrDigest");
        f->pcrs[2].digest[31] ^= 0x80;

        /* the order of the reported values does not matter, the selection's does */
        saved = f->pcrs[0];
        f->pcrs[0] = f->pcrs[4];
        f->pcrs[4] = saved;
        expect_accept(&f->ev, &f->ex, NULL);
        f->pcrs[4] = f->pcrs[0];
        f->pcrs[0] = saved;

        f->ev.n_pcrs--;
        expect_reject(&f->ev, &f->ex, -ENODATA, "PCR sha256:9 is quoted but no value was reported");
        f->ev.n_pcrs++;

        f->pcrs[f->n_pcrs] = f->pcrs[1];
        f->ev.n_pcrs++;
        expect_reject(&f->ev, &f->ex, -ENODATA, "PCR sha256:2 reported more than once");
        f->pcrs[f->n_pcrs].index = 1;
        expect_reject(&f->ev, &f->ex, -ENODATA, "PCR sha256:1 reported but not quoted");
        f->pcrs[f->n_pcrs].index = 200;
        expect_reject(&f->ev, &f->ex, -ENODATA, "PCR sha256:200 reported but not quoted");
        f->pcrs[f->n_pcrs] = (struct quote_pcr){ .bank = TPM2_ALG_SHA1, .index = 0 };
        expect_reject(&f->ev, &f->ex, -ENODATA, "PCR sha1:0 reported but not quoted");
        f->ev.n_pcrs--;

        f->ev.pcrs = NULL;
        expect_reject(&f->ev, &f->ex, -EINVAL, NULL);
        f->ev.n_pcrs = 0;
        expect_reject(&f->ev, &f->ex, -ENODATA, "no value was reported");
        fixture_free(f);
}

static void test_qualified_signer(void **state)
{
        /* rsa2's quote and signature, presented with rsa's public area */
        struct fixture *f = fixture_load("rsa", "rsa2");
        expect_reject(&f->ev, &f->ex, -ENOKEY, "qualifiedSigner");
        fixture_free(f);

        /* the right AK under another parent: the AK is not the EK's child */
        f = fixture_load("rsa", "rsa");
        f->ex.ek_pub = (const uint8_t *)f->ak;
        f->ex.ek_pub_len = f->ak_len;
        expect_reject(&f->ev, &f->ex, -ENOKEY, "qualifiedSigner");
        fixture_free(f);
}

/* The signature of quote other, with the AK and quote of key. */
static void signature_of(const char *key, const char *other, int err, const char *needle)
{
        struct fixture *f = fixture_load(key, key), *o = fixture_load(other, other);
        f->ev.sig = (const uint8_t *)o->sig;
        f->ev.sig_len = o->sig_len;
        expect_reject(&f->ev, &f->ex, err, needle);
        fixture_free(o);
        fixture_free(f);
}

static void test_signature(void **state)
{
        signature_of("rsa", "rsa2", -EBADE, "signature does not verify with the AK: ");
        signature_of("ecc", "ecc384", -EOPNOTSUPP, "signature scheme ecdsa-sha384 is not the AK's ecdsa-sha256");
        signature_of("rsa", "ecc", -EOPNOTSUPP, "signature algorithm ecdsa does not fit an RSA AK");
        signature_of("ecc", "rsa", -EOPNOTSUPP, "signature algorithm rsassa does not fit an ECC AK");
        signature_of("rsa", "pss", -EOPNOTSUPP, "signature scheme rsapss-sha256 is not the AK's rsassa-sha256");

        struct fixture *f = fixture_load("ecc", "ecc");
        uint8_t *s = (uint8_t *)f->sig;
        /* TPMT_SIGNATURE: sigAlg, hash, TPM2B r, TPM2B s */
        s[3] = TPM2_ALG_SHA1;
        expect_reject(&f->ev, &f->ex, -EOPNOTSUPP, "signature hash sha1 not accepted");
        s[3] = TPM2_ALG_SHA256;
        s[6] ^= 0x01;
        expect_reject(&f->ev, &f->ex, -EBADE, "signature does not verify");
        s[6] ^= 0x01;
        s[f->sig_len - 1] ^= 0x01;
        expect_reject(&f->ev, &f->ex, -EBADE, "signature does not verify");
        s[f->sig_len - 1] ^= 0x01;
        expect_accept(&f->ev, &f->ex, NULL);
        fixture_free(f);
}

static void test_magic_and_type(void **state)
{
        struct fixture *f = fixture_load("rsa", "rsa");
        uint8_t *m = (uint8_t *)f->msg;
        m[0] ^= 0x01;
        expect_reject(&f->ev, &f->ex, -EPROTO, "TPM_GENERATED_VALUE");
        m[0] ^= 0x01;

        /* another kind of attestation from the same AK */
        TPMS_ATTEST a;
        uint8_t buf[sizeof(TPMS_ATTEST)];
        size_t len = 0;
        assert_int_equal(quote_parse_attest(m, f->msg_len, &a, NULL, 0), 0);
        a.type = TPM2_ST_ATTEST_CERTIFY;
        memset(&a.attested, 0, sizeof(a.attested));
        assert_int_equal(Tss2_MU_TPMS_ATTEST_Marshal(&a, buf, sizeof(buf), &len), TSS2_RC_SUCCESS);
        f->ev.attest = buf;
        f->ev.attest_len = len;
        expect_reject(&f->ev, &f->ex, -EPROTOTYPE, "TPM_ST_ATTEST_QUOTE");
        fixture_free(f);
}

static TPM2B_PUBLIC parse_ak(const char *name)
{
        char file[64], *buf;
        size_t len, off = 0;
        TPM2B_PUBLIC pub = { 0 };
        snprintf(file, sizeof(file), "quote-ak-%s.pub", name);
        read_data(file, &buf, &len);
        assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Unmarshal((const uint8_t *)buf, len, &off, &pub), TSS2_RC_SUCCESS);
        assert_int_equal(off, len);
        free(buf);
        return pub;
}

static void ak_refused(const TPMT_PUBLIC *ak, const char *needle)
{
        char why[256] = "";
        assert_int_equal(quote_check_ak(ak, why, sizeof(why)), -EKEYREJECTED);
        if (!strstr(why, needle))
                fail_msg("reason \"%s\" does not name \"%s\"", why, needle);
}

static void test_ak_attributes(void **state)
{
        static const struct {
                TPMA_OBJECT attr;
                bool set;
                const char *why;
        } rules[] = {
                { TPMA_OBJECT_RESTRICTED, false, "AK not restricted" },
                { TPMA_OBJECT_SIGN_ENCRYPT, false, "AK not a signing key" },
                { TPMA_OBJECT_DECRYPT, true, "AK is a decryption key" },
                { TPMA_OBJECT_FIXEDTPM, false, "AK not fixedTPM" },
                { TPMA_OBJECT_FIXEDPARENT, false, "AK not fixedParent" },
                { TPMA_OBJECT_SENSITIVEDATAORIGIN, false, "AK not sensitiveDataOrigin" },
        };
        TPM2B_PUBLIC rsa = parse_ak("rsa"), ecc = parse_ak("ecc384");
        TPMT_PUBLIC k;
        assert_int_equal(quote_check_ak(&rsa.publicArea, NULL, 0), 0);
        assert_int_equal(quote_check_ak(&ecc.publicArea, NULL, 0), 0);
        for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
                k = rsa.publicArea;
                k.objectAttributes = rules[i].set ? k.objectAttributes | rules[i].attr : k.objectAttributes & ~rules[i].attr;
                ak_refused(&k, rules[i].why);
        }
        k = rsa.publicArea, k.nameAlg = TPM2_ALG_SHA1, ak_refused(&k, "AK nameAlg sha1 not supported");
        k = rsa.publicArea, k.nameAlg = TPM2_ALG_SHA512, ak_refused(&k, "AK nameAlg sha512 not supported");
        k = rsa.publicArea, k.type = TPM2_ALG_KEYEDHASH, ak_refused(&k, "not an RSA or ECC key");
        k = rsa.publicArea, k.parameters.rsaDetail.keyBits = 1024, ak_refused(&k, "RSA key size 1024");
        k = rsa.publicArea, k.unique.rsa.size = 128, ak_refused(&k, "modulus is 128 bytes");
        k = rsa.publicArea, k.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSAES, ak_refused(&k, "signing scheme");
        k = rsa.publicArea, k.parameters.rsaDetail.scheme.details.anySig.hashAlg = TPM2_ALG_SHA1,
        ak_refused(&k, "scheme hash sha1");
        k = ecc.publicArea, k.parameters.eccDetail.curveID = TPM2_ECC_NIST_P521, ak_refused(&k, "curve 0x0005");
        k = ecc.publicArea, k.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDAA, ak_refused(&k, "scheme ecdaa");
        assert_int_equal(quote_check_ak(NULL, NULL, 0), -EINVAL);

        /* a real quote from a signing key that is not restricted */
        struct fixture *f = fixture_load("unrestricted", "unrestricted");
        expect_reject(&f->ev, &f->ex, -EKEYREJECTED, "AK not restricted");
        fixture_free(f);
}

static void test_clock(void **state)
{
        char why[256] = "";
        TPMS_CLOCK_INFO ci = { .clock = 123456, .resetCount = 3, .restartCount = 0, .safe = TPM2_YES };
        assert_int_equal(quote_check_clock(&ci, why, sizeof(why)), 0);
        ci.safe = TPM2_NO;
        assert_int_equal(quote_check_clock(&ci, why, sizeof(why)), -ETIME);
        assert_non_null(strstr(why, "clockInfo.safe is NO"));
        ci.safe = 2; /* neither YES nor NO */
        assert_int_equal(quote_check_clock(&ci, NULL, 0), -ETIME);
        assert_int_equal(quote_check_clock(NULL, NULL, 0), -EINVAL);
}

static void test_counters(void **state)
{
        char why[256] = "";
        const struct quote_info prev = { .clock = 5000, .reset_count = 7, .restart_count = 2 };
        struct quote_info cur = prev;
        assert_int_equal(quote_check_counters(&prev, &cur, why, sizeof(why)), 0); /* a second quote, same instant */
        cur.clock = 9000;
        assert_int_equal(quote_check_counters(&prev, &cur, why, sizeof(why)), 0);
        cur.reset_count = 8, cur.restart_count = 0;                               /* the next boot */
        assert_int_equal(quote_check_counters(&prev, &cur, why, sizeof(why)), 0);
        cur.reset_count = 6;
        assert_int_equal(quote_check_counters(&prev, &cur, why, sizeof(why)), -ERANGE);
        assert_non_null(strstr(why, "resetCount went back from 7 to 6"));
        cur.reset_count = 7, cur.restart_count = 1;
        assert_int_equal(quote_check_counters(&prev, &cur, why, sizeof(why)), -ERANGE);
        assert_non_null(strstr(why, "restartCount went back from 2 to 1"));
        cur.restart_count = 2, cur.clock = 4999;
        assert_int_equal(quote_check_counters(&prev, &cur, why, sizeof(why)), -ERANGE);
        assert_non_null(strstr(why, "Clock went back"));
        assert_int_equal(quote_check_counters(NULL, &cur, NULL, 0), -EINVAL);
}

static void test_bad_arguments(void **state)
{
        struct fixture *f = fixture_load("rsa", "rsa");
        struct quote_evidence ev = f->ev;
        struct quote_expect ex = f->ex;
        uint8_t big[QUOTE_DIGEST_MAX + 1] = { 0 };

        assert_int_equal(quote_verify(NULL, &ex, NULL, NULL, 0), -EINVAL);
        assert_int_equal(quote_verify(&ev, NULL, NULL, NULL, 0), -EINVAL);
        ev.ak_pub = NULL, expect_reject(&ev, &ex, -EINVAL, NULL), ev = f->ev;
        ev.attest = NULL, expect_reject(&ev, &ex, -EINVAL, NULL), ev = f->ev;
        ev.sig = NULL, expect_reject(&ev, &ex, -EINVAL, NULL), ev = f->ev;
        ex.ek_pub = NULL, expect_reject(&ev, &ex, -EINVAL, NULL), ex = f->ex;
        ex.extra = NULL, expect_reject(&ev, &ex, -EINVAL, NULL), ex = f->ex;
        ex.extra_len = 0, expect_reject(&ev, &ex, -EINVAL, NULL), ex = f->ex;
        ex.extra = big, ex.extra_len = sizeof(big), expect_reject(&ev, &ex, -EINVAL, NULL), ex = f->ex;
        assert_int_equal(quote_parse_attest(NULL, 0, NULL, NULL, 0), -EINVAL);
        assert_int_equal(quote_parse_signature(NULL, 0, NULL, NULL, 0), -EINVAL);

        /* a short reason buffer is filled, not overrun */
        char why[8];
        memset(why, 'x', sizeof(why));
        f->nonce[0] ^= 1;
        assert_int_equal(quote_verify(&f->ev, &f->ex, NULL, why, 4), -ESTALE);
        assert_int_equal(why[3], 0);
        assert_int_equal(why[4], 'x');
        fixture_free(f);
}

int main(int argc, char **argv)
{
        if (getenv("EMBER_QUOTE_AK"))
                return cli();

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_accept),
                cmocka_unit_test(test_every_byte_flip),
                cmocka_unit_test(test_truncations),
                cmocka_unit_test(test_trailing_bytes),
                cmocka_unit_test(test_extra_data),
                cmocka_unit_test(test_selection),
                cmocka_unit_test(test_pcr_values),
                cmocka_unit_test(test_qualified_signer),
                cmocka_unit_test(test_signature),
                cmocka_unit_test(test_magic_and_type),
                cmocka_unit_test(test_ak_attributes),
                cmocka_unit_test(test_clock),
                cmocka_unit_test(test_counters),
                cmocka_unit_test(test_bad_arguments),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
