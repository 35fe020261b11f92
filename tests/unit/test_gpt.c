/* SPDX-License-Identifier: Apache-2.0 */
/* efi/gpt.c against sfdisk (util-linux), a real peer: images partitioned by
 * sfdisk are parsed and compared with `sfdisk --json` (partition numbers,
 * first and last LBA, type and unique GUIDs, names); 4096-byte sectors
 * through a loop device (root only, skipped otherwise). Then hostile tables
 * made from an honest one: every truncation, each field out of range with
 * the CRCs recomputed so the check behind them is what refuses, bad CRCs,
 * huge counts, entries beyond the buffer or the disk. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <zlib.h>

#include "gpt.h"
#include "rd_le.h"
#include "util.h"

#define ESP "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
#define LINUX "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

static char dir[64];
static char img[128];

static bool have_sfdisk(void) { return system("sfdisk --version >/dev/null 2>&1") == 0; }

static int setup(void **state)
{
        snprintf(dir, sizeof(dir), "/tmp/test-gpt.XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        snprintf(img, sizeof(img), "%s/disk.img", dir);
        return 0;
}

static int teardown(void **state)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

/* Partitions target (an image file or a loop device) with sfdisk. */
static void sfdisk(const char *target, const char *script)
{
        char path[128], cmd[512];
        snprintf(path, sizeof(path), "%s/script", dir);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(script, f);
        fclose(f);
        snprintf(cmd, sizeof(cmd), "sfdisk -q --no-reread --no-tell-kernel '%s' < '%s' >/dev/null 2>&1", target,
                 path);
        assert_int_equal(system(cmd), 0);
}

static void make_blank(size_t mib)
{
        int fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t)mib << 20), 0);
        close(fd);
}

static void make_image(size_t mib, const char *script)
{
        make_blank(mib);
        sfdisk(img, script);
}

static json_object *sfdisk_json(const char *target)
{
        char cmd[256], buf[65536];
        snprintf(cmd, sizeof(cmd), "sfdisk --json '%s'", target);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        size_t n = fread(buf, 1, sizeof(buf) - 1, p);
        buf[n] = '\0';
        assert_int_equal(pclose(p), 0);
        json_object *j = json_tokener_parse(buf);
        assert_non_null(j);
        return j;
}

