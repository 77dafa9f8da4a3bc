/* SPDX-License-Identifier: MIT */
/*
 * RPC: aiomas' remote procedure calls (aiomas.rpc; wire-protocol.md §7-§8) on top of channels
 * (camas/channel.h).  A request's content is [path, args, kwargs]; the side that receives it
 * resolves the path through the tree of services it serves and calls the method; the reply is
 * the method's result.  Both ends of a connection may serve a service, so calls go both ways.
 *
 * Services.  A C service is a const class table (CamasServiceClass: a name, methods by name,
 * named sub-service slots, names that exist but are not exposed) plus an instance pointer; a
 * dict service (aiomas ServiceDict) maps any names to services, e.g. agent ids to agents.
 * Services form a tree (each service has at most one parent); a path a/b/c walks it from the
 * root served on the connection, with aiomas' exact LookupError and TypeError texts.
 *
 * Proxies.  The remote side's root, a sub-path of it, or a service the peer sent as a value
 * ({"__type__": [id, "path"]}) is a CamasProxy bound to the connection it belongs to; calling a
 * method on it sends [path/method, args, kwargs] and returns a future for the result.
 *
 * Codecs.  Opening a connection or starting a server registers the RPC serializer on the codec
 * given (once per codec; it is the catch-all for objects without their own serializer, so its
 * type id is the number of serializers registered before: 0 on a plain codec, after any extra
 * serializers the caller registered first).  Services sent as values travel as their path from
 * the root this side serves and arrive as proxies; proxies cannot be sent (a proxy cannot go
 * back to its owner).
 *
 * Everything runs from loop events, as the channel layer does; methods get a request handle
 * and may answer at once or from any later event, possibly after their own calls.
 */
#pragma once

#include <camas/channel.h>
#include <camas/task.h>

G_BEGIN_DECLS

typedef struct _CamasService CamasService;
typedef struct _CamasProxy CamasProxy;
typedef struct _CamasRpcConnection CamasRpcConnection;
typedef struct _CamasRpcServer CamasRpcServer;

/* --- services ------------------------------------------------------------------------------ */

/**
 * CamasRpcMethodFunc: a method in callback style.
 * @instance: the service's instance pointer
 * @request: (transfer full): answer it exactly once (camas_request_reply*, camas_request_fail*),
 *           now or later; failures get a "Traceback (most recent call last):" header
 * @args: (transfer none): the positional arguments (a list or tuple)
 * @kwargs: (transfer none): the keyword arguments (a map with str keys, maybe empty)
 *
 * @args and @kwargs live as long as @request (take references to keep them longer).
 */
typedef void (*CamasRpcMethodFunc)(gpointer instance, CamasRequest *request,
                                   const CamasValue *args, const CamasValue *kwargs);

/**
 * CamasRpcTaskMethodFunc: a method in task style: runs in a task of its own (camas/task.h), so
 * it may await futures (camas_task_await, camas_proxy_call_await).  Its return value is the
 * reply: (transfer full) (nullable) the result (NULL without error = null), or NULL with
 * @error set to fail the call.  @request is lent: do not answer it yourself.
 */
typedef CamasValue *(*CamasRpcTaskMethodFunc)(gpointer instance, CamasRequest *request,
                                              const CamasValue *args, const CamasValue *kwargs,
                                              GError **error);

/* One exposed method: exactly one of @func and @task_func is set. */
typedef struct {
    const char *name;
    CamasRpcMethodFunc func;
    CamasRpcTaskMethodFunc task_func;
} CamasRpcMethod;

/**
 * CamasServiceClass: a kind of service, usually a static const table.
 */
typedef struct {
    /* The class name in failure texts: "'<name>' object is not callable". */
    const char *name;
    /* The module for "<module>.<name>.<attr>" is not exposed; NULL = "camas". */
    const char *module;
    /* The exposed methods, ended by an entry whose name is NULL. */
    const CamasRpcMethod *methods;
    /* The names of sub-service slots (aiomas Service(['calc'])), NULL-terminated; NULL = none.
     * Slots are filled with camas_service_set_sub(). */
    const char *const *sub_services;
    /* Names that exist on the service but are not exposed (NULL-terminated; NULL = none):
     * calling them fails with LookupError "<module>.<name>.<attr>" is not exposed. */
    const char *const *hidden;
} CamasServiceClass;

