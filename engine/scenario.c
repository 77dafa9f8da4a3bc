/* SPDX-License-Identifier: MIT */
/*
 * Scenario files (camas/scenario.h, docs/scenarios.md): reading, validating and resolving a
 * scenario into the form engine/scenario-run.c runs.  Everything a run needs is decided here:
 * every field is checked (types, ranges, unknown names — a typo must never be ignored), plug-ins
 * are loaded, parameters are checked against their type's declarations and bound, and every
 * agent's URL is computed, so that agent references ("@group") resolve before anything exists.
 *
 * Messages: bad JSON is "<file>:<line>:<column>: <jansson's text>"; everything else is
 * "<file>: <JSON path>: <what is wrong>", the path written as $.agents[2].params.peer.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <camas/time.h>

#include "params-private.h"
#include "scenario-private.h"

typedef struct {
    const char *origin;
    GError **error;
} Ctx;

static gboolean G_GNUC_PRINTF(3, 4)
fail(Ctx *ctx, const char *path, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autofree char *msg = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_set_error(ctx->error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s: %s: %s", ctx->origin, path,
                msg);
    return FALSE;
}

static const char *
json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* A number for messages, independent of the locale ("%g" would write 0,5 under de_DE). */
static const char *
num_text(char buf[G_ASCII_DTOSTR_BUF_SIZE], double d)
{
    return g_ascii_formatd(buf, G_ASCII_DTOSTR_BUF_SIZE, "%g", d);
}

static char *
path_key(const char *parent, const char *key)
{
    return g_strdup_printf("%s.%s", parent, key);
}

static char *
path_index(const char *parent, gsize i)
{
    return g_strdup_printf("%s[%" G_GSIZE_FORMAT "]", parent, i);
}

static char *
join_names(const char *const *names, gsize n)
{
    g_autoptr(GString) s = g_string_new(NULL);
    for (gsize i = 0; i < n; i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "", names[i]);
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* Every key of @obj must be one of @allowed (NULL-terminated). */
static gboolean
check_keys(Ctx *ctx, json_t *obj, const char *path, const char *const *allowed)
{
    gsize n = g_strv_length((char **)allowed);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        if (g_strv_contains(allowed, key))
            continue;
        g_autofree char *hint = camas__suggestion(key, allowed, n);
        g_autofree char *known = join_names(allowed, n);
        g_autofree char *where = path_key(path, key);
        return fail(ctx, where, "unknown field \"%s\"%s; known fields: %s", key, hint, known);
    }
    return TRUE;
}

static json_t *
get_object(Ctx *ctx, json_t *j, const char *path, gboolean *ok)
{
    if (!json_is_object(j)) {
        *ok = fail(ctx, path, "expected an object, got %s", json_kind(j));
        return NULL;
    }
    return j;
}

/* A string made only of letters, digits, '_', '-' and '.' (container and group names: they
 * appear in addresses and in "@group" references). */
static gboolean
is_simple_name(const char *s)
{
    if (!*s)
        return FALSE;
    for (; *s; s++)
        if (!g_ascii_isalnum(*s) && *s != '_' && *s != '-' && *s != '.')
            return FALSE;
    return TRUE;
}

static gboolean
get_seconds(Ctx *ctx, json_t *j, const char *path, gboolean positive, gint64 *ticks)
{
    if (!json_is_number(j))
        return fail(ctx, path, "expected a number of seconds, got %s", json_kind(j));
    double s = json_number_value(j);
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    if (s < 0 || (positive && s == 0))
        return fail(ctx, path, "must be a %s number of seconds, got %s",
                    positive ? "positive" : "non-negative", num_text(buf, s));
    g_autoptr(GError) e = NULL;
    if (!camas_time_from_seconds(s, ticks, &e))
        return fail(ctx, path, "%s", e->message);
    if (positive && *ticks == 0)
        return fail(ctx, path, "must be at least one nanosecond");
    return TRUE;
}

/* --- JSON to values ------------------------------------------------------------------------ */

CamasValue *
camas__scenario_json_to_value(json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        gsize n = json_object_size(j);
        CamasValue **keys = g_new(CamasValue *, n ? n : 1);
        CamasValue **values = g_new(CamasValue *, n ? n : 1);
        gsize i = 0;
        const char *k;
        json_t *v;
        /* jansson keeps insertion order, so maps follow the file */
        json_object_foreach(j, k, v)
        {
            keys[i] = camas_value_new_str(k);
            values[i] = camas__scenario_json_to_value(v);
            i++;
        }
        CamasValue *m = camas_value_new_map_take(keys, values, n, NULL);
        g_free(keys);
        g_free(values);
        return m;
    }
    case JSON_ARRAY: {
        gsize n = json_array_size(j);
        CamasValue **items = g_new(CamasValue *, n ? n : 1);
        for (gsize i = 0; i < n; i++)
            items[i] = camas__scenario_json_to_value(json_array_get(j, i));
        CamasValue *l = camas_value_new_list_take(items, n);
        g_free(items);
        return l;
    }
    case JSON_STRING:
        return camas_value_new_str_len(json_string_value(j), (gssize)json_string_length(j));
    case JSON_INTEGER:
        return camas_value_new_int(json_integer_value(j));
    case JSON_REAL:
        return camas_value_new_float(json_real_value(j));
    case JSON_TRUE:
        return camas_value_new_bool(TRUE);
    case JSON_FALSE:
        return camas_value_new_bool(FALSE);
    default:
        return camas_value_new_null();
    }
}

CamasValue *
camas__scenario_group_urls(ScenarioGroup *group)
{
    if (!group->all_urls) {
        CamasValue **items = g_new(CamasValue *, group->count);
        for (guint i = 0; i < group->count; i++)
            items[i] = camas_value_new_str(group->urls[i]);
        group->all_urls = camas_value_new_list_take(items, group->count);
        g_free(items);
    }
    return group->all_urls;
}

/* --- freeing ------------------------------------------------------------------------------- */

