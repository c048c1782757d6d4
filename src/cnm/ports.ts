// Host port publishing as Docker 28 does it: a `-p` spec becomes one request
// per container port; a request binds the host addresses of each family it
// names (none named: every family the endpoint has), one binding each; and a
// host port on 0.0.0.0 conflicts with every IPv4 address on that port, one on
// :: with every IPv6 one, never across families (libnetwork's portallocator).
import * as fs from 'fs';
import * as net from 'net';
import { CnmObjectError, exhausted, inUse, invalid, invalidType } from './errors';
import { quote } from '../errors';
import { canonicalIp } from '../util/ip';
import { checkFields } from './validate';

export type Proto = 'tcp' | 'udp' | 'sctp';
const PROTOS: readonly Proto[] = ['tcp', 'udp', 'sctp'];

export interface PortSpec {
  /**
   * Host address to bind. Omitted: every family the endpoint has (0.0.0.0,
   * and :: on an IPv6 network), as Docker 28; '0.0.0.0' is IPv4 only and
   * '::' IPv6 only.
   */
  hostIp?: string;
  /**
   * A port, 0 (or omitted) for any free one, or a range "8000-8010": with
   * one container port the first free port of it, with a container range of
   * the same length one port each.
   */
  hostPort?: number | string;
  /** A port, or a range "80-90" (a binding for each port). */
  containerPort: number | string;
  proto?: Proto;
}

/** One host address's mapping of one container port (Docker's PortBinding, one family each). */
export interface PortBinding {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  proto: Proto;
}

/** One container port's request, checked: the host ports it may take, lo to hi. */
export interface PortRequest {
  /** Canonical; undefined: the default (see hostAddresses). */
  hostIp?: string;
  lo: number;
  hi: number;
  containerPort: number;
  proto: Proto;
  /** The spec it came from, for messages. */
  spec: string;
}

/** What `docker port` shows: "PORT/proto" to its host bindings. */
export type PublishedPorts = Record<string, { hostIp: string; hostPort: number }[]>;

/**
 * Host ports for `-p 80` and `-P`, as Docker takes them: the kernel's
 * ip_local_port_range (read once), else 49153-60999.
 */
export const EPHEMERAL: [number, number] = ephemeralRange();

export function ephemeralRange(file = '/proc/sys/net/ipv4/ip_local_port_range'): [number, number] {
  try {
    const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(fs.readFileSync(file, 'utf8'));
    if (m && Number(m[1]) >= 1 && Number(m[1]) <= Number(m[2]) && Number(m[2]) <= 65535) return [Number(m[1]), Number(m[2])];
  } catch { /* no /proc: the default */ }
  return [49153, 60999];
}

const ANY4 = '0.0.0.0';
const ANY6 = '::';
const isV6 = (ip: string) => ip.includes(':');

function checkPort(p: number, what: string): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw invalid(`invalid ${what}: ${p}`);
  return p;
}

/** "80" or "80-90" as [lo, hi]; EINVAL naming `what`. */
function parseRange(s: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw invalid(`invalid ${what}: ${JSON.stringify(s)}`);
  const lo = checkPort(Number(m[1]), what);
  const hi = m[2] === undefined ? lo : checkPort(Number(m[2]), what);
  if (lo > hi) throw invalid(`invalid ${what}: ${s} (the range ends before it starts)`);
  return [lo, hi];
}

/** A host address in one spelling ("0:0::0" is '::', FD00::1 is fd00::1, ::ffff:10.0.0.1 is 10.0.0.1, as Docker unmaps it). */
function canonicalHostIp(ip: string, spec: string): string {
  if (!net.isIP(ip) || ip.includes('%')) throw invalid(`invalid host IP ${JSON.stringify(ip)} in port mapping ${spec}`);
  const c = canonicalIp(ip);
  return c.startsWith('::ffff:') && net.isIPv4(c.slice(7)) ? c.slice(7) : c;
}

