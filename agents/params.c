/* SPDX-License-Identifier: MIT */
/*
 * Declared parameters of agent types (camas/agent.h, CamasAgentClass.params): checking a
 * table, parsing defaults, checking and converting given values, binding call-form arguments
 * (camas_agent_class_bind_args(), for `camas container` and the subprocess manager) and
 * describing a type (`camas types`).  The scenario loader (engine/scenario.c) binds its JSON
 * "params" with the same pieces (params-private.h), so a mistake reads the same everywhere.
 */
#include <ctype.h>
#include <string.h>

#include <camas/codec.h>

#include "params-private.h"

const char *
camas_param_kind_name(CamasParamKind kind)
{
    static const char *const names[] = {
        [CAMAS_PARAM_INT] = "int",           [CAMAS_PARAM_FLOAT] = "float",
        [CAMAS_PARAM_DURATION] = "duration", [CAMAS_PARAM_STR] = "str",
        [CAMAS_PARAM_BOOL] = "bool",         [CAMAS_PARAM_AGENT] = "agent",
        [CAMAS_PARAM_AGENTS] = "agents",     [CAMAS_PARAM_VALUE] = "value",
    };
    return (guint)kind < G_N_ELEMENTS(names) ? names[kind] : "unknown";
}

const CamasParamSpec *
camas_agent_class_get_params(const CamasAgentClass *klass)
{
    g_return_val_if_fail(klass != NULL, NULL);
    /* ABI 1 tables end before the field */
    return klass->abi_version == 1 ? NULL : klass->params;
}

guint
camas__params_count(const CamasParamSpec *params)
{
    guint n = 0;
    for (const CamasParamSpec *p = params; p && p->name; p++)
        n++;
    return n;
}

/* --- messages ------------------------------------------------------------------------------ */

/* Levenshtein distance, for "did you mean" (names are short). */
static guint
edit_distance(const char *a, const char *b)
{
    gsize la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return G_MAXUINT;
    guint row[65];
    for (gsize j = 0; j <= lb; j++)
        row[j] = (guint)j;
    for (gsize i = 1; i <= la; i++) {
        guint diag = row[0];
        row[0] = (guint)i;
        for (gsize j = 1; j <= lb; j++) {
            guint up = row[j];
            guint cost = tolower((guchar)a[i - 1]) == tolower((guchar)b[j - 1]) ? 0 : 1;
            row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diag + cost);
            diag = up;
        }
    }
    return row[lb];
}

