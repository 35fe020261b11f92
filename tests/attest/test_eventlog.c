/* SPDX-License-Identifier: Apache-2.0 */
/* The TCG event log parser and replay: real logs from OVMF + swtpm boots
 * (tests/attest/data, README-eventlog.md there) replay to the PCRs the
 * kernel read from the TPM; every cut of them is refused or replays
 * differently; hostile edits are refused with a reason. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/md.h>

#include "eventlog.h"
#include "fileio.h"
#include "util.h"

#define SENTINEL ((struct evlog *)(uintptr_t)0x5a5a5a5a)

/* ---- fixtures --------------------------------------------------------- */

struct fixture {
        const char *name;
        uint32_t extended; /* PCRs the firmware, boot loader and kernel extend */
};

#define FIRMWARE_PCRS 0x2ffu /* 0–7 and 9 */
static const struct fixture fixtures[] = {
        { "ovmf-direct-1", FIRMWARE_PCRS },
        { "ovmf-direct-2", FIRMWARE_PCRS },
        { "ovmf-sdboot-1", FIRMWARE_PCRS | 1u << 12 },
};

static const uint16_t banks[] = { EVLOG_ALG_SHA1, EVLOG_ALG_SHA256, EVLOG_ALG_SHA384 };

/* PCR values the kernel read from sysfs during the boot that wrote the log. */
struct sysfs_pcrs {
        uint32_t have[ELEMENTSOF(banks)]; /* bit n: PCR n of bank b was read */
        uint8_t value[ELEMENTSOF(banks)][EVLOG_PCRS][EVLOG_DIGEST_MAX];
};

static uint8_t *load(const char *name, const char *ext, size_t *ret_len)
{
        char path[512];
        char *buf;
        snprintf(path, sizeof(path), "%s/%s.%s", EMBER_TEST_DATA, name, ext);
        int r = read_file_all(path, EVLOG_MAX_BYTES, &buf, ret_len);
        if (r < 0)
                fail_msg("reading %s: %s", path, strerror(-r));
        return (uint8_t *)buf;
}

static int bank_index(const char *name)
{
        for (size_t b = 0; b < ELEMENTSOF(banks); b++)
                if (streq(evlog_alg_name(banks[b]), name))
                        return (int)b;
        return -1;
}

static void unhex(const char *s, uint8_t *out, size_t n)
{
        assert_int_equal(strlen(s), 2 * n);
        for (size_t i = 0; i < n; i++) {
                unsigned v;
                assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
                out[i] = (uint8_t)v;
        }
}

static void load_pcrs(const char *name, struct sysfs_pcrs *ret)
{
        size_t len;
        _cleanup_free_ char *text = (char *)load(name, "pcrs", &len);
        char *save = NULL;
        memset(ret, 0, sizeof(*ret));
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char bank[16], hex[2 * EVLOG_DIGEST_MAX + 1];
                unsigned pcr;
                assert_int_equal(sscanf(line, "%15s %u %128s", bank, &pcr, hex), 3);
                int b = bank_index(bank);
                if (b < 0)
                        continue;
                assert_true(pcr < EVLOG_PCRS);
                unhex(hex, ret->value[b][pcr], strlen(hex) / 2);
                ret->have[b] |= 1u << pcr;
        }
}

static struct evlog *parse_ok(const void *buf, size_t len)
{
        struct evlog *log = NULL;
        char why[256] = "";
        int r = evlog_parse(buf, len, &log, why, sizeof(why));
        if (r < 0)
                fail_msg("evlog_parse: %s (%d)", why, r);
        return log;
}

static struct evlog_pcrs replay_ok(const struct evlog *log, uint16_t alg)
{
        struct evlog_pcrs p;
        char why[256] = "";
        int r = evlog_replay(log, alg, &p, why, sizeof(why));
        if (r < 0)
                fail_msg("evlog_replay(%s): %s (%d)", evlog_alg_name(alg), why, r);
        return p;
}

/* Does the replay equal what the TPM held? PCR 10 (IMA) is never in this
 * log; every other PCR must match, extended or still at its start value. */
