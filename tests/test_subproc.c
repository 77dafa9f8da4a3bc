/* SPDX-License-Identifier: MIT */
/*
 * Multi-process containers: a parent starts `camas container --manager` children, spawns
 * agents there by type name, distributes simulation time with set_time(), stops them, and
 * learns of children that crash or never get ready — nothing hangs and nothing leaks.  Each
 * test runs in a testutil socket world with a parent container on TCP.
 */
#include <criterion/criterion.h>
#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <string.h>

#include <camas/camas.h>
#include <camas/container.h>
#include <camas/subproc.h>

#include "testutil.h"

TestSuite(subproc, .fini = camas_test_check_leaks, .timeout = 60);

/* Starts a child of @parent (the camas program unless @options names another) and runs until
 * it is ready. */
static CamasSubproc *
start_child(CamasTestWorld *w, CamasContainer *parent, const CamasSubprocOptions *options)
{
    CamasSubprocOptions o = options ? *options : (CamasSubprocOptions){0};
    if (!o.program)
        o.program = camas_test_camas_exe();
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasFuture) f = camas_subproc_start(parent, &o, &error);
    cr_assert_not_null(f, "%s", error ? error->message : "");
    camas_test_run_until_done(w, f);
    CamasSubproc *s = camas_subproc_start_finish(f, &error);
    cr_assert_not_null(s, "%s", error ? error->message : "");
    return s;
}

static void
stop_child(CamasTestWorld *w, CamasSubproc *s)
{
    g_autoptr(CamasFuture) f = camas_subproc_stop(s);
    g_autoptr(CamasValue) r = camas_test_await_ok(w, f);
    cr_assert_not(camas_subproc_is_running(s));
    camas_subproc_unref(s);
}

/* Spawns a Contractor in @s and asks it for a bid on "t", which it makes after 10..50 ms of the
 * child's simulated time.  Returns: (transfer full) the bid's future. */
static CamasFuture *
ask_for_a_bid(CamasTestWorld *w, CamasSubproc *s)
{
    g_autoptr(CamasFuture) f = camas_subproc_spawn(s, "Contractor", NULL, NULL);
    g_autoptr(CamasValue) r = camas_test_await_ok(w, f);
    CamasProxy *contractor = camas_value_get_proxy(camas_value_get_item(r, 0));
    return camas_proxy_call_build(contractor, "cfp", "[s]", "t");
}

Test(subproc, a_child_spawns_agents_by_type_and_stops)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_SOCKETS);
    CamasContainer *parent = camas_test_container_new_on(w, CAMAS_TEST_TCP, NULL, NULL);
    CamasSubproc *s = start_child(w, parent, NULL);
    cr_assert(camas_subproc_is_running(s));
    cr_assert(g_str_has_prefix(camas_subproc_get_url(s), "tcp://127.0.0.1:"));
    cr_assert(g_str_has_suffix(camas_subproc_get_url(s), "/0"));
    g_autoptr(CamasFuture) f = camas_subproc_spawn(s, "Callee", NULL, NULL);
    g_autoptr(CamasValue) r = camas_test_await_ok(w, f);
    CamasProxy *callee = camas_value_get_proxy(camas_value_get_item(r, 0));
    cr_assert_not_null(callee, "spawn answers [proxy, url]");
    cr_assert_str_eq(camas_proxy_get_path(callee), "agents/1");
    const char *url = camas_value_get_str(camas_value_get_item(r, 1), NULL);
    g_autofree char *expect_url = g_strdup(camas_subproc_get_url(s));
    expect_url[strlen(expect_url) - 1] = '1';
    cr_assert_str_eq(url, expect_url);
    g_autoptr(CamasFuture) c = camas_proxy_call_build(callee, "spam", "[i]", 2);
    g_autoptr(CamasValue) spam = camas_test_await_ok(w, c);
    cr_assert_str_eq(camas_value_get_str(spam, NULL), "spamspam");
    /* the URL works through the parent container too (same connection) */
    g_autoptr(CamasFuture) cf = camas_container_connect(parent, url, NULL);
    g_autoptr(CamasValue) pv = camas_test_await_ok(w, cf);
    cr_assert_eq(camas_proxy_get_connection(camas_value_get_proxy(pv)),
                 camas_proxy_get_connection(callee));
    stop_child(w, s);
}

static void
collect_output(CamasSubproc *s, const char *line, gpointer data)
{
    g_string_append_printf(data, "%s\n", line);
}

