// Address and name validation. Addresses are strings in and out.
import * as net from 'net';
import { ValidationError } from '../errors';

export interface Cidr {
  family: 4 | 6;
  address: string;
  prefix: number;
}

/** Parses "10.0.0.2/24" or "fd00::1/64"; a bare address gets a full prefix. */
export function parseCidr(s: string, what = 'address'): Cidr {
  if (typeof s !== 'string') throw new ValidationError(`invalid ${what}: ${String(s)}`);
  const [addr, len, ...rest] = s.split('/');
  const fam = net.isIP(addr);
  if (!fam || rest.length) throw new ValidationError(`invalid ${what}: ${JSON.stringify(s)}`);
  const max = fam === 4 ? 32 : 128;
  let prefix = max;
  if (len !== undefined) {
    if (!/^\d{1,3}$/.test(len) || Number(len) > max) throw new ValidationError(`invalid prefix length in ${what}: ${JSON.stringify(s)}`);
    prefix = Number(len);
  }
  return { family: fam as 4 | 6, address: addr, prefix };
}

export function parseIp(s: string, what = 'address'): { family: 4 | 6; address: string } {
  const fam = typeof s === 'string' ? net.isIP(s) : 0;
  if (!fam) throw new ValidationError(`invalid ${what}: ${JSON.stringify(s)}`);
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
export function validateMac(s: string): string {
  if (typeof s !== 'string' || !MAC.test(s)) throw new ValidationError(`invalid MAC address: ${JSON.stringify(s)}`);
  if (parseInt(s.slice(0, 2), 16) & 1) throw new ValidationError(`MAC address is multicast: ${s}`);
  return s.toLowerCase();
}

/** Interface names: 1..15 bytes, no '/', ':' or whitespace (dev_valid_name). */
export function validateIfname(name: string, what = 'interface name'): string {
  if (typeof name !== 'string' || name.length === 0) throw new ValidationError(`invalid ${what}: empty`);
  if (Buffer.byteLength(name) > 15) throw new ValidationError(`invalid ${what} ${JSON.stringify(name)}: longer than 15 bytes`);
  if (name === '.' || name === '..' || /[/:\s]/.test(name)) throw new ValidationError(`invalid ${what}: ${JSON.stringify(name)}`);
  return name;
}

export function validateU32(v: number, what: string, min = 0, max = 0xffffffff): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new ValidationError(`invalid ${what}: ${v} (expected ${min}..${max})`);
  return v;
}

// IPv4 helpers for IPAM and the CNM layer.
export function ip4ToInt(a: string): number {
  return a.split('.').reduce((n, o) => (n * 256 + Number(o)) >>> 0, 0);
}
export function intToIp4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}
/** Network address of an IPv4 CIDR, as "a.b.c.d/len". */
export function network4(c: Cidr): string {
  return `${intToIp4((ip4ToInt(c.address) & maskOf(c.prefix)) >>> 0)}/${c.prefix}`;
}
