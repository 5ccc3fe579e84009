#!/usr/bin/env bash
# Many gateways, one bank, on loopback: a throw-away PostgreSQL 15 (run as an unprivileged
# user), the RouterBench bank imported into it, replay-serve as the models, two `smacs serve`
# replicas following the database, and HAProxy in front (health checks on /ready). Then:
#   1. steady traffic and a feedback through the balancer (it reaches both replicas);
#   2. PostgreSQL stopped for OUTAGE_S seconds under steady load: chat requests go on, feedback
#      gets 503 + Retry-After, /ready turns degraded and back, a feedback after recovery
#      reaches both replicas;
#   3. one replica killed (SIGKILL) under load: the failed requests are counted.
# Everything is stopped and deleted at the end. Needs build/smacs and build/smacs_load
# (scripts/build.sh), haproxy and postgresql-15 (scripts/setup.sh).
#   examples/cluster/run.sh                       # OUTAGE_S=30 RATE=40 by default
#   OUTAGE_S=5 RATE=20 examples/cluster/run.sh    # quicker
set -euo pipefail
cd "$(dirname "$0")/../.."
OUTAGE_S=${OUTAGE_S:-30}
RATE=${RATE:-40}
SMACS=${SMACS:-build/smacs}
LOAD=${LOAD:-build/smacs_load}
TOOL="python3 examples/cluster/cluster_tool.py"
DATA=data/routerbench
source scripts/pg.sh
for f in "$SMACS" "$LOAD" "$PG_BIN/postgres"; do
  [ -x "$f" ] || { echo "run.sh: $f is missing (scripts/setup.sh, scripts/build.sh)" >&2; exit 2; }
done
command -v haproxy >/dev/null || { echo "run.sh: haproxy is missing (scripts/setup.sh)" >&2; exit 2; }

pg_workspace smacs-cluster
wait_listening() {  # LOG: the port a smacs server reports
  for _ in $(seq 300); do
    if grep -q "listening on http://127.0.0.1:" "$1" 2>/dev/null; then
      sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1" | head -1; return
    fi
    sleep 0.1
  done
  echo "run.sh: no server in $1:" >&2; cat "$1" >&2; exit 1
}
wait_ready() {  # BASE STATUS: seconds until /ready answers STATUS
  local start=$SECONDS
  until [ "$($TOOL ready "$1" 2>/dev/null || echo 0)" = "$2" ]; do
    sleep 0.25
    [ $((SECONDS - start)) -lt 60 ] || { echo "run.sh: $1/ready never said $2" >&2; exit 1; }
  done
  echo $((SECONDS - start))
}
load() {  # SECONDS OUT: steady load through the balancer
  "$LOAD" --target "127.0.0.1:$LB_PORT" --rate "$RATE" --clients 8 --seconds "$1" \
    --requests 1000000 >"$2" 2>&1 || true
}
summary() { grep -E "^requests" "$1" | sed 's/^/    /'; }

LB_PORT=$(free_port) A_PORT=$(free_port) B_PORT=$(free_port) REPLAY_PORT=$(free_port)
export LB_PORT A_PORT B_PORT
pg_up "$TMP" "$(free_port)"
BANK=$PG_URL
echo "== PostgreSQL 15 on 127.0.0.1:$PG_PORT; the bank: RouterBench arc_challenge train"
$SMACS prior import --data "$DATA/arc_challenge_train.csv" --out "$BANK" | sed 's/^/    /'

$SMACS replay-serve --data "$DATA/arc_challenge_train.csv" "$DATA/arc_challenge_test.csv" \
  --port "$REPLAY_PORT" >"$TMP/replay.log" 2>&1 &
PIDS+=($!)
POOL=""
for m in zero-one-ai/Yi-34B-Chat mistralai/mixtral-8x7b-chat meta/llama-2-70b-chat \
         mistralai/mistral-7b-chat meta/code-llama-instruct-34b-chat WizardLM/WizardLM-13B-V1.2; do
  POOL+="  - {name: $m, base_url: \"http://127.0.0.1:$REPLAY_PORT/v1\", max_concurrency: 64}\n"
done
start_replica() {  # NAME PORT
  sed -e "s|@PORT@|$2|" -e "s|@NAME@|$1|" -e "s|@BANK@|$BANK|" -e "s|@POOL@|$POOL|" \
    examples/cluster/replica.yaml.in | sed 's/\\n/\n/g' >"$TMP/$1.yaml"
  $SMACS serve --config "$TMP/$1.yaml" >"$TMP/$1.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$1=$!"
  wait_listening "$TMP/$1.log" >/dev/null
}
start_replica a "$A_PORT"
start_replica b "$B_PORT"
haproxy -f examples/cluster/haproxy.cfg -db >"$TMP/haproxy.log" 2>&1 &
PIDS+=($!)
LB="http://127.0.0.1:$LB_PORT"
A="http://127.0.0.1:$A_PORT"
B="http://127.0.0.1:$B_PORT"
wait_ready "$LB" 200 >/dev/null
echo "== two replicas ($A_PORT, $B_PORT) behind HAProxy on $LB_PORT"

feedback_reaches_both() {  # Q: ask through the balancer, score the answer, wait for both
  read -r id chosen before <<<"$($TOOL ask "$LB" "$1")"
  local score=1; [ "$(python3 -c "print(1 if $before > 0.5 else 0)")" = 1 ] && score=0
  echo "    feedback through the balancer: HTTP $($TOOL feedback "$LB" "$id" "$chosen" "$score")"
  echo "    it reached both replicas' proxy scores in $($TOOL wait_change "$1" "$chosen" "$before" 5 "$A" "$B") ms"
}

echo "== 1. steady load, $RATE requests/s for 10 s, and one feedback"
load 10 "$TMP/load1.txt"
summary "$TMP/load1.txt"
feedback_reaches_both 3

echo "== 2. PostgreSQL stopped for $OUTAGE_S s under load ($RATE requests/s)"
load $((OUTAGE_S + 20)) "$TMP/load2.txt" &
LOAD_PID=$!
sleep 5
read -r id chosen before <<<"$($TOOL ask "$LB" 7)"
pg_stop
STOPPED=$SECONDS
echo "    /ready degraded on both after $(( $(wait_ready "$A" 503) )) s and $(wait_ready "$B" 503) s"
echo "    /health meanwhile: $(curl -s -o /dev/null -w '%{http_code}' "$A/health")"
echo "    feedback during the outage: HTTP $($TOOL feedback "$LB" "$id" "$chosen" 1)"
sleep $(( OUTAGE_S - (SECONDS - STOPPED) > 0 ? OUTAGE_S - (SECONDS - STOPPED) : 0 ))
pg_start
echo "    PostgreSQL back after $((SECONDS - STOPPED)) s; /ready again on both after $(wait_ready "$A" 200) s and $(wait_ready "$B" 200) s"
wait "$LOAD_PID"
summary "$TMP/load2.txt"
echo "    (errors = failed chat requests through the balancer during the outage)"
feedback_reaches_both 11

echo "== 3. replica b killed (SIGKILL) under load ($RATE requests/s for 15 s)"
load 15 "$TMP/load3.txt" &
LOAD_PID=$!
sleep 5
{ kill -9 "$PID_b"; wait "$PID_b"; } 2>/dev/null || true
wait "$LOAD_PID"
summary "$TMP/load3.txt"
echo "    (errors = requests that failed: those in flight on b, if HAProxy could not retry them)"
echo "== done; stopping everything"
