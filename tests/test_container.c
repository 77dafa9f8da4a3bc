/* SPDX-License-Identifier: MIT */
/*
 * Containers: agent ids and URLs (incl. the host rules), the root service (validate_aid,
 * agents/<aid>/<method>), the §13 C.3 capture byte for byte, the connection cache (reuse,
 * concurrent connects sharing one connection, callbacks over the connecting container's
 * connection), dates as type id 0 and the serializer order, TLS container pairs, and the bad
 * input paths: malformed URLs, unknown schemes, missing agents, unexposed and missing methods,
 * addresses in use, peers that die mid-call, spawn failures, shutdown with calls in flight.
 * Each test runs in a testutil world, which frees the containers it made.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <camas/camas.h>
#include <camas/container.h>

#include "testutil.h"

TestSuite(container, .fini = camas_test_check_leaks, .timeout = 60);

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
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainer *c = camas_test_container_new(w, "local://ids", NULL);
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
        cr_assert_eq(a->clock, w->clock);
    }
    g_autofree char *repr = camas_agent_dup_repr(camas_container_get_agent(c, 1));
    cr_assert_str_eq(repr, "EchoAgent('local://ids/1')");
    cr_assert_eq(camas_container_get_n_agents(c), 3);
    cr_assert_null(camas_container_lookup(c, "01"));
    cr_assert_null(camas_container_lookup(c, "3"));
    cr_assert_null(camas_container_lookup(c, "+1"));
}

Test(container, tcp_urls_use_the_host_as_given_and_the_bound_port)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_SOCKETS);
    CamasContainer *a = camas_test_container_new_on(w, CAMAS_TEST_TCP, NULL, NULL);
    CamasContainer *b = camas_test_container_new(w, "tcp://[::1]:0", NULL);
    CamasContainer *d = camas_test_container_new(w, "tcp://0.0.0.0:0", NULL);
    CamasAgent *x = camas_test_spawn(a, &echo_class, 1);
    CamasAgent *y = camas_test_spawn(b, &echo_class, 1);
    CamasAgent *z = camas_test_spawn(d, &echo_class, 1);
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
    g_autoptr(CamasProxy) p = camas_test_connect_ok(w, a, camas_agent_get_url(y));
    g_autoptr(CamasValue) who = camas_test_call_ok(w, p, "whoami", "[]");
    camas_test_assert_value(who, "[s s]", "EchoAgent", camas_agent_get_url(y));
}

Test(container, unix_socket_urls_keep_the_path_in_brackets)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_SOCKETS);
    /* ipc://[<w->tmpdir>/c.sock]; the world checks that the socket file is gone at the end */
    CamasContainer *c = camas_test_container_new_on(w, CAMAS_TEST_IPC, "c", NULL);
    CamasContainer *d = camas_test_container_new(w, "local://ipc-client", NULL);
    CamasAgent *a = camas_test_spawn(c, &echo_class, 1);
    g_autofree char *url = g_strdup_printf("ipc://[%s/c.sock]/0", w->tmpdir);
    cr_assert_str_eq(camas_agent_get_url(a), url);
    g_autoptr(CamasProxy) p = camas_test_connect_ok(w, d, url);
    g_autoptr(CamasValue) r = camas_test_call_ok(w, p, "add", "[i i]", 20, 22);
    camas_test_assert_value(r, "i", 42);
}

