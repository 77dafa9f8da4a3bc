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
 *    camas__pipe_close() returns no callback runs any more.
 *  - A transport never blocks the thread.
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
     * below the low-water mark again (@writable TRUE). */
    void (*writable)(CamasPipe *pipe, gboolean writable, gpointer user_data);
} CamasPipeCallbacks;

/* Result of camas__transport_dial: exactly one of @pipe (transfer full) and @error is set.
 * Runs from a loop event. */
typedef void (*CamasDialFunc)(CamasPipe *pipe, const GError *error, gpointer user_data);
/* A listener accepted @pipe (transfer full).  Runs from a loop event. */
typedef void (*CamasAcceptFunc)(CamasListener *listener, CamasPipe *pipe, gpointer user_data);

/* --- what the channel layer calls --------------------------------------------------------- */

/**
 * camas__transport_dial:
 * Starts connecting to @address; @func runs later from a loop event with the pipe or the
 * error (CAMAS_ERROR_CONNECTION_REFUSED when nobody listens, CAMAS_ERROR_INVALID for an
 * address the transport cannot use, CAMAS_ERROR_PROTOCOL for a failed TLS handshake).
 * @options may be NULL.  One attempt; the channel layer retries until its deadline.
 */
void camas__transport_dial(CamasLoop *loop, const CamasAddress *address,
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
/* Stops accepting and frees the listener; pipes already accepted live on. */
void camas__listener_close(CamasListener *listener);

/* Starts delivering to @callbacks (data that arrived before is delivered then, in order). */
void camas__pipe_start(CamasPipe *pipe, const CamasPipeCallbacks *callbacks,
                       gpointer user_data);
/**
 * camas__pipe_send:
 * Queues @bytes (a reference is taken) for the peer.  Never blocks and never calls back.
 * FALSE with CAMAS_ERROR_CLOSED when the pipe is closed or failed.  Above the high-water mark
 * sends are still accepted (the caller is told through `writable` and should slow down).
 */
gboolean camas__pipe_send(CamasPipe *pipe, GBytes *bytes, GError **error);
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
     * transport resources; the core frees the memory afterwards.  Mandatory. */
    void (*close)(CamasPipe *pipe);
} CamasTransportClass;

/* Helpers for transports. */
gpointer camas__pipe_get_private(CamasPipe *pipe);
gpointer camas__listener_get_private(CamasListener *listener);
CamasLoop *camas__listener_get_loop(CamasListener *listener);
/* Transport -> core notifications.  Each must be called from an event of the pipe's loop (the
 * transport schedules one: LocalQueue when the bytes are due, socket transports from their fd
 * callback through camas_loop_call_soon) and invokes the owner's callback directly, so a
 * LocalQueue message costs exactly one event. */
void camas__pipe_dial_done(CamasPipe *pipe, const GError *error);
CamasPipe *camas__pipe_new_accepted(CamasListener *listener); /* a zeroed pipe to fill */
void camas__listener_accepted(CamasListener *listener, CamasPipe *pipe);
void camas__pipe_deliver(CamasPipe *pipe, const guint8 *data, gsize len);
void camas__pipe_deliver_closed(CamasPipe *pipe, const GError *error);
void camas__pipe_set_peername(CamasPipe *pipe, const char *peername);
void camas__pipe_set_tls_info(CamasPipe *pipe, const char *version, const char *cipher);
/* Tell the core how many bytes are queued; it raises `writable` on crossing the marks. */
void camas__pipe_update_write_queued(CamasPipe *pipe, gsize queued);

G_END_DECLS
