/* SPDX-License-Identifier: MIT */
/* Shared test helpers: worlds, waits, containers, calls and assertions (see testutil.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <glib-object.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <camas/registry.h>

#include "live-private.h"
#include "testutil.h"
#include "transport-private.h"

/* --- worlds ----------------------------------------------------------------------------------- */

/* One thing the world frees. */
typedef struct {
    gpointer data;
    GDestroyNotify destroy;
} Owned;

/* Fails the test when @made is NULL, naming @what and why (@error).  Returns @made. */
static gpointer
made(gpointer made, const GError *error, const char *what)
{
    cr_assert_not_null(made, "%s: %s", what, error ? error->message : "no reason given");
    return made;
}

/* Socket worlds: many-connection tests need more descriptors than the usual soft limit. */
static void
raise_fd_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return;
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
}

/* Wakes @ctx every 50 ms, so that a wait blocked in it checks its deadline. */
static GSource *
tick_new(GMainContext *ctx)
{
    GSource *tick = g_timeout_source_new(50);
    g_source_set_dummy_callback(tick);
    g_source_attach(tick, ctx);
    return tick;
}

static CamasClock *
clock_new(CamasTestWorld *w)
{
    if (w->flags & CAMAS_TEST_NO_CLOCK)
        return NULL;
    if (w->flags & CAMAS_TEST_REALTIME)
        return camas_clock_new_realtime(w->loop, w->ctx);
    if (w->flags & CAMAS_TEST_EXTERNAL)
        return camas_clock_new_external(w->loop, 0, 0);
    return camas_clock_new_afap(w->loop, 0, 0);
}

CamasTestWorld *
camas_test_world_new(CamasTestFlags flags)
{
    CamasTestWorld *w = g_new0(CamasTestWorld, 1);
    w->flags = flags & CAMAS_TEST_REALTIME ? flags | CAMAS_TEST_SOCKETS : flags;
    w->wait_seconds = 20;
    w->owned = g_array_new(FALSE, FALSE, sizeof(Owned));
    w->loop = camas_loop_new();
    if (w->flags & CAMAS_TEST_SOCKETS) {
        raise_fd_limit();
        w->ctx = g_main_context_new();
        w->tick = tick_new(w->ctx);
        if (!(w->flags & CAMAS_TEST_REALTIME)) /* the real-time clock attaches for itself */
            camas_loop_attach(w->loop, w->ctx);
        g_autoptr(GError) error = NULL;
        w->tmpdir = g_dir_make_tmp("camas-test-XXXXXX", &error);
        made(w->tmpdir, error, "temporary directory");
    }
    w->clock = clock_new(w);
    if (flags & CAMAS_TEST_LOG)
        w->log = g_string_new(NULL);
    return w;
}

gboolean
camas_test_pipes_alive(void)
{
    return g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_PIPE]) > 0;
}

void
camas_test_world_free(CamasTestWorld *w)
{
    while (w->owned->len > 0) {
        Owned o = g_array_index(w->owned, Owned, w->owned->len - 1);
        g_array_set_size(w->owned, w->owned->len - 1);
        o.destroy(o.data);
    }
    g_array_unref(w->owned);
    /* Closed sockets linger until flushed and the peer's end arrived: let them finish. */
    if (w->ctx)
        CAMAS_TEST_WAIT(w, !camas_test_pipes_alive());
    g_clear_pointer(&w->clock, camas_clock_unref);
    camas_loop_free(w->loop);
    if (w->tick)
        g_source_destroy(w->tick);
    g_clear_pointer(&w->tick, g_source_unref);
    g_clear_pointer(&w->ctx, g_main_context_unref);
    /* Listeners remove their socket files: what is left is a leak. */
    if (w->tmpdir)
        cr_assert_eq(g_rmdir(w->tmpdir), 0, "%s: %s", w->tmpdir, g_strerror(errno));
    g_free(w->tmpdir);
    for (int i = 0; i < 2; i++)
        g_clear_pointer(&w->tls[i], camas_tls_context_unref);
    g_clear_pointer(&w->certs, camas_test_certs_free);
    if (w->log)
        g_string_free(w->log, TRUE);
    g_free(w);
}

