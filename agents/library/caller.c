/* SPDX-License-Identifier: MIT */
/*
 * Caller: the caller of aiomas' "Calling other agent's methods": run(callee_addr) connects to a
 * Callee and logs what spam(3) returns.
 */
#include "library-private.h"

static CamasValue *
run(CamasAgent *self, const CamasValue *args, GError **error)
{
    const char *callee_addr;
    if (!camas_value_unpack(args, error, "[s]", &callee_addr))
        return NULL;
    g_autofree char *me = camas_agent_dup_repr(self);
    camas_agent_log(self, "%s connecting to %s", me, callee_addr);
    g_autoptr(CamasProxy) callee = camas_agent_connect(self, callee_addr, error);
    if (!callee)
        return NULL;
    camas_agent_log(self, "%s connected to CalleeProxy('%s')", me, callee_addr);
    g_autoptr(CamasValue) result = camas_agent_call(callee, "spam", error, "[i]", 3);
    if (!result)
        return NULL;
    camas_agent_log(self, "%s got %s", me, camas_value_get_str(result, NULL));
    return g_steal_pointer(&result);
}

static const CamasParamSpec params[] = {
    {"callee", CAMAS_PARAM_AGENT, CAMAS_PARAM_START_ARG, TRUE, NULL,
     "the Callee whose spam(3) it calls"},
    {NULL},
};

const CamasAgentClass camas__agent_caller = {
    .name = "Caller",
    .run = run,
    .summary = "run(callee_addr): connects to a Callee and calls spam(3)",
    .params = params,
};
