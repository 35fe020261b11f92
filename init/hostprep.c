/* SPDX-License-Identifier: Apache-2.0 */
/* Host preparation for rke2: see hostprep.h, and docs/rke2-host.md for why
 * each module, sysctl, directory and program is there. */
#include "hostprep.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <mbedtls/sha256.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "boot.h"
#include "fileio.h"
#include "log.h"
#include "util.h"
#include "uuid.h"

#define PROC_FILE_MAX (4u << 20) /* /proc/net/route of a router with many routes */
#define CGROUP2_MAGIC 0x63677270
#define RTF_UP_FLAG 0x0001
#define RTF_REJECT_FLAG 0x0200

/* The root prefix joined to an absolute path. */
static int in_root(const char *root, const char *path, char *out, size_t len)
{
        bool plain = !root || !*root || streq(root, "/");
        if ((size_t)snprintf(out, len, "%s%s", plain ? "" : root, path) >= len)
                return -ENAMETOOLONG;
        return 0;
}

/* ---- sysctls ------------------------------------------------------------ */

/* Each with the reason it is set; docs/rke2-host.md has the same table. */
static const struct hostprep_sysctl sysctls[] = {
        /* Pods' traffic is routed through the node: kubelet, kube-proxy and
         * every CNI need forwarding (k3s's agent sets all and default). */
        { "net.ipv4.ip_forward", "1", SYSCTL_SET, true },
        { "net.ipv4.conf.all.forwarding", "1", SYSCTL_SET, true },
        { "net.ipv4.conf.default.forwarding", "1", SYSCTL_SET, true },
        /* The same for IPv6, which a node may run without (ipv6.disable=1). */
        { "net.ipv6.conf.all.forwarding", "1", SYSCTL_SET, false },
        { "net.ipv6.conf.default.forwarding", "1", SYSCTL_SET, false },
        /* Traffic between pods on one node crosses a Linux bridge (flannel's
         * cni0 in canal): without these it bypasses kube-proxy's and the
         * network policies' iptables rules. They exist once br_netfilter is
         * loaded, which the modules step does first. */
        { "net.bridge.bridge-nf-call-iptables", "1", SYSCTL_SET, true },
        { "net.bridge.bridge-nf-call-ip6tables", "1", SYSCTL_SET, true },
        /* Calico's felix (canal's policy half) refuses to start when the
         * reverse-path filter is loose (2); strict (1) on "all" would break
         * asymmetric routing on multi-homed machines, and felix sets strict
         * on each pod interface itself. A sysctl.* kernel argument could
         * have set it: put it back to the kernel's default. */
        { "net.ipv4.conf.all.rp_filter", "0", SYSCTL_SET, true },
        /* kubelet's kernel tunables (setupKernelTunables): with
         * protect-kernel-defaults (rke2's CIS profile) kubelet refuses to
         * start unless they already have these values. */
        { "vm.overcommit_memory", "1", SYSCTL_SET, true },
        { "vm.panic_on_oom", "0", SYSCTL_SET, true },
        { "kernel.panic", "10", SYSCTL_SET, true },
        { "kernel.panic_on_oops", "1", SYSCTL_SET, true },
        /* runc gives each container a session keyring: root's default quota
         * of 200 keys is used up by a few hundred containers. */
        { "kernel.keys.root_maxkeys", "1000000", SYSCTL_RAISE, true },
        { "kernel.keys.root_maxbytes", "25000000", SYSCTL_RAISE, true },
        /* kubelet, containerd and every pod that watches a mounted ConfigMap
         * take inotify instances; the default 128 runs out ("too many open
         * files") on a busy node. */
        { "fs.inotify.max_user_instances", "8192", SYSCTL_RAISE, true },
        { "fs.inotify.max_user_watches", "524288", SYSCTL_RAISE, true },
};

const struct hostprep_sysctl *hostprep_sysctls(size_t *ret_n)
{
        *ret_n = ELEMENTSOF(sysctls);
        return sysctls;
}

static int sysctl_path(const char *root, const char *key, char *out, size_t len)
{
        char rel[256] = "/proc/sys/";
        size_t o = strlen(rel), n = strlen(key);
        if (n == 0 || n >= sizeof(rel) - o)
                return -ENAMETOOLONG;
        for (size_t i = 0; i < n; i++) {
                char c = key[i];
                if (c == '/' || (c == '.' && (i == 0 || key[i - 1] == '.')))
                        return -EINVAL;
                rel[o + i] = c == '.' ? '/' : c;
        }
        rel[o + n] = '\0';
        return in_root(root, rel, out, len);
}

