/* SPDX-License-Identifier: Apache-2.0 */
/* The Authenticode digest of a PE/COFF image (authenticode.h): parse the
 * headers and section table into a plan of ranges, then hash the ranges.
 * Every read goes through the bounds-checked reader. */
#include "authenticode.h"

#include <errno.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "rd_le.h"
#include "reason.h"

#define DOS_MAGIC 0x5a4d       /* "MZ" */
#define DOS_LFANEW_OFF 0x3c
#define COFF_HEADER_LEN 20
#define OPT_MAGIC_PE32 0x010b
#define OPT_MAGIC_PE32PLUS 0x020b
/* Offsets in the optional header; the same in PE32 and PE32+ up to
 * CheckSum, then PE32+'s 64-bit stack and heap sizes move the rest. */
#define OPT_SIZE_OF_HEADERS 60
#define OPT_CHECKSUM 64
#define OPT_NRVA_PE32 92
#define OPT_NRVA_PE32PLUS 108
#define DIR_ENTRY_LEN 8
#define DIR_SECURITY 4 /* the Certificate Table */
#define SECTION_HEADER_LEN 40

struct headers {
        bool pe32plus;
        unsigned nsec;
        size_t sec_off;         /* the section table */
        size_t size_of_headers;
        size_t checksum_off;
        size_t certdir_off;     /* 0: no Certificate Table entry (NumberOfRvaAndSizes <= 4) */
        uint32_t cert_off, cert_len;
};

struct section {
        uint32_t ptr, size;
        unsigned index;
};

/* The optional header's fields that matter here; opt starts at its Magic,
 * opt_off is where that is in the file. */
static int read_optional(struct reader opt, size_t opt_off, struct headers *h, const struct reason *w)
{
        uint16_t magic;
        uint32_t soh, nrva;
        struct reader dirs;
        if (rd_le16(&opt, &magic) < 0)
                return reason_fail(w, -EBADMSG, "optional header too short for its Magic");
        if (magic != OPT_MAGIC_PE32 && magic != OPT_MAGIC_PE32PLUS)
                return reason_fail(w, -EBADMSG, "optional header magic 0x%04x is neither PE32 nor PE32+", magic);
        h->pe32plus = magic == OPT_MAGIC_PE32PLUS;
        size_t nrva_at = h->pe32plus ? OPT_NRVA_PE32PLUS : OPT_NRVA_PE32;
        if (rd_skip(&opt, OPT_SIZE_OF_HEADERS - 2) < 0 || rd_le32(&opt, &soh) < 0 ||
            rd_skip(&opt, nrva_at - OPT_CHECKSUM) < 0 || rd_le32(&opt, &nrva) < 0)
                return reason_fail(w, -EBADMSG, "optional header too short (no NumberOfRvaAndSizes)");
        if (nrva > AUTHENTICODE_DIRECTORIES_MAX)
                return reason_fail(w, -EBADMSG, "%u data directories, more than %d", nrva,
                                   AUTHENTICODE_DIRECTORIES_MAX);
        if (rd_sub(&opt, (size_t)nrva * DIR_ENTRY_LEN, &dirs) < 0)
                return reason_fail(w, -EBADMSG, "optional header too short for its %u data directories", nrva);
        h->size_of_headers = soh;
        h->checksum_off = opt_off + OPT_CHECKSUM;
        h->certdir_off = 0;
        h->cert_off = h->cert_len = 0;
        if (nrva > DIR_SECURITY) {
                h->certdir_off = opt_off + nrva_at + 4 + DIR_SECURITY * DIR_ENTRY_LEN;
                /* within dirs: nrva > DIR_SECURITY entries were taken */
                (void)rd_skip(&dirs, DIR_SECURITY * DIR_ENTRY_LEN);
                (void)rd_le32(&dirs, &h->cert_off);
                (void)rd_le32(&dirs, &h->cert_len);
        }
        return 0;
}

/* DOS header, PE signature, COFF header, optional header; *ret is written
 * only on success, and then its section table lies in the file. */
