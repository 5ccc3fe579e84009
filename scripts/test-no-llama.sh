#!/usr/bin/env bash
# Builds smacs without llama.cpp (-DSMACS_WITH_LLAMA=OFF) into build-no-llama/ and runs its
# tests: everything but the in-process backend must build and pass without it.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-no-llama -DCMAKE_BUILD_TYPE=Release -DSMACS_WERROR=ON -DSMACS_WITH_LLAMA=OFF \
  -DSMACS_BUILD_BENCH=OFF >/dev/null
cmake --build build-no-llama -j"$(nproc)"
ctest --test-dir build-no-llama --output-on-failure -j"$(nproc)" -E openai_npm_ -LE fuzz
