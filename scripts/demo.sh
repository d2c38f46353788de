#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The demo: build, then run gunyahd against gunyah-rm-sim (the Resource Manager simulator)
# in a private temporary directory and drive a sample VM through its whole life with
# gunyahctl: create (the kernel, a small generated arm64 Image, passed as a file
# descriptor), start, list, info, stop, destroy. Every command is printed before its
# output. Both daemons are shut down and the directory removed at the end, also on failure;
# any failing step makes the script exit non-zero.
#   BUILD_DIR=build-x scripts/demo.sh   builds into another directory (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}

scripts/install-deps.sh
cmake -S . -B "$build" >/dev/null
cmake --build "$build" -j"$(nproc)" --target gunyahd gunyahctl gunyah-rm-sim gunyah-test-image

bin=$(cd "$build/bin" && pwd)
tmp=$(mktemp -d /tmp/gunyahd-demo.XXXXXX)
sim_pid=""
daemon_pid=""

stop_pid() { # pid name: SIGTERM, wait up to 10 s, report a non-zero exit
    local pid=$1 name=$2 status=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "demo: $name exited with status $status" >&2
        return 1
    fi
}

cleanup() {
    local status=$?
    trap - EXIT
    stop_pid "$daemon_pid" gunyahd || status=1
    stop_pid "$sim_pid" gunyah-rm-sim || status=1
    if [ "$status" -ne 0 ]; then
        for log in gunyahd gunyah-rm-sim; do
            [ -s "$tmp/$log.log" ] || continue
            echo "--- last lines of $log's log" >&2
            tail -n 20 "$tmp/$log.log" >&2
        done
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # description, command...: retry for up to 30 s
    local what=$1
    shift
    for _ in $(seq 300); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "demo: timed out waiting for $what" >&2
    return 1
}

run() { # print a command as typed, then run it
    echo
    echo "\$ $*"
    "$@"
}

echo
echo "== Private directory $tmp"
mkdir -p "$tmp/images" "$tmp/state"
pool="$tmp/pool:0x80000000:512M"

"$bin/gunyah-rm-sim" --listen "$tmp/rm.sock" --control "$tmp/sim.sock" --pool "$pool" \
    >"$tmp/sim.out" 2>"$tmp/gunyah-rm-sim.log" &
sim_pid=$!
wait_for "gunyah-rm-sim" grep -qx READY "$tmp/sim.out"
echo "gunyah-rm-sim is up (pid $sim_pid): RM link $tmp/rm.sock, pool $pool"

"$bin/gunyahd" --config=/dev/null --rm-socket="$tmp/rm.sock" --pool="$pool" \
    --state-dir="$tmp/state" --image-dir="$tmp/images" --api-socket="$tmp/api.sock" \
    >"$tmp/gunyahd.log" 2>&1 &
daemon_pid=$!
export GUNYAHCTL_ADDRESS="unix:$tmp/api.sock"
wait_for "gunyahd" "$bin/gunyahctl" daemon-info
echo "gunyahd is up (pid $daemon_pid): API $tmp/api.sock"

"$bin/gunyah-test-image" "$tmp/Image" 4M >/dev/null
echo "A small arm64 Image: $tmp/Image ($(stat -c %s "$tmp/Image") bytes)"

PATH="$bin:$PATH"
run gunyahctl daemon-info
run gunyahctl create demo --vcpus 2 --memory 256M --kernel "$tmp/Image" --cmdline "console=hvc0"
run gunyahctl start demo
run gunyahctl list
run gunyahctl info demo
run gunyahctl stop demo
run gunyahctl destroy demo
run gunyahctl list

echo
echo "== Shutting down"
stop_pid "$daemon_pid" gunyahd
daemon_pid=""
stop_pid "$sim_pid" gunyah-rm-sim
sim_pid=""
echo "Demo: PASS"
