/* SPDX-License-Identifier: MIT */
/*
 * Agents: the seeds' examples with the built-in types (TestAgent pair, Caller/Callee,
 * HelloWorld on an external clock), proactive entry points in task and callback style,
 * agent-owned tasks and task-style methods cancelled by shutdown, argument binding, log lines
 * and trace records, the conformance agents (EchoAgent, CounterAgent, call_peer), the
 * contract net in one process, and the agent-type registry.  Tests run in testutil worlds that
 * collect the agents' log lines.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <camas/camas.h>
#include <camas/container.h>
#include <camas/registry.h>

#include "testutil.h"

TestSuite(agent, .fini = camas_test_check_leaks, .timeout = 60);

/* --- the seeds' examples ---------------------------------------------------------------------- */

/* A container "local://<name>" with agents of @types (NULL-terminated, in id order); agent
 * @caller is started with agent @callee's URL.  Returns: (transfer full) the caller's result. */
static CamasValue *
run_example(CamasTestWorld *w, const char *name, const char *const *types, guint caller,
            guint callee)
{
    g_autofree char *address = camas_test_world_address(w, CAMAS_TEST_LOCAL, name);
    CamasContainer *c = camas_test_container_new(w, address, NULL);
    for (guint i = 0; types[i]; i++)
        camas_test_spawn_type(c, types[i], NULL);
    const char *url = camas_agent_get_url(camas_container_get_agent(c, callee));
    g_autoptr(CamasFuture) f =
        camas_test_agent_start(camas_container_get_agent(c, caller), "[s]", url);
    return camas_test_await_ok(w, f);
}

Test(agent, test_agents_call_each_other_as_on_aiomas_front_page)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_LOG);
    static const char *const types[] = {"TestAgent", "TestAgent", NULL};
    g_autoptr(CamasValue) r = run_example(w, "front", types, 0, 1);
    camas_test_assert_value(r, "i", 42);
    cr_assert_str_eq(w->log->str, "0.000 local://front/0 Ohai, I am TestAgent('local://front/0')\n"
                                 "0.000 local://front/1 Ohai, I am TestAgent('local://front/1')\n"
                                 "0.000 local://front/0 TestAgent('local://front/0') got 42 from "
                                 "TestAgentProxy('local://front/1')\n");
}

Test(agent, caller_gets_spam_from_callee)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_LOG);
    static const char *const types[] = {"Callee", "Caller", NULL};
    g_autoptr(CamasValue) r = run_example(w, "spam", types, 1, 0);
    camas_test_assert_value(r, "s", "spamspamspam");
    cr_assert_str_eq(w->log->str,
                     "0.000 local://spam/1 Caller('local://spam/1') connecting to local://spam/0\n"
                     "0.000 local://spam/1 Caller('local://spam/1') connected to "
                     "CalleeProxy('local://spam/0')\n"
                     "0.000 local://spam/1 Caller('local://spam/1') got spamspamspam\n");
}

Test(agent, hello_world_runs_on_the_external_clock)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_LOG | CAMAS_TEST_EXTERNAL);
    CamasContainer *c = camas_test_container_new(w, "local://hello", NULL);
    CamasAgent *a = camas_test_spawn_type(c, "HelloWorld", "[s]", "Monty");
    g_autoptr(CamasFuture) f = camas_test_agent_start(a, NULL);
    camas_loop_run_due(w->loop);
    cr_assert_str_eq(w->log->str, "0.000 local://hello/0 Monty says:\n");
    g_autoptr(GError) error = NULL;
    cr_assert(camas_clock_set_time(w->clock, 0.1, &error));
    cr_assert(camas_clock_set_time(w->clock, 0.25, &error));
    cr_assert_not(camas_future_is_done(f));
    cr_assert(camas_clock_set_time(w->clock, 0.3, &error));
    cr_assert_not(camas_future_is_done(f), "the last sleep started at 0.25");
    cr_assert(camas_clock_set_time(w->clock, 0.35, &error));
    cr_assert(camas_future_is_done(f));
    cr_assert_str_eq(w->log->str,
                     "0.000 local://hello/0 Monty says:\n"
                     "0.100 local://hello/0 Hello, World!\n"
                     "0.250 local://hello/0 Hello, World!\n"
                     "0.350 local://hello/0 Hello, World!\n",
                     "a sleeper due before the new time wakes with the new time (aiomas)");
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
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_LOG);
    CamasContainer *c = camas_test_container_new(w, "local://ticker", NULL);
    CamasAgent *a = camas_test_spawn(c, &ticker_class, 1);
    g_autoptr(CamasFuture) f = camas_test_agent_start(a, "[f]", 2.0);
    cr_assert_eq(((Ticker *)a)->ticks, 0, "start runs from the loop, not inside the call");
    g_autoptr(CamasValue) r = camas_test_await_ok(w, f);
    camas_test_assert_value(r, "s", "ticked");
    cr_assert_eq(camas_clock_time(w->clock), 2.0);
    /* an agent without an entry point cannot be started */
    CamasAgent *callee = camas_test_spawn_type(c, "Callee", NULL);
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_agent_start(callee, NULL, &e));
    camas_test_assert_error(e, CAMAS_ERROR, CAMAS_ERROR_INVALID, NULL);
}

