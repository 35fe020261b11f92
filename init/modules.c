/* SPDX-License-Identifier: Apache-2.0 */
/* The modules stage: the names in /etc/ember/modules, with the closure of
 * their dependencies from modules.dep, loaded in dependency order. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot.h"
#include "fileio.h"
#include "kmod.h"
#include "log.h"
#include "util.h"

#define MODFILE_MAX (8u << 20)

static int read_text(const char *path, char **ret, size_t *ret_len)
{
        return read_file_all(path, MODFILE_MAX, ret, ret_len);
}

static int load_db(const char *moddir, struct moddb *db)
{
        char path[512], err[256] = "";
        _cleanup_free_ char *dep = NULL, *builtin = NULL;
        size_t len;
        int r;

        snprintf(path, sizeof(path), "%s/modules.dep", moddir);
        if ((r = read_text(path, &dep, &len)) < 0)
                return log_err("modules", "reading %s failed: %s", path, strerror(-r)), r;
        if ((r = moddb_parse_dep(db, dep, len, err, sizeof(err))) < 0)
                return log_err("modules", "%s: %s", path, err), r;
        snprintf(path, sizeof(path), "%s/modules.builtin", moddir);
        if (read_text(path, &builtin, &len) == 0 && (r = moddb_parse_builtin(db, builtin, len)) < 0)
                return r;
        return 0;
}

/* Loads one module and the dependencies not loaded yet. */
static int load_closure(const struct moddb *db, const char *moddir, const char *name, unsigned char *state,
                        size_t *order, size_t *norder, unsigned *loaded, bool *absent)
{
        char err[256] = "", path[768];
        size_t first = *norder;

        if (moddb_find(db, name) < 0 && moddb_is_builtin(db, name)) {
                log_debug("modules", "%s is built into the kernel", name);
                return 0;
        }
        int r = moddb_resolve(db, name, state, order, norder, err, sizeof(err));
        if (r < 0)
                return log_err("modules", "resolving %s failed: %s", name, err), r;
        for (size_t i = first; i < *norder; i++) {
                const struct moddep *m = &db->mods[order[i]];
                snprintf(path, sizeof(path), "%s/%s", moddir, m->path);
                r = kmod_load_file(path);
                if (r == -ENODEV) {
                        /* e.g. efivarfs on a BIOS boot: the module refuses to load */
                        absent[order[i]] = true;
                        log_info("modules", "%s: not supported by this machine, skipped", m->name);
                        continue;
                }
                if (r < 0)
                        return log_err("modules", "loading %s (%s) failed: %s", m->name, m->path, strerror(-r)), r;
                if (r == 0)
                        (*loaded)++;
                log_debug("modules", "%s %s", m->name, r == 1 ? "was already loaded" : "loaded");
        }
        return 0;
}

/* Confirms from /proc/modules that every module of the closure is live,
 * and names them on the console. */
static int verify_live(const struct moddb *db, const size_t *order, size_t norder, const bool *absent)
{
        _cleanup_free_ char *text = NULL;
        char names[1024] = "";
        size_t len;
        int missing = 0;
        if (read_text("/proc/modules", &text, &len) < 0)
                return log_err("modules", "reading /proc/modules failed: %m"), 1;
        for (size_t i = 0; i < norder; i++) {
                const char *name = db->mods[order[i]].name;
                char needle[140];
                if (absent[order[i]])
                        continue;
                snprintf(needle, sizeof(needle), "\n%s ", name);
                bool live = strncmp(text, needle + 1, strlen(needle) - 1) == 0 || strstr(text, needle);
                if (!live && !moddb_is_builtin(db, name)) {
                        log_err("modules", "%s is not live in the kernel after loading", name);
                        missing++;
                        continue;
                }
                size_t o = strlen(names);
                snprintf(names + o, sizeof(names) - o, "%s%s", o ? " " : "", name);
        }
        log_info("modules", "live: %s", names);
        return missing;
}

int modules_load_list(const char *moddir, const char *list_path, char *detail, size_t detaillen)
{
        _cleanup_(moddb_free) struct moddb db = { 0 };
        _cleanup_free_ char *list = NULL;
        size_t len;
        int r, failures = 0;
        unsigned loaded = 0;

        if ((r = read_text(list_path, &list, &len)) < 0)
                return log_err("modules", "reading %s failed: %s", list_path, strerror(-r)), r;
        if ((r = load_db(moddir, &db)) < 0)
                return r;
        _cleanup_free_ unsigned char *state = calloc(db.n + 1, 1);
        _cleanup_free_ size_t *order = calloc(db.n + 1, sizeof(size_t));
        _cleanup_free_ bool *absent = calloc(db.n + 1, sizeof(bool));
        if (!state || !order || !absent)
                return -ENOMEM;
        size_t norder = 0;
        char *save = NULL;
        for (char *line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                line[strcspn(line, "#")] = '\0';
                char *name = line + strspn(line, " \t");
                name[strcspn(name, " \t")] = '\0';
                if (*name && load_closure(&db, moddir, name, state, order, &norder, &loaded, absent) < 0)
                        failures++;
        }
        if (failures == 0)
                failures += verify_live(&db, order, norder, absent);
        snprintf(detail, detaillen, "%u loaded, %d failed", loaded, failures);
        return failures;
}
