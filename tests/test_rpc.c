/* SPDX-License-Identifier: MIT */
/*
 * The RPC layer over LocalQueue: the conformance service of conformance-service.md, the §13 C.2
 * and C.4 captures byte for byte, path resolution texts, keyword arguments, nested and dict
 * routers, proxies both ways, callbacks, task-style methods, malformed requests answered with
 * TypeError, connection resets, and 100 000 calls in flight on one connection.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <string.h>

#include <camas/camas.h>

#include "rpc-methods.h"
#include "testutil.h"

TestSuite(rpc, .fini = camas_test_check_leaks);

static const char *
py_type(const CamasValue *v)
{
    switch (camas_value_get_type(v)) {
    case CAMAS_VALUE_NULL: return "NoneType";
    case CAMAS_VALUE_MAP: return "dict";
    case CAMAS_VALUE_TUPLE: return "tuple";
    default: return camas_value_type_name(camas_value_get_type(v));
    }
}

/* --- the conformance service ----------------------------------------------------------------- */

typedef struct {
    CamasClock *clock;
    CamasService *calc; /* borrowed: the root owns it */
} Math;


static void
m_add(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    static const char *const names[] = {"a", "b", NULL};
    CamasValue *v[2];
    GError *error = NULL;
    if (!camas_rpc_parse_args("add", args, kwargs, names, 2, v, &error))
        return camas_test_fail_error(req, error);
    CamasValueType ta = camas_value_get_type(v[0]), tb = camas_value_get_type(v[1]);
    if (ta == CAMAS_VALUE_STR && tb == CAMAS_VALUE_STR) {
        g_autofree char *s = g_strconcat(camas_value_get_str(v[0], NULL),
                                         camas_value_get_str(v[1], NULL), NULL);
        return camas_request_reply_take(req, camas_value_new_str(s));
    }
    if (ta == CAMAS_VALUE_INT && tb == CAMAS_VALUE_INT)
        return camas_request_reply_take(
            req, camas_value_new_int(camas_value_get_int(v[0]) + camas_value_get_int(v[1])));
    double a, b;
    if ((ta == CAMAS_VALUE_INT || ta == CAMAS_VALUE_FLOAT) &&
        (tb == CAMAS_VALUE_INT || tb == CAMAS_VALUE_FLOAT) && camas_value_to_double(v[0], &a, NULL) &&
        camas_value_to_double(v[1], &b, NULL))
        return camas_request_reply_take(req, camas_value_new_float(a + b));
    g_autofree char *msg = g_strdup_printf("unsupported operand type(s) for +: '%s' and '%s'",
                                           py_type(v[0]), py_type(v[1]));
    camas_request_fail_text(req, "TypeError", msg);
}



static void
m_fail(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    static const char *const names[] = {"msg", NULL};
    CamasValue *v[1];
    GError *error = NULL;
    if (!camas_rpc_parse_args("fail", args, kwargs, names, 1, v, &error))
        return camas_test_fail_error(req, error);
    g_autofree char *m = camas_value_get_type(v[0]) == CAMAS_VALUE_STR
                             ? g_strdup(camas_value_get_str(v[0], NULL))
                             : camas_value_repr(v[0]);
    camas_request_fail_text(req, "ValueError", m);
}

static void
m_get_calc(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    Math *m = inst;
    camas_request_reply_take(req, camas_service_to_value(m->calc));
}

static void
m_length(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    static const char *const names[] = {"x", NULL};
    CamasValue *v[1];
    GError *error = NULL;
    if (!camas_rpc_parse_args("length", args, kwargs, names, 1, v, &error))
        return camas_test_fail_error(req, error);
    gsize n = camas_value_get_length(v[0]);
    if (camas_value_get_type(v[0]) == CAMAS_VALUE_STR)
        n = (gsize)g_utf8_strlen(camas_value_get_str(v[0], NULL), (gssize)n);
    camas_request_reply_take(req, camas_value_new_int((gint64)n));
}

/* task style: sleeps on the clock, then answers */
static CamasValue *
m_sleep_echo(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs,
             GError **error)
{
    Math *m = inst;
    static const char *const names[] = {"dt", "x", NULL};
    CamasValue *v[2];
    if (!camas_rpc_parse_args("sleep_echo", args, kwargs, names, 2, v, error))
        return NULL;
    double dt;
    if (!camas_value_to_double(v[0], &dt, error))
        return NULL;
    CamasValue *x = camas_value_ref(v[1]);
    if (!camas_task_sleep(m->clock, dt, error)) {
        camas_value_unref(x);
        return NULL;
    }
    return x;
}

/* task style: calls back through the proxy it was given */
static CamasValue *
m_callback(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs,
           GError **error)
{
    gsize n = camas_value_get_length(args);
    CamasProxy *proxy = n >= 2 ? camas_value_get_proxy(camas_value_get_item(args, 0)) : NULL;
    CamasValue *method = n >= 2 ? camas_value_get_item(args, 1) : NULL;
    if (!proxy || camas_value_get_type(method) != CAMAS_VALUE_STR) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_TYPE,
                    "callback() takes a proxy, a method name and its arguments");
        return NULL;
    }
    g_autoptr(GPtrArray) rest = g_ptr_array_new();
    for (gsize i = 2; i < n; i++)
        g_ptr_array_add(rest, camas_value_get_item(args, i));
    g_autoptr(CamasValue) rest_list =
        camas_value_new_list((CamasValue *const *)rest->pdata, rest->len);
    g_autoptr(CamasValue) r =
        camas_proxy_call_await(proxy, camas_value_get_str(method, NULL), rest_list, NULL, error);
    if (!r)
        return NULL;
    return camas_value_build("[s v]", "cb", r);
}

static const CamasRpcMethod math_methods[] = {
    {"add", m_add},
    {"echo", camas_test_method_echo},
    {"echo_args", camas_test_method_echo_args},
    {"fail", m_fail},
    {"get_calc", m_get_calc},
    {"length", m_length},
    {"sleep_echo", NULL, m_sleep_echo},
    {"callback", NULL, m_callback},
    {NULL},
};
static const char *const math_subs[] = {"calc", NULL};
static const char *const math_hidden[] = {"hidden", NULL};
static const CamasServiceClass math_class = {
    .name = "MathServer",
    .module = "__main__",
    .methods = math_methods,
    .sub_services = math_subs,
    .hidden = math_hidden,
};

static gboolean
two_numbers(const char *name, const CamasValue *args, const CamasValue *kwargs, CamasValue **v,
            GError **error)
{
    static const char *const names[] = {"a", "b", NULL};
    return camas_rpc_parse_args(name, args, kwargs, names, 2, v, error);
}

static void
c_mul(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *v[2];
    GError *error = NULL;
    if (!two_numbers("mul", args, kwargs, v, &error))
        return camas_test_fail_error(req, error);
    camas_request_reply_take(
        req, camas_value_new_int(camas_value_get_int(v[0]) * camas_value_get_int(v[1])));
}

static void
c_div(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *v[2];
    GError *error = NULL;
    if (!two_numbers("div", args, kwargs, v, &error))
        return camas_test_fail_error(req, error);
    double a = 0, b = 0;
    camas_value_to_double(v[0], &a, NULL);
    camas_value_to_double(v[1], &b, NULL);
    if (b == 0) {
        GError *e = g_error_new_literal(CAMAS_ERROR, CAMAS_ERROR_ZERO_DIVISION, "division by zero");
        return camas_test_fail_error(req, e);
    }
    camas_request_reply_take(req, camas_value_new_float(a / b));
}

static void
c_whereami(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    camas_request_reply_take(req, camas_value_new_str("calc"));
}

static const CamasRpcMethod calc_methods[] = {
    {"mul", c_mul}, {"div", c_div}, {"whereami", c_whereami}, {NULL}};
static const char *const calc_subs[] = {"deep", NULL};
static const CamasServiceClass calc_class = {
    .name = "Calc", .module = "__main__", .methods = calc_methods, .sub_services = calc_subs};

static void
d_pow(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    CamasValue *v[2];
    GError *error = NULL;
    if (!two_numbers("pow", args, kwargs, v, &error))
        return camas_test_fail_error(req, error);
    gint64 r = 1;
    for (gint64 i = 0; i < camas_value_get_int(v[1]); i++)
        r *= camas_value_get_int(v[0]);
    camas_request_reply_take(req, camas_value_new_int(r));
}

static const CamasRpcMethod deep_methods[] = {{"pow", d_pow}, {NULL}};
static const CamasServiceClass deep_class = {
    .name = "Deep", .module = "__main__", .methods = deep_methods};

static CamasService *
math_service_new(CamasClock *clock)
{
    Math *m = g_new0(Math, 1);
    m->clock = clock;
    CamasService *root = camas_service_new(&math_class, m, g_free);
    g_autoptr(CamasService) calc = camas_service_new(&calc_class, NULL, NULL);
    g_autoptr(CamasService) deep = camas_service_new(&deep_class, NULL, NULL);
    cr_assert(camas_service_set_sub(calc, "deep", deep, NULL));
    cr_assert(camas_service_set_sub(root, "calc", calc, NULL));
    m->calc = calc;
    return root;
}

