/* SPDX-License-Identifier: Apache-2.0 */
#include "cmdline.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdarg.h>

#include "ek_type.h"
#include "ifchoice.h"
#include "ipconfig.h"
#include "log.h"
#include "util.h"

void cmdline_free(struct cmdline *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++) {
                free(c->params[i].key);
                free(c->params[i].value);
        }
        free(c->params);
        c->params = NULL;
        c->n = 0;
}

/* One parameter starting at text[*pos]; mirrors the kernel's next_arg(). */
static int split_one(const char *text, size_t len, size_t *pos, struct cmdline_param *ret)
{
        size_t start = *pos, i = *pos, eq = SIZE_MAX;
        bool in_quote = false, quoted = false;

        if (text[i] == '"') {
                start = ++i;
                in_quote = quoted = true;
        }
        for (; i < len; i++) {
                if (isspace((unsigned char)text[i]) && !in_quote)
                        break;
                if (text[i] == '"')
                        in_quote = !in_quote;
                else if (text[i] == '=' && eq == SIZE_MAX)
                        eq = i;
        }
        *pos = i;

        size_t end = i;
        if (quoted && end > start && text[end - 1] == '"')
                end--;
        size_t key_end = eq == SIZE_MAX || eq >= end ? end : eq;
        _cleanup_free_ char *key = strndup(text + start, key_end - start);
        if (!key)
                return -ENOMEM;
        _cleanup_free_ char *value = NULL;
        if (key_end < end) {
                size_t vs = key_end + 1, ve = end;
                if (vs < ve && text[vs] == '"') {
                        vs++;
                        if (ve > vs && text[ve - 1] == '"')
                                ve--;
                }
                value = strndup(text + vs, ve - vs);
                if (!value)
                        return -ENOMEM;
        }
        ret->key = TAKE_PTR(key);
        ret->value = TAKE_PTR(value);
        return 0;
}

int cmdline_split(const char *text, size_t len, struct cmdline *ret)
{
        struct cmdline c = { 0 };
        size_t pos = 0;

        if (!text || !ret)
                return -EINVAL;
        if (len > CMDLINE_MAX)
                return -E2BIG;
        if (memchr(text, '\0', len))
                len = strlen(text);

        c.params = calloc(CMDLINE_MAX_PARAMS, sizeof(*c.params));
        if (!c.params)
                return -ENOMEM;
        for (;;) {
                while (pos < len && isspace((unsigned char)text[pos]))
                        pos++;
                if (pos >= len)
                        break;
                if (c.n == CMDLINE_MAX_PARAMS) {
                        cmdline_free(&c);
                        return -E2BIG;
                }
                int r = split_one(text, len, &pos, &c.params[c.n]);
                if (r < 0) {
                        cmdline_free(&c);
                        return r;
                }
                if (streq(c.params[c.n].key, "--") && !c.params[c.n].value) {
                        free(c.params[c.n].key);
                        c.params[c.n].key = NULL;
                        break;
                }
                c.n++;
        }
        *ret = c;
        return 0;
}

void config_init(struct ember_config *cfg)
{
        *cfg = (struct ember_config){
                .ready_timeout_s = 900,
                .backoff_base_s = 10,
                .backoff_cap_s = 600,
                .watchdog_s = 60,
                .stop_after = _STAGE_INVALID,
                .root_size_kind = SIZE_PERCENT,
                .root_size = 50,
                .debug_hang_after = _STAGE_INVALID,
        };
}

void config_free(struct ember_config *cfg)
{
        free(cfg->attest_url);
        free(cfg->debug_show);
        free(cfg->boot_url);
        free(cfg->proxy);
        free(cfg->ifname);
        free(cfg->ip);
        free(cfg->vlan);
        config_init(cfg);
}

