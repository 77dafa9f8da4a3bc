/* SPDX-License-Identifier: MIT */
/*
 * Declared parameters (camas/agent.h, CamasParamSpec), the parts the scenario loader shares
 * with camas_agent_class_bind_args(): the table check, defaults, value checks and the messages,
 * so that every entry point words the same mistake the same way.
 */
#pragma once

#include <camas/agent.h>

G_BEGIN_DECLS

/* Checks a parameter table of type @type_name; @has_entry: the type has run or start.  On
 * failure sets @error (CAMAS_ERROR_INVALID) to 'parameter "x" is declared twice' and the like,
 * without the type's name: callers prefix what they check ("Invalid agent type X: ..."). */
gboolean camas__params_check(const CamasParamSpec *params, gboolean has_entry, GError **error);

/* Entries of a table (0 for NULL). */
guint camas__params_count(const CamasParamSpec *params);

/* @spec's default parsed as its kind (transfer full), or NULL with CAMAS_ERROR_INVALID
 * 'parameter "n": default "three" is not a valid int'. */
CamasValue *camas__param_default(const CamasParamSpec *spec, GError **error);

/* How a value is named in "got ..." ("an integer", "a string", "an array", ...), the words the
 * scenario loader uses for JSON values. */
const char *camas__param_value_kind(const CamasValue *value);

/**
 * camas__param_convert:
 * @value: (transfer none): what was given for @spec
 * Returns: (transfer full): the value the agent gets (a float for an int given to FLOAT and
 * DURATION), or NULL with CAMAS_ERROR_INVALID '<Type> parameter "x" (int) expects an integer,
 * got a string' or '<Type> parameter "x" (duration) must not be negative, got -1'.  AGENT
 * takes a string, AGENTS a list of strings.
 */
CamasValue *camas__param_convert(const char *type_name, const CamasParamSpec *spec,
                                 const CamasValue *value, GError **error);

/* (transfer full): the message for @key, which names none of @params: 'unknown parameter "x":
 * T takes no parameters' or 'unknown parameter "x" (did you mean "y"?); T takes: a, b'. */
char *camas__param_unknown_message(const char *type_name, const CamasParamSpec *params,
                                   const char *key);

/* (transfer full): 'T needs the parameter "p" (kind: doc)'. */
char *camas__param_missing_message(const char *type_name, const CamasParamSpec *spec);

/* (transfer full): 'T's parameter "b" is given, so "a" (which comes before it) must be given
 * too'. */
char *camas__param_order_message(const char *type_name, const char *given, const char *missing);

/* "Did you mean": the closest of @names (edit distance below 3) as ' (did you mean "x"?)', or
 * "" (transfer full). */
char *camas__suggestion(const char *given, const char *const *names, gsize n);

G_END_DECLS
