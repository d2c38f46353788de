#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Cross-build kernel/ (the gunyah host module, /dev/gunyah) for arm64 against Debian's 6.1
# kernel headers with Debian's cross gcc, warnings as errors (W=1 + -Werror, and any
# modpost warning fails too). The sources are copied into the build directory, so the tree
# stays clean (kbuild 6.1 writes its objects next to the sources of an external module).
#   scripts/build-kernel-module.sh [BUILD_DIR]     default build-kmod/
# Result: BUILD_DIR/gunyah_host.ko, BUILD_DIR/kernel.release (the ABI it loads into) and
# BUILD_DIR/kernel.version (the Debian package version of those headers).
# KDIR=... overrides the headers directory (default: the newest one install-deps unpacked).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$(realpath -m "${1:-build-kmod}")

./scripts/install-deps.sh --kernel
kheaders_root=${GUNYAH_KHEADERS_ROOT:-/var/cache/gunyahd-cross}
if [ -z "${KDIR:-}" ]; then
    shopt -s nullglob
    dirs=("$kheaders_root"/linux-headers-*-arm64)
    shopt -u nullglob
    [ ${#dirs[@]} -eq 0 ] || KDIR=$(printf '%s\n' "${dirs[@]}" | sort -V | tail -n1)
fi
kdir=${KDIR:-$kheaders_root/(none)}
[ -f "$kdir/Makefile" ] || { echo "build-kernel-module: no arm64 headers in '$kdir'" >&2; exit 1; }
release=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$kdir/include/generated/utsrelease.h")
cc_version=$(sed -n 's/^CONFIG_GCC_VERSION=//p' "$kdir/include/config/auto.conf")
cc=aarch64-linux-gnu-gcc-$((cc_version / 10000))
command -v "$cc" >/dev/null || { echo "build-kernel-module: $cc missing" >&2; exit 1; }

rm -rf "$out/src"
mkdir -p "$out/src"
cp -r "$root/kernel/." "$out/src/"
log="$out/build.log"
make -s -C "$kdir" M="$out/src" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- CC="$cc" \
    KCFLAGS=-Werror W=1 -j"$(nproc)" modules >"$log" 2>&1 || {
    cat "$log" >&2
    echo "build-kernel-module: build failed" >&2
    exit 1
}
# BTF needs the kernel's vmlinux, which headers packages do not ship: that note is expected.
if grep -v '^Skipping BTF generation' "$log" | grep -i -E 'warning|error' >&2; then
    echo "build-kernel-module: warnings (treated as errors)" >&2
    exit 1
fi
cp "$out/src/gunyah_host.ko" "$out/"
echo "$release" >"$out/kernel.release"
cat "$kdir/.version" >"$out/kernel.version" 2>/dev/null || : >"$out/kernel.version"
magic=$(aarch64-linux-gnu-objcopy -O binary -j .modinfo "$out/gunyah_host.ko" /dev/stdout |
    tr '\0' '\n' | sed -n 's/^vermagic=//p')
case "$magic" in
"$release "*) ;;
*) echo "build-kernel-module: vermagic '$magic' does not match $release" >&2; exit 1 ;;
esac
echo "build-kernel-module: $out/gunyah_host.ko for $release ($magic)"
