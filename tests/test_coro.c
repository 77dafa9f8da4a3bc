/* SPDX-License-Identifier: MIT */
/*
 * Tests of the stackful coroutine primitive (engine/coro.c): resume/yield, nesting, many
 * coroutines, freeing in every state, stack size and guard page, FP state, contract checks.
 */
#include <criterion/criterion.h>
#include <fenv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <setjmp.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "camas/error.h"
#include "coro-private.h"
#include "leakcheck.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_CORO_ASAN 1
#endif
#endif
#ifdef TEST_CORO_ASAN
#include <sanitizer/asan_interface.h>
#endif

TestSuite(coro, .fini = camas_test_check_leaks);

static CamasCoro *
coro_new_ok(CamasCoroFunc fn, gpointer data, gsize stack_size)
{
    g_autoptr(GError) error = NULL;
    CamasCoro *coro = camas__coro_new(fn, data, stack_size, &error);
    cr_assert_not_null(coro, "camas__coro_new failed: %s", error ? error->message : "?");
    cr_assert_null(error);
    return coro;
}

/* Contract violations are reported with g_return_if_fail criticals: count them instead of
 * letting them abort (G_DEBUG=fatal-criticals) or pass unnoticed. */
static int criticals;

static void
count_critical(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
    criticals++;
}

static void
expect_criticals(void)
{
    criticals = 0;
    g_log_set_handler("camas", G_LOG_LEVEL_CRITICAL, count_critical, NULL);
}

/* ---- resume and yield --------------------------------------------------------------------- */

typedef struct {
    int request;  /* written by main before each resume */
    int reply;    /* written by the coroutine before each yield */
    int rounds;   /* how many requests the coroutine answers */
    CamasCoro *self_seen;
} PingPong;

static void
ping_pong_body(gpointer data)
{
    PingPong *pp = data;
    pp->self_seen = camas__coro_current();
    for (int i = 0; i < pp->rounds; i++) {
        pp->reply = pp->request * 2 + 1;
        camas__coro_yield();
    }
    pp->reply = -1;
}

Test(coro, ping_pong_passes_values_both_ways_through_shared_memory)
{
    PingPong pp = {.rounds = 100};
    CamasCoro *coro = coro_new_ok(ping_pong_body, &pp, 0);
    for (int i = 0; i < pp.rounds; i++) {
        pp.request = i * 7;
        camas__coro_resume(coro);
        cr_assert_eq(pp.reply, i * 14 + 1, "round %d: reply %d", i, pp.reply);
        cr_assert_not(camas__coro_is_finished(coro));
    }
    camas__coro_resume(coro);
    cr_assert_eq(pp.reply, -1);
    cr_assert(camas__coro_is_finished(coro));
    cr_assert_eq(pp.self_seen, coro);
    camas__coro_free(coro);
}

static void
set_flag_body(gpointer data)
{
    *(int *)data += 1;
}

Test(coro, function_runs_only_when_first_resumed_and_finishing_returns_to_the_resumer)
{
    int runs = 0;
    CamasCoro *coro = coro_new_ok(set_flag_body, &runs, 0);
    cr_assert_eq(runs, 0, "created coroutines must not run");
    cr_assert_not(camas__coro_is_finished(coro));
    camas__coro_resume(coro);
    cr_assert_eq(runs, 1);
    cr_assert(camas__coro_is_finished(coro));
    cr_assert_null(camas__coro_current());
    camas__coro_free(coro);
}

typedef struct {
    CamasCoro *inside;
    gconstpointer frame;
} Where;

static void
where_body(gpointer data)
{
    Where *w = data;
    w->inside = camas__coro_current();
    w->frame = __builtin_frame_address(0);
}

/* Reads /proc/self/maps: the mapping that contains @addr, and the one just below it. */
typedef struct {
    guintptr lo, hi;        /* the mapping holding the address */
    char perms[5];
    guintptr below_lo, below_hi; /* the mapping ending exactly at lo, or 0, 0 */
    char below_perms[5];
} MapInfo;

