#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build everything (warnings are errors) and run every test: unit, integration against the
# real gunyahd and gunyah-rm-sim binaries, and the fuzz corpora. Ends with ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
cmake -S . -B build -DGUNYAHD_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
