/* SPDX-License-Identifier: MIT */
/*
 * Tests of futures (engine/future.c): completion by result, error and cancellation; callbacks
 * that always run from the loop (never inside the completing call) and in order; the cancel
 * hook; ownership of results, errors and callback data; the all/any gathers.
 */
#include <criterion/criterion.h>

#include <camas/future.h>

#include "leakcheck.h"

TestSuite(future, .fini = camas_test_check_leaks);

typedef struct {
    GString *log;
    const char *name;
} Cb;

static void
log_cb(CamasFuture *f, gpointer data)
{
    Cb *cb = data;
    const GError *e = camas_future_get_error(f);
    CamasValue *r = camas_future_get_result(f);
    g_autofree char *repr = r ? camas_value_repr(r) : g_strdup("NULL");
    g_string_append_printf(cb->log, "%s:%s ", cb->name, e ? e->message : repr);
}

Test(future, callbacks_run_from_the_loop_in_order_never_inside_set_result)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    GString *log = g_string_new(NULL);
    Cb a = {log, "a"}, b = {log, "b"}, c = {log, "c"};
    camas_future_add_callback(f, log_cb, &a, NULL);
    camas_future_add_callback(f, log_cb, &b, NULL);
    cr_assert_not(camas_future_is_done(f));
    cr_assert(camas_future_set_result(f, camas_value_new_int(7)));
    cr_assert_str_eq(log->str, "", "nothing runs inside set_result");
    cr_assert(camas_future_is_done(f));
    cr_assert_not(camas_future_is_failed(f));
    camas_future_add_callback(f, log_cb, &c, NULL);
    cr_assert_str_eq(log->str, "", "nothing runs inside add_callback on a done future");
    camas_loop_run(loop);
    cr_assert_str_eq(log->str, "a:7 b:7 c:7 ");
    cr_assert_eq(camas_value_get_int(camas_future_get_result(f)), 7);
    g_string_free(log, TRUE);
}

Test(future, a_callback_added_after_the_callbacks_ran_gets_its_own_event)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    GString *log = g_string_new(NULL);
    Cb a = {log, "a"}, b = {log, "b"};
    camas_future_add_callback(f, log_cb, &a, NULL);
    camas_future_set_result(f, NULL);
    camas_loop_run(loop);
    cr_assert_str_eq(log->str, "a:NULL ");
    camas_future_add_callback(f, log_cb, &b, NULL);
    cr_assert_eq(camas_loop_get_pending(loop), 1);
    camas_loop_run(loop);
    cr_assert_str_eq(log->str, "a:NULL b:NULL ");
    g_string_free(log, TRUE);
}

Test(future, a_future_completes_only_once_and_later_values_are_dropped)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    cr_assert(camas_future_set_result(f, camas_value_new_str("first")));
    cr_assert_not(camas_future_set_result(f, camas_value_new_str("second")));
    cr_assert_not(camas_future_set_error(f, g_error_new(CAMAS_ERROR, CAMAS_ERROR_FAILED, "x")));
    cr_assert_not(camas_future_cancel(f));
    cr_assert_str_eq(camas_value_get_str(camas_future_get_result(f), NULL), "first");
    cr_assert_null(camas_future_get_error(f));
}

Test(future, errors_propagate_as_copies)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    cr_assert(camas_future_set_error(f, g_error_new(CAMAS_ERROR, CAMAS_ERROR_TIMED_OUT, "late")));
    cr_assert(camas_future_is_failed(f));
    cr_assert_not(camas_future_is_cancelled(f));
    cr_assert_null(camas_future_get_result(f));
    GError *error = NULL;
    CamasValue *r = (CamasValue *)0x1;
    cr_assert_not(camas_future_propagate(f, &r, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_TIMED_OUT));
    cr_assert_neq(error, camas_future_get_error(f));
    g_error_free(error);
    cr_assert(camas_future_propagate(f, NULL, NULL) == FALSE);
}

Test(future, results_propagate_as_new_references)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    camas_future_set_result(f, camas_value_new_str("v"));
    g_autoptr(CamasValue) r = NULL;
    cr_assert(camas_future_propagate(f, &r, NULL));
    cr_assert_eq(r, camas_future_get_result(f));
    g_autoptr(CamasFuture) g = camas_future_new(loop);
    camas_future_set_result(g, NULL);
    CamasValue *none = (CamasValue *)0x1;
    cr_assert(camas_future_propagate(g, &none, NULL));
    cr_assert_null(none);
}

