// Host port allocation: a port bound on 0.0.0.0 conflicts with the same port
// on any host IP and the other way round; 0 picks a free port from a range.
import { inUse, invalid, exhausted } from './errors';
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

/** Parses Docker's `-p` syntax: [ip:][hostPort:]containerPort[/proto]. */
export function parsePublish(s: string): PortSpec {
  const m = /^(?:(\[[^\]]+\]|\d+\.\d+\.\d+\.\d+):)?(?:(\d*(?:-\d+)?):)?(\d+)(?:\/(tcp|udp|sctp))?$/.exec(s);
  if (!m) throw invalid(`invalid port mapping: ${s}`);
  const spec: PortSpec = { containerPort: Number(m[3]), hostPort: m[2] === undefined || m[2] === '' ? 0 : (m[2].includes('-') ? m[2] : Number(m[2])), proto: (m[4] as Proto) ?? 'tcp' };
  if (m[1]) spec.hostIp = m[1].replace(/^\[|\]$/g, '');
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
    // Every spelling of the IPv6 wildcard (0:0::0, ::0.0.0.0) is '::'.
    if (net.isIPv6(hostIp) && new URL(`http://[${hostIp}]`).hostname === '[::]') hostIp = '::';
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
  restore(b: PortBinding): void { this.take(b.proto, b.hostPort, b.hostIp); }

  release(b: PortBinding): void {
    this.byKey.get(this.key(b.proto, b.hostPort))?.delete(b.hostIp);
  }
}
