/* SPDX-License-Identifier: MIT */
/*
 * `camas interop serve`: the conformance service of conformance-service.md on the channel and
 * RPC layers, live (TCP, Unix sockets, TLS) on a real-time loop.  Every service answers the
 * way the Python reference server does: results as Python would compute them, failures as
 * text whose last line is `<Name>: <message>` (RPC failures under a traceback header, added by
 * the RPC layer).  Everything is callback style; every request waiting for a timer or a
 * callback is tracked, so that shutdown answers or drops it before the loop goes away and the
 * process ends with no object left alive.
 */
#include <glib-unix.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <camas/container.h>
#include <camas/registry.h>

#include "interop-private.h"

/* Longest sleep (seconds) a client may ask for: far beyond any check, and small enough that
 * the deadline in ticks cannot overflow. */
#define MAX_SLEEP 1e6

typedef struct {
    const CamasInteropOptions *opts;
    GMainContext *context;
    CamasLoop *loop;
    CamasClock *clock;
    CamasTlsContext *tls;
    CamasCodec *channel_codec;
    CamasCodec *rpc_codec;
    CamasChannelServer *channel_server;
    CamasRpcServer *rpc_server;
    CamasService *root;
    CamasService *calc; /* owned by root */
    CamasContainer *container; /* --agent: agents "0" EchoAgent and "1" CounterAgent */
    GQueue sleeps;      /* Sleep, in start order */
    guint n_waiting;    /* requests waiting for a callback's answer */
    gboolean stop;
    gboolean abort; /* a second stop signal: quit without waiting for lingering sockets */
} Serve;

/* --- Python-like helpers ---------------------------------------------------------------------- */

/* The Python type name of a received value, for TypeError texts. */
static const char *
py_type(const CamasValue *v)
{
    switch (camas_value_get_type(v)) {
    case CAMAS_VALUE_NULL: return "NoneType";
    case CAMAS_VALUE_BOOL: return "bool";
    case CAMAS_VALUE_INT: return "int";
    case CAMAS_VALUE_FLOAT: return "float";
    case CAMAS_VALUE_STR: return "str";
    case CAMAS_VALUE_BYTES: return "bytes";
    case CAMAS_VALUE_LIST: return "list";
    case CAMAS_VALUE_TUPLE: return "tuple";
    case CAMAS_VALUE_MAP: return "dict";
    case CAMAS_VALUE_EXT: return "ExtType";
    case CAMAS_VALUE_OBJECT:
        return camas_value_get_proxy(v) ? "Proxy" : camas_value_object_get_type(v)->name;
    }
    return "object";
}

/* Python's str(): strings as they are, everything else as its repr. */
static char *
py_str(const CamasValue *v)
{
    if (camas_value_get_type(v) == CAMAS_VALUE_STR)
        return g_strdup(camas_value_get_str(v, NULL));
    return camas_value_repr(v);
}

static void
fail_printf(CamasRequest *req, const char *name, const char *format, ...) G_GNUC_PRINTF(3, 4);

static void
fail_printf(CamasRequest *req, const char *name, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autofree char *msg = g_strdup_vprintf(format, ap);
    va_end(ap);
    camas_request_fail_text(req, name, msg);
}

static void
fail_error(CamasRequest *req, GError *error)
{
    camas_request_fail(req, error);
    g_error_free(error);
}

/* Binds Python-style arguments; on failure answers @req with the TypeError and returns FALSE. */
static gboolean
bind(CamasRequest *req, const char *func, const CamasValue *args, const CamasValue *kwargs,
     const char *const *names, guint n_required, CamasValue **out)
{
    GError *error = NULL;
    if (camas_rpc_parse_args(func, args, kwargs, names, n_required, out, &error))
        return TRUE;
    fail_error(req, error);
    return FALSE;
}

/* --- numbers as Python computes them ---------------------------------------------------------- */

/* A number: Python bools are ints.  Ints span int64 and uint64, so 128 bits hold every sum
 * and product of two of them. */
typedef struct {
    gboolean is_float;
    __int128 i;
    double f;
} Num;

static gboolean
to_num(const CamasValue *v, Num *n)
{
    memset(n, 0, sizeof *n);
    switch (camas_value_get_type(v)) {
    case CAMAS_VALUE_BOOL:
        n->i = camas_value_get_bool(v) ? 1 : 0;
        return TRUE;
    case CAMAS_VALUE_INT:
        n->i = camas_value_int_is_unsigned(v) ? (__int128)camas_value_get_uint(v)
                                              : (__int128)camas_value_get_int(v);
        return TRUE;
    case CAMAS_VALUE_FLOAT:
        n->is_float = TRUE;
        n->f = camas_value_get_float(v);
        return TRUE;
    default:
        return FALSE;
    }
}