/* the client's own service, for callbacks */
static void
cl_echo(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    camas_request_reply_take(req, camas_value_build("[s v]", "client", camas_value_get_item(args, 0)));
}

static void
cl_twice(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    camas_request_reply_take(req,
                             camas_value_new_int(2 * camas_value_get_int(camas_value_get_item(args, 0))));
}

static const CamasRpcMethod client_methods[] = {{"client_echo", cl_echo}, {NULL}};
static const char *const client_subs[] = {"sub", NULL};
static const CamasServiceClass client_class = {
    .name = "Client", .methods = client_methods, .sub_services = client_subs};
static const CamasRpcMethod sub_methods[] = {{"twice", cl_twice}, {NULL}};
static const CamasServiceClass sub_class = {.name = "Sub", .methods = sub_methods};

static CamasService *
client_service_new(CamasService **sub_out)
{
    CamasService *root = camas_service_new(&client_class, NULL, NULL);
    g_autoptr(CamasService) sub = camas_service_new(&sub_class, NULL, NULL);
    cr_assert(camas_service_set_sub(root, "sub", sub, NULL));
    if (sub_out)
        *sub_out = sub;
    return root;
}

/* --- a fixture: a server of the conformance service and a client --------------------------- */

/* What env_new makes besides the server. */
typedef enum {
    ENV_CONNECT = 1 << 0,        /* a client connection (env->conn, env->remote) */
    ENV_CLIENT_SERVICE = 1 << 1, /* ... serving env->client_service */
} EnvFlags;

typedef struct {
    CamasTestWorld *w;
    CamasLoop *loop; /* w->loop */
    CamasCodec *codec;
    CamasService *math;           /* the server's root */
    CamasService *client_service; /* with ENV_CLIENT_SERVICE: the client's root, else NULL */
    CamasService *client_sub;     /* its "sub" */
    CamasChannelOptions server_opts, client_opts; /* the TLS contexts on CAMAS_TEST_TLS */
    CamasRpcServer *server;
    CamasRpcConnection *conn; /* with ENV_CONNECT, else NULL */
    CamasProxy *remote;       /* its remote root */
} Env;

/* The conformance service at camas_test_world_address(@kind, @name) in a world of its own:
 * LocalQueue on an as-fast-as-possible clock, sockets in real time. */
static Env *
env_new(CamasTestKind kind, const char *codec_name, const char *name, EnvFlags flags)
{
    Env *env = g_new0(Env, 1);
    env->w = camas_test_world_new(kind == CAMAS_TEST_LOCAL ? 0 : CAMAS_TEST_REALTIME);
    env->w->wait_seconds = 30;
    env->loop = env->w->loop;
    env->codec = camas_test_codec(codec_name);
    env->math = math_service_new(env->w->clock);
    if (kind == CAMAS_TEST_TLS) {
        env->server_opts.transport.tls = camas_test_world_get_tls(env->w, TRUE);
        env->client_opts.transport.tls = camas_test_world_get_tls(env->w, FALSE);
    }
    g_autofree char *address = camas_test_world_address(env->w, kind, name);
    g_autoptr(GError) error = NULL;
    env->server = camas_rpc_server_new(env->loop, address, env->codec, env->math, &env->server_opts,
                                       NULL, NULL, NULL, &error);
    cr_assert_not_null(env->server, "%s", error ? error->message : "");
    if (flags & ENV_CLIENT_SERVICE)
        env->client_service = client_service_new(&env->client_sub);
    if (flags & ENV_CONNECT) {
        env->conn = camas_test_rpc_open(env->w, camas_rpc_server_get_address(env->server),
                                        env->codec, env->client_service, &env->client_opts);
        env->remote = camas_rpc_connection_get_remote(env->conn);
    }
    return env;
}

static void
env_free(Env *env)
{
    g_clear_pointer(&env->remote, camas_proxy_unref);
    g_clear_pointer(&env->conn, camas_rpc_connection_unref);
    camas_rpc_server_free(env->server);
    g_clear_pointer(&env->client_service, camas_service_unref);
    camas_service_unref(env->math);
    camas_codec_unref(env->codec);
    camas_test_world_free(env->w);
    g_free(env);
}

/* The remote traceback (transfer full) of a call that must fail with CAMAS_ERROR_REMOTE. */
static char *
remote_text(GError *error)
{
    g_autoptr(GError) e = error;
    camas_test_assert_error(e, CAMAS_ERROR, CAMAS_ERROR_REMOTE, NULL);
    return g_strdup(camas_error_get_remote_text(e));
}

/* As camas_test_call_error, returning the remote traceback. */
#define call_fail(env, proxy, ...)                                                                 \
    remote_text(camas_test_call_error((env)->w, (proxy), __VA_ARGS__))

static void
assert_last_line(const char *text, const char *line)
{
    cr_assert(g_str_has_prefix(text, "Traceback (most recent call last):\n"), "%s", text);
    cr_assert(g_str_has_suffix(text, line), "%s\ndoes not end with\n%s", text, line);
}

/* --- tests: the C.2 capture ------------------------------------------------------------------ */

Test(rpc, c2_sequence_matches_captured_json_frames)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "json", "c2", ENV_CONNECT | ENV_CLIENT_SERVICE);
    CamasTestCapture *cap = camas_test_capture_start(env->w, "#c0", FALSE);

    g_autoptr(CamasValue) r1 = camas_test_call_ok(env->w, env->remote, "add", "[i i]", 3, 4);
    camas_test_assert_value(r1, "i", 7);
    g_autoptr(CamasValue) r3 =
        camas_test_call_ok(env->w, env->remote, "echo_args", "([i s] {s:i})", 1, "two", "x", 3);
    camas_test_assert_value(r3, "[[i s] {s:i}]", 1, "two", "x", 3);
    g_autoptr(CamasValue) r5 =
        camas_test_call_ok(env->w, env->remote, "calc/deep/pow", "[i i]", 2, 10);
    camas_test_assert_value(r5, "i", 1024);
    g_autofree char *t7 = call_fail(env, env->remote, "fail", "[s]", "boom");
    assert_last_line(t7, "\nValueError: boom\n");
    g_autofree char *t9 = call_fail(env, env->remote, "nope", "[]");
    assert_last_line(t9, "\nLookupError: Name \"nope\" not found in \"\"\n");
    g_autofree char *t11 = call_fail(env, env->remote, "hidden", "[]");
    assert_last_line(t11, "\nLookupError: \"__main__.MathServer.hidden\" is not exposed\n");
    cr_assert(strstr(t11, "\nKeyError: 'hidden'\n\nDuring handling of the above exception, "
                          "another exception occurred:\n\nTraceback (most recent call last):\n"),
              "%s", t11);
    g_autoptr(CamasValue) r13 = camas_test_call_ok(env->w, env->remote, "get_calc", "[]");
    CamasProxy *calc = camas_value_get_proxy(r13);
    cr_assert_not_null(calc, "a returned sub-service arrives as a proxy");
    cr_assert_str_eq(camas_proxy_get_path(calc), "calc");
    g_autoptr(CamasValue) root_value = camas_service_to_value(env->client_service);
    g_autoptr(CamasValue) r15 = camas_test_call_ok(env->w, env->remote, "callback", "[v s s]",
                                                   root_value, "client_echo", "x");
    camas_test_assert_value(r15, "[s [s s]]", "cb", "client", "x");
    g_autoptr(CamasValue) sub_value = camas_service_to_value(env->client_sub);
    g_autoptr(CamasValue) r19 =
        camas_test_call_ok(env->w, env->remote, "callback", "[v s i]", sub_value, "twice", 21);
    camas_test_assert_value(r19, "[s i]", "cb", 42);

    const char *client_expect[] = {
        "[0, 0, [\"add\", [3, 4], {}]]",
        "[0, 1, [\"echo_args\", [1, \"two\"], {\"x\": 3}]]",
        "[0, 2, [\"calc/deep/pow\", [2, 10], {}]]",
        "[0, 3, [\"fail\", [\"boom\"], {}]]",
        "[0, 4, [\"nope\", [], {}]]",
        "[0, 5, [\"hidden\", [], {}]]",
        "[0, 6, [\"get_calc\", [], {}]]",
        "[0, 7, [\"callback\", [{\"__type__\": [0, \"\"]}, \"client_echo\", \"x\"], {}]]",
        "[1, 0, [\"client\", \"x\"]]",
        "[0, 8, [\"callback\", [{\"__type__\": [0, \"sub\"]}, \"twice\", 21], {}]]",
        "[1, 1, 42]",
        NULL,
    };
    camas_test_assert_frames(cap->client, client_expect, "the client");
    cr_assert_eq(strlen(client_expect[0]), 0x1b);
    const char *server_expect[] = {
        "[1, 0, 7]",
        "[1, 1, [[1, \"two\"], {\"x\": 3}]]",
        "[1, 2, 1024]",
        NULL, NULL, NULL, /* tracebacks: checked above */
        "[1, 6, {\"__type__\": [0, \"calc\"]}]",
        "[0, 0, [\"client_echo\", [\"x\"], {}]]",
        "[1, 7, [\"cb\", [\"client\", \"x\"]]]",
        "[0, 1, [\"sub/twice\", [21], {}]]",
        "[1, 8, [\"cb\", 42]]",
    };
    cr_assert_eq(cap->server->len, G_N_ELEMENTS(server_expect));
    for (guint i = 0; i < G_N_ELEMENTS(server_expect); i++)
        if (server_expect[i])
            cr_assert_str_eq(g_ptr_array_index(cap->server, i), server_expect[i]);
    cr_assert(g_str_has_prefix(g_ptr_array_index(cap->server, 3),
                               "[2, 3, \"Traceback (most recent call last):\\n"));
    camas_test_capture_stop(cap);

    /* the proxy for calc calls back over the same connection */
    g_autoptr(CamasValue) where = camas_test_call_ok(env->w, calc, "whereami", "[]");
    camas_test_assert_value(where, "s", "calc");
    env_free(env);
}

