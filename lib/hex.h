/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Exactly 2n hex digits (either case) into n bytes; -EINVAL otherwise
 * (NULL, another length, another character), out untouched then. */
int hex_decode(const char *s, uint8_t *out, size_t n);
