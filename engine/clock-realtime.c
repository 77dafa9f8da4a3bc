/* SPDX-License-Identifier: MIT */
/*
 * The real-time clock kind (aiomas AsyncioClock): the loop's time follows the monotonic clock
 * and the loop's GSource (loop.c) wakes the GMainContext at each timer's deadline.  Running
 * means iterating that context, so sockets attached to it are served in between.
 */
#include "clock-private.h"
#include "future-private.h"

static gint64
realtime_now(CamasClock *clock)
{
    camas__loop_refresh(clock->loop);
    return clock->loop->head.now;
}

static void
set_flag(CamasLoop *loop, gpointer data)
{
    *(gboolean *)data = TRUE;
}

static CamasRunEnd
realtime_run(CamasClock *clock, gint64 until, CamasFuture *future)
{
    CamasLoop *loop = clock->loop;
    gboolean reached = FALSE;
    CamasEventId wake = CAMAS_EVENT_ID_NONE;
    if (until != G_MAXINT64)
        wake = camas_loop_call_at(loop, until, set_flag, &reached);
    CamasRunEnd end;
    for (;;) {
        if (reached || (future && future->state != CAMAS__FUTURE_PENDING)) {
            end = CAMAS__RUN_REACHED;
            break;
        }
        if (loop->stop) {
            loop->stop = FALSE;
            end = CAMAS__RUN_STOPPED;
            break;
        }
        g_main_context_iteration(loop->context, TRUE);
    }
    camas_loop_cancel(loop, wake);
    return end;
}

const CamasClockClass camas__clock_realtime = {
    .name = "realtime",
    .kind = CAMAS_CLOCK_REALTIME,
    .instance_size = sizeof(CamasClock),
    .now = realtime_now,
    .set_time = NULL,
    .run = realtime_run,
};

CamasClock *
camas_clock_new_realtime(CamasLoop *loop, GMainContext *context)
{
    g_return_val_if_fail(loop != NULL, NULL);
    g_return_val_if_fail(loop->context == NULL || context == NULL || context == loop->context,
                         NULL);
    gint64 utc_start = g_get_real_time() * 1000 - loop->head.now;
    CamasClock *clock = camas__clock_new(&camas__clock_realtime, loop, utc_start);
    if (clock == NULL)
        return NULL;
    if (loop->context == NULL)
        camas_loop_attach(loop, context);
    camas__loop_set_realtime(loop);
    return clock;
}
