/* SPDX-License-Identifier: MIT */
/*
 * Tests of coroutine tasks (engine/task.c): start from the loop, await and sleep, results and
 * errors, cancellation in every state (not started, sleeping, awaiting a done future, running,
 * through the result future, caught and continued), ordering among tasks and callbacks
 * (aiomas' sleepers as tasks), closing a loop with live tasks, stack options, spawn failure,
 * tracing, a task as a co-simulation master, and determinism.
 */
#include <criterion/criterion.h>
#include <math.h>

#include <camas/clock.h>
#include <camas/rng.h>
#include <camas/task.h>
#include <camas/time.h>
#include <camas/trace.h>

#include "leakcheck.h"

TestSuite(task, .fini = camas_test_check_leaks);

typedef struct {
    CamasClock *clock;
    GString *log;
    const char *name;
    double dt;
    int count;
    gboolean cleaned_up;
    CamasFuture *future;
} Ctx;

static void
say(Ctx *c, const char *what)
{
    g_string_append_printf(c->log, "%s:%s@%g ", c->name, what, camas_clock_time(c->clock));
}

/* The aiomas Hello World agent's run(): print, then three times sleep 0.1 and print. */
static CamasValue *
hello_task(CamasTask *task, gpointer data, GError **error)
{
    Ctx *c = data;
    say(c, "says");
    for (int i = 0; i < 3; i++) {
        if (!camas_task_sleep(c->clock, 0.1, error))
            return NULL;
        say(c, "hello");
    }
    return camas_value_new_int(3);
}

Test(task, a_task_starts_from_the_loop_and_its_future_gets_the_result)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, 0, 0);
    Ctx c = {clock, g_string_new(NULL), "Monty"};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, hello_task, &c, NULL, NULL);
    cr_assert_not_null(task);
    cr_assert_str_eq(c.log->str, "", "spawn never runs the function itself");
    cr_assert_not(camas_task_is_done(task));
    g_autoptr(CamasValue) result = NULL;
    GError *error = NULL;
    cr_assert(camas_clock_run_until_complete(clock, camas_task_get_future(task), &result, &error));
    cr_assert_str_eq(c.log->str,
                     "Monty:says@0 Monty:hello@0.1 Monty:hello@0.2 Monty:hello@0.3 ");
    cr_assert_eq(camas_value_get_int(result), 3);
    cr_assert(camas_task_is_done(task));
    cr_assert_eq(camas_clock_now(clock), 300000000, "three sleeps of 0.1 are exactly 0.3 s");
    cr_assert_not(camas_task_cancel(task), "a done task cannot be cancelled");
    g_string_free(c.log, TRUE);
}

static CamasValue *
await_task(CamasTask *task, gpointer data, GError **error)
{
    Ctx *c = data;
    say(c, "waits");
    g_autoptr(CamasValue) v = NULL;
    if (!camas_task_await(c->future, &v, error)) {
        say(c, "failed");
        return NULL;
    }
    say(c, "got");
    return camas_value_new_int(camas_value_get_int(v) * 2);
}

static void
complete_with_21(CamasLoop *loop, gpointer data)
{
    camas_future_set_result(data, camas_value_new_int(21));
}

Test(task, await_returns_the_result_of_a_future_completed_later)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, 0, 0);
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    Ctx c = {clock, g_string_new(NULL), "t", .future = f};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, await_task, &c, NULL, NULL);
    camas_clock_call_in(clock, 2, complete_with_21, f, NULL, NULL);
    g_autoptr(CamasValue) r = NULL;
    cr_assert(camas_clock_run_until_complete(clock, camas_task_get_future(task), &r, NULL));
    cr_assert_eq(camas_value_get_int(r), 42);
    cr_assert_str_eq(c.log->str, "t:waits@0 t:got@2 ");
    g_string_free(c.log, TRUE);
}

static CamasValue *
await_done_task(CamasTask *task, gpointer data, GError **error)
{
    Ctx *c = data;
    guint64 seq = camas_loop_get_current_seq(camas_future_get_loop(c->future));
    g_autoptr(CamasValue) v = NULL;
    if (!camas_task_await(c->future, &v, error))
        return NULL;
    /* Still inside the same event: awaiting a done future does not suspend. */
    cr_assert_eq(camas_loop_get_current_seq(camas_future_get_loop(c->future)), seq);
    return camas_value_ref(v);
}

