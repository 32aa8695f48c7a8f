#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The meson dist script (meson.add_dist_script in meson.build): builds the
# web client into the tree being packed, as src/web/dist, so that
# `meson setup && meson install` from the release tarball installs it under
# $datadir/munity/web with no Node.js, no npm and no network.
#
# It builds from the committed sources meson dist packs
# ($MESON_PROJECT_DIST_ROOT), never copies the working tree's dist/: that
# one may be stale or built from uncommitted edits. The npm packages are the
# working tree's node_modules when it holds every package of the
# package-lock.json being packed, at its version (hard-linked: no copy, no
# network); otherwise `npm ci` fetches them (the npm registry, or a filled
# npm cache). node_modules never goes into the tarball.
set -eu

die() {
  echo "dist-web: $*" >&2
  exit 1
}

dist_root=${MESON_PROJECT_DIST_ROOT:-${MESON_DIST_ROOT:-}}
source_root=${MESON_PROJECT_SOURCE_ROOT:-${MESON_SOURCE_ROOT:-}}
[ -n "$dist_root" ] && [ -n "$source_root" ] ||
  die "run me through meson dist (MESON_DIST_ROOT is not set)"

web=$dist_root/src/web
work_web=$source_root/src/web
[ -f "$web/package.json" ] || die "$web/package.json is missing: nothing to build"

command -v npm >/dev/null 2>&1 ||
  die "npm is not installed; the release tarball carries the built web client and building it needs Node.js and npm (.ci/install-deps installs them)"

# Whether $1/.package-lock.json (what npm installed there) has every package
# of the lock file $2 at its version; optional packages (other platforms'
# binaries) may be missing.
node_modules_match() {
  [ -f "$1/.package-lock.json" ] && [ -f "$2" ] || return 1
  node -e '
    const fs = require("fs");
    const read = (path) => JSON.parse(fs.readFileSync(path, "utf8")).packages || {};
    const have = read(process.argv[1]), want = read(process.argv[2]);
    for (const [name, p] of Object.entries(want)) {
      if (name === "" || p.link) continue;
      if (!have[name] ? !p.optional : have[name].version !== p.version) process.exit(1);
    }' "$1/.package-lock.json" "$2"
}

rm -rf "$web/dist" "$web/node_modules"
if node_modules_match "$work_web/node_modules" "$web/package-lock.json"; then
  echo "dist-web: using the npm packages of $work_web/node_modules"
  cp -al "$work_web/node_modules" "$web/node_modules" 2>/dev/null ||
    cp -a "$work_web/node_modules" "$web/node_modules" ||
    die "cannot copy $work_web/node_modules"
else
  echo "dist-web: $work_web/node_modules is missing or does not match the package-lock.json being packed: npm ci"
  (cd "$web" && npm ci --no-audit --no-fund) ||
    die "npm ci failed in $web (it needs the npm registry or an npm cache holding every package of package-lock.json)"
fi

status=0
(cd "$web" && npm run build) || status=$?
rm -rf "$web/node_modules"
[ "$status" -eq 0 ] || die "building the web client (npm run build) failed"
[ -f "$web/dist/index.html" ] || die "npm run build made no $web/dist/index.html"

echo "dist-web: the tarball carries the web client: src/web/dist, $(find "$web/dist" -type f | wc -l) files"
