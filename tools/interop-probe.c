/* SPDX-License-Identifier: MIT */
/*
 * `camas interop probe`: the checklist of conformance-service.md run as a client against any
 * server that implements the conformance service (`camas interop serve`, or a Python aiomas
 * server).  Each check runs in a task of its own on a real-time loop, bounded by a deadline
 * (--timeout): a check the server never answers is cancelled and reported, so a broken server
 * cannot hang the probe.  Checks that must control the bytes on the wire (a frame split into
 * single bytes, several frames in one write, a TLS client without a certificate) use a raw
 * socket of their own, with frames built by camas_frame_encode and read back by the frame
 * parser, and OpenSSL directly for TLS.
 *
 * Output: one `PASS <check>` or `FAIL <check>: <why>` line per check, then
 * `N passed, M failed`.  Exit status 0 only if nothing failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <glib/gstdio.h>

#include <camas/container.h>

#include "interop-private.h"

/* How many calls the concurrency checks keep in flight, and the delay step between them: call
 * i sleeps (N - i) * STEP, so call 0 is the slowest and would be the first answer if the
 * server answered in order. */
#define N_CONCURRENT 120
#define CONCURRENT_STEP 0.002
/* "A 10 MB message each way". */
#define LARGE_SIZE ((gsize)10 * 1024 * 1024)
/* Texts quoted in FAIL lines are cut here unless --verbose. */
#define QUOTE_MAX 160

typedef struct _Probe Probe;
typedef gboolean (*CheckFunc)(Probe *p, gconstpointer arg, GString *why);

/* The layers the probe checks, in the order it checks them; GINT_TO_POINTER(layer) is the arg
 * of the checks that run on more than one. */
typedef enum { LAYER_CHANNEL, LAYER_RPC, LAYER_AGENT } Layer;
static const char *const layer_names[] = {"channel", "rpc", "agent"};

struct _Probe {
    const CamasInteropOptions *opts;
    GMainContext *context;
    CamasLoop *loop;
    CamasClock *clock;
    CamasTlsContext *tls;        /* the client context, when --tls */
    gboolean bytes_ok;           /* msgpack codecs carry bytes */
    CamasCodec *channel_codec;   /* plain: a channel registers no serializers */
    CamasCodec *rpc_codec;       /* gets the RPC proxy serializer on the first connection */
    CamasChannel *channel;       /* reopened when a check finds it closed */
    CamasRpcConnection *rpc;
    CamasProxy *remote;          /* the server's root */
    CamasService *client_root;   /* what we serve to the server on the RPC connection */
    CamasService *client_sub;    /* its sub-service "sub" (owned by client_root) */
    CamasContainer *container;   /* --agent: our own container, made on first use */
    CamasAgent *probe_agent;     /* its agent "0", which the server's agents call back */
    char *container_dir;         /* the temporary directory of its socket (unix: agents) */
    char *agent_base;            /* the server container's address, canonical */
    CamasProxy *agents[2];       /* the server's agents "0" and "1" */
    gint64 deadline_us;          /* the running check's deadline, monotonic µs */
    gboolean retry_connect;      /* the running check retries refused connections */
    guint passed, failed;
};

/* --- small helpers ---------------------------------------------------------------------------- */

static CamasValue *
build(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    CamasValue *v = camas_value_build_va(format, &ap);
    va_end(ap);
    return v;
}

/* @text on one line, control characters escaped, cut to QUOTE_MAX unless verbose. */
static void
append_quoted(Probe *p, GString *out, const char *text, gssize len)
{
    gsize n = len < 0 ? strlen(text) : (gsize)len;
    gsize limit = p->opts->verbose ? n : MIN(n, (gsize)QUOTE_MAX);
    for (gsize i = 0; i < limit; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n')
            g_string_append(out, "\\n");
        else if (c < 0x20 || c == 0x7f)
            g_string_append_printf(out, "\\x%02x", c);
        else
            g_string_append_c(out, (char)c);
    }
    if (limit < n)
        g_string_append_printf(out, "... (%" G_GSIZE_FORMAT " bytes)", n);
}

static void
append_repr(Probe *p, GString *out, const CamasValue *v)
{
    if (v == NULL) {
        g_string_append(out, "nothing");
        return;
    }
    g_autofree char *r = camas_value_repr(v);
    append_quoted(p, out, r, -1);
}

/* Strict equality: the same type (list and tuple are the same on the wire), ints by value,
 * floats bit for bit (so -0.0 differs from 0.0; any NaN equals any NaN), maps in order. */
static gboolean
same(const CamasValue *got, const CamasValue *want)
{
    CamasValueType tg = camas_value_get_type(got), tw = camas_value_get_type(want);
    if (camas_value_is_sequence(got) && camas_value_is_sequence(want)) {
        gsize n = camas_value_get_length(got);
        if (n != camas_value_get_length(want))
            return FALSE;
        for (gsize i = 0; i < n; i++)
            if (!same(camas_value_get_item(got, i), camas_value_get_item(want, i)))
                return FALSE;
        return TRUE;
    }
    if (tg != tw)
        return FALSE;
    switch (tg) {
    case CAMAS_VALUE_NULL:
        return TRUE;
    case CAMAS_VALUE_BOOL:
        return !camas_value_get_bool(got) == !camas_value_get_bool(want);
    case CAMAS_VALUE_INT:
        return camas_value_int_is_unsigned(got) == camas_value_int_is_unsigned(want) &&
               camas_value_get_uint(got) == camas_value_get_uint(want);
    case CAMAS_VALUE_FLOAT: {
        double a = camas_value_get_float(got), b = camas_value_get_float(want);
        if (isnan(a) || isnan(b))
            return isnan(a) && isnan(b);
        return memcmp(&a, &b, sizeof a) == 0;
    }
    case CAMAS_VALUE_STR:
    case CAMAS_VALUE_BYTES: {
        gsize la = camas_value_get_length(got), lb = camas_value_get_length(want);
        const void *da = tg == CAMAS_VALUE_STR ? (const void *)camas_value_get_str(got, NULL)
                                               : (const void *)camas_value_get_bytes(got, NULL);
        const void *db = tg == CAMAS_VALUE_STR ? (const void *)camas_value_get_str(want, NULL)
                                               : (const void *)camas_value_get_bytes(want, NULL);
        return la == lb && memcmp(da, db, la) == 0;
    }
    case CAMAS_VALUE_MAP: {
        gsize n = camas_value_get_length(got);
        if (n != camas_value_get_length(want))
            return FALSE;
        for (gsize i = 0; i < n; i++)
            if (!same(camas_value_map_get_key(got, i), camas_value_map_get_key(want, i)) ||
                !same(camas_value_map_get_value(got, i), camas_value_map_get_value(want, i)))
                return FALSE;
        return TRUE;
    }
    case CAMAS_VALUE_EXT:
        return camas_value_ext_get_type_id(got) == camas_value_ext_get_type_id(want) &&
               same(camas_value_ext_get_data(got), camas_value_ext_get_data(want));
    default: {
        /* dates: the same instant shown with the same offset */
        gint64 ng, nw;
        gint32 og, ow;
        if (camas_date_value_get(got, &ng, &og) && camas_date_value_get(want, &nw, &ow))
            return ng == nw && og == ow;
        return camas_value_equal(got, want);
    }
    }
}

static void
prepend_printf(GString *why, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
prepend_printf(GString *why, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autofree char *s = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_string_prepend(why, s);
}

/* TRUE when @got is @want; else FALSE with "got ..., expected ..." in @why. */
static gboolean
expect_value(Probe *p, GString *why, const CamasValue *got, const CamasValue *want)
{
    if (got && same(got, want))
        return TRUE;
    g_string_append(why, "got ");
    append_repr(p, why, got);
    g_string_append(why, ", expected ");
    append_repr(p, why, want);
    return FALSE;
}

static void
append_error(Probe *p, GString *why, const GError *error)
{
    const char *text = camas_error_get_remote_text(error);
    if (text) {
        g_string_append(why, "the server failed: ");
        append_quoted(p, why, text, -1);
    } else {
        append_quoted(p, why, error->message, -1);
    }
}

/* append_error() for a call on @ch: a lost connection also says why it was lost. */
static void
append_call_error(Probe *p, GString *why, const GError *error, CamasChannel *ch)
{
    append_error(p, why, error);
    const GError *reason = ch ? camas_channel_get_close_error(ch) : NULL;
    if (g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED) && reason &&
        strcmp(reason->message, error->message) != 0) {
        g_string_append(why, " (");
        append_quoted(p, why, reason->message, -1);
        g_string_append(why, ")");
    }
}

/* The last non-empty line of a failure text. */
static char *
last_line(const char *text)
{
    gsize n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    gsize start = n;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    return g_strndup(text + start, n - start);
}

/* --- connections ------------------------------------------------------------------------------ */

static CamasChannelOptions
channel_options(Probe *p, const char *address)
{
    CamasChannelOptions o = {0};
    if (p->tls && camas__interop_address_is_tcp(address))
        o.transport.tls = p->tls;
    /* The connect checks give a server that is still starting until their deadline; every
     * other check makes one attempt, so a server that is gone fails them fast. */
    if (p->retry_connect) {
        gint64 left = (p->deadline_us - g_get_monotonic_time()) * 1000;
        o.connect_deadline = camas_clock_now(p->clock) + MAX(left, 0);
    }
    return o;
}

/* Our side of the channel layer: the server's ["cb", x] requests get ["client", x]. */
static void
client_channel_request(CamasChannel *channel, CamasRequest *req, gpointer data)
{
    CamasValue *c = camas_request_get_content(req);
    if (camas_value_is_sequence(c) && camas_value_get_length(c) == 2 &&
        camas_value_get_type(camas_value_get_item(c, 0)) == CAMAS_VALUE_STR &&
        !strcmp(camas_value_get_str(camas_value_get_item(c, 0), NULL), "cb")) {
        camas_request_reply_take(req, build("[s v]", "client", camas_value_get_item(c, 1)));
        return;
    }
    camas_request_fail_text(req, "ValueError", "the probe expected [\"cb\", x] requests");
}

static void
drop_channel(Probe *p)
{
    if (p->channel)
        camas_channel_close(p->channel);
    g_clear_pointer(&p->channel, camas_channel_unref);
}

static void
drop_rpc(Probe *p)
{
    g_clear_pointer(&p->remote, camas_proxy_unref);
    if (p->rpc)
        camas_rpc_connection_close(p->rpc);
    g_clear_pointer(&p->rpc, camas_rpc_connection_unref);
}

/* Says in @why that @address could not be reached and why (@error).  Returns NULL. */
static gpointer
cannot_connect(Probe *p, GString *why, const char *address, const GError *error)
{
    g_string_append_printf(why, "cannot connect to %s: ", address);
    append_error(p, why, error);
    return NULL;
}