static gboolean
find_mapping(gconstpointer addr, MapInfo *info)
{
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[512];
    guintptr a = (guintptr)addr;
    guintptr prev_lo = 0, prev_hi = 0;
    char prev_perms[5] = "";
    gboolean found = FALSE;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3)
            continue;
        if (a >= lo && a < hi) {
            info->lo = lo;
            info->hi = hi;
            memcpy(info->perms, perms, 5);
            if (prev_hi == lo) {
                info->below_lo = prev_lo;
                info->below_hi = prev_hi;
                memcpy(info->below_perms, prev_perms, 5);
            } else {
                info->below_lo = info->below_hi = 0;
                info->below_perms[0] = 0;
            }
            found = TRUE;
            break;
        }
        prev_lo = lo;
        prev_hi = hi;
        memcpy(prev_perms, perms, 5);
    }
    fclose(f);
    return found;
}

Test(coro, runs_on_its_own_stack_above_a_guard_page)
{
    Where w = {0};
    cr_assert_null(camas__coro_current(), "the main stack has no current coroutine");
    CamasCoro *coro = coro_new_ok(where_body, &w, 0);
    camas__coro_resume(coro);
    cr_assert_eq(w.inside, coro);
    cr_assert_null(camas__coro_current());

    MapInfo info;
    cr_assert(find_mapping(w.frame, &info), "frame %p not in any mapping", w.frame);
    cr_assert(info.perms[0] == 'r' && info.perms[1] == 'w', "stack mapping is %s", info.perms);
    cr_assert_lt((guintptr)w.frame - info.lo, camas__coro_stack_size(coro),
                 "the frame must lie within stack_size of the stack's low end");
    cr_assert_eq(info.below_hi, info.lo, "a mapping must sit right below the stack");
    cr_assert_str_eq(info.below_perms, "---p", "the page below the stack must be a guard");
    cr_assert_eq(info.below_hi - info.below_lo, (guintptr)sysconf(_SC_PAGESIZE));

    gconstpointer main_frame = __builtin_frame_address(0);
    cr_assert(!((guintptr)main_frame >= info.lo && (guintptr)main_frame < info.hi),
              "the main stack must not be the coroutine's");
    camas__coro_free(coro);
}

/* ---- nesting ------------------------------------------------------------------------------ */

typedef struct {
    CamasCoro *a, *b;
    GString *log;
} Nest;

static void
nest_b_body(gpointer data)
{
    Nest *n = data;
    cr_assert_eq(camas__coro_current(), n->b);
    g_string_append(n->log, "b1 ");
    camas__coro_yield(); /* back to A, which resumed us */
    cr_assert_eq(camas__coro_current(), n->b);
    g_string_append(n->log, "b2 ");
    camas__coro_yield(); /* back to main this time */
    g_string_append(n->log, "b3 ");
}

static void
nest_a_body(gpointer data)
{
    Nest *n = data;
    g_string_append(n->log, "a1 ");
    camas__coro_resume(n->b);
    cr_assert_eq(camas__coro_current(), n->a, "B's yield must return to A");
    g_string_append(n->log, "a2 ");
    camas__coro_yield();
    g_string_append(n->log, "a3 ");
    camas__coro_resume(n->b); /* B finishes here, inside A */
    cr_assert(camas__coro_is_finished(n->b));
    g_string_append(n->log, "a4 ");
}

Test(coro, nested_coroutine_yields_back_to_whichever_coroutine_resumed_it)
{
    Nest n = {.log = g_string_new("")};
    n.a = coro_new_ok(nest_a_body, &n, 0);
    n.b = coro_new_ok(nest_b_body, &n, 0);

    camas__coro_resume(n.a); /* a1, A resumes B: b1, B yields to A: a2, A yields to main */
    cr_assert_null(camas__coro_current());
    cr_assert_str_eq(n.log->str, "a1 b1 a2 ");
    camas__coro_resume(n.b); /* now main is B's resumer: b2, yields to main */
    cr_assert_null(camas__coro_current());
    cr_assert_str_eq(n.log->str, "a1 b1 a2 b2 ");
    camas__coro_resume(n.a); /* a3, A resumes B which finishes: b3, a4, A finishes */
    cr_assert_str_eq(n.log->str, "a1 b1 a2 b2 a3 b3 a4 ");
    cr_assert(camas__coro_is_finished(n.a));
    cr_assert(camas__coro_is_finished(n.b));

    camas__coro_free(n.a);
    camas__coro_free(n.b);
    g_string_free(n.log, TRUE);
}

