/* SPDX-License-Identifier: Apache-2.0 */
/* The ready stage: GET /api/v1/nodes/NAME until the Node's Ready condition
 * is True. One poll is: load the kubeconfig (it may not exist yet, or have
 * changed), one HTTPS request, turn what happened into a state; the wait
 * logs each change of state once and backs off between polls. */
#include "ready.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "fileio.h"
#include "log.h"
#include "rke2conf.h"
#include "util.h"

#define STAGE "ready"
#define NODE_JSON_DEPTH 32
#define CONDITIONS_MAX 64

static const char *const state_names[_READY_STATE_MAX] = {
        [READY_STATE_NONE] = "starting",
        [READY_STATE_NO_KUBECONFIG] = "waiting for kubeconfig",
        [READY_STATE_BAD_KUBECONFIG] = "kubeconfig unusable",
        [READY_STATE_UNREACHABLE] = "API unreachable",
        [READY_STATE_NO_ANSWER] = "API not answering",
        [READY_STATE_TLS_SERVER] = "TLS: API server not trusted",
        [READY_STATE_TLS_CLIENT] = "TLS: client certificate refused",
        [READY_STATE_TLS_OTHER] = "TLS failure",
        [READY_STATE_UNAUTHORIZED] = "credentials refused",
        [READY_STATE_NOT_FOUND] = "node not found",
        [READY_STATE_HTTP_ERROR] = "HTTP error",
        [READY_STATE_MALFORMED] = "malformed Node JSON",
        [READY_STATE_NOT_READY] = "NotReady",
        [READY_STATE_UNKNOWN] = "Ready unknown",
        [READY_STATE_READY] = "Ready",
};

const char *ready_state_name(enum ready_state s)
{
        return s >= 0 && s < _READY_STATE_MAX ? state_names[s] : "?";
}

/* ---- the Node object ---------------------------------------------------- */

