/* SPDX-License-Identifier: MIT */
/*
 * Live-object counters: every owned object kind counts its constructions and destructions, so
 * each test can assert in its teardown that nothing leaked (tests/leakcheck.c), without
 * needing a sanitizer build.  One relaxed atomic add per object life.
 */
#pragma once

#include <glib.h>

typedef enum {
    CAMAS__LIVE_VALUE = 0,
    CAMAS__LIVE_ARENA,
    CAMAS__LIVE_CODEC,
    CAMAS__LIVE_CORO,
    CAMAS__LIVE_LOOP,
    CAMAS__LIVE_CLOCK,
    CAMAS__LIVE_FUTURE,
    CAMAS__LIVE_TASK,
    CAMAS__LIVE_PIPE,
    CAMAS__LIVE_LISTENER,
    CAMAS__LIVE_TLS_CONTEXT,
    CAMAS__LIVE_CHANNEL,
    CAMAS__LIVE_CHANNEL_SERVER,
    CAMAS__LIVE_REQUEST,
    CAMAS__LIVE_SERVICE,
    CAMAS__LIVE_RPC_CONNECTION,
    CAMAS__LIVE_RPC_SERVER,
    CAMAS__LIVE_PROXY,
    CAMAS__LIVE_CONTAINER,
    CAMAS__LIVE_AGENT,
    CAMAS__LIVE_LINK_MODEL,
    CAMAS__LIVE_NAME_LOOKUP,
    CAMAS__LIVE_N /* append new kinds above, and their names in live.c */
} CamasLiveKind;

extern gint camas__live_counts[CAMAS__LIVE_N];

static inline void
camas__live_inc(CamasLiveKind kind)
{
    g_atomic_int_inc(&camas__live_counts[kind]);
}

static inline void
camas__live_dec(CamasLiveKind kind)
{
    g_atomic_int_add(&camas__live_counts[kind], -1);
}

/* The kind's name ("value", "arena", ...) for messages. */
const char *camas__live_name(CamasLiveKind kind);
