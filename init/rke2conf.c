/* SPDX-License-Identifier: Apache-2.0 */
/* rke2's config.yaml and its drop-ins: parse each file (a mapping of
 * settings), merge them in rke2's order, then decide role, node name and
 * kubeconfig. Nothing here starts or changes anything. */
#include "rke2conf.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "kubeconfig.h"
#include "log.h"
#include "util.h"

#define ROLE_FILE_MAX 64
#define NODE_NAME_MAX 253

/* Keys only `rke2 server` takes (rke2's server flags that the agent lacks):
 * their presence next to `server:` means a server joining a cluster.
 * node-taint and node-label are for both; so are the agent's own. */
static const char *const server_only_exact[] = {
        "cluster-init",      "cni",                "cluster-cidr",         "service-cidr",
        "service-node-port-range", "cluster-dns",  "cluster-domain",       "egress-selector-mode",
        "agent-token",       "agent-token-file",   "advertise-address",    "advertise-port",
        "embedded-registry", "ingress-controller", "audit-policy-file",    "pod-security-admission-config-file",
        "enable-servicelb",  "servicelb-namespace", "helm-job-image",      "disable",
        "supervisor-metrics", "bind-address",      "https-listen-port",
};
static const char *const server_only_prefix[] = {
        "etcd-",          "tls-san",       "write-kubeconfig", "cluster-reset", "datastore-", "secrets-encryption",
        "kube-apiserver", "kube-scheduler", "kube-controller-manager", "kube-cloud-controller-manager",
        "control-plane-", "disable-",
};
/* "disable-" keys that the agent takes as well */
static const char *const both_roles[] = { "disable-default-registry-endpoint", "disable-apiserver-lb" };

static bool key_server_only(const char *k)
{
        for (size_t i = 0; i < ELEMENTSOF(both_roles); i++)
                if (streq(k, both_roles[i]))
                        return false;
        for (size_t i = 0; i < ELEMENTSOF(server_only_exact); i++)
                if (streq(k, server_only_exact[i]))
                        return true;
        for (size_t i = 0; i < ELEMENTSOF(server_only_prefix); i++)
                if (startswith(k, server_only_prefix[i]))
                        return true;
        return false;
}

const char *rke2_role_to_string(enum rke2_role r) { return r == RKE2_ROLE_AGENT ? "agent" : "server"; }

void rke2conf_free(struct rke2_conf *c)
{
        if (!c)
                return;
        free(c->node_name);
        free(c->server);
        free(c->data_dir);
        free(c->write_kubeconfig);
        free(c->kubeconfig);
        *c = (struct rke2_conf){ 0 };
}

/* ---- parse: the merged settings ----------------------------------------- */

/* One top-level key after merging: the last file that set it wins. */
struct setting {
        char key[96];
        char file[96];     /* relative to /etc/rancher/rke2, for messages */
        unsigned line;
        bool set;          /* not null, false or empty */
        char *str;         /* the value, when a string */
};

struct merged {
        struct setting *s;
        size_t n;
        unsigned files;
};

static void merged_free(struct merged *m)
{
        for (size_t i = 0; i < m->n; i++) {
                if (m->s[i].str)
                        explicit_bzero(m->s[i].str, strlen(m->s[i].str)); /* token: */
                free(m->s[i].str);
        }
        free(m->s);
}

static const struct setting *merged_get(const struct merged *m, const char *key)
{
        for (size_t i = 0; i < m->n; i++)
                if (streq(m->s[i].key, key))
                        return &m->s[i];
        return NULL;
}

static bool value_set(const struct ynode *v)
{
        if (yscalar_is_null(v) || yscalar_bool(v) == 0)
                return false;
        return v->type == YNODE_SCALAR ? v->len > 0 : v->n > 0;
}

