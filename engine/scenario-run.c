/* SPDX-License-Identifier: MIT */
/*
 * Running a scenario (camas/scenario.h): builds the world a parsed scenario describes (one
 * loop, an as-fast-as-possible clock, one LocalQueue container per named container, the agent
 * groups), attaches the canonical trace, runs in simulated time to the stop time, reads the
 * agents' final states, and compares all of that with the file's "expect" section.
 *
 * Determinism: everything here happens in file order — containers, then agents group by group
 * (agent i of a group in container i mod n), then the entry points in spawn order, all at time
 * 0 — and nothing reads the wall clock except to measure and report progress, which never
 * feeds back into the run.  The trace is detached before the world is shut down, so teardown
 * (which fails pending calls with "Connection closed") is not part of the fingerprint.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <camas/container.h>
#include <camas/time.h>

#include "scenario-private.h"
#include "value-private.h"

/* Progress is reported every this many events. */
#define PROGRESS_EVERY 65536u

typedef struct {
    char *name;
    guint count;
    CamasValue **states; /* owned, one per agent (never NULL: null values) */
} GroupStates;

struct _CamasScenarioResult {
    CamasScenarioStats stats;
    gboolean seed_overridden;
    gboolean until_overridden;
    GroupStates *groups;
    guint n_groups;
    char *divergence;
};

/* --- the reference trace comparison -------------------------------------------------------- */

typedef struct {
    CamasTraceLineFunc user;     /* the caller's sink */
    gpointer user_data;
    FILE *reference;             /* nullable */
    const char *reference_path;
    char *ref_line;              /* getline buffer */
    size_t ref_cap;
    guint64 n;                   /* lines seen */
    char *divergence;            /* the first difference, owned */
} Sink;

static char *
chomp_dup(const char *s, gsize len)
{
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    return g_strndup(s, len);
}

static void
sink_line(const char *line, gsize len, gpointer data)
{
    Sink *k = data;
    if (k->user)
        k->user(line, len, k->user_data);
    if (k->reference && !k->divergence) {
        ssize_t got = getline(&k->ref_line, &k->ref_cap, k->reference);
        g_autofree char *mine = chomp_dup(line, len);
        if (got < 0) {
            k->divergence = g_strdup_printf("record %" G_GUINT64_FORMAT
                                            ": the reference trace ends here, the run has %s",
                                            k->n, mine);
        } else {
            g_autofree char *theirs = chomp_dup(k->ref_line, (gsize)got);
            if (strcmp(theirs, mine) != 0)
                k->divergence = g_strdup_printf("record %" G_GUINT64_FORMAT
                                                ": expected %s, got %s",
                                                k->n, theirs, mine);
        }
    }
    k->n++;
}

/* After the run: a reference with lines left over diverges too. */
static void
sink_finish(Sink *k)
{
    if (!k->reference || k->divergence)
        return;
    ssize_t got = getline(&k->ref_line, &k->ref_cap, k->reference);
    if (got > 0) {
        g_autofree char *theirs = chomp_dup(k->ref_line, (gsize)got);
        k->divergence = g_strdup_printf("record %" G_GUINT64_FORMAT
                                        ": the run ended after %" G_GUINT64_FORMAT
                                        " records, the reference trace goes on with %s",
                                        k->n, k->n, theirs);
    }
}

/* --- building agents' arguments ------------------------------------------------------------ */

static CamasValue *
binding_value(const ParamBinding *b, guint agent)
{
    if (b->mode == PARAM_FIXED)
        return camas_value_ref(b->value);
    gint64 k = b->group->count;
    gint64 i = (((gint64)agent + b->offset) % k + k) % k;
    return camas_value_new_str(b->group->urls[i]);
}

/* What one group's agents get, built once for the group: the keyword names as values (shared
 * by every agent's kwargs map) and the parameters each call takes.  With 100 000 agents the
 * arguments are built 200 000 times, so per agent only the values differ. */
typedef struct {
    CamasValue **kw_names; /* per parameter: its name as a str value (owned), or NULL */
    guint n_init_args, n_kwargs, n_start_args;
} GroupArgs;

