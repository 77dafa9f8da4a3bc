/* SPDX-License-Identifier: MIT */
/*
 * What the RPC layer (engine/rpc*.c) needs from the channel layer beyond the public API: a hook
 * that runs on a new client connection before any byte is read (to attach per-connection RPC
 * state that the codec's proxy serializer needs while decoding), the channel being encoded or
 * decoded right now (serializers are registered once per codec, not per connection), a back
 * pointer from a channel to its RPC connection, and RPC-flavoured sends and failures.
 */
#pragma once

#include <camas/channel.h>
#include <camas/rpc.h>

G_BEGIN_DECLS

/* Runs synchronously when a connection was established, before the pipe delivers anything. */
typedef void (*CamasChannelSetupFunc)(CamasChannel *channel, gpointer user_data);

/* camas_channel_open() with a setup hook (@setup_destroy runs with @setup_data when the open
 * operation ends, however it ends). */
CamasFuture *camas__channel_open_full(CamasLoop *loop, const char *address, CamasCodec *codec,
                                      const CamasChannelOptions *options,
                                      CamasChannelSetupFunc setup, gpointer setup_data,
                                      GDestroyNotify setup_destroy, GError **error);

/* The channel whose message is being encoded or decoded on this thread, else NULL.  Codec
 * serializers use it to find their connection. */
CamasChannel *camas__channel_get_current(void);

/* Runs a task-style RPC method on @instance inside the current task and answers *@request
 * (which it steals) with the result or the failure.  Shared by services and agents. */
void camas__rpc_run_task_method(const CamasRpcMethod *method, gpointer instance,
                                CamasRequest **request);

/* The RPC connection attached to @channel (not owned), or NULL.  Setting it also makes the
 * channel's DELIVER trace records carry the request path as method. */
void camas__channel_set_rpc(CamasChannel *channel, gpointer rpc);
gpointer camas__channel_get_rpc(const CamasChannel *channel);

/* camas_channel_send() whose SEND trace record, and the REPLY or FAILURE record of its answer,
 * carry @method (an RPC path; lent for the call, copied while a tracer is attached). */
CamasFuture *camas__channel_send_full(CamasChannel *channel, const CamasValue *content,
                                      const char *method);

/* Marks @request as an RPC call of @path (lent: it must live as long as the request, e.g. point
 * into its content): failures sent for it get a Python-like "Traceback (most recent call
 * last):" header naming the path. */
void camas__request_set_rpc_path(CamasRequest *request, const char *path);
/* (transfer none) the path set above, or NULL */
const char *camas__request_get_rpc_path(const CamasRequest *request);

/* The object type of the values camas_channel_open() futures succeed with. */
extern const CamasObjectType camas__channel_object_type;

G_END_DECLS
