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
#include <stdatomic.h>
#include <sys/stat.h>
#include <zstd.h>

#include "entry.h"
#include "extract.h"
#include "fileio.h"
#include "util.h"

/* The largest zstd window the opener allocates: seal's level keeps within
 * 4 MiB; zstd's own default limit (128 MiB) is too much for a node. */
#define ZSTD_WINDOW_LOG_MAX 23
#define READER_STACK ((size_t)512 << 10)
#define WHY_LEN 512
/* Chunk buffers between feed() and the reader: one being filled while the
 * reader decompresses another is all the overlap two stages can use. */
#define SLOTS 2

enum open_state {
        OPEN_HEADER,   /* waiting for header bytes */
        OPEN_CHUNKS,   /* waiting for chunk records */
        OPEN_COMPLETE, /* every chunk arrived; only finish() may follow */
        OPEN_FINISHED,
        OPEN_FAILED,
};

/* How feed() ends the reader: RUN, it takes chunks as they come; END, no
 * more will come (it reads to the end, then checks it); CANCEL, it reads
 * the chunks already queued (a refusal in them came first in the stream)
 * and stops; ABORT, it stops at its next read. */
enum pipe_stop { PIPE_RUN, PIPE_END, PIPE_CANCEL, PIPE_ABORT };

struct slot {
        uint8_t *buf; /* a chunk record, decrypted in place once queued */
        size_t len;   /* plaintext bytes */
        uint64_t index;
};

/* The queue of verified chunks from feed() (the caller's thread: SHA-256
 * and AES-GCM) to the reader thread (zstd and tar). feed() fills slot
 * produced % SLOTS while fewer than SLOTS are queued or being read; the
 * reader takes them in order and gives each back once decompressed. */
struct pipe {
        pthread_mutex_t mu;
        pthread_cond_t to_reader, to_feeder;
        struct slot slot[SLOTS];
        uint64_t produced; /* chunks queued */
        uint64_t taken;    /* chunks the reader took */
        uint64_t released; /* chunks the reader gave back */
        enum pipe_stop stop;
        bool done; /* the reader thread has ended */
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
        bool rerr_taken; /* the reader's refusal has been made why */

        uint8_t hdr[OVERLAY_HEADER_MAX];
        size_t hdr_have, hdr_need;
        struct overlay_header h;
        bool have_header;

        struct overlay_cipher *cipher;
        mbedtls_sha256_context ct;
        uint8_t *rec; /* the slot the next record goes into */
        size_t rec_have, rec_need;
        uint64_t index;
        struct pipe pipe;

