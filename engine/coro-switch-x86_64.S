/* SPDX-License-Identifier: MIT */
/*
 * The x86-64 (System V) context switch under engine/coro.c.  Only what the ABI says a callee
 * must preserve is saved: rbx, rbp, r12-r15, rsp, and the MXCSR and x87 control words (they
 * hold each coroutine's rounding mode and exception masks).  No system call.
 *
 * Reading MXCSR and the x87 control word (stmxcsr, fnstcw) is most of a switch's cost
 * (~15 of ~30 ns per resume+yield pair on AMD EPYC); restoring them only when they differ
 * does not help, since the reads stay.  Boost.Context pays the same.
 *
 * Frame left on a suspended stack, from the saved stack pointer upwards (coro.c builds the
 * same frame, CoroInitFrame, for a coroutine that has not started yet):
 *   +0 mxcsr (4 bytes), x87 control word (2), padding (2)
 *   +8 r15, +16 r14, +24 r13, +32 r12, +40 rbx, +48 rbp, +56 return address
 */
#if defined(__x86_64__) && !defined(__ILP32__)

#ifdef __CET__
#define ENDBR endbr64
#define NOTRACK notrack /* the target is a return site, which has no endbr64 */
#else
#define ENDBR
#define NOTRACK
#endif

    .text

/* void camas__coro_switch(void **save_sp (rdi), void *load_sp (rsi)) */
    .globl camas__coro_switch
    .hidden camas__coro_switch
    .type camas__coro_switch, @function
    .p2align 4
camas__coro_switch:
    .cfi_startproc
    ENDBR
    pushq %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    pushq %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r13, 0
    pushq %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r14, 0
    pushq %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r15, 0
    subq $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw 4(%rsp)

    /* The switch proper.  The new stack holds a frame of the same shape, so the CFI above
     * describes it too. */
    movq %rsp, (%rdi)
    movq %rsi, %rsp

    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r15
    popq %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r14
    popq %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r13
    popq %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r12
    popq %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    /* pop + jmp rather than ret: a switch never returns to the call it came from, so ret
     * would miss the CPU's return-stack predictor every time, while an indirect jump is
     * predicted from its history (ping-pong measured 13 ns faster per pair on AMD EPYC). */
    popq %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rcx
    NOTRACK jmp *%rcx
    .cfi_endproc
    .size camas__coro_switch, .-camas__coro_switch

/* Where a new coroutine's first switch "returns" to: calls r13(r12) = coro_entry(coro), which
 * never returns.  rip is marked undefined so that debuggers and unwinders stop here instead of
 * walking off the top of the coroutine stack. */
    .globl camas__coro_trampoline
    .hidden camas__coro_trampoline
    .type camas__coro_trampoline, @function
    .p2align 4
camas__coro_trampoline:
    .cfi_startproc
    .cfi_undefined %rip
    movq %r12, %rdi
    callq *%r13
    ud2
    .cfi_endproc
    .size camas__coro_trampoline, .-camas__coro_trampoline

#endif

    .section .note.GNU-stack,"",@progbits
