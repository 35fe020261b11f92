/* SPDX-License-Identifier: Apache-2.0 */
/* Finding the EFI System Partition a node may write its last-known-good to,
 * and mounting it (docs/lkg.md, "Finding the ESP").
 *
 * esp_find walks the whole disks in sysfs, reads each one's GPT (gpt.h) and
 * lists the partitions of the ESP type; when the partition systemd-boot was
 * loaded from is known (LoaderDevicePartUUID) and found exactly once, it is
 * the only candidate. esp_mount mounts a candidate and keeps it only when
 * the node may write there: the partition it booted from, an ESP carrying
 * Ember's /ember directory, or an empty one. Another system's ESP is
 * unmounted again and refused. Returns are >= 0 or -errno, with a reason in
 * why. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ESP_NAME_MAX 64
#define ESP_PATH_MAX 256
/* iocharset: the kernel's default (Debian: ascii) is a module the image does not
 * carry; iso8859-1 is (image/modules.list). With utf8=1 it only folds case. */
#define ESP_MOUNT_OPTIONS "umask=0077,shortname=mixed,utf8=1,iocharset=iso8859-1"

struct esp_cand {
        char disk[ESP_NAME_MAX];  /* the whole disk's name in sysfs, e.g. "nvme0n1" */
        char name[ESP_NAME_MAX];  /* the partition's name in sysfs, e.g. "nvme0n1p1" */
        char dev[ESP_PATH_MAX];   /* its device node, e.g. "/dev/nvme0n1p1" */
        unsigned partno;          /* 1-based number in the GPT */
        char partuuid[37];        /* the unique GUID, lowercase */
        char type[37];            /* the type GUID, lowercase */
        bool esp_type;            /* of the ESP type */
        bool booted;              /* LoaderDevicePartUUID names it */
        unsigned sector_size;     /* the disk's logical block size */
        uint64_t first_lba, last_lba;
};

/* Lists candidates into out (at most cap; more are left out and named in
 * why). Whole disks are the entries of sysfs_block without a `partition`
 * file, except those of size 0 (loop devices without a file, empty card
 * readers) and RAM disks (ram*, zram*), which hold no GPT; optical drives
 * (sr*) and floppies (fd*) are skipped too. Each disk is opened read-only
 * through devdir/<name> (which must be the block device sysfs names), its
 * logical block size read from queue/logical_block_size, its GPT parsed.
 * A partition's device node is devdir/<child>, where <child> is the sysfs
 * child of the disk whose `partition` file holds its number.
 *
 * want_partuuid (any case, or NULL): when exactly one partition of any type
 * has that unique GUID, it is the only candidate, booted = true. When none
 * or several have it, the ESP-type partitions are listed and why says so.
 * Disks that could not be read or whose GPT was refused are named in why
 * and skipped. *ret_n is written on success (0 candidates is success). */
int esp_find(const char *sysfs_block, const char *devdir, const char *want_partuuid, struct esp_cand *out,
             size_t cap, size_t *ret_n, char *why, size_t whylen);

enum esp_owner {
        ESP_OWNER_BOOTED, /* the partition this boot came from */
        ESP_OWNER_EMBER,  /* /ember exists at its root */
        ESP_OWNER_EMPTY,  /* its root directory has no entries */
};

/* Whether the node may write to the ESP mounted at dirfd: booted, or a
 * directory named ember (in any case: FAT does not keep case) at its root,
 * or nothing at all there. Otherwise -EPERM, why naming what was found
 * (e.g. "EFI/debian, EFI/BOOT"). Returns the enum esp_owner. */
int esp_check_owner(int dirfd, bool booted, char *why, size_t whylen);

/* Mounts c (vfat, rw, nosuid, nodev, noexec, ESP_MOUNT_OPTIONS) on
 * mountpoint (created 0700 if absent) and checks esp_check_owner. 0 with
 * *ret_dirfd the ESP's root and why saying why it is usable; -EPERM (not
 * ours: unmounted again) or another -errno with why saying why. */
int esp_mount(const struct esp_cand *c, const char *mountpoint, int *ret_dirfd, char *why, size_t whylen);

/* syncfs, close dirfd (if >= 0) and unmount mountpoint. 0 or -errno. */
int esp_umount(const char *mountpoint, int dirfd);