Test(task, awaiting_a_done_future_does_not_suspend)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, 0, 0);
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    camas_future_set_result(f, camas_value_new_int(5));
    Ctx c = {clock, g_string_new(NULL), "t", .future = f};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, await_done_task, &c, NULL, NULL);
    g_autoptr(CamasValue) r = NULL;
    cr_assert(camas_clock_run_until_complete(clock, camas_task_get_future(task), &r, NULL));
    cr_assert_eq(camas_value_get_int(r), 5);
    g_string_free(c.log, TRUE);
}

static CamasValue *
failing_task(CamasTask *task, gpointer data, GError **error)
{
    Ctx *c = data;
    if (!camas_task_await(c->future, NULL, error))
        return NULL;
    return camas_value_new_int(1);
}

Test(task, an_error_from_an_awaited_future_fails_the_task)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, 0, 0);
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    Ctx c = {clock, NULL, "t", .future = f};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, failing_task, &c, NULL, NULL);
    camas_loop_run(loop);
    camas_future_set_error(f, g_error_new(CAMAS_ERROR, CAMAS_ERROR_REMOTE, "remote boom"));
    GError *error = NULL;
    cr_assert_not(camas_clock_run_until_complete(clock, camas_task_get_future(task), NULL, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_REMOTE));
    cr_assert_str_eq(error->message, "remote boom");
    cr_assert_not(camas_future_is_cancelled(camas_task_get_future(task)));
    g_error_free(error);
}

static CamasValue *
never_runs(CamasTask *task, gpointer data, GError **error)
{
    cr_assert_fail("a task cancelled before it started must not run");
    return NULL;
}

static void
count_destroy(gpointer data)
{
    (*(int *)data)++;
}

Test(task, a_task_cancelled_before_it_starts_never_runs)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    int destroyed = 0;
    CamasTaskOptions opts = {.destroy = count_destroy, .name = "early"};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, never_runs, &destroyed, &opts, NULL);
    cr_assert_str_eq(camas_task_get_name(task), "early");
    cr_assert(camas_task_cancel(task));
    cr_assert(camas_task_is_done(task));
    cr_assert_eq(destroyed, 1);
    cr_assert(camas_future_is_cancelled(camas_task_get_future(task)));
    camas_loop_run(loop);
    cr_assert_not(camas_task_cancel(task));
}

static CamasValue *
sleeper_with_cleanup(CamasTask *task, gpointer data, GError **error)
{
    Ctx *c = data;
    say(c, "sleeps");
    if (!camas_task_sleep(c->clock, c->dt, error)) {
        cr_assert(g_error_matches(*error, CAMAS_ERROR, CAMAS_ERROR_CANCELLED));
        say(c, "cancelled");
        c->cleaned_up = TRUE;
        return NULL;
    }
    say(c, "woke");
    return NULL;
}

static void
cancel_task(CamasLoop *loop, gpointer data)
{
    camas_task_cancel(data);
}

Test(task, cancelling_a_sleeping_task_delivers_cancelled_at_the_await_and_removes_the_timer)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, 0, 0);
    Ctx c = {clock, g_string_new(NULL), "s", .dt = 10};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, sleeper_with_cleanup, &c, NULL, NULL);
    camas_clock_call_in(clock, 3, cancel_task, task, NULL, NULL);
    GError *error = NULL;
    cr_assert_not(camas_clock_run_until_complete(clock, camas_task_get_future(task), NULL, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CANCELLED));
    g_clear_error(&error);
    cr_assert(c.cleaned_up);
    cr_assert_str_eq(c.log->str, "s:sleeps@0 s:cancelled@3 ");
    cr_assert(camas_future_is_cancelled(camas_task_get_future(task)));
    cr_assert_eq(camas_loop_get_pending(loop), 0, "the sleep's timer is gone");
    cr_assert(camas_clock_run_until(clock, G_MAXINT64));
    cr_assert_eq(camas_clock_time(clock), 3.0, "time never went to the sleep's deadline");
    g_string_free(c.log, TRUE);
}

