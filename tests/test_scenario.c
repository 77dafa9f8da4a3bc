/* SPDX-License-Identifier: MIT */
/*
 * Scenarios (camas/scenario.h) and the `camas run` / `camas check` commands: bad input named
 * by file and JSON path with exit status 2 and no trace file left behind; the canonical trace
 * and its fingerprint (sha256sum of the trace file); determinism — the same file twice,
 * another locale, time zone, directory and address-space layout give the same bytes, another
 * seed changes the gossip trace; every scenario file meets its expectations; reference traces
 * name the first differing record; plug-ins and their load failures.
 */
#include <criterion/criterion.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <jansson.h>

#include <camas/camas.h>
#include <camas/scenario.h>

#include "testutil.h"

TestSuite(scenario, .fini = camas_test_check_leaks, .timeout = 120);

/* --- helpers ------------------------------------------------------------------------------- */

static char *
scenario_path(const char *name)
{
    return g_strdup_printf("%s/scenarios/%s", camas_test_srcdir(), name);
}

static char *
plugin_path(const char *name)
{
    return g_strdup_printf("%s/tests/lib%s.so", CAMAS_BUILDDIR, name);
}

static CamasScenario *
load_text(const char *json, GError **error)
{
    return camas_scenario_load_data(json, strlen(json), "t.json", error);
}

/* The scenario @json describes; the test fails if it does not load. */
static CamasScenario *
load_text_ok(const char *json)
{
    g_autoptr(GError) error = NULL;
    CamasScenario *s = load_text(json, &error);
    cr_assert(s, "%s", error ? error->message : "");
    return s;
}

static CamasScenario *
load_file(const char *name)
{
    g_autofree char *path = scenario_path(name);
    g_autoptr(GError) error = NULL;
    CamasScenario *s = camas_scenario_load_file(path, &error);
    cr_assert(s, "%s", error ? error->message : "");
    return s;
}

static void
collect(const char *line, gsize len, gpointer data)
{
    g_string_append_len(data, line, (gssize)len);
}

/* Runs @s and returns its result; the trace's bytes go to @trace when it is not NULL. */
static CamasScenarioResult *
run_collect(CamasScenario *s, GString *trace, const CamasScenarioRunOptions *base)
{
    CamasScenarioRunOptions o = base ? *base : (CamasScenarioRunOptions){0};
    if (trace) {
        o.trace_func = collect;
        o.trace_data = trace;
    }
    g_autoptr(GError) error = NULL;
    CamasScenarioResult *r = camas_scenario_run(s, &o, &error);
    cr_assert(r, "%s", error ? error->message : "");
    return r;
}

static char *
write_temp(const char *dir, const char *name, const char *text)
{
    char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) error = NULL;
    cr_assert(g_file_set_contents(path, text, -1, &error), "%s", error ? error->message : "");
    return path;
}

static char *
read_all(const char *path)
{
    char *text = NULL;
    g_autoptr(GError) error = NULL;
    cr_assert(g_file_get_contents(path, &text, NULL, &error), "%s", error ? error->message : "");
    return text;
}

static void
remove_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
            remove_tree(p);
        else
            g_unlink(p);
    }
    g_rmdir(dir);
}

/* The lines of @text (without their '\n'). */
static char **
lines_of(const char *text)
{
    g_autofree char *copy = g_strdup(text);
    gsize n = strlen(copy);
    if (n && copy[n - 1] == '\n')
        copy[n - 1] = '\0';
    return g_strsplit(copy, "\n", -1);
}

static const char *const five_lines =
    "{\"agents\": [\n"
    "  {\"name\": \"pinger\", \"type\": \"PingPong\", \"params\": {\"peer\": \"@ponger\"}},\n"
    "  {\"name\": \"ponger\", \"type\": \"PingPong\"}\n"
    "]}\n";

/* --- loading ------------------------------------------------------------------------------- */

Test(scenario, a_five_line_file_runs_with_the_defaults)
{
    g_autoptr(CamasScenario) s = load_text_ok(five_lines);
    cr_assert_str_eq(camas_scenario_get_name(s), "t");
    cr_assert_eq(camas_scenario_get_seed(s), 0);
    cr_assert_eq(camas_scenario_get_until(s), G_MAXINT64);
    cr_assert_null(camas_scenario_get_expected_fingerprint(s));
    cr_assert_eq(camas_scenario_get_n_groups(s), 2);
    cr_assert_str_eq(camas_scenario_get_group_name(s, 1), "ponger");
    cr_assert_eq(camas_scenario_get_group_size(s, 1), 1);

    g_autoptr(CamasScenarioResult) r = run_collect(s, NULL, NULL);
    const CamasScenarioStats *st = camas_scenario_result_get_stats(r);
    /* one validate_aid and one ping (rounds defaults to 1), each answered */
    cr_assert_eq(st->messages, 4);
    cr_assert_eq(st->delivered, 4);
    cr_assert_eq(st->counts[CAMAS_TRACE_SPAWN], 2);
    cr_assert_eq(st->sim_time, 0);
    cr_assert_eq(strlen(st->fingerprint), 64);
    g_autoptr(CamasValue) want = camas_value_build("{s:i s:i}", "pings", 0, "pongs", 1);
    cr_assert(camas_value_equal(camas_scenario_result_get_state(r, "pinger", 0), want));
    cr_assert_null(camas_scenario_result_get_state(r, "pinger", 1));
    cr_assert_null(camas_scenario_result_get_state(r, "nobody", 0));
    cr_assert(camas_scenario_result_check(r, s, NULL), "nothing expected, nothing fails");
}

typedef struct {
    const char *json;
    const char *message; /* the whole message */
} BadCase;

