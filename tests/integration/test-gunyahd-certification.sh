#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Conformance of the real gunyahd binary with an off-the-shelf Varlink client: Debian's
# varlink-go-certification -client against gunyahd --varlink-certification, with gunyahd on
# gunyah-rm-sim. Also checks the daemon refuses the certification interface without the
# test option. Usage: test-gunyahd-certification.sh BINDIR CERTIFICATION-CLIENT
set -euo pipefail
bin=$1 cert=$2
if [ ! -x "$cert" ]; then
    echo "varlink-go-certification not installed: skipped"
    exit 77
fi
dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

wait_for_socket() {
    for _ in $(seq 1 200); do
        [ -S "$1" ] && return 0
        sleep 0.05
    done
    echo "timed out waiting for $1" >&2
    return 1
}

start_daemon() { # extra gunyahd flags...
    "$bin/gunyahd" --rm-socket "$dir/rm.sock" --pool "$dir/pool:0x80000000:64M" \
        --state-dir "$dir/state" --image-dir "$dir" --api-socket "$dir/api.sock" \
        --config /dev/null "$@" 2>>"$dir/gunyahd.log" &
    pids+=($!)
    wait_for_socket "$dir/api.sock"
}

"$bin/gunyah-rm-sim" --listen "$dir/rm.sock" --pool "$dir/pool:0x80000000:64M" >"$dir/sim.log" 2>&1 &
pids+=($!)
wait_for_socket "$dir/rm.sock"

# varlink-go-certification exits 0 even when a step fails ("Start() failed"): judge a run by
# its transcript, which ends with "End: 'true'" when every step passed.
certified() { # log
    grep -qx "End: 'true'" "$1" && ! grep -qi "failed" "$1"
}

# Without the test option the interface does not exist: the client must fail.
start_daemon
timeout 30 "$cert" -client -varlink="unix:$dir/api.sock" >"$dir/refused.log" 2>&1 || true
if certified "$dir/refused.log"; then
    echo "FAIL: certification passed against a daemon that does not serve it" >&2
    exit 1
fi
kill "${pids[-1]}"; wait "${pids[-1]}" || true; unset 'pids[-1]'; rm -f "$dir/api.sock"

start_daemon --varlink-certification
timeout 60 "$cert" -client -varlink="unix:$dir/api.sock" >"$dir/cert.log" 2>&1 || true
if ! certified "$dir/cert.log"; then
    echo "FAIL: varlink-go-certification -client against gunyahd" >&2
    cat "$dir/cert.log" "$dir/gunyahd.log" >&2
    exit 1
fi
tail -n 3 "$dir/cert.log"
echo "1 passed, 0 failed"
