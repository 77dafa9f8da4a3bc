/* SPDX-License-Identifier: MIT */
/*
 * Benchmarks of the stackful coroutine primitive (engine/coro.c): the cost of a switch, of a
 * coroutine's whole life, and the memory an idle coroutine holds.  task.switch (the task layer
 * on top) lives in bench-task.c.
 */
#include <stdio.h>
#include <ucontext.h>
#include <unistd.h>

#include "bench.h"
#include "coro-private.h"

static CamasCoro *
coro_new_or_die(CamasCoroFunc fn, gpointer data)
{
    g_autoptr(GError) error = NULL;
    CamasCoro *coro = camas__coro_new(fn, data, 0, &error);
    if (coro == NULL)
        g_error("camas__coro_new: %s", error->message);
    return coro;
}

/* ---- coro.switch: ns per resume + yield pair ------------------------------------------- */

static void
yield_forever(gpointer data)
{
    guint64 *count = data;
    for (;;) {
        (*count)++;
        camas__coro_yield();
    }
}

static void
switch_op(gpointer data, guint64 n)
{
    CamasCoro *coro = data;
    for (guint64 i = 0; i < n; i++)
        camas__coro_resume(coro);
}

static double
bench_switch(void)
{
    guint64 count = 0;
    CamasCoro *coro = coro_new_or_die(yield_forever, &count);
    double rate = camas_bench_rate(switch_op, coro);
    camas_bench_consume(&count);
    camas__coro_free(coro); /* suspended: its stack is simply dropped */
    return 1e9 / rate;
}

/* The same ping-pong with swapcontext, what the portable fallback costs (a sigprocmask
 * system call per switch): the reason the switch is hand-written. */
typedef struct {
    ucontext_t main_ctx, coro_ctx;
    guint64 count;
} UcontextPair;

static UcontextPair *uc_pair;

static void
ucontext_body(void)
{
    for (;;) {
        uc_pair->count++;
        swapcontext(&uc_pair->coro_ctx, &uc_pair->main_ctx);
    }
}

static void
ucontext_op(gpointer data, guint64 n)
{
    for (guint64 i = 0; i < n; i++)
        swapcontext(&uc_pair->main_ctx, &uc_pair->coro_ctx);
}

static double
bench_switch_ucontext(void)
{
    gsize size = CAMAS_CORO_DEFAULT_STACK_SIZE;
    void *stack = g_malloc(size);
    uc_pair = g_new0(UcontextPair, 1);
    getcontext(&uc_pair->coro_ctx);
    uc_pair->coro_ctx.uc_stack.ss_sp = stack;
    uc_pair->coro_ctx.uc_stack.ss_size = size;
    makecontext(&uc_pair->coro_ctx, ucontext_body, 0);
    double rate = camas_bench_rate(ucontext_op, NULL);
    g_clear_pointer(&uc_pair, g_free);
    g_free(stack);
    return 1e9 / rate;
}

/* ---- coro.create: coroutines created + run to the end + freed per second ----------------- */

static void
finish_at_once(gpointer data)
{
    (*(guint64 *)data)++;
}

static void
create_op(gpointer data, guint64 n)
{
    for (guint64 i = 0; i < n; i++) {
        CamasCoro *coro = coro_new_or_die(finish_at_once, data);
        camas__coro_resume(coro);
        camas__coro_free(coro);
    }
}

static double
bench_create(void)
{
    guint64 count = 0;
    double rate = camas_bench_rate(create_op, &count);
    camas_bench_consume(&count);
    return rate;
}

/* ---- coro.idle_memory: resident bytes per started, suspended coroutine ------------------- */

#define IDLE_COROS 10000

static gsize
resident_bytes(void)
{
    /* /proc/self/statm: size resident shared text lib data dt, in pages */
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f == NULL || fscanf(f, "%lu %lu", &size, &resident) != 2)
        g_error("cannot read /proc/self/statm");
    fclose(f);
    return (gsize)resident * (gsize)sysconf(_SC_PAGESIZE);
}

static void
touch_and_idle(gpointer data)
{
    /* A little stack in use, as a task waiting in `await` has: a few frames. */
    volatile guint8 frame[1024];
    for (gsize i = 0; i < sizeof frame; i += 64)
        frame[i] = (guint8)i;
    camas__coro_yield();
    camas_bench_consume((gconstpointer)&frame[0]);
}

static double
bench_idle_memory(void)
{
    CamasCoro **coros = g_new0(CamasCoro *, IDLE_COROS);
    for (int i = 0; i < IDLE_COROS; i++) /* fault the array in before the first reading */
        coros[i] = NULL;
    gsize before = resident_bytes();
    for (int i = 0; i < IDLE_COROS; i++) {
        coros[i] = coro_new_or_die(touch_and_idle, NULL);
        camas__coro_resume(coros[i]);
    }
    gsize after = resident_bytes();
    for (int i = 0; i < IDLE_COROS; i++)
        camas__coro_free(coros[i]);
    g_free(coros);
    return after > before ? (double)(after - before) / IDLE_COROS : 0.0;
}

const CamasBench camas_bench_coro[] = {
    {"coro.switch", "ns", bench_switch},
    {"coro.switch.ucontext", "ns", bench_switch_ucontext},
    {"coro.create", "ops/s", bench_create},
    {"coro.idle_memory", "bytes", bench_idle_memory},
    {NULL},
};
