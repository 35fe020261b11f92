/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the kernel's ip= parameter. */
#include <stdint.h>
#include <string.h>

#include "ipconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char s[600], why[128];
        struct ip_config c;
        if (size >= sizeof(s))
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        (void)ip_config_parse(s, &c, why, sizeof(why));
        return 0;
}