static void
group_free(gpointer data)
{
    ScenarioGroup *g = data;
    g_free(g->name);
    g_free(g->containers);
    for (guint i = 0; i < g->n_params; i++)
        g_clear_pointer(&g->params[i].value, camas_value_unref);
    g_free(g->params);
    if (g->urls)
        for (guint i = 0; i < g->count; i++)
            g_free(g->urls[i]);
    g_free(g->urls);
    g_clear_pointer(&g->all_urls, camas_value_unref);
    g_free(g);
}

static void
link_rule_free(gpointer data)
{
    LinkRule *r = data;
    g_free(r->where);
    g_free(r);
}

static void
state_check_free(gpointer data)
{
    StateCheck *c = data;
    g_free(c->where);
    g_strfreev(c->key);
    g_clear_pointer(&c->equals, camas_value_unref);
    g_free(c);
}

void
camas_scenario_free(CamasScenario *scenario)
{
    if (!scenario)
        return;
    CamasScenario *s = scenario;
    g_free(s->origin);
    g_free(s->dir);
    g_free(s->name);
    g_free(s->description);
    g_free(s->codec);
    g_clear_pointer(&s->containers, g_ptr_array_unref);
    g_clear_pointer(&s->groups, g_ptr_array_unref);
    g_clear_pointer(&s->links, g_ptr_array_unref);
    g_free(s->expect.fingerprint);
    g_clear_pointer(&s->expect.states, g_ptr_array_unref);
    g_free(s->expect.reference_trace);
    g_free(s);
}

/* --- sections ------------------------------------------------------------------------------ */

static char *
resolve_path(const CamasScenario *s, const char *p)
{
    return g_path_is_absolute(p) ? g_strdup(p) : g_build_filename(s->dir, p, NULL);
}

static gboolean
parse_plugins(Ctx *ctx, CamasScenario *s, json_t *j)
{
    if (!json_is_array(j))
        return fail(ctx, "$.plugins", "expected an array of paths, got %s", json_kind(j));
    for (gsize i = 0; i < json_array_size(j); i++) {
        g_autofree char *path = path_index("$.plugins", i);
        json_t *e = json_array_get(j, i);
        if (!json_is_string(e))
            return fail(ctx, path, "expected a path (a string), got %s", json_kind(e));
        g_autofree char *file = resolve_path(s, json_string_value(e));
        g_autoptr(GError) err = NULL;
        if (!camas_plugin_load(file, &err))
            return fail(ctx, path, "%s", err->message);
    }
    return TRUE;
}

static gboolean
parse_containers(Ctx *ctx, CamasScenario *s, json_t *j)
{
    if (!json_is_array(j) || json_array_size(j) == 0)
        return fail(ctx, "$.containers", "expected a non-empty array of container names, got %s",
                    json_is_array(j) ? "an empty array" : json_kind(j));
    for (gsize i = 0; i < json_array_size(j); i++) {
        g_autofree char *path = path_index("$.containers", i);
        json_t *e = json_array_get(j, i);
        const char *name = NULL;
        if (json_is_object(e)) {
            static const char *const keys[] = {"name", NULL};
            if (!check_keys(ctx, e, path, keys))
                return FALSE;
            json_t *n = json_object_get(e, "name");
            g_autofree char *npath = path_key(path, "name");
            if (!n)
                return fail(ctx, path, "a container needs a \"name\"");
            if (!json_is_string(n))
                return fail(ctx, npath, "expected a string, got %s", json_kind(n));
            name = json_string_value(n);
        } else if (json_is_string(e)) {
            name = json_string_value(e);
        } else {
            return fail(ctx, path, "expected a container name (a string) or an object, got %s",
                        json_kind(e));
        }
        if (!is_simple_name(name))
            return fail(ctx, path,
                        "container name \"%s\" must be letters, digits, '_', '-' or '.'", name);
        for (guint k = 0; k < s->containers->len; k++)
            if (strcmp(g_ptr_array_index(s->containers, k), name) == 0)
                return fail(ctx, path, "container \"%s\" is named twice", name);
        g_ptr_array_add(s->containers, g_strdup(name));
    }
    return TRUE;
}

static gint
container_index(const CamasScenario *s, const char *name)
{
    for (guint k = 0; k < s->containers->len; k++)
        if (strcmp(g_ptr_array_index(s->containers, k), name) == 0)
            return (gint)k;
    return -1;
}

static ScenarioGroup *
find_group(const CamasScenario *s, const char *name)
{
    for (guint i = 0; i < s->groups->len; i++) {
        ScenarioGroup *g = g_ptr_array_index(s->groups, i);
        if (strcmp(g->name, name) == 0)
            return g;
    }
    return NULL;
}

static char *
group_names(const CamasScenario *s)
{
    g_autoptr(GString) out = g_string_new(NULL);
    for (guint i = 0; i < s->groups->len; i++)
        g_string_append_printf(out, "%s%s", i ? ", " : "",
                               ((ScenarioGroup *)g_ptr_array_index(s->groups, i))->name);
    return g_string_free(g_steal_pointer(&out), FALSE);
}

/* An agent reference: "@group", "@group+N", "@group-N" (@paired) or "@group[N]".  @group_out,
 * @index_out (-1 = paired) and @offset_out. */
