/* SPDX-License-Identifier: MIT */
/*
 * org.varlink.service, built into every ApiServer: GetInfo (vendor, product, version, url,
 * interfaces) and GetInterfaceDescription (the IDL text of a registered interface).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <string.h>

#include "api-json.h"
#include "api-server-internal.h"
#include "api.h"
#include "macro.h"

static int method_get_info(ApiCall *call, struct json_object *parameters, void *userdata)
{
        ApiServer *s = userdata;
        struct json_object *p = json_object_new_object();
        struct json_object *ifaces = json_object_new_array();
        if (!p || !ifaces) {
                json_object_put(p);
                json_object_put(ifaces);
                return -ENOMEM;
        }
        api_json_add_string(p, "vendor", API_VENDOR);
        api_json_add_string(p, "product", API_PRODUCT);
        api_json_add_string(p, "version", s->opts.version);
        api_json_add_string(p, "url", API_URL);
        for (size_t i = 0; i < s->n_ifaces; i++)
                (void)json_object_array_add(ifaces,
                                            json_object_new_string(s->ifaces[i].iface->name));
        api_json_add(p, "interfaces", ifaces);
        return api_call_reply(call, p);
}

typedef struct DescriptionParams {
        const char *interface;
} DescriptionParams;

static const ApiField description_fields[] = {
        { "interface", API_JSON_STRING, API_FIELD_REQUIRED,
          offsetof(DescriptionParams, interface) },
        API_FIELD_END,
};

static int method_get_interface_description(ApiCall *call, struct json_object *parameters,
                                            void *userdata)
{
        ApiServer *s = userdata;
        DescriptionParams d = {};
        const char *field;
        if (api_json_dispatch(parameters, description_fields, &d, NULL, &field) < 0)
                return api_call_error_invalid_parameter(call, field);
        for (size_t i = 0; i < s->n_ifaces; i++) {
                const ApiInterface *iface = s->ifaces[i].iface;
                if (strcmp(iface->name, d.interface) != 0)
                        continue;
                struct json_object *p = json_object_new_object();
                if (!p)
                        return -ENOMEM;
                api_json_add_string(p, "description", iface->description);
                return api_call_reply(call, p);
        }
        struct json_object *p = json_object_new_object();
        if (p)
                api_json_add_string(p, "interface", d.interface);
        return api_call_error(call, API_ERROR_INTERFACE_NOT_FOUND, p);
}

static const ApiMethod service_methods[] = {
        { "GetInfo", method_get_info, 0, (const ApiField[]){ API_FIELD_END } },
        { "GetInterfaceDescription", method_get_interface_description, 0, description_fields },
        { .name = NULL },
};

static const ApiInterface service_interface = {
        .name = API_INTERFACE_SERVICE,
        .description = api_idl_service,
        .methods = service_methods,
};

int api_service_register(ApiServer *s)
{
        return api_server_add_interface(s, &service_interface, s);
}
