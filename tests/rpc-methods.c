/* SPDX-License-Identifier: MIT */
/* RPC methods shared by the rpc suite and the fuzz_rpc target (rpc-methods.h). */
#include "rpc-methods.h"

void
camas_test_fail_error(CamasRequest *req, GError *error)
{
    camas_request_fail(req, error);
    g_error_free(error);
}

void
camas_test_method_echo(gpointer inst, CamasRequest *req, const CamasValue *args,
                       const CamasValue *kwargs)
{
    static const char *const names[] = {"x", NULL};
    CamasValue *v[1];
    GError *error = NULL;
    if (!camas_rpc_parse_args("echo", args, kwargs, names, 1, v, &error))
        return camas_test_fail_error(req, error);
    camas_request_reply(req, v[0]);
}

void
camas_test_method_echo_args(gpointer inst, CamasRequest *req, const CamasValue *args,
                            const CamasValue *kwargs)
{
    camas_request_reply_take(req, camas_value_build("[v v]", args, kwargs));
}
