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
#include <arpa/inet.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <camas/loop.h>
#include <camas/transport.h>

#include "live-private.h"
#include "socket-private.h"
#include "tls-private.h"
#include "testutil.h"
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

typedef struct {
    CamasTestKind id;
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
    gboolean hang_up;     /* closes on the first bytes it receives */
} Conn;

struct _Env {
    Kind kind;
    CamasTestWorld *w;           /* no clock; sockets: a context and a socket directory */
    CamasLoop *loop;             /* whose seq the callbacks check: w->loop */
    const CamasTestCerts *certs; /* TLS: the world's certificates */
    CamasTlsContext *server_tls; /* ... and its contexts */
    CamasTlsContext *client_tls;
    CamasListener *listener;
    CamasAddress *dial_address;
    CamasTransportOptions server_opts;
    CamasTransportOptions client_opts;
    GPtrArray *accepted; /* Conn*, server ends in accept order */
    GPtrArray *conns;    /* every Conn, freed with the env */
    GString *log;        /* events as "seq what", for determinism checks */
    gboolean accept_no_start;
    gboolean echo;    /* server ends echo */
    gboolean hang_up; /* server ends close on the first bytes */
    gboolean close_listener_on_accept;
    int listener_errors;
    GString *listener_error_log;
};

static void send_bytes(Conn *c, const void *data, gsize len);

static void conn_close(Conn *c);