/**
 * camas_service_new:
 * @klass: (transfer none): the class; must outlive the service (usually static)
 * @instance: what methods get as their first argument
 * @destroy: (nullable): called with @instance when the service is freed
 * Returns: (transfer full): a service with empty sub-service slots.
 */
CAMAS_API CamasService *camas_service_new(const CamasServiceClass *klass, gpointer instance,
                                          GDestroyNotify destroy);

/* Returns: (transfer full): an empty dict service (aiomas ServiceDict): any name may be set,
 * every entry is a sub-service, and it has no methods of its own. */
CAMAS_API CamasService *camas_service_new_dict(void);

CAMAS_API CamasService *camas_service_ref(CamasService *service);
CAMAS_API void camas_service_unref(CamasService *service);

/**
 * camas_service_set_sub:
 * @sub: (transfer none) (nullable): the sub-service (a reference is taken), or NULL to empty
 *       the slot / remove the entry
 *
 * Attaches @sub under @name.  A class service only accepts names of its sub_services slots; a
 * dict service any name without '/'.  Returns: FALSE with CAMAS_ERROR_INVALID when @name is
 * not a slot (or contains '/'), or @sub already has a parent, or @sub is @service or one of its
 * ancestors.
 */
CAMAS_API gboolean camas_service_set_sub(CamasService *service, const char *name,
                                         CamasService *sub, GError **error);
/* (transfer none) (nullable): the sub-service named @name. */
CAMAS_API CamasService *camas_service_get_sub(const CamasService *service, const char *name);
/* (transfer none) (nullable): the parent, NULL for a root. */
CAMAS_API CamasService *camas_service_get_parent(const CamasService *service);
/* (transfer full): the path from the root: "" for a root, "calc/deep", "agents/0". */
CAMAS_API char *camas_service_dup_path(const CamasService *service);
/* The instance pointer (NULL for dict services). */
CAMAS_API gpointer camas_service_get_instance(const CamasService *service);
/* (transfer none): the class name ("ServiceDict" for dict services). */
CAMAS_API const char *camas_service_get_class_name(const CamasService *service);

/* Returns: (transfer full): an object value holding @service, to send it (it arrives as a
 * proxy for its path). */
CAMAS_API CamasValue *camas_service_to_value(CamasService *service);
/* (transfer none) (nullable): the service a value holds, else NULL. */
CAMAS_API CamasService *camas_value_get_service(const CamasValue *value);

/**
 * camas_rpc_parse_args:
 * @func_name: the method name for messages ("add")
 * @names: the parameter names, NULL-terminated
 * @n_required: how many of them have no default
 * @out: (out caller-allocates) (array): one slot per name: (transfer none) the value given, or
 *       left untouched for optional parameters not given
 *
 * Binds positional and keyword arguments the way Python binds a call of a function whose
 * parameters are @names.  Returns: FALSE with CAMAS_ERROR_TYPE and Python's text ("add()
 * missing 1 required positional argument: 'b'", "add() takes 2 positional arguments but 3
 * were given", "add() got an unexpected keyword argument 'c'", "add() got multiple values for
 * argument 'a'").
 */
CAMAS_API gboolean camas_rpc_parse_args(const char *func_name, const CamasValue *args,
                                        const CamasValue *kwargs, const char *const *names,
                                        guint n_required, CamasValue **out, GError **error);

/* --- connections --------------------------------------------------------------------------- */

/* Called from a loop event when the peer reset the connection (not when this side closed it);
 * @error as for CamasChannelClosedFunc. */
typedef void (*CamasRpcResetFunc)(CamasRpcConnection *connection, const GError *error,
                                  gpointer user_data);
/* A server accepted @connection (transfer none; the server owns it). */
typedef void (*CamasRpcConnectedFunc)(CamasRpcServer *server, CamasRpcConnection *connection,
                                      gpointer user_data);

