/* SPDX-License-Identifier: MIT */
/*
 * Agent containers (aiomas.agent.Container; wire-protocol.md §9), on top of the RPC layer
 * (rpc.c): the server with aiomas' fixed root (validate_aid + the agents dict), agent ids and
 * URLs, spawning, the connection cache with validate_aid, TLS settings, and shutdown.  The
 * agent base itself (references, tasks, helpers) is agents/agent.c; dates are
 * container-date.c.
 *
 * Everything is visited in a deterministic order: agents by id (an array indexed by id), and
 * connections in creation order (an array); the hash tables here are only looked up.
 */
#include <math.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include <camas/time.h>
#include <camas/trace.h>

#include "container-private.h"
#include "live-private.h"
#include "value-private.h"

/* --- references ------------------------------------------------------------------------------ */

void
camas__container_ref(CamasContainer *container)
{
    container->ref_count++;
}

static void
container_free_memory(CamasContainer *c)
{
    g_assert(c->closed);
    if (c->log_destroy)
        c->log_destroy(c->log_data);
    g_hash_table_unref(c->conns);
    g_ptr_array_unref(c->conn_list);
    g_ptr_array_unref(c->agent_list);
    g_hash_table_unref(c->classes);
    g_clear_pointer(&c->tls_server, camas_tls_context_unref);
    g_clear_pointer(&c->tls_client, camas_tls_context_unref);
    camas_codec_unref(c->codec);
    camas_clock_unref(c->clock);
    g_free(c->address);
    g_free(c->base_url);
    g_free(c->name);
    g_free(c);
    camas__live_dec(CAMAS__LIVE_CONTAINER);
}

void
camas__container_unref(CamasContainer *container)
{
    g_assert(container->ref_count > 0);
    if (--container->ref_count == 0)
        container_free_memory(container);
}

static void
container_unref_notify(gpointer data)
{
    camas__container_unref(data);
}

/* --- agent URLs ------------------------------------------------------------------------------ */

static const char *const url_schemes[] = {"tcp", "ipc", "local"};

static gboolean
url_error(GError **error, const char *url, const char *why)
{
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "Cannot parse agent URL \"%s\": %s", url,
                why);
    return FALSE;
}

gboolean
camas_agent_url_parse(const char *url, char **address, char **aid, GError **error)
{
    g_return_val_if_fail(url != NULL, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);
    const char *sep = strstr(url, "://");
    if (!sep) {
        return url_error(error, url, "it must start with a scheme (tcp://, ipc:// or local://)");
    }
    gsize scheme_len = (gsize)(sep - url);
    guint scheme = G_N_ELEMENTS(url_schemes);
    for (guint i = 0; i < G_N_ELEMENTS(url_schemes); i++)
        if (strlen(url_schemes[i]) == scheme_len && strncmp(url, url_schemes[i], scheme_len) == 0)
            scheme = i;
    if (scheme == G_N_ELEMENTS(url_schemes)) {
        g_autofree char *why = g_strdup_printf("unknown scheme \"%.*s\" (known: tcp, ipc, local)",
                                               (int)scheme_len, url);
        return url_error(error, url, why);
    }
    const char *rest = sep + 3;
    const char *addr_end; /* the '/' that ends the address */
    g_autofree char *addr = NULL;
    if (scheme == 1) { /* ipc://[path]/aid: the brackets are mandatory (paths contain '/') */
        if (rest[0] != '[')
            return url_error(error, url,
                             "a Unix socket path must be in brackets: ipc://[PATH]/AID");
        const char *close = strstr(rest, "]/");
        if (!close) {
            if (strchr(rest, ']'))
                return url_error(error, url, "the agent id is missing");
            return url_error(error, url, "unbalanced '[' in the socket path");
        }
        if (close == rest + 1)
            return url_error(error, url, "the socket path is empty");
        addr_end = close + 1;
        addr = g_strndup(url, (gsize)(addr_end - url));
    } else {
        addr_end = strchr(rest, '/');
        if (!addr_end)
            return url_error(error, url, "the agent id is missing (expected .../AID)");
        if (addr_end == rest)
            return url_error(error, url, "the address is empty");
        if (scheme == 0) { /* host:port, the port split off at the last ':' */
            const char *colon = NULL;
            for (const char *p = rest; p < addr_end; p++)
                if (*p == ':')
                    colon = p;
            if (!colon || colon + 1 == addr_end)
                return url_error(error, url, "the port is missing (expected HOST:PORT)");
            guint64 port = 0;
            for (const char *p = colon + 1; p < addr_end; p++) {
                if (!g_ascii_isdigit(*p) || port > 65535)
                    return url_error(error, url, "the port is not a number from 0 to 65535");
                port = port * 10 + (guint64)(*p - '0');
            }
            if (port > 65535)
                return url_error(error, url, "the port is not a number from 0 to 65535");
            if (colon == rest)
                return url_error(error, url, "the host is empty");
            gboolean open_b = rest[0] == '[', close_b = colon[-1] == ']';
            if (open_b != close_b)
                return url_error(error, url, "unbalanced brackets around the host");
            if (open_b && colon - rest == 2)
                return url_error(error, url, "the host is empty");
            /* aiomas keys connections by (host, port): "[::1]" and "::1" are the same host, and
             * an IPv6 host needs its brackets in the address we connect to */
            const char *host = open_b ? rest + 1 : rest;
            int host_len = (int)(open_b ? colon - rest - 2 : colon - rest);
            gboolean v6 = memchr(host, ':', (gsize)host_len) != NULL;
            addr = g_strdup_printf(v6 ? "tcp://[%.*s]:%u" : "tcp://%.*s:%u", host_len, host,
                                   (guint)port);
        } else {
            addr = g_strndup(url, (gsize)(addr_end - url));
        }
    }
    if (addr_end[1] == '\0')
        return url_error(error, url, "the agent id is missing");
    if (address)
        *address = g_steal_pointer(&addr);
    if (aid)
        *aid = g_strdup(addr_end + 1);
    return TRUE;
}

