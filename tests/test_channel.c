/* SPDX-License-Identifier: MIT */
/*
 * The channel layer over LocalQueue: request ids both ways, replies in any order, remote
 * failures, connection loss, connect retries, the §13 captures byte for byte, and every kind of
 * bad input a peer can send (the connection closes, the server keeps serving).
 */
#include <criterion/criterion.h>
#include <string.h>

#include <camas/camas.h>

#include "testutil.h"

TestSuite(channel, .fini = camas_test_check_leaks);

#define MS (G_GINT64_CONSTANT(1000000))

/* --- warnings ------------------------------------------------------------------------------- */

static GPtrArray *warnings;

static void
record_warning(const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
    if (warnings)
        g_ptr_array_add(warnings, g_strdup(message));
}

static void
capture_warnings(void)
{
    if (!warnings)
        warnings = g_ptr_array_new_with_free_func(g_free);
    g_log_set_handler("camas", G_LOG_LEVEL_WARNING, record_warning, NULL);
}

/* --- the conformance channel server (conformance-service.md) --------------------------------- */

typedef struct {
    CamasLoop *loop;
    CamasChannelServer *server;
    GPtrArray *held; /* requests the test keeps unanswered */
    guint n_requests;
} EchoServer;

typedef struct {
    CamasRequest *request;
    CamasValue *value;
} Later;

static void
reply_later(CamasLoop *loop, gpointer data)
{
    Later *l = data;
    g_autoptr(CamasValue) reply = camas_value_build("[s v]", "reply", l->value);
    camas_request_reply(l->request, reply);
    camas_value_unref(l->value);
    g_free(l);
}

static void
callback_done(CamasFuture *future, gpointer data)
{
    CamasRequest *req = data;
    g_autoptr(CamasValue) r = NULL;
    g_autoptr(GError) error = NULL;
    if (!camas_future_propagate(future, &r, &error)) {
        camas_request_fail(req, error);
        return;
    }
    g_autoptr(CamasValue) reply = camas_value_build("[s v]", "reply-cb", r);
    camas_request_reply(req, reply);
}

static void
echo_request(CamasChannel *channel, CamasRequest *req, gpointer data)
{
    EchoServer *es = data;
    es->n_requests++;
    CamasValue *c = camas_request_get_content(req);
    const char *tag = NULL;
    if (camas_value_is_sequence(c) && camas_value_get_length(c) >= 2 &&
        camas_value_get_type(camas_value_get_item(c, 0)) == CAMAS_VALUE_STR)
        tag = camas_value_get_str(camas_value_get_item(c, 0), NULL);
    if (g_strcmp0(tag, "__fail__") == 0) {
        camas_request_fail_text(req, "ValueError",
                                camas_value_get_str(camas_value_get_item(c, 1), NULL));
    } else if (g_strcmp0(tag, "__callback__") == 0) {
        g_autoptr(CamasValue) cb = camas_value_build("[s v]", "cb", camas_value_get_item(c, 1));
        CamasFuture *f = camas_channel_send(channel, cb);
        camas_future_add_callback(f, callback_done, req, NULL);
        camas_future_unref(f);
    } else if (g_strcmp0(tag, "__sleep__") == 0) {
        double dt = 0;
        camas_value_to_double(camas_value_get_item(c, 1), &dt, NULL);
        Later *l = g_new(Later, 1);
        l->request = req;
        l->value = camas_value_ref(camas_value_get_item(c, 2));
        camas_loop_call_at(es->loop, camas_loop_now(es->loop) + (gint64)(dt * 1e9), reply_later,
                           l);
    } else if (g_strcmp0(tag, "__hold__") == 0) {
        g_ptr_array_add(es->held, req);
    } else {
        g_autoptr(CamasValue) reply = camas_value_build("[s v]", "reply", c);
        camas_request_reply(req, reply);
    }
}

static void
echo_connected(CamasChannelServer *server, CamasChannel *channel, gpointer data)
{
    camas_channel_set_request_func(channel, echo_request, data, NULL);
}

static EchoServer *
echo_server_new(CamasLoop *loop, const char *address, CamasCodec *codec,
                const CamasChannelOptions *options)
{
    EchoServer *es = g_new0(EchoServer, 1);
    es->loop = loop;
    es->held = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    es->server = camas_channel_server_new(loop, address, codec, options, echo_connected, es, NULL,
                                          &error);
    cr_assert_not_null(es->server, "%s", error ? error->message : "");
    return es;
}

