/* SPDX-License-Identifier: Apache-2.0 */
/* The rules for tar entries: the path rule, one libarchive entry read and
 * checked on its own, and the tree model that refuses writing through
 * links, duplicates and hard links to what is not there yet. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "entry.h"

struct path_case {
        const char *path;
        bool dir;
        int ret;
        const char *want; /* the canonical path, or a part of the reason */
};

static void test_paths(void **state)
{
        static char deep[64 * 2 + 3], long_name[300], long_path[20 * 257];
        static const char *const ok_names[] = { "etc", ".hidden", "..dots", "a..b", "sp ace", "~+=,@%", "-" };
        static const struct path_case cases[] = {
                { "etc/rancher/rke2/config.yaml", false, 0, "etc/rancher/rke2/config.yaml" },
                { "./etc/hosts", false, 0, "etc/hosts" },
                { "etc/", true, 0, "etc" },
                { "./etc/", true, 0, "etc" },
                { ".", true, 1, NULL },
                { "./", true, 1, NULL },
                { "./.", true, 1, NULL },
                { "", false, -EBADMSG, "empty path" },
                { "/etc/passwd", false, -EBADMSG, "absolute path" },
                { "//etc", true, -EBADMSG, "absolute path" },
                { "etc/../x", false, -EBADMSG, "entry etc/../x: '..' component" },
                { "..", true, -EBADMSG, "'..' component" },
                { "../x", false, -EBADMSG, "'..' component" },
                { "a/..", true, -EBADMSG, "'..' component" },
                { "a/./b", false, -EBADMSG, "'.' component" },
                { "././a", false, -EBADMSG, "'.' component" },
                { "a//b", false, -EBADMSG, "empty component" },
                { "etc/", false, -EBADMSG, "trailing '/' on a non-directory" },
                { "etc//", true, -EBADMSG, "more than one trailing '/'" },
                { "a\nb", false, -EBADMSG, "entry a\\x0ab: control character" },
                { "a\x7f", false, -EBADMSG, "control character" },
                { ".//", true, -EBADMSG, "" },
                { "etc/ütf-8", false, -EBADMSG, "entry etc/\\xc3\\xbctf-8: a byte beyond ASCII in a name" },
        };
        char out[OVERLAY_PATH_MAX], why[300];
        const struct reason w = { why, sizeof(why) };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                why[0] = '\0';
                int r = overlay_path_canon(cases[i].path, cases[i].dir, out, "entry", &w);
                if (r != cases[i].ret)
                        fail_msg("'%s': %d, wanted %d (%s)", cases[i].path, r, cases[i].ret, why);
                if (r == 0 && strcmp(out, cases[i].want) != 0)
                        fail_msg("'%s' became '%s'", cases[i].path, out);
                if (r < 0 && !strstr(why, cases[i].want))
                        fail_msg("'%s': '%s' lacks '%s'", cases[i].path, why, cases[i].want);
        }
        for (size_t i = 0; i < sizeof(ok_names) / sizeof(ok_names[0]); i++)
                assert_int_equal(overlay_path_canon(ok_names[i], false, out, "entry", NULL), 0);
        /* 64 levels, not 65 */
        for (int i = 0; i < 64; i++)
                strcat(deep, i ? "/d" : "d");
        assert_int_equal(overlay_path_canon(deep, true, out, "entry", NULL), 0);
        strcat(deep, "/d");
        assert_int_equal(overlay_path_canon(deep, true, out, "entry", &w), -EBADMSG);
        assert_non_null(strstr(why, "more than 64 levels"));
        memset(long_name, 'n', 256);
        assert_int_equal(overlay_path_canon(long_name, false, out, "entry", &w), -EBADMSG);
        assert_non_null(strstr(why, "longer than 255"));
        long_name[255] = '\0';
        assert_int_equal(overlay_path_canon(long_name, false, out, "entry", NULL), 0);
        for (int i = 0; i < 20; i++)
                strcat(strcat(long_path, i ? "/" : ""), long_name);
        assert_int_equal(overlay_path_canon(long_path, false, out, "entry", &w), -EBADMSG);
        assert_non_null(strstr(why, "longer than 4095"));
        /* what a message shows of a long path stays within its buffer */
        assert_true(strlen(why) < 300);
}

static void test_escape(void **state)
{
        char out[16];
        overlay_escape("plain", out, sizeof(out));
        assert_string_equal(out, "plain");
        overlay_escape("a\\b\x01", out, sizeof(out));
        assert_string_equal(out, "a\\x5cb\\x01");
        overlay_escape("0123456789abcdefghij", out, sizeof(out));
        assert_string_equal(out, "0123456789ab…");
}

static struct archive_entry *ae_new(const char *path, unsigned type)
{
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, 0644);
        return e;
}

