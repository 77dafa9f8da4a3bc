/* SPDX-License-Identifier: MIT */
/*
 * Pipes, listeners and the transport plug-in table: the boundary between the channel layer
 * (engine/channel.c) and the transports (localqueue, tcp, ipc; TLS rides on tcp).
 *
 * A pipe is one end of a byte-stream connection.  Rules every transport keeps:
 *  - Callbacks into the owner (received, closed, writable) always run from an event of the
 *    pipe's loop, never from inside a pipe call (send, close, ...) — so the layers above are
 *    never re-entered.  LocalQueue delivers by scheduling events; socket transports read in
 *    their GSource callback and schedule the delivery.
 *  - Bytes arrive in order and unchanged; chunk boundaries are arbitrary (any split or
 *    coalescing) — the owner runs a frame parser.
 *  - `closed` runs exactly once per pipe unless the owner closed it first; after
 *    camas__pipe_close() returns no callback runs any more.  After `closed` the owner still
 *    calls camas__pipe_close() to release its reference.
 *  - A transport never blocks the thread (except: listening on a TCP host name resolves it
 *    with a blocking getaddrinfo; dialing resolves names on worker threads).
 *
 * Lifetimes: a pipe is reference counted.  The owner holds one reference (handed over by the
 * dial or accept callback, released by camas__pipe_close()); transports and the core hold
 * more while events or flushes that name the pipe are outstanding, so memory may outlive the
 * owner's close — but no callback does.  A listener has a single owner.
 *
 * Adding a transport is one file transports/<name>.c defining
 * `const CamasTransportClass camas__transport_<name>` plus its name in `transport_plugins`
 * of transports/meson.build.
 */
#pragma once

#include <camas/loop.h>
#include <camas/transport.h>

G_BEGIN_DECLS

#define CAMAS_TRANSPORT_ABI_VERSION 1

typedef struct _CamasPipe CamasPipe;
typedef struct _CamasListener CamasListener;

typedef struct {
    /* Bytes arrived.  @data is lent for the duration of the call. */
    void (*received)(CamasPipe *pipe, const guint8 *data, gsize len, gpointer user_data);
    /* The peer closed (@error NULL: clean end of stream) or the connection failed (@error set,
     * CAMAS_ERROR_CLOSED / PROTOCOL for TLS failures).  The pipe accepts no more sends. */
    void (*closed)(CamasPipe *pipe, const GError *error, gpointer user_data);
    /* Optional: the outgoing queue crossed the high-water mark (@writable FALSE) or drained
     * below the low-water mark again (@writable TRUE).  Reports alternate, starting with FALSE;
     * a crossing and its return between two events are reported together (FALSE then TRUE, or
     * TRUE then FALSE), so none is lost. */
    void (*writable)(CamasPipe *pipe, gboolean writable, gpointer user_data);
} CamasPipeCallbacks;

/* Result of camas__transport_dial: exactly one of @pipe (transfer full) and @error is set.
 * Runs from a loop event.  On error the pending pipe is gone when this returns. */
typedef void (*CamasDialFunc)(CamasPipe *pipe, const GError *error, gpointer user_data);
/* A listener accepted @pipe (transfer full).  Runs from a loop event. */
typedef void (*CamasAcceptFunc)(CamasListener *listener, CamasPipe *pipe, gpointer user_data);
/* An incoming connection failed before it could be accepted (TLS handshake failure or
 * timeout): @peername as camas__pipe_get_peername() would show it, @error naming the reason
 * (OpenSSL's text for TLS).  Runs from a loop event.  The listener keeps listening. */
typedef void (*CamasListenerErrorFunc)(CamasListener *listener, const char *peername,
                                       const GError *error, gpointer user_data);

/* --- what the channel layer calls --------------------------------------------------------- */

