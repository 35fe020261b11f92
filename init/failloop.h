/* SPDX-License-Identifier: Apache-2.0 */
/* The failure loop (boot contract step 9): which failed boots count against
 * the image the node booted, and so against its last-known-good entry.
 * Pure policy; PID 1 acts on it (pid1.c) and docs/lkg.md explains it.
 *
 * Environmental failures never count: the node could not get a lease, a
 * server (boot, attestation, overlay) was unreachable, timed out or answered
 * 5xx. Everything else counts: the image's own stages failed (rootfs,
 * mounts, modules), the attestation server refused this boot's evidence (a
 * verdict: not approved, revoked, PCRs that match no image), the overlay was
 * refused (signature, digest, rollback, extraction), rke2 did not start or
 * never became Ready. A kernel or /init that crashes never reaches Ember's
 * code and counts by systemd-boot's own rule. */
#pragma once

#include <stdbool.h>

#include "stage.h"
#include "timeline.h"

/* err: the stage's -errno (0 when unknown, e.g. a child that was killed). */
bool failure_is_environmental(enum stage s, enum stage_result res, int err);

/* The errnos that mean "could not talk to a server", as the stages return
 * them for transport failures and 5xx answers. */
bool errno_is_transport(int err);