Test(subproc, set_time_distributes_simulation_time_to_the_child)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_SOCKETS);
    CamasContainer *parent = camas_test_container_new_on(w, CAMAS_TEST_TCP, NULL, NULL);
    g_autoptr(GString) output = g_string_new(NULL);
    CamasSubprocOptions o = {
        .seed = 3, .name = "child", .output = collect_output, .output_data = output};
    CamasSubproc *s = start_child(w, parent, &o);
    g_autoptr(CamasFuture) bid = ask_for_a_bid(w, s);
    g_autoptr(CamasFuture) t1 = camas_subproc_set_time(s, 0.001);
    g_autoptr(CamasValue) r1 = camas_test_await_ok(w, t1);
    cr_assert_not(camas_future_is_done(bid), "no bid before the child's time passed it");
    g_autoptr(CamasFuture) t2 = camas_subproc_set_time(s, 0.1);
    g_autoptr(CamasValue) r2 = camas_test_await_ok(w, t2);
    g_autoptr(CamasValue) b = camas_test_await_ok(w, bid);
    const char *label;
    double price;
    cr_assert(camas_value_unpack(b, NULL, "[s f]", &label, &price));
    cr_assert_str_eq(label, "child/1");
    /* the same stream in this process gives the same price */
    CamasRng rng;
    camas_rng_init_stream(&rng, 3, "child/1");
    camas_rng_uniform(&rng, 0.01, 0.05);
    double expect = round(camas_rng_uniform(&rng, 10.0, 100.0) * 100.0) / 100.0;
    cr_assert_float_eq(price, expect, 1e-9);
    /* the child's log lines come through the output function */
    g_autofree char *line = g_strdup_printf("%.*s1 bid t %.2f\n",
                                            (int)strlen(camas_subproc_get_url(s)) - 1,
                                            camas_subproc_get_url(s), price);
    CAMAS_TEST_WAIT(w, strstr(output->str, line));
    /* time must move forward */
    g_autoptr(CamasFuture) t3 = camas_subproc_set_time(s, 0.05);
    g_autoptr(GError) e = camas_test_await_error(w, t3);
    cr_assert(g_str_has_suffix(camas_error_get_remote_text(e), "\n") &&
                  strstr(camas_error_get_remote_text(e), "ValueError: time must be greater"),
              "%s", camas_error_get_remote_text(e));
    stop_child(w, s);
}

Test(subproc, spawning_an_unknown_type_lists_the_known_ones)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_SOCKETS);
    CamasContainer *parent = camas_test_container_new_on(w, CAMAS_TEST_TCP, NULL, NULL);
    CamasSubproc *s = start_child(w, parent, NULL);
    g_autoptr(CamasFuture) f = camas_subproc_spawn(s, "Nope", NULL, NULL);
    g_autoptr(GError) e = camas_test_await_error(w, f);
    camas_test_assert_error(e, CAMAS_ERROR, CAMAS_ERROR_REMOTE, NULL);
    const char *text = camas_error_get_remote_text(e);
    cr_assert(strstr(text, "LookupError: Unknown agent type \"Nope\" (known: Callee, Caller, "),
              "%s", text);
    /* a type whose init rejects its arguments */
    g_autoptr(CamasValue) args = camas_value_build("[i]", 5);
    g_autoptr(CamasFuture) f2 = camas_subproc_spawn(s, "HelloWorld", args, NULL);
    g_autoptr(GError) e2 = camas_test_await_error(w, f2);
    cr_assert(strstr(camas_error_get_remote_text(e2), "TypeError"), "%s",
              camas_error_get_remote_text(e2));
    stop_child(w, s);
}

Test(subproc, a_child_that_crashes_fails_calls_and_its_exit_future)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_SOCKETS);
    CamasContainer *parent = camas_test_container_new_on(w, CAMAS_TEST_TCP, NULL, NULL);
    CamasSubproc *s = start_child(w, parent, NULL);
    g_autoptr(CamasFuture) bid = ask_for_a_bid(w, s);
    /* the child's external clock never moves: the bid is pending when it dies */
    cr_assert_eq(kill(camas_subproc_get_pid(s), SIGKILL), 0);
    camas_test_await_fails(w, bid, CAMAS_ERROR, CAMAS_ERROR_CLOSED, NULL);
    camas_test_await_fails(w, camas_subproc_get_exit_future(s), CAMAS_ERROR, CAMAS_ERROR_CLOSED,
                           "killed by signal 9");
    cr_assert_not(camas_subproc_is_running(s));
    camas_subproc_unref(s);
}

Test(subproc, a_child_that_never_gets_ready_is_reported)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_SOCKETS);
    CamasContainer *parent = camas_test_container_new_on(w, CAMAS_TEST_TCP, NULL, NULL);
    /* bad options: the child prints its error and exits with status 2 before READY */
    CamasSubprocOptions o = {.codec = "xml", .program = camas_test_camas_exe()};
    g_autoptr(CamasFuture) f = camas_subproc_start(parent, &o, NULL);
    camas_test_await_fails(w, f, CAMAS_ERROR, CAMAS_ERROR_FAILED, "exited with status 2");
    /* an address in use */
    CamasSubprocOptions o2 = {.listen = camas_container_get_address(parent),
                              .program = camas_test_camas_exe()};
    g_autoptr(CamasFuture) f2 = camas_subproc_start(parent, &o2, NULL);
    g_autoptr(GError) e2 = camas_test_await_error(w, f2);
    cr_assert(strstr(e2->message, "exited with status 2"), "%s", e2->message);
    /* a program that is not there */
    CamasSubprocOptions o3 = {.program = "/nonexistent/camas"};
    g_autoptr(GError) e3 = NULL;
    cr_assert_null(camas_subproc_start(parent, &o3, &e3));
    cr_assert(strstr(e3->message, "/nonexistent/camas"), "%s", e3->message);
    /* a program that never prints READY: the timeout kills it */
    g_autofree char *script = g_build_filename(w->tmpdir, "silent", NULL);
    cr_assert(g_file_set_contents(script, "#!/bin/sh\nexec sleep 30\n", -1, NULL));
    cr_assert_eq(g_chmod(script, 0755), 0);
    CamasSubprocOptions o4 = {.program = script, .timeout = 0.2};
    g_autoptr(CamasFuture) f4 = camas_subproc_start(parent, &o4, NULL);
    camas_test_await_fails(w, f4, CAMAS_ERROR, CAMAS_ERROR_TIMED_OUT, NULL);
    g_remove(script);
}
