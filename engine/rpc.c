/* SPDX-License-Identifier: MIT */
/*
 * The RPC layer (aiomas.rpc; wire-protocol.md §7-§8), on top of the channel layer (channel.c):
 * service trees and path resolution with aiomas' failure texts, the request dispatcher
 * (callback-style and task-style methods), proxies, the codec serializer that turns services
 * into proxies on the other side, and RPC connections and servers.
 *
 * The dispatcher allocates nothing for a call to a callback-style method: the path is lent from
 * the decoded request, components are looked up in place (dict services copy a component to a
 * stack buffer for the hash lookup), and the method gets the request handle.  A proxy call
 * wraps [path, args, kwargs] in stack values, so only the frame is allocated (plus the path
 * when the proxy is not the root and the joined path does not fit a stack buffer).
 */
#include <string.h>

#include <camas/rpc.h>

#include "channel-private.h"
#include "codec-private.h"
#include "live-private.h"
#include "value-private.h"

#define TRACEBACK_HEAD "Traceback (most recent call last):\n  File \"camas/rpc.c\", line 1, in "

/* --- services ------------------------------------------------------------------------------ */

struct _CamasService {
    gint refcount;
    const CamasServiceClass *klass;
    gpointer instance;
    GDestroyNotify destroy;
    CamasService *parent; /* not owned; cleared when the parent lets go */
    char *name;           /* the name under the parent, NULL for a root */
    GHashTable *subs;     /* name -> CamasService (owned; the key is the sub's name); NULL
                           * until a sub goes there */
    gboolean is_dict;
    CamasService **numbered; /* dict services: numbered[k] is the sub named k in decimal (owned),
                              * or NULL; such a sub is never in `subs` too */
    gsize n_numbered;        /* the array's length */
    gsize n_numbered_live;   /* its non-NULL entries */
    CamasService **slots;    /* other services: slots[i] is the sub in klass->sub_services[i]
                              * (owned), or NULL; NULL until a sub is set */
};

/* A container names its agents 0, 1, 2, ... in its "agents" dict, and every call resolves
 * one of them: a dict service keeps such subs in an array by number instead of its hash table
 * (while the numbers are dense: below twice the number of subs plus some), so resolving one is
 * an index instead of hashing the name and probing the table's hash, key and value arrays and
 * the key string, each a cache miss with 100 000 agents; and adding or removing 100 000 agents
 * neither hashes nor copies their names, nor grows and shrinks a table step by step. */
#define NUMBERED_SLACK 64

static gsize n_slots(const CamasServiceClass *klass);

/* The number a canonical decimal name (no sign, no leading zero) stands for, or -1. */
static inline gssize
name_number(const char *name, gsize len)
{
    if (len == 0 || len > 9 || (name[0] == '0' && len > 1))
        return -1;
    gssize k = 0;
    for (gsize i = 0; i < len; i++) {
        if (name[i] < '0' || name[i] > '9')
            return -1;
        k = k * 10 + (name[i] - '0');
    }
    return k;
}

/* Makes the array hold slot @k (a name's number, or -1) if the numbers stay dense enough;
 * FALSE when the sub goes to the hash table instead. */
static gboolean
numbered_reserve(CamasService *dict, gssize k)
{
    if (k < 0)
        return FALSE;
    if ((gsize)k < dict->n_numbered)
        return TRUE;
    gsize n_subs = dict->n_numbered_live + (dict->subs ? g_hash_table_size(dict->subs) : 0);
    if ((gsize)k >= 2 * n_subs + NUMBERED_SLACK)
        return FALSE;
    gsize n = MAX(dict->n_numbered, NUMBERED_SLACK);
    while (n <= (gsize)k)
        n *= 2;
    dict->numbered = g_renew(CamasService *, dict->numbered, n);
    memset(dict->numbered + dict->n_numbered, 0, (n - dict->n_numbered) * sizeof(CamasService *));
    dict->n_numbered = n;
    return TRUE;
}

static const CamasRpcMethod no_methods[] = {{NULL}};

static const CamasServiceClass dict_class = {
    .name = "ServiceDict",
    .module = "aiomas.rpc",
    .methods = no_methods,
};

CamasService *
camas_service_new(const CamasServiceClass *klass, gpointer instance, GDestroyNotify destroy)
{
    g_return_val_if_fail(klass != NULL && klass->name != NULL, NULL);
    for (const CamasRpcMethod *m = klass->methods; m && m->name; m++)
        g_return_val_if_fail((m->func != NULL) != (m->task_func != NULL), NULL);
    CamasService *s = g_new0(CamasService, 1);
    s->refcount = 1;
    s->klass = klass;
    s->instance = instance;
    s->destroy = destroy;
    camas__live_inc(CAMAS__LIVE_SERVICE);
    return s;
}

CamasService *
camas_service_new_dict(void)
{
    CamasService *s = camas_service_new(&dict_class, NULL, NULL);
    s->is_dict = TRUE;
    return s;
}

CamasService *
camas_service_ref(CamasService *service)
{
    g_return_val_if_fail(service != NULL, NULL);
    service->refcount++;
    return service;
}

static void
detach_sub(gpointer data)
{
    CamasService *sub = data;
    sub->parent = NULL;
    g_clear_pointer(&sub->name, g_free);
    camas_service_unref(sub);
}

void
camas_service_unref(CamasService *service)
{
    if (!service)
        return;
    g_return_if_fail(service->refcount > 0);
    if (--service->refcount > 0)
        return;
    /* numbered subs go in number order, before the others (in the table's order) */
    for (gsize k = 0; k < service->n_numbered; k++)
        if (service->numbered[k])
            detach_sub(service->numbered[k]);
    g_free(service->numbered);
    if (service->slots) {
        for (gsize i = 0, n = n_slots(service->klass); i < n; i++)
            if (service->slots[i])
                detach_sub(service->slots[i]);
        g_free(service->slots);
    }
    if (service->subs)
        g_hash_table_unref(service->subs);
    if (service->destroy)
        service->destroy(service->instance);
    g_free(service->name);
    g_free(service);
    camas__live_dec(CAMAS__LIVE_SERVICE);
}