Test(task, cancelling_the_result_future_cancels_the_task)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, 0, 0);
    Ctx c = {clock, g_string_new(NULL), "s", .dt = 10};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, sleeper_with_cleanup, &c, NULL, NULL);
    camas_clock_run_until(clock, CAMAS_TICKS_PER_SECOND);
    cr_assert(camas_future_cancel(camas_task_get_future(task)));
    camas_clock_run_until(clock, G_MAXINT64);
    cr_assert(c.cleaned_up);
    cr_assert(camas_task_is_done(task));
    g_string_free(c.log, TRUE);
}

static CamasValue *
await_then_log(CamasTask *task, gpointer data, GError **error)
{
    Ctx *c = data;
    if (!camas_task_await(c->future, NULL, error)) {
        say(c, "cancelled");
        return NULL;
    }
    say(c, "completed");
    return NULL;
}

typedef struct {
    CamasFuture *future;
    CamasTask *task;
} Pair;

static void
complete_and_cancel(CamasLoop *loop, gpointer data)
{
    Pair *p = data;
    camas_future_set_result(p->future, camas_value_new_int(1));
    cr_assert(camas_task_cancel(p->task));
}

Test(task, cancel_after_the_awaited_future_completed_still_delivers_cancelled)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, 0, 0);
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    Ctx c = {clock, g_string_new(NULL), "t", .future = f};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, await_then_log, &c, NULL, NULL);
    Pair p = {f, task};
    camas_clock_call_in(clock, 1, complete_and_cancel, &p, NULL, NULL);
    camas_clock_run_until(clock, G_MAXINT64);
    cr_assert_str_eq(c.log->str, "t:cancelled@1 ");
    cr_assert_not(camas_future_is_cancelled(f), "the completed future itself stays completed");
    g_string_free(c.log, TRUE);
}

static CamasValue *
self_cancel_task(CamasTask *task, gpointer data, GError **error)
{
    Ctx *c = data;
    cr_assert_eq(camas_task_current(), task);
    cr_assert(camas_task_cancel(task));
    say(c, "still-running");
    GError *local = NULL;
    if (!camas_task_yield(&local)) {
        cr_assert(g_error_matches(local, CAMAS_ERROR, CAMAS_ERROR_CANCELLED));
        g_error_free(local);
        say(c, "caught");
    }
    /* Caught: the task continues normally and is not cancelled again. */
    if (!camas_task_sleep(c->clock, 1, error))
        return NULL;
    say(c, "continued");
    return camas_value_new_str("survived");
}

Test(task, a_task_cancelling_itself_gets_cancelled_at_its_next_await_and_may_continue)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, 0, 0);
    Ctx c = {clock, g_string_new(NULL), "t"};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, self_cancel_task, &c, NULL, NULL);
    cr_assert_null(camas_task_current());
    g_autoptr(CamasValue) r = NULL;
    cr_assert(camas_clock_run_until_complete(clock, camas_task_get_future(task), &r, NULL));
    cr_assert_str_eq(camas_value_get_str(r, NULL), "survived");
    cr_assert_str_eq(c.log->str, "t:still-running@0 t:caught@0 t:continued@1 ");
    g_string_free(c.log, TRUE);
}

/* --- ordering ------------------------------------------------------------------------------ */

static CamasValue *
sleep_and_log(CamasTask *task, gpointer data, GError **error)
{
    Ctx *c = data;
    if (!camas_task_sleep(c->clock, c->dt, error))
        return NULL;
    say(c, "woke");
    return NULL;
}

static void
log_call(CamasLoop *loop, gpointer data)
{
    say(data, "call");
}

Test(task, sleeping_tasks_wake_exactly_as_aiomas_sleepers_do)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_external(loop, 0, 0);
    GString *log = g_string_new(NULL);
    Ctx cs[] = {{clock, log, "a", 2}, {clock, log, "b", 1}, {clock, log, "c", 2},
                {clock, log, "d", 1.5}, {clock, log, "e", 1}};
    CamasTask *tasks[5];
    for (int i = 0; i < 5; i++)
        tasks[i] = camas_task_spawn(loop, sleep_and_log, &cs[i], NULL, NULL);
    camas_loop_run_due(loop); /* the tasks start and register their sleeps */
    Ctx at = {clock, log, "call_at"}, in = {clock, log, "call_in"}, dead = {clock, log, "dead"};
    camas_clock_call_at(clock, 2, log_call, &at, NULL, NULL);
    camas_clock_call_in(clock, 1, log_call, &in, NULL, NULL);
    camas_clock_cancel(clock, camas_clock_call_in(clock, 1, log_call, &dead, NULL, NULL));
    cr_assert(camas_clock_set_time(clock, 1, NULL));
    cr_assert_str_eq(log->str, "b:woke@1 e:woke@1 call_in:call@1 ");
    g_string_truncate(log, 0);
    cr_assert(camas_clock_set_time(clock, 5, NULL));
    cr_assert_str_eq(log->str, "d:woke@5 a:woke@5 c:woke@5 call_at:call@5 ");
    for (int i = 0; i < 5; i++) {
        cr_assert(camas_task_is_done(tasks[i]));
        camas_task_unref(tasks[i]);
    }
    g_string_free(log, TRUE);
}

