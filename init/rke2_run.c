/* SPDX-License-Identifier: Apache-2.0 */
#include "rke2_run.h"

#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "hostprep.h"
#include "log.h"
#include "util.h"

#define ENV_FILE_MAX (64u << 10)
#define ENV_MAX 128

void rke2_run_init(struct rke2_run *r, const char *role)
{
        *r = (struct rke2_run){ .pipe_r = -1, .pipe_w = -1 };
        snprintf(r->binary, sizeof(r->binary), "%s", RKE2_BINARY);
        snprintf(r->role, sizeof(r->role), "%s", role);
        snprintf(r->log_path, sizeof(r->log_path), "%s", RKE2_LOG_PATH);
        r->log_cap = RKE2_LOG_CAP;
        snprintf(r->cgroup, sizeof(r->cgroup), "%s", RKE2_CGROUP);
        /* the official unit files read /etc/default/rke2-server or -agent */
        snprintf(r->env_file, sizeof(r->env_file), "/etc/default/rke2-%s", role);
        /* rke2 unpacks its own binaries (containerd, kubelet, runc …) into
         * /var/lib/rancher/rke2/bin and expects them first in PATH */
        snprintf(r->path_env, sizeof(r->path_env), "%s", HOSTPREP_RKE2_PATH);
        r->backoff_min_ms = 2000;
        r->backoff_max_ms = 30000;
        r->max_restarts = 5;
        r->stable_ms = 120000;
}

int rke2_env_line(char *line, char **ret_key, char **ret_value)
{
        char *p = line;
        while (*p == ' ' || *p == '\t')
                p++;
        size_t n = strlen(p);
        while (n && (p[n - 1] == '\n' || p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
                p[--n] = '\0';
        if (!*p || *p == '#')
                return 0;
        if (strncmp(p, "export ", 7) == 0)
                p += 7;
        char *eq = strchr(p, '=');
        if (!eq || eq == p)
                return -EINVAL;
        *eq = '\0';
        for (char *k = p; *k; k++)
                if (!(isalnum((unsigned char)*k) || *k == '_') || (k == p && isdigit((unsigned char)*k)))
                        return -EINVAL;
        char *v = eq + 1;
        size_t vl = strlen(v);
        if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
                v[vl - 1] = '\0';
                v++;
        } else if (vl && (v[0] == '"' || v[0] == '\'')) {
                return -EINVAL; /* an unterminated quote */
        }
        *ret_key = p;
        *ret_value = v;
        return 1;
}

/* Reads the environment file into envp (appending to *n); a missing file
 * is fine, a malformed one is reported and skipped line by line. */
static void load_env_file(const char *path, char **envp, size_t *n, size_t max)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (!*path || read_file_all(path, ENV_FILE_MAX, &text, &len) < 0)
                return;
        unsigned lineno = 0;
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *k, *v;
                lineno++;
                int r = rke2_env_line(line, &k, &v);
                if (r < 0)
                        fprintf(stderr, "ember: %s:%u: not KEY=VALUE, ignored\n", path, lineno);
                if (r <= 0 || *n + 1 >= max)
                        continue;
                size_t sz = strlen(k) + strlen(v) + 2;
                char *e = malloc(sz);
                if (!e)
                        continue;
                snprintf(e, sz, "%s=%s", k, v);
                envp[(*n)++] = e;
        }
}

static void close_from(int lowfd)
{
#ifdef SYS_close_range
        if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0)
                return;
#endif
        for (int fd = lowfd; fd < 4096; fd++)
                close(fd);
}

