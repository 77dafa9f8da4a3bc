/* SPDX-License-Identifier: MIT */
/*
 * Coroutine tasks (see camas/task.h) on top of the bare context switch (coro-private.h), the
 * loop and futures.  A task is resumed only from loop events: its start event, a zero-delay
 * event (yield), or the callback event of the future it awaits.  So the scheduler alone
 * decides the order in which tasks run.
 *
 * States: not started (start event pending) -> running <-> suspended (awaiting a future, or
 * yielding with a wake event pending) -> done (function returned; stack freed at once).
 */
#include <camas/time.h>

#include "clock-private.h"
#include "coro-private.h"
#include "future-private.h"
#include "live-private.h"
#include "loop-private.h"

#include <camas/task.h>

struct _CamasTask {
    gint refcount;
    CamasLoop *loop;        /* not owned; the loop holds a reference on us until we are done */
    CamasTaskFunc func;     /* the body */
    gpointer data;          /* its user data */
    GDestroyNotify destroy; /* for data, once done */
    char *name;             /* owned, or NULL */
    CamasCoro *coro;        /* the coroutine while not done, then NULL */
    CamasFuture *future;    /* the result future (owned reference) */
    CamasFuture *awaiting;  /* the future the task waits for (a reference), or NULL */
    CamasEventId wake;      /* the pending start, yield or sleep event, or none */
    gboolean sleeping;      /* suspended in camas_task_sleep*: `wake` is the sleep's timer */
    gboolean started;       /* the function has begun */
    gboolean cancel;        /* cancellation requested and not yet delivered */
    CamasValue *ret;        /* the function's return value, until handed to the future */
    GError *ret_error;      /* the function's error, until handed to the future */
    CamasTask *prev, *next; /* the loop's list of live tasks */
};

/* The task whose coroutine runs now on this thread (restored around nested resumes). */
static __thread CamasTask *current_task;

/* --- the live list ------------------------------------------------------------------------- */

static void
link_task(CamasLoop *loop, CamasTask *t)
{
    t->prev = NULL;
    t->next = loop->tasks;
    if (loop->tasks)
        loop->tasks->prev = t;
    loop->tasks = t;
}