gpointer
camas_test_world_own(CamasTestWorld *w, gpointer data, GDestroyNotify destroy)
{
    Owned o = {data, destroy};
    g_array_append_val(w->owned, o);
    return data;
}

void
camas_test_world_drop(CamasTestWorld *w, gpointer data)
{
    for (guint i = 0; i < w->owned->len; i++) {
        Owned o = g_array_index(w->owned, Owned, i);
        if (o.data == data) {
            g_array_remove_index(w->owned, i);
            o.destroy(o.data);
            return;
        }
    }
    cr_assert_fail("camas_test_world_drop: %p is not the world's", data);
}

/* --- running until something happened --------------------------------------------------------- */

gint64
camas_test_world_deadline(const CamasTestWorld *w)
{
    return g_get_monotonic_time() + w->wait_seconds * G_USEC_PER_SEC;
}

void
camas_test_world_iterate(CamasTestWorld *w, gint64 deadline, const char *what)
{
    if (!w->ctx) {
        cr_assert(camas_loop_step(w->loop), "the loop ran dry while waiting for %s", what);
        return;
    }
    cr_assert_lt(g_get_monotonic_time(), deadline, "timed out waiting for %s", what);
    if (g_main_context_iteration(w->ctx, FALSE))
        return;
    /* Nothing ready on the sockets: virtual time may move on to the loop's next event. */
    gboolean virtual_time = w->clock && !(w->flags & CAMAS_TEST_REALTIME);
    if (!virtual_time || !camas_loop_step(w->loop))
        g_main_context_iteration(w->ctx, TRUE);
}

