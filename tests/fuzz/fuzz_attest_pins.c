/* SPDX-License-Identifier: Apache-2.0 */
/* The image's pin file: any bytes parse or fail cleanly, and what parses is
 * curl's list of well-formed pins, which parses again (one a line) to the
 * same list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pins.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char why[200], *pins = NULL, *again = NULL;
        if (attest_pins_parse((const char *)data, size, &pins, why, sizeof(why)) < 0) {
                if (pins || !memchr(why, '\0', sizeof(why)))
                        __builtin_trap();
                return 0;
        }
        size_t n = strlen(pins);
        if (n < 52 || (n + 1) % 53 != 0)
                __builtin_trap();
        char *lines = strdup(pins);
        for (char *p = lines; (p = strchr(p, ';'));)
                *p = '\n';
        if (attest_pins_parse(lines, n, &again, why, sizeof(why)) < 0 || strcmp(again, pins) != 0)
                __builtin_trap();
        free(lines);
        free(again);
        free(pins);
        return 0;
}
