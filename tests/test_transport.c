/* SPDX-License-Identifier: MIT */
/*
 * The transports (transports/): addresses, then ONE conformance table run over every
 * transport (local, tcp, ipc, tls), then what is particular to each: LocalQueue determinism
 * and registry, IPv6 and peer names, Unix socket files, TLS settings and TLS failures.
 *
 * Socket tests run the loop on a GMainContext the test creates and iterate it until the
 * awaited condition holds or a deadline passes (failing then); nothing sleeps on wall time.
 * LocalQueue tests run the loop in virtual time, step by step.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <camas/loop.h>
#include <camas/transport.h>

#include "certs.h"
#include "leakcheck.h"
#include "live-private.h"
#include "socket-private.h"
#include "transport-private.h"

TestSuite(transport, .fini = camas_test_check_leaks);

/* --- addresses ----------------------------------------------------------------------------- */

static CamasAddress *
parse_ok(const char *text)
{
    g_autoptr(GError) error = NULL;
    CamasAddress *a = camas_address_parse(text, &error);
    cr_assert_not_null(a, "parsing '%s': %s", text, error ? error->message : "");
    return a;
}

static void
assert_parse_fails(const char *text, const char *needle)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasAddress) a = camas_address_parse(text, &error);
    cr_assert_null(a, "'%s' should not parse", text);
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID), "'%s'", text);
    cr_assert(strstr(error->message, needle), "'%s': message '%s' should mention '%s'", text,
              error->message, needle);
}