static void
group_args_init(GroupArgs *ga, const ScenarioGroup *g)
{
    *ga = (GroupArgs){.kw_names = g_new0(CamasValue *, g->n_params ? g->n_params : 1)};
    for (guint i = 0; i < g->n_params; i++) {
        if (g->params[i].mode == PARAM_ABSENT)
            continue;
        const CamasParamSpec *spec = &g->type->params[i];
        switch (spec->target) {
        case CAMAS_PARAM_INIT_KWARG:
            ga->kw_names[i] = camas_value_new_str(spec->name);
            ga->n_kwargs++;
            break;
        case CAMAS_PARAM_INIT_ARG:
            ga->n_init_args++;
            break;
        case CAMAS_PARAM_START_ARG:
            ga->n_start_args++;
            break;
        }
    }
}

static void
group_args_clear(GroupArgs *ga, const ScenarioGroup *g)
{
    for (guint i = 0; i < g->n_params; i++)
        g_clear_pointer(&ga->kw_names[i], camas_value_unref);
    g_free(ga->kw_names);
}

/* The init arguments of agent @agent: @init_args, @init_kwargs (out) (transfer full): a list
 * and a map, in the order the type declares its parameters, or NULL for none (the container
 * passes its static empty ones: no allocation for agents without arguments).  (Not inlined:
 * its g_newa arrays must go when it returns, not pile up in the caller's loop.) */
static G_GNUC_NO_INLINE void
build_init_args(const ScenarioGroup *g, const GroupArgs *ga, guint agent,
                CamasValue **init_args, CamasValue **init_kwargs)
{
    /* the values below take the references, not these arrays */
    CamasValue **pos = g_newa(CamasValue *, ga->n_init_args + 1);
    CamasValue **keys = g_newa(CamasValue *, ga->n_kwargs + 1);
    CamasValue **values = g_newa(CamasValue *, ga->n_kwargs + 1);
    guint n_pos = 0, n_kw = 0;
    for (guint i = 0; i < g->n_params; i++) {
        const ParamBinding *b = &g->params[i];
        if (b->mode == PARAM_ABSENT)
            continue;
        switch (g->type->params[i].target) {
        case CAMAS_PARAM_INIT_KWARG:
            keys[n_kw] = camas_value_ref(ga->kw_names[i]);
            values[n_kw++] = binding_value(b, agent);
            break;
        case CAMAS_PARAM_INIT_ARG:
            pos[n_pos++] = binding_value(b, agent);
            break;
        case CAMAS_PARAM_START_ARG:
            break;
        }
    }
    *init_args = n_pos ? camas_value_new_list_take(pos, n_pos) : NULL;
    *init_kwargs = n_kw ? camas_value_new_map_take(keys, values, n_kw, NULL) : NULL;
}

/* The start arguments of agents that take none: static, so not allocated per agent (the agent
 * may keep a reference; a static value is never counted or freed). */
static CamasValue no_start_args = CAMAS__VALUE_STATIC_SEQ(NULL, 0);

/* @start_args: (out) (transfer full): the list the agent's entry point gets.  (Not inlined,
 * as above.) */
static G_GNUC_NO_INLINE CamasValue *
build_start_args(const ScenarioGroup *g, const GroupArgs *ga, guint agent)
{
    if (ga->n_start_args == 0)
        return &no_start_args;
    CamasValue **start = g_newa(CamasValue *, ga->n_start_args + 1);
    guint n = 0;
    for (guint i = 0; i < g->n_params; i++)
        if (g->params[i].mode != PARAM_ABSENT &&
            g->type->params[i].target == CAMAS_PARAM_START_ARG)
            start[n++] = binding_value(&g->params[i], agent);
    return camas_value_new_list_take(start, n);
}

/* --- running -------------------------------------------------------------------------------- */

static gboolean
has_entry_point(const CamasAgentClass *klass)
{
    return klass->run != NULL || klass->start != NULL;
}

static CamasValue *
outcome_state(CamasFuture *f)
{
    if (!f || !camas_future_is_done(f))
        return camas_value_new_null();
    CamasValue *r = camas_future_get_result(f);
    if (r)
        return camas_value_ref(r);
    const GError *e = camas_future_get_error(f);
    if (e)
        return camas_value_build("{s:s}", "error", e->message);
    return camas_value_new_null();
}