Test(rpc, c4_rpc_lines_match_captured_msgpack_frames)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "msgpack", "c4", ENV_CONNECT | ENV_CLIENT_SERVICE);
    CamasTestCapture *cap = camas_test_capture_start(env->w, "#c0", TRUE);
    g_autoptr(CamasValue) r1 = camas_test_call_ok(env->w, env->remote, "add", "[i i]", 3, 4);
    camas_test_assert_value(r1, "i", 7);
    for (int i = 0; i < 5; i++) {
        g_autoptr(CamasValue) r =
            camas_test_call_ok(env->w, env->remote, "calc/deep/pow", "[i i]", 2, 10);
        camas_test_assert_value(r, "i", 1024);
    }
    g_autoptr(CamasValue) r6 = camas_test_call_ok(env->w, env->remote, "get_calc", "[]");
    cr_assert_not_null(camas_value_get_proxy(r6));
    g_autoptr(CamasValue) root_value = camas_service_to_value(env->client_service);
    g_autoptr(CamasValue) r7 = camas_test_call_ok(env->w, env->remote, "callback", "[v s s]",
                                                  root_value, "client_echo", "x");
    camas_test_assert_value(r7, "[s [s s]]", "cb", "client", "x");
    cr_assert_str_eq(g_ptr_array_index(cap->client, 0), "93000093a361646492030480");
    cr_assert_str_eq(g_ptr_array_index(cap->server, 0), "93010007");
    cr_assert_str_eq(g_ptr_array_index(cap->server, 2), "930102cd0400");
    cr_assert_str_eq(g_ptr_array_index(cap->server, 6), "93010681a85f5f747970655f5f9200a463616c63");
    cr_assert_str_eq(g_ptr_array_index(cap->client, 7),
                     "93000793a863616c6c6261636b9381a85f5f747970655f5f9200a0ab636c69656e745f6563"
                     "686fa17880");
    camas_test_capture_stop(cap);
    env_free(env);
}

/* --- tests: calls ----------------------------------------------------------------------------- */

Test(rpc, keyword_arguments_bind_like_python)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "json", "kw", ENV_CONNECT);
    g_autoptr(CamasValue) a =
        camas_test_call_ok(env->w, env->remote, "add", "([] {s:i s:i})", "a", 1, "b", 2);
    camas_test_assert_value(a, "i", 3);
    g_autoptr(CamasValue) b =
        camas_test_call_ok(env->w, env->remote, "add", "([i] {s:i})", 1, "b", 2);
    camas_test_assert_value(b, "i", 3);
    g_autoptr(CamasValue) s =
        camas_test_call_ok(env->w, env->remote, "add", "[s s]", "spam", "eggs");
    camas_test_assert_value(s, "s", "spameggs");
    g_autoptr(CamasValue) f = camas_test_call_ok(env->w, env->remote, "add", "[i f]", 1, 0.5);
    camas_test_assert_value(f, "f", 1.5);
    g_autofree char *e1 = call_fail(env, env->remote, "add", "[i i i]", 1, 2, 3);
    assert_last_line(e1, "\nTypeError: add() takes 2 positional arguments but 3 were given\n");
    g_autofree char *e2 = call_fail(env, env->remote, "add", "[i]", 1);
    assert_last_line(e2, "\nTypeError: add() missing 1 required positional argument: 'b'\n");
    g_autofree char *e3 = call_fail(env, env->remote, "add", "([i i] {s:i})", 1, 2, "c", 3);
    assert_last_line(e3, "\nTypeError: add() got an unexpected keyword argument 'c'\n");
    g_autofree char *e4 = call_fail(env, env->remote, "add", "([i i] {s:i})", 1, 2, "a", 3);
    assert_last_line(e4, "\nTypeError: add() got multiple values for argument 'a'\n");
    g_autofree char *e5 = call_fail(env, env->remote, "add", "[]");
    assert_last_line(e5,
                     "\nTypeError: add() missing 2 required positional arguments: 'a' and 'b'\n");
    g_autofree char *e6 = call_fail(env, env->remote, "add", "[i s]", 1, "x");
    assert_last_line(e6, "\nTypeError: unsupported operand type(s) for +: 'int' and 'str'\n");
    /* the build convenience */
    g_autoptr(CamasFuture) fb =
        camas_proxy_call_build(env->remote, "add", "([i] {s:i})", 40, "b", 2);
    g_autoptr(CamasValue) rb = camas_test_await_ok(env->w, fb);
    camas_test_assert_value(rb, "i", 42);
    g_autoptr(CamasFuture) fk =
        camas_proxy_call_build(env->remote, "add", "{s:i s:i}", "b", 1, "a", 2);
    g_autoptr(CamasValue) rk = camas_test_await_ok(env->w, fk);
    camas_test_assert_value(rk, "i", 3);
    env_free(env);
}

Test(rpc, parse_args_reports_python_texts)
{
    static const char *const names[] = {"a", "b", "c", NULL};
    CamasValue *out[3] = {NULL, NULL, NULL};
    g_autoptr(GError) e = NULL;
    g_autoptr(CamasValue) none = camas_value_build("[]");
    cr_assert_not(camas_rpc_parse_args("f", none, NULL, names, 3, out, &e));
    cr_assert_str_eq(e->message, "f() missing 3 required positional arguments: 'a', 'b', and 'c'");
    g_clear_error(&e);
    g_autoptr(CamasValue) four = camas_value_build("[i i i i]", 1, 2, 3, 4);
    cr_assert_not(camas_rpc_parse_args("f", four, NULL, names, 1, out, &e));
    cr_assert_str_eq(e->message, "f() takes from 1 to 3 positional arguments but 4 were given");
    g_clear_error(&e);
    g_autoptr(CamasValue) one = camas_value_build("[i]", 7);
    cr_assert(camas_rpc_parse_args("f", one, NULL, names, 1, out, &e));
    cr_assert_eq(camas_value_get_int(out[0]), 7);
    cr_assert_null(out[1], "optional parameters not given are left untouched");
}

Test(rpc, paths_resolve_through_nested_services_with_aiomas_texts)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "json", "paths", ENV_CONNECT);
    g_autoptr(CamasValue) m = camas_test_call_ok(env->w, env->remote, "calc/mul", "[i i]", 6, 7);
    camas_test_assert_value(m, "i", 42);
    g_autoptr(CamasProxy) calc = camas_proxy_get_sub(env->remote, "calc");
    g_autoptr(CamasProxy) deep = camas_proxy_get_sub(calc, "deep");
    cr_assert_str_eq(camas_proxy_get_path(deep), "calc/deep");
    g_autoptr(CamasValue) p = camas_test_call_ok(env->w, deep, "pow", "[i i]", 3, 3);
    camas_test_assert_value(p, "i", 27);
    g_autoptr(CamasValue) p2 = camas_test_call_ok(env->w, calc, "deep/pow", "[i i]", 2, 3);
    camas_test_assert_value(p2, "i", 8);

    struct {
        const char *path;
        const char *last;
    } cases[] = {
        {"", "\nLookupError: Name \"\" not found in \"\"\n"},
        {"calc/", "\nLookupError: Name \"\" not found in \"calc\"\n"},
        {"calc/nope", "\nLookupError: Name \"nope\" not found in \"calc\"\n"},
        {"calc/deep/x", "\nLookupError: Name \"x\" not found in \"calc/deep\"\n"},
        {"add/x", "\nLookupError: Name \"x\" not found in \"add\"\n"},
        {"calc", "\nTypeError: 'Calc' object is not callable\n"},
        {"calc/deep", "\nTypeError: 'Deep' object is not callable\n"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *t = call_fail(env, env->remote, cases[i].path, "[]");
        assert_last_line(t, cases[i].last);
    }
    g_autofree char *z = call_fail(env, calc, "div", "[i i]", 1, 0);
    assert_last_line(z, "\nZeroDivisionError: division by zero\n");
    g_autoptr(CamasValue) d = camas_test_call_ok(env->w, calc, "div", "[i i]", 1, 4);
    camas_test_assert_value(d, "f", 0.25);
    env_free(env);
}

