/* SPDX-License-Identifier: Apache-2.0 */
/* Loading module files into the kernel. Debian's kernel ships plain .ko
 * files; other kernels compress them, and only some can decompress in the
 * kernel (MODULE_INIT_COMPRESSED_FILE), so .gz and .zst are inflated here. */
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "kmod.h"
#include "util.h"

#define MODULE_MAX_BYTES (64u << 20)

static bool has_suffix(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && streq(s + n - m, suffix);
}

static int read_all(int fd, uint8_t **ret, size_t *ret_len)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (st.st_size <= 0 || (uint64_t)st.st_size > MODULE_MAX_BYTES)
                return -EFBIG;
        _cleanup_free_ uint8_t *buf = malloc((size_t)st.st_size);
        if (!buf)
                return -ENOMEM;
        size_t off = 0;
        while (off < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? negative_errno() : -EIO;
                off += (size_t)n;
        }
        *ret = TAKE_PTR(buf);
        *ret_len = off;
        return 0;
}

static int inflate_gzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *ret_len)
{
        z_stream z = { .next_in = (Bytef *)in, .avail_in = (uInt)len, .next_out = out, .avail_out = (uInt)cap };
        if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
                return -ENOMEM;
        int zr = inflate(&z, Z_FINISH);
        bool full = z.avail_out == 0;
        *ret_len = z.total_out;
        inflateEnd(&z);
        /* Z_BUF_ERROR means either the output is full or the input ended
         * early (a truncated file): only the first is "too big". */
        return zr == Z_STREAM_END ? 0 : zr == Z_BUF_ERROR && full ? -EFBIG : -EBADMSG;
}

static int inflate_zstd(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *ret_len)
{
        ZSTD_DCtx *d = ZSTD_createDCtx();
        if (!d)
                return -ENOMEM;
        ZSTD_inBuffer ib = { in, len, 0 };
        ZSTD_outBuffer ob = { out, cap, 0 };
        size_t zr;
        do
                zr = ZSTD_decompressStream(d, &ob, &ib);
        while (!ZSTD_isError(zr) && zr != 0 && ob.pos < ob.size && ib.pos < ib.size);
        ZSTD_freeDCtx(d);
        *ret_len = ob.pos;
        if (ZSTD_isError(zr))
                return -EBADMSG;
        return zr == 0 ? 0 : ob.pos == ob.size ? -EFBIG : -EBADMSG;
}

int kmod_decompress(int fd, bool zstd, uint8_t **ret, size_t *ret_len)
{
        _cleanup_free_ uint8_t *in = NULL;
        size_t in_len = 0, out_len = 0;
        int r = read_all(fd, &in, &in_len);
        if (r < 0)
                return r;
        _cleanup_free_ uint8_t *out = malloc(MODULE_MAX_BYTES);
        if (!out)
                return -ENOMEM;
        r = zstd ? inflate_zstd(in, in_len, out, MODULE_MAX_BYTES, &out_len)
                 : inflate_gzip(in, in_len, out, MODULE_MAX_BYTES, &out_len);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(out);
        *ret_len = out_len;
        return 0;
}

static int load_compressed(int fd, bool zstd)
{
        _cleanup_free_ uint8_t *image = NULL;
        size_t len = 0;
        int r = kmod_decompress(fd, zstd, &image, &len);
        if (r < 0)
                return r;
        if (syscall(SYS_init_module, image, (unsigned long)len, "") < 0)
                return negative_errno();
        return 0;
}

int kmod_load_file(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        int r;
        if (fd < 0)
                return negative_errno();
        if (has_suffix(path, ".ko.xz"))
                return -EPROTONOSUPPORT; /* no xz in the image: build with plain or zstd modules */
        if (has_suffix(path, ".ko.gz") || has_suffix(path, ".ko.zst"))
                r = load_compressed(fd, has_suffix(path, ".ko.zst"));
        else
                r = syscall(SYS_finit_module, fd, "", 0) < 0 ? negative_errno() : 0;
        return r == -EEXIST ? 1 : r;
}
