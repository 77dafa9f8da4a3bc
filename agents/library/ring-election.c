/* SPDX-License-Identifier: MIT */
/*
 * RingElection: leader election on a unidirectional ring (Chang and Roberts, 1979).  Each node
 * knows only its successor (`next`) and has a unique id (`uid`; drawn from its own random
 * stream when the scenario gives none, so the seed decides who wins).  Initiators send
 * election(uid) to their successor.  A node receiving election(u):
 *   u > uid:  passes it on (and is now a participant);
 *   u < uid:  sends election(uid) instead, unless it is a participant already (then the smaller
 *             id dies here);
 *   u == uid: its own id came all the way round: it is the leader, and sends elected(uid).
 * elected(l) travels once round the ring, each node noting its leader; it stops at the leader.
 * At most O(n log n) messages on average, O(n^2) in the worst order.
 * On a ring every id passes each node at most once.  Successors that do not form one ring (a
 * tail leading into a cycle that does not hold the largest id) would pass an id round the
 * cycle forever, all at one simulated time, so no stop time could end the run: a node passes
 * each id on once and logs and drops a repeat.
 *
 * Every call is answered at once ("ok"); forwarding is a new call to the successor, so the
 * messages flow round the ring as the algorithm's do.  A node connects to its successor when
 * it starts and keeps what it must send before the connection is up in order.  The start
 * future succeeds with the leader's id once the node knows it; the final state is
 * {"uid", "leader" (null until known), "is_leader", "sent"}.
 */
#include <camas/scenario.h>

#include "library-private.h"

typedef struct {
    CamasAgent base;
    char *next;          /* the successor's URL */
    gint64 uid;
    gboolean initiator;
    gboolean participant;
    gboolean has_leader;
    gint64 leader;
    gint64 sent;         /* calls made */
    CamasProxy *proxy;   /* to the successor, once connected */
    GQueue backlog;      /* CamasValue* [method, uid] waiting for the connection */
    GHashTable *passed;  /* ids passed on (gint64*), for membership only */
    CamasFuture *done;   /* the start future (a reference) until the leader is known */
} RingNode;

static gboolean
init(CamasAgent *agent, const CamasValue *args, const CamasValue *kwargs, GError **error)
{
    RingNode *self = (RingNode *)agent;
    const char *next = NULL;
    self->initiator = TRUE;
    /* 31 bits: ids that read well in traces; with a few hundred nodes a collision is
     * unlikely, and a scenario that must rule it out gives the ids */
    self->uid = (gint64)camas_rng_below(&agent->rng, G_GUINT64_CONSTANT(1) << 31);
    CamasValue *v;
    if ((v = camas_value_map_lookup(kwargs, "next")) && !(next = camas_value_to_str(v, NULL, error)))
        return FALSE;
    if ((v = camas_value_map_lookup(kwargs, "uid")) && !camas_value_to_int64(v, &self->uid, error))
        return FALSE;
    if ((v = camas_value_map_lookup(kwargs, "initiator")) &&
        !camas_value_to_bool(v, &self->initiator, error))
        return FALSE;
    if (!next) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE, "RingElection needs its successor (next)");
        return FALSE;
    }
    self->next = g_strdup(next);
    g_queue_init(&self->backlog);
    return TRUE;
}

static void
finalize(CamasAgent *agent)
{
    RingNode *self = (RingNode *)agent;
    g_free(self->next);
    g_clear_pointer(&self->proxy, camas_proxy_unref);
    g_queue_clear_full(&self->backlog, (GDestroyNotify)camas_value_unref);
    g_clear_pointer(&self->passed, g_hash_table_unref);
    g_clear_pointer(&self->done, camas_future_unref);
}

static void
unref_agent(gpointer agent)
{
    camas_agent_unref(agent);
}

static void
on_sent(CamasFuture *f, gpointer data)
{
    RingNode *self = data;
    const GError *e = camas_future_get_error(f);
    /* At shutdown pending calls fail with CLOSED; only failures during the run are news. */
    if (e && camas_agent_is_alive(&self->base) && !g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED) &&
        !g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CANCELLED))
        camas_agent_log(&self->base, "call to the successor failed: %s", e->message);
}

static void
call_next(RingNode *self, const char *method, gint64 uid)
{
    self->sent++;
    CamasValue *args = camas_value_build("[I]", uid);
    CamasFuture *f = camas_proxy_call(self->proxy, method, args, NULL);
    camas_value_unref(args);
    camas_future_add_callback(f, on_sent, camas_agent_ref(&self->base), unref_agent);
    camas_future_unref(f);
}

static void
send_next(RingNode *self, const char *method, gint64 uid)
{
    if (self->proxy)
        call_next(self, method, uid);
    else
        g_queue_push_tail(&self->backlog, camas_value_build("[s I]", method, uid));
}

