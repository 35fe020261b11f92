/* SPDX-License-Identifier: Apache-2.0 */
/* dm-log-writes / QEMU blklogwrites log reader (blklog.h). Parse, then
 * check, then act: every offset and length taken from the log is checked
 * against the log's size, and every product against overflow, before any
 * read or write uses it. */
#include "blklog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static uint64_t le64(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
                v = v << 8 | p[i];
        return v;
}

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static bool power_of_two(uint32_t v) { return v && !(v & (v - 1)); }

void blklog_free(struct blklog *l)
{
        if (!l)
                return;
        free(l->e);
        l->e = NULL;
        l->n = 0;
}

/* One entry header at pos, checked against the log; *ret and *ret_next only
 * on success. */
static int parse_entry(const struct blklog_src *src, uint32_t ss, uint64_t i, uint64_t pos, struct blklog_entry *ret,
                       uint64_t *ret_next, const struct reason *w)
{
        uint8_t h[BLKLOG_ENTRY_SIZE];
        if (pos > src->size || src->size - pos < ss)
                return reason_fail(w, -EBADMSG, "entry %" PRIu64 ": its header at byte %" PRIu64
                                   " is past the end of the log (%" PRIu64 " bytes)", i, pos, src->size);
        int r = src->read(src->ctx, h, sizeof(h), pos);
        if (r < 0)
                return reason_fail(w, r, "entry %" PRIu64 ": cannot read its header at byte %" PRIu64 ": %s", i, pos,
                                   strerror(-r));
        struct blklog_entry e = {
                .sector = le64(h),
                .nr_sectors = le64(h + 8),
                .flags = le64(h + 16),
                .data_len = le64(h + 24),
                .log_off = pos,
        };
        if (e.flags & ~BLKLOG_KNOWN_FLAGS)
                return reason_fail(w, -EBADMSG, "entry %" PRIu64 ": unknown flags 0x%" PRIx64, i, e.flags);
        bool discard = e.flags & BLKLOG_DISCARD, mark = e.flags & BLKLOG_MARK;
        if (discard && mark)
                return reason_fail(w, -EBADMSG, "entry %" PRIu64 ": both DISCARD and MARK", i);
        if (mark) {
                if (e.nr_sectors != 0)
                        return reason_fail(w, -EBADMSG, "entry %" PRIu64 ": a MARK with %" PRIu64 " sectors", i,
                                           e.nr_sectors);
                if (e.data_len > ss - BLKLOG_ENTRY_SIZE)
                        return reason_fail(w, -EBADMSG, "entry %" PRIu64 ": mark text of %" PRIu64
                                           " bytes does not fit its sector", i, e.data_len);
        }
        /* the disk range: sector * ss + nr_sectors * ss within an off_t */
        const uint64_t max_sectors = (uint64_t)INT64_MAX / ss;
        if (e.nr_sectors > max_sectors || e.sector > max_sectors - e.nr_sectors)
                return reason_fail(w, -EBADMSG, "entry %" PRIu64 ": sectors %" PRIu64 "+%" PRIu64
                                   " lie beyond any disk", i, e.sector, e.nr_sectors);
        e.disk_off = e.sector * ss;
        e.bytes = e.nr_sectors * ss;
        uint64_t next = pos + ss; /* <= size: checked above */
        if (discard) {
                if (e.data_len != 0)
                        return reason_fail(w, -EBADMSG, "entry %" PRIu64 ": a DISCARD with %" PRIu64 " bytes of data", i,
                                           e.data_len);
        } else if (!mark) {
                if (e.bytes > src->size - next)
                        return reason_fail(w, -EBADMSG, "entry %" PRIu64 ": %" PRIu64 " bytes of data at byte %" PRIu64
                                           " run past the end of the log (%" PRIu64 " bytes)", i, e.bytes, next,
                                           src->size);
                /* dm's inline data (DAX) lies within the sectors it covers */
                if (e.data_len > e.bytes)
                        return reason_fail(w, -EBADMSG, "entry %" PRIu64 ": data_len %" PRIu64
                                           " larger than its %" PRIu64 " bytes", i, e.data_len, e.bytes);
                e.data_off = next;
                next += e.bytes;
        }
        *ret = e;
        *ret_next = next;
        return 0;
}

