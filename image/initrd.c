/* SPDX-License-Identifier: Apache-2.0 */
/* The reproducible initrd writer. Three stages, kept apart: parse the spec
 * line by line (syntax only), check the tree it describes (duplicates,
 * parents) and add missing parents, then write the archive into an unnamed
 * or temporary file that only replaces the output once it is complete. */
#include "initrd.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "util.h"

/* A spec is a build file listing an image; anything near this size is a
 * generator gone wrong, and the bound keeps line numbers in an unsigned. */
#define SPEC_MAX ((size_t)64 << 20)
#define MAX_FIELDS 8
/* Read size for source files: large enough that syscalls do not dominate,
 * small enough that a big module never sits in memory whole. */
#define CHUNK ((size_t)64 << 10)
/* newc stores sizes, times, owners and inode numbers as 8 hex digits, and
 * libarchive 3.6 silently clamps values that do not fit, so every one is
 * checked against this before it reaches libarchive. */
#define NEWC_MAX UINT32_C(0xffffffff)
/* (uid_t)-1 means "unchanged" to chown(2) and is nobody's id. */
#define ID_MAX (UINT32_C(0xffffffff) - 1)
/* The kernel's dev_t has 12 bits of major and 20 of minor (MKDEV). */
#define MAJOR_MAX 4095u
#define MINOR_MAX 1048575u

/* Compression levels, measured with Debian 12's libarchive 3.6.2 on a 20 MB
 * image of kernel modules and libraries (2 cores, one used):
 *   zstd  9: 4.50 MB in 0.45 s    zstd 15: 4.43 MB in 2.9 s
 *   zstd 19: 3.99 MB in 8.6 s     gzip  6: 5.48 MB in 0.65 s
 *   gzip  9: 5.43 MB in 7.0 s
 * Decompression takes the same time at every level (zstd ~0.06 s, gzip
 * ~0.12 s). Level 19 saves half a megabyte for 20 times the build time, on
 * every build; 9 is the better trade while images are rebuilt constantly.
 * Its window (4 MiB at most against 8) also asks less memory of the
 * kernel's decompressor. */
#define ZSTD_LEVEL "9"
#define GZIP_LEVEL "6"

enum entry_type { ENTRY_DIR, ENTRY_FILE, ENTRY_SLINK, ENTRY_NOD };

struct entry {
        enum entry_type type;
        char *path;      /* absolute, as written in the spec */
        char *arg;       /* file: source on the host; slink: target */
        uint32_t mode;   /* permission bits only; the type comes from .type */
        uint32_t uid, gid;
        bool block;      /* nod: block rather than character device */
        uint32_t major, minor;
        unsigned line;   /* 0 for an implicit parent directory */
};

struct initrd_spec {
        struct entry *v;
        size_t n, cap;
};

struct type_info {
        const char *keyword;
        const char *noun;   /* for messages about a parent */
        const char *usage;
        size_t nfields;     /* including the keyword */
};

static const struct type_info types[] = {
        [ENTRY_DIR] = { "dir", "directory", "<path> <mode> <uid> <gid>", 5 },
        [ENTRY_FILE] = { "file", "file", "<path> <source> <mode> <uid> <gid>", 6 },
        [ENTRY_SLINK] = { "slink", "symlink", "<path> <target> <mode> <uid> <gid>", 6 },
        [ENTRY_NOD] = { "nod", "device node",
                        "<path> <mode> <uid> <gid> <c|b> <major> <minor>", 8 },
};

static const char *const compress_names[] = {
        [INITRD_COMPRESS_NONE] = "none",
        [INITRD_COMPRESS_GZIP] = "gzip",
        [INITRD_COMPRESS_ZSTD] = "zstd",
};

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Every error leaves one line in err and its -errno in the return value. */
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
        if (err && errlen > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return r;
}

int initrd_compress_from_string(const char *name, enum initrd_compress *ret)
{
        if (!name || !ret)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(compress_names); i++)
                if (streq(name, compress_names[i])) {
                        *ret = (enum initrd_compress)i;
                        return 0;
                }
        return -EINVAL;
}

