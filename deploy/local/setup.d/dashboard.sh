#!/usr/bin/env bash
# Installs the dashboard's npm dependencies (from package-lock.json) and builds its static bundle,
# each only when its inputs changed, so a second `make up` skips both in a second.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

DASH="$II_ROOT/dashboard"
command -v node >/dev/null || die "node 20+ is needed for the dashboard (apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm is needed for the dashboard (apt-get install npm)"

hash_of() { sha256sum | cut -c1-16; }

lock_hash="$(cat "$DASH/package-lock.json" | hash_of)"
if [[ "$(cat "$DASH/node_modules/.ii-lock-hash" 2>/dev/null)" != "$lock_hash" ]]; then
  say "dashboard: npm ci (installing from package-lock.json)"
  (cd "$DASH" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" > "$DASH/node_modules/.ii-lock-hash"
fi

# The build bakes VITE_API_URL / VITE_WS_URL in, so they are part of what decides a rebuild.
src_hash="$(
  cd "$DASH" && {
    find src public index.html vite.config.ts tsconfig.json package-lock.json -type f -print0 | sort -z | xargs -0 sha256sum
    echo "VITE_API_URL=${VITE_API_URL:-} VITE_WS_URL=${VITE_WS_URL:-}"
  } | hash_of
)"
if [[ "$(cat "$DASH/dist/.ii-src-hash" 2>/dev/null)" != "$src_hash" ]]; then
  say "dashboard: building the static bundle (vite build)"
  (cd "$DASH" && npm run --silent build -- --logLevel warn)
  echo "$src_hash" > "$DASH/dist/.ii-src-hash"
else
  say "dashboard: static bundle is up to date"
fi
