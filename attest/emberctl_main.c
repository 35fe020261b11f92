/* SPDX-License-Identifier: Apache-2.0 */
/* emberctl: the operator's commands for machines, approved images and the
 * CAs trusted for EK certificates. It
 * works on the verifier's database directly (the server re-reads it on
 * every request), so it runs on the verifier's host, as its user. Every
 * change is written to the audit log with the operator as actor. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tss2/tss2_mu.h>

#include "ekcert.h"
#include "admin.h"
#include "ctl_release.h"
#include "ctl_report.h"
#include "ctl_ipxe.h"
#include "fileio.h"
#include "overlay_cmd.h"
#include "pki.h"
#include "refvalues.h"
#include "site.h"
#include "store.h"
#include "util.h"

#define DEFAULT_DB "/var/lib/ember/attestd.db"
#define EK_PUBLIC_MAX 4096
#define CA_FILE_MAX (1u << 20)

static const char usage_text[] =
        "Usage: emberctl [--db PATH] COMMAND ...\n"
        "\n"
        "Machines (enrolled by their TPM endorsement key):\n"
        "  machine enroll --ek FILE [--note TEXT]   enroll the EK public (TPM2B_PUBLIC, as\n"
        "                                           tpm2_createek -u writes it)\n"
        "  machine enroll --ek-hash HEX [--note TEXT]\n"
        "  machine list [--failing]                 every machine, its state and its last boot;\n"
        "                                           --failing: only those whose last boot\n"
        "                                           failed or was refused\n"
        "  machine show ID                          a machine and its boot history\n"
        "  machine approve ID                       a pending machine may boot\n"
        "  machine reject ID                        a pending machine may not\n"
        "  machine revoke ID                        an enrolled machine never boots again\n"
        "  machine delete ID                        forget it: it attests as unknown again\n"
        "                                           and waits as pending, even with an EK\n"
        "                                           certificate from a trusted CA\n"
        "\n"
        "Images (approved by the PCR values they produce):\n"
        "  image approve FILE --name NAME           approve the reference values in FILE\n"
        "                                           (Trustee's JSON shape, one image)\n"
        "  image approve --from-evidence SESSION --name NAME [--days N]\n"
        "                                           approve what a recorded attestation's\n"
        "                                           event log replayed to (a first\n"
        "                                           known-good boot of a path); says which\n"
        "                                           values it approves\n"
        "  image list                               approved images and their approvals\n"
        "  image site --initrd FILE --out FILE (--server-dir DIR | --pin PIN | --ca FILE)...\n"
        "                                           a site's initrd: the generic one plus the\n"
        "                                           server's pins and CA (see image site --help)\n"
        "  image show ID                            its reference values, as JSON\n"
        "  image remove APPROVAL-ID                 drop one approval; the image goes\n"
        "                                           with its last one\n"
        "\n"
        "EK certificate CAs (an unknown machine whose EK certificate chains to one\n"
        "and certifies its EK is enrolled when it first attests):\n"
        "  ek-ca add FILE...                        trust the CA certificates in each FILE\n"
        "                                           (PEM, one or several, or DER); a\n"
        "                                           self-signed one is a root, any other\n"
        "                                           an intermediate that only completes a\n"
        "                                           path to a root\n"
        "  ek-ca list                               the trusted CAs\n"
        "  ek-ca remove ID                          stop trusting one (ID: 8 or more of its\n"
        "                                           leading digits); the machines it\n"
        "                                           enrolled stay enrolled\n"
        "\n"
        "Sealed overlays (a node's configuration; see overlay --help for seal,\n"
        "inspect, verify and apply):\n"
        "  overlay register FILE --data-key KEYFILE [--url URL] [--signer PUB.pem]\n"
        "                                           keep its key (and the file, served by\n"
        "                                           the server, unless nodes fetch it from\n"
        "                                           URL); a serial must rise\n"
        "  overlay assign OVERLAY-ID (--machine ID | --group NAME | --default)\n"
        "                                           what attested nodes get: their own,\n"
        "                                           else their group's, else the default\n"
        "  overlay unassign (--machine ID | --group NAME | --default)\n"
        "  overlay list                             overlays, serials and assignments\n"
        "  machine group ID NAME|--none             put a machine in a group (or none)\n"
        "\n"
        "Releases (signed manifests of a kernel and initrd; see release --help):\n"
        "  release manifest --version V --kernel FILE --initrd FILE [--file NAME=PATH]...\n"
        "                   --key SIGNER.key --out DIR\n"
        "                                           sign DIR/release.json (sizes, SHA-256s,\n"
        "                                           Authenticode digests)\n"
        "  release verify DIR --signer PUB.pem [--dir-files]\n"
        "                                           check its signature and the files in DIR\n"
        "  release authenticode FILE...             a PE image's Authenticode SHA-256 (PCR 4)\n"
        "\n"
        "  audit                                    the audit log, oldest first\n"
        "\n"
        "Network boot:\n"
        "  ipxe script --boot-url URL --append TEXT [--ipxe-efi NAME] --out FILE\n"
        "                                           the measured network boot's iPXE script\n"
        "                                           (see ipxe --help)\n"
        "\n"
        "Server:\n"
        "  server init --dir DIR --name NAME...     make the CA, the server's key and\n"
        "             [--days N]                    certificate (NAME: its DNS names or\n"
        "                                           IPv4 addresses) and DIR/attestd.db;\n"
        "                                           prints the pin nodes carry\n"
        "\n"
        "Options: --db PATH (default " DEFAULT_DB "), --help.\n"
        "Exit status: 0 done, 1 failed, 2 bad usage.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "emberctl: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, " (try 'emberctl --help')\n");
        va_end(ap);
        return 2;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
        for (size_t i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
        if (!s || strlen(s) != 2 * n)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                unsigned v;
                if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
                    !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
                        return -EINVAL;
                out[i] = (uint8_t)v;
        }
        return 0;
}

static int64_t now_s(void)
{
        return (int64_t)time(NULL);
}

/* The EK's identity: SHA-256 over its marshalled TPM2B_PUBLIC, which must
 * parse whole. */
