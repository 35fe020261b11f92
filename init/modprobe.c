/* SPDX-License-Identifier: Apache-2.0 */
/* /init as `modprobe` (the image's /sbin/modprobe is a symlink to /init).
 * Who runs it on a node: rke2's agent (`modprobe -- NAME`, k3s syssetup),
 * iptables' extensions, and above all the kernel itself, which asks for
 * modules by alias (`modprobe -q -- fs-overlay`, `nft-chain-2-nat`,
 * `nfnetlink-subsys-11`, `ipt_MASQUERADE` …) through /proc/sys/kernel/modprobe.
 *
 * It loads with the same loader as the modules stage (kmod.h): the closure
 * of modules.dep in dependency order, names looked up as modules, then as
 * built-ins, then through modules.alias. Exit status like kmod's modprobe:
 * 0 loaded, already loaded or built in; 1 anything else. Options are the
 * ones those callers use; any other is refused by name, never ignored. */
#include <fnmatch.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "boot.h"
#include "fileio.h"
#include "kmod.h"
#include "util.h"

#define MODFILE_MAX (64u << 20)
#define ALIAS_LINE_MAX 1024

struct mp {
        bool quiet, verbose, dry_run, show_depends;
        char moddir[4096];
        struct moddb db;
        char *alias; /* modules.alias text, or NULL */
        size_t alias_len;
        unsigned char *state;
        size_t *order;
        size_t norder;
};

static const char usage[] =
        "Usage: modprobe [-q] [-v] [-n] [-D] [-b] [-d DIR] [-S VERSION] [--] NAME\n"
        "       modprobe -a [OPTIONS] [--] NAME...\n"
        "Loads kernel modules with their dependencies (modules.dep) into the kernel;\n"
        "NAME is a module, a built-in module or an alias from modules.alias.\n"
        "\n"
        "  -a, --all            every NAME is a module (not NAME and its parameters)\n"
        "  -q, --quiet          say nothing about a module that is not found\n"
        "  -v, --verbose        print each insmod\n"
        "  -n, --dry-run        load nothing (with -v: print what would be loaded)\n"
        "  -D, --show-depends   print the insmod lines of NAME's closure, load nothing\n"
        "  -b, --use-blacklist  accepted: Ember's image has no blacklist\n"
        "  -s, --syslog         accepted: messages go to stderr\n"
        "  -d, --dirname DIR    modules under DIR/lib/modules/VERSION\n"
        "  -S, --set-version V  that kernel version instead of the running one\n"
        "Exit 0 when every NAME is loaded, already loaded or built in; 1 otherwise.\n"
        "Not supported (refused): -r (removal), -C, -i, module parameters.\n";

