/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the write log reader of tests/lkg/blklog.c (QEMU blklogwrites /
 * dm-log-writes format). Whatever the log says, the parser either refuses it
 * or yields entries that lie inside the log; replaying them onto a small
 * window touches nothing outside it. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blklog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
        const uint8_t *p;
        size_t n;
};

static int mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
        const struct mem *m = ctx;
        /* the parser must never ask for bytes past the end */
        assert(off <= m->n && len <= m->n - off);
        memcpy(buf, m->p + off, len);
        return 0;
}

#define WINDOW 8192

struct img {
        uint8_t b[WINDOW];
};

static int img_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
        struct img *im = ctx;
        assert(off <= WINDOW && len <= WINDOW - off);
        memcpy(im->b + off, buf, len);
        return 0;
}

static bool keep_odd(void *ctx, uint64_t i)
{
        (void)ctx;
        return i & 1;
}

static void check(const struct blklog *l, const struct blklog_src *src)
{
        assert(l->n <= src->size / l->sectorsize);
        assert(l->end <= src->size);
        uint64_t prev = 0;
        for (uint64_t i = 0; i < l->n; i++) {
                const struct blklog_entry *e = &l->e[i];
                assert(e->log_off >= l->sectorsize && e->log_off > prev);
                assert(e->log_off <= src->size && src->size - e->log_off >= l->sectorsize);
                enum blklog_kind k = blklog_kind(e);
                if (k == BLKLOG_KIND_WRITE) {
                        assert(e->data_off == e->log_off + l->sectorsize);
                        assert(e->bytes <= src->size - e->data_off);
                }
                assert(e->bytes == e->nr_sectors * l->sectorsize);
                assert(e->disk_off <= (uint64_t)INT64_MAX - e->bytes);
                prev = e->log_off;
                char text[128];
                if (k == BLKLOG_KIND_MARK) {
                        assert(blklog_mark_text(l, src, i, text, sizeof(text)) == 0);
                        assert(strlen(text) < sizeof(text));
                }
                (void)blklog_kind_name(k);
        }
        for (uint64_t k = 0; k <= l->n; k++)
                assert(blklog_durable(l, k) <= k);

        /* replay everything onto a window at a few offsets, and the reorder
         * model's subset */
        static struct img im;
        struct blklog_dst dst = { .write = img_write, .ctx = &im };
        uint64_t offs[] = { 0, 512, l->n ? l->e[0].disk_off : 4096, (uint64_t)INT64_MAX - WINDOW };
        for (size_t j = 0; j < sizeof(offs) / sizeof(offs[0]); j++) {
                struct blklog_apply_stats st;
                int r = blklog_apply(l, src, 0, l->n, &dst, offs[j], WINDOW, false, NULL, NULL, &st, NULL);
                assert(r == 0);
                assert(st.applied + st.outside <= l->n);
                r = blklog_apply(l, src, blklog_durable(l, l->n), l->n, &dst, offs[j], WINDOW, false, keep_odd, NULL,
                                 &st, NULL);
                assert(r == 0);
                /* strict (whole-disk) replay refuses what leaves the window */
                (void)blklog_apply(l, src, 0, l->n, &dst, offs[j], WINDOW, true, NULL, NULL, NULL, NULL);
        }
        const uint64_t ranges[3][2] = { { 0, 512 }, { 4096, 1 }, { UINT64_MAX - 1, 2 } };
        (void)blklog_touches(l, 0, l->n, 0, ranges, 3);
        (void)blklog_touches(l, 0, l->n, UINT64_MAX, ranges, 3);
        assert(!blklog_touches(l, 0, l->n, 0, ranges, 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct mem m = { data, size };
        struct blklog_src src = { .read = mem_read, .ctx = &m, .size = size };
        char why[256];
        const struct reason w = { why, sizeof(why) };
        for (int all = 0; all < 2; all++) {
                struct blklog l;
                why[0] = '\0';
                int r = blklog_parse(&src, all, &l, &w);
                if (r < 0) {
                        /* a refusal always says why */
                        assert(r == -EBADMSG || r == -ENOMEM);
                        assert(why[0] != '\0');
                        continue;
                }
                check(&l, &src);
                blklog_free(&l);
        }
        return 0;
}