Test(transport, address_forms_parse_to_kind_host_port_and_path)
{
    static const struct {
        const char *text;
        CamasAddressKind kind;
        const char *host;
        guint16 port;
        const char *path;
        gboolean tls;
        const char *canonical;
    } cases[] = {
        {"tcp://127.0.0.1:5555", CAMAS_ADDRESS_TCP, "127.0.0.1", 5555, NULL, FALSE,
         "tcp://127.0.0.1:5555"},
        {"tcp://[::1]:80", CAMAS_ADDRESS_TCP, "::1", 80, NULL, FALSE, "tcp://[::1]:80"},
        {"tcp://localhost:0", CAMAS_ADDRESS_TCP, "localhost", 0, NULL, FALSE,
         "tcp://localhost:0"},
        {"localhost:65535", CAMAS_ADDRESS_TCP, "localhost", 65535, NULL, FALSE,
         "tcp://localhost:65535"},
        {"[fe80::1%eth0]:7", CAMAS_ADDRESS_TCP, "fe80::1%eth0", 7, NULL, FALSE,
         "tcp://[fe80::1%eth0]:7"},
        {"tcp://:5555", CAMAS_ADDRESS_TCP, "", 5555, NULL, FALSE, "tcp://:5555"},
        {"tls://example.org:443", CAMAS_ADDRESS_TCP, "example.org", 443, NULL, TRUE,
         "tls://example.org:443"},
        {"ipc://[/tmp/a b/s.sock]", CAMAS_ADDRESS_IPC, NULL, 0, "/tmp/a b/s.sock", FALSE,
         "ipc://[/tmp/a b/s.sock]"},
        {"ipc:///tmp/s", CAMAS_ADDRESS_IPC, NULL, 0, "/tmp/s", FALSE, "ipc://[/tmp/s]"},
        {"unix:rel/s", CAMAS_ADDRESS_IPC, NULL, 0, "rel/s", FALSE, "ipc://[rel/s]"},
        {"local://q-1", CAMAS_ADDRESS_LOCAL, NULL, 0, "q-1", FALSE, "local://q-1"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(CamasAddress) a = parse_ok(cases[i].text);
        cr_assert_eq(a->kind, cases[i].kind, "%s", cases[i].text);
        cr_assert_str_eq(a->host ? a->host : "(null)",
                         cases[i].host ? cases[i].host : "(null)", "%s", cases[i].text);
        cr_assert_eq(a->port, cases[i].port, "%s", cases[i].text);
        cr_assert_str_eq(a->path ? a->path : "(null)",
                         cases[i].path ? cases[i].path : "(null)", "%s", cases[i].text);
        cr_assert_eq(!!a->tls, cases[i].tls, "%s", cases[i].text);
        g_autofree char *s = camas_address_to_string(a);
        cr_assert_str_eq(s, cases[i].canonical);
        /* The canonical text parses back to an equal address. */
        g_autoptr(CamasAddress) b = parse_ok(s);
        cr_assert(camas_address_equal(a, b), "%s", s);
        g_autoptr(CamasAddress) c = camas_address_copy(a);
        cr_assert(camas_address_equal(a, c), "%s", s);
    }
}

Test(transport, bad_addresses_name_what_is_wrong)
{
    assert_parse_fails("", "empty address");
    assert_parse_fails("udp://1.2.3.4:5", "unknown scheme 'udp'");
    assert_parse_fails("udp://1.2.3.4:5", "tcp://");
    assert_parse_fails("tcp://127.0.0.1", "missing port");
    assert_parse_fails("tcp://127.0.0.1:", "missing port");
    assert_parse_fails("tcp://127.0.0.1:65536", "bad port '65536'");
    assert_parse_fails("tcp://127.0.0.1:-1", "bad port");
    assert_parse_fails("tcp://127.0.0.1:12x", "bad port '12x'");
    assert_parse_fails("tcp://127.0.0.1:000001", "bad port");
    assert_parse_fails("tcp://[::1:5", "unbalanced '['");
    assert_parse_fails("tcp://::1]:5", "brackets");
    assert_parse_fails("tcp://::1:5", "IPv6 host needs brackets");
    assert_parse_fails("tcp://[::1]", "missing port");
    assert_parse_fails("tcp://[::1]x:5", "expected ':'");
    assert_parse_fails("tcp://a/b:5", "bad character '/'");
    assert_parse_fails("ipc://", "empty socket path");
    assert_parse_fails("ipc://[]", "empty socket path");
    assert_parse_fails("ipc://[/tmp/s", "unbalanced '['");
    assert_parse_fails("ipc://[/tmp/s]/x", "unexpected '/x' after ']'");
    assert_parse_fails("unix:", "empty socket path");
    assert_parse_fails("local://", "empty queue id");
    assert_parse_fails("local://a/b", "must not contain '/'");
    assert_parse_fails("nohost", "missing port");
}

Test(transport, address_equality_compares_every_field)
{
    g_autoptr(CamasAddress) a = parse_ok("tcp://h:1");
    g_autoptr(CamasAddress) b = parse_ok("tls://h:1");
    g_autoptr(CamasAddress) c = parse_ok("tcp://h:2");
    g_autoptr(CamasAddress) d = parse_ok("tcp://g:1");
    g_autoptr(CamasAddress) e = parse_ok("local://h");
    g_autoptr(CamasAddress) f = parse_ok("h:1");
    cr_assert_not(camas_address_equal(a, b));
    cr_assert_not(camas_address_equal(a, c));
    cr_assert_not(camas_address_equal(a, d));
    cr_assert_not(camas_address_equal(a, e));
    cr_assert(camas_address_equal(a, f));
}

/* --- the harness --------------------------------------------------------------------------- */

typedef enum { K_LOCAL, K_TCP, K_IPC, K_TLS } KindId;

typedef struct {
    KindId id;
    const char *name;
} Kind;

typedef struct _Env Env;

/* One end of a connection as the test sees it: everything its callbacks reported. */
typedef struct {
    Env *env;
    char label[24];
    CamasPipe *pipe;      /* NULL until dialed / after the test closed it */
    CamasPipe *pending;   /* the pending dial */
    gboolean dial_done;
    GError *dial_error;
    GByteArray *rx;
    int closed;           /* times `closed` ran */
    GError *closed_error;
    GString *writable;    /* "F", "T" per report */
    gboolean writable_now;
    gboolean no_start;    /* accepted/dialed pipes are not started by the harness */
    gboolean echo;        /* sends back whatever it receives */
} Conn;

struct _Env {
    Kind kind;
    CamasLoop *loop;
    GMainContext *ctx;   /* sockets only */
    GSource *tick;       /* wakes the context regularly so deadlines are checked */
    char *tmpdir;        /* sockets: Unix socket files go here */
    CamasTestCerts *certs;
    CamasTlsContext *server_tls;
    CamasTlsContext *client_tls;
    CamasListener *listener;
    CamasAddress *dial_address;
    CamasTransportOptions server_opts;
    CamasTransportOptions client_opts;
    GPtrArray *accepted; /* Conn*, server ends in accept order */
    GPtrArray *conns;    /* every Conn, freed with the env */
    GString *log;        /* events as "seq what", for determinism checks */
    gboolean accept_no_start;
    gboolean echo; /* server ends echo */
    int listener_errors;
    GString *listener_error_log;
};

static void send_bytes(Conn *c, const void *data, gsize len);

static void
conn_received(CamasPipe *pipe, const guint8 *data, gsize len, gpointer user_data)
{
    Conn *c = user_data;
    cr_assert_eq(c->pipe, pipe);
    cr_assert_gt(len, 0);
    cr_assert_eq(c->closed, 0, "%s: data after closed", c->label);
    g_byte_array_append(c->rx, data, (guint)len);
    if (c->echo)
        send_bytes(c, data, len);
    g_string_append_printf(c->env->log, "%" G_GUINT64_FORMAT " %s recv %.*s\n",
                           camas_loop_get_current_seq(c->env->loop), c->label,
                           (int)MIN(len, 32), (const char *)data);
}

static void
conn_closed(CamasPipe *pipe, const GError *error, gpointer user_data)
{
    Conn *c = user_data;
    cr_assert_eq(c->pipe, pipe);
    cr_assert_neq(camas_loop_get_current_seq(c->env->loop), 0, "closed outside an event");
    c->closed++;
    if (error)
        c->closed_error = g_error_copy(error);
    g_string_append_printf(c->env->log, "%" G_GUINT64_FORMAT " %s closed %s\n",
                           camas_loop_get_current_seq(c->env->loop), c->label,
                           error ? error->message : "eof");
}

static void
conn_writable(CamasPipe *pipe, gboolean writable, gpointer user_data)
{
    Conn *c = user_data;
    cr_assert_neq(camas_loop_get_current_seq(c->env->loop), 0, "writable outside an event");
    cr_assert_neq(writable, c->writable_now, "%s: writable reported twice", c->label);
    c->writable_now = writable;
    g_string_append_c(c->writable, writable ? 'T' : 'F');
}

static const CamasPipeCallbacks conn_callbacks = {
    .received = conn_received,
    .closed = conn_closed,
    .writable = conn_writable,
};

static Conn *
conn_new(Env *env, const char *label)
{
    Conn *c = g_new0(Conn, 1);
    c->env = env;
    g_strlcpy(c->label, label, sizeof c->label);
    c->rx = g_byte_array_new();
    c->writable = g_string_new(NULL);
    c->writable_now = TRUE;
    g_ptr_array_add(env->conns, c);
    return c;
}

static void
conn_start(Conn *c)
{
    camas__pipe_start(c->pipe, &conn_callbacks, c);
}

static void
conn_close(Conn *c)
{
    if (c->pipe)
        camas__pipe_close(g_steal_pointer(&c->pipe));
}

static void
conn_free(gpointer p)
{
    Conn *c = p;
    conn_close(c);
    g_byte_array_unref(c->rx);
    g_string_free(c->writable, TRUE);
    g_clear_error(&c->dial_error);
    g_clear_error(&c->closed_error);
    g_free(c);
}

static void
on_accept(CamasListener *listener, CamasPipe *pipe, gpointer user_data)
{
    Env *env = user_data;
    cr_assert_neq(camas_loop_get_current_seq(env->loop), 0, "accept outside an event");
    char label[24];
    g_snprintf(label, sizeof label, "s%u", env->accepted->len);
    Conn *c = conn_new(env, label);
    c->pipe = pipe;
    c->echo = env->echo;
    g_ptr_array_add(env->accepted, c);
    g_string_append_printf(env->log, "%" G_GUINT64_FORMAT " accept %s\n",
                           camas_loop_get_current_seq(env->loop), label);
    if (!env->accept_no_start)
        conn_start(c);
}

static void
on_listener_error(CamasListener *listener, const char *peername, const GError *error,
                  gpointer user_data)
{
    Env *env = user_data;
    env->listener_errors++;
    g_string_append_printf(env->listener_error_log, "%s: %s\n", peername, error->message);
}

static gboolean
tick(gpointer data)
{
    return G_SOURCE_CONTINUE;
}

/* Enough file descriptors for the many-connection tests. */
static void
raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static CamasTlsContext *
tls_context(const CamasTlsCerts *certs, gboolean server)
{
    g_autoptr(GError) error = NULL;
    CamasTlsContext *c = server ? camas_tls_context_new_server(certs, &error)
                                : camas_tls_context_new_client(certs, &error);
    cr_assert_not_null(c, "TLS context: %s", error ? error->message : "");
    return c;
}

static Env *
env_new(KindId kind)
{
    static const char *const names[] = {"local", "tcp", "ipc", "tls"};
    Env *env = g_new0(Env, 1);
    env->kind.id = kind;
    env->kind.name = names[kind];
    env->loop = camas_loop_new();
    env->accepted = g_ptr_array_new();
    env->conns = g_ptr_array_new_with_free_func(conn_free);
    env->log = g_string_new(NULL);
    env->listener_error_log = g_string_new(NULL);
    if (kind != K_LOCAL) {
        raise_fd_limit();
        env->ctx = g_main_context_new();
        camas_loop_attach(env->loop, env->ctx);
        env->tick = g_timeout_source_new(50);
        g_source_set_callback(env->tick, tick, NULL, NULL);
        g_source_attach(env->tick, env->ctx);
        g_autoptr(GError) error = NULL;
        env->tmpdir = g_dir_make_tmp("camas-transport-XXXXXX", &error);
        cr_assert_not_null(env->tmpdir, "%s", error ? error->message : "");
    }
    if (kind == K_TLS) {
        g_autoptr(GError) error = NULL;
        env->certs = camas_test_certs_new(&error);
        cr_assert_not_null(env->certs, "%s", error ? error->message : "");
        CamasTlsCerts server = camas_test_certs_server(env->certs);
        CamasTlsCerts client = camas_test_certs_client(env->certs);
        env->server_tls = tls_context(&server, TRUE);
        env->client_tls = tls_context(&client, FALSE);
        env->server_opts.tls = env->server_tls;
        env->client_opts.tls = env->client_tls;
    }
    return env;
}

static const gint64 wait_seconds = 20;

static void env_iterate(Env *env, gint64 deadline, const char *what);

static void
env_free(Env *env)
{
    g_ptr_array_unref(env->conns);
    g_ptr_array_unref(env->accepted);
    g_clear_pointer(&env->listener, camas__listener_close);
    g_clear_pointer(&env->dial_address, camas_address_free);
    if (env->ctx) {
        /* Closed sockets linger until flushed and the peer's end arrived: let them finish. */
        gint64 deadline = g_get_monotonic_time() + wait_seconds * G_USEC_PER_SEC;
        while (g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_PIPE]) > 0)
            env_iterate(env, deadline, "closed sockets to finish lingering");
    }
    camas_loop_free(env->loop);
    if (env->ctx) {
        g_source_destroy(env->tick);
        g_source_unref(env->tick);
        g_main_context_unref(env->ctx);
        /* Every listener removed its socket file: the directory is empty. */
        cr_assert_eq(g_rmdir(env->tmpdir), 0, "%s: %s", env->tmpdir, g_strerror(errno));
        g_free(env->tmpdir);
    }
    g_clear_pointer(&env->server_tls, camas_tls_context_unref);
    g_clear_pointer(&env->client_tls, camas_tls_context_unref);
    g_clear_pointer(&env->certs, camas_test_certs_free);
    g_string_free(env->log, TRUE);
    g_string_free(env->listener_error_log, TRUE);
    g_free(env);
}