/* Whether @s is exactly the @len bytes at @name.  A peer's path may hold NUL bytes, so a
 * component can equal a shorter @s up to its NUL: never read @s past its end. */
static gboolean
name_equals(const char *s, const char *name, gsize len)
{
    return strnlen(s, len + 1) == len && memcmp(s, name, len) == 0;
}

/* The index of the sub-service slot named @name (@len bytes) in @klass, or -1.  A slot's sub
 * is found by this scan of the (few) declared names, not by hashing: every call to an agent
 * passes the container root's "agents" slot. */
static gssize
slot_index(const CamasServiceClass *klass, const char *name, gsize len)
{
    gssize i = 0;
    for (const char *const *s = klass->sub_services; s && *s; s++, i++)
        if (name_equals(*s, name, len))
            return i;
    return -1;
}

static gsize
n_slots(const CamasServiceClass *klass)
{
    gsize n = 0;
    while (klass->sub_services && klass->sub_services[n])
        n++;
    return n;
}

gboolean
camas_service_set_sub(CamasService *service, const char *name, CamasService *sub, GError **error)
{
    g_return_val_if_fail(service != NULL && name != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    gssize slot = service->is_dict ? -1 : slot_index(service->klass, name, strlen(name));
    if (service->is_dict ? strchr(name, '/') != NULL : slot < 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    service->is_dict ? "Service name \"%s\" contains '/'"
                                     : "\"%s\" is not a sub-service slot of %s",
                    name, service->klass->name);
        return FALSE;
    }
    if (sub) {
        if (sub->parent) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "Service %s already has a parent (it is \"%s\" there)",
                        sub->klass->name, sub->name);
            return FALSE;
        }
        for (CamasService *a = service; a; a = a->parent) {
            if (a == sub) {
                g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                            "Service %s cannot be its own descendant", sub->klass->name);
                return FALSE;
            }
        }
    }
    if (!service->is_dict) {
        if (!service->slots && !sub)
            return TRUE;
        if (!service->slots)
            service->slots = g_new0(CamasService *, n_slots(service->klass));
        CamasService *old = service->slots[slot];
        if (sub) {
            sub->parent = service;
            sub->name = g_strdup(name);
            service->slots[slot] = camas_service_ref(sub);
        } else {
            service->slots[slot] = NULL;
        }
        if (old)
            detach_sub(old);
        return TRUE;
    }
    gssize k = name_number(name, strlen(name));
    if (sub) {
        sub->parent = service;
        sub->name = g_strdup(name);
        camas_service_ref(sub);
        if (numbered_reserve(service, k)) {
            /* it may have gone to the table while the array was too small for it */
            if (service->subs && g_hash_table_size(service->subs) > 0)
                g_hash_table_remove(service->subs, name);
            CamasService *old = service->numbered[k];
            service->numbered[k] = sub;
            if (old)
                detach_sub(old);
            else
                service->n_numbered_live++;
        } else {
            /* the key is the sub's own copy of the name: the table keeps it while the entry
             * lasts, and detach_sub() frees it after the entry is gone */
            if (!service->subs)
                service->subs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, detach_sub);
            g_hash_table_replace(service->subs, sub->name, sub);
        }
    } else if (k >= 0 && (gsize)k < service->n_numbered && service->numbered[k]) {
        CamasService *old = service->numbered[k];
        service->numbered[k] = NULL;
        service->n_numbered_live--;
        detach_sub(old);
    } else if (service->subs) {
        g_hash_table_remove(service->subs, name);
    }
    return TRUE;
}

/* The sub named @name (@len bytes, not NUL-terminated), or NULL. */
static CamasService *
find_sub(const CamasService *s, const char *name, gsize len)
{
    if (!s->is_dict) {
        gssize i = s->slots ? slot_index(s->klass, name, len) : -1;
        return i >= 0 ? s->slots[i] : NULL;
    }
    if (s->numbered) {
        gssize k = name_number(name, len);
        if (k >= 0 && (gsize)k < s->n_numbered && s->numbered[k])
            return s->numbered[k];
    }
    /* a NUL would end the key early: "foo\0bar" must not find "foo" */
    if (!s->subs || memchr(name, '\0', len))
        return NULL;
    char buf[128];
    if (len < sizeof buf) {
        memcpy(buf, name, len);
        buf[len] = '\0';
        return g_hash_table_lookup(s->subs, buf);
    }
    g_autofree char *key = g_strndup(name, len);
    return g_hash_table_lookup(s->subs, key);
}

CamasService *
camas_service_get_sub(const CamasService *service, const char *name)
{
    g_return_val_if_fail(service != NULL && name != NULL, NULL);
    if (!service->is_dict)
        return find_sub(service, name, strlen(name));
    if (service->numbered) {
        gssize k = name_number(name, strlen(name));
        if (k >= 0 && (gsize)k < service->n_numbered && service->numbered[k])
            return service->numbered[k];
    }
    return service->subs ? g_hash_table_lookup(service->subs, name) : NULL;
}

CamasService *
camas_service_get_parent(const CamasService *service)
{
    g_return_val_if_fail(service != NULL, NULL);
    return service->parent;
}

static void
append_path(const CamasService *s, GString *out)
{
    if (!s->parent)
        return;
    append_path(s->parent, out);
    if (out->len > 0)
        g_string_append_c(out, '/');
    g_string_append(out, s->name);
}

char *
camas_service_dup_path(const CamasService *service)
{
    g_return_val_if_fail(service != NULL, NULL);
    GString *out = g_string_new(NULL);
    append_path(service, out);
    return g_string_free(out, FALSE);
}

gpointer
camas_service_get_instance(const CamasService *service)
{
    g_return_val_if_fail(service != NULL, NULL);
    return service->instance;
}

const char *
camas_service_get_class_name(const CamasService *service)
{
    g_return_val_if_fail(service != NULL, NULL);
    return service->klass->name;
}

