/* SPDX-License-Identifier: MIT */
/*
 * The agent base (camas/agent.h): references and finalization, the agent's own random stream
 * and URL, proactive entry points and agent-owned tasks (cancelled when the container shuts
 * down), and the helpers that keep agent code short: connect and call in task style, argument
 * binding for exposed methods, and log lines.  Containers (engine/container.c) create agents
 * and route calls to them.
 */
#include <string.h>

#include <camas/trace.h>

#include "channel-private.h"
#include "container-private.h"
#include "live-private.h"
#include "params-private.h"

/* --- class tables ---------------------------------------------------------------------------- */

gboolean
camas_agent_class_check(const CamasAgentClass *klass, GError **error)
{
    g_return_val_if_fail(klass != NULL, FALSE);
    const CamasAgentClass *k = klass;
    const char *why = NULL;
    if (!k->name || !k->name[0])
        why = "it has no name";
    else if (k->abi_version > CAMAS_AGENT_ABI_VERSION)
        why = "its abi_version is newer than this library";
    else if (k->instance_size != 0 && k->instance_size < sizeof(CamasAgent))
        why = "its instance_size is smaller than a CamasAgent";
    else if (k->run && k->start)
        why = "it has both a run and a start entry point";
    for (const CamasRpcMethod *m = k->methods; !why && m && m->name; m++)
        if ((m->func != NULL) == (m->task_func != NULL))
            why = "a method must have exactly one of func and task_func";
    if (why) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "Invalid agent type %s: %s",
                    k->name ? k->name : "(unnamed)", why);
        return FALSE;
    }
    /* Parsing the defaults costs a codec per parameter, and spawning checks its class every
     * time: tables found good are remembered (they are static, so the pointer names one). */
    static GMutex lock;
    static GHashTable *good; /* const CamasAgentClass* set; only looked up, never iterated */
    g_mutex_lock(&lock);
    gboolean known = good && g_hash_table_contains(good, k);
    g_mutex_unlock(&lock);
    if (known)
        return TRUE;
    g_autoptr(GError) e = NULL;
    if (!camas__params_check(camas_agent_class_get_params(k), k->run || k->start, &e)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "Invalid agent type %s: %s", k->name,
                    e->message);
        return FALSE;
    }
    g_mutex_lock(&lock);
    if (!good)
        good = g_hash_table_new(NULL, NULL);
    g_hash_table_add(good, (gpointer)k);
    g_mutex_unlock(&lock);
    return TRUE;
}

/* --- life cycle ------------------------------------------------------------------------------ */

