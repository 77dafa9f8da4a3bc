/* SPDX-License-Identifier: MIT */
/*
 * The non-blocking fd stream under the tcp and ipc transports, with the TLS layer (tls.c)
 * folded in where it has to be: the handshake between connect and dial_done (or accept and
 * announce), encryption in send, decryption after read.  See socket-private.h for the shape:
 * readiness schedules loop events, the events read / accept / handshake and call the owner;
 * writes go straight to the kernel or are queued GBytes sent with sendmsg; close lingers
 * while it makes progress.
 *
 * Invariants worth knowing:
 *  - An fd is only watched for what we can act on (socket_rearm), and is removed from the
 *    poll set when that is nothing, so POLLHUP on an idle paused socket cannot spin.
 *  - Readiness is turned into loop events from the fd source's check, and those events run
 *    in the same GMainContext iteration (FdSource): one poll per message.  Reading stays
 *    watched while an io event is pending, so the poll set does not change per message.
 *  - The hot path makes no other system calls: a readable socket is read once (a short read
 *    means it is drained), and the first send after a poll goes straight to the kernel when
 *    nothing is queued (direct_ok); GLib never has to wake itself up.
 *  - Every loop event holds a pipe reference (released by its destroy notify, also when it
 *    is cancelled), and a lingering socket holds one until it is done.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "socket-private.h"

#define READ_BUFFER_SIZE (256 * 1024)
#define IOV_BATCH 64
#define ACCEPT_BATCH 256
#define ACCEPT_BACKOFF_MS 100
/* A lingering socket gives up (resets) after this long without progress: no byte flushed
 * and none of the peer's read (camas__socket_set_linger_idle_ms changes it for tests). */
#define LINGER_IDLE_MS 10000
#define LINGER_DISCARD_READS 16
/* Chunk rests up to this size are copied when queued (the chunk keeps its pooled array). */
#define CHUNK_COPY_MAX (16 * 1024)

/* --- fd sources ---------------------------------------------------------------------------- */

typedef void (*FdFunc)(gpointer owner, GIOCondition cond, guint index);

/*
 * A GSource with (at most) one fd, calling @func with the ready conditions.
 *
 * The fd is handed to GLib with g_source_add_poll() (our GPollFD) rather than
 * g_source_add_unix_fd(), and @func runs from the source's *check*, right after the poll:
 * it only schedules loop events.  The loop's own GSource (camas_loop_attach) has a lower
 * priority (G_PRIORITY_DEFAULT against our FD_PRIORITY), so GLib checks it after us, finds
 * the events just scheduled due, and dispatches it in the same iteration: a readable socket
 * is read, handled and answered within one poll.  (With g_source_add_unix_fd GLib would mark
 * the source ready by itself, and a ready source of higher priority keeps lower ones from
 * being dispatched in that iteration; with equal priorities the loop's source, attached
 * first, is checked first — either way the event would wait for another poll.)  Our check
 * never returns TRUE, so we never hold other sources back, except @dispatch_only sources
 * (lingering sockets, which must not use the loop): they are ready on any condition and
 * call @func from dispatch.
 *
 * Watch changes: events between non-zero masks are changed in place (GLib reads them at
 * every query; we only run on the context's thread, never during its poll); an fd without
 * interest leaves the poll set (an fd with events 0 would still report POLLHUP).
 */
#define FD_PRIORITY (G_PRIORITY_DEFAULT - 1)

typedef struct {
    GSource source;
    FdFunc func;
    gpointer owner;
    guint index;
    GPollFD pfd;            /* our poll record: fd, events asked for, revents from the poll */
    gboolean added;         /* pfd is in the poll set */
    gboolean dispatch_only; /* call @func from dispatch, not check */
    gboolean fresh_poll;    /* polled since the owner last took this (fd_take_fresh_poll) */
    void (*gone)(gpointer owner); /* the context destroyed the source (fd_set_gone), or NULL */
} FdSource;

static gboolean
fd_check(GSource *source)
{
    FdSource *fs = (FdSource *)source;
    fs->fresh_poll = TRUE;
    GIOCondition cond = fs->added ? fs->pfd.revents : 0;
    if (cond == 0)
        return FALSE;
    if (fs->dispatch_only)
        return TRUE; /* revents stays for dispatch */
    fs->pfd.revents = 0;
    fs->func(fs->owner, cond, fs->index);
    return FALSE;
}

static gboolean
fd_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    FdSource *fs = (FdSource *)source;
    GIOCondition cond = fs->added ? fs->pfd.revents : 0;
    fs->pfd.revents = 0;
    if (cond)
        fs->func(fs->owner, cond, fs->index);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs fd_source_funcs = {
    .check = fd_check,
    .dispatch = fd_dispatch,
};

/* Never called (fd_dispatch does not use the callback); the callback exists for its destroy
 * notify, which GLib calls when the source is destroyed — by us, or by the context going away
 * (the last g_main_context_unref destroys every source left in it). */
static gboolean
fd_unused_callback(gpointer data)
{
    return G_SOURCE_CONTINUE;
}

static void
fd_destroyed(gpointer data)
{
    FdSource *fs = data;
    void (*gone)(gpointer) = fs->gone;
    fs->gone = NULL;
    if (gone)
        gone(fs->owner);
}

static GSource *
fd_source_new(GMainContext *context, FdFunc func, gpointer owner, guint index)
{
    GSource *source = g_source_new(&fd_source_funcs, sizeof(FdSource));
    FdSource *fs = (FdSource *)source;
    fs->func = func;
    fs->owner = owner;
    fs->index = index;
    fs->pfd.fd = -1;
    g_source_set_priority(source, FD_PRIORITY);
    /* GLib takes the fds of a source that cannot recurse out of the poll set for the time of
     * its dispatch and puts them back after (two wakeup-fd writes and a spurious wakeup).
     * Our dispatch never iterates the context, so recursion cannot happen. */
    g_source_set_can_recurse(source, TRUE);
    g_source_set_name(source, "camas-socket");
    g_source_set_callback(source, fd_unused_callback, fs, fd_destroyed);
    g_source_attach(source, context);
    return source;
}

