/* SPDX-License-Identifier: Apache-2.0 */
/* The rules every tar entry of an overlay obeys. seal applies them so that
 * an operator learns at once what a node would refuse; the opener applies
 * them before anything touches the staging directory. Three layers, each
 * pure: a path rule, the reading of one libarchive entry into a checked
 * struct, and a model of the tree built so far, which answers "would this
 * entry be written through a link, over an earlier entry, or link to
 * something that is not there yet" without looking at any file system. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "reason.h"

struct archive;
struct archive_entry;

#define OVERLAY_PATH_MAX 4096 /* bytes, the NUL included */
#define OVERLAY_NAME_MAX 255
#define OVERLAY_DEPTH_MAX 64

enum overlay_entry_type {
        OVERLAY_ENTRY_DIR,
        OVERLAY_ENTRY_FILE,
        OVERLAY_ENTRY_SYMLINK,
        OVERLAY_ENTRY_HARDLINK,
};

const char *overlay_entry_type_name(enum overlay_entry_type t);

struct overlay_entry {
        enum overlay_entry_type type;
        char path[OVERLAY_PATH_MAX]; /* canonical: see overlay_path_canon */
        /* symlink: its target, verbatim; hardlink: the canonical path of the
         * earlier entry it names */
        char link[OVERLAY_PATH_MAX];
        uint32_t mode; /* permission bits, 07777 at most */
        uint32_t uid, gid;
        int64_t mtime;
        uint64_t size; /* data bytes; 0 for all but files */
};

/* The path rule. An entry path is relative; it may start with one "./"
 * (bsdtar -C DIR . writes them) and, for a directory, end with one "/";
 * its components are 1..255 bytes of printable ASCII (libarchive cannot
 * translate other bytes in the C locale that seal and /init run in) and
 * are never "." or ".."; at most 64 of them, 4095 bytes in all. out receives
 * the canonical form (no "./", no trailing "/"). Returns 0, or 1 when the
 * path names the overlay's root itself ("." or "./"), or -EBADMSG with
 * "<what> <path>: <rule broken>" in w. */
int overlay_path_canon(const char *path, bool dir, char out[OVERLAY_PATH_MAX], const char *what,
                       const struct reason *w);

/* Reads one libarchive entry and checks it on its own: a regular file,
 * directory, symlink or hard link (never a device node, FIFO or socket),
 * owners that are ids, no sparse map, extended attributes or ACLs (which
 * an overlay does not carry), data only for files, a symlink target of
 * printable ASCII. Returns 0, 1 for the
 * root directory entry (carries nothing: the root's metadata is the
 * image's), or -EBADMSG with why. */
int overlay_entry_read(struct archive_entry *ae, struct overlay_entry *e, const struct reason *w);

/* The tree of entries seen so far. */
struct overlay_tree;
int overlay_tree_new(struct overlay_tree **ret);
void overlay_tree_free(struct overlay_tree *t);
/* Checks e against the tree and records it, or refuses it and records
 * nothing: a parent that is a symlink or a file; a path that came before
 * (a directory may be named once after entries inside it made it); a hard
 * link to something that is not an earlier file. Missing parents are
 * recorded as directories. */
int overlay_tree_add(struct overlay_tree *t, const struct overlay_entry *e, const struct reason *w);

/* For messages: s with bytes outside printable ASCII as \xHH, shortened
 * with "…" to fit size. */
void overlay_escape(const char *s, char *out, size_t size);

/* libarchive's error on a as -errno (-ENOMEM, else -EBADMSG: what it
 * reads is untrusted) and "<what>: <its message>" in w. */
int overlay_archive_fail(struct archive *a, const struct reason *w, const char *what);

static inline void overlay_tree_freep(struct overlay_tree **t) { overlay_tree_free(*t); }
#define _cleanup_overlay_tree_ __attribute__((cleanup(overlay_tree_freep)))
