/* SPDX-License-Identifier: Apache-2.0 */
/* EFI variables through efivarfs: see efivar.h and docs/lkg.md. */
#include "efivar.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "rd_le.h"
#include "reader.h"
#include "util.h"

#ifndef EFIVARFS_MAGIC
#define EFIVARFS_MAGIC 0xde5e81e4
#endif

static const uint8_t bootstate_magic[4] = { 'E', 'M', 'B', 'S' };

/* ---- names and paths ---- */

static bool name_ok(const char *name)
{
        size_t n = name ? strnlen(name, EFIVAR_NAME_MAX + 1) : 0;
        if (n == 0 || n > EFIVAR_NAME_MAX || name[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '.' || c == '-'))
                        return false;
        }
        return true;
}

static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* The 8-4-4-4-12 shape over exactly n bytes, either case. */
static bool guid_shape(const char *s, size_t n)
{
        if (n != EFIVAR_GUID_STRLEN - 1)
                return false;
        for (size_t i = 0; i < n; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash ? s[i] != '-' : !is_hex(s[i]))
                        return false;
        }
        return true;
}

int efivar_guid_canonical(const char *s, char out[EFIVAR_GUID_STRLEN])
{
        if (!s || !guid_shape(s, strnlen(s, EFIVAR_GUID_STRLEN)))
                return -EINVAL;
        for (size_t i = 0; i < EFIVAR_GUID_STRLEN - 1; i++)
                out[i] = s[i] >= 'A' && s[i] <= 'F' ? (char)(s[i] - 'A' + 'a') : s[i];
        out[EFIVAR_GUID_STRLEN - 1] = '\0';
        return 0;
}

/* efivarfs names its files with the GUID in lowercase: only that form is
 * accepted, so a name never means two files. */
static bool guid_ok(const char *guid)
{
        char canon[EFIVAR_GUID_STRLEN];
        return efivar_guid_canonical(guid, canon) == 0 && streq(canon, guid);
}