static const BadCase bad_cases[] = {
    {"{\"agents\": [", "t.json:1:12: ']' expected near end of file"},
    {"{\"agents\": [{\"type\": \"PingPong\"},]}", "t.json:1:34: unexpected token near ']'"},
    {"{\"seed\": 1, \"seed\": 2, \"agents\": []}",
     "t.json:1:18: duplicate object key near '\"seed\"'"},
    {"[]", "t.json: $: expected an object, got an array"},
    {"{}", "t.json: $: a scenario needs \"agents\" (an array of agent groups)"},
    {"{\"agent\": []}",
     "t.json: $.agent: unknown field \"agent\" (did you mean \"agents\"?); known fields: version, "
     "name, description, seed, start, until, codec, plugins, containers, agents, links, expect"},
    {"{\"agents\": [{\"type\": \"PingPong\", \"cuont\": 3}]}",
     "t.json: $.agents[0].cuont: unknown field \"cuont\" (did you mean \"count\"?); known fields: "
     "name, type, container, count, params"},
    {"{\"version\": 2, \"agents\": []}",
     "t.json: $.version: version 2 is not supported (this camas reads version 1)"},
    {"{\"seed\": -1, \"agents\": []}",
     "t.json: $.seed: expected a non-negative integer, got a negative integer"},
    {"{\"seed\": \"7\", \"agents\": []}", "t.json: $.seed: expected a non-negative integer, got a string"},
    {"{\"until\": -5, \"agents\": []}",
     "t.json: $.until: must be a positive number of seconds, got -5"},
    {"{\"until\": 0, \"agents\": []}", "t.json: $.until: must be a positive number of seconds, got 0"},
    {"{\"until\": \"10\", \"agents\": []}",
     "t.json: $.until: expected a number of seconds, got a string"},
    {"{\"start\": \"2024-13-01\", \"agents\": []}",
     "t.json: $.start: invalid ISO 8601 date \"2024-13-01\": month out of range at position 5"},
    {"{\"codec\": \"xml\", \"agents\": []}",
     "t.json: $.codec: expected one of json, msgpack, msgpack-blosc, got xml"},
    {"{\"containers\": [], \"agents\": []}",
     "t.json: $.containers: expected a non-empty array of container names, got an empty array"},
    {"{\"containers\": [\"a\", \"a\"], \"agents\": []}",
     "t.json: $.containers[1]: container \"a\" is named twice"},
    {"{\"agents\": []}", "t.json: $.agents: expected a non-empty array of agent groups, got an "
                         "empty array"},
    {"{\"links\": [{\"from\": \"main\", \"to\": \"nowhere\", \"latency\": 1}], \"agents\": "
     "[{\"type\": \"PingPong\"}]}",
     "t.json: $.links[0].to: no container named \"nowhere\" (containers: main, or \"*\" for "
     "any)"},
    {"{\"agents\": [{\"count\": 2}]}", "t.json: $.agents[0]: an agent group needs a \"type\""},
    {"{\"agents\": [{\"type\": \"PingPong\", \"count\": 0}]}",
     "t.json: $.agents[0].count: must be between 1 and 100000000, got 0"},
    {"{\"agents\": [{\"type\": \"PingPong\", \"count\": 1.5}]}",
     "t.json: $.agents[0].count: expected an integer, got a number with a fraction"},
    {"{\"agents\": [{\"type\": \"PingPong\"}, {\"type\": \"PingPong\"}]}",
     "t.json: $.agents[1]: the group name \"PingPong\" is already used by $.agents[0] (give this "
     "group a \"name\")"},
    {"{\"agents\": [{\"type\": \"PingPong\", \"container\": \"nope\"}]}",
     "t.json: $.agents[0].container: no container named \"nope\" (containers: main)"},
    {"{\"agents\": [{\"type\": \"PingPong\", \"params\": {\"roundz\": 3}}]}",
     "t.json: $.agents[0].params.roundz: unknown parameter \"roundz\" (did you mean "
     "\"rounds\"?); PingPong takes: peer, rounds, interval"},
    {"{\"agents\": [{\"type\": \"EchoAgent\", \"params\": {\"x\": 1}}]}",
     "t.json: $.agents[0].params.x: unknown parameter \"x\": EchoAgent takes no parameters"},
    {"{\"agents\": [{\"type\": \"PingPong\", \"params\": {\"rounds\": \"3\"}}]}",
     "t.json: $.agents[0].params.rounds: PingPong parameter \"rounds\" (int) expects an integer, "
     "got a string"},
    {"{\"agents\": [{\"type\": \"PingPong\", \"params\": {\"interval\": -1}}]}",
     "t.json: $.agents[0].params.interval: PingPong parameter \"interval\" (duration) must not "
     "be negative, got -1"},
    {"{\"agents\": [{\"type\": \"Caller\"}]}",
     "t.json: $.agents[0]: Caller needs the parameter \"callee\" (agent: the Callee whose "
     "spam(3) it calls)"},
    {"{\"agents\": [{\"type\": \"PingPong\", \"params\": {\"peer\": \"@nobody\"}}]}",
     "t.json: $.agents[0].params.peer: no agent group named \"nobody\" (groups: PingPong)"},
    {"{\"agents\": [{\"type\": \"PingPong\", \"params\": {\"peer\": \"nobody\"}}]}",
     "t.json: $.agents[0].params.peer: expected an agent reference \"@group\", \"@group+N\" or "
     "\"@group[N]\", got \"nobody\""},
    {"{\"agents\": [{\"type\": \"PingPong\", \"name\": \"p\", \"params\": {\"peer\": "
     "\"@p[3]\"}}]}",
     "t.json: $.agents[0].params.peer: \"@p[3]\": group p has 1 agent (indices 0 to 0)"},
    {"{\"agents\": [{\"type\": \"Gossip\", \"name\": \"g\", \"params\": {\"peers\": "
     "\"@g+1\"}}]}",
     "t.json: $.agents[0].params.peers: \"@g+1\": an offset makes no sense in a list of agents "
     "(use \"@g\" or \"@g[N]\")"},
    {"{\"agents\": [{\"type\": \"EchoAgent\"}], \"expect\": {\"fingerprint\": \"abc\"}}",
     "t.json: $.expect.fingerprint: expected 64 hexadecimal digits (a SHA-256), got another "
     "string"},
    {"{\"agents\": [{\"type\": \"EchoAgent\"}], \"expect\": {\"trace\": {\"sends\": 1}}}",
     "t.json: $.expect.trace.sends: unknown field \"sends\" (did you mean \"send\"?); known "
     "fields: send, deliver, reply, failure, timer, log, fault, spawn"},
    {"{\"agents\": [{\"type\": \"EchoAgent\"}], \"expect\": {\"states\": [{\"agent\": "
     "\"nobody\", \"equals\": 1}]}}",
     "t.json: $.expect.states[0].agent: no agent group named \"nobody\" (groups: EchoAgent)"},
    {"{\"agents\": [{\"type\": \"EchoAgent\"}], \"expect\": {\"states\": [{\"agent\": "
     "\"EchoAgent\"}]}}",
     "t.json: $.expect.states[0]: a state check needs \"equals\", \"min\" or \"max\""},
    {"{\"agents\": [{\"type\": \"EchoAgent\"}], \"expect\": {\"sim_time\": -1}}",
     "t.json: $.expect.sim_time: must be a non-negative number of seconds, got -1"},
};

Test(scenario, bad_input_is_named_by_file_and_json_path)
{
    for (gsize i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(CamasScenario) s = load_text(bad_cases[i].json, &error);
        cr_assert_null(s, "case %zu loaded: %s", i, bad_cases[i].json);
        cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID), "case %zu: %s", i,
                  error->message);
        cr_assert_str_eq(error->message, bad_cases[i].message, "case %zu", i);
        cr_assert_null(strchr(error->message, '\n'), "case %zu: one line", i);
    }
}

Test(scenario, unknown_agent_types_list_the_known_ones)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasScenario) s =
        load_text("{\"agents\": [{\"type\": \"PingPon\"}]}", &error);
    cr_assert_null(s);
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_LOOKUP), "%s", error->message);
    cr_assert(g_str_has_prefix(error->message, "t.json: $.agents[0].type: Unknown agent type "
                                               "\"PingPon\" (known: Callee, Caller, "),
              "%s", error->message);
    for (const char *t = "Gossip\0PingPong\0RingElection\0ContractNetManager\0"; *t;
         t += strlen(t) + 1)
        cr_assert(strstr(error->message, t), "%s is not listed: %s", t, error->message);
}

static gint64
state_int(CamasScenarioResult *r, const char *group, guint i, const char *key)
{
    CamasValue *st = camas_scenario_result_get_state(r, group, i);
    cr_assert(st, "%s[%u] has a state", group, i);
    CamasValue *v = camas_value_map_lookup(st, key);
    cr_assert(v, "%s[%u] has %s", group, i, key);
    return camas_value_get_int(v);
}

Test(scenario, agent_references_pair_offset_and_index_agents)
{
    /* pingers in two containers (round robin) ping ponger (i + 1) mod 3; the lone "solo"
     * pings ponger 0 by index */
    g_autoptr(CamasScenario) s = load_text_ok(
        "{\"containers\": [\"a\", \"b\"], \"agents\": ["
        "{\"name\": \"pinger\", \"type\": \"PingPong\", \"count\": 2, \"container\": [\"a\", "
        "\"b\"], \"params\": {\"peer\": \"@ponger+1\", \"rounds\": 2}},"
        "{\"name\": \"solo\", \"type\": \"PingPong\", \"container\": \"b\", \"params\": "
        "{\"peer\": \"@ponger[0]\", \"rounds\": 5}},"
        "{\"name\": \"ponger\", \"type\": \"PingPong\", \"count\": 3, \"container\": \"a\"}]}");
    g_autoptr(GString) trace = g_string_new(NULL);
    g_autoptr(CamasScenarioResult) r = run_collect(s, trace, NULL);
    cr_assert_eq(state_int(r, "ponger", 0, "pings"), 5);
    cr_assert_eq(state_int(r, "ponger", 1, "pings"), 2);
    cr_assert_eq(state_int(r, "ponger", 2, "pings"), 2);
    cr_assert_eq(state_int(r, "pinger", 1, "pongs"), 2);
    /* URLs follow spawn order per container: pinger 0 is a/0, pinger 1 b/0, solo b/1, the
     * pongers a/1, a/2, a/3 */
    for (const char *want = "\"src\":\"local://a/0\",\"method\":\"PingPong\"\0"
                            "\"src\":\"local://b/0\",\"method\":\"PingPong\"\0"
                            "\"src\":\"local://b/1\",\"method\":\"PingPong\"\0"
                            "\"src\":\"local://a/3\",\"method\":\"PingPong\"\0"
                            "\"method\":\"agents/1/ping\"\0";
         *want; want += strlen(want) + 1)
        cr_assert(strstr(trace->str, want), "%s not in the trace", want);
}