/**
 * camas__transport_dial:
 * Starts connecting to @address; @func runs later from a loop event with the pipe or the
 * error (CAMAS_ERROR_CONNECTION_REFUSED when nobody listens, CAMAS_ERROR_INVALID for an
 * address the transport cannot use or a loop that socket transports cannot run on (not
 * attached to a GMainContext), CAMAS_ERROR_PROTOCOL for a failed TLS handshake,
 * CAMAS_ERROR_TIMED_OUT for a TLS handshake that did not finish in time).  @options may be
 * NULL; it is copied.  One attempt; the channel layer retries until its deadline.
 *
 * Returns: (transfer none): the pending pipe, valid until @func runs.  Passing it to
 * camas__pipe_close() before then cancels the attempt: @func never runs.  Callers that never
 * cancel may ignore it.
 */
CamasPipe *camas__transport_dial(CamasLoop *loop, const CamasAddress *address,
                                 const CamasTransportOptions *options, CamasDialFunc func,
                                 gpointer user_data);

/**
 * camas__transport_listen:
 * Binds and listens at once (so "address in use" is a synchronous CAMAS_ERROR_INVALID naming
 * the address); @func runs from loop events for every accepted pipe.
 * Returns: (transfer full) the listener, or NULL with @error.
 */
CamasListener *camas__transport_listen(CamasLoop *loop, const CamasAddress *address,
                                       const CamasTransportOptions *options,
                                       CamasAcceptFunc func, gpointer user_data,
                                       GError **error);
/* The address actually bound (with the OS-chosen port filled in).  (transfer none) */
const CamasAddress *camas__listener_get_address(CamasListener *listener);
/* Stops accepting and frees the listener; pipes already accepted live on, connections still
 * in their TLS handshake are dropped.  A Unix socket file is removed. */
void camas__listener_close(CamasListener *listener);
/* Reports connections that failed before accept (@func NULL = log them with g_debug, the
 * default: never g_warning, so tests do not abort). */
void camas__listener_set_error_func(CamasListener *listener, CamasListenerErrorFunc func,
                                    gpointer user_data);

/* Starts delivering to @callbacks (copied; data that arrived before is delivered then, in
 * order, from an event).  Once per pipe. */
void camas__pipe_start(CamasPipe *pipe, const CamasPipeCallbacks *callbacks,
                       gpointer user_data);
/**
 * camas__pipe_send:
 * Queues @bytes (a reference is taken) for the peer.  Never blocks and never calls back.
 * FALSE with CAMAS_ERROR_CLOSED when the pipe is closed or failed.  Above the high-water mark
 * sends are still accepted (the caller is told through `writable` and should slow down).
 */
gboolean camas__pipe_send(CamasPipe *pipe, GBytes *bytes, GError **error);
/**
 * CamasChunk:
 * One outgoing frame with a link for transport queues, so that sending over LocalQueue costs
 * no allocation: the channel encodes into a chunk taken from the thread's pool, hands it over
 * with camas__pipe_send_chunk(), LocalQueue links it into the peer's receive queue and puts it
 * back into the pool once the peer's owner has taken the bytes.  Exactly one of @array and @bytes holds the
 * data while the chunk travels; a pooled chunk keeps its @array (empty) for reuse.  An array
 * from camas__pipe_chunk_new() has room for at least CAMAS_CHUNK_MIN_ROOM bytes, so a writer
 * may set its length up to that directly.
 */
#define CAMAS_CHUNK_MIN_ROOM 256
typedef struct _CamasChunk CamasChunk;
struct _CamasChunk {
    CamasChunk *next;  /* the transport's queue link while it holds the chunk */
    GByteArray *array; /* the data (owned), or NULL when @bytes holds it */
    GBytes *bytes;     /* a sender's GBytes (a reference), or NULL */
};

static inline const guint8 *
camas__chunk_get_data(const CamasChunk *chunk, gsize *len)
{
    if (chunk->bytes)
        return g_bytes_get_data(chunk->bytes, len);
    *len = chunk->array->len;
    return chunk->array->data;
}

