/* SPDX-License-Identifier: Apache-2.0 */
/* The last-known-good commit on a mounted ESP (docs/lkg.md): the entry name
 * parser, the version order systemd-boot sorts by, and the commit, prune and
 * bless, each in the order parse, check, act. */
#include "lkg.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "fileio.h"
#include "util.h"

#define TMP_SUFFIX ".ember-tmp"
#define COPY_CHUNK (1024 * 1024)
#define OPTIONS_MAX 4096
#define TITLE_MAX 128
/* loader/entries is read whole: a bound against a hostile or broken ESP */
#define DIR_NAMES_MAX 4096

static const char LOADER_CONF[] = "# Written once by Ember (docs/lkg.md); Ember never rewrites it.\n"
                                  "default ember-*\n"
                                  "timeout 0\n"
                                  "editor no\n";

/* ---- names and versions (pure) ---- */

static bool version_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '~' || c == '^' || c == '-';
}

static int version_check_span(const char *p, size_t n, const struct reason *w)
{
        if (n == 0)
                return reason_fail(w, -EINVAL, "empty version");
        if (n > LKG_VERSION_MAX)
                return reason_fail(w, -EINVAL, "version longer than %d bytes", LKG_VERSION_MAX);
        if (!isalnum((unsigned char)p[0]) || !version_char(p[0]))
                return reason_fail(w, -EINVAL, "version must start with a letter or digit (byte 0x%02x)",
                                   (unsigned char)p[0]);
        for (size_t i = 1; i < n; i++) {
                if (!version_char(p[i]))
                        return reason_fail(w, -EINVAL, "byte 0x%02x at offset %zu not allowed in a version",
                                           (unsigned char)p[i], i);
                /* separators only between letters and digits: where our
                 * order and systemd-boot's are known to agree */
                if (!isalnum((unsigned char)p[i]) && !isalnum((unsigned char)p[i - 1]))
                        return reason_fail(w, -EINVAL, "two separators in a row at offset %zu in a version", i);
        }
        if (!isalnum((unsigned char)p[n - 1]))
                return reason_fail(w, -EINVAL, "version must end with a letter or digit");
        return 0;
}

int lkg_version_check(const char *version, const struct reason *w)
{
        if (!version)
                return reason_fail(w, -EINVAL, "no version");
        size_t n = strnlen(version, LKG_VERSION_MAX + 1);
        return version_check_span(version, n, w);
}

/* 1..4 digits, no leading zero but "0" itself; consumes nothing on failure */
static int parse_counter(const char **p, const char *end, unsigned *ret)
{
        const char *q = *p;
        unsigned v = 0;
        size_t n = 0;
        while (q < end && *q >= '0' && *q <= '9') {
                if (n == 4)
                        return -EINVAL;
                v = v * 10 + (unsigned)(*q - '0');
                q++;
                n++;
        }
        if (n == 0 || (n > 1 && **p == '0'))
                return -EINVAL;
        *p = q;
        *ret = v;
        return 0;
}

int lkg_entry_name_parse(const char *filename, struct lkg_entry_name *ret, const struct reason *w)
{
        if (!filename || !ret)
                return -EINVAL;
        size_t len = strnlen(filename, LKG_ENTRY_NAME_MAX);
        if (len >= LKG_ENTRY_NAME_MAX)
                return reason_fail(w, -EINVAL, "entry name longer than %d bytes", LKG_ENTRY_NAME_MAX - 1);
        const char *p = startswith(filename, "ember-");
        if (!p)
                return reason_fail(w, -EINVAL, "not an Ember entry: no \"ember-\" prefix");
        if (len < 6 + 5 || memcmp(filename + len - 5, ".conf", 5) != 0)
                return reason_fail(w, -EINVAL, "not an entry: no \".conf\" suffix");
        const char *end = filename + len - 5;
        const char *plus = memchr(p, '+', (size_t)(end - p));
        const char *vend = plus ? plus : end;
        int r = version_check_span(p, (size_t)(vend - p), w);
        if (r < 0)
                return r;

        struct lkg_entry_name n = { .counted = plus != NULL };
        if (plus) {
                const char *q = plus + 1;
                if (parse_counter(&q, end, &n.left) < 0)
                        return reason_fail(w, -EINVAL, "bad tries-left counter after '+'");
                if (q < end && *q == '-') {
                        q++;
                        n.has_done = true;
                        if (parse_counter(&q, end, &n.done) < 0)
                                return reason_fail(w, -EINVAL, "bad tries-done counter after '-'");
                }
                if (q != end)
                        return reason_fail(w, -EINVAL, "unexpected byte 0x%02x after the boot counter",
                                           (unsigned char)*q);
        }
        memcpy(n.version, p, (size_t)(vend - p));
        n.version[vend - p] = '\0';
        *ret = n;
        return 0;
}

int lkg_entry_name_format(const struct lkg_entry_name *n, char *buf, size_t len)
{
        if (!n || !buf || lkg_version_check(n->version, NULL) < 0 || n->left > LKG_COUNTER_MAX ||
            n->done > LKG_COUNTER_MAX || (n->has_done && !n->counted))
                return -EINVAL;
        int k;
        if (!n->counted)
                k = snprintf(buf, len, "ember-%s.conf", n->version);
        else if (!n->has_done)
                k = snprintf(buf, len, "ember-%s+%u.conf", n->version, n->left);
        else
                k = snprintf(buf, len, "ember-%s+%u-%u.conf", n->version, n->left, n->done);
        return k < 0 || (size_t)k >= len ? -ENOBUFS : 0;
}