char *
camas__suggestion(const char *given, const char *const *names, gsize n)
{
    const char *best = NULL;
    guint best_d = 3;
    for (gsize i = 0; i < n; i++) {
        guint d = edit_distance(given, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    return best ? g_strdup_printf(" (did you mean \"%s\"?)", best) : g_strdup("");
}

char *
camas__param_unknown_message(const char *type_name, const CamasParamSpec *params, const char *key)
{
    guint n = camas__params_count(params);
    if (n == 0)
        return g_strdup_printf("unknown parameter \"%s\": %s takes no parameters", key, type_name);
    g_autofree const char **names = g_new(const char *, n);
    g_autoptr(GString) list = g_string_new(NULL);
    for (guint i = 0; i < n; i++) {
        names[i] = params[i].name;
        g_string_append_printf(list, "%s%s", i ? ", " : "", names[i]);
    }
    g_autofree char *hint = camas__suggestion(key, names, n);
    return g_strdup_printf("unknown parameter \"%s\"%s; %s takes: %s", key, hint, type_name,
                           list->str);
}

char *
camas__param_missing_message(const char *type_name, const CamasParamSpec *spec)
{
    return g_strdup_printf("%s needs the parameter \"%s\" (%s: %s)", type_name, spec->name,
                           camas_param_kind_name(spec->kind), spec->doc ? spec->doc : "");
}

char *
camas__param_order_message(const char *type_name, const char *given, const char *missing)
{
    return g_strdup_printf("%s's parameter \"%s\" is given, so \"%s\" (which comes before it) "
                           "must be given too",
                           type_name, given, missing);
}

const char *
camas__param_value_kind(const CamasValue *value)
{
    switch (camas_value_get_type(value)) {
    case CAMAS_VALUE_MAP:
        return "an object";
    case CAMAS_VALUE_LIST:
    case CAMAS_VALUE_TUPLE:
        return "an array";
    case CAMAS_VALUE_STR:
        return "a string";
    case CAMAS_VALUE_INT:
        return "an integer";
    case CAMAS_VALUE_FLOAT:
        return "a number with a fraction";
    case CAMAS_VALUE_BOOL:
        return "a boolean";
    case CAMAS_VALUE_NULL:
        return "null";
    case CAMAS_VALUE_BYTES:
        return "bytes";
    default:
        return "an object value";
    }
}

/* --- values -------------------------------------------------------------------------------- */

static gboolean
is_number(const CamasValue *v)
{
    CamasValueType t = camas_value_get_type(v);
    return t == CAMAS_VALUE_INT || t == CAMAS_VALUE_FLOAT;
}

static double
number_of(const CamasValue *v)
{
    if (camas_value_get_type(v) == CAMAS_VALUE_FLOAT)
        return camas_value_get_float(v);
    return camas_value_int_is_unsigned(v) ? (double)camas_value_get_uint(v)
                                          : (double)camas_value_get_int(v);
}

static gboolean
is_url_list(const CamasValue *v)
{
    CamasValueType t = camas_value_get_type(v);
    if (t != CAMAS_VALUE_LIST && t != CAMAS_VALUE_TUPLE)
        return FALSE;
    for (gsize i = 0; i < camas_value_get_length(v); i++)
        if (camas_value_get_type(camas_value_get_item(v, i)) != CAMAS_VALUE_STR)
            return FALSE;
    return TRUE;
}

CamasValue *
camas__param_convert(const char *type_name, const CamasParamSpec *spec, const CamasValue *value,
                     GError **error)
{
    CamasValueType t = camas_value_get_type(value);
    const char *want = NULL;
    switch (spec->kind) {
    case CAMAS_PARAM_INT:
        if (t != CAMAS_VALUE_INT)
            want = "an integer";
        break;
    case CAMAS_PARAM_FLOAT:
        if (!is_number(value))
            want = "a number";
        else
            return camas_value_new_float(number_of(value));
        break;
    case CAMAS_PARAM_DURATION:
        if (!is_number(value)) {
            want = "a number of seconds";
        } else if (number_of(value) < 0) {
            char buf[G_ASCII_DTOSTR_BUF_SIZE];
            /* "%g" independent of the locale, as the scenario loader writes numbers */
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "%s parameter \"%s\" (duration) must not be negative, got %s", type_name,
                        spec->name, g_ascii_formatd(buf, sizeof buf, "%g", number_of(value)));
            return NULL;
        } else {
            return camas_value_new_float(number_of(value));
        }
        break;
    case CAMAS_PARAM_STR:
        if (t != CAMAS_VALUE_STR)
            want = "a string";
        break;
    case CAMAS_PARAM_BOOL:
        if (t != CAMAS_VALUE_BOOL)
            want = "true or false";
        break;
    case CAMAS_PARAM_AGENT:
        if (t != CAMAS_VALUE_STR)
            want = "an agent's URL (a string)";
        break;
    case CAMAS_PARAM_AGENTS:
        if (!is_url_list(value))
            want = "a list of agents' URLs (strings)";
        break;
    case CAMAS_PARAM_VALUE:
        break;
    }
    if (want) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "%s parameter \"%s\" (%s) expects %s, got %s", type_name, spec->name,
                    camas_param_kind_name(spec->kind), want, camas__param_value_kind(value));
        return NULL;
    }
    return camas_value_ref((CamasValue *)value);
}

CamasValue *
camas__param_default(const CamasParamSpec *spec, GError **error)
{
    /* the JSON codec reads it as a peer's message would be read: 3 an int, 3.0 a float */
    g_autoptr(CamasCodec) codec = camas_codec_new("json", NULL);
    g_autoptr(GError) e = NULL;
    g_autoptr(CamasValue) given = camas_codec_decode(codec, (const guint8 *)spec->default_json,
                                                     strlen(spec->default_json), &e);
    if (!given) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "parameter \"%s\": default %s is not JSON (%s)", spec->name, spec->default_json,
                    e->message);
        return NULL;
    }
    /* agent references have no defaults: a URL fixed in a table would name nobody */
    CamasValue *v = NULL;
    if (spec->kind != CAMAS_PARAM_AGENT && spec->kind != CAMAS_PARAM_AGENTS)
        v = camas__param_convert("", spec, given, NULL);
    if (!v)
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "parameter \"%s\": default %s is not a valid %s", spec->name,
                    spec->default_json, camas_param_kind_name(spec->kind));
    return v;
}

