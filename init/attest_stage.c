/* SPDX-License-Identifier: Apache-2.0 */
#include "attest_stage.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <mbedtls/pk.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tcti_device.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "pins.h"
#include "reason.h"
#include "util.h"

#define PINS_FILE_MAX 4096
#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 16000

bool attest_error_retryable(int err)
{
        return err == -EHOSTUNREACH || err == -ECONNREFUSED || err == -ETIMEDOUT || err == -ECONNABORTED ||
               err == -ENETUNREACH;
}

static int result_json(const struct attest_result *r, char **ret)
{
        json_object *o = json_object_new_object(), *steps = json_object_new_object();
        if (!o || !steps) {
                json_object_put(o);
                json_object_put(steps);
                return -ENOMEM;
        }
        json_object_object_add(o, "machine", json_object_new_string(r->machine));
        json_object_object_add(o, "image", json_object_new_string(r->image));
        json_object_object_add(o, "image_name", json_object_new_string(r->image_name));
        json_object_object_add(o, "expires", json_object_new_int64(r->expires));
        json_object_object_add(o, "ek", json_object_new_string(attest_ek_to_string(r->ek_type)));
        json_object_object_add(o, "ek_cert_bytes", json_object_new_int64((int64_t)r->ek_cert_len));
        for (int s = 0; s < _ATTEST_STEP_MAX; s++)
                json_object_object_add(steps, attest_step_name(s), json_object_new_int64(r->step_ms[s]));
        json_object_object_add(o, "step_ms", steps);
        json_object_object_add(o, "total_ms", json_object_new_int64(r->total_ms));
        if (r->overlay.present) {
                json_object *ov = json_object_new_object();
                char hex[65];
                for (int i = 0; i < 32; i++)
                        snprintf(hex + 2 * i, 3, "%02x", r->overlay.sha256[i]);
                json_object_object_add(ov, "id", json_object_new_string(r->overlay.id));
                json_object_object_add(ov, "serial", json_object_new_int64((int64_t)r->overlay.serial));
                json_object_object_add(ov, "sha256", json_object_new_string(hex));
                json_object_object_add(ov, "size", json_object_new_int64((int64_t)r->overlay.size));
                json_object_object_add(ov, "url", json_object_new_string(r->overlay.url));
                json_object_object_add(o, "overlay", ov);
        }
        const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        *ret = t ? strdup(t) : NULL;
        json_object_put(o);
        return *ret ? 0 : -ENOMEM;
}

static int write_in(const char *dir, const char *name, const void *data, size_t len, mode_t mode)
{
        char path[512];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
                return -ENAMETOOLONG;
        return write_file_atomic(path, data, len, mode);
}

int attest_state_write(const char *dir, const struct attest_result *r)
{
        unsigned char pem[1024];
        _cleanup_free_ char *json = NULL;
        if (!r->credential)
                return -EINVAL;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return negative_errno();
        if (chmod(dir, 0700) < 0)
                return negative_errno();
        if (mbedtls_pk_write_key_pem((mbedtls_pk_context *)&r->e, pem, sizeof(pem)) != 0)
                return -EINVAL;
        int k = write_in(dir, "e.key", pem, strlen((char *)pem), 0600);
        explicit_bzero(pem, sizeof(pem));
        if (k == 0)
                k = write_in(dir, "credential", r->credential, strlen(r->credential), 0600);
        if (k == 0)
                k = result_json(r, &json);
        if (k == 0)
                k = write_in(dir, "result.json", json, strlen(json), 0644);
        /* the overlay the reply named, and its data key (secret) */
        char ovpath[512];
        snprintf(ovpath, sizeof(ovpath), "%s/overlay.key", dir);
        if (k == 0 && r->overlay.present)
                k = write_in(dir, "overlay.key", r->overlay.key, sizeof(r->overlay.key), 0600);
        else if (k == 0 && unlink(ovpath) < 0 && errno != ENOENT)
                k = negative_errno();
        return k;
}

static unsigned long long mono_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

static void warn_line(void *userdata, const char *line)
{
        log_warn("attest", "%s", line);
}

/* The TPM through the kernel's resource manager. */
static int tpm_open(const char *dev, TSS2_TCTI_CONTEXT **tcti_ret, ESYS_CONTEXT **esys_ret, const struct reason *w)
{
        size_t size = 0;
        if (access(dev, R_OK | W_OK) < 0)
                return reason_fail(w, -ENODEV, "no TPM 2.0: %s: %s (is a TPM enabled in the firmware?)", dev,
                                   strerror(errno));
        TSS2_RC rc = Tss2_Tcti_Device_Init(NULL, &size, dev);
        if (rc != TSS2_RC_SUCCESS)
                return reason_fail(w, -EIO, "opening the TPM %s: Tss2_Tcti_Device_Init failed: %s", dev,
                                   Tss2_RC_Decode(rc));
        TSS2_TCTI_CONTEXT *tcti = calloc(1, size);
        if (!tcti)
                return reason_fail(w, -ENOMEM, "opening the TPM: out of memory");
        rc = Tss2_Tcti_Device_Init(tcti, &size, dev);
        if (rc == TSS2_RC_SUCCESS) {
                rc = Esys_Initialize(esys_ret, tcti, NULL);
                if (rc == TSS2_RC_SUCCESS) {
                        *tcti_ret = tcti;
                        return 0;
                }
                Tss2_Tcti_Finalize(tcti);
        }
        free(tcti);
        return reason_fail(w, -EIO, "opening the TPM %s: %s", dev, Tss2_RC_Decode(rc));
}

