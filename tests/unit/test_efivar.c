/* SPDX-License-Identifier: Apache-2.0 */
/* efi/efivar.c against a temporary directory standing in for efivarfs:
 * reading and writing variables (one write(2) each: write is wrapped with
 * -Wl,--wrap=write to count the calls and to cut one short), the immutable
 * flag, systemd-boot's loader variables (hostile UTF-16 too), Ember's
 * record (every truncation) and the backoff. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "efivar.h"
#include "util.h"

#define TEST_GUID "01234567-89ab-cdef-0123-456789abcdef"

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
static unsigned write_calls;
static size_t last_write_len;
static ssize_t write_short_by; /* > 0: the next write is that much short */

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
        write_calls++;
        last_write_len = n;
        if (write_short_by > 0 && (size_t)write_short_by < n) {
                ssize_t s = write_short_by;
                write_short_by = 0;
                return __real_write(fd, buf, n - (size_t)s);
        }
        return __real_write(fd, buf, n);
}

static char dir[64];

static void clear_immutable(const char *path)
{
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
        int flags;
        if (fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL)) {
                flags &= ~FS_IMMUTABLE_FL;
                (void)ioctl(fd, FS_IOC_SETFLAGS, &flags);
        }
        if (fd >= 0)
                close(fd);
}

