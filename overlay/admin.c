/* SPDX-License-Identifier: Apache-2.0 */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "format.h"
#include "util.h"

#define KEY_FILE_MAX 256

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
        va_list ap;
        fputs("emberctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs(" (try --help)\n", stderr);
        return 2;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
        va_list ap;
        fputs("emberctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return 1;
}

bool overlay_admin_handles(const char *sub)
{
        return streq(sub, "register") || streq(sub, "assign") || streq(sub, "unassign") || streq(sub, "list");
}

static int load_key(const char *path, uint8_t key[OVERLAY_KEY_LEN])
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = read_file_all(path, KEY_FILE_MAX, &buf, &len);
        if (r < 0)
                return fail("--data-key %s: %s", path, strerror(-r)), r;
        while (len > 0 && strchr("\n\r ", buf[len - 1]))
                buf[--len] = '\0';
        r = strlen(buf) == len ? overlay_unhex(buf, key, OVERLAY_KEY_LEN) : -EINVAL;
        explicit_bzero(buf, len);
        if (r < 0)
                return fail("--data-key %s is not a data key (64 hex digits)", path), r;
        return 0;
}

/* Reads the header of the file open on fd (and copies it to out >= 0). */
static int read_header(int fd, int out, struct overlay_header *h, const char *path)
{
        uint8_t buf[OVERLAY_HEADER_MAX];
        uint32_t len = 0;
        char why[300];
        const struct reason w = { why, sizeof(why) };
        int r = read_full(fd, buf, OVERLAY_PREFIX_LEN);
        if (r < 0)
                return fail("%s: not a sealed overlay (%s)", path, r == -EBADMSG ? "too short" : strerror(-r)), r;
        if ((r = overlay_header_prefix(buf, OVERLAY_PREFIX_LEN, &len, &w)) < 0 ||
            (r = read_full(fd, buf + OVERLAY_PREFIX_LEN, len - OVERLAY_PREFIX_LEN)) < 0 ||
            (r = overlay_header_parse(buf, len, h, &w)) < 0 || (r = overlay_header_check(h, NULL, &w)) < 0)
                return fail("%s: %s", path, r == -EBADMSG && !why[0] ? "header truncated" : why), r;
        if (out >= 0 && (r = write_full(out, buf, len)) < 0)
                return fail("copying %s: %s", path, strerror(-r)), r;
        return 0;
}

/* The chunk records after the header: exactly as many bytes as the header
 * says, hashing to its ct_sha256 (copied to out >= 0 on the way). */
static int check_body(int fd, int out, const struct overlay_header *h, const char *path)
{
        uint8_t buf[1 << 16], d[OVERLAY_HASH_LEN], extra;
        uint64_t left = overlay_file_size(h) - h->header_len;
        mbedtls_sha256_context c;
        mbedtls_sha256_init(&c);
        mbedtls_sha256_starts_ret(&c, 0);
        int r = 0;
        while (left > 0 && r == 0) {
                size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
                r = read_full(fd, buf, n);
                if (r == 0) {
                        mbedtls_sha256_update_ret(&c, buf, n);
                        if (out >= 0)
                                r = write_full(out, buf, n);
                        left -= n;
                }
        }
        mbedtls_sha256_finish_ret(&c, d);
        mbedtls_sha256_free(&c);
        if (r == -EBADMSG)
                return fail("%s is truncated: %llu bytes fewer than its header says", path, (unsigned long long)left), r;
        if (r < 0)
                return fail("reading %s: %s", path, strerror(-r)), r;
        if (read(fd, &extra, 1) != 0)
                return fail("%s has bytes after its last chunk", path), -EBADMSG;
        if (memcmp(d, h->ct_sha256, sizeof(d)) != 0)
                return fail("%s: its chunks do not hash to the digest its header signed (altered)", path), -EBADMSG;
        return 0;
}

