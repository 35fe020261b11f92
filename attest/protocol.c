/* SPDX-License-Identifier: Apache-2.0 */
/* The attestation protocol (DESIGN.md "Attestation"), server side:
 *
 *   POST /v1/attest/challenge {ek_pub, ek_cert?, ak_pub}
 *     → {session, nonce, credential_blob, encrypted_secret, pcr_selection}
 *   POST /v1/attest/evidence {session, quote, signature, pcrs, event_log, e_pub}
 *     → {credential, machine, image, expires}
 *   POST /v1/report {credential, e_pub, time, signature, boot_id, outcome, …}
 *     → {}  (report.h)
 *
 * Binary fields are base64 of TPM-marshalled structures. Every refusal
 * names the failed check; the same words go to the audit log (with the
 * machine) and to the node (which prints them on its console). Nothing
 * secret is in them. */
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hex.h"
#include "ekcert.h"
#include "eventlog.h"
#include "keywrap.h"
#include "makecred.h"
#include "quote.h"
#include "reason.h"
#include "refvalues.h"
#include "report.h"
#include "util.h"
#include "uuid.h"

#define SESSION_TTL_S 60
#define CREDENTIAL_TTL_S 600
#define EXTRA_LABEL "ember-v1"
/* PCRs 0-7 (firmware, boot loaders, PE images), 9 (the kernel's command line
 * and initrd), 11 (UKI sections), 12 (systemd-boot's command line); never
 * 10 (IMA, not in the TCG log). */
#define FIRST_BOOT_SELECTION (0xffu | 1u << 9 | 1u << 11 | 1u << 12)

/* A JSON body, parsed whole or refused. */
static json_object *parse_body(const struct http_request *rq, struct http_reply *rp)
{
        struct json_tokener *tok = json_tokener_new_ex(8);
        if (!tok)
                return http_error(rp, 500, "out of memory"), NULL;
        json_object *o = json_tokener_parse_ex(tok, (const char *)rq->body, (int)rq->body_len);
        enum json_tokener_error e = json_tokener_get_error(tok);
        size_t end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (!o || e != json_tokener_success || end != rq->body_len || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                http_error(rp, 400, "the body must be one JSON object (%s)",
                           e != json_tokener_success ? json_tokener_error_desc(e) : "trailing bytes or not an object");
                return NULL;
        }
        return o;
}

static const char *str_field(json_object *o, const char *key)
{
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                                                 : NULL;
}

/* Base64 field into a fresh buffer of at most max bytes. */
static int b64_field(json_object *o, const char *key, size_t max, uint8_t **ret, size_t *ret_len, struct http_reply *rp)
{
        const char *s = str_field(o, key);
        size_t n = 0;
        if (!s)
                return http_error(rp, 400, "missing string field \"%s\"", key), -EBADMSG;
        size_t slen = strlen(s);
        if (slen / 4 * 3 > max + 3)
                return http_error(rp, 400, "\"%s\" is larger than %zu bytes", key, max), -E2BIG;
        uint8_t *buf = malloc(max + 3);
        if (!buf)
                return http_error(rp, 500, "out of memory"), -ENOMEM;
        if (mbedtls_base64_decode(buf, max + 3, &n, (const unsigned char *)s, slen) != 0 || n > max || n == 0) {
                free(buf);
                return http_error(rp, 400, "\"%s\" is not base64 of at most %zu bytes", key, max), -EBADMSG;
        }
        *ret = buf;
        *ret_len = n;
        return 0;
}

static char *b64(const uint8_t *d, size_t n)
{
        size_t olen;
        char *out = malloc(n / 3 * 4 + 8);
        if (out && mbedtls_base64_encode((unsigned char *)out, n / 3 * 4 + 8, &olen, d, n) != 0) {
                free(out);
                return NULL;
        }
        return out;
}

static void add_b64(json_object *o, const char *key, const uint8_t *d, size_t n)
{
        _cleanup_free_ char *s = b64(d, n);
        json_object_object_add(o, key, s ? json_object_new_string(s) : NULL);
}

static void reply_json(struct http_reply *rp, unsigned status, json_object *o)
{
        const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        rp->status = status;
        free(rp->body);
        rp->body = t ? strdup(t) : NULL;
        json_object_put(o);
}

