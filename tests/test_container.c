/* SPDX-License-Identifier: MIT */
/*
 * Containers: agent ids and URLs (incl. the host rules), the root service (validate_aid,
 * agents/<aid>/<method>), the §13 C.3 capture byte for byte, the connection cache (reuse,
 * concurrent connects sharing one connection, callbacks over the connecting container's
 * connection), dates as type id 0 and the serializer order, TLS container pairs, and the bad
 * input paths: malformed URLs, unknown schemes, missing agents, unexposed and missing methods,
 * addresses in use, peers that die mid-call, spawn failures, shutdown with calls in flight.
 */
#include <criterion/criterion.h>
#include <glib/gstdio.h>
#include <string.h>

#include <camas/camas.h>
#include <camas/container.h>

#include "certs.h"
#include "leakcheck.h"
#include "live-private.h"

TestSuite(container, .fini = camas_test_check_leaks, .timeout = 60);

/* --- helpers ---------------------------------------------------------------------------------- */

typedef struct {
    CamasLoop *loop;
    CamasClock *clock;
    GMainContext *ctx; /* for socket tests */
    GSource *tick;     /* wakes the context now and then, so deadlines are checked */
} World;

static gboolean
tick(gpointer data)
{
    return G_SOURCE_CONTINUE;
}

static void
world_init(World *w, gboolean sockets)
{
    memset(w, 0, sizeof *w);
    w->loop = camas_loop_new();
    w->clock = camas_clock_new_afap(w->loop, 0, 0);
    if (sockets) {
        w->ctx = g_main_context_new();
        camas_loop_attach(w->loop, w->ctx);
        w->tick = g_timeout_source_new(100);
        g_source_set_callback(w->tick, tick, NULL, NULL);
        g_source_attach(w->tick, w->ctx);
    }
}

static void
world_clear(World *w)
{
    if (w->ctx) {
        /* Closed sockets linger until flushed and the peer's end arrived: let them finish. */
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        while (g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_PIPE]) > 0) {
            cr_assert_lt(g_get_monotonic_time(), deadline, "closed sockets did not finish");
            g_main_context_iteration(w->ctx, TRUE);
        }
    }
    camas_clock_unref(w->clock);
    camas_loop_free(w->loop);
    if (w->ctx) {
        g_source_destroy(w->tick);
        g_source_unref(w->tick);
        g_main_context_unref(w->ctx);
    }
}

/* Runs events (and socket I/O) until @f is done; fails the test after a real-time deadline. */
static void
run_until_done(World *w, CamasFuture *f)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!camas_future_is_done(f)) {
        if (camas_loop_step(w->loop))
            continue;
        cr_assert_not_null(w->ctx, "the loop ran dry before the future was done");
        cr_assert(g_get_monotonic_time() < deadline, "timed out waiting for a future");
        g_main_context_iteration(w->ctx, TRUE);
    }
}

static CamasValue *
await_ok(World *w, CamasFuture *f)
{
    run_until_done(w, f);
    g_autoptr(GError) error = NULL;
    CamasValue *r = NULL;
    cr_assert(camas_future_propagate(f, &r, &error), "failed: %s", error ? error->message : "");
    return r ? r : camas_value_new_null();
}

static GError *
await_error(World *w, CamasFuture *f)
{
    run_until_done(w, f);
    GError *error = NULL;
    g_autoptr(CamasValue) r = NULL;
    cr_assert_not(camas_future_propagate(f, &r, &error), "unexpected success");
    return error;
}

static CamasContainer *
container(World *w, const char *address, const CamasContainerOptions *options)
{
    g_autoptr(GError) error = NULL;
    CamasContainer *c = camas_container_new(w->clock, address, options, &error);
    cr_assert_not_null(c, "%s: %s", address, error ? error->message : "");
    return c;
}

static CamasProxy *
connect_ok(World *w, CamasContainer *c, const char *url)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasFuture) f = camas_container_connect(c, url, &error);
    cr_assert_not_null(f, "%s", error ? error->message : "");
    run_until_done(w, f);
    CamasProxy *p = camas_container_connect_finish(f, &error);
    cr_assert_not_null(p, "connect %s: %s", url, error ? error->message : "");
    return p;
}

static GError *
connect_error(World *w, CamasContainer *c, const char *url)
{
    GError *error = NULL;
    g_autoptr(CamasFuture) f = camas_container_connect(c, url, &error);
    if (!f)
        return error;
    return await_error(w, f);
}

static void
assert_value(CamasValue *got, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autoptr(CamasValue) expect = camas_value_build_va(format, &ap);
    va_end(ap);
    g_autofree char *g = camas_value_repr(got);
    g_autofree char *e = camas_value_repr(expect);
    cr_assert(camas_value_equal(got, expect), "got %s, expected %s", g, e);
}

static CamasValue *
call_ok(World *w, CamasProxy *p, const char *method, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autoptr(CamasValue) args = camas_value_build_va(format, &ap);
    va_end(ap);
    g_autoptr(CamasFuture) f = camas_proxy_call(p, method, args, NULL);
    return await_ok(w, f);
}

static GError *
call_error(World *w, CamasProxy *p, const char *method, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autoptr(CamasValue) args = camas_value_build_va(format, &ap);
    va_end(ap);
    g_autoptr(CamasFuture) f = camas_proxy_call(p, method, args, NULL);
    return await_error(w, f);
}

static void
assert_remote_last_line(const GError *e, const char *line)
{
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_REMOTE), "%s", e->message);
    const char *text = camas_error_get_remote_text(e);
    cr_assert(g_str_has_suffix(text, line), "%s\ndoes not end with\n%s", text, line);
}

/* --- test agents ------------------------------------------------------------------------------ */

/* EchoAgent of conformance-service.md (the parts the C.3 capture uses). */
static void
echo_add(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    gint64 a, b;
    if (!camas_agent_args_or_fail(req, "a:I b:I", &a, &b))
        return;
    camas_request_reply_take(req, camas_value_new_int(a + b));
}

static void
echo_shift_date(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *date;
    double seconds;
    if (!camas_agent_args_or_fail(req, "date:v seconds:f", &date, &seconds))
        return;
    gint64 ns;
    gint32 offset;
    if (!camas_date_value_get(date, &ns, &offset))
        return camas_request_fail_text(req, "TypeError", "date must be a date");
    camas_request_reply_take(req, camas_date_value_new(ns + (gint64)(seconds * 1e9), offset));
}