gboolean
camas__params_check(const CamasParamSpec *params, gboolean has_entry, GError **error)
{
    for (const CamasParamSpec *p = params; p && p->name; p++) {
        if ((guint)p->kind > CAMAS_PARAM_VALUE || (guint)p->target > CAMAS_PARAM_START_ARG) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "parameter \"%s\" has an unknown kind or target", p->name);
            return FALSE;
        }
        for (const CamasParamSpec *q = params; q != p; q++)
            if (strcmp(q->name, p->name) == 0) {
                g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                            "parameter \"%s\" is declared twice", p->name);
                return FALSE;
            }
        if (p->default_json) {
            g_autoptr(CamasValue) v = camas__param_default(p, error);
            if (!v)
                return FALSE;
        }
        if (p->target == CAMAS_PARAM_START_ARG && !has_entry) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "parameter \"%s\" goes to an entry point the type does not have", p->name);
            return FALSE;
        }
    }
    return TRUE;
}

/* --- binding call-form arguments ----------------------------------------------------------- */

/* 'label, step' (the names of @params going to @target). */
static char *
names_of(const CamasParamSpec *params, CamasParamTarget target)
{
    g_autoptr(GString) s = g_string_new(NULL);
    for (const CamasParamSpec *p = params; p && p->name; p++)
        if (p->target == target)
            g_string_append_printf(s, "%s%s", s->len ? ", " : "", p->name);
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* Binds the items of @list to the parameters going to @target, in order. */
static gboolean
bind_positional(const char *type_name, const CamasParamSpec *params, CamasParamTarget target,
                const CamasValue *list, CamasValue **values, GError **error)
{
    gsize given = list ? camas_value_get_length(list) : 0, k = 0;
    guint slots = 0;
    for (const CamasParamSpec *p = params; p && p->name; p++)
        slots += p->target == target;
    const char *what = target == CAMAS_PARAM_INIT_ARG ? "positional init" : "entry point";
    if (given > slots) {
        g_autofree char *names = names_of(params, target);
        if (slots == 0)
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "%s takes no %s arguments, got %" G_GSIZE_FORMAT, type_name, what, given);
        else
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "%s takes %u %s argument%s (%s), got %" G_GSIZE_FORMAT, type_name, slots,
                        what, slots == 1 ? "" : "s", names, given);
        return FALSE;
    }
    for (guint i = 0; params && params[i].name && k < given; i++) {
        if (params[i].target != target)
            continue;
        values[i] =
            camas__param_convert(type_name, &params[i], camas_value_get_item(list, k++), error);
        if (!values[i])
            return FALSE;
    }
    return TRUE;
}

static gboolean
bind_keywords(const char *type_name, const CamasParamSpec *params, const CamasValue *kwargs,
              CamasValue **values, GError **error)
{
    gsize n = kwargs ? camas_value_get_length(kwargs) : 0;
    for (gsize e = 0; e < n; e++) {
        CamasValue *key = camas_value_map_get_key(kwargs, e);
        if (camas_value_get_type(key) != CAMAS_VALUE_STR) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "%s: keyword argument names must be strings, got %s", type_name,
                        camas__param_value_kind(key));
            return FALSE;
        }
        const char *name = camas_value_get_str(key, NULL);
        guint i = 0;
        while (params && params[i].name && strcmp(params[i].name, name) != 0)
            i++;
        if (!params || !params[i].name) {
            g_autofree char *msg = camas__param_unknown_message(type_name, params, name);
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s", msg);
            return FALSE;
        }
        if (params[i].target == CAMAS_PARAM_START_ARG) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "%s parameter \"%s\" is an argument of the entry point, not of init",
                        type_name, name);
            return FALSE;
        }
        if (values[i]) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "%s parameter \"%s\" is given both by position and by name", type_name,
                        name);
            return FALSE;
        }
        values[i] = camas__param_convert(type_name, &params[i],
                                         camas_value_map_get_value(kwargs, e), error);
        if (!values[i])
            return FALSE;
    }
    return TRUE;
}

/* Defaults, required parameters, and no gap before a given positional one. */
static gboolean
complete(const char *type_name, const CamasParamSpec *params, gboolean with_start,
         CamasValue **values, GError **error)
{
    const char *gap[CAMAS_PARAM_START_ARG + 1] = {NULL};
    for (guint i = 0; params && params[i].name; i++) {
        const CamasParamSpec *p = &params[i];
        if (p->target == CAMAS_PARAM_START_ARG && !with_start)
            continue;
        if (!values[i] && p->required) {
            g_autofree char *msg = camas__param_missing_message(type_name, p);
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s", msg);
            return FALSE;
        }
        if (!values[i] && p->default_json)
            values[i] = camas__param_default(p, NULL); /* checked with the class */
        if (p->target == CAMAS_PARAM_INIT_KWARG)
            continue;
        if (!values[i]) {
            gap[p->target] = p->name;
        } else if (gap[p->target]) {
            g_autofree char *msg = camas__param_order_message(type_name, p->name, gap[p->target]);
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s", msg);
            return FALSE;
        }
    }
    return TRUE;
}

