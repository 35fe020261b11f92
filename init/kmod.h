/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel modules: modules.dep parsing and dependency order (pure, used by
 * the image build on the host and by /init), and the loader (finit_module). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct moddep {
        char *path; /* relative to /lib/modules/<release>/ */
        char *name; /* "virtio_net": basename, no suffix, '-' → '_' */
        size_t *deps; /* indexes into moddb.mods */
        size_t ndeps;
        char **dep_paths; /* as written, before indexing */
};

struct moddb {
        struct moddep *mods;
        size_t n;
        char **builtin; /* names of built-in modules */
        size_t nbuiltin;
};

/* Parses modules.dep text. Errors carry the line number in err. */
int moddb_parse_dep(struct moddb *db, const char *text, size_t len, char *err, size_t errlen);
/* Parses modules.builtin (one path a line). */
int moddb_parse_builtin(struct moddb *db, const char *text, size_t len);
void moddb_free(struct moddb *db);

/* Module name of a path or name: basename, no .ko[.gz|.xz|.zst], '_' for '-'. */
int module_name(const char *path_or_name, char *buf, size_t buflen);

ssize_t moddb_find(const struct moddb *db, const char *name);
bool moddb_is_builtin(const struct moddb *db, const char *name);

/* Appends name's dependency closure to order[] (dependencies first, no
 * duplicates across calls: state[] must have db->n zeroed entries and is
 * shared between calls). order[] must have room for db->n entries.
 * -ENOENT: not in modules.dep (err names the missing module);
 * -ELOOP: dependency cycle. Nothing is appended on failure. */
int moddb_resolve(const struct moddb *db, const char *name, unsigned char *state, size_t *order,
                  size_t *norder, char *err, size_t errlen);

/* Loads one module file: finit_module, or for .gz/.zst decompression in
 * memory and init_module. Already loaded counts as success (returns 1). */
int kmod_load_file(const char *path);

/* Inflates a .ko.gz (zstd=false) or .ko.zst file into memory (at most
 * 64 MiB). -EBADMSG for corrupt or truncated input, -EFBIG past the cap. */
int kmod_decompress(int fd, bool zstd, uint8_t **ret, size_t *ret_len);