static bool replay_matches(const struct evlog_pcrs *p, const struct sysfs_pcrs *s, int b, int *ret_pcr)
{
        for (int pcr = 0; pcr < EVLOG_PCRS; pcr++) {
                if (pcr == 10)
                        continue;
                if (memcmp(p->value[pcr], s->value[b][pcr], p->size) != 0) {
                        if (ret_pcr)
                                *ret_pcr = pcr;
                        return false;
                }
        }
        return true;
}

static void test_fixtures_replay(void **state)
{
        for (size_t f = 0; f < ELEMENTSOF(fixtures); f++) {
                size_t len;
                _cleanup_free_ uint8_t *bin = load(fixtures[f].name, "bin", &len);
                struct sysfs_pcrs s;
                load_pcrs(fixtures[f].name, &s);
                _cleanup_evlog_ struct evlog *log = parse_ok(bin, len);
                size_t replayed = 0;

                assert_true(log->n_events > 20);
                for (size_t b = 0; b < ELEMENTSOF(banks); b++) {
                        int slot = evlog_bank_slot(log, banks[b]);
                        /* the firmware logs exactly the banks the TPM has active */
                        assert_int_equal(slot >= 0, s.have[b] == 0xffffffu);
                        if (slot < 0)
                                continue;
                        struct evlog_pcrs p = replay_ok(log, banks[b]);
                        int pcr = -1;
                        if (!replay_matches(&p, &s, (int)b, &pcr))
                                fail_msg("%s: %s PCR %d replays to another value than the TPM's", fixtures[f].name,
                                         evlog_alg_name(banks[b]), pcr);
                        assert_int_equal(p.extended, fixtures[f].extended);
                        /* PCRs without events are at their start values */
                        for (int i = 0; i < EVLOG_PCRS; i++) {
                                if (p.extended & (1u << i))
                                        continue;
                                for (size_t k = 0; k < p.size; k++)
                                        assert_int_equal(p.value[i][k], i >= 17 && i <= 22 ? 0xff : 0);
                        }
                        replayed++;
                }
                assert_true(replayed >= 1);
                assert_int_equal(evlog_bank_slot(log, EVLOG_ALG_SHA512), -ENOENT);
        }
}

/* Every cut inside an event is refused with the event and offset named,
 * and the result untouched; a cut between events is a shorter valid log
 * whose replay no longer matches the TPM. */
static void test_truncations(void **state)
{
        for (size_t f = 0; f < ELEMENTSOF(fixtures); f++) {
                size_t len;
                _cleanup_free_ uint8_t *bin = load(fixtures[f].name, "bin", &len);
                _cleanup_evlog_ struct evlog *full = parse_ok(bin, len);
                struct sysfs_pcrs s;
                load_pcrs(fixtures[f].name, &s);
                size_t boundaries = 0, refused = 0;

                for (size_t cut = 0; cut < len; cut++) {
                        bool boundary = false;
                        for (size_t i = 1; i < full->n_events; i++)
                                boundary |= full->events[i].offset == cut;
                        /* an exact-size copy, so ASan sees any read past the cut */
                        uint8_t *part = malloc(cut ? cut : 1);
                        assert_non_null(part);
                        memcpy(part, bin, cut);
                        struct evlog *log = SENTINEL;
                        char why[256] = "";
                        int r = evlog_parse(part, cut, &log, why, sizeof(why));
                        free(part);
                        if (!boundary) {
                                if (r != -EBADMSG)
                                        fail_msg("%s cut at %zu: %d (%s)", fixtures[f].name, cut, r, why);
                                assert_ptr_equal(log, SENTINEL);
                                if (cut > 0 && (!strstr(why, "event ") || !strstr(why, "offset")))
                                        fail_msg("%s cut at %zu: reason \"%s\" names no event", fixtures[f].name, cut,
                                                 why);
                                assert_true(why[0] != 0);
                                refused++;
                                continue;
                        }
                        if (r < 0)
                                fail_msg("%s cut between events at %zu: %s", fixtures[f].name, cut, why);
                        struct evlog_pcrs p = replay_ok(log, EVLOG_ALG_SHA256);
                        assert_false(replay_matches(&p, &s, bank_index("sha256"), NULL));
                        evlog_free(log);
                        boundaries++;
                }
                assert_int_equal(boundaries, full->n_events - 1);
                assert_int_equal(refused + boundaries, len);
        }
}

