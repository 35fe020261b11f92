/* SPDX-License-Identifier: Apache-2.0 */
/* The overlay stage of PID 1: fetches the sealed overlay the attestation
 * reply named (from the attestation server with the credential and a proof
 * by E, or from the URL it gave), and streams it through the opener
 * (overlay/open.h): header signed by a signer the image pins, exactly the
 * overlay named (id, serial, ciphertext digest), every chunk, the tar's
 * entries extracted into a staging directory on the root tmpfs. Only when
 * all of it checked out is the staged tree moved into `/`.
 *
 * What it reads: /run/ember/attest/{result.json,credential,e.key,overlay.key}
 * (the attest stage's), /etc/ember/overlay-signers.pem (the site image's). */
#pragma once

#include <stddef.h>

#define OVERLAY_SIGNERS_PATH "/etc/ember/overlay-signers.pem"
#define OVERLAY_STAGING_PATH "/.ember-overlay-staging"
/* What was applied (id, serial, ciphertext digest, entries, bytes), for
 * the measured start of rke2 (init/measure.c) and for operators. */
#define OVERLAY_APPLIED_PATH "/run/ember/overlay/applied.json"

struct overlay_stage_opts {
        const char *attest_url;  /* ember.attest_url: the server, for /v1/overlay */
        const char *proxy;       /* ember.proxy or NULL */
        const char *attest_dir;  /* NULL: /run/ember/attest */
        const char *signers;     /* NULL: OVERLAY_SIGNERS_PATH */
        const char *pins_path;   /* NULL: the attest stage's defaults */
        const char *ca_path;
        const char *staging;     /* NULL: OVERLAY_STAGING_PATH */
        const char *root;        /* NULL: "/" */
        const char *applied;     /* NULL: OVERLAY_APPLIED_PATH when root is "/", else not written */
        unsigned long long deadline_ms; /* CLOCK_MONOTONIC; retries stop before it */
};

/* 0 with a one-line summary in detail, or -errno with the reason. A
 * failure while moving the staged tree into root is -ENOTRECOVERABLE: the
 * root is partly changed and the node must reboot. */
int overlay_stage_run(const struct overlay_stage_opts *o, char *detail, size_t len);
