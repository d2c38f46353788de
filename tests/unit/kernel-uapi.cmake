# SPDX-License-Identifier: MIT
# The /dev/gunyah ABI (kernel/include/uapi/linux/gunyah-host.h) shared by the module and
# gunyahd: ioctl number and structure layout, checked against hand-computed values.
gunyah_add_test(test-kernel-uapi SOURCES ${CMAKE_CURRENT_LIST_DIR}/test-kernel-uapi.c
                LABELS unit)
target_include_directories(test-kernel-uapi PRIVATE ${PROJECT_SOURCE_DIR}/kernel/include)