/* Refusals: one line in the audit log and the same words to the node. */
static void refuse(struct protocol *p, struct http_reply *rp, unsigned status, const char *subject, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static void refuse(struct protocol *p, struct http_reply *rp, unsigned status, const char *subject, const char *fmt, ...)
{
        char msg[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        (void)p->store->ops->audit(p->store, (int64_t)time(NULL), "server", "attest.refuse", subject ? subject : "-", msg);
        fprintf(stderr, "ember-attestd: refused %s: %s\n", subject ? subject : "a request", msg);
        http_error(rp, status, "%s", msg);
}

struct images_ctx {
        uint32_t selection;
        size_t n;
};

static int add_selection(const struct image *img, void *ud)
{
        struct images_ctx *c = ud;
        struct ref_image *ri = calloc(1, sizeof(*ri));
        if (!ri)
                return -ENOMEM;
        if (ref_parse(img->refvalues, strlen(img->refvalues), ri, NULL, 0) == 0) {
                c->selection |= ref_selection(ri);
                c->n++;
        }
        free(ri);
        return 0;
}

static json_object *selection_json(uint32_t mask)
{
        json_object *o = json_object_new_object(), *a = json_object_new_array();
        for (int i = 0; i < REF_PCRS; i++)
                if (mask & (1u << i))
                        json_object_array_add(a, json_object_new_int(i));
        json_object_object_add(o, "sha256", a);
        return o;
}

static int add_trusted(const struct ek_ca *ca, void *ud)
{
        char why[300];
        int r = ekcert_trust_add(ud, ca->der, ca->der_len, why, sizeof(why));
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                fprintf(stderr, "ember-attestd: EK CA %.16s in the database: %s, ignoring\n", ca->id, why);
        return 0;
}

/* An unknown or pending EK whose certificate chains to a trusted CA and
 * certifies exactly this EK is enrolled, as if an operator had approved it;
 * never one an operator deleted. 0: enrolled, *m is the machine (pending
 * says *m holds the pending one). -EKEYREJECTED: a trusted CA certified
 * another key. -ENOMEM, -EIO: the server failed. Anything else: the
 * certificate does not count. why says why in every case but 0. */
static int enrol_by_cert(struct protocol *p, const TPM2B_PUBLIC *ek, const uint8_t *cert, size_t cert_len,
                         const uint8_t ek_hash[32], bool pending, struct machine *m, char *why, size_t whylen)
{
        struct ekcert_trust *t;
        struct ekcert_verdict v;
        char deleted[STORE_ID_LEN], detail[700];
        int64_t now = (int64_t)time(NULL);
        int r = p->store->ops->ek_deleted(p->store, ek_hash, deleted);
        if (r == 0)
                return snprintf(why, whylen, "machine %s with this EK was deleted by an operator: only an operator "
                                "brings it back", deleted), -EPERM;
        if (r != -ENOENT)
                return snprintf(why, whylen, "reading deleted EKs failed"), -EIO;
        if ((r = ekcert_trust_new(&t)) < 0)
                return snprintf(why, whylen, "out of memory"), r;
        r = p->store->ops->ek_ca_list(p->store, add_trusted, t);
        if (r < 0)
                snprintf(why, whylen, "reading the trusted EK CAs failed");
        else
                r = ekcert_verify(t, cert, cert_len, ek, &v, why, whylen);
        ekcert_trust_free(t);
        if (r < 0)
                return r;
        if (!pending) {
                *m = (struct machine){ .created = now };
                memcpy(m->ek_hash, ek_hash, 32);
                if (uuid_random(m->id) < 0 || getrandom_full(m->secret, sizeof(m->secret)) < 0)
                        return snprintf(why, whylen, "no randomness"), -EIO;
        }
        m->state = MACHINE_ENROLLED;
        m->updated = now;
        snprintf(m->note, sizeof(m->note), "enrolled by its EK certificate: CA %.16s %.180s", v.ca_id, v.ca_subject);
        if (p->store->ops->machine_put(p->store, m) < 0)
                return snprintf(why, whylen, "recording the machine failed"), -EIO;
        snprintf(detail, sizeof(detail), "%s; EK certificate %s%s chains to trusted CA %.16s (%s)",
                 pending ? "was pending" : "unknown EK", v.cert.tpm[0] ? "of TPM " : "",
                 v.cert.tpm[0] ? v.cert.tpm : v.cert.subject, v.ca_id, v.ca_subject);
        (void)p->store->ops->audit(p->store, now, "server", "machine.enrolled", m->id, detail);
        fprintf(stderr, "ember-attestd: machine %s enrolled: %s\n", m->id, detail);
        return 0;
}

/* An unknown EK is remembered as a pending machine for the operator,
 * unless its certificate enrols it (enrol_by_cert). */
static int lookup_machine(struct protocol *p, const TPM2B_PUBLIC *ek, const uint8_t ek_hash[32], const char *hexek,
                          const uint8_t *cert, size_t cert_len, struct machine *m, struct http_reply *rp)
{
        char why[400] = "", because[420] = "";
        int r = p->store->ops->machine_by_ek(p->store, ek_hash, m);
        if (r < 0 && r != -ENOENT)
                return http_error(rp, 500, "reading the machine failed"), r;
        bool known = r == 0;
        if (known && m->state == MACHINE_ENROLLED)
                return 0;
        if (known && m->state != MACHINE_PENDING) {
                refuse(p, rp, 403, m->id, "machine %s is %s", m->id, machine_state_name(m->state));
                return -EPERM;
        }
        if (cert) {
                r = enrol_by_cert(p, ek, cert, cert_len, ek_hash, known, m, why, sizeof(why));
                if (r == 0)
                        return 0;
                if (r == -EKEYREJECTED) {
                        refuse(p, rp, 403, known ? m->id : NULL, "%s", why);
                        return -EPERM;
                }
                if (r == -ENOMEM || r == -EIO)
                        return http_error(rp, 500, "enrolling by the EK certificate: %s", why), r;
                fprintf(stderr, "ember-attestd: EK %.16s…: its certificate does not count: %s, ignoring\n", hexek, why);
                snprintf(because, sizeof(because), " (its certificate does not count: %s)", why);
        }
        if (!known) {
                char detail[480];
                *m = (struct machine){ .state = MACHINE_PENDING, .created = (int64_t)time(NULL) };
                m->updated = m->created;
                memcpy(m->ek_hash, ek_hash, 32);
                snprintf(m->note, sizeof(m->note), "attested with an unknown EK");
                if (uuid_random(m->id) < 0 || getrandom_full(m->secret, sizeof(m->secret)) < 0 ||
                    p->store->ops->machine_put(p->store, m) < 0)
                        return http_error(rp, 500, "recording the pending machine failed"), -EIO;
                snprintf(detail, sizeof(detail), "unknown EK attested%s", because);
                (void)p->store->ops->audit(p->store, m->created, "server", "machine.pending", m->id, detail);
                refuse(p, rp, 403, m->id, "unknown EK: recorded as pending machine %s; an operator must approve it%s", m->id,
                       because);
                return -EPERM;
        }
        refuse(p, rp, 403, m->id, "machine %s is pending: waiting for an operator to approve it%s", m->id, because);
        return -EPERM;
}

static void handle_challenge(struct protocol *p, const struct http_request *rq, struct http_reply *rp)
{
        json_object *body = parse_body(rq, rp);
        _cleanup_free_ uint8_t *ek_bytes = NULL, *ak_bytes = NULL, *cert = NULL;
        size_t ek_len, ak_len, cert_len = 0;
        TPM2B_PUBLIC ek = { 0 }, ak = { 0 };
        TPM2B_NAME ak_name;
        char why[300], hexek[65];
        uint8_t ek_hash[32];
        struct machine m;
        if (!body)
                return;
        int r = b64_field(body, "ek_pub", STORE_PUB_MAX, &ek_bytes, &ek_len, rp);
        if (r == 0)
                r = b64_field(body, "ak_pub", STORE_PUB_MAX, &ak_bytes, &ak_len, rp);
        if (r == 0 && str_field(body, "ek_cert"))
                r = b64_field(body, "ek_cert", EKCERT_MAX, &cert, &cert_len, rp);
        json_object_put(body);
        if (r < 0)
                return;
        if (makecred_parse_public(ek_bytes, ek_len, &ek, why, sizeof(why)) < 0 || makecred_check_ek(&ek, why, sizeof(why)) < 0)
                return refuse(p, rp, 400, NULL, "EK: %s", why);
        if (makecred_parse_public(ak_bytes, ak_len, &ak, why, sizeof(why)) < 0 ||
            quote_check_ak(&ak.publicArea, why, sizeof(why)) < 0)
                return refuse(p, rp, 400, NULL, "%s", why);
        mbedtls_sha256_ret(ek_bytes, ek_len, ek_hash, 0);
        for (int i = 0; i < 32; i++)
                snprintf(hexek + 2 * i, 3, "%02x", ek_hash[i]);
        if (!ratelimit_take(&p->by_ek, hexek, p->now_ms()))
                return refuse(p, rp, 429, NULL, "too many attestations for this EK; slow down");
        if (lookup_machine(p, &ek, ek_hash, hexek, cert, cert_len, &m, rp) < 0)
                return;

        struct images_ctx ic = { 0 };
        if (p->store->ops->image_list(p->store, add_selection, &ic) < 0)
                return http_error(rp, 500, "reading the approved images failed");
        /* With nothing approved yet, the node is still quoted (it cannot
         * pass) so that its evidence is kept for `image approve
         * --from-evidence`: the PCRs every boot path of Ember measures. */
        if (ic.n == 0 || ic.selection == 0)
                ic.selection = FIRST_BOOT_SELECTION;

        struct session *se = calloc(1, sizeof(*se));
        struct makecred_blobs *blobs = calloc(1, sizeof(*blobs));
        if (!se || !blobs) {
                free(se);
                free(blobs);
                return http_error(rp, 500, "out of memory");
        }
        se->expires = (int64_t)time(NULL) + SESSION_TTL_S;
        se->pcr_mask = ic.selection;
        memcpy(se->ek_hash, ek_hash, 32);
        snprintf(se->machine_id, sizeof(se->machine_id), "%s", m.id);
        memcpy(se->ek_pub, ek_bytes, ek_len);
        se->ek_pub_len = ek_len;
        memcpy(se->ak_pub, ak_bytes, ak_len);
        se->ak_pub_len = ak_len;
        if (uuid_random(se->id) < 0 || getrandom_full(se->nonce, sizeof(se->nonce)) < 0 ||
            getrandom_full(se->secret, sizeof(se->secret)) < 0)
                r = -EIO, snprintf(why, sizeof(why), "no randomness");
        else if ((r = makecred_name(&ak, &ak_name)) < 0)
                snprintf(why, sizeof(why), "computing the AK name failed");
        else
                r = makecred(&ek, &ak_name, se->secret, sizeof(se->secret), NULL, blobs, why, sizeof(why));
        if (r == 0 && (r = p->store->ops->session_put(p->store, se)) < 0)
                snprintf(why, sizeof(why), "storing the session failed");
        if (r < 0) {
                explicit_bzero(se, sizeof(*se));
                free(se);
                free(blobs);
                return http_error(rp, 500, "%s", why);
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "session", json_object_new_string(se->id));
        add_b64(o, "nonce", se->nonce, sizeof(se->nonce));
        add_b64(o, "credential_blob", blobs->credential_blob, blobs->credential_blob_len);
        add_b64(o, "encrypted_secret", blobs->secret, blobs->secret_len);
        json_object_object_add(o, "pcr_selection", selection_json(ic.selection));
        explicit_bzero(se, sizeof(*se));
        free(se);
        free(blobs);
        reply_json(rp, 200, o);
}

/* extraData = SHA-256("ember-v1" ‖ nonce ‖ S ‖ SHA-256(E_pub)) */
static void expected_extra(const struct session *se, const uint8_t *e_pub, size_t e_len, uint8_t out[32])
{
        uint8_t eh[32];
        mbedtls_sha256_context c;
        mbedtls_sha256_ret(e_pub, e_len, eh, 0);
        mbedtls_sha256_init(&c);
        mbedtls_sha256_starts_ret(&c, 0);
        mbedtls_sha256_update_ret(&c, (const unsigned char *)EXTRA_LABEL, strlen(EXTRA_LABEL));
        mbedtls_sha256_update_ret(&c, se->nonce, sizeof(se->nonce));
        mbedtls_sha256_update_ret(&c, se->secret, sizeof(se->secret));
        mbedtls_sha256_update_ret(&c, eh, sizeof(eh));
        mbedtls_sha256_finish_ret(&c, out);
        mbedtls_sha256_free(&c);
}

/* "pcrs": {"sha256": {"0": "hex", …}} for exactly the selection. */
static int parse_pcrs(json_object *body, uint32_t mask, struct quote_pcr *out, size_t *n, struct http_reply *rp)
{
        json_object *pcrs, *bank;
        if (!json_object_object_get_ex(body, "pcrs", &pcrs) || !json_object_object_get_ex(pcrs, "sha256", &bank) ||
            !json_object_is_type(bank, json_type_object))
                return http_error(rp, 400, "missing \"pcrs\": {\"sha256\": {…}}"), -EBADMSG;
        *n = 0;
        json_object_object_foreach(bank, key, val)
        {
                char *end;
                long i = strtol(key, &end, 10);
                if (*end || end == key || i < 0 || i >= REF_PCRS || !(mask & (1u << i)) ||
                    !json_object_is_type(val, json_type_string) || *n >= REF_PCRS)
                        return http_error(rp, 400, "pcrs.sha256.%.8s: not a selected PCR with a hex value", key), -EBADMSG;
                out[*n] = (struct quote_pcr){ .bank = TPM2_ALG_SHA256, .index = (uint8_t)i };
                if (hex_decode(json_object_get_string(val), out[*n].digest, 32) < 0)
                        return http_error(rp, 400, "pcrs.sha256.%ld is not 64 hex digits", i), -EBADMSG;
                (*n)++;
        }
        return 0;
}

struct match_ctx {
        const struct ref_pcrs *pcrs;
        int64_t now;
        char image_id[STORE_ID_LEN], image_name[128];
        char why[300];
        bool found;
};

static int try_image(const struct image *img, void *ud)
{
        struct match_ctx *c = ud;
        struct ref_image *ri = calloc(1, sizeof(*ri));
        char why[300];
        if (!ri)
                return -ENOMEM;
        if (!c->found && ref_parse(img->refvalues, strlen(img->refvalues), ri, NULL, 0) == 0) {
                if (ref_match(ri, c->pcrs, c->now, why, sizeof(why)) >= 0) {
                        c->found = true;
                        snprintf(c->image_id, sizeof(c->image_id), "%s", img->id);
                        snprintf(c->image_name, sizeof(c->image_name), "%s", img->name);
                } else if (!c->why[0]) {
                        snprintf(c->why, sizeof(c->why), "%s", why);
                }
        }
        free(ri);
        return 0;
}

/* The event log must replay to exactly the quoted values; policy then
 * looks at replayed values only. */
static int replay_log(struct protocol *p, const struct session *se, json_object *body, const struct quote_pcr *q, size_t nq,
                      struct ref_pcrs *ret, struct http_reply *rp)
{
        _cleanup_free_ uint8_t *bytes = NULL;
        size_t len;
        char why[300];
        if (b64_field(body, "event_log", EVLOG_MAX_BYTES, &bytes, &len, rp) < 0)
                return -EBADMSG;
        struct evlog *log = NULL;
        struct evlog_pcrs *rep = calloc(1, sizeof(*rep));
        if (!rep)
                return http_error(rp, 500, "out of memory"), -ENOMEM;
        int r = evlog_parse(bytes, len, &log, why, sizeof(why));
        if (r == 0)
                r = evlog_replay(log, EVLOG_ALG_SHA256, rep, why, sizeof(why));
        evlog_free(log);
        if (r < 0) {
                free(rep);
                return refuse(p, rp, 403, se->machine_id, "event log: %s", why), r;
        }
        *ret = (struct ref_pcrs){ 0 };
        for (size_t i = 0; i < nq; i++) {
                if (memcmp(rep->value[q[i].index], q[i].digest, 32) != 0) {
                        free(rep);
                        refuse(p, rp, 403, se->machine_id, "PCR %u: the event log does not replay to the quoted value",
                               q[i].index);
                        return -EBADMSG;
                }
                memcpy(ret->value[q[i].index], rep->value[q[i].index], 32);
                ret->mask |= 1u << q[i].index;
        }
        free(rep);
        return 0;
}

static char *pcrs_to_json(const struct ref_pcrs *p)
{
        json_object *o = json_object_new_object();
        for (int i = 0; i < REF_PCRS; i++)
                if (p->mask & (1u << i)) {
                        char k[4], h[65];
                        snprintf(k, sizeof(k), "%d", i);
                        for (int j = 0; j < 32; j++)
                                snprintf(h + 2 * j, 3, "%02x", p->value[i][j]);
                        json_object_object_add(o, k, json_object_new_string(h));
                }
        const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        char *ret = t ? strdup(t) : NULL;
        json_object_put(o);
        return ret;
}

/* The credential: machine, image, expiry and H(E), MACed with the
 * machine's secret. Worthless without E: every later request must be
 * signed with E (or use it as the TLS client key). */
static char *issue_credential(const struct machine *m, const char *image_id, const uint8_t *e_pub, size_t e_len,
                              int64_t expires)
{
        uint8_t eh[32], mac[32];
        char eh_hex[65], *payload = NULL, *ret = NULL;
        mbedtls_sha256_ret(e_pub, e_len, eh, 0);
        for (int i = 0; i < 32; i++)
                snprintf(eh_hex + 2 * i, 3, "%02x", eh[i]);
        if (asprintf(&payload, "{\"machine\":\"%s\",\"image\":\"%s\",\"expires\":%lld,\"e_sha256\":\"%s\"}", m->id, image_id,
                     (long long)expires, eh_hex) < 0)
                return NULL;
        mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), m->secret, sizeof(m->secret),
                        (const unsigned char *)payload, strlen(payload), mac);
        _cleanup_free_ char *p64 = b64((const uint8_t *)payload, strlen(payload)), *m64 = b64(mac, sizeof(mac));
        if (p64 && m64 && asprintf(&ret, "%s.%s", p64, m64) < 0)
                ret = NULL;
        free(payload);
        return ret;
}

