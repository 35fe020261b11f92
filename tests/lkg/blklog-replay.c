/* SPDX-License-Identifier: Apache-2.0 */
/* blklog-replay: replays a write log of QEMU's blklogwrites driver (the
 * dm-log-writes format, blklog.h) onto a disk image, to check what a power
 * cut at any point of the logged sequence leaves on the disk
 * (tests/lkg/README.md).
 *
 * Prefix k is the base image with the first k log entries applied, k =
 * 0..n: the disk as a device that persists writes in the order they
 * completed would hold it after a cut at that instant. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blklog.h"

static const char usage[] =
        "usage: blklog-replay [OPTIONS] COMMAND ARGS\n"
        "  info LOG                      entries, writes, flushes, bytes\n"
        "  cuts LOG                      every prefix 0..n: the entry it ends with, the\n"
        "                                flush boundary, whether its image is new\n"
        "  apply BASE LOG N OUT          OUT = BASE (or its window) + the first N entries\n"
        "  advance IMG LOG FROM TO [RANGES...]\n"
        "                                IMG (prefix FROM) becomes prefix TO, in place;\n"
        "                                then reports on RANGES as touched does\n"
        "  touched LOG FROM TO RANGES... whether entries FROM..TO-1 change a byte of\n"
        "                                each RANGES (START+LEN[,START+LEN...], bytes\n"
        "                                relative to the window): one line per RANGES,\n"
        "                                touched or untouched\n"
        "options:\n"
        "  --offset BYTES   the window: the disk bytes from BYTES on (a partition); an\n"
        "                   image given to apply/advance/touched holds the window only,\n"
        "                   and writes outside it are dropped\n"
        "  --size BYTES     the window's length (default: to the end of BASE)\n"
        "  --reorder SEED   apply only: the writes after the last flush before N are each\n"
        "                   kept or dropped (pseudo-randomly from SEED; FUA writes are\n"
        "                   always kept): a device that reorders unflushed writes\n"
        "  --all            also read entries logged after the super block's count was\n"
        "                   last updated (a writer killed before its last flush)\n";

static int file_read(void *ctx, void *buf, size_t len, uint64_t off)
{
        int fd = *(int *)ctx;
        size_t done = 0;
        while (done < len) {
                ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO; /* shorter than it said: changed under us */
                done += (size_t)n;
        }
        return 0;
}

static int file_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
        int fd = *(int *)ctx;
        size_t done = 0;
        while (done < len) {
                ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t)n;
        }
        return 0;
}

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs("blklog-replay: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(2);
}

static uint64_t number(const char *s, const char *what)
{
        if (!s || !*s || *s == '-' || *s == '+')
                die("%s: not a number: \"%s\"", what, s ? s : "");
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end)
                die("%s: not a decimal number: \"%s\"", what, s);
        return v;
}

struct log_file {
        int fd;
        struct blklog_src src;
        struct blklog log;
};

static void open_log(const char *path, bool all, struct log_file *lf)
{
        char why[256] = "";
        const struct reason w = { why, sizeof(why) };
        lf->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (lf->fd < 0)
                die("%s: %s", path, strerror(errno));
        struct stat st;
        if (fstat(lf->fd, &st) < 0 || !S_ISREG(st.st_mode))
                die("%s: not a regular file", path);
        lf->src = (struct blklog_src){ .read = file_read, .ctx = &lf->fd, .size = (uint64_t)st.st_size };
        int r = blklog_parse(&lf->src, all, &lf->log, &w);
        if (r < 0)
                die("%s: %s", path, why);
}

static void flag_names(uint64_t f, char *buf, size_t len)
{
        static const struct {
                uint64_t bit;
                const char *name;
        } names[] = { { BLKLOG_FLUSH, "FLUSH" }, { BLKLOG_FUA, "FUA" }, { BLKLOG_DISCARD, "DISCARD" },
                      { BLKLOG_MARK, "MARK" }, { BLKLOG_METADATA, "META" } };
        size_t o = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (f & names[i].bit)
                        o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "|" : "", names[i].name);
        if (!o)
                snprintf(buf, len, "-");
}

