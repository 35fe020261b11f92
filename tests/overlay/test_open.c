/* SPDX-License-Identifier: Apache-2.0 */
/* The streaming opener and the commit, on overlays made in memory: what a
 * good one extracts to, fed whole or a byte at a time; that every
 * truncation and every altered byte is refused and leaves no staging
 * directory; the header's promises (sizes, entries, the expected overlay)
 * held against the stream; and commit's merge and conflicts. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <zstd.h>

#include "helpers.h"
#include "open.h"

static struct overlay_signers *pins;
static char tmp[64];
/* file contents zstd cannot shrink, so overlays span several chunks */
static char noise[20000];

static int setup(void **state)
{
        uint32_t x = 2463534242u;
        for (size_t i = 0; i < sizeof(noise); i++) {
                x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                noise[i] = (char)x;
        }
        strcpy(tmp, "/tmp/ember-open-test.XXXXXX");
        if (!mkdtemp(tmp))
                return -1;
        return overlay_signers_parse(TEST_PUB_A, strlen(TEST_PUB_A), &pins, NULL);
}

static int teardown(void **state)
{
        overlay_signers_free(pins);
        return overlay_remove_tree(tmp);
}

static const char config_yaml[] = "token: secret\nserver: https://10.0.2.2:9345\n";

/* A small tree with every kind of entry; several chunks at 4 KiB. */
static const struct tspec sample_tree[] = {
        { 'd', "etc", NULL, 0755, 0, 0, 1600000000, NULL, 0 },
        { 'd', "etc/rancher/rke2", NULL, 0700, 0, 0, 1600000001, NULL, 0 }, /* etc/rancher implied */
        { 'f', "etc/rancher/rke2/config.yaml", NULL, 0600, 0, 0, 1600000002, config_yaml, sizeof(config_yaml) - 1 },
        { 'l', "etc/localtime", "/usr/share/zoneinfo/UTC", 0777, 0, 0, 1600000003, NULL, 0 },
        { 'l', "etc/rke2", "rancher/rke2", 0777, 0, 0, 1600000004, NULL, 0 },
        { 'f', "usr/local/bin/tool", NULL, 04755, 1000, 1001, 1600000005, noise, sizeof(noise) },
        { 'h', "usr/local/bin/tool-link", "usr/local/bin/tool", 0, 0, 0, 0, NULL, 0 },
        { 'f', "var/lib/empty", NULL, 0640, 3, 4, 1600000006, NULL, 0 },
};
#define SAMPLE_ENTRIES 8

static void sample_overlay(struct buf *out, struct overlay_header *h, const struct seal_opts *o)
{
        struct buf tar = { 0 };
        assert_int_equal(tar_build(sample_tree, SAMPLE_ENTRIES, &tar), 0);
        assert_int_equal(overlay_from_tar(tar.p, tar.n, SAMPLE_ENTRIES, o, out, h), 0);
        free(tar.p);
}

struct result {
        int r;
        char why[512];
};

/* Feeds p in pieces of step bytes (0: all at once), then finishes. */
static struct result run(const uint8_t *p, size_t n, size_t step, struct overlay_open_config *c)
{
        struct result res = { 0, "" };
        struct overlay_open *o = NULL;
        struct overlay_open_config def;
        if (!c) {
                overlay_open_config_default(&def);
                def.data_key = (const uint8_t *)TEST_DATA_KEY;
                c = &def;
        }
        if (!c->signers)
                c->signers = pins;
        res.r = overlay_open_new(c, &o, res.why, sizeof(res.why));
        if (res.r < 0)
                return res;
        if (step == 0)
                step = n ? n : 1;
        for (size_t off = 0; off < n && res.r >= 0; off += step)
                res.r = overlay_open_feed(o, p + off, n - off < step ? n - off : step);
        if (res.r >= 0)
                res.r = overlay_open_finish(o);
        if (res.r < 0)
                snprintf(res.why, sizeof(res.why), "%s", overlay_open_error(o));
        overlay_open_free(o);
        return res;
}

static void expect_refused(struct result res, const char *want)
{
        if (res.r >= 0)
                fail_msg("accepted, wanted '%s'", want);
        if (!strstr(res.why, want))
                fail_msg("'%s' lacks '%s'", res.why, want);
}

static struct overlay_open_config with_staging(const char *staging)
{
        struct overlay_open_config c;
        overlay_open_config_default(&c);
        c.data_key = (const uint8_t *)TEST_DATA_KEY;
        c.staging = staging;
        c.restore_owners = geteuid() == 0;
        return c;
}

static bool exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

static void test_good(void **state)
{
        struct buf ov = { 0 };
        struct overlay_header h;
        sample_overlay(&ov, &h, NULL);
        assert_true(h.chunk_count >= 2);
        struct result whole = run(ov.p, ov.n, 0, NULL);
        assert_int_equal(whole.r, 0);
        struct result bytes = run(ov.p, ov.n, 1, NULL);
        assert_int_equal(bytes.r, 0);
        struct result odd = run(ov.p, ov.n, 4097, NULL);
        assert_int_equal(odd.r, 0);
        free(ov.p);
}