/* Destroys and releases an fd source of ours (no `gone` call for that). */
static void
fd_source_clear(GSource **source)
{
    if (*source) {
        ((FdSource *)*source)->gone = NULL;
        g_source_destroy(*source);
        g_source_unref(*source);
        *source = NULL;
    }
}

static void
fd_watch(GSource *source, int fd, GIOCondition cond)
{
    FdSource *fs = (FdSource *)source;
    if (fs->added && (cond == 0 || fd != fs->pfd.fd)) {
        g_source_remove_poll(source, &fs->pfd);
        fs->added = FALSE;
    }
    if (cond == 0 || fd < 0)
        return;
    fs->pfd.events = (gushort)cond;
    if (!fs->added) {
        fs->pfd.fd = fd;
        fs->pfd.revents = 0;
        g_source_add_poll(source, &fs->pfd);
        fs->added = TRUE;
    }
}

/* TRUE once after each poll of the fd. */
static inline gboolean
fd_take_fresh_poll(GSource *source)
{
    FdSource *fs = (FdSource *)source;
    gboolean fresh = fs->fresh_poll;
    fs->fresh_poll = FALSE;
    return fresh;
}

/* From now on @func runs from dispatch, and @gone when the context destroys the source. */
static void
fd_set_lingering(GSource *source, void (*gone)(gpointer owner))
{
    FdSource *fs = (FdSource *)source;
    fs->dispatch_only = TRUE;
    fs->gone = gone;
}

static void
source_clear(GSource **source)
{
    if (*source) {
        g_source_destroy(*source);
        g_source_unref(*source);
        *source = NULL;
    }
}

/* Per-thread read buffers: [0] raw bytes from the fd, [1] TLS plaintext.  Lent to the owner
 * for the duration of `received`, which cannot re-enter a read. */
static GPrivate read_buffers = G_PRIVATE_INIT(g_free);

static guint8 *
read_buffer(guint which)
{
    guint8 *b = g_private_get(&read_buffers);
    if (b == NULL) {
        b = g_malloc(2 * READ_BUFFER_SIZE);
        g_private_set(&read_buffers, b);
    }
    return b + which * READ_BUFFER_SIZE;
}

/* --- helpers ------------------------------------------------------------------------------- */

GMainContext *
camas__socket_get_context(CamasLoop *loop, GError **error)
{
    GMainContext *context = camas_loop_get_context(loop);
    if (context == NULL)
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "socket transports need a loop attached to a GMainContext "
                    "(camas_loop_attach or a real-time clock)");
    return context;
}

char *
camas__sockaddr_to_peername(const struct sockaddr *sa, socklen_t len)
{
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        return g_strdup_printf("('%s', %u)", host, ntohs(in->sin_port));
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, INET6_ADDRSTRLEN);
        /* Python shows a scoped address as 'fe80::1%eth0' */
        char ifname[IF_NAMESIZE];
        if (in6->sin6_scope_id && if_indextoname(in6->sin6_scope_id, ifname)) {
            gsize n = strlen(host);
            g_snprintf(host + n, sizeof host - n, "%%%s", ifname);
        }
        return g_strdup_printf("('%s', %u, %u, %u)", host, ntohs(in6->sin6_port),
                               (guint)ntohl(in6->sin6_flowinfo), (guint)in6->sin6_scope_id);
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        gsize off = G_STRUCT_OFFSET(struct sockaddr_un, sun_path);
        if (len <= off || un->sun_path[0] == '\0')
            return g_strdup(""); /* unnamed (a connecting client) or abstract */
        return g_strndup(un->sun_path, MIN((gsize)len - off, sizeof un->sun_path));
    }
    default:
        return g_strdup_printf("<address family %d>", sa->sa_family);
    }
}

CamasErrorCode
camas__socket_connect_error_code(int errsv)
{
    switch (errsv) {
    case ECONNREFUSED:
    case ENOENT:       /* Unix socket file missing */
    case EAGAIN:       /* Unix socket backlog full */
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EADDRNOTAVAIL:
    case ECONNRESET:
        return CAMAS_ERROR_CONNECTION_REFUSED;
    case ETIMEDOUT:
        return CAMAS_ERROR_TIMED_OUT;
    default:
        return CAMAS_ERROR_FAILED;
    }
}

static inline CamasSocket *
sk(CamasPipe *pipe)
{
    return camas__pipe_get_private(pipe);
}

static void
unref_notify(gpointer pipe)
{
    camas__pipe_unref(pipe);
}

static const char *
peer(CamasSocket *s)
{
    const char *p = camas__pipe_get_peername(s->pipe);
    return p[0] ? p : "a Unix socket client";
}

static void socket_rearm(CamasSocket *s);
static void socket_fail(CamasSocket *s, const GError *error);
static void linger_progress(CamasSocket *s);
static void linger_finish(CamasSocket *s);
static void linger_check_idle(CamasSocket *s);

static void
drop_queue(CamasSocket *s)
{
    GBytes *b;
    while ((b = g_queue_pop_head(&s->wq)) != NULL)
        g_bytes_unref(b);
    s->wq_offset = 0;
    s->queued = 0;
}

static void drop_lookup(CamasSocket *s);

/* Closes the fd and frees what the socket holds (not the pipe). */
static void
teardown(CamasSocket *s)
{
    drop_lookup(s); /* a name still being resolved: the result is dropped when it comes */
    fd_source_clear(&s->source);
    source_clear(&s->timer);
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    g_clear_pointer(&s->tls, camas__tls_session_free);
    drop_queue(s);
    g_clear_pointer(&s->addrs, g_array_unref);
    g_clear_error(&s->dial_error);
    g_clear_error(&s->fail_error);
    s->phase = CAMAS_SOCKET_DEAD;
}

/* --- writing ------------------------------------------------------------------------------- */

/* Hands as much of the queue to the kernel as it takes.  FALSE with @error when the
 * connection is gone (the queue is dropped then). */
