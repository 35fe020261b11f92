/* SPDX-License-Identifier: Apache-2.0 */
/* Keys for tests and fuzzers only, made with openssl for them: A (PKCS#8)
 * is the pinned signer, B (SEC1) a signer nobody pins, C a P-384 key that
 * (TEST_PUB_P384) is not an overlay signer's kind. Never use them for anything else. */
#pragma once

#define TEST_KEY_A \
        "-----BEGIN PRIVATE KEY-----\n" \
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgur8+oHQgC/3VhDot\n" \
        "0VI3PgczHpiZ8fU3GfdOvfc1g9ahRANCAASvXhqeLfkehFNskqTafCsMrGWDM0ft\n" \
        "4bejGf2yEvKHoZTl7ms+wpwcwEtFuX/de+8ye68THeFgZhYDKGMlsqef\n" \
        "-----END PRIVATE KEY-----\n"

#define TEST_PUB_A \
        "-----BEGIN PUBLIC KEY-----\n" \
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEr14ani35HoRTbJKk2nwrDKxlgzNH\n" \
        "7eG3oxn9shLyh6GU5e5rPsKcHMBLRbl/3XvvMnuvEx3hYGYWAyhjJbKnnw==\n" \
        "-----END PUBLIC KEY-----\n"

#define TEST_KEY_B \
        "-----BEGIN EC PRIVATE KEY-----\n" \
        "MHcCAQEEIJ3OUMDVPy82Bmte3DFVfL4MaPuQtGZf4ozbXkcWUgZ1oAoGCCqGSM49\n" \
        "AwEHoUQDQgAEmzM7osBYNBp+y0P3ZZvINW8yjCQUXuWkN0N+UtR3H1Ahf5gdZWmi\n" \
        "vxJGa3cx2SFw68QaaFE9PFSAK62fAp3AsA==\n" \
        "-----END EC PRIVATE KEY-----\n"

#define TEST_PUB_B \
        "-----BEGIN PUBLIC KEY-----\n" \
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmzM7osBYNBp+y0P3ZZvINW8yjCQU\n" \
        "XuWkN0N+UtR3H1Ahf5gdZWmivxJGa3cx2SFw68QaaFE9PFSAK62fAp3AsA==\n" \
        "-----END PUBLIC KEY-----\n"

#define TEST_PUB_P384 \
        "-----BEGIN PUBLIC KEY-----\n" \
        "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEW1WG6zL1K6wuuPJPyIbtaw2St271TeYO\n" \
        "U/yKy9R+4v7eLyV77T4qHopwVpUYA4TK3CuTvxQogGF9wja+nFw0t6Vmc4bzFwgN\n" \
        "wonKF+1OTnxvDk7If8v6OTxSEKUn9APE\n" \
        "-----END PUBLIC KEY-----\n"

/* a data key for tests: 32 bytes */
#define TEST_DATA_KEY \
        "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f" \
        "\x20\x21\x22\x23\x24\x25\x26\x27\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f"
