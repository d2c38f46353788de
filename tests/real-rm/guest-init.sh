#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the real-RM lane's guest: say so and power off (PSCI SYSTEM_OFF), which the RM
# reports to gunyahd as NOTIFY_VM_EXITED.
/bin/busybox mount -t proc proc /proc 2>/dev/null
echo "REALRM-GUEST: up on $(/bin/busybox uname -r), powering off"
/bin/busybox poweroff -f
