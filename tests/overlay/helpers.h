/* SPDX-License-Identifier: Apache-2.0 */
/* In-memory tars and overlays for the overlay unit tests and fuzzers. */
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "seal.h"
#include "testkeys.h"

struct buf {
        uint8_t *p;
        size_t n, cap;
};

static inline int buf_add(struct buf *b, const void *p, size_t n)
{
        if (b->cap - b->n < n) {
                size_t cap = b->cap ? b->cap : 4096;
                while (cap - b->n < n)
                        cap *= 2;
                uint8_t *q = realloc(b->p, cap);
                if (!q)
                        return -ENOMEM;
                b->p = q;
                b->cap = cap;
        }
        if (n)
                memcpy(b->p + b->n, p, n);
        b->n += n;
        return 0;
}

static inline int buf_sink(void *ud, const void *p, size_t n)
{
        return buf_add(ud, p, n);
}

static inline la_ssize_t buf_tar_write(struct archive *a, void *ud, const void *p, size_t n)
{
        return buf_add(ud, p, n) < 0 ? -1 : (la_ssize_t)n;
}

/* One tar entry: type 'd', 'f', 'l' (symlink), 'h' (hard link), 'c'
 * (character device), 'p' (FIFO). */
struct tspec {
        char type;
        const char *path;
        const char *link;
        unsigned mode;
        unsigned uid, gid;
        long mtime;
        const char *data;
        size_t size; /* data bytes; data NULL: that many zeros */
};

/* A pax tar of the entries (libarchive's writer, so only what it can say). */
static inline int tar_build(const struct tspec *v, size_t n, struct buf *out)
{
        static const uint8_t zeros[4096];
        struct archive *a = archive_write_new();
        int r = -EIO;
        if (!a)
                return -ENOMEM;
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
            archive_write_open2(a, out, NULL, buf_tar_write, NULL, NULL) != ARCHIVE_OK)
                goto done;
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();
                unsigned ft = v[i].type == 'd' ? AE_IFDIR : v[i].type == 'l' ? AE_IFLNK : v[i].type == 'c' ? AE_IFCHR
                              : v[i].type == 'p'                             ? AE_IFIFO : AE_IFREG;
                archive_entry_set_pathname(e, v[i].path);
                archive_entry_set_filetype(e, ft);
                archive_entry_set_perm(e, v[i].mode ? v[i].mode : 0644);
                archive_entry_set_uid(e, v[i].uid);
                archive_entry_set_gid(e, v[i].gid);
                archive_entry_set_mtime(e, v[i].mtime, 0);
                archive_entry_set_size(e, v[i].type == 'f' ? (la_int64_t)v[i].size : 0);
                if (v[i].type == 'l')
                        archive_entry_set_symlink(e, v[i].link);
                if (v[i].type == 'h')
                        archive_entry_set_hardlink(e, v[i].link);
                if (v[i].type == 'c')
                        archive_entry_set_rdev(e, 0x0103);
                int s = archive_write_header(a, e);
                archive_entry_free(e);
                if (s != ARCHIVE_OK)
                        goto done;
                for (size_t off = 0; v[i].type == 'f' && off < v[i].size;) {
                        size_t k = v[i].size - off < sizeof(zeros) ? v[i].size - off : sizeof(zeros);
                        if (archive_write_data(a, v[i].data ? (const void *)(v[i].data + off) : zeros, k) != (la_ssize_t)k)
                                goto done;
                        off += k;
                }
        }
        r = archive_write_close(a) == ARCHIVE_OK ? 0 : -EIO;
done:
        archive_write_free(a);
        return r;
}

/* Header values a test wants other than the truth; 0 / NULL: the truth. */
struct seal_opts {
        uint32_t chunk_size;
        uint32_t entries;
        uint64_t content_size;
        uint64_t serial;
        const uint8_t *id;
        const uint8_t *data_key;
        const char *signing_pem;
};

static inline int overlay_from_payload(const uint8_t *payload, size_t n, uint64_t content, uint32_t entries,
                                       const struct seal_opts *o, struct buf *out, struct overlay_header *ret)
{
        static const uint8_t default_id[OVERLAY_ID_LEN] = { 0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
                                                            0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24 };
        const char *pem = o && o->signing_pem ? o->signing_pem : TEST_KEY_A;
        struct overlay_signing_key *key = NULL;
        int r = overlay_signing_key_parse(pem, strlen(pem), &key, NULL);
        if (r < 0)
                return r;
        struct overlay_seal_input in = {
                .serial = o && o->serial ? o->serial : 7,
                .created = 1700000000,
                .chunk_size = o && o->chunk_size ? o->chunk_size : OVERLAY_CHUNK_MIN,
                .content_size = o && o->content_size ? o->content_size : content,
                .entries = o && o->entries ? o->entries : entries,
                .data_key = o && o->data_key ? o->data_key : (const uint8_t *)TEST_DATA_KEY,
                .key = key,
                .payload = payload,
                .payload_len = n,
        };
        memcpy(in.id, o && o->id ? o->id : default_id, OVERLAY_ID_LEN);
        r = overlay_seal_payload(&in, buf_sink, out, ret, NULL);
        overlay_signing_key_free(key);
        return r;
}

/* tar → zstd → overlay, sizes true unless o says otherwise. */
static inline int overlay_from_tar(const uint8_t *tar, size_t n, uint32_t entries, const struct seal_opts *o,
                                   struct buf *out, struct overlay_header *ret)
{
        uint8_t *z;
        size_t zn;
        int r = overlay_compress(tar, n, &z, &zn);
        if (r < 0)
                return r;
        r = overlay_from_payload(z, zn, n, entries, o, out, ret);
        free(z);
        return r;
}
