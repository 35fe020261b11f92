/* SPDX-License-Identifier: Apache-2.0 */
/* `emberctl release …` (ctl_release.h): the operator's side of the signed
 * release manifest. Files are mapped, not read, so a large initrd costs
 * page cache rather than heap; the Authenticode digest needs the whole
 * image at hand anyway. */
#include "ctl_release.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "authenticode.h"
#include "fileio.h"
#include "lkg.h"
#include "manifest.h"
#include "reason.h"
#include "util.h"

#define KEY_FILE_MAX (64u << 10)
#define EXTRA_FILES_MAX (MANIFEST_FILES_MAX - 2)

static const char usage_text[] =
        "Usage: emberctl release COMMAND ...\n"
        "\n"
        "Signed release manifests (docs/release-manifest.md): what a node checks the\n"
        "kernel and initrd it downloads against, and what ties them to PCR 4.\n"
        "\n"
        "  manifest --version V --kernel FILE --initrd FILE [--file NAME=PATH]...\n"
        "           --key SIGNER.key --out DIR\n"
        "                        write DIR/" MANIFEST_FILE_NAME " and DIR/" MANIFEST_SIG_NAME "\n"
        "                        (each replaced atomically): every file's size and\n"
        "                        SHA-256, and the Authenticode SHA-256 of the kernel and\n"
        "                        of any other PE image (a NAME ending in .efi must be\n"
        "                        one); SIGNER.key is a PEM ECDSA P-256 private key.\n"
        "                        The kernel is named vmlinuz, the initrd initrd; NAME is\n"
        "                        [A-Za-z0-9._-], at most 64 bytes, no leading dot.\n"
        "                        created is $SOURCE_DATE_EPOCH, else the current time\n"
        "  verify DIR --signer PUB.pem [--signer PUB.pem]... [--dir-files]\n"
        "                        check DIR/" MANIFEST_SIG_NAME " against the pinned keys\n"
        "                        (PEM PUBLIC KEY blocks; several: rotation), then\n"
        "                        " MANIFEST_FILE_NAME " itself, then each file it names that is\n"
        "                        in DIR: size, SHA-256, Authenticode SHA-256;\n"
        "                        --dir-files: every file must be in DIR\n"
        "  authenticode FILE...  print each PE image's Authenticode SHA-256 (what UEFI\n"
        "                        firmware measures into PCR 4), as sha256sum does\n"
        "\n"
        "A node pins its signers in " MANIFEST_SIGNERS_PATH "\n"
        "(emberctl image site --release-signer).\n"
        "Exit status: 0 done, 1 failed, 2 bad usage.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "emberctl: release: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, " (try 'emberctl release --help')\n");
        va_end(ap);
        return 2;
}

static int failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int failed(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "emberctl: release: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        return 1;
}

