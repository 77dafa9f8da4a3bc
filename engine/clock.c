/* SPDX-License-Identifier: MIT */
/*
 * The kind-independent half of the clock API (see camas/clock.h): construction and reference
 * counting, reading time and dates, argument checking, sleeps (futures completed by timer
 * events) and delayed calls (timer events), and the run entry points that dispatch to the
 * kind's class table.
 */
#include <camas/time.h>

#include "clock-private.h"
#include "future-private.h"
#include "live-private.h"

CamasClock *
camas__clock_new(const CamasClockClass *klass, CamasLoop *loop, gint64 utc_start)
{
    g_return_val_if_fail(loop != NULL, NULL);
    g_return_val_if_fail(loop->clock == NULL, NULL);
    g_return_val_if_fail(!loop->closing, NULL);
    CamasClock *clock = g_malloc0(klass->instance_size);
    clock->klass = klass;
    clock->refcount = 1;
    clock->loop = loop;
    clock->utc_start = utc_start;
    camas__loop_set_clock(loop, clock);
    camas__live_inc(CAMAS__LIVE_CLOCK);
    return clock;
}

void
camas__clock_detach(CamasClock *clock)
{
    clock->loop = NULL;
}

CamasClock *
camas_clock_ref(CamasClock *clock)
{
    g_return_val_if_fail(clock != NULL, NULL);
    clock->refcount++;
    return clock;
}

void
camas_clock_unref(CamasClock *clock)
{
    if (clock == NULL)
        return;
    g_return_if_fail(clock->refcount > 0);
    if (--clock->refcount > 0)
        return;
    if (clock->klass->finalize)
        clock->klass->finalize(clock);
    if (clock->loop)
        camas__loop_set_clock(clock->loop, NULL);
    g_free(clock);
    camas__live_dec(CAMAS__LIVE_CLOCK);
}

CamasClockKind
camas_clock_get_kind(CamasClock *clock)
{
    g_return_val_if_fail(clock != NULL, CAMAS_CLOCK_EXTERNAL);
    return clock->klass->kind;
}

const char *
camas_clock_get_name(CamasClock *clock)
{
    g_return_val_if_fail(clock != NULL, NULL);
    return clock->klass->name;
}

CamasLoop *
camas_clock_get_loop(CamasClock *clock)
{
    g_return_val_if_fail(clock != NULL, NULL);
    return clock->loop;
}

/* The current time without a call for the virtual kinds (the hot path of call_in / sleep). */
static inline gint64
clock_now(CamasClock *clock)
{
    return G_LIKELY(!clock->loop->realtime) ? clock->loop->head.now : clock->klass->now(clock);
}

/* --- time and dates ------------------------------------------------------------------------ */

gint64
camas_clock_now(CamasClock *clock)
{
    g_return_val_if_fail(clock != NULL && clock->loop != NULL, 0);
    return clock->klass->now(clock);
}

double
camas_clock_time(CamasClock *clock)
{
    return camas_time_to_seconds(camas_clock_now(clock));
}

gint64
camas_clock_utcnow(CamasClock *clock)
{
    return clock->utc_start + camas_clock_now(clock);
}

char *
camas_clock_dup_utcnow_iso(CamasClock *clock)
{
    return camas_date_format(camas_clock_utcnow(clock), 0);
}

gint64
camas_clock_get_utc_start(CamasClock *clock)
{
    g_return_val_if_fail(clock != NULL, 0);
    return clock->utc_start;
}

gboolean
camas_clock_date_to_ticks(CamasClock *clock, const char *date, gint64 *ticks, GError **error)
{
    g_return_val_if_fail(clock != NULL && date != NULL && ticks != NULL, FALSE);
    gint64 ns;
    if (!camas_date_parse(date, &ns, NULL, error))
        return FALSE;
    if (__builtin_sub_overflow(ns, clock->utc_start, ticks)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "date %s is too far from the clock's start date", date);
        return FALSE;
    }
    return TRUE;
}

/* --- argument checks ----------------------------------------------------------------------- */

gboolean
camas__clock_check_future_time(CamasClock *clock, const char *what, gint64 t, GError **error)
{
    gint64 now = clock_now(clock);
    if (t <= now) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "%s: time %.9g s is not after the current time %.9g s", what,
                    camas_time_to_seconds(t), camas_time_to_seconds(now));
        return FALSE;
    }
    return TRUE;
}

