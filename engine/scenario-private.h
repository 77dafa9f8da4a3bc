/* SPDX-License-Identifier: MIT */
/*
 * What the scenario files share: the parsed form of a scenario file (engine/scenario.c builds
 * it, engine/scenario-run.c runs it) and the type table (engine/scenario-types.c).
 */
#pragma once

#include <jansson.h>

#include <camas/rng.h>
#include <camas/scenario.h>

G_BEGIN_DECLS

typedef struct _ScenarioGroup ScenarioGroup;

/* How one declared parameter is given to one agent of a group. */
typedef enum {
    PARAM_ABSENT = 0, /* not given and no default: left out */
    PARAM_FIXED,      /* the same value for every agent of the group */
    PARAM_PAIRED,     /* "@group" / "@group+N": agent i gets agent (i + offset) mod count */
} ParamMode;

typedef struct {
    ParamMode mode;
    CamasValue *value;    /* PARAM_FIXED: owned */
    ScenarioGroup *group; /* PARAM_PAIRED: the group referred to */
    gint64 offset;        /* PARAM_PAIRED */
} ParamBinding;

struct _ScenarioGroup {
    char *name;                    /* unique within the scenario */
    const CamasScenarioType *type; /* its agent type */
    guint count;                   /* agents in the group */
    guint *containers;             /* container indices, agent i lives in [i % n_containers] */
    guint n_containers;
    ParamBinding *params;          /* one per declared parameter of the type, in order */
    guint n_params;
    char **urls;                   /* the agents' URLs, known before anything is spawned */
    CamasValue *all_urls;          /* a list of urls, built on first use ("@group" in lists) */
};

/* One check of expect.states. */
typedef struct {
    char *where;          /* its JSON path, for messages */
    ScenarioGroup *group;
    gint64 index;         /* the agent, or -1 for every agent of the group */
    char **key;           /* the path into the state (NULL-terminated, maybe empty) */
    CamasValue *equals;   /* nullable */
    gboolean has_min, has_max;
    double min, max;
} StateCheck;

/* A count check: exact, or a range. */
typedef struct {
    gboolean set;
    gboolean exact_set;
    guint64 exact;
    gboolean min_set, max_set;
    guint64 min, max;
} CountCheck;

typedef struct {
    char *fingerprint;          /* nullable, 64 lowercase hex digits */
    CountCheck events;
    CountCheck messages;
    CountCheck delivered;
    CountCheck kinds[CAMAS_TRACE_SPAWN + 1];
    gboolean has_sim_time;
    gint64 sim_time;
    GPtrArray *states;          /* StateCheck*, owned */
    char *reference_trace;      /* nullable, resolved path */
} ScenarioExpect;

/* The latency distributions of `links` (docs/scenarios.md, "Links"). */
typedef enum {
    LINK_CONSTANT = 0, /* ticks */
    LINK_UNIFORM,      /* a = low, b = high (seconds) */
    LINK_EXPONENTIAL,  /* a = mean (seconds) */
    LINK_NORMAL,       /* a = mean, b = standard deviation (seconds), negative draws redrawn */
} LinkDist;

typedef struct {
    LinkDist dist;
    gint64 ticks; /* LINK_CONSTANT */
    double a, b;  /* the other distributions' parameters, as above */
} LinkLatency;

/* One entry of `links`. */
typedef struct {
    char *where;       /* its JSON path ($.links[N]), for messages */
    gint from, to;     /* container indices, -1 for "*" */
    gboolean symmetric; /* also applies from @to to @from */
    LinkLatency latency;
} LinkRule;

struct _CamasScenario {
    char *origin;       /* as given */
    char *dir;          /* the directory relative paths are relative to */
    char *name;
    char *description;
    guint64 seed;
    gint64 start_date;  /* unix ns of time 0 */
    gint64 until;       /* ticks, G_MAXINT64 = none */
    char *codec;
    GPtrArray *containers; /* char* names, in file order */
    GPtrArray *groups;     /* ScenarioGroup*, in file order (spawn order) */
    guint64 n_agents;
    GPtrArray *links;      /* LinkRule*, in file order (empty: no link model) */
    ScenarioExpect expect;
};

/* The run seed's default and the clock's date at time 0 when the file names none. */
#define CAMAS__SCENARIO_DEFAULT_START "1970-01-01T00:00:00+00:00"

/* scenario-types.c: a parameter's default, parsed as its kind (transfer full), or NULL with
 * @error. */
CamasValue *camas__scenario_param_default(const CamasParamSpec *spec, GError **error);

/* scenario.c: a JSON value as a CamasValue (transfer full). */
CamasValue *camas__scenario_json_to_value(json_t *json);

/* scenario.c: the list of every URL of @group (transfer none; built on first use). */
CamasValue *camas__scenario_group_urls(ScenarioGroup *group);

/* scenario-links.c: the rule that decides the latency from container @from to container @to
 * (indices), or NULL when none applies.  The file was checked to have exactly one best rule
 * for every pair (scenario.c). */
const LinkRule *camas__scenario_link_rule(const CamasScenario *scenario, guint from, guint to);

/* scenario-links.c: one latency in ticks drawn from @latency (constants draw nothing). */
gint64 camas__scenario_link_draw(const LinkLatency *latency, CamasRng *rng);

/* scenario-links.c: installs @scenario's link model on @loop for a run with @seed (nothing
 * when the file has no links).  The model borrows @scenario, which must outlive the loop's
 * connections. */
void camas__scenario_links_install(const CamasScenario *scenario, CamasLoop *loop,
                                   guint64 seed);
/* scenario-links.c: removes it again; before camas_loop_free(). */
void camas__scenario_links_remove(CamasLoop *loop);

G_END_DECLS
