/* SPDX-License-Identifier: MIT */
/*
 * Tests of the scheduler core (engine/loop.c): (time, seq) order and FIFO ties, zero-delay
 * cascades, O(1) cancellation in every state, stale ids, destroy notifies, the virtual-time
 * run functions, stop, tracing, heap compaction, determinism of a random workload, and the
 * GSource in a GMainContext.
 */
#include <criterion/criterion.h>

#include <camas/loop.h>
#include <camas/rng.h>
#include <camas/trace.h>

#include "leakcheck.h"

TestSuite(loop, .fini = camas_test_check_leaks);

/* A log of "name@time" entries that events append to. */
typedef struct {
    GString *text;
    CamasLoop *loop;
} Log;

typedef struct {
    Log *log;
    const char *name;
} Tag;

static void
log_event(CamasLoop *loop, gpointer data)
{
    Tag *tag = data;
    g_string_append_printf(tag->log->text, "%s@%" G_GINT64_FORMAT " ", tag->name,
                           camas_loop_now(loop));
}

Test(loop, events_run_in_time_order_and_ties_run_fifo)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    Log log = {g_string_new(NULL), loop};
    Tag tags[] = {{&log, "a"}, {&log, "b"}, {&log, "c"}, {&log, "d"}, {&log, "e"}, {&log, "f"}};
    camas_loop_call_at(loop, 20, log_event, &tags[0]);
    camas_loop_call_at(loop, 10, log_event, &tags[1]);
    camas_loop_call_at(loop, 20, log_event, &tags[2]);
    camas_loop_call_at(loop, 15, log_event, &tags[3]);
    camas_loop_call_at(loop, 10, log_event, &tags[4]);
    camas_loop_call_soon(loop, log_event, &tags[5]);
    cr_assert_eq(camas_loop_get_pending(loop), 6);
    cr_assert_eq(camas_loop_run(loop), 6);
    cr_assert_str_eq(log.text->str, "f@0 b@10 e@10 d@15 a@20 c@20 ");
    cr_assert_eq(camas_loop_now(loop), 20);
    cr_assert_eq(camas_loop_get_pending(loop), 0);
    g_string_free(log.text, TRUE);
}

typedef struct {
    int *order;
    int *n;
    int id;
} Rec;

static void
record_event(CamasLoop *loop, gpointer data)
{
    Rec *r = data;
    r->order[(*r->n)++] = r->id;
}

Test(loop, many_equal_times_stay_fifo_through_the_heap)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    /* Interleave three times so the heap reorders a lot; within a time order must hold. */
    enum { N = 3000 };
    int *order = g_new0(int, N);
    int n = 0;
    Rec *recs = g_new(Rec, N);
    for (int i = 0; i < N; i++) {
        recs[i] = (Rec){order, &n, i};
        camas_loop_call_at(loop, (gint64)((i * 7919) % 3), record_event, &recs[i]);
    }
    camas_loop_run(loop);
    cr_assert_eq(n, N);
    int last_t = -1, last_id = -1;
    for (int k = 0; k < n; k++) {
        int id = order[k];
        int t = (id * 7919) % 3;
        cr_assert(t >= last_t);
        if (t == last_t)
            cr_assert(id > last_id, "FIFO broken at time %d: %d after %d", t, id, last_id);
        last_t = t;
        last_id = id;
    }
    g_free(recs);
    g_free(order);
}

typedef struct {
    Log *log;
    int depth;
} Cascade;

static void
cascade_event(CamasLoop *loop, gpointer data)
{
    Cascade *c = data;
    g_string_append_printf(c->log->text, "c%d@%" G_GINT64_FORMAT " ", c->depth,
                           camas_loop_now(loop));
    if (c->depth < 3) {
        c->depth++;
        camas_loop_call_soon(loop, cascade_event, c);
    }
}

Test(loop, zero_delay_events_run_at_now_after_those_already_queued)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    Log log = {g_string_new(NULL), loop};
    Cascade c = {&log, 0};
    Tag x = {&log, "x"}, y = {&log, "y"}, z = {&log, "z"};
    camas_loop_call_at(loop, 5, cascade_event, &c);
    camas_loop_call_at(loop, 5, log_event, &x);
    camas_loop_call_at(loop, 5, log_event, &y);
    camas_loop_call_at(loop, 6, log_event, &z);
    camas_loop_run(loop);
    cr_assert_str_eq(log.text->str, "c0@5 x@5 y@5 c1@5 c2@5 c3@5 z@6 ");
    g_string_free(log.text, TRUE);
}

