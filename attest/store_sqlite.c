/* SPDX-License-Identifier: Apache-2.0 */
/* The SQLite backend of store.h. Statements are prepared per call (the
 * server's rate is bounded by TPM quotes, not by this), every write is one
 * transaction, and the database runs in WAL mode with synchronous=FULL:
 * when a call returns 0 its change survives a crash or `kill -9`. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <unistd.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

/* 2 added ek_cas and deleted_eks; both are created when missing, so a
 * version 1 database needs nothing else. 4 added reports, likewise. */
#define SCHEMA_VERSION "4"

/* The server logs to stderr (its service manager keeps it). */
#define log_err(who, ...) (fprintf(stderr, who ": " __VA_ARGS__), fputc('\n', stderr))

struct sqlite_store {
        struct store base;
        sqlite3 *db;
        /* Every operation holds it (see LOCKED below). */
        pthread_mutex_t lock;
        int64_t last_gc; /* the second sessions were last collected */
};

static const char *const state_names[_MACHINE_STATE_MAX] = {
        [MACHINE_PENDING] = "pending",
        [MACHINE_ENROLLED] = "enrolled",
        [MACHINE_REJECTED] = "rejected",
        [MACHINE_REVOKED] = "revoked",
};

const char *machine_state_name(enum machine_state s)
{
        return (unsigned)s < _MACHINE_STATE_MAX ? state_names[s] : "?";
}

int machine_state_from_name(const char *s)
{
        for (int i = 0; i < _MACHINE_STATE_MAX; i++)
                if (s && streq(s, state_names[i]))
                        return i;
        return -EINVAL;
}

int uuid_random(char out[STORE_ID_LEN])
{
        uint8_t b[16];
        int r = getrandom_full(b, sizeof(b));
        if (r < 0)
                return r;
        b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
        b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        snprintf(out, STORE_ID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
        return 0;
}

void image_free(struct image *img)
{
        if (img) {
                free(img->refvalues);
                img->refvalues = NULL;
        }
}

static sqlite3 *db_of(struct store *s)
{
        return ((struct sqlite_store *)s)->db;
}

/* One place turns SQLite's codes into ours and logs its own text. */
static int sql_err(sqlite3 *db, int rc, const char *what)
{
        if (rc == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_CONSTRAINT)
                return -EEXIST;
        log_err("store", "%s: %s (SQLite %d)", what, sqlite3_errmsg(db), rc);
        return -EIO;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
        int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
        return rc == SQLITE_OK ? 0 : sql_err(db, rc, "preparing a statement");
}

static int exec(sqlite3 *db, const char *sql)
{
        char *msg = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
                log_err("store", "%s (SQLite %d)", msg ? msg : sqlite3_errstr(rc), rc);
                sqlite3_free(msg);
                return rc == SQLITE_CONSTRAINT ? -EEXIST : -EIO;
        }
        return 0;
}

/* Runs a prepared write to completion and finalizes it. */
static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : sql_err(db, rc, what);
}

/* Copies a blob column (at most len bytes); returns how many. */
static size_t blob_out(sqlite3_stmt *st, int col, void *dst, size_t len)
{
        const void *p = sqlite3_column_blob(st, col);
        size_t n = (size_t)sqlite3_column_bytes(st, col);
        memset(dst, 0, len);
        if (!p)
                return 0;
        if (n > len)
                n = len;
        memcpy(dst, p, n);
        return n;
}

static void text_out(sqlite3_stmt *st, int col, char *dst, size_t len)
{
        const unsigned char *t = sqlite3_column_text(st, col);
        snprintf(dst, len, "%s", t ? (const char *)t : "");
}

/* ---- machines ---------------------------------------------------------- */

#define MACHINE_COLS "id, ek_hash, state, secret, created, updated, reset_count, restart_count, note"

static void machine_row(sqlite3_stmt *st, struct machine *m)
{
        *m = (struct machine){ 0 };
        text_out(st, 0, m->id, sizeof(m->id));
        blob_out(st, 1, m->ek_hash, sizeof(m->ek_hash));
        m->state = (enum machine_state)sqlite3_column_int(st, 2);
        blob_out(st, 3, m->secret, sizeof(m->secret));
        m->created = sqlite3_column_int64(st, 4);
        m->updated = sqlite3_column_int64(st, 5);
        m->reset_count = (uint32_t)sqlite3_column_int64(st, 6);
        m->restart_count = (uint32_t)sqlite3_column_int64(st, 7);
        text_out(st, 8, m->note, sizeof(m->note));
}

static int sq_machine_put(struct store *s, const struct machine *m)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "INSERT INTO machines (" MACHINE_COLS ") VALUES (?,?,?,?,?,?,?,?,?) "
                        "ON CONFLICT(id) DO UPDATE SET ek_hash = excluded.ek_hash, state = excluded.state, "
                        "secret = excluded.secret, updated = excluded.updated, reset_count = excluded.reset_count, "
                        "restart_count = excluded.restart_count, note = excluded.note", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, m->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 2, m->ek_hash, sizeof(m->ek_hash), SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 3, (int)m->state);
        sqlite3_bind_blob(st, 4, m->secret, sizeof(m->secret), SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, m->created);
        sqlite3_bind_int64(st, 6, m->updated);
        sqlite3_bind_int64(st, 7, m->reset_count);
        sqlite3_bind_int64(st, 8, m->restart_count);
        sqlite3_bind_text(st, 9, m->note, -1, SQLITE_TRANSIENT);
        return step_done(db, st, "storing a machine");
}

