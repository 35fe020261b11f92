/* SPDX-License-Identifier: Apache-2.0 */
#include "supervise.h"

#include <fcntl.h>
#include <linux/watchdog.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static void handled_signals(sigset_t *set)
{
        sigemptyset(set);
        sigaddset(set, SIGCHLD);
        sigaddset(set, SIGTERM);
        sigaddset(set, SIGINT);
        sigaddset(set, SIGHUP);
        sigaddset(set, SIGPWR);
}

int loop_init(struct loop *l)
{
        sigset_t set;
        *l = (struct loop){ .sfd = -1, .wdt_fd = -1, .watch_fd = -1 };
        handled_signals(&set);
        if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                return negative_errno();
        l->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        return l->sfd < 0 ? negative_errno() : 0;
}

void loop_done(struct loop *l)
{
        if (l->sfd >= 0)
                close(l->sfd);
        l->sfd = -1;
}

int loop_add(struct loop *l, struct child *c)
{
        if (l->nchildren == SUPERVISE_MAX_CHILDREN)
                return -ENOSPC;
        if (!c->backoff_min_ms)
                c->backoff_min_ms = 1000;
        if (!c->backoff_max_ms)
                c->backoff_max_ms = 60000;
        c->backoff_ms = c->backoff_min_ms;
        l->children[l->nchildren++] = c;
        return 0;
}

void loop_remove(struct loop *l, struct child *c)
{
        for (unsigned i = 0; i < l->nchildren; i++)
                if (l->children[i] == c) {
                        l->children[i] = l->children[--l->nchildren];
                        return;
                }
}

int child_spawn(struct loop *l, struct child *c)
{
        pid_t pid = fork();
        if (pid < 0)
                return negative_errno();
        if (pid == 0) {
                sigset_t set;
                handled_signals(&set);
                sigprocmask(SIG_UNBLOCK, &set, NULL);
                if (l->wdt_fd >= 0)
                        close(l->wdt_fd); /* only PID 1 feeds it */
                close(l->sfd);
                _exit(c->start(c, c->userdata) & 0xff);
        }
        c->pid = pid;
        c->started_at = now_ms();
        c->exited = false;
        c->timed_out = false;
        c->restart_at = 0;
        return 0;
}

static struct child *find_child(struct loop *l, pid_t pid)
{
        for (unsigned i = 0; i < l->nchildren; i++)
                if (l->children[i]->pid == pid)
                        return l->children[i];
        return NULL;
}

static void child_exited(struct loop *l, struct child *c, int status)
{
        c->pid = 0;
        c->exited = true;
        c->last_status = status;
        if (c->on_exit)
                c->on_exit(c, status, c->userdata); /* its own report first, then the decision */
        if (c->stable_ms && now_ms() - c->started_at >= c->stable_ms) {
                c->restarts = 0;
                c->backoff_ms = c->backoff_min_ms;
        }
        if (c->restart && !c->failed && !l->stopping) {
                if (c->max_restarts && c->restarts >= c->max_restarts) {
                        c->failed = true;
                        log_err("supervise", "%s keeps failing (%u restarts), giving up", c->name, c->restarts);
                } else {
                        c->restart_at = now_ms() + c->backoff_ms;
                        log_warn("supervise", "%s exited (%s %d), restarting in %u ms", c->name,
                                 WIFEXITED(status) ? "status" : "signal",
                                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), c->backoff_ms);
                        c->backoff_ms = c->backoff_ms * 2 > c->backoff_max_ms ? c->backoff_max_ms : c->backoff_ms * 2;
                }
        }
}

/* Reaps until nothing is left: a PID 1 inherits every orphan. */
static void reap(struct loop *l)
{
        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);
                if (pid <= 0)
                        return;
                struct child *c = find_child(l, pid);
                if (c)
                        child_exited(l, c, status);
                else
                        l->reaped_orphans++;
        }
}

static void handle_signal(struct loop *l)
{
        struct signalfd_siginfo si;
        while (read(l->sfd, &si, sizeof(si)) == sizeof(si)) {
                switch (si.ssi_signo) {
                case SIGCHLD:
                        reap(l);
                        break;
                case SIGTERM:
                case SIGPWR:
                        log_info("supervise", "SIGTERM received: powering off");
                        l->request = REQUEST_POWEROFF;
                        break;
                case SIGINT:
                        log_info("supervise", "ctrl-alt-del: rebooting");
                        l->request = REQUEST_REBOOT;
                        break;
                default:
                        log_debug("supervise", "signal %u ignored", si.ssi_signo);
                }
        }
}