static CamasValue *
echo_ping_back(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs,
               GError **error)
{
    CamasProxy *proxy;
    gint64 x;
    if (!camas_agent_args(req, error, "proxy:p x:I", &proxy, &x))
        return NULL;
    g_autoptr(CamasValue) r = camas_agent_call(proxy, "pong", error, "[I]", x);
    if (!r)
        return NULL;
    return camas_value_build("[s v]", "pong-reply", r);
}

static CamasValue *
echo_sleep_echo(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs,
                GError **error)
{
    CamasAgent *agent = self;
    double dt;
    CamasValue *x;
    if (!camas_agent_args(req, error, "dt:f x:v", &dt, &x))
        return NULL;
    g_autoptr(CamasValue) keep = camas_value_ref(x);
    if (!camas_task_sleep(agent->clock, dt, error))
        return NULL;
    return g_steal_pointer(&keep);
}

static void
echo_fail(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    const char *m;
    if (!camas_agent_args_or_fail(req, "m:s", &m))
        return;
    camas_request_fail_text(req, "ValueError", m);
}

static void
echo_whoami(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasAgent *agent = self;
    camas_request_reply_take(req, camas_value_build("[s s]", camas_agent_get_class_name(agent),
                                                    camas_agent_get_url(agent)));
}

static const CamasRpcMethod echo_methods[] = {
    {"add", echo_add},
    {"shift_date", echo_shift_date},
    {"ping_back", NULL, echo_ping_back},
    {"sleep_echo", NULL, echo_sleep_echo},
    {"fail", echo_fail},
    {"whoami", echo_whoami},
    {NULL},
};
static const char *const echo_hidden[] = {"secret", NULL};
static const CamasAgentClass echo_class = {
    .name = "EchoAgent",
    .module = "__main__",
    .methods = echo_methods,
    .hidden = echo_hidden,
};

/* The client side of the capture: agent 0 of the connecting container answers pong(x). */
static void
pong(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *x;
    if (!camas_agent_args_or_fail(req, "x:v", &x))
        return;
    camas_request_reply_take(req, camas_value_build("[s v]", "pong", x));
}

static const CamasRpcMethod pong_methods[] = {{"pong", pong}, {NULL}};
static const CamasAgentClass pong_class = {.name = "PongAgent", .methods = pong_methods};

/* An agent with state, init arguments and a finalizer that records the order. */
typedef struct {
    CamasAgent base;
    gint64 start;
    gint64 count;
    GString *journal; /* borrowed from the test */
} Counter;

static gboolean
counter_init(CamasAgent *agent, const CamasValue *args, const CamasValue *kwargs, GError **error)
{
    Counter *self = (Counter *)agent;
    CamasValue *journal = camas_value_map_lookup(kwargs, "journal");
    if (journal)
        self->journal = (GString *)(gintptr)camas_value_get_int(journal);
    if (camas_value_get_length(args) > 0 &&
        !camas_value_to_int64(camas_value_get_item(args, 0), &self->start, error))
        return FALSE;
    if (self->start < 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "start must be >= 0");
        return FALSE;
    }
    self->count = self->start;
    return TRUE;
}

static void
counter_finalize(CamasAgent *agent)
{
    Counter *self = (Counter *)agent;
    if (self->journal)
        g_string_append_printf(self->journal, "fin%s ", camas_agent_get_aid(agent));
}

static void
counter_incr(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    Counter *c = self;
    gint64 n = 1;
    if (!camas_agent_args_or_fail(req, "|n:I", &n))
        return;
    c->count += n;
    camas_request_reply_take(req, camas_value_new_int(c->count));
}

static const CamasRpcMethod counter_methods[] = {{"incr", counter_incr}, {NULL}};
static const CamasAgentClass counter_class = {
    .name = "CounterAgent",
    .instance_size = sizeof(Counter),
    .init = counter_init,
    .finalize = counter_finalize,
    .methods = counter_methods,
};

/* --- ids, URLs and the root service ----------------------------------------------------------- */

Test(container, agent_ids_count_up_and_urls_follow_aiomas)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *c = container(&w, "local://ids", NULL);
    cr_assert_str_eq(camas_container_get_address(c), "local://ids");
    for (int i = 0; i < 3; i++) {
        CamasAgent *a = camas_container_spawn(c, &echo_class, NULL, NULL, NULL);
        cr_assert_not_null(a);
        g_autofree char *aid = g_strdup_printf("%d", i);
        g_autofree char *url = g_strdup_printf("local://ids/%d", i);
        cr_assert_str_eq(camas_agent_get_aid(a), aid);
        cr_assert_str_eq(camas_agent_get_url(a), url);
        cr_assert_eq(camas_container_lookup(c, aid), a);
        cr_assert_eq(a->container, c);
        cr_assert_eq(a->clock, w.clock);
    }
    g_autofree char *repr = camas_agent_dup_repr(camas_container_get_agent(c, 1));
    cr_assert_str_eq(repr, "EchoAgent('local://ids/1')");
    cr_assert_eq(camas_container_get_n_agents(c), 3);
    cr_assert_null(camas_container_lookup(c, "01"));
    cr_assert_null(camas_container_lookup(c, "3"));
    cr_assert_null(camas_container_lookup(c, "+1"));
    camas_container_free(c);
    world_clear(&w);
}

Test(container, tcp_urls_use_the_host_as_given_and_the_bound_port)
{
    World w;
    world_init(&w, TRUE);
    CamasContainer *a = container(&w, "tcp://127.0.0.1:0", NULL);
    CamasContainer *b = container(&w, "tcp://[::1]:0", NULL);
    CamasContainer *d = container(&w, "tcp://0.0.0.0:0", NULL);
    CamasAgent *x = camas_container_spawn(a, &echo_class, NULL, NULL, NULL);
    CamasAgent *y = camas_container_spawn(b, &echo_class, NULL, NULL, NULL);
    CamasAgent *z = camas_container_spawn(d, &echo_class, NULL, NULL, NULL);
    cr_assert(g_str_has_prefix(camas_agent_get_url(x), "tcp://127.0.0.1:"));
    cr_assert(g_str_has_suffix(camas_agent_get_url(x), "/0"));
    cr_assert_str_neq(camas_agent_get_url(x), "tcp://127.0.0.1:0/0", "the bound port is used");
    cr_assert(g_str_has_prefix(camas_agent_get_url(y), "tcp://[::1]:"), "%s",
              camas_agent_get_url(y));
    /* all interfaces: the machine's name, never 0.0.0.0 */
    cr_assert_null(strstr(camas_agent_get_url(z), "0.0.0.0"), "%s", camas_agent_get_url(z));
    g_autofree char *addr = NULL;
    g_autofree char *aid = NULL;
    cr_assert(camas_agent_url_parse(camas_agent_get_url(y), &addr, &aid, NULL));
    cr_assert_str_eq(aid, "0");
    cr_assert_str_eq(addr, camas_container_get_address(b));
    /* the agent in the IPv6 container is reachable through its URL */
    g_autoptr(CamasProxy) p = connect_ok(&w, a, camas_agent_get_url(y));
    g_autoptr(CamasValue) who = call_ok(&w, p, "whoami", "[]");
    assert_value(who, "[s s]", "EchoAgent", camas_agent_get_url(y));
    camas_container_free(a);
    camas_container_free(b);
    camas_container_free(d);
    world_clear(&w);
}

