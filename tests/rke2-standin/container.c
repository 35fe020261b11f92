/* SPDX-License-Identifier: Apache-2.0 */
/* rke2 STAND-IN (a TEST PROGRAM, NOT rke2): `run-container: BUNDLE`.
 *
 * What rke2's containerd does for a pod, reduced to the host interfaces it
 * needs from Ember's /init, so a QEMU test can prove them:
 *   * a snapshot: the bundle's rootfs as the read-only lower layer of an
 *     overlayfs mount, with upper and work directories under rke2's data
 *     directory (as containerd's overlayfs snapshotter does);
 *   * netfilter: the NAT and filter rules a CNI and kube-proxy install,
 *     through Debian's iptables (nf_tables backend), read back with
 *     iptables-save;
 *   * the container: Debian's runc runs the bundle (its config.json names
 *     the overlay mount as root.path and a cgroup under /kubepods with
 *     memory and pids limits), which pivot_roots into the overlay and
 *     creates its cgroup in the hierarchy Ember delegated.
 * Every step's output goes to stdout (Ember's rke2 log); the result is the
 * container's exit status. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container.h"

static int mkdirs(const char *path)
{
        char p[4096];
        if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
                return -ENAMETOOLONG;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* Runs argv with stdout/stderr to ours; returns its exit status, or -1. */
static int run(char *const argv[])
{
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL); /* the stand-in blocks what it waits for */
                dup2(STDOUT_FILENO, STDERR_FILENO);
                execvp(argv[0], argv);
                printf("stand-in: container: executing %s failed: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* iptables-save's output must hold the rule (no shell in the image: the
 * program is run directly, its output read through a pipe). */
static int rule_present(const char *table, const char *needle)
{
        int p[2];
        if (pipe(p) < 0)
                return 0;
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
                close(p[0]);
                close(p[1]);
                return 0;
        }
        if (pid == 0) {
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                dup2(p[1], STDOUT_FILENO);
                close(p[0]);
                close(p[1]);
                execlp("iptables-save", "iptables-save", "-t", table, (char *)NULL);
                _exit(127);
        }
        close(p[1]);
        FILE *f = fdopen(p[0], "r");
        char line[1024];
        int found = 0;
        while (f && fgets(line, sizeof(line), f))
                if (strstr(line, needle))
                        found = 1;
        if (f)
                fclose(f);
        else
                close(p[0]);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        return found;
}

static int netfilter(void)
{
        char *const nat_chain[] = { "iptables", "-w", "-t", "nat", "-N", "STANDIN-POSTROUTING", NULL };
        char *const nat_jump[] = { "iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-j", "STANDIN-POSTROUTING", NULL };
        char *const masq[] = { "iptables", "-w", "-t", "nat", "-A", "STANDIN-POSTROUTING", "-s", "10.42.0.0/16",
                               "!", "-d", "10.42.0.0/16", "-m", "comment", "--comment", "stand-in pod masquerade",
                               "-j", "MASQUERADE", NULL };
        char *const fwd[] = { "iptables", "-w", "-t", "filter", "-A", "FORWARD", "-m", "conntrack", "--ctstate",
                              "RELATED,ESTABLISHED", "-j", "ACCEPT", NULL };
        char *const *steps[] = { nat_chain, nat_jump, masq, fwd };
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                int rc = run(steps[i]);
                if (rc != 0) {
                        printf("stand-in: container: iptables step %zu failed (exit %d)\n", i + 1, rc);
                        return -1;
                }
        }
        if (!rule_present("nat", "stand-in pod masquerade") || !rule_present("filter", "RELATED,ESTABLISHED")) {
                printf("stand-in: container: the rules are not in iptables-save's output\n");
                return -1;
        }
        printf("stand-in: container: netfilter: NAT masquerade and conntrack rules installed and read back\n");
        return 0;
}

int standin_run_container(const char *root, const char *data_dir, const char *bundle)
{
        char lower[4096], base[4096], upper[4200], work[4200], merged[4200], opts[13000], written[4300];
        snprintf(lower, sizeof(lower), "%s%s/rootfs", root, bundle);
        snprintf(base, sizeof(base), "%s%s/agent/containerd/standin-snapshots/1", root, data_dir);
        snprintf(upper, sizeof(upper), "%s/fs", base);
        snprintf(work, sizeof(work), "%s/work", base);
        /* the bundle's config.json names this path as root.path */
        snprintf(merged, sizeof(merged), "%s%s/agent/containerd/standin-rootfs", root, data_dir);
        if (mkdirs(upper) < 0 || mkdirs(work) < 0 || mkdirs(merged) < 0) {
                printf("stand-in: container: creating the snapshot directories failed: %s\n", strerror(errno));
                return -1;
        }
        snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
        if (mount("overlay", merged, "overlay", 0, opts) < 0) {
                printf("stand-in: container: mounting overlayfs on %s failed: %s\n", merged, strerror(errno));
                return -1;
        }
        printf("stand-in: container: overlayfs snapshot mounted on %s\n", merged);
        int result = -1;
        if (netfilter() == 0) {
                char bundle_path[4096];
                snprintf(bundle_path, sizeof(bundle_path), "%s%s", root, bundle);
                char *const argv[] = { "runc", "--root", "/run/standin-runc", "run", "--bundle", bundle_path,
                                       "standin-test", NULL };
                int rc = run(argv);
                printf("stand-in: container: runc exited %d\n", rc);
                /* the container wrote into its root: the write must be in the upper layer */
                snprintf(written, sizeof(written), "%s/written-by-container", upper);
                struct stat st;
                if (rc == 0 && stat(written, &st) == 0) {
                        printf("stand-in: container: its write landed in the overlay's upper layer\n");
                        result = 0;
                } else if (rc == 0) {
                        printf("stand-in: container: %s missing: the write did not reach the upper layer\n", written);
                }
        }
        if (umount2(merged, MNT_DETACH) < 0)
                printf("stand-in: container: unmounting %s failed: %s\n", merged, strerror(errno));
        fflush(stdout);
        return result;
}