static double
num_double(const Num *n)
{
    return n->is_float ? n->f : (double)n->i;
}

/* An exact int result, or OverflowError: Python ints are unbounded, the wire of camas carries
 * int64 and uint64 only. */
static void
reply_int(CamasRequest *req, __int128 r)
{
    if (r < (__int128)G_MININT64 || r > (__int128)G_MAXUINT64) {
        camas_request_fail_text(req, "OverflowError",
                                "int result does not fit in 64 bits (camas carries int64 and "
                                "uint64 only)");
        return;
    }
    if (r > (__int128)G_MAXINT64)
        camas_request_reply_take(req, camas_value_new_uint((guint64)r));
    else
        camas_request_reply_take(req, camas_value_new_int((gint64)r));
}

static void
fail_operands(CamasRequest *req, const char *op, const CamasValue *a, const CamasValue *b)
{
    fail_printf(req, "TypeError", "unsupported operand type(s) for %s: '%s' and '%s'", op,
                py_type(a), py_type(b));
}

static gboolean
is_seq(const CamasValue *v)
{
    return camas_value_is_sequence(v);
}

static CamasValue *
concat_seq(const CamasValue *a, const CamasValue *b)
{
    gsize na = camas_value_get_length(a), nb = camas_value_get_length(b);
    CamasValue **items = g_new(CamasValue *, na + nb + 1);
    for (gsize i = 0; i < na; i++)
        items[i] = camas_value_get_item(a, i);
    for (gsize i = 0; i < nb; i++)
        items[na + i] = camas_value_get_item(b, i);
    CamasValue *r = camas_value_new_list(items, na + nb);
    g_free(items);
    return r;
}

/* a + b: numbers, and concatenation of two strings, bytes or sequences. */
static void
svc_add(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    static const char *const names[] = {"a", "b", NULL};
    CamasValue *v[2];
    if (!bind(req, "add", args, kwargs, names, 2, v))
        return;
    Num a, b;
    if (to_num(v[0], &a) && to_num(v[1], &b)) {
        if (a.is_float || b.is_float)
            return camas_request_reply_take(req,
                                            camas_value_new_float(num_double(&a) + num_double(&b)));
        return reply_int(req, a.i + b.i);
    }
    CamasValueType ta = camas_value_get_type(v[0]), tb = camas_value_get_type(v[1]);
    if (ta == CAMAS_VALUE_STR || ta == CAMAS_VALUE_BYTES) {
        if (tb != ta)
            return fail_printf(req, "TypeError", "can't concat %s to %s", py_type(v[1]),
                               py_type(v[0]));
        gsize la, lb;
        const char *sa = ta == CAMAS_VALUE_STR ? camas_value_get_str(v[0], &la)
                                               : (const char *)camas_value_get_bytes(v[0], &la);
        const char *sb = ta == CAMAS_VALUE_STR ? camas_value_get_str(v[1], &lb)
                                               : (const char *)camas_value_get_bytes(v[1], &lb);
        GByteArray *buf = g_byte_array_sized_new((guint)(la + lb + 1));
        g_byte_array_append(buf, (const guint8 *)sa, (guint)la);
        g_byte_array_append(buf, (const guint8 *)sb, (guint)lb);
        CamasValue *r = ta == CAMAS_VALUE_STR
                            ? camas_value_new_str_len((const char *)buf->data, (gssize)buf->len)
                            : camas_value_new_bytes(buf->data, buf->len);
        g_byte_array_unref(buf);
        return camas_request_reply_take(req, r);
    }
    if (is_seq(v[0])) {
        if (!is_seq(v[1]))
            return fail_printf(req, "TypeError", "can only concatenate list (not \"%s\") to list",
                               py_type(v[1]));
        return camas_request_reply_take(req, concat_seq(v[0], v[1]));
    }
    fail_operands(req, "+", v[0], v[1]);
}

static void
svc_echo(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    static const char *const names[] = {"x", NULL};
    CamasValue *v[1];
    if (!bind(req, "echo", args, kwargs, names, 1, v))
        return;
    camas_request_reply(req, v[0]);
}

static void
svc_echo_args(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    /* [a, kw]: the positional arguments as a list, the keyword arguments as a dict */
    gsize n = camas_value_get_length(args);
    CamasValue **items = g_new(CamasValue *, n + 1);
    for (gsize i = 0; i < n; i++)
        items[i] = camas_value_get_item(args, i);
    g_autoptr(CamasValue) list = camas_value_new_list(items, n);
    g_free(items);
    camas_request_reply_take(req, camas_value_build("[v v]", list, kwargs));
}