static int ek_hash_from_file(const char *path, uint8_t out[STORE_HASH_LEN])
{
        _cleanup_free_ char *buf = NULL;
        size_t len, off = 0;
        TPM2B_PUBLIC pub = { 0 }; /* tss2-mu refuses a destination whose size is set */
        int r = read_file_all(path, EK_PUBLIC_MAX, &buf, &len);
        if (r < 0)
                return fprintf(stderr, "emberctl: reading %s failed: %s\n", path, strerror(-r)), r;
        if (Tss2_MU_TPM2B_PUBLIC_Unmarshal((const uint8_t *)buf, len, &off, &pub) != TSS2_RC_SUCCESS || off != len)
                return fprintf(stderr, "emberctl: %s is not a TPM2B_PUBLIC (as tpm2_createek -u writes it)\n", path),
                       -EBADMSG;
        if (pub.publicArea.type != TPM2_ALG_RSA && pub.publicArea.type != TPM2_ALG_ECC)
                return fprintf(stderr, "emberctl: %s: the EK must be an RSA or ECC key\n", path), -EBADMSG;
        mbedtls_sha256_ret((const unsigned char *)buf, len, out, 0);
        return 0;
}

static void print_machine(const struct machine *m, bool full, const char *last_boot)
{
        char ek[2 * STORE_HASH_LEN + 1], created[32];
        time_t t = (time_t)m->created;
        struct tm tm;
        hex(m->ek_hash, STORE_HASH_LEN, ek);
        strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        if (!full) {
                printf("%s  %-8s  ek %.16s…  %s  %s%s\n", m->id, machine_state_name(m->state), ek, created, m->note,
                       last_boot ? last_boot : "");
                return;
        }
        printf("id:            %s\nstate:         %s\nek sha256:     %s\ncreated:       %s\n"
               "reset count:   %u\nrestart count: %u\nnote:          %s\n",
               m->id, machine_state_name(m->state), ek, created, m->reset_count, m->restart_count, m->note);
}

struct machine_listing {
        struct store *store;
        bool failing_only;
        unsigned n;
};

static int list_machine(const struct machine *m, void *ud)
{
        struct machine_listing *l = ud;
        char last[STORE_REPORT_TEXT + 200];
        bool failing = false;
        int r = ctl_report_last(l->store, m->id, now_s(), last, sizeof(last), &failing);
        if (r < 0)
                return r;
        if (l->failing_only && !failing)
                return 0;
        l->n++;
        print_machine(m, false, last);
        return 0;
}

