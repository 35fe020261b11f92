/* SPDX-License-Identifier: Apache-2.0 */
/* Host preparation before rke2 starts: what rke2, its containerd and its
 * kubelet expect of a host that a distribution's packages and systemd would
 * otherwise have provided (docs/rke2-host.md has the reasons):
 *
 *   kernel modules  /etc/ember/rke2-modules.list, loaded with /init's loader
 *   sysctls         forwarding, bridge netfilter, kubelet's kernel tunables …
 *   cgroup2         the controllers kubelet needs, delegated from the root
 *   files           /var/lib/rancher, /etc/rancher/rke2 (0700), /tmp (1777),
 *                   /var/run → /run, /etc/hosts, /etc/machine-id
 *   network         a default route (IPv4 or IPv6), /etc/resolv.conf
 *   userland        the programs rke2, kubelet and the CNI plugins run
 *
 * Every path is taken under a root prefix, so the tests run it against a
 * crafted tree (a fake /proc/sys, /proc/net/route …). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reason.h"

#define HOSTPREP_MODULES_LIST "/etc/ember/rke2-modules.list"
/* What rke2's process tree is given as PATH: rke2 unpacks containerd,
 * runc, kubelet and crictl into /var/lib/rancher/rke2/bin; the image's
 * programs (iptables, mount …) are in the usual places. */
#define HOSTPREP_RKE2_PATH "/var/lib/rancher/rke2/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define HOSTPREP_ATTEST_RESULT "/run/ember/attest/result.json"

struct hostprep_params {
        const char *root;         /* NULL or "/": the running system */
        const char *moddir;       /* /lib/modules/<release>; NULL: skip the modules step */
        const char *modules_list; /* NULL: HOSTPREP_MODULES_LIST (under root) */
        const char *hostname;     /* for /etc/hosts; NULL: gethostname() */
        const char *path;         /* where the tools are looked for; NULL: HOSTPREP_RKE2_PATH */
        bool skip_cgroup;         /* tests without a cgroup tree */
};

/* Runs every step; a step that fails is logged and the others still run,
 * so the console names every problem at once. 0, or the first failure's
 * -errno with its reason in detail (and how many more there were). */
int hostprep_run(const struct hostprep_params *p, char *detail, size_t len);


/* ---- the steps, for the tests ------------------------------------------ */

enum sysctl_how {
        SYSCTL_SET,   /* write the value */
        SYSCTL_RAISE, /* write it only when the current value is lower */
};

struct hostprep_sysctl {
        const char *key; /* "net.ipv4.ip_forward" */
        const char *value;
        enum sysctl_how how;
        bool required; /* absent → error; otherwise a warning */
};

/* The table the node uses, and how many entries it has. */
const struct hostprep_sysctl *hostprep_sysctls(size_t *ret_n);
/* Writes n sysctls under root/proc/sys. 0, or the first failure of a
 * required one (-ENOENT when the kernel lacks it) with its reason. */
int hostprep_apply_sysctls(const char *root, const struct hostprep_sysctl *s, size_t n, const struct reason *w);

/* Is there a usable default route in /proc/net/route (IPv4) or
 * /proc/net/ipv6_route text (either may be NULL)? 1 yes, 0 no, -EBADMSG
 * for text that is not the kernel's format (reason in w). */
int hostprep_default_route(const char *v4, size_t v4len, const char *v6, size_t v6len, char *iface, size_t ifacelen,
                           const struct reason *w);

struct hostprep_tool {
        const char *name;
        bool required;
        const char *why; /* who runs it */
};
const struct hostprep_tool *hostprep_tools(size_t *ret_n);
/* Looks for each tool in path (a PATH list) under root: a regular file with
 * an execute bit, symlinks resolved inside root. 0, or -ENOENT naming the
 * first required tool that is missing; missing optional ones are warnings. */
int hostprep_check_tools(const char *root, const char *path, const struct hostprep_tool *t, size_t n,
                         const struct reason *w);

/* The directories, /var/run, /tmp, /etc/hosts and /etc/machine-id (never
 * overwriting a file the overlay put there). machine_uuid: the attested
 * machine's id ("xxxxxxxx-…") from which /etc/machine-id is derived, or
 * NULL for a random one. */
int hostprep_files(const char *root, const char *hostname, const char *machine_uuid, const struct reason *w);
/* /etc/machine-id's 32 hex digits for a machine UUID: SHA-256 over
 * "ember-machine-id-v1\0" || uuid text, 16 bytes, marked as a v4 UUID the
 * way systemd marks the ids it generates. */
int hostprep_machine_id(const char *machine_uuid, char out[33]);

/* cgroup2 at root/sys/fs/cgroup with the controllers kubelet needs in the
 * root's cgroup.subtree_control. -ENOTSUP naming the missing ones. */
int hostprep_check_cgroup(const char *root, const struct reason *w);
