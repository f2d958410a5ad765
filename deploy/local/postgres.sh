#!/usr/bin/env bash
# PostgreSQL for the local MongoDB-protocol server: FerretDB keeps its data here (see mongo.sh).
#
#   deploy/local/postgres.sh install        the server binaries (apt-get install postgresql, as root)
#   deploy/local/postgres.sh start          initialise once, start, apply postgres/ferretdb-indexes.sql
#   deploy/local/postgres.sh createdb NAME  create database NAME if missing (one per FerretDB instance)
#   deploy/local/postgres.sh dropdb NAME    drop database NAME if it exists (a throwaway instance's)
#   deploy/local/postgres.sh url NAME       the URL FerretDB connects with, for database NAME
#   deploy/local/postgres.sh psql [ARGS]    a psql shell on the `ferretdb` database
#   deploy/local/postgres.sh stop | status
#
# The server listens on a Unix socket only (no TCP port, nothing to collide with), in
# $II_HOME/postgres/run, with trust authentication for that socket: only local processes that can
# open the socket reach it. Data lives in $II_HOME/postgres/data. PostgreSQL refuses to run as
# root, so a root caller runs it as the `postgres` user that Debian's package creates.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE="$II_HOME/postgres"
DATA="$BASE/data"
RUN="$BASE/run"
LOG="$II_LOGS/postgres.log"
SQL="$II_ROOT/deploy/local/postgres/ferretdb-indexes.sql"
PORT=5432  # names the socket file only: the server opens no TCP port

bindir() {
  local dir=""
  command -v pg_config >/dev/null && dir="$(pg_config --bindir 2>/dev/null || true)"
  if [[ ! -x "$dir/postgres" ]]; then
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  fi
  [[ -x "$dir/postgres" ]] || return 1
  echo "$dir"
}

install() {
  bindir >/dev/null && return 0
  local as_root=()
  [[ "$(id -u)" == 0 ]] || as_root=(sudo -n)
  if command -v apt-get >/dev/null && { [[ "$(id -u)" == 0 ]] || sudo -n true 2>/dev/null; }; then
    say "installing the PostgreSQL server from the distribution's packages (apt-get install postgresql)"
    "${as_root[@]}" apt-get update -qq >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  bindir >/dev/null || die "the PostgreSQL server is needed for the local MongoDB-protocol server: \
sudo apt-get install postgresql (its binaries land in /usr/lib/postgresql/<version>/bin), \
or run with MONGO_BACKEND=sqlite"
}

# as_owner COMMAND...: runs COMMAND as the owner of the data (the `postgres` user when we are root).
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}

running() {
  [[ -f "$DATA/postmaster.pid" ]] && kill -0 "$(head -1 "$DATA/postmaster.pid")" 2>/dev/null
}

psql_cmd() {
  as_owner "$(bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$PORT" -U postgres "$@"
}

init() {
  [[ -f "$DATA/PG_VERSION" ]] && return 0
  local bin; bin="$(bindir)"
  say "initialising PostgreSQL in $DATA"
  mkdir -p "$DATA" "$RUN"
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "PostgreSQL cannot run as root and there is no postgres user: apt-get install postgresql"
    chown -R postgres:postgres "$BASE"
  fi
  chmod 700 "$DATA"
  as_owner "$bin/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >>"$LOG" 2>&1 \
    || { tail -20 "$LOG" >&2; die "initdb failed; the log above says why"; }
  echo "include_if_exists = 'incident-intelligence.conf'" >> "$DATA/postgresql.conf"
}

configure() {
  # Rewritten at each start, so that a change here applies to an existing data directory.
  cat > "$DATA/incident-intelligence.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$RUN'
unix_socket_permissions = 0700
port = $PORT
max_connections = 200
shared_buffers = 256MB
jit = off
# A projection store, not a replica source: no WAL for streaming, fewer checkpoints under load.
wal_level = minimal
max_wal_senders = 0
max_wal_size = 2GB
checkpoint_timeout = 15min
EOF
  [[ "$(id -u)" == 0 ]] && chown postgres:postgres "$DATA/incident-intelligence.conf"
  return 0
}

start() {
  install
  if running; then
    say "PostgreSQL already running (socket in $RUN)"
  else
    init
    configure
    mkdir -p "$RUN"
    [[ "$(id -u)" == 0 ]] && chown postgres:postgres "$RUN" && touch "$LOG" && chown postgres "$LOG"
    say "starting PostgreSQL (data: $DATA, log: $LOG)"
    as_owner "$(bindir)/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null \
      || { tail -30 "$LOG" >&2; die "PostgreSQL did not start; the log above says why"; }
  fi
  head -1 "$DATA/postmaster.pid" > "$II_RUN/postgres.pid"
  createdb ferretdb
}

createdb() {
  local name="$1"
  [[ "$name" =~ ^[a-z_][a-z0-9_]*$ ]] || die "database name must be lower-case letters, digits and _: $name"
  if [[ -z "$(psql_cmd -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'")" ]]; then
    psql_cmd -d postgres -c "CREATE DATABASE $name"
  fi
  psql_cmd -d "$name" -f "$SQL" >/dev/null
}

dropdb() {
  local name="$1"
  [[ "$name" =~ ^[a-z_][a-z0-9_]*$ ]] || die "database name must be lower-case letters, digits and _: $name"
  [[ "$name" != ferretdb ]] || die "the main instance's database is never dropped by these scripts"
  psql_cmd -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)"
}

stop() {
  if running; then
    say "stopping PostgreSQL"
    as_owner "$(bindir)/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
  fi
  rm -f "$II_RUN/postgres.pid"
}

case "${1:-start}" in
  install) install ;;
  start) start ;;
  createdb) createdb "${2:?usage: $0 createdb NAME}" ;;
  dropdb) dropdb "${2:?usage: $0 dropdb NAME}" ;;
  url) echo "postgres://postgres@/${2:-ferretdb}?host=$RUN&port=$PORT" ;;
  psql) shift; psql_cmd -d ferretdb "$@" ;;
  stop) stop ;;
  status) running && echo "PostgreSQL running (socket in $RUN)" || { echo "PostgreSQL stopped"; exit 1; } ;;
  *) die "usage: $0 install|start|createdb NAME|dropdb NAME|url NAME|psql|stop|status" ;;
esac
