/* SPDX-License-Identifier: MIT */
/*
 * Stackful coroutines: the bare context switch under coroutine tasks (the task layer turns
 * `await clock.sleep(1)` into "register a wake-up, then camas__coro_yield()").  This layer
 * knows nothing of schedulers, futures or cancellation: it only creates stacks, switches
 * between them and frees them.  Engine-internal; see docs/coroutines.md for the design.
 *
 * Threads: the "current coroutine" is thread-local, and a coroutine is bound to the thread
 * that first resumes it (code after a switch may keep using that thread's thread-local
 * storage, so it must come back on the same thread).  Nothing here locks: one thread drives
 * a coroutine.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A coroutine: a function with its own stack that can suspend itself (yield) and be
 * continued later (resume).  Single owner: created by camas__coro_new, freed by
 * camas__coro_free. */
typedef struct _CamasCoro CamasCoro;

/* The body of a coroutine.  It runs on the coroutine's stack; when it returns, the coroutine
 * is finished and control goes back to whoever resumed it last. */
typedef void (*CamasCoroFunc)(gpointer data);

/* The stack size used when camas__coro_new is given 0. */
#define CAMAS_CORO_DEFAULT_STACK_SIZE (64 * 1024)

/* A suspended coroutine that will run fn(data) on its own stack when first resumed; @data is
 * lent (the caller keeps it alive until the coroutine is finished or freed).
 *
 * @stack_size: usable stack bytes; 0 = CAMAS_CORO_DEFAULT_STACK_SIZE; rounded up to whole
 * pages.  A PROT_NONE guard page below the stack turns overflow into a clean SIGSEGV instead
 * of silent corruption (a single frame larger than a page can still jump over it).  The stack
 * is mapped MAP_NORESERVE, so memory is only spent on pages the coroutine actually touches.
 * Stacks of freed coroutines are kept in a small process-wide cache and reused (see
 * docs/coroutines.md), so creating coroutines in a steady state makes no system call.
 *
 * The new coroutine starts with the floating-point control state (rounding mode, exception
 * masks) that the calling thread has now.
 *
 * Returns: (transfer full): the coroutine, or NULL with CAMAS_ERROR_FAILED when the stack
 * cannot be mapped (size too large, address space or vm.max_map_count exhausted). */
CamasCoro *camas__coro_new(CamasCoroFunc fn, gpointer data, gsize stack_size, GError **error);

/* Runs @coro until it yields or its function returns, then returns.  Called from outside any
 * coroutine (the scheduler's stack), or from inside another coroutine (nesting: the resumer is
 * remembered and the next yield returns to it).  @coro must not be finished or running (that
 * is, neither the current coroutine nor one of its resumers), and must be resumed on the
 * thread that first resumed it; each of these is a contract violation (g_return_if_fail).
 * No system call: a switch saves and restores only callee-saved registers and FP control. */
void camas__coro_resume(CamasCoro *coro);

/* From inside a coroutine: suspends it and goes back to whoever resumed it; returns when it is
 * resumed again.  Called on the thread's own stack, it is a contract violation. */
void camas__coro_yield(void);

/* The coroutine running on this thread, or NULL on the thread's own (main) stack.
 * Thread-local. */
CamasCoro *camas__coro_current(void);

/* TRUE once the coroutine's function has returned. */
gboolean camas__coro_is_finished(const CamasCoro *coro);

/* Frees the coroutine and gives its stack back (to the cache or the system).  Allowed when it
 * is finished, never started, or suspended; a suspended coroutine's stack is discarded without
 * unwinding (nothing on it runs again: the task layer cancels and resumes it first when it
 * needs cleanup).  Freeing a running coroutine is a contract violation.  NULL is ignored. */
void camas__coro_free(CamasCoro *coro);

/* The usable stack size in bytes: the requested size rounded up to whole pages (not counting
 * the guard page). */
gsize camas__coro_stack_size(const CamasCoro *coro);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CamasCoro, camas__coro_free)

G_END_DECLS
