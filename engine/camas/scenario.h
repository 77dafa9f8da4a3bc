/* SPDX-License-Identifier: MIT */
/*
 * Scenarios: the top of camas.  A scenario file (JSON, docs/scenarios.md) names containers and
 * groups of agents of registered types with their parameters; running it builds one loop with
 * an as-fast-as-possible clock, LocalQueue containers and the agents, runs it in simulated time
 * and hashes every trace record (camas/trace.h) in a canonical text form into a SHA-256
 * fingerprint.  The same file and seed give the same trace, byte for byte, on every run, build
 * and machine, so distributed algorithms can be regression-tested by their fingerprint.
 *
 * Three parts:
 *  - scenario types: what a scenario may say about an agent type beyond its declared
 *    parameters (CamasAgentClass.params, camas/agent.h): its final state.  Built-in types of agents/library/ are
 *    described by the library; plug-ins (shared libraries named in "plugins") register theirs
 *    from one exported function, camas_plugin_init().
 *  - scenarios: camas_scenario_load_file() parses and validates a file (every error names the
 *    file and the JSON path); camas_scenario_run() runs it and returns its result;
 *    camas_scenario_result_check() compares the result with the file's "expect" section.
 *  - the canonical trace: the tracer the runner attaches, usable on its own (tests, front ends).
 *
 * Threads: a scenario runs on the calling thread; loading plug-ins and registering types is
 * safe from any thread.
 */
#pragma once

#include <camas/agent.h>
#include <camas/trace.h>

G_BEGIN_DECLS

/* --- scenario types ------------------------------------------------------------------------ */

/* The layout version of CamasScenarioType (0 is taken as the current one). */
#define CAMAS_SCENARIO_TYPE_ABI_VERSION 1

/**
 * CamasScenarioStateFunc:
 * Returns: (transfer full) (nullable): the agent's final state (usually a map), read when the
 * run has reached its stop time, before anything is shut down; `expect.states` checks look
 * into it.  NULL = null.
 */
typedef CamasValue *(*CamasScenarioStateFunc)(CamasAgent *agent);

/**
 * CamasScenarioType: what a scenario may say about one agent type.  Usually a static const
 * table next to the agent class.
 */
typedef struct {
    /* The agent type (registered with the agent registry by camas_scenario_type_register()
     * unless it is there already). */
    const CamasAgentClass *klass;
    /* CAMAS_SCENARIO_TYPE_ABI_VERSION (or 0). */
    guint abi_version;
    /* Deprecated: declare parameters on the agent class (CamasAgentClass.params), where
     * `camas container` and `camas types` see them too.  When set, a table here is used by
     * scenarios in place of the class's, which must then declare none.  NULL = the class's. */
    const CamasParamSpec *params;
    /* The final state; NULL = the outcome of the entry point (its result, {"error": text} when
     * it failed, null while it runs or when the type has none). */
    CamasScenarioStateFunc state;
} CamasScenarioType;

/**
 * camas_scenario_type_register:
 * @type: (transfer none): must stay valid for the rest of the process (a static table)
 *
 * Makes @type's agent class known to the agent registry (camas_agent_registry_add(), unless
 * that very class is registered already) and its parameters known to scenarios.
 * Returns: FALSE with CAMAS_ERROR_INVALID when the table is malformed (a deprecated @params
 * table with a parameter of unknown kind or target, a default that does not parse as its kind,
 * two parameters with one name, or given while the class declares parameters too; the class
 * failing camas_agent_class_check()), its ABI is newer than this library's, or another type of
 * that name is registered.
 */
CAMAS_API gboolean camas_scenario_type_register(const CamasScenarioType *type, GError **error);

/**
 * camas_scenario_type_lookup:
 * Returns: (transfer none): the scenario description of the agent type named @name: a copy of
 * the registered one (or for an agent type that registered none, one without a state function)
 * whose @params are the parameters in effect (the class's, or the deprecated table).  NULL with the registry's CAMAS_ERROR_LOOKUP
 * 'Unknown agent type "<name>" (known: A, B, ...)' when no agent type has that name.
 */
CAMAS_API const CamasScenarioType *camas_scenario_type_lookup(const char *name, GError **error);

/* --- plug-ins ------------------------------------------------------------------------------ */

/**
 * CamasPluginInitFunc:
 * The one function a plug-in exports, under the name "camas_plugin_init" (CAMAS_PLUGIN_INIT_NAME):
 *
 *     CAMAS_PLUGIN_EXPORT gboolean
 *     camas_plugin_init(GError **error)
 *     {
 *         return camas_scenario_type_register(&my_type, error);
 *     }
 *
 * It runs once per process and plug-in file.  A plug-in calls camas functions of the program
 * that loads it: build it without linking libcamas (see docs/scenarios.md).
 */
typedef gboolean (*CamasPluginInitFunc)(GError **error);

#define CAMAS_PLUGIN_INIT_NAME "camas_plugin_init"
#define CAMAS_PLUGIN_EXPORT __attribute__((visibility("default")))

