/* SPDX-License-Identifier: MIT */
/*
 * gunyah-rm-sim control socket, guest events (checklist 31, 36 and the guest of issue 3):
 * every GuestExit type with its exact NOTIFY_VM_EXITED bytes, crash messages, the demand
 * paging extension (SIM_PAGE_FAULT 0x5F100001) and its resolution, guest release, guest
 * status, ignored shutdown, GetState, and the Varlink service interface.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "test-sim-harness.h"
#include "test.h"

#define IMG_OFF 0x100000ull

static void expect_exited(T *t, uint16_t vmid, uint16_t type, const uint32_t *w, unsigned n)
{
        uint8_t e[24] = {(uint8_t)vmid,
                         (uint8_t)(vmid >> 8),
                         (uint8_t)type,
                         (uint8_t)(type >> 8),
                         (uint8_t)(4 * n),
                         0,
                         0,
                         0};

        for (unsigned i = 0; i < n; i++)
                for (unsigned b = 0; b < 4; b++)
                        e[8 + 4 * i + b] = (uint8_t)(w[i] >> (8 * b));
        t_expect_vm_status(t, vmid, 9, 0, 0);
        t_expect_notif(t, 0x56100001, e, 8 + 4 * n);
}

static void boot(T *t, TVm *v)
{
        t_boot_vm(t, v, IMG_OFF, 1);
}

/* Stop, reset (consuming its notifications) and boot again so each exit starts RUNNING. */
static void recycle(T *t, TVm *v)
{
        TMsg m;
        uint8_t r[8] = {(uint8_t)v->handle, 0, 0, 0, 0, 0, 0, 0};

        ASSERT_EQ(t_vmid_call(t, 0x56000006, v->vmid), 0);
        do
                ASSERT_TRUE(t_next_notif(t, &m, 5000));
        while (!(m.msg_id == 0x56100008 && m.p[4] == 11));
        ASSERT_EQ(t_call(t, 0x51000015, r, 8, NULL, NULL), 0);
        ASSERT_EQ(t_vmid_call(t, 0x56000002, v->vmid), 0);
        boot(t, v);
}

TEST(guest_exits_every_type)
{
        static const struct {
                const char *params; /* besides vmid */
                uint16_t type;
                uint32_t w[4];
                unsigned n;
        } cases[] = {
            {"\"type\":\"VM_EXIT\"", 0, {0}, 1},
            {"\"type\":\"VM_EXIT\",\"code\":4,\"flags\":1", 0, {0x00040001}, 1},
            {"\"type\":\"PLATFORM_OFF\"", 1, {0}, 1},
            {"\"type\":\"PLATFORM_RESET\",\"flags\":1", 2, {1}, 1},
            {"\"type\":\"PSCI_SYSTEM_RESET2\",\"resetType\":2147483649,\"cookie\":4294967298,"
             "\"smc64\":true",
             3,
             {0x8000, 0x80000001, 2, 1},
             4},
            {"\"type\":\"WATCHDOG_BITE\"", 4, {0}, 1},
            {"\"type\":\"WATCHDOG_BITE\",\"crashMessage\":\"oops\"", 4, {0x10000}, 1},
            {"\"type\":\"SOFTWARE_ERROR\"", 5, {0x20000}, 1},
            {"\"type\":\"ASYNC_HW_ERROR\",\"code\":3", 6, {0x30000}, 1},
        };
        char params[256];
        TVm v;
        T t;

        t_start(&t, &(TOpts){.pace_ms = 600000});
        boot(&t, &v);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                snprintf(params, sizeof(params), "{\"vmid\":%u,%s}", v.vmid, cases[i].params);
                ASSERT_OK(t_ctl(&t, "GuestExit", params, NULL));
                expect_exited(&t, v.vmid, cases[i].type, cases[i].w, cases[i].n);
                /* a second exit: the VM is not running */
                {
                        char *err = NULL;
                        ASSERT_EQ(t_ctl_err(&t, "GuestExit", params, &err), -EREMOTEIO);
                        ASSERT_STREQ(err, "io.gunyah.Simulator.InvalidState");
                        free(err);
                }
                recycle(&t, &v);
        }
        t_stop(&t);
}

