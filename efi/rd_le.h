/* SPDX-License-Identifier: Apache-2.0 */
/* Little-endian reads on the one bounds-checked reader (lib/reader.h), for
 * what UEFI defines: GPT headers and entries, EFI variables. Built on
 * rd_bytes, so each read likewise succeeds or consumes nothing. */
#pragma once

#include <stdint.h>

#include "reader.h"

static inline uint16_t le16_at(const uint8_t *b) { return (uint16_t)(b[0] | (uint16_t)b[1] << 8); }
static inline uint32_t le32_at(const uint8_t *b)
{
        return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t le64_at(const uint8_t *b) { return (uint64_t)le32_at(b) | (uint64_t)le32_at(b + 4) << 32; }

static inline void put_le32(uint8_t *b, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                b[i] = (uint8_t)(v >> (8 * i));
}
static inline void put_le64(uint8_t *b, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                b[i] = (uint8_t)(v >> (8 * i));
}

static inline int rd_le16(struct reader *r, uint16_t *ret)
{
        const uint8_t *b;
        if (rd_bytes(r, 2, &b) < 0)
                return -EBADMSG;
        *ret = le16_at(b);
        return 0;
}

static inline int rd_le32(struct reader *r, uint32_t *ret)
{
        const uint8_t *b;
        if (rd_bytes(r, 4, &b) < 0)
                return -EBADMSG;
        *ret = le32_at(b);
        return 0;
}

static inline int rd_le64(struct reader *r, uint64_t *ret)
{
        const uint8_t *b;
        if (rd_bytes(r, 8, &b) < 0)
                return -EBADMSG;
        *ret = le64_at(b);
        return 0;
}