/* Runs one step: the next event (LocalQueue, virtual time) or one context iteration. */
static void
env_iterate(Env *env, gint64 deadline, const char *what)
{
    if (env->ctx == NULL) {
        cr_assert(camas_loop_step(env->loop), "nothing left to run while waiting for: %s", what);
        return;
    }
    cr_assert_lt(g_get_monotonic_time(), deadline, "deadline passed waiting for: %s", what);
    g_main_context_iteration(env->ctx, TRUE);
}

#define WAIT(env, cond)                                                                        \
    do {                                                                                       \
        gint64 deadline_ = g_get_monotonic_time() + wait_seconds * G_USEC_PER_SEC;             \
        while (!(cond))                                                                        \
            env_iterate((env), deadline_, #cond);                                              \
    } while (0)

/* Runs what is due now without waiting (LocalQueue: everything pending). */
static void
env_settle(Env *env)
{
    if (env->ctx == NULL) {
        camas_loop_run(env->loop);
        return;
    }
    while (g_main_context_iteration(env->ctx, FALSE))
        ;
}

static void
env_listen_at(Env *env, const CamasAddress *address)
{
    g_autoptr(GError) error = NULL;
    env->listener = camas__transport_listen(env->loop, address, &env->server_opts, on_accept,
                                            env, &error);
    cr_assert_not_null(env->listener, "listen: %s", error ? error->message : "");
    camas__listener_set_error_func(env->listener, on_listener_error, env);
    const CamasAddress *bound = camas__listener_get_address(env->listener);
    env->dial_address = camas_address_copy(bound);
}

/* A listener at a fresh address of the env's transport. */
static void
env_listen(Env *env)
{
    g_autoptr(CamasAddress) address = NULL;
    switch (env->kind.id) {
    case K_LOCAL:
        address = parse_ok("local://conformance");
        break;
    case K_TCP:
        address = parse_ok("tcp://127.0.0.1:0");
        break;
    case K_TLS:
        address = parse_ok("tls://127.0.0.1:0");
        break;
    case K_IPC: {
        g_autofree char *text = g_strdup_printf("ipc://[%s/server.sock]", env->tmpdir);
        address = parse_ok(text);
        break;
    }
    }
    env_listen_at(env, address);
}

static void
on_dial(CamasPipe *pipe, const GError *error, gpointer user_data)
{
    Conn *c = user_data;
    cr_assert_neq(camas_loop_get_current_seq(c->env->loop), 0, "dial done outside an event");
    cr_assert_not(c->dial_done, "%s: dial reported twice", c->label);
    cr_assert((pipe == NULL) != (error == NULL));
    c->dial_done = TRUE;
    c->pending = NULL;
    g_string_append_printf(c->env->log, "%" G_GUINT64_FORMAT " dial %s %s\n",
                           camas_loop_get_current_seq(c->env->loop), c->label,
                           error ? error->message : "ok");
    if (error) {
        c->dial_error = g_error_copy(error);
        return;
    }
    c->pipe = pipe;
    if (!c->no_start)
        conn_start(c);
}

/* Starts a dial; the result arrives later. */
static Conn *
env_dial_start(Env *env, const char *label, const CamasAddress *address)
{
    Conn *c = conn_new(env, label);
    c->pending = camas__transport_dial(env->loop, address ? address : env->dial_address,
                                       &env->client_opts, on_dial, c);
    cr_assert_not_null(c->pending);
    cr_assert_not(c->dial_done, "dial called back before returning");
    return c;
}

static Conn *
env_dial(Env *env, const char *label)
{
    Conn *c = env_dial_start(env, label, NULL);
    WAIT(env, c->dial_done);
    cr_assert_null(c->dial_error, "%s: dial failed: %s", label,
                   c->dial_error ? c->dial_error->message : "");
    return c;
}

static void
send_bytes(Conn *c, const void *data, gsize len)
{
    g_autoptr(GBytes) b = g_bytes_new(data, len);
    g_autoptr(GError) error = NULL;
    cr_assert(camas__pipe_send(c->pipe, b, &error), "%s: send: %s", c->label,
              error ? error->message : "");
}

static void
send_str(Conn *c, const char *s)
{
    send_bytes(c, s, strlen(s));
}

static gboolean
rx_equals(const Conn *c, const char *s)
{
    return c->rx->len == strlen(s) && memcmp(c->rx->data, s, c->rx->len) == 0;
}

/* The n-th accepted server end, once it exists. */
static Conn *
env_accepted(Env *env, guint n)
{
    WAIT(env, env->accepted->len > n);
    return env->accepted->pdata[n];
}

/* --- the conformance table ----------------------------------------------------------------- */

static Kind conformance_kinds[] = {
    {K_LOCAL, "local"},
    {K_TCP, "tcp"},
    {K_IPC, "ipc"},
    {K_TLS, "tls"},
};

#define CONFORMANCE(name)                                                                      \
    static void name##_body(KindId kind);                                                      \
    ParameterizedTestParameters(transport, name)                                               \
    {                                                                                          \
        return cr_make_param_array(Kind, conformance_kinds, G_N_ELEMENTS(conformance_kinds));  \
    }                                                                                          \
    ParameterizedTest(Kind *k, transport, name)                                                \
    {                                                                                          \
        name##_body(k->id);                                                                    \
    }                                                                                          \
    static void name##_body(KindId kind)

CONFORMANCE(connect_accept_and_bytes_both_ways)
{
    Env *env = env_new(kind);
    env_listen(env);
    Conn *c = env_dial(env, "c0");
    Conn *s = env_accepted(env, 0);
    send_str(c, "hello");
    send_str(s, "world!");
    WAIT(env, rx_equals(s, "hello") && rx_equals(c, "world!"));
    cr_assert_eq(c->closed + s->closed, 0);
    cr_assert_str_eq(camas__pipe_get_transport_name(c->pipe),
                     kind == K_TLS ? "tcp" : env->kind.name);
    env_free(env);
}

/* Bytes arrive unchanged and in order whatever the chunking: 1-byte writes, odd sizes, and
 * one large write, both ways at once. */
CONFORMANCE(arbitrary_chunking_keeps_bytes_and_order)
{
    Env *env = env_new(kind);
    env_listen(env);
    Conn *c = env_dial(env, "c0");
    Conn *s = env_accepted(env, 0);
    const gsize total = 1 << 20;
    g_autofree guint8 *data = g_malloc(total);
    GRand *rand = g_rand_new_with_seed(42);
    for (gsize i = 0; i < total; i++)
        data[i] = (guint8)g_rand_int(rand);
    gsize off = 0;
    for (int i = 0; i < 100; i++, off++) /* 100 single bytes */
        send_bytes(c, data + off, 1);
    while (off < total / 2) {
        gsize n = MIN(total / 2 - off, (gsize)g_rand_int_range(rand, 1, 70000));
        send_bytes(c, data + off, n);
        off += n;
    }
    send_bytes(c, data + off, total - off);
    send_bytes(s, data, total); /* the other way, one write */
    g_rand_free(rand);
    WAIT(env, s->rx->len >= total && c->rx->len >= total);
    cr_assert_eq(s->rx->len, total);
    cr_assert_eq(c->rx->len, total);
    cr_assert_arr_eq(s->rx->data, data, total);
    cr_assert_arr_eq(c->rx->data, data, total);
    env_free(env);
}

static gboolean
all_echoed(GPtrArray *clients)
{
    for (guint i = 0; i < clients->len; i++) {
        Conn *c = clients->pdata[i];
        if (c->rx->len < strlen(c->label) + 1)
            return FALSE;
    }
    return TRUE;
}

/* Many clients at once: each gets back exactly what it sent (its own label). */
CONFORMANCE(many_concurrent_clients_each_get_their_own_bytes)
{
    const guint n = 200;
    Env *env = env_new(kind);
    env->echo = TRUE;
    env_listen(env);
    g_autoptr(GPtrArray) clients = g_ptr_array_new();
    for (guint i = 0; i < n; i++) {
        char label[24];
        g_snprintf(label, sizeof label, "c%u", i);
        g_ptr_array_add(clients, env_dial_start(env, label, NULL));
    }
    WAIT(env, env->accepted->len == n);
    for (guint i = 0; i < n; i++) {
        Conn *c = clients->pdata[i];
        WAIT(env, c->dial_done);
        cr_assert_null(c->dial_error, "%s: %s", c->label, c->dial_error->message);
        g_autofree char *msg = g_strdup_printf("%s;", c->label);
        send_str(c, msg);
    }
    WAIT(env, all_echoed(clients));
    for (guint i = 0; i < n; i++) {
        Conn *c = clients->pdata[i];
        g_autofree char *msg = g_strdup_printf("%s;", c->label);
        cr_assert(rx_equals(c, msg), "%s got '%.*s'", c->label, (int)c->rx->len,
                  (const char *)c->rx->data);
    }
    env_free(env);
}

/* The peer's close is reported exactly once, after the data it sent; sends then fail. */
CONFORMANCE(peer_close_reports_closed_exactly_once_after_its_data)
{
    Env *env = env_new(kind);
    env_listen(env);
    Conn *c = env_dial(env, "c0");
    Conn *s = env_accepted(env, 0);
    send_str(c, "last words");
    conn_close(c);
    WAIT(env, s->closed > 0);
    cr_assert(rx_equals(s, "last words"));
    cr_assert_null(s->closed_error, "clean close expected, got: %s",
                   s->closed_error ? s->closed_error->message : "");
    env_settle(env);
    cr_assert_eq(s->closed, 1);
    g_autoptr(GBytes) b = g_bytes_new_static("x", 1);
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas__pipe_send(s->pipe, b, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED), "%s", error->message);
    env_free(env);
}

