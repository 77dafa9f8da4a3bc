/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the bytes a peer sends to an RPC server — the channel layer (aiomas frames
 * [type, id, content]: requests, replies to ids never sent, bad shapes) and the RPC dispatch
 * above it (requests [path, args, kwargs]: unknown and hidden paths, nested class and dict
 * routers, wrong argument types, services sent back as values, task-style methods that call
 * the peer back and wait for its answer).
 *
 * Each input builds a world of its own on the LocalQueue transport: a loop with an
 * as-fast-as-possible clock, a codec, an RPC server at local://fuzz serving the router below,
 * and a raw client pipe (no channel on the client side, so any bytes go out).  The first input
 * byte is options: bit 0 picks the codec (0 JSON, 1 msgpack); bit 1 closes the camas end
 * before the raw end hangs up; bit 2 sends all frames at once; bit 3 keeps simulated time at 0
 * until the teardown (sleeps are still pending when the connection closes); bit 6 turns the
 * roles round: the raw pipe is the server side, accepted by a bare listener, and the bytes go
 * to a camas client connection (serving the same router) that has two calls in flight.  The
 * rest of the input is split at the byte 0xc1 — never in valid msgpack nor in UTF-8 JSON
 * text — into frame payloads; each goes out with its length header and (unless bit 2) the loop
 * runs until idle before the next, so a reply the input sends can answer a request the camas
 * end sent for an earlier frame.  Everything the camas end sends must be well-formed frames
 * the codec decodes.  Then both ends close, everything is torn down, every call has failed or
 * succeeded, and no counted camas object may be alive (tests/leakcheck.c's counters).
 * Seeds: tests/fuzz/corpus/rpc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <camas/camas.h>

#include "live-private.h"
#include "rpc-methods.h"
#include "transport-private.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

/* UBSan only prints by default: stop at undefined behaviour as at a crash, so that libFuzzer
 * keeps the input. */
const char *__ubsan_default_options(void);
const char *
__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

#define ADDRESS "local://fuzz"
#define SEPARATOR 0xc1
#define MAX_STEPS 100000 /* loop events per phase; more means something never settles */


/* --- the router: root, root/calc, root/calc/deep, root/agents/<n> ------------------------- */

static void
m_add(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    static const char *const names[] = {"a", "b", NULL};
    CamasValue *v[2];
    GError *error = NULL;
    if (!camas_rpc_parse_args("add", args, kwargs, names, 2, v, &error))
        return camas_test_fail_error(req, error);
    if (camas_value_get_type(v[0]) == CAMAS_VALUE_INT &&
        camas_value_get_type(v[1]) == CAMAS_VALUE_INT)
        return camas_request_reply_take(req, camas_value_new_int((gint64)(
                                                 (guint64)camas_value_get_int(v[0]) +
                                                 (guint64)camas_value_get_int(v[1]))));
    double a, b;
    if (camas_value_to_double(v[0], &a, NULL) && camas_value_to_double(v[1], &b, NULL))
        return camas_request_reply_take(req, camas_value_new_float(a + b));
    camas_request_fail_text(req, "TypeError", "unsupported operand type(s) for +");
}



static void
m_fail(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    g_autofree char *m = camas_value_repr(args);
    camas_request_fail_text(req, "ValueError", m);
}

static void
m_get_calc(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasService *root = camas_rpc_connection_get_service(camas_rpc_request_get_connection(req));
    camas_request_reply_take(req, camas_service_to_value(camas_service_get_sub(root, "calc")));
}

/* task style: sleeps @dt seconds of simulated time, then answers @x */
static CamasValue *
m_sleep(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs,
        GError **error)
{
    static const char *const names[] = {"dt", "x", NULL};
    CamasValue *v[2] = {NULL, NULL};
    if (!camas_rpc_parse_args("sleep", args, kwargs, names, 1, v, error))
        return NULL;
    double dt;
    if (!camas_value_to_double(v[0], &dt, error))
        return NULL;
    CamasValue *x = v[1] ? camas_value_ref(v[1]) : NULL;
    if (!camas_task_sleep(inst, dt, error)) {
        if (x)
            camas_value_unref(x);
        return NULL;
    }
    return x;
}

/* task style: ask(method, *args) calls @method on the peer with @args and answers its result */
static CamasValue *
m_ask(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs,
      GError **error)
{
    gsize n = camas_value_get_length(args);
    CamasValue *method = n >= 1 ? camas_value_get_item(args, 0) : NULL;
    if (!method || camas_value_get_type(method) != CAMAS_VALUE_STR) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE, "ask() takes a method name");
        return NULL;
    }
    g_autoptr(GPtrArray) rest = g_ptr_array_new();
    for (gsize i = 1; i < n; i++)
        g_ptr_array_add(rest, camas_value_get_item(args, i));
    g_autoptr(CamasValue) rest_list =
        camas_value_new_list((CamasValue *const *)rest->pdata, rest->len);
    g_autoptr(CamasProxy) peer =
        camas_rpc_connection_get_remote(camas_rpc_request_get_connection(req));
    return camas_proxy_call_await(peer, camas_value_get_str(method, NULL), rest_list, kwargs,
                                  error);
}