static int cmd_register(struct store *s, const char *db_path, int argc, char **argv)
{
        static const struct option opts[] = { { "data-key", required_argument, NULL, 'k' },
                                               { "url", required_argument, NULL, 'u' },
                                               { "signer", required_argument, NULL, 's' },
                                               {} };
        const char *key_path = NULL, *url = NULL, *signer = NULL;
        struct overlay_rec rec = { .registered = (int64_t)time(NULL) };
        struct overlay_header h;
        uint8_t key[OVERLAY_KEY_LEN], kid[OVERLAY_HASH_LEN];
        char why[300], dbdir[4200], dir[4300], tmp[4400];
        const struct reason w = { why, sizeof(why) };
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c == 'k')
                        key_path = optarg;
                else if (c == 'u')
                        url = optarg;
                else if (c == 's')
                        signer = optarg;
                else
                        return 2;
        }
        if (optind + 1 != argc || !key_path)
                return usage_error("overlay register needs one FILE and --data-key KEYFILE");
        if (url && ((!startswith(url, "https://") && !startswith(url, "http://")) || strlen(url) >= sizeof(rec.url)))
                return usage_error("--url %s: expected an http(s):// URL of under %zu bytes", url, sizeof(rec.url));
        const char *path = argv[optind];
        if (load_key(key_path, key) < 0)
                return 1;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return fail("%s: %m", path);

        /* served here: copied under the server directory as it is checked */
        _cleanup_close_ int out = -1;
        snprintf(dbdir, sizeof(dbdir), "%s", db_path);
        snprintf(dir, sizeof(dir), "%s/overlays", dirname(dbdir));
        if (!url) {
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return fail("creating %s: %m", dir);
                snprintf(tmp, sizeof(tmp), "%s/.register-XXXXXX", dir);
                out = mkostemp(tmp, O_CLOEXEC);
                if (out < 0)
                        return fail("creating a file in %s: %m", dir);
        }
        int r = read_header(fd, out, &h, path);
        if (r == 0) {
                overlay_key_id(key, kid);
                if (memcmp(kid, h.key_id, sizeof(kid)) != 0)
                        r = (fail("--data-key %s is not the key %s was sealed with", key_path, path), -EINVAL);
        }
        if (r == 0 && signer) {
                _cleanup_overlay_signers_ struct overlay_signers *signers = NULL;
                if (overlay_signers_load(signer, &signers, &w) < 0 || overlay_header_verify(&h, signers, &w) < 0)
                        r = (fail("%s: %s", path, why), -EPERM);
        }
        if (r == 0)
                r = check_body(fd, out, &h, path);
        if (r == 0 && out >= 0 && (fchmod(out, 0644) < 0 || fsync(out) < 0))
                r = (fail("writing %s: %m", tmp), -EIO);
        overlay_id_format(h.id, rec.id);
        rec.serial = h.serial;
        rec.size = overlay_file_size(&h);
        memcpy(rec.ct_sha256, h.ct_sha256, sizeof(rec.ct_sha256));
        memcpy(rec.key, key, sizeof(key));
        explicit_bzero(key, sizeof(key));
        snprintf(rec.url, sizeof(rec.url), "%s", url ? url : "");
        if (r == 0 && !url && strlen(dir) > sizeof(rec.path) - 64)
                r = (fail("the server directory's path is too long (%zu bytes at most)", sizeof(rec.path) - 64), -ENAMETOOLONG);
        else if (!url)
                snprintf(rec.path, sizeof(rec.path), "%.*s/%s-%llu.ovl", (int)(sizeof(rec.path) - 64), dir, rec.id,
                         (unsigned long long)rec.serial);
        /* refused before anything is put in place (the database checks again) */
        struct overlay_rec cur;
        if (r == 0 && s->ops->overlay_current(s, rec.id, &cur) == 0 && cur.serial >= rec.serial)
                r = -(cur.serial == rec.serial ? EEXIST : ESTALE);
        /* link, not rename: never over a file already served */
        bool placed = false;
        if (r == 0 && !url) {
                if (link(tmp, rec.path) < 0)
                        r = (fail("placing %s: %m", rec.path), -EIO);
                else
                        placed = true;
        }
        if (r == 0 && (r = s->ops->overlay_put(s, &rec)) < 0 && r != -EEXIST && r != -ESTALE)
                fail("registering in the database failed");
        if (r == -EEXIST)
                fail("overlay %s serial %llu is registered already", rec.id, (unsigned long long)rec.serial);
        else if (r == -ESTALE)
                fail("overlay %s: serial %llu is not above the registered one: refusing what would roll nodes back",
                     rec.id, (unsigned long long)rec.serial);
        if (r < 0 && placed)
                (void)unlink(rec.path);
        if (!url)
                (void)unlink(tmp);
        explicit_bzero(&cur, sizeof(cur));
        explicit_bzero(rec.key, sizeof(rec.key));
        if (r < 0)
                return 1;
        char detail[700];
        snprintf(detail, sizeof(detail), "overlay %s serial %llu, %llu bytes, %s%s", rec.id,
                 (unsigned long long)rec.serial, (unsigned long long)rec.size, url ? "at " : "served from ",
                 url ? url : rec.path);
        (void)s->ops->audit(s, rec.registered, "operator", "overlay.register", rec.id, detail);
        printf("overlay %s serial %llu registered: %llu bytes, %s%s\n", rec.id, (unsigned long long)rec.serial,
               (unsigned long long)rec.size, url ? "nodes fetch it from " : "served by the server from ",
               url ? url : rec.path);
        return 0;
}

