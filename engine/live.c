/* SPDX-License-Identifier: MIT */
/* Live-object counters (see live-private.h). */
#include "live-private.h"

gint camas__live_counts[CAMAS__LIVE_N];

const char *
camas__live_name(CamasLiveKind kind)
{
    static const char *const names[CAMAS__LIVE_N] = {
        [CAMAS__LIVE_VALUE] = "value",
        [CAMAS__LIVE_ARENA] = "arena",
        [CAMAS__LIVE_CODEC] = "codec",
        [CAMAS__LIVE_CORO] = "coro",
        [CAMAS__LIVE_LOOP] = "loop",
        [CAMAS__LIVE_CLOCK] = "clock",
        [CAMAS__LIVE_FUTURE] = "future",
        [CAMAS__LIVE_TASK] = "task",
        [CAMAS__LIVE_PIPE] = "pipe",
        [CAMAS__LIVE_LISTENER] = "listener",
        [CAMAS__LIVE_TLS_CONTEXT] = "tls context",
        [CAMAS__LIVE_CHANNEL] = "channel",
        [CAMAS__LIVE_CHANNEL_SERVER] = "channel server",
        [CAMAS__LIVE_REQUEST] = "request",
        [CAMAS__LIVE_SERVICE] = "service",
        [CAMAS__LIVE_RPC_CONNECTION] = "rpc connection",
        [CAMAS__LIVE_RPC_SERVER] = "rpc server",
        [CAMAS__LIVE_PROXY] = "proxy",
        [CAMAS__LIVE_CONTAINER] = "container",
        [CAMAS__LIVE_AGENT] = "agent",
        [CAMAS__LIVE_LINK_MODEL] = "link model",
        [CAMAS__LIVE_NAME_LOOKUP] = "name lookup",
    };
    return (guint)kind < CAMAS__LIVE_N && names[kind] ? names[kind] : "object";
}
