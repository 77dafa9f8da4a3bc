/* SPDX-License-Identifier: MIT */
/*
 * PingPong: the smallest useful pair of agents, and the runner's benchmark.  Every PingPong
 * answers ping(n) with n.  One given a peer (a scenario parameter) connects to it when it
 * starts and pings it `rounds` times, each ping after the previous answer (and `interval`
 * seconds later, when that is not 0), checking that every answer echoes its ping; then its
 * start future succeeds with the number of answers.  Its final state counts both sides:
 * {"pings": answered, "pongs": received}.
 *
 * Written in callback style (futures and clock calls, no coroutine): an agent costs a few
 * dozen bytes besides its base, so a scenario can hold 100 000 of them.  Each continuation
 * holds a reference on the agent and first checks that the run is still going (container
 * shutdown cancels the start future), as camas/agent.h asks of callback-style agents.
 */
#include <camas/scenario.h>

#include "library-private.h"

typedef struct {
    CamasAgent base;
    char *peer;          /* the URL to ping, or NULL: only answer */
    gint64 rounds;       /* pings to send */
    double interval;     /* seconds between an answer and the next ping; 0 = at once */
    gint64 pings;        /* pings answered */
    gint64 pongs;        /* answers received */
    CamasProxy *proxy;   /* to the peer, once connected */
    CamasFuture *done;   /* the start future (a reference), while pinging */
} PingPong;

static gboolean
init(CamasAgent *agent, const CamasValue *args, const CamasValue *kwargs, GError **error)
{
    PingPong *self = (PingPong *)agent;
    const char *peer = NULL;
    gint64 rounds = 1;
    double interval = 0;
    CamasValue *v;
    if ((v = camas_value_map_lookup(kwargs, "peer")) && !(peer = camas_value_to_str(v, NULL, error)))
        return FALSE;
    if ((v = camas_value_map_lookup(kwargs, "rounds")) && !camas_value_to_int64(v, &rounds, error))
        return FALSE;
    if ((v = camas_value_map_lookup(kwargs, "interval")) &&
        !camas_value_to_double(v, &interval, error))
        return FALSE;
    if (rounds < 0 || interval < 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "rounds and interval must not be negative");
        return FALSE;
    }
    self->peer = g_strdup(peer);
    self->rounds = rounds;
    self->interval = interval;
    return TRUE;
}

static void
finalize(CamasAgent *agent)
{
    PingPong *self = (PingPong *)agent;
    g_free(self->peer);
    g_clear_pointer(&self->proxy, camas_proxy_unref);
    g_clear_pointer(&self->done, camas_future_unref);
}

static void
ping(gpointer instance, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    PingPong *self = instance;
    CamasValue *n;
    /* the common case without the argument binder (this is the benchmark's hot path); any
     * other call shape gets Python's TypeError from it */
    if (camas_value_get_length(args) == 1 && camas_value_get_length(kwargs) == 0)
        n = camas_value_get_item(args, 0);
    else if (!camas_agent_args_or_fail(req, "n:v", &n))
        return;
    self->pings++;
    camas_request_reply(req, n);
}

/* A continuation's agent reference. */
static void
unref_agent(gpointer agent)
{
    camas_agent_unref(agent);
}

/* FALSE once the run ended for this agent (shutdown cancelled its start future). */
static gboolean
running(PingPong *self)
{
    return self->done && !camas_future_is_done(self->done);
}

static void
finish(PingPong *self, GError *error)
{
    if (error) {
        camas_agent_log(&self->base, "failed: %s", error->message);
        camas_future_set_error(self->done, error);
    } else {
        camas_agent_log(&self->base, "done: %" G_GINT64_FORMAT " pongs", self->pongs);
        camas_future_set_result(self->done, camas_value_new_int(self->pongs));
    }
    g_clear_pointer(&self->done, camas_future_unref);
}

static void send_ping(PingPong *self);