static void hex32(const uint8_t d[32], char out[65])
{
        for (size_t i = 0; i < 32; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---- files ---- */

struct mapping {
        uint8_t *p;
        size_t len;
};

static void unmapp(struct mapping *m)
{
        if (m->p)
                munmap(m->p, m->len);
}

/* A regular file's bytes, read-only; an empty file maps to { NULL, 0 }.
 * -ENOENT when it is absent; other errors with why. */
static int map_file(const char *path, struct mapping *ret, char *why, size_t whylen)
{
        struct stat st;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int r = negative_errno();
                snprintf(why, whylen, "%s: %s", path, strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0) {
                int r = negative_errno();
                snprintf(why, whylen, "%s: %s", path, strerror(-r));
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(why, whylen, "%s: not a regular file", path);
                return -EINVAL;
        }
        if ((uint64_t)st.st_size > MANIFEST_SIZE_MAX) {
                snprintf(why, whylen, "%s: larger than %" PRIu64 " bytes", path, MANIFEST_SIZE_MAX);
                return -EFBIG;
        }
        struct mapping m = { NULL, (size_t)st.st_size };
        if (m.len > 0) {
                void *p = mmap(NULL, m.len, PROT_READ, MAP_PRIVATE, fd, 0);
                if (p == MAP_FAILED) {
                        int r = negative_errno();
                        snprintf(why, whylen, "%s: mapping it: %s", path, strerror(-r));
                        return r;
                }
                m.p = p;
        }
        *ret = m;
        return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t n = strlen(s), k = strlen(suffix);
        return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* name's entry from the file at path. The kernel and any NAME ending in
 * .efi must be PE images; any other file that starts like one ("MZ") must
 * be one too, so a broken image never goes in without its digest. */
static int describe(const char *name, const char *path, bool kernel, struct release_file *f, char *why,
                    size_t whylen)
{
        char pwhy[256];
        _cleanup_(unmapp) struct mapping m = { 0 };
        int r = map_file(path, &m, why, whylen);
        if (r < 0)
                return r;
        if (m.len == 0) {
                snprintf(why, whylen, "%s: empty file", path);
                return -EINVAL;
        }
        struct release_file e = { .size = m.len };
        snprintf(e.name, sizeof(e.name), "%s", name);
        if (mbedtls_sha256_ret(m.p, m.len, e.sha256, 0) != 0) {
                snprintf(why, whylen, "%s: SHA-256 failed", path);
                return -EIO;
        }
        bool pe = kernel || ends_with(name, ".efi") || (m.len >= 2 && m.p[0] == 'M' && m.p[1] == 'Z');
        if (pe) {
                r = authenticode_sha256_why(m.p, m.len, e.authenticode, pwhy, sizeof(pwhy));
                if (r < 0) {
                        snprintf(why, whylen, "%s: not a PE image%s (%s)", path,
                                 kernel ? " (an EFI stub kernel)" : "", pwhy);
                        return r;
                }
                e.has_authenticode = true;
        }
        *f = e;
        return 0;
}

static void print_file(const struct release_file *f)
{
        char s[65], a[65];
        hex32(f->sha256, s);
        printf("file %s size %" PRIu64 " sha256 %s", f->name, f->size, s);
        if (f->has_authenticode) {
                hex32(f->authenticode, a);
                printf(" authenticode %s", a);
        }
        printf("\n");
}

static int64_t created_now(bool *ok)
{
        const char *epoch = getenv("SOURCE_DATE_EPOCH");
        char *end = NULL;
        *ok = true;
        if (!epoch)
                return (int64_t)time(NULL);
        errno = 0;
        long long v = strtoll(epoch, &end, 10);
        if (errno || end == epoch || *end || v < 0 || v > MANIFEST_CREATED_MAX)
                *ok = false;
        return v;
}

/* ---- manifest ---- */

struct manifest_args {
        const char *version, *kernel, *initrd, *key, *out;
        const char *names[EXTRA_FILES_MAX], *paths[EXTRA_FILES_MAX];
        size_t n_extra;
};

static int manifest_args_parse(int argc, char **argv, struct manifest_args *a)
{
        static const struct option opts[] = {
                { "version", required_argument, NULL, 'v' }, { "kernel", required_argument, NULL, 'k' },
                { "initrd", required_argument, NULL, 'i' },  { "file", required_argument, NULL, 'f' },
                { "key", required_argument, NULL, 'K' },     { "out", required_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },          {},
        };
        char why[200];
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'v': a->version = optarg; break;
                case 'k': a->kernel = optarg; break;
                case 'i': a->initrd = optarg; break;
                case 'K': a->key = optarg; break;
                case 'o': a->out = optarg; break;
                case 'f': {
                        char *eq = strchr(optarg, '=');
                        if (!eq || eq == optarg || !eq[1])
                                return usage_error("--file %s: expected NAME=PATH", optarg);
                        if (a->n_extra == EXTRA_FILES_MAX)
                                return usage_error("at most %d --file", EXTRA_FILES_MAX);
                        *eq = '\0';
                        if (manifest_name_check(optarg, why, sizeof(why)) < 0)
                                return usage_error("--file %s: %s", optarg, why);
                        a->names[a->n_extra] = optarg;
                        a->paths[a->n_extra++] = eq + 1;
                        break;
                }
                case 'h': return fputs(usage_text, stdout), 0;
                default: return 2;
                }
        }
        if (optind != argc)
                return usage_error("manifest: unexpected argument '%s'", argv[optind]);
        if (!a->version || !a->kernel || !a->initrd || !a->key || !a->out)
                return usage_error("manifest needs --version, --kernel, --initrd, --key and --out");
        return -1; /* go on */
}

static int write_pair(const char *dir, const char *json, const uint8_t *sig, size_t siglen)
{
        char path[4200];
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return failed("creating %s: %m", dir);
        snprintf(path, sizeof(path), "%s/" MANIFEST_FILE_NAME, dir);
        int r = write_file_atomic(path, json, strlen(json), 0644);
        if (r < 0)
                return failed("writing %s: %s", path, strerror(-r));
        snprintf(path, sizeof(path), "%s/" MANIFEST_SIG_NAME, dir);
        r = write_file_atomic(path, sig, siglen, 0644);
        if (r < 0)
                return failed("writing %s: %s", path, strerror(-r));
        return 0;
}

static int cmd_manifest(int argc, char **argv)
{
        struct manifest_args a = { 0 };
        struct release_manifest m = { 0 };
        char why[400];
        uint8_t sig[MANIFEST_SIG_MAX];
        size_t siglen = 0, keylen = 0;
        bool ok;
        int r = manifest_args_parse(argc, argv, &a);
        if (r >= 0)
                return r;
        if (strlen(a.out) > 4000)
                return usage_error("--out: name too long");
        const struct reason vw = { why, sizeof(why) };
        if (lkg_version_check(a.version, &vw) < 0 || strlen(a.version) > MANIFEST_VERSION_MAX)
                return usage_error("--version %s: %s", a.version,
                                   strlen(a.version) > MANIFEST_VERSION_MAX ? "longer than 64 bytes" : why);
        snprintf(m.version, sizeof(m.version), "%s", a.version);
        m.created = created_now(&ok);
        if (!ok)
                return usage_error("SOURCE_DATE_EPOCH=%s is not seconds since 1970", getenv("SOURCE_DATE_EPOCH"));

        if ((r = describe("vmlinuz", a.kernel, true, &m.files[0], why, sizeof(why))) < 0)
                return failed("--kernel %s", why);
        if ((r = describe("initrd", a.initrd, false, &m.files[1], why, sizeof(why))) < 0)
                return failed("--initrd %s", why);
        m.n_files = 2;
        for (size_t i = 0; i < a.n_extra; i++, m.n_files++)
                if ((r = describe(a.names[i], a.paths[i], false, &m.files[m.n_files], why, sizeof(why))) < 0)
                        return failed("--file %s=%s", a.names[i], why);
        if (manifest_check(&m, why, sizeof(why)) < 0)
                return failed("%s", why);

        _cleanup_free_ char *json = NULL, *key = NULL;
        if ((r = manifest_format(&m, &json)) < 0)
                return failed("writing the manifest: %s", strerror(-r));
        if ((r = read_file_all(a.key, KEY_FILE_MAX, &key, &keylen)) < 0)
                return failed("--key %s: %s", a.key, strerror(-r));
        r = manifest_sign((const uint8_t *)json, strlen(json), key, keylen, sig, &siglen, why, sizeof(why));
        mbedtls_platform_zeroize(key, keylen);
        if (r < 0)
                return failed("--key %s: %s", a.key, why);
        if ((r = write_pair(a.out, json, sig, siglen)) != 0)
                return r;

        printf("version %s\ncreated %" PRId64 "\n", m.version, m.created);
        for (size_t i = 0; i < m.n_files; i++)
                print_file(&m.files[i]);
        printf("wrote %s/" MANIFEST_FILE_NAME " and %s/" MANIFEST_SIG_NAME "\n", a.out, a.out);
        return 0;
}

/* ---- verify ---- */

/* Each pinned signers file, concatenated (blocks are found wherever they are). */
static int read_signers(const char *const *paths, size_t n, char **ret, size_t *ret_len)
{
        _cleanup_free_ char *all = NULL;
        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *pem = NULL;
                size_t len = 0;
                int r = read_file_all(paths[i], MANIFEST_PEM_MAX, &pem, &len);
                if (r < 0)
                        return failed("--signer %s: %s", paths[i], strerror(-r));
                if (total + len + 2 > MANIFEST_PEM_MAX)
                        return failed("--signer: more than %u bytes of keys", MANIFEST_PEM_MAX);
                char *p = realloc(all, total + len + 2);
                if (!p)
                        return failed("out of memory");
                all = p;
                memcpy(all + total, pem, len);
                total += len;
                all[total++] = '\n';
                all[total] = '\0';
        }
        *ret = TAKE_PTR(all);
        *ret_len = total;
        return 0;
}

