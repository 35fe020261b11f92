/* SPDX-License-Identifier: Apache-2.0 */
#include "site.h"

#include <fcntl.h>
#include <getopt.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "fileio.h"
#include "format.h"
#include "initrd.h"
#include "manifest.h"
#include "pins.h"
#include "pki.h"
#include "reason.h"
#include "util.h"

#define CA_FILE_MAX (256u << 10)

static int check_ca(const char *path, const struct reason *w)
{
        _cleanup_free_ char *pem = NULL;
        size_t len = 0;
        int k = read_file_all(path, CA_FILE_MAX, &pem, &len);
        if (k < 0)
                return reason_fail(w, k, "--ca %s: %s", path, strerror(-k));
        if (!strstr(pem, "-----BEGIN CERTIFICATE-----"))
                return reason_fail(w, -EINVAL, "--ca %s: no PEM certificate in it", path);
        mbedtls_x509_crt crt;
        mbedtls_x509_crt_init(&crt);
        int r = mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, len + 1);
        mbedtls_x509_crt_free(&crt);
        if (r != 0)
                return reason_fail(w, -EINVAL, "--ca %s: %s certificate(s) in it could not be parsed", path,
                                   r > 0 ? "some" : "the");
        return 0;
}

static int write_text(const char *dir, const char *name, const char *text, size_t len, char *path, size_t pathlen)
{
        snprintf(path, pathlen, "%s/%s", dir, name);
        return write_file_atomic(path, text, len, 0644);
}

/* The PEM files of one kind of signer, concatenated into dir/name, and the
 * spec line that puts it at /etc/ember/name (nothing when there are none). */
static int signers_file(const char *dir, const char *name, const char *option, const char *const *paths, size_t n,
                        char *spec, size_t *off, size_t specsize, const struct reason *w)
{
        char path[512];
        _cleanup_free_ char *all = NULL;
        size_t total = 0;
        if (n == 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *pem = NULL;
                size_t len = 0;
                int k = read_file_all(paths[i], CA_FILE_MAX, &pem, &len);
                if (k < 0)
                        return reason_fail(w, k, "%s %s: %s", option, paths[i], strerror(-k));
                char *p = realloc(all, total + len + 2);
                if (!p)
                        return reason_fail(w, -ENOMEM, "out of memory");
                all = p;
                memcpy(all + total, pem, len);
                total += len;
                if (len && pem[len - 1] != '\n')
                        all[total++] = '\n';
        }
        int k = write_text(dir, name, all ? all : "", total, path, sizeof(path));
        if (k < 0)
                return reason_fail(w, k, "writing %s: %s", path, strerror(-k));
        if (*off < specsize)
                *off += (size_t)snprintf(spec + *off, specsize - *off, "file /etc/ember/%s %s 0644 0 0\n", name, path);
        return 0;
}

/* The site cpio, written into dir/site.cpio. */
static int site_cpio(const char *dir, const struct site_config *c, int64_t mtime, const struct reason *w)
{
        char spec[4096], pins_path[512], ca_path[512], cpio[512], err[300];
        size_t off = 0;
        _cleanup_initrd_spec_ struct initrd_spec *s = NULL;

        off += (size_t)snprintf(spec + off, sizeof(spec) - off, "dir /etc 0755 0 0\ndir /etc/ember 0755 0 0\n");
        if (c->n_pins) {
                char text[ATTEST_PINS_MAX * 64 + 128];
                size_t t = (size_t)snprintf(text, sizeof(text), "# the attestation server's key (emberctl image site)\n");
                for (size_t i = 0; i < c->n_pins && t < sizeof(text); i++)
                        t += (size_t)snprintf(text + t, sizeof(text) - t, "%s\n", c->pins[i]);
                if (t >= sizeof(text))
                        return reason_fail(w, -E2BIG, "too many pins");
                int k = write_text(dir, "attest.pins", text, t, pins_path, sizeof(pins_path));
                if (k < 0)
                        return reason_fail(w, k, "writing %s: %s", pins_path, strerror(-k));
                off += (size_t)snprintf(spec + off, sizeof(spec) - off, "file /etc/ember/attest.pins %s 0644 0 0\n",
                                        pins_path);
        }
        if (c->ca_path) {
                _cleanup_free_ char *pem = NULL;
                size_t len = 0;
                int k = read_file_all(c->ca_path, CA_FILE_MAX, &pem, &len);
                if (k == 0)
                        k = write_text(dir, "attest-ca.pem", pem, len, ca_path, sizeof(ca_path));
                if (k < 0)
                        return reason_fail(w, k, "copying %s: %s", c->ca_path, strerror(-k));
                off += (size_t)snprintf(spec + off, sizeof(spec) - off, "file /etc/ember/attest-ca.pem %s 0644 0 0\n",
                                        ca_path);
        }
        int k = signers_file(dir, "overlay-signers.pem", "--overlay-signer", c->signers, c->n_signers, spec, &off,
                             sizeof(spec), w);
        if (k == 0)
                k = signers_file(dir, "release-signers.pem", "--release-signer", c->release_signers,
                                 c->n_release_signers, spec, &off, sizeof(spec), w);
        if (k < 0)
                return k;
        if (off >= sizeof(spec))
                return reason_fail(w, -ENAMETOOLONG, "temporary directory name too long");
        snprintf(cpio, sizeof(cpio), "%s/site.cpio", dir);
        if (initrd_spec_parse(spec, off, &s, err, sizeof(err)) < 0 ||
            initrd_write(s, cpio, INITRD_COMPRESS_NONE, mtime, err, sizeof(err)) < 0)
                return reason_fail(w, -EIO, "writing the site cpio: %s", err);
        return 0;
}

