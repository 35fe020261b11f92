/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cmdline.h"

/* Root on tmpfs (DESIGN.md): container runtimes pivot_root(2), which fails
 * on the initial rootfs. The unpacked initrd is copied onto a tmpfs of an
 * explicit size, /dev and /proc are moved along, the originals are freed,
 * and the tmpfs is moved over / and chrooted into. */
int rootfs_move_to_tmpfs(enum size_kind kind, uint64_t size, char *detail, size_t detaillen);

/* The tmpfs size for a request: percent of RAM or bytes, never below what
 * the initrd holds plus headroom. Pure, for tests. */
uint64_t rootfs_size(enum size_kind kind, uint64_t value, uint64_t ram, uint64_t used, int *ret_clamped);