static void
echo_server_free(EchoServer *es)
{
    for (guint i = 0; i < es->held->len; i++)
        camas_request_free(g_ptr_array_index(es->held, i));
    g_ptr_array_unref(es->held);
    camas_channel_server_free(es->server);
    g_free(es);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(EchoServer, echo_server_free)

/* An echo server at @address that @w owns, and a channel to it; both ends use @options.  @es
 * (nullable) receives the server.  Returns: (transfer full) the channel. */
static CamasChannel *
echo_pair(CamasTestWorld *w, const char *address, const char *codec_name,
          const CamasChannelOptions *options, EchoServer **es)
{
    CamasCodec *codec =
        camas_test_world_own(w, camas_test_codec(codec_name), (GDestroyNotify)camas_codec_unref);
    EchoServer *server = echo_server_new(w->loop, address, codec, options);
    camas_test_world_own(w, server, (GDestroyNotify)echo_server_free);
    if (es)
        *es = server;
    return camas_test_channel_open(w, address, codec, options);
}

/* Sends ["__hold__", @i], which the echo server keeps unanswered.  Returns: (transfer full) the
 * request's future. */
static CamasFuture *
send_held(CamasChannel *ch, int i)
{
    g_autoptr(CamasValue) hold = camas_value_build("[s i]", "__hold__", i);
    return camas_channel_send(ch, hold);
}

/* Sends a string of @len - 1 copies of @fill on @ch and runs until the request fails.
 * Returns: (transfer full) the error. */
static GError *
send_big_error(CamasTestWorld *w, CamasChannel *ch, gsize len, char fill)
{
    g_autofree char *big = g_strnfill(len - 1, fill);
    g_autoptr(CamasValue) v = camas_value_new_str(big);
    g_autoptr(CamasFuture) f = camas_channel_send(ch, v);
    return camas_test_await_error(w, f);
}

/* Sends "ohai" on @ch and asserts the echo server's reply. */
static void
assert_echoes(CamasTestWorld *w, CamasChannel *ch)
{
    g_autoptr(CamasValue) ohai = camas_value_new_str("ohai");
    g_autoptr(CamasFuture) f = camas_channel_send(ch, ohai);
    g_autoptr(CamasValue) v = camas_test_await_ok(w, f);
    camas_test_assert_value(v, "[s s]", "reply", "ohai");
}

/* --- raw peers ------------------------------------------------------------------------------ */

#define assert_rx_text(rx, literal) assert_rx_len((rx), (literal), sizeof(literal) - 1)

static void
assert_rx_len(GByteArray *rx, const char *data, gsize len)
{
    cr_assert_eq(rx->len, len, "got %u bytes, expected %zu", rx->len, len);
    cr_assert_arr_eq(rx->data, data, len, "bytes differ");
}

static void
assert_rx(GByteArray *rx, const char *hex_or_text, gboolean hex)
{
    g_autoptr(GByteArray) expect = g_byte_array_new();
    if (hex) {
        for (const char *p = hex_or_text; *p; p++) {
            if (*p == ' ')
                continue;
            guint8 b = (guint8)(g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]));
            g_byte_array_append(expect, &b, 1);
            p++;
        }
    } else {
        g_byte_array_append(expect, (const guint8 *)hex_or_text, strlen(hex_or_text));
    }
    cr_assert_eq(rx->len, expect->len, "got %u bytes, expected %u", rx->len, expect->len);
    cr_assert_arr_eq(rx->data, expect->data, expect->len, "bytes differ");
}

/* A frame: 4-byte big-endian header + text payload. */
static GByteArray *
frame_text(const char *payload)
{
    GByteArray *b = g_byte_array_new();
    guint32 n = GUINT32_TO_BE((guint32)strlen(payload));
    g_byte_array_append(b, (const guint8 *)&n, 4);
    g_byte_array_append(b, (const guint8 *)payload, strlen(payload));
    return b;
}

/* The frames of the NULL-terminated text payloads, one after another. */
static GByteArray *
frames_text(const char *first, ...)
{
    GByteArray *all = g_byte_array_new();
    va_list ap;
    va_start(ap, first);
    for (const char *payload = first; payload; payload = va_arg(ap, const char *)) {
        g_autoptr(GByteArray) one = frame_text(payload);
        g_byte_array_append(all, one->data, one->len);
    }
    va_end(ap);
    return all;
}

/* Sends each of the NULL-terminated text @payloads as a frame of its own, one write each. */
static void
raw_send_frames(CamasTestRawPeer *p, const char *const *payloads)
{
    for (; *payloads; payloads++) {
        g_autoptr(GByteArray) one = frame_text(*payloads);
        camas_test_raw_send(p, one->data, one->len);
    }
}

/* A raw server at @address that @w owns, and a channel to it.  @rs receives the server.
 * Returns: (transfer full) the channel. */
static CamasChannel *
raw_pair(CamasTestWorld *w, const char *address, CamasCodec *codec, CamasTestRawPeer **rs)
{
    *rs = camas_test_world_own(w, camas_test_raw_listen(w, address),
                               (GDestroyNotify)camas_test_raw_peer_free);
    return camas_test_channel_open(w, address, codec, NULL);
}

/* --- tests: the captures ---------------------------------------------------------------------- */

/* C.1: what a client sends, byte for byte, seen by a raw server. */
Test(channel, client_frames_match_captured_json_bytes)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("json");
    CamasTestRawPeer *rs;
    g_autoptr(CamasChannel) ch = raw_pair(w, "local://c1", c, &rs);
    g_autoptr(CamasValue) ohai = camas_value_new_str("ohai");
    g_autoptr(CamasValue) fail = camas_value_build("[s s]", "__fail__", "boom");
    g_autoptr(CamasFuture) f1 = camas_channel_send(ch, ohai);
    g_autoptr(CamasFuture) f2 = camas_channel_send(ch, fail);
    camas_loop_run(w->loop);
    g_autoptr(GByteArray) expect =
        frames_text("[0, 0, \"ohai\"]", "[0, 1, [\"__fail__\", \"boom\"]]", NULL);
    cr_assert_eq(rs->rx->len, expect->len);
    cr_assert_arr_eq(rs->rx->data, expect->data, expect->len);
    cr_assert_arr_eq(rs->rx->data, "\x00\x00\x00\x0e[0, 0, \"ohai\"]", 18);
    cr_assert_arr_eq(rs->rx->data + 18, "\x00\x00\x00\x1c", 4);

    /* the raw server answers out of order, the client matches by id */
    raw_send_frames(rs, (const char *const[]){"[2, 1, \"ValueError: boom\\n\"]",
                                              "[1, 0, [\"reply\", \"ohai\"]]", NULL});
    g_autoptr(CamasValue) v = camas_test_await_ok(w, f1);
    camas_test_assert_value(v, "[s s]", "reply", "ohai");
    g_autoptr(GError) e = camas_test_await_error(w, f2);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_REMOTE));
    cr_assert_str_eq(camas_error_get_remote_text(e), "ValueError: boom\n");
    cr_assert_str_eq(camas_error_get_origin(e), "LocalQueue('c1')");
    cr_assert_str_eq(e->message, "Origin: LocalQueue('c1')\nValueError: boom\n");
}

