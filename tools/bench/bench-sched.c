/* SPDX-License-Identifier: MIT */
/*
 * Benchmarks of the scheduler layer (engine/loop.c, clock*.c, future.c, task.c):
 *
 *  - sched.hold.N: the classic hold model (pop the earliest event, push one at now + exp(1))
 *    with N pending events, against a plain binary-heap loop doing the same work
 *    (sched.hold.N.floor).  events/s.
 *  - sched.mm1.callbacks / sched.mm1.tasks: an M/M/1 queue (arrival rate 0.9, service rate
 *    1.0, 1 000 000 customers) written against the public API, once with clock callbacks and
 *    once with two coroutine tasks (an arrival process and a server).  events/s, counting the
 *    model's events (one arrival and one departure per customer).
 *  - task.switch: ns per await/resume pair through the scheduler (a task yielding to the loop).
 *  - task.idle_memory: resident bytes per task suspended in an await.
 */
#include <stdio.h>
#include <unistd.h>

#include <camas/clock.h>
#include <camas/rng.h>
#include <camas/task.h>

#include "bench.h"

/* --- hold model ---------------------------------------------------------------------------- */

typedef struct {
    CamasLoop *loop;
    CamasRng rng;
    guint64 remaining;
} Hold;

static inline gint64
exp_ticks(CamasRng *rng)
{
    return (gint64)(camas_rng_exponential(rng, 1.0) * 1e9);
}

static void
hold_event(CamasLoop *loop, gpointer data)
{
    Hold *h = data;
    camas_loop_call_at(loop, camas_loop_now(loop) + exp_ticks(&h->rng), hold_event, h);
    if (--h->remaining == 0)
        camas_loop_stop(loop);
}

static void
hold_op(gpointer data, guint64 n)
{
    Hold *h = data;
    h->remaining = n;
    camas_loop_run(h->loop);
}

static double
bench_hold(gsize size)
{
    Hold h = {camas_loop_new()};
    camas_rng_init(&h.rng, 1);
    for (gsize i = 0; i < size; i++)
        camas_loop_call_at(h.loop, exp_ticks(&h.rng), hold_event, &h);
    /* Warm up so the heap has the hold model's steady-state shape. */
    hold_op(&h, size * 2);
    double rate = camas_bench_rate(hold_op, &h);
    camas_loop_free(h.loop);
    return rate;
}

/* The floor: a textbook binary heap of {time, seq, data} entries, same random stream. */
typedef struct {
    gint64 time;
    guint64 seq;
    gpointer data;
} FloorEntry;

typedef struct {
    FloorEntry *heap;
    gsize len;
    guint64 seq;
    gint64 now;
    CamasRng rng;
} FloorHeap;

static inline gboolean
floor_less(const FloorEntry *a, const FloorEntry *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static inline void
floor_push(FloorHeap *f, gint64 time, gpointer data)
{
    FloorEntry e = {time, f->seq++, data};
    gsize i = f->len++;
    while (i > 0) {
        gsize p = (i - 1) / 2;
        if (!floor_less(&e, &f->heap[p]))
            break;
        f->heap[i] = f->heap[p];
        i = p;
    }
    f->heap[i] = e;
}

static inline FloorEntry
floor_pop(FloorHeap *f)
{
    FloorEntry top = f->heap[0];
    FloorEntry last = f->heap[--f->len];
    gsize i = 0, n = f->len;
    for (;;) {
        gsize c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && floor_less(&f->heap[c + 1], &f->heap[c]))
            c++;
        if (!floor_less(&f->heap[c], &last))
            break;
        f->heap[i] = f->heap[c];
        i = c;
    }
    f->heap[i] = last;
    return top;
}

static void
floor_op(gpointer data, guint64 n)
{
    FloorHeap *f = data;
    for (guint64 k = 0; k < n; k++) {
        FloorEntry e = floor_pop(f);
        f->now = e.time;
        floor_push(f, f->now + exp_ticks(&f->rng), e.data);
    }
    camas_bench_consume(&f->now);
}

static double
bench_hold_floor(gsize size)
{
    FloorHeap f = {g_new(FloorEntry, size + 1), 0, 1, 0};
    camas_rng_init(&f.rng, 1);
    for (gsize i = 0; i < size; i++)
        floor_push(&f, exp_ticks(&f.rng), &f);
    floor_op(&f, size * 2);
    double rate = camas_bench_rate(floor_op, &f);
    g_free(f.heap);
    return rate;
}