static const CamasRpcMethod root_methods[] = {
    {"add", m_add},
    {"echo", camas_test_method_echo},
    {"echo_args", camas_test_method_echo_args},
    {"fail", m_fail},
    {"get_calc", m_get_calc},
    {"sleep", NULL, m_sleep},
    {"ask", NULL, m_ask},
    {NULL},
};
static const char *const root_subs[] = {"calc", "agents", NULL};
static const char *const root_hidden[] = {"secret", NULL};
static const CamasServiceClass root_class = {
    .name = "FuzzServer",
    .module = "__main__",
    .methods = root_methods,
    .sub_services = root_subs,
    .hidden = root_hidden,
};

static void
c_mul(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    static const char *const names[] = {"a", "b", NULL};
    CamasValue *v[2];
    GError *error = NULL;
    if (!camas_rpc_parse_args("mul", args, kwargs, names, 2, v, &error))
        return camas_test_fail_error(req, error);
    double a, b;
    if (!camas_value_to_double(v[0], &a, &error) || !camas_value_to_double(v[1], &b, &error))
        return camas_test_fail_error(req, error);
    camas_request_reply_take(req, camas_value_new_float(a * b));
}

static const CamasRpcMethod calc_methods[] = {{"mul", c_mul}, {NULL}};
static const char *const calc_subs[] = {"deep", NULL};
static const CamasServiceClass calc_class = {
    .name = "Calc", .module = "__main__", .methods = calc_methods, .sub_services = calc_subs};

static void
d_whereami(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    camas_request_reply_take(req, camas_value_new_str(inst ? inst : "deep"));
}

static const CamasRpcMethod deep_methods[] = {{"whereami", d_whereami}, {NULL}};
static const CamasServiceClass deep_class = {
    .name = "Deep", .module = "__main__", .methods = deep_methods};

/* root (instance: the clock, for sleep) with calc/deep and the dict agents/0, agents/1 */
static CamasService *
router_new(CamasClock *clock)
{
    CamasService *root = camas_service_new(&root_class, clock, NULL);
    CamasService *calc = camas_service_new(&calc_class, NULL, NULL);
    CamasService *deep = camas_service_new(&deep_class, NULL, NULL);
    CamasService *agents = camas_service_new_dict();
    CamasService *agent0 = camas_service_new(&deep_class, "agents/0", NULL);
    CamasService *agent1 = camas_service_new(&calc_class, NULL, NULL);
    gboolean ok = camas_service_set_sub(calc, "deep", deep, NULL) &&
                  camas_service_set_sub(root, "calc", calc, NULL) &&
                  camas_service_set_sub(agents, "0", agent0, NULL) &&
                  camas_service_set_sub(agents, "1", agent1, NULL) &&
                  camas_service_set_sub(root, "agents", agents, NULL);
    if (!ok)
        abort();
    camas_service_unref(agent1);
    camas_service_unref(agent0);
    camas_service_unref(agents);
    camas_service_unref(deep);
    camas_service_unref(calc);
    return root;
}

/* --- the raw client ------------------------------------------------------------------------ */

typedef struct {
    CamasPipe *pipe;
    gboolean dialed;
    gboolean closed;
    CamasFrameParser *parser;
    CamasCodec *check; /* decodes what the server sends, EXTs raw */
    gboolean verbose;  /* CAMAS_FUZZ_VERBOSE: print it (for corpus upkeep) */
} Client;

