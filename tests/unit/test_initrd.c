/* SPDX-License-Identifier: Apache-2.0 */
/* The initrd writer: spec rejections, implicit parents, byte-for-byte
 * reproducibility, what libarchive reads back, and that failed or killed
 * writes leave nothing behind. Linked with -Wl,--wrap=read,--wrap=openat so
 * a test can change a source or kill the process in the middle of a write,
 * or take O_TMPFILE away. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "initrd.h"
#include "util.h"

/* ---- read() hook ------------------------------------------------------ */

enum hook_action { HOOK_NONE, HOOK_GROW, HOOK_SHRINK, HOOK_KILL };

static enum hook_action hook_action;
static dev_t hook_dev;
static ino_t hook_ino;
static const char *hook_path;

ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap_read(int fd, void *buf, size_t n);

/* Acts once, on the first read of the armed file. */
ssize_t __wrap_read(int fd, void *buf, size_t n)
{
        struct stat st;

        if (hook_action != HOOK_NONE && fstat(fd, &st) == 0 && st.st_dev == hook_dev &&
            st.st_ino == hook_ino) {
                enum hook_action a = hook_action;
                hook_action = HOOK_NONE;
                if (a == HOOK_KILL)
                        raise(SIGKILL);
                if (a == HOOK_SHRINK)
                        assert_int_equal(truncate(hook_path, st.st_size / 2), 0);
                if (a == HOOK_GROW) {
                        int afd = open(hook_path, O_WRONLY | O_APPEND | O_CLOEXEC);
                        assert_true(afd >= 0);
                        assert_int_equal(write(afd, "more", 4), 4);
                        close(afd);
                }
        }
        return __real_read(fd, buf, n);
}

/* Set: O_TMPFILE fails as it does on file systems without it, so the
 * writer takes its named-temporary-file path. */
static bool hook_no_tmpfile;

int __real_openat(int dfd, const char *path, int flags, ...);
int __wrap_openat(int dfd, const char *path, int flags, ...);

int __wrap_openat(int dfd, const char *path, int flags, ...)
{
        mode_t mode = 0;

        if (flags & (O_CREAT | __O_TMPFILE)) {
                va_list ap;
                va_start(ap, flags);
                mode = va_arg(ap, mode_t);
                va_end(ap);
        }
        if (hook_no_tmpfile && (flags & __O_TMPFILE) == __O_TMPFILE) {
                errno = EOPNOTSUPP;
                return -1;
        }
        return __real_openat(dfd, path, flags, mode);
}

static void hook_arm(enum hook_action a, const char *path)
{
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        hook_dev = st.st_dev;
        hook_ino = st.st_ino;
        hook_path = path;
        hook_action = a;
}

/* ---- helpers ---------------------------------------------------------- */

struct fixture {
        char dir[64];       /* sources */
        char outdir[80];    /* outputs, nothing else */
        char *spec;         /* the sample spec, with source paths filled in */
};

static void write_file(const char *path, const void *data, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        assert_int_equal(close(fd), 0);
}