Test(container, unix_socket_urls_keep_the_path_in_brackets)
{
    World w;
    world_init(&w, TRUE);
    g_autofree char *dir = g_dir_make_tmp("camas-container-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "c.sock", NULL);
    g_autofree char *address = g_strdup_printf("ipc://[%s]", path);
    CamasContainer *c = container(&w, address, NULL);
    CamasContainer *d = container(&w, "local://ipc-client", NULL);
    CamasAgent *a = camas_container_spawn(c, &echo_class, NULL, NULL, NULL);
    g_autofree char *url = g_strdup_printf("ipc://[%s]/0", path);
    cr_assert_str_eq(camas_agent_get_url(a), url);
    g_autoptr(CamasProxy) p = connect_ok(&w, d, url);
    g_autoptr(CamasValue) r = call_ok(&w, p, "add", "[i i]", 20, 22);
    assert_value(r, "i", 42);
    camas_proxy_unref(g_steal_pointer(&p));
    camas_container_free(c);
    camas_container_free(d);
    g_remove(path);
    g_rmdir(dir);
    world_clear(&w);
}

Test(container, validate_aid_answers_the_class_name_or_none)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *srv = container(&w, "local://va", NULL);
    camas_container_spawn(srv, &echo_class, NULL, NULL, NULL);
    camas_container_spawn(srv, &pong_class, NULL, NULL, NULL);
    /* a plain RPC client sees aiomas' root */
    g_autoptr(CamasCodec) codec = camas_codec_new("json", NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasFuture) f = camas_rpc_open(w.loop, "local://va", codec, NULL, NULL, &error);
    cr_assert_not_null(f);
    run_until_done(&w, f);
    g_autoptr(CamasRpcConnection) conn = camas_rpc_open_finish(f, &error);
    cr_assert_not_null(conn);
    g_autoptr(CamasProxy) root = camas_rpc_connection_get_remote(conn);
    g_autoptr(CamasValue) r0 = call_ok(&w, root, "validate_aid", "[s]", "0");
    assert_value(r0, "s", "EchoAgent");
    g_autoptr(CamasValue) r1 = call_ok(&w, root, "validate_aid", "[s]", "1");
    assert_value(r1, "s", "PongAgent");
    g_autoptr(CamasValue) r2 = call_ok(&w, root, "validate_aid", "[s]", "2");
    assert_value(r2, "n");
    g_autoptr(CamasValue) r3 = call_ok(&w, root, "validate_aid", "[i]", 0);
    assert_value(r3, "n"); /* ids are strings: the integer 0 is not found */
    g_autoptr(CamasValue) r4 = call_ok(&w, root, "validate_aid", "[s]", "00");
    assert_value(r4, "n");
    /* agents are reachable without validation, through the dict */
    g_autoptr(CamasValue) r5 = call_ok(&w, root, "agents/0/add", "[i i]", 1, 2);
    assert_value(r5, "i", 3);
    g_autoptr(GError) e1 = call_error(&w, root, "agents/7/add", "[i i]", 1, 2);
    assert_remote_last_line(e1, "LookupError: Name \"7\" not found in \"agents\"\n");
    g_autoptr(GError) e2 = call_error(&w, root, "validate_aid", "[]");
    assert_remote_last_line(e2, "TypeError: validate_aid() missing 1 required positional "
                                "argument: 'aid'\n");
    camas_rpc_connection_unref(g_steal_pointer(&conn));
    camas_container_free(srv);
    world_clear(&w);
}

/* --- the C.3 capture -------------------------------------------------------------------------- */

typedef struct {
    GPtrArray *client;
    GPtrArray *server;
} Capture;

static void
capture_func(const CamasTraceRecord *r, gpointer data)
{
    Capture *c = data;
    if (r->kind != CAMAS_TRACE_SEND)
        return;
    char *s = g_strndup((const char *)r->payload, r->payload_len);
    g_ptr_array_add(strcmp(r->src, "local://c3-client") == 0 ? c->client : c->server, s);
}

static void
assert_frames(GPtrArray *got, const char *const *expect, const char *who)
{
    guint n = 0;
    while (expect[n])
        n++;
    for (guint i = 0; i < MIN(n, got->len); i++)
        cr_assert_str_eq(g_ptr_array_index(got, i), expect[i], "%s frame %u", who, i);
    cr_assert_eq(got->len, n, "%s sent %u frames, expected %u", who, got->len, n);
}

