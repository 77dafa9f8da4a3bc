/* SPDX-License-Identifier: MIT */
/*
 * HelloWorld: aiomas' first agent example, a single proactive agent that says "Hello, World!"
 * three times, sleeping 0.1 s on the container's clock before each line.  init takes an
 * optional name (default "HelloWorld").
 */
#include "library-private.h"

typedef struct {
    CamasAgent base;
    char *name;
} HelloWorld;

static gboolean
init(CamasAgent *agent, const CamasValue *args, const CamasValue *kwargs, GError **error)
{
    HelloWorld *self = (HelloWorld *)agent;
    const char *name = "HelloWorld";
    if (camas_value_get_length(args) > 0 && !camas_value_unpack(args, error, "[s]", &name))
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
    camas_agent_log(agent, "%s says:", self->name);
    for (int i = 0; i < 3; i++) {
        if (!camas_task_sleep(agent->clock, 0.1, error))
            return NULL;
        camas_agent_log(agent, "Hello, World!");
    }
    return NULL;
}

static const CamasParamSpec params[] = {
    {"name", CAMAS_PARAM_STR, CAMAS_PARAM_INIT_ARG, FALSE, NULL,
     "the name it greets with (default HelloWorld)"},
    {NULL},
};

const CamasAgentClass camas__agent_hello_world = {
    .name = "HelloWorld",
    .instance_size = sizeof(HelloWorld),
    .init = init,
    .finalize = finalize,
    .run = run,
    .summary = "proactive: says \"Hello, World!\" three times, 0.1 s apart",
    .params = params,
};