static gpointer
service_object_ref(gpointer instance)
{
    return camas_service_ref(instance);
}

static void
service_object_unref(gpointer instance)
{
    camas_service_unref(instance);
}

static void
service_object_repr(gconstpointer instance, GString *out)
{
    const CamasService *s = instance;
    g_autofree char *path = camas_service_dup_path(s);
    g_string_append_printf(out, "<Service %s '%s'>", s->klass->name, path);
}

static const CamasObjectType service_type = {
    .name = "Service",
    .ref = service_object_ref,
    .unref = service_object_unref,
    .repr = service_object_repr,
};

CamasValue *
camas_service_to_value(CamasService *service)
{
    g_return_val_if_fail(service != NULL, NULL);
    return camas_value_new_object(&service_type, service);
}

CamasService *
camas_value_get_service(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL, NULL);
    if (camas_value_get_type(value) != CAMAS_VALUE_OBJECT ||
        camas_value_object_get_type(value) != &service_type)
        return NULL;
    return camas_value_object_get_instance(value);
}

/* --- path resolution ------------------------------------------------------------------------ */

static const CamasRpcMethod *
find_method(const CamasServiceClass *klass, const char *name, gsize len)
{
    for (const CamasRpcMethod *m = klass->methods; m && m->name; m++)
        if (name_equals(m->name, name, len))
            return m;
    return NULL;
}

static gboolean
find_hidden(const CamasServiceClass *klass, const char *name, gsize len)
{
    for (const char *const *h = klass->hidden; h && *h; h++)
        if (name_equals(*h, name, len))
            return TRUE;
    return FALSE;
}


/**
 * resolve:
 * Walks @path from @root.  Returns the method and its service, or NULL with *@text set to the
 * complete failure text (transfer full) to send.
 */
static const CamasRpcMethod *
resolve(CamasService *root, const char *path, gsize path_len, CamasService **owner, char **text)
{
    CamasService *s = root;
    const CamasRpcMethod *found = NULL; /* a method met before the last component */
    const char *p = path, *end = path + path_len;
    for (;;) {
        const char *slash = memchr(p, '/', (gsize)(end - p));
        const char *comp_end = slash ? slash : end;
        gsize len = (gsize)(comp_end - p);
        gsize prefix_len = p > path ? (gsize)(p - path) - 1 : 0;
        CamasService *sub = found ? NULL : find_sub(s, p, len);
        const CamasRpcMethod *m = (found || sub) ? NULL : find_method(s->klass, p, len);
        if (!sub && !m) {
            if (!found && find_hidden(s->klass, p, len)) {
                *text = g_strdup_printf(
                    TRACEBACK_HEAD "%.*s\nKeyError: '%.*s'\n\nDuring handling of the above "
                    "exception, another exception occurred:\n\n" TRACEBACK_HEAD "%.*s\n"
                    "LookupError: \"%s.%s.%.*s\" is not exposed\n",
                    (int)path_len, path, (int)len, p, (int)path_len, path,
                    s->klass->module ? s->klass->module : "camas", s->klass->name, (int)len, p);
            } else {
                *text = g_strdup_printf(TRACEBACK_HEAD "%.*s\nLookupError: Name \"%.*s\" not "
                                                      "found in \"%.*s\"\n",
                                        (int)path_len, path, (int)len, p, (int)prefix_len,
                                        path);
            }
            return NULL;
        }
        if (!slash) {
            if (m) {
                *owner = s;
                return m;
            }
            *text = g_strdup_printf(TRACEBACK_HEAD "%.*s\nTypeError: '%s' object is not "
                                                  "callable\n",
                                    (int)path_len, path, sub->klass->name);
            return NULL;
        }
        if (sub)
            s = sub;
        else
            found = m; /* a method with more path after it: the next name is not found */
        p = slash + 1;
    }
}

/* --- binding arguments ---------------------------------------------------------------------- */

static void
append_name_list(GString *out, const char *const *names, const guint *idx, guint n)
{
    for (guint i = 0; i < n; i++) {
        if (i > 0)
            g_string_append(out, n == 2 ? " and " : (i == n - 1 ? ", and " : ", "));
        g_string_append_printf(out, "'%s'", names[idx[i]]);
    }
}

gboolean
camas_rpc_parse_args(const char *func_name, const CamasValue *args, const CamasValue *kwargs,
                     const char *const *names, guint n_required, CamasValue **out,
                     GError **error)
{
    g_return_val_if_fail(func_name != NULL && names != NULL && out != NULL, FALSE);
    g_return_val_if_fail(args == NULL || camas_value_is_sequence(args), FALSE);
    g_return_val_if_fail(kwargs == NULL || camas_value_get_type(kwargs) == CAMAS_VALUE_MAP,
                         FALSE);
    guint n_names = 0;
    while (names[n_names])
        n_names++;
    g_return_val_if_fail(n_required <= n_names, FALSE);

    gsize n_pos = args ? camas_value_get_length(args) : 0;
    if (n_pos > n_names) {
        if (n_required == n_names)
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE,
                        "%s() takes %u positional argument%s but %" G_GSIZE_FORMAT " %s given",
                        func_name, n_names, n_names == 1 ? "" : "s", n_pos,
                        n_pos == 1 ? "was" : "were");
        else
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE,
                        "%s() takes from %u to %u positional arguments but %" G_GSIZE_FORMAT
                        " %s given",
                        func_name, n_required, n_names, n_pos, n_pos == 1 ? "was" : "were");
        return FALSE;
    }
    gboolean *given = g_newa(gboolean, n_names + 1);
    memset(given, 0, sizeof(gboolean) * (n_names + 1));
    CamasValue **bound = g_newa(CamasValue *, n_names + 1);
    for (gsize i = 0; i < n_pos; i++) {
        bound[i] = camas_value_get_item(args, i);
        given[i] = TRUE;
    }
    gsize n_kw = kwargs ? camas_value_get_length(kwargs) : 0;
    for (gsize k = 0; k < n_kw; k++) {
        CamasValue *key = camas_value_map_get_key(kwargs, k);
        if (camas_value_get_type(key) != CAMAS_VALUE_STR) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE, "keywords must be strings");
            return FALSE;
        }
        const char *kname = camas_value_get_str(key, NULL);
        guint i = 0;
        while (i < n_names && strcmp(names[i], kname) != 0)
            i++;
        if (i == n_names) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE,
                        "%s() got an unexpected keyword argument '%s'", func_name, kname);
            return FALSE;
        }
        if (given[i]) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE,
                        "%s() got multiple values for argument '%s'", func_name, kname);
            return FALSE;
        }
        bound[i] = camas_value_map_get_value(kwargs, k);
        given[i] = TRUE;
    }
    guint *missing = g_newa(guint, n_names + 1);
    guint n_missing = 0;
    for (guint i = 0; i < n_required; i++)
        if (!given[i])
            missing[n_missing++] = i;
    if (n_missing > 0) {
        g_autoptr(GString) list = g_string_new(NULL);
        append_name_list(list, names, missing, n_missing);
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE,
                    "%s() missing %u required positional argument%s: %s", func_name, n_missing,
                    n_missing == 1 ? "" : "s", list->str);
        return FALSE;
    }
    for (guint i = 0; i < n_names; i++)
        if (given[i])
            out[i] = bound[i];
    return TRUE;
}