Test(container, c3_capture_matches_byte_for_byte)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *srv = container(&w, "local://c3-server", NULL);
    CamasContainer *cli = container(&w, "local://c3-client", NULL);
    camas_container_spawn(srv, &echo_class, NULL, NULL, NULL);
    CamasAgent *client_agent = camas_container_spawn(cli, &pong_class, NULL, NULL, NULL);
    Capture cap = {g_ptr_array_new_with_free_func(g_free), g_ptr_array_new_with_free_func(g_free)};
    camas_loop_set_tracer(w.loop, capture_func, &cap, NULL);

    g_autoptr(CamasProxy) p = connect_ok(&w, cli, "local://c3-server/0");
    cr_assert_str_eq(camas_proxy_get_path(p), "agents/0");
    g_autoptr(CamasValue) r1 = call_ok(&w, p, "add", "[i i]", 1, 2);
    assert_value(r1, "i", 3);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasValue) date = camas_date_value_parse("2016-01-01T00:00:00+00:00", &error);
    g_autoptr(CamasValue) r2 = call_ok(&w, p, "shift_date", "[v i]", date, 3600);
    gint64 ns;
    cr_assert(camas_date_value_get(r2, &ns, NULL), "a date comes back as a date");
    g_autofree char *text = camas_date_format(ns, 0);
    cr_assert_str_eq(text, "2016-01-01T01:00:00+00:00");
    g_autoptr(CamasValue) me = camas_agent_to_value(client_agent);
    g_autoptr(CamasValue) r3 = call_ok(&w, p, "ping_back", "[v i]", me, 7);
    assert_value(r3, "[s [s i]]", "pong-reply", "pong", 7);
    g_autoptr(GError) e = connect_error(&w, cli, "local://c3-server/42");
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_LOOKUP), "%s", e->message);
    cr_assert_str_eq(e->message, "Agent \"42\" does not exist in Container(local://c3-server)");
    camas_loop_set_tracer(w.loop, NULL, NULL, NULL);

    static const char *const client_expect[] = {
        "[0, 0, [\"validate_aid\", [\"0\"], {}]]",
        "[0, 1, [\"agents/0/add\", [1, 2], {}]]",
        "[0, 2, [\"agents/0/shift_date\", [{\"__type__\": [0, \"2016-01-01T00:00:00+00:00\"]}, "
        "3600], {}]]",
        "[0, 3, [\"agents/0/ping_back\", [{\"__type__\": [1, \"agents/0\"]}, 7], {}]]",
        "[1, 0, [\"pong\", 7]]",
        "[0, 4, [\"validate_aid\", [\"42\"], {}]]",
        NULL,
    };
    static const char *const server_expect[] = {
        "[1, 0, \"EchoAgent\"]",
        "[1, 1, 3]",
        "[1, 2, {\"__type__\": [0, \"2016-01-01T01:00:00+00:00\"]}]",
        "[0, 0, [\"agents/0/pong\", [7], {}]]",
        "[1, 3, [\"pong-reply\", [\"pong\", 7]]]",
        "[1, 4, null]",
        NULL,
    };
    assert_frames(cap.client, client_expect, "client");
    assert_frames(cap.server, server_expect, "server");
    g_ptr_array_unref(cap.client);
    g_ptr_array_unref(cap.server);
    camas_proxy_unref(g_steal_pointer(&p));
    camas_container_free(cli);
    camas_container_free(srv);
    world_clear(&w);
}

static void
capture_hex(const CamasTraceRecord *r, gpointer data)
{
    Capture *c = data;
    if (r->kind != CAMAS_TRACE_SEND)
        return;
    GString *h = g_string_new(NULL);
    for (gsize i = 0; i < r->payload_len; i++)
        g_string_append_printf(h, "%02x", r->payload[i]);
    g_ptr_array_add(strcmp(r->src, "local://c4-client") == 0 ? c->client : c->server,
                    g_string_free(h, FALSE));
}

Test(container, msgpack_containers_send_the_c4_agent_frames)
{
    World w;
    world_init(&w, FALSE);
    CamasContainerOptions o = {.codec = "msgpack"};
    CamasContainer *srv = container(&w, "local://c4-server", &o);
    CamasContainer *cli = container(&w, "local://c4-client", &o);
    camas_container_spawn(srv, &echo_class, NULL, NULL, NULL);
    Capture cap = {g_ptr_array_new_with_free_func(g_free), g_ptr_array_new_with_free_func(g_free)};
    camas_loop_set_tracer(w.loop, capture_hex, &cap, NULL);
    g_autoptr(CamasProxy) p = connect_ok(&w, cli, "local://c4-server/0");
    /* the shift_date request of C.4 uses id 2: make id 1 an add first */
    g_autoptr(CamasValue) r0 = call_ok(&w, p, "add", "[i i]", 1, 2);
    g_autoptr(CamasValue) date = camas_date_value_parse("2016-01-01T00:00:00+00:00", NULL);
    g_autoptr(CamasValue) r = call_ok(&w, p, "shift_date", "[v i]", date, 3600);
    g_autoptr(GError) e = connect_error(&w, cli, "local://c4-server/42");
    camas_loop_set_tracer(w.loop, NULL, NULL, NULL);
    static const char *const client_expect[] = {
        "93000093ac76616c69646174655f61696491a13080",
        "93000193ac6167656e74732f302f6164649201028"
        "0",
        "93000293b36167656e74732f302f73686966745f646174659281a85f5f747970655f5f9200b9323031362d30"
        "312d30315430303a30303a30302b30303a3030cd0e1080",
        "93000393ac76616c69646174655f61696491a2343280",
        NULL,
    };
    static const char *const server_expect[] = {
        "930100a94563686f4167656e74",
        "93010103",
        "93010281a85f5f747970655f5f9200b9323031362d30312d30315430313a30303a30302b30303a3030",
        "930103c0",
        NULL,
    };
    assert_frames(cap.client, client_expect, "client");
    assert_frames(cap.server, server_expect, "server");
    g_ptr_array_unref(cap.client);
    g_ptr_array_unref(cap.server);
    camas_proxy_unref(g_steal_pointer(&p));
    camas_container_free(cli);
    camas_container_free(srv);
    world_clear(&w);
}

/* --- the connection cache --------------------------------------------------------------------- */

Test(container, connections_are_reused_per_address_and_shared_by_concurrent_connects)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *srv = container(&w, "local://reuse-srv", NULL);
    CamasContainer *cli = container(&w, "local://reuse-cli", NULL);
    for (int i = 0; i < 3; i++)
        camas_container_spawn(srv, &counter_class, NULL, NULL, NULL);
    /* three connects started before any completes: one connection */
    CamasFuture *f[3];
    for (int i = 0; i < 3; i++) {
        g_autofree char *url = g_strdup_printf("local://reuse-srv/%d", i);
        f[i] = camas_container_connect(cli, url, NULL);
    }
    cr_assert_eq(camas_container_get_n_connections(cli), 1);
    CamasProxy *p[3];
    for (int i = 0; i < 3; i++) {
        run_until_done(&w, f[i]);
        p[i] = camas_container_connect_finish(f[i], NULL);
        cr_assert_not_null(p[i]);
        camas_future_unref(f[i]);
    }
    cr_assert_eq(camas_proxy_get_connection(p[0]), camas_proxy_get_connection(p[2]));
    /* a later connect reuses it too, and validates only once per aid */
    g_autoptr(CamasProxy) again = connect_ok(&w, cli, "local://reuse-srv/1");
    cr_assert_eq(camas_proxy_get_connection(again), camas_proxy_get_connection(p[1]));
    cr_assert_eq(camas_container_get_n_connections(cli), 1);
    g_autoptr(CamasValue) a = call_ok(&w, p[1], "incr", "[i]", 5);
    g_autoptr(CamasValue) b = call_ok(&w, again, "incr", "[]");
    assert_value(b, "i", 6);
    /* the server accepted exactly one connection */
    for (int i = 0; i < 3; i++)
        camas_proxy_unref(p[i]);
    camas_proxy_unref(g_steal_pointer(&again));
    camas_container_free(cli);
    camas_container_free(srv);
    world_clear(&w);
}

