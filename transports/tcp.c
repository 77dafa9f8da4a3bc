/* SPDX-License-Identifier: MIT */
/*
 * The TCP transport (tcp://HOST:PORT, and tls:// — TLS rides on it): turns a host and port
 * into socket addresses, binds listeners (SO_REUSEADDR; IPv6 sockets dual-stack only for the
 * host "::"), and leaves everything after connect/listen to the socket stream (socket.c).
 *
 * Host names: numeric addresses are parsed at once (getaddrinfo with AI_NUMERICHOST never
 * blocks).  A dial to a name resolves it with getaddrinfo on a worker thread (a small shared
 * pool) while the pipe waits in its RESOLVING phase; the result comes back to the loop's
 * thread through an idle source on the loop's context, and every address is tried in the
 * order getaddrinfo gives (IPv6 and IPv4 as the system prefers).  Closing the pipe meanwhile
 * cancels the dial at once; the worker's result is dropped when it comes.  Listening on a
 * name still resolves on the caller's thread, because listen binds synchronously (see
 * docs/transports.md).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "live-private.h"
#include "socket-private.h"

/* Addresses a dial tries at most (getaddrinfo rarely gives more than a handful). */
#define DIAL_MAX_ADDRS 32
/* Worker threads resolving names at the same time, for the whole process. */
#define LOOKUP_THREADS 4

/* Resolves @host (NULL = all interfaces, for listening) to at most @max distinct addresses.
 * Without @names only numeric hosts are taken (never blocks): NULL without an error for a
 * name. */
static GArray *
resolve(const char *host, guint16 port, gboolean passive, gboolean names, guint max,
        GError **error)
{
    char service[8];
    g_snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_protocol = IPPROTO_TCP,
        .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST | (passive ? AI_PASSIVE : 0),
    };
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc == EAI_NONAME && host && !names)
        return NULL;
    if (rc == EAI_NONAME && host) {
        hints.ai_flags &= ~AI_NUMERICHOST;
        rc = getaddrinfo(host, service, &hints, &res);
    }
    if (rc != 0) {
        /* A name the resolver does not know is a lookup failure; anything else (no server
         * reachable, ...) a failure of the attempt. */
        gboolean unknown = rc == EAI_NONAME
#ifdef EAI_NODATA
                           || rc == EAI_NODATA
#endif
#ifdef EAI_ADDRFAMILY
                           || rc == EAI_ADDRFAMILY
#endif
            ;
        g_set_error(error, CAMAS_ERROR, unknown ? CAMAS_ERROR_LOOKUP : CAMAS_ERROR_FAILED,
                    "cannot resolve host '%s': %s", host ? host : "",
                    rc == EAI_SYSTEM ? g_strerror(errno) : gai_strerror(rc));
        return NULL;
    }
    GArray *addrs = g_array_new(FALSE, TRUE, sizeof(CamasSockAddr));
    for (struct addrinfo *ai = res; ai && addrs->len < max; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(struct sockaddr_storage))
            continue;
        gboolean dup = FALSE;
        for (guint i = 0; i < addrs->len && !dup; i++) {
            CamasSockAddr *o = &g_array_index(addrs, CamasSockAddr, i);
            dup = o->len == ai->ai_addrlen && memcmp(&o->sa, ai->ai_addr, o->len) == 0;
        }
        if (dup)
            continue;
        CamasSockAddr a = {.len = ai->ai_addrlen};
        memcpy(&a.sa, ai->ai_addr, ai->ai_addrlen);
        g_array_append_val(addrs, a);
    }
    freeaddrinfo(res);
    if (addrs->len == 0) {
        g_array_unref(addrs);
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "host '%s' has no usable address", host ? host : "");
        return NULL;
    }
    return addrs;
}

/* --- resolving host names off the loop's thread -------------------------------------------- */

/*
 * A name lookup for one dial.  Two references: the pipe's (given back through the drop
 * function when the pipe stops waiting: the lookup is done, or the pipe was closed) and the
 * worker's (handed on to the idle source that brings the result back, if it still has
 * somewhere to go; so a dial that was not cancelled ends its lookup on the loop's thread).  Only @context is shared between the threads while the worker runs, under
 * lookup_lock: it is cleared when the dial is cancelled, so that the worker never attaches to
 * a context nobody waits on (and the lookup holds no context reference: nothing can keep a
 * context and a lookup alive in a cycle).
 */
