/* SPDX-License-Identifier: Apache-2.0 */
/* EFI variables through efivarfs (mounted at EFIVARS_DIR by the
 * mounts/modules stage), systemd-boot's loader variables, and Ember's own
 * variable: how many boots in a row failed (docs/lkg.md, "Ember's EFI
 * variable").
 *
 * Every function takes the efivarfs directory as a parameter, so the tests
 * use a temporary directory instead. A file there is named NAME-GUID (the
 * GUID in lowercase) and holds a u32 of attributes (little endian) followed
 * by the variable's data. Returns are >= 0 or -errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef EFIVARS_DIR
#define EFIVARS_DIR "/sys/firmware/efi/efivars"
#endif

#define EFI_VARIABLE_NON_VOLATILE 0x00000001u
#define EFI_VARIABLE_BOOTSERVICE_ACCESS 0x00000002u
#define EFI_VARIABLE_RUNTIME_ACCESS 0x00000004u

/* The most data efivar_write accepts (firmware stores far less per
 * variable; nothing Ember reads or writes comes near it). */
#define EFIVAR_DATA_MAX (64u * 1024)
/* A variable's name as this library accepts it: 1..EFIVAR_NAME_MAX bytes of
 * [A-Za-z0-9_.-], not starting with '.' (so it stays one path component). */
#define EFIVAR_NAME_MAX 128
/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" and a NUL */
#define EFIVAR_GUID_STRLEN 37

/* systemd-boot's vendor GUID (the Boot Loader Interface). */
#define LOADER_GUID "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
/* Ember's vendor GUID: generated once for Ember, never to change. */
#define EMBER_VENDOR_GUID "73e5f690-ab98-4e33-8586-03c1f00fd823"

/* Reads NAME-GUID from dir: its attributes into *ret_attrs and its data into
 * buf (at most cap bytes), its length into *ret_len. -ENOENT when absent,
 * -EBADMSG when the file is shorter than its attributes, -ENOBUFS when the
 * data is larger than cap, -EINVAL for a name or GUID outside the rules
 * above. buf may have been written on failure; *ret_attrs and *ret_len are
 * written only on success. */
int efivar_read(const char *dir, const char *name, const char *guid, uint32_t *ret_attrs, uint8_t *buf, size_t cap,
                size_t *ret_len);

/* Creates or replaces NAME-GUID: attributes and data in one write(2), as
 * efivarfs requires. efivarfs creates the files of variables it does not
 * know immutable: the flag is cleared first (FS_IOC_SETFLAGS) and set again
 * afterwards; filesystems without the ioctl (tests) are fine. On anything but
 * efivarfs the file is truncated first, as efivarfs replaces a variable
 * whole. len is 1..EFIVAR_DATA_MAX (an empty write would delete). */
int efivar_write(const char *dir, const char *name, const char *guid, uint32_t attrs, const void *data, size_t len);

/* Deletes NAME-GUID (clearing the immutable flag first): 0, or -ENOENT when
 * it was not there. */
int efivar_delete(const char *dir, const char *name, const char *guid);

/* Decodes UTF-16LE that must be printable ASCII (0x20..0x7e), optionally
 * ending in one NUL code unit, into out as a NUL-terminated string. Returns
 * the string's length; -EBADMSG for an odd length, a NUL before the end, or
 * any other code unit; -ENOBUFS when out (cap bytes, NUL included) is too
 * small. out is written only on success. */
int efivar_utf16_ascii(const uint8_t *in, size_t len, char *out, size_t cap);

/* A GUID string in either case to its lowercase canonical form: 0 or
 * -EINVAL (out untouched). */
int efivar_guid_canonical(const char *s, char out[EFIVAR_GUID_STRLEN]);

/* LoaderEntrySelected: the id of the entry systemd-boot booted (the file
 * name of a Type #1 entry, with its boot counter). Returns its length;
 * -ENOENT when not booted by systemd-boot, -EBADMSG when not printable ASCII
 * or empty, -ENOBUFS when it does not fit cap. */
int loader_entry_selected(const char *dir, char *out, size_t cap);

/* LoaderDevicePartUUID: the unique GUID of the partition systemd-boot was
 * loaded from, validated and in lowercase. 0, -ENOENT, -EBADMSG. */
int loader_device_partuuid(const char *dir, char out[EFIVAR_GUID_STRLEN]);

/* Ember's variable EmberBootState-EMBER_VENDOR_GUID, attributes
 * NV|BS|RT: a fixed record of BOOTSTATE_SIZE bytes, little endian:
 *
 *   0  "EMBS"                    magic
 *   4  u32  version              BOOTSTATE_VERSION
 *   8  u32  failures             boots that failed in a row
 *  12  u32  last_stage           where the last one failed (the caller's number)
 *  16  u64  time                 unix time of the write, 0 when unknown
 */
#define BOOTSTATE_NAME "EmberBootState"
#define BOOTSTATE_ATTRS \
        (EFI_VARIABLE_NON_VOLATILE | EFI_VARIABLE_BOOTSERVICE_ACCESS | EFI_VARIABLE_RUNTIME_ACCESS)
#define BOOTSTATE_VERSION 1u
#define BOOTSTATE_SIZE 24

struct bootstate {
        uint32_t failures;
        uint32_t last_stage;
        uint64_t time;
};

/* Exactly BOOTSTATE_SIZE bytes, the magic and version 1: 0 or -EBADMSG
 * (*ret untouched). */
int bootstate_parse(const uint8_t *buf, size_t len, struct bootstate *ret);
/* The record for st; returns BOOTSTATE_SIZE. */
int bootstate_format(const struct bootstate *st, uint8_t out[BOOTSTATE_SIZE]);
/* Reads Ember's variable from dir. *ret is always written, zeros unless the
 * variable was read and parsed, so a caller can carry on and overwrite it:
 * 1 found, 0 absent, -EBADMSG malformed (bad record or other attributes),
 * other -errno when unreadable. */
int bootstate_read(const char *dir, struct bootstate *ret);
/* Writes Ember's variable (NV|BS|RT). */
int bootstate_write(const char *dir, const struct bootstate *st);

/* The delay before the reboot that follows `failures` failed boots in a
 * row, with "equal jitter": d = min(cap_ms, base_ms << (failures - 1))
 * (computed without overflow for any input), result = d/2 + random %
 * (d/2 + 1). The range of failure n+1 starts where the range of failure n
 * ends, so the delay never shrinks as failures grow, while a fleet that
 * failed together spreads over half of d. failures == 0: 0. */
uint64_t backoff_delay_ms(unsigned failures, uint64_t base_ms, uint64_t cap_ms, uint32_t random);