/**
 * camas_rpc_open:
 * @codec: (transfer none): the codec; the RPC serializer is registered on it if it is not yet
 *         (CAMAS_ERROR_INVALID when it already has another catch-all serializer)
 * @service: (transfer none) (nullable): a service to serve to the peer on this connection
 *           (callbacks, services sent as values), or NULL
 *
 * As camas_channel_open() (same addresses, options, retries, errors).  Returns: (transfer full)
 * a future that succeeds with an object value holding the connection (take it with
 * camas_rpc_open_finish()), or NULL with @error (bad address, codec refused).
 */
CAMAS_API CamasFuture *camas_rpc_open(CamasLoop *loop, const char *address, CamasCodec *codec,
                                      CamasService *service, const CamasChannelOptions *options,
                                      GError **error);
/* Returns: (transfer full): the connection of a done camas_rpc_open() future, or NULL with its
 * error. */
CAMAS_API CamasRpcConnection *camas_rpc_open_finish(CamasFuture *future, GError **error);
/* Task style: awaits camas_rpc_open() inside a task.  (transfer full) */
CAMAS_API CamasRpcConnection *camas_rpc_open_await(CamasLoop *loop, const char *address,
                                                   CamasCodec *codec, CamasService *service,
                                                   const CamasChannelOptions *options,
                                                   GError **error);

CAMAS_API CamasRpcConnection *camas_rpc_connection_ref(CamasRpcConnection *connection);
/* Dropping the last reference closes the connection.  Proxies hold references. */
CAMAS_API void camas_rpc_connection_unref(CamasRpcConnection *connection);
/* Closes the channel (pending calls fail with CAMAS_ERROR_CLOSED before this returns). */
CAMAS_API void camas_rpc_connection_close(CamasRpcConnection *connection);
CAMAS_API gboolean camas_rpc_connection_is_closed(const CamasRpcConnection *connection);
/* (transfer none) */
CAMAS_API CamasChannel *camas_rpc_connection_get_channel(const CamasRpcConnection *connection);
/* (transfer none) (nullable): the service this side serves on the connection. */
CAMAS_API CamasService *camas_rpc_connection_get_service(const CamasRpcConnection *connection);
/* Returns: (transfer full): a proxy for the peer's root service. */
CAMAS_API CamasProxy *camas_rpc_connection_get_remote(CamasRpcConnection *connection);
/* Sets the reset function (replacing and destroying the previous one). */
CAMAS_API void camas_rpc_connection_set_reset_func(CamasRpcConnection *connection,
                                                   CamasRpcResetFunc func, gpointer user_data,
                                                   GDestroyNotify destroy);

/* Write back-pressure of the connection's channel (see camas_channel_is_writable(),
 * camas_channel_drain(), camas_channel_drain_await()): a caller that makes many calls checks
 * is_writable before each and waits for drain when it is FALSE, so calls that the peer does
 * not read fast enough do not pile up in memory.  options->write_limit (camas/channel.h) makes
 * calls beyond a hard cap fail with CAMAS_ERROR_TOO_LARGE instead. */
CAMAS_API gboolean camas_rpc_connection_is_writable(const CamasRpcConnection *connection);
/* Returns: (transfer full): a future that succeeds once the connection is writable, or fails
 * with CAMAS_ERROR_CLOSED. */
CAMAS_API CamasFuture *camas_rpc_connection_drain(CamasRpcConnection *connection);
/* Task style: TRUE at once when writable, else awaits camas_rpc_connection_drain(). */
CAMAS_API gboolean camas_rpc_connection_drain_await(CamasRpcConnection *connection,
                                                    GError **error);

/* (transfer none): the RPC connection a request of an RPC method arrived on. */
CAMAS_API CamasRpcConnection *camas_rpc_request_get_connection(const CamasRequest *request);

/* --- servers ------------------------------------------------------------------------------- */

/**
 * camas_rpc_server_new:
 * @service: (transfer none): the root served on every accepted connection
 * @connected: (nullable): told about each accepted connection before its bytes are read
 *
 * As camas_channel_server_new().  Returns: (transfer full) the server, or NULL with @error.
 */
CAMAS_API CamasRpcServer *camas_rpc_server_new(CamasLoop *loop, const char *address,
                                               CamasCodec *codec, CamasService *service,
                                               const CamasChannelOptions *options,
                                               CamasRpcConnectedFunc connected,
                                               gpointer user_data, GDestroyNotify destroy,
                                               GError **error);
