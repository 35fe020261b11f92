/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig files, and the bounded YAML loader they are read with.
 *
 * The loader uses libyaml's event API and builds the tree itself, so that
 * every limit is ours: no alias is ever expanded (a kubeconfig has no use
 * for them, and they are how a few hundred bytes become gigabytes), keys
 * are unique, depth and node count are bounded, one document only.
 *
 * kubectl's rules that matter here (client-go's clientcmd): current-context
 * names a context; the context names a cluster and a user, each looked up
 * by name in its list; a path that is not absolute is relative to the
 * directory of the kubeconfig; a file and inline data for the same thing
 * is an error. */
#include "kubeconfig.h"

#include <errno.h>
#include <limits.h>
#include <mbedtls/base64.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "fileio.h"
#include "log.h"
#include "util.h"

/* ---- bounded YAML ------------------------------------------------------- */

void ynode_free(struct ynode *n)
{
        if (!n)
                return;
        for (size_t i = 0; i < n->n; i++)
                ynode_free(n->kids[i]);
        free(n->kids);
        if (n->value) /* scalars may be keys or tokens */
                explicit_bzero(n->value, n->len);
        free(n->value);
        free(n);
}

const char *ynode_kind(const struct ynode *n)
{
        if (!n)
                return "nothing";
        return n->type == YNODE_MAP ? "a mapping" : n->type == YNODE_SEQ ? "a sequence" : "a string";
}

bool yscalar_is_null(const struct ynode *n)
{
        if (!n || n->type != YNODE_SCALAR || !n->plain)
                return false;
        return n->len == 0 || streq(n->value, "~") || streq(n->value, "null") || streq(n->value, "Null") ||
               streq(n->value, "NULL");
}

