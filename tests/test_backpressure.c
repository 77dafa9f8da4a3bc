/* SPDX-License-Identifier: MIT */
/*
 * Write back-pressure in the channel and RPC layers (camas_channel_is_writable(),
 * camas_channel_drain(), the write_limit option, camas_channel_set_reading(), and the RPC
 * connection's and proxy's drain), over LocalQueue, TCP and Unix sockets: a sender that honours
 * drain keeps its queue within the high-water mark plus one message while the peer does not
 * read, and goes on when the peer reads again; one that does not meets the hard limit.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include <camas/camas.h>

#include "testutil.h"

TestSuite(backpressure, .fini = camas_test_check_leaks);

#define HIGH_WATER ((gsize)256 * 1024)
#define LOW_WATER ((gsize)64 * 1024)
#define BLOB_SIZE ((gsize)64 * 1024)
/* Frame header, triple and the blob's own header: a request is at most this much above the
 * blob. */
#define FRAME_OVERHEAD 64
/* Enough bytes to fill any kernel socket buffers many times over (a few MiB on loopback). */
#define N_BLOBS 500

/* The transports most tests run on. */
static CamasTestKind every_kind[] = {CAMAS_TEST_LOCAL, CAMAS_TEST_TCP, CAMAS_TEST_IPC};
/* ... and those the several-senders test runs on. */
static CamasTestKind local_and_tcp[] = {CAMAS_TEST_LOCAL, CAMAS_TEST_TCP};

/* --- the environment ------------------------------------------------------------------------ */

typedef struct {
    CamasTestWorld *w; /* LocalQueue: no clock (plain loop runs); sockets: real time */
    char *address;
    CamasCodec *codec;
    CamasChannelOptions client_opts;
    gboolean start_paused; /* accepted connections start with reading paused */
    guint n_received;      /* requests the server got */
    CamasChannelServer *server;
    CamasChannel *client; /* env_open's channel */
    CamasService *service;
    CamasRpcServer *rpc_server;
} Env;

static Env *
env_new(CamasTestKind kind)
{
    Env *env = g_new0(Env, 1);
    env->w =
        camas_test_world_new(kind == CAMAS_TEST_LOCAL ? CAMAS_TEST_NO_CLOCK : CAMAS_TEST_REALTIME);
    env->w->wait_seconds = 60;
    env->address = camas_test_world_address(env->w, kind, "backpressure");
    env->codec = camas_test_codec("msgpack");
    env->client_opts.transport.write_high_water = HIGH_WATER;
    env->client_opts.transport.write_low_water = LOW_WATER;
    return env;
}

static void
env_free(Env *env)
{
    g_clear_pointer(&env->client, camas_channel_unref);
    g_clear_pointer(&env->server, camas_channel_server_free);
    g_clear_pointer(&env->rpc_server, camas_rpc_server_free);
    /* LocalQueue: what the close scheduled runs before the loop goes (sockets: the world waits
     * for closed sockets to finish) */
    camas_test_world_settle(env->w, 0);
    g_clear_pointer(&env->service, camas_service_unref);
    camas_codec_unref(env->codec);
    camas_test_world_free(env->w);
    g_free(env->address);
    g_free(env);
}

/* --- a channel server that answers ["blob", i, bytes] with i --------------------------------- */

static void
server_request(CamasChannel *channel, CamasRequest *req, gpointer data)
{
    Env *env = data;
    env->n_received++;
    CamasValue *c = camas_request_get_content(req);
    camas_request_reply(req, camas_value_get_item(c, 1));
}

static void
server_connected(CamasChannelServer *server, CamasChannel *channel, gpointer data)
{
    Env *env = data;
    camas_channel_set_request_func(channel, server_request, env, NULL);
    if (env->start_paused)
        camas_channel_set_reading(channel, FALSE);
}

