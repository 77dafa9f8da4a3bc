/* SPDX-License-Identifier: MIT */
/*
 * Agents: the seeds' examples with the built-in types (TestAgent pair, Caller/Callee,
 * HelloWorld on an external clock), proactive entry points in task and callback style,
 * agent-owned tasks and task-style methods cancelled by shutdown, argument binding, log lines
 * and trace records, the conformance agents (EchoAgent, CounterAgent, call_peer), the
 * contract net in one process, and the agent-type registry.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <camas/camas.h>
#include <camas/container.h>
#include <camas/registry.h>

#include "leakcheck.h"

TestSuite(agent, .fini = camas_test_check_leaks, .timeout = 60);

/* --- helpers ---------------------------------------------------------------------------------- */

typedef struct {
    CamasLoop *loop;
    CamasClock *clock;
    GString *log; /* "<time> <url> <line>\n" per agent log line */
} World;

static void
log_line(CamasAgent *agent, const char *line, gpointer data)
{
    World *w = data;
    g_string_append_printf(w->log, "%.3f %s %s\n", camas_clock_time(agent->clock),
                           camas_agent_get_url(agent), line);
}

static void
world_init(World *w, gboolean external)
{
    w->loop = camas_loop_new();
    w->clock =
        external ? camas_clock_new_external(w->loop, 0, 0) : camas_clock_new_afap(w->loop, 0, 0);
    w->log = g_string_new(NULL);
}

static void
world_clear(World *w)
{
    camas_clock_unref(w->clock);
    camas_loop_free(w->loop);
    g_string_free(w->log, TRUE);
}

static CamasContainer *
container(World *w, const char *address, const CamasContainerOptions *options)
{
    g_autoptr(GError) error = NULL;
    CamasContainer *c = camas_container_new(w->clock, address, options, &error);
    cr_assert_not_null(c, "%s", error ? error->message : "");
    camas_container_set_log_func(c, log_line, w, NULL);
    return c;
}

static const CamasAgentClass *
type(const char *name)
{
    g_autoptr(GError) error = NULL;
    const CamasAgentClass *k = camas_agent_registry_lookup(name, &error);
    cr_assert_not_null(k, "%s", error ? error->message : "");
    return k;
}

static CamasAgent *
spawn(CamasContainer *c, const char *type_name, const char *format, ...)
{
    g_autoptr(CamasValue) args = NULL;
    if (format) {
        va_list ap;
        va_start(ap, format);
        args = camas_value_build_va(format, &ap);
        va_end(ap);
    }
    g_autoptr(GError) error = NULL;
    CamasAgent *a = camas_container_spawn(c, type(type_name), args, NULL, &error);
    cr_assert_not_null(a, "%s", error ? error->message : "");
    return a;
}

static void
run_until_done(World *w, CamasFuture *f)
{
    while (!camas_future_is_done(f) && camas_loop_step(w->loop))
        ;
    cr_assert(camas_future_is_done(f), "the loop ran dry before the future was done");
}

static CamasValue *
await_ok(World *w, CamasFuture *f)
{
    run_until_done(w, f);
    g_autoptr(GError) error = NULL;
    CamasValue *r = NULL;
    cr_assert(camas_future_propagate(f, &r, &error), "failed: %s", error ? error->message : "");
    return r ? r : camas_value_new_null();
}

static GError *
await_error(World *w, CamasFuture *f)
{
    run_until_done(w, f);
    GError *error = NULL;
    g_autoptr(CamasValue) r = NULL;
    cr_assert_not(camas_future_propagate(f, &r, &error), "unexpected success");
    return error;
}

static CamasFuture *
start(CamasAgent *agent, const char *format, ...)
{
    g_autoptr(CamasValue) args = NULL;
    if (format) {
        va_list ap;
        va_start(ap, format);
        args = camas_value_build_va(format, &ap);
        va_end(ap);
    }
    g_autoptr(GError) error = NULL;
    CamasFuture *f = camas_agent_start(agent, args, &error);
    cr_assert_not_null(f, "%s", error ? error->message : "");
    return f;
}

