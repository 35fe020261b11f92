/* SPDX-License-Identifier: Apache-2.0 */
#include "ctl_ipxe.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "util.h"

#define DEFAULT_IPXE_EFI "ipxe-amd64.efi"
#define URL_MAX 512

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        if (err && errlen)
                vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* A character as it can be named in a message. */
static const char *show_char(unsigned char c, char buf[8])
{
        if (c > 0x20 && c < 0x7f)
                snprintf(buf, 8, "'%c'", c);
        else
                snprintf(buf, 8, "0x%02x", c);
        return buf;
}

/* What the script can carry without quoting: iPXE splits a command line at
 * blanks, expands ${…}, takes quotes and backslashes as quoting, && and ||
 * as operators and a leading # or : as a comment or a label; a newline ends
 * the command (and could start another). None of those may reach it. */
static bool script_safe(unsigned char c)
{
        return c > 0x20 && c < 0x7f && !strchr("\"'\\$&|;#{}`<>", c);
}

/* http(s)://HOST[:PORT][/PATH] with only the characters a URL needs here:
 * no query or fragment (the file names are appended to it). */
static int check_url(const char *url, char *err, size_t errlen)
{
        const char *rest = startswith(url, "http://");
        char cb[8];
        if (!rest)
                rest = startswith(url, "https://");
        if (!rest)
                return fail(err, errlen, "--boot-url %s: must start with http:// or https://", url);
        if (!*rest || *rest == '/' || *rest == ':')
                return fail(err, errlen, "--boot-url %s: no host", url);
        if (strlen(url) >= URL_MAX)
                return fail(err, errlen, "--boot-url: longer than %d characters", URL_MAX - 1);
        for (const char *p = url; *p; p++) {
                unsigned char c = (unsigned char)*p;
                if (!script_safe(c) || strchr("?", c))
                        return fail(err, errlen,
                                    "--boot-url %s: the character %s cannot be carried by the script or the kernel's "
                                    "command line (a query or fragment is not supported either)",
                                    url, show_char(c, cb));
        }
        return 0;
}

/* A file name under the boot URL: NAME or DIR/NAME, no "..". */
static int check_name(const char *what, const char *name, char *err, size_t errlen)
{
        if (!*name || *name == '/' || name[strlen(name) - 1] == '/')
                return fail(err, errlen, "%s %s: expected a file name under the boot URL", what, name);
        if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/") != strlen(name))
                return fail(err, errlen, "%s %s: only letters, digits, '.', '_', '-' and '/' are allowed", what, name);
        for (const char *p = name; (p = strstr(p, "..")); p += 2)
                if ((p == name || p[-1] == '/') && (p[2] == '/' || !p[2]))
                        return fail(err, errlen, "%s %s: no '..' component", what, name);
        if (strlen(name) > 128)
                return fail(err, errlen, "%s: longer than 128 characters", what);
        return 0;
}

/* Whether the len bytes at word are a NAME=VALUE parameter with this name,
 * compared as the kernel does ('-' and '_' alike). */
static bool param_is(const char *word, size_t len, const char *name)
{
        size_t n = strlen(name);
        if (len <= n || word[n] != '=')
                return false;
        for (size_t i = 0; i < n; i++) {
                char a = word[i] == '-' ? '_' : word[i], b = name[i] == '-' ? '_' : name[i];
                if (a != b)
                        return false;
        }
        return true;
}

/* The operator's words: each one safe for the script, none that the script
 * sets itself, no initrd= (the unmeasured path). Blanks are single spaces
 * in *out (malloc'd). */
static int check_append(const char *append, char **out, char *err, size_t errlen)
{
        char cb[8];
        size_t n = strlen(append);
        char *norm = malloc(n + 1), *w = norm;
        if (!norm)
                return -ENOMEM;
        for (const char *p = append; *p;) {
                if (*p == ' ') {
                        p++;
                        continue;
                }
                size_t len = 0;
                while (p[len] && p[len] != ' ') {
                        unsigned char c = (unsigned char)p[len];
                        if (!script_safe(c)) {
                                free(norm);
                                if (c == '\t' || c == '\n' || c == '\r')
                                        return fail(err, errlen, "--append: blanks other than spaces (%s) are not allowed",
                                                    show_char(c, cb));
                                return fail(err, errlen,
                                            "--append: the character %s cannot be carried by the iPXE script "
                                            "(quotes, '\\', '$', '{', '}', '&', '|', ';', '#', '`', '<', '>' and control "
                                            "characters are refused; a value with blanks is not supported)",
                                            show_char(c, cb));
                        }
                        len++;
                }
                const char *refused = param_is(p, len, "initrd")           ? "initrd= would make the kernel load the "
                                                                              "initrd itself, unmeasured: the script "
                                                                              "loads it through iPXE"
                                      : param_is(p, len, "BOOTIF")         ? "BOOTIF= is set by the script (from "
                                                                              "the booting interface's MAC)"
                                      : param_is(p, len, "ember.boot_url") ? "ember.boot_url= is set by the script "
                                                                              "(from --boot-url)"
                                                                           : NULL;
                if (refused) {
                        free(norm);
                        return fail(err, errlen, "--append: %.*s: %s", (int)len, p, refused);
                }
                if (w != norm)
                        *w++ = ' ';
                memcpy(w, p, len);
                w += len;
                p += len;
        }
        *w = '\0';
        *out = norm;
        return 0;
}