static void
learn_leader(RingNode *self, gint64 leader)
{
    self->has_leader = TRUE;
    self->leader = leader;
    self->participant = FALSE;
    camas_agent_log(&self->base, "leader is %" G_GINT64_FORMAT "%s", leader,
                    leader == self->uid ? " (me)" : "");
    if (self->done) {
        camas_future_set_result(self->done, camas_value_new_int(leader));
        g_clear_pointer(&self->done, camas_future_unref);
    }
}

static void
election(gpointer instance, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    RingNode *self = instance;
    gint64 u;
    if (!camas_agent_args_or_fail(req, "uid:I", &u))
        return;
    camas_request_reply_take(req, camas_value_new_str("ok"));
    if (u > self->uid) {
        self->participant = TRUE;
        if (!self->passed)
            self->passed = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
        if (g_hash_table_contains(self->passed, &u)) {
            camas_agent_log(&self->base, "election(%" G_GINT64_FORMAT ") came by again: the "
                            "successors do not form a ring; dropped", u);
            return;
        }
        g_hash_table_add(self->passed, g_memdup2(&u, sizeof u));
        send_next(self, "election", u);
    } else if (u < self->uid) {
        if (!self->participant) {
            self->participant = TRUE;
            send_next(self, "election", self->uid);
        }
    } else {
        camas_agent_log(&self->base, "my id %" G_GINT64_FORMAT " came back: I am the leader",
                        self->uid);
        send_next(self, "elected", self->uid);
    }
}

static void
elected(gpointer instance, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    RingNode *self = instance;
    gint64 l;
    if (!camas_agent_args_or_fail(req, "uid:I", &l))
        return;
    camas_request_reply_take(req, camas_value_new_str("ok"));
    learn_leader(self, l);
    if (l != self->uid)
        send_next(self, "elected", l);
}

static void
on_connected(CamasFuture *f, gpointer data)
{
    RingNode *self = data;
    if (!camas_agent_is_alive(&self->base))
        return;
    GError *error = NULL;
    self->proxy = camas_container_connect_finish(f, &error);
    if (!self->proxy) {
        camas_agent_log(&self->base, "cannot reach the successor: %s", error->message);
        if (self->done)
            camas_future_set_error(self->done, error);
        else
            g_error_free(error);
        g_clear_pointer(&self->done, camas_future_unref);
        return;
    }
    CamasValue *item;
    while ((item = g_queue_pop_head(&self->backlog)) != NULL) {
        call_next(self, camas_value_get_str(camas_value_get_item(item, 0), NULL),
                  camas_value_get_int(camas_value_get_item(item, 1)));
        camas_value_unref(item);
    }
}

static void
start(CamasAgent *agent, const CamasValue *args, CamasFuture *done)
{
    RingNode *self = (RingNode *)agent;
    if (!self->has_leader)
        self->done = camas_future_ref(done);
    else
        camas_future_set_result(done, camas_value_new_int(self->leader));
    GError *error = NULL;
    CamasFuture *f = camas_container_connect(agent->container, self->next, &error);
    if (!f) {
        camas_agent_log(agent, "cannot reach the successor: %s", error->message);
        if (self->done)
            camas_future_set_error(self->done, error);
        else
            g_error_free(error);
        g_clear_pointer(&self->done, camas_future_unref);
        return;
    }
    camas_future_add_callback(f, on_connected, camas_agent_ref(agent), unref_agent);
    camas_future_unref(f);
    if (self->initiator && !self->participant) {
        self->participant = TRUE;
        send_next(self, "election", self->uid);
    }
}

static CamasValue *
state(CamasAgent *agent)
{
    RingNode *self = (RingNode *)agent;
    return camas_value_build("{s:I s:V s:b s:I}", "uid", self->uid, "leader",
                             self->has_leader ? camas_value_new_int(self->leader)
                                              : camas_value_new_null(),
                             "is_leader", self->has_leader && self->leader == self->uid, "sent",
                             self->sent);
}

static const CamasRpcMethod methods[] = {
    {"election", election},
    {"elected", elected},
    {NULL},
};

static const CamasParamSpec params[] = {
    {"next", CAMAS_PARAM_AGENT, CAMAS_PARAM_INIT_KWARG, TRUE, NULL,
     "the successor on the ring (\"@ring+1\")"},
    {"uid", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_KWARG, FALSE, NULL,
     "the node's unique id (default: drawn from its random stream)"},
    {"initiator", CAMAS_PARAM_BOOL, CAMAS_PARAM_INIT_KWARG, FALSE, "true",
     "starts an election at time 0"},
    {NULL},
};

const CamasAgentClass camas__agent_ring_election = {
    .name = "RingElection",
    .instance_size = sizeof(RingNode),
    .init = init,
    .finalize = finalize,
    .methods = methods,
    .start = start,
    .summary = "Chang-Roberts leader election on a ring: election(uid), elected(uid)",
    .params = params,
};

const CamasScenarioType camas__scenario_type_ring_election = {
    .klass = &camas__agent_ring_election,
    .abi_version = CAMAS_SCENARIO_TYPE_ABI_VERSION,
    .state = state,
};
