#!/usr/bin/env bash
# Refreshes the vendored axe-core (the accessibility checker the browser
# tests inject into each page) from the npm registry:
#   scripts/refresh-axe.sh            the version in internal/browsertest/axe/VERSION
#   scripts/refresh-axe.sh 4.11.0     another version (then commit the three files)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=internal/browsertest/axe
version="${1:-$(cat "$dir/VERSION")}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "axe-core@$version" >/dev/null)
tar -xzf "$tmp"/axe-core-*.tgz -C "$tmp"
cp "$tmp/package/axe.min.js" "$dir/axe.min.js"
cp "$tmp/package/LICENSE" "$dir/LICENSE"
echo "$version" > "$dir/VERSION"
echo "axe-core $version -> $dir"
