/* SPDX-License-Identifier: MIT */
/*
 * Tracing: one optional observer per loop that sees the engine's observable steps as records
 * (message sent, delivered, reply or failure delivered, timer fired, agent log line, fault
 * applied, task or agent spawned).  The scenario runner attaches a tracer that writes
 * canonical records and hashes them into a run fingerprint; tests attach their own.
 *
 * Who emits what: the loop emits TIMER when a clock timer (sleep, call_in, call_at) fires and
 * SPAWN when a task is spawned; the channel layer emits SEND, DELIVER, REPLY and FAILURE; the
 * container and agents LOG; fault injection FAULT.  With no tracer attached, emitting costs
 * one predictable branch (camas_loop_trace() is inline).
 */
#pragma once

#include <camas/loop.h>

G_BEGIN_DECLS

/* What happened.  Append-only: values are never renumbered (they go into fingerprints). */
typedef enum {
    CAMAS_TRACE_SEND = 0, /* a request or reply left an endpoint */
    CAMAS_TRACE_DELIVER,  /* a request reached its receiver */
    CAMAS_TRACE_REPLY,    /* a result reached the requester */
    CAMAS_TRACE_FAILURE,  /* a failure (remote error, closed connection, timeout) was delivered */
    CAMAS_TRACE_TIMER,    /* a clock timer fired; method = "sleep" or "call" */
    CAMAS_TRACE_LOG,      /* a log line; text = the line */
    CAMAS_TRACE_FAULT,    /* an injected fault was applied; text says which */
    CAMAS_TRACE_SPAWN,    /* a task or agent started; method = its name (may be NULL) */
} CamasTraceKind;

/* The stable lowercase name of a kind ("send", "deliver", ...), "unknown" otherwise. */
CAMAS_API const char *camas_trace_kind_name(CamasTraceKind kind);

/**
 * CamasTraceRecord: one observable step.  Everything is lent for the duration of the tracer
 * call; a tracer that keeps anything copies it.  Unused fields are 0 / NULL.
 */
typedef struct {
    CamasTraceKind kind;
    gint64 time;           /* ticks; filled in by the loop (the current time) */
    guint64 seq;           /* sequence number of the event the step belongs to; 0 = filled in
                            * by the loop with the running event's number */
    const char *src;       /* address of the sender / acting endpoint, e.g. "local://a/0" */
    const char *dst;       /* address of the receiver */
    const char *method;    /* RPC method path, timer kind, or task name */
    gint64 msg_id;         /* the channel's message id, or -1 when there is none */
    const guint8 *payload; /* the encoded message bytes, or NULL */
    gsize payload_len;
    const guint8 *digest;  /* instead of the payload: a digest of it (e.g. SHA-256), or NULL */
    gsize digest_len;
    const char *text;      /* LOG line, FAULT description, FAILURE text */
    /* The lengths of src, dst and method (bytes, without the NUL) when the emitter knows them,
     * so a tracer that copies the strings need not scan them; 0 = not given (a tracer measures
     * the string itself).  A non-zero length must be the string's strlen. */
    guint32 src_len;
    guint32 dst_len;
    guint32 method_len;
} CamasTraceRecord;

/* Called for each record, synchronously, from the step that produced it.  It must not
 * schedule, cancel or complete anything (it observes; it does not take part). */
typedef void (*CamasTraceFunc)(const CamasTraceRecord *record, gpointer user_data);

/**
 * camas_loop_set_tracer:
 * @func: (nullable): the tracer, or NULL to detach
 * @user_data: given to @func
 * @destroy: (nullable): called with @user_data when this tracer is replaced or detached, or the
 *           loop is freed
 *
 * Attaches the loop's tracer, replacing (and destroying) any previous one.
 */
CAMAS_API void camas_loop_set_tracer(CamasLoop *loop, CamasTraceFunc func, gpointer user_data,
                                     GDestroyNotify destroy);

/* Emits @record when a tracer is attached (after setting time, and seq when 0); private,
 * called through camas_loop_trace(). */
CAMAS_API void camas__loop_emit(CamasLoop *loop, CamasTraceRecord *record);

/**
 * camas_loop_trace:
 * Hands @record to the loop's tracer, filling in time (and seq when it is 0).  One branch when
 * no tracer is attached.  @record is modified (time and seq) but not kept.
 */
static inline void
camas_loop_trace(CamasLoop *loop, CamasTraceRecord *record)
{
    if (G_UNLIKELY(((CamasLoopHead *)(gpointer)loop)->trace_func != NULL))
        camas__loop_emit(loop, record);
}

/* TRUE when a tracer is attached (to skip building expensive records). */
static inline gboolean
camas_loop_is_traced(const CamasLoop *loop)
{
    return ((const CamasLoopHead *)(gconstpointer)loop)->trace_func != NULL;
}

G_END_DECLS
