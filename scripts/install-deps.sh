#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what gunyahd needs from Debian's packages, only when something is missing.
#   scripts/install-deps.sh            build dependencies
#   scripts/install-deps.sh --test     + test tools (clang/libFuzzer, valgrind, varlink-go, ...)
#   scripts/install-deps.sh --cross    + arm64 cross toolchain, arm64 -dev packages, qemu-user
#   scripts/install-deps.sh --kernel   + Debian's arm64 6.1 kernel headers for kernel/ (see below)
#   scripts/install-deps.sh --real-rm  + what tests/real-rm/run.sh boots and assembles with
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libsystemd-dev libjson-c-dev libfdt-dev)
test_pkgs=(clang libclang-rt-14-dev valgrind scdoc varlink-go systemd python3 device-tree-compiler)
# libfdt-dev is not Multi-Arch: same on Debian 12 (libfdt-dev:arm64 would remove the amd64
# one): the cross build takes libfdt1:arm64 plus the arch-independent headers of libfdt-dev.
cross_pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
            libsystemd-dev:arm64 libjson-c-dev:arm64 libfdt1:arm64)
# --kernel: the flavour package linux-headers-<abi>-arm64:arm64 cannot be installed on amd64
# (it depends on gcc-12:arm64, which would remove the native compiler), so it is unpacked
# into $kheaders_root beside the installed arch-independent linux-headers-<abi>-common and
# the amd64 linux-kbuild-6.1 of the same version (Multi-Arch: foreign: amd64 host tools;
# its modpost reads arm64 objects).
kernel_pkgs=(gcc-aarch64-linux-gnu make)
kheaders_root=${GUNYAH_KHEADERS_ROOT:-/var/cache/gunyahd-cross}
realrm_pkgs=(qemu-system-arm device-tree-compiler cpio)

want=("${build_pkgs[@]}")
kernel=0
for arg in "$@"; do
    case "$arg" in
    --test) want+=("${test_pkgs[@]}") ;;
    --cross) want+=("${cross_pkgs[@]}") ;;
    --kernel) want+=("${kernel_pkgs[@]}"); kernel=1 ;;
    --real-rm) want+=("${realrm_pkgs[@]}") ;;
    *) echo "usage: $0 [--test] [--cross] [--kernel] [--real-rm]" >&2; exit 2 ;;
    esac
done

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

# The arm64 ABI the archive offers now (linux-headers-arm64 -> linux-headers-<abi>-arm64).
# Empty (not a failure) while apt does not know arm64 yet.
kernel_abi() {
    local deps
    deps=$(apt-cache depends linux-headers-arm64:arm64 2>/dev/null) || return 0
    sed -n 's/^ *Depends: linux-headers-\(.*\)-arm64:arm64$/\1/p;T;q' <<<"$deps"
}

install_kernel_headers() {
    local abi ver dir tmp
    abi=$(kernel_abi)
    if [ -z "$abi" ]; then
        $sudo dpkg --add-architecture arm64
        $sudo apt-get update -qq
        abi=$(kernel_abi)
    fi
    [ -n "$abi" ] || { echo "install-deps: no linux-headers-arm64:arm64 in apt" >&2; exit 1; }
    ver=$(apt-cache policy "linux-headers-$abi-arm64:arm64" | sed -n 's/^ *Candidate: //p')
    dir="$kheaders_root/linux-headers-$abi-arm64"
    if [ -f "$dir/.version" ] && [ "$(cat "$dir/.version")" = "$ver" ] &&
        [ -d "/usr/src/linux-headers-$abi-common" ] && [ -d /usr/lib/linux-kbuild-6.1 ]; then
        return 0
    fi
    echo "install-deps: arm64 kernel headers $abi ($ver)" >&2
    apt_install "linux-kbuild-6.1=$ver" "linux-headers-$abi-common=$ver"
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -qq "linux-headers-$abi-arm64:arm64=$ver" 2>/dev/null) ||
        { echo "install-deps: apt-get download linux-headers-$abi-arm64:arm64=$ver failed" >&2; exit 1; }
    $sudo rm -rf "$dir"
    $sudo mkdir -p "$dir"
    dpkg-deb --fsys-tarfile "$tmp"/linux-headers-"$abi"-arm64_*.deb |
        $sudo tar -x -C "$dir" --strip-components=4 "./usr/src/linux-headers-$abi-arm64"
    rm -rf "$tmp"
    # The package links scripts/ and tools/ relative to /usr/src; point them at kbuild.
    $sudo ln -sfn /usr/lib/linux-kbuild-6.1/scripts "$dir/scripts"
    $sudo ln -sfn /usr/lib/linux-kbuild-6.1/tools "$dir/tools"
    echo "$ver" | $sudo tee "$dir/.version" >/dev/null
}

# Installed for the architecture asked for (a bare name means the native one, as for apt;
# with arm64 added, dpkg-query answers for every architecture's instance).
installed() {
    local arch status
    case "$1" in
    *:*) arch=${1##*:} ;;
    *) arch=$(dpkg --print-architecture) ;;
    esac
    status=$(dpkg-query -W -f='${Architecture} ${Status}\n' "$1" 2>/dev/null) || return 1
    grep -qxE "($arch|all) install ok installed" <<<"$status"
}

# apt-get install that never removes anything (--no-remove: apt aborts instead), so an
# arm64 package can never take an amd64 one (a build dependency, the native compiler) away.
# The output is kept and shown when apt fails; its summary line says what changed.
apt_install() {
    local log rc=0
    log=$(mktemp)
    $sudo apt-get install -y -q --no-install-recommends --no-remove \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$log" >&2
        rm -f "$log"
        echo "install-deps: apt-get install $* failed" >&2
        exit 1
    fi
    sed -n 's/^\([0-9]* upgraded, .*\)$/install-deps: \1/p' "$log" >&2
    rm -f "$log"
}

# A Multi-Arch: same package has one version on every architecture (dpkg enforces it). For
# each arm64 package asked for whose amd64 twin is installed: take the twin's version when
# the archive still has it for arm64 (the native side does not move), else ask for both at
# the candidate version so apt upgrades them together. apt keeps the twins of their
# dependencies (libsystemd0, libc6, libcap2, ...) in step itself, upgrading the amd64 ones
# when it must; with --no-remove that can only upgrade, never remove.
pin_arm64() {
    local p=$1 base=${1%:arm64} ver
    if ! installed "$base:amd64"; then
        echo "$p"
        return
    fi
    ver=$(dpkg-query -W -f='${Version}' "$base:amd64")
    if apt-cache madison "$p" | awk -F'|' -v v="$ver" '{ gsub(/ /, "", $2) } $2 == v { f = 1 } END { exit !f }'; then
        echo "$p=$ver"
    else
        echo "install-deps: $base:amd64 $ver is no longer in the archive: upgrading it with $p" >&2
        echo "$p"
        echo "$base:amd64"
    fi
}

missing=()
for p in "${want[@]}"; do
    installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    for p in "${missing[@]}"; do
        case "$p" in *:arm64) $sudo dpkg --add-architecture arm64; break ;; esac
    done
    echo "install-deps: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    args=()
    for p in "${missing[@]}"; do
        case "$p" in
        *:arm64) mapfile -t -O "${#args[@]}" args < <(pin_arm64 "$p") ;;
        *) args+=("$p") ;;
        esac
    done
    apt_install "${args[@]}"
fi
[ "$kernel" -eq 0 ] || install_kernel_headers
