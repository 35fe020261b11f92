/* SPDX-License-Identifier: Apache-2.0 */
/* ember-attest-load's parts: the simulated node (attest-sim.c), shared by
 * the load generator (attest-load.c) and the in-process microbenchmark of
 * the verifier (attest-phases.c). Functions return 0 or -errno and write a
 * reason of at most WHY bytes where they take one. */
#pragma once

#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <tss2/tss2_tpm2_types.h>

#define PCRS 24  /* one SHA-256 bank */
#define WHY 400  /* bytes of a reason */

enum ek_kind { EK_RSA, EK_ECC };

/* One simulated node: its keys (OpenSSL) and what the server sees of them. */
struct node {
        EVP_PKEY *ek, *ak;
        uint8_t ek_pub[sizeof(TPM2B_PUBLIC)], ak_pub[sizeof(TPM2B_PUBLIC)];
        size_t ek_pub_len, ak_pub_len;
        TPM2B_PUBLIC ek_area;
        TPM2B_NAME ak_name, ak_qn;
        char *challenge_body; /* {"ek_pub":…,"ak_pub":…}: the same every boot */
        atomic_int busy;
};

/* What a node reports: the captured boot's PCR values and event log. */
struct boot {
        uint8_t pcr[PCRS][32];
        uint32_t have;
        char *event_log_b64;
        uint8_t *event_log;
        size_t event_log_len;
};

/* A quote as TPM2_Quote returns it, marshalled. */
struct quoted {
        uint8_t attest[sizeof(TPMS_ATTEST)], sig[sizeof(TPMT_SIGNATURE)];
        size_t attest_len, sig_len;
};

/* The server's challenge, decoded. */
struct challenge {
        char session[80];
        uint8_t nonce[64], blob[sizeof(TPM2B_ID_OBJECT)], secret[sizeof(TPM2B_ENCRYPTED_SECRET)];
        size_t nonce_len, blob_len, secret_len;
        uint32_t mask;
};

/* The command line, for every subcommand. */
struct cfg {
        const char *dir, *url, *pin, *event_log, *pcrs, *image, *db;
        enum ek_kind ek;
        size_t nodes, first, count, concurrency, threads, sessions;
        pid_t server_pid;
};

uint64_t now_ns(clockid_t clk);
uint64_t mono_ms(void);
char *b64(const uint8_t *d, size_t n);
int unb64(const char *s, uint8_t *out, size_t max, size_t *ret_len);
const char *json_str(json_object *o, const char *key);

/* "rsa" or "ecc": the prefix of a node's files in the pool */
const char *ek_prefix(enum ek_kind kind);
/* Makes node i of the pool DIR unless it is there: DIR/KIND-NNNNN.pem (EK,
 * then AK) and DIR/KIND-NNNNN.ek.pub (the EK's TPM2B_PUBLIC, to enrol). */
int node_make(const char *dir, enum ek_kind kind, size_t i);
int node_load(const char *dir, enum ek_kind kind, size_t i, struct node *n, char *why);
void node_free(struct node *n);

/* c->pcrs ("sha256 INDEX HEX" lines) and c->event_log */
int boot_load(const struct cfg *c, struct boot *b);
void boot_free(struct boot *b);

/* E: a fresh P-256 key; its public key as DER SubjectPublicKeyInfo */
int e_make(uint8_t *der, size_t max, size_t *ret_len);
/* TPM2_Quote of the PCRs in mask with qualifying data extra, by n's AK */
int quote(const struct node *n, const struct boot *b, uint32_t mask, const uint8_t extra[32], struct quoted *q,
          char *why);
int parse_challenge(json_object *o, struct challenge *c, char *why);
/* The evidence request's body for challenge c (ActivateCredential, quote),
 * malloc'ed; NULL with why on failure. */
char *answer(const struct node *n, const struct boot *b, const struct challenge *c, const uint8_t *e, size_t e_len,
             char *why);

int cmd_phases(const struct cfg *c);