static json_object *obj_get(json_object *o, const char *key)
{
        json_object *v = NULL;
        return o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* An optional string member: NULL when absent; -EBADMSG when not a string. */
static int str_member(json_object *o, const char *key, const char *where, const char **ret, const struct reason *w)
{
        json_object *v = obj_get(o, key);
        *ret = NULL;
        if (!v)
                return 0;
        if (!json_object_is_type(v, json_type_string))
                return reason_fail(w, -EBADMSG, "%s.%s is not a string", where, key);
        *ret = json_object_get_string(v);
        return 0;
}

static json_object *parse_json(const char *s, size_t len, const struct reason *w, int *err)
{
        if (len > READY_RESPONSE_MAX || len > INT_MAX) {
                *err = reason_fail(w, -EBADMSG, "larger than %u bytes", READY_RESPONSE_MAX);
                return NULL;
        }
        struct json_tokener *tok = json_tokener_new_ex(NODE_JSON_DEPTH);
        if (!tok) {
                *err = -ENOMEM;
                return NULL;
        }
        json_object *o = json_tokener_parse_ex(tok, s, (int)len);
        enum json_tokener_error e = json_tokener_get_error(tok);
        size_t end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        while (o && end < len && (s[end] == ' ' || s[end] == '\n' || s[end] == '\r' || s[end] == '\t'))
                end++;
        if (!o || e != json_tokener_success || end != len) {
                json_object_put(o);
                *err = reason_fail(w, -EBADMSG, "not one JSON object: %s at byte %zu",
                                   !o && e == json_tokener_continue ? "truncated"
                                   : o                              ? "trailing data"
                                                                    : json_tokener_error_desc(e),
                                   end);
                return NULL;
        }
        return o;
}

/* status.conditions[]: the one of type Ready. */
static int find_ready(json_object *conds, struct node_status *st, const struct reason *w)
{
        size_t n = json_object_array_length(conds);
        bool seen = false;
        if (n > CONDITIONS_MAX)
                return reason_fail(w, -EBADMSG, "status.conditions has %zu entries (more than %u)", n, CONDITIONS_MAX);
        for (size_t i = 0; i < n; i++) {
                json_object *c = json_object_array_get_idx(conds, i);
                const char *type, *status, *reason, *message;
                char where[48];
                snprintf(where, sizeof(where), "status.conditions[%zu]", i);
                if (!c || !json_object_is_type(c, json_type_object))
                        return reason_fail(w, -EBADMSG, "%s is not an object", where);
                int k = str_member(c, "type", where, &type, w);
                if (k < 0)
                        return k;
                if (!type)
                        return reason_fail(w, -EBADMSG, "%s has no type", where);
                if (!streq(type, "Ready"))
                        continue;
                if (seen)
                        return reason_fail(w, -EBADMSG, "two Ready conditions");
                seen = true;
                if ((k = str_member(c, "status", where, &status, w)) < 0 ||
                    (k = str_member(c, "reason", where, &reason, w)) < 0 ||
                    (k = str_member(c, "message", where, &message, w)) < 0)
                        return k;
                if (status && streq(status, "True"))
                        st->ready = NODE_READY_TRUE;
                else if (status && streq(status, "False"))
                        st->ready = NODE_READY_FALSE;
                else if (status && streq(status, "Unknown"))
                        st->ready = NODE_READY_UNKNOWN;
                else {
                        char e[64];
                        return reason_fail(w, -EBADMSG, "%s (Ready) has status %s%s%s, not True, False or Unknown",
                                           where, status ? "\"" : "", status ? log_escape(status, e, sizeof(e)) : "none",
                                           status ? "\"" : "");
                }
                log_escape(reason ? reason : "", st->reason, sizeof(st->reason));
                log_escape(message ? message : "", st->message, sizeof(st->message));
        }
        return 0;
}

static int check_node(json_object *o, const char *want_name, struct node_status *st, const struct reason *w)
{
        const char *kind, *name;
        char e1[80], e2[80];
        if (!json_object_is_type(o, json_type_object))
                return reason_fail(w, -EBADMSG, "the top level is not an object");
        int k = str_member(o, "kind", "the object", &kind, w);
        if (k < 0)
                return k;
        if (!kind || !streq(kind, "Node"))
                return reason_fail(w, -EBADMSG, "kind is %s%s%s, not Node", kind ? "\"" : "",
                                   kind ? log_escape(kind, e1, sizeof(e1)) : "missing", kind ? "\"" : "");
        json_object *meta = obj_get(o, "metadata");
        if (!meta || !json_object_is_type(meta, json_type_object))
                return reason_fail(w, -EBADMSG, "metadata is missing or not an object");
        if ((k = str_member(meta, "name", "metadata", &name, w)) < 0)
                return k;
        if (!name)
                return reason_fail(w, -EBADMSG, "metadata.name is missing");
        if (want_name && !streq(name, want_name))
                return reason_fail(w, -EBADMSG, "metadata.name is \"%s\", not \"%s\"", log_escape(name, e1, sizeof(e1)),
                                   log_escape(want_name, e2, sizeof(e2)));
        json_object *status = obj_get(o, "status");
        if (!status)
                return 0; /* just registered: no status yet */
        if (!json_object_is_type(status, json_type_object))
                return reason_fail(w, -EBADMSG, "status is not an object");
        json_object *conds = obj_get(status, "conditions");
        if (!conds || json_object_is_type(conds, json_type_null))
                return 0;
        if (!json_object_is_type(conds, json_type_array))
                return reason_fail(w, -EBADMSG, "status.conditions is not an array");
        return find_ready(conds, st, w);
}

int ready_parse_node(const char *json, size_t len, const char *want_name, struct node_status *ret,
                     const struct reason *w)
{
        struct node_status st = { .ready = NODE_READY_NONE };
        int k = 0;
        if (!json)
                return reason_fail(w, -EBADMSG, "empty body");
        json_object *o = parse_json(json, len, w, &k);
        if (!o)
                return k;
        k = check_node(o, want_name, &st, w);
        json_object_put(o);
        if (k < 0)
                return k;
        *ret = st;
        return 0;
}

/* ---- one request -------------------------------------------------------- */

struct body {
        char *p;
        size_t len;
        bool too_big;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
        struct body *b = ud;
        size_t n = size * nmemb;
        if (n > READY_RESPONSE_MAX - b->len) {
                b->too_big = true;
                return 0;
        }
        char *np = realloc(b->p, b->len + n + 1);
        if (!np)
                return 0;
        memcpy(np + b->len, data, n);
        b->p = np;
        b->len += n;
        np[b->len] = '\0';
        return n;
}

/* CA, certificate and key as 0600 files in a fresh 0700 directory, for a
 * TLS library that cannot take them from memory. */
struct tls_files {
        char dir[PATH_MAX];
        char ca[PATH_MAX + 16], cert[PATH_MAX + 16], key[PATH_MAX + 16];
};

static int write_secret(const char *path, const char *data, size_t len)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();
        return write_full(fd, data, len);
}

