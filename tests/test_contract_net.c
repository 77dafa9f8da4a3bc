/* SPDX-License-Identifier: MIT */
/*
 * Same code, both worlds: one multi-agent program — a contract-net round in which a manager
 * asks six contractors in three containers for bids, awards the task to the lowest bid and
 * confirms — run without changing a line of the agents (ContractNetManager, Contractor, and
 * the subprocess Manager that hosts the contractors):
 *
 *   (a) simulation: every container in this process on LocalQueue, one external clock stepped
 *       by the test 10 ms at a time; run twice, the event logs must be identical;
 *   (b) live: the contractors' containers in three child processes (`camas container
 *       --manager`), everything over TCP with TLS, real-time clocks.
 *
 * Only configuration differs (addresses, clock, TLS, where containers run).  Both worlds must
 * reach the same outcome, because bids come from per-agent random streams named by stable
 * container names and the seed.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <camas/camas.h>
#include <camas/container.h>
#include <camas/registry.h>
#include <camas/subproc.h>

#include "certs.h"
#include "leakcheck.h"
#include "live-private.h"

TestSuite(contract_net, .fini = camas_test_check_leaks, .timeout = 60);

#define SEED 42
#define N_HOSTS 3
#define PER_HOST 2

typedef struct {
    gboolean live;
    CamasLoop *loop;
    CamasClock *clock;
    GMainContext *ctx;
    double t;        /* simulation: the time the test set last */
    GString *events; /* simulation: every trace record, in order */
    GString *log;    /* agent log lines with their time (simulation) or without (live) */
} World;

static void
trace_event(const CamasTraceRecord *r, gpointer data)
{
    g_string_append_printf(
        data, "%" G_GINT64_FORMAT " %" G_GUINT64_FORMAT " %s %s>%s %s %" G_GINT64_FORMAT " %s\n",
        r->time, r->seq, camas_trace_kind_name(r->kind), r->src ? r->src : "", r->dst ? r->dst : "",
        r->method ? r->method : "", r->msg_id, r->text ? r->text : "");
}

static void
log_line(CamasAgent *agent, const char *line, gpointer data)
{
    World *w = data;
    if (w->live)
        g_string_append_printf(w->log, "%s %s\n", camas_agent_get_url(agent), line);
    else
        g_string_append_printf(w->log, "%.3f %s %s\n", camas_clock_time(agent->clock),
                               camas_agent_get_url(agent), line);
}

/* Runs until @f is done: the simulation's master steps the external clock, the live world
 * follows real time. */
static void
drive(World *w, CamasFuture *f)
{
    gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    while (!camas_future_is_done(f)) {
        cr_assert_lt(g_get_monotonic_time(), deadline, "the program did not finish");
        if (w->live) {
            g_main_context_iteration(w->ctx, TRUE);
        } else {
            camas_loop_run_due(w->loop);
            if (camas_future_is_done(f))
                break;
            w->t += 0.01;
            g_autoptr(GError) error = NULL;
            cr_assert(camas_clock_set_time(w->clock, w->t, &error), "%s", error->message);
        }
    }
}

static CamasValue *
await_ok(World *w, CamasFuture *f)
{
    drive(w, f);
    g_autoptr(GError) error = NULL;
    CamasValue *r = NULL;
    cr_assert(camas_future_propagate(f, &r, &error), "failed: %s", error ? error->message : "");
    return r ? r : camas_value_new_null();
}

/*
 * The program: given the URLs of the hosts' managers (agent 0 of each contractor container),
 * spawn the contractors through them, then run one round from a ContractNetManager in @home.
 * Identical in both worlds.
 */
