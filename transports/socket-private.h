/* SPDX-License-Identifier: MIT */
/*
 * The non-blocking fd stream shared by the tcp and ipc transports (and TLS, which rides on
 * tcp): socket.c.  tcp.c and ipc.c only turn addresses into socket addresses (tcp.c resolves
 * host names on a worker thread meanwhile), create, bind and listen; everything after that — connecting, accepting, reading, the write queue, back
 * pressure, the TLS handshake, lingering close — is here, written once.
 *
 * How it runs: each socket has a GSource on the loop's GMainContext.  Readiness to read (or a
 * finished connect, or an incoming connection) only schedules a loop event, from the source's
 * check, so the loop runs it in the same context iteration; the event does the read / accept
 * / handshake step and calls the owner, so owner callbacks always run from loop events.
 * Writes need no owner callback: the first send after a poll goes straight to the kernel when
 * nothing is queued, later ones queue a GBytes reference and one flush event per burst sends
 * them with one sendmsg; when the kernel buffer is full the rest goes out as the socket
 * becomes writable.  The queued byte count is reported through
 * camas__pipe_update_write_queued() after every change.
 *
 * Close: the owner's close keeps the socket alive without the owner ("lingering") until the
 * queue is flushed; then the write side is shut down and incoming bytes are discarded until
 * the peer's end (so unread input cannot turn the close into a reset that would destroy the
 * bytes just flushed).  It gives up with a reset after 10 s without progress (no byte
 * flushed, none read).  Lingering never touches the loop, so it may outlive it, but it ends
 * at once when the GMainContext goes away (its last reference dropped): see
 * docs/transports.md.
 */
#pragma once

#include <sys/socket.h>

#include "tls-private.h"
#include "transport-private.h"

G_BEGIN_DECLS

/* A socket address to connect to or bind. */
typedef struct {
    socklen_t len;
    struct sockaddr_storage sa;
} CamasSockAddr;

typedef enum {
    CAMAS_SOCKET_NONE = 0,    /* never set up (zeroed memory) */
    CAMAS_SOCKET_RESOLVING,   /* dialing: a host name is being resolved (tcp.c, off-thread) */
    CAMAS_SOCKET_CONNECTING,  /* non-blocking connect in progress */
    CAMAS_SOCKET_HANDSHAKING, /* TLS handshake in progress (client or accepted) */
    CAMAS_SOCKET_OPEN,        /* handed to the owner */
    CAMAS_SOCKET_LINGERING,   /* the owner closed; flushing, then waiting for the peer's end */
    CAMAS_SOCKET_DEAD,        /* fd closed */
} CamasSocketPhase;

typedef struct _CamasSocketListener CamasSocketListener;

/* A socket pipe's private state (the tcp and ipc classes' pipe_size). */
typedef struct {
    CamasPipe *pipe;        /* the pipe this is the private state of (not a reference) */
    CamasLoop *loop;        /* the pipe's loop */
    CamasSocketPhase phase;
    int fd;                 /* -1 once closed */
    GSource *source;        /* watches fd on the loop's context (an FdSource, socket.c) */
    gboolean nodelay;       /* TCP: set TCP_NODELAY on connect */
    gboolean shut_wr;       /* lingering: our write side is shut down */

    gboolean started;       /* the owner started the pipe */
    gboolean reading;       /* ... and wants data */
    gboolean eof;           /* the peer's end was read */
    gboolean failed;        /* a failure is being or was reported */
    GError *fail_error;     /* the failure until its event reports it */
    CamasEventId io_event;  /* "fd readable / connect finished": read, handshake, ... */
    CamasEventId fail_event;
    CamasEventId flush_event;

    GQueue wq;              /* GBytes (owned) waiting for the kernel, oldest first */
    gsize wq_offset;        /* bytes of the head already written */
    gsize queued;           /* unwritten bytes in wq */

    gpointer lookup;        /* resolving: the transport's pending name lookup */
    GDestroyNotify lookup_drop; /* ... given it back when the pipe no longer waits for it */
    GArray *addrs;          /* dialing: CamasSockAddr to try, in order */
    guint addr_index;       /* the one being tried */
    GError *dial_error;     /* the first failure, reported when every address failed */

    CamasTlsSession *tls;       /* TLS session, or NULL for plaintext */
    CamasSocketListener *owner; /* accepted and still handshaking: the listener to announce to */
    GSource *timer;             /* handshake or linger time limit (real time) */
    gint64 linger_active_us;    /* lingering: when it last made progress (monotonic) */
    int linger_outq;            /* lingering: the kernel's unsent bytes at the last check */
    guint handshake_timeout_ms;
} CamasSocket;

/* A socket listener's private state (the tcp and ipc classes' listener_size).  tcp.c and
 * ipc.c bind the fds; socket.c accepts. */
