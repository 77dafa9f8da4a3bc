/* SPDX-License-Identifier: MIT */
/*
 * Shared test teardown: fails the test when any counted camas object is still alive.  Use as
 * `TestSuite(value, .fini = camas_test_check_leaks);` so every test of a suite checks it.
 */
#pragma once

void camas_test_check_leaks(void);

/* Absolute paths of the source tree and of the `camas` program, for tests that run it. */
const char *camas_test_srcdir(void);
const char *camas_test_camas_exe(void);