static gboolean
socket_write(CamasSocket *s, GError **error)
{
    gsize before = s->queued;
    while (s->queued > 0) {
        struct iovec iov[IOV_BATCH];
        int n = 0;
        gsize off = s->wq_offset;
        for (GList *l = s->wq.head; l && n < IOV_BATCH; l = l->next, off = 0) {
            gsize len;
            const guint8 *data = g_bytes_get_data(l->data, &len);
            iov[n].iov_base = (void *)(data + off);
            iov[n].iov_len = len - off;
            n++;
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        /* MSG_NOSIGNAL: a peer that went away is an error to report, not SIGPIPE. */
        ssize_t w = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            int errsv = errno;
            if (errsv == EINTR)
                continue;
            if (errsv == EAGAIN || errsv == EWOULDBLOCK)
                break;
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED, "connection to %s lost: %s",
                        peer(s), g_strerror(errsv));
            drop_queue(s);
            camas__pipe_update_write_queued(s->pipe, 0);
            return FALSE;
        }
        gsize done = (gsize)w;
        s->queued -= done;
        while (done > 0) {
            gsize len = g_bytes_get_size(s->wq.head->data) - s->wq_offset;
            if (done < len) {
                s->wq_offset += done;
                break;
            }
            done -= len;
            g_bytes_unref(g_queue_pop_head(&s->wq));
            s->wq_offset = 0;
        }
    }
    if (s->queued != before)
        camas__pipe_update_write_queued(s->pipe, s->queued);
    return TRUE;
}

static void
enqueue(CamasSocket *s, GBytes *bytes)
{
    s->queued += g_bytes_get_size(bytes);
    g_queue_push_tail(&s->wq, bytes);
}

/* Moves the TLS session's ciphertext to the write queue. */
static void
enqueue_tls_output(CamasSocket *s)
{
    GBytes *out;
    while (s->tls && (out = camas__tls_session_take_output(s->tls)) != NULL)
        enqueue(s, out);
}

static void
fail_event(CamasLoop *loop, gpointer data)
{
    CamasSocket *s = sk(data);
    s->fail_event = CAMAS_EVENT_ID_NONE;
    g_autoptr(GError) error = g_steal_pointer(&s->fail_error);
    socket_fail(s, error);
}

/* Reports @error from an event (for failures found outside one, or before there is anything
 * to wait on).  The first failure wins. */
static void
fail_soon(CamasSocket *s, GError *error)
{
    if (s->failed || s->fail_error) {
        g_error_free(error);
        return;
    }
    s->fail_error = error;
    s->fail_event = camas_loop_call_soon_full(s->loop, fail_event, camas__pipe_ref(s->pipe),
                                              unref_notify);
    socket_rearm(s);
}

/* Writes now when possible; a failure is reported from an event. */
static void
write_or_fail_soon(CamasSocket *s)
{
    GError *error = NULL;
    if (!socket_write(s, &error))
        fail_soon(s, error);
}

static void
flush_event(CamasLoop *loop, gpointer data)
{
    CamasSocket *s = sk(data);
    s->flush_event = CAMAS_EVENT_ID_NONE;
    if (s->phase != CAMAS_SOCKET_OPEN && s->phase != CAMAS_SOCKET_HANDSHAKING)
        return;
    if (!s->failed)
        write_or_fail_soon(s);
    socket_rearm(s);
}

/* Schedules @func for the pipe unless the event @id names is already pending; the event holds
 * a pipe reference. */
static void
schedule_once(CamasSocket *s, CamasEventId *id, CamasEventFunc func)
{
    if (camas_event_id_is_none(*id))
        *id = camas_loop_call_soon_full(s->loop, func, camas__pipe_ref(s->pipe), unref_notify);
}

static void
schedule_flush(CamasSocket *s)
{
    schedule_once(s, &s->flush_event, flush_event);
}

/* May this send go to the kernel at once?  Yes when nothing is queued before it, it is made
 * from a loop event, nothing else is due to run before the context polls again, and it is
 * the first since the last poll of this socket: a lone request or reply then costs one send()
 * and no event, and goes out before the sender blocks.  Otherwise it is queued and leaves with
 * the others in one sendmsg from the flush event, which runs after everything due: a burst —
 * one read delivering many replies, each completing a future whose callback (an event of its
 * own) sends the next request — stays one system call instead of one per message, and the
 * peer is woken once for it.  Sends made outside events (setting up, or a program's own code)
 * are all gathered for the flush event. */
static gboolean
direct_ok(CamasSocket *s)
{
    if (s->queued != 0 || camas_loop_get_current_seq(s->loop) == 0)
        return FALSE;
    gint64 next;
    if (camas_loop_next_time(s->loop, &next) && next <= camas_loop_now(s->loop))
        return FALSE;
    return fd_take_fresh_poll(s->source);
}

/* One send() of @data with an empty queue: *@done is what the kernel took.  FALSE when the
 * connection is gone (reported from an event). */
static gboolean
write_direct(CamasSocket *s, const guint8 *data, gsize len, gsize *done)
{
    *done = 0;
    for (;;) {
        ssize_t w = send(s->fd, data, len, MSG_NOSIGNAL);
        if (w >= 0) {
            *done = (gsize)w;
            return TRUE;
        }
        int errsv = errno;
        if (errsv == EINTR)
            continue;
        if (errsv == EAGAIN || errsv == EWOULDBLOCK)
            return TRUE;
        fail_soon(s, g_error_new(CAMAS_ERROR, CAMAS_ERROR_CLOSED, "connection to %s lost: %s",
                                 peer(s), g_strerror(errsv)));
        return FALSE;
    }
}

/* Bytes were queued by a send: tell the core, and get them out — when the kernel refused part
 * of a direct write, by watching for writability; otherwise from the burst's flush event. */
static void
queued_by_send(CamasSocket *s, gboolean tried_direct)
{
    camas__pipe_update_write_queued(s->pipe, s->queued);
    if (tried_direct)
        socket_rearm(s);
    else
        schedule_flush(s);
}