/* C.1: what a server answers, byte for byte, seen by a raw client. */
Test(channel, server_replies_match_captured_json_bytes)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("json");
    g_autoptr(EchoServer) es = echo_server_new(w->loop, "local://c1s", c, NULL);
    g_autoptr(CamasTestRawPeer) p = camas_test_raw_connect(w, "local://c1s", NULL);
    raw_send_frames(
        p, (const char *const[]){"[0, 0, \"ohai\"]", "[0, 1, [\"__fail__\", \"boom\"]]", NULL});
    camas_loop_run(w->loop);
    assert_rx_text(p->rx,
              "\x00\x00\x00\x19[1, 0, [\"reply\", \"ohai\"]]"
              "\x00\x00\x00\x1c[2, 1, \"ValueError: boom\\n\"]");
}

/* C.4 channel lines: msgpack in both directions. */
Test(channel, msgpack_frames_match_captured_bytes)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("msgpack");
    CamasTestRawPeer *rs;
    g_autoptr(CamasChannel) ch = raw_pair(w, "local://c4", c, &rs);
    g_autoptr(CamasValue) ohai = camas_value_new_str("ohai");
    g_autoptr(CamasValue) fail = camas_value_build("[s s]", "__fail__", "boom");
    g_autoptr(CamasValue) bin = camas_value_build("[y [i f]]", "\x00\x01", (gsize)2, 1, 2.5);
    g_autoptr(CamasFuture) f0 = camas_channel_send(ch, ohai);
    g_autoptr(CamasFuture) f1 = camas_channel_send(ch, fail);
    g_autoptr(CamasFuture) f2 = camas_channel_send(ch, bin);
    camas_loop_run(w->loop);
    GByteArray *rx = rs->rx;
    cr_assert_arr_eq(rx->data, "\x00\x00\x00\x08\x93\x00\x00\xa4ohai", 12);
    /* [0, 2, [b"\x00\x01", [1, 2.5]]] */
    static const guint8 third[] = {0x93, 0x00, 0x02, 0x92, 0xc4, 0x02, 0x00, 0x01, 0x92,
                                   0x01, 0xcb, 0x40, 0x04, 0, 0, 0, 0, 0, 0};
    cr_assert_geq(rx->len, sizeof third);
    cr_assert_arr_eq(rx->data + rx->len - sizeof third, third, sizeof third);

    /* replies as the Python server sent them */
    static const guint8 r0[] = {0, 0, 0, 0x0f, 0x93, 0x01, 0x00, 0x92, 0xa5, 'r', 'e',
                                'p', 'l', 'y', 0xa4, 'o', 'h', 'a', 'i'};
    static const char r1[] = "\x93\x02\x01\xb1ValueError: boom\n";
    camas_test_raw_send(rs, r0, sizeof r0);
    guint32 n = GUINT32_TO_BE((guint32)(sizeof r1 - 1));
    camas_test_raw_send(rs, &n, 4);
    camas_test_raw_send(rs, r1, sizeof r1 - 1);
    g_autoptr(CamasValue) v = camas_test_await_ok(w, f0);
    camas_test_assert_value(v, "[s s]", "reply", "ohai");
    g_autoptr(GError) e = camas_test_await_error(w, f1);
    cr_assert_str_eq(camas_error_get_remote_text(e), "ValueError: boom\n");
    cr_assert_not(camas_future_is_done(f2));
    camas_channel_close(ch);
    cr_assert(camas_future_is_done(f2), "close fails pending requests before it returns");
}

Test(channel, msgpack_server_replies_match_captured_bytes)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("msgpack");
    g_autoptr(EchoServer) es = echo_server_new(w->loop, "local://c4s", c, NULL);
    g_autoptr(CamasTestRawPeer) p = camas_test_raw_connect(w, "local://c4s", NULL);
    camas_test_raw_send(p, "\x00\x00\x00\x08\x93\x00\x00\xa4ohai", 12);
    static const guint8 q[] = {0, 0, 0, 0x12, 0x93, 0x00, 0x01, 0x92, 0xa8, '_', '_', 'f',
                               'a', 'i', 'l', '_', '_', 0xa4, 'b', 'o', 'o', 'm'};
    camas_test_raw_send(p, q, sizeof q);
    camas_loop_run(w->loop);
    assert_rx(p->rx,
              "0000000f 93010092a57265706c79a46f686169"
              "00000015 930201b156616c75654572726f723a20626f6f6d0a",
              TRUE);
}

/* --- tests: behaviour ------------------------------------------------------------------------ */

typedef struct {
    int done;
    gint64 time;
} Seen;

static void
note_done(CamasFuture *f, gpointer data)
{
    Seen *s = data;
    s->done++;
    s->time = camas_loop_now(camas_future_get_loop(f));
}

Test(channel, request_and_reply_complete_inside_one_external_clock_step)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_EXTERNAL);
    g_autoptr(CamasChannel) ch = echo_pair(w, "local://ext", "msgpack", NULL, NULL);
    cr_assert_eq(camas_loop_now(w->loop), 0);
    g_autoptr(CamasValue) ohai = camas_value_new_str("ohai");
    g_autoptr(CamasFuture) f = camas_channel_send(ch, ohai);
    Seen seen = {0};
    camas_future_add_callback(f, note_done, &seen, NULL);
    cr_assert_not(camas_future_is_done(f));
    cr_assert(camas_clock_set_time(w->clock, 1.0, NULL));
    cr_assert(camas_future_is_done(f), "the reply cascade ran inside set_time");
    cr_assert_eq(seen.done, 1, "and so did the future's callback");
    /* the request was due at once, so (as in asyncio) it ran before time moved */
    cr_assert_eq(seen.time, 0);
    cr_assert_eq(camas_loop_get_pending(w->loop), 0);
    g_autoptr(CamasValue) v = camas_test_await_ok(w, f);
    camas_test_assert_value(v, "[s s]", "reply", "ohai");
}

