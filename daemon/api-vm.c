/* SPDX-License-Identifier: MIT */
/*
 * io.gunyah.Manager VM methods: CreateVM, StartVM (progress with "more"), StopVM, DestroyVM,
 * ListVMs, DescribeVM. Asynchronous ones keep the call (and an operation handle) in a
 * VmCallCtx until the manager's done callback; if the client leaves first, the operation
 * is detached (it completes, unobserved) and the context freed.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "api-json.h"
#include "api-manager.h"
#include "api.h"
#include "image.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "vm-config.h"
#include "vm.h"

#define STOP_TIMEOUT_MAX_SEC (24u * 3600u)

/* ---- parameters ---- */

typedef struct CreateParams {
        const char *name;
        uint64_t memory_size;
        uint64_t vcpus;
        uint64_t memory_base;
        const char *kernel;
        uint64_t kernel_fd;
        const char *initrd;
        uint64_t initrd_fd;
        const char *cmdline;
        bool demand_paging;
        bool transient;
} CreateParams;

const ApiField api_vm_create_fields[] = {
        { "name", API_JSON_STRING, API_FIELD_REQUIRED | API_FIELD_BOUNDED,
          offsetof(CreateParams, name), 1, VM_NAME_MAX },
        { "memorySize", API_JSON_UINT, API_FIELD_REQUIRED, offsetof(CreateParams, memory_size) },
        { "vcpus", API_JSON_UINT, API_FIELD_BOUNDED, offsetof(CreateParams, vcpus), 1,
          VM_VCPUS_MAX },
        { "memoryBase", API_JSON_UINT, 0, offsetof(CreateParams, memory_base) },
        { "kernel", API_JSON_STRING, API_FIELD_BOUNDED, offsetof(CreateParams, kernel), 1,
          VM_PATH_MAX },
        { "kernelFd", API_JSON_UINT, API_FIELD_BOUNDED, offsetof(CreateParams, kernel_fd), 0,
          API_FDS_MAX - 1 },
        { "initrd", API_JSON_STRING, API_FIELD_BOUNDED, offsetof(CreateParams, initrd), 1,
          VM_PATH_MAX },
        { "initrdFd", API_JSON_UINT, API_FIELD_BOUNDED, offsetof(CreateParams, initrd_fd), 0,
          API_FDS_MAX - 1 },
        { "cmdline", API_JSON_STRING, API_FIELD_BOUNDED, offsetof(CreateParams, cmdline), 0,
          VM_CMDLINE_MAX },
        { "demandPaging", API_JSON_BOOL, 0, offsetof(CreateParams, demand_paging) },
        { "transient", API_JSON_BOOL, 0, offsetof(CreateParams, transient) },
        API_FIELD_END,
};

typedef struct NameParams {
        const char *name;
} NameParams;

const ApiField api_vm_name_fields[] = {
        { "name", API_JSON_STRING, API_FIELD_REQUIRED, offsetof(NameParams, name) },
        API_FIELD_END,
};

typedef struct StopParams {
        const char *name;
        bool force;
        uint64_t timeout;
} StopParams;

const ApiField api_vm_stop_fields[] = {
        { "name", API_JSON_STRING, API_FIELD_REQUIRED, offsetof(StopParams, name) },
        { "force", API_JSON_BOOL, 0, offsetof(StopParams, force) },
        { "timeout", API_JSON_UINT, API_FIELD_BOUNDED, offsetof(StopParams, timeout), 1,
          STOP_TIMEOUT_MAX_SEC },
        API_FIELD_END,
};

/* vm_config_validate() names config fields; the API names them in camelCase. */
static const char *api_field_name(const char *config_field)
{
        static const struct {
                const char *config, *api;
        } map[] = {
                { "memory_size", "memorySize" },
                { "memory_base", "memoryBase" },
        };
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (strcmp(map[i].config, config_field) == 0)
                        return map[i].api;
        return config_field;
}

static int reply_vm(ApiCall *call, const char *key, const Vm *vm)
{
        struct json_object *o = json_object_new_object();
        struct json_object *info = api_vm_info(vm);
        if (!o || !info) {
                json_object_put(o);
                json_object_put(info);
                return -ENOMEM;
        }
        api_json_add(o, key, info);
        return api_call_reply(call, o);
}