static void
send_tls(CamasSocket *s, const guint8 *data, gsize len)
{
    GError *tls_error = NULL;
    if (!camas__tls_session_write(s->tls, data, len, &tls_error)) {
        fail_soon(s, tls_error);
        return;
    }
    gboolean direct = direct_ok(s);
    enqueue_tls_output(s);
    if (direct) {
        write_or_fail_soon(s);
        if (s->queued == 0 || s->failed || s->fail_error)
            return;
    }
    queued_by_send(s, direct);
}

static inline gboolean
send_refused(CamasSocket *s)
{
    return s->failed || s->fail_error || s->phase != CAMAS_SOCKET_OPEN;
}

gboolean
camas__socket_send(CamasPipe *pipe, GBytes *bytes, GError **error)
{
    CamasSocket *s = sk(pipe);
    if (send_refused(s))
        return TRUE; /* the failure is on its way to the owner */
    gsize len;
    const guint8 *data = g_bytes_get_data(bytes, &len);
    if (s->tls) {
        send_tls(s, data, len);
        return TRUE;
    }
    gboolean direct = direct_ok(s);
    gsize done = 0;
    if (direct && (!write_direct(s, data, len, &done) || done == len))
        return TRUE;
    enqueue(s, done ? g_bytes_new_from_bytes(bytes, done, len - done) : g_bytes_ref(bytes));
    queued_by_send(s, direct);
    return TRUE;
}

/* What is left of @chunk from @offset on, as GBytes (the chunk is consumed).  A small rest is
 * copied so that the chunk keeps its array for the pool (as the transport core does); a large
 * one takes the array's memory over. */
static GBytes *
chunk_steal_rest(CamasChunk *chunk, gsize offset)
{
    gsize len;
    const guint8 *data = camas__chunk_get_data(chunk, &len);
    GBytes *rest;
    if (chunk->bytes) {
        GBytes *whole = g_steal_pointer(&chunk->bytes);
        rest = g_bytes_new_from_bytes(whole, offset, len - offset);
        g_bytes_unref(whole);
    } else if (len - offset <= CHUNK_COPY_MAX) {
        rest = g_bytes_new(data + offset, len - offset);
    } else {
        GBytes *whole = g_byte_array_free_to_bytes(g_steal_pointer(&chunk->array));
        rest = g_bytes_new_from_bytes(whole, offset, len - offset);
        g_bytes_unref(whole);
    }
    camas__chunk_release(chunk);
    return rest;
}

gboolean
camas__socket_send_chunk(CamasPipe *pipe, CamasChunk *chunk, GError **error)
{
    CamasSocket *s = sk(pipe);
    if (send_refused(s)) {
        camas__chunk_release(chunk);
        return TRUE;
    }
    gsize len;
    const guint8 *data = camas__chunk_get_data(chunk, &len);
    if (s->tls) {
        send_tls(s, data, len);
        camas__chunk_release(chunk);
        return TRUE;
    }
    /* The chunk's own memory goes to the kernel: no GBytes, no queue node when it all fits. */
    gboolean direct = direct_ok(s);
    gsize done = 0;
    if (direct && (!write_direct(s, data, len, &done) || done == len)) {
        camas__chunk_release(chunk);
        return TRUE;
    }
    enqueue(s, chunk_steal_rest(chunk, done));
    queued_by_send(s, direct);
    return TRUE;
}

/* --- watching ------------------------------------------------------------------------------ */

static void
socket_rearm(CamasSocket *s)
{
    if (s->source == NULL)
        return;
    GIOCondition want = 0;
    gboolean idle = camas_event_id_is_none(s->io_event);
    gboolean ok = !s->failed && s->fail_error == NULL;
    switch (s->phase) {
    case CAMAS_SOCKET_CONNECTING:
        if (idle && ok && s->fd >= 0)
            want = G_IO_OUT;
        break;
    case CAMAS_SOCKET_HANDSHAKING:
        if (ok)
            want |= G_IO_IN;
        if (s->queued && ok)
            want |= G_IO_OUT;
        break;
    case CAMAS_SOCKET_OPEN:
        /* Reading stays watched while an io event is pending (it runs before the context polls
         * again, see the file comment): the poll set does not change on every message. */
        if (ok && s->started && s->reading && !s->eof)
            want |= G_IO_IN;
        if (s->queued && ok)
            want |= G_IO_OUT;
        break;
    case CAMAS_SOCKET_LINGERING:
        if (s->queued)
            want |= G_IO_OUT;
        if (!s->eof)
            want |= G_IO_IN;
        break;
    default:
        break;
    }
    fd_watch(s->source, s->fd, want);
}

static void io_event(CamasLoop *loop, gpointer data);

static void
schedule_io(CamasSocket *s)
{
    schedule_once(s, &s->io_event, io_event);
}

static void
linger_io(CamasSocket *s, GIOCondition cond)
{
    if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) {
        /* Discard what the peer still sends; its end lets us close without a reset. */
        guint8 *buf = read_buffer(0);
        for (int i = 0; i < LINGER_DISCARD_READS && !s->eof; i++) {
            ssize_t n = recv(s->fd, buf, READ_BUFFER_SIZE, 0);
            if (n > 0) {
                s->linger_active_us = g_get_monotonic_time();
                continue;
            }
            if (n == 0) {
                s->eof = TRUE;
                break;
            }
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            linger_finish(s); /* reset: nothing more can be delivered */
            return;
        }
    }
    linger_progress(s);
}

static void
socket_on_fd(gpointer owner, GIOCondition cond, guint index)
{
    CamasSocket *s = owner;
    /* From the source's check (see FdSource): schedule only; the events run in this
     * iteration and re-arm the watch. */
    switch (s->phase) {
    case CAMAS_SOCKET_CONNECTING:
        schedule_io(s);
        break;
    case CAMAS_SOCKET_HANDSHAKING:
    case CAMAS_SOCKET_OPEN:
        if ((cond & G_IO_OUT) && s->queued && !s->failed)
            schedule_flush(s);
        if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR))
            schedule_io(s);
        break;
    case CAMAS_SOCKET_LINGERING:
        /* From dispatch: a lingering socket does not use the loop. */
        linger_io(s, cond); /* may finish the socket: touch nothing after */
        break;
    default:
        break;
    }
}