const char *initrd_compress_to_string(enum initrd_compress c)
{
        if ((size_t)c >= ELEMENTSOF(compress_names))
                return NULL;
        return compress_names[c];
}

/* ---- spec: parsing ---------------------------------------------------- */

void initrd_spec_free(struct initrd_spec *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++) {
                free(s->v[i].path);
                free(s->v[i].arg);
        }
        free(s->v);
        free(s);
}

size_t initrd_spec_count(const struct initrd_spec *s)
{
        return s ? s->n : 0;
}

/* Copies the strings; on failure the spec is unchanged. */
static int spec_append(struct initrd_spec *s, const struct entry *tmpl,
                       const char *path, size_t pathlen, const char *arg)
{
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 64;
                struct entry *v = reallocarray(s->v, cap, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                s->v = v;
                s->cap = cap;
        }
        _cleanup_free_ char *p = strndup(path, pathlen);
        _cleanup_free_ char *a = arg ? strdup(arg) : NULL;
        if (!p || (arg && !a))
                return -ENOMEM;

        struct entry *e = &s->v[s->n++];
        *e = *tmpl;
        e->path = TAKE_PTR(p);
        e->arg = TAKE_PTR(a);
        return 0;
}

/* Splits a line in place at blanks. Returns how many fields there are, even
 * beyond max, so a message can say how many were found. */
static size_t split_fields(char *line, char **f, size_t max)
{
        size_t nf = 0;
        char *p = line;

        for (;;) {
                p += strspn(p, " \t");
                if (*p == '\0')
                        return nf;
                char *end = p + strcspn(p, " \t");
                if (nf < max)
                        f[nf] = p;
                nf++;
                if (*end == '\0')
                        return nf;
                *end = '\0';
                p = end + 1;
        }
}

/* Paths go into the archive as they are, and the kernel creates them
 * relative to its rootfs: only a canonical absolute form has one meaning. */
static const char *path_problem(const char *p)
{
        size_t len = strlen(p);

        if (p[0] != '/')
                return "it is not absolute";
        if (len == 1)
                return "the root directory is implicit and cannot be an entry";
        if (len >= PATH_MAX)
                return "it is longer than 4095 bytes";
        if (p[len - 1] == '/')
                return "it has a trailing slash";
        for (const char *c = p; c; c = strchr(c + 1, '/')) {
                const char *comp = c + 1;
                size_t n = strcspn(comp, "/");
                if (n == 0)
                        return "it has an empty component (//)";
                if (n == 1 && comp[0] == '.')
                        return "it has a '.' component";
                if (n == 2 && comp[0] == '.' && comp[1] == '.')
                        return "it has a '..' component";
        }
        return NULL;
}

/* Digits of one base only, no sign, no blanks, at most max. */
static int parse_number(const char *s, unsigned base, uint32_t max, uint32_t *ret)
{
        uint64_t v = 0;

        if (*s == '\0')
                return -EINVAL;
        for (; *s; s++) {
                unsigned d = (unsigned)(*s - '0');
                if (*s < '0' || d >= base)
                        return -EINVAL;
                v = v * base + d;
                if (v > max)
                        return -ERANGE;
        }
        *ret = (uint32_t)v;
        return 0;
}

/* mode, uid and gid follow the path (and the source or target, if any). */
static int parse_mode_owner(char **f, size_t at, unsigned no, struct entry *e,
                            char *err, size_t errlen)
{
        if (parse_number(f[at], 8, 07777, &e->mode) < 0)
                return fail(err, errlen, -EINVAL,
                            "line %u: mode '%s' is not an octal number up to 07777", no, f[at]);
        if (parse_number(f[at + 1], 10, ID_MAX, &e->uid) < 0)
                return fail(err, errlen, -EINVAL,
                            "line %u: uid '%s' is not a decimal number up to %" PRIu32,
                            no, f[at + 1], ID_MAX);
        if (parse_number(f[at + 2], 10, ID_MAX, &e->gid) < 0)
                return fail(err, errlen, -EINVAL,
                            "line %u: gid '%s' is not a decimal number up to %" PRIu32,
                            no, f[at + 2], ID_MAX);
        return 0;
}