int yscalar_bool(const struct ynode *n)
{
        static const char *const t[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON" };
        static const char *const f[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF" };
        if (!n || n->type != YNODE_SCALAR || !n->plain)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                if (streq(n->value, t[i]))
                        return 1;
                if (streq(n->value, f[i]))
                        return 0;
        }
        return -EINVAL;
}

const struct ynode *ymap_get(const struct ynode *map, const char *key)
{
        size_t klen = strlen(key);
        if (!map || map->type != YNODE_MAP)
                return NULL;
        for (size_t i = 0; i + 1 < map->n; i += 2)
                if (map->kids[i]->len == klen && memcmp(map->kids[i]->value, key, klen) == 0)
                        return map->kids[i + 1];
        return NULL;
}

struct ybuild {
        struct ynode *root;
        struct ynode *stack[YDOC_MAX_DEPTH];
        size_t depth;
        size_t nodes;
        const struct reason *w;
};

static int kids_append(struct ynode *parent, struct ynode *kid)
{
        if ((parent->n & (parent->n - 1)) == 0) { /* 0, 1, 2, 4, …: grow by doubling */
                size_t cap = parent->n ? parent->n * 2 : 4;
                struct ynode **k = reallocarray(parent->kids, cap, sizeof(*k));
                if (!k)
                        return -ENOMEM;
                parent->kids = k;
        }
        parent->kids[parent->n++] = kid;
        return 0;
}

/* Attaches a complete or just-opened node to the innermost container. */
static int ybuild_attach(struct ybuild *b, struct ynode *n)
{
        if (b->depth == 0) {
                if (b->root)
                        return reason_fail(b->w, -EBADMSG, "line %u: more than one node at the top", n->line);
                b->root = n;
                return 0;
        }
        struct ynode *p = b->stack[b->depth - 1];
        if (p->type == YNODE_MAP && p->n % 2 == 0) {
                if (n->type != YNODE_SCALAR)
                        return reason_fail(b->w, -EBADMSG, "line %u: a mapping key must be a string, not %s", n->line,
                                           ynode_kind(n));
                for (size_t i = 0; i < p->n; i += 2)
                        if (p->kids[i]->len == n->len && memcmp(p->kids[i]->value, n->value, n->len) == 0) {
                                char esc[80];
                                return reason_fail(b->w, -EBADMSG, "line %u: key \"%s\" appears twice in one mapping "
                                                   "(first on line %u)", n->line,
                                                   log_escape(n->value, esc, sizeof(esc)), p->kids[i]->line);
                        }
        }
        return kids_append(p, n);
}

static int ybuild_event(struct ybuild *b, const yaml_event_t *ev)
{
        unsigned line = (unsigned)ev->start_mark.line + 1;
        enum ynode_type type;

        switch (ev->type) {
        case YAML_ALIAS_EVENT:
                return reason_fail(b->w, -EBADMSG, "line %u: YAML aliases (*name) are not accepted", line);
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                if (b->depth == 0)
                        return reason_fail(b->w, -EBADMSG, "line %u: unbalanced end of a collection", line);
                b->depth--;
                return 0;
        case YAML_SCALAR_EVENT:
                type = YNODE_SCALAR;
                break;
        case YAML_SEQUENCE_START_EVENT:
                type = YNODE_SEQ;
                break;
        case YAML_MAPPING_START_EVENT:
                type = YNODE_MAP;
                break;
        default:
                return 0; /* stream and document markers: handled by the caller */
        }
        if (b->nodes >= YDOC_MAX_NODES)
                return reason_fail(b->w, -E2BIG, "line %u: more than %u nodes", line, YDOC_MAX_NODES);
        if (type != YNODE_SCALAR && b->depth >= YDOC_MAX_DEPTH)
                return reason_fail(b->w, -E2BIG, "line %u: nested deeper than %u levels", line, YDOC_MAX_DEPTH);
        struct ynode *n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        n->type = type;
        n->line = line;
        if (type == YNODE_SCALAR) {
                n->len = ev->data.scalar.length;
                n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                n->value = malloc(n->len + 1);
                if (!n->value) {
                        free(n);
                        return -ENOMEM;
                }
                memcpy(n->value, ev->data.scalar.value, n->len);
                n->value[n->len] = '\0';
        }
        int k = ybuild_attach(b, n);
        if (k < 0) {
                ynode_free(n);
                return k;
        }
        b->nodes++;
        if (type != YNODE_SCALAR)
                b->stack[b->depth++] = n;
        return 0;
}

static void yaml_parser_deletep(yaml_parser_t *p) { yaml_parser_delete(p); }

int ydoc_parse(const char *text, size_t len, struct ynode **ret, const struct reason *w)
{
        struct ybuild b = { .w = w };
        unsigned docs = 0;
        int k = 0;

        if (len > YDOC_MAX_BYTES)
                return reason_fail(w, -E2BIG, "larger than %u bytes", YDOC_MAX_BYTES);
        /* zeroed: yaml_parser_delete() of a failed initialize frees nothing twice */
        _cleanup_(yaml_parser_deletep) yaml_parser_t parser = { 0 };
        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
        for (bool done = false; !done && k == 0;) {
                yaml_event_t ev;
                if (!yaml_parser_parse(&parser, &ev)) {
                        k = parser.error == YAML_MEMORY_ERROR
                                    ? -ENOMEM
                                    : reason_fail(w, -EBADMSG, "line %zu: not valid YAML: %s%s%s",
                                                  parser.problem_mark.line + 1,
                                                  parser.problem ? parser.problem : "syntax error",
                                                  parser.context ? " " : "", parser.context ? parser.context : "");
                        break;
                }
                if (ev.type == YAML_DOCUMENT_START_EVENT && ++docs > 1)
                        k = reason_fail(w, -EBADMSG, "line %zu: more than one YAML document", ev.start_mark.line + 1);
                else if (ev.type == YAML_STREAM_END_EVENT)
                        done = true;
                else
                        k = ybuild_event(&b, &ev);
                yaml_event_delete(&ev);
        }
        if (k < 0) {
                ynode_free(b.root);
                return k;
        }
        if (!b.root || yscalar_is_null(b.root)) { /* an empty file: no settings */
                ynode_free(b.root);
                b.root = calloc(1, sizeof(*b.root));
                if (!b.root)
                        return -ENOMEM;
                b.root->type = YNODE_MAP;
                b.root->line = 1;
        }
        *ret = b.root;
        return 0;
}

/* ---- kubeconfig: parse -------------------------------------------------- */

#define KC_NAME_MAX 253
#define KC_SERVER_MAX 512

static void kc_pem_free(struct kc_pem *p)
{
        if (p->data)
                explicit_bzero(p->data, p->len);
        free(p->data);
        free(p->path);
        *p = (struct kc_pem){ 0 };
}

void kubeconfig_free(struct kubeconfig *kc)
{
        if (!kc)
                return;
        free(kc->context);
        free(kc->cluster);
        free(kc->user);
        free(kc->server);
        kc_pem_free(&kc->ca);
        kc_pem_free(&kc->cert);
        kc_pem_free(&kc->key);
        if (kc->token)
                explicit_bzero(kc->token, strlen(kc->token));
        free(kc->token);
        free(kc->token_file);
        *kc = (struct kubeconfig){ 0 };
}

static const char *esc(const char *s, char *buf, unsigned n) { return log_escape(s, buf, n); }

/* An optional string setting: *ret is NULL when absent or null. */
static int get_str(const struct ynode *map, const char *key, const char *where, const char **ret,
                   const struct reason *w)
{
        const struct ynode *v = ymap_get(map, key);
        *ret = NULL;
        if (!v || yscalar_is_null(v))
                return 0;
        if (v->type != YNODE_SCALAR)
                return reason_fail(w, -EBADMSG, "kubeconfig: line %u: %s: %s must be a string, not %s", v->line, where,
                                   key, ynode_kind(v));
        if (strlen(v->value) != v->len)
                return reason_fail(w, -EBADMSG, "kubeconfig: line %u: %s: %s holds a NUL byte", v->line, where, key);
        *ret = v->value;
        return 0;
}

/* In the list `list` (clusters, contexts, users), the entry whose name is
 * `name`: its `field` mapping. -ENOENT when there is none. */
static int find_named(const struct ynode *root, const char *list, const char *field, const char *name,
                      const struct ynode **ret, const struct reason *w)
{
        const struct ynode *l = ymap_get(root, list), *found = NULL;
        char e[80];
        if (!l || yscalar_is_null(l))
                return -ENOENT;
        if (l->type != YNODE_SEQ)
                return reason_fail(w, -EBADMSG, "kubeconfig: line %u: %s must be a sequence, not %s", l->line, list,
                                   ynode_kind(l));
        for (size_t i = 0; i < l->n; i++) {
                const struct ynode *item = l->kids[i], *body;
                const char *n;
                char where[64];
                snprintf(where, sizeof(where), "%s[%zu]", list, i);
                if (item->type != YNODE_MAP)
                        return reason_fail(w, -EBADMSG, "kubeconfig: line %u: %s must be a mapping, not %s",
                                           item->line, where, ynode_kind(item));
                int k = get_str(item, "name", where, &n, w);
                if (k < 0)
                        return k;
                if (!n || !*n)
                        return reason_fail(w, -EBADMSG, "kubeconfig: line %u: %s has no name", item->line, where);
                if (!streq(n, name))
                        continue;
                if (found)
                        return reason_fail(w, -EBADMSG, "kubeconfig: line %u: %s \"%s\" is defined twice", item->line,
                                           field, esc(name, e, sizeof(e)));
                body = ymap_get(item, field);
                if (!body || body->type != YNODE_MAP)
                        return reason_fail(w, -EBADMSG, "kubeconfig: line %u: %s \"%s\": %s must be a mapping, not %s",
                                           body ? body->line : item->line, field, esc(name, e, sizeof(e)), field,
                                           ynode_kind(body));
                found = body;
        }
        if (!found)
                return -ENOENT;
        *ret = found;
        return 0;
}

/* Standard base64, strictly (Go's StdEncoding, as kubectl decodes it):
 * padded to a multiple of 4, '=' only at the end; line breaks (a block
 * scalar's) are skipped, as Go skips them. Into a NUL-terminated buffer. */
static int b64_decode(const char *s, size_t slen, struct kc_pem *out)
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        _cleanup_free_ char *compact = malloc(slen + 1);
        size_t n = 0, pad = 0;
        if (!compact)
                return -ENOMEM;
        for (size_t i = 0; i < slen; i++) {
                if (s[i] == '\n' || s[i] == '\r')
                        continue;
                if (s[i] == '=')
                        pad++;
                else if (pad || !s[i] || !strchr(alphabet, s[i]))
                        return -EBADMSG;
                compact[n++] = s[i];
        }
        if (n == 0 || n % 4 != 0 || pad > 2)
                return -EBADMSG;
        if (n / 4 * 3 > KUBECONFIG_PEM_MAX)
                return -E2BIG;
        char *d = malloc(n / 4 * 3 + 1);
        size_t got = 0;
        if (!d)
                return -ENOMEM;
        if (mbedtls_base64_decode((unsigned char *)d, n / 4 * 3 + 1, &got, (const unsigned char *)compact, n) != 0) {
                free(d);
                return -EBADMSG;
        }
        explicit_bzero(compact, n);
        d[got] = '\0';
        out->data = d;
        out->len = got;
        return 0;
}

