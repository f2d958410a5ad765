#!/usr/bin/env bash
# Builds Prometheus Alertmanager from the Go module proxy into .local/bin (git-ignored), for the tests
# that run it as a real process against the gateway's receivers (tests/integration/sources).
#
# A plain `go install .../cmd/alertmanager` fails: its web UI is embedded from `ui/app/dist`, which
# the published module does not contain (it is built by npm in Alertmanager's own release). The
# tests never open that UI, so the module is copied out of the module cache, given placeholder
# pages where the UI would be, and built there. Idempotent: a binary of the pinned version is kept;
# a rebuild after a fresh clone on the same machine takes seconds, thanks to Go's caches.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ALERTMANAGER_VERSION="${ALERTMANAGER_VERSION:-v0.35.0}"
BIN_DIR="$ROOT/.local/bin"
STAMP="$BIN_DIR/alertmanager.version"

if [[ -x "$BIN_DIR/alertmanager" && -f "$STAMP" && "$(cat "$STAMP")" == "$ALERTMANAGER_VERSION" ]]; then
  exit 0
fi
command -v go >/dev/null || { echo "error: Go is needed to build Alertmanager (https://go.dev/doc/install)" >&2; exit 1; }
echo "==> building Alertmanager $ALERTMANAGER_VERSION from the Go module proxy (first run: a few minutes on 2 cores)" >&2
module="github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION"
src_dir="$(go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -d "$src_dir" ]] || { echo "error: cannot download $module from the Go module proxy" >&2; exit 1; }

work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$src_dir" "$work/alertmanager"
chmod -R u+w "$work/alertmanager"  # the module cache is read-only
for ui in elm mantine; do
  mkdir -p "$work/alertmanager/ui/app/dist/$ui"
  echo "<!doctype html><title>Alertmanager</title><p>The web UI is not part of this build.</p>" \
    > "$work/alertmanager/ui/app/dist/$ui/index.html"
done
mkdir -p "$BIN_DIR"
(cd "$work/alertmanager" && go build -trimpath \
  -ldflags "-X github.com/prometheus/common/version.Version=${ALERTMANAGER_VERSION#v}" \
  -o "$BIN_DIR/alertmanager" ./cmd/alertmanager)
"$BIN_DIR/alertmanager" --version 2>&1 | head -1 >&2
echo "$ALERTMANAGER_VERSION" > "$STAMP"