/* aiomas: '', None, '0.0.0.0' and '::' are replaced by socket.getfqdn(). */
static char *
get_fqdn(void)
{
    const char *host = g_get_host_name();
    struct addrinfo hints = {.ai_flags = AI_CANONNAME, .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL;
    char *fqdn = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) == 0 && res) {
        if (res->ai_canonname && strchr(res->ai_canonname, '.'))
            fqdn = g_strdup(res->ai_canonname);
        freeaddrinfo(res);
    }
    return fqdn ? fqdn : g_strdup(host);
}

/* The aid string of a canonical decimal ("0", "17"; not "00", "+1", "1 ") as an index. */
static gboolean
parse_aid(const char *aid, gsize len, guint *out)
{
    if (len == 0 || len > 9 || (len > 1 && aid[0] == '0'))
        return FALSE;
    guint v = 0;
    for (gsize i = 0; i < len; i++) {
        if (!g_ascii_isdigit(aid[i]))
            return FALSE;
        v = v * 10 + (guint)(aid[i] - '0');
    }
    *out = v;
    return TRUE;
}

/* --- the root service: validate_aid and agents/ --------------------------------------------- */

static void
root_validate_aid(gpointer instance, CamasRequest *req, const CamasValue *args,
                  const CamasValue *kwargs)
{
    CamasContainer *c = instance;
    static const char *const names[] = {"aid", NULL};
    CamasValue *v[1];
    GError *error = NULL;
    if (!camas_rpc_parse_args("validate_aid", args, kwargs, names, 1, v, &error)) {
        camas_request_fail(req, error);
        g_error_free(error);
        return;
    }
    CamasAgent *agent = NULL;
    if (camas_value_get_type(v[0]) == CAMAS_VALUE_STR) {
        gsize len;
        const char *aid = camas_value_get_str(v[0], &len);
        guint index;
        if (strlen(aid) == len && parse_aid(aid, len, &index))
            agent = camas_container_get_agent(c, index);
    }
    if (agent)
        camas_request_reply_take(req, camas_value_new_str(agent->klass->name));
    else
        camas_request_reply(req, NULL);
}

static const CamasRpcMethod root_methods[] = {{"validate_aid", root_validate_aid}, {NULL}};
static const char *const root_subs[] = {"agents", NULL};
static const CamasServiceClass root_class = {
    .name = "Container",
    .module = "aiomas.agent",
    .methods = root_methods,
    .sub_services = root_subs,
};

/* --- construction ---------------------------------------------------------------------------- */

static CamasValue *date_serialize(const CamasValue *object, gpointer data, GError **error);
static CamasValue *date_deserialize(const CamasValue *data, gpointer user_data, GError **error);