static int copy_all(int in, int out)
{
        char buf[1 << 16];
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        return 0;
                for (ssize_t o = 0; o < n;) {
                        ssize_t m = write(out, buf + o, (size_t)(n - o));
                        if (m < 0 && errno == EINTR)
                                continue;
                        if (m <= 0)
                                return m < 0 ? negative_errno() : -EIO;
                        o += m;
                }
        }
}

/* out = initrd_in ‖ zeros to a multiple of 4 ‖ cpio */
static int concatenate(const char *initrd_in, const char *cpio, const char *out, const struct reason *w)
{
        char tmp[4200];
        static const char zeros[4] = { 0 };
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.ember-tmp", out) >= sizeof(tmp))
                return reason_fail(w, -ENAMETOOLONG, "--out: name too long");
        _cleanup_close_ int a = open(initrd_in, O_RDONLY | O_CLOEXEC);
        if (a < 0)
                return reason_fail(w, negative_errno(), "--initrd %s: %m", initrd_in);
        _cleanup_close_ int b = open(cpio, O_RDONLY | O_CLOEXEC);
        if (b < 0)
                return reason_fail(w, negative_errno(), "%s: %m", cpio);
        (void)unlink(tmp);
        _cleanup_close_ int o = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (o < 0)
                return reason_fail(w, negative_errno(), "creating %s: %m", tmp);
        int k = copy_all(a, o);
        off_t end = k == 0 ? lseek(o, 0, SEEK_CUR) : 0;
        if (k == 0 && end < 0)
                k = negative_errno();
        if (k == 0 && end % 4 && write(o, zeros, (size_t)(4 - end % 4)) != 4 - end % 4)
                k = -EIO;
        if (k == 0)
                k = copy_all(b, o);
        if (k == 0 && (fsync(o) < 0 || rename(tmp, out) < 0))
                k = negative_errno();
        if (k < 0) {
                unlink(tmp);
                return reason_fail(w, k, "writing %s: %s", out, strerror(-k));
        }
        return 0;
}

