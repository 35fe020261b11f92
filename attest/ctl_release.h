/* SPDX-License-Identifier: Apache-2.0 */
/* `emberctl release …`: make, verify and inspect signed release manifests
 * (docs/release-manifest.md, efi/manifest.h). No database: they read and
 * write files only. */
#pragma once

/* argv[0] is "release". Exit status 0 done, 1 failed, 2 bad usage. */
int release_command(int argc, char **argv);