static CamasValue *
yielder(CamasTask *task, gpointer data, GError **error)
{
    Ctx *c = data;
    for (int i = 0; i < 3; i++) {
        g_string_append_printf(c->log, "%s%d ", c->name, i);
        if (!camas_task_yield(error))
            return NULL;
    }
    return NULL;
}

Test(task, yielding_tasks_interleave_fifo)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    GString *log = g_string_new(NULL);
    Ctx a = {NULL, log, "a"}, b = {NULL, log, "b"};
    g_autoptr(CamasTask) ta = camas_task_spawn(loop, yielder, &a, NULL, NULL);
    g_autoptr(CamasTask) tb = camas_task_spawn(loop, yielder, &b, NULL, NULL);
    camas_loop_run(loop);
    cr_assert_str_eq(log->str, "a0 b0 a1 b1 a2 b2 ");
    cr_assert_eq(camas_loop_now(loop), 0);
    cr_assert(camas_task_is_done(ta) && camas_task_is_done(tb));
    g_string_free(log, TRUE);
}

/* --- closing ------------------------------------------------------------------------------- */

static CamasValue *
stubborn_task(CamasTask *task, gpointer data, GError **error)
{
    Ctx *c = data;
    GError *local = NULL;
    /* Catches the first cancellation and tries to wait again: a closing loop refuses. */
    if (!camas_task_sleep(c->clock, 100, &local)) {
        g_clear_error(&local);
        if (!camas_task_sleep(c->clock, 100, error)) {
            c->cleaned_up = TRUE;
            return NULL;
        }
    }
    return NULL;
}

Test(task, freeing_the_loop_cancels_and_unwinds_every_live_task)
{
    CamasLoop *loop = camas_loop_new();
    CamasClock *clock = camas_clock_new_afap(loop, 0, 0);
    CamasFuture *never = camas_future_new(loop);
    Ctx sleeping = {clock, g_string_new(NULL), "sleeping", .dt = 50};
    Ctx waiting = {clock, g_string_new(NULL), "waiting", .future = never};
    Ctx stubborn = {clock, NULL, "stubborn"};
    int destroyed = 0;
    CamasTaskOptions opts = {.destroy = count_destroy};
    CamasTask *t1 = camas_task_spawn(loop, sleeper_with_cleanup, &sleeping, NULL, NULL);
    CamasTask *t2 = camas_task_spawn(loop, await_then_log, &waiting, NULL, NULL);
    CamasTask *t3 = camas_task_spawn(loop, stubborn_task, &stubborn, NULL, NULL);
    camas_clock_run_until(clock, CAMAS_TICKS_PER_SECOND);
    /* Spawned but never started: */
    camas_task_unref(camas_task_spawn(loop, never_runs, &destroyed, &opts, NULL));
    camas_task_unref(t2);
    camas_future_unref(never);
    camas_loop_free(loop);
    cr_assert(sleeping.cleaned_up);
    cr_assert_str_eq(waiting.log->str, "waiting:cancelled@1 ");
    cr_assert(stubborn.cleaned_up);
    cr_assert_eq(destroyed, 1);
    cr_assert(camas_task_is_done(t1));
    cr_assert(camas_future_is_cancelled(camas_task_get_future(t1)));
    cr_assert(camas_task_is_done(t3));
    camas_task_unref(t1);
    camas_task_unref(t3);
    camas_clock_unref(clock);
    g_string_free(sleeping.log, TRUE);
    g_string_free(waiting.log, TRUE);
}

