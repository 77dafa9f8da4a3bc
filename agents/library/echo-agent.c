/* SPDX-License-Identifier: MIT */
/*
 * EchoAgent: agent "0" of the interop conformance container (conformance-service.md): the
 * shared whoami/echo/fail/call_peer, add(a, b), shift_date(date, seconds) on the container date
 * type, and ping_back(proxy, x), which calls back into the caller's agent over the caller's
 * connection (capture C.3).
 */
#include <math.h>

#include "library-private.h"

static void
add(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *a, *b;
    if (!camas_agent_args_or_fail(req, "a:v b:v", &a, &b))
        return;
    CamasValueType ta = camas_value_get_type(a), tb = camas_value_get_type(b);
    if (ta == CAMAS_VALUE_STR && tb == CAMAS_VALUE_STR) {
        g_autofree char *s =
            g_strconcat(camas_value_get_str(a, NULL), camas_value_get_str(b, NULL), NULL);
        camas_request_reply_take(req, camas_value_new_str(s));
        return;
    }
    if (ta == CAMAS_VALUE_INT && tb == CAMAS_VALUE_INT && !camas_value_int_is_unsigned(a) &&
        !camas_value_int_is_unsigned(b)) {
        gint64 r;
        if (!__builtin_add_overflow(camas_value_get_int(a), camas_value_get_int(b), &r)) {
            camas_request_reply_take(req, camas_value_new_int(r));
            return;
        }
        camas_request_fail_text(req, "OverflowError", "the sum does not fit in 64 bits");
        return;
    }
    double x, y;
    if ((ta == CAMAS_VALUE_INT || ta == CAMAS_VALUE_FLOAT) &&
        (tb == CAMAS_VALUE_INT || tb == CAMAS_VALUE_FLOAT) && camas_value_to_double(a, &x, NULL) &&
        camas_value_to_double(b, &y, NULL)) {
        camas_request_reply_take(req, camas_value_new_float(x + y));
        return;
    }
    g_autofree char *msg = g_strdup_printf("unsupported operand type(s) for +: '%s' and '%s'",
                                           camas__lib_py_type(a), camas__lib_py_type(b));
    camas_request_fail_text(req, "TypeError", msg);
}

static void
shift_date(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *date;
    double seconds;
    if (!camas_agent_args_or_fail(req, "date:v seconds:f", &date, &seconds))
        return;
    gint64 ns;
    gint32 offset;
    if (!camas_date_value_get(date, &ns, &offset)) {
        camas_request_fail_text(req, "TypeError", "shift_date() argument 'date' must be a date");
        return;
    }
    double shifted = (double)ns + seconds * 1e9;
    if (!isfinite(shifted) || fabs(shifted) > 9.2e18) {
        camas_request_fail_text(req, "OverflowError", "date value out of range");
        return;
    }
    /* whole seconds are added exactly; the fraction is rounded to the nanosecond */
    double whole = trunc(seconds);
    gint64 delta = (gint64)whole * G_GINT64_CONSTANT(1000000000) + llround((seconds - whole) * 1e9);
    camas_request_reply_take(req, camas_date_value_new(ns + delta, offset));
}

static CamasValue *
ping_back(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs,
          GError **error)
{
    CamasProxy *proxy;
    CamasValue *x;
    if (!camas_agent_args(req, error, "proxy:p x:v", &proxy, &x))
        return NULL;
    g_autoptr(CamasValue) r = camas_agent_call(proxy, "pong", error, "[v]", x);
    return r ? camas_value_build("[s v]", "pong-reply", r) : NULL;
}

static const CamasRpcMethod methods[] = {
    CAMAS__LIB_COMMON_METHODS,      {"add", add}, {"shift_date", shift_date},
    {"ping_back", NULL, ping_back}, {NULL},
};

const CamasAgentClass camas__agent_echo_agent = {
    .name = "EchoAgent",
    .methods = methods,
    .summary = "conformance agent 0: whoami, echo, fail, call_peer, add, shift_date, ping_back",
};