static void
svc_fail(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    static const char *const names[] = {"msg", NULL};
    CamasValue *v[1];
    if (!bind(req, "fail", args, kwargs, names, 1, v))
        return;
    g_autofree char *m = py_str(v[0]);
    camas_request_fail_text(req, "ValueError", m);
}

/* --- sleeps ----------------------------------------------------------------------------------- */

typedef struct {
    Serve *serve;
    GList link;          /* in serve->sleeps */
    CamasEventId timer;
    CamasRequest *req;   /* until answered */
    CamasValue *reply;   /* what to answer with */
} Sleep;

static void
sleep_fire(CamasLoop *loop, gpointer data)
{
    Sleep *s = data;
    camas_request_reply(g_steal_pointer(&s->req), s->reply);
}

static void
sleep_free(gpointer data)
{
    Sleep *s = data;
    g_queue_unlink(&s->serve->sleeps, &s->link);
    if (s->req) /* cancelled at shutdown: the connection is closed, nothing is sent */
        camas_request_free(s->req);
    camas_value_unref(s->reply);
    g_free(s);
}

/* Reads a sleep length as asyncio.sleep() takes it; answers @req and returns FALSE if bad. */
static gboolean
sleep_length(CamasRequest *req, const CamasValue *v, double *dt)
{
    Num n;
    if (!to_num(v, &n)) {
        fail_printf(req, "TypeError", "'<=' not supported between instances of '%s' and 'int'",
                    py_type(v));
        return FALSE;
    }
    *dt = num_double(&n);
    if (isnan(*dt) || *dt > MAX_SLEEP) {
        fail_printf(req, "ValueError", "sleep length must be a number in [0, %g], got %s",
                    MAX_SLEEP, isnan(*dt) ? "nan" : "more");
        return FALSE;
    }
    return TRUE;
}

/* Answers @req with @reply (stolen) after @dt seconds without holding up anything else;
 * dt <= 0 answers at once (asyncio.sleep(0) yields, negative lengths do not sleep). */
static void
reply_later(Serve *serve, CamasRequest *req, double dt, CamasValue *reply)
{
    if (!(dt > 0)) {
        camas_request_reply_take(req, reply);
        return;
    }
    Sleep *s = g_new0(Sleep, 1);
    s->serve = serve;
    s->link.data = s;
    s->req = req;
    s->reply = reply;
    g_autoptr(GError) error = NULL;
    s->timer = camas_clock_call_in(serve->clock, dt, sleep_fire, s, sleep_free, &error);
    if (camas_event_id_is_none(s->timer)) {
        camas_request_fail(req, error);
        camas_value_unref(reply);
        g_free(s);
        return;
    }
    g_queue_push_tail_link(&serve->sleeps, &s->link);
}

static void
svc_sleep_echo(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    Serve *serve = inst;
    static const char *const names[] = {"dt", "x", NULL};
    CamasValue *v[2];
    double dt;
    if (!bind(req, "sleep_echo", args, kwargs, names, 2, v) || !sleep_length(req, v[0], &dt))
        return;
    reply_later(serve, req, dt, camas_value_ref(v[1]));
}

/* --- callbacks over the same connection ------------------------------------------------------- */

typedef struct {
    Serve *serve;
    CamasRequest *req;    /* until answered */
    const char *tag;      /* the reply is [tag, result] */
    gboolean rpc;         /* wrap the peer's failure in a traceback (RPC) or pass it on */
} Waiting;

static void
waiting_free(gpointer data)
{
    Waiting *w = data;
    if (w->req)
        camas_request_free(w->req);
    w->serve->n_waiting--;
    g_free(w);
}

static void
waiting_done(CamasFuture *future, gpointer data)
{
    Waiting *w = data;
    CamasRequest *req = g_steal_pointer(&w->req);
    g_autoptr(CamasValue) result = NULL;
    g_autoptr(GError) error = NULL;
    if (camas_future_propagate(future, &result, &error)) {
        g_autoptr(CamasValue) null = camas_value_new_null();
        camas_request_reply_take(req, camas_value_build("[s v]", w->tag, result ? result : null));
        return;
    }
    if (w->rpc && g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_REMOTE)) {
        /* As Python shows the RemoteException the awaited call raised: its str() is
         * "Origin: <peer>\n<the peer's text>", so the last line stays the peer's. */
        g_autofree char *text = g_strdup_printf(
            "Traceback (most recent call last):\n  File \"camas/interop\", line 1, in callback\n"
            "aiomas.exceptions.RemoteException: Origin: %s\n%s",
            camas_error_get_origin(error), camas_error_get_remote_text(error));
        camas_request_fail_raw(req, text);
        return;
    }
    /* Channel layer: the client's failure text goes back unchanged (a REMOTE error's text is
     * sent as it is); a lost connection has nobody to answer. */
    camas_request_fail(req, error);
}

