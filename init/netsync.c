/* SPDX-License-Identifier: Apache-2.0 */
#include "netsync.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "sntp.h"

void netsync_init(struct netsync *s, bool enabled)
{
        *s = (struct netsync){ .enabled = enabled };
}

void netsync_lease(struct netsync *s, const struct dhcp_addrs *ntp, unsigned long long now)
{
        if (!s->enabled)
                return;
        if (!ntp || ntp->n == 0) {
                s->servers.n = 0;
                s->next_ms = 0;
                return;
        }
        bool same = ntp->n == s->servers.n && memcmp(ntp->a, s->servers.a, ntp->n * sizeof(ntp->a[0])) == 0;
        s->servers = *ntp;
        if (!same || s->syncs == 0) {
                s->failures = 0;
                s->next_ms = now;
                netsync_tick(s, now);
        }
}

unsigned long long netsync_next(const struct netsync *s)
{
        return s->enabled && s->servers.n ? s->next_ms : 0;
}

static void step(struct netsync *s, uint32_t server, const struct sntp_result *res)
{
        char a[DHCP_ADDR_STRLEN], detail[160] = "";
        dhcp_addr_str(server, a);
        if (llabs(res->offset_ns) < NETSYNC_STEP_MIN_NS) {
                log_info("ntp", "clock agrees with %s within 1 ms (offset %lld us, delay %lld us, stratum %u)", a,
                         (long long)(res->offset_ns / 1000), (long long)(res->delay_ns / 1000), res->stratum);
                return;
        }
        /* a server that would wind the clock back before this image was
         * built is wrong (or hostile): certificates would look unexpired */
        int64_t floor_s;
        struct timespec now;
        if (res->offset_ns < 0 && clock_epoch_read(CLOCK_BUILD_EPOCH_FILE, &floor_s) == 0 &&
            clock_gettime(CLOCK_REALTIME, &now) == 0 &&
            (int64_t)now.tv_sec + res->offset_ns / 1000000000LL < floor_s) {
                log_warn("ntp", "%s would set the clock before the image's build time, ignoring", a);
                return;
        }
        int r = clock_apply_offset(res->offset_ns, detail, sizeof(detail));
        if (r < 0)
                log_err("ntp", "correcting the clock by %lld ms failed: %s", (long long)(res->offset_ns / 1000000),
                        strerror(-r));
        else
                log_info("ntp", "clock corrected by %lld ms from %s (stratum %u, delay %lld us): %s",
                         (long long)(res->offset_ns / 1000000), a, res->stratum, (long long)(res->delay_ns / 1000),
                         detail);
}

void netsync_tick(struct netsync *s, unsigned long long now)
{
        if (!netsync_next(s) || now < s->next_ms)
                return;
        for (size_t i = 0; i < s->servers.n; i++) {
                struct sntp_result res;
                char why[160], a[DHCP_ADDR_STRLEN];
                int r = sntp_query(s->servers.a[i], SNTP_PORT, NETSYNC_QUERY_TIMEOUT_MS, &res, why, sizeof(why));
                if (r < 0) {
                        log_warn("ntp", "asking %s for the time failed: %s", dhcp_addr_str(s->servers.a[i], a), why);
                        /* kiss-o'-death DENY/RSTR: never ask it again this lease */
                        if (r == -EACCES && (strstr(why, "DENY") || strstr(why, "RSTR"))) {
                                s->servers.a[i] = s->servers.a[--s->servers.n];
                                i--;
                        }
                        continue;
                }
                step(s, s->servers.a[i], &res);
                s->syncs++;
                s->failures = 0;
                s->next_ms = now + NETSYNC_INTERVAL_MS;
                return;
        }
        unsigned long long wait = NETSYNC_RETRY_MIN_MS << (s->failures < 7 ? s->failures : 7);
        s->failures++;
        s->next_ms = now + (wait < NETSYNC_INTERVAL_MS ? wait : NETSYNC_INTERVAL_MS);
        log_warn("ntp", "no NTP server answered; trying again in %llu s", (s->next_ms - now) / 1000);
}
