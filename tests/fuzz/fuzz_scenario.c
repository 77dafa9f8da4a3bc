/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: scenario files (camas_scenario_load_data(), docs/scenarios.md) on
 * arbitrary bytes.  Loading must succeed or fail with a GError — never crash, abort, log a
 * critical or leak.  A file that loads and is cheap to run is also run (so the runner's
 * validation of parameters, links and references is fuzzed too) and checked against its own
 * "expect" section; afterwards no counted camas object may be alive.
 *
 * What is kept cheap, by looking at the JSON before handing it over (these are the documented
 * costs of a big scenario, not bugs): files whose "count"s add up to more than LOAD_AGENTS are
 * not loaded; files with more than RUN_AGENTS agents, more than RUN_CONTAINERS containers or an
 * integer parameter above RUN_INT (rounds, fanout: the work per agent) are not run; runs stop
 * at RUN_SECONDS of simulated time at the latest.  Plug-ins are only loaded when every path is
 * a bare file name: they resolve into a directory that does not exist, so the loader's failure
 * path is fuzzed without dlopen()ing whatever file a mutation names.  Seeds:
 * tests/fuzz/corpus/scenario.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <camas/camas.h>

#include "live-private.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

/* UBSan only prints by default: stop at undefined behaviour as at a crash, so that libFuzzer
 * keeps the input. */
const char *__ubsan_default_options(void);
const char *
__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

#define LOAD_AGENTS 200
#define RUN_AGENTS 64
#define RUN_CONTAINERS 8
#define RUN_INT 16
#define RUN_SECONDS 10

/* Where relative plug-in paths resolve: a directory that does not exist. */
#define ORIGIN "/nonexistent-camas-fuzz/fuzz.json"

typedef struct {
    json_int_t counts; /* the sum of every "count" integer (saturating) */
    gboolean big_param; /* not to be run: an integer above RUN_INT somewhere under a "params",
                         * too many containers */
} Survey;

static void
survey(json_t *j, gboolean in_params, Survey *s)
{
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
            if (strcmp(key, "count") == 0 && json_is_integer(v)) {
                json_int_t c = json_integer_value(v);
                if (c > 0)
                    s->counts = c > LOAD_AGENTS ? LOAD_AGENTS + 1
                                                : MIN(s->counts + c, LOAD_AGENTS + 1);
            }
            survey(v, in_params || strcmp(key, "params") == 0, s);
        }
    } else if (json_is_array(j)) {
        for (gsize i = 0; i < json_array_size(j); i++)
            survey(json_array_get(j, i), in_params, s);
    } else if (in_params && json_is_integer(j) && json_integer_value(j) > RUN_INT) {
        s->big_param = TRUE;
    }
}

/* Plug-in paths that stay inside ORIGIN's (missing) directory. */
static gboolean
plugins_are_harmless(json_t *root)
{
    json_t *p = json_object_get(root, "plugins");
    if (!json_is_array(p))
        return TRUE;
    for (gsize i = 0; i < json_array_size(p); i++) {
        json_t *e = json_array_get(p, i);
        if (json_is_string(e) &&
            (json_string_length(e) == 0 || memchr(json_string_value(e), '/', json_string_length(e)) ||
             strlen(json_string_value(e)) != json_string_length(e)))
            return FALSE;
    }
    return TRUE;
}

static void
quiet_log(const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
    /* Criticals are contract violations (fatal below): say which before aborting. */
    if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR))
        fprintf(stderr, "%s: %s\n", domain ? domain : "", message);
}

static void
check_nothing_alive(const char *when)
{
    for (int k = 0; k < CAMAS__LIVE_N; k++) {
        int n = g_atomic_int_get(&camas__live_counts[k]);
        if (n != 0) {
            fprintf(stderr, "fuzz_scenario: %d %s object(s) alive after %s\n", n,
                    camas__live_name(k), when);
            abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static gboolean initialised, verbose;
    if (!initialised) {
        initialised = TRUE;
        /* CAMAS_FUZZ_VERBOSE=1: say what happened to each input (for corpus upkeep) */
        verbose = g_getenv("CAMAS_FUZZ_VERBOSE") != NULL;
        g_log_set_default_handler(quiet_log, NULL);
        g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
    }

    Survey sv = {0};
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (root) {
        survey(root, FALSE, &sv);
        gboolean harmless = plugins_are_harmless(root);
        json_t *containers = json_object_get(root, "containers");
        if (json_is_array(containers) && json_array_size(containers) > RUN_CONTAINERS)
            sv.big_param = TRUE;
        json_decref(root);
        if (!harmless || sv.counts > LOAD_AGENTS)
            return 0;
    }

    /* an exact-size heap copy, so that ASan catches any read past the end */
    char *copy = g_memdup2(data, size ? size : 1);
    GError *error = NULL;
    CamasScenario *s = camas_scenario_load_data(copy, size, ORIGIN, &error);
    g_free(copy);
    if (!s) {
        if (!error || error->domain != CAMAS_ERROR || !error->message[0])
            abort(); /* a failed load names what was wrong */
        if (verbose)
            fprintf(stderr, "load: %s\n", error->message);
        g_error_free(error);
        check_nothing_alive("a failed load");
        return 0;
    }
    if (error)
        abort();

    /* what front ends read from a loaded file */
    const char *fp = camas_scenario_get_expected_fingerprint(s);
    if (!camas_scenario_get_name(s) || strcmp(camas_scenario_get_origin(s), ORIGIN) != 0 ||
        camas_scenario_get_until(s) <= 0 || (fp && strlen(fp) != 64))
        abort();
    const char *ref = camas_scenario_get_reference_trace(s);
    if (ref && !g_path_is_absolute(ref))
        abort(); /* resolved against the file's directory */
    guint agents = 0;
    for (guint g = 0; g < camas_scenario_get_n_groups(s); g++) {
        if (!camas_scenario_get_group_name(s, g) || camas_scenario_get_group_size(s, g) == 0)
            abort();
        agents += camas_scenario_get_group_size(s, g);
    }
    if (agents <= RUN_AGENTS && !sv.big_param) {
        CamasScenarioRunOptions o = {0};
        o.until = MIN(camas_scenario_get_until(s), RUN_SECONDS * CAMAS_TICKS_PER_SECOND);
        CamasScenarioResult *r = camas_scenario_run(s, &o, &error);
        if (r) {
            const CamasScenarioStats *st = camas_scenario_result_get_stats(r);
            if (strlen(st->fingerprint) != 64 || st->sim_time > o.until)
                abort();
            if (verbose)
                fprintf(stderr, "ran: %" G_GUINT64_FORMAT " events\n", st->events);
            if (!camas_scenario_result_check(r, s, &error)) {
                if (verbose)
                    fprintf(stderr, "check: %s\n", error->message);
                g_clear_error(&error);
            }
            camas_scenario_result_free(r);
        } else {
            if (!error || !error->message[0])
                abort();
            if (verbose)
                fprintf(stderr, "run: %s\n", error->message);
            g_clear_error(&error);
        }
    } else if (verbose) {
        fprintf(stderr, "not run: %u agents%s\n", agents, sv.big_param ? ", big" : "");
    }
    camas_scenario_free(s);
    check_nothing_alive("a scenario");
    return 0;
}
