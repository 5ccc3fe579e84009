#!/usr/bin/env bash
# A bank of N questions x 6 models (default 1,000,000; synthetic, seeded) in a throw-away
# PostgreSQL 15 on loopback: the import time, a replica's cold start without and with its
# local snapshot, the time from a feedback INSERT on one replica to its use on another, and
# SMACS's throughput through HAProxy with two replicas against one. Models are
# smacs_fake_backend ("ok"), so the numbers are the gateway's and the bank's, not a model's.
#   bench/pg_bank.sh            # N=1000000
#   N=100000 bench/pg_bank.sh   # quicker
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
SECONDS_LOAD=${SECONDS_LOAD:-15}
SMACS=${SMACS:-build/smacs}
LOAD=${LOAD:-build/smacs_load}
FAKE=${FAKE:-build/smacs_fake_backend}
source scripts/pg.sh
pg_workspace smacs-pgbench
now() { date +%s.%N; }
since() { python3 -c "print(f'{$(now) - $1:.1f}')"; }
rss_mib() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$1/status"; }
wait_listening() {  # LOG PID: seconds until the server listens
  local t0; t0=$(now)
  until grep -q "listening on http://127.0.0.1:" "$1" 2>/dev/null; do
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; exit 1; }
    sleep 0.05
  done
  since "$t0"
}

pg_up "$TMP" "$(free_port)"
FAKE_PORT=$(free_port)
"$FAKE" --port "$FAKE_PORT" >/dev/null 2>&1 &
PIDS+=($!)
echo "== a synthetic bank: $N questions x 6 models (seeded)"
python3 bench/synthetic_bank.py "$N" "$TMP/bank.jsonl"
t0=$(now)
$SMACS prior import --data "$TMP/bank.jsonl" --out "$PG_URL" >"$TMP/import.txt"
echo "    prior import into PostgreSQL: $(since "$t0") s (read, COPY and the first indexing)"

POOL=""
for m in 0 1 2 3 4 5; do POOL+="  - {name: m$m, base_url: \"http://127.0.0.1:$FAKE_PORT/v1\", model: ok, max_concurrency: 256}\n"; done
replica() {  # NAME PORT: start it; COLD gets its cold start (s), PID_NAME its pid
  printf "listen: 127.0.0.1:%s\nreplica: %s\naccess_log: none\nbank: %s\nbank_poll_ms: 1000\nsmacs: {k: 3, p_drop: 0}\npool:\n$POOL" \
    "$2" "$1" "$PG_URL" >"$TMP/$1.yaml"
  $SMACS serve --config "$TMP/$1.yaml" >"$TMP/$1.log" 2>&1 &
  local pid=$!
  eval "PID_$1=$pid"
  PIDS+=("$pid")
  COLD=$(wait_listening "$TMP/$1.log" "$pid")
}
SNAP=$(sed -n 's/^indexed .* into \(.*\)$/\1/p' "$TMP/import.txt")
A_PORT=$(free_port) B_PORT=$(free_port) LB_PORT=$(free_port)
rm -f "$SNAP"
replica a "$A_PORT"
echo "    replica cold start without a snapshot: $COLD s (RSS $(rss_mib "$PID_a") MiB)"
kill "$PID_a"; wait "$PID_a" 2>/dev/null || true
replica a "$A_PORT"
echo "    replica cold start with its snapshot:  $COLD s"
replica b "$B_PORT"
echo "    second replica (snapshot):             $COLD s"

echo "== feedback on replica a, used by replica b"
python3 - "$A_PORT" "$B_PORT" "$TMP/bank.jsonl" <<'PY'
import json, sys, time, urllib.request
a, b = (f"http://127.0.0.1:{p}" for p in sys.argv[1:3])
bank = sys.argv[3]
def post(base, path, body):
    req = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())
def proxy(base, q, model):
    return post(base, "/v1/chat/completions", {"model": "smacs", "messages": [{"role": "user", "content": q}]})["smacs"]["proxy_scores"][model]
def appended(base):
    with urllib.request.urlopen(base + "/ready", timeout=30) as r:
        return json.loads(r.read())["appended"]
applied, used = [], []
with open(bank) as f:
    questions = [json.loads(next(f))["question"] for _ in range(10)]
for q in questions:
    answer = post(a, "/v1/chat/completions", {"model": "smacs", "messages": [{"role": "user", "content": q}]})
    chosen = answer["smacs"]["chosen"]
    before, seen = proxy(b, q, chosen), appended(b)
    t0 = time.monotonic()
    post(a, "/v1/feedback", {"id": answer["id"], "model": chosen, "score": 0.0 if before > 0.5 else 1.0})
    while appended(b) == seen and time.monotonic() - t0 < 10:
        time.sleep(0.001)
    applied.append(1000 * (time.monotonic() - t0))
    while proxy(b, q, chosen) == before and time.monotonic() - t0 < 10:
        pass
    used.append(1000 * (time.monotonic() - t0))
print("    each, in order (ms):", " ".join(f"{x:.0f}" for x in applied))
for name, t in (("in b's bank (GET /ready appended)", applied), ("in b's routing (a request that shows it)", used)):
    t = sorted(t)
    print(f"    feedback INSERT on a -> {name}: median {t[len(t)//2]:.0f} ms, max {t[-1]:.0f} ms ({len(t)} feedbacks)")
PY

echo "== SMACS through HAProxy, closed loop, 32 clients, ${SECONDS_LOAD} s each"
through_haproxy() {  # SERVERS...: throughput line
  local cfg="$TMP/haproxy.cfg"
  printf "defaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\nfrontend f\n  bind 127.0.0.1:%s\n  default_backend b\nbackend b\n  balance leastconn\n" "$LB_PORT" >"$cfg"
  for s in "$@"; do printf "  server %s 127.0.0.1:%s\n" "$s" "$s" >>"$cfg"; done
  haproxy -f "$cfg" -db >/dev/null 2>&1 &
  local hp=$!
  sleep 0.5
  "$LOAD" --target "127.0.0.1:$LB_PORT" --clients 32 --seconds "$SECONDS_LOAD" --requests 10000000 2>&1 |
    grep -E "^(requests|throughput|latency total)" | sed 's/^/      /'
  kill "$hp"; wait "$hp" 2>/dev/null || true
}
echo "    one replica:"
through_haproxy "$A_PORT"
echo "    two replicas:"
through_haproxy "$A_PORT" "$B_PORT"
echo "    (one machine of $(nproc) cores runs the clients, HAProxy, both replicas and the fake models)"