Test(container, validate_aid_answers_the_class_name_or_none)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainer *srv = camas_test_container_new(w, "local://va", NULL);
    camas_test_spawn(srv, &echo_class, 1);
    camas_test_spawn(srv, &pong_class, 1);
    /* a plain RPC client sees aiomas' root */
    g_autoptr(CamasCodec) codec = camas_test_codec("json");
    g_autoptr(CamasRpcConnection) conn = camas_test_rpc_open(w, "local://va", codec, NULL, NULL);
    g_autoptr(CamasProxy) root = camas_rpc_connection_get_remote(conn);
    g_autoptr(CamasValue) r0 = camas_test_call_ok(w, root, "validate_aid", "[s]", "0");
    camas_test_assert_value(r0, "s", "EchoAgent");
    g_autoptr(CamasValue) r1 = camas_test_call_ok(w, root, "validate_aid", "[s]", "1");
    camas_test_assert_value(r1, "s", "PongAgent");
    g_autoptr(CamasValue) r2 = camas_test_call_ok(w, root, "validate_aid", "[s]", "2");
    camas_test_assert_value(r2, "n");
    g_autoptr(CamasValue) r3 = camas_test_call_ok(w, root, "validate_aid", "[i]", 0);
    camas_test_assert_value(r3, "n"); /* ids are strings: the integer 0 is not found */
    g_autoptr(CamasValue) r4 = camas_test_call_ok(w, root, "validate_aid", "[s]", "00");
    camas_test_assert_value(r4, "n");
    /* agents are reachable without validation, through the dict */
    g_autoptr(CamasValue) r5 = camas_test_call_ok(w, root, "agents/0/add", "[i i]", 1, 2);
    camas_test_assert_value(r5, "i", 3);
    g_autoptr(GError) e1 = camas_test_call_error(w, root, "agents/7/add", "[i i]", 1, 2);
    camas_test_assert_remote(e1, "LookupError: Name \"7\" not found in \"agents\"\n");
    g_autoptr(GError) e2 = camas_test_call_error(w, root, "validate_aid", "[]");
    camas_test_assert_remote(e2, "TypeError: validate_aid() missing 1 required positional "
                                 "argument: 'aid'\n");
}

/* --- the C.3 and C.4 captures ---------------------------------------------------------------- */

/* What each side of the §13 C.3 (JSON) and C.4 (msgpack, as hex) captures sends, in order. */
static const struct {
    const char *capture;
    gboolean client; /* sent by the connecting container (else by the server) */
    const char *frame;
} capture_frames[] = {
    {"c3", TRUE, "[0, 0, [\"validate_aid\", [\"0\"], {}]]"},
    {"c3", TRUE, "[0, 1, [\"agents/0/add\", [1, 2], {}]]"},
    {"c3", TRUE,
     "[0, 2, [\"agents/0/shift_date\", [{\"__type__\": [0, \"2016-01-01T00:00:00+00:00\"]}, "
     "3600], {}]]"},
    {"c3", TRUE, "[0, 3, [\"agents/0/ping_back\", [{\"__type__\": [1, \"agents/0\"]}, 7], {}]]"},
    {"c3", TRUE, "[1, 0, [\"pong\", 7]]"},
    {"c3", TRUE, "[0, 4, [\"validate_aid\", [\"42\"], {}]]"},
    {"c3", FALSE, "[1, 0, \"EchoAgent\"]"},
    {"c3", FALSE, "[1, 1, 3]"},
    {"c3", FALSE, "[1, 2, {\"__type__\": [0, \"2016-01-01T01:00:00+00:00\"]}]"},
    {"c3", FALSE, "[0, 0, [\"agents/0/pong\", [7], {}]]"},
    {"c3", FALSE, "[1, 3, [\"pong-reply\", [\"pong\", 7]]]"},
    {"c3", FALSE, "[1, 4, null]"},
    {"c4", TRUE, "93000093ac76616c69646174655f61696491a13080"},
    {"c4", TRUE, "93000193ac6167656e74732f302f61646492010280"},
    {"c4", TRUE, "93000293b36167656e74732f302f73686966745f646174659281a85f5f747970655f5f9200b9"
                 "323031362d30312d30315430303a30303a30302b30303a3030cd0e1080"},
    {"c4", TRUE, "93000393ac76616c69646174655f61696491a2343280"},
    {"c4", FALSE, "930100a94563686f4167656e74"},
    {"c4", FALSE, "93010103"},
    {"c4", FALSE, "93010281a85f5f747970655f5f9200b9323031362d30312d30315430313a30303a30302b"
                  "30303a3030"},
    {"c4", FALSE, "930103c0"},
};

