/* SPDX-License-Identifier: MIT */
/*
 * Channels: aiomas' request-reply layer (aiomas.channel; wire-protocol.md §3-§5).  A channel is
 * one connection over any transport (LocalQueue, TCP, Unix sockets, TLS) on which BOTH ends send
 * requests, each with its own 64-bit id counter starting at 0, and answer the other end's
 * requests with a result or a failure text, in any order.  The channel sits on the framing and
 * codec layers and under the RPC layer (camas/rpc.h), which adds paths, services and proxies.
 *
 * Everything runs from the loop: transports deliver bytes from loop events, replies complete
 * futures (whose callbacks are events, see camas/future.h), and incoming requests are handed to
 * the request function from the event that delivered them.  No callback ever runs inside a call
 * into this API.
 *
 * Lifetimes: channels are reference counted.  Closing a channel (camas_channel_close(), the last
 * unref, the peer closing, or bad input from the peer) fails every request still waiting for a
 * reply with CAMAS_ERROR_CLOSED ("Connection closed") before the call returns.  A server owns
 * the channels it accepted; closing the server closes them.
 *
 * Write back-pressure: every send is queued at once (never blocks), so a sender that is faster
 * than its peer reads would grow the queue without limit.  The transport reports its queue
 * crossing the high-water mark (options->transport.write_high_water, default 4 MiB) and
 * draining to the low-water mark (default a quarter of it): a sender honours that by checking
 * camas_channel_is_writable() and waiting for camas_channel_drain() (or
 * camas_channel_drain_await() in a task) when it is FALSE, which keeps the queue within the
 * high-water mark plus one message.  options->write_limit adds a hard cap for senders that do
 * not.  A receiver can pause reading (camas_channel_set_reading()) to push back on its peer.
 *
 * Bad input (malformed frames, undecodable payloads, oversized headers, unknown message types,
 * replies to ids that are not pending, invalid UTF-8) closes that one connection with an error
 * that names the peer — logged as a warning and kept as the channel's close error — as a Python
 * aiomas peer does (§4.2).  Servers keep serving everyone else.
 */
#pragma once

#include <camas/codec.h>
#include <camas/frame.h>
#include <camas/future.h>
#include <camas/loop.h>
#include <camas/transport.h>

G_BEGIN_DECLS

typedef struct _CamasChannel CamasChannel;
typedef struct _CamasChannelServer CamasChannelServer;
typedef struct _CamasRequest CamasRequest;

/* The default pause between two connection attempts of camas_channel_open(). */
#define CAMAS_CHANNEL_DEFAULT_RETRY_INTERVAL (50 * G_GINT64_CONSTANT(1000000)) /* 50 ms */

/**
 * CamasChannelOptions: how to open a channel or run a server.  Zero-initialised = defaults; a
 * NULL options pointer means all defaults.
 */
typedef struct {
    /* Transport settings: TLS context (needed for tls:// addresses), write water marks,
     * listen backlog.  The TLS context is referenced, not copied. */
    CamasTransportOptions transport;
    /* Largest payload sent or accepted, in bytes; 0 = CAMAS_FRAME_DEFAULT_MAX_SIZE (64 MiB).
     * A larger outgoing message fails its send with CAMAS_ERROR_TOO_LARGE; a larger incoming
     * header closes the connection before any of the payload is buffered. */
    gsize max_frame_size;
    /* camas_channel_open(): the absolute loop time (ticks) until which refused connection
     * attempts are retried, so clients may start before their server.  0, or a time not after
     * now, means a single attempt. */
    gint64 connect_deadline;
    /* Ticks between two connection attempts; 0 = CAMAS_CHANNEL_DEFAULT_RETRY_INTERVAL.  The
     * last attempt is made at the deadline itself. */
    gint64 retry_interval;
    /* A hard cap on the bytes queued for the peer; 0 = none.  A request (camas_channel_send(),
     * RPC calls) whose frame would take the queue past it fails at once with
     * CAMAS_ERROR_TOO_LARGE "write buffer full: ...", sending nothing (its id is used up).
     * Replies and failure replies are never refused (the peer bounds them by the requests it
     * sends).  Set it above the high-water mark, so that senders honouring
     * camas_channel_drain() never meet it. */
    gsize write_limit;
} CamasChannelOptions;

/**
 * CamasRequestFunc:
 * @channel: (transfer none): the channel the request arrived on
 * @request: (transfer full): the request; answer it exactly once with camas_request_reply*()
 *           or camas_request_fail*(), now or from any later event — each of those consumes it
 * @user_data: as given to camas_channel_set_request_func()
 *
 * Runs from the loop event that delivered the request.
 */
