/* SPDX-License-Identifier: Apache-2.0 */
/* The node's side: a streaming opener fed the overlay's bytes as they
 * arrive (from libcurl's write callback), which checks the header, opens
 * every chunk, decompresses, and extracts each tar entry into a staging
 * directory by its own code; and the commit that moves a complete staging
 * tree into the root.
 *
 * Pipeline (each stage checks before the next sees a byte):
 *   header: magic, version, length; the whole header; its signature by a
 *     pinned signer; its sizes and limits; the overlay the attestation
 *     reply named (id, serial, ciphertext digest); the data key's id
 *   chunks: a running SHA-256 of every record; AES-256-GCM open with the
 *     chunk's index and last flag in its AAD (plaintext is released only
 *     once its tag verified)
 *   zstd: one frame, its window at most 8 MiB, never more output than the
 *     header's content_size
 *   tar: libarchive reads from the decompressor's output; every entry is
 *     checked (entry.h) and written under the staging directory's fd,
 *     never through a link
 *
 * libarchive pulls its input; the opener is pushed. The reader runs in a
 * thread of its own, overlapped with the feeding thread through a queue of
 * two chunk buffers: feed() hashes and opens chunk N+1 while the reader
 * decompresses chunk N and writes its entries. Only verified plaintext is
 * queued; memory stays at two chunk records (decrypted in place), one
 * block and the zstd window; the first refusal in the stream is the one
 * reported, whichever thread finds it (the reader finishes the chunks
 * queued before a refused one); a refused entry stops the feed within two
 * chunks; every path joins the reader.
 *
 * Any failure removes the staging directory completely and leaves one
 * line in overlay_open_error(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"

struct overlay_open_config {
        const struct overlay_signers *signers; /* required */
        /* OVERLAY_KEY_LEN bytes (copied). NULL (only without staging): the
         * header, its signature and the ciphertext digest are checked, the
         * chunks not opened. */
        const uint8_t *data_key;
        /* what the attestation reply named: any other overlay is refused */
        bool expect_id, expect_serial, expect_digest;
        uint8_t id[OVERLAY_ID_LEN];
        uint64_t serial;
        uint8_t ct_sha256[OVERLAY_HASH_LEN];
        /* created here (it must not exist; its parent must) and filled; on
         * the root's file system, for overlay_commit's renames. NULL: read
         * and check everything, write nothing. */
        const char *staging;
        struct overlay_limits limits;
        bool restore_owners; /* chown to the tar's numeric owners (root only) */
};

/* Sets every limit to its default, owners restored, nothing expected. */
void overlay_open_config_default(struct overlay_open_config *c);

struct overlay_open;

/* Creates the staging directory. On failure *ret is untouched and why
 * (may be NULL) holds the reason. */
int overlay_open_new(const struct overlay_open_config *c, struct overlay_open **ret, char *why, size_t whylen);
/* 0 or -errno. After a failure every later call returns the same. */
int overlay_open_feed(struct overlay_open *o, const void *p, size_t n);
/* The whole overlay arrived: every chunk, the last one flagged, the digest
 * the header signed, the tar's end, its entry count and size. Then the
 * staging directory holds the tree (directory modes and times set). */
int overlay_open_finish(struct overlay_open *o);
const char *overlay_open_error(const struct overlay_open *o);
/* The verified header, or NULL before it. */
const struct overlay_header *overlay_open_header(const struct overlay_open *o);
/* Entries read so far. */
uint32_t overlay_open_entries(const struct overlay_open *o);
/* Removes the staging directory unless finish() succeeded. */
void overlay_open_free(struct overlay_open *o);

/* Moves the staged tree into root: a new entry (file, link or whole
 * directory) by one rename; a directory that exists in both is merged
 * (the root's keeps its owner, mode and times), a file or link that
 * exists in both replaced by rename(2), atomically. First a pass that
 * changes nothing refuses conflicts (a directory against a non-directory
 * either way, staging and root on different file systems); a failure in
 * the moving pass after that leaves the root partly changed, which is
 * fatal: the caller reboots. The staging directory is gone afterwards,
 * whatever happened. */
int overlay_commit(const char *staging, const char *root, char *why, size_t whylen);

/* Removes path and everything under it, never following a link. */
int overlay_remove_tree(const char *path);

static inline void overlay_open_freep(struct overlay_open **o) { overlay_open_free(*o); }
#define _cleanup_overlay_open_ __attribute__((cleanup(overlay_open_freep)))