/* A chain main -> c[0] -> c[1] -> ... -> c[DEPTH-1]: each resumes the next, and each yield
 * goes one level back. */
#define CHAIN_DEPTH 50

typedef struct {
    CamasCoro *c[CHAIN_DEPTH];
    int entered[CHAIN_DEPTH];
    int back[CHAIN_DEPTH];
} Chain;

static Chain *chain;

static void
chain_body(gpointer data)
{
    int i = GPOINTER_TO_INT(data);
    chain->entered[i]++;
    if (i + 1 < CHAIN_DEPTH) {
        camas__coro_resume(chain->c[i + 1]);
        cr_assert_eq(camas__coro_current(), chain->c[i]);
        chain->back[i]++;
    }
    camas__coro_yield();
    chain->entered[i]++;
}

Test(coro, a_chain_of_nested_resumes_unwinds_one_level_per_yield)
{
    chain = g_new0(Chain, 1);
    for (int i = 0; i < CHAIN_DEPTH; i++)
        chain->c[i] = coro_new_ok(chain_body, GINT_TO_POINTER(i), 0);
    camas__coro_resume(chain->c[0]);
    cr_assert_null(camas__coro_current());
    for (int i = 0; i < CHAIN_DEPTH; i++) {
        cr_assert_eq(chain->entered[i], 1);
        cr_assert_eq(chain->back[i], i + 1 < CHAIN_DEPTH ? 1 : 0);
    }
    /* Now every one is suspended with main as the next resumer: finish them in reverse. */
    for (int i = CHAIN_DEPTH; i-- > 0;) {
        camas__coro_resume(chain->c[i]);
        cr_assert(camas__coro_is_finished(chain->c[i]));
        cr_assert_eq(chain->entered[i], 2);
    }
    for (int i = 0; i < CHAIN_DEPTH; i++)
        camas__coro_free(chain->c[i]);
    g_clear_pointer(&chain, g_free);
}

/* ---- many --------------------------------------------------------------------------------- */

#define MANY 10000

typedef struct {
    guint64 id;
    guint64 sum; /* the coroutine's running total, kept on its own stack between yields */
} ManySlot;

static void
many_body(gpointer data)
{
    ManySlot *slot = data;
    guint64 local = slot->id; /* lives on this coroutine's stack across the yields */
    for (int round = 0; round < 3; round++) {
        local = local * 31 + (guint64)round;
        slot->sum = local;
        camas__coro_yield();
    }
    slot->sum = local + 1;
}

Test(coro, ten_thousand_coroutines_alive_at_once_keep_their_own_state)
{
    ManySlot *slots = g_new0(ManySlot, MANY);
    CamasCoro **coros = g_new0(CamasCoro *, MANY);
    for (int i = 0; i < MANY; i++) {
        slots[i].id = (guint64)i;
        coros[i] = coro_new_ok(many_body, &slots[i], 0);
    }
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < MANY; i++)
            camas__coro_resume(coros[i]);
    }
    for (int i = 0; i < MANY; i++) {
        guint64 expect = (guint64)i;
        for (int round = 0; round < 3; round++)
            expect = expect * 31 + (guint64)round;
        cr_assert_eq(slots[i].sum, expect + 1, "coroutine %d has %" G_GUINT64_FORMAT, i,
                     slots[i].sum);
        cr_assert(camas__coro_is_finished(coros[i]));
        camas__coro_free(coros[i]);
    }
    g_free(coros);
    g_free(slots);
}

/* ---- freeing ------------------------------------------------------------------------------ */

static void
yield_forever_body(gpointer data)
{
    int *count = data;
    for (;;) {
        (*count)++;
        camas__coro_yield();
    }
}

