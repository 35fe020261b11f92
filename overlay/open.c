/* SPDX-License-Identifier: Apache-2.0 */
#include "open.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <zstd.h>

#include "entry.h"
#include "extract.h"
#include "fileio.h"
#include "util.h"

/* The largest zstd window the opener allocates: seal's level keeps within
 * 4 MiB; zstd's own default limit (128 MiB) is too much for a node. */
#define ZSTD_WINDOW_LOG_MAX 23
#define DATA_BLOCK ((size_t)64 << 10)
#define READER_STACK ((size_t)512 << 10)
#define WHY_LEN 512

enum open_state {
        OPEN_HEADER,   /* waiting for header bytes */
        OPEN_CHUNKS,   /* waiting for chunk records */
        OPEN_COMPLETE, /* every chunk arrived; only finish() may follow */
        OPEN_FINISHED,
        OPEN_FAILED,
};

/* Lock step between feed() and the tar reader thread: at most one block
 * is offered, and feed() returns only once the reader has let it go (asked
 * for the next one) or ended. */
struct handoff {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        const uint8_t *offer;
        size_t offer_len;
        bool held;  /* the reader holds the last block it was given */
        bool eof;   /* no more blocks will come */
        bool abort; /* stop at once */
        bool done;  /* the reader thread has ended */
        bool started;
        pthread_t thread;
};

struct overlay_open {
        struct overlay_open_config cfg;
        bool have_key;
        uint8_t key[OVERLAY_KEY_LEN];
        char *staging;
        int staging_fd;
        enum open_state state;
        int err;
        char why[WHY_LEN];

        uint8_t hdr[OVERLAY_HEADER_MAX];
        size_t hdr_have, hdr_need;
        struct overlay_header h;
        bool have_header;

        struct overlay_cipher *cipher;
        mbedtls_sha256_context ct;
        uint8_t *rec, *pt;
        size_t rec_have, rec_need;
        uint64_t index;

        ZSTD_DCtx *zd;
        uint8_t *zout;
        size_t zout_cap;
        bool frame_done, frame_started;
        uint64_t content;

        /* the reader thread's; feed() reads them only once it has ended */
        struct handoff hand;
        int rerr;
        char rwhy[WHY_LEN];
        bool tar_end;
        uint32_t entries;
        struct overlay_tree *tree;
        struct extract *x;
        struct overlay_entry entry;
        uint8_t data[DATA_BLOCK];
};

void overlay_open_config_default(struct overlay_open_config *c)
{
        *c = (struct overlay_open_config){ .restore_owners = true };
        overlay_limits_default(&c->limits);
}