void
camas_scenario_result_free(CamasScenarioResult *result)
{
    if (!result)
        return;
    for (guint i = 0; i < result->n_groups; i++) {
        GroupStates *gs = &result->groups[i];
        for (guint a = 0; a < gs->count; a++)
            g_clear_pointer(&gs->states[a], camas_value_unref);
        g_free(gs->states);
        g_free(gs->name);
    }
    g_free(result->groups);
    g_free(result->divergence);
    g_free(result);
}

CamasScenarioResult *
camas_scenario_run(CamasScenario *scenario, const CamasScenarioRunOptions *options,
                   GError **error)
{
    g_return_val_if_fail(scenario != NULL, NULL);
    static const CamasScenarioRunOptions defaults = {0};
    const CamasScenarioRunOptions *o = options ? options : &defaults;
    CamasScenario *s = scenario;
    gint64 wall_start = g_get_monotonic_time();

    guint64 seed = o->override_seed ? o->seed : s->seed;
    gint64 until = o->until > 0 ? o->until : s->until;

    Sink sink = {.user = o->trace_func, .user_data = o->trace_data};
    const char *reference = o->reference_trace;
    if (reference) {
        sink.reference = fopen(reference, "rb");
        if (!sink.reference) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "%s: cannot read the reference trace %s: %s", s->origin, reference,
                        g_strerror(errno));
            return NULL;
        }
    }

    CamasLoop *loop = camas_loop_new();
    CamasClock *clock = camas_clock_new_afap(loop, s->start_date, 0);
    CamasCanonicalTrace *trace = camas_canonical_trace_new(sink_line, &sink);
    camas_canonical_trace_attach(trace, loop);
    camas__scenario_links_install(s, loop, seed);

    guint n_containers = s->containers->len;
    CamasContainer **containers = g_new0(CamasContainer *, n_containers);
    guint n_groups = s->groups->len;
    CamasAgent ***agents = g_new0(CamasAgent **, n_groups);    /* borrowed from containers */
    CamasFuture ***starts = g_new0(CamasFuture **, n_groups); /* owned */
    CamasScenarioResult *result = NULL;
    gboolean ok = TRUE;

    for (guint c = 0; ok && c < n_containers; c++) {
        const char *name = g_ptr_array_index(s->containers, c);
        g_autofree char *address = g_strdup_printf("local://%s", name);
        CamasContainerOptions copts = {.codec = s->codec, .seed = seed, .name = name};
        g_autoptr(GError) e = NULL;
        containers[c] = camas_container_new(clock, address, &copts, &e);
        if (!containers[c]) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s: container %s: %s",
                        s->origin, name, e->message);
            ok = FALSE;
        }
    }

    GroupArgs *group_args = g_new0(GroupArgs, n_groups);
    for (guint gi = 0; gi < n_groups; gi++)
        group_args_init(&group_args[gi], g_ptr_array_index(s->groups, gi));

    /* Spawn everything first, so every agent exists before any of them starts. */
    for (guint gi = 0; ok && gi < n_groups; gi++) {
        ScenarioGroup *g = g_ptr_array_index(s->groups, gi);
        agents[gi] = g_new0(CamasAgent *, g->count);
        for (guint a = 0; ok && a < g->count; a++) {
            CamasContainer *c = containers[g->containers[a % g->n_containers]];
            g_autoptr(CamasValue) args = NULL, kwargs = NULL;
            build_init_args(g, &group_args[gi], a, &args, &kwargs);
            g_autoptr(GError) e = NULL;
            CamasAgent *agent = camas_container_spawn(c, g->type->klass, args, kwargs, &e);
            if (!agent) {
                g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s: agent %s[%u] (%s): %s",
                            s->origin, g->name, a, g->type->klass->name, e->message);
                ok = FALSE;
            } else if (strcmp(camas_agent_get_url(agent), g->urls[a]) != 0) {
                /* references were resolved with this URL: a mismatch would wire agents to the
                 * wrong peers, so it is an error, never a silent difference */
                g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED,
                            "%s: agent %s[%u] got the URL %s instead of %s", s->origin, g->name,
                            a, camas_agent_get_url(agent), g->urls[a]);
                ok = FALSE;
            }
            agents[gi][a] = agent;
        }
    }
    for (guint gi = 0; ok && gi < n_groups; gi++) {
        ScenarioGroup *g = g_ptr_array_index(s->groups, gi);
        if (!has_entry_point(g->type->klass))
            continue;
        starts[gi] = g_new0(CamasFuture *, g->count);
        for (guint a = 0; ok && a < g->count; a++) {
            g_autoptr(CamasValue) start_args = build_start_args(g, &group_args[gi], a);
            g_autoptr(GError) e = NULL;
            starts[gi][a] = camas_agent_start(agents[gi][a], start_args, &e);
            if (!starts[gi][a]) {
                g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                            "%s: agent %s[%u] (%s) did not start: %s", s->origin, g->name, a,
                            g->type->klass->name, e->message);
                ok = FALSE;
            }
        }
    }

    for (guint gi = 0; gi < n_groups; gi++)
        group_args_clear(&group_args[gi], g_ptr_array_index(s->groups, gi));
    g_free(group_args);

    gint64 run_start = g_get_monotonic_time();
    guint64 events = 0;
    if (ok) {
        /* slices: for progress reports, and to stop at the event limit */
        guint64 limit = o->max_events ? o->max_events : G_MAXUINT64;
        for (;;) {
            guint64 slice = MIN(o->progress ? PROGRESS_EVERY : G_MAXUINT64, limit - events);
            if (slice == 0)
                break;
            gsize n = camas_loop_run_events(loop, until, (gsize)slice);
            events += n;
            if (n < slice)
                break;
            if (o->progress)
                o->progress(camas_loop_now(loop), until, events, o->progress_data);
        }
        gint64 next;
        if (events == limit && camas_loop_next_time(loop, &next) && next <= until) {
            gint64 now = camas_loop_now(loop); /* >= 0: printed without the locale */
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE,
                        "%s: the run reached the event limit (%" G_GUINT64_FORMAT
                        " events) at %" G_GINT64_FORMAT ".%09" G_GINT64_FORMAT
                        " s simulated with more due before the stop time",
                        s->origin, limit, now / CAMAS_TICKS_PER_SECOND,
                        now % CAMAS_TICKS_PER_SECOND);
            ok = FALSE;
        } else if (events == limit) {
            camas_loop_run_until(loop, until); /* nothing due: moves now to the stop time */
        }
    }
    gint64 run_end = g_get_monotonic_time();

    if (ok) {
        result = g_new0(CamasScenarioResult, 1);
        CamasScenarioStats *st = &result->stats;
        g_autofree char *fp = camas_canonical_trace_dup_fingerprint(trace);
        memcpy(st->fingerprint, fp, 64);
        st->fingerprint[64] = '\0';
        st->seed = seed;
        st->sim_time = camas_loop_now(loop);
        st->events = events;
        st->records = camas_canonical_trace_get_records(trace);
        for (int k = 0; k <= CAMAS_TRACE_SPAWN; k++)
            st->counts[k] = camas_canonical_trace_get_count(trace, (CamasTraceKind)k);
        st->messages = st->counts[CAMAS_TRACE_SEND];
        st->delivered = st->counts[CAMAS_TRACE_DELIVER] + st->counts[CAMAS_TRACE_REPLY] +
                        st->counts[CAMAS_TRACE_FAILURE];
        st->run_seconds = (double)(run_end - run_start) / 1e6;
        result->seed_overridden = o->override_seed && o->seed != s->seed;
        result->until_overridden = o->until > 0 && o->until != s->until;
        result->n_groups = n_groups;
        result->groups = g_new0(GroupStates, n_groups);
        for (guint gi = 0; gi < n_groups; gi++) {
            ScenarioGroup *g = g_ptr_array_index(s->groups, gi);
            GroupStates *gs = &result->groups[gi];
            gs->name = g_strdup(g->name);
            gs->count = g->count;
            gs->states = g_new0(CamasValue *, g->count);
            for (guint a = 0; a < g->count; a++) {
                CamasValue *v = g->type->state ? g->type->state(agents[gi][a])
                                               : outcome_state(starts[gi] ? starts[gi][a] : NULL);
                gs->states[a] = v ? v : camas_value_new_null();
            }
        }
        sink_finish(&sink);
        result->divergence = g_steal_pointer(&sink.divergence);
    }

    /* Teardown is not part of the trace. */
    camas_loop_set_tracer(loop, NULL, NULL, NULL);
    for (guint gi = 0; gi < n_groups; gi++) {
        ScenarioGroup *g = g_ptr_array_index(s->groups, gi);
        if (starts[gi])
            for (guint a = 0; a < g->count; a++)
                g_clear_pointer(&starts[gi][a], camas_future_unref);
        g_free(starts[gi]);
        g_free(agents[gi]);
    }
    g_free(starts);
    g_free(agents);
    for (guint c = 0; c < n_containers; c++)
        g_clear_pointer(&containers[c], camas_container_free);
    g_free(containers);
    camas_clock_unref(clock);
    camas__scenario_links_remove(loop);
    camas_loop_free(loop);
    camas_canonical_trace_free(trace);
    if (sink.reference)
        fclose(sink.reference);
    free(sink.ref_line);
    g_free(sink.divergence);
    if (result)
        result->stats.wall_seconds = (double)(run_end - wall_start) / 1e6;
    return result;
}

