#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Raw-byte harness for the gunyah-rm-sim integration tests. It spawns the real simulator
 * binary (build/bin/gunyah-rm-sim) through sim-client, and speaks to it with packets built
 * byte by byte here from rm-protocol.md (never with protocol/'s encoder): byte 0 = 0x21,
 * byte 1 = (num_fragments << 2) | type, LE u16 seq, LE u32 msg_id, then <= 232 payload bytes.
 * Replies are reassembled here too, checking every continuation header. Notifications that
 * arrive while waiting for a reply are queued for t_expect_notif().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim-client.h"

struct json_object;

#define T_MAX_MSG 16384
#define SIM_MAX_TEST_CPUS 16

typedef struct TMsg {
        uint8_t type;
        uint8_t frags;
        uint16_t seq;
        uint32_t msg_id;
        size_t len;
        uint8_t p[T_MAX_MSG];
} TMsg;

typedef struct T {
        char dir[128];
        SimClient *sim;
        int fd;
        uint16_t seq;
        size_t n_notifs;
        TMsg *notifs; /* queue of 512 */
} T;

typedef struct TOpts {
        const char *profile;
        bool acl_off;
        int pace_ms; /* 0: default test pace (2 ms) */
} TOpts;

/* Spawn a simulator in a fresh temp dir and connect to its RM socket. */
void t_start(T *t, const TOpts *o);
/* Stop the simulator, assert it exited with status 0 (ASan reports make it non-zero),
 * remove the temp dir. */
void t_stop(T *t);
/* Reconnect the RM socket (closing the current one). */
void t_reconnect(T *t);

/* ---- a tiny byte writer (LE), used to build payloads by hand ---- */
typedef struct W {
        uint8_t b[T_MAX_MSG];
        size_t n;
} W;
void w_u8(W *w, uint8_t v);
void w_u16(W *w, uint16_t v);
void w_u32(W *w, uint32_t v);
void w_u64(W *w, uint64_t v);

/* ---- raw packets ---- */
void t_send_raw(T *t, const void *pkt, size_t len);
/* Receive one packet; returns its length or -1 after timeout_ms. */
int t_recv_raw(T *t, uint8_t *buf, int timeout_ms);
/* Assert that nothing arrives within ms. */
void t_silence(T *t, int ms);
/* Send a whole message, split into 232-byte fragments (type on the first, 0 after). */
void t_send_msg(T *t, uint8_t type, uint16_t seq, uint32_t msg_id, const void *p, size_t len);
/* Receive one whole message, asserting the framing of each continuation. */
bool t_recv_msg(T *t, TMsg *m, int timeout_ms);

/* ---- calls ---- */
/* Send a request (next seq), wait for its reply, queue notifications seen before it.
 * Returns the RM error word; data (after it) is copied to out/out_len when given. */
uint32_t t_call(T *t, uint32_t msg_id, const void *p, size_t len, uint8_t *out, size_t *out_len);
uint32_t t_call_w(T *t, uint32_t msg_id, const W *w);
/* Assert the oldest queued (or next arriving) notification is msg_id with this payload. */
void t_expect_notif(T *t, uint32_t msg_id, const void *p, size_t len);
/* Pop the next notification (queued or arriving within timeout); false on timeout. */
bool t_next_notif(T *t, TMsg *m, int timeout_ms);
/* Assert no notification is queued and none arrives within ms. */
void t_no_notif(T *t, int ms);
void t_expect_vm_status(T *t, uint16_t vmid, uint8_t status, uint8_t os, uint16_t app);

/* ---- common flows, built by hand ---- */
uint16_t t_alloc(T *t);                                     /* VM_ALLOCATE(0) -> vmid, asserts OK */
uint32_t t_vmid_call(T *t, uint32_t msg_id, uint16_t vmid); /* {vmid, 0} requests */
/* LEND/SHARE/DONATE with n ACL entries and one SGL entry; returns err, *handle. */
uint32_t t_parcel(T *t, uint32_t msg_id, const uint16_t *vmids, const uint8_t *rights, size_t n,
                  uint64_t ipa, uint64_t size, uint32_t label, uint8_t flags, uint32_t *handle);
uint32_t t_config_image(T *t, uint16_t vmid, uint16_t auth, uint32_t handle, uint64_t img_off,
                        uint64_t img_size, uint64_t dtb_off, uint64_t dtb_size);

/* ---- guest images ---- */
#define T_POOL_IPA SIM_DEFAULT_POOL_IPA
/* Write a vm-config DTB (ncpus CPUs, memory base-address base) at pool offset off.
 * Returns its size. Variants break one rule of section 13 each. */
enum {
        DT_OK = 0,
        DT_NO_IMAGE_NAME,
        DT_STRAY_MEMORY,
        DT_NO_AFFINITY_MAP,
        DT_NO_BOOT_CPU,
        DT_BAD_GUID,
        DT_BAD_AFFINITY_LEN,
        DT_NO_ENABLE_METHOD,
        DT_BAD_IRQ_CELLS,
        DT_NO_CONFIG_NODE,
        DT_BAD_BASE_ALIGN,
        DT_PROXY_NO_MAP, /* valid: proxy needs no affinity-map */
        DT_CRASH_FATAL,  /* valid, with vm-attrs crash-fatal */
};
size_t t_write_dtb(T *t, uint64_t off, unsigned ncpus, uint64_t base, uint64_t entry_off,
                   int variant);
/* Write an arm64 Image header ("ARM\x64" at +0x38) at pool offset off. */
void t_write_image(T *t, uint64_t off);

/* A VM booted to RUNNING (image parcel of size 2 MiB at pool offset img_off: kernel at 0,
 * DTB at 1 MiB). Notifications up to the VM_START reply are consumed and checked. */
typedef struct TVm {
        uint16_t vmid;
        uint32_t handle;
        uint64_t base;
} TVm;
void t_boot_vm(T *t, TVm *vm, uint64_t img_off, unsigned ncpus);

/* control socket */
int t_ctl(T *t, const char *method, const char *params_json, struct json_object **reply);
int t_ctl_err(T *t, const char *method, const char *params_json, char **error);
void t_wait_vm(T *t, uint16_t vmid, const char *field, const char *value);
