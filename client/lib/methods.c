/* SPDX-License-Identifier: MIT */
/*
 * libgunyahctl: one wrapper per io.gunyah.Manager method (parameter names as in
 * protocol/io.gunyah.Manager.varlink), StartVM progress, and the Monitor iterator.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gunyahctl-private.h"

#define IFACE "io.gunyah.Manager."

static int name_call(gunyahctl *h, const char *method, const char *name, char **ret)
{
        if (!h || !name)
                return -EINVAL;
        _cleanup_(json_object_putp) struct json_object *p = json_object_new_object();
        if (!p || client_json_add_string(p, "name", name) < 0)
                return -ENOMEM;
        return client_call_object(h, method, p, NULL, 0, NULL, NULL, ret);
}

void gunyahctl_vm_spec_init(struct gunyahctl_vm_spec *spec)
{
        if (!spec)
                return;
        *spec = (struct gunyahctl_vm_spec){
                .struct_size = sizeof(*spec),
                .kernel_fd = -1,
                .initrd_fd = -1,
        };
}

/* One image (kernel or initrd): a path, or an fd appended to fds[] and sent by index. */
static int add_image(struct json_object *p, const char *key, const char *key_fd,
                     const char *path, int fd, int *fds, size_t *n_fds)
{
        if (path && fd >= 0)
                return -EINVAL;
        if (path)
                return client_json_add_string(p, key, path);
        if (fd >= 0) {
                fds[*n_fds] = fd;
                return client_json_add_int(p, key_fd, (int64_t)(*n_fds)++);
        }
        return 0;
}

int gunyahctl_create_vm(gunyahctl *h, const struct gunyahctl_vm_spec *spec,
                        char **ret_reply_json)
{
        if (!h || !spec || spec->struct_size < sizeof(*spec) || !spec->name ||
            spec->memory_bytes == 0 || spec->memory_bytes > INT64_MAX ||
            spec->memory_base > INT64_MAX || (!spec->kernel_path && spec->kernel_fd < 0))
                return -EINVAL;
        _cleanup_(json_object_putp) struct json_object *p = json_object_new_object();
        if (!p)
                return -ENOMEM;
        int fds[2];
        size_t n_fds = 0;
        int r = client_json_add_string(p, "name", spec->name);
        if (r >= 0)
                r = client_json_add_int(p, "memorySize", (int64_t)spec->memory_bytes);
        if (r >= 0 && spec->vcpus > 0)
                r = client_json_add_int(p, "vcpus", spec->vcpus);
        if (r >= 0 && spec->memory_base > 0)
                r = client_json_add_int(p, "memoryBase", (int64_t)spec->memory_base);
        if (r >= 0)
                r = add_image(p, "kernel", "kernelFd", spec->kernel_path, spec->kernel_fd,
                              fds, &n_fds);
        if (r >= 0)
                r = add_image(p, "initrd", "initrdFd", spec->initrd_path, spec->initrd_fd,
                              fds, &n_fds);
        if (r >= 0 && spec->cmdline)
                r = client_json_add_string(p, "cmdline", spec->cmdline);
        if (r >= 0 && spec->demand_paging)
                r = client_json_add_bool(p, "demandPaging", true);
        if (r >= 0 && spec->transient)
                r = client_json_add_bool(p, "transient", true);
        if (r < 0)
                return r;
        return client_call_object(h, IFACE "CreateVM", p, fds, n_fds, NULL, NULL,
                                      ret_reply_json);
}

typedef struct ProgressRelay {
        gunyahctl_progress_fn fn;
        void *userdata;
} ProgressRelay;

static int progress_relay(const char *parameters_json, void *userdata)
{
        ProgressRelay *relay = userdata;
        _cleanup_(json_object_putp) struct json_object *o = json_tokener_parse(parameters_json);
        struct json_object *stage;
        const char *s = "";
        if (o && json_object_object_get_ex(o, "stage", &stage) &&
            json_object_is_type(stage, json_type_string))
                s = json_object_get_string(stage);
        return relay->fn(s, parameters_json, relay->userdata);
}

