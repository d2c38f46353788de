#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job of the project. For now: build everything into build/ and run the RM wire
# codec's self-check (golden vectors from rm-protocol.md, every length and reassembly rule,
# both fuzz corpora replayed). Later this becomes the full demo on gunyah-rm-sim.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)"

echo
echo "== RM wire codec self-check (protocol/rm-*.c) =="
if ctest --test-dir build -R '^(test-rm-(wire|vm|mem|notify)|fuzz-rm-(reassembly|decoders)-corpus)$' --output-on-failure; then
        echo "RM codec self-check: PASS"
else
        echo "RM codec self-check: FAIL" >&2
        exit 1
fi
