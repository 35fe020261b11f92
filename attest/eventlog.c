/* SPDX-License-Identifier: Apache-2.0 */
#include "eventlog.h"

#include <errno.h>
#include <inttypes.h>
#include <mbedtls/md.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader.h"
#include "reason.h"
#include "util.h"

/* The event log is little-endian, unlike the TPM's own structures; these
 * keep reader.h's promise (all or nothing) by reading through rd_bytes. */
static int rd_le16(struct reader *r, uint16_t *ret)
{
        const uint8_t *b;
        if (rd_bytes(r, 2, &b) < 0)
                return -EBADMSG;
        *ret = (uint16_t)(b[0] | (uint16_t)b[1] << 8);
        return 0;
}

static int rd_le32(struct reader *r, uint32_t *ret)
{
        const uint8_t *b;
        if (rd_bytes(r, 4, &b) < 0)
                return -EBADMSG;
        *ret = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        return 0;
}

static int rd_le64(struct reader *r, uint64_t *ret)
{
        uint32_t lo, hi;
        struct reader save = *r;
        if (rd_le32(r, &lo) < 0 || rd_le32(r, &hi) < 0) {
                *r = save;
                return -EBADMSG;
        }
        *ret = (uint64_t)hi << 32 | lo;
        return 0;
}

static const struct {
        uint16_t id;
        uint16_t size;
        const char *name;
        mbedtls_md_type_t md; /* MBEDTLS_MD_NONE: Ember cannot replay it */
} algs[] = {
        { EVLOG_ALG_SHA1, 20, "sha1", MBEDTLS_MD_SHA1 },
        { EVLOG_ALG_SHA256, 32, "sha256", MBEDTLS_MD_SHA256 },
        { EVLOG_ALG_SHA384, 48, "sha384", MBEDTLS_MD_SHA384 },
        { EVLOG_ALG_SHA512, 64, "sha512", MBEDTLS_MD_SHA512 },
        { EVLOG_ALG_SM3_256, 32, "sm3_256", MBEDTLS_MD_NONE },
        { EVLOG_ALG_SHA3_256, 32, "sha3_256", MBEDTLS_MD_NONE },
        { EVLOG_ALG_SHA3_384, 48, "sha3_384", MBEDTLS_MD_NONE },
        { EVLOG_ALG_SHA3_512, 64, "sha3_512", MBEDTLS_MD_NONE },
};

static int alg_index(uint16_t id)
{
        for (size_t i = 0; i < ELEMENTSOF(algs); i++)
                if (algs[i].id == id)
                        return (int)i;
        return -ENOENT;
}

const char *evlog_alg_name(uint16_t alg)
{
        int i = alg_index(alg);
        return i < 0 ? NULL : algs[i].name;
}

