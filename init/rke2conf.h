/* SPDX-License-Identifier: Apache-2.0 */
/* What Ember needs to know of rke2's own configuration, read the way rke2
 * reads it: /etc/rancher/rke2/config.yaml, then the drop-ins
 * /etc/rancher/rke2/config.yaml.d/NAME.yaml in lexical order, a later file's
 * key replacing an earlier one's.
 *
 * The role (server or agent) is decided, in this order:
 *   1. /etc/ember/rke2-role, holding "server" or "agent", wins;
 *   2. no `server:` key: server (the first server bootstraps the cluster);
 *   3. `server:` and any key only a server takes (cluster-init, tls-san,
 *      cni, disable, cluster-cidr, …; see rke2conf.c): server (joining);
 *   4. otherwise agent.
 * Every path takes a root prefix, so that tests read a temporary tree. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "reason.h"

#define RKE2_CONFIG_PATH "/etc/rancher/rke2/config.yaml"
#define RKE2_CONFIG_DROPIN_DIR "/etc/rancher/rke2/config.yaml.d"
#define RKE2_ROLE_PATH "/etc/ember/rke2-role"
#define RKE2_DEFAULT_DATA_DIR "/var/lib/rancher/rke2"
#define RKE2_SERVER_KUBECONFIG "/etc/rancher/rke2/rke2.yaml"
#define RKE2_DROPINS_MAX 64

enum rke2_role { RKE2_ROLE_SERVER, RKE2_ROLE_AGENT };

struct rke2_conf {
        enum rke2_role role;
        char rule[300];         /* which rule decided the role, for the console */
        char *node_name;        /* node-name, else the (lower-cased) hostname */
        bool node_name_from_hostname;
        char *server;           /* server:, or NULL */
        bool have_token;        /* token: or token-file: set (the value is never kept) */
        char *data_dir;         /* data-dir:, else RKE2_DEFAULT_DATA_DIR */
        char *write_kubeconfig; /* write-kubeconfig:, or NULL */
        char *kubeconfig;       /* the kubeconfig the Node's readiness is checked with, as the node sees it */
        unsigned files;         /* config files read (0: none exists) */
};

const char *rke2_role_to_string(enum rke2_role r);
/* A Kubernetes node name (DNS-1123 subdomain: lower-case letters, digits,
 * '-' and '.', alphanumeric at both ends, at most 253 bytes)? */
bool rke2_node_name_valid(const char *s);

/* Reads and decides. root: "" or NULL for "/". 0, or -EINVAL/-EBADMSG with
 * the file, the line and what was wrong in w; -ENOMEM. *ret is written
 * only on success. */
int rke2conf_load(const char *root, struct rke2_conf *ret, const struct reason *w);
void rke2conf_free(struct rke2_conf *c);
/* JSON for `ember-init rke2-config` (malloc), or NULL. */
char *rke2conf_to_json(const struct rke2_conf *c);