static void diag_add(struct diag_list *d, enum diag_level lvl, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void diag_add(struct diag_list *d, enum diag_level lvl, const char *fmt, ...)
{
        if (d->n == ELEMENTSOF(d->items)) {
                d->dropped++;
                return;
        }
        va_list ap;
        va_start(ap, fmt);
        d->items[d->n].level = lvl;
        vsnprintf(d->items[d->n].msg, sizeof(d->items[d->n].msg), fmt, ap);
        va_end(ap);
        d->n++;
}

static bool printable(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
                        return false;
        return true;
}

int parse_size(const char *s, enum size_kind *ret_kind, uint64_t *ret_value)
{
        char *end;
        if (!s || !isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || v == 0)
                return -EINVAL;
        if (streq(end, "%")) {
                if (v > 100)
                        return -ERANGE;
                *ret_kind = SIZE_PERCENT;
                *ret_value = v;
                return 0;
        }
        unsigned shift = 0;
        if (streq(end, "K") || streq(end, "k"))
                shift = 10;
        else if (streq(end, "M") || streq(end, "m"))
                shift = 20;
        else if (streq(end, "G") || streq(end, "g"))
                shift = 30;
        else if (*end)
                return -EINVAL;
        if (v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret_kind = SIZE_BYTES;
        *ret_value = (uint64_t)v << shift;
        return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
        char *end;
        if (!s || !isdigit((unsigned char)*s))
                return -EINVAL;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = (unsigned)v;
        return 0;
}

/* "01-aa-bb-cc-dd-ee-ff": hardware type 1 (Ethernet), then the MAC. */
static int parse_bootif(const char *s, uint8_t mac[6])
{
        unsigned b[7];
        char tail;
        if (!s || strlen(s) != 20)
                return -EINVAL;
        if (sscanf(s, "%2x-%2x-%2x-%2x-%2x-%2x-%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6],
                   &tail) != 7)
                return -EINVAL;
        for (int i = 0; i < 20; i++)
                if ((i % 3 == 2) != (s[i] == '-'))
                        return -EINVAL;
        if (b[0] != 1)
                return -EPROTONOSUPPORT;
        for (int i = 0; i < 6; i++)
                mac[i] = (uint8_t)b[i + 1];
        return 0;
}

static bool valid_ifname(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 15 || streq(s, ".") || streq(s, ".."))
                return false;
        for (; *s; s++)
                if (*s == '/' || *s == ':' || !isgraph((unsigned char)*s))
                        return false;
        return true;
}

static bool valid_url(const char *s, bool https_only)
{
        const char *rest = startswith(s, "https://");
        if (!rest && !https_only)
                rest = startswith(s, "http://");
        return rest && *rest && *rest != '/' && strlen(s) < 2048;
}

static int set_string(char **dst, const char *v)
{
        char *c = strdup(v);
        if (!c)
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

/* One handler per key. It returns 0, or -errno with why holding a short
 * reason; -ENOMEM goes past the diagnostics. */
#define WHY_MAX 160
typedef int (*key_fn)(struct ember_config *cfg, const char *v, char why[WHY_MAX]);

/* The reason a value was refused; returns -EINVAL for the handler. */
static int refuse(char why[WHY_MAX], const char *reason)
{
        snprintf(why, WHY_MAX, "%s", reason);
        return -EINVAL;
}

static int key_attest_url(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        if (!valid_url(v, true))
                return refuse(why, "must be an https:// URL");
        return set_string(&cfg->attest_url, v);
}

static int key_attest_ek(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        enum attest_ek t;
        if (attest_ek_from_string(v, &t) < 0)
                return refuse(why, "expected auto, rsa, ecc256 or ecc384");
        cfg->attest_ek = (int)t;
        return 0;
}

static int key_boot_url(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        if (!valid_url(v, false))
                return refuse(why, "must be an http:// or https:// URL");
        return set_string(&cfg->boot_url, v);
}

static int key_proxy(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        if (!startswith(v, "http://") || !valid_url(v, false))
                return refuse(why, "must be an http:// URL of the proxy (http://[user:password@]host:port)");
        return set_string(&cfg->proxy, v);
}

static int key_acd(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        if (streq(v, "fast"))
                cfg->acd = ACD_MODE_FAST;
        else if (streq(v, "rfc5227"))
                cfg->acd = ACD_MODE_RFC5227;
        else if (streq(v, "off"))
                cfg->acd = ACD_MODE_OFF;
        else
                return refuse(why, "expected fast, rfc5227 or off");
        return 0;
}

static int key_ifname(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        if (!valid_ifname(v))
                return refuse(why, "not a valid interface name (1-15 characters, no '/' or ':')");
        return set_string(&cfg->ifname, v);
}

static int key_ip(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        struct ip_config ic;
        if (ip_config_parse(v, &ic, why, WHY_MAX) < 0)
                return -EINVAL;
        return set_string(&cfg->ip, v);
}

static int key_vlan(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        struct vlan_spec vs;
        if (vlan_parse(v, &vs) < 0)
                return refuse(why, "expected <name>:<parent> with a VLAN id 1-4094 (eth0.42:eth0 or vlan42:eth0)");
        return set_string(&cfg->vlan, v);
}

static int key_bootif(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        int r = parse_bootif(v, cfg->bootif);
        if (r == -EPROTONOSUPPORT)
                return refuse(why, "only hardware type 01 (Ethernet) is supported");
        if (r < 0)
                return refuse(why, "expected 01-aa-bb-cc-dd-ee-ff");
        cfg->have_bootif = true;
        return 0;
}

static int key_ready_timeout(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        if (parse_uint(v, 10, 86400, &cfg->ready_timeout_s) < 0)
                return refuse(why, "expected whole seconds from 10 to 86400");
        return 0;
}

static int key_backoff(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        const char *comma = strchr(v, ',');
        char base[16];
        unsigned b, c;
        if ((comma ? (size_t)(comma - v) : strlen(v)) >= sizeof(base))
                return refuse(why, "expected BASE[,CAP] in whole seconds");
        snprintf(base, sizeof(base), "%.*s", comma ? (int)(comma - v) : (int)strlen(v), v);
        if (parse_uint(base, 1, 3600, &b) < 0)
                return refuse(why, "expected BASE[,CAP]: BASE from 1 to 3600 seconds");
        c = b > cfg->backoff_cap_s ? b : cfg->backoff_cap_s;
        if (comma && (parse_uint(comma + 1, 1, 86400, &c) < 0 || c < b))
                return refuse(why, "expected BASE[,CAP]: CAP from BASE to 86400 seconds");
        cfg->backoff_base_s = b;
        cfg->backoff_cap_s = c;
        return 0;
}

static int key_watchdog(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        if (parse_uint(v, 2, 600, &cfg->watchdog_s) < 0)
                return refuse(why, "expected whole seconds from 2 to 600");
        return 0;
}

/* A switch: present alone or =1 turns it on, =0 off. */
static int set_flag(bool *flag, const char *v, char why[WHY_MAX])
{
        if (v && !streq(v, "1") && !streq(v, "0"))
                return refuse(why, "takes no value (or 0/1)");
        *flag = !v || streq(v, "1");
        return 0;
}

static int key_debug(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        return set_flag(&cfg->debug, v, why);
}

static int key_rke2_console(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        return set_flag(&cfg->rke2_console, v, why);
}

static int key_stop_after(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        enum stage s = stage_from_name(v);
        if (s == _STAGE_INVALID)
                return refuse(why, "not a stage name (early, rootfs, mounts, modules, network, attest, overlay, "
                              "rke2, ready, lkg)");
        cfg->stop_after = s;
        return 0;
}

static int key_root_size(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        enum size_kind k;
        uint64_t n;
        if (parse_size(v, &k, &n) < 0 || (k == SIZE_PERCENT && (n < 10 || n > 90)) ||
            (k == SIZE_BYTES && n < (64ULL << 20)))
                return refuse(why, "expected 10%-90% of RAM or a size of at least 64M (K, M, G suffixes)");
        cfg->root_size_kind = k;
        cfg->root_size = n;
        return 0;
}

static int key_debug_hang(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        enum stage s = stage_from_name(v);
        if (s == _STAGE_INVALID)
                return refuse(why, "not a stage name");
        cfg->debug_hang_after = s;
        return 0;
}

static int key_debug_show(struct ember_config *cfg, const char *v, char why[WHY_MAX])
{
        if (v[0] != '/' || strlen(v) > 1024)
                return refuse(why, "expected absolute paths separated by ','");
        return set_string(&cfg->debug_show, v);
}

static const struct {
        const char *key;
        key_fn fn;
        bool needs_value;
        bool debug_image_only;
} keys[] = {
        { "ember.attest_url", key_attest_url, true, false },
        { "ember.attest_ek", key_attest_ek, true, false },
        { "ember.boot_url", key_boot_url, true, false },
        { "ember.ifname", key_ifname, true, false },
        { "ember.proxy", key_proxy, true, false },
        { "ember.acd", key_acd, true, false },
        { "ember.ready_timeout", key_ready_timeout, true, false },
        { "ember.watchdog", key_watchdog, true, false },
        { "ember.backoff", key_backoff, true, false },
        { "ember.debug", key_debug, false, false },
        { "ember.rke2_console", key_rke2_console, false, false },
        { "ember.stop_after", key_stop_after, true, false },
        { "ember.root_size", key_root_size, true, false },
        { "ember.debug_hang_after", key_debug_hang, true, true },
        { "ember.debug_show", key_debug_show, true, true },
        { "BOOTIF", key_bootif, true, false },
        { "ip", key_ip, true, false },
        { "vlan", key_vlan, true, false },
};

/* The kernel treats '-' and '_' in parameter names alike; so do we. */
static void normalize_key(const char *in, char *out, size_t outlen)
{
        size_t i = 0;
        for (; in[i] && i + 1 < outlen; i++)
                out[i] = in[i] == '-' ? '_' : in[i];
        out[i] = '\0';
}

static int apply_one(struct ember_config *cfg, const struct cmdline_param *p, bool debug_image,
                     struct diag_list *diags, bool *seen)
{
        char key[64], esc[200];
        normalize_key(p->key, key, sizeof(key));

        for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                if (!streq(keys[k].key, key))
                        continue;
                if (keys[k].debug_image_only && !debug_image) {
                        diag_add(diags, DIAG_WARN, "%s is only honoured by debug images, ignoring", keys[k].key);
                        return 0;
                }
                if (seen[k])
                        diag_add(diags, DIAG_WARN, "%s given more than once, the last one wins", keys[k].key);
                seen[k] = true;
                if (keys[k].needs_value && (!p->value || !*p->value)) {
                        diag_add(diags, DIAG_ERR, "%s: missing value", keys[k].key);
                        return 1;
                }
                if (p->value && !printable(p->value)) {
                        diag_add(diags, DIAG_ERR, "%s: value contains blanks or control characters",
                                 keys[k].key);
                        return 1;
                }
                char why[WHY_MAX] = "invalid";
                int r = keys[k].fn(cfg, p->value, why);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        diag_add(diags, DIAG_ERR, "%s=%s: %s", keys[k].key,
                                 log_escape(p->value, esc, sizeof(esc)), why);
                        return 1;
                }
                return 0;
        }
        if (startswith(key, "ember."))
                diag_add(diags, DIAG_WARN, "unknown parameter %s, ignoring",
                         log_escape(p->key, esc, sizeof(esc)));
        return 0;
}

