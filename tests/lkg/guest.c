/* SPDX-License-Identifier: Apache-2.0 */
/* PID 1 of tests/lkg/t-replay's QEMU guest (static, musl): loads the
 * modules listed in /modules (virtio disks, vfat), then runs each line of
 * /jobs on its disk, whose writes QEMU's blklogwrites driver records:
 *
 *   DISK commit VERSION [KB [MARK]] lkg_commit() of /payload/VERSION/{vmlinuz,initrd}
 *                                  (efi/lkg.c, the code the node runs)
 *   DISK ref-commit VERSION [KB [MARK]] the same commit written out here, with the
 *                                  fsync a renamed file needs on vfat (below)
 *   DISK bad-entry-first VERSION   the entry first, then the files: must be
 *                                  flagged by check-prefixes
 *   DISK bad-truncate ENTRY        the entry ENTRY rewritten in place
 *                                  (truncate, fsync, write, fsync): must be
 *                                  flagged when it is the only entry
 *
 * DISK is a whole disk (vda); its first partition is mounted as the ESP. KB,
 * when given and not 0, becomes the disk's max_sectors_kb: smaller writes,
 * more cuts. A fifth field MARK: once the job returned (before the ESP is
 * unmounted), a sector is written and flushed at MARK of the whole disk,
 * outside the ESP: the log shows where the commit had returned.
 * /payload/VERSION/sha256 holds the two digests, kernel first. Then powers
 * off. Every line it prints starts with "lkg-guest:". */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "hex.h"
#include "lkg.h"

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs("lkg-guest: ", stdout);
        vfprintf(stdout, fmt, ap);
        fputc('\n', stdout);
        fflush(stdout);
        va_end(ap);
}

static _Noreturn void poweroff(int failed)
{
        sync();
        say("%s", failed ? "FAILED" : "all jobs done");
        reboot(RB_POWER_OFF);
        for (;;)
                pause();
}

static void console(void)
{
        int fd = open("/dev/console", O_RDWR | O_NOCTTY);
        if (fd < 0)
                return;
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
                close(fd);
}

static int load_modules(void)
{
        FILE *f = fopen("/modules", "re");
        if (!f) {
                say("no /modules: %m");
                return -1;
        }
        char line[512];
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = '\0';
                if (!line[0])
                        continue;
                int fd = open(line, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        say("%s: %m", line);
                        fclose(f);
                        return -1;
                }
                if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST) {
                        say("loading %s: %m", line);
                        close(fd);
                        fclose(f);
                        return -1;
                }
                close(fd);
        }
        fclose(f);
        return 0;
}

