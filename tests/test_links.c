/* SPDX-License-Identifier: MIT */
/*
 * Link latencies: the LocalQueue link model (camas/localqueue.h) on raw pipes — delays, order
 * within a direction, the end of stream, which ends name a link, lifetimes, and no change at
 * all without a model — and the scenario files' `links` (docs/scenarios.md, "Links"): exact
 * shifts, FIFO under random latencies, seeds, independent streams, rule precedence, the
 * distributions, and bad input named by JSON path.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include <glib/gstdio.h>
#include <jansson.h>

#include <camas/camas.h>

#include "leakcheck.h"
#include "scenario-private.h"
#include "transport-private.h"

TestSuite(links, .fini = camas_test_check_leaks, .timeout = 120);

#define MS (G_GINT64_CONSTANT(1000000))

/* --- raw LocalQueue ends ------------------------------------------------------------------- */

typedef struct {
    CamasLoop *loop;
    CamasPipe *pipe;
    GString *rx;      /* every byte received, in order */
    GArray *at;       /* gint64: the time each byte of rx arrived */
    GArray *seqs;     /* guint64: the loop's event number of each delivery */
    gint64 closed_at; /* -1 until the peer's end of stream arrived */
} End;

typedef struct {
    CamasLoop *loop;
    CamasListener *listener;
    End server, client;
} Conn;

static void
end_received(CamasPipe *pipe, const guint8 *data, gsize len, gpointer user_data)
{
    End *e = user_data;
    gint64 now = camas_loop_now(e->loop);
    for (gsize i = 0; i < len; i++) {
        g_string_append_c(e->rx, (char)data[i]);
        g_array_append_val(e->at, now);
    }
    guint64 seq = camas_loop_get_current_seq(e->loop);
    g_array_append_val(e->seqs, seq);
}

static void
end_closed(CamasPipe *pipe, const GError *error, gpointer user_data)
{
    End *e = user_data;
    e->closed_at = camas_loop_now(e->loop);
}

static const CamasPipeCallbacks end_callbacks = {.received = end_received, .closed = end_closed};

static void
end_init(End *e, CamasLoop *loop)
{
    e->loop = loop;
    e->rx = g_string_new(NULL);
    e->at = g_array_new(FALSE, FALSE, sizeof(gint64));
    e->seqs = g_array_new(FALSE, FALSE, sizeof(guint64));
    e->closed_at = -1;
}

static void
end_clear(End *e)
{
    if (e->pipe)
        camas__pipe_close(e->pipe);
    e->pipe = NULL;
    g_string_free(e->rx, TRUE);
    g_array_unref(e->at);
    g_array_unref(e->seqs);
}

static void
on_accept(CamasListener *listener, CamasPipe *pipe, gpointer data)
{
    End *e = data;
    e->pipe = pipe;
    camas__pipe_start(pipe, &end_callbacks, e);
}

static void
on_dial(CamasPipe *pipe, const GError *error, gpointer data)
{
    cr_assert_null(error, "dial failed: %s", error ? error->message : "");
    End *e = data;
    e->pipe = pipe;
    camas__pipe_start(pipe, &end_callbacks, e);
}

/* Listens on local://@queue and connects to it, naming the dialing end @local_address. */
static void
conn_open(Conn *c, CamasLoop *loop, const char *queue, const char *local_address)
{
    c->loop = loop;
    end_init(&c->server, loop);
    end_init(&c->client, loop);
    g_autofree char *text = g_strdup_printf("local://%s", queue);
    g_autoptr(CamasAddress) address = camas_address_parse(text, NULL);
    g_autoptr(GError) error = NULL;
    c->listener = camas__transport_listen(loop, address, NULL, on_accept, &c->server, &error);
    cr_assert_not_null(c->listener, "%s", error ? error->message : "");
    CamasTransportOptions options = {.local_address = local_address};
    camas__transport_dial(loop, address, &options, on_dial, &c->client);
    camas_loop_run_due(loop);
    cr_assert(c->server.pipe && c->client.pipe, "not connected");
}

static void
conn_close(Conn *c)
{
    end_clear(&c->client);
    end_clear(&c->server);
    camas__listener_close(c->listener);
}

static void
send_text(CamasPipe *pipe, const char *text)
{
    g_autoptr(GBytes) b = g_bytes_new(text, strlen(text));
    g_autoptr(GError) error = NULL;
    cr_assert(camas__pipe_send(pipe, b, &error), "%s", error ? error->message : "");
}

/* --- a scripted model ---------------------------------------------------------------------- */

typedef struct {
    GPtrArray *asked;     /* "from->to" of every link() call, in order */
    const gint64 *script; /* the delays handed out in turn (cycled) */
    guint n_script;
    guint next;
    guint delays_asked;
    const char *no_link_from; /* link() returns NULL for frames from this id */
    gboolean no_links;        /* link() always returns NULL */
    int destroyed;
} Script;

