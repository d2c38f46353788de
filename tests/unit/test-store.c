/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "store.h"
#include "test.h"

#define MiB (UINT64_C(1) << 20)

static char *make_dir(void)
{
        char *d = strdup("/tmp/test-store-XXXXXX");

        ASSERT_TRUE(mkdtemp(d) != NULL);
        return d;
}

static void rm_rf(const char *path)
{
        char cmd[512];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
        ASSERT_EQ(system(cmd), 0);
}

static void def(VmConfig *c, const char *name)
{
        vm_config_init(c);
        c->name = strdup(name);
        c->vcpus = 4;
        c->memory_size = 512 * MiB;
        c->kernel = strdup("images/Image");
        c->initrd = strdup("images/initrd");
        c->cmdline = strdup("console=hvc0 \"quoted\" \\ back");
        c->demand_paging = true;
        c->persistent = true;
        ASSERT_OK(vm_uuid_generate(c->uuid));
}

static PoolExtent ranges[3] = {
        { 0x40000000, 2 * MiB },
        { 0x40400000, 4096 },
        { 0x40600000, 8192 },
};
static PoolExtent sgl0[2] = { { 0x40000000, MiB }, { 0x40400000, 4096 } };
static PoolExtent sgl1[1] = { { 0x40601000, 4096 } };

static void runtime(StoreRuntime *rt, const char *name)
{
        static StoreParcel parcels[2];

        parcels[0] = (StoreParcel){ .handle = 0, .label = 0, .guest_offset = 0,
                                    .accepted = true, .sgl = sgl0, .n_sgl = 2 };
        parcels[1] = (StoreParcel){ .handle = 7, .label = 0, .guest_offset = MiB + 4096,
                                    .accepted = false, .sgl = sgl1, .n_sgl = 1 };
        *rt = (StoreRuntime){ .name = (char *)name, .vmid = 0x80, .rm_status = 3,
                              .boot = STORE_BOOT_OPEN_RM, .parcels = parcels, .n_parcels = 2,
                              .ranges = ranges, .n_ranges = 3 };
}

static void write_file(const char *dir, const char *sub, const char *file, const char *data,
                       size_t len)
{
        char path[512];
        int fd;

        snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, file);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, data, len), (ssize_t)len);
        close(fd);
}

static bool exists(const char *dir, const char *rel)
{
        char path[512];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        return lstat(path, &st) == 0;
}

static size_t count_entries(const char *dir, const char *sub)
{
        char path[512];
        DIR *d;
        struct dirent *de;
        size_t n = 0;

        snprintf(path, sizeof(path), "%s/%s", dir, sub);
        d = opendir(path);
        ASSERT_TRUE(d != NULL);
        while ((de = readdir(d)))
                n += de->d_name[0] != '.' || strncmp(de->d_name, ".tmp-", 5) == 0;
        closedir(d);
        return n;
}

TEST(definition_round_trip)
{
        VmConfig c, back;
        char *json = NULL;
        const char *why = NULL;

        def(&c, "web-1");
        ASSERT_OK(store_definition_to_json(&c, &json));
        ASSERT_OK(store_definition_from_json(json, strlen(json), &back, &why));
        ASSERT_STREQ(back.name, "web-1");
        ASSERT_EQ(back.vcpus, 4);
        ASSERT_U64_EQ(back.memory_size, 512 * MiB);
        ASSERT_U64_EQ(back.memory_base, VM_MEMORY_BASE_DEFAULT);
        ASSERT_STREQ(back.kernel, "images/Image");
        ASSERT_STREQ(back.initrd, "images/initrd");
        ASSERT_STREQ(back.cmdline, c.cmdline);
        ASSERT_TRUE(back.demand_paging && back.persistent);
        ASSERT_MEMEQ(back.uuid, c.uuid, 16);
        free(json);
        vm_config_done(&back);

        /* optional fields absent */
        free(c.initrd);
        free(c.cmdline);
        c.initrd = c.cmdline = NULL;
        ASSERT_OK(store_definition_to_json(&c, &json));
        ASSERT_OK(store_definition_from_json(json, strlen(json), &back, &why));
        ASSERT_TRUE(back.initrd == NULL && back.cmdline == NULL);
        free(json);
        vm_config_done(&back);
        vm_config_done(&c);
}

static void def_reject(const char *json)
{
        VmConfig c;
        const char *why = NULL;

        ASSERT_EQ(store_definition_from_json(json, strlen(json), &c, &why), -EBADMSG);
        ASSERT_TRUE(why != NULL);
        ASSERT_TRUE(c.name == NULL);
}

#define DEF_HEAD "{\"version\":1,\"kind\":\"definition\",\"name\":\"a\",\"uuid\":\"12345678-1234-4234-8234-123456789abc\","
#define DEF_TAIL "\"memory_base\":2147483648,\"kernel\":\"Image\",\"demand_paging\":false,\"persistent\":true}"