static void
conn_received(CamasPipe *pipe, const guint8 *data, gsize len, gpointer user_data)
{
    Conn *c = user_data;
    cr_assert_eq(c->pipe, pipe);
    cr_assert_gt(len, 0);
    cr_assert_eq(c->closed, 0, "%s: data after closed", c->label);
    g_byte_array_append(c->rx, data, (guint)len);
    if (c->hang_up) {
        conn_close(c);
        return;
    }
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
    c->hang_up = env->hang_up;
    g_ptr_array_add(env->accepted, c);
    if (env->close_listener_on_accept)
        g_clear_pointer(&env->listener, camas__listener_close);
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
env_new(CamasTestKind kind)
{
    static const char *const names[] = {"local", "tcp", "ipc", "tls"};
    Env *env = g_new0(Env, 1);
    env->kind.id = kind;
    env->kind.name = names[kind];
    env->w = camas_test_world_new(CAMAS_TEST_NO_CLOCK |
                                  (kind == CAMAS_TEST_LOCAL ? 0 : CAMAS_TEST_SOCKETS));
    env->loop = env->w->loop;
    env->accepted = g_ptr_array_new();
    env->conns = g_ptr_array_new_with_free_func(conn_free);
    env->log = g_string_new(NULL);
    env->listener_error_log = g_string_new(NULL);
    if (kind == CAMAS_TEST_TLS) {
        env->certs = camas_test_world_get_certs(env->w);
        env->server_tls = camas_test_world_get_tls(env->w, TRUE);
        env->client_tls = camas_test_world_get_tls(env->w, FALSE);
        env->server_opts.tls = env->server_tls;
        env->client_opts.tls = env->client_tls;
    }
    return env;
}

/* Frees the env's connections and listener, then the world (which waits for closed sockets to
 * finish lingering and asserts that every listener removed its socket file). */
static void
env_free(Env *env)
{
    g_ptr_array_unref(env->conns);
    g_ptr_array_unref(env->accepted);
    g_clear_pointer(&env->listener, camas__listener_close);
    g_clear_pointer(&env->dial_address, camas_address_free);
    camas_test_world_free(env->w);
    g_string_free(env->log, TRUE);
    g_string_free(env->listener_error_log, TRUE);
    g_free(env);
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
    g_autofree char *text = camas_test_world_address(env->w, env->kind.id, "conformance");
    g_autoptr(CamasAddress) address = parse_ok(text);
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
    CAMAS_TEST_WAIT(env->w, c->dial_done);
    cr_assert_null(c->dial_error, "%s: dial failed: %s", label,
                   c->dial_error ? c->dial_error->message : "");
    return c;
}

/* Starts @n dials at once, labelled c0, c1, ...  Returns: (transfer container) the clients. */
static GPtrArray *
env_dial_start_many(Env *env, guint n)
{
    GPtrArray *clients = g_ptr_array_new();
    for (guint i = 0; i < n; i++) {
        char label[24];
        g_snprintf(label, sizeof label, "c%u", i);
        g_ptr_array_add(clients, env_dial_start(env, label, NULL));
    }
    return clients;
}

/* The same, then waits until the listener accepted them all and every dial succeeded. */
static GPtrArray *
env_dial_many(Env *env, guint n)
{
    GPtrArray *clients = env_dial_start_many(env, n);
    CAMAS_TEST_WAIT(env->w, env->accepted->len == n);
    for (guint i = 0; i < n; i++) {
        Conn *c = clients->pdata[i];
        CAMAS_TEST_WAIT(env->w, c->dial_done);
        cr_assert_null(c->dial_error, "%s: %s", c->label, c->dial_error->message);
    }
    return clients;
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
    CAMAS_TEST_WAIT(env->w, env->accepted->len > n);
    return env->accepted->pdata[n];
}

/* An env of @kind listening, with one connection: the client @c ("c0") and its server end @s. */
static Env *
env_connected(CamasTestKind kind, Conn **c, Conn **s)
{
    Env *env = env_new(kind);
    env_listen(env);
    *c = env_dial(env, "c0");
    *s = env_accepted(env, 0);
    return env;
}

/* --- the conformance table ----------------------------------------------------------------- */

static CamasTestKind conformance_kinds[] = {CAMAS_TEST_LOCAL, CAMAS_TEST_TCP, CAMAS_TEST_IPC,
                                            CAMAS_TEST_TLS};

/* A test of the table: run once on each transport, its body a function of the kind. */
#define CONFORMANCE(name)                                                                          \
    static void name##_body(CamasTestKind kind);                                                   \
    CAMAS_TEST_EACH_KIND(transport, conformance_kinds, name)                                       \
    {                                                                                              \
        name##_body(*kind);                                                                        \
    }                                                                                              \
    static void name##_body(CamasTestKind kind)

CONFORMANCE(connect_accept_and_bytes_both_ways)
{
    Conn *c, *s;
    Env *env = env_connected(kind, &c, &s);
    send_str(c, "hello");
    send_str(s, "world!");
    CAMAS_TEST_WAIT(env->w, rx_equals(s, "hello") && rx_equals(c, "world!"));
    cr_assert_eq(c->closed + s->closed, 0);
    cr_assert_str_eq(camas__pipe_get_transport_name(c->pipe),
                     kind == CAMAS_TEST_TLS ? "tcp" : env->kind.name);
    env_free(env);
}

/* Bytes arrive unchanged and in order whatever the chunking: 1-byte writes, odd sizes, and
 * one large write, both ways at once. */
CONFORMANCE(arbitrary_chunking_keeps_bytes_and_order)
{
    Conn *c, *s;
    Env *env = env_connected(kind, &c, &s);
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
    CAMAS_TEST_WAIT(env->w, s->rx->len >= total && c->rx->len >= total);
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
    g_autoptr(GPtrArray) clients = env_dial_many(env, n);
    for (guint i = 0; i < n; i++) {
        Conn *c = clients->pdata[i];
        g_autofree char *msg = g_strdup_printf("%s;", c->label);
        send_str(c, msg);
    }
    CAMAS_TEST_WAIT(env->w, all_echoed(clients));
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
    Conn *c, *s;
    Env *env = env_connected(kind, &c, &s);
    send_str(c, "last words");
    conn_close(c);
    CAMAS_TEST_WAIT(env->w, s->closed > 0);
    cr_assert(rx_equals(s, "last words"));
    cr_assert_null(s->closed_error, "clean close expected, got: %s",
                   s->closed_error ? s->closed_error->message : "");
    camas_test_world_settle(env->w, 0);
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
    Conn *c, *s;
    Env *env = env_connected(kind, &c, &s);
    const gsize total = 8u << 20;
    g_autofree guint8 *data = g_malloc(total);
    for (gsize i = 0; i < total; i++)
        data[i] = (guint8)(i * 7 + (i >> 13));
    for (gsize off = 0; off < total; off += 1 << 20)
        send_bytes(c, data + off, 1 << 20);
    conn_close(c);
    CAMAS_TEST_WAIT(env->w, s->closed > 0);
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
    CAMAS_TEST_WAIT(env->w, c->dial_done);
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
    CAMAS_TEST_WAIT(env->w, env->accepted->len >= 1 &&
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
        camas_test_world_settle(env->w, 0);
    }
    /* The kernel may take more (its buffers grow) and let the writer resume briefly before
     * pausing it for good: reports alternate and end paused. */
    cr_assert(g_str_has_prefix(c->writable->str, "F") && g_str_has_suffix(c->writable->str, "F"),
              "%s", c->writable->str);
    /* Paused when the queue crossed the high-water mark; the kernel may have taken some since,
     * but the writer resumes only at the low-water mark. */
    cr_assert_gt(camas__pipe_get_write_queued(c->pipe), env->client_opts.write_low_water);
    gsize reports = c->writable->len;
    /* Paused: the reader got nothing new while not reading. */
    gsize before = s->rx->len;
    camas_test_world_settle(env->w, 0);
    cr_assert_eq(s->rx->len, before);
    camas__pipe_set_reading(s->pipe, TRUE);
    CAMAS_TEST_WAIT(env->w, s->rx->len == sent);
    CAMAS_TEST_WAIT(env->w, c->writable_now);
    cr_assert_eq(c->writable->len, reports + 1, "%s", c->writable->str);
    cr_assert(g_str_has_suffix(c->writable->str, "FT"), "%s", c->writable->str);
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
    camas_test_world_settle(env->w, 0);
    cr_assert_eq(s->rx->len, 0);
    conn_start(s);
    cr_assert_eq(s->rx->len, 0, "start must not call back");
    CAMAS_TEST_WAIT(env->w, s->closed == 1);
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
    camas_test_world_settle(env->w, 0);
    Conn *d = env_dial(env, "c1"); /* the listener is unaffected */
    send_str(d, "x");
    CAMAS_TEST_WAIT(env->w, env->accepted->len >= 1);
    camas_test_world_settle(env->w, 0);
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
    CAMAS_TEST_WAIT(env->w, rx_equals(s, "ping"));
    send_str(s, "pong");
    CAMAS_TEST_WAIT(env->w, rx_equals(c, "pong"));
    env_free(env);
}

CONFORMANCE(peername_has_the_aiomas_form)
{
    Conn *c, *s;
    Env *env = env_connected(kind, &c, &s);
    const char *cp = camas__pipe_get_peername(c->pipe);
    const char *sp = camas__pipe_get_peername(s->pipe);
    switch (kind) {
    case CAMAS_TEST_LOCAL:
        cr_assert_str_eq(cp, "LocalQueue('conformance')");
        cr_assert_str_eq(sp, "LocalQueue('conformance')");
        cr_assert_null(camas__pipe_get_tls_version(c->pipe));
        break;
    case CAMAS_TEST_TCP:
    case CAMAS_TEST_TLS: {
        g_autofree char *expect = g_strdup_printf("('127.0.0.1', %u)", env->dial_address->port);
        cr_assert_str_eq(cp, expect);
        cr_assert(g_str_has_prefix(sp, "('127.0.0.1', ") && g_str_has_suffix(sp, ")"), "%s",
                  sp);
        cr_assert_str_neq(sp, expect);
        if (kind == CAMAS_TEST_TLS) {
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
    case CAMAS_TEST_IPC:
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
    Env *env = env_new(CAMAS_TEST_LOCAL);
    env_listen(env);
    Conn *c1 = env_dial_start(env, "c1", NULL);
    Conn *c2 = env_dial_start(env, "c2", NULL);
    CAMAS_TEST_WAIT(env->w, c1->dial_done && c2->dial_done && env->accepted->len == 2);
    for (int i = 0; i < 4; i++) {
        char msg[16];
        g_snprintf(msg, sizeof msg, "c1-%d", i);
        send_str(c1, msg);
        g_snprintf(msg, sizeof msg, "c2-%d", i);
        send_str(c2, msg);
    }
    conn_close(c1);
    camas_test_world_settle(env->w, 0);
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
    Env *env = env_new(CAMAS_TEST_LOCAL);
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
    Env *a = env_new(CAMAS_TEST_LOCAL);
    Env *b = env_new(CAMAS_TEST_LOCAL);
    env_listen(a);
    Conn *c = env_dial_start(b, "c0", a->dial_address);
    CAMAS_TEST_WAIT(b->w, c->dial_done);
    cr_assert(g_error_matches(c->dial_error, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED));
    cr_assert(strstr(c->dial_error->message, "'conformance'"), "%s", c->dial_error->message);
    env_listen(b); /* same id, other loop: fine */
    Conn *d = env_dial(b, "c1");
    send_str(d, "b");
    CAMAS_TEST_WAIT(b->w, b->accepted->len == 1 && rx_equals(b->accepted->pdata[0], "b"));
    cr_assert_eq(a->accepted->len, 0);
    env_free(a);
    env_free(b);
}

/* Every delivery is one event of its own, at the current virtual time. */
Test(transport, localqueue_delivers_each_send_as_one_event_at_the_current_time)
{
    Conn *c, *s;
    Env *env = env_connected(CAMAS_TEST_LOCAL, &c, &s);
    camas_test_world_settle(env->w, 0);
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
    Conn *c, *s;
    Env *env = env_connected(CAMAS_TEST_LOCAL, &c, &s);
    send_str(c, "lost");
    cr_assert_eq(camas__pipe_get_write_queued(c->pipe), 4);
    conn_close(s);
    camas_test_world_settle(env->w, 0);
    cr_assert_eq(c->closed, 1);
    cr_assert_eq(camas__pipe_get_write_queued(c->pipe), 0);
    cr_assert_eq(s->rx->len, 0);
    env_free(env);
}

/* --- sockets ------------------------------------------------------------------------------- */

Test(transport, socket_transports_need_a_loop_attached_to_a_context)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    g_autoptr(CamasAddress) address = parse_ok("tcp://127.0.0.1:0");
    g_autoptr(GError) error = NULL;
    Env *env = env_new(CAMAS_TEST_LOCAL); /* for the Conn bookkeeping only */
    CamasListener *l = camas__transport_listen(loop, address, NULL, on_accept, env, &error);
    cr_assert_null(l);
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(error->message, "GMainContext"), "%s", error->message);
    g_autoptr(CamasAddress) target = parse_ok("tcp://127.0.0.1:9");
    Conn *c = conn_new(env, "c0");
    camas__transport_dial(loop, target, NULL, on_dial, c);
    /* The callback checks it runs inside an event of env->loop; use that loop's seq. */
    CamasLoop *saved = env->loop;
    env->loop = loop;
    camas_loop_run(loop);
    env->loop = saved;
    cr_assert(c->dial_done);
    cr_assert(g_error_matches(c->dial_error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(c->dial_error->message, "GMainContext"), "%s", c->dial_error->message);
    env_free(env);
}

Test(transport, tls_needs_a_context_and_applies_only_to_tcp)
{
    Env *env = env_new(CAMAS_TEST_TCP);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasAddress) tls = parse_ok("tls://127.0.0.1:0");
    cr_assert_null(camas__transport_listen(env->loop, tls, NULL, on_accept, env, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(error->message, "needs TLS settings"), "%s", error->message);
    Conn *c = env_dial_start(env, "c0", tls);
    CAMAS_TEST_WAIT(env->w, c->dial_done);
    cr_assert(g_error_matches(c->dial_error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    /* A TLS context with a Unix socket or LocalQueue address */
    CamasTransportOptions opts = {.tls = camas_test_world_get_tls(env->w, TRUE)};
    g_autofree char *path = g_strdup_printf("ipc://[%s/x.sock]", env->w->tmpdir);
    g_autoptr(CamasAddress) ipc = parse_ok(path);
    g_autoptr(CamasAddress) local = parse_ok("local://q");
    g_clear_error(&error);
    cr_assert_null(camas__transport_listen(env->loop, ipc, &opts, on_accept, env, &error));
    cr_assert(strstr(error->message, "only to TCP"), "%s", error->message);
    g_clear_error(&error);
    cr_assert_null(camas__transport_listen(env->loop, local, &opts, on_accept, env, &error));
    cr_assert(strstr(error->message, "only to TCP"), "%s", error->message);
    env_free(env);
}

Test(transport, tcp_dial_needs_a_host_and_a_port)
{
    Env *env = env_new(CAMAS_TEST_TCP);
    g_autoptr(CamasAddress) nohost = parse_ok("tcp://:5555");
    g_autoptr(CamasAddress) noport = parse_ok("tcp://127.0.0.1:0");
    Conn *a = env_dial_start(env, "a", nohost);
    Conn *b = env_dial_start(env, "b", noport);
    CAMAS_TEST_WAIT(env->w, a->dial_done && b->dial_done);
    cr_assert(g_error_matches(a->dial_error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(a->dial_error->message, "no host"), "%s", a->dial_error->message);
    cr_assert(g_error_matches(b->dial_error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(b->dial_error->message, "port 0"), "%s", b->dial_error->message);
    env_free(env);
}

static gboolean
ipv6_loopback_available(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return FALSE;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    gboolean ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Python's peername forms, from socket addresses built by hand (no network needed). */
Test(transport, peernames_have_python_forms_for_every_family)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons(5555),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    g_autofree char *p4 = camas__sockaddr_to_peername((struct sockaddr *)&v4, sizeof v4);
    cr_assert_str_eq(p4, "('127.0.0.1', 5555)");
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(5555),
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    g_autofree char *p6 = camas__sockaddr_to_peername((struct sockaddr *)&v6, sizeof v6);
    cr_assert_str_eq(p6, "('::1', 5555, 0, 0)");
    /* A scoped link-local address shows its interface, as Python does. */
    v6.sin6_flowinfo = htonl(7);
    v6.sin6_scope_id = 1;
    inet_pton(AF_INET6, "fe80::1", &v6.sin6_addr);
    char ifname[IF_NAMESIZE] = "";
    if_indextoname(1, ifname);
    g_autofree char *expect = ifname[0] ? g_strdup_printf("('fe80::1%%%s', 5555, 7, 1)", ifname)
                                        : g_strdup("('fe80::1', 5555, 7, 1)");
    g_autofree char *ps = camas__sockaddr_to_peername((struct sockaddr *)&v6, sizeof v6);
    cr_assert_str_eq(ps, expect);
    struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/tmp/x.sock"};
    g_autofree char *pu = camas__sockaddr_to_peername(
        (struct sockaddr *)&un, (socklen_t)(G_STRUCT_OFFSET(struct sockaddr_un, sun_path) + 12));
    cr_assert_str_eq(pu, "/tmp/x.sock");
    g_autofree char *pn = camas__sockaddr_to_peername((struct sockaddr *)&un, sizeof(sa_family_t));
    cr_assert_str_eq(pn, "");
}

/* IPv6 over ::1 when this machine has it; the address forms are checked either way. */
Test(transport, ipv6_loopback_connects_with_a_four_tuple_peername)
{
    g_autoptr(CamasAddress) any6 = parse_ok("tcp://[::1]:0");
    g_autofree char *text = camas_address_to_string(any6);
    cr_assert_str_eq(text, "tcp://[::1]:0");
    if (!ipv6_loopback_available()) {
        cr_log_warn("no IPv6 loopback here: only the address forms were checked");
        return;
    }
    Env *env = env_new(CAMAS_TEST_TCP);
    env_listen_at(env, any6);
    cr_assert_neq(env->dial_address->port, 0);
    g_autofree char *bound = camas_address_to_string(env->dial_address);
    g_autofree char *expect_addr = g_strdup_printf("tcp://[::1]:%u", env->dial_address->port);
    cr_assert_str_eq(bound, expect_addr);
    Conn *c = env_dial(env, "c0");
    Conn *s = env_accepted(env, 0);
    g_autofree char *expect = g_strdup_printf("('::1', %u, 0, 0)", env->dial_address->port);
    cr_assert_str_eq(camas__pipe_get_peername(c->pipe), expect);
    cr_assert(g_str_has_prefix(camas__pipe_get_peername(s->pipe), "('::1', "));
    send_str(c, "six");
    CAMAS_TEST_WAIT(env->w, rx_equals(s, "six"));
    env_free(env);
}

/* Whether this machine's resolver maps "localhost" to 127.0.0.1.  A bare chroot or container
 * without /etc/hosts does not; there the lookup must fail cleanly instead. */
static gboolean
resolver_knows_localhost(void)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo("localhost", NULL, &hints, &res) != 0)
        return FALSE;
    gboolean loopback = FALSE;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        loopback |= ((struct sockaddr_in *)a->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    freeaddrinfo(res);
    return loopback;
}

/* "localhost" resolves (to ::1 and/or 127.0.0.1) off the loop's thread — the dial waits for a
 * name lookup — and connects; where the machine cannot resolve it, the dial fails naming it. */
Test(transport, host_names_resolve_off_the_loop_and_connect)
{
    Env *env = env_new(CAMAS_TEST_TCP);
    env_listen(env); /* 127.0.0.1 only */
    g_autofree char *text = g_strdup_printf("tcp://localhost:%u", env->dial_address->port);
    g_autoptr(CamasAddress) byname = parse_ok(text);
    Conn *c = env_dial_start(env, "c0", byname);
    cr_assert_eq(g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_NAME_LOOKUP]), 1,
                 "the dial should be waiting for a name lookup");
    CAMAS_TEST_WAIT(env->w, c->dial_done);
    if (resolver_knows_localhost()) {
        cr_assert_null(c->dial_error, "%s", c->dial_error ? c->dial_error->message : "");
        g_autofree char *expect = g_strdup_printf("('127.0.0.1', %u)", env->dial_address->port);
        cr_assert_str_eq(camas__pipe_get_peername(c->pipe), expect);
    } else {
        cr_log_warn("this machine does not resolve localhost (no /etc/hosts?): checking the "
                    "failed lookup instead of the connection");
        cr_assert_null(c->pipe);
        cr_assert(c->dial_error && strstr(c->dial_error->message, "'localhost'"), "%s",
                  c->dial_error ? c->dial_error->message : "no error");
    }
    cr_assert_eq(g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_NAME_LOOKUP]), 0,
                 "the lookup outlived its dial");
    /* and a numeric host needs no lookup */
    Conn *n = env_dial_start(env, "c1", NULL);
    cr_assert_eq(g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_NAME_LOOKUP]), 0);
    CAMAS_TEST_WAIT(env->w, n->dial_done);
    cr_assert_null(n->dial_error, "%s", n->dial_error ? n->dial_error->message : "");
    env_free(env);
}

