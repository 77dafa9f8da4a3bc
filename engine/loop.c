/* SPDX-License-Identifier: MIT */
/*
 * The scheduler core (see camas/loop.h): an event pool, a 4-ary min-heap of (time, seq, event)
 * entries stored by value, a FIFO ring for events scheduled at the current time, O(1) lazy
 * cancellation, the virtual-time run functions, and the GSource that runs the loop from a
 * GMainContext.
 *
 * Why a 4-ary heap: a pop sifts down half as many levels as a binary heap, and the four
 * children of a node share one or two cache lines; at 100000 pending events that is what
 * dominates.  Why lazy cancellation: removing from the middle of a heap needs each event to
 * know its heap index, which every sift would have to update; marking the event free and
 * skipping its entry when it surfaces costs nothing on the hot path.  Why the ring: most events
 * are scheduled for now (deliveries, future callbacks, call_soon), and such an event has the
 * largest sequence number so far and the latest time of all events scheduled for "now" before
 * it (time never goes back), so appending it to a ring keeps the ring sorted by (time, seq).
 * Running the earlier of the ring's head and the heap's top is then exactly (time, seq) order,
 * and a burst of 100000 zero-delay events costs O(1) per event in sequential memory instead of
 * sifts through a heap of 100000 entries.
 */
#include <camas/time.h>

#include "future-private.h"
#include "live-private.h"
#include "loop-private.h"

#define HEAP_ARITY 4 /* heap_sift_down's tournament assumes four */
#define CHUNK_EVENTS 256
/* Compact the heap when dead entries are more than half of it (and worth the O(n) pass). */
#define COMPACT_MIN_DEAD 1024
/* Events one GSource dispatch runs before letting the context poll its other sources. */
#define DISPATCH_BUDGET 4096

/* --- the heap ------------------------------------------------------------------------------ */