TEST(definition_rejects)
{
        VmConfig c;
        const char *ok = DEF_HEAD "\"vcpus\":1,\"memory_size\":16777216," DEF_TAIL;

        ASSERT_OK(store_definition_from_json(ok, strlen(ok), &c, NULL));
        vm_config_done(&c);
        def_reject("");
        def_reject("{");
        def_reject("[]");
        def_reject("null");
        def_reject(DEF_HEAD "\"vcpus\":1,\"memory_size\":16777216," DEF_TAIL " x");
        def_reject(DEF_HEAD "\"vcpus\":1,\"memory_size\":16777216,\"extra\":1," DEF_TAIL);
        def_reject(DEF_HEAD "\"vcpus\":\"1\",\"memory_size\":16777216," DEF_TAIL);
        def_reject(DEF_HEAD "\"vcpus\":0,\"memory_size\":16777216," DEF_TAIL);
        def_reject(DEF_HEAD "\"vcpus\":65,\"memory_size\":16777216," DEF_TAIL);
        def_reject(DEF_HEAD "\"vcpus\":-1,\"memory_size\":16777216," DEF_TAIL);
        def_reject(DEF_HEAD "\"vcpus\":1,\"memory_size\":16777217," DEF_TAIL);
        def_reject(DEF_HEAD "\"vcpus\":1,\"memory_size\":99999999999999999999," DEF_TAIL);
        def_reject(DEF_HEAD "\"vcpus\":1.5,\"memory_size\":16777216," DEF_TAIL);
        def_reject(DEF_HEAD "\"vcpus\":1," DEF_TAIL); /* missing memory_size */
        def_reject("{\"version\":2,\"kind\":\"definition\"}");
        def_reject("{\"version\":1,\"kind\":\"runtime\",\"name\":\"a\",\"uuid\":\"x\"}");
        def_reject("{\"version\":1,\"kind\":\"definition\",\"name\":\"a\",\"uuid\":\"00000000-0000-0000-0000-000000000000\","
                   "\"vcpus\":1,\"memory_size\":16777216," DEF_TAIL);
        def_reject("{\"version\":1,\"kind\":\"definition\",\"name\":\"../x\",\"uuid\":\"12345678-1234-4234-8234-123456789abc\","
                   "\"vcpus\":1,\"memory_size\":16777216," DEF_TAIL);
        /* deep nesting is bounded */
        def_reject("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
        {
                char nul[] = "{\"version\":1}\0{}";

                ASSERT_EQ(store_definition_from_json(nul, sizeof(nul) - 1, &c, NULL), -EBADMSG);
        }
}

TEST(runtime_round_trip_and_validate)
{
        StoreRuntime rt, back;
        char *json = NULL;
        const char *why = NULL;

        runtime(&rt, "web-1");
        ASSERT_OK(store_runtime_validate(&rt, &why));
        ASSERT_OK(store_runtime_to_json(&rt, &json));
        ASSERT_OK(store_runtime_from_json(json, strlen(json), &back, &why));
        ASSERT_STREQ(back.name, "web-1");
        ASSERT_EQ(back.vmid, 0x80);
        ASSERT_EQ(back.rm_status, 3);
        ASSERT_EQ(back.boot, STORE_BOOT_OPEN_RM);
        ASSERT_EQ(back.n_parcels, 2);
        ASSERT_EQ(back.parcels[0].handle, 0);
        ASSERT_TRUE(back.parcels[0].accepted);
        ASSERT_EQ(back.parcels[0].n_sgl, 2);
        ASSERT_U64_EQ(back.parcels[0].sgl[1].ipa, 0x40400000);
        ASSERT_EQ(back.parcels[1].handle, 7);
        ASSERT_U64_EQ(back.parcels[1].guest_offset, MiB + 4096);
        ASSERT_TRUE(!back.parcels[1].accepted);
        ASSERT_EQ(back.n_ranges, 3);
        ASSERT_MEMEQ(back.ranges, ranges, sizeof(ranges));
        store_runtime_done(&back);
        free(json);

        rt.vmid = 3;
        ASSERT_EQ(store_runtime_validate(&rt, &why), -EBADMSG);
        rt.vmid = 0x80;
        rt.boot = _STORE_BOOT_MAX;
        ASSERT_EQ(store_runtime_validate(&rt, &why), -EBADMSG);
        rt.boot = STORE_BOOT_V17;
        rt.parcels[1].handle = 0; /* duplicate */
        ASSERT_EQ(store_runtime_validate(&rt, &why), -EBADMSG);
        rt.parcels[1].handle = 0xFFFFFFFF;
        ASSERT_EQ(store_runtime_validate(&rt, &why), -EBADMSG);
        rt.parcels[1].handle = 7;
        sgl1[0].ipa = 0x40603000; /* outside the ranges */
        ASSERT_EQ(store_runtime_validate(&rt, &why), -EBADMSG);
        ASSERT_STREQ(why, "parcel SGL outside the VM's pool ranges");
        sgl1[0].ipa = 0x40601800; /* misaligned */
        ASSERT_EQ(store_runtime_validate(&rt, &why), -EBADMSG);
        sgl1[0].ipa = 0x40601000;
        ranges[1].ipa = 0x40100000; /* overlaps range 0 */
        ASSERT_EQ(store_runtime_validate(&rt, &why), -EBADMSG);
        ASSERT_STREQ(why, "pool ranges overlap");
        ranges[1].ipa = 0x40400000;
        ASSERT_OK(store_runtime_validate(&rt, &why));
}

TEST(runtime_rejects)
{
        static const char *bad[] = {
                "{\"version\":1,\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":128,\"rm_status\":3,\"boot\":\"v18\",\"parcels\":[],\"ranges\":[]}",
                "{\"version\":1,\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":65536,\"rm_status\":3,\"boot\":\"v17\",\"parcels\":[],\"ranges\":[]}",
                "{\"version\":1,\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":128,\"rm_status\":256,\"boot\":\"v17\",\"parcels\":[],\"ranges\":[]}",
                "{\"version\":1,\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":128,\"rm_status\":3,\"boot\":\"v17\",\"parcels\":[],\"ranges\":[[4096]]}",
                "{\"version\":1,\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":128,\"rm_status\":3,\"boot\":\"v17\",\"parcels\":[],\"ranges\":[[4096,0]]}",
                "{\"version\":1,\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":128,\"rm_status\":3,\"boot\":\"v17\",\"parcels\":[],\"ranges\":[[17592186044416,4096]]}",
                "{\"version\":1,\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":128,\"rm_status\":3,\"boot\":\"v17\",\"parcels\":[{}],\"ranges\":[]}",
                "{\"version\":1,\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":128,\"rm_status\":3,\"boot\":\"v17\",\"parcels\":[{\"handle\":1,\"label\":0,\"guest_offset\":0,\"accepted\":false,\"sgl\":[]}],\"ranges\":[]}",
                "{\"version\":1,\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":128,\"rm_status\":3,\"boot\":\"v17\",\"parcels\":[{\"handle\":1,\"label\":0,\"guest_offset\":0,\"accepted\":false,\"sgl\":[[4096,4096]]}],\"ranges\":[]}",
                "{\"version\":1,\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":128,\"rm_status\":3,\"boot\":\"v17\",\"parcels\":[],\"ranges\":[],\"x\":0}",
        };
        const char *good = "{\"version\":1,\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":128,\"rm_status\":3,\"boot\":\"v17\",\"parcels\":[{\"handle\":1,\"label\":0,\"guest_offset\":0,\"accepted\":false,\"sgl\":[[4096,4096]]}],\"ranges\":[[0,8192]]}";
        StoreRuntime rt;
        const char *why;

        ASSERT_OK(store_runtime_from_json(good, strlen(good), &rt, &why));
        store_runtime_done(&rt);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                why = NULL;
                if (store_runtime_from_json(bad[i], strlen(bad[i]), &rt, &why) != -EBADMSG)
                        TEST_FAIL_("bad[%zu] accepted", i);
                ASSERT_TRUE(why != NULL);
                ASSERT_TRUE(rt.name == NULL && rt.parcels == NULL);
        }
}