/* --- options, failures, tracing ------------------------------------------------------------ */

static CamasValue *
deep_stack_task(CamasTask *task, gpointer data, GError **error)
{
    /* Touch a large frame, page by page so the guard page cannot be skipped. */
    volatile char buf[160 * 1024];
    for (gsize i = sizeof buf; i-- > 0;)
        if (i % 1024 == 0)
            buf[i] = (char)i;
    return camas_value_new_int(buf[4096]);
}

Test(task, the_stack_size_option_gives_room_for_big_frames)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, 0, 0);
    CamasTaskOptions opts = {.stack_size = 512 * 1024};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, deep_stack_task, NULL, &opts, NULL);
    g_autoptr(CamasValue) r = NULL;
    cr_assert(camas_clock_run_until_complete(clock, camas_task_get_future(task), &r, NULL));
    cr_assert_eq(camas_value_get_int(r), 0);
}

Test(task, a_spawn_that_cannot_get_a_stack_fails_without_running_anything)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    int destroyed = 0;
    CamasTaskOptions opts = {.stack_size = (gsize)1 << 60, .destroy = count_destroy,
                             .name = "huge"};
    GError *error = NULL;
    CamasTask *task = camas_task_spawn(loop, never_runs, &destroyed, &opts, &error);
    cr_assert_null(task);
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_FAILED));
    cr_assert(strstr(error->message, "huge"), "%s", error->message);
    g_error_free(error);
    cr_assert_eq(destroyed, 0, "the data stays the caller's");
    cr_assert_eq(camas_loop_get_pending(loop), 0);
}

static void
trace_spawn(const CamasTraceRecord *rec, gpointer data)
{
    g_string_append_printf(data, "%s:%s ", camas_trace_kind_name(rec->kind),
                           rec->method ? rec->method : "-");
}

Test(task, spawning_emits_a_spawn_record_with_the_name)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, 0, 0);
    GString *trace = g_string_new(NULL);
    camas_loop_set_tracer(loop, trace_spawn, trace, NULL);
    Ctx c = {clock, g_string_new(NULL), "h"};
    CamasTaskOptions opts = {.name = "hello"};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, hello_task, &c, &opts, NULL);
    camas_clock_run_until(clock, G_MAXINT64);
    cr_assert_str_eq(trace->str, "spawn:hello timer:sleep timer:sleep timer:sleep ");
    cr_assert(camas_task_is_done(task));
    camas_loop_set_tracer(loop, NULL, NULL, NULL);
    g_string_free(trace, TRUE);
    g_string_free(c.log, TRUE);
}

static void
capture_critical(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
    g_string_append(data, message);
}

Test(task, awaiting_outside_a_task_is_refused)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    CamasValue *r = (CamasValue *)0x1;
    GString *msg = g_string_new(NULL);
    guint h = g_log_set_handler("camas", G_LOG_LEVEL_CRITICAL, capture_critical, msg);
    cr_assert_not(camas_task_await(f, &r, NULL));
    g_log_remove_handler("camas", h);
    cr_assert_null(r);
    cr_assert(strstr(msg->str, "camas_task_await"), "%s", msg->str);
    g_string_free(msg, TRUE);
}

/* --- a task as co-simulation master -------------------------------------------------------- */

static CamasValue *
master_task(CamasTask *task, gpointer data, GError **error)
{
    Ctx *c = data;
    double t;
    int steps = 0;
    /* The master drives the clock from inside a task; the nested set_time resumes the other
     * tasks, which yield back here. */
    while (camas_clock_next_activity(c->clock, &t) && steps < 10) {
        if (!camas_clock_set_time(c->clock, t, error))
            return NULL;
        steps++;
    }
    return camas_value_new_int(steps);
}

Test(task, a_task_can_drive_the_external_clock)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_external(loop, 0, 0);
    GString *log = g_string_new(NULL);
    Ctx hello = {clock, log, "h"}, master = {clock, log, "m"};
    g_autoptr(CamasTask) th = camas_task_spawn(loop, hello_task, &hello, NULL, NULL);
    camas_loop_run_due(loop);
    g_autoptr(CamasTask) tm = camas_task_spawn(loop, master_task, &master, NULL, NULL);
    camas_loop_run_due(loop);
    cr_assert(camas_task_is_done(tm));
    cr_assert(camas_task_is_done(th));
    cr_assert_eq(camas_value_get_int(camas_future_get_result(camas_task_get_future(tm))), 3);
    cr_assert_str_eq(log->str, "h:says@0 h:hello@0.1 h:hello@0.2 h:hello@0.3 ");
    g_string_free(log, TRUE);
}

