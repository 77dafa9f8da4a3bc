/* SPDX-License-Identifier: MIT */
/*
 * `camas run`: runs one scenario file (camas/scenario.h, docs/scenarios.md) in simulated time
 * and prints one summary: the simulated time reached, events, messages, wall time, events per
 * second and the trace fingerprint.  --trace writes the canonical trace as JSON Lines; the file
 * appears (by rename) only when the run succeeded, so a trace file never claims a run that
 * failed.  A progress bar goes to stderr when it is a terminal and the run lasts over a second.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <camas/registry.h>
#include <camas/scenario.h>
#include <camas/time.h>

#include "camas.h"

#define CMD "run"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: camas run [--seed N] [--until SECONDS] [--max-events N] [--trace FILE]\n"
            "                 [--json] [--states] [--quiet] SCENARIO.json\n"
            "       camas run --list-types\n"
            "\n"
            "Runs a scenario in simulated time and prints a summary with the trace's SHA-256\n"
            "fingerprint (the same on every run for the same file and seed).\n"
            "\n"
            "  --seed N          the run seed instead of the file's\n"
            "  --until SECONDS   the stop time instead of the file's\n"
            "  --max-events N    fail (exit 2) rather than run more than N events: bounds a\n"
            "                    world whose agents call each other forever at one instant\n"
            "  --trace FILE      write the canonical trace (JSON Lines, one record per line)\n"
            "  --json            print the summary as one JSON object\n"
            "  --states          print every agent's final state after the summary, one\n"
            "                    \"group[i]: state\" line each (to write expect sections)\n"
            "  --quiet           no progress bar\n"
            "  --list-types      the agent types scenario files can name (as camas types)\n"
            "\n"
            "Exit status: 0 the run finished, 2 bad input (file, arguments) or the event limit\n"
            "reached, with a one-line error.  docs/scenarios.md describes the file format.\n");
}

/* --- argument parsing ---------------------------------------------------------------------- */

static gboolean
parse_u64(const char *text, guint64 *value)
{
    char *end = NULL;
    if (!g_ascii_isdigit(text[0]))
        return FALSE;
    errno = 0;
    *value = g_ascii_strtoull(text, &end, 10);
    return errno == 0 && end && *end == '\0';
}

static gboolean
parse_seconds(const char *text, gint64 *ticks)
{
    char *end = NULL;
    errno = 0;
    double s = g_ascii_strtod(text, &end);
    if (errno || !end || *end != '\0' || end == text || !(s > 0))
        return FALSE;
    return camas_time_from_seconds(s, ticks, NULL) && *ticks > 0;
}

/* --- the trace file ------------------------------------------------------------------------ */

typedef struct {
    FILE *file;
    char *tmp_path;
    gboolean failed; /* a write failed (disk full, ...) */
    int error;
} TraceFile;

static void
trace_write(const char *line, gsize len, gpointer data)
{
    TraceFile *t = data;
    if (!t->failed && fwrite(line, 1, len, t->file) != len) {
        t->failed = TRUE;
        t->error = errno;
    }
}

/* Opens a temporary file next to @path (renamed over it on success). */
static gboolean
trace_open(TraceFile *t, const char *path)
{
    t->tmp_path = g_strdup_printf("%s.tmp-XXXXXX", path);
    int fd = g_mkstemp(t->tmp_path);
    if (fd < 0) {
        t->error = errno;
        g_clear_pointer(&t->tmp_path, g_free);
        return FALSE;
    }
    t->file = fdopen(fd, "wb");
    setvbuf(t->file, NULL, _IOFBF, 1 << 20);
    return TRUE;
}

static void
trace_discard(TraceFile *t)
{
    if (t->file)
        fclose(t->file);
    if (t->tmp_path)
        unlink(t->tmp_path);
    g_free(t->tmp_path);
}

/* --- progress ------------------------------------------------------------------------------ */

typedef struct {
    gint64 start;  /* monotonic microseconds */
    gboolean shown;
} Progress;