static void check_file(const char *root, const char *path, mode_t type, unsigned mode, unsigned uid, long mtime)
{
        char p[512];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", root, path);
        if (lstat(p, &st) < 0)
                fail_msg("%s: missing", path);
        assert_int_equal(st.st_mode & S_IFMT, type);
        if (type != S_IFLNK)
                assert_int_equal(st.st_mode & 07777, mode);
        assert_int_equal(st.st_uid, uid);
        assert_int_equal(st.st_mtim.tv_sec, mtime);
}

static void test_extract_and_commit(void **state)
{
        struct buf ov = { 0 };
        struct overlay_header h;
        char staging[128], root[128], p[256], link[64];
        struct overlay_open_config c;
        struct stat a, b;
        sample_overlay(&ov, &h, NULL);
        snprintf(staging, sizeof(staging), "%s/staging", tmp);
        snprintf(root, sizeof(root), "%s/root", tmp);
        c = with_staging(staging);
        assert_int_equal(run(ov.p, ov.n, 1000, &c).r, 0);

        check_file(staging, "etc", S_IFDIR, 0755, 0, 1600000000);
        check_file(staging, "etc/rancher/rke2", S_IFDIR, 0700, 0, 1600000001);
        check_file(staging, "etc/rancher/rke2/config.yaml", S_IFREG, 0600, 0, 1600000002);
        check_file(staging, "etc/localtime", S_IFLNK, 0, 0, 1600000003);
        if (geteuid() == 0)
                check_file(staging, "usr/local/bin/tool", S_IFREG, 04755, 1000, 1600000005);
        snprintf(p, sizeof(p), "%s/etc/localtime", staging);
        assert_int_equal(readlink(p, link, sizeof(link)), strlen("/usr/share/zoneinfo/UTC"));
        snprintf(p, sizeof(p), "%s/usr/local/bin/tool", staging);
        assert_int_equal(stat(p, &a), 0);
        assert_int_equal(a.st_size, 20000);
        snprintf(p, sizeof(p), "%s/usr/local/bin/tool-link", staging);
        assert_int_equal(stat(p, &b), 0);
        assert_int_equal(a.st_ino, b.st_ino);
        /* an implied parent: 0755 whatever the umask */
        snprintf(p, sizeof(p), "%s/etc/rancher", staging);
        assert_int_equal(stat(p, &a), 0);
        assert_int_equal(a.st_mode & 07777, 0755);

        /* the root has etc (its own mode stays), an old config, other files */
        assert_int_equal(mkdir(root, 0755), 0);
        snprintf(p, sizeof(p), "%s/etc", root);
        assert_int_equal(mkdir(p, 0711), 0);
        snprintf(p, sizeof(p), "%s/etc/keep", root);
        assert_int_equal(close(open(p, O_CREAT | O_WRONLY, 0600)), 0);
        snprintf(p, sizeof(p), "%s/etc/localtime", root);
        assert_int_equal(symlink("/old/zone", p), 0);
        char why[300] = "";
        assert_int_equal(overlay_commit(staging, root, why, sizeof(why)), 0);
        assert_false(exists(staging));
        snprintf(p, sizeof(p), "%s/etc", root);
        assert_int_equal(stat(p, &a), 0);
        assert_int_equal(a.st_mode & 07777, 0711);
        snprintf(p, sizeof(p), "%s/etc/keep", root);
        assert_true(exists(p));
        snprintf(p, sizeof(p), "%s/etc/localtime", root);
        assert_int_equal(readlink(p, link, sizeof(link)), strlen("/usr/share/zoneinfo/UTC"));
        check_file(root, "etc/rancher/rke2/config.yaml", S_IFREG, 0600, 0, 1600000002);
        check_file(root, "etc/rancher/rke2", S_IFDIR, 0700, 0, 1600000001);
        check_file(root, "var/lib/empty", S_IFREG, 0640, geteuid() == 0 ? 3 : geteuid(), 1600000006);
        free(ov.p);
        assert_int_equal(overlay_remove_tree(root), 0);
}


/* Every cut of the file is refused, and the staging directory goes. */
static void test_truncated(void **state)
{
        struct buf ov = { 0 };
        struct overlay_header h;
        char staging[128];
        sample_overlay(&ov, &h, NULL);
        snprintf(staging, sizeof(staging), "%s/staging", tmp);
        for (size_t n = 0; n < ov.n; n += n < 300 || n > ov.n - 40 ? 1 : 97) {
                struct overlay_open_config c = with_staging(staging);
                struct result res = run(ov.p, n, n % 3 ? 513 : 0, &c);
                if (res.r >= 0)
                        fail_msg("%zu of %zu bytes accepted", n, ov.n);
                if (!strstr(res.why, "truncated") && !strstr(res.why, "header: truncated"))
                        fail_msg("%zu: '%s'", n, res.why);
                assert_false(exists(staging));
        }
        expect_refused(run(ov.p, 10, 0, NULL), "truncated: 10 bytes, in the header");
        expect_refused(run(ov.p, 258 + 100, 0, NULL), "truncated: chunk 0 of");
        char want[80];
        size_t last = ov.n - h.header_len - (h.chunk_count - 1) * (4096 + 16);
        snprintf(want, sizeof(want), "truncated: chunk %llu of %llu has %zu of its %zu bytes",
                 (unsigned long long)h.chunk_count - 1, (unsigned long long)h.chunk_count, last - 1, last);
        expect_refused(run(ov.p, ov.n - 1, 0, NULL), want);
        free(ov.p);
}

