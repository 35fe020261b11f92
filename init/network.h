/* SPDX-License-Identifier: Apache-2.0 */
/* The network process: picks the interface, brings it up (with a VLAN on
 * top when asked), then applies ip= or runs the DHCP client for the node's
 * whole life — renewing, rebinding, starting over — and keeps the clock in
 * step with the NTP servers the lease names. PID 1 runs it as a supervised
 * child; `ember-init network` runs the same code on a host. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "dhcp_client.h"

struct network_opts {
        const char *ifname;       /* NULL: BOOTIF, else the first with carrier */
        bool have_bootif;
        uint8_t bootif[6];
        const char *vlan;         /* dracut's vlan=<name>:<parent> */
        const char *ip;           /* kernel ip= text; NULL or "dhcp": DHCP */
        bool rapid_commit;
        struct acd_timing acd;
        const char *resolv_conf;  /* NULL: not written */
        bool set_hostname;
        bool sntp;                /* query option-42 servers and step the clock */
        const char *state_path;   /* lease record (JSON), NULL: none */
        int notify_fd;            /* one line when first configured; -1: none */
        bool once;                /* return after the first lease is applied */
        unsigned link_timeout_ms; /* for the interface and its carrier */
        uint32_t request_addr;    /* begin with INIT-REBOOT for this address */
        const char *hostname;     /* sent to the server in option 12 */
};

#define NETWORK_STATE_PATH "/run/ember/network.json"

void network_opts_default(struct network_opts *o);
/* Returns 0 after --once or SIGTERM, a negative errno when the interface
 * cannot be set up at all. */
int network_run(const struct network_opts *o);

/* The address in a lease record that has not yet expired, else 0. */
uint32_t network_remembered_addr(const char *state_path);

/* Opens a TCP connection to the host and port of url (through proxy when
 * set) and logs whether it answered: an early, plain-words hint at 3 a.m.
 * when the attestation server is unreachable. Never fails the boot. */
void network_probe_url(const char *url, const char *proxy);
