/* SPDX-License-Identifier: Apache-2.0 */
#include "extract.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

/* openat2(2)'s ABI (Linux 5.6), spelled out here because musl's headers
 * do not carry it and the kernel's may be absent where /init is built. */
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
struct open_how_v0 {
        uint64_t flags, mode, resolve;
};
#define RESOLVE_NO_MAGICLINKS_ 0x02
#define RESOLVE_NO_SYMLINKS_ 0x04
#define RESOLVE_BENEATH_ 0x08

#define SHOWN 160

struct dirfix {
        char *path;
        uint32_t mode, uid, gid;
        int64_t mtime;
};

struct extract {
        int root_fd;
        bool restore_owners;
        struct dirfix *dirs;
        size_t n_dirs, cap_dirs;
};

/* Set once a kernel (or a seccomp filter) said it has no openat2. */
static atomic_bool no_openat2;

static int open_dir_at(int dirfd, const char *name)
{
        if (!atomic_load(&no_openat2)) {
                struct open_how_v0 how = {
                        .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
                        .resolve = RESOLVE_BENEATH_ | RESOLVE_NO_SYMLINKS_ | RESOLVE_NO_MAGICLINKS_,
                };
                long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
                if (fd >= 0)
                        return (int)fd;
                if (errno != ENOSYS)
                        return negative_errno();
                atomic_store(&no_openat2, true);
        }
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? negative_errno() : fd;
}

static int sys_fail(const struct reason *w, int err, const char *path, const char *what)
{
        char shown[SHOWN];
        overlay_escape(path, shown, sizeof(shown));
        return reason_fail(w, err, "entry %s: %s in the staging directory: %s", shown, what, strerror(-err));
}

/* The directory that holds path's last component, as an fd of its own,
 * creating missing ones (0755) when create is set. */
static int walk_parent(struct extract *x, const char *path, bool create, int *ret_fd, const char **ret_leaf,
                       const struct reason *w)
{
        char comp[OVERLAY_NAME_MAX + 1];
        const char *p = path, *s;
        int fd = fcntl(x->root_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return sys_fail(w, negative_errno(), path, "opening the root");
        for (; (s = strchr(p, '/')); p = s + 1) {
                size_t n = (size_t)(s - p);
                if (n > OVERLAY_NAME_MAX) {
                        close(fd);
                        return sys_fail(w, -ENAMETOOLONG, path, "walking");
                }
                memcpy(comp, p, n);
                comp[n] = '\0';
                int nfd = open_dir_at(fd, comp);
                if (nfd == -ENOENT && create) {
                        if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
                                int r = negative_errno();
                                close(fd);
                                return sys_fail(w, r, path, "creating a parent");
                        }
                        nfd = open_dir_at(fd, comp);
                        /* whatever the umask took away */
                        if (nfd >= 0 && fchmod(nfd, 0755) < 0) {
                                close(nfd);
                                nfd = negative_errno();
                        }
                }
                close(fd);
                if (nfd < 0)
                        return sys_fail(w, nfd, path, nfd == -ELOOP || nfd == -ENOTDIR ? "a parent is not a directory"
                                                                                         : "opening a parent");
                fd = nfd;
        }
        *ret_fd = fd;
        *ret_leaf = p;
        return 0;
}

int extract_new(int root_fd, bool restore_owners, struct extract **ret)
{
        struct extract *x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        x->root_fd = root_fd;
        x->restore_owners = restore_owners;
        *ret = x;
        return 0;
}

void extract_free(struct extract *x)
{
        if (!x)
                return;
        for (size_t i = 0; i < x->n_dirs; i++)
                free(x->dirs[i].path);
        free(x->dirs);
        free(x);
}