static int setup(void **state)
{
        snprintf(dir, sizeof(dir), "/tmp/test-efivar.XXXXXX");
        write_calls = 0;
        write_short_by = 0;
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        char path[PATH_MAX];
        while (d && (e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                clear_immutable(path);
                unlink(path);
        }
        if (d)
                closedir(d);
        return rmdir(dir);
}

static void put_file(const char *name, const void *data, size_t len)
{
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(__real_write(fd, data, len), (ssize_t)len);
        close(fd);
}

/* A variable file: attributes, then name as UTF-16LE (with the NUL when nul). */
static void put_utf16_var(const char *file, uint32_t attrs, const char *s, bool nul)
{
        uint8_t buf[2048];
        size_t n = 0;
        for (int i = 0; i < 4; i++)
                buf[n++] = (uint8_t)(attrs >> (8 * i));
        for (const char *p = s; *p; p++) {
                buf[n++] = (uint8_t)*p;
                buf[n++] = 0;
        }
        if (nul) {
                buf[n++] = 0;
                buf[n++] = 0;
        }
        put_file(file, buf, n);
}

static size_t file_bytes(const char *name, uint8_t *buf, size_t cap)
{
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        ssize_t n = read(fd, buf, cap);
        close(fd);
        assert_true(n >= 0);
        return (size_t)n;
}

/* ---- read, write, delete ---- */

static void test_roundtrip(void **state)
{
        uint8_t buf[16], raw[32];
        uint32_t attrs = 0;
        size_t len = 0;
        assert_int_equal(efivar_write(dir, "Test", TEST_GUID, 7, "abc", 3), 0);
        assert_int_equal(write_calls, 1);
        assert_int_equal(last_write_len, 7);
        static const uint8_t want[] = { 7, 0, 0, 0, 'a', 'b', 'c' };
        assert_int_equal(file_bytes("Test-" TEST_GUID, raw, sizeof(raw)), sizeof(want));
        assert_memory_equal(raw, want, sizeof(want));
        assert_int_equal(efivar_read(dir, "Test", TEST_GUID, &attrs, buf, sizeof(buf), &len), 0);
        assert_int_equal(attrs, 7);
        assert_int_equal(len, 3);
        assert_memory_equal(buf, "abc", 3);

        /* a shorter value replaces the longer one whole */
        assert_int_equal(efivar_write(dir, "Test", TEST_GUID, 0x80000007u, "0123456789", 10), 0);
        assert_int_equal(efivar_write(dir, "Test", TEST_GUID, 6, "xy", 2), 0);
        assert_int_equal(efivar_read(dir, "Test", TEST_GUID, &attrs, buf, sizeof(buf), &len), 0);
        assert_int_equal(attrs, 6);
        assert_int_equal(len, 2);
        assert_memory_equal(buf, "xy", 2);

        assert_int_equal(efivar_delete(dir, "Test", TEST_GUID), 0);
        assert_int_equal(efivar_read(dir, "Test", TEST_GUID, &attrs, buf, sizeof(buf), &len), -ENOENT);
        assert_int_equal(efivar_delete(dir, "Test", TEST_GUID), -ENOENT);
}

static void test_read_bounds(void **state)
{
        uint8_t buf[16];
        uint32_t attrs = 0xdeadbeef;
        size_t len = 12345;
        assert_int_equal(efivar_read(dir, "Absent", TEST_GUID, &attrs, buf, sizeof(buf), &len), -ENOENT);
        assert_int_equal(efivar_write(dir, "Ten", TEST_GUID, 7, "0123456789", 10), 0);
        /* one byte too small: refused, outputs untouched */
        assert_int_equal(efivar_read(dir, "Ten", TEST_GUID, &attrs, buf, 9, &len), -ENOBUFS);
        assert_int_equal(attrs, 0xdeadbeef);
        assert_int_equal(len, 12345);
        assert_int_equal(efivar_read(dir, "Ten", TEST_GUID, &attrs, buf, 10, &len), 0);
        assert_int_equal(len, 10);
        /* shorter than the attributes: every length */
        static const uint8_t four[] = { 7, 0, 0, 0 };
        for (size_t n = 0; n < 4; n++) {
                attrs = 0xdeadbeef;
                put_file("Short-" TEST_GUID, four, n);
                assert_int_equal(efivar_read(dir, "Short", TEST_GUID, &attrs, buf, sizeof(buf), &len), -EBADMSG);
                assert_int_equal(attrs, 0xdeadbeef);
        }
        /* attributes only: an empty value */
        put_file("Short-" TEST_GUID, four, 4);
        assert_int_equal(efivar_read(dir, "Short", TEST_GUID, &attrs, NULL, 0, &len), 0);
        assert_int_equal(len, 0);
        assert_int_equal(attrs, 7);
        /* never through a symlink */
        char target[PATH_MAX], link[PATH_MAX];
        snprintf(target, sizeof(target), "%s/Ten-" TEST_GUID, dir);
        snprintf(link, sizeof(link), "%s/Link-" TEST_GUID, dir);
        assert_int_equal(symlink(target, link), 0);
        assert_int_equal(efivar_read(dir, "Link", TEST_GUID, &attrs, buf, sizeof(buf), &len), -ELOOP);
        assert_int_equal(efivar_write(dir, "Link", TEST_GUID, 7, "x", 1), -ELOOP);
}

static void test_bad_arguments(void **state)
{
        uint8_t buf[4];
        uint32_t attrs;
        size_t len;
        char longname[EFIVAR_NAME_MAX + 2];
        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        static const char *bad_names[] = { "", ".", "..", ".hidden", "a/b", "../x", "a b", "a\n", "\xc3\xa9" };
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
                assert_int_equal(efivar_read(dir, bad_names[i], TEST_GUID, &attrs, buf, sizeof(buf), &len), -EINVAL);
                assert_int_equal(efivar_write(dir, bad_names[i], TEST_GUID, 7, "x", 1), -EINVAL);
                assert_int_equal(efivar_delete(dir, bad_names[i], TEST_GUID), -EINVAL);
        }
        assert_int_equal(efivar_write(dir, longname, TEST_GUID, 7, "x", 1), -EINVAL);
        longname[EFIVAR_NAME_MAX] = '\0';
        assert_int_equal(efivar_write(dir, longname, TEST_GUID, 7, "x", 1), 0);
        static const char *bad_guids[] = { "", "01234567-89AB-cdef-0123-456789abcdef",
                                           "01234567-89ab-cdef-0123-456789abcde",
                                           "01234567-89ab-cdef-0123-456789abcdef0",
                                           "0123456789ab-cdef-0123-456789abcdef-",
                                           "01234567-89ab-cdef-0123-456789abcdeg", "../../../../etc/passwd" };
        for (size_t i = 0; i < ELEMENTSOF(bad_guids); i++)
                assert_int_equal(efivar_write(dir, "Test", bad_guids[i], 7, "x", 1), -EINVAL);
        assert_int_equal(efivar_write(dir, "Test", NULL, 7, "x", 1), -EINVAL);
        assert_int_equal(efivar_write(NULL, "Test", TEST_GUID, 7, "x", 1), -EINVAL);
        /* empty (that would delete) or too large */
        assert_int_equal(efivar_write(dir, "Test", TEST_GUID, 7, "x", 0), -EINVAL);
        static uint8_t big[EFIVAR_DATA_MAX + 1];
        assert_int_equal(efivar_write(dir, "Test", TEST_GUID, 7, big, sizeof(big)), -EINVAL);
        assert_int_equal(efivar_write(dir, "Test", TEST_GUID, 7, big, sizeof(big) - 1), 0);
        assert_int_equal(efivar_read(dir, "Test", TEST_GUID, NULL, buf, sizeof(buf), &len), -EINVAL);
        assert_int_equal(write_calls, 2);
}