/* Found by fuzz_scenario (tests/fuzz/regressions/scenario/offset-overflow.json): the offset was
 * added to the agent index unreduced, a signed overflow for offsets near the int64 limits. */
Test(scenario, offsets_at_the_int64_limits_pair_agents_modulo_the_group_size)
{
    /* 2^63 - 1 and -2^63 are both 1 mod 3: pinger i pings ponger (i + 1) mod 3 */
    g_autoptr(CamasScenario) s = load_text_ok(
        "{\"agents\": ["
        "{\"name\": \"pinger\", \"type\": \"PingPong\", \"count\": 2, \"params\": "
        "{\"peer\": \"@ponger+9223372036854775807\", \"rounds\": 2}},"
        "{\"name\": \"solo\", \"type\": \"PingPong\", \"params\": "
        "{\"peer\": \"@ponger-9223372036854775808\", \"rounds\": 3}},"
        "{\"name\": \"ponger\", \"type\": \"PingPong\", \"count\": 3}]}");
    g_autoptr(CamasScenarioResult) r = run_collect(s, NULL, NULL);
    cr_assert_eq(state_int(r, "ponger", 0, "pings"), 0);
    cr_assert_eq(state_int(r, "ponger", 1, "pings"), 2 + 3);
    cr_assert_eq(state_int(r, "ponger", 2, "pings"), 2);
}

Test(scenario, failing_agent_init_fails_the_run_with_the_agent_named)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasScenario) s = load_text_ok(
        "{\"agents\": [{\"name\": \"p\", \"type\": \"PingPong\", \"params\": {\"rounds\": -1}}]}");
    g_autoptr(CamasScenarioResult) r = camas_scenario_run(s, NULL, &error);
    cr_assert_null(r);
    cr_assert_str_eq(error->message,
                     "t.json: agent p[0] (PingPong): rounds and interval must not be negative");
}

/* --- the canonical trace ------------------------------------------------------------------- */

Test(scenario, canonical_lines_have_fixed_keys_exact_times_and_escaped_strings)
{
    g_autoptr(GString) out = g_string_new(NULL);
    g_autoptr(CamasCanonicalTrace) t = camas_canonical_trace_new(collect, out);
    const guint8 payload[] = {0x93, 0x00, 0x07, 0xc0};
    const guint8 digest[] = {0xde, 0xad, 0xbe, 0xef};
    CamasTraceRecord records[] = {
        {.kind = CAMAS_TRACE_SEND, .time = 1500000001, .src = "local://a", .dst = "local://b",
         .method = "agents/1/ping", .msg_id = 7, .payload = payload,
         .payload_len = sizeof payload},
        {.kind = CAMAS_TRACE_LOG, .time = 42, .src = "x\"y\\z", .msg_id = -1,
         .text = "tab\there\nbell\x07 caf\xc3\xa9"},
        {.kind = CAMAS_TRACE_FAILURE, .time = 3000000000, .msg_id = 0, .digest = digest,
         .digest_len = sizeof digest, .text = "bad \xff byte"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(records); i++)
        camas_canonical_trace_add(t, &records[i]);
    /* lines are rendered on the trace's own thread: wait for them */
    camas_canonical_trace_flush(t);
    /* the digest of the payload: the first 16 bytes of its SHA-256 */
    g_autofree char *sha = g_compute_checksum_for_data(G_CHECKSUM_SHA256, payload, sizeof payload);
    g_autofree char *want = g_strdup_printf(
        "{\"seq\":0,\"time\":1.500000001,\"kind\":\"send\",\"src\":\"local://a\","
        "\"dst\":\"local://b\",\"method\":\"agents/1/ping\",\"id\":7,\"digest\":\"%.32s\"}\n"
        "{\"seq\":1,\"time\":0.000000042,\"kind\":\"log\",\"src\":\"x\\\"y\\\\z\","
        "\"text\":\"tab\\there\\nbell\\u0007 caf\xc3\xa9\"}\n"
        "{\"seq\":2,\"time\":3.000000000,\"kind\":\"failure\",\"id\":0,\"digest\":\"deadbeef\","
        "\"text\":\"bad \\u00ff byte\"}\n",
        sha);
    cr_assert_str_eq(out->str, want);
    cr_assert_eq(camas_canonical_trace_get_records(t), 3);
    cr_assert_eq(camas_canonical_trace_get_count(t, CAMAS_TRACE_LOG), 1);
    g_autofree char *fp = camas_canonical_trace_dup_fingerprint(t);
    g_autofree char *file_sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, out->str, -1);
    cr_assert_str_eq(fp, file_sha);
    /* every line is JSON */
    g_auto(GStrv) lines = lines_of(out->str);
    for (char **l = lines; *l; l++) {
        json_error_t jerr;
        json_t *j = json_loads(*l, 0, &jerr);
        cr_assert(j, "%s: %s", *l, jerr.text);
        json_decref(j);
    }
}

Test(scenario, lines_longer_than_the_hash_buffer_keep_their_order)
{
    g_autoptr(GString) out = g_string_new(NULL);
    g_autoptr(CamasCanonicalTrace) t = camas_canonical_trace_new(collect, out);
    /* 60 000 quotes become 120 000 bytes of \" : the line cannot be rendered in place */
    g_autofree char *quotes = g_strnfill(60000, '"');
    g_autofree char *big_payload = g_malloc0(200000);
    CamasTraceRecord small = {.kind = CAMAS_TRACE_LOG, .time = 1, .src = "a", .msg_id = -1,
                              .text = "before"};
    CamasTraceRecord big = {.kind = CAMAS_TRACE_LOG, .time = 2, .src = "a", .msg_id = -1,
                            .text = quotes};
    CamasTraceRecord send = {.kind = CAMAS_TRACE_SEND, .time = 3, .msg_id = 1,
                             .payload = (const guint8 *)big_payload, .payload_len = 200000};
    for (int round = 0; round < 3; round++) {
        camas_canonical_trace_add(t, &small);
        camas_canonical_trace_add(t, &big);
        camas_canonical_trace_add(t, &send);
    }
    g_autofree char *fp = camas_canonical_trace_dup_fingerprint(t);
    g_autofree char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, out->str, -1);
    cr_assert_str_eq(fp, sha);
    g_auto(GStrv) lines = lines_of(out->str);
    cr_assert_eq(g_strv_length(lines), 9);
    cr_assert_str_eq(lines[3], "{\"seq\":3,\"time\":0.000000001,\"kind\":\"log\",\"src\":\"a\","
                               "\"text\":\"before\"}");
    cr_assert_eq(strlen(lines[4]), strlen("{\"seq\":4,\"time\":0.000000002,\"kind\":\"log\","
                                          "\"src\":\"a\",\"text\":\"\"}") + 120000);
    g_autofree char *zeros = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
                                                         (const guchar *)big_payload, 200000);
    g_autofree char *want = g_strdup_printf("{\"seq\":5,\"time\":0.000000003,\"kind\":\"send\","
                                            "\"id\":1,\"digest\":\"%.32s\"}", zeros);
    cr_assert_str_eq(lines[5], want);
}