/* --- connecting ---------------------------------------------------------------------------- */

static void
set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void
set_peername_from(CamasSocket *s, const CamasSockAddr *a)
{
    g_autofree char *name = camas__sockaddr_to_peername((const struct sockaddr *)&a->sa, a->len);
    camas__pipe_set_peername(s->pipe, name);
}

static void
note_connect_error(CamasSocket *s, int errsv)
{
    /* Report the first address' failure: it is the one the user most likely meant. */
    if (s->dial_error == NULL)
        s->dial_error = g_error_new(CAMAS_ERROR, camas__socket_connect_error_code(errsv),
                                    "connecting to %s failed: %s", peer(s), g_strerror(errsv));
}

/* Tries the addresses from addr_index on, until one connects or is in progress. */
static void
connect_next(CamasSocket *s)
{
    while (s->addrs && s->addr_index < s->addrs->len) {
        const CamasSockAddr *a = &g_array_index(s->addrs, CamasSockAddr, s->addr_index);
        set_peername_from(s, a);
        int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            note_connect_error(s, errno);
            s->addr_index++;
            continue;
        }
        if (connect(fd, (const struct sockaddr *)&a->sa, a->len) == 0 || errno == EINPROGRESS) {
            s->fd = fd;
            socket_rearm(s); /* writable = connected (or failed: SO_ERROR tells) */
            return;
        }
        note_connect_error(s, errno);
        close(fd);
        s->addr_index++;
    }
    fail_soon(s, s->dial_error ? g_steal_pointer(&s->dial_error)
                               : g_error_new(CAMAS_ERROR, CAMAS_ERROR_INVALID,
                                             "no address to connect to"));
}

static void
handshake_timeout_fired(CamasSocket *s)
{
    fail_soon(s, g_error_new(CAMAS_ERROR, CAMAS_ERROR_TIMED_OUT,
                             "TLS handshake with %s did not finish within %u ms", peer(s),
                             s->handshake_timeout_ms));
}

static gboolean
timer_cb(gpointer data)
{
    CamasSocket *s = data;
    GSource *t = g_steal_pointer(&s->timer);
    if (s->phase == CAMAS_SOCKET_HANDSHAKING)
        handshake_timeout_fired(s);
    else if (s->phase == CAMAS_SOCKET_LINGERING)
        linger_check_idle(s); /* may finish the socket */
    g_source_unref(t);
    return G_SOURCE_REMOVE;
}

static void
start_timer(CamasSocket *s, guint ms)
{
    source_clear(&s->timer);
    s->timer = g_timeout_source_new(ms);
    g_source_set_callback(s->timer, timer_cb, s, NULL);
    g_source_set_name(s->timer, "camas-socket-timer");
    g_source_attach(s->timer, ((GSource *)s->source)->context);
}

static void handshake_step(CamasSocket *s);

/* A TLS session came up: the pipe goes to its owner. */
static void
established(CamasSocket *s)
{
    source_clear(&s->timer);
    s->phase = CAMAS_SOCKET_OPEN;
    camas__pipe_set_tls_info(s->pipe, camas__tls_session_get_version(s->tls),
                             camas__tls_session_get_cipher(s->tls));
    if (s->owner) {
        CamasSocketListener *sl = g_steal_pointer(&s->owner);
        g_queue_remove(&sl->handshaking, s->pipe);
        camas__listener_accepted(sl->listener, s->pipe);
    } else {
        camas__pipe_dial_done(s->pipe, NULL);
    }
}

static void
handshake_step(CamasSocket *s)
{
    GError *error = NULL;
    gboolean done = camas__tls_session_handshake(s->tls, &error);
    /* Send what OpenSSL produced, also on failure: the alert tells the peer why. */
    enqueue_tls_output(s);
    GError *werror = NULL;
    if (!socket_write(s, &werror) && error == NULL)
        error = werror;
    else
        g_clear_error(&werror);
    if (error) {
        g_prefix_error(&error, "%s %s: ", s->owner ? "accepting from" : "connecting to",
                       peer(s));
        socket_fail(s, error);
        g_error_free(error);
        return;
    }
    if (done)
        established(s);
}

static void
connect_finish(CamasSocket *s)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0) {
        /* A writable socket can still be unconnected (spurious wakeup): ask the peer. */
        CamasSockAddr a = {.len = sizeof a.sa};
        if (getpeername(s->fd, (struct sockaddr *)&a.sa, &a.len) < 0) {
            if (errno == ENOTCONN) {
                socket_rearm(s);
                return;
            }
            err = errno;
        }
    }
    if (err != 0) {
        note_connect_error(s, err);
        fd_watch(s->source, -1, 0);
        close(s->fd);
        s->fd = -1;
        s->addr_index++;
        connect_next(s);
        return;
    }
    g_clear_pointer(&s->addrs, g_array_unref);
    g_clear_error(&s->dial_error);
    if (s->nodelay)
        set_nodelay(s->fd);
    if (s->tls) {
        s->phase = CAMAS_SOCKET_HANDSHAKING;
        start_timer(s, s->handshake_timeout_ms);
        handshake_step(s);
        return;
    }
    s->phase = CAMAS_SOCKET_OPEN;
    camas__pipe_dial_done(s->pipe, NULL);
}

/* --- reading ------------------------------------------------------------------------------- */

static gboolean
delivering(CamasSocket *s)
{
    return s->phase == CAMAS_SOCKET_OPEN && s->started && s->reading && !s->eof && !s->failed;
}

/* One read.  Returns the byte count, 0 at the peer's end, -1 when nothing is there, -2 after
 * reporting a failure. */
static gssize
read_once(CamasSocket *s, guint8 *buf)
{
    for (;;) {
        ssize_t n = recv(s->fd, buf, READ_BUFFER_SIZE, 0);
        if (n >= 0)
            return n;
        int errsv = errno;
        if (errsv == EINTR)
            continue;
        if (errsv == EAGAIN || errsv == EWOULDBLOCK)
            return -1;
        g_autoptr(GError) error = g_error_new(CAMAS_ERROR, CAMAS_ERROR_CLOSED,
                                              "connection to %s lost: %s", peer(s),
                                              g_strerror(errsv));
        socket_fail(s, error);
        return -2;
    }
}