/* (inside a check) The channel connection, opened anew if there is none or it closed. */
static CamasChannel *
channel(Probe *p, GString *why)
{
    if (p->channel && !camas_channel_is_closed(p->channel))
        return p->channel;
    drop_channel(p);
    CamasChannelOptions o = channel_options(p, p->opts->channel);
    g_autoptr(GError) error = NULL;
    p->channel =
        camas_channel_open_await(p->loop, p->opts->channel, p->channel_codec, &o, &error);
    if (!p->channel)
        return cannot_connect(p, why, p->opts->channel, error);
    camas_channel_set_request_func(p->channel, client_channel_request, NULL, NULL);
    return p->channel;
}

/* (inside a check) The server's root proxy, connecting anew if needed. */
static CamasProxy *
remote(Probe *p, GString *why)
{
    if (!p->rpc || camas_rpc_connection_is_closed(p->rpc)) {
        drop_rpc(p);
        CamasChannelOptions o = channel_options(p, p->opts->rpc);
        g_autoptr(GError) error = NULL;
        p->rpc = camas_rpc_open_await(p->loop, p->opts->rpc, p->rpc_codec, p->client_root, &o,
                                      &error);
        if (!p->rpc)
            return cannot_connect(p, why, p->opts->rpc, error);
        p->remote = camas_rpc_connection_get_remote(p->rpc);
    }
    return p->remote;
}

/* --- calls ------------------------------------------------------------------------------------ */

/* (inside a check) Sends @content (stolen) on the channel; the reply, or NULL with @why. */
static CamasValue *
send_ok(Probe *p, CamasValue *content, GString *why)
{
    g_autoptr(CamasValue) c = content;
    CamasChannel *ch = channel(p, why);
    if (!ch)
        return NULL;
    g_autoptr(GError) error = NULL;
    CamasValue *r = camas_channel_send_await(ch, c, &error);
    if (!r)
        append_call_error(p, why, error, ch);
    return r;
}

/* Where a call goes: the server's root (ROOT) or one of its agents, "0" or "1". */
#define ROOT (-1)

static CamasProxy *agent(Probe *p, guint aid, GString *why);
static CamasChannel *agent_channel(Probe *p, guint aid);

/* Names a call of @method on @to in @why ("agent 1: add()" or "add()"), then @then. */
static void
append_call(GString *why, int to, const char *method, const char *then)
{
    if (to != ROOT)
        g_string_append_printf(why, "agent %d: ", to);
    g_string_append_printf(why, "%s()%s", method, then);
}

/* append_call_error() for a call on @to's connection. */
static void
append_target_error(Probe *p, GString *why, int to, const GError *error)
{
    CamasChannel *ch = to != ROOT ? agent_channel(p, (guint)to)
                       : p->rpc   ? camas_rpc_connection_get_channel(p->rpc)
                                  : NULL;
    append_call_error(p, why, error, ch);
}

/* (inside a check) Calls @method on @to with @args and @kwargs (stolen, nullable).  Returns the
 * result, else NULL with @error, or with nothing in @error when @to could not be reached
 * (@why says why). */
static CamasValue *
call_await(Probe *p, int to, const char *method, CamasValue *args, CamasValue *kwargs,
           GString *why, GError **error)
{
    g_autoptr(CamasValue) a = args;
    g_autoptr(CamasValue) k = kwargs;
    CamasProxy *px = to == ROOT ? remote(p, why) : agent(p, (guint)to, why);
    return px ? camas_proxy_call_await(px, method, a, k, error) : NULL;
}

/* A call that must succeed: the result, or NULL with @why. */
static CamasValue *
call_on(Probe *p, int to, const char *method, CamasValue *args, CamasValue *kwargs, GString *why)
{
    g_autoptr(GError) error = NULL;
    CamasValue *v = call_await(p, to, method, args, kwargs, why, &error);
    if (!v && error) {
        append_call(why, to, method, ": ");
        append_target_error(p, why, to, error);
    }
    return v;
}

/* A call that must fail remotely: the failure text (transfer full), or NULL with @why. */
static char *
fail_on(Probe *p, int to, const char *method, CamasValue *args, CamasValue *kwargs, GString *why)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasValue) v = call_await(p, to, method, args, kwargs, why, &error);
    if (v) {
        append_call(why, to, method, " succeeded with ");
        append_repr(p, why, v);
        g_string_append(why, " instead of failing");
        return NULL;
    }
    if (error && !g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_REMOTE)) {
        append_call(why, to, method, ": no failure reply: ");
        append_target_error(p, why, to, error);
        return NULL;
    }
    return error ? g_strdup(camas_error_get_remote_text(error)) : NULL;
}

/* call_on() and compare with @want; @args, @kwargs and @want are stolen. */
static gboolean
expect_on(Probe *p, GString *why, int to, const char *method, CamasValue *args,
          CamasValue *kwargs, CamasValue *want)
{
    g_autoptr(CamasValue) w = want;
    g_autoptr(CamasValue) got = call_on(p, to, method, args, kwargs, why);
    if (!got)
        return FALSE;
    if (!expect_value(p, why, got, w)) {
        g_autoptr(GString) call = g_string_new(NULL);
        append_call(call, to, method, ": ");
        g_string_prepend(why, call->str);
        return FALSE;
    }
    return TRUE;
}

/* The same three on the server's root. */
static CamasValue *
call_ok(Probe *p, const char *method, CamasValue *args, CamasValue *kwargs, GString *why)
{
    return call_on(p, ROOT, method, args, kwargs, why);
}

static char *
call_fail(Probe *p, const char *method, CamasValue *args, CamasValue *kwargs, GString *why)
{
    return fail_on(p, ROOT, method, args, kwargs, why);
}

static gboolean
expect_call(Probe *p, GString *why, const char *method, CamasValue *args, CamasValue *kwargs,
            CamasValue *want)
{
    return expect_on(p, why, ROOT, method, args, kwargs, want);
}

/* (inside a check) A call on @proxy, a proxy the server handed out named @label in @why, that
 * must return @want; @args and @want are stolen. */
static gboolean
expect_proxy_call(Probe *p, GString *why, CamasProxy *proxy, const char *label,
                  const char *method, CamasValue *args, CamasValue *want)
{
    g_autoptr(CamasValue) a = args;
    g_autoptr(CamasValue) w = want;
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasValue) got = camas_proxy_call_await(proxy, method, a, NULL, &error);
    if (!got) {
        g_string_append_printf(why, "%s.%s(): ", label, method);
        append_call_error(p, why, error, camas_rpc_connection_get_channel(p->rpc));
        return FALSE;
    }
    return expect_value(p, why, got, w);
}

/* Checks an RPC failure text: the traceback header, and a last line that starts with
 * "<name>: " and contains @needle (nullable). */
static gboolean
expect_failure(Probe *p, GString *why, const char *text, const char *name, const char *needle,
               gboolean traceback)
{
    if (text == NULL)
        return FALSE;
    g_autofree char *last = last_line(text);
    g_autofree char *prefix = g_strdup_printf("%s: ", name);
    gboolean ok = g_str_has_prefix(last, prefix) && (!needle || strstr(last, needle));
    if (ok && traceback && !g_str_has_prefix(text, "Traceback (most recent call last):\n")) {
        g_string_append(why, "the failure text does not start with "
                             "'Traceback (most recent call last):': ");
        append_quoted(p, why, text, -1);
        return FALSE;
    }
    if (!ok) {
        g_string_append_printf(why, "expected a last line '%s: %s%s', got: ", name,
                               needle ? "...": "", needle ? needle : "...");
        append_quoted(p, why, last, -1);
    }
    return ok;
}

/* --- the basic values ------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    gboolean bytes; /* needs a codec that carries bytes */
} ValueCase;

static const ValueCase value_cases[] = {
    {"null"}, {"true"}, {"false"},
    {"int.zero"}, {"int.small"}, {"int.negative"},
    {"int.int64-max"}, {"int.int64-min"}, {"int.uint64-max"},
    {"float.one"}, {"float.fraction"}, {"float.negative-zero"}, {"float.nan"},
    {"float.infinity"}, {"float.-infinity"}, {"float.smallest-subnormal"}, {"float.largest"},
    {"float.1e16"},
    {"str.empty"}, {"str.ascii"}, {"str.non-ascii"}, {"str.escapes"}, {"str.nul"},
    {"list.empty"}, {"list.nested"}, {"map.empty"}, {"map.nested"}, {"mixed"},
    {"bytes.empty", TRUE}, {"bytes.all-256", TRUE},
    {NULL},
};

static CamasValue *
value_case_build(const char *name)
{
    if (!strcmp(name, "null")) return camas_value_new_null();
    if (!strcmp(name, "true")) return camas_value_new_bool(TRUE);
    if (!strcmp(name, "false")) return camas_value_new_bool(FALSE);
    if (!strcmp(name, "int.zero")) return camas_value_new_int(0);
    if (!strcmp(name, "int.small")) return camas_value_new_int(42);
    if (!strcmp(name, "int.negative")) return camas_value_new_int(-7);
    if (!strcmp(name, "int.int64-max")) return camas_value_new_int(G_MAXINT64);
    if (!strcmp(name, "int.int64-min")) return camas_value_new_int(G_MININT64);
    if (!strcmp(name, "int.uint64-max")) return camas_value_new_uint(G_MAXUINT64);
    if (!strcmp(name, "float.one")) return camas_value_new_float(1.0);
    if (!strcmp(name, "float.fraction")) return camas_value_new_float(0.1);
    if (!strcmp(name, "float.negative-zero")) return camas_value_new_float(-0.0);
    if (!strcmp(name, "float.nan")) return camas_value_new_float(NAN);
    if (!strcmp(name, "float.infinity")) return camas_value_new_float(INFINITY);
    if (!strcmp(name, "float.-infinity")) return camas_value_new_float(-INFINITY);
    if (!strcmp(name, "float.smallest-subnormal")) return camas_value_new_float(5e-324);
    if (!strcmp(name, "float.largest")) return camas_value_new_float(DBL_MAX);
    if (!strcmp(name, "float.1e16")) return camas_value_new_float(1e16);
    if (!strcmp(name, "str.empty")) return camas_value_new_str("");
    if (!strcmp(name, "str.ascii")) return camas_value_new_str("ohai");
    if (!strcmp(name, "str.non-ascii"))
        return camas_value_new_str("gr\xc3\xbc\xc3\x9f" "e \xe6\x9d\xb1\xe4\xba\xac "
                                   "\xf0\x9f\x98\x80 \xe2\x82\xac");
    if (!strcmp(name, "str.escapes"))
        return camas_value_new_str("quote\" backslash\\ slash/ newline\n tab\t bell\x07 del\x7f");
    if (!strcmp(name, "str.nul")) return camas_value_new_str_len("a\0b", 3);
    if (!strcmp(name, "list.empty")) return build("[]");
    if (!strcmp(name, "list.nested")) return build("[i [i [i [i []]]] s]", 1, 2, 3, 4, "x");
    if (!strcmp(name, "map.empty")) return build("{}");
    if (!strcmp(name, "map.nested"))
        return build("{s:i s:{s:[b n]} s:f}", "a", 1, "b", "c", TRUE, "\xc3\xbc", 2.5);
    if (!strcmp(name, "mixed"))
        return build("[n b i f s [] {} [{s:[]}]]", TRUE, -1, 1.5, "s", "k");
    if (!strcmp(name, "bytes.empty")) return camas_value_new_bytes("", 0);
    if (!strcmp(name, "bytes.all-256")) {
        guint8 all[256];
        for (int i = 0; i < 256; i++)
            all[i] = (guint8)i;
        return camas_value_new_bytes(all, sizeof all);
    }
    g_assert_not_reached();
}

