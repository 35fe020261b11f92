/* SPDX-License-Identifier: Apache-2.0 */
/* Ember as PID 1: runs the boot stages in order, records the timeline, and
 * then supervises. It never exits: a failed boot is logged and rebooted, a
 * requested poweroff powers off. */
#include <fcntl.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <sys/reboot.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attest_stage.h"
#include "boot_report.h"
#include "efivar.h"
#include "failloop.h"
#include "lkg.h"
#include "lkg_stage.h"
#include "boot.h"
#include "clock.h"
#include "fileio.h"
#include "cmdline.h"
#include "log.h"
#include "ipconfig.h"
#include "mounts.h"
#include "network.h"
#include "hostprep.h"
#include "measure.h"
#include "overlay_stage.h"
#include "ready.h"
#include "rke2_run.h"
#include "rke2conf.h"
#include "rootfs.h"
#include "supervise.h"
#include "timeline.h"
#include "util.h"

#define UNCOUNT_TIMEOUT_S 30
#define REPORT_TIMEOUT_S 15
#define SHUTDOWN_GRACE_MS 5000
#define RKE2_STOP_GRACE_MS 30000

struct boot {
        struct ember_config cfg;
        struct loop loop;
        struct timeline tl;
        char release[65];
        struct child net;       /* the network process, for the node's life */
        int net_report[2];      /* its first "configured" line, during the stage */
        char net_line[200];
        size_t net_len;
        struct rke2_run rke2;   /* rke2 under supervision, once the rke2 stage started it */
        bool rke2_started;
        char node_name[254];    /* from rke2's configuration, for the ready stage */
        char kubeconfig[PATH_MAX];
        struct child *stage_child; /* the stage running in a child, if any */
        int child_exit;            /* exit status of the last stage child */
        int stage_err;             /* -errno of the last in-process stage */
        /* the failure loop and the last-known-good (docs/lkg.md) */
        bool efi;                  /* efivarfs is mounted */
        struct bootstate state;    /* Ember's EFI variable as this boot found it */
        char booted_entry[256];    /* LoaderEntrySelected, "" when not booted from an ESP */
        char partuuid[37];         /* LoaderDevicePartUUID */
        bool lkg_boot;             /* booted an Ember entry from the ESP */
        char lkg_detail[320];      /* what the lkg stage did */
        enum stage_result lkg_result; /* RESULT_PENDING: the stage did not run */
        unsigned report_failures;  /* failed boots in a row, for the report */
};

typedef int (*stage_fn)(struct boot *b, char *detail, size_t len);

static void log_diags(const struct diag_list *d)
{
        for (size_t i = 0; i < d->n; i++) {
                if (d->items[i].level == DIAG_ERR)
                        log_err("cmdline", "%s", d->items[i].msg);
                else
                        log_warn("cmdline", "%s", d->items[i].msg);
        }
        if (d->dropped)
                log_warn("cmdline", "%zu more problems not shown", d->dropped);
}

static int read_cmdline(struct boot *b, char *detail, size_t len)
{
        char text[CMDLINE_MAX + 1];
        struct cmdline c = { 0 };
        struct diag_list diags = { .n = 0 };
        _cleanup_close_ int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, text, CMDLINE_MAX);
        if (n < 0)
                return log_err("early", "reading /proc/cmdline failed: %m"), negative_errno();
        text[n] = '\0';
        int r = cmdline_split(text, (size_t)n, &c);
        if (r < 0)
                return log_err("early", "parsing /proc/cmdline failed: %s", strerror(-r)), r;
        r = config_apply_cmdline(&b->cfg, &c, EMBER_IS_DEBUG_IMAGE, &diags);
        log_set_debug(b->cfg.debug);
        log_diags(&diags);
        snprintf(detail, len, "%zu parameters, %d invalid", c.n, r < 0 ? 0 : r);
        cmdline_free(&c);
        return r < 0 ? r : 0;
}

/* Every later HTTP(S) request (libcurl, rke2, containerd) reads the
 * proxy from the environment. */
static void set_proxy(const struct ember_config *cfg)
{
        if (!cfg->proxy)
                return;
        static const char *const vars[] = { "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY" };
        for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                setenv(vars[i], cfg->proxy, 1);
        setenv("no_proxy", "localhost,127.0.0.1,::1", 0);
        setenv("NO_PROXY", "localhost,127.0.0.1,::1", 0);
        _cleanup_free_ char *shown = url_redact(cfg->proxy);
        log_info("early", "HTTP(S) proxy %s for every later request (not for localhost)", shown ? shown : "(set)");
}