static CamasProxy *
connect_ok(World *w, CamasContainer *c, const char *url)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasFuture) f = camas_container_connect(c, url, &error);
    cr_assert_not_null(f, "%s", error ? error->message : "");
    run_until_done(w, f);
    CamasProxy *p = camas_container_connect_finish(f, &error);
    cr_assert_not_null(p, "%s", error ? error->message : "");
    return p;
}

static void
assert_value(CamasValue *got, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autoptr(CamasValue) expect = camas_value_build_va(format, &ap);
    va_end(ap);
    g_autofree char *g = camas_value_repr(got);
    g_autofree char *e = camas_value_repr(expect);
    cr_assert(camas_value_equal(got, expect), "got %s, expected %s", g, e);
}

static CamasValue *
call_ok(World *w, CamasProxy *p, const char *method, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autoptr(CamasValue) args = camas_value_build_va(format, &ap);
    va_end(ap);
    g_autoptr(CamasFuture) f = camas_value_get_type(args) == CAMAS_VALUE_MAP
                                   ? camas_proxy_call(p, method, NULL, args)
                                   : camas_proxy_call(p, method, args, NULL);
    return await_ok(w, f);
}

static GError *
call_error(World *w, CamasProxy *p, const char *method, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    g_autoptr(CamasValue) args = camas_value_build_va(format, &ap);
    va_end(ap);
    g_autoptr(CamasFuture) f = camas_proxy_call(p, method, args, NULL);
    return await_error(w, f);
}

/* --- the seeds' examples ---------------------------------------------------------------------- */

Test(agent, test_agents_call_each_other_as_on_aiomas_front_page)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *c = container(&w, "local://front", NULL);
    CamasAgent *a0 = spawn(c, "TestAgent", NULL);
    CamasAgent *a1 = spawn(c, "TestAgent", NULL);
    g_autoptr(CamasFuture) f = start(a0, "[s]", camas_agent_get_url(a1));
    g_autoptr(CamasValue) r = await_ok(&w, f);
    assert_value(r, "i", 42);
    cr_assert_str_eq(w.log->str, "0.000 local://front/0 Ohai, I am TestAgent('local://front/0')\n"
                                 "0.000 local://front/1 Ohai, I am TestAgent('local://front/1')\n"
                                 "0.000 local://front/0 TestAgent('local://front/0') got 42 from "
                                 "TestAgentProxy('local://front/1')\n");
    camas_container_free(c);
    world_clear(&w);
}

Test(agent, caller_gets_spam_from_callee)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *c = container(&w, "local://spam", NULL);
    CamasAgent *callee = spawn(c, "Callee", NULL);
    CamasAgent *caller = spawn(c, "Caller", NULL);
    g_autoptr(CamasFuture) f = start(caller, "[s]", camas_agent_get_url(callee));
    g_autoptr(CamasValue) r = await_ok(&w, f);
    assert_value(r, "s", "spamspamspam");
    cr_assert_str_eq(w.log->str,
                     "0.000 local://spam/1 Caller('local://spam/1') connecting to local://spam/0\n"
                     "0.000 local://spam/1 Caller('local://spam/1') connected to "
                     "CalleeProxy('local://spam/0')\n"
                     "0.000 local://spam/1 Caller('local://spam/1') got spamspamspam\n");
    camas_container_free(c);
    world_clear(&w);
}

