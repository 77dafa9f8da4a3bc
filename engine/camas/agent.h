/* SPDX-License-Identifier: MIT */
/*
 * Agents: the top layer of camas (aiomas.agent; wire-protocol.md §9).  An agent is an instance
 * of an agent type — a const class table with its name, instance size, init and finalize, the
 * methods it exposes to other agents, and an optional proactive entry point — living in a
 * container (camas/container.h), which gives it an id ("0", "1", ...), a URL
 * ("tcp://host:port/0"), the container's clock and a random stream of its own.  Agents call each
 * other through RPC proxies (camas/rpc.h) returned by camas_container_connect(); the same agent
 * code runs in a simulation (LocalQueue, external clock) and live (TCP/Unix/TLS, real-time
 * clock): only the container's address and clock differ.
 *
 * A minimal agent type (aiomas' Callee):
 *
 *     static void
 *     spam(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
 *     {
 *         gint times;
 *         if (!camas_agent_args_or_fail(req, "times:i", &times))
 *             return;
 *         g_autoptr(GString) s = g_string_new(NULL);
 *         while (times-- > 0)
 *             g_string_append(s, "spam");
 *         camas_request_reply_take(req, camas_value_new_str(s->str));
 *     }
 *     static const CamasRpcMethod callee_methods[] = {{"spam", spam}, {NULL}};
 *     const CamasAgentClass callee_class = {.name = "Callee", .methods = callee_methods};
 *
 * Methods are RPC methods (CamasRpcMethod): callback style (answer the request now or from a
 * later event, possibly after calling other agents) or task style (a coroutine that may await
 * calls and sleeps and returns the reply).  Their first argument is the agent (the instance
 * struct, which starts with a CamasAgent).
 *
 * Lifetimes: the container owns its agents; shutting it down cancels their tasks and
 * finalizes them (an agent whose task is still unwinding is finalized when the task ends).
 * Agents are reference counted so that running calls and tasks keep them alive.
 *
 * Threads: an agent is used from its container's loop thread only.
 */
#pragma once

#include <camas/clock.h>
#include <camas/rng.h>
#include <camas/rpc.h>
#include <camas/task.h>

G_BEGIN_DECLS

typedef struct _CamasContainer CamasContainer;
typedef struct _CamasAgent CamasAgent;
typedef struct _CamasAgentClass CamasAgentClass;

/* The class-table layout version.  A table with abi_version 0 is taken as the current one.
 * Version 2 appended @params; tables that say 1 are read without it. */
#define CAMAS_AGENT_ABI_VERSION 2

/* --- declared parameters ------------------------------------------------------------------- */

/* What a parameter's value must be, and what the agent receives.  Scenario files write agent
 * references ("@group") where the other entry points take URLs. */
typedef enum {
    CAMAS_PARAM_INT = 0,  /* an integer -> int */
    CAMAS_PARAM_FLOAT,    /* a number -> float */
    CAMAS_PARAM_DURATION, /* a number >= 0 (seconds) -> float */
    CAMAS_PARAM_STR,      /* a string -> str */
    CAMAS_PARAM_BOOL,     /* true / false -> bool */
    CAMAS_PARAM_AGENT,    /* an agent: a URL (str); in scenarios "@group", "@group+N", "@g[N]" */
    CAMAS_PARAM_AGENTS,   /* agents: a list of URLs; in scenarios "@group" or a list of refs */
    CAMAS_PARAM_VALUE,    /* any value -> the same value */
} CamasParamKind;

/* Where a parameter goes. */
typedef enum {
    CAMAS_PARAM_INIT_KWARG = 0, /* a keyword argument of the type's init (by its name) */
    CAMAS_PARAM_INIT_ARG,       /* a positional argument of init, in declaration order */
    CAMAS_PARAM_START_ARG,      /* a positional argument of the entry point (run / start) */
} CamasParamTarget;

/**
 * CamasParamSpec: one declared parameter of an agent type (CamasAgentClass.params).  A table
 * of them ends with an entry whose name is NULL.  A parameter that is not given takes its
 * default; without a default it is left out (init sees no such keyword; positional parameters
 * after a left-out one must have defaults), unless it is required, which makes leaving it out
 * an error.
 */
typedef struct {
    const char *name;         /* as written under a scenario's "params", and the keyword */
    CamasParamKind kind;      /* the accepted value and the value the agent gets */
    CamasParamTarget target;  /* where the value goes */
    gboolean required;        /* it must be given */
    const char *default_json; /* the default as JSON text ("3", "0.5", "\"x\""), or NULL */
    const char *doc;          /* one line for `camas types` and the docs */
} CamasParamSpec;

