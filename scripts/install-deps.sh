#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what gunyahd needs from Debian's packages, only when something is missing.
#   scripts/install-deps.sh            build dependencies
#   scripts/install-deps.sh --test     + test tools (clang/libFuzzer, valgrind, varlink-go, ...)
#   scripts/install-deps.sh --cross    + arm64 cross toolchain, arm64 -dev packages, qemu-user,
#                                        arm64 kernel headers (kernel/ module)
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libsystemd-dev libjson-c-dev libfdt-dev)
test_pkgs=(clang libclang-rt-14-dev valgrind scdoc varlink-go systemd python3 device-tree-compiler)
cross_pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
            libsystemd-dev:arm64 libjson-c-dev:arm64 libfdt-dev:arm64)

want=("${build_pkgs[@]}")
for arg in "$@"; do
    case "$arg" in
    --test) want+=("${test_pkgs[@]}") ;;
    --cross) want+=("${cross_pkgs[@]}") ;;
    *) echo "usage: $0 [--test] [--cross]" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
for p in "${missing[@]}"; do
    case "$p" in *:arm64) $sudo dpkg --add-architecture arm64; break ;; esac
done
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
