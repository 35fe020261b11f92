/* SPDX-License-Identifier: Apache-2.0 */
/* The tar-entry rules without the crypto around them: the input is read
 * as a tar by libarchive (as the opener reads the decompressed payload),
 * every entry goes through overlay_entry_read and the tree model. What
 * they accept is canonical and would be written only beneath the root:
 * relative, no "." or ".." components, and no parent that an earlier entry
 * made a symlink or a file. */
#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"

/* a tiny model of our own: the paths accepted so far that are not
 * directories, to check the tree's answer about parents */
#define SEEN_MAX 256
static char *seen[SEEN_MAX];
static size_t n_seen;

static void check_accepted(const struct overlay_entry *e)
{
        const char *p = e->path;
        if (!*p || *p == '/' || strstr(p, "//") || p[strlen(p) - 1] == '/')
                __builtin_trap();
        for (const char *c = p; *c; c++)
                if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
                        __builtin_trap();
        for (const char *s = p;;) {
                const char *end = strchr(s, '/');
                size_t n = end ? (size_t)(end - s) : strlen(s);
                if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                        __builtin_trap();
                if (!end)
                        break;
                s = end + 1;
        }
        for (size_t i = 0; i < n_seen; i++) {
                size_t l = strlen(seen[i]);
                if (strncmp(p, seen[i], l) == 0 && p[l] == '/')
                        __builtin_trap();
        }
        if (e->type != OVERLAY_ENTRY_DIR && n_seen < SEEN_MAX)
                seen[n_seen++] = strdup(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct overlay_entry e;
        struct overlay_tree *t = NULL;
        struct archive *a = archive_read_new();
        struct archive_entry *ae;
        char why[300];
        const struct reason w = { why, sizeof(why) };

        if (!a || overlay_tree_new(&t) < 0)
                abort();
        archive_read_support_format_tar(a);
        if (archive_read_open_memory(a, data, size) == ARCHIVE_OK)
                while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
                        int r = overlay_entry_read(ae, &e, &w);
                        if (r == 0 && overlay_tree_add(t, &e, &w) == 0)
                                check_accepted(&e);
                        else if (r < 0 && !memchr(why, '\0', sizeof(why)))
                                __builtin_trap();
                }
        archive_read_free(a);
        overlay_tree_free(t);
        for (size_t i = 0; i < n_seen; i++)
                free(seen[i]);
        n_seen = 0;
        return 0;
}