TEST(guest_exit_rules_and_crash_message)
{
        uint8_t out[256];
        size_t n;
        char *err = NULL;
        char p[128];
        TVm v;
        T t;

        t_start(&t, &(TOpts){.pace_ms = 600000});
        boot(&t, &v);
        snprintf(p, sizeof(p), "{\"vmid\":%u,\"type\":\"VM_EXIT\",\"code\":2}", v.vmid);
        ASSERT_EQ(t_ctl_err(&t, "GuestExit", p, &err), -EREMOTEIO); /* code 2 is refused */
        ASSERT_STREQ(err, "io.gunyah.Simulator.RmError");
        free(err);
        snprintf(p, sizeof(p), "{\"vmid\":%u,\"type\":\"NOPE\"}", v.vmid);
        ASSERT_EQ(t_ctl_err(&t, "GuestExit", p, &err), -EREMOTEIO);
        ASSERT_STREQ(err, "org.varlink.service.InvalidParameter");
        free(err);
        ASSERT_EQ(t_ctl_err(&t, "GuestExit", "{\"vmid\":200,\"type\":\"VM_EXIT\"}", &err),
                  -EREMOTEIO);
        ASSERT_STREQ(err, "io.gunyah.Simulator.NoSuchVm");
        free(err);
        snprintf(p, sizeof(p),
                 "{\"vmid\":%u,\"type\":\"VM_EXIT\",\"code\":1,\"crashMessage\":\"%s\"}", v.vmid,
                 "kernel panic");
        ASSERT_OK(t_ctl(&t, "GuestExit", p, NULL));
        expect_exited(&t, v.vmid, 0, (uint32_t[]){0x10000}, 1);
        /* VM_GET_CRASH_MSG: u16 len, u16 0, bytes padded to 4 */
        {
                uint8_t q[4] = {(uint8_t)v.vmid, 0, 0, 0};
                ASSERT_EQ(t_call(&t, 0x56000019, q, 4, out, &n), 0);
                ASSERT_EQ(n, 4 + 12);
                ASSERT_MEMEQ(out, "\x0c\0\0\0kernel panic", 16);
        }
        t_stop(&t);
}

