#!/usr/bin/env bash
# Builds deploy/tools/compose-check (compose-go, the loader of Docker Compose, from the Go module
# proxy) into .local/bin, so that the tests validate deploy/compose.yaml against the Compose
# specification without a container engine. Rebuilt only when its sources change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="$ROOT/deploy/tools/compose-check"
BIN="$ROOT/.local/bin/compose-check"
stamp="$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -c1-16)"
if [[ -x "$BIN" && -f "$BIN.stamp" && "$(cat "$BIN.stamp")" == "$stamp" ]]; then
  exit 0
fi
command -v go >/dev/null || { echo "error: Go is needed to build compose-check" >&2; exit 1; }
echo "==> building compose-check (compose-go) from the Go module proxy" >&2
mkdir -p "$(dirname "$BIN")"
(cd "$SRC" && go build -trimpath -o "$BIN" .)
echo "$stamp" > "$BIN.stamp"
