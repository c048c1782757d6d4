// Which servers the embedded resolver forwards to, and which a container's
// own resolv.conf may name, as Docker picks them (moby's internal/resolvconf).
import { readHostResolvConf, type ResolvConf } from '../resolv-conf';
import * as net from 'net';

const SYSTEMD_RESOLV_CONF = '/run/systemd/resolve/resolv.conf';

/** Nameservers of the host's resolv.conf (all of them; callers filter loopback ones as they need). Parsed again only when it changed. */
export function hostNameservers(file = '/etc/resolv.conf'): string[] {
  return readHostResolvConf(file).nameservers.filter((s) => net.isIP(s) !== 0);
}

/**
 * The host's resolv.conf as Docker reads it: systemd-resolved's own file
 * (its upstreams, search and options) when the host's names only the
 * resolved stub, 127.0.0.53, and that file is there; else the file itself.
 */
export function hostResolvConf(file = '/etc/resolv.conf', systemd = SYSTEMD_RESOLV_CONF): ResolvConf {
  const own = readHostResolvConf(file);
  const servers = own.nameservers.filter((s) => net.isIP(s) !== 0);
  if (servers.length === 1 && servers[0] === '127.0.0.53') {
    const resolved = readHostResolvConf(systemd);
    if (resolved.nameservers.length) return resolved;
  }
  return own;
}

/** A loopback address (the host's own lo, as a resolv.conf server means it). */
export const isLoopback = (ip: string) => ip.startsWith('127.') || ip === '::1';

/**
 * Servers a container's own resolv.conf can use, as Docker picks them for
 * a network without the embedded server (TransformForLegacyNw): the host's
 * (see hostResolvConf) without loopback ones (they mean the host's lo, not
 * the container's), and without IPv6 ones when the container has no IPv6;
 * none left, Google's public servers (Docker's defaults), IPv6 ones too
 * when it has IPv6.
 */
export function containerNameservers(opts: { ipv6?: boolean; file?: string; systemd?: string } = {}): string[] {
  const up = hostResolvConf(opts.file, opts.systemd).nameservers
    .filter((s) => net.isIP(s) !== 0 && !isLoopback(s) && (opts.ipv6 || net.isIP(s) === 4));
  if (up.length) return up;
  return ['8.8.8.8', '8.8.4.4', ...(opts.ipv6 ? ['2001:4860:4860::8888', '2001:4860:4860::8844'] : [])];
}

/**
 * Upstreams of the embedded server: it forwards from the host's namespace,
 * so the host's servers as they are, loopback ones (systemd-resolved) included.
 */
export function embeddedUpstreams(): string[] {
  const up = hostNameservers();
  return up.length ? up : containerNameservers();
}
