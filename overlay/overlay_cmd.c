/* SPDX-License-Identifier: Apache-2.0 */
/* `emberctl overlay …`: seal, inspect, verify and apply sealed overlays.
 * The data key is written only to the file --data-key-out names (0600),
 * never to standard output. */
#include "overlay_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <mbedtls/platform_util.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "format.h"
#include "open.h"
#include "seal.h"
#include "util.h"

#define KEY_FILE_MAX 4096
#define FEED_BLOCK ((size_t)64 << 10)
#define STAGING_NAME ".ember-overlay-staging"

static const char usage_text[] =
        "Usage: emberctl overlay COMMAND ...\n"
        "\n"
        "Sealed configuration overlays (docs/overlay-format.md):\n"
        "  seal DIR|TAR --key SIGNING.pem --out FILE --data-key-out KEYFILE\n"
        "       [--id UUID] [--serial N] [--chunk-size N]\n"
        "                        seal a directory (its contents, walked in sorted\n"
        "                        order) or an uncompressed tar; SIGNING.pem is an\n"
        "                        ECDSA P-256 private key; a new random data key goes\n"
        "                        to KEYFILE (0600) and nowhere else; prints the id,\n"
        "                        serial and digest the attestation server names to\n"
        "                        nodes. --serial defaults to the current Unix time,\n"
        "                        --chunk-size (bytes, or with K or M) to 1M\n"
        "  inspect FILE          the header's fields (nothing is verified)\n"
        "  verify FILE --signer PUB.pem [--data-key KEYFILE] [EXPECT...]\n"
        "                        the signature and the ciphertext digest; with the\n"
        "                        data key every chunk and tar entry too, writing\n"
        "                        nothing\n"
        "  apply FILE --signer PUB.pem --data-key KEYFILE --root DIR\n"
        "       [--staging DIR] [EXPECT...]\n"
        "                        open, check and stage it (in DIR/" STAGING_NAME "\n"
        "                        unless --staging), then commit it into DIR\n"
        "\n"
        "PUB.pem holds one or more PUBLIC KEY blocks: the signers the reader pins.\n"
        "EXPECT: --expect-id UUID, --expect-serial N, --expect-digest HEX (what an\n"
        "attestation reply names: any other overlay is refused).\n"
        "Exit status: 0 done, 1 failed, 2 bad usage.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "overlay: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, " (try 'emberctl overlay --help')\n");
        va_end(ap);
        return 2;
}

static int failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int failed(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "overlay: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        return 1;
}