static int stage_early(struct boot *b, char *detail, size_t len)
{
        int r = read_cmdline(b, detail, len);
        if (r < 0)
                return r;
        _cleanup_free_ char *json = config_to_json(&b->cfg, false);
        if (json)
                log_info("early", "settings: %s", json);
        if (b->cfg.stop_after != _STAGE_INVALID)
                log_info("early", "ember.stop_after=%s: powering off after that stage", stage_name(b->cfg.stop_after));
        set_proxy(&b->cfg);
        char clock_detail[160] = "";
        r = clock_floor(CLOCK_BUILD_EPOCH_FILE, clock_detail, sizeof(clock_detail));
        if (r < 0)
                log_warn("early", "clock floor: %s, continuing", clock_detail[0] ? clock_detail : strerror(-r));
        else if (r > 0)
                log_warn("early", "%s", clock_detail);
        return 0;
}

static int stage_rootfs(struct boot *b, char *detail, size_t len)
{
        return rootfs_move_to_tmpfs(b->cfg.root_size_kind, b->cfg.root_size, detail, len);
}

static int stage_mounts(struct boot *b, char *detail, size_t len)
{
        return mounts_system(detail, len);
}

static int stage_modules(struct boot *b, char *detail, size_t len)
{
        char moddir[128];
        snprintf(moddir, sizeof(moddir), "/lib/modules/%s", b->release);
        int r = modules_load_list(moddir, "/etc/ember/modules", detail, len);
        if (r != 0)
                return r < 0 ? r : -EIO;
        r = mounts_efivarfs();
        if (r < 0)
                return log_err("modules", "mounting efivarfs failed"), r;
        if (r > 0)
                log_info("modules", "UEFI boot: efivarfs mounted");
        return 0;
}

/* What the firmware and the boot loader tell about this boot: an LKG boot
 * from the ESP (LoaderEntrySelected names an Ember entry), and how many
 * boots before it failed in a row (Ember's own variable). */
static void read_boot_state(struct boot *b)
{
        struct statfs sf;
        /* the modules stage mounted it, in its child */
        b->efi = statfs(EFIVARS_DIR, &sf) == 0 && sf.f_type == EFIVARFS_MAGIC;
        if (!b->efi)
                return;
        int r = bootstate_read(EFIVARS_DIR, &b->state);
        if (r < 0)
                log_warn("boot", "Ember's EFI variable is unreadable (%s); counting failed boots from 0", strerror(-r));
        if (b->state.failures)
                log_warn("boot", "%u boot(s) before this one failed in a row, the last at stage %s",
                         (unsigned)b->state.failures, stage_name((enum stage)b->state.last_stage));
        if (loader_device_partuuid(EFIVARS_DIR, b->partuuid) < 0)
                b->partuuid[0] = '\0';
        if (loader_entry_selected(EFIVARS_DIR, b->booted_entry, sizeof(b->booted_entry)) < 0)
                b->booted_entry[0] = '\0';
        struct lkg_entry_name n;
        b->lkg_boot = b->booted_entry[0] && lkg_entry_name_parse(b->booted_entry, &n, NULL) == 0;
        if (b->lkg_boot)
                log_warn("boot", "LAST-KNOWN-GOOD BOOT: %s from the ESP (partition %s); the boot server did not boot "
                         "this node", b->booted_entry, b->partuuid[0] ? b->partuuid : "unknown");
        else if (b->booted_entry[0])
                log_info("boot", "booted entry %s (not Ember's)", b->booted_entry);
}

static void lkg_opts(const struct boot *b, struct lkg_stage_opts *o, char *cmdline, size_t len)
{
        _cleanup_close_ int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, cmdline, len - 1);
        cmdline[n > 0 ? n : 0] = '\0';
        *o = (struct lkg_stage_opts){
                .boot_url = b->cfg.boot_url,
                .proxy = b->cfg.proxy,
                .cmdline = cmdline,
                .booted_entry = b->booted_entry[0] ? b->booted_entry : NULL,
                .partuuid = b->partuuid[0] ? b->partuuid : NULL,
        };
}

/* In a child: keep what booted on the ESP, or bless the LKG entry that
 * booted. */
static int stage_lkg(struct boot *b, char *detail, size_t len)
{
        char cmdline[CMDLINE_MAX + 1];
        struct lkg_stage_opts o;
        lkg_opts(b, &o, cmdline, sizeof(cmdline));
        o.deadline_ms = now_ms() + (stage_default_timeout_s(STAGE_LKG) - 5) * 1000ULL;
        return lkg_stage_run(&o, detail, len);
}