static void
client_received(CamasPipe *pipe, const guint8 *data, gsize len, gpointer user_data)
{
    Client *c = user_data;
    camas_frame_parser_feed(c->parser, data, len);
    GBytes *payload;
    GError *error = NULL;
    while ((payload = camas_frame_parser_next(c->parser, &error))) {
        gsize n;
        const guint8 *d = g_bytes_get_data(payload, &n);
        CamasMsgType type;
        CamasValue *id = NULL, *content = NULL;
        if (!camas_frame_decode(c->check, d, n, &type, &id, &content, &error)) {
            fprintf(stderr, "fuzz_rpc: the camas end sent a frame its codec cannot decode: %s\n",
                    error->message);
            abort();
        }
        if (c->verbose) {
            g_autofree char *i = camas_value_repr(id), *r = camas_value_repr(content);
            fprintf(stderr, "camas end: [%d, %s, %s]\n", (int)type, i, r);
        }
        camas_value_unref(id);
        camas_value_unref(content);
        g_bytes_unref(payload);
    }
    if (error) {
        fprintf(stderr, "fuzz_rpc: the camas end sent a bad frame: %s\n", error->message);
        abort();
    }
}

static void
client_closed(CamasPipe *pipe, const GError *error, gpointer user_data)
{
    ((Client *)user_data)->closed = TRUE;
}

static const CamasPipeCallbacks client_callbacks = {.received = client_received,
                                                    .closed = client_closed};

static void
client_dialed(CamasPipe *pipe, const GError *error, gpointer user_data)
{
    Client *c = user_data;
    c->dialed = TRUE;
    if (!pipe) {
        fprintf(stderr, "fuzz_rpc: cannot dial %s: %s\n", ADDRESS, error->message);
        abort();
    }
    c->pipe = pipe;
    camas__pipe_start(pipe, &client_callbacks, c);
}

static void
raw_accepted(CamasListener *listener, CamasPipe *pipe, gpointer user_data)
{
    Client *c = user_data;
    if (c->pipe) {
        camas__pipe_close(pipe); /* one peer only */
        return;
    }
    c->dialed = TRUE;
    c->pipe = pipe;
    camas__pipe_start(pipe, &client_callbacks, c);
}

/* --- one input ------------------------------------------------------------------------------ */

/* Runs @loop until nothing is pending, or with @still until nothing is due at time 0 (so
 * sleeps and timers are still pending when the connection closes). */
static void
run_until_idle(CamasLoop *loop, gboolean still, const char *when)
{
    gint64 next;
    for (guint steps = 0;
         (!still || (camas_loop_next_time(loop, &next) && next <= 0)) && camas_loop_step(loop);
         steps++) {
        if (steps == MAX_STEPS) {
            fprintf(stderr, "fuzz_rpc: the loop does not settle %s\n", when);
            abort();
        }
    }
}

static void
quiet_log(const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
    /* Warnings about bad peers are expected; criticals are contract violations (fatal). */
    if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR))
        fprintf(stderr, "%s: %s\n", domain ? domain : "", message);
}

static void
check_nothing_alive(void)
{
    for (int k = 0; k < CAMAS__LIVE_N; k++) {
        int n = g_atomic_int_get(&camas__live_counts[k]);
        if (n != 0) {
            fprintf(stderr, "fuzz_rpc: %d %s object(s) alive after teardown\n", n,
                    camas__live_name(k));
            abort();
        }
    }
}