int ipxe_script_build(const struct ipxe_script_opts *o, char **ret, char *err, size_t errlen)
{
        const char *efi = o->ipxe_efi ? o->ipxe_efi : DEFAULT_IPXE_EFI;
        _cleanup_free_ char *append = NULL, *base = NULL, *cmdline = NULL, *script = NULL;
        int r;
        if (!o->boot_url)
                return fail(err, errlen, "no boot URL");
        if ((r = check_url(o->boot_url, err, errlen)) < 0 || (r = check_name("--ipxe-efi", efi, err, errlen)) < 0 ||
            (r = check_append(o->append ? o->append : "", &append, err, errlen)) < 0)
                return r;
        size_t ul = strlen(o->boot_url);
        if (asprintf(&base, "%s%s", o->boot_url, o->boot_url[ul - 1] == '/' ? "" : "/") < 0)
                return base = NULL, -ENOMEM;
        /* BOOTIF is expanded by iPXE: 01- and the booting interface's MAC,
         * hyphenated (the form of pxelinux, which Ember's /init reads).
         * netX is the interface iPXE opened last, the one it booted from. */
        if (asprintf(&cmdline, "ember.boot_url=%s BOOTIF=01-${netX/mac:hexhyp}%s%s", base, *append ? " " : "",
                     append) < 0)
                return cmdline = NULL, -ENOMEM;
        if (strlen(cmdline) > IPXE_CMDLINE_MAX)
                return fail(err, errlen, "the kernel command line would be %zu characters: at most %d", strlen(cmdline),
                            IPXE_CMDLINE_MAX);
        if (asprintf(&script,
                     "#!ipxe\n"
                     "# Ember's measured network boot (written by `emberctl ipxe script`).\n"
                     "#\n"
                     "# This script runs twice. The firmware's iPXE (the network card's option\n"
                     "# ROM) runs it first. An old iPXE hands the kernel its initrd through\n"
                     "# initrd= on the command line, which the kernel does not measure, so it\n"
                     "# chain-loads a current iPXE from the boot URL. That one runs DHCP again\n"
                     "# and is handed this same script: it must boot, not chain again.\n"
                     "#\n"
                     "# Which one runs is told by a setting, not by a version: ${netX/linktype}\n"
                     "# (the link layer of the interface iPXE booted from, \"Ethernet\") is\n"
                     "# known to every current iPXE and to none of the old ones, which expand\n"
                     "# it to nothing. A version string would not do: firmware ROMs each\n"
                     "# report their own, and the chained binary's changes with every update,\n"
                     "# so a test on either would boot some old ROM directly or chain forever.\n"
                     "# Whatever iPXE has the setting boots here: the chained one always does,\n"
                     "# so there is no loop; one that had it but still did not measure the\n"
                     "# initrd would give PCR 9 values no approved image has, and attestation\n"
                     "# would refuse the node, not let it in.\n"
                     "isset ${netX/linktype} && goto measured ||\n"
                     "echo ember: iPXE ${version} does not measure the initrd: chaining %s%s\n"
                     "chain %s%s || goto failed\n"
                     "goto failed\n"
                     "\n"
                     "# The current iPXE: kernel and initrd from the boot URL, and no initrd=\n"
                     "# on the kernel's command line, so the kernel loads the initrd through\n"
                     "# LoadFile2 and measures it and its command line into PCR 9.\n"
                     ":measured\n"
                     "echo ember: iPXE ${version}: measured boot from %s\n"
                     "kernel %svmlinuz %s || goto failed\n"
                     "initrd %sinitrd || goto failed\n"
                     "boot || goto failed\n"
                     "\n"
                     "# Back to the firmware, which tries its next boot option.\n"
                     ":failed\n"
                     "echo ember: network boot from %s failed\n"
                     "exit 1\n",
                     base, efi, base, efi, base, base, cmdline, base, base) < 0)
                return script = NULL, -ENOMEM;
        *ret = TAKE_PTR(script);
        return 0;
}