static int parse_u64(const char *s, uint64_t *ret)
{
        char *end;
        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_size(const char *s, uint32_t *ret)
{
        char *end;
        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        unsigned shift = streq(end, "K") || streq(end, "k") ? 10 : streq(end, "M") || streq(end, "m") ? 20 : 0;
        if (errno || (*end && shift == 0) || v > (UINT32_MAX >> shift))
                return -EINVAL;
        *ret = (uint32_t)(v << shift);
        return 0;
}

/* The key file: 64 hex digits and a newline. */
static int read_key(const char *path, uint8_t key[OVERLAY_KEY_LEN])
{
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_file_all(path, KEY_FILE_MAX, &buf, &len);
        if (r < 0)
                return failed("reading the data key %s: %s", path, strerror(-r)), r;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ' || buf[len - 1] == '\r'))
                buf[--len] = '\0';
        r = strlen(buf) == len ? overlay_unhex(buf, key, OVERLAY_KEY_LEN) : -EINVAL;
        mbedtls_platform_zeroize(buf, len);
        if (r < 0)
                return failed("%s is not a data key (64 hex digits)", path), r;
        return 0;
}

static int write_key(const char *path, const uint8_t key[OVERLAY_KEY_LEN])
{
        char text[2 * OVERLAY_KEY_LEN + 2];
        overlay_hex(key, OVERLAY_KEY_LEN, text);
        text[2 * OVERLAY_KEY_LEN] = '\n';
        text[2 * OVERLAY_KEY_LEN + 1] = '\0';
        int r = write_file_atomic(path, text, 2 * OVERLAY_KEY_LEN + 1, 0600);
        mbedtls_platform_zeroize(text, sizeof(text));
        return r;
}

static void print_header(const struct overlay_header *h)
{
        char id[OVERLAY_ID_STR], hex[2 * OVERLAY_HASH_LEN + 1], when[32] = "?";
        time_t t = (time_t)h->created;
        struct tm tm;
        if (h->created <= (uint64_t)INT32_MAX * 64 && gmtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        overlay_id_format(h->id, id);
        printf("format:       " OVERLAY_MAGIC " version %u\n", h->version);
        printf("overlay id:   %s\n", id);
        printf("serial:       %" PRIu64 "\n", h->serial);
        printf("created:      %" PRIu64 " (%s)\n", h->created, when);
        overlay_hex(h->signer_id, OVERLAY_HASH_LEN, hex);
        printf("signer:       %s\n", hex);
        overlay_hex(h->key_id, OVERLAY_HASH_LEN, hex);
        printf("key id:       %s\n", hex);
        overlay_hex(h->ct_sha256, OVERLAY_HASH_LEN, hex);
        printf("ct sha256:    %s\n", hex);
        printf("entries:      %" PRIu32 "\n", h->entries);
        printf("content:      %" PRIu64 " bytes (tar)\n", h->content_size);
        printf("payload:      %" PRIu64 " bytes (zstd)\n", h->payload_size);
        printf("chunks:       %" PRIu64 " of %" PRIu32 " bytes\n", h->chunk_count, h->chunk_size);
        printf("header:       %" PRIu32 " bytes (signature %u)\n", h->header_len, h->sig_len);
        printf("file:         %" PRIu64 " bytes\n", overlay_file_size(h));
}

/* ---- seal ---- */

struct seal_args {
        const char *source, *key, *out, *key_out;
        bool has_id, has_serial;
        uint8_t id[OVERLAY_ID_LEN];
        uint64_t serial;
        uint32_t chunk_size;
};

static int seal_parse(int argc, char **argv, struct seal_args *a)
{
        static const struct option opts[] = { { "key", required_argument, NULL, 'k' },
                                               { "out", required_argument, NULL, 'o' },
                                               { "data-key-out", required_argument, NULL, 'd' },
                                               { "id", required_argument, NULL, 'i' },
                                               { "serial", required_argument, NULL, 's' },
                                               { "chunk-size", required_argument, NULL, 'c' },
                                               { "help", no_argument, NULL, 'h' },
                                               { NULL, 0, NULL, 0 } };
        int c;
        a->chunk_size = OVERLAY_CHUNK_DEFAULT;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c == 'k')
                        a->key = optarg;
                else if (c == 'o')
                        a->out = optarg;
                else if (c == 'd')
                        a->key_out = optarg;
                else if (c == 'i') {
                        if (overlay_id_parse(optarg, a->id) < 0)
                                return usage_error("--id %s is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", optarg);
                        a->has_id = true;
                } else if (c == 's') {
                        if (parse_u64(optarg, &a->serial) < 0 || a->serial == 0)
                                return usage_error("--serial %s is not a number from 1", optarg);
                        a->has_serial = true;
                } else if (c == 'c') {
                        if (parse_size(optarg, &a->chunk_size) < 0 || a->chunk_size < OVERLAY_CHUNK_MIN ||
                            a->chunk_size > OVERLAY_CHUNK_MAX)
                                return usage_error("--chunk-size %s is not between 4K and 16M", optarg);
                } else if (c == 'h')
                        return fputs(usage_text, stdout), -1;
                else
                        return 2;
        }
        if (optind + 1 != argc)
                return usage_error("seal takes one DIR or TAR");
        a->source = argv[optind];
        if (!a->key || !a->out || !a->key_out)
                return usage_error("seal needs --key, --out and --data-key-out");
        if (streq(a->out, a->key_out))
                return usage_error("--out and --data-key-out name the same file");
        return 0;
}

static int cmd_seal(int argc, char **argv)
{
        struct seal_args a = { 0 };
        char why[512] = "";
        const struct reason w = { why, sizeof(why) };
        _cleanup_overlay_signing_key_ struct overlay_signing_key *key = NULL;
        _cleanup_free_ struct overlay_header *h = calloc(1, sizeof(*h));
        struct overlay_seal_params p = { 0 };
        uint8_t data_key[OVERLAY_KEY_LEN];

        int r = seal_parse(argc, argv, &a);
        if (r != 0)
                return r < 0 ? 0 : r;
        if (!h)
                return failed("out of memory");
        if (overlay_signing_key_load(a.key, &key, &w) < 0)
                return failed("seal: %s", why);
        if ((!a.has_id && overlay_id_random(a.id) < 0) || getrandom_full(data_key, sizeof(data_key)) < 0)
                return failed("seal: no randomness");
        p.source = a.source;
        p.out = a.out;
        p.data_key = data_key;
        p.key = key;
        memcpy(p.id, a.id, OVERLAY_ID_LEN);
        p.created = (uint64_t)time(NULL);
        p.serial = a.has_serial ? a.serial : p.created;
        p.chunk_size = a.chunk_size;
        overlay_limits_default(&p.limits);
        r = overlay_seal(&p, h, &w);
        if (r >= 0 && (r = write_key(a.key_out, data_key)) < 0) {
                snprintf(why, sizeof(why), "writing the data key %s: %s", a.key_out, strerror(-r));
                unlink(a.out);
        }
        mbedtls_platform_zeroize(data_key, sizeof(data_key));
        if (r < 0)
                return failed("seal %s: %s", a.source, why);
        print_header(h);
        printf("data key:     in %s\n", a.key_out);
        return 0;
}