static void test_trailing_bytes(void **state)
{
        size_t len;
        _cleanup_free_ uint8_t *bin = load("ovmf-direct-1", "bin", &len);
        for (size_t extra = 1; extra <= 64; extra++) {
                for (int fill = 0; fill <= 0xff; fill += 0xff) {
                        _cleanup_free_ uint8_t *b = malloc(len + extra);
                        assert_non_null(b);
                        memcpy(b, bin, len);
                        memset(b + len, fill, extra);
                        struct evlog *log = SENTINEL;
                        char why[256] = "";
                        int r = evlog_parse(b, len + extra, &log, why, sizeof(why));
                        assert_true(r == -EBADMSG || r == -E2BIG);
                        assert_ptr_equal(log, SENTINEL);
                        assert_non_null(strstr(why, "offset 1932"));
                }
        }
}

/* ---- hand-built logs ---------------------------------------------------- */

struct buf {
        uint8_t *b;
        size_t n, cap;
};

static void bput(struct buf *b, const void *p, size_t n)
{
        if (b->cap - b->n < n) {
                b->cap = (b->n + n) * 2;
                b->b = realloc(b->b, b->cap);
                assert_non_null(b->b);
        }
        memcpy(b->b + b->n, p, n);
        b->n += n;
}

static void le16(struct buf *b, uint16_t v)
{
        uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
        bput(b, x, 2);
}

static void le32(struct buf *b, uint32_t v)
{
        uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
        bput(b, x, 4);
}

static void fill(struct buf *b, uint8_t v, size_t n)
{
        uint8_t x[256];
        memset(x, v, sizeof(x));
        for (size_t k; n > 0; n -= k) {
                k = n < sizeof(x) ? n : sizeof(x);
                bput(b, x, k);
        }
}

struct alg {
        uint16_t id, size;
};
static const struct alg sha1_sha256[] = { { EVLOG_ALG_SHA1, 20 }, { EVLOG_ALG_SHA256, 32 } };

/* Event 0 with a Spec ID Event03 for n algorithms (count written as given
 * so callers can lie about it) and vendor bytes. */
static void spec_id(struct buf *b, const struct alg *a, size_t n, uint32_t count, uint8_t vendor_len)
{
        le32(b, 0);
        le32(b, EVLOG_EV_NO_ACTION);
        fill(b, 0, 20);
        le32(b, (uint32_t)(16 + 4 + 4 + 4 + 4 * n + 1 + vendor_len));
        bput(b, "Spec ID Event03", 16);
        le32(b, 0);            /* platform class: client */
        bput(b, "\0\2\0\2", 4); /* spec 2.0, errata 0, UINTN of 8 bytes */
        le32(b, count);
        for (size_t i = 0; i < n; i++) {
                le16(b, a[i].id);
                le16(b, a[i].size);
        }
        bput(b, &vendor_len, 1);
        fill(b, 0xee, vendor_len);
}

static struct buf header(void)
{
        struct buf b = { 0 };
        spec_id(&b, sha1_sha256, 2, 2, 0);
        return b;
}

/* An event with a digest filled with 'd' for each of n algorithms. */
static void event(struct buf *b, uint32_t pcr, uint32_t type, const struct alg *a, size_t n, uint8_t d,
                  const void *data, uint32_t len)
{
        le32(b, pcr);
        le32(b, type);
        le32(b, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
                le16(b, a[i].id);
                fill(b, d, a[i].size);
        }
        le32(b, len);
        bput(b, data, len);
}

static void plain(struct buf *b, uint32_t pcr, uint8_t d)
{
        event(b, pcr, 0x0000000D /* EV_IPL */, sha1_sha256, 2, d, "ipl", 3);
}

static void startup_locality_event(struct buf *b, uint8_t locality)
{
        uint8_t data[17];
        memcpy(data, "StartupLocality", 16);
        data[16] = locality;
        event(b, 0, EVLOG_EV_NO_ACTION, sha1_sha256, 2, 0, data, sizeof(data));
}

