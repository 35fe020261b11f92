/* SPDX-License-Identifier: Apache-2.0 */
#include "server.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol.h"
#include "ratelimit.h"
#include "reason.h"
#include "store.h"
#include "util.h"

struct server {
        struct store *store;
        struct ratelimit by_source;
        bool limit_source;
        struct protocol proto;
};

static uint64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int server_open(const char *db_path, struct server **ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        struct server *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        int r = store_open_sqlite(db_path, &s->store);
        if (r < 0) {
                free(s);
                return reason_fail(&w, r, "opening the database %s failed", db_path);
        }
        ratelimit_init(&s->by_source, SERVER_RATE_PER_SOURCE, 2 * SERVER_RATE_PER_SOURCE);
        s->limit_source = true;
        s->proto.store = s->store;
        s->proto.now_ms = mono_ms;
        ratelimit_init(&s->proto.by_ek, PROTOCOL_RATE_PER_EK, 5);
        *ret = s;
        return 0;
}

void server_set_rate_per_source(struct server *s, double rate)
{
        pthread_mutex_lock(&s->by_source.lock);
        s->by_source.rate = rate;
        s->by_source.burst = 2 * rate;
        pthread_mutex_unlock(&s->by_source.lock);
        s->limit_source = rate > 0;
}

void server_close(struct server *s)
{
        if (!s)
                return;
        store_close(s->store);
        free(s);
}

static void reply_json(struct http_reply *rp, unsigned status, json_object *o)
{
        const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        rp->status = status;
        rp->body = t ? strdup(t) : NULL;
        json_object_put(o);
}

static void handle_health(struct server *s, struct http_reply *rp)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "status", json_object_new_string("ok"));
        reply_json(rp, 200, o);
}

void server_handle(void *ud, const struct http_request *rq, struct http_reply *rp)
{
        struct server *s = ud;
        if (s->limit_source && !ratelimit_take(&s->by_source, rq->client, mono_ms()))
                return http_error(rp, 429, "too many requests from %s; slow down", rq->client);
        if (streq(rq->path, "/healthz")) {
                if (!streq(rq->method, "GET"))
                        return http_error(rp, 405, "/healthz takes GET");
                return handle_health(s, rp);
        }
        if (protocol_handle(&s->proto, rq, rp))
                return;
        http_error(rp, 404, "no such endpoint: %s", rq->path);
}
