# A throw-away PostgreSQL 15 for scripts (sourced): pg_up DIR PORT creates a cluster in DIR
# and starts it on 127.0.0.1:PORT (as the unprivileged user nobody when run as root: postgres
# refuses root); pg_stop and pg_start stop and start it again; PG_URL is its smacs URL.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_AS=()
pg_up() {
  PG_DIR=$1 PG_PORT=$2
  [ -x "$PG_BIN/postgres" ] || { echo "postgresql-15 is missing (scripts/setup.sh)" >&2; return 2; }
  if [ "$(id -u)" = 0 ]; then PG_AS=(runuser -u nobody --); chown nobody "$PG_DIR"; fi
  "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/pg" -U smacs --auth=trust -E UTF8 >/dev/null
  pg_start
  PG_URL="postgresql://smacs@127.0.0.1:$PG_PORT/postgres"
}
pg_start() {
  "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/pg" -w -t 60 -l "$PG_DIR/pg.log" \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
}
pg_stop() { "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/pg" -w -m fast stop >/dev/null 2>&1 || true; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A temp folder TMP for a script's servers, and PIDS: what the exit trap kills before it
# stops the database and deletes the folder.
pg_workspace() {
  TMP=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 755 "$TMP"
  PIDS=()
  trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pg_stop; rm -rf "$TMP"' EXIT
}