Test(container, a_container_connects_to_its_own_agents_through_its_server)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *c = container(&w, "local://self", NULL);
    camas_container_spawn(c, &counter_class, NULL, NULL, NULL);
    g_autoptr(CamasProxy) p = connect_ok(&w, c, "local://self/0");
    g_autoptr(CamasValue) r = call_ok(&w, p, "incr", "[i]", 2);
    assert_value(r, "i", 2);
    camas_proxy_unref(g_steal_pointer(&p));
    camas_container_free(c);
    world_clear(&w);
}

Test(container, a_reset_connection_is_replaced_on_the_next_connect)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *srv = container(&w, "local://reset-srv", NULL);
    CamasContainer *cli = container(&w, "local://reset-cli", NULL);
    camas_container_spawn(srv, &counter_class, NULL, NULL, NULL);
    g_autoptr(CamasProxy) p = connect_ok(&w, cli, "local://reset-srv/0");
    camas_container_free(srv);
    while (camas_loop_step(w.loop))
        ;
    cr_assert_eq(camas_container_get_n_connections(cli), 0, "the reset connection is forgotten");
    g_autoptr(GError) e = call_error(&w, p, "incr", "[]");
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED), "%s", e->message);
    /* a new container on the same queue: the next connect opens a new connection */
    srv = container(&w, "local://reset-srv", NULL);
    camas_container_spawn(srv, &counter_class, NULL, NULL, NULL);
    g_autoptr(CamasProxy) q = connect_ok(&w, cli, "local://reset-srv/0");
    g_autoptr(CamasValue) r = call_ok(&w, q, "incr", "[]");
    assert_value(r, "i", 1);
    camas_proxy_unref(g_steal_pointer(&p));
    camas_proxy_unref(g_steal_pointer(&q));
    camas_container_free(cli);
    camas_container_free(srv);
    world_clear(&w);
}

Test(container, connects_retry_until_the_connect_timeout)
{
    World w;
    world_init(&w, FALSE);
    CamasContainerOptions o = {.connect_timeout = 1.0};
    CamasContainer *cli = container(&w, "local://retry-cli", &o);
    g_autoptr(CamasFuture) f = camas_container_connect(cli, "local://retry-srv/0", NULL);
    camas_loop_run_until(w.loop, CAMAS_TICKS_PER_SECOND / 2);
    cr_assert_not(camas_future_is_done(f), "still retrying at 0.5 s");
    CamasContainer *srv = container(&w, "local://retry-srv", NULL);
    camas_container_spawn(srv, &counter_class, NULL, NULL, NULL);
    run_until_done(&w, f);
    g_autoptr(CamasProxy) p = camas_container_connect_finish(f, NULL);
    cr_assert_not_null(p, "the server came up within the timeout");
    /* without a server the connect gives up at the deadline */
    g_autoptr(GError) e = connect_error(&w, cli, "local://never/0");
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED), "%s", e->message);
    camas_proxy_unref(g_steal_pointer(&p));
    camas_container_free(cli);
    camas_container_free(srv);
    world_clear(&w);
}

/* --- bad input -------------------------------------------------------------------------------- */

Test(container, malformed_agent_urls_are_rejected_with_the_reason)
{
    static const struct {
        const char *url, *why;
    } cases[] = {
        {"localhost:5555/0", "must start with a scheme"},
        {"http://localhost:5555/0", "unknown scheme \"http\" (known: tcp, ipc, local)"},
        {"agent://localhost:5555/0", "unknown scheme \"agent\""},
        {"tcp://localhost:5555", "agent id is missing"},
        {"tcp://localhost:5555/", "agent id is missing"},
        {"tcp://localhost/0", "port is missing"},
        {"tcp://localhost:/0", "port is missing"},
        {"tcp://localhost:http/0", "not a number"},
        {"tcp://localhost:70000/0", "not a number"},
        {"tcp://:5555/0", "host is empty"},
        {"tcp://[::1:5555/0", "unbalanced brackets"},
        {"tcp://[]:5555/0", "host is empty"},
        {"tcp:///0", "address is empty"},
        {"ipc:///tmp/x.sock/0", "must be in brackets"},
        {"ipc://[/tmp/x.sock/0", "unbalanced '['"},
        {"ipc://[/tmp/x.sock]", "agent id is missing"},
        {"ipc://[]/0", "path is empty"},
        {"local://q", "agent id is missing"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) e = NULL;
        cr_assert_not(camas_agent_url_parse(cases[i].url, NULL, NULL, &e), "%s", cases[i].url);
        cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_INVALID));
        cr_assert(strstr(e->message, cases[i].why), "%s: %s", cases[i].url, e->message);
        cr_assert(strstr(e->message, cases[i].url), "the message names the URL: %s", e->message);
    }
    g_autofree char *addr = NULL;
    g_autofree char *aid = NULL;
    cr_assert(camas_agent_url_parse("tcp://[::1]:5555/0", &addr, &aid, NULL));
    cr_assert_str_eq(addr, "tcp://[::1]:5555");
    cr_assert_str_eq(aid, "0");
    g_clear_pointer(&addr, g_free);
    g_clear_pointer(&aid, g_free);
    cr_assert(camas_agent_url_parse("tcp://::1:5555/a/b", &addr, &aid, NULL),
              "brackets are optional: the port is split off at the last ':'");
    cr_assert_str_eq(addr, "tcp://[::1]:5555", "the same address as with brackets");
    cr_assert_str_eq(aid, "a/b");

    /* connect() refuses them without starting anything */
    World w;
    world_init(&w, FALSE);
    CamasContainer *c = container(&w, "local://bad-urls", NULL);
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_container_connect(c, "foo://x/0", &e));
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert_eq(camas_container_get_n_connections(c), 0);
    camas_container_free(c);
    world_clear(&w);
}