/* A name in the reserved .invalid domain: the dial fails from an event with an error naming the
 * host (CAMAS_ERROR_LOOKUP; CAMAS_ERROR_FAILED where no resolver answers at all). */
Test(transport, unresolvable_host_fails_the_dial_naming_the_host)
{
    Env *env = env_new(CAMAS_TEST_TCP);
    g_autoptr(CamasAddress) address = parse_ok("tcp://no-such-host.camas-test.invalid:5555");
    Conn *c = env_dial_start(env, "c0", address);
    CAMAS_TEST_WAIT(env->w, c->dial_done);
    cr_assert_null(c->pipe);
    cr_assert_not_null(c->dial_error);
    cr_assert(g_error_matches(c->dial_error, CAMAS_ERROR, CAMAS_ERROR_LOOKUP) ||
                  g_error_matches(c->dial_error, CAMAS_ERROR, CAMAS_ERROR_FAILED),
              "%s", c->dial_error->message);
    cr_assert(strstr(c->dial_error->message, "cannot resolve host "
                                             "'no-such-host.camas-test.invalid'"),
              "%s", c->dial_error->message);
    env_free(env);
}

/* A stand-in for getaddrinfo (camas__tcp_set_resolve_func): returns `fake_addrs`, after
 * waiting until the test opens `fake_gate`. */