TEST(save_load_delete)
{
        char *dir = make_dir();
        Store *s = NULL;
        StoreLoad l;
        VmConfig a, b;
        StoreRuntime rt;

        ASSERT_OK(store_open(&s, dir, NULL));
        ASSERT_TRUE(exists(dir, "definitions") && exists(dir, "runtime") &&
                    exists(dir, "quarantine"));
        def(&a, "alpha");
        def(&b, "beta");
        ASSERT_OK(store_save_definition(s, &b));
        ASSERT_OK(store_save_definition(s, &a));
        runtime(&rt, "alpha");
        ASSERT_OK(store_save_runtime(s, &rt));
        /* rewrite replaces */
        a.vcpus = 8;
        ASSERT_OK(store_save_definition(s, &a));
        store_free(s);

        ASSERT_OK(store_open(&s, dir, NULL));
        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.n_definitions, 2);
        ASSERT_STREQ(l.definitions[0].name, "alpha"); /* sorted by file name */
        ASSERT_EQ(l.definitions[0].vcpus, 8);
        ASSERT_STREQ(l.definitions[1].name, "beta");
        ASSERT_EQ(l.n_runtimes, 1);
        ASSERT_EQ(l.runtimes[0].n_parcels, 2);
        ASSERT_EQ(l.n_quarantined, 0);
        store_load_done(&l);

        ASSERT_OK(store_delete_definition(s, "beta"));
        ASSERT_EQ(store_delete_definition(s, "beta"), -ENOENT);
        ASSERT_OK(store_delete_runtime(s, "alpha"));
        ASSERT_EQ(store_delete_runtime(s, "../x"), -EINVAL);
        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.n_definitions, 1);
        ASSERT_EQ(l.n_runtimes, 0);
        store_load_done(&l);

        /* invalid input is refused before anything is written */
        a.vcpus = 0;
        ASSERT_EQ(store_save_definition(s, &a), -EINVAL);
        rt.vmid = 0;
        ASSERT_EQ(store_save_runtime(s, &rt), -EINVAL);
        ASSERT_EQ(count_entries(dir, "definitions"), 1);

        vm_config_done(&a);
        vm_config_done(&b);
        store_free(s);
        rm_rf(dir);
        free(dir);
}

TEST(crash_before_rename_keeps_old_record)
{
        char *dir = make_dir();
        Store *s = NULL;
        StoreLoad l;
        VmConfig a;

        ASSERT_OK(store_open(&s, dir, NULL));
        def(&a, "gamma");
        ASSERT_OK(store_save_definition(s, &a));
        a.vcpus = 16;
        store_set_crash_before_rename_for_test(true);
        ASSERT_EQ(store_save_definition(s, &a), -EINTR);
        store_set_crash_before_rename_for_test(false);
        /* the new content sits in a temp file, the record is the old one */
        ASSERT_EQ(count_entries(dir, "definitions"), 2);
        store_free(s);

        ASSERT_OK(store_open(&s, dir, NULL));
        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.n_definitions, 1);
        ASSERT_EQ(l.definitions[0].vcpus, 4);
        ASSERT_EQ(l.n_quarantined, 0);
        store_load_done(&l);
        /* the stale temp file was removed */
        ASSERT_EQ(count_entries(dir, "definitions"), 1);
        vm_config_done(&a);
        store_free(s);
        rm_rf(dir);
        free(dir);
}

/* What a record describes decides its durability: a persistent definition and its removal
 * are fsync'd; runtime records and a transient VM's definition (this boot's RM state only)
 * are not. Both are atomic either way. */
TEST(durability_follows_the_record)
{
        char *dir = make_dir();
        Store *s = NULL;
        StoreLoad l;
        VmConfig a, t;
        StoreRuntime rt;
        unsigned before;

        ASSERT_OK(store_open(&s, dir, NULL));
        def(&a, "kept");
        def(&t, "transient");
        t.persistent = false;
        before = store_fsyncs_for_test();
        ASSERT_OK(store_save_definition(s, &a));
        ASSERT_EQ(store_fsyncs_for_test() - before, 2); /* temp file, then the directory */
        before = store_fsyncs_for_test();
        ASSERT_OK(store_save_definition(s, &t));
        runtime(&rt, "kept");
        ASSERT_OK(store_save_runtime(s, &rt));
        ASSERT_OK(store_save_runtime(s, &rt));
        ASSERT_OK(store_delete_runtime(s, "kept"));
        ASSERT_OK(store_save_runtime(s, &rt));
        ASSERT_EQ(store_fsyncs_for_test() - before, 0);
        before = store_fsyncs_for_test();
        ASSERT_OK(store_delete_definition(s, "transient"));
        store_sync(s); /* the deletion's fsync is the syncer's */
        ASSERT_EQ(store_fsyncs_for_test() - before, 1);
        /* the unsynced writes are still whole records (rename over, no temp file left) */
        ASSERT_EQ(count_entries(dir, "runtime"), 1);
        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.n_definitions, 1);
        ASSERT_EQ(l.n_runtimes, 1);
        ASSERT_EQ(l.runtimes[0].n_parcels, 2);
        ASSERT_EQ(l.n_quarantined, 0);
        store_load_done(&l);
        vm_config_done(&a);
        vm_config_done(&t);
        store_free(s);
        rm_rf(dir);
        free(dir);
}

/* DestroyVM does not wait for the disk: the definition leaves its name at once and the
 * syncer thread unlinks it and fsyncs definitions/, once per batch. A new definition under
 * the same name, written before the syncer ran, is never the one it removes. */