static void say(const struct mp *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct mp *m, const char *fmt, ...)
{
        if (m->quiet)
                return;
        va_list ap;
        va_start(ap, fmt);
        fputs("modprobe: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

static int load_db(struct mp *m)
{
        char path[4200], err[256] = "";
        _cleanup_free_ char *dep = NULL, *builtin = NULL;
        size_t len;
        int r;
        snprintf(path, sizeof(path), "%s/modules.dep", m->moddir);
        if ((r = read_file_all(path, MODFILE_MAX, &dep, &len)) < 0) {
                fprintf(stderr, "modprobe: FATAL: reading %s failed: %s\n", path, strerror(-r));
                return r;
        }
        if ((r = moddb_parse_dep(&m->db, dep, len, err, sizeof(err))) < 0) {
                fprintf(stderr, "modprobe: FATAL: %s: %s\n", path, err);
                return r;
        }
        snprintf(path, sizeof(path), "%s/modules.builtin", m->moddir);
        if (read_file_all(path, MODFILE_MAX, &builtin, &len) == 0 && (r = moddb_parse_builtin(&m->db, builtin, len)) < 0)
                return r;
        snprintf(path, sizeof(path), "%s/modules.alias", m->moddir);
        r = read_file_all(path, MODFILE_MAX, &m->alias, &m->alias_len);
        if (r < 0 && r != -ENOENT) {
                fprintf(stderr, "modprobe: FATAL: reading %s failed: %s\n", path, strerror(-r));
                return r;
        }
        m->state = calloc(m->db.n + 1, 1);
        m->order = calloc(m->db.n + 1, sizeof(size_t));
        return m->state && m->order ? 0 : -ENOMEM;
}

/* kmod's alias_normalize: '-' reads as '_' except inside a [...] class. */
static int alias_normalize(const char *in, char *out, size_t len)
{
        bool in_class = false;
        size_t i = 0;
        for (; in[i]; i++) {
                if (i + 1 >= len)
                        return -ENAMETOOLONG;
                char c = in[i];
                if (c == '[')
                        in_class = true;
                else if (c == ']' && in_class)
                        in_class = false;
                else if (c == '-' && !in_class)
                        c = '_';
                out[i] = c;
        }
        out[i] = '\0';
        return in_class ? -EINVAL : 0;
}

/* The modules modules.alias maps name to, each passed to fn. Lines that
 * are not "alias PATTERN MODULE" are skipped. Returns how many matched. */
static int alias_lookup(const struct mp *m, const char *name, int (*fn)(struct mp *m, const char *mod), struct mp *mm,
                        int *failures)
{
        char want[ALIAS_LINE_MAX], line[ALIAS_LINE_MAX], pat[ALIAS_LINE_MAX];
        int matched = 0;
        if (!m->alias || alias_normalize(name, want, sizeof(want)) < 0)
                return 0;
        for (size_t off = 0; off < m->alias_len;) {
                const char *p = m->alias + off, *nl = memchr(p, '\n', m->alias_len - off);
                size_t n = nl ? (size_t)(nl - p) : m->alias_len - off;
                off += n + 1;
                if (n >= sizeof(line) || n < 6 || memcmp(p, "alias ", 6) != 0)
                        continue;
                memcpy(line, p, n);
                line[n] = '\0';
                char *save = NULL, *kw = strtok_r(line, " \t", &save), *glob = strtok_r(NULL, " \t", &save),
                     *mod = strtok_r(NULL, " \t", &save);
                if (!kw || !glob || !mod || strtok_r(NULL, " \t", &save) || alias_normalize(glob, pat, sizeof(pat)) < 0)
                        continue;
                if (fnmatch(pat, want, 0) != 0)
                        continue;
                matched++;
                if (fn(mm, mod) < 0)
                        (*failures)++;
        }
        return matched;
}

static bool sys_module_live(const char *name)
{
        char path[256], state[16] = "";
        snprintf(path, sizeof(path), "/sys/module/%s/initstate", name);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f || !fgets(state, sizeof(state), f))
                return false;
        return startswith(state, "live") || startswith(state, "coming");
}

/* One module from modules.dep and the part of its closure not yet done. */
static int load_module(struct mp *m, const char *name)
{
        char err[256] = "", path[4400];
        size_t first = m->norder;
        if (moddb_find(&m->db, name) < 0 && moddb_is_builtin(&m->db, name)) {
                if (m->show_depends)
                        printf("builtin %s\n", name);
                return 0;
        }
        int r = moddb_resolve(&m->db, name, m->state, m->order, &m->norder, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "modprobe: ERROR: %s\n", err);
                return r;
        }
        for (size_t i = first; i < m->norder; i++) {
                const struct moddep *d = &m->db.mods[m->order[i]];
                snprintf(path, sizeof(path), "%s/%s", m->moddir, d->path);
                if (m->show_depends) {
                        printf("insmod %s \n", path);
                        continue;
                }
                if (sys_module_live(d->name))
                        continue;
                if (m->verbose)
                        printf("insmod %s \n", path);
                if (m->dry_run)
                        continue;
                r = kmod_load_file(path);
                if (r < 0) {
                        fprintf(stderr, "modprobe: ERROR: could not insert '%s': %s\n", d->name, strerror(-r));
                        return r;
                }
        }
        return 0;
}

