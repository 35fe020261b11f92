/* SPDX-License-Identifier: Apache-2.0 */
/* efi/authenticode.c against PE images built here: PE32+ and PE32, signed
 * and not, sections listed out of order, with and without a Certificate
 * Table entry; then truncated and hostile ones (sections past the end or
 * overlapping, huge counts, certificate tables out of range), each refused
 * with -EBADMSG and the output untouched. tests/attest/t-release compares
 * with pesign and a captured TPM event log on real images. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/sha256.h>

#include "authenticode.h"

#define LFANEW 0x80
#define SOH 0x200
#define IMAGE_MAX 0x1000

/* What the builder makes: the offsets a test pokes at. */
struct image {
        uint8_t b[IMAGE_MAX];
        size_t len;
        bool plus;
        size_t opt, checksum, nrva, certdir, sections;
};

static void put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void set_section(struct image *im, unsigned i, const char *name, uint32_t ptr, uint32_t size)
{
        uint8_t *s = im->b + im->sections + 40 * i;
        memset(s, 0, 40);
        memcpy(s, name, strlen(name));
        put32(s + 8, size);  /* VirtualSize */
        put32(s + 12, ptr);  /* VirtualAddress: anything */
        put32(s + 16, size); /* SizeOfRawData */
        put32(s + 20, ptr);  /* PointerToRawData */
}

/* Headers to 0x200; .data (0x400, 0x100 bytes) listed before .text (0x200,
 * 0x200 bytes), an empty .bss; 0x60 bytes of trailing data to 0x560; when
 * signed a 0x40-byte certificate table from 0x560 to the end. */
static void build(struct image *im, bool plus, bool signed_)
{
        memset(im, 0, sizeof(*im));
        im->plus = plus;
        for (size_t i = 0; i < IMAGE_MAX; i++)
                im->b[i] = (uint8_t)(i * 37 + 11);
        memset(im->b, 0, SOH);
        im->b[0] = 'M';
        im->b[1] = 'Z';
        put32(im->b + 0x3c, LFANEW);
        memcpy(im->b + LFANEW, "PE\0\0", 4);
        uint16_t opt_size = plus ? 240 : 224;
        put16(im->b + LFANEW + 4, 0x8664);
        put16(im->b + LFANEW + 6, 3);
        put16(im->b + LFANEW + 20, opt_size);
        im->opt = LFANEW + 24;
        put16(im->b + im->opt, plus ? 0x20b : 0x10b);
        put32(im->b + im->opt + 60, SOH);
        im->checksum = im->opt + 64;
        put32(im->b + im->checksum, 0xdeadbeef);
        im->nrva = im->opt + (plus ? 108 : 92);
        put32(im->b + im->nrva, 16);
        for (size_t i = 0; i < 16 * 8; i++) /* data directories: something to hash */
                im->b[im->nrva + 4 + i] = (uint8_t)(0x40 + i);
        im->certdir = im->nrva + 4 + 4 * 8;
        im->sections = im->opt + opt_size;
        set_section(im, 0, ".data", 0x400, 0x100);
        set_section(im, 1, ".text", 0x200, 0x200);
        set_section(im, 2, ".bss", 0, 0);
        im->len = 0x560;
        put32(im->b + im->certdir, 0);
        put32(im->b + im->certdir + 4, 0);
        if (signed_) {
                put32(im->b + im->certdir, 0x560);
                put32(im->b + im->certdir + 4, 0x40);
                im->len = 0x5a0;
        }
}

static void sha(const uint8_t *p, size_t n, mbedtls_sha256_context *c)
{
        assert_int_equal(mbedtls_sha256_update_ret(c, p, n), 0);
}