/* The overlay the machine must get (its own, its group's, the default),
 * named exactly — id, serial, ciphertext digest, size — so the node refuses
 * any other, and its data key wrapped to E (keywrap.h). No assignment: no
 * "overlay" in the reply. */
static int add_overlay(struct protocol *p, const struct machine *m, const struct session *se, const uint8_t *e_pub,
                       size_t e_len, json_object *o, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        char oid[STORE_ID_LEN], hex[2 * STORE_HASH_LEN + 1];
        struct overlay_rec rec;
        uint8_t idb[KEYWRAP_ID_LEN], t[32];
        struct keywrap kw;
        int r = p->store->ops->overlay_for(p->store, m->id, oid);
        if (r == -ENOENT)
                return 0;
        if (r == 0)
                r = p->store->ops->overlay_current(p->store, oid, &rec);
        if (r < 0)
                return reason_fail(&w, r, "reading the overlay assigned to machine %s failed", m->id);
        r = uuid_parse(rec.id, idb);
        if (r == 0) {
                keywrap_context(se->id, se->nonce, sizeof(se->nonce), e_pub, e_len, idb, rec.serial, t);
                r = keywrap_seal(e_pub, e_len, t, rec.key, &kw, &w);
        }
        explicit_bzero(rec.key, sizeof(rec.key));
        if (r < 0)
                return r;
        json_object *ov = json_object_new_object(), *key = json_object_new_object();
        for (int i = 0; i < STORE_HASH_LEN; i++)
                snprintf(hex + 2 * i, 3, "%02x", rec.ct_sha256[i]);
        json_object_object_add(ov, "id", json_object_new_string(rec.id));
        json_object_object_add(ov, "serial", json_object_new_int64((int64_t)rec.serial));
        json_object_object_add(ov, "sha256", json_object_new_string(hex));
        json_object_object_add(ov, "size", json_object_new_int64((int64_t)rec.size));
        json_object_object_add(ov, "url", json_object_new_string(rec.url));
        add_b64(key, "epk", kw.epk, sizeof(kw.epk));
        add_b64(key, "iv", kw.iv, sizeof(kw.iv));
        add_b64(key, "wrapped", kw.ct, sizeof(kw.ct));
        json_object_object_add(ov, "key", key);
        json_object_object_add(o, "overlay", ov);
        return 0;
}

