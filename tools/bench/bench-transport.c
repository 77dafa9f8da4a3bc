/* SPDX-License-Identifier: MIT */
/*
 * Benchmarks of the transports (transports/) and their floors:
 *  - rpc.tcp.floor, rpc.unix.floor, rpc.tcp.floor.pinned: a raw C ping-pong over blocking
 *    sockets between two threads with the frames of the RPC benchmarks' call (bench-rpc.c:
 *    add(3, 4) with msgpack, 18 bytes out, 10 back, each with its 4-byte big-endian length
 *    header; one write each way, a frame read with as few reads as it takes), TCP_NODELAY on
 *    both ends, in round trips per second; ".pinned" runs both threads on CPU 0 (as
 *    `taskset -c 0` does for every entry).  rpc.{tcp,unix}.msgpack.seq run the same shape —
 *    client in the benchmark's thread, server in a thread of its own — and are measured
 *    against these.
 *  - transport.{local,tcp,unix}.pingpong: a 64-byte frame echoed through camas pipes
 *    (LocalQueue in virtual time; sockets with both ends on one GMainContext), i.e. what the
 *    transport layer adds.
 *  - tls.handshake: TLS handshakes per second over loopback through the tls:// transport with
 *    the aiomas context settings (mutual certificates, EC P-256 keys), connect to established
 *    on both ends; tls.handshake.floor: the same two OpenSSL sessions shuttling bytes in
 *    memory (the crypto alone).
 *  - tls.bulk.10mb / transport.tcp.bulk.10mb: MB/s (1e6 bytes) of one 10 MB message through a
 *    TLS / plain TCP pipe, send to last byte received.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../tests/certs.h"
#include "bench.h"
#include "live-private.h"
#include "socket-private.h"
#include "tls-private.h"
#include "transport-private.h"

#define FRAME 64
#define BULK_SIZE ((gsize)10 * 1000 * 1000)
/* The frames of bench-rpc.c's call with msgpack and a two-byte request id (ids 256..65535,
 * where those runs spend nearly all their calls): [0, id, ["add", [3, 4], {}]] is 14 bytes,
 * the reply [1, id, 7] 6, each after the 4-byte length header. */
#define FLOOR_REQUEST 18
#define FLOOR_REPLY 10

/* --- the raw floors ------------------------------------------------------------------------ */

static gboolean
write_full(int fd, const guint8 *buf, gsize len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        buf += n;
        len -= (gsize)n;
    }
    return TRUE;
}

/* Reads one frame (header and payload, at most @cap bytes) into @buf: one read() when it has
 * all arrived, as it has in a ping-pong.  Returns the payload length, or -1 at the end or on a
 * bad header. */
static gssize
read_frame(int fd, guint8 *buf, gsize cap)
{
    gsize have = 0, need = 4;
    while (have < need) {
        ssize_t n = read(fd, buf + have, cap - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        have += (gsize)n;
        if (need == 4 && have >= 4) {
            guint32 len;
            memcpy(&len, buf, 4);
            len = ntohl(len);
            if (len == 0 || len > cap - 4)
                return -1;
            need = 4 + len;
        }
    }
    return (gssize)(need - 4);
}

static void
frame_init(guint8 *frame, gsize size)
{
    memset(frame, 0, size);
    guint32 len = htonl((guint32)(size - 4));
    memcpy(frame, &len, 4);
}

static void
pin_to_cpu0(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof set, &set);
}

typedef struct {
    int fd;
    gboolean pin;
} Echo;

/* The server end: reads a request frame, answers with a reply frame; a zero header ends. */
static gpointer
echo_thread(gpointer data)
{
    Echo *e = data;
    if (e->pin)
        pin_to_cpu0();
    guint8 buf[FRAME];
    guint8 reply[FLOOR_REPLY];
    frame_init(reply, sizeof reply);
    while (read_frame(e->fd, buf, sizeof buf) >= 0 && write_full(e->fd, reply, sizeof reply))
        ;
    return NULL;
}

