/* SPDX-License-Identifier: MIT */
/*
 * Clocks: where a loop's time comes from, with aiomas' clock API (aiomas.clocks;
 * wire-protocol.md §11) on top, the same for all three kinds so agent code runs unchanged in
 * simulation and live:
 *
 *  - external (aiomas ExternalClock): time moves only when a master calls set_time(t); each
 *    call runs everything due up to t, zero-delay cascades included, then returns.
 *    next_activity() tells the master when to step next (co-simulation).
 *  - as fast as possible: the scenario runner's clock; run() jumps straight from event to
 *    event (the same as set_time(next_activity()) in a loop) until a stop time, a future is
 *    done, nothing is pending, or camas_loop_stop().
 *  - real time (aiomas AsyncioClock): time follows the monotonic clock; a GSource on a
 *    GMainContext runs the loop (microsecond precision, no busy waiting).
 *
 * Time is seconds (double) or ticks (gint64 ns, the `_ticks` variants); dates are ISO 8601
 * text (camas/time.h).  A clock's time 0 corresponds to the date utc_start; utcnow() is
 * utc_start + time.
 *
 * Argument rules (as aiomas' ExternalClock; applied to every kind, so code tested in
 * simulation behaves the same live): durations must be > 0 and absolute times strictly after
 * now, else CAMAS_ERROR_INVALID and nothing is scheduled (so a callback is never called).
 *
 * Ordering: sleepers and calls share the loop's (time, seq) order: equal deadlines wake in
 * registration order.  A sleep's timer event completes its future and runs the future's
 * callbacks (a waiting task resumes) inside that same event, so a sleeper runs in its own
 * (deadline, seq) slot, exactly where aiomas runs it (sleepers b(1), e(1) and a call_in(1)
 * registered in that order run as b, e, call).
 *
 * Ownership: clocks are reference counted; a loop has at most one clock, which it does not own.
 * A clock must not be used after its loop is freed (the loop detaches it).
 */
#pragma once

#include <camas/future.h>
#include <camas/loop.h>

G_BEGIN_DECLS

typedef enum {
    CAMAS_CLOCK_EXTERNAL = 0,
    CAMAS_CLOCK_AFAP,
    CAMAS_CLOCK_REALTIME,
} CamasClockKind;

/* --- construction -------------------------------------------------------------------------- */

/**
 * camas_clock_new_external:
 * @loop: the loop to drive; it must have no clock yet, and its time must not be after
 *        @init_time
 * @utc_start: the date at time 0, in unix ns (camas_date_parse() reads ISO 8601)
 * @init_time: the initial time in ticks (aiomas' init_time; usually 0)
 *
 * Returns: (transfer full): an external clock; the loop's time is set to @init_time.
 */
CAMAS_API CamasClock *camas_clock_new_external(CamasLoop *loop, gint64 utc_start,
                                               gint64 init_time);

/* As camas_clock_new_external, for the as-fast-as-possible kind (driven by camas_clock_run*;
 * set_time works too). */
CAMAS_API CamasClock *camas_clock_new_afap(CamasLoop *loop, gint64 utc_start, gint64 init_time);

/**
 * camas_clock_new_realtime:
 * @context: (nullable): the context to run in; NULL = the thread-default context.  The loop is
 *           attached to it (camas_loop_attach) unless it already is, to the same context.
 *
 * Returns: (transfer full): a real-time clock.  Time continues from the loop's current time
 * and then follows the monotonic clock; utcnow() is the system's UTC time when the clock was
 * made plus the elapsed time (so it never jumps with wall-clock adjustments).
 */
CAMAS_API CamasClock *camas_clock_new_realtime(CamasLoop *loop, GMainContext *context);

CAMAS_API CamasClock *camas_clock_ref(CamasClock *clock);
CAMAS_API void camas_clock_unref(CamasClock *clock);

CAMAS_API CamasClockKind camas_clock_get_kind(CamasClock *clock);
/* "external", "afap" or "realtime" */
CAMAS_API const char *camas_clock_get_name(CamasClock *clock);
/* (transfer none) */
CAMAS_API CamasLoop *camas_clock_get_loop(CamasClock *clock);

/* --- reading time -------------------------------------------------------------------------- */

/* The current time in seconds (aiomas time()). */
CAMAS_API double camas_clock_time(CamasClock *clock);
/* The current time in ticks.  Real time: reads the monotonic clock. */
CAMAS_API gint64 camas_clock_now(CamasClock *clock);
/* The current date in unix ns (aiomas utcnow()). */
CAMAS_API gint64 camas_clock_utcnow(CamasClock *clock);
/* Returns: (transfer full): the current date as ISO 8601 text in UTC ("...+00:00"). */
CAMAS_API char *camas_clock_dup_utcnow_iso(CamasClock *clock);
/* The date at time 0, in unix ns. */
CAMAS_API gint64 camas_clock_get_utc_start(CamasClock *clock);

/**
 * camas_clock_date_to_ticks:
 * @date: ISO 8601 text (see camas_date_parse)
 * @ticks: (out): the clock time of that date
 * Returns: FALSE with CAMAS_ERROR_INVALID when @date does not parse or lies out of range.
 */
CAMAS_API gboolean camas_clock_date_to_ticks(CamasClock *clock, const char *date, gint64 *ticks,
                                             GError **error);

/* --- driving time (external and as-fast-as-possible clocks) -------------------------------- */

