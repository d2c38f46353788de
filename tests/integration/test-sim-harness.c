/* SPDX-License-Identifier: MIT */
/* Raw-byte harness for the gunyah-rm-sim tests; see test-sim-harness.h. */
#include <errno.h>
#include <json-c/json.h>
#include <libfdt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test-sim-harness.h"
#include "test.h"

#define REPLY_TIMEOUT_MS 10000

static const char *profile_of(const TOpts *o)
{
        return o && o->profile ? o->profile : "v17";
}

static char t_profile[16];

void t_start(T *t, const TOpts *o)
{
        SimSpawnOptions so = {.profile = profile_of(o),
                              .guest_pace_ms = o && o->pace_ms ? o->pace_ms : 2,
                              .strict_image_acl_off = o && o->acl_off,
                              .verbose = getenv("SIM_VERBOSE") != NULL};

        memset(t, 0, sizeof(*t));
        snprintf(t_profile, sizeof(t_profile), "%s", profile_of(o));
        snprintf(t->dir, sizeof(t->dir), "/tmp/gunyah-sim-test-XXXXXX");
        ASSERT_TRUE(mkdtemp(t->dir));
        ASSERT_OK(sim_client_spawn(t->dir, &so, &t->sim));
        t->fd = sim_client_connect_rm(t->sim);
        ASSERT_OK(t->fd);
        t->notifs = calloc(512, sizeof(TMsg));
        ASSERT_TRUE(t->notifs);
        ASSERT_TRUE(sim_client_pool(t->sim));
}

void t_stop(T *t)
{
        char cmd[256];

        close(t->fd);
        ASSERT_EQ(sim_client_stop(t->sim), 0);
        sim_client_free(t->sim);
        free(t->notifs);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
        ASSERT_EQ(system(cmd), 0);
}

void t_reconnect(T *t)
{
        close(t->fd);
        t->fd = sim_client_connect_rm(t->sim);
        ASSERT_OK(t->fd);
        t->n_notifs = 0;
}

void w_u8(W *w, uint8_t v)
{
        ASSERT_TRUE(w->n + 1 <= sizeof(w->b));
        w->b[w->n++] = v;
}
void w_u16(W *w, uint16_t v)
{
        w_u8(w, (uint8_t)v);
        w_u8(w, (uint8_t)(v >> 8));
}
void w_u32(W *w, uint32_t v)
{
        w_u16(w, (uint16_t)v);
        w_u16(w, (uint16_t)(v >> 16));
}
void w_u64(W *w, uint64_t v)
{
        w_u32(w, (uint32_t)v);
        w_u32(w, (uint32_t)(v >> 32));
}

void t_send_raw(T *t, const void *pkt, size_t len)
{
        ASSERT_EQ(send(t->fd, pkt, len, MSG_NOSIGNAL), (long long)len);
}

int t_recv_raw(T *t, uint8_t *buf, int timeout_ms)
{
        struct pollfd p = {.fd = t->fd, .events = POLLIN};
        ssize_t n;

        if (poll(&p, 1, timeout_ms) <= 0)
                return -1;
        n = recv(t->fd, buf, 1024, 0);
        ASSERT_TRUE(n >= 0);
        return (int)n;
}

void t_silence(T *t, int ms)
{
        uint8_t buf[1024];
        int n = t_recv_raw(t, buf, ms);

        if (n >= 0)
                TEST_FAIL_("expected silence, got a %d-byte packet (byte1 0x%02x)", n,
                           n > 1 ? buf[1] : 0);
}

void t_send_msg(T *t, uint8_t type, uint16_t seq, uint32_t msg_id, const void *p, size_t len)
{
        const uint8_t *b = p;
        size_t nf = len == 0 ? 0 : (len - 1) / 232;

        for (size_t i = 0; i <= nf; i++) {
                uint8_t pkt[240];
                size_t n = len - i * 232 > 232 ? 232 : len - i * 232;

                pkt[0] = 0x21;
                pkt[1] = (uint8_t)((nf << 2) | (i == 0 ? type : 0));
                pkt[2] = (uint8_t)seq;
                pkt[3] = (uint8_t)(seq >> 8);
                pkt[4] = (uint8_t)msg_id;
                pkt[5] = (uint8_t)(msg_id >> 8);
                pkt[6] = (uint8_t)(msg_id >> 16);
                pkt[7] = (uint8_t)(msg_id >> 24);
                if (n)
                        memcpy(pkt + 8, b + i * 232, n);
                t_send_raw(t, pkt, 8 + n);
        }
}

