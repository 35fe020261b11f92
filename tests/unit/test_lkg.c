/* SPDX-License-Identifier: Apache-2.0 */
/* efi/lkg.c against a temporary directory standing in for the ESP: entry
 * names (hostile ones too), the version order, commit, prune and bless.
 * fstatvfs is wrapped (-Wl,--wrap=fstatvfs) so a test can make the ESP look
 * full without a small filesystem. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cmocka.h>
#include <mbedtls/sha256.h>

#include "lkg.h"
#include "util.h"

int __real_fstatvfs(int fd, struct statvfs *buf);
int __wrap_fstatvfs(int fd, struct statvfs *buf);
static long long fake_bavail = -1;

int __wrap_fstatvfs(int fd, struct statvfs *buf)
{
        int r = __real_fstatvfs(fd, buf);
        if (r == 0 && fake_bavail >= 0)
                buf->f_bavail = (fsblkcnt_t)fake_bavail;
        return r;
}

/* ---- names and versions ---- */

static void test_name_parse(void **state)
{
        static const struct {
                const char *name, *version;
                bool counted, has_done;
                unsigned left, done;
        } good[] = {
                { "ember-0.1.0.conf", "0.1.0", false, false, 0, 0 },
                { "ember-0.1.0+3.conf", "0.1.0", true, false, 3, 0 },
                { "ember-0.1.0+2-1.conf", "0.1.0", true, true, 2, 1 },
                { "ember-0.1.0+0-3.conf", "0.1.0", true, true, 0, 3 },
                { "ember-1.0-rc1+9999-9999.conf", "1.0-rc1", true, true, 9999, 9999 },
                { "ember-1.0~rc1^git5_x.conf", "1.0~rc1^git5_x", false, false, 0, 0 },
                { "ember-A.conf", "A", false, false, 0, 0 },
        };
        static const struct {
                const char *name, *why;
        } bad[] = {
                { "", "no \"ember-\" prefix" },
                { "ember-", "no \".conf\" suffix" },
                { "ember-.conf", "empty version" },
                { "ember-+3.conf", "empty version" },
                { "Ember-1.conf", "no \"ember-\" prefix" },
                { "debian.conf", "no \"ember-\" prefix" },
                { "ember-1.conf.ember-tmp", "no \".conf\" suffix" },
                { "ember-1.CONF", "no \".conf\" suffix" },
                { "ember-..conf", "must start with a letter or digit" },
                { "ember-...conf", "must start with a letter or digit" },
                { "ember-.hidden.conf", "must start with a letter or digit" },
                { "ember--1.conf", "must start with a letter or digit" },
                { "ember-~1.conf", "must start with a letter or digit" },
                { "ember-1/../../x.conf", "byte 0x2f at offset 1" },
                { "ember-1 2.conf", "byte 0x20" },
                { "ember-1\n.conf", "byte 0x0a" },
                { "ember-1\\x.conf", "byte 0x5c" },
                { "ember-\xc3\xa9.conf", "must start with a letter or digit" },
                { "ember-1\xff.conf", "byte 0xff" },
                { "ember-1+.conf", "bad tries-left" },
                { "ember-1++3.conf", "bad tries-left" },
                { "ember-1+3+1.conf", "unexpected byte 0x2b" },
                { "ember-1+-1.conf", "bad tries-left" },
                { "ember-1+03.conf", "bad tries-left" },
                { "ember-1+10000.conf", "bad tries-left" },
                { "ember-1+99999999999999999999.conf", "bad tries-left" },
                { "ember-1+3-.conf", "bad tries-done" },
                { "ember-1+3-01.conf", "bad tries-done" },
                { "ember-1+3-1-1.conf", "unexpected byte 0x2d" },
                { "ember-1+3x.conf", "unexpected byte 0x78" },
                { "ember-1+3.conf.conf", "unexpected byte 0x2e" },
                { "ember-1+ 3.conf", "bad tries-left" },
                { "ember-1..2.conf", "two separators in a row at offset 2" },
                { "ember-1.~2.conf", "two separators in a row" },
                { "ember-1-.conf", "must end with a letter or digit" },
                { "ember-1~+3.conf", "must end with a letter or digit" },
                { "ember-1_.conf", "must end with a letter or digit" },
        };
        char why[200];
        const struct reason w = { why, sizeof(why) };
        struct lkg_entry_name n;
        char back[LKG_ENTRY_NAME_MAX];
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                assert_int_equal(lkg_entry_name_parse(good[i].name, &n, &w), 0);
                assert_string_equal(n.version, good[i].version);
                assert_int_equal(n.counted, good[i].counted);
                assert_int_equal(n.has_done, good[i].has_done);
                assert_int_equal(n.left, good[i].left);
                assert_int_equal(n.done, good[i].done);
                assert_int_equal(lkg_entry_name_format(&n, back, sizeof(back)), 0);
                assert_string_equal(back, good[i].name);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                memset(&n, 0x5a, sizeof(n));
                struct lkg_entry_name before = n;
                why[0] = '\0';
                assert_int_equal(lkg_entry_name_parse(bad[i].name, &n, &w), -EINVAL);
                if (!strstr(why, bad[i].why))
                        fail_msg("%s: reason \"%s\", wanted \"%s\"", bad[i].name, why, bad[i].why);
                /* refused: the output is untouched */
                assert_memory_equal(&n, &before, sizeof(n));
        }

        /* bounds: the longest version parses, one more byte does not */
        char name[LKG_ENTRY_NAME_MAX + 64];
        snprintf(name, sizeof(name), "ember-%0*d+9999-9999.conf", LKG_VERSION_MAX, 7);
        assert_int_equal(lkg_entry_name_parse(name, &n, &w), 0);
        assert_int_equal(strlen(n.version), LKG_VERSION_MAX);
        snprintf(name, sizeof(name), "ember-%0*d.conf", LKG_VERSION_MAX + 1, 7);
        assert_int_equal(lkg_entry_name_parse(name, &n, &w), -EINVAL);
        assert_non_null(strstr(why, "longer than"));
        assert_int_equal(lkg_version_check("0.1.0-rc1", &w), 0);
        assert_int_equal(lkg_version_check("../x", &w), -EINVAL);
        assert_int_equal(lkg_version_check(NULL, &w), -EINVAL);
        static char huge[100000];
        memset(huge, 'a', sizeof(huge) - 1);
        memcpy(huge, "ember-", 6);
        assert_int_equal(lkg_entry_name_parse(huge, &n, &w), -EINVAL);
        assert_int_equal(lkg_entry_name_parse(NULL, &n, &w), -EINVAL);
        assert_int_equal(lkg_entry_name_parse("ember-1.conf", NULL, &w), -EINVAL);
        assert_int_equal(lkg_entry_name_parse("ember-1.conf", &n, NULL), 0);

        /* format refuses what parse would refuse */
        struct lkg_entry_name f = { .version = "..", .counted = false };
        assert_int_equal(lkg_entry_name_format(&f, back, sizeof(back)), -EINVAL);
        struct lkg_entry_name g = { .version = "1", .counted = true, .left = 3 };
        assert_int_equal(lkg_entry_name_format(&g, back, 5), -ENOBUFS);
}

