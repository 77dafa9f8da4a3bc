/* SPDX-License-Identifier: MIT */
/*
 * The future's layout, for the scheduler layer's own producers (clock sleeps, tasks), which
 * use a few fast paths that need no allocation.
 */
#pragma once

#include <camas/future.h>

#include "loop-private.h"

G_BEGIN_DECLS

typedef enum {
    CAMAS__FUTURE_PENDING = 0,
    CAMAS__FUTURE_RESULT,
    CAMAS__FUTURE_ERROR,
    CAMAS__FUTURE_CANCELLED,
} CamasFutureState;

typedef struct {
    CamasFutureFunc func;
    gpointer data;
    GDestroyNotify destroy;
} CamasFutureCallback;

struct _CamasFuture {
    gint refcount;
    CamasFutureState state;
    CamasLoop *loop;             /* not owned; the loop outlives its pending futures */
    CamasValue *result;          /* RESULT: the result (owned, may be NULL) */
    GError *error;               /* ERROR, CANCELLED: the error (owned) */
    CamasFutureCallback first;   /* the first callback inline (most futures have one) */
    GArray *more;                /* further CamasFutureCallback, or NULL */
    gboolean has_first;          /* `first` holds a callback not yet run */
    gboolean scheduled;          /* an event to run the callbacks is pending */
    CamasFutureCallback on_cancel; /* the producer's cancel hook (func may be NULL) */
    CamasEventId timer;          /* a sleep's timer, removed on cancel (clock.c) */
};

/* For producers whose completion is itself a loop event (a sleep's timer): completes @future
 * with @result (transfer full) and runs its callbacks right away, inside that event, instead of
 * scheduling another one.  This is what aiomas' ordering needs: a sleeper's code runs in the
 * sleeper's own (deadline, seq) slot, before a call_in registered after it for the same time.
 * Must only be called from an event function (never from user-facing completion calls). */
void camas__future_resolve_in_event(CamasFuture *future, CamasValue *result);

/* Frees this thread's cache of future structs (for leak checkers at thread or process end). */
void camas__future_cache_clear(void);

G_END_DECLS