Test(agent, shutdown_cancels_entry_points_and_finalizes_after_unwinding)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_LOG | CAMAS_TEST_EXTERNAL);
    g_autoptr(GString) journal = g_string_new(NULL);
    CamasContainer *c = camas_test_container_new(w, "local://cancel", NULL);
    CamasAgent *hello = camas_test_spawn_type(c, "HelloWorld", NULL);
    CamasAgent *ticker = camas_test_spawn(c, &ticker_class, 1);
    ((Ticker *)ticker)->journal = journal;
    g_autoptr(CamasFuture) f1 = camas_test_agent_start(hello, NULL);
    g_autoptr(CamasFuture) f2 = camas_test_agent_start(ticker, NULL);
    camas_loop_run_due(w->loop); /* both are running: one sleeps, one waits for its call */
    g_autoptr(CamasAgent) keep = camas_agent_ref(hello);
    camas_test_world_drop(w, c);
    cr_assert(camas_future_is_cancelled(f1), "the sleeping task was cancelled and unwound");
    cr_assert(camas_future_is_cancelled(f2));
    cr_assert_str_eq(journal->str, "finalized");
    cr_assert_not(camas_agent_is_alive(keep));
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_agent_start(keep, NULL, &e));
    camas_test_assert_error(e, CAMAS_ERROR, CAMAS_ERROR_CLOSED, NULL);
    camas_agent_unref(g_steal_pointer(&keep));
    /* the ticker's timer still fires (it is the agent's own business) and finds its future
     * cancelled */
    camas_loop_run(w->loop);
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
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_LOG);
    CamasContainer *srv;
    g_autoptr(CamasProxy) p = camas_test_pair_new(w, "slow", &sleeper_class, NULL, &srv, NULL);
    g_autoptr(CamasFuture) f = camas_proxy_call(p, "slow", NULL, NULL);
    camas_loop_run_until(w->loop, CAMAS_TICKS_PER_SECOND);
    cr_assert_not(camas_future_is_done(f));
    camas_test_world_drop(w, srv);
    camas_test_await_fails(w, f, CAMAS_ERROR, CAMAS_ERROR_CLOSED, NULL);
    cr_assert_eq(camas_loop_get_pending(w->loop), 0, "the method's sleep was cancelled");
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
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_LOG);
    CamasContainer *c = camas_test_container_new(w, "local://args", NULL);
    camas_test_spawn(c, &kinds_class, 1);
    g_autoptr(CamasProxy) p = camas_test_connect_ok(w, c, "local://args/0");
    g_autoptr(CamasValue) r1 = camas_test_call_ok(w, p, "kinds", "[i i]", 3, 4);
    camas_test_assert_value(r1, "[i f b s n I I]", 3, 4.0, FALSE, "unset", (gint64)-1, (gint64)0);
    g_autoptr(CamasValue) date = camas_date_value_parse("1970-01-01T00:00:01Z", NULL);
    g_autoptr(CamasValue) r2 =
        camas_test_call_ok(w, p, "kinds", "{s:i s:f s:b s:s s:[i] s:I s:v}", "i", 1, "f", 2.5, "b",
                           TRUE, "s", "x", "v", 9, "big", G_MAXINT64, "d", date);
    camas_test_assert_value(r2, "[i f b s [i] I I]", 1, 2.5, TRUE, "x", 9, G_MAXINT64,
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
        const char *f = bad[k].format;
        g_autoptr(GError) e =
            k == 4   ? camas_test_call_error(w, p, "kinds", f, G_MAXINT64, 1.0)
            : k == 1 ? camas_test_call_error(w, p, "kinds", f, "x", 1.0)
            : k == 2 ? camas_test_call_error(w, p, "kinds", f, 1, "x")
            : k == 3 ? camas_test_call_error(w, p, "kinds", f, 1, 1.0, 1)
            : k == 5 ? camas_test_call_error(w, p, "kinds", f, 1, 1.0, TRUE, "s", 1, 2, 3)
                     : camas_test_call_error(w, p, "kinds", f);
        camas_test_assert_remote(e, bad[k].last_line);
    }
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
    /* without CAMAS_TEST_LOG the container has no log function */
    g_autoptr(CamasTestWorld) w = camas_test_world_new(0);
    g_autoptr(GString) trace = g_string_new(NULL);
    camas_loop_set_tracer(w->loop, collect_logs, trace, NULL);
    CamasContainer *c = camas_test_container_new(w, "local://tr", NULL);
    CamasAgent *a = camas_test_spawn_type(c, "TestAgent", NULL);
    camas_agent_log(a, "n=%d", 5);
    cr_assert_str_eq(trace->str, "spawn local://tr/0 TestAgent|"
                                 "log local://tr/0 Ohai, I am TestAgent('local://tr/0')|"
                                 "log local://tr/0 n=5|");
    camas_loop_set_tracer(w->loop, NULL, NULL, NULL);
}

