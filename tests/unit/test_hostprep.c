/* SPDX-License-Identifier: Apache-2.0 */
/* Host preparation against crafted roots: a fake /proc/sys, /proc/net/route
 * files as the kernel writes them, PATH directories with and without the
 * programs, and the files it creates (modes, never overwriting). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"
#include "hostprep.h"

static char root[64];

static void path_of(char *out, size_t len, const char *rel)
{
        snprintf(out, len, "%s%s", root, rel);
}

static void mkdirs(const char *rel)
{
        char p[512], buf[512];
        path_of(p, sizeof(p), rel);
        for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) {
                memcpy(buf, p, (size_t)(s - p));
                buf[s - p] = '\0';
                (void)mkdir(buf, 0755);
        }
        (void)mkdir(p, 0755);
}

static void put(const char *rel, const char *text, mode_t mode)
{
        char p[512], dir[512];
        snprintf(dir, sizeof(dir), "%s", rel);
        *strrchr(dir, '/') = '\0';
        if (*dir)
                mkdirs(dir);
        path_of(p, sizeof(p), rel);
        assert_int_equal(write_file_atomic(p, text, strlen(text), mode), 0);
}

static char *get(const char *rel)
{
        char p[512], *text = NULL;
        size_t n;
        path_of(p, sizeof(p), rel);
        return read_file_all(p, 1 << 20, &text, &n) == 0 ? text : NULL;
}

static int setup(void **state)
{
        snprintf(root, sizeof(root), "/tmp/ember-test-hostprep.XXXXXX");
        assert_non_null(mkdtemp(root));
        return 0;
}

static int teardown(void **state)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        return system(cmd) == 0 ? 0 : -1;
}

/* A /proc/sys with every sysctl of the table, at the kernel's defaults. */
static void fake_proc_sys(const char *skip)
{
        size_t n;
        const struct hostprep_sysctl *s = hostprep_sysctls(&n);
        for (size_t i = 0; i < n; i++) {
                char rel[256] = "/proc/sys/";
                if (skip && strcmp(s[i].key, skip) == 0)
                        continue;
                for (size_t k = 0; s[i].key[k]; k++)
                        rel[10 + k] = s[i].key[k] == '.' ? '/' : s[i].key[k];
                put(rel, strstr(s[i].key, "max_user_watches") ? "1048576\n" : "0\n", 0644);
        }
}

static void test_sysctls_written(void **state)
{
        char why[300] = "";
        const struct reason w = { why, sizeof(why) };
        size_t n;
        const struct hostprep_sysctl *s = hostprep_sysctls(&n);
        fake_proc_sys(NULL);
        assert_int_equal(hostprep_apply_sysctls(root, s, n, &w), 0);
        char *v = get("/proc/sys/net/ipv4/ip_forward");
        assert_string_equal(v, "1\n");
        free(v);
        v = get("/proc/sys/net/bridge/bridge-nf-call-iptables");
        assert_string_equal(v, "1\n");
        free(v);
        v = get("/proc/sys/kernel/panic");
        assert_string_equal(v, "10\n");
        free(v);
        v = get("/proc/sys/fs/inotify/max_user_instances");
        assert_string_equal(v, "8192\n");
        free(v);
        /* raised only: a larger value stays */
        v = get("/proc/sys/fs/inotify/max_user_watches");
        assert_string_equal(v, "1048576\n");
        free(v);
}

static void test_sysctl_missing_required(void **state)
{
        char why[300] = "";
        const struct reason w = { why, sizeof(why) };
        size_t n;
        const struct hostprep_sysctl *s = hostprep_sysctls(&n);
        fake_proc_sys("net.bridge.bridge-nf-call-iptables");
        assert_int_equal(hostprep_apply_sysctls(root, s, n, &w), -ENOENT);
        assert_non_null(strstr(why, "net.bridge.bridge-nf-call-iptables does not exist"));
        assert_non_null(strstr(why, "br_netfilter"));
        /* checked before anything was written */
        char *v = get("/proc/sys/net/ipv4/ip_forward");
        assert_string_equal(v, "0\n");
        free(v);
}