static gboolean
setup_tls(CamasContainer *c, const CamasContainerOptions *o, GError **error)
{
    if (o->tls) {
        g_return_val_if_fail(o->tls_server == NULL && o->tls_client == NULL, FALSE);
        c->tls_server = camas_tls_context_new_server(o->tls, error);
        if (!c->tls_server)
            return FALSE;
        c->tls_client = camas_tls_context_new_client(o->tls, error);
        return c->tls_client != NULL;
    }
    if (o->tls_server || o->tls_client) {
        if (!o->tls_server || !o->tls_client) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "TLS needs both a server and a client context (or the SSLCerts files)");
            return FALSE;
        }
        c->tls_server = camas_tls_context_ref(o->tls_server);
        c->tls_client = camas_tls_context_ref(o->tls_client);
    }
    return TRUE;
}

/* The base address of agent URLs from the listen address and the address actually bound. */
static char *
make_base_address(const CamasAddress *given, const char *bound_text)
{
    switch (given->kind) {
    case CAMAS_ADDRESS_LOCAL:
        return g_strdup_printf("local://%s", given->path);
    case CAMAS_ADDRESS_IPC:
        return g_strdup_printf("ipc://[%s]", given->path);
    case CAMAS_ADDRESS_TCP:
        break;
    }
    guint16 port = given->port;
    g_autoptr(CamasAddress) bound = camas_address_parse(bound_text, NULL);
    if (bound && bound->kind == CAMAS_ADDRESS_TCP)
        port = bound->port;
    const char *h = given->host ? given->host : "";
    g_autofree char *fqdn = NULL;
    if (h[0] == '\0' || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0)
        h = fqdn = get_fqdn();
    if (strchr(h, ':'))
        return g_strdup_printf("tcp://[%s]:%u", h, port);
    return g_strdup_printf("tcp://%s:%u", h, port);
}

CamasContainer *
camas_container_new(CamasClock *clock, const char *address, const CamasContainerOptions *options,
                    GError **error)
{
    g_return_val_if_fail(clock != NULL && address != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    static const CamasContainerOptions defaults = {0};
    const CamasContainerOptions *o = options ? options : &defaults;

    g_autoptr(CamasAddress) parsed = camas_address_parse(address, error);
    if (!parsed)
        return NULL;
    g_autoptr(CamasCodec) codec = camas_codec_new(o->codec ? o->codec : "json", error);
    if (!codec)
        return NULL;
    for (gsize i = 0; i < o->n_extra_serializers; i++) {
        const CamasSerializerSpec *s = &o->extra_serializers[i];
        g_return_val_if_fail(s->type != NULL && s->serialize && s->deserialize, NULL);
    }
    if (o->connect_timeout < 0 || !isfinite(o->connect_timeout)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                    "connect_timeout must be a finite number of seconds >= 0, not %g",
                    o->connect_timeout);
        return NULL;
    }

    CamasContainer *c = g_new0(CamasContainer, 1);
    camas__live_inc(CAMAS__LIVE_CONTAINER);
    c->ref_count = 1;
    c->owned = TRUE;
    c->closed = TRUE; /* until fully constructed, so a failure below can free it */
    c->loop = camas_clock_get_loop(clock);
    c->clock = camas_clock_ref(clock);
    c->codec = g_steal_pointer(&codec);
    c->kind = parsed->kind;
    c->seed = o->seed;
    c->max_frame_size = o->max_frame_size;
    c->agent_list = g_ptr_array_new();
    c->conns = g_hash_table_new(g_str_hash, g_str_equal);
    c->conn_list = g_ptr_array_new();
    c->classes = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    if (o->connect_timeout > 0)
        camas_time_from_seconds(o->connect_timeout, &c->connect_timeout, NULL);

    /* aiomas: the date serializer first (type id 0), then the user's extras; the RPC layer
     * appends its proxy serializer when the server starts. */
    camas_codec_add_serializer(c->codec, &camas_date_type, date_serialize, date_deserialize, NULL,
                               NULL);
    for (gsize i = 0; i < o->n_extra_serializers; i++) {
        const CamasSerializerSpec *s = &o->extra_serializers[i];
        camas_codec_add_serializer(c->codec, s->type, s->serialize, s->deserialize, s->user_data,
                                   NULL);
    }
    if (!setup_tls(c, o, error))
        goto fail;

    CamasChannelOptions server_options = {.max_frame_size = o->max_frame_size};
    if (c->tls_server) {
        if (parsed->kind != CAMAS_ADDRESS_TCP) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID,
                        "TLS applies only to TCP addresses, not to \"%s\"", address);
            goto fail;
        }
        server_options.transport.tls = c->tls_server;
    }

    camas__container_ref(c); /* held by the root service */
    c->root = camas_service_new(&root_class, c, container_unref_notify);
    c->agents = camas_service_new_dict();
    camas_service_set_sub(c->root, "agents", c->agents, NULL);
    camas_service_unref(c->agents); /* the root owns it */

    c->server = camas_rpc_server_new(c->loop, address, c->codec, c->root, &server_options, NULL,
                                     NULL, NULL, error);
    if (!c->server) {
        g_prefix_error(error, "Cannot start Container(%s): ", address);
        goto fail;
    }
    c->address = make_base_address(parsed, camas_rpc_server_get_address(c->server));
    c->base_url = g_strconcat(c->address, "/", NULL);
    c->name = g_strdup(o->name ? o->name : c->address);
    c->closed = FALSE;
    return c;

