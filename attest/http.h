/* SPDX-License-Identifier: Apache-2.0 */
/* The verifier's HTTPS front: libmicrohttpd (TLS by GnuTLS) with a thread
 * pool, bodies collected up to a hard limit, and one handler that sees a
 * whole request and fills a whole reply. No request can make it allocate
 * more than max_body per connection. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_config {
        const char *bind;      /* IPv4 address, e.g. "127.0.0.1"; NULL: any */
        uint16_t port;         /* 0: the kernel picks (see http_port) */
        const char *cert_pem;  /* NULL for both: plain HTTP (tests of the HTTP layer only) */
        const char *key_pem;
        size_t max_body;       /* larger bodies get 413 */
        unsigned threads;
        unsigned timeout_s;    /* idle connections are closed */
};

struct http_request {
        const char *method, *path;
        char client[48];       /* the peer's address, for rate limits and logs */
        const uint8_t *body;
        size_t body_len;
};

struct http_reply {
        unsigned status;
        char *body;            /* malloc'ed JSON, freed by the server; NULL: empty */
        /* Or a file's bytes instead of body (status 200 only): an open
         * descriptor the server sends file_size bytes of and closes.
         * 0 is never one: set file_fd > 0 to use it. */
        int file_fd;
        uint64_t file_size;
};

typedef void (*http_handler)(void *ud, const struct http_request *rq, struct http_reply *rp);

struct http_server;

int http_start(const struct http_config *cfg, http_handler h, void *ud, struct http_server **ret, char *why,
               size_t whylen);
uint16_t http_port(const struct http_server *s);
void http_stop(struct http_server *s);

/* {"error": msg} with status, for handlers. */
void http_error(struct http_reply *rp, unsigned status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
