#!/usr/bin/env bash
# Installs what is missing, builds everything, runs every test, builds and tests again without
# llama.cpp, then fuzzes request parsing for a bounded time (FUZZ_SECONDS, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/check-layers.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" -LE fuzz
scripts/test-no-llama.sh
ctest --test-dir build --output-on-failure -L fuzz