/* agents: a dict service mapping ids to services */
typedef struct {
    int count;
    const char *name;
} Agent;

static void
a_incr(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    Agent *a = inst;
    static const char *const names[] = {"n", NULL};
    CamasValue *v[1] = {NULL};
    GError *error = NULL;
    if (!camas_rpc_parse_args("incr", args, kwargs, names, 0, v, &error))
        return camas_test_fail_error(req, error);
    a->count += v[0] ? (int)camas_value_get_int(v[0]) : 1;
    camas_request_reply_take(req, camas_value_new_int(a->count));
}

static void
a_whoami(gpointer inst, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    Agent *a = inst;
    camas_request_reply_take(req, camas_value_new_str(a->name));
}

static const CamasRpcMethod agent_methods[] = {{"incr", a_incr}, {"whoami", a_whoami}, {NULL}};
static const CamasServiceClass agent_class = {.name = "CounterAgent", .methods = agent_methods};
static const CamasRpcMethod container_methods[] = {{NULL}};
static const char *const container_subs[] = {"agents", NULL};
static const CamasServiceClass container_class = {
    .name = "Container", .methods = container_methods, .sub_services = container_subs};

/* Serves @root at @address and connects to it: the remote root proxy (transfer full). */
static CamasProxy *
serve_root(CamasTestWorld *w, const char *address, CamasCodec *c, CamasService *root,
           CamasRpcServer **server, CamasRpcConnection **conn)
{
    g_autoptr(GError) e = NULL;
    *server = camas_rpc_server_new(w->loop, address, c, root, NULL, NULL, NULL, NULL, &e);
    cr_assert_not_null(*server, "%s", e ? e->message : "");
    *conn = camas_test_rpc_open(w, address, c, NULL, NULL);
    return camas_rpc_connection_get_remote(*conn);
}

Test(rpc, dict_services_route_names_to_agents)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("json");
    Agent a0 = {0, "zero"}, a1 = {10, "one"};
    g_autoptr(CamasService) root = camas_service_new(&container_class, NULL, NULL);
    g_autoptr(CamasService) agents = camas_service_new_dict();
    g_autoptr(CamasService) s0 = camas_service_new(&agent_class, &a0, NULL);
    g_autoptr(CamasService) s1 = camas_service_new(&agent_class, &a1, NULL);
    cr_assert(camas_service_set_sub(root, "agents", agents, NULL));
    cr_assert(camas_service_set_sub(agents, "0", s0, NULL));
    cr_assert(camas_service_set_sub(agents, "1", s1, NULL));
    g_autofree char *path = camas_service_dup_path(s1);
    cr_assert_str_eq(path, "agents/1");
    cr_assert_str_eq(camas_service_get_class_name(agents), "ServiceDict");

    /* contract checks: no second parent, no '/' in dict names, only declared slots */
    g_autoptr(GError) e = NULL;
    cr_assert_not(camas_service_set_sub(agents, "2", s0, &e));
    g_clear_error(&e);
    cr_assert_not(camas_service_set_sub(agents, "a/b", NULL, &e));
    g_clear_error(&e);
    cr_assert_not(camas_service_set_sub(root, "other", NULL, &e));
    g_clear_error(&e);
    cr_assert_not(camas_service_set_sub(s0, "x", root, &e));
    g_clear_error(&e);

    CamasRpcServer *server = NULL;
    g_autoptr(CamasRpcConnection) conn = NULL;
    g_autoptr(CamasProxy) remote = serve_root(w, "local://agents", c, root, &server, &conn);
    g_autoptr(CamasFuture) f1 = camas_proxy_call_build(remote, "agents/1/incr", "[i]", 5);
    g_autoptr(CamasValue) r1 = camas_test_await_ok(w, f1);
    camas_test_assert_value(r1, "i", 15);
    g_autoptr(CamasFuture) f2 = camas_proxy_call_build(remote, "agents/0/incr", "[]");
    g_autoptr(CamasValue) r2 = camas_test_await_ok(w, f2);
    camas_test_assert_value(r2, "i", 1);
    g_autoptr(CamasProxy) agent1 = camas_proxy_get_sub(remote, "agents/1");
    g_autoptr(CamasFuture) f3 = camas_proxy_call_build(agent1, "whoami", "[]");
    g_autoptr(CamasValue) r3 = camas_test_await_ok(w, f3);
    camas_test_assert_value(r3, "s", "one");
    g_autoptr(CamasFuture) f4 = camas_proxy_call_build(remote, "agents/5/incr", "[]");
    g_autoptr(GError) e4 = camas_test_await_error(w, f4);
    cr_assert(g_str_has_suffix(camas_error_get_remote_text(e4),
                               "\nLookupError: Name \"5\" not found in \"agents\"\n"));
    /* removing an agent takes it off the paths */
    cr_assert(camas_service_set_sub(agents, "1", NULL, NULL));
    cr_assert_null(camas_service_get_parent(s1));
    g_autoptr(CamasFuture) f5 = camas_proxy_call_build(agent1, "whoami", "[]");
    g_autoptr(GError) e5 = camas_test_await_error(w, f5);
    cr_assert(g_str_has_suffix(camas_error_get_remote_text(e5),
                               "\nLookupError: Name \"1\" not found in \"agents\"\n"));
    camas_rpc_server_free(server);
}

/* "agents/<name>/whoami" over @remote: the agent's name, or NULL with the LookupError's name */
static char *
whoami(CamasTestWorld *w, CamasProxy *remote, const char *name)
{
    g_autofree char *path = g_strdup_printf("agents/%s/whoami", name);
    g_autoptr(CamasFuture) f = camas_proxy_call_build(remote, path, "[]");
    camas_test_run_until_done(w, f);
    CamasValue *r = camas_future_get_result(f);
    if (r)
        return g_strdup(camas_value_get_str(r, NULL));
    const char *text = camas_error_get_remote_text(camas_future_get_error(f));
    g_autofree char *want = g_strdup_printf("LookupError: Name \"%s\" not found in \"agents\"\n",
                                            name);
    cr_assert(g_str_has_suffix(text, want), "%s", text);
    return NULL;
}

Test(rpc, dict_services_resolve_numbered_names_like_any_other)
{
    /* dicts keep subs named 0, 1, 2, ... in an array as well: every way a name can come and
     * go must resolve exactly as the table says */
    enum { N = 300 };
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("msgpack");
    g_autoptr(CamasService) root = camas_service_new(&container_class, NULL, NULL);
    g_autoptr(CamasService) agents = camas_service_new_dict();
    cr_assert(camas_service_set_sub(root, "agents", agents, NULL));
    Agent a[N + 2];
    char names[N + 2][16];
    for (int i = 0; i < N + 2; i++) {
        g_snprintf(names[i], sizeof names[i], "agent-%d", i);
        a[i] = (Agent){0, names[i]};
    }
    /* numbered in order, then one far beyond the others, then names that only look numeric */
    for (int i = 0; i < N; i++) {
        g_autoptr(CamasService) s = camas_service_new(&agent_class, &a[i], NULL);
        g_autofree char *name = g_strdup_printf("%d", i);
        cr_assert(camas_service_set_sub(agents, name, s, NULL));
    }
    g_autoptr(CamasService) far = camas_service_new(&agent_class, &a[N], NULL);
    cr_assert(camas_service_set_sub(agents, "100000", far, NULL));
    g_autoptr(CamasService) padded = camas_service_new(&agent_class, &a[N + 1], NULL);
    cr_assert(camas_service_set_sub(agents, "007", padded, NULL));
    /* replace one, remove another */
    g_autoptr(CamasService) other = camas_service_new(&agent_class, &a[N + 1], NULL);
    cr_assert(camas_service_set_sub(agents, "5", other, NULL));
    cr_assert(camas_service_set_sub(agents, "6", NULL, NULL));

    CamasRpcServer *server = NULL;
    g_autoptr(CamasRpcConnection) conn = NULL;
    g_autoptr(CamasProxy) remote = serve_root(w, "local://numbered", c, root, &server, &conn);

    const int probe[] = {0, 1, 63, 64, 65, 127, 128, 299};
    for (guint i = 0; i < G_N_ELEMENTS(probe); i++) {
        g_autofree char *name = g_strdup_printf("%d", probe[i]);
        g_autofree char *got = whoami(w, remote, name);
        cr_assert_str_eq(got, names[probe[i]]);
    }
    g_autofree char *r5 = whoami(w, remote, "5");
    cr_assert_str_eq(r5, names[N + 1], "a replaced name resolves to the new service");
    g_autofree char *r6 = whoami(w, remote, "6");
    cr_assert_null(r6, "a removed name is gone");
    g_autofree char *rfar = whoami(w, remote, "100000");
    cr_assert_str_eq(rfar, names[N]);
    g_autofree char *r007 = whoami(w, remote, "007");
    cr_assert_str_eq(r007, names[N + 1]);
    const char *missing[] = {"7a", "300", "99999", "100001", "-1", "+1", "05", "1000000000"};
    for (guint i = 0; i < G_N_ELEMENTS(missing); i++) {
        g_autofree char *got = whoami(w, remote, missing[i]);
        cr_assert_null(got, "%s", missing[i]);
    }
    g_autofree char *r7 = whoami(w, remote, "7");
    cr_assert_str_eq(r7, names[7], "\"7\" is not \"007\"");
    /* a name added again after its removal */
    g_autoptr(CamasService) again = camas_service_new(&agent_class, &a[6], NULL);
    cr_assert(camas_service_set_sub(agents, "6", again, NULL));
    g_autofree char *r6b = whoami(w, remote, "6");
    cr_assert_str_eq(r6b, names[6]);
    camas_rpc_server_free(server);
}