static int parse_device(char **f, unsigned no, struct entry *e, char *err, size_t errlen)
{
        if (!streq(f[5], "c") && !streq(f[5], "b"))
                return fail(err, errlen, -EINVAL,
                            "line %u: device type '%s' is not c or b", no, f[5]);
        e->block = streq(f[5], "b");
        if (parse_number(f[6], 10, MAJOR_MAX, &e->major) < 0)
                return fail(err, errlen, -EINVAL,
                            "line %u: major '%s' is not a decimal number up to %u",
                            no, f[6], MAJOR_MAX);
        if (parse_number(f[7], 10, MINOR_MAX, &e->minor) < 0)
                return fail(err, errlen, -EINVAL,
                            "line %u: minor '%s' is not a decimal number up to %u",
                            no, f[7], MINOR_MAX);
        return 0;
}

static int find_type(const char *keyword, enum entry_type *ret)
{
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if (streq(keyword, types[i].keyword)) {
                        *ret = (enum entry_type)i;
                        return 0;
                }
        return -ENOENT;
}

static int parse_line(char *line, unsigned no, struct initrd_spec *s, char *err, size_t errlen)
{
        char *f[MAX_FIELDS];
        size_t nf = split_fields(line, f, MAX_FIELDS);
        struct entry e = { .line = no };
        int r;

        if (nf == 0 || f[0][0] == '#')
                return 0;
        if (find_type(f[0], &e.type) < 0)
                return fail(err, errlen, -EINVAL,
                            "line %u: unknown entry type '%s' (expected dir, file, slink or nod)",
                            no, f[0]);
        const struct type_info *t = &types[e.type];
        if (nf != t->nfields)
                return fail(err, errlen, -EINVAL,
                            "line %u: %s takes %zu fields (%s), found %zu",
                            no, t->keyword, t->nfields - 1, t->usage, nf - 1);

        const char *why = path_problem(f[1]);
        if (why)
                return fail(err, errlen, -EINVAL, "line %u: bad path '%s': %s", no, f[1], why);

        bool has_arg = e.type == ENTRY_FILE || e.type == ENTRY_SLINK;
        if (has_arg && strlen(f[2]) >= PATH_MAX)
                return fail(err, errlen, -EINVAL, "line %u: %s of %s is longer than 4095 bytes",
                            no, e.type == ENTRY_FILE ? "source" : "target", f[1]);
        r = parse_mode_owner(f, has_arg ? 3 : 2, no, &e, err, errlen);
        if (r < 0)
                return r;
        if (e.type == ENTRY_NOD) {
                r = parse_device(f, no, &e, err, errlen);
                if (r < 0)
                        return r;
        }

        r = spec_append(s, &e, f[1], strlen(f[1]), has_arg ? f[2] : NULL);
        if (r < 0)
                return fail(err, errlen, r, "line %u: out of memory", no);
        return 0;
}

/* Control bytes in a build file are always a mistake, and a stray '\r' would
 * otherwise end up inside the last field of every line. */
static int check_line_bytes(const char *line, size_t len, unsigned no, char *err, size_t errlen)
{
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)line[i];
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                        return fail(err, errlen, -EINVAL,
                                    "line %u: control character 0x%02x%s", no, c,
                                    c == '\r' ? " (CRLF line endings?)" : "");
        }
        return 0;
}

/* ---- spec: checking the tree ------------------------------------------ */

static int cmp_entry(const void *a, const void *b)
{
        const struct entry *x = a, *y = b;
        /* strcmp compares as unsigned char: bytewise, whatever the locale. */
        int c = strcmp(x->path, y->path);
        if (c != 0)
                return c;
        return (x->line > y->line) - (x->line < y->line);
}