static int machine_enroll(struct store *s, int argc, char **argv)
{
        static const struct option opts[] = { { "ek", required_argument, NULL, 'e' },
                                               { "ek-hash", required_argument, NULL, 'h' },
                                               { "note", required_argument, NULL, 'n' },
                                               { NULL, 0, NULL, 0 } };
        struct machine m = { .state = MACHINE_ENROLLED, .created = now_s() };
        const char *ek = NULL, *ek_hex = NULL;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c == 'e')
                        ek = optarg;
                else if (c == 'h')
                        ek_hex = optarg;
                else if (c == 'n')
                        snprintf(m.note, sizeof(m.note), "%s", optarg);
                else
                        return 2;
        }
        if (!ek == !ek_hex)
                return usage_error("machine enroll needs exactly one of --ek FILE or --ek-hash HEX");
        if (ek && ek_hash_from_file(ek, m.ek_hash) < 0)
                return 1;
        if (ek_hex && unhex(ek_hex, m.ek_hash, STORE_HASH_LEN) < 0)
                return usage_error("--ek-hash %s is not 64 hex digits (SHA-256 of the EK's TPM2B_PUBLIC)", ek_hex);
        struct machine old;
        if (s->ops->machine_by_ek(s, m.ek_hash, &old) == 0)
                return fprintf(stderr, "emberctl: this EK is already machine %s (%s)\n", old.id,
                               machine_state_name(old.state)), 1;
        m.updated = m.created;
        if (uuid_random(m.id) < 0 || getrandom_full(m.secret, sizeof(m.secret)) < 0)
                return fprintf(stderr, "emberctl: no randomness\n"), 1;
        int r = s->ops->machine_put(s, &m);
        if (r < 0)
                return fprintf(stderr, "emberctl: storing the machine failed: %s\n", strerror(-r)), 1;
        (void)s->ops->audit(s, now_s(), "operator", "machine.enroll", m.id, m.note);
        printf("%s\n", m.id);
        return 0;
}

/* approve/reject/revoke: which states each may start from */
static int machine_transition(struct store *s, const char *verb, const char *id)
{
        struct machine m;
        int r = s->ops->machine_get(s, id, &m);
        if (r == -ENOENT)
                return fprintf(stderr, "emberctl: no machine %s\n", id), 1;
        if (r < 0)
                return 1;
        enum machine_state to;
        bool ok;
        if (streq(verb, "approve")) {
                to = MACHINE_ENROLLED;
                ok = m.state == MACHINE_PENDING || m.state == MACHINE_REJECTED;
        } else if (streq(verb, "reject")) {
                to = MACHINE_REJECTED;
                ok = m.state == MACHINE_PENDING;
        } else {
                to = MACHINE_REVOKED;
                ok = m.state != MACHINE_REVOKED;
        }
        if (!ok)
                return fprintf(stderr, "emberctl: machine %s is %s: cannot %s it%s\n", id, machine_state_name(m.state),
                               verb, m.state == MACHINE_REVOKED ? " (revocation is final; delete it to start over)" : ""),
                       1;
        char detail[64];
        snprintf(detail, sizeof(detail), "%s -> %s", machine_state_name(m.state), machine_state_name(to));
        m.state = to;
        m.updated = now_s();
        if ((r = s->ops->machine_put(s, &m)) < 0)
                return fprintf(stderr, "emberctl: storing the machine failed: %s\n", strerror(-r)), 1;
        char action[32];
        snprintf(action, sizeof(action), "machine.%s", verb);
        (void)s->ops->audit(s, now_s(), "operator", action, id, detail);
        printf("machine %s: %s\n", id, detail);
        return 0;
}