/* Every byte of the header and a spread of the chunks, one bit altered. */
static void test_altered(void **state)
{
        struct buf ov = { 0 };
        struct overlay_header h;
        sample_overlay(&ov, &h, NULL);
        for (size_t i = 0; i < ov.n; i += i < h.header_len ? 1 : 61) {
                for (uint8_t bit = 1; bit; bit <<= (i < h.header_len ? 7 : 1)) {
                        ov.p[i] ^= bit;
                        struct result res = run(ov.p, ov.n, 0, NULL);
                        ov.p[i] ^= bit;
                        if (res.r >= 0)
                                fail_msg("byte %zu bit %#x altered, accepted", i, bit);
                        if (i >= h.header_len && !strstr(res.why, "authentication failed"))
                                fail_msg("byte %zu: '%s'", i, res.why);
                }
        }
        /* the signature and a middle and the last chunk, by name */
        ov.p[200] ^= 1;
        expect_refused(run(ov.p, ov.n, 0, NULL), "signature: does not verify");
        ov.p[200] ^= 1;
        ov.p[h.header_len + 4112 + 7] ^= 1;
        expect_refused(run(ov.p, ov.n, 0, NULL), "chunk 1: authentication failed (wrong key or altered)");
        ov.p[h.header_len + 4112 + 7] ^= 1;
        ov.p[ov.n - 1] ^= 1;
        char want[64];
        snprintf(want, sizeof(want), "chunk %llu: authentication failed", (unsigned long long)h.chunk_count - 1);
        expect_refused(run(ov.p, ov.n, 0, NULL), want);
        ov.p[ov.n - 1] ^= 1;
        /* without the data key, the digest still finds it */
        struct overlay_open_config c;
        overlay_open_config_default(&c);
        assert_int_equal(run(ov.p, ov.n, 0, &c).r, 0);
        ov.p[h.header_len + 5000] ^= 1;
        expect_refused(run(ov.p, ov.n, 0, &c), "ciphertext: digest");
        free(ov.p);
}

static void test_reordered_and_swapped(void **state)
{
        struct buf ov = { 0 }, other = { 0 };
        struct overlay_header h;
        uint8_t rec[4112];
        sample_overlay(&ov, &h, NULL);
        sample_overlay(&other, NULL, NULL); /* same content, key, id; another nonce */
        uint8_t *c0 = ov.p + h.header_len, *c1 = c0 + sizeof(rec);
        memcpy(rec, c0, sizeof(rec));
        memcpy(c0, c1, sizeof(rec));
        memcpy(c1, rec, sizeof(rec));
        expect_refused(run(ov.p, ov.n, 0, NULL), "chunk 0: authentication failed");
        memcpy(c1, c0, sizeof(rec));
        memcpy(c0, rec, sizeof(rec));
        assert_int_equal(run(ov.p, ov.n, 0, NULL).r, 0);
        memcpy(c1, other.p + h.header_len + sizeof(rec), sizeof(rec));
        expect_refused(run(ov.p, ov.n, 0, NULL), "chunk 1: authentication failed");
        /* the last chunk moved up: its flag and index give it away */
        struct buf cut = { 0 };
        buf_add(&cut, ov.p, h.header_len + sizeof(rec));
        expect_refused(run(cut.p, cut.n, 0, NULL), "truncated");
        free(cut.p);
        free(ov.p);
        free(other.p);
}

static void test_extra_bytes(void **state)
{
        struct buf ov = { 0 };
        sample_overlay(&ov, NULL, NULL);
        buf_add(&ov, "x", 1);
        expect_refused(run(ov.p, ov.n, 0, NULL), "1 bytes after the last chunk");
        expect_refused(run(ov.p, ov.n, 1, NULL), "1 bytes after the last chunk");
        free(ov.p);
}

static void test_keys(void **state)
{
        struct buf ov = { 0 }, by_b = { 0 };
        struct overlay_open_config c;
        struct seal_opts o = { .signing_pem = TEST_KEY_B };
        uint8_t key[32];
        sample_overlay(&ov, NULL, NULL);
        sample_overlay(&by_b, NULL, &o);
        overlay_open_config_default(&c);
        memcpy(key, TEST_DATA_KEY, 32);
        key[31] ^= 1;
        c.data_key = key;
        expect_refused(run(ov.p, ov.n, 0, &c), "data key: its id");
        expect_refused(run(ov.p, ov.n, 0, &c), "(wrong key)");
        expect_refused(run(by_b.p, by_b.n, 0, NULL), "signature: signer");
        expect_refused(run(by_b.p, by_b.n, 0, NULL), "is not pinned");
        free(ov.p);
        free(by_b.p);
}