static unsigned long long next_event(struct loop *l, unsigned long long until)
{
        unsigned long long next = until;
        for (unsigned i = 0; i < l->nchildren; i++) {
                struct child *c = l->children[i];
                if (c->restart_at && (!next || c->restart_at < next))
                        next = c->restart_at;
                if (c->pid && c->deadline && (!next || c->deadline < next))
                        next = c->deadline;
        }
        if (l->wdt_fd >= 0 && !l->wdt_paused && (!next || l->wdt_next < next))
                next = l->wdt_next;
        return next;
}

static void timers(struct loop *l, unsigned long long now)
{
        if (l->wdt_fd >= 0 && !l->wdt_paused && now >= l->wdt_next) {
                if (ioctl(l->wdt_fd, WDIOC_KEEPALIVE, 0) < 0)
                        log_warn("watchdog", "feeding the watchdog failed: %m");
                l->wdt_next = now + l->wdt_interval_ms;
        }
        for (unsigned i = 0; i < l->nchildren; i++) {
                struct child *c = l->children[i];
                if (c->pid && c->deadline && now >= c->deadline && !c->timed_out) {
                        log_err("supervise", "%s exceeded its time limit, killing it", c->name);
                        c->timed_out = true;
                        kill(c->pid, SIGKILL);
                }
                if (c->restart_at && now >= c->restart_at && !c->pid) {
                        c->restarts++;
                        c->restart_at = 0;
                        if (child_spawn(l, c) < 0) {
                                log_err("supervise", "restarting %s failed: %m", c->name);
                                c->restart_at = now + c->backoff_ms;
                        }
                }
        }
}

enum loop_request loop_run(struct loop *l, unsigned long long until_ms, bool (*done)(void *), void *userdata)
{
        for (;;) {
                unsigned long long now = now_ms();
                timers(l, now);
                if (l->request != REQUEST_NONE)
                        return l->request;
                if ((done && done(userdata)) || (until_ms && now >= until_ms))
                        return REQUEST_NONE;
                unsigned long long next = next_event(l, until_ms);
                int timeout = next == 0 ? -1 : next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
                struct pollfd p[2] = { { .fd = l->sfd, .events = POLLIN }, { .fd = l->watch_fd, .events = POLLIN } };
                int r = poll(p, l->watch_fd >= 0 ? 2 : 1, timeout);
                if (r < 0 && errno != EINTR)
                        log_warn("supervise", "poll failed: %m");
                if (r > 0 && p[0].revents)
                        handle_signal(l);
        }
}

void loop_kill_all(struct loop *l, unsigned grace_ms)
{
        l->stopping = true; /* nothing is restarted any more */
        kill(-1, SIGTERM);
        unsigned long long end = now_ms() + grace_ms;
        while (now_ms() < end) {
                reap(l);
                if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
                        return;
                usleep(20000);
        }
        kill(-1, SIGKILL);
        reap(l);
}

int watchdog_open(struct loop *l, const char *dev, unsigned timeout_s, char *ident, size_t identlen)
{
        struct watchdog_info info = { 0 };
        int fd = open(dev, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT || errno == ENODEV ? 0 : negative_errno();
        int t = (int)timeout_s;
        if (ioctl(fd, WDIOC_SETTIMEOUT, &t) < 0 && ioctl(fd, WDIOC_GETTIMEOUT, &t) < 0)
                t = 60; /* the kernel's default for most drivers */
        if (ioctl(fd, WDIOC_GETSUPPORT, &info) == 0)
                snprintf(ident, identlen, "%.32s", (const char *)info.identity);
        else
                snprintf(ident, identlen, "unknown");
        l->wdt_fd = fd;
        l->wdt_interval_ms = (unsigned long long)(t > 0 ? t : 1) * 1000 / 3;
        l->wdt_next = now_ms();
        ioctl(fd, WDIOC_KEEPALIVE, 0);
        return t;
}