static int machine_query(struct store *s, const char *where, const void *key, int keylen, struct machine *ret)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        char sql[160];
        snprintf(sql, sizeof(sql), "SELECT " MACHINE_COLS " FROM machines WHERE %s = ?", where);
        int r = prepare(db, sql, &st);
        if (r < 0)
                return r;
        if (keylen < 0)
                sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        else
                sqlite3_bind_blob(st, 1, key, keylen, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                machine_row(st, ret);
        sqlite3_finalize(st);
        return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sql_err(db, rc, "reading a machine");
}

static int sq_machine_get(struct store *s, const char *id, struct machine *ret)
{
        return machine_query(s, "id", id, -1, ret);
}

static int sq_machine_by_ek(struct store *s, const uint8_t ek_hash[STORE_HASH_LEN], struct machine *ret)
{
        return machine_query(s, "ek_hash", ek_hash, STORE_HASH_LEN, ret);
}

/* The EK is remembered as deleted in the same transaction, so a certificate
 * that chains to a trusted CA never enrols it again on its own. */
static int sq_machine_delete(struct store *s, const char *id)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = exec(db, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        if ((r = prepare(db, "INSERT OR REPLACE INTO deleted_eks (ek_hash, machine_id, time) "
                         "SELECT ek_hash, id, CAST(strftime('%s', 'now') AS INTEGER) FROM machines WHERE id = ?", &st)) < 0)
                goto fail;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        if ((r = step_done(db, st, "remembering a deleted EK")) < 0 ||
            (r = prepare(db, "DELETE FROM machines WHERE id = ?", &st)) < 0)
                goto fail;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        if ((r = step_done(db, st, "deleting a machine")) < 0)
                goto fail;
        if (sqlite3_changes(db) == 0) {
                r = -ENOENT;
                goto fail;
        }
        return exec(db, "COMMIT");
fail:
        (void)exec(db, "ROLLBACK");
        return r;
}

static int sq_ek_deleted(struct store *s, const uint8_t ek_hash[STORE_HASH_LEN], char ret_machine_id[STORE_ID_LEN])
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "SELECT machine_id FROM deleted_eks WHERE ek_hash = ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_blob(st, 1, ek_hash, STORE_HASH_LEN, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                text_out(st, 0, ret_machine_id, STORE_ID_LEN);
        sqlite3_finalize(st);
        return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sql_err(db, rc, "reading deleted EKs");
}

static int sq_machine_list(struct store *s, machine_cb cb, void *ud)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "SELECT " MACHINE_COLS " FROM machines ORDER BY created, id", &st), rc;
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct machine m;
                machine_row(st, &m);
                if ((r = cb(&m, ud)) < 0)
                        break;
        }
        sqlite3_finalize(st);
        return r < 0 ? r : rc == SQLITE_DONE ? 0 : sql_err(db, rc, "listing machines");
}

/* ---- images and approvals --------------------------------------------- */

static int sq_approve(struct store *s, const char *name, const uint8_t digest[STORE_HASH_LEN], const char *refvalues,
                      const char *source, int64_t now, struct approval *ret)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        struct approval a = { .created = now };
        char image_id[STORE_ID_LEN];
        int r = exec(db, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = prepare(db, "SELECT id FROM images WHERE digest = ?", &st);
        if (r < 0)
                goto fail;
        sqlite3_bind_blob(st, 1, digest, STORE_HASH_LEN, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                text_out(st, 0, image_id, sizeof(image_id));
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
                r = sql_err(db, rc, "looking up an image");
                goto fail;
        }
        if (rc == SQLITE_DONE) {
                if ((r = uuid_random(image_id)) < 0 ||
                    (r = prepare(db, "INSERT INTO images (id, name, digest, refvalues) VALUES (?,?,?,?)", &st)) < 0)
                        goto fail;
                sqlite3_bind_text(st, 1, image_id, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
                sqlite3_bind_blob(st, 3, digest, STORE_HASH_LEN, SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 4, refvalues, -1, SQLITE_TRANSIENT);
                if ((r = step_done(db, st, "adding an image")) < 0)
                        goto fail;
        }
        if ((r = uuid_random(a.id)) < 0 ||
            (r = prepare(db, "INSERT INTO approvals (id, image_id, created, source) VALUES (?,?,?,?)", &st)) < 0)
                goto fail;
        snprintf(a.image_id, sizeof(a.image_id), "%s", image_id);
        snprintf(a.source, sizeof(a.source), "%s", source);
        sqlite3_bind_text(st, 1, a.id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, a.image_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_text(st, 4, a.source, -1, SQLITE_TRANSIENT);
        if ((r = step_done(db, st, "adding an approval")) < 0 || (r = exec(db, "COMMIT")) < 0)
                goto fail;
        if (ret)
                *ret = a;
        return 0;
fail:
        (void)exec(db, "ROLLBACK");
        return r;
}

static int sq_unapprove(struct store *s, const char *approval_id)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = exec(db, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        if ((r = prepare(db, "DELETE FROM approvals WHERE id = ?", &st)) < 0)
                goto fail;
        sqlite3_bind_text(st, 1, approval_id, -1, SQLITE_TRANSIENT);
        if ((r = step_done(db, st, "removing an approval")) < 0)
                goto fail;
        if (sqlite3_changes(db) == 0) {
                r = -ENOENT;
                goto fail;
        }
        /* an image lives as long as one approval names it */
        if ((r = exec(db, "DELETE FROM images WHERE id NOT IN (SELECT image_id FROM approvals)")) < 0 ||
            (r = exec(db, "COMMIT")) < 0)
                goto fail;
        return 0;
fail:
        (void)exec(db, "ROLLBACK");
        return r;
}

static int sq_image_list(struct store *s, image_cb cb, void *ud)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db,
                        "SELECT i.id, i.name, i.digest, i.refvalues, COUNT(a.id) FROM images i "
                        "JOIN approvals a ON a.image_id = i.id GROUP BY i.id ORDER BY i.name, i.id",
                        &st),
            rc;
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct image img = { .approvals = (unsigned)sqlite3_column_int(st, 4) };
                text_out(st, 0, img.id, sizeof(img.id));
                text_out(st, 1, img.name, sizeof(img.name));
                blob_out(st, 2, img.digest, sizeof(img.digest));
                const unsigned char *t = sqlite3_column_text(st, 3);
                img.refvalues = strdup(t ? (const char *)t : "");
                if (!img.refvalues) {
                        r = -ENOMEM;
                        break;
                }
                r = cb(&img, ud);
                image_free(&img);
                if (r < 0)
                        break;
        }
        sqlite3_finalize(st);
        return r < 0 ? r : rc == SQLITE_DONE ? 0 : sql_err(db, rc, "listing images");
}

