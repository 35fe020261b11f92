/* SPDX-License-Identifier: Apache-2.0 */
/* emberctl's view of boot reports (report.h): the last boot on `machine
 * list`, the history on `machine show`. The text was escaped by the
 * server before it was stored and is escaped again here, which changes
 * nothing printable. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store.h"

#define CTL_REPORT_HISTORY 20 /* boots `machine show` prints */

/* What `machine list` appends to a machine's line for its last boot:
 * "  last boot: up 5m ago" or "  last boot: failed 2m ago at rke2, 3 in
 * a row: REASON"; "" when it never reported. *failing: its last boot
 * failed or was refused. 0, or -errno from the store. */
int ctl_report_last(struct store *s, const char *machine_id, int64_t now, char *out, size_t len, bool *failing);

/* `machine show`'s boot history: a "boots:" line, then one line per boot,
 * newest first, up to CTL_REPORT_HISTORY. 0, or -errno from the store. */
int ctl_report_history(struct store *s, const char *machine_id, int64_t now, FILE *f);