static void tls_files_remove(struct tls_files *f)
{
        if (!f->dir[0])
                return;
        (void)unlink(f->ca);
        (void)unlink(f->cert);
        (void)unlink(f->key);
        (void)rmdir(f->dir);
        f->dir[0] = '\0';
}

static int tls_files_write(const struct kubeconfig *kc, const char *scratch, struct tls_files *f)
{
        *f = (struct tls_files){ 0 };
        (void)mkdir(scratch, 0755);
        if ((size_t)snprintf(f->dir, sizeof(f->dir), "%s/ready-tls.XXXXXX", scratch) >= sizeof(f->dir))
                return -ENAMETOOLONG;
        if (!mkdtemp(f->dir)) {
                int k = negative_errno();
                f->dir[0] = '\0';
                return k;
        }
        snprintf(f->ca, sizeof(f->ca), "%s/ca.pem", f->dir);
        snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", f->dir);
        snprintf(f->key, sizeof(f->key), "%s/key.pem", f->dir);
        int k = write_secret(f->ca, kc->ca.data, kc->ca.len);
        if (k == 0 && kc->cert.data)
                k = write_secret(f->cert, kc->cert.data, kc->cert.len);
        if (k == 0 && kc->key.data)
                k = write_secret(f->key, kc->key.data, kc->key.len);
        if (k < 0)
                tls_files_remove(f);
        return k;
}

static bool tls_backend_is(const char *name)
{
        const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
        return v && v->ssl_version && startswith(v->ssl_version, name);
}

/* libcurl 7.88 takes CA, certificate and key from memory with OpenSSL and
 * mbedTLS (lib/vtls/mbedtls.c: ca_info_blob, cert_blob, key_blob); other
 * TLS libraries get files. */
static bool tls_blobs_supported(void) { return tls_backend_is("OpenSSL") || tls_backend_is("mbedTLS"); }

/* Host and port of https://HOST[:PORT][/…]: IP-literal hosts that are
 * loopback, for the localhost rewrite. */
static bool server_loopback(const char *server, char *port, size_t portlen, size_t *host_end)
{
        const char *h = server + strlen("https://");
        size_t n;
        char host[64];
        if (*h == '[') {
                const char *e = strchr(h, ']');
                if (!e)
                        return false;
                n = (size_t)(e - h) + 1;
        } else {
                n = strcspn(h, ":/");
        }
        if (n == 0 || n >= sizeof(host))
                return false;
        memcpy(host, h, n);
        host[n] = '\0';
        const char *rest = h + n;
        snprintf(port, portlen, "%.*s", *rest == ':' ? (int)strcspn(rest + 1, "/") : 3,
                 *rest == ':' ? rest + 1 : "443");
        *host_end = (size_t)(rest - server);
        return streq(host, "127.0.0.1") || streq(host, "[::1]");
}

struct req {
        CURL *curl;
        struct curl_slist *headers, *resolve;
        struct body body;
        char err[CURL_ERROR_SIZE];
        char url[1024];
        char auth[64]; /* never the token itself: that lives in headers only */
        struct tls_files files;
};

static void req_free(struct req *r)
{
        if (r->curl)
                curl_easy_cleanup(r->curl);
        for (struct curl_slist *h = r->headers; h; h = h->next) /* the bearer token */
                explicit_bzero(h->data, strlen(h->data));
        curl_slist_free_all(r->headers);
        curl_slist_free_all(r->resolve);
        free(r->body.p);
        tls_files_remove(&r->files);
}

#define SETOPT(c, opt, val)                                                          \
        do {                                                                         \
                CURLcode _c = curl_easy_setopt((c), opt, val);                       \
                if (_c != CURLE_OK)                                                  \
                        return _c == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EOPNOTSUPP;    \
        } while (0)

