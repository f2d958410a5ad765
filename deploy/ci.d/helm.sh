#!/usr/bin/env bash
# Builds helm from the Go module proxy into .local/bin (git-ignored), for the chart's checks
# (tests/integration/deploy). Idempotent: a binary of the pinned version is kept; a rebuild after
# a fresh clone on the same machine takes seconds, thanks to Go's module and build caches.
#
# Built with the link flags of helm's own release build: they set the Kubernetes version that
# `helm template` and `helm lint` assume without a cluster to that of the client-go helm is built
# with. A plain `go install` leaves helm's fallback, Kubernetes 1.20, which the chart (1.25+) refuses.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
BIN_DIR="$ROOT/.local/bin"
STAMP="$BIN_DIR/helm.version"
WANTED="$HELM_VERSION release-ldflags"

if [[ -x "$BIN_DIR/helm" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANTED" ]]; then
  exit 0
fi
command -v go >/dev/null || { echo "error: Go is needed to build helm (https://go.dev/doc/install)" >&2; exit 1; }
echo "==> building helm $HELM_VERSION from the Go module proxy (first run: a few minutes on 2 cores)" >&2
mkdir -p "$BIN_DIR"
gomod="$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
client_go="$(sed -n 's/^\tk8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod")"
[[ -n "$client_go" ]] || { echo "error: cannot find helm's client-go version in $gomod" >&2; exit 1; }
ldflags=""
for pkg in pkg/chartutil pkg/lint/rules; do
  ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$client_go"
done
GOBIN="$BIN_DIR" GOFLAGS="${GOFLAGS:-} -trimpath" go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
"$BIN_DIR/helm" version --short >&2
echo "$WANTED" > "$STAMP"