static gboolean
parse_ref(Ctx *ctx, const CamasScenario *s, const char *path, const char *text,
          gboolean allow_offset, ScenarioGroup **group_out, gint64 *index_out,
          gint64 *offset_out)
{
    if (text[0] != '@')
        return fail(ctx, path,
                    "expected an agent reference \"@group\", \"@group+N\" or \"@group[N]\", "
                    "got \"%s\"",
                    text);
    const char *p = text + 1;
    const char *end = p;
    while (*end && *end != '+' && *end != '-' && *end != '[')
        end++;
    /* group names may contain '-': prefer the longest name that is a group */
    g_autofree char *name = g_strndup(p, (gsize)(end - p));
    ScenarioGroup *g = find_group(s, name);
    while (!g && *end == '-') {
        const char *next = end + 1;
        while (*next && *next != '+' && *next != '-' && *next != '[')
            next++;
        g_free(name);
        name = g_strndup(p, (gsize)(next - p));
        end = next;
        g = find_group(s, name);
    }
    if (!g) {
        /* report the plain name part */
        const char *q = p;
        while (*q && *q != '+' && *q != '[')
            q++;
        g_autofree char *plain = g_strndup(p, (gsize)(q - p));
        g_autofree char *known = group_names(s);
        return fail(ctx, path, "no agent group named \"%s\" (groups: %s)", plain, known);
    }
    *group_out = g;
    *index_out = -1;
    *offset_out = 0;
    if (*end == '\0')
        return TRUE;
    char *stop = NULL;
    if (*end == '[') {
        errno = 0;
        gint64 idx = g_ascii_strtoll(end + 1, &stop, 10);
        if (errno || stop == end + 1 || *stop != ']' || stop[1] != '\0' || idx < 0)
            return fail(ctx, path, "bad agent index in \"%s\" (expected \"@%s[N]\")", text,
                        g->name);
        if (idx >= g->count)
            return fail(ctx, path, "\"%s\": group %s has %u agent%s (indices 0 to %u)", text,
                        g->name, g->count, g->count == 1 ? "" : "s", g->count - 1);
        *index_out = idx;
        return TRUE;
    }
    if (!allow_offset)
        return fail(ctx, path,
                    "\"%s\": an offset makes no sense in a list of agents (use \"@%s\" or "
                    "\"@%s[N]\")",
                    text, g->name, g->name);
    errno = 0;
    gint64 off = g_ascii_strtoll(end, &stop, 10);
    if (errno || stop == end + 1 || *stop != '\0')
        return fail(ctx, path, "bad offset in \"%s\" (expected \"@%s+N\")", text, g->name);
    /* only N mod count matters; reduced here so that agent index + offset cannot overflow */
    *offset_out = off % (gint64)g->count;
    return TRUE;
}

/* A value of @spec's kind from @j, bound into @b. */
static gboolean
bind_param(Ctx *ctx, CamasScenario *s, const ScenarioGroup *group, const CamasParamSpec *spec,
           json_t *j, const char *path, ParamBinding *b)
{
    const char *want = NULL;
    switch (spec->kind) {
    case CAMAS_PARAM_INT:
    case CAMAS_PARAM_FLOAT:
    case CAMAS_PARAM_DURATION:
    case CAMAS_PARAM_STR:
    case CAMAS_PARAM_BOOL:
    case CAMAS_PARAM_VALUE: {
        /* the same check and words as every other entry point (agents/params.c) */
        g_autoptr(CamasValue) given = camas__scenario_json_to_value(j);
        g_autoptr(GError) e = NULL;
        b->value = camas__param_convert(group->type->klass->name, spec, given, &e);
        if (!b->value)
            return fail(ctx, path, "%s", e->message);
        break;
    }
    case CAMAS_PARAM_AGENT: {
        if (!json_is_string(j)) {
            want = "an agent reference (\"@group\")";
            break;
        }
        ScenarioGroup *g;
        gint64 idx, off;
        if (!parse_ref(ctx, s, path, json_string_value(j), TRUE, &g, &idx, &off))
            return FALSE;
        if (idx >= 0) {
            b->value = camas_value_new_str(g->urls[idx]);
        } else {
            b->mode = PARAM_PAIRED;
            b->group = g;
            b->offset = off;
            return TRUE;
        }
        break;
    }
    case CAMAS_PARAM_AGENTS: {
        if (json_is_string(j)) {
            ScenarioGroup *g;
            gint64 idx, off;
            if (!parse_ref(ctx, s, path, json_string_value(j), FALSE, &g, &idx, &off))
                return FALSE;
            if (idx >= 0) {
                CamasValue *one = camas_value_new_str(g->urls[idx]);
                b->value = camas_value_new_list_take(&one, 1);
            } else {
                b->value = camas_value_ref(camas__scenario_group_urls(g));
            }
            break;
        }
        if (!json_is_array(j)) {
            want = "an agent reference (\"@group\") or an array of them";
            break;
        }
        g_autoptr(GPtrArray) urls = g_ptr_array_new_with_free_func(
            (GDestroyNotify)camas_value_unref);
        for (gsize i = 0; i < json_array_size(j); i++) {
            g_autofree char *ipath = path_index(path, i);
            json_t *e = json_array_get(j, i);
            if (!json_is_string(e))
                return fail(ctx, ipath, "expected an agent reference (\"@group\"), got %s",
                            json_kind(e));
            ScenarioGroup *g;
            gint64 idx, off;
            if (!parse_ref(ctx, s, ipath, json_string_value(e), FALSE, &g, &idx, &off))
                return FALSE;
            for (guint k = 0; k < g->count; k++)
                if (idx < 0 || (gint64)k == idx)
                    g_ptr_array_add(urls, camas_value_new_str(g->urls[k]));
        }
        b->value = camas_value_new_list((CamasValue *const *)urls->pdata, urls->len);
        break;
    }
    }
    if (want)
        return fail(ctx, path, "%s parameter \"%s\" (%s) expects %s, got %s",
                    group->type->klass->name, spec->name, camas_param_kind_name(spec->kind),
                    want, json_kind(j));
    b->mode = PARAM_FIXED;
    return TRUE;
}

static gboolean
parse_group_params(Ctx *ctx, CamasScenario *s, ScenarioGroup *g, json_t *params,
                   const char *gpath)
{
    const CamasScenarioType *type = g->type;
    const char *tname = type->klass->name;
    guint n = camas__params_count(type->params);
    g->n_params = n;
    g->params = g_new0(ParamBinding, n ? n : 1);
    g_autofree char *ppath = path_key(gpath, "params");
    if (params) {
        if (!json_is_object(params))
            return fail(ctx, ppath, "expected an object, got %s", json_kind(params));
        const char *key;
        json_t *v;
        json_object_foreach(params, key, v)
        {
            gboolean known = FALSE;
            for (guint i = 0; i < n; i++)
                known |= strcmp(type->params[i].name, key) == 0;
            if (known)
                continue;
            g_autofree char *where = path_key(ppath, key);
            g_autofree char *msg = camas__param_unknown_message(tname, type->params, key);
            return fail(ctx, where, "%s", msg);
        }
    }
    for (guint i = 0; i < n; i++) {
        const CamasParamSpec *spec = &type->params[i];
        json_t *v = params ? json_object_get(params, spec->name) : NULL;
        if (v) {
            g_autofree char *where = path_key(ppath, spec->name);
            if (!bind_param(ctx, s, g, spec, v, where, &g->params[i]))
                return FALSE;
        } else if (spec->required) {
            g_autofree char *msg = camas__param_missing_message(tname, spec);
            return fail(ctx, gpath, "%s", msg);
        } else if (spec->default_json) {
            /* checked when the type was registered */
            g->params[i].value = camas__scenario_param_default(spec, NULL);
            g->params[i].mode = PARAM_FIXED;
        }
    }
    /* Positional parameters are passed in order: one left out cannot be followed by one
     * given. */
    for (int target = CAMAS_PARAM_INIT_ARG; target <= CAMAS_PARAM_START_ARG; target++) {
        const char *missing = NULL;
        for (guint i = 0; i < n; i++) {
            if ((int)type->params[i].target != target)
                continue;
            if (g->params[i].mode == PARAM_ABSENT)
                missing = type->params[i].name;
            else if (missing) {
                g_autofree char *msg =
                    camas__param_order_message(tname, type->params[i].name, missing);
                return fail(ctx, ppath, "%s", msg);
            }
        }
    }
    return TRUE;
}

