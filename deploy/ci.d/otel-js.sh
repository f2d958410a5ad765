#!/usr/bin/env bash
# Installs the OpenTelemetry JavaScript SDK for the tests that run it as a real OTLP/JSON sender
# (tests/clients/otel-js, from its package-lock.json). Idempotent: skipped while the lock file is
# unchanged; npm's cache makes a reinstall after a fresh clone quick.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLIENT="$ROOT/tests/clients/otel-js"
STAMP="$CLIENT/node_modules/.lock-hash"

lock_hash="$(sha256sum < "$CLIENT/package-lock.json" | cut -c1-16)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$lock_hash" ]]; then
  exit 0
fi
command -v npm >/dev/null || { echo "error: npm is needed for the OpenTelemetry JS client (apt-get install npm)" >&2; exit 1; }
echo "==> installing the OpenTelemetry JavaScript SDK for the OTLP/JSON tests (npm ci)" >&2
(cd "$CLIENT" && npm ci --no-audit --no-fund --loglevel=error)
echo "$lock_hash" > "$STAMP"
