/* SPDX-License-Identifier: MIT */
/*
 * Tests of the clocks (engine/clock*.c): aiomas' observed ExternalClock behaviour
 * (wire-protocol.md §11) reproduced exactly, argument errors, exact tick arithmetic,
 * next_activity, dates, cascades at one instant, the as-fast-as-possible runs, TIMER trace
 * records, and the real-time clock (ordering and a generous lateness bound only).
 */
#include <criterion/criterion.h>
#include <math.h>

#include <camas/clock.h>
#include <camas/time.h>
#include <camas/trace.h>

#include "leakcheck.h"

TestSuite(clock, .fini = camas_test_check_leaks);

#define START_2016 (G_GINT64_CONSTANT(1451606400) * CAMAS_TICKS_PER_SECOND)

typedef struct {
    GString *log;
    CamasClock *clock;
    const char *name;
} Sleeper;

static void
log_time(Sleeper *s)
{
    g_string_append_printf(s->log, "%s@%g ", s->name, camas_clock_time(s->clock));
}

static void
sleeper_woke(CamasFuture *f, gpointer data)
{
    cr_assert(camas_future_is_done(f));
    log_time(data);
}

static void
call_fired(CamasLoop *loop, gpointer data)
{
    log_time(data);
}

Test(clock, external_clock_wakes_sleepers_exactly_as_aiomas_does)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_external(loop, START_2016, 0);
    GString *log = g_string_new(NULL);
    /* Sleepers a(2) b(1) c(2) d(1.5) e(1), call_at(2), call_in(1), a cancelled call_in(1). */
    const struct {
        const char *name;
        double dt;
    } sleepers[] = {{"a", 2}, {"b", 1}, {"c", 2}, {"d", 1.5}, {"e", 1}};
    Sleeper s[8];
    CamasFuture *futures[5];
    for (int i = 0; i < 5; i++) {
        s[i] = (Sleeper){log, clock, sleepers[i].name};
        futures[i] = camas_clock_sleep(clock, sleepers[i].dt, NULL);
        cr_assert_not_null(futures[i]);
        camas_future_add_callback(futures[i], sleeper_woke, &s[i], NULL);
    }
    s[5] = (Sleeper){log, clock, "call_at"};
    s[6] = (Sleeper){log, clock, "call_in"};
    s[7] = (Sleeper){log, clock, "cancelled"};
    GError *error = NULL;
    cr_assert(!camas_event_id_is_none(camas_clock_call_at(clock, 2, call_fired, &s[5], NULL, &error)));
    cr_assert(!camas_event_id_is_none(camas_clock_call_in(clock, 1, call_fired, &s[6], NULL, &error)));
    CamasEventId dead = camas_clock_call_in(clock, 1, call_fired, &s[7], NULL, &error);
    cr_assert(camas_clock_cancel(clock, dead));

    cr_assert(camas_clock_set_time(clock, 1, &error));
    cr_assert_str_eq(log->str, "b@1 e@1 call_in@1 ");
    g_string_truncate(log, 0);
    cr_assert(camas_clock_set_time(clock, 5, &error));
    cr_assert_str_eq(log->str, "d@5 a@5 c@5 call_at@5 ");
    cr_assert_eq(camas_clock_time(clock), 5.0);
    for (int i = 0; i < 5; i++)
        camas_future_unref(futures[i]);
    g_string_free(log, TRUE);
}

Test(clock, set_time_must_move_strictly_forward)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_external(loop, START_2016, 0);
    GError *error = NULL;
    cr_assert(camas_clock_set_time(clock, 3, &error));
    const double bad[] = {3, 2.5, -1, NAN, INFINITY};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        cr_assert_not(camas_clock_set_time(clock, bad[i], &error), "%g", bad[i]);
        cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
        cr_assert(strstr(error->message, "set_time"), "%s", error->message);
        g_clear_error(&error);
    }
    cr_assert_eq(camas_clock_time(clock), 3.0);
    cr_assert(camas_clock_set_time_ticks(clock, 3 * CAMAS_TICKS_PER_SECOND + 1, &error));
    cr_assert_eq(camas_clock_now(clock), 3 * CAMAS_TICKS_PER_SECOND + 1);
}