static int var_path(const char *dir, const char *name, const char *guid, char path[PATH_MAX])
{
        if (!dir || !*dir || !name_ok(name) || !guid_ok(guid))
                return -EINVAL;
        int n = snprintf(path, PATH_MAX, "%s/%s-%s", dir, name, guid);
        return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* ---- reading and writing ---- */

/* Up to n bytes, stopping early only at end of file: the count, or -errno. */
static ssize_t read_upto(int fd, void *buf, size_t n)
{
        size_t got = 0;
        while (got < n) {
                ssize_t k = read(fd, (uint8_t *)buf + got, n - got);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                got += (size_t)k;
        }
        return (ssize_t)got;
}

int efivar_read(const char *dir, const char *name, const char *guid, uint32_t *ret_attrs, uint8_t *buf, size_t cap,
                size_t *ret_len)
{
        char path[PATH_MAX];
        int r = var_path(dir, name, guid, path);
        if (r < 0)
                return r;
        if (!ret_attrs || !ret_len || (!buf && cap > 0))
                return -EINVAL;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return negative_errno();

        uint8_t hdr[4];
        ssize_t n = read_upto(fd, hdr, sizeof(hdr));
        if (n < 0)
                return (int)n;
        if (n < (ssize_t)sizeof(hdr))
                return -EBADMSG;
        ssize_t len = read_upto(fd, buf, cap);
        if (len < 0)
                return (int)len;
        if ((size_t)len == cap) {
                uint8_t more;
                n = read_upto(fd, &more, 1);
                if (n < 0)
                        return (int)n;
                if (n > 0)
                        return -ENOBUFS;
        }
        *ret_attrs = le32_at(hdr);
        *ret_len = (size_t)len;
        return 0;
}

static bool flags_unsupported(int err) { return err == ENOTTY || err == EOPNOTSUPP || err == ENOSYS; }

/* Clears FS_IMMUTABLE_FL on path: 1 when it was set (to be set again), 0
 * when it was not, the file is absent or the filesystem has no such flags,
 * or -errno. */
static int make_mutable(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        int flags = 0;
        if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
                return flags_unsupported(errno) ? 0 : negative_errno();
        if (!(flags & FS_IMMUTABLE_FL))
                return 0;
        flags &= ~FS_IMMUTABLE_FL;
        if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
                return negative_errno();
        return 1;
}

/* Best effort: the flag only guards against an accidental rm. */
static void set_immutable(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        int flags = 0;
        if (fd < 0 || ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
                return;
        flags |= FS_IMMUTABLE_FL;
        (void)ioctl(fd, FS_IOC_SETFLAGS, &flags);
}

static int write_record(const char *path, const uint8_t *rec, size_t len)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
        if (fd < 0)
                return negative_errno();
        /* efivarfs replaces the variable on every write and cannot truncate;
         * a plain file (the tests' directory) must be emptied first */
        struct statfs sf;
        if (fstatfs(fd, &sf) < 0)
                return negative_errno();
        if ((uint32_t)sf.f_type != (uint32_t)EFIVARFS_MAGIC && ftruncate(fd, 0) < 0)
                return negative_errno();
        /* one write(2): efivarfs takes attributes and data from one call */
        ssize_t n;
        do
                n = write(fd, rec, len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        return (size_t)n == len ? 0 : -EIO;
}

int efivar_write(const char *dir, const char *name, const char *guid, uint32_t attrs, const void *data, size_t len)
{
        char path[PATH_MAX];
        int r = var_path(dir, name, guid, path);
        if (r < 0)
                return r;
        if (!data || len == 0 || len > EFIVAR_DATA_MAX)
                return -EINVAL;
        _cleanup_free_ uint8_t *rec = malloc(4 + len);
        if (!rec)
                return -ENOMEM;
        put_le32(rec, attrs);
        memcpy(rec + 4, data, len);

        int was_immutable = make_mutable(path);
        if (was_immutable < 0)
                return was_immutable;
        r = write_record(path, rec, 4 + len);
        if (was_immutable)
                set_immutable(path);
        return r;
}

int efivar_delete(const char *dir, const char *name, const char *guid)
{
        char path[PATH_MAX];
        int r = var_path(dir, name, guid, path);
        if (r < 0)
                return r;
        r = make_mutable(path);
        if (r < 0)
                return r;
        return unlink(path) < 0 ? negative_errno() : 0;
}

/* ---- systemd-boot's variables ---- */

int efivar_utf16_ascii(const uint8_t *in, size_t len, char *out, size_t cap)
{
        struct reader r;
        uint16_t u;

        if ((!in && len > 0) || !out)
                return -EINVAL;
        if (len % 2 != 0)
                return -EBADMSG;
        /* one trailing NUL is allowed: systemd-boot writes one */
        size_t units = len / 2;
        if (units > 0 && le16_at(in + len - 2) == 0)
                units--;
        /* check everything before writing anything */
        rd_init(&r, in, units * 2);
        while (rd_le16(&r, &u) == 0)
                if (u < 0x20 || u > 0x7e)
                        return -EBADMSG;
        if (units >= cap || units > INT_MAX)
                return -ENOBUFS;
        rd_init(&r, in, units * 2);
        for (size_t n = 0; rd_le16(&r, &u) == 0; n++)
                out[n] = (char)u;
        out[units] = '\0';
        return (int)units;
}

/* Reads a loader variable as printable ASCII into out. */
static int loader_string(const char *dir, const char *name, char *out, size_t cap)
{
        /* 512 UTF-16 units: far beyond any entry id or GUID string */
        uint8_t buf[1024];
        uint32_t attrs;
        size_t len;
        int r = efivar_read(dir, name, LOADER_GUID, &attrs, buf, sizeof(buf), &len);
        if (r < 0)
                return r == -ENOBUFS ? -EBADMSG : r;
        return efivar_utf16_ascii(buf, len, out, cap);
}

int loader_entry_selected(const char *dir, char *out, size_t cap)
{
        if (!out || cap == 0)
                return -EINVAL;
        char tmp[513];
        int r = loader_string(dir, "LoaderEntrySelected", tmp, sizeof(tmp));
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;
        if ((size_t)r >= cap)
                return -ENOBUFS;
        memcpy(out, tmp, (size_t)r + 1);
        return r;
}

int loader_device_partuuid(const char *dir, char out[EFIVAR_GUID_STRLEN])
{
        if (!out)
                return -EINVAL;
        char tmp[513];
        int r = loader_string(dir, "LoaderDevicePartUUID", tmp, sizeof(tmp));
        if (r < 0)
                return r;
        return efivar_guid_canonical(tmp, out) < 0 ? -EBADMSG : 0;
}

/* ---- Ember's variable ---- */

int bootstate_parse(const uint8_t *buf, size_t len, struct bootstate *ret)
{
        struct reader r;
        const uint8_t *magic;
        uint32_t version;
        struct bootstate st;

        if (!ret || len != BOOTSTATE_SIZE)
                return -EBADMSG;
        rd_init(&r, buf, len);
        if (rd_bytes(&r, sizeof(bootstate_magic), &magic) < 0 || memcmp(magic, bootstate_magic, 4) != 0 ||
            rd_le32(&r, &version) < 0 || version != BOOTSTATE_VERSION || rd_le32(&r, &st.failures) < 0 ||
            rd_le32(&r, &st.last_stage) < 0 || rd_le64(&r, &st.time) < 0 || rd_remaining(&r) != 0)
                return -EBADMSG;
        *ret = st;
        return 0;
}

int bootstate_format(const struct bootstate *st, uint8_t out[BOOTSTATE_SIZE])
{
        memcpy(out, bootstate_magic, 4);
        put_le32(out + 4, BOOTSTATE_VERSION);
        put_le32(out + 8, st->failures);
        put_le32(out + 12, st->last_stage);
        put_le64(out + 16, st->time);
        return BOOTSTATE_SIZE;
}

int bootstate_read(const char *dir, struct bootstate *ret)
{
        if (!ret)
                return -EINVAL;
        *ret = (struct bootstate){ 0 };
        /* one byte more than a record, so a longer one reads as malformed */
        uint8_t buf[BOOTSTATE_SIZE + 1];
        uint32_t attrs;
        size_t len;
        int r = efivar_read(dir, BOOTSTATE_NAME, EMBER_VENDOR_GUID, &attrs, buf, sizeof(buf), &len);
        if (r == -ENOENT)
                return 0;
        if (r == -ENOBUFS)
                return -EBADMSG;
        if (r < 0)
                return r;
        if (attrs != BOOTSTATE_ATTRS)
                return -EBADMSG;
        struct bootstate st;
        if (bootstate_parse(buf, len, &st) < 0)
                return -EBADMSG;
        *ret = st;
        return 1;
}

int bootstate_write(const char *dir, const struct bootstate *st)
{
        if (!st)
                return -EINVAL;
        uint8_t rec[BOOTSTATE_SIZE];
        bootstate_format(st, rec);
        return efivar_write(dir, BOOTSTATE_NAME, EMBER_VENDOR_GUID, BOOTSTATE_ATTRS, rec, sizeof(rec));
}

/* ---- backoff ---- */

uint64_t backoff_delay_ms(unsigned failures, uint64_t base_ms, uint64_t cap_ms, uint32_t random)
{
        if (failures == 0)
                return 0;
        unsigned shift = failures - 1;
        uint64_t d;
        /* base << shift only where it cannot lose bits */
        if (base_ms == 0)
                d = 0;
        else if (shift >= 64 || base_ms > (UINT64_MAX >> shift))
                d = cap_ms;
        else
                d = base_ms << shift < cap_ms ? base_ms << shift : cap_ms;
        uint64_t half = d / 2;
        return half + (uint64_t)random % (half + 1);
}