static gpointer
script_link(const char *from, const char *to, gpointer user_data)
{
    Script *s = user_data;
    g_ptr_array_add(s->asked,
                    g_strdup_printf("%s->%s", from ? from : "(none)", to ? to : "(none)"));
    if (s->no_links || (s->no_link_from && g_strcmp0(from, s->no_link_from) == 0))
        return NULL;
    return s;
}

static gint64
script_delay(gpointer link, gpointer user_data)
{
    Script *s = user_data;
    cr_assert_eq(link, s, "delay() got another link than link() returned");
    s->delays_asked++;
    return s->n_script ? s->script[s->next++ % s->n_script] : 0;
}

static void
script_destroy(gpointer data)
{
    ((Script *)data)->destroyed++;
}

static const CamasLinkModelFuncs script_funcs = {.link = script_link, .delay = script_delay};

static void
script_init(Script *s, const gint64 *script, guint n)
{
    memset(s, 0, sizeof *s);
    s->asked = g_ptr_array_new_with_free_func(g_free);
    s->script = script;
    s->n_script = n;
}

static void
assert_times(const End *e, const char *text, const gint64 *times)
{
    cr_assert_str_eq(e->rx->str, text);
    for (gsize i = 0; i < e->at->len; i++)
        cr_assert_eq(g_array_index(e->at, gint64, i), times[i],
                     "byte %zu ('%c') arrived at %" G_GINT64_FORMAT " ns, expected %"
                     G_GINT64_FORMAT,
                     i, text[i], g_array_index(e->at, gint64, i), times[i]);
}

/* --- the LocalQueue link model ------------------------------------------------------------- */

Test(links, frames_arrive_after_their_delay_and_never_overtake)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    static const gint64 script[] = {10 * MS, 3 * MS, 0, 20 * MS, -5 * MS};
    Script s;
    script_init(&s, script, G_N_ELEMENTS(script));
    camas_localqueue_set_link_model(loop, &script_funcs, &s, script_destroy);
    Conn c;
    conn_open(&c, loop, "srv", "local://me");
    const char *letters[] = {"A", "B", "C", "D", "E"};
    for (int i = 0; i < 5; i++)
        send_text(c.client.pipe, letters[i]);
    camas_loop_run(loop);
    /* A is due at 10; B (3) and C (0) may not overtake it; D at 20; E (negative: 0) waits. */
    static const gint64 want[] = {10 * MS, 10 * MS, 10 * MS, 20 * MS, 20 * MS};
    assert_times(&c.server, "ABCDE", want);
    cr_assert_eq(s.delays_asked, 5);
    /* Later sends count from their own time: F draws 10 ms at 20 ms. */
    send_text(c.client.pipe, "F");
    camas_loop_run(loop);
    cr_assert_eq(g_array_index(c.server.at, gint64, 5), 30 * MS);
    conn_close(&c);
    camas_localqueue_set_link_model(loop, NULL, NULL, NULL);
    cr_assert_eq(s.destroyed, 1);
    g_ptr_array_unref(s.asked);
}

Test(links, both_directions_ask_with_the_dialers_address_and_the_servers_queue_id)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    static const struct {
        const char *local_address;
        const char *asked0, *asked1;
    } cases[] = {
        {"local://me", "me->srv", "srv->me"},
        {NULL, "(none)->srv", "srv->(none)"},
        {"tcp://127.0.0.1:5555", "(none)->srv", "srv->(none)"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        Script s;
        script_init(&s, NULL, 0);
        camas_localqueue_set_link_model(loop, &script_funcs, &s, script_destroy);
        Conn c;
        conn_open(&c, loop, "srv", cases[i].local_address);
        cr_assert_eq(s.asked->len, 2);
        cr_assert_str_eq(g_ptr_array_index(s.asked, 0), cases[i].asked0);
        cr_assert_str_eq(g_ptr_array_index(s.asked, 1), cases[i].asked1);
        conn_close(&c);
        camas_localqueue_set_link_model(loop, NULL, NULL, NULL);
        cr_assert_eq(s.destroyed, 1);
        g_ptr_array_unref(s.asked);
    }
}

Test(links, a_direction_without_a_link_delivers_at_once_and_asks_for_no_delay)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    static const gint64 script[] = {7 * MS};
    Script s;
    script_init(&s, script, 1);
    s.no_link_from = "srv";
    camas_localqueue_set_link_model(loop, &script_funcs, &s, script_destroy);
    Conn c;
    conn_open(&c, loop, "srv", "local://me");
    send_text(c.client.pipe, "up");
    send_text(c.server.pipe, "down");
    camas_loop_run(loop);
    static const gint64 up[] = {7 * MS, 7 * MS};
    static const gint64 down[] = {0, 0, 0, 0};
    assert_times(&c.server, "up", up);
    assert_times(&c.client, "down", down);
    cr_assert_eq(s.delays_asked, 1, "only the linked direction draws");
    conn_close(&c);
    camas_localqueue_set_link_model(loop, NULL, NULL, NULL);
    g_ptr_array_unref(s.asked);
}

