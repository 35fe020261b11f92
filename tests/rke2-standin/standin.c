/* SPDX-License-Identifier: Apache-2.0 */
/* rke2 STAND-IN: a TEST PROGRAM, NOT rke2.
 *
 * rke2 cannot be downloaded on the machines Ember is built and tested on,
 * so the tests run this where rke2 would run (the test image installs it
 * as /usr/local/bin/rke2). It behaves like rke2 at exactly the interfaces
 * Ember uses, and nowhere else:
 *
 *   * the command line: `rke2 server|agent [--config F]` (plus --root DIR,
 *     a prefix for every path, so host tests use a temporary tree);
 *   * /etc/rancher/rke2/config.yaml: node-name (else the hostname),
 *     write-kubeconfig, data-dir;
 *   * a PKI under <data-dir>/server/tls/ (and <data-dir>/agent/ as an
 *     agent), named as rke2 names it: a CA, the API server's serving
 *     certificate (localhost, 127.0.0.1), a client certificate — all
 *     ECDSA P-256, made fresh at every start;
 *   * the kubeconfig where rke2 writes it: as a server
 *     /etc/rancher/rke2/rke2.yaml (0600, certificates inline as
 *     *-data, as rke2 writes it); as an agent
 *     <data-dir>/agent/kubelet.kubeconfig (file paths, as rke2's agent
 *     writes it);
 *   * the API: GET /api/v1/nodes/NAME over HTTPS on 127.0.0.1:6443 with
 *     client-certificate authentication: 401 without a certificate or with
 *     one the CA did not sign or that expired, 404 for any other node,
 *     200 with a Node whose Ready condition turns True after ready-after
 *     seconds;
 *   * logs on stdout/stderr; SIGTERM: a line, then exit 0.
 *
 * What only a stand-in does comes from a separate, TEST-ONLY file,
 * <root>/etc/rancher/rke2/standin.yaml (rke2 has no such file):
 *
 *   ready-after: SECONDS        NotReady (KubeletNotReady) until then (default 0)
 *   never-ready: true           NotReady for ever
 *   exit-after: SECONDS         crash after that long …
 *   exit-code: N                … with this exit code (default 1)
 *   hang: true                  accept TCP connections, never answer
 *   malformed-json: true        answer 200 with a truncated Node
 *   expired-client-cert: true   issue the kubeconfig's client certificate already expired
 *   listen-port: PORT           instead of 6443
 *   api-down-for: SECONDS       listen only after that long
 *   run-container: BUNDLE       once the API is up, run the OCI bundle the way
 *                               containerd would (overlayfs snapshot, iptables,
 *                               runc: container.c); Ready only after it exited 0
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <microhttpd.h>

#include "container.h"
#include "kubeconfig-inline.h"
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#define STANDIN "rke2 STAND-IN (test program, not rke2)"
#define PEM_MAX 4096
#define DEFAULT_DATA_DIR "/var/lib/rancher/rke2"

static const char usage[] =
        "Usage: rke2-standin server|agent [--config FILE] [--root DIR]\n"
        "\n"
        STANDIN ": a test program that behaves like rke2 at the interfaces\n"
        "Ember uses (config.yaml, the PKI and kubeconfig it writes, GET\n"
        "/api/v1/nodes/NAME with client certificates) and does nothing else.\n"
        "It runs no Kubernetes.\n"
        "\n"
        "  --config FILE  rke2's config (default ROOT/etc/rancher/rke2/config.yaml)\n"
        "  --root DIR     prefix of every path (default /)\n"
        "\n"
        "Test-only behaviour comes from ROOT/etc/rancher/rke2/standin.yaml:\n"
        "ready-after, never-ready, exit-after, exit-code, hang, malformed-json,\n"
        "expired-client-cert, listen-port, api-down-for (see the source).\n";

/* ---- logging, as rke2 (logrus) writes it -------------------------------- */

