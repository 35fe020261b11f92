/* SPDX-License-Identifier: Apache-2.0 */
/* The node's side of the attestation protocol: see client.h for the steps
 * and protocol.c for what the server checks of each field.
 *
 * Three libraries meet here and each has one place that turns its errors
 * into -errno and a reason line: esys_fail() for TSS2_RC (decoded with
 * Tss2_RC_Decode, naming the ESAPI call through the ESYS() macro),
 * http_fail() for CURLcode, and the reason_fail() calls around mbedtls. */
#include "client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <mbedtls/base64.h>
#include <mbedtls/ecp.h>
#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "eventlog.h"
#include "fileio.h"
#include "keywrap.h"
#include "reason.h"
#include "util.h"
#include "uuid.h"

#define EXTRA_LABEL "ember-v1"
#define PCRS 24                   /* PCRs the server may select (one bank) */
#define REPLY_MAX (64u << 10)     /* the server's replies are a few KiB */
#define EK_CERT_MAX 4096          /* an RSA EK certificate is ~1.2 KiB */
#define NV_CHUNK_FALLBACK 512     /* when the TPM does not say TPM_PT_NV_BUFFER_MAX */
#define SESSION_ID_MAX 64
#define CREDENTIAL_MAX (8u << 10)
#define CONNECT_TIMEOUT_MS 5000
#define REQUEST_TIMEOUT_MS 20000

struct ek_kind;

/* Everything one attest_run() holds: TPM handles (ESYS_TR_NONE when not
 * held), the HTTP handle, and what one step hands to the next. Heap
 * allocated: the TPM2B buffers add up. */
struct run {
        ESYS_CONTEXT *esys;
        const struct attest_client_config *cfg;
        struct reason w;
        ESYS_TR ek, ak, session;
        const struct ek_kind *kind;

        CURL *curl;
        struct curl_slist *headers;
        char curl_err[CURL_ERROR_SIZE];
        char *body;
        size_t body_len;
        bool body_too_big;

        uint64_t mark;
        uint32_t step_ms[_ATTEST_STEP_MAX];

        uint8_t ek_pub[sizeof(TPM2B_PUBLIC)], ak_pub[sizeof(TPM2B_PUBLIC)];
        size_t ek_pub_len, ak_pub_len;
        uint8_t *ek_cert;
        size_t ek_cert_len;
        TPM2B_NAME ek_name;
        mbedtls_pk_context e;
        uint8_t e_der[160];
        size_t e_der_len;

        char session_id[SESSION_ID_MAX + 1];
        uint8_t nonce[64];
        size_t nonce_len;
        TPM2B_ID_OBJECT cred_blob;
        TPM2B_ENCRYPTED_SECRET enc_secret;
        uint32_t pcr_mask;

        TPM2B_DIGEST secret; /* S */
        TPM2B_ATTEST quoted;
        uint8_t sig[sizeof(TPMT_SIGNATURE)];
        size_t sig_len;
        uint8_t pcr[PCRS][32];
        char *event_log;
        size_t event_log_len;
};

static const char *const step_names[_ATTEST_STEP_MAX] = {
        [ATTEST_STEP_EK] = "ek",               [ATTEST_STEP_EK_CERT] = "ek-cert",
        [ATTEST_STEP_AK] = "ak",               [ATTEST_STEP_E] = "e",
        [ATTEST_STEP_CHALLENGE] = "challenge", [ATTEST_STEP_ACTIVATE] = "activate",
        [ATTEST_STEP_QUOTE] = "quote",         [ATTEST_STEP_PCR_READ] = "pcr-read",
        [ATTEST_STEP_EVENT_LOG] = "event-log", [ATTEST_STEP_EVIDENCE] = "evidence",
};

const char *attest_step_name(enum attest_step s)
{
        return (unsigned)s < _ATTEST_STEP_MAX ? step_names[s] : NULL;
}

void attest_result_free(struct attest_result *r)
{
        if (!r)
                return;
        if (r->credential)
                explicit_bzero(r->credential, strlen(r->credential));
        free(r->credential);
        explicit_bzero(r->overlay.key, sizeof(r->overlay.key));
        mbedtls_pk_free(&r->e);
        *r = (struct attest_result){ 0 };
}

static uint64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Closes the step that started at the last mark. */
static void step_done(struct run *r, enum attest_step s)
{
        uint64_t now = mono_ms();
        r->step_ms[s] = (uint32_t)(now - r->mark);
        r->mark = now;
}

static void warn(const struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(const struct run *r, const char *fmt, ...)
{
        char line[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (r->cfg->warn)
                r->cfg->warn(r->cfg->userdata, line);
        else
                fprintf(stderr, "attest: %s\n", line);
}

/* Text from the server, safe for a console: bytes outside printable ASCII
 * become \xNN. */
static void escape(const char *s, char *out, size_t outlen)
{
        size_t o = 0;
        if (outlen == 0)
                return;
        for (; *s && o + 5 < outlen; s++) {
                unsigned char c = (unsigned char)*s;
                if (c >= 0x20 && c < 0x7f)
                        out[o++] = (char)c;
                else
                        o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        }
        out[o] = '\0';
}

/* ---- the TPM ---------------------------------------------------------- */

static int esys_fail(const struct reason *w, const char *what, const char *func, TSS2_RC rc)
{
        return reason_fail(w, -EIO, "%s: %s failed: %s (TSS2_RC 0x%08x)", what, func, Tss2_RC_Decode(rc), (unsigned)rc);
}

/* ESYS(run, "what we were doing", Esys_Call, args…): 0 or -EIO with the
 * decoded reason. */
#define ESYS(r, what, func, ...)                                                   \
        ({                                                                         \
                TSS2_RC _esys_rc = func(__VA_ARGS__);                              \
                _esys_rc == TSS2_RC_SUCCESS ? 0 : esys_fail(&(r)->w, what, #func, _esys_rc); \
        })

static inline void esys_freep(void *p)
{
        Esys_Free(*(void **)p);
}
#define _cleanup_esys_ _cleanup_(esys_freep)

static void flush(struct run *r, ESYS_TR *h, const char *what)
{
        if (*h == ESYS_TR_NONE)
                return;
        TSS2_RC rc = Esys_FlushContext(r->esys, *h);
        if (rc != TSS2_RC_SUCCESS) {
                warn(r, "flushing the %s failed: %s, ignoring", what, Tss2_RC_Decode(rc));
                (void)Esys_TR_Close(r->esys, h);
        }
        *h = ESYS_TR_NONE;
}

static void tpm_release(struct run *r)
{
        flush(r, &r->session, "policy session");
        flush(r, &r->ak, "AK");
        flush(r, &r->ek, "EK");
}

/* PolicyA of the TCG EK Credential Profile, the authPolicy of the low-range
 * templates: TPM2_PolicySecret(TPM_RH_ENDORSEMENT) from a fresh session
 * (TPM 2.0 Part 3 §23.4): d = H(0³² ‖ TPM_CC_PolicySecret ‖
 * Name(TPM_RH_ENDORSEMENT)), then H(d ‖ policyRef) with an empty policyRef. */
static void ek_policy_a_sha256(uint8_t out[32])
{
        static const uint8_t cc_name[8] = { 0x00, 0x00, 0x01, 0x51, 0x40, 0x00, 0x00, 0x0b };
        uint8_t buf[32 + sizeof(cc_name)] = { 0 };
        memcpy(buf + 32, cc_name, sizeof(cc_name));
        mbedtls_sha256_ret(buf, sizeof(buf), out, 0);
        mbedtls_sha256_ret(out, 32, out, 0);
}

/* PolicyB (SHA-384) of the profile, the authPolicy of the high-range P-384
 * template H-2: a PolicyOR of PolicyA and a PolicyNV branch. The digest is
 * the profile's published constant; the client never satisfies it (H-2
 * sets userWithAuth, so the empty password authorises the EK). */
static const uint8_t ek_policy_b_sha384[48] = {
        0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82, 0xbc, 0xf5, 0xfd, 0x3a, 0x1a,
        0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4, 0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca,
        0xcb, 0x47, 0xba, 0x09, 0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12,
};

#define EK_ATTRS_LOW                                                                                               \
        (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |                         \
         TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT)

/* The TCG EK Credential Profile (2.3) templates Ember creates, and where the
 * matching certificate lives in NV. */
static const struct ek_kind {
        enum attest_ek type;
        const char *name;
        TPM2_HANDLE cert_index;
        bool user_with_auth; /* authorised by the empty password, not PolicyA */
} ek_kinds[] = {
        { ATTEST_EK_RSA2048, "RSA-2048", 0x01c00002u, false },  /* L-1 */
        { ATTEST_EK_ECC_P256, "ECC P-256", 0x01c0000au, false }, /* L-2 */
        { ATTEST_EK_ECC_P384, "ECC P-384", 0x01c00016u, true },  /* H-2 */
};

static const struct ek_kind *ek_kind_of(enum attest_ek t)
{
        for (size_t i = 0; i < ELEMENTSOF(ek_kinds); i++)
                if (ek_kinds[i].type == t)
                        return &ek_kinds[i];
        return NULL;
}

static void ek_template(enum attest_ek type, TPM2B_PUBLIC *t)
{
        TPMT_PUBLIC *p = &t->publicArea;
        *t = (TPM2B_PUBLIC){ 0 };
        switch (type) {
        case ATTEST_EK_ECC_P384: /* H-2: SHA-384 names, AES-256, empty unique */
                p->type = TPM2_ALG_ECC;
                p->nameAlg = TPM2_ALG_SHA384;
                p->objectAttributes = EK_ATTRS_LOW | TPMA_OBJECT_USERWITHAUTH;
                p->authPolicy.size = sizeof(ek_policy_b_sha384);
                memcpy(p->authPolicy.buffer, ek_policy_b_sha384, sizeof(ek_policy_b_sha384));
                p->parameters.eccDetail = (TPMS_ECC_PARMS){
                        .symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 256, .mode.aes = TPM2_ALG_CFB },
                        .scheme.scheme = TPM2_ALG_NULL,
                        .curveID = TPM2_ECC_NIST_P384,
                        .kdf.scheme = TPM2_ALG_NULL,
                };
                return;
        case ATTEST_EK_ECC_P256: /* L-2: x and y of 32 zero bytes */
                p->type = TPM2_ALG_ECC;
                p->parameters.eccDetail = (TPMS_ECC_PARMS){
                        .symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB },
                        .scheme.scheme = TPM2_ALG_NULL,
                        .curveID = TPM2_ECC_NIST_P256,
                        .kdf.scheme = TPM2_ALG_NULL,
                };
                p->unique.ecc.x.size = 32;
                p->unique.ecc.y.size = 32;
                break;
        default: /* L-1: a modulus of 256 zero bytes */
                p->type = TPM2_ALG_RSA;
                p->parameters.rsaDetail = (TPMS_RSA_PARMS){
                        .symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB },
                        .scheme.scheme = TPM2_ALG_NULL,
                        .keyBits = 2048,
                        .exponent = 0,
                };
                p->unique.rsa.size = 256;
                break;
        }
        p->nameAlg = TPM2_ALG_SHA256;
        p->objectAttributes = EK_ATTRS_LOW;
        p->authPolicy.size = 32;
        ek_policy_a_sha256(p->authPolicy.buffer);
}