static void test_short_write(void **state)
{
        write_short_by = 1;
        assert_int_equal(efivar_write(dir, "Test", TEST_GUID, 7, "abcdef", 6), -EIO);
        assert_int_equal(write_calls, 1);
}

static bool set_flags(const char *path, bool immutable)
{
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        int flags = 0;
        bool ok = fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
        if (ok) {
                flags = immutable ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
                ok = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
        }
        if (fd >= 0)
                close(fd);
        return ok;
}

static bool is_immutable(const char *path)
{
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        int flags = 0;
        bool r = fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL);
        if (fd >= 0)
                close(fd);
        return r;
}

/* efivarfs creates the files of unknown variables immutable */
static void test_immutable(void **state)
{
        char path[PATH_MAX];
        uint8_t buf[8];
        uint32_t attrs;
        size_t len;
        snprintf(path, sizeof(path), "%s/Imm-" TEST_GUID, dir);
        assert_int_equal(efivar_write(dir, "Imm", TEST_GUID, 7, "old", 3), 0);
        if (!set_flags(path, true))
                skip(); /* the filesystem of /tmp has no immutable flag, or we lack CAP_LINUX_IMMUTABLE */
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(fd < 0 && errno == EPERM);
        assert_int_equal(efivar_write(dir, "Imm", TEST_GUID, 7, "new!", 4), 0);
        assert_true(is_immutable(path));
        assert_int_equal(efivar_read(dir, "Imm", TEST_GUID, &attrs, buf, sizeof(buf), &len), 0);
        assert_int_equal(len, 4);
        assert_memory_equal(buf, "new!", 4);
        assert_int_equal(efivar_delete(dir, "Imm", TEST_GUID), 0);
        assert_int_equal(access(path, F_OK), -1);
}

/* ---- UTF-16 and the loader variables ---- */

static int decode(const uint16_t *units, size_t n, size_t extra_bytes, char *out, size_t cap)
{
        uint8_t b[64];
        assert_true(n * 2 + extra_bytes <= sizeof(b));
        for (size_t i = 0; i < n; i++) {
                b[2 * i] = (uint8_t)units[i];
                b[2 * i + 1] = (uint8_t)(units[i] >> 8);
        }
        memset(b + 2 * n, 0, extra_bytes);
        return efivar_utf16_ascii(b, n * 2 + extra_bytes, out, cap);
}

