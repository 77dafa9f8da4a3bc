/* SPDX-License-Identifier: MIT */
/*
 * Futures: the completion of one asynchronous operation (a sleep, an RPC reply, a task), bound
 * to a loop.  A future ends exactly once: with a result (a CamasValue, possibly NULL), with an
 * error (a GError), or cancelled (an error with code CAMAS_ERROR_CANCELLED).
 *
 * Callbacks always run from the scheduler: completing a future schedules its callbacks as an
 * event at the current time, so they never run re-entrantly inside the call that completed
 * the future (nor inside camas_future_add_callback on a done future).  Callbacks of one future
 * run in the order they were added.  A coroutine task waits for a future with
 * camas_task_await() (camas/task.h).
 *
 * Ownership: futures are reference counted; every constructor returns a new reference.
 */
#pragma once

#include <camas/loop.h>
#include <camas/value.h>

G_BEGIN_DECLS

typedef struct _CamasFuture CamasFuture;

/**
 * CamasFutureFunc:
 * @future: (transfer none): the done future (callbacks) or the future being cancelled (cancel
 *          functions); the caller holds a reference for the duration of the call
 * @user_data: what was given with the function
 */
typedef void (*CamasFutureFunc)(CamasFuture *future, gpointer user_data);

/* Returns: (transfer full): a pending future bound to @loop, whose events run its callbacks. */
CAMAS_API CamasFuture *camas_future_new(CamasLoop *loop);

CAMAS_API CamasFuture *camas_future_ref(CamasFuture *future);
/* Drops a reference.  When the last one goes, callbacks that never ran are destroyed (their
 * destroy notifies run, their functions do not).  NULL is ignored. */
CAMAS_API void camas_future_unref(CamasFuture *future);

/* (transfer none) */
CAMAS_API CamasLoop *camas_future_get_loop(CamasFuture *future);

/**
 * camas_future_set_result:
 * @result: (transfer full) (nullable): the result; taken even when this returns FALSE
 *
 * Completes a pending future and schedules its callbacks.
 * Returns: FALSE (and drops @result) when the future was already done, e.g. cancelled.
 */
CAMAS_API gboolean camas_future_set_result(CamasFuture *future, CamasValue *result);

/**
 * camas_future_set_error:
 * @error: (transfer full): the failure; taken even when this returns FALSE.  An error with
 *         code CAMAS_ERROR_CANCELLED makes the future count as cancelled (the cancel function
 *         does not run: the producer is the one completing it).
 * Returns: FALSE (and frees @error) when the future was already done.
 */
CAMAS_API gboolean camas_future_set_error(CamasFuture *future, GError *error);

/**
 * camas_future_cancel:
 * Completes a pending future with CAMAS_ERROR_CANCELLED ("cancelled"): its cancel function
 * (the producer's hook, see camas_future_set_cancel_func) runs synchronously, then its
 * callbacks are scheduled like for any completion.  A sleep's timer is removed, so a cancelled
 * sleep no longer counts as pending activity.
 * Returns: FALSE when the future was already done (nothing happens).
 */
CAMAS_API gboolean camas_future_cancel(CamasFuture *future);

CAMAS_API gboolean camas_future_is_done(const CamasFuture *future);
/* TRUE when the future ended through camas_future_cancel() or a CAMAS_ERROR_CANCELLED error. */
CAMAS_API gboolean camas_future_is_cancelled(const CamasFuture *future);
/* TRUE when the future ended with an error (cancellation included). */
CAMAS_API gboolean camas_future_is_failed(const CamasFuture *future);

/* (transfer none) (nullable): the result of a future that succeeded, else NULL. */
CAMAS_API CamasValue *camas_future_get_result(const CamasFuture *future);
/* (transfer none) (nullable): the error of a future that failed or was cancelled, else NULL. */
CAMAS_API const GError *camas_future_get_error(const CamasFuture *future);

/**
 * camas_future_propagate:
 * @result: (out) (optional) (transfer full) (nullable): a new reference to the result
 *
 * For a done future: TRUE with the result, or FALSE with a copy of its error.  Calling it on a
 * pending future is a contract violation.
 */
CAMAS_API gboolean camas_future_propagate(CamasFuture *future, CamasValue **result,
                                          GError **error);

/**
 * camas_future_add_callback:
 * @func: runs once, from a scheduled event, after the future is done
 * @user_data: given to @func
 * @destroy: (nullable): called with @user_data after @func ran, or when the future is freed
 *           without running it
 *
 * Adding to a done future schedules @func at the current time.  The scheduled event holds a
 * reference on the future, so the caller need not keep one for the callback to run.
 */
CAMAS_API void camas_future_add_callback(CamasFuture *future, CamasFutureFunc func,
                                         gpointer user_data, GDestroyNotify destroy);

/**
 * camas_future_set_cancel_func:
 * The producer's side: @func runs synchronously inside camas_future_cancel() (before the
 * callbacks are scheduled), so the producer can stop the work (remove a timer, forget a
 * pending request).  It must not complete the future.  @destroy runs with @user_data when
 * the future is done by any means (or freed), after @func if it ran.  One per future; setting
 * another replaces (and destroys) the previous one.  Contract: the future is pending.
 */
CAMAS_API void camas_future_set_cancel_func(CamasFuture *future, CamasFutureFunc func,
                                            gpointer user_data, GDestroyNotify destroy);

/**
 * camas_future_all:
 * @futures: (array length=n) (transfer none): the futures to wait for.  No references are
 *           taken (so no cycle can keep anything alive): a pending future is kept alive by
 *           its producer (a sleep by its timer, a task by itself, a request by its channel).
 *
 * Returns: (transfer full): a future that succeeds with a list of the @n results in the given
 * order (a NULL result appears as null) once all succeeded, or fails with a copy of the first
 * error in completion order (the others keep running, as asyncio.gather does).  Cancelling it
 * cancels the futures still pending.  With @n == 0 it succeeds with an empty list.
 */
CAMAS_API CamasFuture *camas_future_all(CamasLoop *loop, CamasFuture *const *futures, gsize n);

/**
 * camas_future_any:
 * Returns: (transfer full): a future that succeeds with the index (int) of the first of the
 * @n >= 1 @futures to be done, in scheduler order, however it ended.  The futures are not
 * touched; cancelling it cancels none of them.
 */
CAMAS_API CamasFuture *camas_future_any(CamasLoop *loop, CamasFuture *const *futures, gsize n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasFuture, camas_future_unref)

G_END_DECLS