static void test_sysctl_missing_optional(void **state)
{
        char why[300] = "";
        const struct reason w = { why, sizeof(why) };
        size_t n;
        const struct hostprep_sysctl *s = hostprep_sysctls(&n);
        fake_proc_sys("net.ipv6.conf.all.forwarding"); /* ipv6.disable=1 */
        assert_int_equal(hostprep_apply_sysctls(root, s, n, &w), 0);
        char *v = get("/proc/sys/net/ipv4/ip_forward");
        assert_string_equal(v, "1\n");
        free(v);
}

static void test_sysctl_bad_key(void **state)
{
        char why[300] = "";
        const struct reason w = { why, sizeof(why) };
        const struct hostprep_sysctl bad[] = { { "net..ipv4", "1", SYSCTL_SET, true } };
        const struct hostprep_sysctl slash[] = { { "net/../../etc", "1", SYSCTL_SET, true } };
        assert_int_equal(hostprep_apply_sysctls(root, bad, 1, &w), -EINVAL);
        assert_int_equal(hostprep_apply_sysctls(root, slash, 1, &w), -EINVAL);
}

#define ROUTE_HDR                                                                                                   \
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                   " \
        "                                    \n"
#define V6_LO_REJECT                                                                                                 \
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 " \
        "ffffffff 00000001 00000000 00200200       lo\n"

static int route(const char *v4, const char *v6, char *iface)
{
        char why[300] = "";
        const struct reason w = { why, sizeof(why) };
        return hostprep_default_route(v4, v4 ? strlen(v4) : 0, v6, v6 ? strlen(v6) : 0, iface, 32, &w);
}

static void test_default_route(void **state)
{
        char iface[32] = "";
        /* none at all */
        assert_int_equal(route(ROUTE_HDR, NULL, iface), 0);
        /* only link routes (a /24 on eth0, no gateway) */
        assert_int_equal(route(ROUTE_HDR "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", V6_LO_REJECT,
                               iface), 0);
        /* a default route that is down */
        assert_int_equal(route(ROUTE_HDR "eth0\t00000000\t0102000A\t0002\t0\t0\t0\t00000000\t0\t0\t0\n", NULL, iface), 0);
        /* a default route via a gateway */
        assert_int_equal(route(ROUTE_HDR "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
                                         "eth0\t00000000\t0102000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n",
                               V6_LO_REJECT, iface),
                         1);
        assert_string_equal(iface, "eth0");
        /* IPv6 only: ::/0 via a router on ens3 (and the kernel's own reject route on lo) */
        assert_int_equal(route(ROUTE_HDR, V6_LO_REJECT
                               "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
                               "fe800000000000000000000000000001 00000400 00000001 00000000 00450003     ens3\n",
                               iface),
                         1);
        assert_string_equal(iface, "ens3 (IPv6)");
        /* no IPv4 route file at all (only IPv6) */
        assert_int_equal(route(NULL, V6_LO_REJECT, iface), 0);
}

static void test_default_route_garbage(void **state)
{
        char iface[32] = "";
        assert_int_equal(route("not a route table\n", NULL, iface), -EBADMSG);
        assert_int_equal(route(ROUTE_HDR "eth0\t0000000G\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n", NULL, iface),
                         -EBADMSG);
        assert_int_equal(route(ROUTE_HDR "eth0\t00000000\t00000000\t0001\t0\n", NULL, iface), -EBADMSG);
        assert_int_equal(route(ROUTE_HDR, "0000 00 lo\n", iface), -EBADMSG);
        char nul[] = ROUTE_HDR "eth0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n";
        nul[sizeof(ROUTE_HDR) + 2] = '\0';
        char why[100];
        const struct reason w = { why, sizeof(why) };
        assert_int_equal(hostprep_default_route(nul, sizeof(nul) - 1, NULL, 0, iface, 32, &w), -EBADMSG);
}

