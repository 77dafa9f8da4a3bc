/* SPDX-License-Identifier: MIT */
/*
 * Multi-process containers: a parent starts `camas container --manager` children, spawns
 * agents there by type name, distributes simulation time with set_time(), stops them, and
 * learns of children that crash or never get ready — nothing hangs and nothing leaks.
 */
#include <criterion/criterion.h>
#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <string.h>

#include <camas/camas.h>
#include <camas/container.h>
#include <camas/subproc.h>

#include "leakcheck.h"
#include "live-private.h"

TestSuite(subproc, .fini = camas_test_check_leaks, .timeout = 60);

typedef struct {
    CamasLoop *loop;
    CamasClock *clock;
    GMainContext *ctx;
    GSource *tick; /* wakes the context now and then, so deadlines are checked */
    CamasContainer *parent;
} World;

static gboolean
tick(gpointer data)
{
    return G_SOURCE_CONTINUE;
}

static void
world_init(World *w)
{
    w->loop = camas_loop_new();
    w->clock = camas_clock_new_afap(w->loop, 0, 0);
    w->ctx = g_main_context_new();
    camas_loop_attach(w->loop, w->ctx);
    w->tick = g_timeout_source_new(100);
    g_source_set_callback(w->tick, tick, NULL, NULL);
    g_source_attach(w->tick, w->ctx);
    g_autoptr(GError) error = NULL;
    w->parent = camas_container_new(w->clock, "tcp://127.0.0.1:0", NULL, &error);
    cr_assert_not_null(w->parent, "%s", error ? error->message : "");
}

static void
world_clear(World *w)
{
    camas_container_free(w->parent);
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_PIPE]) > 0) {
        cr_assert_lt(g_get_monotonic_time(), deadline, "closed sockets did not finish");
        g_main_context_iteration(w->ctx, TRUE);
    }
    camas_clock_unref(w->clock);
    camas_loop_free(w->loop);
    g_source_destroy(w->tick);
    g_source_unref(w->tick);
    g_main_context_unref(w->ctx);
}

static void
run_until_done(World *w, CamasFuture *f)
{
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    while (!camas_future_is_done(f)) {
        cr_assert_lt(g_get_monotonic_time(), deadline, "timed out waiting for a future");
        if (!g_main_context_iteration(w->ctx, FALSE) && !camas_loop_step(w->loop))
            g_main_context_iteration(w->ctx, TRUE);
    }
}

static CamasValue *
await_ok(World *w, CamasFuture *f)
{
    cr_assert_not_null(f);
    run_until_done(w, f);
    g_autoptr(GError) error = NULL;
    CamasValue *r = NULL;
    cr_assert(camas_future_propagate(f, &r, &error), "failed: %s", error ? error->message : "");
    return r ? r : camas_value_new_null();
}

static GError *
await_error(World *w, CamasFuture *f)
{
    cr_assert_not_null(f, "the operation failed synchronously");
    run_until_done(w, f);
    GError *error = NULL;
    g_autoptr(CamasValue) r = NULL;
    cr_assert_not(camas_future_propagate(f, &r, &error), "unexpected success");
    return error;
}

static CamasSubproc *
start_child(World *w, const CamasSubprocOptions *options)
{
    CamasSubprocOptions o = options ? *options : (CamasSubprocOptions){0};
    if (!o.program)
        o.program = camas_test_camas_exe();
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasFuture) f = camas_subproc_start(w->parent, &o, &error);
    cr_assert_not_null(f, "%s", error ? error->message : "");
    run_until_done(w, f);
    CamasSubproc *s = camas_subproc_start_finish(f, &error);
    cr_assert_not_null(s, "%s", error ? error->message : "");
    return s;
}

static void
stop_child(World *w, CamasSubproc *s)
{
    g_autoptr(CamasFuture) f = camas_subproc_stop(s);
    g_autoptr(CamasValue) r = await_ok(w, f);
    cr_assert_not(camas_subproc_is_running(s));
    camas_subproc_unref(s);
}