Test(agent, hello_world_runs_on_the_external_clock)
{
    World w;
    world_init(&w, TRUE);
    CamasContainer *c = container(&w, "local://hello", NULL);
    CamasAgent *a = spawn(c, "HelloWorld", "[s]", "Monty");
    g_autoptr(CamasFuture) f = start(a, NULL);
    camas_loop_run_due(w.loop);
    cr_assert_str_eq(w.log->str, "0.000 local://hello/0 Monty says:\n");
    g_autoptr(GError) error = NULL;
    cr_assert(camas_clock_set_time(w.clock, 0.1, &error));
    cr_assert(camas_clock_set_time(w.clock, 0.25, &error));
    cr_assert_not(camas_future_is_done(f));
    cr_assert(camas_clock_set_time(w.clock, 0.3, &error));
    cr_assert_not(camas_future_is_done(f), "the last sleep started at 0.25");
    cr_assert(camas_clock_set_time(w.clock, 0.35, &error));
    cr_assert(camas_future_is_done(f));
    cr_assert_str_eq(w.log->str,
                     "0.000 local://hello/0 Monty says:\n"
                     "0.100 local://hello/0 Hello, World!\n"
                     "0.250 local://hello/0 Hello, World!\n"
                     "0.350 local://hello/0 Hello, World!\n",
                     "a sleeper due before the new time wakes with the new time (aiomas)");
    camas_container_free(c);
    world_clear(&w);
}

/* --- proactive entry points and shutdown ------------------------------------------------------ */

typedef struct {
    CamasAgent base;
    int ticks;
    GString *journal;
} Ticker;

static void
tick(CamasLoop *loop, gpointer data)
{
    CamasFuture *done = data;
    (void)loop;
    camas_future_set_result(done, camas_value_new_str("ticked"));
}

static void
ticker_start(CamasAgent *agent, const CamasValue *args, CamasFuture *done)
{
    Ticker *t = (Ticker *)agent;
    t->ticks++;
    double dt = 1.0;
    if (camas_value_get_length(args) > 0)
        camas_value_to_double(camas_value_get_item(args, 0), &dt, NULL);
    camas_clock_call_in(agent->clock, dt, tick, camas_future_ref(done),
                        (GDestroyNotify)camas_future_unref, NULL);
}

static void
ticker_finalize(CamasAgent *agent)
{
    Ticker *t = (Ticker *)agent;
    if (t->journal)
        g_string_append(t->journal, "finalized");
}

static const CamasAgentClass ticker_class = {
    .name = "Ticker",
    .instance_size = sizeof(Ticker),
    .start = ticker_start,
    .finalize = ticker_finalize,
};

Test(agent, a_callback_style_entry_point_completes_its_future)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *c = container(&w, "local://ticker", NULL);
    CamasAgent *a = camas_container_spawn(c, &ticker_class, NULL, NULL, NULL);
    g_autoptr(CamasFuture) f = start(a, "[f]", 2.0);
    cr_assert_eq(((Ticker *)a)->ticks, 0, "start runs from the loop, not inside the call");
    g_autoptr(CamasValue) r = await_ok(&w, f);
    assert_value(r, "s", "ticked");
    cr_assert_eq(camas_clock_time(w.clock), 2.0);
    /* an agent without an entry point cannot be started */
    CamasAgent *callee = spawn(c, "Callee", NULL);
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_agent_start(callee, NULL, &e));
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    camas_container_free(c);
    world_clear(&w);
}

Test(agent, shutdown_cancels_entry_points_and_finalizes_after_unwinding)
{
    World w;
    world_init(&w, TRUE);
    g_autoptr(GString) journal = g_string_new(NULL);
    CamasContainer *c = container(&w, "local://cancel", NULL);
    CamasAgent *hello = spawn(c, "HelloWorld", NULL);
    CamasAgent *ticker = camas_container_spawn(c, &ticker_class, NULL, NULL, NULL);
    ((Ticker *)ticker)->journal = journal;
    g_autoptr(CamasFuture) f1 = start(hello, NULL);
    g_autoptr(CamasFuture) f2 = start(ticker, NULL);
    camas_loop_run_due(w.loop); /* both are running: one sleeps, one waits for its call */
    g_autoptr(CamasAgent) keep = camas_agent_ref(hello);
    camas_container_free(c);
    cr_assert(camas_future_is_cancelled(f1), "the sleeping task was cancelled and unwound");
    cr_assert(camas_future_is_cancelled(f2));
    cr_assert_str_eq(journal->str, "finalized");
    cr_assert_not(camas_agent_is_alive(keep));
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_agent_start(keep, NULL, &e));
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED));
    camas_agent_unref(g_steal_pointer(&keep));
    /* the ticker's timer still fires (it is the agent's own business) and finds its future
     * cancelled */
    camas_loop_run(w.loop);
    world_clear(&w);
}