static void test_route_in_run(void **state)
{
        char detail[600] = "";
        struct hostprep_params p = { .root = root, .skip_cgroup = true, .hostname = "node-1", .path = "/bin" };
        fake_proc_sys(NULL);
        put("/proc/net/route", ROUTE_HDR "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", 0444);
        mkdirs("/bin");
        size_t n;
        const struct hostprep_tool *t = hostprep_tools(&n);
        for (size_t i = 0; i < n; i++) {
                char rel[64];
                snprintf(rel, sizeof(rel), "/bin/%s", t[i].name);
                put(rel, "#!/bin/sh\n", 0755);
        }
        assert_int_equal(hostprep_run(&p, detail, sizeof(detail)), -ENETUNREACH);
        assert_non_null(strstr(detail, "rke2 requires a default route"));
        put("/proc/net/route", ROUTE_HDR "eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", 0444);
        assert_int_equal(hostprep_run(&p, detail, sizeof(detail)), 0);
}

static void test_tools(void **state)
{
        char why[600] = "";
        const struct reason w = { why, sizeof(why) };
        const struct hostprep_tool t[] = {
                { "iptables", true, "portmap" },
                { "mount", true, "kubelet" },
                { "ethtool", false, "flannel" },
        };
        mkdirs("/usr/sbin");
        mkdirs("/usr/bin");
        /* iptables as Debian has it: an absolute symlink into the image */
        put("/usr/sbin/xtables-nft-multi", "\x7f" "ELF", 0755);
        char link[512];
        path_of(link, sizeof(link), "/usr/sbin/iptables");
        assert_int_equal(symlink("/usr/sbin/xtables-nft-multi", link), 0);
        /* mount missing: an error naming it */
        assert_int_equal(hostprep_check_tools(root, "/usr/sbin:/usr/bin", t, 3, &w), -ENOENT);
        assert_non_null(strstr(why, "rke2 needs mount in the image: not found in PATH (/usr/sbin:/usr/bin)"));
        /* present but not executable */
        put("/usr/bin/mount", "x", 0644);
        assert_int_equal(hostprep_check_tools(root, "/usr/sbin:/usr/bin", t, 3, &w), -EACCES);
        assert_non_null(strstr(why, "not an executable file"));
        /* executable: only the optional ethtool is missing, a warning */
        put("/usr/bin/mount", "x", 0755);
        assert_int_equal(hostprep_check_tools(root, "/usr/sbin:/usr/bin", t, 3, &w), 0);
        /* a symlink leaving the root resolves inside it, and finds nothing */
        path_of(link, sizeof(link), "/usr/bin/umount");
        assert_int_equal(symlink("/bin/true/../../../../../bin/sh", link), 0);
        const struct hostprep_tool u[] = { { "umount", true, "kubelet" } };
        assert_true(hostprep_check_tools(root, "/usr/bin", u, 1, &w) < 0);
}