/* --- raw sockets: the bytes exactly as written ------------------------------------------------ */

typedef struct {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    CamasFrameParser *parser;
    gboolean is_rpc;   /* the layer: RPC (else channel) */
    CamasCodec *codec; /* encodes the requests and decodes the replies (--codec) */
} Raw;

static gboolean
wait_fd(int fd, short events, gint64 deadline_us, GError **error)
{
    for (;;) {
        gint64 now = g_get_monotonic_time();
        if (now >= deadline_us) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TIMED_OUT,
                        "no progress before the deadline");
            return FALSE;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int r = poll(&pfd, 1, (int)MIN((deadline_us - now + 999) / 1000, G_MAXINT));
        if (r > 0)
            return TRUE;
        if (r < 0 && errno != EINTR) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED, "poll: %s", g_strerror(errno));
            return FALSE;
        }
    }
}

static char *
ssl_reason(void)
{
    GString *s = g_string_new(NULL);
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        g_string_append_printf(s, "%s%s", s->len ? "; " : "", buf);
    }
    if (!s->len)
        g_string_append(s, "no reason given");
    return g_string_free(s, FALSE);
}

/* Waits for what OpenSSL wants after a call returned @r; FALSE with @error for real errors
 * (@clean_eof set when the peer closed the stream in order). */
static gboolean
ssl_retry(Raw *raw, int r, const char *what, gint64 deadline_us, gboolean *clean_eof,
          GError **error)
{
    int e = SSL_get_error(raw->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        return wait_fd(raw->fd, POLLIN, deadline_us, error);
    if (e == SSL_ERROR_WANT_WRITE)
        return wait_fd(raw->fd, POLLOUT, deadline_us, error);
    if (e == SSL_ERROR_ZERO_RETURN && clean_eof) {
        *clean_eof = TRUE;
        return FALSE;
    }
    g_autofree char *reason = ssl_reason();
    long v = SSL_get_verify_result(raw->ssl);
    g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_PROTOCOL, "TLS %s failed: %s%s%s", what,
                e == SSL_ERROR_SYSCALL ? "connection lost; " : "", reason,
                v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
    return FALSE;
}

static void
raw_close(Raw *raw)
{
    if (raw->ssl)
        SSL_free(raw->ssl);
    if (raw->ctx)
        SSL_CTX_free(raw->ctx);
    if (raw->fd >= 0)
        close(raw->fd);
    if (raw->parser)
        camas_frame_parser_free(raw->parser);
    g_clear_pointer(&raw->codec, camas_codec_unref);
    g_free(raw);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Raw, raw_close)

typedef enum {
    RAW_TLS_FULL,    /* the aiomas client settings with our certificate */
    RAW_TLS_NO_CERT, /* no client certificate */
    RAW_TLS_PY,      /* exactly Python's client: TLS 1.2 only, ECDH+AESGCM */
} RawTls;

static gboolean
raw_tls_handshake(Probe *p, Raw *raw, const char *host, RawTls mode, gint64 deadline_us,
                  GError **error)
{
    raw->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(raw->ctx, TLS1_2_VERSION);
    if (mode == RAW_TLS_PY) {
        SSL_CTX_set_max_proto_version(raw->ctx, TLS1_2_VERSION);
        SSL_CTX_set_cipher_list(raw->ctx, "ECDH+AESGCM");
    }
    SSL_CTX_set_verify(raw->ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(raw->ctx, p->opts->tls_ca, NULL) != 1 ||
        (mode != RAW_TLS_NO_CERT &&
         (SSL_CTX_use_certificate_chain_file(raw->ctx, p->opts->tls_cert) != 1 ||
          SSL_CTX_use_PrivateKey_file(raw->ctx, p->opts->tls_key, SSL_FILETYPE_PEM) != 1))) {
        g_autofree char *reason = ssl_reason();
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "TLS files: %s", reason);
        return FALSE;
    }
    raw->ssl = SSL_new(raw->ctx);
    SSL_set_fd(raw->ssl, raw->fd);
    /* aiomas clients check the host name, or the IP address the way it was written */
    guint8 buf[16];
    if (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(raw->ssl), host);
    } else {
        SSL_set_tlsext_host_name(raw->ssl, host);
        SSL_set1_host(raw->ssl, host);
    }
    for (;;) {
        int r = SSL_connect(raw->ssl);
        if (r == 1)
            return TRUE;
        if (!ssl_retry(raw, r, "handshake", deadline_us, NULL, error))
            return FALSE;
    }
}

/* The server address of @layer (--channel, --rpc, --agent). */
static const char *
layer_address(Probe *p, Layer layer)
{
    const char *const addresses[] = {p->opts->channel, p->opts->rpc, p->opts->agent};
    return addresses[layer];
}

/* Connects a raw socket to the address of @layer, the channel or RPC layer (TCP or Unix; TLS
 * on TCP when --tls). */
static Raw *
raw_connect(Probe *p, Layer layer, RawTls mode, GError **error)
{
    g_autoptr(CamasAddress) a = camas_address_parse(layer_address(p, layer), error);
    if (!a)
        return NULL;
    g_autoptr(Raw) raw = g_new0(Raw, 1);
    raw->fd = -1;
    raw->parser = camas_frame_parser_new(0);
    raw->is_rpc = layer == LAYER_RPC;
    raw->codec = camas_codec_new(p->opts->codec, NULL);
    gint64 deadline = p->deadline_us;
    if (a->kind == CAMAS_ADDRESS_IPC) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(a->path) >= sizeof sun.sun_path) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "socket path too long");
            return NULL;
        }
        strcpy(sun.sun_path, a->path);
        raw->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (raw->fd < 0 || (connect(raw->fd, (struct sockaddr *)&sun, sizeof sun) < 0 &&
                            errno != EINPROGRESS && errno != EAGAIN)) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED, "connect %s: %s",
                        a->path, g_strerror(errno));
            return NULL;
        }
        if (!wait_fd(raw->fd, POLLOUT, deadline, error))
            return NULL;
        return g_steal_pointer(&raw);
    }
    char port[16];
    g_snprintf(port, sizeof port, "%u", a->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(a->host, port, &hints, &res);
    if (gai != 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_INVALID, "%s: %s", a->host, gai_strerror(gai));
        return NULL;
    }
    int last_errno = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && raw->fd < 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            last_errno = errno;
            close(fd);
            continue;
        }
        GError *werr = NULL;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (!wait_fd(fd, POLLOUT, deadline, &werr) ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
            last_errno = soerr ? soerr : ETIMEDOUT;
            g_clear_error(&werr);
            close(fd);
            continue;
        }
        raw->fd = fd;
    }
    freeaddrinfo(res);
    if (raw->fd < 0) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED, "connect %s:%u: %s",
                    a->host, a->port, g_strerror(last_errno));
        return NULL;
    }
    int one = 1;
    /* every write its own segment, so a split frame really arrives split */
    setsockopt(raw->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (p->tls && !raw_tls_handshake(p, raw, a->host, mode, deadline, error))
        return NULL;
    return g_steal_pointer(&raw);
}

static gboolean
raw_write(Raw *raw, const guint8 *data, gsize len, gint64 deadline_us, GError **error)
{
    while (len > 0) {
        if (raw->ssl) {
            int r = SSL_write(raw->ssl, data, (int)MIN(len, (gsize)G_MAXINT));
            if (r > 0) {
                data += r;
                len -= (gsize)r;
            } else if (!ssl_retry(raw, r, "write", deadline_us, NULL, error)) {
                return FALSE;
            }
            continue;
        }
        ssize_t w = send(raw->fd, data, len, MSG_NOSIGNAL);
        if (w > 0) {
            data += w;
            len -= (gsize)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_fd(raw->fd, POLLOUT, deadline_us, error))
                return FALSE;
        } else {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED, "write: %s",
                        g_strerror(w < 0 ? errno : EPIPE));
            return FALSE;
        }
    }
    return TRUE;
}

/* Reads the next frame and decodes it. */
static gboolean
raw_read(Raw *raw, gint64 deadline_us, CamasMsgType *type, CamasValue **id, CamasValue **content,
         GError **error)
{
    for (;;) {
        GError *perr = NULL;
        g_autoptr(GBytes) payload = camas_frame_parser_next(raw->parser, &perr);
        if (perr) {
            g_propagate_error(error, perr);
            return FALSE;
        }
        if (payload) {
            gsize n;
            const guint8 *d = g_bytes_get_data(payload, &n);
            return camas_frame_decode(raw->codec, d, n, type, id, content, error);
        }
        guint8 buf[65536];
        ssize_t got;
        if (raw->ssl) {
            int r = SSL_read(raw->ssl, buf, sizeof buf);
            if (r <= 0) {
                gboolean eof = FALSE;
                if (!ssl_retry(raw, r, "read", deadline_us, &eof, error)) {
                    if (eof)
                        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED,
                                    "the server closed the connection");
                    return FALSE;
                }
                continue;
            }
            got = r;
        } else {
            got = recv(raw->fd, buf, sizeof buf, 0);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
                if (!wait_fd(raw->fd, POLLIN, deadline_us, error))
                    return FALSE;
                continue;
            }
            if (got < 0) {
                g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED, "read: %s",
                            g_strerror(errno));
                return FALSE;
            }
        }
        if (got == 0) {
            g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_CLOSED,
                        "the server closed the connection");
            return FALSE;
        }
        camas_frame_parser_feed(raw->parser, buf, (gsize)got);
    }
}

/* One request the raw checks send and the reply they expect. */
typedef struct {
    guint64 id;
    CamasValue *content;
    CamasValue *expect; /* the RESULT content */
} RawCall;

static void
raw_call_clear(RawCall *c)
{
    g_clear_pointer(&c->content, camas_value_unref);
    g_clear_pointer(&c->expect, camas_value_unref);
}

/* The i-th request of a raw check on the channel (is_rpc FALSE) or RPC layer. */
static RawCall
raw_call_make(guint64 i, gboolean is_rpc)
{
    RawCall c = {.id = i};
    if (is_rpc) {
        c.content = build("[s [i i] {}]", "add", (int)(i + 1), 100);
        c.expect = camas_value_new_int((gint64)i + 101);
    } else {
        c.content = build("[s I f s]", "raw", (gint64)i, 2.5, "gr\xc3\xbc\xc3\x9f" "e");
        c.expect = build("[s v]", "reply", c.content);
    }
    return c;
}

