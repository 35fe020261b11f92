/* SPDX-License-Identifier: Apache-2.0 */
#include "mbed.h"

#include <errno.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/rsa.h>

int mbed_errno(int code)
{
        int low = -(-code & 0x007F), high = -(-code & 0xFF80);
        if (low == MBEDTLS_ERR_MPI_ALLOC_FAILED || high == MBEDTLS_ERR_ECP_ALLOC_FAILED ||
            high == MBEDTLS_ERR_MD_ALLOC_FAILED)
                return -ENOMEM;
        if (high == MBEDTLS_ERR_RSA_KEY_CHECK_FAILED || high == MBEDTLS_ERR_RSA_BAD_INPUT_DATA ||
            high == MBEDTLS_ERR_ECP_INVALID_KEY || high == MBEDTLS_ERR_ECP_BAD_INPUT_DATA)
                return -EBADMSG;
        return -EIO;
}

int mbed_reason(const struct reason *w, int code, int verdict, const char *what)
{
        char text[160];
        int mapped = mbed_errno(code);
        mbedtls_strerror(code, text, sizeof(text));
        return reason_fail(w, mapped == -ENOMEM || verdict == 0 ? mapped : verdict, "%s: %s (mbedtls -0x%04x)", what, text,
                           (unsigned)-code);
}