/* --- results -------------------------------------------------------------------------------- */

const CamasScenarioStats *
camas_scenario_result_get_stats(const CamasScenarioResult *result)
{
    g_return_val_if_fail(result != NULL, NULL);
    return &result->stats;
}

CamasValue *
camas_scenario_result_get_state(const CamasScenarioResult *result, const char *group,
                                guint index)
{
    g_return_val_if_fail(result != NULL && group != NULL, NULL);
    for (guint i = 0; i < result->n_groups; i++)
        if (strcmp(result->groups[i].name, group) == 0)
            return index < result->groups[i].count ? result->groups[i].states[index] : NULL;
    return NULL;
}

const char *
camas_scenario_result_get_divergence(const CamasScenarioResult *result)
{
    g_return_val_if_fail(result != NULL, NULL);
    return result->divergence;
}

/* --- checking ------------------------------------------------------------------------------- */

static void
check_count(GString *why, const char *what, const CountCheck *c, guint64 got)
{
    if (!c->set)
        return;
    if (c->exact_set && got != c->exact)
        g_string_append_printf(why, "%s%s is %" G_GUINT64_FORMAT ", expected %" G_GUINT64_FORMAT,
                               why->len ? "; " : "", what, got, c->exact);
    if (c->min_set && got < c->min)
        g_string_append_printf(why, "%s%s is %" G_GUINT64_FORMAT ", expected at least %"
                               G_GUINT64_FORMAT, why->len ? "; " : "", what, got, c->min);
    if (c->max_set && got > c->max)
        g_string_append_printf(why, "%s%s is %" G_GUINT64_FORMAT ", expected at most %"
                               G_GUINT64_FORMAT, why->len ? "; " : "", what, got, c->max);
}

