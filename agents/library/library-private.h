/* SPDX-License-Identifier: MIT */
/*
 * Methods several built-in agent types share (conformance-service.md: every agent of the agent
 * container answers whoami, echo, fail and call_peer).  Private to agents/library/.
 */
#pragma once

#include <camas/container.h>

G_BEGIN_DECLS

/* whoami() -> [class_name, own_url] */
void camas__lib_whoami(gpointer self, CamasRequest *req, const CamasValue *args,
                       const CamasValue *kwargs);
/* echo(x) -> x */
void camas__lib_echo(gpointer self, CamasRequest *req, const CamasValue *args,
                     const CamasValue *kwargs);
/* fail(m) -> ValueError: m */
void camas__lib_fail(gpointer self, CamasRequest *req, const CamasValue *args,
                     const CamasValue *kwargs);
/* call_peer(url, method, *args) -> the result of connecting to url and calling method(*args) */
CamasValue *camas__lib_call_peer(gpointer self, CamasRequest *req, const CamasValue *args,
                                 const CamasValue *kwargs, GError **error);

/* Python's name for a value's type ("int", "str", "dict", "NoneType", ...), for TypeError texts. */
const char *camas__lib_py_type(const CamasValue *value);

/* The methods above as table entries. */
/* clang-format off */
#define CAMAS__LIB_COMMON_METHODS                                                              \
    {"whoami", camas__lib_whoami}, {"echo", camas__lib_echo}, {"fail", camas__lib_fail},       \
    {"call_peer", NULL, camas__lib_call_peer}
/* clang-format on */

G_END_DECLS