/* The AK: a restricted RSASSA-SHA256 signing key, the attributes the
 * server's quote_check_ak() wants. */
const TPM2B_PUBLIC attest_ak_template = { .publicArea = {
        .type = TPM2_ALG_RSA,
        .nameAlg = TPM2_ALG_SHA256,
        .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                            TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT,
        .parameters.rsaDetail = {
                .symmetric.algorithm = TPM2_ALG_NULL,
                .scheme = { .scheme = TPM2_ALG_RSASSA, .details.rsassa.hashAlg = TPM2_ALG_SHA256 },
                .keyBits = 2048,
                .exponent = 0,
        },
} };

static int marshal_public(struct run *r, const TPM2B_PUBLIC *pub, uint8_t *out, size_t *ret_len, const char *what)
{
        size_t off = 0;
        TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, out, sizeof(TPM2B_PUBLIC), &off);
        if (rc != TSS2_RC_SUCCESS)
                return reason_fail(&r->w, -EIO, "marshalling the %s public area failed: %s", what, Tss2_RC_Decode(rc));
        *ret_len = off;
        return 0;
}

static int ek_create(struct run *r)
{
        TPM2B_PUBLIC tmpl;
        const TPM2B_SENSITIVE_CREATE sens = { 0 };
        const TPM2B_DATA outside = { 0 };
        const TPML_PCR_SELECTION no_pcrs = { 0 };
        _cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
        _cleanup_esys_ TPM2B_CREATION_DATA *cdata = NULL;
        _cleanup_esys_ TPM2B_DIGEST *chash = NULL;
        _cleanup_esys_ TPMT_TK_CREATION *ticket = NULL;
        _cleanup_esys_ TPM2B_NAME *name = NULL;

        ek_template(r->kind->type, &tmpl);
        int k = ESYS(r, "creating the EK", Esys_CreatePrimary, r->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
                     ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &no_pcrs, &r->ek, &pub, &cdata, &chash, &ticket);
        if (k < 0)
                return k;
        k = ESYS(r, "naming the EK", Esys_TR_GetName, r->esys, r->ek, &name);
        if (k < 0)
                return k;
        r->ek_name = *name;
        return marshal_public(r, pub, r->ek_pub, &r->ek_pub_len, "EK");
}

/* The authorisation for one command that uses the EK: the empty password
 * for a template with userWithAuth, else a policy session satisfying
 * PolicyA. Each use consumes a policy session, so every use gets a fresh
 * one. continueSession is set so that the session stays ours to flush
 * whether the command succeeds or not. */
static int ek_auth(struct run *r, const char *what, ESYS_TR *ret)
{
        const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
        _cleanup_esys_ TPM2B_TIMEOUT *timeout = NULL;
        _cleanup_esys_ TPMT_TK_AUTH *ticket = NULL;

        flush(r, &r->session, "policy session");
        if (r->kind->user_with_auth) {
                *ret = ESYS_TR_PASSWORD;
                return 0;
        }
        int k = ESYS(r, what, Esys_StartAuthSession, r->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                     ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &r->session);
        if (k == 0)
                k = ESYS(r, what, Esys_TRSess_SetAttributes, r->esys, r->session, TPMA_SESSION_CONTINUESESSION,
                         TPMA_SESSION_CONTINUESESSION);
        if (k == 0)
                k = ESYS(r, what, Esys_PolicySecret, r->esys, ESYS_TR_RH_ENDORSEMENT, r->session, ESYS_TR_PASSWORD,
                         ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0, &timeout, &ticket);
        *ret = r->session;
        return k;
}

static int ak_create(struct run *r)
{
        const TPM2B_SENSITIVE_CREATE sens = { 0 };
        const TPM2B_DATA outside = { 0 };
        const TPML_PCR_SELECTION no_pcrs = { 0 };
        _cleanup_esys_ TPM2B_PRIVATE *priv = NULL;
        _cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
        _cleanup_esys_ TPM2B_CREATION_DATA *cdata = NULL;
        _cleanup_esys_ TPM2B_DIGEST *chash = NULL;
        _cleanup_esys_ TPMT_TK_CREATION *ticket = NULL;

        ESYS_TR auth = ESYS_TR_NONE;
        int k = ek_auth(r, "creating the AK", &auth);
        if (k == 0)
                k = ESYS(r, "creating the AK", Esys_Create, r->esys, r->ek, auth, ESYS_TR_NONE, ESYS_TR_NONE,
                         &sens, &attest_ak_template, &outside, &no_pcrs, &priv, &pub, &cdata, &chash, &ticket);
        if (k == 0)
                k = ek_auth(r, "loading the AK", &auth);
        if (k == 0)
                k = ESYS(r, "loading the AK", Esys_Load, r->esys, r->ek, auth, ESYS_TR_NONE, ESYS_TR_NONE, priv,
                         pub, &r->ak);
        flush(r, &r->session, "policy session");
        if (k == 0)
                k = marshal_public(r, pub, r->ak_pub, &r->ak_pub_len, "AK");
        return k;
}

