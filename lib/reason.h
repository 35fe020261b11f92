/* SPDX-License-Identifier: Apache-2.0 */
/* Where a parser or checker writes why it refused something: a caller's
 * buffer, which may be absent. */
#pragma once

#include <stddef.h>

struct reason {
        char *buf; /* may be NULL */
        size_t len;
};

/* Formats the reason into w (when there is one) and returns err, so a
 * refusal reads `return reason_fail(&w, -EBADMSG, "…", …);`. */
int reason_fail(const struct reason *w, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