static inline gboolean
entry_less(const CamasHeapEntry *a, const CamasHeapEntry *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static G_GNUC_NO_INLINE void
heap_grow(CamasLoop *loop)
{
    loop->cap = loop->cap ? loop->cap * 2 : 64;
    loop->heap = g_renew(CamasHeapEntry, loop->heap, loop->cap);
}

static inline void
heap_push(CamasLoop *loop, gint64 time, guint64 seq, CamasEvent *ev)
{
    if (G_UNLIKELY(loop->len == loop->cap))
        heap_grow(loop);
    CamasHeapEntry *h = loop->heap;
    CamasHeapEntry e = {time, seq, ev};
    gsize i = loop->len++;
    /* A new entry has the largest seq so far: it stops at the first parent whose time is not
     * later, which keeps equal times FIFO. */
    while (i > 0) {
        gsize p = (i - 1) / HEAP_ARITY;
        if (h[p].time <= time)
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

/* (time, seq) order without branches: both comparisons are evaluated and combined, so the
 * compiler can select with conditional moves. */
static inline gboolean
entry_less_nb(const CamasHeapEntry *a, const CamasHeapEntry *b)
{
    return (a->time < b->time) | ((a->time == b->time) & (a->seq < b->seq));
}

/* Small heaps (in cache) are bound by branch mispredictions: picking the least of four
 * children is a coin toss per compare, so select with conditional moves instead. */
static inline void
heap_sift_down_small(CamasHeapEntry *h, gsize len, gsize i, CamasHeapEntry e)
{
    for (;;) {
        gsize c = HEAP_ARITY * i + 1;
        gsize m;
        if (G_LIKELY(c + 3 < len)) {
            gsize a = entry_less_nb(&h[c + 1], &h[c]) ? c + 1 : c;
            gsize b = entry_less_nb(&h[c + 3], &h[c + 2]) ? c + 3 : c + 2;
            m = entry_less_nb(&h[b], &h[a]) ? b : a;
        } else if (c < len) {
            m = c;
            for (gsize k = c + 1; k < len; k++)
                if (entry_less(&h[k], &h[m]))
                    m = k;
        } else {
            break;
        }
        if (!entry_less(&h[m], &e))
            break;
        h[i] = h[m];
        i = m;
    }
    h[i] = e;
}

static inline void
heap_sift_down(CamasHeapEntry *h, gsize len, gsize i, CamasHeapEntry e)
{
    /* Branchy on purpose: with many events the children are cache misses, and a predicted
     * branch lets the CPU start the next level's loads before this level's compares resolve
     * (a branch-free min-of-four measured 2x slower at 100000 events). */
    for (;;) {
        gsize c = HEAP_ARITY * i + 1;
        gsize m;
        if (G_LIKELY(c + 3 < len)) {
            /* All four children: a tournament, two independent compares then one. */
            gsize a = entry_less(&h[c + 1], &h[c]) ? c + 1 : c;
            gsize b = entry_less(&h[c + 3], &h[c + 2]) ? c + 3 : c + 2;
            m = entry_less(&h[b], &h[a]) ? b : a;
        } else if (c < len) {
            m = c;
            for (gsize k = c + 1; k < len; k++)
                if (entry_less(&h[k], &h[m]))
                    m = k;
        } else {
            break;
        }
        if (!entry_less(&h[m], &e))
            break;
        h[i] = h[m];
        i = m;
    }
    h[i] = e;
}

/* Heaps up to this many entries (a few hundred KiB) take the branch-free sift. */
#define SMALL_HEAP 8192

static inline void
heap_pop(CamasLoop *loop)
{
    gsize len = --loop->len;
    if (len == 0)
        return;
    if (len <= SMALL_HEAP)
        heap_sift_down_small(loop->heap, len, 0, loop->heap[len]);
    else
        heap_sift_down(loop->heap, len, 0, loop->heap[len]);
}

/* --- the ring of events due now ----------------------------------------------------------- */

static G_GNUC_NO_INLINE void
fifo_grow(CamasLoop *loop)
{
    gsize cap = loop->fifo_cap ? loop->fifo_cap * 2 : 64;
    CamasHeapEntry *ring = g_new(CamasHeapEntry, cap);
    for (gsize i = 0; i < loop->fifo_len; i++)
        ring[i] = loop->fifo[(loop->fifo_head + i) & (loop->fifo_cap - 1)];
    g_free(loop->fifo);
    loop->fifo = ring;
    loop->fifo_cap = cap;
    loop->fifo_head = 0;
}

static inline void
fifo_push(CamasLoop *loop, gint64 time, guint64 seq, CamasEvent *ev)
{
    if (G_UNLIKELY(loop->fifo_len == loop->fifo_cap))
        fifo_grow(loop);
    gsize i = (loop->fifo_head + loop->fifo_len++) & (loop->fifo_cap - 1);
    loop->fifo[i] = (CamasHeapEntry){time, seq, ev};
}

static inline const CamasHeapEntry *
fifo_tail(const CamasLoop *loop)
{
    return &loop->fifo[(loop->fifo_head + loop->fifo_len - 1) & (loop->fifo_cap - 1)];
}

/* Removes the head.  The events a few places behind it run soon and, with many pending, are
 * cache misses: fetch their pool slots, and the data of those fetched earlier. */
static inline void
fifo_pop(CamasLoop *loop)
{
    gsize mask = loop->fifo_cap - 1;
    loop->fifo_head = (loop->fifo_head + 1) & mask;
    loop->fifo_len--;
    if (loop->fifo_len > 8)
        __builtin_prefetch(loop->fifo[(loop->fifo_head + 8) & mask].ev);
    if (loop->fifo_len > 4)
        __builtin_prefetch(loop->fifo[(loop->fifo_head + 4) & mask].ev->data);
}

/* The earlier of the ring's head and the heap's top (dead or not), or NULL when both are
 * empty; *@in_fifo tells which. */
static inline CamasHeapEntry *
peek_first(CamasLoop *loop, gboolean *in_fifo)
{
    CamasHeapEntry *f = loop->fifo_len ? &loop->fifo[loop->fifo_head] : NULL;
    CamasHeapEntry *h = loop->len ? &loop->heap[0] : NULL;
    *in_fifo = f && (!h || entry_less(f, h));
    return *in_fifo ? f : h;
}

/* Drops every dead entry, keeping the ring's order and rebuilding the heap in O(n). */
static void
heap_compact(CamasLoop *loop)
{
    gsize n = 0;
    for (gsize i = 0; i < loop->len; i++)
        if (loop->heap[i].ev->seq == loop->heap[i].seq)
            loop->heap[n++] = loop->heap[i];
    loop->len = n;
    if (n > 1)
        for (gsize i = (n - 2) / HEAP_ARITY + 1; i-- > 0;)
            heap_sift_down(loop->heap, n, i, loop->heap[i]);
    gsize mask = loop->fifo_cap - 1, kept = 0;
    for (gsize i = 0; i < loop->fifo_len; i++) {
        CamasHeapEntry e = loop->fifo[(loop->fifo_head + i) & mask];
        if (e.ev->seq == e.seq)
            loop->fifo[(loop->fifo_head + kept++) & mask] = e;
    }
    loop->fifo_len = kept;
    loop->dead = 0;
}

/* --- the event pool ------------------------------------------------------------------------ */

static G_GNUC_NO_INLINE void
pool_grow(CamasLoop *loop)
{
    CamasEvent *chunk = g_new0(CamasEvent, CHUNK_EVENTS);
    loop->chunks = g_renew(CamasEvent *, loop->chunks, loop->n_chunks + 1);
    loop->chunks[loop->n_chunks++] = chunk;
    for (gsize i = CHUNK_EVENTS; i-- > 0;) {
        chunk[i].next_free = loop->free_events;
        loop->free_events = &chunk[i];
    }
}

static inline CamasEvent *
event_take(CamasLoop *loop)
{
    if (G_UNLIKELY(loop->free_events == NULL))
        pool_grow(loop);
    CamasEvent *ev = loop->free_events;
    loop->free_events = ev->next_free;
    return ev;
}

static inline void
event_release(CamasLoop *loop, CamasEvent *ev)
{
    ev->seq = 0;
    ev->next_free = loop->free_events;
    loop->free_events = ev;
}

/* --- lifetime ------------------------------------------------------------------------------ */

CamasLoop *
camas_loop_new(void)
{
    CamasLoop *loop = g_new0(CamasLoop, 1);
    loop->next_seq = 1;
    camas__live_inc(CAMAS__LIVE_LOOP);
    return loop;
}

static void
drop_all_events(CamasLoop *loop)
{
    /* In (time, seq) order.  A destroy notify may schedule (and the new event is dropped in
     * the next round). */
    gboolean in_fifo;
    CamasHeapEntry *first;
    while ((first = peek_first(loop, &in_fifo)) != NULL) {
        CamasHeapEntry e = *first;
        if (in_fifo)
            fifo_pop(loop);
        else
            heap_pop(loop);
        if (e.ev->seq != e.seq)
            continue;
        GDestroyNotify destroy = e.ev->destroy;
        gpointer data = e.ev->data;
        event_release(loop, e.ev);
        if (destroy)
            destroy(data);
    }
    loop->dead = 0;
}

void
camas_loop_free(CamasLoop *loop)
{
    if (loop == NULL)
        return;
    g_return_if_fail(loop->current_seq == 0);
    loop->closing = TRUE;
    camas__task_close_all(loop);
    drop_all_events(loop);
    if (loop->clock)
        camas__clock_detach(loop->clock);
    if (loop->source) {
        g_source_destroy(loop->source);
        g_source_unref(loop->source);
    }
    if (loop->context)
        g_main_context_unref(loop->context);
    camas_loop_set_tracer(loop, NULL, NULL, NULL);
    for (gsize i = 0; i < loop->n_chunks; i++)
        g_free(loop->chunks[i]);
    g_free(loop->chunks);
    g_free(loop->heap);
    g_free(loop->fifo);
    g_free(loop);
    camas__live_dec(CAMAS__LIVE_LOOP);
    /* Give cached future structs back, so leak checkers see a clean process once the last
     * loop is gone (the cache refills cheaply). */
    camas__future_cache_clear();
}

CamasClock *
camas_loop_get_clock(CamasLoop *loop)
{
    g_return_val_if_fail(loop != NULL, NULL);
    return loop->clock;
}

void
camas__loop_set_clock(CamasLoop *loop, CamasClock *clock)
{
    g_return_if_fail(clock == NULL || loop->clock == NULL);
    loop->clock = clock;
}

/* --- scheduling ---------------------------------------------------------------------------- */

static inline CamasEventId
schedule(CamasLoop *loop, gint64 time, CamasEventFunc func, gpointer data,
         GDestroyNotify destroy, const char *timer)
{
    CamasEvent *ev = event_take(loop);
    guint64 seq = loop->next_seq++;
    ev->seq = seq;
    ev->func = func;
    ev->data = data;
    ev->destroy = destroy;
    ev->timer = timer;
    if (time == loop->head.now && (loop->fifo_len == 0 || fifo_tail(loop)->time <= time))
        fifo_push(loop, time, seq, ev);
    else
        heap_push(loop, time, seq, ev);
    return (CamasEventId){ev, seq};
}

CamasEventId
camas_loop_call_at(CamasLoop *loop, gint64 time, CamasEventFunc func, gpointer user_data)
{
    g_return_val_if_fail(loop != NULL && func != NULL, CAMAS_EVENT_ID_NONE);
    return schedule(loop, time, func, user_data, NULL, NULL);
}

CamasEventId
camas_loop_call_at_full(CamasLoop *loop, gint64 time, CamasEventFunc func, gpointer user_data,
                        GDestroyNotify destroy)
{
    g_return_val_if_fail(loop != NULL && func != NULL, CAMAS_EVENT_ID_NONE);
    return schedule(loop, time, func, user_data, destroy, NULL);
}

/* Real time: work handed over from a socket callback is "now" as of the monotonic clock, not
 * as of the last batch (so it does not jump ahead of timers that fell due in between). */
CamasEventId
camas_loop_call_soon(CamasLoop *loop, CamasEventFunc func, gpointer user_data)
{
    g_return_val_if_fail(loop != NULL && func != NULL, CAMAS_EVENT_ID_NONE);
    camas__loop_refresh(loop);
    return schedule(loop, loop->head.now, func, user_data, NULL, NULL);
}

CamasEventId
camas_loop_call_soon_full(CamasLoop *loop, CamasEventFunc func, gpointer user_data,
                          GDestroyNotify destroy)
{
    g_return_val_if_fail(loop != NULL && func != NULL, CAMAS_EVENT_ID_NONE);
    camas__loop_refresh(loop);
    return schedule(loop, loop->head.now, func, user_data, destroy, NULL);
}

CamasEventId
camas__loop_call_timer(CamasLoop *loop, gint64 time, CamasEventFunc func, gpointer data,
                       GDestroyNotify destroy, const char *timer)
{
    return schedule(loop, time, func, data, destroy, timer);
}

gboolean
camas_loop_cancel(CamasLoop *loop, CamasEventId id)
{
    g_return_val_if_fail(loop != NULL, FALSE);
    CamasEvent *ev = id.event;
    if (id.seq == 0 || ev == NULL || ev->seq != id.seq)
        return FALSE;
    GDestroyNotify destroy = ev->destroy;
    gpointer data = ev->data;
    event_release(loop, ev);
    loop->dead++;
    if (loop->dead >= COMPACT_MIN_DEAD && loop->dead > (loop->len + loop->fifo_len) / 2)
        heap_compact(loop);
    if (destroy)
        destroy(data);
    return TRUE;
}

gboolean
camas_loop_is_pending(CamasLoop *loop, CamasEventId id)
{
    g_return_val_if_fail(loop != NULL, FALSE);
    CamasEvent *ev = id.event;
    return id.seq != 0 && ev != NULL && ev->seq == id.seq;
}

/* Pops dead entries off the front; returns the earliest live entry or NULL. */
static inline CamasHeapEntry *
live_top(CamasLoop *loop)
{
    gboolean in_fifo;
    CamasHeapEntry *top;
    while ((top = peek_first(loop, &in_fifo)) != NULL) {
        if (G_LIKELY(top->ev->seq == top->seq))
            return top;
        if (in_fifo)
            fifo_pop(loop);
        else
            heap_pop(loop);
        loop->dead--;
    }
    return NULL;
}

gboolean
camas_loop_next_time(CamasLoop *loop, gint64 *time)
{
    g_return_val_if_fail(loop != NULL, FALSE);
    CamasHeapEntry *top = live_top(loop);
    if (top && time)
        *time = top->time;
    return top != NULL;
}

gsize
camas_loop_get_pending(CamasLoop *loop)
{
    g_return_val_if_fail(loop != NULL, 0);
    return loop->len + loop->fifo_len - loop->dead;
}

guint64
camas_loop_get_current_seq(CamasLoop *loop)
{
    g_return_val_if_fail(loop != NULL, 0);
    return loop->current_seq;
}

/* --- running ------------------------------------------------------------------------------- */

/* Pops the earliest live entry if it is due at or before @limit. */
static inline gboolean
pop_due(CamasLoop *loop, gint64 limit, CamasHeapEntry *out)
{
    gboolean in_fifo;
    CamasHeapEntry *top;
    while ((top = peek_first(loop, &in_fifo)) != NULL) {
        if (top->time > limit)
            return FALSE;
        CamasHeapEntry e = *top;
        if (in_fifo) {
            fifo_pop(loop);
        } else {
            heap_pop(loop);
            /* The next event's pool slot is read when it runs; with many pending events it is
             * a cache miss, which the current event's work can hide. */
            if (loop->len > 0)
                __builtin_prefetch(loop->heap[0].ev);
        }
        if (G_UNLIKELY(e.ev->seq != e.seq)) {
            loop->dead--;
            continue;
        }
        *out = e;
        return TRUE;
    }
    return FALSE;
}

static G_GNUC_NO_INLINE void
emit_timer(CamasLoop *loop, const char *timer)
{
    CamasTraceRecord rec = {.kind = CAMAS_TRACE_TIMER, .method = timer, .msg_id = -1};
    camas__loop_emit(loop, &rec);
}

/* Runs one popped entry.  The slot is released before the function runs, so the event cannot
 * be cancelled from inside itself (its id is already stale) and the slot is ready for reuse by
 * whatever the function schedules. */
static inline void
dispatch(CamasLoop *loop, const CamasHeapEntry *e)
{
    CamasEvent *ev = e->ev;
    CamasEventFunc func = ev->func;
    gpointer data = ev->data;
    GDestroyNotify destroy = ev->destroy;
    const char *timer = ev->timer;
    event_release(loop, ev);
    if (e->time > loop->head.now)
        loop->head.now = e->time;
    guint64 outer = loop->current_seq;
    loop->current_seq = e->seq;
    if (G_UNLIKELY(timer != NULL) && loop->head.trace_func)
        emit_timer(loop, timer);
    func(loop, data);
    if (destroy)
        destroy(data);
    loop->current_seq = outer;
}

static inline gboolean
take_stop(CamasLoop *loop)
{
    if (G_UNLIKELY(loop->stop)) {
        loop->stop = FALSE;
        return TRUE;
    }
    return FALSE;
}

gboolean
camas_loop_step(CamasLoop *loop)
{
    g_return_val_if_fail(loop != NULL && !loop->realtime, FALSE);
    CamasHeapEntry e;
    if (!pop_due(loop, G_MAXINT64, &e))
        return FALSE;
    loop->depth++;
    dispatch(loop, &e);
    loop->depth--;
    return TRUE;
}

static gsize
run_due_budget(CamasLoop *loop, gsize budget)
{
    CamasHeapEntry e;
    gsize n = 0;
    loop->depth++;
    while (n < budget && pop_due(loop, loop->head.now, &e)) {
        dispatch(loop, &e);
        n++;
    }
    loop->depth--;
    return n;
}

gsize
camas_loop_run_due(CamasLoop *loop)
{
    g_return_val_if_fail(loop != NULL, 0);
    camas__loop_refresh(loop);
    return run_due_budget(loop, G_MAXSIZE);
}

/* Runs events due at or before @time until camas_loop_stop() (returns TRUE) or @budget events
 * ran; unless stopped or out of budget, now moves on to @time. */
static inline gboolean
run_until_budget(CamasLoop *loop, gint64 time, gsize budget, gsize *count)
{
    CamasHeapEntry e;
    gsize n = 0;
    gboolean stopped = FALSE;
    loop->depth++;
    for (;;) {
        if (take_stop(loop)) {
            stopped = TRUE;
            break;
        }
        if (n == budget || !pop_due(loop, time, &e))
            break;
        dispatch(loop, &e);
        n++;
    }
    loop->depth--;
    if (!stopped && n < budget && time != G_MAXINT64 && time > loop->head.now)
        loop->head.now = time;
    if (count)
        *count = n;
    return stopped;
}

gboolean
camas__loop_run_until(CamasLoop *loop, gint64 time, gsize *count)
{
    return run_until_budget(loop, time, G_MAXSIZE, count);
}

gsize
camas_loop_run_events(CamasLoop *loop, gint64 time, gsize max_events)
{
    g_return_val_if_fail(loop != NULL && !loop->realtime, 0);
    gsize n;
    run_until_budget(loop, time, max_events, &n);
    return n;
}

gsize
camas_loop_run_until(CamasLoop *loop, gint64 time)
{
    g_return_val_if_fail(loop != NULL && !loop->realtime, 0);
    gsize n;
    camas__loop_run_until(loop, time, &n);
    return n;
}

gsize
camas_loop_run(CamasLoop *loop)
{
    g_return_val_if_fail(loop != NULL && !loop->realtime, 0);
    gsize n;
    camas__loop_run_until(loop, G_MAXINT64, &n);
    return n;
}

gboolean
camas_loop_advance(CamasLoop *loop, gint64 time, GError **error)
{
    g_return_val_if_fail(loop != NULL && !loop->realtime, FALSE);
    if (time <= loop->head.now) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "time must be greater than the current time: %.9g s is not after %.9g s",
                    (double)time / 1e9, (double)loop->head.now / 1e9);
        return FALSE;
    }
    run_due_budget(loop, G_MAXSIZE);
    loop->head.now = time;
    run_due_budget(loop, G_MAXSIZE);
    return TRUE;
}

void
camas_loop_stop(CamasLoop *loop)
{
    g_return_if_fail(loop != NULL);
    loop->stop = TRUE;
}

/* --- tracing ------------------------------------------------------------------------------- */

const char *
camas_trace_kind_name(CamasTraceKind kind)
{
    static const char *const names[] = {
        [CAMAS_TRACE_SEND] = "send",   [CAMAS_TRACE_DELIVER] = "deliver",
        [CAMAS_TRACE_REPLY] = "reply", [CAMAS_TRACE_FAILURE] = "failure",
        [CAMAS_TRACE_TIMER] = "timer", [CAMAS_TRACE_LOG] = "log",
        [CAMAS_TRACE_FAULT] = "fault", [CAMAS_TRACE_SPAWN] = "spawn",
    };
    return (guint)kind < G_N_ELEMENTS(names) ? names[kind] : "unknown";
}

void
camas_loop_set_tracer(CamasLoop *loop, CamasTraceFunc func, gpointer user_data,
                      GDestroyNotify destroy)
{
    g_return_if_fail(loop != NULL);
    GDestroyNotify old_destroy = loop->trace_destroy;
    gpointer old_data = loop->trace_data;
    loop->head.trace_func = (gpointer)func;
    loop->trace_data = user_data;
    loop->trace_destroy = func ? destroy : NULL;
    if (old_destroy)
        old_destroy(old_data);
}

void
camas__loop_emit(CamasLoop *loop, CamasTraceRecord *record)
{
    CamasTraceFunc func = (CamasTraceFunc)loop->head.trace_func;
    if (func == NULL)
        return;
    record->time = loop->head.now;
    if (record->seq == 0)
        record->seq = loop->current_seq;
    func(record, loop->trace_data);
}

/* --- GMainContext integration -------------------------------------------------------------- */

typedef struct {
    GSource source;
    CamasLoop *loop;
} LoopSource;

static gboolean
source_due(CamasLoop *loop, gint *timeout)
{
    camas__loop_refresh(loop);
    CamasHeapEntry *top = live_top(loop);
    if (top == NULL) {
        *timeout = -1;
        return FALSE;
    }
    if (top->time <= loop->head.now) {
        *timeout = 0;
        return TRUE;
    }
    if (!loop->realtime) {
        *timeout = -1;
        return FALSE;
    }
    /* Round up: waking early would only cost another poll, waking late costs precision. */
    gint64 ms = (top->time - loop->head.now + CAMAS_TICKS_PER_MS - 1) / CAMAS_TICKS_PER_MS;
    *timeout = ms > G_MAXINT ? G_MAXINT : (gint)ms;
    return FALSE;
}

static gboolean
source_prepare(GSource *source, gint *timeout)
{
    return source_due(((LoopSource *)source)->loop, timeout);
}

static gboolean
source_check(GSource *source)
{
    gint timeout;
    return source_due(((LoopSource *)source)->loop, &timeout);
}

static gboolean
source_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    CamasLoop *loop = ((LoopSource *)source)->loop;
    camas__loop_refresh(loop);
    /* A budget, so that an endless zero-delay cascade cannot starve the sockets. */
    run_due_budget(loop, DISPATCH_BUDGET);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs source_funcs = {
    .prepare = source_prepare,
    .check = source_check,
    .dispatch = source_dispatch,
};

void
camas_loop_attach(CamasLoop *loop, GMainContext *context)
{
    g_return_if_fail(loop != NULL);
    g_return_if_fail(loop->source == NULL);
    loop->context = context ? g_main_context_ref(context) : g_main_context_ref_thread_default();
    loop->source = g_source_new(&source_funcs, sizeof(LoopSource));
    ((LoopSource *)loop->source)->loop = loop;
    g_source_set_name(loop->source, "camas-loop");
    g_source_attach(loop->source, loop->context);
}

GMainContext *
camas_loop_get_context(CamasLoop *loop)
{
    g_return_val_if_fail(loop != NULL, NULL);
    return loop->context;
}

void
camas_loop_wakeup(CamasLoop *loop)
{
    g_return_if_fail(loop != NULL);
    if (loop->context)
        g_main_context_wakeup(loop->context);
}

void
camas__loop_set_realtime(CamasLoop *loop)
{
    loop->mono_origin = g_get_monotonic_time() * 1000 - loop->head.now;
    loop->realtime = TRUE;
}
