/* SPDX-License-Identifier: Apache-2.0 */
#include "ctl_report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"
#include "util.h"

#define LIST_REASON_MAX 80 /* bytes of a reason on a `machine list` line */

static void iso_time(int64_t t, char out[24])
{
        time_t tt = (time_t)t;
        struct tm tm;
        if (!gmtime_r(&tt, &tm) || strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(out, 24, "%" PRId64, t);
}

/* "12s ago", "5m ago", "3h ago", "2d ago" */
static void age(int64_t now, int64_t t, char out[24])
{
        int64_t d = now > t ? now - t : 0;
        if (d < 120)
                snprintf(out, 24, "%" PRId64 "s ago", d);
        else if (d < 2 * 3600)
                snprintf(out, 24, "%" PRId64 "m ago", d / 60);
        else if (d < 2 * 86400)
                snprintf(out, 24, "%" PRId64 "h ago", d / 3600);
        else
                snprintf(out, 24, "%" PRId64 "d ago", d / 86400);
}

static bool failing(const struct report_rec *r)
{
        return !streq(r->outcome, "up");
}

int ctl_report_last(struct store *s, const char *machine_id, int64_t now, char *out, size_t len, bool *ret_failing)
{
        struct report_rec *r = malloc(sizeof(*r));
        char when[24], reason[STORE_REPORT_TEXT], stage[STORE_REPORT_NAME + 4];
        if (!r)
                return -ENOMEM;
        int k = s->ops->report_latest(s, machine_id, r);
        if (k == -ENOENT) {
                snprintf(out, len, "%s", "");
                *ret_failing = false;
                free(r);
                return 0;
        }
        if (k < 0) {
                free(r);
                return k;
        }
        age(now, r->received, when);
        *ret_failing = failing(r);
        if (!*ret_failing) {
                snprintf(out, len, "  last boot: up %s", when);
        } else {
                size_t n = report_escape(r->reason, strlen(r->reason), reason, sizeof(reason));
                if (n > LIST_REASON_MAX)
                        snprintf(reason + LIST_REASON_MAX - 3, 4, "...");
                snprintf(stage, sizeof(stage), " at %s", r->failed_stage[0] ? r->failed_stage : "?");
                snprintf(out, len, "  last boot: %s %s%s, %" PRIu32 " in a row%s%s", r->outcome, when, stage,
                         r->consecutive_failures, reason[0] ? ": " : "", reason);
        }
        free(r);
        return 0;
}

struct history {
        FILE *f;
        unsigned n;
};

static int print_boot(const struct report_rec *r, void *ud)
{
        struct history *h = ud;
        char when[24], reason[STORE_REPORT_TEXT], detail[STORE_REPORT_TEXT];
        uint64_t total = report_total_ms(r);
        iso_time(r->received, when);
        report_escape(r->reason, strlen(r->reason), reason, sizeof(reason));
        report_escape(r->lkg_detail, strlen(r->lkg_detail), detail, sizeof(detail));
        if (h->n++ == 0)
                fprintf(h->f, "  %-20s  %-7s  %-36s  %-9s  %-9s  %-8s  %11s  %-8s  %s\n", "received", "outcome", "boot",
                        "stage", "lkg", "lkg-boot", "total", "failures", "reason");
        fprintf(h->f, "  %-20s  %-7s  %-36s  %-9s  %-9s  %-8s  %8" PRIu64 ".%01" PRIu64 "s  %-8" PRIu32 "  %s%s%s%s\n",
                when, r->outcome, r->boot_id, r->failed_stage[0] ? r->failed_stage : "-", r->lkg[0] ? r->lkg : "-",
                r->lkg_boot ? "yes" : "no", total / 1000, total % 1000 / 100, r->consecutive_failures,
                reason[0] ? reason : "-", detail[0] ? " [lkg: " : "", detail, detail[0] ? "]" : "");
        return 0;
}

int ctl_report_history(struct store *s, const char *machine_id, int64_t now, FILE *f)
{
        struct history h = { .f = f };
        struct report_rec *last = malloc(sizeof(*last));
        char when[24];
        if (!last)
                return -ENOMEM;
        int k = s->ops->report_latest(s, machine_id, last);
        if (k == -ENOENT) {
                fprintf(f, "boots:         none reported\n");
                free(last);
                return 0;
        }
        if (k == 0) {
                age(now, last->received, when);
                fprintf(f, "boots:         last %s %s; newest first, at most %d:\n", last->outcome, when,
                        CTL_REPORT_HISTORY);
                k = s->ops->report_list(s, machine_id, CTL_REPORT_HISTORY, print_boot, &h);
        }
        free(last);
        return k;
}