int site_build(const char *initrd_in, const struct site_config *c, const char *out, int64_t mtime, char *err,
               size_t errlen)
{
        const struct reason w = { err, errlen };
        char why[200];
        _cleanup_free_ char *joined = NULL;

        if (c->n_pins == 0 && !c->ca_path)
                return reason_fail(&w, -EINVAL, "give the server's --pin, --ca or --server-dir: a node must be able to "
                                   "authenticate its attestation server");
        if (c->n_pins > ATTEST_PINS_MAX)
                return reason_fail(&w, -E2BIG, "at most %d pins", ATTEST_PINS_MAX);
        for (size_t i = 0; i < c->n_pins; i++) /* each on its own, so the message names the one at fault */
                if (attest_pins_parse(c->pins[i], strlen(c->pins[i]), &joined, why, sizeof(why)) < 0)
                        return reason_fail(&w, -EINVAL, "--pin %s: expected sha256// and 44 base64 characters",
                                           c->pins[i]);
                else {
                        free(joined);
                        joined = NULL;
                }
        if (c->ca_path) {
                int k = check_ca(c->ca_path, &w);
                if (k < 0)
                        return k;
        }
        for (size_t i = 0; i < c->n_signers; i++) {
                struct overlay_signers *sg = NULL;
                char sw[300];
                const struct reason swr = { sw, sizeof(sw) };
                if (overlay_signers_load(c->signers[i], &sg, &swr) < 0)
                        return reason_fail(&w, -EINVAL, "--overlay-signer %s: %s", c->signers[i], sw);
                overlay_signers_free(sg);
        }
        /* each file as the node reads them, and all of them together */
        size_t release_keys = 0, release_bytes = 0;
        for (size_t i = 0; i < c->n_release_signers; i++) {
                _cleanup_free_ char *pem = NULL;
                size_t len = 0;
                char sw[300];
                int k = read_file_all(c->release_signers[i], MANIFEST_PEM_MAX, &pem, &len);
                if (k < 0)
                        return reason_fail(&w, k, "--release-signer %s: %s", c->release_signers[i], strerror(-k));
                k = manifest_signers_check(pem, len, sw, sizeof(sw));
                if (k < 0)
                        return reason_fail(&w, -EINVAL, "--release-signer %s: %s", c->release_signers[i], sw);
                release_keys += (size_t)k;
                release_bytes += len + 1;
        }
        if (release_keys > MANIFEST_SIGNERS_MAX || release_bytes > MANIFEST_PEM_MAX)
                return reason_fail(&w, -E2BIG, "--release-signer: %zu keys in %zu bytes, more than a node reads "
                                   "(%d keys, %u bytes)", release_keys, release_bytes, MANIFEST_SIGNERS_MAX,
                                   MANIFEST_PEM_MAX);
        char dir[] = "/tmp/ember-site.XXXXXX";
        if (!mkdtemp(dir))
                return reason_fail(&w, negative_errno(), "mkdtemp: %m");
        char cpio[sizeof(dir) + 16];
        snprintf(cpio, sizeof(cpio), "%s/site.cpio", dir);
        int k = site_cpio(dir, c, mtime, &w);
        if (k == 0)
                k = concatenate(initrd_in, cpio, out, &w);
        static const char *const names[] = { "site.cpio", "attest.pins", "attest-ca.pem", "overlay-signers.pem",
                                             "release-signers.pem" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char p[sizeof(dir) + 16];
                snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
                (void)unlink(p);
        }
        (void)rmdir(dir);
        return k;
}

static int site_usage(FILE *f, int status)
{
        fputs("Usage: emberctl image site --initrd FILE --out FILE\n"
              "                           (--server-dir DIR | --pin PIN... | --ca FILE)...\n"
              "                           [--overlay-signer PUB.pem]... [--release-signer PUB.pem]...\n"
              "\n"
              "Makes a site's image: the generic initrd FILE followed by a cpio holding\n"
              "/etc/ember/attest.pins and /etc/ember/attest-ca.pem, so its nodes can\n"
              "authenticate the attestation server. The result is measured as one initrd\n"
              "(PCR 9): approve its reference values, not the generic image's.\n"
              "\n"
              "  --initrd FILE      the generic image (build/image/initrd)\n"
              "  --out FILE         the site's initrd, replaced atomically\n"
              "  --server-dir DIR   a directory made by `emberctl server init`: its server\n"
              "                     key's pin and its CA\n"
              "  --pin PIN          a pin of the server's key, sha256//BASE64; repeat to\n"
              "                     accept several (key rotation)\n"
              "  --ca FILE          PEM CA(s) the server's certificate must chain to\n"
              "  --overlay-signer FILE\n"
              "                     PEM public key(s) that may sign the site's overlays\n"
              "                     (/etc/ember/overlay-signers.pem); repeat to rotate\n"
              "  --release-signer FILE\n"
              "                     PEM public key(s) that may sign its release manifests\n"
              "                     (/etc/ember/release-signers.pem); repeat to rotate\n"
              "\n"
              "Entry times come from $SOURCE_DATE_EPOCH (else 0): same inputs, same bytes.\n"
              "Exit status: 0 written, 1 failed, 2 bad usage.\n",
              f);
        return status;
}