Test(subproc, a_child_spawns_agents_by_type_and_stops)
{
    World w;
    world_init(&w);
    CamasSubproc *s = start_child(&w, NULL);
    cr_assert(camas_subproc_is_running(s));
    cr_assert(g_str_has_prefix(camas_subproc_get_url(s), "tcp://127.0.0.1:"));
    cr_assert(g_str_has_suffix(camas_subproc_get_url(s), "/0"));
    g_autoptr(CamasFuture) f = camas_subproc_spawn(s, "Callee", NULL, NULL);
    g_autoptr(CamasValue) r = await_ok(&w, f);
    CamasProxy *callee = camas_value_get_proxy(camas_value_get_item(r, 0));
    cr_assert_not_null(callee, "spawn answers [proxy, url]");
    cr_assert_str_eq(camas_proxy_get_path(callee), "agents/1");
    const char *url = camas_value_get_str(camas_value_get_item(r, 1), NULL);
    g_autofree char *expect_url = g_strdup(camas_subproc_get_url(s));
    expect_url[strlen(expect_url) - 1] = '1';
    cr_assert_str_eq(url, expect_url);
    g_autoptr(CamasFuture) c = camas_proxy_call_build(callee, "spam", "[i]", 2);
    g_autoptr(CamasValue) spam = await_ok(&w, c);
    cr_assert_str_eq(camas_value_get_str(spam, NULL), "spamspam");
    /* the URL works through the parent container too (same connection) */
    g_autoptr(CamasFuture) cf = camas_container_connect(w.parent, url, NULL);
    g_autoptr(CamasValue) pv = await_ok(&w, cf);
    cr_assert_eq(camas_proxy_get_connection(camas_value_get_proxy(pv)),
                 camas_proxy_get_connection(callee));
    stop_child(&w, s);
    world_clear(&w);
}

static void
collect_output(CamasSubproc *s, const char *line, gpointer data)
{
    g_string_append_printf(data, "%s\n", line);
}

Test(subproc, set_time_distributes_simulation_time_to_the_child)
{
    World w;
    world_init(&w);
    g_autoptr(GString) output = g_string_new(NULL);
    CamasSubprocOptions o = {
        .seed = 3, .name = "child", .output = collect_output, .output_data = output};
    CamasSubproc *s = start_child(&w, &o);
    g_autoptr(CamasFuture) f = camas_subproc_spawn(s, "Contractor", NULL, NULL);
    g_autoptr(CamasValue) r = await_ok(&w, f);
    CamasProxy *contractor = camas_value_get_proxy(camas_value_get_item(r, 0));
    /* cfp sleeps 10..50 ms of the child's simulated time before it bids */
    g_autoptr(CamasFuture) bid = camas_proxy_call_build(contractor, "cfp", "[s]", "t");
    g_autoptr(CamasFuture) t1 = camas_subproc_set_time(s, 0.001);
    g_autoptr(CamasValue) r1 = await_ok(&w, t1);
    cr_assert_not(camas_future_is_done(bid), "no bid before the child's time passed it");
    g_autoptr(CamasFuture) t2 = camas_subproc_set_time(s, 0.1);
    g_autoptr(CamasValue) r2 = await_ok(&w, t2);
    g_autoptr(CamasValue) b = await_ok(&w, bid);
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
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!strstr(output->str, line)) {
        cr_assert_lt(g_get_monotonic_time(), deadline, "no line %s in %s", line, output->str);
        g_main_context_iteration(w.ctx, TRUE);
    }
    /* time must move forward */
    g_autoptr(CamasFuture) t3 = camas_subproc_set_time(s, 0.05);
    g_autoptr(GError) e = await_error(&w, t3);
    cr_assert(g_str_has_suffix(camas_error_get_remote_text(e), "\n") &&
                  strstr(camas_error_get_remote_text(e), "ValueError: time must be greater"),
              "%s", camas_error_get_remote_text(e));
    stop_child(&w, s);
    world_clear(&w);
}

