/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

/* Reads fd to EOF into a NUL-terminated buffer of at most max bytes
 * (-EFBIG beyond). Works for /proc files, which report size 0, and pipes.
 * *ret and *ret_len are written only on success. */
int read_fd_all(int fd, size_t max, char **ret, size_t *ret_len);
/* The same for a path; "-" is standard input. */
int read_file_all(const char *path, size_t max, char **ret, size_t *ret_len);