/* --- connections ---------------------------------------------------------------------------- */

struct _CamasRpcConnection {
    gint refcount;
    CamasChannel *channel;  /* owned */
    CamasService *service;  /* owned, nullable: what this side serves */
    CamasRpcResetFunc reset_func;
    gpointer reset_data;
    GDestroyNotify reset_destroy;
    CamasRpcServer *server; /* the server that accepted it (not owned), or NULL */
};

struct _CamasRpcServer {
    CamasChannelServer *channel_server;
    CamasService *service;
    CamasRpcConnectedFunc connected;
    gpointer user_data;
    GDestroyNotify destroy;
    GPtrArray *connections; /* owned, accept order */
};

/* One allocation with its path: a call reads the proxy and its path, and in a scenario of
 * 100 000 agents each of those is a cache miss of its own when they are apart. */
struct _CamasProxy {
    gint refcount;
    gsize path_len;                 /* strlen(path) */
    CamasRpcConnection *connection; /* owned */
    char path[];                    /* NUL-terminated */
};

static CamasProxy *proxy_new(CamasRpcConnection *connection, const char *path);

/* --- dispatching requests --------------------------------------------------------------------- */

typedef struct {
    const CamasRpcMethod *method;
    CamasService *service; /* a reference while the call runs */
    CamasRequest *request; /* until answered */
} TaskCall;

void
camas__rpc_run_task_method(const CamasRpcMethod *method, gpointer instance,
                           CamasRequest **request)
{
    CamasValue *content = camas_request_get_content(*request);
    GError *failure = NULL;
    CamasValue *result = method->task_func(instance, *request, camas_value_get_item(content, 1),
                                           camas_value_get_item(content, 2), &failure);
    CamasRequest *req = g_steal_pointer(request);
    if (failure) {
        if (result)
            camas_value_unref(result);
        camas_request_fail(req, failure);
        g_error_free(failure);
    } else {
        camas_request_reply_take(req, result);
    }
}

static CamasValue *
task_call_run(CamasTask *task, gpointer data, GError **error)
{
    TaskCall *tc = data;
    camas__rpc_run_task_method(tc->method, tc->service->instance, &tc->request);
    return NULL;
}

static void
task_call_free(gpointer data)
{
    TaskCall *tc = data;
    if (tc->request) /* the task was cancelled before it ran: never leave the caller waiting */
        camas_request_fail_text(tc->request, "asyncio.exceptions.CancelledError",
                                "the call was cancelled");
    camas_service_unref(tc->service);
    g_free(tc);
}

static const char *
type_name_of(const CamasValue *v)
{
    return camas_value_type_name(camas_value_get_type(v));
}

/* Readers of the value layout (value-private.h) for the per-call checks below: every RPC call
 * passes through them, and the public accessors' argument checks cost more than the reads. */
static inline gboolean
is_seq(const CamasValue *v)
{
    return v->type == CAMAS_VALUE_LIST || v->type == CAMAS_VALUE_TUPLE;
}