static void test_utf16(void **state)
{
        char out[8];
        static const uint16_t abc[] = { 'a', 'b', 'c' }, abc0[] = { 'a', 'b', 'c', 0 }, nul[] = { 0 },
                              tilde[] = { ' ', '~' };
        assert_int_equal(decode(abc, 3, 0, out, sizeof(out)), 3);
        assert_string_equal(out, "abc");
        assert_int_equal(decode(abc0, 4, 0, out, sizeof(out)), 3);
        assert_string_equal(out, "abc");
        assert_int_equal(decode(nul, 1, 0, out, sizeof(out)), 0);
        assert_string_equal(out, "");
        assert_int_equal(decode(NULL, 0, 0, out, sizeof(out)), 0);
        assert_int_equal(decode(tilde, 2, 0, out, sizeof(out)), 2);
        /* exactly fits, one too small (out untouched) */
        assert_int_equal(decode(abc0, 4, 0, out, 4), 3);
        memcpy(out, "zzzzzzz", 8);
        assert_int_equal(decode(abc0, 4, 0, out, 3), -ENOBUFS);
        assert_string_equal(out, "zzzzzzz");
        assert_int_equal(decode(abc, 3, 0, out, 0), -ENOBUFS);

        static const struct {
                uint16_t u[4];
                size_t n;
        } bad[] = {
                { { 'a', 0, 'b' }, 3 },      /* NUL inside */
                { { 'a', 0, 0 }, 3 },        /* two NULs */
                { { 0, 0 }, 2 },
                { { 'a', 0xe9 }, 2 },        /* é */
                { { 'a', 0x0a }, 2 },        /* newline */
                { { 0x7f }, 1 },             /* DEL */
                { { 0x1f }, 1 },
                { { 0x4100 }, 1 },           /* 'A' in the high byte */
                { { 0x0141 }, 1 },           /* Ł */
                { { 0xd83d, 0xde00 }, 2 },   /* a surrogate pair */
                { { 0xfeff, 'a' }, 2 },      /* a byte order mark */
                { { '/', 0xffff }, 2 },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                memcpy(out, "zzzzzzz", 8);
                assert_int_equal(decode(bad[i].u, bad[i].n, 0, out, sizeof(out)), -EBADMSG);
                assert_string_equal(out, "zzzzzzz");
        }
        /* odd lengths */
        assert_int_equal(decode(abc, 3, 1, out, sizeof(out)), -EBADMSG);
        uint8_t one = 'a';
        assert_int_equal(efivar_utf16_ascii(&one, 1, out, sizeof(out)), -EBADMSG);
        assert_int_equal(efivar_utf16_ascii(NULL, 2, out, sizeof(out)), -EINVAL);
}

static void test_loader_entry_selected(void **state)
{
        char out[64];
        assert_int_equal(loader_entry_selected(dir, out, sizeof(out)), -ENOENT);
        put_utf16_var("LoaderEntrySelected-" LOADER_GUID, 6, "ember-0.1.0+2-1.conf", true);
        assert_int_equal(loader_entry_selected(dir, out, sizeof(out)), 20);
        assert_string_equal(out, "ember-0.1.0+2-1.conf");
        assert_int_equal(loader_entry_selected(dir, out, 20), -ENOBUFS);
        put_utf16_var("LoaderEntrySelected-" LOADER_GUID, 6, "auto-windows", false);
        assert_int_equal(loader_entry_selected(dir, out, sizeof(out)), 12);
        assert_string_equal(out, "auto-windows");
        put_utf16_var("LoaderEntrySelected-" LOADER_GUID, 6, "", true);
        assert_int_equal(loader_entry_selected(dir, out, sizeof(out)), -EBADMSG);
        put_utf16_var("LoaderEntrySelected-" LOADER_GUID, 6, "ember\x01", true);
        assert_int_equal(loader_entry_selected(dir, out, sizeof(out)), -EBADMSG);
        /* larger than any entry id: refused, not truncated */
        char big[700];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        put_utf16_var("LoaderEntrySelected-" LOADER_GUID, 6, big, true);
        assert_int_equal(loader_entry_selected(dir, out, sizeof(out)), -EBADMSG);
        /* odd length */
        static const uint8_t odd[] = { 6, 0, 0, 0, 'a', 0, 'b' };
        put_file("LoaderEntrySelected-" LOADER_GUID, odd, sizeof(odd));
        assert_int_equal(loader_entry_selected(dir, out, sizeof(out)), -EBADMSG);
}