fail:
    g_clear_pointer(&c->root, camas_service_unref);
    c->owned = FALSE;
    camas__container_unref(c);
    return NULL;
}

/* --- agents ---------------------------------------------------------------------------------- */

/* The RPC class of an agent type: its methods, with task-style ones routed through the agent
 * layer (camas__agent_task_method) so that their tasks belong to the agent and are cancelled
 * when the container shuts down. */
typedef struct {
    CamasServiceClass klass;
    CamasRpcMethod methods[];
} AgentServiceClass;

static const CamasServiceClass *
service_class_for(CamasContainer *c, const CamasAgentClass *klass)
{
    AgentServiceClass *sc = g_hash_table_lookup(c->classes, klass);
    if (!sc) {
        gsize n = 0;
        while (klass->methods && klass->methods[n].name)
            n++;
        sc = g_malloc0(sizeof *sc + (n + 1) * sizeof(CamasRpcMethod));
        for (gsize i = 0; i < n; i++) {
            const CamasRpcMethod *m = &klass->methods[i];
            sc->methods[i].name = m->name;
            sc->methods[i].func = m->task_func ? camas__agent_task_method : m->func;
        }
        sc->klass.name = klass->name;
        sc->klass.module = klass->module ? klass->module : "camas";
        sc->klass.methods = sc->methods;
        sc->klass.hidden = klass->hidden;
        g_hash_table_insert(c->classes, (gpointer)klass, sc);
    }
    return &sc->klass;
}

static void
agent_service_destroy(gpointer instance)
{
    CamasAgent *agent = instance;
    agent->service = NULL;
    camas_agent_unref(agent);
}

CamasAgent *
camas_container_spawn(CamasContainer *container, const CamasAgentClass *klass,
                      const CamasValue *args, const CamasValue *kwargs, GError **error)
{
    g_return_val_if_fail(container != NULL && klass != NULL, NULL);
    g_return_val_if_fail(args == NULL || camas_value_is_sequence(args), NULL);
    g_return_val_if_fail(kwargs == NULL || camas_value_get_type(kwargs) == CAMAS_VALUE_MAP, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    CamasContainer *c = container;
    if (c->closed) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED,
                    "Cannot spawn %s: Container(%s) was shut down", klass->name, c->address);
        return NULL;
    }
    if (!camas_agent_class_check(klass, error))
        return NULL;
    if (c->agent_list->len >= 999999999u) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE, "Container(%s) is full", c->address);
        return NULL;
    }

    guint32 aid = c->agent_list->len;
    /* "<base_url><aid>" by hand: printf was a fifth of a spawn */
    char digits[10];
    int nd = 0;
    for (guint32 v = aid; nd == 0 || v > 0; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    guint32 offset = (guint32)strlen(c->base_url);
    char *url = g_malloc(offset + (gsize)nd + 1);
    memcpy(url, c->base_url, offset);
    for (int i = 0; i < nd; i++)
        url[offset + i] = digits[nd - 1 - i];
    url[offset + nd] = '\0';
    CamasAgent *agent = camas__agent_new(c, klass, aid, url, offset);
    CamasService *service =
        camas_service_new(service_class_for(c, klass), agent, agent_service_destroy);
    agent->service = service;
    camas_service_set_sub(c->agents, url + offset, service, NULL);
    camas_service_unref(service); /* the dict holds it, and the service holds the agent */
    g_ptr_array_add(c->agent_list, agent);

    CamasTraceRecord rec = {
        .kind = CAMAS_TRACE_SPAWN, .src = url, .method = klass->name, .msg_id = -1};
    camas_loop_trace(c->loop, &rec);

    if (klass->init) {
        /* static, never counted or freed */
        static CamasValue empty_args = CAMAS__VALUE_STATIC_SEQ(NULL, 0);
        static CamasValue empty_kwargs = {
            .type = CAMAS_VALUE_MAP, .flags = CAMAS__VALUE_STATIC, .u.map = {0, NULL}};
        g_autoptr(CamasAgent) hold G_GNUC_UNUSED = camas_agent_ref(agent); /* through init */
        if (!klass->init(agent, args ? args : &empty_args, kwargs ? kwargs : &empty_kwargs,
                         error)) {
            g_ptr_array_index(c->agent_list, aid) = NULL;
            camas_service_set_sub(c->agents, url + offset, NULL, NULL);
            return NULL;
        }
        if (c->closed) { /* init shut the container down */
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED,
                        "Container(%s) was shut down while %s was initialised", c->address,
                        klass->name);
            return NULL;
        }
    }
    return agent;
}