/* Makes requests 0..@n-1 of @raw's layer into @calls and encodes them back to back; @last
 * (nullable) receives where the last frame starts.  NULL with @error if one cannot be encoded
 * (@calls are made all the same). */
static GByteArray *
raw_frames(Raw *raw, RawCall *calls, guint n, gsize *last, GError **error)
{
    for (guint i = 0; i < n; i++)
        calls[i] = raw_call_make(i, raw->is_rpc);
    g_autoptr(GByteArray) all = g_byte_array_new();
    for (guint i = 0; i < n; i++) {
        g_autoptr(GBytes) f = camas_frame_encode_request(raw->codec, i, calls[i].content, 0, error);
        if (!f)
            return NULL;
        if (last)
            *last = all->len;
        g_byte_array_append(all, g_bytes_get_data(f, NULL), (guint)g_bytes_get_size(f));
    }
    return g_steal_pointer(&all);
}

/* Reads @n replies (any order) to @calls and checks each. */
static gboolean
raw_expect_replies(Probe *p, Raw *raw, RawCall *calls, guint n, GString *why)
{
    g_autofree gboolean *seen = g_new0(gboolean, n);
    for (guint k = 0; k < n; k++) {
        CamasMsgType type;
        g_autoptr(CamasValue) id = NULL, content = NULL;
        g_autoptr(GError) error = NULL;
        if (!raw_read(raw, p->deadline_us, &type, &id, &content, &error)) {
            g_string_append_printf(why, "reply %u of %u: ", k + 1, n);
            append_error(p, why, error);
            return FALSE;
        }
        guint64 idv = 0;
        if (camas_value_get_type(id) != CAMAS_VALUE_INT ||
            camas_value_int_is_unsigned(id) || (idv = (guint64)camas_value_get_int(id)) >= n ||
            seen[idv]) {
            g_string_append(why, "a reply with an id that was not asked or answered twice: ");
            append_repr(p, why, id);
            return FALSE;
        }
        seen[idv] = TRUE;
        if (type != CAMAS_MSG_RESULT) {
            g_string_append_printf(why, "request %" G_GUINT64_FORMAT " got msg_type %d: ", idv,
                                   (int)type);
            append_repr(p, why, content);
            return FALSE;
        }
        if (!expect_value(p, why, content, calls[idv].expect)) {
            prepend_printf(why, "request %" G_GUINT64_FORMAT ": ", idv);
            return FALSE;
        }
    }
    return TRUE;
}

/* (inside a check) A raw connection to the layer @arg names; NULL with @why. */
static Raw *
raw_open(Probe *p, gconstpointer arg, RawTls mode, GString *why)
{
    g_autoptr(GError) error = NULL;
    Raw *raw = raw_connect(p, GPOINTER_TO_INT(arg), mode, &error);
    if (!raw)
        append_error(p, why, error);
    return raw;
}

/* The end of a raw check that sent @calls: the write's failure (@ok FALSE, @error), or the
 * check of their @n replies.  Clears @calls. */
static gboolean
raw_finish(Probe *p, Raw *raw, gboolean ok, const GError *error, RawCall *calls, guint n,
           GString *why)
{
    if (!ok)
        append_error(p, why, error);
    else
        ok = raw_expect_replies(p, raw, calls, n, why);
    for (guint i = 0; i < n; i++)
        raw_call_clear(&calls[i]);
    return ok;
}

/* One frame handed to the socket one byte at a time. */
static gboolean
check_raw_split(Probe *p, gconstpointer arg, GString *why)
{
    g_autoptr(Raw) raw = raw_open(p, arg, RAW_TLS_FULL, why);
    if (!raw)
        return FALSE;
    RawCall call;
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) frame = raw_frames(raw, &call, 1, NULL, &error);
    gboolean ok = frame != NULL;
    for (guint i = 0; ok && i < frame->len; i++) {
        ok = raw_write(raw, frame->data + i, 1, p->deadline_us, &error);
        /* Pacing, not waiting for anything: with TCP_NODELAY each byte leaves as its own
         * segment, and the pause makes the server's reads see them one at a time. */
        g_usleep(1000);
    }
    return raw_finish(p, raw, ok, error, &call, 1, why);
}

/* Three frames and the first half of a fourth in one write, then the rest. */
static gboolean
check_raw_coalesced(Probe *p, gconstpointer arg, GString *why)
{
    g_autoptr(Raw) raw = raw_open(p, arg, RAW_TLS_FULL, why);
    if (!raw)
        return FALSE;
    enum { N = 4 };
    RawCall calls[N];
    gsize fourth = 0;
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) all = raw_frames(raw, calls, N, &fourth, &error);
    gboolean ok = all != NULL;
    gsize cut = ok ? fourth + (all->len - fourth) / 2 : 0;
    if (ok)
        ok = raw_write(raw, all->data, cut, p->deadline_us, &error);
    if (ok) {
        g_usleep(2000); /* pacing: let the server see the partial fourth frame first */
        ok = raw_write(raw, all->data + cut, all->len - cut, p->deadline_us, &error);
    }
    return raw_finish(p, raw, ok, error, calls, N, why);
}

/* --- TLS -------------------------------------------------------------------------------------- */

static gboolean
expect_tls(Probe *p, GString *why, const char *version, const char *cipher)
{
    if (!version || !cipher) {
        g_string_append(why, "the connection is not TLS");
        return FALSE;
    }
    gboolean v_ok = !strcmp(version, "TLSv1.2") || !strcmp(version, "TLSv1.3");
    gboolean c_ok = strstr(cipher, "AES") && strstr(cipher, "GCM");
    if (!v_ok || !c_ok)
        g_string_append_printf(why, "negotiated %s with %s; expected TLS 1.2 or newer with an "
                                    "AES-GCM cipher", version, cipher);
    return v_ok && c_ok;
}

static gboolean
check_tls_negotiated(Probe *p, gconstpointer arg, GString *why)
{
    gboolean is_rpc = GPOINTER_TO_INT(arg) == LAYER_RPC;
    CamasChannel *ch = NULL;
    if (is_rpc) {
        if (!remote(p, why))
            return FALSE;
        ch = camas_rpc_connection_get_channel(p->rpc);
    } else if (!(ch = channel(p, why))) {
        return FALSE;
    }
    return expect_tls(p, why, camas_channel_get_tls_version(ch), camas_channel_get_tls_cipher(ch));
}

/* Python's client: TLS 1.2 only with ECDH+AESGCM; the server must accept it and answer. */
static gboolean
check_tls_python_client(Probe *p, gconstpointer arg, GString *why)
{
    g_autoptr(Raw) raw = raw_open(p, arg, RAW_TLS_PY, why);
    if (!raw)
        return FALSE;
    const char *cipher = SSL_get_cipher_name(raw->ssl);
    if (!expect_tls(p, why, SSL_get_version(raw->ssl), cipher))
        return FALSE;
    if (!g_str_has_prefix(cipher, "ECDHE-")) {
        g_string_append_printf(why, "cipher %s is not an ECDHE suite", cipher);
        return FALSE;
    }
    RawCall call;
    g_autoptr(GError) error = NULL;
    g_autoptr(GByteArray) frame = raw_frames(raw, &call, 1, NULL, &error);
    gboolean ok = frame && raw_write(raw, frame->data, frame->len, p->deadline_us, &error);
    return raw_finish(p, raw, ok, error, &call, 1, why);
}

/* A client without a certificate must not be served. */
static gboolean
check_tls_client_cert_required(Probe *p, gconstpointer arg, GString *why)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(Raw) raw = raw_connect(p, GPOINTER_TO_INT(arg), RAW_TLS_NO_CERT, &error);
    if (!raw)
        return TRUE; /* the handshake was refused (TLS 1.2) */
    /* TLS 1.3: the client finishes before the server has checked; the refusal comes as an
     * alert on the first read. */
    RawCall call;
    g_autoptr(GByteArray) frame = raw_frames(raw, &call, 1, NULL, &error);
    gboolean refused = TRUE;
    if (frame && raw_write(raw, frame->data, frame->len, p->deadline_us, &error)) {
        CamasMsgType type;
        g_autoptr(CamasValue) id = NULL, content = NULL;
        g_clear_error(&error);
        if (raw_read(raw, p->deadline_us, &type, &id, &content, &error)) {
            refused = FALSE;
            g_string_append(why, "a client without a certificate was served");
        } else if (g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_TIMED_OUT)) {
            refused = FALSE;
            g_string_append(why, "a client without a certificate was neither refused nor "
                                 "answered");
        }
    }
    raw_call_clear(&call);
    return refused;
}

/* --- channel checks --------------------------------------------------------------------------- */

/* The first check of each layer: it gives a server that is still starting until the deadline
 * (every other check makes one attempt). */
static gboolean
check_connect(Probe *p, gconstpointer arg, GString *why)
{
    Layer layer = GPOINTER_TO_INT(arg);
    p->retry_connect = TRUE;
    gboolean ok = layer == LAYER_CHANNEL ? channel(p, why) != NULL
                  : layer == LAYER_RPC   ? remote(p, why) != NULL
                                         : agent(p, 0, why) && agent(p, 1, why);
    p->retry_connect = FALSE;
    return ok;
}

static gboolean
check_channel_roundtrip(Probe *p, gconstpointer arg, GString *why)
{
    const ValueCase *vc = arg;
    g_autoptr(CamasValue) v = value_case_build(vc->name);
    g_autoptr(CamasValue) want = build("[s v]", "reply", v);
    g_autoptr(CamasValue) got = send_ok(p, camas_value_ref(v), why);
    return got && expect_value(p, why, got, want);
}

static gboolean
check_channel_failure(Probe *p, gconstpointer arg, GString *why)
{
    CamasChannel *ch = channel(p, why);
    if (!ch)
        return FALSE;
    g_autoptr(CamasValue) c = build("[s s]", "__fail__", "boom");
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasValue) r = camas_channel_send_await(ch, c, &error);
    if (r) {
        g_string_append(why, "succeeded with ");
        append_repr(p, why, r);
        return FALSE;
    }
    const char *text = camas_error_get_remote_text(error);
    if (!text) {
        append_call_error(p, why, error, ch);
        return FALSE;
    }
    if (strcmp(text, "ValueError: boom\n") != 0) {
        g_string_append(why, "expected exactly 'ValueError: boom\\n', got ");
        append_quoted(p, why, text, -1);
        return FALSE;
    }
    return TRUE;
}

static gboolean
check_channel_usable_after_failure(Probe *p, gconstpointer arg, GString *why)
{
    if (!p->channel || camas_channel_is_closed(p->channel)) {
        g_string_append(why, "the connection was closed after the failure");
        return FALSE;
    }
    g_autoptr(CamasValue) want = build("[s s]", "reply", "still here");
    g_autoptr(CamasValue) got = send_ok(p, camas_value_new_str("still here"), why);
    return got && expect_value(p, why, got, want);
}