static void test_loader_device_partuuid(void **state)
{
        char out[EFIVAR_GUID_STRLEN];
        assert_int_equal(loader_device_partuuid(dir, out), -ENOENT);
        /* systemd-boot writes it in uppercase */
        put_utf16_var("LoaderDevicePartUUID-" LOADER_GUID, 6, "6ED0273B-1143-394D-B78A-6D70C102202D", true);
        assert_int_equal(loader_device_partuuid(dir, out), 0);
        assert_string_equal(out, "6ed0273b-1143-394d-b78a-6d70c102202d");
        put_utf16_var("LoaderDevicePartUUID-" LOADER_GUID, 6, "6ed0273b-1143-394d-b78a-6d70c102202d", false);
        assert_int_equal(loader_device_partuuid(dir, out), 0);
        static const char *bad[] = { "",
                                     "6ED0273B-1143-394D-B78A-6D70C102202",
                                     "6ED0273B-1143-394D-B78A-6D70C102202DD",
                                     "6ED0273B11143-394D-B78A-6D70C102202D",
                                     "6ED0273B-1143-394D-B78A-6D70C102202G",
                                     "{6ED0273B-1143-394D-B78A-6D70C10220}",
                                     "6ED0273B-1143-394D-B78A-6D70C102202D ",
                                     "../../../../../../../../etc/passwd!!" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                memcpy(out, "unchanged", 10);
                put_utf16_var("LoaderDevicePartUUID-" LOADER_GUID, 6, bad[i], true);
                assert_int_equal(loader_device_partuuid(dir, out), -EBADMSG);
                assert_string_equal(out, "unchanged");
        }
        assert_int_equal(efivar_guid_canonical("ABCDEF01-2345-6789-ABCD-EF0123456789", out), 0);
        assert_string_equal(out, "abcdef01-2345-6789-abcd-ef0123456789");
        assert_int_equal(efivar_guid_canonical("ABCDEF01-2345-6789-ABCD-EF012345678", out), -EINVAL);
        assert_int_equal(efivar_guid_canonical(NULL, out), -EINVAL);
}

/* ---- Ember's record ---- */

static const uint8_t record[BOOTSTATE_SIZE] = { 'E', 'M', 'B', 'S', 1, 0, 0, 0, 3, 0, 0, 0,
                                                7, 0, 0, 0, 0x00, 0xe1, 0xf5, 0x05, 0, 0, 0, 0 };