static void
env_listen(Env *env, gboolean paused)
{
    env->start_paused = paused;
    g_autoptr(GError) error = NULL;
    env->server = camas_channel_server_new(env->w->loop, env->address, env->codec, NULL,
                                           server_connected, env, NULL, &error);
    cr_assert_not_null(env->server, "%s", error ? error->message : "");
}

/* Opens env->client (freed with the env) to the channel server.  Returns: (transfer none) it. */
static CamasChannel *
env_open(Env *env)
{
    env->client = camas_test_channel_open(env->w, camas_channel_server_get_address(env->server),
                                          env->codec, &env->client_opts);
    /* the server side exists once the client's open is done */
    CAMAS_TEST_WAIT(env->w, camas_channel_server_get_n_channels(env->server) > 0);
    return env->client;
}

/* --- the sender: a task that sends N_BLOBS requests ------------------------------------------ */

typedef struct {
    Env *env;
    CamasChannel *channel; /* channel senders */
    CamasProxy *proxy;     /* RPC senders */
    gboolean honour;       /* checks writable and awaits drain */
    CamasValue *blob;
    guint sent;
    guint replied;
    guint failed;
    guint drains;       /* times it had to wait */
    gboolean waiting;   /* inside a drain await now */
    gboolean finished;  /* the task body returned */
    gsize max_queued;   /* the largest write queue seen right after a send */
    GError *error;      /* why the task stopped early */
} Sender;

static void
count_reply(CamasFuture *f, gpointer data)
{
    Sender *s = data;
    if (camas_future_is_failed(f))
        s->failed++;
    else
        s->replied++;
}

static gboolean
sender_writable(Sender *s)
{
    return s->channel ? camas_channel_is_writable(s->channel) : camas_proxy_is_writable(s->proxy);
}

static gsize
sender_queued(Sender *s)
{
    CamasChannel *ch = s->channel ? s->channel
                                  : camas_rpc_connection_get_channel(
                                        camas_proxy_get_connection(s->proxy));
    return camas_channel_get_write_queued(ch);
}

static CamasValue *
sender_run(CamasTask *task, gpointer data, GError **error)
{
    Sender *s = data;
    for (guint i = 0; i < N_BLOBS; i++) {
        gboolean ok = TRUE;
        while (ok && s->honour && !sender_writable(s)) {
            s->drains++;
            s->waiting = TRUE;
            ok = s->channel ? camas_channel_drain_await(s->channel, &s->error)
                            : camas_proxy_drain_await(s->proxy, &s->error);
            s->waiting = FALSE;
        }
        if (!ok)
            break;
        CamasFuture *f;
        if (s->channel) {
            g_autoptr(CamasValue) content = camas_value_build("[s i v]", "blob", (gint64)i, s->blob);
            f = camas_channel_send(s->channel, content);
        } else {
            g_autoptr(CamasValue) args = camas_value_build("[i v]", (gint64)i, s->blob);
            f = camas_proxy_call(s->proxy, "echo_index", args, NULL);
        }
        camas_future_add_callback(f, count_reply, s, NULL);
        camas_future_unref(f);
        s->sent++;
        s->max_queued = MAX(s->max_queued, sender_queued(s));
    }
    s->finished = TRUE;
    return NULL;
}

static void
sender_init(Sender *s, Env *env, gboolean honour)
{
    memset(s, 0, sizeof *s);
    s->env = env;
    s->honour = honour;
    guint8 *data = g_malloc(BLOB_SIZE);
    for (gsize i = 0; i < BLOB_SIZE; i++)
        data[i] = (guint8)(i * 7);
    s->blob = camas_value_new_bytes(data, BLOB_SIZE);
    g_free(data);
}

static void
sender_spawn(Sender *s)
{
    g_autoptr(GError) error = NULL;
    CamasTask *task = camas_task_spawn(s->env->w->loop, sender_run, s, NULL, &error);
    cr_assert_not_null(task, "%s", error ? error->message : "");
    camas_task_unref(task);
}

static void
sender_clear(Sender *s)
{
    camas_value_unref(s->blob);
    g_clear_error(&s->error);
}

