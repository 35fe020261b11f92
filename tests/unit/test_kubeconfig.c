/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig files and the bounded YAML loader: both shapes rke2 writes
 * (inline *-data as the server's rke2.yaml, file paths as the agent's
 * kubelet.kubeconfig), kubectl's lookups and relative paths, and every
 * way a file can be wrong — each refused with a reason that names it,
 * leaving the caller's struct untouched. */
#include <errno.h>
#include <fcntl.h>
#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
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
#include "../rke2-standin/kubeconfig-inline.h"
#include "kubeconfig.h"

/* ---- fixtures ------------------------------------------------------------ */

static char ca_pem[2048], cert_pem[2048], key_pem[512], other_key_pem[512];

static void make_pki(void)
{
        mbedtls_entropy_context ent;
        mbedtls_ctr_drbg_context drbg;
        mbedtls_pk_context cak, k, other;
        mbedtls_entropy_init(&ent);
        mbedtls_ctr_drbg_init(&drbg);
        assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0), 0);
        mbedtls_pk_context *keys[] = { &cak, &k, &other };
        for (int i = 0; i < 3; i++) {
                mbedtls_pk_init(keys[i]);
                assert_int_equal(mbedtls_pk_setup(keys[i], mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
                assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*keys[i]),
                                                     mbedtls_ctr_drbg_random, &drbg), 0);
        }
        for (int i = 0; i < 2; i++) {
                mbedtls_x509write_cert w;
                mbedtls_mpi sn;
                mbedtls_x509write_crt_init(&w);
                mbedtls_mpi_init(&sn);
                mbedtls_mpi_lset(&sn, i + 1);
                mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
                mbedtls_x509write_crt_set_subject_key(&w, i ? &k : &cak);
                mbedtls_x509write_crt_set_issuer_key(&w, &cak);
                assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w, i ? "CN=system:admin" : "CN=test-ca"), 0);
                assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&w, "CN=test-ca"), 0);
                assert_int_equal(mbedtls_x509write_crt_set_serial(&w, &sn), 0);
                assert_int_equal(mbedtls_x509write_crt_set_validity(&w, "20240101000000", "20740101000000"), 0);
                assert_int_equal(mbedtls_x509write_crt_pem(&w, (unsigned char *)(i ? cert_pem : ca_pem), 2048,
                                                           mbedtls_ctr_drbg_random, &drbg), 0);
                mbedtls_x509write_crt_free(&w);
                mbedtls_mpi_free(&sn);
        }
        assert_int_equal(mbedtls_pk_write_key_pem(&k, (unsigned char *)key_pem, sizeof(key_pem)), 0);
        assert_int_equal(mbedtls_pk_write_key_pem(&other, (unsigned char *)other_key_pem, sizeof(other_key_pem)), 0);
        for (int i = 0; i < 3; i++)
                mbedtls_pk_free(keys[i]);
        mbedtls_ctr_drbg_free(&drbg);
        mbedtls_entropy_free(&ent);
}

static char *b64(const char *s)
{
        size_t n = 0;
        (void)mbedtls_base64_encode(NULL, 0, &n, (const unsigned char *)s, strlen(s));
        char *out = malloc(n + 1);
        assert_non_null(out);
        assert_int_equal(mbedtls_base64_encode((unsigned char *)out, n + 1, &n, (const unsigned char *)s, strlen(s)), 0);
        return out;
}

/* rke2's server kubeconfig, with the three inline values given. */
static char *inline_doc(const char *ca, const char *cert, const char *key)
{
        static const char fmt[] = KUBECONFIG_INLINE_FMT;
        size_t n = sizeof(fmt) + strlen(ca) + strlen(cert) + strlen(key);
        char *d = malloc(n);
        assert_non_null(d);
        snprintf(d, n, fmt, ca, 6443u, cert, key);
        return d;
}

/* rke2's agent kubeconfig, naming files. */
static char files_doc[1024];

static void make_files_doc(void)
{
        snprintf(files_doc, sizeof(files_doc), KUBECONFIG_FILES_FMT, 6443u, "/abs/server-ca.crt",
                 "client-kubelet.crt", "../keys/client-kubelet.key");
}

