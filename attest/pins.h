/* SPDX-License-Identifier: Apache-2.0 */
/* The node's pins of its attestation server's key, as the image carries
 * them in /etc/ember/attest.pins (written by `emberctl image site`). */
#pragma once

#include <stddef.h>

#define ATTEST_PINS_MAX 16

/* Parses a pin file: one "sha256//" + 44 base64 characters a line; blank
 * lines and lines starting with '#' are skipped; surrounding blanks are
 * ignored. *ret is the pins joined with ';' as curl takes them (malloc).
 * -EINVAL with the line number and what is wrong in why; -ENOENT when the
 * text holds no pin; -E2BIG beyond ATTEST_PINS_MAX. */
int attest_pins_parse(const char *text, size_t len, char **ret, char *why, size_t whylen);