static void
wait_for(Serve *serve, CamasRequest *req, CamasFuture *future, const char *tag, gboolean rpc)
{
    Waiting *w = g_new0(Waiting, 1);
    w->serve = serve;
    w->req = req;
    w->tag = tag;
    w->rpc = rpc;
    serve->n_waiting++;
    camas_future_add_callback(future, waiting_done, w, waiting_free);
}

/* callback(proxy, method, *args): calls method on the caller's proxy, returns ["cb", result] */
static void
svc_callback(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    Serve *serve = inst;
    if (camas_value_get_length(kwargs) > 0)
        return fail_printf(req, "TypeError", "callback() got an unexpected keyword argument '%s'",
                           camas_value_get_str(camas_value_map_get_key(kwargs, 0), NULL));
    gsize n = camas_value_get_length(args);
    if (n < 2)
        return camas_request_fail_text(
            req, "TypeError",
            n == 0 ? "callback() missing 2 required positional arguments: 'proxy' and 'method'"
                   : "callback() missing 1 required positional argument: 'method'");
    CamasValue *pv = camas_value_get_item(args, 0), *mv = camas_value_get_item(args, 1);
    CamasProxy *proxy = camas_value_get_proxy(pv);
    if (!proxy)
        return fail_printf(req, "TypeError", "callback() argument 'proxy' must be a proxy, not %s",
                           py_type(pv));
    if (camas_value_get_type(mv) != CAMAS_VALUE_STR)
        return fail_printf(req, "TypeError", "callback() argument 'method' must be str, not %s",
                           py_type(mv));
    CamasValue **rest = g_new(CamasValue *, n - 1);
    for (gsize i = 2; i < n; i++)
        rest[i - 2] = camas_value_get_item(args, i);
    g_autoptr(CamasValue) rest_list = camas_value_new_list(rest, n - 2);
    g_free(rest);
    g_autoptr(CamasFuture) f =
        camas_proxy_call(proxy, camas_value_get_str(mv, NULL), rest_list, NULL);
    wait_for(serve, req, f, "cb", TRUE);
}

static void
svc_get_calc(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    Serve *serve = inst;
    static const char *const names[] = {NULL};
    CamasValue *v[1];
    if (!bind(req, "get_calc", args, kwargs, names, 0, v))
        return;
    camas_request_reply_take(req, camas_service_to_value(serve->calc));
}

/* make_bytes(n): bytes(i % 251 for i in range(n)); on JSON the reply layer turns the bytes into
 * aiomas' SerializationError, as a Python server's would be. */
static void
svc_make_bytes(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    static const char *const names[] = {"n", NULL};
    CamasValue *v[1];
    if (!bind(req, "make_bytes", args, kwargs, names, 1, v))
        return;
    Num n;
    if (!to_num(v[0], &n) || n.is_float)
        return fail_printf(req, "TypeError", "'%s' object cannot be interpreted as an integer",
                           py_type(v[0]));
    if (n.i > (__int128)CAMAS_FRAME_DEFAULT_MAX_SIZE)
        return fail_printf(req, "ValueError", "make_bytes(): %" G_GSIZE_FORMAT
                           " bytes at most fit in one message", CAMAS_FRAME_DEFAULT_MAX_SIZE);
    gsize len = n.i > 0 ? (gsize)n.i : 0;
    guint8 *data = g_malloc(len ? len : 1);
    for (gsize i = 0; i < len; i++)
        data[i] = (guint8)(i % 251);
    CamasValue *r = camas_value_new_bytes(data, len);
    g_free(data);
    camas_request_reply_take(req, r);
}

static void
svc_length(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    static const char *const names[] = {"x", NULL};
    CamasValue *v[1];
    if (!bind(req, "length", args, kwargs, names, 1, v))
        return;
    gsize n = camas_value_get_length(v[0]);
    switch (camas_value_get_type(v[0])) {
    case CAMAS_VALUE_STR:
        /* Python counts code points */
        n = (gsize)g_utf8_strlen(camas_value_get_str(v[0], NULL), (gssize)n);
        break;
    case CAMAS_VALUE_BYTES:
    case CAMAS_VALUE_LIST:
    case CAMAS_VALUE_TUPLE:
    case CAMAS_VALUE_MAP:
        break;
    default:
        return fail_printf(req, "TypeError", "object of type '%s' has no len()",
                           py_type(v[0]));
    }
    camas_request_reply_take(req, camas_value_new_int((gint64)n));
}