/* Closing with a large queue still delivers every byte, then the end. */
CONFORMANCE(close_with_queued_data_flushes_then_ends)
{
    Env *env = env_new(kind);
    env_listen(env);
    Conn *c = env_dial(env, "c0");
    Conn *s = env_accepted(env, 0);
    const gsize total = 8u << 20;
    g_autofree guint8 *data = g_malloc(total);
    for (gsize i = 0; i < total; i++)
        data[i] = (guint8)(i * 7 + (i >> 13));
    for (gsize off = 0; off < total; off += 1 << 20)
        send_bytes(c, data + off, 1 << 20);
    conn_close(c);
    WAIT(env, s->closed > 0);
    cr_assert_null(s->closed_error, "%s", s->closed_error ? s->closed_error->message : "");
    cr_assert_eq(s->rx->len, total);
    cr_assert_arr_eq(s->rx->data, data, total);
    env_free(env);
}

/* Nobody listening: CONNECTION_REFUSED, reported from an event (never synchronously). */
CONFORMANCE(dial_without_listener_is_refused_from_an_event)
{
    Env *env = env_new(kind);
    env_listen(env); /* for a valid, then unused, address */
    g_autoptr(CamasAddress) address = camas_address_copy(env->dial_address);
    g_clear_pointer(&env->listener, camas__listener_close);
    Conn *c = env_dial_start(env, "c0", address);
    cr_assert_not(c->dial_done);
    WAIT(env, c->dial_done);
    cr_assert_not_null(c->dial_error);
    cr_assert(g_error_matches(c->dial_error, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED),
              "%s", c->dial_error->message);
    env_free(env);
}