static GMutex fake_lock;
static GCond fake_cond;
static gboolean fake_gate;
static gboolean fake_entered;
static GArray *fake_addrs;

static GArray *
fake_resolve(const char *host, guint16 port, GError **error)
{
    g_mutex_lock(&fake_lock);
    fake_entered = TRUE;
    g_cond_broadcast(&fake_cond);
    while (!fake_gate)
        g_cond_wait(&fake_cond, &fake_lock);
    GArray *addrs = fake_addrs ? g_array_copy(fake_addrs) : NULL;
    g_mutex_unlock(&fake_lock);
    if (addrs == NULL)
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_LOOKUP, "cannot resolve host '%s'", host);
    return addrs;
}

static void
fake_resolver_install(gboolean gate_open)
{
    fake_gate = gate_open;
    fake_entered = FALSE;
    fake_addrs = g_array_new(FALSE, TRUE, sizeof(CamasSockAddr));
    camas__tcp_set_resolve_func(fake_resolve);
}

static void
fake_resolver_open_gate(void)
{
    g_mutex_lock(&fake_lock);
    fake_gate = TRUE;
    g_cond_broadcast(&fake_cond);
    g_mutex_unlock(&fake_lock);
}

static void
fake_resolver_remove(void)
{
    fake_resolver_open_gate();
    camas__tcp_set_resolve_func(NULL);
    g_clear_pointer(&fake_addrs, g_array_unref);
}

static void
fake_add(int family, guint16 port)
{
    CamasSockAddr a = {0};
    if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.sa;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        in6->sin6_addr = in6addr_loopback;
        a.len = sizeof *in6;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&a.sa;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.len = sizeof *in;
    }
    g_array_append_val(fake_addrs, a);
}

/* A loopback port nobody listens on (bound, so nobody else takes it while @fd is open). */
static guint16
refusing_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(*fd, (struct sockaddr *)&a, sizeof a), 0, "%s", g_strerror(errno));
    cr_assert_eq(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* Every resolved address is tried in the resolver's order, IPv6 and IPv4 alike: refused ones
 * fall through to the next; when all fail, the first failure is reported. */
Test(transport, every_resolved_address_is_tried_in_order)
{
    Env *env = env_new(CAMAS_TEST_TCP);
    env_listen(env);
    int closed_fd;
    guint16 closed = refusing_port(&closed_fd);
    fake_resolver_install(TRUE);
    fake_add(AF_INET, closed);
    fake_add(AF_INET6, closed); /* refused, or unreachable without IPv6: either falls through */
    fake_add(AF_INET, env->dial_address->port);
    g_autoptr(CamasAddress) byname = parse_ok("tcp://several.camas-test.invalid:1");
    Conn *c = env_dial_start(env, "c0", byname);
    CAMAS_TEST_WAIT(env->w, c->dial_done);
    cr_assert_null(c->dial_error, "%s", c->dial_error ? c->dial_error->message : "");
    g_autofree char *expect = g_strdup_printf("('127.0.0.1', %u)", env->dial_address->port);
    cr_assert_str_eq(camas__pipe_get_peername(c->pipe), expect);
    /* none answers: the first address' failure */
    g_array_set_size(fake_addrs, 2);
    Conn *f = env_dial_start(env, "c1", byname);
    CAMAS_TEST_WAIT(env->w, f->dial_done);
    cr_assert(g_error_matches(f->dial_error, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED), "%s",
              f->dial_error ? f->dial_error->message : "connected");
    g_autofree char *first = g_strdup_printf("('127.0.0.1', %u)", closed);
    cr_assert(strstr(f->dial_error->message, first), "%s", f->dial_error->message);
    fake_resolver_remove();
    close(closed_fd);
    env_free(env);
}

/* Closing a dial while its name is being resolved cancels it at once: the pipe is gone, no
 * callback runs, and the lookup goes when the resolver returns — whether it returns after the
 * close (gate closed) or may already have handed its result back (gate open). */
Test(transport, closing_a_dial_while_resolving_leaks_nothing)
{
    Env *env = env_new(CAMAS_TEST_TCP);
    env_listen(env);
    g_autoptr(CamasAddress) byname = parse_ok("tcp://slow.camas-test.invalid:1");
    for (int open = 0; open < 2; open++) {
        fake_resolver_install(open);
        fake_add(AF_INET, env->dial_address->port);
        Conn *c = env_dial_start(env, open ? "open" : "closed", byname);
        if (!open) { /* the worker is inside the resolver */
            g_mutex_lock(&fake_lock);
            while (!fake_entered)
                g_cond_wait(&fake_cond, &fake_lock);
            g_mutex_unlock(&fake_lock);
        }
        camas__pipe_close(g_steal_pointer(&c->pending));
        camas_test_world_settle(env->w, 0);
        cr_assert_not(camas_test_pipes_alive());
        fake_resolver_open_gate();
        CAMAS_TEST_WAIT(env->w,
                        g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_NAME_LOOKUP]) == 0);
        camas_test_world_settle(env->w, 0);
        cr_assert_not(c->dial_done, "a cancelled dial called back");
        cr_assert_eq(env->accepted->len, 0, "a cancelled dial connected");
        fake_resolver_remove();
    }
    env_free(env);
}

/* The empty host listens on every interface, both families on one port; IPv6 sockets are
 * dual-stack only for "::". */
