/* SPDX-License-Identifier: MIT */
/*
 * The Unix domain socket transport (ipc://[PATH], unix:PATH): builds the sockaddr_un, binds
 * listeners — replacing a stale socket file that nobody listens on any more, refusing one
 * that is alive ("in use") — and removes the socket file when the listener closes.  After
 * that the socket stream (socket.c) does the work, exactly as for TCP.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "socket-private.h"

static gboolean
make_addr(const char *path, CamasSockAddr *a, GError **error)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
    gsize len = strlen(path);
    if (len >= sizeof un->sun_path) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "Unix socket path too long (%zu bytes, at most %zu): %s", len,
                    sizeof un->sun_path - 1, path);
        return FALSE;
    }
    memset(a, 0, sizeof *a);
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, len + 1);
    a->len = (socklen_t)(G_STRUCT_OFFSET(struct sockaddr_un, sun_path) + len + 1);
    return TRUE;
}

static void
ipc_dial(CamasPipe *pipe, const CamasAddress *address, const CamasTransportOptions *options)
{
    GError *error = NULL;
    CamasSockAddr a;
    if (!make_addr(address->path, &a, &error)) {
        camas__pipe_dial_fail_soon(pipe, error);
        g_error_free(error);
        return;
    }
    GArray *addrs = g_array_new(FALSE, FALSE, sizeof(CamasSockAddr));
    g_array_append_val(addrs, a);
    camas__socket_dial(pipe, addrs, options, NULL, FALSE);
}

/* Does a server accept connections at @a?  (A Unix connect never waits.) */
static gboolean
socket_alive(const CamasSockAddr *a)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return TRUE; /* cannot tell: do not remove anything */
    int rc = connect(fd, (const struct sockaddr *)&a->sa, a->len);
    int errsv = errno;
    close(fd);
    return rc == 0 || errsv == EAGAIN; /* EAGAIN: alive, backlog full */
}

static gboolean
ipc_listen(CamasListener *listener, const CamasAddress *address,
           const CamasTransportOptions *options, GError **error)
{
    CamasSockAddr a;
    if (!make_addr(address->path, &a, error))
        return FALSE;
    g_autofree char *text = camas_address_to_string(address);
    struct stat st;
    if (lstat(address->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "cannot listen at %s: the path exists and is not a socket", text);
            return FALSE;
        }
        if (socket_alive(&a)) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "address %s in use", text);
            return FALSE;
        }
        /* A stale file left by a server that died: replace it (as asyncio does). */
        unlink(address->path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (const struct sockaddr *)&a.sa, a.len) < 0 ||
        listen(fd, options->backlog) < 0) {
        int errsv = errno;
        if (fd >= 0)
            close(fd);
        if (errsv == EADDRINUSE)
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "address %s in use", text);
        else
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "cannot listen at %s: %s",
                        text, g_strerror(errsv));
        return FALSE;
    }
    CamasSocketListener *sl = camas__listener_get_private(listener);
    struct stat bound;
    gboolean have_stat = fstat(fd, &bound) == 0 && lstat(address->path, &bound) == 0;
    if (!camas__socket_listener_start(listener, &fd, 1, FALSE, error)) {
        unlink(address->path);
        return FALSE;
    }
    if (have_stat) {
        sl->unlink_path = g_strdup(address->path);
        sl->unlink_dev = bound.st_dev;
        sl->unlink_ino = bound.st_ino;
    }
    return TRUE;
}

const CamasTransportClass camas__transport_ipc = {
    .name = "ipc",
    .kind = CAMAS_ADDRESS_IPC,
    .abi_version = CAMAS_TRANSPORT_ABI_VERSION,
    .pipe_size = sizeof(CamasSocket),
    .listener_size = sizeof(CamasSocketListener),
    .dial = ipc_dial,
    .listen = ipc_listen,
    .listener_close = camas__socket_listener_close,
    .start = camas__socket_start,
    .send = camas__socket_send,
    .set_reading = camas__socket_set_reading,
    .close = camas__socket_close,
    .send_chunk = camas__socket_send_chunk,
};