typedef void (*CamasRequestFunc)(CamasChannel *channel, CamasRequest *request,
                                 gpointer user_data);

/**
 * CamasChannelClosedFunc:
 * @error: (transfer none): why: CAMAS_ERROR_CLOSED "Connection closed" when the peer ended the
 *         connection, the transport's error when it failed, or a PROTOCOL / CODEC error naming
 *         the peer when it sent bad input
 *
 * Runs from a loop event after the channel was closed by anything but this side (aiomas'
 * connection reset).  Closing it yourself (camas_channel_close(), unref, closing the server)
 * does not run it.
 */
typedef void (*CamasChannelClosedFunc)(CamasChannel *channel, const GError *error,
                                       gpointer user_data);

/**
 * CamasChannelConnectedFunc:
 * @channel: (transfer none): a new connection; the server owns it (take a reference to keep
 *           it beyond the server's close)
 *
 * Runs from the loop event that accepted the connection, before any of its bytes are read, so
 * the request function set here sees every request.
 */
typedef void (*CamasChannelConnectedFunc)(CamasChannelServer *server, CamasChannel *channel,
                                          gpointer user_data);

/* --- opening --------------------------------------------------------------------------------- */

/**
 * camas_channel_open:
 * @address: where to connect, in any camas_address_parse() form (tcp://h:p, h:p, [::1]:p,
 *           ipc://[path], unix:path, local://id, tls://h:p)
 * @codec: (transfer none): the codec of the connection (a reference is taken); it must match
 *         the server's codec and serializers (nothing on the wire says which one is used)
 * @options: (nullable): connection options; NULL = defaults
 *
 * Connects, retrying refused attempts every retry interval until options->connect_deadline.
 * Returns: (transfer full): a future that succeeds with an object value holding the channel
 * (take it with camas_channel_open_finish()), or fails with the last attempt's error
 * (CAMAS_ERROR_CONNECTION_REFUSED, CAMAS_ERROR_INVALID, CAMAS_ERROR_PROTOCOL for a failed TLS
 * handshake).  Cancelling the future stops retrying.  NULL with CAMAS_ERROR_INVALID (and
 * nothing started) when @address does not parse.
 */
CAMAS_API CamasFuture *camas_channel_open(CamasLoop *loop, const char *address, CamasCodec *codec,
                                          const CamasChannelOptions *options, GError **error);

/**
 * camas_channel_open_finish:
 * @future: a done future returned by camas_channel_open()
 * Returns: (transfer full): the channel, or NULL with the future's error.
 */
CAMAS_API CamasChannel *camas_channel_open_finish(CamasFuture *future, GError **error);

/* Task style: awaits camas_channel_open() inside a task (camas/task.h).  (transfer full) */
CAMAS_API CamasChannel *camas_channel_open_await(CamasLoop *loop, const char *address,
                                                 CamasCodec *codec,
                                                 const CamasChannelOptions *options,
                                                 GError **error);

/* --- the channel ----------------------------------------------------------------------------- */

CAMAS_API CamasChannel *camas_channel_ref(CamasChannel *channel);
/* Dropping the last reference closes the channel (see camas_channel_close()).  NULL ignored. */
CAMAS_API void camas_channel_unref(CamasChannel *channel);

/**
 * camas_channel_send:
 * @content: (transfer none): the request content (encoded before this returns)
 *
 * Sends a request with the next id of this end (ids start at 0 per connection; an id is used
 * up even when encoding fails, as in aiomas).
 * Returns: (transfer full): a future for the reply, never NULL.  It succeeds with the peer's
 * result (NULL stands for none only if the peer sent null — a null result is a null value),
 * or fails with: CAMAS_ERROR_REMOTE (the peer's failure: camas_error_get_origin() is the peer
 * address as this side sees it, camas_error_get_remote_text() the text unchanged),
 * CAMAS_ERROR_CLOSED (the connection was or got closed), CAMAS_ERROR_CODEC (@content cannot be
 * encoded), CAMAS_ERROR_TOO_LARGE (above the maximum frame size).  Encoding failures complete
 * the future at once (its callbacks still run from an event).  Cancelling the future only stops
 * waiting: a late reply is dropped quietly.
 */
CAMAS_API CamasFuture *camas_channel_send(CamasChannel *channel, const CamasValue *content);

/* Task style: awaits camas_channel_send().  Returns: (transfer full) (nullable): the result,
 * or NULL with the error (a null result is returned as a null value, never as NULL). */
CAMAS_API CamasValue *camas_channel_send_await(CamasChannel *channel, const CamasValue *content,
                                               GError **error);

/* --- write back-pressure ------------------------------------------------------------------- */

