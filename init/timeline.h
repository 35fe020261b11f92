/* SPDX-License-Identifier: Apache-2.0 */
/* The boot timeline: one record per stage, written to /run/ember/boot.json
 * and printed as a table at the end of every boot, good or bad. */
#pragma once

#include <stddef.h>

#include "stage.h"

enum stage_result {
        RESULT_PENDING,
        RESULT_OK,
        RESULT_FAILED,
        RESULT_TIMEOUT,
        RESULT_NOT_IMPLEMENTED,
        RESULT_SKIPPED,
        _RESULT_MAX,
};

struct timeline_entry {
        enum stage stage;
        enum stage_result result;
        unsigned long long start_ms, end_ms; /* monotonic, since kernel start */
        char detail[320];
};

struct timeline {
        struct timeline_entry e[_STAGE_MAX];
        size_t n;
        char version[32];
        char kernel[65];
};

const char *stage_result_name(enum stage_result r);

void timeline_init(struct timeline *t, const char *version, const char *kernel);
/* Opens the record of a stage; -EINVAL if the stage is out of order or the
 * previous one is still open. */
int timeline_begin(struct timeline *t, enum stage s, unsigned long long now);
int timeline_end(struct timeline *t, enum stage_result r, unsigned long long now, const char *detail);
const struct timeline_entry *timeline_last(const struct timeline *t);

/* JSON document (caller frees). */
char *timeline_to_json(const struct timeline *t);
/* The table, one line at a time, through emit(). */
void timeline_format(const struct timeline *t, void (*emit)(const char *line, void *userdata), void *userdata);