static Vm *lookup_or_reply(ApiManager *am, ApiCall *call, const char *name)
{
        Vm *vm = manager_vm_lookup(am->manager, name);
        if (!vm)
                (void)api_reply_manager_error(call, -ENOENT, name, NULL);
        return vm;
}

/* ---- CreateVM ---- */

/* An image passed as an fd is checked now, so a wrong file fails CreateVM, not StartVM. */
static int check_image_fd(ApiCall *call, int fd, const char *parameter)
{
        if (strcmp(parameter, "initrdFd") == 0)
                return 0; /* any bytes make an initrd */
        ImageHeader h;
        const char *reason = NULL;
        int r = image_header_read_fd(fd, &h, &reason);
        if (r >= 0)
                return 0;
        ApiErrorDetail d = { .parameter = parameter,
                             .reason = reason ? reason : "cannot read the file" };
        (void)api_call_error_errno(call, -ENOEXEC, &d);
        return -ENOEXEC;
}

static int take_image_fd(ApiCall *call, uint64_t index, const char *parameter, int *ret)
{
        int fd = api_call_take_fd(call, (unsigned)index);
        if (fd < 0) {
                (void)api_call_error_invalid_parameter(call, parameter);
                return fd;
        }
        int r = check_image_fd(call, fd, parameter);
        if (r < 0) {
                close(fd);
                return r;
        }
        *ret = fd;
        return 0;
}

static int config_from_params(ApiCall *call, const CreateParams *p, bool kernel_fd,
                              bool initrd_fd, VmConfig *c)
{
        c->name = strdup(p->name);
        c->memory_size = p->memory_size;
        if (p->vcpus)
                c->vcpus = (uint32_t)p->vcpus;
        if (p->memory_base)
                c->memory_base = p->memory_base;
        c->kernel = strdup(kernel_fd ? VM_SOURCE_FD : p->kernel);
        if (initrd_fd || p->initrd)
                c->initrd = strdup(initrd_fd ? VM_SOURCE_FD : p->initrd);
        if (p->cmdline)
                c->cmdline = strdup(p->cmdline);
        c->demand_paging = p->demand_paging;
        c->persistent = !p->transient;
        if (!c->name || !c->kernel || ((initrd_fd || p->initrd) && !c->initrd) ||
            (p->cmdline && !c->cmdline))
                return -ENOMEM;
        const char *field = NULL;
        if (vm_config_validate(c, 0, &field) < 0) {
                (void)api_call_error_invalid_parameter(call, field ? api_field_name(field)
                                                                   : "parameters");
                return -EINVAL;
        }
        return 0;
}

int api_vm_method_create(ApiCall *call, struct json_object *parameters, void *userdata)
{
        ApiManager *am = userdata;
        CreateParams p = {};
        uint64_t present;
        const char *field;
        if (api_json_dispatch(parameters, api_vm_create_fields, &p, &present, &field) < 0)
                return api_call_error_invalid_parameter(call, field);
        bool kfd = api_json_present(api_vm_create_fields, present, "kernelFd");
        bool ifd = api_json_present(api_vm_create_fields, present, "initrdFd");
        if (kfd == (p.kernel != NULL))
                return api_call_error_invalid_parameter(call, "kernel");
        if (ifd && p.initrd)
                return api_call_error_invalid_parameter(call, "initrd");

        _cleanup_(vm_config_done) VmConfig config;
        vm_config_init(&config);
        int r = config_from_params(call, &p, kfd, ifd, &config);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0; /* answered */
        _cleanup_close_ int kernel_fd = -1, initrd_fd = -1;
        if (kfd && take_image_fd(call, p.kernel_fd, "kernelFd", &kernel_fd) < 0)
                return 0;
        if (ifd && take_image_fd(call, p.initrd_fd, "initrdFd", &initrd_fd) < 0)
                return 0;

        EventCause cause;
        api_call_cause(call, &cause);
        ManagerError err = {};
        Vm *vm = NULL;
        r = manager_vm_create(am->manager, &config, !p.transient, &cause, &vm, &err);
        if (r < 0)
                return api_reply_manager_error(call, r, p.name, &err);
        if (kfd || ifd) {
                r = manager_vm_set_sources(am->manager, vm, kernel_fd, initrd_fd);
                if (r < 0)
                        log_warning_errno(r, "VM %s: cannot keep the image fds: %m; StartVM "
                                          "will ask for them again", p.name);
        }
        return reply_vm(call, "vm", vm);
}

