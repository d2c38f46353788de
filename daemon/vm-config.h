#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * VmConfig: the validated definition of one VM (what CreateVM records and the store keeps).
 * Pure data, no I/O (except vm_uuid_generate(), which reads the kernel's random source).
 *
 * Invariants after vm_config_validate() == 0: name matches VM_NAME rules, 1 <= vcpus <=
 * VM_VCPUS_MAX, memory_size is a multiple of VM_MEMORY_ALIGN within [VM_MEMORY_MIN, limit],
 * memory_base is 2 MiB aligned and base + size stays below 2^44, kernel is "fd" or a relative
 * path without ".." components, cmdline fits VM_CMDLINE_MAX.
 *
 * Error contract: negative errno; vm_config_validate() returns -EINVAL and names the first
 * offending field ("name", "vcpus", "memory_size", "memory_base", "kernel", "initrd",
 * "cmdline").
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_NAME_MAX 63u
/* 64 vCPUs: the affinity-map and /cpus stay small, and MPIDRs are encoded as 4 clusters of
 * 16 (Aff1 = i / 16, Aff0 = i % 16) which a GICv3 SGI target list can address without RSS. */
#define VM_VCPUS_MAX 64u
#define VM_MEMORY_ALIGN (UINT64_C(2) << 20)
#define VM_MEMORY_MIN (UINT64_C(16) << 20)
/* Hard ceiling independent of the pool (the RM's address limit is 2^44). */
#define VM_MEMORY_MAX (UINT64_C(1) << 40)
#define VM_CMDLINE_MAX 2048u /* bytes, without the terminating NUL */
#define VM_PATH_MAX 1024u
/* Guest IPA where the VM's RAM starts (vm-config memory base-address). 2 GiB: above the
 * GIC and device window we describe below 1 GiB, 2 MiB aligned as arm64 booting requires. */
#define VM_MEMORY_BASE_DEFAULT UINT64_C(0x80000000)
#define VM_IPA_LIMIT (UINT64_C(1) << 44)
/* The source string recorded when the kernel or initrd came in as a file descriptor. */
#define VM_SOURCE_FD "fd"

#define VM_UUID_SIZE 16
#define VM_UUID_STRING_MAX 37 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" + NUL */

typedef struct VmConfig {
        char *name;           /* owned */
        uint32_t vcpus;
        uint64_t memory_size; /* bytes */
        uint64_t memory_base; /* guest IPA of RAM, VM_MEMORY_BASE_DEFAULT unless set */
        char *kernel;         /* owned: path inside the image dir, or VM_SOURCE_FD */
        char *initrd;         /* owned, NULL = none; same form as kernel */
        char *cmdline;        /* owned, NULL = empty */
        bool demand_paging;
        bool persistent;
        uint8_t uuid[VM_UUID_SIZE]; /* per-VM identity; becomes the DT vm-guid */
} VmConfig;

/* Zero the struct and set defaults (vcpus 1, memory_base VM_MEMORY_BASE_DEFAULT). */
void vm_config_init(VmConfig *c);
/* Free the owned strings and re-init. NULL-safe. */
void vm_config_done(VmConfig *c);
/* Deep copy; dst is overwritten (not freed first). 0 or -ENOMEM. */
int vm_config_copy(VmConfig *dst, const VmConfig *src);
/* Check every field. memory_limit: the largest memory_size acceptable now (e.g. the pool
 * size), 0 = only VM_MEMORY_MAX. Returns 0, or -EINVAL with *ret_field (if non-NULL) set to
 * the static name of the first offending field. */
int vm_config_validate(const VmConfig *c, uint64_t memory_limit, const char **ret_field);

/* 1..63 chars of [A-Za-z0-9._-], first char not '.' or '-'. */
bool vm_name_is_valid(const char *name);
/* "fd", or a non-empty relative path (<= VM_PATH_MAX) with no "." or ".." component, no
 * empty component and no control characters. */
bool vm_source_is_valid(const char *source);

/* Random version-4 UUID from getrandom(). 0 or -errno. */
int vm_uuid_generate(uint8_t uuid[VM_UUID_SIZE]);
/* Lower-case "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into out (VM_UUID_STRING_MAX bytes). */
void vm_uuid_format(const uint8_t uuid[VM_UUID_SIZE], char out[VM_UUID_STRING_MAX]);
/* Parse exactly that form (either case). 0 or -EINVAL. */
int vm_uuid_parse(const char *s, uint8_t uuid[VM_UUID_SIZE]);
bool vm_uuid_is_null(const uint8_t uuid[VM_UUID_SIZE]);