typedef struct {
    gint ref_count;
    CamasPipe *pipe;       /* the loop's thread only: NULL once the pipe stopped waiting */
    GMainContext *context; /* under lookup_lock: where the result goes; NULL = cancelled */
    char *host;
    guint16 port;
    GArray *addrs; /* the worker's result (before the hand-back, read after it) */
    GError *error;
} Lookup;

G_LOCK_DEFINE_STATIC(lookup_lock);
static GThreadPool *lookup_pool; /* made on first use, for the process' lifetime */
static CamasTcpResolveFunc resolve_func; /* tests: replaces getaddrinfo (atomic pointer) */

void
camas__tcp_set_resolve_func(CamasTcpResolveFunc func)
{
    g_atomic_pointer_set(&resolve_func, func);
}

static void
lookup_unref(gpointer data)
{
    Lookup *l = data;
    if (!g_atomic_int_dec_and_test(&l->ref_count))
        return;
    g_free(l->host);
    g_clear_pointer(&l->addrs, g_array_unref);
    g_clear_error(&l->error);
    g_free(l);
    camas__live_dec(CAMAS__LIVE_NAME_LOOKUP);
}

/* The pipe no longer waits (socket.c calls this once: resolved, or closed first). */
static void
lookup_drop(gpointer data)
{
    Lookup *l = data;
    l->pipe = NULL;
    G_LOCK(lookup_lock);
    l->context = NULL;
    G_UNLOCK(lookup_lock);
    lookup_unref(l);
}

/* Back on the loop's thread (an idle source on its context). */
static gboolean
lookup_done(gpointer data)
{
    Lookup *l = data;
    if (l->pipe)
        camas__socket_dial_resolved(l->pipe, g_steal_pointer(&l->addrs), l->error);
    return G_SOURCE_REMOVE;
}

static void
lookup_run(gpointer data, gpointer pool_data)
{
    Lookup *l = data;
    CamasTcpResolveFunc func = g_atomic_pointer_get(&resolve_func);
    l->addrs = func ? func(l->host, l->port, &l->error)
                    : resolve(l->host, l->port, FALSE, TRUE, DIAL_MAX_ADDRS, &l->error);
    G_LOCK(lookup_lock);
    GMainContext *context = l->context;
    if (context) {
        /* The loop's context is alive while the pipe waits (the pipe's loop holds it).  The
         * worker's reference goes to the source, so the lookup ends on the loop's thread. */
        GSource *done = g_idle_source_new();
        g_source_set_callback(done, lookup_done, l, lookup_unref);
        g_source_set_name(done, "camas-tcp-lookup");
        g_source_attach(done, context);
        g_source_unref(done);
    }
    G_UNLOCK(lookup_lock);
    if (context == NULL)
        lookup_unref(l); /* cancelled: the worker's reference, the last one */
}

static void
lookup_start(CamasPipe *pipe, const CamasAddress *address, const CamasTransportOptions *options,
             const char *tls_name)
{
    Lookup *l = g_new0(Lookup, 1);
    camas__live_inc(CAMAS__LIVE_NAME_LOOKUP);
    l->ref_count = 2;
    l->pipe = pipe;
    l->context = camas_loop_get_context(camas__pipe_get_loop(pipe));
    l->host = g_strdup(address->host);
    l->port = address->port;
    if (!camas__socket_dial_resolving(pipe, options, tls_name, l, lookup_drop)) {
        lookup_unref(l); /* the worker's: never started */
        return;
    }
    G_LOCK(lookup_lock);
    if (lookup_pool == NULL)
        lookup_pool = g_thread_pool_new(lookup_run, NULL, LOOKUP_THREADS, FALSE, NULL);
    G_UNLOCK(lookup_lock);
    g_thread_pool_push(lookup_pool, l, NULL);
}

static void
tcp_dial(CamasPipe *pipe, const CamasAddress *address, const CamasTransportOptions *options)
{
    GError *error = NULL;
    if (address->host == NULL || address->host[0] == '\0') {
        error = g_error_new(CAMAS_ERROR, CAMAS_ERROR_INVALID,
                            "no host to connect to in tcp://:%u", address->port);
    } else if (address->port == 0) {
        error = g_error_new(CAMAS_ERROR, CAMAS_ERROR_INVALID,
                            "cannot connect to port 0 (host '%s')", address->host);
    }
    if (error) {
        camas__pipe_dial_fail_soon(pipe, error);
        g_error_free(error);
        return;
    }
    const char *tls_name = options->tls_server_name ? options->tls_server_name : address->host;
    GArray *addrs = resolve(address->host, address->port, FALSE, FALSE, DIAL_MAX_ADDRS, NULL);
    if (addrs)
        camas__socket_dial(pipe, addrs, options, tls_name, TRUE);
    else
        lookup_start(pipe, address, options, tls_name);
}

