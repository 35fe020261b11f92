/* SPDX-License-Identifier: Apache-2.0 */
/* GUID partition tables (UEFI 2.10, section 5.3) read from disks nobody
 * vouches for: pure parsers on byte buffers (the fuzzer drives gpt_parse),
 * and gpt_read_fd, which reads a disk's primary header and entry array with
 * bounded pread()s. Only the primary table is read; a disk whose primary
 * table is damaged reads as a refusal, not as its backup.
 *
 * GUIDs are kept as their 16 bytes on disk: the first three fields little
 * endian ("mixed endian"), so C12A7328-F81F-11D2-... is 28 73 2a c1 1f f8
 * d2 11 ... Returns are >= 0 or -errno; a refusal says why in w. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reason.h"

#define GPT_HEADER_SIZE_MIN 92
#define GPT_ENTRY_SIZE_MIN 128
#define GPT_ENTRY_SIZE_MAX 4096
#define GPT_ENTRIES_MAX 1024
/* UTF-16 code units in an entry's name */
#define GPT_NAME_UNITS 36
#define GPT_GUID_STRLEN 37

/* The EFI System Partition's type, as a string. */
#define GPT_ESP_TYPE "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"

struct gpt_header {
        uint32_t header_size;
        uint64_t my_lba, alternate_lba, first_usable, last_usable;
        uint8_t disk_guid[16];
        uint64_t entries_lba;
        uint32_t entry_count, entry_size, entries_crc;
};

struct gpt_part {
        unsigned number;                /* 1-based index in the entry array */
        uint8_t type[16], uuid[16];     /* as on disk */
        char type_str[GPT_GUID_STRLEN]; /* lowercase canonical */
        char uuid_str[GPT_GUID_STRLEN];
        uint64_t first_lba, last_lba;   /* inclusive */
        uint64_t attrs;
        char name[GPT_NAME_UNITS + 1];  /* printable ASCII, '?' for anything else */
};

/* The header in lba1 (the sector at LBA 1, len bytes, at least the header's
 * size): "EFI PART", revision 1.0, header size 92..sector_size, header CRC32
 * (over header_size bytes, its own field zeroed), MyLBA 1, usable range and
 * entry array in order (the array after the header, ending before the first
 * usable LBA), entry size 128..4096 and a multiple of 8, at most 1024
 * entries. sector_size is 512, 1024, 2048 or 4096 (else -EINVAL). -ENOMSG
 * when there is no GPT signature at all, -EBADMSG for anything else wrong;
 * *ret written only on success. */
int gpt_header_parse(const uint8_t *lba1, size_t len, unsigned sector_size, struct gpt_header *ret,
                     const struct reason *w);

/* The entry array of h (exactly entry_count * entry_size bytes in buf): its
 * CRC32, then every used entry (type GUID not zero) within the usable LBAs,
 * first <= last. Writes the used entries in order to parts; -ENOBUFS when
 * there are more than cap, -EBADMSG for a bad CRC or entry. *ret_n written
 * only on success (parts may have been written on failure). */
int gpt_entries_parse(const struct gpt_header *h, const uint8_t *buf, size_t len, struct gpt_part *parts, size_t cap,
                      size_t *ret_n, const struct reason *w);

/* A whole disk image (or its first len bytes) in memory: the header at LBA 1,
 * the entries where it says. Entries beyond len: -EBADMSG. */
int gpt_parse(const uint8_t *disk, size_t len, unsigned sector_size, struct gpt_part *parts, size_t cap,
              size_t *ret_n, const struct reason *w);

/* The same from a disk: pread()s of LBA 1 and then of the entry array (at
 * most GPT_ENTRIES_MAX * GPT_ENTRY_SIZE_MAX bytes); a short read is
 * -EBADMSG. */
int gpt_read_fd(int fd, unsigned sector_size, struct gpt_part *parts, size_t cap, size_t *ret_n,
                const struct reason *w);

/* The 16 on-disk bytes as a lowercase string, and back (either case;
 * -EINVAL for anything else, out untouched). */
void gpt_guid_format(const uint8_t g[16], char out[GPT_GUID_STRLEN]);
int gpt_guid_parse(const char *s, uint8_t out[16]);

/* type is the EFI System Partition's (C12A7328-F81F-11D2-BA4B-00A0C93EC93B). */
bool gpt_is_esp(const uint8_t type[16]);

/* 512, 1024, 2048 or 4096. */
bool gpt_sector_size_ok(unsigned sector_size);