Test(transport, listening_on_all_interfaces_takes_both_families)
{
    Env *env = env_new(CAMAS_TEST_TCP);
    g_autoptr(CamasAddress) all = parse_ok("tcp://:0");
    env_listen_at(env, all);
    guint16 port = env->dial_address->port;
    cr_assert_neq(port, 0);
    g_autofree char *t4 = g_strdup_printf("tcp://127.0.0.1:%u", port);
    g_autoptr(CamasAddress) a4 = parse_ok(t4);
    Conn *c4 = env_dial_start(env, "c4", a4);
    CAMAS_TEST_WAIT(env->w, c4->dial_done);
    cr_assert_null(c4->dial_error, "%s", c4->dial_error ? c4->dial_error->message : "");
    if (ipv6_loopback_available()) {
        g_autofree char *t6 = g_strdup_printf("tcp://[::1]:%u", port);
        g_autoptr(CamasAddress) a6 = parse_ok(t6);
        Conn *c6 = env_dial_start(env, "c6", a6);
        CAMAS_TEST_WAIT(env->w, c6->dial_done);
        cr_assert_null(c6->dial_error, "%s", c6->dial_error ? c6->dial_error->message : "");
        /* "::" alone is dual-stack: IPv4 clients reach it too. */
        g_clear_pointer(&env->listener, camas__listener_close);
        g_clear_pointer(&env->dial_address, camas_address_free);
        g_autoptr(CamasAddress) dual = parse_ok("tcp://[::]:0");
        env_listen_at(env, dual);
        g_autofree char *t = g_strdup_printf("tcp://127.0.0.1:%u", env->dial_address->port);
        g_autoptr(CamasAddress) a = parse_ok(t);
        Conn *c = env_dial_start(env, "c", a);
        CAMAS_TEST_WAIT(env->w, c->dial_done);
        cr_assert_null(c->dial_error, "%s", c->dial_error ? c->dial_error->message : "");
    }
    env_free(env);
}

/* A listener that closes itself from its accept callback (with more connections waiting in
 * the backlog) stops at once; the waiting clients are reset, nothing leaks. */
Test(transport, listener_closed_from_its_accept_callback_stops_cleanly)
{
    Env *env = env_new(CAMAS_TEST_TCP);
    env->close_listener_on_accept = TRUE;
    env_listen(env);
    g_autoptr(GPtrArray) clients = env_dial_start_many(env, 5);
    CAMAS_TEST_WAIT(env->w, env->listener == NULL);
    for (guint i = 0; i < clients->len; i++) {
        Conn *c = clients->pdata[i];
        CAMAS_TEST_WAIT(env->w, c->dial_done);
    }
    camas_test_world_settle(env->w, 0);
    cr_assert_eq(env->accepted->len, 1);
    /* The clients the listener never took see their connection end. */
    guint ended = 0;
    for (guint i = 0; i < clients->len; i++) {
        Conn *c = clients->pdata[i];
        if (c->dial_error == NULL) {
            send_str(c, "anyone?");
            CAMAS_TEST_WAIT(env->w, c->closed || rx_equals(env->accepted->pdata[0], "anyone?"));
        }
        ended += c->dial_error != NULL || c->closed;
    }
    cr_assert_eq(ended, clients->len - 1);
    env_free(env);
}

/* The 1000 connections the channel layer asks for, concurrently, on one listener. */
Test(transport, tcp_listener_accepts_a_thousand_concurrent_connections)
{
    const guint n = 1000;
    Env *env = env_new(CAMAS_TEST_TCP);
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    cr_assert_geq(rl.rlim_cur, 2 * n + 64, "needs %u file descriptors, the limit is %lu",
                  2 * n + 64, (unsigned long)rl.rlim_cur);
    env->echo = TRUE;
    env_listen(env);
    g_autoptr(GPtrArray) clients = env_dial_many(env, n);
    for (guint i = 0; i < n; i++)
        send_str(clients->pdata[i], ((Conn *)clients->pdata[i])->label);
    CAMAS_TEST_WAIT(env->w, ({
                        guint done = 0;
                        for (guint i = 0; i < n; i++) {
                            Conn *c = clients->pdata[i];
                            done += c->rx->len == strlen(c->label);
                        }
                        done == n;
                    }));
    for (guint i = 0; i < n; i++) {
        Conn *c = clients->pdata[i];
        cr_assert(rx_equals(c, c->label), "%s", c->label);
    }
    env_free(env);
}

/* --- Unix socket files --------------------------------------------------------------------- */

static CamasAddress *
ipc_address(Env *env, const char *name)
{
    g_autofree char *text = g_strdup_printf("ipc://[%s/%s]", env->w->tmpdir, name);
    return parse_ok(text);
}

Test(transport, unix_socket_file_is_removed_when_the_listener_closes)
{
    Env *env = env_new(CAMAS_TEST_IPC);
    env_listen(env);
    const char *path = env->dial_address->path;
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    camas__listener_close(g_steal_pointer(&env->listener));
    cr_assert_neq(lstat(path, &st), 0, "%s still exists", path);
    env_free(env);
}

Test(transport, stale_unix_socket_file_is_replaced)
{
    Env *env = env_new(CAMAS_TEST_IPC);
    g_autoptr(CamasAddress) a = ipc_address(env, "stale.sock");
    /* A socket file nobody listens on any more (its server died). */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    g_strlcpy(un.sun_path, a->path, sizeof un.sun_path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&un, sizeof un), 0);
    close(fd);
    env_listen_at(env, a);
    Conn *c = env_dial(env, "c0");
    send_str(c, "fresh");
    CAMAS_TEST_WAIT(env->w, env->accepted->len == 1 && rx_equals(env->accepted->pdata[0], "fresh"));
    env_free(env);
}

Test(transport, unix_path_that_is_not_a_socket_is_left_alone)
{
    Env *env = env_new(CAMAS_TEST_IPC);
    g_autoptr(CamasAddress) a = ipc_address(env, "plain-file");
    cr_assert(g_file_set_contents(a->path, "data", -1, NULL));
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas__transport_listen(env->loop, a, NULL, on_accept, env, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(error->message, "not a socket"), "%s", error->message);
    g_autofree char *contents = NULL;
    cr_assert(g_file_get_contents(a->path, &contents, NULL, NULL));
    cr_assert_str_eq(contents, "data");
    g_unlink(a->path);
    env_free(env);
}

Test(transport, unix_socket_path_too_long_is_invalid)
{
    Env *env = env_new(CAMAS_TEST_IPC);
    g_autofree char *longname = g_strnfill(200, 'x');
    g_autoptr(CamasAddress) a = ipc_address(env, longname);
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas__transport_listen(env->loop, a, NULL, on_accept, env, &error));
    cr_assert(strstr(error->message, "too long"), "%s", error->message);
    Conn *c = env_dial_start(env, "c0", a);
    CAMAS_TEST_WAIT(env->w, c->dial_done);
    cr_assert(g_error_matches(c->dial_error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(c->dial_error->message, "too long"), "%s", c->dial_error->message);
    env_free(env);
}

/* --- TLS ----------------------------------------------------------------------------------- */

/* A client context built directly on OpenSSL, for what camas' own contexts refuse to do. */
static CamasTlsContext *
raw_client_context(Env *env, gboolean with_cert, int max_version, const char *ciphers)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    cr_assert_eq(SSL_CTX_load_verify_locations(ctx, env->certs->ca, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (with_cert) {
        cr_assert_eq(SSL_CTX_use_certificate_chain_file(ctx, env->certs->client_cert), 1);
        cr_assert_eq(SSL_CTX_use_PrivateKey_file(ctx, env->certs->client_key, SSL_FILETYPE_PEM),
                     1);
    }
    if (max_version)
        SSL_CTX_set_max_proto_version(ctx, max_version);
    if (ciphers)
        cr_assert_eq(SSL_CTX_set_cipher_list(ctx, ciphers), 1);
    return camas__tls_context_new_from_ssl_ctx(ctx, FALSE);
}

/* The failure a client saw: its dial failed, or (TLS 1.3: the client finishes before the
 * server has checked its certificate) its pipe closed with an error. */
static const GError *
client_failure(Conn *c)
{
    CAMAS_TEST_WAIT(c->env->w, (c->dial_done && c->dial_error) || c->closed);
    return c->dial_error ? c->dial_error : c->closed_error;
}

/* A dial of @env's listener with the client TLS context @tls that must fail with
 * CAMAS_ERROR_PROTOCOL, at once or once connected.  Returns: (transfer none) the error. */
static const GError *
dial_refused(Env *env, CamasTlsContext *tls, const char *label)
{
    env->client_opts.tls = tls;
    const GError *e = client_failure(env_dial_start(env, label, NULL));
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL), "%s", e->message);
    return e;
}