Test(clock, init_time_and_utc_start_follow_aiomas)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock =
        camas_clock_new_external(loop, START_2016, 10 * CAMAS_TICKS_PER_SECOND);
    cr_assert_eq(camas_clock_get_kind(clock), CAMAS_CLOCK_EXTERNAL);
    cr_assert_str_eq(camas_clock_get_name(clock), "external");
    cr_assert_eq(camas_clock_get_loop(clock), loop);
    cr_assert_eq(camas_loop_get_clock(loop), clock);
    cr_assert_eq(camas_clock_time(clock), 10.0);
    cr_assert_eq(camas_clock_get_utc_start(clock), START_2016);
    g_autofree char *now = camas_clock_dup_utcnow_iso(clock);
    cr_assert_str_eq(now, "2016-01-01T00:00:10+00:00");
    cr_assert(camas_clock_set_time(clock, 10.25, NULL));
    g_autofree char *later = camas_clock_dup_utcnow_iso(clock);
    cr_assert_str_eq(later, "2016-01-01T00:00:10.250000+00:00");
    cr_assert_eq(camas_clock_utcnow(clock), START_2016 + 10250000000);
}

static void
never_called(CamasLoop *loop, gpointer data)
{
    cr_assert_fail("a call that failed must never run");
}

static void
never_destroyed(gpointer data)
{
    cr_assert_fail("a call that failed must not take the data");
}

Test(clock, past_times_and_non_positive_durations_are_errors)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_external(loop, START_2016, 0);
    cr_assert(camas_clock_set_time(clock, 2, NULL));
    GError *error = NULL;
#define EXPECT_INVALID(expr, what)                                                              \
    do {                                                                                        \
        cr_assert(expr, "%s should fail", what);                                                \
        cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID), "%s", what);        \
        g_clear_error(&error);                                                                  \
    } while (0)
    EXPECT_INVALID(camas_clock_sleep(clock, 0, &error) == NULL, "sleep(0)");
    EXPECT_INVALID(camas_clock_sleep(clock, -1, &error) == NULL, "sleep(-1)");
    EXPECT_INVALID(camas_clock_sleep(clock, NAN, &error) == NULL, "sleep(nan)");
    EXPECT_INVALID(camas_clock_sleep_ticks(clock, G_MAXINT64, &error) == NULL, "sleep(huge)");
    EXPECT_INVALID(camas_clock_sleep_until(clock, 2, &error) == NULL, "sleep_until(now)");
    EXPECT_INVALID(camas_clock_sleep_until(clock, 1, &error) == NULL, "sleep_until(past)");
    EXPECT_INVALID(camas_clock_sleep_until_date(clock, "2016-01-01T00:00:02", &error) == NULL,
                   "sleep_until(date now)");
    EXPECT_INVALID(camas_clock_sleep_until_date(clock, "yesterday", &error) == NULL,
                   "sleep_until(bad date)");
    EXPECT_INVALID(camas_event_id_is_none(camas_clock_call_in(clock, 0, never_called, NULL,
                                                              never_destroyed, &error)),
                   "call_in(0)");
    EXPECT_INVALID(camas_event_id_is_none(camas_clock_call_at(clock, 1.5, never_called, NULL,
                                                              never_destroyed, &error)),
                   "call_at(past)");
    EXPECT_INVALID(camas_event_id_is_none(camas_clock_call_at_date(clock, "2015-12-31",
                                                                   never_called, NULL,
                                                                   never_destroyed, &error)),
                   "call_at(past date)");
    cr_assert_eq(camas_loop_get_pending(loop), 0, "nothing was scheduled");
    cr_assert(camas_clock_set_time(clock, 100, NULL));
}

