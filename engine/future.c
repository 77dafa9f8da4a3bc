/* SPDX-License-Identifier: MIT */
/*
 * Futures (see camas/future.h): one-shot completions whose callbacks run from the loop.  The
 * first callback is stored inline because nearly every future has exactly one waiter (a task
 * or a channel); completion schedules one event that runs all callbacks in order.
 */
#include <string.h>

#include "future-private.h"
#include "live-private.h"

/* Freed futures are kept in a small per-thread cache: a sleep, an RPC reply and a task await
 * each make one, so reusing them takes malloc and free off the hot path.  Bounded, so memory
 * returns to the allocator after a burst. */
#define CACHE_MAX 256
static __thread CamasFuture *cache;
static __thread guint cache_len;

static void
cache_clear(void)
{
    while (cache) {
        CamasFuture *f = cache;
        cache = (CamasFuture *)f->loop;
        g_free(f);
    }
    cache_len = 0;
}

static inline CamasFuture *
future_alloc(void)
{
    CamasFuture *f = cache;
    if (f == NULL)
        return g_new0(CamasFuture, 1);
    cache = (CamasFuture *)f->loop;
    cache_len--;
    memset(f, 0, sizeof *f);
    return f;
}

static inline void
future_release(CamasFuture *f)
{
    if (cache_len >= CACHE_MAX) {
        g_free(f);
        return;
    }
    /* The loop field links the cache while the struct is free. */
    f->loop = (CamasLoop *)cache;
    cache = f;
    cache_len++;
}

void
camas__future_cache_clear(void)
{
    cache_clear();
}

CamasFuture *
camas_future_new(CamasLoop *loop)
{
    g_return_val_if_fail(loop != NULL, NULL);
    CamasFuture *f = future_alloc();
    f->refcount = 1;
    f->loop = loop;
    camas__live_inc(CAMAS__LIVE_FUTURE);
    return f;
}

CamasFuture *
camas_future_ref(CamasFuture *future)
{
    g_return_val_if_fail(future != NULL, NULL);
    future->refcount++;
    return future;
}

static void
callback_destroy(CamasFutureCallback *cb)
{
    if (cb->destroy)
        cb->destroy(cb->data);
}

static void
clear_cancel_hook(CamasFuture *f)
{
    CamasFutureCallback hook = f->on_cancel;
    f->on_cancel = (CamasFutureCallback){0};
    callback_destroy(&hook);
}

void
camas_future_unref(CamasFuture *future)
{
    if (future == NULL)
        return;
    g_return_if_fail(future->refcount > 0);
    if (--future->refcount > 0)
        return;
    /* Callbacks still here never ran: the future is freed pending, or done with its callback
     * event dropped by a closing loop. */
    if (future->has_first)
        callback_destroy(&future->first);
    if (future->more) {
        for (guint i = 0; i < future->more->len; i++)
            callback_destroy(&g_array_index(future->more, CamasFutureCallback, i));
        g_array_free(future->more, TRUE);
    }
    clear_cancel_hook(future);
    if (future->result)
        camas_value_unref(future->result);
    if (future->error)
        g_error_free(future->error);
    future_release(future);
    camas__live_dec(CAMAS__LIVE_FUTURE);
}

CamasLoop *
camas_future_get_loop(CamasFuture *future)
{
    g_return_val_if_fail(future != NULL, NULL);
    return future->loop;
}

/* --- completion ---------------------------------------------------------------------------- */

static void
run_callbacks(CamasLoop *loop, gpointer data)
{
    CamasFuture *f = data;
    f->scheduled = FALSE;
    /* Take the list first: callbacks added while these run get an event of their own. */
    CamasFutureCallback first = f->first;
    gboolean has_first = f->has_first;
    GArray *more = f->more;
    f->has_first = FALSE;
    f->more = NULL;
    if (has_first) {
        first.func(f, first.data);
        callback_destroy(&first);
    }
    if (more) {
        for (guint i = 0; i < more->len; i++) {
            CamasFutureCallback *cb = &g_array_index(more, CamasFutureCallback, i);
            cb->func(f, cb->data);
            callback_destroy(cb);
        }
        g_array_free(more, TRUE);
    }
}

static void
unref_cb(gpointer data)
{
    camas_future_unref(data);
}

static void
schedule_callbacks(CamasFuture *f)
{
    if (f->scheduled || (!f->has_first && f->more == NULL))
        return;
    f->scheduled = TRUE;
    f->refcount++;
    camas_loop_call_soon_full(f->loop, run_callbacks, f, unref_cb);
}