/* ---- asynchronous operations ---- */

typedef struct VmCallCtx {
        ApiManager *am;
        ApiCall *call;
        VmOp *op;
        char *name;
} VmCallCtx;

static void ctx_free(VmCallCtx *ctx)
{
        api_call_unref(ctx->call);
        free(ctx->name);
        free(ctx);
}

static void ctx_disconnect(ApiCall *call, void *userdata)
{
        VmCallCtx *ctx = userdata;
        log_debug("API client left during %s %s; the operation goes on", api_call_method(call),
                  ctx->name);
        vm_op_detach(ctx->op);
        ctx_free(ctx);
}

static VmCallCtx *ctx_new(ApiManager *am, ApiCall *call, const char *name)
{
        VmCallCtx *ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return NULL;
        ctx->name = strdup(name);
        if (!ctx->name) {
                free(ctx);
                return NULL;
        }
        ctx->am = am;
        ctx->call = api_call_ref(call);
        return ctx;
}

/* The manager refused up front: answer and forget the context. */
static int ctx_refused(VmCallCtx *ctx, int r, const ManagerError *err)
{
        int k = api_reply_manager_error(ctx->call, r, ctx->name, err);
        ctx_free(ctx);
        return k;
}

static void op_done(Manager *m, Vm *vm, int r, const ManagerError *err, void *userdata)
{
        VmCallCtx *ctx = userdata;
        api_call_set_disconnect(ctx->call, NULL, NULL);
        if (r < 0)
                (void)api_reply_manager_error(ctx->call, r, ctx->name, err);
        else if (strcmp(api_call_method(ctx->call), API_METHOD_DESTROY_VM) == 0)
                (void)api_call_reply(ctx->call, NULL);
        else if (strcmp(api_call_method(ctx->call), API_METHOD_START_VM) == 0) {
                struct json_object *o = json_object_new_object();
                struct json_object *info = vm ? api_vm_info(vm) : NULL;
                if (o) {
                        api_json_add_string(o, "stage", API_STAGE_RUNNING);
                        api_json_add(o, "vm", info);
                } else
                        json_object_put(info);
                (void)api_call_reply(ctx->call, o);
        } else if (vm)
                (void)reply_vm(ctx->call, "vm", vm);
        else
                (void)api_call_reply(ctx->call, NULL);
        ctx_free(ctx);
}

static void start_progress(Manager *m, Vm *vm, const ManagerProgress *p, void *userdata)
{
        VmCallCtx *ctx = userdata;
        if (!api_call_more(ctx->call))
                return;
        struct json_object *o = json_object_new_object();
        if (!o)
                return;
        api_json_add_string(o, "stage", p->stage);
        api_json_add_uint(o, "step", p->step);
        api_json_add_uint(o, "steps", p->n_steps);
        api_json_add_nullable_string(o, "detail", p->detail);
        if (strcmp(p->stage, "lend") == 0) {
                api_json_add_uint(o, "parcelHandle", p->parcel_handle);
                api_json_add_uint(o, "parcelSize", p->parcel_bytes);
                api_json_add_uint(o, "parcelExtents", p->sgl_entries);
        }
        /* -ENOBUFS: the client does not read; the connection was closed and ctx freed by
         * the disconnect hook. Nothing else to do here. */
        (void)api_call_notify(ctx->call, o);
}