/* --- calc and calc/deep ----------------------------------------------------------------------- */

static gboolean
two_args(CamasRequest *req, const char *func, const CamasValue *args, const CamasValue *kwargs,
         CamasValue **v)
{
    static const char *const names[] = {"a", "b", NULL};
    return bind(req, func, args, kwargs, names, 2, v);
}

/* s * n for a str, bytes or list and an int, as Python repeats sequences. */
static void
repeat(CamasRequest *req, const CamasValue *s, __int128 count)
{
    gsize len = camas_value_get_length(s);
    gsize times = count > 0 ? (gsize)MIN(count, (__int128)G_MAXSIZE) : 0;
    if (len > 0 && times > CAMAS_FRAME_DEFAULT_MAX_SIZE / len)
        return camas_request_fail_text(req, "OverflowError", "repeated sequence is too long");
    CamasValueType t = camas_value_get_type(s);
    if (t == CAMAS_VALUE_STR || t == CAMAS_VALUE_BYTES) {
        const guint8 *d = t == CAMAS_VALUE_STR ? (const guint8 *)camas_value_get_str(s, NULL)
                                               : camas_value_get_bytes(s, NULL);
        GByteArray *buf = g_byte_array_sized_new((guint)(len * times + 1));
        for (gsize i = 0; i < times; i++)
            g_byte_array_append(buf, d, (guint)len);
        CamasValue *r = t == CAMAS_VALUE_STR
                            ? camas_value_new_str_len((const char *)buf->data, (gssize)buf->len)
                            : camas_value_new_bytes(buf->data, buf->len);
        g_byte_array_unref(buf);
        return camas_request_reply_take(req, r);
    }
    CamasValue **items = g_new(CamasValue *, len * times + 1);
    for (gsize i = 0; i < times; i++)
        for (gsize j = 0; j < len; j++)
            items[i * len + j] = camas_value_get_item(s, j);
    CamasValue *r = camas_value_new_list(items, len * times);
    g_free(items);
    camas_request_reply_take(req, r);
}

static gboolean
is_repeatable(const CamasValue *v)
{
    CamasValueType t = camas_value_get_type(v);
    return t == CAMAS_VALUE_STR || t == CAMAS_VALUE_BYTES || is_seq(v);
}

static void
calc_mul(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *v[2];
    if (!two_args(req, "mul", args, kwargs, v))
        return;
    Num a, b;
    gboolean na = to_num(v[0], &a), nb = to_num(v[1], &b);
    if (na && nb) {
        if (a.is_float || b.is_float)
            return camas_request_reply_take(req,
                                            camas_value_new_float(num_double(&a) * num_double(&b)));
        __int128 r;
        if (__builtin_mul_overflow(a.i, b.i, &r))
            r = (__int128)G_MAXUINT64 + 1; /* beyond 128 bits is beyond 64 bits too */
        return reply_int(req, r);
    }
    if (is_repeatable(v[0]) && nb && !b.is_float)
        return repeat(req, v[0], b.i);
    if (na && !a.is_float && is_repeatable(v[1]))
        return repeat(req, v[1], a.i);
    if (is_repeatable(v[0]) || is_repeatable(v[1])) {
        const CamasValue *other = is_repeatable(v[0]) ? v[1] : v[0];
        return fail_printf(req, "TypeError", "can't multiply sequence by non-int of type '%s'",
                           py_type(other));
    }
    fail_operands(req, "*", v[0], v[1]);
}

static void
calc_div(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *v[2];
    if (!two_args(req, "div", args, kwargs, v))
        return;
    Num a, b;
    if (!to_num(v[0], &a) || !to_num(v[1], &b))
        return fail_operands(req, "/", v[0], v[1]);
    double db = num_double(&b);
    if (db == 0) {
        GError *e = g_error_new_literal(CAMAS_ERROR, CAMAS_ERROR_ZERO_DIVISION,
                                        a.is_float || b.is_float ? "float division by zero"
                                                                 : "division by zero");
        return fail_error(req, e);
    }
    camas_request_reply_take(req, camas_value_new_float(num_double(&a) / db));
}

static void
calc_whereami(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    static const char *const names[] = {NULL};
    CamasValue *v[1];
    if (!bind(req, "whereami", args, kwargs, names, 0, v))
        return;
    camas_request_reply_take(req, camas_value_new_str("calc"));
}

