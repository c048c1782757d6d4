#!/usr/bin/env bash
# Fuzzes the native parse cores (native/fuzz/harness.cc, one libFuzzer
# binary per entry point, built with clang -fsanitize=fuzzer,address,undefined
# into build/fuzz/) for a bounded time each, and prints executions and
# findings per harness. Exit status 1 when any harness found something.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]   default 60 s each, all harnesses
#   scripts/fuzz.sh --corpus                 regenerate native/fuzz/corpus from
#                                            real kernel replies (isolated netns)
#
# Seeds come from native/fuzz/corpus/<harness>/ (real kernel replies) and
# native/fuzz/regressions/<harness>/ (inputs earlier runs found, fixed
# since), both committed; what a run adds goes to build/fuzz/work/<harness>/,
# crashes to build/fuzz/findings/ (a node-gyp rebuild empties build/: the
# next run compiles again and starts from the committed seeds).
# Installs clang and libclang-rt-14-dev with apt when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
HARNESSES=(link addr route neigh error done nft_table nft_chain nft_rule nft_set nft_setelem nft_gen nft_exprs datagram_route datagram_nft)
PKGS="libnl-3.0 libnl-route-3.0 libnftnl libmnl"
OUT=build/fuzz
mkdir -p "$OUT"

need=()
command -v clang++ >/dev/null || need+=(clang)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need+=(libclang-rt-14-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "fuzz: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ "${1:-}" = "--corpus" ]; then
  g++ -std=c++17 -O1 -Wall -o "$OUT/dump_corpus" native/fuzz/dump_corpus.cc $(pkg-config --cflags --libs libmnl)
  rm -rf native/fuzz/corpus
  # Objects of every kind the parsers decode, made by the real tools.
  bash scripts/isolated.sh bash -euc '
    ip link add br0 type bridge stp_state 0 forward_delay 400 mcast_snooping 0
    ip link add v0 type veth peer name v1
    ip link set v0 master br0
    ip link set v0 type bridge_slave hairpin on cost 7 priority 3 learning off
    ip link add vx0 type vxlan id 42 dstport 4789 local 10.0.0.1 remote 10.0.0.2 nolearning
    ip link add vx6 type vxlan id 43 dstport 4790 group ff05::100 dev br0 ttl 5
    ip link add mv0 link v1 type macvlan mode bridge
    ip link add d0 type veth peer name d1
    ip link set d0 alias "corpus alias" mtu 1400 group 7
    for l in br0 v0 v1 vx0 mv0 d0 d1; do ip link set $l up; done
    ip addr add 10.0.0.1/24 broadcast 10.0.0.255 dev br0 label br0:main
    ip addr add fd00::1/64 dev br0 nodad
    ip addr add 10.1.0.1 peer 10.1.0.2/32 dev d0
    ip addr add 10.2.0.1/24 dev d0 valid_lft 100 preferred_lft 50
    ip route add 192.168.0.0/16 via 10.0.0.2 metric 10 mtu 1400
    ip route add 172.16.0.0/12 nexthop via 10.0.0.2 weight 1 nexthop via 10.0.0.3 weight 2
    ip route add 10.9.0.0/24 dev d0 src 10.2.0.1 table 100
    ip -6 route add fd01::/64 via fd00::2 dev br0
    ip neigh add 10.0.0.5 lladdr aa:bb:cc:dd:ee:ff dev br0 nud permanent
    ip -6 neigh add fd00::5 lladdr aa:bb:cc:dd:ee:01 dev br0 nud reachable
    bridge fdb add aa:bb:cc:00:00:01 dev vx0 dst 10.0.0.9 self permanent
    bridge fdb add aa:bb:cc:00:00:02 dev v0 master static
    nft -f native/fuzz/corpus-ruleset.nft
    '"$OUT"'/dump_corpus native/fuzz/corpus
    nft flush ruleset
  '
  for h in "${HARNESSES[@]}"; do printf '%-16s %3d seeds\n' "$h" "$(ls native/fuzz/corpus/$h 2>/dev/null | wc -l)"; done
  exit 0
fi

SECS=${1:-60}
shift || true
[ $# -gt 0 ] && HARNESSES=("$@")

# The parse cores once, then one small harness object per entry point.
CXX="clang++ -std=c++17 -g -O1 -DCNM_FUZZ -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CORE=(sanitize parse_msg parse_rtnl parse_nft error_names)
objs=()
for c in "${CORE[@]}"; do
  o="$OUT/$c.o"
  if [ ! -f "$o" ] || [ -n "$(find native -name '*.h' -newer "$o" | head -1)" ] || [ "native/$c.cc" -nt "$o" ]; then
    echo "fuzz: compiling native/$c.cc"
    $CXX $(pkg-config --cflags $PKGS) -c "native/$c.cc" -o "$o"
  fi
  objs+=("$o")
done
for h in "${HARNESSES[@]}"; do
  bin="$OUT/$h"
  newest=$(ls -t "${objs[@]}" native/fuzz/harness.cc | head -1)
  if [ ! -x "$bin" ] || [ "$newest" -nt "$bin" ]; then
    $CXX -fsanitize=fuzzer -DCNM_ENTRY="$h" $(pkg-config --cflags $PKGS) native/fuzz/harness.cc "${objs[@]}" $(pkg-config --libs $PKGS) -o "$bin"
  fi
done

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$OUT/findings"
total_found=0
printf '\n%-16s %12s %10s %8s  %s\n' harness executions exec/s corpus findings
for h in "${HARNESSES[@]}"; do
  work="$OUT/work/$h"
  mkdir -p "$work"
  # Seeds: real kernel replies, and every input a past run found (fixed since).
  for d in native/fuzz/corpus/$h native/fuzz/regressions/$h; do
    [ -d "$d" ] && cp -n "$d"/* "$work/" 2>/dev/null || true
  done
  log="$OUT/$h.log"
  before=$(ls "$OUT/findings" | grep -c "^$h-" || true)
  set +e
  "$OUT/$h" -max_total_time="$SECS" -print_final_stats=1 -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -dict=native/fuzz/netlink.dict -artifact_prefix="$OUT/findings/$h-" "$work" >"$log" 2>&1
  rc=$?
  set -e
  after=$(ls "$OUT/findings" | grep -c "^$h-" || true)
  found=$((after - before))
  [ $rc != 0 ] && [ $found = 0 ] && found=1
  total_found=$((total_found + found))
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | awk '{print $2}')
  if [ -z "$execs" ]; then  # stopped by a finding: the last progress line
    execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
  fi
  note=$found
  [ $found != 0 ] && note="$found (see $log)"
  printf '%-16s %12s %10s %8s  %s\n' "$h" "${execs:-?}" "${rate:-?}" "$(ls "$work" | wc -l)" "$note"
done
echo
if [ $total_found = 0 ]; then echo "fuzz: no findings"; else echo "fuzz: $total_found finding(s), inputs in $OUT/findings"; exit 1; fi