static void expect_read(struct archive_entry *ae, int ret, const char *want)
{
        static struct overlay_entry e;
        char why[300] = "";
        const struct reason w = { why, sizeof(why) };
        int r = overlay_entry_read(ae, &e, &w);
        archive_entry_free(ae);
        if (r != ret)
                fail_msg("%d, wanted %d (%s)", r, ret, why);
        if (want && !strstr(why, want))
                fail_msg("'%s' lacks '%s'", why, want);
}

static void test_entry_read(void **state)
{
        static struct overlay_entry e;
        struct archive_entry *ae = ae_new("./usr/bin/tool", AE_IFREG);
        archive_entry_set_perm(ae, 04755);
        archive_entry_set_uid(ae, 1000);
        archive_entry_set_gid(ae, 4294967294LL);
        archive_entry_set_mtime(ae, 1234567890, 999);
        archive_entry_set_size(ae, 77);
        assert_int_equal(overlay_entry_read(ae, &e, NULL), 0);
        archive_entry_free(ae);
        assert_int_equal(e.type, OVERLAY_ENTRY_FILE);
        assert_string_equal(e.path, "usr/bin/tool");
        assert_int_equal(e.mode, 04755);
        assert_int_equal(e.uid, 1000);
        assert_int_equal(e.gid, 4294967294u);
        assert_int_equal(e.mtime, 1234567890);
        assert_int_equal(e.size, 77);

        ae = ae_new("etc/localtime", AE_IFLNK);
        archive_entry_set_symlink(ae, "/usr/share/zoneinfo/UTC");
        assert_int_equal(overlay_entry_read(ae, &e, NULL), 0);
        archive_entry_free(ae);
        assert_int_equal(e.type, OVERLAY_ENTRY_SYMLINK);
        assert_string_equal(e.link, "/usr/share/zoneinfo/UTC");

        ae = ae_new("b", AE_IFREG);
        archive_entry_set_hardlink(ae, "./a/x");
        assert_int_equal(overlay_entry_read(ae, &e, NULL), 0);
        archive_entry_free(ae);
        assert_int_equal(e.type, OVERLAY_ENTRY_HARDLINK);
        assert_string_equal(e.link, "a/x");

        expect_read(ae_new("./", AE_IFDIR), 1, NULL);
        expect_read(ae_new(".", AE_IFREG), -EBADMSG, "the root, and not a directory");
        expect_read(ae_new("dev/sda", AE_IFBLK), -EBADMSG, "entry dev/sda: a device node");
        expect_read(ae_new("dev/null", AE_IFCHR), -EBADMSG, "a device node");
        expect_read(ae_new("run/fifo", AE_IFIFO), -EBADMSG, "a FIFO");
        expect_read(ae_new("run/sock", AE_IFSOCK), -EBADMSG, "a socket");
        expect_read(ae_new("/etc/passwd", AE_IFREG), -EBADMSG, "absolute path");
        ae = ae_new("l", AE_IFLNK);
        expect_read(ae, -EBADMSG, "symlink without a target");
        ae = ae_new("l", AE_IFLNK);
        archive_entry_set_symlink(ae, "/usr/share/zoneinfo/Am\xc3\xa9rica");
        expect_read(ae, -EBADMSG, "symlink target with a control character or a byte beyond ASCII");
        ae = ae_new("h", AE_IFREG);
        archive_entry_set_hardlink(ae, "/etc/shadow");
        expect_read(ae, -EBADMSG, "entry h: hard link to /etc/shadow: absolute path");
        ae = ae_new("h", AE_IFREG);
        archive_entry_set_hardlink(ae, "../../etc/shadow");
        expect_read(ae, -EBADMSG, "'..' component");
        ae = ae_new("h", AE_IFREG);
        archive_entry_set_hardlink(ae, "./");
        expect_read(ae, -EBADMSG, "hard link to the root");
        ae = ae_new("d", AE_IFDIR);
        archive_entry_set_size(ae, 10);
        expect_read(ae, -EBADMSG, "carries data but is not a regular file");
        ae = ae_new("f", AE_IFREG);
        archive_entry_set_uid(ae, 4294967295LL);
        expect_read(ae, -EBADMSG, "owner or group out of range");
        ae = ae_new("f", AE_IFREG);
        archive_entry_set_gid(ae, -1);
        expect_read(ae, -EBADMSG, "owner or group out of range");
        ae = ae_new("f", AE_IFREG);
        archive_entry_xattr_add_entry(ae, "user.x", "v", 1);
        expect_read(ae, -EBADMSG, "extended attributes");
        ae = ae_new("f", AE_IFREG);
        archive_entry_acl_add_entry(ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, ARCHIVE_ENTRY_ACL_READ,
                                    ARCHIVE_ENTRY_ACL_USER, 1000, "u");
        expect_read(ae, -EBADMSG, "ACLs");
        ae = ae_new("f", AE_IFREG);
        archive_entry_set_size(ae, 8192);
        archive_entry_sparse_add_entry(ae, 4096, 10);
        expect_read(ae, -EBADMSG, "sparse file");
}