static CamasValue *
slow(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs,
     GError **error)
{
    CamasAgent *agent = self;
    if (!camas_task_sleep(agent->clock, 100, error))
        return NULL;
    return camas_value_new_str("slept");
}

static const CamasRpcMethod sleeper_methods[] = {{"slow", NULL, slow}, {NULL}};
static const CamasAgentClass sleeper_class = {.name = "Sleeper", .methods = sleeper_methods};

Test(agent, task_methods_belong_to_the_agent_and_end_with_its_container)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *srv = container(&w, "local://slow", NULL);
    CamasContainer *cli = container(&w, "local://slow-cli", NULL);
    camas_container_spawn(srv, &sleeper_class, NULL, NULL, NULL);
    g_autoptr(CamasProxy) p = connect_ok(&w, cli, "local://slow/0");
    g_autoptr(CamasFuture) f = camas_proxy_call(p, "slow", NULL, NULL);
    camas_loop_run_until(w.loop, CAMAS_TICKS_PER_SECOND);
    cr_assert_not(camas_future_is_done(f));
    camas_container_free(srv);
    g_autoptr(GError) e = await_error(&w, f);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED), "%s", e->message);
    cr_assert_eq(camas_loop_get_pending(w.loop), 0, "the method's sleep was cancelled");
    camas_proxy_unref(g_steal_pointer(&p));
    camas_container_free(cli);
    world_clear(&w);
}

/* --- arguments -------------------------------------------------------------------------------- */

static void
kinds(gpointer self, CamasRequest *req, const CamasValue *args, const CamasValue *kwargs)
{
    gint i = -1;
    gint64 big = -1;
    double f = -1;
    gboolean b = FALSE;
    const char *s = "unset";
    CamasValue *v = NULL;
    gint64 date = 0;
    if (!camas_agent_args_or_fail(req, "i:i f:f | b:b s:s v:v big:I d:d", &i, &f, &b, &s, &v, &big,
                                  &date))
        return;
    camas_request_reply_take(req, camas_value_build("[i f b s v I I]", i, f, b, s,
                                                    v ? v : camas_value_new_null(), big, date));
}

static const CamasRpcMethod kinds_methods[] = {{"kinds", kinds}, {NULL}};
static const CamasAgentClass kinds_class = {.name = "Kinds", .methods = kinds_methods};

