#!/usr/bin/env bash
# The test command's body: mocha inside an isolated namespace, then a check
# that the suite left no namespace, link or nftables rule behind.
set -uo pipefail
if [ "${CNM_ISOLATED:-}" != 1 ]; then
  exec bash "$(dirname "$0")/isolated.sh" bash "$0" "$@"
fi
cd "$(dirname "$0")/.."
out=$(mktemp)
npx mocha --timeout 30000 --exit 'dist/test/**/*.test.js' "$@" | tee "$out"
rc=${PIPESTATUS[0]}
# One plain closing line for readers of the log: N passed, N failed.
passed=$(grep -oE '^  [0-9]+ passing' "$out" | grep -oE '[0-9]+' | tail -1)
failed=$(grep -oE '^  [0-9]+ failing' "$out" | grep -oE '[0-9]+' | tail -1)
rm -f "$out"
leaks=0
left_ns=$(ls /run/netns)
if [ -n "$left_ns" ]; then echo "LEAK: namespaces left in /run/netns: $left_ns"; leaks=1; fi
left_links=$(ip -o link show | awk -F': ' '{print $2}' | grep -v '^lo$' || true)
if [ -n "$left_links" ]; then echo "LEAK: links left: $left_links"; leaks=1; fi
if command -v nft >/dev/null; then
  left_rules=$(nft list ruleset 2>/dev/null)
  if [ -n "$left_rules" ]; then echo "LEAK: nftables ruleset not empty:"; echo "$left_rules" | head -20; leaks=1; fi
fi
if [ $leaks = 0 ]; then echo "leak check: no namespace, link or nftables object left behind"; fi
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
[ $rc = 0 ] && [ $leaks = 0 ]
