/* SPDX-License-Identifier: Apache-2.0 */
/* The Authenticode digest of a PE/COFF image (PE32 or PE32+): what UEFI
 * firmware hashes before it starts an EFI application, and measures into
 * PCR 4 (EV_EFI_BOOT_SERVICES_APPLICATION). Microsoft's "Windows
 * Authenticode Portable Executable Signature Format", "Calculating the PE
 * Image Hash":
 *
 *   1. the headers, 0 .. SizeOfHeaders, without the CheckSum field and
 *      without the Certificate Table's data directory entry;
 *   2. each section's raw data, sorted by PointerToRawData (empty ones
 *      skipped); SUM = SizeOfHeaders + the sections' SizeOfRawData;
 *   3. when the file is longer than SUM: the bytes from offset SUM up to
 *      the attribute certificate table (the file's end when unsigned).
 *
 * Step 3 starts at SUM, not at the end of the last section: that is the
 * specification's rule and what firmware (EDK2) and pesign do.
 *
 * The parser is stricter than a loader need be, so a digest always has one
 * meaning: headers, section table and every section's raw data lie in the
 * file; raw data starts at or after SizeOfHeaders and no two sections'
 * overlap; the certificate table, when present, starts at or after the last
 * section's data and ends the file. Anything else is -EBADMSG with a reason. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The PE specification's limit (the Windows loader's); also bounds the
 * work and the plan below. */
#define AUTHENTICODE_SECTIONS_MAX 96
/* PE's data directories: 16 at most (EDK2 refuses more). */
#define AUTHENTICODE_DIRECTORIES_MAX 16

struct authenticode_range {
        size_t off, len;
};

/* What to hash, in order: at most 3 pieces of the headers, the sections,
 * the trailing data. Ranges are non-empty and lie within the image. */
struct authenticode_plan {
        struct authenticode_range r[3 + AUTHENTICODE_SECTIONS_MAX + 1];
        size_t n;
        size_t size_of_headers;
        size_t sum_of_bytes_hashed; /* SUM of step 3 */
        size_t cert_off, cert_len;  /* attribute certificate table; 0, 0 when unsigned */
        unsigned sections;          /* sections in the section table */
        bool pe32plus;
};

/* Parses the image's headers and section table into the ranges to hash.
 * A parser: touches nothing but *ret, written only on success. -EBADMSG
 * (malformed, with why), -EINVAL (NULL arguments). */
int authenticode_plan(const uint8_t *pe, size_t len, struct authenticode_plan *ret, char *why, size_t whylen);

/* SHA-256 over a plan's ranges of pe (which must be the image the plan was
 * made from). 0, -EINVAL, -EIO (mbedtls failed). */
int authenticode_hash(const uint8_t *pe, size_t len, const struct authenticode_plan *p, uint8_t out[32]);

/* Both: the image's Authenticode SHA-256. out is written only on success.
 * 0, -EBADMSG (malformed), -EINVAL, -EIO. The _why variant says what is
 * malformed. */
int authenticode_sha256(const uint8_t *pe, size_t len, uint8_t out[32]);
int authenticode_sha256_why(const uint8_t *pe, size_t len, uint8_t out[32], char *why, size_t whylen);