/* Asserts that @cap holds exactly the frames capture_frames[] lists for @name, per side. */
static void
assert_capture(const CamasTestCapture *cap, const char *name)
{
    g_autoptr(GPtrArray) client = g_ptr_array_new();
    g_autoptr(GPtrArray) server = g_ptr_array_new();
    for (gsize i = 0; i < G_N_ELEMENTS(capture_frames); i++)
        if (strcmp(capture_frames[i].capture, name) == 0)
            g_ptr_array_add(capture_frames[i].client ? client : server,
                            (gpointer)capture_frames[i].frame);
    g_ptr_array_add(client, NULL);
    g_ptr_array_add(server, NULL);
    camas_test_assert_frames(cap->client, (const char *const *)client->pdata, "client");
    camas_test_assert_frames(cap->server, (const char *const *)server->pdata, "server");
}

Test(container, c3_capture_matches_byte_for_byte)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasTestCapture *cap = camas_test_capture_start(w, "local://c3-cli", FALSE);
    CamasContainer *cli;
    g_autoptr(CamasProxy) p = camas_test_pair_new(w, "c3", &echo_class, NULL, NULL, &cli);
    CamasAgent *client_agent = camas_test_spawn(cli, &pong_class, 1);
    cr_assert_str_eq(camas_proxy_get_path(p), "agents/0");
    g_autoptr(CamasValue) r1 = camas_test_call_ok(w, p, "add", "[i i]", 1, 2);
    camas_test_assert_value(r1, "i", 3);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasValue) date = camas_date_value_parse("2016-01-01T00:00:00+00:00", &error);
    g_autoptr(CamasValue) r2 = camas_test_call_ok(w, p, "shift_date", "[v i]", date, 3600);
    gint64 ns;
    cr_assert(camas_date_value_get(r2, &ns, NULL), "a date comes back as a date");
    g_autofree char *text = camas_date_format(ns, 0);
    cr_assert_str_eq(text, "2016-01-01T01:00:00+00:00");
    g_autoptr(CamasValue) me = camas_agent_to_value(client_agent);
    g_autoptr(CamasValue) r3 = camas_test_call_ok(w, p, "ping_back", "[v i]", me, 7);
    camas_test_assert_value(r3, "[s [s i]]", "pong-reply", "pong", 7);
    g_autoptr(GError) e = camas_test_connect_error(w, cli, "local://c3/42");
    camas_test_assert_error(e, CAMAS_ERROR, CAMAS_ERROR_LOOKUP, NULL);
    cr_assert_str_eq(e->message, "Agent \"42\" does not exist in Container(local://c3)");
    camas_test_capture_stop(cap);
    assert_capture(cap, "c3");
}

Test(container, msgpack_containers_send_the_c4_agent_frames)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainerOptions o = {.codec = "msgpack"};
    CamasTestCapture *cap = camas_test_capture_start(w, "local://c4-cli", TRUE);
    CamasContainer *cli;
    g_autoptr(CamasProxy) p = camas_test_pair_new(w, "c4", &echo_class, &o, NULL, &cli);
    /* the shift_date request of C.4 uses id 2: make id 1 an add first */
    g_autoptr(CamasValue) r0 = camas_test_call_ok(w, p, "add", "[i i]", 1, 2);
    g_autoptr(CamasValue) date = camas_date_value_parse("2016-01-01T00:00:00+00:00", NULL);
    g_autoptr(CamasValue) r = camas_test_call_ok(w, p, "shift_date", "[v i]", date, 3600);
    g_autoptr(GError) e = camas_test_connect_error(w, cli, "local://c4/42");
    camas_test_capture_stop(cap);
    assert_capture(cap, "c4");
}

/* --- the connection cache --------------------------------------------------------------------- */