/* --- the conformance agents ------------------------------------------------------------------- */

Test(agent, echo_and_counter_agents_answer_the_conformance_calls)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_LOG);
    CamasContainer *srv, *cli;
    g_autoptr(CamasProxy) echo =
        camas_test_pair_new(w, "conf", camas_test_agent_type("EchoAgent"), NULL, &srv, &cli);
    camas_test_spawn_type(srv, "CounterAgent", NULL);
    camas_test_spawn_type(cli, "Callee", NULL);
    g_autoptr(CamasProxy) counter = camas_test_connect_ok(w, cli, "local://conf/1");
    g_autoptr(CamasValue) w0 = camas_test_call_ok(w, echo, "whoami", "[]");
    camas_test_assert_value(w0, "[s s]", "EchoAgent", "local://conf/0");
    g_autoptr(CamasValue) w1 = camas_test_call_ok(w, counter, "whoami", "[]");
    camas_test_assert_value(w1, "[s s]", "CounterAgent", "local://conf/1");
    g_autoptr(CamasValue) e1 = camas_test_call_ok(w, counter, "echo", "[[i {s:n}]]", 1, "a");
    camas_test_assert_value(e1, "[i {s:n}]", 1, "a");
    g_autoptr(CamasValue) a1 = camas_test_call_ok(w, echo, "add", "[i i]", 1, 2);
    camas_test_assert_value(a1, "i", 3);
    g_autoptr(CamasValue) a2 = camas_test_call_ok(w, echo, "add", "{s:s s:s}", "a", "x", "b", "y");
    camas_test_assert_value(a2, "s", "xy");
    g_autoptr(CamasValue) a3 = camas_test_call_ok(w, echo, "add", "[f i]", 0.5, 1);
    camas_test_assert_value(a3, "f", 1.5);
    g_autoptr(CamasValue) c1 = camas_test_call_ok(w, counter, "incr", "[]");
    camas_test_assert_value(c1, "i", 1);
    g_autoptr(CamasValue) c2 = camas_test_call_ok(w, counter, "incr", "{s:i}", "n", 5);
    camas_test_assert_value(c2, "i", 6);
    g_autoptr(CamasValue) c3 = camas_test_call_ok(w, counter, "get", "[]");
    camas_test_assert_value(c3, "i", 6);
    g_autoptr(GError) f = camas_test_call_error(w, echo, "fail", "[s]", "boom");
    camas_test_assert_remote(f, "\nValueError: boom\n");
    cr_assert(
        g_str_has_prefix(camas_error_get_remote_text(f), "Traceback (most recent call last):\n"));
    /* call_peer: the server's agent connects back to the client container's Callee */
    g_autoptr(CamasValue) cp =
        camas_test_call_ok(w, counter, "call_peer", "[s s i]", "local://conf-cli/0", "spam", 2);
    camas_test_assert_value(cp, "s", "spamspam");
    g_autoptr(GError) cpe =
        camas_test_call_error(w, counter, "call_peer", "[s s]", "local://conf-cli/9", "spam");
    cr_assert(strstr(camas_error_get_remote_text(cpe),
                     "Agent \"9\" does not exist in Container(local://conf-cli)"),
              "%s", camas_error_get_remote_text(cpe));
    /* shift_date keeps the offset */
    g_autoptr(CamasValue) d = camas_date_value_parse("2016-03-27T01:59:59.250000+01:00", NULL);
    g_autoptr(CamasValue) d2 = camas_test_call_ok(w, echo, "shift_date", "[v f]", d, 0.75);
    gint64 ns;
    gint32 off;
    cr_assert(camas_date_value_get(d2, &ns, &off));
    g_autofree char *text = camas_date_format(ns, off);
    cr_assert_str_eq(text, "2016-03-27T02:00:00+01:00");
}

