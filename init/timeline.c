/* SPDX-License-Identifier: Apache-2.0 */
#include "timeline.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static const char *const result_names[_RESULT_MAX] = {
        [RESULT_PENDING] = "pending",
        [RESULT_OK] = "ok",
        [RESULT_FAILED] = "failed",
        [RESULT_TIMEOUT] = "timeout",
        [RESULT_NOT_IMPLEMENTED] = "not-implemented",
        [RESULT_SKIPPED] = "skipped",
};

const char *stage_result_name(enum stage_result r)
{
        return r < _RESULT_MAX ? result_names[r] : "?";
}

void timeline_init(struct timeline *t, const char *version, const char *kernel)
{
        memset(t, 0, sizeof(*t));
        snprintf(t->version, sizeof(t->version), "%s", version ? version : "");
        snprintf(t->kernel, sizeof(t->kernel), "%s", kernel ? kernel : "");
}

int timeline_begin(struct timeline *t, enum stage s, unsigned long long now)
{
        if (s < 0 || s >= _STAGE_MAX || t->n == _STAGE_MAX)
                return -EINVAL;
        if (t->n > 0) {
                const struct timeline_entry *p = &t->e[t->n - 1];
                if (p->result == RESULT_PENDING || p->stage >= s)
                        return -EINVAL;
        }
        t->e[t->n++] = (struct timeline_entry){ .stage = s, .result = RESULT_PENDING, .start_ms = now, .end_ms = now };
        return 0;
}

int timeline_end(struct timeline *t, enum stage_result r, unsigned long long now, const char *detail)
{
        if (t->n == 0 || r == RESULT_PENDING || r >= _RESULT_MAX)
                return -EINVAL;
        struct timeline_entry *e = &t->e[t->n - 1];
        if (e->result != RESULT_PENDING)
                return -EINVAL;
        e->result = r;
        e->end_ms = now < e->start_ms ? e->start_ms : now;
        snprintf(e->detail, sizeof(e->detail), "%s", detail ? detail : "");
        return 0;
}

const struct timeline_entry *timeline_last(const struct timeline *t)
{
        return t->n ? &t->e[t->n - 1] : NULL;
}

static const char *outcome(const struct timeline *t)
{
        const struct timeline_entry *last = timeline_last(t);
        if (!last)
                return "none";
        if (last->result == RESULT_OK)
                return last->stage == _STAGE_MAX - 1 ? "complete" : "stopped";
        return stage_result_name(last->result);
}

char *timeline_to_json(const struct timeline *t)
{
        json_object *o = json_object_new_object(), *a = json_object_new_array();
        if (!o || !a) {
                json_object_put(o);
                json_object_put(a);
                return NULL;
        }
        json_object_object_add(o, "version", json_object_new_string(t->version));
        json_object_object_add(o, "kernel", json_object_new_string(t->kernel));
        json_object_object_add(o, "outcome", json_object_new_string(outcome(t)));
        for (size_t i = 0; i < t->n; i++) {
                const struct timeline_entry *e = &t->e[i];
                json_object *s = json_object_new_object();
                if (!s)
                        continue;
                json_object_object_add(s, "stage", json_object_new_string(stage_name(e->stage)));
                json_object_object_add(s, "result", json_object_new_string(stage_result_name(e->result)));
                json_object_object_add(s, "start_ms", json_object_new_int64((int64_t)e->start_ms));
                json_object_object_add(s, "duration_ms", json_object_new_int64((int64_t)(e->end_ms - e->start_ms)));
                json_object_object_add(s, "detail", json_object_new_string(e->detail));
                json_object_array_add(a, s);
        }
        json_object_object_add(o, "stages", a);
        const struct timeline_entry *last = timeline_last(t);
        json_object_object_add(o, "total_ms", json_object_new_int64(last ? (int64_t)last->end_ms : 0));
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE);
        char *ret = s ? strdup(s) : NULL;
        json_object_put(o);
        return ret;
}

void timeline_format(const struct timeline *t, void (*emit)(const char *line, void *userdata), void *userdata)
{
        char line[256];
        emit("stage        result           start      took  detail", userdata);
        for (size_t i = 0; i < t->n; i++) {
                const struct timeline_entry *e = &t->e[i];
                snprintf(line, sizeof(line), "%-12s %-15s %6llu.%03llus %5llu ms  %s", stage_name(e->stage),
                         stage_result_name(e->result), e->start_ms / 1000, e->start_ms % 1000,
                         e->end_ms - e->start_ms, e->detail);
                emit(line, userdata);
        }
        const struct timeline_entry *last = timeline_last(t);
        snprintf(line, sizeof(line), "boot %s after %llu.%03llu s since kernel start", outcome(t),
                 last ? last->end_ms / 1000 : 0, last ? last->end_ms % 1000 : 0);
        emit(line, userdata);
}