/* An empty spec has no array, and qsort's base must never be NULL. */
static void sort_entries(struct initrd_spec *s)
{
        if (s->n > 1)
                qsort(s->v, s->n, sizeof(*s->v), cmp_entry);
}

/* Orders path against the first keylen bytes of key. */
static int cmp_prefix(const char *path, const char *key, size_t keylen)
{
        int c = strncmp(path, key, keylen);
        if (c != 0)
                return c;
        return path[keylen] != '\0';
}

/* The first (lowest line) of v[0..n) whose path is key[0..keylen), which
 * must be sorted by cmp_entry; SIZE_MAX if there is none. */
static size_t find_path(const struct entry *v, size_t n, const char *key, size_t keylen)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (cmp_prefix(v[mid].path, key, keylen) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo < n && cmp_prefix(v[lo].path, key, keylen) == 0)
                return lo;
        return SIZE_MAX;
}

/* The parent of e that is not a directory, if any. */
static const struct entry *bad_parent(const struct initrd_spec *s, const struct entry *e)
{
        for (const char *c = strchr(e->path + 1, '/'); c; c = strchr(c + 1, '/')) {
                size_t j = find_path(s->v, s->n, e->path, (size_t)(c - e->path));
                if (j != SIZE_MAX && s->v[j].type != ENTRY_DIR)
                        return &s->v[j];
        }
        return NULL;
}

/* Needs s sorted. Reports the problem on the lowest line, where a reader
 * going down the file would first meet it. */
static int check_tree(const struct initrd_spec *s, char *err, size_t errlen)
{
        const struct entry *bad = NULL, *other = NULL;
        bool duplicate = false;

        for (size_t i = 0; i < s->n; i++) {
                const struct entry *e = &s->v[i];
                if (bad && e->line >= bad->line)
                        continue;
                if (i > 0 && streq(e->path, s->v[i - 1].path)) {
                        bad = e;
                        other = &s->v[find_path(s->v, s->n, e->path, strlen(e->path))];
                        duplicate = true;
                        continue;
                }
                const struct entry *p = bad_parent(s, e);
                if (p) {
                        bad = e;
                        other = p;
                        duplicate = false;
                }
        }
        if (!bad)
                return 0;
        if (duplicate)
                return fail(err, errlen, -EINVAL, "line %u: duplicate path %s (first on line %u)",
                            bad->line, bad->path, other->line);
        return fail(err, errlen, -EINVAL,
                    "line %u: parent %s of %s is a %s (line %u), not a directory",
                    bad->line, other->path, bad->path, types[other->type].noun, other->line);
}

/* Whether prev is the directory path[0..k) or lies below it. */
static bool shares_ancestor(const char *prev, const char *path, size_t k)
{
        return strncmp(prev, path, k) == 0 && (prev[k] == '/' || prev[k] == '\0');
}

/* Needs s sorted and checked. Adds every missing ancestor exactly once and
 * sorts again, so parents precede their children in the archive. */
static int add_implicit_parents(struct initrd_spec *s)
{
        static const struct entry implicit = { .type = ENTRY_DIR, .mode = 0755 };
        size_t n = s->n;

        for (size_t i = 0; i < n; i++) {
                /* The string stays put even when s->v moves under spec_append. */
                const char *path = s->v[i].path;
                for (const char *c = strchr(path + 1, '/'); c; c = strchr(c + 1, '/')) {
                        size_t k = (size_t)(c - path);
                        /* Paths under one directory are contiguous in sorted
                         * order, so if the previous entry shares this
                         * ancestor, that entry already handled it. */
                        if (i > 0 && shares_ancestor(s->v[i - 1].path, path, k))
                                continue;
                        if (find_path(s->v, n, path, k) != SIZE_MAX)
                                continue;
                        int r = spec_append(s, &implicit, path, k, NULL);
                        if (r < 0)
                                return r;
                }
        }
        sort_entries(s);
        return 0;
}

