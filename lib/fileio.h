/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Reads fd to EOF into a NUL-terminated buffer of at most max bytes
 * (-EFBIG beyond). Works for /proc files, which report size 0, and pipes.
 * *ret and *ret_len are written only on success. */
int read_fd_all(int fd, size_t max, char **ret, size_t *ret_len);
/* The same for a path; "-" is standard input. */
int read_file_all(const char *path, size_t max, char **ret, size_t *ret_len);

/* Writes len bytes to path as a whole: into "<path>.ember-tmp" (created
 * anew with mode, never through a symlink), fsync, then rename over path.
 * Readers see the old file or the new one, never a part. 0 or -errno; on
 * failure the temporary file is gone and path is untouched. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Writes all n bytes (retrying short writes and EINTR): 0 or -errno. */
int write_full(int fd, const void *buf, size_t n);
/* Reads exactly n bytes: 0, -EBADMSG at an early end of file, or -errno. */
int read_full(int fd, void *buf, size_t n);