gboolean
camas_future_set_result(CamasFuture *future, CamasValue *result)
{
    g_return_val_if_fail(future != NULL, FALSE);
    if (future->state != CAMAS__FUTURE_PENDING) {
        if (result)
            camas_value_unref(result);
        return FALSE;
    }
    future->state = CAMAS__FUTURE_RESULT;
    future->result = result;
    future->timer = CAMAS_EVENT_ID_NONE;
    clear_cancel_hook(future);
    schedule_callbacks(future);
    return TRUE;
}

void
camas__future_resolve_in_event(CamasFuture *future, CamasValue *result)
{
    if (future->state != CAMAS__FUTURE_PENDING) {
        if (result)
            camas_value_unref(result);
        return;
    }
    future->state = CAMAS__FUTURE_RESULT;
    future->result = result;
    future->timer = CAMAS_EVENT_ID_NONE;
    clear_cancel_hook(future);
    future->refcount++;
    run_callbacks(future->loop, future);
    camas_future_unref(future);
}

gboolean
camas_future_set_error(CamasFuture *future, GError *error)
{
    g_return_val_if_fail(future != NULL, FALSE);
    g_return_val_if_fail(error != NULL, FALSE);
    if (future->state != CAMAS__FUTURE_PENDING) {
        g_error_free(error);
        return FALSE;
    }
    future->state = g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CANCELLED)
                        ? CAMAS__FUTURE_CANCELLED
                        : CAMAS__FUTURE_ERROR;
    future->error = error;
    future->timer = CAMAS_EVENT_ID_NONE;
    clear_cancel_hook(future);
    schedule_callbacks(future);
    return TRUE;
}

gboolean
camas_future_cancel(CamasFuture *future)
{
    g_return_val_if_fail(future != NULL, FALSE);
    if (future->state != CAMAS__FUTURE_PENDING)
        return FALSE;
    /* Done before the hook runs, so a hook that tries to complete the future cannot. */
    future->state = CAMAS__FUTURE_CANCELLED;
    future->error = g_error_new_literal(CAMAS_ERROR, CAMAS_ERROR_CANCELLED, "cancelled");
    future->refcount++; /* the hook may drop the producer's reference */
    if (!camas_event_id_is_none(future->timer)) {
        CamasEventId timer = future->timer;
        future->timer = CAMAS_EVENT_ID_NONE;
        camas_loop_cancel(future->loop, timer);
    }
    if (future->on_cancel.func)
        future->on_cancel.func(future, future->on_cancel.data);
    clear_cancel_hook(future);
    schedule_callbacks(future);
    camas_future_unref(future);
    return TRUE;
}

gboolean
camas_future_is_done(const CamasFuture *future)
{
    g_return_val_if_fail(future != NULL, FALSE);
    return future->state != CAMAS__FUTURE_PENDING;
}

gboolean
camas_future_is_cancelled(const CamasFuture *future)
{
    g_return_val_if_fail(future != NULL, FALSE);
    return future->state == CAMAS__FUTURE_CANCELLED;
}

gboolean
camas_future_is_failed(const CamasFuture *future)
{
    g_return_val_if_fail(future != NULL, FALSE);
    return future->state == CAMAS__FUTURE_ERROR || future->state == CAMAS__FUTURE_CANCELLED;
}

CamasValue *
camas_future_get_result(const CamasFuture *future)
{
    g_return_val_if_fail(future != NULL, NULL);
    return future->state == CAMAS__FUTURE_RESULT ? future->result : NULL;
}

const GError *
camas_future_get_error(const CamasFuture *future)
{
    g_return_val_if_fail(future != NULL, NULL);
    return future->error;
}

gboolean
camas_future_propagate(CamasFuture *future, CamasValue **result, GError **error)
{
    g_return_val_if_fail(future != NULL, FALSE);
    g_return_val_if_fail(future->state != CAMAS__FUTURE_PENDING, FALSE);
    if (future->error) {
        if (error)
            *error = g_error_copy(future->error);
        return FALSE;
    }
    if (result)
        *result = future->result ? camas_value_ref(future->result) : NULL;
    return TRUE;
}

void
camas_future_add_callback(CamasFuture *future, CamasFutureFunc func, gpointer user_data,
                          GDestroyNotify destroy)
{
    g_return_if_fail(future != NULL && func != NULL);
    CamasFutureCallback cb = {func, user_data, destroy};
    if (!future->has_first && future->more == NULL) {
        future->first = cb;
        future->has_first = TRUE;
    } else {
        if (future->more == NULL)
            future->more = g_array_new(FALSE, FALSE, sizeof(CamasFutureCallback));
        g_array_append_val(future->more, cb);
    }
    if (future->state != CAMAS__FUTURE_PENDING)
        schedule_callbacks(future);
}