int config_apply_cmdline(struct ember_config *cfg, const struct cmdline *c, bool debug_image,
                         struct diag_list *diags)
{
        bool seen[ELEMENTSOF(keys)] = { false };
        int errors = 0;

        for (size_t i = 0; i < c->n; i++) {
                int r = apply_one(cfg, &c->params[i], debug_image, diags, seen);
                if (r < 0)
                        return r;
                errors += r;
        }
        if (!cfg->attest_url)
                diag_add(diags, DIAG_WARN, "ember.attest_url is not set: the attest stage will fail");
        return errors;
}

static void json_add_str(json_object *o, const char *k, const char *v)
{
        json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

char *url_redact(const char *url)
{
        const char *auth = strstr(url, "://");
        const char *start = auth ? auth + 3 : url;
        size_t hostlen = strcspn(start, "/?#");
        const char *at = memrchr(start, '@', hostlen);
        if (!at)
                return strdup(url);
        char *ret = NULL;
        if (asprintf(&ret, "%.*s***%s", (int)(start - url), url, at) < 0)
                return NULL;
        return ret;
}

char *config_to_json(const struct ember_config *cfg, bool pretty)
{
        json_object *o = json_object_new_object();
        char mac[18], size[32];
        if (!o)
                return NULL;
        json_add_str(o, "attest_url", cfg->attest_url);
        json_add_str(o, "attest_ek", attest_ek_to_string((enum attest_ek)cfg->attest_ek));
        json_add_str(o, "boot_url", cfg->boot_url);
        _cleanup_free_ char *proxy = cfg->proxy ? url_redact(cfg->proxy) : NULL;
        json_add_str(o, "proxy", proxy);
        static const char *const acd_names[] = { "fast", "rfc5227", "off" };
        json_add_str(o, "acd", acd_names[cfg->acd]);
        json_add_str(o, "ifname", cfg->ifname);
        json_add_str(o, "ip", cfg->ip);
        json_add_str(o, "vlan", cfg->vlan);
        if (cfg->have_bootif) {
                snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", cfg->bootif[0], cfg->bootif[1],
                         cfg->bootif[2], cfg->bootif[3], cfg->bootif[4], cfg->bootif[5]);
                json_add_str(o, "bootif", mac);
        } else
                json_add_str(o, "bootif", NULL);
        json_object_object_add(o, "ready_timeout", json_object_new_int64(cfg->ready_timeout_s));
        json_object_object_add(o, "backoff_base", json_object_new_int64(cfg->backoff_base_s));
        json_object_object_add(o, "backoff_cap", json_object_new_int64(cfg->backoff_cap_s));
        json_object_object_add(o, "watchdog", json_object_new_int64(cfg->watchdog_s));
        json_object_object_add(o, "debug", json_object_new_boolean(cfg->debug));
        json_object_object_add(o, "rke2_console", json_object_new_boolean(cfg->rke2_console));
        json_add_str(o, "stop_after", cfg->stop_after == _STAGE_INVALID ? NULL : stage_name(cfg->stop_after));
        if (cfg->root_size_kind == SIZE_PERCENT)
                snprintf(size, sizeof(size), "%llu%%", (unsigned long long)cfg->root_size);
        else
                snprintf(size, sizeof(size), "%llu", (unsigned long long)cfg->root_size);
        json_add_str(o, "root_size", size);
        json_add_str(o, "debug_hang_after",
                     cfg->debug_hang_after == _STAGE_INVALID ? NULL : stage_name(cfg->debug_hang_after));

        const char *s = json_object_to_json_string_ext(
                o, (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN) |
                           JSON_C_TO_STRING_NOSLASHESCAPE);
        char *ret = s ? strdup(s) : NULL;
        json_object_put(o);
        return ret;
}
