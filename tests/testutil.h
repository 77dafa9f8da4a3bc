/* SPDX-License-Identifier: MIT */
/*
 * Shared test helpers, linked into every criterion suite.  A "world" is what a test runs in:
 * one loop and its clock, and for socket tests a GMainContext (with a temporary directory for
 * Unix socket files).  The world runs until a future is done or a condition holds, failing the
 * test when the loop runs dry (virtual time) or a real-time deadline passes; it makes containers
 * on any transport at addresses the OS chooses, and frees what it made when it is freed itself,
 * last made first, after which it waits for closed sockets to finish lingering.  The other
 * helpers turn "call, wait, check" into one line each.  Every helper fails the running test
 * (cr_assert) instead of returning an error, so tests read as their behaviours.
 *
 * Typical use, with the world declared first so that g_autoptr frees it last:
 *
 *     g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
 *     CamasContainer *srv = camas_test_container_new(w, "local://srv", NULL);
 *     camas_test_spawn(srv, &echo_class, 1);
 *     g_autoptr(CamasProxy) p = camas_test_connect_ok(w, srv, "local://srv/0");
 *     g_autoptr(CamasValue) r = camas_test_call_ok(w, p, "add", "[i i]", 1, 2);
 *     camas_test_assert_value(r, "i", 3);
 */
#pragma once

#include <camas/camas.h>
#include <camas/container.h>

#include "certs.h"
#include "leakcheck.h"

G_BEGIN_DECLS

/* --- worlds ----------------------------------------------------------------------------------- */

/* How a world is made; 0 is LocalQueue only, on an as-fast-as-possible clock. */
typedef enum {
    /* A GMainContext for socket I/O (w->ctx), the loop attached to it, and w->tmpdir. */
    CAMAS_TEST_SOCKETS = 1 << 0,
    /* An external clock the test moves (camas_clock_set_time) instead of the afap one. */
    CAMAS_TEST_EXTERNAL = 1 << 1,
    /* A real-time clock on w->ctx (implies CAMAS_TEST_SOCKETS). */
    CAMAS_TEST_REALTIME = 1 << 2,
    /* No clock at all (w->clock is NULL): the loop alone, as the transport and channel layers
     * use it. */
    CAMAS_TEST_NO_CLOCK = 1 << 3,
    /* Containers made by the world send their agents' log lines to w->log, as
     * "<time with 3 decimals> <agent URL> <line>\n". */
    CAMAS_TEST_LOG = 1 << 4,
} CamasTestFlags;

/* The transports a world places servers and containers on. */
typedef enum {
    CAMAS_TEST_LOCAL, /* LocalQueue: "local://<name>" */
    CAMAS_TEST_TCP,   /* "tcp://127.0.0.1:0": the OS picks the port */
    CAMAS_TEST_IPC,   /* "ipc://[<w->tmpdir>/<name>.sock]" */
    CAMAS_TEST_TLS,   /* "tls://127.0.0.1:0" (containers: TCP with the world's TLS contexts) */
} CamasTestKind;

typedef struct {
    /* The loop everything runs on; owned by the world. */
    CamasLoop *loop;
    /* Its clock (afap, external or real-time), NULL with CAMAS_TEST_NO_CLOCK. */
    CamasClock *clock;
    /* Socket worlds: the context that runs socket I/O and the loop; else NULL. */
    GMainContext *ctx;
    /* Socket worlds: a fresh directory for Unix socket files.  It must be empty when the world
     * is freed (listeners remove their files), which the world asserts. */
    char *tmpdir;
    /* With CAMAS_TEST_LOG: the agents' log lines; else NULL. */
    GString *log;
    /* The real-time limit of every wait in seconds (20; a test may change it). */
    gint64 wait_seconds;

    /* private */
    CamasTestFlags flags;
    GSource *tick;           /* wakes ctx regularly, so that waits check their deadline */
    GArray *owned;           /* what the world frees, in the order it was made */
    CamasTestCerts *certs;   /* made on first use */
    CamasTlsContext *tls[2]; /* [0] client, [1] server, made on first use */
} CamasTestWorld;

/* A new world (transfer full); free it with camas_test_world_free (g_autoptr). */
CamasTestWorld *camas_test_world_new(CamasTestFlags flags);