Test(channel, replies_arrive_out_of_order_and_match_their_requests)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasChannel) ch = echo_pair(w, "local://ooo", "json", NULL, NULL);
    CamasFuture *f[3];
    Seen seen[3] = {{0}};
    double sleeps[3] = {0.3, 0.1, 0.2};
    for (int i = 0; i < 3; i++) {
        g_autoptr(CamasValue) req = camas_value_build("[s f i]", "__sleep__", sleeps[i], i);
        f[i] = camas_channel_send(ch, req);
        camas_future_add_callback(f[i], note_done, &seen[i], NULL);
    }
    camas_loop_run(w->loop);
    for (int i = 0; i < 3; i++) {
        g_autoptr(CamasValue) v = camas_test_await_ok(w, f[i]);
        camas_test_assert_value(v, "[s i]", "reply", i);
        cr_assert_eq(seen[i].time, (gint64)(sleeps[i] * 1e9));
        camas_future_unref(f[i]);
    }
}

typedef struct {
    GPtrArray *texts; /* one line per record */
} Tracer;

static void
tracer_func(const CamasTraceRecord *r, gpointer data)
{
    Tracer *t = data;
    g_autofree char *payload =
        r->payload ? g_strndup((const char *)r->payload, r->payload_len) : NULL;
    g_ptr_array_add(t->texts, g_strdup_printf("%s %s>%s id=%" G_GINT64_FORMAT " %s",
                                              camas_trace_kind_name(r->kind), r->src ? r->src : "-",
                                              r->dst ? r->dst : "-", r->msg_id,
                                              payload ? payload : (r->text ? r->text : "")));
}

Test(channel, both_ends_send_requests_with_independent_ids)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    EchoServer *es;
    g_autoptr(CamasChannel) ch = echo_pair(w, "local://both", "json", NULL, &es);
    Tracer t = {.texts = g_ptr_array_new_with_free_func(g_free)};
    camas_loop_set_tracer(w->loop, tracer_func, &t, NULL);

    /* the client answers the server's callback request */
    camas_channel_set_request_func(ch, echo_request, es, NULL);
    g_autoptr(CamasValue) req = camas_value_build("[s s]", "__callback__", "x");
    g_autoptr(CamasFuture) f = camas_channel_send(ch, req);
    g_autoptr(CamasValue) v = camas_test_await_ok(w, f);
    camas_test_assert_value(v, "[s [s [s s]]]", "reply-cb", "reply", "cb", "x");

    const char *expect[] = {
        "send local://both#c0>local://both id=0 [0, 0, [\"__callback__\", \"x\"]]",
        "deliver local://both#s0>local://both id=0 [0, 0, [\"__callback__\", \"x\"]]",
        "send local://both>local://both#s0 id=0 [0, 0, [\"cb\", \"x\"]]",
        "deliver local://both>local://both#c0 id=0 [0, 0, [\"cb\", \"x\"]]",
        "send local://both#c0>local://both id=0 [1, 0, [\"reply\", [\"cb\", \"x\"]]]",
        "reply local://both#s0>local://both id=0 [1, 0, [\"reply\", [\"cb\", \"x\"]]]",
        "send local://both>local://both#s0 id=0 [1, 0, [\"reply-cb\", [\"reply\", [\"cb\", \"x\"]]]]",
        "reply local://both>local://both#c0 id=0 [1, 0, [\"reply-cb\", [\"reply\", [\"cb\", \"x\"]]]]",
    };
    cr_assert_eq(t.texts->len, G_N_ELEMENTS(expect), "got %u records", t.texts->len);
    for (guint i = 0; i < G_N_ELEMENTS(expect); i++)
        cr_assert_str_eq(g_ptr_array_index(t.texts, i), expect[i]);
    camas_loop_set_tracer(w->loop, NULL, NULL, NULL);
    g_ptr_array_unref(t.texts);
}

typedef struct {
    int n;
    GError *error;
} Resets;

static void
on_reset(CamasChannel *channel, const GError *error, gpointer data)
{
    Resets *r = data;
    r->n++;
    g_clear_error(&r->error);
    r->error = g_error_copy(error);
}

Test(channel, closing_the_server_fails_pending_requests_with_connection_closed)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    EchoServer *es;
    g_autoptr(CamasChannel) ch = echo_pair(w, "local://loss", "json", NULL, &es);
    g_autoptr(CamasFuture) f1 = send_held(ch, 1);
    g_autoptr(CamasFuture) f2 = send_held(ch, 1);
    camas_loop_run(w->loop);
    cr_assert_eq(es->held->len, 2);
    cr_assert_eq(camas_channel_get_n_pending(ch), 2);
    Resets r = {0};
    camas_channel_set_closed_func(ch, on_reset, &r, NULL);
    camas_channel_server_close(es->server);
    camas_loop_run(w->loop);
    g_autoptr(GError) e1 = camas_test_await_error(w, f1);
    g_autoptr(GError) e2 = camas_test_await_error(w, f2);
    cr_assert(g_error_matches(e1, CAMAS_ERROR, CAMAS_ERROR_CLOSED));
    cr_assert_str_eq(e1->message, "Connection closed");
    cr_assert(g_error_matches(e2, CAMAS_ERROR, CAMAS_ERROR_CLOSED));
    cr_assert_eq(r.n, 1);
    cr_assert(g_error_matches(r.error, CAMAS_ERROR, CAMAS_ERROR_CLOSED));
    g_clear_error(&r.error);
    cr_assert(camas_channel_is_closed(ch));
    /* a send on a closed channel fails at once */
    g_autoptr(CamasFuture) f3 = send_held(ch, 1);
    cr_assert(camas_future_is_done(f3));
    /* answering the held requests now does nothing */
}

