/* SPDX-License-Identifier: MIT */
/*
 * Benchmarks of the agent layer (engine/container.c, agents/agent.c):
 *
 *  - agent.memory_per_agent: heap bytes per agent for 100 000 agents without user state in one
 *    container (malloc's in-use bytes before and after spawning, divided by the count).
 *  - agent.create.10000: milliseconds to spawn 10 000 agents into a fresh container.
 *  - agent.call.local.same / .cross / agent.call.tcp: agent-to-agent calls per second, one at a
 *    time (each reply triggers the next call): within one container over LocalQueue, across two
 *    containers over LocalQueue (simulated time: every delivery is a loop event), and across
 *    two containers over TCP on 127.0.0.1 (real sockets, the loop driven by a GMainContext).
 *    JSON, the containers' default codec.
 *  - agent.call.local.floor / agent.call.tcp.floor: the same round trip as a raw RPC call
 *    (a plain service, path "add" instead of "agents/1/add", no container), measured in the
 *    same run: the agent layer's cost is the ratio to these.
 */
#include <malloc.h>
#include <string.h>

#include <camas/container.h>

#include "bench.h"

static void
m_add(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    camas_request_reply_take(
        req, camas_value_new_int(camas_value_get_int(camas_value_get_item(args, 0)) +
                                 camas_value_get_int(camas_value_get_item(args, 1))));
}

static const CamasRpcMethod methods[] = {{"add", m_add}, {NULL}};
static const CamasServiceClass service_class = {.name = "Bench", .methods = methods};
static const CamasAgentClass agent_class = {.name = "Adder", .methods = methods};
static const CamasAgentClass empty_class = {.name = "Empty"};

/* --- memory and creation -----------------------------------------------------------------------
 */

static double
bench_memory_per_agent(void)
{
    const guint n = 100000;
    CamasLoop *loop = camas_loop_new();
    CamasClock *clock = camas_clock_new_afap(loop, 0, 0);
    CamasContainer *c = camas_container_new(clock, "local://bench-mem", NULL, NULL);
    camas_container_spawn(c, &empty_class, NULL, NULL, NULL); /* first-use allocations */
    malloc_trim(0);
    size_t before = mallinfo2().uordblks;
    for (guint i = 0; i < n; i++)
        camas_container_spawn(c, &empty_class, NULL, NULL, NULL);
    size_t after = mallinfo2().uordblks;
    camas_container_free(c);
    camas_clock_unref(clock);
    camas_loop_free(loop);
    return (double)(after - before) / n;
}

static double
bench_create_10000(void)
{
    CamasLoop *loop = camas_loop_new();
    CamasClock *clock = camas_clock_new_afap(loop, 0, 0);
    CamasContainer *c = camas_container_new(clock, "local://bench-create", NULL, NULL);
    double t0 = camas_bench_now();
    for (guint i = 0; i < 10000; i++)
        camas_container_spawn(c, &agent_class, NULL, NULL, NULL);
    double ms = (camas_bench_now() - t0) * 1000.0;
    camas_container_free(c);
    camas_clock_unref(clock);
    camas_loop_free(loop);
    return ms;
}

/* --- calls ------------------------------------------------------------------------------------ */

