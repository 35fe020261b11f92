/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the PE parser behind the Authenticode digest
 * (efi/authenticode.c). Whatever the bytes, a plan's ranges lie in the
 * image and do not go backwards within the headers; the digest is the
 * plan's; a refusal leaves the output untouched. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "authenticode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct authenticode_plan p;
        uint8_t d[32], again[32], untouched[32];
        char why[256];
        memset(d, 0x5a, sizeof(d));
        memcpy(untouched, d, sizeof(d));
        int r = authenticode_plan(data, size, &p, why, sizeof(why));
        assert(r == 0 || r == -EBADMSG);
        int k = authenticode_sha256(data, size, d);
        assert(k == r);
        if (r < 0) {
                assert(memcmp(d, untouched, sizeof(d)) == 0);
                return 0;
        }
        assert(p.n >= 1 && p.n <= sizeof(p.r) / sizeof(p.r[0]));
        assert(p.size_of_headers <= size && p.sum_of_bytes_hashed <= size);
        assert(p.cert_len == 0 || p.cert_off + p.cert_len == size);
        for (size_t i = 0; i < p.n; i++) {
                assert(p.r[i].len > 0 && p.r[i].off <= size && size - p.r[i].off >= p.r[i].len);
                if (i > 0 && p.r[i].off < p.size_of_headers)
                        assert(p.r[i].off >= p.r[i - 1].off + p.r[i - 1].len);
        }
        assert(authenticode_hash(data, size, &p, again) == 0);
        assert(memcmp(d, again, sizeof(d)) == 0);
        return 0;
}
