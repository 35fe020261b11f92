/* SPDX-License-Identifier: Apache-2.0 */
/* GUID partition tables from untrusted disks: see gpt.h. The CRCs are
 * zlib's crc32 (the IEEE polynomial UEFI specifies); zlib is in /init
 * already. */
#include "gpt.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "rd_le.h"
#include "reader.h"
#include "util.h"
#include "uuid.h"

#define GPT_REVISION_1_0 0x00010000u
#define GPT_HEADER_CRC_OFFSET 16
#define GPT_SECTOR_MAX 4096

static const uint8_t esp_type[16] = { 0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
                                      0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b };

bool gpt_sector_size_ok(unsigned sector_size)
{
        return sector_size == 512 || sector_size == 1024 || sector_size == 2048 || sector_size == 4096;
}

bool gpt_is_esp(const uint8_t type[16]) { return type && memcmp(type, esp_type, 16) == 0; }

void gpt_guid_format(const uint8_t g[16], char out[GPT_GUID_STRLEN])
{
        snprintf(out, GPT_GUID_STRLEN, "%08" PRIx32 "-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", le32_at(g),
                 (unsigned)le16_at(g + 4), (unsigned)le16_at(g + 6), g[8], g[9], g[10], g[11], g[12], g[13], g[14],
                 g[15]);
}

int gpt_guid_parse(const char *s, uint8_t out[16])
{
        uint8_t b[16];
        if (uuid_parse(s, b) < 0)
                return -EINVAL;
        /* the string is big endian throughout; the disk is not */
        const uint8_t swapped[16] = { b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6],
                                      b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15] };
        memcpy(out, swapped, 16);
        return 0;
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
        /* zlib's length is an unsigned int: every caller stays below 4 MiB */
        return (uint32_t)crc32(0L, n ? p : Z_NULL, (uInt)n);
}

/* ---- the header ---- */

static int header_unmarshal(struct reader *r, struct gpt_header *h, uint32_t *revision, uint32_t *crc)
{
        uint32_t reserved;
        if (rd_le32(r, revision) < 0 || rd_le32(r, &h->header_size) < 0 || rd_le32(r, crc) < 0 ||
            rd_le32(r, &reserved) < 0 || rd_le64(r, &h->my_lba) < 0 || rd_le64(r, &h->alternate_lba) < 0 ||
            rd_le64(r, &h->first_usable) < 0 || rd_le64(r, &h->last_usable) < 0 ||
            rd_copy(r, h->disk_guid, 16) < 0 || rd_le64(r, &h->entries_lba) < 0 ||
            rd_le32(r, &h->entry_count) < 0 || rd_le32(r, &h->entry_size) < 0 || rd_le32(r, &h->entries_crc) < 0)
                return -EBADMSG;
        return 0;
}

/* The order of the primary table: header at LBA 1, the entry array after it
 * and before the first usable LBA, the usable range not empty. */
static int header_layout(const struct gpt_header *h, unsigned sector_size, const struct reason *w)
{
        if (h->my_lba != 1)
                return reason_fail(w, -EBADMSG, "GPT header says it is at LBA %" PRIu64 ", not 1", h->my_lba);
        if (h->first_usable > h->last_usable)
                return reason_fail(w, -EBADMSG, "GPT usable LBAs %" PRIu64 "..%" PRIu64 " are reversed",
                                   h->first_usable, h->last_usable);
        if (h->entry_size < GPT_ENTRY_SIZE_MIN || h->entry_size % 8 != 0 || h->entry_size > GPT_ENTRY_SIZE_MAX)
                return reason_fail(w, -EBADMSG, "GPT entry size %" PRIu32 " (expected 128..4096, a multiple of 8)",
                                   h->entry_size);
        if (h->entry_count > GPT_ENTRIES_MAX)
                return reason_fail(w, -EBADMSG, "GPT has %" PRIu32 " entries, more than %u", h->entry_count,
                                   GPT_ENTRIES_MAX);
        uint64_t bytes = (uint64_t)h->entry_count * h->entry_size;
        uint64_t sectors = (bytes + sector_size - 1) / sector_size;
        if (h->entries_lba < 2 || h->entries_lba > h->first_usable || h->first_usable - h->entries_lba < sectors)
                return reason_fail(w, -EBADMSG,
                                   "GPT entry array at LBA %" PRIu64 " (%" PRIu64
                                   " sectors) is not between the header and the first usable LBA %" PRIu64,
                                   h->entries_lba, sectors, h->first_usable);
        return 0;
}