/* After a failure the listener still serves a good client. */
static void
assert_listener_still_serves(Env *env, CamasTlsContext *good)
{
    env->client_opts.tls = good;
    Conn *c = env_dial(env, "good");
    send_str(c, "still here");
    CAMAS_TEST_WAIT(env->w,
                    env->accepted->len >= 1 &&
                        rx_equals(env->accepted->pdata[env->accepted->len - 1], "still here"));
}

/* A client with the TLS context @bad, which @env's listener refuses: the dial fails with a TLS
 * alert, the listener reports one error naming @reason and accepts nothing, and it goes on
 * serving a good client. */
static void
assert_client_refused(Env *env, CamasTlsContext *bad, const char *reason)
{
    const GError *e = dial_refused(env, bad, "c0");
    cr_assert(strstr(e->message, "alert"), "%s", e->message);
    CAMAS_TEST_WAIT(env->w, env->listener_errors == 1);
    cr_assert(strstr(env->listener_error_log->str, reason), "%s", env->listener_error_log->str);
    cr_assert_eq(env->accepted->len, 0);
    assert_listener_still_serves(env, env->client_tls);
}

/* A raw client connected to 127.0.0.1:@port.  Returns: its file descriptor. */
static int
raw_connect(guint16 port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "%s", g_strerror(errno));
    return fd;
}

/* Points a TLS dial at a plaintext TCP listener of @env (which does not speak TLS).
 * Returns: the client, still dialling. */
static Conn *
env_dial_tls_to_plaintext(Env *env, const char *label)
{
    env->server_opts.tls = NULL;
    g_autoptr(CamasAddress) plain = parse_ok("tcp://127.0.0.1:0");
    env_listen_at(env, plain);
    g_autoptr(CamasAddress) target = camas_address_copy(env->dial_address);
    target->tls = TRUE;
    return env_dial_start(env, label, target);
}

Test(transport, tls_plaintext_client_on_a_tls_port_fails_only_that_connection)
{
    Env *env = env_new(CAMAS_TEST_TLS);
    env_listen(env);
    /* First without an error func: the failure is only logged (g_debug), nothing aborts. */
    camas__listener_set_error_func(env->listener, NULL, NULL);
    g_autoptr(CamasAddress) plain = camas_address_copy(env->dial_address);
    plain->tls = FALSE;
    env->client_opts.tls = NULL;
    Conn *p0 = env_dial_start(env, "p0", plain);
    CAMAS_TEST_WAIT(env->w, p0->dial_done);
    send_bytes(p0, "\x00\x00\x00\x05hello", 9);
    CAMAS_TEST_WAIT(env->w, p0->closed);
    cr_assert_eq(env->listener_errors, 0);
    camas__listener_set_error_func(env->listener, on_listener_error, env);
    Conn *p = env_dial_start(env, "p1", plain);
    CAMAS_TEST_WAIT(env->w, p->dial_done);
    cr_assert_null(p->dial_error);
    send_bytes(p, "\x00\x00\x00\x05hello", 9);
    CAMAS_TEST_WAIT(env->w, env->listener_errors == 1 && p->closed);
    cr_assert(g_str_has_prefix(env->listener_error_log->str, "('127.0.0.1', "), "%s",
              env->listener_error_log->str);
    cr_assert(strstr(env->listener_error_log->str, "TLS handshake failed"), "%s",
              env->listener_error_log->str);
    cr_assert_eq(env->accepted->len, 0, "a failed handshake must never reach the owner");
    assert_listener_still_serves(env, env->client_tls);
    env_free(env);
}

Test(transport, tls_client_certificate_from_another_ca_is_rejected)
{
    Env *env = env_new(CAMAS_TEST_TLS);
    env_listen(env);
    CamasTlsCerts stranger = camas_test_certs_stranger(env->certs);
    g_autoptr(CamasTlsContext) bad = tls_context(&stranger, FALSE);
    assert_client_refused(env, bad, "certificate verify failed");
    env_free(env);
}

Test(transport, tls_client_without_a_certificate_is_rejected)
{
    Env *env = env_new(CAMAS_TEST_TLS);
    env_listen(env);
    g_autoptr(CamasTlsContext) nocert = raw_client_context(env, FALSE, 0, NULL);
    assert_client_refused(env, nocert, "did not return a certificate");
    env_free(env);
}

Test(transport, tls_server_certificate_from_another_ca_fails_the_dial)
{
    Env *env = env_new(CAMAS_TEST_TLS);
    CamasTlsCerts stranger = {env->certs->ca, env->certs->other_cert, env->certs->other_key};
    g_autoptr(CamasTlsContext) bad = tls_context(&stranger, TRUE);
    env->server_opts.tls = bad;
    env_listen(env);
    Conn *c = env_dial_start(env, "c0", NULL);
    CAMAS_TEST_WAIT(env->w, c->dial_done);
    cr_assert(g_error_matches(c->dial_error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL));
    cr_assert(strstr(c->dial_error->message, "certificate verify failed"), "%s",
              c->dial_error->message);
    cr_assert(strstr(c->dial_error->message, "local issuer"), "%s", c->dial_error->message);
    CAMAS_TEST_WAIT(env->w, env->listener_errors == 1);
    cr_assert(strstr(env->listener_error_log->str, "unknown ca"), "%s",
              env->listener_error_log->str);
    env_free(env);
}

Test(transport, tls_client_checks_the_host_name)
{
    Env *env = env_new(CAMAS_TEST_TLS);
    env_listen(env);
    env->client_opts.tls_server_name = "wrong.example";
    Conn *c = env_dial_start(env, "c0", NULL);
    CAMAS_TEST_WAIT(env->w, c->dial_done);
    cr_assert(g_error_matches(c->dial_error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL));
    cr_assert(strstr(c->dial_error->message, "hostname mismatch"), "%s", c->dial_error->message);
    /* The certificate names DNS:localhost, and the IP 127.0.0.1 is checked as an IP. */
    env->client_opts.tls_server_name = "localhost";
    Conn *d = env_dial(env, "c1");
    cr_assert_not_null(camas__pipe_get_tls_version(d->pipe));
    env->client_opts.tls_server_name = "127.0.0.2";
    Conn *e = env_dial_start(env, "c2", NULL);
    CAMAS_TEST_WAIT(env->w, e->dial_done);
    cr_assert(strstr(e->dial_error->message, "IP address mismatch"), "%s",
              e->dial_error->message);
    env_free(env);
}

Test(transport, tls_client_on_a_plaintext_port_fails_with_a_protocol_error)
{
    Env *env = env_new(CAMAS_TEST_TLS);
    env->hang_up = TRUE;
    Conn *c = env_dial_tls_to_plaintext(env, "c0");
    CAMAS_TEST_WAIT(env->w, c->dial_done);
    cr_assert(g_error_matches(c->dial_error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL));
    cr_assert(strstr(c->dial_error->message, "TLS handshake failed"), "%s",
              c->dial_error->message);
    env_free(env);
}