static int uncount_child(struct boot *b, char *detail, size_t len)
{
        char cmdline[CMDLINE_MAX + 1];
        struct lkg_stage_opts o;
        lkg_opts(b, &o, cmdline, sizeof(cmdline));
        int r = lkg_stage_uncount(&o, detail, len);
        return r < 0 ? r : 0;
}

static int network_child(struct child *c, void *userdata)
{
        struct boot *b = userdata;
        struct network_opts o;
        network_opts_default(&o);
        o.ifname = b->cfg.ifname;
        o.have_bootif = b->cfg.have_bootif;
        memcpy(o.bootif, b->cfg.bootif, sizeof(o.bootif));
        o.vlan = b->cfg.vlan;
        o.ip = b->cfg.ip;
        o.acd = b->cfg.acd == ACD_MODE_OFF ? ACD_OFF : b->cfg.acd == ACD_MODE_RFC5227 ? ACD_RFC5227 : ACD_FAST;
        o.resolv_conf = "/etc/resolv.conf";
        o.set_hostname = true;
        o.sntp = true;
        o.state_path = NETWORK_STATE_PATH;
        o.notify_fd = b->net_report[1];
        return network_run(&o) < 0 ? 1 : 0;
}

static bool network_reported(void *userdata)
{
        struct boot *b = userdata;
        ssize_t n = read(b->net_report[0], b->net_line + b->net_len, sizeof(b->net_line) - 1 - b->net_len);
        if (n > 0)
                b->net_len += (size_t)n;
        b->net_line[b->net_len] = '\0';
        return strchr(b->net_line, '\n') || b->net.exited;
}

/* The network process stays for the node's life (DHCP renews the lease);
 * the stage is over when it reports the interface configured. */
static int stage_network(struct boot *b, char *detail, size_t len)
{
        struct ip_config ip = { .method = IP_METHOD_DHCP };
        char why[120];
        if (b->cfg.ip && ip_config_parse(b->cfg.ip, &ip, why, sizeof(why)) < 0)
                ip.method = IP_METHOD_DHCP; /* refused at parse time already */
        if (pipe2(b->net_report, O_CLOEXEC | O_NONBLOCK) < 0)
                return snprintf(detail, len, "pipe: %s", strerror(errno)), negative_errno();
        b->net = (struct child){ .start = network_child, .userdata = b, .restart = ip.method == IP_METHOD_DHCP };
        snprintf(b->net.name, sizeof(b->net.name), "network");
        loop_add(&b->loop, &b->net);
        int r = child_spawn(&b->loop, &b->net);
        if (r < 0) {
                loop_remove(&b->loop, &b->net);
                snprintf(detail, len, "starting the network process: %s", strerror(-r));
        } else {
                b->loop.watch_fd = b->net_report[0];
                (void)loop_run(&b->loop, now_ms() + stage_default_timeout_s(STAGE_NETWORK) * 1000ULL,
                               network_reported, b);
                b->loop.watch_fd = -1;
        }
        /* restarts must not write into a closed pipe */
        b->net_report[0] = safe_close(b->net_report[0]);
        b->net_report[1] = safe_close(b->net_report[1]);
        if (r < 0)
                return r;
        char *nl = strchr(b->net_line, '\n');
        if (!nl) {
                if (b->net.exited)
                        snprintf(detail, len, "the network process exited before configuring an interface (see above)");
                else
                        snprintf(detail, len, "no address after %u s", stage_default_timeout_s(STAGE_NETWORK));
                return -ETIMEDOUT;
        }
        *nl = '\0';
        snprintf(detail, len, "%s", b->net_line);
        network_probe_url(b->cfg.attest_url, b->cfg.proxy);
        return 0;
}

/* Runs in a child (a hung TPM or server is killed at the stage's limit);
 * what the overlay stage needs is left in /run/ember/attest/. */
static int stage_attest(struct boot *b, char *detail, size_t len)
{
        const struct attest_stage_opts o = {
                .url = b->cfg.attest_url,
                .proxy = b->cfg.proxy,
                .ek = (enum attest_ek)b->cfg.attest_ek,
                .deadline_ms = now_ms() + stage_default_timeout_s(STAGE_ATTEST) * 1000ULL,
        };
        return attest_stage_run(&o, detail, len);
}

/* In a child, like attest: the root it writes into is shared with PID 1. */
static int stage_overlay(struct boot *b, char *detail, size_t len)
{
        const struct overlay_stage_opts o = {
                .attest_url = b->cfg.attest_url,
                .proxy = b->cfg.proxy,
                .deadline_ms = now_ms() + stage_default_timeout_s(STAGE_OVERLAY) * 1000ULL,
        };
        return overlay_stage_run(&o, detail, len);
}