static int merge_key(struct merged *m, const char *file, const struct ynode *k, const struct ynode *v,
                     const struct reason *w)
{
        char name[96], e[80];
        if (k->len == 0 || k->len >= sizeof(name) || strlen(k->value) != k->len)
                return reason_fail(w, -EBADMSG, "%s: line %u: key \"%s\" is not a setting name", file, k->line,
                                   log_escape(k->value, e, sizeof(e)));
        memcpy(name, k->value, k->len + 1);
        if (name[k->len - 1] == '+') /* "key+:" appends to an earlier file's list */
                name[k->len - 1] = '\0';
        struct setting *s = (struct setting *)merged_get(m, name);
        if (!s) {
                if (m->n >= YDOC_MAX_NODES)
                        return -E2BIG;
                struct setting *ns = reallocarray(m->s, m->n + 1, sizeof(*ns));
                if (!ns)
                        return -ENOMEM;
                m->s = ns;
                s = &m->s[m->n++];
                *s = (struct setting){ 0 };
                snprintf(s->key, sizeof(s->key), "%s", name);
        }
        free(s->str);
        s->str = NULL;
        snprintf(s->file, sizeof(s->file), "%s", file);
        s->line = k->line;
        s->set = value_set(v);
        if (v->type == YNODE_SCALAR && !yscalar_is_null(v) && strlen(v->value) == v->len) {
                s->str = strdup(v->value);
                if (!s->str)
                        return -ENOMEM;
        }
        return 0;
}

static int merge_file(struct merged *m, const char *path, const char *name, const struct reason *w)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_(ynode_freep) struct ynode *root = NULL;
        char why[200] = "";
        size_t len;
        int k = read_file_all(path, YDOC_MAX_BYTES, &text, &len);
        if (k == -ENOENT)
                return 0;
        if (k < 0)
                return reason_fail(w, k == -ENOMEM ? k : -EINVAL, "%s: %s", path,
                                   k == -EFBIG ? "larger than 1 MiB" : strerror(-k));
        k = ydoc_parse(text, len, &root, &(struct reason){ why, sizeof(why) });
        explicit_bzero(text, len);
        if (k < 0)
                return k == -ENOMEM ? k : reason_fail(w, -EBADMSG, "%s: %s", name, why);
        if (root->type != YNODE_MAP)
                return reason_fail(w, -EBADMSG, "%s: must be a mapping of settings, not %s", name, ynode_kind(root));
        m->files++;
        for (size_t i = 0; i + 1 < root->n; i += 2)
                if ((k = merge_key(m, name, root->kids[i], root->kids[i + 1], w)) < 0)
                        return k;
        return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int dropin_names(const char *dir, char ***ret, size_t *ret_n, const struct reason *w)
{
        DIR *d = opendir(dir);
        char **names = NULL;
        size_t n = 0;
        int k = 0;
        *ret = NULL;
        *ret_n = 0;
        if (!d)
                return errno == ENOENT || errno == ENOTDIR ? 0 : reason_fail(w, -EINVAL, "%s: %s", dir, strerror(errno));
        for (struct dirent *de; (de = readdir(d));) {
                size_t l = strlen(de->d_name);
                if (l <= 5 || strcmp(de->d_name + l - 5, ".yaml") != 0 || de->d_name[0] == '.')
                        continue;
                if (n >= RKE2_DROPINS_MAX) {
                        k = reason_fail(w, -E2BIG, "%s: more than %u drop-ins", dir, RKE2_DROPINS_MAX);
                        break;
                }
                char **nn = reallocarray(names, n + 1, sizeof(*nn));
                if (!nn || !(nn[n] = strdup(de->d_name))) {
                        names = nn ? nn : names;
                        k = -ENOMEM;
                        break;
                }
                names = nn;
                n++;
        }
        closedir(d);
        if (k < 0) {
                for (size_t i = 0; i < n; i++)
                        free(names[i]);
                free(names);
                return k;
        }
        if (n)
                qsort(names, n, sizeof(*names), cmp_str);
        *ret = names;
        *ret_n = n;
        return 0;
}