/* a ** b as Python computes it: exact for ints with b >= 0, a float otherwise. */
static void
deep_pow(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *v[2];
    if (!two_args(req, "pow", args, kwargs, v))
        return;
    Num a, b;
    if (!to_num(v[0], &a) || !to_num(v[1], &b))
        return fail_printf(req, "TypeError",
                           "unsupported operand type(s) for ** or pow(): '%s' and '%s'",
                           py_type(v[0]), py_type(v[1]));
    if (!a.is_float && !b.is_float && b.i >= 0) {
        /* exact: |a| <= 1 never grows; otherwise 2**64 is already too big, so at most 64
         * multiplications decide it */
        if (a.i >= -1 && a.i <= 1)
            return reply_int(req, a.i == -1 ? ((b.i & 1) ? -1 : 1) : (b.i == 0 ? 1 : a.i));
        if (b.i > 64)
            return reply_int(req, (__int128)G_MAXUINT64 + 1);
        __int128 r = 1;
        for (__int128 k = 0; k < b.i; k++)
            if (__builtin_mul_overflow(r, a.i, &r) || r > (__int128)G_MAXUINT64 ||
                r < (__int128)G_MININT64)
                return reply_int(req, (__int128)G_MAXUINT64 + 1);
        return reply_int(req, r);
    }
    double x = num_double(&a), y = num_double(&b);
    if (x == 0 && y < 0)
        return camas_request_fail_text(req, "ZeroDivisionError",
                                       "0.0 cannot be raised to a negative power");
    if (x < 0 && isfinite(y) && y != floor(y))
        return camas_request_fail_text(req, "ValueError",
                                       "a negative number cannot be raised to a fractional "
                                       "power (the result would be complex)");
    double r = pow(x, y);
    if (isinf(r) && isfinite(x) && isfinite(y))
        return camas_request_fail_text(req, "OverflowError",
                                       "(34, 'Numerical result out of range')");
    camas_request_reply_take(req, camas_value_new_float(r));
}

/* --- the service tree ------------------------------------------------------------------------- */

static const CamasRpcMethod root_methods[] = {
    {"add", svc_add},
    {"echo", svc_echo},
    {"echo_args", svc_echo_args},
    {"fail", svc_fail},
    {"sleep_echo", svc_sleep_echo},
    {"callback", svc_callback},
    {"get_calc", svc_get_calc},
    {"make_bytes", svc_make_bytes},
    {"length", svc_length},
    {NULL},
};
static const char *const root_subs[] = {"calc", NULL};
static const char *const root_hidden[] = {"hidden", NULL};
static const CamasServiceClass root_class = {
    .name = "InteropService",
    .module = "camas.interop",
    .methods = root_methods,
    .sub_services = root_subs,
    .hidden = root_hidden,
};

static const CamasRpcMethod calc_methods[] = {
    {"mul", calc_mul},
    {"div", calc_div},
    {"whereami", calc_whereami},
    {NULL},
};
static const char *const calc_subs[] = {"deep", NULL};
static const CamasServiceClass calc_class = {
    .name = "Calc",
    .module = "camas.interop",
    .methods = calc_methods,
    .sub_services = calc_subs,
};

static const CamasRpcMethod deep_methods[] = {{"pow", deep_pow}, {NULL}};
static const CamasServiceClass deep_class = {
    .name = "Deep",
    .module = "camas.interop",
    .methods = deep_methods,
};

static CamasService *
service_tree_new(Serve *serve)
{
    CamasService *root = camas_service_new(&root_class, serve, NULL);
    g_autoptr(CamasService) calc = camas_service_new(&calc_class, serve, NULL);
    g_autoptr(CamasService) deep = camas_service_new(&deep_class, serve, NULL);
    /* Both slots exist and are fresh: these cannot fail. */
    g_assert(camas_service_set_sub(calc, "deep", deep, NULL));
    g_assert(camas_service_set_sub(root, "calc", calc, NULL));
    serve->calc = calc;
    return root;
}

/* --- the channel server ----------------------------------------------------------------------- */

static gboolean
is_command(const CamasValue *c, const char *name, gsize n_items)
{
    if (!is_seq(c) || camas_value_get_length(c) != n_items)
        return FALSE;
    CamasValue *first = camas_value_get_item(c, 0);
    return camas_value_get_type(first) == CAMAS_VALUE_STR &&
           strcmp(camas_value_get_str(first, NULL), name) == 0;
}