static gboolean
set_flag(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

void
camas_test_world_settle(CamasTestWorld *w, guint ms)
{
    if (!w->ctx) {
        camas_loop_run(w->loop);
        return;
    }
    if (ms == 0) {
        while (g_main_context_iteration(w->ctx, FALSE))
            ;
        return;
    }
    gboolean fired = FALSE;
    GSource *timer = g_timeout_source_new(ms);
    g_source_set_callback(timer, set_flag, &fired, NULL);
    g_source_attach(timer, w->ctx);
    CAMAS_TEST_WAIT(w, fired);
    g_source_destroy(timer);
    g_source_unref(timer);
}

void
camas_test_run_until_done(CamasTestWorld *w, CamasFuture *future)
{
    cr_assert_not_null(future, "no future to wait for (the call failed at once)");
    CAMAS_TEST_WAIT(w, camas_future_is_done(future));
}

CamasValue *
camas_test_await_ok(CamasTestWorld *w, CamasFuture *future)
{
    camas_test_run_until_done(w, future);
    const GError *error = camas_future_get_error(future);
    cr_assert_null(error, "failed: %s", error ? error->message : "");
    CamasValue *result = camas_future_get_result(future);
    return result ? camas_value_ref(result) : camas_value_new_null();
}

GError *
camas_test_await_error(CamasTestWorld *w, CamasFuture *future)
{
    camas_test_run_until_done(w, future);
    cr_assert(camas_future_is_failed(future), "unexpected success");
    return g_error_copy(camas_future_get_error(future));
}

CamasValue *
camas_test_await_ok_take(CamasTestWorld *w, CamasFuture *future)
{
    g_autoptr(CamasFuture) f = future;
    return camas_test_await_ok(w, f);
}

GError *
camas_test_await_error_take(CamasTestWorld *w, CamasFuture *future)
{
    g_autoptr(CamasFuture) f = future;
    return camas_test_await_error(w, f);
}

void
camas_test_await_fails(CamasTestWorld *w, CamasFuture *future, GQuark domain, gint code,
                       const char *needle)
{
    g_autoptr(GError) error = camas_test_await_error(w, future);
    camas_test_assert_error(error, domain, code, needle);
}

/* --- assertions ------------------------------------------------------------------------------- */

static void
assert_same_value(const CamasValue *got, const CamasValue *expect)
{
    if (camas_value_equal(got, expect))
        return;
    g_autofree char *got_text = camas_value_repr(got);
    g_autofree char *expect_text = camas_value_repr(expect);
    cr_assert_fail("got %s, expected %s", got_text, expect_text);
}

void
camas_test_assert_value(const CamasValue *got, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autoptr(CamasValue) expect = camas_value_build_va(format, &ap);
    va_end(ap);
    assert_same_value(got, expect);
}

void
camas_test_assert_error(const GError *error, GQuark domain, gint code, const char *needle)
{
    cr_assert_not_null(error, "no error");
    cr_assert(g_error_matches(error, domain, code), "expected %s code %d, got %s code %d: %s",
              g_quark_to_string(domain), code, g_quark_to_string(error->domain), error->code,
              error->message);
    if (needle)
        cr_assert(strstr(error->message, needle), "'%s' does not contain '%s'", error->message,
                  needle);
}

void
camas_test_assert_remote(const GError *error, const char *last_line)
{
    camas_test_assert_error(error, CAMAS_ERROR, CAMAS_ERROR_REMOTE, NULL);
    const char *text = camas_error_get_remote_text(error);
    cr_assert(g_str_has_suffix(text, last_line), "%s\ndoes not end with\n%s", text, last_line);
}

/* --- transports, codecs, connections ---------------------------------------------------------- */

char *
camas_test_world_address(CamasTestWorld *w, CamasTestKind kind, const char *name)
{
    switch (kind) {
    case CAMAS_TEST_LOCAL:
        return g_strdup_printf("local://%s", name);
    case CAMAS_TEST_TCP:
        return g_strdup("tcp://127.0.0.1:0");
    case CAMAS_TEST_TLS:
        return g_strdup("tls://127.0.0.1:0");
    case CAMAS_TEST_IPC:
        cr_assert_not_null(w->tmpdir, "Unix sockets need a world with CAMAS_TEST_SOCKETS");
        return g_strdup_printf("ipc://[%s/%s.sock]", w->tmpdir, name);
    }
    g_assert_not_reached();
}

const CamasTestCerts *
camas_test_world_get_certs(CamasTestWorld *w)
{
    if (!w->certs) {
        g_autoptr(GError) error = NULL;
        w->certs = camas_test_certs_new(&error);
        made(w->certs, error, "test certificates");
    }
    return w->certs;
}

CamasTlsContext *
camas_test_world_get_tls(CamasTestWorld *w, gboolean server)
{
    if (w->tls[server])
        return w->tls[server];
    const CamasTestCerts *certs = camas_test_world_get_certs(w);
    CamasTlsCerts files = server ? camas_test_certs_server(certs) : camas_test_certs_client(certs);
    g_autoptr(GError) error = NULL;
    w->tls[server] = server ? camas_tls_context_new_server(&files, &error)
                            : camas_tls_context_new_client(&files, &error);
    return made(w->tls[server], error, "TLS context");
}

CamasCodec *
camas_test_codec(const char *name)
{
    g_autoptr(GError) error = NULL;
    CamasCodec *codec = camas_codec_new(name, &error);
    return made(codec, error, name);
}

/* Runs until the future of an open or connect that did not fail at once (@error holds why it
 * did) is done. */
static void
await_started(CamasTestWorld *w, CamasFuture *f, const GError *error, const char *what)
{
    made(f, error, what);
    camas_test_run_until_done(w, f);
}

CamasChannel *
camas_test_channel_open(CamasTestWorld *w, const char *address, CamasCodec *codec,
                        const CamasChannelOptions *options)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasFuture) f = camas_channel_open(w->loop, address, codec, options, &error);
    await_started(w, f, error, address);
    CamasChannel *channel = camas_channel_open_finish(f, &error);
    return made(channel, error, address);
}

CamasRpcConnection *
camas_test_rpc_open(CamasTestWorld *w, const char *address, CamasCodec *codec,
                    CamasService *service, const CamasChannelOptions *options)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasFuture) f = camas_rpc_open(w->loop, address, codec, service, options, &error);
    await_started(w, f, error, address);
    CamasRpcConnection *conn = camas_rpc_open_finish(f, &error);
    return made(conn, error, address);
}