/* Refused with err and a reason containing 'needle'; *ret untouched. */
static void refused(struct buf *b, int err, const char *needle)
{
        struct evlog *log = SENTINEL;
        char why[256] = "";
        int r = evlog_parse(b->b, b->n, &log, why, sizeof(why));
        if (r != err || !strstr(why, needle))
                fail_msg("expected %d \"%s\", got %d \"%s\"", err, needle, r, why);
        assert_ptr_equal(log, SENTINEL);
        free(b->b);
        *b = (struct buf){ 0 };
}

static void test_hostile_digests(void **state)
{
        struct buf b = header();
        /* more digests than declared algorithms */
        le32(&b, 0), le32(&b, 0xD), le32(&b, 3);
        le16(&b, EVLOG_ALG_SHA1), fill(&b, 1, 20);
        le16(&b, EVLOG_ALG_SHA256), fill(&b, 1, 32);
        le16(&b, EVLOG_ALG_SHA256), fill(&b, 1, 32);
        le32(&b, 0);
        refused(&b, -EBADMSG, "3 digests, but the Spec ID declares 2");

        b = header();
        le32(&b, 0), le32(&b, 0xD), le32(&b, 0xffffffff);
        refused(&b, -EBADMSG, "4294967295 digests");

        b = header();
        le32(&b, 0), le32(&b, 0xD), le32(&b, 0), le32(&b, 0);
        refused(&b, -EBADMSG, "no digest");

        static const struct alg unknown[] = { { 0x0099, 32 } };
        b = header();
        event(&b, 0, 0xD, unknown, 1, 1, "x", 1);
        refused(&b, -EBADMSG, "algorithm 0x0099, which the Spec ID does not declare");

        static const struct alg sha384[] = { { EVLOG_ALG_SHA384, 48 } };
        b = header();
        event(&b, 0, 0xD, sha384, 1, 1, "x", 1);
        refused(&b, -EBADMSG, "algorithm 0x000c, which the Spec ID does not declare");

        static const struct alg twice[] = { { EVLOG_ALG_SHA256, 32 }, { EVLOG_ALG_SHA256, 32 } };
        b = header();
        event(&b, 0, 0xD, twice, 2, 1, "x", 1);
        refused(&b, -EBADMSG, "two digests of algorithm 0x000b");

        b = header();
        plain(&b, 24, 1);
        refused(&b, -EBADMSG, "event 1 at offset 69: PCR index 24");
}

static void test_hostile_sizes(void **state)
{
        struct buf b = header();
        plain(&b, 0, 1);
        le32(&b, 0), le32(&b, 0xD), le32(&b, 1), le16(&b, EVLOG_ALG_SHA256), fill(&b, 1, 32);
        le32(&b, 0xffffffff);
        refused(&b, -E2BIG, "event 2 at offset 144: event data of 4294967295 bytes");

        b = header();
        le32(&b, 0), le32(&b, 0xD), le32(&b, 1), le16(&b, EVLOG_ALG_SHA256), fill(&b, 1, 32);
        le32(&b, EVLOG_MAX_EVENT_DATA + 1);
        fill(&b, 0, 100);
        refused(&b, -E2BIG, "at most 65536");

        b = header();
        le32(&b, 0), le32(&b, 0xD), le32(&b, 1), le16(&b, EVLOG_ALG_SHA256), fill(&b, 1, 32);
        le32(&b, 1000);
        fill(&b, 0, 10);
        refused(&b, -EBADMSG, "truncated in the event data (needs 1000 bytes, 10 left)");

        /* the largest event Ember takes */
        b = header();
        uint8_t *big = calloc(1, EVLOG_MAX_EVENT_DATA);
        assert_non_null(big);
        event(&b, 1, 0xD, sha1_sha256, 2, 1, big, EVLOG_MAX_EVENT_DATA);
        free(big);
        evlog_free(parse_ok(b.b, b.n));
        free(b.b);

        /* a whole log beyond 1 MiB, refused before it is read */
        b = header();
        big = calloc(1, 60000);
        assert_non_null(big);
        while (b.n <= EVLOG_MAX_BYTES)
                event(&b, 1, 0xD, sha1_sha256, 2, 1, big, 60000);
        free(big);
        refused(&b, -E2BIG, "at most 1048576");

        assert_int_equal(evlog_parse(NULL, 0, &(struct evlog *){ NULL }, NULL, 0), -EBADMSG);
        assert_int_equal(evlog_parse(NULL, 5, &(struct evlog *){ NULL }, NULL, 0), -EINVAL);
        assert_int_equal(evlog_parse("x", 1, NULL, NULL, 0), -EINVAL);
}