Test(coro, freeing_is_allowed_never_started_suspended_and_finished)
{
    int count = 0;
    CamasCoro *never = coro_new_ok(yield_forever_body, &count, 0);
    camas__coro_free(never);
    cr_assert_eq(count, 0);

    CamasCoro *suspended = coro_new_ok(yield_forever_body, &count, 0);
    camas__coro_resume(suspended);
    camas__coro_resume(suspended);
    cr_assert_eq(count, 2);
    camas__coro_free(suspended); /* its stack is discarded without running anything */
    cr_assert_eq(count, 2);

    int runs = 0;
    CamasCoro *finished = coro_new_ok(set_flag_body, &runs, 0);
    camas__coro_resume(finished);
    camas__coro_free(finished);
    cr_assert_eq(runs, 1);

    camas__coro_free(NULL);

    /* Recycled stacks work like fresh ones, whatever state their last owner left them in. */
    for (int i = 0; i < 100; i++) {
        CamasCoro *again = coro_new_ok(yield_forever_body, &count, 0);
        if (i % 3 != 0)
            camas__coro_resume(again);
        if (i % 3 == 2)
            camas__coro_resume(again);
        camas__coro_free(again);
    }
    cr_assert_eq(count, 2 + 66 + 33);
}

static void
autoptr_body(gpointer data)
{
    g_autoptr(CamasCoro) inner = coro_new_ok(yield_forever_body, data, 0);
    camas__coro_resume(inner);
    /* freed here while suspended, on this coroutine's stack */
}

Test(coro, a_coroutine_may_create_and_free_others)
{
    int count = 0;
    g_autoptr(CamasCoro) outer = coro_new_ok(autoptr_body, &count, 0);
    camas__coro_resume(outer);
    cr_assert(camas__coro_is_finished(outer));
    cr_assert_eq(count, 1);
}

/* ---- contract violations ------------------------------------------------------------------ */

static void
free_self_body(gpointer data)
{
    camas__coro_free(camas__coro_current()); /* refused: running */
    camas__coro_resume(camas__coro_current()); /* refused: running */
    *(int *)data = criticals;
}

Test(coro, misuse_is_refused_with_a_critical_and_changes_nothing)
{
    expect_criticals();
    camas__coro_yield(); /* on the main stack */
    cr_assert_eq(criticals, 1);

    int seen = 0;
    CamasCoro *coro = coro_new_ok(free_self_body, &seen, 0);
    camas__coro_resume(coro);
    cr_assert_eq(seen, 3, "freeing or resuming a running coroutine must be refused");
    cr_assert(camas__coro_is_finished(coro));
    camas__coro_resume(coro); /* finished */
    cr_assert_eq(criticals, 4);

    cr_assert_null(camas__coro_new(NULL, NULL, 0, NULL));
    cr_assert_eq(criticals, 5);
    cr_assert_not(camas__coro_is_finished(NULL));
    cr_assert_eq(camas__coro_stack_size(NULL), 0);
    cr_assert_eq(criticals, 7);
    camas__coro_free(coro);
}

/* B tries to resume A, which is running (it resumed B): refused, B just goes on. */
typedef struct {
    CamasCoro *a, *b;
    int criticals_in_b;
} Ancestor;

static void
ancestor_b_body(gpointer data)
{
    Ancestor *an = data;
    camas__coro_resume(an->a);
    an->criticals_in_b = criticals;
    cr_assert_eq(camas__coro_current(), an->b);
}

static void
ancestor_a_body(gpointer data)
{
    Ancestor *an = data;
    camas__coro_resume(an->b);
    cr_assert_eq(camas__coro_current(), an->a);
}

Test(coro, resuming_a_coroutine_that_is_up_the_resume_chain_is_refused)
{
    expect_criticals();
    Ancestor an = {0};
    an.a = coro_new_ok(ancestor_a_body, &an, 0);
    an.b = coro_new_ok(ancestor_b_body, &an, 0);
    camas__coro_resume(an.a);
    cr_assert_eq(an.criticals_in_b, 1);
    cr_assert(camas__coro_is_finished(an.a));
    cr_assert(camas__coro_is_finished(an.b));
    camas__coro_free(an.a);
    camas__coro_free(an.b);
}