/* ---- reading an overlay file ---- */

static int cmd_inspect(int argc, char **argv)
{
        uint8_t buf[OVERLAY_HEADER_MAX];
        char why[512] = "";
        const struct reason w = { why, sizeof(why) };
        uint32_t len;
        struct stat st;

        if (argc == 2 && streq(argv[1], "--help"))
                return fputs(usage_text, stdout), 0;
        if (argc != 2 || argv[1][0] == '-')
                return usage_error("inspect takes one FILE");
        _cleanup_free_ struct overlay_header *h = calloc(1, sizeof(*h));
        _cleanup_close_ int fd = open(argv[1], O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (!h)
                return failed("out of memory");
        if (fd < 0 || fstat(fd, &st) < 0)
                return failed("%s: %s", argv[1], strerror(errno));
        ssize_t n = pread(fd, buf, sizeof(buf), 0);
        if (n < 0)
                return failed("%s: %s", argv[1], strerror(errno));
        if (overlay_header_prefix(buf, (size_t)n, &len, &w) < 0 || len > (size_t)n ||
            overlay_header_parse(buf, len, h, &w) < 0)
                return failed("%s: %s", argv[1], *why ? why : "header: truncated");
        print_header(h);
        printf("signature:    not checked (verify --signer PUB.pem checks it)\n");
        if (overlay_header_check(h, NULL, &w) < 0)
                return failed("%s: %s", argv[1], why);
        if ((uint64_t)st.st_size != overlay_file_size(h))
                return failed("%s: %jd bytes, the header describes %" PRIu64, argv[1], (intmax_t)st.st_size,
                              overlay_file_size(h));
        return 0;
}

struct read_args {
        const char *file, *signer, *key, *root, *staging;
        struct overlay_open_config cfg;
};

static int read_parse(int argc, char **argv, struct read_args *a, bool apply)
{
        static const struct option opts[] = { { "signer", required_argument, NULL, 'p' },
                                               { "data-key", required_argument, NULL, 'k' },
                                               { "root", required_argument, NULL, 'r' },
                                               { "staging", required_argument, NULL, 's' },
                                               { "expect-id", required_argument, NULL, 'I' },
                                               { "expect-serial", required_argument, NULL, 'S' },
                                               { "expect-digest", required_argument, NULL, 'D' },
                                               { "help", no_argument, NULL, 'h' },
                                               { NULL, 0, NULL, 0 } };
        const char *cmd = apply ? "apply" : "verify";
        int c;
        overlay_open_config_default(&a->cfg);
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c == 'p')
                        a->signer = optarg;
                else if (c == 'k')
                        a->key = optarg;
                else if (c == 'r' && apply)
                        a->root = optarg;
                else if (c == 's' && apply)
                        a->staging = optarg;
                else if (c == 'I') {
                        if (overlay_id_parse(optarg, a->cfg.id) < 0)
                                return usage_error("--expect-id %s is not a UUID", optarg);
                        a->cfg.expect_id = true;
                } else if (c == 'S') {
                        if (parse_u64(optarg, &a->cfg.serial) < 0)
                                return usage_error("--expect-serial %s is not a number", optarg);
                        a->cfg.expect_serial = true;
                } else if (c == 'D') {
                        if (overlay_unhex(optarg, a->cfg.ct_sha256, OVERLAY_HASH_LEN) < 0)
                                return usage_error("--expect-digest %s is not 64 hex digits", optarg);
                        a->cfg.expect_digest = true;
                } else if (c == 'h')
                        return fputs(usage_text, stdout), -1;
                else if (c == 'r' || c == 's')
                        return usage_error("verify takes no --root or --staging: it writes nothing");
                else
                        return 2;
        }
        if (optind + 1 != argc)
                return usage_error("%s takes one FILE", cmd);
        a->file = argv[optind];
        if (!a->signer)
                return usage_error("%s needs --signer PUB.pem", cmd);
        if (apply && (!a->key || !a->root))
                return usage_error("apply needs --data-key and --root");
        return 0;
}

