#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The real-RM lane: gunyahd against Gunyah's own Resource Manager, under QEMU.
#
#   GUNYAH_HYPVM_ELF=/path/to/hypvm.elf tests/real-rm/run.sh
#       Assemble the host (Debian's arm64 kernel Image, an initrd with busybox-static, the
#       gunyah_host module, arm64 gunyahd/gunyahctl and their libraries, a guest kernel +
#       initrd; QEMU's DT with the VM memory pool), boot Gunyah + RM + that host in
#       qemu-system-aarch64 as docs/real-hardware.md says, and inside the host: load the
#       module, run gunyahd on /dev/gunyah, create and start a guest that powers itself off,
#       wait for its exit, destroy it, check that its VMID and the pool are back, power off.
#       Prints the transcript; exits non-zero on any failure.
#   tests/real-rm/run.sh            (GUNYAH_HYPVM_ELF unset) skips with a message, exit 0
#                                   (or $GUNYAH_REALRM_SKIP_CODE, e.g. 77 for ctest).
#   tests/real-rm/run.sh --assemble Build and assemble everything, validate both DTs; no boot.
#   tests/real-rm/run.sh --contract Assemble, then boot the same host kernel and initrd under
#                                   plain QEMU (no hypervisor; a fake RM node in the DT) and
#                                   check every part of the device contract that needs no
#                                   hypercall, then rehearse the lane's daemon flow (gunyahd,
#                                   gunyahctl) on that arm64 kernel against gunyah-rm-sim.
#   tests/real-rm/run.sh --layout   Boot the lane's exact QEMU command line with a stand-in
#                                   for hypvm.elf (stand-in-hyp.S: enters the host kernel at
#                                   EL2, no RM): checks addresses, DT, initrd and /init up to
#                                   the point where the RM is needed.
#   tests/real-rm/run.sh --loopback Boot the host kernel at EL1 under loopback-hyp.S, an EL2
#                                   stand-in that answers msgqueue_send/receive as documented
#                                   with one loopback queue and raises the two vIRQs: the
#                                   module's hypercall, vIRQ, poll and blocking paths.
#
# The hypervisor image is an input from outside: this project never builds, downloads or
# stores it. Work directory: $GUNYAH_REALRM_DIR (default build-realrm/).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

mode=lane
case "${1:-}" in
"") ;;
--assemble) mode=assemble ;;
--contract) mode=contract ;;
--layout) mode=layout ;;
--loopback) mode=loopback ;;
*) echo "usage: $0 [--assemble | --contract | --layout | --loopback]" >&2; exit 2 ;;
esac
if [ "$mode" = lane ] && [ -z "${GUNYAH_HYPVM_ELF:-}" ]; then
    cat <<'EOF'
real-rm: SKIPPED: GUNYAH_HYPVM_ELF is not set.
real-rm: This lane runs gunyahd against the real Gunyah Resource Manager and needs a Gunyah
real-rm: hypervisor image for QEMU's "qemu" platform (hypvm.elf = hypervisor + RM + C
real-rm: runtime), built outside this project from the quic/gunyah-hypervisor,
real-rm: quic/gunyah-resource-manager and quic/gunyah-c-runtime repositories. See
real-rm: docs/real-hardware.md. (--assemble, --contract, --layout and --loopback run what
real-rm: needs no hypervisor.)
EOF
    exit "${GUNYAH_REALRM_SKIP_CODE:-0}"
fi
if [ "$mode" = lane ] && [ ! -r "$GUNYAH_HYPVM_ELF" ]; then
    echo "real-rm: GUNYAH_HYPVM_ELF=$GUNYAH_HYPVM_ELF is not a readable file" >&2
    exit 1
fi

work=$(realpath -m "${GUNYAH_REALRM_DIR:-$root/build-realrm}")
mkdir -p "$work"
step() { echo "real-rm: == $*"; }