typedef struct {
    CamasLoop *loop;
    CamasClock *clock;
    GMainContext *ctx; /* NULL: LocalQueue in simulated time */
    CamasContainer *a, *b;
    CamasCodec *codec;        /* floors */
    CamasService *service;    /* floors */
    CamasRpcServer *server;   /* floors */
    CamasRpcConnection *conn; /* floors */
    CamasProxy *remote;
    CamasValue *args;
    guint64 to_send, done, failed;
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

/* @kind: "same", "cross" or "tcp"; @floor: a raw RPC connection instead of containers */
static Rig *
rig_new(const char *kind, gboolean floor)
{
    Rig *r = g_new0(Rig, 1);
    r->loop = camas_loop_new();
    r->clock = camas_clock_new_afap(r->loop, 0, 0);
    gboolean tcp = strcmp(kind, "tcp") == 0;
    if (tcp) {
        r->ctx = g_main_context_new();
        camas_loop_attach(r->loop, r->ctx);
    }
    const char *addr_a = tcp ? "tcp://127.0.0.1:0" : "local://bench-a";
    const char *addr_b = tcp ? "tcp://127.0.0.1:0" : "local://bench-b";
    r->args = camas_value_build("[i i]", 3, 4);
    GError *error = NULL;
    if (floor) {
        r->codec = camas_codec_new("json", NULL);
        r->service = camas_service_new(&service_class, NULL, NULL);
        r->server = camas_rpc_server_new(r->loop, addr_b, r->codec, r->service, NULL, NULL, NULL,
                                         NULL, &error);
        g_assert_no_error(error);
        CamasFuture *f = camas_rpc_open(r->loop, camas_rpc_server_get_address(r->server), r->codec,
                                        NULL, NULL, &error);
        g_assert_no_error(error);
        rig_wait(r, f);
        r->conn = camas_rpc_open_finish(f, &error);
        g_assert_no_error(error);
        camas_future_unref(f);
        r->remote = camas_rpc_connection_get_remote(r->conn);
        return r;
    }
    r->a = camas_container_new(r->clock, addr_a, NULL, &error);
    g_assert_no_error(error);
    CamasContainer *home = r->a;
    if (strcmp(kind, "same") != 0) {
        r->b = camas_container_new(r->clock, addr_b, NULL, &error);
        g_assert_no_error(error);
        home = r->b;
    }
    /* the callee is agent 1 of its container (agent 0 is the caller's side in "same") */
    camas_container_spawn(home, &empty_class, NULL, NULL, NULL);
    CamasAgent *callee = camas_container_spawn(home, &agent_class, NULL, NULL, &error);
    g_assert_no_error(error);
    CamasFuture *f = camas_container_connect(r->a, camas_agent_get_url(callee), &error);
    g_assert_no_error(error);
    rig_wait(r, f);
    r->remote = camas_container_connect_finish(f, &error);
    g_assert_no_error(error);
    camas_future_unref(f);
    return r;
}

static void
rig_free(Rig *r)
{
    g_clear_pointer(&r->remote, camas_proxy_unref);
    g_clear_pointer(&r->conn, camas_rpc_connection_unref);
    g_clear_pointer(&r->server, camas_rpc_server_free);
    g_clear_pointer(&r->service, camas_service_unref);
    g_clear_pointer(&r->codec, camas_codec_unref);
    g_clear_pointer(&r->a, camas_container_free);
    g_clear_pointer(&r->b, camas_container_free);
    camas_value_unref(r->args);
    if (r->ctx) /* let closed sockets finish */
        for (int i = 0; i < 100 && g_main_context_iteration(r->ctx, FALSE); i++)
            ;
    camas_clock_unref(r->clock);
    camas_loop_free(r->loop);
    if (r->ctx)
        g_main_context_unref(r->ctx);
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
    CamasFuture *f = camas_proxy_call(r->remote, "add", r->args, NULL);
    camas_future_add_callback(f, on_reply, r, NULL);
    camas_future_unref(f);
}

static void
round_trips(gpointer data, guint64 n)
{
    Rig *r = data;
    r->to_send = n;
    r->done = 0;
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
measure(const char *kind, gboolean floor)
{
    Rig *r = rig_new(kind, floor);
    double rate = camas_bench_rate(round_trips, r);
    rig_free(r);
    return rate;
}

static double
bench_local_floor(void)
{
    return measure("cross", TRUE);
}

static double
bench_local_same(void)
{
    return measure("same", FALSE);
}

static double
bench_local_cross(void)
{
    return measure("cross", FALSE);
}

static double
bench_tcp_floor(void)
{
    return measure("tcp", TRUE);
}

static double
bench_tcp(void)
{
    return measure("tcp", FALSE);
}

const CamasBench camas_bench_agent[] = {
    {"agent.memory_per_agent", "bytes", bench_memory_per_agent},
    {"agent.create.10000", "ms", bench_create_10000},
    {"agent.call.local.floor", "calls/s", bench_local_floor},
    {"agent.call.local.same", "calls/s", bench_local_same},
    {"agent.call.local.cross", "calls/s", bench_local_cross},
    {"agent.call.tcp.floor", "calls/s", bench_tcp_floor},
    {"agent.call.tcp", "calls/s", bench_tcp},
    {NULL},
};