/* Reads a sysctl's value, trailing whitespace removed. */
static int sysctl_read(const char *path, char *out, size_t len)
{
        _cleanup_free_ char *text = NULL;
        size_t n = 0;
        int r = read_file_all(path, 4096, &text, &n);
        if (r < 0)
                return r;
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ' || text[n - 1] == '\t'))
                n--;
        if (n >= len)
                return -E2BIG;
        memcpy(out, text, n);
        out[n] = '\0';
        return 0;
}

static bool parse_ull(const char *s, unsigned long long *ret)
{
        char *end;
        if (!*s || *s < '0' || *s > '9')
                return false;
        errno = 0;
        *ret = strtoull(s, &end, 10);
        return errno == 0 && *end == '\0';
}

static int sysctl_write(const char *path, const char *value)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        char buf[64];
        int n = snprintf(buf, sizeof(buf), "%s\n", value);
        return write_full(fd, buf, (size_t)n);
}

/* One sysctl: 0 written (or already enough), <0 with the reason. */
static int sysctl_apply(const char *root, const struct hostprep_sysctl *s, const struct reason *w)
{
        char path[4096], cur[64];
        unsigned long long have, want;
        int r = sysctl_path(root, s->key, path, sizeof(path));
        if (r < 0)
                return reason_fail(w, r, "sysctl %s: not a sysctl name", s->key);
        if (access(path, F_OK) < 0)
                return reason_fail(w, -ENOENT, "sysctl %s does not exist in this kernel (%s)", s->key, path);
        if (s->how == SYSCTL_RAISE && sysctl_read(path, cur, sizeof(cur)) == 0 && parse_ull(cur, &have) &&
            parse_ull(s->value, &want) && have >= want) {
                log_debug("hostprep", "sysctl %s = %s, at least %s already", s->key, cur, s->value);
                return 0;
        }
        r = sysctl_write(path, s->value);
        if (r < 0)
                return reason_fail(w, r, "setting sysctl %s = %s failed: %s", s->key, s->value, strerror(-r));
        r = sysctl_read(path, cur, sizeof(cur));
        if (r < 0)
                return reason_fail(w, r, "reading sysctl %s back failed: %s", s->key, strerror(-r));
        if (!streq(cur, s->value))
                return reason_fail(w, -EIO, "sysctl %s: the kernel kept %s, not %s", s->key, cur, s->value);
        return 0;
}

int hostprep_apply_sysctls(const char *root, const struct hostprep_sysctl *s, size_t n, const struct reason *w)
{
        char why[300];
        const struct reason ww = { why, sizeof(why) };
        int first = 0;
        unsigned set = 0;

        /* check: every required one exists before any is written */
        for (size_t i = 0; i < n; i++) {
                char path[4096];
                if (!s[i].required)
                        continue;
                int r = sysctl_path(root, s[i].key, path, sizeof(path));
                if (r < 0)
                        return reason_fail(w, r, "sysctl %s: not a sysctl name", s[i].key);
                if (access(path, F_OK) < 0)
                        return reason_fail(w, -ENOENT, "sysctl %s does not exist in this kernel, and rke2 needs it%s",
                                           s[i].key, startswith(s[i].key, "net.bridge.") ? " (is br_netfilter loaded?)" : "");
        }
        for (size_t i = 0; i < n; i++) {
                int r = sysctl_apply(root, &s[i], &ww);
                if (r == 0) {
                        set++;
                        continue;
                }
                if (!s[i].required) {
                        log_warn("hostprep", "%s, ignoring", why);
                        continue;
                }
                log_err("hostprep", "%s", why);
                if (first == 0)
                        first = reason_fail(w, r, "%s", why);
        }
        if (first == 0)
                log_info("hostprep", "%u of %zu sysctls set", set, n);
        return first;
}

/* ---- the default route ------------------------------------------------- */

/* Splits a line into whitespace-separated fields (at most max). Returns
 * the count, or -E2BIG for more. The line is modified. */
static int split_fields(char *line, char **f, int max)
{
        int n = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
                if (n == max)
                        return -E2BIG;
                f[n++] = t;
        }
        return n;
}

/* Exactly n hex digits into *ret (n ≤ 8). */
static bool hex_field(const char *s, size_t n, uint32_t *ret)
{
        uint32_t v = 0;
        if (strlen(s) != n)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                if (d < 0)
                        return false;
                v = v << 4 | (uint32_t)d;
        }
        *ret = v;
        return true;
}