/* In a child of the rke2 stage: what rke2 needs from the host, then the
 * measured start (golden digests of the image's rke2, the overlay the
 * attestation named, each extended into PCR 8 and Ember's event log). */
static int stage_rke2_checks(struct boot *b, char *detail, size_t len)
{
        char moddir[128];
        snprintf(moddir, sizeof(moddir), "/lib/modules/%s", b->release);
        const struct hostprep_params hp = { .moddir = moddir };
        int r = hostprep_run(&hp, detail, len);
        if (r < 0)
                return r;
        log_info("rke2", "host prepared: %s", detail);
        const struct measure_params mp = { .require_overlay = true };
        return measure_rke2(&mp, detail, len);
}

static enum stage_result run_fn_in_child(struct boot *b, enum stage s, stage_fn fn, unsigned timeout_s, char *detail,
                                         size_t len);

/* rke2 server or agent, as its configuration says, started under PID 1's
 * supervision once the host is prepared and every measurement matched. */
static int stage_rke2(struct boot *b, char *detail, size_t len)
{
        struct rke2_conf conf;
        char why[320] = "";
        const struct reason w = { why, sizeof(why) };
        int r = rke2conf_load(NULL, &conf, &w);
        if (r < 0)
                return snprintf(detail, len, "rke2's configuration: %s", why), r;
        if (!conf.files)
                log_warn("rke2", "no /etc/rancher/rke2/config.yaml: the overlay configured nothing for rke2");
        log_info("rke2", "role %s (%s); node %s; kubeconfig %s", rke2_role_to_string(conf.role), conf.rule,
                 conf.node_name, conf.kubeconfig);
        const char *role = rke2_role_to_string(conf.role);
        snprintf(b->node_name, sizeof(b->node_name), "%s", conf.node_name);
        snprintf(b->kubeconfig, sizeof(b->kubeconfig), "%s", conf.kubeconfig);
        rke2conf_free(&conf);

        enum stage_result res = run_fn_in_child(b, STAGE_RKE2, stage_rke2_checks,
                                                stage_default_timeout_s(STAGE_RKE2), detail, len);
        if (res != RESULT_OK)
                return res == RESULT_TIMEOUT ? -ETIMEDOUT : -EIO;
        log_info("rke2", "measured: %s", detail);

        rke2_run_init(&b->rke2, role);
        b->rke2.console = b->cfg.rke2_console;
        r = rke2_start(&b->loop, &b->rke2, detail, len);
        if (r < 0)
                return r;
        b->rke2_started = true;
        return 0;
}

/* In a child: polls the API server for this Node until Ready or
 * ember.ready_timeout. */
static int stage_ready_wait(struct boot *b, char *detail, size_t len)
{
        /* rke2's configuration as the rke2 stage read it, not parsed twice */
        const struct ready_params p = { .timeout_s = b->cfg.ready_timeout_s, .node_name = b->node_name,
                                        .kubeconfig = b->kubeconfig };
        return ready_wait(&p, detail, len);
}

static int stage_ready(struct boot *b, char *detail, size_t len)
{
        if (!b->rke2_started)
                return snprintf(detail, len, "rke2 is not running"), -ESRCH;
        enum stage_result res = run_fn_in_child(b, STAGE_READY, stage_ready_wait, b->cfg.ready_timeout_s + 30,
                                                detail, len);
        if (rke2_failed(&b->rke2))
                return snprintf(detail, len, "rke2 %s keeps failing: %u restarts, the last ended with %s %d",
                                b->rke2.role, b->rke2.proc.restarts,
                                WIFEXITED(b->rke2.proc.last_status) ? "status" : "signal",
                                WIFEXITED(b->rke2.proc.last_status) ? WEXITSTATUS(b->rke2.proc.last_status)
                                                                    : WTERMSIG(b->rke2.proc.last_status)),
                       -ECHILD;
        return res == RESULT_OK ? 0 : res == RESULT_TIMEOUT ? -ETIMEDOUT : -EIO;
}

/* Stages that only touch the shared mount table and the kernel run in a
 * child, so a hang can be killed at the stage's time limit and a crash
 * cannot take PID 1 down. Stages that change PID 1 itself run inline. */
static const struct {
        stage_fn fn;
        bool in_child;
} stage_impl[_STAGE_MAX] = {
        [STAGE_EARLY] = { stage_early, false },
        [STAGE_ROOTFS] = { stage_rootfs, false },
        [STAGE_MOUNTS] = { stage_mounts, true },
        [STAGE_MODULES] = { stage_modules, true },
        [STAGE_NETWORK] = { stage_network, false },
        [STAGE_ATTEST] = { stage_attest, true },
        [STAGE_OVERLAY] = { stage_overlay, true },
        [STAGE_RKE2] = { stage_rke2, false },
        [STAGE_READY] = { stage_ready, false },
        [STAGE_LKG] = { stage_lkg, true },
};