bool t_recv_msg(T *t, TMsg *m, int timeout_ms)
{
        uint8_t pkt[1024];
        int n = t_recv_raw(t, pkt, timeout_ms);

        if (n < 0)
                return false;
        ASSERT_TRUE(n >= 8 && n <= 240);
        ASSERT_EQ(pkt[0], 0x21);
        m->type = pkt[1] & 3;
        m->frags = pkt[1] >> 2;
        m->seq = (uint16_t)(pkt[2] | pkt[3] << 8);
        m->msg_id = (uint32_t)pkt[4] | (uint32_t)pkt[5] << 8 | (uint32_t)pkt[6] << 16 |
                    (uint32_t)pkt[7] << 24;
        ASSERT_TRUE(m->type == 2 || m->type == 3);
        m->len = (size_t)n - 8;
        memcpy(m->p, pkt + 8, m->len);
        if (m->frags > 0)
                ASSERT_EQ(n, 240); /* every packet but the last is full */
        for (unsigned i = 0; i < m->frags; i++) {
                n = t_recv_raw(t, pkt, REPLY_TIMEOUT_MS);
                ASSERT_TRUE(n >= 8);
                ASSERT_EQ(pkt[0], 0x21);
                ASSERT_EQ(pkt[1], m->frags << 2); /* continuation: type 0, same count */
                ASSERT_EQ(pkt[2] | pkt[3] << 8, m->seq);
                {
                        const uint8_t id[4] = {(uint8_t)m->msg_id, (uint8_t)(m->msg_id >> 8),
                                               (uint8_t)(m->msg_id >> 16),
                                               (uint8_t)(m->msg_id >> 24)};
                        ASSERT_MEMEQ(pkt + 4, id, 4);
                }
                if (i + 1 < m->frags)
                        ASSERT_EQ(n, 240);
                ASSERT_TRUE(m->len + (size_t)n - 8 <= T_MAX_MSG);
                memcpy(m->p + m->len, pkt + 8, (size_t)n - 8);
                m->len += (size_t)n - 8;
        }
        return true;
}

uint32_t t_call(T *t, uint32_t msg_id, const void *p, size_t len, uint8_t *out, size_t *out_len)
{
        TMsg *m = malloc(sizeof(*m));
        uint16_t seq = ++t->seq;
        uint32_t err;

        ASSERT_TRUE(m);
        t_send_msg(t, 1, seq, msg_id, p, len);
        for (;;) {
                if (!t_recv_msg(t, m, REPLY_TIMEOUT_MS))
                        TEST_FAIL_("no reply to msg_id 0x%08x seq %u", msg_id, seq);
                if (m->type == 3) {
                        ASSERT_TRUE(t->n_notifs < 512);
                        t->notifs[t->n_notifs++] = *m;
                        continue;
                }
                ASSERT_EQ(m->seq, seq);
                ASSERT_U64_EQ(m->msg_id, msg_id);
                ASSERT_TRUE(m->len >= 4);
                break;
        }
        err = (uint32_t)m->p[0] | (uint32_t)m->p[1] << 8 | (uint32_t)m->p[2] << 16 |
              (uint32_t)m->p[3] << 24;
        if (err != 0)
                ASSERT_EQ(m->len, 4); /* no data with an error */
        if (out)
                memcpy(out, m->p + 4, m->len - 4);
        if (out_len)
                *out_len = m->len - 4;
        free(m);
        return err;
}

uint32_t t_call_w(T *t, uint32_t msg_id, const W *w)
{
        return t_call(t, msg_id, w->b, w->n, NULL, NULL);
}

bool t_next_notif(T *t, TMsg *m, int timeout_ms)
{
        if (t->n_notifs > 0) {
                *m = t->notifs[0];
                memmove(t->notifs, t->notifs + 1, (t->n_notifs - 1) * sizeof(TMsg));
                t->n_notifs--;
                return true;
        }
        if (!t_recv_msg(t, m, timeout_ms))
                return false;
        ASSERT_EQ(m->type, 3);
        return true;
}

void t_expect_notif(T *t, uint32_t msg_id, const void *p, size_t len)
{
        TMsg *m = malloc(sizeof(*m));

        ASSERT_TRUE(m);
        if (!t_next_notif(t, m, REPLY_TIMEOUT_MS))
                TEST_FAIL_("no notification 0x%08x", msg_id);
        ASSERT_U64_EQ(m->msg_id, msg_id);
        ASSERT_EQ(m->type, 3);
        ASSERT_EQ(m->len, len);
        ASSERT_MEMEQ(m->p, p, len);
        free(m);
}