/* One of "<file-key>: PATH" or "<data-key>: BASE64" (neither is fine,
 * both is not). */
static int get_pem(const struct ynode *map, const char *file_key, const char *data_key, const char *where,
                   const char *base_dir, struct kc_pem *out, const struct reason *w)
{
        const char *file, *data;
        int k = get_str(map, file_key, where, &file, w);
        if (k == 0)
                k = get_str(map, data_key, where, &data, w);
        if (k < 0)
                return k;
        if (file && *file && data && *data)
                return reason_fail(w, -EINVAL, "kubeconfig: %s: both %s and %s are set: use one", where, file_key,
                                   data_key);
        if (data && *data) {
                k = b64_decode(data, strlen(data), out);
                if (k == -ENOMEM)
                        return k;
                if (k < 0)
                        return reason_fail(w, -EBADMSG, "kubeconfig: line %u: %s: %s %s", ymap_get(map, data_key)->line,
                                           where, data_key, k == -E2BIG ? "is too large" : "is not valid base64");
                if (out->len == 0)
                        return reason_fail(w, -EBADMSG, "kubeconfig: %s: %s decodes to nothing", where, data_key);
                return 0;
        }
        if (file && *file) {
                char path[PATH_MAX];
                int n = file[0] == '/' || !base_dir ? snprintf(path, sizeof(path), "%s", file)
                                                    : snprintf(path, sizeof(path), "%s/%s", base_dir, file);
                if (n < 0 || (size_t)n >= sizeof(path))
                        return reason_fail(w, -EINVAL, "kubeconfig: %s: %s: path too long", where, file_key);
                out->path = strdup(path);
                return out->path ? 0 : -ENOMEM;
        }
        return 0;
}