/* ---- sessions --------------------------------------------------------- */

static int sq_session_put(struct store *s, const struct session *se)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db,
                        "INSERT INTO sessions (id, machine_id, ek_hash, nonce, secret, ek_pub, ak_pub, pcr_mask, expires, used) "
                        "VALUES (?,?,?,?,?,?,?,?,?,0)",
                        &st);
        if (r < 0)
                return r;
        if (se->ek_pub_len > STORE_PUB_MAX || se->ak_pub_len > STORE_PUB_MAX) {
                sqlite3_finalize(st);
                return -E2BIG;
        }
        sqlite3_bind_text(st, 1, se->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, se->machine_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 3, se->ek_hash, sizeof(se->ek_hash), SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 4, se->nonce, sizeof(se->nonce), SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 5, se->secret, sizeof(se->secret), SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 6, se->ek_pub, (int)se->ek_pub_len, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 7, se->ak_pub, (int)se->ak_pub_len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 8, se->pcr_mask);
        sqlite3_bind_int64(st, 9, se->expires);
        return step_done(db, st, "storing a session");
}

static int sq_session_take(struct store *s, const char *id, int64_t now, struct session *ret)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        /* two public areas make it large: not on the stack */
        struct session *se = calloc(1, sizeof(*se));
        if (!se)
                return -ENOMEM;
        int r = exec(db, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        if ((r = prepare(db, "SELECT id, machine_id, ek_hash, nonce, secret, ek_pub, ak_pub, pcr_mask, expires, used FROM sessions WHERE id = ?",
                         &st)) < 0)
                goto fail;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                text_out(st, 0, se->id, sizeof(se->id));
                text_out(st, 1, se->machine_id, sizeof(se->machine_id));
                blob_out(st, 2, se->ek_hash, sizeof(se->ek_hash));
                blob_out(st, 3, se->nonce, sizeof(se->nonce));
                blob_out(st, 4, se->secret, sizeof(se->secret));
                se->ek_pub_len = blob_out(st, 5, se->ek_pub, sizeof(se->ek_pub));
                se->ak_pub_len = blob_out(st, 6, se->ak_pub, sizeof(se->ak_pub));
                se->pcr_mask = (uint32_t)sqlite3_column_int64(st, 7);
                se->expires = sqlite3_column_int64(st, 8);
                se->used = sqlite3_column_int(st, 9) != 0;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW) {
                r = rc == SQLITE_DONE ? -ENOENT : sql_err(db, rc, "reading a session");
                goto fail;
        }
        if (se->used) {
                r = -EALREADY;
                goto fail;
        }
        /* consumed even when expired: a session is tried once */
        if ((r = prepare(db, "UPDATE sessions SET used = 1 WHERE id = ?", &st)) < 0)
                goto fail;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        if ((r = step_done(db, st, "consuming a session")) < 0 || (r = exec(db, "COMMIT")) < 0)
                goto fail;
        r = se->expires <= now ? -ETIME : 0;
        if (r == 0)
                *ret = *se;
        goto out;
fail:
        (void)exec(db, "ROLLBACK");
out:
        explicit_bzero(se, sizeof(*se));
        free(se);
        return r;
}

/* At most once a second: every request asks, and a busy server must not
 * pay a DELETE per request. */
static int sq_session_gc(struct store *s, int64_t now)
{
        struct sqlite_store *q = (struct sqlite_store *)s;
        if (now == q->last_gc)
                return 0;
        q->last_gc = now;
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "DELETE FROM sessions WHERE expires <= ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, now);
        r = step_done(db, st, "collecting sessions");
        return r < 0 ? r : sqlite3_changes(db);
}

/* ---- attestations ----------------------------------------------------- */

static int sq_attestation_put(struct store *s, const struct attestation *a)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "INSERT INTO attestations (session_id, machine_id, time, pcrs, verdict) VALUES (?,?,?,?,?)", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, a->session_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, a->machine_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, a->time);
        sqlite3_bind_text(st, 4, a->pcrs_json ? a->pcrs_json : "{}", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, a->verdict, -1, SQLITE_TRANSIENT);
        return step_done(db, st, "recording an attestation");
}

