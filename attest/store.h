/* SPDX-License-Identifier: Apache-2.0 */
/* The verifier's state: machines, approved images, attestation sessions,
 * the CAs trusted for EK certificates and the audit log. One interface (struct store_ops); SQLite is the
 * backend today (store_sqlite.c), one file, WAL with synchronous=FULL so a
 * `kill -9` loses nothing that was acknowledged. Every function returns 0
 * or a negative errno: -ENOENT (no such row), -EEXIST (a unique key is
 * taken), -EIO (the database failed; the backend logged why). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_ID_LEN 37       /* a UUID and its NUL */
#define STORE_HASH_LEN 32     /* SHA-256 */
#define STORE_SECRET_LEN 32
#define STORE_NOTE_MAX 256

enum machine_state {
        MACHINE_PENDING,  /* attested with an unknown EK: waits for the operator */
        MACHINE_ENROLLED, /* may boot */
        MACHINE_REJECTED, /* the operator said no to a pending one */
        MACHINE_REVOKED,  /* may never boot again */
        _MACHINE_STATE_MAX,
};
const char *machine_state_name(enum machine_state s);
int machine_state_from_name(const char *s);

struct machine {
        char id[STORE_ID_LEN];
        uint8_t ek_hash[STORE_HASH_LEN];    /* SHA-256 of the EK's TPM2B_PUBLIC */
        enum machine_state state;
        uint8_t secret[STORE_SECRET_LEN];   /* per-machine material (credential binding) */
        int64_t created, updated;           /* unix seconds */
        uint32_t reset_count, restart_count; /* the last quote's clockInfo, so they never go back */
        char note[STORE_NOTE_MAX];
};

struct image {
        char id[STORE_ID_LEN];
        char name[128];
        uint8_t digest[STORE_HASH_LEN]; /* SHA-256 of the canonical reference values */
        char *refvalues;                /* the document (refvalues.h), malloc'ed */
        unsigned approvals;
};

struct approval {
        char id[STORE_ID_LEN];
        char image_id[STORE_ID_LEN];
        int64_t created;
        char source[128]; /* "file NAME" or "evidence SESSION" */
};

#define STORE_PUB_MAX 1024 /* a marshalled TPM2B_PUBLIC */

struct session {
        char id[STORE_ID_LEN];
        char machine_id[STORE_ID_LEN];
        uint8_t ek_hash[STORE_HASH_LEN];
        uint8_t nonce[32];
        uint8_t secret[32];
        uint8_t ek_pub[STORE_PUB_MAX], ak_pub[STORE_PUB_MAX];
        size_t ek_pub_len, ak_pub_len;
        uint32_t pcr_mask;
        int64_t expires;
        bool used;
};

/* One verified attestation: what the node's event log replayed to, kept so
 * an operator can approve a first known-good boot from it. */
struct attestation {
        char session_id[STORE_ID_LEN];
        char machine_id[STORE_ID_LEN];
        int64_t time;
        char *pcrs_json; /* {"4":"hex",…} of the replayed SHA-256 values, malloc'ed */
        char verdict[256]; /* "ok image ID" or the refusal */
};

/* A CA certificate the operator trusts for EK certificates (ekcert.h): a
 * root, or an intermediate that completes a path to one. */
#define STORE_CA_ID_LEN 65 /* hex SHA-256 of the DER, and its NUL */

struct ek_ca {
        char id[STORE_CA_ID_LEN];
        char subject[256];
        int64_t not_after, added; /* unix seconds */
        const uint8_t *der;       /* borrowed: the caller's in ek_ca_add, valid during the callback in ek_ca_list */
        size_t der_len;
};

struct store;
/* A sealed overlay the server releases (docs/overlay-format.md): its
 * identity and digest from the signed header, and its data key. */
#define STORE_URL_MAX 512
struct overlay_rec {
        char id[STORE_ID_LEN];          /* the header's overlay id, as a UUID */
        uint64_t serial;
        uint8_t ct_sha256[STORE_HASH_LEN];
        uint64_t size;                  /* bytes of the whole file */
        uint8_t key[32];                /* the data key: released only wrapped to an attested node's E */
        char url[STORE_URL_MAX];        /* where nodes fetch it; "" when this server serves it */
        char path[STORE_URL_MAX];       /* the file on this server's disk when it serves it */
        int64_t registered;
};

/* Where an overlay goes: "machine:<id>", "group:<name>" or "default". */
#define STORE_TARGET_MAX 160
#define STORE_GROUP_MAX 64

/* One boot's outcome (attest/report.h): as a node reported it over its
 * attested channel, or a refused attestation as the server saw it. Its
 * text is escaped before it is stored (printable ASCII only). A machine
 * keeps its newest STORE_REPORT_KEEP; one per (machine, boot_id). */
#define STORE_REPORT_KEEP 50
#define STORE_REPORT_STAGES 16
#define STORE_REPORT_NAME 16   /* a stage or result name and its NUL */
#define STORE_REPORT_TEXT 1201 /* 300 bytes as sent, each escaped to at most 4, and the NUL */

struct report_stage {
        char stage[STORE_REPORT_NAME];
        uint64_t ms;
        char result[STORE_REPORT_NAME];
};