Test(agent, method_arguments_bind_like_python_and_convert_by_letter)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *c = container(&w, "local://args", NULL);
    camas_container_spawn(c, &kinds_class, NULL, NULL, NULL);
    g_autoptr(CamasProxy) p = connect_ok(&w, c, "local://args/0");
    g_autoptr(CamasValue) r1 = call_ok(&w, p, "kinds", "[i i]", 3, 4);
    assert_value(r1, "[i f b s n I I]", 3, 4.0, FALSE, "unset", (gint64)-1, (gint64)0);
    g_autoptr(CamasValue) date = camas_date_value_parse("1970-01-01T00:00:01Z", NULL);
    g_autoptr(CamasValue) r2 =
        call_ok(&w, p, "kinds", "{s:i s:f s:b s:s s:[i] s:I s:v}", "i", 1, "f", 2.5, "b", TRUE, "s",
                "x", "v", 9, "big", G_MAXINT64, "d", date);
    assert_value(r2, "[i f b s [i] I I]", 1, 2.5, TRUE, "x", 9, G_MAXINT64,
                 G_GINT64_CONSTANT(1000000000));
    static const struct {
        const char *format;
        const char *last_line;
    } bad[] = {
        {"[]", "TypeError: kinds() missing 2 required positional arguments: 'i' and 'f'\n"},
        {"[s f]", "TypeError: kinds() argument 'i' must be int, not str\n"},
        {"[i s]", "TypeError: kinds() argument 'f' must be a number, not str\n"},
        {"[i f i]", "TypeError: kinds() argument 'b' must be bool, not int\n"},
        {"[I f]", "TypeError: kinds() argument 'i' is out of range\n"},
        {"[i f b s n i i i]", "TypeError: kinds() takes from 2 to 7 positional arguments but 8 "
                              "were given\n"},
    };
    for (gsize k = 0; k < G_N_ELEMENTS(bad); k++) {
        g_autoptr(GError) e =
            k == 4   ? call_error(&w, p, "kinds", bad[k].format, G_MAXINT64, 1.0)
            : k == 1 ? call_error(&w, p, "kinds", bad[k].format, "x", 1.0)
            : k == 2 ? call_error(&w, p, "kinds", bad[k].format, 1, "x")
            : k == 3 ? call_error(&w, p, "kinds", bad[k].format, 1, 1.0, 1)
            : k == 5 ? call_error(&w, p, "kinds", bad[k].format, 1, 1.0, TRUE, "s", 1, 2, 3)
                     : call_error(&w, p, "kinds", bad[k].format);
        cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_REMOTE), "%s", e->message);
        cr_assert(g_str_has_suffix(camas_error_get_remote_text(e), bad[k].last_line), "%s",
                  camas_error_get_remote_text(e));
    }
    camas_proxy_unref(g_steal_pointer(&p));
    camas_container_free(c);
    world_clear(&w);
}

/* --- logging and tracing ---------------------------------------------------------------------- */

static void
collect_logs(const CamasTraceRecord *r, gpointer data)
{
    if (r->kind == CAMAS_TRACE_LOG || r->kind == CAMAS_TRACE_SPAWN)
        g_string_append_printf(data, "%s %s %s|", camas_trace_kind_name(r->kind), r->src,
                               r->kind == CAMAS_TRACE_LOG ? r->text : r->method);
}

Test(agent, spawns_and_log_lines_are_trace_records)
{
    World w;
    world_init(&w, FALSE);
    g_autoptr(GString) trace = g_string_new(NULL);
    camas_loop_set_tracer(w.loop, collect_logs, trace, NULL);
    CamasContainer *c = container(&w, "local://tr", NULL);
    camas_container_set_log_func(c, NULL, NULL, NULL);
    CamasAgent *a = spawn(c, "TestAgent", NULL);
    camas_agent_log(a, "n=%d", 5);
    cr_assert_str_eq(trace->str, "spawn local://tr/0 TestAgent|"
                                 "log local://tr/0 Ohai, I am TestAgent('local://tr/0')|"
                                 "log local://tr/0 n=5|");
    camas_loop_set_tracer(w.loop, NULL, NULL, NULL);
    camas_container_free(c);
    world_clear(&w);
}

/* --- the conformance agents ------------------------------------------------------------------- */

