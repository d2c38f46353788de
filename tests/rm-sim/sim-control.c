/* SPDX-License-Identifier: MIT */
/*
 * The control socket: Varlink interface io.gunyah.Simulator (io.gunyah.Simulator.varlink,
 * embedded at build time and served by org.varlink.service.GetInterfaceDescription).
 * Up to SIM_CONTROL_MAX connections; each reply is queued and written without blocking.
 * Nothing here touches the RM wire except through the same functions the RM uses.
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "rm-notify.h"
#include "sim-idl.h"
#include "sim.h"
#include "varlink.h"

#define SIM_CONTROL_MAX 16
#define IFACE "io.gunyah.Simulator"

typedef struct SimConn {
        int fd;
        VarlinkBuffer in;
        char *out;
        size_t out_len, out_off;
} SimConn;

typedef struct SimControl {
        int listen_fd;
        SimConn conns[SIM_CONTROL_MAX];
        bool restart_pending;
        bool restart_keep;
} SimControl;

typedef struct CallCtx {
        Sim *s;
        json_object *params;
        json_object *reply; /* parameters of the reply (NULL = {}) */
        const char *error;  /* Varlink error name or NULL */
} CallCtx;

static int fail(CallCtx *c, const char *error, const char *key, json_object *val)
{
        c->error = error;
        json_object_put(c->reply);
        c->reply = json_object_new_object();
        if (key)
                json_object_object_add(c->reply, key, val);
        return -EINVAL;
}

static int bad_param(CallCtx *c, const char *name)
{
        return fail(c, "org.varlink.service.InvalidParameter", "parameter",
                    json_object_new_string(name));
}

/* Integer parameter; required params missing -> InvalidParameter. Returns 1 found, 0 absent. */
static int get_int(CallCtx *c, const char *name, bool required, int64_t min, int64_t max,
                   int64_t *ret)
{
        json_object *v;

        if (!json_object_object_get_ex(c->params, name, &v) ||
            json_object_is_type(v, json_type_null)) {
                if (required)
                        return bad_param(c, name);
                return 0;
        }
        if (!json_object_is_type(v, json_type_int))
                return bad_param(c, name);
        *ret = json_object_get_int64(v);
        if (*ret < min || *ret > max)
                return bad_param(c, name);
        return 1;
}

static int get_bool(CallCtx *c, const char *name, bool required, bool *ret)
{
        json_object *v;

        if (!json_object_object_get_ex(c->params, name, &v) ||
            json_object_is_type(v, json_type_null))
                return required ? bad_param(c, name) : 0;
        if (!json_object_is_type(v, json_type_boolean))
                return bad_param(c, name);
        *ret = json_object_get_boolean(v);
        return 1;
}

static int get_str(CallCtx *c, const char *name, bool required, const char **ret)
{
        json_object *v;

        if (!json_object_object_get_ex(c->params, name, &v) ||
            json_object_is_type(v, json_type_null))
                return required ? bad_param(c, name) : 0;
        if (!json_object_is_type(v, json_type_string))
                return bad_param(c, name);
        *ret = json_object_get_string(v);
        return 1;
}

static int get_vm(CallCtx *c, SimVm **ret)
{
        int64_t vmid;
        int r = get_int(c, "vmid", true, 0, 0xFFFF, &vmid);

        if (r < 0)
                return r;
        *ret = sim_vm_get(c->s, (uint16_t)vmid);
        if (!*ret)
                return fail(c, IFACE ".NoSuchVm", "vmid", json_object_new_int64(vmid));
        return 0;
}

static int rm_fail(CallCtx *c, uint32_t err)
{
        const char *n = rm_error_to_string(err);

        c->error = IFACE ".RmError";
        json_object_put(c->reply);
        c->reply = json_object_new_object();
        json_object_object_add(c->reply, "code", json_object_new_int64(err));
        json_object_object_add(c->reply, "name", json_object_new_string(n ? n : "UNKNOWN"));
        return -EREMOTEIO;
}