static int set_tls(struct req *r, const struct kubeconfig *kc, const struct ready_params *p)
{
        CURL *c = r->curl;
        if (p->tls_files || !tls_blobs_supported()) {
                int k = tls_files_write(kc, p->scratch_dir ? p->scratch_dir : READY_SCRATCH_DIR, &r->files);
                if (k < 0)
                        return k;
                SETOPT(c, CURLOPT_CAINFO, r->files.ca);
                if (kc->cert.data) {
                        SETOPT(c, CURLOPT_SSLCERT, r->files.cert);
                        SETOPT(c, CURLOPT_SSLKEY, r->files.key);
                }
                return 0;
        }
        /* curl copies blobs (CURL_BLOB_COPY). mbedTLS parses a PEM key only
         * with its terminating NUL counted; curl 7.88 passes key_blob's
         * length to it unchanged (it adds the NUL itself to the others). */
        size_t keylen = kc->key.len + (tls_backend_is("mbedTLS") ? 1 : 0);
        struct curl_blob ca = { kc->ca.data, kc->ca.len, CURL_BLOB_COPY };
        struct curl_blob cert = { kc->cert.data, kc->cert.len, CURL_BLOB_COPY };
        struct curl_blob key = { kc->key.data, keylen, CURL_BLOB_COPY };
        SETOPT(c, CURLOPT_CAINFO, NULL);
        SETOPT(c, CURLOPT_CAINFO_BLOB, &ca);
        if (kc->cert.data) {
                SETOPT(c, CURLOPT_SSLCERT_BLOB, &cert);
                SETOPT(c, CURLOPT_SSLKEY_BLOB, &key);
                SETOPT(c, CURLOPT_SSLKEYTYPE, "PEM");
        }
        return 0;
}