/* Whole file, for comparisons; tests only. */
static char *slurp(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        long len = ftell(f);
        assert_true(len >= 0);
        rewind(f);
        char *buf = malloc((size_t)len + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
        fclose(f);
        *ret_len = (size_t)len;
        return buf;
}

static char *path_in(const char *dir, const char *name)
{
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

/* Names in dir, sorted, joined by spaces: the whole state of an output
 * directory in one comparable string. */
static char *list_dir(const char *dir)
{
        struct dirent **names;
        int n = scandir(dir, &names, NULL, alphasort);
        char *s = strdup("");

        assert_true(n >= 0);
        assert_non_null(s);
        for (int i = 0; i < n; i++) {
                if (!streq(names[i]->d_name, ".") && !streq(names[i]->d_name, "..")) {
                        char *t = NULL;
                        assert_true(asprintf(&t, "%s%s%s", s, *s ? " " : "", names[i]->d_name) > 0);
                        free(s);
                        s = t;
                }
                free(names[i]);
        }
        free(names);
        return s;
}

static void assert_dir_is(const char *dir, const char *expected)
{
        char *got = list_dir(dir);
        assert_string_equal(got, expected);
        free(got);
}

static struct initrd_spec *parse_ok(const char *text)
{
        struct initrd_spec *s = NULL;
        char err[512] = "";
        int r = initrd_spec_parse(text, strlen(text), &s, err, sizeof(err));
        if (r < 0)
                fail_msg("parse failed: %s", err);
        assert_non_null(s);
        return s;
}

static int write_spec(const char *text, const char *out, enum initrd_compress c, int64_t mtime,
                      char *err, size_t errlen)
{
        struct initrd_spec *s = parse_ok(text);
        int r = initrd_write(s, out, c, mtime, err, errlen);
        initrd_spec_free(s);
        return r;
}

/* 200 KiB, so a source spans several of the writer's read chunks; and a
 * size that is not a multiple of 4, so the newc padding is exercised. */
#define BIG_SIZE (200 * 1024 + 3)

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        const char *tmp = getenv("TMPDIR") ?: "/tmp";

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "%s/initrd-test.XXXXXX", tmp);
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->outdir, sizeof(f->outdir), "%s/out", f->dir);
        assert_int_equal(mkdir(f->outdir, 0755), 0);

        char *p = path_in(f->dir, "init.src");
        write_file(p, "#!/bin/sh\necho", 14);
        free(p);
        p = path_in(f->dir, "empty.src");
        write_file(p, "", 0);
        free(p);
        unsigned char *big = malloc(BIG_SIZE);
        assert_non_null(big);
        for (size_t i = 0; i < BIG_SIZE; i++)
                big[i] = (unsigned char)((i * 2654435761u) >> 13);
        p = path_in(f->dir, "big.src");
        write_file(p, big, BIG_SIZE);
        free(p);
        free(big);

        /* Deliberately unsorted; "Z" < "a" and "lib-x" < "lib/" bytewise,
         * not in most locales. */
        assert_true(asprintf(&f->spec,
                             "# sample\n"
                             "file  /init %1$s/init.src 0755 0 0\n"
                             "\n"
                             "slink /bin/sh busybox 0777 0 0\n"
                             "file  /bin/busybox %1$s/big.src 04755 0 0\n"
                             "  nod /dev/console 0600 0 5 c 5 1\n"
                             "nod\t/dev/sda\t0660\t0\t6\tb\t8\t0\n"
                             "dir   /bin 0700 1000 1000\n"
                             "dir   /a-b 0755 0 0\n"
                             "dir   /Z 0555 7 8\n"
                             "dir   /lib-x 0755 0 0\n"
                             "file  /lib/modules/6.1.0/kernel/x.ko %1$s/big.src 0644 0 0\n"
                             "file  /empty %1$s/empty.src 0600 12 34\n",
                             f->dir) > 0);
        *state = f;
        return 0;
}

static void rm_tree(const char *dir)
{
        struct dirent **names;
        int n = scandir(dir, &names, NULL, NULL);

        for (int i = 0; i < n; i++) {
                const char *d = names[i]->d_name;
                if (!streq(d, ".") && !streq(d, "..")) {
                        char *p = path_in(dir, d);
                        if (unlink(p) < 0 && errno == EISDIR)
                                rm_tree(p);
                        free(p);
                }
                free(names[i]);
        }
        if (n >= 0)
                free(names);
        rmdir(dir);
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        hook_action = HOOK_NONE;
        hook_no_tmpfile = false;
        rm_tree(f->dir);
        free(f->spec);
        free(f);
        return 0;
}

/* ---- spec parsing ----------------------------------------------------- */

struct bad_spec {
        const char *text;
        const char *line;   /* "line N:" the error must start with */
        const char *why;    /* and a phrase it must contain */
};