Test(container, connections_are_reused_per_address_and_shared_by_concurrent_connects)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainer *srv = camas_test_container_new(w, "local://reuse-srv", NULL);
    CamasContainer *cli = camas_test_container_new(w, "local://reuse-cli", NULL);
    camas_test_spawn(srv, &counter_class, 3);
    /* three connects started before any completes: one connection */
    CamasFuture *f[3];
    for (int i = 0; i < 3; i++) {
        g_autofree char *url = g_strdup_printf("local://reuse-srv/%d", i);
        f[i] = camas_container_connect(cli, url, NULL);
    }
    cr_assert_eq(camas_container_get_n_connections(cli), 1);
    CamasProxy *p[3];
    for (int i = 0; i < 3; i++) {
        camas_test_run_until_done(w, f[i]);
        p[i] = camas_container_connect_finish(f[i], NULL);
        cr_assert_not_null(p[i]);
        camas_future_unref(f[i]);
    }
    cr_assert_eq(camas_proxy_get_connection(p[0]), camas_proxy_get_connection(p[2]));
    /* a later connect reuses it too, and validates only once per aid */
    g_autoptr(CamasProxy) again = camas_test_connect_ok(w, cli, "local://reuse-srv/1");
    cr_assert_eq(camas_proxy_get_connection(again), camas_proxy_get_connection(p[1]));
    cr_assert_eq(camas_container_get_n_connections(cli), 1);
    g_autoptr(CamasValue) a = camas_test_call_ok(w, p[1], "incr", "[i]", 5);
    g_autoptr(CamasValue) b = camas_test_call_ok(w, again, "incr", "[]");
    camas_test_assert_value(b, "i", 6);
    for (int i = 0; i < 3; i++)
        camas_proxy_unref(p[i]);
}

Test(container, a_container_connects_to_its_own_agents_through_its_server)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainer *c = camas_test_container_new(w, "local://self", NULL);
    camas_test_spawn(c, &counter_class, 1);
    g_autoptr(CamasProxy) p = camas_test_connect_ok(w, c, "local://self/0");
    g_autoptr(CamasValue) r = camas_test_call_ok(w, p, "incr", "[i]", 2);
    camas_test_assert_value(r, "i", 2);
}

Test(container, a_reset_connection_is_replaced_on_the_next_connect)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainer *srv, *cli;
    g_autoptr(CamasProxy) p = camas_test_pair_new(w, "reset", &counter_class, NULL, &srv, &cli);
    camas_test_world_drop(w, srv);
    while (camas_loop_step(w->loop))
        ;
    cr_assert_eq(camas_container_get_n_connections(cli), 0, "the reset connection is forgotten");
    g_autoptr(GError) e = camas_test_call_error(w, p, "incr", "[]");
    camas_test_assert_error(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED, NULL);
    /* a new container on the same queue: the next connect opens a new connection */
    srv = camas_test_container_new(w, "local://reset", NULL);
    camas_test_spawn(srv, &counter_class, 1);
    g_autoptr(CamasProxy) q = camas_test_connect_ok(w, cli, "local://reset/0");
    g_autoptr(CamasValue) r = camas_test_call_ok(w, q, "incr", "[]");
    camas_test_assert_value(r, "i", 1);
}

Test(container, connects_retry_until_the_connect_timeout)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainerOptions o = {.connect_timeout = 1.0};
    CamasContainer *cli = camas_test_container_new(w, "local://retry-cli", &o);
    g_autoptr(CamasFuture) f = camas_container_connect(cli, "local://retry-srv/0", NULL);
    camas_loop_run_until(w->loop, CAMAS_TICKS_PER_SECOND / 2);
    cr_assert_not(camas_future_is_done(f), "still retrying at 0.5 s");
    CamasContainer *srv = camas_test_container_new(w, "local://retry-srv", NULL);
    camas_test_spawn(srv, &counter_class, 1);
    camas_test_run_until_done(w, f);
    g_autoptr(CamasProxy) p = camas_container_connect_finish(f, NULL);
    cr_assert_not_null(p, "the server came up within the timeout");
    /* without a server the connect gives up at the deadline */
    g_autoptr(GError) e = camas_test_connect_error(w, cli, "local://never/0");
    camas_test_assert_error(e, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED, NULL);
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
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainer *c = camas_test_container_new(w, "local://bad-urls", NULL);
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_container_connect(c, "foo://x/0", &e));
    camas_test_assert_error(e, CAMAS_ERROR, CAMAS_ERROR_INVALID, NULL);
    cr_assert_eq(camas_container_get_n_connections(c), 0);
}

