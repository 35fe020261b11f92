/* SPDX-License-Identifier: Apache-2.0 */
#include "http.h"


#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reason.h"
#include "util.h"

struct http_server {
        struct MHD_Daemon *d;
        http_handler handler;
        void *ud;
        size_t max_body;
};

/* Per connection: the body so far, or the verdict that it is too big. */
struct pending {
        uint8_t *buf;
        size_t len;
        bool too_big;
};

void http_error(struct http_reply *rp, unsigned status, const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "error", json_object_new_string(msg));
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        free(rp->body);
        rp->body = s ? strdup(s) : NULL;
        rp->status = status;
        json_object_put(o);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct http_reply *rp)
{
        if (rp->file_fd > 0) {
                /* MHD owns the descriptor from here, and closes it */
                struct MHD_Response *r = MHD_create_response_from_fd64(rp->file_size, rp->file_fd);
                free(rp->body);
                rp->body = NULL;
                if (!r) {
                        close(rp->file_fd);
                        return MHD_NO;
                }
                MHD_add_response_header(r, "Content-Type", "application/octet-stream");
                MHD_add_response_header(r, "Cache-Control", "no-store");
                enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
                MHD_destroy_response(r);
                return ret;
        }
        const char *body = rp->body ? rp->body : "";
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        free(rp->body);
        rp->body = NULL;
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, "Cache-Control", "no-store");
        enum MHD_Result ret = MHD_queue_response(c, rp->status ? rp->status : 500, r);
        MHD_destroy_response(r);
        return ret;
}

static void client_addr(struct MHD_Connection *c, char *out, size_t len)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        snprintf(out, len, "?");
        if (!ci || !ci->client_addr)
                return;
        if (ci->client_addr->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, out, (socklen_t)len);
        else if (ci->client_addr->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, out, (socklen_t)len);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
        struct http_server *s = cls;
        struct pending *p = *con_cls;
        struct http_reply rp = { 0 };

        if (!p) {
                /* first call: headers only. Refuse an announced oversize body at once. */
                const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                p = calloc(1, sizeof(*p));
                if (!p)
                        return MHD_NO;
                *con_cls = p;
                if (cl && strtoull(cl, NULL, 10) > s->max_body) {
                        /* answered before the body is read; MHD then closes */
                        p->too_big = true;
                        http_error(&rp, 413, "request body larger than %zu bytes", s->max_body);
                        return send_reply(c, &rp);
                }
                return MHD_YES;
        }
        if (*upload_size) {
                if (!p->too_big && *upload_size <= s->max_body - p->len) {
                        uint8_t *nb = realloc(p->buf, p->len + *upload_size);
                        if (!nb)
                                return MHD_NO;
                        memcpy(nb + p->len, upload, *upload_size);
                        p->buf = nb;
                        p->len += *upload_size;
                } else {
                        p->too_big = true; /* keep reading, keep nothing */
                }
                *upload_size = 0;
                return MHD_YES;
        }
        if (p->too_big) {
                http_error(&rp, 413, "request body larger than %zu bytes", s->max_body);
                return send_reply(c, &rp);
        }
        struct http_request rq = { .method = method, .path = url, .body = p->buf, .body_len = p->len };
        client_addr(c, rq.client, sizeof(rq.client));
        s->handler(s->ud, &rq, &rp);
        return send_reply(c, &rp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
        struct pending *p = *con_cls;
        if (p) {
                free(p->buf);
                free(p);
        }
        *con_cls = NULL;
}

int http_start(const struct http_config *cfg, http_handler h, void *ud, struct http_server **ret, char *why,
               size_t whylen)
{
        const struct reason w = { why, whylen };
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(cfg->port) };
        if (cfg->bind && inet_pton(AF_INET, cfg->bind, &sin.sin_addr) != 1)
                return reason_fail(&w, -EINVAL, "listen address %s is not an IPv4 address", cfg->bind);
        if (!cfg->cert_pem != !cfg->key_pem)
                return reason_fail(&w, -EINVAL, "a certificate needs its key and the key its certificate");
        struct http_server *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->handler = h;
        s->ud = ud;
        s->max_body = cfg->max_body;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_POLL;
        if (cfg->cert_pem)
                flags |= MHD_USE_TLS;
        s->d = MHD_start_daemon(
                flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_THREAD_POOL_SIZE,
                (unsigned)(cfg->threads ? cfg->threads : 4), MHD_OPTION_CONNECTION_TIMEOUT,
                (unsigned)(cfg->timeout_s ? cfg->timeout_s : 30), MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                cfg->cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cfg->cert_pem,
                MHD_OPTION_HTTPS_MEM_KEY, cfg->key_pem, MHD_OPTION_END);
        if (!s->d) {
                free(s);
                return reason_fail(&w, -EADDRINUSE, "starting the HTTP%s server on %s:%u failed (address in use, or a bad certificate or key)",
                                   cfg->cert_pem ? "S" : "", cfg->bind ? cfg->bind : "0.0.0.0", cfg->port);
        }
        *ret = s;
        return 0;
}

uint16_t http_port(const struct http_server *s)
{
        const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
        return i ? i->port : 0;
}

void http_stop(struct http_server *s)
{
        if (!s)
                return;
        MHD_stop_daemon(s->d);
        free(s);
}
