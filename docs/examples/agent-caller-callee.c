/* SPDX-License-Identifier: MIT */
/*
 * aiomas' "Calling other agent's methods" (docs/agents.md): Callee exposes spam(times); Caller
 * connects to it through the container and calls spam(3).
 *
 *   class Callee(aiomas.Agent):                class Caller(aiomas.Agent):
 *       @aiomas.expose                             async def run(self, callee_addr):
 *       def spam(self, times):                         callee = await self.container.connect(
 *           return 'spam' * times                          callee_addr)
 *                                                      result = await callee.spam(3)
 *                                                      print(self, 'got', result)
 *
 * Usage: agent-caller-callee [ADDR]   (default tcp://localhost:5555)
 */
#include <stdio.h>

#include <camas/camas.h>
#include <camas/container.h>

static void
spam(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    gint times;
    if (!camas_agent_args_or_fail(req, "times:i", &times))
        return;
    g_autoptr(GString) s = g_string_new(NULL);
    while (times-- > 0)
        g_string_append(s, "spam");
    camas_request_reply_take(req, camas_value_new_str(s->str));
}

static const CamasRpcMethod callee_methods[] = {{"spam", spam}, {NULL}};
static const CamasAgentClass callee_class = {.name = "Callee", .methods = callee_methods};

static CamasValue *
caller_run(CamasAgent *self, const CamasValue *args, GError **error)
{
    const char *callee_addr = camas_value_get_str(camas_value_get_item(args, 0), NULL);
    g_autofree char *me = camas_agent_dup_repr(self);
    printf("%s connecting to %s\n", me, callee_addr);
    g_autoptr(CamasProxy) callee = camas_agent_connect(self, callee_addr, error);
    if (!callee)
        return NULL;
    printf("%s connected to CalleeProxy('%s')\n", me, callee_addr);
    g_autoptr(CamasValue) result = camas_agent_call(callee, "spam", error, "[i]", 3);
    if (!result)
        return NULL;
    printf("%s got %s\n", me, camas_value_get_str(result, NULL));
    return NULL;
}

static const CamasAgentClass caller_class = {.name = "Caller", .run = caller_run};

int
main(int argc, char **argv)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_realtime(loop, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasContainer) container =
        camas_container_new(clock, argc > 1 ? argv[1] : "tcp://localhost:5555", NULL, &error);
    if (!container) {
        fprintf(stderr, "agent-caller-callee: %s\n", error->message);
        return 1;
    }
    CamasAgent *callee = camas_container_spawn(container, &callee_class, NULL, NULL, &error);
    CamasAgent *caller = camas_container_spawn(container, &caller_class, NULL, NULL, &error);
    g_autoptr(CamasValue) args = camas_value_build("[s]", camas_agent_get_url(callee));
    g_autoptr(CamasFuture) done = camas_agent_start(caller, args, &error);
    if (!camas_clock_run_until_complete(clock, done, NULL, &error)) {
        fprintf(stderr, "agent-caller-callee: %s\n", error->message);
        return 1;
    }
    return 0;
}