/* A refused attestation of a known machine is a boot outcome too: the
 * operator sees it in the machine's boot history (report.h), with the
 * words the node was sent. */
static void record_refusal(struct protocol *p, const struct session *se, const struct http_reply *rp)
{
        json_object *o = rp->body ? json_tokener_parse(rp->body) : NULL, *v;
        const char *why = o && json_object_object_get_ex(o, "error", &v) ? json_object_get_string(v) : NULL;
        int r = report_record_refusal(p->store, se->machine_id, se->id, why ? why : "refused", (int64_t)time(NULL));
        if (r < 0 && r != -ENOENT)
                fprintf(stderr, "ember-attestd: recording the refusal of machine %s in its boot history failed: %s, "
                        "ignoring\n", se->machine_id, strerror(-r));
        json_object_put(o);
}

static void handle_evidence(struct protocol *p, const struct http_request *rq, struct http_reply *rp)
{
        json_object *body = parse_body(rq, rp);
        if (!body)
                return;
        struct session *se = calloc(1, sizeof(*se));
        _cleanup_free_ uint8_t *attest = NULL, *sig = NULL, *e_pub = NULL;
        _cleanup_free_ char *cred = NULL; /* here, not later: the gotos below jump past later declarations */
        size_t attest_len, sig_len, e_len, nq = 0;
        struct quote_pcr q[REF_PCRS];
        char why[300];
        int64_t now = (int64_t)time(NULL);
        struct machine m;
        const char *sid = str_field(body, "session");
        int r;

        if (!se) {
                http_error(rp, 500, "out of memory");
                goto out;
        }
        if (!sid) {
                http_error(rp, 400, "missing string field \"session\"");
                goto out;
        }
        r = p->store->ops->session_take(p->store, sid, now, se);
        if (r < 0) {
                refuse(p, rp, 403, NULL, "%s", r == -EALREADY ? "session reused: a session is good for one attempt"
                                              : r == -ETIME   ? "session expired: ask for a new challenge"
                                                              : "unknown session");
                goto out;
        }
        if (b64_field(body, "quote", 4096, &attest, &attest_len, rp) < 0 ||
            b64_field(body, "signature", 4096, &sig, &sig_len, rp) < 0 ||
            b64_field(body, "e_pub", 1024, &e_pub, &e_len, rp) < 0 || parse_pcrs(body, se->pcr_mask, q, &nq, rp) < 0)
                goto out;

        uint8_t extra[32];
        expected_extra(se, e_pub, e_len, extra);
        struct quote_selection sel = { .bank = { { .alg = TPM2_ALG_SHA256, .pcrs = se->pcr_mask } }, .n_banks = 1 };
        struct quote_evidence ev = { se->ak_pub, se->ak_pub_len, attest, attest_len, sig, sig_len, q, nq };
        struct quote_expect ex = { se->ek_pub, se->ek_pub_len, extra, sizeof(extra), &sel };
        struct quote_info info;
        if (quote_verify(&ev, &ex, &info, why, sizeof(why)) < 0) {
                refuse(p, rp, 403, se->machine_id, "quote: %s", why);
                goto out;
        }
        /* the machine may have been revoked since the challenge */
        if ((r = p->store->ops->machine_get(p->store, se->machine_id, &m)) < 0 || m.state != MACHINE_ENROLLED) {
                refuse(p, rp, 403, se->machine_id, "machine %s is %s", se->machine_id,
                       r < 0 ? "deleted" : machine_state_name(m.state));
                goto out;
        }
        struct quote_info prev = { .reset_count = m.reset_count, .restart_count = m.restart_count };
        if (quote_check_counters(&prev, &info, why, sizeof(why)) < 0) {
                refuse(p, rp, 403, m.id, "quote: %s", why);
                goto out;
        }
        struct ref_pcrs replayed;
        if (replay_log(p, se, body, q, nq, &replayed, rp) < 0)
                goto out;

        struct match_ctx mc = { .pcrs = &replayed, .now = now };
        struct attestation rec = { .time = now, .pcrs_json = pcrs_to_json(&replayed) };
        snprintf(rec.session_id, sizeof(rec.session_id), "%s", se->id);
        snprintf(rec.machine_id, sizeof(rec.machine_id), "%s", m.id);
        if (p->store->ops->image_list(p->store, try_image, &mc) < 0) {
                free(rec.pcrs_json);
                http_error(rp, 500, "reading the approved images failed");
                goto out;
        }
        snprintf(rec.verdict, sizeof(rec.verdict), "%s %.200s", mc.found ? "ok image" : "refused:", mc.found ? mc.image_id : mc.why);
        (void)p->store->ops->attestation_put(p->store, &rec);
        free(rec.pcrs_json);
        if (!mc.found) {
                refuse(p, rp, 403, m.id, "%s (evidence kept as %s)", mc.why[0] ? mc.why : "no approved image", se->id);
                goto out;
        }
        m.reset_count = info.reset_count;
        m.restart_count = info.restart_count;
        m.updated = now;
        cred = issue_credential(&m, mc.image_id, e_pub, e_len, now + CREDENTIAL_TTL_S);
        if (!cred || p->store->ops->machine_put(p->store, &m) < 0) {
                http_error(rp, 500, "issuing the credential failed");
                goto out;
        }
        char detail[256];
        snprintf(detail, sizeof(detail), "image %.100s (%s), session %s", mc.image_name, mc.image_id, se->id);
        (void)p->store->ops->audit(p->store, now, "server", "attest.ok", m.id, detail);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "credential", json_object_new_string(cred));
        json_object_object_add(o, "machine", json_object_new_string(m.id));
        json_object_object_add(o, "image", json_object_new_string(mc.image_id));
        json_object_object_add(o, "image_name", json_object_new_string(mc.image_name));
        json_object_object_add(o, "expires", json_object_new_int64(now + CREDENTIAL_TTL_S));
        if (add_overlay(p, &m, se, e_pub, e_len, o, why, sizeof(why)) < 0) {
                json_object_put(o);
                http_error(rp, 500, "%s", why);
                goto out;
        }
        reply_json(rp, 200, o);