/* now + dt, or an error when dt <= 0 or the sum leaves the tick range. */
gboolean
camas__clock_deadline_in(CamasClock *clock, const char *what, gint64 dt, gint64 *t,
                         GError **error)
{
    if (G_LIKELY(dt > 0 && !__builtin_add_overflow(clock_now(clock), dt, t)))
        return TRUE;
    if (dt <= 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s: dt must be > 0 (got %.9g s)",
                    what, camas_time_to_seconds(dt));
        return FALSE;
    }
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s: dt %.9g s is too large", what,
                camas_time_to_seconds(dt));
    return FALSE;
}

static gboolean
seconds_arg(const char *what, double s, gint64 *ticks, GError **error)
{
    if (!camas_time_from_seconds(s, ticks, error)) {
        g_prefix_error(error, "%s: ", what);
        return FALSE;
    }
    return TRUE;
}

/* --- sleeping ------------------------------------------------------------------------------ */

static void
sleep_fire(CamasLoop *loop, gpointer data)
{
    camas__future_resolve_in_event(data, NULL);
}

static void
unref_future(gpointer data)
{
    camas_future_unref(data);
}

static CamasFuture *
sleep_at(CamasClock *clock, gint64 t)
{
    CamasFuture *f = camas_future_new(clock->loop);
    /* The timer holds a reference until it fired or was cancelled through the future. */
    f->timer = camas__loop_call_timer(clock->loop, t, sleep_fire, camas_future_ref(f),
                                      unref_future, "sleep");
    return f;
}

CamasFuture *
camas_clock_sleep_ticks(CamasClock *clock, gint64 dt, GError **error)
{
    g_return_val_if_fail(clock != NULL && clock->loop != NULL, NULL);
    gint64 t;
    if (!camas__clock_deadline_in(clock, "sleep", dt, &t, error))
        return NULL;
    return sleep_at(clock, t);
}

CamasFuture *
camas_clock_sleep(CamasClock *clock, double dt, GError **error)
{
    gint64 ticks;
    if (!seconds_arg("sleep", dt, &ticks, error))
        return NULL;
    return camas_clock_sleep_ticks(clock, ticks, error);
}

CamasFuture *
camas_clock_sleep_until_ticks(CamasClock *clock, gint64 t, GError **error)
{
    g_return_val_if_fail(clock != NULL && clock->loop != NULL, NULL);
    if (!camas__clock_check_future_time(clock, "sleep_until", t, error))
        return NULL;
    return sleep_at(clock, t);
}

CamasFuture *
camas_clock_sleep_until(CamasClock *clock, double t, GError **error)
{
    gint64 ticks;
    if (!seconds_arg("sleep_until", t, &ticks, error))
        return NULL;
    return camas_clock_sleep_until_ticks(clock, ticks, error);
}

CamasFuture *
camas_clock_sleep_until_date(CamasClock *clock, const char *date, GError **error)
{
    gint64 ticks;
    if (!camas_clock_date_to_ticks(clock, date, &ticks, error))
        return NULL;
    return camas_clock_sleep_until_ticks(clock, ticks, error);
}

/* --- calling later ------------------------------------------------------------------------- */

CamasEventId
camas_clock_call_at_ticks(CamasClock *clock, gint64 t, CamasEventFunc func, gpointer user_data,
                          GDestroyNotify destroy, GError **error)
{
    g_return_val_if_fail(clock != NULL && clock->loop != NULL && func != NULL,
                         CAMAS_EVENT_ID_NONE);
    if (!camas__clock_check_future_time(clock, "call_at", t, error))
        return CAMAS_EVENT_ID_NONE;
    return camas__loop_call_timer(clock->loop, t, func, user_data, destroy, "call");
}

CamasEventId
camas_clock_call_at(CamasClock *clock, double t, CamasEventFunc func, gpointer user_data,
                    GDestroyNotify destroy, GError **error)
{
    gint64 ticks;
    if (!seconds_arg("call_at", t, &ticks, error))
        return CAMAS_EVENT_ID_NONE;
    return camas_clock_call_at_ticks(clock, ticks, func, user_data, destroy, error);
}