static void test_bootstate_parse(void **state)
{
        struct bootstate st, sentinel;
        memset(&sentinel, 0xa5, sizeof(sentinel));
        assert_int_equal(bootstate_parse(record, sizeof(record), &st), 0);
        assert_int_equal(st.failures, 3);
        assert_int_equal(st.last_stage, 7);
        assert_int_equal(st.time, 100000000);
        uint8_t out[BOOTSTATE_SIZE];
        assert_int_equal(bootstate_format(&st, out), BOOTSTATE_SIZE);
        assert_memory_equal(out, record, sizeof(record));
        struct bootstate big = { UINT32_MAX, UINT32_MAX, UINT64_MAX }, back;
        bootstate_format(&big, out);
        assert_int_equal(bootstate_parse(out, sizeof(out), &back), 0);
        assert_memory_equal(&big, &back, sizeof(big));

        /* every truncation, and one byte more: refused, nothing written */
        uint8_t longer[BOOTSTATE_SIZE + 1];
        memcpy(longer, record, sizeof(record));
        longer[BOOTSTATE_SIZE] = 0;
        for (size_t n = 0; n <= sizeof(longer); n++) {
                if (n == BOOTSTATE_SIZE)
                        continue;
                st = sentinel;
                assert_int_equal(bootstate_parse(longer, n, &st), -EBADMSG);
                assert_memory_equal(&st, &sentinel, sizeof(st));
        }
        /* magic and version */
        for (size_t i = 0; i < 8; i++) {
                uint8_t bad[BOOTSTATE_SIZE];
                memcpy(bad, record, sizeof(bad));
                bad[i] ^= (uint8_t)(i < 4 ? 0x20 : 0x02);
                st = sentinel;
                assert_int_equal(bootstate_parse(bad, sizeof(bad), &st), -EBADMSG);
                assert_memory_equal(&st, &sentinel, sizeof(st));
        }
        assert_int_equal(bootstate_parse(NULL, 0, &st), -EBADMSG);
}

static void test_bootstate_read_write(void **state)
{
        struct bootstate st = { 1, 2, 3 };
        const char *file = BOOTSTATE_NAME "-" EMBER_VENDOR_GUID;
        /* absent: zeros */
        assert_int_equal(bootstate_read(dir, &st), 0);
        assert_int_equal(st.failures, 0);
        assert_int_equal(st.last_stage, 0);
        assert_int_equal(st.time, 0);

        struct bootstate w = { 4, 9, 1700000000 };
        assert_int_equal(bootstate_write(dir, &w), 0);
        assert_int_equal(write_calls, 1);
        uint8_t raw[64];
        assert_int_equal(file_bytes(file, raw, sizeof(raw)), 4 + BOOTSTATE_SIZE);
        assert_int_equal(raw[0], 7);
        assert_memory_equal(raw + 4, "EMBS", 4);
        assert_int_equal(bootstate_read(dir, &st), 1);
        assert_memory_equal(&st, &w, sizeof(st));

        /* malformed: -EBADMSG, and zeros to carry on with */
        uint8_t bad[4 + BOOTSTATE_SIZE + 1];
        memcpy(bad, (const uint8_t[]){ 7, 0, 0, 0 }, 4);
        memcpy(bad + 4, record, BOOTSTATE_SIZE);
        bad[4 + BOOTSTATE_SIZE] = 0;
        for (size_t n = 0; n <= sizeof(bad); n++) {
                if (n == 4 + BOOTSTATE_SIZE)
                        continue;
                put_file(file, bad, n);
                st = w;
                assert_int_equal(bootstate_read(dir, &st), -EBADMSG);
                assert_int_equal(st.failures, 0);
                assert_int_equal(st.time, 0);
        }
        /* other attributes: not what Ember writes */
        bad[0] = 3;
        put_file(file, bad, 4 + BOOTSTATE_SIZE);
        assert_int_equal(bootstate_read(dir, &st), -EBADMSG);
        bad[0] = 7;
        put_file(file, bad, 4 + BOOTSTATE_SIZE);
        assert_int_equal(bootstate_read(dir, &st), 1);
        assert_int_equal(st.failures, 3);
        /* a large file is read only as far as the bound */
        static uint8_t huge[100000];
        memcpy(huge, bad, 4 + BOOTSTATE_SIZE);
        put_file(file, huge, sizeof(huge));
        assert_int_equal(bootstate_read(dir, &st), -EBADMSG);
        /* and overwritten */
        assert_int_equal(bootstate_write(dir, &w), 0);
        assert_int_equal(bootstate_read(dir, &st), 1);
        assert_int_equal(st.failures, 4);
        assert_int_equal(bootstate_read(dir, NULL), -EINVAL);
}

/* ---- backoff ---- */