static void
rpc_request(CamasChannel *channel, CamasRequest *req, gpointer data)
{
    CamasRpcConnection *conn = data;
    CamasValue *content = camas_request_get_content(req);

    /* §4.3: aiomas never answers malformed calls; we answer them with a TypeError. */
    if (!is_seq(content) || content->u.seq.len != 3) {
        g_autofree char *msg = camas_value_is_sequence(content)
                                   ? g_strdup_printf("an array of %" G_GSIZE_FORMAT " items",
                                                     camas_value_get_length(content))
                                   : g_strdup(type_name_of(content));
        camas__request_set_rpc_path(req, "?");
        g_autofree char *text = g_strdup_printf(
            "RPC request must be a [path, args, kwargs] triple, got %s", msg);
        camas_request_fail_text(req, "TypeError", text);
        return;
    }
    CamasValue *pathv = content->u.seq.items[0];
    CamasValue *args = content->u.seq.items[1];
    CamasValue *kwargs = content->u.seq.items[2];
    if (pathv->type != CAMAS_VALUE_STR) {
        camas__request_set_rpc_path(req, "?");
        g_autofree char *text =
            g_strdup_printf("RPC path must be a str, got %s", type_name_of(pathv));
        camas_request_fail_text(req, "TypeError", text);
        return;
    }
    gsize path_len = pathv->u.str.len;
    const char *path = pathv->u.str.data;
    camas__request_set_rpc_path(req, path);
    if (!is_seq(args)) {
        g_autofree char *text =
            g_strdup_printf("RPC args must be a list, got %s", type_name_of(args));
        camas_request_fail_text(req, "TypeError", text);
        return;
    }
    if (kwargs->type != CAMAS_VALUE_MAP) {
        g_autofree char *text =
            g_strdup_printf("RPC kwargs must be a map, got %s", type_name_of(kwargs));
        camas_request_fail_text(req, "TypeError", text);
        return;
    }
    gsize n_kw = kwargs->u.map.len;
    for (gsize i = 0; i < n_kw; i++) {
        if (kwargs->u.map.entries[i].key->type != CAMAS_VALUE_STR) {
            camas_request_fail_text(req, "TypeError", "keywords must be strings");
            return;
        }
    }
    if (!conn->service) {
        camas_request_fail_text(req, "LookupError",
                                "No RPC service is served on this side of the connection");
        return;
    }

    CamasService *owner = NULL;
    char *text = NULL;
    const CamasRpcMethod *m = resolve(conn->service, path, path_len, &owner, &text);
    if (!m) {
        camas_request_fail_raw(req, text);
        g_free(text);
        return;
    }
    if (m->func) {
        m->func(owner->instance, req, args, kwargs);
        return;
    }
    TaskCall *tc = g_new(TaskCall, 1);
    tc->method = m;
    tc->service = camas_service_ref(owner);
    tc->request = req;
    CamasTaskOptions opts = {.name = m->name, .destroy = task_call_free};
    GError *error = NULL;
    CamasTask *task = camas_task_spawn(camas_channel_get_loop(channel), task_call_run, tc, &opts,
                                       &error);
    if (!task) {
        tc->request = NULL;
        task_call_free(tc);
        camas_request_fail(req, error);
        g_error_free(error);
        return;
    }
    camas_task_unref(task);
}

/* --- the codec serializer --------------------------------------------------------------------- */

static gpointer proxy_object_ref(gpointer instance);
static void proxy_object_unref(gpointer instance);
static gboolean proxy_object_equal(gconstpointer a, gconstpointer b);
static void proxy_object_repr(gconstpointer instance, GString *out);

static const CamasObjectType proxy_type = {
    .name = "Proxy",
    .ref = proxy_object_ref,
    .unref = proxy_object_unref,
    .equal = proxy_object_equal,
    .repr = proxy_object_repr,
};

static CamasRpcConnection *
current_connection(void)
{
    CamasChannel *ch = camas__channel_get_current();
    return ch ? camas__channel_get_rpc(ch) : NULL;
}

static CamasValue *
rpc_serialize(const CamasValue *object, gpointer user_data, GError **error)
{
    const CamasObjectType *type = camas_value_object_get_type(object);
    CamasRpcConnection *conn = current_connection();
    if (type == &service_type) {
        CamasService *service = camas_value_object_get_instance(object);
        if (!conn) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                        "Service %s can only be sent over an RPC connection",
                        service->klass->name);
            return NULL;
        }
        if (!conn->service) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                        "Cannot send service %s: this side serves no RPC service on the "
                        "connection",
                        service->klass->name);
            return NULL;
        }
        CamasService *root = service;
        while (root->parent)
            root = root->parent;
        if (root != conn->service) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                        "Cannot send service %s: it is not part of the service tree served on "
                        "this connection",
                        service->klass->name);
            return NULL;
        }
        g_autofree char *path = camas_service_dup_path(service);
        return camas_value_new_str(path);
    }
    if (type == &proxy_type) {
        CamasProxy *proxy = camas_value_object_get_instance(object);
        if (proxy->connection == conn)
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                        "Cannot send proxy '%s' back to its owner", proxy->path);
        else
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                        "Cannot send proxy '%s' of another connection", proxy->path);
        return NULL;
    }
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC, "No serializer found for type \"%s\"",
                type && type->name ? type->name : "object");
    return NULL;
}

static CamasValue *
rpc_deserialize(const CamasValue *data, gpointer user_data, GError **error)
{
    CamasRpcConnection *conn = current_connection();
    if (!conn) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "RPC proxies can only be received on an RPC connection");
        return NULL;
    }
    if (camas_value_get_type(data) != CAMAS_VALUE_STR) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC,
                    "RPC proxy path must be a str, got %s", type_name_of(data));
        return NULL;
    }
    CamasProxy *proxy = proxy_new(conn, camas_value_get_str(data, NULL));
    CamasValue *value = camas_value_new_object(&proxy_type, proxy);
    camas_proxy_unref(proxy);
    return value;
}

/* Registers the RPC serializer as @codec's catch-all, once. */
static gboolean
ensure_serializer(CamasCodec *codec, GError **error)
{
    for (guint i = 0; i < codec->serializers->len; i++) {
        CamasSerializer *s = &g_array_index(codec->serializers, CamasSerializer, i);
        if (s->type != NULL)
            continue;
        if (s->serialize == rpc_serialize)
            return TRUE;
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "The codec already has a catch-all serializer (type id %" G_GINT64_FORMAT
                    "); RPC needs it for its proxies",
                    s->type_id);
        return FALSE;
    }
    camas_codec_add_serializer(codec, NULL, rpc_serialize, rpc_deserialize, NULL, NULL);
    return TRUE;
}

/* --- connections ---------------------------------------------------------------------------- */

static void server_forget(CamasRpcServer *server, CamasRpcConnection *conn);

static void
rpc_channel_closed(CamasChannel *channel, const GError *error, gpointer data)
{
    CamasRpcConnection *conn = camas_rpc_connection_ref(data);
    if (conn->reset_func)
        conn->reset_func(conn, error, conn->reset_data);
    if (conn->server)
        server_forget(conn->server, conn);
    camas_rpc_connection_unref(conn);
}

/* Attaches a new RPC connection to a channel that has not started reading. */
static CamasRpcConnection *
connection_new(CamasChannel *channel, CamasService *service)
{
    CamasRpcConnection *conn = g_new0(CamasRpcConnection, 1);
    conn->refcount = 1;
    conn->channel = camas_channel_ref(channel);
    conn->service = service ? camas_service_ref(service) : NULL;
    camas__channel_set_rpc(channel, conn);
    camas_channel_set_request_func(channel, rpc_request, conn, NULL);
    camas_channel_set_closed_func(channel, rpc_channel_closed, conn, NULL);
    camas__live_inc(CAMAS__LIVE_RPC_CONNECTION);
    return conn;
}