static void test_event_count_bomb(void **state)
{
        struct buf b = header();
        for (int i = 1; i < EVLOG_MAX_EVENTS; i++)
                plain(&b, (uint32_t)(i % 8), 1);
        struct evlog *log = parse_ok(b.b, b.n);
        assert_int_equal(log->n_events, EVLOG_MAX_EVENTS);
        evlog_free(log);
        plain(&b, 0, 1);
        refused(&b, -E2BIG, "event 4096 at offset");

        /* 20,000 events of the smallest size: refused, and quickly */
        static const struct alg one[] = { { EVLOG_ALG_SHA1, 20 } };
        b = header();
        for (int i = 0; i < 20000; i++)
                event(&b, 0, EVLOG_EV_NO_ACTION, one, 1, 0, "", 0);
        refused(&b, -E2BIG, "more than 4096 events");
}

static void test_hostile_spec_id(void **state)
{
        struct buf b = { 0 };
        static const struct alg size0[] = { { EVLOG_ALG_SHA256, 0 } };
        spec_id(&b, size0, 1, 1, 0);
        refused(&b, -EBADMSG, "event 0 at offset 0: Spec ID gives algorithm 0x000b a digest size of 0");

        static const struct alg size65[] = { { 0x0042, 65 } };
        spec_id(&b, size65, 1, 1, 0);
        refused(&b, -EBADMSG, "digest size of 65");

        static const struct alg wrong[] = { { EVLOG_ALG_SHA256, 20 } };
        spec_id(&b, wrong, 1, 1, 0);
        refused(&b, -EBADMSG, "gives sha256 a digest size of 20, not 32");

        static const struct alg dup[] = { { EVLOG_ALG_SHA256, 32 }, { EVLOG_ALG_SHA256, 32 } };
        spec_id(&b, dup, 2, 2, 0);
        refused(&b, -EBADMSG, "declares algorithm 0x000b twice");

        spec_id(&b, sha1_sha256, 0, 0, 0);
        refused(&b, -EBADMSG, "declares no algorithm");

        static const struct alg nine[9] = { { 1, 1 }, { 2, 1 }, { 3, 1 }, { 5, 1 }, { 6, 1 },
                                            { 7, 1 }, { 8, 1 }, { 9, 1 }, { 10, 1 } };
        spec_id(&b, nine, 9, 9, 0);
        refused(&b, -E2BIG, "declares 9 algorithms, at most 8");

        /* a count beyond the table it comes with */
        spec_id(&b, sha1_sha256, 2, 3, 0);
        refused(&b, -EBADMSG, "truncated in the Spec ID algorithm table");

        spec_id(&b, sha1_sha256, 2, 0xffffffff, 0);
        refused(&b, -E2BIG, "declares 4294967295 algorithms");

        /* vendor info longer than the event */
        spec_id(&b, sha1_sha256, 2, 2, 4);
        b.b[28] = (uint8_t)(b.b[28] - 2); /* the event size */
        b.n -= 2;
        refused(&b, -EBADMSG, "truncated in the Spec ID vendor info");

        /* bytes after the structure, inside the event */
        spec_id(&b, sha1_sha256, 2, 2, 0);
        b.b[28] = (uint8_t)(b.b[28] + 3);
        fill(&b, 0, 3);
        refused(&b, -EBADMSG, "3 bytes after the Spec ID structure");

        /* with vendor info, and an algorithm Ember knows only by its size */
        static const struct alg other[] = { { EVLOG_ALG_SHA256, 32 }, { 0x1234, 40 } };
        spec_id(&b, other, 2, 2, 7);
        event(&b, 1, 0xD, other, 2, 3, "z", 1);
        struct evlog *log = parse_ok(b.b, b.n);
        assert_int_equal(log->spec.vendor_len, 7);
        assert_int_equal(log->spec.vendor[6], 0xee);
        assert_int_equal(log->spec.algs[1].size, 40);
        struct evlog_pcrs p;
        char why[200] = "";
        assert_int_equal(evlog_replay(log, 0x1234, &p, why, sizeof(why)), -EOPNOTSUPP);
        assert_int_equal(evlog_replay(log, EVLOG_ALG_SHA384, &p, why, sizeof(why)), -ENOENT);
        assert_non_null(strstr(why, "no sha384 bank"));
        replay_ok(log, EVLOG_ALG_SHA256);
        evlog_free(log);
        free(b.b);
}