/* Decrypts and delivers what the TLS session holds, while the owner reads. */
static void
tls_drain(CamasSocket *s)
{
    guint8 *plain = read_buffer(1);
    while (delivering(s)) {
        g_autoptr(GError) error = NULL;
        gssize n = camas__tls_session_read(s->tls, plain, READ_BUFFER_SIZE, &error);
        enqueue_tls_output(s); /* post-handshake messages may need answers */
        if (n > 0) {
            camas__pipe_deliver(s->pipe, plain, (gsize)n);
            continue;
        }
        if (n == -1) {
            s->eof = TRUE;
            camas__pipe_deliver_closed(s->pipe, NULL);
        } else if (n == -2) {
            g_prefix_error(&error, "connection to %s: ", peer(s));
            socket_fail(s, error);
        }
        break;
    }
    if (s->phase == CAMAS_SOCKET_OPEN && s->queued && !s->failed)
        write_or_fail_soon(s);
}

static void
read_open(CamasSocket *s)
{
    if (s->tls)
        tls_drain(s);
    if (!delivering(s))
        return;
    guint8 *buf = read_buffer(0);
    gssize n = read_once(s, buf);
    if (n == -1 || n == -2)
        return;
    if (n == 0) {
        /* The peer's end.  For TLS without close_notify too: aiomas frames are
         * self-delimiting, and peers that just close are common. */
        s->eof = TRUE;
        camas__pipe_deliver_closed(s->pipe, NULL);
        return;
    }
    if (s->tls) {
        camas__tls_session_feed(s->tls, buf, (gsize)n);
        tls_drain(s);
    } else {
        camas__pipe_deliver(s->pipe, buf, (gsize)n);
    }
}

static void
read_handshake(CamasSocket *s)
{
    guint8 *buf = read_buffer(0);
    gssize n = read_once(s, buf);
    if (n == -1 || n == -2)
        return;
    if (n == 0) {
        g_autoptr(GError) error =
            g_error_new(CAMAS_ERROR, CAMAS_ERROR_PROTOCOL,
                        "%s %s: TLS handshake failed: the peer closed the connection",
                        s->owner ? "accepting from" : "connecting to", peer(s));
        socket_fail(s, error);
        return;
    }
    camas__tls_session_feed(s->tls, buf, (gsize)n);
    handshake_step(s);
}

static void
io_event(CamasLoop *loop, gpointer data)
{
    CamasSocket *s = sk(data);
    s->io_event = CAMAS_EVENT_ID_NONE;
    if (s->failed || s->fail_error)
        return; /* a failure found first (a write's reset) is reported, not a later end */
    switch (s->phase) {
    case CAMAS_SOCKET_CONNECTING:
        connect_finish(s);
        break;
    case CAMAS_SOCKET_HANDSHAKING:
        read_handshake(s);
        break;
    case CAMAS_SOCKET_OPEN:
        read_open(s);
        break;
    default:
        return;
    }
    /* The owner may have closed meanwhile (the socket lingers then: it watches itself). */
    if (s->phase != CAMAS_SOCKET_LINGERING && s->phase != CAMAS_SOCKET_DEAD)
        socket_rearm(s);
}

/* Reports a failure; from a loop event. */
static void
socket_fail(CamasSocket *s, const GError *error)
{
    if (s->failed)
        return;
    s->failed = TRUE;
    switch (s->phase) {
    case CAMAS_SOCKET_NONE:
    case CAMAS_SOCKET_RESOLVING:
    case CAMAS_SOCKET_CONNECTING:
    case CAMAS_SOCKET_HANDSHAKING:
        if (s->owner) {
            CamasSocketListener *sl = g_steal_pointer(&s->owner);
            g_queue_remove(&sl->handshaking, s->pipe);
            camas__listener_accept_failed(sl->listener, s->pipe, error);
        } else {
            camas__pipe_dial_done(s->pipe, error);
        }
        break;
    case CAMAS_SOCKET_OPEN:
        camas__pipe_deliver_closed(s->pipe, error);
        socket_rearm(s);
        break;
    default:
        break;
    }
}

/* --- the pipe ops -------------------------------------------------------------------------- */

static void
socket_init(CamasSocket *s, CamasPipe *pipe, GMainContext *context)
{
    s->pipe = pipe;
    s->loop = camas__pipe_get_loop(pipe);
    s->fd = -1;
    g_queue_init(&s->wq);
    s->source = fd_source_new(context, socket_on_fd, s, 0);
}

/* Sets a dialing pipe up in @phase (context, fd source, TLS session).  FALSE when that failed:
 * the failure is reported from an event. */
static gboolean
dial_setup(CamasPipe *pipe, CamasSocketPhase phase, const CamasTransportOptions *options,
           const char *tls_name, gboolean nodelay)
{
    CamasSocket *s = sk(pipe);
    GError *error = NULL;
    GMainContext *context = camas__socket_get_context(camas__pipe_get_loop(pipe), &error);
    if (context == NULL) {
        camas__pipe_dial_fail_soon(pipe, error);
        g_error_free(error);
        return FALSE;
    }
    socket_init(s, pipe, context);
    s->phase = phase;
    s->nodelay = nodelay;
    s->handshake_timeout_ms = options->handshake_timeout_ms;
    if (options->tls) {
        s->tls = camas__tls_session_new(options->tls, tls_name, &error);
        if (s->tls == NULL) {
            fail_soon(s, error);
            return FALSE;
        }
    }
    return TRUE;
}

void
camas__socket_dial(CamasPipe *pipe, GArray *addrs, const CamasTransportOptions *options,
                   const char *tls_name, gboolean nodelay)
{
    if (!dial_setup(pipe, CAMAS_SOCKET_CONNECTING, options, tls_name, nodelay)) {
        g_array_unref(addrs);
        return;
    }
    CamasSocket *s = sk(pipe);
    s->addrs = addrs;
    connect_next(s);
}