Test(links, the_end_of_stream_arrives_after_the_delayed_data)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    static const gint64 script[] = {10 * MS, 0};
    Script s;
    script_init(&s, script, 2);
    camas_localqueue_set_link_model(loop, &script_funcs, &s, script_destroy);
    Conn c;
    conn_open(&c, loop, "srv", "local://me");
    send_text(c.client.pipe, "A");
    camas__pipe_close(c.client.pipe);
    c.client.pipe = NULL;
    camas_loop_run(loop);
    static const gint64 want[] = {10 * MS};
    assert_times(&c.server, "A", want);
    cr_assert_eq(c.server.closed_at, 10 * MS, "the end took no delay of its own but kept order");
    cr_assert_eq(s.delays_asked, 2, "the end of stream draws a delay too");
    conn_close(&c);
    camas_localqueue_set_link_model(loop, NULL, NULL, NULL);
    g_ptr_array_unref(s.asked);
}

/* Runs a fixed exchange and returns "<time>@<event>" of every delivery, both ways. */
static char *
exchange_signature(const Script *model)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    if (model)
        camas_localqueue_set_link_model(loop, &script_funcs, (gpointer)model, NULL);
    Conn c;
    conn_open(&c, loop, "srv", "local://me");
    send_text(c.client.pipe, "ab");
    send_text(c.server.pipe, "xy");
    send_text(c.client.pipe, "c");
    gsize events = camas_loop_run(loop);
    g_autoptr(GString) sig = g_string_new(NULL);
    for (int k = 0; k < 2; k++) {
        End *e = k ? &c.client : &c.server;
        for (guint i = 0; i < e->seqs->len; i++)
            g_string_append_printf(sig, "%s@%" G_GUINT64_FORMAT " ", e->rx->str,
                                   g_array_index(e->seqs, guint64, i));
        for (guint i = 0; i < e->at->len; i++)
            g_string_append_printf(sig, "%" G_GINT64_FORMAT " ", g_array_index(e->at, gint64, i));
    }
    g_string_append_printf(sig, "events=%zu", events);
    conn_close(&c);
    if (model)
        camas_localqueue_set_link_model(loop, NULL, NULL, NULL);
    return g_string_free(g_steal_pointer(&sig), FALSE);
}

Test(links, links_that_are_null_schedule_exactly_as_without_a_model)
{
    Script s;
    script_init(&s, NULL, 0);
    s.no_links = TRUE;
    g_autofree char *without = exchange_signature(NULL);
    g_autofree char *with_null = exchange_signature(&s);
    cr_assert_str_eq(with_null, without);
    cr_assert_eq(s.asked->len, 2, "the model was asked");
    /* ... and a link with zero delays changes no time or order either (one direction's queue
     * stays FIFO either way), though it is a different scheduling call. */
    Script z;
    script_init(&z, NULL, 0);
    g_autofree char *with_zero = exchange_signature(&z);
    cr_assert_str_eq(with_zero, without);
    cr_assert_eq(z.delays_asked, 4, "three sends and the end of stream");
    g_ptr_array_unref(s.asked);
    g_ptr_array_unref(z.asked);
}

Test(links, a_model_applies_to_later_connections_and_lives_until_its_last_one_closes)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    static const gint64 script_a[] = {5 * MS};
    static const gint64 script_b[] = {9 * MS};
    Conn before;
    conn_open(&before, loop, "q0", "local://me");
    Script a, b;
    script_init(&a, script_a, 1);
    script_init(&b, script_b, 1);
    camas_localqueue_set_link_model(loop, &script_funcs, &a, script_destroy);
    Conn ca;
    conn_open(&ca, loop, "q1", "local://me");
    camas_localqueue_set_link_model(loop, &script_funcs, &b, script_destroy);
    cr_assert_eq(a.destroyed, 0, "a connection still uses the first model");
    Conn cb;
    conn_open(&cb, loop, "q2", "local://me");
    send_text(before.client.pipe, "0");
    send_text(ca.client.pipe, "1");
    send_text(cb.client.pipe, "2");
    camas_loop_run(loop);
    cr_assert_eq(g_array_index(before.server.at, gint64, 0), 0, "made before any model");
    cr_assert_eq(g_array_index(ca.server.at, gint64, 0), 5 * MS);
    cr_assert_eq(g_array_index(cb.server.at, gint64, 0), 9 * MS);
    cr_assert_eq(a.asked->len, 2);
    cr_assert_eq(b.asked->len, 2);
    conn_close(&ca);
    cr_assert_eq(a.destroyed, 1, "destroyed once its last connection closed");
    camas_localqueue_set_link_model(loop, NULL, NULL, NULL);
    cr_assert_eq(b.destroyed, 0, "still used by an open connection");
    conn_close(&cb);
    cr_assert_eq(b.destroyed, 1);
    conn_close(&before);
    g_ptr_array_unref(a.asked);
    g_ptr_array_unref(b.asked);
}