static int state_fail(CallCtx *c, SimVm *vm)
{
        c->error = IFACE ".InvalidState";
        json_object_put(c->reply);
        c->reply = json_object_new_object();
        json_object_object_add(c->reply, "vmid", json_object_new_int(vm->vmid));
        json_object_object_add(c->reply, "status",
                               json_object_new_string(rm_vm_status_to_string(vm->status)));
        return -EINVAL;
}

/* sim-control-state.c */
json_object *sim_control_state_json(Sim *s);

static int m_get_state(CallCtx *c)
{
        c->reply = sim_control_state_json(c->s);
        return c->reply ? 0 : -ENOMEM;
}

static const char *const exit_names[] = {
    "VM_EXIT",       "PLATFORM_OFF",   "PLATFORM_RESET", "PSCI_SYSTEM_RESET2",
    "WATCHDOG_BITE", "SOFTWARE_ERROR", "ASYNC_HW_ERROR",
};

static int m_guest_exit(CallCtx *c)
{
        const char *type, *msg = NULL;
        int64_t code = -1, flags = 0, reset_type = 0, cookie = 0;
        bool smc64 = false;
        int t = -1, r;
        SimVm *vm;
        uint32_t e;

        if ((r = get_vm(c, &vm)) < 0 || (r = get_str(c, "type", true, &type)) < 0 ||
            (r = get_int(c, "code", false, 0, 255, &code)) < 0 ||
            (r = get_int(c, "flags", false, 0, 0xFFFF, &flags)) < 0 ||
            (r = get_str(c, "crashMessage", false, &msg)) < 0 ||
            (r = get_int(c, "resetType", false, 0, UINT32_MAX, &reset_type)) < 0 ||
            (r = get_int(c, "cookie", false, INT64_MIN, INT64_MAX, &cookie)) < 0 ||
            (r = get_bool(c, "smc64", false, &smc64)) < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(exit_names); i++)
                if (strcmp(type, exit_names[i]) == 0)
                        t = (int)i;
        if (t < 0)
                return bad_param(c, "type");
        if (vm->status != RM_VM_STATUS_RUNNING && vm->status != RM_VM_STATUS_PAUSED)
                return state_fail(c, vm);
        e = sim_guest_exit(c->s, vm, (uint16_t)t, (int)code, (uint16_t)flags, msg,
                           (uint32_t)reset_type, (uint64_t)cookie, smc64);
        return e ? rm_fail(c, e) : 0;
}

static int m_raise_page_fault(CallCtx *c)
{
        int64_t ipa;
        bool w = false, x = false;
        SimVm *vm;
        int r;

        if ((r = get_vm(c, &vm)) < 0 || (r = get_int(c, "ipa", true, 0, INT64_MAX, &ipa)) < 0 ||
            (r = get_bool(c, "write", false, &w)) < 0 || (r = get_bool(c, "exec", false, &x)) < 0)
                return r;
        r = sim_guest_page_fault(c->s, vm, (uint64_t)ipa,
                                 (w ? RM_SIM_FAULT_WRITE : 0) | (x ? RM_SIM_FAULT_EXEC : 0));
        if (r == -ESRCH || r == -EBUSY)
                return state_fail(c, vm);
        if (r < 0)
                return bad_param(c, "ipa");
        return 0;
}

static int m_guest_release(CallCtx *c)
{
        int64_t handle;
        SimVm *vm;
        SimParcel *pc;
        uint32_t e;
        int r;

        if ((r = get_vm(c, &vm)) < 0 ||
            (r = get_int(c, "handle", true, 0, UINT32_MAX, &handle)) < 0)
                return r;
        pc = sim_parcel_get(c->s, (uint32_t)handle);
        if (!pc)
                return fail(c, IFACE ".NoSuchParcel", "handle", json_object_new_int64(handle));
        if (vm->status != RM_VM_STATUS_RUNNING && vm->status != RM_VM_STATUS_PAUSED)
                return state_fail(c, vm);
        e = sim_parcel_do_release(c->s, vm->vmid, pc->handle);
        if (!e)
                e = sim_parcel_do_notify(c->s, vm->vmid, pc->handle, RM_MEM_NOTIFY_RELEASED,
                                         pc->tag, NULL, 0);
        return e ? rm_fail(c, e) : 0;
}