/* A second listener on a bound address fails at once with INVALID naming the address. */
CONFORMANCE(listening_twice_on_one_address_is_address_in_use)
{
    Env *env = env_new(kind);
    env_listen(env);
    g_autoptr(GError) error = NULL;
    CamasListener *second = camas__transport_listen(env->loop, env->dial_address,
                                                    &env->server_opts, on_accept, env, &error);
    cr_assert_null(second);
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    g_autofree char *text = camas_address_to_string(env->dial_address);
    const char *name = env->dial_address->path ? env->dial_address->path : text;
    cr_assert(strstr(error->message, name) || strstr(error->message, text),
              "'%s' should name '%s'", error->message, text);
    /* The first listener still works (for ipc the in-use probe was its first client). */
    Conn *c = env_dial(env, "c0");
    send_str(c, "ok");
    WAIT(env, env->accepted->len >= 1 &&
                  rx_equals(env->accepted->pdata[env->accepted->len - 1], "ok"));
    env_free(env);
}

/* A reader that stops makes the writer's queue cross the high-water mark (writable FALSE);
 * when it reads again the queue drains below the low-water mark (writable TRUE) and every
 * byte arrives. */
CONFORMANCE(back_pressure_pauses_and_resumes_the_writer)
{
    Env *env = env_new(kind);
    env->client_opts.write_high_water = 256 * 1024;
    env->client_opts.write_low_water = 64 * 1024;
    env_listen(env);
    Conn *c = env_dial(env, "c0");
    Conn *s = env_accepted(env, 0);
    camas__pipe_set_reading(s->pipe, FALSE);
    const gsize chunk = 64 * 1024;
    g_autofree guint8 *data = g_malloc(chunk);
    gsize sent = 0;
    /* Sockets absorb some megabytes in kernel buffers first; 256 MiB is far beyond that. */
    while (c->writable_now) {
        cr_assert_lt(sent, (gsize)256 << 20, "the writer was never paused");
        for (gsize i = 0; i < chunk; i++)
            data[i] = (guint8)((sent + i) % 251);
        send_bytes(c, data, chunk);
        sent += chunk;
        env_settle(env);
    }
    cr_assert_str_eq(c->writable->str, "F");
    cr_assert_gt(camas__pipe_get_write_queued(c->pipe), env->client_opts.write_high_water);
    /* Paused: the reader got nothing new while not reading. */
    gsize before = s->rx->len;
    env_settle(env);
    cr_assert_eq(s->rx->len, before);
    camas__pipe_set_reading(s->pipe, TRUE);
    WAIT(env, s->rx->len == sent);
    WAIT(env, c->writable_now);
    cr_assert_str_eq(c->writable->str, "FT");
    cr_assert_leq(camas__pipe_get_write_queued(c->pipe), env->client_opts.write_low_water);
    for (gsize i = 0; i < sent; i++)
        if (s->rx->data[i] != (guint8)(i % 251))
            cr_assert_fail("byte %zu differs", i);
    env_free(env);
}