void t_no_notif(T *t, int ms)
{
        ASSERT_EQ(t->n_notifs, 0);
        t_silence(t, ms);
}

void t_expect_vm_status(T *t, uint16_t vmid, uint8_t status, uint8_t os, uint16_t app)
{
        uint8_t b[8] = {(uint8_t)vmid, (uint8_t)(vmid >> 8), 0, 0, status, os,
                        (uint8_t)app,  (uint8_t)(app >> 8)};
        t_expect_notif(t, 0x56100008, b, sizeof(b));
}

uint16_t t_alloc(T *t)
{
        uint8_t req[4] = {0, 0, 0, 0}, out[16];
        size_t n;

        ASSERT_EQ(t_call(t, 0x56000001, req, 4, out, &n), 0);
        ASSERT_EQ(n, 4);
        ASSERT_EQ(out[2] | out[3], 0);
        return (uint16_t)(out[0] | out[1] << 8);
}

uint32_t t_vmid_call(T *t, uint32_t msg_id, uint16_t vmid)
{
        uint8_t req[4] = {(uint8_t)vmid, (uint8_t)(vmid >> 8), 0, 0};

        return t_call(t, msg_id, req, 4, NULL, NULL);
}

uint32_t t_parcel(T *t, uint32_t msg_id, const uint16_t *vmids, const uint8_t *rights, size_t n,
                  uint64_t ipa, uint64_t size, uint32_t label, uint8_t flags, uint32_t *handle)
{
        W w = {.n = 0};
        uint8_t out[8];
        size_t olen;
        uint32_t e;

        w_u8(&w, 0); /* mem_type NORMAL */
        w_u8(&w, 0);
        w_u8(&w, flags);
        w_u8(&w, 0);
        w_u32(&w, label);
        w_u16(&w, (uint16_t)n); /* ACL header */
        w_u16(&w, 0);
        for (size_t i = 0; i < n; i++) {
                w_u16(&w, vmids[i]);
                w_u8(&w, rights[i]);
                w_u8(&w, 0);
        }
        w_u16(&w, 1); /* SGL header */
        w_u16(&w, 0);
        w_u64(&w, ipa);
        w_u64(&w, size);
        w_u32(&w, 0); /* attr header, k = 0 */
        e = t_call(t, msg_id, w.b, w.n, out, &olen);
        if (e == 0) {
                ASSERT_EQ(olen, 4);
                if (handle)
                        *handle = (uint32_t)out[0] | (uint32_t)out[1] << 8 |
                                  (uint32_t)out[2] << 16 | (uint32_t)out[3] << 24;
        }
        return e;
}

uint32_t t_config_image(T *t, uint16_t vmid, uint16_t auth, uint32_t handle, uint64_t img_off,
                        uint64_t img_size, uint64_t dtb_off, uint64_t dtb_size)
{
        W w = {.n = 0};

        w_u16(&w, vmid);
        w_u16(&w, auth);
        w_u32(&w, handle);
        w_u64(&w, img_off);
        w_u64(&w, img_size);
        w_u64(&w, dtb_off);
        w_u64(&w, dtb_size);
        return t_call_w(t, 0x56000009, &w);
}

static void fdt_u64_prop(void *fdt, const char *name, uint64_t v)
{
        fdt64_t be = cpu_to_fdt64(v);
        ASSERT_EQ(fdt_property(fdt, name, &be, sizeof(be)), 0);
}

