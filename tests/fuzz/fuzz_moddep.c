/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: modules.dep and modules.builtin, then resolution of every
 * module the input names. */
#include <stdint.h>
#include <stdlib.h>

#include "kmod.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct moddb db = { 0 };
        char err[256];
        if (moddb_parse_builtin(&db, (const char *)data, size) < 0)
                return 0;
        if (moddb_parse_dep(&db, (const char *)data, size, err, sizeof(err)) == 0) {
                unsigned char *state = calloc(db.n + 1, 1);
                size_t *order = calloc(db.n + 1, sizeof(size_t)), n = 0;
                for (size_t i = 0; state && order && i < db.n; i++)
                        (void)moddb_resolve(&db, db.mods[i].name, state, order, &n, err, sizeof(err));
                free(state);
                free(order);
        }
        moddb_free(&db);
        return 0;
}
