/* SPDX-License-Identifier: Apache-2.0 */
/* Finding and mounting the ESP: see esp.h and docs/lkg.md. */
#include "esp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "gpt.h"
#include "reason.h"
#include "util.h"

/* Appends text to buf, after sep when buf is not empty; cut at len. */
__attribute__((format(printf, 4, 0))) static void vappend(char *buf, size_t len, const char *sep, const char *fmt,
                                                          va_list ap)
{
        if (!buf || len == 0)
                return;
        size_t off = strnlen(buf, len);
        if (off >= len - 1)
                return;
        if (off > 0)
                off += (size_t)snprintf(buf + off, len - off, "%s", sep);
        if (off >= len - 1)
                return;
        vsnprintf(buf + off, len - off, fmt, ap);
}

/* Notes about disks skipped, "; " between them. */
__attribute__((format(printf, 3, 4))) static void note(char *why, size_t whylen, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vappend(why, whylen, "; ", fmt, ap);
        va_end(ap);
}

/* What an ESP holds, ", " between the names. */
__attribute__((format(printf, 3, 4))) static void found_add(char *found, size_t len, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vappend(found, len, ", ", fmt, ap);
        va_end(ap);
}

/* ---- small sysfs files ---- */

/* The first line of dirfd/rel, without its newline: its length or -errno
 * (-EBADMSG when it does not fit len). */
static int read_attr(int dirfd, const char *rel, char *buf, size_t len)
{
        _cleanup_close_ int fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        size_t got = 0;
        while (got < len) {
                ssize_t k = read(fd, buf + got, len - got);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                got += (size_t)k;
        }
        if (got == len)
                return -EBADMSG;
        buf[got] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return (int)strlen(buf);
}