Test(coro, a_stack_that_cannot_be_mapped_is_a_failed_error)
{
    g_autoptr(GError) error = NULL;
    /* 2^62 bytes is beyond any x86-64 or aarch64 address space. */
    CamasCoro *coro = camas__coro_new(set_flag_body, NULL, (gsize)1 << 62, &error);
    cr_assert_null(coro);
    cr_assert_not_null(error);
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_FAILED), "%s", error->message);
    cr_assert(strstr(error->message, "stack") != NULL, "%s", error->message);
    g_clear_error(&error);

    coro = camas__coro_new(set_flag_body, NULL, G_MAXSIZE, &error);
    cr_assert_null(coro);
    cr_assert(g_error_matches(error, CAMAS_ERROR, CAMAS_ERROR_FAILED));
    cr_assert(strstr(error->message, "too large") != NULL, "%s", error->message);

    /* Without an error location it still fails cleanly. */
    cr_assert_null(camas__coro_new(set_flag_body, NULL, (gsize)1 << 62, NULL));
}

/* ---- stack size --------------------------------------------------------------------------- */

Test(coro, stack_size_is_reported_rounded_up_to_pages)
{
    gsize page = (gsize)sysconf(_SC_PAGESIZE);
    g_autoptr(CamasCoro) dflt = coro_new_ok(set_flag_body, NULL, 0);
    cr_assert_eq(camas__coro_stack_size(dflt), CAMAS_CORO_DEFAULT_STACK_SIZE);

    g_autoptr(CamasCoro) exact = coro_new_ok(set_flag_body, NULL, 256 * 1024);
    cr_assert_eq(camas__coro_stack_size(exact), 256 * 1024);

    g_autoptr(CamasCoro) odd = coro_new_ok(set_flag_body, NULL, 3 * page + 1);
    cr_assert_eq(camas__coro_stack_size(odd), 4 * page);

    g_autoptr(CamasCoro) tiny = coro_new_ok(set_flag_body, NULL, 1);
    cr_assert_eq(camas__coro_stack_size(tiny), page);

    g_autoptr(CamasCoro) big = coro_new_ok(set_flag_body, NULL, 8 * 1024 * 1024);
    cr_assert_eq(camas__coro_stack_size(big), 8 * 1024 * 1024);
    int runs = 0;
    g_autoptr(CamasCoro) runs_big = coro_new_ok(set_flag_body, &runs, 8 * 1024 * 1024);
    camas__coro_resume(runs_big);
    cr_assert_eq(runs, 1);
}

/* Each frame holds a small array it writes and reads back, so the recursion really touches
 * the stack all the way down and cannot be folded into a loop. */
static guint64 __attribute__((noinline))
recurse(guint64 depth, gconstpointer *deepest)
{
    volatile guint8 pad[64];
    for (guint i = 0; i < sizeof pad; i++)
        pad[i] = (guint8)(depth + i);
    guint64 below = 0;
    if (depth > 0)
        below = recurse(depth - 1, deepest);
    else
        *deepest = __builtin_frame_address(0);
    guint64 sum = below;
    for (guint i = 0; i < sizeof pad; i++)
        sum += pad[i];
    return sum;
}

typedef struct {
    guint64 depth;
    guint64 result;
    gconstpointer top, deepest;
    gsize frame;
} Deep;

static void
measure_frame_body(gpointer data)
{
    Deep *d = data;
    gconstpointer a, b;
    recurse(0, &a);
    recurse(1, &b);
    d->frame = (gsize)((const guint8 *)a - (const guint8 *)b);
}

static void
deep_body(gpointer data)
{
    Deep *d = data;
    d->top = __builtin_frame_address(0);
    d->result = recurse(d->depth, &d->deepest);
    camas__coro_yield();
    d->result = recurse(d->depth, &d->deepest); /* again, after a switch */
}

static guint64
recurse_expected(guint64 depth)
{
    guint64 sum = 0;
    for (guint64 d = 0; d <= depth; d++)
        for (guint i = 0; i < 64; i++)
            sum += (guint8)(d + i);
    return sum;
}

