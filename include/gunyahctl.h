#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * libgunyahctl: the C client of gunyahd's control API (Varlink interface io.gunyah.Manager,
 * see docs/api.md and protocol/io.gunyah.Manager.varlink).
 *
 * Owns: one Unix stream connection per handle, the Varlink framing on it, fd passing
 * (SCM_RIGHTS) for kernel and initrd images, the last error of the handle, and the state
 * of an open Monitor stream.
 *
 * Replies are handed out as JSON text (the "parameters" object of the Varlink reply,
 * exactly as the interface defines it), so this header does not expose any JSON library:
 * parse the text with whatever the program already uses. Strings given out are malloc'd
 * and owned by the caller (free()) unless the function says the handle owns them.
 *
 * Error contract: every fallible function returns 0 (or a documented positive value) on
 * success and a negative errno value on failure. When the daemon answered with a Varlink
 * error, the return value is the errno of the table below and gunyahctl_error_name()
 * returns the error's name; for every other failure (local, transport, protocol)
 * gunyahctl_error_name() returns NULL.
 *
 *   io.gunyah.Manager.NoSuchVM                 -ENOENT
 *   io.gunyah.Manager.VMExists                 -EEXIST
 *   io.gunyah.Manager.InvalidState             -EBUSY
 *   io.gunyah.Manager.RMError                  -EREMOTEIO
 *   io.gunyah.Manager.RMUnavailable            -EHOSTDOWN
 *   io.gunyah.Manager.OutOfMemory              -ENOSPC
 *   io.gunyah.Manager.Timeout                  -ETIME
 *   io.gunyah.Manager.InvalidImage             -ENOEXEC
 *   io.gunyah.Manager.CursorExpired            -ESTALE
 *   io.gunyah.Manager.Unsupported              -EOPNOTSUPP
 *   io.gunyah.Manager.RMProtocolError          -EBADMSG
 *   org.varlink.service.PermissionDenied       -EPERM
 *   org.varlink.service.InvalidParameter       -EINVAL
 *   org.varlink.service.MethodNotFound,
 *   org.varlink.service.MethodNotImplemented,
 *   org.varlink.service.InterfaceNotFound      -EOPNOTSUPP
 *   org.varlink.service.ExpectedMore           -EPROTO
 *   any other error name                       -EREMOTE
 *
 * Local failures: -EINVAL (bad argument), -ENOMEM, -ETIMEDOUT (the call's timeout
 * passed), -ECONNRESET (the daemon closed the connection), -EBADMSG / -EPROTO (the daemon
 * sent something that is not a Varlink reply), -EMSGSIZE (a reply larger than 16 MiB),
 * -EBUSY (the handle is inside a Monitor stream), and connect(2)'s errors (-ENOENT,
 * -ECONNREFUSED, -EACCES, ...).
 *
 * Connections: a transport failure (timeout, reset, malformed reply) closes the handle's
 * connection, because the Varlink stream can no longer be trusted; the next call on the
 * handle connects again to the same address. Error information is kept until the next
 * call.
 *
 * Threads and processes: no global state. A handle may be used by one thread at a time
 * (thread-compatible); use one handle per thread. Every fd the library creates is
 * close-on-exec, and writes never raise SIGPIPE.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where gunyahd.socket listens. */
#define GUNYAHCTL_DEFAULT_ADDRESS "/run/gunyahd/io.gunyah.Manager"
/* Environment variable that overrides the default address. */
#define GUNYAHCTL_ADDRESS_ENV "GUNYAHCTL_ADDRESS"
/* Default timeout of one call (a whole reply, or one reply of a stream): 120 s. */
#define GUNYAHCTL_DEFAULT_TIMEOUT_USEC (UINT64_C(120) * 1000000u)
/* No timeout. */
#define GUNYAHCTL_TIMEOUT_INFINITY UINT64_MAX

typedef struct gunyahctl gunyahctl;

/*
 * Connect to gunyahd. address is a socket path or "unix:PATH"; NULL (or "") means the value
 * of $GUNYAHCTL_ADDRESS if set and non-empty, else GUNYAHCTL_DEFAULT_ADDRESS.
 * On success *ret is a new handle, owned by the caller, to be freed with
 * gunyahctl_disconnect(). Returns 0, -EINVAL (address malformed or longer than a
 * sockaddr_un path), -ENOMEM, or the negative errno of socket(2)/connect(2) (-ENOENT when
 * nothing listens at the path, -ECONNREFUSED, -EACCES when the socket's mode denies us).
 * *ret is untouched on failure.
 */
int gunyahctl_connect(gunyahctl **ret, const char *address);

/* Close the connection and free the handle. NULL-safe. Always returns NULL. */
gunyahctl *gunyahctl_disconnect(gunyahctl *h);

