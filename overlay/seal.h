/* SPDX-License-Identifier: Apache-2.0 */
/* Sealing (the operator's side): a directory or an uncompressed tar in, a
 * sealed overlay out. Host-only: it reads the operator's files and signs.
 *
 *   directory → tar (pax, bytewise-sorted walk, numeric owners, modes,
 *   mtimes in whole seconds; the root directory itself is not an entry)
 *   or tar file (checked, then its bytes passed through unchanged)
 *   → zstd (one frame) in an unnamed temporary file
 *   → the header (sizes now known) → AES-256-GCM chunks, twice: once to
 *   learn the ciphertext digest the header signs, once to write them
 *   after the signed header. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "format.h"

typedef int (*overlay_sink_fn)(void *ud, const void *p, size_t n);

/* What overlay_seal_payload puts in a header. The sizes are the caller's
 * word: nothing checks that content_size and entries describe the payload
 * (overlay_seal does; tests make overlays that lie with this). */
struct overlay_seal_input {
        uint8_t id[OVERLAY_ID_LEN];
        uint64_t serial;
        uint64_t created;
        uint32_t chunk_size;
        uint64_t content_size;
        uint32_t entries;
        const uint8_t *data_key; /* OVERLAY_KEY_LEN bytes */
        const struct overlay_signing_key *key;
        const uint8_t *payload; /* the zstd stream */
        size_t payload_len;
};

/* Writes header and chunks to sink; *ret (may be NULL) gets the header. */
int overlay_seal_payload(const struct overlay_seal_input *in, overlay_sink_fn sink, void *ud,
                         struct overlay_header *ret, const struct reason *w);

/* bytes → one zstd frame at seal's level, in memory (malloc). */
int overlay_compress(const uint8_t *p, size_t n, uint8_t **ret, size_t *ret_len);

struct overlay_seal_params {
        const char *source; /* a directory, or an uncompressed tar file */
        const char *out;    /* written atomically, 0644 */
        const uint8_t *data_key;
        const struct overlay_signing_key *key;
        uint8_t id[OVERLAY_ID_LEN];
        uint64_t serial;
        uint64_t created;
        uint32_t chunk_size;
        /* what a node reads with: seal refuses what it would refuse */
        struct overlay_limits limits;
};

int overlay_seal(const struct overlay_seal_params *p, struct overlay_header *ret, const struct reason *w);