CamasEventId
camas_clock_call_at_date(CamasClock *clock, const char *date, CamasEventFunc func,
                         gpointer user_data, GDestroyNotify destroy, GError **error)
{
    gint64 ticks;
    if (!camas_clock_date_to_ticks(clock, date, &ticks, error))
        return CAMAS_EVENT_ID_NONE;
    return camas_clock_call_at_ticks(clock, ticks, func, user_data, destroy, error);
}

CamasEventId
camas_clock_call_in_ticks(CamasClock *clock, gint64 dt, CamasEventFunc func, gpointer user_data,
                          GDestroyNotify destroy, GError **error)
{
    g_return_val_if_fail(clock != NULL && clock->loop != NULL && func != NULL,
                         CAMAS_EVENT_ID_NONE);
    gint64 t;
    if (!camas__clock_deadline_in(clock, "call_in", dt, &t, error))
        return CAMAS_EVENT_ID_NONE;
    return camas__loop_call_timer(clock->loop, t, func, user_data, destroy, "call");
}

CamasEventId
camas_clock_call_in(CamasClock *clock, double dt, CamasEventFunc func, gpointer user_data,
                    GDestroyNotify destroy, GError **error)
{
    gint64 ticks;
    if (!seconds_arg("call_in", dt, &ticks, error))
        return CAMAS_EVENT_ID_NONE;
    return camas_clock_call_in_ticks(clock, ticks, func, user_data, destroy, error);
}

gboolean
camas_clock_cancel(CamasClock *clock, CamasEventId id)
{
    g_return_val_if_fail(clock != NULL && clock->loop != NULL, FALSE);
    return camas_loop_cancel(clock->loop, id);
}

/* --- driving ------------------------------------------------------------------------------- */

gboolean
camas_clock_set_time_ticks(CamasClock *clock, gint64 t, GError **error)
{
    g_return_val_if_fail(clock != NULL && clock->loop != NULL, FALSE);
    if (clock->klass->set_time == NULL) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "set_time: a %s clock cannot be set",
                    clock->klass->name);
        return FALSE;
    }
    if (!camas__clock_check_future_time(clock, "set_time", t, error))
        return FALSE;
    return clock->klass->set_time(clock, t, error);
}

gboolean
camas_clock_set_time(CamasClock *clock, double t, GError **error)
{
    gint64 ticks;
    if (!seconds_arg("set_time", t, &ticks, error))
        return FALSE;
    return camas_clock_set_time_ticks(clock, ticks, error);
}

gboolean
camas_clock_next_activity_ticks(CamasClock *clock, gint64 *t)
{
    g_return_val_if_fail(clock != NULL && clock->loop != NULL, FALSE);
    return camas_loop_next_time(clock->loop, t);
}

gboolean
camas_clock_next_activity(CamasClock *clock, double *t)
{
    gint64 ticks;
    if (!camas_clock_next_activity_ticks(clock, &ticks))
        return FALSE;
    if (t)
        *t = camas_time_to_seconds(ticks);
    return TRUE;
}

gboolean
camas_clock_run_until(CamasClock *clock, gint64 until)
{
    g_return_val_if_fail(clock != NULL && clock->loop != NULL, FALSE);
    return clock->klass->run(clock, until, NULL) != CAMAS__RUN_STOPPED;
}

gboolean
camas_clock_run_until_complete(CamasClock *clock, CamasFuture *future, CamasValue **result,
                               GError **error)
{
    g_return_val_if_fail(clock != NULL && clock->loop != NULL && future != NULL, FALSE);
    g_return_val_if_fail(future->loop == clock->loop, FALSE);
    switch (clock->klass->run(clock, G_MAXINT64, future)) {
    case CAMAS__RUN_REACHED:
        break;
    case CAMAS__RUN_STOPPED:
        g_set_error_literal(error, CAMAS_ERROR, CAMAS_ERROR_FAILED,
                            "the loop was stopped before the future was done");
        return FALSE;
    case CAMAS__RUN_IDLE:
        g_set_error_literal(error, CAMAS_ERROR, CAMAS_ERROR_FAILED,
                            "nothing is scheduled any more, so the future can never be done");
        return FALSE;
    }
    return camas_future_propagate(future, result, error);
}
