/* SPDX-License-Identifier: MIT */
/*
 * io.gunyah.Manager.GetDaemonInfo: version, RM link, RM profile and capabilities, pool
 * usage, VM counts and the API limits this daemon enforces.
 */
#include <errno.h>
#include <json-c/json.h>

#include "api-json.h"
#include "api-manager.h"
#include "macro.h"
#include "manager.h"

static const struct {
        uint32_t cap;
        const char *name;
} cap_names[] = {
        { MANAGER_CAP_BOOT_CONTEXT, "boot-context" },
        { MANAGER_CAP_DEMAND_PAGING, "demand-paging" },
        { MANAGER_CAP_ADDRESS_LAYOUT, "address-layout" },
};

static struct json_object *capabilities_json(const ManagerInfo *info)
{
        if (!info->caps_known)
                return NULL;
        struct json_object *a = json_object_new_array();
        if (!a)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(cap_names); i++)
                if (info->caps & cap_names[i].cap)
                        (void)json_object_array_add(a, json_object_new_string(cap_names[i].name));
        return a;
}

int api_daemon_method_info(ApiCall *call, struct json_object *parameters, void *userdata)
{
        ApiManager *am = userdata;
        ManagerInfo info;
        manager_get_info(am->manager, &info);
        struct json_object *o = json_object_new_object();
        struct json_object *link = json_object_new_object();
        struct json_object *pool = json_object_new_object();
        struct json_object *limits = json_object_new_object();
        if (!o || !link || !pool || !limits) {
                json_object_put(o);
                json_object_put(link);
                json_object_put(pool);
                json_object_put(limits);
                return -ENOMEM;
        }
        api_json_add_string(o, "version", info.version);
        api_json_add_string(link, "state", manager_link_state_to_string(info.link));
        api_json_add_bool(link, "ready", info.ready);
        if (info.rm_transport)
                api_json_add_string(link, "transport", info.rm_transport);
        if (info.rm_link)
                api_json_add_string(link, "description", info.rm_link);
        api_json_add_uint(link, "calls", info.rm_calls);
        api_json_add_uint(link, "rmErrors", info.rm_errors);
        api_json_add_uint(link, "timeouts", info.rm_timeouts);
        api_json_add_uint(link, "linkFailures", info.rm_link_failures);
        api_json_add_uint(link, "badPackets", info.rm_bad_packets);
        api_json_add_uint(link, "notifications", info.rm_notifications);
        api_json_add(o, "rmLink", link);
        api_json_add_string(o, "rmProfile", info.rm_profile ? info.rm_profile : "unknown");
        api_json_add(o, "capabilities", capabilities_json(&info));
        api_json_add_uint(pool, "ipa", info.pool_ipa);
        api_json_add_uint(pool, "size", info.pool_size);
        api_json_add_uint(pool, "used", info.pool_used);
        api_json_add_uint(pool, "available", info.pool_free);
        api_json_add_uint(pool, "largestFree", info.pool_largest_free);
        api_json_add_uint(pool, "quarantined", info.pool_quarantined);
        api_json_add_uint(pool, "quarantinedRanges", info.n_quarantined);
        api_json_add(o, "pool", pool);
        api_json_add_uint(o, "vmCount", info.n_vms);
        api_json_add_uint(o, "runningCount", info.n_running);
        size_t max_message;
        unsigned max_depth, max_conn, max_per_uid;
        api_server_get_limits(am->server, &max_message, &max_depth, &max_conn, &max_per_uid);
        api_json_add_uint(limits, "maxMessageSize", max_message);
        api_json_add_uint(limits, "maxDepth", max_depth);
        api_json_add_uint(limits, "maxConnections", max_conn);
        api_json_add_uint(limits, "maxConnectionsPerUser", max_per_uid);
        api_json_add(o, "limits", limits);
        return api_call_reply(call, o);
}
