/* SPDX-License-Identifier: Apache-2.0 */
/* Which failed boots count against the image (init/failloop.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "failloop.h"

static void test_environmental(void **state)
{
        (void)state;
        /* no lease is never the image's fault, whatever the error */
        assert_true(failure_is_environmental(STAGE_NETWORK, RESULT_FAILED, -EIO));
        assert_true(failure_is_environmental(STAGE_NETWORK, RESULT_TIMEOUT, 0));
        /* servers unreachable, hung or erring */
        assert_true(failure_is_environmental(STAGE_ATTEST, RESULT_FAILED, -ECONNREFUSED));
        assert_true(failure_is_environmental(STAGE_ATTEST, RESULT_FAILED, -ECONNABORTED));
        assert_true(failure_is_environmental(STAGE_ATTEST, RESULT_TIMEOUT, 0));
        assert_true(failure_is_environmental(STAGE_OVERLAY, RESULT_FAILED, -EHOSTUNREACH));
        assert_true(failure_is_environmental(STAGE_OVERLAY, RESULT_TIMEOUT, 0));
}

static void test_counts(void **state)
{
        (void)state;
        /* a verdict on the evidence, a refused overlay */
        assert_false(failure_is_environmental(STAGE_ATTEST, RESULT_FAILED, -EPERM));
        assert_false(failure_is_environmental(STAGE_ATTEST, RESULT_FAILED, 0));
        assert_false(failure_is_environmental(STAGE_OVERLAY, RESULT_FAILED, -EBADMSG));
        /* the image's own stages */
        assert_false(failure_is_environmental(STAGE_ROOTFS, RESULT_FAILED, -ENOMEM));
        assert_false(failure_is_environmental(STAGE_MODULES, RESULT_FAILED, -ETIMEDOUT));
        /* rke2 never Ready counts, even though it ends in a timeout */
        assert_false(failure_is_environmental(STAGE_READY, RESULT_FAILED, -ETIMEDOUT));
        assert_false(failure_is_environmental(STAGE_READY, RESULT_TIMEOUT, 0));
        assert_false(failure_is_environmental(STAGE_RKE2, RESULT_FAILED, -ECHILD));
        assert_false(errno_is_transport(0));
        assert_false(errno_is_transport(-EPERM));
        assert_true(errno_is_transport(-ENETDOWN));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_environmental),
                cmocka_unit_test(test_counts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