static int cmd_machine(struct store *s, int argc, char **argv)
{
        if (argc < 2)
                return usage_error("machine needs a subcommand");
        const char *sub = argv[1];
        if (streq(sub, "enroll"))
                return machine_enroll(s, argc - 1, argv + 1);
        if (streq(sub, "list")) {
                struct machine_listing l = { .store = s, .failing_only = argc == 3 && streq(argv[2], "--failing") };
                if (argc > 3 || (argc == 3 && !l.failing_only))
                        return usage_error("machine list takes only --failing");
                int r = s->ops->machine_list(s, list_machine, &l);
                if (r >= 0 && l.n == 0)
                        printf(l.failing_only ? "no failing machines\n" : "no machines\n");
                return r < 0 ? 1 : 0;
        }
        if (streq(sub, "group")) {
                struct machine m;
                if (argc != 4)
                        return usage_error("machine group needs a machine id and a group NAME (or --none)");
                const char *g = streq(argv[3], "--none") ? "" : argv[3];
                if (strlen(g) >= STORE_GROUP_MAX || strpbrk(g, " \t\n:") || (!*g && !streq(argv[3], "--none")))
                        return usage_error("group %s: expected 1 to %d characters, no blanks or ':'", argv[3],
                                           STORE_GROUP_MAX - 1);
                if (s->ops->machine_get(s, argv[2], &m) < 0)
                        return fprintf(stderr, "emberctl: no machine %s\n", argv[2]), 1;
                if (s->ops->machine_set_group(s, argv[2], g) < 0)
                        return fprintf(stderr, "emberctl: setting the group failed\n"), 1;
                (void)s->ops->audit(s, now_s(), "operator", "machine.group", argv[2], *g ? g : "(none)");
                printf("machine %s: %s%s\n", argv[2], *g ? "group " : "in no group", g);
                return 0;
        }
        if (argc != 3)
                return usage_error("machine %s needs one machine id", sub);
        if (streq(sub, "show")) {
                struct machine m;
                int r = s->ops->machine_get(s, argv[2], &m);
                if (r < 0)
                        return fprintf(stderr, "emberctl: no machine %s\n", argv[2]), 1;
                print_machine(&m, true, NULL);
                return ctl_report_history(s, m.id, now_s(), stdout) < 0 ? 1 : 0;
        }
        if (streq(sub, "approve") || streq(sub, "reject") || streq(sub, "revoke"))
                return machine_transition(s, sub, argv[2]);
        if (streq(sub, "delete")) {
                int r = s->ops->machine_delete(s, argv[2]);
                if (r < 0)
                        return fprintf(stderr, "emberctl: %s\n", r == -ENOENT ? "no such machine" : strerror(-r)), 1;
                (void)s->ops->audit(s, now_s(), "operator", "machine.delete", argv[2], NULL);
                printf("machine %s deleted\n", argv[2]);
                return 0;
        }
        return usage_error("unknown machine subcommand '%s'", sub);
}

/* The reference values of a recorded attestation: its replayed PCRs, each
 * a single-path entry, expiring after days. */
static int evidence_document(struct store *s, const char *session, unsigned days, char **ret)
{
        struct attestation a;
        int r = s->ops->attestation_get(s, session, &a);
        if (r < 0)
                return fprintf(stderr, "emberctl: no recorded attestation for session %s%s\n", session,
                               r == -ENOENT ? " (only quotes that verified and replayed are recorded)" : ""), r;
        json_object *pcrs = json_tokener_parse(a.pcrs_json), *doc = json_object_new_array();
        free(a.pcrs_json);
        char exp[32];
        time_t t = time(NULL) + (time_t)days * 86400;
        struct tm tm;
        strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        if (!pcrs || !doc)
                return json_object_put(pcrs), json_object_put(doc), -ENOMEM;
        printf("approving the values machine %s's event log replayed to (session %s):\n", a.machine_id, session);
        json_object_object_foreach(pcrs, k, v)
        {
                char name[16];
                json_object *e = json_object_new_object(), *vals = json_object_new_array();
                snprintf(name, sizeof(name), "tpm_pcr%s", k);
                json_object_array_add(vals, json_object_get(v));
                json_object_object_add(e, "version", json_object_new_string(REF_VERSION));
                json_object_object_add(e, "name", json_object_new_string(name));
                json_object_object_add(e, "expiration", json_object_new_string(exp));
                json_object_object_add(e, "value", vals);
                json_object_array_add(doc, e);
                printf("  PCR %-2s %s\n", k, json_object_get_string(v));
        }
        *ret = strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
        json_object_put(doc);
        json_object_put(pcrs);
        return *ret ? 0 : -ENOMEM;
}