static void logf_(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const char *level, const char *fmt, ...)
{
        char ts[40], msg[1024];
        time_t now = time(NULL);
        struct tm tm;
        va_list ap;
        gmtime_r(&now, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        FILE *f = strcmp(level, "info") == 0 ? stdout : stderr;
        fprintf(f, "time=\"%s\" level=%s msg=\"[stand-in] %s\"\n", ts, level, msg);
        fflush(f);
}
#define log_info(...) logf_("info", __VA_ARGS__)
#define log_warn(...) logf_("warning", __VA_ARGS__)
#define log_fatal(...) (logf_("fatal", __VA_ARGS__), exit(1))

/* ---- settings ------------------------------------------------------------ */

struct settings {
        /* config.yaml */
        char node_name[254];
        char write_kubeconfig[PATH_MAX];
        char data_dir[PATH_MAX];
        /* standin.yaml (test-only) */
        unsigned ready_after, exit_after, api_down_for;
        int exit_code;
        bool never_ready, hang, malformed_json, expired_client_cert;
        unsigned port;
        /* run-container: an OCI bundle (tests/rke2-standin/container.c)
         * run once the API is up; the Node is Ready only after it ran */
        char run_container[PATH_MAX];
};

/* the container's outcome, read by the API thread */
enum container_state { CONTAINER_NONE, CONTAINER_RUNNING, CONTAINER_OK, CONTAINER_FAILED };
static volatile enum container_state container_state;

typedef void (*flat_key_fn)(struct settings *s, const char *file, const char *key, const char *value);

/* A flat YAML mapping: each top-level key with a scalar value; lists and
 * mappings are skipped (rke2's config has them: tls-san, node-label, …). */
static void read_flat_yaml(const char *path, struct settings *s, flat_key_fn fn)
{
        FILE *f = fopen(path, "r");
        if (!f) {
                if (errno != ENOENT)
                        log_fatal("reading %s: %s", path, strerror(errno));
                return;
        }
        yaml_parser_t p;
        yaml_event_t ev;
        char key[256] = "";
        int depth = 0;
        bool want_key = true, done = false;
        yaml_parser_initialize(&p);
        yaml_parser_set_input_file(&p, f);
        while (!done) {
                if (!yaml_parser_parse(&p, &ev))
                        log_fatal("%s: line %zu: %s", path, p.problem_mark.line + 1, p.problem ? p.problem : "bad YAML");
                switch (ev.type) {
                case YAML_MAPPING_START_EVENT:
                case YAML_SEQUENCE_START_EVENT:
                        if (depth == 1 && !want_key)
                                want_key = true; /* a list or mapping as a value: skipped */
                        depth++;
                        break;
                case YAML_MAPPING_END_EVENT:
                case YAML_SEQUENCE_END_EVENT:
                        depth--;
                        break;
                case YAML_SCALAR_EVENT:
                        if (depth != 1)
                                break;
                        if (want_key)
                                snprintf(key, sizeof(key), "%s", (const char *)ev.data.scalar.value);
                        else
                                fn(s, path, key, (const char *)ev.data.scalar.value);
                        want_key = !want_key;
                        break;
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                default:
                        break;
                }
                yaml_event_delete(&ev);
        }
        yaml_parser_delete(&p);
        fclose(f);
}

static void config_key(struct settings *s, const char *file, const char *key, const char *value)
{
        if (strcmp(key, "node-name") == 0)
                snprintf(s->node_name, sizeof(s->node_name), "%s", value);
        else if (strcmp(key, "write-kubeconfig") == 0)
                snprintf(s->write_kubeconfig, sizeof(s->write_kubeconfig), "%s", value);
        else if (strcmp(key, "data-dir") == 0)
                snprintf(s->data_dir, sizeof(s->data_dir), "%s", value);
        /* everything else rke2 takes means nothing to a stand-in */
}

static unsigned num(const char *file, const char *key, const char *v)
{
        char *end;
        unsigned long n = strtoul(v, &end, 10);
        if (!*v || *end || n > 100000)
                log_fatal("%s: %s: expected a number, got \"%s\"", file, key, v);
        return (unsigned)n;
}

static bool boolean(const char *v) { return strcmp(v, "true") == 0 || strcmp(v, "yes") == 0; }

static void standin_key(struct settings *s, const char *file, const char *key, const char *v)
{
        if (strcmp(key, "ready-after") == 0)
                s->ready_after = num(file, key, v);
        else if (strcmp(key, "exit-after") == 0)
                s->exit_after = num(file, key, v);
        else if (strcmp(key, "exit-code") == 0)
                s->exit_code = (int)num(file, key, v);
        else if (strcmp(key, "api-down-for") == 0)
                s->api_down_for = num(file, key, v);
        else if (strcmp(key, "listen-port") == 0)
                s->port = num(file, key, v);
        else if (strcmp(key, "never-ready") == 0)
                s->never_ready = boolean(v);
        else if (strcmp(key, "hang") == 0)
                s->hang = boolean(v);
        else if (strcmp(key, "malformed-json") == 0)
                s->malformed_json = boolean(v);
        else if (strcmp(key, "expired-client-cert") == 0)
                s->expired_client_cert = boolean(v);
        else if (strcmp(key, "run-container") == 0)
                snprintf(s->run_container, sizeof(s->run_container), "%s", v);
        else
                log_warn("%s: unknown stand-in setting %s, ignoring", file, key);
}

/* ---- PKI (mbedtls) ------------------------------------------------------- */

static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;

struct keycert {
        mbedtls_pk_context key;
        char key_pem[PEM_MAX], cert_pem[PEM_MAX];
};

static void gen_key(mbedtls_pk_context *pk)
{
        mbedtls_pk_init(pk);
        if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
            mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, &drbg) != 0)
                log_fatal("generating a P-256 key failed");
}