Test(rpc, services_travel_as_proxies_and_call_back_over_the_same_connection)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "msgpack", "px", ENV_CONNECT | ENV_CLIENT_SERVICE);
    /* the server gets a proxy for the client's sub-service and calls it */
    g_autoptr(CamasValue) sub_value = camas_service_to_value(env->client_sub);
    g_autoptr(CamasValue) r =
        camas_test_call_ok(env->w, env->remote, "callback", "[v s i]", sub_value, "twice", 4);
    camas_test_assert_value(r, "[s i]", "cb", 8);
    /* a failure of the callback becomes the call's failure, text unchanged */
    g_autofree char *t = call_fail(env, env->remote, "callback", "[v s]", sub_value, "nope");
    assert_last_line(t, "\nLookupError: Name \"nope\" not found in \"sub\"\n");
    /* a received proxy cannot be sent back to its owner */
    g_autoptr(CamasValue) calc = camas_test_call_ok(env->w, env->remote, "get_calc", "[]");
    g_autoptr(CamasValue) args = camas_value_build("[v]", calc);
    g_autoptr(CamasFuture) f = camas_proxy_call(env->remote, "echo", args, NULL);
    g_autoptr(GError) e = camas_test_await_error(env->w, f);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CODEC), "%s", e->message);
    cr_assert(strstr(e->message, "back to its owner"), "%s", e->message);
    /* a service from another tree cannot be sent */
    g_autoptr(CamasService) stray = camas_service_new(&sub_class, NULL, NULL);
    g_autoptr(CamasValue) stray_value = camas_service_to_value(stray);
    g_autoptr(CamasValue) args2 = camas_value_build("[v]", stray_value);
    g_autoptr(CamasFuture) f2 = camas_proxy_call(env->remote, "echo", args2, NULL);
    g_autoptr(GError) e2 = camas_test_await_error(env->w, f2);
    cr_assert(g_error_matches(e2, CAMAS_ERROR, CAMAS_ERROR_CODEC), "%s", e2->message);
    cr_assert(strstr(e2->message, "not part of the service tree"), "%s", e2->message);
    /* the connection goes on */
    g_autoptr(CamasValue) ok = camas_test_call_ok(env->w, env->remote, "echo", "[i]", 1);
    cr_assert_not_null(ok);
    env_free(env);
}

Test(rpc, a_side_that_serves_nothing_cannot_send_services_or_be_called)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "json", "nosvc", ENV_CONNECT);
    g_autoptr(CamasService) s = camas_service_new(&sub_class, NULL, NULL);
    g_autoptr(CamasValue) v = camas_service_to_value(s);
    g_autoptr(CamasValue) args = camas_value_build("[v s i]", v, "twice", 1);
    g_autoptr(CamasFuture) f = camas_proxy_call(env->remote, "callback", args, NULL);
    g_autoptr(GError) e = camas_test_await_error(env->w, f);
    cr_assert(strstr(e->message, "serves no RPC service"), "%s", e->message);
    /* the server calling the client gets a LookupError, not silence */
    CamasRpcConnection *sconn = camas_rpc_server_get_connection(env->server, 0);
    g_autoptr(CamasProxy) back = camas_rpc_connection_get_remote(sconn);
    g_autoptr(CamasFuture) fb = camas_proxy_call_build(back, "anything", "[]");
    g_autoptr(GError) eb = camas_test_await_error(env->w, fb);
    cr_assert(g_str_has_suffix(camas_error_get_remote_text(eb),
                               "LookupError: No RPC service is served on this side of the "
                               "connection\n"),
              "%s", camas_error_get_remote_text(eb));
    env_free(env);
}

Test(rpc, task_style_methods_answer_later_without_blocking_others)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "json", "task", ENV_CONNECT);
    g_autoptr(CamasFuture) slow =
        camas_proxy_call_build(env->remote, "sleep_echo", "[f s]", 2.0, "slow");
    g_autoptr(CamasFuture) fast =
        camas_proxy_call_build(env->remote, "sleep_echo", "[f s]", 0.5, "fast");
    g_autoptr(CamasFuture) now = camas_proxy_call_build(env->remote, "echo", "[s]", "now");
    g_autoptr(CamasValue) r = camas_test_await_ok(env->w, now);
    camas_test_assert_value(r, "s", "now");
    cr_assert_eq(camas_loop_now(env->loop), 0);
    g_autoptr(CamasValue) rf = camas_test_await_ok(env->w, fast);
    camas_test_assert_value(rf, "s", "fast");
    cr_assert_not(camas_future_is_done(slow));
    g_autoptr(CamasValue) rs = camas_test_await_ok(env->w, slow);
    camas_test_assert_value(rs, "s", "slow");
    cr_assert_eq(camas_loop_now(env->loop), 2 * CAMAS_TICKS_PER_SECOND);
    g_autoptr(CamasFuture) bad =
        camas_proxy_call_build(env->remote, "sleep_echo", "[f s]", -1.0, "x");
    g_autoptr(GError) e = camas_test_await_error(env->w, bad);
    cr_assert(strstr(camas_error_get_remote_text(e), "\nValueError: "), "%s",
              camas_error_get_remote_text(e));
    env_free(env);
}

typedef struct {
    CamasProxy *remote;
    CamasValue *result;
    GError *error;
} TaskCaller;

static CamasValue *
caller_task(CamasTask *task, gpointer data, GError **error)
{
    TaskCaller *tc = data;
    g_autoptr(CamasValue) args = camas_value_build("[i i]", 20, 22);
    tc->result = camas_proxy_call_await(tc->remote, "add", args, NULL, &tc->error);
    return NULL;
}

Test(rpc, task_style_callers_await_proxy_calls)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "json", "await", ENV_CONNECT);
    TaskCaller tc = {env->remote, NULL, NULL};
    g_autoptr(CamasTask) t = camas_task_spawn(env->loop, caller_task, &tc, NULL, NULL);
    camas_test_run_until_done(env->w, camas_task_get_future(t));
    cr_assert_null(tc.error);
    camas_test_assert_value(tc.result, "i", 42);
    camas_value_unref(tc.result);
    env_free(env);
}

/* --- malformed requests: answered, never hung ------------------------------------------------- */

/* Found by fuzz_rpc (tests/fuzz/regressions/rpc/nul-in-path): a path component holding a NUL
 * byte equalled a shorter slot, method or hidden name up to the NUL, and the comparison then
 * read past the end of that name.  Such components name nothing. */
Test(rpc, path_components_with_nul_bytes_name_nothing)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "msgpack", "nul", ENV_CONNECT);
    CamasChannel *ch = camas_rpc_connection_get_channel(env->conn);
    static const struct {
        const char *path;
        gssize len;
    } cases[] = {
        {"calc\0deep/mul", 13}, /* a sub-service slot */
        {"add\0x", 5},          /* a method */
        {"hidden\0", 7},        /* a hidden name */
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(CamasValue) content =
            camas_value_build("[s# [i i] {}]", cases[i].path, cases[i].len, 2, 3);
        g_autoptr(CamasFuture) f = camas_channel_send(ch, content);
        g_autoptr(GError) e = camas_test_await_error(env->w, f);
        cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_REMOTE), "%s", e->message);
        const char *text = camas_error_get_remote_text(e);
        cr_assert(strstr(text, "LookupError: Name \""), "case %zu: %s", i, text);
        cr_assert_null(strstr(text, "is not exposed"), "case %zu: %s", i, text);
    }
    env_free(env);
}