CamasAgent *
camas__agent_new(CamasContainer *container, const CamasAgentClass *klass, guint32 aid, char *url,
                 guint32 aid_offset)
{
    gsize size = klass->instance_size ? klass->instance_size : sizeof(CamasAgent);
    CamasAgent *a = g_malloc0(size);
    a->klass = klass;
    camas__container_ref(container);
    a->container = container;
    a->clock = container->clock;
    a->ref_count = 1;
    a->aid = aid;
    a->url = url;
    a->aid_offset = aid_offset;
    /* The stream name is "<container name>/<aid>": the URL unless the container has a name.
     * Written by hand (printf was two thirds of this function). */
    char digits[10];
    int nd = 0;
    for (guint32 v = aid; nd == 0 || v > 0; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    gsize len = strlen(container->name);
    char buf[256];
    char *name = len + 2 + (gsize)nd <= sizeof buf ? buf : g_malloc(len + 2 + (gsize)nd);
    memcpy(name, container->name, len);
    name[len] = '/';
    for (int i = 0; i < nd; i++)
        name[len + 1 + i] = digits[nd - 1 - i];
    name[len + 1 + nd] = '\0';
    camas_rng_init_stream(&a->rng, container->seed, name);
    if (name != buf)
        g_free(name);
    camas__live_inc(CAMAS__LIVE_AGENT);
    return a;
}

CamasAgent *
camas_agent_ref(CamasAgent *agent)
{
    g_return_val_if_fail(agent != NULL && agent->ref_count > 0, NULL);
    agent->ref_count++;
    return agent;
}

void
camas_agent_unref(CamasAgent *agent)
{
    if (!agent)
        return;
    g_return_if_fail(agent->ref_count > 0);
    if (--agent->ref_count > 0)
        return;
    if (agent->klass->finalize)
        agent->klass->finalize(agent);
    g_assert(agent->tasks == NULL || agent->tasks->len == 0);
    if (agent->tasks)
        g_ptr_array_unref(agent->tasks);
    CamasContainer *c = agent->container;
    g_free(agent->url);
    g_free(agent);
    camas__live_dec(CAMAS__LIVE_AGENT);
    camas__container_unref(c);
}

const char *
camas_agent_get_url(const CamasAgent *agent)
{
    g_return_val_if_fail(agent != NULL, NULL);
    return agent->url;
}

const char *
camas_agent_get_aid(const CamasAgent *agent)
{
    g_return_val_if_fail(agent != NULL, NULL);
    return agent->url + agent->aid_offset;
}

const char *
camas_agent_get_class_name(const CamasAgent *agent)
{
    g_return_val_if_fail(agent != NULL, NULL);
    return agent->klass->name;
}

char *
camas_agent_dup_repr(const CamasAgent *agent)
{
    g_return_val_if_fail(agent != NULL, NULL);
    return g_strdup_printf("%s('%s')", agent->klass->name, agent->url);
}

gboolean
camas_agent_is_alive(const CamasAgent *agent)
{
    g_return_val_if_fail(agent != NULL, FALSE);
    return !agent->container->closed && agent->service != NULL;
}

CamasValue *
camas_agent_to_value(CamasAgent *agent)
{
    g_return_val_if_fail(agent != NULL, NULL);
    g_return_val_if_fail(agent->service != NULL, NULL); /* its container was shut down */
    return camas_service_to_value(agent->service);
}

/* --- tasks and start futures ----------------------------------------------------------------- */

static void
job_done(CamasFuture *future, gpointer data)
{
    CamasAgent *agent = data;
    if (agent->tasks && g_ptr_array_remove(agent->tasks, future)) {
        agent->container->n_tasks--;
        camas_future_unref(future);
    }
}

static void
job_unref_agent(gpointer data)
{
    camas_agent_unref(data);
}

/* Tracks @future (a task's or a start future) until it is done, so shutdown can cancel it. */
static void
track(CamasAgent *agent, CamasFuture *future)
{
    if (!agent->tasks)
        agent->tasks = g_ptr_array_new();
    g_ptr_array_add(agent->tasks, camas_future_ref(future));
    agent->container->n_tasks++;
    camas_future_add_callback(future, job_done, camas_agent_ref(agent), job_unref_agent);
}

void
camas__agent_cancel_tasks(CamasAgent *agent)
{
    if (!agent->tasks || agent->tasks->len == 0)
        return;
    /* Cancelling may finish a task at once; walk a copy, in start order. */
    g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func((GDestroyNotify)camas_future_unref);
    for (guint i = 0; i < agent->tasks->len; i++)
        g_ptr_array_add(jobs, camas_future_ref(g_ptr_array_index(agent->tasks, i)));
    for (guint i = 0; i < jobs->len; i++)
        camas_future_cancel(g_ptr_array_index(jobs, i));
}

typedef struct {
    CamasAgent *agent; /* reference */
    CamasTaskFunc func;
    gpointer data;
    GDestroyNotify destroy;
    gboolean run; /* the class's run entry point; data is its args value */
} AgentTask;

static CamasValue *
agent_task_run(CamasTask *task, gpointer data, GError **error)
{
    AgentTask *t = data;
    if (t->run)
        return t->agent->klass->run(t->agent, t->data, error);
    return t->func(task, t->data, error);
}

static void
agent_task_free(gpointer data)
{
    AgentTask *t = data;
    if (t->destroy)
        t->destroy(t->data);
    camas_agent_unref(t->agent);
    g_free(t);
}

static gboolean
check_alive(CamasAgent *agent, const char *what, GError **error)
{
    if (agent->container->closed) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED,
                    "Cannot %s %s('%s'): its container was shut down", what, agent->klass->name,
                    agent->url);
        return FALSE;
    }
    return TRUE;
}

static CamasTask *
spawn_task(CamasAgent *agent, AgentTask *t, const char *name, GError **error)
{
    CamasTaskOptions opts = {.name = name, .destroy = agent_task_free};
    CamasTask *task = camas_task_spawn(agent->container->loop, agent_task_run, t, &opts, error);
    if (!task) {
        camas_agent_unref(t->agent);
        g_free(t);
        return NULL;
    }
    track(agent, camas_task_get_future(task));
    return task;
}

CamasTask *
camas_agent_spawn_task(CamasAgent *agent, CamasTaskFunc func, gpointer user_data,
                       GDestroyNotify destroy, const char *name, GError **error)
{
    g_return_val_if_fail(agent != NULL && func != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!check_alive(agent, "spawn a task of", error))
        return NULL;
    AgentTask *t = g_new0(AgentTask, 1);
    t->agent = camas_agent_ref(agent);
    t->func = func;
    t->data = user_data;
    t->destroy = destroy;
    return spawn_task(agent, t, name, error);
}

