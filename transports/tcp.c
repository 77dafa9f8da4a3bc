/* SPDX-License-Identifier: MIT */
/*
 * The TCP transport (tcp://HOST:PORT, and tls:// — TLS rides on it): turns a host and port
 * into socket addresses, binds listeners (SO_REUSEADDR; IPv6 sockets dual-stack only for the
 * host "::"), and leaves everything after connect/listen to the socket stream (socket.c).
 *
 * Host names are resolved with getaddrinfo, which blocks: numeric addresses are tried first
 * with AI_NUMERICHOST (never blocks), names go to the resolver (fast for "localhost" and
 * /etc/hosts entries, possibly slow for DNS).  See docs/transports.md.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "socket-private.h"

/* Resolves @host (NULL = all interfaces, for listening) to at most @max distinct addresses. */
static GArray *
resolve(const char *host, guint16 port, gboolean passive, guint max, GError **error)
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
    if (rc == EAI_NONAME && host) {
        hints.ai_flags &= ~AI_NUMERICHOST;
        rc = getaddrinfo(host, service, &hints, &res);
    }
    if (rc != 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "cannot resolve host '%s': %s",
                    host ? host : "", rc == EAI_SYSTEM ? g_strerror(errno) : gai_strerror(rc));
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
    GArray *addrs = error ? NULL : resolve(address->host, address->port, FALSE, 8, &error);
    if (addrs == NULL) {
        camas__pipe_dial_fail_soon(pipe, error);
        g_error_free(error);
        return;
    }
    const char *tls_name = options->tls_server_name ? options->tls_server_name : address->host;
    camas__socket_dial(pipe, addrs, options, tls_name, TRUE);
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
    g_autoptr(GArray) addrs = resolve(host, address->port, TRUE, G_N_ELEMENTS(sl->fds), error);
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