int initrd_spec_parse(const char *text, size_t len, struct initrd_spec **ret,
                      char *err, size_t errlen)
{
        int r;

        if ((!text && len > 0) || !ret)
                return fail(err, errlen, -EINVAL, "parse spec: invalid arguments");
        if (len > SPEC_MAX)
                return fail(err, errlen, -E2BIG, "parse spec: %zu bytes is more than the %zu allowed",
                            len, SPEC_MAX);

        _cleanup_free_ char *buf = malloc(len + 1);
        _cleanup_initrd_spec_ struct initrd_spec *s = calloc(1, sizeof(*s));
        if (!buf || !s)
                return fail(err, errlen, -ENOMEM, "parse spec: out of memory");
        if (len > 0)
                memcpy(buf, text, len);
        buf[len] = '\0';

        unsigned no = 0;
        for (size_t pos = 0; pos < len; no++) {
                char *line = buf + pos;
                char *nl = memchr(line, '\n', len - pos);
                size_t linelen = nl ? (size_t)(nl - line) : len - pos;

                r = check_line_bytes(line, linelen, no + 1, err, errlen);
                if (r < 0)
                        return r;
                line[linelen] = '\0';
                r = parse_line(line, no + 1, s, err, errlen);
                if (r < 0)
                        return r;
                pos += linelen + 1;
        }

        sort_entries(s);
        r = check_tree(s, err, errlen);
        if (r < 0)
                return r;
        r = add_implicit_parents(s);
        if (r < 0)
                return fail(err, errlen, r, "add parent directories: out of memory");

        *ret = TAKE_PTR(s);
        return 0;
}

/* ---- writing: the output file ----------------------------------------- */

/* The output while it is written: an unnamed O_TMPFILE where the file
 * system has them, so that even SIGKILL leaves nothing behind; otherwise a
 * named temporary file that the cleanup removes. */
struct tmpout {
        int dir_fd;
        int fd;
        char *dir;    /* for messages */
        char *base;   /* final name inside dir */
        char *tmp;    /* temporary name inside dir, once the file has one */
};

static void tmpout_discard(struct tmpout *o)
{
        if (o->fd >= 0)
                close(o->fd);
        if (o->tmp && o->dir_fd >= 0)
                (void)unlinkat(o->dir_fd, o->tmp, 0);
        if (o->dir_fd >= 0)
                close(o->dir_fd);
        free(o->dir);
        free(o->base);
        free(o->tmp);
}

/* Gives the output a fresh temporary name in its directory, either by
 * creating it or by linking the unnamed file there. O_EXCL and linkat never
 * follow or replace an existing name, so a guessable name is safe. */