static int
bind_one(const CamasSockAddr *a, gboolean dual_stack, int backlog, int *errsv)
{
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *errsv = errno;
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a->sa.ss_family == AF_INET6) {
        int v6only = !dual_stack;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0 || listen(fd, backlog) < 0) {
        *errsv = errno;
        close(fd);
        return -1;
    }
    return fd;
}

static void
set_port(CamasSockAddr *a, guint16 port)
{
    if (a->sa.ss_family == AF_INET)
        ((struct sockaddr_in *)&a->sa)->sin_port = htons(port);
    else if (a->sa.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&a->sa)->sin6_port = htons(port);
}

static guint16
get_port(int fd)
{
    CamasSockAddr a = {.len = sizeof a.sa};
    if (getsockname(fd, (struct sockaddr *)&a.sa, &a.len) < 0)
        return 0;
    if (a.sa.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&a.sa)->sin_port);
    if (a.sa.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&a.sa)->sin6_port);
    return 0;
}

static void
set_listen_error(const CamasAddress *address, int errsv, GError **error)
{
    g_autofree char *text = camas_address_to_string(address);
    if (errsv == EADDRINUSE)
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "address %s in use", text);
    else
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "cannot listen at %s: %s", text,
                    g_strerror(errsv ? errsv : EINVAL));
}

static gboolean
tcp_listen(CamasListener *listener, const CamasAddress *address,
           const CamasTransportOptions *options, GError **error)
{
    const char *host = address->host && address->host[0] ? address->host : NULL;
    CamasSocketListener *sl = camas__listener_get_private(listener);
    g_autoptr(GArray) addrs = resolve(host, address->port, TRUE, TRUE,
                                    G_N_ELEMENTS(sl->fds), error);
    if (addrs == NULL)
        return FALSE;
    /* The socket for "::" takes IPv4 too; every other IPv6 socket is IPv6 only, so that a
     * host with both families (localhost, "") binds both without conflict. */
    gboolean dual_stack = g_strcmp0(host, "::") == 0;
    int fds[G_N_ELEMENTS(sl->fds)];
    guint n = 0;
    guint16 port = address->port;
    int errsv = 0;
    for (guint i = 0; i < addrs->len; i++) {
        CamasSockAddr *a = &g_array_index(addrs, CamasSockAddr, i);
        if (port != 0)
            set_port(a, port); /* OS-chosen port: every address gets the first one's */
        int e = 0;
        int fd = bind_one(a, dual_stack, options->backlog, &e);
        if (fd >= 0) {
            if (port == 0)
                port = get_port(fd);
            fds[n++] = fd;
            continue;
        }
        /* A family this machine lacks (no IPv6) is skipped when others remain. */
        if ((e == EAFNOSUPPORT || e == EADDRNOTAVAIL) && addrs->len > 1) {
            g_debug("tcp listen: skipping an address of '%s': %s", host ? host : "",
                    g_strerror(e));
            errsv = errsv ? errsv : e;
            continue;
        }
        for (guint k = 0; k < n; k++)
            close(fds[k]);
        set_listen_error(address, e, error);
        return FALSE;
    }
    if (n == 0) {
        set_listen_error(address, errsv, error);
        return FALSE;
    }
    if (!camas__socket_listener_start(listener, fds, n, TRUE, error))
        return FALSE;
    g_autoptr(CamasAddress) bound = camas_address_copy(address);
    bound->port = port;
    camas__listener_set_address(listener, bound);
    return TRUE;
}

const CamasTransportClass camas__transport_tcp = {
    .name = "tcp",
    .kind = CAMAS_ADDRESS_TCP,
    .abi_version = CAMAS_TRANSPORT_ABI_VERSION,
    .pipe_size = sizeof(CamasSocket),
    .listener_size = sizeof(CamasSocketListener),
    .dial = tcp_dial,
    .listen = tcp_listen,
    .listener_close = camas__socket_listener_close,
    .start = camas__socket_start,
    .send = camas__socket_send,
    .set_reading = camas__socket_set_reading,
    .close = camas__socket_close,
    .send_chunk = camas__socket_send_chunk,
};