/* The file through the opener, in blocks as a download would come. */
static int feed_file(struct overlay_open *o, const char *path)
{
        _cleanup_free_ uint8_t *buf = malloc(FEED_BLOCK);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (!buf)
                return failed("out of memory"), -ENOMEM;
        if (fd < 0)
                return failed("%s: %s", path, strerror(errno)), -errno;
        for (;;) {
                ssize_t n = read(fd, buf, FEED_BLOCK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return failed("%s: %s", path, strerror(errno)), -errno;
                if (n == 0)
                        break;
                int r = overlay_open_feed(o, buf, (size_t)n);
                if (r < 0)
                        return failed("%s: %s", path, overlay_open_error(o)), r;
        }
        int r = overlay_open_finish(o);
        if (r < 0)
                return failed("%s: %s", path, overlay_open_error(o)), r;
        return 0;
}

static int open_overlay(struct read_args *a, struct overlay_open **ret)
{
        char why[512] = "";
        const struct reason w = { why, sizeof(why) };
        _cleanup_overlay_signers_ struct overlay_signers *signers = NULL;
        uint8_t key[OVERLAY_KEY_LEN];
        struct overlay_open *o = NULL;

        if (overlay_signers_load(a->signer, &signers, &w) < 0)
                return failed("%s", why), -EINVAL;
        if (a->key && read_key(a->key, key) < 0)
                return -EINVAL;
        a->cfg.signers = signers;
        a->cfg.data_key = a->key ? key : NULL;
        a->cfg.staging = a->staging;
        int r = overlay_open_new(&a->cfg, &o, why, sizeof(why));
        mbedtls_platform_zeroize(key, sizeof(key));
        if (r < 0)
                return failed("%s: %s", a->file, why), r;
        r = feed_file(o, a->file);
        if (r < 0) {
                overlay_open_free(o);
                return r;
        }
        *ret = o;
        return 0;
}

static int cmd_verify(int argc, char **argv)
{
        struct read_args a = { 0 };
        _cleanup_overlay_open_ struct overlay_open *o = NULL;
        char id[OVERLAY_ID_STR], signer[2 * OVERLAY_HASH_LEN + 1];
        int r = read_parse(argc, argv, &a, false);
        if (r != 0)
                return r < 0 ? 0 : r;
        if (open_overlay(&a, &o) < 0)
                return 1;
        const struct overlay_header *h = overlay_open_header(o);
        overlay_id_format(h->id, id);
        overlay_hex(h->signer_id, OVERLAY_HASH_LEN, signer);
        printf("verified: overlay %s serial %" PRIu64 ", signed by %.16s…, ciphertext digest matches\n", id, h->serial,
               signer);
        if (a.key)
                printf("verified: %" PRIu64 " chunks opened, %" PRIu32 " tar entries read, %" PRIu64
                       " bytes of tar (nothing written)\n",
                       h->chunk_count, overlay_open_entries(o), h->content_size);
        else
                printf("not checked: the chunks' contents (no --data-key)\n");
        return 0;
}

static int cmd_apply(int argc, char **argv)
{
        struct read_args a = { 0 };
        _cleanup_overlay_open_ struct overlay_open *o = NULL;
        _cleanup_free_ char *staging = NULL;
        char why[512] = "", id[OVERLAY_ID_STR];
        int r = read_parse(argc, argv, &a, true);
        if (r != 0)
                return r < 0 ? 0 : r;
        if (!a.staging) {
                size_t n = strlen(a.root);
                while (n > 1 && a.root[n - 1] == '/')
                        n--;
                if (asprintf(&staging, "%.*s/" STAGING_NAME, (int)n, streq(a.root, "/") ? "" : a.root) < 0)
                        return failed("out of memory");
                a.staging = staging;
        }
        a.cfg.restore_owners = geteuid() == 0;
        if (!a.cfg.restore_owners)
                fprintf(stderr, "overlay: not root: the entries' owners are not restored, ignoring them\n");
        if (open_overlay(&a, &o) < 0)
                return 1;
        const struct overlay_header *h = overlay_open_header(o);
        if (overlay_commit(a.staging, a.root, why, sizeof(why)) < 0)
                return failed("%s: %s", a.file, why);
        overlay_id_format(h->id, id);
        printf("applied: overlay %s serial %" PRIu64 ", %" PRIu32 " entries into %s\n", id, h->serial,
               overlay_open_entries(o), a.root);
        return 0;
}

int overlay_command(int argc, char **argv)
{
        static const struct {
                const char *name;
                int (*run)(int argc, char **argv);
        } cmds[] = { { "seal", cmd_seal }, { "inspect", cmd_inspect }, { "verify", cmd_verify }, { "apply", cmd_apply } };

        if (argc < 2)
                return usage_error("which command?");
        if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help"))
                return fputs(usage_text, stdout), 0;
        for (size_t i = 0; i < ELEMENTSOF(cmds); i++)
                if (streq(argv[1], cmds[i].name))
                        return cmds[i].run(argc - 1, argv + 1);
        return usage_error("unknown command '%s'", argv[1]);
}
