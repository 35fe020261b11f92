/* SPDX-License-Identifier: Apache-2.0 */
/* Reference values: what an approved image's PCRs hold on each boot path
 * it supports, and the policy check against a node's replayed PCRs.
 *
 * Import/export use the JSON shape of Trustee's reference value provider:
 *   [{"version":"0.1.0","name":"tpm_pcr4","expiration":"2026-11-27T18:05:14Z",
 *     "value":["<hex>", …]}, …]
 * That shape lists values per PCR, not per boot. Ember's reading, so values
 * of different boots can never combine: one document describes ONE image;
 * within it every entry's "value" list has either one element (the PCR is
 * the same on every path) or exactly k elements, and the i-th elements of
 * all entries together are the full tuple of boot path i. Values are
 * SHA-256 PCR values (64 hex digits). An entry's expiration applies to the
 * paths it takes part in; an expired path approves nothing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define REF_PCRS 24
#define REF_DIGEST 32          /* SHA-256 */
#define REF_MAX_PATHS 16
#define REF_DOC_MAX (1u << 20) /* bytes of JSON accepted */
#define REF_VERSION "0.1.0"

struct ref_path {
        uint32_t mask;                      /* which PCRs this path fixes */
        uint8_t value[REF_PCRS][REF_DIGEST];
        int64_t expires;                    /* unix seconds; INT64_MAX: never */
};

struct ref_image {
        struct ref_path paths[REF_MAX_PATHS];
        size_t n_paths;
};

/* -EBADMSG (not the shape above, with why naming the entry and field),
 * -E2BIG (more paths or bytes than Ember takes). *ret written on success. */
int ref_parse(const char *json, size_t len, struct ref_image *ret, char *why, size_t whylen);

/* The document for img (paths in order), malloc'ed; NULL on ENOMEM. */
char *ref_export(const struct ref_image *img);

/* RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" (fractions of a second allowed and
 * ignored) to unix seconds; -EINVAL otherwise. */
int ref_parse_time(const char *s, int64_t *ret);

/* A node's PCR values (SHA-256) and which of them it proved. */
struct ref_pcrs {
        uint32_t mask;
        uint8_t value[REF_PCRS][REF_DIGEST];
};

/* Does one path of img match every PCR it fixes, unexpired at now? Returns
 * the path index, -ENOENT when none does (why names the first PCR that
 * differs from the closest path, for the operator's log). */
int ref_match(const struct ref_image *img, const struct ref_pcrs *p, int64_t now, char *why, size_t whylen);

/* The PCRs any path fixes: what the server must ask the node to quote. */
uint32_t ref_selection(const struct ref_image *img);
