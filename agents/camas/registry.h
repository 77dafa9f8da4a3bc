/* SPDX-License-Identifier: MIT */
/*
 * The agent-type registry: the agent types that can be named by text — by `camas container
 * --agent TYPE`, by the subprocess manager's spawn(type, ...), by scenario files.  It holds the
 * built-in types of agents/library/ (one file each, listed in agents/meson.build) and the types
 * plug-ins add at run time.  Lookups are by class name ("Callee", "EchoAgent").  Whatever names
 * a type by text checks its arguments against the parameters the class declares
 * (CamasAgentClass.params, camas_agent_class_bind_args()); `camas types` lists them.
 *
 * Threads: the registry is safe to use from any thread (a mutex guards it).
 */
#pragma once

#include <camas/agent.h>

G_BEGIN_DECLS

/**
 * camas_agent_registry_lookup:
 * Returns: (transfer none): the type named @name, or NULL with CAMAS_ERROR_LOOKUP
 * 'Unknown agent type "<name>" (known: A, B, ...)' listing every known type by name.
 */
CAMAS_API const CamasAgentClass *camas_agent_registry_lookup(const char *name, GError **error);

/**
 * camas_agent_registry_list:
 * Returns: (transfer container): every known type, sorted by name, NULL-terminated (free the
 * array with g_free; the tables are the registry's).
 */
CAMAS_API const CamasAgentClass **camas_agent_registry_list(void);

/**
 * camas_agent_registry_add:
 * @klass: (transfer none): a type that stays valid for the rest of the process (a plug-in's
 *         static table)
 * Adds a type.  Returns: FALSE with CAMAS_ERROR_INVALID when the table fails
 * camas_agent_class_check() or its name is already taken.
 */
CAMAS_API gboolean camas_agent_registry_add(const CamasAgentClass *klass, GError **error);

G_END_DECLS
