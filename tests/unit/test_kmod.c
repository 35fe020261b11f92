/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <zlib.h>
#include <zstd.h>

#include "kmod.h"
#include "util.h"

/* A captured excerpt of Debian 6.1's modules.dep, reordered on purpose. */
static const char dep[] =
        "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko "
        "kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
        "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
        "kernel/net/core/failover.ko:\n"
        "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n"
        "kernel/drivers/virtio/virtio_ring.ko:\n"
        "kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko\n"
        "kernel/fs/fat/fat.ko:\n"
        "kernel/drivers/watchdog/i6300esb.ko.zst: kernel/drivers/watchdog/watchdog.ko\n"
        "kernel/drivers/watchdog/watchdog.ko:\n"
        "kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko\n"
        "kernel/net/bridge/bridge.ko:\n";

static size_t pos_of(const struct moddb *db, const size_t *order, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (streq(db->mods[order[i]].name, name))
                        return i;
        fail_msg("%s not in the order", name);
        return SIZE_MAX;
}

static void test_module_name(void **state)
{
        char b[64];
        assert_int_equal(module_name("kernel/drivers/net/virtio_net.ko", b, sizeof(b)), 0);
        assert_string_equal(b, "virtio_net");
        assert_int_equal(module_name("kernel/x/nls-cp437.ko.zst", b, sizeof(b)), 0);
        assert_string_equal(b, "nls_cp437");
        assert_int_equal(module_name("i6300esb", b, sizeof(b)), 0);
        assert_string_equal(b, "i6300esb");
        assert_int_equal(module_name("kernel/.ko", b, sizeof(b)), -EINVAL);
        assert_int_equal(module_name("bad name", b, sizeof(b)), -EINVAL);
        assert_int_equal(module_name("kernel/averyveryverylongname.ko", b, 8), -EINVAL);
}

static void test_resolve_order(void **state)
{
        struct moddb db = { 0 };
        char err[256] = "";
        assert_int_equal(moddb_parse_dep(&db, dep, sizeof(dep) - 1, err, sizeof(err)), 0);
        assert_int_equal(db.n, 11);

        unsigned char st[11] = { 0 };
        size_t order[11], n = 0;
        assert_int_equal(moddb_resolve(&db, "virtio-net", st, order, &n, err, sizeof(err)), 0);
        assert_int_equal(n, 5);
        assert_true(pos_of(&db, order, n, "virtio_ring") < pos_of(&db, order, n, "virtio"));
        assert_true(pos_of(&db, order, n, "failover") < pos_of(&db, order, n, "net_failover"));
        assert_int_equal(pos_of(&db, order, n, "virtio_net"), 4);

        /* shared dependencies are not loaded twice */
        assert_int_equal(moddb_resolve(&db, "vfat", st, order, &n, err, sizeof(err)), 0);
        assert_int_equal(moddb_resolve(&db, "virtio_net", st, order, &n, err, sizeof(err)), 0);
        assert_int_equal(n, 7);
        assert_true(pos_of(&db, order, n, "fat") < pos_of(&db, order, n, "vfat"));

        assert_int_equal(moddb_resolve(&db, "i6300esb", st, order, &n, err, sizeof(err)), 0);
        assert_string_equal(db.mods[order[n - 1]].path, "kernel/drivers/watchdog/i6300esb.ko.zst");

        /* unknown: an error naming it, nothing appended */
        size_t before = n;
        assert_int_equal(moddb_resolve(&db, "e1000", st, order, &n, err, sizeof(err)), -ENOENT);
        assert_string_equal(err, "e1000 is not in modules.dep");
        assert_int_equal(n, before);
        moddb_free(&db);
}

static void test_cycle(void **state)
{
        static const char cyc[] = "a.ko: b.ko\nb.ko: c.ko\nc.ko: a.ko\nd.ko:\n";
        struct moddb db = { 0 };
        char err[256] = "";
        assert_int_equal(moddb_parse_dep(&db, cyc, sizeof(cyc) - 1, err, sizeof(err)), 0);
        unsigned char st[4] = { 0 };
        size_t order[4], n = 0;
        assert_int_equal(moddb_resolve(&db, "d", st, order, &n, err, sizeof(err)), 0);
        assert_int_equal(moddb_resolve(&db, "a", st, order, &n, err, sizeof(err)), -ELOOP);
        assert_non_null(strstr(err, "dependency cycle"));
        assert_int_equal(n, 1);
        /* the failed walk left no half-visited state behind */
        assert_int_equal(st[0] | st[1] | st[2], 0);
        moddb_free(&db);
}

static void test_parse_hostile(void **state)
{
        static const struct {
                const char *text, *needle;
                int err;
        } cases[] = {
                { "no-colon.ko\n", "line 1", -EBADMSG },
                { "a.ko:\n/abs.ko:\n", "line 2", -EBADMSG },
                { "a.ko: ../../etc/x.ko\n", "line 1", -EBADMSG },
                { "a.ko: missing.ko\n", "depends on missing.ko", -ENOENT },
                { ":\n", "line 1", -EBADMSG },
                { "a b.ko:\n", "line 1", -EBADMSG },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct moddb db = { 0 };
                char err[256] = "";
                int r = moddb_parse_dep(&db, cases[i].text, strlen(cases[i].text), err, sizeof(err));
                if (r != cases[i].err || !strstr(err, cases[i].needle))
                        fail_msg("case %zu: r=%d err='%s'", i, r, err);
                assert_int_equal(db.n, 0);
                assert_null(db.mods);
        }
}