static gboolean
check_channel_callback(Probe *p, gconstpointer arg, GString *why)
{
    g_autoptr(CamasValue) want = build("[s [s i]]", "reply-cb", "client", 42);
    g_autoptr(CamasValue) got = send_ok(p, build("[s i]", "__callback__", 42), why);
    return got && expect_value(p, why, got, want);
}

/* The order replies completed in, shared by the futures' callbacks (refcounted: a cancelled
 * check may leave callbacks that run later). */
typedef struct {
    GArray *order; /* guint: request indexes in completion order */
} Order;

typedef struct {
    Order *order;
    guint index;
} OrderSlot;

static void
order_clear(gpointer data)
{
    g_array_unref(((Order *)data)->order);
}

static void
order_record(CamasFuture *f, gpointer data)
{
    OrderSlot *s = data;
    g_array_append_val(s->order->order, s->index);
}

static void
order_slot_free(gpointer data)
{
    OrderSlot *s = data;
    g_rc_box_release_full(s->order, order_clear);
    g_free(s);
}

/* N_CONCURRENT sleeping requests with decreasing delays: all answered, correctly matched,
 * overlapping, and out of order. */
static gboolean
check_concurrent(Probe *p, gconstpointer arg, GString *why)
{
    gboolean is_rpc = GPOINTER_TO_INT(arg) == LAYER_RPC;
    CamasChannel *ch = NULL;
    CamasProxy *r = NULL;
    if (is_rpc ? !(r = remote(p, why)) : !(ch = channel(p, why)))
        return FALSE;
    Order *order = g_rc_box_new0(Order);
    order->order = g_array_new(FALSE, FALSE, sizeof(guint));
    CamasFuture *futures[N_CONCURRENT];
    gint64 start = g_get_monotonic_time();
    double total = 0;
    for (guint i = 0; i < N_CONCURRENT; i++) {
        double dt = (N_CONCURRENT - i) * CONCURRENT_STEP;
        total += dt;
        if (is_rpc) {
            g_autoptr(CamasValue) args = build("[f i]", dt, (int)i);
            futures[i] = camas_proxy_call(r, "sleep_echo", args, NULL);
        } else {
            g_autoptr(CamasValue) c = build("[s f i]", "__sleep__", dt, (int)i);
            futures[i] = camas_channel_send(ch, c);
        }
        OrderSlot *s = g_new(OrderSlot, 1);
        s->order = g_rc_box_acquire(order);
        s->index = i;
        camas_future_add_callback(futures[i], order_record, s, order_slot_free);
    }
    g_autoptr(CamasFuture) all = camas_future_all(p->loop, futures, N_CONCURRENT);
    g_autoptr(CamasValue) results = NULL;
    g_autoptr(GError) error = NULL;
    gboolean ok = camas_task_await(all, &results, &error);
    double elapsed = (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
    if (!ok) {
        append_call_error(p, why, error, is_rpc ? camas_rpc_connection_get_channel(p->rpc) : ch);
    } else {
        for (guint i = 0; ok && i < N_CONCURRENT; i++) {
            g_autoptr(CamasValue) want =
                is_rpc ? camas_value_new_int(i) : build("[s i]", "reply", (int)i);
            if (!expect_value(p, why, camas_value_get_item(results, i), want)) {
                prepend_printf(why, "request %u: ", i);
                ok = FALSE;
            }
        }
    }
    if (ok) {
        /* Each request's own callback event may still be queued behind the gather's: let
         * them run before reading the order. */
        while (order->order->len < N_CONCURRENT && camas_task_yield(NULL))
            ;
        guint pos_first = G_MAXUINT, pos_last = G_MAXUINT;
        for (guint k = 0; k < order->order->len; k++) {
            guint idx = g_array_index(order->order, guint, k);
            if (idx == 0)
                pos_first = k;
            if (idx == N_CONCURRENT - 1)
                pos_last = k;
        }
        if (pos_first < pos_last) {
            g_string_append_printf(why, "answered in request order: the slowest request "
                                        "(%.3f s) came before the fastest (%.3f s)",
                                   N_CONCURRENT * CONCURRENT_STEP, CONCURRENT_STEP);
            ok = FALSE;
        } else if (elapsed > total / 2) {
            g_string_append_printf(why, "the sleeps did not overlap: %.2f s for %.2f s of "
                                        "sleeps", elapsed, total);
            ok = FALSE;
        }
    }
    for (guint i = 0; i < N_CONCURRENT; i++)
        camas_future_unref(futures[i]);
    g_rc_box_release_full(order, order_clear);
    return ok;
}

/* A LARGE_SIZE text: ASCII so every codec writes it with one byte per character. */
static CamasValue *
large_text(void)
{
    char *s = g_malloc(LARGE_SIZE + 1);
    for (gsize i = 0; i < LARGE_SIZE; i++)
        s[i] = (char)('a' + (i * 7 + i / 26) % 26);
    s[LARGE_SIZE] = '\0';
    CamasValue *v = camas_value_new_str_len(s, (gssize)LARGE_SIZE);
    g_free(s);
    return v;
}

static gboolean
check_channel_large(Probe *p, gconstpointer arg, GString *why)
{
    g_autoptr(CamasValue) big = large_text();
    g_autoptr(CamasValue) want = build("[s v]", "reply", big);
    g_autoptr(CamasValue) got = send_ok(p, camas_value_ref(big), why);
    return got && expect_value(p, why, got, want);
}

/* --- RPC checks ------------------------------------------------------------------------------- */

static gboolean
check_rpc_echo(Probe *p, gconstpointer arg, GString *why)
{
    const ValueCase *vc = arg;
    g_autoptr(CamasValue) v = value_case_build(vc->name);
    g_autoptr(CamasValue) got = call_ok(p, "echo", build("[v]", v), NULL, why);
    return got && expect_value(p, why, got, v);
}

static gboolean
check_add_numbers(Probe *p, gconstpointer arg, GString *why)
{
    return expect_call(p, why, "add", build("[i i]", 3, 4), NULL, camas_value_new_int(7)) &&
           expect_call(p, why, "add", build("[I i]", G_GINT64_CONSTANT(-5000000000), 1), NULL,
                       camas_value_new_int(G_GINT64_CONSTANT(-4999999999))) &&
           expect_call(p, why, "add", build("[f f]", 1.5, 2.25), NULL,
                       camas_value_new_float(3.75)) &&
           expect_call(p, why, "add", build("[i f]", 1, 0.5), NULL, camas_value_new_float(1.5));
}

static gboolean
check_add_strings(Probe *p, gconstpointer arg, GString *why)
{
    return expect_call(p, why, "add", build("[s s]", "foo", "bar"), NULL,
                       camas_value_new_str("foobar")) &&
           expect_call(p, why, "add", build("[s s]", "gr\xc3\xbc", "\xc3\x9f" "e"), NULL,
                       camas_value_new_str("gr\xc3\xbc\xc3\x9f" "e")) &&
           expect_call(p, why, "add", build("[s s]", "", ""), NULL, camas_value_new_str(""));
}

static gboolean
check_keywords(Probe *p, gconstpointer arg, GString *why)
{
    return expect_call(p, why, "add", build("[]"), build("{s:i s:i}", "a", 3, "b", 4),
                       camas_value_new_int(7)) &&
           expect_call(p, why, "add", build("[i]", 3), build("{s:i}", "b", 4),
                       camas_value_new_int(7)) &&
           /* keyword order must not matter: b before a */
           expect_call(p, why, "add", build("[]"), build("{s:s s:s}", "b", "bar", "a", "foo"),
                       camas_value_new_str("foobar")) &&
           expect_call(p, why, "echo", build("[]"), build("{s:[i s]}", "x", 1, "y"),
                       build("[i s]", 1, "y")) &&
           expect_call(p, why, "calc/mul", build("[]"), build("{s:i s:i}", "b", 6, "a", 7),
                       camas_value_new_int(42));
}

static gboolean
check_echo_args(Probe *p, gconstpointer arg, GString *why)
{
    return expect_call(p, why, "echo_args", build("[i s]", 1, "two"), build("{s:i}", "x", 3),
                       build("[[i s] {s:i}]", 1, "two", "x", 3)) &&
           expect_call(p, why, "echo_args", build("[]"), NULL, build("[[] {}]")) &&
           expect_call(p, why, "echo_args", build("[]"),
                       build("{s:n s:[]}", "first", "second"),
                       build("[[] {s:n s:[]}]", "first", "second"));
}

static gboolean
check_nested(Probe *p, gconstpointer arg, GString *why)
{
    return expect_call(p, why, "calc/mul", build("[i i]", 6, 7), NULL, camas_value_new_int(42)) &&
           expect_call(p, why, "calc/div", build("[i i]", 7, 2), NULL,
                       camas_value_new_float(3.5)) &&
           expect_call(p, why, "calc/whereami", build("[]"), NULL, camas_value_new_str("calc")) &&
           expect_call(p, why, "calc/deep/pow", build("[i i]", 2, 10), NULL,
                       camas_value_new_int(1024));
}

static gboolean
check_length(Probe *p, gconstpointer arg, GString *why)
{
    if (!expect_call(p, why, "length", build("[s]", "gr\xc3\xbc\xc3\x9f" "e"), NULL,
                     camas_value_new_int(5)) ||
        !expect_call(p, why, "length", build("[[i i i]]", 1, 2, 3), NULL,
                     camas_value_new_int(3)) ||
        !expect_call(p, why, "length", build("[{s:i s:i}]", "a", 1, "b", 2), NULL,
                     camas_value_new_int(2)) ||
        !expect_call(p, why, "length", build("[s]", ""), NULL, camas_value_new_int(0)))
        return FALSE;
    if (p->bytes_ok)
        return expect_call(p, why, "length", build("[y]", "\x00\x01\x02", (gsize)3), NULL,
                           camas_value_new_int(3));
    return TRUE;
}

static CamasValue *
pattern_bytes(gsize n)
{
    guint8 *d = g_malloc(n ? n : 1);
    for (gsize i = 0; i < n; i++)
        d[i] = (guint8)(i % 251);
    CamasValue *v = camas_value_new_bytes(d, n);
    g_free(d);
    return v;
}

static gboolean
check_make_bytes(Probe *p, gconstpointer arg, GString *why)
{
    return expect_call(p, why, "make_bytes", build("[i]", 0), NULL, pattern_bytes(0)) &&
           expect_call(p, why, "make_bytes", build("[i]", 1000), NULL, pattern_bytes(1000));
}

static gboolean
check_failure_text(Probe *p, gconstpointer arg, GString *why)
{
    g_autofree char *t = call_fail(p, "fail", build("[s]", "boom"), NULL, why);
    return expect_failure(p, why, t, "ValueError", "boom", TRUE) &&
           g_str_has_suffix(t, "ValueError: boom\n");
}

static gboolean
check_zero_division(Probe *p, gconstpointer arg, GString *why)
{
    g_autofree char *t = call_fail(p, "calc/div", build("[i i]", 1, 0), NULL, why);
    return expect_failure(p, why, t, "ZeroDivisionError", NULL, TRUE);
}

static gboolean
check_usable_after_failure(Probe *p, gconstpointer arg, GString *why)
{
    if (!p->rpc || camas_rpc_connection_is_closed(p->rpc)) {
        g_string_append(why, "the connection was closed after the failures");
        return FALSE;
    }
    return expect_call(p, why, "echo", build("[s]", "still here"), NULL,
                       camas_value_new_str("still here"));
}

/* call_fail() on @method (@args and @kwargs stolen) and expect_failure() with @name and
 * @needle (nullable); what went wrong with the failure text starts with "<label>: ". */
static gboolean
expect_fail(Probe *p, GString *why, const char *label, const char *method, CamasValue *args,
            CamasValue *kwargs, const char *name, const char *needle)
{
    g_autofree char *t = call_fail(p, method, args, kwargs, why);
    if (!t)
        return FALSE;
    if (!expect_failure(p, why, t, name, needle, TRUE)) {
        prepend_printf(why, "%s: ", label);
        return FALSE;
    }
    return TRUE;
}

static gboolean
check_unknown(Probe *p, const char *path, const char *needle, GString *why)
{
    return expect_fail(p, why, path, path, build("[]"), NULL, "LookupError", needle);
}

static gboolean
check_unknown_paths(Probe *p, gconstpointer arg, GString *why)
{
    return check_unknown(p, "nope", "nope", why) &&
           check_unknown(p, "calc/nope", "nope", why) &&
           check_unknown(p, "calc/deep/nope", "nope", why) &&
           check_unknown(p, "nosuchservice/echo", "nosuchservice", why);
}

static gboolean
check_hidden(Probe *p, gconstpointer arg, GString *why)
{
    return check_unknown(p, "hidden", "hidden", why);
}

static gboolean
expect_type_error(Probe *p, GString *why, const char *method, CamasValue *args,
                  CamasValue *kwargs)
{
    g_autofree char *label = g_strdup_printf("%s()", method);
    return expect_fail(p, why, label, method, args, kwargs, "TypeError", NULL);
}

static gboolean
check_arg_count(Probe *p, gconstpointer arg, GString *why)
{
    return expect_type_error(p, why, "add", build("[i]", 1), NULL) &&
           expect_type_error(p, why, "add", build("[i i i]", 1, 2, 3), NULL) &&
           expect_type_error(p, why, "echo", build("[]"), NULL) &&
           expect_type_error(p, why, "add", build("[i]", 1), build("{s:i}", "c", 2)) &&
           expect_type_error(p, why, "add", build("[i i]", 1, 2), build("{s:i}", "a", 3));
}

static gboolean
check_arg_types(Probe *p, gconstpointer arg, GString *why)
{
    return expect_type_error(p, why, "add", build("[i s]", 1, "x"), NULL) &&
           expect_type_error(p, why, "add", build("[n n]"), NULL) &&
           expect_type_error(p, why, "length", build("[i]", 5), NULL) &&
           expect_type_error(p, why, "calc/div", build("[s i]", "x", 2), NULL);
}

static gboolean
check_callback(Probe *p, gconstpointer arg, GString *why)
{
    g_autoptr(CamasValue) root = camas_service_to_value(p->client_root);
    g_autoptr(CamasValue) sub = camas_service_to_value(p->client_sub);
    return expect_call(p, why, "callback", build("[v s s]", root, "client_echo", "x"), NULL,
                       build("[s [s s]]", "cb", "client", "x")) &&
           expect_call(p, why, "callback", build("[v s i]", sub, "twice", 21), NULL,
                       build("[s i]", "cb", 42)) &&
           /* a method path below the proxy */
           expect_call(p, why, "callback", build("[v s i]", root, "sub/twice", 4), NULL,
                       build("[s i]", "cb", 8));
}

static gboolean
check_callback_failure(Probe *p, gconstpointer arg, GString *why)
{
    g_autoptr(CamasValue) root = camas_service_to_value(p->client_root);
    g_autofree char *t =
        call_fail(p, "callback", build("[v s s]", root, "client_fail", "oops"), NULL, why);
    return expect_failure(p, why, t, "ValueError", "oops", TRUE);
}

static gboolean
check_server_proxy(Probe *p, gconstpointer arg, GString *why)
{
    g_autoptr(CamasValue) v = call_ok(p, "get_calc", build("[]"), NULL, why);
    if (!v)
        return FALSE;
    CamasProxy *calc = camas_value_get_proxy(v);
    if (!calc) {
        g_string_append(why, "get_calc() did not return a proxy: ");
        append_repr(p, why, v);
        return FALSE;
    }
    if (strcmp(camas_proxy_get_path(calc), "calc") != 0) {
        g_string_append_printf(why, "get_calc() returned a proxy for '%s', not 'calc'",
                               camas_proxy_get_path(calc));
        return FALSE;
    }
    g_autoptr(CamasProxy) deep = camas_proxy_get_sub(calc, "deep");
    return expect_proxy_call(p, why, calc, "proxy", "mul", build("[i i]", 6, 7),
                             camas_value_new_int(42)) &&
           expect_proxy_call(p, why, calc, "proxy", "whereami", build("[]"),
                             camas_value_new_str("calc")) &&
           expect_proxy_call(p, why, deep, "proxy.deep", "pow", build("[i i]", 3, 3),
                             camas_value_new_int(27));
}

static gboolean
check_rpc_large_to_server(Probe *p, gconstpointer arg, GString *why)
{
    g_autoptr(CamasValue) big = large_text();
    return expect_call(p, why, "length", build("[v]", big), NULL,
                       camas_value_new_int((gint64)LARGE_SIZE));
}

static gboolean
check_rpc_large_from_server(Probe *p, gconstpointer arg, GString *why)
{
    if (p->bytes_ok)
        return expect_call(p, why, "make_bytes", build("[I]", (gint64)LARGE_SIZE), NULL,
                           pattern_bytes(LARGE_SIZE));
    g_autoptr(CamasValue) big = large_text();
    return expect_call(p, why, "echo", build("[v]", big), NULL, camas_value_ref(big));
}

/* --- our service for callbacks ---------------------------------------------------------------- */

static void
client_echo(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    static const char *const names[] = {"x", NULL};
    CamasValue *v[1];
    GError *error = NULL;
    if (!camas_rpc_parse_args("client_echo", args, kwargs, names, 1, v, &error)) {
        camas_request_fail(req, error);
        g_error_free(error);
        return;
    }
    camas_request_reply_take(req, build("[s v]", "client", v[0]));
}

static void
client_fail(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *m = camas_value_get_length(args) ? camas_value_get_item(args, 0) : NULL;
    g_autofree char *text = m && camas_value_get_type(m) == CAMAS_VALUE_STR
                                ? g_strdup(camas_value_get_str(m, NULL))
                                : g_strdup("client_fail");
    camas_request_fail_text(req, "ValueError", text);
}

static void
client_twice(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    static const char *const names[] = {"n", NULL};
    CamasValue *v[1];
    GError *error = NULL;
    gint64 n;
    if (!camas_rpc_parse_args("twice", args, kwargs, names, 1, v, &error) ||
        !camas_value_to_int64(v[0], &n, &error)) {
        camas_request_fail(req, error);
        g_error_free(error);
        return;
    }
    camas_request_reply_take(req, camas_value_new_int(2 * n));
}

static const CamasRpcMethod client_methods[] = {
    {"client_echo", client_echo},
    {"client_fail", client_fail},
    {NULL},
};
static const char *const client_subs[] = {"sub", NULL};
static const CamasServiceClass client_class = {
    .name = "ProbeClient", .module = "camas.interop", .methods = client_methods,
    .sub_services = client_subs};
static const CamasRpcMethod client_sub_methods[] = {{"twice", client_twice}, {NULL}};
static const CamasServiceClass client_sub_class = {
    .name = "ProbeSub", .module = "camas.interop", .methods = client_sub_methods};

/* --- the agent container ---------------------------------------------------------------------- */

/* Our agent "0": the server's agents call pong(x) back on it (ping_back, call_peer). */
static void
probe_agent_pong(gpointer self, CamasRequest *req, const CamasValue *args,
                 const CamasValue *kwargs)
{
    CamasValue *x;
    if (camas_agent_args_or_fail(req, "x:v", &x))
        camas_request_reply_take(req, build("[s v]", "pong", x));
}

static const CamasRpcMethod probe_agent_methods[] = {{"pong", probe_agent_pong}, {NULL}};
static const CamasAgentClass probe_agent_class = {
    .name = "ProbeAgent",
    .module = "camas.interop",
    .methods = probe_agent_methods,
};

/* Where our container listens: next to the server (the same host, any port; a temporary
 * socket for a Unix-socket server), so that the server can connect back. */
static char *
probe_container_address(Probe *p, const char *host_override)
{
    g_autoptr(CamasAddress) a = camas_address_parse(p->opts->agent, NULL);
    if (a->kind == CAMAS_ADDRESS_IPC) {
        if (!p->container_dir)
            p->container_dir = g_dir_make_tmp("camas-probe-XXXXXX", NULL);
        return p->container_dir ? g_strdup_printf("ipc://[%s/probe.sock]", p->container_dir)
                                : NULL;
    }
    const char *host = host_override ? host_override : a->host;
    return strchr(host, ':') ? g_strdup_printf("tcp://[%s]:0", host)
                             : g_strdup_printf("tcp://%s:0", host);
}

static CamasContainer *
probe_container(Probe *p, GString *why)
{
    if (p->container)
        return p->container;
    CamasTlsCerts certs = {p->opts->tls_ca, p->opts->tls_cert, p->opts->tls_key};
    CamasContainerOptions co = {.codec = p->opts->codec};
    if (p->tls && camas__interop_address_is_tcp(p->opts->agent))
        co.tls = &certs;
    g_autoptr(GError) error = NULL;
    g_autofree char *address = probe_container_address(p, NULL);
    if (address)
        p->container = camas_container_new(p->clock, address, &co, &error);
    if (!p->container && camas__interop_address_is_tcp(p->opts->agent)) {
        /* the server's host is not one of ours: listen on the loopback (a remote server then
         * cannot call back, and the checks that need it say so) */
        g_clear_error(&error);
        g_free(address);
        address = probe_container_address(p, "127.0.0.1");
        p->container = camas_container_new(p->clock, address, &co, &error);
    }
    if (!p->container) {
        g_string_append_printf(why, "cannot start the probe's own container at %s: ",
                               address ? address : "a temporary directory");
        if (error)
            append_error(p, why, error);
        return NULL;
    }
    p->probe_agent = camas_container_spawn(p->container, &probe_agent_class, NULL, NULL, &error);
    g_assert(p->probe_agent != NULL); /* a fresh container and a valid static type */
    return p->container;
}

static char *
agent_url(Probe *p, const char *aid)
{
    return g_strdup_printf("%s/%s", p->agent_base, aid);
}

/* (inside a check) The proxy of the server's agent @aid (0 or 1), connecting anew if needed. */
static CamasProxy *
agent(Probe *p, guint aid, GString *why)
{
    CamasProxy *px = p->agents[aid];
    if (px && !camas_rpc_connection_is_closed(camas_proxy_get_connection(px)))
        return px;
    g_clear_pointer(&p->agents[aid], camas_proxy_unref);
    if (!probe_container(p, why))
        return NULL;
    g_autofree char *url = g_strdup_printf("%s/%u", p->agent_base, aid);
    for (;;) {
        g_autoptr(GError) error = NULL;
        p->agents[aid] = camas_container_connect_await(p->container, url, &error);
        if (p->agents[aid])
            return p->agents[aid];
        /* the connect check gives a server that is still starting until its deadline */
        if (p->retry_connect &&
            g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_CONNECTION_REFUSED) &&
            g_get_monotonic_time() < p->deadline_us && camas_task_sleep(p->clock, 0.05, NULL))
            continue;
        return cannot_connect(p, why, url, error);
    }
}

