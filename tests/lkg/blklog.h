/* SPDX-License-Identifier: Apache-2.0 */
/* A reader for write logs in the dm-log-writes format, which QEMU's
 * blklogwrites block driver also writes (tests/lkg/README.md):
 *
 *   byte 0        super block, one log sector: magic, version, nr_entries,
 *                 sectorsize (all little-endian), zero padded
 *   then, nr_entries times:
 *     one log sector   the entry: sector, nr_sectors, flags, data_len
 *                      (a MARK's text follows the entry in this sector)
 *     nr_sectors log sectors of the data written (none for a DISCARD)
 *
 * sector and nr_sectors count in units of sectorsize. Every field is
 * checked against the log's own size before it is used: a hostile or
 * truncated log is refused with a reason, never read out of bounds. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reason.h"

#define BLKLOG_MAGIC 0x6a736677736872ULL
#define BLKLOG_VERSION 1ULL

#define BLKLOG_FLUSH (1ULL << 0)
#define BLKLOG_FUA (1ULL << 1)
#define BLKLOG_DISCARD (1ULL << 2)
#define BLKLOG_MARK (1ULL << 3)
#define BLKLOG_METADATA (1ULL << 4) /* dm-log-writes only: REQ_META, informational */
#define BLKLOG_KNOWN_FLAGS (BLKLOG_FLUSH | BLKLOG_FUA | BLKLOG_DISCARD | BLKLOG_MARK | BLKLOG_METADATA)

/* Log sector sizes accepted: QEMU's default and dm's logical block sizes. */
#define BLKLOG_SECTOR_MIN 512u
#define BLKLOG_SECTOR_MAX 65536u
#define BLKLOG_ENTRY_SIZE 32u
#define BLKLOG_SUPER_SIZE 28u

/* Where the log is read from: a file (the tool) or memory (the fuzzer).
 * read returns 0 after reading exactly len bytes at off, else -errno. */
struct blklog_src {
        int (*read)(void *ctx, void *buf, size_t len, uint64_t off);
        void *ctx;
        uint64_t size;
};

/* Where writes go: an image file or memory. */
struct blklog_dst {
        int (*write)(void *ctx, const void *buf, size_t len, uint64_t off);
        void *ctx;
};

struct blklog_entry {
        uint64_t sector, nr_sectors, flags, data_len; /* as logged */
        uint64_t log_off;                             /* the entry's own log sector */
        uint64_t data_off;                            /* its data in the log (writes only) */
        uint64_t disk_off, bytes;                     /* the byte range of the disk it covers */
};

enum blklog_kind {
        BLKLOG_KIND_WRITE,   /* data to apply (may also carry FLUSH and/or FUA) */
        BLKLOG_KIND_DISCARD, /* a range whose content is unspecified afterwards */
        BLKLOG_KIND_FLUSH,   /* a flush with no data */
        BLKLOG_KIND_MARK,    /* a dm-log-writes mark: text, no data */
        BLKLOG_KIND_EMPTY,   /* no data, no flag that matters */
};

struct blklog {
        uint32_t sectorsize;
        uint64_t nr_entries; /* what the super block says */
        uint64_t n;          /* entries parsed: nr_entries, or more with scan_past_count */
        struct blklog_entry *e;
        uint64_t end;        /* log offset after the last parsed entry */
        uint64_t size;       /* the log's size */
        bool stopped_early;  /* scan_past_count: a header past the count did not parse */
};

/* Parses the super block and every entry header (not the data). With
 * scan_past_count, entries written after the super block's count was last
 * updated (QEMU updates it at each flush) are read too, up to the first
 * header that is all zeros or does not check out: a heuristic for a log
 * whose writer was killed. 0 or -errno (-EBADMSG for a malformed log) with
 * a reason; *ret only on success, to be released with blklog_free. */
int blklog_parse(const struct blklog_src *src, bool scan_past_count, struct blklog *ret, const struct reason *w);
void blklog_free(struct blklog *l);

enum blklog_kind blklog_kind(const struct blklog_entry *e);
const char *blklog_kind_name(enum blklog_kind k);
/* The entry changes some byte of [win_off, win_off + win_size) (a write or
 * discard that overlaps the window). */
bool blklog_changes(const struct blklog_entry *e, uint64_t win_off, uint64_t win_size);

/* Reads a MARK's text (at most len - 1 bytes, NUL-terminated, bytes outside
 * printable ASCII replaced by '?'). 0 or -errno. */
int blklog_mark_text(const struct blklog *l, const struct blklog_src *src, uint64_t i, char *buf, size_t len);

/* Decides, for the reorder model, whether an unflushed entry reached the
 * disk. */
typedef bool (*blklog_keep_fn)(void *ctx, uint64_t i);

struct blklog_apply_stats {
        uint64_t applied, outside, skipped, bytes;
};

/* Applies entries [from, to) onto the window [win_off, win_off + win_size)
 * of the disk, which dst holds from its offset 0: each write's part inside
 * the window is copied from the log, a discard's part is zeroed (what the
 * range holds after a discard is unspecified; zeros is the harsher choice
 * for a filesystem that wrongly relied on it). Parts outside the window are
 * dropped (counted in outside). When strict, a write that reaches past the
 * window is refused instead (whole-disk replay: a wrong base image). keep,
 * when not NULL, is asked for each changing entry and may skip it. 0 or
 * -errno with a reason. */
int blklog_apply(const struct blklog *l, const struct blklog_src *src, uint64_t from, uint64_t to,
                 const struct blklog_dst *dst, uint64_t win_off, uint64_t win_size, bool strict, blklog_keep_fn keep,
                 void *keep_ctx, struct blklog_apply_stats *stats, const struct reason *w);

/* Index of the first entry not covered by a flush among the first k: every
 * entry before it was followed by a FLUSH entry within the first k, so a
 * device that honours flushes persisted it. (A FLUSH entry's own data is
 * not covered by its flush.) */
uint64_t blklog_durable(const struct blklog *l, uint64_t k);

/* Whether any entry in [from, to) changes a byte of the given ranges (byte
 * offsets relative to win_off, each [start, start + len)). */
bool blklog_touches(const struct blklog *l, uint64_t from, uint64_t to, uint64_t win_off, const uint64_t (*ranges)[2],
                    size_t nranges);
