/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "macro.h"
#include "vm-config.h"

void vm_config_init(VmConfig *c)
{
        *c = (VmConfig){
                .vcpus = 1,
                .memory_base = VM_MEMORY_BASE_DEFAULT,
        };
}

void vm_config_done(VmConfig *c)
{
        if (!c)
                return;
        free(c->name);
        free(c->kernel);
        free(c->initrd);
        free(c->cmdline);
        vm_config_init(c);
}

static int strdup_opt(char **dst, const char *src)
{
        *dst = NULL;
        if (!src)
                return 0;
        *dst = strdup(src);
        return *dst ? 0 : -ENOMEM;
}

int vm_config_copy(VmConfig *dst, const VmConfig *src)
{
        VmConfig c = *src;

        c.name = c.kernel = c.initrd = c.cmdline = NULL;
        if (strdup_opt(&c.name, src->name) < 0 || strdup_opt(&c.kernel, src->kernel) < 0 ||
            strdup_opt(&c.initrd, src->initrd) < 0 || strdup_opt(&c.cmdline, src->cmdline) < 0) {
                vm_config_done(&c);
                return -ENOMEM;
        }
        *dst = c;
        return 0;
}

static bool name_char_ok(char ch)
{
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '.' || ch == '_' || ch == '-';
}

bool vm_name_is_valid(const char *name)
{
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        if (n < 1 || n > VM_NAME_MAX || name[0] == '.' || name[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!name_char_ok(name[i]))
                        return false;
        return true;
}

bool vm_source_is_valid(const char *source)
{
        size_t n, start = 0;

        if (!source)
                return false;
        if (strcmp(source, VM_SOURCE_FD) == 0)
                return true;
        n = strlen(source);
        if (n == 0 || n > VM_PATH_MAX || source[0] == '/')
                return false;
        for (size_t i = 0; i <= n; i++) {
                unsigned char ch = (unsigned char)source[i];

                if (i < n && (ch < 0x20 || ch == 0x7f))
                        return false;
                if (i == n || ch == '/') {
                        size_t len = i - start;

                        if (len == 0)
                                return false;
                        if ((len == 1 && source[start] == '.') ||
                            (len == 2 && source[start] == '.' && source[start + 1] == '.'))
                                return false;
                        start = i + 1;
                }
        }
        return true;
}

static int fail(const char **ret_field, const char *field)
{
        if (ret_field)
                *ret_field = field;
        return -EINVAL;
}

int vm_config_validate(const VmConfig *c, uint64_t memory_limit, const char **ret_field)
{
        uint64_t max = VM_MEMORY_MAX;

        if (memory_limit > 0 && memory_limit < max)
                max = memory_limit;
        if (!vm_name_is_valid(c->name))
                return fail(ret_field, "name");
        if (c->vcpus < 1 || c->vcpus > VM_VCPUS_MAX)
                return fail(ret_field, "vcpus");
        if (c->memory_size < VM_MEMORY_MIN || c->memory_size > max ||
            !IS_ALIGNED(c->memory_size, VM_MEMORY_ALIGN))
                return fail(ret_field, "memory_size");
        if (!IS_ALIGNED(c->memory_base, VM_MEMORY_ALIGN) || c->memory_base >= VM_IPA_LIMIT ||
            c->memory_size > VM_IPA_LIMIT - c->memory_base)
                return fail(ret_field, "memory_base");
        if (!vm_source_is_valid(c->kernel))
                return fail(ret_field, "kernel");
        if (c->initrd && !vm_source_is_valid(c->initrd))
                return fail(ret_field, "initrd");
        if (c->cmdline) {
                size_t n = strlen(c->cmdline);

                if (n > VM_CMDLINE_MAX)
                        return fail(ret_field, "cmdline");
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char)c->cmdline[i] < 0x20 && c->cmdline[i] != '\t')
                                return fail(ret_field, "cmdline");
        }
        return 0;
}

int vm_uuid_generate(uint8_t uuid[VM_UUID_SIZE])
{
        size_t got = 0;

        while (got < VM_UUID_SIZE) {
                ssize_t n = getrandom(uuid + got, VM_UUID_SIZE - got, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t)n;
        }
        uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* version 4 */
        uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        return 0;
}

void vm_uuid_format(const uint8_t u[VM_UUID_SIZE], char out[VM_UUID_STRING_MAX])
{
        snprintf(out, VM_UUID_STRING_MAX,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
                 u[14], u[15]);
}

static int hexval(char ch)
{
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return -1;
}

int vm_uuid_parse(const char *s, uint8_t uuid[VM_UUID_SIZE])
{
        uint8_t u[VM_UUID_SIZE];
        size_t k = 0;

        if (!s || strlen(s) != VM_UUID_STRING_MAX - 1)
                return -EINVAL;
        for (size_t i = 0; i < VM_UUID_STRING_MAX - 1;) {
                int hi, lo;

                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return -EINVAL;
                        i++;
                        continue;
                }
                hi = hexval(s[i]);
                lo = hexval(s[i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                u[k++] = (uint8_t)(hi << 4 | lo);
                i += 2;
        }
        memcpy(uuid, u, sizeof(u));
        return 0;
}

bool vm_uuid_is_null(const uint8_t uuid[VM_UUID_SIZE])
{
        for (size_t i = 0; i < VM_UUID_SIZE; i++)
                if (uuid[i])
                        return false;
        return true;
}