/**
 * camas_plugin_load:
 * @path: a shared library (a path; loaded with GModule)
 *
 * Loads @path and runs its camas_plugin_init() once; loading the same file again does nothing.
 * The module is never unloaded (its types must outlive every container).
 * Returns: FALSE with CAMAS_ERROR_INVALID 'plugin <path>: <loader message>' when it cannot be
 * loaded, has no camas_plugin_init, or the function fails (its message then).
 */
CAMAS_API gboolean camas_plugin_load(const char *path, GError **error);

/* --- the canonical trace ------------------------------------------------------------------- */

/* Called with each canonical line (ending in '\n'); @line is lent.  See
 * camas_canonical_trace_new() for the thread it runs on. */
typedef void (*CamasTraceLineFunc)(const char *line, gsize len, gpointer user_data);

typedef struct _CamasCanonicalTrace CamasCanonicalTrace;

/**
 * camas_canonical_trace_new:
 * @sink: (nullable): also told every line (e.g. to write a JSON Lines file); NULL = hash only
 *
 * A tracer that turns records into canonical JSON lines (docs/scenarios.md, "Trace format"):
 * keys in a fixed order, times as exact decimal seconds, the payload as a digest, numbered by
 * record from 0 — and feeds them to SHA-256.  The fingerprint is the SHA-256 of the
 * concatenated lines, i.e. `sha256sum` of the trace file.
 *
 * Threads: records are copied as they come and rendered, hashed and given to @sink by a helper
 * thread the trace owns, in record order.  So @sink runs on that thread; every call for the
 * records added so far has returned when camas_canonical_trace_flush(),
 * camas_canonical_trace_dup_fingerprint() or camas_canonical_trace_free() returns.  The trace
 * itself is used from one thread at a time.
 * Returns: (transfer full)
 */
CAMAS_API CamasCanonicalTrace *camas_canonical_trace_new(CamasTraceLineFunc sink,
                                                         gpointer user_data);
CAMAS_API void camas_canonical_trace_free(CamasCanonicalTrace *trace);

/* Attaches @trace as @loop's tracer (the loop does not own it: detach before freeing it, with
 * camas_loop_set_tracer(loop, NULL, NULL, NULL)). */
CAMAS_API void camas_canonical_trace_attach(CamasCanonicalTrace *trace, CamasLoop *loop);

/* Feeds one record (what the attached tracer does for each record). */
CAMAS_API void camas_canonical_trace_add(CamasCanonicalTrace *trace,
                                         const CamasTraceRecord *record);

/* Records so far, in total and of one kind. */
CAMAS_API guint64 camas_canonical_trace_get_records(const CamasCanonicalTrace *trace);
CAMAS_API guint64 camas_canonical_trace_get_count(const CamasCanonicalTrace *trace,
                                                  CamasTraceKind kind);

/* Waits until every record added so far has been rendered and given to the sink. */
CAMAS_API void camas_canonical_trace_flush(CamasCanonicalTrace *trace);

/* Returns: (transfer full): the fingerprint of the lines so far: 64 lowercase hex digits (after
 * a flush).  The trace may continue afterwards. */
CAMAS_API char *camas_canonical_trace_dup_fingerprint(CamasCanonicalTrace *trace);

/* --- scenarios ----------------------------------------------------------------------------- */

/* The scenario file format version this library reads. */
#define CAMAS_SCENARIO_VERSION 1

typedef struct _CamasScenario CamasScenario;
typedef struct _CamasScenarioResult CamasScenarioResult;

/**
 * camas_scenario_load_file:
 * Reads, validates and resolves a scenario file: JSON syntax (duplicate keys rejected), every
 * field's type and range, unknown fields, agent types, parameters against their declarations,
 * agent references; loads the plug-ins it names (relative paths are relative to the file).
 * Returns: (transfer full): the scenario, or NULL with CAMAS_ERROR_INVALID (LOOKUP for an
 * unknown agent type) and a one-line message: "<file>:<line>:<column>: <what was expected>"
 * for bad JSON, "<file>: <JSON path>: <what is wrong>" otherwise.
 */
CAMAS_API CamasScenario *camas_scenario_load_file(const char *path, GError **error);

/**
 * camas_scenario_load_data:
 * As camas_scenario_load_file() for JSON text in memory.  @origin names it in messages and its
 * directory anchors relative paths (e.g. "scenarios/x.json"; NULL = "<scenario>" in the current
 * directory).
 */
CAMAS_API CamasScenario *camas_scenario_load_data(const char *json, gsize len,
                                                  const char *origin, GError **error);

CAMAS_API void camas_scenario_free(CamasScenario *scenario);

