/* SPDX-License-Identifier: Apache-2.0 */
/* The kubeconfig rke2 writes on a server (/etc/rancher/rke2/rke2.yaml):
 * certificates inline as base64 *-data. A printf format taking the CA,
 * the API port, the client certificate and its key (base64 each). Shared
 * by the rke2 stand-in and the kubeconfig unit tests. */
#pragma once

#define KUBECONFIG_INLINE_FMT                          \
        "apiVersion: v1\n"                             \
        "clusters:\n"                                  \
        "- cluster:\n"                                 \
        "    certificate-authority-data: %s\n"         \
        "    server: https://127.0.0.1:%u\n"           \
        "  name: default\n"                            \
        "contexts:\n"                                  \
        "- context:\n"                                 \
        "    cluster: default\n"                       \
        "    user: default\n"                          \
        "  name: default\n"                            \
        "current-context: default\n"                   \
        "kind: Config\n"                               \
        "preferences: {}\n"                            \
        "users:\n"                                     \
        "- name: default\n"                            \
        "  user:\n"                                    \
        "    client-certificate-data: %s\n"            \
        "    client-key-data: %s\n"

/* The kubeconfig rke2's agent writes (<data-dir>/agent/kubelet.kubeconfig):
 * file paths. A printf format taking the API port, the CA's path, the
 * client certificate's and its key's. */
#define KUBECONFIG_FILES_FMT                           \
        "apiVersion: v1\n"                             \
        "clusters:\n"                                  \
        "- cluster:\n"                                 \
        "    server: https://127.0.0.1:%u\n"           \
        "    certificate-authority: %s\n"              \
        "  name: local\n"                              \
        "contexts:\n"                                  \
        "- context:\n"                                 \
        "    cluster: local\n"                         \
        "    namespace: default\n"                     \
        "    user: user\n"                             \
        "  name: Default\n"                            \
        "current-context: Default\n"                   \
        "kind: Config\n"                               \
        "preferences: {}\n"                            \
        "users:\n"                                     \
        "- name: user\n"                               \
        "  user:\n"                                    \
        "    client-certificate: %s\n"                 \
        "    client-key: %s\n"