static void
floor_op(gpointer data, guint64 n)
{
    int fd = GPOINTER_TO_INT(data);
    guint8 request[FLOOR_REQUEST];
    frame_init(request, sizeof request);
    guint8 buf[FRAME];
    for (guint64 i = 0; i < n; i++) {
        if (!write_full(fd, request, sizeof request) || read_frame(fd, buf, sizeof buf) < 0)
            g_error("floor ping-pong: %s", g_strerror(errno));
    }
}

/* A connected pair: [0] for the measuring thread, [1] for the echo thread. */
static void
tcp_pair(int fds[2])
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &alen) < 0)
        g_error("tcp floor: %s", g_strerror(errno));
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fds[0], (struct sockaddr *)&a, sizeof a) < 0)
        g_error("tcp floor: %s", g_strerror(errno));
    fds[1] = accept(l, NULL, NULL);
    close(l);
    int one = 1;
    setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static double
run_floor(gboolean tcp, gboolean pin)
{
    int fds[2];
    if (tcp)
        tcp_pair(fds);
    else if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
        g_error("unix floor: %s", g_strerror(errno));
    cpu_set_t saved;
    sched_getaffinity(0, sizeof saved, &saved);
    Echo echo = {fds[1], pin};
    GThread *t = g_thread_new("echo", echo_thread, &echo);
    if (pin)
        pin_to_cpu0();
    double rate = camas_bench_rate(floor_op, GINT_TO_POINTER(fds[0]));
    if (pin)
        sched_setaffinity(0, sizeof saved, &saved);
    guint8 stop[4] = {0};
    write_full(fds[0], stop, 4);
    g_thread_join(t);
    close(fds[0]);
    close(fds[1]);
    return rate;
}

static double
bench_tcp_floor(void)
{
    return run_floor(TRUE, FALSE);
}

static double
bench_tcp_floor_pinned(void)
{
    return run_floor(TRUE, TRUE);
}

static double
bench_unix_floor(void)
{
    return run_floor(FALSE, FALSE);
}

/* --- camas pipes --------------------------------------------------------------------------- */

typedef struct {
    CamasLoop *loop;
    GMainContext *ctx; /* NULL: LocalQueue in virtual time */
    char *dir;
    CamasListener *listener;
    CamasPipe *client;
    CamasPipe *server;
    gboolean dial_done;
    gsize client_got;
    gsize server_got;
    gboolean echo;
    GBytes *frame;
    CamasTransportOptions server_opts;
    CamasTransportOptions client_opts;
    CamasTestCerts *certs;
} Rig;

static void
rig_iterate(Rig *r)
{
    if (r->ctx)
        g_main_context_iteration(r->ctx, TRUE);
    else if (!camas_loop_step(r->loop))
        g_error("bench: nothing left to run");
}

static void
server_received(CamasPipe *pipe, const guint8 *data, gsize len, gpointer user_data)
{
    Rig *r = user_data;
    r->server_got += len;
    if (r->echo) {
        g_autoptr(GBytes) b = g_bytes_new(data, len);
        camas__pipe_send(pipe, b, NULL);
    }
}

static void
client_received(CamasPipe *pipe, const guint8 *data, gsize len, gpointer user_data)
{
    Rig *r = user_data;
    r->client_got += len;
}

static void
pipe_closed(CamasPipe *pipe, const GError *error, gpointer user_data)
{
    g_error("bench: a pipe closed: %s", error ? error->message : "end of stream");
}

static const CamasPipeCallbacks server_callbacks = {server_received, pipe_closed, NULL};
static const CamasPipeCallbacks client_callbacks = {client_received, pipe_closed, NULL};

static void
rig_accept(CamasListener *listener, CamasPipe *pipe, gpointer user_data)
{
    Rig *r = user_data;
    r->server = pipe;
    camas__pipe_start(pipe, &server_callbacks, r);
}

static void
rig_dialed(CamasPipe *pipe, const GError *error, gpointer user_data)
{
    Rig *r = user_data;
    if (error)
        g_error("bench: dial: %s", error->message);
    r->client = pipe;
    r->dial_done = TRUE;
    camas__pipe_start(pipe, &client_callbacks, r);
}