static int tmpout_claim_name(struct tmpout *o, bool link_unnamed)
{
        for (unsigned attempt = 0; attempt < 100; attempt++) {
                _cleanup_free_ char *name = NULL;
                int r;

                if (asprintf(&name, ".%s.%d-%u.tmp", o->base, (int)getpid(), attempt) < 0)
                        return -ENOMEM;
                if (link_unnamed) {
                        char proc[64];
                        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
                        r = linkat(AT_FDCWD, proc, o->dir_fd, name, AT_SYMLINK_FOLLOW);
                } else {
                        r = o->fd = openat(o->dir_fd, name,
                                           O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                }
                if (r >= 0) {
                        o->tmp = TAKE_PTR(name);
                        return 0;
                }
                if (errno != EEXIST)
                        return negative_errno();
        }
        return -EEXIST;
}

static int tmpout_open(struct tmpout *o, const char *out_path, char *err, size_t errlen)
{
        const char *slash = strrchr(out_path, '/');
        const char *base = slash ? slash + 1 : out_path;
        int r;

        if (*base == '\0')
                return fail(err, errlen, -EISDIR, "open output %s: names a directory", out_path);
        o->base = strdup(base);
        o->dir = !slash ? strdup(".") : slash == out_path ? strdup("/")
                                                          : strndup(out_path, (size_t)(slash - out_path));
        if (!o->base || !o->dir)
                return fail(err, errlen, -ENOMEM, "open output %s: out of memory", out_path);

        o->dir_fd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (o->dir_fd < 0)
                return fail(err, errlen, negative_errno(), "open output directory %s: %m", o->dir);

        /* Linking an unnamed file later goes through /proc (linkat with
         * AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH). */
        if (access("/proc/self/fd", F_OK) == 0) {
                o->fd = openat(o->dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
                if (o->fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                        return fail(err, errlen, negative_errno(),
                                    "create temporary file in %s: %m", o->dir);
        }
        if (o->fd < 0) {
                r = tmpout_claim_name(o, false);
                if (r < 0)
                        return fail(err, errlen, r, "create temporary file in %s: %s",
                                    o->dir, strerror(-r));
        }
        /* Independent of the umask: an initrd is no secret, and whatever
         * serves or installs it next may run as another user. */
        if (fchmod(o->fd, 0644) < 0)
                return fail(err, errlen, negative_errno(), "set mode of temporary file in %s: %m",
                            o->dir);
        return 0;
}

static int tmpout_commit(struct tmpout *o, const char *out_path, char *err, size_t errlen)
{
        int r;

        if (fsync(o->fd) < 0)
                return fail(err, errlen, negative_errno(), "sync %s: %m", out_path);
        if (!o->tmp) {
                r = tmpout_claim_name(o, true);
                if (r < 0)
                        return fail(err, errlen, r, "link temporary file into %s: %s",
                                    o->dir, strerror(-r));
        }
        if (close(TAKE_FD(o->fd)) < 0)
                return fail(err, errlen, negative_errno(), "close %s: %m", out_path);
        if (renameat(o->dir_fd, o->tmp, o->dir_fd, o->base) < 0)
                return fail(err, errlen, negative_errno(), "rename temporary file to %s: %m",
                            out_path);
        /* The name now belongs to the output; the cleanup must not unlink it. */
        free(TAKE_PTR(o->tmp));
        if (fsync(o->dir_fd) < 0)
                return fail(err, errlen, negative_errno(),
                            "sync directory %s after writing %s: %m", o->dir, out_path);
        return 0;
}

/* ---- writing: the archive --------------------------------------------- */

static void archive_write_freep(struct archive **a)
{
        if (*a)
                archive_write_free(*a);
}

static void archive_entry_freep(struct archive_entry **e)
{
        if (*e)
                archive_entry_free(*e);
}

#define _cleanup_archive_write_ _cleanup_(archive_write_freep)
#define _cleanup_archive_entry_ _cleanup_(archive_entry_freep)

/* The one place libarchive's status turns into -errno and a message. */
static int archive_fail(struct archive *a, char *err, size_t errlen,
                        const char *action, const char *object)
{
        int e = archive_errno(a);
        const char *msg = archive_error_string(a);

        fail(err, errlen, 0, "%s %s: %s (libarchive errno %d)",
             action, object, msg ?: "unknown error", e);
        return e > 0 ? -e : -EIO;
}

/* A warning here means libarchive did something other than asked (an
 * external compressor, an option it does not know, so a timestamp in the
 * gzip header): for a reproducible build that is a failure. */
static int set_filter_option(struct archive *a, const char *filter, const char *key,
                             const char *value, char *err, size_t errlen)
{
        if (archive_write_set_filter_option(a, filter, key, value) != ARCHIVE_OK)
                return archive_fail(a, err, errlen, "set option of filter", filter);
        return 0;
}

static int setup_archive(struct archive *a, enum initrd_compress c, char *err, size_t errlen)
{
        const char *name = compress_names[c];
        int r = ARCHIVE_OK;

        if (archive_write_set_format_cpio_newc(a) != ARCHIVE_OK)
                return archive_fail(a, err, errlen, "select format", "cpio newc");
        switch (c) {
        case INITRD_COMPRESS_NONE:
                r = archive_write_add_filter_none(a);
                break;
        case INITRD_COMPRESS_GZIP:
                r = archive_write_add_filter_gzip(a);
                break;
        case INITRD_COMPRESS_ZSTD:
                r = archive_write_add_filter_zstd(a);
                break;
        }
        if (r != ARCHIVE_OK)
                return archive_fail(a, err, errlen, "add filter", name);

        if (c == INITRD_COMPRESS_GZIP) {
                r = set_filter_option(a, name, "compression-level", GZIP_LEVEL, err, errlen);
                if (r >= 0)
                        r = set_filter_option(a, name, "timestamp", NULL, err, errlen);
        } else if (c == INITRD_COMPRESS_ZSTD) {
                r = set_filter_option(a, name, "compression-level", ZSTD_LEVEL, err, errlen);
        } else {
                r = 0;
        }
        if (r < 0)
                return r;
        /* No padding after the last byte: the output is exactly the stream,
         * which keeps `zstd -t` and `gzip -t` happy. */
        if (archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK)
                return archive_fail(a, err, errlen, "set block padding of", "output");
        return 0;
}

/* Streams a source into the current entry. The header already promised
 * st_size bytes, and libarchive would silently cut or zero-fill a mismatch,
 * so a source that grows or shrinks while read is an error. */
static int copy_source(struct archive *a, int fd, uint64_t size, const struct entry *e,
                       char *err, size_t errlen)
{
        _cleanup_free_ char *buf = malloc(CHUNK);
        uint64_t done = 0;

        if (!buf)
                return fail(err, errlen, -ENOMEM, "copy %s: out of memory", e->path);
        for (;;) {
                ssize_t n = read(fd, buf, CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return fail(err, errlen, negative_errno(), "read source %s for %s: %m",
                                    e->arg, e->path);
                if (n == 0)
                        break;
                if ((uint64_t)n > size - done)
                        return fail(err, errlen, -EBUSY,
                                    "read source %s for %s: it grew past %" PRIu64
                                    " bytes while being read", e->arg, e->path, size);
                if (archive_write_data(a, buf, (size_t)n) != n)
                        return archive_fail(a, err, errlen, "write data of", e->path);
                done += (uint64_t)n;
        }
        if (done != size)
                return fail(err, errlen, -EBUSY,
                            "read source %s for %s: it shrank to %" PRIu64 " of %" PRIu64
                            " bytes while being read", e->arg, e->path, done, size);
        return 0;
}

static int open_source(const struct entry *e, uint64_t *ret_size, char *err, size_t errlen)
{
        _cleanup_close_ int fd = open(e->arg, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        struct stat st;

        if (fd < 0)
                return fail(err, errlen, negative_errno(), "open source %s for %s: %m",
                            e->arg, e->path);
        if (fstat(fd, &st) < 0)
                return fail(err, errlen, negative_errno(), "stat source %s for %s: %m",
                            e->arg, e->path);
        if (!S_ISREG(st.st_mode))
                return fail(err, errlen, -EINVAL, "open source %s for %s: not a regular file",
                            e->arg, e->path);
        if ((uint64_t)st.st_size > NEWC_MAX)
                return fail(err, errlen, -EFBIG,
                            "open source %s for %s: %jd bytes do not fit a cpio newc entry",
                            e->arg, e->path, (intmax_t)st.st_size);
        *ret_size = (uint64_t)st.st_size;
        return TAKE_FD(fd);
}

static void fill_entry(struct archive_entry *ae, const struct entry *e, int64_t ino, int64_t mtime)
{
        static const mode_t filetype[] = {
                [ENTRY_DIR] = AE_IFDIR, [ENTRY_FILE] = AE_IFREG, [ENTRY_SLINK] = AE_IFLNK,
        };

        archive_entry_set_pathname(ae, e->path + 1);
        archive_entry_set_filetype(ae, e->type == ENTRY_NOD ? (e->block ? AE_IFBLK : AE_IFCHR)
                                                            : (unsigned)filetype[e->type]);
        archive_entry_set_perm(ae, e->mode);
        archive_entry_set_uid(ae, e->uid);
        archive_entry_set_gid(ae, e->gid);
        archive_entry_set_mtime(ae, mtime, 0);
        archive_entry_set_ino64(ae, ino);
        archive_entry_set_nlink(ae, e->type == ENTRY_DIR ? 2 : 1);
        /* libarchive refuses a header without a size; files set theirs later. */
        archive_entry_set_size(ae, 0);
        if (e->type == ENTRY_SLINK)
                archive_entry_set_symlink(ae, e->arg);
        if (e->type == ENTRY_NOD) {
                archive_entry_set_rdevmajor(ae, e->major);
                archive_entry_set_rdevminor(ae, e->minor);
        }
}

static int write_entry(struct archive *a, const struct entry *e, int64_t ino, int64_t mtime,
                       char *err, size_t errlen)
{
        _cleanup_archive_entry_ struct archive_entry *ae = archive_entry_new();
        _cleanup_close_ int fd = -1;
        uint64_t size = 0;
        int r;

        if (!ae)
                return fail(err, errlen, -ENOMEM, "write %s: out of memory", e->path);
        fill_entry(ae, e, ino, mtime);
        if (e->type == ENTRY_FILE) {
                fd = open_source(e, &size, err, errlen);
                if (fd < 0)
                        return fd;
                archive_entry_set_size(ae, (int64_t)size);
        }
        if (archive_write_header(a, ae) != ARCHIVE_OK)
                return archive_fail(a, err, errlen, "write header of", e->path);
        if (fd >= 0) {
                r = copy_source(a, fd, size, e, err, errlen);
                if (r < 0)
                        return r;
        }
        if (archive_write_finish_entry(a) != ARCHIVE_OK)
                return archive_fail(a, err, errlen, "finish entry", e->path);
        return 0;
}

static int write_archive(const struct initrd_spec *s, int fd, enum initrd_compress c,
                         int64_t mtime, char *err, size_t errlen)
{
        _cleanup_archive_write_ struct archive *a = archive_write_new();
        int r;

        if (!a)
                return fail(err, errlen, -ENOMEM, "create archive writer: out of memory");
        r = setup_archive(a, c, err, errlen);
        if (r < 0)
                return r;
        if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
                return archive_fail(a, err, errlen, "open archive on", "output");
        for (size_t i = 0; i < s->n; i++) {
                /* Inode numbers only have to be distinct (no hard links), and
                 * the position is the one choice that is reproducible. */
                r = write_entry(a, &s->v[i], (int64_t)i + 1, mtime, err, errlen);
                if (r < 0)
                        return r;
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                return archive_fail(a, err, errlen, "finish archive", "output");
        return 0;
}

int initrd_write(const struct initrd_spec *s, const char *out_path, enum initrd_compress c,
                 int64_t mtime, char *err, size_t errlen)
{
        _cleanup_(tmpout_discard) struct tmpout o = { .dir_fd = -1, .fd = -1 };
        int r;

        if (!s || !out_path || !*out_path || (size_t)c >= ELEMENTSOF(compress_names))
                return fail(err, errlen, -EINVAL, "write initrd: invalid arguments");
        if (s->n > NEWC_MAX)
                return fail(err, errlen, -E2BIG, "write initrd %s: %zu entries are too many",
                            out_path, s->n);
        if (mtime < 0 || mtime > (int64_t)NEWC_MAX)
                return fail(err, errlen, -ERANGE,
                            "write initrd %s: mtime %" PRId64 " is outside 0..%" PRIu32,
                            out_path, mtime, NEWC_MAX);

        r = tmpout_open(&o, out_path, err, errlen);
        if (r < 0)
                return r;
        r = write_archive(s, o.fd, c, mtime, err, errlen);
        if (r < 0)
                return r;
        return tmpout_commit(&o, out_path, err, errlen);
}