/* --- scenario files: helpers --------------------------------------------------------------- */

static void
collect(const char *line, gsize len, gpointer data)
{
    g_string_append_len(data, line, (gssize)len);
}

static CamasScenario *
load_text(const char *json, GError **error)
{
    return camas_scenario_load_data(json, strlen(json), "t.json", error);
}

/* Runs @json (with @seed) and returns its trace. */
static char *
run_trace(const char *json, guint64 seed, char fingerprint[65])
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasScenario) s = load_text(json, &error);
    cr_assert(s, "%s", error ? error->message : "");
    g_autoptr(GString) trace = g_string_new(NULL);
    CamasScenarioRunOptions o = {
        .override_seed = TRUE, .seed = seed, .trace_func = collect, .trace_data = trace};
    g_autoptr(CamasScenarioResult) r = camas_scenario_run(s, &o, &error);
    cr_assert(r, "%s", error ? error->message : "");
    if (fingerprint)
        memcpy(fingerprint, camas_scenario_result_get_stats(r)->fingerprint, 65);
    return g_string_free(g_steal_pointer(&trace), FALSE);
}

/* The records of a trace, parsed (a JSON array, owned). */
static json_t *
records_of(const char *trace)
{
    json_t *all = json_array();
    g_auto(GStrv) lines = g_strsplit(trace, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (!**l)
            continue;
        json_error_t e;
        json_t *r = json_loads(*l, 0, &e);
        cr_assert(r, "bad trace line %s: %s", *l, e.text);
        json_array_append_new(all, r);
    }
    return all;
}

static const char *
field(json_t *r, const char *key)
{
    json_t *v = json_object_get(r, key);
    return v && json_is_string(v) ? json_string_value(v) : "";
}

/* A record's time in ticks (exact: the trace prints nine decimals). */
static gint64
ticks_of(json_t *r)
{
    gint64 t;
    cr_assert(camas_time_from_seconds(json_real_value(json_object_get(r, "time")), &t, NULL));
    return t;
}

static gboolean
is_delivery(json_t *r)
{
    const char *k = field(r, "kind");
    return strcmp(k, "deliver") == 0 || strcmp(k, "reply") == 0;
}

/* The PingPong world of these tests: @n pingers in container a, their pongers in b. */
static char *
pingpong(guint n, guint rounds, const char *interval, const char *links)
{
    return g_strdup_printf(
        "{\"seed\": 1, \"codec\": \"msgpack\", \"containers\": [\"a\", \"b\"], %s%s%s"
        "\"agents\": [{\"name\": \"pinger\", \"type\": \"PingPong\", \"container\": \"a\", "
        "\"count\": %u, \"params\": {\"peer\": \"@ponger\", \"rounds\": %u, \"interval\": %s}},"
        "{\"name\": \"ponger\", \"type\": \"PingPong\", \"container\": \"b\", \"count\": %u}]}",
        links ? "\"links\": " : "", links ? links : "", links ? ", " : "", n, rounds, interval,
        n);
}

/* --- scenario files ------------------------------------------------------------------------ */

Test(links, a_constant_latency_delays_every_message_by_exactly_that_time)
{
    g_autofree char *plain = pingpong(3, 3, "0.25", NULL);
    g_autofree char *linked =
        pingpong(3, 3, "0.25", "[{\"from\": \"a\", \"to\": \"b\", \"latency\": 0.005}]");
    g_autofree char *t0 = run_trace(plain, 1, NULL);
    g_autofree char *t1 = run_trace(linked, 1, NULL);
    json_t *r0 = records_of(t0), *r1 = records_of(t1);
    /* Every delivery comes exactly 5 ms after its send (matched by payload digest, which
     * includes the message id); without links, at the same time. */
    for (int k = 0; k < 2; k++) {
        json_t *recs = k ? r1 : r0;
        g_autoptr(GHashTable) sent = g_hash_table_new(g_str_hash, g_str_equal);
        guint matched = 0;
        for (gsize i = 0; i < json_array_size(recs); i++) {
            json_t *r = json_array_get(recs, i);
            const char *digest = field(r, "digest");
            if (strcmp(field(r, "kind"), "send") == 0) {
                g_hash_table_insert(sent, (gpointer)digest, r);
            } else if (is_delivery(r)) {
                json_t *s = g_hash_table_lookup(sent, digest);
                cr_assert(s, "a delivery without its send: %s", digest);
                cr_assert_eq(ticks_of(r) - ticks_of(s), k ? 5 * MS : 0, "record %" JSON_INTEGER_FORMAT,
                             json_integer_value(json_object_get(r, "seq")));
                matched++;
            }
        }
        cr_assert_eq(matched, 3 * 2 * (3 + 1), "validate_aid and three pings each, both ways");
    }
    /* A constant latency on every message only shifts times: the records are the same, in the
     * same order, apart from their times. */
    cr_assert_eq(json_array_size(r0), json_array_size(r1));
    for (gsize i = 0; i < json_array_size(r0); i++) {
        json_t *a = json_array_get(r0, i), *b = json_array_get(r1, i);
        json_object_del(a, "time");
        json_object_del(b, "time");
        cr_assert(json_equal(a, b), "record %zu differs beyond its time", i);
    }
    json_decref(r0);
    json_decref(r1);
}