static int m_set_guest_status(CallCtx *c)
{
        int64_t os, app = -1;
        SimVm *vm;
        uint32_t e;
        int r;

        if ((r = get_vm(c, &vm)) < 0 || (r = get_int(c, "osStatus", true, 0, 255, &os)) < 0 ||
            (r = get_int(c, "appStatus", false, 0, 0xFFFF, &app)) < 0)
                return r;
        if (vm->status != RM_VM_STATUS_RUNNING && vm->status != RM_VM_STATUS_PAUSED)
                return state_fail(c, vm);
        e = sim_guest_set_status(c->s, vm, (uint8_t)os, app < 0 ? vm->app_status : (uint16_t)app);
        return e ? rm_fail(c, e) : 0;
}

static int m_set_ignore_shutdown(CallCtx *c)
{
        bool ignore;
        SimVm *vm;
        int r;

        if ((r = get_vm(c, &vm)) < 0 || (r = get_bool(c, "ignore", true, &ignore)) < 0)
                return r;
        vm->ignore_shutdown = ignore;
        return 0;
}

static int m_set_pace(CallCtx *c)
{
        int64_t ms;
        int r = get_int(c, "ms", true, 0, 600000, &ms);

        if (r < 0)
                return r;
        c->s->opt.guest_pace_ms = (unsigned)ms;
        return 0;
}

static int m_inject_fault(CallCtx *c)
{
        static const char *const pkt_kinds[] = {"drop", "duplicate", "corrupt", "delay"};
        const char *kind, *dir = "out";
        int64_t count = 1, delay = 100, offset = -1, msg_id = 0, error = 0;
        SimLink *l = &c->s->link;
        int r;

        if ((r = get_str(c, "kind", true, &kind)) < 0 ||
            (r = get_str(c, "direction", false, &dir)) < 0 ||
            (r = get_int(c, "count", false, 0, 1000000, &count)) < 0 ||
            (r = get_int(c, "delayMs", false, 0, 600000, &delay)) < 0 ||
            (r = get_int(c, "offset", false, 0, RM_PACKET_MAX - 1, &offset)) < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(pkt_kinds); i++) {
                SimPktFaults *f;
                if (strcmp(kind, pkt_kinds[i]) != 0)
                        continue;
                if (strcmp(dir, "in") != 0 && strcmp(dir, "out") != 0)
                        return bad_param(c, "direction");
                f = strcmp(dir, "in") == 0 ? &l->fin : &l->fout;
                f->count[i] += (unsigned)count;
                if (i == SIM_FAULT_DELAY)
                        f->delay_ms = (unsigned)delay;
                if (i == SIM_FAULT_CORRUPT)
                        f->corrupt_offset = (int)offset;
                return 0;
        }
        if (strcmp(kind, "error") == 0) {
                if ((r = get_int(c, "msgId", true, 0, UINT32_MAX, &msg_id)) < 0 ||
                    (r = get_int(c, "error", true, 0, UINT32_MAX, &error)) < 0)
                        return r;
                for (size_t i = 0; i < ELEMENTSOF(l->errf); i++)
                        if (l->errf[i].count == 0 || l->errf[i].msg_id == (uint32_t)msg_id) {
                                l->errf[i] = (SimErrorFault){(uint32_t)msg_id, (uint32_t)error,
                                                             (unsigned)count};
                                return 0;
                        }
                return bad_param(c, "msgId");
        }
        if (strcmp(kind, "stall") == 0) {
                l->stalled = true;
                return 0;
        }
        if (strcmp(kind, "close") == 0) {
                sim_link_close_client(c->s);
                return 0;
        }
        return bad_param(c, "kind");
}

static int m_clear_faults(CallCtx *c)
{
        SimLink *l = &c->s->link;

        memset(&l->fin, 0, sizeof(l->fin));
        memset(&l->fout, 0, sizeof(l->fout));
        l->fin.corrupt_offset = l->fout.corrupt_offset = -1;
        memset(l->errf, 0, sizeof(l->errf));
        l->stalled = false;
        return 0;
}