/* (transfer none): the scenario's name (the file's "name", else its base name). */
CAMAS_API const char *camas_scenario_get_name(const CamasScenario *scenario);
/* (transfer none): the file it came from (as given). */
CAMAS_API const char *camas_scenario_get_origin(const CamasScenario *scenario);
CAMAS_API guint64 camas_scenario_get_seed(const CamasScenario *scenario);
/* The stop time in ticks, or G_MAXINT64 when the file gives none. */
CAMAS_API gint64 camas_scenario_get_until(const CamasScenario *scenario);
/* (transfer none) (nullable): expect.fingerprint. */
CAMAS_API const char *camas_scenario_get_expected_fingerprint(const CamasScenario *scenario);
/* (transfer none) (nullable): expect.reference_trace, resolved against the file's directory. */
CAMAS_API const char *camas_scenario_get_reference_trace(const CamasScenario *scenario);

/* The agent groups, in file order: their names and sizes. */
CAMAS_API guint camas_scenario_get_n_groups(const CamasScenario *scenario);
/* (transfer none) */
CAMAS_API const char *camas_scenario_get_group_name(const CamasScenario *scenario, guint index);
CAMAS_API guint camas_scenario_get_group_size(const CamasScenario *scenario, guint index);

/* Told every 65536 events, so a front end can show progress; it must not touch the loop. */
typedef void (*CamasScenarioProgressFunc)(gint64 now, gint64 until, guint64 events,
                                          gpointer user_data);

/* How to run.  Zero-initialised = as the file says. */
typedef struct {
    gboolean override_seed; /* use @seed instead of the file's */
    guint64 seed;
    gint64 until;           /* > 0: the stop time in ticks instead of the file's */
    CamasTraceLineFunc trace_func; /* (nullable): told every canonical trace line, from the
                                    * trace's helper thread; all calls are over when
                                    * camas_scenario_run() returns */
    gpointer trace_data;
    /* (nullable): a JSON Lines trace to compare with as the run goes; the result names the
     * first record that differs (camas_scenario_result_get_divergence()). */
    const char *reference_trace;
    CamasScenarioProgressFunc progress;
    gpointer progress_data;
    /* > 0: at most this many loop events; a run that reaches it with events still due before
     * the stop time fails with CAMAS_ERROR_TOO_LARGE (agents that call each other forever at
     * one simulated time never reach any stop time) */
    guint64 max_events;
} CamasScenarioRunOptions;

/**
 * camas_scenario_run:
 * Builds the scenario's world on a fresh loop (containers local://<name> with the file's codec
 * and seed, agents spawned group by group in file order, proactive agents started in spawn
 * order at time 0), runs it as fast as possible until the stop time (or until nothing is
 * pending), reads the agents' final states, then detaches the tracer and shuts everything
 * down.  Deterministic: the result depends only on the file, the seed and the stop time.
 * Returns: (transfer full): the result, or NULL with the error that stopped the world being
 * built (an agent's init failing, CAMAS_ERROR_INVALID for an unreadable reference trace) —
 * errors of the agents while running are part of the result, not failures of the run.
 */
CAMAS_API CamasScenarioResult *camas_scenario_run(CamasScenario *scenario,
                                                  const CamasScenarioRunOptions *options,
                                                  GError **error);

/* What a run measured. */
typedef struct {
    char fingerprint[65];   /* SHA-256 of the canonical trace, lowercase hex */
    guint64 seed;           /* the seed the run used */
    gint64 sim_time;        /* the simulated time reached, ticks */
    guint64 events;         /* loop events run */
    guint64 records;        /* trace records */
    guint64 messages;       /* messages sent: requests and replies (SEND records) */
    guint64 delivered;      /* messages delivered: DELIVER, REPLY and FAILURE records */
    guint64 counts[CAMAS_TRACE_SPAWN + 1]; /* records by kind */
    double wall_seconds;    /* wall-clock seconds to build and run the world (not teardown) */
    double run_seconds;     /* ... of which running the loop */
} CamasScenarioStats;

CAMAS_API void camas_scenario_result_free(CamasScenarioResult *result);
/* (transfer none) */
CAMAS_API const CamasScenarioStats *camas_scenario_result_get_stats(
    const CamasScenarioResult *result);
/* (transfer none) (nullable): the final state of agent @index of group @group, or NULL when
 * there is no such agent. */
CAMAS_API CamasValue *camas_scenario_result_get_state(const CamasScenarioResult *result,
                                                      const char *group, guint index);
/* (transfer none) (nullable): with a reference trace: where the run first differed ("record
 * 17: expected {...}, got {...}", or a length difference), NULL when it did not. */
CAMAS_API const char *camas_scenario_result_get_divergence(const CamasScenarioResult *result);

/**
 * camas_scenario_result_check:
 * Compares @result with @scenario's "expect" section (fingerprint, event and message counts,
 * trace counts, final states) and with the reference trace, when the run had one.
 * Returns: TRUE when everything holds; FALSE with CAMAS_ERROR_FAILED whose message lists every
 * failed check on one line, separated by "; ".  A run with another seed or stop time than the
 * file's is not compared with the expected fingerprint.
 */
CAMAS_API gboolean camas_scenario_result_check(const CamasScenarioResult *result,
                                               const CamasScenario *scenario, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasScenario, camas_scenario_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasScenarioResult, camas_scenario_result_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasCanonicalTrace, camas_canonical_trace_free)

G_END_DECLS