static double bench_hold_10(void) { return bench_hold(10); }
static double bench_hold_1000(void) { return bench_hold(1000); }
static double bench_hold_100000(void) { return bench_hold(100000); }
static double bench_hold_10_floor(void) { return bench_hold_floor(10); }
static double bench_hold_1000_floor(void) { return bench_hold_floor(1000); }
static double bench_hold_100000_floor(void) { return bench_hold_floor(100000); }

/* --- M/M/1 with callbacks ------------------------------------------------------------------ */

#define MM1_CUSTOMERS 1000000
#define MM1_ARRIVAL_RATE 0.9
#define MM1_SERVICE_RATE 1.0

typedef struct {
    CamasClock *clock;
    CamasRng arrivals;
    CamasRng services;
    guint64 arrived;
    guint64 served;
    guint64 queued; /* waiting, not in service */
    gboolean busy;
    double total_wait; /* a statistic, so the model computes something real */
} Mm1;

static void mm1_departure(CamasLoop *loop, gpointer data);

static void
mm1_start_service(Mm1 *m)
{
    gint64 dt = 1 + (gint64)(camas_rng_exponential(&m->services, MM1_SERVICE_RATE) * 1e9);
    camas_clock_call_in_ticks(m->clock, dt, mm1_departure, m, NULL, NULL);
}

static void
mm1_arrival(CamasLoop *loop, gpointer data)
{
    Mm1 *m = data;
    if (++m->arrived < MM1_CUSTOMERS) {
        gint64 dt = 1 + (gint64)(camas_rng_exponential(&m->arrivals, MM1_ARRIVAL_RATE) * 1e9);
        camas_clock_call_in_ticks(m->clock, dt, mm1_arrival, m, NULL, NULL);
    }
    if (m->busy) {
        m->queued++;
    } else {
        m->busy = TRUE;
        mm1_start_service(m);
    }
}

static void
mm1_departure(CamasLoop *loop, gpointer data)
{
    Mm1 *m = data;
    m->served++;
    m->total_wait += (double)m->queued;
    if (m->queued > 0) {
        m->queued--;
        mm1_start_service(m);
    } else {
        m->busy = FALSE;
    }
}

static double
bench_mm1_callbacks(void)
{
    CamasLoop *loop = camas_loop_new();
    Mm1 m = {camas_clock_new_afap(loop, 0, 0)};
    camas_rng_init_stream(&m.arrivals, 1, "arrivals");
    camas_rng_init_stream(&m.services, 1, "services");
    camas_clock_call_in_ticks(m.clock, 1, mm1_arrival, &m, NULL, NULL);
    double t0 = camas_bench_now();
    camas_clock_run_until(m.clock, G_MAXINT64);
    double dt = camas_bench_now() - t0;
    if (m.served != MM1_CUSTOMERS)
        g_error("mm1: served %" G_GUINT64_FORMAT, m.served);
    camas_bench_consume(&m.total_wait);
    camas_clock_unref(m.clock);
    camas_loop_free(loop);
    return 2.0 * MM1_CUSTOMERS / dt;
}

/* --- M/M/1 with tasks ---------------------------------------------------------------------- */

typedef struct {
    CamasClock *clock;
    CamasLoop *loop;
    CamasRng arrivals;
    CamasRng services;
    guint64 queued;       /* customers waiting or in service */
    CamasFuture *wakeup;  /* the idle server's doorbell, or NULL while it works */
    guint64 served;
    double total_wait;
} Mm1Tasks;

static CamasValue *
mm1_arrival_task(CamasTask *task, gpointer data, GError **error)
{
    Mm1Tasks *m = data;
    for (guint64 i = 0; i < MM1_CUSTOMERS; i++) {
        gint64 dt = 1 + (gint64)(camas_rng_exponential(&m->arrivals, MM1_ARRIVAL_RATE) * 1e9);
        if (!camas_task_sleep_ticks(m->clock, dt, error))
            return NULL;
        m->queued++;
        if (m->wakeup)
            camas_future_set_result(m->wakeup, NULL);
    }
    return NULL;
}

static CamasValue *
mm1_server_task(CamasTask *task, gpointer data, GError **error)
{
    Mm1Tasks *m = data;
    while (m->served < MM1_CUSTOMERS) {
        if (m->queued == 0) {
            m->wakeup = camas_future_new(m->loop);
            gboolean ok = camas_task_await(m->wakeup, NULL, error);
            g_clear_pointer(&m->wakeup, camas_future_unref);
            if (!ok)
                return NULL;
        }
        gint64 dt = 1 + (gint64)(camas_rng_exponential(&m->services, MM1_SERVICE_RATE) * 1e9);
        if (!camas_task_sleep_ticks(m->clock, dt, error))
            return NULL;
        m->queued--;
        m->served++;
        m->total_wait += (double)m->queued;
    }
    return NULL;
}

