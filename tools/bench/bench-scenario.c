/* SPDX-License-Identifier: MIT */
/*
 * Benchmarks of the scenario runner (engine/scenario*.c, engine/trace-canonical.c):
 *
 *  - scenario.pingpong.100k: the target, scenarios/bench-100k.json run in-process:
 *    100 000 PingPong agents in two containers (50 000 pingers each pinging its own ponger ten
 *    times), MessagePack, simulated time, the canonical trace and its SHA-256 on — delivered
 *    messages (deliver + reply records) per second of running the loop.
 *    Timed by the runner itself (CamasScenarioStats.run_seconds: wall clock, whatever
 *    --cpu says), since only it knows where building ends and running starts.
 *  - scenario.pingpong.100k.whole: the same over the whole camas_scenario_run() call (parsing,
 *    building 100 000 agents, running, teardown), timed by the harness (so --cpu applies: CPU
 *    time of both threads, the loop's and the trace's).
 *  - scenario.pingpong.100k.floor: the same agents and messages built by hand with the
 *    container API and no tracer, the loop's run timed by the harness: what the engine costs,
 *    so the ratio to the first entry is the runner's (scenario layer + canonical trace +
 *    SHA-256) overhead.
 *  - scenario.pingpong.100k.links: the first entry with a uniform 1-5 ms latency on every
 *    link (a LocalQueue link model asked for every frame), timed the same way.
 *  - scenario.trace.records: canonical trace records per second for a send-like record with a
 *    30-byte payload (formatting, payload digest, fingerprint), and
 *    scenario.trace.records.floor: SHA-256 alone over the same bytes (line plus payload).
 */
#include <string.h>

#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <camas/container.h>
#include <camas/registry.h>
#include <camas/scenario.h>

#include "bench.h"

/* The contents of scenarios/bench-100k.json (without its expect section), kept here so the
 * benchmark does not depend on the working directory. */
static const char bench_100k[] =
    "{\"name\": \"bench-100k\", \"seed\": 1, \"codec\": \"msgpack\", \"containers\": [\"a\", "
    "\"b\"], \"agents\": ["
    "{\"name\": \"pinger\", \"type\": \"PingPong\", \"container\": \"a\", \"count\": 50000, "
    "\"params\": {\"peer\": \"@ponger\", \"rounds\": 10}},"
    "{\"name\": \"ponger\", \"type\": \"PingPong\", \"container\": \"b\", \"count\": 50000}]}";

/* The same world with a latency on every link, drawn per message (uniform 1 to 5 ms): every
 * frame goes through the LocalQueue link model and its random stream. */
static const char bench_100k_links[] =
    "{\"name\": \"bench-100k\", \"seed\": 1, \"codec\": \"msgpack\", \"containers\": [\"a\", "
    "\"b\"], \"links\": [{\"from\": \"*\", \"to\": \"*\", \"latency\": {\"dist\": \"uniform\", "
    "\"low\": 0.001, \"high\": 0.005}}], \"agents\": ["
    "{\"name\": \"pinger\", \"type\": \"PingPong\", \"container\": \"a\", \"count\": 50000, "
    "\"params\": {\"peer\": \"@ponger\", \"rounds\": 10}},"
    "{\"name\": \"ponger\", \"type\": \"PingPong\", \"container\": \"b\", \"count\": 50000}]}";

static const CamasScenarioStats *
run_text(const char *text, gsize len, CamasScenarioResult **out)
{
    GError *error = NULL;
    CamasScenario *s = camas_scenario_load_data(text, len, "bench-100k.json", &error);
    if (!s)
        g_error("bench: %s", error->message);
    *out = camas_scenario_run(s, NULL, &error);
    if (!*out)
        g_error("bench: %s", error->message);
    camas_scenario_free(s);
    const CamasScenarioStats *st = camas_scenario_result_get_stats(*out);
    if (st->delivered != 1100000)
        g_error("bench: %" G_GUINT64_FORMAT " messages delivered, expected 1100000",
                st->delivered);
    return st;
}

static const CamasScenarioStats *
run_100k(CamasScenarioResult **out)
{
    return run_text(bench_100k, sizeof bench_100k - 1, out);
}

static double
bench_pingpong_100k(void)
{
    CamasScenarioResult *r;
    const CamasScenarioStats *st = run_100k(&r);
    double rate = st->delivered / st->run_seconds;
    camas_scenario_result_free(r);
    return rate;
}

static double
bench_pingpong_100k_whole(void)
{
    double t0 = camas_bench_now();
    CamasScenarioResult *r;
    const CamasScenarioStats *st = run_100k(&r);
    guint64 delivered = st->delivered;
    camas_scenario_result_free(r);
    return delivered / (camas_bench_now() - t0);
}

static double
bench_pingpong_100k_links(void)
{
    CamasScenarioResult *r;
    const CamasScenarioStats *st = run_text(bench_100k_links, sizeof bench_100k_links - 1, &r);
    double rate = st->delivered / st->run_seconds;
    camas_scenario_result_free(r);
    return rate;
}

/* The floor: the same world without the scenario layer and without a tracer.  Deliveries are
 * counted from the agents' final states: each pong received is one delivered request and one
 * delivered reply; validate_aid adds one of each per pinger. */
