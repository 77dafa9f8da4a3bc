/* SPDX-License-Identifier: MIT */
/*
 * Gossip: push epidemic broadcast (Demers et al., "Epidemic algorithms for replicated database
 * maintenance", 1987).  A `source` node knows a rumor at time 0.  A node that knows it pushes
 * it `rounds` times, every `interval` seconds from when it heard it, each time to `fanout`
 * peers picked at random from its own stream (distinct, never itself) — so the run seed
 * decides who hears it when, and a different seed gives a different trace.  rumor(text, hops) answers whether the rumor
 * was news; the first copy a node receives infects it.
 *
 * With fanout f and r rounds, each infected node makes f*r pushes; the rumor reaches nearly
 * every one of n nodes once f*r is well above ln n.  The final state is {"infected", "hops"
 * (of the first copy, null if never infected), "time" (seconds, or null), "received", "sent"}.
 * The start future of an infected node succeeds when it has made its last push.
 */
#include <camas/scenario.h>
#include <camas/time.h>

#include "library-private.h"

typedef struct {
    CamasAgent base;
    CamasValue *peers;   /* list of URLs (may include the agent itself, which is skipped) */
    gint64 fanout;
    gint64 rounds;
    double interval;
    gboolean source;
    char *rumor;         /* the text; NULL until infected (non-sources) */
    gboolean infected;
    gint64 hops;
    gint64 infected_at;  /* ticks */
    gint64 received;
    gint64 sent;
    gint64 rounds_done;
    GHashTable *proxies; /* peer index -> CamasProxy (lookup only, never iterated) */
    CamasFuture *done;   /* the start future (a reference) */
} Gossip;

static gboolean
init(CamasAgent *agent, const CamasValue *args, const CamasValue *kwargs, GError **error)
{
    Gossip *self = (Gossip *)agent;
    const char *rumor = "rumor";
    self->fanout = 2;
    self->rounds = 3;
    self->interval = 0.1;
    CamasValue *v;
    if (!(v = camas_value_map_lookup(kwargs, "peers")) || !camas_value_is_sequence(v)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE, "Gossip needs its peers (a list of URLs)");
        return FALSE;
    }
    self->peers = camas_value_ref(v);
    for (gsize i = 0; i < camas_value_get_length(v); i++)
        if (!camas_value_to_str(camas_value_get_item(v, i), NULL, error))
            return FALSE;
    if ((v = camas_value_map_lookup(kwargs, "fanout")) && !camas_value_to_int64(v, &self->fanout, error))
        return FALSE;
    if ((v = camas_value_map_lookup(kwargs, "rounds")) && !camas_value_to_int64(v, &self->rounds, error))
        return FALSE;
    if ((v = camas_value_map_lookup(kwargs, "interval")) &&
        !camas_value_to_double(v, &self->interval, error))
        return FALSE;
    if ((v = camas_value_map_lookup(kwargs, "source")) && !camas_value_to_bool(v, &self->source, error))
        return FALSE;
    if ((v = camas_value_map_lookup(kwargs, "rumor")) && !(rumor = camas_value_to_str(v, NULL, error)))
        return FALSE;
    if (self->fanout < 1 || self->rounds < 0 || self->interval < 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "fanout must be at least 1; rounds and interval must not be negative");
        return FALSE;
    }
    if (self->source)
        self->rumor = g_strdup(rumor);
    self->proxies = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                          (GDestroyNotify)camas_proxy_unref);
    return TRUE;
}

static void
finalize(CamasAgent *agent)
{
    Gossip *self = (Gossip *)agent;
    g_clear_pointer(&self->peers, camas_value_unref);
    g_free(self->rumor);
    g_clear_pointer(&self->proxies, g_hash_table_unref);
    g_clear_pointer(&self->done, camas_future_unref);
}

static void
unref_agent(gpointer agent)
{
    camas_agent_unref(agent);
}

/* One push: the peer's index and the agent. */
typedef struct {
    Gossip *self; /* a reference */
    guint peer;
} Push;