/* (transfer full) an empty chunk (array of length 0, bytes NULL) from this thread's pool. */
CamasChunk *camas__chunk_new(void);
/* Gives @chunk (transfer full) back to this thread's pool (any thread may release any chunk):
 * its data is dropped, its array kept unless it is large or the pool is full.  The pool is
 * bounded (as many chunks as were out at once lately, at least a few hundred, with arrays of at
 * most 16 KiB) and freed when the thread exits. */
void camas__chunk_release(CamasChunk *chunk);
/**
 * camas__pipe_send_chunk:
 * camas__pipe_send() for a chunk (transfer full, also on failure): transports with a
 * `send_chunk` op queue it as it is, others get its bytes as a GBytes without a copy.
 */
gboolean camas__pipe_send_chunk(CamasPipe *pipe, CamasChunk *chunk, GError **error);

/* The pipe's writable state by the water marks as of now (the `writable` callback tells the
 * same changes later, from an event): FALSE from the send that took the queue above the
 * high-water mark until it drains to the low-water mark. */
gboolean camas__pipe_is_writable(const CamasPipe *pipe);
/* Bytes queued and not yet handed to the OS / the peer. */
gsize camas__pipe_get_write_queued(const CamasPipe *pipe);
/* Stops (FALSE) or resumes (TRUE) reading, for the owner's own back-pressure. */
void camas__pipe_set_reading(CamasPipe *pipe, gboolean reading);
/**
 * camas__pipe_close:
 * Closes and releases the owner's reference: queued bytes are still flushed to the peer when
 * the transport can do so without blocking, the peer then sees end of stream.  No callback
 * runs after this returns.
 */
void camas__pipe_close(CamasPipe *pipe);
/* The peer's address as aiomas shows it (RemoteException.origin): "('127.0.0.1', 5555)",
 * "('::1', 5555, 0, 0)", the socket path or "", "LocalQueue('id')".  (transfer none) */
const char *camas__pipe_get_peername(const CamasPipe *pipe);
/* For TLS pipes: the negotiated protocol and cipher names, else NULL.  (transfer none) */
const char *camas__pipe_get_tls_version(const CamasPipe *pipe);
const char *camas__pipe_get_tls_cipher(const CamasPipe *pipe);
CamasLoop *camas__pipe_get_loop(const CamasPipe *pipe);
/* The transport's name: "local", "tcp", "ipc" (TLS pipes are "tcp" with TLS info set). */
const char *camas__pipe_get_transport_name(const CamasPipe *pipe);
/* Extra references, e.g. for an event that names the pipe.  The last unref frees it; the
 * owner's reference is released by camas__pipe_close(), never by unref. */
CamasPipe *camas__pipe_ref(CamasPipe *pipe);
void camas__pipe_unref(CamasPipe *pipe);

/* --- what transports implement ------------------------------------------------------------ */