guint
camas_container_get_n_agents(const CamasContainer *container)
{
    g_return_val_if_fail(container != NULL, 0);
    return container->agent_list->len;
}

CamasAgent *
camas_container_get_agent(const CamasContainer *container, guint index)
{
    g_return_val_if_fail(container != NULL, NULL);
    if (index >= container->agent_list->len)
        return NULL;
    return g_ptr_array_index(container->agent_list, index);
}

CamasAgent *
camas_container_lookup(const CamasContainer *container, const char *aid)
{
    g_return_val_if_fail(container != NULL && aid != NULL, NULL);
    guint index;
    if (!parse_aid(aid, strlen(aid), &index))
        return NULL;
    return camas_container_get_agent(container, index);
}

void
camas_container_set_log_func(CamasContainer *container, CamasAgentLogFunc func, gpointer user_data,
                             GDestroyNotify destroy)
{
    g_return_if_fail(container != NULL);
    GDestroyNotify old = container->log_destroy;
    gpointer old_data = container->log_data;
    container->log_func = func;
    container->log_data = user_data;
    container->log_destroy = destroy;
    if (old)
        old(old_data);
}

void
camas__container_log(CamasContainer *container, CamasAgent *agent, const char *line)
{
    if (container->log_func)
        container->log_func(agent, line, container->log_data);
}

/* --- connections ----------------------------------------------------------------------------- */

typedef struct {
    gint ref_count;
    CamasContainer *container; /* internal reference */
    char *key;                 /* the remote address as written in URLs */
    CamasFuture *opening;      /* the pending camas_rpc_open() (owned), or NULL */
    CamasRpcConnection *conn;  /* owned once open */
    CamasProxy *root;          /* the remote root (owned once open) */
    GHashTable *validated;     /* aids validate_aid confirmed on this connection */
    GPtrArray *waiters;        /* ConnectOp waiting for the connection (owned) */
    gboolean dead;             /* no longer in the cache (reset, failed, or shut down) */
} ConnEntry;

typedef struct {
    CamasContainer *container; /* internal reference */
    ConnEntry *entry;          /* reference */
    char *aid;
    CamasFuture *result; /* owned */
} ConnectOp;

static ConnEntry *
entry_ref(ConnEntry *e)
{
    e->ref_count++;
    return e;
}

static void
entry_drop_connection(ConnEntry *e)
{
    if (e->conn) {
        camas_rpc_connection_set_reset_func(e->conn, NULL, NULL, NULL);
        camas_rpc_connection_close(e->conn);
        g_clear_pointer(&e->conn, camas_rpc_connection_unref);
    }
    g_clear_pointer(&e->root, camas_proxy_unref);
}