int gpt_header_parse(const uint8_t *lba1, size_t len, unsigned sector_size, struct gpt_header *ret,
                     const struct reason *w)
{
        struct reader r;
        const uint8_t *sig;
        struct gpt_header h;
        uint32_t revision, crc;

        if (!gpt_sector_size_ok(sector_size))
                return reason_fail(w, -EINVAL, "sector size %u is not 512, 1024, 2048 or 4096", sector_size);
        if (!ret)
                return -EINVAL;
        rd_init(&r, lba1, len);
        if (rd_bytes(&r, 8, &sig) < 0)
                return reason_fail(w, -EBADMSG, "%zu bytes at LBA 1: too short for a GPT header", len);
        if (memcmp(sig, "EFI PART", 8) != 0)
                return reason_fail(w, -ENOMSG, "no GPT signature at LBA 1");
        if (header_unmarshal(&r, &h, &revision, &crc) < 0)
                return reason_fail(w, -EBADMSG, "GPT header truncated: %zu bytes", len);
        if (revision != GPT_REVISION_1_0)
                return reason_fail(w, -EBADMSG, "GPT revision %#" PRIx32 ", not 1.0", revision);
        if (h.header_size < GPT_HEADER_SIZE_MIN || h.header_size > sector_size)
                return reason_fail(w, -EBADMSG, "GPT header size %" PRIu32 " outside %u..%u", h.header_size,
                                   GPT_HEADER_SIZE_MIN, sector_size);
        if (h.header_size > len)
                return reason_fail(w, -EBADMSG, "GPT header size %" PRIu32 " beyond the %zu bytes read",
                                   h.header_size, len);
        uint8_t copy[GPT_SECTOR_MAX];
        memcpy(copy, lba1, h.header_size);
        memset(copy + GPT_HEADER_CRC_OFFSET, 0, 4);
        uint32_t want = crc32_of(copy, h.header_size);
        if (want != crc)
                return reason_fail(w, -EBADMSG, "GPT header CRC32 %08" PRIx32 " does not match its contents (%08" PRIx32 ")",
                                   crc, want);
        int e = header_layout(&h, sector_size, w);
        if (e < 0)
                return e;
        *ret = h;
        return 0;
}

/* ---- the entries ---- */

static void name_ascii(const uint8_t *p, char out[GPT_NAME_UNITS + 1])
{
        size_t n = 0;
        for (; n < GPT_NAME_UNITS; n++) {
                uint16_t u = le16_at(p + 2 * n);
                if (u == 0)
                        break;
                out[n] = u >= 0x20 && u <= 0x7e ? (char)u : '?';
        }
        out[n] = '\0';
}

