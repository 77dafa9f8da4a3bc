/* SPDX-License-Identifier: MIT */
/*
 * Scenario types and plug-ins (camas/scenario.h): what scenario files may say about each agent
 * type.  Sits above the agent registry (camas/registry.h), which knows classes by name; this
 * table adds each type's declared parameters and final-state function.  Built-in descriptions:
 * the types of agents/library/ written for scenarios describe themselves next to their class
 * (camas__scenario_type_<name>); the older built-in types are described here.  Plug-ins are
 * shared libraries loaded with GModule whose camas_plugin_init() registers their types.
 *
 * The table is an array sorted by name (deterministic listings) guarded by a mutex, like the
 * agent registry.
 */
#include <string.h>

#include <gmodule.h>
#include <jansson.h>

#include <camas/registry.h>

#include "scenario-private.h"

/* The library's scenario-ready types (agents/library/<name>.c). */
extern const CamasScenarioType camas__scenario_type_ping_pong;
extern const CamasScenarioType camas__scenario_type_ring_election;
extern const CamasScenarioType camas__scenario_type_gossip;

/* The older built-in types, described here because their classes predate scenarios. */
extern const CamasAgentClass camas__agent_contract_net_manager;
extern const CamasAgentClass camas__agent_contractor;
extern const CamasAgentClass camas__agent_caller;
extern const CamasAgentClass camas__agent_hello_world;
extern const CamasAgentClass camas__agent_test_agent;

static const CamasParamSpec manager_params[] = {
    {"contractors", CAMAS_PARAM_AGENTS, CAMAS_PARAM_START_ARG, TRUE, NULL,
     "the contractors to call for proposals"},
    {"task", CAMAS_PARAM_STR, CAMAS_PARAM_START_ARG, FALSE, "\"task\"", "the task's name"},
    {NULL},
};

static const CamasParamSpec contractor_params[] = {
    {"label", CAMAS_PARAM_STR, CAMAS_PARAM_INIT_ARG, FALSE, NULL,
     "the name it bids under (default: its stream name <container>/<aid>)"},
    {NULL},
};

static const CamasParamSpec caller_params[] = {
    {"callee", CAMAS_PARAM_AGENT, CAMAS_PARAM_START_ARG, TRUE, NULL,
     "the Callee whose spam(3) it calls"},
    {NULL},
};

static const CamasParamSpec hello_params[] = {
    {"name", CAMAS_PARAM_STR, CAMAS_PARAM_INIT_ARG, FALSE, NULL,
     "the name it greets with (default HelloWorld)"},
    {NULL},
};

static const CamasParamSpec test_agent_params[] = {
    {"peer", CAMAS_PARAM_AGENT, CAMAS_PARAM_START_ARG, FALSE, NULL,
     "the agent whose service(42) it calls (default: nobody)"},
    {NULL},
};

static const CamasScenarioType builtin_types[] = {
    {&camas__agent_contract_net_manager, 0, manager_params, NULL},
    {&camas__agent_contractor, 0, contractor_params, NULL},
    {&camas__agent_caller, 0, caller_params, NULL},
    {&camas__agent_hello_world, 0, hello_params, NULL},
    {&camas__agent_test_agent, 0, test_agent_params, NULL},
};

static GMutex lock;
static GPtrArray *types;   /* const CamasScenarioType*, sorted by class name */
static GPtrArray *bare;    /* CamasScenarioType* made for types that declared nothing (owned) */
static GHashTable *loaded; /* plug-in paths (canonical) -> NULL, or why its init failed */

static gint
by_name(gconstpointer a, gconstpointer b)
{
    const CamasScenarioType *x = *(const CamasScenarioType *const *)a;
    const CamasScenarioType *y = *(const CamasScenarioType *const *)b;
    return strcmp(x->klass->name, y->klass->name);
}

/* With the lock held. */
static const CamasScenarioType *
find(const char *name)
{
    for (guint i = 0; types && i < types->len; i++) {
        const CamasScenarioType *t = g_ptr_array_index(types, i);
        if (strcmp(t->klass->name, name) == 0)
            return t;
    }
    return NULL;
}