/* Parses text; on failure asserts that *ret stayed as it was. */
static int parse(const char *text, size_t len, struct kubeconfig *ret, char *why)
{
        struct kubeconfig before;
        memset(ret, 0xa5, sizeof(*ret));
        memcpy(&before, ret, sizeof(before));
        why[0] = '\0';
        int k = kubeconfig_parse(text, len, "/etc/kube", ret, &(struct reason){ why, 300 });
        if (k < 0) {
                assert_memory_equal(ret, &before, sizeof(before));
                assert_true(why[0] != '\0');
        }
        return k;
}

static void expect_refused(const char *text, int err, const char *needle)
{
        struct kubeconfig kc;
        char why[300];
        int k = parse(text, strlen(text), &kc, why);
        if (k != err || !strstr(why, needle))
                fail_msg("expected %d with \"%s\", got %d: %s\n--- input:\n%s", err, needle, k, why, text);
}

/* A valid minimal kubeconfig with one part replaced (for refusals). */
static char *variant(const char *cluster_extra, const char *user_body, const char *tail)
{
        static const char fmt[] = "current-context: c\n"
                                  "contexts:\n"
                                  "- name: c\n"
                                  "  context: {cluster: k, user: u}\n"
                                  "clusters:\n"
                                  "- name: k\n"
                                  "  cluster:\n"
                                  "    server: https://api.example:6443\n"
                                  "    certificate-authority: ca.crt\n"
                                  "%s"
                                  "users:\n"
                                  "- name: u\n"
                                  "  user:\n"
                                  "%s"
                                  "%s";
        size_t n = sizeof(fmt) + strlen(cluster_extra) + strlen(user_body) + strlen(tail);
        char *d = malloc(n);
        assert_non_null(d);
        snprintf(d, n, fmt, cluster_extra, user_body, tail);
        return d;
}

static void refused_variant(const char *cluster_extra, const char *user_body, const char *tail, int err,
                            const char *needle)
{
        char *d = variant(cluster_extra, user_body, tail);
        expect_refused(d, err, needle);
        free(d);
}

/* ---- tests --------------------------------------------------------------- */

static void test_inline(void **state)
{
        char *a = b64(ca_pem), *b = b64(cert_pem), *c = b64(key_pem), why[300];
        char *doc = inline_doc(a, b, c);
        struct kubeconfig kc;
        assert_int_equal(parse(doc, strlen(doc), &kc, why), 0);
        assert_string_equal(kc.server, "https://127.0.0.1:6443");
        assert_string_equal(kc.context, "default");
        assert_string_equal(kc.cluster, "default");
        assert_string_equal(kc.user, "default");
        assert_string_equal(kc.ca.data, ca_pem);
        assert_int_equal(kc.ca.len, strlen(ca_pem));
        assert_null(kc.ca.path);
        assert_string_equal(kc.cert.data, cert_pem);
        assert_string_equal(kc.key.data, key_pem);
        assert_null(kc.token);
        assert_int_equal(kubeconfig_read_files(&kc, NULL), 0); /* nothing to read */
        assert_int_equal(kubeconfig_check(&kc, &(struct reason){ why, sizeof(why) }), 0);
        assert_true(kc.cert_not_after > 3000000000LL); /* 2074 */
        kubeconfig_free(&kc);
        kubeconfig_free(&kc); /* a freed struct is a zeroed one */
        free(doc);
        free(a);
        free(b);
        free(c);
}

static void test_inline_wrapped_base64(void **state)
{
        /* base64 -w76 style line breaks inside a literal block scalar */
        char *a = b64(ca_pem), *b = b64(cert_pem), *c = b64(key_pem), why[300];
        size_t n = strlen(a);
        char *wrapped = malloc(n + n / 60 * 8 + 16), *p = wrapped;
        p += sprintf(p, "|\n      ");
        for (size_t i = 0; i < n; i += 60) {
                size_t m = n - i < 60 ? n - i : 60;
                memcpy(p, a + i, m);
                p += m;
                if (i + m < n)
                        p += sprintf(p, "\n      ");
        }
        *p = '\0';
        char *doc = inline_doc(wrapped, b, c);
        struct kubeconfig kc;
        assert_int_equal(parse(doc, strlen(doc), &kc, why), 0);
        assert_string_equal(kc.ca.data, ca_pem);
        kubeconfig_free(&kc);
        free(doc);
        free(wrapped);
        free(a);
        free(b);
        free(c);
}

