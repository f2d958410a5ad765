#!/usr/bin/env bash
# The browser test drives Debian's chromium (never a browser downloaded by a test tool); install it
# from the distribution's packages when it is missing.
set -euo pipefail
[[ -x /usr/bin/chromium ]] && exit 0
if command -v apt-get >/dev/null; then
  echo "==> installing chromium from the distribution's packages (for the dashboard's browser test)" >&2
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
else
  echo "warning: /usr/bin/chromium is missing and apt-get is not available; the browser test will fail" >&2
fi