static int wait_for(const char *path)
{
        for (int i = 0; i < 600; i++) {
                if (access(path, F_OK) == 0)
                        return 0;
                struct timespec ts = { 0, 100 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        say("%s did not appear", path);
        return -1;
}

static int read_digests(const char *version, uint8_t kernel[32], uint8_t initrd[32])
{
        char path[256], *text = NULL, k[65], i[65];
        size_t len;
        snprintf(path, sizeof(path), "/payload/%s/sha256", version);
        if (read_file_all(path, 4096, &text, &len) < 0 || sscanf(text, "%64s %64s", k, i) != 2 ||
            hex_decode(k, kernel, 32) < 0 || hex_decode(i, initrd, 32) < 0) {
                say("%s: expected two sha256 digests", path);
                free(text);
                return -1;
        }
        free(text);
        return 0;
}

static int job_commit(int espfd, const char *version)
{
        char pk[256], pi[256], why[256] = "";
        const struct reason w = { why, sizeof(why) };
        snprintf(pk, sizeof(pk), "/payload/%s/vmlinuz", version);
        snprintf(pi, sizeof(pi), "/payload/%s/initrd", version);
        struct lkg_artifacts a = {
                .version = version,
                .options = "console=ttyS0 ember.test=lkg-replay",
                .kernel = { .fd = -1, .path = pk },
                .initrd = { .fd = -1, .path = pi },
        };
        if (read_digests(version, a.kernel.sha256, a.initrd.sha256) < 0)
                return -1;
        struct lkg_result res;
        int r = lkg_commit(espfd, &a, NULL, &res, &w);
        if (r < 0) {
                say("lkg_commit %s: %s", version, why);
                return -1;
        }
        say("lkg_commit %s: outcome %d entry %s previous \"%s\" loader.conf %s removed %u failed %u%s%s", version,
            (int)res.outcome, res.entry, res.previous, res.loader_conf_written ? "written" : "kept", res.removed,
            res.remove_failed, res.warning[0] ? " warning: " : "", res.warning);
        return res.outcome == LKG_WRITTEN ? 0 : -1;
}

static int write_whole(int dirfd, const char *name, const void *data, size_t len, int flags)
{
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
        if (fd < 0)
                return -errno;
        int r = write_full(fd, data, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

static int copy_in(int dirfd, const char *name, const char *src)
{
        char *data = NULL;
        size_t len;
        int r = read_file_all(src, 256 * 1024 * 1024, &data, &len);
        if (r == 0)
                r = write_whole(dirfd, name, data, len, O_EXCL);
        free(data);
        return r;
}

static int open_dir_at(int at, const char *name, bool create)
{
        if (create && mkdirat(at, name, 0755) < 0 && errno != EEXIST)
                return -1;
        return openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Wrong on purpose: the entry is durable before the files it names. */
static int job_entry_first(int espfd, const char *version)
{
        char name[192], text[1024], path[256];
        snprintf(name, sizeof(name), "ember-%s+3.conf", version);
        snprintf(text, sizeof(text),
                 "title Ember %s\nversion %s\nsort-key ember\nlinux /ember/%s/vmlinuz\ninitrd /ember/%s/initrd\n"
                 "options console=ttyS0\n",
                 version, version, version, version);
        int loader = open_dir_at(espfd, "loader", true);
        int entries = loader < 0 ? -1 : open_dir_at(loader, "entries", true);
        int ember = open_dir_at(espfd, "ember", true);
        int vdir = ember < 0 ? -1 : open_dir_at(ember, version, true);
        if (entries < 0 || vdir < 0) {
                say("entry-first: directories: %m");
                return -1;
        }
        int r = write_whole(entries, name, text, strlen(text), O_EXCL);
        if (r == 0 && fsync(entries) < 0)
                r = -errno;
        snprintf(path, sizeof(path), "/payload/%s/vmlinuz", version);
        if (r == 0)
                r = copy_in(vdir, "vmlinuz", path);
        snprintf(path, sizeof(path), "/payload/%s/initrd", version);
        if (r == 0)
                r = copy_in(vdir, "initrd", path);
        if (r == 0 && (fsync(vdir) < 0 || fsync(ember) < 0 || fsync(espfd) < 0))
                r = -errno;
        close(loader);
        close(entries);
        close(ember);
        close(vdir);
        if (r < 0)
                say("entry-first %s: %s", version, strerror(-r));
        else
                say("entry-first %s: done (entry, then files)", version);
        return r < 0 ? -1 : 0;
}

/* Wrong on purpose: an existing entry truncated and rewritten in place. */
static int job_truncate(int espfd, const char *entry)
{
        char path[300], *text = NULL;
        size_t len;
        snprintf(path, sizeof(path), "loader/entries/%s", entry);
        int fd = openat(espfd, path, O_RDONLY | O_CLOEXEC);
        int r = fd < 0 ? -errno : read_fd_all(fd, 64 * 1024, &text, &len);
        if (fd >= 0)
                close(fd);
        if (r < 0) {
                say("truncate: reading %s: %s", path, strerror(-r));
                return -1;
        }
        /* the empty file is made durable first, then the text returns */
        fd = openat(espfd, path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                r = -errno;
        if (r == 0)
                r = write_full(fd, text, len);
        if (r == 0)
                r = write_full(fd, "# rewritten in place\n", 21);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (fd >= 0)
                close(fd);
        free(text);
        if (r < 0)
                say("truncate %s: %s", entry, strerror(-r));
        else
                say("truncate %s: done (truncated, fsync, rewritten)", entry);
        return r < 0 ? -1 : 0;
}

/* ---- the reference commit: docs/lkg.md's order, written out here, plus
 * what Linux's vfat needs for a rename to be durable: vfat_rename() writes
 * the new name with no clusters and size 0 and leaves the real ones in the
 * renamed inode, which only its own write-back (fsync of the file) puts on
 * disk; an fsync of the directory alone makes the *empty* new name durable.
 * So: rename, fsync the directory (old name gone, new one empty: no entry
 * refers to it yet, or systemd-boot skips it), then fsync the file. */

/* name.ember-tmp created anew with data, fsynced; its fd in *ret_fd */
static int ref_write_tmp(int dirfd, const char *name, const void *data, size_t len, int *ret_fd)
{
        char tmp[256];
        snprintf(tmp, sizeof(tmp), "%s.ember-tmp", name);
        int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        int r = write_full(fd, data, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

static int ref_rename(int dirfd, const char *name)
{
        char tmp[256];
        snprintf(tmp, sizeof(tmp), "%s.ember-tmp", name);
        return renameat(dirfd, tmp, dirfd, name) < 0 ? -errno : 0;
}

/* rename, fsync the directory, then the file */
static int ref_put_small(int dirfd, const char *name, const char *text)
{
        int fd = -1;
        int r = ref_write_tmp(dirfd, name, text, strlen(text), &fd);
        if (r == 0)
                r = ref_rename(dirfd, name);
        if (r == 0 && (fsync(dirfd) < 0 || fsync(fd) < 0))
                r = -errno;
        if (fd >= 0)
                close(fd);
        return r;
}

static int ref_mkdir(int at, const char *name, int *ret)
{
        bool made = mkdirat(at, name, 0755) == 0;
        if (!made && errno != EEXIST)
                return -errno;
        int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (made && (fsync(fd) < 0 || fsync(at) < 0)) {
                close(fd);
                return -errno;
        }
        *ret = fd;
        return 0;
}

/* Removes every Ember version older than the newest one other than keep:
 * the entries first (fsync), then their files. */
static int ref_prune(int entries, int ember, const char *keep)
{
        char prev[LKG_VERSION_MAX + 1] = "", olds[16][LKG_VERSION_MAX + 1], names[16][256];
        int n = 0, r = 0;
        DIR *d = fdopendir(dup(entries));
        if (!d)
                return -errno;
        struct dirent *de;
        struct lkg_entry_name en;
        while ((de = readdir(d)))
                if (lkg_entry_name_parse(de->d_name, &en, NULL) == 0 && strcasecmp(en.version, keep) != 0 &&
                    (!prev[0] || lkg_version_cmp(en.version, prev) > 0))
                        snprintf(prev, sizeof(prev), "%s", en.version);
        rewinddir(d);
        while ((de = readdir(d)) && n < 16)
                if (lkg_entry_name_parse(de->d_name, &en, NULL) == 0 && strcasecmp(en.version, keep) != 0 &&
                    lkg_version_cmp(en.version, prev) < 0) {
                        snprintf(olds[n], sizeof(olds[n]), "%s", en.version);
                        snprintf(names[n], sizeof(names[n]), "%s", de->d_name);
                        n++;
                }
        closedir(d);
        for (int i = 0; i < n; i++)
                if (unlinkat(entries, names[i], 0) < 0)
                        r = -errno;
        if (n && fsync(entries) < 0)
                r = -errno;
        for (int i = 0; i < n; i++) {
                int vfd = openat(ember, olds[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (vfd >= 0) {
                        unlinkat(vfd, "vmlinuz", 0);
                        unlinkat(vfd, "initrd", 0);
                        close(vfd);
                }
                if (unlinkat(ember, olds[i], AT_REMOVEDIR) < 0)
                        r = -errno;
        }
        if (n && fsync(ember) < 0)
                r = -errno;
        return r;
}

static int job_ref_commit(int espfd, const char *version)
{
        static const char *const files[2] = { "vmlinuz", "initrd" };
        int ember = -1, vdir = -1, loader = -1, entries = -1, fds[2] = { -1, -1 }, r;
        char path[256], name[192], text[1024];
        if ((r = ref_mkdir(espfd, "ember", &ember)) < 0 || (r = ref_mkdir(ember, version, &vdir)) < 0)
                goto out;
        for (int i = 0; i < 2; i++) {
                char *data = NULL;
                size_t len;
                snprintf(path, sizeof(path), "/payload/%s/%s", version, files[i]);
                r = read_file_all(path, 256 * 1024 * 1024, &data, &len);
                if (r == 0)
                        r = ref_write_tmp(vdir, files[i], data, len, &fds[i]);
                free(data);
                if (r < 0)
                        goto out;
        }
        for (int i = 0; i < 2; i++)
                if ((r = ref_rename(vdir, files[i])) < 0)
                        goto out;
        if (fsync(vdir) < 0 || fsync(fds[0]) < 0 || fsync(fds[1]) < 0 || fsync(ember) < 0) {
                r = -errno;
                goto out;
        }
        if ((r = ref_mkdir(espfd, "loader", &loader)) < 0 || (r = ref_mkdir(loader, "entries", &entries)) < 0)
                goto out;
        snprintf(name, sizeof(name), "ember-%s+3.conf", version);
        snprintf(text, sizeof(text),
                 "title Ember %s\nversion %s\nsort-key ember\nlinux /ember/%s/vmlinuz\ninitrd /ember/%s/initrd\n"
                 "options console=ttyS0 ember.test=lkg-replay\n",
                 version, version, version, version);
        if ((r = ref_put_small(entries, name, text)) < 0) /* the commit point */
                goto out;
        if (faccessat(loader, "loader.conf", F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
            (r = ref_put_small(loader, "loader.conf", "default ember-*\ntimeout 0\neditor no\n")) < 0)
                goto out;
        r = ref_prune(entries, ember, version);
out:
        for (int i = 0; i < 2; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        if (ember >= 0)
                close(ember);
        if (vdir >= 0)
                close(vdir);
        if (loader >= 0)
                close(loader);
        if (entries >= 0)
                close(entries);
        if (r < 0)
                say("ref-commit %s: %s", version, strerror(-r));
        else
                say("ref-commit %s: done", version);
        return r < 0 ? -1 : 0;
}

/* Marks in the log the instant a job returned: one sector written (and
 * flushed) on the whole disk at sector, outside the ESP. check-prefixes'
 * --committed-at takes the prefix after it. */
static int mark_returned(const char *disk, unsigned long long sector, const char *what)
{
        char dev[64], buf[512] = { 0 };
        snprintf(dev, sizeof(dev), "/dev/%s", disk);
        snprintf(buf, sizeof(buf), "lkg-guest: %s returned\n", what);
        int fd = open(dev, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || pwrite(fd, buf, sizeof(buf), (off_t)(sector * 512)) != (ssize_t)sizeof(buf) || fsync(fd) < 0) {
                say("%s: marking sector %llu: %m", dev, sector);
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        return 0;
}

static int run_job(const char *disk, const char *action, const char *arg, unsigned max_kb,
                   unsigned long long mark)
{
        char dev[64], mnt[64];
        snprintf(dev, sizeof(dev), "/dev/%s1", disk);
        snprintf(mnt, sizeof(mnt), "/mnt/%s", disk);
        if (wait_for(dev) < 0)
                return -1;
        if (max_kb) {
                /* smaller requests: more, finer cut points in the log */
                char path[128], val[16];
                snprintf(path, sizeof(path), "/sys/block/%s/queue/max_sectors_kb", disk);
                snprintf(val, sizeof(val), "%u", max_kb);
                int fd = open(path, O_WRONLY | O_CLOEXEC);
                if (fd < 0 || write_full(fd, val, strlen(val)) < 0) {
                        say("%s: %m", path);
                        if (fd >= 0)
                                close(fd);
                        return -1;
                }
                close(fd);
        }
        mkdir("/mnt", 0755);
        mkdir(mnt, 0755);
        if (mount(dev, mnt, "vfat", 0, "codepage=437,iocharset=ascii") < 0) {
                say("mount %s: %m", dev);
                return -1;
        }
        int espfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = -1;
        if (espfd < 0)
                say("%s: %m", mnt);
        else if (strcmp(action, "commit") == 0)
                r = job_commit(espfd, arg);
        else if (strcmp(action, "ref-commit") == 0)
                r = job_ref_commit(espfd, arg);
        else if (strcmp(action, "bad-entry-first") == 0)
                r = job_entry_first(espfd, arg);
        else if (strcmp(action, "bad-truncate") == 0)
                r = job_truncate(espfd, arg);
        else
                say("unknown job %s", action);
        if (espfd >= 0)
                close(espfd);
        if (r == 0 && mark && mark_returned(disk, mark, action) < 0)
                r = -1;
        if (umount(mnt) < 0) {
                say("umount %s: %m", mnt);
                r = -1;
        }
        say("%s %s %s: %s", disk, action, arg, r < 0 ? "failed" : "ok");
        return r;
}

int main(void)
{
        mkdir("/dev", 0755);
        mkdir("/proc", 0755);
        mkdir("/sys", 0755);
        mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
        mount("proc", "/proc", "proc", 0, NULL);
        mount("sysfs", "/sys", "sysfs", 0, NULL);
        console();
        say("started");
        if (load_modules() < 0)
                poweroff(1);
        FILE *f = fopen("/jobs", "re");
        if (!f) {
                say("no /jobs: %m");
                poweroff(1);
        }
        char line[256], disk[32], action[32], arg[128];
        int failed = 0;
        while (fgets(line, sizeof(line), f)) {
                unsigned max_kb = 0;
                unsigned long long mark = 0;
                if (sscanf(line, "%31s %31s %127s %u %llu", disk, action, arg, &max_kb, &mark) >= 3 && disk[0] != '#')
                        failed |= run_job(disk, action, arg, max_kb, mark) < 0;
        }
        fclose(f);
        poweroff(failed);
}