static bool all_zero(const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

/* One entry; 1 used (p filled), 0 unused, or -EBADMSG. */
static int entry_parse(const struct gpt_header *h, struct reader *e, unsigned number, struct gpt_part *p,
                       const struct reason *w)
{
        const uint8_t *name;
        struct gpt_part part = { .number = number };
        if (rd_copy(e, part.type, 16) < 0 || rd_copy(e, part.uuid, 16) < 0 || rd_le64(e, &part.first_lba) < 0 ||
            rd_le64(e, &part.last_lba) < 0 || rd_le64(e, &part.attrs) < 0 ||
            rd_bytes(e, 2 * GPT_NAME_UNITS, &name) < 0)
                return reason_fail(w, -EBADMSG, "GPT entry %u truncated", number);
        if (all_zero(part.type, 16))
                return 0;
        if (part.first_lba > part.last_lba || part.first_lba < h->first_usable || part.last_lba > h->last_usable)
                return reason_fail(w, -EBADMSG,
                                   "GPT partition %u: LBAs %" PRIu64 "..%" PRIu64 " not within the usable %" PRIu64
                                   "..%" PRIu64,
                                   number, part.first_lba, part.last_lba, h->first_usable, h->last_usable);
        gpt_guid_format(part.type, part.type_str);
        gpt_guid_format(part.uuid, part.uuid_str);
        name_ascii(name, part.name);
        *p = part;
        return 1;
}

int gpt_entries_parse(const struct gpt_header *h, const uint8_t *buf, size_t len, struct gpt_part *parts, size_t cap,
                      size_t *ret_n, const struct reason *w)
{
        if (!h || (!buf && len > 0) || (!parts && cap > 0) || !ret_n)
                return -EINVAL;
        if (h->entry_count > GPT_ENTRIES_MAX || h->entry_size < GPT_ENTRY_SIZE_MIN ||
            h->entry_size > GPT_ENTRY_SIZE_MAX)
                return reason_fail(w, -EINVAL, "GPT header not checked");
        size_t want = (size_t)h->entry_count * h->entry_size;
        if (len != want)
                return reason_fail(w, -EBADMSG, "GPT entry array of %zu bytes, expected %zu", len, want);
        uint32_t crc = crc32_of(buf, want);
        if (crc != h->entries_crc)
                return reason_fail(w, -EBADMSG,
                                   "GPT entry array CRC32 %08" PRIx32 " does not match its contents (%08" PRIx32 ")",
                                   h->entries_crc, crc);
        struct reader r, e;
        size_t n = 0;
        rd_init(&r, buf, len);
        for (unsigned i = 0; i < h->entry_count; i++) {
                struct gpt_part p;
                if (rd_sub(&r, h->entry_size, &e) < 0)
                        return reason_fail(w, -EBADMSG, "GPT entry %u truncated", i + 1);
                int k = entry_parse(h, &e, i + 1, &p, w);
                if (k < 0)
                        return k;
                if (k == 0)
                        continue;
                if (n == cap)
                        return reason_fail(w, -ENOBUFS, "more than %zu GPT partitions", cap);
                parts[n++] = p;
        }
        *ret_n = n;
        return 0;
}

int gpt_parse(const uint8_t *disk, size_t len, unsigned sector_size, struct gpt_part *parts, size_t cap,
              size_t *ret_n, const struct reason *w)
{
        struct gpt_header h;
        if (!gpt_sector_size_ok(sector_size))
                return reason_fail(w, -EINVAL, "sector size %u is not 512, 1024, 2048 or 4096", sector_size);
        if (!disk || len <= sector_size)
                return reason_fail(w, -EBADMSG, "%zu bytes end before LBA 1", disk ? len : 0);
        size_t hlen = len - sector_size < sector_size ? len - sector_size : sector_size;
        int r = gpt_header_parse(disk + sector_size, hlen, sector_size, &h, w);
        if (r < 0)
                return r;
        size_t want = (size_t)h.entry_count * h.entry_size;
        if (h.entries_lba > len / sector_size || len - (size_t)h.entries_lba * sector_size < want)
                return reason_fail(w, -EBADMSG, "GPT entry array at LBA %" PRIu64 " beyond the %zu bytes",
                                   h.entries_lba, len);
        return gpt_entries_parse(&h, disk + (size_t)h.entries_lba * sector_size, want, parts, cap, ret_n, w);
}

/* ---- from a disk ---- */

/* Exactly n bytes at off: 0, -EBADMSG at the end of the disk, -errno. */
static int pread_full(int fd, void *buf, size_t n, uint64_t off)
{
        size_t got = 0;
        if (off > (uint64_t)INT64_MAX - n)
                return -EBADMSG;
        while (got < n) {
                ssize_t k = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        return -EBADMSG;
                got += (size_t)k;
        }
        return 0;
}

/* The disk's size in bytes, 0 when unknown. */
static uint64_t disk_bytes(int fd)
{
        struct stat st;
        uint64_t size = 0;
        if (fstat(fd, &st) < 0)
                return 0;
        if (S_ISREG(st.st_mode))
                return (uint64_t)st.st_size;
        if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &size) == 0)
                return size;
        return 0;
}

int gpt_read_fd(int fd, unsigned sector_size, struct gpt_part *parts, size_t cap, size_t *ret_n,
                const struct reason *w)
{
        uint8_t lba1[GPT_SECTOR_MAX];
        struct gpt_header h;

        if (fd < 0 || !gpt_sector_size_ok(sector_size))
                return reason_fail(w, -EINVAL, "sector size %u is not 512, 1024, 2048 or 4096", sector_size);
        int r = pread_full(fd, lba1, sector_size, sector_size);
        if (r < 0)
                return reason_fail(w, r, "reading LBA 1: %s", r == -EBADMSG ? "the disk ends before it" : strerror(-r));
        if ((r = gpt_header_parse(lba1, sector_size, sector_size, &h, w)) < 0)
                return r;
        uint64_t size = disk_bytes(fd);
        if (size && h.last_usable >= size / sector_size)
                return reason_fail(w, -EBADMSG,
                                   "GPT last usable LBA %" PRIu64 " beyond the disk's %" PRIu64 " sectors",
                                   h.last_usable, size / sector_size);
        size_t want = (size_t)h.entry_count * h.entry_size;
        _cleanup_free_ uint8_t *buf = malloc(want ? want : 1);
        if (!buf)
                return -ENOMEM;
        if (h.entries_lba > UINT64_MAX / sector_size)
                return reason_fail(w, -EBADMSG, "GPT entry array at LBA %" PRIu64 " beyond any disk", h.entries_lba);
        r = pread_full(fd, buf, want, h.entries_lba * sector_size);
        if (r < 0)
                return reason_fail(w, r, "reading the GPT entry array at LBA %" PRIu64 ": %s", h.entries_lba,
                                   r == -EBADMSG ? "the disk ends before it" : strerror(-r));
        return gpt_entries_parse(&h, buf, want, parts, cap, ret_n, w);
}