# ---- layout (HLOS RAM is 0x40000000 + 1 GiB on Gunyah's qemu platform) -------------------
# DT and kernel addresses are compiled into the hypervisor (hyp config/platform/qemu.conf).
dt_addr=0x40F00000
image_addr=0x41000000
# The host initrd carries a whole guest kernel, far more than the 7 MiB window below the
# DT: it goes high in HLOS RAM, announced by /chosen linux,initrd-start/end.
initrd_addr=${GUNYAH_REALRM_INITRD_ADDR:-0x78000000}
initrd_max=$((0x80000000 - initrd_addr))
pool_base=${GUNYAH_REALRM_POOL_BASE:-0x50000000}
pool_size=${GUNYAH_REALRM_POOL_SIZE:-0x20000000}
cmdline_common="console=ttyAMA0 earlycon rdinit=/init panic=-1 realrm.pool=$pool_base,$pool_size"

# ---- packages and builds ------------------------------------------------------------------
step "dependencies (scripts/install-deps.sh --cross --kernel --real-rm)"
"$root/scripts/install-deps.sh" --cross --kernel --real-rm

step "kernel module (scripts/build-kernel-module.sh)"
"$root/scripts/build-kernel-module.sh" "$work/kmod"
release=$(cat "$work/kmod/kernel.release")
kversion=$(cat "$work/kmod/kernel.version")

step "arm64 gunyahd, gunyahctl, libgunyahctl"
cmake -S "$root" -B "$work/cross" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
    -DGUNYAHD_WERROR=ON -DGUNYAHD_TESTS=ON >/dev/null
# gunyah-rm-sim: the --contract boot rehearses the lane's daemon flow against it.
cmake --build "$work/cross" -j"$(nproc)" --target gunyahd gunyahctl gunyah-rm-sim
aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Werror -I "$root/kernel/include" \
    -o "$work/gunyah-devcheck" "$here/devcheck.c"

step "Debian arm64 packages: linux-image-$release ($kversion), busybox-static"
debs="$work/debs"
mkdir -p "$debs"
fetch() { # package=version: download once into $debs
    local name=${1%%=*}
    ls "$debs/${name%%:*}"_*.deb >/dev/null 2>&1 && return 0
    (cd "$debs" && apt-get download -qq "$1" 2>/dev/null) ||
        { echo "real-rm: apt-get download $1 failed" >&2; exit 1; }
}
fetch "linux-image-$release:arm64=$kversion"
fetch "busybox-static:arm64"
rm -rf "$work/pkg"
mkdir -p "$work/pkg"
dpkg-deb --fsys-tarfile "$debs"/linux-image-"$release"_*.deb |
    tar -x -C "$work/pkg" "./boot/vmlinuz-$release"
dpkg-deb --fsys-tarfile "$debs"/busybox-static_*.deb | tar -x -C "$work/pkg" ./bin/busybox
# The loader device does not decompress: the hypervisor enters a raw arm64 Image. Debian's
# signed arm64 vmlinuz is one already (an EFI-stub Image); a gzip'd one is expanded.
if [ "$(od -An -tx1 -N2 "$work/pkg/boot/vmlinuz-$release" | tr -d ' ')" = 1f8b ]; then
    gzip -dc "$work/pkg/boot/vmlinuz-$release" >"$work/Image"
else
    cp "$work/pkg/boot/vmlinuz-$release" "$work/Image"
fi
[ "$(dd if="$work/Image" bs=1 skip=56 count=4 status=none)" = $'ARM\x64' ] ||
    { echo "real-rm: $work/Image is not an arm64 Image" >&2; exit 1; }

