#!/usr/bin/env bash
# Installs what the local runtime and the tests need, idempotently; a second run takes seconds.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need() { command -v "$1" >/dev/null || die "$1 is needed: $2"; }
need java "a JDK 17+ (apt-get install openjdk-17-jdk-headless)"
need mvn "Maven (apt-get install maven)"
need go "Go 1.24+ (https://go.dev/doc/install)"
need curl "curl (apt-get install curl)"

if ! command -v uv >/dev/null; then
  if [[ -x "$HOME/.local/bin/uv" ]]; then
    export PATH="$HOME/.local/bin:$PATH"
  else
    say "installing uv (the Python package manager) from PyPI"
    python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv \
      || die "cannot install uv; install it by hand: python3 -m pip install uv"
    export PATH="$HOME/.local/bin:$PATH"
  fi
fi

say "Python dependencies (uv sync, from uv.lock)"
(cd "$II_ROOT" && uv sync --frozen --all-packages --quiet)

"$II_ROOT/deploy/local/kafka.sh" install
"$II_ROOT/deploy/local/mongo.sh" install

for hook in "$II_ROOT"/deploy/local/setup.d/*.sh; do
  [[ -e "$hook" ]] && "$hook"
done
exit 0