/* Is the NV index defined? Absence is normal (a TPM without an EK
 * certificate), not an error. */
static int nv_defined(struct run *r, TPM2_HANDLE index, bool *ret)
{
        _cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more;
        int k = ESYS(r, "looking for the EK certificate", Esys_GetCapability, r->esys, ESYS_TR_NONE, ESYS_TR_NONE,
                     ESYS_TR_NONE, TPM2_CAP_HANDLES, index, 1, &more, &cap);
        if (k < 0)
                return k;
        *ret = cap->data.handles.count > 0 && cap->data.handles.handle[0] == index;
        return 0;
}

static uint16_t nv_chunk(struct run *r)
{
        _cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more;
        if (Esys_GetCapability(r->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                               TPM2_PT_NV_BUFFER_MAX, 1, &more, &cap) == TSS2_RC_SUCCESS &&
            cap->data.tpmProperties.count > 0 && cap->data.tpmProperties.tpmProperty[0].property == TPM2_PT_NV_BUFFER_MAX) {
                uint32_t v = cap->data.tpmProperties.tpmProperty[0].value;
                if (v > 0 && v <= sizeof(((TPM2B_MAX_NV_BUFFER *)0)->buffer))
                        return (uint16_t)v;
        }
        return NV_CHUNK_FALLBACK;
}

static int nv_read_all(struct run *r, ESYS_TR nv, uint8_t **ret, size_t *ret_len)
{
        const char *what = "reading the EK certificate";
        _cleanup_esys_ TPM2B_NV_PUBLIC *pub = NULL;
        _cleanup_esys_ TPM2B_NAME *name = NULL;
        int k = ESYS(r, what, Esys_NV_ReadPublic, r->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name);
        if (k < 0)
                return k;
        uint16_t size = pub->nvPublic.dataSize;
        TPMA_NV attrs = pub->nvPublic.attributes;
        ESYS_TR auth = attrs & TPMA_NV_AUTHREAD ? nv : attrs & TPMA_NV_OWNERREAD ? ESYS_TR_RH_OWNER : ESYS_TR_NONE;
        if (auth == ESYS_TR_NONE)
                return reason_fail(&r->w, -EACCES, "%s: the index allows neither AUTHREAD nor OWNERREAD", what);
        if (size == 0 || size > EK_CERT_MAX)
                return reason_fail(&r->w, -EBADMSG, "%s: the index holds %u bytes (1 to %u expected)", what, size,
                                   EK_CERT_MAX);
        _cleanup_free_ uint8_t *buf = malloc(size);
        if (!buf)
                return reason_fail(&r->w, -ENOMEM, "%s: out of memory", what);
        uint16_t chunk = nv_chunk(r);
        for (uint16_t off = 0; off < size;) {
                _cleanup_esys_ TPM2B_MAX_NV_BUFFER *data = NULL;
                uint16_t n = (uint16_t)(size - off < chunk ? size - off : chunk);
                k = ESYS(r, what, Esys_NV_Read, r->esys, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n, off,
                         &data);
                if (k < 0)
                        return k;
                if (data->size != n)
                        return reason_fail(&r->w, -EIO, "%s: the TPM returned %u bytes for %u", what, data->size, n);
                memcpy(buf + off, data->buffer, n);
                off = (uint16_t)(off + n);
        }
        /* Some TPMs pad the index: keep exactly the DER SEQUENCE. */
        size_t len = size;
        if (size >= 4 && buf[0] == 0x30 && buf[1] == 0x82 && 4u + ((size_t)buf[2] << 8 | buf[3]) <= size)
                len = 4u + ((size_t)buf[2] << 8 | buf[3]);
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* The EK certificate from its NV index when there is one. Failing to read
 * a present one is said and ignored: the server may know the EK anyway. */
static void ek_cert_read(struct run *r)
{
        char why[300] = "";
        const struct reason saved = r->w; /* this step's failures are warnings, not the run's reason */
        ESYS_TR nv = ESYS_TR_NONE;
        bool present = false;

        r->w = (struct reason){ why, sizeof(why) };
        const TPM2_HANDLE index = r->kind->cert_index;
        int k = nv_defined(r, index, &present);
        if (k == 0 && present)
                k = ESYS(r, "reading the EK certificate", Esys_TR_FromTPMPublic, r->esys, index,
                         ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
        if (k == 0 && present)
                k = nv_read_all(r, nv, &r->ek_cert, &r->ek_cert_len);
        if (nv != ESYS_TR_NONE)
                (void)Esys_TR_Close(r->esys, &nv); /* an NV index is not flushed, only forgotten */
        r->w = saved;
        if (k < 0)
                warn(r, "%s (NV index 0x%08x), sending none, ignoring", why, index);
}

static void selection_of(uint32_t mask, TPML_PCR_SELECTION *sel)
{
        *sel = (TPML_PCR_SELECTION){ .count = 1 };
        sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
        sel->pcrSelections[0].sizeofSelect = 3;
        for (int i = 0; i < PCRS; i++)
                if (mask & (1u << i))
                        sel->pcrSelections[0].pcrSelect[i / 8] |= (uint8_t)(1u << (i % 8));
}

static int activate(struct run *r)
{
        _cleanup_esys_ TPM2B_DIGEST *s = NULL;
        ESYS_TR auth = ESYS_TR_NONE;
        int k = ek_auth(r, "activating the credential", &auth);
        if (k == 0)
                k = ESYS(r, "activating the credential", Esys_ActivateCredential, r->esys, r->ak, r->ek, ESYS_TR_PASSWORD,
                         auth, ESYS_TR_NONE, &r->cred_blob, &r->enc_secret, &s);
        flush(r, &r->session, "policy session");
        if (k < 0)
                return k;
        r->secret = *s;
        explicit_bzero(s, sizeof(*s));
        return 0;
}

/* extraData = SHA-256("ember-v1" ‖ nonce ‖ S ‖ SHA-256(E_pub)) */
static void extra_data(const struct run *r, TPM2B_DATA *out)
{
        uint8_t eh[32];
        mbedtls_sha256_context c;
        mbedtls_sha256_ret(r->e_der, r->e_der_len, eh, 0);
        mbedtls_sha256_init(&c);
        mbedtls_sha256_starts_ret(&c, 0);
        mbedtls_sha256_update_ret(&c, (const unsigned char *)EXTRA_LABEL, strlen(EXTRA_LABEL));
        mbedtls_sha256_update_ret(&c, r->nonce, r->nonce_len);
        mbedtls_sha256_update_ret(&c, r->secret.buffer, r->secret.size);
        mbedtls_sha256_update_ret(&c, eh, sizeof(eh));
        mbedtls_sha256_finish_ret(&c, out->buffer);
        mbedtls_sha256_free(&c);
        out->size = 32;
}

static int quote(struct run *r)
{
        TPM2B_DATA extra;
        TPML_PCR_SELECTION sel;
        const TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL }; /* the AK's own: RSASSA-SHA256 */
        _cleanup_esys_ TPM2B_ATTEST *quoted = NULL;
        _cleanup_esys_ TPMT_SIGNATURE *sig = NULL;
        size_t off = 0;

        extra_data(r, &extra);
        selection_of(r->pcr_mask, &sel);
        int k = ESYS(r, "quoting the PCRs", Esys_Quote, r->esys, r->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                     &extra, &scheme, &sel, &quoted, &sig);
        if (k < 0)
                return k;
        TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, r->sig, sizeof(r->sig), &off);
        if (rc != TSS2_RC_SUCCESS)
                return reason_fail(&r->w, -EIO, "marshalling the quote's signature failed: %s", Tss2_RC_Decode(rc));
        r->sig_len = off;
        r->quoted = *quoted;
        return 0;
}