Test(channel, closing_the_client_fails_its_pending_requests_before_returning)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    EchoServer *es;
    g_autoptr(CamasChannel) ch = echo_pair(w, "local://cl", "msgpack", NULL, &es);
    g_autoptr(CamasFuture) f = send_held(ch, 1);
    camas_loop_run(w->loop);
    Resets r = {0};
    camas_channel_set_closed_func(ch, on_reset, &r, NULL);
    camas_channel_close(ch);
    cr_assert(camas_future_is_done(f));
    camas_loop_run(w->loop);
    cr_assert_eq(r.n, 0, "closing yourself is not a reset");
    /* the server saw the end and forgot the connection */
    cr_assert_eq(camas_channel_server_get_n_channels(es->server), 0);
    /* a late reply to the held request goes nowhere */
    camas_request_reply(g_ptr_array_steal_index(es->held, 0), NULL);
    camas_loop_run(w->loop);
}

Test(channel, dropped_request_is_answered_with_a_failure)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    EchoServer *es;
    g_autoptr(CamasChannel) ch = echo_pair(w, "local://drop", "json", NULL, &es);
    g_autoptr(CamasFuture) f = send_held(ch, 1);
    camas_loop_run(w->loop);
    camas_request_free(g_ptr_array_steal_index(es->held, 0));
    g_autoptr(GError) e = camas_test_await_error(w, f);
    cr_assert_str_eq(camas_error_get_remote_text(e),
                     "RuntimeError: request dropped without a reply\n");
}

Test(channel, unencodable_reply_becomes_a_serialization_failure)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    EchoServer *es;
    g_autoptr(CamasChannel) ch = echo_pair(w, "local://ser", "json", NULL, &es);
    g_autoptr(CamasFuture) f = send_held(ch, 1);
    camas_loop_run(w->loop);
    g_autoptr(CamasValue) bytes = camas_value_new_bytes("ab", 2);
    camas_request_reply(g_ptr_array_steal_index(es->held, 0), bytes);
    g_autoptr(GError) e = camas_test_await_error(w, f);
    cr_assert(g_str_has_prefix(camas_error_get_remote_text(e),
                               "aiomas.exceptions.SerializationError: "),
              "%s", camas_error_get_remote_text(e));
    /* the connection goes on */
    assert_echoes(w, ch);
}

Test(channel, unencodable_request_fails_its_future_and_uses_up_its_id)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("json");
    CamasTestRawPeer *rs;
    g_autoptr(CamasChannel) ch = raw_pair(w, "local://enc", c, &rs);
    g_autoptr(CamasValue) bytes = camas_value_new_bytes("ab", 2);
    g_autoptr(CamasFuture) f = camas_channel_send(ch, bytes);
    cr_assert(camas_future_is_done(f));
    g_autoptr(GError) e = camas_test_await_error(w, f);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CODEC), "%s", e->message);
    g_autoptr(CamasValue) ohai = camas_value_new_str("ohai");
    g_autoptr(CamasFuture) f2 = camas_channel_send(ch, ohai);
    camas_loop_run(w->loop);
    assert_rx_text(rs->rx, "\x00\x00\x00\x0e[0, 1, \"ohai\"]");
    cr_assert_not(camas_future_is_done(f2), "request 1 waits for its reply");
}

Test(channel, too_large_messages_fail_the_send_and_the_connection_goes_on)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    CamasChannelOptions opts = {.max_frame_size = 100};
    g_autoptr(CamasChannel) ch = echo_pair(w, "local://big", "msgpack", &opts, NULL);
    g_autoptr(GError) e = send_big_error(w, ch, 200, 'x');
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE), "%s", e->message);
    cr_assert(strstr(e->message, "maximum frame size of 100 bytes"), "%s", e->message);
    assert_echoes(w, ch);
}

Test(channel, requests_wait_in_a_queue_until_a_request_function_is_set)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("json");
    CamasTestRawPeer *rs;
    g_autoptr(CamasChannel) ch = raw_pair(w, "local://q", c, &rs);
    camas_loop_run(w->loop);
    raw_send_frames(rs, (const char *const[]){"[0, 0, \"a\"]", "[0, 1, \"b\"]", NULL});
    camas_loop_run(w->loop);
    cr_assert_eq(rs->rx->len, 0);
    EchoServer es = {.loop = w->loop};
    camas_channel_set_request_func(ch, echo_request, &es, NULL);
    cr_assert_eq(es.n_requests, 0, "queued requests are handed over from an event");
    camas_loop_run(w->loop);
    cr_assert_eq(es.n_requests, 2);
    assert_rx_text(rs->rx, "\x00\x00\x00\x16[1, 0, [\"reply\", \"a\"]]"
                           "\x00\x00\x00\x16[1, 1, [\"reply\", \"b\"]]");
}

Test(channel, frames_split_into_single_bytes_and_coalesced_frames_both_work)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("json");
    g_autoptr(EchoServer) es = echo_server_new(w->loop, "local://split", c, NULL);
    g_autoptr(CamasTestRawPeer) p = camas_test_raw_connect(w, "local://split", NULL);
    g_autoptr(GByteArray) all = frame_text("[0, 0, \"one\"]");
    g_autoptr(GByteArray) two = frame_text("[0, 1, \"two\"]");
    g_autoptr(GByteArray) three = frame_text("[0, 2, \"three\"]");
    for (guint i = 0; i < all->len; i++)
        camas_test_raw_send(p, all->data + i, 1);
    /* two and the first half of three in one write, the rest in another */
    g_autoptr(GByteArray) chunk = g_byte_array_new();
    g_byte_array_append(chunk, two->data, two->len);
    g_byte_array_append(chunk, three->data, 7);
    camas_test_raw_send(p, chunk->data, chunk->len);
    camas_test_raw_send(p, three->data + 7, three->len - 7);
    camas_loop_run(w->loop);
    assert_rx_text(p->rx,
                   "\x00\x00\x00\x18[1, 0, [\"reply\", \"one\"]]"
                   "\x00\x00\x00\x18[1, 1, [\"reply\", \"two\"]]"
                   "\x00\x00\x00\x1a[1, 2, [\"reply\", \"three\"]]");
}