static void test_expected(void **state)
{
        struct buf ov = { 0 };
        struct overlay_header h;
        struct overlay_open_config c;
        sample_overlay(&ov, &h, NULL);
        overlay_open_config_default(&c);
        c.data_key = (const uint8_t *)TEST_DATA_KEY;
        c.expect_id = c.expect_serial = c.expect_digest = true;
        memcpy(c.id, h.id, 16);
        c.serial = h.serial;
        memcpy(c.ct_sha256, h.ct_sha256, 32);
        assert_int_equal(run(ov.p, ov.n, 0, &c).r, 0);
        c.serial = h.serial + 1;
        expect_refused(run(ov.p, ov.n, 0, &c), "overlay serial 7, the attestation reply named 8");
        c.serial = h.serial;
        c.id[15] ^= 1;
        expect_refused(run(ov.p, ov.n, 0, &c), "overlay id e3b0c442-98fc-1c14-9afb-f4c8996fb924, the attestation reply named");
        c.id[15] ^= 1;
        c.ct_sha256[0] ^= 1;
        expect_refused(run(ov.p, ov.n, 0, &c), "overlay digest");
        free(ov.p);
}

static void test_lying_sizes(void **state)
{
        struct buf tar = { 0 }, ov = { 0 };
        assert_int_equal(tar_build(sample_tree, SAMPLE_ENTRIES, &tar), 0);
        struct seal_opts o = { .content_size = tar.n - 1024 };
        assert_int_equal(overlay_from_tar(tar.p, tar.n, SAMPLE_ENTRIES, &o, &ov, NULL), 0);
        expect_refused(run(ov.p, ov.n, 0, NULL), "content: more than the");
        ov.n = 0;
        o = (struct seal_opts){ .content_size = tar.n + 512 };
        assert_int_equal(overlay_from_tar(tar.p, tar.n, SAMPLE_ENTRIES, &o, &ov, NULL), 0);
        expect_refused(run(ov.p, ov.n, 0, NULL), "bytes of tar, the header declares");
        ov.n = 0;
        o = (struct seal_opts){ .entries = 3 };
        assert_int_equal(overlay_from_tar(tar.p, tar.n, SAMPLE_ENTRIES, &o, &ov, NULL), 0);
        expect_refused(run(ov.p, ov.n, 0, NULL), "tar: more entries than the header's 3");
        ov.n = 0;
        o = (struct seal_opts){ .entries = 20 };
        assert_int_equal(overlay_from_tar(tar.p, tar.n, SAMPLE_ENTRIES, &o, &ov, NULL), 0);
        expect_refused(run(ov.p, ov.n, 0, NULL), "tar: 8 entries, the header declares 20");
        free(tar.p);
        free(ov.p);
}

static void test_bomb(void **state)
{
        static const struct tspec zeros[] = { { 'f', "zeros", NULL, 0644, 0, 0, 0, NULL, 20u << 20 } };
        struct buf tar = { 0 }, ov = { 0 };
        struct overlay_open_config c;
        assert_int_equal(tar_build(zeros, 1, &tar), 0);
        assert_int_equal(overlay_from_tar(tar.p, tar.n, 1, NULL, &ov, NULL), 0);
        expect_refused(run(ov.p, ov.n, 0, NULL), "compressed: ratio over 100:1");
        overlay_open_config_default(&c);
        c.data_key = (const uint8_t *)TEST_DATA_KEY;
        c.limits.max_ratio = 100000;
        assert_int_equal(run(ov.p, ov.n, 0, &c).r, 0);
        c.limits.max_content = 10u << 20;
        expect_refused(run(ov.p, ov.n, 0, &c), "over the limit");
        free(tar.p);
        free(ov.p);
}