size_t t_write_dtb(T *t, uint64_t off, unsigned ncpus, uint64_t base, uint64_t entry_off,
                   int variant)
{
        size_t cap = 16384;
        void *fdt = calloc(1, cap);
        uint8_t *pool = sim_client_pool(t->sim);
        size_t size;

        ASSERT_TRUE(fdt && pool);
        ASSERT_EQ(fdt_create(fdt, (int)cap), 0);
        ASSERT_EQ(fdt_finish_reservemap(fdt), 0);
        ASSERT_EQ(fdt_begin_node(fdt, ""), 0);
        ASSERT_EQ(fdt_property_u32(fdt, "#address-cells", 2), 0);
        ASSERT_EQ(fdt_property_u32(fdt, "#size-cells", 2), 0);
        ASSERT_EQ(
            fdt_begin_node(fdt, variant == DT_NO_CONFIG_NODE ? "vm-config" : "gunyah-vm-config"),
            0);
        if (variant != DT_NO_IMAGE_NAME)
                ASSERT_EQ(fdt_property_string(fdt, "image-name", "test-vm"), 0);
        ASSERT_EQ(fdt_property_string(fdt, "os-type", "linux"), 0);
        ASSERT_EQ(fdt_property_string(fdt, "vm-guid",
                                      variant == DT_BAD_GUID
                                          ? "1234-nope"
                                          : "12345678-9abc-def0-1234-56789abcdef0"),
                  0);
        if (variant == DT_CRASH_FATAL)
                ASSERT_EQ(fdt_property_string(fdt, "vm-attrs", "crash-fatal"), 0);
        fdt_u64_prop(fdt, "kernel-entry-offset", entry_off);
        ASSERT_EQ(fdt_begin_node(fdt, "memory"), 0);
        ASSERT_EQ(fdt_property_u32(fdt, "#address-cells", 2), 0);
        ASSERT_EQ(fdt_property_u32(fdt, "#size-cells", 2), 0);
        fdt_u64_prop(fdt, "base-address", variant == DT_BAD_BASE_ALIGN ? base + 0x800 : base);
        ASSERT_EQ(fdt_end_node(fdt), 0);
        ASSERT_EQ(fdt_begin_node(fdt, "vcpus"), 0);
        ASSERT_EQ(
            fdt_property_string(fdt, "affinity", variant == DT_PROXY_NO_MAP ? "proxy" : "static"),
            0);
        if (variant != DT_NO_AFFINITY_MAP && variant != DT_PROXY_NO_MAP) {
                fdt32_t map[SIM_MAX_TEST_CPUS + 1];
                unsigned n = variant == DT_BAD_AFFINITY_LEN ? ncpus + 1 : ncpus;
                for (unsigned i = 0; i < n; i++)
                        map[i] = cpu_to_fdt32(i);
                ASSERT_EQ(fdt_property(fdt, "affinity-map", map, (int)(n * 4)), 0);
        }
        ASSERT_EQ(fdt_end_node(fdt), 0);
        ASSERT_EQ(fdt_begin_node(fdt, "interrupts"), 0);
        ASSERT_EQ(fdt_property_string(fdt, "config", "/intc"), 0);
        ASSERT_EQ(fdt_end_node(fdt), 0);
        ASSERT_EQ(fdt_begin_node(fdt, "vdevices"), 0);
        ASSERT_EQ(fdt_begin_node(fdt, "bell"), 0);
        ASSERT_EQ(fdt_property_string(fdt, "vdevice-type", "doorbell"), 0);
        ASSERT_EQ(fdt_property(fdt, "peer-default", NULL, 0), 0);
        {
                fdt32_t irq[3] = {cpu_to_fdt32(0), cpu_to_fdt32(10),
                                  cpu_to_fdt32(variant == DT_BAD_IRQ_CELLS ? 2 : 1)};
                ASSERT_EQ(fdt_property(fdt, "interrupts", irq, sizeof(irq)), 0);
        }
        ASSERT_EQ(fdt_end_node(fdt), 0);
        ASSERT_EQ(fdt_end_node(fdt), 0); /* vdevices */
        ASSERT_EQ(fdt_end_node(fdt), 0); /* gunyah-vm-config */
        ASSERT_EQ(fdt_begin_node(fdt, "cpus"), 0);
        ASSERT_EQ(fdt_property_u32(fdt, "#address-cells", 1), 0);
        ASSERT_EQ(fdt_property_u32(fdt, "#size-cells", 0), 0);
        for (unsigned i = 0; i < ncpus; i++) {
                char name[16];
                snprintf(name, sizeof(name), "cpu@%u", i);
                ASSERT_EQ(fdt_begin_node(fdt, name), 0);
                ASSERT_EQ(fdt_property_string(fdt, "device_type", "cpu"), 0);
                ASSERT_EQ(fdt_property_string(fdt, "compatible", "arm,armv8"), 0);
                ASSERT_EQ(fdt_property_u32(fdt, "reg", i), 0);
                if (variant != DT_NO_ENABLE_METHOD)
                        ASSERT_EQ(fdt_property_string(fdt, "enable-method", "psci"), 0);
                if (variant == DT_NO_BOOT_CPU)
                        ASSERT_EQ(fdt_property_string(fdt, "status", "disabled"), 0);
                ASSERT_EQ(fdt_end_node(fdt), 0);
        }
        ASSERT_EQ(fdt_end_node(fdt), 0);
        ASSERT_EQ(fdt_begin_node(fdt, "intc"), 0);
        ASSERT_EQ(fdt_property_string(fdt, "compatible", "arm,gic-v3"), 0);
        ASSERT_EQ(fdt_end_node(fdt), 0);
        if (variant == DT_STRAY_MEMORY) {
                ASSERT_EQ(fdt_begin_node(fdt, "memory@80000000"), 0);
                ASSERT_EQ(fdt_property_string(fdt, "device_type", "memory"), 0);
                ASSERT_EQ(fdt_end_node(fdt), 0);
        }
        ASSERT_EQ(fdt_end_node(fdt), 0);
        ASSERT_EQ(fdt_finish(fdt), 0);
        size = fdt_totalsize(fdt);
        memcpy(pool + off, fdt, size);
        free(fdt);
        return size;
}

