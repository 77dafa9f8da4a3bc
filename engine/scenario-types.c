/* SPDX-License-Identifier: MIT */
/*
 * Scenario types and plug-ins (camas/scenario.h): what scenario files may say about each agent
 * type.  Sits above the agent registry (camas/registry.h), which knows classes by name and
 * their declared parameters (CamasAgentClass.params); this table adds each type's final-state
 * function (camas__scenario_type_<name>, next to the class in agents/library/) and keeps the
 * deprecated parameter tables of older descriptions working.  Plug-ins are shared libraries
 * loaded with GModule whose camas_plugin_init() registers their types.
 *
 * The table is an array sorted by name (deterministic listings) guarded by a mutex, like the
 * agent registry.
 */
#include <string.h>

#include <gmodule.h>

#include <camas/registry.h>

#include "params-private.h"
#include "scenario-private.h"

/* The library's types with a final state of their own (agents/library/<name>.c); the other
 * registered types are described on first lookup. */
extern const CamasScenarioType camas__scenario_type_ping_pong;
extern const CamasScenarioType camas__scenario_type_ring_election;
extern const CamasScenarioType camas__scenario_type_gossip;

/* A registered description and what scenarios use: a copy whose params are the ones in effect
 * (the class's, or the deprecated table of the description). */
typedef struct {
    const CamasScenarioType *source; /* NULL for a class that registered no description */
    CamasScenarioType view;
} Entry;

static GMutex lock;
static GPtrArray *types;   /* Entry*, owned, sorted by class name */
static GPtrArray *bare;    /* Entry* made for classes that registered no description (owned) */
static GHashTable *loaded; /* plug-in paths (canonical) -> NULL, or why its init failed */

static gint
by_name(gconstpointer a, gconstpointer b)
{
    const Entry *x = *(const Entry *const *)a;
    const Entry *y = *(const Entry *const *)b;
    return strcmp(x->view.klass->name, y->view.klass->name);
}

/* With the lock held. */
static Entry *
find(GPtrArray *in, const char *name)
{
    for (guint i = 0; in && i < in->len; i++) {
        Entry *e = g_ptr_array_index(in, i);
        if (strcmp(e->view.klass->name, name) == 0)
            return e;
    }
    return NULL;
}

static Entry *
entry_new(const CamasScenarioType *source, const CamasAgentClass *klass)
{
    Entry *e = g_new0(Entry, 1);
    e->source = source;
    if (source)
        e->view = *source;
    e->view.klass = klass;
    e->view.abi_version = CAMAS_SCENARIO_TYPE_ABI_VERSION;
    if (!e->view.params)
        e->view.params = camas_agent_class_get_params(klass);
    return e;
}

CamasValue *
camas__scenario_param_default(const CamasParamSpec *spec, GError **error)
{
    return camas__param_default(spec, error);
}

/* Checks a description table. */
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
    if (!type->params)
        return TRUE;
    g_autoptr(GError) e = NULL;
    if (!camas__params_check(type->params, type->klass->run || type->klass->start, &e)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "scenario type %s: %s", name,
                    e->message);
        return FALSE;
    }
    if (camas_agent_class_get_params(type->klass)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "scenario type %s: its parameters are declared twice, by the scenario type "
                    "and by the agent class (keep the class's)",
                    name);
        return FALSE;
    }
    return TRUE;
}

/* With the lock held: the built-in descriptions, once. */
static void
ensure_builtins(void)
{
    if (types)
        return;
    types = g_ptr_array_new_with_free_func(g_free);
    bare = g_ptr_array_new_with_free_func(g_free);
    loaded = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    static const CamasScenarioType *const own[] = {
        &camas__scenario_type_ping_pong,
        &camas__scenario_type_ring_election,
        &camas__scenario_type_gossip,
    };
    for (gsize i = 0; i < G_N_ELEMENTS(own); i++) {
        g_assert(check_type(own[i], NULL)); /* a bad built-in table is a bug in this tree */
        g_ptr_array_add(types, entry_new(own[i], own[i]->klass));
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
    const Entry *other = find(types, type->klass->name);
    gboolean ok = other == NULL || other->source == type;
    if (other == NULL) {
        g_ptr_array_add(types, entry_new(type, type->klass));
        g_ptr_array_sort(types, by_name);
    } else if (other->source != type) {
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
    Entry *e = find(types, name);
    if (!e) {
        /* A registered class without a description: its class says everything.  Described
         * once and kept, so the pointer stays valid. */
        e = find(bare, name);
        if (!e) {
            e = entry_new(NULL, klass);
            g_ptr_array_add(bare, e);
        }
    }
    g_mutex_unlock(&lock);
    return &e->view;
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
