/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static int kmsg_fd = -1;
static bool to_console;
static bool debug_on;

void log_set_debug(bool on) { debug_on = on; }
bool log_debug_enabled(void) { return debug_on; }

unsigned long long now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (unsigned long long)ts.tv_sec * 1000ULL + (unsigned long long)ts.tv_nsec / 1000000ULL;
}

void log_open_console(bool use_kmsg)
{
        to_console = true;
        if (use_kmsg && kmsg_fd < 0)
                kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);
}

/* The kernel already echoes a /dev/kmsg record to the console when its level
 * is below the console log level; writing the line ourselves as well would
 * print it twice. */
static bool kernel_echoes(enum log_level lvl)
{
        static int console_loglevel = -1;
        if (console_loglevel < 0) {
                FILE *f = fopen("/proc/sys/kernel/printk", "re");
                int v = 0;
                if (f) {
                        if (fscanf(f, "%d", &v) != 1)
                                v = 0;
                        fclose(f);
                }
                if (!f)
                        return false; /* /proc not mounted yet: ask again later */
                console_loglevel = v;
        }
        return (int)lvl < console_loglevel;
}

const char *log_escape(const char *s, char *buf, unsigned buflen)
{
        unsigned o = 0;
        if (buflen == 0)
                return "";
        for (; s && *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c >= 0x20 && c < 0x7f && c != '\\') {
                        if (buflen - o < 2)
                                break;
                        buf[o++] = (char)c;
                } else {
                        if (buflen - o < 5)
                                break;
                        snprintf(buf + o, 5, "\\x%02x", c);
                        o += 4;
                }
        }
        buf[o] = '\0';
        return buf;
}

void log_linev(enum log_level lvl, const char *stage, const char *fmt, va_list ap)
{
        char msg[1024];
        int saved = errno;

        vsnprintf(msg, sizeof(msg), fmt, ap);
        if (!to_console) {
                fprintf(stderr, "%s: %s\n", stage, msg);
                errno = saved;
                return;
        }

        bool echoed = false;
        if (kmsg_fd >= 0) {
                char rec[1200];
                /* facility daemon (3) keeps our records apart from the kernel's */
                int n = snprintf(rec, sizeof(rec), "<%d>ember: %s: %s\n", (3 << 3) | (int)lvl, stage, msg);
                if (n > 0 && write(kmsg_fd, rec, (size_t)n) == n)
                        echoed = kernel_echoes(lvl);
        }
        if (!echoed) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                char line[1200];
                /* the kernel's own format, so echoed and direct lines align */
                int n = snprintf(line, sizeof(line), "[%5lld.%06ld] ember: %s: %s\n", (long long)ts.tv_sec,
                                 ts.tv_nsec / 1000, stage, msg);
                if (n > 0) {
                        (void)!write(STDOUT_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
                        /* The tty queues our line while the kernel prints its
                         * own synchronously; draining keeps the console in
                         * the order things happened. */
                        tcdrain(STDOUT_FILENO);
                }
        }
        errno = saved;
}

void log_line(enum log_level lvl, const char *stage, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        log_linev(lvl, stage, fmt, ap);
        va_end(ap);
}