/* Digests of the records of @kind from @src to @dst, in trace order. */
static GPtrArray *
digests(json_t *recs, const char *kind, const char *src, const char *dst)
{
    GPtrArray *out = g_ptr_array_new();
    for (gsize i = 0; i < json_array_size(recs); i++) {
        json_t *r = json_array_get(recs, i);
        if (strcmp(field(r, "kind"), kind) == 0 && strcmp(field(r, "src"), src) == 0 &&
            strcmp(field(r, "dst"), dst) == 0)
            g_ptr_array_add(out, (gpointer)field(r, "digest"));
    }
    return out;
}

static void
assert_same_order(GPtrArray *sent, GPtrArray *delivered, const char *what)
{
    cr_assert_eq(sent->len, delivered->len, "%s: %u sent, %u delivered", what, sent->len,
                 delivered->len);
    cr_assert_gt(sent->len, 10, "%s: too few messages to show anything", what);
    for (guint i = 0; i < sent->len; i++)
        cr_assert_str_eq(g_ptr_array_index(sent, i), g_ptr_array_index(delivered, i),
                         "%s: message %u overtook or fell behind", what, i);
}

Test(links, random_latencies_keep_each_direction_in_send_order)
{
    g_autofree char *json = pingpong(
        20, 5, "0",
        "[{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"dist\": \"uniform\", \"low\": 0.001, "
        "\"high\": 0.02}}]");
    g_autofree char *trace = run_trace(json, 1, NULL);
    json_t *recs = records_of(trace);
    g_autoptr(GPtrArray) up_sent = digests(recs, "send", "local://a", "local://b");
    g_autoptr(GPtrArray) up_got = digests(recs, "deliver", "local://b#s0", "local://b");
    assert_same_order(up_sent, up_got, "a to b");
    g_autoptr(GPtrArray) down_sent = digests(recs, "send", "local://b", "local://b#s0");
    g_autoptr(GPtrArray) down_got = digests(recs, "reply", "local://b", "local://a");
    assert_same_order(down_sent, down_got, "b to a");
    /* Each delay lies within [low, high] (FIFO only ever holds a message back to the arrival of
     * one sent before it, which is itself no later than high after this one's send), and the
     * delays vary. */
    g_autoptr(GHashTable) sent = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_int64_hash, g_int64_equal);
    static gint64 deltas[4096];
    guint n = 0;
    for (gsize i = 0; i < json_array_size(recs); i++) {
        json_t *r = json_array_get(recs, i);
        if (strcmp(field(r, "kind"), "send") == 0)
            g_hash_table_insert(sent, (gpointer)field(r, "digest"), r);
        else if (is_delivery(r)) {
            gint64 d = ticks_of(r) - ticks_of(g_hash_table_lookup(sent, field(r, "digest")));
            cr_assert(d >= 1 * MS && d <= 20 * MS, "delay %" G_GINT64_FORMAT " ns", d);
            cr_assert_lt(n, G_N_ELEMENTS(deltas));
            deltas[n] = d;
            g_hash_table_add(seen, &deltas[n++]);
        }
    }
    cr_assert_gt(g_hash_table_size(seen), 10, "the delays hardly vary (%u different of %u)",
                 g_hash_table_size(seen), n);
    json_decref(recs);
}

Test(links, the_seed_decides_random_latencies)
{
    g_autofree char *linked = pingpong(
        4, 3, "0.1",
        "[{\"from\": \"*\", \"to\": \"*\", \"latency\": {\"dist\": \"exponential\", \"mean\": "
        "0.01}}]");
    g_autofree char *plain = pingpong(4, 3, "0.1", NULL);
    char f1[65], f1b[65], f2[65], p1[65], p2[65];
    g_autofree char *t1 = run_trace(linked, 1, f1);
    g_autofree char *t1b = run_trace(linked, 1, f1b);
    g_autofree char *t2 = run_trace(linked, 2, f2);
    g_free(run_trace(plain, 1, p1));
    g_free(run_trace(plain, 2, p2));
    cr_assert_str_eq(t1, t1b, "the same seed gives the same trace");
    cr_assert_str_eq(f1, f1b);
    cr_assert_str_neq(f1, f2, "another seed draws other latencies");
    cr_assert_str_eq(p1, p2, "without links these agents do not use the seed at all");
}

