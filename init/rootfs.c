/* SPDX-License-Identifier: Apache-2.0 */
#include "rootfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define NEWROOT "/.ember-root"
#define HEADROOM (64ULL << 20)

uint64_t rootfs_size(enum size_kind kind, uint64_t value, uint64_t ram, uint64_t used, int *ret_clamped)
{
        uint64_t want = kind == SIZE_PERCENT ? ram / 100 * value : value;
        uint64_t min = used + HEADROOM;
        *ret_clamped = want < min;
        return want < min ? min : want;
}

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* Walks a directory on the root device only: mounts below it (/proc, /dev,
 * the new root itself) are other devices and are left alone. */
typedef int (*walk_fn)(int dirfd, const char *name, const struct stat *st, void *userdata, int depth);

static int walk(int dirfd, dev_t dev, walk_fn fn, void *userdata, int depth)
{
        int dup_fd = dup(dirfd);
        if (dup_fd < 0)
                return negative_errno();
        _cleanup_(closedirp) DIR *d = fdopendir(dup_fd);
        if (!d) {
                close(dup_fd);
                return negative_errno();
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                struct stat st;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return negative_errno();
                if (st.st_dev != dev || (depth == 0 && streq(de->d_name, NEWROOT + 1)))
                        continue;
                int r = fn(dirfd, de->d_name, &st, userdata, depth);
                if (r < 0)
                        return r;
        }
        return 0;
}

struct usage {
        dev_t dev;
        uint64_t bytes;
};

static int sum_one(int dirfd, const char *name, const struct stat *st, void *userdata, int depth)
{
        struct usage *u = userdata;
        u->bytes += (uint64_t)st->st_blocks * 512;
        if (!S_ISDIR(st->st_mode))
                return 0;
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        return walk(fd, u->dev, sum_one, u, depth + 1);
}

struct copy_ctx {
        dev_t dev;
        int dst_root;
        uint64_t files;
};

static int copy_data(int src, int dst, off_t size)
{
        off_t left = size;
        while (left > 0) {
                ssize_t n = sendfile(dst, src, NULL, (size_t)(left > (1 << 30) ? (1 << 30) : left));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? negative_errno() : -EIO;
                left -= n;
        }
        return 0;
}

static int copy_node(int sdir, int ddir, const char *name, const struct stat *st)
{
        if (S_ISDIR(st->st_mode))
                return mkdirat(ddir, name, st->st_mode & 07777) < 0 && errno != EEXIST ? negative_errno() : 0;
        if (S_ISLNK(st->st_mode)) {
                char target[4096];
                ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);
                if (n < 0)
                        return negative_errno();
                target[n] = '\0';
                return symlinkat(target, ddir, name) < 0 ? negative_errno() : 0;
        }
        if (S_ISREG(st->st_mode)) {
                _cleanup_close_ int in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_close_ int out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                                                 st->st_mode & 07777);
                if (in < 0 || out < 0)
                        return negative_errno();
                return copy_data(in, out, st->st_size);
        }
        return mknodat(ddir, name, st->st_mode, st->st_rdev) < 0 ? negative_errno() : 0;
}

static int copy_one(int dirfd, const char *name, const struct stat *st, void *userdata, int depth);

struct copy_dir {
        struct copy_ctx *ctx;
        int ddir;
};