static void
count_event(CamasLoop *loop, gpointer data)
{
    (*(int *)data)++;
}

static void
count_destroy(gpointer data)
{
    (*(int *)data) += 100;
}

Test(loop, cancel_works_once_and_a_cancelled_event_never_runs)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    int ran = 0;
    CamasEventId id = camas_loop_call_at_full(loop, 10, count_event, &ran, count_destroy);
    cr_assert(camas_loop_is_pending(loop, id));
    cr_assert(camas_loop_cancel(loop, id));
    cr_assert_eq(ran, 100, "destroy notify runs at cancel, the function does not");
    cr_assert_not(camas_loop_is_pending(loop, id));
    cr_assert_not(camas_loop_cancel(loop, id), "second cancel is a no-op");
    cr_assert_eq(camas_loop_get_pending(loop), 0);
    gint64 t;
    cr_assert_not(camas_loop_next_time(loop, &t), "cancelled events are not activity");
    camas_loop_run(loop);
    cr_assert_eq(ran, 100);
    cr_assert_eq(camas_loop_now(loop), 0, "time does not jump to a cancelled event");
    cr_assert_not(camas_loop_cancel(loop, CAMAS_EVENT_ID_NONE));
}

Test(loop, an_id_that_already_ran_cannot_cancel_and_stale_ids_are_harmless)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    int a = 0, b = 0;
    CamasEventId first = camas_loop_call_at(loop, 1, count_event, &a);
    camas_loop_run(loop);
    cr_assert_eq(a, 1);
    cr_assert_not(camas_loop_cancel(loop, first));
    /* The pool hands the same slot out again: the old id must not touch the new event. */
    CamasEventId second = camas_loop_call_at(loop, 2, count_event, &b);
    cr_assert_eq(second.event, first.event, "the slot is reused (LIFO free list)");
    cr_assert_neq(second.seq, first.seq);
    cr_assert_not(camas_loop_cancel(loop, first));
    cr_assert(camas_loop_is_pending(loop, second));
    camas_loop_run(loop);
    cr_assert_eq(b, 1);
}

typedef struct {
    CamasEventId self;
    CamasEventId other;
    gboolean cancelled_self;
    gboolean cancelled_other;
} SelfCancel;

static void
self_cancel_event(CamasLoop *loop, gpointer data)
{
    SelfCancel *s = data;
    s->cancelled_self = camas_loop_cancel(loop, s->self);
    s->cancelled_other = camas_loop_cancel(loop, s->other);
}

Test(loop, a_running_event_cannot_cancel_itself_but_can_cancel_a_later_one)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    SelfCancel s = {0};
    int other = 0;
    s.self = camas_loop_call_at(loop, 1, self_cancel_event, &s);
    s.other = camas_loop_call_at(loop, 1, count_event, &other);
    camas_loop_run(loop);
    cr_assert_not(s.cancelled_self);
    cr_assert(s.cancelled_other);
    cr_assert_eq(other, 0);
}

Test(loop, destroy_notify_runs_after_the_event_and_when_the_loop_drops_it)
{
    int a = 0, b = 0;
    CamasLoop *loop = camas_loop_new();
    camas_loop_call_soon_full(loop, count_event, &a, count_destroy);
    camas_loop_call_at_full(loop, 100, count_event, &b, count_destroy);
    camas_loop_run_until(loop, 50);
    cr_assert_eq(a, 101);
    cr_assert_eq(b, 0);
    cr_assert_eq(camas_loop_now(loop), 50, "run_until leaves time at its bound");
    camas_loop_free(loop);
    cr_assert_eq(b, 100, "dropped, not run");
}

Test(loop, step_runs_one_event_and_moves_time_to_it)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    int n = 0;
    camas_loop_call_at(loop, 7, count_event, &n);
    camas_loop_call_at(loop, 3, count_event, &n);
    gint64 t = 0;
    cr_assert(camas_loop_next_time(loop, &t));
    cr_assert_eq(t, 3);
    cr_assert(camas_loop_step(loop));
    cr_assert_eq(n, 1);
    cr_assert_eq(camas_loop_now(loop), 3);
    cr_assert(camas_loop_step(loop));
    cr_assert_eq(camas_loop_now(loop), 7);
    cr_assert_not(camas_loop_step(loop));
}

Test(loop, events_in_the_past_run_first_without_moving_time_back)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    Log log = {g_string_new(NULL), loop};
    Tag a = {&log, "a"}, b = {&log, "b"};
    camas_loop_run_until(loop, 100);
    camas_loop_call_at(loop, 150, log_event, &a);
    camas_loop_call_at(loop, 50, log_event, &b);
    camas_loop_run(loop);
    cr_assert_str_eq(log.text->str, "b@100 a@150 ");
    g_string_free(log.text, TRUE);
}