static int set_why(struct overlay_open *o, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_why(struct overlay_open *o, int err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(o->why, sizeof(o->why), fmt, ap);
        va_end(ap);
        return err;
}

/* ---- the reader thread ---- */

static la_ssize_t tar_read(struct archive *a, void *ud, const void **buf)
{
        struct handoff *hd = &((struct overlay_open *)ud)->hand;
        pthread_mutex_lock(&hd->mu);
        hd->held = false;
        pthread_cond_broadcast(&hd->cv);
        while (!hd->offer && !hd->eof && !hd->abort)
                pthread_cond_wait(&hd->cv, &hd->mu);
        if (hd->abort) {
                pthread_mutex_unlock(&hd->mu);
                archive_set_error(a, ECANCELED, "stopped");
                return -1;
        }
        la_ssize_t n = 0;
        if (hd->offer) {
                *buf = hd->offer;
                n = (la_ssize_t)hd->offer_len;
                hd->offer = NULL;
                hd->held = true;
        }
        pthread_mutex_unlock(&hd->mu);
        return n;
}

/* A file's data, to fd (or nowhere, fd < 0), exactly as much as its
 * header declared. */
static int copy_data(struct overlay_open *o, struct archive *a, int fd, const struct reason *w)
{
        const struct overlay_entry *e = &o->entry;
        char shown[160];
        uint64_t got = 0;
        overlay_escape(e->path, shown, sizeof(shown));
        for (;;) {
                la_ssize_t n = archive_read_data(a, o->data, sizeof(o->data));
                if (n < 0) {
                        char what[200];
                        snprintf(what, sizeof(what), "entry %s", shown);
                        return overlay_archive_fail(a, w, what);
                }
                if (n == 0)
                        break;
                if ((uint64_t)n > e->size - got)
                        return reason_fail(w, -EBADMSG, "entry %s: more data than the %" PRIu64 " bytes its header declares",
                                           shown, e->size);
                got += (uint64_t)n;
                int r = fd >= 0 ? write_full(fd, o->data, (size_t)n) : 0;
                if (r < 0)
                        return reason_fail(w, r, "entry %s: writing it in the staging directory: %s", shown, strerror(-r));
        }
        if (got != e->size)
                return reason_fail(w, -EBADMSG, "entry %s: %" PRIu64 " bytes of data, its header declares %" PRIu64, shown,
                                   got, e->size);
        return 0;
}

static int extract_one(struct overlay_open *o, struct archive *a, const struct reason *w)
{
        const struct overlay_entry *e = &o->entry;
        if (e->type != OVERLAY_ENTRY_FILE)
                return o->x ? extract_entry(o->x, e, w) : 0;
        int fd = -1;
        if (o->x) {
                int r = extract_file_open(o->x, e, &fd, w);
                if (r < 0)
                        return r;
        }
        int r = copy_data(o, a, fd, w);
        if (fd >= 0) {
                if (r < 0)
                        close(fd);
                else
                        r = extract_file_close(o->x, e, fd, w);
        }
        return r;
}

static int read_tar(struct overlay_open *o, const struct reason *w)
{
        struct archive *a = archive_read_new();
        int r = 0;
        if (!a)
                return reason_fail(w, -ENOMEM, "tar: out of memory");
        /* ustar, pax and GNU tar; no filters: the input is the payload */
        if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
            archive_read_open(a, o, NULL, tar_read, NULL) != ARCHIVE_OK) {
                r = overlay_archive_fail(a, w, "tar");
                goto out;
        }
        for (;;) {
                struct archive_entry *ae;
                int s = archive_read_next_header(a, &ae);
                if (s == ARCHIVE_EOF) {
                        o->tar_end = true;
                        break;
                }
                if (s != ARCHIVE_OK) {
                        r = overlay_archive_fail(a, w, "tar");
                        break;
                }
                if (o->entries == o->h.entries) {
                        r = reason_fail(w, -EBADMSG, "tar: more entries than the header's %" PRIu32, o->h.entries);
                        break;
                }
                o->entries++;
                r = overlay_entry_read(ae, &o->entry, w);
                if (r == 1) {
                        r = 0;
                        continue;
                }
                if (r < 0 || (r = overlay_tree_add(o->tree, &o->entry, w)) < 0 || (r = extract_one(o, a, w)) < 0)
                        break;
        }
out:
        archive_read_free(a);
        return r;
}

static void *reader_main(void *ud)
{
        struct overlay_open *o = ud;
        const struct reason w = { o->rwhy, sizeof(o->rwhy) };
        int r = read_tar(o, &w);
        pthread_mutex_lock(&o->hand.mu);
        o->rerr = r;
        o->hand.done = true;
        o->hand.held = false;
        o->hand.offer = NULL;
        pthread_cond_broadcast(&o->hand.cv);
        pthread_mutex_unlock(&o->hand.mu);
        return NULL;
}

static int reader_start(struct overlay_open *o)
{
        pthread_attr_t attr;
        sigset_t all, old;
        int r = pthread_attr_init(&attr);
        if (r != 0)
                return -r;
        (void)pthread_attr_setstacksize(&attr, READER_STACK);
        /* signals stay with the caller's thread (PID 1 reads them from a signalfd) */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = pthread_create(&o->hand.thread, &attr, reader_main, o);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (r != 0)
                return -r;
        o->hand.started = true;
        return 0;
}