Test(container, connecting_to_a_missing_agent_names_the_container)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *srv = container(&w, "local://missing", NULL);
    CamasContainer *cli = container(&w, "local://missing-cli", NULL);
    camas_container_spawn(srv, &echo_class, NULL, NULL, NULL);
    g_autoptr(GError) e = connect_error(&w, cli, "local://missing/1");
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_LOOKUP));
    cr_assert_str_eq(e->message, "Agent \"1\" does not exist in Container(local://missing)");
    g_autoptr(GError) e2 = connect_error(&w, cli, "local://missing/x");
    cr_assert_str_eq(e2->message, "Agent \"x\" does not exist in Container(local://missing)");
    /* nobody listens: the connection's error */
    g_autoptr(GError) e3 = connect_error(&w, cli, "local://nobody/0");
    cr_assert(g_error_matches(e3, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED), "%s", e3->message);
    cr_assert_eq(camas_container_get_n_connections(cli), 1, "the failed connection is forgotten");
    camas_container_free(cli);
    camas_container_free(srv);
    world_clear(&w);
}

Test(container, unexposed_and_missing_methods_fail_with_lookup_error)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *srv = container(&w, "local://methods", NULL);
    CamasContainer *cli = container(&w, "local://methods-cli", NULL);
    camas_container_spawn(srv, &echo_class, NULL, NULL, NULL);
    g_autoptr(CamasProxy) p = connect_ok(&w, cli, "local://methods/0");
    g_autoptr(GError) e1 = call_error(&w, p, "secret", "[]");
    assert_remote_last_line(e1, "LookupError: \"__main__.EchoAgent.secret\" is not exposed\n");
    g_autoptr(GError) e2 = call_error(&w, p, "nope", "[]");
    assert_remote_last_line(e2, "LookupError: Name \"nope\" not found in \"agents/0\"\n");
    g_autoptr(GError) e3 = call_error(&w, p, "add", "[s i]", "x", 1);
    assert_remote_last_line(e3, "TypeError: add() argument 'a' must be int, not str\n");
    g_autoptr(GError) e4 = call_error(&w, p, "add", "[i i i]", 1, 2, 3);
    assert_remote_last_line(e4, "TypeError: add() takes 2 positional arguments but 3 were given\n");
    g_autoptr(GError) e5 = call_error(&w, p, "fail", "[s]", "boom");
    assert_remote_last_line(e5, "ValueError: boom\n");
    /* the connection stays usable */
    g_autoptr(CamasValue) r = call_ok(&w, p, "add", "[i i]", 2, 3);
    assert_value(r, "i", 5);
    camas_proxy_unref(g_steal_pointer(&p));
    camas_container_free(cli);
    camas_container_free(srv);
    world_clear(&w);
}

Test(container, an_address_in_use_is_refused)
{
    World w;
    world_init(&w, TRUE);
    CamasContainer *a = container(&w, "local://taken", NULL);
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_container_new(w.clock, "local://taken", NULL, &e));
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(e->message, "local://taken"), "%s", e->message);
    CamasContainer *t = container(&w, "tcp://127.0.0.1:0", NULL);
    const char *addr = camas_container_get_address(t);
    g_autoptr(GError) e2 = NULL;
    cr_assert_null(camas_container_new(w.clock, addr, NULL, &e2));
    cr_assert(g_error_matches(e2, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(e2->message, addr), "%s", e2->message);
    g_autoptr(GError) e3 = NULL;
    cr_assert_null(camas_container_new(w.clock, "bogus://x", NULL, &e3));
    cr_assert(g_error_matches(e3, CAMAS_ERROR, CAMAS_ERROR_INVALID), "%s", e3->message);
    g_autoptr(GError) e4 = NULL;
    CamasContainerOptions o = {.codec = "xml"};
    cr_assert_null(camas_container_new(w.clock, "local://x", &o, &e4));
    cr_assert(g_error_matches(e4, CAMAS_ERROR, CAMAS_ERROR_LOOKUP), "%s", e4->message);
    camas_container_free(a);
    camas_container_free(t);
    world_clear(&w);
}

Test(container, a_peer_that_dies_mid_call_fails_the_call_with_closed)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *srv = container(&w, "local://dies", NULL);
    CamasContainer *cli = container(&w, "local://dies-cli", NULL);
    camas_container_spawn(srv, &echo_class, NULL, NULL, NULL);
    g_autoptr(CamasProxy) p = connect_ok(&w, cli, "local://dies/0");
    g_autoptr(CamasValue) args = camas_value_build("[f s]", 10.0, "late");
    g_autoptr(CamasFuture) f = camas_proxy_call(p, "sleep_echo", args, NULL);
    camas_loop_run_until(w.loop, 1 * CAMAS_TICKS_PER_SECOND);
    cr_assert_not(camas_future_is_done(f));
    camas_container_free(srv); /* the sleeping method's container goes away */
    g_autoptr(GError) e = await_error(&w, f);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED), "%s", e->message);
    cr_assert(camas_loop_get_pending(w.loop) == 0, "the cancelled sleep left nothing behind");
    camas_proxy_unref(g_steal_pointer(&p));
    camas_container_free(cli);
    world_clear(&w);
}

/* --- spawning and shutdown -------------------------------------------------------------------- */

Test(container, a_failed_init_uses_up_its_id_and_finalizes_the_agent)
{
    World w;
    world_init(&w, FALSE);
    g_autoptr(GString) journal = g_string_new(NULL);
    CamasContainer *c = container(&w, "local://init", NULL);
    g_autoptr(CamasValue) kw = camas_value_build("{s:I}", "journal", (gint64)(gintptr)journal);
    g_autoptr(CamasValue) bad = camas_value_build("[i]", -1);
    g_autoptr(CamasValue) good = camas_value_build("[i]", 10);
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_container_spawn(c, &counter_class, bad, kw, &e));
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert_str_eq(journal->str, "fin0 ", "finalize runs after a failed init");
    CamasAgent *a = camas_container_spawn(c, &counter_class, good, kw, NULL);
    cr_assert_str_eq(camas_agent_get_aid(a), "1");
    cr_assert_null(camas_container_lookup(c, "0"));
    cr_assert_eq(((Counter *)a)->count, 10);
    /* a bad class table is an error, not a crash */
    static const CamasAgentClass bad_class = {.name = "Bad", .instance_size = 4};
    g_autoptr(GError) e2 = NULL;
    cr_assert_null(camas_container_spawn(c, &bad_class, NULL, NULL, &e2));
    cr_assert(strstr(e2->message, "instance_size"), "%s", e2->message);
    camas_container_spawn(c, &counter_class, NULL, kw, NULL);
    camas_container_free(c);
    cr_assert_str_eq(journal->str, "fin0 fin1 fin2 ", "agents are finalized in id order");
    world_clear(&w);
}