/* PCR_Read returns at most 8 digests a call (TPM 2.0 Part 3 §22.4): ask
 * again for what is left until every selected PCR has its value. */
static int pcr_read(struct run *r)
{
        uint32_t left = r->pcr_mask;
        while (left) {
                TPML_PCR_SELECTION in;
                UINT32 counter;
                _cleanup_esys_ TPML_PCR_SELECTION *out = NULL;
                _cleanup_esys_ TPML_DIGEST *vals = NULL;
                uint32_t got = 0;
                size_t n = 0;

                selection_of(left, &in);
                int k = ESYS(r, "reading the PCRs", Esys_PCR_Read, r->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in,
                             &counter, &out, &vals);
                if (k < 0)
                        return k;
                for (uint32_t b = 0; b < out->count; b++) {
                        const TPMS_PCR_SELECTION *s = &out->pcrSelections[b];
                        for (int i = 0; s->hash == TPM2_ALG_SHA256 && i < PCRS && i / 8 < s->sizeofSelect; i++) {
                                if (!(s->pcrSelect[i / 8] & (1u << (i % 8))))
                                        continue;
                                if (!(left & (1u << i)) || n >= vals->count || vals->digests[n].size != 32)
                                        return reason_fail(&r->w, -EIO, "reading the PCRs: the TPM answered for PCR %d "
                                                           "what was not asked or not a SHA-256 value", i);
                                memcpy(r->pcr[i], vals->digests[n++].buffer, 32);
                                got |= 1u << i;
                        }
                }
                if (got == 0)
                        return reason_fail(&r->w, -EIO, "reading the PCRs: the TPM has no SHA-256 values for PCRs "
                                           "0x%06x (is the bank allocated?)", left);
                left &= ~got;
        }
        return 0;
}

/* E: a fresh P-256 key from the kernel's CSPRNG. The credential is bound to
 * its public key, so only this boot, holding E, can use it. */
static int rng_kernel(void *ud, unsigned char *buf, size_t len)
{
        return getrandom_full(buf, len) < 0 ? MBEDTLS_ERR_ECP_RANDOM_FAILED : 0;
}

static int e_create(struct run *r)
{
        int k = mbedtls_pk_setup(&r->e, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
        if (k == 0)
                k = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(r->e), rng_kernel, NULL);
        if (k != 0)
                return reason_fail(&r->w, k == MBEDTLS_ERR_ECP_RANDOM_FAILED ? -EIO : -ENOMEM,
                                   "making the ephemeral key E failed (mbedtls -0x%04x)", (unsigned)-k);
        /* the writer fills from the end of the buffer */
        k = mbedtls_pk_write_pubkey_der(&r->e, r->e_der, sizeof(r->e_der));
        if (k <= 0)
                return reason_fail(&r->w, -EIO, "encoding E's public key failed (mbedtls -0x%04x)", (unsigned)-k);
        memmove(r->e_der, r->e_der + sizeof(r->e_der) - (size_t)k, (size_t)k);
        r->e_der_len = (size_t)k;
        return 0;
}

static int event_log_read(struct run *r)
{
        const char *path = r->cfg->event_log_path ? r->cfg->event_log_path : ATTEST_EVENT_LOG_DEFAULT;
        int k = read_file_all(path, EVLOG_MAX_BYTES, &r->event_log, &r->event_log_len);
        if (k < 0)
                return reason_fail(&r->w, k == -EFBIG ? -EFBIG : -ENOENT, "reading the event log %s failed: %s", path,
                                   strerror(-k));
        if (r->event_log_len == 0)
                return reason_fail(&r->w, -ENOENT, "the event log %s is empty (no measured boot?)", path);
        return 0;
}

/* ---- HTTPS -------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
        struct run *r = ud;
        size_t n = size * nmemb;
        if (n > REPLY_MAX - r->body_len) {
                r->body_too_big = true;
                return 0; /* curl stops with CURLE_WRITE_ERROR */
        }
        char *b = realloc(r->body, r->body_len + n + 1);
        if (!b)
                return 0;
        memcpy(b + r->body_len, data, n);
        r->body = b;
        r->body_len += n;
        b[r->body_len] = '\0';
        return n;
}

static int config_check(const struct attest_client_config *c, const struct reason *w)
{
        if (!c->url || !startswith(c->url, "https://") || strlen(c->url) <= strlen("https://") || strlen(c->url) > 512)
                return reason_fail(w, -EINVAL, "the server URL must be https://HOST[:PORT] (got %s)",
                                   c->url ? c->url : "none");
        bool pinned = c->pins && *c->pins;
        if (!pinned && !(c->ca_file && *c->ca_file))
                return reason_fail(w, -EINVAL, "neither a pin nor a CA for the server: refusing to talk to an "
                                   "unauthenticated server");
        for (const char *p = pinned ? c->pins : NULL; p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL)
                if (!startswith(p, "sha256//"))
                        return reason_fail(w, -EINVAL, "a pin must read sha256//BASE64 (several separated by ';')");
        if (!attest_ek_to_string(c->ek))
                return reason_fail(w, -EINVAL, "unknown EK type %d", (int)c->ek);
        return 0;
}

