// IPAM, as Docker's default driver does it: subnets from address pools,
// addresses from subnets (lowest free first), network/broadcast reserved,
// gateway the first usable address unless given.
import * as crypto from 'crypto';
import { parseCidr, parseIp, ipBytes, bytesToIp, ip4ToInt, intToIp4, maskOf } from '../util/ip';
import { AddressesExhaustedError, AddressInUseError, PoolsExhaustedError, invalid } from './errors';

export interface AddressPool { base: string; size: number }

/** Docker's default-address-pools (172.17-31 as /16s, then 192.168/16 as /20s). */
export const DEFAULT_POOLS: AddressPool[] = [
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/15', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/14', size: 16 },
  { base: '172.28.0.0/14', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
];

// ---- IPv4 and IPv6 as bigint, so one code path serves both ----

export interface Prefix { family: 4 | 6; net: bigint; len: number }

const bits = (f: 4 | 6) => (f === 4 ? 32 : 128);

/** An address as a number (validated first: EINVAL for anything else). */
export function toBig(addr: string, family: 4 | 6): bigint {
  // A join asks about its address a dozen times (subnet, prefix, gateway):
  // parsed once. Bounded: emptied when full.
  const key = `${family}/${addr}`;
  const hit = bigs.get(key);
  if (hit !== undefined) return hit;
  const c = parseIp(addr);
  if (c.family !== family) throw invalid(`address ${addr} is not IPv${family}`);
  const n = ipBytes(addr).reduce((n, b) => (n << 8n) | BigInt(b), 0n);
  if (bigs.size >= 4096) bigs.clear();
  bigs.set(key, n);
  return n;
}
const bigs = new Map<string, bigint>();

/** The number back as text, canonical (RFC 5952 for IPv6, as the kernel prints it). */
export function fromBig(n: bigint, family: 4 | 6): string {
  if (n < 0n || n >> BigInt(bits(family))) throw invalid(`not an IPv${family} address: ${n}`);
  const b = new Array<number>(family === 4 ? 4 : 16);
  for (let i = b.length - 1; i >= 0; i--) { b[i] = Number(n & 0xffn); n >>= 8n; }
  return bytesToIp(b);
}

export function parsePrefix(cidr: string, what = 'subnet'): Prefix {
  const c = parseCidr(cidr, what);
  if (!cidr.includes('/')) throw invalid(`${what} needs a prefix length: ${cidr}`);
  const net = toBig(c.address, c.family);
  const host = (1n << BigInt(bits(c.family) - c.prefix)) - 1n;
  if (net & host) throw invalid(`${what} ${cidr} has host bits set (network is ${fromBig(net & ~host, c.family)}/${c.prefix})`);
  return { family: c.family, net, len: c.prefix };
}

export const prefixText = (p: Prefix) => `${fromBig(p.net, p.family)}/${p.len}`;
export const prefixSize = (p: Prefix) => 1n << BigInt(bits(p.family) - p.len);
export const contains = (p: Prefix, a: bigint) => a >= p.net && a < p.net + prefixSize(p);
export function overlaps(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family) return false;
  return a.net < b.net + prefixSize(b) && b.net < a.net + prefixSize(a);
}

/** One subnet of a network (an entry of Docker's IPAM.Config); serializable. */
export interface SubnetState {
  subnet: string;
  gateway?: string;
  /** Allocation range (Docker's --ip-range); defaults to the subnet. */
  range?: string;
  /** Docker's AuxiliaryAddresses (--aux-address NAME=IP): reserved, never handed out. */
  aux?: Record<string, string>;
  /** Allocated addresses (without prefix). */
  used: string[];
  /** The subnet was picked (pools, ULA), not configured: Docker takes no static addresses there. */
  picked?: true;
  /** The subnet was configured, its gateway picked: Docker's inspect shows the subnet as configured, without it. */
  gatewayPicked?: true;
}

export class SubnetAllocator {
  readonly prefix: Prefix;
  readonly range: Prefix;
  gateway?: string;
  /** See SubnetState. */
  picked?: true;
  gatewayPicked?: true;
  private used = new Set<bigint>();
  /** Auxiliary addresses by number: their names. */
  private aux = new Map<bigint, string>();
  private next: bigint;