static void test_payloads(void **state)
{
        struct buf tar = { 0 }, ov = { 0 }, two = { 0 };
        uint8_t *z;
        size_t zn;
        assert_int_equal(tar_build(sample_tree, SAMPLE_ENTRIES, &tar), 0);
        assert_int_equal(overlay_compress(tar.p, tar.n, &z, &zn), 0);
        /* two frames */
        buf_add(&two, z, zn);
        buf_add(&two, z, zn);
        assert_int_equal(overlay_from_payload(two.p, two.n, 2 * tar.n, SAMPLE_ENTRIES, NULL, &ov, NULL), 0);
        expect_refused(run(ov.p, ov.n, 0, NULL), "payload: data after the end of its zstd frame");
        /* a frame cut short */
        ov.n = 0;
        assert_int_equal(overlay_from_payload(z, zn - 5, tar.n, SAMPLE_ENTRIES, NULL, &ov, NULL), 0);
        expect_refused(run(ov.p, ov.n, 0, NULL), "payload: the zstd frame is incomplete");
        /* not zstd */
        ov.n = 0;
        assert_int_equal(overlay_from_payload(tar.p, tar.n, tar.n, SAMPLE_ENTRIES, NULL, &ov, NULL), 0);
        expect_refused(run(ov.p, ov.n, 0, NULL), "payload: zstd: ");
        free(z);
        /* zstd, but not a tar */
        static const char words[] = "this is not a tar archive, not even close to one, at all";
        assert_int_equal(overlay_compress((const uint8_t *)words, sizeof(words), &z, &zn), 0);
        ov.n = 0;
        assert_int_equal(overlay_from_payload(z, zn, sizeof(words), 1, NULL, &ov, NULL), 0);
        expect_refused(run(ov.p, ov.n, 0, NULL), "tar: ");
        free(z);
        /* a window larger than the opener allocates */
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        uint8_t out[65536];
        ZSTD_outBuffer ob = { out, sizeof(out), 0 };
        ZSTD_inBuffer ib = { tar.p, tar.n / 2, 0 };
        ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 26);
        ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue);
        ib = (ZSTD_inBuffer){ tar.p + tar.n / 2, tar.n - tar.n / 2, 0 };
        assert_int_equal(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end), 0);
        ZSTD_freeCCtx(cc);
        ov.n = 0;
        assert_int_equal(overlay_from_payload(out, ob.pos, tar.n, SAMPLE_ENTRIES, NULL, &ov, NULL), 0);
        expect_refused(run(ov.p, ov.n, 0, NULL), "payload: zstd: Frame requires too much memory");
        /* a tar of exactly five 128 KiB blocks: its last one fills the
         * decompressor's output to the byte, and the frame is complete */
        static const struct tspec fills[] = { { 'f', "zeros", NULL, 0644, 0, 0, 0, NULL, 5 * 131072 - 1536 } };
        free(tar.p);
        tar = (struct buf){ 0 };
        assert_int_equal(tar_build(fills, 1, &tar), 0);
        assert_int_equal(tar.n, 5 * 131072);
        ov.n = 0;
        assert_int_equal(overlay_from_tar(tar.p, tar.n, 1, NULL, &ov, NULL), 0);
        assert_int_equal(run(ov.p, ov.n, 0, NULL).r, 0);
        assert_int_equal(run(ov.p, ov.n, 1000, NULL).r, 0);
        free(tar.p);
        free(two.p);
        free(ov.p);
}

/* Hostile entries: refused, the staging directory gone, nothing written
 * where a link points. */
static void hostile(const struct tspec *v, size_t n, const char *want)
{
        struct buf tar = { 0 }, ov = { 0 };
        char staging[128], victim[128];
        snprintf(staging, sizeof(staging), "%s/staging", tmp);
        snprintf(victim, sizeof(victim), "%s/victim", tmp);
        assert_int_equal(tar_build(v, n, &tar), 0);
        assert_int_equal(overlay_from_tar(tar.p, tar.n, (uint32_t)n, NULL, &ov, NULL), 0);
        struct overlay_open_config c = with_staging(staging);
        expect_refused(run(ov.p, ov.n, 7, &c), want);
        assert_false(exists(staging));
        DIR *d = opendir(victim);
        assert_non_null(d);
        int count = 0;
        for (struct dirent *de; (de = readdir(d));)
                count++;
        closedir(d);
        assert_int_equal(count, 2);
        free(tar.p);
        free(ov.p);
}

static void test_hostile_entries(void **state)
{
        char victim[128], victim_file[160];
        snprintf(victim, sizeof(victim), "%s/victim", tmp);
        snprintf(victim_file, sizeof(victim_file), "%s/victim/passwd", tmp);
        assert_int_equal(mkdir(victim, 0755), 0);
        const struct tspec through_abs[] = { { 'l', "a", victim, 0777, 0, 0, 0, NULL, 0 },
                                             { 'f', "a/passwd", NULL, 0644, 0, 0, 0, "x", 1 } };
        hostile(through_abs, 2, "entry a/passwd: 'a' is a symlink");
        const struct tspec through_rel[] = { { 'd', "d", NULL, 0755, 0, 0, 0, NULL, 0 },
                                             { 'l', "d/up", "../../victim", 0777, 0, 0, 0, NULL, 0 },
                                             { 'f', "d/up/passwd", NULL, 0644, 0, 0, 0, "x", 1 } };
        hostile(through_rel, 3, "'d/up' is a symlink");
        const struct tspec dotdot[] = { { 'f', "etc/../../victim/passwd", NULL, 0644, 0, 0, 0, "x", 1 } };
        hostile(dotdot, 1, "'..' component");
        const struct tspec absolute[] = { { 'f', victim_file, NULL, 0644, 0, 0, 0, "x", 1 } };
        hostile(absolute, 1, "absolute path");
        const struct tspec hard_out[] = { { 'h', "h", victim_file, 0, 0, 0, 0, NULL, 0 } };
        hostile(hard_out, 1, "hard link to");
        const struct tspec hard_later[] = { { 'h', "h", "f", 0, 0, 0, 0, NULL, 0 },
                                            { 'f', "f", NULL, 0644, 0, 0, 0, "x", 1 } };
        hostile(hard_later, 2, "which is not an earlier entry");
        const struct tspec dev[] = { { 'f', "ok", NULL, 0644, 0, 0, 0, "x", 1 },
                                     { 'c', "dev/tty9", NULL, 0600, 0, 0, 0, NULL, 0 } };
        hostile(dev, 2, "entry dev/tty9: a device node");
        const struct tspec fifo[] = { { 'p', "run/fifo", NULL, 0600, 0, 0, 0, NULL, 0 } };
        hostile(fifo, 1, "a FIFO");
        const struct tspec twice[] = { { 'f', "f", NULL, 0644, 0, 0, 0, "x", 1 },
                                       { 'f', "f", NULL, 0644, 0, 0, 0, "y", 1 } };
        hostile(twice, 2, "entry f: appears twice");
        assert_int_equal(rmdir(victim), 0);
}