static void test_missing_or_second_spec_id(void **state)
{
        /* a TPM 1.2 log: its first event is an ordinary SHA-1 event */
        struct buf b = { 0 };
        le32(&b, 0), le32(&b, 8 /* EV_S_CRTM_VERSION */), fill(&b, 7, 20), le32(&b, 2), fill(&b, 0, 2);
        refused(&b, -EBADMSG, "the first event is PCR 0 type 0x00000008, not a Spec ID event");

        /* a crypto-agile event first */
        plain(&b, 0, 1);
        refused(&b, -EBADMSG, "not a Spec ID event");

        /* a TPM 1.2 Spec ID */
        b = header();
        memcpy(b.b + 32, "Spec ID Event00", 16);
        refused(&b, -EBADMSG, "not a crypto-agile log");

        /* EV_NO_ACTION with other data first */
        b = header();
        memcpy(b.b + 32, "StartupLocality", 16);
        refused(&b, -EBADMSG, "no Spec ID Event03 signature");

        b = header();
        plain(&b, 0, 1);
        spec_id(&b, sha1_sha256, 2, 2, 0);
        refused(&b, -EBADMSG, "event 2 at offset 144");

        /* a second one in crypto-agile layout */
        b = header();
        uint8_t data[33] = "Spec ID Event03";
        event(&b, 0, EVLOG_EV_NO_ACTION, sha1_sha256, 2, 0, data, sizeof(data));
        refused(&b, -EBADMSG, "event 1 at offset 69: a second Spec ID event");
}

static void hash(mbedtls_md_type_t t, const uint8_t *a, size_t n, const uint8_t *b2, uint8_t *out)
{
        uint8_t in[2 * EVLOG_DIGEST_MAX];
        memcpy(in, a, n);
        memcpy(in + n, b2, n);
        assert_int_equal(mbedtls_md(mbedtls_md_info_from_type(t), in, 2 * n, out), 0);
}

static void test_startup_locality(void **state)
{
        for (uint8_t loc = 3; loc <= 4; loc++) {
                struct buf b = header();
                startup_locality_event(&b, loc);
                plain(&b, 0, 0x42);
                plain(&b, 17, 0x43);
                struct evlog *log = parse_ok(b.b, b.n);
                assert_true(log->have_startup_locality);
                assert_int_equal(log->startup_locality, loc);

                static const struct {
                        uint16_t alg;
                        mbedtls_md_type_t md;
                        size_t size;
                } bank[] = { { EVLOG_ALG_SHA1, MBEDTLS_MD_SHA1, 20 }, { EVLOG_ALG_SHA256, MBEDTLS_MD_SHA256, 32 } };
                for (size_t k = 0; k < ELEMENTSOF(bank); k++) {
                        uint8_t start[EVLOG_DIGEST_MAX] = { 0 }, ones[EVLOG_DIGEST_MAX], d0[EVLOG_DIGEST_MAX],
                                d17[EVLOG_DIGEST_MAX], want0[EVLOG_DIGEST_MAX], want17[EVLOG_DIGEST_MAX];
                        start[bank[k].size - 1] = loc;
                        memset(ones, 0xff, sizeof(ones));
                        memset(d0, 0x42, sizeof(d0));
                        memset(d17, 0x43, sizeof(d17));
                        hash(bank[k].md, start, bank[k].size, d0, want0);
                        hash(bank[k].md, ones, bank[k].size, d17, want17);
                        struct evlog_pcrs p = replay_ok(log, bank[k].alg);
                        assert_memory_equal(p.value[0], want0, bank[k].size);
                        assert_memory_equal(p.value[17], want17, bank[k].size);
                        assert_int_equal(p.extended, 1u << 0 | 1u << 17);
                }
                evlog_free(log);
                free(b.b);
        }

        /* locality 3 with nothing extended into PCR 0: it stays at 0…03 */
        struct buf b = header();
        startup_locality_event(&b, 3);
        plain(&b, 1, 1);
        struct evlog *log = parse_ok(b.b, b.n);
        struct evlog_pcrs p = replay_ok(log, EVLOG_ALG_SHA256);
        uint8_t three[32] = { [31] = 3 };
        assert_memory_equal(p.value[0], three, 32);
        assert_int_equal(p.extended, 1u << 1);
        evlog_free(log);
        free(b.b);

        b = header();
        startup_locality_event(&b, 2);
        refused(&b, -EBADMSG, "StartupLocality 2");

        b = header();
        plain(&b, 0, 1);
        startup_locality_event(&b, 3);
        refused(&b, -EBADMSG, "event 2 at offset 144: StartupLocality event after PCR 0 was extended");

        b = header();
        startup_locality_event(&b, 3);
        startup_locality_event(&b, 3);
        refused(&b, -EBADMSG, "a second StartupLocality event");

        b = header();
        event(&b, 0, EVLOG_EV_NO_ACTION, sha1_sha256, 2, 0, "StartupLocality\0\3\3", 18);
        refused(&b, -EBADMSG, "StartupLocality event of 18 bytes");

        b = header();
        event(&b, 1, EVLOG_EV_NO_ACTION, sha1_sha256, 2, 0, "StartupLocality\0\3", 17);
        refused(&b, -EBADMSG, "StartupLocality event for PCR 1");
}