/* --- bad input --------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *codec; /* NULL: raw bytes with their own header, on JSON */
    const guint8 *bytes;
    gsize len;
    const char *expect; /* part of the logged error */
} BadInput;

static void
check_bad_input(const BadInput *bad)
{
    capture_warnings();
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec(bad->codec ? bad->codec : "json");
    g_autoptr(EchoServer) es = echo_server_new(w->loop, "local://bad", c, NULL);
    g_autoptr(CamasChannel) good = camas_test_channel_open(w, "local://bad", c, NULL);
    g_autoptr(CamasFuture) held = send_held(good, 1);
    g_autoptr(CamasTestRawPeer) p = camas_test_raw_connect(w, "local://bad", NULL);
    camas_loop_run(w->loop);
    cr_assert_eq(camas_channel_server_get_n_channels(es->server), 2);
    guint before = warnings->len;
    if (bad->codec) {
        guint32 n = GUINT32_TO_BE((guint32)bad->len);
        camas_test_raw_send(p, &n, 4);
    }
    camas_test_raw_send(p, bad->bytes, bad->len);
    camas_loop_run(w->loop);
    cr_assert(p->closed, "%s: the server closed the bad connection", bad->name);
    cr_assert_eq(warnings->len, before + 1, "%s: one warning", bad->name);
    const char *warning = g_ptr_array_index(warnings, before);
    cr_assert(strstr(warning, "LocalQueue('bad')"), "%s: names the peer: %s", bad->name, warning);
    cr_assert(strstr(warning, bad->expect), "%s: says what was wrong: %s", bad->name, warning);
    /* the other connection is served as before */
    cr_assert_eq(camas_channel_server_get_n_channels(es->server), 1);
    cr_assert_not(camas_future_is_done(held));
    assert_echoes(w, good);
}

#define BYTES(s) (const guint8 *)(s), sizeof(s) - 1

Test(channel, bad_input_closes_only_that_connection)
{
    /* payloads get their header computed; RAW entries are sent exactly as written */
    static const BadInput cases[] = {
        {"bad json", "json", BYTES("[0, 0"), "JSON"},
        {"bad msgpack", "msgpack", BYTES("\xc1\x00"), "byte"},
        {"bad blosc", "msgpack-blosc", BYTES("\x02\x01\x13\x08"), "blosc"},
        {"zero length", NULL, BYTES("\x00\x00\x00\x00"), "zero-length frame"},
        {"4 GB header", NULL, BYTES("\xff\xff\xff\xff[0, 0, 1]"), "announces 4294967295"},
        {"not a triple", "json", BYTES("[0, 0]"), "triple"},
        {"not an array", "json", BYTES("{}"), "triple"},
        {"message type 7", "json", BYTES("[7, 0, 1]"), "invalid message type 7"},
        {"reply to unknown id", "json", BYTES("[1, 99, 1]"),
         "message id 99, which has no pending request"},
        {"failure for unknown id", "json", BYTES("[2, 0, \"x\"]"),
         "which has no pending request"},
        {"reply with a string id", "json", BYTES("[1, \"a\", 1]"), "invalid message id 'a'"},
        {"invalid utf-8 json", "json", BYTES("[0, 0, \"\xff\xfe\"]"), "UTF-8"},
        {"invalid utf-8 msgpack", "msgpack", BYTES("\x93\x00\x00\xa1\xff"), "UTF-8"},
        {"unknown __type__ id", "json", BYTES("[0, 0, {\"__type__\": [5, 1]}]"), "__type__"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
        check_bad_input(&cases[i]);
}

Test(channel, a_stalled_half_frame_delays_nobody)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("json");
    g_autoptr(EchoServer) es = echo_server_new(w->loop, "local://stall", c, NULL);
    g_autoptr(CamasTestRawPeer) p = camas_test_raw_connect(w, "local://stall", NULL);
    camas_test_raw_send(p, "\x00\x00\x00\x20[0, 0, \"sta", 15);
    g_autoptr(CamasChannel) ch = camas_test_channel_open(w, "local://stall", c, NULL);
    assert_echoes(w, ch);
    cr_assert_eq(p->rx->len, 0);
    cr_assert_not(p->closed);
}

Test(channel, a_server_with_a_frame_limit_closes_connections_that_announce_more)
{
    capture_warnings();
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("json");
    CamasChannelOptions opts = {.max_frame_size = 64};
    g_autoptr(EchoServer) es = echo_server_new(w->loop, "local://lim", c, &opts);
    g_autoptr(CamasChannel) ch = camas_test_channel_open(w, "local://lim", c, NULL);
    g_autoptr(GError) e = send_big_error(w, ch, 100, 'y');
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED), "%s", e->message);
    cr_assert(camas_channel_is_closed(ch));
    cr_assert(strstr(g_ptr_array_index(warnings, warnings->len - 1), "more than the maximum of 64"));
}

/* --- opening ------------------------------------------------------------------------------- */

typedef struct {
    CamasLoop *loop;
    CamasCodec *codec;
    EchoServer *es;
} LateServer;

static void
start_late_server(CamasLoop *loop, gpointer data)
{
    LateServer *ls = data;
    ls->es = echo_server_new(loop, "local://late", ls->codec, NULL);
}

