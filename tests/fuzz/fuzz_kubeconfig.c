/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: a kubeconfig (the bounded YAML loader, then the walk from
 * current-context to cluster and user, base64 of inline certificates).
 * Parsing only: paths the input names are recorded, never opened. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char why[200] = "";
        struct kubeconfig kc;
        int k = kubeconfig_parse((const char *)data, size, "/nonexistent", &kc, &(struct reason){ why, sizeof(why) });
        if (k == 0) {
                /* what parse promises: a server, a CA, and a user who can authenticate */
                if (!kc.server || strncmp(kc.server, "https://", 8) != 0 || !(kc.ca.data || kc.ca.path) ||
                    !(kc.cert.data || kc.cert.path || kc.token || kc.token_file))
                        abort();
                kubeconfig_free(&kc);
        } else if (!why[0] && k != -ENOMEM) {
                abort(); /* every refusal says why */
        }
        return 0;
}