/* Data and the end that arrive before the owner starts the pipe wait for it, in order. */
CONFORMANCE(data_before_start_is_delivered_after_start)
{
    Env *env = env_new(kind);
    env->accept_no_start = TRUE;
    env_listen(env);
    Conn *c = env_dial(env, "c0");
    Conn *s = env_accepted(env, 0);
    send_str(c, "early ");
    send_str(c, "bird");
    conn_close(c);
    env_settle(env);
    cr_assert_eq(s->rx->len, 0);
    conn_start(s);
    cr_assert_eq(s->rx->len, 0, "start must not call back");
    WAIT(env, s->closed == 1);
    cr_assert(rx_equals(s, "early bird"));
    env_free(env);
}

/* Closing a pending dial cancels it: the callback never runs and nothing leaks. */
CONFORMANCE(closing_a_pending_dial_cancels_it)
{
    Env *env = env_new(kind);
    env_listen(env);
    Conn *c = env_dial_start(env, "c0", NULL);
    camas__pipe_close(g_steal_pointer(&c->pending));
    env_settle(env);
    Conn *d = env_dial(env, "c1"); /* the listener is unaffected */
    send_str(d, "x");
    WAIT(env, env->accepted->len >= 1);
    env_settle(env);
    cr_assert_not(c->dial_done);
    env_free(env);
}