TEST(definition_deletion_leaves_the_name_at_once)
{
        char *dir = make_dir();
        Store *s = NULL;
        StoreLoad l;
        VmConfig a, b;
        unsigned before;

        ASSERT_OK(store_open(&s, dir, NULL));
        def(&a, "gone");
        def(&b, "again");
        ASSERT_OK(store_save_definition(s, &a));
        ASSERT_OK(store_save_definition(s, &b));
        for (int round = 0; round < 50; round++) {
                before = store_fsyncs_for_test();
                ASSERT_OK(store_delete_definition(s, "again"));
                ASSERT_TRUE(!exists(dir, "definitions/again.json"));
                ASSERT_EQ(store_delete_definition(s, "again"), -ENOENT);
                b.vcpus = 1 + (unsigned)round % 8;
                ASSERT_OK(store_save_definition(s, &b)); /* the name is free again */
                if (round % 10 == 0) {
                        store_sync(s);
                        /* the deletion's fsync, and the new definition's two */
                        ASSERT_TRUE(store_fsyncs_for_test() - before >= 3);
                }
        }
        ASSERT_OK(store_delete_definition(s, "gone"));
        store_free(s); /* drains the syncer */
        ASSERT_EQ(count_entries(dir, "definitions"), 1); /* no set-aside file left */

        ASSERT_OK(store_open(&s, dir, NULL));
        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.n_definitions, 1);
        ASSERT_STREQ(l.definitions[0].name, "again");
        ASSERT_EQ(l.definitions[0].vcpus, 1 + 49 % 8);
        ASSERT_EQ(l.n_quarantined, 0);
        store_load_done(&l);
        vm_config_done(&a);
        vm_config_done(&b);
        store_free(s);
        rm_rf(dir);
        free(dir);
}

/* With a runtime directory (systemd's RuntimeDirectory=, on /run), runtime records live in
 * <rt>/records and bad ones go to <rt>/quarantine; definitions stay in the state directory.
 * Records an earlier gunyahd left in <state>/runtime move over at load: renamed on the same
 * file system, copied across (state on disk, /run on tmpfs); one whose name is taken in the
 * runtime directory goes to the state quarantine; other files are left alone. */
static void runtime_directory_case(const char *rt_parent)
{
        char *dir = make_dir(), rt[256], *rtp = strdup(rt_parent);
        Store *s = NULL;
        StoreLoad l;
        VmConfig a;
        StoreRuntime r1, r2;

        ASSERT_TRUE(mkdtemp(rtp) != NULL);
        snprintf(rt, sizeof(rt), "%s/gunyahd", rtp);
        /* what an earlier gunyahd left: two records, an interrupted write, a stray file */
        ASSERT_OK(store_open(&s, dir, NULL));
        runtime(&r1, "moved");
        ASSERT_OK(store_save_runtime(s, &r1));
        runtime(&r2, "clash");
        ASSERT_OK(store_save_runtime(s, &r2));
        store_free(s);
        write_file(dir, "runtime", ".tmp-moved.json-1-1", "{", 1);
        write_file(dir, "runtime", "notes.txt", "x", 1);

        ASSERT_OK(store_open(&s, dir, rt));
        ASSERT_TRUE(exists(rt, "records") && exists(rt, "quarantine"));
        r2.vmid = 0x81; /* the runtime directory's own record of "clash" wins */
        ASSERT_OK(store_save_runtime(s, &r2));
        def(&a, "moved");
        ASSERT_OK(store_save_definition(s, &a));
        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.n_definitions, 1);
        ASSERT_EQ(l.n_runtimes, 2);
        ASSERT_STREQ(l.runtimes[0].name, "clash");
        ASSERT_EQ(l.runtimes[0].vmid, 0x81);
        ASSERT_STREQ(l.runtimes[1].name, "moved");
        ASSERT_EQ(l.runtimes[1].n_parcels, 2);
        ASSERT_EQ(l.n_quarantined, 1);
        ASSERT_STREQ(l.quarantined[0].file, "runtime/clash.json");
        ASSERT_STREQ(l.quarantined[0].reason, "a record of the same name is in the runtime directory");
        store_load_done(&l);
        ASSERT_TRUE(exists(rt, "records/moved.json") && exists(rt, "records/clash.json"));
        ASSERT_TRUE(exists(dir, "quarantine/runtime-clash.json"));
        ASSERT_TRUE(!exists(dir, "runtime/moved.json") && !exists(dir, "runtime/.tmp-moved.json-1-1"));
        ASSERT_TRUE(exists(dir, "runtime/notes.txt")); /* not ours to judge: left */
        ASSERT_EQ(count_entries(dir, "definitions"), 1);

        /* from now on: writes, deletions and quarantine all in the runtime directory */
        ASSERT_OK(store_save_runtime(s, &r1));
        ASSERT_OK(store_delete_runtime(s, "clash"));
        ASSERT_TRUE(!exists(rt, "records/clash.json"));
        write_file(rt, "records", "bad.json", "[]", 2);
        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.n_runtimes, 1);
        ASSERT_EQ(l.n_quarantined, 1);
        store_load_done(&l);
        ASSERT_TRUE(exists(rt, "quarantine/runtime-bad.json"));
        ASSERT_TRUE(!exists(dir, "quarantine/runtime-bad.json"));
        store_free(s);
        vm_config_done(&a);
        rm_rf(dir);
        rm_rf(rtp);
        free(dir);
        free(rtp);
}

TEST(runtime_directory_same_file_system)
{
        runtime_directory_case("/tmp/test-store-rt-XXXXXX");
}

TEST(runtime_directory_on_another_file_system)
{
        struct stat a, b;

        /* /dev/shm is tmpfs where it exists; on one file system the rename path is taken */
        if (stat("/dev/shm", &b) < 0 || stat("/tmp", &a) < 0 || a.st_dev == b.st_dev)
                printf("/dev/shm and /tmp share a file system: the copy path is not exercised\n");
        runtime_directory_case(access("/dev/shm", W_OK) == 0 ? "/dev/shm/test-store-rt-XXXXXX"
                                                             : "/tmp/test-store-rt-XXXXXX");
}

/* Runtime records are rewritten in place: the new text goes into a spare file that
 * RENAME_EXCHANGE swaps with the record, so the directory holds the record and one spare,
 * never more; the record always reads whole; a deletion takes both; a spare removed by hand
 * is made again; a load removes spares like any interrupted write. */
