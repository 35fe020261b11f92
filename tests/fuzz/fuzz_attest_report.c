/* SPDX-License-Identifier: Apache-2.0 */
/* The body of POST /v1/report, as the server parses it once the proof by E
 * checked out: any bytes parse or fail cleanly with a printable reason;
 * what parses is printable ASCII, within the store's bounds, and what the
 * node's builder makes of it parses back to the same report. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

static void printable(const char *s, size_t max)
{
        size_t n = strnlen(s, max);
        if (n == max)
                __builtin_trap();
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
                        __builtin_trap();
}

/* The report as a node would have built it: only when its text fits. */
static void rebuild(const struct report_rec *r)
{
        static struct boot_report b;
        static struct report_rec again;
        char *json = NULL;
        if (strlen(r->reason) > REPORT_TEXT_MAX || strlen(r->lkg_detail) > REPORT_TEXT_MAX)
                return;
        memset(&b, 0, sizeof(b));
        snprintf(b.boot_id, sizeof(b.boot_id), "%s", r->boot_id);
        b.up = strcmp(r->outcome, "up") == 0;
        snprintf(b.failed_stage, sizeof(b.failed_stage), "%s", r->failed_stage);
        snprintf(b.reason, sizeof(b.reason), "%s", r->reason);
        b.lkg = r->lkg;
        snprintf(b.lkg_detail, sizeof(b.lkg_detail), "%s", r->lkg_detail);
        b.lkg_boot = r->lkg_boot;
        b.consecutive_failures = r->consecutive_failures;
        b.n_timeline = r->n_timeline;
        for (size_t i = 0; i < r->n_timeline; i++) {
                snprintf(b.timeline[i].stage, sizeof(b.timeline[i].stage), "%s", r->timeline[i].stage);
                snprintf(b.timeline[i].result, sizeof(b.timeline[i].result), "%s", r->timeline[i].result);
                b.timeline[i].ms = r->timeline[i].ms;
        }
        if (boot_report_json(&b, &json) < 0 || report_parse(json, strlen(json), &again, NULL, 0) < 0 ||
            memcmp(&again, r, sizeof(again)) != 0)
                __builtin_trap();
        free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct report_rec r;
        char why[300];
        memset(&r, 0, sizeof(r));
        why[0] = '\0';
        if (report_parse((const char *)data, size, &r, why, sizeof(why)) < 0) {
                printable(why, sizeof(why));
                return 0;
        }
        printable(r.reason, sizeof(r.reason));
        printable(r.lkg_detail, sizeof(r.lkg_detail));
        if (r.n_timeline > REPORT_TIMELINE_MAX || r.machine_id[0] || r.received)
                __builtin_trap();
        rebuild(&r);
        return 0;
}