Test(container, connecting_to_a_missing_agent_names_the_container)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainer *srv = camas_test_container_new(w, "local://missing", NULL);
    CamasContainer *cli = camas_test_container_new(w, "local://missing-cli", NULL);
    camas_test_spawn(srv, &echo_class, 1);
    g_autoptr(GError) e = camas_test_connect_error(w, cli, "local://missing/1");
    camas_test_assert_error(e, CAMAS_ERROR, CAMAS_ERROR_LOOKUP, NULL);
    cr_assert_str_eq(e->message, "Agent \"1\" does not exist in Container(local://missing)");
    g_autoptr(GError) e2 = camas_test_connect_error(w, cli, "local://missing/x");
    cr_assert_str_eq(e2->message, "Agent \"x\" does not exist in Container(local://missing)");
    /* nobody listens: the connection's error */
    g_autoptr(GError) e3 = camas_test_connect_error(w, cli, "local://nobody/0");
    camas_test_assert_error(e3, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED, NULL);
    cr_assert_eq(camas_container_get_n_connections(cli), 1, "the failed connection is forgotten");
}

Test(container, unexposed_and_missing_methods_fail_with_lookup_error)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    g_autoptr(CamasProxy) p = camas_test_pair_new(w, "methods", &echo_class, NULL, NULL, NULL);
    g_autoptr(GError) e1 = camas_test_call_error(w, p, "secret", "[]");
    camas_test_assert_remote(e1, "LookupError: \"__main__.EchoAgent.secret\" is not exposed\n");
    g_autoptr(GError) e2 = camas_test_call_error(w, p, "nope", "[]");
    camas_test_assert_remote(e2, "LookupError: Name \"nope\" not found in \"agents/0\"\n");
    g_autoptr(GError) e3 = camas_test_call_error(w, p, "add", "[s i]", "x", 1);
    camas_test_assert_remote(e3, "TypeError: add() argument 'a' must be int, not str\n");
    g_autoptr(GError) e4 = camas_test_call_error(w, p, "add", "[i i i]", 1, 2, 3);
    camas_test_assert_remote(e4,
                             "TypeError: add() takes 2 positional arguments but 3 were given\n");
    g_autoptr(GError) e5 = camas_test_call_error(w, p, "fail", "[s]", "boom");
    camas_test_assert_remote(e5, "ValueError: boom\n");
    /* the connection stays usable */
    g_autoptr(CamasValue) r = camas_test_call_ok(w, p, "add", "[i i]", 2, 3);
    camas_test_assert_value(r, "i", 5);
}

Test(container, an_address_in_use_is_refused)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_SOCKETS);
    camas_test_container_new(w, "local://taken", NULL);
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_container_new(w->clock, "local://taken", NULL, &e));
    camas_test_assert_error(e, CAMAS_ERROR, CAMAS_ERROR_INVALID, "local://taken");
    CamasContainer *t = camas_test_container_new_on(w, CAMAS_TEST_TCP, NULL, NULL);
    const char *addr = camas_container_get_address(t);
    g_autoptr(GError) e2 = NULL;
    cr_assert_null(camas_container_new(w->clock, addr, NULL, &e2));
    camas_test_assert_error(e2, CAMAS_ERROR, CAMAS_ERROR_INVALID, addr);
    g_autoptr(GError) e3 = NULL;
    cr_assert_null(camas_container_new(w->clock, "bogus://x", NULL, &e3));
    camas_test_assert_error(e3, CAMAS_ERROR, CAMAS_ERROR_INVALID, NULL);
    g_autoptr(GError) e4 = NULL;
    CamasContainerOptions o = {.codec = "xml"};
    cr_assert_null(camas_container_new(w->clock, "local://x", &o, &e4));
    camas_test_assert_error(e4, CAMAS_ERROR, CAMAS_ERROR_LOOKUP, NULL);
}