static int cmd_info(const char *path, bool all)
{
        struct log_file lf;
        open_log(path, all, &lf);
        const struct blklog *l = &lf.log;
        uint64_t writes = 0, wbytes = 0, flushes = 0, fua = 0, discards = 0, dbytes = 0, marks = 0, empty = 0;
        uint64_t lo = UINT64_MAX, hi = 0, distinct = 1;
        for (uint64_t i = 0; i < l->n; i++) {
                const struct blklog_entry *e = &l->e[i];
                enum blklog_kind k = blklog_kind(e);
                if (e->flags & BLKLOG_FLUSH)
                        flushes++;
                if (e->flags & BLKLOG_FUA)
                        fua++;
                switch (k) {
                case BLKLOG_KIND_WRITE:
                        writes++;
                        wbytes += e->bytes;
                        break;
                case BLKLOG_KIND_DISCARD:
                        discards++;
                        dbytes += e->bytes;
                        break;
                case BLKLOG_KIND_MARK:
                        marks++;
                        break;
                case BLKLOG_KIND_EMPTY:
                        empty++;
                        break;
                case BLKLOG_KIND_FLUSH:
                        break;
                }
                if (k == BLKLOG_KIND_WRITE || k == BLKLOG_KIND_DISCARD) {
                        distinct++;
                        if (e->disk_off < lo)
                                lo = e->disk_off;
                        if (e->disk_off + e->bytes > hi)
                                hi = e->disk_off + e->bytes;
                }
        }
        printf("log: %s\n", path);
        printf("sector size: %" PRIu32 "\n", l->sectorsize);
        printf("entries: %" PRIu64 "\n", l->n);
        if (l->n != l->nr_entries)
                printf("entries in the super block: %" PRIu64 " (the rest read with --all)\n", l->nr_entries);
        printf("writes: %" PRIu64 " (%" PRIu64 " bytes)\n", writes, wbytes);
        printf("flushes: %" PRIu64 "\n", flushes);
        printf("fua: %" PRIu64 "\n", fua);
        printf("discards: %" PRIu64 " (%" PRIu64 " bytes)\n", discards, dbytes);
        printf("marks: %" PRIu64 "\n", marks);
        if (empty)
                printf("empty entries: %" PRIu64 "\n", empty);
        printf("distinct prefixes: %" PRIu64 "\n", distinct);
        if (distinct > 1)
                printf("disk bytes written: %" PRIu64 "..%" PRIu64 "\n", lo, hi);
        printf("log bytes: %" PRIu64 " of %" PRIu64 "\n", l->end, l->size);
        if (l->size - l->end >= l->sectorsize && !all)
                printf("note: %" PRIu64 " bytes after the last counted entry: entries logged after the last flush "
                       "(QEMU counts them in the super block at flushes) are not read without --all\n",
                       l->size - l->end);
        for (uint64_t i = 0; i < l->n; i++)
                if (blklog_kind(&l->e[i]) == BLKLOG_KIND_MARK) {
                        char text[256];
                        if (blklog_mark_text(l, &lf.src, i, text, sizeof(text)) == 0)
                                printf("mark: entry %" PRIu64 " \"%s\"\n", i, text);
                }
        blklog_free(&lf.log);
        close(lf.fd);
        return 0;
}

static int cmd_cuts(const char *path, bool all, uint64_t win_off, uint64_t win_size)
{
        struct log_file lf;
        open_log(path, all, &lf);
        const struct blklog *l = &lf.log;
        printf("# prefix\tlast\tsector\tsectors\tflags\tdurable\timage\n");
        printf("0\tbase\t-\t-\t-\t0\tnew\n");
        for (uint64_t k = 1; k <= l->n; k++) {
                const struct blklog_entry *e = &l->e[k - 1];
                char f[64];
                flag_names(e->flags, f, sizeof(f));
                printf("%" PRIu64 "\t%s\t%" PRIu64 "\t%" PRIu64 "\t%s\t%" PRIu64 "\t%s\n", k,
                       blklog_kind_name(blklog_kind(e)), e->sector, e->nr_sectors, f, blklog_durable(l, k),
                       blklog_changes(e, win_off, win_size) ? "new" : "same");
        }
        blklog_free(&lf.log);
        close(lf.fd);
        return 0;
}