struct _CamasSocketListener {
    CamasListener *listener; /* not a reference */
    CamasLoop *loop;
    guint n_fds;
    int fds[4];                 /* listening fds (several for a host with several addresses) */
    GSource *sources[4];        /* one FdSource per fd */
    CamasEventId accept_event;  /* pending accept pass */
    GSource *backoff;           /* out of fds: accepting pauses briefly */
    gboolean nodelay;           /* TCP: set TCP_NODELAY on accepted sockets */
    CamasTlsContext *tls;       /* server context, or NULL */
    guint handshake_timeout_ms;
    GQueue handshaking;         /* CamasPipe* accepted and still in their TLS handshake */
    gboolean *destroyed;        /* set when closed from inside an accept callback */
    char *unlink_path;          /* ipc: the socket file to remove on close, or NULL */
    dev_t unlink_dev;           /* ... only if it is still the one we bound */
    ino_t unlink_ino;
};

/* Python's peername for a socket address: "('127.0.0.1', 5555)", "('::1', 5555, 0, 0)", a
 * Unix socket path, or "" for an unnamed Unix socket.  (transfer full) */
char *camas__sockaddr_to_peername(const struct sockaddr *sa, socklen_t len);

/* The CAMAS_ERROR code for a failed connect's errno. */
CamasErrorCode camas__socket_connect_error_code(int errsv);

/**
 * camas__socket_dial:
 * Connects @pipe (whose private state is a CamasSocket) to @addrs in order (transfer full;
 * the first that accepts wins), then runs the TLS handshake when @options has a context
 * (verifying @tls_name), and reports through camas__pipe_dial_done() from a loop event.
 */
void camas__socket_dial(CamasPipe *pipe, GArray *addrs, const CamasTransportOptions *options,
                        const char *tls_name, gboolean nodelay);

/**
 * camas__socket_dial_resolving:
 * Sets @pipe up for dialing while the transport resolves its host name elsewhere: @lookup is
 * the transport's pending lookup, handed to @drop exactly once — by
 * camas__socket_dial_resolved(), or when the pipe is closed first (the dial is cancelled;
 * the transport must then drop the lookup's result without touching the pipe).  FALSE when
 * the setup failed (reported from an event; @lookup was dropped).
 */
gboolean camas__socket_dial_resolving(CamasPipe *pipe, const CamasTransportOptions *options,
                                      const char *tls_name, gpointer lookup,
                                      GDestroyNotify drop);
/* The lookup of a resolving @pipe finished (on the loop's thread): connects to @addrs
 * (transfer full) in order, or fails the dial with @error when @addrs is NULL. */
void camas__socket_dial_resolved(CamasPipe *pipe, GArray *addrs, const GError *error);

/* Tests: replaces the blocking step of resolving a dialed host name (getaddrinfo, on a worker
 * thread) with @func, which runs on that thread and returns CamasSockAddr in the order to try
 * (transfer full) or NULL with an error; NULL restores getaddrinfo. */
typedef GArray *(*CamasTcpResolveFunc)(const char *host, guint16 port, GError **error);
void camas__tcp_set_resolve_func(CamasTcpResolveFunc func);

/* Tests: how long a lingering socket may go without progress before it gives up (0 = the
 * default, 10 s). */
void camas__socket_set_linger_idle_ms(guint ms);

/* The pipe class ops both socket transports use as they are. */
void camas__socket_start(CamasPipe *pipe);
void camas__socket_set_reading(CamasPipe *pipe, gboolean reading);
gboolean camas__socket_send(CamasPipe *pipe, GBytes *bytes, GError **error);
gboolean camas__socket_send_chunk(CamasPipe *pipe, CamasChunk *chunk, GError **error);
void camas__socket_close(CamasPipe *pipe);

/**
 * camas__socket_listener_start:
 * Starts accepting on @n_fds listening, non-blocking fds (taken over: closed with the
 * listener).  Accepted connections become pipes announced from loop events, after their TLS
 * handshake when the listener's options carry a context.  FALSE with CAMAS_ERROR_INVALID when
 * the loop is not attached to a GMainContext (the fds are closed).
 */
gboolean camas__socket_listener_start(CamasListener *listener, const int *fds, guint n_fds,
                                      gboolean nodelay, GError **error);
/* Stops accepting, drops connections still handshaking, closes the fds and removes the Unix
 * socket file (when unlink_path is set and still names the socket bound). */
void camas__socket_listener_close(CamasListener *listener);

/* The loop's context, or NULL with CAMAS_ERROR_INVALID saying socket transports need one. */
GMainContext *camas__socket_get_context(CamasLoop *loop, GError **error);

G_END_DECLS