/* subjectAltName: DNS:localhost, IP:127.0.0.1 (mbedtls 2.28 has no writer for it) */
static const unsigned char san_localhost[] = { 0x30, 0x11, 0x82, 0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't',
                                               0x87, 0x04, 127, 0, 0, 1 };

static void issue(struct keycert *kc, const char *subject, const struct keycert *issuer, const char *issuer_name,
                  int serial, bool ca, bool server, bool expired)
{
        mbedtls_x509write_cert w;
        mbedtls_mpi sn;
        gen_key(&kc->key);
        mbedtls_x509write_crt_init(&w);
        mbedtls_mpi_init(&sn);
        mbedtls_mpi_lset(&sn, serial);
        mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
        mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
        mbedtls_x509write_crt_set_subject_key(&w, &kc->key);
        mbedtls_x509write_crt_set_issuer_key(&w, issuer ? (mbedtls_pk_context *)&issuer->key : &kc->key);
        int r = mbedtls_x509write_crt_set_subject_name(&w, subject);
        r = r ? r : mbedtls_x509write_crt_set_issuer_name(&w, issuer ? issuer_name : subject);
        r = r ? r : mbedtls_x509write_crt_set_serial(&w, &sn);
        r = r ? r : mbedtls_x509write_crt_set_validity(&w, expired ? "20200101000000" : "20240101000000",
                                                       expired ? "20210101000000" : "20740101000000");
        r = r ? r : mbedtls_x509write_crt_set_basic_constraints(&w, ca, ca ? 0 : -1);
        r = r ? r : mbedtls_x509write_crt_set_key_usage(&w, ca ? MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN
                                                             : MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
        if (!r && server)
                r = mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                                        san_localhost, sizeof(san_localhost));
        r = r ? r : mbedtls_x509write_crt_pem(&w, (unsigned char *)kc->cert_pem, sizeof(kc->cert_pem),
                                              mbedtls_ctr_drbg_random, &drbg);
        r = r ? r : mbedtls_pk_write_key_pem(&kc->key, (unsigned char *)kc->key_pem, sizeof(kc->key_pem));
        if (r)
                log_fatal("issuing the certificate %s failed (mbedtls -0x%04x)", subject, (unsigned)-r);
        mbedtls_x509write_crt_free(&w);
        mbedtls_mpi_free(&sn);
}