int site_command(int argc, char **argv)
{
        static const struct option opts[] = {
                { "initrd", required_argument, NULL, 'i' }, { "out", required_argument, NULL, 'o' },
                { "pin", required_argument, NULL, 'p' },    { "ca", required_argument, NULL, 'c' },
                { "server-dir", required_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' },
                { "overlay-signer", required_argument, NULL, 'S' },
                { "release-signer", required_argument, NULL, 'R' },
                {},
        };
        struct site_config c = { 0 };
        const char *in = NULL, *out = NULL, *server_dir = NULL;
        char err[400], pin[PKI_PIN_LEN], path[4200], ca[4200];
        int o;
        optind = 1;
        while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (o) {
                case 'i':
                        in = optarg;
                        break;
                case 'o':
                        out = optarg;
                        break;
                case 'p':
                        if (c.n_pins == ELEMENTSOF(c.pins))
                                return fprintf(stderr, "emberctl: at most %zu --pin\n", ELEMENTSOF(c.pins)), 2;
                        c.pins[c.n_pins++] = optarg;
                        break;
                case 'c':
                        c.ca_path = optarg;
                        break;
                case 's':
                        server_dir = optarg;
                        break;
                case 'S':
                        if (c.n_signers == ELEMENTSOF(c.signers))
                                return fprintf(stderr, "emberctl: at most %zu --overlay-signer\n", ELEMENTSOF(c.signers)), 2;
                        c.signers[c.n_signers++] = optarg;
                        break;
                case 'R':
                        if (c.n_release_signers == ELEMENTSOF(c.release_signers))
                                return fprintf(stderr, "emberctl: at most %zu --release-signer\n",
                                               ELEMENTSOF(c.release_signers)), 2;
                        c.release_signers[c.n_release_signers++] = optarg;
                        break;
                case 'h':
                        return site_usage(stdout, 0);
                default:
                        return site_usage(stderr, 2);
                }
        }
        if (optind != argc || !in || !out)
                return fputs("emberctl: image site needs --initrd FILE and --out FILE (try --help)\n", stderr), 2;
        if (server_dir) {
                snprintf(path, sizeof(path), "%s/server.crt", server_dir);
                if (pki_pin_of_cert(path, pin, err, sizeof(err)) < 0)
                        return fprintf(stderr, "emberctl: --server-dir: %s\n", err), 1;
                if (c.n_pins == ELEMENTSOF(c.pins))
                        return fprintf(stderr, "emberctl: at most %zu pins\n", ELEMENTSOF(c.pins)), 2;
                c.pins[c.n_pins++] = pin;
                if (!c.ca_path) {
                        snprintf(ca, sizeof(ca), "%s/ca.crt", server_dir);
                        c.ca_path = ca;
                }
        }
        const char *epoch = getenv("SOURCE_DATE_EPOCH");
        char *end = NULL;
        long long mtime = epoch ? strtoll(epoch, &end, 10) : 0;
        if (epoch && (*end || end == epoch || mtime < 0 || mtime > 0xffffffffLL))
                return fprintf(stderr, "emberctl: SOURCE_DATE_EPOCH=%s is not seconds since 1970\n", epoch), 2;
        if (site_build(in, &c, out, mtime, err, sizeof(err)) < 0)
                return fprintf(stderr, "emberctl: %s\n", err), 1;

        _cleanup_free_ char *bytes = NULL;
        size_t len = 0;
        uint8_t d[32];
        int k = read_file_all(out, (size_t)1 << 30, &bytes, &len);
        if (k < 0)
                return fprintf(stderr, "emberctl: reading back %s: %s\n", out, strerror(-k)), 1;
        mbedtls_sha256_ret((const unsigned char *)bytes, len, d, 0);
        printf("wrote %s: %s + %zu pin(s)%s%s%s, %zu bytes\nsha256 ", out, in, c.n_pins, c.ca_path ? " + CA" : "",
               c.n_signers ? " + overlay signers" : "", c.n_release_signers ? " + release signers" : "", len);
        for (size_t i = 0; i < sizeof(d); i++)
                printf("%02x", d[i]);
        printf("\n");
        return 0;
}