Test(container, a_peer_that_dies_mid_call_fails_the_call_with_closed)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainer *srv;
    g_autoptr(CamasProxy) p = camas_test_pair_new(w, "dies", &echo_class, NULL, &srv, NULL);
    g_autoptr(CamasFuture) f = camas_proxy_call_build(p, "sleep_echo", "[f s]", 10.0, "late");
    camas_loop_run_until(w->loop, 1 * CAMAS_TICKS_PER_SECOND);
    cr_assert_not(camas_future_is_done(f));
    camas_test_world_drop(w, srv); /* the sleeping method's container goes away */
    camas_test_await_fails(w, f, CAMAS_ERROR, CAMAS_ERROR_CLOSED, NULL);
    cr_assert(camas_loop_get_pending(w->loop) == 0, "the cancelled sleep left nothing behind");
}

/* --- spawning and shutdown -------------------------------------------------------------------- */

Test(container, a_failed_init_uses_up_its_id_and_finalizes_the_agent)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    g_autoptr(GString) journal = g_string_new(NULL);
    CamasContainer *c = camas_test_container_new(w, "local://init", NULL);
    g_autoptr(CamasValue) kw = camas_value_build("{s:I}", "journal", (gint64)(gintptr)journal);
    g_autoptr(CamasValue) bad = camas_value_build("[i]", -1);
    g_autoptr(CamasValue) good = camas_value_build("[i]", 10);
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_container_spawn(c, &counter_class, bad, kw, &e));
    camas_test_assert_error(e, CAMAS_ERROR, CAMAS_ERROR_INVALID, NULL);
    cr_assert_str_eq(journal->str, "fin0 ", "finalize runs after a failed init");
    CamasAgent *a = camas_container_spawn(c, &counter_class, good, kw, NULL);
    cr_assert_str_eq(camas_agent_get_aid(a), "1");
    cr_assert_null(camas_container_lookup(c, "0"));
    cr_assert_eq(((Counter *)a)->count, 10);
    /* a bad class table is an error, not a crash */
    static const CamasAgentClass bad_class = {.name = "Bad", .instance_size = 4};
    g_autoptr(GError) e2 = NULL;
    cr_assert_null(camas_container_spawn(c, &bad_class, NULL, NULL, &e2));
    camas_test_assert_error(e2, CAMAS_ERROR, CAMAS_ERROR_INVALID, "instance_size");
    camas_container_spawn(c, &counter_class, NULL, kw, NULL);
    camas_test_world_drop(w, c);
    cr_assert_str_eq(journal->str, "fin0 fin1 fin2 ", "agents are finalized in id order");
}

Test(container, shutdown_fails_pending_calls_and_refuses_new_work)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainer *srv = camas_test_container_new(w, "local://sd", NULL);
    CamasContainer *other = camas_test_container_new(w, "local://sd-other", NULL);
    CamasContainer *cli = camas_test_container_new(w, "local://sd-cli", NULL);
    camas_test_spawn(srv, &echo_class, 2);
    camas_test_spawn(other, &echo_class, 1);
    g_autoptr(CamasProxy) p = camas_test_connect_ok(w, cli, "local://sd/0");
    g_autoptr(CamasFuture) f = camas_proxy_call_build(p, "sleep_echo", "[f s]", 5.0, "x");
    /* one connect waits for validate_aid, one for its connection */
    g_autoptr(CamasFuture) validating = camas_container_connect(cli, "local://sd/1", NULL);
    g_autoptr(CamasFuture) opening = camas_container_connect(cli, "local://sd-other/0", NULL);
    cr_assert_eq(camas_container_get_n_connections(cli), 2);
    camas_container_shutdown(cli); /* the caller's container goes */
    cr_assert(camas_future_is_done(f), "pending calls fail before shutdown returns");
    camas_test_assert_error(camas_future_get_error(f), CAMAS_ERROR, CAMAS_ERROR_CLOSED, NULL);
    CamasFuture *pending[] = {validating, opening};
    for (int i = 0; i < 2; i++) {
        camas_test_run_until_done(w, pending[i]);
        g_autoptr(GError) e1 = NULL;
        cr_assert_null(camas_container_connect_finish(pending[i], &e1));
        camas_test_assert_error(e1, CAMAS_ERROR, CAMAS_ERROR_CLOSED, NULL);
    }
    cr_assert_eq(camas_container_get_n_connections(cli), 0);
    g_autoptr(GError) e2 = NULL;
    cr_assert_null(camas_container_connect(cli, "local://sd/0", &e2));
    camas_test_assert_error(e2, CAMAS_ERROR, CAMAS_ERROR_CLOSED, NULL);
    g_autoptr(GError) e3 = NULL;
    cr_assert_null(camas_container_spawn(cli, &echo_class, NULL, NULL, &e3));
    camas_test_assert_error(e3, CAMAS_ERROR, CAMAS_ERROR_CLOSED, NULL);
    cr_assert(camas_container_is_shut_down(cli));
    camas_container_shutdown(cli); /* idempotent */
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

