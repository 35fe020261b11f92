/* SPDX-License-Identifier: Apache-2.0 */
/* rke2 under PID 1's supervision: started in its own session and cgroup
 * with a clean environment, its output captured by a logger process into a
 * size-capped log on the tmpfs, restarted with backoff, declared failed
 * when it keeps failing, stopped in order (SIGTERM, wait, SIGKILL).
 * Also used outside PID 1 by `ember-init rke2` (tests). */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "supervise.h"

#define RKE2_BINARY "/usr/local/bin/rke2"
#define RKE2_LOG_PATH "/var/log/ember/rke2.log"
#define RKE2_LOG_CAP (16u << 20) /* the log and its one rotation together */
#define RKE2_CGROUP "/sys/fs/cgroup/rke2"
#define RKE2_MAX_ARGS 16
#define RKE2_TAIL_LINES 25
/* written into the log before each start; the console tail begins there */
#define RKE2_START_MARKER "ember: starting "

struct rke2_run {
        /* set by the caller */
        char binary[PATH_MAX];
        char role[8];                /* "server" or "agent" */
        const char *args[RKE2_MAX_ARGS]; /* more arguments after the role; NULL-terminated */
        char log_path[PATH_MAX];
        size_t log_cap;
        char cgroup[PATH_MAX];       /* "" = stay in the caller's cgroup */
        char env_file[PATH_MAX];     /* KEY=VALUE lines for rke2's environment ("" = none) */
        char path_env[512];          /* PATH given to rke2 */
        bool console;                /* its lines on stderr (the console) too, prefixed "rke2| " */
        unsigned backoff_min_ms, backoff_max_ms, max_restarts, stable_ms;
        /* state */
        struct child proc, logger;
        int pipe_r, pipe_w;
};

/* Defaults for the node: /usr/local/bin/rke2, the log under /var/log/ember,
 * cgroup /sys/fs/cgroup/rke2, backoff 2 s doubling to 30 s, failed after 5
 * restarts that each ran less than 2 minutes. */
void rke2_run_init(struct rke2_run *r, const char *role);

/* Checks the binary, opens the log pipe, starts the logger and rke2 under
 * l's supervision. r must stay in place while l runs. */
int rke2_start(struct loop *l, struct rke2_run *r, char *detail, size_t len);

/* rke2 exhausted its restarts. */
bool rke2_failed(const struct rke2_run *r);

/* SIGTERM to rke2's process group, up to grace_ms for it to exit while l
 * keeps running, then SIGKILL. No restart afterwards. */
void rke2_stop(struct loop *l, struct rke2_run *r, unsigned grace_ms);

/* The last n lines of the log (its rotation included) from the last start
 * marker on, control characters escaped, each handed to emit. Returns how
 * many. */
int rke2_log_tail(const char *path, unsigned n, void (*emit)(const char *line, void *userdata), void *userdata);

/* Parses one line of an environment file: KEY=VALUE, optional "export ",
 * blank lines and # comments skipped, one level of matching quotes
 * removed. Returns 1 with key/value set, 0 for a line to skip, -EINVAL for
 * a malformed line. Pure. */
int rke2_env_line(char *line, char **ret_key, char **ret_value);
