/* SPDX-License-Identifier: Apache-2.0 */
/* The supervision core outside PID 1: real children, real signals. Time
 * limits here are generous upper bounds, never measurements. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/wait.h>

#include "log.h"
#include "supervise.h"
#include "util.h"

static int start_exit3(struct child *c, void *u) { return 3; }
static int start_hang(struct child *c, void *u)
{
        for (;;)
                pause();
        return 0;
}

static bool failed_or_done(void *u) { return ((struct child *)u)->failed; }
static bool exited(void *u) { return ((struct child *)u)->exited; }

static void test_restart_backoff_then_fail(void **state)
{
        struct loop l;
        assert_int_equal(loop_init(&l), 0);
        struct child c = { .name = "crasher", .start = start_exit3, .restart = true, .backoff_min_ms = 10,
                           .backoff_max_ms = 40, .max_restarts = 4 };
        assert_int_equal(loop_add(&l, &c), 0);
        assert_int_equal(child_spawn(&l, &c), 0);
        assert_int_equal(loop_run(&l, now_ms() + 20000, failed_or_done, &c), REQUEST_NONE);
        assert_true(c.failed);
        assert_int_equal(c.restarts, 4);
        assert_true(WIFEXITED(c.last_status));
        assert_int_equal(WEXITSTATUS(c.last_status), 3);
        assert_int_equal(c.backoff_ms, 40); /* doubled and capped */
        loop_done(&l);
}

static int start_sleep_exit3(struct child *c, void *u)
{
        usleep(60000);
        return 3;
}

/* A run longer than stable_ms starts the count and the backoff over: a
 * process that fails once a day is never given up on. */
static void test_stable_run_resets_count(void **state)
{
        struct loop l;
        assert_int_equal(loop_init(&l), 0);
        struct child c = { .name = "slow crasher", .start = start_sleep_exit3, .restart = true, .backoff_min_ms = 10,
                           .backoff_max_ms = 40, .max_restarts = 2, .stable_ms = 30 };
        assert_int_equal(loop_add(&l, &c), 0);
        assert_int_equal(child_spawn(&l, &c), 0);
        unsigned long long end = now_ms() + 800;
        assert_int_equal(loop_run(&l, end, failed_or_done, &c), REQUEST_NONE);
        assert_false(c.failed);         /* 8+ exits, never more than one restart "in a row" */
        assert_true(c.restarts <= 1);
        assert_int_equal(c.backoff_ms, 20); /* reset to the minimum, then doubled once */
        c.restart = false;
        loop_run(&l, now_ms() + 2000, exited, &c);
        loop_done(&l);
}

static void test_deadline_kills(void **state)
{
        struct loop l;
        assert_int_equal(loop_init(&l), 0);
        struct child c = { .name = "hang", .start = start_hang, .deadline = now_ms() + 50 };
        loop_add(&l, &c);
        assert_int_equal(child_spawn(&l, &c), 0);
        assert_int_equal(loop_run(&l, now_ms() + 20000, exited, &c), REQUEST_NONE);
        assert_true(c.exited);
        assert_true(c.timed_out);
        assert_true(WIFSIGNALED(c.last_status));
        assert_int_equal(WTERMSIG(c.last_status), SIGKILL);
        loop_remove(&l, &c);
        assert_int_equal(l.nchildren, 0);
        loop_done(&l);
}

static void test_signals_become_requests(void **state)
{
        struct loop l;
        assert_int_equal(loop_init(&l), 0);
        kill(getpid(), SIGTERM);
        assert_int_equal(loop_run(&l, now_ms() + 20000, NULL, NULL), REQUEST_POWEROFF);
        l.request = REQUEST_NONE;
        kill(getpid(), SIGINT);
        assert_int_equal(loop_run(&l, now_ms() + 20000, NULL, NULL), REQUEST_REBOOT);
        loop_done(&l);
}

/* Orphans and unknown children are reaped too: no zombie is left behind. */
static void test_reaps_unknown(void **state)
{
        struct loop l;
        assert_int_equal(loop_init(&l), 0);
        pid_t p = fork();
        if (p == 0)
                _exit(0);
        assert_true(p > 0);
        struct child c = { .name = "marker", .start = start_exit3 };
        loop_add(&l, &c);
        child_spawn(&l, &c);
        loop_run(&l, now_ms() + 20000, exited, &c);
        loop_run(&l, now_ms() + 100, NULL, NULL);
        assert_int_equal(l.reaped_orphans, 1);
        assert_int_equal(waitpid(p, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
        loop_done(&l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_restart_backoff_then_fail),
                cmocka_unit_test(test_stable_run_resets_count),
                cmocka_unit_test(test_deadline_kills),
                cmocka_unit_test(test_signals_become_requests),
                cmocka_unit_test(test_reaps_unknown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
