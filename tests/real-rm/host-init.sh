#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the real-RM lane's host initrd (assembled by tests/real-rm/run.sh). Every line
# the runner judges starts with "REALRM:"; the last is "REALRM: PASS" or "REALRM: FAIL ...",
# then the host powers off (QEMU exits by itself).
# Kernel command line: realrm.mode=lane|contract|loopback realrm.pool=BASE,SIZE
#   lane:     the real RM under Gunyah: module, gunyahd on /dev/gunyah, a guest VM that
#             powers itself off, destroy, VMID and pool back.
#   contract: no hypervisor needed (plain QEMU, fake RM node in the DT): the parts of the
#             device contract that issue no hypercall, then the lane's daemon flow against
#             gunyah-rm-sim.
#   loopback: under tests/real-rm/loopback-hyp.S: the module's hypercall and vIRQ paths.
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
say "host up: $(uname -r) $(uname -m), mode $mode, pool $pool_base+$pool_size,\
 $(sed -n 's/^MemAvailable: *//p' /proc/meminfo) available"

insmod /lib/modules/gunyah_host.ko || fail "insmod gunyah_host.ko"
wait_for 20 test -c /dev/gunyah || fail "/dev/gunyah did not appear"
dmesg | grep -E 'gunyah[-_]host|gunyah-resource|resource-manager' | sed 's/^/REALRM: dmesg: /'
say "$(ls -l /dev/gunyah)"

export GUNYAHCTL_ADDRESS=/run/gunyahd/io.gunyah.Manager
ctl() { gunyahctl --timeout 300 "$@"; }
# The first "key": value of a one-line JSON reply (the VM's own keys come before its parcels').
json_int() { grep -o "\"$1\": *[0-9][0-9]*" | head -n1 | sed 's/.*: *//'; }
json_str() { grep -o "\"$1\": *\"[^\"]*\"" | head -n1 | sed 's/.*: *"//; s/"$//'; }
vm_state() { ctl --json info guest | json_str state; }
guest_done() {
    ctl --json info guest >/tmp/info.json &&
        [ "$(json_str state </tmp/info.json)" = stopped ] && grep -q '"exit": *{' /tmp/info.json
}

# The daemon's part of the lane: gunyahd with $GUNYAHD_ARGS, a guest of $1 bytes of RAM that
# ends by itself ($2 = self: its /init powers off) or on "gunyahctl stop" ($2 = stop), its
# exit, destroy, the pool back in gunyahd, then (gunyahd stopped) the guest's VMID free
# again in the RM reached through $3 (/dev/gunyah or the simulator's socket).
run_lane() {
    mkdir -p /run/gunyahd /var/lib/gunyahd
    # shellcheck disable=SC2086 # GUNYAHD_ARGS is a word list by design
    gunyahd $GUNYAHD_ARGS >/tmp/gunyahd.log 2>&1 &
    gunyahd_pid=$!
    wait_for 120 ctl daemon-info || { cat /tmp/gunyahd.log; fail "gunyahd did not come up"; }
    ctl daemon-info | sed 's/^/REALRM: /'
    avail_before=$(ctl --json daemon-info | json_int available)
    [ -n "$avail_before" ] || fail "no pool in daemon-info"

    ctl create guest --memory "$1" --vcpus 1 --kernel /guest/Image \
        --initrd /guest/initrd.gz --cmdline "rdinit=/init panic=-1" || fail "create"
    # The last reply of StartVM carries the VM with its VMID: read it there, the guest may
    # be gone (exited and released, VMID null) by the time anyone asks again.
    ctl --json start guest >/tmp/start.json 2>&1 ||
        { cat /tmp/start.json; ctl info guest; cat /tmp/gunyahd.log; fail "start"; }
    sed 's/^/REALRM: start: /' /tmp/start.json
    vmid=$(tail -n1 /tmp/start.json | json_int vmid)
    [ -n "$vmid" ] || fail "no VMID in StartVM's last reply"
    say "guest started: VMID $vmid"
    [ "$2" != stop ] || ctl stop guest || { ctl info guest; cat /tmp/gunyahd.log; fail "stop"; }
    # Done when gunyahd recorded the exit (NOTIFY_VM_EXITED; for "self" after the guest's
    # PSCI SYSTEM_OFF) and released everything: state "stopped" with an exit.
    wait_for 600 guest_done || { ctl info guest; cat /tmp/gunyahd.log; fail "guest did not exit"; }
    ctl info guest | sed 's/^/REALRM: info: /'
    ctl destroy guest || fail "destroy"
    ! ctl --json list | grep -q '"guest"' || fail "guest still listed after destroy"
    avail_after=$(ctl --json daemon-info | json_int available)
    say "pool available before $avail_before, after $avail_after"
    [ "$avail_after" = "$avail_before" ] || fail "pool ranges not all back"

    kill "$gunyahd_pid"
    (sleep 60; kill -9 "$gunyahd_pid") 2>/dev/null &
    watchdog=$!
    wait "$gunyahd_pid"
    kill "$watchdog" 2>/dev/null
    say "gunyahd log:"
    sed 's/^/REALRM: gunyahd: /' /tmp/gunyahd.log
    gunyah-devcheck rm-vmid "$vmid" "$3" || fail "VMID not back in the RM"
}

case "$mode" in
contract)
    gunyah-devcheck contract "$pool_base" "$pool_size" || fail "device contract"
    for prog in gunyahd gunyahctl gunyah-rm-sim; do
        "$prog" --version >/tmp/v 2>&1 || "$prog" --help >/tmp/v 2>&1 ||
            { cat /tmp/v; fail "$prog does not run here"; }
        say "$prog: $(head -n1 /tmp/v)"
    done
    rmmod gunyah_host || fail "rmmod"
    # Rehearse the lane's daemon flow on this arm64 kernel against gunyah-rm-sim (open-rm
    # profile, like the open-source RM), through a socket and a pool file.
    sim_pool=/tmp/pool:0x50000000:0x10000000
    gunyah-rm-sim --listen /run/rm.sock --pool "$sim_pool" --profile open-rm \
        >/tmp/sim.log 2>&1 &
    wait_for 30 test -S /run/rm.sock || { cat /tmp/sim.log; fail "gunyah-rm-sim did not start"; }
    GUNYAHD_ARGS="--rm-socket=/run/rm.sock --pool=$sim_pool --state-dir=/var/lib/gunyahd"
    GUNYAHD_ARGS="$GUNYAHD_ARGS --api-socket=/run/gunyahd/io.gunyah.Manager"
    run_lane 64M stop /run/rm.sock
    finish PASS
    ;;
loopback)
    gunyah-devcheck loopback || fail "hypercall paths against the loopback stand-in"
    rmmod gunyah_host || fail "rmmod"
    finish PASS
    ;;
lane)
    run_lane 256M self /dev/gunyah
    rmmod gunyah_host || fail "rmmod"
    finish PASS
    ;;
*) fail "unknown realrm.mode '$mode'" ;;
esac