#define SETOPT(r, opt, val)                                                                                 \
        do {                                                                                                \
                CURLcode _c = curl_easy_setopt((r)->curl, opt, val);                                        \
                if (_c != CURLE_OK)                                                                         \
                        return reason_fail(&(r)->w, _c == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EOPNOTSUPP,      \
                                           "HTTPS: setting %s failed: %s", #opt, curl_easy_strerror(_c)); \
        } while (0)

/* How the server is authenticated:
 *   * with a CA file: the chain must verify to it and the certificate must
 *     name the host of the URL (VERIFYPEER and VERIFYHOST), and the pins
 *     must match too when there are any;
 *   * with pins only: curl checks that the key in the server's certificate
 *     hashes to one of the pins and aborts the handshake before any byte of
 *     the request is sent otherwise. Chain and name are not verified
 *     (VERIFYPEER and VERIFYHOST off), and that is safe: the pin is the
 *     server's identity. A certificate is only a signed statement binding
 *     a name to a key; with the key itself pinned, the handshake's proof of
 *     possession of that key authenticates the server, and names in an
 *     unverified certificate would prove nothing (anyone can write any name
 *     into a self-signed one; anyone without the key fails the pin).
 * There is no default CA store: a node trusts only what it was given. */
/* Is the URL's host an IPv4 or IPv6 literal? */
static bool url_host_is_ip(const char *url)
{
        const char *h = url + strlen("https://");
        if (*h == '[')
                return true;
        char host[64];
        size_t n = strcspn(h, ":/");
        if (n == 0 || n >= sizeof(host))
                return false;
        memcpy(host, h, n);
        host[n] = '\0';
        struct in_addr a;
        return inet_pton(AF_INET, host, &a) == 1;
}

/* Who the server is, by what the image carries:
 *   pin only     its key must be a pinned one; the certificate is not
 *                otherwise checked: the pin names the key exactly.
 *   CA only      the certificate must chain to the CA and name the host.
 *   pin and CA   both: the chain, the pin and the host name — except that
 *                for a server addressed by IP the name is not compared,
 *                as mbedtls 2.28 cannot match iPAddress subjectAltNames;
 *                the pin already binds the one key. */
static int http_open(struct run *r)
{
        const struct attest_client_config *c = r->cfg;
        bool pinned = c->pins && *c->pins, ca = c->ca_file && *c->ca_file;
        long verify_host = ca && !(pinned && url_host_is_ip(c->url)) ? 2L : 0L;
        r->curl = curl_easy_init();
        if (!r->curl)
                return reason_fail(&r->w, -ENOMEM, "HTTPS: curl_easy_init failed");
        r->headers = curl_slist_append(NULL, "Content-Type: application/json");
        struct curl_slist *h = r->headers ? curl_slist_append(r->headers, "Expect:") : NULL; /* no 100-continue wait */
        if (!h)
                return reason_fail(&r->w, -ENOMEM, "HTTPS: out of memory");
        r->headers = h;
        SETOPT(r, CURLOPT_ERRORBUFFER, r->curl_err);
        SETOPT(r, CURLOPT_NOSIGNAL, 1L);
        SETOPT(r, CURLOPT_PROTOCOLS_STR, "https");
        /* only the proxy the caller names, never one from the environment;
         * TLS runs end to end through it (CONNECT) */
        SETOPT(r, CURLOPT_PROXY, c->proxy ? c->proxy : "");
        SETOPT(r, CURLOPT_FOLLOWLOCATION, 0L);
        SETOPT(r, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
        SETOPT(r, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->connect_timeout_ms ? c->connect_timeout_ms : CONNECT_TIMEOUT_MS));
        SETOPT(r, CURLOPT_TIMEOUT_MS, (long)(c->request_timeout_ms ? c->request_timeout_ms : REQUEST_TIMEOUT_MS));
        SETOPT(r, CURLOPT_USERAGENT, "ember-attest/1");
        SETOPT(r, CURLOPT_HTTPHEADER, r->headers);
        SETOPT(r, CURLOPT_WRITEFUNCTION, on_body);
        SETOPT(r, CURLOPT_WRITEDATA, r);
        SETOPT(r, CURLOPT_CAPATH, NULL);
        SETOPT(r, CURLOPT_CAINFO, ca ? c->ca_file : NULL);
        SETOPT(r, CURLOPT_SSL_VERIFYPEER, ca ? 1L : 0L);
        SETOPT(r, CURLOPT_SSL_VERIFYHOST, verify_host);
        if (pinned)
                SETOPT(r, CURLOPT_PINNEDPUBLICKEY, c->pins);
        return 0;
}

static void http_close(struct run *r)
{
        if (r->curl)
                curl_easy_cleanup(r->curl);
        curl_slist_free_all(r->headers);
        free(r->body);
        r->curl = NULL;
        r->headers = NULL;
        r->body = NULL;
}

static int curl_errno(CURLcode c)
{
        switch (c) {
        case CURLE_COULDNT_RESOLVE_HOST:
                return -EHOSTUNREACH;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
                return -EKEYREJECTED;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        default:
                return -ECONNABORTED;
        }
}

/* "POST /v1/attest/challenge: <curl's own detail> (curl error N)": curl's
 * error buffer names the address and what went wrong more precisely than
 * its generic text, which it otherwise repeats. */
static int http_fail(struct run *r, const char *what, CURLcode c)
{
        if (c == CURLE_WRITE_ERROR && r->body_too_big)
                return reason_fail(&r->w, -EBADMSG, "%s: the reply is larger than %u bytes", what, REPLY_MAX);
        bool ip_name = c == CURLE_PEER_FAILED_VERIFICATION && strstr(r->curl_err, "CN_MISMATCH") &&
                       url_host_is_ip(r->cfg->url);
        return reason_fail(&r->w, curl_errno(c), "%s: %s (curl error %d)%s", what,
                           r->curl_err[0] ? r->curl_err : curl_easy_strerror(c), (int)c,
                           ip_name ? "; this TLS library cannot match an IP address in a certificate: pin the "
                                     "server's key too, or address it by a DNS name" : "");
}

static json_object *parse_json(const char *s, size_t len)
{
        struct json_tokener *tok = json_tokener_new_ex(8);
        if (!tok)
                return NULL;
        json_object *o = json_tokener_parse_ex(tok, s, (int)len);
        bool whole = json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) == len;
        json_tokener_free(tok);
        if (!o || !whole || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static const char *json_str(json_object *o, const char *key)
{
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                                                 : NULL;
}

/* POSTs body to PATH: 0 and the reply object for a 200; the server's
 * refusal text (escaped) as the reason otherwise. With proven (requests
 * made with the credential, after the attestation) any 2xx is success and
 * its body need not be JSON (*ret may be NULL), and a 5xx or 429 is
 * -ECONNABORTED: the server failed, which is worth another try, not a
 * verdict. */
static int post_ex(struct run *r, const char *path, const char *what, json_object *body, bool proven, json_object **ret)
{
        char url[600];
        const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        long status = 0;
        size_t base = strlen(r->cfg->url);
        while (base > 0 && r->cfg->url[base - 1] == '/')
                base--;
        snprintf(url, sizeof(url), "%.*s%s", (int)base, r->cfg->url, path);
        if (!text)
                return reason_fail(&r->w, -ENOMEM, "%s: out of memory", what);
        free(r->body);
        r->body = NULL;
        r->body_len = 0;
        r->body_too_big = false;
        r->curl_err[0] = '\0';
        SETOPT(r, CURLOPT_URL, url);
        SETOPT(r, CURLOPT_POSTFIELDS, text);
        SETOPT(r, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
        CURLcode c = curl_easy_perform(r->curl);
        if (c != CURLE_OK) {
                char post_path[600];
                snprintf(post_path, sizeof(post_path), "POST %s", path);
                return http_fail(r, post_path, c);
        }
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
        json_object *o = r->body ? parse_json(r->body, r->body_len) : NULL;
        if (proven ? status < 200 || status > 299 : status != 200) {
                char esc[400];
                const char *err = o ? json_str(o, "error") : NULL;
                escape(err ? err : "no reason given", esc, sizeof(esc));
                json_object_put(o);
                return reason_fail(&r->w, proven && (status >= 500 || status == 429) ? -ECONNABORTED : -EPERM,
                                   "server refused %s (HTTP %ld): %s", what, status, esc);
        }
        if (!o && !proven)
                return reason_fail(&r->w, -EBADMSG, "%s: the server's reply is not one JSON object", what);
        *ret = o;
        return 0;
}

static int post(struct run *r, const char *path, const char *what, json_object *body, json_object **ret)
{
        return post_ex(r, path, what, body, false, ret);
}

/* ---- the protocol's messages ------------------------------------------ */

static int json_add(json_object *o, const char *key, json_object *v)
{
        if (!v || json_object_object_add(o, key, v) != 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int json_add_b64(json_object *o, const char *key, const uint8_t *d, size_t n)
{
        size_t need = 0, olen = 0;
        (void)mbedtls_base64_encode(NULL, 0, &need, d, n); /* sets the size it needs, NUL included */
        _cleanup_free_ char *s = malloc(need + 1);
        if (!s || mbedtls_base64_encode((unsigned char *)s, need + 1, &olen, d, n) != 0)
                return -ENOMEM;
        return json_add(o, key, json_object_new_string_len(s, (int)olen));
}

static int json_b64(struct run *r, json_object *o, const char *key, uint8_t *out, size_t max, size_t *ret_len)
{
        const char *s = json_str(o, key);
        size_t n = 0;
        if (!s)
                return reason_fail(&r->w, -EBADMSG, "the server's reply has no string \"%s\"", key);
        if (mbedtls_base64_decode(out, max, &n, (const unsigned char *)s, strlen(s)) != 0 || n == 0)
                return reason_fail(&r->w, -EBADMSG, "the server's \"%s\" is not base64 of 1 to %zu bytes", key, max);
        *ret_len = n;
        return 0;
}

/* "pcr_selection": {"sha256": [0, 1, …]}; another bank is refused, not
 * skipped: the quote would not be what the server asked for. */
static int parse_selection(struct run *r, json_object *o)
{
        json_object *sel, *bank;
        if (!json_object_object_get_ex(o, "pcr_selection", &sel) || !json_object_is_type(sel, json_type_object))
                return reason_fail(&r->w, -EBADMSG, "the challenge has no \"pcr_selection\" object");
        json_object_object_foreach(sel, key, val)
        {
                if (!streq(key, "sha256"))
                        return reason_fail(&r->w, -EOPNOTSUPP, "the server asks for PCR bank \"%.16s\"; Ember quotes "
                                           "sha256 only", key);
                (void)val;
        }
        if (!json_object_object_get_ex(sel, "sha256", &bank) || !json_object_is_type(bank, json_type_array))
                return reason_fail(&r->w, -EBADMSG, "the challenge's pcr_selection has no \"sha256\" list");
        r->pcr_mask = 0;
        for (size_t i = 0; i < json_object_array_length(bank); i++) {
                json_object *v = json_object_array_get_idx(bank, i);
                int64_t p = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
                if (p < 0 || p >= PCRS)
                        return reason_fail(&r->w, -EBADMSG, "the challenge's pcr_selection holds a PCR out of 0..23");
                r->pcr_mask |= 1u << p;
        }
        if (r->pcr_mask == 0)
                return reason_fail(&r->w, -EBADMSG, "the challenge selects no PCRs");
        return 0;
}

static int parse_challenge(struct run *r, json_object *o)
{
        uint8_t buf[sizeof(TPM2B_ID_OBJECT) > sizeof(TPM2B_ENCRYPTED_SECRET) ? sizeof(TPM2B_ID_OBJECT)
                                                                             : sizeof(TPM2B_ENCRYPTED_SECRET)];
        size_t n, off = 0;
        const char *sid = json_str(o, "session");
        if (!sid || !*sid || strlen(sid) > SESSION_ID_MAX)
                return reason_fail(&r->w, -EBADMSG, "the challenge has no \"session\" of 1 to %d characters", SESSION_ID_MAX);
        snprintf(r->session_id, sizeof(r->session_id), "%s", sid);
        int k = json_b64(r, o, "nonce", r->nonce, sizeof(r->nonce), &r->nonce_len);
        if (k < 0)
                return k;
        k = json_b64(r, o, "credential_blob", buf, sizeof(buf), &n);
        if (k < 0)
                return k;
        r->cred_blob = (TPM2B_ID_OBJECT){ 0 };
        if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(buf, n, &off, &r->cred_blob) != TSS2_RC_SUCCESS || off != n)
                return reason_fail(&r->w, -EBADMSG, "the challenge's credential_blob is not a TPM2B_ID_OBJECT");
        k = json_b64(r, o, "encrypted_secret", buf, sizeof(buf), &n);
        if (k < 0)
                return k;
        off = 0;
        r->enc_secret = (TPM2B_ENCRYPTED_SECRET){ 0 };
        if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(buf, n, &off, &r->enc_secret) != TSS2_RC_SUCCESS || off != n)
                return reason_fail(&r->w, -EBADMSG, "the challenge's encrypted_secret is not a TPM2B_ENCRYPTED_SECRET");
        return parse_selection(r, o);
}

static int challenge(struct run *r)
{
        json_object *body = json_object_new_object(), *reply = NULL;
        int k = body ? 0 : -ENOMEM;
        if (k == 0)
                k = json_add_b64(body, "ek_pub", r->ek_pub, r->ek_pub_len);
        if (k == 0 && r->ek_cert_len > 0)
                k = json_add_b64(body, "ek_cert", r->ek_cert, r->ek_cert_len);
        if (k == 0)
                k = json_add_b64(body, "ak_pub", r->ak_pub, r->ak_pub_len);
        if (k < 0) {
                json_object_put(body);
                return reason_fail(&r->w, k, "building the challenge request: out of memory");
        }
        k = post(r, "/v1/attest/challenge", "the challenge", body, &reply);
        json_object_put(body);
        if (k < 0)
                return k;
        k = parse_challenge(r, reply);
        json_object_put(reply);
        return k;
}

static int add_pcrs(const struct run *r, json_object *body)
{
        json_object *pcrs = json_object_new_object(), *bank = json_object_new_object();
        int k = pcrs && bank ? 0 : -ENOMEM;
        for (int i = 0; k == 0 && i < PCRS; i++) {
                char key[4], hex[65];
                if (!(r->pcr_mask & (1u << i)))
                        continue;
                snprintf(key, sizeof(key), "%d", i);
                for (int j = 0; j < 32; j++)
                        snprintf(hex + 2 * j, 3, "%02x", r->pcr[i][j]);
                k = json_add(bank, key, json_object_new_string(hex));
        }
        if (k < 0) {
                json_object_put(bank);
                json_object_put(pcrs);
                return k;
        }
        k = json_add(pcrs, "sha256", bank);
        return k < 0 ? (json_object_put(pcrs), k) : json_add(body, "pcrs", pcrs);
}

static int copy_id(struct run *r, json_object *o, const char *key, char out[ATTEST_ID_LEN])
{
        const char *s = json_str(o, key);
        if (!s || !*s || strlen(s) >= ATTEST_ID_LEN || strspn(s, "0123456789abcdefABCDEF-") != strlen(s))
                return reason_fail(&r->w, -EBADMSG, "the server's reply has no \"%s\" id", key);
        memcpy(out, s, strlen(s) + 1);
        return 0;
}

/* "overlay": {id, serial, sha256, size, url, key: {epk, iv, wrapped}}: the
 * overlay this node must fetch, its key unwrapped with E (keywrap.h). The
 * unwrap binds the key to this session, this E, this id and serial: a
 * reply that names another overlay than the key was wrapped for fails. */
static int parse_overlay(struct run *r, json_object *o, struct attest_overlay *ov)
{
        json_object *v, *key;
        struct keywrap kw;
        uint8_t idb[KEYWRAP_ID_LEN], t[32];
        size_t n;
        if (!json_object_object_get_ex(o, "overlay", &v))
                return 0;
        const char *sha = json_str(v, "sha256"), *url = json_str(v, "url");
        json_object *serial, *size;
        int k = copy_id(r, v, "id", ov->id);
        if (k < 0)
                return k;
        if (uuid_parse(ov->id, idb) < 0 || !json_object_object_get_ex(v, "serial", &serial) ||
            !json_object_is_type(serial, json_type_int) || json_object_get_int64(serial) <= 0 ||
            !json_object_object_get_ex(v, "size", &size) || !json_object_is_type(size, json_type_int) ||
            json_object_get_int64(size) <= 0 || !sha || strlen(sha) != 64 || !url || strlen(url) >= sizeof(ov->url) ||
            !json_object_object_get_ex(v, "key", &key))
                return reason_fail(&r->w, -EBADMSG, "the server's reply names an overlay malformed");
        for (size_t i = 0; i < 32; i++) {
                unsigned x;
                if (!isxdigit((unsigned char)sha[2 * i]) || !isxdigit((unsigned char)sha[2 * i + 1]) ||
                    sscanf(sha + 2 * i, "%2x", &x) != 1)
                        return reason_fail(&r->w, -EBADMSG, "the server's overlay digest is not hex");
                ov->sha256[i] = (uint8_t)x;
        }
        ov->serial = (uint64_t)json_object_get_int64(serial);
        ov->size = (uint64_t)json_object_get_int64(size);
        snprintf(ov->url, sizeof(ov->url), "%s", url);
        if ((k = json_b64(r, key, "epk", kw.epk, sizeof(kw.epk), &n)) < 0 || n != sizeof(kw.epk) ||
            (k = json_b64(r, key, "iv", kw.iv, sizeof(kw.iv), &n)) < 0 || n != sizeof(kw.iv) ||
            (k = json_b64(r, key, "wrapped", kw.ct, sizeof(kw.ct), &n)) < 0 || n != sizeof(kw.ct))
                return k < 0 ? k : reason_fail(&r->w, -EBADMSG, "the server's wrapped overlay key is malformed");
        keywrap_context(r->session_id, r->nonce, r->nonce_len, r->e_der, r->e_der_len, idb, ov->serial, t);
        k = keywrap_open(&r->e, t, &kw, ov->key, &r->w);
        if (k < 0)
                return k;
        ov->present = true;
        return 0;
}

static int parse_verdict(struct run *r, json_object *o, struct attest_result *res)
{
        json_object *exp;
        const char *cred = json_str(o, "credential");
        int k = copy_id(r, o, "machine", res->machine);
        if (k == 0)
                k = copy_id(r, o, "image", res->image);
        if (k < 0)
                return k;
        if (!cred || !*cred || strlen(cred) > CREDENTIAL_MAX)
                return reason_fail(&r->w, -EBADMSG, "the server's reply has no credential of 1 to %u bytes", CREDENTIAL_MAX);
        if (!json_object_object_get_ex(o, "expires", &exp) || !json_object_is_type(exp, json_type_int))
                return reason_fail(&r->w, -EBADMSG, "the server's reply has no \"expires\" time");
        res->expires = json_object_get_int64(exp);
        /* the approval's name, for the console: printable ASCII only */
        const char *name = json_str(o, "image_name");
        escape(name ? name : "", res->image_name, sizeof(res->image_name));
        k = parse_overlay(r, o, &res->overlay);
        if (k < 0)
                return k;
        res->credential = strdup(cred);
        return res->credential ? 0 : reason_fail(&r->w, -ENOMEM, "keeping the credential: out of memory");
}

static int evidence(struct run *r, struct attest_result *res)
{
        json_object *body = json_object_new_object(), *reply = NULL;
        int k = body ? 0 : -ENOMEM;
        if (k == 0)
                k = json_add(body, "session", json_object_new_string(r->session_id));
        if (k == 0)
                k = json_add_b64(body, "quote", r->quoted.attestationData, r->quoted.size);
        if (k == 0)
                k = json_add_b64(body, "signature", r->sig, r->sig_len);
        if (k == 0)
                k = add_pcrs(r, body);
        if (k == 0)
                k = json_add_b64(body, "event_log", (const uint8_t *)r->event_log, r->event_log_len);
        if (k == 0)
                k = json_add_b64(body, "e_pub", r->e_der, r->e_der_len);
        if (k < 0) {
                json_object_put(body);
                return reason_fail(&r->w, k, "building the evidence request: out of memory");
        }
        k = post(r, "/v1/attest/evidence", "the evidence", body, &reply);
        json_object_put(body);
        if (k < 0)
                return k;
        k = parse_verdict(r, reply, res);
        json_object_put(reply);
        return k;
}

/* ---- fetching the overlay ------------------------------------------------ */

#define POP_LABEL "ember-v1-pop"
#define FETCH_TIMEOUT_MS 300000

int attest_pop_sign(const struct attest_result *res, int64_t t, uint8_t *sig, size_t size, size_t *ret_len)
{
        uint8_t h[32];
        char tbuf[24];
        mbedtls_sha256_context c;
        snprintf(tbuf, sizeof(tbuf), "%lld", (long long)t);
        mbedtls_sha256_init(&c);
        mbedtls_sha256_starts_ret(&c, 0);
        mbedtls_sha256_update_ret(&c, (const unsigned char *)POP_LABEL, sizeof(POP_LABEL)); /* with its NUL */
        mbedtls_sha256_update_ret(&c, (const unsigned char *)res->credential, strlen(res->credential) + 1);
        mbedtls_sha256_update_ret(&c, (const unsigned char *)tbuf, strlen(tbuf));
        mbedtls_sha256_finish_ret(&c, h);
        mbedtls_sha256_free(&c);
        if (size < MBEDTLS_ECDSA_MAX_LEN)
                return -ENOBUFS;
        int k = mbedtls_pk_sign((mbedtls_pk_context *)&res->e, MBEDTLS_MD_SHA256, h, sizeof(h), sig, ret_len, rng_kernel,
                                NULL);
        return k == 0 ? 0 : -EIO;
}

/* The credential and a fresh proof of possession of E: what every request
 * made with the credential carries (protocol.c's pop_request). */
static int add_proof(const struct attest_result *res, json_object *body, const struct reason *w)
{
        uint8_t sig[MBEDTLS_ECDSA_MAX_LEN], e_der[160];
        size_t sig_len = 0;
        int64_t now = (int64_t)time(NULL);
        int n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)&res->e, e_der, sizeof(e_der));
        int k;
        if (n <= 0 || attest_pop_sign(res, now, sig, sizeof(sig), &sig_len) < 0)
                return reason_fail(w, -EIO, "signing the request with E failed");
        if ((k = json_add(body, "credential", json_object_new_string(res->credential))) < 0 ||
            (k = json_add_b64(body, "e_pub", e_der + sizeof(e_der) - n, (size_t)n)) < 0 ||
            (k = json_add(body, "time", json_object_new_int64(now))) < 0 ||
            (k = json_add_b64(body, "signature", sig, sig_len)) < 0)
                return reason_fail(w, k, "out of memory");
        return 0;
}

struct fetch {
        struct run *r;
        attest_sink sink;
        void *ud;
        uint64_t got, max;
        int sink_err;
        long status;
};

static size_t on_blob(char *data, size_t size, size_t nmemb, void *ud)
{
        struct fetch *f = ud;
        size_t n = size * nmemb;
        if (f->status == 0)
                curl_easy_getinfo(f->r->curl, CURLINFO_RESPONSE_CODE, &f->status);
        if (f->status != 200)
                return on_body(data, size, nmemb, f->r); /* the refusal's JSON */
        if (n > f->max - f->got) {
                f->sink_err = -EFBIG;
                return 0;
        }
        f->got += n;
        int k = f->sink(f->ud, data, n);
        if (k < 0) {
                f->sink_err = k;
                return 0;
        }
        return n;
}

int attest_fetch_overlay(const struct attest_client_config *cfg, const struct attest_result *res, attest_sink sink,
                         void *userdata, unsigned timeout_ms, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        if (!res || !res->overlay.present || !res->credential)
                return reason_fail(&w, -EINVAL, "no overlay was named by the attestation");
        int k = config_check(cfg, &w);
        if (k < 0)
                return k;
        struct run *r = calloc(1, sizeof(*r));
        if (!r)
                return reason_fail(&w, -ENOMEM, "out of memory");
        *r = (struct run){ .cfg = cfg, .w = w, .ek = ESYS_TR_NONE, .ak = ESYS_TR_NONE, .session = ESYS_TR_NONE };
        struct fetch f = { .r = r, .sink = sink, .ud = userdata, .max = res->overlay.size };
        const bool external = res->overlay.url[0] != '\0';
        char url[700], what[720];
        json_object *body = NULL;
        k = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? http_open(r) : reason_fail(&w, -ENOMEM, "curl_global_init failed");
        if (k == 0 && external) {
                /* any server may hold the blob: its TLS is checked the usual way, no pin */
                snprintf(url, sizeof(url), "%s", res->overlay.url);
                snprintf(what, sizeof(what), "GET %s", url);
                curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
                curl_easy_setopt(r->curl, CURLOPT_PINNEDPUBLICKEY, NULL);
                curl_easy_setopt(r->curl, CURLOPT_CAINFO, cfg->ca_file && *cfg->ca_file ? cfg->ca_file : NULL);
                curl_easy_setopt(r->curl, CURLOPT_SSL_VERIFYPEER, 1L);
                curl_easy_setopt(r->curl, CURLOPT_SSL_VERIFYHOST, 2L);
                curl_easy_setopt(r->curl, CURLOPT_HTTPGET, 1L);
        } else if (k == 0) {
                size_t base = strlen(cfg->url);
                while (base > 0 && cfg->url[base - 1] == '/')
                        base--;
                snprintf(url, sizeof(url), "%.*s/v1/overlay", (int)base, cfg->url);
                snprintf(what, sizeof(what), "POST /v1/overlay");
                body = json_object_new_object();
                k = body ? add_proof(res, body, &w) : reason_fail(&w, -ENOMEM, "out of memory");
                const char *text = k == 0 ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;
                if (k == 0 && !text)
                        k = reason_fail(&w, -ENOMEM, "out of memory");
                if (k == 0) {
                        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, text);
                        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
                }
        }
        if (k == 0) {
                curl_easy_setopt(r->curl, CURLOPT_URL, url);
                curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_blob);
                curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &f);
                curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, (long)(timeout_ms ? timeout_ms : FETCH_TIMEOUT_MS));
                r->curl_err[0] = '\0';
                CURLcode c = curl_easy_perform(r->curl);
                if (f.status == 0)
                        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &f.status);
                if (c == CURLE_WRITE_ERROR && f.sink_err == -EFBIG)
                        k = reason_fail(&w, -EFBIG, "%s: more than the %llu bytes the attestation named", what,
                                        (unsigned long long)f.max);
                else if (c == CURLE_WRITE_ERROR && f.sink_err < 0)
                        k = f.sink_err; /* the sink said why */
                else if (c != CURLE_OK)
                        k = http_fail(r, what, c);
                else if (f.status != 200) {
                        char esc[400];
                        json_object *o = r->body ? parse_json(r->body, r->body_len) : NULL;
                        const char *err = o ? json_str(o, "error") : NULL;
                        escape(err ? err : "no reason given", esc, sizeof(esc));
                        json_object_put(o);
                        k = reason_fail(&w, f.status >= 500 || f.status == 429 ? -ECONNABORTED : -EPERM,
                                        "%s: HTTP %ld: %s", what, f.status, esc);
                } else if (f.got != f.max)
                        k = reason_fail(&w, -ECONNABORTED, "%s: %llu of %llu bytes", what, (unsigned long long)f.got,
                                        (unsigned long long)f.max);
        }
        json_object_put(body);
        http_close(r);
        curl_global_cleanup();
        free(r->body);
        free(r);
        return k;
}