static int sq_attestation_get(struct store *s, const char *session_id, struct attestation *ret)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "SELECT session_id, machine_id, time, pcrs, verdict FROM attestations WHERE session_id = ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, session_id, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                struct attestation a = { .time = sqlite3_column_int64(st, 2) };
                text_out(st, 0, a.session_id, sizeof(a.session_id));
                text_out(st, 1, a.machine_id, sizeof(a.machine_id));
                const unsigned char *t = sqlite3_column_text(st, 3);
                text_out(st, 4, a.verdict, sizeof(a.verdict));
                a.pcrs_json = strdup(t ? (const char *)t : "{}");
                r = a.pcrs_json ? 0 : -ENOMEM;
                if (r == 0)
                        *ret = a;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW)
                return rc == SQLITE_DONE ? -ENOENT : sql_err(db, rc, "reading an attestation");
        return r;
}

/* ---- CAs trusted for EK certificates ------------------------------------ */

static int sq_ek_ca_add(struct store *s, const struct ek_ca *ca)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "INSERT INTO ek_cas (id, subject, not_after, added, der) VALUES (?,?,?,?,?)", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, ca->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, ca->subject, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, ca->not_after);
        sqlite3_bind_int64(st, 4, ca->added);
        sqlite3_bind_blob(st, 5, ca->der, (int)ca->der_len, SQLITE_TRANSIENT);
        return step_done(db, st, "adding an EK CA");
}

static int sq_ek_ca_remove(struct store *s, const char *id, char ret_id[STORE_CA_ID_LEN])
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        char full[STORE_CA_ID_LEN] = "";
        if (!id || !*id)
                return -EINVAL; /* "" would be a prefix of every id */
        int n = 0, rc, r = exec(db, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        if ((r = prepare(db, "SELECT id FROM ek_cas WHERE substr(id, 1, ?) = ? LIMIT 2", &st)) < 0)
                goto fail;
        sqlite3_bind_int(st, 1, (int)strlen(id));
        sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                if (n++ == 0)
                        text_out(st, 0, full, sizeof(full));
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
                r = sql_err(db, rc, "looking up an EK CA");
                goto fail;
        }
        if (n != 1) {
                r = n == 0 ? -ENOENT : -ENOTUNIQ;
                goto fail;
        }
        if ((r = prepare(db, "DELETE FROM ek_cas WHERE id = ?", &st)) < 0)
                goto fail;
        sqlite3_bind_text(st, 1, full, -1, SQLITE_TRANSIENT);
        if ((r = step_done(db, st, "removing an EK CA")) < 0 || (r = exec(db, "COMMIT")) < 0)
                goto fail;
        memcpy(ret_id, full, STORE_CA_ID_LEN);
        return 0;
fail:
        (void)exec(db, "ROLLBACK");
        return r;
}

static int sq_ek_ca_list(struct store *s, ek_ca_cb cb, void *ud)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "SELECT id, subject, not_after, added, der FROM ek_cas ORDER BY added, id", &st), rc;
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct ek_ca ca = { .not_after = sqlite3_column_int64(st, 2), .added = sqlite3_column_int64(st, 3) };
                text_out(st, 0, ca.id, sizeof(ca.id));
                text_out(st, 1, ca.subject, sizeof(ca.subject));
                ca.der = sqlite3_column_blob(st, 4);
                ca.der_len = (size_t)sqlite3_column_bytes(st, 4);
                if ((r = cb(&ca, ud)) < 0)
                        break;
        }
        sqlite3_finalize(st);
        return r < 0 ? r : rc == SQLITE_DONE ? 0 : sql_err(db, rc, "listing EK CAs");
}

/* ---- audit ------------------------------------------------------------ */

static int sq_audit(struct store *s, int64_t now, const char *actor, const char *action, const char *subject,
                    const char *detail)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "INSERT INTO audit (time, actor, action, subject, detail) VALUES (?,?,?,?,?)", &st);
        if (r < 0)
                return r;
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_text(st, 2, actor, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, action, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, subject ? subject : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, detail ? detail : "", -1, SQLITE_TRANSIENT);
        return step_done(db, st, "writing the audit log");
}

static int sq_audit_list(struct store *s, int (*cb)(const char *line, void *ud), void *ud)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db,
                        "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', time, 'unixepoch'), actor, action, subject, detail "
                        "FROM audit ORDER BY seq",
                        &st),
            rc;
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                char line[1024];
                snprintf(line, sizeof(line), "%s %s %s %s%s%s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                         sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
                         *(const char *)sqlite3_column_text(st, 4) ? ": " : "", sqlite3_column_text(st, 4));
                if ((r = cb(line, ud)) < 0)
                        break;
        }
        sqlite3_finalize(st);
        return r < 0 ? r : rc == SQLITE_DONE ? 0 : sql_err(db, rc, "reading the audit log");
}


/* ---- overlays and where they go ------------------------------------------- */

static void overlay_from_row(sqlite3_stmt *st, struct overlay_rec *o)
{
        *o = (struct overlay_rec){ .serial = (uint64_t)sqlite3_column_int64(st, 1), .size = (uint64_t)sqlite3_column_int64(st, 3),
                                   .registered = sqlite3_column_int64(st, 7) };
        text_out(st, 0, o->id, sizeof(o->id));
        if (sqlite3_column_bytes(st, 2) == STORE_HASH_LEN)
                memcpy(o->ct_sha256, sqlite3_column_blob(st, 2), STORE_HASH_LEN);
        if (sqlite3_column_bytes(st, 4) == (int)sizeof(o->key))
                memcpy(o->key, sqlite3_column_blob(st, 4), sizeof(o->key));
        text_out(st, 5, o->url, sizeof(o->url));
        text_out(st, 6, o->path, sizeof(o->path));
}

#define OVERLAY_COLUMNS "id, serial, ct_sha256, size, key, url, path, registered"