gboolean
camas__socket_dial_resolving(CamasPipe *pipe, const CamasTransportOptions *options,
                             const char *tls_name, gpointer lookup, GDestroyNotify drop)
{
    if (!dial_setup(pipe, CAMAS_SOCKET_RESOLVING, options, tls_name, TRUE)) {
        drop(lookup);
        return FALSE;
    }
    CamasSocket *s = sk(pipe);
    s->lookup = lookup;
    s->lookup_drop = drop;
    return TRUE;
}

static void
drop_lookup(CamasSocket *s)
{
    GDestroyNotify drop = g_steal_pointer(&s->lookup_drop);
    if (drop)
        drop(g_steal_pointer(&s->lookup));
}

void
camas__socket_dial_resolved(CamasPipe *pipe, GArray *addrs, const GError *error)
{
    CamasSocket *s = sk(pipe);
    g_assert(s->phase == CAMAS_SOCKET_RESOLVING);
    drop_lookup(s);
    if (addrs == NULL) {
        fail_soon(s, g_error_copy(error));
        return;
    }
    s->phase = CAMAS_SOCKET_CONNECTING;
    s->addrs = addrs;
    connect_next(s);
}

void
camas__socket_start(CamasPipe *pipe)
{
    CamasSocket *s = sk(pipe);
    s->started = TRUE;
    s->reading = TRUE;
    /* TLS may hold decrypted-ready records that arrived with the handshake's last flight. */
    if (s->tls)
        schedule_io(s);
    socket_rearm(s);
}

void
camas__socket_set_reading(CamasPipe *pipe, gboolean reading)
{
    CamasSocket *s = sk(pipe);
    s->reading = reading;
    if (reading && s->tls)
        schedule_io(s);
    socket_rearm(s);
}

static void
linger_finish(CamasSocket *s)
{
    CamasPipe *pipe = s->pipe;
    teardown(s);
    camas__pipe_unref(pipe); /* the lingering reference; may free s */
}

/* The context went away (its last reference dropped) while the socket lingered: close now.
 * Bytes still queued here are lost; what the kernel holds still goes out. */
static void
linger_context_gone(gpointer owner)
{
    linger_finish(owner);
}

static guint linger_idle_ms = LINGER_IDLE_MS; /* atomic */

void
camas__socket_set_linger_idle_ms(guint ms)
{
    g_atomic_int_set(&linger_idle_ms, ms ? ms : LINGER_IDLE_MS);
}

/* Bytes the kernel still holds for the peer (sent and not acknowledged, or not sent). */
static int
kernel_outq(CamasSocket *s)
{
    int n = 0;
    return ioctl(s->fd, TIOCOUTQ, &n) == 0 ? n : 0;
}

/* The linger timer, every quarter of the limit: the peer taking bytes out of the kernel's
 * buffer counts as progress too (what we flushed may all be there already); give up after
 * linger_idle_ms without progress, with a reset (the peer stopped reading or never ends its
 * side; a reset tells it that bytes were lost). */
static void
linger_check_idle(CamasSocket *s)
{
    guint limit = (guint)g_atomic_int_get(&linger_idle_ms);
    gint64 now = g_get_monotonic_time();
    int outq = kernel_outq(s);
    if (outq < s->linger_outq)
        s->linger_active_us = now;
    s->linger_outq = outq;
    if ((now - s->linger_active_us) / 1000 < limit) {
        start_timer(s, MAX(limit / 4, 1));
        return;
    }
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    linger_finish(s);
}

static void
linger_progress(CamasSocket *s)
{
    if (s->queued) {
        gsize before = s->queued;
        if (!socket_write(s, NULL)) {
            linger_finish(s);
            return;
        }
        if (s->queued != before)
            s->linger_active_us = g_get_monotonic_time();
        if (s->queued) {
            socket_rearm(s);
            return;
        }
    }
    if (!s->shut_wr) {
        shutdown(s->fd, SHUT_WR);
        s->shut_wr = TRUE;
    }
    if (s->eof) {
        linger_finish(s);
        return;
    }
    socket_rearm(s);
}

void
camas__socket_close(CamasPipe *pipe)
{
    CamasSocket *s = sk(pipe);
    if (s->pipe == NULL)
        return; /* never set up */
    camas_loop_cancel(s->loop, s->io_event);
    camas_loop_cancel(s->loop, s->fail_event);
    camas_loop_cancel(s->loop, s->flush_event);
    s->io_event = s->fail_event = s->flush_event = CAMAS_EVENT_ID_NONE;
    g_clear_error(&s->fail_error);
    source_clear(&s->timer);
    gboolean connected = s->phase == CAMAS_SOCKET_OPEN || s->phase == CAMAS_SOCKET_HANDSHAKING;
    if (!connected || s->fd < 0) {
        teardown(s);
        return;
    }
    if (s->tls && camas__tls_session_is_established(s->tls) && !s->failed) {
        camas__tls_session_shutdown(s->tls);
        enqueue_tls_output(s);
    }
    /* Linger: flush, shut down our side, wait for the peer's end — while that makes progress
     * (LINGER_IDLE_MS), and only as long as the context lives. */
    s->phase = CAMAS_SOCKET_LINGERING;
    fd_set_lingering(s->source, linger_context_gone);
    camas__pipe_ref(pipe);
    s->linger_active_us = g_get_monotonic_time();
    s->linger_outq = kernel_outq(s);
    start_timer(s, MAX((guint)g_atomic_int_get(&linger_idle_ms) / 4, 1));
    linger_progress(s);
}

/* --- listening ----------------------------------------------------------------------------- */

static void listener_rearm(CamasSocketListener *sl);

