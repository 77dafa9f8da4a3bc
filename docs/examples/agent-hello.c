/* SPDX-License-Identifier: MIT */
/*
 * aiomas' first agent (docs/agents.md): a single proactive agent that says "Hello, World!"
 * three times, sleeping on its container's clock in between.
 *
 *   class HelloWorld(aiomas.Agent):
 *       def __init__(self, container, name):
 *           super().__init__(container)
 *           self.name = name
 *
 *       async def run(self):
 *           print(self.name, 'says:')
 *           clock = self.container.clock
 *           for i in range(3):
 *               await clock.sleep(0.1)
 *               print('Hello, World!')
 *
 *   container = aiomas.Container.create(('localhost', 5555))
 *   agent = HelloWorld(container, 'Monty')
 *   aiomas.run(until=agent.run())
 *   container.shutdown()
 *
 * Usage: agent-hello [ADDR]   (default tcp://localhost:5555)
 */
#include <stdio.h>

#include <camas/camas.h>
#include <camas/container.h>

typedef struct {
    CamasAgent base;
    char *name;
} HelloWorld;

static gboolean
init(CamasAgent *agent, const CamasValue *args, const CamasValue *kwargs, GError **error)
{
    HelloWorld *self = (HelloWorld *)agent;
    const char *name;
    if (!camas_value_unpack(args, error, "[s]", &name))
        return FALSE;
    self->name = g_strdup(name);
    return TRUE;
}

static void
finalize(CamasAgent *agent)
{
    g_free(((HelloWorld *)agent)->name);
}

static CamasValue *
run(CamasAgent *agent, const CamasValue *args, GError **error)
{
    HelloWorld *self = (HelloWorld *)agent;
    printf("%s says:\n", self->name);
    for (int i = 0; i < 3; i++) {
        if (!camas_task_sleep(agent->clock, 0.1, error))
            return NULL;
        printf("Hello, World!\n");
    }
    return NULL;
}

static const CamasAgentClass hello_world = {
    .name = "HelloWorld",
    .instance_size = sizeof(HelloWorld),
    .init = init,
    .finalize = finalize,
    .run = run,
};

int
main(int argc, char **argv)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasClock) clock = camas_clock_new_realtime(loop, NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasContainer) container =
        camas_container_new(clock, argc > 1 ? argv[1] : "tcp://localhost:5555", NULL, &error);
    if (!container) {
        fprintf(stderr, "agent-hello: %s\n", error->message);
        return 1;
    }
    g_autoptr(CamasValue) name = camas_value_build("[s]", "Monty");
    CamasAgent *agent = camas_container_spawn(container, &hello_world, name, NULL, &error);
    g_autoptr(CamasFuture) done = camas_agent_start(agent, NULL, &error);
    if (!camas_clock_run_until_complete(clock, done, NULL, &error)) {
        fprintf(stderr, "agent-hello: %s\n", error->message);
        return 1;
    }
    return 0;
}