/* ---- files ------------------------------------------------------------- */

static void mkdir_p(const char *path)
{
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s", path);
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = '\0';
                        (void)mkdir(p, 0755);
                        *s = '/';
                }
        (void)mkdir(p, 0755);
}

static void write_file(const char *path, const char *data, mode_t mode)
{
        char tmp[PATH_MAX + 8], dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = '\0';
                mkdir_p(dir);
        }
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        size_t n = strlen(data);
        if (fd < 0 || write(fd, data, n) != (ssize_t)n || fchmod(fd, mode) < 0 || close(fd) < 0 || rename(tmp, path) < 0)
                log_fatal("writing %s: %s", path, strerror(errno));
}

static char *b64(const char *s)
{
        static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t n = strlen(s), o = 0;
        char *out = malloc(4 * ((n + 2) / 3) + 1);
        if (!out)
                log_fatal("out of memory");
        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned char)s[i] << 16 | (i + 1 < n ? (unsigned char)s[i + 1] << 8 : 0) |
                             (i + 2 < n ? (unsigned char)s[i + 2] : 0);
                out[o++] = t[v >> 18 & 63];
                out[o++] = t[v >> 12 & 63];
                out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
                out[o++] = i + 2 < n ? t[v & 63] : '=';
        }
        out[o] = '\0';
        return out;
}

static void write_kubeconfig_inline(const char *path, unsigned port, const struct keycert *ca,
                                    const struct keycert *client)
{
        char *c = b64(ca->cert_pem), *cc = b64(client->cert_pem), *ck = b64(client->key_pem);
        size_t n = strlen(c) + strlen(cc) + strlen(ck) + 1024;
        char *doc = malloc(n);
        if (!doc)
                log_fatal("out of memory");
        snprintf(doc, n,
                 "# written by the " STANDIN "\n"
                 KUBECONFIG_INLINE_FMT,
                 c, port, cc, ck);
        write_file(path, doc, 0600);
        free(doc);
        free(c);
        free(cc);
        free(ck);
}

static void write_kubeconfig_files(const char *path, unsigned port, const char *ca, const char *crt, const char *key)
{
        char doc[4 * PATH_MAX + 1024];
        snprintf(doc, sizeof(doc),
                 "# written by the " STANDIN "\n"
                 KUBECONFIG_FILES_FMT,
                 port, ca, crt, key);
        write_file(path, doc, 0600);
}

/* ---- the API ------------------------------------------------------------ */

struct api {
        const struct settings *s;
        struct timespec start;
};

