/* SPDX-License-Identifier: Apache-2.0 */
/* rke2's configuration as Ember reads it: config.yaml and its drop-ins in
 * rke2's order, each role rule, node name and kubeconfig path, and the
 * files that are refused (with the file and line named). */
#include <ctype.h>
#include <errno.h>
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
#include "rke2conf.h"

static char root[64];

static void put(const char *rel, const char *text)
{
        char p[512], d[1100];
        snprintf(p, sizeof(p), "%s%s", root, rel);
        snprintf(d, sizeof(d), "mkdir -p \"$(dirname '%s')\"", p);
        assert_int_equal(system(d), 0);
        assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
}

static int setup(void **state)
{
        snprintf(root, sizeof(root), "/tmp/test-rke2conf.XXXXXX");
        assert_non_null(mkdtemp(root));
        return 0;
}

static int teardown(void **state)
{
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        return system(cmd);
}

static struct rke2_conf load_ok(void)
{
        struct rke2_conf c;
        char why[300] = "";
        int k = rke2conf_load(root, &c, &(struct reason){ why, sizeof(why) });
        if (k != 0)
                fail_msg("rke2conf_load: %d: %s", k, why);
        return c;
}

static void load_refused(int err, const char *needle)
{
        struct rke2_conf c;
        char why[300] = "";
        memset(&c, 0x5a, sizeof(c));
        struct rke2_conf before = c;
        int k = rke2conf_load(root, &c, &(struct reason){ why, sizeof(why) });
        if (k != err || !strstr(why, needle))
                fail_msg("expected %d with \"%s\", got %d: %s", err, needle, k, why);
        assert_memory_equal(&c, &before, sizeof(c));
}

static void test_no_config(void **state)
{
        struct rke2_conf c = load_ok();
        assert_int_equal(c.role, RKE2_ROLE_SERVER);
        assert_non_null(strstr(c.rule, "no rke2 config"));
        assert_int_equal(c.files, 0);
        assert_string_equal(c.kubeconfig, "/etc/rancher/rke2/rke2.yaml");
        assert_string_equal(c.data_dir, "/var/lib/rancher/rke2");
        assert_true(c.node_name_from_hostname);
        char host[256];
        assert_int_equal(gethostname(host, sizeof(host)), 0);
        for (char *p = host; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        assert_string_equal(c.node_name, host);
        assert_false(c.have_token);
        rke2conf_free(&c);
}

static void test_first_server(void **state)
{
        put("/etc/rancher/rke2/config.yaml", "node-name: cp-1\ntoken: s3cret\nwrite-kubeconfig: /root/kube.yaml\n"
                                             "tls-san: [a.example]\n");
        struct rke2_conf c = load_ok();
        assert_int_equal(c.role, RKE2_ROLE_SERVER);
        assert_non_null(strstr(c.rule, "no server: key in the rke2 config"));
        assert_string_equal(c.node_name, "cp-1");
        assert_false(c.node_name_from_hostname);
        assert_true(c.have_token);
        assert_string_equal(c.kubeconfig, "/root/kube.yaml");
        assert_int_equal(c.files, 1);
        char *json = rke2conf_to_json(&c);
        assert_non_null(json);
        assert_null(strstr(json, "s3cret")); /* the token's value is never kept */
        assert_non_null(strstr(json, "\"role\":\"server\""));
        free(json);
        rke2conf_free(&c);
}

static void test_joining_server(void **state)
{
        static const char *const keys[] = { "cluster-init: true", "tls-san: [x]", "cni: canal", "disable: [rke2-ingress-nginx]",
                                            "cluster-cidr: 10.42.0.0/16", "service-cidr: 10.43.0.0/16",
                                            "etcd-snapshot-retention: 3", "write-kubeconfig-mode: '0640'",
                                            "kube-apiserver-arg: [a=b]", "disable-cloud-controller: true" };
        for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
                char doc[200];
                snprintf(doc, sizeof(doc), "server: https://10.0.0.1:9345\ntoken: t\nnode-taint: [a=b:NoSchedule]\n%s\n",
                         keys[i]);
                put("/etc/rancher/rke2/config.yaml", doc);
                struct rke2_conf c = load_ok();
                assert_int_equal(c.role, RKE2_ROLE_SERVER);
                char key[64];
                snprintf(key, sizeof(key), "%.*s", (int)strcspn(keys[i], ":"), keys[i]);
                if (!strstr(c.rule, key))
                        fail_msg("rule for %s: %s", key, c.rule);
                assert_non_null(strstr(c.rule, "config.yaml line 4"));
                rke2conf_free(&c);
        }
}

static void test_agent(void **state)
{
        /* node-taint, node-label and the agent's own keys are not server-only */
        put("/etc/rancher/rke2/config.yaml", "server: https://10.0.0.1:9345\ntoken-file: /t\nnode-taint: [a=b:NoSchedule]\n"
                                             "node-label: [x=y]\ndata-dir: /data/rke2\nkubelet-arg: [a=b]\n"
                                             "cluster-init: false\ntls-san: []\n");
        struct rke2_conf c = load_ok();
        assert_int_equal(c.role, RKE2_ROLE_AGENT);
        assert_non_null(strstr(c.rule, "no server-only key"));
        assert_true(c.have_token);
        assert_string_equal(c.server, "https://10.0.0.1:9345");
        assert_string_equal(c.kubeconfig, "/data/rke2/agent/kubelet.kubeconfig");
        rke2conf_free(&c);
}