static int sq_overlay_current(struct store *s, const char *id, struct overlay_rec *ret)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "SELECT " OVERLAY_COLUMNS " FROM overlays WHERE id = ? ORDER BY serial DESC LIMIT 1", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                overlay_from_row(st, ret);
        sqlite3_finalize(st);
        return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sql_err(db, rc, "reading an overlay");
}

static int sq_overlay_put(struct store *s, const struct overlay_rec *o)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        struct overlay_rec cur;
        int r = exec(db, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = sq_overlay_current(s, o->id, &cur);
        if (r == 0 && cur.serial >= o->serial)
                r = cur.serial == o->serial ? -EEXIST : -ESTALE;
        else if (r == -ENOENT)
                r = 0;
        if (r == 0)
                r = prepare(db, "INSERT INTO overlays (" OVERLAY_COLUMNS ") VALUES (?,?,?,?,?,?,?,?)", &st);
        if (r == 0) {
                sqlite3_bind_text(st, 1, o->id, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int64(st, 2, (sqlite3_int64)o->serial);
                sqlite3_bind_blob(st, 3, o->ct_sha256, STORE_HASH_LEN, SQLITE_TRANSIENT);
                sqlite3_bind_int64(st, 4, (sqlite3_int64)o->size);
                sqlite3_bind_blob(st, 5, o->key, sizeof(o->key), SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 6, o->url, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(st, 7, o->path, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int64(st, 8, o->registered);
                r = step_done(db, st, "registering an overlay");
        }
        if (r == 0)
                return exec(db, "COMMIT");
        (void)exec(db, "ROLLBACK");
        return r;
}

static int sq_overlay_list(struct store *s, overlay_cb cb, void *ud)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "SELECT " OVERLAY_COLUMNS " FROM overlays ORDER BY id, serial DESC", &st), rc;
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct overlay_rec o;
                overlay_from_row(st, &o);
                r = cb(&o, ud);
                explicit_bzero(&o, sizeof(o));
                if (r < 0)
                        break;
        }
        sqlite3_finalize(st);
        return r < 0 ? r : rc == SQLITE_DONE ? 0 : sql_err(db, rc, "listing overlays");
}

static int sq_assign(struct store *s, const char *target, const char *overlay_id)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "INSERT OR REPLACE INTO assignments (target, overlay_id) VALUES (?,?)", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, overlay_id, -1, SQLITE_TRANSIENT);
        return step_done(db, st, "assigning an overlay");
}

static int sq_unassign(struct store *s, const char *target)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "DELETE FROM assignments WHERE target = ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
        r = step_done(db, st, "removing an assignment");
        return r < 0 ? r : sqlite3_changes(db) ? 0 : -ENOENT;
}

static int sq_assignment_list(struct store *s, assignment_cb cb, void *ud)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "SELECT target, overlay_id FROM assignments ORDER BY target", &st), rc;
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                char t[STORE_TARGET_MAX], id[STORE_ID_LEN];
                text_out(st, 0, t, sizeof(t));
                text_out(st, 1, id, sizeof(id));
                if ((r = cb(t, id, ud)) < 0)
                        break;
        }
        sqlite3_finalize(st);
        return r < 0 ? r : rc == SQLITE_DONE ? 0 : sql_err(db, rc, "listing assignments");
}

static int sq_machine_group(struct store *s, const char *machine_id, char ret[STORE_GROUP_MAX])
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "SELECT grp FROM machine_groups WHERE machine_id = ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, machine_id, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                text_out(st, 0, ret, STORE_GROUP_MAX);
        sqlite3_finalize(st);
        return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sql_err(db, rc, "reading a machine's group");
}

static int sq_machine_set_group(struct store *s, const char *machine_id, const char *group)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, *group ? "INSERT OR REPLACE INTO machine_groups (machine_id, grp) VALUES (?,?)"
                                   : "DELETE FROM machine_groups WHERE machine_id = ?",
                        &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, machine_id, -1, SQLITE_TRANSIENT);
        if (*group)
                sqlite3_bind_text(st, 2, group, -1, SQLITE_TRANSIENT);
        return step_done(db, st, "setting a machine's group");
}

static int assigned(sqlite3 *db, const char *target, char ret[STORE_ID_LEN])
{
        sqlite3_stmt *st;
        int r = prepare(db, "SELECT overlay_id FROM assignments WHERE target = ?", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, target, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                text_out(st, 0, ret, STORE_ID_LEN);
        sqlite3_finalize(st);
        return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sql_err(db, rc, "reading an assignment");
}

static int sq_overlay_for(struct store *s, const char *machine_id, char ret[STORE_ID_LEN])
{
        sqlite3 *db = db_of(s);
        char target[STORE_TARGET_MAX], group[STORE_GROUP_MAX];
        snprintf(target, sizeof(target), "machine:%s", machine_id);
        int r = assigned(db, target, ret);
        if (r != -ENOENT)
                return r;
        r = sq_machine_group(s, machine_id, group);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == 0) {
                snprintf(target, sizeof(target), "group:%s", group);
                r = assigned(db, target, ret);
                if (r != -ENOENT)
                        return r;
        }
        return assigned(db, "default", ret);
}

/* ---- boot reports ------------------------------------------------------- */

#define REPORT_COLS                                                                                         \
        "machine_id, boot_id, received, outcome, failed_stage, reason, lkg, lkg_detail, lkg_boot, " \
        "consecutive_failures, timeline"