/* (transfer none): the canonical address bound. */
CAMAS_API const char *camas_rpc_server_get_address(const CamasRpcServer *server);
/* Open accepted connections, in accept order. */
CAMAS_API guint camas_rpc_server_get_n_connections(const CamasRpcServer *server);
/* (transfer none) */
CAMAS_API CamasRpcConnection *camas_rpc_server_get_connection(const CamasRpcServer *server,
                                                              guint index);
/* Stops listening and closes every accepted connection.  Idempotent. */
CAMAS_API void camas_rpc_server_close(CamasRpcServer *server);
/* Closes and frees.  NULL is ignored. */
CAMAS_API void camas_rpc_server_free(CamasRpcServer *server);

/* --- proxies -------------------------------------------------------------------------------- */

CAMAS_API CamasProxy *camas_proxy_ref(CamasProxy *proxy);
CAMAS_API void camas_proxy_unref(CamasProxy *proxy);

/* Returns: (transfer full): a proxy for @path below @proxy ("calc", "calc/deep"). */
CAMAS_API CamasProxy *camas_proxy_get_sub(CamasProxy *proxy, const char *path);
/* (transfer none): the remote path ("" for the root). */
CAMAS_API const char *camas_proxy_get_path(const CamasProxy *proxy);
/* (transfer none): the connection calls go over. */
CAMAS_API CamasRpcConnection *camas_proxy_get_connection(const CamasProxy *proxy);

/**
 * camas_proxy_call:
 * @method: the method name below the proxy's path (may contain '/')
 * @args: (transfer none) (nullable): positional arguments, a list or tuple; NULL = none
 * @kwargs: (transfer none) (nullable): keyword arguments, a map with str keys; NULL = none
 *
 * Sends ["<path>/<method>", args, kwargs].  Returns: (transfer full) a future for the result,
 * failing as camas_channel_send()'s: CAMAS_ERROR_REMOTE carries the peer's failure text (for an
 * aiomas or camas server, a traceback whose last line is "<Name>: <message>").
 */
CAMAS_API CamasFuture *camas_proxy_call(CamasProxy *proxy, const char *method,
                                        const CamasValue *args, const CamasValue *kwargs);

/**
 * camas_proxy_call_build:
 * @format: a camas_value_build() format building a list (the positional arguments, e.g.
 *          "[i i]"), a map (keyword arguments only, "{s:i}"), or a 2-tuple of both
 *          ("([i] {s:i})")
 *
 * camas_proxy_call() with arguments built from a format string.
 */
CAMAS_API CamasFuture *camas_proxy_call_build(CamasProxy *proxy, const char *method,
                                              const char *format, ...);

/* Task style: awaits camas_proxy_call() inside a task.  Returns: (transfer full) the result
 * (a null value for null), or NULL with @error. */
CAMAS_API CamasValue *camas_proxy_call_await(CamasProxy *proxy, const char *method,
                                             const CamasValue *args, const CamasValue *kwargs,
                                             GError **error);

/* The back-pressure of the proxy's connection: camas_rpc_connection_is_writable(),
 * camas_rpc_connection_drain(), camas_rpc_connection_drain_await(). */
CAMAS_API gboolean camas_proxy_is_writable(const CamasProxy *proxy);
/* Returns: (transfer full) */
CAMAS_API CamasFuture *camas_proxy_drain(CamasProxy *proxy);
CAMAS_API gboolean camas_proxy_drain_await(CamasProxy *proxy, GError **error);

/* Returns: (transfer full): an object value holding @proxy (only useful locally: proxies cannot
 * be sent). */
CAMAS_API CamasValue *camas_proxy_to_value(CamasProxy *proxy);
/* (transfer none) (nullable): the proxy a (received) value holds, else NULL. */
CAMAS_API CamasProxy *camas_value_get_proxy(const CamasValue *value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasService, camas_service_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasProxy, camas_proxy_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasRpcConnection, camas_rpc_connection_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasRpcServer, camas_rpc_server_free)

G_END_DECLS