static int check_server(const char *server, const char *where, char **ret, const struct reason *w)
{
        char e[120];
        if (!server || !*server)
                return reason_fail(w, -EINVAL, "kubeconfig: %s has no server", where);
        size_t n = strlen(server);
        if (n > KC_SERVER_MAX)
                return reason_fail(w, -EINVAL, "kubeconfig: %s: server URL longer than %u bytes", where, KC_SERVER_MAX);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)server[i] <= ' ' || (unsigned char)server[i] >= 0x7f)
                        return reason_fail(w, -EINVAL, "kubeconfig: %s: server \"%s\" holds a space or control "
                                           "character", where, esc(server, e, sizeof(e)));
        if (!startswith(server, "https://") || n == strlen("https://"))
                return reason_fail(w, -EINVAL, "kubeconfig: %s: server \"%s\" is not https://HOST[:PORT]", where,
                                   esc(server, e, sizeof(e)));
        while (n > strlen("https://") && server[n - 1] == '/')
                n--;
        *ret = strndup(server, n);
        return *ret ? 0 : -ENOMEM;
}

/* Settings of the chosen cluster and user that Ember cannot honour: each
 * refused by name rather than ignored. */
static const char *const cluster_refused[] = { "tls-server-name", "proxy-url" };
static const char *const user_refused[] = { "exec", "auth-provider", "username", "password", "as", "as-groups" };