/* In the child: becomes rke2. Any failure is written to the log pipe. */
static int rke2_main(struct child *c, void *userdata)
{
        struct rke2_run *r = userdata;
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(r->pipe_w, 1) < 0 || dup2(r->pipe_w, 2) < 0)
                return 127;
        close_from(3);
        setsid();

        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (int s = 1; s < NSIG; s++)
                if (s != SIGKILL && s != SIGSTOP)
                        signal(s, SIG_DFL);

        if (r->cgroup[0]) {
                char procs[PATH_MAX + 16];
                snprintf(procs, sizeof(procs), "%s/cgroup.procs", r->cgroup);
                int cfd = open(procs, O_WRONLY | O_CLOEXEC);
                if (cfd < 0 || write(cfd, "0\n", 2) != 2)
                        fprintf(stderr, "ember: moving rke2 into %s failed: %m; it runs in the root cgroup\n",
                                r->cgroup);
                if (cfd >= 0)
                        close(cfd);
        }
        /* what rke2's own unit files ask for */
        struct rlimit nofile = { 1048576, 1048576 }, inf = { RLIM_INFINITY, RLIM_INFINITY };
        if (setrlimit(RLIMIT_NOFILE, &nofile) < 0) {
                (void)getrlimit(RLIMIT_NOFILE, &nofile);
                nofile.rlim_cur = nofile.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &nofile);
        }
        (void)setrlimit(RLIMIT_NPROC, &inf);
        (void)setrlimit(RLIMIT_CORE, &inf);

        static const char *const keep[] = { "http_proxy", "https_proxy", "no_proxy",
                                            "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY" };
        char *envp[ENV_MAX];
        size_t n = 0;
        for (size_t i = 0; i < ELEMENTSOF(keep); i++) {
                const char *v = getenv(keep[i]);
                char e[2048];
                if (v && snprintf(e, sizeof(e), "%s=%s", keep[i], v) < (int)sizeof(e))
                        envp[n++] = strdup(e);
        }
        char pathv[sizeof(r->path_env) + 8];
        snprintf(pathv, sizeof(pathv), "PATH=%s", r->path_env);
        envp[n++] = pathv;
        envp[n++] = (char *)"HOME=/root";

        const char *argv[RKE2_MAX_ARGS + 3] = { "rke2", r->role };
        size_t a = 2;
        for (size_t i = 0; i < RKE2_MAX_ARGS && r->args[i]; i++)
                argv[a++] = r->args[i];
        argv[a] = NULL;
        fprintf(stderr, RKE2_START_MARKER "%s %s (start %u)\n", r->binary, r->role, c->restarts + 1);
        load_env_file(r->env_file, envp, &n, ENV_MAX);
        envp[n] = NULL;
        execve(r->binary, (char *const *)argv, envp);
        fprintf(stderr, "ember: executing %s failed: %m\n", r->binary);
        return 127;
}

/* The logger's copy for the console: whole lines, escaped and prefixed;
 * a line longer than the buffer is cut. */
struct mirror {
        char line[1024];
        size_t n;
};

static void mirror_flush(struct mirror *m)
{
        char out[4 * sizeof(m->line) + 16] = "rke2| ";
        m->line[m->n] = '\0';
        log_escape(m->line, out + 6, sizeof(out) - 7);
        size_t l = strlen(out);
        out[l++] = '\n';
        (void)write_full(STDERR_FILENO, out, l);
        m->n = 0;
}

static void mirror_feed(struct mirror *m, const char *p, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (p[i] == '\n') {
                        mirror_flush(m);
                        continue;
                }
                if (m->n < sizeof(m->line) - 1)
                        m->line[m->n++] = p[i];
        }
}

static int open_log(const char *path, off_t *ret_size)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0)
                *ret_size = st.st_size;
        return fd;
}

/* In the child: copies the pipe into the log, rotating at half the cap so
 * the log and its one rotation never hold more than the cap. */