static int probe(struct mp *m, const char *name)
{
        char norm[128];
        int failures = 0;
        bool plain = module_name(name, norm, sizeof(norm)) == 0 && !strchr(name, '/') && !strchr(name, '.');
        if (plain && (moddb_find(&m->db, norm) >= 0 || moddb_is_builtin(&m->db, norm)))
                return load_module(m, norm);
        int matched = alias_lookup(m, name, load_module, m, &failures);
        if (matched > 0)
                return failures ? -EIO : 0;
        say(m, "FATAL: Module %s not found in directory %s", name, m->moddir);
        return -ENOENT;
}

int modprobe_main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "all", no_argument, NULL, 'a' },          { "quiet", no_argument, NULL, 'q' },
                { "verbose", no_argument, NULL, 'v' },      { "dry-run", no_argument, NULL, 'n' },
                { "show", no_argument, NULL, 'n' },         { "show-depends", no_argument, NULL, 'D' },
                { "use-blacklist", no_argument, NULL, 'b' }, { "syslog", no_argument, NULL, 's' },
                { "dirname", required_argument, NULL, 'd' }, { "set-version", required_argument, NULL, 'S' },
                { "remove", no_argument, NULL, 'r' },       { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },      { NULL, 0, NULL, 0 },
        };
        struct mp m = { 0 };
        const char *dirname = "", *release = NULL;
        bool all = false;
        struct utsname u;
        int c, ret = 0;

        opterr = 0;
        optind = 1;
        while ((c = getopt_long(argc, argv, ":aqvnDbsd:S:rhV", opts, NULL)) != -1) {
                switch (c) {
                case 'a': all = true; break;
                case 'q': m.quiet = true; break;
                case 'v': m.verbose = true; break;
                case 'n': m.dry_run = true; break;
                case 'D': m.show_depends = true; break;
                case 'b': case 's': break;
                case 'd': dirname = optarg; break;
                case 'S': release = optarg; break;
                case 'h': return fputs(usage, stdout), 0;
                case 'V': return printf("ember-init %s (modprobe)\n", EMBER_VERSION), 0;
                case 'r':
                        fprintf(stderr, "modprobe: removing modules (-r) is not supported by Ember's modprobe: nodes are "
                                "rebooted, not reconfigured\n");
                        return 1;
                case ':':
                        fprintf(stderr, "modprobe: option %s needs a value\n%s", argv[optind - 1], usage);
                        return 1;
                default:
                        if (optopt)
                                fprintf(stderr, "modprobe: unknown option -%c\n%s", optopt, usage);
                        else
                                fprintf(stderr, "modprobe: unknown option %s\n%s", argv[optind - 1], usage);
                        return 1;
                }
        }
        if (optind >= argc)
                return fprintf(stderr, "modprobe: FATAL: missing module name\n%s", usage), 1;
        if (!all && argc - optind > 1) {
                fprintf(stderr, "modprobe: module parameters (%s …) are not supported by Ember's modprobe; to load "
                        "several modules use -a\n", argv[optind + 1]);
                return 1;
        }
        if (!release) {
                if (uname(&u) < 0)
                        return fprintf(stderr, "modprobe: uname: %m\n"), 1;
                release = u.release;
        }
        if (strchr(release, '/') || (size_t)snprintf(m.moddir, sizeof(m.moddir), "%s/lib/modules/%s", dirname, release) >=
                                            sizeof(m.moddir))
                return fprintf(stderr, "modprobe: FATAL: bad kernel version or directory\n"), 1;
        if (load_db(&m) < 0)
                ret = 1;
        for (int i = optind; ret == 0 && i < argc; i++)
                if (probe(&m, argv[i]) < 0)
                        ret = 1;
        moddb_free(&m.db);
        free(m.alias);
        free(m.state);
        free(m.order);
        return ret;
}
