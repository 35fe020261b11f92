/* SPDX-License-Identifier: Apache-2.0 */
/* Whatever a node (or anyone) POSTs to the verifier: the first byte picks
 * the endpoint (challenge, evidence, whoami), the rest is the body. The server must answer every input
 * with a status and a JSON body, and never crash. The store is a real
 * SQLite database in a temporary directory, trusting swtpm-localca for EK
 * certificates (so a challenge's certificate can enrol its machine). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ekcert.h"
#include "fileio.h"
#include "protocol.h"

static struct protocol proto;
static char dir[] = "/tmp/ember-fuzz-protocol.XXXXXX";

static void cleanup(void)
{
        static const char *const files[] = { "db", "db-wal", "db-shm" };
        char path[64];
        store_close(proto.store);
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
                unlink(path);
        }
        rmdir(dir);
}

static uint64_t fixed_ms(void)
{
        return 0; /* the per-EK bucket never refills: fine, refusals are exercised too */
}

/* tests/attest/data/NAME, found from this source's absolute path
 * (tests/fuzz/fuzz_attest_protocol.c), trusted as an EK CA */
static void trust_ca(const char *name)
{
        char path[4096], *der;
        size_t len;
        struct ekcert_info info;
        const char *slash = strrchr(__FILE__, '/');
        snprintf(path, sizeof(path), "%.*s/../attest/data/%s", slash ? (int)(slash - __FILE__) : 1,
                 slash ? __FILE__ : ".", name);
        if (read_file_all(path, 65536, &der, &len) < 0 || ekcert_ca_info((uint8_t *)der, len, &info, NULL, 0) < 0)
                abort();
        struct ek_ca ca = { .not_after = info.not_after, .der = (uint8_t *)der, .der_len = len };
        memcpy(ca.id, info.id, sizeof(ca.id));
        snprintf(ca.subject, sizeof(ca.subject), "%s", info.subject);
        if (proto.store->ops->ek_ca_add(proto.store, &ca) < 0)
                abort();
        free(der);
}

static void setup(void)
{
        char path[64];
        if (!mkdtemp(dir))
                abort();
        atexit(cleanup);
        snprintf(path, sizeof(path), "%s/db", dir);
        if (store_open_sqlite(path, &proto.store) < 0)
                abort();
        proto.now_ms = fixed_ms;
        ratelimit_init(&proto.by_ek, 1e9, 1e9);
        /* one approved image, so challenges get as far as MakeCredential */
        static const char ref[] = "[{\"version\":\"0.1.0\",\"name\":\"tpm_pcr4\",\"expiration\":\"2099-01-01T00:00:00Z\","
                                  "\"value\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}]";
        uint8_t digest[32] = { 1 };
        if (proto.store->ops->approve(proto.store, "fuzz", digest, ref, "fuzz", 0, NULL) < 0)
                abort();
        trust_ca("ekcert-swtpm-root.der");
        trust_ca("ekcert-swtpm-issuer.der");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!proto.store)
                setup();
        if (size < 1)
                return 0;
        static const char *const paths[] = { "/v1/attest/challenge", "/v1/attest/evidence", "/v1/whoami" };
        struct http_request rq = { .method = "POST",
                                   .path = paths[data[0] % 3],
                                   .client = "fuzz", .body = data + 1, .body_len = size - 1 };
        struct http_reply rp = { 0 };
        if (!protocol_handle(&proto, &rq, &rp) || rp.status < 200 || rp.status > 599 || !rp.body || rp.body[0] != '{')
                __builtin_trap();
        free(rp.body);
        return 0;
}
