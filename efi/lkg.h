/* SPDX-License-Identifier: Apache-2.0 */
/* The last-known-good (LKG) commit on an ESP that is already mounted: the
 * filesystem part only (no mounting, fetching or EFI variables). Layout,
 * commit order and why power loss never leaves the ESP without a complete
 * entry: docs/lkg.md.
 *
 *   /loader/loader.conf                       written once, if absent
 *   /loader/entries/ember-<v>[+L[-D]].conf    systemd-boot Type #1 entries
 *   /ember/<v>/vmlinuz, /ember/<v>/initrd     what they boot
 *
 * Every function takes the ESP as a directory fd, returns 0 (or a
 * non-negative count) or -errno, and writes why it refused into w. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reason.h"

/* A version names a directory on a FAT filesystem and sorts like systemd-boot
 * sorts it: [A-Za-z0-9._~^-], 1..LKG_VERSION_MAX bytes, first and last byte
 * a letter or digit (so never "." or ".."), never two of ._~^- in a row. */
#define LKG_VERSION_MAX 64
/* Boot counters are written by systemd-boot and by us: 0..LKG_COUNTER_MAX,
 * decimal, no leading zeros. */
#define LKG_COUNTER_MAX 9999
/* "ember-" version "+LLLL-DDDD" ".conf" NUL */
#define LKG_ENTRY_NAME_MAX (6 + LKG_VERSION_MAX + 10 + 5 + 1)
/* Tries a freshly committed entry gets (systemd-boot's "+3"). */
#define LKG_TRIES 3

struct lkg_entry_name {
        char version[LKG_VERSION_MAX + 1];
        bool counted;   /* "+LEFT" present: not blessed yet */
        bool has_done;  /* "-DONE" present */
        unsigned left;  /* tries left (counted only) */
        unsigned done;  /* tries used (has_done only) */
};

/* "ember-<version>[+LEFT[-DONE]].conf", nothing else. A parser: touches
 * nothing but *ret, written only on success; -EINVAL with a reason. */
int lkg_entry_name_parse(const char *filename, struct lkg_entry_name *ret, const struct reason *w);
/* The version rule above: 0 or -EINVAL with a reason. */
int lkg_version_check(const char *version, const struct reason *w);
/* Version order of the UAPI Version Format Specification (systemd's
 * strverscmp_improved), which systemd-boot uses to sort entries: <0, 0, >0.
 * Agrees with systemd-analyze compare-versions (systemd 252) on versions that
 * pass lkg_version_check. */
int lkg_version_cmp(const char *a, const char *b);
/* An entry's name with its boot counter: what lkg_entry_name_parse reads.
 * 0, -EINVAL (not a valid name), -ENOBUFS (len too small). */
int lkg_entry_name_format(const struct lkg_entry_name *n, char *buf, size_t len);

/* One artifact to copy to the ESP: read from fd when fd >= 0 (from offset
 * 0, through a duplicate: the caller keeps fd), else from path. Its sha256
 * is checked while copying. */
struct lkg_file {
        int fd;
        const char *path;
        uint8_t sha256[32];
};

struct lkg_artifacts {
        const char *version; /* lkg_version_check */
        const char *title;   /* NULL: "Ember <version>"; one line */
        const char *options; /* the kernel command line; one line, may be "" */
        struct lkg_file kernel, initrd;
};

enum lkg_outcome {
        LKG_WRITTEN,           /* a new entry was committed */
        LKG_UNCHANGED_BOOTED,  /* the booted entry already is this version: nothing written */
        LKG_UNCHANGED_PRESENT, /* an entry with the same files already exists: nothing written */
};

struct lkg_result {
        enum lkg_outcome outcome;
        char entry[LKG_ENTRY_NAME_MAX];     /* this version's entry file name */
        char previous[LKG_VERSION_MAX + 1]; /* the previous LKG kept, "" if none */
        bool loader_conf_written;
        unsigned removed;                   /* older versions removed */
        unsigned remove_failed;             /* removals that failed (the commit still stands) */
        char warning[256];                  /* the first such failure, "" if none */
};

/* Free space the commit requires beyond kernel + initrd (entry, directory
 * growth, cluster rounding, FAT slack). */
#define LKG_SPACE_MARGIN (1024 * 1024)

/* Commits a as the newest entry: checks free space (nothing deleted to make
 * room), copies kernel and initrd to /ember/<v>/ under temporary names while
 * checking their sha256, fsyncs, renames, fsyncs the directories, then writes
 * the entry ember-<v>+3.conf last (temporary name, fsync, rename, fsync of
 * the directory), writes loader.conf if absent, and then prunes (below).
 * booted_entry is LoaderEntrySelected (NULL when the node did not boot from
 * the ESP); an Ember entry of another version is refused, as only what booted
 * may become the LKG. Same version already on the ESP with the same digests:
 * nothing written. Same version with other digests: -EEXIST. On any failure
 * before the entry is renamed into place, what this call wrote is removed.
 * *ret is written on success only. */
int lkg_commit(int espfd, const struct lkg_artifacts *a, const char *booted_entry, struct lkg_result *ret,
               const struct reason *w);

/* Removes Ember entries (entry file first, then /ember/<v>/) whose version is
 * older than the previous LKG, where the previous LKG is the newest Ember
 * entry other than keep_version that still has tries left (or, if none has,
 * the newest one). Never removes keep_version, the previous LKG, the booted
 * entry's version, or anything not Ember's; also removes /ember/<v>/
 * directories no entry refers to (interrupted commits). Returns the number of
 * versions removed; failures are counted in ret (when not NULL) and do not
 * stop the others. */
int lkg_prune(int espfd, const char *keep_version, const char *booted_entry, struct lkg_result *ret,
              const struct reason *w);

/* A node that booted from a counted Ember entry and reached Ready: renames
 * ember-<v>+L[-D].conf to ember-<v>.conf and fsyncs the directory. Returns 1
 * when it renamed, 0 when there was nothing to bless (already blessed,
 * booted_entry NULL or not Ember's), -ENOENT when the booted entry is gone. */
int lkg_bless(int espfd, const char *booted_entry, char ret_entry[LKG_ENTRY_NAME_MAX], const struct reason *w);

/* A boot from a counted Ember entry failed for a reason that does not
 * implicate the image (no network, a server down or erring): gives back the
 * try systemd-boot counted, renaming ember-<v>+L-D.conf to
 * ember-<v>+(L+1)-(D-1).conf ("+(L+1)" when D was 1). Returns 1 when it
 * renamed, 0 when nothing was counted (blessed entry, D = 0, booted_entry
 * NULL or not Ember's), -ENOENT when the booted entry is gone. */
int lkg_uncount(int espfd, const char *booted_entry, char ret_entry[LKG_ENTRY_NAME_MAX], const struct reason *w);
