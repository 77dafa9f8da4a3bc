/* SPDX-License-Identifier: MIT */
/*
 * Stackful coroutines (see coro-private.h): guarded mmap stacks with a small reuse cache, and
 * a context switch that is hand-written assembly on x86-64 and aarch64
 * (coro-switch-<cpu>.S) and ucontext elsewhere.  Every switch is announced to AddressSanitizer
 * and every stack is registered with valgrind, so both keep working across coroutines.
 */
#include "coro-private.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "camas/error.h"
#include "coro-config.h"
#include "live-private.h"

/* ---- which switch ------------------------------------------------------------------------ */

/* Meson compiles the assembly file of the host CPU and says which in coro-config.h; the C
 * side checks the compiler's own idea of the target too, so a mismatch (x32, a cross file
 * naming the wrong CPU) falls back to ucontext instead of miscompiling.  Building with
 * -DCAMAS_CORO_FORCE_UCONTEXT tests the fallback on any machine. */
#if !defined(CAMAS_CORO_FORCE_UCONTEXT) && defined(CAMAS_CORO_ASM_X86_64) &&                 \
    defined(__x86_64__) && !defined(__ILP32__)
#define CORO_ASM 1
#define CORO_X86_64 1
#elif !defined(CAMAS_CORO_FORCE_UCONTEXT) && defined(CAMAS_CORO_ASM_AARCH64) &&              \
    defined(__aarch64__) && !defined(__ILP32__)
#define CORO_ASM 1
#define CORO_AARCH64 1
#else
#define CORO_UCONTEXT 1
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif
#ifdef CORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#ifdef CAMAS_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

/* ---- types ------------------------------------------------------------------------------- */

/* A saved execution context: where a stack was left. */
typedef struct {
#ifdef CORO_ASM
    /* The stack pointer of a suspended context; the callee-saved registers, FP control words
     * and the return address sit on that stack (layout in coro-switch-<cpu>.S). */
    void *sp;
#else
    ucontext_t uc;
#endif
} CoroContext;

/* A mapped stack: [map, map + page) is the PROT_NONE guard, the rest is usable. */
typedef struct {
    guint8 *map;      /* start of the mapping (the guard page) */
    gsize map_size;   /* guard page + usable bytes */
    unsigned vg_id;   /* valgrind's id for the registered stack (0 without valgrind.h) */
} CoroStack;

typedef enum {
    CORO_CREATED,   /* never resumed: the function has not started */
    CORO_RUNNING,   /* resumed and not yet yielded: the current coroutine or one of its resumers */
    CORO_SUSPENDED, /* yielded; waits for the next resume */
    CORO_FINISHED,  /* the function returned; the stack holds nothing of value */
} CoroState;

/* The per-thread state: only the current coroutine. */
typedef struct {
    CamasCoro *current; /* the running coroutine, NULL on the thread's own stack */
} CoroThread;

struct _CamasCoro {
    CoroContext ctx;     /* the coroutine's own context while it is not running */
    CoroContext caller;  /* the resumer's context while the coroutine runs */
    CamasCoroFunc fn;    /* the body, run once */
    gpointer data;       /* its argument (lent) */
    CamasCoro *resumer;  /* while running: the coroutine that resumed it (NULL = main stack) */
    CoroThread *thread;  /* the thread that first resumed it (its thread-local block) */
    CoroState state;     /* see CoroState */
    CoroStack stack;     /* the mapping */
    guint8 *stack_lo;    /* lowest usable address, just above the guard page */
    gsize stack_size;    /* usable bytes */
    /* AddressSanitizer bookkeeping (unused without ASan; kept so the layout does not vary). */
    void *fake_stack;           /* ASan's fake stack of this coroutine while it is switched out */
    const void *resumer_bottom; /* the resumer's stack, to announce the switch back to it */
    size_t resumer_size;
};

/* initial-exec: the switch path reads this on every resume, and the general-dynamic model of
 * PIC code would make each read a call to __tls_get_addr. */
static _Thread_local CoroThread coro_thread __attribute__((tls_model("initial-exec")));

/* ---- sanitizer hooks --------------------------------------------------------------------- */

/* ASan keeps one "current stack" per thread to tell stack from heap and to find fake stacks;
 * it must hear of every switch before it happens (start) and after it landed (finish).
 * Passing fake_stack_save = NULL to start says the stack we leave is finished for good. */
