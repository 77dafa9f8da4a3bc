/* SPDX-License-Identifier: MIT */
/*
 * aiomas' RPC example (docs/agents.md): a MathServer exposes add(a, b); a client task calls
 * add(3, 4) through a proxy for the server's root.
 *
 *   class MathServer:                          async def client():
 *       router = aiomas.rpc.Service()               rpc_con = await rpc.open_connection(ADDR)
 *       @router.expose                             rep = await rpc_con.remote.add(3, 4)
 *       def add(self, a, b):                       print('What’s 3 + 4?', rep)
 *           return a + b
 *
 * Usage: rpc-math [ADDR]   (default tcp://localhost:5555; port 0 picks a free one)
 */
#include <stdio.h>

#include <camas/camas.h>
#include <camas/agent.h>

static void
add(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    gint64 a, b;
    if (camas_agent_args_or_fail(req, "a:I b:I", &a, &b))
        camas_request_reply_take(req, camas_value_new_int(a + b));
}

static const CamasRpcMethod math_methods[] = {{"add", add}, {NULL}};
static const CamasServiceClass math_server = {.name = "MathServer", .methods = math_methods};

typedef struct {
    CamasLoop *loop;
    CamasCodec *codec;
    const char *addr;
} Client;

static CamasValue *
client(CamasTask *task, gpointer data, GError **error)
{
    Client *c = data;
    g_autoptr(CamasRpcConnection) rpc_con =
        camas_rpc_open_await(c->loop, c->addr, c->codec, NULL, NULL, error);
    if (!rpc_con)
        return NULL;
    g_autoptr(CamasProxy) remote = camas_rpc_connection_get_remote(rpc_con);
    g_autoptr(CamasValue) rep = camas_agent_call(remote, "add", error, "[i i]", 3, 4);
    if (!rep)
        return NULL;
    printf("What’s 3 + 4? %" G_GINT64_FORMAT "\n", camas_value_get_int(rep));
    camas_rpc_connection_close(rpc_con);
    return NULL;
}

int
main(int argc, char **argv)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_realtime(loop, NULL);
    g_autoptr(CamasCodec) codec = camas_codec_new("json", NULL);
    g_autoptr(CamasService) service = camas_service_new(&math_server, NULL, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasRpcServer) server =
        camas_rpc_server_new(loop, argc > 1 ? argv[1] : "tcp://localhost:5555", codec, service,
                             NULL, NULL, NULL, NULL, &error);
    if (!server) {
        fprintf(stderr, "rpc-math: %s\n", error->message);
        return 1;
    }
    Client c = {loop, codec, camas_rpc_server_get_address(server)};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, client, &c, NULL, &error);
    if (!camas_clock_run_until_complete(clock, camas_task_get_future(task), NULL, &error)) {
        fprintf(stderr, "rpc-math: %s\n", error->message);
        return 1;
    }
    return 0;
}