static CamasValue *
collect_list(const CamasParamSpec *params, CamasParamTarget target, CamasValue **values)
{
    g_autoptr(GPtrArray) items = g_ptr_array_new();
    for (guint i = 0; params && params[i].name; i++)
        if (params[i].target == target && values[i])
            g_ptr_array_add(items, values[i]);
    return camas_value_new_list((CamasValue *const *)items->pdata, items->len);
}

gboolean
camas_agent_class_bind_args(const CamasAgentClass *klass, const CamasValue *args,
                            const CamasValue *kwargs, const CamasValue *start_args,
                            CamasValue **args_out, CamasValue **kwargs_out,
                            CamasValue **start_args_out, GError **error)
{
    g_return_val_if_fail(klass != NULL && klass->name != NULL, FALSE);
    g_return_val_if_fail(args_out != NULL && kwargs_out != NULL, FALSE);
    g_return_val_if_fail(!args || camas_value_is_sequence(args), FALSE);
    g_return_val_if_fail(!kwargs || camas_value_get_type(kwargs) == CAMAS_VALUE_MAP, FALSE);
    g_return_val_if_fail(!start_args || camas_value_is_sequence(start_args), FALSE);
    const char *name = klass->name;
    const CamasParamSpec *params = camas_agent_class_get_params(klass);
    guint n = camas__params_count(params);
    CamasValue **values = g_new0(CamasValue *, n + 1);
    gboolean ok = bind_positional(name, params, CAMAS_PARAM_INIT_ARG, args, values, error) &&
                  bind_keywords(name, params, kwargs, values, error);
    if (ok && start_args && !klass->run && !klass->start &&
        camas_value_get_length(start_args) > 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "%s has no entry point to take arguments", name);
        ok = FALSE;
    }
    ok = ok && (!start_args ||
                bind_positional(name, params, CAMAS_PARAM_START_ARG, start_args, values, error));
    ok = ok && complete(name, params, start_args != NULL, values, error);
    if (ok) {
        *args_out = collect_list(params, CAMAS_PARAM_INIT_ARG, values);
        g_autoptr(GPtrArray) keys = g_ptr_array_new();
        g_autoptr(GPtrArray) vals = g_ptr_array_new();
        for (guint i = 0; i < n; i++) {
            if (params[i].target != CAMAS_PARAM_INIT_KWARG || !values[i])
                continue;
            g_ptr_array_add(keys, camas_value_new_str(params[i].name));
            g_ptr_array_add(vals, camas_value_ref(values[i]));
        }
        /* declared names are unique (camas_agent_class_check), so this cannot fail */
        *kwargs_out = camas_value_new_map_take((CamasValue **)keys->pdata,
                                               (CamasValue **)vals->pdata, keys->len, NULL);
        if (start_args_out)
            *start_args_out =
                start_args ? collect_list(params, CAMAS_PARAM_START_ARG, values) : NULL;
    }
    for (guint i = 0; i < n; i++)
        g_clear_pointer(&values[i], camas_value_unref);
    g_free(values);
    return ok;
}

/* --- describing ---------------------------------------------------------------------------- */

char *
camas_agent_class_dup_description(const CamasAgentClass *klass)
{
    g_return_val_if_fail(klass != NULL && klass->name != NULL, NULL);
    GString *s = g_string_new(NULL);
    if (klass->summary)
        g_string_append_printf(s, "%-20s %s\n", klass->name, klass->summary);
    else
        g_string_append_printf(s, "%s\n", klass->name);
    guint position = 0;
    for (const CamasParamSpec *p = camas_agent_class_get_params(klass); p && p->name; p++) {
        g_autofree char *def = p->required       ? g_strdup("required")
                               : p->default_json ? g_strdup_printf("= %s", p->default_json)
                                                 : g_strdup("optional");
        g_autofree char *where = p->target == CAMAS_PARAM_START_ARG ? g_strdup(" (run)")
                                 : p->target == CAMAS_PARAM_INIT_ARG
                                     ? g_strdup_printf(" (init #%u)", ++position)
                                     : g_strdup("");
        g_string_append_printf(s, "    %-12s %-8s %-14s %s%s\n", p->name,
                               camas_param_kind_name(p->kind), def, p->doc ? p->doc : "", where);
    }
    return g_string_free(s, FALSE);
}
