/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP layer over real sockets on loopback: whole bodies reach the
 * handler, oversized ones never do (announced or not), and garbage on the
 * wire gets an error, not a crash. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"

static unsigned calls;

static void echo(void *ud, const struct http_request *rq, struct http_reply *rp)
{
        calls++;
        rp->status = 200;
        if (asprintf(&rp->body, "{\"method\":\"%s\",\"path\":\"%s\",\"len\":%zu}", rq->method, rq->path, rq->body_len) < 0)
                rp->body = NULL;
}

/* Sends raw bytes, returns what came back (malloc'ed). */
static char *exchange(uint16_t port, const char *req, size_t len)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        size_t off = 0;
        while (off < len) {
                ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
                if (n <= 0)
                        break; /* the server may close early on a refused body */
                off += (size_t)n;
        }
        shutdown(fd, SHUT_WR);
        char *buf = calloc(1, 65536);
        size_t got = 0;
        ssize_t n;
        while (got < 65535 && (n = recv(fd, buf + got, 65535 - got, 0)) > 0)
                got += (size_t)n;
        close(fd);
        return buf;
}

static struct http_server *start(uint16_t *port)
{
        struct http_config cfg = { .bind = "127.0.0.1", .max_body = 1000, .threads = 2, .timeout_s = 5 };
        struct http_server *s;
        char why[200];
        assert_int_equal(http_start(&cfg, echo, NULL, &s, why, sizeof(why)), 0);
        *port = http_port(s);
        assert_true(*port > 0);
        return s;
}

static void test_body_reaches_handler(void **state)
{
        uint16_t port;
        struct http_server *s = start(&port);
        static const char req[] = "POST /v1/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
        char *out = exchange(port, req, sizeof(req) - 1);
        assert_non_null(strstr(out, "HTTP/1.1 200"));
        assert_non_null(strstr(out, "{\"method\":\"POST\",\"path\":\"/v1/x\",\"len\":5}"));
        assert_non_null(strstr(out, "Content-Type: application/json"));
        free(out);
        http_stop(s);
}

static void test_oversized(void **state)
{
        uint16_t port;
        struct http_server *s = start(&port);
        unsigned before = calls;
        /* announced */
        static const char big[] = "POST /v1/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\nConnection: close\r\n\r\nabc";
        char *out = exchange(port, big, sizeof(big) - 1);
        assert_non_null(strstr(out, "HTTP/1.1 413"));
        assert_non_null(strstr(out, "larger than 1000 bytes"));
        free(out);
        /* not announced: chunked */
        char req[8192];
        int n = snprintf(req, sizeof(req), "POST /v1/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        for (int i = 0; i < 6; i++) {
                n += snprintf(req + n, sizeof(req) - (size_t)n, "400\r\n");
                memset(req + n, 'x', 0x400);
                n += 0x400;
                n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
        }
        n += snprintf(req + n, sizeof(req) - (size_t)n, "0\r\n\r\n");
        out = exchange(port, req, (size_t)n);
        assert_non_null(strstr(out, "HTTP/1.1 413"));
        free(out);
        assert_int_equal(calls, before); /* the handler never saw them */
        http_stop(s);
}

static void test_garbage(void **state)
{
        uint16_t port;
        struct http_server *s = start(&port);
        static const char junk[] = "\x16\x03\x01\x02\x00GARBAGE\r\n\r\n";
        char *out = exchange(port, junk, sizeof(junk) - 1);
        assert_null(strstr(out, "HTTP/1.1 200"));
        free(out);
        /* and it still serves */
        static const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        out = exchange(port, req, sizeof(req) - 1);
        assert_non_null(strstr(out, "HTTP/1.1 200"));
        free(out);
        http_stop(s);
}

static void test_bad_config(void **state)
{
        struct http_config cfg = { .bind = "localhost", .max_body = 10 };
        struct http_server *s;
        char why[200];
        assert_int_equal(http_start(&cfg, echo, NULL, &s, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "not an IPv4 address"));
        cfg.bind = "127.0.0.1";
        cfg.cert_pem = "x";
        assert_int_equal(http_start(&cfg, echo, NULL, &s, why, sizeof(why)), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_body_reaches_handler),
                cmocka_unit_test(test_oversized),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_bad_config),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