static void
accept_one(CamasSocketListener *sl, int fd, const CamasSockAddr *from)
{
    CamasPipe *pipe = camas__pipe_new_accepted(sl->listener);
    CamasSocket *s = sk(pipe);
    socket_init(s, pipe, g_source_get_context(sl->sources[0]));
    s->fd = fd;
    s->nodelay = sl->nodelay;
    if (sl->nodelay)
        set_nodelay(fd);
    set_peername_from(s, from);
    if (sl->tls == NULL) {
        s->phase = CAMAS_SOCKET_OPEN;
        camas__listener_accepted(sl->listener, pipe);
        return;
    }
    /* TLS: the owner hears of the pipe once the handshake succeeded; failures go to the
     * listener's error func. */
    s->phase = CAMAS_SOCKET_HANDSHAKING;
    s->handshake_timeout_ms = sl->handshake_timeout_ms;
    GError *error = NULL;
    s->tls = camas__tls_session_new(sl->tls, NULL, &error);
    if (s->tls == NULL) {
        camas__listener_accept_failed(sl->listener, pipe, error);
        g_error_free(error);
        return;
    }
    s->owner = sl;
    g_queue_push_tail(&sl->handshaking, pipe);
    start_timer(s, s->handshake_timeout_ms);
    socket_rearm(s); /* wait for the ClientHello */
}

static gboolean
backoff_cb(gpointer data)
{
    CamasSocketListener *sl = data;
    GSource *b = g_steal_pointer(&sl->backoff);
    listener_rearm(sl);
    g_source_unref(b);
    return G_SOURCE_REMOVE;
}

static void
accept_event(CamasLoop *loop, gpointer data)
{
    CamasSocketListener *sl = data;
    sl->accept_event = CAMAS_EVENT_ID_NONE;
    gboolean destroyed = FALSE;
    sl->destroyed = &destroyed;
    for (guint i = 0; i < sl->n_fds; i++) {
        for (int k = 0; k < ACCEPT_BATCH; k++) {
            CamasSockAddr from = {.len = sizeof from.sa};
            int fd = accept4(sl->fds[i], (struct sockaddr *)&from.sa, &from.len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                int errsv = errno;
                if (errsv == EINTR || errsv == ECONNABORTED || errsv == EPROTO)
                    continue;
                if (errsv == EMFILE || errsv == ENFILE || errsv == ENOBUFS ||
                    errsv == ENOMEM) {
                    /* Out of fds: the pending connection stays in the backlog; retry
                     * shortly instead of spinning on a readable listening socket. */
                    g_debug("accepting: %s; pausing for %d ms", g_strerror(errsv),
                            ACCEPT_BACKOFF_MS);
                    if (sl->backoff == NULL) {
                        sl->backoff = g_timeout_source_new(ACCEPT_BACKOFF_MS);
                        g_source_set_callback(sl->backoff, backoff_cb, sl, NULL);
                        g_source_attach(sl->backoff, g_source_get_context(sl->sources[0]));
                    }
                } else if (errsv != EAGAIN && errsv != EWOULDBLOCK) {
                    g_debug("accepting: %s", g_strerror(errsv));
                }
                break;
            }
            accept_one(sl, fd, &from);
            if (destroyed)
                return; /* the owner closed the listener from its accept callback */
        }
    }
    sl->destroyed = NULL;
    listener_rearm(sl);
}

static void
listener_rearm(CamasSocketListener *sl)
{
    /* Watched also while an accept pass is pending (it runs in the same iteration as the
     * check that scheduled it); not while backing off from a lack of fds. */
    gboolean watch = sl->backoff == NULL;
    for (guint i = 0; i < sl->n_fds; i++)
        fd_watch(sl->sources[i], sl->fds[i], watch ? G_IO_IN : 0);
}

static void
listener_on_fd(gpointer owner, GIOCondition cond, guint index)
{
    CamasSocketListener *sl = owner;
    /* From the source's check: schedule only. */
    if (camas_event_id_is_none(sl->accept_event))
        sl->accept_event = camas_loop_call_soon(sl->loop, accept_event, sl);
}

gboolean
camas__socket_listener_start(CamasListener *listener, const int *fds, guint n_fds,
                             gboolean nodelay, GError **error)
{
    CamasSocketListener *sl = camas__listener_get_private(listener);
    g_assert(n_fds > 0 && n_fds <= G_N_ELEMENTS(sl->fds));
    GMainContext *context = camas__socket_get_context(camas__listener_get_loop(listener), error);
    if (context == NULL) {
        for (guint i = 0; i < n_fds; i++)
            close(fds[i]);
        return FALSE;
    }
    const CamasTransportOptions *options = camas__listener_get_options(listener);
    sl->listener = listener;
    sl->loop = camas__listener_get_loop(listener);
    sl->nodelay = nodelay;
    sl->tls = options->tls ? camas_tls_context_ref(options->tls) : NULL;
    sl->handshake_timeout_ms = options->handshake_timeout_ms;
    g_queue_init(&sl->handshaking);
    sl->n_fds = n_fds;
    for (guint i = 0; i < n_fds; i++) {
        sl->fds[i] = fds[i];
        sl->sources[i] = fd_source_new(context, listener_on_fd, sl, i);
    }
    listener_rearm(sl);
    return TRUE;
}

void
camas__socket_listener_close(CamasListener *listener)
{
    CamasSocketListener *sl = camas__listener_get_private(listener);
    if (sl->listener == NULL)
        return;
    if (sl->destroyed)
        *sl->destroyed = TRUE;
    camas_loop_cancel(sl->loop, sl->accept_event);
    source_clear(&sl->backoff);
    for (guint i = 0; i < sl->n_fds; i++) {
        fd_source_clear(&sl->sources[i]);
        close(sl->fds[i]);
    }
    CamasPipe *pipe;
    while ((pipe = g_queue_pop_head(&sl->handshaking)) != NULL) {
        sk(pipe)->owner = NULL;
        camas__pipe_discard(pipe);
    }
    g_clear_pointer(&sl->tls, camas_tls_context_unref);
    if (sl->unlink_path) {
        /* Remove the socket file only if it is still ours (not a successor's). */
        struct stat st;
        if (lstat(sl->unlink_path, &st) == 0 && st.st_dev == sl->unlink_dev &&
            st.st_ino == sl->unlink_ino)
            unlink(sl->unlink_path);
        g_clear_pointer(&sl->unlink_path, g_free);
    }
    sl->listener = NULL;
}