TEST(page_fault_blocks_until_parcel_accepted)
{
        const uint64_t dp_base = 0x60000000;
        uint16_t vmid;
        uint8_t rw = 6, rwx = 7;
        uint32_t img, h;
        size_t dsz;
        json_object *vm, *f;
        char p[160];
        W w;
        T t;

        t_start(&t, &(TOpts){.pace_ms = 600000});
        vmid = t_alloc(&t);
        t_write_image(&t, IMG_OFF);
        dsz = t_write_dtb(&t, IMG_OFF + (1u << 20), 1, 0x40000000, 0, DT_OK);
        ASSERT_EQ(
            t_parcel(&t, 0x51000012, &vmid, &rwx, 1, T_POOL_IPA + IMG_OFF, 2u << 20, 0, 0, &img),
            0);
        ASSERT_EQ(t_config_image(&t, vmid, 0, img, 0, 1u << 20, 1u << 20, dsz), 0);
        t_expect_vm_status(&t, vmid, 1, 0, 0);
        w = (W){.n = 0};
        w_u16(&w, vmid);
        w_u16(&w, 0);
        w_u32(&w, 1);
        w_u64(&w, T_POOL_IPA + 0x1000000); /* demand-paged memory is identity-mapped pool */
        w_u64(&w, 0x100000);
        ASSERT_EQ(t_call_w(&t, 0x56000033, &w), 0);
        ASSERT_EQ(t_vmid_call(&t, 0x5600000B, vmid), 0);
        t_expect_vm_status(&t, vmid, 2, 0, 0);
        ASSERT_EQ(t_vmid_call(&t, 0x56000004, vmid), 0);
        t_expect_vm_status(&t, vmid, 3, 0, 0);
        (void)dp_base;
        /* outside the demand-paged ranges: refused */
        snprintf(p, sizeof(p), "{\"vmid\":%u,\"ipa\":%llu}", vmid, 0x70000000ull);
        ASSERT_EQ(t_ctl_err(&t, "RaisePageFault", p, NULL), -EREMOTEIO);
        snprintf(p, sizeof(p), "{\"vmid\":%u,\"ipa\":%llu,\"write\":true}", vmid,
                 (unsigned long long)(T_POOL_IPA + 0x1003010));
        ASSERT_OK(t_ctl(&t, "RaisePageFault", p, NULL));
        {
                const uint64_t ipa = T_POOL_IPA + 0x1003010;
                uint8_t exp[16] = {(uint8_t)vmid, 0, 0, 0, 1, 0, 0, 0};
                for (int i = 0; i < 8; i++)
                        exp[8 + i] = (uint8_t)(ipa >> (8 * i));
                t_expect_notif(&t, 0x5F100001, exp, sizeof(exp));
        }
        ASSERT_EQ(t_ctl_err(&t, "RaisePageFault", p, NULL), -EREMOTEIO); /* already blocked */
        vm = sim_client_get_vm(t.sim, vmid);
        ASSERT_TRUE(json_object_object_get_ex(vm, "blockedFaultIpa", &f));
        json_object_put(vm);
        /* lend a page elsewhere: still blocked */
        ASSERT_EQ(t_parcel(&t, 0x51000012, &vmid, &rw, 1, T_POOL_IPA + 0x1008000, 0x1000, 0, 0, &h),
                  0);
        {
                uint8_t n[20] = {(uint8_t)h,    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
                                 (uint8_t)vmid, 0, 0, 0};
                ASSERT_EQ(t_call(&t, 0x51000017, n, sizeof(n), NULL, NULL), 0);
                uint8_t acc[12] = {(uint8_t)h, 0, 0, 0, (uint8_t)vmid, 0, 0, 0, 0, 0, 0, 0};
                t_expect_notif(&t, 0x51100013, acc, sizeof(acc));
        }
        vm = sim_client_get_vm(t.sim, vmid);
        ASSERT_TRUE(json_object_object_get_ex(vm, "blockedFaultIpa", &f));
        json_object_put(vm);
        /* lend the faulting page: the guest accepts it, the owner hears MEM_ACCEPTED */
        ASSERT_EQ(t_parcel(&t, 0x51000012, &vmid, &rw, 1, T_POOL_IPA + 0x1003000, 0x1000, 0, 0, &h),
                  0);
        {
                uint8_t n[20] = {(uint8_t)h,    0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0,
                                 (uint8_t)vmid, 0, 0, 0};
                ASSERT_EQ(t_call(&t, 0x51000017, n, sizeof(n), NULL, NULL), 0);
                uint8_t acc[12] = {(uint8_t)h, 0, 0, 0, (uint8_t)vmid, 0, 0, 0, 9, 0, 0, 0};
                t_expect_notif(&t, 0x51100013, acc, sizeof(acc));
        }
        vm = sim_client_get_vm(t.sim, vmid);
        ASSERT_TRUE(!json_object_object_get_ex(vm, "blockedFaultIpa", &f));
        json_object_put(vm);
        /* the guest releases it: MEM_RELEASED to the owner; a second release is 0xC */
        snprintf(p, sizeof(p), "{\"vmid\":%u,\"handle\":%u}", vmid, h);
        ASSERT_OK(t_ctl(&t, "GuestReleaseParcel", p, NULL));
        {
                uint8_t rel[12] = {(uint8_t)h, 0, 0, 0, (uint8_t)vmid, 0, 0, 0, 9, 0, 0, 0};
                t_expect_notif(&t, 0x51100012, rel, sizeof(rel));
        }
        {
                char *err = NULL;
                json_object *rep = NULL, *params = json_tokener_parse(p);
                ASSERT_EQ(sim_client_call_full(t.sim, "io.gunyah.Simulator.GuestReleaseParcel",
                                               params, &rep, &err),
                          -EREMOTEIO);
                json_object_put(params);
                ASSERT_STREQ(err, "io.gunyah.Simulator.RmError");
                ASSERT_TRUE(json_object_object_get_ex(rep, "code", &f));
                ASSERT_EQ(json_object_get_int(f), 0xC);
                free(err);
                json_object_put(rep);
        }
        {
                uint8_t r[8] = {(uint8_t)h, 0, 0, 0, 0, 0, 0, 0};
                ASSERT_EQ(t_call(&t, 0x51000015, r, 8, NULL, NULL), 0); /* now reclaimable */
        }
        t_stop(&t);
}