/* The specification's steps written out for the builder's layout. */
static void expected(const struct image *im, bool has_certdir, size_t cert_len, uint8_t out[32])
{
        mbedtls_sha256_context c;
        mbedtls_sha256_init(&c);
        assert_int_equal(mbedtls_sha256_starts_ret(&c, 0), 0);
        sha(im->b, im->checksum, &c);
        if (has_certdir) {
                sha(im->b + im->checksum + 4, im->certdir - im->checksum - 4, &c);
                sha(im->b + im->certdir + 8, SOH - im->certdir - 8, &c);
        } else
                sha(im->b + im->checksum + 4, SOH - im->checksum - 4, &c);
        sha(im->b + 0x200, 0x200, &c); /* .text first: sorted by PointerToRawData */
        sha(im->b + 0x400, 0x100, &c);
        sha(im->b + 0x500, im->len - cert_len - 0x500, &c);
        assert_int_equal(mbedtls_sha256_finish_ret(&c, out), 0);
        mbedtls_sha256_free(&c);
}

static void assert_refused(const struct image *im, size_t len, const char *why_part)
{
        uint8_t out[32], untouched[32];
        char why[256] = "";
        memset(out, 0xa5, sizeof(out));
        memcpy(untouched, out, sizeof(out));
        int r = authenticode_sha256_why(im->b, len, out, why, sizeof(why));
        if (r != -EBADMSG || !strstr(why, why_part))
                fail_msg("len %zu: got %d \"%s\", expected -EBADMSG \"%s\"", len, r, why, why_part);
        assert_memory_equal(out, untouched, sizeof(out));
}

static void test_pe32plus_signed(void **state)
{
        struct image im;
        uint8_t d[32], want[32];
        struct authenticode_plan p;
        build(&im, true, true);
        expected(&im, true, 0x40, want);
        assert_int_equal(authenticode_sha256(im.b, im.len, d), 0);
        assert_memory_equal(d, want, 32);
        assert_int_equal(authenticode_plan(im.b, im.len, &p, NULL, 0), 0);
        assert_true(p.pe32plus);
        assert_int_equal(p.sections, 3);
        assert_int_equal(p.size_of_headers, SOH);
        assert_int_equal(p.sum_of_bytes_hashed, 0x500);
        assert_int_equal(p.cert_off, 0x560);
        assert_int_equal(p.cert_len, 0x40);
        assert_int_equal(p.n, 6);

        /* what the digest leaves out: CheckSum, the Certificate Table entry
         * and the certificates (signing changes those three) */
        struct image other = im;
        put32(other.b + other.checksum, 0x12345678);
        other.b[0x570] ^= 0xff;
        assert_int_equal(authenticode_sha256(other.b, other.len, d), 0);
        assert_memory_equal(d, want, 32);
        /* and every other byte counts, the trailing data's too */
        static const size_t counted[] = { 0, 0x3c, LFANEW + 6, 0x150, 0x1ff, 0x200, 0x3ff, 0x400, 0x4ff, 0x500, 0x55f };
        for (size_t i = 0; i < sizeof(counted) / sizeof(counted[0]); i++) {
                other = im;
                other.b[counted[i]] ^= 0x01;
                int r = authenticode_sha256(other.b, other.len, d);
                if (r == 0 && memcmp(d, want, 32) == 0)
                        fail_msg("byte 0x%zx does not change the digest", counted[i]);
        }
}

static void test_pe32plus_unsigned(void **state)
{
        struct image im;
        uint8_t d[32], want[32];
        build(&im, true, false);
        expected(&im, true, 0, want);
        assert_int_equal(authenticode_sha256(im.b, im.len, d), 0);
        assert_memory_equal(d, want, 32);
        /* an unsigned image is its signed self without the certificates */
        struct image s;
        build(&s, true, true);
        uint8_t ds[32];
        assert_int_equal(authenticode_sha256(s.b, s.len, ds), 0);
        assert_memory_equal(d, ds, 32);
        /* without trailing data: nothing after the sections is hashed */
        struct authenticode_plan p;
        assert_int_equal(authenticode_plan(im.b, 0x500, &p, NULL, 0), 0);
        assert_int_equal(p.n, 5);
}

static void test_pe32(void **state)
{
        struct image im;
        uint8_t d[32], want[32];
        struct authenticode_plan p;
        build(&im, false, true);
        expected(&im, true, 0x40, want);
        assert_int_equal(authenticode_plan(im.b, im.len, &p, NULL, 0), 0);
        assert_false(p.pe32plus);
        assert_int_equal(authenticode_sha256(im.b, im.len, d), 0);
        assert_memory_equal(d, want, 32);
}