const char *
camas_param_kind_name(CamasParamKind kind)
{
    static const char *const names[] = {
        [CAMAS_PARAM_INT] = "int",       [CAMAS_PARAM_FLOAT] = "float",
        [CAMAS_PARAM_DURATION] = "duration", [CAMAS_PARAM_STR] = "str",
        [CAMAS_PARAM_BOOL] = "bool",     [CAMAS_PARAM_AGENT] = "agent",
        [CAMAS_PARAM_AGENTS] = "agents", [CAMAS_PARAM_VALUE] = "value",
    };
    return (guint)kind < G_N_ELEMENTS(names) ? names[kind] : "unknown";
}

CamasValue *
camas__scenario_param_default(const CamasParamSpec *spec, GError **error)
{
    json_error_t jerr;
    json_t *j = json_loads(spec->default_json, JSON_DECODE_ANY, &jerr);
    if (!j) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "parameter \"%s\": default %s is not JSON (%s)", spec->name,
                    spec->default_json, jerr.text);
        return NULL;
    }
    gboolean ok;
    switch (spec->kind) {
    case CAMAS_PARAM_INT:
        ok = json_is_integer(j);
        break;
    case CAMAS_PARAM_FLOAT:
        ok = json_is_number(j);
        break;
    case CAMAS_PARAM_DURATION:
        ok = json_is_number(j) && json_number_value(j) >= 0;
        break;
    case CAMAS_PARAM_STR:
        ok = json_is_string(j);
        break;
    case CAMAS_PARAM_BOOL:
        ok = json_is_boolean(j);
        break;
    case CAMAS_PARAM_VALUE:
        ok = TRUE;
        break;
    default: /* agent references have no defaults */
        ok = FALSE;
    }
    if (!ok) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "parameter \"%s\": default %s is not a valid %s", spec->name,
                    spec->default_json, camas_param_kind_name(spec->kind));
        json_decref(j);
        return NULL;
    }
    CamasValue *v;
    if (spec->kind == CAMAS_PARAM_FLOAT || spec->kind == CAMAS_PARAM_DURATION)
        v = camas_value_new_float(json_number_value(j));
    else
        v = camas__scenario_json_to_value(j);
    json_decref(j);
    return v;
}

/* Checks a descriptor table. */
static gboolean
check_type(const CamasScenarioType *type, GError **error)
{
    if (!type->klass || !type->klass->name) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "a scenario type needs an agent class with a name");
        return FALSE;
    }
    const char *name = type->klass->name;
    if (type->abi_version > CAMAS_SCENARIO_TYPE_ABI_VERSION) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "scenario type %s: ABI version %u is newer than this camas (%u)", name,
                    type->abi_version, CAMAS_SCENARIO_TYPE_ABI_VERSION);
        return FALSE;
    }
    for (const CamasParamSpec *p = type->params; p && p->name; p++) {
        if ((guint)p->kind > CAMAS_PARAM_VALUE || (guint)p->target > CAMAS_PARAM_START_ARG) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "scenario type %s: parameter \"%s\" has an unknown kind or target", name,
                        p->name);
            return FALSE;
        }
        for (const CamasParamSpec *q = type->params; q != p; q++)
            if (strcmp(q->name, p->name) == 0) {
                g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                            "scenario type %s: parameter \"%s\" is declared twice", name,
                            p->name);
                return FALSE;
            }
        if (p->default_json) {
            g_autoptr(GError) e = NULL;
            g_autoptr(CamasValue) v = camas__scenario_param_default(p, &e);
            if (!v) {
                g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "scenario type %s: %s",
                            name, e->message);
                return FALSE;
            }
        }
        if (p->target == CAMAS_PARAM_START_ARG && !type->klass->run && !type->klass->start) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "scenario type %s: parameter \"%s\" goes to an entry point the type "
                        "does not have",
                        name, p->name);
            return FALSE;
        }
    }
    return TRUE;
}

/* With the lock held: the built-in descriptions, once. */
static void
ensure_builtins(void)
{
    if (types)
        return;
    types = g_ptr_array_new();
    bare = g_ptr_array_new_with_free_func(g_free);
    loaded = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    static const CamasScenarioType *const own[] = {
        &camas__scenario_type_ping_pong,
        &camas__scenario_type_ring_election,
        &camas__scenario_type_gossip,
    };
    for (gsize i = 0; i < G_N_ELEMENTS(own); i++) {
        g_assert(check_type(own[i], NULL)); /* a bad built-in table is a bug in this tree */
        g_ptr_array_add(types, (gpointer)own[i]);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(builtin_types); i++) {
        g_assert(check_type(&builtin_types[i], NULL));
        g_ptr_array_add(types, (gpointer)&builtin_types[i]);
    }
    g_ptr_array_sort(types, by_name);
}