/* Copies [off, off + len) of in to out from offset 0, holes as holes. */
static void copy_window(int in, int out, uint64_t off, uint64_t len, const char *what)
{
        if (ftruncate(out, 0) < 0 || ftruncate(out, (off_t)len) < 0)
                die("%s: %s", what, strerror(errno));
        static char buf[1024 * 1024];
        uint64_t p = off, end = off + len;
        while (p < end) {
                off_t d = lseek(in, (off_t)p, SEEK_DATA);
                if (d < 0 && errno == ENXIO)
                        break; /* only a hole left */
                if (d < 0) {
                        d = (off_t)p; /* no SEEK_DATA here: copy everything */
                }
                if ((uint64_t)d >= end)
                        break;
                off_t h = lseek(in, d, SEEK_HOLE);
                uint64_t stop = h < 0 || (uint64_t)h > end ? end : (uint64_t)h;
                for (uint64_t q = (uint64_t)d; q < stop;) {
                        size_t n = stop - q > sizeof(buf) ? sizeof(buf) : (size_t)(stop - q);
                        ssize_t r = pread(in, buf, n, (off_t)q);
                        if (r <= 0)
                                die("%s: reading the base image: %s", what, r < 0 ? strerror(errno) : "short");
                        if (file_write(&out, buf, (size_t)r, q - off) < 0)
                                die("%s: %s", what, strerror(errno));
                        q += (uint64_t)r;
                }
                p = stop;
        }
}

struct reorder {
        uint64_t seed, from, kept, dropped;
};

static uint64_t mix(uint64_t x)
{
        x += 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
}

static bool reorder_keep(void *ctx, uint64_t i)
{
        struct reorder *r = ctx;
        bool keep = mix(r->seed ^ mix(i)) & 1;
        if (keep)
                r->kept++;
        else
                r->dropped++;
        return keep;
}

static void window(int fd, const char *what, bool have_off, uint64_t off, bool have_size, uint64_t *size)
{
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                die("%s: not a regular file", what);
        uint64_t total = (uint64_t)st.st_size;
        if (off > total)
                die("%s: --offset %" PRIu64 " past its end (%" PRIu64 " bytes)", what, off, total);
        if (!have_size)
                *size = total - off;
        else if (*size > total - off)
                die("%s: the window %" PRIu64 "+%" PRIu64 " reaches past its end (%" PRIu64 " bytes)", what, off,
                    *size, total);
        (void)have_off;
}