/**
 * Parses Docker's `-p` syntax: [ip:][hostPort:]containerPort[/proto]; the
 * host port a number, empty or 0 (any free one), or a range "8000-8010";
 * the container port a number or a range "80-90"; an IPv6 host address in
 * brackets. Everything is checked here (ranges of equal lengths included),
 * so a bad spec is an EINVAL before anything is allocated.
 */
export function parsePublish(s: string): PortSpec {
  if (typeof s !== 'string') throw new CnmObjectError(`port mapping must be a string, got ${typeof s}`, 'ERR_INVALID_ARG_TYPE');
  const m = /^(?:(\[[^\]]+\]|\d+\.\d+\.\d+\.\d+):)?(?:(\d*(?:-\d+)?):)?(\d+(?:-\d+)?)(?:\/(tcp|udp|sctp))?$/.exec(s);
  if (!m) throw invalid(`invalid port mapping: ${s}`);
  const [clo, chi] = parseRange(m[3], `container port in ${s}`);
  const spec: PortSpec = { containerPort: m[3].includes('-') ? `${clo}-${chi}` : clo, hostPort: 0, proto: (m[4] as Proto) ?? 'tcp' };
  // Empty or 0: any free port.
  if (m[2] !== undefined && !/^0*$/.test(m[2])) {
    const [lo, hi] = parseRange(m[2], `host port in ${s}`);
    spec.hostPort = m[2].includes('-') ? `${lo}-${hi}` : lo;
  }
  if (m[1]) {
    const ip = m[1].replace(/^\[|\]$/g, '');
    // Brackets for IPv6 only, and a real address inside (no zone, no "1.2.3").
    if (net.isIP(ip) !== (m[1].startsWith('[') ? 6 : 4) || ip.includes('%')) throw invalid(`invalid host IP in port mapping: ${s}`);
    spec.hostIp = ip;
  }
  portRequests(spec, s);
  return spec;
}

const SPEC_FIELDS = { hostIp: 'string', hostPort: 'any', containerPort: 'any', proto: 'string' } as const;

/**
 * A spec (an object, or the `-p` string) as one request per container port,
 * everything checked: ports 1-65535, ranges that do not run backwards, a
 * container range with either no host port (each a free one) or a host
 * range of its length (one each, in order), as Docker's `-p 8000-8010:80-90`.
 */
export function portRequests(spec: PortSpec | string, text?: string): PortRequest[] {
  if (typeof spec === 'string') return portRequests(parsePublish(spec), spec);
  checkFields(spec, 'port mapping', SPEC_FIELDS);
  const what = text ?? quote(spec);
  const proto = spec.proto ?? 'tcp';
  if (!PROTOS.includes(proto)) throw invalid(`invalid protocol ${JSON.stringify(proto)} in port mapping ${what} (tcp, udp or sctp)`);
  const hostIp = spec.hostIp === undefined ? undefined : canonicalHostIp(spec.hostIp, what);
  let clo: number, chi: number;
  if (typeof spec.containerPort === 'number') clo = chi = checkPort(spec.containerPort, `container port in ${what}`);
  else if (typeof spec.containerPort === 'string') [clo, chi] = parseRange(spec.containerPort, `container port in ${what}`);
  else throw invalidType('port mapping.containerPort', 'a number or a range "LO-HI"', spec.containerPort);
  let lo: number, hi: number;
  const hp = spec.hostPort;
  if (hp === undefined || hp === 0) [lo, hi] = EPHEMERAL;
  else if (typeof hp === 'number') lo = hi = checkPort(hp, `host port in ${what}`);
  else if (typeof hp === 'string') {
    // A string is a range; a single port is a number.
    if (!hp.includes('-')) throw invalid(`invalid host port range ${JSON.stringify(hp)} in port mapping ${what} (LO-HI, or a number)`);
    [lo, hi] = parseRange(hp, `host port range in ${what}`);
  } else throw invalidType('port mapping.hostPort', 'a number or a range "LO-HI"', hp);
  const count = chi - clo + 1;
  const ephemeral = hp === undefined || hp === 0;
  if (count > 1 && !ephemeral && hi - lo + 1 !== count) {
    throw invalid(`invalid port mapping ${what}: the host ports (${lo === hi ? lo : `${lo}-${hi}`}) and the container ports (${clo}-${chi}) are ranges of different lengths`);
  }
  const out: PortRequest[] = [];
  for (let i = 0; i < count; i++) {
    const paired = count > 1 && !ephemeral;
    out.push({ ...(hostIp !== undefined ? { hostIp } : {}), lo: paired ? lo + i : lo, hi: paired ? lo + i : hi, containerPort: clo + i, proto, spec: what });
  }
  return out;
}