TEST(runtime_records_rewrite_a_spare_in_place)
{
        char *dir = make_dir(), path[512];
        Store *s = NULL;
        StoreLoad l;
        StoreRuntime rt;
        struct stat st;

        ASSERT_OK(store_open(&s, dir, NULL));
        runtime(&rt, "spin");
        for (int i = 0; i < 200; i++) {
                rt.vmid = (uint16_t)(0x80 + i % 50);
                rt.n_parcels = 1 + (size_t)(i % 2); /* the record shrinks and grows */
                ASSERT_OK(store_save_runtime(s, &rt));
                ASSERT_TRUE(count_entries(dir, "runtime") <= 2);
        }
        ASSERT_EQ(count_entries(dir, "runtime"), 2);
        snprintf(path, sizeof(path), "%s/runtime/.tmp-spin.json", dir);
        ASSERT_OK(unlink(path));
        rt.vmid = 0x99;
        ASSERT_OK(store_save_runtime(s, &rt));
        ASSERT_OK(store_load(s, &l)); /* removes the spare */
        ASSERT_EQ(l.n_runtimes, 1);
        ASSERT_EQ(l.runtimes[0].vmid, 0x99);
        ASSERT_EQ(l.n_quarantined, 0);
        store_load_done(&l);
        ASSERT_EQ(count_entries(dir, "runtime"), 1);
        /* after a load the files are opened again: still a whole record each time */
        for (int i = 0; i < 3; i++) {
                rt.vmid = (uint16_t)(0x70 + i);
                ASSERT_OK(store_save_runtime(s, &rt));
        }
        snprintf(path, sizeof(path), "%s/runtime/spin.json", dir);
        ASSERT_OK(stat(path, &st));
        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.runtimes[0].vmid, 0x72);
        store_load_done(&l);
        ASSERT_OK(store_save_runtime(s, &rt));
        ASSERT_OK(store_delete_runtime(s, "spin"));
        ASSERT_EQ(count_entries(dir, "runtime"), 0);
        ASSERT_EQ(store_delete_runtime(s, "spin"), -ENOENT);
        store_free(s);
        rm_rf(dir);
        free(dir);
}

/* Out of file descriptors (RLIMIT_NOFILE reached), a runtime record is still written: the
 * VM's open record files are let go and the record is written the old way (a temp file and
 * a rename), which then has the descriptor it needs. */
static int nofile_child(const char *dir)
{
        Store *s = NULL;
        StoreLoad l;
        StoreRuntime rt;
        struct rlimit rl;
        int fd, r = 0;

        runtime(&rt, "nofd");
        if (store_open(&s, dir, NULL) < 0 || store_save_runtime(s, &rt) < 0)
                return 2;
        /* the lowest free descriptor number, then no more than that */
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 3;
        close(fd);
        rl.rlim_cur = (rlim_t)fd;
        rl.rlim_max = (rlim_t)fd + 64;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                return 4;
        for (int i = 0; i < 5 && r == 0; i++) {
                rt.vmid = (uint16_t)(0x90 + i);
                r = store_save_runtime(s, &rt);
        }
        if (r < 0)
                return 5;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                return 6;
        if (store_load(s, &l) < 0 || l.n_runtimes != 1 || l.runtimes[0].vmid != 0x94 ||
            l.n_quarantined != 0)
                return 7;
        store_load_done(&l);
        store_free(s);
        return 0;
}

/* Run child(dir) in a child process (which may change its limits or mounts); its exit status
 * is the step that failed, 0 for none, 77 for "cannot run here". */
static int in_child(int (*child)(const char *dir))
{
        char *dir = make_dir();
        int status;
        pid_t pid = fork();

        ASSERT_TRUE(pid >= 0);
        if (pid == 0)
                _exit(child(dir));
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        rm_rf(dir);
        free(dir);
        return WEXITSTATUS(status);
}

TEST(runtime_record_written_when_out_of_descriptors)
{
        int step = in_child(nofile_child);

        if (step != 0)
                TEST_FAIL_("out-of-descriptors case failed at step %d", step);
}

/* A runtime record names the host boot it was written in; after a reboot the VMIDs and
 * parcels it names are gone with the RM's state, so it is quarantined, not recovered. */
TEST(runtime_records_of_an_earlier_boot_are_quarantined)
{
        static const char boot_a[] = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        static const char boot_b[] = "11111111-2222-3333-4444-555555555555";
        char *dir = make_dir(), *json = NULL;
        Store *s = NULL;
        StoreLoad l;
        StoreRuntime rt, back;
        const char *why = NULL;

        ASSERT_OK(store_open(&s, dir, NULL));
        /* the real boot id was read at open: saving and loading in one boot keeps it */
        runtime(&rt, "same");
        ASSERT_OK(store_save_runtime(s, &rt));
        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.n_runtimes, 1);
        ASSERT_TRUE(store_boot_id_is_valid(l.runtimes[0].host_boot));
        store_load_done(&l);
        ASSERT_OK(store_delete_runtime(s, "same"));

        ASSERT_EQ(store_set_boot_id(s, "not-a-boot-id"), -EINVAL);
        ASSERT_OK(store_set_boot_id(s, boot_a));
        runtime(&rt, "old");
        ASSERT_OK(store_save_runtime(s, &rt));
        ASSERT_OK(store_set_boot_id(s, "")); /* unknown: no host_boot written */
        runtime(&rt, "unstamped");
        ASSERT_OK(store_save_runtime(s, &rt));
        ASSERT_OK(store_set_boot_id(s, boot_a));
        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.n_runtimes, 2); /* same boot, and a record that cannot tell */
        ASSERT_STREQ(l.runtimes[0].name, "old");
        ASSERT_STREQ(l.runtimes[0].host_boot, boot_a);
        ASSERT_STREQ(l.runtimes[1].host_boot, "");
        store_load_done(&l);

        ASSERT_OK(store_set_boot_id(s, boot_b)); /* the host rebooted */
        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.n_runtimes, 1);
        ASSERT_STREQ(l.runtimes[0].name, "unstamped");
        ASSERT_EQ(l.n_quarantined, 1);
        ASSERT_STREQ(l.quarantined[0].file, "runtime/old.json");
        ASSERT_STREQ(l.quarantined[0].reason, "written in an earlier boot of the host");
        store_load_done(&l);
        ASSERT_TRUE(exists(dir, "quarantine/runtime-old.json"));

        /* the field itself: round trip, and anything but a boot id refused */
        memcpy(rt.host_boot, boot_b, sizeof(boot_b));
        ASSERT_OK(store_runtime_to_json(&rt, &json));
        ASSERT_OK(store_runtime_from_json(json, strlen(json), &back, &why));
        ASSERT_STREQ(back.host_boot, boot_b);
        store_runtime_done(&back);
        free(json);
        {
                static const char *const bad[] = {
                        "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",
                        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f",
                        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f00",
                        "0f1e2d3c4b5a-6978-8796-a5b4c3d2e1f0-",
                        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f\\u0000",
                        "",
                };
                for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                        char doc[512];

                        snprintf(doc, sizeof(doc),
                                 "{\"version\":2,\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":128,\"rm_status\":3,\"boot\":\"v17\",\"host_boot\":\"%s\",\"parcels\":[],\"ranges\":[]}",
                                 bad[i]);
                        if (store_runtime_from_json(doc, strlen(doc), &back, &why) != -EBADMSG)
                                TEST_FAIL_("host_boot bad[%zu] accepted", i);
                }
                const char *num = "{\"version\":2,\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":128,\"rm_status\":3,\"boot\":\"v17\",\"host_boot\":7,\"parcels\":[],\"ranges\":[]}";
                ASSERT_EQ(store_runtime_from_json(num, strlen(num), &back, &why), -EBADMSG);
        }
        store_free(s);
        rm_rf(dir);
        free(dir);
}

