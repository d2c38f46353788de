/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * gunyah-host.h: userspace ABI of the gunyah host module (kernel/gunyah-host.c), the
 * misc device /dev/gunyah that is a transparent packet pipe to Gunyah's Resource Manager.
 *
 * What this owns: the message size, the ioctl numbers and structures of /dev/gunyah, and
 * the mmap() contract of the VM memory pool. Nothing about the RM protocol itself: every
 * byte written or read is an RM packet, handled entirely in userspace (gunyahd).
 *
 * The device contract:
 * - open(): one opener at a time; a second open() fails with EBUSY.
 * - write(): one call sends one packet of 1..GUNYAH_HOST_MSG_SIZE bytes (msgqueue_send
 *   with PUSH). A length of 0 or above GUNYAH_HOST_MSG_SIZE fails with EINVAL. A full
 *   queue gives EAGAIN under O_NONBLOCK; otherwise the call waits for "not full".
 * - read(): one call returns one whole packet (msgqueue_receive). The buffer must hold
 *   GUNYAH_HOST_MSG_SIZE bytes, else EINVAL, so no packet is ever truncated. An empty
 *   queue gives EAGAIN under O_NONBLOCK; otherwise the call waits for "not empty".
 * - poll(): EPOLLIN when a packet may be queued, EPOLLOUT when the TX queue may accept
 *   one. A spurious EPOLLIN is possible (a read then gives EAGAIN); a missed one is not.
 * - Hypervisor errors other than EMPTY/FULL come back as EIO (and are logged).
 *
 * The VM memory pool (present only when the host DT has a /reserved-memory child with
 * compatible "gunyah,vm-memory-pool", see docs/kernel-module.md):
 * - GUNYAH_HOST_GET_POOL reports its host IPA base and size; ENODEV when there is no pool.
 * - mmap() on the same fd maps it: MAP_SHARED only, offset and length page aligned and
 *   inside [0, size). Offset 0 is ipa_base. The pool is ordinary RAM that the host kernel
 *   never uses itself (no-map): whatever the daemon lends to a VM (MEM_LEND) is removed
 *   from the host's stage-2 by the hypervisor, and touching it from the host faults
 *   (SIGBUS) until it is reclaimed.
 */
#ifndef _UAPI_LINUX_GUNYAH_HOST_H
#define _UAPI_LINUX_GUNYAH_HOST_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Largest (and the required read buffer) packet on the HLOS<->RM message queues. */
#define GUNYAH_HOST_MSG_SIZE 240

/* ABI version reported by GUNYAH_HOST_GET_POOL; bumped on incompatible changes. */
#define GUNYAH_HOST_API_VERSION 1

/*
 * Ioctl type 'G' as every /dev/gunyah lineage uses, numbers from 0x80 up: disjoint from the
 * upstream series (0x00-0x0a) and Android's 'A' calls, so a VMM that speaks another
 * /dev/gunyah ABI gets ENOTTY here instead of a misread structure.
 */
#define GUNYAH_HOST_IOCTL_TYPE 'G'

/**
 * struct gunyah_host_pool - the VM memory pool (GUNYAH_HOST_GET_POOL)
 * @ipa_base:    host IPA (the host's physical address) of the first byte; page aligned
 * @size:        bytes; a multiple of the page size
 * @api_version: GUNYAH_HOST_API_VERSION of the running module
 * @page_size:   the host kernel's page size, the mmap() granule
 * @reserved:    zero
 */
struct gunyah_host_pool {
	__u64 ipa_base;
	__u64 size;
	__u32 api_version;
	__u32 page_size;
	__u64 reserved[4];
};

#define GUNYAH_HOST_GET_POOL _IOR(GUNYAH_HOST_IOCTL_TYPE, 0x80, struct gunyah_host_pool)

#endif /* _UAPI_LINUX_GUNYAH_HOST_H */