/* --- task-style methods ----------------------------------------------------------------------- */

typedef struct {
    CamasAgent *agent; /* the AgentTask holds the reference */
    const CamasRpcMethod *method;
    CamasRequest *request; /* until answered */
} MethodCall;

static CamasValue *
method_task_run(CamasTask *task, gpointer data, GError **error)
{
    MethodCall *mc = data;
    camas__rpc_run_task_method(mc->method, mc->agent, &mc->request);
    return NULL;
}

static void
method_call_free(gpointer data)
{
    MethodCall *mc = data;
    if (mc->request) /* cancelled before it ran: never leave the caller waiting */
        camas_request_fail_text(mc->request, "asyncio.exceptions.CancelledError",
                                "the call was cancelled");
    g_free(mc);
}

void
camas__agent_task_method(gpointer instance, CamasRequest *request, const CamasValue *args,
                         const CamasValue *kwargs)
{
    CamasAgent *agent = instance;
    const char *path = camas__request_get_rpc_path(request);
    const char *name = path ? strrchr(path, '/') : NULL;
    name = name ? name + 1 : (path ? path : "");
    const CamasRpcMethod *m = agent->klass->methods;
    while (m->name && (m->task_func == NULL || strcmp(m->name, name) != 0))
        m++;
    g_assert(m->name != NULL); /* the RPC layer resolved this name to us */
    GError *error = NULL;
    if (!check_alive(agent, "call", &error)) {
        camas_agent_fail(request, error);
        return;
    }
    MethodCall *mc = g_new0(MethodCall, 1);
    mc->agent = agent;
    mc->method = m;
    mc->request = request;
    AgentTask *t = g_new0(AgentTask, 1);
    t->agent = camas_agent_ref(agent);
    t->func = method_task_run;
    t->data = mc;
    t->destroy = method_call_free;
    CamasTask *task = spawn_task(agent, t, m->name, &error);
    if (!task) {
        mc->request = NULL;
        g_free(mc);
        camas_agent_fail(request, error);
        return;
    }
    camas_task_unref(task);
}

/* --- proactive entry points ----------------------------------------------------------------- */

typedef struct {
    CamasAgent *agent; /* reference */
    CamasValue *args;  /* owned */
    CamasFuture *done; /* owned */
} StartCall;

static void
start_event(CamasLoop *loop, gpointer data)
{
    StartCall *s = data;
    if (!camas_future_is_done(s->done)) /* not cancelled by a shutdown in between */
        s->agent->klass->start(s->agent, s->args, s->done);
}

static void
start_call_free(gpointer data)
{
    StartCall *s = data;
    camas_future_unref(s->done);
    camas_value_unref(s->args);
    camas_agent_unref(s->agent);
    g_free(s);
}

CamasFuture *
camas_agent_start(CamasAgent *agent, const CamasValue *args, GError **error)
{
    g_return_val_if_fail(agent != NULL, NULL);
    g_return_val_if_fail(args == NULL || camas_value_is_sequence(args), NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    const CamasAgentClass *k = agent->klass;
    if (!k->run && !k->start) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "Agent type %s has no proactive entry point (run or start)", k->name);
        return NULL;
    }
    if (!check_alive(agent, "start", error))
        return NULL;
    CamasValue *a = args ? camas_value_ref((CamasValue *)args) : camas_value_new_list(NULL, 0);
    if (k->run) {
        AgentTask *t = g_new0(AgentTask, 1);
        t->agent = camas_agent_ref(agent);
        t->data = a;
        t->destroy = (GDestroyNotify)camas_value_unref;
        t->run = TRUE;
        char buf[128];
        g_snprintf(buf, sizeof buf, "%s.run", k->name);
        g_autoptr(CamasTask) task = spawn_task(agent, t, buf, error);
        if (!task) {
            camas_value_unref(a);
            return NULL;
        }
        return camas_future_ref(camas_task_get_future(task));
    }
    StartCall *s = g_new0(StartCall, 1);
    s->agent = camas_agent_ref(agent);
    s->args = a;
    s->done = camas_future_new(agent->container->loop);
    track(agent, s->done);
    CamasFuture *done = camas_future_ref(s->done);
    camas_loop_call_soon_full(agent->container->loop, start_event, s, start_call_free);
    return done;
}

/* --- calling other agents -------------------------------------------------------------------- */

CamasProxy *
camas_agent_connect(CamasAgent *agent, const char *url, GError **error)
{
    g_return_val_if_fail(agent != NULL, NULL);
    return camas_container_connect_await(agent->container, url, error);
}