int attest_post_proven(const struct attest_client_config *cfg, const struct attest_result *res, const char *path,
                       const char *json_fields, char *why, size_t whylen)
{
        static const char *const proof_fields[] = { "credential", "e_pub", "time", "signature" };
        const struct reason w = { why, whylen };
        if (!res || !res->credential || !path || path[0] != '/' || strlen(path) > 64)
                return reason_fail(&w, -EINVAL, "no credential, or no path, to send the request with");
        int k = config_check(cfg, &w);
        if (k < 0)
                return k;
        json_object *body = json_fields ? parse_json(json_fields, strlen(json_fields)) : json_object_new_object();
        if (!body)
                return reason_fail(&w, -EINVAL, "the request's fields are not one JSON object");
        for (size_t i = 0; i < ELEMENTSOF(proof_fields); i++)
                if (json_object_object_get_ex(body, proof_fields[i], NULL)) {
                        json_object_put(body);
                        return reason_fail(&w, -EINVAL, "the request's fields carry \"%s\" of their own", proof_fields[i]);
                }
        struct run *r = calloc(1, sizeof(*r));
        if (!r) {
                json_object_put(body);
                return reason_fail(&w, -ENOMEM, "out of memory");
        }
        *r = (struct run){ .cfg = cfg, .w = w, .ek = ESYS_TR_NONE, .ak = ESYS_TR_NONE, .session = ESYS_TR_NONE };
        json_object *reply = NULL;
        char what[80];
        snprintf(what, sizeof(what), "POST %s", path);
        k = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? http_open(r) : reason_fail(&w, -ENOMEM, "curl_global_init failed");
        if (k == 0)
                k = add_proof(res, body, &w);
        if (k == 0)
                k = post_ex(r, path, what, body, true, &reply);
        json_object_put(reply);
        json_object_put(body);
        http_close(r);
        curl_global_cleanup();
        free(r);
        return k;
}

