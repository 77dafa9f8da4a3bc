/* SPDX-License-Identifier: MIT */
/*
 * camas-bench: runs the benchmarks named on the command line (shell patterns allowed) and
 * prints one JSON object per benchmark: the median of --runs samples, with min and max, so
 * numbers from this shared, noisy machine can be judged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "bench-table.h"

/* With --cpu every benchmark is timed in this process's CPU time instead of wall time: on a
 * shared, loaded machine that measures the work rather than the waiting for a core.  Only
 * meaningful for single-threaded, in-process benchmarks (codecs, scheduler, LocalQueue). */
static gboolean use_cpu_clock;

double
camas_bench_now(void)
{
    if (use_cpu_clock) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    }
    return (double)g_get_monotonic_time() / 1e6;
}

static volatile gconstpointer sink;

void
camas_bench_consume(gconstpointer p)
{
    sink = p;
}

double
camas_bench_rate(void (*op)(gpointer data, guint64 n), gpointer data)
{
    guint64 n = 1;
    for (;;) {
        double t0 = camas_bench_now();
        op(data, n);
        double dt = camas_bench_now() - t0;
        if (dt >= 0.2)
            return (double)n / dt;
        /* aim a little past the target so the final call is the measured one */
        double scale = dt > 0 ? 0.25 / dt : 100.0;
        if (scale > 100.0)
            scale = 100.0;
        if (scale < 2.0)
            scale = 2.0;
        n = (guint64)((double)n * scale) + 1;
    }
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void
run_one(const CamasBench *b, int runs)
{
    double *samples = g_new(double, runs);
    for (int i = 0; i < runs; i++)
        samples[i] = b->run();
    qsort(samples, runs, sizeof *samples, cmp_double);
    double median = runs % 2 ? samples[runs / 2]
                             : (samples[runs / 2 - 1] + samples[runs / 2]) / 2.0;
    printf("{\"bench\":\"%s\",\"unit\":\"%s\",\"value\":%.6g,\"runs\":%d,\"min\":%.6g,"
           "\"max\":%.6g,\"clock\":\"%s\"}\n",
           b->name, b->unit, median, runs, samples[0], samples[runs - 1],
           use_cpu_clock ? "cpu" : "wall");
    fflush(stdout);
    g_free(samples);
}

static gboolean
matches(const char *name, int npat, char **pats)
{
    for (int i = 0; i < npat; i++)
        if (g_pattern_match_simple(pats[i], name))
            return TRUE;
    return FALSE;
}

int
main(int argc, char **argv)
{
    gboolean list = FALSE;
    int runs = 5;
    GOptionEntry entries[] = {
        {"list", 'l', 0, G_OPTION_ARG_NONE, &list, "Print the benchmark names", NULL},
        {"runs", 'r', 0, G_OPTION_ARG_INT, &runs, "Samples per benchmark (median is reported)",
         "N"},
        {"cpu", 0, 0, G_OPTION_ARG_NONE, &use_cpu_clock,
         "Time by process CPU time (single-threaded benchmarks on a loaded machine)", NULL},
        {NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("[PATTERN...] - camas benchmarks");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "camas-bench: %s\n", error->message);
        return 2;
    }
    if (runs < 1 || runs > 1000) {
        fprintf(stderr, "camas-bench: --runs must be between 1 and 1000, got %d\n", runs);
        return 2;
    }
    int npat = argc - 1;
    char **pats = argv + 1;
    char *all[] = {"*"};
    if (npat == 0) {
        npat = 1;
        pats = all;
    }
    int found = 0;
    for (gsize t = 0; t < G_N_ELEMENTS(camas__bench_table); t++) {
        for (const CamasBench *b = camas__bench_table[t]; b->name; b++) {
            if (!matches(b->name, npat, pats))
                continue;
            found++;
            if (list)
                printf("%s\n", b->name);
            else
                run_one(b, runs);
        }
    }
    if (!found) {
        fprintf(stderr, "camas-bench: no benchmark matches; try --list\n");
        return 2;
    }
    return 0;
}
