/* SPDX-License-Identifier: Apache-2.0 */
/* A kubeconfig, as far as the readiness check needs one: the current
 * context's cluster (server URL and CA) and user (client certificate and
 * key, or a bearer token), with every certificate and key decoded to PEM
 * in memory, ready for libcurl's *_BLOB options.
 *
 * Also the bounded YAML loader that this file and rke2conf.c share: a
 * whole document into a small tree, refusing what a configuration never
 * needs and an attacker would use (aliases, so no "billion laughs";
 * duplicate keys; more than one document; deep nesting; huge files). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "reason.h"

/* ---- bounded YAML ------------------------------------------------------- */

#define YDOC_MAX_BYTES (1u << 20) /* a kubeconfig or rke2 config is a few KiB */
#define YDOC_MAX_DEPTH 32
#define YDOC_MAX_NODES 10000

enum ynode_type { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

struct ynode {
        enum ynode_type type;
        unsigned line;       /* 1-based, for messages */
        bool plain;          /* an unquoted scalar ("null", "~" and "" mean null) */
        char *value;         /* YNODE_SCALAR: NUL-terminated */
        size_t len;          /* its length (it may hold NUL bytes: compare with len) */
        struct ynode **kids; /* YNODE_SEQ: items; YNODE_MAP: key, value, key, value… */
        size_t n;            /* entries of kids */
};

/* Parses one YAML document of len bytes (at most YDOC_MAX_BYTES) into
 * *ret (an empty document is an empty mapping). 0, or -EBADMSG/-E2BIG
 * with the reason (line and what was wrong) in w; -ENOMEM. */
int ydoc_parse(const char *text, size_t len, struct ynode **ret, const struct reason *w);
void ynode_free(struct ynode *n);
static inline void ynode_freep(struct ynode **n) { ynode_free(*n); }
/* The value under key in a mapping, or NULL. */
const struct ynode *ymap_get(const struct ynode *map, const char *key);
/* A scalar that is YAML's null (unquoted ~, null, Null, NULL or nothing). */
bool yscalar_is_null(const struct ynode *n);
/* YAML 1.1/1.2 booleans as Go's YAML reads them: 1 true, 0 false, -EINVAL. */
int yscalar_bool(const struct ynode *n);
/* "a mapping", "a sequence", "a string", for messages. */
const char *ynode_kind(const struct ynode *n);

/* ---- kubeconfig --------------------------------------------------------- */

#define KUBECONFIG_MAX_BYTES YDOC_MAX_BYTES
#define KUBECONFIG_PEM_MAX (256u << 10) /* one certificate chain or key */

/* Decoded PEM (or the file's bytes), NUL-terminated; len excludes the NUL. */
struct kc_pem {
        char *data;
        size_t len;
        char *path; /* the file it comes from, or NULL when inline (*-data) */
};

struct kubeconfig {
        char *context, *cluster, *user; /* the names, for messages */
        char *server;                   /* https://HOST[:PORT][/PATH], no trailing '/' */
        struct kc_pem ca;               /* certificate-authority(-data) */
        struct kc_pem cert;             /* client-certificate(-data), or empty */
        struct kc_pem key;              /* client-key(-data), or empty: secret */
        char *token;                    /* bearer token, or NULL: secret */
        char *token_file;               /* tokenFile's path (read into token) */
        /* set by kubeconfig_check() */
        time_t cert_not_after;          /* the client certificate's expiry, or 0 */
};

/* Parse: reads the document and follows current-context to its cluster
 * and user. Inline *-data is base64-decoded; file paths are only recorded
 * (relative ones against base_dir, as kubectl does), never opened. 0, or
 * -EBADMSG (not YAML, or not a kubeconfig's shape) / -EINVAL (a meaning
 * Ember refuses: insecure-skip-tls-verify, exec plugins, no CA, …) with
 * the reason in w; -ENOMEM. *ret is written only on success. */
int kubeconfig_parse(const char *text, size_t len, const char *base_dir, struct kubeconfig *ret,
                     const struct reason *w);
/* Reads the files the kubeconfig names (ca, cert, key) into memory. */
int kubeconfig_read_files(struct kubeconfig *kc, const struct reason *w);
/* Check: the CA and the client certificate parse, the key is the
 * certificate's; records cert_not_after. -EINVAL with the reason. */
int kubeconfig_check(struct kubeconfig *kc, const struct reason *w);
/* All three: read path, parse (base: path's directory), read the files,
 * check. -ENOENT when path does not exist (a kubeconfig not written yet). */
int kubeconfig_load(const char *path, struct kubeconfig *ret, const struct reason *w);
/* Wipes the key and token; accepts a zeroed struct. */
void kubeconfig_free(struct kubeconfig *kc);
