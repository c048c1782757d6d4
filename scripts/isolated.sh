#!/usr/bin/env bash
# Runs a command inside a fresh network + mount namespace (and a user
# namespace when not root), with a private tmpfs on /run/netns, so nothing
# it does can touch this machine's own network or namespaces.
set -euo pipefail
if [ "${CNM_ISOLATED:-}" != 1 ]; then
  args=(--net --mount --propagation private)
  if [ "$(id -u)" != 0 ]; then args+=(--user --map-root-user); fi
  exec env CNM_ISOLATED=1 unshare "${args[@]}" bash "$0" "$@"
fi
if ! mkdir -p /run/netns 2>/dev/null; then
  mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/netns
fi
mount -t tmpfs -o mode=755 tmpfs /run/netns
# State of the CNM layer and anything else under /var/lib stays private too.
mkdir -p /var/lib/cnm-netlink 2>/dev/null && mount -t tmpfs tmpfs /var/lib/cnm-netlink 2>/dev/null || true
mkdir -p /run/cnm-netlink 2>/dev/null && mount -t tmpfs tmpfs /run/cnm-netlink 2>/dev/null || true
# `ip netns exec` reads per-namespace resolv.conf/hosts from /etc/netns.
mkdir -p /etc/netns 2>/dev/null && mount -t tmpfs tmpfs /etc/netns 2>/dev/null || true
ip link set lo up
exec "$@"