static void
chain_sleep(CamasFuture *f, gpointer data);

typedef struct {
    CamasClock *clock;
    int remaining;
    gint64 woke_at;
} Chain;

static void
chain_sleep(CamasFuture *f, gpointer data)
{
    Chain *c = data;
    if (f)
        c->woke_at = camas_clock_now(c->clock);
    if (c->remaining-- == 0)
        return;
    g_autoptr(CamasFuture) next = camas_clock_sleep(c->clock, 0.1, NULL);
    camas_future_add_callback(next, chain_sleep, c, NULL);
}

Test(clock, ten_sleeps_of_a_tenth_land_exactly_on_one_second)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, START_2016, 0);
    Chain c = {clock, 10, -1};
    chain_sleep(NULL, &c);
    cr_assert(camas_clock_run_until(clock, G_MAXINT64));
    cr_assert_eq(c.woke_at, CAMAS_TICKS_PER_SECOND);
    cr_assert_eq(camas_clock_time(clock), 1.0);
}

Test(clock, next_activity_reports_the_earliest_live_timer)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_external(loop, START_2016, 0);
    double t = -1;
    cr_assert_not(camas_clock_next_activity(clock, &t));
    g_autoptr(CamasFuture) early = camas_clock_sleep(clock, 0.5, NULL);
    g_autoptr(CamasFuture) late = camas_clock_sleep(clock, 3, NULL);
    CamasEventId call = camas_clock_call_in(clock, 2, never_called, NULL, NULL, NULL);
    cr_assert(camas_clock_next_activity(clock, &t));
    cr_assert_eq(t, 0.5);
    cr_assert(camas_future_cancel(early));
    cr_assert(camas_clock_next_activity(clock, &t), "a cancelled sleep is not activity");
    cr_assert_eq(t, 2.0);
    camas_clock_cancel(clock, call);
    gint64 ticks;
    cr_assert(camas_clock_next_activity_ticks(clock, &ticks));
    cr_assert_eq(ticks, 3 * CAMAS_TICKS_PER_SECOND);
    /* A co-simulation master: step to the next activity until none is left. */
    int steps = 0;
    while (camas_clock_next_activity(clock, &t)) {
        cr_assert(camas_clock_set_time(clock, t, NULL));
        steps++;
    }
    cr_assert_eq(steps, 1);
    cr_assert(camas_future_is_done(late));
    cr_assert_not(camas_future_is_failed(late));
}

Test(clock, dates_convert_through_utc_start)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_external(loop, START_2016, 0);
    gint64 ticks;
    cr_assert(camas_clock_date_to_ticks(clock, "2016-01-01T01:00:00+01:00", &ticks, NULL));
    cr_assert_eq(ticks, 0);
    cr_assert(camas_clock_date_to_ticks(clock, "2016-01-01T00:00:01.5Z", &ticks, NULL));
    cr_assert_eq(ticks, 1500000000);
    GString *log = g_string_new(NULL);
    Sleeper s1 = {log, clock, "date-sleep"}, s2 = {log, clock, "date-call"};
    g_autoptr(CamasFuture) f = camas_clock_sleep_until_date(clock, "2016-01-01T00:00:03", NULL);
    camas_future_add_callback(f, sleeper_woke, &s1, NULL);
    GError *error = NULL;
    cr_assert(!camas_event_id_is_none(
        camas_clock_call_at_date(clock, "2016-01-01T00:00:02Z", call_fired, &s2, NULL, &error)));
    cr_assert(camas_clock_run_until(clock, G_MAXINT64));
    cr_assert_str_eq(log->str, "date-call@2 date-sleep@3 ");
    g_string_free(log, TRUE);
}

/* --- cascades ------------------------------------------------------------------------------ */

typedef struct {
    CamasClock *clock;
    GString *log;
    CamasFuture *reply;
    int hops;
} Exchange;

