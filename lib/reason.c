/* SPDX-License-Identifier: Apache-2.0 */
#include "reason.h"

#include <stdarg.h>
#include <stdio.h>

int reason_fail(const struct reason *w, int err, const char *fmt, ...)
{
        if (w && w->buf && w->len > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(w->buf, w->len, fmt, ap);
                va_end(ap);
        }
        return err;
}
