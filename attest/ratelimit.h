/* SPDX-License-Identifier: Apache-2.0 */
/* Token buckets keyed by a short string (a client address, an EK hash):
 * `rate` requests a second with bursts of `burst`. A fixed table, so a
 * flood of distinct keys evicts old buckets instead of growing memory. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_SLOTS 4096
#define RATELIMIT_KEY 64

struct ratelimit {
        pthread_mutex_t lock;
        double rate, burst;
        struct {
                char key[RATELIMIT_KEY];
                double tokens;
                uint64_t last_ms;
        } slot[RATELIMIT_SLOTS];
};

void ratelimit_init(struct ratelimit *rl, double rate, double burst);
/* True when the request may go ahead (and takes a token). */
bool ratelimit_take(struct ratelimit *rl, const char *key, uint64_t now_ms);