static int read_headers(const uint8_t *pe, size_t len, struct headers *ret, const struct reason *w)
{
        struct reader r, opt;
        const uint8_t *sig;
        uint16_t mz, nsec, opt_size;
        uint32_t lfanew;
        struct headers h = { 0 };

        rd_init(&r, pe, len);
        if (rd_le16(&r, &mz) < 0 || mz != DOS_MAGIC)
                return reason_fail(w, -EBADMSG, "no MZ signature");
        if (rd_skip(&r, DOS_LFANEW_OFF - 2) < 0 || rd_le32(&r, &lfanew) < 0)
                return reason_fail(w, -EBADMSG, "DOS header truncated");
        rd_init(&r, pe, len);
        if (rd_skip(&r, lfanew) < 0 || rd_bytes(&r, 4, &sig) < 0 || memcmp(sig, "PE\0\0", 4) != 0)
                return reason_fail(w, -EBADMSG, "no PE signature at offset 0x%x (e_lfanew)", lfanew);
        if (rd_skip(&r, 2) < 0 || rd_le16(&r, &nsec) < 0 || rd_skip(&r, 12) < 0 || rd_le16(&r, &opt_size) < 0 ||
            rd_skip(&r, 2) < 0)
                return reason_fail(w, -EBADMSG, "COFF header truncated");
        size_t opt_off = (size_t)lfanew + 4 + COFF_HEADER_LEN;
        if (rd_sub(&r, opt_size, &opt) < 0)
                return reason_fail(w, -EBADMSG, "optional header (%u bytes) past the end of the file", opt_size);
        int k = read_optional(opt, opt_off, &h, w);
        if (k < 0)
                return k;
        if (nsec > AUTHENTICODE_SECTIONS_MAX)
                return reason_fail(w, -EBADMSG, "%u sections, more than %d", nsec, AUTHENTICODE_SECTIONS_MAX);
        h.nsec = nsec;
        h.sec_off = opt_off + opt_size;
        if (rd_skip(&r, (size_t)nsec * SECTION_HEADER_LEN) < 0)
                return reason_fail(w, -EBADMSG, "section table (%u sections) past the end of the file", nsec);
        size_t table_end = h.sec_off + (size_t)nsec * SECTION_HEADER_LEN;
        if (h.size_of_headers > len)
                return reason_fail(w, -EBADMSG, "SizeOfHeaders 0x%zx past the end of the file (0x%zx bytes)",
                                   h.size_of_headers, len);
        if (h.size_of_headers < table_end)
                return reason_fail(w, -EBADMSG, "SizeOfHeaders 0x%zx ends before the section table (0x%zx)",
                                   h.size_of_headers, table_end);
        *ret = h;
        return 0;
}

/* The non-empty sections, checked against the file and each other, sorted
 * by PointerToRawData; returns how many, or -EBADMSG. */
static int read_sections(const uint8_t *pe, size_t len, const struct headers *h,
                         struct section out[AUTHENTICODE_SECTIONS_MAX], const struct reason *w)
{
        struct reader r;
        size_t n = 0;
        rd_init(&r, pe, len);
        (void)rd_skip(&r, h->sec_off); /* read_headers found the table in the file */
        for (unsigned i = 0; i < h->nsec; i++) {
                struct section s = { .index = i };
                if (rd_skip(&r, 16) < 0 || rd_le32(&r, &s.size) < 0 || rd_le32(&r, &s.ptr) < 0 || rd_skip(&r, 16) < 0)
                        return reason_fail(w, -EBADMSG, "section table truncated");
                if (s.size == 0)
                        continue;
                if (s.ptr > len || len - s.ptr < s.size)
                        return reason_fail(w, -EBADMSG, "section %u: raw data (offset 0x%x, 0x%x bytes) past the end "
                                           "of the file (0x%zx bytes)", i, s.ptr, s.size, len);
                if (s.ptr < h->size_of_headers)
                        return reason_fail(w, -EBADMSG, "section %u: raw data at 0x%x, inside the headers (0x%zx)", i,
                                           s.ptr, h->size_of_headers);
                /* insertion sort: at most AUTHENTICODE_SECTIONS_MAX */
                size_t j = n++;
                while (j > 0 && out[j - 1].ptr > s.ptr) {
                        out[j] = out[j - 1];
                        j--;
                }
                out[j] = s;
        }
        for (size_t i = 1; i < n; i++)
                if (out[i].ptr - out[i - 1].ptr < out[i - 1].size)
                        return reason_fail(w, -EBADMSG, "sections %u and %u: raw data overlaps", out[i - 1].index,
                                           out[i].index);
        return (int)n;
}