/**
 * camas_test_world_free:
 * Frees what the world owns (last made first), then, in socket worlds, runs the context until
 * every closed socket has finished lingering (failing after w->wait_seconds), and frees the
 * clock, the loop and the context; asserts that w->tmpdir is empty and removes it.  Everything
 * that uses the world's loop (proxies, connections) must be released before.
 */
void camas_test_world_free(CamasTestWorld *w);

/* Hands @data to the world, which calls @destroy on it when it is freed.  Returns @data. */
gpointer camas_test_world_own(CamasTestWorld *w, gpointer data, GDestroyNotify destroy);
/* Destroys @data, which the world owns, now (a test that frees a container mid-test). */
void camas_test_world_drop(CamasTestWorld *w, gpointer data);

/* --- running until something happened --------------------------------------------------------- */

/* The monotonic time (µs) at which a wait that starts now fails: now + w->wait_seconds. */
gint64 camas_test_world_deadline(const CamasTestWorld *w);

/**
 * camas_test_world_iterate:
 * @what: what the caller waits for, for the failure message
 *
 * One step towards @what.  Without a context: the loop's next event (virtual time jumps to it);
 * the test fails if there is none.  With one: fails once @deadline (monotonic µs) passed; else
 * dispatches ready I/O, or when there is none and the clock is virtual the loop's next event,
 * or else blocks until the context has something to do (the world's tick wakes it).
 */
void camas_test_world_iterate(CamasTestWorld *w, gint64 deadline, const char *what);

