/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the golden digest list (/etc/ember/rke2.digests). Whatever
 * the input, the parser either refuses it with a reason or returns entries
 * that are each canonical and distinct. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "measure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct measure_digests d = { 0 };
        char why[300] = "";
        const struct reason w = { why, sizeof(why) };
        if (measure_digests_parse((const char *)data, size, &d, &w) < 0) {
                if (!why[0])
                        abort(); /* every refusal says why */
                return 0;
        }
        if (d.n == 0 || d.n > MEASURE_FILES_MAX)
                abort();
        for (size_t i = 0; i < d.n; i++) {
                if (measure_path_problem(d.e[i].path, strlen(d.e[i].path)))
                        abort();
                for (size_t j = 0; j < i; j++)
                        if (strcmp(d.e[i].path, d.e[j].path) == 0)
                                abort();
        }
        measure_digests_free(&d);
        return 0;
}
