#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Store: persisted state under the state directory, one JSON document per file.
 *   <dir>/definitions/<name>.json   VM definition (VmConfig)
 *   <dir>/runtime/<name>.json       runtime record (VMID, RM status, parcels, pool ranges),
 *                                   or <runtime_dir>/records/<name>.json (store_open())
 *   <dir>/quarantine/               records that failed to load, moved aside
 * Every write is atomic: a definition goes to a temp file in the same directory that is
 * renamed over it; a runtime record goes into a spare file kept open beside it that
 * RENAME_EXCHANGE swaps in (the old record becomes the next spare). A crash of the daemon at
 * any point leaves the old record or the new one, plus possibly a stale ".tmp-*" file that
 * the next load removes.
 *
 * Durability follows what a record describes. A persistent VM's definition must outlive the
 * host boot: it is fsync'd (the temp file before the rename, the directory after it), and so
 * is its deletion (on the store's syncer thread: the name is gone at once, the fsync follows
 * off the event loop). Runtime records and the definitions of transient VMs describe what the RM
 * holds in this boot only (VMIDs, memparcel handles, pool ranges, a VM that ends with the
 * boot): the page cache keeps them across a crash of the daemon, which is the only crash
 * they must survive, since a crash of the host kernel or a power cut ends the RM's state
 * with them (the host is Gunyah's primary VM: powering it off ends the machine,
 * shared/docs/host-module.md). They are written without fsync, and every runtime record
 * names the boot it was written in (the kernel's random/boot_id, "host_boot"): a record of
 * an earlier boot is quarantined at load, never trusted to name this boot's VMIDs or
 * parcels.
 *
 * Loading validates every record fully (JSON shape, types, ranges, vm_config_validate(),
 * file name == record name). A bad record is moved to quarantine/ and reported in the
 * result, never fatal. Records are bounded: STORE_FILE_MAX bytes, STORE_PARCELS_MAX parcels,
 * STORE_EXTENTS_MAX extents per list, STORE_EXTENTS_TOTAL_MAX extents in all.
 *
 * Extent lists (pool ranges, parcel SGLs) are written compactly, in order, one JSON array per
 * run: [ipa, size] for a single extent, [ipa, size, count, stride] for count >= 2 extents of
 * the same size, the k-th at ipa + k * stride (stride >= size). Loading expands them to the
 * exact list that was saved. Runtime records are version 2; version 1 records (pairs only,
 * written before runs existed) still load. Definitions are version 1.
 *
 * Error contract: negative errno. Parsers return -EBADMSG with *ret_reason set to a static
 * string naming the problem. This module does no logging.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool.h"
#include "vm-config.h"

#define STORE_FORMAT_VERSION 1  /* definitions; runtime records of version 1 still load */
#define STORE_RUNTIME_VERSION 2 /* runtime records: extent runs */
#define STORE_FILE_MAX (UINT64_C(64) << 20)
#define STORE_PARCELS_MAX 64u
/* 8 Mi extents per list: 32 GiB at 4 KiB granularity; ranges + SGLs: twice that. Bounds
 * what a small record can expand to (16 bytes per extent) when it is loaded. */
#define STORE_EXTENTS_MAX (8u << 20)
#define STORE_EXTENTS_TOTAL_MAX (2 * STORE_EXTENTS_MAX)

typedef struct Store Store;

typedef enum StoreBoot {
        STORE_BOOT_V17,     /* VM_SET_BOOT_CONTEXT and friends accepted */
        STORE_BOOT_OPEN_RM, /* kernel-entry-offset in the DT, DTB via VM_CONFIG_IMAGE */
        _STORE_BOOT_MAX,
        _STORE_BOOT_INVALID = -EINVAL,
} StoreBoot;
const char *store_boot_to_string(StoreBoot b); /* "v17", "open-rm", NULL if invalid */
StoreBoot store_boot_from_string(const char *s);

/* One memory parcel the VM holds: its RM handle, label, where it sits in guest RAM, and the
 * host extents of its SGL in order. */
typedef struct StoreParcel {
        uint32_t handle;
        uint32_t label;
        uint64_t guest_offset; /* offset in guest RAM of the parcel's first byte */
        bool accepted;         /* guest (or RM at VM_START) accepted it, as last seen */
        bool pending;          /* MEM_LEND went out, no handle yet (handle UINT32_MAX): the
                                * RM may hold it; recovery resolves it (MEM_QCOM_LOOKUP_SGL) */
        PoolExtent *sgl;       /* owned */
        size_t n_sgl;
} StoreParcel;

#define STORE_BOOT_ID_LEN 36 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
bool store_boot_id_is_valid(const char *s);

typedef struct StoreRuntime {
        char *name;        /* owned; VM name (must equal the file name) */
        char host_boot[STORE_BOOT_ID_LEN + 1]; /* boot id it was written in, "" if unknown
                                                * (records before host_boot, or no /proc) */
        uint16_t vmid;
        uint8_t rm_status; /* RM vm_status last seen */
        StoreBoot boot;
        StoreParcel *parcels; /* owned, n_parcels <= STORE_PARCELS_MAX */
        size_t n_parcels;
        PoolExtent *ranges; /* owned: pool ranges the VM holds (lent or not) */
        size_t n_ranges;
} StoreRuntime;

void store_runtime_done(StoreRuntime *r); /* frees members, NULL-safe, zeroes */

typedef struct StoreQuarantined {
        char *file;   /* owned: "definitions/<file>" or "runtime/<file>" as it was */
        char *reason; /* owned */
} StoreQuarantined;

typedef struct StoreLoad {
        VmConfig *definitions; /* owned array */
        size_t n_definitions;
        StoreRuntime *runtimes; /* owned array */
        size_t n_runtimes;
        StoreQuarantined *quarantined; /* owned array */
        size_t n_quarantined;
} StoreLoad;
void store_load_done(StoreLoad *l);

/* Open (creating dir, definitions/, runtime/, quarantine/ with mode 0700 if missing).
 * With runtime_dir, runtime records live in <runtime_dir>/records and bad ones go to
 * <runtime_dir>/quarantine (both created 0700): a directory on tmpfs (/run) that ends with the
 * host boot like the RM state they describe, so no record write touches a disk; records an
 * earlier gunyahd left in <dir>/runtime are moved there by store_load(). */
int store_open(Store **ret, const char *dir, const char *runtime_dir);
Store *store_free(Store *s); /* NULL-safe, returns NULL */
static inline void store_freep(Store **s)
{
        if (*s)
                store_free(*s);
}

/* Atomically (re)write a record. The config / record is validated first (-EINVAL). */
int store_save_definition(Store *s, const VmConfig *c);
int store_save_runtime(Store *s, const StoreRuntime *r);
/* Remove a record. -ENOENT if absent. A definition leaves its name at once; its unlink and
 * the fsync of definitions/ follow on the store's syncer thread (store.c). */
int store_delete_definition(Store *s, const char *name);
int store_delete_runtime(Store *s, const char *name);
/* Wait until every deletion handed to the syncer is unlinked and fsync'd. */
void store_sync(Store *s);
/* Load every record; removes stale temp files; quarantines bad ones. Fails only on I/O
 * errors of the directories themselves or -ENOMEM. */
int store_load(Store *s, StoreLoad *ret);

/* Pure (de)serializers, also the fuzz targets' entry points. to_json returns a malloc'd
 * NUL-terminated string. from_json validates fully; on error *ret is left zeroed. */
int store_definition_to_json(const VmConfig *c, char **ret);
int store_definition_from_json(const char *buf, size_t len, VmConfig *ret,
                               const char **ret_reason);
int store_runtime_to_json(const StoreRuntime *r, char **ret);
int store_runtime_from_json(const char *buf, size_t len, StoreRuntime *ret,
                            const char **ret_reason);
/* Full check of a runtime record (what from_json applies after parsing). */
int store_runtime_validate(const StoreRuntime *r, const char **ret_reason);

/* Atomic write of one file inside dirfd (temp, rename; durable: fsync of the temp file
 * before the rename and of the directory after it). */
int store_write_atomic(int dirfd, const char *name, const void *data, size_t len, bool durable);
/* Replace the boot id read from /proc at store_open() ("" or NULL: unknown, no record is
 * judged by its boot): tests stand for a reboot with it. -EINVAL if not a boot id. */
int store_set_boot_id(Store *s, const char *boot_id);

/* Test hook: when on, store_write_atomic() stops after writing (and fsyncing) the temp file,
 * as if the process died before rename, and returns -EINTR. */
void store_set_crash_before_rename_for_test(bool on);
/* Test hook (a full or failing disk): counting from this call, store_write_atomic() calls
 * number first .. first + count - 1 (count 0: every one from first on) fail with error
 * (negative errno) before touching the directory. error 0 turns the hook off. */
void store_set_write_fault_for_test(int error, unsigned first, unsigned count);
/* Test probe: fsync() calls the store has made so far in this process. */
unsigned store_fsyncs_for_test(void);