static CamasChannel *
agent_channel(Probe *p, guint aid)
{
    return p->agents[aid] ? camas_rpc_connection_get_channel(
                                camas_proxy_get_connection(p->agents[aid]))
                          : NULL;
}

static gboolean
check_validate_aid(Probe *p, gconstpointer arg, GString *why)
{
    CamasProxy *px = agent(p, 0, why);
    if (!px)
        return FALSE;
    /* the container's root, on the connection the agent proxy uses */
    g_autoptr(CamasProxy) root = camas_rpc_connection_get_remote(camas_proxy_get_connection(px));
    /* ids are strings: the integer 0 is not agent "0" */
    CamasValue *cases[][2] = {
        {build("[s]", "0"), camas_value_new_str("EchoAgent")},
        {build("[s]", "1"), camas_value_new_str("CounterAgent")},
        {build("[s]", "42"), camas_value_new_null()},
        {build("[i]", 0), camas_value_new_null()},
    };
    gboolean ok = TRUE;
    for (gsize i = 0; ok && i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(CamasValue) got =
            camas_proxy_call_await(root, "validate_aid", cases[i][0], NULL, &error);
        if (!got) {
            g_string_append(why, "validate_aid(): ");
            append_call_error(p, why, error, agent_channel(p, 0));
            ok = FALSE;
        } else if (!expect_value(p, why, got, cases[i][1])) {
            g_autofree char *a = camas_value_repr(cases[i][0]);
            prepend_printf(why, "validate_aid%s: ", a);
            ok = FALSE;
        }
    }
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        camas_value_unref(cases[i][0]);
        camas_value_unref(cases[i][1]);
    }
    return ok;
}