/* A dict name with a NUL in it names nothing: "foo\0bar" must not find the entry "foo". */
Test(rpc, dict_names_with_nul_bytes_name_nothing)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_NO_CLOCK);
    g_autoptr(CamasCodec) c = camas_test_codec("msgpack");
    Agent a = {0, "foo"};
    g_autoptr(CamasService) root = camas_service_new(&container_class, NULL, NULL);
    g_autoptr(CamasService) agents = camas_service_new_dict();
    g_autoptr(CamasService) foo = camas_service_new(&agent_class, &a, NULL);
    cr_assert(camas_service_set_sub(root, "agents", agents, NULL));
    cr_assert(camas_service_set_sub(agents, "foo", foo, NULL));
    CamasRpcServer *server = NULL;
    g_autoptr(CamasRpcConnection) conn = NULL;
    g_autoptr(CamasProxy) remote = serve_root(w, "local://nuldict", c, root, &server, &conn);
    CamasChannel *ch = camas_rpc_connection_get_channel(conn);
    static const char good[] = "agents/foo/whoami", bad[] = "agents/foo\0bar/whoami";
    g_autoptr(CamasValue) ok_req = camas_value_build("[s# [] {}]", good, sizeof good - 1);
    g_autoptr(CamasFuture) ok = camas_channel_send(ch, ok_req);
    g_autoptr(CamasValue) name = camas_test_await_ok(w, ok);
    camas_test_assert_value(name, "s", "foo");
    g_autoptr(CamasValue) bad_req = camas_value_build("[s# [] {}]", bad, sizeof bad - 1);
    g_autoptr(CamasFuture) f = camas_channel_send(ch, bad_req);
    g_autoptr(GError) e = camas_test_await_error(w, f);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_REMOTE), "%s", e->message);
    cr_assert(strstr(camas_error_get_remote_text(e), "LookupError: Name \""), "%s",
              camas_error_get_remote_text(e));
    camas_rpc_server_free(server);
}

Test(rpc, malformed_requests_are_answered_with_type_errors)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "msgpack", "mal", ENV_CONNECT);
    CamasChannel *ch = camas_rpc_connection_get_channel(env->conn);
    struct {
        const char *format;
        const char *last;
    } cases[] = {
        {"s", "TypeError: RPC request must be a [path, args, kwargs] triple, got str\n"},
        {"[s []]", "TypeError: RPC request must be a [path, args, kwargs] triple, got an array "
                   "of 2 items\n"},
        {"[i [] {}]", "TypeError: RPC path must be a str, got int\n"},
        {"[[s] [] {}]", "TypeError: RPC path must be a str, got list\n"},
        {"[s {} {}]", "TypeError: RPC args must be a list, got map\n"},
        {"[s [] []]", "TypeError: RPC kwargs must be a map, got list\n"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(CamasValue) content = strchr(cases[i].format, 's') && cases[i].format[0] != 's'
                                            ? camas_value_build(cases[i].format, "add")
                                            : camas_value_build(cases[i].format, "x");
        if (strcmp(cases[i].format, "[i [] {}]") == 0) {
            camas_value_unref(content);
            content = camas_value_build("[i [] {}]", 5);
        }
        g_autoptr(CamasFuture) f = camas_channel_send(ch, content);
        g_autoptr(GError) e = camas_test_await_error(env->w, f);
        cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_REMOTE), "%s", e->message);
        assert_last_line(camas_error_get_remote_text(e), cases[i].last);
    }
    /* non-string keyword names (msgpack can carry them) */
    CamasValue *k = camas_value_new_int(1), *v = camas_value_new_int(2);
    g_autoptr(CamasValue) kw = camas_value_new_map_take(&k, &v, 1, NULL);
    g_autoptr(CamasValue) content = camas_value_build("[s [] v]", "add", kw);
    g_autoptr(CamasFuture) f = camas_channel_send(ch, content);
    g_autoptr(GError) e = camas_test_await_error(env->w, f);
    assert_last_line(camas_error_get_remote_text(e), "TypeError: keywords must be strings\n");
    /* the connection goes on */
    g_autoptr(CamasValue) r = camas_test_call_ok(env->w, env->remote, "add", "[i i]", 1, 1);
    camas_test_assert_value(r, "i", 2);
    env_free(env);
}

/* --- connection loss ------------------------------------------------------------------------- */

typedef struct {
    int n;
    GError *error;
} Resets;

static void
on_reset(CamasRpcConnection *conn, const GError *error, gpointer data)
{
    Resets *r = data;
    r->n++;
    g_clear_error(&r->error);
    r->error = g_error_copy(error);
}

Test(rpc, closing_the_server_fails_pending_calls_and_reports_a_reset)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "json", "reset", ENV_CONNECT);
    Resets r = {0};
    camas_rpc_connection_set_reset_func(env->conn, on_reset, &r, NULL);
    g_autoptr(CamasFuture) f = camas_proxy_call_build(env->remote, "sleep_echo", "[i s]", 5, "x");
    camas_loop_run_until(env->loop, CAMAS_TICKS_PER_SECOND);
    cr_assert_not(camas_future_is_done(f));
    cr_assert_eq(camas_rpc_server_get_n_connections(env->server), 1);
    camas_rpc_server_close(env->server);
    cr_assert_eq(camas_rpc_server_get_n_connections(env->server), 0);
    g_autoptr(GError) e = camas_test_await_error(env->w, f);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED), "%s", e->message);
    camas_loop_run(env->loop);
    cr_assert_eq(r.n, 1);
    cr_assert(g_error_matches(r.error, CAMAS_ERROR, CAMAS_ERROR_CLOSED));
    g_clear_error(&r.error);
    cr_assert(camas_rpc_connection_is_closed(env->conn));
    g_autoptr(CamasFuture) f2 = camas_proxy_call_build(env->remote, "echo", "[i]", 1);
    g_autoptr(GError) e2 = camas_test_await_error(env->w, f2);
    cr_assert(g_error_matches(e2, CAMAS_ERROR, CAMAS_ERROR_CLOSED));
    env_free(env);
}

static void
record_answers(const CamasTraceRecord *r, gpointer data)
{
    if (r->kind == CAMAS_TRACE_REPLY || r->kind == CAMAS_TRACE_FAILURE)
        g_ptr_array_add(data, g_strdup_printf("%s %s id=%" G_GINT64_FORMAT,
                                              camas_trace_kind_name(r->kind),
                                              r->method ? r->method : "-", r->msg_id));
}

Test(rpc, replies_and_failures_are_traced_with_the_method_of_their_request)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "msgpack", "traced", ENV_CONNECT);
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);
    camas_loop_set_tracer(env->loop, record_answers, got, NULL);
    g_autoptr(CamasValue) r0 = camas_test_call_ok(env->w, env->remote, "add", "[i i]", 1, 2);
    g_autofree char *t1 = call_fail(env, env->remote, "fail", "[s]", "boom");
    /* id 2 stays pending while 40 calls go by, so it moves out of the ring of recent ids
     * (a straggler) and is failed from there when the connection closes */
    g_autoptr(CamasFuture) slow =
        camas_proxy_call_build(env->remote, "sleep_echo", "[i s]", 5, "x");
    for (int i = 0; i < 40; i++) {
        g_autoptr(CamasValue) r =
            camas_test_call_ok(env->w, env->remote, "calc/deep/pow", "[i i]", 2, i % 8);
        camas_test_assert_value(r, "i", 1 << (i % 8));
    }
    camas_rpc_server_close(env->server);
    g_autoptr(GError) e = camas_test_await_error(env->w, slow);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED), "%s", e->message);
    camas_loop_set_tracer(env->loop, NULL, NULL, NULL);

    cr_assert_eq(got->len, 43, "got %u answers", got->len);
    cr_assert_str_eq(g_ptr_array_index(got, 0), "reply add id=0");
    cr_assert_str_eq(g_ptr_array_index(got, 1), "failure fail id=1");
    for (guint i = 0; i < 40; i++) {
        g_autofree char *want = g_strdup_printf("reply calc/deep/pow id=%u", i + 3);
        cr_assert_str_eq(g_ptr_array_index(got, 2 + i), want);
    }
    cr_assert_str_eq(g_ptr_array_index(got, 42), "failure sleep_echo id=2");
    env_free(env);
}

Test(rpc, a_client_that_goes_away_is_forgotten_by_the_server)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "json", "away", ENV_CONNECT);
    cr_assert_eq(camas_rpc_server_get_n_connections(env->server), 1);
    camas_rpc_connection_close(env->conn);
    camas_loop_run(env->loop);
    cr_assert_eq(camas_rpc_server_get_n_connections(env->server), 0);
    env_free(env);
}

/* --- time --------------------------------------------------------------------------------------- */

