#!/usr/bin/env bash
# Builds the request-parsing fuzzer with clang (libFuzzer, ASan, UBSan) and runs it for a
# bounded time: FUZZ_SECONDS (default 20). Exits non-zero on any crash.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/fuzz
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Isrc tests/fuzz/chat_request_fuzz.cpp src/api/openai_api.cpp -o build/fuzz/chat_request_fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/* "$work/"
status=0
bin=$PWD/build/fuzz/chat_request_fuzz
"$bin" -max_total_time="${FUZZ_SECONDS:-20}" -max_len=4096 -timeout=5 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work" >"$work/fuzz.log" 2>&1 || status=$?
grep -E "stat::number_of_executed_units|ERROR|SUMMARY|Test unit written" "$work/fuzz.log" || true
if [ "$status" -ne 0 ]; then
  echo "fuzz: the request parser failed (exit $status); last lines of the log:"
  tail -30 "$work/fuzz.log"
fi
exit "$status"