Test(coro, deep_recursion_within_the_stack_size_works)
{
    const gsize size = 1024 * 1024;
    Deep d = {0};
    g_autoptr(CamasCoro) probe = coro_new_ok(measure_frame_body, &d, 0);
    camas__coro_resume(probe);
    cr_assert_gt(d.frame, 64, "a frame holds its 64-byte array");

    /* Use about three quarters of the stack, whatever this build's frame size is. */
    d.depth = (size * 3 / 4) / d.frame;
    g_autoptr(CamasCoro) coro = coro_new_ok(deep_body, &d, size);
    camas__coro_resume(coro);
    guint64 expect = recurse_expected(d.depth);
    cr_assert_eq(d.result, expect);
    gsize used = (gsize)((const guint8 *)d.top - (const guint8 *)d.deepest);
    cr_assert_gt(used, size / 2, "recursion used only %zu bytes", used);
    cr_assert_lt(used, size);
    d.result = 0;
    camas__coro_resume(coro);
    cr_assert(camas__coro_is_finished(coro));
    cr_assert_eq(d.result, expect);
}

/* Overflow: the child process recurses without bound inside a coroutine with a small stack.
 * A SIGSEGV handler on an alternate stack checks that the faulting address is in the guard
 * page right below the coroutine's stack, then lets the signal kill the process (the test
 * expects death by SIGSEGV; any other fault address exits with status 3 instead). */
static guintptr guard_lo, guard_hi;

static void
segv_handler(int sig, siginfo_t *info, void *uctx)
{
    guintptr addr = (guintptr)info->si_addr;
    if (addr < guard_lo || addr >= guard_hi)
        _exit(3);
    signal(SIGSEGV, SIG_DFL); /* returning re-runs the faulting access: death by SIGSEGV */
}

static guint64 __attribute__((noinline))
recurse_forever(guint64 depth)
{
    volatile guint8 pad[64];
    pad[0] = (guint8)depth;
    pad[63] = (guint8)depth;
    if (depth == G_MAXUINT64) /* never: keeps -Winfinite-recursion quiet */
        return 0;
    return recurse_forever(depth + 1) + pad[0] + pad[63];
}

static void
overflow_body(gpointer data)
{
    MapInfo info;
    cr_assert(find_mapping(__builtin_frame_address(0), &info));
    cr_assert_str_eq(info.below_perms, "---p");
    guard_lo = info.below_lo;
    guard_hi = info.below_hi;
    *(guint64 *)data = recurse_forever(0);
}

Test(coro, overflowing_the_stack_hits_the_guard_page, .signal = SIGSEGV)
{
    static guint8 altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    cr_assert_eq(sigaltstack(&ss, NULL), 0);
    struct sigaction sa = {0};
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGSEGV, &sa, NULL), 0);

    guint64 result = 0;
    CamasCoro *coro = coro_new_ok(overflow_body, &result, 16 * 1024);
    camas__coro_resume(coro);
    /* Not reached: the recursion cannot end. */
    cr_assert_fail("the recursion returned %" G_GUINT64_FORMAT, result);
}

/* ---- floating point ----------------------------------------------------------------------- */

typedef struct {
    double acc;     /* the coroutine's result */
    int rounds;
    int mode_seen;  /* rounding mode observed inside after each resume */
    gboolean mode_kept;
} FpState;

/* The SSE rounding mode (MXCSR); fegetround() reads the x87 control word on x86-64, so
 * together they check both words the switch saves.  (Not the arithmetic itself: valgrind
 * honours neither for SSE.) */
static int
sse_rounding(void)
{
#if defined(__x86_64__)
    switch (_mm_getcsr() & _MM_ROUND_MASK) {
    case _MM_ROUND_UP:
        return FE_UPWARD;
    case _MM_ROUND_DOWN:
        return FE_DOWNWARD;
    case _MM_ROUND_TOWARD_ZERO:
        return FE_TOWARDZERO;
    default:
        return FE_TONEAREST;
    }
#else
    return fegetround();
#endif
}

static void
fp_body(gpointer data)
{
    FpState *s = data;
    /* Doubles live across every yield (in callee-saved registers where the ABI has them, on
     * the stack otherwise).  They stay integers below 2^53, exact in any rounding mode. */
    double a = 1.0, b = 2.0, c = 3.0, d = 4.0;
    fesetround(FE_UPWARD);
    s->mode_kept = TRUE;
    for (int i = 0; i < s->rounds; i++) {
        a = a * 3.0 + b;
        b = b * 2.0 + c;
        c = c + d;
        d = d + 1.0;
        camas__coro_yield();
        s->mode_seen = fegetround();
        if (s->mode_seen != FE_UPWARD || sse_rounding() != FE_UPWARD)
            s->mode_kept = FALSE;
    }
    s->acc = a + b + c + d;
    fesetround(FE_DOWNWARD); /* left behind on finishing: must not leak into the resumer */
}