/**
 * camas_channel_is_writable:
 * TRUE when a send now keeps the write queue within bounds: FALSE from the send that took the
 * queue above the transport's high-water mark until it has drained to the low-water mark (the
 * peer took the bytes: LocalQueue counts them until the peer's channel has read them, sockets
 * until the kernel has), and FALSE on a closed channel.  Changes take effect at once, within
 * the event that sends; the matching drain completions run from later events.
 */
CAMAS_API gboolean camas_channel_is_writable(const CamasChannel *channel);
/* Bytes sent and not yet taken by the peer (LocalQueue) or the kernel (sockets); 0 when closed. */
CAMAS_API gsize camas_channel_get_write_queued(const CamasChannel *channel);

/**
 * camas_channel_drain:
 * Returns: (transfer full): a future that succeeds (with no result) once the channel is
 * writable: at once when it is now (its callbacks still run from an event), else when the queue
 * has drained to the low-water mark.  It fails with CAMAS_ERROR_CLOSED when the channel is or
 * gets closed first.  Futures waiting at the same time complete in the order they were asked
 * for, from one event; by the time a callback runs, others may have sent again, so a sender
 * that must never pass the mark checks camas_channel_is_writable() again (a loop around the
 * wait).  Cancelling one only stops its wait.
 */
CAMAS_API CamasFuture *camas_channel_drain(CamasChannel *channel);
/* Task style: returns TRUE at once when the channel is writable, else awaits
 * camas_channel_drain() inside a task; FALSE with its error (CAMAS_ERROR_CLOSED, or
 * CAMAS_ERROR_CANCELLED when the task was cancelled). */
CAMAS_API gboolean camas_channel_drain_await(CamasChannel *channel, GError **error);

/**
 * camas_channel_set_reading:
 * Stops (FALSE) or resumes (TRUE) reading from the connection.  While paused nothing arrives —
 * no requests, no replies — and the transport stops reading, so the peer's sends back up into
 * its own write queue (its side turns not writable).  Bytes that arrived meanwhile are
 * delivered, in order, from an event after resuming.  May be called from the connected
 * function of a server, before any byte is read.  No effect on a closed channel.
 */
CAMAS_API void camas_channel_set_reading(CamasChannel *channel, gboolean reading);
/* FALSE while paused by camas_channel_set_reading() (or closed). */
CAMAS_API gboolean camas_channel_is_reading(const CamasChannel *channel);

/**
 * camas_channel_set_request_func:
 * @func: (nullable): receives every incoming request; NULL = requests wait in a queue
 *
 * Requests that arrived while no function was set are handed to @func from a zero-delay event
 * in arrival order (aiomas' Channel.recv() queue).  The previous user data is destroyed.
 */
CAMAS_API void camas_channel_set_request_func(CamasChannel *channel, CamasRequestFunc func,
                                              gpointer user_data, GDestroyNotify destroy);

/* Sets the function told when the peer resets the connection; replaces (and destroys) the
 * previous one.  Set on an already closed channel, it is not called. */
CAMAS_API void camas_channel_set_closed_func(CamasChannel *channel, CamasChannelClosedFunc func,
                                             gpointer user_data, GDestroyNotify destroy);

/**
 * camas_channel_close:
 * Closes the connection now (queued bytes are still flushed when the transport can do so
 * without blocking).  Every pending request fails with CAMAS_ERROR_CLOSED before this returns;
 * queued incoming requests are dropped; later replies to requests already handed out do
 * nothing.  The closed function does not run.  Idempotent.
 */
CAMAS_API void camas_channel_close(CamasChannel *channel);

CAMAS_API gboolean camas_channel_is_closed(const CamasChannel *channel);
/* (transfer none) (nullable): why the channel closed when the peer or bad input closed it. */
CAMAS_API const GError *camas_channel_get_close_error(const CamasChannel *channel);

/* (transfer none): the peer as this side sees it (aiomas peername, the origin of remote
 * failures): "('127.0.0.1', 5555)", a socket path, "LocalQueue('id')". */
CAMAS_API const char *camas_channel_get_peername(const CamasChannel *channel);
/* (transfer none) */
CAMAS_API CamasCodec *camas_channel_get_codec(const CamasChannel *channel);
CAMAS_API CamasLoop *camas_channel_get_loop(const CamasChannel *channel);
/* Requests sent by this end and still waiting for their reply. */
CAMAS_API gsize camas_channel_get_n_pending(const CamasChannel *channel);
/* For TLS channels: the negotiated protocol ("TLSv1.2") and cipher; else NULL. */
CAMAS_API const char *camas_channel_get_tls_version(const CamasChannel *channel);
CAMAS_API const char *camas_channel_get_tls_cipher(const CamasChannel *channel);