struct report_rec {
        char machine_id[STORE_ID_LEN];
        char boot_id[STORE_ID_LEN];     /* the node's boot; a refusal's: its attestation session */
        int64_t received;               /* unix seconds, the server's clock */
        char outcome[8];                /* "up", "failed" or "refused" */
        char failed_stage[STORE_REPORT_NAME];
        char reason[STORE_REPORT_TEXT];
        char lkg[STORE_REPORT_NAME];    /* "committed", "unchanged", "blessed", "none", "failed"; "" unknown */
        char lkg_detail[STORE_REPORT_TEXT];
        bool lkg_boot;
        uint32_t consecutive_failures;
        struct report_stage timeline[STORE_REPORT_STAGES];
        size_t n_timeline;
};

typedef int (*overlay_cb)(const struct overlay_rec *o, void *ud);
typedef int (*assignment_cb)(const char *target, const char *overlay_id, void *ud);
typedef int (*machine_cb)(const struct machine *m, void *ud);
typedef int (*image_cb)(const struct image *img, void *ud);
typedef int (*ek_ca_cb)(const struct ek_ca *ca, void *ud);
typedef int (*report_cb)(const struct report_rec *r, void *ud);

struct store_ops {
        void (*close)(struct store *s);
        int (*machine_put)(struct store *s, const struct machine *m); /* insert, or update the row with its id */
        int (*machine_get)(struct store *s, const char *id, struct machine *ret);
        int (*machine_by_ek)(struct store *s, const uint8_t ek_hash[STORE_HASH_LEN], struct machine *ret);
        /* forgets the machine, but remembers that an operator deleted its EK
         * (ek_deleted), so nothing brings it back without an operator */
        int (*machine_delete)(struct store *s, const char *id);
        /* was a machine with this EK deleted? 0 (and its id) or -ENOENT */
        int (*ek_deleted)(struct store *s, const uint8_t ek_hash[STORE_HASH_LEN], char ret_machine_id[STORE_ID_LEN]);
        int (*machine_list)(struct store *s, machine_cb cb, void *ud);
        /* adds an approval; the image row is created on its first approval
         * (same digest = same image) */
        int (*approve)(struct store *s, const char *name, const uint8_t digest[STORE_HASH_LEN], const char *refvalues,
                       const char *source, int64_t now, struct approval *ret);
        /* removes one approval; the image goes with its last one */
        int (*unapprove)(struct store *s, const char *approval_id);
        int (*image_list)(struct store *s, image_cb cb, void *ud);
        int (*session_put)(struct store *s, const struct session *se);
        /* marks it used; -ENOENT unknown, -EALREADY used before, -ETIME expired */
        int (*session_take)(struct store *s, const char *id, int64_t now, struct session *ret);
        int (*session_gc)(struct store *s, int64_t now);
        int (*attestation_put)(struct store *s, const struct attestation *a);
        /* ret->pcrs_json is malloc'ed */
        int (*attestation_get)(struct store *s, const char *session_id, struct attestation *ret);
        /* -EEXIST when a CA with this id is trusted already */
        int (*ek_ca_add)(struct store *s, const struct ek_ca *ca);
        /* removes the CA whose id is id or begins with it: -ENOENT none,
         * -ENOTUNIQ several; ret_id is the full id of the one removed */
        int (*ek_ca_remove)(struct store *s, const char *id, char ret_id[STORE_CA_ID_LEN]);
        /* oldest first */
        int (*ek_ca_list)(struct store *s, ek_ca_cb cb, void *ud);
        /* registers one serial of an overlay: -EEXIST that serial is known,
         * -ESTALE a higher serial of that overlay is registered already */
        int (*overlay_put)(struct store *s, const struct overlay_rec *o);
        /* the highest registered serial of an overlay; -ENOENT none */
        int (*overlay_current)(struct store *s, const char *id, struct overlay_rec *ret);
        /* every serial, newest first within an overlay */
        int (*overlay_list)(struct store *s, overlay_cb cb, void *ud);
        /* ties target to an overlay (replacing what it had) */
        int (*assign)(struct store *s, const char *target, const char *overlay_id);
        int (*unassign)(struct store *s, const char *target);
        int (*assignment_list)(struct store *s, assignment_cb cb, void *ud);
        /* the overlay for a machine: its own, else its group's, else the
         * default; -ENOENT none */
        int (*overlay_for)(struct store *s, const char *machine_id, char ret_overlay_id[STORE_ID_LEN]);
        /* "" leaves every group */
        int (*machine_set_group)(struct store *s, const char *machine_id, const char *group);
        int (*machine_group)(struct store *s, const char *machine_id, char ret[STORE_GROUP_MAX]);
        int (*audit)(struct store *s, int64_t now, const char *actor, const char *action, const char *subject,
                     const char *detail);
        /* the audit log, oldest first, one line each, into cb */
        int (*audit_list)(struct store *s, int (*cb)(const char *line, void *ud), void *ud);
        /* stores a boot report, replacing the machine's one with the same
         * boot_id, and drops all but the machine's newest STORE_REPORT_KEEP;
         * -ENOENT no such machine */
        int (*report_put)(struct store *s, const struct report_rec *r);
        /* a machine's reports, newest first, at most limit (0: all) */
        int (*report_list)(struct store *s, const char *machine_id, unsigned limit, report_cb cb, void *ud);
        /* a machine's newest report; -ENOENT none */
        int (*report_latest)(struct store *s, const char *machine_id, struct report_rec *ret);
};

struct store {
        const struct store_ops *ops;
};

int store_open_sqlite(const char *path, struct store **ret);

static inline void store_close(struct store *s)
{
        if (s)
                s->ops->close(s);
}

void image_free(struct image *img);
/* A random (version 4) UUID. */
int uuid_random(char out[STORE_ID_LEN]);
