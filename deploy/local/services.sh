#!/usr/bin/env bash
# Starts and stops the product's services as local processes (see services.conf).
#
#   deploy/local/services.sh start [NAME...]   start (all by default) and wait until each is ready
#   deploy/local/services.sh stop [NAME...]
#   deploy/local/services.sh status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONF="$II_ROOT/deploy/local/services.conf"
export PATH="$II_ROOT/.venv/bin:$PATH"

# II_PORT_OFFSET shifts every port, so that a second stack (the end-to-end tests' own) can run beside
# the one `make up` started. The services find each other through these variables.
OFFSET="${II_PORT_OFFSET:-0}"
export SUMMARIZER_URL="${SUMMARIZER_URL:-http://127.0.0.1:$((5001 + OFFSET))}"
export BROADCASTER_URL="${BROADCASTER_URL:-http://127.0.0.1:$((5002 + OFFSET))}"
export VITE_API_URL="${VITE_API_URL:-http://localhost:$((5000 + OFFSET))}"
export VITE_WS_URL="${VITE_WS_URL:-ws://localhost:$((5000 + OFFSET))/ws}"
# The browser origins the API and the live feed serve: the dashboard's own, wherever the offset puts it.
export CORS_ORIGINS="${CORS_ORIGINS:-http://localhost:$((3000 + OFFSET)),http://127.0.0.1:$((3000 + OFFSET))}"

entries() { grep -vE '^\s*(#|$)' "$CONF"; }

wanted() {  # wanted NAME [FILTER...]: true when no filter is given or NAME is among them
  local name="$1"; shift
  (( $# == 0 )) && return 0
  local n; for n in "$@"; do [[ "$n" == "$name" ]] && return 0; done
  return 1
}

# http_ok URL: true on a 2xx answer. Quiet: the reason for a failure goes to WAIT_DETAIL (shown by
# wait_for's progress line), not to the terminal once per attempt.
http_ok() {
  local err
  err="$(curl -fsS -o /dev/null --max-time 2 "$1" 2>&1)" && return 0
  err="${err#curl: (*) }"
  err="${err/ after [0-9]* ms:/:}"
  WAIT_DETAIL="${err:0:120}"
  return 1
}

start() {
  local name port path cmd
  while read -r name port path cmd; do
    wanted "$name" "$@" || continue
    port=$((port + OFFSET))
    if is_running "$name"; then
      say "$name already running on :$port"
      continue
    fi
    port_open 127.0.0.1 "$port" && die "port $port is taken; stop what holds it (or run make down) before starting $name"
    say "starting $name on :$port (log: $II_LOGS/$name.log)"
    (cd "$II_ROOT" && PORT="$port" LOG_FORMAT="${LOG_FORMAT:-json}" start_daemon "$name" "$II_LOGS/$name.log" bash -c "exec $cmd")
    if ! wait_for "$name readiness ($path)" 120 http_ok "http://127.0.0.1:$port$path"; then
      tail -20 "$II_LOGS/$name.log" >&2
      die "$name did not become ready; its log is above and in $II_LOGS/$name.log"
    fi
  done < <(entries)
}

stop() {
  local names=() name _
  while read -r name _; do wanted "$name" "$@" && names+=("$name"); done < <(entries)
  # Reverse order: consumers and the UI go before what they depend on.
  for ((i = ${#names[@]} - 1; i >= 0; i--)); do stop_daemon "${names[i]}"; done
}

status() {
  local name port _
  while read -r name port _; do
    port=$((port + OFFSET))
    if is_running "$name"; then echo "$name: running on :$port"; else echo "$name: stopped"; fi
  done < <(entries)
}

cmd="${1:-start}"; shift || true
case "$cmd" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  status) status ;;
  *) die "usage: $0 start|stop|status [NAME...]" ;;
esac
