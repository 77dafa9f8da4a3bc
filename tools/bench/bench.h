/* SPDX-License-Identifier: MIT */
/*
 * The camas-bench harness.  A benchmark suite is one file tools/bench/bench-<suite>.c that
 * defines `const CamasBench camas_bench_<suite>[]` (ended by an entry with name NULL) plus its
 * name in the `bench_suites` list of tools/meson.build.
 *
 * A floor (the raw library or a plain data structure measured on the same work) is an entry
 * of its own whose name ends in ".floor", run in the same invocation as what it bounds.
 */
#pragma once

#include <glib.h>

typedef struct {
    const char *name; /* dotted, e.g. "codec.msgpack.encode" */
    const char *unit; /* "ops/s", "MB/s", "events/s", "ns", "bytes", ... */
    /* One sample: does calibrated work and returns the measured value in `unit`.  The harness
     * calls it several times and reports the median. */
    double (*run)(void);
} CamasBench;

/* Monotonic time in seconds. */
double camas_bench_now(void);

/* Calls @op(@data, n) with n growing until one call lasts at least 0.2 s; returns n / seconds
 * of that last call (operations per second). */
double camas_bench_rate(void (*op)(gpointer data, guint64 n), gpointer data);

/* Keeps the compiler from discarding a result. */
void camas_bench_consume(gconstpointer p);