CamasRpcConnection *
camas_rpc_connection_ref(CamasRpcConnection *connection)
{
    g_return_val_if_fail(connection != NULL, NULL);
    connection->refcount++;
    return connection;
}

void
camas_rpc_connection_unref(CamasRpcConnection *connection)
{
    if (!connection)
        return;
    g_return_if_fail(connection->refcount > 0);
    if (--connection->refcount > 0)
        return;
    CamasChannel *ch = connection->channel;
    camas_channel_set_request_func(ch, NULL, NULL, NULL);
    camas_channel_set_closed_func(ch, NULL, NULL, NULL);
    camas__channel_set_rpc(ch, NULL);
    camas_channel_close(ch);
    camas_channel_unref(ch);
    if (connection->reset_destroy)
        connection->reset_destroy(connection->reset_data);
    camas_service_unref(connection->service);
    g_free(connection);
    camas__live_dec(CAMAS__LIVE_RPC_CONNECTION);
}

void
camas_rpc_connection_close(CamasRpcConnection *connection)
{
    g_return_if_fail(connection != NULL);
    camas_channel_close(connection->channel);
}

gboolean
camas_rpc_connection_is_closed(const CamasRpcConnection *connection)
{
    g_return_val_if_fail(connection != NULL, TRUE);
    return camas_channel_is_closed(connection->channel);
}

CamasChannel *
camas_rpc_connection_get_channel(const CamasRpcConnection *connection)
{
    g_return_val_if_fail(connection != NULL, NULL);
    return connection->channel;
}

CamasService *
camas_rpc_connection_get_service(const CamasRpcConnection *connection)
{
    g_return_val_if_fail(connection != NULL, NULL);
    return connection->service;
}

CamasProxy *
camas_rpc_connection_get_remote(CamasRpcConnection *connection)
{
    g_return_val_if_fail(connection != NULL, NULL);
    return proxy_new(connection, "");
}

gboolean
camas_rpc_connection_is_writable(const CamasRpcConnection *connection)
{
    g_return_val_if_fail(connection != NULL, FALSE);
    return camas_channel_is_writable(connection->channel);
}

CamasFuture *
camas_rpc_connection_drain(CamasRpcConnection *connection)
{
    g_return_val_if_fail(connection != NULL, NULL);
    return camas_channel_drain(connection->channel);
}

gboolean
camas_rpc_connection_drain_await(CamasRpcConnection *connection, GError **error)
{
    g_return_val_if_fail(connection != NULL, FALSE);
    return camas_channel_drain_await(connection->channel, error);
}

void
camas_rpc_connection_set_reset_func(CamasRpcConnection *connection, CamasRpcResetFunc func,
                                    gpointer user_data, GDestroyNotify destroy)
{
    g_return_if_fail(connection != NULL);
    GDestroyNotify old_destroy = connection->reset_destroy;
    gpointer old_data = connection->reset_data;
    connection->reset_func = func;
    connection->reset_data = user_data;
    connection->reset_destroy = destroy;
    if (old_destroy)
        old_destroy(old_data);
}

CamasRpcConnection *
camas_rpc_request_get_connection(const CamasRequest *request)
{
    g_return_val_if_fail(request != NULL, NULL);
    return camas__channel_get_rpc(camas_request_get_channel(request));
}

static gpointer
connection_object_ref(gpointer instance)
{
    return camas_rpc_connection_ref(instance);
}

static void
connection_object_unref(gpointer instance)
{
    camas_rpc_connection_unref(instance);
}

static const CamasObjectType connection_type = {
    .name = "RpcConnection",
    .ref = connection_object_ref,
    .unref = connection_object_unref,
};

/* --- opening -------------------------------------------------------------------------------- */

typedef struct {
    CamasService *service;      /* what to serve (owned, nullable) */
    CamasRpcConnection *conn;   /* made by the setup hook (owned) */
    CamasFuture *outer;         /* the future camas_rpc_open() returned (owned) */
    CamasFuture *inner;         /* the channel open (owned) */
} RpcOpen;

static void
rpc_open_setup(CamasChannel *channel, gpointer data)
{
    RpcOpen *ro = data;
    ro->conn = connection_new(channel, ro->service);
}

static void
rpc_open_done(CamasFuture *inner, gpointer data)
{
    RpcOpen *ro = data;
    GError *error = NULL;
    g_autoptr(CamasChannel) ch = camas_channel_open_finish(inner, &error);
    if (!ch) {
        camas_future_set_error(ro->outer, error);
        return;
    }
    g_assert(ro->conn != NULL);
    camas_future_set_result(ro->outer, camas_value_new_object(&connection_type, ro->conn));
}

static void
rpc_open_free(gpointer data)
{
    RpcOpen *ro = data;
    camas_service_unref(ro->service);
    if (ro->conn)
        camas_rpc_connection_unref(ro->conn);
    camas_future_unref(ro->outer);
    camas_future_unref(ro->inner);
    g_free(ro);
}

static void
rpc_open_cancelled(CamasFuture *outer, gpointer data)
{
    CamasFuture *inner = data;
    camas_future_cancel(inner);
}

CamasFuture *
camas_rpc_open(CamasLoop *loop, const char *address, CamasCodec *codec, CamasService *service,
               const CamasChannelOptions *options, GError **error)
{
    g_return_val_if_fail(loop != NULL && address != NULL && codec != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!ensure_serializer(codec, error))
        return NULL;
    RpcOpen *ro = g_new0(RpcOpen, 1);
    ro->service = service ? camas_service_ref(service) : NULL;
    ro->inner = camas__channel_open_full(loop, address, codec, options, rpc_open_setup, ro, NULL,
                                         error);
    if (!ro->inner) {
        camas_service_unref(ro->service);
        g_free(ro);
        return NULL;
    }
    ro->outer = camas_future_new(loop);
    camas_future_set_cancel_func(ro->outer, rpc_open_cancelled, camas_future_ref(ro->inner),
                                 (GDestroyNotify)camas_future_unref);
    camas_future_add_callback(ro->inner, rpc_open_done, ro, rpc_open_free);
    return camas_future_ref(ro->outer);
}

