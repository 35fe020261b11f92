/* SPDX-License-Identifier: Apache-2.0 */
/* The attestation protocol's two requests (protocol.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "ratelimit.h"
#include "store.h"

#define PROTOCOL_RATE_PER_EK 1.0 /* challenges a second per EK, bursts of 5 */

struct protocol {
        struct store *store;
        struct ratelimit by_ek;
        uint64_t (*now_ms)(void);
};

/* Handles the request when it is one of the protocol's; false otherwise. */
bool protocol_handle(struct protocol *p, const struct http_request *rq, struct http_reply *rp);
