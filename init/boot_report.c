/* SPDX-License-Identifier: Apache-2.0 */
#include "boot_report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "util.h"
#include "uuid.h"

static bool stage_failed(enum stage_result r)
{
        return r == RESULT_FAILED || r == RESULT_TIMEOUT || r == RESULT_NOT_IMPLEMENTED;
}

void boot_report_from_timeline(struct boot_report *r, const struct timeline *t)
{
        r->up = true;
        r->failed_stage[0] = r->reason[0] = '\0';
        r->n_timeline = 0;
        for (size_t i = 0; i < t->n && i < _STAGE_MAX && r->n_timeline < REPORT_TIMELINE_MAX; i++) {
                const struct timeline_entry *e = &t->e[i];
                struct boot_report_stage *st = &r->timeline[r->n_timeline++];
                snprintf(st->stage, sizeof(st->stage), "%s", stage_name(e->stage));
                snprintf(st->result, sizeof(st->result), "%s", stage_result_name(e->result));
                st->ms = e->result == RESULT_PENDING || e->end_ms < e->start_ms ? 0 : e->end_ms - e->start_ms;
                if (!stage_failed(e->result))
                        continue;
                if (e->stage == STAGE_LKG) {
                        if (!r->lkg) {
                                r->lkg = BOOT_REPORT_LKG_FAILED;
                                snprintf(r->lkg_detail, sizeof(r->lkg_detail), "%s", e->detail);
                        }
                } else if (r->up) {
                        r->up = false;
                        snprintf(r->failed_stage, sizeof(r->failed_stage), "%s", stage_name(e->stage));
                        /* "timeout: …", "not-implemented": a plain failure is said by its detail */
                        if (e->result == RESULT_FAILED && e->detail[0])
                                snprintf(r->reason, sizeof(r->reason), "%s", e->detail);
                        else
                                snprintf(r->reason, sizeof(r->reason), "%s%s%s", stage_result_name(e->result),
                                         e->detail[0] ? ": " : "", e->detail);
                }
        }
}

int boot_report_read_boot_id(const char *path, char out[STORE_ID_LEN])
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        uint8_t b[16];
        int k = read_file_all(path ? path : BOOT_ID_PATH, 128, &text, &len);
        if (k < 0)
                return k;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
                text[--len] = '\0';
        if (len != 36 || uuid_parse(text, b) < 0)
                return -EBADMSG;
        memcpy(out, text, 37);
        return 0;
}
