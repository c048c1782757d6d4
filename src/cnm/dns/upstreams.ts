// Which servers the embedded resolver forwards to, and which a container's
// own resolv.conf may name, as Docker picks them.
import { readHostResolvConf } from '../resolv-conf';
import * as net from 'net';

/** Nameservers of the host's resolv.conf (all of them; callers filter loopback ones as they need). Parsed again only when it changed. */
export function hostNameservers(file = '/etc/resolv.conf'): string[] {
  return readHostResolvConf(file).nameservers.filter((s) => net.isIP(s) !== 0);
}

const isLoopback = (ip: string) => ip.startsWith('127.') || ip === '::1';

/**
 * Servers a container's own resolv.conf can use, as Docker picks them: the
 * host's, without loopback ones (they mean the host's lo, not the
 * container's); for systemd-resolved's 127.0.0.53 the upstreams it lists in
 * its own file; none left, Google's public servers (Docker's default).
 */
export function containerNameservers(files = ['/etc/resolv.conf', '/run/systemd/resolve/resolv.conf']): string[] {
  for (const f of files) {
    const up = hostNameservers(f).filter((s) => !isLoopback(s));
    if (up.length) return up;
  }
  return ['8.8.8.8', '8.8.4.4'];
}

/**
 * Upstreams of the embedded server: it forwards from the host's namespace,
 * so the host's servers as they are, loopback ones (systemd-resolved) included.
 */
export function embeddedUpstreams(): string[] {
  const up = hostNameservers();
  return up.length ? up : containerNameservers();
}