static CamasFuture *
call_va(CamasProxy *proxy, const char *method, const char *format, va_list *ap)
{
    if (!format)
        return camas_proxy_call(proxy, method, NULL, NULL);
    g_autoptr(CamasValue) built = camas_value_build_va(format, ap);
    g_return_val_if_fail(built != NULL, NULL);
    CamasValueType t = camas_value_get_type(built);
    if (t == CAMAS_VALUE_MAP)
        return camas_proxy_call(proxy, method, NULL, built);
    if (t == CAMAS_VALUE_TUPLE && camas_value_get_length(built) == 2 &&
        camas_value_is_sequence(camas_value_get_item(built, 0)) &&
        camas_value_get_type(camas_value_get_item(built, 1)) == CAMAS_VALUE_MAP)
        return camas_proxy_call(proxy, method, camas_value_get_item(built, 0),
                                camas_value_get_item(built, 1));
    g_return_val_if_fail(t == CAMAS_VALUE_LIST, NULL);
    return camas_proxy_call(proxy, method, built, NULL);
}

CamasFuture *
camas_agent_call_async(CamasProxy *proxy, const char *method, const char *format, ...)
{
    g_return_val_if_fail(proxy != NULL && method != NULL, NULL);
    va_list ap;
    va_start(ap, format);
    CamasFuture *f = call_va(proxy, method, format, &ap);
    va_end(ap);
    return f;
}

CamasValue *
camas_agent_call(CamasProxy *proxy, const char *method, GError **error, const char *format, ...)
{
    g_return_val_if_fail(proxy != NULL && method != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    va_list ap;
    va_start(ap, format);
    g_autoptr(CamasFuture) f = call_va(proxy, method, format, &ap);
    va_end(ap);
    g_return_val_if_fail(f != NULL, NULL);
    CamasValue *result = NULL;
    if (!camas_task_await(f, &result, error))
        return NULL;
    return result ? result : camas_value_new_null();
}

/* --- arguments ------------------------------------------------------------------------------- */

#define MAX_PARAMS 16

static const char *
py_type_name(const CamasValue *v)
{
    switch (camas_value_get_type(v)) {
    case CAMAS_VALUE_NULL:
        return "NoneType";
    case CAMAS_VALUE_BOOL:
        return "bool";
    case CAMAS_VALUE_INT:
        return "int";
    case CAMAS_VALUE_FLOAT:
        return "float";
    case CAMAS_VALUE_STR:
        return "str";
    case CAMAS_VALUE_BYTES:
        return "bytes";
    case CAMAS_VALUE_LIST:
        return "list";
    case CAMAS_VALUE_TUPLE:
        return "tuple";
    case CAMAS_VALUE_MAP:
        return "dict";
    case CAMAS_VALUE_EXT:
        return "ext";
    case CAMAS_VALUE_OBJECT: {
        const CamasObjectType *t = camas_value_object_get_type(v);
        return t && t->name ? t->name : "object";
    }
    }
    return "object";
}

static gboolean
wrong_type(GError **error, const char *func, const char *name, const char *want,
           const CamasValue *got)
{
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE, "%s() argument '%s' must be %s, not %s", func,
                name, want, py_type_name(got));
    return FALSE;
}

/* Converts one bound argument by its letter into *@out. */
static gboolean
convert(const char *func, const char *name, char letter, CamasValue *v, gpointer out,
        GError **error)
{
    CamasValueType t = camas_value_get_type(v);
    switch (letter) {
    case 'i':
    case 'I': {
        if (t != CAMAS_VALUE_INT)
            return wrong_type(error, func, name, "int", v);
        if (camas_value_int_is_unsigned(v) ||
            (letter == 'i' &&
             (camas_value_get_int(v) < G_MININT || camas_value_get_int(v) > G_MAXINT))) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE, "%s() argument '%s' is out of range",
                        func, name);
            return FALSE;
        }
        if (letter == 'i')
            *(gint *)out = (gint)camas_value_get_int(v);
        else
            *(gint64 *)out = camas_value_get_int(v);
        return TRUE;
    }
    case 'U':
        if (t != CAMAS_VALUE_INT)
            return wrong_type(error, func, name, "int", v);
        if (!camas_value_int_is_unsigned(v) && camas_value_get_int(v) < 0) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE,
                        "%s() argument '%s' must not be negative", func, name);
            return FALSE;
        }
        *(guint64 *)out = camas_value_get_uint(v);
        return TRUE;
    case 'f':
        if (t != CAMAS_VALUE_INT && t != CAMAS_VALUE_FLOAT)
            return wrong_type(error, func, name, "a number", v);
        return camas_value_to_double(v, out, error);
    case 'b':
        if (t != CAMAS_VALUE_BOOL)
            return wrong_type(error, func, name, "bool", v);
        *(gboolean *)out = camas_value_get_bool(v);
        return TRUE;
    case 's':
        if (t != CAMAS_VALUE_STR)
            return wrong_type(error, func, name, "str", v);
        *(const char **)out = camas_value_get_str(v, NULL);
        return TRUE;
    case 'v':
        *(CamasValue **)out = v;
        return TRUE;
    case 'p': {
        CamasProxy *p = camas_value_get_proxy(v);
        if (!p)
            return wrong_type(error, func, name, "a proxy", v);
        *(CamasProxy **)out = p;
        return TRUE;
    }
    case 'd':
        if (!camas_date_value_get(v, out, NULL))
            return wrong_type(error, func, name, "a date", v);
        return TRUE;
    default:
        g_critical("camas_agent_args: unknown letter '%c' for parameter '%s'", letter, name);
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED, "bad argument spec");
        return FALSE;
    }
}