/* The address the handle connects to, as resolved by gunyahctl_connect() (without the
 * "unix:" prefix). Owned by the handle. */
const char *gunyahctl_get_address(const gunyahctl *h);

/* The connection's fd, for poll(2) while reading a Monitor stream: readable means
 * gunyahctl_monitor_next() will make progress. Owned by the handle: do not close it or
 * read from it. Returns -ENOTCONN if the connection was closed after a failure. */
int gunyahctl_get_fd(const gunyahctl *h);

/* Set the timeout of every following call, in microseconds (0 is not allowed; use
 * GUNYAHCTL_TIMEOUT_INFINITY for none). Applies to sending a call and to waiting for each
 * of its replies. Returns 0 or -EINVAL. */
int gunyahctl_set_timeout(gunyahctl *h, uint64_t usec);

/*
 * The last call's Varlink error, if it failed with one: the qualified error name (e.g.
 * "io.gunyah.Manager.NoSuchVM"), or NULL when the last call succeeded or failed locally.
 * Owned by the handle, valid until the next call on it.
 */
const char *gunyahctl_error_name(const gunyahctl *h);

/* The last Varlink error's parameters as JSON object text ("{}" when it had none), or NULL
 * as for gunyahctl_error_name(). Owned by the handle, valid until the next call. */
const char *gunyahctl_error_parameters_json(const gunyahctl *h);

/* Typed access to one top-level parameter of the last Varlink error (e.g. "state" of
 * InvalidState, "call" and "code" of RMError). The string is owned by the handle, valid
 * until the next call. Return 0, -ENODATA when there is no Varlink error, -ENOENT when the
 * key is absent (or null), -EMEDIUMTYPE when it has another JSON type. */
int gunyahctl_error_get_string(const gunyahctl *h, const char *key, const char **ret);
int gunyahctl_error_get_int(const gunyahctl *h, const char *key, int64_t *ret);

/* Called for each intermediate reply of a stream ("continues": true), with its parameters
 * as JSON object text (owned by the library, valid during the call). Return 0 to go on, or
 * a negative errno to stop: the library then closes the connection (the only way to stop a
 * Varlink stream) and the call returns that value. */
typedef int (*gunyahctl_reply_fn)(const char *parameters_json, void *userdata);

/*
 * Any method call. method is qualified ("io.gunyah.Manager.ListVMs",
 * "org.varlink.service.GetInfo"); parameters_json is the text of exactly one JSON object
 * (-EINVAL for anything else) or NULL for none.
 * fds (n_fds of them, at most 8) are passed with SCM_RIGHTS alongside the call; the caller
 * keeps ownership of them. With on_continues set the call asks for "more" and every
 * intermediate reply goes to it. On success, *ret_reply_json (if ret_reply_json is
 * non-NULL) is the final reply's parameters as JSON object text, malloc'd, owned by the
 * caller. Returns 0 or a negative errno (see the table at the top).
 */
int gunyahctl_call(gunyahctl *h, const char *method, const char *parameters_json,
                   const int *fds, size_t n_fds, gunyahctl_reply_fn on_continues,
                   void *userdata, char **ret_reply_json);

/* Definition of a VM for gunyahctl_create_vm(). Initialise it with
 * gunyahctl_vm_spec_init(), then set fields. The strings and fds stay the caller's. */
struct gunyahctl_vm_spec {
        size_t struct_size;    /* set by gunyahctl_vm_spec_init(); new fields go at the end */
        const char *name;      /* required: 1..63 of [A-Za-z0-9._-], not starting with . or - */
        uint32_t vcpus;        /* 0 = the daemon's default (1) */
        uint64_t memory_bytes; /* required: a multiple of 2 MiB */
        /* The kernel: exactly one of kernel_path (relative to the daemon's --image-dir) or
         * kernel_fd (an open, readable fd passed with SCM_RIGHTS; -1 = none). */
        const char *kernel_path;
        int kernel_fd;
        /* The initrd, optional: the same two forms, both unset for none. */
        const char *initrd_path;
        int initrd_fd;
        const char *cmdline;   /* NULL = empty */
        uint64_t memory_base;  /* guest IPA of RAM; 0 = the daemon's default */
        bool demand_paging;    /* lend RAM as the guest touches it */
        bool transient;        /* forget the VM when it is destroyed or the daemon restarts */
};

/* Zero *spec, set struct_size and set kernel_fd and initrd_fd to -1. */
void gunyahctl_vm_spec_init(struct gunyahctl_vm_spec *spec);

/* CreateVM: record a VM definition. Returns 0 (with the reply, which describes the new VM,
 * in *ret_reply_json if non-NULL), -EINVAL for a spec that is incomplete on our side
 * (no name, no memory, no kernel or both kernel forms), or the errors of gunyahctl_call()
 * (typically -EEXIST, -ENOEXEC, -EINVAL, -ENOSPC, -EPERM). */