static int cmp_int(int a, int b) { return (a > b) - (a < b); }

/* The UAPI Version Format Specification: '~' sorts before everything, even
 * the end; then the end; then '-', '^', '.' (each older than what it meets);
 * digit runs compare as numbers and are newer than letters; letter runs
 * compare bytewise. Other bytes are skipped. */
int lkg_version_cmp(const char *a, const char *b)
{
        static const char seps[] = "-^.";
        for (;;) {
                while (*a && !isalnum((unsigned char)*a) && !strchr("~-^.", *a))
                        a++;
                while (*b && !isalnum((unsigned char)*b) && !strchr("~-^.", *b))
                        b++;
                if (*a == '~' || *b == '~') {
                        if (*a != '~')
                                return 1;
                        if (*b != '~')
                                return -1;
                        a++, b++;
                        continue;
                }
                if (!*a || !*b)
                        return cmp_int(*a != '\0', *b != '\0');
                bool sep = false;
                for (const char *s = seps; *s; s++)
                        if (*a == *s || *b == *s) {
                                if (*a != *s)
                                        return 1;
                                if (*b != *s)
                                        return -1;
                                a++, b++;
                                sep = true;
                                break;
                        }
                if (sep)
                        continue;
                if (isdigit((unsigned char)*a) || isdigit((unsigned char)*b)) {
                        if (!isdigit((unsigned char)*a))
                                return -1;
                        if (!isdigit((unsigned char)*b))
                                return 1;
                        while (*a == '0')
                                a++;
                        while (*b == '0')
                                b++;
                        size_t na = 0, nb = 0;
                        while (isdigit((unsigned char)a[na]))
                                na++;
                        while (isdigit((unsigned char)b[nb]))
                                nb++;
                        if (na != nb)
                                return na < nb ? -1 : 1;
                        int r = memcmp(a, b, na);
                        if (r)
                                return r < 0 ? -1 : 1;
                        a += na, b += nb;
                } else {
                        size_t na = 0, nb = 0;
                        while (isalpha((unsigned char)a[na]))
                                na++;
                        while (isalpha((unsigned char)b[nb]))
                                nb++;
                        int r = strncmp(a, b, na < nb ? na : nb);
                        if (r)
                                return r < 0 ? -1 : 1;
                        if (na != nb)
                                return na < nb ? -1 : 1;
                        a += na, b += nb;
                }
        }
}

/* FAT compares names without case: one version is one directory */
static bool same_version(const char *a, const char *b) { return a && b && strcasecmp(a, b) == 0; }

/* LoaderEntrySelected, with or without ".conf" and the counter: 1 and the
 * version when it names an Ember entry, else 0. */
static int booted_version(const char *booted_entry, char ret[LKG_VERSION_MAX + 1])
{
        char name[LKG_ENTRY_NAME_MAX];
        struct lkg_entry_name n;
        if (!booted_entry)
                return 0;
        size_t len = strnlen(booted_entry, LKG_ENTRY_NAME_MAX);
        if (len >= LKG_ENTRY_NAME_MAX)
                return 0;
        bool suffix = len >= 5 && streq(booted_entry + len - 5, ".conf");
        int k = snprintf(name, sizeof(name), "%s%s", booted_entry, suffix ? "" : ".conf");
        if (k < 0 || (size_t)k >= sizeof(name) || lkg_entry_name_parse(name, &n, NULL) < 0)
                return 0;
        memcpy(ret, n.version, sizeof(n.version));
        return 1;
}

/* ---- the ESP's directories ---- */

struct entry {
        char name[LKG_ENTRY_NAME_MAX];
        struct lkg_entry_name n;
};

struct entries {
        struct entry *v;
        size_t n;
};

static void entries_free(struct entries *l)
{
        free(l->v);
        l->v = NULL;
        l->n = 0;
}

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* The Ember entries in dirfd (-1: none); other names are not ours and are
 * left alone. Read whole before anything changes. */
static int list_entries(int dirfd, struct entries *ret, const struct reason *w)
{
        struct entries l = { 0 };
        if (dirfd < 0) {
                *ret = l;
                return 0;
        }
        int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return reason_fail(w, negative_errno(), "lkg: duplicating loader/entries: %m");
        _cleanup_(closedirp) DIR *d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return reason_fail(w, negative_errno(), "lkg: reading loader/entries: %m");
        }
        rewinddir(d);
        size_t seen = 0;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno) {
                                int r = negative_errno();
                                entries_free(&l);
                                return reason_fail(w, r, "lkg: reading loader/entries: %s", strerror(-r));
                        }
                        break;
                }
                if (++seen > DIR_NAMES_MAX) {
                        entries_free(&l);
                        return reason_fail(w, -E2BIG, "lkg: more than %d names in loader/entries", DIR_NAMES_MAX);
                }
                struct lkg_entry_name n;
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
                        continue;
                if (lkg_entry_name_parse(de->d_name, &n, NULL) < 0)
                        continue;
                struct entry *v = realloc(l.v, (l.n + 1) * sizeof(*v));
                if (!v) {
                        entries_free(&l);
                        return reason_fail(w, -ENOMEM, "lkg: out of memory");
                }
                l.v = v;
                /* it parsed: shorter than LKG_ENTRY_NAME_MAX */
                memcpy(l.v[l.n].name, de->d_name, strlen(de->d_name) + 1);
                l.v[l.n].n = n;
                l.n++;
        }
        *ret = l;
        return 0;
}