/* 0 matched or absent (allowed), 1 failed */
static int verify_file(const char *dir, const struct release_file *f, bool required)
{
        char path[4200], why[400];
        _cleanup_(unmapp) struct mapping m = { 0 };
        snprintf(path, sizeof(path), "%s/%s", dir, f->name);
        int r = map_file(path, &m, why, sizeof(why));
        if (r == -ENOENT && !required)
                return printf("%s: not in %s, not checked\n", f->name, dir), 0;
        if (r == -ENOENT)
                return failed("%s: not in %s (--dir-files)", f->name, dir);
        if (r < 0)
                return failed("%s", why);
        if (manifest_file_check(f, m.p, m.len, why, sizeof(why)) < 0)
                return failed("%s: does not match the manifest: %s", path, why);
        printf("%s: size, sha256%s match\n", f->name, f->has_authenticode ? " and authenticode" : "");
        return 0;
}

static int cmd_verify(int argc, char **argv)
{
        static const struct option opts[] = {
                { "signer", required_argument, NULL, 's' },
                { "dir-files", no_argument, NULL, 'd' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *signers[MANIFEST_SIGNERS_MAX];
        size_t n_signers = 0, pemlen = 0, jlen = 0, slen = 0;
        bool dir_files = false;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c == 's' && n_signers == ELEMENTSOF(signers))
                        return usage_error("at most %zu --signer", ELEMENTSOF(signers));
                else if (c == 's')
                        signers[n_signers++] = optarg;
                else if (c == 'd')
                        dir_files = true;
                else if (c == 'h')
                        return fputs(usage_text, stdout), 0;
                else
                        return 2;
        }
        if (optind + 1 != argc || n_signers == 0)
                return usage_error("verify needs one DIR and at least one --signer PUB.pem");
        const char *dir = argv[optind];
        if (strlen(dir) > 4000)
                return usage_error("DIR: name too long");

        _cleanup_free_ char *pem = NULL, *json = NULL, *sig = NULL;
        char path[4200], why[400];
        int r = read_signers(signers, n_signers, &pem, &pemlen);
        if (r != 0)
                return r;
        snprintf(path, sizeof(path), "%s/" MANIFEST_FILE_NAME, dir);
        if ((r = read_file_all(path, MANIFEST_JSON_MAX, &json, &jlen)) < 0)
                return failed("%s: %s", path, r == -EFBIG ? "larger than 64 KiB" : strerror(-r));
        snprintf(path, sizeof(path), "%s/" MANIFEST_SIG_NAME, dir);
        if ((r = read_file_all(path, MANIFEST_SIG_MAX, &sig, &slen)) < 0)
                return failed("%s: %s", path, r == -EFBIG ? "longer than a signature" : strerror(-r));

        /* the signature first: the JSON parser sees only signed bytes */
        struct release_manifest m;
        int signer = manifest_verify((const uint8_t *)json, jlen, (const uint8_t *)sig, slen, pem, pemlen, why,
                                     sizeof(why));
        if (signer == -EPERM)
                return failed("%s: not signed by a pinned key: %s", path, why);
        if (signer == -EINVAL || signer == -ENOENT || signer == -E2BIG)
                return failed("--signer: %s", why);
        if (signer < 0)
                return failed("%s: %s", dir, why);
        snprintf(path, sizeof(path), "%s/" MANIFEST_FILE_NAME, dir);
        if ((r = manifest_parse((const uint8_t *)json, jlen, &m, why, sizeof(why))) < 0)
                return failed("%s: signed by a pinned key, but not a release manifest: %s", path, why);
        printf("signature: verified with pinned key %d of %d\n", signer + 1,
               manifest_signers_check(pem, pemlen, NULL, 0));
        printf("release %s, created %" PRId64 ", %zu files\n", m.version, m.created, m.n_files);
        int bad = 0;
        for (size_t i = 0; i < m.n_files; i++)
                bad |= verify_file(dir, &m.files[i], dir_files);
        return bad ? 1 : 0;
}

