#!/usr/bin/env bash
# The gateway under hostile traffic, measured (loopback only, every step bounded in time):
#   1. SMACS (k = 3) throughput over replay-serve: this build, and OLD_SMACS (another smacs
#      binary, e.g. an earlier commit's) in the same run with the same load tool, alternating
#      (ROUNDS each, default 3) and compared by their medians;
#   2. unloaded overhead;
#   3. 10,000 idle keep-alive + 1,000 slowloris connections: their CPU and memory cost, /health
#      latency and SMACS throughput while they are open;
#   4. four concurrent 100 MiB chunked uploads: time to the 413 and memory.
# Usage: bench/gateway_hostile.sh [OLD_SMACS]     (run from the repository, after a build)
set -euo pipefail
cd "$(dirname "$0")/.."
NEW=build/smacs
LOAD=build/smacs_load
OLD=${1:-}
DATA=data/routerbench
WORK=$(mktemp -d)
cleanup() {
  for f in "$WORK"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

start() {  # start NAME CMD... : runs it in the background, waits for its port
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  echo $! >"$WORK/$name.pid"
  for _ in $(seq 300); do
    if grep -q "listening on http://127.0.0.1:" "$WORK/$name.log"; then
      sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/$name.log" | head -1
      return
    fi
    sleep 0.1
  done
  echo "$name did not start: $(cat "$WORK/$name.log")" >&2
  exit 1
}

config() {  # config FILE EXTRA_YAML : a gateway over the replay server, k = 3
  {
    echo "listen: 127.0.0.1:0"
    echo "bank: $PWD/$DATA/arc_challenge_train.csv"
    echo "threads: 128"
    echo "smacs: {k: 3}"
    printf '%b' "$2"
    echo "pool:"
    for m in zero-one-ai/Yi-34B-Chat mistralai/mixtral-8x7b-chat meta/llama-2-70b-chat \
      mistralai/mistral-7b-chat meta/code-llama-instruct-34b-chat WizardLM/WizardLM-13B-V1.2; do
      echo "  - {name: $m, base_url: 'http://127.0.0.1:$REPLAY/v1', max_concurrency: 64}"
    done
  } >"$1"
}

REPLAY=$(start replay $NEW replay-serve --data "$DATA/arc_challenge_test.csv" --port 0)
LOADFLAGS=(--requests 8000 --clients 32 --seconds 40)

# Old and new alternate ROUNDS times (this VM's speed drifts by 10-15 % between minutes), each
# on a fresh gateway over the same replay server with the same load; the medians are compared.
ROUNDS=${ROUNDS:-3}
throughput() {  # throughput BINARY EXTRA_YAML : one closed-loop run, prints its requests/s
  config "$WORK/t.yaml" "$2"
  local port; port=$(start t "$1" serve --config "$WORK/t.yaml")
  $LOAD --target "127.0.0.1:$port" --target-pid "$(cat "$WORK/t.pid")" "${LOADFLAGS[@]}" \
    >"$WORK/t.out" || true
  kill "$(cat "$WORK/t.pid")"; wait "$(cat "$WORK/t.pid")" 2>/dev/null || true
  sed -n 's/^throughput *\([0-9]*\).*/\1/p' "$WORK/t.out"
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "== 1. SMACS throughput (k = 3, requests/s), $ROUNDS alternating rounds =="
old_runs=""; new_runs=""
for _ in $(seq "$ROUNDS"); do
  [ -n "$OLD" ] && old_runs="$old_runs $(throughput "$OLD" "")"
  new_runs="$new_runs $(throughput "$NEW" "access_log: none\n")"
done
NEW_MEDIAN=$(echo "$new_runs" | median)
echo "this build:${new_runs}  median $NEW_MEDIAN"
if [ -n "$OLD" ]; then
  OLD_MEDIAN=$(echo "$old_runs" | median)
  echo "OLD ($OLD):${old_runs}  median $OLD_MEDIAN"
  awk -v n="$NEW_MEDIAN" -v o="$OLD_MEDIAN" 'BEGIN {printf "ratio of the medians: %.2f\n", n / o}'
fi
echo "== 1b. the last run of this build in full =="
cat "$WORK/t.out"

config "$WORK/new.yaml" "access_log: none\n"
PORT=$(start new $NEW serve --config "$WORK/new.yaml")
PID=$(cat "$WORK/new.pid")
echo "== 2. unloaded overhead (one client) =="
$LOAD --target "127.0.0.1:$PORT" --target-pid "$PID" --requests 2000 --clients 1 --seconds 30
kill "$PID"

# Deadlines long enough that the hostile connections stay open for the whole measurement.
config "$WORK/hostile.yaml" "access_log: none\nidle_timeout_ms: 600000\nheader_timeout_ms: 600000\n"
PORT=$(start hostile $NEW serve --config "$WORK/hostile.yaml")
PID=$(cat "$WORK/hostile.pid")
echo "== 3. with 10,000 idle keep-alive and 1,000 slowloris connections open =="
$LOAD --target "127.0.0.1:$PORT" --target-pid "$PID" --idle 10000 --slowloris 1000 --hold 10 \
  --health-ms 10 "${LOADFLAGS[@]}"
echo "== 3b. the same, SMACS paced at 800 requests/s (the 2 cores not saturated) =="
$LOAD --target "127.0.0.1:$PORT" --target-pid "$PID" --idle 10000 --slowloris 1000 \
  --health-ms 10 --rate 800 --requests 8000 --clients 32 --seconds 40

echo "== 4. four concurrent 100 MiB chunked uploads (max_body_bytes 1 MiB) =="
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$PID/status"; }
echo "RSS before: $(rss) MiB"
for i in 1 2 3 4; do
  (head -c 100M /dev/zero | curl -s -o /dev/null -m 20 -w "upload $i: HTTP %{http_code} after %{time_total} s\n" \
    -H "Content-Type: application/json" -H "Transfer-Encoding: chunked" -T - -X POST \
    "http://127.0.0.1:$PORT/v1/chat/completions" || true) &
done
peak=0
for _ in $(seq 40); do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.05; done
wait
sleep 3  # the server hands freed memory back every 2 s once connections have closed
echo "RSS peak during: ${peak} MiB, after: $(rss) MiB"
curl -s -o /dev/null -w "/health afterwards: HTTP %{http_code}\n" "http://127.0.0.1:$PORT/health"