int blklog_parse(const struct blklog_src *src, bool scan_past_count, struct blklog *ret, const struct reason *w)
{
        if (!src || !src->read || !ret)
                return -EINVAL;
        uint8_t sb[BLKLOG_SUPER_SIZE];
        if (src->size < BLKLOG_SUPER_SIZE)
                return reason_fail(w, -EBADMSG, "log of %" PRIu64 " bytes: shorter than its super block", src->size);
        int r = src->read(src->ctx, sb, sizeof(sb), 0);
        if (r < 0)
                return reason_fail(w, r, "cannot read the super block: %s", strerror(-r));
        uint64_t magic = le64(sb), version = le64(sb + 8), nr = le64(sb + 16);
        uint32_t ss = le32(sb + 24);
        if (magic != BLKLOG_MAGIC)
                return reason_fail(w, -EBADMSG, "not a write log: magic 0x%" PRIx64 ", expected 0x%llx", magic,
                                   BLKLOG_MAGIC);
        if (version != BLKLOG_VERSION)
                return reason_fail(w, -EBADMSG, "write log version %" PRIu64 ", only %llu is known", version,
                                   BLKLOG_VERSION);
        if (!power_of_two(ss) || ss < BLKLOG_SECTOR_MIN || ss > BLKLOG_SECTOR_MAX)
                return reason_fail(w, -EBADMSG, "log sector size %" PRIu32 ": not a power of two in %u..%u", ss,
                                   BLKLOG_SECTOR_MIN, BLKLOG_SECTOR_MAX);
        if (src->size < ss)
                return reason_fail(w, -EBADMSG, "log of %" PRIu64 " bytes: shorter than its super block's sector (%" PRIu32
                                   ")", src->size, ss);
        /* every entry takes one sector at least */
        uint64_t room = src->size / ss - 1;
        if (nr > room)
                return reason_fail(w, -EBADMSG, "the super block counts %" PRIu64 " entries, the log has room for %" PRIu64
                                   " at most", nr, room);

        struct blklog l = { .sectorsize = ss, .nr_entries = nr, .size = src->size };
        uint64_t cap = scan_past_count ? room : nr;
        /* allocate as entries are found, not what a header claims */
        uint64_t alloc = 0;
        uint64_t pos = ss;
        for (uint64_t i = 0; i < cap; i++) {
                struct blklog_entry e;
                uint64_t next;
                if (i >= nr) {
                        /* past the count: stop quietly at the end, at zeros,
                         * at anything that does not parse */
                        uint8_t z[BLKLOG_ENTRY_SIZE], zero[BLKLOG_ENTRY_SIZE] = { 0 };
                        if (pos > src->size || src->size - pos < ss)
                                break;
                        if (src->read(src->ctx, z, sizeof(z), pos) < 0 || memcmp(z, zero, sizeof(z)) == 0) {
                                l.stopped_early = true;
                                break;
                        }
                        if (parse_entry(src, ss, i, pos, &e, &next, NULL) < 0) {
                                l.stopped_early = true;
                                break;
                        }
                } else {
                        r = parse_entry(src, ss, i, pos, &e, &next, w);
                        if (r < 0) {
                                free(l.e);
                                return r;
                        }
                }
                if (i == alloc) {
                        uint64_t more = alloc ? alloc * 2 : 64;
                        if (more > cap)
                                more = cap;
                        if (more > SIZE_MAX / sizeof(*l.e)) {
                                free(l.e);
                                return reason_fail(w, -ENOMEM, "too many entries");
                        }
                        struct blklog_entry *p = realloc(l.e, (size_t)more * sizeof(*l.e));
                        if (!p) {
                                free(l.e);
                                return reason_fail(w, -ENOMEM, "out of memory for %" PRIu64 " entries", more);
                        }
                        l.e = p;
                        alloc = more;
                }
                l.e[i] = e;
                l.n = i + 1;
                pos = next;
        }
        l.end = pos;
        *ret = l;
        return 0;
}