static const struct bad_spec bad_specs[] = {
        { "dir /a 0755 0 0\nfoo /b\n", "line 2:", "unknown entry type 'foo'" },
        { "# c\n\n \t\nbogus\n", "line 4:", "unknown entry type" },
        { "dir /a 0755 0\n", "line 1:", "dir takes 4 fields" },
        { "dir /a 0755 0 0 x\n", "line 1:", "found 5" },
        { "file /a src 0644 0\n", "line 1:", "file takes 5 fields" },
        { "slink /a 0777 0 0\n", "line 1:", "slink takes 5 fields" },
        { "nod /dev/x 0600 0 0 c 1\n", "line 1:", "nod takes 7 fields" },
        { "dir a 0755 0 0\n", "line 1:", "not absolute" },
        { "dir /a/../b 0755 0 0\n", "line 1:", "'..' component" },
        { "dir /a/.. 0755 0 0\n", "line 1:", "'..' component" },
        { "dir /a/./b 0755 0 0\n", "line 1:", "'.' component" },
        { "dir /. 0755 0 0\n", "line 1:", "'.' component" },
        { "dir /a//b 0755 0 0\n", "line 1:", "empty component" },
        { "dir /a/ 0755 0 0\n", "line 1:", "trailing slash" },
        { "dir / 0755 0 0\n", "line 1:", "root directory is implicit" },
        { "dir /a 0758 0 0\n", "line 1:", "mode '0758' is not an octal number" },
        { "dir /a rwx 0 0\n", "line 1:", "mode 'rwx'" },
        { "dir /a 010000 0 0\n", "line 1:", "up to 07777" },
        { "dir /a -755 0 0\n", "line 1:", "mode '-755'" },
        { "dir /a 0755 root 0\n", "line 1:", "uid 'root'" },
        { "dir /a 0755 0 -1\n", "line 1:", "gid '-1'" },
        { "dir /a 0755 4294967295 0\n", "line 1:", "uid '4294967295'" },
        { "dir /a 0755 0 0x10\n", "line 1:", "gid '0x10'" },
        { "nod /dev/x 0600 0 0 p 1 3\n", "line 1:", "device type 'p'" },
        { "nod /dev/x 0600 0 0 c 4096 0\n", "line 1:", "major '4096'" },
        { "nod /dev/x 0600 0 0 b 8 1048576\n", "line 1:", "minor '1048576'" },
        { "dir /a 0755 0 0\nfile /a src 0644 0 0\n", "line 2:", "duplicate path /a (first on line 1)" },
        { "dir /b 0755 0 0\ndir /a 0755 0 0\ndir /b 0700 0 0\n", "line 3:", "duplicate path /b" },
        { "file /a src 0644 0 0\ndir /a/b 0755 0 0\n", "line 2:",
          "parent /a of /a/b is a file (line 1), not a directory" },
        { "dir /x/y/z 0755 0 0\nslink /x busybox 0777 0 0\n", "line 1:",
          "parent /x of /x/y/z is a symlink (line 2)" },
        { "nod /d 0600 0 0 c 1 3\nfile /d/e/f src 0644 0 0\n", "line 2:", "device node" },
        { "dir /a 0755 0 0\r\n", "line 1:", "CRLF" },
        { "dir /a\x01 0755 0 0\n", "line 1:", "control character 0x01" },
};

static void test_parse_errors(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(bad_specs); i++) {
                const struct bad_spec *b = &bad_specs[i];
                struct initrd_spec *sentinel = (struct initrd_spec *)&sentinel;
                struct initrd_spec *s = sentinel;
                char err[512] = "";

                int r = initrd_spec_parse(b->text, strlen(b->text), &s, err, sizeof(err));
                if (r != -EINVAL || !startswith(err, b->line) || !strstr(err, b->why))
                        fail_msg("spec %zu: got %d '%s', want '%s ... %s'", i, r, err, b->line,
                                 b->why);
                assert_ptr_equal(s, sentinel); /* untouched on failure */
        }
}

/* A NUL inside the text is a bad byte on its line, not a terminator; bad
 * arguments are refused before anything is read. */
static void test_parse_nul_and_arguments(void **state)
{
        static const char text[] = "dir /a 0755 0 0\n# fine\ndir /b\0 0755 0 0\n";
        struct initrd_spec *s = NULL;
        char err[256];

        assert_int_equal(initrd_spec_parse(text, sizeof(text) - 1, &s, err, sizeof(err)), -EINVAL);
        assert_non_null(startswith(err, "line 3: control character 0x00"));
        assert_null(s);
        assert_int_equal(initrd_spec_parse(NULL, 0, NULL, err, sizeof(err)), -EINVAL);
        assert_int_equal(initrd_spec_parse(NULL, 1, &s, NULL, 0), -EINVAL);
        assert_null(s);
}