/* Waiting in drain with the channel not writable: for sockets the kernel may still take a
 * burst (its buffers grow) and let the sender go on for a while, so this can turn FALSE again
 * until the buffers are full. */
static gboolean
sender_blocked(gpointer data)
{
    Sender *s = data;
    return s->finished || (s->waiting && !sender_writable(s));
}

static gboolean
all_replied(gpointer data)
{
    Sender *s = data;
    return s->finished && s->replied + s->failed == s->sent;
}

/* Phase 1: the peer does not read; the sender fills the queue (after the kernel's buffers, for
 * sockets) and waits in drain, the queue within the high-water mark plus one message; nothing
 * moves while it waits.  Phase 2: the peer reads again; every request is answered. */
static void
check_pause_and_resume(Env *env, Sender *s, CamasChannel *server_side)
{
    sender_spawn(s);
    CAMAS_TEST_WAIT(env->w, sender_blocked(s));
    cr_assert_not(s->finished, "the sender sent all %u blobs without ever having to wait",
                  s->sent);
    guint sent = s->sent;
    gsize queued = sender_queued(s);
    camas_test_world_settle(env->w, 300);
    CAMAS_TEST_WAIT(env->w, sender_blocked(s));
    if (!env->w->ctx) { /* nothing moves at all */
        cr_assert_eq(s->sent, sent, "the sender went on while the peer did not read");
        cr_assert_eq(sender_queued(s), queued);
    }
    cr_assert_not(s->finished, "the sender went on while the peer did not read");
    cr_assert_lt(s->sent, N_BLOBS);
    cr_assert_gt(sender_queued(s), LOW_WATER);
    cr_assert_leq(s->max_queued, HIGH_WATER + BLOB_SIZE + FRAME_OVERHEAD, "queued %zu",
                  s->max_queued);
    cr_assert_eq(env->n_received, 0, "the paused peer got requests");
    cr_assert_eq(s->replied, 0);

    camas_channel_set_reading(server_side, TRUE);
    cr_assert(camas_channel_is_reading(server_side));
    CAMAS_TEST_WAIT(env->w, all_replied(s));
    cr_assert_null(s->error, "%s", s->error ? s->error->message : "");
    cr_assert_eq(s->sent, N_BLOBS);
    cr_assert_eq(s->replied, N_BLOBS);
    cr_assert_eq(s->failed, 0);
    cr_assert_eq(env->n_received, N_BLOBS);
    cr_assert_geq(s->drains, 1);
    cr_assert_leq(s->max_queued, HIGH_WATER + BLOB_SIZE + FRAME_OVERHEAD, "queued %zu",
                  s->max_queued);
}

CAMAS_TEST_EACH_KIND(backpressure, every_kind, channel_sender_honouring_drain_stays_bounded)
{
    Env *env = env_new(*kind);
    env_listen(env, TRUE);
    CamasChannel *ch = env_open(env);
    CamasChannel *server_side = camas_channel_server_get_channel(env->server, 0);
    cr_assert_not(camas_channel_is_reading(server_side));
    cr_assert(camas_channel_is_reading(ch));
    Sender s;
    sender_init(&s, env, TRUE);
    s.channel = ch;
    cr_assert(camas_channel_is_writable(ch));
    check_pause_and_resume(env, &s, server_side);
    cr_assert(camas_channel_is_writable(ch));
    cr_assert_leq(camas_channel_get_write_queued(ch), LOW_WATER);
    sender_clear(&s);
    env_free(env);
}

/* --- the hard limit ------------------------------------------------------------------------ */

