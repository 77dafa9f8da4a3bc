/* SPDX-License-Identifier: MIT */
/*
 * The loop: the one scheduler under everything (transports, channels, RPC and agents never
 * call each other's callbacks directly; they schedule events here).  A loop owns the current
 * time (integer ticks, see camas/time.h), a priority queue of events ordered by
 * (time, sequence number), and the sequence counter.  Equal times run FIFO, always; a
 * zero-delay event scheduled while time t is processed runs at t, after everything already
 * queued for t.  That single total order makes a simulated run deterministic.
 *
 * A loop does not know where time comes from: a clock (camas/clock.h) drives it, either
 * virtually (external and as-fast-as-possible clocks: time jumps from event to event) or in
 * real time (the real-time clock: a GSource on a GMainContext).  The functions below that
 * advance time (step, run_until, run, advance) are the virtual-time primitives; a loop driven
 * by the real-time clock is run through its GMainContext instead.
 *
 * Threads: a loop is used from one thread at a time; nothing here locks.
 *
 * Cost model: scheduling takes an event from a free-list pool and pushes a 24-byte entry on a
 * 4-ary heap (no allocation in steady state); cancelling is O(1) (the entry is skipped when it
 * reaches the top; the heap is compacted when most entries are dead).
 */
#pragma once

#include <camas/error.h>

G_BEGIN_DECLS

typedef struct _CamasLoop CamasLoop;
typedef struct _CamasClock CamasClock;

/**
 * CamasEventFunc:
 * @loop: the loop running the event
 * @user_data: what was given when the event was scheduled
 *
 * An event's work.  It runs from the loop with camas_loop_now() equal to the time the event
 * is processed at, and may schedule and cancel events (its own id is no longer pending).
 */
typedef void (*CamasEventFunc)(CamasLoop *loop, gpointer user_data);

/**
 * CamasEventId: names one scheduled event, to cancel it.  A small value, copied freely.  It
 * carries the event's sequence number, so an id that outlived its event (it ran, or was
 * cancelled, and the pool slot was reused) is recognised as stale and harmless.  The zero
 * value (CAMAS_EVENT_ID_NONE) names no event.
 */
typedef struct {
    gpointer event; /* the pool slot (private) */
    guint64 seq;    /* the sequence number the event was scheduled with; 0 = none */
} CamasEventId;

#define CAMAS_EVENT_ID_NONE ((CamasEventId){NULL, 0})

static inline gboolean
camas_event_id_is_none(CamasEventId id)
{
    return id.seq == 0;
}

/* The first fields of every loop.  Public only so that the inline functions below can read
 * them without a call; user code must never read or write them directly. */
typedef struct {
    gpointer trace_func; /* the attached tracer's function, or NULL (see camas/trace.h) */
    gint64 now;          /* the current time in ticks */
} CamasLoopHead;

/* --- lifetime ------------------------------------------------------------------------------ */

/**
 * camas_loop_new:
 * Returns: (transfer full): a loop at time 0 with no events and no clock.  Single owner.
 */
CAMAS_API CamasLoop *camas_loop_new(void);

/**
 * camas_loop_free:
 * Closes and frees the loop: every live task is cancelled and run until it has unwound (each
 * sees CAMAS_ERROR_CANCELLED at its await point; events those unwinding tasks schedule for now
 * run too, time does not move); then every still-pending event is dropped (its destroy notify
 * runs, its function does not), a remaining clock is detached, and a GSource is destroyed.
 * Futures that outlive the loop may be unreffed but must not be completed any more.  Must not
 * be called from inside an event of the same loop.  NULL is ignored.
 */
CAMAS_API void camas_loop_free(CamasLoop *loop);

/* --- time ---------------------------------------------------------------------------------- */

/**
 * camas_loop_now:
 * The current time in ticks.  Never decreases.  With a real-time clock this is the time the
 * current batch of events started at (camas_clock_now() reads the clock afresh).
 */
static inline gint64
camas_loop_now(const CamasLoop *loop)
{
    return ((const CamasLoopHead *)(gconstpointer)loop)->now;
}

/* (transfer none): the clock driving the loop, or NULL. */
CAMAS_API CamasClock *camas_loop_get_clock(CamasLoop *loop);

/* --- scheduling ---------------------------------------------------------------------------- */

/**
 * camas_loop_call_at:
 * @time: when to run, in ticks.  A time before now is allowed: the event is already due and
 *        takes its place by (time, seq), i.e. it runs before events due later (used by
 *        real-time callers whose deadline passed while they computed it).
 * @func: what to run
 * @user_data: (transfer none): lent to @func
 *
 * Schedules @func(@loop, @user_data).  Never fails and never runs @func before returning.
 * Returns: the event's id, for camas_loop_cancel().
 */
CAMAS_API CamasEventId camas_loop_call_at(CamasLoop *loop, gint64 time, CamasEventFunc func,
                                          gpointer user_data);

/**
 * camas_loop_call_at_full:
 * As camas_loop_call_at(); @destroy (if not NULL) is called with @user_data exactly once:
 * after @func ran, or when the event is cancelled, or when the loop is freed without running
 * it.
 */
CAMAS_API CamasEventId camas_loop_call_at_full(CamasLoop *loop, gint64 time, CamasEventFunc func,
                                               gpointer user_data, GDestroyNotify destroy);

/* Zero delay: at now, after every event already queued for now (FIFO). */
CAMAS_API CamasEventId camas_loop_call_soon(CamasLoop *loop, CamasEventFunc func,
                                            gpointer user_data);