/* --- containers and agents -------------------------------------------------------------------- */

static void
log_line(CamasAgent *agent, const char *line, gpointer data)
{
    CamasTestWorld *w = data;
    g_string_append_printf(w->log, "%.3f %s %s\n", camas_clock_time(agent->clock),
                           camas_agent_get_url(agent), line);
}

CamasContainer *
camas_test_container_new(CamasTestWorld *w, const char *address,
                         const CamasContainerOptions *options)
{
    g_autoptr(GError) error = NULL;
    CamasContainer *c = camas_container_new(w->clock, address, options, &error);
    made(c, error, address);
    if (w->log)
        camas_container_set_log_func(c, log_line, w, NULL);
    return camas_test_world_own(w, c, (GDestroyNotify)camas_container_free);
}

CamasContainer *
camas_test_container_new_on(CamasTestWorld *w, CamasTestKind kind, const char *name,
                            const CamasContainerOptions *options)
{
    CamasContainerOptions o = options ? *options : (CamasContainerOptions){0};
    if (kind == CAMAS_TEST_TLS && !o.tls && !o.tls_server && !o.tls_client) {
        o.tls_server = camas_test_world_get_tls(w, TRUE);
        o.tls_client = camas_test_world_get_tls(w, FALSE);
    }
    /* containers take TLS as settings on a TCP address */
    g_autofree char *address =
        camas_test_world_address(w, kind == CAMAS_TEST_TLS ? CAMAS_TEST_TCP : kind, name);
    return camas_test_container_new(w, address, &o);
}

CamasAgent *
camas_test_spawn(CamasContainer *c, const CamasAgentClass *klass, guint n)
{
    CamasAgent *first = NULL;
    for (guint i = 0; i < n; i++) {
        g_autoptr(GError) error = NULL;
        CamasAgent *a = camas_container_spawn(c, klass, NULL, NULL, &error);
        made(a, error, klass->name);
        first = first ? first : a;
    }
    cr_assert_not_null(first, "camas_test_spawn: n must be at least 1");
    return first;
}

const CamasAgentClass *
camas_test_agent_type(const char *name)
{
    g_autoptr(GError) error = NULL;
    const CamasAgentClass *k = camas_agent_registry_lookup(name, &error);
    return made((gpointer)k, error, name);
}

/* The value @format builds from @ap, or NULL for no format. */
static CamasValue *
build_optional(const char *format, va_list *ap)
{
    return format ? camas_value_build_va(format, ap) : NULL;
}

CamasAgent *
camas_test_spawn_type(CamasContainer *c, const char *type_name, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autoptr(CamasValue) args = build_optional(format, &ap);
    va_end(ap);
    g_autoptr(GError) error = NULL;
    CamasAgent *a = camas_container_spawn(c, camas_test_agent_type(type_name), args, NULL, &error);
    return made(a, error, type_name);
}

CamasFuture *
camas_test_agent_start(CamasAgent *agent, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autoptr(CamasValue) args = build_optional(format, &ap);
    va_end(ap);
    g_autoptr(GError) error = NULL;
    CamasFuture *f = camas_agent_start(agent, args, &error);
    return made(f, error, camas_agent_get_url(agent));
}

CamasProxy *
camas_test_connect_ok(CamasTestWorld *w, CamasContainer *c, const char *url)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasFuture) f = camas_container_connect(c, url, &error);
    await_started(w, f, error, url);
    CamasProxy *proxy = camas_container_connect_finish(f, &error);
    return made(proxy, error, url);
}