static void
channel_request(CamasChannel *channel, CamasRequest *req, gpointer data)
{
    Serve *serve = data;
    CamasValue *c = camas_request_get_content(req);
    if (is_command(c, "__fail__", 2)) {
        g_autofree char *m = py_str(camas_value_get_item(c, 1));
        camas_request_fail_text(req, "ValueError", m); /* exactly "ValueError: m\n" */
        return;
    }
    if (is_command(c, "__callback__", 2)) {
        g_autoptr(CamasValue) content =
            camas_value_build("[s v]", "cb", camas_value_get_item(c, 1));
        g_autoptr(CamasFuture) f = camas_channel_send(channel, content);
        wait_for(serve, req, f, "reply-cb", FALSE);
        return;
    }
    if (is_command(c, "__sleep__", 3)) {
        double dt;
        if (!sleep_length(req, camas_value_get_item(c, 1), &dt))
            return;
        reply_later(serve, req, dt,
                    camas_value_build("[s v]", "reply", camas_value_get_item(c, 2)));
        return;
    }
    camas_request_reply_take(req, camas_value_build("[s v]", "reply", c));
}

static void
channel_connected(CamasChannelServer *server, CamasChannel *channel, gpointer data)
{
    camas_channel_set_request_func(channel, channel_request, data, NULL);
}

/* --- running ---------------------------------------------------------------------------------- */

static gboolean
on_signal(gpointer data)
{
    Serve *serve = data;
    if (serve->stop)
        serve->abort = TRUE;
    serve->stop = TRUE;
    camas_loop_stop(serve->loop);
    return G_SOURCE_CONTINUE;
}

static GSource *
watch_signal(Serve *serve, int signum)
{
    GSource *src = g_unix_signal_source_new(signum);
    g_source_set_callback(src, on_signal, serve, NULL);
    g_source_attach(src, serve->context);
    return src;
}

/* The agent container of conformance-service.md: the library's EchoAgent and CounterAgent
 * (agents/library/) as agents "0" and "1". */
static gboolean
start_container(Serve *serve, int *rc)
{
    const CamasInteropOptions *opts = serve->opts;
    g_autoptr(GError) error = NULL;
    CamasTlsCerts certs = {opts->tls_ca, opts->tls_cert, opts->tls_key};
    CamasContainerOptions co = {.codec = opts->codec};
    if (opts->tls_ca && camas__interop_address_is_tcp(opts->agent))
        co.tls = &certs;
    g_autofree char *address = camas__interop_canonical_address(opts->agent);
    serve->container = camas_container_new(serve->clock, address, &co, &error);
    if (!serve->container) {
        fprintf(stderr, "camas %s: --agent: cannot listen on '%s': %s\n", opts->cmd,
                opts->agent, error->message);
        *rc = CAMAS_EXIT_FAILED;
        return FALSE;
    }
    static const char *const types[] = {"EchoAgent", "CounterAgent"};
    for (gsize i = 0; i < G_N_ELEMENTS(types); i++) {
        const CamasAgentClass *klass = camas_agent_registry_lookup(types[i], &error);
        if (!klass || !camas_container_spawn(serve->container, klass, NULL, NULL, &error)) {
            fprintf(stderr, "camas %s: --agent: cannot start %s: %s\n", opts->cmd, types[i],
                    error->message);
            *rc = CAMAS_EXIT_FAILED;
            return FALSE;
        }
    }
    printf("agent %s\n", camas_container_get_address(serve->container));
    return TRUE;
}

static gboolean
start(Serve *serve, int *rc)
{
    const CamasInteropOptions *opts = serve->opts;
    g_autoptr(GError) error = NULL;
    if (opts->tls_ca) {
        CamasTlsCerts certs = {opts->tls_ca, opts->tls_cert, opts->tls_key};
        serve->tls = camas_tls_context_new_server(&certs, &error);
        if (!serve->tls) {
            *rc = camas_cmd_fail(opts->cmd, "--tls: %s", error->message);
            return FALSE;
        }
    }
    if (opts->channel) {
        CamasChannelOptions co = {0};
        if (camas__interop_address_is_tcp(opts->channel))
            co.transport.tls = serve->tls;
        serve->channel_codec = camas_codec_new(opts->codec, NULL);
        serve->channel_server =
            camas_channel_server_new(serve->loop, opts->channel, serve->channel_codec, &co,
                                     channel_connected, serve, NULL, &error);
        if (!serve->channel_server) {
            fprintf(stderr, "camas %s: --channel: cannot listen on '%s': %s\n", opts->cmd,
                    opts->channel, error->message);
            *rc = CAMAS_EXIT_FAILED;
            return FALSE;
        }
        printf("channel %s\n", camas_channel_server_get_address(serve->channel_server));
    }
    if (opts->rpc) {
        CamasChannelOptions co = {0};
        if (camas__interop_address_is_tcp(opts->rpc))
            co.transport.tls = serve->tls;
        serve->rpc_codec = camas_codec_new(opts->codec, NULL);
        serve->root = service_tree_new(serve);
        serve->rpc_server = camas_rpc_server_new(serve->loop, opts->rpc, serve->rpc_codec,
                                                 serve->root, &co, NULL, NULL, NULL, &error);
        if (!serve->rpc_server) {
            fprintf(stderr, "camas %s: --rpc: cannot listen on '%s': %s\n", opts->cmd,
                    opts->rpc, error->message);
            *rc = CAMAS_EXIT_FAILED;
            return FALSE;
        }
        printf("rpc %s\n", camas_rpc_server_get_address(serve->rpc_server));
    }
    if (opts->agent && !start_container(serve, rc))
        return FALSE;
    return TRUE;
}

