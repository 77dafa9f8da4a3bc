/* SPDX-License-Identifier: MIT */
/*
 * Containers: where agents live (aiomas.agent.Container; wire-protocol.md §9).  A container
 * owns one server address (tcp://host:port, ipc://[path], local://queue, optionally with TLS),
 * a codec with the container serializers (dates first, type id 0, then the user's extras, then
 * RPC proxies), a clock shared by its agents, and the connections to other containers.  Every
 * container serves aiomas' root: validate_aid(aid) and agents/<aid>/<method>.
 *
 * The same agents run in a simulation and live, switched by configuration only:
 *
 *     simulation:  clock = camas_clock_new_external(loop, 0, 0);  address "local://sim"
 *     live:        clock = camas_clock_new_realtime(loop, NULL);  address "tcp://0.0.0.0:5555"
 *                  (options.tls for TLS)
 *
 * Connections: camas_container_connect(url) parses the agent URL, reuses the container's one
 * outgoing connection to that address (concurrent connects share it) or opens it, serving this
 * container's root on it (so the remote side can call back), sends validate_aid once per agent
 * id and connection, and returns a proxy for agents/<aid>.  Connections to the own address go
 * through the server like any other (aiomas 2 has no local shortcut), so calls inside one
 * container and across containers behave identically.
 *
 * Determinism: agent ids are a counter; agents and connections are visited in id and creation
 * order; agent random streams derive from (seed, "<name>/<aid>"), where the name defaults to the
 * container's address.  Over LocalQueue with a virtual clock, a program is one reproducible
 * event sequence.
 *
 * Lifetimes: a container has one owner (camas_container_free() shuts it down and drops it);
 * agents keep the memory alive while their tasks unwind.  Free containers before their loop.
 */
#pragma once

#include <camas/agent.h>
#include <camas/transport.h>

G_BEGIN_DECLS

/* One extra serializer for the container's codec (aiomas' extra_serializers entries). */
typedef struct {
    const CamasObjectType *type; /* the object kind it serializes (not NULL) */
    CamasSerializeFunc serialize;
    CamasDeserializeFunc deserialize;
    gpointer user_data; /* given to both; not freed */
} CamasSerializerSpec;

/**
 * CamasContainerOptions: zero-initialised = aiomas' defaults (JSON, no TLS, seed 0).
 */
typedef struct {
    /* "json" (default), "msgpack", "msgpack-blosc"; every container a container talks to must
     * use the same codec and extras (nothing on the wire says which). */
    const char *codec;
    /* Extra serializers, registered after the date serializer and before the proxy one. */
    const CamasSerializerSpec *extra_serializers;
    gsize n_extra_serializers;
    /* TLS for the server socket and every outgoing TCP connection: either the files of aiomas'
     * SSLCerts (server and client contexts are made from them) ... */
    const CamasTlsCerts *tls;
    /* ... or a pair of contexts (aiomas' ssl=(server_ctx, client_ctx)); referenced. */
    CamasTlsContext *tls_server;
    CamasTlsContext *tls_client;
    /* The run seed of the agents' random streams. */
    guint64 seed;
    /* A stable name for the agents' random streams and trace records: agent <aid> draws from
     * the stream "<name>/<aid>".  NULL = the container's address (then the stream name is the
     * agent's URL).  Give containers names when the same program must draw the same numbers
     * over different addresses (simulation and live). */
    const char *name;
    /* Seconds that camas_container_connect() keeps retrying a refused connection (aiomas'
     * connect timeout); 0 = one attempt. */
    double connect_timeout;
    /* Largest message in bytes; 0 = the channel default (64 MiB). */
    gsize max_frame_size;
} CamasContainerOptions;

/* Told about every agent log line (camas_agent_log()); @line is lent. */
typedef void (*CamasAgentLogFunc)(CamasAgent *agent, const char *line, gpointer user_data);

/**
 * camas_container_new:
 * @clock: (transfer none): the clock of the container and its agents (a reference is taken); its
 *         loop runs everything.  Containers of one loop share its clock.
 * @address: where the server listens: tcp://HOST:PORT (port 0 = chosen by the OS; HOST as
 *           given appears in agent URLs, except '', 0.0.0.0 and :: which are replaced by the
 *           machine's fully qualified name), tcp://[::1]:PORT, ipc://[PATH], local://QUEUE
 * @options: (nullable): NULL = defaults
 *
 * Creates the codec and binds the server now.  Socket addresses need the loop attached to a
 * GMainContext (a real-time clock does that).
 * Returns: (transfer full): the container, or NULL with CAMAS_ERROR_INVALID naming the problem
 * (bad address or scheme, address already in use, TLS files or settings, unknown codec).
 */
CAMAS_API CamasContainer *camas_container_new(CamasClock *clock, const char *address,
                                              const CamasContainerOptions *options, GError **error);

/**
 * camas_container_shutdown:
 * Closes the server and every connection (pending calls of this container's agents fail with
 * CAMAS_ERROR_CLOSED, pending connects too), cancels the agents' tasks and start futures, and
 * releases the agents, which are finalized in id order (those whose tasks still unwind: when
 * the tasks end).  Called outside any loop event, it also runs the events due now until the
 * cancelled tasks have unwound.  Later connects and spawns fail with CAMAS_ERROR_CLOSED.
 * Idempotent.
 */
CAMAS_API void camas_container_shutdown(CamasContainer *container);

/* Shuts the container down and drops the owner's reference.  NULL is ignored. */
CAMAS_API void camas_container_free(CamasContainer *container);

CAMAS_API gboolean camas_container_is_shut_down(const CamasContainer *container);

