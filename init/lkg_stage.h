/* SPDX-License-Identifier: Apache-2.0 */
/* The lkg stage of PID 1 (step 10 of the boot contract): a node that came
 * up keeps what it booted on its ESP as the last-known-good.
 *
 * Booted from the network: fetches the release manifest and its signature
 * from ember.boot_url, checks the signature against the signers the image
 * pins, fetches kernel and initrd again (sizes capped, sha256 checked while
 * downloading), checks that they are what booted by the TPM event log (PCR 4
 * holds the kernel's Authenticode digest, PCR 9 the initrd's sha256), finds
 * an ESP it may write to, mounts it for the commit only and commits
 * (efi/lkg.c).
 *
 * Booted its LKG from the ESP (LoaderEntrySelected is Ember's): blesses the
 * entry systemd-boot counted; nothing else is written.
 *
 * Never fails the boot: the node is Ready by now. docs/lkg.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define LKG_SIGNERS_PATH "/etc/ember/release-signers.pem"
#define LKG_EVENTLOG_PATH "/sys/kernel/security/tpm0/binary_bios_measurements"
#define LKG_WORK_DIR "/run/ember/lkg"
#define LKG_ESP_MOUNT "/run/ember/esp"

/* lkg_stage_run's return when there was nothing it could do (not an error
 * of the node's: no boot URL, no ESP of Ember's, a legacy-BIOS boot…). */
#define LKG_STAGE_SKIPPED 1

struct lkg_stage_opts {
        const char *boot_url;     /* ember.boot_url, or NULL */
        const char *proxy;        /* ember.proxy, or NULL */
        const char *cmdline;      /* what the kernel booted with: the entry's options */
        const char *booted_entry; /* LoaderEntrySelected, or NULL */
        const char *partuuid;     /* LoaderDevicePartUUID, or NULL */
        /* NULL: the defaults above, /sys/class/block and /dev */
        const char *signers, *eventlog, *work_dir, *mountpoint, *sysfs_block, *dev_dir;
        unsigned long long deadline_ms; /* CLOCK_MONOTONIC; 0: none */
};

/* 0 (committed, unchanged or blessed: detail says which, beginning with that
 * word), LKG_STAGE_SKIPPED (detail says why), or -errno (detail says why). */
int lkg_stage_run(const struct lkg_stage_opts *o, char *detail, size_t len);

/* Mounts the ESP the node booted from and gives back the try systemd-boot
 * counted for booted_entry (lkg_uncount). 1 renamed, 0 nothing to do,
 * -errno. */
int lkg_stage_uncount(const struct lkg_stage_opts *o, char *detail, size_t len);

/* The word lkg_stage_run's detail begins with ("committed", "unchanged",
 * "blessed"), for reports; "none" for anything else. */
const char *lkg_stage_outcome_word(const char *detail);