TEST(corrupt_records_are_quarantined)
{
        char *dir = make_dir();
        Store *s = NULL;
        StoreLoad l;
        VmConfig a;
        char *json = NULL;
        int fd;

        ASSERT_OK(store_open(&s, dir, NULL));
        def(&a, "good");
        ASSERT_OK(store_save_definition(s, &a));
        ASSERT_OK(store_definition_to_json(&a, &json));
        /* truncated copy, garbage, wrong file name, unexpected name, a directory */
        write_file(dir, "definitions", "trunc.json", json, strlen(json) / 2);
        write_file(dir, "definitions", "garbage.json", "\x01\x02\xff garbage", 11);
        write_file(dir, "definitions", "other.json", json, strlen(json)); /* name "good" */
        write_file(dir, "runtime", "notes.txt", "hello", 5);
        write_file(dir, "runtime", "empty.json", "", 0);
        {
                char path[512];

                snprintf(path, sizeof(path), "%s/runtime/dir.json", dir);
                ASSERT_EQ(mkdir(path, 0700), 0);
                snprintf(path, sizeof(path), "%s/definitions/link.json", dir);
                ASSERT_EQ(symlink("/etc/passwd", path), 0);
        }
        /* an oversized record */
        {
                char path[512];

                snprintf(path, sizeof(path), "%s/runtime/big.json", dir);
                fd = open(path, O_WRONLY | O_CREAT, 0600);
                ASSERT_TRUE(fd >= 0);
                ASSERT_EQ(ftruncate(fd, (off_t)STORE_FILE_MAX + 1), 0);
                close(fd);
        }

        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.n_definitions, 1);
        ASSERT_STREQ(l.definitions[0].name, "good");
        ASSERT_EQ(l.n_runtimes, 0);
        ASSERT_EQ(l.n_quarantined, 8);
        for (size_t i = 0; i < l.n_quarantined; i++) {
                ASSERT_TRUE(l.quarantined[i].reason && *l.quarantined[i].reason);
                fprintf(stderr, "quarantined %s: %s\n", l.quarantined[i].file,
                        l.quarantined[i].reason);
        }
        ASSERT_STREQ(l.quarantined[0].file, "definitions/garbage.json");
        ASSERT_STREQ(l.quarantined[0].reason, "not valid JSON");
        ASSERT_STREQ(l.quarantined[2].file, "definitions/other.json");
        ASSERT_STREQ(l.quarantined[2].reason, "record name differs from its file name");
        store_load_done(&l);

        ASSERT_TRUE(exists(dir, "quarantine/definitions-trunc.json"));
        ASSERT_TRUE(exists(dir, "quarantine/definitions-garbage.json"));
        ASSERT_TRUE(exists(dir, "quarantine/runtime-notes.txt"));
        ASSERT_TRUE(exists(dir, "quarantine/runtime-big.json"));
        ASSERT_TRUE(!exists(dir, "definitions/trunc.json"));
        ASSERT_EQ(count_entries(dir, "definitions"), 1);
        ASSERT_EQ(count_entries(dir, "runtime"), 0);

        /* a second corrupt file of the same name does not overwrite the first */
        write_file(dir, "definitions", "trunc.json", "{", 1);
        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.n_quarantined, 1);
        store_load_done(&l);
        ASSERT_TRUE(exists(dir, "quarantine/definitions-trunc.json.1"));

        free(json);
        vm_config_done(&a);
        store_free(s);
        rm_rf(dir);
        free(dir);
}

/* n extents of 4 KiB, 8 KiB apart (a pool at 4 KiB fragmentation), then a few irregular
 * ones: every list shape the encoder meets (runs, single extents, a run after a single). */
static PoolExtent *fragmented(size_t n)
{
        PoolExtent *e = calloc(n, sizeof(*e));
        uint64_t ipa = UINT64_C(0x100000000);

        ASSERT_TRUE(e != NULL);
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && i % 100000 == 0)
                        ipa += 3 * 4096; /* a different gap: a new run */
                e[i] = (PoolExtent){ ipa, i % 300000 == 299999 ? 8192 : 4096 };
                ipa += e[i].size + 4096;
        }
        return e;
}

static double now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Save through the store and load back: the exact lists come back; returns the record size. */
static size_t round_trip_extents(size_t n)
{
        char *dir = make_dir();
        PoolExtent *e = fragmented(n);
        StoreParcel p = { .handle = 5, .guest_offset = 0, .accepted = true, .sgl = e, .n_sgl = n };
        StoreRuntime rt = { .name = (char *)"frag", .vmid = 0x81, .rm_status = 3,
                            .boot = STORE_BOOT_V17, .parcels = &p, .n_parcels = 1,
                            .ranges = e, .n_ranges = n };
        Store *s = NULL;
        StoreLoad l;
        char *json = NULL;
        size_t len;
        double t0, t1;

        ASSERT_OK(store_open(&s, dir, NULL));
        t0 = now_ms();
        ASSERT_OK(store_save_runtime(s, &rt));
        t1 = now_ms();
        ASSERT_OK(store_runtime_to_json(&rt, &json));
        len = strlen(json);
        fprintf(stderr, "%zu extents: record %zu bytes, store_save_runtime %.1f ms (information)\n",
                n, len, t1 - t0);
        free(json);
        ASSERT_OK(store_load(s, &l));
        ASSERT_EQ(l.n_quarantined, 0);
        ASSERT_EQ(l.n_runtimes, 1);
        ASSERT_EQ(l.runtimes[0].n_ranges, n);
        ASSERT_EQ(l.runtimes[0].n_parcels, 1);
        ASSERT_EQ(l.runtimes[0].parcels[0].n_sgl, n);
        ASSERT_TRUE(memcmp(l.runtimes[0].ranges, e, n * sizeof(*e)) == 0);
        ASSERT_TRUE(memcmp(l.runtimes[0].parcels[0].sgl, e, n * sizeof(*e)) == 0);
        store_load_done(&l);
        store_free(s);
        free(e);
        rm_rf(dir);
        free(dir);
        return len;
}