/* NumberOfRvaAndSizes <= 4: no Certificate Table entry to skip (the Linux
 * EFI stub has 6; EDK2 hashes such an image this way) */
static void test_few_directories(void **state)
{
        struct image im;
        uint8_t d[32], want[32];
        build(&im, true, false);
        put32(im.b + im.nrva, 4);
        expected(&im, false, 0, want);
        assert_int_equal(authenticode_sha256(im.b, im.len, d), 0);
        assert_memory_equal(d, want, 32);
        /* with 4 directories the bytes where the entry would be are hashed */
        struct image other = im;
        other.b[im.certdir] ^= 1;
        assert_int_equal(authenticode_sha256(other.b, other.len, d), 0);
        assert_memory_not_equal(d, want, 32);
}

/* A gap between two sections: the trailing data starts at SUM, inside the
 * last section, as the specification (and EDK2, and pesign) have it. */
static void test_gap(void **state)
{
        struct image im;
        struct authenticode_plan p;
        build(&im, true, false);
        set_section(&im, 0, ".data", 0x480, 0x80);
        assert_int_equal(authenticode_plan(im.b, im.len, &p, NULL, 0), 0);
        assert_int_equal(p.sum_of_bytes_hashed, 0x480);
        assert_int_equal(p.r[p.n - 1].off, 0x480);
        assert_int_equal(p.r[p.n - 1].len, 0x560 - 0x480);
}

static void test_truncated(void **state)
{
        struct image im;
        build(&im, true, true);
        /* signed: every prefix is refused (the certificates must end the file) */
        for (size_t len = 0; len < im.len; len++)
                assert_refused(&im, len, "");
        /* unsigned: every prefix that cuts into the headers or a section */
        build(&im, true, false);
        for (size_t len = 0; len < 0x500; len++)
                assert_refused(&im, len, "");
        uint8_t d[32];
        assert_int_equal(authenticode_sha256(NULL, 0, d), -EBADMSG);
        assert_int_equal(authenticode_sha256(im.b, im.len, NULL), -EINVAL);
}

static void test_hostile_headers(void **state)
{
        struct image im;
        build(&im, true, true);
        im.b[1] = 'X';
        assert_refused(&im, im.len, "no MZ");

        build(&im, true, true);
        put32(im.b + 0x3c, 0xfffffffe);
        assert_refused(&im, im.len, "no PE signature at offset 0xfffffffe");
        put32(im.b + 0x3c, (uint32_t)im.len - 2);
        assert_refused(&im, im.len, "no PE signature");

        build(&im, true, true);
        im.b[LFANEW + 2] = 'X';
        assert_refused(&im, im.len, "no PE signature");

        build(&im, true, true);
        put16(im.b + im.opt, 0x107);
        assert_refused(&im, im.len, "neither PE32 nor PE32+");

        build(&im, true, true);
        put16(im.b + LFANEW + 20, 0xffff); /* SizeOfOptionalHeader */
        assert_refused(&im, im.len, "optional header (65535 bytes) past the end");
        put16(im.b + LFANEW + 20, 100);
        assert_refused(&im, im.len, "optional header too short (no NumberOfRvaAndSizes)");
        put16(im.b + LFANEW + 20, 112 + 8 * 15);
        assert_refused(&im, im.len, "too short for its 16 data directories");

        build(&im, true, true);
        put32(im.b + im.nrva, 17);
        assert_refused(&im, im.len, "17 data directories");
        put32(im.b + im.nrva, 0xffffffff);
        assert_refused(&im, im.len, "4294967295 data directories");
}