enum blklog_kind blklog_kind(const struct blklog_entry *e)
{
        if (e->flags & BLKLOG_MARK)
                return BLKLOG_KIND_MARK;
        if (e->flags & BLKLOG_DISCARD)
                return e->nr_sectors ? BLKLOG_KIND_DISCARD : BLKLOG_KIND_EMPTY;
        if (e->nr_sectors)
                return BLKLOG_KIND_WRITE;
        if (e->flags & BLKLOG_FLUSH)
                return BLKLOG_KIND_FLUSH;
        return BLKLOG_KIND_EMPTY;
}

const char *blklog_kind_name(enum blklog_kind k)
{
        switch (k) {
        case BLKLOG_KIND_WRITE:
                return "write";
        case BLKLOG_KIND_DISCARD:
                return "discard";
        case BLKLOG_KIND_FLUSH:
                return "flush";
        case BLKLOG_KIND_MARK:
                return "mark";
        case BLKLOG_KIND_EMPTY:
                break;
        }
        return "empty";
}

/* [a, a + alen) and [b, b + blen) overlap; neither sum overflows (callers
 * keep both inside an off_t) */
static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
        return alen && blen && a < b + blen && b < a + alen;
}

bool blklog_changes(const struct blklog_entry *e, uint64_t win_off, uint64_t win_size)
{
        enum blklog_kind k = blklog_kind(e);
        if (k != BLKLOG_KIND_WRITE && k != BLKLOG_KIND_DISCARD)
                return false;
        if (win_off > (uint64_t)INT64_MAX || win_size > (uint64_t)INT64_MAX - win_off)
                return false;
        return overlap(e->disk_off, e->bytes, win_off, win_size);
}

int blklog_mark_text(const struct blklog *l, const struct blklog_src *src, uint64_t i, char *buf, size_t len)
{
        if (!l || i >= l->n || !buf || len == 0)
                return -EINVAL;
        const struct blklog_entry *e = &l->e[i];
        buf[0] = '\0';
        if (!(e->flags & BLKLOG_MARK))
                return -EINVAL;
        uint64_t n = e->data_len; /* <= ss - 32: checked by the parser */
        if (n > len - 1)
                n = len - 1;
        int r = src->read(src->ctx, buf, (size_t)n, e->log_off + BLKLOG_ENTRY_SIZE);
        if (r < 0)
                return r;
        buf[n] = '\0';
        n = strnlen(buf, (size_t)n); /* the text ends at its NUL, if any */
        for (uint64_t j = 0; j < n; j++)
                if ((unsigned char)buf[j] < 0x20 || (unsigned char)buf[j] > 0x7e)
                        buf[j] = '?';
        return 0;
}

uint64_t blklog_durable(const struct blklog *l, uint64_t k)
{
        if (k > l->n)
                k = l->n;
        for (uint64_t i = k; i > 0; i--)
                if (l->e[i - 1].flags & BLKLOG_FLUSH)
                        return i - 1;
        return 0;
}

#define APPLY_CHUNK (1024 * 1024)