enum { CHILD_FAILED = 1, CHILD_TRANSPORT = 2, CHILD_SKIPPED = 3 };

struct stage_child {
        struct boot *b;
        stage_fn fn;
        int pipe_w;
};

static int stage_child_start(struct child *c, void *userdata)
{
        struct stage_child *sc = userdata;
        char detail[320] = "";
        int r = sc->fn(sc->b, detail, sizeof(detail));
        (void)!write(sc->pipe_w, detail, strlen(detail));
        /* the parent learns the kind of failure from the exit status */
        return r > 0 ? CHILD_SKIPPED : r == 0 ? 0 : errno_is_transport(r) ? CHILD_TRANSPORT : CHILD_FAILED;
}

static bool child_gone_only(void *userdata)
{
        return ((struct child *)userdata)->exited;
}

/* The stage's child is gone, or rke2 (started by an earlier stage) gave
 * up: then waiting on is pointless. */
static bool child_gone(void *userdata)
{
        struct boot *b = userdata;
        return b->stage_child->exited || (b->rke2_started && rke2_failed(&b->rke2));
}

static enum stage_result run_fn_in_child(struct boot *b, enum stage s, stage_fn fn, unsigned timeout_s, char *detail,
                                         size_t len)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                return snprintf(detail, len, "pipe: %s", strerror(errno)), RESULT_FAILED;
        struct stage_child sc = { b, fn, p[1] };
        struct child c = { .start = stage_child_start, .userdata = &sc, .deadline = now_ms() + timeout_s * 1000ULL };
        snprintf(c.name, sizeof(c.name), "stage %s", stage_name(s));
        loop_add(&b->loop, &c);
        b->stage_child = &c;
        int r = child_spawn(&b->loop, &c);
        close(p[1]);
        if (r == 0) {
                (void)loop_run(&b->loop, 0, child_gone, b);
                if (!c.exited) { /* rke2 gave up: the stage's child has no purpose left */
                        kill(c.pid, SIGKILL);
                        (void)loop_run(&b->loop, now_ms() + 5000, child_gone_only, &c);
                }
        }
        loop_remove(&b->loop, &c);
        b->stage_child = NULL;
        ssize_t n = read(p[0], detail, len - 1);
        detail[n > 0 ? n : 0] = '\0';
        close(p[0]);
        if (r < 0)
                return snprintf(detail, len, "fork: %s", strerror(-r)), RESULT_FAILED;
        if (c.timed_out)
                return snprintf(detail, len, "no result after %u s", timeout_s), RESULT_TIMEOUT;
        b->child_exit = WIFEXITED(c.last_status) ? WEXITSTATUS(c.last_status) : CHILD_FAILED;
        return b->child_exit == 0 ? RESULT_OK : b->child_exit == CHILD_SKIPPED ? RESULT_SKIPPED : RESULT_FAILED;
}

static enum stage_result run_in_child(struct boot *b, enum stage s, char *detail, size_t len)
{
        return run_fn_in_child(b, s, stage_impl[s].fn, stage_default_timeout_s(s), detail, len);
}

static enum stage_result run_stage(struct boot *b, enum stage s, char *detail, size_t len)
{
        if (!stage_impl[s].fn) {
                snprintf(detail, len, "not implemented in this build");
                return RESULT_NOT_IMPLEMENTED;
        }
        b->child_exit = 0;
        b->stage_err = 0;
        if (stage_impl[s].in_child)
                return run_in_child(b, s, detail, len);
        int r = stage_impl[s].fn(b, detail, len);
        b->stage_err = r < 0 ? r : 0;
        return r < 0 ? RESULT_FAILED : RESULT_OK;
}

static void arm_watchdog(struct boot *b)
{
        char ident[40] = "";
        int t = watchdog_open(&b->loop, "/dev/watchdog", b->cfg.watchdog_s, ident, sizeof(ident));
        if (t < 0)
                log_warn("watchdog", "opening /dev/watchdog failed: %s, continuing without", strerror(-t));
        else if (t == 0)
                log_info("watchdog", "no hardware watchdog, continuing without");
        else
                log_info("watchdog", "%s armed: %d s timeout, fed every %llu ms", ident, t,
                         b->loop.wdt_interval_ms);
}

static void emit_table_line(const char *line, void *userdata)
{
        log_info("timeline", "%s", line);
}

