/* SPDX-License-Identifier: Apache-2.0 */
#include "fileio.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>

#include "util.h"

int read_fd_all(int fd, size_t max, char **ret, size_t *ret_len)
{
        size_t cap = 0, len = 0;
        _cleanup_free_ char *buf = NULL;

        for (;;) {
                if (cap - len < 2) {
                        size_t ncap = cap ? cap * 2 : 16384;
                        if (cap > max)
                                return -EFBIG;
                        char *n = realloc(buf, ncap);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                        cap = ncap;
                }
                ssize_t n = read(fd, buf + len, cap - len - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max)
                        return -EFBIG;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

int read_file_all(const char *path, size_t max, char **ret, size_t *ret_len)
{
        if (streq(path, "-"))
                return read_fd_all(STDIN_FILENO, max, ret, ret_len);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        return read_fd_all(fd, max, ret, ret_len);
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
        char tmp[4096];
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.ember-tmp", path) >= sizeof(tmp))
                return -ENAMETOOLONG;
        (void)unlink(tmp);
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return negative_errno();
        const char *p = data;
        for (size_t off = 0; off < len;) {
                ssize_t n = write(fd, p + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int r = n < 0 ? negative_errno() : -EIO;
                        unlink(tmp);
                        return r;
                }
                off += (size_t)n;
        }
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0) {
                int r = negative_errno();
                unlink(tmp);
                return r;
        }
        return 0;
}

int write_full(int fd, const void *buf, size_t n)
{
        const uint8_t *p = buf;
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? negative_errno() : -EIO;
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

int read_full(int fd, void *buf, size_t n)
{
        uint8_t *p = buf;
        while (n > 0) {
                ssize_t k = read(fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? negative_errno() : -EBADMSG;
                p += k;
                n -= (size_t)k;
        }
        return 0;
}