/**
 * camas_clock_set_time:
 * @t: the new time in seconds, strictly greater than the current time
 *
 * aiomas ExternalClock.set_time: runs every event due at or before @t — sleepers wake and
 * their code runs, calls run, messages are delivered and answered, zero-delay cascades
 * included — until nothing due is left, then returns.  Events due before @t observe time
 * @t (aiomas semantics), except those already due before the call, which run first at the
 * old time.  Ignores camas_loop_stop().
 *
 * Returns: FALSE with CAMAS_ERROR_INVALID when @t is not after the current time (or not a
 * finite time), or when the clock is a real-time clock; nothing runs then.
 */
CAMAS_API gboolean camas_clock_set_time(CamasClock *clock, double t, GError **error);
CAMAS_API gboolean camas_clock_set_time_ticks(CamasClock *clock, gint64 t, GError **error);

/**
 * camas_clock_next_activity:
 * @t: (out): the time of the earliest pending event, in seconds or ticks (cancelled timers and
 *     cancelled sleeps do not count)
 * Returns: FALSE when nothing is pending (the master may stop or jump anywhere).
 */
CAMAS_API gboolean camas_clock_next_activity(CamasClock *clock, double *t);
CAMAS_API gboolean camas_clock_next_activity_ticks(CamasClock *clock, gint64 *t);

/**
 * camas_clock_run_until:
 * @until: a time in ticks, or G_MAXINT64 for "until nothing is pending"
 *
 * Runs the loop until time @until.  External and as-fast-as-possible: jumps from event to
 * event (each runs at its own time) and ends at max(now, @until) — unless nothing is pending
 * and @until is G_MAXINT64 (time stays at the last event), or camas_loop_stop() was called.
 * Real time: iterates the loop's GMainContext until the monotonic time reaches @until or
 * camas_loop_stop() is called (G_MAXINT64: until stopped).
 * Returns: TRUE when @until was reached or nothing is pending, FALSE when stopped.
 */
CAMAS_API gboolean camas_clock_run_until(CamasClock *clock, gint64 until);

/**
 * camas_clock_run_until_complete:
 * @result: (out) (optional) (transfer full) (nullable): the future's result
 *
 * aiomas.run(until=...): runs the loop (as camas_clock_run_until, without a time bound) until
 * @future is done, then propagates its outcome: TRUE with its result, or FALSE with a copy of
 * its error.  Also FALSE with CAMAS_ERROR_FAILED when the loop was stopped first, or (virtual
 * clocks) when nothing is pending any more but @future is not done, so it never can be.
 */
CAMAS_API gboolean camas_clock_run_until_complete(CamasClock *clock, CamasFuture *future,
                                                  CamasValue **result, GError **error);

/* --- sleeping ------------------------------------------------------------------------------ */

/**
 * camas_clock_sleep:
 * @dt: seconds, > 0
 *
 * Returns: (transfer full): a future that succeeds (result NULL) at now + @dt, or NULL with
 * CAMAS_ERROR_INVALID.  Cancelling the future removes the timer.
 */
CAMAS_API CamasFuture *camas_clock_sleep(CamasClock *clock, double dt, GError **error);
CAMAS_API CamasFuture *camas_clock_sleep_ticks(CamasClock *clock, gint64 dt, GError **error);

/* As camas_clock_sleep, until the absolute time @t (seconds or ticks, after now) or @date
 * (ISO 8601, after utcnow). */
CAMAS_API CamasFuture *camas_clock_sleep_until(CamasClock *clock, double t, GError **error);
CAMAS_API CamasFuture *camas_clock_sleep_until_ticks(CamasClock *clock, gint64 t,
                                                     GError **error);
CAMAS_API CamasFuture *camas_clock_sleep_until_date(CamasClock *clock, const char *date,
                                                    GError **error);

/* --- calling later ------------------------------------------------------------------------- */

/**
 * camas_clock_call_in:
 * @dt: seconds, > 0
 * @func: what to call; it runs from the loop at now + @dt
 * @user_data: given to @func
 * @destroy: (nullable): called with @user_data after @func ran or when the call is cancelled
 *           or dropped; NOT called when this fails (the caller still owns @user_data then)
 *
 * Returns: the call's id for camas_clock_cancel(), or CAMAS_EVENT_ID_NONE with
 * CAMAS_ERROR_INVALID (then @func is never called).
 */
CAMAS_API CamasEventId camas_clock_call_in(CamasClock *clock, double dt, CamasEventFunc func,
                                           gpointer user_data, GDestroyNotify destroy,
                                           GError **error);
CAMAS_API CamasEventId camas_clock_call_in_ticks(CamasClock *clock, gint64 dt,
                                                 CamasEventFunc func, gpointer user_data,
                                                 GDestroyNotify destroy, GError **error);
/* At the absolute time @t (seconds or ticks, after now) or @date (ISO 8601, after utcnow). */
CAMAS_API CamasEventId camas_clock_call_at(CamasClock *clock, double t, CamasEventFunc func,
                                           gpointer user_data, GDestroyNotify destroy,
                                           GError **error);
CAMAS_API CamasEventId camas_clock_call_at_ticks(CamasClock *clock, gint64 t,
                                                 CamasEventFunc func, gpointer user_data,
                                                 GDestroyNotify destroy, GError **error);
CAMAS_API CamasEventId camas_clock_call_at_date(CamasClock *clock, const char *date,
                                                CamasEventFunc func, gpointer user_data,
                                                GDestroyNotify destroy, GError **error);

/* Cancels a pending call (aiomas TimerHandle.cancel()): it never runs.  Returns FALSE when it
 * already ran or was cancelled. */
CAMAS_API gboolean camas_clock_cancel(CamasClock *clock, CamasEventId id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasClock, camas_clock_unref)

G_END_DECLS
