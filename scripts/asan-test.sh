#!/usr/bin/env bash
# The whole suite with the addon built under AddressSanitizer and
# UndefinedBehaviorSanitizer (`npm run test:asan`; mocha args pass through).
#
# How: the normal build/ is set aside (build.normal/, put back on any exit),
# node-gyp rebuilds the addon with CXXFLAGS/LDFLAGS -fsanitize=address,undefined
# (gcc), and scripts/isolated-test.sh runs with gcc's libasan preloaded:
# node itself is not instrumented, and the ASan runtime has to come first
# in the process. Every process of the run gets the preload (the tests'
# ip/nft/bridge too); leak detection is off because node does not free at
# exit. A sanitizer report aborts the process (halt_on_error), so it fails
# the suite; the reports go to build/asan-logs/. Afterwards the sanitized
# build is kept in build/asan/ (the next run rebuilds only what changed)
# and the normal build/ is back in place, its addon untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run build >/dev/null

LIBASAN=$(gcc -print-file-name=libasan.so)
LIBUBSAN=$(gcc -print-file-name=libubsan.so)
[ -f "$LIBASAN" ] || { echo "asan-test: gcc's libasan not found"; exit 1; }
[ -d build.normal ] && { echo "asan-test: build.normal/ exists (an interrupted run?); move it back to build/ first"; exit 1; }
# While the run lasts the normal build sits in build.normal/, with the
# sanitized build's cache and the logs inside it.
LOGS="$PWD/build.normal/asan-logs"
CACHE="$PWD/build.normal/asan"
restore() {
  rm -rf "$CACHE"
  [ -d build ] && mv build "$CACHE"
  mv build.normal build
  echo "asan-test: normal build restored (logs in build/asan-logs)"
}
mv build build.normal
trap restore EXIT
rm -rf "$LOGS" && mkdir -p "$LOGS"

echo "asan-test: building the addon with -fsanitize=address,undefined"
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -g"
step=rebuild
if [ -d "$CACHE" ]; then mv "$CACHE" build; step=build; fi
CFLAGS="$SAN" CXXFLAGS="$SAN" LDFLAGS="-fsanitize=address,undefined" npx node-gyp $step -j 2 >"$LOGS/node-gyp.log" 2>&1 \
  || { tail -30 "$LOGS/node-gyp.log"; exit 1; }
# The sanitized addon really is sanitized (else this run proves nothing).
if ! nm -D build/Release/cnm_netlink.node | grep __asan_report >/dev/null; then
  echo "asan-test: addon not instrumented"; exit 1
fi

set +e
LD_PRELOAD="$LIBASAN $LIBUBSAN" \
ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:log_path=$LOGS/asan:log_exe_name=1" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$LOGS/ubsan" \
  bash scripts/isolated-test.sh "$@"
rc=$?
set -e
reports=$(ls "$LOGS" | grep -E '^(asan|ubsan)\.' || true)
if [ -n "$reports" ]; then
  echo "asan-test: sanitizer reports:"
  for r in $reports; do echo "== $r"; head -40 "$LOGS/$r"; done
  rc=1
else
  echo "asan-test: no sanitizer reports"
fi
exit $rc
