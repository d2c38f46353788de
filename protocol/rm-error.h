#pragma once
/* SPDX-License-Identifier: MIT */
/*
 * RM error codes (rm-protocol.md section 5.2). These are a domain of their own: the
 * daemon carries an RmError next to -EREMOTEIO up to the API and never folds it into
 * -EINVAL. rm_error_to_errno() is the Linux driver's mapping, kept for logs and for
 * callers that need an errno; note 0x12-0x14 are distinct codes that Linux collapses to
 * -EBADMSG.
 */
#include <stdint.h>

typedef enum RmError {
        RM_OK = 0x0,
        RM_ERROR_NOMEM = 0x1,
        RM_ERROR_NORESOURCE = 0x2,
        RM_ERROR_DENIED = 0x3,
        RM_ERROR_MSG_INVALID = 0x4,
        RM_ERROR_BUSY = 0x5,
        RM_ERROR_ARGUMENT_INVALID = 0x6,
        RM_ERROR_HANDLE_INVALID = 0x7,
        RM_ERROR_VALIDATE_FAILED = 0x8,
        RM_ERROR_MAP_FAILED = 0x9,
        RM_ERROR_MEM_INVALID = 0xA,
        RM_ERROR_MEM_INUSE = 0xB,
        RM_ERROR_MEM_RELEASED = 0xC,
        RM_ERROR_VMID_INVALID = 0xD,
        RM_ERROR_LOOKUP_FAILED = 0xE,
        RM_ERROR_IRQ_INVALID = 0xF,
        RM_ERROR_IRQ_INUSE = 0x10,
        RM_ERROR_IRQ_RELEASED = 0x11,
        RM_ERROR_IN_USE = 0x12,
        RM_ERROR_IRQ_NOT_MAPPED = 0x13,
        RM_ERROR_VM_STATE = 0x14,
        RM_ERROR_UNIMPLEMENTED = 0xFFFFFFFFu,
} RmError;

/* "OK", "NOMEM", ..., "VM_STATE", "UNIMPLEMENTED"; NULL for a code not in the table. */
const char *rm_error_to_string(uint32_t code);
/* Linux v17 mapping: 0 for OK, -EOPNOTSUPP, -ENOMEM, -ENODEV, -EPERM, -EINVAL, -EBUSY,
 * -EBADMSG for 0x12..0x14 and any unknown code. */
int rm_error_to_errno(uint32_t code);