static void
entry_unref(gpointer data)
{
    ConnEntry *e = data;
    if (--e->ref_count > 0)
        return;
    g_assert(e->waiters->len == 0);
    entry_drop_connection(e);
    g_clear_pointer(&e->opening, camas_future_unref);
    g_ptr_array_unref(e->waiters);
    g_hash_table_unref(e->validated);
    g_free(e->key);
    camas__container_unref(e->container);
    g_free(e);
}

static void
op_free(gpointer data)
{
    ConnectOp *op = data;
    camas_future_unref(op->result);
    entry_unref(op->entry);
    g_free(op->aid);
    camas__container_unref(op->container);
    g_free(op);
}

/* Removes @e from the cache (a later connect opens a new connection). */
static void
entry_forget(ConnEntry *e)
{
    if (e->dead)
        return;
    e->dead = TRUE;
    CamasContainer *c = e->container;
    if (g_hash_table_lookup(c->conns, e->key) == e)
        g_hash_table_remove(c->conns, e->key);
    if (g_ptr_array_remove(c->conn_list, e))
        entry_unref(e);
}

static void
fail_waiters(ConnEntry *e, const GError *error)
{
    g_autoptr(GPtrArray) waiters = e->waiters;
    e->waiters = g_ptr_array_new();
    for (guint i = 0; i < waiters->len; i++) {
        ConnectOp *op = g_ptr_array_index(waiters, i);
        camas_future_set_error(op->result, g_error_copy(error));
        op_free(op);
    }
}

static void
op_finish(ConnectOp *op)
{
    /* the answer can come after the connection closed (a container shutting down runs what
     * was due): there is nothing left to make a proxy of */
    if (!op->entry->root) {
        camas_future_set_error(op->result,
                               g_error_new(CAMAS_ERROR, CAMAS_ERROR_CLOSED,
                                           "the connection to Container(%s) closed",
                                           op->entry->key));
        return;
    }
    g_autofree char *path = g_strconcat("agents/", op->aid, NULL);
    g_autoptr(CamasProxy) proxy = camas_proxy_get_sub(op->entry->root, path);
    camas_future_set_result(op->result, camas_proxy_to_value(proxy));
}

static void
on_validated(CamasFuture *f, gpointer data)
{
    ConnectOp *op = data;
    if (camas_future_is_done(op->result)) /* cancelled by the caller */
        return;
    g_autoptr(CamasValue) value = NULL;
    GError *error = NULL;
    if (!camas_future_propagate(f, &value, &error)) {
        camas_future_set_error(op->result, error);
        return;
    }
    if (value && camas_value_get_type(value) == CAMAS_VALUE_STR) {
        g_hash_table_add(op->entry->validated, g_strdup(op->aid));
        op_finish(op);
        return;
    }
    if (!value || camas_value_is_null(value)) {
        camas_future_set_error(op->result,
                               g_error_new(CAMAS_ERROR, CAMAS_ERROR_LOOKUP,
                                           "Agent \"%s\" does not exist in Container(%s)", op->aid,
                                           op->entry->key));
        return;
    }
    g_autofree char *repr = camas_value_repr(value);
    camas_future_set_error(op->result,
                           g_error_new(CAMAS_ERROR, CAMAS_ERROR_PROTOCOL,
                                       "Container(%s) answered validate_aid(\"%s\") with %s "
                                       "instead of a class name or None",
                                       op->entry->key, op->aid, repr));
}

/* The connection is open: validate the aid (once per connection) and make the proxy. */
static void
op_validate(ConnectOp *op)
{
    if (camas_future_is_done(op->result)) {
        op_free(op);
        return;
    }
    if (g_hash_table_contains(op->entry->validated, op->aid)) {
        op_finish(op);
        op_free(op);
        return;
    }
    g_autoptr(CamasValue) args = camas_value_build("[s]", op->aid);
    g_autoptr(CamasFuture) f = camas_proxy_call(op->entry->root, "validate_aid", args, NULL);
    camas_future_add_callback(f, on_validated, op, op_free);
}

static void
on_reset(CamasRpcConnection *conn, const GError *error, gpointer data)
{
    ConnEntry *e = data;
    /* The peer went away: later connects open a new connection; proxies of this one fail
     * with CAMAS_ERROR_CLOSED (the channel failed their pending calls already). */
    camas_rpc_connection_set_reset_func(conn, NULL, NULL, NULL);
    entry_ref(e);
    entry_forget(e);
    entry_unref(e);
}

