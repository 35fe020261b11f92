/* SPDX-License-Identifier: Apache-2.0 */
/* ember-mkinitrd: builds a reproducible initrd from a spec file.
 * Exit status: 0 written, 1 failed, 2 usage error. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "fileio.h"
#include "initrd.h"
#include "util.h"

#define PROG "ember-mkinitrd"
#define EXIT_USAGE 2
/* Same bound the library enforces; checked here too so a huge file is
 * refused before it is read into memory. */
#define SPEC_FILE_MAX ((size_t)64 << 20)

struct options {
        const char *spec;
        const char *out;
        enum initrd_compress compress;
        int64_t mtime;
};

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: " PROG " --spec FILE --out FILE [--compress zstd|gzip|none] [--mtime EPOCH]\n"
                "\n"
                "Writes the newc cpio archive that FILE describes, reproducibly.\n"
                "\n"
                "  --spec FILE       entries, one a line: dir, file, slink, nod\n"
                "  --out FILE        output, replaced atomically\n"
                "  --compress ALG    zstd (default), gzip or none\n"
                "  --mtime EPOCH     time stamp of every entry; default $SOURCE_DATE_EPOCH, else 0\n"
                "  -h, --help        show this help\n");
}

/* Seconds since the epoch in newc's 32 unsigned bits, decimal only. */
static int parse_epoch(const char *s, int64_t *ret)
{
        int64_t v = 0;

        if (!s || *s == '\0')
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                v = v * 10 + (*s - '0');
                if (v > INT64_C(0xffffffff))
                        return -ERANGE;
        }
        *ret = v;
        return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
        static const struct option longopts[] = {
                { "spec", required_argument, NULL, 's' },
                { "out", required_argument, NULL, 'o' },
                { "compress", required_argument, NULL, 'c' },
                { "mtime", required_argument, NULL, 'm' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *mtime = NULL;
        int c;

        *o = (struct options){ .compress = INITRD_COMPRESS_ZSTD };
        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                switch (c) {
                case 's':
                        o->spec = optarg;
                        break;
                case 'o':
                        o->out = optarg;
                        break;
                case 'c':
                        if (initrd_compress_from_string(optarg, &o->compress) < 0) {
                                fprintf(stderr, PROG ": unknown compression '%s' "
                                        "(expected zstd, gzip or none)\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'm':
                        mtime = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        return -EINVAL; /* getopt already said why */
                }
        }
        if (optind < argc) {
                fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        if (!o->spec || !o->out) {
                fprintf(stderr, PROG ": --spec and --out are required\n");
                return -EINVAL;
        }

        const char *from = mtime ? "--mtime" : "SOURCE_DATE_EPOCH";
        if (!mtime)
                mtime = getenv("SOURCE_DATE_EPOCH");
        /* A malformed SOURCE_DATE_EPOCH must not quietly become 0: the
         * build would be reproducible, but not the one that was asked for. */
        if (mtime && parse_epoch(mtime, &o->mtime) < 0) {
                fprintf(stderr, PROG ": %s '%s' is not a decimal number of seconds "
                        "up to 4294967295\n", from, mtime);
                return -EINVAL;
        }
        return 1;
}

/* The spec is a small text file; it is read whole, within a bound. */
static int read_spec(const char *path, char **ret, size_t *ret_len)
{
        return read_file_all(path, SPEC_FILE_MAX, ret, ret_len);
}

static int run(const struct options *o)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_initrd_spec_ struct initrd_spec *spec = NULL;
        char err[1024];
        size_t len = 0;
        struct stat st;
        int r;

        r = read_spec(o->spec, &text, &len);
        if (r < 0) {
                fprintf(stderr, PROG ": read spec %s: %s\n", o->spec, strerror(-r));
                return r;
        }
        r = initrd_spec_parse(text, len, &spec, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, PROG ": parse spec %s: %s\n", o->spec, err);
                return r;
        }
        r = initrd_write(spec, o->out, o->compress, o->mtime, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, PROG ": write initrd %s: %s\n", o->out, err);
                return r;
        }
        if (stat(o->out, &st) < 0) {
                r = negative_errno();
                fprintf(stderr, PROG ": stat written initrd %s: %s\n", o->out, strerror(-r));
                return r;
        }
        printf(PROG ": wrote %s: %zu entries, %jd bytes, %s, mtime %" PRId64 "\n",
               o->out, initrd_spec_count(spec), (intmax_t)st.st_size,
               initrd_compress_to_string(o->compress), o->mtime);
        return 0;
}

int main(int argc, char **argv)
{
        struct options o;
        int r = parse_options(argc, argv, &o);

        if (r < 0) {
                fprintf(stderr, "Try '" PROG " --help'.\n");
                return EXIT_USAGE;
        }
        if (r == 0)
                return EXIT_SUCCESS;
        return run(&o) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
