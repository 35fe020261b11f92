/* SPDX-License-Identifier: Apache-2.0 */
/* The real-time clock: held at or after the image's build time, and
 * corrected by an offset an SNTP exchange measured (sntp.h).
 *
 * Each action is split into a pure plan, which takes "now" as an argument
 * and is what the unit tests exercise, and a thin function that reads the
 * clock, follows the plan and sets the clock. Errors are -errno; 'detail'
 * (may be NULL) says what was done or why not. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CLOCK_BUILD_EPOCH_FILE "/etc/ember/build-epoch"
#define CLOCK_EPOCH_MAX 253402300799LL   /* 9999-12-31T23:59:59Z: no build is later */
#define CLOCK_EPOCH_FILE_MAX 64          /* bytes; a longer file is not an epoch */
#define CLOCK_SLEW_MAX_NS 500000000LL    /* below this clock_apply_offset may slew */
#define CLOCK_MIN_ADJUST_NS 1000LL       /* below this an offset is left alone */
#define CLOCK_UTC_STRLEN 32              /* "2026-11-20T10:00:00Z", or "@<seconds>" */
#define CLOCK_OFFSET_STRLEN 24           /* "-9223372036.854775808" and NUL */

/* Decimal seconds since 1970, as image/build-initrd writes them: digits
 * only, at most one trailing newline, no sign, at most CLOCK_EPOCH_MAX.
 * -EBADMSG for anything else but a value too large (-ERANGE). */
int clock_epoch_parse(const char *text, size_t len, int64_t *ret);

/* Reads and parses such a file (-EFBIG when over CLOCK_EPOCH_FILE_MAX). */
int clock_epoch_read(const char *path, int64_t *ret);

/* 1 when a clock reading 'now' is earlier than floor_s and must be set to
 * *ret_set (floor_s exactly), 0 when it is already later. */
int clock_floor_plan(const struct timespec *now, int64_t floor_s, struct timespec *ret_set);

/* The boot-time floor: reads the epoch from epoch_file (normally
 * CLOCK_BUILD_EPOCH_FILE) and, when CLOCK_REALTIME is earlier, sets it to
 * that time. Returns 1 when set, 0 when the clock was already later. Detail
 * e.g. "clock was 2001-01-01T00:00:00Z, set to build time
 * 2026-11-20T10:00:00Z". */
int clock_floor(const char *epoch_file, char *detail, size_t len);

enum clock_action {
        CLOCK_UNCHANGED = 0,  /* |offset| under CLOCK_MIN_ADJUST_NS */
        CLOCK_STEPPED = 1,    /* clock_settime to now + offset */
        CLOCK_SLEWING = 2,    /* the kernel gains or loses the offset gradually */
};

/* What to do with offset_ns at 'now': with allow_slew an offset under
 * CLOCK_SLEW_MAX_NS is slewed, anything larger stepped to *ret_target.
 * -ERANGE when the target would be before 1970 or after CLOCK_EPOCH_MAX. */
int clock_offset_plan(int64_t offset_ns, bool allow_slew, const struct timespec *now,
                      struct timespec *ret_target);

/* Corrects CLOCK_REALTIME by offset_ns (an sntp_result's offset) and
 * returns the enum clock_action taken: offsets under CLOCK_SLEW_MAX_NS are
 * slewed, larger ones stepped.
 *
 * Stepping sets the clock at once and is what a large error needs:
 * certificates are checked against the clock right away. Slewing (adjtimex
 * ADJ_OFFSET_SINGLESHOT, the adjtime(3) mechanism) makes the kernel run the
 * clock 500 ppm fast or slow until the offset is made up, at most 1000 s
 * for the 0.5 s bound: time never jumps and never runs backwards, which is
 * what running workloads want from the periodic corrections, and half a
 * second matters to no certificate. A later call replaces an unfinished
 * slew; a step cancels it. */
int clock_apply_offset(int64_t offset_ns, char *detail, size_t len);

/* The same, but always a step (clock_settime), whatever the size. */
int clock_step(int64_t offset_ns, char *detail, size_t len);

/* UTC as ISO 8601 into buf; returns buf. */
char *clock_format_utc(int64_t s, char buf[static CLOCK_UTC_STRLEN]);
/* A signed nanosecond count as seconds, e.g. "+0.000123456"; returns buf. */
char *clock_format_offset(int64_t ns, char buf[static CLOCK_OFFSET_STRLEN]);
