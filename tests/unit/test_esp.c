/* SPDX-License-Identifier: Apache-2.0 */
/* efi/esp.c without disks: who owns an ESP (temporary directories standing
 * in for mounted ones), and the enumeration over sysfs fixture trees whose
 * disks are refused before any is opened (no block device, RAM disks, sizes
 * and block sizes that make no sense). Real disks, loop devices and sfdisk:
 * tests/efi/esp (efi.esp). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "esp.h"
#include "util.h"

static char dir[64];

static int setup(void **state)
{
        snprintf(dir, sizeof(dir), "/tmp/test-esp.XXXXXX");
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static void mkdirs(const char *rel)
{
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        for (char *p = path + strlen(dir) + 1; *p; p++)
                if (*p == '/') {
                        *p = '\0';
                        (void)mkdir(path, 0755);
                        *p = '/';
                }
        assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
}

static void put(const char *rel, const char *text)
{
        char path[PATH_MAX], parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", rel);
        char *slash = strrchr(parent, '/');
        if (slash) {
                *slash = '\0';
                mkdirs(parent);
        }
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static int owner(const char *sub, bool booted, char *why, size_t len)
{
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, sub);
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        why[0] = '\0';
        int r = esp_check_owner(fd, booted, why, len);
        close(fd);
        return r;
}

static void test_owner(void **state)
{
        char why[256];
        mkdirs("empty");
        assert_int_equal(owner("empty", false, why, sizeof(why)), ESP_OWNER_EMPTY);
        assert_string_equal(why, "empty");

        mkdirs("ours/ember/0.1.0");
        mkdirs("ours/loader/entries");
        assert_int_equal(owner("ours", false, why, sizeof(why)), ESP_OWNER_EMBER);
        assert_non_null(strstr(why, "/ember exists"));
        /* FAT keeps no case */
        mkdirs("upper/EMBER");
        assert_int_equal(owner("upper", false, why, sizeof(why)), ESP_OWNER_EMBER);
        mkdirs("marker-only/ember");
        assert_int_equal(owner("marker-only", false, why, sizeof(why)), ESP_OWNER_EMBER);
        assert_string_equal(why, "Ember's: /ember exists");

        mkdirs("debian/EFI/debian");
        put("debian/EFI/debian/grubx64.efi", "x");
        assert_int_equal(owner("debian", false, why, sizeof(why)), -EPERM);
        assert_non_null(strstr(why, "EFI/debian"));
        assert_non_null(strstr(why, "another system's ESP"));
        mkdirs("windows/EFI/Microsoft/Boot");
        mkdirs("windows/EFI/Boot");
        assert_int_equal(owner("windows", false, why, sizeof(why)), -EPERM);
        assert_non_null(strstr(why, "EFI/Microsoft"));
        assert_non_null(strstr(why, "EFI/Boot"));
        /* any content at all, even an empty /EFI or a stray file */
        mkdirs("efi-empty/EFI");
        assert_int_equal(owner("efi-empty", false, why, sizeof(why)), -EPERM);
        assert_non_null(strstr(why, "EFI (empty)"));
        put("stray/startup.nsh", "fs0:\n");
        assert_int_equal(owner("stray", false, why, sizeof(why)), -EPERM);
        assert_non_null(strstr(why, "startup.nsh"));
        /* a file named ember is no marker */
        put("file-ember/ember", "");
        assert_int_equal(owner("file-ember", false, why, sizeof(why)), -EPERM);
        /* names that are not fit to print */
        put("hostile/a\x1b[2Jb\n", "");
        assert_int_equal(owner("hostile", false, why, sizeof(why)), -EPERM);
        assert_non_null(strstr(why, "a?[2Jb?"));
        /* the partition the node booted from: always, whatever it holds */
        assert_int_equal(owner("debian", true, why, sizeof(why)), ESP_OWNER_BOOTED);
        assert_int_equal(owner("empty", true, why, sizeof(why)), ESP_OWNER_BOOTED);
        /* Ember's marker next to another system's files: ours to write under /ember */
        mkdirs("shared/EFI/debian");
        mkdirs("shared/ember");
        assert_int_equal(owner("shared", false, why, sizeof(why)), ESP_OWNER_EMBER);
        assert_non_null(strstr(why, "EFI/debian"));
        /* a reason buffer of one byte, or none */
        assert_int_equal(owner("debian", false, why, 1), -EPERM);
        assert_string_equal(why, "");
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(esp_check_owner(fd, false, NULL, 0), -EPERM);
        close(fd);
        assert_int_equal(esp_check_owner(-1, false, why, sizeof(why)), -EINVAL);
}

/* A whole disk in the fixture sysfs. */
static void disk(const char *name, const char *size, const char *lbs, const char *dev)
{
        char rel[128];
        snprintf(rel, sizeof(rel), "sys/%s/size", name);
        put(rel, size);
        if (lbs) {
                snprintf(rel, sizeof(rel), "sys/%s/queue/logical_block_size", name);
                put(rel, lbs);
        }
        if (dev) {
                snprintf(rel, sizeof(rel), "sys/%s/dev", name);
                put(rel, dev);
        }
}

