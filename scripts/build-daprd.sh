#!/usr/bin/env bash
# Finds the pinned Dapr sidecar (daprd), or builds it from the Go module
# proxy. An installed daprd of the pinned version is used when there is one,
# each checked with --version: $DAPRD (then the only candidate), the Dapr
# CLI's ~/.dapr/bin/daprd (`dapr init --slim`), daprd on PATH, and this
# repository's own build in .cache/dapr/<version>/daprd. Otherwise it builds
# daprd with upstream's exact dependency set (its go.mod replace directives
# included) into .cache/dapr/<version>/daprd.
#
#   scripts/build-daprd.sh            # prints the binary's path on stdout
#   DAPR_VERSION=1.18.2 scripts/build-daprd.sh
#
# `go install github.com/dapr/dapr/cmd/daprd@vX` does not work (dapr's go.mod
# has replace directives), so we download the module and build inside it.
set -euo pipefail

version="${DAPR_VERSION:-1.18.2}"
root="$(cd "$(dirname "$0")/.." && pwd)"
out_dir="${DAPRD_CACHE_DIR:-$root/.cache/dapr}/$version"
bin="$out_dir/daprd"

log() { printf '[build-daprd] %s\n' "$*" >&2; }

is_pinned() { [ -x "$1" ] && [ "$("$1" --version 2>/dev/null)" = "$version" ]; }

if [ -n "${DAPRD:-}" ]; then
  if is_pinned "$DAPRD"; then echo "$DAPRD"; exit 0; fi
  log "DAPRD=$DAPRD is not daprd $version (\`$DAPRD --version\`: $("$DAPRD" --version 2>&1 | head -1 || true))"
  exit 1
fi
for c in "$HOME/.dapr/bin/daprd" "$(command -v daprd 2>/dev/null || true)" "$bin"; do
  if [ -n "$c" ] && is_pinned "$c"; then
    log "using daprd $version at $c"
    echo "$c"
    exit 0
  fi
done
log "no daprd $version in ~/.dapr/bin or on PATH (the Dapr CLI's \`dapr init --slim\` installs one): building it from source."
log "This is the fallback: about 10 minutes the first time on 2 cores (a 3 GB module download, then the compile), seconds afterwards."

mkdir -p "$out_dir"
start=$(date +%s)
log "downloading github.com/dapr/dapr@v$version from the Go module proxy (about 3 GB unpacked, ~1 min the first time)..."
dir=$(go mod download -json "github.com/dapr/dapr@v$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
  log "could not download github.com/dapr/dapr@v$version; check your Go module proxy (GOPROXY=$(go env GOPROXY))"
  exit 1
fi
log "downloaded in $(( $(date +%s) - start ))s; source at $dir"

log "compiling daprd with -tags stablecomponents (about 7 min cold on 2 cores, seconds when the Go build cache is warm)..."
build_start=$(date +%s)
(
  cd "$dir"
  # The module cache is read-only; the build writes nothing into it.
  GOFLAGS=-mod=mod go build -tags stablecomponents -trimpath \
    -ldflags "-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=$version" \
    -o "$bin.tmp" ./cmd/daprd
) &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  sleep 30
  kill -0 "$pid" 2>/dev/null && log "still compiling... $(( $(date +%s) - build_start ))s"
done
wait "$pid"
mv "$bin.tmp" "$bin"
log "built daprd $version in $(( $(date +%s) - build_start ))s (total $(( $(date +%s) - start ))s): $bin"
echo "$bin"