static int req_setup(struct req *r, const struct kubeconfig *kc, const char *node, const struct ready_params *p,
                     unsigned timeout_ms)
{
        char port[16];
        size_t host_end = 0;
        bool as_localhost = (p->loopback_as_localhost || tls_backend_is("mbedTLS")) &&
                            server_loopback(kc->server, port, sizeof(port), &host_end);
        if (as_localhost) {
                char res[64];
                bool v6 = strstr(kc->server, "[::1]") != NULL;
                snprintf(res, sizeof(res), "localhost:%s:%s", port, v6 ? "::1" : "127.0.0.1");
                r->resolve = curl_slist_append(NULL, res);
                if (!r->resolve)
                        return -ENOMEM;
                snprintf(r->url, sizeof(r->url), "https://localhost%s/api/v1/nodes/%s", kc->server + host_end, node);
        } else {
                snprintf(r->url, sizeof(r->url), "%s/api/v1/nodes/%s", kc->server, node);
        }
        r->curl = curl_easy_init();
        r->headers = curl_slist_append(NULL, "Accept: application/json");
        if (!r->curl || !r->headers)
                return -ENOMEM;
        if (kc->token) {
                size_t n = strlen("Authorization: Bearer ") + strlen(kc->token) + 1;
                _cleanup_free_ char *h = malloc(n);
                if (!h)
                        return -ENOMEM;
                snprintf(h, n, "Authorization: Bearer %s", kc->token);
                struct curl_slist *l = curl_slist_append(r->headers, h);
                explicit_bzero(h, n);
                if (!l)
                        return -ENOMEM;
                r->headers = l;
        }
        CURL *c = r->curl;
        unsigned req_ms = p->request_timeout_ms ? p->request_timeout_ms : READY_REQUEST_TIMEOUT_MS;
        if (timeout_ms && timeout_ms < req_ms)
                req_ms = timeout_ms;
        SETOPT(c, CURLOPT_URL, r->url);
        SETOPT(c, CURLOPT_ERRORBUFFER, r->err);
        SETOPT(c, CURLOPT_NOSIGNAL, 1L);
        SETOPT(c, CURLOPT_PROTOCOLS_STR, "https");
        SETOPT(c, CURLOPT_PROXY, ""); /* the API server is local or in the cluster: never an environment proxy */
        SETOPT(c, CURLOPT_FOLLOWLOCATION, 0L);
        SETOPT(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        SETOPT(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(p->connect_timeout_ms ? p->connect_timeout_ms
                                                                           : READY_CONNECT_TIMEOUT_MS));
        SETOPT(c, CURLOPT_TIMEOUT_MS, (long)req_ms);
        SETOPT(c, CURLOPT_USERAGENT, "ember-init/" EMBER_VERSION " (ready)");
        SETOPT(c, CURLOPT_HTTPHEADER, r->headers);
        SETOPT(c, CURLOPT_WRITEFUNCTION, on_body);
        SETOPT(c, CURLOPT_WRITEDATA, &r->body);
        SETOPT(c, CURLOPT_CAPATH, NULL);
        SETOPT(c, CURLOPT_SSL_VERIFYPEER, 1L);
        SETOPT(c, CURLOPT_SSL_VERIFYHOST, 2L);
        if (r->resolve)
                SETOPT(c, CURLOPT_RESOLVE, r->resolve);
        return set_tls(r, kc, p);
}

static void format_time(time_t t, char *buf, size_t len)
{
        struct tm tm;
        if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(buf, len, "%lld", (long long)t);
}

/* ", and our client certificate expired at …" when it has. */
static void expiry_note(const struct kubeconfig *kc, char *buf, size_t len)
{
        char when[32];
        buf[0] = '\0';
        if (kc->cert_not_after && kc->cert_not_after < time(NULL)) {
                format_time(kc->cert_not_after, when, sizeof(when));
                snprintf(buf, len, "; our client certificate expired at %s", when);
        }
}

static void result(struct ready_result *ret, enum ready_state s, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void result(struct ready_result *ret, enum ready_state s, const char *fmt, ...)
{
        va_list ap;
        ret->state = s;
        va_start(ap, fmt);
        vsnprintf(ret->detail, sizeof(ret->detail), fmt, ap);
        va_end(ap);
}

/* What a failed transfer means. Messages avoid curl's timings, so that a
 * repeat reads the same and is not logged again. */
static void transfer_failed(struct req *r, CURLcode c, const struct kubeconfig *kc, struct ready_result *ret)
{
        char note[96], e[CURL_ERROR_SIZE + 8];
        curl_off_t connected = 0, handshaken = 0;
        long os_errno = 0, local_port = 0;
        /* curl 7.88 records the connect time only once TLS is up too; the
         * local port is recorded as soon as the TCP connection is made */
        curl_easy_getinfo(r->curl, CURLINFO_CONNECT_TIME_T, &connected);
        curl_easy_getinfo(r->curl, CURLINFO_LOCAL_PORT, &local_port);
        curl_easy_getinfo(r->curl, CURLINFO_APPCONNECT_TIME_T, &handshaken);
        curl_easy_getinfo(r->curl, CURLINFO_OS_ERRNO, &os_errno);
        log_escape(r->err[0] ? r->err : curl_easy_strerror(c), e, sizeof(e));
        expiry_note(kc, note, sizeof(note));
        switch (c) {
        case CURLE_COULDNT_RESOLVE_HOST:
                return result(ret, READY_STATE_UNREACHABLE, "%s: cannot resolve the host name", kc->server);
        case CURLE_COULDNT_CONNECT:
                return result(ret, READY_STATE_UNREACHABLE, "cannot connect to %s: %s", kc->server,
                              os_errno ? strerror((int)os_errno) : "connection failed");
        case CURLE_OPERATION_TIMEDOUT:
                ret->timed_out = true;
                if (!connected && !local_port)
                        return result(ret, READY_STATE_UNREACHABLE, "cannot connect to %s: timed out", kc->server);
                return result(ret, READY_STATE_NO_ANSWER, "%s accepted the connection but did not answer in time (%s)",
                              kc->server, handshaken ? "TLS handshake done, no HTTP answer" : "no TLS handshake");
        case CURLE_PEER_FAILED_VERIFICATION:
                return result(ret, READY_STATE_TLS_SERVER, "the API server's certificate failed the check against "
                              "the kubeconfig's CA (%s): %s", kc->ca.path ? kc->ca.path : "certificate-authority-data", e);
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
                return result(ret, READY_STATE_BAD_KUBECONFIG, "the TLS library refused the kubeconfig's "
                              "certificates: %s", e);
        case CURLE_WRITE_ERROR:
                if (r->body.too_big)
                        return result(ret, READY_STATE_MALFORMED, "the answer is larger than %u bytes",
                                      READY_RESPONSE_MAX);
                break;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
                /* an alert during the handshake, with a certificate sent: the
                 * server did not take it (bad, unknown CA, expired, …) */
                if (kc->cert.data && !handshaken && (strstr(r->err, "alert") || strstr(r->err, "ALERT")))
                        return result(ret, READY_STATE_TLS_CLIENT, "the API server refused our client certificate "
                                      "in the TLS handshake: %s%s", e, note);
                if (!handshaken)
                        return result(ret, READY_STATE_TLS_OTHER, "TLS handshake with %s failed: %s", kc->server, e);
                break;
        default:
                break;
        }
        result(ret, READY_STATE_UNREACHABLE, "GET %s failed: %s (curl error %d)", r->url, e, (int)c);
}

/* The server's own words from a Status object ({"kind":"Status","message":…}). */
static void status_message(const struct body *b, char *buf, size_t len)
{
        buf[0] = '\0';
        int k = 0;
        json_object *o = b->p ? parse_json(b->p, b->len, NULL, &k) : NULL;
        json_object *m = obj_get(o, "message");
        if (m && json_object_is_type(m, json_type_string)) {
                char esc[200];
                snprintf(buf, len, ": %s", log_escape(json_object_get_string(m), esc, sizeof(esc)));
        }
        json_object_put(o);
}

static void http_answer(struct req *r, long status, const struct kubeconfig *kc, const char *node,
                        struct ready_result *ret)
{
        char msg[220], note[96], why[200] = "";
        struct node_status st;
        if (status == 200) {
                if (ready_parse_node(r->body.p, r->body.len, node, &st, &(struct reason){ why, sizeof(why) }) < 0)
                        return result(ret, READY_STATE_MALFORMED, "GET /api/v1/nodes/%s: %s", node, why);
                if (st.ready == NODE_READY_TRUE)
                        return result(ret, READY_STATE_READY, "node \"%s\" is Ready%s%s%s", node,
                                      st.reason[0] ? " (" : "", st.reason, st.reason[0] ? ")" : "");
                if (st.ready == NODE_READY_FALSE)
                        return result(ret, READY_STATE_NOT_READY, "node \"%s\" is NotReady: %s%s%s", node,
                                      st.reason[0] ? st.reason : "no reason given", st.message[0] ? ": " : "",
                                      st.message);
                if (st.ready == NODE_READY_UNKNOWN)
                        return result(ret, READY_STATE_UNKNOWN, "node \"%s\": Ready is Unknown: %s%s%s", node,
                                      st.reason[0] ? st.reason : "no reason given", st.message[0] ? ": " : "",
                                      st.message);
                return result(ret, READY_STATE_UNKNOWN, "node \"%s\" is registered but has no Ready condition yet",
                              node);
        }
        status_message(&r->body, msg, sizeof(msg));
        if (status == 401 || status == 403) {
                expiry_note(kc, note, sizeof(note));
                return result(ret, READY_STATE_UNAUTHORIZED, "the API server refused our %s (HTTP %ld%s)%s",
                              kc->cert.data ? "client certificate" : "token", status, msg, note);
        }
        if (status == 404)
                return result(ret, READY_STATE_NOT_FOUND, "node \"%s\" not found: not registered (yet) (HTTP 404)",
                              node);
        result(ret, READY_STATE_HTTP_ERROR, "GET /api/v1/nodes/%s: HTTP %ld%s", node, status, msg);
}

int ready_check_once(const struct kubeconfig *kc, const char *node, const struct ready_params *p,
                     unsigned timeout_ms, struct ready_result *ret)
{
        struct req r = { 0 };
        *ret = (struct ready_result){ .state = READY_STATE_NONE };
        int k = req_setup(&r, kc, node, p, timeout_ms);
        if (k < 0) {
                req_free(&r);
                if (k == -ENOMEM)
                        return k;
                result(ret, READY_STATE_BAD_KUBECONFIG, "preparing the request failed: %s", strerror(-k));
                return 0;
        }
        CURLcode c = curl_easy_perform(r.curl);
        if (c != CURLE_OK) {
                transfer_failed(&r, c, kc, ret);
        } else {
                long status = 0;
                curl_easy_getinfo(r.curl, CURLINFO_RESPONSE_CODE, &status);
                http_answer(&r, status, kc, node, ret);
        }
        req_free(&r);
        return 0;
}

/* ---- the wait ----------------------------------------------------------- */

struct waiter {
        const struct ready_params *p;
        char kubeconfig[PATH_MAX];
        char node[256];
        char kc_summary[600]; /* what was last said about the kubeconfig */
        struct ready_result last;
        bool said_files, said_localhost;
};

static void say_state(struct waiter *wt, const struct ready_result *now)
{
        if (now->state == wt->last.state && streq(now->detail, wt->last.detail))
                return;
        if (now->state == READY_STATE_READY || now->state == READY_STATE_NOT_READY ||
            now->state == READY_STATE_UNKNOWN || now->state == READY_STATE_NO_KUBECONFIG)
                log_info(STAGE, "%s: %s", ready_state_name(now->state), now->detail);
        else
                log_warn(STAGE, "%s: %s", ready_state_name(now->state), now->detail);
        wt->last = *now;
}

/* Console notes for choices made on the operator's behalf, once each. */
static void say_choices(struct waiter *wt, const struct kubeconfig *kc)
{
        char port[16];
        size_t he;
        const struct ready_params *p = wt->p;
        if (!wt->said_files && (p->tls_files || !tls_blobs_supported())) {
                const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
                log_info(STAGE, "passing the kubeconfig's CA, certificate and key to libcurl (%s) as 0600 files in a "
                         "private directory under %s, removed after each request%s", v->ssl_version ? v->ssl_version
                         : "no TLS", p->scratch_dir ? p->scratch_dir : READY_SCRATCH_DIR,
                         p->tls_files ? " (asked for)" : ": it cannot take them from memory");
                wt->said_files = true;
        }
        if (!wt->said_localhost && (p->loopback_as_localhost || tls_backend_is("mbedTLS")) &&
            server_loopback(kc->server, port, sizeof(port), &he)) {
                log_info(STAGE, "asking for the API server %s as https://localhost:%s (the name its certificate "
                         "carries)%s", kc->server, port, p->loopback_as_localhost ? "" : ": mbedTLS cannot match an IP "
                         "address in a certificate");
                wt->said_localhost = true;
        }
}

static void say_kubeconfig(struct waiter *wt, const struct kubeconfig *kc)
{
        char s[sizeof(wt->kc_summary)];
        if (snprintf(s, sizeof(s), "kubeconfig %s: server %s, CA %s, user \"%s\" by %s%s%s", wt->kubeconfig,
                     kc->server, kc->ca.path ? kc->ca.path : "inline", kc->user,
                     kc->cert.data ? "client certificate " : "token",
                     kc->cert.data ? (kc->cert.path ? kc->cert.path : "inline") : "",
                     kc->cert.data && kc->token ? " and token" : "") < 0)
                return;
        if (!streq(s, wt->kc_summary)) {
                log_info(STAGE, "%s", s);
                snprintf(wt->kc_summary, sizeof(wt->kc_summary), "%s", s);
        }
}

static int poll_once(struct waiter *wt, unsigned remaining_ms, struct ready_result *now)
{
        struct kubeconfig kc = { 0 };
        char why[400] = "";
        int k = kubeconfig_load(wt->kubeconfig, &kc, &(struct reason){ why, sizeof(why) });
        if (k == -ENOENT) {
                result(now, READY_STATE_NO_KUBECONFIG, "%s does not exist yet (rke2 writes it once it runs)",
                       wt->kubeconfig);
                return 0;
        }
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                result(now, READY_STATE_BAD_KUBECONFIG, "%s", why);
                return 0;
        }
        say_kubeconfig(wt, &kc);
        say_choices(wt, &kc);
        k = ready_check_once(&kc, wt->node, wt->p, remaining_ms, now);
        kubeconfig_free(&kc);
        return k;
}

static int resolve_targets(struct waiter *wt, char *detail, size_t len)
{
        const struct ready_params *p = wt->p;
        const char *root = p->root ? p->root : "";
        struct rke2_conf conf = { 0 };
        char why[400] = "";
        bool need_conf = !p->kubeconfig || !p->node_name;
        if (need_conf) {
                int k = rke2conf_load(root, &conf, &(struct reason){ why, sizeof(why) });
                if (k < 0) {
                        snprintf(detail, len, "rke2 config: %s", why);
                        return k == -ENOMEM ? k : -EINVAL;
                }
                log_info(STAGE, "rke2 %s (%s)", rke2_role_to_string(conf.role), conf.rule);
        }
        snprintf(wt->node, sizeof(wt->node), "%s", p->node_name ? p->node_name : conf.node_name);
        if (p->kubeconfig)
                snprintf(wt->kubeconfig, sizeof(wt->kubeconfig), "%s", p->kubeconfig);
        else
                snprintf(wt->kubeconfig, sizeof(wt->kubeconfig), "%s%s", root, conf.kubeconfig);
        if (need_conf && !p->node_name)
                log_info(STAGE, "node name %s (from %s)", wt->node, conf.node_name_from_hostname ? "the hostname"
                                                                                           : "node-name");
        rke2conf_free(&conf);
        if (!rke2_node_name_valid(wt->node)) {
                char e[80];
                snprintf(detail, len, "node name \"%s\" is not a valid Kubernetes node name",
                         log_escape(wt->node, e, sizeof(e)));
                return -EINVAL;
        }
        return 0;
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* The next pause: the delay, jittered by ±25 %, never past the deadline. */
static unsigned next_pause(unsigned delay, unsigned long long now, unsigned long long deadline)
{
        uint32_t jitter = 0;
        (void)getrandom_full(&jitter, sizeof(jitter));
        unsigned wait = delay - delay / 4 + jitter % (delay / 2 + 1);
        if (now + wait > deadline)
                wait = (unsigned)(deadline - now);
        return wait;
}

int ready_wait(const struct ready_params *p, char *detail, size_t len)
{
        struct waiter wt = { .p = p };
        unsigned first = p->poll_first_ms ? p->poll_first_ms : READY_POLL_FIRST_MS;
        unsigned max = p->poll_max_ms ? p->poll_max_ms : READY_POLL_MAX_MS;
        unsigned long long start = now_ms(), deadline = start + (unsigned long long)p->timeout_s * 1000;
        int k = resolve_targets(&wt, detail, len);
        if (k < 0)
                return k;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return snprintf(detail, len, "curl_global_init failed"), -ENOMEM;
        log_info(STAGE, "waiting up to %u s for node \"%s\" to be Ready (kubeconfig %s)", p->timeout_s, wt.node,
                 wt.kubeconfig);
        for (unsigned delay = first;;) {
                struct ready_result now = { 0 };
                unsigned long long t = now_ms();
                k = poll_once(&wt, t < deadline ? (unsigned)(deadline - t) : 1, &now);
                if (k < 0) {
                        snprintf(detail, len, "out of memory");
                        break;
                }
                t = now_ms();
                /* a request cut short by the deadline says nothing of the server */
                if (now.timed_out && t >= deadline && wt.last.state != READY_STATE_NONE)
                        now = wt.last;
                bool changed = now.state != wt.last.state;
                say_state(&wt, &now);
                if (now.state == READY_STATE_READY) {
                        snprintf(detail, len, "%s after %llu s", now.detail, (t - start) / 1000);
                        k = 0;
                        break;
                }
                if (t >= deadline) {
                        snprintf(detail, len, "not Ready after %u s: %s: %s", p->timeout_s, ready_state_name(now.state),
                                 now.detail);
                        k = -ETIMEDOUT;
                        break;
                }
                delay = changed ? first : delay; /* something moved: look again soon */
                sleep_ms(next_pause(delay, t, deadline));
                delay = delay >= max / 2 ? max : delay * 2;
                if (now_ms() >= deadline) { /* slept to the deadline: the last state stands */
                        snprintf(detail, len, "not Ready after %u s: %s: %s", p->timeout_s,
                                 ready_state_name(wt.last.state), wt.last.detail);
                        k = -ETIMEDOUT;
                        break;
                }
        }
        curl_global_cleanup();
        return k;
}