static void
on_pong(CamasFuture *f, gpointer data)
{
    PingPong *self = data;
    if (!running(self))
        return;
    GError *error = NULL;
    g_autoptr(CamasValue) answer = NULL;
    if (!camas_future_propagate(f, &answer, &error)) {
        finish(self, error);
        return;
    }
    gint64 n = 0;
    if (!camas_value_to_int64(answer, &n, NULL) || n != self->pongs) {
        g_autofree char *r = camas_value_repr(answer);
        finish(self, g_error_new(CAMAS_ERROR, CAMAS_ERROR_INVALID,
                                 "ping %" G_GINT64_FORMAT " was answered with %s", self->pongs,
                                 r));
        return;
    }
    self->pongs++;
    send_ping(self);
}

static void
ping_later(CamasLoop *loop, gpointer data)
{
    PingPong *self = data;
    if (running(self)) {
        CamasValue *n = camas_value_new_int(self->pongs);
        CamasValue *args = camas_value_new_list_take(&n, 1);
        CamasFuture *f = camas_proxy_call(self->proxy, "ping", args, NULL);
        camas_value_unref(args);
        camas_future_add_callback(f, on_pong, camas_agent_ref(&self->base), unref_agent);
        camas_future_unref(f);
    }
}

static void
send_ping(PingPong *self)
{
    if (self->pongs >= self->rounds) {
        finish(self, NULL);
        return;
    }
    if (self->interval > 0 && self->pongs > 0) {
        GError *error = NULL;
        CamasEventId id = camas_clock_call_in(self->base.clock, self->interval, ping_later,
                                              camas_agent_ref(&self->base), unref_agent, &error);
        if (camas_event_id_is_none(id)) {
            camas_agent_unref(&self->base); /* not taken on failure */
            finish(self, error);
        }
        return;
    }
    ping_later(NULL, self);
}

static void
on_connected(CamasFuture *f, gpointer data)
{
    PingPong *self = data;
    if (!running(self))
        return;
    GError *error = NULL;
    self->proxy = camas_container_connect_finish(f, &error);
    if (!self->proxy) {
        finish(self, error);
        return;
    }
    send_ping(self);
}

static void
start(CamasAgent *agent, const CamasValue *args, CamasFuture *done)
{
    PingPong *self = (PingPong *)agent;
    if (!self->peer || self->rounds == 0) {
        camas_future_set_result(done, camas_value_new_int(0));
        return;
    }
    self->done = camas_future_ref(done);
    GError *error = NULL;
    CamasFuture *f = camas_container_connect(agent->container, self->peer, &error);
    if (!f) {
        finish(self, error);
        return;
    }
    camas_future_add_callback(f, on_connected, camas_agent_ref(agent), unref_agent);
    camas_future_unref(f);
}

static CamasValue *
state(CamasAgent *agent)
{
    PingPong *self = (PingPong *)agent;
    return camas_value_build("{s:I s:I}", "pings", self->pings, "pongs", self->pongs);
}

static const CamasRpcMethod methods[] = {{"ping", ping}, {NULL}};

static const CamasParamSpec params[] = {
    {"peer", CAMAS_PARAM_AGENT, CAMAS_PARAM_INIT_KWARG, FALSE, NULL,
     "the agent to ping (default: none, only answer)"},
    {"rounds", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_KWARG, FALSE, "1", "pings to send"},
    {"interval", CAMAS_PARAM_DURATION, CAMAS_PARAM_INIT_KWARG, FALSE, "0",
     "seconds between an answer and the next ping (0: at once)"},
    {NULL},
};

const CamasAgentClass camas__agent_ping_pong = {
    .name = "PingPong",
    .instance_size = sizeof(PingPong),
    .init = init,
    .finalize = finalize,
    .methods = methods,
    .start = start,
    .summary = "ping(n) -> n; with a peer, pings it `rounds` times, one ping per answer",
    .params = params,
};

const CamasScenarioType camas__scenario_type_ping_pong = {
    .klass = &camas__agent_ping_pong,
    .abi_version = CAMAS_SCENARIO_TYPE_ABI_VERSION,
    .state = state,
};