out:
        if (se && se->machine_id[0] && rp->status == 403)
                record_refusal(p, se, rp);
        if (se)
                explicit_bzero(se, sizeof(*se));
        free(se);
        json_object_put(body);
}

/* Proof of possession: the credential is good only with a signature by E
 * over "ember-v1-pop" NUL credential NUL time, made within POP_SKEW_S of
 * now. Returns the machine on success; refusals name the check. */
#define POP_LABEL "ember-v1-pop"
#define POP_SKEW_S 120

static int check_credential(struct protocol *p, const char *cred, const uint8_t *e_pub, size_t e_len, int64_t t,
                            const uint8_t *sig, size_t sig_len, struct machine *m, char *image, size_t imagelen,
                            char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        int64_t now = (int64_t)time(NULL);
        const char *dot = strchr(cred, '.');
        uint8_t payload[512], mac[64], want[32], eh[32];
        size_t plen = 0, mlen = 0;
        if (!dot || mbedtls_base64_decode(payload, sizeof(payload) - 1, &plen, (const unsigned char *)cred, (size_t)(dot - cred)) ||
            mbedtls_base64_decode(mac, sizeof(mac), &mlen, (const unsigned char *)dot + 1, strlen(dot + 1)) || mlen != 32)
                return reason_fail(&w, -EBADMSG, "credential is malformed");
        payload[plen] = '\0';
        json_object *o = json_tokener_parse((const char *)payload), *v;
        const char *mid = NULL, *img = NULL, *esha = NULL;
        int64_t expires = 0;
        if (o && json_object_object_get_ex(o, "machine", &v))
                mid = json_object_get_string(v);
        if (o && json_object_object_get_ex(o, "image", &v))
                img = json_object_get_string(v);
        if (o && json_object_object_get_ex(o, "e_sha256", &v))
                esha = json_object_get_string(v);
        if (o && json_object_object_get_ex(o, "expires", &v))
                expires = json_object_get_int64(v);
        int r = 0;
        if (!mid || !img || !esha || !expires)
                r = reason_fail(&w, -EBADMSG, "credential is malformed");
        else if (p->store->ops->machine_get(p->store, mid, m) < 0)
                r = reason_fail(&w, -EPERM, "credential names an unknown machine");
        if (r == 0) {
                mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), m->secret, sizeof(m->secret), payload, plen, want);
                unsigned diff = 0;
                for (size_t i = 0; i < 32; i++)
                        diff |= want[i] ^ mac[i];
                char eh_hex[65];
                mbedtls_sha256_ret(e_pub, e_len, eh, 0);
                for (int i = 0; i < 32; i++)
                        snprintf(eh_hex + 2 * i, 3, "%02x", eh[i]);
                if (diff)
                        r = reason_fail(&w, -EPERM, "credential MAC does not verify (forged or altered)");
                else if (m->state != MACHINE_ENROLLED)
                        r = reason_fail(&w, -EPERM, "machine %s is %s", m->id, machine_state_name(m->state));
                else if (expires <= now)
                        r = reason_fail(&w, -EPERM, "credential expired");
                else if (!streq(esha, eh_hex))
                        r = reason_fail(&w, -EPERM, "credential is bound to another key than the one presented");
                else if (t < now - POP_SKEW_S || t > now + POP_SKEW_S)
                        r = reason_fail(&w, -EPERM, "proof of possession is not fresh (time %lld, server %lld)",
                                        (long long)t, (long long)now);
                else
                        snprintf(image, imagelen, "%s", img);
        }
        json_object_put(o);
        if (r < 0)
                return r;
        /* the signature by E */
        mbedtls_pk_context pk;
        uint8_t h[32];
        char tbuf[24];
        mbedtls_sha256_context c;
        snprintf(tbuf, sizeof(tbuf), "%lld", (long long)t);
        mbedtls_sha256_init(&c);
        mbedtls_sha256_starts_ret(&c, 0);
        mbedtls_sha256_update_ret(&c, (const unsigned char *)POP_LABEL, sizeof(POP_LABEL)); /* with its NUL */
        mbedtls_sha256_update_ret(&c, (const unsigned char *)cred, strlen(cred) + 1);
        mbedtls_sha256_update_ret(&c, (const unsigned char *)tbuf, strlen(tbuf));
        mbedtls_sha256_finish_ret(&c, h);
        mbedtls_sha256_free(&c);
        mbedtls_pk_init(&pk);
        if (mbedtls_pk_parse_public_key(&pk, e_pub, e_len) != 0)
                r = reason_fail(&w, -EBADMSG, "e_pub is not a public key (DER SubjectPublicKeyInfo)");
        else if (!sig_len || mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, h, sizeof(h), sig, sig_len) != 0)
                r = reason_fail(&w, -EPERM, "proof of possession: the signature by E does not verify");
        mbedtls_pk_free(&pk);
        return r;
}

