#!/usr/bin/env bash
# The gateway's second hostile run as numbers (issue 21): starts the misbehaving backend
# (smacs_fake_backend), replay-serve of the RouterBench test split and `smacs serve` over
# them on loopback, then runs smacs_hostile's scenarios: slow pass-through calls beside SMACS
# traffic, large SMACS requests and memory, a flood of feedback then a reload.
# Usage: bench/hostile_backend.sh [build dir]   (SCENARIOS="slow-pass big-bodies feedback")
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SCENARIOS=${SCENARIOS:-"slow-pass big-bodies feedback"}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port_of() { local p; for _ in $(seq 300); do p=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$1" 2>/dev/null | head -1 | sed 's/.*://'); [ -n "$p" ] && { echo "$p"; return; }; sleep 0.1; done; echo "no port in $1" >&2; exit 1; }

"$BUILD/smacs_fake_backend" > "$dir/fake.log" 2>&1 & pids+=($!)
"$BUILD/smacs" replay-serve --data data/routerbench/arc_challenge_test.csv --port 0 --threads 8 \
  > "$dir/replay.log" 2>&1 & pids+=($!)
fake=$(port_of "$dir/fake.log"); replay=$(port_of "$dir/replay.log")
# The SMACS pool on replay-serve (recorded answers), or on the fake backend (big-bodies: its
# questions are not recorded anywhere), plus the slow model; `remember_bytes` as given.
write_config() {
  local pool="" url="http://127.0.0.1:$replay/v1" model=""
  [ "$1" = fake ] && { url="http://127.0.0.1:$fake/v1"; model="model: ok, "; }
  for m in zero-one-ai/Yi-34B-Chat mistralai/mixtral-8x7b-chat meta/llama-2-70b-chat \
           mistralai/mistral-7b-chat meta/code-llama-instruct-34b-chat WizardLM/WizardLM-13B-V1.2; do
    pool+="  - {name: $m, ${model}base_url: $url}"$'\n'
  done
  pool+="  - {name: slow, model: 'slow:20000', base_url: http://127.0.0.1:$fake/v1, max_concurrency: 2000, timeout_ms: 40000, retries: 0}"$'\n'
  cat > "$dir/smacs.yaml" <<YAML
listen: 127.0.0.1:0
api_keys: [bench, f1, f2, f3, f4]
access_log: none
threads: 16
max_body_bytes: 2000000
request_timeout_ms: 40000
remember_bytes: $2
feedback_per_second: 500
feedback_journal: $dir/journal.sqlite
bank: $(pwd)/data/routerbench/arc_challenge_train.csv
smacs: {k: 3}
pool:
$pool
YAML
}
ulimit -n 65536 2>/dev/null || true
for scenario in $SCENARIOS; do
  case $scenario in
    big-bodies) write_config fake 67108864; args=(--calls 350) ;;
    feedback) write_config replay 536870912; args=() ;;  # room for every answer to be scored
    *) write_config replay 67108864; args=() ;;
  esac
  "$BUILD/smacs" serve --config "$dir/smacs.yaml" > "$dir/serve.log" 2>&1 & serve=$!; pids+=($serve)
  port=$(port_of "$dir/serve.log")
  echo "== $scenario"
  "$BUILD/smacs_hostile" "$scenario" --port "$port" --pid "$serve" "${args[@]}" || echo "($scenario: exit $?)"
  kill "$serve"; wait "$serve" 2>/dev/null || true
done