/* Stops the reader (abort) or lets it run to the end of its input, and
 * joins it. */
static void reader_stop(struct overlay_open *o, bool abort)
{
        struct handoff *hd = &o->hand;
        if (!hd->started)
                return;
        pthread_mutex_lock(&hd->mu);
        if (abort)
                hd->abort = true;
        else
                hd->eof = true;
        pthread_cond_broadcast(&hd->cv);
        while (!hd->done)
                pthread_cond_wait(&hd->cv, &hd->mu);
        pthread_mutex_unlock(&hd->mu);
        pthread_join(hd->thread, NULL);
        hd->started = false;
}

/* One block to the reader; returns when it has taken and released it, or
 * ended (having read the tar's end, bytes after it are not its concern). */
static int reader_offer(struct overlay_open *o, const uint8_t *p, size_t n)
{
        struct handoff *hd = &o->hand;
        pthread_mutex_lock(&hd->mu);
        if (!hd->done) {
                hd->offer = p;
                hd->offer_len = n;
                pthread_cond_broadcast(&hd->cv);
                while (!hd->done && (hd->offer || hd->held))
                        pthread_cond_wait(&hd->cv, &hd->mu);
                hd->offer = NULL;
        }
        bool done = hd->done;
        int r = o->rerr;
        pthread_mutex_unlock(&hd->mu);
        if (done && r < 0) {
                snprintf(o->why, sizeof(o->why), "%s", o->rwhy);
                return r;
        }
        return 0;
}

/* ---- the feeding side ---- */

/* Every failure ends here: the reader stops, staging goes, and the state
 * keeps the first reason for every later call. */
static int abandon(struct overlay_open *o, int err)
{
        reader_stop(o, true);
        if (o->staging_fd >= 0) {
                o->staging_fd = safe_close(o->staging_fd);
                (void)overlay_remove_tree(o->staging);
        }
        o->state = OPEN_FAILED;
        o->err = err;
        return err;
}

static int check_expected(struct overlay_open *o)
{
        const struct overlay_header *h = &o->h;
        char a[OVERLAY_ID_STR], b[OVERLAY_ID_STR], ha[2 * OVERLAY_HASH_LEN + 1], hb[2 * OVERLAY_HASH_LEN + 1];
        uint8_t kid[OVERLAY_HASH_LEN];
        if (o->cfg.expect_id && memcmp(h->id, o->cfg.id, OVERLAY_ID_LEN) != 0) {
                overlay_id_format(h->id, a);
                overlay_id_format(o->cfg.id, b);
                return set_why(o, -EPERM, "overlay id %s, the attestation reply named %s", a, b);
        }
        if (o->cfg.expect_serial && h->serial != o->cfg.serial)
                return set_why(o, -EPERM, "overlay serial %" PRIu64 ", the attestation reply named %" PRIu64, h->serial,
                               o->cfg.serial);
        if (o->cfg.expect_digest && memcmp(h->ct_sha256, o->cfg.ct_sha256, OVERLAY_HASH_LEN) != 0) {
                overlay_hex(h->ct_sha256, OVERLAY_HASH_LEN, ha);
                overlay_hex(o->cfg.ct_sha256, OVERLAY_HASH_LEN, hb);
                return set_why(o, -EPERM, "overlay digest %.16s…, the attestation reply named %.16s…", ha, hb);
        }
        if (!o->have_key)
                return 0;
        overlay_key_id(o->key, kid);
        if (memcmp(kid, h->key_id, OVERLAY_HASH_LEN) != 0) {
                overlay_hex(kid, OVERLAY_HASH_LEN, ha);
                overlay_hex(h->key_id, OVERLAY_HASH_LEN, hb);
                return set_why(o, -EKEYREJECTED, "data key: its id %.16s… is not the overlay's %.16s… (wrong key)", ha, hb);
        }
        return 0;
}