static void
on_open_done(CamasFuture *f, gpointer data)
{
    ConnEntry *e = data;
    GError *error = NULL;
    CamasRpcConnection *conn = camas_rpc_open_finish(f, &error);
    g_clear_pointer(&e->opening, camas_future_unref);
    if (e->dead) { /* shut down (or forgotten) while opening */
        if (conn) {
            camas_rpc_connection_close(conn);
            camas_rpc_connection_unref(conn);
        }
        g_clear_error(&error);
        return;
    }
    if (!conn) {
        entry_forget(e);
        fail_waiters(e, error);
        g_error_free(error);
        return;
    }
    e->conn = conn;
    camas_rpc_connection_set_reset_func(conn, on_reset, e, NULL);
    camas_channel_set_trace_names(camas_rpc_connection_get_channel(conn), e->container->address,
                                  e->key);
    e->root = camas_rpc_connection_get_remote(conn);
    g_autoptr(GPtrArray) waiters = e->waiters;
    e->waiters = g_ptr_array_new();
    for (guint i = 0; i < waiters->len; i++)
        op_validate(g_ptr_array_index(waiters, i));
}

CamasFuture *
camas_container_connect(CamasContainer *container, const char *url, GError **error)
{
    g_return_val_if_fail(container != NULL && url != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    CamasContainer *c = container;
    g_autofree char *key = NULL;
    g_autofree char *aid = NULL;
    if (!camas_agent_url_parse(url, &key, &aid, error))
        return NULL;
    if (c->closed) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED,
                    "Cannot connect to %s: Container(%s) was shut down", url, c->address);
        return NULL;
    }
    ConnEntry *e = g_hash_table_lookup(c->conns, key);
    if (!e) {
        CamasChannelOptions options = {.max_frame_size = c->max_frame_size};
        if (c->connect_timeout > 0)
            options.connect_deadline = camas_loop_now(c->loop) + c->connect_timeout;
        if (c->tls_client && g_str_has_prefix(key, "tcp://"))
            options.transport.tls = c->tls_client;
        /* names this end for LocalQueue link models; the entry below keeps c alive */
        options.transport.local_address = c->address;
        CamasFuture *opening = camas_rpc_open(c->loop, key, c->codec, c->root, &options, error);
        if (!opening)
            return NULL;
        e = g_new0(ConnEntry, 1);
        e->ref_count = 1; /* held by conn_list */
        camas__container_ref(c);
        e->container = c;
        e->key = g_steal_pointer(&key);
        e->validated = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        e->waiters = g_ptr_array_new();
        e->opening = opening;
        g_hash_table_insert(c->conns, e->key, e);
        g_ptr_array_add(c->conn_list, e);
        camas_future_add_callback(opening, on_open_done, entry_ref(e), entry_unref);
    }
    ConnectOp *op = g_new0(ConnectOp, 1);
    camas__container_ref(c);
    op->container = c;
    op->entry = entry_ref(e);
    op->aid = g_steal_pointer(&aid);
    op->result = camas_future_new(c->loop);
    CamasFuture *result = camas_future_ref(op->result);
    if (e->conn)
        op_validate(op);
    else
        g_ptr_array_add(e->waiters, op);
    return result;
}

CamasProxy *
camas_container_connect_finish(CamasFuture *future, GError **error)
{
    g_return_val_if_fail(future != NULL && camas_future_is_done(future), NULL);
    g_autoptr(CamasValue) value = NULL;
    if (!camas_future_propagate(future, &value, error))
        return NULL;
    CamasProxy *proxy = value ? camas_value_get_proxy(value) : NULL;
    g_return_val_if_fail(proxy != NULL, NULL);
    return camas_proxy_ref(proxy);
}

CamasProxy *
camas_container_connect_await(CamasContainer *container, const char *url, GError **error)
{
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);
    g_autoptr(CamasFuture) f = camas_container_connect(container, url, error);
    if (!f)
        return NULL;
    if (!camas_task_await(f, NULL, error))
        return NULL;
    return camas_container_connect_finish(f, error);
}

guint
camas_container_get_n_connections(const CamasContainer *container)
{
    g_return_val_if_fail(container != NULL, 0);
    return container->conn_list->len;
}

/* --- shutdown -------------------------------------------------------------------------------- */