        /* the reader thread's; feed() reads them only once it has ended */
        ZSTD_DCtx *zd;
        ZSTD_inBuffer zin;
        uint64_t zindex; /* the chunk zin is */
        bool holding;    /* zin is a slot the reader took */
        bool flushed;    /* zstd holds no output for zin's bytes */
        uint8_t *zout;
        size_t zout_cap;
        bool frame_done, frame_started;
        uint64_t content;
        int in_err;     /* the input (zstd or the queue) failed: rwhy says why */
        bool stopped;   /* told to stop (cancel, abort): not a refusal */
        bool at_end;    /* every chunk was read: the rest are end checks */
        int rerr;
        char rwhy[WHY_LEN];
        bool tar_end;
        atomic_uint entries; /* read at any time (overlay_open_entries) */
        struct overlay_tree *tree;
        struct extract *x;
        struct overlay_entry entry;
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

/* Gives back the chunk the reader holds and takes the next: 1, 0 at the
 * end of the input, -ECANCELED when told to stop. */
static int pipe_take(struct overlay_open *o)
{
        struct pipe *p = &o->pipe;
        pthread_mutex_lock(&p->mu);
        if (o->holding) {
                p->released++;
                o->holding = false;
                pthread_cond_signal(&p->to_feeder);
        }
        while (p->taken == p->produced && p->stop == PIPE_RUN)
                pthread_cond_wait(&p->to_reader, &p->mu);
        int r = 1;
        if (p->stop == PIPE_ABORT || (p->stop == PIPE_CANCEL && p->taken == p->produced))
                r = -ECANCELED;
        else if (p->taken == p->produced)
                r = 0;
        else {
                const struct slot *s = &p->slot[p->taken % SLOTS];
                o->zin = (ZSTD_inBuffer){ s->buf, s->len, 0 };
                o->zindex = s->index;
                o->holding = true;
                p->taken++;
        }
        pthread_mutex_unlock(&p->mu);
        if (r == 0)
                o->at_end = true;
        if (r == -ECANCELED)
                o->stopped = true;
        return r;
}

static int input_fail(struct overlay_open *o, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int input_fail(struct overlay_open *o, int err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(o->rwhy, sizeof(o->rwhy), fmt, ap);
        va_end(ap);
        o->in_err = err;
        return err;
}

/* The next block of tar into zout: 1 (*ret_n > 0 bytes), 0 at the end of
 * the input, or -errno (rwhy says why). The decompressor never passes the
 * header's content_size and reads one frame, nothing after it. */
static int inflate_block(struct overlay_open *o, size_t *ret_n)
{
        for (;;) {
                if (o->zin.pos == o->zin.size && o->flushed) {
                        int r = pipe_take(o);
                        if (r == -ECANCELED)
                                return input_fail(o, r, "stopped");
                        if (r == 0)
                                return 0;
                }
                /* after the block that ended the frame went to the reader */
                if (o->frame_done && o->zin.pos < o->zin.size)
                        return input_fail(o, -EBADMSG,
                                          "payload: data after the end of its zstd frame (chunk %" PRIu64 ")", o->zindex);
                ZSTD_outBuffer out = { o->zout, o->zout_cap, 0 };
                size_t z = ZSTD_decompressStream(o->zd, &out, &o->zin);
                if (ZSTD_isError(z))
                        return input_fail(o, -EBADMSG, "payload: zstd: %s (chunk %" PRIu64 ")", ZSTD_getErrorName(z),
                                          o->zindex);
                o->frame_started = true;
                o->frame_done = z == 0;
                /* 0: the frame's end, flushed, even when that filled zout exactly
                 * (asked again, zstd would start looking for another frame) */
                o->flushed = z == 0 || out.pos < out.size;
                if (out.pos > o->h.content_size - o->content)
                        return input_fail(o, -EFBIG, "content: more than the %" PRIu64 " bytes of tar the header declares",
                                          o->h.content_size);
                o->content += out.pos;
                if (out.pos > 0) {
                        *ret_n = out.pos;
                        return 1;
                }
        }
}

static la_ssize_t tar_read(struct archive *a, void *ud, const void **buf)
{
        struct overlay_open *o = ud;
        size_t n = 0;
        int r = inflate_block(o, &n);
        if (r < 0) {
                archive_set_error(a, -r, "%s", o->rwhy);
                return -1;
        }
        *buf = o->zout;
        return (la_ssize_t)n;
}

/* libarchive failed: the input's own reason when the input failed under
 * it, else libarchive's. */
static int tar_fail(struct overlay_open *o, struct archive *a, const struct reason *w, const char *what)
{
        if (o->in_err < 0)
                return o->in_err;
        return overlay_archive_fail(a, w, what);
}

/* A file's data, to fd (or nowhere, fd < 0), exactly as much as its
 * header declared, written from libarchive's blocks as they are. */
static int copy_data(struct overlay_open *o, struct archive *a, int fd, const struct reason *w)
{
        const struct overlay_entry *e = &o->entry;
        char shown[160], what[200];
        uint64_t got = 0;
        overlay_escape(e->path, shown, sizeof(shown));
        for (;;) {
                const void *p;
                size_t n;
                la_int64_t off;
                int s = archive_read_data_block(a, &p, &n, &off);
                if (s == ARCHIVE_EOF)
                        break;
                if (s != ARCHIVE_OK) {
                        snprintf(what, sizeof(what), "entry %s", shown);
                        return tar_fail(o, a, w, what);
                }
                /* sparse entries are refused already: the data is contiguous */
                if (off < 0 || (uint64_t)off != got)
                        return reason_fail(w, -EBADMSG, "entry %s: data at offset %" PRId64 " after %" PRIu64 " bytes",
                                           shown, (int64_t)off, got);
                if (n > e->size - got)
                        return reason_fail(w, -EBADMSG, "entry %s: more data than the %" PRIu64 " bytes its header declares",
                                           shown, e->size);
                got += n;
                int r = fd >= 0 && n > 0 ? write_full(fd, p, n) : 0;
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
                r = tar_fail(o, a, w, "tar");
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
                        r = tar_fail(o, a, w, "tar");
                        break;
                }
                if (atomic_load_explicit(&o->entries, memory_order_relaxed) == o->h.entries) {
                        r = reason_fail(w, -EBADMSG, "tar: more entries than the header's %" PRIu32, o->h.entries);
                        break;
                }
                atomic_fetch_add_explicit(&o->entries, 1, memory_order_relaxed);
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

/* Past the tar's end: the rest of the stream is still decompressed, to
 * hold it to one frame and content_size (bytes after the tar's end are not
 * read, but they count). */
static int inflate_rest(struct overlay_open *o)
{
        size_t n;
        int r;
        while ((r = inflate_block(o, &n)) > 0)
                ;
        return r;
}

static void *reader_main(void *ud)
{
        struct overlay_open *o = ud;
        const struct reason w = { o->rwhy, sizeof(o->rwhy) };
        int r = read_tar(o, &w);
        if (r == 0)
                r = inflate_rest(o);
        pthread_mutex_lock(&o->pipe.mu);
        o->rerr = r;
        o->pipe.done = true;
        pthread_cond_signal(&o->pipe.to_feeder);
        pthread_mutex_unlock(&o->pipe.mu);
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
        r = pthread_create(&o->pipe.thread, &attr, reader_main, o);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (r != 0)
                return -r;
        o->pipe.started = true;
        return 0;
}

/* Tells the reader how to end and joins it: whatever it waits for, the
 * stop wakes it, and it holds no lock the caller needs. */
static void reader_stop(struct overlay_open *o, enum pipe_stop how)
{
        struct pipe *p = &o->pipe;
        if (!p->started)
                return;
        pthread_mutex_lock(&p->mu);
        p->stop = how;
        pthread_cond_signal(&p->to_reader);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
        p->started = false;
}

/* The reader's refusal becomes the opener's. Once it has ended, before
 * the end of the input, it has refused something (it ends cleanly only
 * after the end). */
static int reader_error(struct overlay_open *o)
{
        o->rerr_taken = true;
        if (o->rerr >= 0)
                return set_why(o, -EIO, "tar: the reader ended before the end of the input");
        snprintf(o->why, sizeof(o->why), "%s", o->rwhy);
        return o->rerr;
}

/* ---- the feeding side ---- */

/* A free slot for the next record: waits while every slot is queued or
 * being read, unless the reader has ended (then its refusal). */
static int slot_acquire(struct overlay_open *o)
{
        struct pipe *p = &o->pipe;
        pthread_mutex_lock(&p->mu);
        while (!p->done && p->produced - p->released == SLOTS)
                pthread_cond_wait(&p->to_feeder, &p->mu);
        bool done = p->done;
        o->rec = p->slot[p->produced % SLOTS].buf;
        pthread_mutex_unlock(&p->mu);
        return done ? reader_error(o) : 0;
}

/* The record in o->rec, verified and decrypted, to the reader. */
static int slot_publish(struct overlay_open *o, size_t len, uint64_t index)
{
        struct pipe *p = &o->pipe;
        pthread_mutex_lock(&p->mu);
        struct slot *s = &p->slot[p->produced % SLOTS];
        s->len = len;
        s->index = index;
        p->produced++;
        pthread_cond_signal(&p->to_reader);
        bool done = p->done;
        pthread_mutex_unlock(&p->mu);
        o->rec = NULL;
        return done ? reader_error(o) : 0;
}

/* Every failure ends here: the reader stops, staging goes, and the state
 * keeps the first reason for every later call. The reader first reads
 * the chunks already queued: they came before whatever failed here, so a
 * refusal in them is the one reported, as if the two had run in turn. */
static int abandon(struct overlay_open *o, int err)
{
        reader_stop(o, PIPE_CANCEL);
        if (o->rerr < 0 && !o->rerr_taken && !o->stopped && !o->at_end)
                err = reader_error(o);
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

/* The chunk buffers: one without the key (the records are only hashed),
 * SLOTS with it, each a record decrypted in place. */
static int prepare_chunks(struct overlay_open *o)
{
        size_t first = (size_t)overlay_chunk_len(&o->h, 0);
        mbedtls_sha256_init(&o->ct);
        (void)mbedtls_sha256_starts_ret(&o->ct, 0);
        o->rec_need = first + OVERLAY_TAG_LEN;
        for (size_t i = 0; i < (o->have_key ? SLOTS : 1); i++) {
                o->pipe.slot[i].buf = malloc(first + OVERLAY_TAG_LEN);
                if (!o->pipe.slot[i].buf)
                        return set_why(o, -ENOMEM, "out of memory");
        }
        o->rec = o->pipe.slot[0].buf;
        if (!o->have_key)
                return 0;
        if (overlay_cipher_new(o->key, &o->h, &o->cipher) < 0)
                return set_why(o, -ENOMEM, "chunks: setting up the cipher failed");
        o->zout_cap = ZSTD_DStreamOutSize();
        o->zout = malloc(o->zout_cap);
        o->zd = ZSTD_createDCtx();
        o->flushed = true;
        if (!o->zout || !o->zd || overlay_tree_new(&o->tree) < 0)
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

static int process_chunk(struct overlay_open *o)
{
        bool last = o->index + 1 == o->h.chunk_count;
        (void)mbedtls_sha256_update_ret(&o->ct, o->rec, o->rec_need);
        if (o->have_key) {
                int r = overlay_chunk_open(o->cipher, o->index, last, o->rec, o->rec_need, o->rec);
                if (r == -EBADMSG)
                        return set_why(o, r, "chunk %" PRIu64 ": authentication failed (wrong key or altered)", o->index);
                if (r < 0)
                        return set_why(o, r, "chunk %" PRIu64 ": decryption failed: %s", o->index, strerror(-r));
                r = slot_publish(o, o->rec_need - OVERLAY_TAG_LEN, o->index);
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
        if (o->rec_have == 0 && o->have_key) {
                int r = slot_acquire(o);
                if (r < 0)
                        return r;
        }
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
        /* the reader reads to the end; a refusal before it came first */
        reader_stop(o, PIPE_END);
        if (o->rerr < 0 && !o->at_end)
                return reader_error(o);
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
        if (o->rerr < 0)
                return reader_error(o);
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
        pthread_mutex_init(&o->pipe.mu, NULL);
        pthread_cond_init(&o->pipe.to_reader, NULL);
        pthread_cond_init(&o->pipe.to_feeder, NULL);
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
        return o ? atomic_load_explicit(&o->entries, memory_order_relaxed) : 0;
}

void overlay_open_free(struct overlay_open *o)
{
        if (!o)
                return;
        reader_stop(o, PIPE_ABORT);
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
        for (size_t i = 0; i < SLOTS; i++)
                free(o->pipe.slot[i].buf);
        free(o->zout);
        free(o->staging);
        pthread_mutex_destroy(&o->pipe.mu);
        pthread_cond_destroy(&o->pipe.to_reader);
        pthread_cond_destroy(&o->pipe.to_feeder);
        mbedtls_platform_zeroize(o->key, sizeof(o->key));
        free(o);
}