static int cmd_apply(char **argv, bool all, bool have_off, uint64_t off, bool have_size, uint64_t size,
                     bool reorder, uint64_t seed)
{
        const char *base = argv[0], *logp = argv[1], *outp = argv[3];
        uint64_t n = number(argv[2], "N");
        struct log_file lf;
        open_log(logp, all, &lf);
        if (n > lf.log.n)
                die("N = %" PRIu64 ": the log has %" PRIu64 " entries", n, lf.log.n);
        int in = open(base, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                die("%s: %s", base, strerror(errno));
        window(in, base, have_off, off, have_size, &size);
        int out = open(outp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (out < 0)
                die("%s: %s", outp, strerror(errno));
        copy_window(in, out, off, size, outp);
        close(in);

        char why[256] = "";
        const struct reason w = { why, sizeof(why) };
        struct blklog_dst dst = { .write = file_write, .ctx = &out };
        struct blklog_apply_stats st1 = { 0 }, st2 = { 0 };
        bool strict = !have_off && !have_size;
        int r;
        if (reorder) {
                struct reorder ro = { .seed = seed };
                uint64_t d = blklog_durable(&lf.log, n);
                r = blklog_apply(&lf.log, &lf.src, 0, d, &dst, off, size, strict, NULL, NULL, &st1, &w);
                if (r == 0)
                        r = blklog_apply(&lf.log, &lf.src, d, n, &dst, off, size, strict, reorder_keep, &ro, &st2, &w);
                if (r == 0)
                        fprintf(stderr, "reorder: entries %" PRIu64 "..%" PRIu64 " not covered by a flush: %" PRIu64
                                " writes kept, %" PRIu64 " dropped\n", d, n, st2.applied, st2.skipped);
        } else {
                r = blklog_apply(&lf.log, &lf.src, 0, n, &dst, off, size, strict, NULL, NULL, &st1, &w);
        }
        if (r < 0)
                die("%s", why);
        if (fsync(out) < 0 || close(out) < 0)
                die("%s: %s", outp, strerror(errno));
        blklog_free(&lf.log);
        close(lf.fd);
        return 0;
}

/* Each group is START+LEN[,START+LEN...] (bytes relative to the window):
 * one line per group, "touched" when an entry in [from, to) changes a byte
 * of it, else "untouched". */
static void report_touched(const struct blklog *l, uint64_t from, uint64_t to, uint64_t off, int ngroups,
                           char **groups)
{
        for (int g = 0; g < ngroups; g++) {
                size_t n = 1;
                for (const char *p = groups[g]; *p; p++)
                        n += *p == ',';
                uint64_t(*ranges)[2] = calloc(n, sizeof(*ranges));
                if (!ranges)
                        die("out of memory");
                size_t k = 0;
                char *save = NULL;
                for (char *tok = strtok_r(groups[g], ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                        char *plus = strchr(tok, '+');
                        if (!plus)
                                die("range \"%s\": expected START+LEN", tok);
                        *plus = '\0';
                        ranges[k][0] = number(tok, "range start");
                        ranges[k][1] = number(plus + 1, "range length");
                        k++;
                }
                puts(blklog_touches(l, from, to, off, (const uint64_t(*)[2])ranges, k) ? "touched" : "untouched");
                free(ranges);
        }
}

/* IMG holds prefix FROM (of the window); becomes prefix TO. Groups after TO
 * are reported on as by touched, for the entries applied. */
static int cmd_advance(int argc, char **argv, bool all, bool have_off, uint64_t off)
{
        const char *imgp = argv[0], *logp = argv[1];
        uint64_t from = number(argv[2], "FROM"), to = number(argv[3], "TO");
        struct log_file lf;
        open_log(logp, all, &lf);
        if (from > to || to > lf.log.n)
                die("FROM %" PRIu64 " TO %" PRIu64 ": need FROM <= TO <= %" PRIu64, from, to, lf.log.n);
        int fd = open(imgp, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                die("%s: %s", imgp, strerror(errno));
        uint64_t size = 0;
        window(fd, imgp, false, 0, false, &size);
        char why[256] = "";
        const struct reason w = { why, sizeof(why) };
        struct blklog_dst dst = { .write = file_write, .ctx = &fd };
        if (blklog_apply(&lf.log, &lf.src, from, to, &dst, off, size, !have_off, NULL, NULL, NULL, &w) < 0)
                die("%s", why);
        if (close(fd) < 0)
                die("%s: %s", imgp, strerror(errno));
        report_touched(&lf.log, from, to, off, argc - 4, argv + 4);
        blklog_free(&lf.log);
        close(lf.fd);
        return 0;
}

static int cmd_touched(int argc, char **argv, bool all, uint64_t off)
{
        const char *logp = argv[0];
        uint64_t from = number(argv[1], "FROM"), to = number(argv[2], "TO");
        struct log_file lf;
        open_log(logp, all, &lf);
        if (from > to || to > lf.log.n)
                die("FROM %" PRIu64 " TO %" PRIu64 ": need FROM <= TO <= %" PRIu64, from, to, lf.log.n);
        report_touched(&lf.log, from, to, off, argc - 3, argv + 3);
        blklog_free(&lf.log);
        close(lf.fd);
        return 0;
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "offset", required_argument, NULL, 'o' }, { "size", required_argument, NULL, 's' },
                { "reorder", required_argument, NULL, 'r' }, { "all", no_argument, NULL, 'a' },
                { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
        };
        bool all = false, have_off = false, have_size = false, reorder = false;
        uint64_t off = 0, size = 0, seed = 0;
        int c;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'o':
                        off = number(optarg, "--offset");
                        have_off = true;
                        break;
                case 's':
                        size = number(optarg, "--size");
                        have_size = true;
                        break;
                case 'r':
                        seed = number(optarg, "--reorder");
                        reorder = true;
                        break;
                case 'a':
                        all = true;
                        break;
                case 'h':
                        fputs(usage, stdout);
                        return 0;
                default:
                        fputs(usage, stderr);
                        return 2;
                }
        }
        if (off > (uint64_t)INT64_MAX || size > (uint64_t)INT64_MAX - off)
                die("--offset/--size beyond any disk");
        argc -= optind;
        argv += optind;
        if (argc < 1) {
                fputs(usage, stderr);
                return 2;
        }
        const char *cmd = argv[0];
        argc--;
        argv++;
        if (reorder && strcmp(cmd, "apply") != 0)
                die("--reorder goes with apply only");
        if (strcmp(cmd, "info") == 0 && argc == 1)
                return cmd_info(argv[0], all);
        if (strcmp(cmd, "cuts") == 0 && argc == 1)
                return cmd_cuts(argv[0], all, off, have_size ? size : (uint64_t)INT64_MAX - off);
        if (strcmp(cmd, "apply") == 0 && argc == 4)
                return cmd_apply(argv, all, have_off, off, have_size, size, reorder, seed);
        if (strcmp(cmd, "advance") == 0 && argc >= 4) {
                if (have_size)
                        die("advance: the window is the image's size; no --size");
                return cmd_advance(argc, argv, all, have_off, off);
        }
        if (strcmp(cmd, "touched") == 0 && argc >= 3)
                return cmd_touched(argc, argv, all, off);
        fputs(usage, stderr);
        return 2;
}