/* The records of a trace that involve container a or b (spawn, send, deliver, reply, log),
 * without their record numbers, one per line. */
static char *
records_touching_a_or_b(const char *trace)
{
    json_t *recs = records_of(trace);
    g_autoptr(GString) out = g_string_new(NULL);
    for (gsize i = 0; i < json_array_size(recs); i++) {
        json_t *r = json_array_get(recs, i);
        const char *src = field(r, "src");
        if (!g_str_has_prefix(src, "local://a") && !g_str_has_prefix(src, "local://b"))
            continue;
        json_object_del(r, "seq");
        g_autofree char *line = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
        g_string_append_printf(out, "%s\n", line);
    }
    json_decref(recs);
    return g_string_free(g_steal_pointer(&out), FALSE);
}

Test(links, a_link_elsewhere_leaves_the_other_links_draws_alone)
{
    static const char world[] =
        "{\"seed\": 3, \"containers\": [\"a\", \"b\", \"c\"], \"links\": [%s], \"agents\": ["
        "{\"name\": \"p\", \"type\": \"PingPong\", \"container\": \"a\", \"count\": 3, "
        "\"params\": {\"peer\": \"@q\", \"rounds\": 4, \"interval\": 0.05}},"
        "{\"name\": \"q\", \"type\": \"PingPong\", \"container\": \"b\", \"count\": 3},"
        "{\"name\": \"x\", \"type\": \"PingPong\", \"container\": \"c\", \"count\": 3, "
        "\"params\": {\"peer\": \"@y\", \"rounds\": 4, \"interval\": 0.05}},"
        "{\"name\": \"y\", \"type\": \"PingPong\", \"container\": \"c\", \"count\": 3}]}";
    static const char ab[] =
        "{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"dist\": \"normal\", \"mean\": 0.01, "
        "\"stddev\": 0.004}}";
    static const char cc[] =
        "{\"from\": \"c\", \"to\": \"c\", \"latency\": {\"dist\": \"uniform\", \"low\": 0.002, "
        "\"high\": 0.03}}";
    g_autofree char *links2 = g_strdup_printf("%s, %s", cc, ab);
    g_autofree char *one = g_strdup_printf(world, ab);
    g_autofree char *two = g_strdup_printf(world, links2);
    g_autofree char *t1 = run_trace(one, 3, NULL);
    g_autofree char *t2 = run_trace(two, 3, NULL);
    cr_assert_str_neq(t1, t2, "the c link changes c's messages");
    g_autofree char *ab1 = records_touching_a_or_b(t1);
    g_autofree char *ab2 = records_touching_a_or_b(t2);
    cr_assert_str_eq(ab1, ab2, "a and b see the same messages at the same times");
}

Test(links, the_rule_naming_more_containers_wins)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasScenario) s = load_text(
        "{\"containers\": [\"a\", \"b\", \"c\"], \"links\": ["
        "{\"from\": \"*\", \"to\": \"*\", \"latency\": 0.01},"
        "{\"from\": \"a\", \"to\": \"*\", \"latency\": 0.02},"
        "{\"from\": \"a\", \"to\": \"b\", \"latency\": 0.03},"
        "{\"from\": \"c\", \"to\": \"a\", \"latency\": 0.04, \"symmetric\": false}],"
        "\"agents\": [{\"type\": \"PingPong\"}]}",
        &error);
    cr_assert(s, "%s", error ? error->message : "");
    static const struct {
        guint from, to;
        const char *rule;
    } cases[] = {
        {0, 1, "$.links[2]"}, {1, 0, "$.links[2]"}, /* both named, symmetric */
        {0, 2, "$.links[1]"}, {2, 0, "$.links[3]"}, /* one-way c to a beats "a to *" reversed */
        {0, 0, "$.links[1]"},                       /* a to a: "a to *" (either way round) */
        {1, 2, "$.links[0]"}, {2, 1, "$.links[0]"}, {1, 1, "$.links[0]"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        const LinkRule *r = camas__scenario_link_rule(s, cases[i].from, cases[i].to);
        cr_assert(r, "no rule for %u to %u", cases[i].from, cases[i].to);
        cr_assert_str_eq(r->where, cases[i].rule, "%u to %u", cases[i].from, cases[i].to);
    }
    g_autoptr(CamasScenario) none = load_text(
        "{\"containers\": [\"a\", \"b\"], \"links\": [{\"from\": \"a\", \"to\": \"b\", "
        "\"latency\": 1, \"symmetric\": false}], \"agents\": [{\"type\": \"PingPong\"}]}",
        &error);
    cr_assert(none, "%s", error ? error->message : "");
    cr_assert_null(camas__scenario_link_rule(none, 1, 0), "a one-way rule covers one way");
    cr_assert_null(camas__scenario_link_rule(none, 0, 0));
}

