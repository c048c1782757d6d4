// Host port allocation: a port bound on 0.0.0.0 conflicts with the same port
// on any host IP and the other way round; 0 picks a free port from a range.
import { CnmObjectError, inUse, invalid, exhausted } from './errors';
import { canonicalIp } from '../util/ip';
import * as net from 'net';

export type Proto = 'tcp' | 'udp' | 'sctp';

export interface PortSpec {
  /** Host address to bind ('0.0.0.0' or omitted: every address). */
  hostIp?: string;
  /** A port, 0 for any free one, or a range "8000-8010" (first free is taken). */
  hostPort: number | string;
  containerPort: number;
  proto?: Proto;
}

export interface PortBinding {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  proto: Proto;
}

/** A binding on every address ('0.0.0.0' or '::', as allocate spells them). */
export const isAnyAddress = (ip: string): boolean => ip === '0.0.0.0' || ip === '::';

export const EPHEMERAL: [number, number] = [49153, 60999];

function checkPort(p: number, what: string): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw invalid(`invalid ${what}: ${p}`);
  return p;
}

/**
 * Parses Docker's `-p` syntax: [ip:][hostPort:]containerPort[/proto], the
 * host port a number, empty or 0 (any free one), or a range "8000-8010"; an
 * IPv6 host address in brackets. Ports and addresses are checked here, so a
 * bad spec is an EINVAL before anything is allocated.
 */
export function parsePublish(s: string): PortSpec {
  if (typeof s !== 'string') throw new CnmObjectError(`port mapping must be a string, got ${typeof s}`, 'ERR_INVALID_ARG_TYPE');
  const m = /^(?:(\[[^\]]+\]|\d+\.\d+\.\d+\.\d+):)?(?:(\d*(?:-\d+)?):)?(\d+)(?:\/(tcp|udp|sctp))?$/.exec(s);
  if (!m) throw invalid(`invalid port mapping: ${s}`);
  const containerPort = checkPort(Number(m[3]), `container port in ${s}`);
  let hostPort: number | string = 0;
  if (m[2] !== undefined && m[2] !== '') {
    const r = /^(\d+)-(\d+)$/.exec(m[2]);
    if (r) {
      const lo = checkPort(Number(r[1]), `host port in ${s}`), hi = checkPort(Number(r[2]), `host port in ${s}`);
      if (lo > hi) throw invalid(`invalid host port range in ${s}`);
      hostPort = m[2];
    } else {
      hostPort = Number(m[2]);
      if (hostPort !== 0) checkPort(hostPort, `host port in ${s}`);
    }
  }
  const spec: PortSpec = { containerPort, hostPort, proto: (m[4] as Proto) ?? 'tcp' };
  if (m[1]) {
    const ip = m[1].replace(/^\[|\]$/g, '');
    // Brackets for IPv6 only, and a real address inside (no zone, no "1.2.3").
    if (net.isIP(ip) !== (m[1].startsWith('[') ? 6 : 4) || ip.includes('%')) throw invalid(`invalid host IP in port mapping: ${s}`);
    spec.hostIp = ip;
  }
  return spec;
}

export class PortAllocator {
  /** "proto/port" -> host IPs bound on it. */
  private byKey = new Map<string, Set<string>>();

  private key(proto: Proto, port: number): string { return `${proto}/${port}`; }

  private conflicts(proto: Proto, port: number, hostIp: string): boolean {
    const ips = this.byKey.get(this.key(proto, port));
    if (!ips || ips.size === 0) return false;
    if (isAnyAddress(hostIp)) return true;
    return ips.has(hostIp) || ips.has('0.0.0.0') || ips.has('::');
  }

  private take(proto: Proto, port: number, hostIp: string): void {
    const k = this.key(proto, port);
    let s = this.byKey.get(k);
    if (!s) this.byKey.set(k, (s = new Set()));
    s.add(hostIp);
  }

  /** Validates a spec and takes its host port. */
  allocate(spec: PortSpec): PortBinding {
    const proto = spec.proto ?? 'tcp';
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw invalid(`invalid protocol: ${proto}`);
    let hostIp = spec.hostIp ?? '0.0.0.0';
    if (!net.isIP(hostIp)) throw invalid(`invalid host IP: ${hostIp}`);
    // One spelling per address, so "0:0::0" is the wildcard '::' and FD00::1 is fd00::1.
    hostIp = canonicalIp(hostIp);
    const containerPort = checkPort(spec.containerPort, 'container port');
    let lo: number, hi: number;
    if (typeof spec.hostPort === 'string') {
      const m = /^(\d+)-(\d+)$/.exec(spec.hostPort);
      if (!m) throw invalid(`invalid host port range: ${spec.hostPort}`);
      lo = checkPort(Number(m[1]), 'host port'); hi = checkPort(Number(m[2]), 'host port');
      if (lo > hi) throw invalid(`invalid host port range: ${spec.hostPort}`);
    } else if (spec.hostPort === 0 || spec.hostPort === undefined) {
      [lo, hi] = EPHEMERAL;
    } else {
      lo = hi = checkPort(spec.hostPort, 'host port');
    }
    for (let p = lo; p <= hi; p++) {
      if (!this.conflicts(proto, p, hostIp)) {
        this.take(proto, p, hostIp);
        return { hostIp, hostPort: p, containerPort, proto };
      }
    }
    if (lo === hi) throw inUse(`port ${hostIp}:${lo}/${proto} is already allocated`);
    throw exhausted(`no free host port in ${lo}-${hi}/${proto}`);
  }

  /** Marks an existing binding as taken (restore). */
  restore(b: PortBinding): void { this.take(b.proto, b.hostPort, canonicalIp(b.hostIp)); }

  release(b: PortBinding): void {
    this.byKey.get(this.key(b.proto, b.hostPort))?.delete(canonicalIp(b.hostIp));
  }
}

/** An exposed port ("5432", "53/udp") as "PORT/proto"; EINVAL otherwise. */
export function parseExposed(s: unknown): string {
  if (typeof s !== 'string') throw new CnmObjectError(`exposed port must be a string, got ${typeof s}`, 'ERR_INVALID_ARG_TYPE');
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(s);
  if (!m) throw invalid(`invalid exposed port: ${JSON.stringify(s)} (PORT[/tcp|udp|sctp] expected)`);
  return `${checkPort(Number(m[1]), `exposed port ${s}`)}/${m[2] ?? 'tcp'}`;
}

/** Every port an endpoint exposes ("PORT/proto", sorted by port), published ones included, like a container's ExposedPorts. */
export function exposedPorts(e: { ports: PortBinding[]; exposedPorts?: string[] }): { port: number; proto: Proto }[] {
  const keys = new Set([...(e.exposedPorts ?? []), ...e.ports.map((p) => `${p.containerPort}/${p.proto}`)]);
  return [...keys].map((k) => { const [p, proto] = k.split('/'); return { port: Number(p), proto: proto as Proto }; })
    .sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
}