static void
push_free(gpointer data)
{
    Push *p = data;
    camas_agent_unref(&p->self->base);
    g_free(p);
}

static void
on_answer(CamasFuture *f, gpointer data)
{
    Gossip *self = data;
    const GError *e = camas_future_get_error(f);
    if (e && camas_agent_is_alive(&self->base) &&
        !g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED) &&
        !g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CANCELLED))
        camas_agent_log(&self->base, "push failed: %s", e->message);
}

static void
push_with(Gossip *self, CamasProxy *proxy)
{
    self->sent++;
    CamasValue *args = camas_value_build("[s I]", self->rumor, self->hops + 1);
    CamasFuture *f = camas_proxy_call(proxy, "rumor", args, NULL);
    camas_value_unref(args);
    camas_future_add_callback(f, on_answer, camas_agent_ref(&self->base), unref_agent);
    camas_future_unref(f);
}

static void
on_connected(CamasFuture *f, gpointer data)
{
    Push *p = data;
    Gossip *self = p->self;
    if (!camas_agent_is_alive(&self->base))
        return;
    GError *error = NULL;
    CamasProxy *proxy = camas_container_connect_finish(f, &error);
    if (!proxy) {
        camas_agent_log(&self->base, "cannot reach %s: %s",
                        camas_value_get_str(camas_value_get_item(self->peers, p->peer), NULL),
                        error->message);
        g_error_free(error);
        return;
    }
    /* two pushes to one peer may both have connected: keep the first proxy */
    if (!g_hash_table_contains(self->proxies, GUINT_TO_POINTER(p->peer)))
        g_hash_table_insert(self->proxies, GUINT_TO_POINTER(p->peer), camas_proxy_ref(proxy));
    push_with(self, proxy);
    camas_proxy_unref(proxy);
}

static void
push(Gossip *self, guint peer)
{
    CamasProxy *proxy = g_hash_table_lookup(self->proxies, GUINT_TO_POINTER(peer));
    if (proxy) {
        push_with(self, proxy);
        return;
    }
    const char *url = camas_value_get_str(camas_value_get_item(self->peers, peer), NULL);
    GError *error = NULL;
    CamasFuture *f = camas_container_connect(self->base.container, url, &error);
    if (!f) {
        camas_agent_log(&self->base, "cannot reach %s: %s", url, error->message);
        g_error_free(error);
        return;
    }
    Push *p = g_new(Push, 1);
    p->self = (Gossip *)camas_agent_ref(&self->base);
    p->peer = peer;
    camas_future_add_callback(f, on_connected, p, push_free);
    camas_future_unref(f);
}

static void
finish(Gossip *self)
{
    if (self->done) {
        camas_future_set_result(self->done, camas_value_new_int(self->sent));
        g_clear_pointer(&self->done, camas_future_unref);
    }
}

/* One round: `fanout` distinct peers other than itself, drawn from the agent's stream. */
static void
gossip_round(Gossip *self)
{
    const char *me = camas_agent_get_url(&self->base);
    guint n = (guint)camas_value_get_length(self->peers);
    g_autofree guint *others = g_new(guint, n ? n : 1);
    guint m = 0;
    for (guint i = 0; i < n; i++)
        if (g_strcmp0(camas_value_get_str(camas_value_get_item(self->peers, i), NULL), me) != 0)
            others[m++] = i;
    guint k = (guint)MIN((gint64)m, self->fanout);
    /* a partial Fisher-Yates shuffle: the first k entries are a uniform sample */
    for (guint i = 0; i < k; i++) {
        guint j = i + (guint)camas_rng_below(&self->base.rng, m - i);
        guint t = others[i];
        others[i] = others[j];
        others[j] = t;
        push(self, others[i]);
    }
    self->rounds_done++;
}

static void schedule_round(Gossip *self);

static void
round_event(CamasLoop *loop, gpointer data)
{
    Gossip *self = data;
    if (!camas_agent_is_alive(&self->base))
        return;
    gossip_round(self);
    schedule_round(self);
}