static void test_parse_implicit_parents(void **state)
{
        struct initrd_spec *s = parse_ok("file /lib/modules/6.1/kernel/a.ko src 0644 0 0\n"
                                         "file /lib/modules/6.1/kernel/b.ko src 0644 0 0\n"
                                         "dir /lib/modules 0700 0 0\n"
                                         "file /lib/firmware/x.bin src 0644 0 0\n");
        /* 4 explicit; /lib, /lib/modules/6.1, .../kernel, /lib/firmware added once. */
        assert_int_equal(initrd_spec_count(s), 8);
        initrd_spec_free(s);

        s = parse_ok("");
        assert_int_equal(initrd_spec_count(s), 0);
        initrd_spec_free(s);
        s = parse_ok("# only a comment");
        assert_int_equal(initrd_spec_count(s), 0);
        initrd_spec_free(s);
        initrd_spec_free(NULL);
}

static void test_compress_names(void **state)
{
        enum initrd_compress c;

        assert_int_equal(initrd_compress_from_string("zstd", &c), 0);
        assert_int_equal(c, INITRD_COMPRESS_ZSTD);
        assert_int_equal(initrd_compress_from_string("gzip", &c), 0);
        assert_int_equal(c, INITRD_COMPRESS_GZIP);
        assert_int_equal(initrd_compress_from_string("none", &c), 0);
        assert_int_equal(c, INITRD_COMPRESS_NONE);
        assert_int_equal(initrd_compress_from_string("xz", &c), -EINVAL);
        assert_string_equal(initrd_compress_to_string(INITRD_COMPRESS_GZIP), "gzip");
        assert_null(initrd_compress_to_string((enum initrd_compress)7));
}

/* ---- reading back ----------------------------------------------------- */

struct expect {
        const char *path;
        mode_t mode;        /* type and permissions */
        uint32_t uid, gid;
        const char *data;   /* file: source name in the fixture dir; slink: target */
        unsigned rmajor, rminor;
};

/* The sample spec in archive order, implicit parents included. */
static const struct expect sample[] = {
        { "Z", S_IFDIR | 0555, 7, 8, NULL, 0, 0 },
        { "a-b", S_IFDIR | 0755, 0, 0, NULL, 0, 0 },
        { "bin", S_IFDIR | 0700, 1000, 1000, NULL, 0, 0 },
        { "bin/busybox", S_IFREG | 04755, 0, 0, "big.src", 0, 0 },
        { "bin/sh", S_IFLNK | 0777, 0, 0, "busybox", 0, 0 },
        { "dev", S_IFDIR | 0755, 0, 0, NULL, 0, 0 },
        { "dev/console", S_IFCHR | 0600, 0, 5, NULL, 5, 1 },
        { "dev/sda", S_IFBLK | 0660, 0, 6, NULL, 8, 0 },
        { "empty", S_IFREG | 0600, 12, 34, "empty.src", 0, 0 },
        { "init", S_IFREG | 0755, 0, 0, "init.src", 0, 0 },
        { "lib", S_IFDIR | 0755, 0, 0, NULL, 0, 0 },
        { "lib-x", S_IFDIR | 0755, 0, 0, NULL, 0, 0 },
        { "lib/modules", S_IFDIR | 0755, 0, 0, NULL, 0, 0 },
        { "lib/modules/6.1.0", S_IFDIR | 0755, 0, 0, NULL, 0, 0 },
        { "lib/modules/6.1.0/kernel", S_IFDIR | 0755, 0, 0, NULL, 0, 0 },
        { "lib/modules/6.1.0/kernel/x.ko", S_IFREG | 0644, 0, 0, "big.src", 0, 0 },
};

