/* SPDX-License-Identifier: MIT */
/*
 * Benchmarks of the channel and RPC layers (engine/channel.c, engine/rpc.c): RPC round trips
 * per second, a client calling add(a, b) on a server, each reply triggering the next call:
 *
 *  - rpc.localqueue.msgpack / rpc.localqueue.json: LocalQueue in simulated time (the loop runs
 *    every delivery as an event, no clock), 100 calls in flight.
 *  - rpc.tcp.msgpack.seq / rpc.unix.msgpack.seq: one call at a time over a real socket on
 *    127.0.0.1 / a Unix socket.  The server runs in a thread of its own with its own loop and
 *    GMainContext, the client in the benchmark's thread: two ends blocked in poll() in turn,
 *    as two processes would be — the shape of the transport suite's raw ping-pong floors
 *    rpc.tcp.floor / rpc.unix.floor (two threads, blocking sockets, the same frame sizes).
 *    Run under `taskset -c 0` for both ends on one core.
 *  - rpc.tcp.msgpack.inflight32 / rpc.unix.msgpack.inflight32: 32 calls in flight, same rig.
 *  - channel.localqueue.msgpack: the channel layer alone (send a small value, the server
 *    replies with it), 100 in flight.
 */
#include <glib/gstdio.h>
#include <string.h>

#include <camas/rpc.h>

#include "bench.h"
#include "live-private.h"

static void
m_add(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    camas_request_reply_take(req, camas_value_new_int(camas_value_get_int(camas_value_get_item(args, 0)) +
                                                      camas_value_get_int(camas_value_get_item(args, 1))));
}

static const CamasRpcMethod methods[] = {{"add", m_add}, {NULL}};
static const CamasServiceClass bench_class = {.name = "Bench", .methods = methods};

/* The server end of a socket rig: a thread with its own loop on its own GMainContext. */
typedef struct {
    GThread *thread;
    GMainContext *ctx;
    char *listen_address; /* what to listen at */
    const char *codec_name;
    GMutex lock;
    GCond cond;
    char *address; /* the bound address, once listening (under lock) */
    gint stop;     /* set by the client's thread, then the context is woken */
} ServerThread;

typedef struct {
    CamasLoop *loop;
    GMainContext *ctx; /* NULL: LocalQueue in simulated time */
    ServerThread *st;  /* sockets: the server's thread */
    char *tmpdir;
    CamasCodec *codec;
    CamasService *service;
    CamasRpcServer *server;
    CamasRpcConnection *conn;
    CamasProxy *remote;
    CamasChannelServer *channel_server;
    CamasChannel *channel;
    CamasValue *args;
    guint window;
    guint64 to_send;
    guint64 done;
    guint64 failed;
} Rig;

static void
rig_wait(Rig *r, CamasFuture *f)
{
    while (!camas_future_is_done(f)) {
        if (r->ctx)
            g_main_context_iteration(r->ctx, TRUE);
        else if (!camas_loop_step(r->loop))
            g_error("bench: the loop ran dry");
    }
}

static void
channel_echo(CamasChannel *channel, CamasRequest *request, gpointer data)
{
    camas_request_reply(request, camas_request_get_content(request));
}

static void
channel_connected(CamasChannelServer *server, CamasChannel *channel, gpointer data)
{
    camas_channel_set_request_func(channel, channel_echo, NULL, NULL);
}

static gpointer
server_main(gpointer data)
{
    ServerThread *st = data;
    CamasLoop *loop = camas_loop_new();
    camas_loop_attach(loop, st->ctx);
    GError *error = NULL;
    CamasCodec *codec = camas_codec_new(st->codec_name, &error);
    g_assert_no_error(error);
    CamasService *service = camas_service_new(&bench_class, NULL, NULL);
    CamasRpcServer *server = camas_rpc_server_new(loop, st->listen_address, codec, service, NULL,
                                                  NULL, NULL, NULL, &error);
    g_assert_no_error(error);
    g_mutex_lock(&st->lock);
    st->address = g_strdup(camas_rpc_server_get_address(server));
    g_cond_signal(&st->cond);
    g_mutex_unlock(&st->lock);
    while (!g_atomic_int_get(&st->stop))
        g_main_context_iteration(st->ctx, TRUE);
    camas_rpc_server_free(server);
    camas_service_unref(service);
    camas_loop_free(loop);
    camas_codec_unref(codec);
    return NULL;
}

