#!/usr/bin/env bash
# A MongoDB wire-protocol server for local runs and tests: FerretDB 1.x on PostgreSQL.
#
#   deploy/local/mongo.sh install   build the server (Go module proxy; cached by Go's caches)
#   deploy/local/mongo.sh start     install if needed, start on 127.0.0.1:${MONGO_PORT:-27017}
#   deploy/local/mongo.sh stop | status
#
# MONGO_BACKEND=postgresql (the default) keeps the data in the local PostgreSQL (postgres.sh), where
# equality lookups are served by indexes (postgres/ferretdb-indexes.sql); MONGO_BACKEND=sqlite keeps
# it in SQLite files under .local/<instance>/data, with no other server, but every query other than
# one by `_id` reads the whole collection.
#
# MONGO_INSTANCE (default "ferretdb") and MONGO_PORT (27017) select the instance, so that tests can
# run a second, throwaway server beside the main one. On PostgreSQL each instance has a database of
# its own (`ferretdb` for the main one, the instance name with `_` for `-` for the others), and a
# throwaway instance starts from an empty database whenever its directory .local/<instance> has
# been removed, as it would on SQLite; the main instance's database is never dropped.
#
# The build embeds FerretDB as a library (deploy/local/ferretdb/main.go): `go install` of the
# upstream command panics at start for a generated version file that the module does not carry.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

INSTANCE="${MONGO_INSTANCE:-ferretdb}"
PORT="${MONGO_PORT:-27017}"
BACKEND="${MONGO_BACKEND:-postgresql}"
PG="$II_ROOT/deploy/local/postgres.sh"
PG_MARKER="postgresql-database"  # in $DATA: this instance's database exists and holds its data
SRC="$II_ROOT/deploy/local/ferretdb"
BIN="$II_HOME/bin/ferretdb-local"
DATA="$II_HOME/$INSTANCE/data"
LOG="$II_LOGS/$INSTANCE.log"

# pg_database: this instance's PostgreSQL database.
pg_database() {
  if [[ "$INSTANCE" == ferretdb ]]; then echo ferretdb; else echo "${INSTANCE//-/_}" | tr '[:upper:]' '[:lower:]'; fi
}

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
  if is_running "$INSTANCE"; then
    say "$INSTANCE already running on 127.0.0.1:$PORT"
    return 0
  fi
  port_open 127.0.0.1 "$PORT" && die "port $PORT is taken by another process; stop it or set MONGO_PORT"
  install
  mkdir -p "$DATA"
  local store where
  case "$BACKEND" in
    postgresql)
      "$PG" start
      local database; database="$(pg_database)"
      if [[ "$INSTANCE" != ferretdb && ! -f "$DATA/$PG_MARKER" ]]; then
        "$PG" dropdb "$database"  # a throwaway instance whose directory was removed: start empty
      fi
      "$PG" createdb "$database"
      echo "$database" > "$DATA/$PG_MARKER"
      if compgen -G "$DATA/*.sqlite" >/dev/null; then
        say "note: $DATA holds SQLite data of MONGO_BACKEND=sqlite; it is not used (nor moved) on PostgreSQL"
      fi
      store=(-postgresql-url "$("$PG" url "$database")")
      where="PostgreSQL database $database" ;;
    sqlite) store=(-sqlite-dir "$DATA"); where="data: $DATA" ;;
    *) die "MONGO_BACKEND must be postgresql or sqlite, not $BACKEND" ;;
  esac
  say "starting $INSTANCE on 127.0.0.1:$PORT ($where, log: $LOG)"
  start_daemon "$INSTANCE" "$LOG" "$BIN" -listen-addr "127.0.0.1:$PORT" "${store[@]}"
  wait_for "FerretDB on :$PORT" 60 port_open 127.0.0.1 "$PORT" \
    || { tail -30 "$LOG" >&2; die "FerretDB did not start; the log above says why"; }
}

case "${1:-start}" in
  install) install; [[ "$BACKEND" == sqlite ]] || "$PG" install ;;
  start) start ;;
  stop) stop_daemon "$INSTANCE" ;;
  status) is_running "$INSTANCE" && echo "$INSTANCE running on 127.0.0.1:$PORT" || { echo "$INSTANCE stopped"; exit 1; } ;;
  *) die "usage: $0 install|start|stop|status" ;;
esac