/* The timeline as [{"stage", "ms", "result"}, …]: NULL when out of memory. */
static char *timeline_json(const struct report_rec *r)
{
        json_object *a = json_object_new_array();
        char *ret = NULL;
        bool ok = a != NULL;
        for (size_t i = 0; ok && i < r->n_timeline && i < STORE_REPORT_STAGES; i++) {
                json_object *e = json_object_new_object();
                ok = e && json_object_array_add(a, e) == 0;
                if (!ok) {
                        json_object_put(e);
                        break;
                }
                ok = json_object_object_add(e, "stage", json_object_new_string(r->timeline[i].stage)) == 0 &&
                     json_object_object_add(e, "ms", json_object_new_int64((int64_t)r->timeline[i].ms)) == 0 &&
                     json_object_object_add(e, "result", json_object_new_string(r->timeline[i].result)) == 0;
        }
        const char *t = ok ? json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN) : NULL;
        if (t)
                ret = strdup(t);
        json_object_put(a);
        return ret;
}

/* What timeline_json() wrote; anything else in the column is skipped. */
static void timeline_from_json(const char *text, struct report_rec *r)
{
        json_object *a = text ? json_tokener_parse(text) : NULL, *v;
        r->n_timeline = 0;
        if (a && json_object_is_type(a, json_type_array))
                for (size_t i = 0; i < json_object_array_length(a) && r->n_timeline < STORE_REPORT_STAGES; i++) {
                        json_object *e = json_object_array_get_idx(a, i);
                        struct report_stage *st = &r->timeline[r->n_timeline];
                        if (!json_object_is_type(e, json_type_object))
                                continue;
                        *st = (struct report_stage){ 0 };
                        if (json_object_object_get_ex(e, "stage", &v))
                                snprintf(st->stage, sizeof(st->stage), "%s", json_object_get_string(v));
                        if (json_object_object_get_ex(e, "ms", &v) && json_object_get_int64(v) > 0)
                                st->ms = (uint64_t)json_object_get_int64(v);
                        if (json_object_object_get_ex(e, "result", &v))
                                snprintf(st->result, sizeof(st->result), "%s", json_object_get_string(v));
                        r->n_timeline++;
                }
        json_object_put(a);
}

static void report_row(sqlite3_stmt *st, struct report_rec *r)
{
        *r = (struct report_rec){ 0 };
        text_out(st, 0, r->machine_id, sizeof(r->machine_id));
        text_out(st, 1, r->boot_id, sizeof(r->boot_id));
        r->received = sqlite3_column_int64(st, 2);
        text_out(st, 3, r->outcome, sizeof(r->outcome));
        text_out(st, 4, r->failed_stage, sizeof(r->failed_stage));
        text_out(st, 5, r->reason, sizeof(r->reason));
        text_out(st, 6, r->lkg, sizeof(r->lkg));
        text_out(st, 7, r->lkg_detail, sizeof(r->lkg_detail));
        r->lkg_boot = sqlite3_column_int(st, 8) != 0;
        r->consecutive_failures = (uint32_t)sqlite3_column_int64(st, 9);
        timeline_from_json((const char *)sqlite3_column_text(st, 10), r);
}

/* A resend of a boot's report updates its row in place: the history keeps
 * the order in which boots first reported. */
static int report_insert(sqlite3 *db, const struct report_rec *rep, const char *timeline)
{
        sqlite3_stmt *st;
        int k = prepare(db, "INSERT INTO reports (" REPORT_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                        "ON CONFLICT(machine_id, boot_id) DO UPDATE SET received = excluded.received, "
                        "outcome = excluded.outcome, failed_stage = excluded.failed_stage, reason = excluded.reason, "
                        "lkg = excluded.lkg, lkg_detail = excluded.lkg_detail, lkg_boot = excluded.lkg_boot, "
                        "consecutive_failures = excluded.consecutive_failures, timeline = excluded.timeline", &st);
        if (k < 0)
                return k;
        sqlite3_bind_text(st, 1, rep->machine_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, rep->boot_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, rep->received);
        sqlite3_bind_text(st, 4, rep->outcome, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, rep->failed_stage, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, rep->reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, rep->lkg, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 8, rep->lkg_detail, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 9, rep->lkg_boot ? 1 : 0);
        sqlite3_bind_int64(st, 10, rep->consecutive_failures);
        sqlite3_bind_text(st, 11, timeline, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        /* the machine is gone (or never was): not a database failure */
        bool no_machine = rc != SQLITE_DONE && sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_FOREIGNKEY;
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE)
                return 0;
        return no_machine ? -ENOENT : sql_err(db, rc, "storing a boot report");
}

static int sq_report_put(struct store *s, const struct report_rec *r)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        _cleanup_free_ char *timeline = timeline_json(r);
        if (!timeline)
                return -ENOMEM;
        int k = exec(db, "BEGIN IMMEDIATE");
        if (k < 0)
                return k;
        if ((k = report_insert(db, r, timeline)) < 0)
                goto fail;
        if ((k = prepare(db, "DELETE FROM reports WHERE machine_id = ?1 AND seq NOT IN "
                         "(SELECT seq FROM reports WHERE machine_id = ?1 ORDER BY seq DESC LIMIT ?2)", &st)) < 0)
                goto fail;
        sqlite3_bind_text(st, 1, r->machine_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, STORE_REPORT_KEEP);
        if ((k = step_done(db, st, "pruning boot reports")) < 0 || (k = exec(db, "COMMIT")) < 0)
                goto fail;
        return 0;
fail:
        (void)exec(db, "ROLLBACK");
        return k;
}

