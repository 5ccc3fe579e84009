#!/usr/bin/env bash
# Configures and builds smacs into build/ (warnings are errors). Extra arguments go to
# `cmake --build` (the main job builds only `--target smacs`).
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA=ON; [ -n "${SMACS_NO_LLAMA:-}" ] && LLAMA=OFF  # build without llama.cpp
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSMACS_WERROR=ON -DSMACS_WITH_LLAMA=$LLAMA >/dev/null
cmake --build build -j"$(nproc)" "$@"
