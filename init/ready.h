/* SPDX-License-Identifier: Apache-2.0 */
/* The ready stage: is this machine's Node Ready in the cluster?
 *
 * GET <server>/api/v1/nodes/<name> with the kubeconfig rke2 writes (its
 * CA; its client certificate and key, or its token), polled with backoff
 * until the Node's Ready condition is True or the deadline passes. Every
 * change of state is logged once ("ready" stage); repeats are not.
 *
 * ready_wait() sleeps between polls: PID 1 runs it in a child process, as
 * it does the attest stage, and stays responsive meanwhile. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kubeconfig.h"
#include "reason.h"

#define READY_RESPONSE_MAX (1u << 20)
#define READY_CONNECT_TIMEOUT_MS 5000
#define READY_REQUEST_TIMEOUT_MS 10000
#define READY_POLL_FIRST_MS 1000
#define READY_POLL_MAX_MS 8000
#define READY_SCRATCH_DIR "/run/ember"

enum ready_state {
        READY_STATE_NONE,
        READY_STATE_NO_KUBECONFIG,  /* not written yet: rke2 writes it some time after it starts */
        READY_STATE_BAD_KUBECONFIG, /* there, but unusable (the reason says why) */
        READY_STATE_UNREACHABLE,    /* no TCP connection to the API server */
        READY_STATE_NO_ANSWER,      /* connected, but no answer in time */
        READY_STATE_TLS_SERVER,     /* the server's certificate failed the check against the CA */
        READY_STATE_TLS_CLIENT,     /* the server refused our client certificate in the handshake */
        READY_STATE_TLS_OTHER,      /* any other TLS failure */
        READY_STATE_UNAUTHORIZED,   /* HTTP 401/403: our credentials refused (expired?) */
        READY_STATE_NOT_FOUND,      /* HTTP 404: the Node is not registered (yet) */
        READY_STATE_HTTP_ERROR,     /* any other HTTP status */
        READY_STATE_MALFORMED,      /* 200, but not a Node object we can read */
        READY_STATE_NOT_READY,      /* Ready condition False */
        READY_STATE_UNKNOWN,        /* Ready condition Unknown, or none yet */
        READY_STATE_READY,          /* Ready condition True */
        _READY_STATE_MAX
};

/* "waiting for kubeconfig", "API unreachable", …, "Ready". */
const char *ready_state_name(enum ready_state s);

/* ---- the Node object ---------------------------------------------------- */

enum node_ready { NODE_READY_NONE, NODE_READY_TRUE, NODE_READY_FALSE, NODE_READY_UNKNOWN };

struct node_status {
        enum node_ready ready;
        char reason[128];  /* the Ready condition's reason, escaped, or "" */
        char message[256]; /* its message, escaped, or "" */
};

/* Parses a Node (the body of GET /api/v1/nodes/NAME, at most
 * READY_RESPONSE_MAX bytes): kind Node, metadata.name == want_name (when
 * not NULL), status.conditions[] with type "Ready". 0 (ready is
 * NODE_READY_NONE when there is no Ready condition yet), or -EBADMSG with
 * what was wrong in w. *ret is written only on success. */
int ready_parse_node(const char *json, size_t len, const char *want_name, struct node_status *ret,
                     const struct reason *w);

/* ---- one check, and the wait ------------------------------------------- */

struct ready_params {
        const char *root;       /* prefix of every path read; NULL or "" for / */
        const char *kubeconfig; /* the kubeconfig's path, used as given; NULL: the one rke2's config implies */
        const char *node_name;  /* NULL: rke2's node-name, else the hostname */
        unsigned timeout_s;     /* the whole wait (ember.ready_timeout) */
        unsigned connect_timeout_ms, request_timeout_ms; /* per request; 0: the defaults above */
        unsigned poll_first_ms, poll_max_ms;             /* backoff; 0: the defaults above */
        /* Hand CA, certificate and key to libcurl as 0600 files in a private
         * directory under scratch_dir rather than from memory. Chosen by
         * itself for a TLS library without *_BLOB support; forced here for
         * tests. */
        bool tls_files;
        const char *scratch_dir; /* NULL: READY_SCRATCH_DIR */
        /* Ask for a loopback API server (127.0.0.1, ::1) as "localhost",
         * which rke2's certificate names: mbedTLS 2.28 cannot match an IP
         * address in a certificate, so with it this is chosen by itself;
         * forced here for tests. */
        bool loopback_as_localhost;
};

struct ready_result {
        enum ready_state state;
        char detail[512];
        bool timed_out; /* the request ran out of time (it may have been cut short) */
};

/* One GET with an already loaded kubeconfig: fills *ret (never fails but
 * for out of memory: -ENOMEM). timeout_ms caps this request (0: none
 * beyond the params). */
int ready_check_once(const struct kubeconfig *kc, const char *node, const struct ready_params *p,
                     unsigned timeout_ms, struct ready_result *ret);

/* Polls until Ready or p->timeout_s has passed: 0 with a summary in
 * detail, -ETIMEDOUT with the last state and its reason there, or -EINVAL
 * when rke2's configuration cannot be used (nothing to wait for). */
int ready_wait(const struct ready_params *p, char *detail, size_t len);
