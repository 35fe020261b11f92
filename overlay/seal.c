/* SPDX-License-Identifier: Apache-2.0 */
#include "seal.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <mbedtls/sha256.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "entry.h"
#include "fsutil.h"
#include "fileio.h"
#include "util.h"

/* Level 9, as the initrd uses (image/initrd.c measured the trade): its
 * window stays within 4 MiB, well under the opener's 8 MiB limit. */
#define ZSTD_LEVEL 9
#define IO_BLOCK ((size_t)64 << 10)
#define SHOWN 160

/* ---- zstd into a file ---- */

struct comp {
        ZSTD_CCtx *z;
        int fd;
        uint64_t in, out;
        uint8_t buf[IO_BLOCK];
        const struct reason *w;
};

static int comp_push(struct comp *c, const void *p, size_t n, ZSTD_EndDirective mode)
{
        ZSTD_inBuffer in = { p, n, 0 };
        for (;;) {
                ZSTD_outBuffer out = { c->buf, sizeof(c->buf), 0 };
                size_t left = ZSTD_compressStream2(c->z, &out, &in, mode);
                if (ZSTD_isError(left))
                        return reason_fail(c->w, -EIO, "zstd: %s", ZSTD_getErrorName(left));
                int r = write_full(c->fd, c->buf, out.pos);
                if (r < 0)
                        return reason_fail(c->w, r, "writing the compressed payload: %s", strerror(-r));
                c->out += out.pos;
                if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
                        break;
        }
        c->in += n;
        return 0;
}

static int comp_init(struct comp *c, int64_t pledged, const struct reason *w)
{
        c->w = w;
        c->z = ZSTD_createCCtx();
        if (!c->z)
                return reason_fail(w, -ENOMEM, "zstd: out of memory");
        if (ZSTD_isError(ZSTD_CCtx_setParameter(c->z, ZSTD_c_compressionLevel, ZSTD_LEVEL)) ||
            (pledged >= 0 && ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c->z, (unsigned long long)pledged))))
                return reason_fail(w, -EIO, "zstd: refuses its parameters");
        return 0;
}

int overlay_compress(const uint8_t *p, size_t n, uint8_t **ret, size_t *ret_len)
{
        size_t cap = ZSTD_compressBound(n);
        uint8_t *out = malloc(cap ? cap : 1);
        if (!out)
                return -ENOMEM;
        size_t z = ZSTD_compress(out, cap, p, n, ZSTD_LEVEL);
        if (ZSTD_isError(z)) {
                free(out);
                return -EIO;
        }
        *ret = out;
        *ret_len = z;
        return 0;
}

/* ---- a directory as a tar ---- */

struct inode {
        dev_t dev;
        ino_t ino;
        char *path;
};

struct walker {
        struct archive *a;
        struct overlay_tree *tree;
        struct inode *links;
        size_t n_links, cap_links;
        uint32_t entries;
        uint32_t max_entries;
        struct overlay_entry e;
        char path[OVERLAY_PATH_MAX + OVERLAY_NAME_MAX + 2];
        uint8_t buf[IO_BLOCK];
        const struct reason *w;
};

static la_ssize_t tar_to_comp(struct archive *a, void *ud, const void *p, size_t n)
{
        struct comp *c = ud;
        if (comp_push(c, p, n, ZSTD_e_continue) < 0) {
                archive_set_error(a, EIO, "compressing failed");
                return -1;
        }
        return (la_ssize_t)n;
}

static int walk_fail(struct walker *k, int err, const char *what)
{
        char shown[SHOWN];
        overlay_escape(k->path, shown, sizeof(shown));
        return reason_fail(k->w, err, "%s: %s", shown, what);
}

/* The first path of a file with several links, or NULL (and it is now the
 * first). */