static double uptime(const struct api *a)
{
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (double)(now.tv_sec - a->start.tv_sec) + (double)(now.tv_nsec - a->start.tv_nsec) / 1e9;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *body)
{
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, "Content-Type", "application/json");
        enum MHD_Result ret = MHD_queue_response(c, code, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result status_reply(struct MHD_Connection *c, unsigned code, const char *reason, const char *message)
{
        char body[768];
        snprintf(body, sizeof(body),
                 "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                 "\"message\":\"%s\",\"reason\":\"%s\",\"code\":%u}\n",
                 message, reason, code);
        return reply(c, code, body);
}

/* Who the client is: NULL when its certificate chains to the CA and is
 * valid now; else why not (as the API server, the request is then 401). */
static const char *client_refused(struct MHD_Connection *c)
{
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        unsigned n = 0, status = 0;
        if (!ci || !ci->tls_session)
                return "no TLS session";
        gnutls_session_t s = (gnutls_session_t)ci->tls_session;
        if (!gnutls_certificate_get_peers(s, &n) || n == 0)
                return "no client certificate";
        if (gnutls_certificate_verify_peers2(s, &status) < 0)
                return "client certificate not verifiable";
        if (status & GNUTLS_CERT_EXPIRED)
                return "client certificate has expired";
        if (status & GNUTLS_CERT_NOT_ACTIVATED)
                return "client certificate is not yet valid";
        if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
                return "client certificate signed by unknown authority";
        if (status)
                return "client certificate invalid";
        return NULL;
}

static enum MHD_Result node_reply(struct MHD_Connection *c, const struct api *a)
{
        const struct settings *s = a->s;
        char body[2048];
        double up = uptime(a);
        bool ready = !s->never_ready && up >= s->ready_after &&
                     (!s->run_container[0] || container_state == CONTAINER_OK);
        bool container_failed = s->run_container[0] && container_state == CONTAINER_FAILED;
        if (s->malformed_json) /* cut in the middle, as a proxy might */
                return reply(c, 200, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"x\"},"
                                     "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"sta");
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Node\","
                 "\"metadata\":{\"name\":\"%s\",\"labels\":{\"kubernetes.io/hostname\":\"%s\","
                 "\"node-role.kubernetes.io/stand-in\":\"true\"},"
                 "\"annotations\":{\"ember.dev/stand-in\":\"" STANDIN "\"}},"
                 "\"spec\":{},"
                 "\"status\":{\"conditions\":["
                 "{\"type\":\"MemoryPressure\",\"status\":\"False\",\"reason\":\"KubeletHasSufficientMemory\","
                 "\"message\":\"stand-in: kubelet has sufficient memory available\"},"
                 "{\"type\":\"Ready\",\"status\":\"%s\",\"reason\":\"%s\",\"message\":\"%s\"}],"
                 "\"nodeInfo\":{\"kubeletVersion\":\"v0.0.0-standin\",\"kubeProxyVersion\":\"v0.0.0-standin\","
                 "\"osImage\":\"" STANDIN "\",\"containerRuntimeVersion\":\"none://stand-in\","
                 "\"operatingSystem\":\"linux\",\"architecture\":\"amd64\"}}}\n",
                 s->node_name, s->node_name, ready ? "True" : "False",
                 ready ? "KubeletReady" : container_failed ? "ContainerFailed" : "KubeletNotReady",
                 ready ? "stand-in: kubelet is posting ready status"
                 : container_failed ? "stand-in: the test container failed (see the rke2 log)"
                                    : "stand-in: container runtime network not ready");
        return reply(c, 200, body);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
        const struct api *a = cls;
        const char *why = client_refused(c), *name;
        log_info("%s %s%s%s", method, url, why ? ": 401, " : "", why ? why : "");
        if (why)
                return status_reply(c, MHD_HTTP_UNAUTHORIZED, "Unauthorized", "Unauthorized");
        if (strcmp(method, "GET") != 0)
                return status_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed", "the stand-in only answers GET");
        if (!(name = strncmp(url, "/api/v1/nodes/", 14) == 0 ? url + 14 : NULL) || strcmp(name, a->s->node_name) != 0) {
                char msg[300];
                snprintf(msg, sizeof(msg), "nodes \\\"%.200s\\\" not found", name && !strpbrk(name, "\"\\") ? name : "?");
                return status_reply(c, MHD_HTTP_NOT_FOUND, "NotFound", msg);
        }
        return node_reply(c, a);
}

static struct MHD_Daemon *api_start(struct api *a, const struct keycert *ca, const struct keycert *serving)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)a->s->port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct MHD_Daemon *d = MHD_start_daemon(
                MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)a->s->port, NULL, NULL,
                on_request, a, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_HTTPS_MEM_KEY, serving->key_pem,
                MHD_OPTION_HTTPS_MEM_CERT, serving->cert_pem, MHD_OPTION_HTTPS_MEM_TRUST, ca->cert_pem,
                MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
        if (!d)
                log_fatal("listening on 127.0.0.1:%u failed (port in use?)", a->s->port);
        log_info("API server (stand-in) listening on https://127.0.0.1:%u", a->s->port);
        return d;
}

