/* SPDX-License-Identifier: Apache-2.0 */
/* The reproducible initrd writer: a text spec in, a newc cpio archive out.
 *
 * Same spec, same source bytes and same mtime give the same output bytes:
 * entries are sorted bytewise by path, owners, modes and times come from the
 * spec and the caller, inode numbers are the entry's position, and the
 * compressors write no timestamps or file names.
 *
 * Spec format, one entry a line, fields separated by spaces or tabs, lines
 * whose first non-blank character is '#' and blank lines ignored:
 *
 *   dir   <path> <mode> <uid> <gid>
 *   file  <path> <source-on-host> <mode> <uid> <gid>
 *   slink <path> <target> <mode> <uid> <gid>
 *   nod   <path> <mode> <uid> <gid> <c|b> <major> <minor>
 *
 * <path> is absolute and canonical (no ".", "..", "//" or trailing slash);
 * <mode> is octal permission bits (at most 07777); uid, gid, major and minor
 * are decimal. Missing parent directories are added as 0755 0 0. A relative
 * <source-on-host> is opened relative to the process's working directory.
 * Fields cannot contain blanks, so neither can paths. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct initrd_spec;

enum initrd_compress {
        INITRD_COMPRESS_NONE,
        INITRD_COMPRESS_GZIP,
        INITRD_COMPRESS_ZSTD,
};

/* Parses and checks a whole spec. On failure *ret is untouched and err holds
 * one line naming the spec line and what was wrong with it. */
int initrd_spec_parse(const char *text, size_t len, struct initrd_spec **ret,
                      char *err, size_t errlen);
void initrd_spec_free(struct initrd_spec *s);
/* Entries the archive will hold, implicit parent directories included. */
size_t initrd_spec_count(const struct initrd_spec *s);

/* "zstd", "gzip", "none". */
int initrd_compress_from_string(const char *name, enum initrd_compress *ret);
const char *initrd_compress_to_string(enum initrd_compress c);

/* Writes the archive to out_path atomically: the old file, if any, stays
 * until the new one is complete and synced, and on failure nothing new is
 * left behind. mtime must fit the format's 32 unsigned bits. */
int initrd_write(const struct initrd_spec *s, const char *out_path,
                 enum initrd_compress c, int64_t mtime, char *err, size_t errlen);

static inline void initrd_spec_freep(struct initrd_spec **s)
{
        initrd_spec_free(*s);
}
#define _cleanup_initrd_spec_ __attribute__((cleanup(initrd_spec_freep)))