/* ---- the pipeline: feed() verifies chunks while the reader extracts ---- */

/* Noise zstd cannot shrink, enough for many 4 KiB chunks and several
 * zstd blocks (128 KiB of output each, released only whole). */
static char big[300000];

static void big_noise(void)
{
        uint32_t x = 88675123u;
        for (size_t i = 0; i < sizeof(big); i++) {
                x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                big[i] = (char)(x >> 7);
        }
}

/* The chunk at the end of which the decompressor first releases byte
 * `byte` of the tar: nothing from that byte on can be read before it. */
static uint64_t chunk_releasing(const uint8_t *tar, size_t n, size_t byte)
{
        uint8_t *z, out[1 << 17];
        size_t zn, got = 0;
        assert_int_equal(overlay_compress(tar, n, &z, &zn), 0);
        ZSTD_DCtx *d = ZSTD_createDCtx();
        size_t i = 0;
        for (; i < zn && got <= byte; i++) {
                ZSTD_inBuffer in = { z + i, 1, 0 };
                while (in.pos < in.size || got <= byte) {
                        ZSTD_outBuffer o = { out, sizeof(out), 0 };
                        assert_false(ZSTD_isError(ZSTD_decompressStream(d, &o, &in)));
                        got += o.pos;
                        if (o.pos < o.size && in.pos == in.size)
                                break;
                }
        }
        ZSTD_freeDCtx(d);
        free(z);
        assert_true(got > byte);
        return (i - 1) / 4096; /* byte i - 1 of the payload released it */
}

/* An overlay of 4 KiB chunks whose tar holds noise around one refused
 * entry, just after many small files deep down (slow to create: the
 * reader is busy with them when feed() already opens the next chunks);
 * *ret_end is the chunk whose plaintext first lets the reader see the
 * refused entry's header. */
#define DEEP 40
static void hostile_between(struct buf *ov, struct overlay_header *h, uint64_t *ret_end)
{
        static const char dir[] = "d/e/e/p/d/o/w/n/a/n/d/f/u/r/t/h/e/r/d/o/w/n/";
        static char paths[DEEP][64];
        struct tspec v[DEEP + 3] = {
                { 'f', "a", NULL, 0644, 0, 0, 0, big, 150000 },
        };
        for (size_t i = 0; i < DEEP; i++) {
                snprintf(paths[i], sizeof(paths[i]), "%sf%zu", dir, i);
                v[1 + i] = (struct tspec){ 'f', paths[i], NULL, 0644, 0, 0, 0, "x", 1 };
        }
        v[DEEP + 1] = (struct tspec){ 'f', "etc/../x", NULL, 0644, 0, 0, 0, "x", 1 };
        v[DEEP + 2] = (struct tspec){ 'f', "b", NULL, 0644, 0, 0, 0, big + 150000, 150000 };
        struct buf tar = { 0 };
        big_noise();
        assert_int_equal(tar_build(v, DEEP + 3, &tar), 0);
        const uint8_t *at = memmem(tar.p, tar.n, "etc/../x", 8);
        assert_non_null(at);
        *ret_end = chunk_releasing(tar.p, tar.n, (size_t)(at - tar.p) + 511);
        assert_int_equal(overlay_from_tar(tar.p, tar.n, DEEP + 3, NULL, ov, h), 0);
        free(tar.p);
}

/* The first refusal in the stream is the one reported, whichever thread
 * finds its own first: a refused entry before an altered chunk, however
 * close, wins; an altered chunk before the entry wins. Staging goes. */
static void test_pipeline_first_refusal(void **state)
{
        struct buf ov = { 0 };
        struct overlay_header h;
        uint64_t end;
        char staging[128], want[80];
        snprintf(staging, sizeof(staging), "%s/staging", tmp);
        hostile_between(&ov, &h, &end);
        assert_true(end > 8 && h.chunk_count > end + 8);
        for (uint64_t c = 0; c < h.chunk_count; c++) {
                size_t at = h.header_len + c * (4096 + 16) + 100;
                bool near = c + 4 > end && c < end + 4;
                for (int k = 0; k < (near ? 4 : 2); k++) {
                        struct overlay_open_config cfg = with_staging(staging);
                        ov.p[at] ^= 1;
                        struct result res = run(ov.p, ov.n, k == 0 ? 0 : k == 1 ? 5000 : k == 2 ? 7 : 4112, &cfg);
                        ov.p[at] ^= 1;
                        assert_false(exists(staging));
                        snprintf(want, sizeof(want), "chunk %llu: authentication failed", (unsigned long long)c);
                        expect_refused(res, c > end ? "'..' component" : want);
                }
        }
        free(ov.p);
}