static double
bench_pingpong_100k_floor(void)
{
    const guint n = 50000;
    const CamasAgentClass *klass = camas_agent_registry_lookup("PingPong", NULL);
    CamasLoop *loop = camas_loop_new();
    CamasClock *clock = camas_clock_new_afap(loop, 0, 0);
    CamasContainerOptions o = {.codec = "msgpack", .seed = 1, .name = "a"};
    CamasContainer *a = camas_container_new(clock, "local://a", &o, NULL);
    o.name = "b";
    CamasContainer *b = camas_container_new(clock, "local://b", &o, NULL);
    GPtrArray *starts = g_ptr_array_new_with_free_func((GDestroyNotify)camas_future_unref);
    GPtrArray *pingers = g_ptr_array_new();
    for (guint i = 0; i < n; i++) {
        char url[64];
        g_snprintf(url, sizeof url, "local://b/%u", i);
        CamasValue *kwargs = camas_value_build("{s:s s:i}", "peer", url, "rounds", 10);
        g_ptr_array_add(pingers, camas_container_spawn(a, klass, NULL, kwargs, NULL));
        camas_value_unref(kwargs);
    }
    for (guint i = 0; i < n; i++)
        camas_container_spawn(b, klass, NULL, NULL, NULL);
    for (guint i = 0; i < n; i++)
        g_ptr_array_add(starts, camas_agent_start(g_ptr_array_index(pingers, i), NULL, NULL));
    double t0 = camas_bench_now();
    camas_loop_run(loop);
    double secs = camas_bench_now() - t0;
    for (guint i = 0; i < n; i++) {
        CamasFuture *f = g_ptr_array_index(starts, i);
        if (!camas_future_is_done(f) || camas_future_is_failed(f))
            g_error("bench: pinger %u did not finish", i);
    }
    g_ptr_array_unref(starts);
    g_ptr_array_unref(pingers);
    camas_container_free(a);
    camas_container_free(b);
    camas_clock_unref(clock);
    camas_loop_free(loop);
    return (double)(2 * n * 11) / secs;
}

/* --- the canonical trace alone ------------------------------------------------------------- */

static const guint8 payload[30] = {0x93, 0x00, 0x07, 0x93, 0xad, 'a', 'g', 'e', 'n', 't', 's',
                                   '/', '1', '/', 'p', 'i', 'n', 'g', 0x91, 0x05, 0x80};

static void
sink_nothing(const char *line, gsize len, gpointer data)
{
    *(gsize *)data += len;
}

static void
trace_op(gpointer data, guint64 n)
{
    gsize bytes = 0;
    CamasCanonicalTrace *t = camas_canonical_trace_new(sink_nothing, &bytes);
    CamasTraceRecord r = {.kind = CAMAS_TRACE_SEND, .src = "local://a", .dst = "local://b",
                          .method = "agents/1/ping", .payload = payload,
                          .payload_len = sizeof payload};
    for (guint64 i = 0; i < n; i++) {
        r.time = (gint64)i * 1000;
        r.msg_id = (gint64)i;
        camas_canonical_trace_add(t, &r);
    }
    char *fp = camas_canonical_trace_dup_fingerprint(t);
    camas_bench_consume(fp);
    g_free(fp);
    camas_canonical_trace_free(t);
    *(gsize *)data = bytes;
}

static double
bench_trace_records(void)
{
    gsize bytes = 0;
    return camas_bench_rate(trace_op, &bytes);
}

/* SHA-256 over what one record hashes: a typical line (about 150 bytes) and the payload. */
static void
sha_op(gpointer data, guint64 n)
{
    static const char line[] = "{\"seq\":123456,\"time\":0.000123456,\"kind\":\"send\",\"src\":"
                               "\"local://a\",\"dst\":\"local://b\",\"method\":\"agents/1/ping\","
                               "\"id\":123456,\"digest\":\"00112233445566778899aabbccddeeff\"}\n";
    SHA256_CTX run;
    SHA256_Init(&run);
    guint8 md[SHA256_DIGEST_LENGTH];
    for (guint64 i = 0; i < n; i++) {
        SHA256_CTX c;
        SHA256_Init(&c);
        SHA256_Update(&c, payload, sizeof payload);
        SHA256_Final(md, &c);
        SHA256_Update(&run, line, sizeof line - 1);
    }
    SHA256_Final(md, &run);
    camas_bench_consume(md);
}

static double
bench_trace_records_floor(void)
{
    return camas_bench_rate(sha_op, NULL);
}

const CamasBench camas_bench_scenario[] = {
    {"scenario.pingpong.100k", "delivered/s", bench_pingpong_100k},
    {"scenario.pingpong.100k.whole", "delivered/s", bench_pingpong_100k_whole},
    {"scenario.pingpong.100k.floor", "delivered/s", bench_pingpong_100k_floor},
    {"scenario.pingpong.100k.links", "delivered/s", bench_pingpong_100k_links},
    {"scenario.trace.records", "records/s", bench_trace_records},
    {"scenario.trace.records.floor", "records/s", bench_trace_records_floor},
    {NULL},
};
