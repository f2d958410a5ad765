#!/usr/bin/env bash
# A MongoDB wire-protocol server for local runs and tests: FerretDB 1.x on PostgreSQL.
#
#   deploy/local/mongo.sh install   build the server (Go module proxy; cached by Go's caches)
#   deploy/local/mongo.sh start     install if needed, start on 127.0.0.1:${MONGO_PORT:-27017}
#   deploy/local/mongo.sh stop | status
#
# MONGO_BACKEND=postgresql (the default) keeps the data in the local PostgreSQL (postgres.sh, database
# `ferretdb`), where equality lookups are served by indexes (postgres/ferretdb-indexes.sql);
# MONGO_BACKEND=sqlite keeps it in SQLite files under .local/ferretdb/data, with no other server,
# but every query other than one by `_id` reads the whole collection.
#
# The build embeds FerretDB as a library (deploy/local/ferretdb/main.go): `go install` of the
# upstream command panics at start for a generated version file that the module does not carry.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT="${MONGO_PORT:-27017}"
BACKEND="${MONGO_BACKEND:-postgresql}"
SRC="$II_ROOT/deploy/local/ferretdb"
BIN="$II_HOME/bin/ferretdb-local"
DATA="$II_HOME/ferretdb/data"
LOG="$II_LOGS/ferretdb.log"

install() {
  command -v go >/dev/null || die "Go 1.24+ is needed to build FerretDB: see https://go.dev/doc/install"
  local stamp; stamp="$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -c1-16)"
  if [[ -x "$BIN" && -f "$BIN.stamp" && "$(cat "$BIN.stamp")" == "$stamp" ]]; then
    return 0
  fi
  say "building FerretDB (first run: downloads modules and compiles, a few minutes on 2 cores)"
  mkdir -p "$(dirname "$BIN")"
  (cd "$SRC" && go build -v -trimpath -o "$BIN" . 2>&1 | sed -u 's/^/    compiled /' >&2) \
    || die "building FerretDB failed; see the output above"
  [[ -x "$BIN" ]] || die "building FerretDB produced no binary"
  echo "$stamp" > "$BIN.stamp"
  say "FerretDB built: $BIN"
}

start() {
  if is_running ferretdb; then
    say "FerretDB already running on 127.0.0.1:$PORT"
    return 0
  fi
  port_open 127.0.0.1 "$PORT" && die "port $PORT is taken by another process; stop it or set MONGO_PORT"
  install
  local store
  case "$BACKEND" in
    postgresql)
      "$II_ROOT/deploy/local/postgres.sh" start
      store=(-postgresql-url "$("$II_ROOT/deploy/local/postgres.sh" url ferretdb)") ;;
    sqlite) mkdir -p "$DATA"; store=(-sqlite-dir "$DATA") ;;
    *) die "MONGO_BACKEND must be postgresql or sqlite, not $BACKEND" ;;
  esac
  say "starting FerretDB on 127.0.0.1:$PORT ($BACKEND backend, log: $LOG)"
  start_daemon ferretdb "$LOG" "$BIN" -listen-addr "127.0.0.1:$PORT" "${store[@]}"
  wait_for "FerretDB on :$PORT" 60 port_open 127.0.0.1 "$PORT" \
    || { tail -30 "$LOG" >&2; die "FerretDB did not start; the log above says why"; }
}

case "${1:-start}" in
  install) install; [[ "$BACKEND" == sqlite ]] || "$II_ROOT/deploy/local/postgres.sh" install ;;
  start) start ;;
  stop) stop_daemon ferretdb ;;
  status) is_running ferretdb && echo "FerretDB running on 127.0.0.1:$PORT" || { echo "FerretDB stopped"; exit 1; } ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