/* (transfer none) */
CAMAS_API CamasClock *camas_container_get_clock(const CamasContainer *container);
CAMAS_API CamasLoop *camas_container_get_loop(const CamasContainer *container);
CAMAS_API CamasCodec *camas_container_get_codec(const CamasContainer *container);
/* (transfer none): the address agents' URLs are formed from, with the bound port and the host
 * rules applied: "tcp://localhost:5555", "tcp://[::1]:5555", "ipc://[/tmp/c.sock]", "local://q". */
CAMAS_API const char *camas_container_get_address(const CamasContainer *container);
/* (transfer none): the stream/trace name (options.name or the address). */
CAMAS_API const char *camas_container_get_name(const CamasContainer *container);

/* --- agents -------------------------------------------------------------------------------- */

/**
 * camas_container_spawn:
 * @klass: (transfer none): the agent type (must outlive the container; usually static)
 * @args: (transfer none) (nullable): init's positional arguments (a list); NULL = none
 * @kwargs: (transfer none) (nullable): init's keyword arguments (a map); NULL = none
 *
 * Creates an agent with the next id ("0", "1", ... — an id is used up even when init fails)
 * and runs its init.  Emits a CAMAS_TRACE_SPAWN record (method = the class name).
 * Returns: (transfer none): the agent, owned by the container, or NULL with init's error,
 * CAMAS_ERROR_CLOSED (shut down) or CAMAS_ERROR_INVALID (a bad class table).
 */
CAMAS_API CamasAgent *camas_container_spawn(CamasContainer *container, const CamasAgentClass *klass,
                                            const CamasValue *args, const CamasValue *kwargs,
                                            GError **error);

/* Agents ever spawned (including ids whose init failed): the next id. */
CAMAS_API guint camas_container_get_n_agents(const CamasContainer *container);
/* (transfer none) (nullable): agent number @index (its id), NULL when its init failed or the
 * container is shut down.  Iterating 0..n-1 visits agents in id order. */
CAMAS_API CamasAgent *camas_container_get_agent(const CamasContainer *container, guint index);
/* (transfer none) (nullable): the agent with id @aid ("0", "1", ... exactly), else NULL. */
CAMAS_API CamasAgent *camas_container_lookup(const CamasContainer *container, const char *aid);

/* Sets the function told about agent log lines (replacing and destroying the previous one). */
CAMAS_API void camas_container_set_log_func(CamasContainer *container, CamasAgentLogFunc func,
                                            gpointer user_data, GDestroyNotify destroy);

/* --- connecting to agents ------------------------------------------------------------------ */

/**
 * camas_agent_url_parse:
 * @url: tcp://HOST:PORT/AID, tcp://[V6]:PORT/AID, ipc://[PATH]/AID or local://QUEUE/AID
 * @address: (out) (optional) (transfer full): the container address, as written except that
 *           IPv6 hosts always get brackets and the port is written in decimal without leading
 *           zeros ("tcp://localhost:5555", "tcp://[::1]:5555", "ipc://[/tmp/c.sock]",
 *           "local://q"); connections are cached by it
 * @aid: (out) (optional) (transfer full): the agent id (non-empty, everything after the
 *       address and its '/')
 * Returns: FALSE with CAMAS_ERROR_INVALID naming the URL and what is wrong (unknown scheme,
 * listing the known ones; missing port or agent id; bad brackets).
 */
CAMAS_API gboolean camas_agent_url_parse(const char *url, char **address, char **aid,
                                         GError **error);

/**
 * camas_container_connect:
 * Connects to the agent at @url (see the file comment).  Returns: (transfer full) a future
 * that succeeds with an object value holding the proxy (take it with
 * camas_container_connect_finish()), or fails with CAMAS_ERROR_LOOKUP
 * 'Agent "<aid>" does not exist in Container(<address>)', the connection's error
 * (CAMAS_ERROR_CONNECTION_REFUSED, ...), CAMAS_ERROR_CLOSED when the container shuts down, or
 * CAMAS_ERROR_REMOTE.  NULL with CAMAS_ERROR_INVALID (bad URL) or CAMAS_ERROR_CLOSED (shut
 * down); nothing is started then.
 */
CAMAS_API CamasFuture *camas_container_connect(CamasContainer *container, const char *url,
                                               GError **error);
/* (transfer full): the proxy of a done camas_container_connect() future, or NULL with its
 * error. */
CAMAS_API CamasProxy *camas_container_connect_finish(CamasFuture *future, GError **error);
/* Task style: awaits camas_container_connect().  (transfer full) */
CAMAS_API CamasProxy *camas_container_connect_await(CamasContainer *container, const char *url,
                                                    GError **error);

/* Outgoing connections open or opening (one per remote address). */
CAMAS_API guint camas_container_get_n_connections(const CamasContainer *container);

/* --- dates (aiomas' arrow serializer: type id 0 on container connections) ------------------ */

/* The object type of date values. */
CAMAS_API extern const CamasObjectType camas_date_type;

/**
 * camas_date_value_new:
 * @unix_ns: the instant
 * @offset_seconds: the UTC offset it is shown with (whole minutes, |offset| < 24 h)
 * Returns: (transfer full): a date value; it travels as {"__type__": [0, "<ISO 8601>"]} with
 * the offset it carries, as arrow's str() writes it.
 */
CAMAS_API CamasValue *camas_date_value_new(gint64 unix_ns, gint32 offset_seconds);
/* A date value from ISO 8601 text (camas_date_parse()); NULL with CAMAS_ERROR_INVALID. */
CAMAS_API CamasValue *camas_date_value_parse(const char *text, GError **error);
/* TRUE and the parts when @value is a date value (either out may be NULL). */
CAMAS_API gboolean camas_date_value_get(const CamasValue *value, gint64 *unix_ns,
                                        gint32 *offset_seconds);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasContainer, camas_container_free)

G_END_DECLS