Test(loop, advance_runs_everything_due_and_all_see_the_new_time)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    Log log = {g_string_new(NULL), loop};
    Tag soon = {&log, "soon"}, a = {&log, "a"}, b = {&log, "b"}, late = {&log, "late"};
    camas_loop_call_soon(loop, log_event, &soon);
    camas_loop_call_at(loop, 30, log_event, &a);
    camas_loop_call_at(loop, 20, log_event, &b);
    camas_loop_call_at(loop, 60, log_event, &late);
    GError *error = NULL;
    cr_assert(camas_loop_advance(loop, 50, &error));
    cr_assert_str_eq(log.text->str, "soon@0 b@50 a@50 ",
                     "already-due events run at the old time first");
    cr_assert_not(camas_loop_advance(loop, 50, &error), "equal time is an error");
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_INVALID));
    cr_assert(strstr(error->message, "greater"), "%s", error->message);
    g_clear_error(&error);
    cr_assert_not(camas_loop_advance(loop, 10, &error), "going back is an error");
    g_clear_error(&error);
    cr_assert_eq(camas_loop_now(loop), 50);
    cr_assert_eq(camas_loop_get_pending(loop), 1);
    g_string_free(log.text, TRUE);
}

static void
stop_event(CamasLoop *loop, gpointer data)
{
    (*(int *)data)++;
    camas_loop_stop(loop);
}

Test(loop, stop_ends_a_run_after_the_current_event)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    int n = 0;
    camas_loop_call_at(loop, 1, count_event, &n);
    camas_loop_call_at(loop, 2, stop_event, &n);
    camas_loop_call_at(loop, 3, count_event, &n);
    cr_assert_eq(camas_loop_run_until(loop, 10), 2);
    cr_assert_eq(n, 2);
    cr_assert_eq(camas_loop_now(loop), 2, "a stopped run does not jump to its bound");
    cr_assert_eq(camas_loop_run(loop), 1);
    cr_assert_eq(n, 3);
    camas_loop_stop(loop);
    camas_loop_call_at(loop, 5, count_event, &n);
    cr_assert_eq(camas_loop_run(loop), 0, "a stop outside a run stops the next run");
    cr_assert_eq(camas_loop_run(loop), 1);
}

/* The same random schedule run whole and in slices of three: the same log, the same final
 * time; between slices now is the last event's time, not the bound. */
Test(loop, run_events_runs_slices_of_exactly_what_run_until_runs)
{
    GString *logs[2];
    gint64 ends[2];
    for (int sliced = 0; sliced < 2; sliced++) {
        g_autoptr(CamasLoop) loop = camas_loop_new();
        Log log = {g_string_new(NULL), loop};
        static const char *const names[10] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
        Tag tags[10];
        CamasRng rng;
        camas_rng_init(&rng, 42);
        for (int i = 0; i < 10; i++) {
            tags[i] = (Tag){&log, names[i]};
            camas_loop_call_at(loop, (gint64)camas_rng_below(&rng, 50), log_event, &tags[i]);
        }
        camas_loop_call_at(loop, 500, log_event, &tags[0]); /* after the bound: stays pending */
        if (!sliced) {
            cr_assert_eq(camas_loop_run_until(loop, 100), 10);
        } else {
            gsize n, total = 0;
            while ((n = camas_loop_run_events(loop, 100, 3)) == 3) {
                total += n;
                cr_assert_lt(camas_loop_now(loop), 50, "a full slice stops at its last event");
            }
            cr_assert_eq(total + n, 10);
        }
        logs[sliced] = log.text;
        ends[sliced] = camas_loop_now(loop);
        cr_assert_eq(camas_loop_get_pending(loop), 1);
    }
    cr_assert_str_eq(logs[1]->str, logs[0]->str);
    cr_assert_eq(ends[0], 100);
    cr_assert_eq(ends[1], 100);
    for (int i = 0; i < 2; i++)
        g_string_free(logs[i], TRUE);
}

Test(loop, run_due_runs_only_what_is_due_now)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    int n = 0;
    camas_loop_call_soon(loop, count_event, &n);
    camas_loop_call_soon(loop, count_event, &n);
    camas_loop_call_at(loop, 1, count_event, &n);
    cr_assert_eq(camas_loop_run_due(loop), 2);
    cr_assert_eq(camas_loop_now(loop), 0);
    cr_assert_eq(camas_loop_get_pending(loop), 1);
}

