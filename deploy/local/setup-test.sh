#!/usr/bin/env bash
# What the tests need beyond `make up`: Debian's Chromium for the browser tests (never a browser
# download: playwright-core drives /usr/bin/chromium). Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ! -x /usr/bin/chromium ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    say "installing Debian's chromium for the browser tests (apt-get)"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    warn "/usr/bin/chromium is missing: the browser tests will fail; install it with: sudo apt-get install -y chromium"
  fi
fi

# kcat, for the tests that produce raw records straight to Kafka.
"$II_ROOT/deploy/ci.d/kcat.sh"
