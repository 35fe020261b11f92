/* SPDX-License-Identifier: Apache-2.0 */
#include "mounts.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct mount_spec {
        const char *source, *target, *type;
        unsigned long flags;
        const char *data;
};

static int mount_one(const struct mount_spec *m)
{
        if (mkdir(m->target, 0755) < 0 && errno != EEXIST)
                return log_err("mounts", "creating %s failed: %m", m->target), negative_errno();
        if (mount(m->source, m->target, m->type, m->flags, m->data) < 0) {
                if (errno == EBUSY)
                        return 0; /* already there, e.g. devtmpfs mounted by the kernel */
                int r = negative_errno();
                log_err("mounts", "mounting %s on %s failed: %s", m->type, m->target, strerror(-r));
                return r;
        }
        return 0;
}

int mounts_early(void)
{
        static const struct mount_spec early[] = {
                { "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
                { "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
        };
        for (size_t i = 0; i < ELEMENTSOF(early); i++) {
                int r = mount_one(&early[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_file(const char *path, const char *text)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        size_t n = strlen(text);
        if (write(fd, text, n) != (ssize_t)n)
                return negative_errno();
        return 0;
}

/* Every controller the kernel offers is enabled for the root's children, so
 * rke2's containerd and kubelet can delegate further (cgroup v2 only). */
static int enable_controllers(char *enabled, size_t len)
{
        char avail[512] = "", cmd[600] = "";
        _cleanup_fclose_ FILE *f = fopen("/sys/fs/cgroup/cgroup.controllers", "re");
        if (!f || !fgets(avail, sizeof(avail), f))
                return -EIO;
        avail[strcspn(avail, "\n")] = '\0';
        char *save = NULL;
        for (char *c = strtok_r(avail, " ", &save); c; c = strtok_r(NULL, " ", &save)) {
                size_t o = strlen(cmd);
                snprintf(cmd + o, sizeof(cmd) - o, "%s+%s", o ? " " : "", c);
        }
        int r = write_file("/sys/fs/cgroup/cgroup.subtree_control", cmd);
        snprintf(enabled, len, "%s", cmd);
        return r;
}

int mounts_system(char *detail, size_t detaillen)
{
        static const struct mount_spec sys[] = {
                { "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
                { "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=20%" },
                { "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666" },
                { "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
                { "securityfs", "/sys/kernel/security", "securityfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
                { "cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "nsdelegate" },
        };
        static const struct { const char *link, *target; } links[] = {
                { "/dev/fd", "/proc/self/fd" },
                { "/dev/stdin", "/proc/self/fd/0" },
                { "/dev/stdout", "/proc/self/fd/1" },
                { "/dev/stderr", "/proc/self/fd/2" },
        };
        for (size_t i = 0; i < ELEMENTSOF(sys); i++) {
                int r = mount_one(&sys[i]);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlink(links[i].target, links[i].link) < 0 && errno != EEXIST)
                        log_warn("mounts", "creating %s failed: %m, ignoring", links[i].link);
        if (mkdir("/run/ember", 0755) < 0 && errno != EEXIST)
                return log_err("mounts", "creating /run/ember failed: %m"), negative_errno();

        char enabled[600] = "";
        int r = enable_controllers(enabled, sizeof(enabled));
        if (r < 0)
                return log_err("mounts", "enabling cgroup controllers (%s) failed: %s", enabled, strerror(-r)), r;
        log_info("mounts", "cgroup2 controllers delegated: %s", enabled);
        return mounts_verify(detail, detaillen);
}

/* Reads the kernel's mount table back rather than trusting our own calls:
 * the console line it produces is what the boot test checks. */
int mounts_verify(char *detail, size_t detaillen)
{
        static const struct { const char *target, *type; } want[] = {
                { "/", "tmpfs" },         { "/proc", "proc" },       { "/dev", "devtmpfs" },
                { "/sys", "sysfs" },      { "/run", "tmpfs" },       { "/dev/pts", "devpts" },
                { "/dev/shm", "tmpfs" },  { "/sys/kernel/security", "securityfs" },
                { "/sys/fs/cgroup", "cgroup2" },
        };
        char line[1024], seen[512] = "";
        bool found[ELEMENTSOF(want)] = { false };
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mounts", "re");
        if (!f)
                return log_err("mounts", "reading /proc/self/mounts failed: %m"), negative_errno();
        while (fgets(line, sizeof(line), f)) {
                char target[256], type[64];
                if (sscanf(line, "%*s %255s %63s", target, type) != 2)
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(want); i++)
                        if (streq(target, want[i].target) && streq(type, want[i].type))
                                found[i] = true;
        }
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                if (!found[i])
                        return log_err("mounts", "%s (%s) is not mounted", want[i].target, want[i].type), -ENOENT;
                size_t o = strlen(seen);
                snprintf(seen + o, sizeof(seen) - o, "%s%s=%s", o ? " " : "", want[i].target, want[i].type);
        }
        log_info("mounts", "verified: %s", seen);
        snprintf(detail, detaillen, "%zu filesystems verified", ELEMENTSOF(want));
        return 0;
}

int mounts_efivarfs(void)
{
        static const struct mount_spec efi = { "efivarfs", "/sys/firmware/efi/efivars", "efivarfs",
                                               MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL };
        if (access("/sys/firmware/efi", F_OK) < 0)
                return 0;
        return mount_one(&efi) < 0 ? -EIO : 1;
}