static int m_restart(CallCtx *c)
{
        bool keep;
        int r = get_bool(c, "keepState", true, &keep);

        if (r < 0)
                return r;
        c->s->control->restart_pending = true; /* after the reply is queued */
        c->s->control->restart_keep = keep;
        return 0;
}

static int m_get_info(CallCtx *c)
{
        json_object *ifaces = json_object_new_array();

        json_object_array_add(ifaces, json_object_new_string("org.varlink.service"));
        json_object_array_add(ifaces, json_object_new_string(IFACE));
        c->reply = json_object_new_object();
        json_object_object_add(c->reply, "vendor", json_object_new_string("gunyahd"));
        json_object_object_add(c->reply, "product", json_object_new_string("gunyah-rm-sim"));
        json_object_object_add(c->reply, "version", json_object_new_string(GUNYAHD_VERSION));
        json_object_object_add(c->reply, "url", json_object_new_string(""));
        json_object_object_add(c->reply, "interfaces", ifaces);
        return 0;
}

static int m_get_description(CallCtx *c)
{
        const char *iface;
        int r = get_str(c, "interface", true, &iface);

        if (r < 0)
                return r;
        if (strcmp(iface, IFACE) != 0)
                return fail(c, "org.varlink.service.InterfaceNotFound", "interface",
                            json_object_new_string(iface));
        c->reply = json_object_new_object();
        json_object_object_add(c->reply, "description",
                               json_object_new_string_len((const char *)sim_idl, (int)sim_idl_len));
        return 0;
}

static const struct {
        const char *method;
        int (*fn)(CallCtx *c);
} methods[] = {
    {IFACE ".GetState", m_get_state},
    {IFACE ".GuestExit", m_guest_exit},
    {IFACE ".RaisePageFault", m_raise_page_fault},
    {IFACE ".GuestReleaseParcel", m_guest_release},
    {IFACE ".SetGuestStatus", m_set_guest_status},
    {IFACE ".SetGuestIgnoreShutdown", m_set_ignore_shutdown},
    {IFACE ".SetGuestPace", m_set_pace},
    {IFACE ".InjectFault", m_inject_fault},
    {IFACE ".ClearFaults", m_clear_faults},
    {IFACE ".Restart", m_restart},
    {"org.varlink.service.GetInfo", m_get_info},
    {"org.varlink.service.GetInterfaceDescription", m_get_description},
};

static void conn_close(SimConn *c)
{
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        varlink_buffer_free(&c->in);
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
}

static void conn_queue(SimConn *c, const char *data, size_t len)
{
        char *n = realloc(c->out, c->out_len + len);

        if (!n)
                return;
        memcpy(n + c->out_len, data, len);
        c->out = n;
        c->out_len += len;
}

static void conn_flush(SimConn *c)
{
        while (c->fd >= 0 && c->out_off < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                conn_close(c);
                        return;
                }
                c->out_off += (size_t)n;
        }
        if (c->out_off == c->out_len) {
                c->out_off = c->out_len = 0;
        }
}

static void handle_call(Sim *s, SimConn *conn, const char *msg, size_t len)
{
        VarlinkCall call = {0};
        CallCtx c = {.s = s};
        _cleanup_free_ char *out = NULL;
        size_t out_len;
        bool found = false;
        int r;

        r = varlink_call_parse(msg, len, VARLINK_DEFAULT_MAX_DEPTH, &call);
        if (r < 0) {
                conn_close(conn); /* not Varlink: the protocol says drop the connection */
                return;
        }
        c.params = call.parameters;
        for (size_t i = 0; i < ELEMENTSOF(methods); i++)
                if (strcmp(methods[i].method, call.method) == 0) {
                        found = true;
                        (void)methods[i].fn(&c);
                        break;
                }
        if (!found) {
                bool iface_known = (size_t)(call.interface_end - call.method) == strlen(IFACE) &&
                                   strncmp(call.method, IFACE, strlen(IFACE)) == 0;
                iface_known |= strncmp(call.method, "org.varlink.service.", 20) == 0;
                if (iface_known)
                        (void)fail(&c, "org.varlink.service.MethodNotFound", "method",
                                   json_object_new_string(call.method));
                else
                        (void)fail(&c, "org.varlink.service.InterfaceNotFound", "interface",
                                   json_object_new_string_len(
                                       call.method, (int)(call.interface_end - call.method)));
        }
        if (!call.oneway) {
                out = varlink_format_reply(c.reply, c.error, false, &out_len);
                if (out)
                        conn_queue(conn, out, out_len);
        }
        json_object_put(c.reply);
        varlink_call_done(&call);
}

