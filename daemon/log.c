/* SPDX-License-Identifier: MIT */
/*
 * Logging over sd-journal with a stderr fallback (see log.h for the contract).
 *
 * The journal gets MESSAGE=, PRIORITY=, SYSLOG_IDENTIFIER=, CODE_FILE/LINE/FUNC=, ERRNO=
 * and the caller's fields through one sd_journal_sendv(); stderr gets one write() per
 * message so that lines from concurrent writers do not interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "log.h"

#define LOG_MESSAGE_MAX 2048u
#define LOG_FIELDS_MAX 16u

static int log_max_level = LOG_INFO;
static LogTarget log_target = LOG_TARGET_AUTO;
static const char *log_identifier = "gunyahd";
static LogSink log_sink;
static void *log_sink_userdata;

static const char *const level_table[] = {
    [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "err",
    [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

static const char *const target_table[_LOG_TARGET_MAX] = {
    [LOG_TARGET_AUTO] = "auto",
    [LOG_TARGET_JOURNAL] = "journal",
    [LOG_TARGET_STDERR] = "stderr",
};

const char *log_level_to_string(int level)
{
        if (level < 0 || (size_t)level >= ELEMENTSOF(level_table))
                return NULL;
        return level_table[level];
}

int log_level_from_string(const char *s)
{
        char *end;
        long v;

        if (!s || !*s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(level_table); i++)
                if (strcmp(s, level_table[i]) == 0)
                        return (int)i;
        if (strcmp(s, "warn") == 0)
                return LOG_WARNING;
        if (strcmp(s, "error") == 0)
                return LOG_ERR;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || *end || v < LOG_EMERG || v > LOG_DEBUG)
                return -EINVAL;
        return (int)v;
}

const char *log_target_to_string(LogTarget t)
{
        if ((int)t < 0 || t >= _LOG_TARGET_MAX)
                return NULL;
        return target_table[t];
}

LogTarget log_target_from_string(const char *s)
{
        if (!s)
                return _LOG_TARGET_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(target_table); i++)
                if (strcmp(s, target_table[i]) == 0)
                        return (LogTarget)i;
        return _LOG_TARGET_INVALID;
}

void log_set_max_level(int level)
{
        if (level < LOG_EMERG)
                level = LOG_EMERG;
        if (level > LOG_DEBUG)
                level = LOG_DEBUG;
        log_max_level = level;
}

int log_get_max_level(void)
{
        return log_max_level;
}

/* systemd sets $JOURNAL_STREAM="<dev>:<ino>" for a service whose stderr is the journal. */
static bool stderr_is_journal(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_set_target(LogTarget target)
{
        if (target == LOG_TARGET_AUTO)
                target = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
        if ((int)target < 0 || target >= _LOG_TARGET_MAX)
                target = LOG_TARGET_STDERR;
        log_target = target;
}

LogTarget log_get_target(void)
{
        return log_target;
}

void log_setup(const char *identifier)
{
        const char *e = getenv("GUNYAHD_LOG_LEVEL");
        int level;

        if (identifier && *identifier)
                log_identifier = identifier;
        if (e) {
                level = log_level_from_string(e);
                if (level >= 0)
                        log_set_max_level(level);
        }
        log_set_target(log_target);
}

void log_set_sink(LogSink sink, void *userdata)
{
        log_sink = sink;
        log_sink_userdata = userdata;
}

/* A journal field name: [A-Z0-9_]+, not starting with '_' (those are trusted fields). */
static bool field_valid(const char *f)
{
        const char *eq;

        if (!f || f[0] == '_' || f[0] == '=' || !f[0])
                return false;
        eq = strchr(f, '=');
        if (!eq || eq - f > 64)
                return false;
        for (const char *p = f; p < eq; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
                        return false;
        return true;
}

static bool log_to_journal(int level, int error, const char *const *fields, const char *file,
                           int line, const char *func, const char *msg)
{
        char prio[16], code_line[32], err[32];
        char *message = NULL, *ident = NULL, *code_file = NULL, *code_func = NULL;
        struct iovec iov[8 + LOG_FIELDS_MAX];
        size_t n = 0;
        bool ok = false;

        if (asprintf(&message, "MESSAGE=%s", msg) < 0)
                message = NULL;
        if (asprintf(&ident, "SYSLOG_IDENTIFIER=%s", log_identifier) < 0)
                ident = NULL;
        if (asprintf(&code_file, "CODE_FILE=%s", file ? file : "") < 0)
                code_file = NULL;
        if (asprintf(&code_func, "CODE_FUNC=%s", func ? func : "") < 0)
                code_func = NULL;
        if (!message || !ident || !code_file || !code_func)
                goto out;

        snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
        snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
        iov[n++] = (struct iovec){message, strlen(message)};
        iov[n++] = (struct iovec){prio, strlen(prio)};
        iov[n++] = (struct iovec){ident, strlen(ident)};
        iov[n++] = (struct iovec){code_file, strlen(code_file)};
        iov[n++] = (struct iovec){code_line, strlen(code_line)};
        iov[n++] = (struct iovec){code_func, strlen(code_func)};
        if (error != 0) {
                snprintf(err, sizeof(err), "ERRNO=%d", error);
                iov[n++] = (struct iovec){err, strlen(err)};
        }
        for (size_t i = 0; fields && fields[i] && i < LOG_FIELDS_MAX; i++)
                if (field_valid(fields[i]))
                        iov[n++] = (struct iovec){(void *)fields[i], strlen(fields[i])};

        ok = sd_journal_sendv(iov, (int)n) >= 0;
out:
        free(message);
        free(ident);
        free(code_file);
        free(code_func);
        return ok;
}

static void log_to_stderr(int level, const char *const *fields, const char *msg)
{
        char line[LOG_MESSAGE_MAX + 512];
        size_t n;
        int k;

        k = snprintf(line, sizeof(line), "%s: %s: %s", log_identifier,
                     log_level_to_string(level) ?: "?", msg);
        n = k < 0 ? 0 : MIN((size_t)k, sizeof(line) - 1);
        for (size_t i = 0; fields && fields[i] && i < LOG_FIELDS_MAX; i++) {
                if (!field_valid(fields[i]))
                        continue;
                k = snprintf(line + n, sizeof(line) - n, "%s%s", i == 0 ? " [" : " ", fields[i]);
                n = k < 0 ? n : MIN(n + (size_t)k, sizeof(line) - 1);
        }
        if (fields && fields[0] && n < sizeof(line) - 2)
                line[n++] = ']';
        if (n >= sizeof(line) - 1)
                n = sizeof(line) - 2;
        line[n++] = '\n';
        (void)!write(STDERR_FILENO, line, n);
}

static _printf_(7, 0) int log_internalv(int level, int error, const char *const *fields,
                                        const char *file, int line, const char *func,
                                        const char *fmt, va_list ap)
{
        char msg[LOG_MESSAGE_MAX];
        int saved = errno;

        if (error < 0)
                error = -error;
        if (level > log_max_level)
                return -error;

        errno = error; /* for %m */
        vsnprintf(msg, sizeof(msg), fmt, ap);

        if (log_sink)
                log_sink(level, msg, fields, log_sink_userdata);
        if (log_target == LOG_TARGET_AUTO)
                log_set_target(LOG_TARGET_AUTO);
        if (log_target != LOG_TARGET_JOURNAL ||
            !log_to_journal(level, error, fields, file, line, func, msg))
                log_to_stderr(level, fields, msg);

        errno = saved;
        return -error;
}

int log_internal(int level, int error, const char *const *fields, const char *file, int line,
                 const char *func, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = log_internalv(level, error, fields, file, line, func, fmt, ap);
        va_end(ap);
        return r;
}

int log_vm_internal(int level, int error, const char *vm_name, int vmid, const char *file, int line,
                    const char *func, const char *fmt, ...)
{
        char vm_field[128], vmid_field[32];
        const char *fields[3] = {NULL, NULL, NULL};
        size_t n = 0;
        va_list ap;
        int r;

        if (level > log_max_level)
                return error < 0 ? error : -error;
        if (vm_name) {
                snprintf(vm_field, sizeof(vm_field), "GUNYAH_VM=%s", vm_name);
                fields[n++] = vm_field;
        }
        if (vmid >= 0) {
                snprintf(vmid_field, sizeof(vmid_field), "GUNYAH_VMID=%d", vmid);
                fields[n++] = vmid_field;
        }

        va_start(ap, fmt);
        r = log_internalv(level, error, fields, file, line, func, fmt, ap);
        va_end(ap);
        return r;
}

const char *log_hex(const void *buf, size_t len, size_t max_bytes, char *out, size_t out_size)
{
        static const char digits[] = "0123456789abcdef";
        const uint8_t *p = buf;
        size_t n = MIN(len, max_bytes), o = 0;

        if (!out || out_size == 0)
                return "";
        for (size_t i = 0; i < n; i++) {
                if (o + 3 + 4 > out_size) { /* room for "xx " and a final "..." */
                        n = i;
                        len = n + 1; /* force the ellipsis */
                        break;
                }
                if (i > 0)
                        out[o++] = ' ';
                out[o++] = digits[p[i] >> 4];
                out[o++] = digits[p[i] & 0xf];
        }
        if (len > n && o + 4 <= out_size) {
                memcpy(out + o, "...", 3);
                o += 3;
        }
        out[o] = '\0';
        return out;
}