static const struct {
        uint32_t type;
        const char *name;
} types[] = {
        { 0x00000000, "EV_PREBOOT_CERT" },
        { 0x00000001, "EV_POST_CODE" },
        { 0x00000002, "EV_UNUSED" },
        { 0x00000003, "EV_NO_ACTION" },
        { 0x00000004, "EV_SEPARATOR" },
        { 0x00000005, "EV_ACTION" },
        { 0x00000006, "EV_EVENT_TAG" },
        { 0x00000007, "EV_S_CRTM_CONTENTS" },
        { 0x00000008, "EV_S_CRTM_VERSION" },
        { 0x00000009, "EV_CPU_MICROCODE" },
        { 0x0000000A, "EV_PLATFORM_CONFIG_FLAGS" },
        { 0x0000000B, "EV_TABLE_OF_DEVICES" },
        { 0x0000000C, "EV_COMPACT_HASH" },
        { 0x0000000D, "EV_IPL" },
        { 0x0000000E, "EV_IPL_PARTITION_DATA" },
        { 0x0000000F, "EV_NONHOST_CODE" },
        { 0x00000010, "EV_NONHOST_CONFIG" },
        { 0x00000011, "EV_NONHOST_INFO" },
        { 0x00000012, "EV_OMIT_BOOT_DEVICE_EVENTS" },
        { 0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG" },
        { 0x80000002, "EV_EFI_VARIABLE_BOOT" },
        { 0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION" },
        { 0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER" },
        { 0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER" },
        { 0x80000006, "EV_EFI_GPT_EVENT" },
        { 0x80000007, "EV_EFI_ACTION" },
        { 0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB" },
        { 0x80000009, "EV_EFI_HANDOFF_TABLES" },
        { 0x8000000A, "EV_EFI_PLATFORM_FIRMWARE_BLOB2" },
        { 0x8000000B, "EV_EFI_HANDOFF_TABLES2" },
        { 0x8000000C, "EV_EFI_VARIABLE_BOOT2" },
        { 0x80000010, "EV_EFI_HCRTM_EVENT" },
        { 0x800000E0, "EV_EFI_VARIABLE_AUTHORITY" },
        { 0x800000E1, "EV_EFI_SPDM_FIRMWARE_BLOB" },
        { 0x800000E2, "EV_EFI_SPDM_FIRMWARE_CONFIG" },
};

const char *evlog_type_name(uint32_t type)
{
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if (types[i].type == type)
                        return types[i].name;
        return NULL;
}

/* Signatures at the start of EV_NO_ACTION data, NUL included. */
static const char spec_id_prefix[] = "Spec ID Event"; /* any version: 00 is TPM 1.2's */
static const uint8_t spec_id03[16] = "Spec ID Event03";
static const uint8_t startup_locality[16] = "StartupLocality";

/* ---- parsing ---------------------------------------------------------- */

/* Where the parser is, so that every refusal names the event and offset. */
struct at {
        const struct reason *w;
        size_t idx;
        size_t off;
};

static int truncated(const struct at *a, const char *field, size_t need, const struct reader *r)
{
        return reason_fail(a->w, -EBADMSG, "event %zu at offset %zu: truncated in %s (needs %zu bytes, %zu left)",
                           a->idx, a->off, field, need, rd_remaining(r));
}

static int bad(const struct at *a, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(const struct at *a, int err, const char *fmt, ...)
{
        char what[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return reason_fail(a->w, err, "event %zu at offset %zu: %s", a->idx, a->off, what);
}

/* The algorithm table of the Spec ID structure. */
static int parse_algs(struct reader *r, struct evlog_spec_id *spec, const struct at *a)
{
        uint32_t n;
        if (rd_le32(r, &n) < 0)
                return truncated(a, "the Spec ID algorithm count", 4, r);
        if (n == 0)
                return bad(a, -EBADMSG, "Spec ID declares no algorithm");
        if (n > EVLOG_MAX_ALGS)
                return bad(a, -E2BIG, "Spec ID declares %" PRIu32 " algorithms, at most %d", n, EVLOG_MAX_ALGS);
        for (uint32_t i = 0; i < n; i++) {
                uint16_t id, size;
                struct reader e;
                if (rd_sub(r, 4, &e) < 0)
                        return truncated(a, "the Spec ID algorithm table", 4, r);
                (void)rd_le16(&e, &id);
                (void)rd_le16(&e, &size);
                if (size == 0 || size > EVLOG_DIGEST_MAX)
                        return bad(a, -EBADMSG, "Spec ID gives algorithm 0x%04x a digest size of %u (1…%d)", id, size,
                                   EVLOG_DIGEST_MAX);
                int k = alg_index(id);
                if (k >= 0 && algs[k].size != size)
                        return bad(a, -EBADMSG, "Spec ID gives %s a digest size of %u, not %u", algs[k].name, size,
                                   algs[k].size);
                for (uint32_t j = 0; j < i; j++)
                        if (spec->algs[j].id == id)
                                return bad(a, -EBADMSG, "Spec ID declares algorithm 0x%04x twice", id);
                spec->algs[i] = (struct evlog_alg){ id, size };
        }
        spec->n_algs = n;
        return 0;
}

/* Event 0: a SHA-1-layout event carrying the Spec ID Event03 structure. */
static int parse_spec_id(struct reader *r, struct evlog *log, const struct reason *w)
{
        const struct at a = { w, 0, 0 };
        struct evlog_event *ev = &log->events[0];
        struct evlog_spec_id *spec = &log->spec;
        const uint8_t *sig;
        struct reader h, d;
        uint32_t size;

        /* fixed-size parts are taken whole, so the reads inside cannot fail
         * and a refusal says how much was missing */
        if (rd_sub(r, 32, &h) < 0)
                return truncated(&a, "the Spec ID event's header", 32, r);
        (void)rd_le32(&h, &ev->pcr);
        (void)rd_le32(&h, &ev->type);
        (void)rd_skip(&h, 20); /* a SHA-1 field that holds no digest */
        (void)rd_le32(&h, &size);
        if (ev->pcr != 0 || ev->type != EVLOG_EV_NO_ACTION)
                return bad(&a, -EBADMSG, "the first event is PCR %" PRIu32 " type 0x%08" PRIx32 ", not a Spec ID event",
                           ev->pcr, ev->type);
        if (size > EVLOG_MAX_EVENT_DATA)
                return bad(&a, -E2BIG, "event data of %" PRIu32 " bytes, at most %u", size, EVLOG_MAX_EVENT_DATA);
        if (rd_sub(r, size, &d) < 0)
                return truncated(&a, "the Spec ID event's data", size, r);
        ev->data = d.p;
        ev->data_len = size;
        if (rd_bytes(&d, sizeof(spec_id03), &sig) < 0)
                return truncated(&a, "the Spec ID signature", sizeof(spec_id03), &d);
        if (memcmp(sig, spec_id03, sizeof(spec_id03)) != 0)
                return bad(&a, -EBADMSG, "%s", memcmp(sig, spec_id_prefix, strlen(spec_id_prefix)) == 0
                                                       ? "not a crypto-agile log (Spec ID is not version 03)"
                                                       : "no Spec ID Event03 signature");
        if (rd_sub(&d, 8, &h) < 0)
                return truncated(&a, "the Spec ID fields", 8, &d);
        (void)rd_le32(&h, &spec->platform_class);
        (void)rd_u8(&h, &spec->version_minor);
        (void)rd_u8(&h, &spec->version_major);
        (void)rd_u8(&h, &spec->errata);
        (void)rd_u8(&h, &spec->uintn_size);
        int err = parse_algs(&d, spec, &a);
        if (err < 0)
                return err;
        if (rd_u8(&d, &spec->vendor_len) < 0)
                return truncated(&a, "the Spec ID vendor info size", 1, &d);
        if (rd_bytes(&d, spec->vendor_len, &spec->vendor) < 0)
                return truncated(&a, "the Spec ID vendor info", spec->vendor_len, &d);
        if (rd_remaining(&d) != 0)
                return bad(&a, -EBADMSG, "%zu bytes after the Spec ID structure", rd_remaining(&d));
        return 0;
}

static int spec_slot(const struct evlog_spec_id *spec, uint16_t id)
{
        for (size_t i = 0; i < spec->n_algs; i++)
                if (spec->algs[i].id == id)
                        return (int)i;
        return -ENOENT;
}

/* The TPML_DIGEST_VALUES of one event, each digest sized by event 0. */
static int parse_digests(struct reader *r, const struct evlog_spec_id *spec, struct evlog_event *ev,
                         const struct at *a)
{
        uint32_t count;
        if (rd_le32(r, &count) < 0)
                return truncated(a, "the digest count", 4, r);
        if (count == 0)
                return bad(a, -EBADMSG, "no digest");
        if (count > spec->n_algs)
                return bad(a, -EBADMSG, "%" PRIu32 " digests, but the Spec ID declares %zu algorithms", count,
                           spec->n_algs);
        for (uint32_t i = 0; i < count; i++) {
                uint16_t id;
                if (rd_le16(r, &id) < 0)
                        return truncated(a, "a digest's algorithm", 2, r);
                int slot = spec_slot(spec, id);
                if (slot < 0)
                        return bad(a, -EBADMSG, "digest of algorithm 0x%04x, which the Spec ID does not declare", id);
                if (ev->digest[slot])
                        return bad(a, -EBADMSG, "two digests of algorithm 0x%04x", id);
                if (rd_bytes(r, spec->algs[slot].size, &ev->digest[slot]) < 0)
                        return truncated(a, "a digest", spec->algs[slot].size, r);
        }
        return 0;
}

static int parse_event2(struct reader *r, const struct evlog_spec_id *spec, struct evlog_event *ev,
                        const struct at *a)
{
        uint32_t size;
        *ev = (struct evlog_event){ .offset = a->off };
        struct reader h;
        if (rd_sub(r, 8, &h) < 0)
                return truncated(a, "the event header", 8, r);
        (void)rd_le32(&h, &ev->pcr);
        (void)rd_le32(&h, &ev->type);
        if (ev->pcr >= EVLOG_PCRS)
                return bad(a, -EBADMSG, "PCR index %" PRIu32 " (0…%d)", ev->pcr, EVLOG_PCRS - 1);
        int err = parse_digests(r, spec, ev, a);
        if (err < 0)
                return err;
        if (rd_le32(r, &size) < 0)
                return truncated(a, "the event size", 4, r);
        if (size > EVLOG_MAX_EVENT_DATA)
                return bad(a, -E2BIG, "event data of %" PRIu32 " bytes, at most %u", size, EVLOG_MAX_EVENT_DATA);
        if (rd_bytes(r, size, &ev->data) < 0)
                return truncated(a, "the event data", size, r);
        ev->data_len = size;
        return 0;
}

/* Events 1…n, to the last byte. */
static int parse_events(struct reader *r, struct evlog *log, const struct reason *w)
{
        size_t cap = 1;
        while (rd_remaining(r) > 0) {
                const struct at a = { w, log->n_events, log->len - rd_remaining(r) };
                if (log->n_events >= EVLOG_MAX_EVENTS)
                        return bad(&a, -E2BIG, "more than %d events", EVLOG_MAX_EVENTS);
                if (log->n_events == cap) {
                        size_t ncap = cap * 2 > EVLOG_MAX_EVENTS ? EVLOG_MAX_EVENTS : cap * 2;
                        struct evlog_event *n = reallocarray(log->events, ncap, sizeof(*n));
                        if (!n)
                                return reason_fail(w, -ENOMEM, "out of memory for %zu events", ncap);
                        log->events = n;
                        cap = ncap;
                }
                int err = parse_event2(r, &log->spec, &log->events[log->n_events], &a);
                if (err < 0)
                        return err;
                log->n_events++;
        }
        return 0;
}

/* ---- meaning ---------------------------------------------------------- */

static bool data_starts(const struct evlog_event *ev, const void *sig, size_t n)
{
        return ev->data_len >= n && memcmp(ev->data, sig, n) == 0;
}

/* EV_NO_ACTION events are not extended, so what they say must be checked
 * apart: only StartupLocality changes a replay. The TCG requires it before
 * anything is extended into PCR 0, since it describes TPM2_Startup. */
static int check_no_action(struct evlog *log, size_t i, bool pcr0_extended, const struct reason *w)
{
        const struct evlog_event *ev = &log->events[i];
        const struct at a = { w, i, ev->offset };

        if (data_starts(ev, spec_id_prefix, strlen(spec_id_prefix)))
                return bad(&a, -EBADMSG, "a second Spec ID event");
        if (!data_starts(ev, startup_locality, sizeof(startup_locality)))
                return 0;
        if (ev->data_len != sizeof(startup_locality) + 1)
                return bad(&a, -EBADMSG, "StartupLocality event of %" PRIu32 " bytes, not %zu", ev->data_len,
                           sizeof(startup_locality) + 1);
        if (ev->pcr != 0)
                return bad(&a, -EBADMSG, "StartupLocality event for PCR %" PRIu32 ", not 0", ev->pcr);
        if (log->have_startup_locality)
                return bad(&a, -EBADMSG, "a second StartupLocality event");
        if (pcr0_extended)
                return bad(&a, -EBADMSG, "StartupLocality event after PCR 0 was extended");
        uint8_t loc = ev->data[sizeof(startup_locality)];
        if (loc != 0 && loc != 3 && loc != 4)
                return bad(&a, -EBADMSG, "StartupLocality %u (TPM2_Startup runs at locality 0 or 3, H-CRTM 4)", loc);
        log->startup_locality = loc;
        log->have_startup_locality = true;
        return 0;
}

static int check_events(struct evlog *log, const struct reason *w)
{
        bool pcr0_extended = false;
        for (size_t i = 1; i < log->n_events; i++) {
                const struct evlog_event *ev = &log->events[i];
                if (ev->type != EVLOG_EV_NO_ACTION) {
                        pcr0_extended |= ev->pcr == 0;
                        continue;
                }
                int err = check_no_action(log, i, pcr0_extended, w);
                if (err < 0)
                        return err;
        }
        return 0;
}

int evlog_parse(const void *buf, size_t len, struct evlog **ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        if (!buf && len > 0)
                return reason_fail(&w, -EINVAL, "no buffer");
        if (!ret)
                return reason_fail(&w, -EINVAL, "no result pointer");
        if (len == 0)
                return reason_fail(&w, -EBADMSG, "empty event log");
        if (len > EVLOG_MAX_BYTES)
                return reason_fail(&w, -E2BIG, "event log of %zu bytes, at most %u", len, EVLOG_MAX_BYTES);

        struct evlog *log _cleanup_evlog_ = calloc(1, sizeof(*log));
        if (!log)
                return reason_fail(&w, -ENOMEM, "out of memory");
        log->bytes = malloc(len);
        log->events = calloc(1, sizeof(*log->events));
        if (!log->bytes || !log->events)
                return reason_fail(&w, -ENOMEM, "out of memory for a %zu-byte log", len);
        memcpy(log->bytes, buf, len);
        log->len = len;

        struct reader r;
        rd_init(&r, log->bytes, len);
        int err = parse_spec_id(&r, log, &w);
        if (err < 0)
                return err;
        log->n_events = 1;
        err = parse_events(&r, log, &w);
        if (err < 0)
                return err;
        err = check_events(log, &w);
        if (err < 0)
                return err;
        *ret = TAKE_PTR(log);
        return 0;
}

void evlog_free(struct evlog *log)
{
        if (!log)
                return;
        free(log->events);
        free(log->bytes);
        free(log);
}

int evlog_bank_slot(const struct evlog *log, uint16_t alg)
{
        if (!log)
                return -EINVAL;
        return spec_slot(&log->spec, alg);
}

/* ---- replay ----------------------------------------------------------- */

static void pcr_start(unsigned pcr, uint8_t locality, size_t size, uint8_t *out)
{
        memset(out, pcr >= 17 && pcr <= 22 ? 0xff : 0x00, size);
        if (pcr == 0)
                out[size - 1] = locality;
}

/* The one place mbedtls' md errors become -errno. */
static int extend(const mbedtls_md_info_t *md, uint8_t *pcr, const uint8_t *digest, size_t size,
                  const struct reason *w)
{
        uint8_t buf[2 * EVLOG_DIGEST_MAX];
        memcpy(buf, pcr, size);
        memcpy(buf + size, digest, size);
        int r = mbedtls_md(md, buf, 2 * size, pcr);
        if (r != 0)
                return reason_fail(w, -EIO, "mbedtls_md failed: -0x%04x", (unsigned)-r);
        return 0;
}

int evlog_replay(const struct evlog *log, uint16_t alg, struct evlog_pcrs *ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        if (!log || !ret)
                return reason_fail(&w, -EINVAL, "no log or no result");
        int k = alg_index(alg);
        int slot = spec_slot(&log->spec, alg);
        if (slot < 0)
                return reason_fail(&w, -ENOENT, "the event log has no %s bank", k >= 0 ? algs[k].name : "such");
        if (k < 0 || algs[k].md == MBEDTLS_MD_NONE)
                return reason_fail(&w, -EOPNOTSUPP, "cannot replay the bank of algorithm 0x%04x", alg);
        const mbedtls_md_info_t *md = mbedtls_md_info_from_type(algs[k].md);
        if (!md)
                return reason_fail(&w, -EOPNOTSUPP, "mbedtls lacks %s", algs[k].name);

        struct evlog_pcrs p = { .alg = alg, .size = algs[k].size };
        for (unsigned i = 0; i < EVLOG_PCRS; i++)
                pcr_start(i, log->startup_locality, p.size, p.value[i]);
        for (size_t i = 1; i < log->n_events; i++) {
                const struct evlog_event *ev = &log->events[i];
                if (ev->type == EVLOG_EV_NO_ACTION)
                        continue;
                if (!ev->digest[slot])
                        return reason_fail(&w, -EBADMSG, "event %zu at offset %zu (PCR %" PRIu32 ") has no %s digest",
                                           i, ev->offset, ev->pcr, algs[k].name);
                int err = extend(md, p.value[ev->pcr], ev->digest[slot], p.size, &w);
                if (err < 0)
                        return err;
                p.extended |= 1u << ev->pcr;
        }
        *ret = p;
        return 0;
}

/* ---- listing ---------------------------------------------------------- */

/* A bounded text builder: appends what fits, always NUL-terminated. */
struct out {
        char *buf;
        size_t len, pos;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
        if (o->pos + 1 >= o->len)
                return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
        va_end(ap);
        if (n > 0)
                o->pos = (size_t)n >= o->len - o->pos ? o->len - 1 : o->pos + (size_t)n;
}

/* Untrusted text: printable ASCII stays, anything else becomes \xNN. A
 * 16-bit unit (UTF-16LE) reads as one character. */
static void put_escaped(struct out *o, const uint8_t *s, size_t n, size_t unit, size_t max_chars)
{
        size_t chars = 0;
        put(o, "\"");
        for (size_t i = 0; i + unit <= n; i += unit, chars++) {
                unsigned c = unit == 2 ? (unsigned)(s[i] | s[i + 1] << 8) : s[i];
                if (c == 0 && i + unit == n)
                        break; /* a terminating NUL */
                if (chars == max_chars) {
                        put(o, "...");
                        break;
                }
                if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                        put(o, "%c", (char)c);
                else if (c < 0x100)
                        put(o, "\\x%02x", c);
                else
                        put(o, "\\u%04x", c);
        }
        put(o, "\"");
}

static bool printable(const uint8_t *s, size_t n, size_t unit)
{
        if (n == 0 || n % unit)
                return false;
        for (size_t i = 0; i + unit <= n; i += unit) {
                unsigned c = unit == 2 ? (unsigned)(s[i] | s[i + 1] << 8) : s[i];
                if (c == 0 && i + unit == n)
                        return i > 0;
                if (c < 0x20 || c >= 0x7f)
                        return false;
        }
        return true;
}

static void put_hex(struct out *o, const uint8_t *b, size_t n, size_t max)
{
        for (size_t i = 0; i < n && i < max; i++)
                put(o, "%02x", b[i]);
        if (n > max)
                put(o, "...");
}

/* UEFI_VARIABLE_DATA: vendor GUID, name length and data length (u64, the
 * name in UTF-16 characters), the name, the data. */
static bool describe_variable(struct out *o, struct reader r)
{
        const uint8_t *guid, *name;
        uint64_t name_chars, data_len;
        if (rd_bytes(&r, 16, &guid) < 0 || rd_le64(&r, &name_chars) < 0 || rd_le64(&r, &data_len) < 0 ||
            name_chars > rd_remaining(&r) / 2 || rd_bytes(&r, (size_t)name_chars * 2, &name) < 0 ||
            data_len != rd_remaining(&r))
                return false;
        put(o, "var ");
        put_escaped(o, name, (size_t)name_chars * 2, 2, 48);
        put(o, ", %" PRIu64 " byte%s", data_len, data_len == 1 ? "" : "s");
        return true;
}

/* UEFI_IMAGE_LOAD_EVENT: address, length and link address of the image
 * (u64 each), device path length (u64) and the device path. */
static bool describe_image(struct out *o, struct reader r)
{
        uint64_t addr, len, link, dp_len;
        if (rd_le64(&r, &addr) < 0 || rd_le64(&r, &len) < 0 || rd_le64(&r, &link) < 0 || rd_le64(&r, &dp_len) < 0 ||
            dp_len != rd_remaining(&r))
                return false;
        put(o, "image at 0x%" PRIx64 ", %" PRIu64 " bytes, device path of %" PRIu64 " bytes", addr, len, dp_len);
        return true;
}

/* TCG_PCClientTaggedEvent: id (u32), data size (u32), data. Linux's EFI
 * stub puts a description there ("Linux initrd"). */
static bool describe_tag(struct out *o, struct reader r)
{
        uint32_t id, size;
        const uint8_t *d;
        if (rd_le32(&r, &id) < 0 || rd_le32(&r, &size) < 0 || size != rd_remaining(&r) || rd_bytes(&r, size, &d) < 0)
                return false;
        put(o, "tag 0x%08" PRIx32 " ", id);
        if (printable(d, size, 1))
                put_escaped(o, d, size, 1, 64);
        else
                put_hex(o, d, size, 16);
        return true;
}

/* UEFI_PLATFORM_FIRMWARE_BLOB: base and length (u64 each). */
static bool describe_blob(struct out *o, struct reader r)
{
        uint64_t base, len;
        if (rd_le64(&r, &base) < 0 || rd_le64(&r, &len) < 0 || rd_remaining(&r) != 0)
                return false;
        put(o, "blob at 0x%" PRIx64 ", %" PRIu64 " bytes", base, len);
        return true;
}

static void describe_spec_id(struct out *o, const struct evlog *log)
{
        put(o, "Spec ID Event03, banks");
        for (size_t i = 0; i < log->spec.n_algs; i++) {
                const char *n = evlog_alg_name(log->spec.algs[i].id);
                if (n)
                        put(o, " %s", n);
                else
                        put(o, " 0x%04x", log->spec.algs[i].id);
        }
}

int evlog_describe(const struct evlog *log, size_t i, char *buf, size_t len)
{
        if (!log || !buf || len == 0 || i >= log->n_events)
                return -EINVAL;
        struct out o = { buf, len, 0 };
        const struct evlog_event *ev = &log->events[i];
        struct reader r;
        bool done = false;

        buf[0] = 0;
        rd_init(&r, ev->data, ev->data_len);
        if (i == 0) {
                describe_spec_id(&o, log);
                return 0;
        }
        switch (ev->type) {
        case 0x80000001: /* EV_EFI_VARIABLE_DRIVER_CONFIG */
        case 0x80000002: /* EV_EFI_VARIABLE_BOOT */
        case 0x8000000C: /* EV_EFI_VARIABLE_BOOT2 */
        case 0x800000E0: /* EV_EFI_VARIABLE_AUTHORITY */
                done = describe_variable(&o, r);
                break;
        case 0x80000003: /* EV_EFI_BOOT_SERVICES_APPLICATION */
        case 0x80000004: /* EV_EFI_BOOT_SERVICES_DRIVER */
        case 0x80000005: /* EV_EFI_RUNTIME_SERVICES_DRIVER */
                done = describe_image(&o, r);
                break;
        case EVLOG_EV_EVENT_TAG:
                done = describe_tag(&o, r);
                break;
        case 0x80000008: /* EV_EFI_PLATFORM_FIRMWARE_BLOB */
                done = describe_blob(&o, r);
                break;
        case EVLOG_EV_SEPARATOR:
                if (ev->data_len == 4) {
                        put(&o, "separator ");
                        put_hex(&o, ev->data, 4, 4);
                        done = true;
                }
                break;
        case EVLOG_EV_NO_ACTION:
                if (data_starts(ev, startup_locality, sizeof(startup_locality)) &&
                    ev->data_len == sizeof(startup_locality) + 1) {
                        put(&o, "StartupLocality %u", ev->data[sizeof(startup_locality)]);
                        done = true;
                }
                break;
        }
        if (done)
                return 0;
        if (printable(ev->data, ev->data_len, 1))
                put_escaped(&o, ev->data, ev->data_len, 1, 64);
        else if (printable(ev->data, ev->data_len, 2))
                put_escaped(&o, ev->data, ev->data_len, 2, 64);
        else {
                put(&o, "%" PRIu32 " byte%s", ev->data_len, ev->data_len == 1 ? "" : "s");
                if (ev->data_len) {
                        put(&o, ": ");
                        put_hex(&o, ev->data, ev->data_len, 16);
                }
        }
        return 0;
}

int evlog_print(const struct evlog *log, FILE *out)
{
        if (!log || !out)
                return -EINVAL;
        for (size_t i = 0; i < log->n_events; i++) {
                const struct evlog_event *ev = &log->events[i];
                const char *type = evlog_type_name(ev->type);
                char summary[256], hex[2 * EVLOG_DIGEST_MAX + 1];

                if (type)
                        fprintf(out, "%zu pcr %" PRIu32 " %s", i, ev->pcr, type);
                else
                        fprintf(out, "%zu pcr %" PRIu32 " type 0x%08" PRIx32, i, ev->pcr, ev->type);
                for (size_t s = 0; s < log->spec.n_algs; s++) {
                        const struct evlog_alg *a = &log->spec.algs[s];
                        const char *name = evlog_alg_name(a->id);
                        if (!ev->digest[s])
                                continue;
                        for (size_t b = 0; b < a->size; b++)
                                snprintf(hex + 2 * b, 3, "%02x", ev->digest[s][b]);
                        if (name)
                                fprintf(out, " %s:%s", name, hex);
                        else
                                fprintf(out, " 0x%04x:%s", a->id, hex);
                }
                evlog_describe(log, i, summary, sizeof(summary));
                fprintf(out, " %s\n", summary);
        }
        return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}
