#!/usr/bin/env bash
# Build Munity and run munityd in the foreground on http://127.0.0.1:8080
# with its embedded PostgreSQL in ./_state. Extra arguments go to munityd
# (try ./run.sh --help). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"

.ci/install-deps

# The web client (src/web), once it exists; munityd serves this build rather
# than an installed copy. npm ci and vite build run only when src/web changed
# since they last ran (src/web/scripts/ensure-build.sh keeps the stamps).
if [ -f src/web/package.json ]; then
  src/web/scripts/ensure-build.sh
  export MUNITY_WEB_DIR="$PWD/src/web/dist"
fi

# ninja runs meson again by itself when a meson.build file changed.
[ -f _build/meson-private/coredata.dat ] || meson setup _build
ninja -C _build

# As root, the embedded PostgreSQL runs as the postgres account, which must
# be able to reach ./_state. A checkout under a private directory (/root is
# 0700) is not reachable: grant postgres search permission (x, not read) on
# exactly the directories in the way, and say so.
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$PWD"; then
  dir=""
  IFS=/ read -ra parts <<<"${PWD#/}"
  for part in "${parts[@]}"; do
    dir="$dir/$part"
    if ! runuser -u postgres -- test -x "$dir"; then
      setfacl -m u:postgres:x "$dir"
      echo "run.sh: allowed the postgres account to pass through $dir (setfacl -m u:postgres:x)" >&2
    fi
  done
fi

exec _build/src/munityd --state-dir "$PWD/_state" "$@"
