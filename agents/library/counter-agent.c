/* SPDX-License-Identifier: MIT */
/*
 * CounterAgent: agent "1" of the interop conformance container (conformance-service.md): the
 * shared whoami/echo/fail/call_peer plus a counter, incr(n=1) -> the new count and get().
 */
#include "library-private.h"

typedef struct {
    CamasAgent base;
    gint64 count;
} CounterAgent;

static void
incr(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CounterAgent *c = self;
    gint64 n = 1;
    if (!camas_agent_args_or_fail(req, "|n:I", &n))
        return;
    if (__builtin_add_overflow(c->count, n, &c->count)) {
        camas_request_fail_text(req, "OverflowError", "the count does not fit in 64 bits");
        return;
    }
    camas_request_reply_take(req, camas_value_new_int(c->count));
}

static void
get(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CounterAgent *c = self;
    if (camas_agent_args_or_fail(req, ""))
        camas_request_reply_take(req, camas_value_new_int(c->count));
}

static const CamasRpcMethod methods[] = {
    CAMAS__LIB_COMMON_METHODS,
    {"incr", incr},
    {"get", get},
    {NULL},
};

const CamasAgentClass camas__agent_counter_agent = {
    .name = "CounterAgent",
    .instance_size = sizeof(CounterAgent),
    .methods = methods,
    .summary = "conformance agent 1: whoami, echo, fail, call_peer, incr(n=1), get",
};
