/* SPDX-License-Identifier: Apache-2.0 */
/* Reference-value documents an operator imports: any bytes parse or fail
 * cleanly, and whatever parses exports to a document that parses to the
 * same image. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "refvalues.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct ref_image img, again;
        if (ref_parse((const char *)data, size, &img, NULL, 0) < 0)
                return 0;
        char *out = ref_export(&img);
        if (!out)
                return 0;
        if (ref_parse(out, strlen(out), &again, NULL, 0) < 0 || again.n_paths != img.n_paths)
                __builtin_trap();
        for (size_t p = 0; p < img.n_paths; p++)
                for (int pcr = 0; pcr < REF_PCRS; pcr++)
                        if ((img.paths[p].mask & (1u << pcr)) &&
                            memcmp(img.paths[p].value[pcr], again.paths[p].value[pcr], REF_DIGEST) != 0)
                                __builtin_trap();
        free(out);
        return 0;
}