Test(coro, floating_point_registers_and_rounding_mode_survive_switches)
{
    FpState s = {.rounds = 20};
    g_autoptr(CamasCoro) coro = coro_new_ok(fp_body, &s, 0);
    double x = 3.0, y = 7.0;
    for (int i = 0; i <= s.rounds; i++) {
        camas__coro_resume(coro);
        /* The coroutine's rounding mode stays in the coroutine. */
        cr_assert_eq(fegetround(), FE_TONEAREST, "main's rounding mode changed");
        cr_assert_eq(sse_rounding(), FE_TONEAREST, "main's SSE rounding mode changed");
        x = x * 1.0625 + y;
        y = y / 1.5;
    }
    cr_assert(camas__coro_is_finished(coro));
    cr_assert(s.mode_kept, "the coroutine lost its rounding mode (saw %d)", s.mode_seen);

    double a = 1.0, b = 2.0, c = 3.0, d = 4.0;
    for (int i = 0; i < s.rounds; i++) {
        a = a * 3.0 + b;
        b = b * 2.0 + c;
        c = c + d;
        d = d + 1.0;
    }
    double expect = a + b + c + d;
    cr_assert_eq(s.acc, expect, "%.17g != %.17g", s.acc, expect);

    double ex = 3.0, ey = 7.0;
    for (int i = 0; i <= s.rounds; i++) {
        ex = ex * 1.0625 + ey;
        ey = ey / 1.5;
    }
    cr_assert_eq(x, ex);
    cr_assert_eq(y, ey);
}

static void
report_mode_body(gpointer data)
{
    *(int *)data = fegetround();
}

Test(coro, a_new_coroutine_starts_with_the_rounding_mode_of_its_creator)
{
    fesetround(FE_DOWNWARD);
    int seen = -1;
    g_autoptr(CamasCoro) coro = coro_new_ok(report_mode_body, &seen, 0);
    fesetround(FE_TONEAREST);
    camas__coro_resume(coro);
    cr_assert_eq(seen, FE_DOWNWARD);
    cr_assert_eq(fegetround(), FE_TONEAREST);
}

/* ---- threads ------------------------------------------------------------------------------ */

static gpointer
thread_main(gpointer data)
{
    /* Another thread has its own "current": NULL, even while main's coroutine runs. */
    *(CamasCoro **)data = camas__coro_current();
    int count = 0;
    CamasCoro *coro = coro_new_ok(yield_forever_body, &count, 0);
    camas__coro_resume(coro);
    camas__coro_resume(coro);
    camas__coro_free(coro);
    return GINT_TO_POINTER(count);
}

static void
spawn_thread_body(gpointer data)
{
    CamasCoro *seen = (CamasCoro *)&seen; /* anything but NULL */
    GThread *t = g_thread_new("coro-test", thread_main, &seen);
    *(int *)data = GPOINTER_TO_INT(g_thread_join(t));
    cr_assert_null(seen);
    cr_assert_not_null(camas__coro_current());
}

Test(coro, the_current_coroutine_is_per_thread)
{
    int count = 0;
    g_autoptr(CamasCoro) coro = coro_new_ok(spawn_thread_body, &count, 0);
    camas__coro_resume(coro);
    cr_assert_eq(count, 2);
}

static gpointer
resume_elsewhere(gpointer data)
{
    camas__coro_resume(data); /* bound to the main thread: refused */
    return NULL;
}

Test(coro, a_coroutine_stays_on_the_thread_that_first_resumed_it)
{
    expect_criticals();
    int count = 0;
    g_autoptr(CamasCoro) coro = coro_new_ok(yield_forever_body, &count, 0);
    camas__coro_resume(coro);
    g_thread_join(g_thread_new("coro-test", resume_elsewhere, coro));
    cr_assert_eq(criticals, 1);
    cr_assert_eq(count, 1, "the other thread must not have run it");
    camas__coro_resume(coro); /* still fine here */
    cr_assert_eq(count, 2);
}