/* hang: accept connections and never answer, not even the TLS handshake */
static int hang_listen(unsigned port)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0)
                log_fatal("listening on 127.0.0.1:%u failed: %s", port, strerror(errno));
        log_info("hang: listening on 127.0.0.1:%u and never answering", port);
        return fd;
}

/* ---- main --------------------------------------------------------------- */

static void paths_and_pki(const char *root, const char *role, struct settings *s, struct keycert *ca,
                          struct keycert *serving)
{
        char tls[PATH_MAX], p[PATH_MAX + 64], a[PATH_MAX + 64], b[PATH_MAX + 64];
        struct keycert client;
        const char *ca_name = "CN=rke2-server-ca@standin";
        issue(ca, ca_name, NULL, NULL, 1, true, false, false);
        issue(serving, "CN=kube-apiserver", ca, ca_name, 2, false, true, false);
        issue(&client, strcmp(role, "agent") == 0 ? "O=system:nodes,CN=system:node:standin" : "O=system:masters,CN=system:admin",
              ca, ca_name, 3, false, false, s->expired_client_cert);
        if (s->expired_client_cert)
                log_warn("expired-client-cert: the kubeconfig's client certificate expired in 2021");
        snprintf(tls, sizeof(tls), "%s%s/server/tls", root, s->data_dir);
        mkdir_p(tls);
        snprintf(p, sizeof(p), "%s/server-ca.crt", tls);
        write_file(p, ca->cert_pem, 0644);
        snprintf(p, sizeof(p), "%s/server-ca.key", tls);
        write_file(p, ca->key_pem, 0600);
        snprintf(p, sizeof(p), "%s/serving-kube-apiserver.crt", tls);
        write_file(p, serving->cert_pem, 0644);
        snprintf(p, sizeof(p), "%s/serving-kube-apiserver.key", tls);
        write_file(p, serving->key_pem, 0600);
        if (strcmp(role, "server") == 0) {
                snprintf(p, sizeof(p), "%s/client-admin.crt", tls);
                write_file(p, client.cert_pem, 0644);
                snprintf(p, sizeof(p), "%s/client-admin.key", tls);
                write_file(p, client.key_pem, 0600);
                snprintf(p, sizeof(p), "%s%s", root, s->write_kubeconfig[0] ? s->write_kubeconfig : "/etc/rancher/rke2/rke2.yaml");
                write_kubeconfig_inline(p, s->port, ca, &client);
        } else {
                char agent[PATH_MAX];
                snprintf(agent, sizeof(agent), "%s%s/agent", root, s->data_dir);
                snprintf(p, sizeof(p), "%s/server-ca.crt", agent);
                write_file(p, ca->cert_pem, 0644);
                snprintf(a, sizeof(a), "%s/client-kubelet.crt", agent);
                write_file(a, client.cert_pem, 0644);
                snprintf(b, sizeof(b), "%s/client-kubelet.key", agent);
                write_file(b, client.key_pem, 0600);
                char kc[PATH_MAX + 64];
                snprintf(kc, sizeof(kc), "%s/kubelet.kubeconfig", agent);
                write_kubeconfig_files(kc, s->port, p, a, b);
                snprintf(p, sizeof(p), "%s", kc);
        }
        log_info("wrote the PKI under %s and the kubeconfig %s", tls, p);
        mbedtls_pk_free(&client.key);
}