static void
schedule_round(Gossip *self)
{
    if (self->rounds_done >= self->rounds) {
        finish(self);
        return;
    }
    if (self->interval == 0) {
        round_event(NULL, self);
        return;
    }
    GError *error = NULL;
    CamasEventId id = camas_clock_call_in(self->base.clock, self->interval, round_event,
                                          camas_agent_ref(&self->base), unref_agent, &error);
    if (camas_event_id_is_none(id)) {
        camas_agent_unref(&self->base);
        camas_agent_log(&self->base, "cannot schedule a round: %s", error->message);
        g_error_free(error);
    }
}

/* The first copy: remember it and start pushing, the first round one interval later (so a
 * rumor travels one hop per interval, as in the round-based model). */
static void
infect(Gossip *self, gint64 hops)
{
    self->infected = TRUE;
    self->hops = hops;
    self->infected_at = camas_loop_now(camas_container_get_loop(self->base.container));
    camas_agent_log(&self->base, "heard \"%s\" after %" G_GINT64_FORMAT " hops", self->rumor,
                    hops);
    schedule_round(self);
}

static void
rumor(gpointer instance, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    Gossip *self = instance;
    const char *text;
    gint64 hops;
    if (!camas_agent_args_or_fail(req, "text:s hops:I", &text, &hops))
        return;
    self->received++;
    gboolean news = !self->infected;
    if (news) {
        g_free(self->rumor);
        self->rumor = g_strdup(text);
    }
    camas_request_reply_take(req, camas_value_new_bool(news));
    if (news)
        infect(self, hops);
}

static void
start(CamasAgent *agent, const CamasValue *args, CamasFuture *done)
{
    Gossip *self = (Gossip *)agent;
    self->done = camas_future_ref(done);
    if (self->source && !self->infected)
        infect(self, 0);
}

static CamasValue *
state(CamasAgent *agent)
{
    Gossip *self = (Gossip *)agent;
    return camas_value_build(
        "{s:b s:V s:V s:I s:I}", "infected", self->infected, "hops",
        self->infected ? camas_value_new_int(self->hops) : camas_value_new_null(), "time",
        self->infected ? camas_value_new_float(camas_time_to_seconds(self->infected_at))
                       : camas_value_new_null(),
        "received", self->received, "sent", self->sent);
}

static const CamasRpcMethod methods[] = {{"rumor", rumor}, {NULL}};

static const CamasParamSpec params[] = {
    {"peers", CAMAS_PARAM_AGENTS, CAMAS_PARAM_INIT_KWARG, TRUE, NULL,
     "who it may push to (itself is skipped)"},
    {"fanout", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_KWARG, FALSE, "2", "peers per round"},
    {"rounds", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_KWARG, FALSE, "3", "rounds after infection"},
    {"interval", CAMAS_PARAM_DURATION, CAMAS_PARAM_INIT_KWARG, FALSE, "0.1",
     "seconds between rounds (and from hearing the rumor to the first; 0: all at once)"},
    {"source", CAMAS_PARAM_BOOL, CAMAS_PARAM_INIT_KWARG, FALSE, "false",
     "knows the rumor at time 0"},
    {"rumor", CAMAS_PARAM_STR, CAMAS_PARAM_INIT_KWARG, FALSE, "\"rumor\"",
     "the source's text"},
    {NULL},
};

const CamasAgentClass camas__agent_gossip = {
    .name = "Gossip",
    .instance_size = sizeof(Gossip),
    .init = init,
    .finalize = finalize,
    .methods = methods,
    .start = start,
    .summary = "push gossip: rumor(text, hops) -> news?; infected nodes push to random peers",
    .params = params,
};

const CamasScenarioType camas__scenario_type_gossip = {
    .klass = &camas__agent_gossip,
    .abi_version = CAMAS_SCENARIO_TYPE_ABI_VERSION,
    .state = state,
};
