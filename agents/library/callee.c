/* SPDX-License-Identifier: MIT */
/* Callee: the callee of aiomas' "Calling other agent's methods": spam(times) -> "spam" * times. */
#include "library-private.h"

static void
spam(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    gint64 times;
    if (!camas_agent_args_or_fail(req, "times:I", &times))
        return;
    if (times > 1000000) {
        camas_request_fail_text(req, "ValueError", "that is too much spam");
        return;
    }
    g_autoptr(GString) s = g_string_new(NULL);
    for (gint64 i = 0; i < times; i++)
        g_string_append(s, "spam");
    camas_request_reply_take(req, camas_value_new_str(s->str));
}

static const CamasRpcMethod methods[] = {{"spam", spam}, {NULL}};

const CamasAgentClass camas__agent_callee = {
    .name = "Callee",
    .methods = methods,
    .summary = "spam(times) -> 'spam' repeated times times",
};
