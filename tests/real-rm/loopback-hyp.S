// SPDX-License-Identifier: MIT
// A loopback stand-in for Gunyah's message queues, for tests/real-rm/run.sh --loopback only.
// Loaded at 0x80000000 (where hypvm.elf lives on Gunyah's qemu platform) and run at EL2 by
// qemu-system-aarch64 (virtualization=on, one cortex-a72), it enters the host kernel at EL1
// (Image at 0x41000000, x0 = the DT at 0x40F00000) and then answers the two hypercalls of
// /dev/gunyah as the hypervisor's documentation describes them (host-module.md; hyp
// docs/api/gunyah_api.md, msgqueue.hvc), with one queue of depth 8 whose TX end is capid 0
// and RX end capid 1: what the host sends, it receives back.
//   0xC600801B msgqueue_send:    x1 capid, x2 size, x3 buffer (EL1 VA), x4 flags, x5 0
//                                -> x0 error, x1 NotFull
//   0xC600801C msgqueue_receive: x1 capid, x2 buffer (EL1 VA), x3 max size
//                                -> x0 error, x1 size, x2 NotEmpty
// Errors: 60 MSGQUEUE_EMPTY, 61 MSGQUEUE_FULL; any argument the module should never pass
// (wrong capid, flags other than PUSH, non-zero reserved word, size 0 or > 240, max size
// other than 240, an unmapped buffer) answers 1000-1005, which the module turns into EIO.
// The vIRQs are the fake RM node's SPIs, raised through the GIC distributor: a send with
// PUSH raises RX "not empty" (SPI 201), a receive that takes the queue from full to
// depth - 1 raises TX "not full" (SPI 200). PSCI stays with QEMU (SMC conduit).
// Test scaffolding, not a hypervisor: caches and concurrency are QEMU TCG's (one CPU, no
// cache model), which is why EL2 may copy with its MMU off.

	.equ	DEPTH, 8
	.equ	MSG_SIZE, 240
	.equ	GICD_ISPENDR7, 0x0800021c	// INTIDs 224-255: SPI n is INTID n + 32
	.equ	TX_IRQ_BIT, (1 << 8)		// SPI 200 = INTID 232
	.equ	RX_IRQ_BIT, (1 << 9)		// SPI 201 = INTID 233

	.text
	.global	_start
_start:
	ldr	x0, =stack_top
	mov	sp, x0
	ldr	x0, =vectors
	msr	vbar_el2, x0
	mov	x0, #(1 << 31)			// HCR_EL2: RW (EL1 is AArch64), nothing trapped
	msr	hcr_el2, x0
	mov	x0, #0x33ff			// CPTR_EL2: RES1 bits only, FP/SIMD not trapped
	msr	cptr_el2, x0
	mov	x0, #3				// CNTHCTL_EL2: EL1 physical counter and timer
	msr	cnthctl_el2, x0
	msr	cntvoff_el2, xzr
	mov	x0, #0xf			// ICC_SRE_EL2: system registers, EL1 may use them
	msr	icc_sre_el2, x0
	mrs	x0, midr_el1			// what EL1 reads as MIDR/MPIDR
	msr	vpidr_el2, x0
	mrs	x0, mpidr_el1
	msr	vmpidr_el2, x0
	msr	vttbr_el2, xzr
	isb
	mov	x0, #0x3c5			// SPSR_EL2: EL1h, DAIF masked
	msr	spsr_el2, x0
	ldr	x0, =0x41000000
	msr	elr_el2, x0
	ldr	x0, =0x40f00000
	mov	x1, xzr
	mov	x2, xzr
	mov	x3, xzr
	eret

// EL1 VA in x10 -> PA in x11 (stage 1 of EL1, no stage 2); x12 scratch.
	.macro	xlate, at_op
	at	\at_op, x10
	isb
	mrs	x11, par_el1
	tbnz	x11, #0, bad_address
	and	x11, x11, #0x0000fffffffff000
	and	x12, x10, #0xfff
	orr	x11, x11, x12
	.endm