/* Iterates @w until the expression @cond holds (failing as camas_test_world_iterate does). */
#define CAMAS_TEST_WAIT(w, cond)                                                                 \
    for (gint64 camas_test_deadline_ = camas_test_world_deadline(w); !(cond);)                   \
    camas_test_world_iterate((w), camas_test_deadline_, #cond)

/**
 * camas_test_world_settle:
 * Runs what can run without waiting for anything new: LocalQueue worlds run the loop until it
 * has nothing left; socket worlds dispatch what is ready, or with @ms > 0 run the context for
 * @ms milliseconds of real time (waiting for a timer, not sleeping).
 */
void camas_test_world_settle(CamasTestWorld *w, guint ms);

/* TRUE while a transport pipe exists: a connection that is open or, closed, still lingering.
 * Socket tests wait for CAMAS_TEST_WAIT(w, !camas_test_pipes_alive()) when they need every
 * connection gone before the world is (camas_test_world_free waits for it too). */
gboolean camas_test_pipes_alive(void);

/* Iterates @w until @future is done. */
void camas_test_run_until_done(CamasTestWorld *w, CamasFuture *future);
/* Runs until @future is done and asserts it succeeded.  Returns: (transfer full) its result
 * (a null value when it has none). */
CamasValue *camas_test_await_ok(CamasTestWorld *w, CamasFuture *future);
/* Runs until @future is done and asserts it failed.  Returns: (transfer full) its error. */
GError *camas_test_await_error(CamasTestWorld *w, CamasFuture *future);
/* As the two above for a future the caller hands over (transfer full); NULL fails the test. */
CamasValue *camas_test_await_ok_take(CamasTestWorld *w, CamasFuture *future);
GError *camas_test_await_error_take(CamasTestWorld *w, CamasFuture *future);
/* Runs until @future is done and asserts it failed with @code in @domain and, unless @needle
 * is NULL, a message containing @needle. */
void camas_test_await_fails(CamasTestWorld *w, CamasFuture *future, GQuark domain, gint code,
                            const char *needle);

/* --- assertions ------------------------------------------------------------------------------- */

/* Asserts that @got equals the value camas_value_build(@format, ...) makes. */
void camas_test_assert_value(const CamasValue *got, const char *format, ...);
/* Asserts @error is non-NULL with @code in @domain and, unless @needle is NULL, a message
 * containing @needle. */
void camas_test_assert_error(const GError *error, GQuark domain, gint code, const char *needle);
/* Asserts @error is CAMAS_ERROR_REMOTE and its remote text ends with @last_line. */
void camas_test_assert_remote(const GError *error, const char *last_line);

/* --- transports, codecs, connections ---------------------------------------------------------- */

/**
 * CAMAS_TEST_EACH_KIND:
 * @kinds: a static CamasTestKind array of the test file
 *
 * Defines the criterion test @suite::@name, run once for each kind in @kinds with
 * `CamasTestKind *kind` pointing at it (the file includes <criterion/parameterized.h>):
 *
 *     static CamasTestKind sockets[] = {CAMAS_TEST_TCP, CAMAS_TEST_IPC};
 *     CAMAS_TEST_EACH_KIND(rpc, sockets, calls_arrive)
 *     {
 *         g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_REALTIME);
 *         g_autofree char *address = camas_test_world_address(w, *kind, "calls");
 *         ...
 *     }
 */
#define CAMAS_TEST_EACH_KIND(suite, kinds, name)                                                   \
    ParameterizedTestParameters(suite, name)                                                       \
    {                                                                                              \
        return cr_make_param_array(CamasTestKind, (kinds), G_N_ELEMENTS(kinds));                   \
    }                                                                                              \
    ParameterizedTest(CamasTestKind *kind, suite, name)

/* (transfer full): an address of @kind; @name names the queue or socket file (unused by TCP and
 * TLS).  IPC needs a socket world. */
char *camas_test_world_address(CamasTestWorld *w, CamasTestKind kind, const char *name);
/* (transfer none): test certificates, made on first use and removed with the world. */
const CamasTestCerts *camas_test_world_get_certs(CamasTestWorld *w);
/* (transfer none): a TLS context from those certificates: the server pair for @server, else the
 * client pair; made on first use, owned by the world. */
CamasTlsContext *camas_test_world_get_tls(CamasTestWorld *w, gboolean server);

/* (transfer full): the codec @name; the test fails if there is none. */
CamasCodec *camas_test_codec(const char *name);

/* Opens a channel (or an RPC connection serving @service, nullable) and runs until it is open.
 * Returns: (transfer full) the channel or connection; the test fails if it does not open. */
CamasChannel *camas_test_channel_open(CamasTestWorld *w, const char *address, CamasCodec *codec,
                                      const CamasChannelOptions *options);
CamasRpcConnection *camas_test_rpc_open(CamasTestWorld *w, const char *address,
                                        CamasCodec *codec, CamasService *service,
                                        const CamasChannelOptions *options);

/* --- containers and agents -------------------------------------------------------------------- */

/* A container on @address (transfer none: the world owns it; camas_test_world_drop frees it
 * early).  The test fails if it cannot be made. */
CamasContainer *camas_test_container_new(CamasTestWorld *w, const char *address,
                                         const CamasContainerOptions *options);
/* The same at camas_test_world_address(@kind, @name); for CAMAS_TEST_TLS, a TCP container that
 * uses the world's TLS contexts unless @options names TLS settings of its own. */
CamasContainer *camas_test_container_new_on(CamasTestWorld *w, CamasTestKind kind,
                                            const char *name,
                                            const CamasContainerOptions *options);

/* Spawns @n (>= 1) agents of @klass without arguments; the test fails if one cannot be made.
 * Returns: (transfer none) the first of them. */
CamasAgent *camas_test_spawn(CamasContainer *c, const CamasAgentClass *klass, guint n);
/* (transfer none): the registered agent type @name; the test fails if there is none. */
const CamasAgentClass *camas_test_agent_type(const char *name);
/* Spawns one agent of the registered type @type_name with the positional arguments @format
 * builds (NULL: none).  Returns: (transfer none) the agent. */
CamasAgent *camas_test_spawn_type(CamasContainer *c, const char *type_name, const char *format,
                                  ...);
/* Starts @agent's entry point with the arguments @format builds (NULL: none).
 * Returns: (transfer full) the entry point's future. */
CamasFuture *camas_test_agent_start(CamasAgent *agent, const char *format, ...);

/**
 * camas_test_pair_new:
 * The usual two-container setup on LocalQueue: a server container "local://<name>" with one
 * agent of @klass and a client container "local://<name>-cli", both made with @options
 * (nullable) and owned by the world; the client connects to the agent.  @server and @client
 * (nullable) receive the containers.  Returns: (transfer full) the client's proxy of the agent.
 */
CamasProxy *camas_test_pair_new(CamasTestWorld *w, const char *name, const CamasAgentClass *klass,
                                const CamasContainerOptions *options, CamasContainer **server,
                                CamasContainer **client);

/* Connects @c to the agent at @url and runs until connected.  Returns: (transfer full) the
 * proxy; the test fails if the connect fails. */
CamasProxy *camas_test_connect_ok(CamasTestWorld *w, CamasContainer *c, const char *url);
/* A connect that must fail, at once or later.  Returns: (transfer full) its error. */
GError *camas_test_connect_error(CamasTestWorld *w, CamasContainer *c, const char *url);

/* Calls @method on @proxy with arguments from a camas_proxy_call_build() format (a list:
 * positional, a map: keyword, a 2-tuple: both) and runs until it is done, asserting success.
 * Returns: (transfer full) the result, as camas_test_await_ok. */
#define camas_test_call_ok(w, proxy, ...)                                                        \
    camas_test_await_ok_take((w), camas_proxy_call_build((proxy), __VA_ARGS__))
/* The same for a call that must fail.  Returns: (transfer full) the error. */
#define camas_test_call_error(w, proxy, ...)                                                     \
    camas_test_await_error_take((w), camas_proxy_call_build((proxy), __VA_ARGS__))

/* --- frames on the wire ----------------------------------------------------------------------- */

/* What a loop's tracer saw sent, as text or (@hex) as lower-case hex. */
typedef struct {
    GPtrArray *all;    /* every payload, in send order */
    GPtrArray *client; /* those sent from a source ending in the client suffix */
    GPtrArray *server; /* the others */

    /* private */
    CamasLoop *loop;
    char *client_suffix;
    gboolean hex;
} CamasTestCapture;

/* Installs a tracer on @w's loop that records every CAMAS_TRACE_SEND payload.  Returns:
 * (transfer none) the capture, owned by the world, which removes the tracer with it. */
CamasTestCapture *camas_test_capture_start(CamasTestWorld *w, const char *client_suffix,
                                           gboolean hex);
/* Removes the tracer (the frames stay); the world does it too. */
void camas_test_capture_stop(CamasTestCapture *capture);
/* Asserts @got holds exactly the NULL-terminated @expect, in order; @who names it. */
void camas_test_assert_frames(const GPtrArray *got, const char *const *expect, const char *who);

/* --- raw peers ------------------------------------------------------------------------------- */

/* One end of a transport connection that the test drives itself, below the channel layer (to
 * send bytes no channel would, or to see exactly what one sent). */
typedef struct {
    GByteArray *rx;  /* every byte received, in order */
    gboolean closed; /* the connection reported its end */

    /* private */
    struct _CamasPipe *pipe;
    struct _CamasListener *listener;
    gboolean dialed;
} CamasTestRawPeer;

/* Dials @address (with @options, nullable) on @w's loop and runs until connected; the test fails
 * if the dial fails.  Returns: (transfer full) the client end. */
CamasTestRawPeer *camas_test_raw_connect(CamasTestWorld *w, const char *address,
                                         const CamasTransportOptions *options);
/* Listens at @address; the first connection accepted becomes the peer (until then it has none
 * and cannot send).  Returns: (transfer full) the server end. */
CamasTestRawPeer *camas_test_raw_listen(CamasTestWorld *w, const char *address);
/* Sends @len bytes of @data; the test fails if the pipe refuses them. */
void camas_test_raw_send(CamasTestRawPeer *peer, const void *data, gsize len);
/* Closes the connection (and the listener) and frees @peer. */
void camas_test_raw_peer_free(CamasTestRawPeer *peer);

/* --- the camas program ------------------------------------------------------------------------ */

typedef struct {
    char *out;  /* everything it wrote on stdout */
    char *err;  /* on stderr */
    int status; /* its exit status, or -1 if it did not exit normally */
} CamasTestRun;

/* Runs the camas program with the NULL-terminated arguments (after the program name) and
 * waits for it; the test fails if it cannot be started. */
CamasTestRun camas_test_run_camas(const char *first, ...) G_GNUC_NULL_TERMINATED;
/* The same in @cwd (NULL: ours) with @envp (NULL: ours), @prefix (nullable, NULL-terminated)
 * run before the program (e.g. setarch -R), and the NULL-terminated @argv after it. */
CamasTestRun camas_test_run_camas_argv(const char *cwd, char **envp, const char *const *prefix,
                                       const char *const *argv);
void camas_test_run_clear(CamasTestRun *run);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasTestWorld, camas_test_world_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasTestRawPeer, camas_test_raw_peer_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CamasTestRun, camas_test_run_clear)

G_END_DECLS