int gunyahctl_start_vm(gunyahctl *h, const char *name, gunyahctl_progress_fn progress,
                       void *userdata, char **ret_reply_json)
{
        if (!h || !name)
                return -EINVAL;
        _cleanup_(json_object_putp) struct json_object *p = json_object_new_object();
        if (!p || client_json_add_string(p, "name", name) < 0)
                return -ENOMEM;
        ProgressRelay relay = { progress, userdata };
        return client_call_object(h, IFACE "StartVM", p, NULL, 0,
                                      progress ? progress_relay : NULL, &relay,
                                      ret_reply_json);
}

int gunyahctl_stop_vm(gunyahctl *h, const char *name, bool force, uint32_t timeout_sec,
                      char **ret_reply_json)
{
        if (!h || !name)
                return -EINVAL;
        _cleanup_(json_object_putp) struct json_object *p = json_object_new_object();
        if (!p || client_json_add_string(p, "name", name) < 0)
                return -ENOMEM;
        if (force && client_json_add_bool(p, "force", true) < 0)
                return -ENOMEM;
        if (timeout_sec > 0 && client_json_add_int(p, "timeout", timeout_sec) < 0)
                return -ENOMEM;
        return client_call_object(h, IFACE "StopVM", p, NULL, 0, NULL, NULL,
                                      ret_reply_json);
}

int gunyahctl_destroy_vm(gunyahctl *h, const char *name, char **ret_reply_json)
{
        return name_call(h, IFACE "DestroyVM", name, ret_reply_json);
}

int gunyahctl_describe_vm(gunyahctl *h, const char *name, char **ret_reply_json)
{
        return name_call(h, IFACE "DescribeVM", name, ret_reply_json);
}

int gunyahctl_list_vms(gunyahctl *h, char **ret_reply_json)
{
        return client_call_object(h, IFACE "ListVMs", NULL, NULL, 0, NULL, NULL,
                                      ret_reply_json);
}

int gunyahctl_get_daemon_info(gunyahctl *h, char **ret_reply_json)
{
        return client_call_object(h, IFACE "GetDaemonInfo", NULL, NULL, 0, NULL, NULL,
                                      ret_reply_json);
}

/* ---- Monitor ---- */

static int cursor_set(gunyahctl *h, const char *cursor)
{
        char *c = NULL;
        if (cursor && !(c = strdup(cursor)))
                return -ENOMEM;
        free(h->cursor);
        h->cursor = c;
        return 0;
}

int gunyahctl_monitor_begin(gunyahctl *h, const char *since_cursor)
{
        if (!h)
                return -EINVAL;
        client_error_clear(h);
        if (h->in_stream)
                return -EBUSY;
        _cleanup_(json_object_putp) struct json_object *p = json_object_new_object();
        if (!p || (since_cursor && client_json_add_string(p, "since", since_cursor) < 0))
                return -ENOMEM;
        /* Copy first: since_cursor may be the handle's own cursor. */
        int r = cursor_set(h, since_cursor);
        if (r < 0)
                return r;
        r = client_send_call(h, IFACE "Monitor", p, NULL, 0, true);
        if (r < 0)
                return r;
        h->in_stream = true;
        return 0;
}

int gunyahctl_monitor_next(gunyahctl *h, uint64_t timeout_usec, char **ret_event_json)
{
        if (!h || !ret_event_json)
                return -EINVAL;
        client_error_clear(h);
        if (!h->in_stream)
                return -ENOTCONN;
        VarlinkReply rep;
        int r = client_read_reply(h, timeout_usec, true, &rep);
        if (r < 0)
                return r;
        if (rep.error) {
                h->in_stream = false;
                r = client_error_set(h, &rep);
                varlink_reply_done(&rep);
                return r;
        }
        struct json_object *c;
        if (json_object_object_get_ex(rep.parameters, "cursor", &c) &&
            json_object_is_type(c, json_type_string)) {
                r = cursor_set(h, json_object_get_string(c));
                if (r < 0) {
                        varlink_reply_done(&rep);
                        return r;
                }
        }
        *ret_event_json = client_json_dup(rep.parameters);
        bool more = rep.continues;
        varlink_reply_done(&rep);
        if (!*ret_event_json)
                return -ENOMEM;
        if (!more)
                h->in_stream = false;
        return more ? 1 : 0;
}

const char *gunyahctl_monitor_cursor(const gunyahctl *h)
{
        return h ? h->cursor : NULL;
}

void gunyahctl_monitor_end(gunyahctl *h)
{
        if (h && h->in_stream)
                client_close(h);
}
