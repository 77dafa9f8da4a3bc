/* SPDX-License-Identifier: MIT */
/*
 * The clock interface inside the scheduler layer: a const class table per kind (external,
 * as-fast-as-possible, real time) and the common instance header.  clock.c holds the
 * kind-independent API (sleeps, calls, dates), clock-external.c and clock-realtime.c the
 * kinds.
 */
#pragma once

#include <camas/clock.h>

#include "loop-private.h"

G_BEGIN_DECLS

/* Why a run ended. */
typedef enum {
    CAMAS__RUN_REACHED = 0, /* the time bound was reached or the future is done */
    CAMAS__RUN_STOPPED,     /* camas_loop_stop() */
    CAMAS__RUN_IDLE,        /* nothing is pending (virtual clocks only) */
} CamasRunEnd;

typedef struct {
    const char *name;    /* "external", "afap", "realtime" */
    CamasClockKind kind; /* the public kind */
    gsize instance_size; /* bytes of the instance, CamasClock header included */
    /* The current time in ticks (real time: refreshes the loop's now).  Never blocks. */
    gint64 (*now)(CamasClock *clock);
    /* Moves time to @t (> now, checked by the caller) running everything due; NULL when the
     * kind cannot be set.  Calls back into event functions. */
    gboolean (*set_time)(CamasClock *clock, gint64 t, GError **error);
    /* Runs events until time @until is reached, @future (nullable) is done, the loop is
     * stopped, or (virtual kinds) nothing is pending.  Calls back; real time blocks in poll. */
    CamasRunEnd (*run)(CamasClock *clock, gint64 until, CamasFuture *future);
    /* Releases kind-specific state (may be NULL); the loop may already be detached. */
    void (*finalize)(CamasClock *clock);
} CamasClockClass;

struct _CamasClock {
    const CamasClockClass *klass; /* the kind */
    gint refcount;
    CamasLoop *loop;  /* the driven loop, NULL once the loop was freed */
    gint64 utc_start; /* the date of time 0, unix ns */
};

/* Allocates klass->instance_size bytes, registers with @loop. */
CamasClock *camas__clock_new(const CamasClockClass *klass, CamasLoop *loop, gint64 utc_start);

/* Argument checks shared by the clock and task APIs: @t strictly after now; now + @dt with
 * @dt > 0 and no overflow.  FALSE with CAMAS_ERROR_INVALID naming @what otherwise. */
gboolean camas__clock_check_future_time(CamasClock *clock, const char *what, gint64 t,
                                        GError **error);
gboolean camas__clock_deadline_in(CamasClock *clock, const char *what, gint64 dt, gint64 *t,
                                  GError **error);

extern const CamasClockClass camas__clock_external;
extern const CamasClockClass camas__clock_afap;
extern const CamasClockClass camas__clock_realtime;

G_END_DECLS