static void
send_frame(Client *c, const guint8 *payload, gsize len)
{
    guint8 *frame = g_malloc(4 + len);
    frame[0] = (guint8)(len >> 24);
    frame[1] = (guint8)(len >> 16);
    frame[2] = (guint8)(len >> 8);
    frame[3] = (guint8)len;
    memcpy(frame + 4, payload, len);
    GBytes *bytes = g_bytes_new_take(frame, 4 + len);
    camas__pipe_send(c->pipe, bytes, NULL); /* fails once the server hung up: fine */
    g_bytes_unref(bytes);
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static gboolean initialised;
    if (!initialised) {
        initialised = TRUE;
        g_log_set_default_handler(quiet_log, NULL);
        g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
    }
    if (size < 1)
        return 0;
    const char *codec_name = data[0] & 1 ? "msgpack" : "json";
    gboolean server_first = (data[0] & 2) != 0, at_once = (data[0] & 4) != 0;
    gboolean still = (data[0] & 8) != 0, client_mode = (data[0] & 64) != 0;
    data++;
    size--;

    CamasLoop *loop = camas_loop_new();
    CamasClock *clock = camas_clock_new_afap(loop, 0, 0);
    CamasCodec *codec = camas_codec_new(codec_name, NULL);
    CamasService *root = router_new(clock);
    GError *error = NULL;
    Client client = {.verbose = g_getenv("CAMAS_FUZZ_VERBOSE") != NULL};
    client.parser = camas_frame_parser_new(1 << 24);
    client.check = camas_codec_new(codec_name, NULL);
    camas_codec_set_raw_ext(client.check, TRUE);
    CamasAddress *address = camas_address_parse(ADDRESS, NULL);

    /* server mode: a camas server, the raw pipe dials it.  client mode: the raw pipe is
     * accepted by a bare listener, and a camas client connection (serving the same router)
     * has two calls in flight (ids 0 and 1) that the input's replies may answer. */
    CamasRpcServer *server = NULL;
    CamasListener *listener = NULL;
    CamasRpcConnection *conn = NULL;
    CamasFuture *calls[2] = {NULL, NULL};
    if (!client_mode) {
        server = camas_rpc_server_new(loop, ADDRESS, codec, root, NULL, NULL, NULL, NULL, &error);
        if (!server) {
            fprintf(stderr, "fuzz_rpc: no server: %s\n", error->message);
            abort();
        }
        camas__transport_dial(loop, address, NULL, client_dialed, &client);
    } else {
        listener = camas__transport_listen(loop, address, NULL, raw_accepted, &client, &error);
        if (!listener) {
            fprintf(stderr, "fuzz_rpc: no listener: %s\n", error->message);
            abort();
        }
        CamasFuture *f = camas_rpc_open(loop, ADDRESS, codec, root, NULL, &error);
        if (!f) {
            fprintf(stderr, "fuzz_rpc: no client: %s\n", error->message);
            abort();
        }
        run_until_idle(loop, FALSE, "while connecting");
        conn = camas_rpc_open_finish(f, &error);
        camas_future_unref(f);
        if (!conn) {
            fprintf(stderr, "fuzz_rpc: the client did not connect: %s\n", error->message);
            abort();
        }
        CamasProxy *remote = camas_rpc_connection_get_remote(conn);
        CamasProxy *calc = camas_proxy_get_sub(remote, "calc");
        calls[0] = camas_proxy_call_build(remote, "add", "[i i]", 1, 2);
        calls[1] = camas_proxy_call_build(calc, "mul", "{s:i s:f}", "a", 2, "b", 0.5);
        camas_proxy_unref(calc);
        camas_proxy_unref(remote);
    }
    camas_address_free(address);
    run_until_idle(loop, FALSE, "while dialing");
    if (!client.dialed)
        abort();

    /* every piece between separators is one frame (copied into it: the peer reads the frame
     * buffer, whose end ASan guards) */
    gsize start = 0;
    for (gsize i = 0; i <= size && !client.closed; i++) {
        if (i < size && data[i] != SEPARATOR)
            continue;
        send_frame(&client, data + start, i - start);
        if (!at_once)
            run_until_idle(loop, still, "after a frame");
        start = i + 1;
    }

    if (client.verbose)
        fprintf(stderr, "raw end: hangs up%s\n", client.closed ? " (the other did first)" : "");
    run_until_idle(loop, still, "after the frames");
    if (server_first) {
        camas_rpc_server_free(server);
        if (conn)
            camas_rpc_connection_close(conn);
        run_until_idle(loop, FALSE, "after the camas end closed");
        camas__pipe_close(client.pipe);
        run_until_idle(loop, FALSE, "after the raw end hung up");
    } else {
        camas__pipe_close(client.pipe);
        run_until_idle(loop, FALSE, "after the raw end hung up");
        camas_rpc_server_free(server);
        if (conn)
            camas_rpc_connection_close(conn);
        run_until_idle(loop, FALSE, "after the camas end closed");
    }
    for (int k = 0; k < 2; k++) {
        if (calls[k] && !camas_future_is_done(calls[k]))
            abort(); /* a closed connection fails every call */
        if (calls[k])
            camas_future_unref(calls[k]);
    }
    if (conn)
        camas_rpc_connection_unref(conn);
    if (listener)
        camas__listener_close(listener);
    run_until_idle(loop, FALSE, "after the teardown");
    camas_service_unref(root);
    camas_codec_unref(codec);
    camas_codec_unref(client.check);
    camas_frame_parser_free(client.parser);
    camas_clock_unref(clock);
    camas_loop_free(loop);
    check_nothing_alive();
    return 0;
}