static void test_version_cmp(void **state)
{
        /* each pair older < newer, checked against systemd-analyze compare-versions */
        static const char *const pairs[][2] = {
                { "1.0.1", "1.0a" }, { "1.0", "1.0^" },   { "1.0^", "1.0.1" }, { "1.0-1", "1.0.1" },
                { "1.0~rc1", "1.0" }, { "1.0", "1.0a" },   { "1.0", "1.0.0" },  { "a", "1" },
                { "1.0^1", "1.0a" },  { "1.0", "1_0" },    { "1.0ab", "1.0b" }, { "0.9", "0.10" },
                { "0.1.0", "0.2.0" }, { "2", "10" },       { "~1", "" },        { "~1", "~2" },
        };
        for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                if (lkg_version_cmp(pairs[i][0], pairs[i][1]) >= 0 || lkg_version_cmp(pairs[i][1], pairs[i][0]) <= 0)
                        fail_msg("%s should sort before %s", pairs[i][0], pairs[i][1]);
        }
        /* "" vs "~1": '~' sorts before even the end */
        assert_true(lkg_version_cmp("~1", "") < 0);
        assert_int_equal(lkg_version_cmp("1.01", "1.1"), 0);
        assert_int_equal(lkg_version_cmp("1.0", "1.0"), 0);
}

/* ---- the fake ESP ---- */

struct fixture {
        char dir[64], esp[96], src[96], small[96];
        int espfd;
        bool mounted;
};