Test(loop, mass_cancellation_compacts_and_keeps_order)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    enum { N = 20000 };
    CamasEventId *ids = g_new(CamasEventId, N);
    int *order = g_new0(int, N);
    int n = 0;
    Rec *recs = g_new(Rec, N);
    for (int i = 0; i < N; i++) {
        recs[i] = (Rec){order, &n, i};
        ids[i] = camas_loop_call_at(loop, (gint64)(N - i) % 100, record_event, &recs[i]);
    }
    int kept = 0;
    for (int i = 0; i < N; i++) {
        if (i % 10 == 3) {
            kept++;
            continue;
        }
        cr_assert(camas_loop_cancel(loop, ids[i]));
    }
    cr_assert_eq(camas_loop_get_pending(loop), (gsize)kept);
    cr_assert_eq(camas_loop_run(loop), (gsize)kept);
    cr_assert_eq(n, kept);
    int last_t = -1, last_id = -1;
    for (int k = 0; k < n; k++) {
        int id = order[k];
        cr_assert_eq(id % 10, 3, "cancelled event %d ran", id);
        int t = (N - id) % 100;
        cr_assert(t > last_t || (t == last_t && id > last_id), "order broken at %d", id);
        last_t = t;
        last_id = id;
    }
    g_free(recs);
    g_free(order);
    g_free(ids);
}

/* --- a reference model --------------------------------------------------------------------- */

typedef struct {
    gint64 time;
    int id;
} RefEvent;

static int
ref_cmp(const void *a, const void *b)
{
    const RefEvent *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return x->id - y->id; /* ids are in scheduling order: FIFO */
}

Test(loop, random_schedules_and_cancels_run_in_sorted_time_seq_order)
{
    for (guint64 seed = 1; seed <= 5; seed++) {
        g_autoptr(CamasLoop) loop = camas_loop_new();
        CamasRng rng;
        camas_rng_init(&rng, seed);
        enum { N = 5000 };
        int *order = g_new0(int, N);
        int n = 0;
        Rec *recs = g_new(Rec, N);
        CamasEventId *ids = g_new(CamasEventId, N);
        RefEvent *ref = g_new(RefEvent, N);
        gboolean *cancelled = g_new0(gboolean, N);
        for (int i = 0; i < N; i++) {
            recs[i] = (Rec){order, &n, i};
            ref[i] = (RefEvent){(gint64)camas_rng_below(&rng, 100), i};
            ids[i] = camas_loop_call_at(loop, ref[i].time, record_event, &recs[i]);
            /* cancel some earlier event now and then, interleaved with scheduling */
            if (camas_rng_below(&rng, 3) == 0) {
                int victim = (int)camas_rng_below(&rng, (guint64)i + 1);
                cr_assert_eq(camas_loop_cancel(loop, ids[victim]), !cancelled[victim]);
                cancelled[victim] = TRUE;
            }
        }
        int live = 0;
        for (int i = 0; i < N; i++)
            if (!cancelled[i])
                ref[live++] = ref[i];
        qsort(ref, live, sizeof *ref, ref_cmp);
        cr_assert_eq(camas_loop_get_pending(loop), (gsize)live);
        camas_loop_run(loop);
        cr_assert_eq(n, live);
        for (int k = 0; k < live; k++)
            cr_assert_eq(order[k], ref[k].id, "seed %d position %d", (int)seed, k);
        g_free(order);
        g_free(recs);
        g_free(ids);
        g_free(ref);
        g_free(cancelled);
    }
}

/* --- determinism --------------------------------------------------------------------------- */

typedef struct {
    CamasLoop *loop;
    CamasRng rng;
    GString *log;
    CamasEventId *ids;
    gsize n_ids;
    int budget;
} Workload;

static void
workload_event(CamasLoop *loop, gpointer data)
{
    Workload *w = data;
    g_string_append_printf(w->log, "%" G_GINT64_FORMAT ":%" G_GUINT64_FORMAT " ",
                           camas_loop_now(loop), camas_loop_get_current_seq(loop));
    if (w->budget-- <= 0)
        return;
    int k = (int)camas_rng_below(&w->rng, 4);
    for (int i = 0; i < k; i++) {
        gint64 delay = camas_rng_below(&w->rng, 3) == 0 ? 0 : (gint64)camas_rng_below(&w->rng, 50);
        CamasEventId id = camas_loop_call_at(loop, camas_loop_now(loop) + delay, workload_event, w);
        w->ids[w->n_ids++ % 64] = id;
    }
    if (camas_rng_below(&w->rng, 5) == 0)
        camas_loop_cancel(loop, w->ids[camas_rng_below(&w->rng, 64)]);
}

