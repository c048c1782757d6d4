// Address and name validation. Addresses are strings in and out.
import * as net from 'net';
import * as ipaddr from 'ipaddr.js';
import { ValidationError, checkInt, typeError } from '../errors';

/** net.isIP takes 'fe80::1%eth0'; a netlink address has no zone (the link says it). */
function noZone(s: string, what: string): void {
  if (s.includes('%')) throw new ValidationError(`invalid ${what} ${JSON.stringify(s)}: no zone index here (give the link separately)`);
}

export interface Cidr {
  family: 4 | 6;
  address: string;
  prefix: number;
}

/** `what` of another family than `family` (when given): one message for every such check. */
function wantFamily(fam: number, family: 4 | 6 | undefined, what: string, s: string): void {
  if (family !== undefined && fam !== family) throw new ValidationError(`${what} ${s} is not IPv${family}`);
}

/** Parses "10.0.0.2/24" or "fd00::1/64"; a bare address gets a full prefix. `family`: it must be of that one. */
export function parseCidr(s: string, what = 'address', family?: 4 | 6): Cidr {
  if (typeof s !== 'string') throw typeError(what, 'a string', s);
  noZone(s, what);
  const [addr, len, ...rest] = s.split('/');
  const fam = net.isIP(addr);
  if (!fam || rest.length) throw new ValidationError(`invalid ${what}: ${JSON.stringify(s)}`);
  wantFamily(fam, family, what, s);
  const max = fam === 4 ? 32 : 128;
  let prefix = max;
  if (len !== undefined) {
    if (!/^\d{1,3}$/.test(len) || Number(len) > max) throw new ValidationError(`invalid prefix length in ${what}: ${JSON.stringify(s)}`);
    prefix = Number(len);
  }
  return { family: fam as 4 | 6, address: addr, prefix };
}

/** An address without a prefix; `family`: it must be of that one. */
export function parseIp(s: string, what = 'address', family?: 4 | 6): { family: 4 | 6; address: string } {
  if (typeof s !== 'string') throw typeError(what, 'a string', s);
  noZone(s, what);
  const fam = net.isIP(s);
  if (!fam) throw new ValidationError(`invalid ${what}: ${JSON.stringify(s)}`);
  wantFamily(fam, family, what, s);
  return { family: fam as 4 | 6, address: s };
}

export function familyOf(s: string): 4 | 6 {
  return parseCidr(s).family;
}

/** AF_* for 4 / 6. */
export function af(family: 4 | 6): number {
  return family === 6 ? 10 : 2;
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
export function validateMac(s: string, what = 'MAC address'): string {
  if (typeof s !== 'string') throw typeError(what, 'a string', s);
  if (!MAC.test(s)) throw new ValidationError(`invalid ${what}: ${JSON.stringify(s)}`);
  if (parseInt(s.slice(0, 2), 16) & 1) throw new ValidationError(`${what} is multicast: ${s}`);
  return s.toLowerCase();
}

/** Interface names: 1..15 bytes, no '/', ':' or whitespace (dev_valid_name). */
export function validateIfname(name: string, what = 'interface name'): string {
  if (typeof name !== 'string') throw typeError(what, 'a string', name);
  if (name.length === 0) throw new ValidationError(`invalid ${what}: empty`);
  // C would stop at the NUL: 'victim\0x' would name 'victim'.
  if (name.includes('\0')) throw new ValidationError(`invalid ${what} ${JSON.stringify(name)}: contains a NUL byte`);
  if (Buffer.byteLength(name) > 15) throw new ValidationError(`invalid ${what} ${JSON.stringify(name)}: longer than 15 bytes`);
  if (name === '.' || name === '..' || /[/:\s]/.test(name)) throw new ValidationError(`invalid ${what}: ${JSON.stringify(name)}`);
  return name;
}

/** An integer in [min, max]; a string ('0x5dc') is ERR_INVALID_ARG_TYPE, never parsed. */
export function validateU32(v: number, what: string, min = 0, max = 0xffffffff): number {
  return checkInt(v, what, min, max);
}

// ---- Address math, over ipaddr.js byte arrays (callers validate text with
// parseIp/parseCidr first: ipaddr.js also takes forms like "0x7f.1" that the
// kernel's inet_pton does not). ----

/** Network-order bytes of an address (4 or 16). */
export function ipBytes(addr: string): number[] {
  const fam = net.isIP(addr);
  // A zone ("fe80::1%eth0") names a link, not part of the address.
  if (!fam || addr.includes('%')) throw new ValidationError(`invalid address: ${JSON.stringify(addr)}`);
  // ipaddr.js reads the deprecated "::a.b.c.d" as "::ffff:a.b.c.d"; inet_pton does not.
  const compat = /^::(\d+\.\d+\.\d+\.\d+)$/.exec(addr);
  if (compat) return [...Array(12).fill(0), ...ipaddr.IPv4.parse(compat[1]).toByteArray()];
  return (fam === 4 ? ipaddr.IPv4.parse(addr) : ipaddr.IPv6.parse(addr)).toByteArray();
}

/**
 * Text of 4 or 16 bytes: dotted quad, or RFC 5952 for IPv6 (what the
 * kernel's and iproute2's inet_ntop print), IPv4-mapped as ::ffff:a.b.c.d.
 */
export function bytesToIp(b: ArrayLike<number>): string {
  const a = ipaddr.fromByteArray(Array.from(b));
  if (a.kind() === 'ipv4') return a.toString();
  const v6 = a as ipaddr.IPv6;
  return v6.isIPv4MappedAddress() ? `::ffff:${v6.toIPv4Address().toString()}` : v6.toRFC5952String();
}

/** One spelling per address ("FD00:0::1" and "fd00::1" are both "fd00::1"). */
export function canonicalIp(addr: string): string {
  return bytesToIp(ipBytes(addr));
}

/** Mask bytes of a prefix length, like ipaddr.js's subnetMaskFromPrefixLength. */
export function maskBytes(family: 4 | 6, prefix: number): number[] {
  return (family === 4 ? ipaddr.IPv4 : ipaddr.IPv6).subnetMaskFromPrefixLength(prefix).toByteArray();
}

// IPv4 as 32-bit numbers, for IPAM and the broadcast of `brd +`.
export function ip4ToInt(a: string): number {
  return ipaddr.IPv4.parse(a).toByteArray().reduce((n, o) => (n * 256 + o) >>> 0, 0);
}
export function intToIp4(n: number): string {
  return ipaddr.fromByteArray([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]).toString();
}
export function maskOf(prefix: number): number {
  return ip4ToInt(ipaddr.IPv4.subnetMaskFromPrefixLength(prefix).toString());
}
/** Network address of an IPv4 CIDR, as "a.b.c.d/len". */
export function network4(c: Cidr): string {
  return `${ipaddr.IPv4.networkAddressFromCIDR(`${c.address}/${c.prefix}`).toString()}/${c.prefix}`;
}