Test(channel, open_retries_until_the_server_appears)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("json");
    LateServer ls = {w->loop, c, NULL};
    camas_loop_call_at(w->loop, 120 * MS, start_late_server, &ls);
    CamasChannelOptions opts = {.connect_deadline = 1000 * MS};
    g_autoptr(CamasChannel) ch = camas_test_channel_open(w, "local://late", c, &opts);
    cr_assert_eq(camas_loop_now(w->loop), 150 * MS, "attempts every 50 ms: connected at 150 ms");
    assert_echoes(w, ch);
    g_clear_pointer(&ch, camas_channel_unref);
    echo_server_free(ls.es);
}

Test(channel, open_gives_up_at_the_deadline)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("json");
    CamasChannelOptions opts = {.connect_deadline = 120 * MS};
    g_autoptr(CamasFuture) f = camas_channel_open(w->loop, "local://nobody", c, &opts, NULL);
    g_autoptr(GError) e = camas_test_await_error(w, f);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED), "%s", e->message);
    cr_assert_eq(camas_loop_now(w->loop), 120 * MS, "the last attempt is at the deadline");
    cr_assert(strstr(e->message, "(4 attempts)"), "%s", e->message);

    g_autoptr(CamasFuture) once = camas_channel_open(w->loop, "local://nobody", c, NULL, NULL);
    g_autoptr(GError) e2 = camas_test_await_error(w, once);
    cr_assert(g_error_matches(e2, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED));
    cr_assert_eq(camas_loop_now(w->loop), 120 * MS, "a single attempt takes no time");
}

Test(channel, cancelling_an_open_stops_retrying)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("json");
    CamasChannelOptions opts = {.connect_deadline = 10000 * MS};
    g_autoptr(CamasFuture) f = camas_channel_open(w->loop, "local://never", c, &opts, NULL);
    camas_loop_run_until(w->loop, 75 * MS);
    cr_assert(camas_future_cancel(f));
    camas_loop_run(w->loop);
    cr_assert_eq(camas_loop_now(w->loop), 75 * MS, "no retry timer is left");
    g_autoptr(CamasFuture) g = camas_channel_open(w->loop, "local://never", c, &opts, NULL);
    cr_assert(camas_future_cancel(g), "cancel while the first dial is pending");
    camas_loop_run(w->loop);
}

Test(channel, a_bad_address_fails_at_once)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("json");
    g_autoptr(GError) error = NULL;
    cr_assert_null(camas_channel_open(w->loop, "bogus://x", c, NULL, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    g_clear_error(&error);
    cr_assert_null(
        camas_channel_server_new(w->loop, "local://a/b", c, NULL, NULL, NULL, NULL, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    g_autoptr(EchoServer) es = echo_server_new(w->loop, "local://dup", c, NULL);
    g_clear_error(&error);
    cr_assert_null(
        camas_channel_server_new(w->loop, "local://dup", c, NULL, NULL, NULL, NULL, &error));
    cr_assert_not_null(error);
    cr_assert_str_eq(camas_channel_server_get_address(es->server), "local://dup");
}

/* --- many requests ------------------------------------------------------------------------- */

typedef struct {
    guint ok;
    guint bad;
} Tally;

static void
tally(CamasFuture *f, gpointer data)
{
    Tally *t = data;
    CamasValue *r = camas_future_get_result(f);
    if (r && camas_value_is_sequence(r))
        t->ok++;
    else
        t->bad++;
}

Test(channel, hundred_thousand_outstanding_requests_on_one_connection)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasChannel) ch = echo_pair(w, "local://many", "msgpack", NULL, NULL);
    enum { N = 100000 };
    CamasFuture **f = g_new(CamasFuture *, N);
    Tally t = {0};
    for (int i = 0; i < N; i++) {
        g_autoptr(CamasValue) v = camas_value_new_int(i);
        f[i] = camas_channel_send(ch, v);
        camas_future_add_callback(f[i], tally, &t, NULL);
    }
    cr_assert_eq(camas_channel_get_n_pending(ch), N);
    camas_loop_run(w->loop);
    cr_assert_eq(t.ok, N);
    cr_assert_eq(t.bad, 0);
    for (int i = 0; i < N; i++) {
        CamasValue *r = camas_future_get_result(f[i]);
        cr_assert_eq(camas_value_get_int(camas_value_get_item(r, 1)), i);
        camas_future_unref(f[i]);
    }
    g_free(f);
    cr_assert_eq(camas_channel_get_n_pending(ch), 0);
}

Test(channel, a_cancelled_request_drops_its_late_reply_quietly)
{
    capture_warnings();
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    EchoServer *es;
    g_autoptr(CamasChannel) ch = echo_pair(w, "local://cancel", "json", NULL, &es);
    CamasFuture *f[3];
    for (int i = 0; i < 3; i++)
        f[i] = send_held(ch, i);
    camas_loop_run(w->loop);
    cr_assert(camas_future_cancel(f[1]));
    guint before = warnings->len;
    for (int i = 2; i >= 0; i--)
        camas_request_reply_take(g_ptr_array_steal_index(es->held, (guint)i),
                                 camas_value_new_int(i));
    camas_loop_run(w->loop);
    cr_assert_eq(warnings->len, before, "no protocol error");
    cr_assert_not(camas_channel_is_closed(ch));
    cr_assert(camas_future_is_cancelled(f[1]));
    cr_assert_eq(camas_value_get_int(camas_future_get_result(f[0])), 0);
    cr_assert_eq(camas_value_get_int(camas_future_get_result(f[2])), 2);
    cr_assert_eq(camas_channel_get_n_pending(ch), 0);
    for (int i = 0; i < 3; i++)
        camas_future_unref(f[i]);
}

Test(channel, replies_in_shuffled_order_all_find_their_requests)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    EchoServer *es;
    g_autoptr(CamasChannel) ch = echo_pair(w, "local://shuffle", "msgpack", NULL, &es);
    enum { N = 5000 };
    CamasFuture **f = g_new(CamasFuture *, N);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++)
            f[i] = send_held(ch, i);
        camas_loop_run(w->loop);
        cr_assert_eq(es->held->len, N);
        /* answer in a fixed pseudo-random order (a full-period LCG permutation) */
        guint32 x = 12345 + (guint32)round;
        for (int k = 0; k < N; k++) {
            x = (x * 1103515245u + 12345u) % 8192u;
            while (x >= N)
                x = (x * 1103515245u + 12345u) % 8192u;
            CamasRequest *req = g_ptr_array_index(es->held, x);
            if (!req) {
                k--;
                continue;
            }
            g_ptr_array_index(es->held, x) = NULL;
            camas_request_reply_take(req, camas_value_new_int((gint64)x));
        }
        g_ptr_array_set_size(es->held, 0);
        camas_loop_run(w->loop);
        for (int i = 0; i < N; i++) {
            CamasValue *r = camas_future_get_result(f[i]);
            cr_assert_not_null(r, "request %d of round %d", i, round);
            cr_assert_eq(camas_value_get_int(r), i);
            camas_future_unref(f[i]);
        }
        cr_assert_eq(camas_channel_get_n_pending(ch), 0);
    }
    g_free(f);
}

