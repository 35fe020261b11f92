/* SPDX-License-Identifier: Apache-2.0 */
#include "entry.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* how much of an untrusted path a message shows */
#define SHOWN 160
/* (uid_t)-1 means "unchanged" to chown(2) and is nobody's id */
#define ID_MAX (UINT32_C(0xffffffff) - 1)

static const char *const type_names[] = {
        [OVERLAY_ENTRY_DIR] = "directory",
        [OVERLAY_ENTRY_FILE] = "file",
        [OVERLAY_ENTRY_SYMLINK] = "symlink",
        [OVERLAY_ENTRY_HARDLINK] = "hard link",
};

const char *overlay_entry_type_name(enum overlay_entry_type t)
{
        return (size_t)t < ELEMENTSOF(type_names) ? type_names[t] : "entry";
}

void overlay_escape(const char *s, char *out, size_t size)
{
        static const char ell[] = "…";
        size_t o = 0;
        if (size == 0)
                return;
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                char tmp[5];
                size_t n;
                if (c >= 0x20 && c < 0x7f && c != '\\') {
                        tmp[0] = (char)c;
                        n = 1;
                } else {
                        snprintf(tmp, sizeof(tmp), "\\x%02x", c);
                        n = 4;
                }
                if (size - o < n + sizeof(ell)) {
                        memcpy(out + o, ell, sizeof(ell));
                        return;
                }
                memcpy(out + o, tmp, n);
                o += n;
        }
        out[o] = '\0';
}

/* The broken rule, or NULL when path is canonical after the one "./" and
 * the one trailing "/" the caller already took away. */
static const char *component_rule(const char *p, size_t len)
{
        size_t depth = 0;
        if (len == 0)
                return "empty path";
        if (len >= OVERLAY_PATH_MAX)
                return "path longer than 4095 bytes";
        for (size_t i = 0; i <= len;) {
                size_t j = i;
                while (j < len && p[j] != '/')
                        j++;
                size_t n = j - i;
                if (n == 0)
                        return "empty component ('//')";
                if (n == 1 && p[i] == '.')
                        return "'.' component";
                if (n == 2 && p[i] == '.' && p[i + 1] == '.')
                        return "'..' component";
                if (n > OVERLAY_NAME_MAX)
                        return "component longer than 255 bytes";
                for (size_t k = i; k < j; k++) {
                        if ((unsigned char)p[k] < 0x20 || p[k] == 0x7f)
                                return "control character in a name";
                        if ((unsigned char)p[k] > 0x7f)
                                return "a byte beyond ASCII in a name (overlay names are ASCII)";
                }
                if (++depth > OVERLAY_DEPTH_MAX)
                        return "more than 64 levels deep";
                i = j + 1;
        }
        return NULL;
}

int overlay_path_canon(const char *path, bool dir, char out[OVERLAY_PATH_MAX], const char *what,
                       const struct reason *w)
{
        char shown[SHOWN];
        const char *rule, *p = path;
        size_t len;

        if (!path)
                return reason_fail(w, -EBADMSG, "%s: no path", what);
        if (p[0] == '/') {
                rule = "absolute path";
                goto refuse;
        }
        if (p[0] == '.' && p[1] == '/')
                p += 2;
        if (streq(p, "") || streq(p, ".")) {
                /* ".", "./", "./." are the root; "" alone is no path */
                if (p == path && *p == '\0') {
                        rule = "empty path";
                        goto refuse;
                }
                return 1;
        }
        len = strlen(p);
        if (dir && p[len - 1] == '/')
                len--;
        if (len > 0 && p[len - 1] == '/') {
                rule = dir ? "more than one trailing '/'" : "trailing '/' on a non-directory";
                goto refuse;
        }
        rule = component_rule(p, len);
        if (rule)
                goto refuse;
        memcpy(out, p, len);
        out[len] = '\0';
        return 0;
refuse:
        overlay_escape(path, shown, sizeof(shown));
        return reason_fail(w, -EBADMSG, "%s %s: %s", what, shown, rule);
}

static int refuse(const struct reason *w, const char *path, const char *detail)
{
        char shown[SHOWN];
        overlay_escape(path ? path : "(no path)", shown, sizeof(shown));
        return reason_fail(w, -EBADMSG, "entry %s: %s", shown, detail);
}

static int entry_type(struct archive_entry *ae, const char *path, enum overlay_entry_type *ret, const struct reason *w)
{
        if (archive_entry_hardlink(ae)) {
                *ret = OVERLAY_ENTRY_HARDLINK;
                return 0;
        }
        switch (archive_entry_filetype(ae)) {
        case AE_IFREG:
                *ret = OVERLAY_ENTRY_FILE;
                return 0;
        case AE_IFDIR:
                *ret = OVERLAY_ENTRY_DIR;
                return 0;
        case AE_IFLNK:
                *ret = OVERLAY_ENTRY_SYMLINK;
                return 0;
        case AE_IFCHR:
        case AE_IFBLK:
                return refuse(w, path, "a device node (overlays hold files, directories and links)");
        case AE_IFIFO:
                return refuse(w, path, "a FIFO (overlays hold files, directories and links)");
        case AE_IFSOCK:
                return refuse(w, path, "a socket (overlays hold files, directories and links)");
        default:
                return refuse(w, path, "unknown entry type");
        }
}

