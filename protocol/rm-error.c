/* SPDX-License-Identifier: MIT */
/*
 * RM error code names and the Linux v17 errno mapping (rm-protocol.md section 5.2). The
 * mapping is for logs only: the daemon keeps the RmError itself (0x12-0x14 stay distinct).
 */
#include <errno.h>
#include <stddef.h>

#include "macro.h"
#include "rm-error.h"

typedef struct RmErrorInfo {
        const char *name;
        int linux_errno; /* negative */
} RmErrorInfo;

/* Indexed by code 0x0..0x14; UNIMPLEMENTED (0xFFFFFFFF) is handled apart. */
static const RmErrorInfo error_table[] = {
        [RM_OK] = { "OK", 0 },
        [RM_ERROR_NOMEM] = { "NOMEM", -ENOMEM },
        [RM_ERROR_NORESOURCE] = { "NORESOURCE", -ENODEV },
        [RM_ERROR_DENIED] = { "DENIED", -EPERM },
        [RM_ERROR_MSG_INVALID] = { "MSG_INVALID", -EINVAL },
        [RM_ERROR_BUSY] = { "BUSY", -EBUSY },
        [RM_ERROR_ARGUMENT_INVALID] = { "ARGUMENT_INVALID", -EINVAL },
        [RM_ERROR_HANDLE_INVALID] = { "HANDLE_INVALID", -EINVAL },
        [RM_ERROR_VALIDATE_FAILED] = { "VALIDATE_FAILED", -EINVAL },
        [RM_ERROR_MAP_FAILED] = { "MAP_FAILED", -EINVAL },
        [RM_ERROR_MEM_INVALID] = { "MEM_INVALID", -EINVAL },
        [RM_ERROR_MEM_INUSE] = { "MEM_INUSE", -EINVAL },
        [RM_ERROR_MEM_RELEASED] = { "MEM_RELEASED", -EINVAL },
        [RM_ERROR_VMID_INVALID] = { "VMID_INVALID", -EINVAL },
        [RM_ERROR_LOOKUP_FAILED] = { "LOOKUP_FAILED", -EINVAL },
        [RM_ERROR_IRQ_INVALID] = { "IRQ_INVALID", -EINVAL },
        [RM_ERROR_IRQ_INUSE] = { "IRQ_INUSE", -EINVAL },
        [RM_ERROR_IRQ_RELEASED] = { "IRQ_RELEASED", -EINVAL },
        /* Linux has no names for these three and maps them to -EBADMSG. */
        [RM_ERROR_IN_USE] = { "IN_USE", -EBADMSG },
        [RM_ERROR_IRQ_NOT_MAPPED] = { "IRQ_NOT_MAPPED", -EBADMSG },
        [RM_ERROR_VM_STATE] = { "VM_STATE", -EBADMSG },
};

const char *rm_error_to_string(uint32_t code)
{
        if (code == RM_ERROR_UNIMPLEMENTED)
                return "UNIMPLEMENTED";
        if (code >= ELEMENTSOF(error_table))
                return NULL;
        return error_table[code].name;
}

int rm_error_to_errno(uint32_t code)
{
        if (code == RM_ERROR_UNIMPLEMENTED)
                return -EOPNOTSUPP;
        if (code >= ELEMENTSOF(error_table))
                return -EBADMSG;
        return error_table[code].linux_errno;
}
