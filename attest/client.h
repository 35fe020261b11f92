/* SPDX-License-Identifier: Apache-2.0 */
/* The node's side of the attestation protocol (DESIGN.md "Attestation";
 * the server's side is protocol.c):
 *
 *   EK  = CreatePrimary(endorsement, TCG EK profile RSA-2048 template L-1)
 *   AK  = Create + Load under the EK (restricted RSASSA-SHA256 signing key)
 *   E   = an ephemeral ECDSA P-256 key (mbedtls), kept for the caller
 *   POST /v1/attest/challenge {ek_pub, ek_cert?, ak_pub}
 *   S   = ActivateCredential(AK, EK; credential_blob, encrypted_secret)
 *   Quote(AK, pcr_selection, H("ember-v1" ‖ nonce ‖ S ‖ H(E_pub))), PCR_Read
 *   POST /v1/attest/evidence {session, quote, signature, pcrs, event_log, e_pub}
 *     → {credential, machine, image, expires}
 *
 * The TPM is the caller's ESYS_CONTEXT (PID 1 opens /dev/tpmrm0 with the
 * device TCTI, the host tool a TCTI loader spec such as swtpm's), so
 * nothing here knows which TPM it talks to. Every transient object and
 * session this creates is flushed before attest_run() returns, on every
 * path.
 *
 * The server is authenticated by TLS: a pinned public key, a CA, or both
 * (http_open() in client.c says why a pin alone is enough). There is no
 * configuration that talks to an unauthenticated server. With the static
 * image's curl (mbedtls 2.28), a CA-verified certificate must name the
 * URL's host as a DNS name: mbedtls 2.28 does not match iPAddress
 * subjectAltNames, so "https://192.0.2.1" with only a CA fails
 * (BADCERT_CN_MISMATCH). A pin works with either; with a pin and a CA and
 * an IP address, the chain and the pin are checked, not the name. */
#pragma once

#include <mbedtls/pk.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_esys.h>

#include "ek_type.h"

#define ATTEST_EVENT_LOG_DEFAULT "/sys/kernel/security/tpm0/binary_bios_measurements"
#define ATTEST_ID_LEN 37                    /* a UUID and its NUL */

struct attest_client_config {
        /* "https://HOST[:PORT]" (no path; a trailing '/' is ignored). Only
         * https is taken. */
        const char *url;
        /* curl public key pins of the server's key, "sha256//BASE64", several
         * separated by ';' (any of them may match). NULL or "" for none. */
        const char *pins;
        /* A PEM file of the CAs the server's certificate must chain to. NULL
         * for none. At least one of pins and ca_file must be given. */
        const char *ca_file;
        /* "http://host:port" of an HTTP proxy to tunnel through; NULL: none
         * (a proxy in the environment is never used). */
        const char *proxy;
        /* NULL: ATTEST_EVENT_LOG_DEFAULT. */
        const char *event_log_path;
        /* Which EK (ATTEST_EK_AUTO, the zero value, normally). */
        enum attest_ek ek;
        /* 0: 5000 ms to connect, 20000 ms per request. */
        unsigned connect_timeout_ms, request_timeout_ms;
        /* Lines that do not stop the attestation ("…, ignoring"); NULL: stderr. */
        void (*warn)(void *userdata, const char *line);
        void *userdata;
};

/* The AK Ember creates: a restricted RSASSA-SHA256 signing key
 * (fixedTPM, fixedParent, sensitiveDataOrigin), what the server's
 * quote_check_ak() wants. */
extern const TPM2B_PUBLIC attest_ak_template;

/* The steps of attest_run(), in order, for the boot timeline. */
enum attest_step {
        ATTEST_STEP_EK,        /* CreatePrimary of the EK */
        ATTEST_STEP_EK_CERT,   /* reading the EK certificate from NV (when present) */
        ATTEST_STEP_AK,        /* Create + Load of the AK */
        ATTEST_STEP_E,         /* the ephemeral P-256 key E */
        ATTEST_STEP_CHALLENGE, /* POST /v1/attest/challenge (TLS handshake included) */
        ATTEST_STEP_ACTIVATE,  /* ActivateCredential */
        ATTEST_STEP_QUOTE,     /* Quote */
        ATTEST_STEP_PCR_READ,  /* PCR_Read of the quoted PCRs */
        ATTEST_STEP_EVENT_LOG, /* reading the event log */
        ATTEST_STEP_EVIDENCE,  /* POST /v1/attest/evidence */
        _ATTEST_STEP_MAX,
};

/* "ek", "ek-cert", "ak", … ; NULL for a value out of range. */
const char *attest_step_name(enum attest_step s);

/* The sealed overlay the attestation reply names (issue 5's overlay
 * stage fetches it): exactly this one, nothing older or different. */