static gboolean
parse_agents(Ctx *ctx, CamasScenario *s, json_t *j)
{
    if (!json_is_array(j) || json_array_size(j) == 0)
        return fail(ctx, "$.agents", "expected a non-empty array of agent groups, got %s",
                    json_is_array(j) ? "an empty array" : json_kind(j));
    static const char *const keys[] = {"name", "type", "container", "count", "params", NULL};
    guint *next_aid = g_new0(guint, s->containers->len);
    gboolean ok = TRUE;
    /* Pass 1: names, types, containers, counts and URLs, so that references in pass 2 may
     * point anywhere, forwards included. */
    for (gsize i = 0; ok && i < json_array_size(j); i++) {
        g_autofree char *path = path_index("$.agents", i);
        json_t *e = json_array_get(j, i);
        if (!get_object(ctx, e, path, &ok) || !check_keys(ctx, e, path, keys)) {
            ok = FALSE;
            break;
        }
        json_t *type = json_object_get(e, "type");
        g_autofree char *tpath = path_key(path, "type");
        if (!type) {
            ok = fail(ctx, path, "an agent group needs a \"type\"");
            break;
        }
        if (!json_is_string(type)) {
            ok = fail(ctx, tpath, "expected an agent type name (a string), got %s",
                      json_kind(type));
            break;
        }
        g_autoptr(GError) lookup_error = NULL;
        const CamasScenarioType *st =
            camas_scenario_type_lookup(json_string_value(type), &lookup_error);
        if (!st) {
            g_set_error(ctx->error, CAMAS_ERROR, CAMAS_ERROR_LOOKUP, "%s: %s: %s", ctx->origin,
                        tpath, lookup_error->message);
            ok = FALSE;
            break;
        }
        ScenarioGroup *g = g_new0(ScenarioGroup, 1);
        g->type = st;
        g_ptr_array_add(s->groups, g);

        json_t *name = json_object_get(e, "name");
        g_autofree char *npath = path_key(path, "name");
        if (name && !json_is_string(name)) {
            ok = fail(ctx, npath, "expected a group name (a string), got %s", json_kind(name));
            break;
        }
        const char *gname = name ? json_string_value(name) : st->klass->name;
        if (!is_simple_name(gname)) {
            ok = fail(ctx, name ? npath : path,
                      "group name \"%s\" must be letters, digits, '_', '-' or '.'", gname);
            break;
        }
        for (guint k = 0; k + 1 < s->groups->len; k++)
            if (strcmp(((ScenarioGroup *)g_ptr_array_index(s->groups, k))->name, gname) == 0) {
                ok = fail(ctx, name ? npath : path,
                          "the group name \"%s\" is already used by $.agents[%u]%s", gname, k,
                          name ? "" : " (give this group a \"name\")");
                break;
            }
        if (!ok)
            break;
        g->name = g_strdup(gname);

        json_t *count = json_object_get(e, "count");
        g_autofree char *cpath = path_key(path, "count");
        g->count = 1;
        if (count) {
            if (!json_is_integer(count)) {
                ok = fail(ctx, cpath, "expected an integer, got %s", json_kind(count));
                break;
            }
            json_int_t c = json_integer_value(count);
            if (c < 1 || c > 100000000) {
                ok = fail(ctx, cpath, "must be between 1 and 100000000, got %" JSON_INTEGER_FORMAT,
                          c);
                break;
            }
            g->count = (guint)c;
        }

        json_t *cont = json_object_get(e, "container");
        g_autofree char *kpath = path_key(path, "container");
        if (!cont) {
            g->n_containers = 1;
            g->containers = g_new0(guint, 1);
        } else if (json_is_string(cont) || json_is_array(cont)) {
            gsize nc = json_is_string(cont) ? 1 : json_array_size(cont);
            if (nc == 0) {
                ok = fail(ctx, kpath, "expected a container name or a non-empty array of them");
                break;
            }
            g->n_containers = (guint)nc;
            g->containers = g_new0(guint, nc);
            for (gsize k = 0; ok && k < nc; k++) {
                json_t *c = json_is_string(cont) ? cont : json_array_get(cont, k);
                g_autofree char *ipath = json_is_string(cont) ? g_strdup(kpath)
                                                              : path_index(kpath, k);
                if (!json_is_string(c)) {
                    ok = fail(ctx, ipath, "expected a container name, got %s", json_kind(c));
                    break;
                }
                gint idx = container_index(s, json_string_value(c));
                if (idx < 0) {
                    g_autofree char *known =
                        join_names((const char *const *)s->containers->pdata, s->containers->len);
                    ok = fail(ctx, ipath, "no container named \"%s\" (containers: %s)",
                              json_string_value(c), known);
                    break;
                }
                g->containers[k] = (guint)idx;
            }
            if (!ok)
                break;
        } else {
            ok = fail(ctx, kpath, "expected a container name or an array of them, got %s",
                      json_kind(cont));
            break;
        }
        /* Agent ids are a counter per container and spawning follows the file, so every URL
         * is known now. */
        g->urls = g_new0(char *, g->count);
        for (guint a = 0; a < g->count; a++) {
            guint c = g->containers[a % g->n_containers];
            g->urls[a] = g_strdup_printf("local://%s/%u",
                                         (const char *)g_ptr_array_index(s->containers, c),
                                         next_aid[c]++);
        }
        s->n_agents += g->count;
    }
    g_free(next_aid);
    /* Pass 2: parameters. */
    for (gsize i = 0; ok && i < json_array_size(j); i++) {
        g_autofree char *path = path_index("$.agents", i);
        ScenarioGroup *g = g_ptr_array_index(s->groups, i);
        ok = parse_group_params(ctx, s, g, json_object_get(json_array_get(j, i), "params"), path);
    }
    return ok;
}