static int sq_report_list(struct store *s, const char *machine_id, unsigned limit, report_cb cb, void *ud)
{
        sqlite3 *db = db_of(s);
        sqlite3_stmt *st;
        int r = prepare(db, "SELECT " REPORT_COLS " FROM reports WHERE machine_id = ? ORDER BY seq DESC LIMIT ?", &st), rc;
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, machine_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, limit ? (sqlite3_int64)limit : -1);
        struct report_rec *rec = malloc(sizeof(*rec));
        if (!rec) {
                sqlite3_finalize(st);
                return -ENOMEM;
        }
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                report_row(st, rec);
                if ((r = cb(rec, ud)) < 0)
                        break;
        }
        free(rec);
        sqlite3_finalize(st);
        return r < 0 ? r : rc == SQLITE_DONE ? 0 : sql_err(db, rc, "listing boot reports");
}

static int copy_report(const struct report_rec *r, void *ud)
{
        memcpy(ud, r, sizeof(*r));
        return 0;
}

static int sq_report_latest(struct store *s, const char *machine_id, struct report_rec *ret)
{
        struct report_rec *rec = malloc(sizeof(*rec));
        if (!rec)
                return -ENOMEM;
        rec->machine_id[0] = '\0';
        int r = sq_report_list(s, machine_id, 1, copy_report, rec);
        if (r >= 0 && !rec->machine_id[0])
                r = -ENOENT;
        if (r >= 0)
                *ret = *rec;
        free(rec);
        return r < 0 ? r : 0;
}

/* ---- open ------------------------------------------------------------- */

static void sq_close(struct store *s)
{
        struct sqlite_store *q = (struct sqlite_store *)s;
        sqlite3_close(q->db);
        pthread_mutex_destroy(&q->lock);
        free(q);
}

/* The server's threads share one connection. SQLite's FULLMUTEX makes
 * each call safe, not each operation: one thread's BEGIN IMMEDIATE would
 * land inside another's transaction ("cannot start a transaction within a
 * transaction"). So every operation runs under the store's lock, which is
 * recursive: a list callback may call back into the store. */
#define LOCKED(op, params, args)                                   \
        static int locked_##op params                                \
        {                                                            \
                struct sqlite_store *q = (struct sqlite_store *)s;   \
                pthread_mutex_lock(&q->lock);                        \
                int r = sq_##op args;                                \
                pthread_mutex_unlock(&q->lock);                      \
                return r;                                            \
        }
LOCKED(machine_put, (struct store *s, const struct machine *m), (s, m))
LOCKED(machine_get, (struct store *s, const char *id, struct machine *ret), (s, id, ret))
LOCKED(machine_by_ek, (struct store *s, const uint8_t h[STORE_HASH_LEN], struct machine *ret), (s, h, ret))
LOCKED(machine_delete, (struct store *s, const char *id), (s, id))
LOCKED(ek_deleted, (struct store *s, const uint8_t h[STORE_HASH_LEN], char ret[STORE_ID_LEN]), (s, h, ret))
LOCKED(machine_list, (struct store *s, machine_cb cb, void *ud), (s, cb, ud))
LOCKED(approve,
       (struct store *s, const char *name, const uint8_t digest[STORE_HASH_LEN], const char *refvalues,
        const char *source, int64_t now, struct approval *ret),
       (s, name, digest, refvalues, source, now, ret))
LOCKED(unapprove, (struct store *s, const char *approval_id), (s, approval_id))
LOCKED(image_list, (struct store *s, image_cb cb, void *ud), (s, cb, ud))
LOCKED(session_put, (struct store *s, const struct session *se), (s, se))
LOCKED(session_take, (struct store *s, const char *id, int64_t now, struct session *ret), (s, id, now, ret))
LOCKED(session_gc, (struct store *s, int64_t now), (s, now))
LOCKED(attestation_put, (struct store *s, const struct attestation *a), (s, a))
LOCKED(attestation_get, (struct store *s, const char *session_id, struct attestation *ret), (s, session_id, ret))
LOCKED(ek_ca_add, (struct store *s, const struct ek_ca *ca), (s, ca))
LOCKED(ek_ca_remove, (struct store *s, const char *id, char ret_id[STORE_CA_ID_LEN]), (s, id, ret_id))
LOCKED(ek_ca_list, (struct store *s, ek_ca_cb cb, void *ud), (s, cb, ud))
LOCKED(overlay_put, (struct store *s, const struct overlay_rec *o), (s, o))
LOCKED(overlay_current, (struct store *s, const char *id, struct overlay_rec *ret), (s, id, ret))
LOCKED(overlay_list, (struct store *s, overlay_cb cb, void *ud), (s, cb, ud))
LOCKED(assign, (struct store *s, const char *target, const char *overlay_id), (s, target, overlay_id))
LOCKED(unassign, (struct store *s, const char *target), (s, target))
LOCKED(assignment_list, (struct store *s, assignment_cb cb, void *ud), (s, cb, ud))
LOCKED(overlay_for, (struct store *s, const char *machine_id, char ret[STORE_ID_LEN]), (s, machine_id, ret))
LOCKED(machine_set_group, (struct store *s, const char *machine_id, const char *group), (s, machine_id, group))
LOCKED(machine_group, (struct store *s, const char *machine_id, char ret[STORE_GROUP_MAX]), (s, machine_id, ret))
LOCKED(audit,
       (struct store *s, int64_t now, const char *actor, const char *action, const char *subject, const char *detail),
       (s, now, actor, action, subject, detail))
LOCKED(audit_list, (struct store *s, int (*cb)(const char *line, void *ud), void *ud), (s, cb, ud))
LOCKED(report_put, (struct store *s, const struct report_rec *rep), (s, rep))
LOCKED(report_list, (struct store *s, const char *machine_id, unsigned limit, report_cb cb, void *ud),
       (s, machine_id, limit, cb, ud))