Test(scenario, the_fingerprint_is_the_sha256_of_the_trace_file)
{
    g_autoptr(CamasScenario) s = load_file("contract-net.json");
    g_autoptr(GString) trace = g_string_new(NULL);
    g_autoptr(CamasScenarioResult) r = run_collect(s, trace, NULL);
    const CamasScenarioStats *st = camas_scenario_result_get_stats(r);
    g_autofree char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, trace->str, -1);
    cr_assert_str_eq(st->fingerprint, sha);
    g_auto(GStrv) lines = lines_of(trace->str);
    cr_assert_eq(g_strv_length(lines), st->records);
    guint64 sum = 0;
    for (int k = 0; k <= CAMAS_TRACE_SPAWN; k++)
        sum += st->counts[k];
    cr_assert_eq(sum, st->records);
    cr_assert_eq(st->messages, st->counts[CAMAS_TRACE_SEND]);
    for (guint i = 0; lines[i]; i++) {
        g_autofree char *prefix = g_strdup_printf("{\"seq\":%u,\"time\":", i);
        cr_assert(g_str_has_prefix(lines[i], prefix), "%s", lines[i]);
    }
}

/* --- determinism --------------------------------------------------------------------------- */

Test(scenario, the_same_file_twice_gives_byte_identical_traces)
{
    g_autoptr(CamasScenario) s = load_file("gossip.json");
    g_autoptr(GString) a = g_string_new(NULL), b = g_string_new(NULL);
    g_autoptr(CamasScenarioResult) ra = run_collect(s, a, NULL);
    g_autoptr(CamasScenario) s2 = load_file("gossip.json");
    g_autoptr(CamasScenarioResult) rb = run_collect(s2, b, NULL);
    cr_assert_gt(a->len, 10000);
    cr_assert(a->len == b->len && memcmp(a->str, b->str, a->len) == 0);
    cr_assert_str_eq(camas_scenario_result_get_stats(ra)->fingerprint,
                     camas_scenario_result_get_stats(rb)->fingerprint);
}

Test(scenario, another_seed_changes_the_gossip_trace)
{
    g_autoptr(CamasScenario) s = load_file("gossip.json");
    g_autoptr(CamasScenarioResult) base = run_collect(s, NULL, NULL);
    const char *fp = camas_scenario_result_get_stats(base)->fingerprint;
    cr_assert_str_eq(fp, camas_scenario_get_expected_fingerprint(s));
    for (guint64 seed = 12; seed < 15; seed++) {
        CamasScenarioRunOptions o = {.override_seed = TRUE, .seed = seed};
        g_autoptr(CamasScenarioResult) r = run_collect(s, NULL, &o);
        const CamasScenarioStats *st = camas_scenario_result_get_stats(r);
        cr_assert_eq(st->seed, seed);
        cr_assert_str_neq(st->fingerprint, fp, "seed %" G_GUINT64_FORMAT, seed);
        /* with another seed the expected fingerprint is not compared; the states still are */
        g_autoptr(GError) error = NULL;
        cr_assert(camas_scenario_result_check(r, s, &error), "%s", error ? error->message : "");
    }
    /* the file's own seed given explicitly is the same run */
    CamasScenarioRunOptions same = {.override_seed = TRUE, .seed = camas_scenario_get_seed(s)};
    g_autoptr(CamasScenarioResult) r = run_collect(s, NULL, &same);
    cr_assert_str_eq(camas_scenario_result_get_stats(r)->fingerprint, fp);
}

/* A German locale (decimal comma) compiled into @dir, so the test does not depend on the
 * machine's installed locales. */
static void
make_german_locale(const char *dir)
{
    g_autofree char *out = g_build_filename(dir, "de_DE.UTF-8", NULL);
    const char *argv[] = {"localedef", "-i", "de_DE", "-f", "UTF-8", out, NULL};
    int status;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    cr_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, &err,
                           &status, &error),
              "localedef: %s", error ? error->message : "");
    cr_assert(g_file_test(out, G_FILE_TEST_IS_DIR), "localedef made no locale: %s", err);
}

Test(scenario, traces_do_not_depend_on_locale_or_time_zone_in_process)
{
    g_autofree char *dir = g_dir_make_tmp("camas-scenario-XXXXXX", NULL);
    make_german_locale(dir);
    g_autoptr(CamasScenario) s = load_file("gossip.json");
    g_autoptr(GString) plain = g_string_new(NULL);
    g_autoptr(CamasScenarioResult) a = run_collect(s, plain, NULL);
    /* link latencies: parsed numbers and drawn delays */
    g_autoptr(CamasScenario) l = load_file("gossip-latency.json");
    g_autoptr(GString) plain_links = g_string_new(NULL);
    g_autoptr(CamasScenarioResult) la = run_collect(l, plain_links, NULL);

    g_autofree char *old_tz = g_strdup(g_getenv("TZ"));
    g_setenv("LOCPATH", dir, TRUE);
    g_setenv("TZ", "Asia/Kathmandu", TRUE);
    tzset();
    cr_assert_not_null(setlocale(LC_ALL, "de_DE.UTF-8"), "the German locale is usable");
    char num[32];
    snprintf(num, sizeof num, "%.1f", 2.5);
    cr_assert_str_eq(num, "2,5", "printf now writes decimal commas");
    g_autoptr(GString) german = g_string_new(NULL);
    g_autoptr(CamasScenario) s2 = load_file("gossip.json");
    g_autoptr(CamasScenarioResult) b = run_collect(s2, german, NULL);
    g_autoptr(CamasScenario) l2 = load_file("gossip-latency.json");
    g_autoptr(GString) german_links = g_string_new(NULL);
    g_autoptr(CamasScenarioResult) lb = run_collect(l2, german_links, NULL);
    /* messages with numbers do not change either */
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasScenario) bad = load_text("{\"until\": -0.5, \"agents\": []}", &error);
    setlocale(LC_ALL, "C");
    if (old_tz)
        g_setenv("TZ", old_tz, TRUE);
    else
        g_unsetenv("TZ");
    tzset();
    g_unsetenv("LOCPATH");
    remove_tree(dir);

    cr_assert(plain->len == german->len && memcmp(plain->str, german->str, plain->len) == 0);
    cr_assert_str_eq(camas_scenario_result_get_stats(a)->fingerprint,
                     camas_scenario_result_get_stats(b)->fingerprint);
    cr_assert_str_eq(plain_links->str, german_links->str);
    cr_assert_str_eq(camas_scenario_result_get_stats(la)->fingerprint,
                     camas_scenario_result_get_stats(lb)->fingerprint);
    cr_assert_null(bad);
    cr_assert_str_eq(error->message, "t.json: $.until: must be a positive number of seconds, got "
                                     "-0.5");
}