/* --- determinism --------------------------------------------------------------------------- */

typedef struct {
    CamasClock *clock;
    CamasRng rng;
    GString *log;
    CamasFuture *mailbox[4];
    int id;
} Agent;

static CamasValue *
random_agent(CamasTask *task, gpointer data, GError **error)
{
    Agent *a = data;
    for (int i = 0; i < 200; i++) {
        guint64 what = camas_rng_below(&a->rng, 3);
        if (what == 0) {
            if (!camas_task_sleep_ticks(a->clock, 1 + (gint64)camas_rng_below(&a->rng, 1000),
                                        error))
                return NULL;
        } else if (what == 1) {
            if (!camas_task_yield(error))
                return NULL;
        } else {
            /* Complete a random mailbox (if pending) and wait on our own for a while. */
            CamasFuture *other = a->mailbox[camas_rng_below(&a->rng, 4)];
            camas_future_set_result(other, camas_value_new_int(a->id));
        }
        g_string_append_printf(a->log, "%d:%" G_GINT64_FORMAT " ", a->id,
                               camas_clock_now(a->clock));
    }
    return NULL;
}

static char *
run_agents(guint64 seed)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, 0, 0);
    GString *log = g_string_new(NULL);
    Agent agents[4];
    CamasFuture *mailboxes[4];
    CamasTask *tasks[4];
    for (int i = 0; i < 4; i++)
        mailboxes[i] = camas_future_new(loop);
    for (int i = 0; i < 4; i++) {
        agents[i] = (Agent){clock, {{0}}, log, {0}, i};
        memcpy(agents[i].mailbox, mailboxes, sizeof mailboxes);
        g_autofree char *name = g_strdup_printf("agent-%d", i);
        camas_rng_init_stream(&agents[i].rng, seed, name);
        tasks[i] = camas_task_spawn(loop, random_agent, &agents[i], NULL, NULL);
    }
    camas_clock_run_until(clock, G_MAXINT64);
    for (int i = 0; i < 4; i++) {
        cr_assert(camas_task_is_done(tasks[i]));
        camas_task_unref(tasks[i]);
        camas_future_unref(mailboxes[i]);
    }
    return g_string_free(log, FALSE);
}

Test(task, the_same_seeded_task_workload_gives_the_same_log)
{
    g_autofree char *a = run_agents(1);
    g_autofree char *b = run_agents(1);
    g_autofree char *c = run_agents(2);
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, c);
}

static CamasValue *
bad_sleeps_task(CamasTask *task, gpointer data, GError **error)
{
    Ctx *c = data;
    GError *local = NULL;
    cr_assert_not(camas_task_sleep(c->clock, 0, &local));
    cr_assert(g_error_matches(local, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(local->message, "sleep"), "%s", local->message);
    g_clear_error(&local);
    cr_assert_not(camas_task_sleep(c->clock, NAN, &local));
    cr_assert(g_error_matches(local, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    g_clear_error(&local);
    cr_assert_not(camas_task_sleep_until(c->clock, camas_clock_time(c->clock), &local));
    cr_assert(g_error_matches(local, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    g_clear_error(&local);
    cr_assert_eq(camas_loop_get_pending(camas_clock_get_loop(c->clock)), 0,
                 "a refused sleep schedules nothing");
    /* And a good absolute sleep lands exactly. */
    if (!camas_task_sleep_until_ticks(c->clock, 1234, error))
        return NULL;
    cr_assert_eq(camas_clock_now(c->clock), 1234);
    return NULL;
}

Test(task, bad_sleep_arguments_fail_at_once_and_schedule_nothing)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, 0, 0);
    Ctx c = {clock, NULL, "t"};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, bad_sleeps_task, &c, NULL, NULL);
    cr_assert(camas_clock_run_until(clock, G_MAXINT64));
    cr_assert(camas_task_is_done(task));
    cr_assert_not(camas_future_is_failed(camas_task_get_future(task)));
}
