#!/usr/bin/env bash
# The bank URL's password never shows (issue: a password that leaks). A throw-away PostgreSQL 15
# on loopback that asks TCP clients for a password (scram-sha-256); every command and endpoint
# that takes or reports a bank URL runs with the password in each form libpq reads: userinfo
# (percent-encoded, and unencoded with '@', ':', '/', '?' in it), the password= parameter,
# PGPASSWORD and a .pgpass file; right and wrong passwords; the database up and down. Then
# every output, log, HTTP body and file written (contents and names) is grepped for it.
# Usage: tests/password_check.sh SMACS_BINARY   (ctest: password_check)
set -uo pipefail
SMACS=${1:?usage: password_check.sh SMACS_BINARY}
cd "$(dirname "$0")/.."
source scripts/pg.sh
DATA=data/routerbench
pg_workspace smacs-password
OUT=$TMP/out  # everything the commands print, and their files
mkdir -p "$OUT"
export XDG_CACHE_HOME=$TMP/cache HOME=$TMP/home
mkdir -p "$HOME"

# Each piece at least 4 characters, joined by the characters URLs split at.
SECRET='Qz7Kp@Wv9Jm:Hx4Nq/Rt8Bd?Lc2Fy'
ENCODED='Qz7Kp%40Wv9Jm%3AHx4Nq%2FRt8Bd%3FLc2Fy'
PIECES=(Qz7Kp Wv9Jm Hx4Nq Rt8Bd Lc2Fy "$ENCODED")

PG_PORT=$(free_port) PG_DIR=$TMP
[ "$(id -u)" = 0 ] && { PG_AS=(runuser -u nobody --); chown nobody "$TMP"; } || PG_AS=()
printf '%s\n' "$SECRET" >"$TMP/pw" && chmod 644 "$TMP/pw"
"${PG_AS[@]}" "$PG_BIN/initdb" -D "$TMP/pg" -U smacs --auth-local=trust \
  --auth-host=scram-sha-256 --pwfile="$TMP/pw" -E UTF8 >/dev/null || exit 2
rm -f "$TMP/pw"
pg_start || exit 2
HOSTPORT=127.0.0.1:$PG_PORT
RAW="postgresql://smacs:$SECRET@$HOSTPORT/postgres"  # the unencoded form libpq cannot read
declare -A FORMS=(
  [userinfo]="postgresql://smacs:$ENCODED@$HOSTPORT/postgres"
  [parameter]="postgresql://smacs@$HOSTPORT/postgres?password=$ENCODED"
  [both]="postgres://smacs:$ENCODED@$HOSTPORT/postgres?sslmode=disable&password=$ENCODED"
  [env]="postgresql://smacs@$HOSTPORT/postgres"
  [wrong]="postgresql://smacs:Wrong$ENCODED@$HOSTPORT/postgres"
)
run() {  # NAME ARGS...: a command, its output kept (it may fail: errors must not leak either)
  local name=$1; shift
  "$@" >"$OUT/$name.out" 2>&1
  echo "$name: exit $?" >>"$OUT/exits"
}
failures=0
expect_ok() {  # NAME: the command must have worked
  grep -q "^$1: exit 0$" "$OUT/exits" || { echo "FAIL $1 did not work:"; cat "$OUT/$1.out"; failures=$((failures + 1)); }
}

run import-userinfo "$SMACS" prior import --data "$DATA/arc_challenge_train.csv" --out "${FORMS[userinfo]}"
expect_ok import-userinfo
for form in userinfo parameter both env wrong; do
  url=${FORMS[$form]}
  env_pw=(); [ "$form" = env ] && env_pw=(env "PGPASSWORD=$SECRET")
  run "info-$form" "${env_pw[@]}" "$SMACS" prior info "$url"
  run "eval-$form" "${env_pw[@]}" "$SMACS" eval --bank "$url" --test "$DATA/arc_challenge_test.csv" --no-routers
  run "remove-$form" "${env_pw[@]}" "$SMACS" prior remove-model nobody --bank "$url"
done
expect_ok info-userinfo; expect_ok info-parameter; expect_ok info-both; expect_ok info-env
expect_ok eval-parameter
# .pgpass (libpq's own file): the URL names no password at all.
printf '127.0.0.1:%s:*:smacs:%s\n' "$PG_PORT" "$(printf '%s' "$SECRET" | sed 's/[:\\]/\\&/g')" >"$HOME/.pgpass"
chmod 600 "$HOME/.pgpass"
run info-pgpass "$SMACS" prior info "${FORMS[env]}"
expect_ok info-pgpass
rm -f "$HOME/.pgpass"
run info-raw "$SMACS" prior info "$RAW"
run import-raw "$SMACS" prior import --data "$DATA/arc_challenge_test.csv" --out "$RAW"