/**
 * CamasAgentRunFunc: a proactive entry point in task style (aiomas' `async def run(self, ...)`).
 * Runs in a coroutine task of its own (camas/task.h), so it may await calls, connects and
 * sleeps.  @args: (transfer none) what camas_agent_start() was given (a list, maybe empty).
 * Returns: (transfer full) (nullable) the result, or NULL with @error set.
 */
typedef CamasValue *(*CamasAgentRunFunc)(CamasAgent *agent, const CamasValue *args, GError **error);

/**
 * CamasAgentStartFunc: a proactive entry point in callback style.  Called from a zero-delay
 * event; it schedules whatever it does (clock calls, future callbacks) and completes @done
 * (camas_future_set_result / _set_error) when it is finished, or never.
 * @done: (transfer none): the future camas_agent_start() returned; take a reference to keep it.
 * When the container shuts down, @done is cancelled: check camas_future_is_done() before
 * continuing work from a callback.
 */
typedef void (*CamasAgentStartFunc)(CamasAgent *agent, const CamasValue *args, CamasFuture *done);

/**
 * CamasAgentClass: an agent type, usually a static const table with designated initializers.
 * Only @name is mandatory.
 */
struct _CamasAgentClass {
    /* The class name: what validate_aid answers, what repr and the registry show. */
    const char *name;
    /* CAMAS_AGENT_ABI_VERSION (or 0). */
    guint abi_version;
    /* Bytes of the instance struct, which starts with a CamasAgent; 0 = sizeof(CamasAgent).
     * The container allocates and zeroes it. */
    gsize instance_size;
    /* Called once from camas_container_spawn(), after the base fields (container, clock, rng,
     * id, URL) are set and the agent is reachable at agents/<aid>, before spawn returns.
     * @args (a list, maybe empty) and @kwargs (a map, maybe empty) are lent.  Returning FALSE
     * with @error set makes spawn fail; finalize then still runs.  NULL = nothing to do. */
    gboolean (*init)(CamasAgent *agent, const CamasValue *args, const CamasValue *kwargs,
                     GError **error);
    /* Frees what init and the methods allocated; called once, when the last reference goes
     * (normally at container shutdown).  NULL = nothing to free. */
    void (*finalize)(CamasAgent *agent);
    /* The exposed methods, ended by an entry whose name is NULL; NULL = none (a purely
     * proactive agent).  Reachable as agents/<aid>/<name>; the agent is the instance. */
    const CamasRpcMethod *methods;
    /* Names that exist but are not exposed (LookupError "... is not exposed"); NULL = none. */
    const char *const *hidden;
    /* The module shown in "<module>.<Class>.<name>" is not exposed; NULL = "camas". */
    const char *module;
    /* The proactive entry point, task style (preferred) ... */
    CamasAgentRunFunc run;
    /* ... or callback style.  At most one of run and start is set. */
    CamasAgentStartFunc start;
    /* One line for `camas types` and `camas container --list-types`; NULL = none. */
    const char *summary;
    /* The parameters init and the entry point take, ended by an entry whose name is NULL;
     * NULL = none (giving any is an error).  Every entry point checks arguments against them
     * with the same messages: scenario files ("params"), `camas container --agent --init/--run`
     * and the subprocess manager's spawn() (camas_agent_class_bind_args()).  (ABI 2) */
    const CamasParamSpec *params;
};

/**
 * camas_agent_class_check:
 * Returns: FALSE with CAMAS_ERROR_INVALID saying what is wrong when @klass is not a usable
 * agent type (no name, a newer ABI, an instance_size below sizeof(CamasAgent), both run and
 * start, a method with both or neither of func and task_func, a parameter table with a name
 * twice, an unknown kind or target, a default that does not parse as its kind, or an entry
 * point argument on a type without one).  Spawning and the registry check every table with it.
 */
CAMAS_API gboolean camas_agent_class_check(const CamasAgentClass *klass, GError **error);

/* (transfer none) (nullable): @klass's declared parameters (NULL for none, and for tables of
 * ABI version 1, which predate them). */
CAMAS_API const CamasParamSpec *camas_agent_class_get_params(const CamasAgentClass *klass);

/* The name a parameter kind has in messages and docs ("int", "agent", ...). */
CAMAS_API const char *camas_param_kind_name(CamasParamKind kind);