/* Decimal digits only, no overflow: 0 or -EBADMSG. */
static int parse_u64(const char *s, uint64_t *ret)
{
        uint64_t v = 0;
        if (!*s)
                return -EBADMSG;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EBADMSG;
                unsigned d = (unsigned)(*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -EBADMSG;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

static int read_u64(int dirfd, const char *rel, uint64_t *ret)
{
        char buf[32];
        int r = read_attr(dirfd, rel, buf, sizeof(buf));
        return r < 0 ? r : parse_u64(buf, ret);
}

/* "MAJOR:MINOR" */
static int read_devt(int dirfd, dev_t *ret)
{
        char buf[32];
        uint64_t maj, min;
        int r = read_attr(dirfd, "dev", buf, sizeof(buf));
        if (r < 0)
                return r;
        char *colon = strchr(buf, ':');
        if (!colon)
                return -EBADMSG;
        *colon = '\0';
        if (parse_u64(buf, &maj) < 0 || parse_u64(colon + 1, &min) < 0 || maj > UINT32_MAX || min > UINT32_MAX)
                return -EBADMSG;
        *ret = makedev((unsigned)maj, (unsigned)min);
        return 0;
}

/* A name from sysfs as one path component: no '/', not "." or "..". */
static bool sysfs_name_ok(const char *name)
{
        size_t n = strlen(name);
        return n > 0 && n < ESP_NAME_MAX && name[0] != '.' && !strchr(name, '/');
}

/* devdir/<name>, with sysfs' '!' standing for '/' (cciss!c0d0). */
static int node_path(const char *devdir, const char *name, char out[ESP_PATH_MAX])
{
        int n = snprintf(out, ESP_PATH_MAX, "%s/%s", devdir, name);
        if (n < 0 || n >= ESP_PATH_MAX)
                return -ENAMETOOLONG;
        for (char *p = out + strlen(devdir) + 1; *p; p++)
                if (*p == '!')
                        *p = '/';
        return 0;
}

/* path is the block device dev (not a file, not another device). */
static int node_check(const char *path, dev_t dev)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return negative_errno();
        if (!S_ISBLK(st.st_mode))
                return -ENOTBLK;
        return st.st_rdev == dev ? 0 : -ENXIO;
}

/* ---- enumeration ---- */

struct finder {
        const char *devdir;
        bool want;
        uint8_t want_uuid[16];
        struct esp_cand *out;
        size_t cap, n, dropped;
        struct esp_cand booted;
        unsigned booted_matches;
        struct gpt_part *parts; /* GPT_ENTRIES_MAX, reused for every disk */
        char *why;
        size_t whylen;
};

/* Disks that hold no GPT a node boots from. */
static bool skip_disk_name(const char *name)
{
        return startswith(name, "ram") || startswith(name, "zram") || startswith(name, "sr") ||
               startswith(name, "fd");
}

/* Finds the sysfs child of the disk whose `partition` file holds partno and
 * its device node: fills c->name and c->dev. */
static int partition_node(struct finder *f, int diskfd, unsigned partno, struct esp_cand *c)
{
        int fd = openat(diskfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        DIR *d = fdopendir(fd);
        if (!d)
                return safe_close(fd), negative_errno();
        int r = -ENOENT;
        struct dirent *e;
        while ((e = readdir(d))) {
                uint64_t no;
                if (!sysfs_name_ok(e->d_name))
                        continue;
                _cleanup_close_ int pfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pfd < 0 || read_u64(pfd, "partition", &no) < 0 || no != partno)
                        continue;
                dev_t dev;
                if ((r = read_devt(pfd, &dev)) < 0 || (r = node_path(f->devdir, e->d_name, c->dev)) < 0 ||
                    (r = node_check(c->dev, dev)) < 0)
                        break;
                memcpy(c->name, e->d_name, strlen(e->d_name) + 1); /* sysfs_name_ok: it fits */
                r = 0;
                break;
        }
        closedir(d);
        return r;
}

static void take_part(struct finder *f, int diskfd, const char *disk, unsigned sector_size, const struct gpt_part *p)
{
        bool match = f->want && memcmp(p->uuid, f->want_uuid, 16) == 0;
        if (!match && !gpt_is_esp(p->type))
                return;
        struct esp_cand c = { .partno = p->number, .esp_type = gpt_is_esp(p->type), .sector_size = sector_size,
                              .first_lba = p->first_lba, .last_lba = p->last_lba };
        memcpy(c.disk, disk, strlen(disk) + 1); /* sysfs_name_ok: it fits */
        memcpy(c.partuuid, p->uuid_str, sizeof(c.partuuid));
        memcpy(c.type, p->type_str, sizeof(c.type));
        int r = partition_node(f, diskfd, p->number, &c);
        if (r < 0) {
                note(f->why, f->whylen, "%s partition %u: no device node (%s), ignoring", disk, p->number,
                     r == -ENOENT ? "the kernel did not add the partition" : strerror(-r));
                return;
        }
        if (match && ++f->booted_matches == 1) {
                f->booted = c;
                f->booted.booted = true;
        }
        if (!c.esp_type)
                return;
        if (f->n < f->cap)
                f->out[f->n++] = c;
        else
                f->dropped++;
}

static void scan_disk(struct finder *f, int sysfd, const char *name)
{
        if (!sysfs_name_ok(name) || skip_disk_name(name))
                return;
        _cleanup_close_ int dfd = openat(sysfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        uint64_t size, ss;
        dev_t dev;
        if (dfd < 0 || faccessat(dfd, "partition", F_OK, 0) == 0)
                return; /* not a directory, or a partition */
        if (read_u64(dfd, "size", &size) < 0 || size == 0)
                return;
        if (read_u64(dfd, "queue/logical_block_size", &ss) < 0 || ss > UINT32_MAX ||
            !gpt_sector_size_ok((unsigned)ss)) {
                note(f->why, f->whylen, "%s: no usable logical block size, ignoring", name);
                return;
        }
        char path[ESP_PATH_MAX];
        int r = read_devt(dfd, &dev);
        if (r >= 0)
                r = node_path(f->devdir, name, path);
        if (r >= 0)
                r = node_check(path, dev);
        if (r < 0) {
                note(f->why, f->whylen, "%s: no device node (%s), ignoring", name, strerror(-r));
                return;
        }
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                note(f->why, f->whylen, "%s: opening %s failed: %s, ignoring", name, path, strerror(errno));
                return;
        }
        char gwhy[200] = "";
        const struct reason w = { gwhy, sizeof(gwhy) };
        size_t n = 0;
        r = gpt_read_fd(fd, (unsigned)ss, f->parts, GPT_ENTRIES_MAX, &n, &w);
        if (r == -ENOMSG)
                return; /* no GPT: nothing of ours */
        if (r < 0) {
                note(f->why, f->whylen, "%s: %s, ignoring", name, gwhy[0] ? gwhy : strerror(-r));
                return;
        }
        for (size_t i = 0; i < n; i++)
                take_part(f, dfd, name, (unsigned)ss, &f->parts[i]);
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

int esp_find(const char *sysfs_block, const char *devdir, const char *want_partuuid, struct esp_cand *out,
             size_t cap, size_t *ret_n, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        struct finder f = { .devdir = devdir, .out = out, .cap = cap, .why = why, .whylen = whylen };

        if (why && whylen)
                why[0] = '\0';
        if (!sysfs_block || !devdir || !ret_n || (!out && cap > 0))
                return -EINVAL;
        if (want_partuuid) {
                if (gpt_guid_parse(want_partuuid, f.want_uuid) < 0)
                        return reason_fail(&w, -EINVAL, "partition UUID %.40s is not a GUID", want_partuuid);
                f.want = true;
        }
        _cleanup_close_ int sysfd = open(sysfs_block, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sysfd < 0)
                return reason_fail(&w, negative_errno(), "opening %s failed: %s", sysfs_block, strerror(errno));
        _cleanup_free_ struct gpt_part *parts = calloc(GPT_ENTRIES_MAX, sizeof(*parts));
        if (!parts)
                return -ENOMEM;
        f.parts = parts;
        struct dirent **names = NULL;
        /* by name, so the order does not depend on the order of probing */
        int k = scandir(sysfs_block, &names, NULL, by_name);
        if (k < 0)
                return reason_fail(&w, negative_errno(), "listing %s failed: %s", sysfs_block, strerror(errno));
        for (int i = 0; i < k; i++) {
                scan_disk(&f, sysfd, names[i]->d_name);
                free(names[i]);
        }
        free(names);

        if (f.want && f.booted_matches == 1) {
                if (cap == 0)
                        return reason_fail(&w, -ENOBUFS, "no room for the partition booted from");
                out[0] = f.booted;
                *ret_n = 1;
                return 0;
        }
        if (f.want)
                note(why, whylen, "partition %s %s, listing ESPs by type", want_partuuid,
                     f.booted_matches ? "found on more than one disk (cloned?)" : "booted from is on no disk");
        if (f.dropped)
                note(why, whylen, "%zu more ESPs left out", f.dropped);
        *ret_n = f.n;
        return 0;
}

/* ---- ownership and mounting ---- */

/* A name from a filesystem nobody vouches for, fit to print. */
static void name_printable(const char *in, char *out, size_t len)
{
        size_t o = 0;
        for (; *in && o + 1 < len; in++)
                out[o++] = *in >= 0x20 && *in < 0x7f ? *in : '?';
        out[o] = '\0';
}

static bool entry_is_dir(int dirfd, const struct dirent *e)
{
        struct stat st;
        if (e->d_type != DT_UNKNOWN)
                return e->d_type == DT_DIR;
        return fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Names what /EFI holds ("EFI/debian, EFI/BOOT") into found. */
static void describe_efi_dir(int rootfd, const char *efi, char *found, size_t len)
{
        int fd = openat(rootfd, efi, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        char name[72];
        unsigned n = 0;
        if (!d) {
                safe_close(fd);
                found_add(found, len, "EFI");
                return;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
                if (streq(e->d_name, ".") || streq(e->d_name, ".."))
                        continue;
                name_printable(e->d_name, name, sizeof(name));
                found_add(found, len, "EFI/%s", name);
                n++;
        }
        closedir(d);
        if (n == 0)
                found_add(found, len, "EFI (empty)");
}

int esp_check_owner(int dirfd, bool booted, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        if (dirfd < 0)
                return -EINVAL;
        if (booted)
                return reason_fail(&w, ESP_OWNER_BOOTED, "the partition this node booted from");
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                int r = negative_errno();
                safe_close(fd);
                return reason_fail(&w, r, "listing the ESP's root failed: %s", strerror(-r));
        }
        bool ember = false;
        unsigned others = 0;
        char found[200] = "", name[72];
        struct dirent *e;
        while ((e = readdir(d))) {
                if (streq(e->d_name, ".") || streq(e->d_name, ".."))
                        continue;
                bool isdir = entry_is_dir(dirfd, e);
                /* FAT keeps no case: EMBER is ember */
                if (isdir && strcasecmp(e->d_name, "ember") == 0) {
                        ember = true;
                        continue;
                }
                others++;
                if (isdir && strcasecmp(e->d_name, "EFI") == 0) {
                        describe_efi_dir(dirfd, e->d_name, found, sizeof(found));
                } else {
                        name_printable(e->d_name, name, sizeof(name));
                        found_add(found, sizeof(found), "%s", name);
                }
        }
        closedir(d);
        if (ember)
                return others ? reason_fail(&w, ESP_OWNER_EMBER, "Ember's: /ember exists (besides %s)", found)
                              : reason_fail(&w, ESP_OWNER_EMBER, "Ember's: /ember exists");
        if (others == 0)
                return reason_fail(&w, ESP_OWNER_EMPTY, "empty");
        return reason_fail(&w, -EPERM, "holds %s and no /ember: another system's ESP, not writing to it", found);
}

int esp_mount(const struct esp_cand *c, const char *mountpoint, int *ret_dirfd, char *why, size_t whylen)
{
        const struct reason w = { why, whylen };
        if (!c || !mountpoint || !ret_dirfd)
                return -EINVAL;
        if (mkdir(mountpoint, 0700) < 0 && errno != EEXIST)
                return reason_fail(&w, negative_errno(), "creating %s failed: %s", mountpoint, strerror(errno));
        if (mount(c->dev, mountpoint, "vfat", MS_NOSUID | MS_NODEV | MS_NOEXEC, ESP_MOUNT_OPTIONS) < 0) {
                int r = negative_errno();
                if (r == -ENODEV)
                        return reason_fail(&w, r, "mounting %s: this kernel has no vfat filesystem (module not loaded?)",
                                           c->dev);
                return reason_fail(&w, r, "mounting %s as vfat on %s failed: %s", c->dev, mountpoint,
                                   r == -EINVAL ? "not a FAT filesystem, or options refused (see the kernel log)"
                                                : strerror(-r));
        }
        int fd = open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = fd < 0 ? reason_fail(&w, negative_errno(), "opening %s failed: %s", mountpoint, strerror(errno))
                       : esp_check_owner(fd, c->booted, why, whylen);
        if (r < 0) {
                safe_close(fd);
                (void)umount2(mountpoint, UMOUNT_NOFOLLOW);
                return r;
        }
        *ret_dirfd = fd;
        return 0;
}

int esp_umount(const char *mountpoint, int dirfd)
{
        int r = 0;
        if (dirfd >= 0) {
                if (syncfs(dirfd) < 0)
                        r = negative_errno();
                close(dirfd);
        }
        if (!mountpoint)
                return r < 0 ? r : -EINVAL;
        if (umount2(mountpoint, UMOUNT_NOFOLLOW) < 0 && r == 0)
                r = negative_errno();
        return r;
}
