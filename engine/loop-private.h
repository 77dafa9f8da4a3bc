/* SPDX-License-Identifier: MIT */
/*
 * The loop's layout, shared by the files that build on it inside the scheduler layer (clocks,
 * futures, tasks).  Nothing outside engine/loop.c, clock*.c, future.c and task.c includes this.
 */
#pragma once

#include <camas/loop.h>
#include <camas/trace.h>

G_BEGIN_DECLS

typedef struct _CamasEvent CamasEvent;
typedef struct _CamasTask CamasTask;

/* One scheduled piece of work.  Events live in pool chunks that are never moved or freed
 * before the loop, so an id's pointer stays valid and a stale id only ever meets a slot with
 * another sequence number. */
struct _CamasEvent {
    guint64 seq;            /* the sequence number of the current use; 0 while free */
    CamasEventFunc func;    /* what to run */
    gpointer data;          /* its argument */
    GDestroyNotify destroy; /* called with data once the event ran or was dropped, or NULL */
    const char *timer;      /* non-NULL for clock timers: the TIMER record's method */
    CamasEvent *next_free;  /* the free list, while the slot is free */
};

/* A heap entry, stored by value so that sifting touches only the heap array.  An entry whose
 * seq differs from its event's seq is dead (cancelled; the slot may be in use again). */
typedef struct {
    gint64 time;
    guint64 seq;
    CamasEvent *ev;
} CamasHeapEntry;

struct _CamasLoop {
    CamasLoopHead head;           /* tracer function and now: read by inline functions */
    gpointer trace_data;          /* the tracer's user data */
    GDestroyNotify trace_destroy; /* called with trace_data when the tracer goes */

    CamasHeapEntry *heap; /* 4-ary min-heap on (time, seq) */
    gsize len;            /* entries in the heap, dead ones included */
    gsize cap;            /* allocated entries */
    CamasHeapEntry *fifo; /* a ring of entries scheduled for the then current time, in
                           * (time, seq) order; the loop runs the earlier of its head and the
                           * heap's top */
    gsize fifo_head;      /* index of the first entry */
    gsize fifo_len;       /* entries in the ring, dead ones included */
    gsize fifo_cap;       /* allocated entries, a power of two (or 0) */
    gsize dead;           /* entries (heap or ring) whose event was cancelled */
    guint64 next_seq;     /* the sequence number the next scheduled event gets (from 1) */
    guint64 current_seq;  /* the running event's sequence number, 0 outside events */

    CamasEvent *free_events; /* the pool's free list */
    CamasEvent **chunks;     /* the pool's chunks, freed with the loop */
    gsize n_chunks;

    gboolean stop; /* camas_loop_stop() was called and no run has consumed it yet */
    guint depth;   /* nesting of run functions in progress (for diagnostics) */

    CamasClock *clock;     /* the clock driving the loop (not owned), or NULL */
    GMainContext *context; /* the attached context (a reference), or NULL */
    GSource *source;       /* our GSource in it, or NULL */
    gboolean realtime;     /* now follows the monotonic clock (a real-time clock drives us) */
    gint64 mono_origin;    /* realtime: now = monotonic ns - mono_origin */

    CamasTask *tasks; /* live tasks (intrusive list, see task.c), cancelled on close */
    gboolean closing; /* camas_loop_free() is in progress */
};

/* Schedules a clock timer: like camas_loop_call_at_full, and the loop emits a TIMER record
 * with method @timer when it fires. */
CamasEventId camas__loop_call_timer(CamasLoop *loop, gint64 time, CamasEventFunc func,
                                    gpointer data, GDestroyNotify destroy, const char *timer);

/* camas_loop_run_until's body; returns TRUE when it ended because of camas_loop_stop(). */
gboolean camas__loop_run_until(CamasLoop *loop, gint64 time, gsize *count);

/* Real time: moves now up to the monotonic clock (never down). */
static inline void
camas__loop_refresh(CamasLoop *loop)
{
    if (loop->realtime) {
        gint64 t = g_get_monotonic_time() * 1000 - loop->mono_origin;
        if (t > loop->head.now)
            loop->head.now = t;
    }
}

/* Makes the loop follow the monotonic clock from now on, continuing from its current time. */
void camas__loop_set_realtime(CamasLoop *loop);

/* The clock registers and unregisters itself (one clock per loop). */
void camas__loop_set_clock(CamasLoop *loop, CamasClock *clock);

/* task.c: cancels every live task of the closing loop and runs until they have unwound. */
void camas__task_close_all(CamasLoop *loop);
/* clock.c: the loop is going away; the clock must not use it any more. */
void camas__clock_detach(CamasClock *clock);

G_END_DECLS