struct attest_overlay {
        bool present;        /* false: the server assigned none */
        char id[ATTEST_ID_LEN];
        uint64_t serial;
        uint8_t sha256[32];  /* of its chunk records, as its signed header says */
        uint64_t size;       /* bytes of the whole file */
        char url[512];       /* where to fetch it; "" for the attestation server's /v1/overlay */
        uint8_t key[32];     /* its data key, unwrapped with E: secret */
};

struct attest_result {
        char machine[ATTEST_ID_LEN]; /* the server's machine id */
        char image[ATTEST_ID_LEN];   /* the approved image the node booted */
        char image_name[64];         /* its name, as the operator gave it (escaped; may be "") */
        char *credential;            /* the server's credential string (malloc) */
        int64_t expires;             /* the credential's expiry, Unix seconds */
        /* E, whose public key the credential is bound to: only with it is
         * the credential worth anything. attest_result_free() frees it. */
        mbedtls_pk_context e;
        TPM2B_NAME ek_name;          /* the EK's Name (nameAlg ‖ digest) */
        enum attest_ek ek_type;      /* the EK used (never AUTO) */
        size_t ek_cert_len;          /* bytes of EK certificate sent; 0: none */
        struct attest_overlay overlay;
        uint32_t step_ms[_ATTEST_STEP_MAX];
        uint32_t total_ms;
};

/* Runs the whole protocol once. 0 and *ret filled on success. Otherwise
 * -errno with one line in why saying which step failed and why (a TSS2
 * error decoded and the ESAPI call named; curl's error; the server's
 * refusal as it sent it, escaped); *ret is untouched. The errors:
 *   -EINVAL        a bad configuration (no URL, not https, neither pin nor
 *                  CA, a pin not "sha256//…")
 *   -EIO           the TPM refused or failed a command
 *   -EHOSTUNREACH, -ECONNREFUSED, -ETIMEDOUT  the server was not reached
 *   -EKEYREJECTED  the server's key is not pinned or its certificate does
 *                  not verify: nothing was sent
 *   -ECONNABORTED  another transfer failure (TLS handshake, connection lost)
 *   -EPERM         the server refused (its "error" text is in why)
 *   -EBADMSG       the server's reply was malformed or too large
 *   -EOPNOTSUPP    the server asked for a PCR bank other than sha256, or
 *                  this libcurl lacks an option used (public key pinning)
 *   -ENOENT, -EFBIG  the event log could not be read, is empty, or is too big
 *   -ENOMEM        out of memory
 * Nothing in why is secret. */
int attest_run(ESYS_CONTEXT *esys, const struct attest_client_config *cfg, struct attest_result *ret, char *why,
               size_t whylen);

/* Receives the overlay's bytes as they arrive; a negative return stops the
 * transfer (its value is returned by attest_fetch_overlay). */
typedef int (*attest_sink)(void *userdata, const void *p, size_t n);

/* Fetches the overlay res names, giving its bytes to sink: from
 * res->overlay.url when set (a plain GET: any HTTP(S) server or CDN may
 * hold it, the blob being encrypted and signed; https there is checked
 * against the system's CAs and cfg's CA file), else from the attestation
 * server's POST /v1/overlay with the credential and a fresh proof of
 * possession of E (the server's TLS authenticated as for attest_run).
 * More than res->overlay.size bytes stop it (-EFBIG). timeout_ms bounds
 * the whole transfer (0: 300 s). 0, or -errno with why, as attest_run. */
int attest_fetch_overlay(const struct attest_client_config *cfg, const struct attest_result *res, attest_sink sink,
                         void *userdata, unsigned timeout_ms, char *why, size_t whylen);

/* The proof of possession for a request with the credential: E's ECDSA
 * signature (DER) over SHA-256("ember-v1-pop" NUL credential NUL time). */
int attest_pop_sign(const struct attest_result *res, int64_t time, uint8_t *sig, size_t size, size_t *ret_len);

/* POSTs json_fields (one JSON object, or NULL for none) to PATH on cfg's
 * server with res's credential and a fresh proof of possession of E added
 * (the fields /v1/overlay takes), the server's TLS authenticated as for
 * attest_run() and its timeouts cfg's. 0 on any 2xx; -errno with why as
 * attest_run(), except that a 5xx or 429 is -ECONNABORTED (the server
 * failed: worth another try) and only other refusals are -EPERM. */
int attest_post_proven(const struct attest_client_config *cfg, const struct attest_result *res, const char *path,
                       const char *json_fields, char *why, size_t whylen);

/* Frees what a successful attest_run() put in r (credential, E) and
 * clears it. Accepts NULL and an all-zero result. */
void attest_result_free(struct attest_result *r);
