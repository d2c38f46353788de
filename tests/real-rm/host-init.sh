#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the real-RM lane's host initrd (assembled by tests/real-rm/run.sh). Every line
# the runner judges starts with "REALRM:"; the last is "REALRM: PASS" or "REALRM: FAIL ...",
# then the host powers off (QEMU exits by itself).
# Kernel command line: realrm.mode=lane|contract realrm.pool=BASE,SIZE
#   lane:     the real RM under Gunyah: module, gunyahd on /dev/gunyah, a guest VM that
#             powers itself off, destroy, VMID and pool back.
#   contract: no hypervisor needed (plain QEMU, fake RM node in the DT): the parts of the
#             device contract that issue no hypercall, and that gunyahd/gunyahctl run.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run /var/lib
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /etc/realrm.env # GUNYAHD_ARGS, written by run.sh

say() { echo "REALRM: $*"; }
finish() {
    say "$1"
    sync
    poweroff -f
    sleep 60
}
fail() {
    say "dmesg (last 40 lines):"
    dmesg | tail -n 40
    finish "FAIL $*"
}
# Poll a condition (a command) once a second, up to $1 seconds.
wait_for() {
    n=$1
    shift
    while [ "$n" -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
        n=$((n - 1))
    done
    return 1
}

mode=
pool=
for arg in $(cat /proc/cmdline); do
    case "$arg" in
    realrm.mode=*) mode=${arg#realrm.mode=} ;;
    realrm.pool=*) pool=${arg#realrm.pool=} ;;
    esac
done
pool_base=${pool%,*}
pool_size=${pool#*,}
say "host up: $(uname -r) $(uname -m), mode $mode, pool $pool_base+$pool_size"

insmod /lib/modules/gunyah_host.ko || fail "insmod gunyah_host.ko"
wait_for 20 test -c /dev/gunyah || fail "/dev/gunyah did not appear"
dmesg | grep -E 'gunyah[-_]host|gunyah-resource|resource-manager' | sed 's/^/REALRM: dmesg: /'
say "$(ls -l /dev/gunyah)"

case "$mode" in
contract)
    gunyah-devcheck contract "$pool_base" "$pool_size" || fail "device contract"
    for prog in gunyahd gunyahctl; do
        "$prog" --version >/tmp/v 2>&1 || { cat /tmp/v; fail "$prog does not run here"; }
        say "$prog: $(head -n1 /tmp/v)"
    done
    rmmod gunyah_host || fail "rmmod"
    finish PASS
    ;;
lane) ;;
*) fail "unknown realrm.mode '$mode'" ;;
esac

# ---- lane: the real RM ------------------------------------------------------------------
export GUNYAHCTL_ADDRESS=/run/gunyahd/io.gunyah.Manager
ctl() { gunyahctl --timeout 300 "$@"; }
json_int() { sed -n "s/.*\"$1\": *\([0-9][0-9]*\).*/\1/p" | head -n1; }
json_str() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n1; }

mkdir -p /run/gunyahd /var/lib/gunyahd
# shellcheck disable=SC2086 # GUNYAHD_ARGS is a word list by design
gunyahd $GUNYAHD_ARGS >/tmp/gunyahd.log 2>&1 &
gunyahd_pid=$!
wait_for 120 ctl daemon-info || { cat /tmp/gunyahd.log; fail "gunyahd did not come up"; }
ctl daemon-info | sed 's/^/REALRM: /'
before=$(ctl --json daemon-info)
avail_before=$(echo "$before" | json_int available)
[ -n "$avail_before" ] || fail "no pool in daemon-info: $before"

ctl create guest --memory 256M --vcpus 1 --kernel /guest/Image --initrd /guest/initrd.gz \
    --cmdline "rdinit=/init panic=-1" || fail "create"
ctl start guest 2>&1 | sed 's/^/REALRM: start: /'
state=$(ctl --json info guest | json_str state)
[ "$state" = running ] || [ "$state" = exited ] || {
    ctl info guest
    cat /tmp/gunyahd.log
    fail "guest not running after start (state $state)"
}
vmid=$(ctl --json info guest | json_int vmid)
say "guest started: VMID $vmid"
# The guest's /init powers off at once: wait for NOTIFY_VM_EXITED (state "exited").
exited() { [ "$(ctl --json info guest | json_str state)" = exited ]; }
wait_for 600 exited || { ctl info guest; cat /tmp/gunyahd.log; fail "guest did not exit"; }
ctl info guest | sed 's/^/REALRM: info: /'
ctl destroy guest || fail "destroy"
ctl --json list | grep -q '"guest"' && fail "guest still listed after destroy"
after=$(ctl --json daemon-info)
avail_after=$(echo "$after" | json_int available)
say "pool available before $avail_before, after $avail_after"
[ "$avail_after" = "$avail_before" ] || fail "pool ranges not all back"

kill "$gunyahd_pid"
wait_for 60 sh -c "! kill -0 $gunyahd_pid" || fail "gunyahd did not stop on SIGTERM"
say "gunyahd log:"
sed 's/^/REALRM: gunyahd: /' /tmp/gunyahd.log
gunyah-devcheck rm-vmid "$vmid" || fail "VMID not back in the RM"
rmmod gunyah_host || fail "rmmod"
finish PASS