Test(rpc, a_call_and_its_reply_complete_inside_one_set_time)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_EXTERNAL);
    CamasLoop *loop = w->loop;
    CamasClock *clock = w->clock;
    g_autoptr(CamasCodec) c = camas_test_codec("msgpack");
    g_autoptr(CamasService) math = math_service_new(clock);
    CamasRpcServer *server =
        camas_rpc_server_new(loop, "local://ext", c, math, NULL, NULL, NULL, NULL, NULL);
    g_autoptr(CamasFuture) fo = camas_rpc_open(loop, "local://ext", c, NULL, NULL, NULL);
    cr_assert(camas_clock_set_time(clock, 1, NULL));
    cr_assert(camas_future_is_done(fo));
    g_autoptr(CamasRpcConnection) conn = camas_rpc_open_finish(fo, NULL);
    g_autoptr(CamasProxy) remote = camas_rpc_connection_get_remote(conn);
    g_autoptr(CamasFuture) f = camas_proxy_call_build(remote, "calc/deep/pow", "[i i]", 2, 5);
    g_autoptr(CamasFuture) s = camas_proxy_call_build(remote, "sleep_echo", "[f i]", 1.5, 9);
    cr_assert(camas_clock_set_time(clock, 2, NULL));
    cr_assert(camas_future_is_done(f), "the round trip ran inside set_time");
    cr_assert_not(camas_future_is_done(s));
    cr_assert(camas_clock_set_time(clock, 3, NULL));
    cr_assert(camas_future_is_done(s), "woke at 2.5 inside set_time(3) and replied");
    g_autoptr(CamasValue) rf = camas_test_await_ok(w, f);
    camas_test_assert_value(rf, "i", 32);
    camas_rpc_server_free(server);
}

/* --- volume ---------------------------------------------------------------------------------- */

typedef struct {
    guint ok;
    guint wrong;
} Tally;

static void
count_reply(CamasFuture *f, gpointer data)
{
    Tally *t = data;
    CamasValue *r = camas_future_get_result(f);
    if (r && camas_value_get_type(r) == CAMAS_VALUE_INT)
        t->ok++;
    else
        t->wrong++;
}

Test(rpc, hundred_thousand_calls_in_flight_on_one_connection)
{
    Env *env = env_new(CAMAS_TEST_LOCAL, "msgpack", "many", ENV_CONNECT);
    enum { N = 100000 };
    CamasFuture **f = g_new(CamasFuture *, N);
    Tally t = {0};
    for (int i = 0; i < N; i++) {
        f[i] = camas_proxy_call_build(env->remote, "add", "[i i]", i, 1);
        camas_future_add_callback(f[i], count_reply, &t, NULL);
    }
    cr_assert_eq(camas_channel_get_n_pending(camas_rpc_connection_get_channel(env->conn)), N);
    camas_loop_run(env->loop);
    cr_assert_eq(t.ok, N);
    cr_assert_eq(t.wrong, 0);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(camas_value_get_int(camas_future_get_result(f[i])), i + 1);
        camas_future_unref(f[i]);
    }
    g_free(f);
    env_free(env);
}

/* --- the conformance table over every transport ------------------------------------------------ */

/* The transports the conformance table runs on. */
static CamasTestKind every_kind[] = {CAMAS_TEST_LOCAL, CAMAS_TEST_TCP, CAMAS_TEST_IPC,
                                     CAMAS_TEST_TLS};
/* ... and those the late-server test runs on. */
static CamasTestKind no_tls[] = {CAMAS_TEST_LOCAL, CAMAS_TEST_TCP, CAMAS_TEST_IPC};

/* The basic table: values, kwargs, nested paths, failures with their origin. */
CAMAS_TEST_EACH_KIND(rpc, every_kind, conformance)
{
    Env *env = env_new(*kind, "msgpack", "conformance", ENV_CONNECT | ENV_CLIENT_SERVICE);
    CamasRpcConnection *conn = env->conn;
    CamasProxy *remote = env->remote;

    g_autoptr(CamasValue) values = camas_value_build(
        "[n b b I I U f f f s s [] {} [i [s {s:n}]] y]", TRUE, FALSE, G_MININT64, G_MAXINT64,
        G_MAXUINT64, -0.0, INFINITY, NAN, "", "h\xc3\xa9llo \xf0\x9f\x98\x80", 1, "a", "b",
        "\x00\x01\x02", (gsize)3);
    g_autoptr(CamasValue) echo_args = camas_value_build("[v]", values);
    g_autoptr(CamasValue) echoed =
        camas_test_await_ok_take(env->w, camas_proxy_call(remote, "echo", echo_args, NULL));
    cr_assert(camas_value_equal(echoed, values), "every value type round-trips");

    g_autoptr(CamasValue) kw = camas_value_build("{s:i s:i}", "b", 2, "a", 40);
    g_autoptr(CamasValue) r =
        camas_test_await_ok_take(env->w, camas_proxy_call(remote, "add", NULL, kw));
    camas_test_assert_value(r, "i", 42);
    g_autoptr(CamasValue) pargs = camas_value_build("[i i]", 2, 10);
    g_autoptr(CamasValue) p =
        camas_test_await_ok_take(env->w, camas_proxy_call(remote, "calc/deep/pow", pargs, NULL));
    camas_test_assert_value(p, "i", 1024);

    g_autoptr(CamasValue) fargs = camas_value_build("[s]", "boom");
    g_autoptr(GError) e =
        camas_test_await_error_take(env->w, camas_proxy_call(remote, "fail", fargs, NULL));
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_REMOTE));
    assert_last_line(camas_error_get_remote_text(e), "\nValueError: boom\n");
    const char *origin = camas_error_get_origin(e);
    CamasChannel *ch = camas_rpc_connection_get_channel(conn);
    cr_assert_str_eq(origin, camas_channel_get_peername(ch));
    const char *server_address = camas_rpc_server_get_address(env->server);
    switch (*kind) {
    case CAMAS_TEST_LOCAL: cr_assert_str_eq(origin, "LocalQueue('conformance')"); break;
    case CAMAS_TEST_TCP:
    case CAMAS_TEST_TLS: {
        g_autoptr(CamasAddress) a = camas_address_parse(server_address, NULL);
        g_autofree char *expect = g_strdup_printf("('127.0.0.1', %u)", a->port);
        cr_assert_str_eq(origin, expect);
        break;
    }
    case CAMAS_TEST_IPC: {
        g_autoptr(CamasAddress) a = camas_address_parse(server_address, NULL);
        cr_assert_str_eq(origin, a->path);
        break;
    }
    }
    if (*kind == CAMAS_TEST_TLS) {
        cr_assert_not_null(camas_channel_get_tls_version(ch));
        cr_assert(strstr(camas_channel_get_tls_cipher(ch), "GCM"), "%s",
                  camas_channel_get_tls_cipher(ch));
    }
    g_autoptr(GError) e2 =
        camas_test_await_error_take(env->w, camas_proxy_call(remote, "calc/nope", NULL, NULL));
    assert_last_line(camas_error_get_remote_text(e2),
                     "\nLookupError: Name \"nope\" not found in \"calc\"\n");
    /* still usable after failures */
    g_autoptr(CamasValue) r2 =
        camas_test_await_ok_take(env->w, camas_proxy_call(remote, "add", pargs, NULL));
    camas_test_assert_value(r2, "i", 12);
    env_free(env);
}

/* Proxies both ways, server-initiated requests, and 100+ concurrent calls out of order. */
CAMAS_TEST_EACH_KIND(rpc, every_kind, conformance_callbacks)
{
    Env *env = env_new(*kind, "msgpack", "conformance", ENV_CONNECT | ENV_CLIENT_SERVICE);
    CamasProxy *remote = env->remote;

    g_autoptr(CamasValue) root = camas_service_to_value(env->client_service);
    g_autoptr(CamasValue) cargs = camas_value_build("[v s s]", root, "client_echo", "x");
    g_autoptr(CamasValue) cr =
        camas_test_await_ok_take(env->w, camas_proxy_call(remote, "callback", cargs, NULL));
    camas_test_assert_value(cr, "[s [s s]]", "cb", "client", "x");
    g_autoptr(CamasValue) sargs = camas_value_build("[v s i]", root, "sub/twice", 21);
    g_autoptr(CamasValue) sr =
        camas_test_await_ok_take(env->w, camas_proxy_call(remote, "callback", sargs, NULL));
    camas_test_assert_value(sr, "[s i]", "cb", 42);
    g_autoptr(CamasValue) calc =
        camas_test_await_ok_take(env->w, camas_proxy_call(remote, "get_calc", NULL, NULL));
    cr_assert_not_null(camas_value_get_proxy(calc));
    g_autoptr(CamasValue) wr = camas_test_await_ok_take(
        env->w, camas_proxy_call(camas_value_get_proxy(calc), "whereami", NULL, NULL));
    camas_test_assert_value(wr, "s", "calc");

    /* 120 calls at once, answered in reverse order of sending */
    enum { N = 120 };
    CamasFuture *f[N];
    int order[N], n_done = 0;
    for (int i = 0; i < N; i++) {
        g_autoptr(CamasValue) a = camas_value_build("[f i]", 0.001 * (N - i), i);
        f[i] = camas_proxy_call(remote, "sleep_echo", a, NULL);
    }
    gint64 deadline = camas_test_world_deadline(env->w);
    gboolean seen[N] = {FALSE};
    while (n_done < N) {
        for (int i = 0; i < N; i++) {
            if (!seen[i] && camas_future_is_done(f[i])) {
                seen[i] = TRUE;
                order[n_done++] = i;
            }
        }
        if (n_done == N)
            break;
        camas_test_world_iterate(env->w, deadline, "120 calls");
    }
    for (int i = 0; i < N; i++) {
        CamasValue *v = camas_future_get_result(f[i]);
        cr_assert_not_null(v, "call %d failed", i);
        cr_assert_eq(camas_value_get_int(v), i);
        camas_future_unref(f[i]);
    }
    cr_assert_gt(order[0], order[N - 1], "the later-sent, shorter calls finished first");
    env_free(env);
}