void
camas_future_set_cancel_func(CamasFuture *future, CamasFutureFunc func, gpointer user_data,
                             GDestroyNotify destroy)
{
    g_return_if_fail(future != NULL);
    g_return_if_fail(future->state == CAMAS__FUTURE_PENDING);
    clear_cancel_hook(future);
    future->on_cancel = (CamasFutureCallback){func, user_data, destroy};
}

/* --- gathering ----------------------------------------------------------------------------- */

/* The gathering state holds no references, so a gather can never keep futures alive in a
 * cycle: it learns that a child is gone when the child's callback is destroyed (run or
 * dropped), and that the gathering future is gone when its cancel hook is destroyed (done or
 * freed).  It lives while any of these n + 1 hooks does. */
typedef struct _Gather Gather;

typedef struct {
    Gather *gather;
    gsize index;
} GatherSlot;

struct _Gather {
    gint refcount;          /* one per child callback, one for the cancel hook */
    gboolean all;           /* all (TRUE) or any */
    CamasFuture *future;    /* the gathering future while it is pending, else NULL */
    gsize n;
    gsize remaining;        /* children not yet succeeded (all) */
    CamasFuture **children; /* children whose callback has not been destroyed, else NULL */
    CamasValue **results;   /* results of the children that succeeded (all; owned) */
    GatherSlot *slots;
};

static void
gather_unref(Gather *g)
{
    if (--g->refcount > 0)
        return;
    for (gsize i = 0; i < g->n; i++)
        if (g->results[i])
            camas_value_unref(g->results[i]);
    g_free(g->results);
    g_free(g->children);
    g_free(g->slots);
    g_free(g);
}

static void
hook_destroyed(gpointer data)
{
    Gather *g = data;
    g->future = NULL;
    gather_unref(g);
}

static void
slot_destroyed(gpointer data)
{
    GatherSlot *slot = data;
    slot->gather->children[slot->index] = NULL;
    gather_unref(slot->gather);
}

static void
gather_child_done(CamasFuture *child, gpointer data)
{
    GatherSlot *slot = data;
    Gather *g = slot->gather;
    if (g->future == NULL)
        return;
    if (!g->all) {
        camas_future_set_result(g->future, camas_value_new_int((gint64)slot->index));
        return;
    }
    if (child->error) {
        camas_future_set_error(g->future, g_error_copy(child->error));
        return;
    }
    g->results[slot->index] = child->result ? camas_value_ref(child->result)
                                            : camas_value_new_null();
    if (--g->remaining > 0)
        return;
    CamasValue **items = g->results;
    g->results = g_new0(CamasValue *, g->n ? g->n : 1);
    camas_future_set_result(g->future, camas_value_new_list_take(items, g->n));
    g_free(items);
}

static void
gather_cancel(CamasFuture *future, gpointer data)
{
    Gather *g = data;
    if (!g->all)
        return;
    for (gsize i = 0; i < g->n; i++)
        if (g->children[i])
            camas_future_cancel(g->children[i]);
}

static CamasFuture *
gather_new(CamasLoop *loop, CamasFuture *const *futures, gsize n, gboolean all)
{
    CamasFuture *result = camas_future_new(loop);
    Gather *g = g_new0(Gather, 1);
    g->all = all;
    g->future = result;
    g->n = n;
    g->remaining = n;
    g->children = g_new0(CamasFuture *, n ? n : 1);
    g->results = g_new0(CamasValue *, n ? n : 1);
    g->slots = g_new(GatherSlot, n ? n : 1);
    g->refcount = (gint)n + 1;
    for (gsize i = 0; i < n; i++) {
        g->children[i] = futures[i];
        g->slots[i] = (GatherSlot){g, i};
    }
    camas_future_set_cancel_func(result, gather_cancel, g, hook_destroyed);
    for (gsize i = 0; i < n; i++)
        camas_future_add_callback(futures[i], gather_child_done, &g->slots[i], slot_destroyed);
    if (n == 0)
        camas_future_set_result(result, camas_value_new_list(NULL, 0));
    return result;
}

CamasFuture *
camas_future_all(CamasLoop *loop, CamasFuture *const *futures, gsize n)
{
    g_return_val_if_fail(loop != NULL && (futures != NULL || n == 0), NULL);
    return gather_new(loop, futures, n, TRUE);
}

CamasFuture *
camas_future_any(CamasLoop *loop, CamasFuture *const *futures, gsize n)
{
    g_return_val_if_fail(loop != NULL && futures != NULL && n > 0, NULL);
    return gather_new(loop, futures, n, FALSE);
}