Test(agent, echo_and_counter_agents_answer_the_conformance_calls)
{
    World w;
    world_init(&w, FALSE);
    CamasContainer *srv = container(&w, "local://conf", NULL);
    CamasContainer *cli = container(&w, "local://conf-cli", NULL);
    spawn(srv, "EchoAgent", NULL);
    spawn(srv, "CounterAgent", NULL);
    spawn(cli, "Callee", NULL);
    g_autoptr(CamasProxy) echo = connect_ok(&w, cli, "local://conf/0");
    g_autoptr(CamasProxy) counter = connect_ok(&w, cli, "local://conf/1");
    g_autoptr(CamasValue) w0 = call_ok(&w, echo, "whoami", "[]");
    assert_value(w0, "[s s]", "EchoAgent", "local://conf/0");
    g_autoptr(CamasValue) w1 = call_ok(&w, counter, "whoami", "[]");
    assert_value(w1, "[s s]", "CounterAgent", "local://conf/1");
    g_autoptr(CamasValue) e1 = call_ok(&w, counter, "echo", "[[i {s:n}]]", 1, "a");
    assert_value(e1, "[i {s:n}]", 1, "a");
    g_autoptr(CamasValue) a1 = call_ok(&w, echo, "add", "[i i]", 1, 2);
    assert_value(a1, "i", 3);
    g_autoptr(CamasValue) a2 = call_ok(&w, echo, "add", "{s:s s:s}", "a", "x", "b", "y");
    assert_value(a2, "s", "xy");
    g_autoptr(CamasValue) a3 = call_ok(&w, echo, "add", "[f i]", 0.5, 1);
    assert_value(a3, "f", 1.5);
    g_autoptr(CamasValue) c1 = call_ok(&w, counter, "incr", "[]");
    assert_value(c1, "i", 1);
    g_autoptr(CamasValue) c2 = call_ok(&w, counter, "incr", "{s:i}", "n", 5);
    assert_value(c2, "i", 6);
    g_autoptr(CamasValue) c3 = call_ok(&w, counter, "get", "[]");
    assert_value(c3, "i", 6);
    g_autoptr(GError) f = call_error(&w, echo, "fail", "[s]", "boom");
    cr_assert(g_str_has_suffix(camas_error_get_remote_text(f), "\nValueError: boom\n"));
    cr_assert(
        g_str_has_prefix(camas_error_get_remote_text(f), "Traceback (most recent call last):\n"));
    /* call_peer: the server's agent connects back to the client container's Callee */
    g_autoptr(CamasValue) cp =
        call_ok(&w, counter, "call_peer", "[s s i]", "local://conf-cli/0", "spam", 2);
    assert_value(cp, "s", "spamspam");
    g_autoptr(GError) cpe =
        call_error(&w, counter, "call_peer", "[s s]", "local://conf-cli/9", "spam");
    cr_assert(strstr(camas_error_get_remote_text(cpe),
                     "Agent \"9\" does not exist in Container(local://conf-cli)"),
              "%s", camas_error_get_remote_text(cpe));
    /* shift_date keeps the offset */
    g_autoptr(CamasValue) d = camas_date_value_parse("2016-03-27T01:59:59.250000+01:00", NULL);
    g_autoptr(CamasValue) d2 = call_ok(&w, echo, "shift_date", "[v f]", d, 0.75);
    gint64 ns;
    gint32 off;
    cr_assert(camas_date_value_get(d2, &ns, &off));
    g_autofree char *text = camas_date_format(ns, off);
    cr_assert_str_eq(text, "2016-03-27T02:00:00+01:00");
    camas_proxy_unref(g_steal_pointer(&echo));
    camas_proxy_unref(g_steal_pointer(&counter));
    camas_container_free(cli);
    camas_container_free(srv);
    world_clear(&w);
}

/* --- the contract net in one process ---------------------------------------------------------- */

static char *
contract_net_once(CamasValue **outcome)
{
    World w;
    world_init(&w, TRUE);
    g_autoptr(GString) trace = g_string_new(NULL);
    CamasContainerOptions mo = {.seed = 42, .name = "m"};
    CamasContainer *m = container(&w, "local://cn-m", &mo);
    CamasContainer *cs[3];
    g_autoptr(CamasValue) urls = NULL;
    CamasValue *items[6];
    for (int i = 0; i < 3; i++) {
        g_autofree char *addr = g_strdup_printf("local://cn-%d", i);
        g_autofree char *name = g_strdup_printf("c%d", i);
        CamasContainerOptions o = {.seed = 42, .name = name};
        cs[i] = container(&w, addr, &o);
        for (int j = 0; j < 2; j++)
            items[2 * i + j] =
                camas_value_new_str(camas_agent_get_url(spawn(cs[i], "Contractor", NULL)));
    }
    urls = camas_value_new_list_take(items, 6);
    CamasAgent *manager = spawn(m, "ContractNetManager", NULL);
    g_autoptr(CamasFuture) f = start(manager, "[v s]", urls, "build-a-house");
    /* the test is the external master: it steps the clock 10 ms at a time */
    double t = 0;
    while (!camas_future_is_done(f)) {
        t += 0.01;
        cr_assert(camas_clock_set_time(w.clock, t, NULL));
        cr_assert_lt(t, 10.0, "the round did not end");
    }
    *outcome = await_ok(&w, f);
    camas_container_free(m);
    for (int i = 0; i < 3; i++)
        camas_container_free(cs[i]);
    char *log = g_strdup(w.log->str);
    world_clear(&w);
    return log;
}