static int image_approve(struct store *s, int argc, char **argv)
{
        static const struct option opts[] = { { "name", required_argument, NULL, 'n' },
                                               { "from-evidence", required_argument, NULL, 'e' },
                                               { "days", required_argument, NULL, 'd' },
                                               { NULL, 0, NULL, 0 } };
        const char *name = NULL, *session = NULL;
        unsigned long days = 365;
        char *end;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c == 'n')
                        name = optarg;
                else if (c == 'e')
                        session = optarg;
                else if (c == 'd' && ((days = strtoul(optarg, &end, 10)) == 0 || *end || days > 3650))
                        return usage_error("--days %s: expected 1 to 3650", optarg);
                else if (c != 'd')
                        return 2;
        }
        if (!name || (session ? optind != argc : optind != argc - 1))
                return usage_error("image approve needs FILE (or --from-evidence SESSION) and --name NAME");
        const char *file = session ? session : argv[optind];
        _cleanup_free_ char *doc = NULL;
        size_t len;
        char why[256];
        int r = session ? evidence_document(s, session, (unsigned)days, &doc) : read_file_all(file, REF_DOC_MAX, &doc, &len);
        if (r < 0 && session)
                return 1;
        if (session)
                len = strlen(doc);
        if (r < 0)
                return fprintf(stderr, "emberctl: reading %s failed: %s\n", file,
                               r == -EFBIG || r == -E2BIG ? "larger than 1 MiB" : strerror(-r)), 1;
        struct ref_image *img = calloc(1, sizeof(*img));
        if (!img)
                return 1;
        r = ref_parse(doc, len, img, why, sizeof(why));
        if (r < 0) {
                free(img);
                return fprintf(stderr, "emberctl: %s: %s\n", file, why), 1;
        }
        /* stored canonical: the same values approve the same image */
        _cleanup_free_ char *canon = ref_export(img);
        uint8_t digest[STORE_HASH_LEN];
        size_t paths = img->n_paths;
        uint32_t sel = ref_selection(img);
        free(img);
        if (!canon)
                return 1;
        mbedtls_sha256_ret((const unsigned char *)canon, strlen(canon), digest, 0);
        char source[128];
        snprintf(source, sizeof(source), "%s %s", session ? "evidence" : "file", file);
        struct approval a;
        if ((r = s->ops->approve(s, name, digest, canon, source, now_s(), &a)) < 0)
                return fprintf(stderr, "emberctl: storing the approval failed: %s\n", strerror(-r)), 1;
        char detail[200], pcrs[80] = "";
        for (int p = 0; p < REF_PCRS; p++)
                if (sel & (1u << p))
                        snprintf(pcrs + strlen(pcrs), sizeof(pcrs) - strlen(pcrs), "%s%d", pcrs[0] ? "," : "", p);
        snprintf(detail, sizeof(detail), "%s: %zu boot path(s), PCRs %s, approval %s", name, paths, pcrs, a.id);
        (void)s->ops->audit(s, now_s(), "operator", "image.approve", a.image_id, detail);
        printf("image %s (%s) approved: %zu boot path(s) over PCRs %s\napproval %s\n", a.image_id, name, paths, pcrs, a.id);
        return 0;
}

static int list_image(const struct image *img, void *ud)
{
        char d[2 * STORE_HASH_LEN + 1];
        hex(img->digest, STORE_HASH_LEN, d);
        (*(unsigned *)ud)++;
        printf("%s  %-24s  %u approval(s)  values %.16s…\n", img->id, img->name, img->approvals, d);
        return 0;
}

struct show_ctx {
        const char *id;
        bool found;
};

static int show_image(const struct image *img, void *ud)
{
        struct show_ctx *c = ud;
        if (streq(img->id, c->id)) {
                printf("%s\n", img->refvalues);
                c->found = true;
        }
        return 0;
}

static int cmd_image(struct store *s, int argc, char **argv)
{
        if (argc < 2)
                return usage_error("image needs a subcommand");
        const char *sub = argv[1];
        if (streq(sub, "approve"))
                return image_approve(s, argc - 1, argv + 1);
        if (streq(sub, "list")) {
                unsigned n = 0;
                int r = s->ops->image_list(s, list_image, &n);
                if (r >= 0 && n == 0)
                        printf("no approved images: no node can attest\n");
                return r < 0 ? 1 : 0;
        }
        if (argc != 3)
                return usage_error("image %s needs one id", sub);
        if (streq(sub, "show")) {
                struct show_ctx c = { argv[2], false };
                if (s->ops->image_list(s, show_image, &c) < 0)
                        return 1;
                return c.found ? 0 : (fprintf(stderr, "emberctl: no approved image %s\n", argv[2]), 1);
        }
        if (streq(sub, "remove")) {
                int r = s->ops->unapprove(s, argv[2]);
                if (r < 0)
                        return fprintf(stderr, "emberctl: %s\n", r == -ENOENT ? "no such approval" : strerror(-r)), 1;
                (void)s->ops->audit(s, now_s(), "operator", "image.remove", argv[2], NULL);
                printf("approval %s removed\n", argv[2]);
                return 0;
        }
        return usage_error("unknown image subcommand '%s'", sub);
}