/* ---- the run -------------------------------------------------------------- */

/* ATTEST_EK_AUTO: the first kind, in ek_kinds' order, whose certificate
 * the TPM holds (a certified EK is the one a manufacturer vouches for),
 * else RSA-2048, which every TPM 2.0 of the PC Client profile has. */
static int ek_choose(struct run *r)
{
        if (r->cfg->ek != ATTEST_EK_AUTO) {
                r->kind = ek_kind_of(r->cfg->ek);
                return 0;
        }
        r->kind = &ek_kinds[0];
        for (size_t i = 0; i < ELEMENTSOF(ek_kinds); i++) {
                bool present = false;
                int k = nv_defined(r, ek_kinds[i].cert_index, &present);
                if (k < 0)
                        return k;
                if (present) {
                        r->kind = &ek_kinds[i];
                        break;
                }
        }
        return 0;
}

static int tpm_keys(struct run *r)
{
        int k = ek_choose(r);
        if (k == 0)
                k = ek_create(r);
        if (k < 0)
                return k;
        step_done(r, ATTEST_STEP_EK);
        ek_cert_read(r);
        step_done(r, ATTEST_STEP_EK_CERT);
        k = ak_create(r);
        if (k < 0)
                return k;
        step_done(r, ATTEST_STEP_AK);
        return 0;
}