static int merge_all(const char *root, struct merged *m, const struct reason *w)
{
        char path[PATH_MAX], dir[PATH_MAX], name[96];
        char **names = NULL;
        size_t n = 0;
        snprintf(path, sizeof(path), "%s%s", root, RKE2_CONFIG_PATH);
        int k = merge_file(m, path, "config.yaml", w);
        if (k < 0)
                return k;
        snprintf(dir, sizeof(dir), "%s%s", root, RKE2_CONFIG_DROPIN_DIR);
        k = dropin_names(dir, &names, &n, w);
        for (size_t i = 0; k == 0 && i < n; i++) {
                if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path) ||
                    (size_t)snprintf(name, sizeof(name), "config.yaml.d/%s", names[i]) >= sizeof(name))
                        k = reason_fail(w, -EINVAL, "%s: a drop-in's name is too long", RKE2_CONFIG_DROPIN_DIR);
                else
                        k = merge_file(m, path, name, w);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return k;
}

/* ---- check and decide ---------------------------------------------------- */

/* A string setting, or NULL; -EINVAL when it is set to a list or mapping. */
static int setting_str(const struct merged *m, const char *key, const char **ret, const struct reason *w)
{
        const struct setting *s = merged_get(m, key);
        *ret = NULL;
        if (!s || !s->set)
                return 0;
        if (!s->str)
                return reason_fail(w, -EINVAL, "%s: line %u: %s must be a string", s->file, s->line, key);
        *ret = s->str;
        return 0;
}

bool rke2_node_name_valid(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > NODE_NAME_MAX || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' || s[i] == '.'))
                        return false;
        return true;
}

static int read_role_file(const char *root, int *ret, const struct reason *w)
{
        char path[PATH_MAX];
        _cleanup_free_ char *text = NULL;
        size_t len;
        snprintf(path, sizeof(path), "%s%s", root, RKE2_ROLE_PATH);
        *ret = -1;
        int k = read_file_all(path, ROLE_FILE_MAX, &text, &len);
        if (k == -ENOENT)
                return 0;
        if (k < 0)
                return reason_fail(w, -EINVAL, "%s: %s", RKE2_ROLE_PATH, k == -EFBIG ? "too long" : strerror(-k));
        while (len > 0 && isspace((unsigned char)text[len - 1]))
                text[--len] = '\0';
        if (streq(text, "server"))
                *ret = RKE2_ROLE_SERVER;
        else if (streq(text, "agent"))
                *ret = RKE2_ROLE_AGENT;
        else
                return reason_fail(w, -EINVAL, "%s: expected \"server\" or \"agent\"", RKE2_ROLE_PATH);
        return 0;
}

static const struct setting *first_server_only(const struct merged *m)
{
        for (size_t i = 0; i < m->n; i++)
                if (m->s[i].set && key_server_only(m->s[i].key))
                        return &m->s[i];
        return NULL;
}

static int decide_role(const char *root, const struct merged *m, struct rke2_conf *c, const struct reason *w)
{
        int forced;
        int k = read_role_file(root, &forced, w);
        if (k < 0)
                return k;
        const struct setting *so = first_server_only(m);
        if (forced >= 0) {
                c->role = (enum rke2_role)forced;
                snprintf(c->rule, sizeof(c->rule), "%s says %s", RKE2_ROLE_PATH, rke2_role_to_string(c->role));
        } else if (!c->server) {
                c->role = RKE2_ROLE_SERVER;
                snprintf(c->rule, sizeof(c->rule), "%s, so this node starts the cluster",
                         m->files ? "no server: key in the rke2 config" : "no rke2 config (so no server: key)");
        } else if (so) {
                c->role = RKE2_ROLE_SERVER;
                snprintf(c->rule, sizeof(c->rule), "server: is set and so is %s (%s line %u), which only a server "
                         "takes: a server joining the cluster", so->key, so->file, so->line);
        } else {
                c->role = RKE2_ROLE_AGENT;
                snprintf(c->rule, sizeof(c->rule), "server: is set and no server-only key is: an agent");
        }
        return 0;
}