static int setup(void **state)
{
        /* LKG_TEST_BASE: run on another filesystem (a vfat mount, as an ESP is) */
        const char *base = getenv("LKG_TEST_BASE");
        struct fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "%s/test_lkg.XXXXXX", base ? base : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->esp, sizeof(f->esp), "%s/esp", f->dir);
        snprintf(f->src, sizeof(f->src), "%s/src", f->dir);
        assert_int_equal(mkdir(f->esp, 0755), 0);
        assert_int_equal(mkdir(f->src, 0755), 0);
        f->espfd = open(f->esp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->espfd >= 0);
        fake_bavail = -1;
        *state = f;
        return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(p);
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        close(f->espfd);
        if (f->mounted)
                umount(f->small);
        nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(f);
        fake_bavail = -1;
        return 0;
}

static void sha256(const void *p, size_t n, uint8_t out[32])
{
        assert_int_equal(mbedtls_sha256_ret(p, n, out, 0), 0);
}

static void write_at(const char *dir, const char *rel, const char *text)
{
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, rel);
        FILE *fp = fopen(p, "we");
        assert_non_null(fp);
        assert_int_equal(fputs(text, fp) >= 0, 1);
        assert_int_equal(fclose(fp), 0);
}

static char *read_at(const char *dir, const char *rel)
{
        char p[512];
        static char buf[1 << 16];
        snprintf(p, sizeof(p), "%s/%s", dir, rel);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        assert_true(n >= 0);
        buf[n] = '\0';
        return buf;
}

/* What systemd-boot does to a counted entry before it boots it */
static void sd_boot_counts(const struct fixture *f, const char *from, const char *to)
{
        char a[256], b[256];
        snprintf(a, sizeof(a), "loader/entries/%s", from);
        snprintf(b, sizeof(b), "loader/entries/%s", to);
        assert_int_equal(renameat(f->espfd, a, f->espfd, b), 0);
}

static bool exists(const struct fixture *f, const char *rel)
{
        return faccessat(f->espfd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Kernel and initrd for a version, with their digests; the kernel is given
 * as a path, the initrd as an fd left at its end (the commit rewinds it). */
struct arts {
        struct lkg_artifacts a;
        char kpath[160], version[32];
        int ifd;
};

static void make_arts(const struct fixture *f, const char *version, struct arts *ret)
{
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->version, sizeof(ret->version), "%s", version);
        size_t ksize = 200000, isize = 70001;
        uint8_t *k = malloc(ksize), *i = malloc(isize);
        assert_non_null(k);
        assert_non_null(i);
        for (size_t j = 0; j < ksize; j++)
                k[j] = (uint8_t)(j * 7 + version[0]);
        for (size_t j = 0; j < isize; j++)
                i[j] = (uint8_t)(j * 13 + version[0]);
        snprintf(ret->kpath, sizeof(ret->kpath), "%s/vmlinuz-%s", f->src, version);
        int fd = open(ret->kpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, k, ksize), (ssize_t)ksize);
        close(fd);
        char ipath[160];
        snprintf(ipath, sizeof(ipath), "%s/initrd-%s", f->src, version);
        ret->ifd = open(ipath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(ret->ifd >= 0);
        assert_int_equal(write(ret->ifd, i, isize), (ssize_t)isize);
        ret->a.version = ret->version;
        ret->a.options = "console=ttyS0 ember.boot_url=http://10.0.2.2/boot";
        ret->a.kernel = (struct lkg_file){ .fd = -1, .path = ret->kpath };
        ret->a.initrd = (struct lkg_file){ .fd = ret->ifd };
        sha256(k, ksize, ret->a.kernel.sha256);
        sha256(i, isize, ret->a.initrd.sha256);
        free(k);
        free(i);
}

static void free_arts(struct arts *a) { close(a->ifd); }

/* Every path, size and content hash under the ESP, sorted: equal snapshots
 * mean nothing was written, renamed or removed. */
static char snap_buf[1 << 16];
static size_t snap_len;

static uint64_t fnv(const char *path)
{
        uint64_t h = 1469598103934665603ULL;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint8_t b[4096];
        ssize_t n;
        if (fd < 0)
                return 0;
        while ((n = read(fd, b, sizeof(b))) > 0)
                for (ssize_t j = 0; j < n; j++)
                        h = (h ^ b[j]) * 1099511628211ULL;
        close(fd);
        return h;
}

static int snap_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        int k = snprintf(snap_buf + snap_len, sizeof(snap_buf) - snap_len, "%s %c %lld %llx\n", p,
                         S_ISDIR(st->st_mode) ? 'd' : 'f', S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_size,
                         S_ISDIR(st->st_mode) ? 0ULL : (unsigned long long)fnv(p));
        assert_true(k > 0 && (size_t)k < sizeof(snap_buf) - snap_len);
        snap_len += (size_t)k;
        return 0;
}