struct step {
        char type; /* d f l h */
        const char *path;
        const char *link;
        const char *want; /* NULL: accepted */
};

static void run_steps(const struct step *s, size_t n)
{
        static struct overlay_entry e;
        struct overlay_tree *t = NULL;
        assert_int_equal(overlay_tree_new(&t), 0);
        for (size_t i = 0; i < n; i++) {
                char why[300] = "";
                const struct reason w = { why, sizeof(why) };
                memset(&e, 0, sizeof(e));
                e.type = s[i].type == 'd'   ? OVERLAY_ENTRY_DIR
                         : s[i].type == 'l' ? OVERLAY_ENTRY_SYMLINK
                         : s[i].type == 'h' ? OVERLAY_ENTRY_HARDLINK
                                            : OVERLAY_ENTRY_FILE;
                strcpy(e.path, s[i].path);
                strcpy(e.link, s[i].link ? s[i].link : "");
                int r = overlay_tree_add(t, &e, &w);
                if (!s[i].want && r < 0)
                        fail_msg("step %zu (%s): refused: %s", i, s[i].path, why);
                if (s[i].want && (r != -EBADMSG || !strstr(why, s[i].want)))
                        fail_msg("step %zu (%s): %d '%s', wanted '%s'", i, s[i].path, r, why, s[i].want);
        }
        overlay_tree_free(t);
}

static void test_tree(void **state)
{
        static const struct step through_link[] = {
                { 'l', "a", "/etc", NULL },
                { 'f', "a/passwd", NULL, "entry a/passwd: 'a' is a symlink, and nothing is extracted through a link" },
                { 'd', "a/sub", NULL, "'a' is a symlink" },
                { 'l', "b", "../../..", NULL },
                { 'f', "b/x/y", NULL, "'b' is a symlink" },
                { 'd', "a", NULL, "entry a: appears twice" },
        };
        static const struct step through_file[] = {
                { 'f', "etc/hosts", NULL, NULL },
                { 'f', "etc/hosts/x", NULL, "'etc/hosts' is a file, not a directory" },
                { 'f', "etc", NULL, "entry etc: a directory of that name holds earlier entries" },
                { 'l', "etc", "x", "holds earlier entries" },
                { 'd', "etc", NULL, NULL },
                { 'd', "etc", NULL, "appears twice" },
                { 'f', "etc/hosts", NULL, "appears twice" },
        };
        static const struct step links[] = {
                { 'h', "early", "later", "entry early: hard link to 'later', which is not an earlier entry" },
                { 'f', "later", NULL, NULL },
                { 'h', "early", "later", NULL },
                { 'h', "third", "early", NULL }, /* a link to a link is a link to the file */
                { 'h', "self", "self", "which is not an earlier entry" },
                { 'd', "dir", NULL, NULL },
                { 'h', "to-dir", "dir", "hard link to 'dir', a directory (only files are linked)" },
                { 'l', "sym", "later", NULL },
                { 'h', "to-sym", "sym", "a symlink (only files are linked)" },
                { 'h', "deep/l", "implied/nothing", "not an earlier entry" },
                /* the refusal recorded nothing: "deep" was not implied */
                { 'f', "deep", NULL, NULL },
                { 'f', "implied/x/y", NULL, NULL },
                { 'h', "to-implied", "implied/x", "a directory" },
        };
        run_steps(through_link, sizeof(through_link) / sizeof(through_link[0]));
        run_steps(through_file, sizeof(through_file) / sizeof(through_file[0]));
        run_steps(links, sizeof(links) / sizeof(links[0]));
}

/* Enough paths to grow the table many times, each found again. */
static void test_tree_large(void **state)
{
        static struct overlay_entry e;
        struct overlay_tree *t = NULL;
        assert_int_equal(overlay_tree_new(&t), 0);
        for (int i = 0; i < 20000; i++) {
                e.type = OVERLAY_ENTRY_FILE;
                snprintf(e.path, sizeof(e.path), "d%d/f%d", i % 97, i);
                assert_int_equal(overlay_tree_add(t, &e, NULL), 0);
        }
        for (int i = 0; i < 20000; i += 1234) {
                snprintf(e.path, sizeof(e.path), "d%d/f%d", i % 97, i);
                assert_int_equal(overlay_tree_add(t, &e, NULL), -EBADMSG);
                e.type = OVERLAY_ENTRY_HARDLINK;
                strcpy(e.link, e.path);
                snprintf(e.path, sizeof(e.path), "link%d", i);
                assert_int_equal(overlay_tree_add(t, &e, NULL), 0);
                e.type = OVERLAY_ENTRY_FILE;
        }
        overlay_tree_free(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_paths), cmocka_unit_test(test_escape),     cmocka_unit_test(test_entry_read),
                cmocka_unit_test(test_tree),  cmocka_unit_test(test_tree_large),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
