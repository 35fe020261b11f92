/* SPDX-License-Identifier: Apache-2.0 */
/* overlay-craft: seals what `overlay seal` refuses to, for the tests of the
 * opener: any tar at all (hostile entries are not checked), and headers
 * whose entry count or content size lie. Test-only; never installed.
 *
 *   overlay-craft --tar FILE --key SIGNING.pem --out FILE
 *                 (--data-key KEYFILE | --data-key-out KEYFILE)
 *                 [--entries N] [--content-size N] [--chunk-size N]
 *                 [--id UUID] [--serial N] [--raw-payload]
 *
 * --raw-payload takes FILE as the zstd payload itself (not compressed
 * again; --content-size then defaults to its size). Without --entries the
 * entries libarchive reads before its first complaint are counted. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fileio.h"
#include "format.h"
#include "seal.h"
#include "util.h"

static int sink_file(void *ud, const void *p, size_t n)
{
        return fwrite(p, 1, n, ud) == n ? 0 : -EIO;
}

static uint32_t count_entries(const char *tar, size_t n)
{
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        uint32_t count = 0;
        archive_read_support_format_tar(a);
        if (archive_read_open_memory(a, tar, n) == ARCHIVE_OK)
                while (archive_read_next_header(a, &e) == ARCHIVE_OK)
                        count++;
        archive_read_free(a);
        return count;
}

static int key_hex(const char *path, uint8_t key[OVERLAY_KEY_LEN], bool make)
{
        char text[2 * OVERLAY_KEY_LEN + 2];
        if (make) {
                if (getrandom_full(key, OVERLAY_KEY_LEN) < 0)
                        return -EIO;
                overlay_hex(key, OVERLAY_KEY_LEN, text);
                text[2 * OVERLAY_KEY_LEN] = '\n';
                return write_file_atomic(path, text, 2 * OVERLAY_KEY_LEN + 1, 0600);
        }
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r = read_file_all(path, 4096, &buf, &len);
        if (r < 0)
                return r;
        if (len > 0 && buf[len - 1] == '\n')
                buf[len - 1] = '\0';
        return overlay_unhex(buf, key, OVERLAY_KEY_LEN);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "tar", required_argument, NULL, 't' },          { "key", required_argument, NULL, 'k' },
                { "out", required_argument, NULL, 'o' },          { "data-key", required_argument, NULL, 'd' },
                { "data-key-out", required_argument, NULL, 'D' }, { "entries", required_argument, NULL, 'e' },
                { "content-size", required_argument, NULL, 'c' }, { "chunk-size", required_argument, NULL, 'C' },
                { "id", required_argument, NULL, 'i' },           { "serial", required_argument, NULL, 's' },
                { "raw-payload", no_argument, NULL, 'r' },        { NULL, 0, NULL, 0 },
        };
        const char *tar = NULL, *keyfile = NULL, *out = NULL, *dk = NULL;
        bool make_key = false, raw = false, has_entries = false, has_id = false;
        unsigned long long entries = 0, content = 0, chunk = OVERLAY_CHUNK_DEFAULT, serial = 1;
        uint8_t id[OVERLAY_ID_LEN], data_key[OVERLAY_KEY_LEN];
        char why[300] = "";
        const struct reason w = { why, sizeof(why) };
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 't': tar = optarg; break;
                case 'k': keyfile = optarg; break;
                case 'o': out = optarg; break;
                case 'd': dk = optarg; break;
                case 'D': dk = optarg, make_key = true; break;
                case 'e': entries = strtoull(optarg, NULL, 0), has_entries = true; break;
                case 'c': content = strtoull(optarg, NULL, 0); break;
                case 'C': chunk = strtoull(optarg, NULL, 0); break;
                case 'i':
                        if (overlay_id_parse(optarg, id) < 0)
                                return fprintf(stderr, "overlay-craft: bad --id\n"), 2;
                        has_id = true;
                        break;
                case 's': serial = strtoull(optarg, NULL, 0); break;
                case 'r': raw = true; break;
                default: return 2;
                }
        }
        if (!tar || !keyfile || !out || !dk || optind != argc)
                return fprintf(stderr, "overlay-craft: see the comment at the top of tests/overlay/craft.c\n"), 2;

        _cleanup_free_ char *t = NULL;
        size_t tn;
        struct overlay_signing_key *key = NULL;
        if (read_file_all(tar, (size_t)1 << 31, &t, &tn) < 0 || overlay_signing_key_load(keyfile, &key, &w) < 0 ||
            key_hex(dk, data_key, make_key) < 0 || (!has_id && overlay_id_random(id) < 0))
                return fprintf(stderr, "overlay-craft: inputs: %s\n", *why ? why : strerror(errno)), 1;
        uint8_t *payload = (uint8_t *)t;
        size_t pn = tn;
        if (!raw && overlay_compress((const uint8_t *)t, tn, &payload, &pn) < 0)
                return fprintf(stderr, "overlay-craft: zstd failed\n"), 1;
        struct overlay_seal_input in = {
                .serial = serial, .created = (uint64_t)time(NULL), .chunk_size = (uint32_t)chunk,
                .content_size = content ? content : tn,
                .entries = (uint32_t)(has_entries ? entries : raw ? 0 : count_entries(t, tn)),
                .data_key = data_key, .key = key, .payload = payload, .payload_len = pn,
        };
        memcpy(in.id, id, OVERLAY_ID_LEN);
        FILE *f = fopen(out, "we");
        if (!f)
                return fprintf(stderr, "overlay-craft: %s: %m\n", out), 1;
        int r = overlay_seal_payload(&in, sink_file, f, NULL, &w);
        if (fclose(f) != 0 && r >= 0)
                r = -EIO;
        if (payload != (uint8_t *)t)
                free(payload);
        overlay_signing_key_free(key);
        if (r < 0)
                return fprintf(stderr, "overlay-craft: %s\n", why), 1;
        return 0;
}