static void
deliver_reply(CamasLoop *loop, gpointer data)
{
    Exchange *x = data;
    g_string_append_printf(x->log, "reply@%g ", camas_clock_time(x->clock));
    camas_future_set_result(x->reply, camas_value_new_int(x->hops));
}

static void
deliver_request(CamasLoop *loop, gpointer data)
{
    Exchange *x = data;
    x->hops++;
    g_string_append_printf(x->log, "request%d@%g ", x->hops, camas_clock_time(x->clock));
    if (x->hops < 3)
        camas_loop_call_soon(loop, deliver_request, x); /* forwarded at zero delay */
    else
        camas_loop_call_soon(loop, deliver_reply, x);
}

static void
on_reply(CamasFuture *f, gpointer data)
{
    Exchange *x = data;
    g_string_append_printf(x->log, "result=%" G_GINT64_FORMAT "@%g ",
                           camas_value_get_int(camas_future_get_result(f)),
                           camas_clock_time(x->clock));
}

static void
send_request(CamasLoop *loop, gpointer data)
{
    Exchange *x = data;
    g_string_append_printf(x->log, "send@%g ", camas_clock_time(x->clock));
    camas_future_add_callback(x->reply, on_reply, x, NULL);
    camas_loop_call_soon(loop, deliver_request, x);
}

Test(clock, set_time_runs_every_zero_delay_cascade_before_returning)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_external(loop, START_2016, 0);
    g_autoptr(CamasFuture) reply = camas_future_new(loop);
    Exchange x = {clock, g_string_new(NULL), reply, 0};
    camas_clock_call_at(clock, 1, send_request, &x, NULL, NULL);
    cr_assert(camas_clock_set_time(clock, 2, NULL));
    cr_assert_str_eq(x.log->str,
                     "send@2 request1@2 request2@2 request3@2 reply@2 result=3@2 ");
    cr_assert_eq(camas_loop_get_pending(loop), 0);
    g_string_free(x.log, TRUE);
}

/* --- as fast as possible ------------------------------------------------------------------- */

static void
stop_loop(CamasLoop *loop, gpointer data)
{
    (*(int *)data)++;
    camas_loop_stop(loop);
}

static void
count_call(CamasLoop *loop, gpointer data)
{
    (*(int *)data)++;
}

Test(clock, afap_runs_jump_from_event_to_event_and_stop_where_asked)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, START_2016, 0);
    cr_assert_eq(camas_clock_get_kind(clock), CAMAS_CLOCK_AFAP);
    int n = 0;
    for (int i = 1; i <= 5; i++)
        camas_clock_call_at(clock, i * 10, count_call, &n, NULL, NULL);
    cr_assert(camas_clock_run_until(clock, 25 * CAMAS_TICKS_PER_SECOND));
    cr_assert_eq(n, 2);
    cr_assert_eq(camas_clock_time(clock), 25.0, "ends at the stop time");
    camas_clock_call_at(clock, 35, stop_loop, &n, NULL, NULL);
    cr_assert_not(camas_clock_run_until(clock, G_MAXINT64), "stopped early");
    cr_assert_eq(n, 4);
    cr_assert_eq(camas_clock_time(clock), 35.0);
    cr_assert(camas_clock_run_until(clock, G_MAXINT64));
    cr_assert_eq(n, 6);
    cr_assert_eq(camas_clock_time(clock), 50.0, "idle: time stays at the last event");
    /* set_time works on an afap clock too. */
    cr_assert(camas_clock_set_time(clock, 60, NULL));
}

static void
complete_future(CamasLoop *loop, gpointer data)
{
    camas_future_set_result(data, camas_value_new_str("done"));
}

