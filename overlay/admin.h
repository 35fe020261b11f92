/* SPDX-License-Identifier: Apache-2.0 */
/* The attestation server's side of sealed overlays, for emberctl:
 *
 *   emberctl overlay register FILE --data-key KEYFILE [--url URL] [--signer PUB.pem]
 *   emberctl overlay assign OVERLAY-ID (--machine ID | --group NAME | --default)
 *   emberctl overlay unassign (--machine ID | --group NAME | --default)
 *   emberctl overlay list
 *
 * register checks the file (header, sizes, the ciphertext digest its
 * header signed, the data key's id, and the signature when --signer is
 * given), then keeps the key in the database and the file under
 * <server dir>/overlays/ for POST /v1/overlay — or, with --url, only where
 * nodes fetch it instead (any HTTP(S) server or CDN: the blob is encrypted
 * and signed). A serial at or below the registered one is refused. */
#pragma once

#include <stdbool.h>

#include "store.h"

/* Is sub one of the subcommands above? */
bool overlay_admin_handles(const char *sub);

/* argv[0] is the subcommand; db_path locates the server directory.
 * Exit status 0, 1 or 2. */
int overlay_admin_command(struct store *s, const char *db_path, int argc, char **argv);