/* --- links --------------------------------------------------------------------------------- */

/* One parameter of a latency distribution: a number of seconds >= 0 (> 0 when @positive). */
static gboolean
dist_param(Ctx *ctx, json_t *obj, const char *path, const char *dist, const char *key,
           gboolean positive, double *out, gint64 *ticks)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return fail(ctx, path, "a %s distribution needs \"%s\" (seconds)", dist, key);
    g_autofree char *p = path_key(path, key);
    gint64 t;
    if (!get_seconds(ctx, v, p, positive, ticks ? ticks : &t))
        return FALSE;
    *out = json_number_value(v);
    return TRUE;
}

/* "latency": a number of seconds (constant), or {"dist": NAME, parameters...}. */
static gboolean
parse_latency(Ctx *ctx, json_t *j, const char *path, LinkLatency *out)
{
    if (json_is_number(j)) {
        out->dist = LINK_CONSTANT;
        return get_seconds(ctx, j, path, FALSE, &out->ticks);
    }
    if (!json_is_object(j))
        return fail(ctx, path,
                    "expected a number of seconds or a distribution ({\"dist\": \"uniform\", "
                    "\"low\": ..., \"high\": ...}), got %s",
                    json_kind(j));
    static const char *const names[] = {"constant", "uniform", "exponential", "normal", NULL};
    static const char *const keys[][4] = {{"dist", "value", NULL},
                                          {"dist", "low", "high", NULL},
                                          {"dist", "mean", NULL},
                                          {"dist", "mean", "stddev", NULL}};
    json_t *d = json_object_get(j, "dist");
    g_autofree char *dpath = path_key(path, "dist");
    if (!d)
        return fail(ctx, path, "a distribution needs \"dist\" (one of constant, uniform, "
                               "exponential, normal)");
    if (!json_is_string(d))
        return fail(ctx, dpath, "expected a distribution name (a string), got %s", json_kind(d));
    const char *name = json_string_value(d);
    gsize k = 0;
    while (names[k] && strcmp(names[k], name) != 0)
        k++;
    if (!names[k]) {
        g_autofree char *hint = camas__suggestion(name, names, G_N_ELEMENTS(names) - 1);
        return fail(ctx, dpath,
                    "unknown distribution \"%s\"%s; known: constant, uniform, exponential, "
                    "normal",
                    name, hint);
    }
    if (!check_keys(ctx, j, path, keys[k]))
        return FALSE;
    out->dist = (LinkDist)k;
    switch (out->dist) {
    case LINK_CONSTANT:
        return dist_param(ctx, j, path, name, "value", FALSE, &out->a, &out->ticks);
    case LINK_UNIFORM:
        if (!dist_param(ctx, j, path, name, "low", FALSE, &out->a, NULL) ||
            !dist_param(ctx, j, path, name, "high", FALSE, &out->b, NULL))
            return FALSE;
        if (out->b < out->a) {
            char lo[G_ASCII_DTOSTR_BUF_SIZE], hi[G_ASCII_DTOSTR_BUF_SIZE];
            g_autofree char *hpath = path_key(path, "high");
            return fail(ctx, hpath, "must not be below \"low\" (%s), got %s",
                        num_text(lo, out->a), num_text(hi, out->b));
        }
        return TRUE;
    case LINK_EXPONENTIAL:
        return dist_param(ctx, j, path, name, "mean", TRUE, &out->a, NULL);
    case LINK_NORMAL:
        return dist_param(ctx, j, path, name, "mean", FALSE, &out->a, NULL) &&
               dist_param(ctx, j, path, name, "stddev", FALSE, &out->b, NULL);
    }
    g_assert_not_reached();
}

/* "from" / "to" of a link: a container's index, or -1 for "*". */
static gboolean
link_end(Ctx *ctx, const CamasScenario *s, json_t *rule, const char *path, const char *key,
         gint *out)
{
    json_t *v = json_object_get(rule, key);
    g_autofree char *p = path_key(path, key);
    if (!v)
        return fail(ctx, path, "a link needs \"%s\" (a container name or \"*\")", key);
    if (!json_is_string(v))
        return fail(ctx, p, "expected a container name or \"*\", got %s", json_kind(v));
    const char *name = json_string_value(v);
    if (strcmp(name, "*") == 0) {
        *out = -1;
        return TRUE;
    }
    *out = container_index(s, name);
    if (*out < 0) {
        const char *const *names = (const char *const *)s->containers->pdata;
        g_autofree char *hint = camas__suggestion(name, names, s->containers->len);
        g_autofree char *known = join_names(names, s->containers->len);
        return fail(ctx, p, "no container named \"%s\"%s (containers: %s, or \"*\" for any)",
                    name, hint, known);
    }
    return TRUE;
}

/* A direction a rule applies to: (from, to), -1 = any. */
typedef struct {
    gint from, to;
    guint rule;
} LinkPattern;

static const char *
end_name(const CamasScenario *s, gint end)
{
    return end < 0 ? "*" : g_ptr_array_index(s->containers, end);
}

/* Every pair of containers must have one best rule: no direction given twice, and no pair for
 * which "a to *" and "* to b" of different rules tie (the file must say which applies). */