static void plan_add(struct authenticode_plan *p, size_t off, size_t len)
{
        if (len > 0)
                p->r[p->n++] = (struct authenticode_range){ off, len };
}

int authenticode_plan(const uint8_t *pe, size_t len, struct authenticode_plan *ret, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        struct headers h = { 0 };
        struct section s[AUTHENTICODE_SECTIONS_MAX];
        if ((!pe && len) || !ret)
                return -EINVAL;
        int k = read_headers(pe, len, &h, &w);
        if (k < 0)
                return k;
        int n = read_sections(pe, len, &h, s, &w);
        if (n < 0)
                return n;

        struct authenticode_plan p = {
                .size_of_headers = h.size_of_headers,
                .sections = h.nsec,
                .pe32plus = h.pe32plus,
        };
        /* every field read_headers found lies before the section table,
         * and so before SizeOfHeaders */
        plan_add(&p, 0, h.checksum_off);
        if (h.certdir_off) {
                plan_add(&p, h.checksum_off + 4, h.certdir_off - (h.checksum_off + 4));
                plan_add(&p, h.certdir_off + DIR_ENTRY_LEN, h.size_of_headers - (h.certdir_off + DIR_ENTRY_LEN));
        } else
                plan_add(&p, h.checksum_off + 4, h.size_of_headers - (h.checksum_off + 4));

        size_t sum = h.size_of_headers, data_end = h.size_of_headers;
        for (int i = 0; i < n; i++) {
                plan_add(&p, s[i].ptr, s[i].size);
                sum += s[i].size; /* the sections are disjoint and in the file: no overflow */
                data_end = (size_t)s[i].ptr + s[i].size;
        }
        size_t end = len; /* where the data ends and the certificates begin */
        if (h.cert_len) {
                if (h.cert_off > len || len - h.cert_off != h.cert_len)
                        return reason_fail(&w, -EBADMSG, "certificate table (offset 0x%x, 0x%x bytes) does not end "
                                           "the file (0x%zx bytes)", h.cert_off, h.cert_len, len);
                if (h.cert_off < data_end)
                        return reason_fail(&w, -EBADMSG, "certificate table at 0x%x overlaps the headers or a "
                                           "section (which end at 0x%zx)", h.cert_off, data_end);
                end = h.cert_off;
                p.cert_off = h.cert_off;
                p.cert_len = h.cert_len;
        }
        /* sum <= data_end <= end: the sections start after the headers and
         * do not overlap */
        plan_add(&p, sum, end - sum);
        p.sum_of_bytes_hashed = sum;
        *ret = p;
        return 0;
}

int authenticode_hash(const uint8_t *pe, size_t len, const struct authenticode_plan *p, uint8_t out[32])
{
        if ((!pe && len) || !p || !out || p->n > sizeof(p->r) / sizeof(p->r[0]))
                return -EINVAL;
        for (size_t i = 0; i < p->n; i++)
                if (p->r[i].off > len || len - p->r[i].off < p->r[i].len)
                        return -EINVAL;
        uint8_t d[32];
        mbedtls_sha256_context c;
        mbedtls_sha256_init(&c);
        int rc = mbedtls_sha256_starts_ret(&c, 0);
        for (size_t i = 0; rc == 0 && i < p->n; i++)
                rc = mbedtls_sha256_update_ret(&c, pe + p->r[i].off, p->r[i].len);
        if (rc == 0)
                rc = mbedtls_sha256_finish_ret(&c, d);
        mbedtls_sha256_free(&c);
        if (rc != 0)
                return -EIO;
        memcpy(out, d, sizeof(d));
        return 0;
}

int authenticode_sha256_why(const uint8_t *pe, size_t len, uint8_t out[32], char *why, size_t whylen)
{
        struct authenticode_plan p;
        if (!out)
                return -EINVAL;
        int k = authenticode_plan(pe, len, &p, why, whylen);
        if (k < 0)
                return k;
        return authenticode_hash(pe, len, &p, out);
}

int authenticode_sha256(const uint8_t *pe, size_t len, uint8_t out[32])
{
        return authenticode_sha256_why(pe, len, out, NULL, 0);
}
