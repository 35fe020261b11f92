/* SPDX-License-Identifier: Apache-2.0 */
/* The verifier's own keys: a CA and a server certificate it signs, made
 * with mbedtls (ECDSA P-256, SHA-256), and the pins nodes carry. A pin is
 * curl's form, "sha256//<base64 of the SHA-256 of the SubjectPublicKeyInfo>";
 * nodes accept any of several (';'-separated), so keys rotate by adding the
 * new pin to images before the server switches. */
#pragma once

#include <stddef.h>

#define PKI_PIN_LEN 53 /* "sha256//" + 44 base64 characters + NUL */

/* Creates DIR/ca.key, ca.crt, server.key, server.crt (keys 0600). names are
 * the server's DNS names or IPv4 addresses (subjectAltName); the first is
 * also its CN. Refuses (-EEXIST) to overwrite. Files appear only whole. */
int pki_init(const char *dir, const char *const *names, size_t n, unsigned days, char *why, size_t whylen);

/* The pin of the public key in a PEM certificate file. */
int pki_pin_of_cert(const char *path, char out[PKI_PIN_LEN], char *why, size_t whylen);