/* ---- CAs trusted for EK certificates ---------------------------------- */

static void date_of(int64_t t, char *out, size_t len)
{
        time_t tt = (time_t)t;
        struct tm tm;
        if (!gmtime_r(&tt, &tm) || strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(out, len, "?");
}

struct ca_new {
        uint8_t *der;
        size_t len;
        struct ekcert_info info;
        const char *file;
};

struct ca_batch {
        struct ca_new *v;
        size_t n;
        const char *file;
        unsigned index; /* of the certificate in the file, from 1 */
        int cert_err;   /* the failure was about one certificate, not the file */
        char why[300];
};

static int collect_ca(const uint8_t *der, size_t len, void *ud)
{
        struct ca_batch *b = ud;
        struct ekcert_info info;
        b->index++;
        int r = ekcert_ca_info(der, len, &info, b->why, sizeof(b->why));
        if (r < 0)
                return b->cert_err = r;
        struct ca_new *v = reallocarray(b->v, b->n + 1, sizeof(*v));
        if (!v)
                return snprintf(b->why, sizeof(b->why), "out of memory"), -ENOMEM;
        b->v = v;
        v[b->n] = (struct ca_new){ .der = malloc(len), .len = len, .info = info, .file = b->file };
        if (!v[b->n].der)
                return snprintf(b->why, sizeof(b->why), "out of memory"), -ENOMEM;
        memcpy(v[b->n].der, der, len);
        b->n++;
        return 0;
}

struct issuer_ctx {
        const char *issuer;
        bool found;
};

static int has_subject(const struct ek_ca *ca, void *ud)
{
        struct issuer_ctx *c = ud;
        struct ekcert_info i;
        if (ekcert_ca_info(ca->der, ca->der_len, &i, NULL, 0) == 0 && streq(i.subject, c->issuer))
                c->found = true;
        return 0;
}

/* Every file is read and every certificate checked before anything is
 * added: one bad certificate adds none. */
static int ek_ca_add(struct store *s, int argc, char **argv)
{
        struct ca_batch b = { 0 };
        int ret = 0;
        if (argc < 1)
                return usage_error("ek-ca add needs at least one FILE");
        for (int i = 0; i < argc && ret == 0; i++) {
                _cleanup_free_ char *buf = NULL;
                size_t len;
                int r = read_file_all(argv[i], CA_FILE_MAX, &buf, &len);
                if (r < 0) {
                        fprintf(stderr, "emberctl: reading %s failed: %s\n", argv[i],
                                r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
                        ret = 1;
                        break;
                }
                b.file = argv[i];
                b.index = 0;
                b.cert_err = 0;
                bool pem = memmem(buf, len, "-----BEGIN ", 11) != NULL;
                if (ekcert_split((const uint8_t *)buf, len, collect_ca, &b, b.why, sizeof(b.why)) < 0) {
                        if (!pem && b.cert_err == -EBADMSG)
                                fprintf(stderr, "emberctl: %s: neither PEM nor a DER certificate: %s\n", argv[i], b.why);
                        else if (b.cert_err)
                                fprintf(stderr, "emberctl: %s: certificate %u: %s\n", argv[i], b.index, b.why);
                        else
                                fprintf(stderr, "emberctl: %s: %s\n", argv[i], b.why);
                        ret = 1;
                }
        }
        for (size_t i = 0; i < b.n && ret == 0; i++) {
                const struct ekcert_info *in = &b.v[i].info;
                const char *kind = in->self_issued ? "root" : "intermediate";
                char until[32], detail[600];
                struct ek_ca ca = { .not_after = in->not_after, .added = now_s(), .der = b.v[i].der, .der_len = b.v[i].len };
                snprintf(ca.id, sizeof(ca.id), "%s", in->id);
                snprintf(ca.subject, sizeof(ca.subject), "%s", in->subject);
                date_of(in->not_after, until, sizeof(until));
                int r = s->ops->ek_ca_add(s, &ca);
                if (r == -EEXIST) {
                        printf("ek-ca %.16s already trusted: %s %s\n", in->id, kind, in->subject);
                        continue;
                }
                if (r < 0) {
                        fprintf(stderr, "emberctl: storing EK CA %.16s failed: %s\n", in->id, strerror(-r));
                        ret = 1;
                        break;
                }
                snprintf(detail, sizeof(detail), "%s %s, not after %s, from %s", kind, in->subject, until, b.v[i].file);
                (void)s->ops->audit(s, now_s(), "operator", "ek-ca.add", in->id, detail);
                printf("ek-ca %.16s added: %s %s (until %s)\n", in->id, kind, in->subject, until);
                if (in->not_after < now_s())
                        printf("warning: ek-ca %.16s expired on %s: it verifies no certificate\n", in->id, until);
        }
        /* an intermediate counts only with a path up to a root */
        for (size_t i = 0; i < b.n && ret == 0; i++) {
                struct issuer_ctx c = { b.v[i].info.issuer, false };
                if (!b.v[i].info.self_issued && s->ops->ek_ca_list(s, has_subject, &c) == 0 && !c.found)
                        printf("note: no trusted CA is %s, the issuer of intermediate %.16s: EK certificates under it "
                               "do not count until it is added\n",
                               b.v[i].info.issuer, b.v[i].info.id);
        }
        for (size_t i = 0; i < b.n; i++)
                free(b.v[i].der);
        free(b.v);
        return ret;
}

static int list_ek_ca(const struct ek_ca *ca, void *ud)
{
        struct ekcert_info i;
        char until[32], added[32];
        (*(unsigned *)ud)++;
        date_of(ca->not_after, until, sizeof(until));
        date_of(ca->added, added, sizeof(added));
        const char *kind = ekcert_ca_info(ca->der, ca->der_len, &i, NULL, 0) < 0 ? "unreadable"
                           : i.self_issued                                      ? "root"
                                                                                : "intermediate";
        printf("%.16s  %-12s  %s %s  added %s  %s\n", ca->id, kind, ca->not_after < now_s() ? "EXPIRED" : "until  ", until,
               added, ca->subject);
        return 0;
}

struct find_ca {
        const char *prefix;
        char subject[256];
};

static int find_ek_ca(const struct ek_ca *ca, void *ud)
{
        struct find_ca *f = ud;
        if (startswith(ca->id, f->prefix))
                snprintf(f->subject, sizeof(f->subject), "%s", ca->subject);
        return 0;
}

static int ek_ca_remove(struct store *s, const char *id)
{
        size_t n = strlen(id);
        char full[STORE_CA_ID_LEN];
        if (n < 8 || n > 64 || strspn(id, "0123456789abcdef") != n)
                return usage_error("ek-ca remove: ID %s is not 8 to 64 lower-case hex digits (see 'emberctl ek-ca list')",
                                   id);
        struct find_ca f = { id, "" };
        (void)s->ops->ek_ca_list(s, find_ek_ca, &f);
        int r = s->ops->ek_ca_remove(s, id, full);
        if (r == -ENOENT)
                return fprintf(stderr, "emberctl: no trusted EK CA %s\n", id), 1;
        if (r == -ENOTUNIQ)
                return fprintf(stderr, "emberctl: %s names several EK CAs: give more digits\n", id), 1;
        if (r < 0)
                return fprintf(stderr, "emberctl: removing EK CA %s failed: %s\n", id, strerror(-r)), 1;
        (void)s->ops->audit(s, now_s(), "operator", "ek-ca.remove", full, f.subject);
        printf("ek-ca %.16s removed: %s\n", full, f.subject);
        return 0;
}

static int cmd_ek_ca(struct store *s, int argc, char **argv)
{
        if (argc < 2)
                return usage_error("ek-ca needs a subcommand: add, list or remove");
        const char *sub = argv[1];
        if (streq(sub, "add"))
                return ek_ca_add(s, argc - 2, argv + 2);
        if (streq(sub, "list")) {
                unsigned n = 0;
                if (argc != 2)
                        return usage_error("ek-ca list takes no argument");
                int r = s->ops->ek_ca_list(s, list_ek_ca, &n);
                if (r >= 0 && n == 0)
                        printf("no trusted EK CAs: EK certificates enrol no machine\n");
                return r < 0 ? 1 : 0;
        }
        if (streq(sub, "remove"))
                return argc == 3 ? ek_ca_remove(s, argv[2]) : usage_error("ek-ca remove needs one ID");
        return usage_error("unknown ek-ca subcommand '%s'", sub);
}

static int server_init(int argc, char **argv)
{
        static const struct option opts[] = { { "dir", required_argument, NULL, 'd' },
                                               { "name", required_argument, NULL, 'n' },
                                               { "days", required_argument, NULL, 'D' },
                                               { NULL, 0, NULL, 0 } };
        const char *dir = NULL, *names[16];
        size_t n = 0;
        unsigned long days = 825; /* what browsers accept for a server certificate */
        char why[300], *end, path[4200], pin[PKI_PIN_LEN];
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c == 'd')
                        dir = optarg;
                else if (c == 'n' && n < ELEMENTSOF(names))
                        names[n++] = optarg;
                else if (c == 'n')
                        return usage_error("at most %zu --name", ELEMENTSOF(names));
                else if (c == 'D' && ((days = strtoul(optarg, &end, 10)) == 0 || *end || days > 3650))
                        return usage_error("--days %s: expected 1 to 3650", optarg);
                else if (c != 'D')
                        return 2;
        }
        if (!dir || n == 0 || optind != argc)
                return usage_error("server init needs --dir DIR and at least one --name");
        if (pki_init(dir, names, n, (unsigned)days, why, sizeof(why)) < 0)
                return fprintf(stderr, "emberctl: %s\n", why), 1;
        snprintf(path, sizeof(path), "%s/attestd.db", dir);
        struct store *s;
        if (store_open_sqlite(path, &s) < 0)
                return fprintf(stderr, "emberctl: creating %s failed\n", path), 1;
        (void)s->ops->audit(s, now_s(), "operator", "server.init", dir, names[0]);
        store_close(s);
        snprintf(path, sizeof(path), "%s/server.crt", dir);
        if (pki_pin_of_cert(path, pin, why, sizeof(why)) < 0)
                return fprintf(stderr, "emberctl: %s\n", why), 1;
        printf("keys and database in %s\npin %s\n", dir, pin);
        return 0;
}

