/* SPDX-License-Identifier: Apache-2.0 */
/* The attest stage of PID 1: the node's side of the protocol (attest/client.c)
 * against ember.attest_url, with the TPM behind /dev/tpmrm0, and what it
 * leaves for the overlay stage in /run/ember/attest/:
 *
 *   credential   the server's credential (0600)
 *   e.key        E, the ephemeral P-256 key it is bound to, PEM (0600)
 *   result.json  machine, image, expiry, EK type, step timings (0644; no secret)
 *
 * How the node knows its server is part of the image, so that it is
 * measured with it (PCR 9): /etc/ember/attest.pins (one curl public key
 * pin a line, "sha256//BASE64") and/or /etc/ember/attest-ca.pem. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "reason.h"

#define ATTEST_PINS_PATH "/etc/ember/attest.pins"
#define ATTEST_CA_PATH "/etc/ember/attest-ca.pem"
#define ATTEST_STATE_DIR "/run/ember/attest"
#define ATTEST_TPM_DEVICE "/dev/tpmrm0"

/* Writes the three files above into dir (created 0700 if missing), each
 * atomically. 0 or -errno. */
int attest_state_write(const char *dir, const struct attest_result *r);

/* What the image says about the server (NULL paths: the defaults above):
 * *pins (malloc, curl's list, or NULL) and/or *ca (the CA file's path, or
 * NULL). -ENOKEY when it says nothing: a node never talks to a server it
 * cannot authenticate. */
int attest_server_trust(const char *pins_path, const char *ca_path, char **pins, const char **ca,
                        const struct reason *w);

/* Is a failure of attest_run() worth another try within the stage (the
 * server not reached, the connection lost), rather than a verdict? */
bool attest_error_retryable(int err);

struct attest_stage_opts {
        const char *url;        /* ember.attest_url */
        const char *proxy;      /* ember.proxy, or NULL */
        enum attest_ek ek;      /* ember.attest_ek */
        const char *tpm_device; /* NULL: ATTEST_TPM_DEVICE */
        const char *pins_path;  /* NULL: ATTEST_PINS_PATH */
        const char *ca_path;    /* NULL: ATTEST_CA_PATH */
        const char *state_dir;  /* NULL: ATTEST_STATE_DIR */
        unsigned long long deadline_ms; /* CLOCK_MONOTONIC; retries stop before it */
};

/* The stage: 0 with a one-line summary in detail, or -errno with the reason
 * there (the server's refusal, the TPM's error, …). Logs each attempt. */
int attest_stage_run(const struct attest_stage_opts *o, char *detail, size_t len);