/* An event without a digest for a bank makes that bank unreplayable, but
 * not the others; EV_NO_ACTION events are not extended at all. */
static void test_partial_banks(void **state)
{
        static const struct alg only_sha1[] = { { EVLOG_ALG_SHA1, 20 } };
        struct buf b = header();
        plain(&b, 2, 1);
        event(&b, 3, EVLOG_EV_NO_ACTION, only_sha1, 1, 9, "note", 4);
        struct evlog *log = parse_ok(b.b, b.n);
        struct evlog_pcrs p = replay_ok(log, EVLOG_ALG_SHA256);
        assert_int_equal(p.extended, 1u << 2);
        evlog_free(log);

        event(&b, 4, 0xD, only_sha1, 1, 9, "ipl", 3);
        log = parse_ok(b.b, b.n);
        p = replay_ok(log, EVLOG_ALG_SHA1);
        assert_int_equal(p.extended, 1u << 2 | 1u << 4);
        char why[200] = "";
        assert_int_equal(evlog_replay(log, EVLOG_ALG_SHA256, &p, why, sizeof(why)), -EBADMSG);
        assert_string_equal(why, "event 3 at offset 186 (PCR 4) has no sha256 digest");
        evlog_free(log);
        free(b.b);
}

/* What counts is the digests: data edited under an unchanged digest still
 * replays to the TPM's values (the data is only a description), while an
 * edited digest does not. */
static void test_edited_to_match(void **state)
{
        size_t len;
        _cleanup_free_ uint8_t *bin = load("ovmf-direct-1", "bin", &len);
        _cleanup_evlog_ struct evlog *orig = parse_ok(bin, len);
        struct sysfs_pcrs s;
        load_pcrs("ovmf-direct-1", &s);
        int b256 = bank_index("sha256");

        size_t initrd = 0;
        for (size_t i = 1; i < orig->n_events; i++) {
                const struct evlog_event *ev = &orig->events[i];
                if (ev->pcr == 9 && ev->data_len >= 12 && memmem(ev->data, ev->data_len, "Linux initrd", 12))
                        initrd = i;
        }
        assert_true(initrd > 0);
        const struct evlog_event *ev = &orig->events[initrd];
        size_t data_off = (size_t)(ev->data - orig->bytes);
        size_t digest_off = (size_t)(ev->digest[evlog_bank_slot(orig, EVLOG_ALG_SHA256)] - orig->bytes);

        _cleanup_free_ uint8_t *edit = malloc(len);
        assert_non_null(edit);
        memcpy(edit, bin, len);
        uint8_t *name = memmem(edit + data_off, ev->data_len, "Linux", 5);
        assert_non_null(name);
        memcpy(name, "Evil!", 5);
        struct evlog *log = parse_ok(edit, len);
        char text[128];
        assert_int_equal(evlog_describe(log, initrd, text, sizeof(text)), 0);
        assert_non_null(strstr(text, "Evil! initrd"));
        struct evlog_pcrs p = replay_ok(log, EVLOG_ALG_SHA256);
        assert_true(replay_matches(&p, &s, b256, NULL));
        evlog_free(log);

        memcpy(edit, bin, len);
        edit[digest_off + 5] ^= 0x01;
        log = parse_ok(edit, len);
        p = replay_ok(log, EVLOG_ALG_SHA256);
        int pcr = -1;
        assert_false(replay_matches(&p, &s, b256, &pcr));
        assert_int_equal(pcr, 9);
        evlog_free(log);
}