static void test_backoff(void **state)
{
        const uint64_t base = 10000, cap = 600000;
        assert_int_equal(backoff_delay_ms(0, base, cap, 12345), 0);
        assert_int_equal(backoff_delay_ms(0, base, cap, UINT32_MAX), 0);
        /* failure 1: 5..10 s; 2: 10..20 s; ... */
        assert_int_equal(backoff_delay_ms(1, base, cap, 0), 5000);
        assert_int_equal(backoff_delay_ms(1, base, cap, 5000), 10000);
        assert_int_equal(backoff_delay_ms(1, base, cap, 5001), 5000);
        assert_int_equal(backoff_delay_ms(2, base, cap, 0), 10000);
        assert_int_equal(backoff_delay_ms(2, base, cap, 10000), 20000);
        uint64_t prev_max = 0, prev_min = 0, prev_d = 0;
        for (unsigned f = 1; f <= 200; f++) {
                uint64_t d = base << (f - 1 < 32 ? f - 1 : 32);
                if (f - 1 >= 32 || d > cap)
                        d = cap;
                uint64_t lo = backoff_delay_ms(f, base, cap, 0);
                assert_int_equal(lo, d / 2);
                uint64_t hi = 0;
                for (uint32_t r = 0; r < 64; r++) {
                        uint64_t v = backoff_delay_ms(f, base, cap, r * 0x4000000u + r);
                        assert_true(v >= d / 2 && v <= d && v <= cap);
                        hi = v > hi ? v : hi;
                }
                uint64_t top = backoff_delay_ms(f, base, cap, (uint32_t)(d / 2));
                assert_int_equal(top, d / 2 + d / 2);
                hi = top > hi ? top : hi;
                /* never shrinks: while doubling, this range starts where the
                 * last one ended; at the cap the range stays the same */
                if (d == 2 * prev_d)
                        assert_true(lo >= prev_max);
                assert_true(lo >= prev_min && hi >= prev_max);
                prev_max = hi;
                prev_min = lo;
                prev_d = d;
        }
        /* the cap holds for every count, with no overflow */
        static const unsigned counts[] = { 1, 2, 33, 63, 64, 65, 1000, UINT32_MAX / 2, UINT32_MAX };
        for (size_t i = 0; i < ELEMENTSOF(counts); i++) {
                for (uint32_t r = 0; r < 5; r++) {
                        uint32_t rnd = r == 4 ? UINT32_MAX : r * 1000003u;
                        assert_true(backoff_delay_ms(counts[i], base, cap, rnd) <= cap);
                        assert_true(backoff_delay_ms(counts[i], UINT64_MAX, UINT64_MAX, rnd) >= UINT64_MAX / 2);
                        assert_true(backoff_delay_ms(counts[i], 1, 1, rnd) <= 1);
                        assert_int_equal(backoff_delay_ms(counts[i], 0, cap, rnd), 0);
                        assert_true(backoff_delay_ms(counts[i], base, 0, rnd) == 0);
                }
        }
        assert_int_equal(backoff_delay_ms(UINT32_MAX, base, cap, 0), cap / 2);
        /* a base above the cap is the cap */
        assert_int_equal(backoff_delay_ms(1, 2 * cap, cap, 0), cap / 2);
        /* a fleet spreads: random values give different delays */
        assert_true(backoff_delay_ms(5, base, cap, 1) != backoff_delay_ms(5, base, cap, 77777));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_bounds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
                cmocka_unit_test_setup_teardown(test_short_write, setup, teardown),
                cmocka_unit_test_setup_teardown(test_immutable, setup, teardown),
                cmocka_unit_test(test_utf16),
                cmocka_unit_test_setup_teardown(test_loader_entry_selected, setup, teardown),
                cmocka_unit_test_setup_teardown(test_loader_device_partuuid, setup, teardown),
                cmocka_unit_test(test_bootstate_parse),
                cmocka_unit_test_setup_teardown(test_bootstate_read_write, setup, teardown),
                cmocka_unit_test(test_backoff),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