static int cmp_lines(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *snapshot(const struct fixture *f)
{
        snap_len = 0;
        snap_buf[0] = '\0';
        assert_int_equal(nftw(f->esp, snap_one, 16, FTW_PHYS), 0);
        /* nftw's order is the directory order: sort the lines */
        char *copy = strdup(snap_buf), *lines[512];
        size_t n = 0;
        assert_non_null(copy);
        for (char *s = strtok(copy, "\n"); s && n < ELEMENTSOF(lines); s = strtok(NULL, "\n"))
                lines[n++] = s;
        qsort(lines, n, sizeof(lines[0]), cmp_lines);
        char *out = calloc(1, sizeof(snap_buf) + n);
        assert_non_null(out);
        for (size_t i = 0; i < n; i++) {
                strcat(out, lines[i]);
                strcat(out, "\n");
        }
        free(copy);
        return out;
}

static void commit_ok(const struct fixture *f, const char *version, const char *booted, struct lkg_result *res)
{
        struct arts a;
        char why[512] = "";
        const struct reason w = { why, sizeof(why) };
        make_arts(f, version, &a);
        int r = lkg_commit(f->espfd, &a.a, booted, res, &w);
        if (r != 0)
                fail_msg("commit %s: %d %s", version, r, why);
        free_arts(&a);
}

/* ---- commit ---- */

static void test_fresh_commit(void **state)
{
        struct fixture *f = *state;
        struct lkg_result res;
        commit_ok(f, "0.1.0", NULL, &res);
        assert_int_equal(res.outcome, LKG_WRITTEN);
        assert_string_equal(res.entry, "ember-0.1.0+3.conf");
        assert_true(res.loader_conf_written);
        assert_string_equal(res.previous, "");
        assert_int_equal(res.removed, 0);
        assert_int_equal(res.remove_failed, 0);
        assert_string_equal(read_at(f->esp, "loader/entries/ember-0.1.0+3.conf"),
                            "title Ember 0.1.0\nversion 0.1.0\nsort-key ember\nlinux /ember/0.1.0/vmlinuz\n"
                            "initrd /ember/0.1.0/initrd\noptions console=ttyS0 ember.boot_url=http://10.0.2.2/boot\n");
        assert_non_null(strstr(read_at(f->esp, "loader/loader.conf"), "\ndefault ember-*\ntimeout 0\n"));
        /* the files are the sources, byte for byte; no temporary name is left */
        struct arts a;
        make_arts(f, "0.1.0", &a);
        char p[256];
        snprintf(p, sizeof(p), "%s/ember/0.1.0/vmlinuz", f->esp);
        assert_true(fnv(p) == fnv(a.kpath));
        free_arts(&a);
        assert_true(exists(f, "ember/0.1.0/initrd"));
        char *s = snapshot(f);
        assert_null(strstr(s, "ember-tmp"));
        free(s);
}

static void test_keeps_previous_and_prunes_older(void **state)
{
        struct fixture *f = *state;
        struct lkg_result res;
        commit_ok(f, "0.1.0", NULL, &res);
        commit_ok(f, "0.2.0", NULL, &res);
        assert_string_equal(res.previous, "0.1.0");
        assert_int_equal(res.removed, 0);
        assert_false(res.loader_conf_written);
        assert_true(exists(f, "loader/entries/ember-0.1.0+3.conf"));
        assert_true(exists(f, "ember/0.1.0/vmlinuz"));
        assert_true(exists(f, "loader/entries/ember-0.2.0+3.conf"));

        /* the third: 0.2.0 is the previous LKG, 0.1.0 goes (entry and files) */
        commit_ok(f, "0.10.0", NULL, &res);
        assert_string_equal(res.previous, "0.2.0");
        assert_int_equal(res.removed, 1);
        assert_false(exists(f, "loader/entries/ember-0.1.0+3.conf"));
        assert_false(exists(f, "ember/0.1.0"));
        assert_true(exists(f, "loader/entries/ember-0.2.0+3.conf"));
        assert_true(exists(f, "ember/0.2.0/initrd"));
        assert_true(exists(f, "loader/entries/ember-0.10.0+3.conf"));
        assert_true(exists(f, "ember/0.10.0/vmlinuz"));
}

/* An entry added behind the library's back, as a newer release would be */
static void add_entry_by_hand(const struct fixture *f, const char *version, const char *name)
{
        char p[256];
        snprintf(p, sizeof(p), "%s/ember/%s", f->esp, version);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "ember/%s/vmlinuz", version);
        write_at(f->esp, p, "k");
        snprintf(p, sizeof(p), "ember/%s/initrd", version);
        write_at(f->esp, p, "i");
        snprintf(p, sizeof(p), "loader/entries/%s", name);
        write_at(f->esp, p, "title x\n");
}

