/* SPDX-License-Identifier: Apache-2.0 */
/* `ember-init esp`: the ESPs the lkg stage would consider, found as it finds
 * them (efi/esp.c), and optionally whether the node may write to each. The
 * integration test (tests/efi/esp) runs it against loop devices. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "boot.h"
#include "efivar.h"
#include "esp.h"
#include "util.h"

#define ONLY_MAX 16
#define CANDIDATES_MAX 64

static const char esp_usage[] =
        "Usage: esp [OPTIONS]\n"
        "Lists the EFI System Partitions the lkg stage would consider: the\n"
        "partitions of the ESP type on every whole disk's GPT, or only the one\n"
        "systemd-boot was loaded from when LoaderDevicePartUUID names it. One\n"
        "line per candidate. Exit 0 when there is one (with --mount or --check:\n"
        "one the node may write to), 1 when there is none, 2 bad usage.\n"
        "\n"
        "  --sysfs DIR     block devices in sysfs (default /sys/class/block)\n"
        "  --dev DIR       device nodes (default /dev)\n"
        "  --partuuid U    the partition booted from (default: LoaderDevicePartUUID\n"
        "                  from --efivars, if set)\n"
        "  --efivars DIR   efivarfs (default " EFIVARS_DIR ")\n"
        "  --only DISK     only candidates on DISK (e.g. loop3 or /dev/loop3);\n"
        "                  repeatable. Other disks' GPTs are still read.\n"
        "  --mount DIR     mount each candidate on DIR, say whether the node may\n"
        "                  write there, unmount it\n"
        "  --check DIR     say whether the ESP mounted on DIR may be written to\n"
        "  --booted        with --check: DIR is the partition booted from\n";

struct esp_opts {
        const char *sysfs, *dev, *partuuid, *efivars, *mount, *check;
        const char *only[ONLY_MAX];
        size_t nonly;
        bool booted;
};

static int parse_args(int argc, char **argv, struct esp_opts *o)
{
        static const struct option opts[] = {
                { "sysfs", required_argument, NULL, 's' },   { "dev", required_argument, NULL, 'd' },
                { "partuuid", required_argument, NULL, 'p' }, { "efivars", required_argument, NULL, 'e' },
                { "only", required_argument, NULL, 'o' },    { "mount", required_argument, NULL, 'm' },
                { "check", required_argument, NULL, 'c' },   { "booted", no_argument, NULL, 'b' },
                { "help", no_argument, NULL, 'h' },          {},
        };
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 's': o->sysfs = optarg; break;
                case 'd': o->dev = optarg; break;
                case 'p': o->partuuid = optarg; break;
                case 'e': o->efivars = optarg; break;
                case 'm': o->mount = optarg; break;
                case 'c': o->check = optarg; break;
                case 'b': o->booted = true; break;
                case 'o':
                        if (o->nonly == ONLY_MAX)
                                return fprintf(stderr, "esp: at most %d --only\n", ONLY_MAX), 2;
                        o->only[o->nonly++] = startswith(optarg, "/dev/") ? optarg + 5 : optarg;
                        break;
                case 'h': return printf("%s", esp_usage), 0;
                default: return fprintf(stderr, "%s", esp_usage), 2;
                }
        }
        if (optind != argc || (o->mount && o->check) || (o->booted && !o->check))
                return fprintf(stderr, "%s", esp_usage), 2;
        return -1;
}

static const char *owner_word(int r)
{
        return r == ESP_OWNER_BOOTED ? "booted" : r == ESP_OWNER_EMBER ? "ember" : "empty";
}

static int check_dir(const struct esp_opts *o)
{
        char why[512] = "";
        _cleanup_close_ int fd = open(o->check, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return fprintf(stderr, "esp: opening %s failed: %m\n", o->check), 1;
        int r = esp_check_owner(fd, o->booted, why, sizeof(why));
        if (r < 0)
                return printf("esp: %s: refused: %s\n", o->check, why), 1;
        printf("esp: %s: usable (%s): %s\n", o->check, owner_word(r), why);
        return 0;
}

static bool wanted(const struct esp_opts *o, const struct esp_cand *c)
{
        if (o->nonly == 0)
                return true;
        for (size_t i = 0; i < o->nonly; i++)
                if (streq(o->only[i], c->disk))
                        return true;
        return false;
}

/* The partition booted from: --partuuid, else systemd-boot's variable. */
static const char *booted_partuuid(const struct esp_opts *o, char buf[EFIVAR_GUID_STRLEN])
{
        if (o->partuuid)
                return o->partuuid;
        int r = loader_device_partuuid(o->efivars ? o->efivars : EFIVARS_DIR, buf);
        if (r == 0) {
                printf("esp: LoaderDevicePartUUID %s\n", buf);
                return buf;
        }
        if (r != -ENOENT)
                fprintf(stderr, "esp: reading LoaderDevicePartUUID failed: %s, ignoring\n", strerror(-r));
        return NULL;
}

static int mount_one(const struct esp_opts *o, const struct esp_cand *c)
{
        char why[512] = "";
        int dirfd = -1;
        int r = esp_mount(c, o->mount, &dirfd, why, sizeof(why));
        if (r < 0)
                return printf("esp: %s: refused: %s\n", c->dev, why), 0;
        printf("esp: %s: usable: %s\n", c->dev, why);
        r = esp_umount(o->mount, dirfd);
        if (r < 0)
                fprintf(stderr, "esp: unmounting %s failed: %s\n", o->mount, strerror(-r));
        return 1;
}

int tool_esp(int argc, char **argv)
{
        struct esp_opts o = { .sysfs = "/sys/class/block", .dev = "/dev" };
        int r = parse_args(argc, argv, &o);
        if (r >= 0)
                return r;
        if (o.check)
                return check_dir(&o);

        char pbuf[EFIVAR_GUID_STRLEN], why[2048] = "";
        const char *partuuid = booted_partuuid(&o, pbuf);
        struct esp_cand c[CANDIDATES_MAX];
        size_t n = 0, shown = 0, usable = 0;
        r = esp_find(o.sysfs, o.dev, partuuid, c, ELEMENTSOF(c), &n, why, sizeof(why));
        if (r < 0)
                return fprintf(stderr, "esp: %s\n", why[0] ? why : strerror(-r)), 1;
        if (why[0])
                printf("esp: note: %s\n", why);
        for (size_t i = 0; i < n; i++) {
                if (!wanted(&o, &c[i]))
                        continue;
                shown++;
                printf("esp: dev=%s disk=%s partition=%u partuuid=%s type=%s booted=%s sector=%u first=%llu "
                       "last=%llu\n",
                       c[i].dev, c[i].disk, c[i].partno, c[i].partuuid, c[i].esp_type ? "esp" : c[i].type,
                       c[i].booted ? "yes" : "no", c[i].sector_size, (unsigned long long)c[i].first_lba,
                       (unsigned long long)c[i].last_lba);
                if (o.mount)
                        usable += (size_t)mount_one(&o, &c[i]);
        }
        if (shown == 0)
                printf("esp: no EFI System Partition found\n");
        return (o.mount ? usable : shown) > 0 ? 0 : 1;
}