/**
 * camas_agent_class_bind_args:
 * @args: (nullable): init's positional arguments (a list); NULL = none
 * @kwargs: (nullable): init's keyword arguments (a map with str keys); NULL = none
 * @start_args: (nullable): the entry point's arguments (a list); NULL = not checked (the
 *              caller does not start the agent): start parameters are then left alone
 * @args_out, @kwargs_out: (out) (transfer full): init's arguments to spawn with
 * @start_args_out: (out) (optional) (transfer full) (nullable): the entry point's arguments;
 *                  NULL when @start_args is
 *
 * Checks call-form arguments against @klass's declared parameters, as a call binds them in
 * Python: init's positional arguments fill its CAMAS_PARAM_INIT_ARG parameters in order, a
 * keyword may name any init parameter, the entry point's arguments fill its
 * CAMAS_PARAM_START_ARG parameters; each value is checked against its kind (AGENT: a URL
 * string; AGENTS: a list of them) and converted (an int given for a float is a float).  The
 * results hold every given and defaulted parameter, so declared defaults are what the agent
 * sees whichever entry point spawned it.
 * Returns: FALSE with CAMAS_ERROR_INVALID and one line naming the type and the parameter, the
 * same text the scenario runner gives after its "<file>: <JSON path>: " ('unknown parameter
 * "tims" (did you mean "times"?); Adder takes: label, step, times, peer', 'Adder parameter
 * "step" (int) expects an integer, got a string', 'Adder needs the parameter "step" (int: what
 * each call adds)'), or for surplus positional arguments 'Adder takes 1 positional init
 * argument (label), got 2'.
 */
CAMAS_API gboolean camas_agent_class_bind_args(const CamasAgentClass *klass,
                                               const CamasValue *args, const CamasValue *kwargs,
                                               const CamasValue *start_args,
                                               CamasValue **args_out, CamasValue **kwargs_out,
                                               CamasValue **start_args_out, GError **error);

/**
 * camas_agent_class_dup_description:
 * Returns: (transfer full): @klass described for people, as `camas types` prints it: the name
 * padded to 20 columns and the summary, then one line per parameter indented by 4 (name, kind,
 * "required" / "= <default>" / "optional", the doc line, and "(run)" for entry point arguments
 * or "(init #N)" for positional init arguments).  Every line ends in '\n'.
 */
CAMAS_API char *camas_agent_class_dup_description(const CamasAgentClass *klass);

/**
 * CamasAgent: the first member of every agent instance.  The public fields are set by the
 * container before init runs and never change; read them directly.
 */
struct _CamasAgent {
    const CamasAgentClass *klass; /* the agent's type */
    CamasContainer *container;    /* the container it lives in (alive as long as the agent) */
    CamasClock *clock;            /* the container's clock (aiomas self.container.clock) */
    CamasRng rng;                 /* the agent's own random stream, seeded from the container's
                                   * seed and "<container name>/<aid>" (draw from it freely) */
    /*< private >*/
    gint ref_count;
    guint32 aid;
    CamasService *service; /* agents/<aid>; owned by the container's agents dict */
    char *url;
    guint32 aid_offset; /* where the aid starts in url */
    GPtrArray *tasks;   /* live tasks and start futures, created on first use */
};

CAMAS_API CamasAgent *camas_agent_ref(CamasAgent *agent);
/* Drops a reference; the last one finalizes the agent.  NULL is ignored. */
CAMAS_API void camas_agent_unref(CamasAgent *agent);

/* (transfer none): the agent's URL, e.g. "tcp://localhost:5555/0", "local://sim/3",
 * "ipc://[/tmp/c.sock]/1" (aiomas agent.addr). */
CAMAS_API const char *camas_agent_get_url(const CamasAgent *agent);
/* (transfer none): the agent id within its container: "0", "1", ... */
CAMAS_API const char *camas_agent_get_aid(const CamasAgent *agent);
/* (transfer none): the class name. */
CAMAS_API const char *camas_agent_get_class_name(const CamasAgent *agent);
/* (transfer full): aiomas' repr: "Callee('tcp://localhost:5555/0')". */
CAMAS_API char *camas_agent_dup_repr(const CamasAgent *agent);
/* FALSE once the agent's container has shut down. */
CAMAS_API gboolean camas_agent_is_alive(const CamasAgent *agent);

/**
 * camas_agent_to_value:
 * Returns: (transfer full): an object value holding the agent's service, to send the agent
 * itself to another agent: it travels as {"__type__": [<proxy id>, "agents/<aid>"]} and arrives
 * as a proxy whose calls come back over the same connection (aiomas: passing `self`).
 */