CAMAS_TEST_EACH_KIND(backpressure, every_kind, a_sender_ignoring_drain_meets_the_write_limit)
{
    Env *env = env_new(*kind);
    const gsize limit = 1024 * 1024;
    env->client_opts.write_limit = limit;
    env_listen(env, FALSE);
    CamasChannel *ch = env_open(env);
    Sender s;
    sender_init(&s, env, FALSE);
    /* All sends in one go (no event runs in between, so nothing is flushed or read): the queue
     * reaches the limit, and the send that would pass it fails at once, sending nothing. */
    GPtrArray *futures = g_ptr_array_new_with_free_func((GDestroyNotify)camas_future_unref);
    CamasFuture *refused = NULL;
    for (guint i = 0; i < 1000 && !refused; i++) {
        g_autoptr(CamasValue) content = camas_value_build("[s i v]", "blob", (gint64)i, s.blob);
        CamasFuture *f = camas_channel_send(ch, content);
        if (camas_future_is_done(f))
            refused = f;
        else
            g_ptr_array_add(futures, f);
        cr_assert_leq(camas_channel_get_write_queued(ch), limit);
    }
    cr_assert_not_null(refused, "the limit was never met");
    cr_assert_eq(futures->len, limit / (BLOB_SIZE + FRAME_OVERHEAD));
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas_future_propagate(refused, NULL, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE), "%s", error->message);
    cr_assert(strstr(error->message, "write buffer full"), "%s", error->message);
    camas_future_unref(refused);
    cr_assert_not(camas_channel_is_closed(ch));
    /* the accepted ones are answered; then there is room again */
    for (guint i = 0; i < futures->len; i++)
        camas_test_run_until_done(env->w, g_ptr_array_index(futures, i));
    for (guint i = 0; i < futures->len; i++) {
        CamasValue *r = camas_future_get_result(g_ptr_array_index(futures, i));
        cr_assert_not_null(r);
        cr_assert_eq(camas_value_get_int(r), i);
    }
    cr_assert_eq(env->n_received, futures->len, "the refused request was sent");
    g_autoptr(CamasValue) content = camas_value_build("[s i v]", "blob", (gint64)7, s.blob);
    g_autoptr(CamasFuture) again = camas_channel_send(ch, content);
    camas_test_run_until_done(env->w, again);
    cr_assert_eq(camas_value_get_int(camas_future_get_result(again)), 7);
    g_ptr_array_unref(futures);
    sender_clear(&s);
    env_free(env);
}

/* --- drain futures ------------------------------------------------------------------------- */

static void
record_done(CamasFuture *f, gpointer data)
{
    GString *log = data;
    g_string_append_c(log, camas_future_is_failed(f) ? 'F' : 'T');
}

Test(backpressure, drain_completes_at_once_when_writable_and_fails_when_closed)
{
    Env *env = env_new(CAMAS_TEST_LOCAL);
    env_listen(env, FALSE);
    CamasChannel *ch = env_open(env);
    g_autoptr(GString) log = g_string_new(NULL);
    g_autoptr(CamasFuture) now = camas_channel_drain(ch);
    camas_future_add_callback(now, record_done, log, NULL);
    cr_assert(camas_future_is_done(now));
    cr_assert_str_empty(log->str, "a callback ran inside camas_channel_drain()");
    camas_loop_run(env->w->loop);
    cr_assert_str_eq(log->str, "T");
    cr_assert_null(camas_future_get_error(now));

    camas_channel_close(ch);
    cr_assert_not(camas_channel_is_writable(ch));
    cr_assert_eq(camas_channel_get_write_queued(ch), 0);
    g_autoptr(CamasFuture) closed = camas_channel_drain(ch);
    cr_assert(camas_future_is_done(closed));
    cr_assert(g_error_matches(camas_future_get_error(closed), CAMAS_ERROR, CAMAS_ERROR_CLOSED));
    env_free(env);
}