static void check_data(struct archive *a, const struct fixture *f, const char *src)
{
        size_t len;
        char *p = path_in(f->dir, src);
        char *want = slurp(p, &len);
        char *got = malloc(len + 1);

        assert_non_null(got);
        assert_int_equal(archive_read_data(a, got, len + 1), (la_ssize_t)len);
        assert_memory_equal(got, want, len);
        free(got);
        free(want);
        free(p);
}

static void check_entry(struct archive *a, struct archive_entry *ae, size_t i,
                        const struct fixture *f, int64_t mtime)
{
        const struct expect *x = &sample[i];

        assert_string_equal(archive_entry_pathname(ae), x->path);
        assert_int_equal(archive_entry_mode(ae), x->mode);
        assert_int_equal(archive_entry_uid(ae), x->uid);
        assert_int_equal(archive_entry_gid(ae), x->gid);
        assert_null(archive_entry_uname(ae));
        assert_null(archive_entry_gname(ae));
        assert_int_equal(archive_entry_mtime(ae), mtime);
        assert_int_equal(archive_entry_mtime_nsec(ae), 0);
        assert_int_equal(archive_entry_ino64(ae), (int64_t)i + 1);
        assert_int_equal(archive_entry_nlink(ae), S_ISDIR(x->mode) ? 2 : 1);
        assert_int_equal(archive_entry_dev(ae), 0);
        assert_int_equal(archive_entry_rdevmajor(ae), x->rmajor);
        assert_int_equal(archive_entry_rdevminor(ae), x->rminor);
        if (S_ISLNK(x->mode)) {
                /* newc stores the target as the entry's body. */
                assert_string_equal(archive_entry_symlink(ae), x->data);
                assert_int_equal(archive_entry_size(ae), strlen(x->data));
        } else if (S_ISREG(x->mode)) {
                check_data(a, f, x->data);
        } else {
                assert_int_equal(archive_entry_size(ae), 0);
        }
}

static void check_sample(const struct fixture *f, const char *out, int filter, int64_t mtime)
{
        struct archive *a = archive_read_new();
        struct archive_entry *ae;
        size_t i = 0;
        int r;

        assert_non_null(a);
        archive_read_support_filter_all(a);
        archive_read_support_format_all(a);
        assert_int_equal(archive_read_open_filename(a, out, 16384), ARCHIVE_OK);
        while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
                assert_true(i < ELEMENTSOF(sample));
                check_entry(a, ae, i, f, mtime);
                i++;
        }
        assert_int_equal(r, ARCHIVE_EOF);
        assert_int_equal(i, ELEMENTSOF(sample));
        assert_int_equal(archive_format(a), ARCHIVE_FORMAT_CPIO_SVR4_NOCRC);
        assert_int_equal(archive_filter_count(a), filter == ARCHIVE_FILTER_NONE ? 1 : 2);
        assert_int_equal(archive_filter_code(a, 0), filter);
        archive_read_free(a);
}

static void test_write_read_back(void **state)
{
        static const struct { enum initrd_compress c; int filter; } cases[] = {
                { INITRD_COMPRESS_NONE, ARCHIVE_FILTER_NONE },
                { INITRD_COMPRESS_GZIP, ARCHIVE_FILTER_GZIP },
                { INITRD_COMPRESS_ZSTD, ARCHIVE_FILTER_ZSTD },
        };
        struct fixture *f = *state;
        struct initrd_spec *s = parse_ok(f->spec);
        char err[512] = "";

        assert_int_equal(initrd_spec_count(s), ELEMENTSOF(sample));
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *out = path_in(f->outdir, "initrd");
                int r = initrd_write(s, out, cases[i].c, 1700000000, err, sizeof(err));
                if (r < 0)
                        fail_msg("write %s: %s", initrd_compress_to_string(cases[i].c), err);
                check_sample(f, out, cases[i].filter, 1700000000);
                struct stat st;
                assert_int_equal(stat(out, &st), 0);
                assert_int_equal(st.st_mode & 07777, 0644);
                free(out);
        }
        assert_dir_is(f->outdir, "initrd");
        initrd_spec_free(s);
}

/* ---- reproducibility -------------------------------------------------- */

