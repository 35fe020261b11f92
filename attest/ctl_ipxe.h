/* SPDX-License-Identifier: Apache-2.0 */
/* `emberctl ipxe script`: the iPXE script of Ember's measured network boot,
 * served as the DHCP boot file (boot.ipxe over TFTP).
 *
 * A NIC's option ROM may carry an old iPXE that hands the kernel its initrd
 * through the initrd= argument, which the kernel does not measure. The
 * script therefore has that iPXE chain-load a current iPXE EFI binary from
 * the boot URL; the current one runs DHCP again, is handed the same script
 * and boots the kernel and the initrd from the boot URL with no initrd= on
 * the kernel's command line: the kernel then loads the initrd through
 * LoadFile2 and measures it, and its command line, into PCR 9. */
#pragma once

#include <stddef.h>

struct ipxe_script_opts {
        const char *boot_url; /* http(s)://HOST[:PORT]/[PATH]: vmlinuz, initrd, the iPXE binary */
        const char *append;   /* the operator's kernel command line */
        const char *ipxe_efi; /* the current iPXE's file name under boot_url */
};

/* The kernel command line (the part before BOOTIF's expansion) must leave
 * room in the kernel's 2048 bytes for iPXE's image name and the MAC. */
#define IPXE_CMDLINE_MAX 1900

/* The script, NUL-terminated, in *ret (malloc'd). 0, or -EINVAL with one
 * line in err naming what was refused (a character the script or the
 * kernel's command line cannot carry, a parameter the script sets itself,
 * initrd=, too long), or -ENOMEM. */
int ipxe_script_build(const struct ipxe_script_opts *o, char **ret, char *err, size_t errlen);

/* `emberctl ipxe …`: argv[0] is "ipxe". Exit status 0, 1 or 2. */
int ipxe_command(int argc, char **argv);