static inline void
asan_start(void **fake_stack_save, const void *bottom, size_t size)
{
#ifdef CORO_ASAN
    __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#else
    (void)fake_stack_save, (void)bottom, (void)size;
#endif
}

static inline void
asan_finish(void *fake_stack_save, const void **bottom_old, size_t *size_old)
{
#ifdef CORO_ASAN
    __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, size_old);
#else
    (void)fake_stack_save, (void)bottom_old, (void)size_old;
#endif
}

/* ---- the switch -------------------------------------------------------------------------- */

static void coro_entry(CamasCoro *coro) G_GNUC_NORETURN;

#ifdef CORO_ASM
/* In coro-switch-<cpu>.S.  camas__coro_switch saves the callee-saved registers and FP control
 * on the current stack, stores the stack pointer in *save_sp, loads load_sp and restores from
 * there.  camas__coro_trampoline is where a new context "returns" to: it calls the entry
 * function found in a callee-saved register with the argument found in another. */
extern void camas__coro_switch(void **save_sp, void *load_sp);
extern void camas__coro_trampoline(void);

static inline void
ctx_switch(CoroContext *from, CoroContext *to)
{
    camas__coro_switch(&from->sp, to->sp);
}

#ifdef CORO_X86_64
/* The frame camas__coro_switch pops, from the stack pointer upwards. */
typedef struct {
    guint32 mxcsr;
    guint16 x87_cw;
    guint16 pad;
    guint64 r15, r14, r13, r12, rbx, rbp;
    guint64 ret;       /* camas__coro_trampoline */
    guint64 after[2];  /* keeps the trampoline's call 16-byte aligned; a zero "caller" */
} CoroInitFrame;
G_STATIC_ASSERT(sizeof(CoroInitFrame) == 80);