/* ---- longjmp and AddressSanitizer -------------------------------------------------------- */

/* longjmp inside one coroutine: ASan's longjmp interceptor unpoisons the frames it skips,
 * which it can only do when it knows the coroutine's stack bounds (the switch annotations);
 * without them it prints "ignoring requested __asan_handle_no_return" and leaves stale
 * redzones behind, the source of false stack-buffer-overflow reports later. */
typedef struct {
    jmp_buf back;
    guintptr skipped; /* the address of an array in the deepest skipped frame */
    int landed;
    gboolean stale_redzones;
} LongJump;

static void __attribute__((noinline))
jump_from_deep(LongJump *lj, int depth)
{
    volatile char buf[128]; /* address-taken: ASan surrounds it with redzones */
    buf[0] = (char)depth;
    if (depth == 0) {
        lj->skipped = (guintptr)buf;
#ifdef TEST_CORO_ASAN
        /* With detect_stack_use_after_return the array lives in a fake frame (heap) that is
         * meant to stay poisoned; check the real stack frame it stands for instead. */
        void *real = __asan_addr_is_in_fake_stack(__asan_get_current_fake_stack(), (void *)buf,
                                                  NULL, NULL);
        if (real != NULL)
            lj->skipped = (guintptr)real;
#endif
        if (lj->landed == 0) /* always; a path that returns keeps -Winfinite-recursion quiet */
            longjmp(lj->back, 1);
        return;
    }
    jump_from_deep(lj, depth - 1);
    buf[1] = buf[0];
}

static void
longjmp_body(gpointer data)
{
    LongJump *lj = data;
    if (setjmp(lj->back) == 0) {
        jump_from_deep(lj, 8);
        return; /* not reached */
    }
    lj->landed++;
    camas__coro_yield();
    lj->landed++;
#ifdef TEST_CORO_ASAN
    /* the array plus its left and right redzones */
    lj->stale_redzones = __asan_region_is_poisoned((void *)(lj->skipped - 32), 128 + 64) != NULL;
#endif
}

Test(coro, longjmp_inside_a_coroutine_lands_and_leaves_no_stale_redzones)
{
    LongJump lj = {0};
    g_autoptr(CamasCoro) coro = coro_new_ok(longjmp_body, &lj, 0);
    camas__coro_resume(coro);
    cr_assert_eq(lj.landed, 1);
    camas__coro_resume(coro);
    cr_assert_eq(lj.landed, 2);
    cr_assert(camas__coro_is_finished(coro));
    cr_assert_neq(lj.skipped, 0);
    cr_assert_not(lj.stale_redzones, "ASan did not unpoison the frames longjmp skipped");
}

#ifdef TEST_CORO_ASAN
/* A real overflow of a buffer on a coroutine stack is still caught, and described as a stack
 * buffer of the right frame (ASan can only name the frame when it knows the stack). */
static void
asan_report(const char *report)
{
    /* The frame's variable table ('buf') is compiled in; the function name needs the
     * symbolizer, which can fail under load, so either proves ASan knew the frame. */
    gboolean right = strstr(report, "stack-buffer-overflow") != NULL &&
                     (strstr(report, "overflow_victim") != NULL || strstr(report, "'buf'"));
    _exit(right ? 42 : 43);
}

static volatile int overflow_index = 16;

static char __attribute__((noinline))
overflow_victim(void)
{
    volatile char buf[16];
    buf[overflow_index] = 1;
    return buf[0];
}

static void
asan_overflow_body(gpointer data)
{
    overflow_victim();
}

Test(coro, asan_catches_a_real_stack_buffer_overflow_in_a_coroutine, .exit_code = 42)
{
    __asan_set_error_report_callback(asan_report);
    int devnull = open("/dev/null", O_WRONLY);
    cr_assert_geq(devnull, 0);
    dup2(devnull, 2); /* the report goes to the callback; keep the test log readable */
    CamasCoro *coro = coro_new_ok(asan_overflow_body, NULL, 0);
    camas__coro_resume(coro);
    camas__coro_free(coro);
    _exit(0);
}
#endif
