# Common helpers for the local (no Docker) runtime. Sourced, never run.
#
# Everything the local runtime builds or writes lives under $II_HOME (default: .local/ in the
# repository, git-ignored). Downloads go to the tools' own user caches (~/.m2, Go's module and
# build caches, uv's and npm's caches), so a fresh clone on the same machine starts in seconds.

set -euo pipefail

II_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
II_HOME="${II_HOME:-$II_ROOT/.local}"
II_RUN="$II_HOME/run"     # pid files
II_LOGS="$II_HOME/logs"   # process logs
mkdir -p "$II_HOME" "$II_RUN" "$II_LOGS"

say()  { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
die()  { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# is_running NAME: true when the pid file NAME.pid names a live process.
is_running() {
  local pidfile="$II_RUN/$1.pid"
  [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every half second until it succeeds.
# Progress is one line: on a terminal it is rewritten in place with the seconds waited and the
# latest reason (COMMAND may set WAIT_DETAIL, e.g. "connection refused"); in a log, a dot every
# two seconds. Giving up prints the last reason.
WAIT_DETAIL=""
wait_for() {
  local what="$1" limit="$2"; shift 2
  local start=$SECONDS shown=-1 elapsed tty=0
  [[ -t 2 ]] && tty=1
  WAIT_DETAIL=""
  (( tty )) || printf '    waiting for %s ' "$what" >&2
  until "$@"; do
    elapsed=$((SECONDS - start))
    if (( elapsed >= limit )); then
      (( tty )) && printf '\r\033[K    waiting for %s' "$what" >&2
      printf ' gave up after %ss%s\n' "$limit" "${WAIT_DETAIL:+ (last: $WAIT_DETAIL)}" >&2
      return 1
    fi
    if (( elapsed != shown )); then
      if (( tty )); then
        printf '\r\033[K    waiting for %s: %ss%s' "$what" "$elapsed" "${WAIT_DETAIL:+ ($WAIT_DETAIL)}" >&2
      elif (( elapsed % 2 == 0 )); then
        printf '.' >&2
      fi
      shown=$elapsed
    fi
    sleep 0.5
  done
  (( tty )) && printf '\r\033[K    waiting for %s:' "$what" >&2
  printf ' ready (%ss)\n' "$((SECONDS - start))" >&2
}

# start_daemon NAME LOGFILE COMMAND...: starts COMMAND detached, in its own session, pid in NAME.pid.
start_daemon() {
  local name="$1" log="$2"; shift 2
  setsid nohup "$@" >>"$log" 2>&1 < /dev/null &
  echo $! > "$II_RUN/$name.pid"
}

# stop_daemon NAME: SIGTERM, then SIGKILL after 20 s; removes the pid file.
stop_daemon() {
  local name="$1" pidfile="$II_RUN/$1.pid" pid
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping $name (pid $pid)"
    kill -TERM "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      warn "$name did not stop in 20 s; killing it"
      kill -KILL "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}