/* ---- authenticode ---- */

static int cmd_authenticode(int argc, char **argv)
{
        char why[400], pwhy[256], d[65];
        uint8_t digest[32];
        if (argc >= 2 && (streq(argv[1], "--help") || streq(argv[1], "-h")))
                return fputs(usage_text, stdout), 0;
        if (argc < 2)
                return usage_error("authenticode needs at least one FILE");
        int status = 0;
        for (int i = 1; i < argc; i++) {
                _cleanup_(unmapp) struct mapping m = { 0 };
                if (map_file(argv[i], &m, why, sizeof(why)) < 0) {
                        status = failed("%s", why);
                        continue;
                }
                if (authenticode_sha256_why(m.p, m.len, digest, pwhy, sizeof(pwhy)) < 0) {
                        status = failed("%s: not a PE image: %s", argv[i], pwhy);
                        continue;
                }
                hex32(digest, d);
                printf("%s  %s\n", d, argv[i]);
        }
        return status;
}

int release_command(int argc, char **argv)
{
        if (argc < 2)
                return usage_error("needs a subcommand: manifest, verify or authenticode");
        const char *sub = argv[1];
        if (streq(sub, "--help") || streq(sub, "-h"))
                return fputs(usage_text, stdout), 0;
        if (streq(sub, "manifest"))
                return cmd_manifest(argc - 1, argv + 1);
        if (streq(sub, "verify"))
                return cmd_verify(argc - 1, argv + 1);
        if (streq(sub, "authenticode"))
                return cmd_authenticode(argc - 1, argv + 1);
        return usage_error("unknown subcommand '%s'", sub);
}