static void test_prune_never_booted(void **state)
{
        struct fixture *f = *state;
        struct lkg_result res;
        commit_ok(f, "1", NULL, &res);
        commit_ok(f, "2", NULL, &res);
        add_entry_by_hand(f, "3", "ember-3+3.conf");
        char *before = snapshot(f);

        /* booted 1 (blessed name or counted, with or without .conf): kept */
        const char *booted[] = { "ember-1.conf", "ember-1+3.conf", "ember-1", "ember-1+2-1.conf" };
        for (size_t i = 0; i < ELEMENTSOF(booted); i++) {
                memset(&res, 0, sizeof(res));
                assert_int_equal(lkg_prune(f->espfd, "3", booted[i], &res, NULL), 0);
                assert_string_equal(res.previous, "2");
                char *after = snapshot(f);
                assert_string_equal(before, after);
                free(after);
        }
        free(before);

        /* not booted: it goes */
        assert_int_equal(lkg_prune(f->espfd, "3", NULL, NULL, NULL), 1);
        assert_false(exists(f, "loader/entries/ember-1+3.conf"));
        assert_false(exists(f, "ember/1"));
        assert_true(exists(f, "loader/entries/ember-2+3.conf"));
        assert_true(exists(f, "loader/entries/ember-3+3.conf"));
}