/* What the image says about the server: its pins and/or its CA. */
int attest_server_trust(const char *pins_path, const char *ca_path, char **pins, const char **ca,
                        const struct reason *w)
{
        pins_path = pins_path ? pins_path : ATTEST_PINS_PATH;
        ca_path = ca_path ? ca_path : ATTEST_CA_PATH;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        char why[160];

        int k = read_file_all(pins_path, PINS_FILE_MAX, &text, &len);
        if (k == 0) {
                k = attest_pins_parse(text, len, pins, why, sizeof(why));
                if (k < 0)
                        return reason_fail(w, k, "%s: %s", pins_path, why);
        } else if (k != -ENOENT) {
                return reason_fail(w, k, "reading %s: %s", pins_path, strerror(-k));
        }
        *ca = access(ca_path, R_OK) == 0 ? ca_path : NULL;
        if (!*pins && !*ca)
                return reason_fail(w, -ENOKEY, "the image names no attestation server key: neither %s nor %s "
                                   "(add them with `emberctl image site`)", pins_path, ca_path);
        return 0;
}

int attest_stage_run(const struct attest_stage_opts *o, char *detail, size_t len)
{
        const struct reason w = { detail, len };
        _cleanup_free_ char *pins = NULL;
        const char *ca = NULL;
        TSS2_TCTI_CONTEXT *tcti = NULL;
        ESYS_CONTEXT *esys = NULL;
        struct attest_result res = { 0 };

        if (!o->url)
                return reason_fail(&w, -EINVAL, "ember.attest_url is not set: no attestation server to ask");
        int k = attest_server_trust(o->pins_path, o->ca_path, &pins, &ca, &w);
        if (k < 0)
                return k;
        log_info("attest", "server %s, authenticated by %s%s%s", o->url, pins ? "its key's pin" : "",
                 pins && ca ? " and " : "", ca ? "its CA" : "");
        k = tpm_open(o->tpm_device ? o->tpm_device : ATTEST_TPM_DEVICE, &tcti, &esys, &w);
        if (k < 0)
                return k;

        struct attest_client_config cfg = { .url = o->url, .pins = pins, .ca_file = ca, .ek = o->ek, .proxy = o->proxy,
                                            .warn = warn_line };
        unsigned delay = RETRY_FIRST_MS;
        for (unsigned attempt = 1;; attempt++) {
                k = attest_run(esys, &cfg, &res, detail, len);
                if (k == 0 || !attest_error_retryable(k))
                        break;
                unsigned long long now = mono_now_ms();
                uint32_t jitter = 0;
                (void)getrandom_full(&jitter, sizeof(jitter));
                unsigned wait = delay / 2 + jitter % (delay / 2 + 1);
                if (o->deadline_ms && now + wait + 5000 >= o->deadline_ms)
                        break;
                log_warn("attest", "attempt %u: %s; trying again in %u.%u s", attempt, detail, wait / 1000,
                         wait % 1000 / 100);
                struct timespec ts = { wait / 1000, (long)(wait % 1000) * 1000000L };
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
                delay = delay * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : delay * 2;
        }
        Esys_Finalize(&esys);
        Tss2_Tcti_Finalize(tcti);
        free(tcti);
        if (k < 0)
                return k;

        char steps[400];
        size_t off = 0;
        for (int s = 0; s < _ATTEST_STEP_MAX && off < sizeof(steps); s++)
                off += (size_t)snprintf(steps + off, sizeof(steps) - off, "%s%s %u ms", s ? ", " : "",
                                        attest_step_name(s), res.step_ms[s]);
        log_info("attest", "%s EK%s; %s", attest_ek_to_string(res.ek_type),
                 res.ek_cert_len ? " (its certificate sent)" : "", steps);
        k = attest_state_write(o->state_dir ? o->state_dir : ATTEST_STATE_DIR, &res);
        if (k < 0) {
                attest_result_free(&res);
                return reason_fail(&w, k, "keeping the credential in %s failed: %s",
                                   o->state_dir ? o->state_dir : ATTEST_STATE_DIR, strerror(-k));
        }
        log_info("attest", "credential and E kept in %s/ (0600)", o->state_dir ? o->state_dir : ATTEST_STATE_DIR);
        if (res.overlay.present)
                log_info("attest", "overlay %s serial %llu (%llu bytes) assigned%s%s; its key unwrapped with E",
                         res.overlay.id, (unsigned long long)res.overlay.serial, (unsigned long long)res.overlay.size,
                         res.overlay.url[0] ? " at " : ", served by the attestation server",
                         res.overlay.url[0] ? res.overlay.url : "");
        else
                log_warn("attest", "the server assigned no overlay to this machine");
        char until[32] = "?";
        time_t t = (time_t)res.expires;
        struct tm tm;
        if (gmtime_r(&t, &tm))
                strftime(until, sizeof(until), "%H:%M:%SZ", &tm);
        snprintf(detail, len, "machine %s, image %s (%s), credential until %s", res.machine,
                 res.image_name[0] ? res.image_name : "unnamed", res.image, until);
        attest_result_free(&res);
        return 0;
}
