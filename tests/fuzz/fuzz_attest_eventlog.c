/* SPDX-License-Identifier: Apache-2.0 */
/* Event logs a node sends the verifier: any bytes parse or fail with a
 * reason; whatever parses keeps every event inside the log, replays in every
 * bank it declares (or says why not) and lists without reading astray. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventlog.h"

static void check(const struct evlog *log, size_t size)
{
        size_t prev_end = 0;
        if (log->len != size || log->n_events == 0 || log->n_events > EVLOG_MAX_EVENTS)
                __builtin_trap();
        for (size_t i = 0; i < log->n_events; i++) {
                const struct evlog_event *ev = &log->events[i];
                if (ev->offset != prev_end || ev->data < log->bytes || ev->data_len > EVLOG_MAX_EVENT_DATA ||
                    (size_t)(ev->data - log->bytes) + ev->data_len > size)
                        __builtin_trap();
                prev_end = (size_t)(ev->data - log->bytes) + ev->data_len;
        }
        if (prev_end != size)
                __builtin_trap(); /* every byte belongs to an event */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static FILE *devnull;
        struct evlog *log = NULL;
        char why[256];

        if (!devnull)
                devnull = fopen("/dev/null", "w");
        why[0] = 0;
        if (evlog_parse(data, size, &log, why, sizeof(why)) < 0) {
                if (!why[0] || log)
                        __builtin_trap();
                return 0;
        }
        check(log, size);
        for (size_t s = 0; s < log->spec.n_algs; s++) {
                struct evlog_pcrs p;
                int r = evlog_replay(log, log->spec.algs[s].id, &p, why, sizeof(why));
                if (r < 0 && r != -EBADMSG && r != -EOPNOTSUPP)
                        __builtin_trap();
                if (r == 0 && (p.extended >> EVLOG_PCRS) != 0)
                        __builtin_trap();
        }
        for (size_t i = 0; i < log->n_events; i++) {
                char text[96];
                if (evlog_describe(log, i, text, sizeof(text)) < 0 || strlen(text) >= sizeof(text))
                        __builtin_trap();
        }
        if (devnull)
                evlog_print(log, devnull);
        evlog_free(log);
        return 0;
}