static gboolean
args_va(CamasRequest *request, GError **error, const char *spec, va_list *ap)
{
    CamasValue *content = camas_request_get_content(request);
    CamasValue *args = camas_value_get_item(content, 1);
    CamasValue *kwargs = camas_value_get_item(content, 2);
    const char *path = camas__request_get_rpc_path(request);
    const char *func = path ? strrchr(path, '/') : NULL;
    func = func ? func + 1 : (path ? path : "method");

    /* spec: "a:i b:s | c:I" -> names, letters, n_required (parsed into stack buffers) */
    char buf[256];
    g_return_val_if_fail(strlen(spec) < sizeof buf, FALSE);
    strcpy(buf, spec);
    const char *names[MAX_PARAMS + 1];
    char letters[MAX_PARAMS];
    guint n = 0, n_required = G_MAXUINT;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (strcmp(tok, "|") == 0) {
            n_required = n;
            continue;
        }
        if (tok[0] == '|') {
            n_required = n;
            tok++;
        }
        char *colon = strchr(tok, ':');
        g_return_val_if_fail(colon && colon[1] && !colon[2] && n < MAX_PARAMS, FALSE);
        *colon = '\0';
        names[n] = tok;
        letters[n] = colon[1];
        n++;
    }
    names[n] = NULL;
    if (n_required == G_MAXUINT)
        n_required = n;
    CamasValue *bound[MAX_PARAMS] = {NULL};
    if (!camas_rpc_parse_args(func, args, kwargs, names, n_required, bound, error))
        return FALSE;
    gboolean ok = TRUE;
    for (guint i = 0; i < n; i++) {
        gpointer out = va_arg(*ap, gpointer);
        if (ok && bound[i])
            ok = convert(func, names[i], letters[i], bound[i], out, error);
    }
    return ok;
}

gboolean
camas_agent_args(CamasRequest *request, GError **error, const char *spec, ...)
{
    g_return_val_if_fail(request != NULL && spec != NULL, FALSE);
    va_list ap;
    va_start(ap, spec);
    gboolean ok = args_va(request, error, spec, &ap);
    va_end(ap);
    return ok;
}

gboolean
camas_agent_args_or_fail(CamasRequest *request, const char *spec, ...)
{
    g_return_val_if_fail(request != NULL && spec != NULL, FALSE);
    GError *error = NULL;
    va_list ap;
    va_start(ap, spec);
    gboolean ok = args_va(request, &error, spec, &ap);
    va_end(ap);
    if (!ok)
        camas_agent_fail(request, error);
    return ok;
}

void
camas_agent_fail(CamasRequest *request, GError *error)
{
    g_return_if_fail(request != NULL && error != NULL);
    camas_request_fail(request, error);
    g_error_free(error);
}

/* --- logging --------------------------------------------------------------------------------- */

void
camas_agent_log(CamasAgent *agent, const char *format, ...)
{
    g_return_if_fail(agent != NULL && format != NULL);
    CamasContainer *c = agent->container;
    if (!camas_loop_is_traced(c->loop) && !c->log_func)
        return;
    va_list ap;
    va_start(ap, format);
    g_autofree char *line = g_strdup_vprintf(format, ap);
    va_end(ap);
    CamasTraceRecord rec = {.kind = CAMAS_TRACE_LOG, .src = agent->url, .text = line, .msg_id = -1};
    camas_loop_trace(c->loop, &rec);
    camas__container_log(c, agent, line);
}