/** `docker run -P`'s request for an exposed port ("PORT/proto"): any free host port, on the default addresses. */
export function publishAllRequest(exposed: string): PortRequest {
  const [port, proto] = exposed.split('/');
  return { lo: EPHEMERAL[0], hi: EPHEMERAL[1], containerPort: Number(port), proto: proto as Proto, spec: `-P ${exposed}` };
}

/**
 * The host addresses a request binds, one binding each, as Docker 28: none
 * given, the default binding address (the network's host_binding_ipv4,
 * else 0.0.0.0), and 0.0.0.0 means every family the endpoint has (:: too
 * on an IPv6 network); a given address binds its own family only. A family
 * the endpoint lacks is refused (Docker would skip it silently).
 */
export function hostAddresses(r: PortRequest, has: { v4: boolean; v6: boolean }, where: string, defaultIp = ANY4): string[] {
  if (r.hostIp === undefined && defaultIp === ANY4) {
    const out = [...(has.v4 ? [ANY4] : []), ...(has.v6 ? [ANY6] : [])];
    if (!out.length) throw invalid(`port mapping ${r.spec}: ${where} gave the endpoint no address to publish to`);
    return out;
  }
  const ip = r.hostIp ?? defaultIp;
  const six = isV6(ip);
  if (six ? !has.v6 : !has.v4) throw invalid(`host IP ${ip} is IPv${six ? 6 : 4} but ${where} has no IPv${six ? 6 : 4} subnet`);
  return [ip];
}

/** "1.2.3.4:80" / "[::1]:80", as Docker prints host addresses. */
export const hostAddress = (ip: string, port: number): string => `${isV6(ip) ? `[${ip}]` : ip}:${port}`;

export class PortAllocator {
  /** "proto/port" -> host IPs bound on it. */
  private byKey = new Map<string, Set<string>>();
  /** The port last handed out from a range, per protocol and host address ("tcp/0.0.0.0/lo-hi"): the next search starts after it, as Docker's allocator cycles. */
  private last = new Map<string, number>();

  private key(proto: Proto, port: number): string { return `${proto}/${port}`; }

  /**
   * The taken address `hostIp` conflicts with on that port, if any. Docker's
   * rule: a family's wildcard conflicts with every address of that family;
   * an address with itself and its family's wildcard.
   */
  private conflict(proto: Proto, port: number, hostIp: string): string | undefined {
    const ips = this.byKey.get(this.key(proto, port));
    if (!ips || ips.size === 0) return undefined;
    const six = isV6(hostIp);
    const any = six ? ANY6 : ANY4;
    if (hostIp === any) { for (const ip of ips) if (isV6(ip) === six) return ip; return undefined; }
    return ips.has(hostIp) ? hostIp : ips.has(any) ? any : undefined;
  }

  private take(proto: Proto, port: number, hostIp: string): void {
    const k = this.key(proto, port);
    let s = this.byKey.get(k);
    if (!s) this.byKey.set(k, (s = new Set()));
    s.add(hostIp);
  }