Test(scenario, traces_do_not_depend_on_environment_directory_or_address_layout)
{
    g_autofree char *dir = g_dir_make_tmp("camas-scenario-XXXXXX", NULL);
    make_german_locale(dir);
    g_autofree char *file = scenario_path("gossip.json");
    g_autofree char *copy = g_build_filename(dir, "gossip.json", NULL);
    g_autofree char *text = read_all(file);
    g_autofree char *copied = write_temp(dir, "gossip.json", text);
    g_autofree char *trace_a = g_build_filename(dir, "a.jsonl", NULL);
    g_autofree char *trace_b = g_build_filename(dir, "b.jsonl", NULL);

    const char *argv_a[] = {"run", "--quiet", "--trace", trace_a, file, NULL};
    g_auto(CamasTestRun) a = camas_test_run_camas_argv(NULL, NULL, NULL, argv_a);
    cr_assert_eq(a.status, 0, "%s", a.err);

    /* another locale, time zone and working directory (the file named relatively), a long
     * environment (the stack moves) and address-space randomisation switched off */
    g_auto(GStrv) env = g_get_environ();
    env = g_environ_setenv(env, "LOCPATH", dir, TRUE);
    env = g_environ_setenv(env, "LC_ALL", "de_DE.UTF-8", TRUE);
    env = g_environ_setenv(env, "LANG", "de_DE.UTF-8", TRUE);
    env = g_environ_setenv(env, "TZ", "America/St_Johns", TRUE);
    g_autofree char *padding = g_strnfill(100000, 'x');
    env = g_environ_setenv(env, "CAMAS_TEST_PADDING", padding, TRUE);
    const char *setarch[] = {"setarch", "x86_64", "-R", NULL};
    const char *argv_b[] = {"run", "--quiet", "--trace", "b.jsonl", "gossip.json", NULL};
    g_auto(CamasTestRun) b = camas_test_run_camas_argv(dir, env, setarch, argv_b);
    cr_assert_eq(b.status, 0, "%s", b.err);

    g_autofree char *ta = read_all(trace_a);
    g_autofree char *tb = read_all(trace_b);
    cr_assert_gt(strlen(ta), 10000);
    cr_assert_str_eq(ta, tb);
    /* the summaries agree on the fingerprint, which is sha256sum of the file */
    g_autofree char *sha = g_compute_checksum_for_string(G_CHECKSUM_SHA256, ta, -1);
    cr_assert(strstr(a.out, sha), "%s", a.out);
    cr_assert(strstr(b.out, sha), "%s", b.out);
    (void)copied;
    (void)copy;
    remove_tree(dir);
}

/* --- expectations -------------------------------------------------------------------------- */

Test(scenario, every_scenario_file_meets_its_expectations)
{
    g_autofree char *dir = scenario_path("");
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    cr_assert(d);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(d)) != NULL)
        /* the benchmark is run by camas-bench and tools/test.sh, not in every sanitizer run */
        if (g_str_has_suffix(name, ".json") && !g_str_has_prefix(name, "bench-"))
            g_ptr_array_add(names, g_strdup(name));
    cr_assert_geq(names->len, 5);
    for (guint i = 0; i < names->len; i++) {
        g_autoptr(CamasScenario) s = load_file(g_ptr_array_index(names, i));
        cr_assert(camas_scenario_get_expected_fingerprint(s), "%s expects no fingerprint",
                  (char *)g_ptr_array_index(names, i));
        g_autoptr(CamasScenarioResult) r = run_collect(s, NULL, NULL);
        g_autoptr(GError) error = NULL;
        cr_assert(camas_scenario_result_check(r, s, &error), "%s: %s",
                  (char *)g_ptr_array_index(names, i), error ? error->message : "");
    }
}

Test(scenario, unmet_expectations_fail_with_every_reason_on_one_line)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CamasScenario) s = load_text_ok(
        "{\"agents\": [{\"name\": \"pinger\", \"type\": \"PingPong\", \"count\": 3, \"params\": "
        "{\"peer\": \"@ponger\", \"rounds\": 2}}, {\"name\": \"ponger\", \"type\": \"PingPong\", "
        "\"count\": 3}], \"expect\": {"
        "\"fingerprint\": \"00000000000000000000000000000000000000000000000000000000000000AA\", "
        "\"messages\": {\"max\": 3}, \"trace\": {\"deliver\": 9, \"timer\": {\"min\": 1}}, "
        "\"sim_time\": 1.5, "
        "\"states\": [{\"agent\": \"pinger\", \"key\": \"pongs\", \"equals\": 3}, "
        "{\"agent\": \"ponger[1]\", \"key\": \"pings\", \"min\": 3}, "
        "{\"agent\": \"ponger[2]\", \"key\": \"nope\", \"equals\": 1}]}}");
    g_autoptr(CamasScenarioResult) r = run_collect(s, NULL, NULL);
    const CamasScenarioStats *st = camas_scenario_result_get_stats(r);
    cr_assert_not(camas_scenario_result_check(r, s, &error));
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_FAILED));
    g_autofree char *want = g_strdup_printf(
        "fingerprint %s differs from the expected "
        "00000000000000000000000000000000000000000000000000000000000000aa; "
        "messages is 18, expected at most 3; trace.timer is 0, expected at least 1; "
        "sim_time is 0.000000000 s, expected 1.500000000 s; "
        "pinger[0].pongs is 2, expected 3 (and 2 more agents of pinger); "
        "ponger[1].pings is 2, expected at least 3; "
        "state of ponger[2] has no nope (state: {'pings': 2, 'pongs': 0})",
        st->fingerprint);
    cr_assert_str_eq(error->message, want);
}

Test(scenario, a_reference_trace_names_the_first_differing_record)
{
    g_autofree char *dir = g_dir_make_tmp("camas-scenario-XXXXXX", NULL);
    g_autoptr(CamasScenario) s = load_file("pingpong.json");
    g_autoptr(GString) trace = g_string_new(NULL);
    g_autoptr(CamasScenarioResult) r0 = run_collect(s, trace, NULL);

    /* identical: no divergence */
    g_autofree char *same = write_temp(dir, "same.jsonl", trace->str);
    CamasScenarioRunOptions o = {.reference_trace = same};
    g_autoptr(CamasScenarioResult) r1 = run_collect(s, NULL, &o);
    cr_assert_null(camas_scenario_result_get_divergence(r1));
    cr_assert(camas_scenario_result_check(r1, s, NULL));

    /* record 20 changed */
    g_auto(GStrv) lines = lines_of(trace->str);
    g_autofree char *orig = g_strdup(lines[20]);
    g_free(lines[20]);
    lines[20] = g_strdup("{\"seq\":20}");
    g_autofree char *joined = g_strjoinv("\n", lines);
    g_autofree char *changed_text = g_strconcat(joined, "\n", NULL);
    g_autofree char *changed = write_temp(dir, "changed.jsonl", changed_text);
    o.reference_trace = changed;
    g_autoptr(CamasScenarioResult) r2 = run_collect(s, NULL, &o);
    g_autofree char *want = g_strdup_printf("record 20: expected {\"seq\":20}, got %s", orig);
    cr_assert_str_eq(camas_scenario_result_get_divergence(r2), want);
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas_scenario_result_check(r2, s, &error));
    g_autofree char *reason = g_strdup_printf("trace differs from the reference at %s", want);
    cr_assert_str_eq(error->message, reason);

    /* a reference with fewer records, and one with more */
    g_autofree char *head = g_strjoinv("\n", (char *[]){lines[0], lines[1], NULL});
    g_autofree char *head_text = g_strconcat(head, "\n", NULL);
    g_autofree char *shorter = write_temp(dir, "shorter.jsonl", head_text);
    o.reference_trace = shorter;
    g_autoptr(CamasScenarioResult) r3 = run_collect(s, NULL, &o);
    cr_assert(g_str_has_prefix(camas_scenario_result_get_divergence(r3),
                               "record 2: the reference trace ends here, the run has {\"seq\":2,"),
              "%s", camas_scenario_result_get_divergence(r3));
    g_autofree char *longer_text = g_strconcat(trace->str, "{\"seq\":999}\n", NULL);
    g_autofree char *longer = write_temp(dir, "longer.jsonl", longer_text);
    o.reference_trace = longer;
    g_autoptr(CamasScenarioResult) r4 = run_collect(s, NULL, &o);
    g_autofree char *end = g_strdup_printf("record %u: the run ended after %u records, the "
                                           "reference trace goes on with {\"seq\":999}",
                                           g_strv_length(lines), g_strv_length(lines));
    cr_assert_str_eq(camas_scenario_result_get_divergence(r4), end);

    /* a reference that cannot be read is an error of the run */
    g_autofree char *missing = g_build_filename(dir, "missing.jsonl", NULL);
    o.reference_trace = missing;
    g_clear_error(&error);
    g_autoptr(CamasScenarioResult) r5 = camas_scenario_run(s, &o, &error);
    cr_assert_null(r5);
    cr_assert(strstr(error->message, "cannot read the reference trace"), "%s", error->message);
    (void)r0;
    remove_tree(dir);
}