static void test_hostile_counts(void **state)
{
        struct image im;
        build(&im, true, true);
        put16(im.b + LFANEW + 6, 97);
        assert_refused(&im, im.len, "97 sections, more than 96");
        put16(im.b + LFANEW + 6, 0xffff);
        assert_refused(&im, im.len, "65535 sections");
        put16(im.b + LFANEW + 6, 96);
        assert_refused(&im, im.len, "section table (96 sections) past the end of the file");
        /* 10 sections: the table fits the file but not SizeOfHeaders */
        put16(im.b + LFANEW + 6, 10);
        assert_refused(&im, im.len, "ends before the section table");
        put16(im.b + LFANEW + 6, 3);
        put32(im.b + im.opt + 60, 0x100); /* SizeOfHeaders */
        assert_refused(&im, im.len, "SizeOfHeaders 0x100 ends before the section table");
        put32(im.b + im.opt + 60, 0x5a1);
        assert_refused(&im, im.len, "SizeOfHeaders 0x5a1 past the end of the file");
        put32(im.b + im.opt + 60, 0xffffffff);
        assert_refused(&im, im.len, "past the end of the file");
}

static void test_hostile_sections(void **state)
{
        struct image im;
        build(&im, true, true);
        set_section(&im, 2, ".bss", 0x500, 0x100); /* into the certificates and past the end */
        assert_refused(&im, im.len, "section 2: raw data (offset 0x500, 0x100 bytes) past the end");
        set_section(&im, 2, ".bss", 0xffffffff, 0xffffffff);
        assert_refused(&im, im.len, "past the end of the file");
        set_section(&im, 2, ".bss", 0x10, 0xffffffff);
        assert_refused(&im, im.len, "past the end of the file");
        set_section(&im, 2, ".bss", 0x5a0, 1);
        assert_refused(&im, im.len, "past the end of the file");
        set_section(&im, 2, ".bss", 0x100, 0x10);
        assert_refused(&im, im.len, "section 2: raw data at 0x100, inside the headers");
        set_section(&im, 2, ".bss", 0x3f0, 0x20);
        assert_refused(&im, im.len, "raw data overlaps");
        set_section(&im, 2, ".bss", 0x200, 0x1);
        assert_refused(&im, im.len, "raw data overlaps");
        set_section(&im, 2, ".bss", 0x4ff, 0x10);
        assert_refused(&im, im.len, "sections 0 and 2: raw data overlaps");
        /* right after the others: fine (and moves SUM) */
        set_section(&im, 2, ".bss", 0x500, 0x10);
        uint8_t d[32];
        assert_int_equal(authenticode_sha256(im.b, im.len, d), 0);
}

static void test_hostile_cert_table(void **state)
{
        struct image im;
        build(&im, true, true);
        put32(im.b + im.certdir, 0x5a0);
        assert_refused(&im, im.len, "does not end the file");
        put32(im.b + im.certdir, 0xffffffff);
        assert_refused(&im, im.len, "does not end the file");
        build(&im, true, true);
        put32(im.b + im.certdir + 4, 0xffffffff);
        assert_refused(&im, im.len, "does not end the file");
        put32(im.b + im.certdir + 4, 0x3f);
        assert_refused(&im, im.len, "does not end the file");
        /* ending the file but reaching back into a section or the headers */
        put32(im.b + im.certdir, 0x4a0);
        put32(im.b + im.certdir + 4, 0x100);
        assert_refused(&im, im.len, "certificate table at 0x4a0 overlaps");
        put32(im.b + im.certdir, 0);
        put32(im.b + im.certdir + 4, (uint32_t)im.len);
        assert_refused(&im, im.len, "overlaps the headers or a section");
        /* an offset without a size is no table: the whole tail is data */
        build(&im, true, true);
        put32(im.b + im.certdir + 4, 0);
        struct authenticode_plan p;
        assert_int_equal(authenticode_plan(im.b, im.len, &p, NULL, 0), 0);
        assert_int_equal(p.cert_len, 0);
        assert_int_equal(p.r[p.n - 1].len, im.len - 0x500);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pe32plus_signed),  cmocka_unit_test(test_pe32plus_unsigned),
                cmocka_unit_test(test_pe32),             cmocka_unit_test(test_few_directories),
                cmocka_unit_test(test_gap),              cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_hostile_headers),  cmocka_unit_test(test_hostile_counts),
                cmocka_unit_test(test_hostile_sections), cmocka_unit_test(test_hostile_cert_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