static CamasValue *
program(World *w, CamasContainer *home, const char *const *manager_urls)
{
    g_autoptr(GPtrArray) urls = g_ptr_array_new_with_free_func((GDestroyNotify)camas_value_unref);
    for (int h = 0; h < N_HOSTS; h++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(CamasFuture) cf = camas_container_connect(home, manager_urls[h], &error);
        cr_assert_not_null(cf, "%s", error ? error->message : "");
        drive(w, cf);
        g_autoptr(CamasProxy) host = camas_container_connect_finish(cf, &error);
        cr_assert_not_null(host, "%s", error ? error->message : "");
        for (int i = 0; i < PER_HOST; i++) {
            g_autoptr(CamasFuture) sf = camas_proxy_call_build(host, "spawn", "[s]", "Contractor");
            g_autoptr(CamasValue) r = await_ok(w, sf);
            g_ptr_array_add(urls, camas_value_ref(camas_value_get_item(r, 1)));
        }
    }
    g_autoptr(CamasValue) url_list =
        camas_value_new_list((CamasValue *const *)urls->pdata, urls->len);
    g_autoptr(GError) error = NULL;
    const CamasAgentClass *klass = camas_agent_registry_lookup("ContractNetManager", &error);
    cr_assert_not_null(klass);
    CamasAgent *manager = camas_container_spawn(home, klass, NULL, NULL, &error);
    cr_assert_not_null(manager, "%s", error ? error->message : "");
    g_autoptr(CamasValue) args = camas_value_build("[v s]", url_list, "build-a-house");
    g_autoptr(CamasFuture) round = camas_agent_start(manager, args, &error);
    cr_assert_not_null(round, "%s", error ? error->message : "");
    return await_ok(w, round);
}

/* --- world (a): one process, LocalQueue, external clock ------------------------------------- */

static CamasValue *
simulate(char **events, char **log)
{
    World w = {.live = FALSE};
    w.loop = camas_loop_new();
    w.clock = camas_clock_new_external(w.loop, 0, 0);
    w.events = g_string_new(NULL);
    w.log = g_string_new(NULL);
    camas_loop_set_tracer(w.loop, trace_event, w.events, NULL);

    CamasContainerOptions ho = {.seed = SEED, .name = "home"};
    CamasContainer *home = camas_container_new(w.clock, "local://home", &ho, NULL);
    camas_container_set_log_func(home, log_line, &w, NULL);
    CamasContainer *hosts[N_HOSTS];
    char *manager_urls[N_HOSTS];
    for (int h = 0; h < N_HOSTS; h++) {
        g_autofree char *addr = g_strdup_printf("local://host%d", h);
        g_autofree char *name = g_strdup_printf("c%d", h);
        CamasContainerOptions o = {.seed = SEED, .name = name};
        hosts[h] = camas_container_new(w.clock, addr, &o, NULL);
        cr_assert_not_null(hosts[h]);
        camas_container_set_log_func(hosts[h], log_line, &w, NULL);
        CamasAgent *m =
            camas_container_spawn(hosts[h], &camas_subproc_manager_class, NULL, NULL, NULL);
        manager_urls[h] = g_strdup(camas_agent_get_url(m));
    }
    CamasValue *outcome = program(&w, home, (const char *const *)manager_urls);

    camas_container_free(home);
    for (int h = 0; h < N_HOSTS; h++) {
        camas_container_free(hosts[h]);
        g_free(manager_urls[h]);
    }
    camas_loop_set_tracer(w.loop, NULL, NULL, NULL);
    camas_clock_unref(w.clock);
    camas_loop_free(w.loop);
    *events = g_string_free(w.events, FALSE);
    *log = g_string_free(w.log, FALSE);
    return outcome;
}

/* --- world (b): child processes, TCP + TLS, real time ---------------------------------------- */

static gboolean
tick_func(gpointer data)
{
    return G_SOURCE_CONTINUE;
}

