/* SPDX-License-Identifier: MIT */
/*
 * TestAgent: the agent of aiomas' front-page example.  It greets when created, exposes
 * service(value) -> value, and its run(addr) connects to another agent and calls service(42).
 */
#include "library-private.h"

static gboolean
init(CamasAgent *self, const CamasValue *args, const CamasValue *kwargs, GError **error)
{
    g_autofree char *me = camas_agent_dup_repr(self);
    camas_agent_log(self, "Ohai, I am %s", me);
    return TRUE;
}

static void
service(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *value;
    if (camas_agent_args_or_fail(req, "value:v", &value))
        camas_request_reply(req, value);
}

static CamasValue *
run(CamasAgent *self, const CamasValue *args, GError **error)
{
    const char *addr;
    if (camas_value_get_length(args) == 0) /* run(addr=None): nobody to call */
        return camas_value_new_null();
    if (!camas_value_unpack(args, error, "[s]", &addr))
        return NULL;
    g_autoptr(CamasProxy) remote = camas_agent_connect(self, addr, error);
    if (!remote)
        return NULL;
    g_autoptr(CamasValue) ret = camas_agent_call(remote, "service", error, "[i]", 42);
    if (!ret)
        return NULL;
    g_autofree char *me = camas_agent_dup_repr(self);
    g_autofree char *r = camas_value_repr(ret);
    camas_agent_log(self, "%s got %s from TestAgentProxy('%s')", me, r, addr);
    return g_steal_pointer(&ret);
}

static const CamasRpcMethod methods[] = {{"service", service}, {NULL}};

static const CamasParamSpec params[] = {
    {"peer", CAMAS_PARAM_AGENT, CAMAS_PARAM_START_ARG, FALSE, NULL,
     "the agent whose service(42) it calls (default: nobody)"},
    {NULL},
};

const CamasAgentClass camas__agent_test_agent = {
    .name = "TestAgent",
    .init = init,
    .methods = methods,
    .run = run,
    .summary = "aiomas' front-page agent: service(value) -> value; run(addr) calls service(42)",
    .params = params,
};