static void
progress(gint64 now, gint64 until, guint64 events, gpointer data)
{
    Progress *p = data;
    gint64 elapsed = g_get_monotonic_time() - p->start;
    if (elapsed < G_USEC_PER_SEC)
        return;
    p->shown = TRUE;
    double secs = camas_time_to_seconds(now);
    double rate = events / ((double)elapsed / 1e6);
    if (until != G_MAXINT64 && until > 0) {
        double frac = (double)now / (double)until;
        int width = 30, filled = (int)(frac * width);
        char bar[31];
        for (int i = 0; i < width; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r[%s] %3d%%  t=%.3f s  %" G_GUINT64_FORMAT " events  %.0f events/s ",
                bar, (int)(frac * 100), secs, events, rate);
    } else {
        fprintf(stderr, "\rt=%.3f s  %" G_GUINT64_FORMAT " events  %.0f events/s ", secs,
                events, rate);
    }
    fflush(stderr);
}

/* --- listing types ------------------------------------------------------------------------- */

static int
list_types(void)
{
    g_autofree const CamasAgentClass **all = camas_agent_registry_list();
    for (gsize i = 0; all[i]; i++) {
        g_autofree char *text = camas_agent_class_dup_description(all[i]);
        fputs(text, stdout);
    }
    return CAMAS_EXIT_OK;
}

/* --- main ---------------------------------------------------------------------------------- */

/* @as_file: the run used the file's seed and stop time, so its expected fingerprint applies */
static void
print_summary(const CamasScenario *scenario, const CamasScenarioStats *st, gboolean as_json,
              gboolean as_file)
{
    double sim = camas_time_to_seconds(st->sim_time);
    double eps = st->wall_seconds > 0 ? st->events / st->wall_seconds : 0;
    if (as_json) {
        json_t *o = json_object();
        json_object_set_new(o, "scenario", json_string(camas_scenario_get_name(scenario)));
        json_object_set_new(o, "file", json_string(camas_scenario_get_origin(scenario)));
        json_object_set_new(o, "seed", json_integer((json_int_t)st->seed));
        json_object_set_new(o, "fingerprint", json_string(st->fingerprint));
        json_object_set_new(o, "sim_time", json_real(sim));
        json_object_set_new(o, "events", json_integer((json_int_t)st->events));
        json_object_set_new(o, "messages", json_integer((json_int_t)st->messages));
        json_object_set_new(o, "delivered", json_integer((json_int_t)st->delivered));
        json_object_set_new(o, "records", json_integer((json_int_t)st->records));
        json_object_set_new(o, "wall_seconds", json_real(st->wall_seconds));
        json_object_set_new(o, "run_seconds", json_real(st->run_seconds));
        json_object_set_new(o, "events_per_second", json_real(eps));
        json_object_set_new(o, "delivered_per_second",
                            json_real(st->run_seconds > 0 ? st->delivered / st->run_seconds : 0));
        json_t *counts = json_object();
        for (int k = 0; k <= CAMAS_TRACE_SPAWN; k++)
            json_object_set_new(counts, camas_trace_kind_name(k),
                                json_integer((json_int_t)st->counts[k]));
        json_object_set_new(o, "trace", counts);
        /* 15 digits: what these values hold, without binary noise (0.0027079999999999999) */
        char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
        printf("%s\n", text);
        free(text);
        json_decref(o);
        return;
    }
    const char *expected = camas_scenario_get_expected_fingerprint(scenario);
    const char *note = "";
    if (expected && as_file)
        note = strcmp(expected, st->fingerprint) == 0 ? " (as expected)"
                                                      : " (the file expects another one)";
    printf("%s: %.9f s simulated, %" G_GUINT64_FORMAT " events, %" G_GUINT64_FORMAT
           " messages, %.3f s wall, %.0f events/s, fingerprint %s%s\n",
           camas_scenario_get_name(scenario), sim, st->events, st->messages, st->wall_seconds,
           eps, st->fingerprint, note);
}

