/* SPDX-License-Identifier: MIT */
/*
 * The interop conformance tool end to end: `camas interop serve` runs as a server process, the
 * test waits for its READY line (with a deadline) and reads the addresses it bound, then runs
 * `camas interop probe` against it and requires every check to pass — for all three codecs
 * over TCP, over Unix sockets, and over TLS with certificates from tests/certs.c.  Negative
 * checks: a small misbehaving server in this process (wrong answers, no answers, hang-ups), a
 * codec mismatch and a stranger's certificate make the probe print FAIL lines and exit
 * non-zero within its deadlines; bad command lines exit 2 with one line naming the flag.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <camas/camas.h>

#include "certs.h"
#include "leakcheck.h"

TestSuite(interop, .fini = camas_test_check_leaks);

/* Generous: sanitizer builds are several times slower.  Nothing waits this long unless a
 * process hangs. */
#define WAIT_SECONDS 120

/* --- child processes -------------------------------------------------------------------------- */

typedef struct {
    GPid pid;
    int out_fd;      /* the child's stdout, read until EOF */
    char *err_path;  /* the child's stderr, a temporary file */
    GString *out;
    gboolean eof;
    int status;
    gboolean reaped;
} Proc;

static void
proc_spawn(Proc *p, const char *const *args)
{
    memset(p, 0, sizeof *p);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)camas_test_camas_exe());
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    g_autoptr(GError) error = NULL;
    int err_fd = g_file_open_tmp("camas-interop-XXXXXX.stderr", &p->err_path, &error);
    cr_assert_geq(err_fd, 0, "%s", error ? error->message : "");
    gboolean ok = g_spawn_async_with_pipes_and_fds(
        NULL, (const char *const *)argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, -1,
        -1, err_fd, NULL, NULL, 0, &p->pid, NULL, &p->out_fd, NULL, &error);
    close(err_fd);
    cr_assert(ok, "cannot run %s: %s", camas_test_camas_exe(), error ? error->message : "");
    p->out = g_string_new(NULL);
}

static char *
proc_stderr(Proc *p)
{
    char *text = NULL;
    if (!g_file_get_contents(p->err_path, &text, NULL, NULL))
        return g_strdup("(stderr unreadable)");
    return text;
}

/* Reads what the child wrote; FALSE when the deadline (monotonic µs) passed first. */
static gboolean
proc_read(Proc *p, gint64 deadline)
{
    struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
    gint64 now = g_get_monotonic_time();
    if (now >= deadline)
        return FALSE;
    int r = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
    if (r < 0 && errno == EINTR)
        return TRUE;
    cr_assert_geq(r, 0, "poll: %s", g_strerror(errno));
    if (r == 0)
        return FALSE;
    char buf[4096];
    ssize_t n = read(p->out_fd, buf, sizeof buf);
    if (n > 0)
        g_string_append_len(p->out, buf, n);
    else if (n == 0 || errno != EINTR)
        p->eof = TRUE;
    return TRUE;
}

/* Sanitizer builds: UBSan reports without changing the exit status, so look for reports. */
static void
assert_no_sanitizer_report(const char *what, const char *err)
{
    cr_assert_null(strstr(err, "runtime error:"), "%s: UBSan report:\n%s", what, err);
    cr_assert_null(strstr(err, "Sanitizer"), "%s: sanitizer report:\n%s", what, err);
}

/* Reads stdout to its end and reaps the child (which has exited or is exiting). */
static void
proc_finish(Proc *p, const char *what)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_SECONDS * G_USEC_PER_SEC;
    while (!p->eof) {
        if (!proc_read(p, deadline)) {
            kill(p->pid, SIGKILL);
            g_autofree char *err = proc_stderr(p);
            cr_assert_fail("%s did not finish within %d s; output:\n%s\nstderr:\n%s", what,
                           WAIT_SECONDS, p->out->str, err);
        }
    }
    /* stdout closed: the process is gone or going */
    cr_assert_eq(waitpid(p->pid, &p->status, 0), p->pid, "waitpid: %s", g_strerror(errno));
    p->reaped = TRUE;
}