CamasProxy *
camas_test_pair_new(CamasTestWorld *w, const char *name, const CamasAgentClass *klass,
                    const CamasContainerOptions *options, CamasContainer **server,
                    CamasContainer **client)
{
    g_autofree char *address = camas_test_world_address(w, CAMAS_TEST_LOCAL, name);
    g_autofree char *client_address = g_strconcat(address, "-cli", NULL);
    g_autofree char *url = g_strconcat(address, "/0", NULL);
    CamasContainer *s = camas_test_container_new(w, address, options);
    CamasContainer *c = camas_test_container_new(w, client_address, options);
    camas_test_spawn(s, klass, 1);
    if (server)
        *server = s;
    if (client)
        *client = c;
    return camas_test_connect_ok(w, c, url);
}

GError *
camas_test_connect_error(CamasTestWorld *w, CamasContainer *c, const char *url)
{
    GError *error = NULL;
    CamasFuture *f = camas_container_connect(c, url, &error);
    return f ? camas_test_await_error_take(w, f) : error;
}

/* --- frames on the wire ----------------------------------------------------------------------- */

static void
capture_record(const CamasTraceRecord *r, gpointer data)
{
    CamasTestCapture *c = data;
    if (r->kind != CAMAS_TRACE_SEND)
        return;
    GString *s = g_string_sized_new(c->hex ? 2 * r->payload_len : r->payload_len);
    if (!c->hex)
        g_string_append_len(s, (const char *)r->payload, (gssize)r->payload_len);
    for (gsize i = 0; c->hex && i < r->payload_len; i++)
        g_string_append_printf(s, "%02x", r->payload[i]);
    gboolean client = c->client_suffix && g_str_has_suffix(r->src, c->client_suffix);
    g_ptr_array_add(client ? c->client : c->server, g_strdup(s->str));
    g_ptr_array_add(c->all, g_string_free(s, FALSE));
}

void
camas_test_capture_stop(CamasTestCapture *capture)
{
    if (capture->loop)
        camas_loop_set_tracer(capture->loop, NULL, NULL, NULL);
    capture->loop = NULL;
}

static void
capture_free(gpointer data)
{
    CamasTestCapture *c = data;
    camas_test_capture_stop(c);
    GPtrArray *frames[] = {c->all, c->client, c->server};
    for (gsize i = 0; i < G_N_ELEMENTS(frames); i++)
        g_ptr_array_unref(frames[i]);
    g_free(c->client_suffix);
    g_free(c);
}

CamasTestCapture *
camas_test_capture_start(CamasTestWorld *w, const char *client_suffix, gboolean hex)
{
    CamasTestCapture *c = g_new0(CamasTestCapture, 1);
    c->all = g_ptr_array_new_with_free_func(g_free);
    c->client = g_ptr_array_new_with_free_func(g_free);
    c->server = g_ptr_array_new_with_free_func(g_free);
    c->loop = w->loop;
    c->client_suffix = g_strdup(client_suffix);
    c->hex = hex;
    camas_loop_set_tracer(w->loop, capture_record, c, NULL);
    return camas_test_world_own(w, c, capture_free);
}

void
camas_test_assert_frames(const GPtrArray *got, const char *const *expect, const char *who)
{
    guint n = g_strv_length((char **)expect);
    for (guint i = 0; i < got->len && i < n; i++)
        cr_assert_str_eq(g_ptr_array_index(got, i), expect[i], "%s frame %u", who, i);
    cr_assert_eq(got->len, n, "%s sent %u frames, expected %u", who, got->len, n);
}

/* --- raw peers ------------------------------------------------------------------------------- */

static void
raw_received(CamasPipe *pipe, const guint8 *data, gsize len, gpointer user_data)
{
    CamasTestRawPeer *p = user_data;
    g_byte_array_append(p->rx, data, (guint)len);
}

static void
raw_closed(CamasPipe *pipe, const GError *error, gpointer user_data)
{
    CamasTestRawPeer *p = user_data;
    p->closed = TRUE;
}

static const CamasPipeCallbacks raw_callbacks = {.received = raw_received, .closed = raw_closed};

static void
raw_start(CamasTestRawPeer *p, CamasPipe *pipe)
{
    p->pipe = pipe;
    camas__pipe_start(pipe, &raw_callbacks, p);
}

