/* SPDX-License-Identifier: Apache-2.0 */
/* Writing checked entries under the staging directory (the opener's
 * private helper). Every path is walked one component at a time from the
 * staging directory's fd, each directory opened with O_NOFOLLOW (and, where
 * the kernel has openat2, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), and
 * every leaf created with O_EXCL / mkdirat / symlinkat / linkat, none of
 * which follows a link: the tree model (entry.h) has already refused what
 * would need one, and this is the second line that does not rely on it. */
#pragma once

#include <stdbool.h>

#include "entry.h"
#include "reason.h"

struct extract;

/* root_fd stays the caller's. */
int extract_new(int root_fd, bool restore_owners, struct extract **ret);
void extract_free(struct extract *x);

/* A directory, symlink or hard link. */
int extract_entry(struct extract *x, const struct overlay_entry *e, const struct reason *w);
/* A file: *ret_fd is created empty (0600) for its data; close it with
 * extract_file_close, which sets owner, mode and times. */
int extract_file_open(struct extract *x, const struct overlay_entry *e, int *ret_fd, const struct reason *w);
int extract_file_close(struct extract *x, const struct overlay_entry *e, int fd, const struct reason *w);
/* Owners, modes and times of the directories entries named, once nothing
 * more is created inside them. */
int extract_finish(struct extract *x, const struct reason *w);