# The gateway: a bank URL with the password as a parameter; /ready, /metrics, feedback, logs,
# the database stopped and started again under it.
REPLAY_PORT=$(free_port) GW_PORT=$(free_port)
"$SMACS" replay-serve --data "$DATA/arc_challenge_train.csv" "$DATA/arc_challenge_test.csv" \
  --port "$REPLAY_PORT" >"$OUT/replay.log" 2>&1 &
PIDS+=($!)
cat >"$OUT/gateway.yaml" <<EOF
listen: 127.0.0.1:$GW_PORT
bank: "${FORMS[parameter]}"
bank_poll_ms: 100
bank_grace_ms: 200
access_log: $OUT/access.log
pool:
  - {name: zero-one-ai/Yi-34B-Chat, base_url: "http://127.0.0.1:$REPLAY_PORT/v1"}
  - {name: mistralai/mixtral-8x7b-chat, base_url: "http://127.0.0.1:$REPLAY_PORT/v1"}
EOF
"$SMACS" serve --config "$OUT/gateway.yaml" >"$OUT/serve.log" 2>&1 &
GW_PID=$!
PIDS+=($GW_PID)
BASE=http://127.0.0.1:$GW_PORT
for _ in $(seq 100); do curl -s "$BASE/health" >/dev/null && break; sleep 0.1; done
QUESTION=$(python3 -c "import ast,csv,json; csv.field_size_limit(1 << 30); r=next(csv.DictReader(open('$DATA/arc_challenge_test.csv'))); print(json.dumps(ast.literal_eval(r['prompt'])[0]))")
ask() { curl -s -o "$OUT/$1.json" -w '%{http_code}\n' "$BASE/v1/chat/completions" -H 'Content-Type: application/json' \
  -d "{\"model\": \"smacs\", \"messages\": [{\"role\": \"user\", \"content\": $QUESTION}]}"; }
[ "$(ask answer1)" = 200 ] || { echo "FAIL the gateway did not answer: $(cat "$OUT/answer1.json")"; failures=$((failures + 1)); }
curl -s "$BASE/ready" >"$OUT/ready-up.json"
curl -s "$BASE/metrics" >"$OUT/metrics.txt"
pg_stop
sleep 1.5
curl -s "$BASE/ready" >"$OUT/ready-down.json"
ID=$(python3 -c "import json; print(json.load(open('$OUT/answer1.json'))['id'])" 2>/dev/null)
curl -s "$BASE/v1/feedback" -H 'Content-Type: application/json' -d "{\"id\": \"$ID\", \"score\": 1}" >"$OUT/feedback-down.json"
curl -s -X POST "$BASE/admin/reload" >"$OUT/reload-down.json"
kill -HUP "$GW_PID"; sleep 0.5
pg_start
sleep 1.5
curl -s "$BASE/ready" >"$OUT/ready-again.json"
grep -q '"status":"degraded"' "$OUT/ready-down.json" || { echo "FAIL /ready did not see the outage: $(cat "$OUT/ready-down.json")"; failures=$((failures + 1)); }
grep -q '"status":"ready"' "$OUT/ready-again.json" || { echo "FAIL /ready did not recover: $(cat "$OUT/ready-again.json")"; failures=$((failures + 1)); }
grep -q '"error":null' "$OUT/ready-again.json" || { echo "FAIL /ready still shows the old error: $(cat "$OUT/ready-again.json")"; failures=$((failures + 1)); }
kill "$GW_PID"; wait "$GW_PID" 2>/dev/null

# The grep: outputs, logs, bodies, every file written and every file's name.
find "$TMP/cache" "$HOME" "$OUT" -print >"$TMP/names.txt" 2>/dev/null
for piece in "${PIECES[@]}"; do
  hits=$(grep -rlF -- "$piece" "$OUT" "$TMP/cache" "$HOME" "$TMP/names.txt" 2>/dev/null |
    grep -v -e '/gateway.yaml$' || true)  # the config the user wrote holds it, of course
  if [ -n "$hits" ]; then
    echo "FAIL the password piece '$piece' shows in: $hits"
    grep -rnF -- "$piece" $hits | grep -v "names.txt" | head -5
    failures=$((failures + 1))
  fi
done
checked=$(ls "$OUT" | wc -l)
if [ "$failures" -gt 0 ]; then
  echo "password check: $failures failed ($checked outputs)"; echo "0 passed, $failures failed"; exit 1
fi
echo "password check: no piece of the password in $checked outputs, logs, bodies and $(wc -l <"$TMP/names.txt") files"
echo "1 passed, 0 failed"