gboolean
camas_scenario_type_register(const CamasScenarioType *type, GError **error)
{
    g_return_val_if_fail(type != NULL, FALSE);
    if (!check_type(type, error))
        return FALSE;
    const CamasAgentClass *known = camas_agent_registry_lookup(type->klass->name, NULL);
    if (known != type->klass && !camas_agent_registry_add(type->klass, error))
        return FALSE;
    g_mutex_lock(&lock);
    ensure_builtins();
    const CamasScenarioType *other = find(type->klass->name);
    gboolean ok = other == NULL || other == type;
    if (other == NULL) {
        g_ptr_array_add(types, (gpointer)type);
        g_ptr_array_sort(types, by_name);
    } else if (other != type) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "A scenario type named \"%s\" is already registered", type->klass->name);
    }
    g_mutex_unlock(&lock);
    return ok;
}

const CamasScenarioType *
camas_scenario_type_lookup(const char *name, GError **error)
{
    g_return_val_if_fail(name != NULL, NULL);
    const CamasAgentClass *klass = camas_agent_registry_lookup(name, error);
    if (!klass)
        return NULL;
    g_mutex_lock(&lock);
    ensure_builtins();
    const CamasScenarioType *t = find(name);
    if (!t) {
        /* A registered class that declared nothing: it takes no parameters.  Described once
         * and kept, so the pointer stays valid. */
        for (guint i = 0; i < bare->len && !t; i++) {
            const CamasScenarioType *b = g_ptr_array_index(bare, i);
            if (b->klass == klass)
                t = b;
        }
        if (!t) {
            CamasScenarioType *b = g_new0(CamasScenarioType, 1);
            b->klass = klass;
            g_ptr_array_add(bare, b);
            t = b;
        }
    }
    g_mutex_unlock(&lock);
    return t;
}

/* --- plug-ins ------------------------------------------------------------------------------ */

gboolean
camas_plugin_load(const char *path, GError **error)
{
    g_return_val_if_fail(path != NULL, FALSE);
    /* The same file named two ways is one plug-in: key by the resolved path when it exists. */
    g_autofree char *real = realpath(path, NULL);
    const char *key = real ? real : path;
    g_mutex_lock(&lock);
    ensure_builtins();
    gpointer failure = NULL;
    gboolean done = g_hash_table_lookup_extended(loaded, key, NULL, &failure);
    if (done && failure)
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s", (const char *)failure);
    g_mutex_unlock(&lock);
    if (done)
        return failure == NULL;

    GModule *module = g_module_open(path, G_MODULE_BIND_LOCAL);
    if (!module) {
        /* the loader's message usually starts with the path already */
        const char *why = g_module_error();
        gsize n = strlen(path);
        if (strncmp(why, path, n) == 0 && strncmp(why + n, ": ", 2) == 0)
            why += n + 2;
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "plugin %s: %s", path, why);
        return FALSE;
    }
    gpointer sym = NULL;
    if (!g_module_symbol(module, CAMAS_PLUGIN_INIT_NAME, &sym) || !sym) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "plugin %s: it exports no " CAMAS_PLUGIN_INIT_NAME "() function", path);
        g_module_close(module);
        return FALSE;
    }
    /* Types registered by the function point into the module: it stays loaded from here on,
     * even when the function fails half-way. */
    g_module_make_resident(module);
    GError *e = NULL;
    char *failure_text = NULL;
    if (!((CamasPluginInitFunc)sym)(&e)) {
        failure_text = g_strdup_printf("plugin %s: %s", path,
                                       e ? e->message
                                         : CAMAS_PLUGIN_INIT_NAME "() failed without saying why");
        g_clear_error(&e);
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s", failure_text);
    }
    /* Remembered either way: its init runs once per process. */
    g_mutex_lock(&lock);
    g_hash_table_insert(loaded, g_strdup(key), failure_text);
    g_mutex_unlock(&lock);
    return failure_text == NULL;
}