Test(container, extra_serializers_come_between_dates_and_proxies)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasSerializerSpec extra = {&point_type, point_serialize, point_deserialize, NULL};
    CamasContainerOptions o = {.extra_serializers = &extra, .n_extra_serializers = 1};
    g_autoptr(CamasProxy) p = camas_test_pair_new(w, "ser", &value_class, &o, NULL, NULL);
    CamasTestCapture *cap = camas_test_capture_start(w, NULL, FALSE);
    g_autoptr(CamasValue) pt = camas_value_new_object(&point_type, &the_point);
    g_autoptr(CamasValue) date = camas_date_value_parse("2016-03-27T01:59:59.25+01:00", NULL);
    g_autoptr(CamasValue) r = camas_test_call_ok(w, p, "echo", "[[v v]]", pt, date);
    g_autoptr(CamasValue) me = camas_test_call_ok(w, p, "me", "[]");
    camas_test_capture_stop(cap);
    cr_assert_str_eq(g_ptr_array_index(cap->all, 0),
                     "[0, 1, [\"agents/0/echo\", [[{\"__type__\": [1, [3, 4]]}, "
                     "{\"__type__\": [0, \"2016-03-27T01:59:59.250000+01:00\"]}]], {}]]");
    cr_assert_str_eq(g_ptr_array_index(cap->all, 3), "[1, 2, {\"__type__\": [2, \"agents/0\"]}]",
                     "with one extra serializer the proxy id is 2");
    cr_assert_eq(camas_value_object_get_type(camas_value_get_item(r, 0)), &point_type);
    gint32 offset;
    cr_assert(camas_date_value_get(camas_value_get_item(r, 1), NULL, &offset));
    cr_assert_eq(offset, 3600, "a date keeps its offset");
    CamasProxy *agent_proxy = camas_value_get_proxy(me);
    cr_assert_not_null(agent_proxy);
    cr_assert_str_eq(camas_proxy_get_path(agent_proxy), "agents/0");
}

Test(container, a_malformed_date_closes_the_connection)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainer *srv = camas_test_container_new(w, "local://baddate", NULL);
    camas_test_spawn(srv, &value_class, 1);
    /* a plain JSON client (no date serializer) sends a raw ext the container must reject */
    g_autoptr(CamasCodec) codec = camas_test_codec("json");
    camas_codec_set_raw_ext(codec, TRUE);
    g_autoptr(CamasChannel) ch = camas_test_channel_open(w, "local://baddate", codec, NULL);
    g_autoptr(CamasValue) text = camas_value_new_str("not a date");
    g_autoptr(CamasValue) bad = camas_value_new_ext(0, text);
    g_autoptr(CamasValue) content = camas_value_build("[s [v] {}]", "agents/0/echo", bad);
    g_autoptr(CamasFuture) r = camas_channel_send(ch, content);
    camas_test_await_fails(w, r, CAMAS_ERROR, CAMAS_ERROR_CLOSED, NULL);
}

/* --- TLS -------------------------------------------------------------------------------------- */

