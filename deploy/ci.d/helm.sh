#!/usr/bin/env bash
# Builds helm from the Go module proxy into .local/bin (git-ignored), for the chart's checks
# (tests/integration/deploy). Idempotent: a binary of the pinned version is kept; a rebuild after
# a fresh clone on the same machine takes seconds, thanks to Go's module and build caches.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
BIN_DIR="$ROOT/.local/bin"
STAMP="$BIN_DIR/helm.version"

if [[ -x "$BIN_DIR/helm" && -f "$STAMP" && "$(cat "$STAMP")" == "$HELM_VERSION" ]]; then
  exit 0
fi
command -v go >/dev/null || { echo "error: Go is needed to build helm (https://go.dev/doc/install)" >&2; exit 1; }
echo "==> building helm $HELM_VERSION from the Go module proxy (first run: a few minutes on 2 cores)" >&2
mkdir -p "$BIN_DIR"
GOBIN="$BIN_DIR" GOFLAGS="${GOFLAGS:-} -trimpath" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
"$BIN_DIR/helm" version --short >&2
echo "$HELM_VERSION" > "$STAMP"