Test(clock, run_until_complete_returns_the_outcome_or_says_why_not)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, START_2016, 0);
    g_autoptr(CamasFuture) f = camas_future_new(loop);
    int later = 0;
    camas_clock_call_at(clock, 7, complete_future, f, NULL, NULL);
    camas_clock_call_at(clock, 9, count_call, &later, NULL, NULL);
    g_autoptr(CamasValue) result = NULL;
    GError *error = NULL;
    cr_assert(camas_clock_run_until_complete(clock, f, &result, &error));
    cr_assert_str_eq(camas_value_get_str(result, NULL), "done");
    cr_assert_eq(camas_clock_time(clock), 7.0);
    cr_assert_eq(later, 0, "returns as soon as the future is done");

    g_autoptr(CamasFuture) never = camas_future_new(loop);
    cr_assert_not(camas_clock_run_until_complete(clock, never, NULL, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_FAILED));
    cr_assert(strstr(error->message, "never"), "%s", error->message);
    g_clear_error(&error);
    cr_assert_eq(later, 1);

    g_autoptr(CamasFuture) failing = camas_future_new(loop);
    camas_future_set_error(failing, g_error_new(CAMAS_ERROR, CAMAS_ERROR_LOOKUP, "nope"));
    cr_assert_not(camas_clock_run_until_complete(clock, failing, NULL, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_LOOKUP));
    g_clear_error(&error);

    g_autoptr(CamasFuture) blocked = camas_future_new(loop);
    int n = 0;
    camas_clock_call_in(clock, 1, stop_loop, &n, NULL, NULL);
    camas_clock_call_in(clock, 2, complete_future, blocked, NULL, NULL);
    cr_assert_not(camas_clock_run_until_complete(clock, blocked, NULL, &error));
    cr_assert(strstr(error->message, "stopped"), "%s", error->message);
    g_clear_error(&error);
    cr_assert(camas_clock_run_until_complete(clock, blocked, NULL, NULL));
}

/* --- tracing ------------------------------------------------------------------------------- */

static void
trace_to_string(const CamasTraceRecord *rec, gpointer data)
{
    g_string_append_printf(data, "%s:%s@%" G_GINT64_FORMAT " ", camas_trace_kind_name(rec->kind),
                           rec->method, rec->time / CAMAS_TICKS_PER_SECOND);
}

Test(clock, timers_emit_timer_records_when_they_fire)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_afap(loop, START_2016, 0);
    GString *trace = g_string_new(NULL);
    camas_loop_set_tracer(loop, trace_to_string, trace, NULL);
    int n = 0;
    g_autoptr(CamasFuture) f = camas_clock_sleep(clock, 2, NULL);
    camas_clock_call_in(clock, 1, count_call, &n, NULL, NULL);
    CamasEventId gone = camas_clock_call_in(clock, 3, count_call, &n, NULL, NULL);
    camas_clock_cancel(clock, gone);
    camas_loop_call_at(loop, 4 * CAMAS_TICKS_PER_SECOND, count_call, &n); /* not a timer */
    camas_clock_run_until(clock, G_MAXINT64);
    cr_assert_str_eq(trace->str, "timer:call@1 timer:sleep@2 ");
    cr_assert(camas_future_is_done(f));
    camas_loop_set_tracer(loop, NULL, NULL, NULL);
    g_string_free(trace, TRUE);
}

Test(clock, a_clock_outlives_its_loop_safely_and_a_loop_takes_one_clock)
{
    CamasLoop *loop = camas_loop_new();
    CamasClock *clock = camas_clock_new_external(loop, 0, 0);
    camas_loop_free(loop);
    cr_assert_null(camas_clock_get_loop(clock));
    camas_clock_unref(clock);

    g_autoptr(CamasLoop) loop2 = camas_loop_new();
    CamasClock *c1 = camas_clock_new_afap(loop2, 0, 0);
    camas_clock_unref(c1);
    cr_assert_null(camas_loop_get_clock(loop2), "unref detaches from the loop");
    g_autoptr(CamasClock) c2 = camas_clock_new_external(loop2, 0, 0);
    cr_assert_eq(camas_loop_get_clock(loop2), c2);
}

/* --- real time ----------------------------------------------------------------------------- */