static int prepare_chunks(struct overlay_open *o)
{
        size_t first = (size_t)overlay_chunk_len(&o->h, 0);
        mbedtls_sha256_init(&o->ct);
        (void)mbedtls_sha256_starts_ret(&o->ct, 0);
        o->rec_need = first + OVERLAY_TAG_LEN;
        o->rec = malloc(first + OVERLAY_TAG_LEN);
        if (!o->rec)
                return set_why(o, -ENOMEM, "out of memory");
        if (!o->have_key)
                return 0;
        if (overlay_cipher_new(o->key, &o->h, &o->cipher) < 0)
                return set_why(o, -ENOMEM, "chunks: setting up the cipher failed");
        o->pt = malloc(first ? first : 1);
        o->zout_cap = ZSTD_DStreamOutSize();
        o->zout = malloc(o->zout_cap);
        o->zd = ZSTD_createDCtx();
        if (!o->pt || !o->zout || !o->zd || overlay_tree_new(&o->tree) < 0)
                return set_why(o, -ENOMEM, "out of memory");
        if (ZSTD_isError(ZSTD_DCtx_setParameter(o->zd, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX)))
                return set_why(o, -EIO, "payload: zstd refuses its window limit");
        if (o->staging_fd >= 0 && extract_new(o->staging_fd, o->cfg.restore_owners, &o->x) < 0)
                return set_why(o, -ENOMEM, "out of memory");
        int r = reader_start(o);
        return r < 0 ? set_why(o, r, "tar: starting the reader thread: %s", strerror(-r)) : 0;
}

/* The whole header is in: signature, meaning, then whether it is the one
 * this node was told to take. */
static int accept_header(struct overlay_open *o)
{
        const struct reason w = { o->why, sizeof(o->why) };
        int r = overlay_header_parse(o->hdr, o->hdr_have, &o->h, &w);
        if (r < 0 || (r = overlay_header_verify(&o->h, o->cfg.signers, &w)) < 0 ||
            (r = overlay_header_check(&o->h, &o->cfg.limits, &w)) < 0 || (r = check_expected(o)) < 0)
                return r;
        o->have_header = true;
        return prepare_chunks(o);
}

static int feed_header(struct overlay_open *o, const uint8_t **p, size_t *n)
{
        const struct reason w = { o->why, sizeof(o->why) };
        size_t k = o->hdr_need - o->hdr_have < *n ? o->hdr_need - o->hdr_have : *n;
        memcpy(o->hdr + o->hdr_have, *p, k);
        o->hdr_have += k;
        *p += k;
        *n -= k;
        if (o->hdr_have < o->hdr_need)
                return 0;
        if (o->hdr_need == OVERLAY_PREFIX_LEN) {
                uint32_t len;
                int r = overlay_header_prefix(o->hdr, o->hdr_have, &len, &w);
                if (r < 0)
                        return r;
                o->hdr_need = len;
                return 0;
        }
        int r = accept_header(o);
        if (r < 0)
                return r;
        o->state = OPEN_CHUNKS;
        return 0;
}

static int decompress(struct overlay_open *o, const uint8_t *p, size_t n)
{
        ZSTD_inBuffer in = { p, n, 0 };
        if (n > 0 && o->frame_done)
                return set_why(o, -EBADMSG, "payload: data after the end of its zstd frame (chunk %" PRIu64 ")", o->index);
        for (;;) {
                ZSTD_outBuffer out = { o->zout, o->zout_cap, 0 };
                size_t z = ZSTD_decompressStream(o->zd, &out, &in);
                if (ZSTD_isError(z))
                        return set_why(o, -EBADMSG, "payload: zstd: %s (chunk %" PRIu64 ")", ZSTD_getErrorName(z), o->index);
                o->frame_started = true;
                o->frame_done = z == 0;
                if (out.pos > o->h.content_size - o->content)
                        return set_why(o, -EFBIG, "content: more than the %" PRIu64 " bytes of tar the header declares",
                                       o->h.content_size);
                o->content += out.pos;
                if (out.pos > 0) {
                        int r = reader_offer(o, o->zout, out.pos);
                        if (r < 0)
                                return r;
                }
                if (o->frame_done && in.pos < in.size)
                        return set_why(o, -EBADMSG, "payload: data after the end of its zstd frame (chunk %" PRIu64 ")",
                                       o->index);
                if (in.pos == in.size && out.pos < out.size)
                        return 0;
        }
}