Test(container, shutdown_fails_pending_calls_and_refuses_new_work)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *srv = container(&w, "local://sd", NULL);
    CamasContainer *other = container(&w, "local://sd-other", NULL);
    CamasContainer *cli = container(&w, "local://sd-cli", NULL);
    camas_container_spawn(srv, &echo_class, NULL, NULL, NULL);
    camas_container_spawn(srv, &echo_class, NULL, NULL, NULL);
    camas_container_spawn(other, &echo_class, NULL, NULL, NULL);
    g_autoptr(CamasProxy) p = connect_ok(&w, cli, "local://sd/0");
    g_autoptr(CamasValue) args = camas_value_build("[f s]", 5.0, "x");
    g_autoptr(CamasFuture) f = camas_proxy_call(p, "sleep_echo", args, NULL);
    /* one connect waits for validate_aid, one for its connection */
    g_autoptr(CamasFuture) validating = camas_container_connect(cli, "local://sd/1", NULL);
    g_autoptr(CamasFuture) opening = camas_container_connect(cli, "local://sd-other/0", NULL);
    cr_assert_eq(camas_container_get_n_connections(cli), 2);
    camas_container_shutdown(cli); /* the caller's container goes */
    cr_assert(camas_future_is_done(f), "pending calls fail before shutdown returns");
    g_autoptr(GError) e = NULL;
    cr_assert_not(camas_future_propagate(f, NULL, &e));
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED), "%s", e->message);
    CamasFuture *pending[] = {validating, opening};
    for (int i = 0; i < 2; i++) {
        run_until_done(&w, pending[i]);
        g_autoptr(GError) e1 = NULL;
        cr_assert_null(camas_container_connect_finish(pending[i], &e1));
        cr_assert(g_error_matches(e1, CAMAS_ERROR, CAMAS_ERROR_CLOSED), "%s", e1->message);
    }
    cr_assert_eq(camas_container_get_n_connections(cli), 0);
    g_autoptr(GError) e2 = NULL;
    cr_assert_null(camas_container_connect(cli, "local://sd/0", &e2));
    cr_assert(g_error_matches(e2, CAMAS_ERROR, CAMAS_ERROR_CLOSED));
    g_autoptr(GError) e3 = NULL;
    cr_assert_null(camas_container_spawn(cli, &echo_class, NULL, NULL, &e3));
    cr_assert(g_error_matches(e3, CAMAS_ERROR, CAMAS_ERROR_CLOSED));
    cr_assert(camas_container_is_shut_down(cli));
    camas_container_shutdown(cli); /* idempotent */
    camas_proxy_unref(g_steal_pointer(&p));
    camas_container_free(cli);
    camas_container_free(other);
    camas_container_free(srv);
    world_clear(&w);
}

/* --- codecs: dates and extra serializers ------------------------------------------------------ */

typedef struct {
    int x, y;
} Point;

static const CamasObjectType point_type = {.name = "Point"};

static CamasValue *
point_serialize(const CamasValue *object, gpointer data, GError **error)
{
    const Point *p = camas_value_object_get_instance(object);
    return camas_value_build("[i i]", p->x, p->y);
}

static Point the_point = {3, 4};

static CamasValue *
point_deserialize(const CamasValue *data, gpointer user_data, GError **error)
{
    return camas_value_new_object(&point_type, &the_point);
}

static void
echo_value(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    camas_request_reply(req, camas_value_get_item(args, 0));
}

static void
send_self(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    camas_request_reply_take(req, camas_agent_to_value(self));
}

static const CamasRpcMethod value_methods[] = {{"echo", echo_value}, {"me", send_self}, {NULL}};
static const CamasAgentClass value_class = {.name = "ValueAgent", .methods = value_methods};

static void
trace_payloads(const CamasTraceRecord *r, gpointer data)
{
    if (r->kind == CAMAS_TRACE_SEND)
        g_ptr_array_add(data, g_strndup((const char *)r->payload, r->payload_len));
}

Test(container, extra_serializers_come_between_dates_and_proxies)
{
    World w;
    world_init(&w, FALSE);
    CamasSerializerSpec extra = {&point_type, point_serialize, point_deserialize, NULL};
    CamasContainerOptions o = {.extra_serializers = &extra, .n_extra_serializers = 1};
    CamasContainer *srv = container(&w, "local://ser", &o);
    CamasContainer *cli = container(&w, "local://ser-cli", &o);
    camas_container_spawn(srv, &value_class, NULL, NULL, NULL);
    g_autoptr(CamasProxy) p = connect_ok(&w, cli, "local://ser/0");
    g_autoptr(GPtrArray) sent = g_ptr_array_new_with_free_func(g_free);
    camas_loop_set_tracer(w.loop, trace_payloads, sent, NULL);
    g_autoptr(CamasValue) pt = camas_value_new_object(&point_type, &the_point);
    g_autoptr(CamasValue) date = camas_date_value_parse("2016-03-27T01:59:59.25+01:00", NULL);
    g_autoptr(CamasValue) r = call_ok(&w, p, "echo", "[[v v]]", pt, date);
    g_autoptr(CamasValue) me = call_ok(&w, p, "me", "[]");
    camas_loop_set_tracer(w.loop, NULL, NULL, NULL);
    cr_assert_str_eq(g_ptr_array_index(sent, 0),
                     "[0, 1, [\"agents/0/echo\", [[{\"__type__\": [1, [3, 4]]}, "
                     "{\"__type__\": [0, \"2016-03-27T01:59:59.250000+01:00\"]}]], {}]]");
    cr_assert_str_eq(g_ptr_array_index(sent, 3), "[1, 2, {\"__type__\": [2, \"agents/0\"]}]",
                     "with one extra serializer the proxy id is 2");
    cr_assert_eq(camas_value_object_get_type(camas_value_get_item(r, 0)), &point_type);
    gint32 offset;
    cr_assert(camas_date_value_get(camas_value_get_item(r, 1), NULL, &offset));
    cr_assert_eq(offset, 3600, "a date keeps its offset");
    CamasProxy *agent_proxy = camas_value_get_proxy(me);
    cr_assert_not_null(agent_proxy);
    cr_assert_str_eq(camas_proxy_get_path(agent_proxy), "agents/0");
    camas_proxy_unref(g_steal_pointer(&p));
    camas_container_free(cli);
    camas_container_free(srv);
    world_clear(&w);
}

