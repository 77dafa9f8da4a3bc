/* SPDX-License-Identifier: MIT */
/*
 * The C examples of docs/clocks.md (docs/examples/hello-*.c) compiled into the test suite and
 * run: both forms of the aiomas Hello World agent must print the same lines, in simulated time
 * and in real time.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "leakcheck.h"

int hello_callbacks_main(int argc, char **argv);
int hello_task_main(int argc, char **argv);

#define main hello_callbacks_main
#include "../docs/examples/hello-callbacks.c"
#undef main

#define main hello_task_main
#include "../docs/examples/hello-task.c"
#undef main

TestSuite(docs_examples, .fini = camas_test_check_leaks);

static const char expected[] = "Monty says:\n"
                               "Hello, World!  (t=0.1)\n"
                               "Hello, World!  (t=0.2)\n"
                               "Hello, World!  (t=0.3)\n";

Test(docs_examples, hello_world_with_callbacks_prints_three_greetings, .init = cr_redirect_stdout)
{
    char *argv[] = {"hello-callbacks", NULL};
    cr_assert_eq(hello_callbacks_main(1, argv), 0);
    fflush(stdout);
    cr_assert_stdout_eq_str(expected);
}

Test(docs_examples, hello_world_as_a_task_prints_three_greetings, .init = cr_redirect_stdout)
{
    char *argv[] = {"hello-task", NULL};
    cr_assert_eq(hello_task_main(1, argv), 0);
    fflush(stdout);
    cr_assert_stdout_eq_str(expected);
}

/* In real time the greetings come at about the same times; the lines are checked without the
 * times, which depend on the machine's load. */
Test(docs_examples, both_forms_also_run_in_real_time, .init = cr_redirect_stdout)
{
    char *argv[] = {"hello", "--realtime", NULL};
    cr_assert_eq(hello_callbacks_main(2, argv), 0);
    cr_assert_eq(hello_task_main(2, argv), 0);
    fflush(stdout);
    FILE *out = cr_get_redirected_stdout();
    char line[256];
    int hellos = 0, says = 0;
    while (fgets(line, sizeof line, out)) {
        says += strcmp(line, "Monty says:\n") == 0;
        hellos += strncmp(line, "Hello, World!  (t=", 18) == 0;
    }
    cr_assert_eq(says, 2);
    cr_assert_eq(hellos, 6);
}