  constructor(state: SubnetState) {
    this.prefix = parsePrefix(state.subnet);
    this.range = state.range ? parsePrefix(state.range, 'ip range') : this.prefix;
    if (this.range.family !== this.prefix.family || !contains(this.prefix, this.range.net) || this.range.len < this.prefix.len)
      throw invalid(`ip range ${state.range} is not inside subnet ${state.subnet}`);
    if (this.prefix.family === 4 && this.prefix.len > 30) throw invalid(`subnet ${state.subnet} is too small`);
    this.gateway = state.gateway;
    if (state.picked) this.picked = true;
    if (state.gatewayPicked) this.gatewayPicked = true;
    for (const u of state.used) this.used.add(toBig(u, this.prefix.family));
    this.next = this.first();
    for (const [name, addr] of Object.entries(state.aux ?? {})) this.reserveAux(name, addr);
  }

  /**
   * Reserves an auxiliary address (Docker's --aux-address NAME=IP): inside
   * the subnet, neither the gateway nor another auxiliary address (EINVAL).
   */
  reserveAux(name: string, addr: string): string {
    const what = `auxiliary address ${JSON.stringify(name)}`;
    if (!name) throw invalid(`auxiliary address names must not be empty (${addr})`);
    const n = this.addressIn(addr, what);
    if (this.gateway !== undefined && n === toBig(this.gateway, this.prefix.family)) throw invalid(`${what} ${addr} is the gateway of ${this.subnet}`);
    const twin = this.aux.get(n);
    if (twin !== undefined) throw invalid(`${what} ${addr} is also auxiliary address ${JSON.stringify(twin)} of ${this.subnet}`);
    const ip = this.reserve(addr, what);
    this.aux.set(n, name);
    return ip;
  }

  /** The auxiliary addresses, name to address (as inspect shows them). */
  auxAddresses(): Record<string, string> {
    // fromEntries: a name such as "__proto__" stays a name.
    return Object.fromEntries([...this.aux].map(([n, name]) => [name, fromBig(n, this.prefix.family)]));
  }

  /** Whether `addr` (of any family) lies in this subnet. */
  holds(addr: string): boolean {
    const fam = addr.includes(':') ? 6 : 4;
    if (fam !== this.prefix.family) { parseIp(addr); return false; }  // (a non-address is still EINVAL)
    return contains(this.prefix, toBig(addr, fam));
  }

  /** A usable address of this subnet as a number (EINVAL: not an address, another family, outside, network or broadcast). */
  private addressIn(addr: string, what: string): bigint {
    const fam = this.prefix.family;
    const c = parseIp(addr, what);
    if (c.family !== fam) throw invalid(`${what} ${addr} is not IPv${fam}`);
    const n = toBig(c.address, fam);
    if (!contains(this.prefix, n)) throw invalid(`${what} ${addr} is outside subnet ${this.subnet}`);
    if (n === this.prefix.net || (fam === 4 && n === this.prefix.net + prefixSize(this.prefix) - 1n))
      throw invalid(`${what} ${addr} is the network or broadcast address of ${this.subnet}`);
    return n;
  }

  private first(): bigint {
    // Skip the network address (and for v6, the subnet-router anycast).
    return this.range.net === this.prefix.net ? this.range.net + 1n : this.range.net;
  }

  private last(): bigint {
    const end = this.range.net + prefixSize(this.range) - 1n;
    const bcast = this.prefix.net + prefixSize(this.prefix) - 1n;
    return this.prefix.family === 4 && end === bcast ? end - 1n : end;
  }

  get family(): 4 | 6 { return this.prefix.family; }
  get subnet(): string { return prefixText(this.prefix); }
  /** "10.0.0.5/24" for an address of this subnet. */
  cidr(addr: string): string { return `${addr}/${this.prefix.len}`; }