int gunyahctl_create_vm(gunyahctl *h, const struct gunyahctl_vm_spec *spec,
                        char **ret_reply_json);

/* Progress of StartVM, once per stage (and per parcel while lending): stage is the stage
 * name the daemon reports, progress_json the whole progress reply (both owned by the
 * library, valid during the call). Return 0 or a negative errno to stop watching, as for
 * gunyahctl_reply_fn (the start itself is not cancelled by that). */
typedef int (*gunyahctl_progress_fn)(const char *stage, const char *progress_json,
                                     void *userdata);

/* StartVM: boot the VM. With progress set, the call streams and progress is called for
 * every intermediate reply; with NULL it waits for the final reply only. Returns 0 (final
 * reply in *ret_reply_json if non-NULL) or the errors of gunyahctl_call() (typically
 * -ENOENT, -EBUSY, -EREMOTEIO, -EHOSTDOWN, -ENOSPC, -ENOEXEC, -ETIME, -EPERM). */
int gunyahctl_start_vm(gunyahctl *h, const char *name, gunyahctl_progress_fn progress,
                       void *userdata, char **ret_reply_json);

/* StopVM: ask the guest to shut down (force = false) or stop it at once (force = true).
 * timeout_sec: how long the daemon waits for a graceful stop before it fails with
 * Timeout; 0 = the daemon's default. Returns 0 or the errors of gunyahctl_call(). */
int gunyahctl_stop_vm(gunyahctl *h, const char *name, bool force, uint32_t timeout_sec,
                      char **ret_reply_json);

/* DestroyVM: stop if needed, reclaim every parcel, deallocate, forget the definition.
 * Returns 0 or the errors of gunyahctl_call(). */
int gunyahctl_destroy_vm(gunyahctl *h, const char *name, char **ret_reply_json);

/* ListVMs: every VM the daemon knows. *ret_reply_json is the reply object (its "vms"
 * array). Returns 0 or the errors of gunyahctl_call(). */
int gunyahctl_list_vms(gunyahctl *h, char **ret_reply_json);

/* DescribeVM: one VM in detail. Returns 0 or the errors of gunyahctl_call(). */
int gunyahctl_describe_vm(gunyahctl *h, const char *name, char **ret_reply_json);

/* GetDaemonInfo: version, RM link state, RM profile and capabilities, pool usage.
 * Returns 0 or the errors of gunyahctl_call(). */
int gunyahctl_get_daemon_info(gunyahctl *h, char **ret_reply_json);

/*
 * Monitor: a stream of the daemon's events on this handle. With since_cursor NULL the
 * daemon first sends a snapshot of every VM, then one reply per event; with a cursor (as
 * returned by gunyahctl_monitor_cursor(), possibly from an earlier handle or process) it
 * resumes right after that event, or fails with CursorExpired (-ESTALE) when it no longer
 * holds that far back. While the stream is open, other calls on the handle return -EBUSY.
 * Returns 0 once the call is sent, or a negative errno.
 */
int gunyahctl_monitor_begin(gunyahctl *h, const char *since_cursor);

/*
 * Wait up to timeout_usec (GUNYAHCTL_TIMEOUT_INFINITY: forever, 0: do not wait) for the
 * next reply of the stream. Returns 1 with the reply's parameters as JSON object text in
 * *ret_event_json (malloc'd, caller frees); 0 when the daemon ended the stream (no more
 * replies; *ret_event_json is then the last one, or NULL); -EAGAIN when nothing arrived in
 * time (the stream stays open); -ESTALE and the other Varlink errors of the table when the
 * daemon refused the Monitor call; -ECONNRESET and other transport errors when the
 * connection broke (resume with a new gunyahctl_monitor_begin() from
 * gunyahctl_monitor_cursor(): no event is lost if the daemon still holds it). After 0 or an
 * error the stream is over.
 */
int gunyahctl_monitor_next(gunyahctl *h, uint64_t timeout_usec, char **ret_event_json);

/* The cursor of the last event received (as opaque text to pass back to
 * gunyahctl_monitor_begin()), or the since_cursor given to it if no event came yet, or NULL
 * if neither. Kept across the end of a stream and across failures; reset by the next
 * gunyahctl_monitor_begin(). Owned by the handle. */
const char *gunyahctl_monitor_cursor(const gunyahctl *h);

/* Stop watching: closes the connection if a stream is open (the Varlink way to end a
 * stream); the next call connects again. NULL-safe no-op when no stream is open. */
void gunyahctl_monitor_end(gunyahctl *h);

#ifdef __cplusplus
}
#endif