Test(transport, tls_handshake_that_never_finishes_times_out_on_both_sides)
{
    Env *env = env_new(CAMAS_TEST_TLS);
    /* A plaintext server that never answers: the TLS client gives up. */
    env->client_opts.handshake_timeout_ms = 100;
    Conn *c = env_dial_tls_to_plaintext(env, "c0");
    CAMAS_TEST_WAIT(env->w, c->dial_done);
    cr_assert(g_error_matches(c->dial_error, CAMAS_ERROR, CAMAS_ERROR_TIMED_OUT), "%s",
              c->dial_error->message);
    cr_assert(strstr(c->dial_error->message, "100 ms"), "%s", c->dial_error->message);
    g_clear_pointer(&env->listener, camas__listener_close);
    g_clear_pointer(&env->dial_address, camas_address_free);
    /* A TLS server whose client connects and says nothing: the server drops it. */
    env->server_opts.tls = env->server_tls;
    env->server_opts.handshake_timeout_ms = 100;
    env_listen(env);
    int fd = raw_connect(env->dial_address->port);
    CAMAS_TEST_WAIT(env->w, env->listener_errors == 1);
    cr_assert(strstr(env->listener_error_log->str, "did not finish within 100 ms"), "%s",
              env->listener_error_log->str);
    close(fd);
    env_free(env);
}

/* A connection stalled in its handshake does not hold up anyone else's. */
Test(transport, tls_stalled_handshake_does_not_delay_others)
{
    Env *env = env_new(CAMAS_TEST_TLS);
    env_listen(env);
    int fd = raw_connect(env->dial_address->port);
    cr_assert_eq(write(fd, "\x16\x03\x01", 3), 3); /* a third of a record header */
    Conn *c = env_dial(env, "c0");
    send_str(c, "through");
    CAMAS_TEST_WAIT(env->w,
                    env->accepted->len == 1 && rx_equals(env->accepted->pdata[0], "through"));
    close(fd);
    env_free(env);
}

/* A TLS 1.2 peer (as Python's aiomas is) negotiates ECDHE with AES-GCM; one offering only
 * other suites is refused. */
Test(transport, tls12_peers_get_ecdhe_aes_gcm_and_nothing_else)
{
    Env *env = env_new(CAMAS_TEST_TLS);
    env_listen(env);
    g_autoptr(CamasTlsContext) tls12 = raw_client_context(env, TRUE, TLS1_2_VERSION, NULL);
    env->client_opts.tls = tls12;
    Conn *c = env_dial(env, "c0");
    cr_assert_str_eq(camas__pipe_get_tls_version(c->pipe), "TLSv1.2");
    const char *cipher = camas__pipe_get_tls_cipher(c->pipe);
    cr_assert(g_str_has_prefix(cipher, "ECDHE-") && strstr(cipher, "-GCM-"), "%s", cipher);
    Conn *s = env_accepted(env, 0);
    cr_assert_str_eq(camas__pipe_get_tls_cipher(s->pipe), cipher);
    g_autoptr(CamasTlsContext) cbc =
        raw_client_context(env, TRUE, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA:AES128-SHA");
    dial_refused(env, cbc, "c1");
    CAMAS_TEST_WAIT(env->w, env->listener_errors == 1);
    cr_assert(strstr(env->listener_error_log->str, "no shared cipher"), "%s",
              env->listener_error_log->str);
    /* TLS 1.1 and older are refused whatever the suites. */
    g_autoptr(CamasTlsContext) old =
        raw_client_context(env, TRUE, TLS1_1_VERSION, "ALL:@SECLEVEL=0");
    dial_refused(env, old, "c2");
    env_free(env);
}

Test(transport, tls_context_errors_name_the_file_and_the_reason)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasTestCerts) certs = camas_test_certs_new(&error);
    cr_assert_not_null(certs, "%s", error ? error->message : "");
    CamasTlsCerts missing = {"/nonexistent/ca.pem", certs->server_cert, certs->server_key};
    cr_assert_null(camas_tls_context_new_server(&missing, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(error->message, "/nonexistent/ca.pem"), "%s", error->message);
    g_clear_error(&error);
    CamasTlsCerts mismatch = {certs->ca, certs->server_cert, certs->client_key};
    cr_assert_null(camas_tls_context_new_client(&mismatch, &error));
    cr_assert(strstr(error->message, "mismatch"), "%s", error->message);
    cr_assert(strstr(error->message, certs->client_key), "%s", error->message);
    g_clear_error(&error);
    CamasTlsCerts garbage = {certs->ca, certs->ca, certs->ca}; /* a certificate as key */
    cr_assert_null(camas_tls_context_new_server(&garbage, &error));
    cr_assert(strstr(error->message, "key file"), "%s", error->message);
    g_clear_error(&error);
    CamasTlsCerts partial = {certs->ca, NULL, NULL};
    cr_assert_null(camas_tls_context_new_server(&partial, &error));
    cr_assert(strstr(error->message, "need a CA file"), "%s", error->message);
    /* References: the context lives as long as its last reference. */
    CamasTlsCerts ok = camas_test_certs_server(certs);
    CamasTlsContext *ctx = camas_tls_context_new_server(&ok, NULL);
    cr_assert_not_null(ctx);
    camas_tls_context_ref(ctx);
    camas_tls_context_unref(ctx);
    cr_assert_eq(g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_TLS_CONTEXT]), 1);
    camas_tls_context_unref(ctx);
}

/* --- dying in every state ------------------------------------------------------------------ */

/* A peer that resets (SO_LINGER 0) while we still have bytes queued for it: `closed` with
 * CAMAS_ERROR_CLOSED naming the reset, once; nothing leaks. */
Test(transport, peer_reset_fails_the_pipe_with_closed)
{
    Env *env = env_new(CAMAS_TEST_TCP);
    env_listen(env);
    int fd = raw_connect(env->dial_address->port);
    Conn *s = env_accepted(env, 0);
    g_autofree guint8 *big = g_malloc0(8u << 20);
    send_bytes(s, big, 8u << 20); /* more than the kernel buffers take */
    camas_test_world_settle(env->w, 0);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    CAMAS_TEST_WAIT(env->w, s->closed);
    cr_assert(g_error_matches(s->closed_error, CAMAS_ERROR, CAMAS_ERROR_CLOSED), "%s",
              s->closed_error ? s->closed_error->message : "clean end");
    const char *m = s->closed_error->message;
    cr_assert(strstr(m, "reset") || strstr(m, "pipe"), "%s", m);
    camas_test_world_settle(env->w, 0);
    cr_assert_eq(s->closed, 1);
    env_free(env);
}

/* --- lingering close ----------------------------------------------------------------------- */

#define LINGER_BLOB ((gsize)8 << 20) /* more than loopback's kernel buffers take */

static gint
live_pipes(void)
{
    return g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_PIPE]);
}

/* Reads @fd (blocking) until it ends: the byte count, and how it ended (0 or an errno). */
static gsize
read_to_end(int fd, int *end)
{
    g_autofree guint8 *buf = g_malloc(1 << 16);
    gsize total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 16);
        if (n > 0) {
            total += (gsize)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        *end = n == 0 ? 0 : errno;
        return total;
    }
}

/* A TCP env whose one accepted connection (from a raw client, whose fd is returned) was sent
 * LINGER_BLOB bytes and closed: it lingers now. */