static void
ctx_init(CoroContext *ctx, CamasCoro *coro)
{
    /* The top of the stack is page aligned; after the trampoline is "returned" to, rsp is
     * top - 16, 16-byte aligned as the SysV ABI wants at a call. */
    CoroInitFrame *f = (CoroInitFrame *)(coro->stack_lo + coro->stack_size) - 1;
    memset(f, 0, sizeof *f);
    __asm__ volatile("stmxcsr %0" : "=m"(f->mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(f->x87_cw));
    f->r13 = (guint64)(guintptr)coro_entry;
    f->r12 = (guint64)(guintptr)coro;
    f->ret = (guint64)(guintptr)camas__coro_trampoline;
    ctx->sp = f;
}
#else /* CORO_AARCH64 */
typedef struct {
    guint64 x19, x20, x21, x22, x23, x24, x25, x26, x27, x28, x29, x30;
    guint64 d8_15[8];
    guint64 fpcr;
    guint64 pad;
} CoroInitFrame;
G_STATIC_ASSERT(sizeof(CoroInitFrame) == 176);

static void
ctx_init(CoroContext *ctx, CamasCoro *coro)
{
    /* Popping the frame leaves sp at the page-aligned top of the stack. */
    CoroInitFrame *f = (CoroInitFrame *)(coro->stack_lo + coro->stack_size) - 1;
    guint64 fpcr;
    memset(f, 0, sizeof *f);
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    f->fpcr = fpcr;
    f->x19 = (guint64)(guintptr)coro_entry;
    f->x20 = (guint64)(guintptr)coro;
    f->x30 = (guint64)(guintptr)camas__coro_trampoline;
    ctx->sp = f;
}
#endif

#else /* CORO_UCONTEXT */
/* makecontext only passes int arguments; the coroutine being started is the current one. */
static void
ucontext_entry(void)
{
    coro_entry(coro_thread.current);
}

static inline void
ctx_switch(CoroContext *from, CoroContext *to)
{
    /* swapcontext also saves and restores the signal mask: a system call per switch.  That is
     * the price of portability; the assembly switches do not. */
    if (swapcontext(&from->uc, &to->uc) != 0)
        g_error("swapcontext failed: %s", g_strerror(errno));
}

static void
ctx_init(CoroContext *ctx, CamasCoro *coro)
{
    if (getcontext(&ctx->uc) != 0)
        g_error("getcontext failed: %s", g_strerror(errno));
    ctx->uc.uc_stack.ss_sp = coro->stack_lo;
    ctx->uc.uc_stack.ss_size = coro->stack_size;
    ctx->uc.uc_link = NULL; /* coro_entry never returns */
    makecontext(&ctx->uc, ucontext_entry, 0);
}
#endif

/* The first frame on every coroutine stack. */
static void
coro_entry(CamasCoro *coro)
{
    asan_finish(NULL, &coro->resumer_bottom, &coro->resumer_size);
    coro->fn(coro->data);
    coro->state = CORO_FINISHED;
    /* NULL: this stack is done, so ASan may drop its fake stack. */
    asan_start(NULL, coro->resumer_bottom, coro->resumer_size);
    ctx_switch(&coro->ctx, &coro->caller);
    g_assert_not_reached();
}

/* ---- stacks ------------------------------------------------------------------------------ */

/* Freed stacks wait here to be reused: creating a coroutine then costs no mmap/mprotect and
 * no page faults for the pages the previous owner already touched.  Small on purpose: at most
 * STACK_CACHE_MAX stacks of at most STACK_CACHE_MAX_SIZE usable bytes each, so the cache keeps
 * at most 4 MiB resident however the program behaves.  Process-wide (coroutines may be
 * created and freed on different threads), behind one uncontended mutex. */
#define STACK_CACHE_MAX 16
#define STACK_CACHE_MAX_SIZE (4 * CAMAS_CORO_DEFAULT_STACK_SIZE)

static GMutex stack_cache_lock;
static CoroStack stack_cache[STACK_CACHE_MAX];
static guint stack_cache_len;

static gsize
page_size(void)
{
    /* Threads may race to fill it in; they all store the same value. */
    static gsize size;
    gsize s = __atomic_load_n(&size, __ATOMIC_RELAXED);
    if (G_UNLIKELY(s == 0)) {
        s = (gsize)sysconf(_SC_PAGESIZE);
        __atomic_store_n(&size, s, __ATOMIC_RELAXED);
    }
    return s;
}

static gboolean
stack_map(CoroStack *stack, gsize usable, GError **error)
{
    gsize page = page_size();
    gsize map_size = usable + page;
    /* MAP_NORESERVE: an idle coroutine costs only the pages it touched, and thousands of
     * mostly unused stacks do not count against overcommit limits. */
    void *map = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) {
        int err = errno;
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED,
                    "cannot map a coroutine stack of %" G_GSIZE_FORMAT " bytes: %s", usable,
                    g_strerror(err));
        return FALSE;
    }
    /* The guard page at the low end (stacks grow down).  mprotect splits the mapping in two,
     * so each stack costs two entries of vm.max_map_count. */
    if (mprotect(map, page, PROT_NONE) != 0) {
        int err = errno;
        munmap(map, map_size);
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED,
                    "cannot protect the guard page of a coroutine stack: %s", g_strerror(err));
        return FALSE;
    }
    stack->map = map;
    stack->map_size = map_size;
#ifdef CAMAS_HAVE_VALGRIND_H
    /* Tells memcheck that moving the stack pointer into this range is a stack switch, not a
     * huge alloca. */
    stack->vg_id = VALGRIND_STACK_REGISTER(stack->map + page, stack->map + map_size);
#else
    stack->vg_id = 0;
#endif
    return TRUE;
}

static void
stack_unmap(CoroStack *stack)
{
#ifdef CAMAS_HAVE_VALGRIND_H
    VALGRIND_STACK_DEREGISTER(stack->vg_id);
#endif
    munmap(stack->map, stack->map_size);
}

static gboolean
stack_get(CoroStack *stack, gsize usable, GError **error)
{
    gsize map_size = usable + page_size();
    gboolean found = FALSE;
    g_mutex_lock(&stack_cache_lock);
    /* Newest first: its touched pages are the likeliest to still be in the CPU caches. */
    for (guint i = stack_cache_len; i-- > 0;) {
        if (stack_cache[i].map_size == map_size) {
            *stack = stack_cache[i];
            stack_cache[i] = stack_cache[--stack_cache_len];
            found = TRUE;
            break;
        }
    }
    g_mutex_unlock(&stack_cache_lock);
    return found || stack_map(stack, usable, error);
}