Test(container, a_malformed_date_closes_the_connection)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *srv = container(&w, "local://baddate", NULL);
    camas_container_spawn(srv, &value_class, NULL, NULL, NULL);
    /* a plain JSON client (no date serializer) sends a raw ext the container must reject */
    g_autoptr(CamasCodec) codec = camas_codec_new("json", NULL);
    camas_codec_set_raw_ext(codec, TRUE);
    g_autoptr(CamasFuture) f = camas_channel_open(w.loop, "local://baddate", codec, NULL, NULL);
    run_until_done(&w, f);
    g_autoptr(CamasChannel) ch = camas_channel_open_finish(f, NULL);
    g_autoptr(CamasValue) text = camas_value_new_str("not a date");
    g_autoptr(CamasValue) bad = camas_value_new_ext(0, text);
    g_autoptr(CamasValue) content = camas_value_build("[s [v] {}]", "agents/0/echo", bad);
    g_autoptr(CamasFuture) r = camas_channel_send(ch, content);
    g_autoptr(GError) e = await_error(&w, r);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED), "%s", e->message);
    camas_channel_unref(g_steal_pointer(&ch));
    camas_container_free(srv);
    world_clear(&w);
}

/* --- TLS ----------------------------------------------------------------------------------------
 */

Test(container, a_tls_container_pair_talks_over_tcp)
{
    World w;
    world_init(&w, TRUE);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasTestCerts) certs = camas_test_certs_new(&error);
    cr_assert_not_null(certs, "%s", error ? error->message : "");
    CamasTlsCerts sc = camas_test_certs_server(certs);
    CamasTlsCerts cc = camas_test_certs_client(certs);
    CamasContainerOptions a_opts = {.tls = &sc};
    CamasContainer *a = container(&w, "tcp://127.0.0.1:0", &a_opts);
    /* the second container is given a pair of contexts instead of the files */
    g_autoptr(CamasTlsContext) server_ctx = camas_tls_context_new_server(&cc, &error);
    g_autoptr(CamasTlsContext) client_ctx = camas_tls_context_new_client(&cc, &error);
    CamasContainerOptions b_opts = {.tls_server = server_ctx, .tls_client = client_ctx};
    CamasContainer *b = container(&w, "tcp://127.0.0.1:0", &b_opts);
    CamasAgent *x = camas_container_spawn(a, &echo_class, NULL, NULL, NULL);
    CamasAgent *y = camas_container_spawn(b, &pong_class, NULL, NULL, NULL);
    g_autoptr(CamasProxy) p = connect_ok(&w, b, camas_agent_get_url(x));
    CamasChannel *ch = camas_rpc_connection_get_channel(camas_proxy_get_connection(p));
    cr_assert(g_str_has_prefix(camas_channel_get_tls_version(ch), "TLSv1."), "%s",
              camas_channel_get_tls_version(ch));
    cr_assert(strstr(camas_channel_get_tls_cipher(ch), "GCM"));
    g_autoptr(CamasValue) me = camas_agent_to_value(y);
    g_autoptr(CamasValue) r = call_ok(&w, p, "ping_back", "[v i]", me, 9);
    assert_value(r, "[s [s i]]", "pong-reply", "pong", 9);
    /* a plaintext container cannot talk to it */
    CamasContainer *plain = container(&w, "tcp://127.0.0.1:0", NULL);
    g_autoptr(GError) e = connect_error(&w, plain, camas_agent_get_url(x));
    cr_assert_not_null(e);
    camas_proxy_unref(g_steal_pointer(&p));
    camas_container_free(plain);
    camas_container_free(a);
    camas_container_free(b);
    world_clear(&w);
}

Test(container, tls_settings_are_checked)
{
    World w;
    world_init(&w, TRUE);
    CamasTlsCerts missing = {"/nonexistent/ca.pem", "/nonexistent/c.pem", "/nonexistent/k.pem"};
    CamasContainerOptions o = {.tls = &missing};
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_container_new(w.clock, "tcp://127.0.0.1:0", &o, &e));
    cr_assert(strstr(e->message, "/nonexistent/"), "%s", e->message);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasTestCerts) certs = camas_test_certs_new(&error);
    CamasTlsCerts sc = camas_test_certs_server(certs);
    CamasContainerOptions o2 = {.tls = &sc};
    g_autoptr(GError) e2 = NULL;
    cr_assert_null(camas_container_new(w.clock, "local://tls", &o2, &e2));
    cr_assert(strstr(e2->message, "TLS applies only to TCP"), "%s", e2->message);
    world_clear(&w);
}

/* --- randomness ----------------------------------------------------------------------------- */

Test(container, agent_streams_depend_on_seed_and_name_only)
{
    World w;
    world_init(&w, FALSE);
    CamasContainerOptions named = {.seed = 7, .name = "alpha"};
    CamasContainer *a = container(&w, "local://rng-a", &named);
    CamasContainer *b = container(&w, "local://rng-b", &named);
    CamasContainerOptions other = {.seed = 8, .name = "alpha"};
    CamasContainer *c = container(&w, "local://rng-c", &other);
    CamasContainer *d = container(&w, "local://rng-d", NULL);
    CamasAgent *a0 = camas_container_spawn(a, &echo_class, NULL, NULL, NULL);
    CamasAgent *a1 = camas_container_spawn(a, &echo_class, NULL, NULL, NULL);
    CamasAgent *b0 = camas_container_spawn(b, &echo_class, NULL, NULL, NULL);
    CamasAgent *c0 = camas_container_spawn(c, &echo_class, NULL, NULL, NULL);
    CamasAgent *d0 = camas_container_spawn(d, &echo_class, NULL, NULL, NULL);
    CamasRng expect;
    camas_rng_init_stream(&expect, 7, "alpha/0");
    guint64 x = camas_rng_next(&a0->rng);
    cr_assert_eq(x, camas_rng_next(&expect));
    cr_assert_eq(x, camas_rng_next(&b0->rng), "same seed and name, other address: same stream");
    cr_assert_neq(x, camas_rng_next(&a1->rng));
    cr_assert_neq(x, camas_rng_next(&c0->rng));
    camas_rng_init_stream(&expect, 0, "local://rng-d/0");
    cr_assert_eq(camas_rng_next(&d0->rng), camas_rng_next(&expect),
                 "without a name the stream is named by the agent's URL");
    camas_container_free(a);
    camas_container_free(b);
    camas_container_free(c);
    camas_container_free(d);
    world_clear(&w);
}