/* A client that sends half a frame and stalls delays nobody. */
CONFORMANCE(stalled_client_does_not_delay_others)
{
    Env *env = env_new(kind);
    env_listen(env);
    Conn *stalled = env_dial(env, "stalled");
    send_bytes(stalled, "\x00\x00\x00\x40" "abc", 7);
    Conn *c = env_dial(env, "c1");
    Conn *s = env_accepted(env, 1);
    send_str(c, "ping");
    WAIT(env, rx_equals(s, "ping"));
    send_str(s, "pong");
    WAIT(env, rx_equals(c, "pong"));
    env_free(env);
}

CONFORMANCE(peername_has_the_aiomas_form)
{
    Env *env = env_new(kind);
    env_listen(env);
    Conn *c = env_dial(env, "c0");
    Conn *s = env_accepted(env, 0);
    const char *cp = camas__pipe_get_peername(c->pipe);
    const char *sp = camas__pipe_get_peername(s->pipe);
    switch (kind) {
    case K_LOCAL:
        cr_assert_str_eq(cp, "LocalQueue('conformance')");
        cr_assert_str_eq(sp, "LocalQueue('conformance')");
        cr_assert_null(camas__pipe_get_tls_version(c->pipe));
        break;
    case K_TCP:
    case K_TLS: {
        g_autofree char *expect = g_strdup_printf("('127.0.0.1', %u)", env->dial_address->port);
        cr_assert_str_eq(cp, expect);
        cr_assert(g_str_has_prefix(sp, "('127.0.0.1', ") && g_str_has_suffix(sp, ")"), "%s",
                  sp);
        cr_assert_str_neq(sp, expect);
        if (kind == K_TLS) {
            cr_assert(g_str_has_prefix(camas__pipe_get_tls_version(c->pipe), "TLSv1."));
            cr_assert_str_eq(camas__pipe_get_tls_version(c->pipe),
                             camas__pipe_get_tls_version(s->pipe));
            cr_assert(strstr(camas__pipe_get_tls_cipher(s->pipe), "GCM"), "%s",
                      camas__pipe_get_tls_cipher(s->pipe));
        } else {
            cr_assert_null(camas__pipe_get_tls_version(c->pipe));
            cr_assert_null(camas__pipe_get_tls_cipher(s->pipe));
        }
        break;
    }
    case K_IPC:
        cr_assert_str_eq(cp, env->dial_address->path);
        cr_assert_str_eq(sp, "");
        break;
    }
    env_free(env);
}

/* --- LocalQueue ---------------------------------------------------------------------------- */

/* Two clients alternately sending are delivered in exactly that order (the loop's global
 * sequence), and the whole run's event log is the same every time. */
