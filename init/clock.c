/* SPDX-License-Identifier: Apache-2.0 */
/* Setting the real-time clock: plans that are pure functions of "now",
 * and the system calls that carry them out. */
#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <sys/timex.h>

#include "fileio.h"
#include "util.h"

#define NS_PER_S 1000000000LL
#define NS_PER_US 1000LL

char *clock_format_utc(int64_t s, char buf[static CLOCK_UTC_STRLEN])
{
        time_t t = (time_t)s;
        struct tm tm;

        if ((int64_t)t != s || !gmtime_r(&t, &tm) ||
            strftime(buf, CLOCK_UTC_STRLEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, CLOCK_UTC_STRLEN, "@%lld", (long long)s);
        return buf;
}

char *clock_format_offset(int64_t ns, char buf[static CLOCK_OFFSET_STRLEN])
{
        /* the magnitude as unsigned: -INT64_MIN does not exist */
        uint64_t m = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;
        snprintf(buf, CLOCK_OFFSET_STRLEN, "%c%llu.%09llu", ns < 0 ? '-' : '+',
                 (unsigned long long)(m / NS_PER_S), (unsigned long long)(m % NS_PER_S));
        return buf;
}

/* ---- the build-time floor ----------------------------------------------- */

int clock_epoch_parse(const char *text, size_t len, int64_t *ret)
{
        int64_t v = 0;

        if (!text || !ret)
                return -EINVAL;
        if (len > 0 && text[len - 1] == '\n')
                len--;
        if (len == 0)
                return -EBADMSG;
        for (size_t i = 0; i < len; i++) {
                if (text[i] < '0' || text[i] > '9')
                        return -EBADMSG;
                int d = text[i] - '0';
                /* checked before multiplying: never overflows */
                if (v > (CLOCK_EPOCH_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

int clock_epoch_read(const char *path, int64_t *ret)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        if (!path || !ret)
                return -EINVAL;
        r = read_file_all(path, CLOCK_EPOCH_FILE_MAX, &text, &len);
        if (r < 0)
                return r;
        return clock_epoch_parse(text, len, ret);
}

int clock_floor_plan(const struct timespec *now, int64_t floor_s, struct timespec *ret_set)
{
        if (!now || !ret_set || floor_s < 0 || floor_s > CLOCK_EPOCH_MAX)
                return -EINVAL;
        if ((int64_t)now->tv_sec >= floor_s)
                return 0;
        *ret_set = (struct timespec){ .tv_sec = (time_t)floor_s, .tv_nsec = 0 };
        return 1;
}

static const char *epoch_error(int r)
{
        switch (r) {
        case -EBADMSG: return "not a decimal number of seconds";
        case -ERANGE: return "beyond the year 9999";
        case -EFBIG: return "too long for an epoch";
        default: return strerror(-r);
        }
}

int clock_floor(const char *epoch_file, char *detail, size_t len)
{
        char was[CLOCK_UTC_STRLEN], to[CLOCK_UTC_STRLEN];
        struct timespec now, set;
        int64_t floor_s;
        int r;

        if (!epoch_file)
                return -EINVAL;
        r = clock_epoch_read(epoch_file, &floor_s);
        if (r < 0) {
                if (detail && len)
                        snprintf(detail, len, "%s: %s", epoch_file, epoch_error(r));
                return r;
        }
        if (clock_gettime(CLOCK_REALTIME, &now) < 0)
                return negative_errno();
        r = clock_floor_plan(&now, floor_s, &set);
        if (r < 0)
                return r;
        clock_format_utc(now.tv_sec, was);
        clock_format_utc(floor_s, to);
        if (r == 0) {
                if (detail && len)
                        snprintf(detail, len, "clock %s is not before build time %s", was, to);
                return 0;
        }
        if (clock_settime(CLOCK_REALTIME, &set) < 0) {
                r = negative_errno();
                if (detail && len)
                        snprintf(detail, len, "clock %s is before build time %s, setting it failed: %s",
                                 was, to, strerror(-r));
                return r;
        }
        if (detail && len)
                snprintf(detail, len, "clock was %s, set to build time %s", was, to);
        return 1;
}

/* ---- offsets ------------------------------------------------------------ */

int clock_offset_plan(int64_t offset_ns, bool allow_slew, const struct timespec *now,
                      struct timespec *ret_target)
{
        if (!now || !ret_target || now->tv_nsec < 0 || now->tv_nsec >= NS_PER_S)
                return -EINVAL;
        if (offset_ns > -CLOCK_MIN_ADJUST_NS && offset_ns < CLOCK_MIN_ADJUST_NS)
                return CLOCK_UNCHANGED;
        if (allow_slew && offset_ns > -CLOCK_SLEW_MAX_NS && offset_ns < CLOCK_SLEW_MAX_NS)
                return CLOCK_SLEWING;
        /* floor division keeps the nanoseconds in [0, 1e9) for negative offsets */
        int64_t secs = offset_ns / NS_PER_S, nsec = offset_ns % NS_PER_S;
        if (nsec < 0) {
                secs--;
                nsec += NS_PER_S;
        }
        nsec += now->tv_nsec;
        if (nsec >= NS_PER_S) {
                secs++;
                nsec -= NS_PER_S;
        }
        /* |secs| is at most ~9.3e9 and tv_sec is a real clock reading:
         * compared before adding so nothing overflows */
        int64_t cur = (int64_t)now->tv_sec;
        if (cur < -CLOCK_EPOCH_MAX || cur > CLOCK_EPOCH_MAX || cur + secs < 0 ||
            cur + secs > CLOCK_EPOCH_MAX)
                return -ERANGE;
        *ret_target = (struct timespec){ .tv_sec = (time_t)(cur + secs), .tv_nsec = (long)nsec };
        return CLOCK_STEPPED;
}

static int slew(int64_t offset_ns, char *detail, size_t len)
{
        char off[CLOCK_OFFSET_STRLEN];
        /* adjtime(3) semantics: the offset is in microseconds whatever ADJ_NANO says */
        struct timex tx = { .modes = ADJ_OFFSET_SINGLESHOT, .offset = (long)(offset_ns / NS_PER_US) };

        if (adjtimex(&tx) < 0)
                return negative_errno();
        if (detail && len)
                snprintf(detail, len, "slewing by %s s at 500 ppm (about %lld s)",
                         clock_format_offset(offset_ns, off),
                         (long long)((offset_ns < 0 ? -offset_ns : offset_ns) / 500000 + 1));
        return CLOCK_SLEWING;
}

static int apply(int64_t offset_ns, bool allow_slew, char *detail, size_t len)
{
        char off[CLOCK_OFFSET_STRLEN], to[CLOCK_UTC_STRLEN];
        struct timespec now, target;
        int r;

        if (clock_gettime(CLOCK_REALTIME, &now) < 0)
                return negative_errno();
        r = clock_offset_plan(offset_ns, allow_slew, &now, &target);
        if (r < 0) {
                if (detail && len)
                        snprintf(detail, len, "offset %s s would leave the clock outside 1970..9999",
                                 clock_format_offset(offset_ns, off));
                return r;
        }
        if (r == CLOCK_UNCHANGED) {
                if (detail && len)
                        snprintf(detail, len, "offset %s s is too small to act on",
                                 clock_format_offset(offset_ns, off));
                return r;
        }
        if (r == CLOCK_SLEWING)
                return slew(offset_ns, detail, len);
        /* the time between reading and setting is lost: microseconds,
         * well inside what SNTP can measure */
        if (clock_settime(CLOCK_REALTIME, &target) < 0) {
                r = negative_errno();
                if (detail && len)
                        snprintf(detail, len, "stepping the clock by %s s failed: %s",
                                 clock_format_offset(offset_ns, off), strerror(-r));
                return r;
        }
        if (detail && len)
                snprintf(detail, len, "stepped the clock by %s s to %s", clock_format_offset(offset_ns, off),
                         clock_format_utc(target.tv_sec, to));
        return CLOCK_STEPPED;
}

int clock_apply_offset(int64_t offset_ns, char *detail, size_t len)
{
        return apply(offset_ns, true, detail, len);
}

int clock_step(int64_t offset_ns, char *detail, size_t len)
{
        return apply(offset_ns, false, detail, len);
}
