/* SPDX-License-Identifier: MIT */
/*
 * Contractor: a bidder of the contract net.  cfp(task) thinks for a while (a sleep drawn from
 * the agent's random stream) and bids [label, price] with a price from the same stream;
 * accept(task) works for a while and returns ["done", label, task]; reject(task) -> "ok".
 * init takes an optional label (default "<container name>/<aid>", the agent's stream name), so
 * bids depend on the run seed and stable names only.
 */
#include <math.h>

#include "library-private.h"

typedef struct {
    CamasAgent base;
    char *label;
} Contractor;

static gboolean
init(CamasAgent *agent, const CamasValue *args, const CamasValue *kwargs, GError **error)
{
    Contractor *self = (Contractor *)agent;
    const char *label = NULL;
    if (camas_value_get_length(args) > 0 && !camas_value_unpack(args, error, "[s]", &label))
        return FALSE;
    self->label = label ? g_strdup(label)
                        : g_strdup_printf("%s/%s", camas_container_get_name(agent->container),
                                          camas_agent_get_aid(agent));
    return TRUE;
}

static void
finalize(CamasAgent *agent)
{
    g_free(((Contractor *)agent)->label);
}

static CamasValue *
cfp(gpointer instance, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs,
    GError **error)
{
    Contractor *self = instance;
    CamasAgent *agent = instance;
    const char *task_arg;
    if (!camas_agent_args(req, error, "task:s", &task_arg))
        return NULL;
    g_autofree char *task = g_strdup(task_arg);
    double think = camas_rng_uniform(&agent->rng, 0.01, 0.05);
    double price = round(camas_rng_uniform(&agent->rng, 10.0, 100.0) * 100.0) / 100.0;
    if (!camas_task_sleep(agent->clock, think, error))
        return NULL;
    camas_agent_log(agent, "bid %s %.2f", task, price);
    return camas_value_build("[s f]", self->label, price);
}

static CamasValue *
cn_accept(gpointer instance, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs,
          GError **error)
{
    Contractor *self = instance;
    CamasAgent *agent = instance;
    const char *task_arg;
    if (!camas_agent_args(req, error, "task:s", &task_arg))
        return NULL;
    g_autofree char *task = g_strdup(task_arg);
    double work = camas_rng_uniform(&agent->rng, 0.01, 0.05);
    if (!camas_task_sleep(agent->clock, work, error))
        return NULL;
    camas_agent_log(agent, "done %s", task);
    return camas_value_build("[s s s]", "done", self->label, task);
}

static void
reject(gpointer instance, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    const char *task;
    if (!camas_agent_args_or_fail(req, "task:s", &task))
        return;
    camas_agent_log(instance, "rejected %s", task);
    camas_request_reply_take(req, camas_value_new_str("ok"));
}

static const CamasRpcMethod methods[] = {
    {"cfp", NULL, cfp},
    {"accept", NULL, cn_accept},
    {"reject", reject},
    {NULL},
};

static const CamasParamSpec params[] = {
    {"label", CAMAS_PARAM_STR, CAMAS_PARAM_INIT_ARG, FALSE, NULL,
     "the name it bids under (default: its stream name <container>/<aid>)"},
    {NULL},
};

const CamasAgentClass camas__agent_contractor = {
    .name = "Contractor",
    .instance_size = sizeof(Contractor),
    .init = init,
    .finalize = finalize,
    .methods = methods,
    .summary = "contract-net bidder: cfp(task) -> [label, price], accept(task), reject(task)",
    .params = params,
};