int sim_control_init(Sim *s)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        SimControl *c;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        s->control = c;
        c->listen_fd = -1;
        for (size_t i = 0; i < SIM_CONTROL_MAX; i++)
                c->conns[i].fd = -1;
        if (!s->opt.control_path)
                return 0;
        if (strlen(s->opt.control_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, s->opt.control_path);
        c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->listen_fd < 0)
                return -errno;
        (void)unlink(sa.sun_path);
        if (bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(c->listen_fd, SIM_CONTROL_MAX) < 0)
                return -errno;
        return 0;
}

void sim_control_done(Sim *s)
{
        SimControl *c = s->control;

        if (!c)
                return;
        for (size_t i = 0; i < SIM_CONTROL_MAX; i++)
                conn_close(&c->conns[i]);
        if (c->listen_fd >= 0) {
                close(c->listen_fd);
                (void)unlink(s->opt.control_path);
        }
        free(c);
        s->control = NULL;
}

/* pfd[0] is the listener, pfd[1..] the connections in slot order (fd -1 when unused). */
int sim_control_pollfds(Sim *s, struct pollfd *pfd, int max)
{
        SimControl *c = s->control;

        if (max < 1 + SIM_CONTROL_MAX)
                return 0;
        pfd[0] = (struct pollfd){.fd = c->listen_fd, .events = POLLIN};
        for (size_t i = 0; i < SIM_CONTROL_MAX; i++) {
                SimConn *k = &c->conns[i];
                pfd[1 + i] = (struct pollfd){
                    .fd = k->fd, .events = (short)(POLLIN | (k->out_len ? POLLOUT : 0))};
        }
        return 1 + SIM_CONTROL_MAX;
}

void sim_control_dispatch(Sim *s, struct pollfd *pfd, int n)
{
        SimControl *c = s->control;

        if (n < 1 + SIM_CONTROL_MAX)
                return;
        if (pfd[0].revents & POLLIN) {
                int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                for (size_t i = 0; fd >= 0 && i < SIM_CONTROL_MAX; i++)
                        if (c->conns[i].fd < 0) {
                                c->conns[i].fd = TAKE_FD(fd);
                                varlink_buffer_init(&c->conns[i].in, VARLINK_DEFAULT_MAX_MESSAGE);
                        }
                if (fd >= 0)
                        close(fd);
        }
        for (size_t i = 0; i < SIM_CONTROL_MAX; i++) {
                SimConn *k = &c->conns[i];
                short re = pfd[1 + i].revents;

                if (k->fd < 0 || pfd[1 + i].fd != k->fd || !re)
                        continue;
                if (re & POLLIN) {
                        ssize_t r = varlink_buffer_read(&k->in, k->fd);
                        const char *msg;
                        size_t len;

                        if (r == 0 || (r < 0 && r != -EAGAIN)) {
                                conn_close(k);
                                continue;
                        }
                        while (k->fd >= 0 && varlink_buffer_next(&k->in, &msg, &len) > 0)
                                handle_call(s, k, msg, len);
                } else if (re & (POLLHUP | POLLERR)) {
                        conn_close(k);
                        continue;
                }
                conn_flush(k);
        }
        if (c->restart_pending) {
                c->restart_pending = false;
                for (size_t i = 0; i < SIM_CONTROL_MAX; i++)
                        conn_flush(&c->conns[i]);
                sim_restart(s, c->restart_keep);
        }
}