static void test_previous_lkg_has_tries(void **state)
{
        struct fixture *f = *state;
        /* 1 blessed, 2 exhausted (+0-3): the previous LKG is 1, which stays */
        char p[256];
        snprintf(p, sizeof(p), "%s/loader", f->esp);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/loader/entries", f->esp);
        assert_int_equal(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/ember", f->esp);
        assert_int_equal(mkdir(p, 0755), 0);
        add_entry_by_hand(f, "0.9", "ember-0.9.conf");
        add_entry_by_hand(f, "1", "ember-1.conf");
        add_entry_by_hand(f, "2", "ember-2+0-3.conf");
        struct lkg_result res;
        commit_ok(f, "3", NULL, &res);
        assert_string_equal(res.previous, "1");
        assert_int_equal(res.removed, 1);
        assert_false(exists(f, "loader/entries/ember-0.9.conf"));
        assert_true(exists(f, "loader/entries/ember-1.conf"));
        assert_true(exists(f, "loader/entries/ember-2+0-3.conf"));
}

static void test_foreign_untouched(void **state)
{
        struct fixture *f = *state;
        char p[256];
        const char *dirs[] = { "EFI", "EFI/BOOT", "EFI/Linux", "loader", "loader/entries", "ember", "ember/notes" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                snprintf(p, sizeof(p), "%s/%s", f->esp, dirs[i]);
                assert_int_equal(mkdir(p, 0755), 0);
        }
        write_at(f->esp, "EFI/BOOT/BOOTX64.EFI", "MZ systemd-boot");
        write_at(f->esp, "EFI/Linux/ember-0.0.1.efi", "a UKI, not ours to remove");
        write_at(f->esp, "loader/loader.conf", "default debian-*\ntimeout 5\n");
        write_at(f->esp, "loader/entries/debian.conf", "title Debian\n");
        write_at(f->esp, "loader/entries/ember-0.0.1 old.conf", "title not a valid Ember name\n");
        write_at(f->esp, "loader/entries/ember-0.0.1.conf.bak", "title backup\n");
        write_at(f->esp, "ember/notes/README", "an unknown tree under ember/\n");
        write_at(f->esp, "ember/README", "a file under ember/\n");
        char *before = snapshot(f);

        struct lkg_result res;
        commit_ok(f, "1", NULL, &res);
        commit_ok(f, "2", NULL, &res);
        commit_ok(f, "3", NULL, &res);
        assert_int_equal(res.removed, 1);
        assert_false(res.loader_conf_written);
        assert_string_equal(read_at(f->esp, "loader/loader.conf"), "default debian-*\ntimeout 5\n");

        /* everything that was there before is still there, unchanged */
        char *after = snapshot(f);
        for (char *line = strtok(before, "\n"); line; line = strtok(NULL, "\n"))
                if (!strstr(after, line))
                        fail_msg("changed or removed: %s", line);
        free(before);
        free(after);
}

static void test_same_as_booted(void **state)
{
        struct fixture *f = *state;
        struct lkg_result res;
        char why[512] = "";
        const struct reason w = { why, sizeof(why) };
        commit_ok(f, "1", NULL, &res);
        commit_ok(f, "2", NULL, &res);
        /* systemd-boot counted a try */
        sd_boot_counts(f, "ember-2+3.conf", "ember-2+2-1.conf");
        char *before = snapshot(f);

        const char *booted[] = { "ember-2.conf", "ember-2+2-1.conf", "ember-2" };
        for (size_t i = 0; i < ELEMENTSOF(booted); i++) {
                commit_ok(f, "2", booted[i], &res);
                assert_int_equal(res.outcome, LKG_UNCHANGED_BOOTED);
                assert_string_equal(res.entry, "ember-2+2-1.conf");
                char *after = snapshot(f);
                assert_string_equal(before, after);
                free(after);
        }
        /* a network boot of what the ESP already holds: nothing written either */
        commit_ok(f, "1", NULL, &res);
        assert_int_equal(res.outcome, LKG_UNCHANGED_PRESENT);

        /* the same version with other files: refused, nothing written */
        struct arts a;
        make_arts(f, "2", &a);
        write_at(f->src, "vmlinuz-2", "another kernel");
        sha256("another kernel", 14, a.a.kernel.sha256);
        assert_int_equal(lkg_commit(f->espfd, &a.a, NULL, &res, &w), -EEXIST);
        assert_non_null(strstr(why, "is missing or is not what booted"));
        /* booted from the ESP, asked to commit another version: refused */
        make_arts(f, "3", &a);
        assert_int_equal(lkg_commit(f->espfd, &a.a, "ember-2+2-1.conf", &res, &w), -EINVAL);
        assert_non_null(strstr(why, "only what booted may become the LKG"));
        free_arts(&a);
        char *after = snapshot(f);
        assert_string_equal(before, after);
        free(after);
        free(before);
}

static void test_digest_mismatch(void **state)
{
        struct fixture *f = *state;
        struct lkg_result res = { .removed = 77 };
        char why[512] = "";
        const struct reason w = { why, sizeof(why) };
        struct arts a;

        /* on an empty ESP: not even a directory is left */
        for (int which = 0; which < 2; which++) {
                make_arts(f, "1", &a);
                (which ? a.a.initrd.sha256 : a.a.kernel.sha256)[5] ^= 1;
                assert_int_equal(lkg_commit(f->espfd, &a.a, NULL, &res, &w), -EBADMSG);
                assert_non_null(strstr(why, which ? "the initrd is not the one that booted" :
                                                    "the kernel is not the one that booted"));
                assert_int_equal(res.removed, 77); /* ret untouched */
                free_arts(&a);
                char *s = snapshot(f);
                char want[200];
                snprintf(want, sizeof(want), "%s d 0 0\n", f->esp);
                assert_string_equal(s, want);
                free(s);
        }

        /* with two entries: the next commit fails and prunes nothing */
        commit_ok(f, "1", NULL, &res);
        commit_ok(f, "2", NULL, &res);
        char *before = snapshot(f);
        make_arts(f, "3", &a);
        a.a.initrd.sha256[31] ^= 0x80;
        assert_int_equal(lkg_commit(f->espfd, &a.a, NULL, &res, &w), -EBADMSG);
        free_arts(&a);
        char *after = snapshot(f);
        assert_string_equal(before, after);
        free(before);
        free(after);
}

static void test_no_space(void **state)
{
        struct fixture *f = *state;
        struct lkg_result res;
        char why[512] = "";
        const struct reason w = { why, sizeof(why) };
        commit_ok(f, "1", NULL, &res);
        commit_ok(f, "2", NULL, &res);
        char *before = snapshot(f);

        struct statvfs sv;
        assert_int_equal(fstatvfs(f->espfd, &sv), 0);
        /* room for the files but not for the margin */
        fake_bavail = (long long)((270000 + 8192) / sv.f_frsize);
        struct arts a;
        make_arts(f, "3", &a);
        assert_int_equal(lkg_commit(f->espfd, &a.a, NULL, &res, &w), -ENOSPC);
        assert_non_null(strstr(why, "not enough room on the ESP"));
        assert_non_null(strstr(why, "nothing is deleted to make room"));
        fake_bavail = 0;
        assert_int_equal(lkg_commit(f->espfd, &a.a, NULL, &res, &w), -ENOSPC);
        char *after = snapshot(f);
        assert_string_equal(before, after);
        free(after);
        free(before);

        /* with room: it commits */
        fake_bavail = (long long)((270000 + 2 * LKG_SPACE_MARGIN) / sv.f_frsize);
        assert_int_equal(lkg_commit(f->espfd, &a.a, NULL, &res, &w), 0);
        assert_int_equal(res.removed, 1);
        free_arts(&a);
}

/* The space check passes (fstatvfs lies) but the filesystem fills up while
 * copying: a tmpfs of 256 KiB, when the test may mount one (root). */
static void test_enospc_while_copying(void **state)
{
        struct fixture *f = *state;
        char why[512] = "";
        const struct reason w = { why, sizeof(why) };
        snprintf(f->small, sizeof(f->small), "%s/small", f->dir);
        assert_int_equal(mkdir(f->small, 0755), 0);
        if (geteuid() != 0 || mount("tmpfs", f->small, "tmpfs", 0, "size=256k") < 0)
                skip();
        f->mounted = true;
        int fd = open(f->small, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        fake_bavail = 1LL << 40;
        struct lkg_result res;
        struct arts a;
        make_arts(f, "1", &a);
        assert_int_equal(lkg_commit(fd, &a.a, NULL, &res, &w), -ENOSPC);
        assert_non_null(strstr(why, "copying the"));
        free_arts(&a);
        /* no trace: the small ESP is as empty as it was */
        DIR *d = fdopendir(fd);
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        fail_msg("left behind: %s", de->d_name);
        closedir(d);
}

static void test_bad_arguments(void **state)
{
        struct fixture *f = *state;
        struct lkg_result res;
        char why[512] = "";
        const struct reason w = { why, sizeof(why) };
        struct arts a;
        make_arts(f, "1", &a);
        a.a.options = "console=ttyS0\ninitrd /evil";
        assert_int_equal(lkg_commit(f->espfd, &a.a, NULL, &res, &w), -EINVAL);
        assert_non_null(strstr(why, "control character 0x0a in the command line"));
        a.a.options = "";
        a.a.title = "x\ry";
        assert_int_equal(lkg_commit(f->espfd, &a.a, NULL, &res, &w), -EINVAL);
        a.a.title = NULL;
        a.a.version = "../../EFI";
        assert_int_equal(lkg_commit(f->espfd, &a.a, NULL, &res, &w), -EINVAL);
        assert_non_null(strstr(why, "refusing version"));
        a.a.version = "1";
        assert_int_equal(lkg_commit(-1, &a.a, NULL, &res, &w), -EINVAL);
        assert_int_equal(lkg_commit(f->espfd, NULL, NULL, &res, &w), -EINVAL);
        free_arts(&a);
        char *s = snapshot(f);
        char want[200];
        snprintf(want, sizeof(want), "%s d 0 0\n", f->esp);
        assert_string_equal(s, want);
        free(s);
}

/* ---- bless ---- */

static void test_bless(void **state)
{
        struct fixture *f = *state;
        struct lkg_result res;
        char why[512] = "", entry[LKG_ENTRY_NAME_MAX] = "";
        const struct reason w = { why, sizeof(why) };
        commit_ok(f, "1", NULL, &res);
        sd_boot_counts(f, "ember-1+3.conf", "ember-1+2-1.conf");
        char *text = strdup(read_at(f->esp, "loader/entries/ember-1+2-1.conf"));

        assert_int_equal(lkg_bless(f->espfd, NULL, entry, &w), 0);
        assert_int_equal(lkg_bless(f->espfd, "debian.conf", entry, &w), 0);
        assert_int_equal(lkg_bless(f->espfd, "ember-7.conf", entry, &w), -ENOENT);
        assert_non_null(strstr(why, "is not on the ESP"));

        assert_int_equal(lkg_bless(f->espfd, "ember-1.conf", entry, &w), 1);
        assert_string_equal(entry, "ember-1.conf");
        assert_false(exists(f, "loader/entries/ember-1+2-1.conf"));
        assert_string_equal(read_at(f->esp, "loader/entries/ember-1.conf"), text);
        free(text);
        /* twice: nothing to do */
        assert_int_equal(lkg_bless(f->espfd, "ember-1+2-1.conf", entry, &w), 0);
        assert_string_equal(entry, "ember-1.conf");

        /* the booted name as LoaderEntrySelected may carry it, exhausted too */
        commit_ok(f, "2", NULL, &res);
        sd_boot_counts(f, "ember-2+3.conf", "ember-2+0-3.conf");
        assert_int_equal(lkg_bless(f->espfd, "ember-2+0-3.conf", entry, &w), 1);
        assert_true(exists(f, "loader/entries/ember-2.conf"));
        /* a committed entry that is later found already present keeps its blessing */
        commit_ok(f, "2", "ember-2.conf", &res);
        assert_int_equal(res.outcome, LKG_UNCHANGED_BOOTED);
        assert_string_equal(res.entry, "ember-2.conf");
}

/* ---- a try given back after a failure that is not the image's ---- */

static void test_uncount(void **state)
{
        struct fixture *f = *state;
        struct lkg_result res;
        char why[512] = "", entry[LKG_ENTRY_NAME_MAX] = "";
        const struct reason w = { why, sizeof(why) };
        commit_ok(f, "1", NULL, &res);

        /* nothing counted yet: nothing to give back */
        assert_int_equal(lkg_uncount(f->espfd, "ember-1+3.conf", entry, &w), 0);
        assert_true(exists(f, "loader/entries/ember-1+3.conf"));
        assert_int_equal(lkg_uncount(f->espfd, NULL, entry, &w), 0);
        assert_int_equal(lkg_uncount(f->espfd, "debian.conf", entry, &w), 0);
        assert_int_equal(lkg_uncount(f->espfd, "ember-9+1-2.conf", entry, &w), -ENOENT);

        sd_boot_counts(f, "ember-1+3.conf", "ember-1+2-1.conf");
        char *text = strdup(read_at(f->esp, "loader/entries/ember-1+2-1.conf"));
        assert_int_equal(lkg_uncount(f->espfd, "ember-1+2-1.conf", entry, &w), 1);
        assert_string_equal(entry, "ember-1+3.conf");
        assert_false(exists(f, "loader/entries/ember-1+2-1.conf"));
        assert_string_equal(read_at(f->esp, "loader/entries/ember-1+3.conf"), text);
        free(text);

        sd_boot_counts(f, "ember-1+3.conf", "ember-1+1-2.conf");
        assert_int_equal(lkg_uncount(f->espfd, "ember-1+1-2.conf", entry, &w), 1);
        assert_string_equal(entry, "ember-1+2-1.conf");

        /* a blessed entry is never counted by systemd-boot */
        assert_int_equal(lkg_bless(f->espfd, "ember-1+2-1.conf", entry, &w), 1);
        assert_int_equal(lkg_uncount(f->espfd, "ember-1.conf", entry, &w), 0);
        assert_true(exists(f, "loader/entries/ember-1.conf"));
        assert_int_equal(lkg_uncount(-1, "ember-1.conf", entry, &w), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_name_parse),
                cmocka_unit_test(test_version_cmp),
                cmocka_unit_test_setup_teardown(test_fresh_commit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_keeps_previous_and_prunes_older, setup, teardown),
                cmocka_unit_test_setup_teardown(test_prune_never_booted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_previous_lkg_has_tries, setup, teardown),
                cmocka_unit_test_setup_teardown(test_foreign_untouched, setup, teardown),
                cmocka_unit_test_setup_teardown(test_same_as_booted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_digest_mismatch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_space, setup, teardown),
                cmocka_unit_test_setup_teardown(test_enospc_while_copying, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bless, setup, teardown),
                cmocka_unit_test_setup_teardown(test_uncount, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