/* Walks @key into @state: map keys, or list indices written as numbers. */
static CamasValue *
state_lookup(CamasValue *state, char **key, GString *missing)
{
    CamasValue *v = state;
    for (char **k = key; *k; k++) {
        if (camas_value_get_type(v) == CAMAS_VALUE_MAP) {
            v = camas_value_map_lookup(v, *k);
        } else if (camas_value_is_sequence(v)) {
            char *end = NULL;
            guint64 i = g_ascii_strtoull(*k, &end, 10);
            v = (end && *end == '\0' && end != *k && i < camas_value_get_length(v))
                    ? camas_value_get_item(v, (gsize)i)
                    : NULL;
        } else {
            v = NULL;
        }
        if (!v) {
            g_string_append_printf(missing, "%s%s", missing->len ? "." : "", *k);
            return NULL;
        }
        g_string_append_printf(missing, "%s%s", missing->len ? "." : "", *k);
    }
    return v;
}

static void
check_state(GString *why, const StateCheck *c, const char *group, guint index, CamasValue *state)
{
    g_autofree char *joined = g_strjoinv(".", c->key);
    g_autofree char *where = g_strdup_printf("%s[%u]%s%s", group, index, *joined ? "." : "",
                                             joined);
    g_autoptr(GString) walked = g_string_new(NULL);
    CamasValue *v = state_lookup(state, c->key, walked);
    if (!v) {
        g_autofree char *r = camas_value_repr(state);
        g_string_append_printf(why, "%sstate of %s[%u] has no %s (state: %s)",
                               why->len ? "; " : "", group, index, walked->str, r);
        return;
    }
    if (c->equals && !camas_value_equal(v, c->equals)) {
        g_autofree char *got = camas_value_repr(v);
        g_autofree char *want = camas_value_repr(c->equals);
        g_string_append_printf(why, "%s%s is %s, expected %s", why->len ? "; " : "", where, got,
                               want);
    }
    if (c->has_min || c->has_max) {
        double d;
        if (!camas_value_to_double(v, &d, NULL) || camas_value_get_type(v) == CAMAS_VALUE_BOOL) {
            g_autofree char *got = camas_value_repr(v);
            g_string_append_printf(why, "%s%s is %s, not a number", why->len ? "; " : "", where,
                                   got);
            return;
        }
        char a[G_ASCII_DTOSTR_BUF_SIZE], b[G_ASCII_DTOSTR_BUF_SIZE];
        if (c->has_min && d < c->min)
            g_string_append_printf(why, "%s%s is %s, expected at least %s",
                                   why->len ? "; " : "", where,
                                   g_ascii_formatd(a, sizeof a, "%.17g", d),
                                   g_ascii_formatd(b, sizeof b, "%.17g", c->min));
        if (c->has_max && d > c->max)
            g_string_append_printf(why, "%s%s is %s, expected at most %s", why->len ? "; " : "",
                                   where, g_ascii_formatd(a, sizeof a, "%.17g", d),
                                   g_ascii_formatd(b, sizeof b, "%.17g", c->max));
    }
}

