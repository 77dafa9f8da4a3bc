/* SPDX-License-Identifier: MIT */
/*
 * Link latencies of scenario files (docs/scenarios.md, "Links"): which of the file's `links`
 * rules applies between two containers, and the LocalQueue link model (camas/localqueue.h) that
 * a run installs on its loop, so that every frame from one container to another arrives after
 * the rule's latency.
 *
 * Determinism: each direction between two containers (a to b, b to a) has its own random
 * stream, derived from the run seed and the name "link:<a>-><b>", created when the first
 * connection in that direction is made and shared by every connection in it.  Its draws depend
 * only on the seed, the two names and the order of the frames sent that way — not on other
 * links, the rules' order, or when the stream was created — so adding a link elsewhere does not
 * change them.  Streams are found by name in a hash table that is never iterated.
 */
#include <string.h>

#include <camas/localqueue.h>
#include <camas/rng.h>
#include <camas/time.h>

#include "scenario-private.h"

/* Draws beyond this are clamped (camas_time_from_seconds' range; exponential tails). */
#define MAX_DRAW_SECONDS 9.2e9

const LinkRule *
camas__scenario_link_rule(const CamasScenario *s, guint from, guint to)
{
    /* The rule naming more of the two ends wins; the file was checked to have no ties between
     * different rules, so the order of this scan decides nothing. */
    const LinkRule *best = NULL;
    int best_spec = -1;
    for (guint i = 0; i < s->links->len; i++) {
        const LinkRule *r = g_ptr_array_index(s->links, i);
        for (int dir = 0; dir < (r->symmetric ? 2 : 1); dir++) {
            gint f = dir ? r->to : r->from;
            gint t = dir ? r->from : r->to;
            if ((f >= 0 && (guint)f != from) || (t >= 0 && (guint)t != to))
                continue;
            int spec = (f >= 0) + (t >= 0);
            if (spec > best_spec) {
                best = r;
                best_spec = spec;
            }
        }
    }
    return best;
}

/* --- the run's link model ------------------------------------------------------------------ */

/* One direction between two containers. */
typedef struct {
    LinkLatency latency; /* the rule's */
    CamasRng rng;        /* "link:<from>-><to>" of the run seed */
} Link;

typedef struct {
    const CamasScenario *scenario; /* borrowed: it outlives the run's loop */
    guint64 seed;
    GHashTable *index; /* container name -> index + 1 (names borrowed from the scenario) */
    GHashTable *links; /* "<from>\n<to>" -> Link* (owned); lookup only, never iterated */
} Model;

static void
model_free(gpointer data)
{
    Model *m = data;
    g_hash_table_unref(m->index);
    g_hash_table_unref(m->links);
    g_free(m);
}

static gint
container_of(Model *m, const char *queue_id)
{
    return queue_id ? GPOINTER_TO_INT(g_hash_table_lookup(m->index, queue_id)) - 1 : -1;
}

static gpointer
model_link(const char *from, const char *to, gpointer user_data)
{
    Model *m = user_data;
    gint f = container_of(m, from), t = container_of(m, to);
    if (f < 0 || t < 0)
        return NULL; /* not a scenario container (a test's own connection): no delay */
    const LinkRule *r = camas__scenario_link_rule(m->scenario, (guint)f, (guint)t);
    /* No rule, or a constant 0: the direction delivers exactly as without links. */
    if (!r || (r->latency.dist == LINK_CONSTANT && r->latency.ticks == 0))
        return NULL;
    g_autofree char *key = g_strconcat(from, "\n", to, NULL);
    Link *l = g_hash_table_lookup(m->links, key);
    if (!l) {
        l = g_new0(Link, 1);
        l->latency = r->latency;
        g_autofree char *name = g_strdup_printf("link:%s->%s", from, to);
        camas_rng_init_stream(&l->rng, m->seed, name);
        g_hash_table_insert(m->links, g_steal_pointer(&key), l);
    }
    return l;
}

gint64
camas__scenario_link_draw(const LinkLatency *d, CamasRng *rng)
{
    double x = 0;
    switch (d->dist) {
    case LINK_CONSTANT:
        return d->ticks;
    case LINK_UNIFORM:
        x = camas_rng_uniform(rng, d->a, d->b);
        break;
    case LINK_EXPONENTIAL:
        x = camas_rng_exponential(rng, 1.0 / d->a);
        break;
    case LINK_NORMAL:
        /* Truncated at 0 by redrawing; the mean is >= 0, so at least half the draws stand. */
        do
            x = camas_rng_normal(rng, d->a, d->b);
        while (x < 0);
        break;
    }
    gint64 ticks = 0;
    camas_time_from_seconds(MIN(x, MAX_DRAW_SECONDS), &ticks, NULL);
    return ticks;
}

static gint64
model_delay(gpointer link, gpointer user_data)
{
    Link *l = link;
    return camas__scenario_link_draw(&l->latency, &l->rng);
}

void
camas__scenario_links_install(const CamasScenario *scenario, CamasLoop *loop, guint64 seed)
{
    if (scenario->links->len == 0)
        return;
    Model *m = g_new0(Model, 1);
    m->scenario = scenario;
    m->seed = seed;
    m->index = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < scenario->containers->len; i++)
        g_hash_table_insert(m->index, g_ptr_array_index(scenario->containers, i),
                            GINT_TO_POINTER((gint)i + 1));
    m->links = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    static const CamasLinkModelFuncs funcs = {.link = model_link, .delay = model_delay};
    camas_localqueue_set_link_model(loop, &funcs, m, model_free);
}

void
camas__scenario_links_remove(CamasLoop *loop)
{
    camas_localqueue_set_link_model(loop, NULL, NULL, NULL);
}
