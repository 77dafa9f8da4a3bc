/* SPDX-License-Identifier: MIT */
/* Shared test teardown: no counted object may outlive a test (see leakcheck.h). */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "leakcheck.h"
#include "live-private.h"

void
camas_test_check_leaks(void)
{
    for (int k = 0; k < CAMAS__LIVE_N; k++) {
        int n = g_atomic_int_get(&camas__live_counts[k]);
        cr_assert_eq(n, 0, "%d %s object(s) leaked by this test", n, camas__live_name(k));
    }
}

const char *
camas_test_srcdir(void)
{
    return CAMAS_SRCDIR;
}

const char *
camas_test_camas_exe(void)
{
    const char *exe = getenv("CAMAS_EXE");
    return exe ? exe : CAMAS_BUILDDIR "/tools/camas";
}
