/* SPDX-License-Identifier: Apache-2.0 */
/* The overlay header: any bytes parse or fail cleanly; what parses
 * marshals back to exactly the same bytes, and its meaning check never
 * crashes whatever the fields say. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct overlay_header h;
        static uint8_t again[OVERLAY_HEADER_MAX];
        char why[300];
        const struct reason w = { why, sizeof(why) };
        uint32_t len;
        size_t n;

        if (overlay_header_prefix(data, size, &len, &w) < 0) {
                if (!memchr(why, '\0', sizeof(why)))
                        __builtin_trap();
                return 0;
        }
        if (len < OVERLAY_FIXED_LEN + 1 || len > OVERLAY_HEADER_MAX)
                __builtin_trap();
        if (overlay_header_parse(data, size, &h, &w) < 0)
                return 0;
        if (size != len || overlay_header_marshal(&h, again, sizeof(again), &n) < 0 || n != size ||
            memcmp(again, data, size) != 0)
                __builtin_trap();
        if (overlay_header_check(&h, NULL, &w) == 0) {
                /* what the check let through has sane geometry */
                uint64_t sum = 0;
                for (uint64_t i = 0; i < h.chunk_count && i < 4; i++)
                        sum += overlay_chunk_len(&h, i);
                if (h.chunk_count == 0 || (h.chunk_count <= 4 && sum != h.payload_size))
                        __builtin_trap();
        }
        return 0;
}