  /** Reserves a specific address (static IP, gateway); an auxiliary one is EADDRINUSE, as Docker has it allocated. */
  reserve(addr: string, what = 'address'): string {
    const n = this.addressIn(addr, what);
    const aux = this.aux.get(n);
    if (aux !== undefined) throw new AddressInUseError(`${what} ${addr} is reserved as auxiliary address ${JSON.stringify(aux)} of ${this.subnet}`);
    if (this.used.has(n)) throw new AddressInUseError(`${what} ${addr} is already in use in ${this.subnet}`);
    this.used.add(n);
    return fromBig(n, this.prefix.family);
  }

  /** The lowest free address of the range (ENOSPC when none is left). */
  allocate(): string {
    const a = this.tryAllocate();
    if (a === undefined) throw new AddressesExhaustedError(`no free address left in ${prefixText(this.range)}`);
    return a;
  }

  /** The lowest free address of the range, or undefined when none is left. */
  tryAllocate(): string | undefined {
    const last = this.last();
    // Usually the next address is free; wrap around once to reuse holes.
    for (const start of [this.next, this.first()]) {
      for (let n = start; n <= last; n++) {
        if (!this.used.has(n)) {
          this.used.add(n);
          this.next = n + 1n;
          return fromBig(n, this.prefix.family);
        }
        if (n - start > 1_000_000n) break;
      }
    }
    return undefined;
  }

  release(addr: string): void {
    const n = toBig(addr, this.prefix.family);
    if (this.aux.has(n)) return;  // reserved for good
    this.used.delete(n);
    // Lowest free first, within the range (a static address may lie outside it).
    if (n < this.next && n >= this.first()) this.next = n;
  }

  isUsed(addr: string): boolean { return this.used.has(toBig(addr, this.prefix.family)); }

  /** Subnet, range, gateway and auxiliary addresses (addresses in use are the endpoints' business). */
  state(): SubnetState {
    const st: SubnetState = { subnet: this.subnet, gateway: this.gateway, range: this.range === this.prefix ? undefined : prefixText(this.range), used: [] };
    if (this.aux.size) st.aux = this.auxAddresses();
    if (this.picked) st.picked = true;
    if (this.gatewayPicked) st.gatewayPicked = true;
    return st;
  }
}

/** Picks the first subnet of the pools that overlaps nothing in `taken`. */
export function pickSubnet(pools: AddressPool[], taken: Prefix[]): string {
  for (const pool of pools) {
    const base = parsePrefix(pool.base, 'address pool');
    if (pool.size < base.len || pool.size > 30) throw invalid(`pool ${pool.base}: size ${pool.size} does not fit`);
    const step = 1n << BigInt(32 - pool.size);
    const count = prefixSize(base) / step;
    for (let i = 0n; i < count; i++) {
      const cand: Prefix = { family: 4, net: base.net + i * step, len: pool.size };
      if (!taken.some((t) => overlaps(t, cand))) return prefixText(cand);
    }
  }
  throw new PoolsExhaustedError('all address pools are used up');
}

/**
 * This host's ULA /48, as Docker derives it from its engine id
 * (deriveULABaseNetwork): fd00::/8 plus the low 40 bits of the first 8
 * bytes of sha256(id), so one host's networks share one routable prefix.
 */
export function ulaBase(hostId: string): Prefix {
  const gid = crypto.createHash('sha256').update(hostId).digest().readBigUInt64BE(0) & ((1n << 40n) - 1n);
  return { family: 6, net: (0xfdn << 120n) + (gid << 80n), len: 48 };
}

/** The first free /64 of this host's ULA /48 (Docker's default IPv6 pool), in order. */
export function ulaSubnet(hostId: string, taken: Prefix[]): string {
  const base = ulaBase(hostId);
  for (let i = 0n; i < 1n << 16n; i++) {
    const p: Prefix = { family: 6, net: base.net + (i << 64n), len: 64 };
    if (!taken.some((t) => overlaps(t, p))) return prefixText(p);
  }
  throw new PoolsExhaustedError(`no free IPv6 subnet left in ${prefixText(base)}`);
}

export { ip4ToInt, intToIp4, maskOf };