static gboolean
check_unknown_agent(Probe *p, gconstpointer arg, GString *why)
{
    if (!probe_container(p, why))
        return FALSE;
    g_autofree char *url = agent_url(p, "42");
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasProxy) px = camas_container_connect_await(p->container, url, &error);
    if (px) {
        g_string_append_printf(why, "connecting to %s succeeded", url);
        return FALSE;
    }
    if (!g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_LOOKUP) ||
        !strstr(error->message, "\"42\"")) {
        g_string_append(why, "expected 'Agent \"42\" does not exist ...', got: ");
        append_error(p, why, error);
        return FALSE;
    }
    return TRUE;
}

static gboolean
check_whoami(Probe *p, gconstpointer arg, GString *why)
{
    static const char *const names[] = {"EchoAgent", "CounterAgent"};
    for (guint aid = 0; aid < 2; aid++) {
        g_autoptr(CamasValue) got = call_on(p, aid, "whoami", build("[]"), NULL, why);
        if (!got)
            return FALSE;
        const char *cls = NULL, *url = NULL;
        g_autoptr(GError) error = NULL;
        if (!camas_value_unpack(got, &error, "[s s]", &cls, &url)) {
            g_string_append_printf(why, "agent %u: whoami() returned ", aid);
            append_repr(p, why, got);
            return FALSE;
        }
        g_autofree char *aid_got = NULL;
        g_autofree char *aid_want = g_strdup_printf("%u", aid);
        /* the host in the URL is the server's to choose (aiomas uses the name it was given) */
        if (strcmp(cls, names[aid]) != 0 || !camas_agent_url_parse(url, NULL, &aid_got, NULL) ||
            strcmp(aid_got, aid_want) != 0) {
            g_string_append_printf(why, "agent %u: whoami() returned ", aid);
            append_repr(p, why, got);
            g_string_append_printf(why, ", expected ['%s', '<container URL>/%u']", names[aid],
                                   aid);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
check_agent_echo(Probe *p, gconstpointer arg, GString *why)
{
    const ValueCase *vc = arg;
    g_autoptr(CamasValue) v = value_case_build(vc->name);
    return expect_on(p, why, 0, "echo", build("[v]", v), NULL,
                             camas_value_ref(v));
}

static gboolean
check_agent_add(Probe *p, gconstpointer arg, GString *why)
{
    return expect_on(p, why, 0, "add", build("[i i]", 1, 2), NULL,
                             camas_value_new_int(3)) &&
           expect_on(p, why, 0, "add", build("[]"), build("{s:i s:i}", "b", 2, "a", 40),
                             camas_value_new_int(42)) &&
           expect_on(p, why, 0, "add", build("[s s]", "foo", "bar"), NULL,
                             camas_value_new_str("foobar"));
}

static gboolean
check_agent_failure(Probe *p, gconstpointer arg, GString *why)
{
    for (guint aid = 0; aid < 2; aid++) {
        g_autofree char *t = fail_on(p, aid, "fail", build("[s]", "boom"), NULL, why);
        if (!expect_failure(p, why, t, "ValueError", "boom", TRUE))
            return FALSE;
    }
    g_autofree char *t = fail_on(p, 0, "nope", build("[]"), NULL, why);
    if (!expect_failure(p, why, t, "LookupError", "nope", TRUE))
        return FALSE;
    g_autofree char *t2 = fail_on(p, 0, "add", build("[i]", 1), NULL, why);
    if (!expect_failure(p, why, t2, "TypeError", NULL, TRUE))
        return FALSE;
    /* the connection stays usable */
    return expect_on(p, why, 0, "echo", build("[s]", "still here"), NULL,
                             camas_value_new_str("still here"));
}

static gboolean
check_shift_date(Probe *p, gconstpointer arg, GString *why)
{
    static const struct {
        const char *date;
        double seconds;
        const char *want;
    } cases[] = {
        {"2016-01-01T00:00:00+00:00", 3600, "2016-01-01T01:00:00+00:00"},
        {"2016-03-27T01:59:59.250000+01:00", 0.5, "2016-03-27T01:59:59.750000+01:00"},
        {"2015-12-31T23:59:59-05:30", 1, "2016-01-01T00:00:00-05:30"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(CamasValue) d = camas_date_value_parse(cases[i].date, NULL);
        g_autoptr(CamasValue) w = camas_date_value_parse(cases[i].want, NULL);
        g_assert(d && w);
        if (!expect_on(p, why, 0, "shift_date", build("[v f]", d, cases[i].seconds),
                               NULL, camas_value_ref(w)))
            return FALSE;
    }
    return TRUE;
}

static gboolean
check_ping_back(Probe *p, gconstpointer arg, GString *why)
{
    if (!probe_container(p, why))
        return FALSE;
    g_autoptr(CamasValue) me = camas_agent_to_value(p->probe_agent);
    return expect_on(p, why, 0, "ping_back", build("[v i]", me, 7), NULL,
                             build("[s [s i]]", "pong-reply", "pong", 7));
}

static gboolean
check_counter(Probe *p, gconstpointer arg, GString *why)
{
    /* The count is the server's state: other clients may have counted before. */
    g_autoptr(CamasValue) start = call_on(p, 1, "get", build("[]"), NULL, why);
    gint64 c;
    if (!start)
        return FALSE;
    if (!camas_value_to_int64(start, &c, NULL) || c > G_MAXINT64 - 100) {
        g_string_append(why, "get() returned ");
        append_repr(p, why, start);
        return FALSE;
    }
    return expect_on(p, why, 1, "incr", build("[]"), NULL, camas_value_new_int(c + 1)) &&
           expect_on(p, why, 1, "incr", build("[]"), build("{s:i}", "n", 5),
                             camas_value_new_int(c + 6)) &&
           expect_on(p, why, 1, "incr", build("[i]", 2), NULL,
                             camas_value_new_int(c + 8)) &&
           expect_on(p, why, 1, "get", build("[]"), NULL, camas_value_new_int(c + 8));
}

static gboolean
check_call_peer_same_container(Probe *p, gconstpointer arg, GString *why)
{
    g_autofree char *url0 = agent_url(p, "0");
    g_autofree char *url1 = agent_url(p, "1");
    return expect_on(p, why, 0, "call_peer", build("[s s s]", url1, "echo", "x"), NULL,
                             camas_value_new_str("x")) &&
           expect_on(p, why, 1, "call_peer", build("[s s i i]", url0, "add", 2, 3), NULL,
                             camas_value_new_int(5));
}

static gboolean
check_call_peer_to_probe(Probe *p, gconstpointer arg, GString *why)
{
    if (!probe_container(p, why))
        return FALSE;
    return expect_on(p, why, 0, "call_peer",
                             build("[s s i]", camas_agent_get_url(p->probe_agent), "pong", 9),
                             NULL, build("[s i]", "pong", 9));
}

static gboolean
check_agent_tls(Probe *p, gconstpointer arg, GString *why)
{
    if (!agent(p, 0, why))
        return FALSE;
    CamasChannel *ch = agent_channel(p, 0);
    return expect_tls(p, why, camas_channel_get_tls_version(ch), camas_channel_get_tls_cipher(ch));
}

static void
drop_agents(Probe *p)
{
    for (guint i = 0; i < G_N_ELEMENTS(p->agents); i++)
        g_clear_pointer(&p->agents[i], camas_proxy_unref);
}

/* --- running checks --------------------------------------------------------------------------- */

typedef struct {
    Probe *probe;
    CheckFunc func;
    gconstpointer arg;
    GString *why;
    gboolean ok;
    gboolean timed_out;
    CamasTask *task;
} Run;

static CamasValue *
run_task(CamasTask *task, gpointer data, GError **error)
{
    Run *run = data;
    run->ok = run->func(run->probe, run->arg, run->why);
    return NULL;
}

static void
run_timeout(CamasLoop *loop, gpointer data)
{
    Run *run = data;
    run->timed_out = TRUE;
    camas_task_cancel(run->task);
}

static void
report(Probe *p, const char *name, gboolean ok, const char *why)
{
    if (ok) {
        p->passed++;
        printf("PASS %s\n", name);
    } else {
        p->failed++;
        printf("FAIL %s: %s\n", name, why && *why ? why : "failed");
    }
    fflush(stdout);
}

/* --only: comma-separated glob patterns; NULL runs everything. */
static gboolean
selected(Probe *p, const char *name)
{
    if (!p->opts->only)
        return TRUE;
    for (char *const *pat = p->opts->only; *pat; pat++)
        if (g_pattern_match_simple(*pat, name))
            return TRUE;
    return FALSE;
}

static void
run_check(Probe *p, const char *name, CheckFunc func, gconstpointer arg)
{
    if (!selected(p, name))
        return;
    Run run = {.probe = p, .func = func, .arg = arg, .why = g_string_new(NULL)};
    p->deadline_us = g_get_monotonic_time() + (gint64)(p->opts->timeout * G_USEC_PER_SEC);
    /* Big values are built on the task's stack frames only, but sanitizers grow frames. */
    CamasTaskOptions to = {.stack_size = 1024 * 1024, .name = name};
    g_autoptr(GError) error = NULL;
    run.task = camas_task_spawn(p->loop, run_task, &run, &to, &error);
    if (!run.task) {
        report(p, name, FALSE, error->message);
        g_string_free(run.why, TRUE);
        return;
    }
    CamasEventId timer = camas_clock_call_in(p->clock, p->opts->timeout, run_timeout, &run,
                                             NULL, NULL);
    camas_clock_run_until_complete(p->clock, camas_task_get_future(run.task), NULL, NULL);
    camas_clock_cancel(p->clock, timer);
    camas_task_unref(run.task);
    if (run.timed_out) {
        g_string_printf(run.why, "no answer within %g s (--timeout)", p->opts->timeout);
        run.ok = FALSE;
        /* Replies still owed on these connections would only confuse later checks. */
        drop_channel(p);
        drop_rpc(p);
        drop_agents(p);
    }
    report(p, name, run.ok, run.why->str);
    g_string_free(run.why, TRUE);
}

/* When a check of the checklist runs. */
typedef enum {
    ALWAYS,
    PER_VALUE, /* once per basic value the codec carries: "<layer>.<check>.<value>" */
    IF_BYTES,  /* only with a codec that carries bytes */
    IF_TLS,    /* only with --tls and a TCP address for the layer */
} When;

/* The checklist of conformance-service.md, in the order the probe runs it.  A check's arg is
 * its layer (GINT_TO_POINTER), or for PER_VALUE checks the ValueCase. */
static const struct {
    Layer layer;
    const char *check;
    CheckFunc func;
    When when;
} checklist[] = {
    {LAYER_CHANNEL, "connect", check_connect, ALWAYS},
    {LAYER_CHANNEL, "roundtrip", check_channel_roundtrip, PER_VALUE},
    {LAYER_CHANNEL, "failure", check_channel_failure, ALWAYS},
    {LAYER_CHANNEL, "usable-after-failure", check_channel_usable_after_failure, ALWAYS},
    {LAYER_CHANNEL, "callback", check_channel_callback, ALWAYS},
    {LAYER_CHANNEL, "concurrent-out-of-order", check_concurrent, ALWAYS},
    {LAYER_CHANNEL, "10mb-each-way", check_channel_large, ALWAYS},
    {LAYER_CHANNEL, "raw.split-bytes", check_raw_split, ALWAYS},
    {LAYER_CHANNEL, "raw.frames-in-one-write", check_raw_coalesced, ALWAYS},
    {LAYER_CHANNEL, "tls.negotiated", check_tls_negotiated, IF_TLS},
    {LAYER_CHANNEL, "tls.python-client", check_tls_python_client, IF_TLS},
    {LAYER_CHANNEL, "tls.client-cert-required", check_tls_client_cert_required, IF_TLS},
    {LAYER_RPC, "connect", check_connect, ALWAYS},
    {LAYER_RPC, "echo", check_rpc_echo, PER_VALUE},
    {LAYER_RPC, "add.numbers", check_add_numbers, ALWAYS},
    {LAYER_RPC, "add.strings", check_add_strings, ALWAYS},
    {LAYER_RPC, "keyword-arguments", check_keywords, ALWAYS},
    {LAYER_RPC, "echo-args", check_echo_args, ALWAYS},
    {LAYER_RPC, "nested-routers", check_nested, ALWAYS},
    {LAYER_RPC, "length", check_length, ALWAYS},
    {LAYER_RPC, "make-bytes", check_make_bytes, IF_BYTES},
    {LAYER_RPC, "failure.value-error", check_failure_text, ALWAYS},
    {LAYER_RPC, "failure.zero-division", check_zero_division, ALWAYS},
    {LAYER_RPC, "failure.unknown-paths", check_unknown_paths, ALWAYS},
    {LAYER_RPC, "failure.hidden-not-exposed", check_hidden, ALWAYS},
    {LAYER_RPC, "failure.argument-count", check_arg_count, ALWAYS},
    {LAYER_RPC, "failure.argument-types", check_arg_types, ALWAYS},
    {LAYER_RPC, "usable-after-failure", check_usable_after_failure, ALWAYS},
    {LAYER_RPC, "callback.client-proxies", check_callback, ALWAYS},
    {LAYER_RPC, "callback.failure", check_callback_failure, ALWAYS},
    {LAYER_RPC, "proxy-from-server", check_server_proxy, ALWAYS},
    {LAYER_RPC, "concurrent-out-of-order", check_concurrent, ALWAYS},
    {LAYER_RPC, "10mb-to-server", check_rpc_large_to_server, ALWAYS},
    {LAYER_RPC, "10mb-from-server", check_rpc_large_from_server, ALWAYS},
    {LAYER_RPC, "raw.split-bytes", check_raw_split, ALWAYS},
    {LAYER_RPC, "raw.frames-in-one-write", check_raw_coalesced, ALWAYS},
    {LAYER_RPC, "tls.negotiated", check_tls_negotiated, IF_TLS},
    {LAYER_RPC, "tls.python-client", check_tls_python_client, IF_TLS},
    {LAYER_RPC, "tls.client-cert-required", check_tls_client_cert_required, IF_TLS},
    {LAYER_AGENT, "connect", check_connect, ALWAYS},
    {LAYER_AGENT, "validate-aid", check_validate_aid, ALWAYS},
    {LAYER_AGENT, "unknown-agent", check_unknown_agent, ALWAYS},
    {LAYER_AGENT, "whoami", check_whoami, ALWAYS},
    {LAYER_AGENT, "echo", check_agent_echo, PER_VALUE},
    {LAYER_AGENT, "add", check_agent_add, ALWAYS},
    {LAYER_AGENT, "failures", check_agent_failure, ALWAYS},
    {LAYER_AGENT, "shift-date", check_shift_date, ALWAYS},
    {LAYER_AGENT, "ping-back", check_ping_back, ALWAYS},
    {LAYER_AGENT, "counter", check_counter, ALWAYS},
    {LAYER_AGENT, "call-peer.same-container", check_call_peer_same_container, ALWAYS},
    {LAYER_AGENT, "call-peer.to-probe", check_call_peer_to_probe, ALWAYS},
    {LAYER_AGENT, "tls.negotiated", check_agent_tls, IF_TLS},
};

/* Runs the checks of @layer. */
static void
probe_layer(Probe *p, Layer layer)
{
    gboolean tls = p->tls && camas__interop_address_is_tcp(layer_address(p, layer));
    for (gsize i = 0; i < G_N_ELEMENTS(checklist); i++) {
        When when = checklist[i].when;
        if (checklist[i].layer != layer || (when == IF_TLS && !tls) ||
            (when == IF_BYTES && !p->bytes_ok))
            continue;
        g_autofree char *name =
            g_strdup_printf("%s.%s", layer_names[layer], checklist[i].check);
        if (when != PER_VALUE) {
            run_check(p, name, checklist[i].func, GINT_TO_POINTER(layer));
            continue;
        }
        for (const ValueCase *vc = value_cases; vc->name; vc++) {
            g_autofree char *value_name = g_strdup_printf("%s.%s", name, vc->name);
            if (!vc->bytes || p->bytes_ok)
                run_check(p, value_name, checklist[i].func, vc);
        }
    }
}

int
camas__interop_probe(const CamasInteropOptions *opts)
{
    Probe probe = {.opts = opts};
    Probe *p = &probe;
    signal(SIGPIPE, SIG_IGN); /* a server that hangs up is a failed check, not a dead probe */
    g_autoptr(GError) error = NULL;
    if (opts->tls_ca) {
        CamasTlsCerts certs = {opts->tls_ca, opts->tls_cert, opts->tls_key};
        p->tls = camas_tls_context_new_client(&certs, &error);
        if (!p->tls)
            return camas_cmd_fail(opts->cmd, "--tls: %s", error->message);
    }
    p->context = g_main_context_new();
    p->loop = camas_loop_new();
    p->clock = camas_clock_new_realtime(p->loop, p->context);
    p->channel_codec = camas_codec_new(opts->codec, NULL);
    p->rpc_codec = camas_codec_new(opts->codec, NULL);
    p->bytes_ok = camas_codec_supports_bytes(p->channel_codec);
    p->client_root = camas_service_new(&client_class, NULL, NULL);
    p->client_sub = camas_service_new(&client_sub_class, NULL, NULL);
    g_assert(camas_service_set_sub(p->client_root, "sub", p->client_sub, NULL));
    camas_service_unref(p->client_sub); /* the root owns it */

    if (opts->channel)
        probe_layer(p, LAYER_CHANNEL);
    if (opts->rpc)
        probe_layer(p, LAYER_RPC);
    if (opts->agent) {
        p->agent_base = camas__interop_canonical_address(opts->agent);
        probe_layer(p, LAYER_AGENT);
    }
    gboolean none = p->passed + p->failed == 0;
    if (none)
        camas_cmd_fail(opts->cmd, "--only: no check matches");
    else
        printf("%u passed, %u failed\n", p->passed, p->failed);
    fflush(stdout);

    drop_channel(p);
    drop_rpc(p);
    drop_agents(p);
    g_clear_pointer(&p->container, camas_container_free);
    if (p->container_dir) {
        g_rmdir(p->container_dir); /* the container removed its socket */
        g_free(p->container_dir);
    }
    g_free(p->agent_base);
    /* A server closes its end when it sees ours; one that does not is waited for as long as
     * the transport lingers at most. */
    if (!camas__interop_wait_pipes(p->clock,
                                   g_get_monotonic_time() + CAMAS_INTEROP_LINGER_BOUND_US, NULL,
                                   opts->cmd)) {
        /* Sockets still use the context: leave everything to the process exit. */
        fprintf(stderr, "camas %s: the server did not close its connections\n", opts->cmd);
        return none ? CAMAS_EXIT_USAGE : CAMAS_EXIT_FAILED;
    }
    camas_service_unref(p->client_root);
    camas_codec_unref(p->channel_codec);
    camas_codec_unref(p->rpc_codec);
    g_clear_pointer(&p->tls, camas_tls_context_unref);
    camas_clock_unref(p->clock);
    camas_loop_free(p->loop);
    g_main_context_unref(p->context);
    gboolean clean = camas__interop_check_leaks(opts->cmd);
    if (none)
        return CAMAS_EXIT_USAGE;
    return p->failed == 0 && clean ? CAMAS_EXIT_OK : CAMAS_EXIT_FAILED;
}
