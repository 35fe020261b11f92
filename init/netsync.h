/* SPDX-License-Identifier: Apache-2.0 */
/* Keeps the clock in step with the NTP servers a DHCP lease names (option
 * 42): once as soon as the lease is bound — before the network stage
 * reports success, so TLS in later stages sees a right clock — then every
 * hour for the node's life, retrying sooner after failures. */
#pragma once

#include <stdbool.h>

#include "dhcp_msg.h"

#define NETSYNC_INTERVAL_MS (3600 * 1000ULL)
#define NETSYNC_RETRY_MIN_MS (30 * 1000ULL)
#define NETSYNC_QUERY_TIMEOUT_MS 1500
#define NETSYNC_STEP_MIN_NS 1000000LL /* offsets below 1 ms are left alone */

struct netsync {
        bool enabled;
        struct dhcp_addrs servers;
        unsigned long long next_ms;
        unsigned failures;
        unsigned syncs;
};

void netsync_init(struct netsync *s, bool enabled);
/* New servers (NULL when the lease is gone); syncs at once when any. */
void netsync_lease(struct netsync *s, const struct dhcp_addrs *ntp, unsigned long long now_ms);
unsigned long long netsync_next(const struct netsync *s);
void netsync_tick(struct netsync *s, unsigned long long now_ms);
