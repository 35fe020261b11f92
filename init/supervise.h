/* SPDX-License-Identifier: Apache-2.0 */
/* PID 1's event loop: signals through a signalfd, every zombie reaped,
 * children started and restarted with backoff, deadlines enforced, and the
 * hardware watchdog fed. Also usable outside PID 1 (tests). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#define SUPERVISE_MAX_CHILDREN 16

enum loop_request { REQUEST_NONE, REQUEST_REBOOT, REQUEST_POWEROFF };

struct child;
typedef void (*child_exit_fn)(struct child *c, int status, void *userdata);

struct child {
        char name[32];
        pid_t pid;                  /* 0: not running */
        int (*start)(struct child *c, void *userdata); /* runs in the child after fork; returns exit code */
        void *userdata;
        bool restart;               /* restart with backoff when it exits */
        unsigned backoff_ms, backoff_min_ms, backoff_max_ms;
        unsigned max_restarts;      /* 0: unlimited; past it the child is failed */
        unsigned restarts;
        unsigned stable_ms;         /* ran at least this long: restarts and backoff start over (0: never) */
        unsigned long long started_at; /* monotonic ms of the last start */
        bool failed;
        unsigned long long restart_at, deadline; /* monotonic ms, 0: none */
        bool timed_out;
        int last_status;            /* as from waitpid */
        bool exited;
        child_exit_fn on_exit;
};

struct loop {
        int sfd;
        int wdt_fd;
        unsigned long long wdt_interval_ms, wdt_next;
        bool wdt_paused;
        struct child *children[SUPERVISE_MAX_CHILDREN];
        unsigned nchildren;
        unsigned long long reaped_orphans;
        enum loop_request request;
        /* -1, or an fd whose readiness ends a loop_run() round so that
         * done() can look at it (a child's report pipe). */
        int watch_fd;
        bool stopping; /* loop_kill_all() ran: children are not restarted */
};

/* Blocks the signals PID 1 handles and opens the signalfd. */
int loop_init(struct loop *l);
void loop_done(struct loop *l);

int loop_add(struct loop *l, struct child *c);
void loop_remove(struct loop *l, struct child *c);
/* Forks and runs c->start in the child. */
int child_spawn(struct loop *l, struct child *c);

/* Runs until until_ms (monotonic; 0: until a request or done() is true),
 * a signal asks for reboot/poweroff, or done(userdata) says so. Returns the
 * request, if any. */
enum loop_request loop_run(struct loop *l, unsigned long long until_ms, bool (*done)(void *), void *userdata);

/* Sends SIGTERM to every process, waits up to grace_ms reaping them, then
 * SIGKILL. Only meaningful in PID 1. */
void loop_kill_all(struct loop *l, unsigned grace_ms);

/* Hardware watchdog: armed with timeout_s (the driver may round it), fed by
 * loop_run at a third of the timeout. Returns the effective timeout, 0 when
 * there is no watchdog device. */
int watchdog_open(struct loop *l, const char *dev, unsigned timeout_s, char *ident, size_t identlen);