Test(links, no_links_an_empty_list_and_zero_latencies_give_the_same_trace)
{
    g_autofree char *plain = pingpong(3, 2, "0.5", NULL);
    g_autofree char *empty = pingpong(3, 2, "0.5", "[]");
    g_autofree char *zero = pingpong(3, 2, "0.5",
                                     "[{\"from\": \"*\", \"to\": \"*\", \"latency\": {\"dist\": "
                                     "\"constant\", \"value\": 0}}]");
    char f0[65], f1[65], f2[65];
    g_free(run_trace(plain, 1, f0));
    g_free(run_trace(empty, 1, f1));
    g_free(run_trace(zero, 1, f2));
    cr_assert_str_eq(f1, f0);
    cr_assert_str_eq(f2, f0);
}

Test(links, draws_follow_their_distributions)
{
    CamasRng rng, before;
    camas_rng_init_stream(&rng, 1, "test");
    const int n = 100000;
    /* constant: exact, and no draw from the stream */
    LinkLatency c = {.dist = LINK_CONSTANT, .ticks = 1234567};
    before = rng;
    cr_assert_eq(camas__scenario_link_draw(&c, &rng), 1234567);
    cr_assert(memcmp(&rng, &before, sizeof rng) == 0);
    static const struct {
        LinkLatency d;
        double mean;       /* the expected mean, in ms */
        double lo, hi;     /* every draw within, in ms */
    } cases[] = {
        {{LINK_UNIFORM, 0, 0.001, 0.003}, 2.0, 1.0, 3.0},
        {{LINK_EXPONENTIAL, 0, 0.004, 0}, 4.0, 0, 1e6},
        /* truncated at 0 with mean 0: the half-normal's mean is stddev * sqrt(2 / pi) */
        {{LINK_NORMAL, 0, 0, 0.001}, 0.7978845608, 0, 1e6},
        /* far from 0, the truncation hardly matters */
        {{LINK_NORMAL, 0, 0.010, 0.001}, 10.0, 0, 1e6},
    };
    for (gsize k = 0; k < G_N_ELEMENTS(cases); k++) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            double ms = (double)camas__scenario_link_draw(&cases[k].d, &rng) / 1e6;
            cr_assert(ms >= cases[k].lo && ms <= cases[k].hi, "case %zu: %g ms", k, ms);
            sum += ms;
        }
        double mean = sum / n;
        cr_assert(fabs(mean - cases[k].mean) < 0.02 * cases[k].mean,
                  "case %zu: mean %g ms, expected %g", k, mean, cases[k].mean);
    }
}

/* --- bad input ----------------------------------------------------------------------------- */

typedef struct {
    const char *links;  /* the value of "links" */
    const char *where;  /* the JSON path the message names */
    const char *needle; /* and what it says */
} BadLinks;