TEST(guest_status_and_ignored_shutdown)
{
        char p[128];
        TVm v;
        T t;

        t_start(&t, &(TOpts){.pace_ms = 600000});
        boot(&t, &v);
        snprintf(p, sizeof(p), "{\"vmid\":%u,\"osStatus\":3,\"appStatus\":513}", v.vmid);
        ASSERT_OK(t_ctl(&t, "SetGuestStatus", p, NULL));
        t_expect_vm_status(&t, v.vmid, 3, 3, 513);
        snprintf(p, sizeof(p), "{\"vmid\":%u,\"osStatus\":0}", v.vmid); /* 0 = unchanged */
        ASSERT_OK(t_ctl(&t, "SetGuestStatus", p, NULL));
        t_expect_vm_status(&t, v.vmid, 3, 3, 513);
        snprintf(p, sizeof(p), "{\"vmid\":%u,\"osStatus\":8}", v.vmid);
        ASSERT_EQ(t_ctl_err(&t, "SetGuestStatus", p, NULL), -EREMOTEIO);
        snprintf(p, sizeof(p), "{\"vmid\":%u,\"ignore\":true}", v.vmid);
        ASSERT_OK(t_ctl(&t, "SetGuestIgnoreShutdown", p, NULL));
        ASSERT_OK(t_ctl(&t, "SetGuestPace", "{\"ms\":1}", NULL));
        {
                uint8_t stop[8] = {(uint8_t)v.vmid, 0, 0, 0, 0, 0, 0, 0};
                ASSERT_EQ(t_call(&t, 0x56000005, stop, 8, NULL, NULL), 0);
        }
        t_no_notif(&t, 300); /* the guest ignored NOTIFY_VM_SHUTDOWN */
        t_wait_vm(&t, v.vmid, "status", "RUNNING");
        snprintf(p, sizeof(p), "{\"vmid\":%u,\"ignore\":false}", v.vmid);
        ASSERT_OK(t_ctl(&t, "SetGuestIgnoreShutdown", p, NULL));
        {
                uint8_t stop[8] = {(uint8_t)v.vmid, 0, 0, 0, 0, 0, 0, 0};
                ASSERT_EQ(t_call(&t, 0x56000005, stop, 8, NULL, NULL), 0);
        }
        t_expect_vm_status(&t, v.vmid, 9, 3, 513);
        t_expect_notif(&t, 0x56100001,
                       ((uint8_t[]){(uint8_t)v.vmid, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0}), 12);
        t_stop(&t);
}

TEST(get_state_and_service_interface)
{
        json_object *st, *f, *vms, *parcels, *p0, *acl;
        char *err = NULL;
        TVm v;
        T t;

        t_start(&t, &(TOpts){.pace_ms = 600000});
        boot(&t, &v);
        ASSERT_OK(t_ctl(&t, "GetState", NULL, &st));
        ASSERT_TRUE(json_object_object_get_ex(st, "profile", &f));
        ASSERT_STREQ(json_object_get_string(f), "v17");
        ASSERT_TRUE(json_object_object_get_ex(st, "vms", &vms));
        ASSERT_EQ(json_object_array_length(vms), 1);
        ASSERT_TRUE(json_object_object_get_ex(json_object_array_get_idx(vms, 0), "status", &f));
        ASSERT_STREQ(json_object_get_string(f), "RUNNING");
        ASSERT_TRUE(json_object_object_get_ex(st, "parcels", &parcels));
        p0 = json_object_array_get_idx(parcels, 0);
        ASSERT_TRUE(json_object_object_get_ex(p0, "state", &f));
        ASSERT_STREQ(json_object_get_string(f), "SHARED");
        ASSERT_TRUE(json_object_object_get_ex(p0, "transType", &f));
        ASSERT_STREQ(json_object_get_string(f), "LEND");
        ASSERT_TRUE(json_object_object_get_ex(p0, "acl", &acl));
        ASSERT_TRUE(json_object_object_get_ex(json_object_array_get_idx(acl, 0), "rights", &f));
        ASSERT_EQ(json_object_get_int(f), 7);
        ASSERT_TRUE(json_object_object_get_ex(p0, "accepters", &f));
        ASSERT_EQ(json_object_get_int(json_object_array_get_idx(f, 0)), v.vmid);
        ASSERT_TRUE(json_object_object_get_ex(st, "link", &f));
        ASSERT_TRUE(json_object_object_get_ex(f, "connected", &f));
        ASSERT_TRUE(json_object_get_boolean(f));
        json_object_put(st);
        /* the IDL served is the file in the source tree */
        ASSERT_OK(t_ctl(&t, "org.varlink.service.GetInterfaceDescription",
                        "{\"interface\":\"io.gunyah.Simulator\"}", &st));
        ASSERT_TRUE(json_object_object_get_ex(st, "description", &f));
        ASSERT_TRUE(strstr(json_object_get_string(f), "interface io.gunyah.Simulator\n"));
        ASSERT_TRUE(strstr(json_object_get_string(f), "method RaisePageFault("));
        json_object_put(st);
        ASSERT_OK(t_ctl(&t, "org.varlink.service.GetInfo", NULL, &st));
        json_object_put(st);
        ASSERT_EQ(t_ctl_err(&t, "NoSuchMethod", NULL, &err), -EREMOTEIO);
        ASSERT_STREQ(err, "org.varlink.service.MethodNotFound");
        free(err);
        ASSERT_EQ(t_ctl_err(&t, "GuestExit", "{\"type\":\"VM_EXIT\"}", &err), -EREMOTEIO);
        ASSERT_STREQ(err, "org.varlink.service.InvalidParameter");
        free(err);
        t_stop(&t);
}

TEST_MAIN()