Test(subproc, spawning_an_unknown_type_lists_the_known_ones)
{
    World w;
    world_init(&w);
    CamasSubproc *s = start_child(&w, NULL);
    g_autoptr(CamasFuture) f = camas_subproc_spawn(s, "Nope", NULL, NULL);
    g_autoptr(GError) e = await_error(&w, f);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_REMOTE));
    const char *text = camas_error_get_remote_text(e);
    cr_assert(strstr(text, "LookupError: Unknown agent type \"Nope\" (known: Callee, Caller, "),
              "%s", text);
    /* a type whose init rejects its arguments */
    g_autoptr(CamasValue) args = camas_value_build("[i]", 5);
    g_autoptr(CamasFuture) f2 = camas_subproc_spawn(s, "HelloWorld", args, NULL);
    g_autoptr(GError) e2 = await_error(&w, f2);
    cr_assert(strstr(camas_error_get_remote_text(e2), "TypeError"), "%s",
              camas_error_get_remote_text(e2));
    stop_child(&w, s);
    world_clear(&w);
}

Test(subproc, a_child_that_crashes_fails_calls_and_its_exit_future)
{
    World w;
    world_init(&w);
    CamasSubproc *s = start_child(&w, NULL);
    g_autoptr(CamasFuture) f = camas_subproc_spawn(s, "Contractor", NULL, NULL);
    g_autoptr(CamasValue) r = await_ok(&w, f);
    CamasProxy *contractor = camas_value_get_proxy(camas_value_get_item(r, 0));
    g_autoptr(CamasFuture) bid = camas_proxy_call_build(contractor, "cfp", "[s]", "t");
    /* the child's external clock never moves: the bid is pending when it dies */
    cr_assert_eq(kill(camas_subproc_get_pid(s), SIGKILL), 0);
    g_autoptr(GError) e = await_error(&w, bid);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED), "%s", e->message);
    g_autoptr(GError) x = await_error(&w, camas_subproc_get_exit_future(s));
    cr_assert(g_error_matches(x, CAMAS_ERROR, CAMAS_ERROR_CLOSED));
    cr_assert(strstr(x->message, "killed by signal 9"), "%s", x->message);
    cr_assert_not(camas_subproc_is_running(s));
    camas_subproc_unref(s);
    world_clear(&w);
}

Test(subproc, a_child_that_never_gets_ready_is_reported)
{
    World w;
    world_init(&w);
    /* bad options: the child prints its error and exits with status 2 before READY */
    CamasSubprocOptions o = {.codec = "xml", .program = camas_test_camas_exe()};
    g_autoptr(CamasFuture) f = camas_subproc_start(w.parent, &o, NULL);
    g_autoptr(GError) e = await_error(&w, f);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_FAILED), "%s", e->message);
    cr_assert(strstr(e->message, "exited with status 2"), "%s", e->message);
    /* an address in use */
    CamasSubprocOptions o2 = {.listen = camas_container_get_address(w.parent),
                              .program = camas_test_camas_exe()};
    g_autoptr(CamasFuture) f2 = camas_subproc_start(w.parent, &o2, NULL);
    g_autoptr(GError) e2 = await_error(&w, f2);
    cr_assert(strstr(e2->message, "exited with status 2"), "%s", e2->message);
    /* a program that is not there */
    CamasSubprocOptions o3 = {.program = "/nonexistent/camas"};
    g_autoptr(GError) e3 = NULL;
    cr_assert_null(camas_subproc_start(w.parent, &o3, &e3));
    cr_assert(strstr(e3->message, "/nonexistent/camas"), "%s", e3->message);
    /* a program that never prints READY: the timeout kills it */
    g_autofree char *dir = g_dir_make_tmp("camas-subproc-XXXXXX", NULL);
    g_autofree char *script = g_build_filename(dir, "silent", NULL);
    cr_assert(g_file_set_contents(script, "#!/bin/sh\nexec sleep 30\n", -1, NULL));
    cr_assert_eq(g_chmod(script, 0755), 0);
    CamasSubprocOptions o4 = {.program = script, .timeout = 0.2};
    g_autoptr(CamasFuture) f4 = camas_subproc_start(w.parent, &o4, NULL);
    g_autoptr(GError) e4 = await_error(&w, f4);
    cr_assert(g_error_matches(e4, CAMAS_ERROR, CAMAS_ERROR_TIMED_OUT), "%s", e4->message);
    g_remove(script);
    g_rmdir(dir);
    world_clear(&w);
}
