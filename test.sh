#!/usr/bin/env bash
# Install what is missing, build with -Dwerror=true, run the whole suite
# (or what the arguments select: ./test.sh test-api, ./test.sh --suite unit)
# and end with one line "munity: N passed, M failed".
#
# A skipped test counts as failed: a test that cannot run in CI must fail it.
# Exit status: 0 only when every test passed and nothing failed on the way.
#
# MUNITY_BUILDDIR=DIR uses another build directory than _build.
# MUNITY_SANITIZE=address,undefined builds with AddressSanitizer/UBSan
# (use its own build directory: MUNITY_BUILDDIR=_build_asan).
set -uo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"

BUILD=${MUNITY_BUILDDIR:-_build}
TESTLOG="$BUILD/meson-logs/testlog.json"
extra_failures=()

die() {
  echo "test.sh: $*" >&2
  echo "munity: 0 passed, 1 failed"
  exit 1
}

.ci/install-deps || die "installing the dependencies failed"

# The web client (src/web), once it exists: always installed and built from
# scratch here, as CI does; the stamps it leaves let ./run.sh skip both.
if [ -f src/web/package.json ]; then
  echo "== web client: npm ci, build, test"
  if ! (src/web/scripts/ensure-build.sh --always && cd src/web && npm test); then
    extra_failures+=("web client (npm ci / npm run build / npm test in src/web)")
  fi
fi

if [ -f "$BUILD/meson-private/coredata.dat" ]; then
  meson setup --reconfigure "$BUILD" -Dwerror=true ${MUNITY_SANITIZE:+-Db_sanitize=$MUNITY_SANITIZE -Db_lundef=false} || die "meson setup failed"
else
  meson setup "$BUILD" -Dwerror=true ${MUNITY_SANITIZE:+-Db_sanitize=$MUNITY_SANITIZE -Db_lundef=false} || die "meson setup failed"
fi
ninja -C "$BUILD" || die "the build failed"

rm -f "$TESTLOG"
meson test -C "$BUILD" --print-errorlogs --num-processes 2 "$@"
meson_status=$?

# One JSON object per line: {"name": ..., "result": "OK" | "FAIL" | ...}.
# Prints "RESULT<TAB>NAME" per test.
read_testlog() {
  [ -f "$TESTLOG" ] || return 0
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$TESTLOG" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            print("ERROR\t(unreadable line in testlog.json)")
            continue
        print("%s\t%s" % (entry.get("result", "ERROR"), entry.get("name", "?")))
PY
  else
    # Escaped quotes inside stdout strings never match these patterns.
    while IFS= read -r line; do
      [ -n "$line" ] || continue
      name=$(printf '%s\n' "$line" | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')
      result=$(printf '%s\n' "$line" | sed -n 's/.*"result": *"\([A-Z]*\)".*/\1/p')
      printf '%s\t%s\n' "${result:-ERROR}" "${name:-?}"
    done <"$TESTLOG"
  fi
}

passed=0
failed=0
failures=()
skipped=()
while IFS=$'\t' read -r result name; do
  [ -n "$result" ] || continue
  case "$result" in
    OK|EXPECTEDFAIL)
      passed=$((passed + 1)) ;;
    SKIP)
      failed=$((failed + 1)); skipped+=("$name"); failures+=("$name (SKIP)") ;;
    *)
      failed=$((failed + 1)); failures+=("$name ($result)") ;;
  esac
done < <(read_testlog)

for f in "${extra_failures[@]+"${extra_failures[@]}"}"; do
  failed=$((failed + 1))
  failures+=("$f")
done

if [ $((passed + failed)) -eq 0 ]; then
  failed=1
  failures+=("no test ran (meson test exit status $meson_status)")
elif [ "$meson_status" -ne 0 ] && [ "${#failures[@]}" -eq 0 ]; then
  failed=$((failed + 1))
  failures+=("meson test exited with status $meson_status")
fi

echo
if [ "${#failures[@]}" -gt 0 ]; then
  echo "Failed:"
  for f in "${failures[@]}"; do
    echo "  $f"
  done
fi
if [ "${#skipped[@]}" -gt 0 ]; then
  list=$(printf ', %s' "${skipped[@]}")
  echo "munity: ${#skipped[@]} skipped (counted as failed): ${list:2}"
fi
echo "munity: $passed passed, $failed failed"

if [ "$failed" -ne 0 ] || [ "$meson_status" -ne 0 ]; then
  exit 1
fi
exit 0