static gboolean
check_link_patterns(Ctx *ctx, const CamasScenario *s)
{
    g_autoptr(GArray) pats = g_array_new(FALSE, FALSE, sizeof(LinkPattern));
    for (guint i = 0; i < s->links->len; i++) {
        const LinkRule *r = g_ptr_array_index(s->links, i);
        LinkPattern p = {r->from, r->to, i};
        g_array_append_val(pats, p);
        if (r->symmetric && r->from != r->to) {
            LinkPattern q = {r->to, r->from, i};
            g_array_append_val(pats, q);
        }
    }
    for (guint j = 0; j < pats->len; j++) {
        const LinkPattern *q = &g_array_index(pats, LinkPattern, j);
        const LinkRule *rq = g_ptr_array_index(s->links, q->rule);
        for (guint i = 0; i < j; i++) {
            const LinkPattern *p = &g_array_index(pats, LinkPattern, i);
            if (p->rule == q->rule)
                continue;
            const LinkRule *rp = g_ptr_array_index(s->links, p->rule);
            if (p->from == q->from && p->to == q->to)
                return fail(ctx, rq->where, "the link from %s to %s is already given by %s",
                            end_name(s, q->from), end_name(s, q->to), rp->where);
            /* a "x to *" and a "* to y" (either order) tie for x to y */
            const LinkPattern *fx = p->from >= 0 && p->to < 0 ? p : q;
            const LinkPattern *ty = fx == p ? q : p;
            if (!(fx->from >= 0 && fx->to < 0 && ty->from < 0 && ty->to >= 0))
                continue;
            gboolean settled = FALSE;
            for (guint k = 0; k < pats->len && !settled; k++) {
                const LinkPattern *e = &g_array_index(pats, LinkPattern, k);
                settled = e->from == fx->from && e->to == ty->to;
            }
            if (!settled)
                return fail(ctx, rq->where,
                            "from %s to %s, both this link and %s apply (neither names both "
                            "containers); add a link from %s to %s",
                            end_name(s, fx->from), end_name(s, ty->to), rp->where,
                            end_name(s, fx->from), end_name(s, ty->to));
        }
    }
    return TRUE;
}

static gboolean
parse_links(Ctx *ctx, CamasScenario *s, json_t *j)
{
    if (!json_is_array(j))
        return fail(ctx, "$.links", "expected an array of links, got %s", json_kind(j));
    static const char *const keys[] = {"from", "to", "latency", "symmetric", NULL};
    for (gsize i = 0; i < json_array_size(j); i++) {
        g_autofree char *path = path_index("$.links", i);
        json_t *e = json_array_get(j, i);
        gboolean ok = TRUE;
        if (!get_object(ctx, e, path, &ok) || !check_keys(ctx, e, path, keys))
            return FALSE;
        LinkRule *r = g_new0(LinkRule, 1);
        r->where = g_strdup(path);
        r->symmetric = TRUE;
        g_ptr_array_add(s->links, r);
        if (!link_end(ctx, s, e, path, "from", &r->from) ||
            !link_end(ctx, s, e, path, "to", &r->to))
            return FALSE;
        json_t *sym = json_object_get(e, "symmetric");
        if (sym) {
            if (!json_is_boolean(sym)) {
                g_autofree char *p = path_key(path, "symmetric");
                return fail(ctx, p, "expected true or false, got %s", json_kind(sym));
            }
            r->symmetric = json_is_true(sym);
        }
        json_t *lat = json_object_get(e, "latency");
        g_autofree char *lpath = path_key(path, "latency");
        if (!lat)
            return fail(ctx, path, "a link needs a \"latency\" (seconds, or a distribution)");
        if (!parse_latency(ctx, lat, lpath, &r->latency))
            return FALSE;
    }
    return check_link_patterns(ctx, s);
}

static gboolean
parse_count_check(Ctx *ctx, json_t *j, const char *path, CountCheck *c)
{
    c->set = TRUE;
    if (json_is_integer(j)) {
        if (json_integer_value(j) < 0)
            return fail(ctx, path, "a count must not be negative");
        c->exact_set = TRUE;
        c->exact = (guint64)json_integer_value(j);
        return TRUE;
    }
    if (!json_is_object(j))
        return fail(ctx, path, "expected a count (an integer) or {\"min\": N, \"max\": N}, got %s",
                    json_kind(j));
    static const char *const keys[] = {"min", "max", NULL};
    if (!check_keys(ctx, j, path, keys))
        return FALSE;
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(j, keys[k]);
        if (!v)
            continue;
        g_autofree char *p = path_key(path, keys[k]);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return fail(ctx, p, "expected a non-negative integer, got %s", json_kind(v));
        if (k == 0) {
            c->min_set = TRUE;
            c->min = (guint64)json_integer_value(v);
        } else {
            c->max_set = TRUE;
            c->max = (guint64)json_integer_value(v);
        }
    }
    if (!c->min_set && !c->max_set)
        return fail(ctx, path, "give \"min\", \"max\" or both");
    return TRUE;
}

static gboolean
parse_states(Ctx *ctx, CamasScenario *s, json_t *j)
{
    const char *path = "$.expect.states";
    if (!json_is_array(j))
        return fail(ctx, path, "expected an array of state checks, got %s", json_kind(j));
    static const char *const keys[] = {"agent", "key", "equals", "min", "max", NULL};
    for (gsize i = 0; i < json_array_size(j); i++) {
        g_autofree char *p = path_index(path, i);
        json_t *e = json_array_get(j, i);
        gboolean ok = TRUE;
        if (!get_object(ctx, e, p, &ok) || !check_keys(ctx, e, p, keys))
            return FALSE;
        StateCheck *c = g_new0(StateCheck, 1);
        c->where = g_strdup(p);
        g_ptr_array_add(s->expect.states, c);
        json_t *agent = json_object_get(e, "agent");
        g_autofree char *apath = path_key(p, "agent");
        if (!agent)
            return fail(ctx, p, "a state check needs an \"agent\" (\"group\" or \"group[N]\")");
        if (!json_is_string(agent))
            return fail(ctx, apath, "expected \"group\" or \"group[N]\", got %s",
                        json_kind(agent));
        g_autofree char *ref = g_strdup_printf("@%s", json_string_value(agent));
        gint64 off;
        if (!parse_ref(ctx, s, apath, ref, FALSE, &c->group, &c->index, &off))
            return FALSE;
        json_t *key = json_object_get(e, "key");
        if (key) {
            g_autofree char *kpath = path_key(p, "key");
            if (!json_is_string(key))
                return fail(ctx, kpath, "expected a dotted key (a string), got %s",
                            json_kind(key));
            c->key = json_string_length(key) ? g_strsplit(json_string_value(key), ".", -1)
                                             : g_new0(char *, 1);
        } else {
            c->key = g_new0(char *, 1);
        }
        json_t *eq = json_object_get(e, "equals");
        if (eq)
            c->equals = camas__scenario_json_to_value(eq);
        const char *bounds[] = {"min", "max"};
        for (int k = 0; k < 2; k++) {
            json_t *v = json_object_get(e, bounds[k]);
            if (!v)
                continue;
            g_autofree char *bpath = path_key(p, bounds[k]);
            if (!json_is_number(v))
                return fail(ctx, bpath, "expected a number, got %s", json_kind(v));
            if (k == 0) {
                c->has_min = TRUE;
                c->min = json_number_value(v);
            } else {
                c->has_max = TRUE;
                c->max = json_number_value(v);
            }
        }
        if (!eq && !c->has_min && !c->has_max)
            return fail(ctx, p, "a state check needs \"equals\", \"min\" or \"max\"");
    }
    return TRUE;
}