static void test_reproducible(void **state)
{
        struct fixture *f = *state;
        char err[512] = "";

        for (enum initrd_compress c = INITRD_COMPRESS_NONE; c <= INITRD_COMPRESS_ZSTD; c++) {
                char *a = path_in(f->outdir, "a"), *b = path_in(f->outdir, "b");
                char *m = path_in(f->outdir, "m");
                size_t la, lb, lm;

                assert_int_equal(write_spec(f->spec, a, c, 0, err, sizeof(err)), 0);
                /* A source's own mtime and the wall clock must not leak in. */
                char *src = path_in(f->dir, "init.src");
                assert_int_equal(utimensat(AT_FDCWD, src, (const struct timespec[2]){ { 1, 0 }, { 1, 0 } }, 0), 0);
                free(src);
                assert_int_equal(write_spec(f->spec, b, c, 0, err, sizeof(err)), 0);
                assert_int_equal(write_spec(f->spec, m, c, 1, err, sizeof(err)), 0);

                char *da = slurp(a, &la), *db = slurp(b, &lb), *dm = slurp(m, &lm);
                assert_int_equal(la, lb);
                assert_memory_equal(da, db, la);
                assert_true(la != lm || memcmp(da, dm, la) != 0);
                if (c == INITRD_COMPRESS_GZIP) {
                        /* FLG 0 (no name, no comment), MTIME 0, OS Unix. */
                        static const unsigned char head[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0 };
                        assert_memory_equal(da, head, sizeof(head));
                }
                free(da), free(db), free(dm), free(a), free(b), free(m);
        }
}

/* ---- failures leave nothing ------------------------------------------- */

static void test_missing_source(void **state)
{
        struct fixture *f = *state;
        char *out = path_in(f->outdir, "initrd");
        char err[512] = "";
        size_t lold, lnow;

        assert_int_equal(write_spec("file /init /nonexistent/init 0755 0 0\n", out,
                                    INITRD_COMPRESS_ZSTD, 0, err, sizeof(err)), -ENOENT);
        assert_non_null(strstr(err, "open source /nonexistent/init for /init"));
        assert_dir_is(f->outdir, "");

        /* With an old output in place, it survives byte for byte. */
        assert_int_equal(write_spec(f->spec, out, INITRD_COMPRESS_GZIP, 0, err, sizeof(err)), 0);
        char *old = slurp(out, &lold);
        char *spec = NULL;
        assert_true(asprintf(&spec, "%sfile /zz /nonexistent/zz 0644 0 0\n", f->spec) > 0);
        assert_int_equal(write_spec(spec, out, INITRD_COMPRESS_NONE, 5, err, sizeof(err)), -ENOENT);
        char *now = slurp(out, &lnow);
        assert_int_equal(lold, lnow);
        assert_memory_equal(old, now, lold);
        assert_dir_is(f->outdir, "initrd");

        free(old), free(now), free(spec), free(out);
}

static void test_bad_arguments(void **state)
{
        struct fixture *f = *state;
        struct initrd_spec *s = parse_ok(f->spec);
        char *out = path_in(f->outdir, "initrd");
        char *dirout = path_in(f->outdir, "sub/");
        char *nodir = path_in(f->dir, "missing/initrd");
        char err[512] = "";

        assert_int_equal(initrd_write(s, out, INITRD_COMPRESS_ZSTD, -1, err, sizeof(err)), -ERANGE);
        assert_non_null(strstr(err, "mtime -1"));
        assert_int_equal(initrd_write(s, out, INITRD_COMPRESS_ZSTD, INT64_C(0x100000000), err,
                                      sizeof(err)), -ERANGE);
        assert_int_equal(initrd_write(s, out, (enum initrd_compress)9, 0, err, sizeof(err)), -EINVAL);
        assert_int_equal(initrd_write(NULL, out, INITRD_COMPRESS_ZSTD, 0, err, sizeof(err)), -EINVAL);
        assert_int_equal(initrd_write(s, dirout, INITRD_COMPRESS_ZSTD, 0, err, sizeof(err)), -EISDIR);
        assert_int_equal(initrd_write(s, nodir, INITRD_COMPRESS_ZSTD, 0, err, sizeof(err)), -ENOENT);
        assert_non_null(strstr(err, "open output directory"));
        assert_dir_is(f->outdir, "");

        /* A source that is not a regular file. */
        assert_int_equal(write_spec("file /null /dev/null 0644 0 0\n", out, INITRD_COMPRESS_NONE,
                                    0, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "not a regular file"));
        assert_dir_is(f->outdir, "");

        initrd_spec_free(s);
        free(out), free(dirout), free(nodir);
}