static int first_link(struct walker *k, const struct stat *st, const char **ret)
{
        for (size_t i = 0; i < k->n_links; i++)
                if (k->links[i].dev == st->st_dev && k->links[i].ino == st->st_ino) {
                        *ret = k->links[i].path;
                        return 0;
                }
        if (k->n_links == k->cap_links) {
                size_t cap = k->cap_links ? 2 * k->cap_links : 16;
                struct inode *v = reallocarray(k->links, cap, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                k->links = v;
                k->cap_links = cap;
        }
        char *p = strdup(k->e.path);
        if (!p)
                return -ENOMEM;
        k->links[k->n_links++] = (struct inode){ st->st_dev, st->st_ino, p };
        *ret = NULL;
        return 0;
}

/* The entry for one name, checked by the same rules the opener applies. */
static int describe(struct walker *k, int dfd, const char *name, const struct stat *st)
{
        struct overlay_entry *e = &k->e;
        bool dir = S_ISDIR(st->st_mode);
        if (!dir && !S_ISREG(st->st_mode) && !S_ISLNK(st->st_mode))
                return walk_fail(k, -EBADMSG, S_ISFIFO(st->st_mode) ? "a FIFO (overlays hold files, directories and links)"
                                                                    : "a device node or socket (overlays hold files, "
                                                                      "directories and links)");
        int r = overlay_path_canon(k->path, dir, e->path, "entry", k->w);
        if (r != 0)
                return r < 0 ? r : -EINVAL;
        e->type = dir ? OVERLAY_ENTRY_DIR : S_ISLNK(st->st_mode) ? OVERLAY_ENTRY_SYMLINK : OVERLAY_ENTRY_FILE;
        e->mode = st->st_mode & 07777;
        e->uid = st->st_uid;
        e->gid = st->st_gid;
        e->mtime = st->st_mtim.tv_sec;
        e->size = e->type == OVERLAY_ENTRY_FILE ? (uint64_t)st->st_size : 0;
        e->link[0] = '\0';
        if (e->type == OVERLAY_ENTRY_SYMLINK) {
                ssize_t n = readlinkat(dfd, name, e->link, sizeof(e->link));
                if (n <= 0 || (size_t)n >= sizeof(e->link))
                        return walk_fail(k, n < 0 ? negative_errno() : -ENAMETOOLONG, "reading the symlink");
                e->link[n] = '\0';
        }
        if (e->type == OVERLAY_ENTRY_FILE && st->st_nlink > 1) {
                const char *first;
                if (first_link(k, st, &first) < 0)
                        return reason_fail(k->w, -ENOMEM, "out of memory");
                if (first) {
                        e->type = OVERLAY_ENTRY_HARDLINK;
                        e->size = 0;
                        snprintf(e->link, sizeof(e->link), "%s", first);
                }
        }
        return overlay_tree_add(k->tree, e, k->w);
}

static int write_data(struct walker *k, int dfd, const char *name, const struct stat *st)
{
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        struct stat now;
        uint64_t got = 0;
        if (fd < 0)
                return walk_fail(k, negative_errno(), "opening it");
        if (fstat(fd, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev)
                return walk_fail(k, -ESTALE, "replaced while sealing");
        for (;;) {
                ssize_t n = read(fd, k->buf, sizeof(k->buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return walk_fail(k, negative_errno(), "reading it");
                if (n == 0)
                        break;
                if ((uint64_t)n > k->e.size - got)
                        return walk_fail(k, -ESTALE, "grew while sealing");
                if (archive_write_data(k->a, k->buf, (size_t)n) != n)
                        return overlay_archive_fail(k->a, k->w, "tar");
                got += (uint64_t)n;
        }
        return got == k->e.size ? 0 : walk_fail(k, -ESTALE, "shrank while sealing");
}

static int write_entry(struct walker *k, int dfd, const char *name, const struct stat *st)
{
        const struct overlay_entry *e = &k->e;
        static const mode_t types[] = {
                [OVERLAY_ENTRY_DIR] = AE_IFDIR,
                [OVERLAY_ENTRY_FILE] = AE_IFREG,
                [OVERLAY_ENTRY_SYMLINK] = AE_IFLNK,
                [OVERLAY_ENTRY_HARDLINK] = AE_IFREG,
        };
        if (k->entries == k->max_entries)
                return reason_fail(k->w, -E2BIG, "more than %" PRIu32 " entries", k->max_entries);
        struct archive_entry *ae = archive_entry_new();
        if (!ae)
                return reason_fail(k->w, -ENOMEM, "out of memory");
        archive_entry_set_pathname(ae, e->path);
        archive_entry_set_filetype(ae, types[e->type]);
        archive_entry_set_perm(ae, e->mode);
        archive_entry_set_uid(ae, e->uid);
        archive_entry_set_gid(ae, e->gid);
        archive_entry_set_mtime(ae, e->mtime, 0);
        archive_entry_set_size(ae, (la_int64_t)e->size);
        if (e->type == OVERLAY_ENTRY_SYMLINK)
                archive_entry_set_symlink(ae, e->link);
        if (e->type == OVERLAY_ENTRY_HARDLINK)
                archive_entry_set_hardlink(ae, e->link);
        int r = archive_write_header(k->a, ae) == ARCHIVE_OK ? 0 : overlay_archive_fail(k->a, k->w, "tar");
        archive_entry_free(ae);
        if (r < 0)
                return r;
        k->entries++;
        if (e->type == OVERLAY_ENTRY_FILE && (r = write_data(k, dfd, name, st)) < 0)
                return r;
        return archive_write_finish_entry(k->a) == ARCHIVE_OK ? 0 : overlay_archive_fail(k->a, k->w, "tar");
}

static int walk(struct walker *k, int dfd, size_t len)
{
        struct names l = { 0 };
        int r = list_dir(dfd, &l);
        if (r < 0)
                return walk_fail(k, r, "listing it");
        for (size_t i = 0; r >= 0 && i < l.n; i++) {
                struct stat st;
                int n = snprintf(k->path + len, sizeof(k->path) - len, "%s%s", len ? "/" : "", l.v[i]);
                size_t nlen = n < 0 || (size_t)n >= sizeof(k->path) - len ? sizeof(k->path) - 1 : len + (size_t)n;
                if (fstatat(dfd, l.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = walk_fail(k, negative_errno(), "stat");
                        break;
                }
                if ((r = describe(k, dfd, l.v[i], &st)) < 0 || (r = write_entry(k, dfd, l.v[i], &st)) < 0)
                        break;
                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dfd, l.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0) {
                                r = walk_fail(k, negative_errno(), "opening it");
                                break;
                        }
                        r = walk(k, sub, nlen);
                        close(sub);
                }
                k->path[len] = '\0';
        }
        names_free(&l);
        return r;
}

static int tar_of_dir(const char *dir, struct comp *c, uint32_t max_entries, uint32_t *ret_entries,
                      const struct reason *w)
{
        struct walker *k = calloc(1, sizeof(*k));
        int r;
        if (!k)
                return reason_fail(w, -ENOMEM, "out of memory");
        k->w = w;
        k->max_entries = max_entries;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = reason_fail(w, negative_errno(), "%s: %m", dir);
                goto out;
        }
        if (overlay_tree_new(&k->tree) < 0 || !(k->a = archive_write_new())) {
                r = reason_fail(w, -ENOMEM, "out of memory");
                goto out;
        }
        /* pax only where ustar cannot say it (long names, large ids); no
         * padding after the end-of-archive marker */
        if (archive_write_set_format_pax_restricted(k->a) != ARCHIVE_OK ||
            archive_write_add_filter_none(k->a) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(k->a, 1) != ARCHIVE_OK ||
            archive_write_open2(k->a, c, NULL, tar_to_comp, NULL, NULL) != ARCHIVE_OK) {
                r = overlay_archive_fail(k->a, w, "tar");
                goto out;
        }
        r = walk(k, dfd, 0);
        if (r >= 0 && archive_write_close(k->a) != ARCHIVE_OK)
                r = overlay_archive_fail(k->a, w, "tar");
        if (r >= 0)
                *ret_entries = k->entries;
out:
        if (k->a)
                archive_write_free(k->a);
        overlay_tree_free(k->tree);
        for (size_t i = 0; i < k->n_links; i++)
                free(k->links[i].path);
        free(k->links);
        free(k);
        return r;
}

/* ---- a tar file, checked ---- */

static int check_entry_data(struct archive *a, const struct overlay_entry *e, uint8_t *buf, const struct reason *w)
{
        char shown[SHOWN];
        uint64_t got = 0;
        for (;;) {
                la_ssize_t n = archive_read_data(a, buf, IO_BLOCK);
                if (n < 0)
                        return overlay_archive_fail(a, w, "tar");
                if (n == 0)
                        break;
                got += (uint64_t)n;
        }
        if (got == e->size)
                return 0;
        overlay_escape(e->path, shown, sizeof(shown));
        return reason_fail(w, -EBADMSG, "entry %s: %" PRIu64 " bytes of data, its header declares %" PRIu64, shown, got,
                           e->size);
}

static int check_tar(int fd, uint32_t max_entries, uint32_t *ret_entries, const struct reason *w)
{
        _cleanup_overlay_tree_ struct overlay_tree *tree = NULL;
        _cleanup_free_ uint8_t *buf = malloc(IO_BLOCK);
        _cleanup_free_ struct overlay_entry *e = malloc(sizeof(*e));
        struct archive *a = archive_read_new();
        uint32_t n = 0;
        int r = 0;
        if (!a || !buf || !e || overlay_tree_new(&tree) < 0) {
                r = reason_fail(w, -ENOMEM, "out of memory");
                goto out;
        }
        if (archive_read_support_format_tar(a) != ARCHIVE_OK || archive_read_open_fd(a, fd, IO_BLOCK) != ARCHIVE_OK) {
                r = overlay_archive_fail(a, w, "tar (seal takes an uncompressed tar)");
                goto out;
        }
        for (;;) {
                struct archive_entry *ae;
                int s = archive_read_next_header(a, &ae);
                if (s == ARCHIVE_EOF)
                        break;
                if (s != ARCHIVE_OK) {
                        r = overlay_archive_fail(a, w, "tar (seal takes an uncompressed tar)");
                        break;
                }
                if (n == max_entries) {
                        r = reason_fail(w, -E2BIG, "more than %" PRIu32 " entries", max_entries);
                        break;
                }
                n++;
                r = overlay_entry_read(ae, e, w);
                if (r == 1) {
                        r = 0;
                        continue;
                }
                if (r < 0 || (r = overlay_tree_add(tree, e, w)) < 0)
                        break;
                if (e->type == OVERLAY_ENTRY_FILE && (r = check_entry_data(a, e, buf, w)) < 0)
                        break;
        }
        if (r >= 0)
                *ret_entries = n;
out:
        if (a)
                archive_read_free(a);
        return r;
}

static int tar_of_file(int fd, const struct stat *st, struct comp *c, uint32_t max_entries, uint32_t *ret_entries,
                       const struct reason *w)
{
        int r = check_tar(fd, max_entries, ret_entries, w);
        if (r < 0)
                return r;
        _cleanup_free_ uint8_t *in = malloc(IO_BLOCK);
        if (!in)
                return reason_fail(w, -ENOMEM, "out of memory");
        uint64_t off = 0;
        for (;;) {
                ssize_t n = pread(fd, in, IO_BLOCK, (off_t)off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return reason_fail(w, negative_errno(), "reading the tar: %m");
                if (n == 0)
                        break;
                if ((r = comp_push(c, in, (size_t)n, ZSTD_e_continue)) < 0)
                        return r;
                off += (uint64_t)n;
        }
        struct stat now;
        if (fstat(fd, &now) < 0 || off != (uint64_t)st->st_size || now.st_size != st->st_size ||
            now.st_mtim.tv_sec != st->st_mtim.tv_sec || now.st_mtim.tv_nsec != st->st_mtim.tv_nsec)
                return reason_fail(w, -ESTALE, "the tar changed while sealing");
        return 0;
}

/* ---- the container ---- */

static int header_init(const struct overlay_seal_input *in, struct overlay_header *h)
{
        if (!in->data_key || !in->key || (!in->payload && in->payload_len) || in->chunk_size < OVERLAY_CHUNK_MIN ||
            in->chunk_size > OVERLAY_CHUNK_MAX)
                return -EINVAL;
        memset(h, 0, sizeof(*h));
        h->version = OVERLAY_VERSION;
        h->header_len = OVERLAY_FIXED_LEN + OVERLAY_SIG_SLOT;
        memcpy(h->id, in->id, OVERLAY_ID_LEN);
        h->serial = in->serial;
        h->created = in->created;
        h->chunk_size = in->chunk_size;
        h->payload_size = in->payload_len;
        h->chunk_count = in->payload_len == 0 ? 1 : (in->payload_len - 1) / in->chunk_size + 1;
        h->content_size = in->content_size;
        h->entries = in->entries;
        overlay_key_id(in->data_key, h->key_id);
        return h->chunk_count > UINT32_MAX ? -E2BIG : 0;
}

/* Every chunk record, in order, to sink or (sink NULL) into the digest. */
static int chunks_pass(const struct overlay_seal_input *in, const struct overlay_header *h, struct overlay_cipher *c,
                       uint8_t *rec, overlay_sink_fn sink, void *ud, uint8_t digest[OVERLAY_HASH_LEN])
{
        mbedtls_sha256_context sha;
        mbedtls_sha256_init(&sha);
        (void)mbedtls_sha256_starts_ret(&sha, 0);
        int r = 0;
        for (uint64_t i = 0; r >= 0 && i < h->chunk_count; i++) {
                size_t len = (size_t)overlay_chunk_len(h, i);
                r = overlay_chunk_seal(c, i, i + 1 == h->chunk_count, in->payload + i * h->chunk_size, len, rec);
                if (r >= 0 && sink)
                        r = sink(ud, rec, len + OVERLAY_TAG_LEN);
                else if (r >= 0)
                        (void)mbedtls_sha256_update_ret(&sha, rec, len + OVERLAY_TAG_LEN);
        }
        if (r >= 0 && !sink)
                (void)mbedtls_sha256_finish_ret(&sha, digest);
        mbedtls_sha256_free(&sha);
        return r;
}

int overlay_seal_payload(const struct overlay_seal_input *in, overlay_sink_fn sink, void *ud,
                         struct overlay_header *ret, const struct reason *w)
{
        _cleanup_overlay_cipher_ struct overlay_cipher *c = NULL;
        _cleanup_free_ struct overlay_header *h = calloc(1, sizeof(*h));
        uint8_t hdr[OVERLAY_HEADER_MAX];
        size_t hdr_len;
        if (!h)
                return reason_fail(w, -ENOMEM, "out of memory");
        int r = header_init(in, h);
        if (r < 0)
                return reason_fail(w, r, "sealing: bad parameters (chunk size %" PRIu32 ")", in->chunk_size);
        if ((r = getrandom_full(h->nonce_base, OVERLAY_NONCE_LEN)) < 0)
                return reason_fail(w, r, "no randomness: %s", strerror(-r));
        if ((r = overlay_cipher_new(in->data_key, h, &c)) < 0)
                return reason_fail(w, r, "setting up the cipher: %s", strerror(-r));
        _cleanup_free_ uint8_t *rec = malloc((size_t)overlay_chunk_len(h, 0) + OVERLAY_TAG_LEN);
        if (!rec)
                return reason_fail(w, -ENOMEM, "out of memory");
        if ((r = chunks_pass(in, h, c, rec, NULL, NULL, h->ct_sha256)) < 0)
                return reason_fail(w, r, "encrypting: %s", strerror(-r));
        if ((r = overlay_header_sign(h, in->key, w)) < 0)
                return r;
        if ((r = overlay_header_marshal(h, hdr, sizeof(hdr), &hdr_len)) < 0)
                return reason_fail(w, r, "writing the header: %s", strerror(-r));
        if ((r = sink(ud, hdr, hdr_len)) < 0 || (r = chunks_pass(in, h, c, rec, sink, ud, NULL)) < 0)
                return reason_fail(w, r, "writing the overlay: %s", strerror(-r));
        if (ret)
                memcpy(ret, h, sizeof(*h));
        return 0;
}

/* ---- overlay_seal ---- */

static int sink_fd(void *ud, const void *p, size_t n)
{
        return write_full(*(int *)ud, p, n);
}

/* An unnamed file beside out for the compressed payload. */
static int payload_tmp(const char *out)
{
        _cleanup_free_ char *dir = strdup(out);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        const char *d = !slash ? "." : slash == dir ? "/" : (*slash = '\0', dir);
        int fd = open(d, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
        if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
                return fd >= 0 ? fd : negative_errno();
        char tmpl[PATH_MAX];
        if ((size_t)snprintf(tmpl, sizeof(tmpl), "%s.ember-payload.XXXXXX", out) >= sizeof(tmpl))
                return -ENAMETOOLONG;
        fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        unlink(tmpl);
        return fd;
}

static int make_payload(const struct overlay_seal_params *p, struct comp *c, uint32_t *ret_entries,
                        const struct reason *w)
{
        struct stat st;
        if (stat(p->source, &st) < 0)
                return reason_fail(w, negative_errno(), "%s: %m", p->source);
        if (S_ISDIR(st.st_mode)) {
                int r = comp_init(c, -1, w);
                return r < 0 ? r : tar_of_dir(p->source, c, p->limits.max_entries, ret_entries, w);
        }
        if (!S_ISREG(st.st_mode))
                return reason_fail(w, -EINVAL, "%s: neither a directory nor a tar file", p->source);
        _cleanup_close_ int fd = open(p->source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0)
                return reason_fail(w, negative_errno(), "%s: %m", p->source);
        int r = comp_init(c, st.st_size, w);
        return r < 0 ? r : tar_of_file(fd, &st, c, p->limits.max_entries, ret_entries, w);
}

static int write_out(const char *out, const struct overlay_seal_input *in, struct overlay_header *h,
                     const struct reason *w)
{
        char tmp[PATH_MAX];
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.ember-tmp", out) >= sizeof(tmp))
                return reason_fail(w, -ENAMETOOLONG, "%s: name too long", out);
        (void)unlink(tmp);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return reason_fail(w, negative_errno(), "%s: %m", tmp);
        int r = overlay_seal_payload(in, sink_fd, &fd, h, w);
        if (r >= 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
                r = reason_fail(w, negative_errno(), "%s: %m", tmp);
        if (close(fd) < 0 && r >= 0)
                r = reason_fail(w, negative_errno(), "%s: %m", tmp);
        if (r >= 0 && rename(tmp, out) < 0)
                r = reason_fail(w, negative_errno(), "%s: %m", out);
        if (r < 0)
                unlink(tmp);
        return r;
}

int overlay_seal(const struct overlay_seal_params *p, struct overlay_header *ret, const struct reason *w)
{
        _cleanup_free_ struct overlay_header *h = calloc(1, sizeof(*h));
        struct comp *c = calloc(1, sizeof(*c));
        uint8_t *map = MAP_FAILED;
        uint32_t entries = 0;
        struct stat st;
        int r;

        if (!p || !p->source || !p->out || !p->data_key || !p->key)
                return reason_fail(w, -EINVAL, "seal: missing parameters");
        if (!h || !c) {
                free(c);
                return reason_fail(w, -ENOMEM, "out of memory");
        }
        c->fd = payload_tmp(p->out);
        if (c->fd < 0) {
                r = reason_fail(w, c->fd, "a temporary file beside %s: %s", p->out, strerror(-c->fd));
                goto out;
        }
        if ((r = make_payload(p, c, &entries, w)) < 0 || (r = comp_push(c, NULL, 0, ZSTD_e_end)) < 0)
                goto out;
        if (fstat(c->fd, &st) < 0 || (uint64_t)st.st_size != c->out) {
                r = reason_fail(w, -EIO, "the compressed payload did not reach its file");
                goto out;
        }
        if (c->out > 0 && (map = mmap(NULL, c->out, PROT_READ, MAP_PRIVATE, c->fd, 0)) == MAP_FAILED) {
                r = reason_fail(w, negative_errno(), "mapping the payload: %m");
                goto out;
        }
        struct overlay_seal_input in = {
                .serial = p->serial, .created = p->created, .chunk_size = p->chunk_size,
                .content_size = c->in, .entries = entries, .data_key = p->data_key, .key = p->key,
                .payload = map == MAP_FAILED ? NULL : map, .payload_len = c->out,
        };
        memcpy(in.id, p->id, OVERLAY_ID_LEN);
        /* what the node would refuse, refused now (before the signature,
         * which overlay_header_check does not read) */
        if ((r = header_init(&in, h)) < 0) {
                r = reason_fail(w, r, "chunk size %" PRIu32 " out of range (%u..%u)", p->chunk_size, OVERLAY_CHUNK_MIN,
                                OVERLAY_CHUNK_MAX);
                goto out;
        }
        if ((r = overlay_header_check(h, &p->limits, w)) < 0 || (r = write_out(p->out, &in, h, w)) < 0)
                goto out;
        if (ret)
                memcpy(ret, h, sizeof(*h));
out:
        if (map != MAP_FAILED)
                munmap(map, c->out);
        if (c->z)
                ZSTD_freeCCtx(c->z);
        safe_close(c->fd);
        free(c);
        return r;
}