/* A failed parse leaves an existing database as it was. */
static void test_parse_keeps_old(void **state)
{
        struct moddb db = { 0 };
        char err[256];
        assert_int_equal(moddb_parse_dep(&db, dep, sizeof(dep) - 1, err, sizeof(err)), 0);
        assert_int_equal(moddb_parse_dep(&db, "x", 1, err, sizeof(err)), -EBADMSG);
        assert_int_equal(db.n, 11);
        assert_true(moddb_find(&db, "vfat") >= 0);
        moddb_free(&db);
}

static void test_truncated(void **state)
{
        /* every prefix parses or fails cleanly, never crashes */
        for (size_t len = 0; len < sizeof(dep) - 1; len++) {
                struct moddb db = { 0 };
                char err[256];
                int r = moddb_parse_dep(&db, dep, len, err, sizeof(err));
                assert_true(r == 0 || r == -EBADMSG || r == -ENOENT);
                if (r < 0)
                        assert_int_equal(db.n, 0);
                moddb_free(&db);
        }
}

static void test_builtin(void **state)
{
        static const char b[] = "kernel/drivers/char/tpm/tpm_tis.ko\nkernel/fs/ext4/ext4.ko\n";
        struct moddb db = { 0 };
        assert_int_equal(moddb_parse_builtin(&db, b, sizeof(b) - 1), 0);
        assert_true(moddb_is_builtin(&db, "tpm_tis"));
        assert_true(moddb_is_builtin(&db, "ext4"));
        assert_false(moddb_is_builtin(&db, "vfat"));
        /* one-letter lines: more entries than a quarter of the length
         * (found by the fuzzer: the table was sized len/4) */
        static const char shorts[] = "s\n\nk\n\nS";
        assert_int_equal(moddb_parse_builtin(&db, shorts, sizeof(shorts) - 1), 0);
        assert_int_equal(db.nbuiltin, 3);
        assert_true(moddb_is_builtin(&db, "S"));
        moddb_free(&db);
}

/* A temporary file holding len bytes of data, rewound. */
static int tmpfile_with(const void *data, size_t len)
{
        char path[] = "/tmp/ember-kmod-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        unlink(path);
        assert_int_equal(write(fd, data, len), (ssize_t)len);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

static void fake_module(uint8_t *buf, size_t len)
{
        static const uint8_t elf[] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
        for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)(i * 31 + (i >> 7));
        memcpy(buf, elf, sizeof(elf));
}

static size_t gzip_into(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
        z_stream z = { .next_in = (Bytef *)in, .avail_in = (uInt)len, .next_out = out, .avail_out = (uInt)cap };
        assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        size_t n = z.total_out;
        deflateEnd(&z);
        return n;
}

static void test_decompress(void **state)
{
        enum { N = 300000 };
        uint8_t *mod = malloc(N), *packed = malloc(2 * N), *out = NULL;
        size_t out_len = 0;
        assert_non_null(mod);
        assert_non_null(packed);
        fake_module(mod, N);

        for (int zstd = 0; zstd < 2; zstd++) {
                size_t plen = zstd ? ZSTD_compress(packed, 2 * N, mod, N, 3) : gzip_into(mod, N, packed, 2 * N);
                assert_false(zstd && ZSTD_isError(plen));

                int fd = tmpfile_with(packed, plen);
                assert_int_equal(kmod_decompress(fd, zstd, &out, &out_len), 0);
                assert_int_equal(out_len, N);
                assert_memory_equal(out, mod, N);
                free(out);
                out = NULL;
                close(fd);

                /* truncated: refused, nothing returned */
                fd = tmpfile_with(packed, plen / 2);
                assert_int_equal(kmod_decompress(fd, zstd, &out, &out_len), -EBADMSG);
                assert_null(out);
                close(fd);

                /* corrupted in the middle */
                packed[plen / 2] ^= 0xff;
                packed[plen / 2 + 1] ^= 0x55;
                fd = tmpfile_with(packed, plen);
                assert_true(kmod_decompress(fd, zstd, &out, &out_len) < 0);
                assert_null(out);
                close(fd);
        }
        /* empty file */
        int fd = tmpfile_with("", 0);
        assert_int_equal(kmod_decompress(fd, true, &out, &out_len), -EFBIG);
        close(fd);
        free(mod);
        free(packed);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_module_name),  cmocka_unit_test(test_resolve_order),
                cmocka_unit_test(test_cycle),        cmocka_unit_test(test_parse_hostile),
                cmocka_unit_test(test_parse_keeps_old), cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_builtin),      cmocka_unit_test(test_decompress),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