void
camas_container_shutdown(CamasContainer *container)
{
    g_return_if_fail(container != NULL);
    CamasContainer *c = container;
    if (c->closed)
        return;
    c->closed = TRUE;
    camas__container_ref(c);

    /* 1. Agents stop acting: their tasks are cancelled (they unwind from the loop). */
    for (guint i = 0; i < c->agent_list->len; i++) {
        CamasAgent *a = g_ptr_array_index(c->agent_list, i);
        if (a)
            camas__agent_cancel_tasks(a);
    }
    /* 2. The server and every accepted connection close; their pending calls fail. */
    g_clear_pointer(&c->server, camas_rpc_server_free);
    /* 3. Outgoing connections close in creation order; pending connects fail. */
    g_autoptr(GError) closed =
        g_error_new(CAMAS_ERROR, CAMAS_ERROR_CLOSED, "Container(%s) was shut down", c->address);
    g_autoptr(GPtrArray) conns = c->conn_list;
    c->conn_list = g_ptr_array_new();
    g_hash_table_remove_all(c->conns);
    for (guint i = 0; i < conns->len; i++) {
        ConnEntry *e = g_ptr_array_index(conns, i);
        e->dead = TRUE;
        fail_waiters(e, closed);
        if (e->opening)
            camas_future_cancel(e->opening);
        entry_drop_connection(e);
        entry_unref(e);
    }
    /* 4. Agents leave in id order; each is finalized when its last reference goes. */
    for (guint i = 0; i < c->agent_list->len; i++) {
        CamasAgent *a = g_ptr_array_index(c->agent_list, i);
        if (!a)
            continue;
        g_ptr_array_index(c->agent_list, i) = NULL;
        char aid[16]; /* copied: removing the entry may finalize the agent and free its URL */
        g_strlcpy(aid, a->url + a->aid_offset, sizeof aid);
        camas_service_set_sub(c->agents, aid, NULL, NULL);
    }
    g_clear_pointer(&c->root, camas_service_unref);
    /* 5. Outside any event, let the cancelled tasks unwind now (aiomas' shutdown also runs the
     * loop until everything closed). */
    while (c->n_tasks > 0 && camas_loop_get_current_seq(c->loop) == 0)
        if (camas_loop_run_due(c->loop) == 0)
            break;
    camas__container_unref(c);
}

void
camas_container_free(CamasContainer *container)
{
    if (!container)
        return;
    g_return_if_fail(container->owned);
    camas_container_shutdown(container);
    container->owned = FALSE;
    camas__container_unref(container);
}

gboolean
camas_container_is_shut_down(const CamasContainer *container)
{
    g_return_val_if_fail(container != NULL, TRUE);
    return container->closed;
}

CamasClock *
camas_container_get_clock(const CamasContainer *container)
{
    g_return_val_if_fail(container != NULL, NULL);
    return container->clock;
}

CamasLoop *
camas_container_get_loop(const CamasContainer *container)
{
    g_return_val_if_fail(container != NULL, NULL);
    return container->loop;
}

CamasCodec *
camas_container_get_codec(const CamasContainer *container)
{
    g_return_val_if_fail(container != NULL, NULL);
    return container->codec;
}

const char *
camas_container_get_address(const CamasContainer *container)
{
    g_return_val_if_fail(container != NULL, NULL);
    return container->address;
}

const char *
camas_container_get_name(const CamasContainer *container)
{
    g_return_val_if_fail(container != NULL, NULL);
    return container->name;
}

/* --- the date serializer (the type itself is container-date.c) ------------------------------ */

static CamasValue *
date_serialize(const CamasValue *object, gpointer data, GError **error)
{
    gint64 ns;
    gint32 offset;
    if (!camas_date_value_get(object, &ns, &offset)) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC, "not a date");
        return NULL;
    }
    char *text = camas_date_format(ns, offset);
    CamasValue *v = camas_value_new_str(text);
    g_free(text);
    return v;
}

static CamasValue *
date_deserialize(const CamasValue *data, gpointer user_data, GError **error)
{
    if (camas_value_get_type(data) != CAMAS_VALUE_STR) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC, "a date must travel as a str, not %s",
                    camas_value_type_name(camas_value_get_type(data)));
        return NULL;
    }
    GError *e = NULL;
    CamasValue *v = camas_date_value_parse(camas_value_get_str(data, NULL), &e);
    if (!v) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CODEC, "bad date: %s", e->message);
        g_error_free(e);
    }
    return v;
}