/* Starts the server thread listening at @address; returns once it listens. */
static ServerThread *
server_thread_start(const char *address, const char *codec_name)
{
    ServerThread *st = g_new0(ServerThread, 1);
    st->ctx = g_main_context_new();
    st->listen_address = g_strdup(address);
    st->codec_name = codec_name;
    g_mutex_init(&st->lock);
    g_cond_init(&st->cond);
    st->thread = g_thread_new("bench-server", server_main, st);
    g_mutex_lock(&st->lock);
    while (st->address == NULL)
        g_cond_wait(&st->cond, &st->lock);
    g_mutex_unlock(&st->lock);
    return st;
}

static void
server_thread_stop(ServerThread *st)
{
    g_atomic_int_set(&st->stop, 1);
    g_main_context_wakeup(st->ctx);
    g_thread_join(st->thread);
    g_main_context_unref(st->ctx);
    g_mutex_clear(&st->lock);
    g_cond_clear(&st->cond);
    g_free(st->listen_address);
    g_free(st->address);
    g_free(st);
}

static Rig *
rig_new(const char *kind, const char *codec_name, guint window, gboolean channel_only)
{
    Rig *r = g_new0(Rig, 1);
    r->loop = camas_loop_new();
    r->window = window;
    g_autofree char *address = NULL;
    if (strcmp(kind, "local") == 0) {
        address = g_strdup("local://bench");
    } else {
        r->ctx = g_main_context_new();
        camas_loop_attach(r->loop, r->ctx);
        if (strcmp(kind, "tcp") == 0) {
            address = g_strdup("tcp://127.0.0.1:0");
        } else {
            r->tmpdir = g_dir_make_tmp("camas-bench-XXXXXX", NULL);
            address = g_strdup_printf("ipc://[%s/s.sock]", r->tmpdir);
        }
    }
    GError *error = NULL;
    r->codec = camas_codec_new(codec_name, &error);
    g_assert_no_error(error);
    r->args = camas_value_build("[i i]", 3, 4);
    if (channel_only) {
        g_assert(r->ctx == NULL);
        r->channel_server = camas_channel_server_new(r->loop, address, r->codec, NULL,
                                                     channel_connected, NULL, NULL, &error);
        g_assert_no_error(error);
        CamasFuture *f = camas_channel_open(r->loop,
                                            camas_channel_server_get_address(r->channel_server),
                                            r->codec, NULL, &error);
        g_assert_no_error(error);
        rig_wait(r, f);
        r->channel = camas_channel_open_finish(f, &error);
        g_assert_no_error(error);
        camas_future_unref(f);
        return r;
    }
    const char *server_address;
    if (r->ctx) {
        r->st = server_thread_start(address, codec_name);
        server_address = r->st->address;
    } else {
        r->service = camas_service_new(&bench_class, NULL, NULL);
        r->server = camas_rpc_server_new(r->loop, address, r->codec, r->service, NULL, NULL,
                                         NULL, NULL, &error);
        g_assert_no_error(error);
        server_address = camas_rpc_server_get_address(r->server);
    }
    CamasFuture *f = camas_rpc_open(r->loop, server_address, r->codec, NULL, NULL, &error);
    g_assert_no_error(error);
    rig_wait(r, f);
    r->conn = camas_rpc_open_finish(f, &error);
    g_assert_no_error(error);
    camas_future_unref(f);
    r->remote = camas_rpc_connection_get_remote(r->conn);
    return r;
}