static bool all_zero_hex(const char *s, size_t n)
{
        if (strlen(s) != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] != '0')
                        return false;
        return true;
}

static bool ifname_ok(const char *s)
{
        size_t n = strlen(s);
        return n > 0 && n < 16 && !strchr(s, '/');
}

/* Calls fn on each line of text (a copy, NUL-terminated, without '\n'). */
static int each_line(const char *text, size_t len, int (*fn)(char *line, unsigned no, void *ud), void *ud)
{
        char line[1024];
        unsigned no = 0;
        for (size_t off = 0; off < len;) {
                const char *nl = memchr(text + off, '\n', len - off);
                size_t n = nl ? (size_t)(nl - (text + off)) : len - off;
                no++;
                if (n >= sizeof(line) || memchr(text + off, '\0', n))
                        return -(int)no;
                memcpy(line, text + off, n);
                line[n] = '\0';
                off += n + (nl ? 1 : 0);
                int r = fn(line, no, ud);
                if (r != 0)
                        return r;
        }
        return 0;
}

struct route_scan {
        bool found;
        char iface[16];
};

/* "Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT" */
static int route4_line(char *line, unsigned no, void *ud)
{
        struct route_scan *s = ud;
        char *f[12];
        uint32_t dest, gw, flags, mask;
        int n = split_fields(line, f, 12);
        if (no == 1)
                return n > 0 && streq(f[0], "Iface") ? 0 : -(int)no;
        if (n == 0)
                return 0;
        if (n != 11 || !ifname_ok(f[0]) || !hex_field(f[1], 8, &dest) || !hex_field(f[2], 8, &gw) ||
            !hex_field(f[3], 4, &flags) || !hex_field(f[7], 8, &mask))
                return -(int)no;
        if (dest == 0 && mask == 0 && (flags & RTF_UP_FLAG) && !s->found) {
                s->found = true;
                snprintf(s->iface, sizeof(s->iface), "%s", f[0]);
        }
        return 0;
}

/* "dest plen src splen nexthop metric refcnt use flags iface" (hex) */
static int route6_line(char *line, unsigned no, void *ud)
{
        struct route_scan *s = ud;
        char *f[11];
        uint32_t plen, flags, x;
        int n = split_fields(line, f, 11);
        if (n == 0)
                return 0;
        if (n != 10 || strlen(f[0]) != 32 || !hex_field(f[1], 2, &plen) || strlen(f[2]) != 32 ||
            !hex_field(f[3], 2, &x) || strlen(f[4]) != 32 || !hex_field(f[5], 8, &x) || !hex_field(f[8], 8, &flags) ||
            !ifname_ok(f[9]))
                return -(int)no;
        /* the kernel lists its own ::/0 reject route on lo: not a way out */
        if (all_zero_hex(f[0], 32) && plen == 0 && (flags & RTF_UP_FLAG) && !(flags & RTF_REJECT_FLAG) &&
            !streq(f[9], "lo") && !s->found) {
                s->found = true;
                snprintf(s->iface, sizeof(s->iface), "%s", f[9]);
        }
        return 0;
}

int hostprep_default_route(const char *v4, size_t v4len, const char *v6, size_t v6len, char *iface, size_t ifacelen,
                           const struct reason *w)
{
        struct route_scan s4 = { 0 }, s6 = { 0 };
        int r;
        if (v4 && (r = each_line(v4, v4len, route4_line, &s4)) < 0)
                return reason_fail(w, -EBADMSG, "/proc/net/route: line %d is not the kernel's format", -r);
        if (v6 && (r = each_line(v6, v6len, route6_line, &s6)) < 0)
                return reason_fail(w, -EBADMSG, "/proc/net/ipv6_route: line %d is not the kernel's format", -r);
        if (!s4.found && !s6.found)
                return 0;
        if (iface && ifacelen)
                snprintf(iface, ifacelen, "%s%s", s4.found ? s4.iface : s6.iface, s4.found ? "" : " (IPv6)");
        return 1;
}