static int process_chunk(struct overlay_open *o)
{
        bool last = o->index + 1 == o->h.chunk_count;
        (void)mbedtls_sha256_update_ret(&o->ct, o->rec, o->rec_need);
        if (o->have_key) {
                int r = overlay_chunk_open(o->cipher, o->index, last, o->rec, o->rec_need, o->pt);
                if (r == -EBADMSG)
                        return set_why(o, r, "chunk %" PRIu64 ": authentication failed (wrong key or altered)", o->index);
                if (r < 0)
                        return set_why(o, r, "chunk %" PRIu64 ": decryption failed: %s", o->index, strerror(-r));
                r = decompress(o, o->pt, o->rec_need - OVERLAY_TAG_LEN);
                if (r < 0)
                        return r;
        }
        o->index++;
        o->rec_have = 0;
        if (o->index == o->h.chunk_count)
                o->state = OPEN_COMPLETE;
        else
                o->rec_need = (size_t)overlay_chunk_len(&o->h, o->index) + OVERLAY_TAG_LEN;
        return 0;
}

static int feed_chunks(struct overlay_open *o, const uint8_t **p, size_t *n)
{
        size_t k = o->rec_need - o->rec_have < *n ? o->rec_need - o->rec_have : *n;
        memcpy(o->rec + o->rec_have, *p, k);
        o->rec_have += k;
        *p += k;
        *n -= k;
        return o->rec_have == o->rec_need ? process_chunk(o) : 0;
}

int overlay_open_feed(struct overlay_open *o, const void *buf, size_t n)
{
        const uint8_t *p = buf;
        if (!o || (!buf && n))
                return -EINVAL;
        if (o->state == OPEN_FAILED)
                return o->err;
        if (o->state == OPEN_FINISHED)
                return -EINVAL;
        while (n > 0) {
                int r;
                if (o->state == OPEN_HEADER)
                        r = feed_header(o, &p, &n);
                else if (o->state == OPEN_CHUNKS)
                        r = feed_chunks(o, &p, &n);
                else
                        r = set_why(o, -EBADMSG, "%zu bytes after the last chunk", n);
                if (r < 0)
                        return abandon(o, r);
        }
        return 0;
}

static int finish_checks(struct overlay_open *o)
{
        const struct reason w = { o->why, sizeof(o->why) };
        uint8_t digest[OVERLAY_HASH_LEN];
        char a[2 * OVERLAY_HASH_LEN + 1], b[2 * OVERLAY_HASH_LEN + 1];

        if (o->state == OPEN_HEADER)
                return set_why(o, -EBADMSG, "truncated: %zu bytes, in the header", o->hdr_have);
        if (o->state == OPEN_CHUNKS)
                return set_why(o, -EBADMSG, "truncated: chunk %" PRIu64 " of %" PRIu64 " has %zu of its %zu bytes",
                               o->index, o->h.chunk_count, o->rec_have, o->rec_need);
        (void)mbedtls_sha256_finish_ret(&o->ct, digest);
        if (memcmp(digest, o->h.ct_sha256, OVERLAY_HASH_LEN) != 0) {
                overlay_hex(digest, OVERLAY_HASH_LEN, a);
                overlay_hex(o->h.ct_sha256, OVERLAY_HASH_LEN, b);
                return set_why(o, -EBADMSG, "ciphertext: digest %.16s… is not the header's %.16s…", a, b);
        }
        if (!o->have_key)
                return 0;
        if (!o->frame_started || !o->frame_done)
                return set_why(o, -EBADMSG, "payload: the zstd frame is incomplete");
        if (o->content != o->h.content_size)
                return set_why(o, -EBADMSG, "content: %" PRIu64 " bytes of tar, the header declares %" PRIu64, o->content,
                               o->h.content_size);
        reader_stop(o, false);
        if (o->rerr < 0) {
                snprintf(o->why, sizeof(o->why), "%s", o->rwhy);
                return o->rerr;
        }
        if (!o->tar_end)
                return set_why(o, -EBADMSG, "tar: no end of archive");
        if (o->entries != o->h.entries)
                return set_why(o, -EBADMSG, "tar: %" PRIu32 " entries, the header declares %" PRIu32, o->entries,
                               o->h.entries);
        return o->x ? extract_finish(o->x, &w) : 0;
}

