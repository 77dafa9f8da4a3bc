/* SPDX-License-Identifier: MIT */
/*
 * A plug-in as a user writes one (docs/scenarios.md, "Plug-ins"): one agent type, Adder, whose
 * class declares its parameters (CamasAgentClass.params) and whose scenario description adds its
 * final state, registered from camas_plugin_init().  Built by
 * tests/meson.build without linking libcamas: its camas calls resolve against the program that
 * loads it.  Built three ways for the scenario suite:
 *   MYAGENTS_VARIANT 0  the working plug-in
 *   MYAGENTS_VARIANT 1  camas_plugin_init() fails with a message
 *   MYAGENTS_VARIANT 2  exports no camas_plugin_init() at all
 *
 * Adder: add(n) adds n to its total and returns the total.  Given a peer, its run(peer) task
 * calls peer.add(step) `times` times, one after another; init takes a positional label.
 * Final state: {"label", "total", "sent"}.
 */
#include <camas/container.h>
#include <camas/scenario.h>

#ifndef MYAGENTS_VARIANT
#define MYAGENTS_VARIANT 0
#endif

typedef struct {
    CamasAgent base;
    char *label;
    gint64 step;
    gint64 times;
    gint64 total;
    gint64 sent;
} Adder;

static gboolean
init(CamasAgent *agent, const CamasValue *args, const CamasValue *kwargs, GError **error)
{
    Adder *self = (Adder *)agent;
    const char *label;
    if (!camas_value_unpack(args, error, "[s]", &label) ||
        !camas_value_unpack(kwargs, error, "{s:I s:I}", "step", &self->step, "times",
                            &self->times))
        return FALSE;
    self->label = g_strdup(label);
    camas_agent_log(agent, "%s ready", label);
    return TRUE;
}

static void
finalize(CamasAgent *agent)
{
    g_free(((Adder *)agent)->label);
}

static void
add(gpointer instance, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    Adder *self = instance;
    gint64 n;
    if (!camas_agent_args_or_fail(req, "n:I", &n))
        return;
    self->total += n;
    camas_request_reply_take(req, camas_value_new_int(self->total));
}

static CamasValue *
run(CamasAgent *agent, const CamasValue *args, GError **error)
{
    Adder *self = (Adder *)agent;
    if (camas_value_get_length(args) == 0)
        return camas_value_new_null(); /* nobody to add to */
    const char *peer;
    if (!camas_value_unpack(args, error, "[s]", &peer))
        return NULL;
    g_autoptr(CamasProxy) proxy = camas_agent_connect(agent, peer, error);
    if (!proxy)
        return NULL;
    g_autoptr(CamasValue) last = NULL;
    for (gint64 i = 0; i < self->times; i++) {
        g_clear_pointer(&last, camas_value_unref);
        if (!(last = camas_agent_call(proxy, "add", error, "[I]", self->step)))
            return NULL;
        self->sent++;
    }
    return g_steal_pointer(&last);
}

static CamasValue *
state(CamasAgent *agent)
{
    Adder *self = (Adder *)agent;
    return camas_value_build("{s:s s:I s:I}", "label", self->label, "total", self->total, "sent",
                             self->sent);
}

static const CamasRpcMethod methods[] = {{"add", add}, {NULL}};

static const CamasParamSpec adder_params[] = {
    {"label", CAMAS_PARAM_STR, CAMAS_PARAM_INIT_ARG, FALSE, "\"adder\"", "its name in logs"},
    {"step", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_KWARG, TRUE, NULL, "what each call adds"},
    {"times", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_KWARG, FALSE, "3", "calls to make"},
    {"peer", CAMAS_PARAM_AGENT, CAMAS_PARAM_START_ARG, FALSE, NULL, "the Adder to add to"},
    {NULL},
};

static const CamasAgentClass adder_class = {
    .name = "Adder",
    .instance_size = sizeof(Adder),
    .init = init,
    .finalize = finalize,
    .methods = methods,
    .run = run,
    .summary = "add(n) -> total; run(peer) calls peer.add(step) `times` times",
    .params = adder_params, /* checked by every entry point: scenarios, camas container */
};

static const CamasScenarioType adder_type = {
    .klass = &adder_class,
    .abi_version = CAMAS_SCENARIO_TYPE_ABI_VERSION,
    .state = state,
};

#if MYAGENTS_VARIANT == 0
CAMAS_PLUGIN_EXPORT gboolean camas_plugin_init(GError **error);

CAMAS_PLUGIN_EXPORT gboolean
camas_plugin_init(GError **error)
{
    return camas_scenario_type_register(&adder_type, error);
}
#elif MYAGENTS_VARIANT == 1
CAMAS_PLUGIN_EXPORT gboolean camas_plugin_init(GError **error);

CAMAS_PLUGIN_EXPORT gboolean
camas_plugin_init(GError **error)
{
    (void)adder_type;
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "the licence server said no");
    return FALSE;
}
#else
/* Misspelt on purpose: the loader must say what is missing. */
CAMAS_PLUGIN_EXPORT gboolean camas_plugin_initialize(GError **error);

CAMAS_PLUGIN_EXPORT gboolean
camas_plugin_initialize(GError **error)
{
    return camas_scenario_type_register(&adder_type, error);
}
#endif