static void test_files_relative(void **state)
{
        struct kubeconfig kc;
        char why[300];
        make_files_doc();
        assert_int_equal(parse(files_doc, strlen(files_doc), &kc, why), 0);
        assert_string_equal(kc.context, "Default");
        assert_string_equal(kc.ca.path, "/abs/server-ca.crt");
        assert_string_equal(kc.cert.path, "/etc/kube/client-kubelet.crt");
        assert_string_equal(kc.key.path, "/etc/kube/../keys/client-kubelet.key");
        assert_null(kc.ca.data);
        assert_null(kc.cert.data);
        kubeconfig_free(&kc);
}

static void write_at(const char *dir, const char *name, const char *data)
{
        char p[700];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        assert_int_equal(write_file_atomic(p, data, strlen(data), 0600), 0);
}

static void test_load_files(void **state)
{
        char dir[] = "/tmp/test-kubeconfig.XXXXXX", path[400], why[300] = "", sub[300];
        assert_non_null(mkdtemp(dir));
        snprintf(sub, sizeof(sub), "%s/agent", dir);
        assert_int_equal(mkdir(sub, 0700), 0);
        write_at(sub, "server-ca.crt", ca_pem);
        write_at(sub, "client.crt", cert_pem);
        write_at(sub, "client.key", key_pem);
        /* relative paths: against the kubeconfig's own directory */
        write_at(sub, "kubelet.kubeconfig", "current-context: d\n"
                                            "contexts: [{name: d, context: {cluster: l, user: u}}]\n"
                                            "clusters: [{name: l, cluster: {server: 'https://127.0.0.1:6443', "
                                            "certificate-authority: server-ca.crt}}]\n"
                                            "users: [{name: u, user: {client-certificate: ./client.crt, "
                                            "client-key: client.key}}]\n");
        snprintf(path, sizeof(path), "%s/kubelet.kubeconfig", sub);
        struct kubeconfig kc = { 0 };
        assert_int_equal(kubeconfig_load(path, &kc, &(struct reason){ why, sizeof(why) }), 0);
        assert_string_equal(kc.ca.data, ca_pem);
        assert_string_equal(kc.cert.data, cert_pem);
        assert_string_equal(kc.key.data, key_pem);
        snprintf(sub, sizeof(sub), "%s/agent/client.key", dir);
        assert_string_equal(kc.key.path, sub);
        kubeconfig_free(&kc);

        /* a key that is not the certificate's */
        snprintf(sub, sizeof(sub), "%s/agent", dir);
        write_at(sub, "client.key", other_key_pem);
        assert_int_equal(kubeconfig_load(path, &kc, &(struct reason){ why, sizeof(why) }), -EINVAL);
        assert_non_null(strstr(why, "does not belong to client-certificate"));
        assert_null(strstr(why, "PRIVATE")); /* no key material in messages */
        /* a key file that is not a key */
        write_at(sub, "client.key", "garbage\n");
        assert_int_equal(kubeconfig_load(path, &kc, &(struct reason){ why, sizeof(why) }), -EINVAL);
        assert_non_null(strstr(why, "client-key"));
        assert_non_null(strstr(why, "is not a PEM private key"));
        /* a file that is missing */
        snprintf(sub, sizeof(sub), "%s/agent/client.key", dir);
        assert_int_equal(unlink(sub), 0);
        assert_int_equal(kubeconfig_load(path, &kc, &(struct reason){ why, sizeof(why) }), -EINVAL);
        assert_non_null(strstr(why, "client.key"));
        assert_non_null(strstr(why, "No such file"));
        /* the CA is not a certificate */
        snprintf(sub, sizeof(sub), "%s/agent", dir);
        write_at(sub, "client.key", key_pem);
        write_at(sub, "server-ca.crt", key_pem);
        assert_int_equal(kubeconfig_load(path, &kc, &(struct reason){ why, sizeof(why) }), -EINVAL);
        assert_non_null(strstr(why, "certificate-authority"));
        /* the kubeconfig itself missing: -ENOENT, the waiting state */
        assert_int_equal(kubeconfig_load("/nonexistent/kubeconfig", &kc, &(struct reason){ why, sizeof(why) }),
                         -ENOENT);
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

static void test_token(void **state)
{
        char *d = variant("", "    token: abc.def\n", "");
        struct kubeconfig kc;
        char why[300];
        assert_int_equal(parse(d, strlen(d), &kc, why), 0);
        assert_string_equal(kc.token, "abc.def");
        assert_null(kc.cert.data);
        assert_null(kc.cert.path);
        assert_string_equal(kc.ca.path, "/etc/kube/ca.crt");
        kubeconfig_free(&kc);
        free(d);
        d = variant("", "    tokenFile: tok\n", "");
        assert_int_equal(parse(d, strlen(d), &kc, why), 0);
        assert_string_equal(kc.token_file, "/etc/kube/tok");
        kubeconfig_free(&kc);
        free(d);
}

static void test_lookups(void **state)
{
        expect_refused("clusters: []\n", -EINVAL, "no current-context");
        expect_refused("current-context: ''\n", -EINVAL, "no current-context");
        expect_refused("current-context: x\ncontexts: []\n", -EINVAL, "current-context \"x\" is not defined");
        expect_refused("current-context: x\n", -EINVAL, "current-context \"x\" is not defined");
        expect_refused("current-context: default\n"
                       "contexts: [{name: default, context: {cluster: x, user: u}}]\n"
                       "clusters: [{name: y, cluster: {server: 'https://a'}}]\n",
                       -EINVAL, "kubeconfig: context \"default\" names cluster \"x\" that is not defined");
        expect_refused("current-context: default\n"
                       "contexts: [{name: default, context: {cluster: y, user: u}}]\n"
                       "clusters: [{name: y, cluster: {server: 'https://a', certificate-authority: c}}]\n"
                       "users: [{name: v, user: {token: t}}]\n",
                       -EINVAL, "context \"default\" names user \"u\" that is not defined");
        expect_refused("current-context: c\ncontexts: [{name: c, context: {user: u}}]\n", -EINVAL, "names no cluster");
        expect_refused("current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n", -EINVAL, "names no user");
        expect_refused("current-context: c\ncontexts: [{context: {cluster: k}}]\n", -EBADMSG, "contexts[0] has no name");
        expect_refused("current-context: c\n"
                       "contexts: [{name: c, context: {cluster: k, user: u}}, {name: c, context: {cluster: k, user: u}}]\n",
                       -EBADMSG, "context \"c\" is defined twice");
        /* the other, unused, entries do not matter */
        char *d = variant("", "    token: t\n", "- name: other\n  user: {exec: {command: x}}\n");
        struct kubeconfig kc;
        char why[300];
        assert_int_equal(parse(d, strlen(d), &kc, why), 0);
        kubeconfig_free(&kc);
        free(d);
}

static void test_types(void **state)
{
        expect_refused("- a\n- b\n", -EBADMSG, "the document must be a mapping, not a sequence");
        expect_refused("current-context: [a]\n", -EBADMSG, "current-context must be a string, not a sequence");
        expect_refused("current-context: c\ncontexts: {c: 1}\n", -EBADMSG, "contexts must be a sequence, not a mapping");
        expect_refused("current-context: c\ncontexts: [x]\n", -EBADMSG, "contexts[0] must be a mapping, not a string");
        expect_refused("current-context: c\ncontexts: [{name: [c]}]\n", -EBADMSG, "name must be a string");
        expect_refused("current-context: c\ncontexts: [{name: c, context: [k]}]\n", -EBADMSG,
                       "context \"c\": context must be a mapping, not a sequence");
        refused_variant("", "    token: [a, b]\n", "", -EBADMSG, "user \"u\": token must be a string, not a sequence");
        refused_variant("    tls-server-name: x\n", "    token: t\n", "", -EINVAL, "tls-server-name is not supported");
        expect_refused("current-context: \"c\\0d\"\n", -EBADMSG, "NUL byte");
        expect_refused("{[a]: b}\n", -EBADMSG, "a mapping key must be a string, not a sequence");
}

static void test_cluster_and_user_rules(void **state)
{
        refused_variant("    insecure-skip-tls-verify: true\n", "    token: t\n", "", -EINVAL,
                        "insecure-skip-tls-verify is refused");
        refused_variant("", "    exec: {command: aws}\n", "", -EINVAL, "authentication by exec is not supported");
        refused_variant("", "    auth-provider: {name: oidc}\n", "", -EINVAL, "auth-provider is not supported");
        refused_variant("", "    client-certificate: a.crt\n", "", -EINVAL, "has a client certificate but no client key");
        refused_variant("", "    client-key: a.key\n", "", -EINVAL, "has a client key but no client certificate");
        refused_variant("", "    client-certificate: a\n    client-certificate-data: QUJD\n    client-key: k\n", "",
                        -EINVAL, "both client-certificate and client-certificate-data are set");
        refused_variant("", "    token: a\n    tokenFile: b\n", "", -EINVAL, "both token and tokenFile");
        refused_variant("", "    namespace: x\n", "", -EINVAL, "neither a client certificate nor a token");
        refused_variant("", "    client-certificate-data: 'not base64!'\n    client-key: k\n", "", -EBADMSG,
                        "client-certificate-data is not valid base64");
        refused_variant("", "    client-certificate-data: QUJ\n    client-key: k\n", "", -EBADMSG,
                        "is not valid base64");
        refused_variant("", "    client-certificate-data: QU=J\n    client-key: k\n", "", -EBADMSG,
                        "is not valid base64");
        refused_variant("", "    client-certificate-data: QUJD QUJD\n    client-key: k\n", "", -EBADMSG,
                        "is not valid base64");
        /* insecure-skip-tls-verify: false is fine */
        char *d = variant("    insecure-skip-tls-verify: false\n", "    token: t\n", "");
        struct kubeconfig kc;
        char why[300];
        assert_int_equal(parse(d, strlen(d), &kc, why), 0);
        assert_string_equal(kc.server, "https://api.example:6443");
        kubeconfig_free(&kc);
        free(d);

        static const char *const servers[] = { "http://a:6443", "a:6443", "https://", "'https://a b'", "''" };
        for (size_t i = 0; i < sizeof(servers) / sizeof(*servers); i++) {
                char doc[400];
                snprintf(doc, sizeof(doc),
                         "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
                         "clusters: [{name: k, cluster: {server: %s, certificate-authority: c}}]\n"
                         "users: [{name: u, user: {token: t}}]\n",
                         servers[i]);
                expect_refused(doc, -EINVAL, "server");
        }
        expect_refused("current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
                       "clusters: [{name: k, cluster: {server: 'https://a'}}]\nusers: [{name: u, user: {token: t}}]\n",
                       -EINVAL, "names no certificate-authority");
        /* trailing slashes go */
        char doc[400];
        snprintf(doc, sizeof(doc),
                 "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
                 "clusters: [{name: k, cluster: {server: 'https://a:1/prefix//', certificate-authority: c}}]\n"
                 "users: [{name: u, user: {token: t}}]\n");
        assert_int_equal(parse(doc, strlen(doc), &kc, why), 0);
        assert_string_equal(kc.server, "https://a:1/prefix");
        kubeconfig_free(&kc);
}

static void test_yaml_refusals(void **state)
{
        expect_refused("a: 1\na: 2\n", -EBADMSG, "key \"a\" appears twice in one mapping (first on line 1)");
        refused_variant("    server: https://b\n", "    token: t\n", "", -EBADMSG, "key \"server\" appears twice");
        expect_refused("a: 1\n---\nb: 2\n", -EBADMSG, "more than one YAML document");
        expect_refused("a: [1, 2\n", -EBADMSG, "not valid YAML");
        expect_refused("a: 'unterminated\n", -EBADMSG, "not valid YAML");
        expect_refused("a: &x 1\nb: *x\n", -EBADMSG, "line 2: YAML aliases (*name) are not accepted");
        /* billion laughs: refused at the first alias, nothing expanded */
        expect_refused("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                       "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                       "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                       "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                       "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                       "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                       "current-context: *f\n",
                       -EBADMSG, "aliases");
        /* a merge key is just an alias too */
        expect_refused("base: &b {server: x}\nc:\n  <<: *b\n", -EBADMSG, "aliases");
}

static void test_yaml_limits(void **state)
{
        struct kubeconfig kc;
        char why[300];
        /* deep: [[[[…]]]] */
        char deep[200];
        memset(deep, '[', 100);
        memset(deep + 100, ']', 100);
        assert_int_equal(parse(deep, 200, &kc, why), -E2BIG);
        assert_non_null(strstr(why, "nested deeper than 32 levels"));
        /* many nodes */
        size_t n = 12000 * 3 + 16;
        char *many = malloc(n), *p = many;
        p += sprintf(p, "a: [");
        for (int i = 0; i < 12000; i++)
                p += sprintf(p, "1,");
        p += sprintf(p, "1]");
        assert_int_equal(parse(many, (size_t)(p - many), &kc, why), -E2BIG);
        assert_non_null(strstr(why, "more than 10000 nodes"));
        free(many);
        /* huge: more than 1 MiB */
        size_t big = YDOC_MAX_BYTES + 1;
        char *huge = malloc(big);
        memset(huge, '#', big);
        assert_int_equal(parse(huge, big, &kc, why), -E2BIG);
        assert_non_null(strstr(why, "larger than 1048576 bytes"));
        free(huge);
        /* empty and comment-only: an empty mapping, so "no current-context" */
        expect_refused("", -EINVAL, "no current-context");
        expect_refused("# nothing\n", -EINVAL, "no current-context");
        expect_refused("~\n", -EINVAL, "no current-context");
}

static void test_truncated(void **state)
{
        /* every prefix of a valid kubeconfig: parsed or refused with a reason, never a crash */
        char *a = b64(ca_pem), *b = b64(cert_pem), *c = b64(key_pem), why[300];
        char *doc = inline_doc(a, b, c);
        size_t n = strlen(doc);
        unsigned ok = 0;
        for (size_t cut = 0; cut < n; cut += 7) {
                struct kubeconfig kc;
                int k = parse(doc, cut, &kc, why);
                if (k == 0) {
                        ok++;
                        kubeconfig_free(&kc);
                }
        }
        assert_true(ok > 0);             /* a cut inside the last base64 may still decode */
        assert_true(ok < n / 7 / 2);     /* most cuts are refused */
        free(doc);
        free(a);
        free(b);
        free(c);
}

static void test_yaml_helpers(void **state)
{
        struct ynode *root = NULL;
        char why[200];
        const char *doc = "a: true\nb: 'true'\nc: ~\nd: no\ne: [1]\nf: ''\n";
        assert_int_equal(ydoc_parse(doc, strlen(doc), &root, &(struct reason){ why, sizeof(why) }), 0);
        assert_int_equal(yscalar_bool(ymap_get(root, "a")), 1);
        assert_int_equal(yscalar_bool(ymap_get(root, "b")), -EINVAL); /* quoted: a string */
        assert_true(yscalar_is_null(ymap_get(root, "c")));
        assert_int_equal(yscalar_bool(ymap_get(root, "d")), 0);
        assert_string_equal(ynode_kind(ymap_get(root, "e")), "a sequence");
        assert_false(yscalar_is_null(ymap_get(root, "f"))); /* quoted empty string */
        assert_null(ymap_get(root, "g"));
        assert_int_equal(ymap_get(root, "e")->line, 5);
        ynode_free(root);
}

int main(void)
{
        make_pki();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_inline),        cmocka_unit_test(test_inline_wrapped_base64),
                cmocka_unit_test(test_files_relative), cmocka_unit_test(test_load_files),
                cmocka_unit_test(test_token),         cmocka_unit_test(test_lookups),
                cmocka_unit_test(test_types),         cmocka_unit_test(test_cluster_and_user_rules),
                cmocka_unit_test(test_yaml_refusals), cmocka_unit_test(test_yaml_limits),
                cmocka_unit_test(test_truncated),     cmocka_unit_test(test_yaml_helpers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