static int logger_main(struct child *c, void *userdata)
{
        struct rke2_run *r = userdata;
        char rotated[PATH_MAX + 4];
        snprintf(rotated, sizeof(rotated), "%s.1", r->log_path);
        close(r->pipe_w);
        off_t size = 0;
        int fd = open_log(r->log_path, &size);
        if (fd < 0)
                return 1;
        static char buf[64 << 10];
        static struct mirror m;
        for (;;) {
                ssize_t n = read(r->pipe_r, buf, sizeof(buf));
                if (n == 0)
                        return 0;
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return 1;
                }
                if (size + n > (off_t)(r->log_cap / 2) && size > 0) {
                        close(fd);
                        (void)rename(r->log_path, rotated);
                        size = 0;
                        fd = open_log(r->log_path, &size);
                        if (fd < 0)
                                return 1;
                }
                if (write_full(fd, buf, (size_t)n) < 0)
                        return 1;
                size += n;
                if (r->console)
                        mirror_feed(&m, buf, (size_t)n);
        }
}

static void emit_console(const char *line, void *userdata)
{
        log_info("rke2", "| %s", line);
}

/* Waits (briefly) until the logger has taken everything from the pipe. */
static void drain(const struct rke2_run *r)
{
        for (int i = 0; i < 50; i++) {
                int pending = 0;
                if (ioctl(r->pipe_r, FIONREAD, &pending) < 0 || pending == 0)
                        break;
                usleep(10000);
        }
        usleep(20000);
}

