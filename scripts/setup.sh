#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks, then npm ci and the native
# build. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(build-essential pkg-config libnl-3-dev libnl-route-3-dev libnftnl-dev libmnl-dev iproute2 nftables iputils-ping util-linux bind9-dnsutils curl etcd-server)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi
if [ ! -f build/Release/cnm_netlink.node ] || [ -n "$(find native binding.gyp -newer build/Release/cnm_netlink.node 2>/dev/null | head -1)" ]; then
  echo "setup: building the native addon"
  npx node-gyp rebuild -j 2 >/dev/null
fi
