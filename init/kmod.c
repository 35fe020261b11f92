/* SPDX-License-Identifier: Apache-2.0 */
#include "kmod.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

#define MODDB_MAX_MODULES 20000
#define MODDB_MAX_DEPS 256

static void moddep_clear(struct moddep *m)
{
        free(m->path);
        free(m->name);
        free(m->deps);
        for (size_t i = 0; i < m->ndeps; i++)
                free(m->dep_paths ? m->dep_paths[i] : NULL);
        free(m->dep_paths);
}

void moddb_free(struct moddb *db)
{
        if (!db)
                return;
        for (size_t i = 0; i < db->n; i++)
                moddep_clear(&db->mods[i]);
        free(db->mods);
        for (size_t i = 0; i < db->nbuiltin; i++)
                free(db->builtin[i]);
        free(db->builtin);
        *db = (struct moddb){ 0 };
}

int module_name(const char *p, char *buf, size_t buflen)
{
        const char *base = strrchr(p, '/');
        base = base ? base + 1 : p;
        size_t n = strlen(base);
        static const char *const suffixes[] = { ".ko.zst", ".ko.xz", ".ko.gz", ".ko" };
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t sl = strlen(suffixes[i]);
                if (n > sl && streq(base + n - sl, suffixes[i])) {
                        n -= sl;
                        break;
                }
        }
        if (n == 0 || n >= buflen)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                char c = base[i];
                if (c == '-')
                        c = '_';
                if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
                        return -EINVAL;
                buf[i] = c;
        }
        buf[n] = '\0';
        return 0;
}

static bool valid_relpath(const char *p)
{
        if (!*p || *p == '/' || strstr(p, "..") || strlen(p) > 512)
                return false;
        for (; *p; p++)
                if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
                        return false;
        return true;
}

/* Splits one "path: dep dep" line (NUL-terminated, modified in place). */
static int parse_dep_line(char *line, struct moddep *ret)
{
        char name[128];
        char *colon = strchr(line, ':');
        if (!colon)
                return -EBADMSG;
        *colon = '\0';
        if (!valid_relpath(line) || module_name(line, name, sizeof(name)) < 0)
                return -EBADMSG;

        struct moddep m = { 0 };
        m.path = strdup(line);
        m.name = strdup(name);
        m.dep_paths = calloc(MODDB_MAX_DEPS, sizeof(char *));
        if (!m.path || !m.name || !m.dep_paths) {
                moddep_clear(&m);
                return -ENOMEM;
        }
        char *save = NULL;
        for (char *tok = strtok_r(colon + 1, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
                if (m.ndeps == MODDB_MAX_DEPS || !valid_relpath(tok)) {
                        moddep_clear(&m);
                        return m.ndeps == MODDB_MAX_DEPS ? -E2BIG : -EBADMSG;
                }
                m.dep_paths[m.ndeps] = strdup(tok);
                if (!m.dep_paths[m.ndeps]) {
                        moddep_clear(&m);
                        return -ENOMEM;
                }
                m.ndeps++;
        }
        *ret = m;
        return 0;
}

/* Second pass: dependency paths become indexes, so resolution never looks
 * strings up again. A dependency missing from the file is an error. */
static int index_deps(struct moddb *db, char *err, size_t errlen)
{
        for (size_t i = 0; i < db->n; i++) {
                struct moddep *m = &db->mods[i];
                m->deps = calloc(m->ndeps ? m->ndeps : 1, sizeof(size_t));
                if (!m->deps)
                        return -ENOMEM;
                for (size_t d = 0; d < m->ndeps; d++) {
                        size_t j = 0;
                        while (j < db->n && !streq(db->mods[j].path, m->dep_paths[d]))
                                j++;
                        if (j == db->n) {
                                snprintf(err, errlen, "%s depends on %s, which modules.dep does not list", m->path,
                                         m->dep_paths[d]);
                                return -ENOENT;
                        }
                        m->deps[d] = j;
                }
        }
        return 0;
}

int moddb_parse_dep(struct moddb *db, const char *text, size_t len, char *err, size_t errlen)
{
        struct moddb tmp = { 0 };
        size_t lineno = 0, pos = 0;
        int r = 0;

        tmp.mods = calloc(64, sizeof(*tmp.mods));
        size_t cap = 64;
        if (!tmp.mods)
                return -ENOMEM;
        while (pos < len) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
                lineno++;
                if (ll == 0) {
                        pos += 1;
                        continue;
                }
                _cleanup_free_ char *line = strndup(text + pos, ll);
                pos += ll + (nl ? 1 : 0);
                if (!line) {
                        r = -ENOMEM;
                        goto fail;
                }
                if (tmp.n == MODDB_MAX_MODULES) {
                        snprintf(err, errlen, "line %zu: more than %d modules", lineno, MODDB_MAX_MODULES);
                        r = -E2BIG;
                        goto fail;
                }
                if (tmp.n == cap) {
                        struct moddep *n = reallocarray(tmp.mods, cap * 2, sizeof(*n));
                        if (!n) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        tmp.mods = n;
                        cap *= 2;
                }
                r = parse_dep_line(line, &tmp.mods[tmp.n]);
                if (r < 0) {
                        snprintf(err, errlen, "line %zu: %s", lineno,
                                 r == -E2BIG ? "too many dependencies" : "not \"path.ko: dep.ko …\"");
                        goto fail;
                }
                tmp.n++;
        }
        r = index_deps(&tmp, err, errlen);
        if (r < 0)
                goto fail;
        tmp.builtin = db->builtin;
        tmp.nbuiltin = db->nbuiltin;
        db->builtin = NULL;
        db->nbuiltin = 0;
        moddb_free(db);
        *db = tmp;
        return 0;
fail:
        moddb_free(&tmp);
        return r;
}