TEST(extents_round_trip_compact)
{
        PoolExtent one = { 0x40000000, 4096 };
        StoreParcel p = { .handle = 1, .sgl = &one, .n_sgl = 1 };
        StoreRuntime rt = { .name = (char *)"one", .vmid = 0x80, .boot = STORE_BOOT_V17,
                            .parcels = &p, .n_parcels = 1, .ranges = &one, .n_ranges = 1 };
        StoreRuntime back;
        char *json = NULL;

        /* 1 extent: a pair */
        ASSERT_OK(store_runtime_to_json(&rt, &json));
        ASSERT_TRUE(strstr(json, "\"ranges\":[[1073741824,4096]]") != NULL);
        ASSERT_TRUE(strstr(json, "\"version\":2") != NULL);
        ASSERT_OK(store_runtime_from_json(json, strlen(json), &back, NULL));
        ASSERT_EQ(back.n_ranges, 1);
        ASSERT_MEMEQ(back.ranges, &one, sizeof(one));
        store_runtime_done(&back);
        free(json);

        /* 1 Mi and 4 Mi extents (4 GiB and 16 GiB at 4 KiB): a few runs, a small record */
        ASSERT_TRUE(round_trip_extents(1u << 20) < 4096);
        ASSERT_TRUE(round_trip_extents(4u << 20) < 16384);
        /* the sizes docs/performance.md measured (timing printed, never asserted) */
        (void)round_trip_extents(262144);
}

TEST(extents_irregular_lists_round_trip)
{
        /* descending, overlapping strides, equal ipa, mixed sizes: pairs where no run fits */
        static PoolExtent r[] = {
                { 0x40000000, 4096 }, { 0x40002000, 4096 }, { 0x40004000, 4096 },
                { 0x40010000, 8192 }, { 0x40008000, 4096 }, { 0x40006000, 4096 },
                { 0x40020000, 4096 }, { 0x40021000, 4096 }, { 0x40022000, 8192 },
                { 0x40030000, 4096 }, { 0x40031000, 4096 }, { 0x40033000, 4096 },
        };
        StoreParcel p[2] = {
                { .handle = 1, .sgl = r, .n_sgl = ELEMENTSOF(r) },
                { .handle = UINT32_MAX, .pending = true, .sgl = r + 3, .n_sgl = 3 },
        };
        StoreRuntime rt = { .name = (char *)"irr", .vmid = 0x80, .boot = STORE_BOOT_V17,
                            .parcels = p, .n_parcels = 2, .ranges = r,
                            .n_ranges = ELEMENTSOF(r) };
        StoreRuntime back;
        char *json = NULL;
        const char *why = NULL;

        ASSERT_OK(store_runtime_to_json(&rt, &json));
        ASSERT_OK(store_runtime_from_json(json, strlen(json), &back, &why));
        ASSERT_EQ(back.n_ranges, ELEMENTSOF(r));
        ASSERT_MEMEQ(back.ranges, r, sizeof(r));
        ASSERT_EQ(back.parcels[0].n_sgl, ELEMENTSOF(r));
        ASSERT_MEMEQ(back.parcels[0].sgl, r, sizeof(r));
        ASSERT_EQ(back.parcels[1].n_sgl, 3);
        ASSERT_MEMEQ(back.parcels[1].sgl, r + 3, 3 * sizeof(*r));
        ASSERT_TRUE(back.parcels[1].pending);
        store_runtime_done(&back);
        free(json);
}

/* The runtime record is printed without json-c (store.c): the exact text json-c's
 * JSON_C_TO_STRING_PLAIN gave for the same record, escapes included (a name that is not a
 * valid VM name still has to come out as valid JSON). */
TEST(runtime_record_text_is_exact)
{
        static PoolExtent r[] = {
                { 0x80000000, 4096 }, { 0x80002000, 4096 }, { 0x80004000, 4096 },
                { 0x80006000, 4096 }, { 0x80400000, 4096 }, { 0x80500000, 4096 },
                { 0x80600000, 4096 },
        };
        StoreParcel p[3] = {
                { .handle = 100, .sgl = r, .n_sgl = 2 },
                { .handle = 101, .label = 7, .guest_offset = UINT64_C(1) << 40, .accepted = true,
                  .sgl = r, .n_sgl = 3 },
                { .handle = UINT32_MAX, .label = 14, .guest_offset = UINT64_C(2) << 40,
                  .pending = true, .sgl = r, .n_sgl = 4 },
        };
        StoreRuntime rt = { .name = (char *)"we\"ird\\n\x01/\t", .vmid = 8, .rm_status = 3,
                            .boot = STORE_BOOT_OPEN_RM, .parcels = p, .n_parcels = 3,
                            .ranges = r, .n_ranges = ELEMENTSOF(r) };
        StoreRuntime empty = { .name = (char *)"dp", .vmid = 5, .boot = STORE_BOOT_V17 };
        char *json = NULL;

        memcpy(rt.host_boot, "01234567-89ab-cdef-0123-456789abcdef", STORE_BOOT_ID_LEN + 1);
        ASSERT_OK(store_runtime_to_json(&rt, &json));
        ASSERT_STREQ(json,
                     "{\"version\":2,\"kind\":\"runtime\",\"name\":\"we\\\"ird\\\\n\\u0001\\/\\t\","
                     "\"vmid\":8,\"rm_status\":3,\"boot\":\"open-rm\","
                     "\"host_boot\":\"01234567-89ab-cdef-0123-456789abcdef\",\"parcels\":["
                     "{\"handle\":100,\"label\":0,\"guest_offset\":0,\"accepted\":false,"
                     "\"sgl\":[[2147483648,4096,2,8192]]},"
                     "{\"handle\":101,\"label\":7,\"guest_offset\":1099511627776,\"accepted\":true,"
                     "\"sgl\":[[2147483648,4096,3,8192]]},"
                     "{\"handle\":4294967295,\"label\":14,\"guest_offset\":2199023255552,"
                     "\"accepted\":false,\"pending\":true,\"sgl\":[[2147483648,4096,4,8192]]}],"
                     "\"ranges\":[[2147483648,4096,4,8192],[2151677952,4096,3,1048576]]}");
        free(json);
        ASSERT_OK(store_runtime_to_json(&empty, &json));
        ASSERT_STREQ(json, "{\"version\":2,\"kind\":\"runtime\",\"name\":\"dp\",\"vmid\":5,"
                           "\"rm_status\":0,\"boot\":\"v17\",\"parcels\":[],\"ranges\":[]}");
        free(json);
        empty.boot = _STORE_BOOT_INVALID;
        ASSERT_EQ(store_runtime_to_json(&empty, &json), -EINVAL);
}