static void test_files(void **state)
{
        char why[300] = "";
        const struct reason w = { why, sizeof(why) };
        struct stat st;
        char p[512];
        mkdirs("/etc");
        assert_int_equal(hostprep_files(root, "node-1", "4d3c2b1a-0000-4000-8000-0123456789ab", &w), 0);
        path_of(p, sizeof(p), "/etc/rancher/rke2");
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        path_of(p, sizeof(p), "/tmp");
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 01777);
        path_of(p, sizeof(p), "/var/lib/kubelet");
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0750);
        path_of(p, sizeof(p), "/var/run");
        char target[64] = "";
        assert_int_equal(readlink(p, target, sizeof(target) - 1), 4);
        assert_string_equal(target, "/run");
        char *hosts = get("/etc/hosts");
        assert_non_null(strstr(hosts, "127.0.0.1\tlocalhost\n"));
        assert_non_null(strstr(hosts, "127.0.1.1\tnode-1\n"));
        free(hosts);
        /* machine-id: derived from the attested machine, stable */
        char want[33], *mid = get("/etc/machine-id");
        assert_int_equal(hostprep_machine_id("4d3c2b1a-0000-4000-8000-0123456789ab", want), 0);
        assert_int_equal(strlen(mid), 33);
        assert_memory_equal(mid, want, 32);
        assert_int_equal(mid[12], '4'); /* a v4 UUID as systemd writes them */
        free(mid);

        /* a second run keeps what exists; an overlay's /etc/hosts is never
         * overwritten, and a 0755 /etc/rancher/rke2 is tightened */
        put("/etc/hosts", "10.0.0.1 from-the-overlay\n", 0644);
        path_of(p, sizeof(p), "/etc/rancher/rke2");
        assert_int_equal(chmod(p, 0755), 0);
        assert_int_equal(hostprep_files(root, "other", NULL, &w), 0);
        hosts = get("/etc/hosts");
        assert_string_equal(hosts, "10.0.0.1 from-the-overlay\n");
        free(hosts);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        mid = get("/etc/machine-id");
        assert_memory_equal(mid, want, 32);
        free(mid);

        /* a malformed machine-id is refused, not silently replaced */
        put("/etc/machine-id", "not-a-machine-id\n", 0444);
        assert_int_equal(hostprep_files(root, "node-1", NULL, &w), -EBADMSG);
        /* an empty one is filled in (random without an attested machine) */
        put("/etc/machine-id", "", 0444);
        assert_int_equal(hostprep_files(root, "node-1", NULL, &w), 0);
        mid = get("/etc/machine-id");
        assert_int_equal(strlen(mid), 33);
        free(mid);
        /* a file where a directory must be */
        put("/var/lib/rancher-file", "", 0644);
        char from[512], to[512];
        path_of(from, sizeof(from), "/var/lib/rancher-file");
        path_of(to, sizeof(to), "/var/lib/kubelet");
        assert_int_equal(rmdir(to), 0);
        assert_int_equal(rename(from, to), 0);
        assert_int_equal(hostprep_files(root, "node-1", NULL, &w), -ENOTDIR);
        assert_non_null(strstr(why, "/var/lib/kubelet exists and is not a directory"));
}

static void test_machine_id(void **state)
{
        char a[33], b[33];
        assert_int_equal(hostprep_machine_id("4D3C2B1A-0000-4000-8000-0123456789AB", a), 0);
        assert_int_equal(hostprep_machine_id("4d3c2b1a-0000-4000-8000-0123456789ab", b), 0);
        assert_string_equal(a, b);
        assert_int_equal(hostprep_machine_id("not-a-uuid", a), -EINVAL);
}

static void test_cgroup(void **state)
{
        char why[300] = "";
        const struct reason w = { why, sizeof(why) };
        assert_int_equal(hostprep_check_cgroup(root, &w), -ENOTSUP);
        put("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n", 0444);
        put("/sys/fs/cgroup/cgroup.subtree_control", "cpuset cpu io memory pids\n", 0644);
        assert_int_equal(hostprep_check_cgroup(root, &w), -ENOTSUP);
        assert_non_null(strstr(why, "controller hugetlb not delegated"));
        put("/sys/fs/cgroup/cgroup.subtree_control", "cpuset cpu io memory hugetlb pids rdma misc\n", 0644);
        assert_int_equal(hostprep_check_cgroup(root, &w), 0);
        /* "cpu" must be a word, not the start of "cpuset" */
        put("/sys/fs/cgroup/cgroup.subtree_control", "cpuset io memory hugetlb pids\n", 0644);
        assert_int_equal(hostprep_check_cgroup(root, &w), -ENOTSUP);
        assert_non_null(strstr(why, "controller cpu not delegated"));
        put("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io pids\n", 0444);
        assert_int_equal(hostprep_check_cgroup(root, &w), -ENOTSUP);
        assert_non_null(strstr(why, "offers no cgroup2 controller memory"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_sysctls_written, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sysctl_missing_required, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sysctl_missing_optional, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sysctl_bad_key, setup, teardown),
                cmocka_unit_test(test_default_route),
                cmocka_unit_test(test_default_route_garbage),
                cmocka_unit_test_setup_teardown(test_route_in_run, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tools, setup, teardown),
                cmocka_unit_test_setup_teardown(test_files, setup, teardown),
                cmocka_unit_test(test_machine_id),
                cmocka_unit_test_setup_teardown(test_cgroup, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
