/* SPDX-License-Identifier: Apache-2.0 */
/* The verifier's request handling, independent of the HTTP library:
 * routes, JSON in and out, rate limits, and the attestation protocol of
 * DESIGN.md (challenge, evidence). */
#pragma once

#include <stddef.h>

#include "http.h"

#define SERVER_MAX_BODY (512 * 1024) /* an event log is tens of KiB; base64 adds a third */
#define SERVER_RATE_PER_SOURCE 20.0  /* default: requests a second, bursts of twice that */

struct server;

int server_open(const char *db_path, struct server **ret, char *why, size_t whylen);
void server_close(struct server *s);
/* Requests a second one source address may make (bursts of twice that);
 * 0 turns the per-source limit off. Nodes behind NAT or a proxy share one
 * address, so an operator sizes this for the largest group of nodes that
 * boots at once behind one address. The per-EK limit stays either way.
 * Call before serving. */
void server_set_rate_per_source(struct server *s, double rate);
/* An http_handler: ud is the struct server. */
void server_handle(void *ud, const struct http_request *rq, struct http_reply *rp);