CamasRpcConnection *
camas_rpc_open_finish(CamasFuture *future, GError **error)
{
    g_return_val_if_fail(future != NULL && camas_future_is_done(future), NULL);
    g_autoptr(CamasValue) value = NULL;
    if (!camas_future_propagate(future, &value, error))
        return NULL;
    g_return_val_if_fail(value != NULL && camas_value_get_type(value) == CAMAS_VALUE_OBJECT &&
                             camas_value_object_get_type(value) == &connection_type,
                         NULL);
    return camas_rpc_connection_ref(camas_value_object_get_instance(value));
}

CamasRpcConnection *
camas_rpc_open_await(CamasLoop *loop, const char *address, CamasCodec *codec,
                     CamasService *service, const CamasChannelOptions *options, GError **error)
{
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    g_autoptr(CamasFuture) future = camas_rpc_open(loop, address, codec, service, options, error);
    if (!future)
        return NULL;
    if (!camas_task_await(future, NULL, error))
        return NULL;
    return camas_rpc_open_finish(future, error);
}

/* --- servers -------------------------------------------------------------------------------- */

static void
rpc_server_connected(CamasChannelServer *channel_server, CamasChannel *channel, gpointer data)
{
    CamasRpcServer *server = data;
    CamasRpcConnection *conn = connection_new(channel, server->service);
    conn->server = server;
    g_ptr_array_add(server->connections, conn);
    if (server->connected)
        server->connected(server, conn, server->user_data);
}

static void
server_forget(CamasRpcServer *server, CamasRpcConnection *conn)
{
    conn->server = NULL;
    if (g_ptr_array_remove(server->connections, conn))
        camas_rpc_connection_unref(conn);
}