static int parse_cluster(const struct ynode *c, const char *name, const char *base_dir, struct kubeconfig *kc,
                         const struct reason *w)
{
        char where[KC_NAME_MAX + 32], e[80];
        const char *server;
        snprintf(where, sizeof(where), "cluster \"%s\"", esc(name, e, sizeof(e)));
        const struct ynode *insecure = ymap_get(c, "insecure-skip-tls-verify");
        if (insecure && !yscalar_is_null(insecure) && yscalar_bool(insecure) != 0)
                return reason_fail(w, -EINVAL, "kubeconfig: %s: insecure-skip-tls-verify is refused: the API server "
                                   "must be authenticated by its CA", where);
        for (size_t i = 0; i < ELEMENTSOF(cluster_refused); i++)
                if (ymap_get(c, cluster_refused[i]))
                        return reason_fail(w, -EINVAL, "kubeconfig: %s: %s is not supported", where, cluster_refused[i]);
        int k = get_str(c, "server", where, &server, w);
        if (k == 0)
                k = check_server(server, where, &kc->server, w);
        if (k == 0)
                k = get_pem(c, "certificate-authority", "certificate-authority-data", where, base_dir, &kc->ca, w);
        if (k == 0 && !kc->ca.data && !kc->ca.path)
                k = reason_fail(w, -EINVAL, "kubeconfig: %s names no certificate-authority: Ember trusts no CA the "
                                "kubeconfig does not name", where);
        return k;
}

static int parse_user(const struct ynode *u, const char *name, const char *base_dir, struct kubeconfig *kc,
                      const struct reason *w)
{
        char where[KC_NAME_MAX + 32], e[80];
        const char *token, *token_file;
        snprintf(where, sizeof(where), "user \"%s\"", esc(name, e, sizeof(e)));
        for (size_t i = 0; i < ELEMENTSOF(user_refused); i++)
                if (ymap_get(u, user_refused[i]))
                        return reason_fail(w, -EINVAL, "kubeconfig: %s: authentication by %s is not supported (use a "
                                           "client certificate or a token)", where, user_refused[i]);
        int k = get_pem(u, "client-certificate", "client-certificate-data", where, base_dir, &kc->cert, w);
        if (k == 0)
                k = get_pem(u, "client-key", "client-key-data", where, base_dir, &kc->key, w);
        if (k == 0)
                k = get_str(u, "token", where, &token, w);
        if (k == 0)
                k = get_str(u, "tokenFile", where, &token_file, w);
        if (k < 0)
                return k;
        bool cert = kc->cert.data || kc->cert.path, key = kc->key.data || kc->key.path;
        if (cert != key)
                return reason_fail(w, -EINVAL, "kubeconfig: %s has a client %s but no client %s", where,
                                   cert ? "certificate" : "key", cert ? "key" : "certificate");
        if (token && *token && token_file && *token_file)
                return reason_fail(w, -EINVAL, "kubeconfig: %s: both token and tokenFile are set: use one", where);
        if (token && *token) {
                kc->token = strdup(token);
                if (!kc->token)
                        return -ENOMEM;
        } else if (token_file && *token_file) {
                struct kc_pem tf = { 0 }; /* only its path: read with the other files */
                k = get_pem(u, "tokenFile", "tokenFile-data", where, base_dir, &tf, w);
                if (k < 0)
                        return k;
                kc->token_file = TAKE_PTR(tf.path);
        }
        if (!cert && !kc->token && !kc->token_file)
                return reason_fail(w, -EINVAL, "kubeconfig: %s has neither a client certificate nor a token", where);
        return 0;
}