typedef struct {
    CamasClock *clock;
    GString *log;
    gint64 deadline;
    gint64 *max_late;
    const char *name;
} RtCall;

static void
rt_fired(CamasLoop *loop, gpointer data)
{
    RtCall *c = data;
    gint64 now = camas_clock_now(c->clock);
    cr_assert_geq(now, c->deadline, "%s ran early", c->name);
    if (now - c->deadline > *c->max_late)
        *c->max_late = now - c->deadline;
    g_string_append_printf(c->log, "%s ", c->name);
}

static void
rt_woke(CamasFuture *f, gpointer data)
{
    rt_fired(NULL, data);
}

Test(clock, real_time_clock_fires_in_order_and_not_too_late)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_realtime(loop, ctx);
    cr_assert_eq(camas_clock_get_kind(clock), CAMAS_CLOCK_REALTIME);
    cr_assert_eq(camas_loop_get_context(loop), ctx);
    GString *log = g_string_new(NULL);
    gint64 max_late = 0;
    gint64 t0 = camas_clock_now(clock);
    RtCall c30 = {clock, log, t0 + 30 * CAMAS_TICKS_PER_MS, &max_late, "c30"};
    RtCall c10 = {clock, log, t0 + 10 * CAMAS_TICKS_PER_MS, &max_late, "c10"};
    RtCall s20 = {clock, log, t0 + 20 * CAMAS_TICKS_PER_MS, &max_late, "s20"};
    camas_clock_call_at_ticks(clock, c30.deadline, rt_fired, &c30, NULL, NULL);
    camas_clock_call_at_ticks(clock, c10.deadline, rt_fired, &c10, NULL, NULL);
    g_autoptr(CamasFuture) sleep = camas_clock_sleep_until_ticks(clock, s20.deadline, NULL);
    camas_future_add_callback(sleep, rt_woke, &s20, NULL);
    g_autoptr(CamasFuture) done = camas_future_new(loop);
    camas_clock_call_at_ticks(clock, t0 + 40 * CAMAS_TICKS_PER_MS, complete_future, done, NULL,
                              NULL);
    GError *error = NULL;
    cr_assert(camas_clock_run_until_complete(clock, done, NULL, &error));
    cr_assert_str_eq(log->str, "c10 s20 c30 ");
    /* Generous: a loaded CI machine may be late, but not by half a second. */
    cr_assert_lt(max_late, 500 * CAMAS_TICKS_PER_MS, "late by %" G_GINT64_FORMAT " ns", max_late);
    cr_assert_geq(camas_clock_now(clock) - t0, 40 * CAMAS_TICKS_PER_MS);
    /* The date follows the wall clock within the same generous bound. */
    gint64 wall = g_get_real_time() * 1000;
    cr_assert_lt(llabs(camas_clock_utcnow(clock) - wall), 500 * CAMAS_TICKS_PER_MS);
    /* A real-time clock cannot be set. */
    cr_assert_not(camas_clock_set_time(clock, 1e6, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    g_clear_error(&error);
    /* run_until in real time waits for the time to come. */
    gint64 before = camas_clock_now(clock);
    cr_assert(camas_clock_run_until(clock, before + 5 * CAMAS_TICKS_PER_MS));
    cr_assert_geq(camas_clock_now(clock), before + 5 * CAMAS_TICKS_PER_MS);
    g_string_free(log, TRUE);
}

Test(clock, real_time_zero_delay_work_runs_without_waiting_and_stop_ends_a_run)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_realtime(loop, ctx);
    int n = 0;
    camas_loop_call_soon(loop, count_call, &n);
    camas_loop_call_soon(loop, stop_loop, &n);
    gint64 t0 = camas_clock_now(clock);
    cr_assert_not(camas_clock_run_until(clock, G_MAXINT64));
    cr_assert_eq(n, 2);
    cr_assert_lt(camas_clock_now(clock) - t0, 500 * CAMAS_TICKS_PER_MS);
}
