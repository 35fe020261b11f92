/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the kernel command line, split and interpreted. */
#include <stdint.h>
#include <stdlib.h>

#include "cmdline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cmdline c = { 0 };
        if (cmdline_split((const char *)data, size, &c) < 0)
                return 0;
        for (int debug_image = 0; debug_image < 2; debug_image++) {
                struct ember_config cfg;
                struct diag_list d = { .n = 0 };
                config_init(&cfg);
                if (config_apply_cmdline(&cfg, &c, debug_image, &d) >= 0) {
                        char *j = config_to_json(&cfg, false);
                        free(j);
                }
                config_free(&cfg);
        }
        cmdline_free(&c);
        return 0;
}