static int parse_tree(const struct ynode *root, const char *base_dir, struct kubeconfig *kc, const struct reason *w)
{
        const char *cur, *cluster, *user;
        const struct ynode *ctx, *cl, *us;
        char e1[80], e2[80];
        if (root->type != YNODE_MAP)
                return reason_fail(w, -EBADMSG, "kubeconfig: the document must be a mapping, not %s", ynode_kind(root));
        int k = get_str(root, "current-context", "the top level", &cur, w);
        if (k < 0)
                return k;
        if (!cur || !*cur)
                return reason_fail(w, -EINVAL, "kubeconfig: no current-context");
        k = find_named(root, "contexts", "context", cur, &ctx, w);
        if (k == -ENOENT)
                return reason_fail(w, -EINVAL, "kubeconfig: current-context \"%s\" is not defined", esc(cur, e1, sizeof(e1)));
        if (k < 0)
                return k;
        char where[KC_NAME_MAX + 32];
        snprintf(where, sizeof(where), "context \"%s\"", esc(cur, e1, sizeof(e1)));
        if ((k = get_str(ctx, "cluster", where, &cluster, w)) < 0 || (k = get_str(ctx, "user", where, &user, w)) < 0)
                return k;
        if (!cluster || !*cluster)
                return reason_fail(w, -EINVAL, "kubeconfig: %s names no cluster", where);
        if (!user || !*user)
                return reason_fail(w, -EINVAL, "kubeconfig: %s names no user", where);
        k = find_named(root, "clusters", "cluster", cluster, &cl, w);
        if (k == -ENOENT)
                return reason_fail(w, -EINVAL, "kubeconfig: %s names cluster \"%s\" that is not defined", where,
                                   esc(cluster, e2, sizeof(e2)));
        if (k < 0)
                return k;
        k = find_named(root, "users", "user", user, &us, w);
        if (k == -ENOENT)
                return reason_fail(w, -EINVAL, "kubeconfig: %s names user \"%s\" that is not defined", where,
                                   esc(user, e2, sizeof(e2)));
        if (k < 0)
                return k;
        kc->context = strdup(cur);
        kc->cluster = strdup(cluster);
        kc->user = strdup(user);
        if (!kc->context || !kc->cluster || !kc->user)
                return -ENOMEM;
        k = parse_cluster(cl, cluster, base_dir, kc, w);
        return k < 0 ? k : parse_user(us, user, base_dir, kc, w);
}

int kubeconfig_parse(const char *text, size_t len, const char *base_dir, struct kubeconfig *ret,
                     const struct reason *w)
{
        _cleanup_(ynode_freep) struct ynode *root = NULL;
        struct kubeconfig kc = { 0 };
        char why[200] = "";
        int k = ydoc_parse(text, len, &root, &(struct reason){ why, sizeof(why) });
        if (k < 0)
                return k == -ENOMEM ? k : reason_fail(w, k == -E2BIG ? -E2BIG : -EBADMSG, "kubeconfig: %s", why);
        k = parse_tree(root, base_dir, &kc, w);
        if (k < 0) {
                kubeconfig_free(&kc);
                return k;
        }
        *ret = kc;
        return 0;
}

/* ---- kubeconfig: files and check ---------------------------------------- */

static int read_pem(struct kc_pem *p, const char *what, const struct reason *w)
{
        if (p->data || !p->path)
                return 0;
        size_t len;
        int k = read_file_all(p->path, KUBECONFIG_PEM_MAX, &p->data, &len);
        if (k < 0)
                return reason_fail(w, k == -ENOMEM ? k : -EINVAL, "kubeconfig: %s %s: %s", what, p->path,
                                   k == -EFBIG ? "file too large" : strerror(-k));
        p->len = len;
        if (len == 0)
                return reason_fail(w, -EINVAL, "kubeconfig: %s %s is empty", what, p->path);
        return 0;
}

int kubeconfig_read_files(struct kubeconfig *kc, const struct reason *w)
{
        int k = read_pem(&kc->ca, "certificate-authority", w);
        if (k == 0)
                k = read_pem(&kc->cert, "client-certificate", w);
        if (k == 0)
                k = read_pem(&kc->key, "client-key", w);
        if (k < 0 || kc->token || !kc->token_file)
                return k;
        struct kc_pem t = { .path = strdup(kc->token_file) };
        if (!t.path)
                return -ENOMEM;
        k = read_pem(&t, "tokenFile", w);
        if (k == 0) {
                while (t.len > 0 && (t.data[t.len - 1] == '\n' || t.data[t.len - 1] == '\r' || t.data[t.len - 1] == ' '))
                        t.data[--t.len] = '\0';
                if (t.len == 0 || strlen(t.data) != t.len)
                        k = reason_fail(w, -EINVAL, "kubeconfig: tokenFile %s holds no usable token", t.path);
        }
        if (k == 0)
                kc->token = TAKE_PTR(t.data);
        kc_pem_free(&t);
        return k;
}