/* Closes the servers and drops what still waits; then, once closed sockets have finished,
 * frees everything.  Returns FALSE (and frees nothing the sockets still use) when they did not
 * finish in time or a second stop signal came first. */
static gboolean
shut_down(Serve *serve)
{
    if (serve->channel_server)
        camas_channel_server_close(serve->channel_server);
    if (serve->rpc_server)
        camas_rpc_server_close(serve->rpc_server);
    /* The container closes its server and connections and cancels its agents' tasks. */
    g_clear_pointer(&serve->container, camas_container_free);
    /* Pending sleeps answer nobody now: cancelling runs their destroy notify, which drops the
     * request (its connection is closed, so nothing is sent). */
    while (serve->sleeps.head) {
        Sleep *s = serve->sleeps.head->data;
        if (!camas_clock_cancel(serve->clock, s->timer))
            break; /* cannot happen: a queued sleep's timer is pending */
    }
    /* Callbacks waiting for a reply were failed by the closing connections; their events run
     * now.  Then closed sockets finish lingering (peers normally close their end at once). */
    gint64 deadline = g_get_monotonic_time() + CAMAS_INTEROP_LINGER_BOUND_US;
    while (serve->n_waiting > 0 && g_get_monotonic_time() < deadline && !serve->abort)
        camas_clock_run_until(serve->clock,
                              camas_clock_now(serve->clock) + CAMAS_INTEROP_SECOND / 100);
    if (serve->n_waiting > 0 ||
        !camas__interop_wait_pipes(serve->clock, deadline, &serve->abort, serve->opts->cmd))
        return FALSE;
    g_clear_pointer(&serve->channel_server, camas_channel_server_free);
    g_clear_pointer(&serve->rpc_server, camas_rpc_server_free);
    g_clear_pointer(&serve->root, camas_service_unref);
    g_clear_pointer(&serve->channel_codec, camas_codec_unref);
    g_clear_pointer(&serve->rpc_codec, camas_codec_unref);
    g_clear_pointer(&serve->tls, camas_tls_context_unref);
    g_clear_pointer(&serve->clock, camas_clock_unref);
    g_clear_pointer(&serve->loop, camas_loop_free);
    return TRUE;
}

int
camas__interop_serve(const CamasInteropOptions *opts)
{
    Serve serve = {.opts = opts};
    g_queue_init(&serve.sleeps);
    serve.context = g_main_context_new();
    serve.loop = camas_loop_new();
    serve.clock = camas_clock_new_realtime(serve.loop, serve.context);
    GSource *sigint = watch_signal(&serve, SIGINT);
    GSource *sigterm = watch_signal(&serve, SIGTERM);
    /* A peer that vanishes mid-write is an error on that connection, not a reason to die. */
    signal(SIGPIPE, SIG_IGN);

    int rc = CAMAS_EXIT_OK;
    if (start(&serve, &rc)) {
        printf("READY\n");
        fflush(stdout);
        while (!serve.stop)
            camas_clock_run_until(serve.clock, G_MAXINT64);
    }
    fflush(stdout);
    if (!shut_down(&serve)) {
        /* Sockets still use the context: leave everything to the process exit. */
        fprintf(stderr, "camas %s: %s\n", opts->cmd,
                serve.abort ? "stopped again before every connection finished closing"
                            : "connections did not finish closing");
        return CAMAS_EXIT_FAILED;
    }
    g_source_destroy(sigint);
    g_source_unref(sigint);
    g_source_destroy(sigterm);
    g_source_unref(sigterm);
    g_main_context_unref(serve.context);
    if (!camas__interop_check_leaks(opts->cmd) && rc == CAMAS_EXIT_OK)
        rc = CAMAS_EXIT_FAILED;
    return rc;
}