/* The reader refuses an entry while feed() is chunks ahead (or waits for
 * a free buffer), and feed() refuses a chunk while the reader is busy or
 * waits for one: each time both threads end, nothing is left in staging,
 * every later call says the same. Many rounds, for the timings. */
static void test_pipeline_stops(void **state)
{
        struct buf ov = { 0 }, good = { 0 };
        struct overlay_header h;
        uint64_t end;
        char staging[128];
        snprintf(staging, sizeof(staging), "%s/staging", tmp);
        hostile_between(&ov, &h, &end);
        for (int i = 0; i < 20; i++) {
                struct overlay_open_config c = with_staging(staging);
                expect_refused(run(ov.p, ov.n, i % 2 ? 0 : 4112 * (size_t)(i + 1), &c), "'..' component");
                assert_false(exists(staging));
        }
        /* the entry's refusal while feed() waits at the last chunks */
        struct overlay_open *o = NULL;
        struct overlay_open_config c = with_staging(staging);
        c.signers = pins;
        char why[300];
        assert_int_equal(overlay_open_new(&c, &o, why, sizeof(why)), 0);
        int r = overlay_open_feed(o, ov.p, ov.n);
        if (r == 0)
                r = overlay_open_finish(o);
        assert_true(r < 0);
        assert_non_null(strstr(overlay_open_error(o), "'..' component"));
        assert_int_equal(overlay_open_feed(o, ov.p, 1), r);
        assert_int_equal(overlay_open_finish(o), r);
        assert_false(exists(staging));
        overlay_open_free(o);

        /* a good overlay of many chunks: a chunk refused while the reader
         * writes files, the opener freed while it waits, cut mid-way */
        const struct tspec many[] = {
                { 'f', "a", NULL, 0644, 0, 0, 0, big, 30000 },
                { 'f', "b", NULL, 0644, 0, 0, 0, big + 30000, 30000 },
                { 'f', "c", NULL, 0644, 0, 0, 0, big + 60000, 30000 },
                { 'f', "d", NULL, 0644, 0, 0, 0, big + 90000, 30000 },
        };
        struct buf tar = { 0 };
        assert_int_equal(tar_build(many, 4, &tar), 0);
        assert_int_equal(overlay_from_tar(tar.p, tar.n, 4, NULL, &good, &h), 0);
        assert_true(h.chunk_count >= 16);
        for (uint64_t k = 0; k < h.chunk_count; k++) {
                size_t at = h.header_len + k * (4096 + 16) + 5;
                char want[64];
                c = with_staging(staging);
                good.p[at] ^= 0x40;
                snprintf(want, sizeof(want), "chunk %llu: authentication failed", (unsigned long long)k);
                expect_refused(run(good.p, good.n, k % 2 ? 0 : 1000, &c), want);
                good.p[at] ^= 0x40;
                assert_false(exists(staging));

                c = with_staging(staging);
                c.signers = pins;
                assert_int_equal(overlay_open_new(&c, &o, why, sizeof(why)), 0);
                assert_int_equal(overlay_open_feed(o, good.p, at), 0);
                overlay_open_free(o);
                assert_false(exists(staging));
        }
        c = with_staging(staging);
        assert_int_equal(run(good.p, good.n, 0, &c).r, 0);
        assert_true(exists(staging));
        assert_int_equal(overlay_remove_tree(staging), 0);
        free(tar.p);
        free(good.p);
        free(ov.p);
}

static void test_staging_rules(void **state)
{
        struct buf ov = { 0 };
        char staging[128], why[300];
        struct overlay_open *o = NULL;
        sample_overlay(&ov, NULL, NULL);
        snprintf(staging, sizeof(staging), "%s/staging", tmp);
        struct overlay_open_config c = with_staging(staging);
        c.signers = pins;
        /* not ours: refused and left alone */
        assert_int_equal(mkdir(staging, 0700), 0);
        assert_int_equal(overlay_open_new(&c, &o, why, sizeof(why)), -EEXIST);
        assert_null(o);
        assert_non_null(strstr(why, "exists already"));
        assert_true(exists(staging));
        assert_int_equal(rmdir(staging), 0);
        /* staging needs the key */
        c.data_key = NULL;
        assert_int_equal(overlay_open_new(&c, &o, why, sizeof(why)), -EINVAL);
        c.data_key = (const uint8_t *)TEST_DATA_KEY;
        /* given up half way: gone */
        assert_int_equal(overlay_open_new(&c, &o, why, sizeof(why)), 0);
        assert_int_equal(overlay_open_feed(o, ov.p, ov.n / 2), 0);
        assert_true(exists(staging));
        assert_non_null(overlay_open_header(o));
        overlay_open_free(o);
        assert_false(exists(staging));
        /* after a failure every call says the same */
        assert_int_equal(overlay_open_new(&c, &o, why, sizeof(why)), 0);
        ov.p[300] ^= 1;
        int r = overlay_open_feed(o, ov.p, ov.n);
        assert_true(r < 0);
        assert_int_equal(overlay_open_feed(o, ov.p, 1), r);
        assert_int_equal(overlay_open_finish(o), r);
        assert_non_null(strstr(overlay_open_error(o), "chunk 0"));
        overlay_open_free(o);
        free(ov.p);
}