/* A request that must prove possession of E: {credential, e_pub, time,
 * signature}. 0 with the machine and its image, or the reply is made
 * (400/401) and -1 returned. */
static int pop_request(struct protocol *p, const struct http_request *rq, struct http_reply *rp, struct machine *m,
                       char image[STORE_ID_LEN])
{
        json_object *body = parse_body(rq, rp), *tv;
        _cleanup_free_ uint8_t *e_pub = NULL, *sig = NULL;
        size_t e_len, sig_len = 0;
        char why[300];
        int r = -1;
        if (!body)
                return -1;
        const char *cred = str_field(body, "credential");
        int64_t t = json_object_object_get_ex(body, "time", &tv) && json_object_is_type(tv, json_type_int)
                            ? json_object_get_int64(tv)
                            : 0;
        if (!cred || strlen(cred) > 2048) {
                http_error(rp, 400, "missing string field \"credential\"");
        } else if (b64_field(body, "e_pub", 1024, &e_pub, &e_len, rp) < 0) {
        } else if (!str_field(body, "signature")) {
                refuse(p, rp, 401, NULL, "proof of possession missing: sign with E");
        } else if (b64_field(body, "signature", 512, &sig, &sig_len, rp) < 0) {
        } else if (check_credential(p, cred, e_pub, e_len, t, sig, sig_len, m, image, STORE_ID_LEN, why, sizeof(why)) < 0) {
                refuse(p, rp, 401, NULL, "%s", why);
        } else {
                r = 0;
        }
        json_object_put(body);
        return r;
}