static void rke2_exited(struct child *c, int status, void *userdata)
{
        struct rke2_run *r = userdata;
        if (!c->restart)
                return; /* stopped on purpose */
        drain(r);
        log_err("rke2", "rke2 %s exited (%s %d); its last lines (%s):", r->role,
                WIFEXITED(status) ? "status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                r->log_path);
        if (rke2_log_tail(r->log_path, RKE2_TAIL_LINES, emit_console, NULL) <= 0)
                log_err("rke2", "| (nothing in the log)");
}

static int proc_start(struct child *c, void *userdata)
{
        return rke2_main(c, userdata);
}

int rke2_start(struct loop *l, struct rke2_run *r, char *detail, size_t len)
{
        struct stat st;
        if (stat(r->binary, &st) < 0)
                return snprintf(detail, len, "%s: %s", r->binary, strerror(errno)), negative_errno();
        if (!S_ISREG(st.st_mode) || access(r->binary, X_OK) < 0)
                return snprintf(detail, len, "%s is not an executable file", r->binary), -EACCES;

        _cleanup_free_ char *dir = strdup(r->log_path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash && slash != dir) {
                *slash = '\0';
                for (char *q = dir + 1; (q = strchr(q, '/')); q++) {
                        *q = '\0';
                        (void)mkdir(dir, 0755);
                        *q = '/';
                }
                (void)mkdir(dir, 0755);
        }
        if (r->cgroup[0] && mkdir(r->cgroup, 0755) < 0 && errno != EEXIST)
                log_warn("rke2", "creating cgroup %s failed: %m; rke2 runs in the root cgroup", r->cgroup);

        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return snprintf(detail, len, "pipe: %s", strerror(errno)), negative_errno();
        r->pipe_r = p[0];
        r->pipe_w = p[1];

        r->logger = (struct child){ .start = logger_main, .userdata = r, .restart = true,
                                    .backoff_min_ms = 500, .backoff_max_ms = 5000 };
        snprintf(r->logger.name, sizeof(r->logger.name), "rke2 logger");
        r->proc = (struct child){ .start = proc_start, .userdata = r, .restart = true,
                                  .backoff_min_ms = r->backoff_min_ms, .backoff_max_ms = r->backoff_max_ms,
                                  .max_restarts = r->max_restarts, .stable_ms = r->stable_ms,
                                  .on_exit = rke2_exited };
        snprintf(r->proc.name, sizeof(r->proc.name), "rke2 %s", r->role);
        int e = loop_add(l, &r->logger);
        if (e == 0 && (e = loop_add(l, &r->proc)) < 0)
                loop_remove(l, &r->logger);
        if (e < 0)
                return snprintf(detail, len, "supervisor: %s", strerror(-e)), e;
        e = child_spawn(l, &r->logger);
        if (e == 0) {
                e = child_spawn(l, &r->proc);
        }
        if (e < 0) {
                loop_remove(l, &r->proc);
                loop_remove(l, &r->logger);
                return snprintf(detail, len, "fork: %s", strerror(-e)), e;
        }
        snprintf(detail, len, "rke2 %s started (pid %d), log %s", r->role, (int)r->proc.pid, r->log_path);
        return 0;
}

bool rke2_failed(const struct rke2_run *r)
{
        return r->proc.failed;
}

static bool proc_gone(void *userdata)
{
        return ((struct rke2_run *)userdata)->proc.pid == 0;
}

void rke2_stop(struct loop *l, struct rke2_run *r, unsigned grace_ms)
{
        r->proc.restart = false;
        r->proc.restart_at = 0;
        if (!r->proc.pid)
                return;
        pid_t pid = r->proc.pid;
        log_info("rke2", "stopping rke2 (SIGTERM to its process group, up to %u s)", grace_ms / 1000);
        (void)kill(-pid, SIGTERM);
        (void)loop_run(l, now_ms() + grace_ms, proc_gone, r);
        if (r->proc.pid) {
                log_warn("rke2", "rke2 did not stop within %u s: SIGKILL", grace_ms / 1000);
                (void)kill(-pid, SIGKILL);
                (void)loop_run(l, now_ms() + 2000, proc_gone, r);
        }
}

/* Reads up to max bytes from the end of path. */
static int read_end(const char *path, size_t max, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return negative_errno();
        size_t want = (size_t)st.st_size < max ? (size_t)st.st_size : max;
        char *buf = malloc(want + 1);
        if (!buf)
                return -ENOMEM;
        ssize_t n = pread(fd, buf, want, st.st_size - (off_t)want);
        if (n < 0) {
                free(buf);
                return negative_errno();
        }
        buf[n] = '\0';
        *ret = buf;
        *ret_len = (size_t)n;
        return 0;
}

int rke2_log_tail(const char *path, unsigned n, void (*emit)(const char *line, void *userdata), void *userdata)
{
        enum { TAIL_BYTES = 32 << 10 };
        char rotated[PATH_MAX + 4];
        snprintf(rotated, sizeof(rotated), "%s.1", path);
        _cleanup_free_ char *cur = NULL, *old = NULL;
        size_t cl = 0, ol = 0;
        (void)read_end(path, TAIL_BYTES, &cur, &cl);
        if (cl < TAIL_BYTES)
                (void)read_end(rotated, TAIL_BYTES - cl, &old, &ol);
        _cleanup_free_ char *all = malloc(cl + ol + 1);
        if (!all)
                return -ENOMEM;
        if (ol)
                memcpy(all, old, ol);
        if (cl)
                memcpy(all + ol, cur, cl);
        size_t len = cl + ol;
        all[len] = '\0';
        if (len && all[len - 1] == '\n')
                all[--len] = '\0';
        /* walk back n lines; a cut first line is dropped unless it is all */
        size_t start = len;
        unsigned lines = 0;
        while (start > 0 && lines < n) {
                start--;
                if (all[start] == '\n') {
                        lines++;
                        if (lines == n) {
                                start++;
                                break;
                        }
                }
        }
        if (len == 0)
                return 0;
        /* only this run's lines: from the last start marker, if it is in view */
        for (size_t i = len; i-- > start;)
                if ((i == 0 || all[i - 1] == '\n') && strncmp(all + i, RKE2_START_MARKER, strlen(RKE2_START_MARKER)) == 0) {
                        start = i;
                        break;
                }
        int count = 0;
        char out[512];
        for (char *p = all + start; p && *p;) {
                char *nl = strchr(p, '\n');
                if (nl)
                        *nl = '\0';
                log_escape(p, out, sizeof(out));
                emit(out, userdata);
                count++;
                p = nl ? nl + 1 : NULL;
        }
        return count;
}