static int node_name(const struct merged *m, struct rke2_conf *c, const struct reason *w)
{
        const char *name;
        char host[256], e[80];
        int k = setting_str(m, "node-name", &name, w);
        if (k < 0)
                return k;
        if (!name) { /* as the kubelet does: the hostname, lower-cased */
                if (gethostname(host, sizeof(host)) < 0)
                        return reason_fail(w, -EINVAL, "gethostname: %s", strerror(errno));
                host[sizeof(host) - 1] = '\0';
                for (char *p = host; *p; p++)
                        *p = (char)tolower((unsigned char)*p);
                name = host;
                c->node_name_from_hostname = true;
        }
        if (!rke2_node_name_valid(name))
                return reason_fail(w, -EINVAL, "node name \"%s\"%s is not a valid Kubernetes node name (lower-case "
                                   "letters, digits, '-' and '.')", log_escape(name, e, sizeof(e)),
                                   c->node_name_from_hostname ? " (the hostname)" : "");
        c->node_name = strdup(name);
        return c->node_name ? 0 : -ENOMEM;
}

static int paths(const struct merged *m, struct rke2_conf *c, const struct reason *w)
{
        const char *dd, *wk, *srv;
        int k = setting_str(m, "data-dir", &dd, w);
        if (k == 0)
                k = setting_str(m, "write-kubeconfig", &wk, w);
        if (k == 0)
                k = setting_str(m, "server", &srv, w);
        if (k < 0)
                return k;
        if (dd && dd[0] != '/')
                return reason_fail(w, -EINVAL, "data-dir must be an absolute path");
        if (wk && wk[0] != '/')
                return reason_fail(w, -EINVAL, "write-kubeconfig must be an absolute path");
        if (srv && !startswith(srv, "https://"))
                return reason_fail(w, -EINVAL, "server must be an https:// URL");
        const struct setting *tok = merged_get(m, "token"), *tokf = merged_get(m, "token-file");
        c->have_token = (tok && tok->set) || (tokf && tokf->set);
        c->data_dir = strdup(dd ? dd : RKE2_DEFAULT_DATA_DIR);
        c->write_kubeconfig = wk ? strdup(wk) : NULL;
        c->server = srv ? strdup(srv) : NULL;
        if (!c->data_dir || (wk && !c->write_kubeconfig) || (srv && !c->server))
                return -ENOMEM;
        return 0;
}

int rke2conf_load(const char *root, struct rke2_conf *ret, const struct reason *w)
{
        struct merged m = { 0 };
        struct rke2_conf c = { 0 };
        root = root ? root : "";
        int k = merge_all(root, &m, w);
        if (k == 0)
                k = paths(&m, &c, w);
        if (k == 0)
                k = node_name(&m, &c, w);
        if (k == 0)
                k = decide_role(root, &m, &c, w);
        c.files = m.files;
        merged_free(&m);
        if (k == 0) {
                char kc[PATH_MAX];
                if (c.role == RKE2_ROLE_SERVER)
                        snprintf(kc, sizeof(kc), "%s", c.write_kubeconfig ? c.write_kubeconfig : RKE2_SERVER_KUBECONFIG);
                else
                        snprintf(kc, sizeof(kc), "%s/agent/kubelet.kubeconfig", c.data_dir);
                c.kubeconfig = strdup(kc);
                k = c.kubeconfig ? 0 : -ENOMEM;
        }
        if (k < 0) {
                rke2conf_free(&c);
                return k;
        }
        *ret = c;
        return 0;
}

char *rke2conf_to_json(const struct rke2_conf *c)
{
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "role", json_object_new_string(rke2_role_to_string(c->role)));
        json_object_object_add(o, "rule", json_object_new_string(c->rule));
        json_object_object_add(o, "node_name", json_object_new_string(c->node_name));
        json_object_object_add(o, "node_name_from", json_object_new_string(c->node_name_from_hostname ? "hostname"
                                                                                                   : "node-name"));
        json_object_object_add(o, "kubeconfig", json_object_new_string(c->kubeconfig));
        json_object_object_add(o, "server", c->server ? json_object_new_string(c->server) : NULL);
        json_object_object_add(o, "token", json_object_new_boolean(c->have_token));
        json_object_object_add(o, "data_dir", json_object_new_string(c->data_dir));
        json_object_object_add(o, "config_files", json_object_new_int((int)c->files));
        const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        char *s = t ? strdup(t) : NULL;
        json_object_put(o);
        return s;
}