static const char *jstr(json_object *o, const char *key)
{
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static int64_t jint(json_object *o, const char *key)
{
        json_object *v;
        assert_true(json_object_object_get_ex(o, key, &v));
        return json_object_get_int64(v);
}

/* Our parse of the disk against sfdisk's: same partitions, numbers, LBAs,
 * GUIDs; names as far as they are ASCII. Returns the number of partitions. */
static size_t compare_with_sfdisk(json_object *j, const struct gpt_part *parts, size_t n)
{
        json_object *table, *list;
        assert_true(json_object_object_get_ex(j, "partitiontable", &table));
        assert_true(json_object_object_get_ex(table, "partitions", &list));
        size_t count = json_object_array_length(list);
        assert_int_equal(count, n);
        for (size_t i = 0; i < count; i++) {
                json_object *p = json_object_array_get_idx(list, i);
                const char *node = jstr(p, "node");
                size_t l = strlen(node);
                while (l > 0 && isdigit((unsigned char)node[l - 1]))
                        l--;
                unsigned number = (unsigned)atoi(node + l);
                const struct gpt_part *g = NULL;
                for (size_t k = 0; k < n; k++)
                        if (parts[k].number == number)
                                g = &parts[k];
                assert_non_null(g);
                assert_int_equal(g->first_lba, jint(p, "start"));
                assert_int_equal(g->last_lba, jint(p, "start") + jint(p, "size") - 1);
                assert_int_equal(strcasecmp(g->type_str, jstr(p, "type")), 0);
                assert_int_equal(strcasecmp(g->uuid_str, jstr(p, "uuid")), 0);
                for (const char *c = g->uuid_str; *c; c++)
                        assert_false(isupper((unsigned char)*c));
                const char *name = jstr(p, "name");
                bool ascii = true;
                for (const char *c = name ? name : ""; *c; c++)
                        ascii = ascii && (unsigned char)*c < 0x80;
                if (ascii)
                        assert_string_equal(g->name, name ? name : "");
                uint8_t type[16];
                assert_int_equal(gpt_guid_parse(jstr(p, "type"), type), 0);
                assert_memory_equal(type, g->type, 16);
                assert_int_equal(gpt_is_esp(g->type), strcasecmp(jstr(p, "type"), ESP) == 0);
        }
        return count;
}

static int read_image(struct gpt_part *parts, size_t cap, size_t *n, unsigned sector_size, char *why, size_t len)
{
        const struct reason w = { why, len };
        int fd = open(img, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        int r = gpt_read_fd(fd, sector_size, parts, cap, n, &w);
        close(fd);
        return r;
}

static void test_sfdisk_512(void **state)
{
        if (!have_sfdisk())
                skip();
        struct gpt_part parts[GPT_ENTRIES_MAX];
        size_t n = 0;
        char why[256] = "";
        /* slots out of order and with gaps, a non-ASCII name */
        make_image(64, "label: gpt\n"
                       "disk.img3 : size=32M, type=" ESP ", name=\"EFI System\"\n"
                       "disk.img1 : size=8M, type=" LINUX ", uuid=01234567-89ab-cdef-0123-456789abcdef,"
                       " name=\"root\", attrs=\"RequiredPartition\"\n"
                       "disk.img7 : size=1M, type=" LINUX ", name=\"\xc3\x89t\xc3\xa9\"\n");
        assert_int_equal(read_image(parts, ELEMENTSOF(parts), &n, 512, why, sizeof(why)), 0);
        json_object *j = sfdisk_json(img);
        assert_int_equal(compare_with_sfdisk(j, parts, n), 3);
        json_object_put(j);
        /* in table order */
        assert_int_equal(parts[0].number, 1);
        assert_int_equal(parts[1].number, 3);
        assert_int_equal(parts[2].number, 7);
        assert_string_equal(parts[0].uuid_str, "01234567-89ab-cdef-0123-456789abcdef");
        assert_true(parts[0].attrs & 1);
        assert_string_equal(parts[1].name, "EFI System");
        assert_true(gpt_is_esp(parts[1].type));
        assert_string_equal(parts[1].type_str, GPT_ESP_TYPE);
        assert_false(gpt_is_esp(parts[0].type));
        assert_string_equal(parts[2].name, "?t?");

        /* the same image as a 4096-byte-sector disk: nothing there */
        assert_int_equal(read_image(parts, ELEMENTSOF(parts), &n, 4096, why, sizeof(why)), -ENOMSG);
        /* a disk without any table */
        make_image(1, "label: dos\nsize=100K, type=83\n");
        assert_int_equal(read_image(parts, ELEMENTSOF(parts), &n, 512, why, sizeof(why)), -ENOMSG);
}

static void test_sfdisk_many(void **state)
{
        if (!have_sfdisk())
                skip();
        /* 128 partitions: every entry of the default array used */
        char script[16384] = "label: gpt\n";
        for (int i = 0; i < 128; i++) {
                size_t o = strlen(script);
                snprintf(script + o, sizeof(script) - o, "size=64K, type=%s\n", i % 5 ? LINUX : ESP);
        }
        make_image(160, script); /* sparse: sfdisk aligns every partition to 1 MiB */
        struct gpt_part parts[GPT_ENTRIES_MAX];
        size_t n = 0, untouched = 999;
        char why[256] = "";
        assert_int_equal(read_image(parts, ELEMENTSOF(parts), &n, 512, why, sizeof(why)), 0);
        json_object *j = sfdisk_json(img);
        assert_int_equal(compare_with_sfdisk(j, parts, n), 128);
        json_object_put(j);
        /* one slot too few */
        assert_int_equal(read_image(parts, 127, &untouched, 512, why, sizeof(why)), -ENOBUFS);
        assert_int_equal(untouched, 999);
}

/* 4096-byte sectors: sfdisk takes the sector size from the device, so the
 * image is partitioned through a loop device with that block size. */
static void test_sfdisk_4096(void **state)
{
        if (!have_sfdisk() || geteuid() != 0)
                skip();
        char cmd[512], loopdev[64] = "";
        make_blank(16);
        snprintf(cmd, sizeof(cmd), "losetup -b 4096 --show -f '%s' 2>/dev/null", img);
        FILE *p = popen(cmd, "r");
        if (!p || !fgets(loopdev, sizeof(loopdev), p)) {
                if (p)
                        pclose(p);
                skip(); /* no loop devices here */
        }
        pclose(p);
        loopdev[strcspn(loopdev, "\n")] = '\0';
        sfdisk(loopdev, "label: gpt\nsize=2M, type=" ESP ", name=\"EFI\"\ntype=" LINUX ", name=\"data\"\n");
        json_object *j = sfdisk_json(loopdev);
        snprintf(cmd, sizeof(cmd), "losetup -d '%s'", loopdev);
        assert_int_equal(system(cmd), 0);

        struct gpt_part parts[8];
        size_t n = 0;
        char why[256] = "";
        assert_int_equal(read_image(parts, ELEMENTSOF(parts), &n, 4096, why, sizeof(why)), 0);
        assert_int_equal(compare_with_sfdisk(j, parts, n), 2);
        json_object_put(j);
        assert_true(gpt_is_esp(parts[0].type));
        /* read as 512-byte sectors there is no GPT at LBA 1 */
        assert_int_equal(read_image(parts, ELEMENTSOF(parts), &n, 512, why, sizeof(why)), -ENOMSG);
}

/* ---- hostile tables, made from an honest one ---- */

static uint8_t *honest(size_t *len)
{
        make_image(4, "label: gpt\nsize=1M, type=" ESP "\ntype=" LINUX ", name=\"data\"\n");
        int fd = open(img, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        *len = 34 * 512; /* protective MBR, header, 128 entries */
        uint8_t *b = malloc(*len);
        assert_non_null(b);
        assert_int_equal(read(fd, b, *len), (ssize_t)*len);
        close(fd);
        return b;
}

#define H 512 /* the header's offset in a 512-byte-sector image */

static void fix_crcs(uint8_t *b, size_t len)
{
        uint32_t count = le32_at(b + H + 80), size = le32_at(b + H + 84);
        uint64_t lba = le64_at(b + H + 72);
        if (lba < len / 512 && (uint64_t)count * size <= len - lba * 512)
                put_le32(b + H + 88, (uint32_t)crc32(0, b + lba * 512, (uInt)((uint64_t)count * size)));
        uint32_t hs = le32_at(b + H + 12);
        if (hs > 512)
                hs = 512;
        put_le32(b + H + 16, 0);
        put_le32(b + H + 16, (uint32_t)crc32(0, b + H, hs));
}

static int parse(const uint8_t *b, size_t len, size_t *n, char *why)
{
        struct gpt_part parts[GPT_ENTRIES_MAX];
        const struct reason w = { why, 256 };
        why[0] = '\0';
        return gpt_parse(b, len, 512, parts, ELEMENTSOF(parts), n, &w);
}

static void test_truncated(void **state)
{
        if (!have_sfdisk())
                skip();
        size_t len, n = 0;
        char why[256];
        _cleanup_free_ uint8_t *b = honest(&len);
        assert_int_equal(parse(b, len, &n, why), 0);
        assert_int_equal(n, 2);
        /* every length short of the entry array's end */
        for (size_t l = 0; l < len; l++) {
                size_t untouched = 777;
                assert_int_equal(parse(b, l, &untouched, why), -EBADMSG);
                assert_int_equal(untouched, 777);
        }
        assert_int_equal(parse(NULL, len, &n, why), -EBADMSG);
        /* a disk that ends early */
        assert_int_equal(truncate(img, 3 * 512), 0);
        struct gpt_part parts[4];
        assert_int_equal(read_image(parts, 4, &n, 512, why, 256), -EBADMSG);
        assert_non_null(strstr(why, "beyond the disk"));
        assert_int_equal(truncate(img, 512 + 91), 0);
        assert_int_equal(read_image(parts, 4, &n, 512, why, 256), -EBADMSG);
        assert_non_null(strstr(why, "LBA 1"));
}

struct mutation {
        const char *what;
        size_t off;   /* from the header's start */
        unsigned width;
        uint64_t value;
        bool fix;     /* recompute the CRCs afterwards */
        int want;
        const char *why;
};

static void put(uint8_t *p, unsigned width, uint64_t v)
{
        if (width == 8)
                put_le64(p, v);
        else
                put_le32(p, (uint32_t)v);
}

static void test_header_fields(void **state)
{
        if (!have_sfdisk())
                skip();
        static const struct mutation m[] = {
                { "signature", 0, 4, 0x20494646, true, -ENOMSG, "no GPT signature" },
                { "revision 1.1", 8, 4, 0x00010001, true, -EBADMSG, "revision" },
                { "revision 0", 8, 4, 0, true, -EBADMSG, "revision" },
                { "header size 91", 12, 4, 91, true, -EBADMSG, "header size" },
                { "header size > sector", 12, 4, 513, true, -EBADMSG, "header size" },
                { "header size huge", 12, 4, 0xffffffff, true, -EBADMSG, "header size" },
                { "header CRC", 16, 4, 0x12345678, false, -EBADMSG, "header CRC32" },
                { "MyLBA 2", 24, 8, 2, true, -EBADMSG, "not 1" },
                { "MyLBA 0", 24, 8, 0, true, -EBADMSG, "not 1" },
                { "usable reversed", 48, 8, 1, true, -EBADMSG, "reversed" },
                { "entries at LBA 1", 72, 8, 1, true, -EBADMSG, "entry array" },
                { "entries in the usable range", 72, 8, 2048, true, -EBADMSG, "entry array" },
                { "entries at the last LBA", 72, 8, UINT64_MAX, true, -EBADMSG, "entry array" },
                { "1025 entries", 80, 4, 1025, true, -EBADMSG, "more than 1024" },
                { "2^32-1 entries", 80, 4, 0xffffffff, true, -EBADMSG, "more than 1024" },
                { "entry size 64", 84, 4, 64, true, -EBADMSG, "entry size" },
                { "entry size 132", 84, 4, 132, true, -EBADMSG, "entry size" },
                { "entry size 8192", 84, 4, 8192, true, -EBADMSG, "entry size" },
                { "entry size 0", 84, 4, 0, true, -EBADMSG, "entry size" },
                { "array CRC", 88, 4, 0x12345678, false, -EBADMSG, "entry array CRC32" },
                /* after the 92 bytes the header's CRC covers (header size 92) */
                { "byte 100", 100, 4, 0xdeadbeef, false, 0, NULL },
        };
        size_t len, n;
        char why[256];
        _cleanup_free_ uint8_t *orig = honest(&len);
        _cleanup_free_ uint8_t *b = malloc(len);
        assert_non_null(b);
        for (size_t i = 0; i < ELEMENTSOF(m); i++) {
                memcpy(b, orig, len);
                put(b + H + m[i].off, m[i].width, m[i].value);
                if (m[i].fix)
                        fix_crcs(b, len);
                else if (m[i].off == 88) /* a wrong array CRC with the header's own CRC right */
                        put_le32(b + H + 16, 0), put_le32(b + H + 16, (uint32_t)crc32(0, b + H, 92));
                n = 555;
                int r = parse(b, len, &n, why);
                if (r != m[i].want)
                        fail_msg("%s: got %d (%s), expected %d", m[i].what, r, why, m[i].want);
                if (m[i].why && !strstr(why, m[i].why))
                        fail_msg("%s: reason \"%s\" lacks \"%s\"", m[i].what, why, m[i].why);
                if (r < 0)
                        assert_int_equal(n, 555);
        }
        /* a sector size no disk has */
        struct gpt_part parts[2];
        const struct reason w = { why, sizeof(why) };
        assert_int_equal(gpt_parse(orig, len, 1000, parts, 2, &n, &w), -EINVAL);
        assert_int_equal(gpt_header_parse(orig + H, 512, 0, &(struct gpt_header){ 0 }, &w), -EINVAL);
        /* a header size beyond what the caller read */
        struct gpt_header h;
        assert_int_equal(gpt_header_parse(orig + H, 91, 512, &h, &w), -EBADMSG);
        assert_int_equal(gpt_header_parse(orig + H, 92, 512, &h, &w), 0);
        assert_int_equal(h.entry_count, 128);
        assert_int_equal(h.entry_size, 128);
}

/* An entry changed, both CRCs made right again. */
static int parse_entry_mutation(const uint8_t *orig, uint8_t *b, size_t len, unsigned entry, size_t off,
                                uint64_t value, char *why)
{
        size_t n;
        memcpy(b, orig, len);
        put_le64(b + 1024 + entry * 128 + off, value);
        fix_crcs(b, len);
        return parse(b, len, &n, why);
}

static void test_entries(void **state)
{
        if (!have_sfdisk())
                skip();
        size_t len, n;
        char why[256];
        _cleanup_free_ uint8_t *orig = honest(&len);
        _cleanup_free_ uint8_t *b = malloc(len);
        assert_non_null(b);
        uint64_t first_usable = le64_at(orig + H + 40), last_usable = le64_at(orig + H + 48);
        uint64_t first = le64_at(orig + 1024 + 32), last = le64_at(orig + 1024 + 40);
        /* first > last, outside the usable range at either end */
        assert_int_equal(parse_entry_mutation(orig, b, len, 0, 32, last + 1, why), -EBADMSG);
        assert_non_null(strstr(why, "partition 1"));
        assert_int_equal(parse_entry_mutation(orig, b, len, 0, 32, first_usable - 1, why), -EBADMSG);
        assert_int_equal(parse_entry_mutation(orig, b, len, 1, 40, last_usable + 1, why), -EBADMSG);
        assert_non_null(strstr(why, "partition 2"));
        assert_int_equal(parse_entry_mutation(orig, b, len, 1, 40, UINT64_MAX, why), -EBADMSG);
        /* a one-sector partition at the very end is fine */
        memcpy(b, orig, len);
        put_le64(b + 1024 + 128 + 32, last_usable);
        put_le64(b + 1024 + 128 + 40, last_usable);
        fix_crcs(b, len);
        assert_int_equal(parse(b, len, &n, why), 0);
        assert_int_equal(n, 2);
        /* an unused entry (type zero) with nonsense LBAs is not looked at */
        assert_int_equal(parse_entry_mutation(orig, b, len, 5, 32, UINT64_MAX, why), 0);
        (void)first;

        /* no entries at all */
        memcpy(b, orig, len);
        put_le32(b + H + 80, 0);
        fix_crcs(b, len);
        assert_int_equal(parse(b, len, &n, why), 0);
        assert_int_equal(n, 0);
        /* entries beyond the buffer: an array further out, the usable range after it */
        memcpy(b, orig, len);
        put_le64(b + H + 72, 1000);
        put_le64(b + H + 40, 2048);
        fix_crcs(b, len);
        n = 444;
        assert_int_equal(parse(b, len, &n, why), -EBADMSG);
        assert_non_null(strstr(why, "beyond"));
        assert_int_equal(n, 444);
        /* 1024 entries of 4096 bytes: 4 MiB the buffer does not have */
        memcpy(b, orig, len);
        put_le32(b + H + 80, 1024);
        put_le32(b + H + 84, 4096);
        put_le64(b + H + 40, 2 + 8192);
        put_le64(b + H + 48, 100000);
        fix_crcs(b, len);
        assert_int_equal(parse(b, len, &n, why), -EBADMSG);
        assert_non_null(strstr(why, "beyond"));
        /* ...nor does the 4 MiB disk behind the file */
        int fd = open(img, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, b, len, 0), (ssize_t)len);
        close(fd);
        struct gpt_part parts[4];
        assert_int_equal(read_image(parts, 4, &n, 512, why, sizeof(why)), -EBADMSG);
        /* a last usable LBA beyond the disk */
        memcpy(b, orig, len);
        put_le64(b + H + 48, (4u << 20) / 512);
        fix_crcs(b, len);
        fd = open(img, O_WRONLY | O_CLOEXEC);
        assert_int_equal(pwrite(fd, b, len, 0), (ssize_t)len);
        close(fd);
        assert_int_equal(read_image(parts, 4, &n, 512, why, sizeof(why)), -EBADMSG);
        assert_non_null(strstr(why, "beyond the disk"));
        /* larger entries (256 bytes) are read with their own stride */
        memcpy(b, orig, len);
        put_le32(b + H + 80, 64);
        put_le32(b + H + 84, 256);
        memset(b + 1024, 0, 128 * 128);
        memcpy(b + 1024 + 256 * 3, orig + 1024, 128); /* the ESP in slot 4 */
        fix_crcs(b, len);
        assert_int_equal(parse(b, len, &n, why), 0);
        assert_int_equal(n, 1);
}

static void test_guids(void **state)
{
        uint8_t g[16];
        char s[GPT_GUID_STRLEN];
        static const uint8_t esp_on_disk[16] = { 0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
                                                 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b };
        assert_int_equal(gpt_guid_parse(ESP, g), 0);
        assert_memory_equal(g, esp_on_disk, 16);
        assert_true(gpt_is_esp(g));
        gpt_guid_format(g, s);
        assert_string_equal(s, GPT_ESP_TYPE);
        assert_int_equal(gpt_guid_parse(GPT_ESP_TYPE, g), 0);
        assert_true(gpt_is_esp(g));
        g[15] ^= 1;
        assert_false(gpt_is_esp(g));
        assert_false(gpt_is_esp(NULL));
        memcpy(g, esp_on_disk, 16);
        assert_int_equal(gpt_guid_parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93", g), -EINVAL);
        assert_int_equal(gpt_guid_parse("C12A7328xF81F-11D2-BA4B-00A0C93EC93B", g), -EINVAL);
        assert_memory_equal(g, esp_on_disk, 16);
        assert_true(gpt_sector_size_ok(512) && gpt_sector_size_ok(4096));
        assert_false(gpt_sector_size_ok(0) || gpt_sector_size_ok(256) || gpt_sector_size_ok(8192) ||
                     gpt_sector_size_ok(513));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_sfdisk_512, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sfdisk_many, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sfdisk_4096, setup, teardown),
                cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
                cmocka_unit_test_setup_teardown(test_header_fields, setup, teardown),
                cmocka_unit_test_setup_teardown(test_entries, setup, teardown),
                cmocka_unit_test(test_guids),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