static void
raw_dialed(CamasPipe *pipe, const GError *error, gpointer data)
{
    CamasTestRawPeer *p = data;
    p->dialed = TRUE;
    cr_assert_not_null(pipe, "dial failed: %s", error ? error->message : "");
    raw_start(p, pipe);
}

static void
raw_accepted(CamasListener *listener, CamasPipe *pipe, gpointer data)
{
    raw_start(data, pipe);
}

/* A peer without a connection yet, for @address (parsed, which the test fails on). */
static CamasTestRawPeer *
raw_peer_new(const char *address, CamasAddress **parsed)
{
    g_autoptr(GError) error = NULL;
    *parsed = made(camas_address_parse(address, &error), error, address);
    CamasTestRawPeer *p = g_new0(CamasTestRawPeer, 1);
    p->rx = g_byte_array_new();
    return p;
}

CamasTestRawPeer *
camas_test_raw_connect(CamasTestWorld *w, const char *address, const CamasTransportOptions *options)
{
    g_autoptr(CamasAddress) a = NULL;
    CamasTestRawPeer *p = raw_peer_new(address, &a);
    camas__transport_dial(w->loop, a, options, raw_dialed, p);
    CAMAS_TEST_WAIT(w, p->dialed);
    return p;
}

CamasTestRawPeer *
camas_test_raw_listen(CamasTestWorld *w, const char *address)
{
    g_autoptr(CamasAddress) a = NULL;
    CamasTestRawPeer *p = raw_peer_new(address, &a);
    g_autoptr(GError) error = NULL;
    p->listener = camas__transport_listen(w->loop, a, NULL, raw_accepted, p, &error);
    made(p->listener, error, address);
    return p;
}

void
camas_test_raw_send(CamasTestRawPeer *peer, const void *data, gsize len)
{
    cr_assert_not_null(peer->pipe, "the raw peer has no connection");
    g_autoptr(GBytes) b = g_bytes_new(data, len);
    g_autoptr(GError) error = NULL;
    cr_assert(camas__pipe_send(peer->pipe, b, &error), "%s", error ? error->message : "");
}

void
camas_test_raw_peer_free(CamasTestRawPeer *peer)
{
    if (peer->pipe)
        camas__pipe_close(peer->pipe);
    if (peer->listener)
        camas__listener_close(peer->listener);
    g_byte_array_unref(peer->rx);
    g_free(peer);
}

/* --- the camas program ------------------------------------------------------------------------ */

CamasTestRun
camas_test_run_camas_argv(const char *cwd, char **envp, const char *const *prefix,
                          const char *const *argv)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    if (prefix)
        g_strv_builder_addv(b, (const char **)prefix);
    g_strv_builder_add(b, camas_test_camas_exe());
    g_strv_builder_addv(b, (const char **)argv);
    g_auto(GStrv) full = g_strv_builder_end(b);
    CamasTestRun run = {NULL, NULL, -1};
    int wait_status = 0;
    g_autoptr(GError) error = NULL;
    gboolean spawned = g_spawn_sync(cwd, full, envp, G_SPAWN_SEARCH_PATH, NULL, NULL, &run.out,
                                    &run.err, &wait_status, &error);
    cr_assert(spawned, "cannot run %s: %s", full[0], error ? error->message : "");
    if (WIFEXITED(wait_status))
        run.status = WEXITSTATUS(wait_status);
    return run;
}

/* The NULL-terminated arguments from @first on. */
static GStrv
collect_args(const char *first, va_list *ap)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    for (const char *a = first; a; a = va_arg(*ap, const char *))
        g_strv_builder_add(b, a);
    return g_strv_builder_end(b);
}

CamasTestRun
camas_test_run_camas(const char *first, ...)
{
    va_list ap;
    va_start(ap, first);
    g_auto(GStrv) argv = collect_args(first, &ap);
    va_end(ap);
    return camas_test_run_camas_argv(NULL, NULL, NULL, (const char *const *)argv);
}

void
camas_test_run_clear(CamasTestRun *run)
{
    g_clear_pointer(&run->out, g_free);
    g_clear_pointer(&run->err, g_free);
}