static void test_source_changes_size(void **state)
{
        struct fixture *f = *state;
        char *out = path_in(f->outdir, "initrd");
        char *big = path_in(f->dir, "big.src");
        char err[512] = "";

        hook_arm(HOOK_GROW, big);
        assert_int_equal(write_spec(f->spec, out, INITRD_COMPRESS_NONE, 0, err, sizeof(err)), -EBUSY);
        assert_non_null(strstr(err, "grew"));
        assert_non_null(strstr(err, "for /bin/busybox"));
        assert_dir_is(f->outdir, "");

        hook_arm(HOOK_SHRINK, big);
        assert_int_equal(write_spec(f->spec, out, INITRD_COMPRESS_ZSTD, 0, err, sizeof(err)), -EBUSY);
        assert_non_null(strstr(err, "shrank"));
        assert_dir_is(f->outdir, "");

        free(out), free(big);
}

/* SIGKILL in the middle of a write: no handler runs, so only an unnamed
 * O_TMPFILE keeps the directory clean. */
static void test_killed_write(void **state)
{
        struct fixture *f = *state;
        char *out = path_in(f->outdir, "initrd");
        char *big = path_in(f->dir, "big.src");
        char err[512] = "";
        size_t lold, lnow;

        int probe = open(f->outdir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (probe < 0)
                skip(); /* the writer falls back to a named temp file here */
        close(probe);

        assert_int_equal(write_spec(f->spec, out, INITRD_COMPRESS_GZIP, 0, err, sizeof(err)), 0);
        char *old = slurp(out, &lold);

        struct initrd_spec *s = parse_ok(f->spec);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                hook_arm(HOOK_KILL, big);
                initrd_write(s, out, INITRD_COMPRESS_ZSTD, 0, err, sizeof(err));
                _exit(0); /* not reached: the hook kills the child */
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);

        char *now = slurp(out, &lnow);
        assert_int_equal(lold, lnow);
        assert_memory_equal(old, now, lold);
        assert_dir_is(f->outdir, "initrd");

        initrd_spec_free(s);
        free(old), free(now), free(out), free(big);
}

/* Where O_TMPFILE is missing, the named temporary file is removed on
 * failure and renamed on success. */
static void test_named_temp_fallback(void **state)
{
        struct fixture *f = *state;
        char *out = path_in(f->outdir, "initrd");
        char *spec = NULL;
        char err[512] = "";
        size_t lold, lnow;

        hook_no_tmpfile = true;
        assert_int_equal(write_spec(f->spec, out, INITRD_COMPRESS_ZSTD, 3, err, sizeof(err)), 0);
        check_sample(f, out, ARCHIVE_FILTER_ZSTD, 3);
        assert_dir_is(f->outdir, "initrd");

        char *old = slurp(out, &lold);
        assert_true(asprintf(&spec, "%sfile /zz /nonexistent/zz 0644 0 0\n", f->spec) > 0);
        assert_int_equal(write_spec(spec, out, INITRD_COMPRESS_ZSTD, 4, err, sizeof(err)), -ENOENT);
        char *now = slurp(out, &lnow);
        assert_int_equal(lold, lnow);
        assert_memory_equal(old, now, lold);
        assert_dir_is(f->outdir, "initrd");

        free(old), free(now), free(spec), free(out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_parse_nul_and_arguments),
                cmocka_unit_test(test_parse_implicit_parents),
                cmocka_unit_test(test_compress_names),
                cmocka_unit_test_setup_teardown(test_write_read_back, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reproducible, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_source, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
                cmocka_unit_test_setup_teardown(test_source_changes_size, setup, teardown),
                cmocka_unit_test_setup_teardown(test_killed_write, setup, teardown),
                cmocka_unit_test_setup_teardown(test_named_temp_fallback, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
