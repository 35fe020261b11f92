/* SPDX-License-Identifier: Apache-2.0 */
/* The kernel command line: split as the kernel splits it, then interpreted
 * into Ember's settings. Both steps are pure: they never log or touch global
 * state; the caller reports the diagnostics. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stage.h"

#define CMDLINE_MAX 4096 /* COMMAND_LINE_SIZE on x86 is 2048; leave room */
#define CMDLINE_MAX_PARAMS 256

struct cmdline_param {
        char *key;
        char *value; /* NULL when the parameter has no '=' */
};

struct cmdline {
        struct cmdline_param *params;
        size_t n;
};

/* Splits text into parameters the way the kernel's next_arg() does: blanks
 * separate, double quotes group, and quotes around a value or a whole
 * parameter are removed. A bare "--" ends the kernel's part. */
int cmdline_split(const char *text, size_t len, struct cmdline *ret);
void cmdline_free(struct cmdline *c);

enum size_kind { SIZE_PERCENT, SIZE_BYTES };

enum acd_mode { ACD_MODE_FAST, ACD_MODE_RFC5227, ACD_MODE_OFF };

struct ember_config {
        char *attest_url;
        int attest_ek; /* ember.attest_ek: an enum attest_ek (attest/client.h) */
        char *boot_url;
        char *proxy; /* ember.proxy: for every HTTP(S) request; may hold credentials */
        enum acd_mode acd; /* ember.acd: address conflict detection */
        char *ifname;
        char *ip; /* kernel ip= syntax, kept for the network stage */
        char *vlan; /* dracut's vlan=<name>:<parent> */
        bool have_bootif;
        uint8_t bootif[6];
        unsigned ready_timeout_s;
        /* ember.backoff=BASE[,CAP]: the delay before the reboot after a failed
         * boot doubles from BASE with every failed boot in a row, up to CAP */
        unsigned backoff_base_s, backoff_cap_s;
        unsigned watchdog_s;
        bool debug;
        bool rke2_console; /* ember.rke2_console: rke2's output on the console too */
        enum stage stop_after; /* _STAGE_INVALID: run to the end */
        enum size_kind root_size_kind;
        uint64_t root_size; /* percent of RAM or bytes */
        enum stage debug_hang_after; /* debug images only */
        char *debug_show; /* debug images only: files to describe after the overlay stage, ','-separated */
};

enum diag_level { DIAG_WARN, DIAG_ERR };

struct diag {
        enum diag_level level;
        char msg[240];
};

struct diag_list {
        struct diag items[32];
        size_t n;
        size_t dropped;
};

void config_init(struct ember_config *cfg);
void config_free(struct ember_config *cfg);

/* Applies every ember.* key (and BOOTIF=, ip=) to cfg. Invalid values leave
 * the default in place and add an error naming the key and the reason;
 * unknown ember.* keys add a warning. Returns the number of errors. */
int config_apply_cmdline(struct ember_config *cfg, const struct cmdline *c, bool debug_image,
                         struct diag_list *diags);

/* The URL with any user:password@ replaced by ***@, for logs. */
char *url_redact(const char *url);

/* Renders cfg as a JSON object (for `init cmdline` and the boot record). */
char *config_to_json(const struct ember_config *cfg, bool pretty);

/* "1.5G", "512M", "75%": used by ember.root_size. */
int parse_size(const char *s, enum size_kind *ret_kind, uint64_t *ret_value);