typedef struct {
    const char *name;          /* "local", "tcp", "ipc" */
    CamasAddressKind kind;     /* the addresses it serves */
    guint abi_version;         /* CAMAS_TRANSPORT_ABI_VERSION */
    gsize pipe_size;           /* private state per pipe, allocated zeroed after the core's */
    gsize listener_size;       /* private state per listener */
    /* Starts a connection; reports through camas__pipe_dial_done() from a loop event.  Must
     * not call back before returning.  Mandatory. */
    void (*dial)(CamasPipe *pipe, const CamasAddress *address,
                 const CamasTransportOptions *options);
    /* Binds and listens now; announces pipes with camas__listener_accepted().  Mandatory. */
    gboolean (*listen)(CamasListener *listener, const CamasAddress *address,
                       const CamasTransportOptions *options, GError **error);
    /* Stops listening; no camas__listener_accepted() after it returns.  Mandatory. */
    void (*listener_close)(CamasListener *listener);
    /* Callbacks are set: deliver what was held back, keep delivering.  Mandatory. */
    void (*start)(CamasPipe *pipe);
    /* Queue bytes; never block, never call back.  Mandatory. */
    gboolean (*send)(CamasPipe *pipe, GBytes *bytes, GError **error);
    /* Pause (FALSE) / resume (TRUE) reading.  Optional. */
    void (*set_reading)(CamasPipe *pipe, gboolean reading);
    /* Close the connection (flush what can be flushed without blocking) and release
     * transport resources; called exactly once per pipe: on the owner's close, after a failed
     * or cancelled dial, or through camas__pipe_discard().  The transport may keep a
     * reference while it still flushes; the core frees the memory after the last unref.
     * Mandatory. */
    void (*close)(CamasPipe *pipe);
    /* Queue a chunk (transfer full: the transport releases it with camas__pipe_chunk_release
     * when done); never block, never call back.  Optional: without it the core passes the
     * chunk's bytes to `send`. */
    gboolean (*send_chunk)(CamasPipe *pipe, CamasChunk *chunk, GError **error);
} CamasTransportClass;

/* Helpers for transports. */
/* Where a pipe's private state starts (the core's struct, aligned): every transport op reads
 * its state, so this is inline. */
extern const gsize camas__pipe_private_offset;
static inline gpointer
camas__pipe_get_private(CamasPipe *pipe)
{
    return (char *)pipe + camas__pipe_private_offset;
}
gpointer camas__listener_get_private(CamasListener *listener);
CamasLoop *camas__listener_get_loop(CamasListener *listener);
/* Transport -> core notifications.  Each must be called from an event of the pipe's loop (the
 * transport schedules one: LocalQueue when the bytes are due, socket transports from their fd
 * callback through camas_loop_call_soon) and invokes the owner's callback directly, so a
 * LocalQueue message costs exactly one event. */
void camas__pipe_dial_done(CamasPipe *pipe, const GError *error);
CamasPipe *camas__pipe_new_accepted(CamasListener *listener); /* a zeroed pipe to fill */
/* Hands @pipe (transfer full) to the listener's owner. */
void camas__listener_accepted(CamasListener *listener, CamasPipe *pipe);
/* An accepted pipe that failed before camas__listener_accepted(): reports @error through the
 * listener's error func, then discards @pipe (transfer full).  From a loop event. */
void camas__listener_accept_failed(CamasListener *listener, CamasPipe *pipe,
                                   const GError *error);
/* Calls the class' close and drops the reference a transport holds on a pipe it never handed
 * to an owner. */
void camas__pipe_discard(CamasPipe *pipe);
/* Schedules camas__pipe_dial_done(@pipe, @error) as a loop event (@error is copied): for
 * dial errors a transport finds before it has anything to wait on. */
void camas__pipe_dial_fail_soon(CamasPipe *pipe, const GError *error);
/* The options given to camas__transport_listen (copied; never NULL). */
const CamasTransportOptions *camas__listener_get_options(CamasListener *listener);
/* The listener's bound address, set by the transport's listen (copied). */
void camas__listener_set_address(CamasListener *listener, const CamasAddress *address);
/* TRUE once the owner closed the pipe (or cancelled the dial): the transport only flushes. */
gboolean camas__pipe_is_owner_closed(const CamasPipe *pipe);
void camas__pipe_deliver(CamasPipe *pipe, const guint8 *data, gsize len);
void camas__pipe_deliver_closed(CamasPipe *pipe, const GError *error);
void camas__pipe_set_peername(CamasPipe *pipe, const char *peername);
void camas__pipe_set_tls_info(CamasPipe *pipe, const char *version, const char *cipher);
/* Tell the core how many bytes are queued; it raises `writable` on crossing the marks. */
void camas__pipe_update_write_queued(CamasPipe *pipe, gsize queued);

G_END_DECLS