static char *
run_two_clients(void)
{
    Env *env = env_new(K_LOCAL);
    env_listen(env);
    Conn *c1 = env_dial_start(env, "c1", NULL);
    Conn *c2 = env_dial_start(env, "c2", NULL);
    WAIT(env, c1->dial_done && c2->dial_done && env->accepted->len == 2);
    for (int i = 0; i < 4; i++) {
        char msg[16];
        g_snprintf(msg, sizeof msg, "c1-%d", i);
        send_str(c1, msg);
        g_snprintf(msg, sizeof msg, "c2-%d", i);
        send_str(c2, msg);
    }
    conn_close(c1);
    env_settle(env);
    char *log = g_strdup(env->log->str);
    env_free(env);
    return log;
}

Test(transport, localqueue_interleaves_clients_in_send_order_and_repeats_exactly)
{
    g_autofree char *first = run_two_clients();
    g_autofree char *second = run_two_clients();
    cr_assert_str_eq(first, second);
    /* The server ends s0 (c1's) and s1 (c2's) receive alternately. */
    g_autoptr(GString) order = g_string_new(NULL);
    g_auto(GStrv) lines = g_strsplit(first, "\n", -1);
    for (char **l = lines; *l; l++) {
        char *recv = strstr(*l, " recv ");
        if (recv && (g_str_has_prefix(strchr(*l, ' ') + 1, "s")))
            g_string_append_printf(order, "%s,", recv + 6);
    }
    cr_assert_str_eq(order->str, "c1-0,c2-0,c1-1,c2-1,c1-2,c2-2,c1-3,c2-3,", "log:\n%s", first);
    /* The server learns of a connection before the client does, and the end of c1 comes
     * after its bytes. */
    cr_assert(strstr(first, "accept s0\n") < strstr(first, "dial c1 ok\n"), "%s", first);
    cr_assert(strstr(first, "s0 recv c1-3") < strstr(first, "s0 closed eof"), "%s", first);
}

Test(transport, localqueue_allows_one_server_per_queue)
{
    Env *env = env_new(K_LOCAL);
    env_listen(env);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasAddress) same = parse_ok("local://conformance");
    CamasListener *l = camas__transport_listen(env->loop, same, NULL, on_accept, env, &error);
    cr_assert_null(l);
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(error->message, "'conformance' already has a server"), "%s",
              error->message);
    /* After the first closes, the queue is free again. */
    camas__listener_close(g_steal_pointer(&env->listener));
    g_clear_error(&error);
    l = camas__transport_listen(env->loop, same, NULL, on_accept, env, &error);
    cr_assert_not_null(l);
    camas__listener_close(l);
    env_free(env);
}

/* Queues belong to a loop: another loop neither sees nor blocks them. */
Test(transport, localqueue_registries_of_two_loops_are_separate)
{
    Env *a = env_new(K_LOCAL);
    Env *b = env_new(K_LOCAL);
    env_listen(a);
    Conn *c = env_dial_start(b, "c0", a->dial_address);
    WAIT(b, c->dial_done);
    cr_assert(g_error_matches(c->dial_error, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED));
    cr_assert(strstr(c->dial_error->message, "'conformance'"), "%s", c->dial_error->message);
    env_listen(b); /* same id, other loop: fine */
    Conn *d = env_dial(b, "c1");
    send_str(d, "b");
    WAIT(b, b->accepted->len == 1 && rx_equals(b->accepted->pdata[0], "b"));
    cr_assert_eq(a->accepted->len, 0);
    env_free(a);
    env_free(b);
}

/* Every delivery is one event of its own, at the current virtual time. */
Test(transport, localqueue_delivers_each_send_as_one_event_at_the_current_time)
{
    Env *env = env_new(K_LOCAL);
    env_listen(env);
    Conn *c = env_dial(env, "c0");
    Conn *s = env_accepted(env, 0);
    env_settle(env);
    gint64 t0 = camas_loop_now(env->loop);
    cr_assert_eq(camas_loop_get_pending(env->loop), 0);
    send_str(c, "a");
    send_str(c, "b");
    cr_assert_eq(camas_loop_get_pending(env->loop), 2);
    cr_assert_eq(s->rx->len, 0, "delivery must not be synchronous");
    cr_assert(camas_loop_step(env->loop));
    cr_assert(rx_equals(s, "a"));
    cr_assert(camas_loop_step(env->loop));
    cr_assert(rx_equals(s, "ab"));
    cr_assert_eq(camas_loop_now(env->loop), t0);
    env_free(env);
}

/* The server's owner closing while the client's bytes are in flight: they are dropped, the
 * client sees the end, and the client's queued count returns to zero. */
Test(transport, localqueue_close_drops_bytes_in_flight_and_ends_the_peer)
{
    Env *env = env_new(K_LOCAL);
    env_listen(env);
    Conn *c = env_dial(env, "c0");
    Conn *s = env_accepted(env, 0);
    send_str(c, "lost");
    cr_assert_eq(camas__pipe_get_write_queued(c->pipe), 4);
    conn_close(s);
    env_settle(env);
    cr_assert_eq(c->closed, 1);
    cr_assert_eq(camas__pipe_get_write_queued(c->pipe), 0);
    cr_assert_eq(s->rx->len, 0);
    env_free(env);
}
