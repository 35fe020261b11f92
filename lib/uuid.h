/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stdint.h>

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (either case) to its 16 bytes;
 * -EINVAL for anything else. */
int uuid_parse(const char *s, uint8_t out[16]);