typedef struct {
    int calls;
    int destroyed;
    gboolean done_inside;
} Hook;

static void
hook_func(CamasFuture *f, gpointer data)
{
    Hook *h = data;
    h->calls++;
    h->done_inside = camas_future_is_done(f);
    /* The producer may not complete a cancelled future. */
    cr_assert_not(camas_future_set_result(f, camas_value_new_int(1)));
}

static void
hook_destroy(gpointer data)
{
    ((Hook *)data)->destroyed++;
}

Test(future, cancel_runs_the_hook_synchronously_and_callbacks_later)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    Hook h = {0};
    GString *log = g_string_new(NULL);
    Cb a = {log, "a"};
    camas_future_set_cancel_func(f, hook_func, &h, hook_destroy);
    camas_future_add_callback(f, log_cb, &a, NULL);
    cr_assert(camas_future_cancel(f));
    cr_assert_eq(h.calls, 1);
    cr_assert_eq(h.destroyed, 1);
    cr_assert(h.done_inside);
    cr_assert(camas_future_is_cancelled(f));
    cr_assert(g_error_matches(camas_future_get_error(f), CAMAS_ERROR, CAMAS_ERROR_CANCELLED));
    cr_assert_str_eq(log->str, "");
    cr_assert_not(camas_future_cancel(f));
    cr_assert_eq(h.calls, 1);
    camas_loop_run(loop);
    cr_assert_str_eq(log->str, "a:cancelled ");
    g_string_free(log, TRUE);
}

Test(future, completion_releases_the_cancel_hook_without_calling_it)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    Hook h = {0};
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    camas_future_set_cancel_func(f, hook_func, &h, hook_destroy);
    camas_future_set_result(f, NULL);
    cr_assert_eq(h.calls, 0);
    cr_assert_eq(h.destroyed, 1);
    /* Replacing a hook destroys the old one; freeing a pending future destroys the hook. */
    CamasFuture *g = camas_future_new(loop);
    Hook h1 = {0}, h2 = {0};
    camas_future_set_cancel_func(g, hook_func, &h1, hook_destroy);
    camas_future_set_cancel_func(g, hook_func, &h2, hook_destroy);
    cr_assert_eq(h1.destroyed, 1);
    camas_future_unref(g);
    cr_assert_eq(h2.destroyed, 1);
    cr_assert_eq(h2.calls, 0);
}

Test(future, a_cancelled_error_from_the_producer_counts_as_cancelled)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    camas_future_set_error(f, g_error_new(CAMAS_ERROR, CAMAS_ERROR_CANCELLED, "stopped"));
    cr_assert(camas_future_is_cancelled(f));
    cr_assert(camas_future_is_failed(f));
}

static void
count_destroy(gpointer data)
{
    (*(int *)data)++;
}

static void
never_cb(CamasFuture *f, gpointer data)
{
    cr_assert_fail("must not run");
}

Test(future, callbacks_that_never_run_are_destroyed_with_the_future)
{
    int destroyed = 0;
    {
        g_autoptr(CamasLoop) loop = camas_loop_new();
        CamasFuture *f = camas_future_new(loop);
        camas_future_add_callback(f, never_cb, &destroyed, count_destroy);
        camas_future_add_callback(f, never_cb, &destroyed, count_destroy);
        camas_future_unref(f);
        cr_assert_eq(destroyed, 2);
        /* Done, callback event pending, loop freed: dropped, not run. */
        CamasFuture *g = camas_future_new(loop);
        camas_future_add_callback(g, never_cb, &destroyed, count_destroy);
        camas_future_set_result(g, camas_value_new_int(3));
        camas_future_unref(g);
    }
    cr_assert_eq(destroyed, 3);
}

static void
count_cb(CamasFuture *f, gpointer data)
{
    (*(int *)data)++;
}

