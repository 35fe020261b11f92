/* SPDX-License-Identifier: Apache-2.0 */
/* Moving a staged overlay into the root, never following a link on the
 * way. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "entry.h"
#include "fsutil.h"
#include "open.h"
#include "util.h"

struct commit {
        const struct reason *w;
        dev_t staging_dev;
        ino_t staging_ino;
        char path[OVERLAY_PATH_MAX + OVERLAY_NAME_MAX + 2]; /* where we are, for messages */
};

static const char *kind(mode_t m)
{
        return S_ISDIR(m) ? "directory" : S_ISREG(m) ? "file" : S_ISLNK(m) ? "symlink" : "special file";
}

static size_t enter(struct commit *c, size_t len, const char *name)
{
        int n = snprintf(c->path + len, sizeof(c->path) - len, "%s%s", len ? "/" : "", name);
        return n < 0 || (size_t)n >= sizeof(c->path) - len ? sizeof(c->path) - 1 : len + (size_t)n;
}

static int fail_at(const struct commit *c, int err, const char *what)
{
        char shown[200];
        overlay_escape(c->path, shown, sizeof(shown));
        return reason_fail(c->w, err, "commit: %s: %s", shown, what);
}

static int open_pair(const struct commit *c, int sfd, int rfd, const char *name, int *ret_s, int *ret_r)
{
        int s = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s < 0)
                return fail_at(c, negative_errno(), "opening it in the staging directory");
        int r = openat(rfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (r < 0) {
                close(s);
                return fail_at(c, negative_errno(), "opening it in the root");
        }
        *ret_s = s;
        *ret_r = r;
        return 0;
}

/* The pass that changes nothing: every staged name against the root's. */
static int precheck(struct commit *c, int sfd, int rfd, size_t len)
{
        struct names l;
        int r = list_dir(sfd, &l);
        if (r < 0)
                return fail_at(c, r, "listing the staging directory");
        for (size_t i = 0; r >= 0 && i < l.n; i++) {
                size_t n = enter(c, len, l.v[i]);
                struct stat ss, rs;
                if (fstatat(sfd, l.v[i], &ss, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = fail_at(c, negative_errno(), "in the staging directory");
                        break;
                }
                if (fstatat(rfd, l.v[i], &rs, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT)
                                r = fail_at(c, negative_errno(), "in the root");
                        continue;
                }
                char what[120];
                if (S_ISDIR(ss.st_mode) != S_ISDIR(rs.st_mode)) {
                        snprintf(what, sizeof(what), "the overlay has a %s where the root has a %s", kind(ss.st_mode),
                                 kind(rs.st_mode));
                        r = fail_at(c, -ENOTDIR, what);
                        break;
                }
                if (!S_ISDIR(ss.st_mode))
                        continue;
                if (rs.st_dev == c->staging_dev && rs.st_ino == c->staging_ino) {
                        r = fail_at(c, -EINVAL, "is the staging directory itself");
                        break;
                }
                int s2, r2;
                if ((r = open_pair(c, sfd, rfd, l.v[i], &s2, &r2)) < 0)
                        break;
                r = precheck(c, s2, r2, n);
                close(s2);
                close(r2);
        }
        c->path[len] = '\0';
        names_free(&l);
        return r;
}

static int move(struct commit *c, int sfd, int rfd, size_t len)
{
        struct names l;
        int r = list_dir(sfd, &l);
        if (r < 0)
                return fail_at(c, r, "listing the staging directory (the root is partly changed)");
        for (size_t i = 0; r >= 0 && i < l.n; i++) {
                size_t n = enter(c, len, l.v[i]);
                struct stat ss, rs;
                bool merge = fstatat(sfd, l.v[i], &ss, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(ss.st_mode) &&
                             fstatat(rfd, l.v[i], &rs, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(rs.st_mode);
                if (!merge) {
                        if (renameat(sfd, l.v[i], rfd, l.v[i]) < 0)
                                r = fail_at(c, negative_errno(), "moving it into the root failed (the root is partly changed)");
                        continue;
                }
                int s2, r2;
                if ((r = open_pair(c, sfd, rfd, l.v[i], &s2, &r2)) < 0)
                        break;
                r = move(c, s2, r2, n);
                close(s2);
                close(r2);
                if (r >= 0 && unlinkat(sfd, l.v[i], AT_REMOVEDIR) < 0)
                        r = fail_at(c, negative_errno(), "removing its staged directory");
        }
        c->path[len] = '\0';
        names_free(&l);
        return r;
}

static int commit(const char *staging, const char *root, const struct reason *w)
{
        struct commit c = { .w = w };
        struct stat ss, rs;
        _cleanup_close_ int sfd = open(staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0)
                return reason_fail(w, negative_errno(), "commit: opening the staging directory %s: %m", staging);
        _cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rfd < 0)
                return reason_fail(w, negative_errno(), "commit: opening the root %s: %m", root);
        if (fstat(sfd, &ss) < 0 || fstat(rfd, &rs) < 0)
                return reason_fail(w, negative_errno(), "commit: %m");
        if (ss.st_dev != rs.st_dev)
                return reason_fail(w, -EXDEV, "commit: the staging directory %s and the root %s are on different "
                                   "file systems", staging, root);
        c.staging_dev = ss.st_dev;
        c.staging_ino = ss.st_ino;
        int r = precheck(&c, sfd, rfd, 0);
        if (r < 0)
                return r;
        r = move(&c, sfd, rfd, 0);
        if (r < 0)
                return r;
        if (rmdir(staging) < 0)
                return reason_fail(w, negative_errno(), "commit: removing the staging directory %s: %m", staging);
        return 0;
}

int overlay_commit(const char *staging, const char *root, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        if (!staging || !root)
                return -EINVAL;
        int r = commit(staging, root, &w);
        if (r < 0)
                (void)overlay_remove_tree(staging);
        return r;
}