/* A 10 MB message each way. */
CAMAS_TEST_EACH_KIND(rpc, every_kind, conformance_big_messages)
{
    Env *env = env_new(*kind, "msgpack", "conformance", ENV_CONNECT);
    CamasProxy *remote = env->remote;
    gsize n = 10 * 1000 * 1000;
    guint8 *data = g_malloc(n);
    for (gsize i = 0; i < n; i++)
        data[i] = (guint8)(i % 251);
    g_autoptr(CamasValue) big = camas_value_new_bytes(data, n);
    g_free(data);
    g_autoptr(CamasValue) args = camas_value_build("[v]", big);
    g_autoptr(CamasValue) r =
        camas_test_await_ok_take(env->w, camas_proxy_call(remote, "echo", args, NULL));
    cr_assert(camas_value_equal(r, big));
    g_autoptr(CamasValue) len =
        camas_test_await_ok_take(env->w, camas_proxy_call(remote, "length", args, NULL));
    camas_test_assert_value(len, "i", (int)n);
    env_free(env);
}

/* Losing the connection fails pending calls with CLOSED and reports the reset. */
CAMAS_TEST_EACH_KIND(rpc, every_kind, conformance_connection_loss)
{
    Env *env = env_new(*kind, "msgpack", "conformance", ENV_CONNECT);
    CamasRpcConnection *conn = env->conn;
    Resets resets = {0};
    camas_rpc_connection_set_reset_func(conn, on_reset, &resets, NULL);
    CamasProxy *remote = env->remote;
    g_autoptr(CamasValue) a = camas_value_build("[i s]", 60, "never");
    g_autoptr(CamasFuture) f = camas_proxy_call(remote, "sleep_echo", a, NULL);
    g_autoptr(CamasValue) ea = camas_value_build("[s]", "meanwhile");
    g_autoptr(CamasValue) e1 =
        camas_test_await_ok_take(env->w, camas_proxy_call(remote, "echo", ea, NULL));
    camas_test_assert_value(e1, "s", "meanwhile");
    cr_assert_not(camas_future_is_done(f));
    camas_rpc_server_close(env->server);
    camas_test_run_until_done(env->w, f);
    g_autoptr(GError) e = NULL;
    cr_assert_not(camas_future_propagate(f, NULL, &e));
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED), "%s", e->message);
    CAMAS_TEST_WAIT(env->w, resets.n > 0);
    cr_assert_eq(resets.n, 1);
    g_clear_error(&resets.error);
    env_free(env);
}

static void
ignore_warnings(const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
    (*(int *)data)++;
}

/* A peer sending garbage or half a frame is cut off (or ignored) without delaying anyone. */
CAMAS_TEST_EACH_KIND(rpc, every_kind, conformance_bad_input)
{
    int warnings = 0;
    g_log_set_handler("camas", G_LOG_LEVEL_WARNING, ignore_warnings, &warnings);
    Env *env = env_new(*kind, "msgpack", "conformance", ENV_CONNECT);
    CamasProxy *remote = env->remote;
    const char *address = camas_rpc_server_get_address(env->server);
    CamasTestRawPeer *stall = camas_test_raw_connect(env->w, address, &env->client_opts.transport);
    CamasTestRawPeer *bad = camas_test_raw_connect(env->w, address, &env->client_opts.transport);
    camas_test_raw_send(stall, "\x00\x00\x00\x20\x93\x00", 6);
    camas_test_raw_send(bad, "\x00\x00\x00\x02\xc1\xc1", 6);
    CAMAS_TEST_WAIT(env->w, bad->closed);
    cr_assert_eq(warnings, 1);
    g_autoptr(CamasValue) a = camas_value_build("[i i]", 1, 2);
    g_autoptr(CamasValue) r =
        camas_test_await_ok_take(env->w, camas_proxy_call(remote, "add", a, NULL));
    camas_test_assert_value(r, "i", 3);
    cr_assert_not(stall->closed);
    camas_test_raw_peer_free(stall);
    camas_test_raw_peer_free(bad);
    env_free(env);
}

/* 1000 clients at once on one TCP server, each with a call in flight: none is lost. */
typedef struct {
    guint opened;
    guint answered;
    guint failed;
    CamasRpcConnection **conns;
} Crowd;

static void
crowd_answer(CamasFuture *f, gpointer data)
{
    Crowd *c = data;
    if (camas_future_is_failed(f))
        c->failed++;
    else
        c->answered++;
}

Test(rpc, thousand_concurrent_tcp_connections_lose_nothing, .timeout = 120)
{
    Env *env = env_new(CAMAS_TEST_TCP, "msgpack", "conformance", 0);
    enum { N = 1000 };
    Crowd crowd = {0};
    crowd.conns = g_new0(CamasRpcConnection *, N);
    CamasFuture **opens = g_new(CamasFuture *, N);
    for (int i = 0; i < N; i++) {
        g_autoptr(GError) error = NULL;
        opens[i] = camas_rpc_open(env->loop, camas_rpc_server_get_address(env->server),
                                  env->codec, NULL, NULL, &error);
        cr_assert_not_null(opens[i]);
    }
    for (int i = 0; i < N; i++) {
        camas_test_run_until_done(env->w, opens[i]);
        g_autoptr(GError) error = NULL;
        crowd.conns[i] = camas_rpc_open_finish(opens[i], &error);
        cr_assert_not_null(crowd.conns[i], "connection %d: %s", i, error ? error->message : "");
        camas_future_unref(opens[i]);
        g_autoptr(CamasProxy) remote = camas_rpc_connection_get_remote(crowd.conns[i]);
        g_autoptr(CamasValue) a = camas_value_build("[i i]", i, 1);
        CamasFuture *f = camas_proxy_call(remote, "add", a, NULL);
        camas_future_add_callback(f, crowd_answer, &crowd, NULL);
        camas_future_unref(f);
    }
    g_free(opens);
    CAMAS_TEST_WAIT(env->w, crowd.answered + crowd.failed == N);
    cr_assert_eq(crowd.answered, N);
    cr_assert_eq(crowd.failed, 0);
    cr_assert_eq(camas_rpc_server_get_n_connections(env->server), N);
    for (int i = 0; i < N; i++)
        camas_rpc_connection_unref(crowd.conns[i]);
    g_free(crowd.conns);
    env_free(env);
}

typedef struct {
    Env *env;
    char *address;
    CamasRpcServer *server;
} LateServer;

static void
start_late(CamasLoop *loop, gpointer data)
{
    LateServer *ls = data;
    g_autoptr(GError) error = NULL;
    ls->server = camas_rpc_server_new(loop, ls->address, ls->env->codec, ls->env->math, NULL,
                                      NULL, NULL, NULL, &error);
    cr_assert_not_null(ls->server, "%s", error ? error->message : "");
}

/* The client retries refused connections until its deadline; the server appears meanwhile. */
CAMAS_TEST_EACH_KIND(rpc, no_tls, clients_may_start_before_their_server)
{
    Env *env = env_new(*kind, "msgpack", "conformance", 0);
    /* take the fixture server's address, then free the address for the late server */
    LateServer ls = {env, g_strdup(camas_rpc_server_get_address(env->server)), NULL};
    camas_rpc_server_close(env->server);
    if (*kind != CAMAS_TEST_LOCAL)
        CAMAS_TEST_WAIT(env->w, !camas_test_pipes_alive());
    gint64 now = camas_loop_now(env->loop);
    CamasChannelOptions opts = {.connect_deadline = now + 5 * CAMAS_TICKS_PER_SECOND};
    camas_loop_call_at(env->loop, now + 120 * CAMAS_TICKS_PER_MS, start_late, &ls);
    g_autoptr(CamasRpcConnection) conn =
        camas_test_rpc_open(env->w, ls.address, env->codec, NULL, &opts);
    cr_assert_geq(camas_loop_now(env->loop), now + 120 * CAMAS_TICKS_PER_MS);
    g_autoptr(CamasProxy) remote = camas_rpc_connection_get_remote(conn);
    g_autoptr(CamasValue) r = camas_test_call_ok(env->w, remote, "add", "[i i]", 2, 3);
    camas_test_assert_value(r, "i", 5);
    camas_rpc_connection_close(conn);
    camas_rpc_server_free(ls.server);
    g_free(ls.address);
    env_free(env);
}