static int ipxe_usage(FILE *f, int status)
{
        fputs("Usage: emberctl ipxe script --boot-url URL --append TEXT [--ipxe-efi NAME] --out FILE\n"
              "\n"
              "Writes the iPXE script of Ember's measured network boot: the DHCP boot file\n"
              "(boot.ipxe, served over TFTP). Run by the firmware's own iPXE, it chain-loads\n"
              "the current iPXE from URL; run by that one, it boots URL/vmlinuz with\n"
              "URL/initrd without initrd= on the kernel's command line, so the kernel\n"
              "measures the initrd and its command line into PCR 9.\n"
              "\n"
              "  --boot-url URL    http:// or https:// base URL serving vmlinuz, initrd and\n"
              "                    the iPXE binary (a '/' is added when missing)\n"
              "  --append TEXT     the kernel command line besides what the script sets:\n"
              "                    ember.boot_url=URL and BOOTIF=01-<MAC of the booting\n"
              "                    interface>; words without quotes, '\\', '$', '{', '}',\n"
              "                    '&', '|', ';', '#', '`', '<', '>' or control characters;\n"
              "                    no initrd=, BOOTIF= or ember.boot_url=\n"
              "  --ipxe-efi NAME   the current iPXE's file under URL (default " DEFAULT_IPXE_EFI ",\n"
              "                    as image/fetch-ipxe provides it)\n"
              "  --out FILE        the script, replaced atomically\n"
              "\n"
              "The kernel measures its command line into PCR 9 with the initrd, so every\n"
              "boot of one image must get the same one. It carries the booting interface's\n"
              "MAC (BOOTIF): PCR 9 of this path differs from machine to machine.\n"
              "Exit status: 0 written, 1 failed, 2 bad usage.\n",
              f);
        return status;
}

int ipxe_command(int argc, char **argv)
{
        static const struct option opts[] = {
                { "boot-url", required_argument, NULL, 'u' }, { "append", required_argument, NULL, 'a' },
                { "ipxe-efi", required_argument, NULL, 'e' }, { "out", required_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },           {},
        };
        struct ipxe_script_opts so = { 0 };
        const char *out = NULL;
        char err[600];
        int c;
        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h"))
                return ipxe_usage(argc < 2 ? stderr : stdout, argc < 2 ? 2 : 0);
        if (!streq(argv[1], "script"))
                return fprintf(stderr, "emberctl: unknown ipxe subcommand '%s' (the only one is script)\n", argv[1]), 2;
        argc--, argv++;
        optind = 1;
        opterr = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'u':
                        so.boot_url = optarg;
                        break;
                case 'a':
                        so.append = optarg;
                        break;
                case 'e':
                        so.ipxe_efi = optarg;
                        break;
                case 'o':
                        out = optarg;
                        break;
                case 'h':
                        return ipxe_usage(stdout, 0);
                default:
                        return ipxe_usage(stderr, 2);
                }
        }
        if (optind != argc)
                return fprintf(stderr, "emberctl: ipxe script: unexpected argument '%s' (try --help)\n", argv[optind]), 2;
        if (!so.boot_url || !so.append || !out)
                return fprintf(stderr, "emberctl: ipxe script needs --boot-url URL, --append TEXT and --out FILE "
                                       "(try --help)\n"),
                       2;
        _cleanup_free_ char *script = NULL;
        int r = ipxe_script_build(&so, &script, err, sizeof(err));
        if (r == -ENOMEM)
                return fprintf(stderr, "emberctl: out of memory\n"), 1;
        if (r < 0)
                return fprintf(stderr, "emberctl: ipxe script: %s\n", err), 2;
        r = write_file_atomic(out, script, strlen(script), 0644);
        if (r < 0)
                return fprintf(stderr, "emberctl: writing %s failed: %s\n", out, strerror(-r)), 1;
        printf("wrote %s: chains %s%s%s, boots %s%svmlinuz + initrd\n", out, so.boot_url,
               so.boot_url[strlen(so.boot_url) - 1] == '/' ? "" : "/", so.ipxe_efi ? so.ipxe_efi : DEFAULT_IPXE_EFI,
               so.boot_url, so.boot_url[strlen(so.boot_url) - 1] == '/' ? "" : "/");
        return 0;
}