static void
rig_free(Rig *r)
{
    g_clear_pointer(&r->remote, camas_proxy_unref);
    g_clear_pointer(&r->conn, camas_rpc_connection_unref);
    g_clear_pointer(&r->server, camas_rpc_server_free);
    g_clear_pointer(&r->channel, camas_channel_unref);
    g_clear_pointer(&r->channel_server, camas_channel_server_free);
    g_clear_pointer(&r->service, camas_service_unref);
    camas_value_unref(r->args);
    camas_codec_unref(r->codec);
    /* Let the closed connection finish on both ends (lingering: the server sees our end, closes
     * its side, and we see its end) before the loops go. */
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (r->ctx && g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_PIPE]) > 0 &&
           g_get_monotonic_time() < deadline)
        g_main_context_iteration(r->ctx, FALSE);
    g_clear_pointer(&r->st, server_thread_stop);
    camas_loop_free(r->loop);
    if (r->ctx)
        g_main_context_unref(r->ctx);
    if (r->tmpdir) {
        g_rmdir(r->tmpdir);
        g_free(r->tmpdir);
    }
    g_free(r);
}

static void issue(Rig *r);

static void
on_reply(CamasFuture *f, gpointer data)
{
    Rig *r = data;
    r->done++;
    if (camas_future_is_failed(f))
        r->failed++;
    if (r->to_send > 0)
        issue(r);
}

static void
issue(Rig *r)
{
    r->to_send--;
    CamasFuture *f = r->channel ? camas_channel_send(r->channel, r->args)
                                : camas_proxy_call(r->remote, "add", r->args, NULL);
    camas_future_add_callback(f, on_reply, r, NULL);
    camas_future_unref(f);
}

static void
round_trips(gpointer data, guint64 n)
{
    Rig *r = data;
    r->to_send = n;
    r->done = 0;
    for (guint i = 0; i < r->window && r->to_send > 0; i++)
        issue(r);
    while (r->done < n) {
        if (r->ctx)
            g_main_context_iteration(r->ctx, TRUE);
        else
            camas_loop_run(r->loop);
    }
    if (r->failed)
        g_error("bench: %" G_GUINT64_FORMAT " calls failed", r->failed);
}

static double
measure(const char *kind, const char *codec, guint window, gboolean channel_only)
{
    Rig *r = rig_new(kind, codec, window, channel_only);
    double rate = camas_bench_rate(round_trips, r);
    rig_free(r);
    return rate;
}

static double
bench_local_msgpack(void)
{
    return measure("local", "msgpack", 100, FALSE);
}

static double
bench_local_json(void)
{
    return measure("local", "json", 100, FALSE);
}

static double
bench_channel_local_msgpack(void)
{
    return measure("local", "msgpack", 100, TRUE);
}

static double
bench_tcp_seq(void)
{
    return measure("tcp", "msgpack", 1, FALSE);
}

static double
bench_unix_seq(void)
{
    return measure("ipc", "msgpack", 1, FALSE);
}

static double
bench_tcp_inflight32(void)
{
    return measure("tcp", "msgpack", 32, FALSE);
}

static double
bench_unix_inflight32(void)
{
    return measure("ipc", "msgpack", 32, FALSE);
}

const CamasBench camas_bench_rpc[] = {
    {"rpc.localqueue.msgpack", "calls/s", bench_local_msgpack},
    {"rpc.localqueue.json", "calls/s", bench_local_json},
    {"channel.localqueue.msgpack", "requests/s", bench_channel_local_msgpack},
    {"rpc.tcp.msgpack.seq", "calls/s", bench_tcp_seq},
    {"rpc.unix.msgpack.seq", "calls/s", bench_unix_seq},
    {"rpc.tcp.msgpack.inflight32", "calls/s", bench_tcp_inflight32},
    {"rpc.unix.msgpack.inflight32", "calls/s", bench_unix_inflight32},
    {NULL},
};
