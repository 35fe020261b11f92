/* SPDX-License-Identifier: Apache-2.0 */
#include "failloop.h"

#include <errno.h>

bool errno_is_transport(int err)
{
        switch (err) {
        case -EHOSTUNREACH:
        case -ENETUNREACH:
        case -ENETDOWN:
        case -ECONNREFUSED:
        case -ECONNRESET:
        case -ECONNABORTED:
        case -ETIMEDOUT:
        case -EAGAIN:
                return true;
        default:
                return false;
        }
}

bool failure_is_environmental(enum stage s, enum stage_result res, int err)
{
        switch (s) {
        case STAGE_NETWORK:
                return true; /* no lease, no link: nothing the image did */
        case STAGE_ATTEST:
        case STAGE_OVERLAY:
        case STAGE_LKG:
                /* a server that hangs past the stage's limit is an outage too */
                return res == RESULT_TIMEOUT || errno_is_transport(err);
        default:
                /* early … modules are the image's; rke2 and ready fail on the
                 * image or its configuration, even when they end by timing out */
                return false;
        }
}