/**
 * camas_channel_set_trace_names:
 * The src/dst names this channel's trace records carry (copied).  Defaults: a client channel is
 * "<address>#c<n>" talking to "<address>" (the canonical address it connected to, n counting
 * this process's client channels of that address); a server channel is "<server address>"
 * talking to "<server address>#s<n>" (n counting that server's accepted connections from 0).
 * The container layer sets agent addresses instead.
 */
CAMAS_API void camas_channel_set_trace_names(CamasChannel *channel, const char *local,
                                             const char *peer);

/* --- incoming requests --------------------------------------------------------------------- */

/* (transfer none): the request's content; lives as long as the request. */
CAMAS_API CamasValue *camas_request_get_content(const CamasRequest *request);
/* (transfer none): the id value as received (replies echo it unchanged). */
CAMAS_API CamasValue *camas_request_get_id(const CamasRequest *request);
/* (transfer none): the channel it arrived on (kept alive by the request). */
CAMAS_API CamasChannel *camas_request_get_channel(const CamasRequest *request);

/**
 * camas_request_reply:
 * @request: (transfer full): consumed
 * @result: (transfer none) (nullable): the result; NULL sends null
 *
 * Sends the RESULT.  When @result cannot be encoded (no serializer, bytes on JSON, too large)
 * the peer gets an EXCEPTION for the same id instead, whose text ends in
 * "aiomas.exceptions.SerializationError: ..." (or "ValueError: ..." when too large), as
 * aiomas does.  Does nothing but free @request when the channel is closed.
 */
CAMAS_API void camas_request_reply(CamasRequest *request, const CamasValue *result);
/* The same, stealing @result. */
CAMAS_API void camas_request_reply_take(CamasRequest *request, CamasValue *result);

/**
 * camas_request_fail:
 * @request: (transfer full): consumed
 * @error: (transfer none): the failure; the text sent is camas_error_to_remote_text(@error)
 *         ("<PythonName>: <message>\n", or a REMOTE error's own text unchanged); requests
 *         handled by the RPC layer get a "Traceback (most recent call last):" header first.
 */
CAMAS_API void camas_request_fail(CamasRequest *request, const GError *error);
/* Sends "<name>: <message>\n", e.g. ("ValueError", "boom") → "ValueError: boom\n". */
CAMAS_API void camas_request_fail_text(CamasRequest *request, const char *name,
                                       const char *message);
/* Sends @text exactly as given (it should end with a "<Name>: <message>\n" line). */
CAMAS_API void camas_request_fail_raw(CamasRequest *request, const char *text);

/**
 * camas_request_free:
 * Drops a request without answering it.  So that the peer never waits forever, an open
 * channel then sends the failure "RuntimeError: request dropped without a reply\n".
 */
CAMAS_API void camas_request_free(CamasRequest *request);

/* --- servers ------------------------------------------------------------------------------- */

/**
 * camas_channel_server_new:
 * @address: where to listen (camas_address_parse() forms; TCP port 0 = chosen by the OS)
 * @codec: (transfer none): the codec of every accepted connection (a reference is taken)
 * @connected: (nullable): told about each accepted connection
 *
 * Binds and listens now.  Returns: (transfer full): the server, or NULL with
 * CAMAS_ERROR_INVALID (bad address, address in use, missing TLS settings).
 */
CAMAS_API CamasChannelServer *camas_channel_server_new(CamasLoop *loop, const char *address,
                                                       CamasCodec *codec,
                                                       const CamasChannelOptions *options,
                                                       CamasChannelConnectedFunc connected,
                                                       gpointer user_data,
                                                       GDestroyNotify destroy,
                                                       GError **error);

/* (transfer none): the canonical address actually bound (with the OS-chosen port), usable with
 * camas_channel_open(). */
CAMAS_API const char *camas_channel_server_get_address(const CamasChannelServer *server);
/* Connections accepted and still open. */
CAMAS_API guint camas_channel_server_get_n_channels(const CamasChannelServer *server);
/* (transfer none): accepted connection @index (in accept order) that is still open. */
CAMAS_API CamasChannel *camas_channel_server_get_channel(const CamasChannelServer *server,
                                                         guint index);

/**
 * camas_channel_server_close:
 * Stops listening and closes every accepted connection (in accept order; their pending
 * requests fail with CAMAS_ERROR_CLOSED before this returns).  Idempotent.
 */
CAMAS_API void camas_channel_server_close(CamasChannelServer *server);
/* Closes (see above) and frees the server; its destroy notify runs.  NULL is ignored. */
CAMAS_API void camas_channel_server_free(CamasChannelServer *server);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasChannel, camas_channel_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasRequest, camas_request_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasChannelServer, camas_channel_server_free)

G_END_DECLS
