/* SPDX-License-Identifier: MIT */
/*
 * RPC methods that both the rpc suite's conformance service (tests/test_rpc.c) and the
 * fuzz_rpc target's server expose.  No criterion here: the fuzz build links this file too.
 */
#pragma once

#include <camas/camas.h>

/* Fails @req with @error and frees it. */
void camas_test_fail_error(CamasRequest *req, GError *error);
/* echo(x) -> x */
void camas_test_method_echo(gpointer inst, CamasRequest *req, const CamasValue *args,
                            const CamasValue *kwargs);
/* echo_args(*args, **kwargs) -> [args, kwargs] */
void camas_test_method_echo_args(gpointer inst, CamasRequest *req, const CamasValue *args,
                                 const CamasValue *kwargs);