static gboolean
parse_expect(Ctx *ctx, CamasScenario *s, json_t *j)
{
    const char *path = "$.expect";
    gboolean ok = TRUE;
    if (!get_object(ctx, j, path, &ok))
        return FALSE;
    static const char *const keys[] = {"fingerprint", "events", "messages", "delivered",
                                       "sim_time", "trace", "states", "reference_trace", NULL};
    if (!check_keys(ctx, j, path, keys))
        return FALSE;
    json_t *fp = json_object_get(j, "fingerprint");
    if (fp) {
        const char *t = json_is_string(fp) ? json_string_value(fp) : NULL;
        gboolean hex = t && strlen(t) == 64;
        for (const char *q = t; hex && *q; q++)
            hex = g_ascii_isxdigit(*q);
        if (!hex)
            return fail(ctx, "$.expect.fingerprint",
                        "expected 64 hexadecimal digits (a SHA-256), got %s",
                        t ? "another string" : json_kind(fp));
        s->expect.fingerprint = g_ascii_strdown(t, -1);
    }
    struct {
        const char *key;
        CountCheck *check;
    } counts[] = {{"events", &s->expect.events},
                  {"messages", &s->expect.messages},
                  {"delivered", &s->expect.delivered}};
    for (gsize k = 0; k < G_N_ELEMENTS(counts); k++) {
        json_t *v = json_object_get(j, counts[k].key);
        g_autofree char *p = path_key(path, counts[k].key);
        if (v && !parse_count_check(ctx, v, p, counts[k].check))
            return FALSE;
    }
    json_t *st = json_object_get(j, "sim_time");
    if (st) {
        if (!get_seconds(ctx, st, "$.expect.sim_time", FALSE, &s->expect.sim_time))
            return FALSE;
        s->expect.has_sim_time = TRUE;
    }
    json_t *trace = json_object_get(j, "trace");
    if (trace) {
        if (!get_object(ctx, trace, "$.expect.trace", &ok))
            return FALSE;
        const char *kinds[CAMAS_TRACE_SPAWN + 2];
        for (int k = 0; k <= CAMAS_TRACE_SPAWN; k++)
            kinds[k] = camas_trace_kind_name((CamasTraceKind)k);
        kinds[CAMAS_TRACE_SPAWN + 1] = NULL;
        if (!check_keys(ctx, trace, "$.expect.trace", kinds))
            return FALSE;
        for (int k = 0; k <= CAMAS_TRACE_SPAWN; k++) {
            json_t *v = json_object_get(trace, kinds[k]);
            g_autofree char *p = path_key("$.expect.trace", kinds[k]);
            if (v && !parse_count_check(ctx, v, p, &s->expect.kinds[k]))
                return FALSE;
        }
    }
    json_t *states = json_object_get(j, "states");
    if (states && !parse_states(ctx, s, states))
        return FALSE;
    json_t *ref = json_object_get(j, "reference_trace");
    if (ref) {
        if (!json_is_string(ref))
            return fail(ctx, "$.expect.reference_trace", "expected a path (a string), got %s",
                        json_kind(ref));
        s->expect.reference_trace = resolve_path(s, json_string_value(ref));
    }
    return TRUE;
}

/* --- the whole file ------------------------------------------------------------------------ */

