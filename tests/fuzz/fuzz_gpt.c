/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: GUID partition tables from a disk nobody vouches for
 * (efi/gpt.c). The first byte chooses: bit 0 the sector size (512 or 4096),
 * bit 1 whether the CRCs are made right before parsing (so mutations reach
 * the checks behind them), bit 2 a small output array (-ENOBUFS). The rest
 * is the start of the disk. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gpt.h"
#include "rd_le.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fix_crcs(uint8_t *b, size_t len, unsigned ss)
{
        if (len < 2 * (size_t)ss)
                return;
        uint8_t *h = b + ss;
        uint64_t lba = le64_at(h + 72);
        uint64_t bytes = (uint64_t)le32_at(h + 80) * le32_at(h + 84);
        if (bytes <= (4u << 20) && lba < len / ss && bytes <= len - lba * ss)
                put_le32(h + 88, (uint32_t)crc32(0, b + lba * ss, (uInt)bytes));
        uint32_t hs = le32_at(h + 12);
        if (hs >= 92 && hs <= ss) {
                put_le32(h + 16, 0);
                put_le32(h + 16, (uint32_t)crc32(0, h, hs));
        }
}

static struct gpt_part parts[GPT_ENTRIES_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        unsigned ss = data[0] & 1 ? 4096 : 512;
        size_t cap = data[0] & 4 ? 4 : GPT_ENTRIES_MAX;
        size_t len = size - 1;
        uint8_t *b = malloc(len ? len : 1);
        if (!b)
                return 0;
        memcpy(b, data + 1, len);
        if (data[0] & 2)
                fix_crcs(b, len, ss);
        char why[256] = "";
        const struct reason w = { why, sizeof(why) };
        size_t n = SIZE_MAX;
        int r = gpt_parse(b, len, ss, parts, cap, &n, &w);
        if (r < 0) {
                assert(r == -EBADMSG || r == -ENOMSG || r == -ENOBUFS);
                assert(n == SIZE_MAX && why[0]);
        } else {
                assert(r == 0 && n <= cap);
                for (size_t i = 0; i < n; i++) {
                        const struct gpt_part *p = &parts[i];
                        uint8_t g[16];
                        assert(p->number >= 1 && p->number <= GPT_ENTRIES_MAX);
                        assert(i == 0 || p->number > parts[i - 1].number);
                        assert(p->first_lba <= p->last_lba);
                        assert(strlen(p->type_str) == 36 && strlen(p->uuid_str) == 36);
                        assert(gpt_guid_parse(p->uuid_str, g) == 0 && memcmp(g, p->uuid, 16) == 0);
                        assert(gpt_guid_parse(p->type_str, g) == 0 && memcmp(g, p->type, 16) == 0);
                        for (const char *c = p->name; *c; c++)
                                assert(*c >= 0x20 && *c < 0x7f);
                }
        }
        free(b);
        return 0;
}
