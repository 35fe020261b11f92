/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the release manifest (efi/manifest.c). The first byte picks
 * what the rest is: release.json for the parser (what parses is exactly
 * what manifest_format writes for it), a pinned signers file, a signature
 * and release.json for the verifier (pinned: two fixed keys; the seed is
 * signed by the first, and what verifies must also open), or a file checked
 * against a fixed entry. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char PINNED[] =
        "-----BEGIN PUBLIC KEY-----\n"
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEkQpemE7hlX207k2J7Nc1qzHa0wjU\n"
        "rK/WsTBmtaXU7sU+hzjpfHAU/2rxAvciihkAb7SZEcO/efsF9vRrn1u+qw==\n"
        "-----END PUBLIC KEY-----\n"
        "-----BEGIN PUBLIC KEY-----\n"
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAErNlZA73JlGky/+ESaLTYLJ4l1dS6\n"
        "EAWUznDTb2Mzjs0QVeFIQC/t8Xi5zlOW3MWw/PchyTK2xjCtnd2ctcvxcg==\n"
        "-----END PUBLIC KEY-----\n";

static void parse(const uint8_t *data, size_t size)
{
        struct release_manifest m, untouched;
        char why[256], *json = NULL;
        memset(&m, 0xa5, sizeof(m));
        memcpy(&untouched, &m, sizeof(m));
        int r = manifest_parse(data, size, &m, why, sizeof(why));
        assert(r == 0 || r == -EBADMSG || r == -ENOMEM);
        if (r < 0) {
                assert(memcmp(&m, &untouched, sizeof(m)) == 0);
                return;
        }
        assert(manifest_check(&m, NULL, 0) == 0);
        assert(manifest_file(&m, "vmlinuz") && manifest_file(&m, "vmlinuz")->has_authenticode);
        assert(manifest_file(&m, "initrd"));
        assert(manifest_format(&m, &json) == 0);
        assert(strlen(json) == size && memcmp(json, data, size) == 0);
        free(json);
}

static void verify(const uint8_t *data, size_t size)
{
        struct release_manifest m;
        char why[256];
        if (size < 1)
                return;
        size_t siglen = data[0] < size - 1 ? data[0] : size - 1;
        const uint8_t *sig = data + 1, *json = data + 1 + siglen;
        size_t len = size - 1 - siglen;
        int v = manifest_verify(json, len, sig, siglen, PINNED, strlen(PINNED), why, sizeof(why));
        assert(v == 0 || v == 1 || v == -EPERM || v == -EBADMSG || v == -ENOMEM);
        if (v < 0)
                return; /* ECDSA is slow: open only what verified */
        int r = manifest_open(json, len, sig, siglen, PINNED, strlen(PINNED), &m, why, sizeof(why));
        assert(r == v || r == -EBADMSG || r == -ENOMEM);
        if (r >= 0)
                parse(json, len);
}

static void file_check(const uint8_t *data, size_t size)
{
        struct release_file f = { .name = "vmlinuz", .size = size, .has_authenticode = true };
        char why[256];
        int r = manifest_file_check(&f, data, size, why, sizeof(why));
        assert(r == -EBADMSG); /* no input has the all-zero SHA-256 */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char why[256];
        if (size < 1)
                return 0;
        switch (data[0] % 4) {
        case 0:
                parse(data + 1, size - 1);
                break;
        case 1: {
                int r = manifest_signers_check((const char *)data + 1, size - 1, why, sizeof(why));
                assert((r >= 1 && r <= MANIFEST_SIGNERS_MAX) || r == -EINVAL || r == -ENOENT || r == -E2BIG ||
                       r == -ENOMEM);
                break;
        }
        case 2:
                verify(data + 1, size - 1);
                break;
        default:
                file_check(data + 1, size - 1);
        }
        return 0;
}