Test(agent, a_contract_net_round_is_reproducible_on_localqueue)
{
    g_autoptr(CamasValue) o1 = NULL;
    g_autoptr(CamasValue) o2 = NULL;
    g_autofree char *log1 = contract_net_once(&o1);
    g_autofree char *log2 = contract_net_once(&o2);
    cr_assert_str_eq(log1, log2, "the event log differs between two runs");
    cr_assert(camas_value_equal(o1, o2));
    /* the winner bid the lowest price, and every contractor bid */
    const char *winner;
    double price;
    cr_assert(camas_value_unpack(o1, NULL, "{s:s s:f}", "winner", &winner, "price", &price));
    guint bids = 0;
    double lowest = G_MAXDOUBLE;
    g_auto(GStrv) lines = g_strsplit(log1, "\n", -1);
    for (char **p = lines; *p; p++) {
        const char *b = strstr(*p, " bid build-a-house ");
        if (b) {
            bids++;
            lowest = MIN(lowest, g_ascii_strtod(b + strlen(" bid build-a-house "), NULL));
        }
    }
    cr_assert_eq(bids, 6);
    cr_assert_float_eq(price, lowest, 1e-9);
    cr_assert(strstr(log1, "award build-a-house to "), "%s", log1);
    g_autofree char *done = g_strdup_printf("done build-a-house");
    cr_assert(strstr(log1, done));
}

/* --- the registry ----------------------------------------------------------------------------- */

static const CamasAgentClass plugin_class = {.name = "PluginAgent"};
static const CamasAgentClass duplicate_class = {.name = "Callee"};
static const CamasAgentClass invalid_class = {
    .name = "Broken", .run = (CamasAgentRunFunc)1, .start = (CamasAgentStartFunc)1};

Test(agent, the_registry_knows_the_built_in_types_and_accepts_plugins)
{
    static const char *const builtins[] = {"Callee",     "Caller",       "ContractNetManager",
                                           "Contractor", "CounterAgent", "EchoAgent",
                                           "HelloWorld", "TestAgent"};
    for (gsize i = 0; i < G_N_ELEMENTS(builtins); i++)
        cr_assert_str_eq(type(builtins[i])->name, builtins[i]);
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_agent_registry_lookup("Nope", &e));
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_LOOKUP));
    cr_assert(g_str_has_prefix(e->message, "Unknown agent type \"Nope\" (known: Callee, Caller, "
                                           "ContractNetManager, Contractor, CounterAgent, "),
              "%s", e->message);
    g_autofree const CamasAgentClass **before = camas_agent_registry_list();
    cr_assert(camas_agent_registry_add(&plugin_class, NULL));
    cr_assert_eq(type("PluginAgent"), &plugin_class);
    g_autoptr(GError) e2 = NULL;
    cr_assert_not(camas_agent_registry_add(&duplicate_class, &e2));
    cr_assert(strstr(e2->message, "already registered"));
    g_autoptr(GError) e3 = NULL;
    cr_assert_not(camas_agent_registry_add(&invalid_class, &e3));
    cr_assert(strstr(e3->message, "both a run and a start"), "%s", e3->message);
    g_autofree const CamasAgentClass **list = camas_agent_registry_list();
    gsize n = 0;
    for (; list[n]; n++)
        if (n > 0)
            cr_assert_lt(strcmp(list[n - 1]->name, list[n]->name), 0, "sorted by name");
    gsize n_before = 0;
    while (before[n_before])
        n_before++;
    cr_assert_geq(n_before, G_N_ELEMENTS(builtins));
    cr_assert_eq(n, n_before + 1, "the plug-in was added once");
}
