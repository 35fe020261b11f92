/* SPDX-License-Identifier: Apache-2.0 */
/* mbedtls's error codes become -errno here and nowhere else, and their
 * native code and text go into a reason once. */
#pragma once

#include "reason.h"

/* Allocation failures are -ENOMEM; key material mbedtls refuses (from the
 * network) is -EBADMSG; anything else -EIO. A code may be a high-level
 * error plus a low-level one (RSA "public failed" + MPI "alloc failed"). */
int mbed_errno(int code);

/* "<what>: <text> (mbedtls -0x…)" into w; returns verdict, or
 * mbed_errno(code) when verdict is 0 — but -ENOMEM whenever mbedtls ran
 * out of memory, whatever the caller's verdict. */
int mbed_reason(const struct reason *w, int code, int verdict, const char *what);