static int print_line(const char *line, void *ud)
{
        printf("%s\n", line);
        return 0;
}

int main(int argc, char **argv)
{
        const char *db = getenv("EMBER_DB") ? getenv("EMBER_DB") : DEFAULT_DB;
        int i = 1;
        for (; i < argc && argv[i][0] == '-'; i++) {
                if (streq(argv[i], "--help") || streq(argv[i], "-h"))
                        return fputs(usage_text, stdout), 0;
                if (streq(argv[i], "--db") && i + 1 < argc)
                        db = argv[++i];
                else
                        return usage_error("unknown option '%s'", argv[i]);
        }
        if (i >= argc)
                return fputs(usage_text, stderr), 2;
        const char *cmd = argv[i];
        if (streq(cmd, "server"))
                return i + 1 < argc && streq(argv[i + 1], "init") ? server_init(argc - i - 1, argv + i + 1)
                                                                   : usage_error("server: the only subcommand is init");
        if (streq(cmd, "ipxe"))
                return ipxe_command(argc - i, argv + i); /* no database: it only writes a file */
        if (streq(cmd, "release"))
                return release_command(argc - i, argv + i); /* no database: files only */
        if (streq(cmd, "image") && i + 1 < argc && streq(argv[i + 1], "site"))
                return site_command(argc - i - 1, argv + i + 1); /* no database: it only writes a file */
        /* sealing, inspecting and applying need no database; the server's
         * side of overlays does */
        if (streq(cmd, "overlay") && !(i + 1 < argc && overlay_admin_handles(argv[i + 1])))
                return overlay_command(argc - i, argv + i);
        if (!streq(cmd, "machine") && !streq(cmd, "image") && !streq(cmd, "ek-ca") && !streq(cmd, "audit") &&
            !streq(cmd, "overlay"))
                return usage_error("unknown command '%s'", cmd);
        for (int k = i + 1; k < argc; k++)
                if (streq(cmd, "ek-ca") && (streq(argv[k], "--help") || streq(argv[k], "-h")))
                        return fputs(usage_text, stdout), 0;
        struct store *s;
        if (store_open_sqlite(db, &s) < 0)
                return fprintf(stderr, "emberctl: cannot open the database %s\n", db), 1;
        int r = streq(cmd, "machine") ? cmd_machine(s, argc - i, argv + i)
                : streq(cmd, "image")  ? cmd_image(s, argc - i, argv + i)
                : streq(cmd, "ek-ca")  ? cmd_ek_ca(s, argc - i, argv + i)
                : streq(cmd, "overlay") ? overlay_admin_command(s, db, argc - i - 1, argv + i + 1)
                                       : (s->ops->audit_list(s, print_line, NULL) < 0 ? 1 : 0);
        store_close(s);
        return r;
}