static int run_protocol(struct run *r, struct attest_result *res)
{
        int k = tpm_keys(r);
        if (k < 0)
                return k;
        if ((k = e_create(r)) < 0)
                return k;
        step_done(r, ATTEST_STEP_E);
        if ((k = http_open(r)) < 0 || (k = challenge(r)) < 0)
                return k;
        step_done(r, ATTEST_STEP_CHALLENGE);
        if ((k = activate(r)) < 0)
                return k;
        step_done(r, ATTEST_STEP_ACTIVATE);
        if ((k = quote(r)) < 0)
                return k;
        step_done(r, ATTEST_STEP_QUOTE);
        if ((k = pcr_read(r)) < 0)
                return k;
        step_done(r, ATTEST_STEP_PCR_READ);
        tpm_release(r); /* nothing more for the TPM: free its slots before the last round trip */
        if ((k = event_log_read(r)) < 0)
                return k;
        step_done(r, ATTEST_STEP_EVENT_LOG);
        if ((k = evidence(r, res)) < 0)
                return k;
        step_done(r, ATTEST_STEP_EVIDENCE);
        return 0;
}

int attest_run(ESYS_CONTEXT *esys, const struct attest_client_config *cfg, struct attest_result *ret, char *why,
               size_t whylen)
{
        const struct reason w = { why, whylen };
        if (!esys || !cfg || !ret)
                return reason_fail(&w, -EINVAL, "attest_run: missing argument");
        int k = config_check(cfg, &w);
        if (k < 0)
                return k;
        struct run *r = calloc(1, sizeof(*r));
        struct attest_result *res = calloc(1, sizeof(*res));
        if (!r || !res) {
                free(r);
                free(res);
                return reason_fail(&w, -ENOMEM, "attest: out of memory");
        }
        *r = (struct run){ .esys = esys, .cfg = cfg, .w = w, .ek = ESYS_TR_NONE, .ak = ESYS_TR_NONE,
                           .session = ESYS_TR_NONE };
        mbedtls_pk_init(&r->e);
        uint64_t start = r->mark = mono_ms();
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                k = reason_fail(&w, -ENOMEM, "HTTPS: curl_global_init failed");
        } else {
                k = run_protocol(r, res);
                http_close(r);
                curl_global_cleanup();
        }
        tpm_release(r);
        if (k == 0) {
                res->e = r->e; /* E moves to the caller */
                mbedtls_pk_init(&r->e);
                res->ek_name = r->ek_name;
                res->ek_type = r->kind->type;
                res->ek_cert_len = r->ek_cert_len;
                memcpy(res->step_ms, r->step_ms, sizeof(res->step_ms));
                res->total_ms = (uint32_t)(mono_ms() - start);
                *ret = *res;
        } else {
                attest_result_free(res);
        }
        mbedtls_pk_free(&r->e);
        free(r->ek_cert);
        free(r->event_log);
        explicit_bzero(r, sizeof(*r));
        free(r);
        free(res);
        return k;
}