CamasRpcServer *
camas_rpc_server_new(CamasLoop *loop, const char *address, CamasCodec *codec,
                     CamasService *service, const CamasChannelOptions *options,
                     CamasRpcConnectedFunc connected, gpointer user_data, GDestroyNotify destroy,
                     GError **error)
{
    g_return_val_if_fail(loop != NULL && address != NULL && codec != NULL, NULL);
    g_return_val_if_fail(service != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    if (!ensure_serializer(codec, error))
        return NULL;
    CamasRpcServer *server = g_new0(CamasRpcServer, 1);
    server->channel_server = camas_channel_server_new(loop, address, codec, options,
                                                      rpc_server_connected, server, NULL, error);
    if (!server->channel_server) {
        g_free(server);
        return NULL;
    }
    server->service = camas_service_ref(service);
    server->connected = connected;
    server->user_data = user_data;
    server->destroy = destroy;
    server->connections = g_ptr_array_new();
    camas__live_inc(CAMAS__LIVE_RPC_SERVER);
    return server;
}

const char *
camas_rpc_server_get_address(const CamasRpcServer *server)
{
    g_return_val_if_fail(server != NULL, NULL);
    return camas_channel_server_get_address(server->channel_server);
}

guint
camas_rpc_server_get_n_connections(const CamasRpcServer *server)
{
    g_return_val_if_fail(server != NULL, 0);
    return server->connections->len;
}

CamasRpcConnection *
camas_rpc_server_get_connection(const CamasRpcServer *server, guint index)
{
    g_return_val_if_fail(server != NULL && index < server->connections->len, NULL);
    return g_ptr_array_index(server->connections, index);
}

void
camas_rpc_server_close(CamasRpcServer *server)
{
    g_return_if_fail(server != NULL);
    camas_channel_server_close(server->channel_server);
    while (server->connections->len > 0) {
        CamasRpcConnection *conn = g_ptr_array_steal_index(server->connections, 0);
        conn->server = NULL;
        camas_rpc_connection_unref(conn);
    }
}

void
camas_rpc_server_free(CamasRpcServer *server)
{
    if (!server)
        return;
    camas_rpc_server_close(server);
    camas_channel_server_free(server->channel_server);
    if (server->destroy)
        server->destroy(server->user_data);
    g_ptr_array_unref(server->connections);
    camas_service_unref(server->service);
    g_free(server);
    camas__live_dec(CAMAS__LIVE_RPC_SERVER);
}

/* --- proxies -------------------------------------------------------------------------------- */

static CamasProxy *
proxy_new(CamasRpcConnection *connection, const char *path)
{
    gsize len = strlen(path);
    CamasProxy *p = g_malloc(sizeof(CamasProxy) + len + 1);
    p->refcount = 1;
    p->path_len = len;
    p->connection = camas_rpc_connection_ref(connection);
    memcpy(p->path, path, len + 1);
    camas__live_inc(CAMAS__LIVE_PROXY);
    return p;
}

CamasProxy *
camas_proxy_ref(CamasProxy *proxy)
{
    g_return_val_if_fail(proxy != NULL, NULL);
    proxy->refcount++;
    return proxy;
}

void
camas_proxy_unref(CamasProxy *proxy)
{
    if (!proxy)
        return;
    g_return_if_fail(proxy->refcount > 0);
    if (--proxy->refcount > 0)
        return;
    camas_rpc_connection_unref(proxy->connection);
    g_free(proxy);
    camas__live_dec(CAMAS__LIVE_PROXY);
}

static gpointer
proxy_object_ref(gpointer instance)
{
    return camas_proxy_ref(instance);
}

static void
proxy_object_unref(gpointer instance)
{
    camas_proxy_unref(instance);
}

static gboolean
proxy_object_equal(gconstpointer a, gconstpointer b)
{
    const CamasProxy *x = a, *y = b;
    return x->connection == y->connection && strcmp(x->path, y->path) == 0;
}

static void
proxy_object_repr(gconstpointer instance, GString *out)
{
    const CamasProxy *p = instance;
    g_string_append_printf(out, "Proxy('%s')", p->path);
}

CamasProxy *
camas_proxy_get_sub(CamasProxy *proxy, const char *path)
{
    g_return_val_if_fail(proxy != NULL && path != NULL, NULL);
    if (proxy->path[0] == '\0')
        return proxy_new(proxy->connection, path);
    g_autofree char *joined = g_strconcat(proxy->path, "/", path, NULL);
    return proxy_new(proxy->connection, joined);
}

const char *
camas_proxy_get_path(const CamasProxy *proxy)
{
    g_return_val_if_fail(proxy != NULL, NULL);
    return proxy->path;
}

CamasRpcConnection *
camas_proxy_get_connection(const CamasProxy *proxy)
{
    g_return_val_if_fail(proxy != NULL, NULL);
    return proxy->connection;
}

gboolean
camas_proxy_is_writable(const CamasProxy *proxy)
{
    g_return_val_if_fail(proxy != NULL, FALSE);
    return camas_channel_is_writable(proxy->connection->channel);
}

CamasFuture *
camas_proxy_drain(CamasProxy *proxy)
{
    g_return_val_if_fail(proxy != NULL, NULL);
    return camas_channel_drain(proxy->connection->channel);
}

gboolean
camas_proxy_drain_await(CamasProxy *proxy, GError **error)
{
    g_return_val_if_fail(proxy != NULL, FALSE);
    return camas_channel_drain_await(proxy->connection->channel, error);
}

static gboolean
kwargs_valid(const CamasValue *kwargs)
{
    if (camas_value_get_type(kwargs) != CAMAS_VALUE_MAP)
        return FALSE;
    gsize n = camas_value_get_length(kwargs);
    for (gsize i = 0; i < n; i++)
        if (camas_value_get_type(camas_value_map_get_key(kwargs, i)) != CAMAS_VALUE_STR)
            return FALSE;
    return TRUE;
}

CamasFuture *
camas_proxy_call(CamasProxy *proxy, const char *method, const CamasValue *args,
                 const CamasValue *kwargs)
{
    g_return_val_if_fail(proxy != NULL && method != NULL, NULL);
    g_return_val_if_fail(args == NULL || camas_value_is_sequence(args), NULL);
    g_return_val_if_fail(kwargs == NULL || kwargs_valid(kwargs), NULL);

    /* [path, args, kwargs] in stack values: only the frame is allocated */
    char buf[256];
    char *heap = NULL;
    const char *path = method;
    gsize path_len;
    if (proxy->path_len == 0) {
        path_len = strlen(method);
    } else {
        gsize a = proxy->path_len, b = strlen(method);
        path_len = a + 1 + b;
        char *dst = path_len < sizeof buf ? buf : (heap = g_malloc(path_len + 1));
        memcpy(dst, proxy->path, a);
        dst[a] = '/';
        memcpy(dst + a + 1, method, b + 1);
        path = dst;
    }
    CamasValue path_value = {
        .type = CAMAS_VALUE_STR, .flags = CAMAS__VALUE_STATIC, .u.str = {path_len, path}};
    CamasValue no_args = CAMAS__VALUE_STATIC_SEQ(NULL, 0);
    CamasValue no_kwargs = {
        .type = CAMAS_VALUE_MAP, .flags = CAMAS__VALUE_STATIC, .u.map = {0, NULL}};
    CamasValue *items[3] = {&path_value, args ? (CamasValue *)args : &no_args,
                            kwargs ? (CamasValue *)kwargs : &no_kwargs};
    CamasValue content = CAMAS__VALUE_STATIC_SEQ(items, 3);
    CamasFuture *future = camas__channel_send_full(proxy->connection->channel, &content, path);
    g_free(heap);
    return future;
}

CamasFuture *
camas_proxy_call_build(CamasProxy *proxy, const char *method, const char *format, ...)
{
    g_return_val_if_fail(proxy != NULL && method != NULL && format != NULL, NULL);
    va_list ap;
    va_start(ap, format);
    g_autoptr(CamasValue) built = camas_value_build_va(format, &ap);
    va_end(ap);
    g_return_val_if_fail(built != NULL, NULL);
    CamasValueType t = camas_value_get_type(built);
    if (t == CAMAS_VALUE_MAP)
        return camas_proxy_call(proxy, method, NULL, built);
    if (t == CAMAS_VALUE_TUPLE && camas_value_get_length(built) == 2 &&
        camas_value_get_type(camas_value_get_item(built, 1)) == CAMAS_VALUE_MAP)
        return camas_proxy_call(proxy, method, camas_value_get_item(built, 0),
                                camas_value_get_item(built, 1));
    g_return_val_if_fail(t == CAMAS_VALUE_LIST, NULL);
    return camas_proxy_call(proxy, method, built, NULL);
}

CamasValue *
camas_proxy_call_await(CamasProxy *proxy, const char *method, const CamasValue *args,
                       const CamasValue *kwargs, GError **error)
{
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    g_autoptr(CamasFuture) future = camas_proxy_call(proxy, method, args, kwargs);
    g_return_val_if_fail(future != NULL, NULL);
    CamasValue *result = NULL;
    if (!camas_task_await(future, &result, error))
        return NULL;
    return result ? result : camas_value_new_null();
}

CamasValue *
camas_proxy_to_value(CamasProxy *proxy)
{
    g_return_val_if_fail(proxy != NULL, NULL);
    return camas_value_new_object(&proxy_type, proxy);
}

CamasProxy *
camas_value_get_proxy(const CamasValue *value)
{
    g_return_val_if_fail(value != NULL, NULL);
    if (camas_value_get_type(value) != CAMAS_VALUE_OBJECT ||
        camas_value_object_get_type(value) != &proxy_type)
        return NULL;
    return camas_value_object_get_instance(value);
}