CAMAS_API CamasValue *camas_agent_to_value(CamasAgent *agent);

/* --- proactive agents ---------------------------------------------------------------------- */

/**
 * camas_agent_start:
 * @args: (transfer none) (nullable): the entry point's arguments, a list; NULL = none
 *
 * Starts the class's proactive entry point (run as a task, or start from a zero-delay event).
 * The container cancels it when it shuts down.
 * Returns: (transfer full): a future for its outcome (the task's result), or NULL with
 * CAMAS_ERROR_INVALID when the type has no entry point, CAMAS_ERROR_CLOSED when the container
 * is shut down, or the task-spawn error.
 */
CAMAS_API CamasFuture *camas_agent_start(CamasAgent *agent, const CamasValue *args, GError **error);

/**
 * camas_agent_spawn_task:
 * A coroutine task owned by the agent (camas_task_spawn() with @name): it holds a reference on
 * the agent while it runs and is cancelled when the container shuts down.
 * Returns: (transfer full): the task, or NULL with the spawn error (@func never runs then).
 */
CAMAS_API CamasTask *camas_agent_spawn_task(CamasAgent *agent, CamasTaskFunc func,
                                            gpointer user_data, GDestroyNotify destroy,
                                            const char *name, GError **error);

/* --- calling other agents (task style: inside a task or a task-style method) --------------- */

/**
 * camas_agent_connect:
 * camas_container_connect_await() on the agent's container (aiomas
 * `await self.container.connect(url)`).  Returns: (transfer full) the proxy, or NULL with
 * @error.
 */
CAMAS_API CamasProxy *camas_agent_connect(CamasAgent *agent, const char *url, GError **error);

/**
 * camas_agent_call:
 * @format: a camas_value_build() format for the positional arguments ("[i i]"), the keyword
 *          arguments ("{s:i}") or both ("([i] {s:i})"); NULL = no arguments
 *
 * Awaits @proxy's @method (aiomas `await proxy.method(...)`).  Returns: (transfer full) the
 * result (a null value for None), or NULL with @error (CAMAS_ERROR_REMOTE for the callee's
 * failure, CAMAS_ERROR_CLOSED when the connection went away, CAMAS_ERROR_CANCELLED).
 */
CAMAS_API CamasValue *camas_agent_call(CamasProxy *proxy, const char *method, GError **error,
                                       const char *format, ...);

/* The same returning a future (callback style). */
CAMAS_API CamasFuture *camas_agent_call_async(CamasProxy *proxy, const char *method,
                                              const char *format, ...);

/* --- arguments of exposed methods ---------------------------------------------------------- */

/**
 * camas_agent_args:
 * @request: (transfer none): the request of the method being called
 * @spec: the method's parameters as "name:letter" words separated by spaces, a "|" word
 *        before the optional ones: "a:i b:i", "x:v", "|n:I".  Letters as camas_value_unpack():
 *        i gint* · I gint64* · U guint64* · f double* · b gboolean* · s const char** (borrowed)
 *        · v CamasValue** (borrowed) · p CamasProxy** (borrowed; the argument must be a proxy) ·
 *        d gint64* (a date, unix ns).  Optional parameters not given leave their pointer as is.
 *
 * Binds the request's positional and keyword arguments as Python binds a call (the method's
 * name for messages is the last component of the request path) and converts them.
 * Returns: FALSE with CAMAS_ERROR_TYPE and Python's text ("spam() missing 1 required
 * positional argument: 'times'", "spam() argument 'times' must be int, not str").
 */
CAMAS_API gboolean camas_agent_args(CamasRequest *request, GError **error, const char *spec, ...);

/* As camas_agent_args(), but on failure answers @request with the TypeError (consuming it)
 * and returns FALSE: `if (!camas_agent_args_or_fail(req, "times:i", &times)) return;`. */
CAMAS_API gboolean camas_agent_args_or_fail(CamasRequest *request, const char *spec, ...);

/* Answers @request with @error's failure and frees @error (callback-style methods). */
CAMAS_API void camas_agent_fail(CamasRequest *request, GError *error);

/* --- logging ------------------------------------------------------------------------------- */

/**
 * camas_agent_log:
 * Emits a CAMAS_TRACE_LOG record (src = the agent's URL, text = the line) and hands the line to
 * the container's log function (camas_container_set_log_func()), if any.
 */
CAMAS_API void camas_agent_log(CamasAgent *agent, const char *format, ...) G_GNUC_PRINTF(2, 3);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasAgent, camas_agent_unref)

G_END_DECLS