static int
run_main(int argc, char **argv)
{
    const char *file = NULL, *trace_path = NULL;
    gboolean as_json = FALSE, quiet = FALSE, states = FALSE;
    CamasScenarioRunOptions options = {0};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        gboolean missing = FALSE;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return CAMAS_EXIT_OK;
        } else if (!strcmp(arg, "--list-types")) {
            return list_types();
        } else if (!strcmp(arg, "--json")) {
            as_json = TRUE;
        } else if (!strcmp(arg, "--states")) {
            states = TRUE;
        } else if (!strcmp(arg, "--quiet") || !strcmp(arg, "-q")) {
            quiet = TRUE;
        } else if ((v = camas_cmd_option_value(argc, argv, &i, "--seed", &missing))) {
            if (!parse_u64(v, &options.seed))
                return camas_cmd_fail(CMD, "--seed: expected a non-negative integer below 2^64, "
                                           "got \"%s\"", v);
            options.override_seed = TRUE;
        } else if ((v = camas_cmd_option_value(argc, argv, &i, "--until", &missing))) {
            if (!parse_seconds(v, &options.until))
                return camas_cmd_fail(CMD, "--until: expected a positive number of seconds, got "
                                           "\"%s\"", v);
        } else if ((v = camas_cmd_option_value(argc, argv, &i, "--max-events", &missing))) {
            if (!parse_u64(v, &options.max_events) || options.max_events == 0)
                return camas_cmd_fail(CMD, "--max-events: expected a positive integer below "
                                           "2^64, got \"%s\"", v);
        } else if ((v = camas_cmd_option_value(argc, argv, &i, "--trace", &missing))) {
            trace_path = v;
        } else if (missing) {
            return camas_cmd_fail(CMD, "%s needs a value", arg);
        } else if (arg[0] == '-' && arg[1] != '\0') {
            return camas_cmd_fail(CMD, "unknown option %s (see camas run --help)", arg);
        } else if (file) {
            return camas_cmd_fail(CMD, "one scenario file at a time (got %s and %s); camas check "
                                       "runs several", file, arg);
        } else {
            file = arg;
        }
    }
    if (!file)
        return camas_cmd_fail(CMD, "no scenario file given (see camas run --help)");

    g_autoptr(GError) error = NULL;
    g_autoptr(CamasScenario) scenario = camas_scenario_load_file(file, &error);
    if (!scenario)
        return camas_cmd_fail(CMD, "%s", error->message);

    TraceFile trace = {0};
    if (trace_path) {
        if (!trace_open(&trace, trace_path))
            return camas_cmd_fail(CMD, "--trace %s: %s", trace_path, g_strerror(trace.error));
        options.trace_func = trace_write;
        options.trace_data = &trace;
    }
    Progress prog = {.start = g_get_monotonic_time()};
    if (!quiet && !as_json && isatty(STDERR_FILENO)) {
        options.progress = progress;
        options.progress_data = &prog;
    }
    g_autoptr(CamasScenarioResult) result = camas_scenario_run(scenario, &options, &error);
    if (prog.shown)
        fprintf(stderr, "\r\033[K");
    if (!result) {
        trace_discard(&trace);
        return camas_cmd_fail(CMD, "%s", error->message);
    }
    if (trace_path) {
        gboolean ok = !trace.failed && fflush(trace.file) == 0;
        if (!ok && !trace.failed)
            trace.error = errno;
        if (fclose(trace.file) != 0 && ok) {
            ok = FALSE;
            trace.error = errno;
        }
        trace.file = NULL;
        if (ok && rename(trace.tmp_path, trace_path) != 0) {
            ok = FALSE;
            trace.error = errno;
        }
        if (!ok) {
            int e = trace.error;
            trace_discard(&trace);
            return camas_cmd_fail(CMD, "--trace %s: %s", trace_path, g_strerror(e));
        }
        g_free(trace.tmp_path);
    }
    const CamasScenarioStats *st = camas_scenario_result_get_stats(result);
    gboolean as_file = st->seed == camas_scenario_get_seed(scenario) &&
                       (options.until == 0 || options.until == camas_scenario_get_until(scenario));
    print_summary(scenario, st, as_json, as_file);
    for (guint g = 0; states && g < camas_scenario_get_n_groups(scenario); g++) {
        const char *name = camas_scenario_get_group_name(scenario, g);
        for (guint a = 0; a < camas_scenario_get_group_size(scenario, g); a++) {
            g_autofree char *r = camas_value_repr(camas_scenario_result_get_state(result, name, a));
            printf("%s[%u]: %s\n", name, a, r);
        }
    }
    return CAMAS_EXIT_OK;
}

const CamasCommand camas__command_run = {
    .name = "run",
    .summary = "run a scenario file in simulated time; print its summary and trace fingerprint",
    .main = run_main,
};