static char *
run_workload(guint64 seed)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    Workload w = {loop, {{0}}, g_string_new(NULL), g_new0(CamasEventId, 64), 0, 20000};
    camas_rng_init_stream(&w.rng, seed, "workload");
    for (int i = 0; i < 10; i++)
        camas_loop_call_at(loop, i * 3, workload_event, &w);
    camas_loop_run(loop);
    g_free(w.ids);
    return g_string_free(w.log, FALSE);
}

Test(loop, the_same_random_workload_gives_the_same_event_log)
{
    g_autofree char *a = run_workload(42);
    g_autofree char *b = run_workload(42);
    g_autofree char *c = run_workload(43);
    cr_assert_gt(strlen(a), 10000);
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, c);
    /* The log itself must respect (time, seq): times never decrease. */
    gint64 last = -1;
    for (char *p = a; *p;) {
        gint64 t = g_ascii_strtoll(p, &p, 10);
        cr_assert_geq(t, last);
        last = t;
        p = strchr(p, ' ') + 1;
    }
}

/* --- tracing ------------------------------------------------------------------------------- */

static void
collect_trace(const CamasTraceRecord *rec, gpointer data)
{
    g_string_append_printf(data, "%s t=%" G_GINT64_FORMAT " seq=%" G_GUINT64_FORMAT " m=%s; ",
                           camas_trace_kind_name(rec->kind), rec->time, rec->seq,
                           rec->method ? rec->method : "-");
}

static void
emit_log_event(CamasLoop *loop, gpointer data)
{
    CamasTraceRecord rec = {.kind = CAMAS_TRACE_LOG, .text = "hello", .msg_id = -1};
    camas_loop_trace(loop, &rec);
    if (camas_loop_is_traced(loop)) {
        cr_assert_eq(rec.time, camas_loop_now(loop));
        cr_assert_eq(rec.seq, camas_loop_get_current_seq(loop));
    }
}

static void
free_gstring(gpointer data)
{
    g_string_free(data, TRUE);
}

Test(loop, trace_fills_time_and_seq_and_costs_nothing_without_a_tracer)
{
    g_autoptr(CamasLoop) loop = camas_loop_new();
    cr_assert_not(camas_loop_is_traced(loop));
    CamasTraceRecord untouched = {.kind = CAMAS_TRACE_LOG, .time = -5};
    camas_loop_trace(loop, &untouched);
    cr_assert_eq(untouched.time, -5, "no tracer: the record is not even touched");

    GString *out = g_string_new(NULL);
    camas_loop_set_tracer(loop, collect_trace, out, NULL);
    cr_assert(camas_loop_is_traced(loop));
    camas_loop_call_at(loop, 4, emit_log_event, NULL);
    camas_loop_run(loop);
    cr_assert_str_eq(out->str, "log t=4 seq=1 m=-; ");
    camas_loop_set_tracer(loop, NULL, NULL, NULL);
    camas_loop_call_at(loop, 5, emit_log_event, NULL);
    camas_loop_run(loop);
    cr_assert_str_eq(out->str, "log t=4 seq=1 m=-; ");
    g_string_free(out, TRUE);

    /* A tracer's destroy notify runs when the loop goes. */
    camas_loop_set_tracer(loop, collect_trace, g_string_new(NULL), free_gstring);
}

Test(loop, trace_kind_names_are_stable)
{
    const char *names[] = {"send", "deliver", "reply", "failure", "timer", "log", "fault",
                           "spawn"};
    for (int k = 0; k < 8; k++)
        cr_assert_str_eq(camas_trace_kind_name((CamasTraceKind)k), names[k]);
    cr_assert_str_eq(camas_trace_kind_name((CamasTraceKind)99), "unknown");
}

/* --- GMainContext -------------------------------------------------------------------------- */

Test(loop, an_attached_virtual_loop_runs_due_events_from_its_context_only)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(CamasLoop) loop = camas_loop_new();
    camas_loop_attach(loop, ctx);
    cr_assert_eq(camas_loop_get_context(loop), ctx);
    int now_events = 0, later = 0;
    camas_loop_call_soon(loop, count_event, &now_events);
    camas_loop_call_at(loop, 10, count_event, &later);
    while (g_main_context_iteration(ctx, FALSE))
        ;
    cr_assert_eq(now_events, 1);
    cr_assert_eq(later, 0, "virtual time does not move by itself");
    cr_assert_eq(camas_loop_now(loop), 0);
    camas_loop_wakeup(loop);
}
