#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per event that matters, to the journal (sd_journal_sendv) when stderr
 * is connected to it or when asked, to stderr otherwise.
 *
 * Levels are syslog priorities (LOG_ERR .. LOG_DEBUG from <syslog.h>); messages above the
 * maximum level are dropped before formatting. Structured fields ("KEY=value" strings,
 * e.g. GUNYAH_VM=web1, GUNYAH_VMID=128, MESSAGE_ID=...) go to the journal as fields and to
 * stderr as a " [KEY=value ...]" suffix. ERRNO= is added for the *_errno variants.
 *
 * Error contract: log_*_errno(error, ...) returns -abs(error), so "return log_error_errno(r,
 * ...)" logs once and propagates. The plain variants return 0. Logging never fails the
 * caller: journal errors fall back to stderr. Not thread-safe (the daemon is single-threaded).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,    /* journal if $JOURNAL_STREAM matches stderr, else stderr */
        LOG_TARGET_JOURNAL, /* sd_journal_sendv, stderr if that fails */
        LOG_TARGET_STDERR,  /* "gunyahd: <level>: message [FIELDS]" */
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

/* Default LOG_INFO. $GUNYAHD_LOG_LEVEL (a name or number) is read by log_setup(). */
void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_target(LogTarget target);
LogTarget log_get_target(void);
/* Sets the identifier (default "gunyahd"), applies $GUNYAHD_LOG_LEVEL, resolves AUTO. */
void log_setup(const char *identifier);

/* "emerg".."debug" (also "warn", "error", or a number 0..7) -> level, or -EINVAL. */
int log_level_from_string(const char *s);
/* "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"; NULL if out of range. */
const char *log_level_to_string(int level);
LogTarget log_target_from_string(const char *s); /* "auto", "journal", "stderr" */
const char *log_target_to_string(LogTarget t);

/*
 * The one entry point. fields is NULL or a NULL-terminated array of "KEY=value" strings
 * (KEY: uppercase letters, digits, '_'; a bad key is skipped). error is 0 or an errno
 * (either sign); when non-zero, %m in fmt expands to its strerror and ERRNO= is added.
 * Returns -abs(error).
 */
int log_internal(int level, int error, const char *const *fields, const char *file, int line,
                 const char *func, const char *fmt, ...) _printf_(7, 8);

/* Fields for one message: LOG_FIELDS("GUNYAH_VM=web1", buf) */
#define LOG_FIELDS(...) ((const char *const[]){__VA_ARGS__, NULL})

#define log_full_errno_fields(level, error, fields, ...)                                           \
        log_internal((level), (error), (fields), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full_errno(level, error, ...) log_full_errno_fields(level, error, NULL, __VA_ARGS__)
#define log_full(level, ...) ((void)log_full_errno(level, 0, __VA_ARGS__))

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_notice_errno(error, ...) log_full_errno(LOG_NOTICE, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)

/*
 * Per-VM messages carry GUNYAH_VM=<name> (omitted when name is NULL) and GUNYAH_VMID=<vmid>
 * (omitted when vmid < 0, i.e. no VMID allocated yet).
 */
int log_vm_internal(int level, int error, const char *vm_name, int vmid, const char *file, int line,
                    const char *func, const char *fmt, ...) _printf_(8, 9);
#define log_vm_full_errno(level, error, name, vmid, ...)                                           \
        log_vm_internal((level), (error), (name), (vmid), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_vm_debug(name, vmid, ...)                                                              \
        ((void)log_vm_full_errno(LOG_DEBUG, 0, name, vmid, __VA_ARGS__))
#define log_vm_info(name, vmid, ...) ((void)log_vm_full_errno(LOG_INFO, 0, name, vmid, __VA_ARGS__))
#define log_vm_notice(name, vmid, ...)                                                             \
        ((void)log_vm_full_errno(LOG_NOTICE, 0, name, vmid, __VA_ARGS__))
#define log_vm_warning(name, vmid, ...)                                                            \
        ((void)log_vm_full_errno(LOG_WARNING, 0, name, vmid, __VA_ARGS__))
#define log_vm_error(name, vmid, ...) ((void)log_vm_full_errno(LOG_ERR, 0, name, vmid, __VA_ARGS__))
#define log_vm_warning_errno(name, vmid, error, ...)                                               \
        log_vm_full_errno(LOG_WARNING, error, name, vmid, __VA_ARGS__)
#define log_vm_error_errno(name, vmid, error, ...)                                                 \
        log_vm_full_errno(LOG_ERR, error, name, vmid, __VA_ARGS__)

/*
 * Format up to max_bytes of buf as lowercase hex pairs separated by spaces into out
 * (NUL-terminated; "..." appended when len > max_bytes or out is too small). Returns out.
 * For logging packets: log_warning("bad packet: %s", log_hex(p, n, 64, tmp, sizeof(tmp))).
 */
const char *log_hex(const void *buf, size_t len, size_t max_bytes, char *out, size_t out_size);
#define LOG_HEX_BUF_SIZE(max_bytes) ((max_bytes)*3 + 4)

/* Test hook: messages are also passed here after formatting (NULL to remove). */
typedef void (*LogSink)(int level, const char *message, const char *const *fields, void *userdata);
void log_set_sink(LogSink sink, void *userdata);