int main(int argc, char **argv)
{
        const char *root = "", *config = NULL, *role = argc > 1 ? argv[1] : "";
        struct settings s = { .exit_code = 1, .port = 6443, .data_dir = DEFAULT_DATA_DIR };
        char path[PATH_MAX];

        if (argc > 1 && (strcmp(role, "--help") == 0 || strcmp(role, "-h") == 0 || strcmp(role, "help") == 0))
                return fputs(usage, stdout), 0;
        if (strcmp(role, "server") != 0 && strcmp(role, "agent") != 0)
                return fputs(usage, stderr), 2;
        for (int i = 2; i < argc; i++) {
                if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
                        config = argv[++i];
                else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
                        root = argv[++i];
                else if (strcmp(argv[i], "--help") == 0)
                        return fputs(usage, stdout), 0;
                else
                        return fprintf(stderr, "rke2-standin: unknown argument %s\n%s", argv[i], usage), 2;
        }
        printf(STANDIN " starting as %s (pid %d): it behaves like rke2 only where Ember looks, and runs no "
               "Kubernetes\n", role, (int)getpid());
        fflush(stdout);

        snprintf(path, sizeof(path), "%s/etc/rancher/rke2/config.yaml", root);
        read_flat_yaml(config ? config : path, &s, config_key);
        snprintf(path, sizeof(path), "%s/etc/rancher/rke2/standin.yaml", root);
        read_flat_yaml(path, &s, standin_key);
        if (!s.node_name[0]) {
                if (gethostname(s.node_name, sizeof(s.node_name)) < 0)
                        log_fatal("gethostname: %s", strerror(errno));
                for (char *p = s.node_name; *p; p++)
                        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        }
        if (strpbrk(s.node_name, "\"\\"))
                log_fatal("node name %s: quotes are not allowed", s.node_name);
        log_info("node name %s, API port %u, ready after %u s%s", s.node_name, s.port, s.ready_after,
                 s.never_ready ? " (never-ready: never)" : "");

        /* SIGTERM and SIGINT are taken by sigtimedwait below; blocked first,
         * so MHD's threads never get them */
        sigset_t sigs;
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigprocmask(SIG_BLOCK, &sigs, NULL);
        signal(SIGPIPE, SIG_IGN);

        mbedtls_entropy_init(&entropy);
        mbedtls_ctr_drbg_init(&drbg);
        if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, (const unsigned char *)"standin", 7) != 0)
                log_fatal("seeding the DRBG failed");
        struct keycert ca, serving;
        paths_and_pki(root, role, &s, &ca, &serving);

        struct api api = { .s = &s };
        clock_gettime(CLOCK_MONOTONIC, &api.start);
        struct MHD_Daemon *d = NULL;
        int hang_fd = -1;
        bool listening = false;
        for (;;) {
                double up = uptime(&api);
                if (!listening && up >= s.api_down_for) {
                        if (s.hang)
                                hang_fd = hang_listen(s.port);
                        else
                                d = api_start(&api, &ca, &serving);
                        listening = true;
                } else if (!listening) {
                        static bool said;
                        if (!said)
                                log_info("api-down-for: the API listens in %u s", s.api_down_for), said = true;
                }
                if (listening && d && s.run_container[0] && container_state == CONTAINER_NONE) {
                        /* the API answers NotReady meanwhile (its own thread) */
                        container_state = CONTAINER_RUNNING;
                        log_info("run-container: running %s", s.run_container);
                        container_state = standin_run_container(root, s.data_dir, s.run_container) == 0
                                                  ? CONTAINER_OK
                                                  : CONTAINER_FAILED;
                        log_info("run-container: %s", container_state == CONTAINER_OK ? "succeeded" : "FAILED");
                }
                if (s.exit_after && up >= s.exit_after) {
                        log_warn("exit-after: crashing on purpose with exit code %d", s.exit_code);
                        exit(s.exit_code);
                }
                if (hang_fd >= 0) { /* take connections so they are established, keep them open */
                        struct pollfd pf = { hang_fd, POLLIN, 0 };
                        while (poll(&pf, 1, 0) > 0 && accept4(hang_fd, NULL, NULL, SOCK_CLOEXEC) >= 0)
                                ;
                }
                struct timespec tick = { 0, 200 * 1000 * 1000 };
                int sig = sigtimedwait(&sigs, NULL, &tick);
                if (sig == SIGTERM || sig == SIGINT) {
                        log_info("%s received: " STANDIN " shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
                        if (d)
                                MHD_stop_daemon(d);
                        return 0;
                }
        }
}
