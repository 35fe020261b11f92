/* SPDX-License-Identifier: Apache-2.0 */
#include "ek_type.h"

#include <errno.h>
#include <string.h>

static const char *const ek_names[_ATTEST_EK_MAX] = {
        [ATTEST_EK_AUTO] = "auto",
        [ATTEST_EK_RSA2048] = "rsa",
        [ATTEST_EK_ECC_P256] = "ecc256",
        [ATTEST_EK_ECC_P384] = "ecc384",
};

const char *attest_ek_to_string(enum attest_ek t)
{
        return (unsigned)t < _ATTEST_EK_MAX ? ek_names[t] : NULL;
}

int attest_ek_from_string(const char *s, enum attest_ek *ret)
{
        for (unsigned i = 0; s && i < _ATTEST_EK_MAX; i++)
                if (strcmp(s, ek_names[i]) == 0) {
                        *ret = (enum attest_ek)i;
                        return 0;
                }
        return -EINVAL;
}