hvc_entry:
	stp	x4, x5, [sp, #-112]!
	stp	x6, x7, [sp, #16]
	stp	x8, x9, [sp, #32]
	stp	x10, x11, [sp, #48]
	stp	x12, x13, [sp, #64]
	stp	x14, x15, [sp, #80]
	mrs	x9, par_el1
	stp	x9, x30, [sp, #96]
	mrs	x9, esr_el2
	lsr	x9, x9, #26
	cmp	x9, #0x16			// EC: HVC from AArch64
	b.ne	not_supported
	ldr	x9, =0xc600801b
	cmp	x0, x9
	b.eq	msgq_send
	ldr	x9, =0xc600801c
	cmp	x0, x9
	b.eq	msgq_recv
not_supported:
	mov	x0, #-1				// SMCCC NOT_SUPPORTED
	b	done

msgq_send:
	mov	x9, #1000
	cbnz	x1, fail			// the TX end is capid 0 (reg[0])
	mov	x9, #1001
	cmp	x4, #1
	b.ne	fail				// flags: exactly PUSH
	mov	x9, #1002
	cbnz	x5, fail
	mov	x9, #1003
	cbz	x2, fail
	cmp	x2, #MSG_SIZE
	b.hi	fail
	ldr	x6, =qstate
	ldr	x7, [x6, #8]			// count
	cmp	x7, #DEPTH
	b.lo	1f
	mov	x0, #61				// MSGQUEUE_FULL
	mov	x1, #0
	b	done
1:	ldr	x8, [x6]			// head
	add	x9, x8, x7
	and	x9, x9, #(DEPTH - 1)		// tail slot
	ldr	x14, =ring
	add	x14, x14, x9, lsl #8
	str	x2, [x14], #8
	mov	x15, #0
2:	add	x10, x3, x15
	xlate	s1e1r
	ldrb	w12, [x11]
	strb	w12, [x14, x15]
	add	x15, x15, #1
	cmp	x15, x2
	b.lo	2b
	add	x7, x7, #1
	str	x7, [x6, #8]
	ldr	x9, =GICD_ISPENDR7		// PUSH: the receiver's "not empty" vIRQ
	mov	w12, #RX_IRQ_BIT
	str	w12, [x9]
	mov	x0, #0
	cmp	x7, #DEPTH
	cset	x1, lo				// NotFull
	b	done

msgq_recv:
	mov	x9, #1000
	cmp	x1, #1
	b.ne	fail				// the RX end is capid 1 (reg[1])
	mov	x9, #1005
	cmp	x3, #MSG_SIZE
	b.ne	fail
	ldr	x6, =qstate
	ldr	x7, [x6, #8]
	cbnz	x7, 1f
	mov	x0, #60				// MSGQUEUE_EMPTY
	mov	x1, #0
	mov	x2, #0
	b	done
1:	ldr	x8, [x6]
	ldr	x14, =ring
	add	x14, x14, x8, lsl #8
	ldr	x13, [x14], #8			// size
	mov	x15, #0
2:	add	x10, x2, x15
	xlate	s1e1w
	ldrb	w12, [x14, x15]
	strb	w12, [x11]
	add	x15, x15, #1
	cmp	x15, x13
	b.lo	2b
	add	x8, x8, #1
	and	x8, x8, #(DEPTH - 1)
	str	x8, [x6]
	cmp	x7, #DEPTH			// full -> depth - 1: the sender's "not full" vIRQ
	b.ne	3f
	ldr	x9, =GICD_ISPENDR7
	mov	w12, #TX_IRQ_BIT
	str	w12, [x9]
3:	sub	x7, x7, #1
	str	x7, [x6, #8]
	mov	x0, #0
	mov	x1, x13
	cmp	x7, #0
	cset	x2, ne				// NotEmpty
	b	done

bad_address:
	mov	x9, #1004
fail:
	mov	x0, x9
	mov	x1, #0
	mov	x2, #0
done:
	ldp	x9, x30, [sp, #96]
	msr	par_el1, x9
	ldp	x14, x15, [sp, #80]
	ldp	x12, x13, [sp, #64]
	ldp	x10, x11, [sp, #48]
	ldp	x8, x9, [sp, #32]
	ldp	x6, x7, [sp, #16]
	ldp	x4, x5, [sp], #112
	eret

	.ltorg

	.balign	2048
vectors:
	.rept	8				// from EL2 itself: never expected
	.balign	128
	b	.
	.endr
	.balign	128
	b	hvc_entry			// lower EL, AArch64, synchronous
	.rept	7
	.balign	128
	b	.
	.endr

	.bss
	.balign	16
qstate:	.skip	16				// head, count
ring:	.skip	DEPTH * 256			// per slot: u64 size, then the bytes
	.balign	16
	.skip	4096
stack_top:
