/* SPDX-License-Identifier: Apache-2.0 */
/* A boot as PID 1 recorded it (timeline.h) turned into the boot report it
 * sends the attestation server at the end of the boot (attest/report.h:
 * boot_report_json() makes the body, attest_report_send() sends it with
 * the credential and E the attest stage left in ATTEST_STATE_DIR). */
#pragma once

#include <stddef.h>

#include "report.h"
#include "timeline.h"

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

/* Fills r's outcome (up, failed_stage, reason) and timeline from t, and
 * leaves the rest (boot_id, lkg, lkg_detail, lkg_boot,
 * consecutive_failures) to the caller:
 *   * a stage that failed, timed out or is not implemented makes the boot
 *     failed, the first such stage its failed_stage and its detail the
 *     reason; but the lkg stage never does: the node is up, and its
 *     failure goes into lkg ("failed", with the detail) when r->lkg is
 *     still NULL;
 *   * every stage is in the timeline, with how long it took (0 while
 *     pending).
 * t has at most _STAGE_MAX entries, fewer than REPORT_TIMELINE_MAX. */
void boot_report_from_timeline(struct boot_report *r, const struct timeline *t);

/* This boot's id (the kernel's random boot_id) from path (NULL:
 * BOOT_ID_PATH) into out. 0 or -errno (-EBADMSG: not a UUID). */
int boot_report_read_boot_id(const char *path, char out[STORE_ID_LEN]);