static void make(const char *root, const char *path, char type)
{
        char p[300];
        snprintf(p, sizeof(p), "%s/%s", root, path);
        if (type == 'd')
                assert_int_equal(mkdir(p, 0755), 0);
        else if (type == 'l')
                assert_int_equal(symlink("/nowhere", p), 0);
        else
                assert_int_equal(close(open(p, O_CREAT | O_WRONLY | O_EXCL, 0644)), 0);
}

static void expect_conflict(const char *staging, const char *root, const char *want)
{
        char why[300] = "";
        int r = overlay_commit(staging, root, why, sizeof(why));
        if (r >= 0 || !strstr(why, want))
                fail_msg("%d '%s', wanted '%s'", r, why, want);
        assert_false(exists(staging));
}

static void test_commit_conflicts(void **state)
{
        char staging[128], root[128], shm[128], p[300];
        snprintf(staging, sizeof(staging), "%s/staging", tmp);
        snprintf(root, sizeof(root), "%s/root", tmp);
        assert_int_equal(mkdir(root, 0755), 0);
        make(root, "etc", 'd');
        make(root, "etc/file", 'f');
        make(root, "lib", 'l');

        /* a directory where the root has a file; a file where it has one */
        assert_int_equal(mkdir(staging, 0700), 0);
        make(staging, "a-new", 'f');
        make(staging, "etc", 'd');
        make(staging, "etc/file", 'd');
        expect_conflict(staging, root, "commit: etc/file: the overlay has a directory where the root has a file");
        snprintf(p, sizeof(p), "%s/a-new", root);
        assert_false(exists(p)); /* the check pass moved nothing */
        assert_int_equal(mkdir(staging, 0700), 0);
        make(staging, "etc", 'f');
        expect_conflict(staging, root, "commit: etc: the overlay has a file where the root has a directory");
        /* the root's symlink is not followed into, nor replaced by a directory */
        assert_int_equal(mkdir(staging, 0700), 0);
        make(staging, "lib", 'd');
        make(staging, "lib/x", 'f');
        expect_conflict(staging, root, "the overlay has a directory where the root has a symlink");
        /* staging inside the root, named by the overlay itself */
        snprintf(p, sizeof(p), "%s/stage", root);
        assert_int_equal(mkdir(p, 0700), 0);
        make(p, "stage", 'd');
        expect_conflict(p, root, "commit: stage: is the staging directory itself");
        /* another file system: rename cannot move it */
        snprintf(shm, sizeof(shm), "/dev/shm/ember-open-test.%d", (int)getpid());
        assert_int_equal(mkdir(shm, 0700), 0);
        make(shm, "x", 'f');
        struct stat a, b;
        assert_int_equal(stat(shm, &a), 0);
        assert_int_equal(stat(root, &b), 0);
        assert_true(a.st_dev != b.st_dev);
        expect_conflict(shm, root, "are on different file systems");

        /* and what merges: new names move, files are replaced, the root's
         * directories and other files stay */
        assert_int_equal(mkdir(staging, 0700), 0);
        make(staging, "etc", 'd');
        make(staging, "etc/new", 'f');
        make(staging, "lib", 'l');
        make(staging, "usr", 'd');
        make(staging, "usr/bin", 'd');
        char why[300] = "";
        assert_int_equal(overlay_commit(staging, root, why, sizeof(why)), 0);
        assert_false(exists(staging));
        snprintf(p, sizeof(p), "%s/etc/file", root), assert_true(exists(p));
        snprintf(p, sizeof(p), "%s/etc/new", root), assert_true(exists(p));
        snprintf(p, sizeof(p), "%s/usr/bin", root), assert_true(exists(p));
        assert_int_equal(overlay_remove_tree(root), 0);
        assert_false(exists(root));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_extract_and_commit),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_altered),
                cmocka_unit_test(test_reordered_and_swapped),
                cmocka_unit_test(test_extra_bytes),
                cmocka_unit_test(test_keys),
                cmocka_unit_test(test_expected),
                cmocka_unit_test(test_lying_sizes),
                cmocka_unit_test(test_bomb),
                cmocka_unit_test(test_payloads),
                cmocka_unit_test(test_hostile_entries),
                cmocka_unit_test(test_pipeline_first_refusal),
                cmocka_unit_test(test_pipeline_stops),
                cmocka_unit_test(test_staging_rules),
                cmocka_unit_test(test_commit_conflicts),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
