#!/usr/bin/env bash
# Builds the fuzz targets with clang (libFuzzer, ASan, UBSan) and runs each for a bounded time:
# FUZZ_SECONDS (default 20) each for request parsing, for reading answers out of backend
# replies, and for the Responses and Messages doors (their requests and translated streams).
# Exits non-zero on any crash.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/fuzz
FLAGS=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc)
API=(src/api/*.cpp src/core/utf8.cpp)  # the API formats and the UTF-8 helpers they use
clang++ "${FLAGS[@]}" tests/fuzz/chat_request_fuzz.cpp "${API[@]}" -o build/fuzz/chat_request_fuzz
clang++ "${FLAGS[@]}" tests/fuzz/answers_fuzz.cpp src/answers/*.cpp "${API[@]}" \
  -o build/fuzz/answers_fuzz
clang++ "${FLAGS[@]}" tests/fuzz/front_doors_fuzz.cpp "${API[@]}" -o build/fuzz/front_doors_fuzz
status=0
for target in chat_request_fuzz answers_fuzz front_doors_fuzz; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus/* "$work/"
  s=0
  "$PWD/build/fuzz/$target" -max_total_time="${FUZZ_SECONDS:-20}" -max_len=4096 -timeout=5 \
    -print_final_stats=1 -artifact_prefix="$work/" "$work" >"$work/fuzz.log" 2>&1 || s=$?
  echo "$target:"
  grep -E "stat::number_of_executed_units|ERROR|SUMMARY|Test unit written" "$work/fuzz.log" || true
  if [ "$s" -ne 0 ]; then
    echo "fuzz: $target failed (exit $s); last lines of the log:"
    tail -30 "$work/fuzz.log"
    status=$s
  fi
  rm -rf "$work"
done
exit "$status"
