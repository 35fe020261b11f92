/* SPDX-License-Identifier: Apache-2.0 */
/* A site's image: Ember's generic initrd followed by a small uncompressed
 * cpio of what one site's nodes must know before they can trust anything
 * on the network, today the attestation server's key pins and CA:
 *
 *   /etc/ember/attest.pins    one "sha256//BASE64" a line
 *   /etc/ember/attest-ca.pem  the CA(s) the server's certificate chains to
 *   /etc/ember/overlay-signers.pem  the keys that may sign its overlays
 *   /etc/ember/release-signers.pem  the keys that may sign its release
 *                                   manifests (docs/release-manifest.md)
 *
 * The kernel unpacks concatenated cpio archives in order, so these files
 * land in the node's root beside the generic image's. Because they are part
 * of the one initrd file the boot loader loads, they are measured with it
 * (PCR 9): a site's image is a distinct image with its own reference
 * values, and a node cannot be pointed at another server without changing
 * what it attests. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct site_config {
        const char *pins[16]; /* each "sha256//BASE64" */
        size_t n_pins;
        const char *ca_path;  /* PEM, one or more certificates; NULL for none */
        /* PEM files of the public keys that may sign the site's overlays
         * (/etc/ember/overlay-signers.pem, all of them concatenated) */
        const char *signers[16];
        size_t n_signers;
        /* PEM files of the public keys that may sign its release manifests
         * (/etc/ember/release-signers.pem, all of them concatenated) */
        const char *release_signers[16];
        size_t n_release_signers;
};

/* Writes initrd_in + zero padding to 4 bytes + the site cpio to out,
 * atomically (nothing at out until complete). Every entry's time is mtime.
 * 0, or -errno with one line in err (a bad pin, a CA that is not PEM
 * certificates, neither pin nor CA, I/O). */
int site_build(const char *initrd_in, const struct site_config *c, const char *out, int64_t mtime, char *err,
               size_t errlen);

/* `emberctl image site …`: argv[0] is "site". Exit status 0, 1 or 2. */
int site_command(int argc, char **argv);
