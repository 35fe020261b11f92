/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: an SNTP reply parsed, checked against its own originate (so
 * the checks past the cookie are reached), and measured against client
 * times the input's last 16 bytes choose, so the arithmetic sees every
 * wrap and sign. UBSan catches any overflow in it. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "sntp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t be64(const uint8_t *b)
{
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | b[i];
        return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct sntp_packet p;
        struct sntp_result res;
        char why[160], refid[SNTP_REFID_STRLEN];

        int r = sntp_packet_parse(data, size, &p, why, sizeof(why));
        if (r < 0) {
                assert(r == -EBADMSG && size < SNTP_PACKET_LEN);
                return 0;
        }
        assert(p.leap <= 3 && p.version <= 7 && p.mode <= 7);
        assert(strlen(sntp_refid_str(p.stratum, p.refid, refid)) < SNTP_REFID_STRLEN);
        r = sntp_reply_check(&p, p.originate, why, sizeof(why));
        assert(r == 0 || r == -EBADMSG || r == -ENOMSG || r == -EACCES || r == -ENODATA);
        assert(r != -EACCES || p.stratum == 0);
        assert(sntp_reply_check(&p, p.originate ^ 1, why, sizeof(why)) == -ENOMSG);
        if (r < 0)
                return 0;

        uint64_t t1 = p.receive, t4 = p.transmit;
        if (size >= SNTP_PACKET_LEN + 16) {
                t1 = be64(data + size - 16);
                t4 = be64(data + size - 8);
        }
        r = sntp_measure(&p, t1, t4, &res, why, sizeof(why));
        assert(r == 0 || r == -EBADMSG);
        if (r == 0)
                assert(res.delay_ns >= 0 && res.stratum == p.stratum && res.refid == p.refid);
        return 0;
}