/* --machine ID | --group NAME | --default into "machine:ID" …; 0 or 2. */
static int target_of(int argc, char **argv, char target[STORE_TARGET_MAX], int *first_arg)
{
        static const struct option opts[] = { { "machine", required_argument, NULL, 'm' },
                                               { "group", required_argument, NULL, 'g' },
                                               { "default", no_argument, NULL, 'd' },
                                               {} };
        int c, n = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c == '?')
                        return 2;
                n++;
                if (c == 'd')
                        snprintf(target, STORE_TARGET_MAX, "default");
                else if (strlen(optarg) == 0 || strlen(optarg) >= STORE_GROUP_MAX || strpbrk(optarg, " \t\n:"))
                        return usage_error("--%s %s: expected 1 to %d characters, no blanks or ':'",
                                           c == 'm' ? "machine" : "group", optarg, STORE_GROUP_MAX - 1);
                else
                        snprintf(target, STORE_TARGET_MAX, "%s:%s", c == 'm' ? "machine" : "group", optarg);
        }
        if (n != 1)
                return usage_error("give exactly one of --machine ID, --group NAME or --default");
        *first_arg = optind;
        return 0;
}

static int cmd_assign(struct store *s, int argc, char **argv, bool assign)
{
        char target[STORE_TARGET_MAX];
        int first = 0, r = target_of(argc, argv, target, &first);
        if (r)
                return r;
        if (assign ? first + 1 != argc : first != argc)
                return usage_error(assign ? "overlay assign needs one OVERLAY-ID" : "overlay unassign takes no OVERLAY-ID");
        if (startswith(target, "machine:")) {
                struct machine m;
                if (s->ops->machine_get(s, target + strlen("machine:"), &m) < 0)
                        return fail("no machine %s", target + strlen("machine:"));
        }
        if (!assign) {
                r = s->ops->unassign(s, target);
                if (r == -ENOENT)
                        return fail("nothing is assigned to %s", target);
                if (r < 0)
                        return fail("removing the assignment failed");
                (void)s->ops->audit(s, (int64_t)time(NULL), "operator", "overlay.unassign", target, NULL);
                printf("%s: no overlay assigned\n", target);
                return 0;
        }
        const char *id = argv[first];
        struct overlay_rec rec;
        r = s->ops->overlay_current(s, id, &rec);
        explicit_bzero(rec.key, sizeof(rec.key));
        if (r == -ENOENT)
                return fail("no overlay %s is registered (emberctl overlay register)", id);
        if (r < 0 || s->ops->assign(s, target, id) < 0)
                return fail("assigning failed");
        (void)s->ops->audit(s, (int64_t)time(NULL), "operator", "overlay.assign", target, id);
        printf("%s: overlay %s (serial %llu now; later serials as they are registered)\n", target, id,
               (unsigned long long)rec.serial);
        return 0;
}

static int print_overlay(const struct overlay_rec *o, void *ud)
{
        char hex[2 * STORE_HASH_LEN + 1];
        overlay_hex(o->ct_sha256, STORE_HASH_LEN, hex);
        printf("%s  serial %-6llu %10llu bytes  sha256 %.16s…  %s\n", o->id, (unsigned long long)o->serial,
               (unsigned long long)o->size, hex, o->url[0] ? o->url : "served by this server");
        ++*(unsigned *)ud;
        return 0;
}

static int print_assignment(const char *target, const char *overlay_id, void *ud)
{
        printf("%-48s -> %s\n", target, overlay_id);
        ++*(unsigned *)ud;
        return 0;
}

static int cmd_list(struct store *s, int argc)
{
        unsigned n = 0, a = 0;
        if (argc != 1)
                return usage_error("overlay list takes no arguments");
        if (s->ops->overlay_list(s, print_overlay, &n) < 0 || (printf("\n"), s->ops->assignment_list(s, print_assignment, &a)) < 0)
                return fail("reading the database failed");
        if (!n)
                printf("no overlays registered\n");
        if (!a)
                printf("no overlay assigned: attested nodes get none\n");
        return 0;
}

int overlay_admin_command(struct store *s, const char *db_path, int argc, char **argv)
{
        const char *sub = argv[0];
        if (streq(sub, "register"))
                return cmd_register(s, db_path, argc, argv);
        if (streq(sub, "assign") || streq(sub, "unassign"))
                return cmd_assign(s, argc, argv, streq(sub, "assign"));
        if (streq(sub, "list"))
                return cmd_list(s, argc);
        return usage_error("unknown overlay subcommand '%s'", sub);
}