static void test_role_file(void **state)
{
        put("/etc/rancher/rke2/config.yaml", "server: https://10.0.0.1:9345\n");
        put("/etc/ember/rke2-role", "server\n");
        struct rke2_conf c = load_ok();
        assert_int_equal(c.role, RKE2_ROLE_SERVER);
        assert_string_equal(c.rule, "/etc/ember/rke2-role says server");
        rke2conf_free(&c);
        put("/etc/rancher/rke2/config.yaml", "cluster-init: true\n");
        put("/etc/ember/rke2-role", "agent");
        c = load_ok();
        assert_int_equal(c.role, RKE2_ROLE_AGENT);
        assert_string_equal(c.rule, "/etc/ember/rke2-role says agent");
        assert_string_equal(c.kubeconfig, "/var/lib/rancher/rke2/agent/kubelet.kubeconfig");
        rke2conf_free(&c);
        put("/etc/ember/rke2-role", "worker\n");
        load_refused(-EINVAL, "/etc/ember/rke2-role: expected \"server\" or \"agent\"");
}

static void test_dropins(void **state)
{
        put("/etc/rancher/rke2/config.yaml", "node-name: base\nserver: https://10.0.0.1:9345\n");
        put("/etc/rancher/rke2/config.yaml.d/20-b.yaml", "node-name: from-b\n");
        put("/etc/rancher/rke2/config.yaml.d/10-a.yaml", "node-name: from-a\ndata-dir: /a\n");
        put("/etc/rancher/rke2/config.yaml.d/30-c.yml", "node-name: not-read\n");   /* not *.yaml */
        put("/etc/rancher/rke2/config.yaml.d/.40-d.yaml", "node-name: hidden\n"); /* hidden */
        struct rke2_conf c = load_ok();
        assert_string_equal(c.node_name, "from-b"); /* lexical order, the later wins */
        assert_string_equal(c.data_dir, "/a");      /* what a later file leaves alone stays */
        assert_int_equal(c.files, 3);
        assert_int_equal(c.role, RKE2_ROLE_AGENT);
        rke2conf_free(&c);
        /* a drop-in turns the agent into a joining server, naming itself */
        put("/etc/rancher/rke2/config.yaml.d/50-server.yaml", "etcd-expose-metrics: true\n");
        c = load_ok();
        assert_int_equal(c.role, RKE2_ROLE_SERVER);
        assert_non_null(strstr(c.rule, "config.yaml.d/50-server.yaml line 1"));
        rke2conf_free(&c);
        /* a later drop-in turning the key off again: agent */
        put("/etc/rancher/rke2/config.yaml.d/60-off.yaml", "etcd-expose-metrics: false\n");
        c = load_ok();
        assert_int_equal(c.role, RKE2_ROLE_AGENT);
        rke2conf_free(&c);
        /* "key+:" appends, and is the same key */
        put("/etc/rancher/rke2/config.yaml.d/70-plus.yaml", "tls-san+: [b.example]\n");
        c = load_ok();
        assert_int_equal(c.role, RKE2_ROLE_SERVER);
        assert_non_null(strstr(c.rule, "tls-san"));
        rke2conf_free(&c);
}

static void test_refusals(void **state)
{
        put("/etc/rancher/rke2/config.yaml", "node-name: [a, b]\n");
        load_refused(-EINVAL, "config.yaml: line 1: node-name must be a string");
        put("/etc/rancher/rke2/config.yaml", "node-name: a\nnode-name: b\n");
        load_refused(-EBADMSG, "config.yaml: line 2: key \"node-name\" appears twice");
        put("/etc/rancher/rke2/config.yaml", "- a\n");
        load_refused(-EBADMSG, "config.yaml: must be a mapping of settings, not a sequence");
        put("/etc/rancher/rke2/config.yaml", "node-name: &n a\nx: *n\n");
        load_refused(-EBADMSG, "aliases");
        put("/etc/rancher/rke2/config.yaml", "node-name: Node_1\n");
        load_refused(-EINVAL, "node name \"Node_1\" is not a valid Kubernetes node name");
        put("/etc/rancher/rke2/config.yaml", "server: http://10.0.0.1:9345\n");
        load_refused(-EINVAL, "server must be an https:// URL");
        put("/etc/rancher/rke2/config.yaml", "data-dir: relative\n");
        load_refused(-EINVAL, "data-dir must be an absolute path");
        put("/etc/rancher/rke2/config.yaml", "a: [\n");
        load_refused(-EBADMSG, "config.yaml: line 2: not valid YAML");
        put("/etc/rancher/rke2/config.yaml", "node-name: ok\n");
        put("/etc/rancher/rke2/config.yaml.d/10-bad.yaml", "node-name: {a: b}\n");
        load_refused(-EINVAL, "config.yaml.d/10-bad.yaml: line 1: node-name must be a string");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_no_config, setup, teardown),
                cmocka_unit_test_setup_teardown(test_first_server, setup, teardown),
                cmocka_unit_test_setup_teardown(test_joining_server, setup, teardown),
                cmocka_unit_test_setup_teardown(test_agent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_role_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dropins, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