Test(scenario, a_stop_time_given_to_the_run_overrides_the_file)
{
    g_autoptr(CamasScenario) s = load_file("pingpong.json");
    CamasScenarioRunOptions o = {.until = CAMAS_TICKS_PER_SECOND};
    g_autoptr(CamasScenarioResult) r = run_collect(s, NULL, &o);
    const CamasScenarioStats *st = camas_scenario_result_get_stats(r);
    cr_assert_eq(st->sim_time, CAMAS_TICKS_PER_SECOND);
    /* pings at 0, 0.5 and 1.0 s */
    cr_assert_eq(state_int(r, "ponger", 0, "pings"), 3);
    g_autoptr(GError) error = NULL;
    cr_assert_not(camas_scenario_result_check(r, s, &error), "the states do not hold at 1 s");
    cr_assert_null(strstr(error->message, "fingerprint"), "%s", error->message);
}

typedef struct {
    guint calls;
    guint64 last_events;
    gint64 last_now;
} ProgressLog;

static void
on_progress(gint64 now, gint64 until, guint64 events, gpointer data)
{
    ProgressLog *p = data;
    cr_assert_gt(events, p->last_events);
    cr_assert_geq(now, p->last_now);
    cr_assert_eq(until, G_MAXINT64);
    p->calls++;
    p->last_events = events;
    p->last_now = now;
}

Test(scenario, progress_is_reported_without_changing_the_run)
{
    const char *text = "{\"agents\": [{\"name\": \"a\", \"type\": \"PingPong\", \"params\": "
                       "{\"peer\": \"@b\", \"rounds\": 40000, \"interval\": 0.001}}, "
                       "{\"name\": \"b\", \"type\": \"PingPong\"}]}";
    g_autoptr(CamasScenario) s = load_text_ok(text);
    g_autoptr(CamasScenarioResult) quiet = run_collect(s, NULL, NULL);
    ProgressLog log = {0};
    CamasScenarioRunOptions o = {.progress = on_progress, .progress_data = &log};
    g_autoptr(CamasScenarioResult) shown = run_collect(s, NULL, &o);
    const CamasScenarioStats *a = camas_scenario_result_get_stats(quiet);
    const CamasScenarioStats *b = camas_scenario_result_get_stats(shown);
    cr_assert_eq(log.calls, a->events / 65536);
    cr_assert_str_eq(a->fingerprint, b->fingerprint);
    cr_assert_eq(a->events, b->events);
    cr_assert_eq(a->sim_time, b->sim_time);
}

/* --- the camas program --------------------------------------------------------------------- */

/* One line on stderr, starting with "camas <cmd>: ". */
static void
assert_one_line_error(const CamasTestRun *r, const char *prefix)
{
    cr_assert(g_str_has_prefix(r->err, prefix), "%s", r->err);
    gsize n = strlen(r->err);
    cr_assert(n > 0 && r->err[n - 1] == '\n' && strchr(r->err, '\n') == r->err + n - 1,
              "one line: %s", r->err);
}

Test(scenario, camas_run_prints_one_summary_and_exits_0)
{
    g_autofree char *file = scenario_path("default.json");
    g_auto(CamasTestRun) r = camas_test_run_camas("run", file, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    g_autoptr(CamasScenario) s = load_file("default.json");
    g_autofree char *want = g_strdup_printf(
        "default: 0.000000000 s simulated, 20 events, 8 messages, ");
    cr_assert(g_str_has_prefix(r.out, want), "%s", r.out);
    g_autofree char *tail = g_strdup_printf("events/s, fingerprint %s (as expected)\n",
                                            camas_scenario_get_expected_fingerprint(s));
    cr_assert(g_str_has_suffix(r.out, tail), "%s", r.out);
    cr_assert_str_eq(r.err, "");

    g_auto(CamasTestRun) j =
        camas_test_run_camas("run", "--json", "--seed", "5", "--until", "2.5", file, NULL);
    cr_assert_eq(j.status, 0, "%s", j.err);
    json_error_t jerr;
    json_t *o = json_loads(j.out, 0, &jerr);
    cr_assert(o, "%s: %s", j.out, jerr.text);
    cr_assert_eq(json_integer_value(json_object_get(o, "seed")), 5);
    cr_assert_eq(json_integer_value(json_object_get(o, "events")), 20);
    cr_assert_eq(json_integer_value(json_object_get(o, "messages")), 8);
    cr_assert_float_eq(json_number_value(json_object_get(o, "sim_time")), 2.5, 1e-12);
    cr_assert(json_is_real(json_object_get(o, "wall_seconds")));
    cr_assert_eq(json_string_length(json_object_get(o, "fingerprint")), 64);
    json_decref(o);
}

Test(scenario, bad_input_exits_2_with_one_line_and_leaves_no_trace_file)
{
    g_autofree char *dir = g_dir_make_tmp("camas-scenario-XXXXXX", NULL);
    g_autofree char *trace = g_build_filename(dir, "trace.jsonl", NULL);
    struct {
        const char *json;
        const char *message;
    } cases[] = {
        {"{\"agents\": [{\"type\": \"PingPong\", \"count\": -3}]}",
         "$.agents[0].count: must be between 1 and 100000000, got -3"},
        {"{\"agents\": [{\"type\": \"PingPong\", \"params\": {\"rounds\": -1}}]}",
         "agent PingPong[0] (PingPong): rounds and interval must not be negative"},
        {"{\"agents\": [", "bad.json:1:12: ']' expected near end of file"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *file = write_temp(dir, "bad.json", cases[i].json);
        g_auto(CamasTestRun) r = camas_test_run_camas("run", "--trace", trace, file, NULL);
        cr_assert_eq(r.status, 2, "case %zu: %s", i, r.err);
        assert_one_line_error(&r, "camas run: ");
        cr_assert(strstr(r.err, cases[i].message), "case %zu: %s", i, r.err);
        cr_assert_str_eq(r.out, "");
        cr_assert_not(g_file_test(trace, G_FILE_TEST_EXISTS), "case %zu left a trace", i);
    }
    /* and no temporary file either */
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name(d)) != NULL)
        cr_assert_str_eq(name, "bad.json");

    const char *const bad_args[][4] = {
        {"run", NULL},
        {"run", "--seed", "-1", "x.json"},
        {"run", "--until", "0", "x.json"},
        {"run", "--frobnicate", "x.json", NULL},
        {"run", "a.json", "b.json", NULL},
        {"run", "--trace", NULL},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad_args); i++) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        for (int k = 0; k < 4 && bad_args[i][k]; k++)
            g_ptr_array_add(argv, (gpointer)bad_args[i][k]);
        g_ptr_array_add(argv, NULL);
        g_auto(CamasTestRun) r =
            camas_test_run_camas_argv(NULL, NULL, NULL, (const char *const *)argv->pdata);
        cr_assert_eq(r.status, 2, "args %zu: %s", i, r.err);
        assert_one_line_error(&r, "camas run: ");
    }
    remove_tree(dir);
}