static CamasScenario *
parse_root(Ctx *ctx, const char *origin, json_t *root)
{
    g_autoptr(CamasScenario) s = g_new0(CamasScenario, 1);
    s->origin = g_strdup(origin);
    s->dir = g_path_get_dirname(origin);
    s->containers = g_ptr_array_new_with_free_func(g_free);
    s->groups = g_ptr_array_new_with_free_func(group_free);
    s->links = g_ptr_array_new_with_free_func(link_rule_free);
    s->expect.states = g_ptr_array_new_with_free_func(state_check_free);
    s->until = G_MAXINT64;

    gboolean ok = TRUE;
    if (!get_object(ctx, root, "$", &ok))
        return NULL;
    static const char *const keys[] = {"version", "name",    "description", "seed",
                                       "start",   "until",   "codec",       "plugins",
                                       "containers", "agents", "links",     "expect", NULL};
    if (!check_keys(ctx, root, "$", keys))
        return NULL;

    json_t *v = json_object_get(root, "version");
    if (v && (!json_is_integer(v) || json_integer_value(v) != CAMAS_SCENARIO_VERSION)) {
        if (!json_is_integer(v))
            fail(ctx, "$.version", "expected an integer, got %s", json_kind(v));
        else
            fail(ctx, "$.version",
                 "version %" JSON_INTEGER_FORMAT " is not supported (this camas reads version %d)",
                 json_integer_value(v), CAMAS_SCENARIO_VERSION);
        return NULL;
    }

    v = json_object_get(root, "name");
    if (v && !json_is_string(v)) {
        fail(ctx, "$.name", "expected a string, got %s", json_kind(v));
        return NULL;
    }
    if (v) {
        s->name = g_strdup(json_string_value(v));
    } else {
        s->name = g_path_get_basename(origin);
        if (g_str_has_suffix(s->name, ".json"))
            s->name[strlen(s->name) - 5] = '\0';
    }
    v = json_object_get(root, "description");
    if (v && !json_is_string(v)) {
        fail(ctx, "$.description", "expected a string, got %s", json_kind(v));
        return NULL;
    }
    s->description = g_strdup(v ? json_string_value(v) : "");

    v = json_object_get(root, "seed");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            fail(ctx, "$.seed", "expected a non-negative integer, got %s",
                 json_is_integer(v) ? "a negative integer" : json_kind(v));
            return NULL;
        }
        s->seed = (guint64)json_integer_value(v);
    }

    v = json_object_get(root, "start");
    const char *start = CAMAS__SCENARIO_DEFAULT_START;
    if (v) {
        if (!json_is_string(v)) {
            fail(ctx, "$.start", "expected an ISO 8601 date (a string), got %s", json_kind(v));
            return NULL;
        }
        start = json_string_value(v);
    }
    g_autoptr(GError) date_error = NULL;
    if (!camas_date_parse(start, &s->start_date, NULL, &date_error)) {
        fail(ctx, "$.start", "%s", date_error->message);
        return NULL;
    }

    v = json_object_get(root, "until");
    if (v && !json_is_null(v) && !get_seconds(ctx, v, "$.until", TRUE, &s->until))
        return NULL;

    v = json_object_get(root, "codec");
    s->codec = g_strdup("json");
    if (v) {
        static const char *const codecs[] = {"json", "msgpack", "msgpack-blosc", NULL};
        if (!json_is_string(v) || !g_strv_contains(codecs, json_string_value(v))) {
            fail(ctx, "$.codec", "expected one of json, msgpack, msgpack-blosc, got %s",
                 json_is_string(v) ? json_string_value(v) : json_kind(v));
            return NULL;
        }
        g_free(s->codec);
        s->codec = g_strdup(json_string_value(v));
    }

    v = json_object_get(root, "plugins");
    if (v && !parse_plugins(ctx, s, v))
        return NULL;

    v = json_object_get(root, "containers");
    if (v) {
        if (!parse_containers(ctx, s, v))
            return NULL;
    } else {
        g_ptr_array_add(s->containers, g_strdup("main"));
    }

    v = json_object_get(root, "links");
    if (v && !parse_links(ctx, s, v))
        return NULL;

    v = json_object_get(root, "agents");
    if (!v) {
        fail(ctx, "$", "a scenario needs \"agents\" (an array of agent groups)");
        return NULL;
    }
    if (!parse_agents(ctx, s, v))
        return NULL;

    v = json_object_get(root, "expect");
    if (v && !parse_expect(ctx, s, v))
        return NULL;
    return g_steal_pointer(&s);
}

static CamasScenario *
load(json_t *root, const json_error_t *jerr, const char *origin, GError **error)
{
    if (!root) {
        /* jansson's position is 1-based; an empty or truncated file reports the end */
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s:%d:%d: %s", origin,
                    jerr->line > 0 ? jerr->line : 1, jerr->column > 0 ? jerr->column : 1,
                    jerr->text);
        return NULL;
    }
    Ctx ctx = {origin, error};
    CamasScenario *s = parse_root(&ctx, origin, root);
    json_decref(root);
    return s;
}

CamasScenario *
camas_scenario_load_file(const char *path, GError **error)
{
    g_return_val_if_fail(path != NULL, NULL);
    /* Read it ourselves: jansson's message for a missing file is less clear than errno's. */
    g_autofree char *data = NULL;
    gsize len = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
        g_autoptr(GString) buf = g_string_new(NULL);
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            g_string_append_len(buf, chunk, (gssize)n);
        int e = ferror(f) ? errno : 0;
        fclose(f);
        if (e) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s: cannot read: %s", path,
                        g_strerror(e));
            return NULL;
        }
        len = buf->len;
        data = g_string_free(g_steal_pointer(&buf), FALSE);
    } else {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s: cannot read: %s", path,
                    g_strerror(errno));
        return NULL;
    }
    return camas_scenario_load_data(data, len, path, error);
}

CamasScenario *
camas_scenario_load_data(const char *json, gsize len, const char *origin, GError **error)
{
    g_return_val_if_fail(json != NULL, NULL);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    return load(root, &jerr, origin ? origin : "<scenario>", error);
}

const char *
camas_scenario_get_name(const CamasScenario *scenario)
{
    g_return_val_if_fail(scenario != NULL, NULL);
    return scenario->name;
}

const char *
camas_scenario_get_origin(const CamasScenario *scenario)
{
    g_return_val_if_fail(scenario != NULL, NULL);
    return scenario->origin;
}

guint64
camas_scenario_get_seed(const CamasScenario *scenario)
{
    g_return_val_if_fail(scenario != NULL, 0);
    return scenario->seed;
}

gint64
camas_scenario_get_until(const CamasScenario *scenario)
{
    g_return_val_if_fail(scenario != NULL, 0);
    return scenario->until;
}

const char *
camas_scenario_get_expected_fingerprint(const CamasScenario *scenario)
{
    g_return_val_if_fail(scenario != NULL, NULL);
    return scenario->expect.fingerprint;
}

const char *
camas_scenario_get_reference_trace(const CamasScenario *scenario)
{
    g_return_val_if_fail(scenario != NULL, NULL);
    return scenario->expect.reference_trace;
}

guint
camas_scenario_get_n_groups(const CamasScenario *scenario)
{
    g_return_val_if_fail(scenario != NULL, 0);
    return scenario->groups->len;
}

const char *
camas_scenario_get_group_name(const CamasScenario *scenario, guint index)
{
    g_return_val_if_fail(scenario != NULL && index < scenario->groups->len, NULL);
    return ((ScenarioGroup *)g_ptr_array_index(scenario->groups, index))->name;
}

guint
camas_scenario_get_group_size(const CamasScenario *scenario, guint index)
{
    g_return_val_if_fail(scenario != NULL && index < scenario->groups->len, 0);
    return ((ScenarioGroup *)g_ptr_array_index(scenario->groups, index))->count;
}
