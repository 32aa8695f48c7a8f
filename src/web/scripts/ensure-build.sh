#!/usr/bin/env bash
# Build the web client into dist/, skipping what is already done:
#
#   scripts/ensure-build.sh           npm ci only when node_modules/ was not
#                                     installed from this package-lock.json
#                                     (and this Node.js), npm run build only
#                                     when dist/ was not built from these files
#   scripts/ensure-build.sh --always  npm ci and npm run build regardless
#                                     (./test.sh), then the same stamps
#
# The stamps live in node_modules/.cache/munity/, so `npm ci` (which removes
# node_modules/) drops them too. The build stamp holds a hash of every file
# under src/web but node_modules/ and dist/ (names and contents, tracked or
# not), the Node.js version, and a hash of dist/ as built: a dist/ that
# something else rewrote since, or that is gone, is built again.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

always=0
case "${1:-}" in
  --always) always=1 ;;
  "") ;;
  *) echo "usage: $0 [--always]" >&2; exit 2 ;;
esac

STAMPS=node_modules/.cache/munity
node_version=$(node --version)

tree_hash() {
  find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum | sha256sum | cut -d' ' -f1
}
sources_hash() {
  { echo "node $node_version"
    find . \( -path ./node_modules -o -path ./dist \) -prune -o -type f -print0 |
      LC_ALL=C sort -z | xargs -0r sha256sum
  } | sha256sum | cut -d' ' -f1
}
dist_hash() {
  if [ -f dist/index.html ]; then tree_hash dist; else echo none; fi
}

deps="$(sha256sum <package-lock.json | cut -d' ' -f1) node $node_version"
if [ "$always" = 1 ] || [ ! -d node_modules ] || [ "$(cat "$STAMPS/deps" 2>/dev/null)" != "$deps" ]; then
  npm ci
  mkdir -p "$STAMPS"
  echo "$deps" >"$STAMPS/deps"
else
  echo "web client: node_modules/ is installed from this package-lock.json (no npm ci)"
fi

sources=$(sources_hash)
if [ "$always" = 1 ] || [ "$(cat "$STAMPS/build" 2>/dev/null)" != "$sources $(dist_hash)" ]; then
  rm -f "$STAMPS/build"
  npm run build
  mkdir -p "$STAMPS"
  echo "$sources $(dist_hash)" >"$STAMPS/build"
else
  echo "web client: dist/ is built from these sources (no vite build)"
fi
