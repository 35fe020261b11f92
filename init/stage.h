/* SPDX-License-Identifier: Apache-2.0 */
/* The boot stages of DESIGN.md's boot contract, in order. */
#pragma once

enum stage {
        STAGE_EARLY,   /* /proc, /dev, the command line */
        STAGE_ROOTFS,  /* initrd copied onto a sized tmpfs, moved over / */
        STAGE_MOUNTS,  /* /sys, /run, securityfs, cgroup2, efivarfs … */
        STAGE_MODULES, /* kernel modules from the initrd */
        STAGE_NETWORK, /* DHCPv4 or static ip= */
        STAGE_ATTEST,  /* TPM remote attestation */
        STAGE_OVERLAY, /* sealed configuration overlay */
        STAGE_RKE2,    /* start and supervise rke2 */
        STAGE_READY,   /* Node Ready in the cluster */
        STAGE_LKG,     /* commit the booted image to the ESP */
        _STAGE_MAX,
        _STAGE_INVALID = -1,
};

const char *stage_name(enum stage s);
enum stage stage_from_name(const char *name);
/* Default time limit of each stage, in seconds. */
unsigned stage_default_timeout_s(enum stage s);