Test(container, a_tls_container_pair_talks_over_tcp)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_SOCKETS);
    const CamasTestCerts *certs = camas_test_world_get_certs(w);
    CamasTlsCerts sc = camas_test_certs_server(certs);
    CamasTlsCerts cc = camas_test_certs_client(certs);
    CamasContainerOptions a_opts = {.tls = &sc};
    CamasContainer *a = camas_test_container_new_on(w, CAMAS_TEST_TLS, NULL, &a_opts);
    /* the second container is given a pair of contexts instead of the files */
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasTlsContext) server_ctx = camas_tls_context_new_server(&cc, &error);
    g_autoptr(CamasTlsContext) client_ctx = camas_tls_context_new_client(&cc, &error);
    CamasContainerOptions b_opts = {.tls_server = server_ctx, .tls_client = client_ctx};
    CamasContainer *b = camas_test_container_new_on(w, CAMAS_TEST_TLS, NULL, &b_opts);
    CamasAgent *x = camas_test_spawn(a, &echo_class, 1);
    CamasAgent *y = camas_test_spawn(b, &pong_class, 1);
    g_autoptr(CamasProxy) p = camas_test_connect_ok(w, b, camas_agent_get_url(x));
    CamasChannel *ch = camas_rpc_connection_get_channel(camas_proxy_get_connection(p));
    cr_assert(g_str_has_prefix(camas_channel_get_tls_version(ch), "TLSv1."), "%s",
              camas_channel_get_tls_version(ch));
    cr_assert(strstr(camas_channel_get_tls_cipher(ch), "GCM"));
    g_autoptr(CamasValue) me = camas_agent_to_value(y);
    g_autoptr(CamasValue) r = camas_test_call_ok(w, p, "ping_back", "[v i]", me, 9);
    camas_test_assert_value(r, "[s [s i]]", "pong-reply", "pong", 9);
    /* a plaintext container cannot talk to it */
    CamasContainer *plain = camas_test_container_new_on(w, CAMAS_TEST_TCP, NULL, NULL);
    g_autoptr(GError) e = camas_test_connect_error(w, plain, camas_agent_get_url(x));
    cr_assert_not_null(e);
}

Test(container, tls_settings_are_checked)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_SOCKETS);
    CamasTlsCerts missing = {"/nonexistent/ca.pem", "/nonexistent/c.pem", "/nonexistent/k.pem"};
    CamasContainerOptions o = {.tls = &missing};
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_container_new(w->clock, "tcp://127.0.0.1:0", &o, &e));
    cr_assert(strstr(e->message, "/nonexistent/"), "%s", e->message);
    CamasTlsCerts sc = camas_test_certs_server(camas_test_world_get_certs(w));
    CamasContainerOptions o2 = {.tls = &sc};
    g_autoptr(GError) e2 = NULL;
    cr_assert_null(camas_container_new(w->clock, "local://tls", &o2, &e2));
    cr_assert(strstr(e2->message, "TLS applies only to TCP"), "%s", e2->message);
}

/* --- randomness ----------------------------------------------------------------------------- */

Test(container, agent_streams_depend_on_seed_and_name_only)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    CamasContainerOptions named = {.seed = 7, .name = "alpha"};
    CamasContainer *a = camas_test_container_new(w, "local://rng-a", &named);
    CamasContainer *b = camas_test_container_new(w, "local://rng-b", &named);
    CamasContainerOptions other = {.seed = 8, .name = "alpha"};
    CamasContainer *c = camas_test_container_new(w, "local://rng-c", &other);
    CamasContainer *d = camas_test_container_new(w, "local://rng-d", NULL);
    CamasAgent *a0 = camas_test_spawn(a, &echo_class, 1);
    CamasAgent *a1 = camas_test_spawn(a, &echo_class, 1);
    CamasAgent *b0 = camas_test_spawn(b, &echo_class, 1);
    CamasAgent *c0 = camas_test_spawn(c, &echo_class, 1);
    CamasAgent *d0 = camas_test_spawn(d, &echo_class, 1);
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
}