static int remember_dir(struct extract *x, const struct overlay_entry *e)
{
        if (x->n_dirs == x->cap_dirs) {
                size_t cap = x->cap_dirs ? x->cap_dirs * 2 : 32;
                struct dirfix *v = reallocarray(x->dirs, cap, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                x->dirs = v;
                x->cap_dirs = cap;
        }
        char *p = strdup(e->path);
        if (!p)
                return -ENOMEM;
        x->dirs[x->n_dirs++] = (struct dirfix){ p, e->mode, e->uid, e->gid, e->mtime };
        return 0;
}

static int make_dir(struct extract *x, int pfd, const char *leaf, const struct overlay_entry *e, const struct reason *w)
{
        struct stat st;
        if (mkdirat(pfd, leaf, 0700) < 0) {
                int r = negative_errno();
                /* a parent an earlier entry implied, now named itself */
                if (r != -EEXIST || fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                        return sys_fail(w, r, e->path, "creating it");
        }
        if (remember_dir(x, e) < 0)
                return reason_fail(w, -ENOMEM, "out of memory");
        return 0;
}

static int make_symlink(struct extract *x, int pfd, const char *leaf, const struct overlay_entry *e,
                        const struct reason *w)
{
        const struct timespec ts[2] = { { .tv_sec = e->mtime }, { .tv_sec = e->mtime } };
        if (symlinkat(e->link, pfd, leaf) < 0)
                return sys_fail(w, negative_errno(), e->path, "creating it");
        if (x->restore_owners && fchownat(pfd, leaf, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return sys_fail(w, negative_errno(), e->path, "setting its owner");
        if (utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return sys_fail(w, negative_errno(), e->path, "setting its time");
        return 0;
}

static int make_hardlink(struct extract *x, int pfd, const char *leaf, const struct overlay_entry *e,
                         const struct reason *w)
{
        const char *tleaf;
        _cleanup_close_ int tfd = -1;
        struct stat st;
        int r = walk_parent(x, e->link, false, &tfd, &tleaf, w);
        if (r < 0)
                return r;
        if (fstatat(tfd, tleaf, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                return sys_fail(w, -ENOENT, e->path, "finding its target");
        /* flags 0: linkat never follows a symlink it is given */
        if (linkat(tfd, tleaf, pfd, leaf, 0) < 0)
                return sys_fail(w, negative_errno(), e->path, "linking it");
        return 0;
}

int extract_entry(struct extract *x, const struct overlay_entry *e, const struct reason *w)
{
        _cleanup_close_ int pfd = -1;
        const char *leaf;
        if (!x || !e || e->type == OVERLAY_ENTRY_FILE)
                return -EINVAL;
        int r = walk_parent(x, e->path, true, &pfd, &leaf, w);
        if (r < 0)
                return r;
        switch (e->type) {
        case OVERLAY_ENTRY_DIR:
                return make_dir(x, pfd, leaf, e, w);
        case OVERLAY_ENTRY_SYMLINK:
                return make_symlink(x, pfd, leaf, e, w);
        case OVERLAY_ENTRY_HARDLINK:
                return make_hardlink(x, pfd, leaf, e, w);
        default:
                return -EINVAL;
        }
}

int extract_file_open(struct extract *x, const struct overlay_entry *e, int *ret_fd, const struct reason *w)
{
        _cleanup_close_ int pfd = -1;
        const char *leaf;
        if (!x || !e || e->type != OVERLAY_ENTRY_FILE)
                return -EINVAL;
        int r = walk_parent(x, e->path, true, &pfd, &leaf, w);
        if (r < 0)
                return r;
        int fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return sys_fail(w, negative_errno(), e->path, "creating it");
        *ret_fd = fd;
        return 0;
}

/* chown before chmod: chown clears set-id bits. */
static int set_meta(int fd, bool owners, uint32_t uid, uint32_t gid, uint32_t mode, int64_t mtime, const char **what)
{
        const struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
        if (owners && fchown(fd, uid, gid) < 0)
                return *what = "setting its owner", negative_errno();
        if (fchmod(fd, mode) < 0)
                return *what = "setting its mode", negative_errno();
        if (futimens(fd, ts) < 0)
                return *what = "setting its time", negative_errno();
        return 0;
}

int extract_file_close(struct extract *x, const struct overlay_entry *e, int fd, const struct reason *w)
{
        const char *what = NULL;
        int r = set_meta(fd, x->restore_owners, e->uid, e->gid, e->mode, e->mtime, &what);
        if (close(fd) < 0 && r == 0) {
                r = negative_errno();
                what = "writing it";
        }
        return r < 0 ? sys_fail(w, r, e->path, what) : 0;
}

int extract_finish(struct extract *x, const struct reason *w)
{
        for (size_t i = 0; i < x->n_dirs; i++) {
                const struct dirfix *d = &x->dirs[i];
                _cleanup_close_ int pfd = -1, fd = -1;
                const char *leaf, *what = "opening it";
                int r = walk_parent(x, d->path, false, &pfd, &leaf, w);
                if (r < 0)
                        return r;
                fd = open_dir_at(pfd, leaf);
                if (fd < 0 || (r = set_meta(fd, x->restore_owners, d->uid, d->gid, d->mode, d->mtime, &what)) < 0)
                        return sys_fail(w, fd < 0 ? fd : r, d->path, what);
        }
        return 0;
}
