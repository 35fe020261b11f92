/* SPDX-License-Identifier: Apache-2.0 */
/* The one bounds-checked reader for untrusted bytes (DHCP packets, TPM
 * structures, event logs, overlay headers). A reader is a cursor {p, len}
 * over memory it does not own. Every call either succeeds and consumes what
 * it read, or returns -EBADMSG and consumes nothing, so a caller may try an
 * alternative after a failure. Lengths are compared as "len < n", which
 * cannot overflow whatever n an attacker chose. */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct reader {
        const uint8_t *p;
        size_t len;
};

static inline void rd_init(struct reader *r, const void *p, size_t len)
{
        r->p = p;
        r->len = p ? len : 0;
}

static inline size_t rd_remaining(const struct reader *r) { return r->len; }

static inline int rd_skip(struct reader *r, size_t n)
{
        if (r->len < n)
                return -EBADMSG;
        r->p += n;
        r->len -= n;
        return 0;
}

/* Zero-copy: *ret points into the reader's memory and lives as long as it. */
static inline int rd_bytes(struct reader *r, size_t n, const uint8_t **ret)
{
        if (r->len < n)
                return -EBADMSG;
        *ret = r->p;
        r->p += n;
        r->len -= n;
        return 0;
}

static inline int rd_copy(struct reader *r, void *dst, size_t n)
{
        const uint8_t *b;
        int ret = rd_bytes(r, n, &b);
        if (ret < 0)
                return ret;
        if (n)
                memcpy(dst, b, n);
        return 0;
}

/* The next n bytes as their own reader, so a length-prefixed field can be
 * parsed without ever reading past its declared end. */
static inline int rd_sub(struct reader *r, size_t n, struct reader *ret)
{
        const uint8_t *b;
        int err = rd_bytes(r, n, &b);
        if (err < 0)
                return err;
        ret->p = b;
        ret->len = n;
        return 0;
}

static inline int rd_u8(struct reader *r, uint8_t *ret)
{
        if (r->len < 1)
                return -EBADMSG;
        *ret = r->p[0];
        r->p++;
        r->len--;
        return 0;
}

static inline int rd_be16(struct reader *r, uint16_t *ret)
{
        if (r->len < 2)
                return -EBADMSG;
        *ret = (uint16_t)((uint16_t)r->p[0] << 8 | r->p[1]);
        r->p += 2;
        r->len -= 2;
        return 0;
}

static inline int rd_be32(struct reader *r, uint32_t *ret)
{
        if (r->len < 4)
                return -EBADMSG;
        *ret = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 |
               (uint32_t)r->p[3];
        r->p += 4;
        r->len -= 4;
        return 0;
}
