/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/* Where lines go. Tools write to stderr only; PID 1 writes to the console
 * and /dev/kmsg. */
void log_open_console(bool use_kmsg);
void log_set_debug(bool on);
bool log_debug_enabled(void);

/* One line: "[  2.345678] ember: <stage>: <message>". */
void log_line(enum log_level lvl, const char *stage, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void log_linev(enum log_level lvl, const char *stage, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

#define log_err(stage, ...) log_line(LOG_LVL_ERR, stage, __VA_ARGS__)
#define log_warn(stage, ...) log_line(LOG_LVL_WARN, stage, __VA_ARGS__)
#define log_info(stage, ...) log_line(LOG_LVL_INFO, stage, __VA_ARGS__)
#define log_debug(stage, ...)                                      \
        do {                                                       \
                if (log_debug_enabled())                           \
                        log_line(LOG_LVL_DEBUG, stage, __VA_ARGS__); \
        } while (0)

/* Copies s into buf, replacing control and non-ASCII bytes with \xNN, so
 * strings from the network or the command line are safe to print. */
const char *log_escape(const char *s, char *buf, unsigned buflen);

/* Monotonic milliseconds since boot. */
unsigned long long now_ms(void);