Test(channel, replies_echo_any_request_id_value_as_python_does)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("json");
    g_autoptr(EchoServer) es = echo_server_new(w->loop, "local://ids", c, NULL);
    g_autoptr(CamasTestRawPeer) p = camas_test_raw_connect(w, "local://ids", NULL);
    raw_send_frames(p, (const char *const[]){"[0, 1.5, \"x\"]", "[0, \"abc\", \"y\"]",
                                             "[0, 18446744073709551615, \"z\"]", NULL});
    camas_loop_run(w->loop);
    g_autoptr(GByteArray) expect =
        frames_text("[1, 1.5, [\"reply\", \"x\"]]", "[1, \"abc\", [\"reply\", \"y\"]]",
                    "[1, 18446744073709551615, [\"reply\", \"z\"]]", NULL);
    assert_rx_len(p->rx, (const char *)expect->data, expect->len);
}

static void
record_order(CamasFuture *future, gpointer data)
{
    GArray *order = data;
    g_array_append_val(order, future);
}

Test(channel, a_request_held_while_thousands_of_others_complete_still_gets_its_reply)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    EchoServer *es;
    g_autoptr(CamasChannel) ch = echo_pair(w, "local://straggler", "msgpack", NULL, &es);
    CamasFuture *held[3];
    for (int i = 0; i < 3; i++)
        held[i] = send_held(ch, i);
    /* many quick calls, a few in flight at a time: the window of ids moves far past the held
     * ones */
    for (int i = 0; i < 3000; i += 4) {
        CamasFuture *f[4];
        for (int k = 0; k < 4; k++) {
            g_autoptr(CamasValue) v = camas_value_new_int(i + k);
            f[k] = camas_channel_send(ch, v);
        }
        for (int k = 0; k < 4; k++) {
            g_autoptr(CamasValue) r = camas_test_await_ok(w, f[k]);
            cr_assert_eq(camas_value_get_int(camas_value_get_item(r, 1)), i + k);
            camas_future_unref(f[k]);
        }
        cr_assert_eq(camas_channel_get_n_pending(ch), 3);
    }
    cr_assert_eq(es->held->len, 3);
    /* answered out of order, and a new call in between */
    camas_request_reply_take(g_ptr_array_index(es->held, 1), camas_value_new_int(11));
    g_autoptr(CamasValue) v = camas_value_new_str("late");
    g_autoptr(CamasFuture) extra = camas_channel_send(ch, v);
    camas_request_reply_take(g_ptr_array_index(es->held, 0), camas_value_new_int(10));
    camas_request_reply_take(g_ptr_array_index(es->held, 2), camas_value_new_int(12));
    g_ptr_array_set_size(es->held, 0);
    for (int i = 0; i < 3; i++) {
        g_autoptr(CamasValue) r = camas_test_await_ok(w, held[i]);
        cr_assert_eq(camas_value_get_int(r), 10 + i);
        camas_future_unref(held[i]);
    }
    g_autoptr(CamasValue) r = camas_test_await_ok(w, extra);
    camas_test_assert_value(r, "[s s]", "reply", "late");
    cr_assert_eq(camas_channel_get_n_pending(ch), 0);
}

Test(channel, closing_fails_old_and_recent_requests_in_id_order)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasChannel) ch = echo_pair(w, "local://order", "json", NULL, NULL);
    CamasFuture *held[4];
    g_autoptr(GArray) order = g_array_new(FALSE, FALSE, sizeof(CamasFuture *));
    for (int i = 0; i < 4; i++) {
        if (i == 2) { /* ids 0 and 1 become stragglers, 2002 and 2003 stay recent */
            for (int k = 0; k < 2000; k++) {
                g_autoptr(CamasValue) v = camas_value_new_int(k);
                g_autoptr(CamasFuture) f = camas_channel_send(ch, v);
                g_autoptr(CamasValue) r = camas_test_await_ok(w, f);
                cr_assert_eq(camas_value_get_int(camas_value_get_item(r, 1)), k);
            }
        }
        held[i] = send_held(ch, i);
        camas_future_add_callback(held[i], record_order, order, NULL);
    }
    camas_loop_run(w->loop);
    cr_assert_eq(camas_channel_get_n_pending(ch), 4);
    camas_channel_close(ch);
    cr_assert_eq(camas_channel_get_n_pending(ch), 0);
    camas_loop_run(w->loop);
    cr_assert_eq(order->len, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(g_array_index(order, CamasFuture *, i), held[i], "failure %d", i);
        g_autoptr(GError) error = camas_test_await_error(w, held[i]);
        cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED));
        camas_future_unref(held[i]);
    }
}