static void
unlink_task(CamasLoop *loop, CamasTask *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        loop->tasks = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

/* --- reference counting -------------------------------------------------------------------- */

CamasTask *
camas_task_ref(CamasTask *task)
{
    g_return_val_if_fail(task != NULL, NULL);
    task->refcount++;
    return task;
}

void
camas_task_unref(CamasTask *task)
{
    if (task == NULL)
        return;
    g_return_if_fail(task->refcount > 0);
    if (--task->refcount > 0)
        return;
    /* The loop's reference goes only when the task is done, so nothing is left running. */
    g_assert(task->coro == NULL && task->awaiting == NULL);
    camas_future_unref(task->future);
    g_free(task->name);
    g_free(task);
    camas__live_dec(CAMAS__LIVE_TASK);
}

static void
task_unref_cb(gpointer data)
{
    camas_task_unref(data);
}

/* --- running ------------------------------------------------------------------------------- */

/* Completes a task whose function returned or that was cancelled before it started: frees the
 * stack, settles the future, lets go of the data, and drops the loop's reference. */
static void
finish(CamasTask *t)
{
    camas__coro_free(t->coro);
    t->coro = NULL;
    if (t->ret_error) {
        if (t->ret)
            camas_value_unref(t->ret);
        camas_future_set_error(t->future, t->ret_error);
    } else {
        camas_future_set_result(t->future, t->ret);
    }
    t->ret = NULL;
    t->ret_error = NULL;
    if (t->destroy)
        t->destroy(t->data);
    t->destroy = NULL;
    unlink_task(t->loop, t);
    camas_task_unref(t);
}

static void
trampoline(gpointer data)
{
    CamasTask *t = data;
    t->started = TRUE;
    GError *error = NULL;
    t->ret = t->func(t, t->data, &error);
    t->ret_error = error;
}

static void
resume(CamasTask *t)
{
    CamasTask *outer = current_task;
    current_task = t;
    camas__coro_resume(t->coro);
    current_task = outer;
    if (camas__coro_is_finished(t->coro))
        finish(t);
}

static void
wake_event(CamasLoop *loop, gpointer data)
{
    CamasTask *t = data;
    t->wake = CAMAS_EVENT_ID_NONE;
    resume(t);
}

static void
future_cancelled(CamasFuture *future, gpointer data)
{
    camas_task_cancel(data);
}

CamasTask *
camas_task_spawn(CamasLoop *loop, CamasTaskFunc func, gpointer user_data,
                 const CamasTaskOptions *options, GError **error)
{
    g_return_val_if_fail(loop != NULL && func != NULL, NULL);
    g_return_val_if_fail(!loop->closing, NULL);
    static const CamasTaskOptions defaults = {0};
    if (options == NULL)
        options = &defaults;
    CamasTask *t = g_new0(CamasTask, 1);
    t->coro = camas__coro_new(trampoline, t, options->stack_size ? options->stack_size
                                                                 : CAMAS_TASK_DEFAULT_STACK_SIZE,
                              error);
    if (t->coro == NULL) {
        g_prefix_error(error, "cannot spawn task%s%s: ", options->name ? " " : "",
                       options->name ? options->name : "");
        g_free(t);
        return NULL;
    }
    camas__live_inc(CAMAS__LIVE_TASK);
    t->refcount = 2; /* the caller's and the loop's (until done) */
    t->loop = loop;
    t->func = func;
    t->data = user_data;
    t->destroy = options->destroy;
    t->name = g_strdup(options->name);
    t->future = camas_future_new(loop);
    /* The hook holds no reference: the task outlives its pending future's hook anyway (the
     * hook is cleared when the future is completed by finish()). */
    camas_future_set_cancel_func(t->future, future_cancelled, t, NULL);
    link_task(loop, t);
    t->wake = camas_loop_call_soon(loop, wake_event, t);
    if (camas_loop_is_traced(loop)) {
        CamasTraceRecord rec = {.kind = CAMAS_TRACE_SPAWN, .method = t->name, .msg_id = -1};
        camas_loop_trace(loop, &rec);
    }
    return t;
}

CamasFuture *
camas_task_get_future(CamasTask *task)
{
    g_return_val_if_fail(task != NULL, NULL);
    return task->future;
}

const char *
camas_task_get_name(CamasTask *task)
{
    g_return_val_if_fail(task != NULL, NULL);
    return task->name;
}

gboolean
camas_task_is_done(CamasTask *task)
{
    g_return_val_if_fail(task != NULL, FALSE);
    return task->coro == NULL;
}

CamasTask *
camas_task_current(void)
{
    return current_task;
}

/* Marks a started task cancelled and makes sure it will resume to see it: a pending awaited
 * future is cancelled (which removes what it waits for, e.g. a timer, and schedules the
 * resumption through the future's callback); a sleep's timer is replaced by a zero-delay
 * wake-up.  A yielding task already has its wake-up; a running task sees the flag at its next
 * await. */
static void
request_cancel(CamasTask *t)
{
    t->cancel = TRUE;
    if (t->awaiting && !camas_future_is_done(t->awaiting)) {
        camas_future_cancel(t->awaiting);
    } else if (t->sleeping && camas_loop_cancel(t->loop, t->wake)) {
        t->sleeping = FALSE;
        t->wake = camas_loop_call_soon(t->loop, wake_event, t);
    }
}

gboolean
camas_task_cancel(CamasTask *task)
{
    g_return_val_if_fail(task != NULL, FALSE);
    if (task->coro == NULL)
        return FALSE;
    if (!task->started) {
        /* asyncio: a task cancelled before its first step never runs its body. */
        camas_loop_cancel(task->loop, task->wake);
        task->wake = CAMAS_EVENT_ID_NONE;
        task->ret_error = g_error_new_literal(CAMAS_ERROR, CAMAS_ERROR_CANCELLED, "cancelled");
        finish(task);
        return TRUE;
    }
    request_cancel(task);
    return TRUE;
}

/* --- inside a task ------------------------------------------------------------------------- */

static gboolean
take_cancel(CamasTask *t, GError **error)
{
    if (t->cancel || t->loop->closing) {
        t->cancel = FALSE;
        g_set_error_literal(error, CAMAS_ERROR, CAMAS_ERROR_CANCELLED, "cancelled");
        return TRUE;
    }
    return FALSE;
}

static void
awaited_done(CamasFuture *future, gpointer data)
{
    CamasTask *t = data;
    /* Only the awaited future's callback resumes; the task cannot be waiting elsewhere. */
    if (t->awaiting == future && t->coro != NULL)
        resume(t);
}

gboolean
camas_task_await(CamasFuture *future, CamasValue **result, GError **error)
{
    if (result)
        *result = NULL;
    CamasTask *t = current_task;
    g_return_val_if_fail(t != NULL, FALSE);
    g_return_val_if_fail(future != NULL && future->loop == t->loop, FALSE);
    if (take_cancel(t, error))
        return FALSE;
    if (future->state == CAMAS__FUTURE_PENDING) {
        t->awaiting = camas_future_ref(future);
        camas_future_add_callback(future, awaited_done, camas_task_ref(t), task_unref_cb);
        camas__coro_yield();
        t->awaiting = NULL;
        camas_future_unref(future);
        if (take_cancel(t, error))
            return FALSE;
    }
    return camas_future_propagate(future, result, error);
}

gboolean
camas_task_yield(GError **error)
{
    CamasTask *t = current_task;
    g_return_val_if_fail(t != NULL, FALSE);
    if (take_cancel(t, error))
        return FALSE;
    t->wake = camas_loop_call_soon(t->loop, wake_event, t);
    camas__coro_yield();
    return !take_cancel(t, error);
}

/* Sleeping is the hottest await of a simulation, so it needs no future: the task's own timer
 * event resumes it (and is the TIMER record), exactly where a sleep future's callback would. */
static gboolean
sleep_until(CamasTask *t, gint64 deadline, GError **error)
{
    if (take_cancel(t, error))
        return FALSE;
    t->wake = camas__loop_call_timer(t->loop, deadline, wake_event, t, NULL, "sleep");
    t->sleeping = TRUE;
    camas__coro_yield();
    t->sleeping = FALSE;
    return !take_cancel(t, error);
}

static CamasTask *
sleeping_task(CamasClock *clock)
{
    CamasTask *t = current_task;
    g_return_val_if_fail(t != NULL, NULL);
    g_return_val_if_fail(clock != NULL && clock->loop == t->loop, NULL);
    return t;
}

gboolean
camas_task_sleep_ticks(CamasClock *clock, gint64 dt, GError **error)
{
    CamasTask *t = sleeping_task(clock);
    gint64 deadline;
    if (t == NULL || !camas__clock_deadline_in(clock, "sleep", dt, &deadline, error))
        return FALSE;
    return sleep_until(t, deadline, error);
}

gboolean
camas_task_sleep(CamasClock *clock, double dt, GError **error)
{
    gint64 ticks;
    if (!camas_time_from_seconds(dt, &ticks, error)) {
        g_prefix_error(error, "sleep: ");
        return FALSE;
    }
    return camas_task_sleep_ticks(clock, ticks, error);
}

gboolean
camas_task_sleep_until_ticks(CamasClock *clock, gint64 t, GError **error)
{
    CamasTask *task = sleeping_task(clock);
    if (task == NULL || !camas__clock_check_future_time(clock, "sleep_until", t, error))
        return FALSE;
    return sleep_until(task, t, error);
}

gboolean
camas_task_sleep_until(CamasClock *clock, double t, GError **error)
{
    gint64 ticks;
    if (!camas_time_from_seconds(t, &ticks, error)) {
        g_prefix_error(error, "sleep_until: ");
        return FALSE;
    }
    return camas_task_sleep_until_ticks(clock, ticks, error);
}

/* --- closing the loop ---------------------------------------------------------------------- */

void
camas__task_close_all(CamasLoop *loop)
{
    /* Each round cancels every live task and runs what that makes due now; unwinding tasks
     * see CANCELLED at every await (loop->closing), so one or two rounds finish them.  A task
     * that still does not return after a round without progress is discarded: its stack is
     * freed without unwinding and its future fails, so nothing leaks and close terminates. */
    while (loop->tasks) {
        CamasTask *t = loop->tasks;
        while (t) {
            CamasTask *next = t->next;
            if (!t->started)
                camas_task_cancel(t); /* finishes (and unlinks) it at once */
            else
                request_cancel(t);
            t = next;
        }
        gsize before = 0;
        for (CamasTask *u = loop->tasks; u; u = u->next)
            before++;
        gsize ran = camas_loop_run_due(loop);
        gsize after = 0;
        for (CamasTask *u = loop->tasks; u; u = u->next)
            after++;
        if (ran == 0 && after == before && after > 0) {
            while (loop->tasks) {
                CamasTask *s = loop->tasks;
                g_warning("task %s ignored cancellation while its loop closed; discarded",
                          s->name ? s->name : "(unnamed)");
                if (s->awaiting) {
                    camas_future_unref(s->awaiting);
                    s->awaiting = NULL;
                }
                camas_loop_cancel(loop, s->wake);
                s->sleeping = FALSE;
                s->ret_error =
                    g_error_new_literal(CAMAS_ERROR, CAMAS_ERROR_CANCELLED, "cancelled");
                finish(s);
            }
        }
    }
}
