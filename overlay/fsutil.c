/* SPDX-License-Identifier: Apache-2.0 */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "open.h"
#include "util.h"

/* Deeper than any staged tree can be; a guard for remove_tree's recursion
 * when it is pointed elsewhere. */
#define TREE_DEPTH_MAX 512

void names_free(struct names *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        l->v = NULL;
        l->n = 0;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every name in the directory, read whole before anything moves. */
int list_dir(int fd, struct names *ret)
{
        struct names l = { 0 };
        size_t cap = 0;
        int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return negative_errno();
        DIR *d = fdopendir(dfd);
        if (!d) {
                int r = negative_errno();
                close(dfd);
                return r;
        }
        rewinddir(d);
        int r = 0;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        r = errno ? negative_errno() : 0;
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (l.n == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        char **v = reallocarray(l.v, ncap, sizeof(*v));
                        if (!v) {
                                r = -ENOMEM;
                                break;
                        }
                        l.v = v;
                        cap = ncap;
                }
                if (!(l.v[l.n] = strdup(de->d_name))) {
                        r = -ENOMEM;
                        break;
                }
                l.n++;
        }
        closedir(d);
        if (r < 0) {
                names_free(&l);
                return r;
        }
        if (l.n)
                qsort(l.v, l.n, sizeof(*l.v), cmp_names);
        *ret = l;
        return 0;
}

static int remove_at(int dirfd, const char *name, unsigned depth)
{
        if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR)
                return negative_errno();
        if (depth > TREE_DEPTH_MAX)
                return -ELOOP;
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        struct names l = { 0 };
        int r = list_dir(fd, &l);
        for (size_t i = 0; r >= 0 && i < l.n; i++)
                r = remove_at(fd, l.v[i], depth + 1);
        names_free(&l);
        if (r < 0)
                return r;
        return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? negative_errno() : 0;
}

int overlay_remove_tree(const char *path)
{
        if (!path || !*path)
                return -EINVAL;
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        size_t n = strlen(copy);
        while (n > 1 && copy[n - 1] == '/')
                copy[--n] = '\0';
        char *slash = strrchr(copy, '/');
        if (!slash)
                return remove_at(AT_FDCWD, copy, 0);
        if (slash == copy)
                return slash[1] ? remove_at(AT_FDCWD, copy, 0) : -EINVAL;
        *slash = '\0';
        _cleanup_close_ int pfd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        return remove_at(pfd, slash + 1, 0);
}