/* --- the contract net in one process ---------------------------------------------------------- */

static char *
contract_net_once(CamasValue **outcome)
{
    g_autoptr(CamasTestWorld) w = camas_test_world_new(CAMAS_TEST_LOG | CAMAS_TEST_EXTERNAL);
    CamasContainerOptions mo = {.seed = 42, .name = "m"};
    CamasContainer *m = camas_test_container_new(w, "local://cn-m", &mo);
    CamasContainer *cs[3];
    g_autoptr(CamasValue) urls = NULL;
    CamasValue *items[6];
    for (int i = 0; i < 3; i++) {
        g_autofree char *addr = g_strdup_printf("local://cn-%d", i);
        g_autofree char *name = g_strdup_printf("c%d", i);
        CamasContainerOptions o = {.seed = 42, .name = name};
        cs[i] = camas_test_container_new(w, addr, &o);
        for (int j = 0; j < 2; j++)
            items[2 * i + j] = camas_value_new_str(
                camas_agent_get_url(camas_test_spawn_type(cs[i], "Contractor", NULL)));
    }
    urls = camas_value_new_list_take(items, 6);
    CamasAgent *manager = camas_test_spawn_type(m, "ContractNetManager", NULL);
    g_autoptr(CamasFuture) f = camas_test_agent_start(manager, "[v s]", urls, "build-a-house");
    /* the test is the external master: it steps the clock 10 ms at a time */
    double t = 0;
    while (!camas_future_is_done(f)) {
        t += 0.01;
        cr_assert(camas_clock_set_time(w->clock, t, NULL));
        cr_assert_lt(t, 10.0, "the round did not end");
    }
    *outcome = camas_test_await_ok(w, f);
    return g_strdup(w->log->str);
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
        cr_assert_str_eq(camas_test_agent_type(builtins[i])->name, builtins[i]);
    g_autoptr(GError) e = NULL;
    cr_assert_null(camas_agent_registry_lookup("Nope", &e));
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_LOOKUP));
    cr_assert(g_str_has_prefix(e->message, "Unknown agent type \"Nope\" (known: Callee, Caller, "
                                           "ContractNetManager, Contractor, CounterAgent, "),
              "%s", e->message);
    g_autofree const CamasAgentClass **before = camas_agent_registry_list();
    cr_assert(camas_agent_registry_add(&plugin_class, NULL));
    cr_assert_eq(camas_test_agent_type("PluginAgent"), &plugin_class);
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
