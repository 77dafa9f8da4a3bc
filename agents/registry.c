/* SPDX-License-Identifier: MIT */
/*
 * The agent-type registry (camas/registry.h): the built-in types come from the generated
 * agent-table.h (agents/meson.build, list agent_types); plug-ins append at run time.  The
 * registry is an array kept sorted by name, so listings and error messages are deterministic.
 */
#include <string.h>

#include <camas/registry.h>

#include "agent-table.h"

static GMutex lock;
static GPtrArray *types; /* const CamasAgentClass*, sorted by name; created on first use */

static gint
by_name(gconstpointer a, gconstpointer b)
{
    const CamasAgentClass *x = *(const CamasAgentClass *const *)a;
    const CamasAgentClass *y = *(const CamasAgentClass *const *)b;
    return strcmp(x->name, y->name);
}

/* With the lock held. */
static void
ensure_builtins(void)
{
    if (types)
        return;
    types = g_ptr_array_new();
    for (gsize i = 0; i < G_N_ELEMENTS(camas__agent_table); i++) {
        /* a built-in table that fails the check is a bug in this tree */
        g_assert(camas_agent_class_check(camas__agent_table[i], NULL));
        g_ptr_array_add(types, (gpointer)camas__agent_table[i]);
    }
    g_ptr_array_sort(types, by_name);
}

static const CamasAgentClass *
find(const char *name)
{
    for (guint i = 0; i < types->len; i++) {
        const CamasAgentClass *k = g_ptr_array_index(types, i);
        if (strcmp(k->name, name) == 0)
            return k;
    }
    return NULL;
}

const CamasAgentClass *
camas_agent_registry_lookup(const char *name, GError **error)
{
    g_return_val_if_fail(name != NULL, NULL);
    g_mutex_lock(&lock);
    ensure_builtins();
    const CamasAgentClass *k = find(name);
    if (!k) {
        g_autoptr(GString) known = g_string_new(NULL);
        for (guint i = 0; i < types->len; i++) {
            const CamasAgentClass *t = g_ptr_array_index(types, i);
            g_string_append_printf(known, "%s%s", i ? ", " : "", t->name);
        }
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_LOOKUP, "Unknown agent type \"%s\" (known: %s)",
                    name, known->str);
    }
    g_mutex_unlock(&lock);
    return k;
}

const CamasAgentClass **
camas_agent_registry_list(void)
{
    g_mutex_lock(&lock);
    ensure_builtins();
    const CamasAgentClass **list = g_new0(const CamasAgentClass *, types->len + 1);
    for (guint i = 0; i < types->len; i++)
        list[i] = g_ptr_array_index(types, i);
    g_mutex_unlock(&lock);
    return list;
}

gboolean
camas_agent_registry_add(const CamasAgentClass *klass, GError **error)
{
    g_return_val_if_fail(klass != NULL, FALSE);
    if (!camas_agent_class_check(klass, error))
        return FALSE;
    g_mutex_lock(&lock);
    ensure_builtins();
    gboolean ok = find(klass->name) == NULL;
    if (ok) {
        g_ptr_array_add(types, (gpointer)klass);
        g_ptr_array_sort(types, by_name);
    } else {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "An agent type named \"%s\" is already registered", klass->name);
    }
    g_mutex_unlock(&lock);
    return ok;
}
