/* SPDX-License-Identifier: Apache-2.0 */
/* EK certificates as a node sends them, and CA files as an operator adds
 * them (attest/ekcert.c). The first byte picks which:
 *   0: the rest is a CA file: split into certificates, each read as a CA;
 *   1: a big-endian 16-bit length, an EK's TPM2B_PUBLIC of that length, then
 *      the EK certificate, verified against swtpm-localca's root and
 *      intermediate (tests/attest/data/ekcert-swtpm-{root,issuer}.der).
 * Any bytes end in a documented result with a printable one-line reason;
 * an accepted certificate names the one trusted root. Seeds: swtpm's RSA
 * and P-384 EK certificates with their EKs, crossed, its platform
 * certificate, and the CA certificates as PEM and DER. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ekcert.h"
#include "fileio.h"
#include "makecred.h"

static struct ekcert_trust *trust;
static char root_id[EKCERT_ID_LEN];

/* The fixtures are tests/attest/data/NAME; the harness is compiled from its
 * source's absolute path, tests/fuzz/fuzz_attest_ekcert.c. */
static void add(const char *name)
{
        char *der, why[300], path[4096];
        size_t len;
        struct ekcert_info info;
        const char *slash = strrchr(__FILE__, '/');
        snprintf(path, sizeof(path), "%.*s/../attest/data/%s", slash ? (int)(slash - __FILE__) : 1,
                 slash ? __FILE__ : ".", name);
        if (read_file_all(path, 65536, &der, &len) < 0 ||
            ekcert_trust_add(trust, (uint8_t *)der, len, why, sizeof(why)) < 0 ||
            ekcert_ca_info((uint8_t *)der, len, &info, why, sizeof(why)) < 0) {
                fprintf(stderr, "fuzz_attest_ekcert: %s: cannot be trusted\n", path);
                abort();
        }
        if (info.self_issued)
                memcpy(root_id, info.id, sizeof(root_id));
        free(der);
}

static void check_why(int r, const char *why)
{
        if (r >= 0)
                return;
        if (!why[0] || strchr(why, '\n'))
                __builtin_trap();
        for (const char *c = why; *c; c++)
                if (*c < 0x20 || *c > 0x7e)
                        __builtin_trap();
}

static int each_ca(const uint8_t *der, size_t len, void *ud)
{
        struct ekcert_info info;
        char why[300] = "";
        int r = ekcert_ca_info(der, len, &info, why, sizeof(why));
        check_why(r, why);
        if (r == 0 && !info.ca && !info.self_issued)
                __builtin_trap();
        if (r < 0 && r != -EBADMSG && r != -EPERM)
                __builtin_trap();
        return 0;
}

static void verify(const uint8_t *data, size_t size)
{
        TPM2B_PUBLIC ek;
        struct ekcert_verdict v, again;
        char why[300] = "", why2[300] = "";
        if (size < 2 || (size_t)(data[0] << 8 | data[1]) > size - 2)
                return;
        size_t ek_len = (size_t)(data[0] << 8 | data[1]);
        if (makecred_parse_public(data + 2, ek_len, &ek, NULL, 0) < 0)
                return;
        const uint8_t *cert = data + 2 + ek_len;
        size_t cert_len = size - 2 - ek_len;
        int r = ekcert_verify(trust, cert, cert_len, &ek, &v, why, sizeof(why));
        check_why(r, why);
        if (r != 0 && r != -EBADMSG && r != -EPERM && r != -EKEYREJECTED)
                __builtin_trap();
        if (r == 0 && strcmp(v.ca_id, root_id) != 0)
                __builtin_trap();
        /* the same bytes, the same verdict */
        if (ekcert_verify(trust, cert, cert_len, &ek, &again, why2, sizeof(why2)) != r || (r < 0 && strcmp(why, why2)))
                __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char why[300] = "";
        if (!trust) {
                if (ekcert_trust_new(&trust) < 0)
                        abort();
                add("ekcert-swtpm-root.der");
                add("ekcert-swtpm-issuer.der");
        }
        if (size < 1)
                return 0;
        if (data[0] == 0) {
                int r = ekcert_split(data + 1, size - 1, each_ca, NULL, why, sizeof(why));
                check_why(r, why);
        } else if (data[0] == 1) {
                verify(data + 1, size - 1);
        }
        return 0;
}
