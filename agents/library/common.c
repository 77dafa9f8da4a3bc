/* SPDX-License-Identifier: MIT */
/* Methods shared by the built-in agent types (library-private.h). */
#include "library-private.h"

void
camas__lib_whoami(gpointer self, CamasRequest *req, const CamasValue *args,
                  const CamasValue *kwargs)
{
    if (!camas_agent_args_or_fail(req, ""))
        return;
    CamasAgent *agent = self;
    camas_request_reply_take(req, camas_value_build("[s s]", camas_agent_get_class_name(agent),
                                                    camas_agent_get_url(agent)));
}

void
camas__lib_echo(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *x;
    if (camas_agent_args_or_fail(req, "x:v", &x))
        camas_request_reply(req, x);
}

void
camas__lib_fail(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *m;
    if (!camas_agent_args_or_fail(req, "m:v", &m))
        return;
    g_autofree char *text = camas_value_get_type(m) == CAMAS_VALUE_STR
                                ? g_strdup(camas_value_get_str(m, NULL))
                                : camas_value_repr(m);
    camas_request_fail_text(req, "ValueError", text);
}

CamasValue *
camas__lib_call_peer(gpointer self, CamasRequest *req, const CamasValue *args,
                     const CamasValue *kwargs, GError **error)
{
    gsize n = camas_value_get_length(args);
    if (n < 2 || camas_value_get_type(camas_value_get_item(args, 0)) != CAMAS_VALUE_STR ||
        camas_value_get_type(camas_value_get_item(args, 1)) != CAMAS_VALUE_STR) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE,
                    "call_peer() takes a URL, a method name and the method's arguments");
        return NULL;
    }
    const char *url = camas_value_get_str(camas_value_get_item(args, 0), NULL);
    const char *method = camas_value_get_str(camas_value_get_item(args, 1), NULL);
    g_autoptr(GPtrArray) rest = g_ptr_array_new();
    for (gsize i = 2; i < n; i++)
        g_ptr_array_add(rest, camas_value_get_item(args, i));
    g_autoptr(CamasValue) rest_list =
        camas_value_new_list((CamasValue *const *)rest->pdata, rest->len);
    g_autoptr(CamasProxy) peer = camas_agent_connect(self, url, error);
    if (!peer)
        return NULL;
    return camas_proxy_call_await(peer, method, rest_list, kwargs, error);
}

const char *
camas__lib_py_type(const CamasValue *value)
{
    switch (camas_value_get_type(value)) {
    case CAMAS_VALUE_NULL:
        return "NoneType";
    case CAMAS_VALUE_MAP:
        return "dict";
    case CAMAS_VALUE_OBJECT: {
        const CamasObjectType *t = camas_value_object_get_type(value);
        return t && t->name ? t->name : "object";
    }
    default:
        return camas_value_type_name(camas_value_get_type(value));
    }
}