  /**
   * Takes the next host port of the request's range (after the one last
   * taken from it, cycling, as Docker's allocator) that is free on every
   * one of `hostIps` (canonical), the same port for each (as Docker gives a
   * mapping's IPv4 and IPv6 bindings one port): a binding per address.
   */
  allocate(r: PortRequest, hostIps: string[]): PortBinding[] {
    const size = r.hi - r.lo + 1;
    const cursor = (ip: string) => `${r.proto}/${ip}/${r.lo}-${r.hi}`;
    // From the one after the last handed out on any of the addresses (a port
    // just given back is not handed out again at once: a client of the old
    // mapping could reach the new one).
    const last = Math.max(...hostIps.map((ip) => this.last.get(cursor(ip)) ?? r.hi));
    const from = size > 1 ? (last - r.lo + 1) % size : 0;
    for (let i = 0; i < size; i++) {
      const p = r.lo + ((from + i) % size);
      if (hostIps.some((ip) => this.conflict(r.proto, p, ip) !== undefined)) continue;
      for (const ip of hostIps) this.take(r.proto, p, ip);
      if (size > 1) for (const ip of hostIps) this.last.set(cursor(ip), p);
      return hostIps.map((hostIp) => ({ hostIp, hostPort: p, containerPort: r.containerPort, proto: r.proto }));
    }
    if (r.lo === r.hi) {
      const ip = hostIps.find((x) => this.conflict(r.proto, r.lo, x) !== undefined)!;
      const holder = this.conflict(r.proto, r.lo, ip)!;
      throw inUse(`port ${hostAddress(ip, r.lo)}/${r.proto} is already allocated${holder === ip ? '' : ` (${hostAddress(holder, r.lo)} is mapped)`}`);
    }
    throw exhausted(`no free host port in ${r.lo}-${r.hi}/${r.proto}`);
  }

  /** Marks an existing binding as taken (restore). */
  restore(b: PortBinding): void { this.take(b.proto, b.hostPort, canonicalIp(b.hostIp)); }

  release(b: PortBinding): void {
    this.byKey.get(this.key(b.proto, b.hostPort))?.delete(canonicalIp(b.hostIp));
  }
}

/** A `docker port` filter ("80", "80/udp") as its key "80/udp"; EINVAL otherwise. */
export function portFilterKey(filter: unknown): string {
  if (typeof filter !== 'string') throw invalidType('port filter', 'a string ("PORT[/PROTO]")', filter);
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(filter);
  if (!m) throw invalid(`invalid port filter ${JSON.stringify(filter)} (PORT[/tcp|udp|sctp] expected)`);
  return `${checkPort(Number(m[1]), `port in filter ${filter}`)}/${m[2] ?? 'tcp'}`;
}

/**
 * Bindings in `docker port`'s shape, by container port then protocol, each
 * port's bindings in the order they were made (0.0.0.0 before ::). With a
 * filter, that port only: ENOENT when it is not published, as `docker port`
 * says it ("no public port '81/tcp' published for web").
 */
export function publishedPorts(bindings: PortBinding[], owner: string, filter?: string): PublishedPorts {
  const want = filter === undefined ? undefined : portFilterKey(filter);
  const sorted = [...bindings].sort((a, b) => a.containerPort - b.containerPort || a.proto.localeCompare(b.proto));
  const out: PublishedPorts = {};
  for (const b of sorted) {
    const k = `${b.containerPort}/${b.proto}`;
    if (want === undefined || k === want) (out[k] ??= []).push({ hostIp: b.hostIp, hostPort: b.hostPort });
  }
  if (want !== undefined && !out[want]) throw new CnmObjectError(`no public port '${want}' published for ${owner}`, 'ENOENT');
  return out;
}

/**
 * The bindings of a record written before there was one binding per family:
 * then one binding on '0.0.0.0' (or '::') stood for every family the
 * endpoint has. Each becomes a binding per family, so the record keeps its
 * meaning (and matches the DNAT rules the kernel already has).
 */
export function bindingsPerFamily(old: PortBinding[], has: { v4: boolean; v6: boolean }): PortBinding[] {
  return old.flatMap((b) => {
    if (b.hostIp !== ANY4 && b.hostIp !== ANY6) return [b];
    return [...(has.v4 ? [{ ...b, hostIp: ANY4 }] : []), ...(has.v6 ? [{ ...b, hostIp: ANY6 }] : [])];
  });
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
