#!/usr/bin/env bash
# kcat (Debian's package) produces raw records straight to Kafka in the aggregator's tests, the way
# a service that speaks Kafka does, record timestamp included. Install it from the distribution's
# packages when it is missing.
set -euo pipefail
command -v kcat >/dev/null && exit 0
if command -v apt-get >/dev/null; then
  echo "==> installing kcat from the distribution's packages (for the aggregator's tests)" >&2
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq kcat >/dev/null
else
  echo "warning: kcat is missing and apt-get is not available; the aggregator's kcat test will fail" >&2
fi