CAMAS_API CamasEventId camas_loop_call_soon_full(CamasLoop *loop, CamasEventFunc func,
                                                 gpointer user_data, GDestroyNotify destroy);

/**
 * camas_loop_cancel:
 * Cancels a pending event in O(1): it will never run, and its destroy notify runs now.
 * Returns: TRUE if the event was pending; FALSE for CAMAS_EVENT_ID_NONE, an event that already
 * ran or is running, an event cancelled before, or a stale id whose slot was reused.
 */
CAMAS_API gboolean camas_loop_cancel(CamasLoop *loop, CamasEventId id);

/* TRUE while the event named by @id is scheduled and not cancelled. */
CAMAS_API gboolean camas_loop_is_pending(CamasLoop *loop, CamasEventId id);

/**
 * camas_loop_next_time:
 * @time: (out): the time of the earliest pending event (cancelled events do not count)
 * Returns: FALSE when nothing is pending.
 */
CAMAS_API gboolean camas_loop_next_time(CamasLoop *loop, gint64 *time);

/* The number of pending (scheduled, not cancelled) events. */
CAMAS_API gsize camas_loop_get_pending(CamasLoop *loop);

/* The sequence number of the event running now, 0 outside events.  Sequence numbers start at 1
 * and count every scheduled event of this loop: they are deterministic run ids. */
CAMAS_API guint64 camas_loop_get_current_seq(CamasLoop *loop);

/* --- running in virtual time --------------------------------------------------------------- */

/**
 * camas_loop_step:
 * Runs the earliest pending event, first moving now to its time if that is later.
 * Returns: FALSE (and does nothing) when nothing is pending.
 */
CAMAS_API gboolean camas_loop_step(CamasLoop *loop);

/**
 * camas_loop_run_due:
 * Runs every event due at or before now, including the zero-delay cascades they cause, until
 * none is left.  Time does not move.  Returns the number of events run.
 */
CAMAS_API gsize camas_loop_run_due(CamasLoop *loop);

/**
 * camas_loop_run_until:
 * As fast as possible: runs events in order, moving now to each event's time, until the next
 * event lies after @time, nothing is pending, or camas_loop_stop() was called.  Unless
 * stopped, now is then max(now, @time) (so a simulation "runs until 10" and sits at 10);
 * @time = G_MAXINT64 means no bound (camas_loop_run).
 * Returns the number of events run.
 */
CAMAS_API gsize camas_loop_run_until(CamasLoop *loop, gint64 time);

/**
 * camas_loop_run_events:
 * camas_loop_run_until() in slices: runs at most @max_events events, so a front end can report
 * progress between slices of a long run.  Running slices until one returns less than
 * @max_events runs exactly the events camas_loop_run_until() runs, in the same order, and
 * leaves now at the same time; after a full slice now stays at the last event's time.
 * Returns the number of events run.
 */
CAMAS_API gsize camas_loop_run_events(CamasLoop *loop, gint64 time, gsize max_events);

/**
 * camas_loop_run:
 * As fast as possible until nothing is pending or camas_loop_stop() was called; now stays at
 * the last event's time.  Returns the number of events run.
 */
CAMAS_API gsize camas_loop_run(CamasLoop *loop);

/**
 * camas_loop_advance:
 * The external clock's step (aiomas ExternalClock.set_time): first runs everything already due
 * at now (events that asyncio would have run before set_time was called), then sets now to
 * @time and runs every event due at or before @time, including zero-delay cascades, until none
 * is left.  The events due between the old and the new time all observe now == @time.
 *
 * Returns: FALSE with CAMAS_ERROR_INVALID (and runs nothing) unless @time > now.
 */
CAMAS_API gboolean camas_loop_advance(CamasLoop *loop, gint64 time, GError **error);

/**
 * camas_loop_stop:
 * Asks the innermost camas_loop_run*() / camas_clock_run*() in progress to return after the
 * current event.  Outside a run it makes the next run return before running anything.
 * camas_loop_advance() and camas_loop_run_due() ignore it (their contract is to run
 * everything due).
 */
CAMAS_API void camas_loop_stop(CamasLoop *loop);

/* --- GLib main context (real time, sockets) ------------------------------------------------ */

/**
 * camas_loop_attach:
 * @context: (nullable): the context to run in; NULL = the thread-default context (never the
 *           global default unless that is the thread default)
 *
 * Attaches a GSource that runs the loop's due events from @context, so socket transports can
 * add their fds (g_source_add_unix_fd) to the same context and schedule events from their
 * callbacks.  Without a real-time clock the source only runs events due at or before now
 * (work that arrives from sockets at the current virtual time); with one, it also wakes at
 * each timer's deadline (microsecond precision, no busy waiting).  A loop attaches once; the
 * real-time clock attaches for you.
 */
CAMAS_API void camas_loop_attach(CamasLoop *loop, GMainContext *context);

/* (transfer none): the attached context, or NULL. */
CAMAS_API GMainContext *camas_loop_get_context(CamasLoop *loop);

/**
 * camas_loop_wakeup:
 * Makes the attached context re-check the loop (g_main_context_wakeup).  Needed only when
 * events are scheduled on the context's thread from outside any GSource dispatch while the
 * context is blocked in poll, which cannot happen on one thread; provided for embedders.
 */
CAMAS_API void camas_loop_wakeup(CamasLoop *loop);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasLoop, camas_loop_free)

G_END_DECLS
