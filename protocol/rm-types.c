/* SPDX-License-Identifier: MIT */
/*
 * String tables for the RM enumerations (rm-protocol.md sections 8.2, 10). Gaps in a table
 * (e.g. VM status 7, reserved) read as NULL.
 */
#include <stddef.h>

#include "macro.h"
#include "rm-types.h"

static const char *const vm_status_table[] = {
        [RM_VM_STATUS_NONE] = "NONE",
        [RM_VM_STATUS_INIT] = "INIT",
        [RM_VM_STATUS_READY] = "READY",
        [RM_VM_STATUS_RUNNING] = "RUNNING",
        [RM_VM_STATUS_PAUSED] = "PAUSED",
        [RM_VM_STATUS_LOAD] = "LOAD",
        [RM_VM_STATUS_AUTH] = "AUTH",
        [RM_VM_STATUS_INIT_FAILED] = "INIT_FAILED",
        [RM_VM_STATUS_EXITED] = "EXITED",
        [RM_VM_STATUS_RESETTING] = "RESETTING",
        [RM_VM_STATUS_RESET] = "RESET",
};

static const char *const os_status_table[] = {
        [RM_OS_STATUS_NONE] = "NONE",
        [RM_OS_STATUS_EARLY_BOOT] = "EARLY_BOOT",
        [RM_OS_STATUS_BOOT] = "BOOT",
        [RM_OS_STATUS_INIT] = "INIT",
        [RM_OS_STATUS_RUN] = "RUN",
        [RM_OS_STATUS_SHUTDOWN] = "SHUTDOWN",
        [RM_OS_STATUS_HALTED] = "HALTED",
        [RM_OS_STATUS_CRASHED] = "CRASHED",
};

static const char *const exit_type_table[] = {
        [RM_EXIT_TYPE_VM_EXIT] = "VM_EXIT",
        [RM_EXIT_TYPE_PLATFORM_OFF] = "PLATFORM_OFF",
        [RM_EXIT_TYPE_PLATFORM_RESET] = "PLATFORM_RESET",
        [RM_EXIT_TYPE_PSCI_SYSTEM_RESET2] = "PSCI_SYSTEM_RESET2",
        [RM_EXIT_TYPE_WATCHDOG_BITE] = "WATCHDOG_BITE",
        [RM_EXIT_TYPE_SOFTWARE_ERROR] = "SOFTWARE_ERROR",
        [RM_EXIT_TYPE_ASYNC_HW_ERROR] = "ASYNC_HW_ERROR",
        [RM_EXIT_TYPE_VM_STOP_FORCED] = "VM_STOP_FORCED",
};

static const char *const exit_code_table[] = {
        [RM_EXIT_CODE_NORMAL] = "NORMAL",
        [RM_EXIT_CODE_SOFTWARE_ERROR] = "SOFTWARE_ERROR",
        [RM_EXIT_CODE_UNKNOWN_ERROR] = "UNKNOWN_ERROR",
        [RM_EXIT_CODE_BUS_ERROR] = "BUS_ERROR",
        [RM_EXIT_CODE_DEVICE_ERROR] = "DEVICE_ERROR",
};

static const char *const resource_type_table[] = {
        [RM_RES_DOORBELL_SRC] = "DOORBELL_SRC",
        [RM_RES_DOORBELL] = "DOORBELL",
        [RM_RES_MSG_QUEUE_SEND] = "MSG_QUEUE_SEND",
        [RM_RES_MSG_QUEUE_RECV] = "MSG_QUEUE_RECV",
        [RM_RES_VIRTUAL_CPU] = "VIRTUAL_CPU",
        [RM_RES_VIRTUAL_PM] = "VIRTUAL_PM",
        [RM_RES_VIRTIO_MMIO] = "VIRTIO_MMIO",
        [RM_RES_VRTC] = "VRTC",
        [RM_RES_WATCHDOG] = "WATCHDOG",
        [RM_RES_MEM_EXTENT] = "MEM_EXTENT",
        [RM_RES_ADDR_SPACE] = "ADDR_SPACE",
};

#define TABLE_LOOKUP(table, v) ((v) < ELEMENTSOF(table) ? (table)[(v)] : NULL)

const char *rm_vm_status_to_string(uint32_t s)
{
        return TABLE_LOOKUP(vm_status_table, s);
}

const char *rm_os_status_to_string(uint32_t s)
{
        return TABLE_LOOKUP(os_status_table, s);
}

const char *rm_exit_type_to_string(uint32_t t)
{
        return TABLE_LOOKUP(exit_type_table, t);
}

const char *rm_exit_code_to_string(uint32_t c)
{
        return TABLE_LOOKUP(exit_code_table, c);
}

const char *rm_resource_type_to_string(uint32_t t)
{
        return TABLE_LOOKUP(resource_type_table, t);
}