static CamasValue *
live(char **log)
{
    World w = {.live = TRUE};
    w.loop = camas_loop_new();
    w.ctx = g_main_context_new();
    w.clock = camas_clock_new_realtime(w.loop, w.ctx);
    /* wake the context now and then, so drive() sees its deadline */
    GSource *tick = g_timeout_source_new(100);
    g_source_set_callback(tick, tick_func, NULL, NULL);
    g_source_attach(tick, w.ctx);
    w.log = g_string_new(NULL);
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasTestCerts) certs = camas_test_certs_new(&error);
    cr_assert_not_null(certs, "%s", error ? error->message : "");
    CamasTlsCerts home_certs = camas_test_certs_server(certs);
    CamasTlsCerts host_certs = camas_test_certs_client(certs);

    CamasContainerOptions ho = {.seed = SEED, .name = "home", .tls = &home_certs};
    CamasContainer *home = camas_container_new(w.clock, "tcp://127.0.0.1:0", &ho, &error);
    cr_assert_not_null(home, "%s", error ? error->message : "");
    camas_container_set_log_func(home, log_line, &w, NULL);
    CamasSubproc *hosts[N_HOSTS];
    char *manager_urls[N_HOSTS];
    for (int h = 0; h < N_HOSTS; h++) {
        g_autofree char *name = g_strdup_printf("c%d", h);
        CamasSubprocOptions o = {
            .clock = "realtime",
            .name = name,
            .seed = SEED,
            .tls = &host_certs,
            .program = camas_test_camas_exe(),
        };
        g_autoptr(CamasFuture) f = camas_subproc_start(home, &o, &error);
        cr_assert_not_null(f, "%s", error ? error->message : "");
        drive(&w, f);
        hosts[h] = camas_subproc_start_finish(f, &error);
        cr_assert_not_null(hosts[h], "%s", error ? error->message : "");
        manager_urls[h] = g_strdup(camas_subproc_get_url(hosts[h]));
    }
    CamasValue *outcome = program(&w, home, (const char *const *)manager_urls);

    for (int h = 0; h < N_HOSTS; h++) {
        g_autoptr(CamasFuture) stop = camas_subproc_stop(hosts[h]);
        g_autoptr(CamasValue) r = await_ok(&w, stop);
        camas_subproc_unref(hosts[h]);
        g_free(manager_urls[h]);
    }
    camas_container_free(home);
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (g_atomic_int_get(&camas__live_counts[CAMAS__LIVE_PIPE]) > 0) {
        cr_assert_lt(g_get_monotonic_time(), deadline, "closed sockets did not finish");
        g_main_context_iteration(w.ctx, TRUE);
    }
    camas_clock_unref(w.clock);
    camas_loop_free(w.loop);
    g_source_destroy(tick);
    g_source_unref(tick);
    g_main_context_unref(w.ctx);
    *log = g_string_free(w.log, FALSE);
    return outcome;
}

/* --- the tests ---------------------------------------------------------------------------------
 */

Test(contract_net, simulation_is_identical_on_every_run)
{
    g_autofree char *events1 = NULL, *events2 = NULL, *log1 = NULL, *log2 = NULL;
    g_autoptr(CamasValue) o1 = simulate(&events1, &log1);
    g_autoptr(CamasValue) o2 = simulate(&events2, &log2);
    cr_assert_str_eq(events1, events2, "the event log differs between two runs");
    cr_assert_str_eq(log1, log2);
    cr_assert(camas_value_equal(o1, o2));
    /* the log tells the story: six bids, one award, five rejections, one job done */
    guint bids = 0, rejected = 0;
    for (const char *p = log1; (p = strstr(p, " bid build-a-house ")); p++)
        bids++;
    for (const char *p = log1; (p = strstr(p, " rejected build-a-house")); p++)
        rejected++;
    cr_assert_eq(bids, N_HOSTS * PER_HOST);
    cr_assert_eq(rejected, N_HOSTS * PER_HOST - 1);
    cr_assert(strstr(log1, "award build-a-house to "), "%s", log1);
    cr_assert(strstr(events1, " send "), "the event log holds the messages too");
}

Test(contract_net, simulation_and_live_system_reach_the_same_outcome)
{
    g_autofree char *events = NULL, *sim_log = NULL, *live_log = NULL;
    g_autoptr(CamasValue) simulated = simulate(&events, &sim_log);
    g_autoptr(CamasValue) observed = live(&live_log);
    g_autofree char *a = camas_value_repr(simulated);
    g_autofree char *b = camas_value_repr(observed);
    cr_assert(camas_value_equal(simulated, observed), "simulation: %s\nlive: %s", a, b);
    const char *winner;
    double price;
    cr_assert(camas_value_unpack(observed, NULL, "{s:s s:f}", "winner", &winner, "price", &price));
    cr_assert(g_str_has_prefix(winner, "c"), "%s", winner);
    /* the manager's own lines (the only ones printed in this process) say the same */
    g_autofree char *award = g_strdup_printf("award build-a-house to %s at %.2f", winner, price);
    cr_assert(strstr(live_log, award), "%s", live_log);
    cr_assert(strstr(sim_log, award), "%s", sim_log);
}
