/* SPDX-License-Identifier: MIT */
/*
 * Store record loader. Input: byte 0 selects the kind (even: definition, odd: runtime), the
 * rest is the file content. A record that loads must serialize and load again to the same
 * record (extent lists compared exactly: runs expand to what was saved), and a rejected one
 * must come with a reason.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

static void check_definition(const char *buf, size_t len)
{
        VmConfig c, again;
        const char *why = NULL;
        char *json = NULL;

        int r = store_definition_from_json(buf, len, &c, &why);

        if (r < 0) {
                if (r == -EBADMSG && !why)
                        abort();
                return;
        }
        if (vm_config_validate(&c, 0, NULL) < 0)
                abort();
        if (store_definition_to_json(&c, &json) < 0)
                abort();
        if (store_definition_from_json(json, strlen(json), &again, &why) < 0)
                abort();
        if (strcmp(c.name, again.name) != 0 || c.vcpus != again.vcpus ||
            c.memory_size != again.memory_size || memcmp(c.uuid, again.uuid, 16) != 0 ||
            strcmp(c.kernel, again.kernel) != 0 || !c.initrd != !again.initrd ||
            !c.cmdline != !again.cmdline)
                abort();
        free(json);
        vm_config_done(&c);
        vm_config_done(&again);
}

static void check_runtime(const char *buf, size_t len)
{
        StoreRuntime rt, again;
        const char *why = NULL;
        char *json = NULL;

        int r = store_runtime_from_json(buf, len, &rt, &why);

        if (r < 0) {
                if (r == -EBADMSG && !why)
                        abort();
                return;
        }
        if (store_runtime_validate(&rt, NULL) < 0)
                abort();
        if (store_runtime_to_json(&rt, &json) < 0)
                abort();
        if (store_runtime_from_json(json, strlen(json), &again, &why) < 0)
                abort();
        if (rt.vmid != again.vmid || rt.n_parcels != again.n_parcels ||
            rt.n_ranges != again.n_ranges || strcmp(rt.name, again.name) != 0 ||
            (rt.n_ranges && memcmp(rt.ranges, again.ranges, rt.n_ranges * sizeof(PoolExtent))))
                abort();
        /* extent runs expand to the exact lists that were saved */
        for (size_t i = 0; i < rt.n_parcels; i++)
                if (rt.parcels[i].handle != again.parcels[i].handle ||
                    rt.parcels[i].pending != again.parcels[i].pending ||
                    rt.parcels[i].n_sgl != again.parcels[i].n_sgl ||
                    memcmp(rt.parcels[i].sgl, again.parcels[i].sgl,
                           rt.parcels[i].n_sgl * sizeof(PoolExtent)) != 0)
                        abort();
        free(json);
        store_runtime_done(&rt);
        store_runtime_done(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        if (data[0] & 1)
                check_runtime((const char *)data + 1, size - 1);
        else
                check_definition((const char *)data + 1, size - 1);
        return 0;
}
