/* SPDX-License-Identifier: MIT */
/*
 * Coroutine tasks: agent code written as sequential C, as aiomas agents are written with
 * `await clock.sleep(1)` and `ret = await remote.spam(3)`.  A task runs a function on its own
 * stack; inside it, camas_task_await() suspends the task until a future is done and returns
 * its outcome.  Tasks are resumed by the loop's events (a future's callback event, or a
 * zero-delay event), so they interleave in (time, seq) order exactly like callbacks: a task
 * program is as deterministic as the equivalent callback program.
 *
 * Cancellation delivers CAMAS_ERROR_CANCELLED at the await point (like asyncio's
 * CancelledError): the function sees the error, cleans up and returns.  A task's outcome is
 * its result future: the function's return value, or its error.
 *
 * Memory: a task costs its CamasTask and result future (about 250 bytes together), the
 * coroutine header (about 200 bytes), and its stack:
 * stack_size bytes of address space (default 64 KiB) plus a guard page, of which only the
 * pages the task has touched are resident (typically one or two, 4-8 KiB, for an idle task;
 * see task.idle_memory in docs/performance.md).  A finished task gives its stack back at once.
 *
 * Threads: tasks run on the loop's thread only.
 */
#pragma once

#include <camas/clock.h>
#include <camas/future.h>
#include <camas/loop.h>

G_BEGIN_DECLS

typedef struct _CamasTask CamasTask;

/**
 * CamasTaskFunc:
 * @task: (transfer none): the task running the function
 * @user_data: the task's data
 * @error: where to put a failure
 *
 * The body of a task; runs on the task's stack, from the loop.  Returns: (transfer full)
 * (nullable): the result, or NULL with @error set to fail the task (a CAMAS_ERROR_CANCELLED
 * error makes the task count as cancelled).
 */
typedef CamasValue *(*CamasTaskFunc)(CamasTask *task, gpointer user_data, GError **error);

/* The stack size used when the options give 0. */
#define CAMAS_TASK_DEFAULT_STACK_SIZE (64 * 1024)

/* Options for camas_task_spawn(); zero-initialise and set what you need. */
typedef struct {
    gsize stack_size;       /* usable stack bytes, rounded up to pages; 0 = default */
    const char *name;       /* shown in SPAWN trace records and messages; copied; NULL = none */
    GDestroyNotify destroy; /* called with user_data once the task is done (not on failure) */
} CamasTaskOptions;

/**
 * camas_task_spawn:
 * @options: (nullable): NULL = defaults
 *
 * Creates a task that will start running @func(@task, @user_data, &error) from a zero-delay
 * event (so in (time, seq) order, never inside this call).  Emits a SPAWN trace record.
 * Returns: (transfer full): the task, or NULL with CAMAS_ERROR_FAILED when its stack cannot be
 * allocated (then @func never runs and @user_data stays the caller's).
 */
CAMAS_API CamasTask *camas_task_spawn(CamasLoop *loop, CamasTaskFunc func, gpointer user_data,
                                      const CamasTaskOptions *options, GError **error);

CAMAS_API CamasTask *camas_task_ref(CamasTask *task);
/* The loop keeps its own reference until the task is done, so dropping the spawner's
 * reference does not stop the task.  NULL is ignored. */
CAMAS_API void camas_task_unref(CamasTask *task);

/* (transfer none): the task's result future (cancelling it cancels the task). */
CAMAS_API CamasFuture *camas_task_get_future(CamasTask *task);
/* (transfer none) (nullable) */
CAMAS_API const char *camas_task_get_name(CamasTask *task);
/* TRUE once the function returned (or the task was cancelled before it started). */
CAMAS_API gboolean camas_task_is_done(CamasTask *task);

/**
 * camas_task_cancel:
 * Requests cancellation.  A task that has not started is done at once (cancelled, its function
 * never runs).  A suspended task's awaited future is cancelled (so a sleep's timer goes) and
 * the task resumes from the loop with CAMAS_ERROR_CANCELLED; a task cancelling itself gets the
 * error at its next await.  The task may catch it and continue; it is then cancelled again
 * only if asked again.
 * Returns: FALSE when the task is already done.
 */
CAMAS_API gboolean camas_task_cancel(CamasTask *task);

/* (transfer none) (nullable): the task running now on this thread, NULL outside tasks. */
CAMAS_API CamasTask *camas_task_current(void);

/* --- inside a task ------------------------------------------------------------------------- */

/**
 * camas_task_await:
 * @future: a future of the task's loop (the task holds a reference while it waits)
 * @result: (out) (optional) (transfer full) (nullable): the result
 *
 * Suspends the running task until @future is done, then returns its outcome: TRUE with the
 * result, or FALSE with a copy of its error.  A future already done returns at once without
 * suspending.  FALSE with CAMAS_ERROR_CANCELLED when the task was cancelled (whatever the
 * future did) or its loop is closing.  Calling it outside a task is a contract violation.
 */
CAMAS_API gboolean camas_task_await(CamasFuture *future, CamasValue **result, GError **error);

/**
 * camas_task_sleep / _sleep_ticks / _sleep_until / _sleep_until_ticks:
 * Suspends the running task until the clock's time reaches now + @dt (or @t): the same as
 * awaiting camas_clock_sleep*() — same argument rules, same place in the (time, seq) order,
 * same TIMER record — but without a future (the task's own timer resumes it).  FALSE with
 * CAMAS_ERROR_INVALID for a bad argument (nothing is scheduled) or CAMAS_ERROR_CANCELLED
 * (the timer is removed).  @clock must drive the task's loop.
 */
CAMAS_API gboolean camas_task_sleep(CamasClock *clock, double dt, GError **error);
CAMAS_API gboolean camas_task_sleep_ticks(CamasClock *clock, gint64 dt, GError **error);
CAMAS_API gboolean camas_task_sleep_until(CamasClock *clock, double t, GError **error);
CAMAS_API gboolean camas_task_sleep_until_ticks(CamasClock *clock, gint64 t, GError **error);

/**
 * camas_task_yield:
 * Lets every other event already due now run, then continues (asyncio's `await sleep(0)`):
 * the task resumes from a zero-delay event.  FALSE with CAMAS_ERROR_CANCELLED when cancelled.
 */
CAMAS_API gboolean camas_task_yield(GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasTask, camas_task_unref)

G_END_DECLS