Test(backpressure, waiting_drains_fail_in_order_when_the_channel_closes_and_cancel_alone)
{
    Env *env = env_new(CAMAS_TEST_LOCAL);
    env_listen(env, TRUE);
    CamasChannel *ch = env_open(env);
    Sender s;
    sender_init(&s, env, FALSE);
    while (camas_channel_is_writable(ch)) {
        g_autoptr(CamasValue) content = camas_value_build("[s i v]", "blob", (gint64)0, s.blob);
        g_autoptr(CamasFuture) f = camas_channel_send(ch, content);
        camas_future_add_callback(f, count_reply, &s, NULL);
        s.sent++;
    }
    cr_assert_geq(s.sent, HIGH_WATER / BLOB_SIZE);
    g_autoptr(GString) log = g_string_new(NULL);
    CamasFuture *d[3];
    for (int i = 0; i < 3; i++) {
        d[i] = camas_channel_drain(ch);
        camas_future_add_callback(d[i], record_done, log, NULL);
    }
    cr_assert(camas_future_cancel(d[1]));
    camas_loop_run(env->w->loop);
    cr_assert_str_eq(log->str, "F", "only the cancelled drain is done");
    cr_assert_not(camas_future_is_done(d[0]));
    camas_channel_close(ch);
    camas_loop_run(env->w->loop);
    cr_assert_str_eq(log->str, "FFF");
    for (int i = 0; i < 3; i++) {
        cr_assert(g_error_matches(camas_future_get_error(d[i]), CAMAS_ERROR,
                                  i == 1 ? CAMAS_ERROR_CANCELLED : CAMAS_ERROR_CLOSED));
        camas_future_unref(d[i]);
    }
    cr_assert_eq(s.failed, s.sent, "every request failed with the close");
    cr_assert_eq(s.replied, 0);
    sender_clear(&s);
    env_free(env);
}

/* The queue crosses the mark and the peer takes the bytes again before the transport's
 * `writable` report runs: a drain asked for in between still completes. */
Test(backpressure, a_drain_asked_for_while_the_peer_catches_up_still_completes)
{
    Env *env = env_new(CAMAS_TEST_LOCAL);
    env->client_opts.transport.write_high_water = 1024;
    env->client_opts.transport.write_low_water = 256;
    env_listen(env, FALSE);
    CamasChannel *ch = env_open(env);
    Sender s;
    sender_init(&s, env, FALSE);
    g_autoptr(CamasValue) content = camas_value_build("[s i v]", "blob", (gint64)5, s.blob);
    g_autoptr(CamasFuture) reply = camas_channel_send(ch, content);
    cr_assert_not(camas_channel_is_writable(ch));
    g_autoptr(CamasFuture) drain = camas_channel_drain(ch);
    cr_assert_not(camas_future_is_done(drain));
    camas_loop_run(env->w->loop);
    cr_assert(camas_future_is_done(drain));
    cr_assert_null(camas_future_get_error(drain));
    cr_assert(camas_channel_is_writable(ch));
    cr_assert_eq(camas_value_get_int(camas_future_get_result(reply)), 5);
    sender_clear(&s);
    env_free(env);
}

/* Pausing a channel holds back replies too; resuming delivers them in order. */
Test(backpressure, a_paused_client_gets_its_replies_after_resuming)
{
    Env *env = env_new(CAMAS_TEST_LOCAL);
    env_listen(env, FALSE);
    CamasChannel *ch = env_open(env);
    camas_channel_set_reading(ch, FALSE);
    cr_assert_not(camas_channel_is_reading(ch));
    g_autoptr(CamasValue) content = camas_value_build("[s i s]", "blob", (gint64)3, "x");
    g_autoptr(CamasFuture) f = camas_channel_send(ch, content);
    camas_loop_run(env->w->loop);
    cr_assert_eq(env->n_received, 1);
    cr_assert_not(camas_future_is_done(f), "a reply arrived while paused");
    camas_channel_set_reading(ch, TRUE);
    camas_loop_run(env->w->loop);
    cr_assert(camas_future_is_done(f));
    cr_assert_eq(camas_value_get_int(camas_future_get_result(f)), 3);
    env_free(env);
}

/* --- RPC ----------------------------------------------------------------------------------- */

static void
m_echo_index(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    Env *env = inst;
    env->n_received++;
    camas_request_reply(req, camas_value_get_item(args, 0));
}

