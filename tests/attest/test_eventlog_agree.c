/* SPDX-License-Identifier: Apache-2.0 */
/* Ember's replay agrees with a real peer, tpm2-tools' tpm2_eventlog, on
 * every captured log: the same PCRs extended in every bank, to the same
 * values. tpm2_eventlog must be installed (tests/setup-host): a missing
 * peer is a failure, not a skip.
 *
 * Where the two are known to part, the captured logs do not go: tpm2-tools
 * 5.4 extends EV_NO_ACTION events after event 0 and ignores StartupLocality
 * (fixed after 5.4, tpm2-tools issue 3224 and pull request 3242), and starts
 * PCRs 17–22 at zeros. These logs have no EV_NO_ACTION event but the Spec
 * ID and nothing in 17–22; test_eventlog.c checks those rules against
 * values computed by hand. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "eventlog.h"
#include "fileio.h"
#include "util.h"

static const char *const fixtures[] = { "ovmf-direct-1", "ovmf-direct-2", "ovmf-sdboot-1" };

/* The final PCRs tpm2_eventlog prints, per bank slot of the log. */
struct peer {
        uint32_t have[EVLOG_MAX_ALGS];
        uint8_t value[EVLOG_MAX_ALGS][EVLOG_PCRS][EVLOG_DIGEST_MAX];
};

static int unhex(const char *s, uint8_t *out, size_t n)
{
        if (strspn(s, "0123456789abcdefABCDEF") != 2 * n)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                unsigned v;
                if (sscanf(s + 2 * i, "%2x", &v) != 1)
                        return -EINVAL;
                out[i] = (uint8_t)v;
        }
        return 0;
}

/* Reads the YAML's "pcrs:" section:
 *   pcrs:
 *     sha256:
 *       0  : 0x<hex>
 * Banks the log does not declare are a disagreement in themselves. */
static void run_peer(const char *path, const struct evlog *log, struct peer *ret)
{
        char cmd[600], line[512];
        int slot = -1;
        bool in_pcrs = false;

        memset(ret, 0, sizeof(*ret));
        snprintf(cmd, sizeof(cmd), "tpm2_eventlog '%s'", path);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        while (fgets(line, sizeof(line), f)) {
                char bank[32], hex[160];
                unsigned pcr;
                line[strcspn(line, "\n")] = 0;
                if (streq(line, "pcrs:")) {
                        in_pcrs = true;
                        continue;
                }
                if (!in_pcrs)
                        continue;
                size_t n = strlen(line);
                if (n > 3 && n < sizeof(bank) && startswith(line, "  ") && line[2] != ' ' && line[n - 1] == ':') {
                        memcpy(bank, line + 2, n - 3);
                        bank[n - 3] = 0;
                        slot = -1;
                        for (size_t s = 0; s < log->spec.n_algs; s++)
                                if (evlog_alg_name(log->spec.algs[s].id) &&
                                    streq(evlog_alg_name(log->spec.algs[s].id), bank))
                                        slot = (int)s;
                        if (slot < 0)
                                fail_msg("%s: tpm2_eventlog prints bank %s, which the log does not declare", path,
                                         bank);
                        continue;
                }
                if (sscanf(line, " %u : 0x%159s", &pcr, hex) == 2) {
                        assert_true(slot >= 0);
                        assert_true(pcr < EVLOG_PCRS);
                        if (unhex(hex, ret->value[slot][pcr], log->spec.algs[slot].size) < 0)
                                fail_msg("%s: tpm2_eventlog's %s PCR %u is not %u bytes of hex: %s", path,
                                         evlog_alg_name(log->spec.algs[slot].id), pcr, log->spec.algs[slot].size,
                                         hex);
                        ret->have[slot] |= 1u << pcr;
                }
        }
        int status = pclose(f);
        if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fail_msg("tpm2_eventlog %s failed (exit status %d%s)", path,
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                         WIFEXITED(status) && WEXITSTATUS(status) == 127 ? ": not installed (tpm2-tools)" : "");
        if (!in_pcrs)
                fail_msg("tpm2_eventlog %s printed no pcrs: section", path);
}

static void agree(const char *path, const struct evlog *log)
{
        struct peer peer;
        run_peer(path, log, &peer);
        size_t compared = 0;
        for (size_t s = 0; s < log->spec.n_algs; s++) {
                uint16_t alg = log->spec.algs[s].id;
                struct evlog_pcrs p;
                char why[256] = "";
                int r = evlog_replay(log, alg, &p, why, sizeof(why));
                if (r < 0)
                        fail_msg("%s: replaying %s: %s", path, evlog_alg_name(alg), why);
                if (p.extended != peer.have[s])
                        fail_msg("%s: %s: Ember replays PCRs 0x%06x, tpm2_eventlog 0x%06x", path, evlog_alg_name(alg),
                                 p.extended, peer.have[s]);
                for (int pcr = 0; pcr < EVLOG_PCRS; pcr++) {
                        if (!(peer.have[s] & (1u << pcr)))
                                continue;
                        if (memcmp(p.value[pcr], peer.value[s][pcr], p.size) != 0)
                                fail_msg("%s: %s PCR %d: Ember and tpm2_eventlog disagree", path, evlog_alg_name(alg),
                                         pcr);
                        compared++;
                }
        }
        assert_true(compared >= 9);
}

static void test_fixtures_agree(void **state)
{
        for (size_t f = 0; f < ELEMENTSOF(fixtures); f++) {
                char path[512];
                _cleanup_free_ char *bin = NULL;
                size_t len;
                snprintf(path, sizeof(path), "%s/%s.bin", EMBER_TEST_DATA, fixtures[f]);
                int r = read_file_all(path, EVLOG_MAX_BYTES, &bin, &len);
                if (r < 0)
                        fail_msg("reading %s: %s", path, strerror(-r));
                struct evlog *log = NULL;
                char why[256] = "";
                if (evlog_parse(bin, len, &log, why, sizeof(why)) < 0)
                        fail_msg("%s: %s", path, why);
                agree(path, log);
                evlog_free(log);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fixtures_agree),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
