#!/usr/bin/env bash
# Build Munity and run munityd in the foreground on http://127.0.0.1:8080
# with its embedded PostgreSQL in ./_state. Extra arguments go to munityd
# (try ./run.sh --help). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"

.ci/install-deps

# The web client (src/web), once it exists; munityd serves this fresh build
# rather than an installed copy.
if [ -f src/web/package.json ]; then
  (cd src/web && npm ci && npm run build)
  export MUNITY_WEB_DIR="$PWD/src/web/dist"
fi

if [ -f _build/meson-private/coredata.dat ]; then
  meson setup --reconfigure _build
else
  meson setup _build
fi
ninja -C _build

exec _build/src/munityd --state-dir "$PWD/_state" "$@"
