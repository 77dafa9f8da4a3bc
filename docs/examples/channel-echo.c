/* SPDX-License-Identifier: MIT */
/*
 * aiomas' channel example (docs/agents.md): a server prints each request and answers "cya";
 * a client task sends "ohai" and prints the reply.
 *
 *   async def handle_client(channel):          async def client():
 *       req = await channel.recv()                 channel = await open_connection(ADDR)
 *       print(req.content)                         rep = await channel.send('ohai')
 *       await req.reply('cya')                     print(rep)
 *
 * Usage: channel-echo [ADDR]   (default tcp://localhost:5555; port 0 picks a free one)
 */
#include <stdio.h>

#include <camas/camas.h>

static void
handle_client(CamasChannel *channel, CamasRequest *req, gpointer data)
{
    printf("%s\n", camas_value_get_str(camas_request_get_content(req), NULL));
    camas_request_reply_take(req, camas_value_new_str("cya"));
}

static void
client_connected(CamasChannelServer *server, CamasChannel *channel, gpointer data)
{
    camas_channel_set_request_func(channel, handle_client, NULL, NULL);
}

typedef struct {
    CamasLoop *loop;
    CamasCodec *codec;
    const char *addr;
} Client;

static CamasValue *
client(CamasTask *task, gpointer data, GError **error)
{
    Client *c = data;
    g_autoptr(CamasChannel) channel =
        camas_channel_open_await(c->loop, c->addr, c->codec, NULL, error);
    if (!channel)
        return NULL;
    g_autoptr(CamasValue) ohai = camas_value_new_str("ohai");
    g_autoptr(CamasValue) rep = camas_channel_send_await(channel, ohai, error);
    if (!rep)
        return NULL;
    printf("%s\n", camas_value_get_str(rep, NULL));
    camas_channel_close(channel);
    return NULL;
}

int
main(int argc, char **argv)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_realtime(loop, NULL);
    g_autoptr(CamasCodec) codec = camas_codec_new("json", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasChannelServer) server =
        camas_channel_server_new(loop, argc > 1 ? argv[1] : "tcp://localhost:5555", codec, NULL,
                                 client_connected, NULL, NULL, &error);
    if (!server) {
        fprintf(stderr, "channel-echo: %s\n", error->message);
        return 1;
    }
    Client c = {loop, codec, camas_channel_server_get_address(server)};
    g_autoptr(CamasTask) task = camas_task_spawn(loop, client, &c, NULL, &error);
    if (!camas_clock_run_until_complete(clock, camas_task_get_future(task), NULL, &error)) {
        fprintf(stderr, "channel-echo: %s\n", error->message);
        return 1;
    }
    return 0;
}
