/* SPDX-License-Identifier: MIT */
/*
 * The API server's connection handling under arbitrary bytes: the input is written in
 * chunks of at most 143 bytes into one end of a socketpair whose other end the server
 * serves (as systemd's fuzz-varlink does), so partial reads, several messages per read and
 * messages split across reads all happen. The test interface has a plain method with a
 * field table, a stream, an error and fd-less fd reads. Replies are drained as they come.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "api-json.h"
#include "api-server.h"
#include "log.h"

typedef struct EchoParams {
        const char *text;
        int64_t n;
} EchoParams;

static const ApiField echo_fields[] = {
        { "text", API_JSON_STRING, API_FIELD_REQUIRED, offsetof(EchoParams, text) },
        { "n", API_JSON_INT, API_FIELD_BOUNDED, offsetof(EchoParams, n), 0, 100 },
        API_FIELD_END,
};

static int method_echo(ApiCall *call, struct json_object *parameters, void *userdata)
{
        EchoParams p = {};
        const char *field;
        if (api_json_dispatch(parameters, echo_fields, &p, NULL, &field) < 0)
                return api_call_error_invalid_parameter(call, field);
        struct json_object *o = json_object_new_object();
        api_json_add_string(o, "text", p.text);
        return api_call_reply(call, o);
}

static int method_stream(ApiCall *call, struct json_object *parameters, void *userdata)
{
        for (int i = 0; i < 3; i++) {
                struct json_object *o = json_object_new_object();
                api_json_add_int(o, "i", i);
                if (api_call_notify(call, o) < 0)
                        return 0;
        }
        return api_call_reply(call, NULL);
}

static int method_fd(ApiCall *call, struct json_object *parameters, void *userdata)
{
        int fd = api_call_take_fd(call, 0);
        if (fd >= 0)
                close(fd);
        return fd >= 0 ? api_call_reply(call, NULL) : -EBADF;
}

static const ApiMethod methods[] = {
        { "Echo", method_echo, 0, echo_fields },
        { "Stream", method_stream, API_METHOD_STREAMS | API_METHOD_REQUIRES_MORE, NULL },
        { "Admin", method_echo, API_METHOD_ADMIN, echo_fields },
        { "Fd", method_fd, 0, NULL },
        { .name = NULL },
};

static const ApiInterface iface = {
        .name = "org.example.fuzz",
        .description = "interface org.example.fuzz\n\nmethod Echo(text: string) -> (text: string)\n",
        .methods = methods,
};

static void drain(int fd)
{
        char buf[4096];
        while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                ;
}

static void pump(sd_event *e, int fd)
{
        for (int i = 0; i < 8; i++) {
                if (sd_event_run(e, 0) <= 0)
                        break;
                drain(fd);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        log_set_max_level(LOG_CRIT);
        sd_event *e = NULL;
        ApiServer *s = NULL;
        int sv[2] = { -1, -1 };
        if (sd_event_new(&e) < 0)
                return 0;
        ApiServerOptions o = { .max_message = 16 * 1024, .max_depth = 32, .admin_group = "root" };
        if (api_server_new(e, &o, &s) < 0 || api_server_add_interface(s, &iface, NULL) < 0 ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                goto out;
        if (api_server_add_connection(s, sv[0]) < 0) {
                sv[0] = -1;
                goto out;
        }
        sv[0] = -1;
        for (size_t off = 0; off < size;) {
                size_t n = size - off < 143 ? size - off : 143;
                ssize_t k = send(sv[1], data + off, n, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0 && errno != EAGAIN)
                        break; /* the server closed the connection */
                if (k > 0)
                        off += (size_t)k;
                pump(e, sv[1]);
        }
        (void)shutdown(sv[1], SHUT_WR);
        for (int i = 0; i < 64 && api_server_n_connections(s) > 0; i++)
                pump(e, sv[1]);
out:
        if (sv[1] >= 0)
                close(sv[1]);
        api_server_free(s);
        sd_event_unref(e);
        return 0;
}