void t_write_image(T *t, uint64_t off)
{
        uint8_t *pool = sim_client_pool(t->sim);

        memset(pool + off, 0, 64);
        pool[off + 0x38] = 'A';
        pool[off + 0x39] = 'R';
        pool[off + 0x3a] = 'M';
        pool[off + 0x3b] = 0x64;
}

void t_boot_vm(T *t, TVm *vm, uint64_t img_off, unsigned ncpus)
{
        bool v17 = strcmp(t_profile, "v17") == 0;
        const uint64_t base = 0x40000000, psize = 2u << 20, dtb_off = 1u << 20;
        uint8_t rwx = 7;
        size_t dsz;
        W w;

        vm->vmid = t_alloc(t);
        vm->base = base;
        t_write_image(t, img_off);
        dsz = t_write_dtb(t, img_off + dtb_off, ncpus, base, 0, DT_OK);
        ASSERT_EQ(t_parcel(t, 0x51000012, &vm->vmid, &rwx, 1, T_POOL_IPA + img_off, psize, 0, 0,
                           &vm->handle),
                  0);
        ASSERT_EQ(t_config_image(t, vm->vmid, 0, vm->handle, 0, dtb_off, dtb_off, dsz), 0);
        t_expect_vm_status(t, vm->vmid, 1, 0, 0);
        if (v17) {
                w = (W){.n = 0};
                w_u16(&w, vm->vmid);
                w_u16(&w, 0);
                w_u32(&w, 0); /* IMAGE */
                w_u64(&w, base);
                w_u64(&w, psize);
                ASSERT_EQ(t_call_w(t, 0x56000034, &w), 0);
        }
        ASSERT_EQ(t_vmid_call(t, 0x5600000B, vm->vmid), 0);
        t_expect_vm_status(t, vm->vmid, 2, 0, 0);
        if (v17) {
                for (int reg = 0; reg < 2; reg++) {
                        w = (W){.n = 0};
                        w_u16(&w, vm->vmid);
                        w_u8(&w, reg == 0 ? 1 : 0); /* PC, then X0 */
                        w_u8(&w, 0);
                        w_u32(&w, 0);
                        w_u64(&w, reg == 0 ? base : base + dtb_off);
                        ASSERT_EQ(t_call_w(t, 0x56000031, &w), 0);
                }
        }
        ASSERT_EQ(t_vmid_call(t, 0x56000004, vm->vmid), 0);
        t_expect_vm_status(t, vm->vmid, 3, 0, 0);
}

int t_ctl(T *t, const char *method, const char *params_json, struct json_object **reply)
{
        char full[128];

        snprintf(full, sizeof(full), "%s%s", strchr(method, '.') ? "" : "io.gunyah.Simulator.",
                 method);
        return sim_client_callf(t->sim, full, params_json, reply);
}

int t_ctl_err(T *t, const char *method, const char *params_json, char **error)
{
        json_object *p = params_json ? json_tokener_parse(params_json) : NULL;
        char full[128];
        int r;

        snprintf(full, sizeof(full), "io.gunyah.Simulator.%s", method);
        r = sim_client_call_full(t->sim, full, p, NULL, error);
        json_object_put(p);
        return r;
}

void t_wait_vm(T *t, uint16_t vmid, const char *field, const char *value)
{
        ASSERT_OK(sim_client_wait_vm_field(t->sim, vmid, field, value, 20000));
}