static int check_route(const struct hostprep_params *p, const struct reason *w)
{
        char path4[4096], path6[4096], iface[32] = "";
        _cleanup_free_ char *v4 = NULL, *v6 = NULL;
        size_t n4 = 0, n6 = 0;
        int r = in_root(p->root, "/proc/net/route", path4, sizeof(path4));
        if (r == 0)
                r = in_root(p->root, "/proc/net/ipv6_route", path6, sizeof(path6));
        if (r < 0)
                return reason_fail(w, r, "the root prefix is too long");
        r = read_file_all(path4, PROC_FILE_MAX, &v4, &n4);
        if (r < 0 && r != -ENOENT)
                return reason_fail(w, r, "reading %s failed: %s", path4, strerror(-r));
        r = read_file_all(path6, PROC_FILE_MAX, &v6, &n6);
        if (r < 0 && r != -ENOENT) /* absent with ipv6.disable=1 */
                return reason_fail(w, r, "reading %s failed: %s", path6, strerror(-r));
        r = hostprep_default_route(v4, n4, v6, n6, iface, sizeof(iface), w);
        if (r < 0)
                return r;
        if (r == 0)
                return reason_fail(w, -ENETUNREACH, "rke2 requires a default route: neither /proc/net/route nor "
                                   "/proc/net/ipv6_route has one (kubelet picks the node's address from it)");
        log_info("hostprep", "default route on %s", iface);
        return 0;
}

/* ---- userland --------------------------------------------------------- */

/* docs/rke2-host.md has the sources for each. */
static const struct hostprep_tool tools[] = {
        { "iptables", true, "the CNI portmap plugin (hostPort), canal, and kubelet's canary chains" },
        { "iptables-save", true, "the CNI portmap plugin and kubelet (go-iptables, pkg/util/iptables)" },
        { "iptables-restore", true, "the CNI portmap plugin and kubelet (go-iptables, pkg/util/iptables)" },
        { "ip6tables", true, "the CNI portmap plugin and kubelet, for IPv6" },
        { "ip6tables-save", true, "the CNI portmap plugin and kubelet, for IPv6" },
        { "ip6tables-restore", true, "the CNI portmap plugin and kubelet, for IPv6" },
        { "mount", true, "kubelet mounts every volume (secrets, configmaps, emptyDir) by running mount" },
        { "umount", true, "kubelet unmounts volumes by running umount" },
        { "modprobe", true, "rke2's agent loads modules with it, and the kernel runs it to autoload them" },
        { "nft", false, "kube-proxy's nftables mode on the host (rke2 runs kube-proxy in its own image)" },
        { "ip", false, "CNI plugins and operators' debugging" },
        { "losetup", false, "kubelet, for block-mode PersistentVolumes backed by files" },
        { "blkid", false, "kubelet's format-and-mount of block volumes" },
        { "nsenter", false, "kubelet when run containerized; debugging" },
        { "conntrack", false, "clearing stale UDP conntrack entries from the host (kube-proxy has its own)" },
        { "ethtool", false, "flannel/canal turn off checksum offload on vxlan with it on some NICs" },
};

const struct hostprep_tool *hostprep_tools(size_t *ret_n)
{
        *ret_n = ELEMENTSOF(tools);
        return tools;
}

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
struct ember_open_how {
        uint64_t flags, mode, resolve;
};
#define EMBER_RESOLVE_NO_MAGICLINKS 0x02
#define EMBER_RESOLVE_IN_ROOT 0x10

/* Opens root-relative path with symlinks resolved inside root (openat2's
 * RESOLVE_IN_ROOT), so an absolute link in a test tree points into it. */
static int open_in_root(int rootfd, const char *path, int flags)
{
        struct ember_open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC),
                                      .resolve = EMBER_RESOLVE_IN_ROOT | EMBER_RESOLVE_NO_MAGICLINKS };
        while (*path == '/')
                path++;
        long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
        if (fd < 0 && (errno == ENOSYS || errno == E2BIG))
                fd = openat(rootfd, path, flags | O_CLOEXEC); /* kernels before 5.6 */
        return fd < 0 ? negative_errno() : (int)fd;
}

/* 0 found (where in ret), -ENOENT not found, -EACCES found but not an
 * executable regular file. */
static int find_tool(int rootfd, const char *path, const char *name, char *ret, size_t retlen)
{
        _cleanup_free_ char *list = strdup(path);
        int best = -ENOENT;
        if (!list)
                return -ENOMEM;
        char *save = NULL;
        for (char *dir = strtok_r(list, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char p[4096];
                struct stat st;
                if (*dir != '/' || (size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) >= sizeof(p))
                        continue;
                _cleanup_close_ int fd = open_in_root(rootfd, p, O_PATH);
                if (fd < 0)
                        continue;
                if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
                        best = -EACCES;
                        snprintf(ret, retlen, "%s", p);
                        continue;
                }
                snprintf(ret, retlen, "%s", p);
                return 0;
        }
        return best;
}