int api_vm_method_start(ApiCall *call, struct json_object *parameters, void *userdata)
{
        ApiManager *am = userdata;
        NameParams p = {};
        const char *field;
        if (api_json_dispatch(parameters, api_vm_name_fields, &p, NULL, &field) < 0)
                return api_call_error_invalid_parameter(call, field);
        Vm *vm = lookup_or_reply(am, call, p.name);
        if (!vm)
                return 0;
        VmCallCtx *ctx = ctx_new(am, call, p.name);
        if (!ctx)
                return -ENOMEM;
        EventCause cause;
        api_call_cause(call, &cause);
        ManagerError err = {};
        int r = manager_vm_start(am->manager, vm, &cause, start_progress, op_done, ctx, &ctx->op,
                                 &err);
        if (r < 0)
                return ctx_refused(ctx, r, &err);
        api_call_set_disconnect(call, ctx_disconnect, ctx);
        return 0;
}

int api_vm_method_stop(ApiCall *call, struct json_object *parameters, void *userdata)
{
        ApiManager *am = userdata;
        StopParams p = {};
        const char *field;
        if (api_json_dispatch(parameters, api_vm_stop_fields, &p, NULL, &field) < 0)
                return api_call_error_invalid_parameter(call, field);
        Vm *vm = lookup_or_reply(am, call, p.name);
        if (!vm)
                return 0;
        /* Desired state: stopping a stopped VM succeeds without touching anything. */
        if (vm_get_state(vm) == VM_STATE_STOPPED)
                return reply_vm(call, "vm", vm);
        VmCallCtx *ctx = ctx_new(am, call, p.name);
        if (!ctx)
                return -ENOMEM;
        EventCause cause;
        api_call_cause(call, &cause);
        ManagerError err = {};
        int r = manager_vm_stop(am->manager, vm, p.force, p.timeout * UINT64_C(1000000), &cause,
                                op_done, ctx, &ctx->op, &err);
        if (r < 0)
                return ctx_refused(ctx, r, &err);
        api_call_set_disconnect(call, ctx_disconnect, ctx);
        return 0;
}

int api_vm_method_destroy(ApiCall *call, struct json_object *parameters, void *userdata)
{
        ApiManager *am = userdata;
        NameParams p = {};
        const char *field;
        if (api_json_dispatch(parameters, api_vm_name_fields, &p, NULL, &field) < 0)
                return api_call_error_invalid_parameter(call, field);
        Vm *vm = lookup_or_reply(am, call, p.name);
        if (!vm)
                return 0;
        VmCallCtx *ctx = ctx_new(am, call, p.name);
        if (!ctx)
                return -ENOMEM;
        EventCause cause;
        api_call_cause(call, &cause);
        ManagerError err = {};
        int r = manager_vm_destroy(am->manager, vm, &cause, op_done, ctx, &ctx->op, &err);
        if (r < 0)
                return ctx_refused(ctx, r, &err);
        api_call_set_disconnect(call, ctx_disconnect, ctx);
        return 0;
}

/* ---- reads ---- */

int api_vm_method_list(ApiCall *call, struct json_object *parameters, void *userdata)
{
        ApiManager *am = userdata;
        struct json_object *o = json_object_new_object();
        struct json_object *vms = json_object_new_array();
        if (!o || !vms) {
                json_object_put(o);
                json_object_put(vms);
                return -ENOMEM;
        }
        for (Vm *vm = manager_vm_next(am->manager, NULL); vm; vm = manager_vm_next(am->manager, vm)) {
                struct json_object *s = api_vm_summary(vm);
                if (!s || json_object_array_add(vms, s) < 0) {
                        json_object_put(s);
                        json_object_put(o);
                        json_object_put(vms);
                        return -ENOMEM;
                }
        }
        api_json_add(o, "vms", vms);
        return api_call_reply(call, o);
}

int api_vm_method_describe(ApiCall *call, struct json_object *parameters, void *userdata)
{
        ApiManager *am = userdata;
        NameParams p = {};
        const char *field;
        if (api_json_dispatch(parameters, api_vm_name_fields, &p, NULL, &field) < 0)
                return api_call_error_invalid_parameter(call, field);
        Vm *vm = lookup_or_reply(am, call, p.name);
        if (!vm)
                return 0;
        return reply_vm(call, "vm", vm);
}