static void test_find_fixture(void **state)
{
        char sys[PATH_MAX], dev[PATH_MAX], why[1024];
        struct esp_cand c[4];
        size_t n = 99;
        snprintf(sys, sizeof(sys), "%s/sys", dir);
        snprintf(dev, sizeof(dev), "%s/dev", dir);
        mkdirs("sys");
        mkdirs("dev");
        /* nothing at all */
        assert_int_equal(esp_find(sys, dev, NULL, c, ELEMENTSOF(c), &n, why, sizeof(why)), 0);
        assert_int_equal(n, 0);
        assert_string_equal(why, "");

        disk("vda", "2048\n", "512\n", "253:0\n");     /* its node a regular file */
        put("dev/vda", "not a disk");
        disk("vdb", "2048\n", "512\n", "253:16\n");    /* no node at all */
        disk("vdc", "2048\n", "1000\n", "253:32\n");   /* a block size no GPT has */
        disk("vdd", "2048\n", "65536\n", "253:48\n");
        disk("vde", "2048\n", "512\n", "garbage\n");   /* no MAJOR:MINOR */
        disk("vdf", "2048\n", "512\n", "253:99999999999999999999\n");
        disk("vdg", "0\n", "512\n", "253:64\n");       /* empty: skipped silently */
        disk("vdh", "-5\n", "512\n", "253:80\n");      /* no size */
        disk("loop0", "0\n", "512\n", "7:0\n");        /* a loop device without a file */
        disk("ram0", "8192\n", "512\n", "1:0\n");      /* RAM disks hold no GPT */
        disk("zram0", "8192\n", "4096\n", "252:0\n");
        disk("sr0", "8192\n", "2048\n", "11:0\n");
        put("sys/vda/vda1/partition", "1\n");           /* a partition under its disk */
        put("sys/vda1/partition", "1\n");               /* ... and in the class directory */
        put("sys/vda1/size", "1024\n");
        put("sys/not-a-dir", "");
        disk(".hidden", "2048\n", "512\n", "253:0\n");
        long huge_name_len = 200;
        char huge[256] = "sys/";
        memset(huge + 4, 'x', (size_t)huge_name_len);
        put(strcat(huge, "/size"), "2048\n");

        n = 99;
        assert_int_equal(esp_find(sys, dev, NULL, c, ELEMENTSOF(c), &n, why, sizeof(why)), 0);
        assert_int_equal(n, 0);
        assert_non_null(strstr(why, "vda: no device node (Block device required)"));
        assert_non_null(strstr(why, "vdb: no device node (No such file or directory)"));
        assert_non_null(strstr(why, "vdc: no usable logical block size"));
        assert_non_null(strstr(why, "vdd: no usable logical block size"));
        assert_non_null(strstr(why, "vde: no device node"));
        assert_non_null(strstr(why, "vdf: no device node"));
        assert_null(strstr(why, "vdg"));
        assert_null(strstr(why, "vdh"));
        assert_null(strstr(why, "loop0"));
        assert_null(strstr(why, "ram0"));
        assert_null(strstr(why, "zram0"));
        assert_null(strstr(why, "sr0"));
        assert_null(strstr(why, "vda1"));

        /* the booted partition on none of them: said so */
        assert_int_equal(esp_find(sys, dev, "6ED0273B-1143-394D-B78A-6D70C102202D", c, ELEMENTSOF(c), &n, why,
                                  sizeof(why)),
                         0);
        assert_int_equal(n, 0);
        assert_non_null(strstr(why, "6ED0273B-1143-394D-B78A-6D70C102202D booted from is on no disk"));
        /* a short reason buffer is cut, not overrun */
        char small[16];
        memset(small, 'z', sizeof(small));
        assert_int_equal(esp_find(sys, dev, NULL, c, ELEMENTSOF(c), &n, small, sizeof(small)), 0);
        assert_int_equal(strnlen(small, sizeof(small)), sizeof(small) - 1);
}

static void test_find_arguments(void **state)
{
        char why[256], path[PATH_MAX];
        struct esp_cand c[1];
        size_t n = 7;
        snprintf(path, sizeof(path), "%s/absent", dir);
        assert_int_equal(esp_find(path, "/dev", NULL, c, 1, &n, why, sizeof(why)), -ENOENT);
        assert_non_null(strstr(why, "absent"));
        assert_int_equal(n, 7);
        assert_int_equal(esp_find(dir, "/dev", "not-a-guid", c, 1, &n, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "not a GUID"));
        assert_int_equal(esp_find(dir, "/dev", NULL, NULL, 1, &n, why, sizeof(why)), -EINVAL);
        assert_int_equal(esp_find(NULL, "/dev", NULL, c, 1, &n, why, sizeof(why)), -EINVAL);
        assert_int_equal(esp_find(dir, "/dev", NULL, c, 1, NULL, why, sizeof(why)), -EINVAL);
        assert_int_equal(n, 7);
}

static void test_mount_refused(void **state)
{
        char why[256], mp[PATH_MAX];
        struct esp_cand c = { .partno = 1 };
        int fd = 12345;
        snprintf(c.dev, sizeof(c.dev), "%s/no-such-device", dir);
        snprintf(mp, sizeof(mp), "%s/mnt", dir);
        int r = esp_mount(&c, mp, &fd, why, sizeof(why));
        assert_true(r < 0);
        assert_int_equal(fd, 12345);
        assert_non_null(strstr(why, "no-such-device"));
        struct stat st;
        assert_int_equal(stat(mp, &st), 0);
        assert_true(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
        assert_int_equal(esp_mount(NULL, mp, &fd, why, sizeof(why)), -EINVAL);
        assert_int_equal(esp_umount(NULL, -1), -EINVAL);
        /* not mounted there */
        assert_true(esp_umount(mp, -1) < 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_owner, setup, teardown),
                cmocka_unit_test_setup_teardown(test_find_fixture, setup, teardown),
                cmocka_unit_test_setup_teardown(test_find_arguments, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mount_refused, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