int overlay_open_finish(struct overlay_open *o)
{
        if (!o)
                return -EINVAL;
        if (o->state == OPEN_FAILED)
                return o->err;
        if (o->state == OPEN_FINISHED)
                return 0;
        int r = finish_checks(o);
        if (r < 0)
                return abandon(o, r);
        o->state = OPEN_FINISHED;
        o->staging_fd = safe_close(o->staging_fd);
        return 0;
}

int overlay_open_new(const struct overlay_open_config *c, struct overlay_open **ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        if (!c || !ret || !c->signers || (!c->data_key && c->staging))
                return reason_fail(&w, -EINVAL, "opener: no signer keys, or staging without a data key");
        struct overlay_open *o = calloc(1, sizeof(*o));
        if (!o)
                return reason_fail(&w, -ENOMEM, "opener: out of memory");
        o->cfg = *c;
        if (c->data_key) {
                o->have_key = true;
                memcpy(o->key, c->data_key, OVERLAY_KEY_LEN);
                o->cfg.data_key = o->key;
        }
        o->staging_fd = -1;
        o->hdr_need = OVERLAY_PREFIX_LEN;
        pthread_mutex_init(&o->hand.mu, NULL);
        pthread_cond_init(&o->hand.cv, NULL);
        if (c->staging) {
                o->staging = strdup(c->staging);
                o->cfg.staging = o->staging;
                if (!o->staging) {
                        overlay_open_free(o);
                        return reason_fail(&w, -ENOMEM, "opener: out of memory");
                }
                if (mkdir(o->staging, 0700) < 0) {
                        int r = negative_errno();
                        /* not ours: free must not remove it */
                        free(o->staging);
                        o->staging = NULL;
                        overlay_open_free(o);
                        return reason_fail(&w, r, "staging directory %s: %s", c->staging,
                                           r == -EEXIST ? "exists already (a leftover is removed first)" : strerror(-r));
                }
                o->staging_fd = open(o->staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (o->staging_fd < 0) {
                        int r = negative_errno();
                        overlay_open_free(o);
                        return reason_fail(&w, r, "staging directory %s: %s", c->staging, strerror(-r));
                }
        }
        *ret = o;
        return 0;
}

const char *overlay_open_error(const struct overlay_open *o)
{
        return o && o->state == OPEN_FAILED ? o->why : NULL;
}

const struct overlay_header *overlay_open_header(const struct overlay_open *o)
{
        return o && o->have_header ? &o->h : NULL;
}

uint32_t overlay_open_entries(const struct overlay_open *o)
{
        return o ? o->entries : 0;
}

void overlay_open_free(struct overlay_open *o)
{
        if (!o)
                return;
        reader_stop(o, true);
        if (o->state != OPEN_FINISHED && o->staging) {
                o->staging_fd = safe_close(o->staging_fd);
                (void)overlay_remove_tree(o->staging);
        }
        safe_close(o->staging_fd);
        extract_free(o->x);
        overlay_tree_free(o->tree);
        ZSTD_freeDCtx(o->zd);
        overlay_cipher_free(o->cipher);
        mbedtls_sha256_free(&o->ct);
        free(o->rec);
        free(o->pt);
        free(o->zout);
        free(o->staging);
        pthread_mutex_destroy(&o->hand.mu);
        pthread_cond_destroy(&o->hand.cv);
        mbedtls_platform_zeroize(o->key, sizeof(o->key));
        free(o);
}