static void test_listing(void **state)
{
        size_t len;
        _cleanup_free_ uint8_t *bin = load("ovmf-sdboot-1", "bin", &len);
        _cleanup_evlog_ struct evlog *log = parse_ok(bin, len);
        char *text = NULL;
        size_t text_len = 0;
        FILE *f = open_memstream(&text, &text_len);
        assert_non_null(f);
        assert_int_equal(evlog_print(log, f), 0);
        fclose(f);

        size_t lines = 0;
        for (char *p = text; *p; p++)
                lines += *p == '\n';
        assert_int_equal(lines, log->n_events);
        static const char *const want[] = {
                "0 pcr 0 EV_NO_ACTION Spec ID Event03, banks sha1 sha256\n",
                " pcr 7 EV_EFI_VARIABLE_DRIVER_CONFIG sha1:",
                "var \"SecureBoot\", 1 byte",
                "var \"PK\", 0 bytes",
                "EV_SEPARATOR sha1:",
                "separator 00000000",
                "EV_EFI_BOOT_SERVICES_APPLICATION",
                "image at 0x",
                "pcr 9 EV_EVENT_TAG",
                "tag 0x8f3b22ec \"Linux initrd\"",
                "tag 0x8f3b22ed \"LOADED_IMAGE::LoadOptions\"",
                "pcr 12 EV_IPL",
                "\"initrd=\\x5cember\\x5cinitrd console=ttyS0",
                "\"Exit Boot Services Returned with Success\"",
                "blob at 0x820000, 917504 bytes",
        };
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                if (!strstr(text, want[i]))
                        fail_msg("listing lacks \"%s\":\n%s", want[i], text);
        free(text);

        /* untrusted text comes out escaped */
        struct buf b = header();
        event(&b, 4, 0xD, sha1_sha256, 2, 1, "say \"hi\" \\ ok", 13);
        event(&b, 4, 0x7fffffff, sha1_sha256, 2, 1, "\x01\x02\x03", 3);
        struct evlog *hostile = parse_ok(b.b, b.n);
        char d[64];
        assert_int_equal(evlog_describe(hostile, 1, d, sizeof(d)), 0);
        assert_string_equal(d, "\"say \\x22hi\\x22 \\x5c ok\"");
        assert_int_equal(evlog_describe(hostile, 2, d, sizeof(d)), 0);
        assert_string_equal(d, "3 bytes: 010203");
        assert_int_equal(evlog_describe(hostile, 3, d, sizeof(d)), -EINVAL);
        char tiny[8];
        assert_int_equal(evlog_describe(log, 0, tiny, sizeof(tiny)), 0);
        assert_string_equal(tiny, "Spec ID");
        assert_null(evlog_type_name(0x7fffffff));
        assert_string_equal(evlog_type_name(0x80000003), "EV_EFI_BOOT_SERVICES_APPLICATION");
        evlog_free(hostile);
        free(b.b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fixtures_replay),
                cmocka_unit_test(test_truncations),
                cmocka_unit_test(test_trailing_bytes),
                cmocka_unit_test(test_hostile_digests),
                cmocka_unit_test(test_hostile_sizes),
                cmocka_unit_test(test_event_count_bomb),
                cmocka_unit_test(test_hostile_spec_id),
                cmocka_unit_test(test_missing_or_second_spec_id),
                cmocka_unit_test(test_startup_locality),
                cmocka_unit_test(test_partial_banks),
                cmocka_unit_test(test_edited_to_match),
                cmocka_unit_test(test_listing),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
