/* SPDX-License-Identifier: Apache-2.0 */
/* The streaming opener, fed in uneven pieces, with a fixed pinned signer
 * (tests/overlay/testkeys.h, key A) and data key. Random bytes would never
 * get past the signature or a GCM tag, so the first byte picks how the
 * harness helps:
 *
 *   0: the rest is an overlay without its signature: the 184 signed header
 *      bytes, then the chunk records. The harness names key A as signer,
 *      sets the header length, fills in the ciphertext digest of the
 *      records when the second byte's bit 0 is set, and signs; the
 *      opener then judges the header's fields and the chunks. Seeds are
 *      real overlays sealed with the test data key, so their chunks open
 *      until the fuzzer alters them.
 *   1: the rest is a tar: the harness compresses and seals it truthfully,
 *      so every byte reaches libarchive and the entry rules.
 *   2: the rest is a zstd payload, sealed as it is (the decompressor's
 *      errors and what it makes of them), content_size the frame's own
 *      when it has one.
 *
 * Nothing is written (no staging directory): the entry rules are the same
 * and the file system is not the fuzzer's to change. */
#include <archive.h>
#include <archive_entry.h>
#include <mbedtls/sha256.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "helpers.h"
#include "open.h"

static struct overlay_signers *pins;
static struct overlay_signing_key *key;

static void feed(const uint8_t *p, size_t n, uint8_t pattern)
{
        static const size_t steps[] = { 1, 7, 300, 4096, 65536 };
        struct overlay_open_config c;
        struct overlay_open *o = NULL;
        char why[300];
        overlay_open_config_default(&c);
        c.signers = pins;
        c.data_key = (const uint8_t *)TEST_DATA_KEY;
        if (overlay_open_new(&c, &o, why, sizeof(why)) < 0)
                abort();
        int r = 0;
        for (size_t off = 0, i = pattern; off < n && r >= 0; i++) {
                size_t k = steps[i % 5] < n - off ? steps[i % 5] : n - off;
                r = overlay_open_feed(o, p + off, k);
                off += k;
        }
        if (r >= 0)
                r = overlay_open_finish(o);
        if (r < 0) {
                const char *e = overlay_open_error(o);
                if (!e || !*e || strlen(e) >= 512)
                        __builtin_trap();
        }
        overlay_open_free(o);
}

static void resign(const uint8_t *d, size_t n)
{
        static uint8_t hdr[OVERLAY_HEADER_MAX];
        static struct overlay_header h;
        struct buf out = { 0 };
        size_t len;
        if (n < 1 + OVERLAY_SIGNED_LEN) {
                feed(d, n, 0);
                return;
        }
        uint8_t flags = d[0];
        d++, n--;
        memset(hdr, 0, sizeof(hdr));
        memcpy(hdr, d, OVERLAY_SIGNED_LEN);
        hdr[12] = 0, hdr[13] = 0, hdr[14] = (OVERLAY_FIXED_LEN + 1) >> 8, hdr[15] = (OVERLAY_FIXED_LEN + 1) & 0xff;
        hdr[OVERLAY_SIGNED_LEN + 1] = 1; /* a placeholder signature to parse */
        if (overlay_header_parse(hdr, OVERLAY_FIXED_LEN + 1, &h, NULL) < 0) {
                feed(d, n, flags); /* magic, version or flags wrong: the prefix refuses it */
                return;
        }
        if (flags & 1)
                mbedtls_sha256_ret(d + OVERLAY_SIGNED_LEN, n - OVERLAY_SIGNED_LEN, h.ct_sha256, 0);
        if (overlay_header_sign(&h, key, NULL) < 0 || overlay_header_marshal(&h, hdr, sizeof(hdr), &len) < 0)
                abort();
        buf_add(&out, hdr, len);
        buf_add(&out, d + OVERLAY_SIGNED_LEN, n - OVERLAY_SIGNED_LEN);
        feed(out.p, out.n, flags >> 1);
        free(out.p);
}

static uint32_t count_entries(const uint8_t *p, size_t n)
{
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        uint32_t count = 0;
        archive_read_support_format_tar(a);
        if (archive_read_open_memory(a, p, n) == ARCHIVE_OK)
                while (archive_read_next_header(a, &e) == ARCHIVE_OK)
                        count++;
        archive_read_free(a);
        return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct buf out = { 0 };
        if (!pins && (overlay_signers_parse(TEST_PUB_A, strlen(TEST_PUB_A), &pins, NULL) < 0 ||
                      overlay_signing_key_parse(TEST_KEY_A, strlen(TEST_KEY_A), &key, NULL) < 0))
                abort();
        if (size < 1)
                return 0;
        uint8_t mode = data[0] % 3;
        data++, size--;
        if (mode == 0) {
                resign(data, size);
                return 0;
        }
        struct seal_opts o = { .chunk_size = OVERLAY_CHUNK_MIN };
        int r;
        if (mode == 1)
                r = overlay_from_tar(data, size, count_entries(data, size), &o, &out, NULL);
        else {
                /* the frame's own content size when it names one (and a tar
                 * of that size may then be read to its end) */
                unsigned long long n = ZSTD_getFrameContentSize(data, size);
                uint64_t content = n <= (1u << 20) ? n : 1u << 20;
                r = overlay_from_payload(data, size, content ? content : 1, 100, &o, &out, NULL);
        }
        if (r < 0)
                abort();
        feed(out.p, out.n, (uint8_t)size);
        free(out.p);
        return 0;
}