static const BadLinks bad_links[] = {
    {"{}", "$.links", "expected an array of links, got an object"},
    {"[1]", "$.links[0]", "expected an object, got an integer"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": 1, \"latencey\": 2}]", "$.links[0].latencey",
     "unknown field \"latencey\" (did you mean \"latency\"?)"},
    {"[{\"to\": \"b\", \"latency\": 1}]", "$.links[0]", "a link needs \"from\""},
    {"[{\"from\": \"a\", \"latency\": 1}]", "$.links[0]", "a link needs \"to\""},
    {"[{\"from\": \"a\", \"to\": \"b\"}]", "$.links[0]", "a link needs a \"latency\""},
    {"[{\"from\": \"a\", \"to\": \"nope\", \"latency\": 1}]", "$.links[0].to",
     "no container named \"nope\" (containers: a, b, or \"*\" for any)"},
    {"[{\"from\": \"aa\", \"to\": \"b\", \"latency\": 1}]", "$.links[0].from",
     "no container named \"aa\" (did you mean \"a\"?)"},
    {"[{\"from\": 1, \"to\": \"b\", \"latency\": 1}]", "$.links[0].from",
     "expected a container name or \"*\", got an integer"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": -0.5}]", "$.links[0].latency",
     "must be a non-negative number of seconds, got -0.5"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": \"5ms\"}]", "$.links[0].latency",
     "expected a number of seconds or a distribution"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": 1e300}]", "$.links[0].latency",
     "not a finite number of seconds"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": 1, \"symmetric\": \"no\"}]",
     "$.links[0].symmetric", "expected true or false, got a string"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"mean\": 1}}]", "$.links[0].latency",
     "a distribution needs \"dist\""},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"dist\": 3}}]", "$.links[0].latency.dist",
     "expected a distribution name (a string), got an integer"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"dist\": \"gaussian\"}}]",
     "$.links[0].latency.dist",
     "unknown distribution \"gaussian\"; known: constant, uniform, exponential, normal"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"dist\": \"unifrom\"}}]",
     "$.links[0].latency.dist", "(did you mean \"uniform\"?)"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"dist\": \"uniform\", \"low\": 1}}]",
     "$.links[0].latency", "a uniform distribution needs \"high\" (seconds)"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"dist\": \"uniform\", \"low\": \"1\", "
     "\"high\": 2}}]",
     "$.links[0].latency.low", "expected a number of seconds, got a string"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"dist\": \"uniform\", \"low\": 2, "
     "\"high\": 1}}]",
     "$.links[0].latency.high", "must not be below \"low\" (2), got 1"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"dist\": \"exponential\", \"mean\": 0}}]",
     "$.links[0].latency.mean", "must be a positive number of seconds, got 0"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"dist\": \"exponential\", \"mean\": 1, "
     "\"stddev\": 1}}]",
     "$.links[0].latency.stddev", "unknown field \"stddev\"; known fields: dist, mean"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"dist\": \"normal\", \"mean\": 1, "
     "\"stddev\": -1}}]",
     "$.links[0].latency.stddev", "must be a non-negative number of seconds, got -1"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"dist\": \"normal\", \"mean\": -1, "
     "\"stddev\": 1}}]",
     "$.links[0].latency.mean", "must be a non-negative number of seconds, got -1"},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": {\"dist\": \"constant\"}}]",
     "$.links[0].latency", "a constant distribution needs \"value\""},
    {"[{\"from\": \"a\", \"to\": \"b\", \"latency\": 1}, {\"from\": \"b\", \"to\": \"a\", "
     "\"latency\": 2}]",
     "$.links[1]", "the link from b to a is already given by $.links[0]"},
    {"[{\"from\": \"*\", \"to\": \"*\", \"latency\": 1}, {\"from\": \"*\", \"to\": \"*\", "
     "\"latency\": 2, \"symmetric\": false}]",
     "$.links[1]", "the link from * to * is already given by $.links[0]"},
    {"[{\"from\": \"a\", \"to\": \"*\", \"latency\": 1}, {\"from\": \"b\", \"to\": \"*\", "
     "\"latency\": 2}]",
     "$.links[1]",
     "from b to a, both this link and $.links[0] apply (neither names both containers); add a "
     "link from b to a"},
};

Test(links, bad_links_are_named_by_json_path)
{
    for (gsize i = 0; i < G_N_ELEMENTS(bad_links); i++) {
        g_autofree char *json = g_strdup_printf(
            "{\"containers\": [\"a\", \"b\"], \"links\": %s, \"agents\": [{\"type\": "
            "\"PingPong\"}]}",
            bad_links[i].links);
        g_autoptr(GError) error = NULL;
        g_autoptr(CamasScenario) s = load_text(json, &error);
        cr_assert_null(s, "case %zu loaded: %s", i, bad_links[i].links);
        cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID), "case %zu", i);
        g_autofree char *prefix = g_strdup_printf("t.json: %s: ", bad_links[i].where);
        cr_assert(g_str_has_prefix(error->message, prefix), "case %zu: \"%s\" should start %s",
                  i, error->message, prefix);
        cr_assert(strstr(error->message, bad_links[i].needle), "case %zu: \"%s\" lacks \"%s\"",
                  i, error->message, bad_links[i].needle);
    }
}

Test(links, the_program_exits_2_with_one_line_for_bad_links)
{
    g_autofree char *dir = g_dir_make_tmp("camas-links-XXXXXX", NULL);
    cr_assert(dir);
    g_autofree char *file = g_build_filename(dir, "bad.json", NULL);
    cr_assert(g_file_set_contents(
        file,
        "{\"containers\": [\"a\", \"b\"], \"links\": [{\"from\": \"a\", \"to\": \"b\", "
        "\"latency\": {\"dist\": \"pareto\"}}], \"agents\": [{\"type\": \"PingPong\"}]}",
        -1, NULL));
    g_autofree char *trace = g_build_filename(dir, "t.jsonl", NULL);
    const char *argv[] = {camas_test_camas_exe(), "run", "--trace", trace, file, NULL};
    g_autofree char *out = NULL, *err = NULL;
    int status;
    cr_assert(g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, &out, &err, &status, NULL));
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %d, stderr %s", status, err);
    cr_assert_str_empty(out);
    cr_assert(g_str_has_suffix(err, "\n") && !strchr(err, '\n')[1], "one line: %s", err);
    cr_assert(strstr(err, "$.links[0].latency.dist: unknown distribution \"pareto\""), "%s", err);
    cr_assert_not(g_file_test(trace, G_FILE_TEST_EXISTS), "a trace file was left behind");
    g_unlink(file);
    g_rmdir(dir);
}