gboolean
camas_scenario_result_check(const CamasScenarioResult *result, const CamasScenario *scenario,
                            GError **error)
{
    g_return_val_if_fail(result != NULL && scenario != NULL, FALSE);
    const ScenarioExpect *x = &scenario->expect;
    const CamasScenarioStats *st = &result->stats;
    g_autoptr(GString) why = g_string_new(NULL);
    if (x->fingerprint && !result->seed_overridden && !result->until_overridden &&
        strcmp(x->fingerprint, st->fingerprint) != 0)
        g_string_append_printf(why, "fingerprint %s differs from the expected %s",
                               st->fingerprint, x->fingerprint);
    if (result->divergence)
        g_string_append_printf(why, "%strace differs from the reference at %s",
                               why->len ? "; " : "", result->divergence);
    check_count(why, "events", &x->events, st->events);
    check_count(why, "messages", &x->messages, st->messages);
    check_count(why, "delivered", &x->delivered, st->delivered);
    for (int k = 0; k <= CAMAS_TRACE_SPAWN; k++) {
        g_autofree char *what = g_strdup_printf("trace.%s", camas_trace_kind_name(k));
        check_count(why, what, &x->kinds[k], st->counts[k]);
    }
    if (x->has_sim_time && x->sim_time != st->sim_time) {
        char a[G_ASCII_DTOSTR_BUF_SIZE], b[G_ASCII_DTOSTR_BUF_SIZE];
        g_string_append_printf(why, "%ssim_time is %s s, expected %s s", why->len ? "; " : "",
                               g_ascii_formatd(a, sizeof a, "%.9f",
                                               camas_time_to_seconds(st->sim_time)),
                               g_ascii_formatd(b, sizeof b, "%.9f",
                                               camas_time_to_seconds(x->sim_time)));
    }
    for (guint i = 0; i < x->states->len; i++) {
        const StateCheck *c = g_ptr_array_index(x->states, i);
        /* A check of a whole group reports its first failing agent and how many more failed,
         * not one line per agent. */
        g_autoptr(GString) first = g_string_new(NULL);
        guint failed = 0;
        for (guint a = 0; a < c->group->count; a++) {
            if (c->index >= 0 && (gint64)a != c->index)
                continue;
            CamasValue *state = camas_scenario_result_get_state(result, c->group->name, a);
            g_autoptr(GString) one = g_string_new(NULL);
            if (state)
                check_state(one, c, c->group->name, a, state);
            if (one->len && failed++ == 0)
                g_string_assign(first, one->str);
        }
        if (failed) {
            g_string_append_printf(why, "%s%s", why->len ? "; " : "", first->str);
            if (failed > 1)
                g_string_append_printf(why, " (and %u more agents of %s)", failed - 1,
                                       c->group->name);
        }
    }
    if (why->len) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED, "%s", why->str);
        return FALSE;
    }
    return TRUE;
}
