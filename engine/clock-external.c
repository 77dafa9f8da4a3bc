/* SPDX-License-Identifier: MIT */
/*
 * The virtual-time clock kinds: external (aiomas ExternalClock, stepped by a master through
 * set_time) and as-fast-as-possible (stepped by camas_clock_run*, jumping from event to
 * event).  They share everything; only the name and the kind differ, so a scenario can switch
 * between them without other changes.
 */
#include "clock-private.h"
#include "future-private.h"

static gint64
virtual_now(CamasClock *clock)
{
    return clock->loop->head.now;
}

static gboolean
virtual_set_time(CamasClock *clock, gint64 t, GError **error)
{
    return camas_loop_advance(clock->loop, t, error);
}

static CamasRunEnd
virtual_run(CamasClock *clock, gint64 until, CamasFuture *future)
{
    CamasLoop *loop = clock->loop;
    if (future == NULL) /* the fast path: the loop's own run loop, no per-event calls */
        return camas__loop_run_until(loop, until, NULL) ? CAMAS__RUN_STOPPED
                                                        : CAMAS__RUN_REACHED;
    for (;;) {
        if (future->state != CAMAS__FUTURE_PENDING)
            return CAMAS__RUN_REACHED;
        if (loop->stop) {
            loop->stop = FALSE;
            return CAMAS__RUN_STOPPED;
        }
        gint64 next;
        if (!camas_loop_next_time(loop, &next))
            return CAMAS__RUN_IDLE;
        if (next > until) {
            if (until > loop->head.now)
                loop->head.now = until;
            return CAMAS__RUN_REACHED;
        }
        camas_loop_step(loop);
    }
}

const CamasClockClass camas__clock_external = {
    .name = "external",
    .kind = CAMAS_CLOCK_EXTERNAL,
    .instance_size = sizeof(CamasClock),
    .now = virtual_now,
    .set_time = virtual_set_time,
    .run = virtual_run,
};

const CamasClockClass camas__clock_afap = {
    .name = "afap",
    .kind = CAMAS_CLOCK_AFAP,
    .instance_size = sizeof(CamasClock),
    .now = virtual_now,
    .set_time = virtual_set_time,
    .run = virtual_run,
};

static CamasClock *
virtual_new(const CamasClockClass *klass, CamasLoop *loop, gint64 utc_start, gint64 init_time)
{
    g_return_val_if_fail(loop != NULL, NULL);
    g_return_val_if_fail(!loop->realtime, NULL);
    g_return_val_if_fail(init_time >= loop->head.now, NULL);
    CamasClock *clock = camas__clock_new(klass, loop, utc_start);
    if (clock)
        loop->head.now = init_time;
    return clock;
}

CamasClock *
camas_clock_new_external(CamasLoop *loop, gint64 utc_start, gint64 init_time)
{
    return virtual_new(&camas__clock_external, loop, utc_start, init_time);
}

CamasClock *
camas_clock_new_afap(CamasLoop *loop, gint64 utc_start, gint64 init_time)
{
    return virtual_new(&camas__clock_afap, loop, utc_start, init_time);
}