static void handle_whoami(struct protocol *p, const struct http_request *rq, struct http_reply *rp)
{
        char image[STORE_ID_LEN] = "";
        struct machine m;
        if (pop_request(p, rq, rp, &m, image) < 0)
                return;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "machine", json_object_new_string(m.id));
        json_object_object_add(o, "image", json_object_new_string(image));
        reply_json(rp, 200, o);
}

/* The sealed overlay assigned to the machine, when this server serves it:
 * only to a holder of a live credential and of its E. The blob is
 * encrypted and signed, so this only keeps it from strangers. */
static void handle_overlay(struct protocol *p, const struct http_request *rq, struct http_reply *rp)
{
        char image[STORE_ID_LEN] = "", oid[STORE_ID_LEN];
        struct machine m;
        struct overlay_rec rec;
        struct stat st;
        if (pop_request(p, rq, rp, &m, image) < 0)
                return;
        int r = p->store->ops->overlay_for(p->store, m.id, oid);
        if (r == 0)
                r = p->store->ops->overlay_current(p->store, oid, &rec);
        if (r == -ENOENT) {
                refuse(p, rp, 404, m.id, "no overlay is assigned to machine %s", m.id);
                return;
        }
        if (r < 0) {
                http_error(rp, 500, "reading the overlay assignment failed");
                return;
        }
        explicit_bzero(rec.key, sizeof(rec.key));
        if (!rec.path[0]) {
                refuse(p, rp, 404, m.id, "overlay %s serial %llu is not served here: fetch it from %s", rec.id,
                       (unsigned long long)rec.serial, rec.url);
                return;
        }
        int fd = open(rec.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size != rec.size) {
                if (fd >= 0)
                        close(fd);
                fprintf(stderr, "ember-attestd: overlay %s serial %llu: %s is missing or not %llu bytes\n", rec.id,
                        (unsigned long long)rec.serial, rec.path, (unsigned long long)rec.size);
                http_error(rp, 500, "overlay %s serial %llu is not available", rec.id, (unsigned long long)rec.serial);
                return;
        }
        char detail[160];
        snprintf(detail, sizeof(detail), "overlay %s serial %llu, %llu bytes", rec.id, (unsigned long long)rec.serial,
                 (unsigned long long)rec.size);
        (void)p->store->ops->audit(p->store, (int64_t)time(NULL), "server", "overlay.fetch", m.id, detail);
        rp->status = 200;
        rp->file_fd = fd;
        rp->file_size = rec.size;
}