#define RT_HEAD(v) "{\"version\":" #v ",\"kind\":\"runtime\",\"name\":\"a\",\"vmid\":128,\"rm_status\":3,\"boot\":\"v17\","
#define RT_PARCEL(sgl) "\"parcels\":[{\"handle\":1,\"label\":0,\"guest_offset\":0,\"accepted\":false,\"sgl\":" sgl "}],"

TEST(extent_runs_rejects)
{
        static const char *bad[] = {
                /* a run in a version 1 record */
                RT_HEAD(1) "\"parcels\":[],\"ranges\":[[0,4096,2,8192]]}",
                /* shapes: 1, 3, 5 elements, not an array, a non-integer */
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,2]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,2,8192,0]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[0]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,2,\"8192\"]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,2.0,8192]]}",
                /* count 0, 1 (a single extent is a pair), negative, over the limit */
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,0,8192]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,1,8192]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,-2,8192]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,8388609,4096]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,4294967298,4096]]}",
                /* stride 0, below the size (overlap), misaligned, negative, huge */
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,2,0]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,8192,2,4096]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,2,6144]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,2,-4096]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,2,17592186048512]]}",
                /* past the IPA limit: the last extent starts, or ends, beyond 2^44 */
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[17592185978880,4096,3,32768]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[17592186036224,8192,2,8192]]}",
                /* misaligned base, zero size inside a run */
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[2048,4096,2,8192]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,0,2,4096]]}",
                /* runs that overlap each other, or an SGL run outside the ranges */
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[0,4096,4,8192],[8192,4096,2,16384]]}",
                RT_HEAD(2) RT_PARCEL("[[0,4096,3,8192]]") "\"ranges\":[[0,4096,2,8192]]}",
                /* the whole record over STORE_EXTENTS_TOTAL_MAX (3 x 8 Mi) */
                RT_HEAD(2) "\"parcels\":[{\"handle\":1,\"label\":0,\"guest_offset\":0,\"accepted\":false,\"sgl\":[[0,4096,8388608,4096]]},"
                           "{\"handle\":2,\"label\":0,\"guest_offset\":0,\"accepted\":false,\"sgl\":[[0,4096,8388608,4096]]}],"
                           "\"ranges\":[[0,4096,8388608,4096]]}",
        };
        const char *good[] = {
                RT_HEAD(1) RT_PARCEL("[[4096,4096]]") "\"ranges\":[[0,8192]]}",
                RT_HEAD(2) RT_PARCEL("[[4096,4096]]") "\"ranges\":[[0,8192]]}",
                RT_HEAD(2) RT_PARCEL("[[8192,4096,2,8192]]") "\"ranges\":[[0,4096,4,8192]]}",
                RT_HEAD(2) RT_PARCEL("[[0,4096,3,4096]]") "\"ranges\":[[0,12288]]}",
                RT_HEAD(2) "\"parcels\":[],\"ranges\":[[17592186032128,4096,2,8192]]}",
        };
        StoreRuntime rt;
        const char *why;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                why = NULL;
                if (store_runtime_from_json(good[i], strlen(good[i]), &rt, &why) != 0)
                        TEST_FAIL_("good[%zu] rejected: %s", i, why ? why : "?");
                store_runtime_done(&rt);
        }
        ASSERT_OK(store_runtime_from_json(good[2], strlen(good[2]), &rt, NULL));
        ASSERT_EQ(rt.n_ranges, 4);
        ASSERT_U64_EQ(rt.ranges[3].ipa, 3 * 8192);
        ASSERT_EQ(rt.parcels[0].n_sgl, 2);
        ASSERT_U64_EQ(rt.parcels[0].sgl[1].ipa, 16384);
        store_runtime_done(&rt);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                why = NULL;
                if (store_runtime_from_json(bad[i], strlen(bad[i]), &rt, &why) != -EBADMSG)
                        TEST_FAIL_("bad[%zu] accepted", i);
                ASSERT_TRUE(why != NULL);
                fprintf(stderr, "bad[%zu]: %s\n", i, why);
                ASSERT_TRUE(rt.name == NULL && rt.parcels == NULL && rt.ranges == NULL);
        }
}

/* A real full filesystem (a 64 KiB tmpfs in a private mount namespace, so nothing is left
 * mounted): a record that does not fit fails with -ENOSPC, leaves no temp file, and the
 * record it was replacing stays intact. Needs CAP_SYS_ADMIN (the tests run as root). */
static int full_fs_child(const char *dir)
{
        PoolExtent *e = calloc(20000, sizeof(*e));
        StoreParcel p = { .handle = 1, .sgl = e, .n_sgl = 1 };
        StoreRuntime rt = { .name = (char *)"full", .vmid = 0x80, .boot = STORE_BOOT_V17,
                            .parcels = &p, .n_parcels = 1, .ranges = e, .n_ranges = 1 };
        Store *s = NULL;
        StoreLoad l;

        if (!e)
                return 2;
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", dir, "tmpfs", 0, "size=64k") < 0)
                return 77;
        /* ascending, irregular gaps: no runs, ~500 KB of JSON */
        for (size_t i = 0; i < 20000; i++)
                e[i] = (PoolExtent){ UINT64_C(0x100000000) + i * i * 4096 + i * 8192, 4096 };
        if (store_open(&s, dir, NULL) < 0 || store_save_runtime(s, &rt) < 0)
                return 3; /* one extent: fits */
        rt.n_ranges = p.n_sgl = 20000;
        if (store_save_runtime(s, &rt) != -ENOSPC)
                return 4;
        if (count_entries(dir, "runtime") != 1) /* the record, no temp file */
                return 5;
        if (store_load(s, &l) < 0 || l.n_runtimes != 1 || l.runtimes[0].n_ranges != 1 ||
            l.n_quarantined != 0)
                return 6;
        store_load_done(&l);
        store_free(s);
        free(e);
        return 0;
}

TEST(runtime_save_on_a_full_filesystem)
{
        int step = in_child(full_fs_child);

        if (step == 77)
                fprintf(stderr, "no CAP_SYS_ADMIN: the full-tmpfs case did not run\n");
        else if (step != 0)
                TEST_FAIL_("full filesystem case failed at step %d", step);
}

TEST_MAIN()