static double
bench_mm1_tasks(void)
{
    Mm1Tasks m = {0};
    m.loop = camas_loop_new();
    m.clock = camas_clock_new_afap(m.loop, 0, 0);
    camas_rng_init_stream(&m.arrivals, 1, "arrivals");
    camas_rng_init_stream(&m.services, 1, "services");
    CamasTask *a = camas_task_spawn(m.loop, mm1_arrival_task, &m, NULL, NULL);
    CamasTask *s = camas_task_spawn(m.loop, mm1_server_task, &m, NULL, NULL);
    double t0 = camas_bench_now();
    camas_clock_run_until(m.clock, G_MAXINT64);
    double dt = camas_bench_now() - t0;
    if (m.served != MM1_CUSTOMERS || !camas_task_is_done(a) || !camas_task_is_done(s))
        g_error("mm1 tasks: served %" G_GUINT64_FORMAT, m.served);
    camas_bench_consume(&m.total_wait);
    camas_task_unref(a);
    camas_task_unref(s);
    camas_clock_unref(m.clock);
    camas_loop_free(m.loop);
    return 2.0 * MM1_CUSTOMERS / dt;
}

/* --- task switch and memory ---------------------------------------------------------------- */

typedef struct {
    CamasLoop *loop;
    guint64 remaining;
} Yielder;

static CamasValue *
yield_loop(CamasTask *task, gpointer data, GError **error)
{
    Yielder *y = data;
    for (;;) {
        if (y->remaining > 0)
            y->remaining--;
        else
            camas_loop_stop(y->loop);
        if (!camas_task_yield(error))
            return NULL;
    }
}

static void
switch_op(gpointer data, guint64 n)
{
    Yielder *y = data;
    y->remaining = n;
    camas_loop_run(y->loop);
}

static double
bench_task_switch(void)
{
    Yielder y = {camas_loop_new(), 0};
    CamasTask *t = camas_task_spawn(y.loop, yield_loop, &y, NULL, NULL);
    double rate = camas_bench_rate(switch_op, &y);
    camas_loop_free(y.loop); /* cancels the task, which returns */
    camas_task_unref(t);
    return 1e9 / rate;
}

static gint64
resident_bytes(void)
{
    long pages_total = 0, pages_resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2)
        g_error("cannot read /proc/self/statm");
    fclose(f);
    return (gint64)pages_resident * sysconf(_SC_PAGESIZE);
}

static CamasValue *
idle_task(CamasTask *task, gpointer data, GError **error)
{
    camas_task_await(data, NULL, error);
    return NULL;
}

static double
bench_task_idle_memory(void)
{
    enum { N = 10000 };
    CamasLoop *loop = camas_loop_new();
    CamasFuture *never = camas_future_new(loop);
    CamasTask **tasks = g_new(CamasTask *, N);
    gint64 before = resident_bytes();
    for (int i = 0; i < N; i++) {
        tasks[i] = camas_task_spawn(loop, idle_task, never, NULL, NULL);
        if (tasks[i] == NULL)
            g_error("spawn failed at %d", i);
    }
    camas_loop_run(loop);
    gint64 after = resident_bytes();
    camas_loop_free(loop);
    for (int i = 0; i < N; i++)
        camas_task_unref(tasks[i]);
    g_free(tasks);
    camas_future_unref(never);
    return (double)(after - before) / N;
}

const CamasBench camas_bench_sched[] = {
    {"sched.hold.10", "events/s", bench_hold_10},
    {"sched.hold.10.floor", "events/s", bench_hold_10_floor},
    {"sched.hold.1000", "events/s", bench_hold_1000},
    {"sched.hold.1000.floor", "events/s", bench_hold_1000_floor},
    {"sched.hold.100000", "events/s", bench_hold_100000},
    {"sched.hold.100000.floor", "events/s", bench_hold_100000_floor},
    {"sched.mm1.callbacks", "events/s", bench_mm1_callbacks},
    {"sched.mm1.tasks", "events/s", bench_mm1_tasks},
    {"task.switch", "ns", bench_task_switch},
    {"task.idle_memory", "bytes", bench_task_idle_memory},
    {NULL},
};