static int entry_link(struct archive_entry *ae, struct overlay_entry *e, const char *path, const struct reason *w)
{
        if (e->type == OVERLAY_ENTRY_HARDLINK) {
                char what[SHOWN + 32], shown[SHOWN];
                overlay_escape(path, shown, sizeof(shown));
                snprintf(what, sizeof(what), "entry %s: hard link to", shown);
                int r = overlay_path_canon(archive_entry_hardlink(ae), false, e->link, what, w);
                if (r == 1)
                        return refuse(w, path, "hard link to the root");
                return r;
        }
        if (e->type == OVERLAY_ENTRY_SYMLINK) {
                const char *t = archive_entry_symlink(ae);
                if (!t || !*t)
                        return refuse(w, path, "symlink without a target");
                if (strlen(t) >= OVERLAY_PATH_MAX)
                        return refuse(w, path, "symlink target longer than 4095 bytes");
                for (const char *c = t; *c; c++)
                        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
                                return refuse(w, path, "symlink target with a control character or a byte beyond "
                                                       "ASCII");
                strcpy(e->link, t);
                return 0;
        }
        e->link[0] = '\0';
        return 0;
}

int overlay_entry_read(struct archive_entry *ae, struct overlay_entry *e, const struct reason *w)
{
        const char *path = archive_entry_pathname(ae);
        enum overlay_entry_type type = OVERLAY_ENTRY_FILE;
        int r;

        if (!ae || !e)
                return -EINVAL;
        if (!path)
                return reason_fail(w, -EBADMSG, "entry without a path (or one not in this character set)");
        r = entry_type(ae, path, &type, w);
        if (r < 0)
                return r;
        r = overlay_path_canon(path, type == OVERLAY_ENTRY_DIR, e->path, "entry", w);
        if (r < 0)
                return r;
        if (r == 1)
                return type == OVERLAY_ENTRY_DIR ? 1 : refuse(w, path, "the root, and not a directory");
        e->type = type;
        if (archive_entry_sparse_count(ae) > 0)
                return refuse(w, path, "a sparse file (not carried by overlays)");
        if (archive_entry_xattr_count(ae) > 0)
                return refuse(w, path, "extended attributes (not carried by overlays)");
        if (archive_entry_acl_types(ae) != 0)
                return refuse(w, path, "ACLs (not carried by overlays)");
        int64_t uid = archive_entry_uid(ae), gid = archive_entry_gid(ae);
        if (uid < 0 || uid > ID_MAX || gid < 0 || gid > ID_MAX)
                return refuse(w, path, "owner or group out of range");
        int64_t size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : 0;
        if (size < 0)
                return refuse(w, path, "negative size");
        if (size > 0 && type != OVERLAY_ENTRY_FILE)
                return refuse(w, path, "carries data but is not a regular file");
        e->mode = archive_entry_perm(ae) & 07777;
        e->uid = (uint32_t)uid;
        e->gid = (uint32_t)gid;
        e->mtime = archive_entry_mtime_is_set(ae) ? (int64_t)archive_entry_mtime(ae) : 0;
        e->size = (uint64_t)size;
        return entry_link(ae, e, path, w);
}

/* The tree: an open-addressing hash set of every path recorded so far,
 * implicit parents included. */
enum node_type { NODE_DIR, NODE_FILE, NODE_SYMLINK };

struct node {
        char *path; /* NULL: free slot */
        uint64_t hash;
        uint8_t type;
        bool named; /* directories: named by an entry, not only implied */
};

struct overlay_tree {
        struct node *v;
        size_t n, cap;
};

int overlay_tree_new(struct overlay_tree **ret)
{
        struct overlay_tree *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->cap = 64;
        t->v = calloc(t->cap, sizeof(*t->v));
        if (!t->v) {
                free(t);
                return -ENOMEM;
        }
        *ret = t;
        return 0;
}

void overlay_tree_free(struct overlay_tree *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->cap; i++)
                free(t->v[i].path);
        free(t->v);
        free(t);
}

/* FNV-1a */
static uint64_t hash_of(const char *p, size_t len)
{
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        for (size_t i = 0; i < len; i++)
                h = (h ^ (unsigned char)p[i]) * UINT64_C(0x100000001b3);
        return h;
}

static struct node *slot(const struct overlay_tree *t, const char *p, size_t len, uint64_t h)
{
        for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
                struct node *n = &t->v[i];
                if (!n->path || (n->hash == h && strlen(n->path) == len && memcmp(n->path, p, len) == 0))
                        return n;
        }
}