int hostprep_check_tools(const char *root, const char *path, const struct hostprep_tool *t, size_t n,
                         const struct reason *w)
{
        const char *r0 = root && *root ? root : "/";
        path = path ? path : HOSTPREP_RKE2_PATH;
        _cleanup_close_ int rootfd = open(r0, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int first = 0;
        unsigned found = 0;
        if (rootfd < 0)
                return reason_fail(w, negative_errno(), "opening %s failed: %m", r0);
        for (size_t i = 0; i < n; i++) {
                char where[4096] = "", why[600];
                int r = find_tool(rootfd, path, t[i].name, where, sizeof(where));
                if (r == 0) {
                        found++;
                        log_debug("hostprep", "%s: %s", t[i].name, where);
                        continue;
                }
                if (r == -EACCES)
                        snprintf(why, sizeof(why), "rke2 needs %s in the image: %.300s is not an executable file (%s)",
                                 t[i].name, where, t[i].why);
                else
                        snprintf(why, sizeof(why), "rke2 needs %s in the image: not found in PATH (%.300s); used by %s",
                                 t[i].name, path, t[i].why);
                if (!t[i].required) {
                        log_warn("hostprep", "optional %s %s (%s), ignoring", t[i].name,
                                 r == -EACCES ? "is not an executable file" : "is not in PATH", t[i].why);
                        continue;
                }
                log_err("hostprep", "%s", why);
                if (first == 0)
                        first = reason_fail(w, r == -EACCES ? -EACCES : -ENOENT, "%s", why);
        }
        if (first == 0)
                log_info("hostprep", "%u of %zu programs found in PATH", found, n);
        return first;
}

/* ---- cgroup2 ---------------------------------------------------------- */

static bool has_word(const char *list, const char *word)
{
        size_t n = strlen(word);
        for (const char *p = list; (p = strstr(p, word)); p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
                        return true;
        return false;
}

int hostprep_check_cgroup(const char *root, const struct reason *w)
{
        /* kubelet's cgroup v2 manager needs these in every pod's parent */
        static const char *const required[] = { "cpu", "cpuset", "io", "memory", "pids" };
        static const char *const if_present[] = { "hugetlb" };
        char path[4096], missing[200] = "", absent[200] = "";
        _cleanup_free_ char *avail = NULL, *enabled = NULL;
        size_t n;
        int r;

        if (!root || !*root || streq(root, "/")) {
                struct statfs sf;
                if (statfs("/sys/fs/cgroup", &sf) < 0 || (unsigned long)sf.f_type != CGROUP2_MAGIC)
                        return reason_fail(w, -ENOTSUP, "/sys/fs/cgroup is not a cgroup2 file system: kubelet on "
                                           "Ember needs the unified hierarchy");
        }
        if ((r = in_root(root, "/sys/fs/cgroup/cgroup.controllers", path, sizeof(path))) < 0 ||
            (r = read_file_all(path, 4096, &avail, &n)) < 0)
                return reason_fail(w, r == -ENOENT ? -ENOTSUP : r, "reading %s failed: %s (is cgroup2 mounted?)", path,
                                   strerror(-r));
        if ((r = in_root(root, "/sys/fs/cgroup/cgroup.subtree_control", path, sizeof(path))) < 0 ||
            (r = read_file_all(path, 4096, &enabled, &n)) < 0)
                return reason_fail(w, r, "reading %s failed: %s", path, strerror(-r));
        for (size_t i = 0; i < ELEMENTSOF(required); i++) {
                char *list = !has_word(avail, required[i]) ? absent : !has_word(enabled, required[i]) ? missing : NULL;
                if (list)
                        snprintf(list + strlen(list), 200 - strlen(list), "%s%s", *list ? " " : "", required[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(if_present); i++)
                if (has_word(avail, if_present[i]) && !has_word(enabled, if_present[i]))
                        snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
                                 *missing ? " " : "", if_present[i]);
        if (*absent)
                return reason_fail(w, -ENOTSUP, "the kernel offers no cgroup2 controller %s, which kubelet needs", absent);
        if (*missing)
                return reason_fail(w, -ENOTSUP, "cgroup2 controller%s %s not delegated in the root's "
                                   "cgroup.subtree_control (the mounts stage enables every one)",
                                   strchr(missing, ' ') ? "s" : "", missing);
        return 0;
}

/* ---- files ------------------------------------------------------------ */

/* mkdir -p inside root: missing components made 0755, the last one mode.
 * An existing component must be a directory, never a symlink. */
static int mkdir_in_root(const char *root, const char *path, mode_t mode, bool enforce, const struct reason *w)
{
        char full[4096], rel[4096];
        struct stat st;
        size_t n = strlen(path);
        if (n >= sizeof(rel) || path[0] != '/')
                return reason_fail(w, -EINVAL, "%s: not an absolute path", path);
        for (size_t i = 1; i <= n; i++) {
                if (path[i] != '/' && path[i] != '\0')
                        continue;
                memcpy(rel, path, i);
                rel[i] = '\0';
                bool last = i == n;
                if (in_root(root, rel, full, sizeof(full)) < 0)
                        return reason_fail(w, -ENAMETOOLONG, "%s: path too long", path);
                if (lstat(full, &st) == 0) {
                        if (!S_ISDIR(st.st_mode))
                                return reason_fail(w, -ENOTDIR, "%s exists and is not a directory", rel);
                        if (last && enforce && (st.st_mode & 07777) != mode) {
                                if (chmod(full, mode) < 0)
                                        return reason_fail(w, negative_errno(), "chmod %04o %s failed: %m", mode, rel);
                                log_info("hostprep", "%s had mode %04o, now %04o", rel, st.st_mode & 07777, mode);
                        }
                        continue;
                }
                if (errno != ENOENT)
                        return reason_fail(w, negative_errno(), "%s: %m", rel);
                if (mkdir(full, last ? mode : 0755) < 0 && errno != EEXIST)
                        return reason_fail(w, negative_errno(), "creating %s failed: %m", rel);
                /* mkdir's mode passes through the umask; 1777 and 0700 must be exact */
                if (last && chmod(full, mode) < 0)
                        return reason_fail(w, negative_errno(), "chmod %04o %s failed: %m", mode, rel);
        }
        return 0;
}

static int var_run(const char *root, const struct reason *w)
{
        char full[4096], target[64];
        struct stat st;
        if (in_root(root, "/var/run", full, sizeof(full)) < 0)
                return reason_fail(w, -ENAMETOOLONG, "/var/run: path too long");
        if (lstat(full, &st) < 0) {
                if (errno != ENOENT)
                        return reason_fail(w, negative_errno(), "/var/run: %m");
                if (symlink("/run", full) < 0)
                        return reason_fail(w, negative_errno(), "creating the symlink /var/run → /run failed: %m");
                return 0;
        }
        if (S_ISLNK(st.st_mode)) {
                ssize_t k = readlink(full, target, sizeof(target) - 1);
                target[k > 0 ? k : 0] = '\0';
                if (!streq(target, "/run") && !streq(target, "../run"))
                        log_warn("hostprep", "/var/run points to %s, not /run, ignoring", target);
                return 0;
        }
        if (S_ISDIR(st.st_mode) && rmdir(full) == 0) {
                if (symlink("/run", full) < 0)
                        return reason_fail(w, negative_errno(), "creating the symlink /var/run → /run failed: %m");
                return 0;
        }
        log_warn("hostprep", "/var/run is a %s, not a symlink to /run: containerd's and the CNI's state there is "
                 "not in /run, ignoring", S_ISDIR(st.st_mode) ? "directory with files" : "file");
        return 0;
}

static bool hostname_ok(const char *h)
{
        size_t n = h ? strlen(h) : 0;
        if (n == 0 || n > 253 || h[0] == '-' || h[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= '0' && h[i] <= '9') ||
                      h[i] == '-' || h[i] == '.'))
                        return false;
        return true;
}

/* Writes path (under root) only when it does not exist: the overlay's
 * own file wins. 1 written, 0 kept. */
static int write_if_absent(const char *root, const char *path, const char *text, mode_t mode, const struct reason *w)
{
        char full[4096];
        struct stat st;
        if (in_root(root, path, full, sizeof(full)) < 0)
                return reason_fail(w, -ENAMETOOLONG, "%s: path too long", path);
        if (lstat(full, &st) == 0)
                return 0;
        if (errno != ENOENT)
                return reason_fail(w, negative_errno(), "%s: %m", path);
        int r = write_file_atomic(full, text, strlen(text), mode);
        if (r < 0)
                return reason_fail(w, r, "writing %s failed: %s", path, strerror(-r));
        return 1;
}

int hostprep_machine_id(const char *machine_uuid, char out[33])
{
        static const char label[] = "ember-machine-id-v1";
        uint8_t id[32], u[16];
        if (machine_uuid) {
                if (uuid_parse(machine_uuid, u) < 0)
                        return -EINVAL;
                mbedtls_sha256_context c;
                mbedtls_sha256_init(&c);
                if (mbedtls_sha256_starts_ret(&c, 0) != 0 || mbedtls_sha256_update_ret(&c, (const uint8_t *)label, sizeof(label)) != 0 ||
                    mbedtls_sha256_update_ret(&c, u, sizeof(u)) != 0 || mbedtls_sha256_finish_ret(&c, id) != 0) {
                        mbedtls_sha256_free(&c);
                        return -EIO;
                }
                mbedtls_sha256_free(&c);
        } else if (getrandom_full(id, 16) < 0) {
                return -EIO;
        }
        id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
        id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
        for (int i = 0; i < 16; i++)
                snprintf(out + 2 * i, 3, "%02x", id[i]);
        return 0;
}

static int machine_id(const char *root, const char *machine_uuid, const struct reason *w)
{
        char full[4096], id[33], text[40];
        _cleanup_free_ char *cur = NULL;
        size_t n = 0;
        if (in_root(root, "/etc/machine-id", full, sizeof(full)) < 0)
                return reason_fail(w, -ENAMETOOLONG, "/etc/machine-id: path too long");
        int r = read_file_all(full, 4096, &cur, &n);
        if (r == 0 && n > 0) {
                bool ok = n == 32 || (n == 33 && cur[32] == '\n');
                for (size_t i = 0; ok && i < 32; i++)
                        ok = (cur[i] >= '0' && cur[i] <= '9') || (cur[i] >= 'a' && cur[i] <= 'f');
                if (!ok)
                        return reason_fail(w, -EBADMSG, "/etc/machine-id is not 32 lowercase hex digits: kubelet "
                                           "reports it as the node's machineID");
                return 0;
        }
        if (r < 0 && r != -ENOENT)
                return reason_fail(w, r, "reading /etc/machine-id failed: %s", strerror(-r));
        if (hostprep_machine_id(machine_uuid, id) < 0)
                return reason_fail(w, -EIO, "making a machine id failed");
        snprintf(text, sizeof(text), "%s\n", id);
        if ((r = write_file_atomic(full, text, strlen(text), 0444)) < 0)
                return reason_fail(w, r, "writing /etc/machine-id failed: %s", strerror(-r));
        if (machine_uuid)
                log_info("hostprep", "/etc/machine-id %s, derived from the attested machine %s", id, machine_uuid);
        else
                log_warn("hostprep", "/etc/machine-id %s is random: no attested machine id, so it changes every boot", id);
        return 0;
}

int hostprep_files(const char *root, const char *hostname, const char *machine_uuid, const struct reason *w)
{
        static const struct {
                const char *path;
                mode_t mode;
                bool enforce; /* set the mode on an existing directory too */
        } dirs[] = {
                { "/var/lib/rancher", 0755, false },
                /* rke2.yaml (the admin kubeconfig) and config.yaml (the token) */
                { "/etc/rancher/rke2", 0700, true },
                { "/var/lib/kubelet", 0750, false },
                { "/var/log", 0755, false },
                { "/tmp", 01777, true },
        };
        char hosts[600];
        int r;
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                if ((r = mkdir_in_root(root, dirs[i].path, dirs[i].mode, dirs[i].enforce, w)) < 0)
                        return r;
        if ((r = var_run(root, w)) < 0)
                return r;

        size_t o = (size_t)snprintf(hosts, sizeof(hosts), "# written by Ember's /init (the overlay has none)\n"
                                    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        if (hostname_ok(hostname) && !streq(hostname, "localhost"))
                snprintf(hosts + o, sizeof(hosts) - o, "127.0.1.1\t%s\n", hostname);
        else
                log_warn("hostprep", "no usable hostname for /etc/hosts, only localhost in it");
        if ((r = write_if_absent(root, "/etc/hosts", hosts, 0644, w)) < 0)
                return r;
        log_info("hostprep", "/etc/hosts %s", r ? "written" : "kept as it is (the overlay's or an earlier run's)");
        return machine_id(root, machine_uuid, w);
}

static int check_resolv(const char *root)
{
        char full[4096];
        struct stat st;
        if (in_root(root, "/etc/resolv.conf", full, sizeof(full)) < 0)
                return -ENAMETOOLONG;
        if (stat(full, &st) < 0)
                log_warn("hostprep", "no /etc/resolv.conf (DHCP named no DNS server): rke2 falls back to 8.8.8.8 for "
                         "CoreDNS and kubelet, ignoring");
        else if (st.st_size == 0)
                log_warn("hostprep", "/etc/resolv.conf is empty: rke2 falls back to 8.8.8.8, ignoring");
        return 0;
}

/* ---- the run ---------------------------------------------------------- */

/* The attested machine's id, from what the attest stage left. */
static char *attested_machine(const char *root)
{
        char full[4096];
        _cleanup_free_ char *text = NULL;
        size_t n = 0;
        uint8_t u[16];
        if (in_root(root, HOSTPREP_ATTEST_RESULT, full, sizeof(full)) < 0 || read_file_all(full, 65536, &text, &n) < 0)
                return NULL;
        json_object *o = json_tokener_parse(text), *v;
        char *ret = NULL;
        if (o && json_object_object_get_ex(o, "machine", &v) && json_object_is_type(v, json_type_string) &&
            uuid_parse(json_object_get_string(v), u) == 0)
                ret = strdup(json_object_get_string(v));
        json_object_put(o);
        return ret;
}

static int step_modules(const struct hostprep_params *p, const struct reason *w)
{
        char list[4096];
        if (!p->moddir)
                return 0;
        if (in_root(p->root, p->modules_list ? p->modules_list : HOSTPREP_MODULES_LIST, list, sizeof(list)) < 0)
                return reason_fail(w, -ENAMETOOLONG, "module list path too long");
        char detail[160] = "";
        int r = modules_load_list(p->moddir, list, detail, sizeof(detail));
        if (r != 0)
                return reason_fail(w, r < 0 ? r : -EIO, "loading the modules rke2 needs (%s): %s", list,
                                   detail[0] ? detail : strerror(r < 0 ? -r : EIO));
        log_info("hostprep", "modules for rke2: %s", detail);
        return 0;
}

static int step_sysctls(const struct hostprep_params *p, const struct reason *w)
{
        return hostprep_apply_sysctls(p->root, sysctls, ELEMENTSOF(sysctls), w);
}

static int step_cgroup(const struct hostprep_params *p, const struct reason *w)
{
        return p->skip_cgroup ? 0 : hostprep_check_cgroup(p->root, w);
}

static int step_files(const struct hostprep_params *p, const struct reason *w)
{
        char host[256] = "";
        const char *h = p->hostname;
        if (!h && gethostname(host, sizeof(host) - 1) == 0)
                h = host;
        _cleanup_free_ char *machine = attested_machine(p->root);
        int r = hostprep_files(p->root, h, machine, w);
        return r < 0 ? r : check_resolv(p->root);
}

static int step_tools(const struct hostprep_params *p, const struct reason *w)
{
        return hostprep_check_tools(p->root, p->path, tools, ELEMENTSOF(tools), w);
}

int hostprep_run(const struct hostprep_params *p, char *detail, size_t len)
{
        static const struct {
                const char *name;
                int (*fn)(const struct hostprep_params *p, const struct reason *w);
        } steps[] = {
                { "modules", step_modules }, /* first: the bridge sysctls need br_netfilter */
                { "sysctls", step_sysctls },
                { "cgroup2", step_cgroup },
                { "files", step_files },
                { "route", check_route },
                { "programs", step_tools },
        };
        const struct reason w = { detail, len };
        char why[600];
        const struct reason ww = { why, sizeof(why) };
        int first = 0, failed = 0;

        if (!p)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                why[0] = '\0';
                int r = steps[i].fn(p, &ww);
                if (r >= 0)
                        continue;
                log_err("hostprep", "%s: %s", steps[i].name, why[0] ? why : strerror(-r));
                if (failed++ == 0)
                        first = reason_fail(&w, r, "%s", why[0] ? why : strerror(-r));
        }
        if (failed > 1) {
                size_t o = strlen(detail);
                if (o < len)
                        snprintf(detail + o, len - o, " (and %d more problems, see above)", failed - 1);
        }
        if (failed == 0)
                snprintf(detail, len, "host ready for rke2: modules, %zu sysctls, cgroup2, files, default route, "
                         "programs", ELEMENTSOF(sysctls));
        return first;
}
