#!/usr/bin/env bash
# Pass-through speed beside HAProxy (Debian `haproxy`, http-reuse always) in front of the same
# replay-serve, with the same load tool and 32 keep-alive clients: direct, HAProxy, smacs.
# Loopback only. Usage: bench/passthrough_vs_haproxy.sh [build dir]   (SECONDS_EACH=10)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
S=${SECONDS_EACH:-10}
command -v haproxy >/dev/null || { echo "haproxy is not installed (apt-get install haproxy)"; exit 1; }
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port_of() { local p; for _ in $(seq 300); do p=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$1" 2>/dev/null | head -1 | sed 's/.*://'); [ -n "$p" ] && { echo "$p"; return; }; sleep 0.1; done; echo "no port in $1" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$BUILD/smacs" replay-serve --data data/routerbench/arc_challenge_test.csv --port 0 --threads 8 \
  > "$dir/replay.log" 2>&1 & pids+=($!)
replay=$(port_of "$dir/replay.log")
hap=$(free_port)
cat > "$dir/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend f
  bind 127.0.0.1:$hap
  default_backend b
backend b
  server replay 127.0.0.1:$replay maxconn 64
CFG
haproxy -f "$dir/haproxy.cfg" -db > "$dir/haproxy.log" 2>&1 & pids+=($!)
cat > "$dir/smacs.yaml" <<YAML
listen: 127.0.0.1:0
access_log: none
feedback_journal: none
bank: $(pwd)/data/routerbench/arc_challenge_train.csv
pool:
  - {name: zero-one-ai/Yi-34B-Chat, base_url: http://127.0.0.1:$replay/v1, max_concurrency: 64}
YAML
"$BUILD/smacs" serve --config "$dir/smacs.yaml" > "$dir/serve.log" 2>&1 & serve=$!; pids+=($serve)
port=$(port_of "$dir/serve.log")
sleep 0.5
model=zero-one-ai/Yi-34B-Chat
"$BUILD/smacs_hostile" pass-rate --port "$replay" --pid 1 --model $model --clients 32 --seconds "$S" | sed 's/^/direct:  /'
"$BUILD/smacs_hostile" pass-rate --port "$hap" --pid 1 --model $model --clients 32 --seconds "$S" | sed 's/^/haproxy: /'
"$BUILD/smacs_hostile" pass-rate --port "$port" --pid "$serve" --model $model --clients 32 --seconds "$S" | sed 's/^/smacs:   /'