static time_t x509_time(const mbedtls_x509_time *t)
{
        struct tm tm = { .tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
                         .tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec };
        return timegm(&tm);
}

static const char *pem_origin(const struct kc_pem *p, const char *inline_name)
{
        return p->path ? p->path : inline_name;
}

static int check_certs(struct kubeconfig *kc, mbedtls_x509_crt *ca, mbedtls_x509_crt *crt, mbedtls_pk_context *pk,
                       const struct reason *w)
{
        char err[100];
        int r = 0;
        if (!strstr(kc->ca.data, "-----BEGIN CERTIFICATE-----") ||
            (r = mbedtls_x509_crt_parse(ca, (const unsigned char *)kc->ca.data, kc->ca.len + 1)) != 0) {
                mbedtls_strerror(r, err, sizeof(err));
                return reason_fail(w, -EINVAL, "kubeconfig: certificate-authority (%s) is not a PEM certificate%s%s",
                                   pem_origin(&kc->ca, "inline"), r ? ": " : "", r ? err : "");
        }
        if (!kc->cert.data)
                return 0;
        r = 0;
        if (!strstr(kc->cert.data, "-----BEGIN CERTIFICATE-----") ||
            (r = mbedtls_x509_crt_parse(crt, (const unsigned char *)kc->cert.data, kc->cert.len + 1)) != 0) {
                mbedtls_strerror(r, err, sizeof(err));
                return reason_fail(w, -EINVAL, "kubeconfig: client-certificate (%s) is not a PEM certificate%s%s",
                                   pem_origin(&kc->cert, "inline"), r ? ": " : "", r ? err : "");
        }
        /* never say more about a key than that it failed */
        if (!strstr(kc->key.data, "-----BEGIN") ||
            mbedtls_pk_parse_key(pk, (const unsigned char *)kc->key.data, kc->key.len + 1, NULL, 0) != 0)
                return reason_fail(w, -EINVAL, "kubeconfig: client-key (%s) is not a PEM private key",
                                   pem_origin(&kc->key, "inline"));
        if (mbedtls_pk_check_pair(&crt->pk, pk) != 0)
                return reason_fail(w, -EINVAL, "kubeconfig: client-key (%s) does not belong to client-certificate (%s)",
                                   pem_origin(&kc->key, "inline"), pem_origin(&kc->cert, "inline"));
        kc->cert_not_after = x509_time(&crt->valid_to);
        return 0;
}

int kubeconfig_check(struct kubeconfig *kc, const struct reason *w)
{
        mbedtls_x509_crt ca, crt;
        mbedtls_pk_context pk;
        if (!kc->ca.data || (kc->cert.data && !kc->key.data))
                return reason_fail(w, -EINVAL, "kubeconfig: files not read");
        mbedtls_x509_crt_init(&ca);
        mbedtls_x509_crt_init(&crt);
        mbedtls_pk_init(&pk);
        int k = check_certs(kc, &ca, &crt, &pk, w);
        mbedtls_pk_free(&pk);
        mbedtls_x509_crt_free(&crt);
        mbedtls_x509_crt_free(&ca);
        return k;
}

int kubeconfig_load(const char *path, struct kubeconfig *ret, const struct reason *w)
{
        _cleanup_free_ char *text = NULL, *dir = NULL;
        struct kubeconfig kc = { 0 };
        size_t len = 0;
        int k = read_file_all(path, KUBECONFIG_MAX_BYTES, &text, &len);
        if (k == -ENOENT)
                return reason_fail(w, -ENOENT, "%s does not exist (yet)", path);
        if (k < 0)
                return reason_fail(w, k, "reading %s failed: %s", path, k == -EFBIG ? "larger than 1 MiB" : strerror(-k));
        dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (slash)
                *(slash == dir ? slash + 1 : slash) = '\0';
        k = kubeconfig_parse(text, len, slash ? dir : ".", &kc, w);
        explicit_bzero(text, len); /* inline keys */
        if (k == 0)
                k = kubeconfig_read_files(&kc, w);
        if (k == 0)
                k = kubeconfig_check(&kc, w);
        if (k < 0) {
                kubeconfig_free(&kc);
                return k;
        }
        *ret = kc;
        return 0;
}
