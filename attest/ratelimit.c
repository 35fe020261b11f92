/* SPDX-License-Identifier: Apache-2.0 */
#include "ratelimit.h"

#include <stdio.h>
#include <string.h>

void ratelimit_init(struct ratelimit *rl, double rate, double burst)
{
        memset(rl, 0, sizeof(*rl));
        pthread_mutex_init(&rl->lock, NULL);
        rl->rate = rate;
        rl->burst = burst;
}

/* FNV-1a: keys are ours (addresses, hex), not chosen to collide; a
 * collision only shares a bucket. */
static size_t slot_of(const char *key)
{
        uint32_t h = 2166136261u;
        for (; *key; key++)
                h = (h ^ (uint8_t)*key) * 16777619u;
        return h % RATELIMIT_SLOTS;
}

bool ratelimit_take(struct ratelimit *rl, const char *key, uint64_t now_ms)
{
        size_t i = slot_of(key);
        bool ok;
        pthread_mutex_lock(&rl->lock);
        if (strncmp(rl->slot[i].key, key, RATELIMIT_KEY - 1) != 0 || rl->slot[i].last_ms == 0) {
                snprintf(rl->slot[i].key, RATELIMIT_KEY, "%s", key);
                rl->slot[i].tokens = rl->burst;
                rl->slot[i].last_ms = now_ms;
        }
        uint64_t elapsed = now_ms > rl->slot[i].last_ms ? now_ms - rl->slot[i].last_ms : 0;
        double t = rl->slot[i].tokens + (double)elapsed / 1000.0 * rl->rate;
        if (t > rl->burst)
                t = rl->burst;
        ok = t >= 1.0;
        rl->slot[i].tokens = ok ? t - 1.0 : t;
        if (now_ms > rl->slot[i].last_ms)
                rl->slot[i].last_ms = now_ms;
        pthread_mutex_unlock(&rl->lock);
        return ok;
}
