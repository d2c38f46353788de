#!/bin/bash
# SPDX-License-Identifier: MIT
# Fuzzing campaign: run every libFuzzer target of a -DGUNYAHD_FUZZ=ON build for a fixed time,
# PARALLEL at a time, then print one line per target: executions, cov:, ft:, corpus size and
# crashes. New inputs go to OUT/NAME/corpus (not into the checked-in seed corpus); crash
# inputs to OUT/NAME/crash-*. Copy a crash into tests/fuzz/corpus/NAME/ once it is fixed.
#
#   tests/reliability/fuzz-campaign.sh BUILD_DIR [SECONDS=600] [PARALLEL=2] [OUT=/tmp/gunyah-fuzz]
#                                      [TARGET...]
set -eu
build=${1:?usage: fuzz-campaign.sh BUILD_DIR [SECONDS] [PARALLEL] [OUT] [TARGET...]}
secs=${2:-600}
par=${3:-2}
out=${4:-/tmp/gunyah-fuzz}
shift $(( $# < 4 ? $# : 4 ))
src=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
if [ $# -gt 0 ]; then
        targets=("$@")
else
        targets=()
        for d in "$src"/tests/fuzz/corpus/*/; do
                t=$(basename "$d")
                [ -x "$build/bin/$t" ] && targets+=("$t")
        done
fi

run_one() {
        local t=$1 secs=$2 build=$3 src=$4 out=$5
        mkdir -p "$out/$t/corpus"
        # -rss_limit_mb: ASan shadow + the fuzzers' own state stay far below it
        "$build/bin/$t" -max_total_time="$secs" -print_final_stats=1 -timeout=25 \
                -rss_limit_mb=2048 -artifact_prefix="$out/$t/" \
                "$out/$t/corpus" "$src/tests/fuzz/corpus/$t" >"$out/$t/log" 2>&1 || true
}
export -f run_one
printf '%s\n' "${targets[@]}" | xargs -P "$par" -I{} bash -c 'run_one "$@"' _ {} "$secs" "$build" "$src" "$out"

printf '%-22s %12s %8s %8s %8s %7s\n' target executions cov ft corpus crashes
for t in "${targets[@]}"; do
        log=$out/$t/log
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        last=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -1 || true)
        cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
        ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
        n=$(find "$out/$t/corpus" -type f | wc -l)
        crashes=$(find "$out/$t" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'leak-*' \
                  -o -maxdepth 1 -name 'timeout-*' -o -maxdepth 1 -name 'oom-*' | wc -l)
        printf '%-22s %12s %8s %8s %8s %7s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$n" "$crashes"
done