static void
proc_clear(Proc *p)
{
    if (!p->reaped && p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    if (p->out_fd > 0)
        close(p->out_fd);
    if (p->err_path) {
        g_unlink(p->err_path);
        g_free(p->err_path);
    }
    if (p->out)
        g_string_free(p->out, TRUE);
    g_spawn_close_pid(p->pid);
    memset(p, 0, sizeof *p);
}

/* --- the server ------------------------------------------------------------------------------- */

typedef struct {
    Proc proc;
    char *channel; /* the addresses it printed before READY */
    char *rpc;
    char *agent;
} Server;

static void
server_start(Server *s, const char *const *args)
{
    memset(s, 0, sizeof *s);
    proc_spawn(&s->proc, args);
    gint64 deadline = g_get_monotonic_time() + WAIT_SECONDS * G_USEC_PER_SEC;
    while (!strstr(s->proc.out->str, "READY\n")) {
        if (s->proc.eof || !proc_read(&s->proc, deadline)) {
            g_autofree char *err = proc_stderr(&s->proc);
            cr_assert_fail("the server printed no READY line (%s); output:\n%s\nstderr:\n%s",
                           s->proc.eof ? "it ended" : "deadline passed", s->proc.out->str, err);
        }
    }
    g_auto(GStrv) lines = g_strsplit(s->proc.out->str, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (g_str_has_prefix(*l, "channel "))
            s->channel = g_strdup(*l + 8);
        else if (g_str_has_prefix(*l, "rpc "))
            s->rpc = g_strdup(*l + 4);
        else if (g_str_has_prefix(*l, "agent "))
            s->agent = g_strdup(*l + 6);
    }
}

/* Stops the server with @signum (0 = it was signalled already) and requires a clean exit
 * (status 0: nothing leaked). */
static void
server_stop(Server *s, int signum)
{
    if (signum)
        kill(s->proc.pid, signum);
    proc_finish(&s->proc, "the server after a stop signal");
    g_autofree char *err = proc_stderr(&s->proc);
    assert_no_sanitizer_report("the server", err);
    cr_assert(WIFEXITED(s->proc.status) && WEXITSTATUS(s->proc.status) == 0,
              "the server did not exit cleanly (status 0x%x); stderr:\n%s", s->proc.status, err);
    proc_clear(&s->proc);
    g_free(s->channel);
    g_free(s->rpc);
    g_free(s->agent);
    memset(s, 0, sizeof *s);
}

/* --- the probe -------------------------------------------------------------------------------- */

typedef struct {
    int exit_code; /* -1 when killed by a signal */
    char *out;
    char *err;
    guint passed, failed;
    gboolean have_summary;
} ProbeResult;

static void
probe_result_clear(ProbeResult *r)
{
    g_free(r->out);
    g_free(r->err);
}

static void
run_probe(ProbeResult *r, const char *const *args)
{
    memset(r, 0, sizeof *r);
    Proc p;
    proc_spawn(&p, args);
    proc_finish(&p, "the probe");
    r->exit_code = WIFEXITED(p.status) ? WEXITSTATUS(p.status) : -1;
    r->out = g_strdup(p.out->str);
    r->err = proc_stderr(&p);
    proc_clear(&p);
    assert_no_sanitizer_report("the probe", r->err);
    /* the summary is the last line */
    g_auto(GStrv) lines = g_strsplit(r->out, "\n", -1);
    guint n = g_strv_length(lines);
    const char *last = n >= 2 ? lines[n - 2] : "";
    r->have_summary = sscanf(last, "%u passed, %u failed", &r->passed, &r->failed) == 2;
}

/* The FAIL lines of a probe's output, for messages. */
static char *
fail_lines(const char *out)
{
    GString *s = g_string_new(NULL);
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
    for (char **l = lines; *l; l++)
        if (g_str_has_prefix(*l, "FAIL "))
            g_string_append_printf(s, "%s\n", *l);
    return g_string_free(s, FALSE);
}

/* How many checks a full probe runs at least: every basic value on both layers plus the
 * rest, on all three layers (counted from the checklist; more is fine). */
#define MIN_CHECKS 110

static void
assert_all_pass(const ProbeResult *r, guint min_checks)
{
    g_autofree char *fails = fail_lines(r->out);
    cr_assert(r->have_summary, "no 'N passed, M failed' line; output:\n%s\nstderr:\n%s", r->out,
              r->err);
    cr_assert_eq(r->failed, 0, "%u check(s) failed:\n%s", r->failed, fails);
    cr_assert_eq(*fails, '\0', "FAIL lines:\n%s", fails);
    cr_assert_geq(r->passed, min_checks, "only %u checks ran:\n%s", r->passed, r->out);
    cr_assert_eq(r->exit_code, 0, "the probe exited with %d; stderr:\n%s", r->exit_code, r->err);
}

static void
assert_line(const ProbeResult *r, const char *line)
{
    g_autofree char *needle = g_strdup_printf("\n%s\n", line);
    g_autofree char *hay = g_strdup_printf("\n%s", r->out);
    cr_assert(strstr(hay, needle), "no line '%s' in the probe's output:\n%s", line, r->out);
}

/* --- whole runs ------------------------------------------------------------------------------- */

static void
serve_and_probe(const char *codec, const char *channel, const char *rpc, const char *agent,
                const CamasTestCerts *certs, int stop_signal)
{
    g_autofree char *server_tls = NULL, *client_tls = NULL;
    if (certs) {
        server_tls = g_strdup_printf("%s,%s,%s", certs->ca, certs->server_cert, certs->server_key);
        client_tls = g_strdup_printf("%s,%s,%s", certs->ca, certs->client_cert, certs->client_key);
    }
    const char *sargs[] = {"interop", "serve", "--codec", codec,  "--channel",
                           channel,   "--rpc",   rpc,     "--agent", agent,
                           certs ? "--tls" : NULL,        server_tls, NULL};
    Server s;
    server_start(&s, sargs);
    cr_assert_not_null(s.channel, "no 'channel ADDR' line before READY:\n%s", s.proc.out->str);
    cr_assert_not_null(s.rpc, "no 'rpc ADDR' line before READY:\n%s", s.proc.out->str);
    cr_assert_not_null(s.agent, "no 'agent ADDR' line before READY:\n%s", s.proc.out->str);
    const char *pargs[] = {"interop", "probe", "--codec", codec,    "--channel",
                           s.channel, "--rpc",  s.rpc,   "--agent", s.agent,
                           "--timeout", "30",   certs ? "--tls" : NULL,        client_tls, NULL};
    ProbeResult r;
    run_probe(&r, pargs);
    assert_all_pass(&r, MIN_CHECKS);
    assert_line(&r, "PASS channel.raw.split-bytes");
    assert_line(&r, "PASS rpc.raw.frames-in-one-write");
    assert_line(&r, "PASS rpc.concurrent-out-of-order");
    assert_line(&r, "PASS rpc.10mb-from-server");
    assert_line(&r, "PASS agent.validate-aid");
    assert_line(&r, "PASS agent.shift-date");
    assert_line(&r, "PASS agent.ping-back");
    assert_line(&r, "PASS agent.call-peer.to-probe");
    if (certs) {
        assert_line(&r, "PASS agent.tls.negotiated");
        assert_line(&r, "PASS channel.tls.negotiated");
        assert_line(&r, "PASS rpc.tls.negotiated");
        assert_line(&r, "PASS rpc.tls.python-client");
        assert_line(&r, "PASS rpc.tls.client-cert-required");
    }
    if (strcmp(codec, "json") != 0)
        assert_line(&r, "PASS rpc.echo.bytes.all-256");
    probe_result_clear(&r);
    server_stop(&s, stop_signal);
}

Test(interop, every_check_passes_over_tcp_with_json)
{
    serve_and_probe("json", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", NULL, SIGTERM);
}

Test(interop, every_check_passes_over_tcp_with_msgpack)
{
    serve_and_probe("msgpack", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", NULL, SIGINT);
}

Test(interop, every_check_passes_over_tcp_with_msgpack_blosc)
{
    serve_and_probe("msgpack-blosc", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", NULL,
                    SIGTERM);
}

Test(interop, every_check_passes_over_unix_sockets_with_every_codec)
{
    static const char *const codecs[] = {"json", "msgpack", "msgpack-blosc"};
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("camas-interop-XXXXXX", &error);
    cr_assert_not_null(dir, "%s", error ? error->message : "");
    for (gsize i = 0; i < G_N_ELEMENTS(codecs); i++) {
        g_autofree char *ch = g_strdup_printf("unix:%s/channel-%s.sock", dir, codecs[i]);
        g_autofree char *rpc = g_strdup_printf("unix:%s/rpc-%s.sock", dir, codecs[i]);
        g_autofree char *agent = g_strdup_printf("unix:%s/agent-%s.sock", dir, codecs[i]);
        serve_and_probe(codecs[i], ch, rpc, agent, NULL, SIGINT);
    }
    /* the servers removed their socket files */
    cr_assert_eq(g_rmdir(dir), 0, "%s: %s", dir, g_strerror(errno));
}

Test(interop, every_check_passes_over_tls_with_every_codec)
{
    static const char *const codecs[] = {"json", "msgpack", "msgpack-blosc"};
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasTestCerts) certs = camas_test_certs_new(&error);
    cr_assert_not_null(certs, "%s", error ? error->message : "");
    for (gsize i = 0; i < G_N_ELEMENTS(codecs); i++)
        serve_and_probe(codecs[i], "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", certs, SIGTERM);
}

Test(interop, every_check_passes_over_ipv6_loopback)
{
    /* Only where the host has an IPv6 loopback: otherwise the bind fails, which is the host's
     * limit, not camas'. */
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    gboolean have_v6 = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    if (!have_v6) {
        cr_log_warn("no IPv6 loopback on this host; IPv4 and Unix sockets are covered above");
        return;
    }
    serve_and_probe("msgpack", "[::1]:0", "[::1]:0", "[::1]:0", NULL, SIGTERM);
}

/* --- a misbehaving server --------------------------------------------------------------------- */

typedef enum {
    BAD_WRONG_ANSWERS, /* every request gets the RESULT "wrong" */
    BAD_SILENT,        /* reads everything, never answers */
    BAD_HANG_UP,       /* closes the connection at the first request */
} BadMode;

typedef struct {
    BadMode mode;
    const char *codec;
    int listen_fd;
    guint16 port;
    gint stop;
    GThread *thread;
} BadServer;

typedef struct {
    int fd;
    CamasFrameParser *parser;
} BadConn;

static void
bad_conn_close(BadConn *c)
{
    close(c->fd);
    camas_frame_parser_free(c->parser);
    c->fd = -1;
    c->parser = NULL;
}

/* Handles what arrived on @c; FALSE when the connection is to be dropped. */
static gboolean
bad_serve_bytes(BadServer *bs, CamasCodec *codec, BadConn *c, const guint8 *data, gsize len)
{
    camas_frame_parser_feed(c->parser, data, len);
    for (;;) {
        g_autoptr(GBytes) payload = camas_frame_parser_next(c->parser, NULL);
        if (!payload)
            return TRUE;
        CamasMsgType type;
        g_autoptr(CamasValue) id = NULL, content = NULL;
        gsize n;
        const guint8 *d = g_bytes_get_data(payload, &n);
        if (!camas_frame_decode(codec, d, n, &type, &id, &content, NULL))
            return FALSE;
        if (type != CAMAS_MSG_REQUEST || bs->mode == BAD_SILENT)
            continue;
        if (bs->mode == BAD_HANG_UP)
            return FALSE;
        g_autoptr(CamasValue) wrong = camas_value_new_str("wrong");
        g_autoptr(GBytes) frame = camas_frame_encode(codec, CAMAS_MSG_RESULT, id, wrong, 0, NULL);
        if (!frame || send(c->fd, g_bytes_get_data(frame, NULL), g_bytes_get_size(frame),
                           MSG_NOSIGNAL) != (ssize_t)g_bytes_get_size(frame))
            return FALSE;
    }
}

static gpointer
bad_server_run(gpointer data)
{
    BadServer *bs = data;
    CamasCodec *codec = camas_codec_new(bs->codec, NULL);
    GArray *conns = g_array_new(FALSE, FALSE, sizeof(BadConn));
    while (!g_atomic_int_get(&bs->stop)) {
        struct pollfd *pfds = g_new(struct pollfd, conns->len + 1);
        pfds[0] = (struct pollfd){.fd = bs->listen_fd, .events = POLLIN};
        for (guint i = 0; i < conns->len; i++)
            pfds[i + 1] = (struct pollfd){.fd = g_array_index(conns, BadConn, i).fd,
                                          .events = POLLIN};
        /* wakes regularly to see the stop flag */
        guint n_polled = conns->len;
        int r = poll(pfds, n_polled + 1, 20);
        for (guint i = 0; r > 0 && i < n_polled; i++) {
            if (!(pfds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            BadConn *c = &g_array_index(conns, BadConn, i);
            guint8 buf[65536];
            ssize_t n = recv(c->fd, buf, sizeof buf, 0);
            if (n <= 0 || !bad_serve_bytes(bs, codec, c, buf, (gsize)n))
                bad_conn_close(c);
        }
        if (r > 0 && (pfds[0].revents & POLLIN)) {
            int fd = accept(bs->listen_fd, NULL, NULL);
            if (fd >= 0) {
                BadConn c = {fd, camas_frame_parser_new(0)};
                g_array_append_val(conns, c);
            }
        }
        g_free(pfds);
        for (guint i = conns->len; i-- > 0;)
            if (g_array_index(conns, BadConn, i).fd < 0)
                g_array_remove_index(conns, i);
    }
    for (guint i = 0; i < conns->len; i++)
        bad_conn_close(&g_array_index(conns, BadConn, i));
    g_array_unref(conns);
    camas_codec_unref(codec);
    return NULL;
}

static void
bad_server_start(BadServer *bs, BadMode mode, const char *codec)
{
    memset(bs, 0, sizeof *bs);
    bs->mode = mode;
    bs->codec = codec;
    bs->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(bs->listen_fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(bs->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(bs->listen_fd, 64), 0);
    cr_assert_eq(getsockname(bs->listen_fd, (struct sockaddr *)&a, &len), 0);
    bs->port = ntohs(a.sin_port);
    bs->thread = g_thread_new("bad-server", bad_server_run, bs);
}

static void
bad_server_stop(BadServer *bs)
{
    g_atomic_int_set(&bs->stop, 1);
    g_thread_join(bs->thread);
    close(bs->listen_fd);
}

Test(interop, probe_fails_against_a_server_that_answers_wrongly)
{
    BadServer bs;
    bad_server_start(&bs, BAD_WRONG_ANSWERS, "json");
    g_autofree char *addr = g_strdup_printf("127.0.0.1:%u", bs.port);
    const char *args[] = {"interop", "probe", "--codec", "json", "--channel", addr, "--rpc",
                          addr, "--agent", addr, "--timeout", "10", NULL};
    ProbeResult r;
    run_probe(&r, args);
    bad_server_stop(&bs);
    cr_assert(r.have_summary, "no summary line:\n%s\n%s", r.out, r.err);
    cr_assert_eq(r.exit_code, 1, "exit code %d:\n%s", r.exit_code, r.out);
    /* Only connecting works (aiomas accepts any validate_aid answer but null); every answer
     * is wrong. */
    cr_assert_eq(r.passed, 3, "expected only the three connect checks to pass:\n%s", r.out);
    cr_assert_geq(r.failed, MIN_CHECKS - 3);
    assert_line(&r, "PASS agent.connect");
    assert_line(&r, "FAIL agent.validate-aid: validate_aid['0']: got 'wrong', expected "
                    "'EchoAgent'");
    g_autofree char *unknown = g_strdup_printf(
        "FAIL agent.unknown-agent: connecting to tcp://127.0.0.1:%u/42 succeeded", bs.port);
    assert_line(&r, unknown);
    assert_line(&r, "PASS channel.connect");
    assert_line(&r, "FAIL channel.roundtrip.int.small: got 'wrong', expected ['reply', 42]");
    assert_line(&r, "FAIL rpc.echo.null: got 'wrong', expected None");
    assert_line(&r, "FAIL channel.failure: succeeded with 'wrong'");
    assert_line(&r, "FAIL rpc.failure.value-error: fail() succeeded with 'wrong' instead of "
                    "failing");
    assert_line(&r, "FAIL rpc.raw.split-bytes: request 0: got 'wrong', expected 101");
    probe_result_clear(&r);
}

Test(interop, probe_gives_up_on_a_silent_server_at_its_deadline)
{
    BadServer bs;
    bad_server_start(&bs, BAD_SILENT, "msgpack");
    g_autofree char *addr = g_strdup_printf("127.0.0.1:%u", bs.port);
    const char *args[] = {"interop", "probe", "--codec", "msgpack", "--channel", addr, "--rpc",
                          addr, "--timeout", "0.5", "--only",
                          "rpc.connect,rpc.echo.int.small,rpc.concurrent-*,channel.raw.*", NULL};
    gint64 start = g_get_monotonic_time();
    ProbeResult r;
    run_probe(&r, args);
    double elapsed = (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
    bad_server_stop(&bs);
    cr_assert_eq(r.exit_code, 1, "exit code %d:\n%s\n%s", r.exit_code, r.out, r.err);
    assert_line(&r, "PASS rpc.connect");
    assert_line(&r, "FAIL rpc.echo.int.small: no answer within 0.5 s (--timeout)");
    assert_line(&r, "FAIL rpc.concurrent-out-of-order: no answer within 0.5 s (--timeout)");
    assert_line(&r, "FAIL channel.raw.split-bytes: reply 1 of 1: no progress before the "
                    "deadline");
    assert_line(&r, "FAIL channel.raw.frames-in-one-write: reply 1 of 4: no progress before "
                    "the deadline");
    assert_line(&r, "1 passed, 4 failed");
    /* five checks of 0.5 s each, plus starting and stopping: bounded, not hung */
    cr_assert_lt(elapsed, 30.0, "the probe took %.1f s", elapsed);
    probe_result_clear(&r);
}

Test(interop, probe_fails_against_a_server_that_hangs_up)
{
    BadServer bs;
    bad_server_start(&bs, BAD_HANG_UP, "msgpack-blosc");
    g_autofree char *addr = g_strdup_printf("127.0.0.1:%u", bs.port);
    const char *args[] = {"interop", "probe", "--codec", "msgpack-blosc", "--channel", addr,
                          "--timeout", "10", "--only",
                          "channel.connect,channel.roundtrip.null,channel.raw.split-bytes", NULL};
    ProbeResult r;
    run_probe(&r, args);
    bad_server_stop(&bs);
    cr_assert_eq(r.exit_code, 1, "exit code %d:\n%s\n%s", r.exit_code, r.out, r.err);
    assert_line(&r, "PASS channel.connect");
    assert_line(&r, "FAIL channel.roundtrip.null: Connection closed");
    assert_line(&r, "FAIL channel.raw.split-bytes: reply 1 of 1: the server closed the "
                    "connection");
    assert_line(&r, "1 passed, 2 failed");
    probe_result_clear(&r);
}

Test(interop, probe_fails_when_the_codecs_differ_and_the_server_survives_it)
{
    const char *sargs[] = {"interop", "serve", "--codec", "msgpack", "--channel", "127.0.0.1:0",
                           NULL};
    Server s;
    server_start(&s, sargs);
    const char *bad_args[] = {"interop", "probe", "--codec", "json", "--channel", s.channel,
                              "--timeout", "10", "--only", "channel.roundtrip.*", NULL};
    ProbeResult r;
    run_probe(&r, bad_args);
    cr_assert_eq(r.exit_code, 1, "exit code %d:\n%s", r.exit_code, r.out);
    cr_assert_eq(r.passed, 0, "%s", r.out);
    cr_assert_geq(r.failed, 20, "%s", r.out);
    probe_result_clear(&r);
    /* the server dropped those connections and still serves correct clients */
    const char *good_args[] = {"interop", "probe", "--codec", "msgpack", "--channel", s.channel,
                               "--timeout", "10", "--only", "channel.roundtrip.*", NULL};
    run_probe(&r, good_args);
    assert_all_pass(&r, 20);
    probe_result_clear(&r);
    server_stop(&s, SIGTERM);
}

Test(interop, probe_fails_with_a_certificate_the_server_does_not_trust)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasTestCerts) certs = camas_test_certs_new(&error);
    cr_assert_not_null(certs, "%s", error ? error->message : "");
    g_autofree char *server_tls =
        g_strdup_printf("%s,%s,%s", certs->ca, certs->server_cert, certs->server_key);
    const char *sargs[] = {"interop", "serve", "--codec", "json", "--rpc", "127.0.0.1:0",
                           "--tls", server_tls, NULL};
    Server s;
    server_start(&s, sargs);
    /* a certificate signed by another CA, trusting the right one */
    g_autofree char *stranger =
        g_strdup_printf("%s,%s,%s", certs->ca, certs->other_cert, certs->other_key);
    const char *args[] = {"interop", "probe", "--codec", "json", "--rpc", s.rpc, "--tls", stranger,
                          "--timeout", "5", "--only", "rpc.connect,rpc.echo.null", NULL};
    ProbeResult r;
    run_probe(&r, args);
    cr_assert_eq(r.exit_code, 1, "exit code %d:\n%s\n%s", r.exit_code, r.out, r.err);
    /* With TLS 1.2 the handshake fails; with 1.3 the client's handshake ends before the
     * server checked its certificate, and the refusal closes the connection at the first
     * call.  Either way no call is served. */
    cr_assert(strstr(r.out, "FAIL rpc.echo.null: "), "%s", r.out);
    cr_assert(strstr(r.out, "TLS"), "the reason is not named:\n%s", r.out);
    probe_result_clear(&r);
    /* and a plain client gets nothing from a TLS server */
    const char *plain[] = {"interop", "probe", "--codec", "json", "--rpc", s.rpc, "--timeout",
                           "3", "--only", "rpc.echo.null", NULL};
    run_probe(&r, plain);
    cr_assert_eq(r.exit_code, 1, "exit code %d:\n%s\n%s", r.exit_code, r.out, r.err);
    assert_line(&r, "0 passed, 1 failed");
    probe_result_clear(&r);
    server_stop(&s, SIGTERM);
}

/* A plain TCP connection to @address (tcp://HOST:PORT as the server printed it). */
static int
raw_connect(const char *address)
{
    g_autoptr(CamasAddress) a = camas_address_parse(address, NULL);
    cr_assert_not_null(a, "%s", address);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(a->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "%s", g_strerror(errno));
    return fd;
}

static void
raw_send(int fd, CamasCodec *codec, guint64 id, CamasValue *content)
{
    g_autoptr(CamasValue) c = content;
    g_autoptr(GBytes) f = camas_frame_encode_request(codec, id, c, 0, NULL);
    cr_assert_not_null(f);
    cr_assert_eq(send(fd, g_bytes_get_data(f, NULL), g_bytes_get_size(f), MSG_NOSIGNAL),
                 (ssize_t)g_bytes_get_size(f));
}

/* Waits (with a deadline) for the next frame and returns its content. */
static CamasValue *
raw_next_request(int fd, CamasCodec *codec, CamasFrameParser *parser)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_SECONDS * G_USEC_PER_SEC;
    for (;;) {
        g_autoptr(GBytes) payload = camas_frame_parser_next(parser, NULL);
        if (payload) {
            CamasMsgType type;
            g_autoptr(CamasValue) id = NULL;
            CamasValue *content = NULL;
            cr_assert(camas_frame_decode(codec, g_bytes_get_data(payload, NULL),
                                         g_bytes_get_size(payload), &type, &id, &content, NULL));
            cr_assert_eq(type, CAMAS_MSG_REQUEST);
            return content;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        gint64 now = g_get_monotonic_time();
        cr_assert_lt(now, deadline, "no request from the server");
        if (poll(&pfd, 1, (int)((deadline - now) / 1000 + 1)) <= 0)
            continue;
        guint8 buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        cr_assert_gt(n, 0, "the server closed the connection");
        camas_frame_parser_feed(parser, buf, (gsize)n);
    }
}

/* Reads (with a deadline) until the server closes the connection; no more requests come. */
static void
raw_wait_for_end(int fd, CamasFrameParser *parser)
{
    gint64 deadline = g_get_monotonic_time() + WAIT_SECONDS * G_USEC_PER_SEC;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        gint64 now = g_get_monotonic_time();
        cr_assert_lt(now, deadline, "the server did not close the connection");
        if (poll(&pfd, 1, (int)((deadline - now) / 1000 + 1)) <= 0)
            continue;
        guint8 buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        camas_frame_parser_feed(parser, buf, (gsize)n);
    }
    cr_assert_eq(camas_frame_parser_get_buffered(parser), 0, "a partial frame before the end");
}

Test(interop, serve_exits_cleanly_with_calls_still_waiting)
{
    const char *sargs[] = {"interop", "serve", "--codec", "json", "--channel", "127.0.0.1:0",
                           "--rpc", "127.0.0.1:0", NULL};
    Server s;
    server_start(&s, sargs);
    g_autoptr(CamasCodec) codec = camas_codec_new("json", NULL);
    g_autoptr(CamasFrameParser) cp = camas_frame_parser_new(0);
    g_autoptr(CamasFrameParser) rp = camas_frame_parser_new(0);
    int ch = raw_connect(s.channel), rpc = raw_connect(s.rpc);
    /* a long sleep, and a callback this client never answers, on both layers */
    raw_send(ch, codec, 0, camas_value_build("[s i s]", "__sleep__", 100, "x"));
    raw_send(ch, codec, 1, camas_value_build("[s i]", "__callback__", 5));
    raw_send(rpc, codec, 0, camas_value_build("[s [i s] {}]", "sleep_echo", 100, "y"));
    g_autoptr(CamasValue) root_path = camas_value_new_str("");
    raw_send(rpc, codec, 1, camas_value_build("[s [V s i] {}]", "callback",
                                              camas_value_new_ext(0, root_path), "nothing", 1));
    /* the server's own requests show it has taken up all four */
    g_autoptr(CamasValue) cb = raw_next_request(ch, codec, cp);
    g_autoptr(CamasValue) want_cb = camas_value_build("[s i]", "cb", 5);
    cr_assert(camas_value_equal(cb, want_cb));
    g_autoptr(CamasValue) call = raw_next_request(rpc, codec, rp);
    g_autoptr(CamasValue) want_call = camas_value_build("[s [i] {}]", "nothing", 1);
    cr_assert(camas_value_equal(call, want_call));
    /* Stopping now drops everything still waiting: the server closes both connections (this
     * client sees their end and closes too, as aiomas peers do), and nothing leaks (exit
     * status 0). */
    kill(s.proc.pid, SIGTERM);
    raw_wait_for_end(ch, cp);
    raw_wait_for_end(rpc, rp);
    close(ch);
    close(rpc);
    server_stop(&s, 0);
}

/* --- command lines ---------------------------------------------------------------------------- */

typedef struct {
    const char *args[12];
    const char *message; /* a part of the one-line error */
} BadLine;

Test(interop, bad_command_lines_exit_2_with_one_line_naming_the_flag)
{
    static const BadLine cases[] = {
        {{"interop", NULL}, "usage"},
        {{"interop", "listen", NULL}, "unknown subcommand 'listen'"},
        {{"interop", "serve", "--rpc", "127.0.0.1:0", NULL}, "--codec is required"},
        {{"interop", "serve", "--codec", "yaml", "--rpc", "127.0.0.1:0", NULL},
         "--codec: unknown codec 'yaml'"},
        {{"interop", "serve", "--codec", "json", NULL}, "nothing to do"},
        {{"interop", "serve", "--codec", "json", "--rpc", NULL}, "--rpc needs a value"},
        {{"interop", "serve", "--codec", "json", "--rpc", "localhost", NULL},
         "--rpc: bad address 'localhost'"},
        {{"interop", "probe", "--codec", "json", "--channel", "127.0.0.1:99999", NULL},
         "--channel: bad address"},
        {{"interop", "serve", "--codec", "json", "--rpc", "local://q", NULL},
         "--rpc: 'local://q' is an in-process LocalQueue address"},
        {{"interop", "serve", "--codec", "json", "--rpc", "127.0.0.1:0", "--rpc", "127.0.0.1:0",
          NULL},
         "--rpc given twice"},
        {{"interop", "serve", "--codec", "json", "--rpc", "127.0.0.1:0", "--tls", "a,b", NULL},
         "--tls: expected CAFILE,CERTFILE,KEYFILE"},
        {{"interop", "serve", "--codec", "json", "--rpc", "127.0.0.1:0", "--tls",
          "/nonexistent/ca,/nonexistent/c,/nonexistent/k", NULL},
         "--tls: CA file '/nonexistent/ca' does not exist"},
        {{"interop", "serve", "--codec", "json", "--rpc", "127.0.0.1:0", "--timeout", "1", NULL},
         "--timeout applies only to `camas interop probe`"},
        {{"interop", "probe", "--codec", "json", "--rpc", "127.0.0.1:1", "--timeout", "-1", NULL},
         "--timeout: expected seconds"},
        {{"interop", "probe", "--codec", "json", "--rpc", "127.0.0.1:1", "--frobnicate", NULL},
         "unknown option '--frobnicate'"},
        {{"interop", "probe", "--codec", "json", "--rpc", "127.0.0.1:1", "extra", NULL},
         "unexpected argument 'extra'"},
        {{"interop", "probe", "--codec", "json", "--rpc", "127.0.0.1:1", "--only", "nothing.*",
          NULL},
         "--only: no check matches"},
        {{"interop", "serve", "--codec", "json", "--agent", "unix:", NULL}, "--agent: bad address"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        ProbeResult r;
        run_probe(&r, cases[i].args);
        g_autofree char *cmdline = g_strjoinv(" ", (char **)cases[i].args);
        cr_expect_eq(r.exit_code, 2, "`camas %s` exited with %d", cmdline, r.exit_code);
        cr_expect(strstr(r.err, cases[i].message), "`camas %s`: stderr lacks '%s':\n%s", cmdline,
                  cases[i].message, r.err);
        if (strcmp(cases[i].message, "usage") != 0) {
            const char *nl = strchr(r.err, '\n');
            cr_expect(nl && nl[1] == '\0', "`camas %s`: not one line:\n%s", cmdline, r.err);
        }
        probe_result_clear(&r);
    }
}

Test(interop, serve_reports_an_address_it_cannot_bind)
{
    const char *sargs[] = {"interop", "serve", "--codec", "json", "--channel", "127.0.0.1:0",
                           NULL};
    Server s;
    server_start(&s, sargs);
    /* the same port again */
    const char *args[] = {"interop", "serve", "--codec", "json", "--rpc", s.channel, NULL};
    ProbeResult r;
    run_probe(&r, args);
    cr_assert_eq(r.exit_code, 1, "exit code %d:\n%s", r.exit_code, r.err);
    cr_assert(strstr(r.err, "--rpc: cannot listen on"), "%s", r.err);
    cr_assert_null(strstr(r.out, "READY"), "%s", r.out);
    probe_result_clear(&r);
    server_stop(&s, SIGINT);
}
