/* SPDX-License-Identifier: MIT */
/*
 * aiomas' front-page example (docs/agents.md): two TestAgents in one container; the first
 * calls the second's service(42).
 *
 *   class TestAgent(aiomas.Agent):
 *       def __init__(self, container):
 *           super().__init__(container)
 *           print('Ohai, I am %s' % self)
 *
 *       async def run(self, addr):
 *           remote_agent = await self.container.connect(addr)
 *           ret = await remote_agent.service(42)
 *           print('%s got %s from %s' % (self, ret, remote_agent))
 *
 *       @aiomas.expose
 *       def service(self, value):
 *           return value
 *
 * Usage: agent-test-agents [ADDR]   (default tcp://localhost:5555)
 */
#include <stdio.h>

#include <camas/camas.h>
#include <camas/container.h>

static gboolean
init(CamasAgent *self, const CamasValue *args, const CamasValue *kwargs, GError **error)
{
    g_autofree char *me = camas_agent_dup_repr(self);
    printf("Ohai, I am %s\n", me);
    return TRUE;
}

static CamasValue *
run(CamasAgent *self, const CamasValue *args, GError **error)
{
    const char *addr = camas_value_get_str(camas_value_get_item(args, 0), NULL);
    g_autoptr(CamasProxy) remote_agent = camas_agent_connect(self, addr, error);
    if (!remote_agent)
        return NULL;
    g_autoptr(CamasValue) ret = camas_agent_call(remote_agent, "service", error, "[i]", 42);
    if (!ret)
        return NULL;
    g_autofree char *me = camas_agent_dup_repr(self);
    printf("%s got %" G_GINT64_FORMAT " from TestAgentProxy('%s')\n", me, camas_value_get_int(ret),
           addr);
    return NULL;
}

static void
service(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *value;
    if (camas_agent_args_or_fail(req, "value:v", &value))
        camas_request_reply(req, value);
}

static const CamasRpcMethod methods[] = {{"service", service}, {NULL}};
static const CamasAgentClass test_agent = {
    .name = "TestAgent", .init = init, .run = run, .methods = methods};

int
main(int argc, char **argv)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_realtime(loop, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasContainer) c =
        camas_container_new(clock, argc > 1 ? argv[1] : "tcp://localhost:5555", NULL, &error);
    if (!c) {
        fprintf(stderr, "agent-test-agents: %s\n", error->message);
        return 1;
    }
    CamasAgent *agents[2];
    for (int i = 0; i < 2; i++)
        agents[i] = camas_container_spawn(c, &test_agent, NULL, NULL, &error);
    g_autoptr(CamasValue) addr = camas_value_build("[s]", camas_agent_get_url(agents[1]));
    g_autoptr(CamasFuture) done = camas_agent_start(agents[0], addr, &error);
    if (!camas_clock_run_until_complete(clock, done, NULL, &error)) {
        fprintf(stderr, "agent-test-agents: %s\n", error->message);
        return 1;
    }
    return 0;
}