Test(future, callback_data_is_destroyed_after_the_callback_ran)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    int n = 0;
    camas_future_add_callback(f, count_cb, &n, count_destroy);
    camas_future_set_result(f, NULL);
    camas_loop_run(loop);
    cr_assert_eq(n, 2, "called once, destroyed once");
}

/* --- gathering ----------------------------------------------------------------------------- */

Test(future, all_collects_results_in_the_given_order)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    CamasFuture *kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = camas_future_new(loop);
    g_autoptr(CamasFuture) all = camas_future_all(loop, kids, 3);
    camas_future_set_result(kids[2], camas_value_new_int(2));
    camas_future_set_result(kids[0], camas_value_new_int(0));
    camas_loop_run(loop);
    cr_assert_not(camas_future_is_done(all));
    camas_future_set_result(kids[1], NULL);
    cr_assert_not(camas_future_is_done(all), "completes from the loop, not inline");
    camas_loop_run(loop);
    cr_assert(camas_future_is_done(all));
    g_autofree char *repr = camas_value_repr(camas_future_get_result(all));
    cr_assert_str_eq(repr, "[0, None, 2]");
    for (int i = 0; i < 3; i++)
        camas_future_unref(kids[i]);
}

Test(future, all_fails_with_the_first_error_in_completion_order)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    CamasFuture *kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = camas_future_new(loop);
    g_autoptr(CamasFuture) all = camas_future_all(loop, kids, 3);
    camas_future_set_error(kids[2], g_error_new(CAMAS_ERROR, CAMAS_ERROR_LOOKUP, "second"));
    camas_future_set_error(kids[1], g_error_new(CAMAS_ERROR, CAMAS_ERROR_INVALID, "third"));
    camas_loop_run(loop);
    cr_assert(camas_future_is_failed(all));
    cr_assert(g_error_matches(camas_future_get_error(all), CAMAS_ERROR, CAMAS_ERROR_LOOKUP));
    cr_assert_not(camas_future_is_done(kids[0]), "the others keep running");
    camas_future_set_result(kids[0], NULL);
    camas_loop_run(loop);
    for (int i = 0; i < 3; i++)
        camas_future_unref(kids[i]);
}

Test(future, cancelling_all_cancels_the_pending_children)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    CamasFuture *kids[2] = {camas_future_new(loop), camas_future_new(loop)};
    camas_future_set_result(kids[0], NULL);
    g_autoptr(CamasFuture) all = camas_future_all(loop, kids, 2);
    cr_assert(camas_future_cancel(all));
    cr_assert_not(camas_future_is_cancelled(kids[0]));
    cr_assert(camas_future_is_cancelled(kids[1]));
    camas_loop_run(loop);
    camas_future_unref(kids[0]);
    camas_future_unref(kids[1]);
}

Test(future, all_of_nothing_succeeds_with_an_empty_list)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasFuture) all = camas_future_all(loop, NULL, 0);
    cr_assert(camas_future_is_done(all));
    cr_assert_eq(camas_value_get_length(camas_future_get_result(all)), 0);
}

Test(future, any_gives_the_index_of_the_first_done)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    CamasFuture *kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = camas_future_new(loop);
    g_autoptr(CamasFuture) any = camas_future_any(loop, kids, 3);
    camas_future_set_error(kids[1], g_error_new(CAMAS_ERROR, CAMAS_ERROR_FAILED, "boom"));
    camas_future_set_result(kids[0], NULL);
    camas_loop_run(loop);
    cr_assert_eq(camas_value_get_int(camas_future_get_result(any)), 1);
    cr_assert(camas_future_cancel(kids[2]));
    camas_loop_run(loop);
    for (int i = 0; i < 3; i++)
        camas_future_unref(kids[i]);
}

Test(future, gathers_hold_no_references_so_nothing_leaks_when_dropped_pending)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    CamasFuture *kids[2] = {camas_future_new(loop), camas_future_new(loop)};
    CamasFuture *all = camas_future_all(loop, kids, 2);
    CamasFuture *any = camas_future_any(loop, kids, 2);
    camas_future_unref(all);
    camas_future_set_result(kids[0], NULL);
    camas_loop_run(loop);
    camas_future_unref(any);
    camas_future_unref(kids[0]);
    camas_future_unref(kids[1]);
    /* the leak check in the suite's teardown is the assertion */
}