static int copy_one_in(int dirfd, const char *name, const struct stat *st, void *userdata, int depth)
{
        struct copy_dir *cd = userdata;
        int r = copy_node(dirfd, cd->ddir, name, st);
        if (r < 0) {
                log_err("rootfs", "copying %s failed: %s", name, strerror(-r));
                return r;
        }
        cd->ctx->files++;
        if (S_ISDIR(st->st_mode)) {
                r = copy_one(dirfd, name, st, cd, depth);
                if (r < 0)
                        return r;
        }
        /* owners and times last: the copy itself must not change them */
        const struct timespec ts[2] = { st->st_atim, st->st_mtim };
        if (fchownat(cd->ddir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            utimensat(cd->ddir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        if (S_ISDIR(st->st_mode) && fchmodat(cd->ddir, name, st->st_mode & 07777, 0) < 0)
                return negative_errno();
        return 0;
}

static int copy_one(int dirfd, const char *name, const struct stat *st, void *userdata, int depth)
{
        struct copy_dir *parent = userdata;
        _cleanup_close_ int s = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int d = openat(parent->ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s < 0 || d < 0)
                return negative_errno();
        struct copy_dir child = { parent->ctx, d };
        return walk(s, parent->ctx->dev, copy_one_in, &child, depth + 1);
}

/* Frees the initrd's pages in the initial rootfs, as switch_root does. */
static int remove_one(int dirfd, const char *name, const struct stat *st, void *userdata, int depth)
{
        if (S_ISDIR(st->st_mode)) {
                _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return negative_errno();
                int r = walk(fd, *(dev_t *)userdata, remove_one, userdata, depth + 1);
                if (r < 0)
                        return r;
        }
        if (unlinkat(dirfd, name, S_ISDIR(st->st_mode) ? AT_REMOVEDIR : 0) < 0 && errno != EBUSY)
                return negative_errno();
        return 0;
}

static int move_into_newroot(const char *what)
{
        char target[64];
        snprintf(target, sizeof(target), NEWROOT "%s", what);
        if (mkdir(target, 0755) < 0 && errno != EEXIST)
                return negative_errno();
        return mount(what, target, NULL, MS_MOVE, NULL) < 0 ? negative_errno() : 0;
}

static int is_initial_rootfs(void)
{
        struct statfs sfs;
        if (statfs("/", &sfs) < 0)
                return negative_errno();
        return sfs.f_type == RAMFS_MAGIC || sfs.f_type == TMPFS_MAGIC;
}

static int copy_tree(dev_t dev, uint64_t *ret_files)
{
        _cleanup_close_ int src = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int dst = open(NEWROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src < 0 || dst < 0)
                return negative_errno();
        struct copy_ctx ctx = { .dev = dev, .dst_root = dst };
        struct copy_dir top = { &ctx, dst };
        int r = walk(src, dev, copy_one_in, &top, 0);
        *ret_files = ctx.files;
        return r;
}

int rootfs_move_to_tmpfs(enum size_kind kind, uint64_t size, char *detail, size_t detaillen)
{
        struct stat root;
        struct sysinfo si;
        char opts[64];
        int clamped, r;

        r = is_initial_rootfs();
        if (r <= 0)
                return log_err("rootfs", "/ is not the initial RAM rootfs, refusing to move it"), r < 0 ? r : -EINVAL;
        if (stat("/", &root) < 0 || sysinfo(&si) < 0)
                return negative_errno();

        struct usage u = { .dev = root.st_dev };
        _cleanup_close_ int rfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rfd < 0 || (r = walk(rfd, root.st_dev, sum_one, &u, 0)) < 0)
                return log_err("rootfs", "measuring the initrd failed: %s", strerror(rfd < 0 ? errno : -r)),
                       rfd < 0 ? negative_errno() : r;

        uint64_t ram = (uint64_t)si.totalram * si.mem_unit;
        uint64_t bytes = rootfs_size(kind, size, ram, u.bytes, &clamped);
        if (clamped)
                log_warn("rootfs", "requested root size is below what the initrd needs; using %llu MiB",
                         (unsigned long long)(bytes >> 20));
        snprintf(opts, sizeof(opts), "mode=0755,size=%llu", (unsigned long long)bytes);
        if (mkdir(NEWROOT, 0755) < 0 && errno != EEXIST)
                return negative_errno();
        if (mount("tmpfs", NEWROOT, "tmpfs", 0, opts) < 0)
                return log_err("rootfs", "mounting a %llu MiB tmpfs failed: %m", (unsigned long long)(bytes >> 20)),
                       negative_errno();

        uint64_t files = 0;
        r = copy_tree(root.st_dev, &files);
        if (r < 0)
                return log_err("rootfs", "copying the initrd onto the tmpfs failed: %s", strerror(-r)), r;
        static const char *const moved[] = { "/dev", "/proc" };
        for (size_t i = 0; i < ELEMENTSOF(moved); i++)
                if ((r = move_into_newroot(moved[i])) < 0)
                        return log_err("rootfs", "moving %s into the new root failed: %s", moved[i], strerror(-r)), r;

        r = walk(rfd, root.st_dev, remove_one, &root.st_dev, 0);
        if (r < 0)
                log_warn("rootfs", "freeing the initial rootfs failed: %s, ignoring", strerror(-r));

        if (chdir(NEWROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
                return log_err("rootfs", "moving the tmpfs over / failed: %m"), negative_errno();

        snprintf(detail, detaillen, "%llu files, %llu MiB used of %llu MiB tmpfs", (unsigned long long)files,
                 (unsigned long long)(u.bytes >> 20), (unsigned long long)(bytes >> 20));
        return 0;
}