static void write_timeline(struct boot *b)
{
        _cleanup_free_ char *json = timeline_to_json(&b->tl);
        if (!json)
                return log_err("timeline", "rendering boot.json failed: out of memory");
        (void)mkdir("/run", 0755);
        (void)mkdir("/run/ember", 0755);
        _cleanup_close_ int fd = open("/run/ember/boot.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t n = strlen(json);
        if (fd < 0 || write(fd, json, n) != (ssize_t)n || rename("/run/ember/boot.json.tmp", "/run/ember/boot.json") < 0)
                log_err("timeline", "writing /run/ember/boot.json failed: %m");
        timeline_format(&b->tl, emit_table_line, NULL);
}

_Noreturn static void shutdown_now(struct boot *b, enum loop_request req)
{
        if (b->rke2_started)
                rke2_stop(&b->loop, &b->rke2, RKE2_STOP_GRACE_MS);
        log_info("shutdown", "stopping all processes");
        loop_kill_all(&b->loop, SHUTDOWN_GRACE_MS);
        sync();
        log_info("shutdown", "%s", req == REQUEST_POWEROFF ? "powering off" : "rebooting");
        reboot(req == REQUEST_POWEROFF ? RB_POWER_OFF : RB_AUTOBOOT);
        log_err("shutdown", "reboot(2) failed: %m; halting here");
        for (;;)
                pause();
}

/* A debug image can be told to stop feeding the watchdog and hang, so a
 * test can prove the watchdog resets a hung node. */
static void debug_hang(struct boot *b, enum stage s)
{
        if (!EMBER_IS_DEBUG_IMAGE || b->cfg.debug_hang_after != s)
                return;
        log_warn("debug", "ember.debug_hang_after=%s: hanging on purpose, watchdog no longer fed", stage_name(s));
        b->loop.wdt_paused = true;
        for (;;)
                (void)loop_run(&b->loop, 0, NULL, NULL);
}

/* A debug image can describe files of the running system after the
 * overlay stage (ember.debug_show=/a,/b), so a test can see what the
 * overlay put there: size, mode, owner and SHA-256, never the contents. */
static void debug_show(struct boot *b, enum stage s)
{
        if (!EMBER_IS_DEBUG_IMAGE || s != STAGE_OVERLAY || !b->cfg.debug_show)
                return;
        _cleanup_free_ char *list = strdup(b->cfg.debug_show);
        for (char *save = NULL, *p = list ? strtok_r(list, ",", &save) : NULL; p; p = strtok_r(NULL, ",", &save)) {
                struct stat st;
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                uint8_t d[32];
                char hex[65] = "-";
                if (lstat(p, &st) < 0) {
                        log_info("debug", "%s: %m", p);
                        continue;
                }
                if (S_ISREG(st.st_mode) && read_file_all(p, 64u << 20, &data, &len) == 0) {
                        mbedtls_sha256_ret((const unsigned char *)data, len, d, 0);
                        for (int i = 0; i < 32; i++)
                                snprintf(hex + 2 * i, 3, "%02x", d[i]);
                }
                log_info("debug", "%s: %s, %lld bytes, mode %04o, owner %u:%u, sha256 %s", p,
                         S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : S_ISLNK(st.st_mode) ? "symlink" : "other",
                         (long long)st.st_size, st.st_mode & 07777, st.st_uid, st.st_gid, hex);
        }
}

static bool rke2_gave_up(void *userdata)
{
        struct boot *b = userdata;
        return b->rke2_started && rke2_failed(&b->rke2);
}

/* In a child: the boot's outcome to the attestation server, over the
 * channel the attestation opened (credential + proof by E). */
static int report_child(struct boot *b, char *detail, size_t len)
{
        struct boot_report r = { 0 };
        const struct reason w = { detail, len };
        boot_report_from_timeline(&r, &b->tl);
        int k = boot_report_read_boot_id(NULL, r.boot_id);
        if (k < 0)
                return reason_fail(&w, k, "reading this boot's id: %s", strerror(-k));
        r.lkg_boot = b->lkg_boot;
        r.consecutive_failures = b->report_failures;
        if (b->lkg_result != RESULT_PENDING) {
                r.lkg = b->lkg_result == RESULT_OK ? lkg_stage_outcome_word(b->lkg_detail)
                        : b->lkg_result == RESULT_SKIPPED ? BOOT_REPORT_LKG_NONE : BOOT_REPORT_LKG_FAILED;
                snprintf(r.lkg_detail, sizeof(r.lkg_detail), "%.300s", b->lkg_detail);
        }
        _cleanup_free_ char *json = NULL;
        if ((k = boot_report_json(&r, &json)) < 0)
                return reason_fail(&w, k, "making the report: %s", strerror(-k));
        struct attest_result res = { 0 };
        _cleanup_free_ char *pins = NULL;
        const char *ca = NULL;
        k = attest_server_trust(NULL, NULL, &pins, &ca, &w);
        if (k == 0)
                k = attest_report_load(ATTEST_STATE_DIR, &res, detail, len);
        if (k == 0) {
                struct attest_client_config cc = { .url = b->cfg.attest_url, .pins = pins, .ca_file = ca,
                                                   .proxy = b->cfg.proxy };
                k = attest_report_send(&cc, &res, json, detail, len);
        }
        attest_result_free(&res);
        return k;
}

/* Reports are sent only by a node that attested in this boot: before that
 * it has no channel (a refusal is recorded by the server itself). */
static void send_report(struct boot *b, unsigned failures)
{
        char detail[320] = "";
        if (!b->cfg.attest_url || access(ATTEST_STATE_DIR "/credential", F_OK) < 0)
                return;
        b->report_failures = failures;
        enum stage_result r = run_fn_in_child(b, _STAGE_MAX - 1, report_child, REPORT_TIMEOUT_S, detail, sizeof(detail));
        if (r == RESULT_OK)
                log_info("boot", "outcome reported to the attestation server");
        else
                log_warn("boot", "reporting the outcome failed: %s, ignoring", detail);
}

/* A failed boot, counted in Ember's EFI variable (written once per boot);
 * an LKG boot that failed for a reason that is not the image's gets back the
 * try systemd-boot counted. Returns the backoff before the reboot: it doubles
 * with every failed boot in a row up to the cap, with jitter, so a fleet
 * that fails together does not come back together. */
static unsigned long long count_failure(struct boot *b, enum stage s, enum stage_result res)
{
        int err = b->child_exit == CHILD_TRANSPORT ? -ECONNABORTED : b->stage_err;
        bool env = failure_is_environmental(s, res, err);
        struct bootstate st = b->state;
        if (st.failures < UINT32_MAX)
                st.failures++;
        st.last_stage = (uint32_t)s;
        st.time = (uint64_t)time(NULL);
        if (b->efi) {
                int r = bootstate_write(EFIVARS_DIR, &st);
                if (r < 0)
                        log_warn("boot", "recording the failed boot in Ember's EFI variable failed: %s; the backoff "
                                 "does not grow", strerror(-r));
        } else {
                log_warn("boot", "no EFI variables: failed boots in a row are not counted across reboots");
        }
        if (b->lkg_boot && env) {
                char detail[320] = "";
                enum stage_result u = run_fn_in_child(b, STAGE_LKG, uncount_child, UNCOUNT_TIMEOUT_S, detail,
                                                      sizeof(detail));
                if (u == RESULT_OK)
                        log_info("boot", "not the image's fault: %s", detail);
                else
                        log_warn("boot", "giving back systemd-boot's try failed: %s, ignoring", detail);
        } else if (b->lkg_boot) {
                log_warn("boot", "this failure counts against %s (systemd-boot counted the try)", b->booted_entry);
        }
        send_report(b, st.failures);
        uint32_t rnd = 0;
        (void)getrandom_full(&rnd, sizeof(rnd));
        unsigned long long delay = backoff_delay_ms(st.failures, b->cfg.backoff_base_s * 1000ULL,
                                                    b->cfg.backoff_cap_s * 1000ULL, rnd);
        log_err("boot", "failed boot %u in a row; %s against the image; rebooting in %llu.%llu s",
                (unsigned)st.failures, env ? "an outage, not counted" : "counted", delay / 1000, delay % 1000 / 100);
        return delay;
}

/* The node is up: the failure count starts over. */
static void count_success(struct boot *b)
{
        if (!b->efi || b->state.failures == 0)
                return;
        struct bootstate st = { 0 };
        st.time = (uint64_t)time(NULL);
        int r = bootstate_write(EFIVARS_DIR, &st);
        if (r < 0)
                log_warn("boot", "resetting Ember's EFI variable failed: %s, ignoring", strerror(-r));
        else
                log_info("boot", "up after %u failed boot(s): the failure count starts over", (unsigned)b->state.failures);
}

_Noreturn static void finish(struct boot *b, enum stage s, enum stage_result res)
{
        write_timeline(b);
        if (res == RESULT_OK && s >= STAGE_READY) {
                count_success(b);
                send_report(b, 0);
        }
        if (res == RESULT_OK && b->cfg.stop_after == s) {
                log_info("boot", "ember.stop_after=%s reached", stage_name(s));
                shutdown_now(b, REQUEST_POWEROFF);
        }
        if (res != RESULT_OK) {
                log_err("boot", "boot failed at stage %s (%s): %s", stage_name(s), stage_result_name(res),
                        timeline_last(&b->tl)->detail);
                unsigned long long delay = count_failure(b, s, res);
                enum loop_request req = loop_run(&b->loop, now_ms() + delay, NULL, NULL);
                shutdown_now(b, req == REQUEST_POWEROFF ? REQUEST_POWEROFF : REQUEST_REBOOT);
        }
        log_info("boot", "node is up; supervising");
        enum loop_request req = loop_run(&b->loop, 0, rke2_gave_up, b);
        if (req == REQUEST_NONE) {
                log_err("boot", "rke2 %s keeps failing after the node was up (%u restarts)", b->rke2.role,
                        b->rke2.proc.restarts);
                b->state = (struct bootstate){ 0 };
                unsigned long long delay = count_failure(b, STAGE_READY, RESULT_FAILED);
                req = loop_run(&b->loop, now_ms() + delay, NULL, NULL);
                shutdown_now(b, req == REQUEST_POWEROFF ? REQUEST_POWEROFF : REQUEST_REBOOT);
        }
        shutdown_now(b, req);
}

static void setup_console(void)
{
        if (fcntl(STDOUT_FILENO, F_GETFD) < 0) {
                int fd = open("/dev/console", O_RDWR | O_NOCTTY);
                if (fd >= 0) {
                        dup2(fd, 0);
                        dup2(fd, 1);
                        dup2(fd, 2);
                        if (fd > 2)
                                close(fd);
                }
        }
}

static void setup_kernel_logging(void)
{
        /* Ember's console lines must never be rate-limited away. */
        int fd = open("/proc/sys/kernel/printk_devkmsg", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                (void)!write(fd, "on\n", 3);
                close(fd);
        }
}

_Noreturn void pid1_main(int argc, char **argv)
{
        static struct boot b;
        struct utsname u;
        char detail[320];

        umask(022);
        setup_console();
        setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
        config_init(&b.cfg);
        uname(&u);
        snprintf(b.release, sizeof(b.release), "%s", u.release);
        timeline_init(&b.tl, EMBER_VERSION, b.release);
        timeline_begin(&b.tl, STAGE_EARLY, now_ms());

        int r = mounts_early();
        log_open_console(true);
        setup_kernel_logging();
        reboot(RB_DISABLE_CAD); /* ctrl-alt-del becomes SIGINT to us */
        log_info("early", "Ember %s starting as PID 1 on Linux %s", EMBER_VERSION, b.release);
        if (EMBER_IS_DEBUG_IMAGE)
                log_warn("early", "THIS IS A DEBUG IMAGE: it honours ember.debug_* switches and must not run in production");
        if (loop_init(&b.loop) < 0)
                log_err("early", "setting up the signalfd failed: %m; continuing, reboot requests may be lost");

        for (enum stage s = STAGE_EARLY; s < _STAGE_MAX; s++) {
                enum stage_result res;
                detail[0] = '\0';
                if (s != STAGE_EARLY) {
                        timeline_begin(&b.tl, s, now_ms());
                        log_info(stage_name(s), "starting");
                }
                res = s == STAGE_EARLY && r < 0 ? RESULT_FAILED : run_stage(&b, s, detail, sizeof(detail));
                timeline_end(&b.tl, res, now_ms(), detail);
                const struct timeline_entry *e = timeline_last(&b.tl);
                if (s == STAGE_LKG) {
                        snprintf(b.lkg_detail, sizeof(b.lkg_detail), "%s", detail);
                        b.lkg_result = res;
                }
                if (res != RESULT_OK && s > STAGE_READY) {
                        /* the node is Ready: keeping an LKG is worth a warning, not a reboot */
                        if (res == RESULT_SKIPPED || res == RESULT_NOT_IMPLEMENTED)
                                log_warn(stage_name(s), "%s: skipped", detail);
                        else
                                log_err(stage_name(s), "%s: %s; the node stays up", stage_result_name(res), detail);
                        continue;
                }
                if (res != RESULT_OK) {
                        log_err(stage_name(s), "%s: %s", stage_result_name(res), detail);
                        finish(&b, s, res);
                }
                log_info(stage_name(s), "done in %llu ms: %s", e->end_ms - e->start_ms, detail);
                if (s == STAGE_MODULES) {
                        arm_watchdog(&b);
                        read_boot_state(&b);
                }
                debug_show(&b, s);
                debug_hang(&b, s);
                if (b.cfg.stop_after == s)
                        finish(&b, s, res);
        }
        finish(&b, _STAGE_MAX - 1, RESULT_OK);
}