/* A boot's outcome, from a holder of a live credential and of its E: the
 * proof is checked first, exactly as for /v1/overlay, then the body is
 * parsed again, strictly, as a report (report.h). */
static void handle_report(struct protocol *p, const struct http_request *rq, struct http_reply *rp)
{
        char image[STORE_ID_LEN] = "", why[300] = "", detail[200];
        struct machine m;
        if (rq->body_len > REPORT_BODY_MAX)
                return http_error(rp, 413, "a boot report is at most %d bytes", REPORT_BODY_MAX);
        if (pop_request(p, rq, rp, &m, image) < 0)
                return;
        struct report_rec *rec = calloc(1, sizeof(*rec));
        int r = rec ? report_parse((const char *)rq->body, rq->body_len, rec, why, sizeof(why)) : -ENOMEM;
        if (r == -ENOMEM) {
                http_error(rp, 500, "out of memory");
        } else if (r < 0) {
                fprintf(stderr, "ember-attestd: boot report from machine %s refused: %s\n", m.id, why);
                http_error(rp, 400, "boot report: %s", why);
        } else {
                snprintf(rec->machine_id, sizeof(rec->machine_id), "%s", m.id);
                rec->received = (int64_t)time(NULL);
                if (p->store->ops->report_put(p->store, rec) < 0) {
                        http_error(rp, 500, "storing the boot report failed");
                } else {
                        snprintf(detail, sizeof(detail), "boot %s %s%s%s", rec->boot_id, rec->outcome,
                                 rec->failed_stage[0] ? " at " : "", rec->failed_stage);
                        (void)p->store->ops->audit(p->store, rec->received, "server", "boot.report", m.id, detail);
                        reply_json(rp, 200, json_object_new_object());
                }
        }
        free(rec);
}

bool protocol_handle(struct protocol *p, const struct http_request *rq, struct http_reply *rp)
{
        if (streq(rq->path, "/v1/report")) {
                if (!streq(rq->method, "POST"))
                        return http_error(rp, 405, "%s takes POST", rq->path), true;
                handle_report(p, rq, rp);
                return true;
        }
        bool challenge = streq(rq->path, "/v1/attest/challenge"), evidence = streq(rq->path, "/v1/attest/evidence");
        if (streq(rq->path, "/v1/whoami") || streq(rq->path, "/v1/overlay")) {
                if (!streq(rq->method, "POST"))
                        return http_error(rp, 405, "%s takes POST", rq->path), true;
                if (streq(rq->path, "/v1/whoami"))
                        handle_whoami(p, rq, rp);
                else
                        handle_overlay(p, rq, rp);
                return true;
        }
        if (!challenge && !evidence)
                return false;
        if (!streq(rq->method, "POST"))
                return http_error(rp, 405, "%s takes POST", rq->path), true;
        (void)p->store->ops->session_gc(p->store, (int64_t)time(NULL));
        if (challenge)
                handle_challenge(p, rq, rp);
        else
                handle_evidence(p, rq, rp);
        return true;
}
