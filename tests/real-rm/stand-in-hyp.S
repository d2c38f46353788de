// SPDX-License-Identifier: MIT
// A stand-in for hypvm.elf, for tests/real-rm/run.sh --layout only: linked at 0x80000000
// (the hypervisor's PLATFORM_LMA_BASE on Gunyah's qemu platform), it enters the host
// kernel the way the hypervisor does on that platform (Image at HLOS_ENTRY_POINT
// 0x41000000, x0 = the DT at HLOS_DT_BASE 0x40F00000, x1-x3 = 0), but at EL2 and with no
// RM: it checks the lane's QEMU command line, memory layout, DT and initrd up to the
// host's /init, which then stops where the RM would be needed (/dev/gunyah).
	.text
	.global	_start
_start:
	ldr	x0, =0x40f00000
	mov	x1, xzr
	mov	x2, xzr
	mov	x3, xzr
	ldr	x4, =0x41000000
	br	x4
