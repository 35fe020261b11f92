/* SPDX-License-Identifier: Apache-2.0 */
#include "stage.h"

#include "util.h"

static const struct {
        const char *name;
        unsigned timeout_s;
} stages[_STAGE_MAX] = {
        [STAGE_EARLY] = { "early", 10 },
        [STAGE_ROOTFS] = { "rootfs", 60 },
        [STAGE_MOUNTS] = { "mounts", 10 },
        [STAGE_MODULES] = { "modules", 60 },
        [STAGE_NETWORK] = { "network", 90 },
        [STAGE_ATTEST] = { "attest", 120 },
        [STAGE_OVERLAY] = { "overlay", 300 },
        [STAGE_RKE2] = { "rke2", 60 },
        [STAGE_READY] = { "ready", 900 },
        [STAGE_LKG] = { "lkg", 300 },
};

const char *stage_name(enum stage s)
{
        if (s < 0 || s >= _STAGE_MAX)
                return "?";
        return stages[s].name;
}

enum stage stage_from_name(const char *name)
{
        for (int i = 0; i < _STAGE_MAX; i++)
                if (streq(stages[i].name, name))
                        return (enum stage)i;
        return _STAGE_INVALID;
}

unsigned stage_default_timeout_s(enum stage s)
{
        if (s < 0 || s >= _STAGE_MAX)
                return 0;
        return stages[s].timeout_s;
}