/* -1 (no error) when the directory is absent */
static int open_dir(int parent, const char *name, int *ret, const struct reason *w)
{
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno != ENOENT)
                return reason_fail(w, negative_errno(), "lkg: opening %s on the ESP: %m", name);
        *ret = fd;
        return 0;
}

/* Opens name under parent, creating it (and making that durable) if needed */
static int make_dir(int parent, const char *name, int *ret, bool *ret_created, const struct reason *w)
{
        bool created = false;
        if (mkdirat(parent, name, 0755) == 0)
                created = true;
        else if (errno != EEXIST)
                return reason_fail(w, negative_errno(), "lkg: creating %s on the ESP: %m", name);
        if (created && fsync(parent) < 0)
                return reason_fail(w, negative_errno(), "lkg: fsync of the directory holding %s: %m", name);
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return reason_fail(w, negative_errno(), "lkg: opening %s on the ESP: %m", name);
        *ret = fd;
        if (ret_created)
                *ret_created = created;
        return 0;
}

static void hex(const uint8_t d[32], char out[65])
{
        for (size_t i = 0; i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Reads src to its end, hashing and (dst >= 0) writing what it read */
static int hash_copy(int src, int dst, uint8_t out[32])
{
        _cleanup_free_ uint8_t *buf = malloc(COPY_CHUNK);
        if (!buf)
                return -ENOMEM;
        mbedtls_sha256_context c;
        mbedtls_sha256_init(&c);
        int r = mbedtls_sha256_starts_ret(&c, 0) == 0 ? 0 : -EIO;
        while (r == 0) {
                ssize_t n = read(src, buf, COPY_CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        r = negative_errno();
                if (n <= 0)
                        break;
                if (mbedtls_sha256_update_ret(&c, buf, (size_t)n) != 0)
                        r = -EIO;
                else if (dst >= 0)
                        r = write_full(dst, buf, (size_t)n);
        }
        if (r == 0 && mbedtls_sha256_finish_ret(&c, out) != 0)
                r = -EIO;
        mbedtls_sha256_free(&c);
        return r;
}

/* 1 when dirfd/name exists and hashes to want, 0 when it differs or is absent */
static int file_matches(int dirfd, const char *name, const uint8_t want[32])
{
        _cleanup_close_ int fd = dirfd < 0 ? -1 : openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        uint8_t got[32];
        if (fd < 0)
                return errno == ENOENT || dirfd < 0 ? 0 : negative_errno();
        int r = hash_copy(fd, -1, got);
        if (r < 0)
                return r;
        return memcmp(got, want, 32) == 0;
}

/* fsync of a file just renamed. Linux vfat writes a renamed file's new
 * directory entry with no clusters and size 0; its start cluster and size
 * reach the disk only when the file's own inode is written back. So after
 * the directory, the file itself (tests/lkg/README.md: found by replaying
 * every prefix of a commit's writes). */
static int fsync_renamed(int dirfd, const char *name)
{
        int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        int r = fsync(fd) < 0 ? negative_errno() : 0;
        close(fd);
        return r;
}

/* Writes text to dirfd/name: temporary name, fsync, rename, fsync of dirfd
 * and of the renamed file */
static int write_small(int dirfd, const char *name, const char *text, const struct reason *w)
{
        char tmp[LKG_ENTRY_NAME_MAX + sizeof(TMP_SUFFIX)];
        snprintf(tmp, sizeof(tmp), "%s%s", name, TMP_SUFFIX);
        if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT)
                return reason_fail(w, negative_errno(), "lkg: removing a stale %s: %m", tmp);
        int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return reason_fail(w, negative_errno(), "lkg: creating %s: %m", tmp);
        int r = write_full(fd, text, strlen(text));
        if (r == 0 && fsync(fd) < 0)
                r = negative_errno();
        if (close(fd) < 0 && r == 0)
                r = negative_errno();
        if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                unlinkat(dirfd, tmp, 0);
                return reason_fail(w, r, "lkg: writing %s: %s", name, strerror(-r));
        }
        if (fsync(dirfd) < 0)
                return reason_fail(w, negative_errno(), "lkg: fsync of the directory after renaming %s: %m", name);
        if ((r = fsync_renamed(dirfd, name)) < 0)
                return reason_fail(w, r, "lkg: fsync of %s after renaming it: %s", name, strerror(-r));
        return 0;
}

/* ---- commit ---- */

static int remove_version_dir(int emberfd, const char *version);

static int check_line(const char *s, size_t max, const char *what, const struct reason *w)
{
        size_t n = strnlen(s, max + 1);
        if (n > max)
                return reason_fail(w, -EINVAL, "lkg: %s longer than %zu bytes", what, max);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        return reason_fail(w, -EINVAL, "lkg: control character 0x%02x in the %s", (unsigned char)s[i],
                                           what);
        return 0;
}

static int check_artifacts(const struct lkg_artifacts *a, const struct reason *w)
{
        char why[128];
        const struct reason vw = { why, sizeof(why) };
        if (!a || !a->options)
                return reason_fail(w, -EINVAL, "lkg: no artifacts or no command line");
        if (lkg_version_check(a->version, &vw) < 0)
                return reason_fail(w, -EINVAL, "lkg: refusing version: %s", why);
        if (a->title) {
                int r = check_line(a->title, TITLE_MAX, "title", w);
                if (r < 0)
                        return r;
        }
        int r = check_line(a->options, OPTIONS_MAX, "command line", w);
        if (r < 0)
                return r;
        if ((a->kernel.fd < 0 && !a->kernel.path) || (a->initrd.fd < 0 && !a->initrd.path))
                return reason_fail(w, -EINVAL, "lkg: no source for the kernel or the initrd");
        return 0;
}

static int open_source(const struct lkg_file *f, const char *what, int *ret, const struct reason *w)
{
        int fd;
        if (f->fd >= 0) {
                fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 3);
                if (fd >= 0 && lseek(fd, 0, SEEK_SET) < 0) {
                        int r = negative_errno();
                        safe_close(fd);
                        return reason_fail(w, r, "lkg: rewinding the %s: %s", what, strerror(-r));
                }
        } else
                fd = open(f->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return reason_fail(w, negative_errno(), "lkg: opening the %s: %m", what);
        *ret = fd;
        return 0;
}

/* Refuses unless the ESP holds both files (cluster-rounded) plus the margin
 * on top of what is there now: nothing is ever deleted to make room. */
static int check_space(int espfd, const int src[2], const struct reason *w)
{
        struct statvfs sv;
        struct stat st;
        if (fstatvfs(espfd, &sv) < 0)
                return reason_fail(w, negative_errno(), "lkg: statvfs of the ESP: %m");
        uint64_t unit = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
        if (unit == 0)
                unit = 4096;
        uint64_t need = LKG_SPACE_MARGIN;
        for (int i = 0; i < 2; i++) {
                if (fstat(src[i], &st) < 0)
                        return reason_fail(w, negative_errno(), "lkg: stat of a source file: %m");
                if (!S_ISREG(st.st_mode))
                        return reason_fail(w, -EINVAL, "lkg: the %s is not a regular file", i ? "initrd" : "kernel");
                need += ((uint64_t)st.st_size + unit - 1) / unit * unit;
        }
        uint64_t have = (uint64_t)sv.f_bavail;
        have = have > UINT64_MAX / unit ? UINT64_MAX : have * unit;
        if (have < need)
                return reason_fail(w, -ENOSPC,
                                   "lkg: not enough room on the ESP: the commit needs %llu KiB, %llu KiB free; "
                                   "refusing (the previous entries stay, nothing is deleted to make room)",
                                   (unsigned long long)(need / 1024), (unsigned long long)(have / 1024));
        return 0;
}

static const char *const FILES[2] = { "vmlinuz", "initrd" };
static const char *const TMPS[2] = { "vmlinuz" TMP_SUFFIX, "initrd" TMP_SUFFIX };

static int copy_one(int src, int vfd, int i, const uint8_t want[32], const struct reason *w)
{
        uint8_t got[32];
        if (unlinkat(vfd, TMPS[i], 0) < 0 && errno != ENOENT)
                return reason_fail(w, negative_errno(), "lkg: removing a stale %s: %m", TMPS[i]);
        int fd = openat(vfd, TMPS[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return reason_fail(w, negative_errno(), "lkg: creating %s on the ESP: %m", TMPS[i]);
        int r = hash_copy(src, fd, got);
        if (r == 0 && fsync(fd) < 0)
                r = negative_errno();
        if (close(fd) < 0 && r == 0)
                r = negative_errno();
        if (r < 0)
                return reason_fail(w, r, "lkg: copying the %s to the ESP: %s", i ? "initrd" : "kernel", strerror(-r));
        if (memcmp(got, want, 32) != 0) {
                char g[65], e[65];
                hex(got, g);
                hex(want, e);
                return reason_fail(w, -EBADMSG, "lkg: the %s is not the one that booted: sha256 %s, expected %s",
                                   i ? "initrd" : "kernel", g, e);
        }
        return 0;
}

/* /ember/<v>/{vmlinuz,initrd}: both copied and checked under temporary
 * names before either is renamed; on failure what was written goes. */
static int write_files(int emberfd, const struct lkg_artifacts *a, const int src[2], const struct reason *w)
{
        bool created;
        _cleanup_close_ int vfd = -1;
        int r = make_dir(emberfd, a->version, &vfd, &created, w);
        if (r < 0)
                return r;
        const uint8_t *want[2] = { a->kernel.sha256, a->initrd.sha256 };
        int renamed = 0;
        for (int i = 0; i < 2 && r == 0; i++)
                r = copy_one(src[i], vfd, i, want[i], w);
        for (; r == 0 && renamed < 2; renamed++)
                if (renameat(vfd, TMPS[renamed], vfd, FILES[renamed]) < 0)
                        r = reason_fail(w, negative_errno(), "lkg: renaming %s: %m", TMPS[renamed]);
        if (r == 0 && fsync(vfd) < 0)
                r = reason_fail(w, negative_errno(), "lkg: fsync of ember/%s: %m", a->version);
        for (int i = 0; r == 0 && i < 2; i++) {
                int k = fsync_renamed(vfd, FILES[i]);
                if (k < 0)
                        r = reason_fail(w, k, "lkg: fsync of ember/%s/%s: %s", a->version, FILES[i], strerror(-k));
        }
        if (r == 0 && fsync(emberfd) < 0)
                r = reason_fail(w, negative_errno(), "lkg: fsync of ember/: %m");
        if (r == 0)
                return 0;
        for (int i = 0; i < 2; i++) {
                unlinkat(vfd, TMPS[i], 0);
                /* no entry refers to a directory this call created */
                if (created && i < renamed)
                        unlinkat(vfd, FILES[i], 0);
        }
        if (created)
                unlinkat(emberfd, a->version, AT_REMOVEDIR);
        fsync(vfd);
        fsync(emberfd);
        return r;
}

static int entry_text(const struct lkg_artifacts *a, char **ret)
{
        char *t = NULL;
        int k;
        if (a->title)
                k = asprintf(&t,
                             "title %s\nversion %s\nsort-key ember\nlinux /ember/%s/vmlinuz\ninitrd /ember/%s/initrd\n"
                             "options %s\n",
                             a->title, a->version, a->version, a->version, a->options);
        else
                k = asprintf(&t,
                             "title Ember %s\nversion %s\nsort-key ember\nlinux /ember/%s/vmlinuz\n"
                             "initrd /ember/%s/initrd\noptions %s\n",
                             a->version, a->version, a->version, a->version, a->options);
        if (k < 0)
                return -ENOMEM;
        *ret = t;
        return 0;
}

/* Same version already on the ESP: 1 when its files are exactly these (then
 * nothing is written), 0 when there is no entry for it, -EEXIST when the
 * ESP's files differ. */
static int existing_version(int emberfd, const struct entries *l, const struct lkg_artifacts *a, char *ret_name,
                            const struct reason *w)
{
        const struct entry *e = NULL;
        for (size_t i = 0; i < l->n && !e; i++)
                if (same_version(l->v[i].n.version, a->version))
                        e = &l->v[i];
        if (!e)
                return 0;
        _cleanup_close_ int vfd = -1;
        int r = emberfd < 0 ? 0 : open_dir(emberfd, a->version, &vfd, w);
        if (r < 0)
                return r;
        const uint8_t *want[2] = { a->kernel.sha256, a->initrd.sha256 };
        for (int i = 0; i < 2; i++) {
                r = file_matches(vfd, FILES[i], want[i]);
                if (r < 0)
                        return reason_fail(w, r, "lkg: reading ember/%s/%s: %s", a->version, FILES[i], strerror(-r));
                if (r == 0)
                        return reason_fail(w, -EEXIST,
                                           "lkg: %s exists but ember/%s/%s is missing or is not what booted; "
                                           "refusing to overwrite an entry",
                                           e->name, a->version, FILES[i]);
        }
        snprintf(ret_name, LKG_ENTRY_NAME_MAX, "%s", e->name);
        return 1;
}

/* One commit's state, so each phase is a function of its own */
struct commit {
        const struct lkg_artifacts *a;
        const char *booted_entry;
        bool booted;
        int espfd, emberfd, loaderfd, entriesfd, src[2];
        struct entries l;
        char *text;
        struct lkg_result res;
};

static void commit_done(struct commit *c)
{
        c->emberfd = safe_close(c->emberfd);
        c->loaderfd = safe_close(c->loaderfd);
        c->entriesfd = safe_close(c->entriesfd);
        c->src[0] = safe_close(c->src[0]);
        c->src[1] = safe_close(c->src[1]);
        entries_free(&c->l);
        free(c->text);
        c->text = NULL;
}

/* What is on the ESP, creating nothing: 1 when this version is already
 * there with these files (then nothing is to be written). */
static int commit_survey(struct commit *c, const struct reason *w)
{
        int r;
        if ((r = open_dir(c->espfd, "ember", &c->emberfd, w)) < 0 ||
            (r = open_dir(c->espfd, "loader", &c->loaderfd, w)) < 0)
                return r;
        if (c->loaderfd >= 0 && (r = open_dir(c->loaderfd, "entries", &c->entriesfd, w)) < 0)
                return r;
        if ((r = list_entries(c->entriesfd, &c->l, w)) < 0)
                return r;
        r = existing_version(c->emberfd, &c->l, c->a, c->res.entry, w);
        if (r > 0)
                c->res.outcome = c->booted ? LKG_UNCHANGED_BOOTED : LKG_UNCHANGED_PRESENT;
        return r;
}

/* Sources, room, the entry's name and text: still nothing written */
static int commit_prepare(struct commit *c, const struct reason *w)
{
        int r;
        if ((r = open_source(&c->a->kernel, "kernel", &c->src[0], w)) < 0 ||
            (r = open_source(&c->a->initrd, "initrd", &c->src[1], w)) < 0)
                return r;
        if ((r = check_space(c->espfd, c->src, w)) < 0)
                return r;
        if (entry_text(c->a, &c->text) < 0)
                return reason_fail(w, -ENOMEM, "lkg: out of memory");
        struct lkg_entry_name n = { .counted = true, .left = LKG_TRIES };
        snprintf(n.version, sizeof(n.version), "%s", c->a->version);
        if (lkg_entry_name_format(&n, c->res.entry, sizeof(c->res.entry)) < 0)
                return reason_fail(w, -EINVAL, "lkg: cannot name the entry for %s", c->a->version);
        c->res.outcome = LKG_WRITTEN;
        return 0;
}

/* The files, then the entry last; on failure what was written goes */
static int commit_write(struct commit *c, const struct reason *w)
{
        bool ember_created = false;
        int r;
        if (c->emberfd < 0 && (r = make_dir(c->espfd, "ember", &c->emberfd, &ember_created, w)) < 0)
                return r;
        r = write_files(c->emberfd, c->a, c->src, w);
        if (r < 0) {
                if (ember_created && unlinkat(c->espfd, "ember", AT_REMOVEDIR) == 0)
                        fsync(c->espfd);
                return r;
        }
        if ((c->loaderfd < 0 && (r = make_dir(c->espfd, "loader", &c->loaderfd, NULL, w)) < 0) ||
            (c->entriesfd < 0 && (r = make_dir(c->loaderfd, "entries", &c->entriesfd, NULL, w)) < 0) ||
            (r = write_small(c->entriesfd, c->res.entry, c->text, w)) < 0) {
                /* unless the entry appeared after all, nothing refers to the files */
                if (c->entriesfd < 0 ||
                    (faccessat(c->entriesfd, c->res.entry, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT))
                        remove_version_dir(c->emberfd, c->a->version);
                return r;
        }
        return 0;
}

/* Committed: loader.conf and pruning never undo it, they only warn */
static void commit_finish(struct commit *c)
{
        char why[200] = "";
        const struct reason rw = { why, sizeof(why) };
        if (faccessat(c->loaderfd, "loader.conf", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
                if (write_small(c->loaderfd, "loader.conf", LOADER_CONF, &rw) == 0)
                        c->res.loader_conf_written = true;
                else
                        snprintf(c->res.warning, sizeof(c->res.warning), "%s, ignoring", why);
        }
        int r = lkg_prune(c->espfd, c->a->version, c->booted_entry, &c->res, &rw);
        if (r >= 0)
                c->res.removed = (unsigned)r;
        else if (!c->res.warning[0])
                snprintf(c->res.warning, sizeof(c->res.warning), "%s, ignoring", why);
}

int lkg_commit(int espfd, const struct lkg_artifacts *a, const char *booted_entry, struct lkg_result *ret,
               const struct reason *w)
{
        char bv[LKG_VERSION_MAX + 1];
        if (espfd < 0 || !ret)
                return reason_fail(w, -EINVAL, "lkg: no ESP or no result");
        int r = check_artifacts(a, w);
        if (r < 0)
                return r;
        _cleanup_(commit_done) struct commit c = {
                .a = a, .booted_entry = booted_entry, .espfd = espfd,
                .emberfd = -1, .loaderfd = -1, .entriesfd = -1, .src = { -1, -1 },
        };
        c.booted = booted_version(booted_entry, bv) > 0;
        if (c.booted && !same_version(bv, a->version))
                return reason_fail(w, -EINVAL,
                                   "lkg: booted %s from the ESP but asked to commit version %s: only what booted "
                                   "may become the LKG",
                                   booted_entry, a->version);
        r = commit_survey(&c, w);
        if (r < 0)
                return r;
        if (r == 0) {
                if ((r = commit_prepare(&c, w)) < 0 || (r = commit_write(&c, w)) < 0)
                        return r;
                commit_finish(&c);
        }
        *ret = c.res;
        return 0;
}

/* ---- prune ---- */

static bool has_tries(const struct lkg_entry_name *n) { return !n->counted || n->left > 0; }

/* The entry systemd-boot would fall back to after keep: newest with tries
 * left, else newest. */
static const struct entry *previous_lkg(const struct entries *l, const char *keep)
{
        const struct entry *best = NULL;
        for (size_t i = 0; i < l->n; i++) {
                const struct entry *e = &l->v[i];
                if (same_version(e->n.version, keep))
                        continue;
                if (!best || has_tries(&e->n) > has_tries(&best->n) ||
                    (has_tries(&e->n) == has_tries(&best->n) && lkg_version_cmp(e->n.version, best->n.version) > 0))
                        best = e;
        }
        return best;
}

static void note(struct lkg_result *res, int r, const char *dir, const char *name)
{
        if (!res)
                return;
        res->remove_failed++;
        if (!res->warning[0])
                snprintf(res->warning, sizeof(res->warning), "lkg: removing %s%.*s: %s, ignoring", dir,
                         LKG_ENTRY_NAME_MAX, name, strerror(-r));
}

/* Only the names Ember writes there: never a recursive delete of an
 * unknown tree. */
static int remove_version_dir(int emberfd, const char *version)
{
        _cleanup_close_ int vfd = openat(emberfd, version, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (vfd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        for (int i = 0; i < 2; i++) {
                if (unlinkat(vfd, FILES[i], 0) < 0 && errno != ENOENT)
                        return negative_errno();
                if (unlinkat(vfd, TMPS[i], 0) < 0 && errno != ENOENT)
                        return negative_errno();
        }
        if (unlinkat(emberfd, version, AT_REMOVEDIR) < 0)
                return negative_errno();
        return fsync(emberfd) < 0 ? negative_errno() : 0;
}

/* Every entry of version first (made durable), then its files */
static int remove_version(int entriesfd, int emberfd, const struct entries *l, const char *version,
                          struct lkg_result *res)
{
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->v[i].n.version, version) && unlinkat(entriesfd, l->v[i].name, 0) < 0 && errno != ENOENT) {
                        note(res, negative_errno(), "loader/entries/", l->v[i].name);
                        return -EIO;
                }
        if (fsync(entriesfd) < 0) {
                note(res, negative_errno(), "loader/entries (fsync)", "");
                return -EIO;
        }
        int r = emberfd < 0 ? 0 : remove_version_dir(emberfd, version);
        if (r < 0) {
                note(res, r, "ember/", version);
                return r;
        }
        return 0;
}

static bool referenced(const struct entries *l, const char *version, const char *keep, const char *booted)
{
        if (same_version(version, keep) || same_version(version, booted))
                return true;
        for (size_t i = 0; i < l->n; i++)
                if (same_version(l->v[i].n.version, version))
                        return true;
        return false;
}

/* /ember/<v>/ that no entry refers to: left by an interrupted commit */
static int remove_orphans(int emberfd, int entriesfd, const char *keep, const char *booted, struct lkg_result *res,
                          const struct reason *w)
{
        _cleanup_(entries_free) struct entries now = { 0 };
        int r = list_entries(entriesfd, &now, w);
        if (r < 0)
                return r;
        int fd = fcntl(emberfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return negative_errno();
        _cleanup_(closedirp) DIR *d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return negative_errno();
        }
        rewinddir(d);
        char names[16][LKG_VERSION_MAX + 1];
        size_t n = 0, seen = 0;
        struct dirent *de;
        while ((de = readdir(d)) && n < ELEMENTSOF(names) && ++seen <= DIR_NAMES_MAX) {
                if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
                        continue;
                if (lkg_version_check(de->d_name, NULL) < 0 || referenced(&now, de->d_name, keep, booted))
                        continue;
                snprintf(names[n++], sizeof(names[0]), "%.64s", de->d_name);
        }
        for (size_t i = 0; i < n; i++) {
                r = remove_version_dir(emberfd, names[i]);
                if (r < 0)
                        note(res, r, "ember/", names[i]);
        }
        return 0;
}

int lkg_prune(int espfd, const char *keep_version, const char *booted_entry, struct lkg_result *ret,
              const struct reason *w)
{
        char bvbuf[LKG_VERSION_MAX + 1];
        const char *bv = booted_version(booted_entry, bvbuf) > 0 ? bvbuf : NULL;
        if (espfd < 0)
                return reason_fail(w, -EINVAL, "lkg: no ESP");
        _cleanup_close_ int emberfd = -1, loaderfd = -1, entriesfd = -1;
        _cleanup_(entries_free) struct entries l = { 0 };
        int r;
        if ((r = open_dir(espfd, "ember", &emberfd, w)) < 0 || (r = open_dir(espfd, "loader", &loaderfd, w)) < 0)
                return r;
        if (loaderfd >= 0 && (r = open_dir(loaderfd, "entries", &entriesfd, w)) < 0)
                return r;
        if ((r = list_entries(entriesfd, &l, w)) < 0)
                return r;

        int removed = 0;
        const struct entry *prev = previous_lkg(&l, keep_version);
        if (ret && prev)
                snprintf(ret->previous, sizeof(ret->previous), "%s", prev->n.version);
        for (size_t i = 0; prev && i < l.n; i++) {
                const char *v = l.v[i].n.version;
                bool first = true; /* each version once */
                for (size_t j = 0; j < i; j++)
                        if (streq(l.v[j].n.version, v))
                                first = false;
                if (!first || same_version(v, keep_version) || same_version(v, prev->n.version) ||
                    same_version(v, bv) ||
                    lkg_version_cmp(v, prev->n.version) >= 0)
                        continue;
                if (remove_version(entriesfd, emberfd, &l, v, ret) == 0)
                        removed++;
        }
        if (emberfd >= 0 && entriesfd >= 0)
                remove_orphans(emberfd, entriesfd, keep_version, bv, ret, NULL);
        return removed;
}

/* ---- bless ---- */

/* The booted entry's version and the Ember entries beside it: 1, or 0 when
 * booted_entry is not Ember's (nothing to do), or -errno. */
static int booted_entries(int espfd, const char *booted_entry, char bv[LKG_VERSION_MAX + 1], int *ret_entriesfd,
                          struct entries *l, const struct reason *w)
{
        if (espfd < 0)
                return reason_fail(w, -EINVAL, "lkg: no ESP");
        if (booted_version(booted_entry, bv) <= 0)
                return 0;
        _cleanup_close_ int loaderfd = -1;
        int r;
        if ((r = open_dir(espfd, "loader", &loaderfd, w)) < 0)
                return r;
        if (loaderfd >= 0 && (r = open_dir(loaderfd, "entries", ret_entriesfd, w)) < 0)
                return r;
        if ((r = list_entries(*ret_entriesfd, l, w)) < 0)
                return r;
        return 1;
}

int lkg_bless(int espfd, const char *booted_entry, char ret_entry[LKG_ENTRY_NAME_MAX], const struct reason *w)
{
        char bv[LKG_VERSION_MAX + 1];
        _cleanup_close_ int entriesfd = -1;
        _cleanup_(entries_free) struct entries l = { 0 };
        int r = booted_entries(espfd, booted_entry, bv, &entriesfd, &l, w);
        if (r <= 0)
                return r;

        const struct entry *counted = NULL;
        size_t ncounted = 0;
        for (size_t i = 0; i < l.n; i++) {
                if (!streq(l.v[i].n.version, bv))
                        continue;
                if (!l.v[i].n.counted) {
                        if (ret_entry)
                                snprintf(ret_entry, LKG_ENTRY_NAME_MAX, "%s", l.v[i].name);
                        return 0; /* already blessed */
                }
                ncounted++;
                if (!counted || streq(l.v[i].name, booted_entry))
                        counted = &l.v[i];
        }
        if (!counted)
                return reason_fail(w, -ENOENT, "lkg: the booted entry %s is not on the ESP", booted_entry);
        if (ncounted > 1 && !streq(counted->name, booted_entry))
                return reason_fail(w, -EINVAL, "lkg: %zu counted entries for version %s; not blessing any",
                                   ncounted, bv);

        struct lkg_entry_name n = { 0 };
        char to[LKG_ENTRY_NAME_MAX];
        memcpy(n.version, counted->n.version, sizeof(n.version));
        if (lkg_entry_name_format(&n, to, sizeof(to)) < 0)
                return reason_fail(w, -EINVAL, "lkg: cannot name the blessed entry for %s", bv);
        if (renameat(entriesfd, counted->name, entriesfd, to) < 0)
                return reason_fail(w, negative_errno(), "lkg: blessing %s: %m", counted->name);
        if (fsync(entriesfd) < 0)
                return reason_fail(w, negative_errno(), "lkg: fsync of loader/entries after blessing %s: %m", to);
        int k = fsync_renamed(entriesfd, to);
        if (k < 0)
                return reason_fail(w, k, "lkg: fsync of %s after blessing: %s", to, strerror(-k));
        if (ret_entry)
                snprintf(ret_entry, LKG_ENTRY_NAME_MAX, "%s", to);
        return 1;
}

/* systemd-boot counted a try before the kernel ran (+L-D became +L-1-D+1);
 * a failure that does not implicate the image gives that try back, so an
 * outage of the network or of a server never demotes a good entry. */
int lkg_uncount(int espfd, const char *booted_entry, char ret_entry[LKG_ENTRY_NAME_MAX], const struct reason *w)
{
        char bv[LKG_VERSION_MAX + 1];
        _cleanup_close_ int entriesfd = -1;
        _cleanup_(entries_free) struct entries l = { 0 };
        int r = booted_entries(espfd, booted_entry, bv, &entriesfd, &l, w);
        if (r <= 0)
                return r;

        const struct entry *e = NULL;
        for (size_t i = 0; i < l.n; i++) {
                if (!streq(l.v[i].n.version, bv))
                        continue;
                if (!l.v[i].n.counted)
                        return 0; /* blessed entries are never counted */
                if (e)
                        return reason_fail(w, -EINVAL, "lkg: several counted entries for version %s; not changing any", bv);
                e = &l.v[i];
        }
        if (!e)
                return reason_fail(w, -ENOENT, "lkg: the booted entry %s is not on the ESP", booted_entry);
        if (!e->n.has_done || e->n.done == 0 || e->n.left >= LKG_COUNTER_MAX)
                return 0; /* no try was counted */

        struct lkg_entry_name n = e->n;
        char to[LKG_ENTRY_NAME_MAX];
        n.left++;
        n.done--;
        n.has_done = n.done > 0;
        if (lkg_entry_name_format(&n, to, sizeof(to)) < 0)
                return reason_fail(w, -EINVAL, "lkg: cannot name the entry for %s", bv);
        if (renameat(entriesfd, e->name, entriesfd, to) < 0)
                return reason_fail(w, negative_errno(), "lkg: giving back a try of %s: %m", e->name);
        if (fsync(entriesfd) < 0)
                return reason_fail(w, negative_errno(), "lkg: fsync of loader/entries after renaming %s: %m", to);
        int k = fsync_renamed(entriesfd, to);
        if (k < 0)
                return reason_fail(w, k, "lkg: fsync of %s after renaming it: %s", to, strerror(-k));
        if (ret_entry)
                snprintf(ret_entry, LKG_ENTRY_NAME_MAX, "%s", to);
        return 1;
}