int moddb_parse_builtin(struct moddb *db, const char *text, size_t len)
{
        size_t pos = 0, n = 0;
        /* every entry takes at least one byte and a newline */
        char **names = calloc(len / 2 + 1, sizeof(char *));
        if (!names)
                return -ENOMEM;
        while (pos < len) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
                char path[512], name[128];
                if (ll > 0 && ll < sizeof(path)) {
                        memcpy(path, text + pos, ll);
                        path[ll] = '\0';
                        if (module_name(path, name, sizeof(name)) == 0 && !(names[n++] = strdup(name)))
                                goto oom;
                }
                pos += ll + 1;
        }
        for (size_t i = 0; i < db->nbuiltin; i++)
                free(db->builtin[i]);
        free(db->builtin);
        db->builtin = names;
        db->nbuiltin = n;
        return 0;
oom:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return -ENOMEM;
}

ssize_t moddb_find(const struct moddb *db, const char *name)
{
        char want[128];
        if (module_name(name, want, sizeof(want)) < 0)
                return -EINVAL;
        for (size_t i = 0; i < db->n; i++)
                if (streq(db->mods[i].name, want))
                        return (ssize_t)i;
        return -ENOENT;
}

bool moddb_is_builtin(const struct moddb *db, const char *name)
{
        char want[128];
        if (module_name(name, want, sizeof(want)) < 0)
                return false;
        for (size_t i = 0; i < db->nbuiltin; i++)
                if (streq(db->builtin[i], want))
                        return true;
        return false;
}

enum { UNSEEN = 0, VISITING = 1, DONE = 2 };

/* Depth-first: each dependency's own line orders its dependencies, so the
 * result is correct whatever order modules.dep lists them in. */
static int visit(const struct moddb *db, size_t i, unsigned char *state, size_t *order, size_t *norder,
                 unsigned depth, char *err, size_t errlen)
{
        if (state[i] == DONE)
                return 0;
        if (state[i] == VISITING || depth > db->n) {
                snprintf(err, errlen, "dependency cycle through %s", db->mods[i].name);
                return -ELOOP;
        }
        state[i] = VISITING;
        for (size_t d = 0; d < db->mods[i].ndeps; d++) {
                int r = visit(db, db->mods[i].deps[d], state, order, norder, depth + 1, err, errlen);
                if (r < 0)
                        return r;
        }
        state[i] = DONE;
        order[(*norder)++] = i;
        return 0;
}

int moddb_resolve(const struct moddb *db, const char *name, unsigned char *state, size_t *order,
                  size_t *norder, char *err, size_t errlen)
{
        ssize_t i = moddb_find(db, name);
        if (i < 0) {
                snprintf(err, errlen, "%s is not in modules.dep", name);
                return -ENOENT;
        }
        /* Work on copies so that a failure appends nothing. */
        _cleanup_free_ unsigned char *st = malloc(db->n ? db->n : 1);
        if (!st)
                return -ENOMEM;
        memcpy(st, state, db->n);
        size_t n = *norder;
        int r = visit(db, (size_t)i, st, order, &n, 0, err, errlen);
        if (r < 0)
                return r;
        memcpy(state, st, db->n);
        *norder = n;
        return 0;
}
