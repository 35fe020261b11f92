/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>

/* /proc and /dev: what PID 1 needs before anything else. */
int mounts_early(void);
/* /sys, /run, /dev/pts, /dev/shm, securityfs, cgroup2 with controllers
 * enabled for delegation. */
int mounts_system(char *detail, size_t detaillen);
/* Checks /proc/self/mounts for everything above and / on tmpfs. */
int mounts_verify(char *detail, size_t detaillen);
/* efivarfs, when the firmware is UEFI (after the module is loaded). */
int mounts_efivarfs(void);