# ---- initrds --------------------------------------------------------------------------------
cpio_gz() { # dir out
    (cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 >"$2"
}

step "guest initrd"
g="$work/guest-root"
rm -rf "$g"
mkdir -p "$g/bin" "$g/proc"
install -m 755 "$work/pkg/bin/busybox" "$g/bin/busybox"
install -m 755 "$here/guest-init.sh" "$g/init"
cpio_gz "$g" "$work/guest-initrd.gz"

# Copy an arm64 ELF's shared libraries (recursively) into the initrd's multiarch dirs.
libdirs=("$work/cross/lib" /usr/lib/aarch64-linux-gnu /lib/aarch64-linux-gnu)
copy_libs() { # root elf
    local lib dir found
    for lib in $(LC_ALL=C readelf -d "$2" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        [ -e "$1/usr/lib/aarch64-linux-gnu/$lib" ] && continue
        found=
        for dir in "${libdirs[@]}"; do
            if [ -e "$dir/$lib" ]; then
                found=$(realpath "$dir/$lib")
                break
            fi
        done
        [ -n "$found" ] || { echo "real-rm: $lib (needed by $2) not found" >&2; exit 1; }
        install -m 644 "$found" "$1/usr/lib/aarch64-linux-gnu/$lib"
        copy_libs "$1" "$found"
    done
}

step "host initrd"
h="$work/host-root"
rm -rf "$h"
mkdir -p "$h/bin" "$h/usr/bin" "$h/lib/modules" "$h/usr/lib/aarch64-linux-gnu" "$h/etc" \
    "$h/guest"
install -m 755 "$work/pkg/bin/busybox" "$h/bin/busybox"
install -m 755 "$here/host-init.sh" "$h/init"
install -m 644 "$work/kmod/gunyah_host.ko" "$h/lib/modules/"
install -m 755 "$work/gunyah-devcheck" "$h/usr/bin/"
for prog in gunyahd gunyahctl gunyah-rm-sim; do
    install -m 755 "$work/cross/bin/$prog" "$h/usr/bin/"
    copy_libs "$h" "$work/cross/bin/$prog"
done
install -m 755 "$(realpath /lib/ld-linux-aarch64.so.1)" "$h/lib/ld-linux-aarch64.so.1"
install -m 644 "$work/Image" "$h/guest/Image"
install -m 644 "$work/guest-initrd.gz" "$h/guest/initrd.gz"
cat >"$h/etc/realrm.env" <<EOF
GUNYAHD_ARGS="${GUNYAHD_REALRM_ARGS:---rm-device=/dev/gunyah --pool=device --state-dir=/var/lib/gunyahd --api-socket=/run/gunyahd/io.gunyah.Manager -v}"
EOF
cpio_gz "$h" "$work/host-initrd.gz"
initrd_size=$(stat -c %s "$work/host-initrd.gz")
echo "real-rm: host initrd $initrd_size bytes (room: $initrd_max)"
[ "$initrd_size" -le "$initrd_max" ] || { echo "real-rm: host initrd too big" >&2; exit 1; }

# ---- devicetrees ------------------------------------------------------------------------------
machine_lane="virt,virtualization=on,gic-version=3,highmem=off"
machine_contract="virt,gic-version=3,highmem=off"
# $1 machine, $2 smp, $3 out.dtb, $4 extra dts text, $5 memory (default 1G: the memory
# node is then the HLOS's 1 GiB), $6 cpu. QEMU's own DT plus the VM memory pool and extras.
make_dtb() {
    local base="${3%.dtb}-qemu.dtb" dts="${3%.dtb}.dts" intc its pcie
    qemu-system-aarch64 -machine "$1,dumpdtb=$base" -cpu "${6:-max,sve128=on}" -m "${5:-1G}" \
        -smp "$2" \
        -nographic -nic none >/dev/null 2>&1 || { echo "real-rm: qemu dumpdtb failed" >&2; exit 1; }
    dtc -q -I dtb -O dts -o "$dts" "$base"
    dtc -I dts -O dtb -o /dev/null "$dts" 2>"$3.baseline.raw"
    dt_warnings "$3.baseline.raw" >"$3.baseline"
    {
        echo
        # The ITS and the PCIe msi-map go: Gunyah gives the HLOS no ITS (hyp-on-QEMU setup).
        intc=$(fdtget -l "$base" / | grep '^intc@' | head -n1)
        its=$(fdtget -l "$base" "/$intc" | grep '^its@' || true)
        pcie=$(fdtget -l "$base" / | grep '^pcie@' | head -n1)
        [ -z "$its" ] || echo "&{/$intc} { /delete-node/ $its; };"
        [ -z "$pcie" ] || echo "&{/$pcie} { /delete-property/ msi-map; };"
        printf '/ {\n\treserved-memory {\n\t\t#address-cells = <2>;\n\t\t#size-cells = <2>;\n'
        printf '\t\tranges;\n\t\tgunyah-vm-pool@%x {\n' "$pool_base"
        printf '\t\t\tcompatible = "gunyah,vm-memory-pool";\n'
        printf '\t\t\treg = <0x0 %#x 0x0 %#x>;\n\t\t\tno-map;\n\t\t};\n\t};\n};\n' \
            "$pool_base" "$pool_size"
        printf '%s\n' "$4"
    } >>"$dts"
    dtc -I dts -O dtb -o "$3" "$dts" 2>"$3.warnings"
    # Decompiled QEMU DTs already draw warnings (phandles became plain numbers): only
    # warnings our additions bring fail the build.
    if [ -n "$(dt_warnings "$3.warnings" | comm -13 "$3.baseline" -)" ]; then
        cat "$3.warnings" >&2
        echo "real-rm: dtc warnings from our additions in $dts" >&2
        exit 1
    fi
}
dt_warnings() { sed 's/^[^:]*:[0-9.-]*: //' "$1" | LC_ALL=C sort -u; }
# Validate what the module and Linux will read.
check_dtb() { # dtb
    local c
    c=$(fdtget "$1" "/reserved-memory/gunyah-vm-pool@$(printf %x "$pool_base")" compatible)
    [ "$c" = gunyah,vm-memory-pool ] || { echo "real-rm: $1: pool compatible '$c'" >&2; exit 1; }
    [ "$(fdtget -t x "$1" "/reserved-memory/gunyah-vm-pool@$(printf %x "$pool_base")" reg)" = \
        "$(printf '0 %x 0 %x' "$pool_base" "$pool_size")" ] ||
        { echo "real-rm: $1: pool reg" >&2; exit 1; }
    fdtget "$1" "/reserved-memory/gunyah-vm-pool@$(printf %x "$pool_base")" no-map >/dev/null ||
        { echo "real-rm: $1: pool lacks no-map" >&2; exit 1; }
    ! dtc -q -I dtb -O dts "$1" | grep -q -e 'arm,gic-v3-its' -e 'msi-map' ||
        { echo "real-rm: $1: ITS or msi-map left" >&2; exit 1; }
    dtc -I dtb -O dtb -o /dev/null "$1" 2>"$1.recheck"
    [ -z "$(dt_warnings "$1.recheck")" ] || { cat "$1.recheck" >&2; exit 1; }
    echo "real-rm: $1 ok ($(stat -c %s "$1") bytes)"
}

step "host DT for Gunyah (lane)"
initrd_end=$((initrd_addr + initrd_size))
chosen() { # mode: /chosen for a boot through loader devices
    printf '/ {\n\tchosen {\n\t\tbootargs = "%s realrm.mode=%s";\n' "$cmdline_common" "$1"
    printf '\t\tlinux,initrd-start = <0x0 %#x>;\n\t\tlinux,initrd-end = <0x0 %#x>;\n\t};\n};\n' \
        "$initrd_addr" "$initrd_end"
}
make_dtb "$machine_lane" 8 "$work/host.dtb" "$(chosen lane)"
check_dtb "$work/host.dtb"
[ "$(fdtget -t x "$work/host.dtb" /chosen linux,initrd-end)" = "$(printf '0 %x' "$initrd_end")" ] ||
    { echo "real-rm: host.dtb: initrd-end" >&2; exit 1; }
[ "$(stat -c %s "$work/host.dtb")" -le $((image_addr - dt_addr)) ] ||
    { echo "real-rm: host.dtb does not fit below the kernel" >&2; exit 1; }

step "host DTs for the contract and loopback boots (a fake RM node as the RM writes it)"
# The RM's node (RM vm_dt.c, as seen live; rm-protocol.md section 1), with SPIs QEMU's virt
# board leaves free instead of the RM's 928/929 (beyond QEMU's 256 SPIs).
fake_rm='/ {
	hypervisor {
		compatible = "qcom,gunyah-hypervisor-1.0", "qcom,gunyah-hypervisor", "simple-bus";
		#address-cells = <2>;
		#size-cells = <0>;
		qcom,resource-manager-rpc@0 {
			compatible = "gunyah-resource-manager", "qcom,resource-manager-1-0",
				     "qcom,resource-manager";
			reg = <0x0 0x0>, <0x0 0x1>;
			interrupts = <0 200 1>, <0 201 1>;
			qcom,is-full-duplex;
			qcom,tx-message-size = <240>;
			qcom,rx-message-size = <240>;
			qcom,tx-queue-depth = <8>;
			qcom,rx-queue-depth = <8>;
		};
	};
};'
make_dtb "$machine_contract" 2 "$work/contract.dtb" "$fake_rm" 2G
check_dtb "$work/contract.dtb"
make_dtb "$machine_lane" 1 "$work/loopback.dtb" "$fake_rm
$(chosen loopback)" 2G cortex-a72
check_dtb "$work/loopback.dtb"

[ "$mode" != assemble ] || { step "assembled in $work (no boot: --assemble)"; exit 0; }

# ---- boot -----------------------------------------------------------------------------------
transcript="$work/transcript-$mode.txt"
hypvm=${GUNYAH_HYPVM_ELF:-}
stand_in() { # name: assemble tests/real-rm/NAME.S into an ELF at 0x80000000
    step "stand-in for hypvm.elf (tests/real-rm/$1.S)"
    aarch64-linux-gnu-as -o "$work/$1.o" "$here/$1.S"
    aarch64-linux-gnu-ld -N --no-warn-rwx-segments -nostdlib -Ttext=0x80000000 -e _start \
        -o "$work/$1.elf" "$work/$1.o"
    hypvm="$work/$1.elf"
}
[ "$mode" != layout ] || stand_in stand-in-hyp
[ "$mode" != loopback ] || stand_in loopback-hyp
if [ "$mode" = contract ]; then
    step "booting Debian's $release under plain QEMU (contract checks)"
    qemu=(qemu-system-aarch64 -machine "$machine_contract" -cpu max -m 2G -smp 2
        -nographic -nic none -no-reboot -kernel "$work/Image" -initrd "$work/host-initrd.gz"
        -dtb "$work/contract.dtb" -append "$cmdline_common realrm.mode=contract")
    limit=${GUNYAH_REALRM_TIMEOUT:-600}
elif [ "$mode" = loopback ]; then
    step "booting Debian's $release at EL1 under the loopback stand-in (hypercall paths)"
    qemu=(qemu-system-aarch64 -machine "$machine_lane" -cpu cortex-a72 -m 2G -smp 1
        -nographic -nic none -no-reboot -kernel "$hypvm"
        -device "loader,file=$work/loopback.dtb,addr=$dt_addr"
        -device "loader,file=$work/Image,addr=$image_addr"
        -device "loader,file=$work/host-initrd.gz,addr=$initrd_addr")
    limit=${GUNYAH_REALRM_TIMEOUT:-600}
else
    step "booting $hypvm with Debian's $release as the host"
    # shellcheck disable=SC2054 # "max,sve128=on" and "size=2G" are single QEMU arguments
    qemu=(qemu-system-aarch64 -machine "$machine_lane" -cpu max,sve128=on -m size=2G
        -smp cpus=8 -nographic -nic none -no-reboot -accel tcg,thread=multi
        -kernel "$hypvm"
        -device "loader,file=$work/host.dtb,addr=$dt_addr"
        -device "loader,file=$work/Image,addr=$image_addr"
        -device "loader,file=$work/host-initrd.gz,addr=$initrd_addr")
    limit=${GUNYAH_REALRM_TIMEOUT:-1800}
fi
echo "real-rm: ${qemu[*]}"
start=$(date +%s)
rc=0
timeout --foreground -k 10 "$limit" "${qemu[@]}" </dev/null 2>&1 | tee "$transcript" || rc=$?
echo "real-rm: QEMU exited (status $rc) after $(($(date +%s) - start)) s; transcript: $transcript"
if [ "$mode" = layout ]; then
    # Without an RM the host must get to its /init in lane mode and stop at /dev/gunyah.
    if grep -q '^REALRM: host up: .*mode lane' "$transcript" &&
        grep -q '^REALRM: FAIL /dev/gunyah did not appear' "$transcript"; then
        echo "real-rm: PASS (layout: host kernel, DT and initrd reached /init; no RM, as expected)"
        exit 0
    fi
    echo "real-rm: FAIL (layout)" >&2
    exit 1
fi
if grep -q '^REALRM: PASS' "$transcript"; then
    echo "real-rm: PASS ($mode)"
    exit 0
fi
grep '^REALRM: FAIL' "$transcript" >&2 || echo "real-rm: no verdict from the host (timeout or crash)" >&2
echo "real-rm: FAIL ($mode)" >&2
exit 1
