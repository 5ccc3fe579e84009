#!/usr/bin/env bash
# Pass-through speed through each door of one `smacs serve` in one run: /v1/chat/completions,
# /v1/responses and /v1/messages, the same pool model over replay-serve, 32 keep-alive clients,
# the doors taken in turn ROUNDS times (ABCABC...) so drift hits them alike; each door's median
# rate, and the gateway's own CPU per request (steadier: the clients and replay-serve share the
# same cores, so req/s moves with them). Loopback only. Usage: bench/front_doors.sh [build dir]   (SECONDS_EACH=6 ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
S=${SECONDS_EACH:-6}
ROUNDS=${ROUNDS:-3}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port_of() { local p; for _ in $(seq 300); do p=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$1" 2>/dev/null | head -1 | sed 's/.*://'); [ -n "$p" ] && { echo "$p"; return; }; sleep 0.1; done; echo "no port in $1" >&2; exit 1; }

"$BUILD/smacs" replay-serve --data data/routerbench/arc_challenge_test.csv --port 0 --threads 8 \
  > "$dir/replay.log" 2>&1 & pids+=($!)
replay=$(port_of "$dir/replay.log")
cat > "$dir/smacs.yaml" <<YAML
listen: 127.0.0.1:0
access_log: none
feedback_journal: none
api_keys: [bench]
remember_bytes: 1048576
bank: $(pwd)/data/routerbench/arc_challenge_train.csv
pool:
  - {name: zero-one-ai/Yi-34B-Chat, base_url: http://127.0.0.1:$replay/v1, max_concurrency: 64}
YAML
"$BUILD/smacs" serve --config "$dir/smacs.yaml" > "$dir/serve.log" 2>&1 & serve=$!; pids+=($serve)
port=$(port_of "$dir/serve.log")
sleep 0.5
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$serve/stat"; }  # utime + stime, in ticks
hz=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
  for api in chat responses messages; do
    before=$(cpu_ticks)
    line=$("$BUILD/smacs_hostile" pass-rate --port "$port" --pid "$serve" --model zero-one-ai/Yi-34B-Chat \
      --api "$api" --clients 32 --seconds "$S")
    ticks=$(( $(cpu_ticks) - before ))
    ok=$(echo "$line" | sed 's/.*(\([0-9]*\) ok.*/\1/')
    echo "$line; gateway CPU $(awk -v t="$ticks" -v hz="$hz" -v n="$ok" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }') us/request" | tee -a "$dir/rates"
  done
done
# Each door's median of a column: "req/s", or "us/request".
median() { grep " via $1 " "$dir/rates" | awk -v unit="$2" '{ for (i = 1; i <= NF; ++i) if ($i == unit) print $(i - 1) }' |
           sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for unit in req/s us/request; do
  awk -v c="$(median chat $unit)" -v r="$(median responses $unit)" -v m="$(median messages $unit)" -v u="$unit" 'BEGIN {
    printf "median %s: chat %d, responses %d, messages %d (responses / chat %.3f, messages / chat %.3f)\n", u, c, r, m, r / c, m / c }'
done
echo "target: responses' and messages' req/s >= 0.90 of chat's"