static void
stack_put(CoroStack *stack)
{
#ifdef CORO_ASAN
    /* A coroutine freed while suspended leaves the redzones of its live frames poisoned; the
     * next user of this memory (a new coroutine, or whatever mmap returns next) must not
     * inherit them. */
    gsize page = page_size();
    __asan_unpoison_memory_region(stack->map + page, stack->map_size - page);
#endif
    gboolean cached = FALSE;
    if (stack->map_size - page_size() <= STACK_CACHE_MAX_SIZE) {
        g_mutex_lock(&stack_cache_lock);
        if (stack_cache_len < STACK_CACHE_MAX) {
            stack_cache[stack_cache_len++] = *stack;
            cached = TRUE;
        }
        g_mutex_unlock(&stack_cache_lock);
    }
    if (!cached)
        stack_unmap(stack);
}

/* ---- the API ----------------------------------------------------------------------------- */

CamasCoro *
camas__coro_new(CamasCoroFunc fn, gpointer data, gsize stack_size, GError **error)
{
    g_return_val_if_fail(fn != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    gsize page = page_size();
    if (stack_size == 0)
        stack_size = CAMAS_CORO_DEFAULT_STACK_SIZE;
    /* Room for the guard page and the rounding, without wrapping around. */
    if (stack_size > G_MAXSIZE / 2) {
        g_set_error(error, CAMAS_ERROR, CAMAS_ERROR_FAILED,
                    "cannot map a coroutine stack of %" G_GSIZE_FORMAT " bytes: too large",
                    stack_size);
        return NULL;
    }
    stack_size = (stack_size + page - 1) / page * page;

    CoroStack stack;
    if (!stack_get(&stack, stack_size, error))
        return NULL;

    CamasCoro *coro = g_new0(CamasCoro, 1);
    coro->fn = fn;
    coro->data = data;
    coro->state = CORO_CREATED;
    coro->stack = stack;
    coro->stack_lo = stack.map + page;
    coro->stack_size = stack_size;
    ctx_init(&coro->ctx, coro);
    camas__live_inc(CAMAS__LIVE_CORO);
    return coro;
}

void
camas__coro_resume(CamasCoro *coro)
{
    g_return_if_fail(coro != NULL);
    g_return_if_fail(coro->state == CORO_CREATED || coro->state == CORO_SUSPENDED);
    CoroThread *thread = &coro_thread;
    g_return_if_fail(coro->thread == NULL || coro->thread == thread);

    coro->thread = thread;
    coro->resumer = thread->current;
    coro->state = CORO_RUNNING;
    thread->current = coro;

    void *fake_stack = NULL;
    asan_start(&fake_stack, coro->stack_lo, coro->stack_size);
    ctx_switch(&coro->caller, &coro->ctx);
    asan_finish(fake_stack, NULL, NULL);

    /* Back on the resumer's stack: the coroutine yielded (state SUSPENDED) or finished. */
    thread->current = coro->resumer;
    coro->resumer = NULL;
}

void
camas__coro_yield(void)
{
    CamasCoro *coro = coro_thread.current;
    g_return_if_fail(coro != NULL);

    coro->state = CORO_SUSPENDED;
    asan_start(&coro->fake_stack, coro->resumer_bottom, coro->resumer_size);
    ctx_switch(&coro->ctx, &coro->caller);
    /* Resumed, maybe by someone else than last time: learn the new resumer's stack. */
    asan_finish(coro->fake_stack, &coro->resumer_bottom, &coro->resumer_size);
}

CamasCoro *
camas__coro_current(void)
{
    return coro_thread.current;
}

gboolean
camas__coro_is_finished(const CamasCoro *coro)
{
    g_return_val_if_fail(coro != NULL, FALSE);
    return coro->state == CORO_FINISHED;
}

gsize
camas__coro_stack_size(const CamasCoro *coro)
{
    g_return_val_if_fail(coro != NULL, 0);
    return coro->stack_size;
}

void
camas__coro_free(CamasCoro *coro)
{
    if (coro == NULL)
        return;
    g_return_if_fail(coro->state != CORO_RUNNING);
    /* A suspended coroutine's frames are simply dropped: nothing on its stack runs again.
     * (Under ASan with detect_stack_use_after_return its fake stack is not reclaimed.) */
    stack_put(&coro->stack);
    g_free(coro);
    camas__live_dec(CAMAS__LIVE_CORO);
}