LOCKED(report_latest, (struct store *s, const char *machine_id, struct report_rec *ret), (s, machine_id, ret))

static const struct store_ops sqlite_ops = {
        .close = sq_close,
        .machine_put = locked_machine_put,
        .machine_get = locked_machine_get,
        .machine_by_ek = locked_machine_by_ek,
        .machine_delete = locked_machine_delete,
        .ek_deleted = locked_ek_deleted,
        .machine_list = locked_machine_list,
        .approve = locked_approve,
        .unapprove = locked_unapprove,
        .image_list = locked_image_list,
        .session_put = locked_session_put,
        .session_take = locked_session_take,
        .session_gc = locked_session_gc,
        .attestation_put = locked_attestation_put,
        .attestation_get = locked_attestation_get,
        .ek_ca_add = locked_ek_ca_add,
        .ek_ca_remove = locked_ek_ca_remove,
        .ek_ca_list = locked_ek_ca_list,
        .overlay_put = locked_overlay_put,
        .overlay_current = locked_overlay_current,
        .overlay_list = locked_overlay_list,
        .assign = locked_assign,
        .unassign = locked_unassign,
        .assignment_list = locked_assignment_list,
        .overlay_for = locked_overlay_for,
        .machine_set_group = locked_machine_set_group,
        .machine_group = locked_machine_group,
        .audit = locked_audit,
        .audit_list = locked_audit_list,
        .report_put = locked_report_put,
        .report_list = locked_report_list,
        .report_latest = locked_report_latest,
};

static const char schema[] =
        "CREATE TABLE IF NOT EXISTS machines (id TEXT PRIMARY KEY, ek_hash BLOB NOT NULL UNIQUE, state INTEGER NOT NULL,"
        " secret BLOB NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL, reset_count INTEGER NOT NULL,"
        " restart_count INTEGER NOT NULL, note TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, name TEXT NOT NULL, digest BLOB NOT NULL UNIQUE,"
        " refvalues TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS approvals (id TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id),"
        " created INTEGER NOT NULL, source TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, machine_id TEXT NOT NULL, ek_hash BLOB NOT NULL,"
        " nonce BLOB NOT NULL, secret BLOB NOT NULL, ek_pub BLOB NOT NULL, ak_pub BLOB NOT NULL,"
        " pcr_mask INTEGER NOT NULL, expires INTEGER NOT NULL, used INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS sessions_expires ON sessions(expires);"
        "CREATE TABLE IF NOT EXISTS attestations (session_id TEXT PRIMARY KEY, machine_id TEXT NOT NULL,"
        " time INTEGER NOT NULL, pcrs TEXT NOT NULL, verdict TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS ek_cas (id TEXT PRIMARY KEY, subject TEXT NOT NULL, not_after INTEGER NOT NULL,"
        " added INTEGER NOT NULL, der BLOB NOT NULL);"
        "CREATE TABLE IF NOT EXISTS overlays (id TEXT NOT NULL, serial INTEGER NOT NULL, ct_sha256 BLOB NOT NULL,"
        " size INTEGER NOT NULL, key BLOB NOT NULL, url TEXT NOT NULL, path TEXT NOT NULL, registered INTEGER NOT NULL,"
        " PRIMARY KEY (id, serial));"
        "CREATE TABLE IF NOT EXISTS assignments (target TEXT PRIMARY KEY, overlay_id TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS machine_groups (machine_id TEXT PRIMARY KEY, grp TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS deleted_eks (ek_hash BLOB PRIMARY KEY, machine_id TEXT NOT NULL, time INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
        " actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT NOT NULL, detail TEXT NOT NULL);"
        /* a machine's boot reports go with it */
        "CREATE TABLE IF NOT EXISTS reports (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " machine_id TEXT NOT NULL REFERENCES machines(id) ON DELETE CASCADE, boot_id TEXT NOT NULL,"
        " received INTEGER NOT NULL, outcome TEXT NOT NULL, failed_stage TEXT NOT NULL, reason TEXT NOT NULL,"
        " lkg TEXT NOT NULL, lkg_detail TEXT NOT NULL, lkg_boot INTEGER NOT NULL,"
        " consecutive_failures INTEGER NOT NULL, timeline TEXT NOT NULL, UNIQUE (machine_id, boot_id));"
        "CREATE INDEX IF NOT EXISTS reports_machine ON reports(machine_id, seq);";

int store_open_sqlite(const char *path, struct store **ret)
{
        struct sqlite_store *q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->base.ops = &sqlite_ops;
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
        pthread_mutex_init(&q->lock, &a);
        pthread_mutexattr_destroy(&a);
        /* machine and session secrets live here: owner only, from the start */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                int r = negative_errno();
                log_err("store", "opening %s: %s", path, strerror(-r));
                pthread_mutex_destroy(&q->lock);
                free(q);
                return r;
        }
        close(fd);
        int rc = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
        if (rc != SQLITE_OK) {
                log_err("store", "opening %s: %s", path, q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
                sq_close(&q->base);
                return -EIO;
        }
        sqlite3_busy_timeout(q->db, 5000);
        int r = exec(q->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
        if (r >= 0)
                r = exec(q->db, schema);
        if (r >= 0)
                r = exec(q->db, "PRAGMA user_version=" SCHEMA_VERSION);
        if (r < 0) {
                sq_close(&q->base);
                return r;
        }
        *ret = &q->base;
        return 0;
}