static CamasTlsContext *
tls_context_or_die(const CamasTlsCerts *certs, gboolean server)
{
    g_autoptr(GError) error = NULL;
    CamasTlsContext *c = server ? camas_tls_context_new_server(certs, &error)
                                : camas_tls_context_new_client(certs, &error);
    if (c == NULL)
        g_error("bench: %s", error->message);
    return c;
}

/* A listener of the given kind ("local", "tcp", "unix", "tls"), not yet connected. */
static Rig *
rig_new(const char *kind)
{
    Rig *r = g_new0(Rig, 1);
    r->loop = camas_loop_new();
    g_autofree char *text = NULL;
    if (strcmp(kind, "local") == 0) {
        text = g_strdup("local://bench");
    } else {
        r->ctx = g_main_context_new();
        camas_loop_attach(r->loop, r->ctx);
        if (strcmp(kind, "unix") == 0) {
            r->dir = g_dir_make_tmp("camas-bench-XXXXXX", NULL);
            text = g_strdup_printf("ipc://[%s/s]", r->dir);
        } else {
            text = g_strdup_printf("%s://127.0.0.1:0", kind);
        }
    }
    if (strcmp(kind, "tls") == 0) {
        g_autoptr(GError) error = NULL;
        r->certs = camas_test_certs_new(&error);
        if (r->certs == NULL)
            g_error("bench: %s", error->message);
        CamasTlsCerts s = camas_test_certs_server(r->certs);
        CamasTlsCerts c = camas_test_certs_client(r->certs);
        r->server_opts.tls = tls_context_or_die(&s, TRUE);
        r->client_opts.tls = tls_context_or_die(&c, FALSE);
    }
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasAddress) address = camas_address_parse(text, &error);
    r->listener = camas__transport_listen(r->loop, address, &r->server_opts, rig_accept, r,
                                          &error);
    if (r->listener == NULL)
        g_error("bench: listen: %s", error->message);
    return r;
}

static void
rig_connect(Rig *r)
{
    r->dial_done = FALSE;
    r->server = NULL;
    camas__transport_dial(r->loop, camas__listener_get_address(r->listener), &r->client_opts,
                          rig_dialed, r);
    while (!r->dial_done || r->server == NULL)
        rig_iterate(r);
}

static void
rig_free(Rig *r)
{
    g_clear_pointer(&r->client, camas__pipe_close);
    g_clear_pointer(&r->server, camas__pipe_close);
    g_clear_pointer(&r->listener, camas__listener_close);
    /* Let closed sockets finish lingering before the loop goes. */
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (r->ctx && g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_PIPE]) > 0 &&
           g_get_monotonic_time() < deadline)
        g_main_context_iteration(r->ctx, FALSE);
    camas_loop_free(r->loop);
    if (r->ctx)
        g_main_context_unref(r->ctx);
    if (r->dir)
        rmdir(r->dir);
    g_free(r->dir);
    g_clear_pointer(&r->server_opts.tls, camas_tls_context_unref);
    g_clear_pointer(&r->client_opts.tls, camas_tls_context_unref);
    g_clear_pointer(&r->certs, camas_test_certs_free);
    g_clear_pointer(&r->frame, g_bytes_unref);
    g_free(r);
}

static void
pingpong_op(gpointer data, guint64 n)
{
    Rig *r = data;
    for (guint64 i = 0; i < n; i++) {
        gsize want = r->client_got + FRAME;
        camas__pipe_send(r->client, r->frame, NULL);
        while (r->client_got < want)
            rig_iterate(r);
    }
}

static double
run_pingpong(const char *kind)
{
    Rig *r = rig_new(kind);
    r->echo = TRUE;
    static guint8 frame[FRAME] = {0, 0, 0, FRAME - 4};
    r->frame = g_bytes_new_static(frame, sizeof frame);
    rig_connect(r);
    double rate = camas_bench_rate(pingpong_op, r);
    rig_free(r);
    return rate;
}

static double
bench_local_pingpong(void)
{
    return run_pingpong("local");
}