Test(scenario, a_trace_file_is_the_canonical_trace)
{
    g_autofree char *dir = g_dir_make_tmp("camas-scenario-XXXXXX", NULL);
    g_autofree char *trace = g_build_filename(dir, "t.jsonl", NULL);
    g_autofree char *file = scenario_path("ring-election.json");
    g_auto(CamasTestRun) r = camas_test_run_camas("run", "--trace", trace, file, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    g_autofree char *text = read_all(trace);
    g_autoptr(CamasScenario) s = load_file("ring-election.json");
    g_autoptr(GString) mine = g_string_new(NULL);
    g_autoptr(CamasScenarioResult) res = run_collect(s, mine, NULL);
    cr_assert_str_eq(text, mine->str);
    cr_assert(strstr(r.out, camas_scenario_result_get_stats(res)->fingerprint), "%s", r.out);
    remove_tree(dir);
}

Test(scenario, camas_check_exits_0_1_or_2)
{
    g_autofree char *dir = g_dir_make_tmp("camas-scenario-XXXXXX", NULL);
    g_autofree char *good = scenario_path("default.json");
    g_autofree char *ring = scenario_path("ring-election.json");
    g_auto(CamasTestRun) ok = camas_test_run_camas("check", good, ring, NULL);
    cr_assert_eq(ok.status, 0, "%s%s", ok.out, ok.err);
    g_auto(GStrv) lines = lines_of(ok.out);
    cr_assert_eq(g_strv_length(lines), 2);
    cr_assert(g_str_has_prefix(lines[0], "ok     "), "%s", lines[0]);
    cr_assert(strstr(lines[1], "ring-election.json (ring-election: "), "%s", lines[1]);

    /* a wrong expectation: FAILED with the reason, status 1 */
    g_autofree char *text = read_all(ring);
    g_autofree char *wrong_text = g_strdup(text);
    char *leader = strstr(wrong_text, "1850331145");
    cr_assert(leader);
    leader[0] = '2';
    g_autofree char *wrong = write_temp(dir, "wrong.json", wrong_text);
    g_auto(CamasTestRun) failed = camas_test_run_camas("check", good, wrong, NULL);
    cr_assert_eq(failed.status, 1, "%s%s", failed.out, failed.err);
    g_autofree char *line = g_strdup_printf(
        "FAILED %s: ring[0].leader is 1850331145, expected 2850331145 (and 15 more agents of "
        "ring)\n",
        wrong);
    cr_assert(g_str_has_suffix(failed.out, line), "%s", failed.out);

    /* bad input wins: ERROR, status 2, the other files still run */
    g_autofree char *bad = write_temp(dir, "bad.json", "{\"agents\": 3}");
    g_auto(CamasTestRun) err = camas_test_run_camas("check", bad, wrong, good, NULL);
    cr_assert_eq(err.status, 2, "%s%s", err.out, err.err);
    g_auto(GStrv) elines = lines_of(err.out);
    cr_assert_eq(g_strv_length(elines), 3);
    g_autofree char *eline = g_strdup_printf("ERROR  %s: $.agents: expected a non-empty array of "
                                             "agent groups, got an integer", bad);
    cr_assert_str_eq(elines[0], eline);
    cr_assert(g_str_has_prefix(elines[1], "FAILED "));
    cr_assert(g_str_has_prefix(elines[2], "ok     "));

    /* --reference: the first differing record */
    g_autofree char *trace = g_build_filename(dir, "ring.jsonl", NULL);
    g_auto(CamasTestRun) t = camas_test_run_camas("run", "--trace", trace, ring, NULL);
    cr_assert_eq(t.status, 0);
    g_autofree char *ref = read_all(trace);
    char *id = strstr(ref, "\"seq\":40,");
    cr_assert(id);
    id[7] = '9'; /* "seq":40 -> "seq":49 */
    g_autofree char *ref_path = write_temp(dir, "ref.jsonl", ref);
    g_auto(CamasTestRun) d = camas_test_run_camas("check", "--reference", ref_path, ring, NULL);
    cr_assert_eq(d.status, 1, "%s%s", d.out, d.err);
    cr_assert(strstr(d.out, "trace differs from the reference at record 40: expected "
                            "{\"seq\":49,"),
              "%s", d.out);
    remove_tree(dir);
}

/* --- plug-ins ------------------------------------------------------------------------------ */

Test(scenario, plugins_add_agent_types_with_declared_parameters)
{
    g_autofree char *dir = g_dir_make_tmp("camas-scenario-XXXXXX", NULL);
    g_autofree char *sub = g_build_filename(dir, "lib", NULL);
    g_mkdir(sub, 0755);
    g_autofree char *so = plugin_path("myagents");
    g_autofree char *link = g_build_filename(sub, "libmyagents.so", NULL);
    cr_assert_eq(symlink(so, link), 0);
    /* the plug-in path is relative to the scenario file, not to the working directory */
    g_autofree char *file = write_temp(
        dir, "adders.json",
        "{\"plugins\": [\"lib/libmyagents.so\"], \"agents\": ["
        "{\"name\": \"sum\", \"type\": \"Adder\", \"params\": {\"step\": 0, \"label\": \"total\"}},"
        "{\"name\": \"add\", \"type\": \"Adder\", \"count\": 2, \"params\": {\"step\": 5, "
        "\"times\": 4, \"peer\": \"@sum[0]\"}}],"
        "\"expect\": {\"states\": [{\"agent\": \"sum\", \"key\": \"total\", \"equals\": 40}, "
        "{\"agent\": \"add\", \"key\": \"sent\", \"equals\": 4}, "
        "{\"agent\": \"add\", \"key\": \"label\", \"equals\": \"adder\"}]}}");
    g_auto(CamasTestRun) r = camas_test_run_camas("run", "--states", file, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\nsum[0]: {'label': 'total', 'total': 40, 'sent': 0}\n"), "%s",
              r.out);
    g_auto(CamasTestRun) c = camas_test_run_camas("check", file, NULL);
    cr_assert_eq(c.status, 0, "%s%s", c.out, c.err);

    /* the plug-in's declarations are checked like the built-ins' */
    g_autofree char *bad = write_temp(
        dir, "bad.json",
        "{\"plugins\": [\"lib/libmyagents.so\"], \"agents\": [{\"type\": \"Adder\", \"params\": "
        "{\"step\": 1, \"tims\": 2}}]}");
    g_auto(CamasTestRun) b = camas_test_run_camas("run", bad, NULL);
    cr_assert_eq(b.status, 2);
    g_autofree char *want = g_strdup_printf(
        "camas run: %s: $.agents[0].params.tims: unknown parameter \"tims\" (did you mean "
        "\"times\"?); Adder takes: label, step, times, peer\n",
        bad);
    cr_assert_str_eq(b.err, want);
    g_autofree char *missing = write_temp(
        dir, "missing.json",
        "{\"plugins\": [\"lib/libmyagents.so\"], \"agents\": [{\"type\": \"Adder\"}]}");
    g_auto(CamasTestRun) m = camas_test_run_camas("run", missing, NULL);
    cr_assert_eq(m.status, 2);
    cr_assert(strstr(m.err, "$.agents[0]: Adder needs the parameter \"step\" (int: what each "
                            "call adds)"),
              "%s", m.err);
    remove_tree(dir);
}

Test(scenario, plugin_load_failures_carry_the_loaders_message)
{
    g_autofree char *dir = g_dir_make_tmp("camas-scenario-XXXXXX", NULL);
    g_autofree char *failing = plugin_path("myagents-failing");
    g_autofree char *noinit = plugin_path("myagents-noinit");
    g_autofree char *nofile = g_build_filename(dir, "libnothing.so", NULL);
    g_autofree char *text_file = write_temp(
        dir, "libtext.so",
        "not an ELF file, but long enough for the loader to read a whole ELF header from it\n");
    struct {
        const char *plugin;
        const char *message;
    } cases[] = {
        {nofile, "cannot open shared object file: No such file or directory"},
        {text_file, "invalid ELF header"},
        {noinit, "it exports no camas_plugin_init() function"},
        {failing, "the licence server said no"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *json = g_strdup_printf(
            "{\"plugins\": [\"%s\"], \"agents\": [{\"type\": \"EchoAgent\"}]}", cases[i].plugin);
        g_autofree char *file = write_temp(dir, "p.json", json);
        g_auto(CamasTestRun) r = camas_test_run_camas("run", file, NULL);
        cr_assert_eq(r.status, 2, "case %zu: %s", i, r.err);
        assert_one_line_error(&r, "camas run: ");
        g_autofree char *prefix = g_strdup_printf("camas run: %s: $.plugins[0]: plugin %s: ", file,
                                                  cases[i].plugin);
        cr_assert(g_str_has_prefix(r.err, prefix), "case %zu: %s", i, r.err);
        cr_assert(strstr(r.err, cases[i].message), "case %zu: %s", i, r.err);
    }
    remove_tree(dir);
}

Test(scenario, the_library_loads_plugins_once_and_remembers_failures)
{
    /* in this process the plug-in's camas calls cannot resolve (tests link the library
     * statically and export nothing), so loading fails with the loader's message: the failure
     * is remembered, and asking again gives the same answer */
    g_autofree char *noinit = plugin_path("myagents-noinit");
    g_autoptr(GError) e1 = NULL, e2 = NULL;
    cr_assert_not(camas_plugin_load(noinit, &e1));
    cr_assert_not(camas_plugin_load(noinit, &e2));
    cr_assert(g_error_matches(e1, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert_str_eq(e1->message, e2->message);
    g_autofree char *prefix = g_strdup_printf("plugin %s: ", noinit);
    cr_assert(g_str_has_prefix(e1->message, prefix), "%s", e1->message);
}

/* --- scenario types ------------------------------------------------------------------------ */

static const CamasAgentClass dup_class = {.name = "ScenarioTestDup"};
static const CamasParamSpec dup_params[] = {
    {"x", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_KWARG, FALSE, NULL, "one"},
    {"x", CAMAS_PARAM_STR, CAMAS_PARAM_INIT_KWARG, FALSE, NULL, "two"},
    {NULL},
};
static const CamasScenarioType dup_type = {&dup_class, 0, dup_params, NULL};

static const CamasAgentClass bad_default_class = {.name = "ScenarioTestBadDefault"};
static const CamasParamSpec bad_default_params[] = {
    {"n", CAMAS_PARAM_INT, CAMAS_PARAM_INIT_KWARG, FALSE, "\"three\"", "a number"},
    {NULL},
};
static const CamasScenarioType bad_default_type = {&bad_default_class, 0, bad_default_params,
                                                   NULL};

static const CamasAgentClass no_entry_class = {.name = "ScenarioTestNoEntry"};
static const CamasParamSpec start_params[] = {
    {"who", CAMAS_PARAM_AGENT, CAMAS_PARAM_START_ARG, TRUE, NULL, "for run"},
    {NULL},
};
static const CamasScenarioType no_entry_type = {&no_entry_class, 0, start_params, NULL};

static const CamasScenarioType future_type = {&no_entry_class, 99, NULL, NULL};

Test(scenario, malformed_type_descriptions_are_refused)
{
    struct {
        const CamasScenarioType *type;
        const char *message;
    } cases[] = {
        {&dup_type, "scenario type ScenarioTestDup: parameter \"x\" is declared twice"},
        {&bad_default_type,
         "scenario type ScenarioTestBadDefault: parameter \"n\": default \"three\" is not a valid "
         "int"},
        {&no_entry_type, "scenario type ScenarioTestNoEntry: parameter \"who\" goes to an entry "
                         "point the type does not have"},
        {&future_type,
         "scenario type ScenarioTestNoEntry: ABI version 99 is newer than this camas (1)"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        cr_assert_not(camas_scenario_type_register(cases[i].type, &error), "case %zu", i);
        cr_assert_str_eq(error->message, cases[i].message, "case %zu", i);
    }
    /* a registered class without a description takes no parameters */
    const CamasScenarioType *echo = camas_scenario_type_lookup("EchoAgent", NULL);
    cr_assert(echo);
    cr_assert_null(echo->params);
    cr_assert_eq(camas_scenario_type_lookup("EchoAgent", NULL), echo, "described once");
    const CamasScenarioType *pp = camas_scenario_type_lookup("PingPong", NULL);
    cr_assert_str_eq(pp->params[0].name, "peer");
    cr_assert_str_eq(camas_param_kind_name(pp->params[0].kind), "agent");
}

/* Successors that are not one ring — a tail feeding the largest id into a cycle — once sent
 * that id round the cycle forever at time 0, so even a stop time could not end the run (found
 * by fuzz_scenario).  Each node passes an id on once and logs a repeat. */
Test(scenario, ring_election_ends_when_the_successors_are_not_a_ring)
{
    const char *text = "{\"until\": 1, \"agents\": [{\"name\": \"ring\", \"type\": "
                       "\"RingElection\", \"count\": 3, \"params\": {\"next\": \"@ring+1\", "
                       "\"initiator\": false}}, {\"name\": \"tail\", \"type\": \"RingElection\", "
                       "\"params\": {\"next\": \"@ring[2]\", \"uid\": 2147483647}}]}";
    g_autoptr(CamasScenario) s = load_text_ok(text);
    g_autoptr(GString) trace = g_string_new(NULL);
    g_autoptr(CamasScenarioResult) r = run_collect(s, trace, NULL);
    const CamasScenarioStats *st = camas_scenario_result_get_stats(r);
    cr_assert_eq(st->sim_time, CAMAS_TICKS_PER_SECOND);
    cr_assert_eq(st->counts[CAMAS_TRACE_LOG], 1, "%s", trace->str);
    cr_assert(strstr(trace->str, "\"text\":\"election(2147483647) came by again: the successors "
                                 "do not form a ring; dropped\""),
              "%s", trace->str);
}

/* The event limit: a run that needs no more than the limit is the same run (and still reaches
 * its stop time); one that needs more fails naming the limit and the simulated time. */
Test(scenario, max_events_bounds_a_run_without_changing_one_that_fits)
{
    g_autoptr(CamasScenario) s = load_file("gossip.json");
    g_autoptr(CamasScenarioResult) free_run = run_collect(s, NULL, NULL);
    const CamasScenarioStats *a = camas_scenario_result_get_stats(free_run);
    CamasScenarioRunOptions exact = {.max_events = a->events};
    g_autoptr(CamasScenarioResult) bounded = run_collect(s, NULL, &exact);
    const CamasScenarioStats *b = camas_scenario_result_get_stats(bounded);
    cr_assert_str_eq(b->fingerprint, a->fingerprint);
    cr_assert_eq(b->events, a->events);
    cr_assert_eq(b->sim_time, a->sim_time, "the stop time is still reached");

    CamasScenarioRunOptions less = {.max_events = a->events - 1};
    g_autoptr(GError) e = NULL;
    g_autoptr(CamasScenarioResult) none = camas_scenario_run(s, &less, &e);
    cr_assert_null(none);
    cr_assert(g_error_matches(e, CAMAS_ERROR, CAMAS_ERROR_TOO_LARGE), "%s", e->message);
    g_autofree char *want = g_strdup_printf("the run reached the event limit (%" G_GUINT64_FORMAT
                                            " events) at ", a->events - 1);
    cr_assert(strstr(e->message, want), "%s", e->message);
}

Test(scenario, camas_run_max_events_fails_with_one_line_and_no_trace_file)
{
    g_autofree char *file = scenario_path("gossip.json");
    g_autofree char *dir = g_dir_make_tmp("camas-max-XXXXXX", NULL);
    g_autofree char *trace = g_build_filename(dir, "t.jsonl", NULL);
    g_auto(CamasTestRun) r =
        camas_test_run_camas("run", "--max-events", "100", "--trace", trace, file, NULL);
    cr_assert_eq(r.status, 2);
    assert_one_line_error(&r, "camas run: ");
    cr_assert(strstr(r.err, "event limit (100 events)"), "%s", r.err);
    cr_assert_not(g_file_test(trace, G_FILE_TEST_EXISTS));
    g_auto(CamasTestRun) zero = camas_test_run_camas("run", "--max-events", "0", file, NULL);
    cr_assert_eq(zero.status, 2);
    assert_one_line_error(&zero, "camas run: --max-events: expected a positive integer");
    cr_assert_eq(g_rmdir(dir), 0);
}