int blklog_apply(const struct blklog *l, const struct blklog_src *src, uint64_t from, uint64_t to,
                 const struct blklog_dst *dst, uint64_t win_off, uint64_t win_size, bool strict, blklog_keep_fn keep,
                 void *keep_ctx, struct blklog_apply_stats *stats, const struct reason *w)
{
        struct blklog_apply_stats st = { 0 };
        if (!l || !src || !dst || from > to)
                return reason_fail(w, -EINVAL, "bad range %" PRIu64 "..%" PRIu64, from, to);
        if (to > l->n)
                return reason_fail(w, -EINVAL, "the log has %" PRIu64 " entries, not %" PRIu64, l->n, to);
        if (win_off > (uint64_t)INT64_MAX || win_size > (uint64_t)INT64_MAX - win_off)
                return reason_fail(w, -EINVAL, "window %" PRIu64 "+%" PRIu64 " beyond any disk", win_off, win_size);
        uint8_t *buf = NULL;
        size_t bufsize = 0;
        int r = 0;
        for (uint64_t i = from; i < to; i++) {
                const struct blklog_entry *e = &l->e[i];
                enum blklog_kind k = blklog_kind(e);
                if (k != BLKLOG_KIND_WRITE && k != BLKLOG_KIND_DISCARD)
                        continue;
                if (keep && !(e->flags & BLKLOG_FUA) && !keep(keep_ctx, i)) {
                        st.skipped++;
                        continue;
                }
                if (strict && (e->disk_off < win_off || e->disk_off + e->bytes > win_off + win_size)) {
                        r = reason_fail(w, -ERANGE, "entry %" PRIu64 " writes bytes %" PRIu64 "..%" PRIu64
                                        ", outside the image (%" PRIu64 " bytes): is it the disk the log was recorded on?",
                                        i, e->disk_off, e->disk_off + e->bytes, win_size);
                        goto out;
                }
                if (!overlap(e->disk_off, e->bytes, win_off, win_size)) {
                        st.outside++;
                        continue;
                }
                uint64_t a = e->disk_off > win_off ? e->disk_off : win_off;
                uint64_t b = e->disk_off + e->bytes < win_off + win_size ? e->disk_off + e->bytes : win_off + win_size;
                /* a buffer as large as the largest piece so far, up to a chunk */
                size_t need = b - a > APPLY_CHUNK ? APPLY_CHUNK : (size_t)(b - a);
                if (need > bufsize) {
                        uint8_t *p = realloc(buf, need);
                        if (!p) {
                                r = reason_fail(w, -ENOMEM, "out of memory");
                                goto out;
                        }
                        buf = p;
                        bufsize = need;
                }
                for (uint64_t p = a; p < b;) {
                        size_t n = b - p > APPLY_CHUNK ? APPLY_CHUNK : (size_t)(b - p);
                        if (k == BLKLOG_KIND_DISCARD) {
                                memset(buf, 0, n);
                        } else {
                                r = src->read(src->ctx, buf, n, e->data_off + (p - e->disk_off));
                                if (r < 0) {
                                        reason_fail(w, r, "entry %" PRIu64 ": cannot read its data: %s", i, strerror(-r));
                                        goto out;
                                }
                        }
                        r = dst->write(dst->ctx, buf, n, p - win_off);
                        if (r < 0) {
                                reason_fail(w, r, "entry %" PRIu64 ": cannot write the image at byte %" PRIu64 ": %s", i,
                                            p - win_off, strerror(-r));
                                goto out;
                        }
                        p += n;
                        st.bytes += n;
                }
                st.applied++;
        }
out:
        free(buf);
        if (stats)
                *stats = st;
        return r;
}

bool blklog_touches(const struct blklog *l, uint64_t from, uint64_t to, uint64_t win_off, const uint64_t (*ranges)[2],
                    size_t nranges)
{
        if (to > l->n)
                to = l->n;
        if (win_off > (uint64_t)INT64_MAX)
                return true; /* not representable: assume the worst */
        for (uint64_t i = from; i < to; i++) {
                const struct blklog_entry *e = &l->e[i];
                if (!blklog_changes(e, 0, (uint64_t)INT64_MAX))
                        continue;
                for (size_t j = 0; j < nranges; j++) {
                        uint64_t s = ranges[j][0], len = ranges[j][1];
                        if (s > (uint64_t)INT64_MAX - win_off || len > (uint64_t)INT64_MAX - win_off - s)
                                return true; /* not representable: assume the worst */
                        if (overlap(e->disk_off, e->bytes, win_off + s, len))
                                return true;
                }
        }
        return false;
}