static double
bench_tcp_pingpong(void)
{
    return run_pingpong("tcp");
}

static double
bench_unix_pingpong(void)
{
    return run_pingpong("unix");
}

/* --- TLS ----------------------------------------------------------------------------------- */

static void
handshake_op(gpointer data, guint64 n)
{
    Rig *r = data;
    for (guint64 i = 0; i < n; i++) {
        rig_connect(r);
        g_clear_pointer(&r->client, camas__pipe_close);
        g_clear_pointer(&r->server, camas__pipe_close);
    }
}

static double
bench_tls_handshake(void)
{
    Rig *r = rig_new("tls");
    double rate = camas_bench_rate(handshake_op, r);
    rig_free(r);
    return rate;
}

static void
shuttle(CamasTlsSession *from, CamasTlsSession *to)
{
    GBytes *out;
    while ((out = camas__tls_session_take_output(from)) != NULL) {
        gsize len;
        const guint8 *d = g_bytes_get_data(out, &len);
        camas__tls_session_feed(to, d, len);
        g_bytes_unref(out);
    }
}

static void
handshake_floor_op(gpointer data, guint64 n)
{
    Rig *r = data;
    for (guint64 i = 0; i < n; i++) {
        CamasTlsSession *c = camas__tls_session_new(r->client_opts.tls, "127.0.0.1", NULL);
        CamasTlsSession *s = camas__tls_session_new(r->server_opts.tls, NULL, NULL);
        gboolean cdone = FALSE, sdone = FALSE;
        for (int round = 0; round < 10 && !(cdone && sdone); round++) {
            g_autoptr(GError) error = NULL;
            cdone = camas__tls_session_handshake(c, &error);
            if (error)
                g_error("bench: %s", error->message);
            shuttle(c, s);
            sdone = camas__tls_session_handshake(s, &error);
            if (error)
                g_error("bench: %s", error->message);
            shuttle(s, c);
        }
        if (!(cdone && sdone))
            g_error("bench: in-memory handshake did not finish");
        camas__tls_session_free(c);
        camas__tls_session_free(s);
    }
}

static double
bench_tls_handshake_floor(void)
{
    Rig *r = rig_new("tls");
    double rate = camas_bench_rate(handshake_floor_op, r);
    rig_free(r);
    return rate;
}

static void
bulk_op(gpointer data, guint64 n)
{
    Rig *r = data;
    for (guint64 i = 0; i < n; i++) {
        gsize want = r->server_got + BULK_SIZE;
        camas__pipe_send(r->client, r->frame, NULL);
        while (r->server_got < want)
            rig_iterate(r);
    }
}

static double
run_bulk(const char *kind)
{
    Rig *r = rig_new(kind);
    r->frame = g_bytes_new_take(g_malloc0(BULK_SIZE), BULK_SIZE);
    rig_connect(r);
    double rate = camas_bench_rate(bulk_op, r);
    rig_free(r);
    return rate * (double)BULK_SIZE / 1e6;
}

static double
bench_tls_bulk(void)
{
    return run_bulk("tls");
}

static double
bench_tcp_bulk(void)
{
    return run_bulk("tcp");
}

const CamasBench camas_bench_transport[] = {
    {"rpc.tcp.floor", "roundtrips/s", bench_tcp_floor},
    {"rpc.tcp.floor.pinned", "roundtrips/s", bench_tcp_floor_pinned},
    {"rpc.unix.floor", "roundtrips/s", bench_unix_floor},
    {"transport.local.pingpong", "roundtrips/s", bench_local_pingpong},
    {"transport.tcp.pingpong", "roundtrips/s", bench_tcp_pingpong},
    {"transport.unix.pingpong", "roundtrips/s", bench_unix_pingpong},
    {"tls.handshake", "handshakes/s", bench_tls_handshake},
    {"tls.handshake.floor", "handshakes/s", bench_tls_handshake_floor},
    {"tls.bulk.10mb", "MB/s", bench_tls_bulk},
    {"transport.tcp.bulk.10mb", "MB/s", bench_tcp_bulk},
    {NULL},
};
