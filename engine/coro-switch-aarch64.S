/* SPDX-License-Identifier: MIT */
/*
 * The aarch64 (AAPCS64) context switch under engine/coro.c.  Only what the ABI says a callee
 * must preserve is saved: x19-x30, sp and d8-d15, plus FPCR (each coroutine's rounding mode,
 * as MXCSR is on x86-64; written back only when it differs, since writing FPCR can be slow).
 * No system call.
 *
 * Frame left on a suspended stack, from the saved stack pointer upwards (coro.c builds the
 * same frame, CoroInitFrame, for a coroutine that has not started yet):
 *   +0 x19 x20 x21 x22 x23 x24 x25 x26 x27 x28, +80 x29 (frame pointer), +88 x30 (return)
 *   +96 d8 .. d15, +160 fpcr, +168 padding (sp stays 16-byte aligned)
 */
#if defined(__aarch64__) && !defined(__ILP32__)

    .text

/* void camas__coro_switch(void **save_sp (x0), void *load_sp (x1)) */
    .globl camas__coro_switch
    .hidden camas__coro_switch
    .type camas__coro_switch, %function
    .p2align 4
camas__coro_switch:
    .cfi_startproc
    hint #34 /* bti c: a landing pad under branch protection, a nop elsewhere */
    sub sp, sp, #176
    .cfi_adjust_cfa_offset 176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    .cfi_rel_offset x29, 80
    .cfi_rel_offset x30, 88
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]

    /* The switch proper; the new stack holds a frame of the same shape. */
    mov x10, sp
    str x10, [x0]
    mov sp, x1

    ldr x10, [sp, #160]
    cmp x9, x10
    b.eq 1f
    msr fpcr, x10
1:
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #176
    .cfi_adjust_cfa_offset -176
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size camas__coro_switch, .-camas__coro_switch

/* Where a new coroutine's first switch "returns" to: calls x19(x20) = coro_entry(coro), which
 * never returns.  The return address is marked undefined so that unwinders stop here. */
    .globl camas__coro_trampoline
    .hidden camas__coro_trampoline
    .type camas__coro_trampoline, %function
    .p2align 4
camas__coro_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov x0, x20
    mov x29, xzr
    blr x19
    brk #0
    .cfi_endproc
    .size camas__coro_trampoline, .-camas__coro_trampoline

#endif

    .section .note.GNU-stack,"",%progbits