static const CamasRpcMethod rpc_methods[] = {{"echo_index", m_echo_index}, {NULL}};
static const CamasServiceClass rpc_class = {.name = "Blobs", .methods = rpc_methods};

static void
rpc_connected(CamasRpcServer *server, CamasRpcConnection *conn, gpointer data)
{
    camas_channel_set_reading(camas_rpc_connection_get_channel(conn), FALSE);
}

CAMAS_TEST_EACH_KIND(backpressure, every_kind, rpc_caller_honouring_proxy_drain_stays_bounded)
{
    Env *env = env_new(*kind);
    env->service = camas_service_new(&rpc_class, env, NULL);
    g_autoptr(GError) error = NULL;
    env->rpc_server = camas_rpc_server_new(env->w->loop, env->address, env->codec, env->service,
                                           NULL, rpc_connected, NULL, NULL, &error);
    cr_assert_not_null(env->rpc_server, "%s", error ? error->message : "");
    CamasRpcConnection *conn = camas_test_rpc_open(
        env->w, camas_rpc_server_get_address(env->rpc_server), env->codec, NULL, &env->client_opts);
    CAMAS_TEST_WAIT(env->w, camas_rpc_server_get_n_connections(env->rpc_server) > 0);
    CamasChannel *server_side =
        camas_rpc_connection_get_channel(camas_rpc_server_get_connection(env->rpc_server, 0));
    cr_assert(camas_rpc_connection_is_writable(conn));
    Sender s;
    sender_init(&s, env, TRUE);
    s.proxy = camas_rpc_connection_get_remote(conn);
    check_pause_and_resume(env, &s, server_side);
    g_autoptr(CamasFuture) d = camas_rpc_connection_drain(conn);
    camas_test_run_until_done(env->w, d);
    cr_assert_null(camas_future_get_error(d));
    camas_proxy_unref(s.proxy);
    sender_clear(&s);
    camas_rpc_connection_unref(conn);
    env_free(env);
}

/* TRUE when @pred holds for each of the three senders @s. */
static gboolean
all_three(Sender *s, gboolean (*pred)(gpointer))
{
    for (int i = 0; i < 3; i++)
        if (!pred(&s[i]))
            return FALSE;
    return TRUE;
}

/* Three tasks send on one channel; each checks before every send, so together they stay within
 * the mark plus one message, and all go on when the peer reads. */
CAMAS_TEST_EACH_KIND(backpressure, local_and_tcp,
                     several_senders_on_one_channel_stay_bounded_together)
{
    Env *env = env_new(*kind);
    env_listen(env, TRUE);
    CamasChannel *ch = env_open(env);
    CamasChannel *server_side = camas_channel_server_get_channel(env->server, 0);
    Sender s[3];
    for (int i = 0; i < 3; i++) {
        sender_init(&s[i], env, TRUE);
        s[i].channel = ch;
        sender_spawn(&s[i]);
    }
    CAMAS_TEST_WAIT(env->w, all_three(s, sender_blocked));
    for (int i = 0; i < 3; i++) {
        cr_assert_not(s[i].finished);
        /* each saw the whole channel's queue */
        cr_assert_leq(s[i].max_queued, HIGH_WATER + BLOB_SIZE + FRAME_OVERHEAD, "queued %zu",
                      s[i].max_queued);
    }
    cr_assert_eq(env->n_received, 0);
    camas_channel_set_reading(server_side, TRUE);
    CAMAS_TEST_WAIT(env->w, all_three(s, all_replied));
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(s[i].replied, N_BLOBS);
        cr_assert_geq(s[i].drains, 1);
        cr_assert_leq(s[i].max_queued, HIGH_WATER + BLOB_SIZE + FRAME_OVERHEAD, "queued %zu",
                      s[i].max_queued);
        sender_clear(&s[i]);
    }
    cr_assert_eq(env->n_received, 3 * N_BLOBS);
    env_free(env);
}
