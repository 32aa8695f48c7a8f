#!/bin/sh
# Every source file with translatable strings (_() or N_()) is listed in
# po/POTFILES.in, and every file listed has some: otherwise strings are
# silently left out of translation (as happened when munity-http-server.c
# was split).
set -eu
root=${1:?usage: check-potfiles.sh SOURCE-ROOT}
cd "$root"
has=$(grep -lE '(^|[^A-Za-z0-9_])N?_ ?\(' src/*.c | sort)
listed=$(grep -v '^#' po/POTFILES.in | grep . | sort)
if [ "$has" != "$listed" ]; then
  echo "po/POTFILES.in does not match the files with translatable strings:" >&2
  printf '%s\n' "$has" > "${TMPDIR:-/tmp}/potfiles-has.$$"
  printf '%s\n' "$listed" | diff "${TMPDIR:-/tmp}/potfiles-has.$$" - >&2 || true
  rm -f "${TMPDIR:-/tmp}/potfiles-has.$$"
  exit 1
fi
echo "po/POTFILES.in lists the $(printf '%s\n' "$has" | wc -l) files with translatable strings"