static struct node *lookup(const struct overlay_tree *t, const char *p, size_t len)
{
        struct node *n = slot(t, p, len, hash_of(p, len));
        return n->path ? n : NULL;
}

static int grow(struct overlay_tree *t)
{
        struct overlay_tree g = { .cap = t->cap * 2 };
        g.v = calloc(g.cap, sizeof(*g.v));
        if (!g.v)
                return -ENOMEM;
        for (size_t i = 0; i < t->cap; i++)
                if (t->v[i].path)
                        *slot(&g, t->v[i].path, strlen(t->v[i].path), t->v[i].hash) = t->v[i];
        free(t->v);
        t->v = g.v;
        t->cap = g.cap;
        return 0;
}

static int insert(struct overlay_tree *t, const char *p, size_t len, uint8_t type, bool named)
{
        if (t->n + 1 > t->cap / 2 && grow(t) < 0)
                return -ENOMEM;
        uint64_t h = hash_of(p, len);
        struct node *n = slot(t, p, len, h);
        if (!n->path) {
                n->path = strndup(p, len);
                if (!n->path)
                        return -ENOMEM;
                n->hash = h;
                t->n++;
        }
        n->type = type;
        n->named = named;
        return 0;
}

static int check_parents(const struct overlay_tree *t, const struct overlay_entry *e, const struct reason *w)
{
        char shown[SHOWN], parent[SHOWN];
        for (const char *s = strchr(e->path, '/'); s; s = strchr(s + 1, '/')) {
                const struct node *n = lookup(t, e->path, (size_t)(s - e->path));
                if (!n || n->type == NODE_DIR)
                        continue;
                overlay_escape(e->path, shown, sizeof(shown));
                overlay_escape(n->path, parent, sizeof(parent));
                if (n->type == NODE_SYMLINK)
                        return reason_fail(w, -EBADMSG,
                                           "entry %s: '%s' is a symlink, and nothing is extracted through a link",
                                           shown, parent);
                return reason_fail(w, -EBADMSG, "entry %s: '%s' is a file, not a directory", shown, parent);
        }
        return 0;
}

static int check_target(const struct overlay_tree *t, const struct overlay_entry *e, const struct reason *w)
{
        char shown[SHOWN], target[SHOWN];
        const struct node *n = lookup(t, e->link, strlen(e->link));
        if (n && n->type == NODE_FILE)
                return 0;
        overlay_escape(e->path, shown, sizeof(shown));
        overlay_escape(e->link, target, sizeof(target));
        if (!n)
                return reason_fail(w, -EBADMSG, "entry %s: hard link to '%s', which is not an earlier entry", shown,
                                   target);
        return reason_fail(w, -EBADMSG, "entry %s: hard link to '%s', a %s (only files are linked)", shown, target,
                           n->type == NODE_DIR ? "directory" : "symlink");
}

int overlay_tree_add(struct overlay_tree *t, const struct overlay_entry *e, const struct reason *w)
{
        char shown[SHOWN];
        if (!t || !e)
                return -EINVAL;
        int r = check_parents(t, e, w);
        if (r < 0)
                return r;
        const struct node *n = lookup(t, e->path, strlen(e->path));
        if (n) {
                overlay_escape(e->path, shown, sizeof(shown));
                if (n->type == NODE_DIR && !n->named && e->type != OVERLAY_ENTRY_DIR)
                        return reason_fail(w, -EBADMSG, "entry %s: a directory of that name holds earlier entries",
                                           shown);
                if (n->type != NODE_DIR || n->named)
                        return reason_fail(w, -EBADMSG, "entry %s: appears twice", shown);
        }
        if (e->type == OVERLAY_ENTRY_HARDLINK && (r = check_target(t, e, w)) < 0)
                return r;

        for (const char *s = strchr(e->path, '/'); s; s = strchr(s + 1, '/'))
                if (!lookup(t, e->path, (size_t)(s - e->path)) &&
                    insert(t, e->path, (size_t)(s - e->path), NODE_DIR, false) < 0)
                        return reason_fail(w, -ENOMEM, "entries: out of memory");
        uint8_t type = e->type == OVERLAY_ENTRY_DIR ? NODE_DIR : e->type == OVERLAY_ENTRY_SYMLINK ? NODE_SYMLINK : NODE_FILE;
        if (insert(t, e->path, strlen(e->path), type, true) < 0)
                return reason_fail(w, -ENOMEM, "entries: out of memory");
        return 0;
}

int overlay_archive_fail(struct archive *a, const struct reason *w, const char *what)
{
        char shown[2 * SHOWN];
        const char *msg = archive_error_string(a);
        overlay_escape(msg ? msg : "unknown error", shown, sizeof(shown));
        return reason_fail(w, archive_errno(a) == ENOMEM ? -ENOMEM : -EBADMSG, "%s: %s", what, shown);
}