static Env *
env_lingering(int *fd)
{
    Env *env = env_new(CAMAS_TEST_TCP);
    env_listen(env);
    *fd = raw_connect(env->dial_address->port);
    Conn *s = env_accepted(env, 0);
    g_autofree guint8 *big = g_malloc0(LINGER_BLOB);
    send_bytes(s, big, LINGER_BLOB);
    camas_test_world_settle(env->w, 0);
    conn_close(s);
    cr_assert_eq(live_pipes(), 1, "the closed socket should linger");
    return env;
}

/* A closed socket whose peer stops reading (and never closes) gives up after the idle limit
 * with a reset: the peer reads what reached it and then learns that the rest was lost. */
Test(transport, lingering_close_gives_up_when_the_peer_stops_reading)
{
    camas__socket_set_linger_idle_ms(200);
    gint64 t0 = g_get_monotonic_time();
    int fd;
    Env *env = env_lingering(&fd);
    CAMAS_TEST_WAIT(env->w, live_pipes() == 0);
    cr_assert_geq(g_get_monotonic_time() - t0, 200 * 1000, "gave up before the idle limit");
    int end = -1;
    gsize got = read_to_end(fd, &end);
    cr_assert_lt(got, LINGER_BLOB);
    cr_assert_eq(end, ECONNRESET, "the peer should see a reset, saw %s after %zu bytes",
                 end ? g_strerror(end) : "a clean end", got);
    close(fd);
    camas__socket_set_linger_idle_ms(0);
    env_free(env);
}

typedef struct {
    int fd;
    gsize got;
    gboolean ended;
    int end;
} SlowReader;

/* Every 50 ms: takes at most 256 KiB. */
static gboolean
slow_read(gpointer data)
{
    SlowReader *r = data;
    guint8 buf[1 << 16];
    for (gsize taken = 0; taken < (256u << 10);) {
        ssize_t n = recv(r->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            r->got += (gsize)n;
            taken += (gsize)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return G_SOURCE_CONTINUE;
        if (n < 0 && errno == EINTR)
            continue;
        r->ended = TRUE;
        r->end = n == 0 ? 0 : errno;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* The idle limit counts time without progress, not the whole close: a peer that keeps reading
 * — slowly, over several times the limit — gets every byte and a clean end.  Its reading
 * progress is seen in the kernel's buffer too, after our queue has all gone there. */
Test(transport, lingering_close_lasts_while_the_peer_keeps_reading)
{
    camas__socket_set_linger_idle_ms(400);
    SlowReader r = {0};
    Env *env = env_lingering(&r.fd);
    gint64 t0 = g_get_monotonic_time();
    GSource *reader = g_timeout_source_new(50);
    g_source_set_callback(reader, slow_read, &r, NULL);
    g_source_attach(reader, env->w->ctx);
    CAMAS_TEST_WAIT(env->w, r.ended && live_pipes() == 0);
    g_source_destroy(reader);
    g_source_unref(reader);
    cr_assert_eq(r.end, 0, "the peer saw %s after %zu bytes", g_strerror(r.end), r.got);
    cr_assert_eq(r.got, LINGER_BLOB);
    cr_assert_gt(g_get_monotonic_time() - t0, 2 * 400 * 1000,
                 "the peer read too fast for this test to mean anything");
    close(r.fd);
    camas__socket_set_linger_idle_ms(0);
    env_free(env);
}

/* Lingering needs the GMainContext, not the loop: with the loop freed, a context still being
 * iterated finishes the close (every byte, then the end); when the context goes away (its last
 * reference), lingering sockets close at once and nothing leaks. */
Test(transport, lingering_close_outlives_the_loop_but_not_the_context)
{
    for (int drop_context = 0; drop_context < 2; drop_context++) {
        GMainContext *ctx = g_main_context_new();
        CamasLoop *loop = camas_loop_new();
        camas_loop_attach(loop, ctx);
        g_autoptr(GError) error = NULL;
        g_autoptr(CamasAddress) address = parse_ok("tcp://127.0.0.1:0");
        Env dummy = {.loop = loop};
        CamasListener *l = camas__transport_listen(loop, address, NULL, on_accept, &dummy,
                                                   &error);
        cr_assert_not_null(l, "%s", error ? error->message : "");
        dummy.accepted = g_ptr_array_new();
        dummy.conns = g_ptr_array_new_with_free_func(conn_free);
        dummy.log = g_string_new(NULL);
        int fd = raw_connect(camas__listener_get_address(l)->port);
        gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
        while (dummy.accepted->len == 0) {
            cr_assert_lt(g_get_monotonic_time(), deadline, "no accept");
            g_main_context_iteration(ctx, TRUE);
        }
        Conn *s = dummy.accepted->pdata[0];
        g_autofree guint8 *big = g_malloc0(LINGER_BLOB);
        send_bytes(s, big, LINGER_BLOB);
        conn_close(s);
        camas__listener_close(l);
        g_ptr_array_unref(dummy.conns);
        g_ptr_array_unref(dummy.accepted);
        g_string_free(dummy.log, TRUE);
        camas_loop_free(loop);
        cr_assert_eq(live_pipes(), 1, "the closed socket should linger");
        if (drop_context) {
            g_main_context_unref(ctx);
            cr_assert_eq(live_pipes(), 0, "the context went, the socket stayed");
            int end = -1;
            cr_assert_lt(read_to_end(fd, &end), LINGER_BLOB);
        } else {
            SlowReader r = {.fd = fd};
            while (!r.ended || live_pipes() > 0) {
                cr_assert_lt(g_get_monotonic_time(), deadline, "lingering did not finish");
                g_main_context_iteration(ctx, FALSE);
                slow_read(&r);
            }
            cr_assert_eq(r.end, 0, "%s", g_strerror(r.end));
            cr_assert_eq(r.got, LINGER_BLOB);
            g_main_context_unref(ctx);
        }
        close(fd);
    }
}

/* A TLS dial cancelled in the middle of its handshake, and a listener closed while an
 * incoming connection is in its handshake: no callback, nothing leaks, the raw peer sees the
 * end. */
Test(transport, connections_dropped_mid_handshake_leak_nothing)
{
    Env *env = env_new(CAMAS_TEST_TLS);
    /* a server that never answers the ClientHello */
    Conn *c = env_dial_tls_to_plaintext(env, "c0");
    Conn *s = env_accepted(env, 0);
    CAMAS_TEST_WAIT(env->w,
                    s->rx->len > 0); /* the ClientHello arrived: the client is mid-handshake */
    camas__pipe_close(g_steal_pointer(&c->pending));
    CAMAS_TEST_WAIT(env->w, s->closed);
    cr_assert_not(c->dial_done);
    g_clear_pointer(&env->listener, camas__listener_close);
    g_clear_pointer(&env->dial_address, camas_address_free);

    env->server_opts.tls = env->server_tls;
    env_listen(env);
    int fd = raw_connect(env->dial_address->port);
    cr_assert_eq(write(fd, "\x16\x03\x01", 3), 3);
    camas_test_world_settle(env->w, 0);
    g_clear_pointer(&env->listener, camas__listener_close);
    /* The dropped connection ends: the raw peer reads end of file. */
    char buf[64];
    CAMAS_TEST_WAIT(env->w, ({
                        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                        n == 0 || (n < 0 && errno != EAGAIN);
                    }));
    close(fd);
    cr_assert_eq(env->listener_errors, 0, "a listener closed by its owner reports nothing");
    env_free(env);
}
