// nft data types (src/datatype.c in nftables): the id stored in a set's key
// type, the byte length, byte order, and value <-> bytes. Concatenations
// ("inet_proto . inet_service") pack each field into 4-byte words.
import * as net from 'net';
import { ValidationError, quote, typeError } from '../errors';
import { BYTEORDER, CT_STATES } from './constants';

export type Value = string | number;

export interface DataType {
  name: string;
  id: number;
  /** Bytes of one value. */
  len: number;
  byteorder: 'host' | 'big';
  encode(v: Value, what: string): Buffer;
  decode(b: Buffer): Value;
}

const PROTOS: Record<string, number> = { icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, icmpv6: 58, 'ipv6-icmp': 58, sctp: 132, udplite: 136 };
const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 2: 'igmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 51: 'ah', 58: 'ipv6-icmp', 132: 'sctp', 136: 'udplite' };


/** A number, never a digit string taken for one ('80' is refused, as everywhere). */
function uint(v: Value, what: string, max: number): number {
  if (typeof v === 'string') throw new ValidationError(`invalid ${what}: ${quote(v)}${/^\d+$/.test(v) ? ' (a number, not a string)' : ''}`);
  if (typeof v !== 'number') throw typeError(what, `an integer in 0..${max}`, v);
  if (!Number.isInteger(v) || v < 0 || v > max) throw new ValidationError(`invalid ${what}: ${quote(v)}`);
  return v;
}

function hostU32(v: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; }

export const ipv4Addr: DataType = {
  name: 'ipv4_addr', id: 7, len: 4, byteorder: 'big',
  encode(v, what) {
    // Dotted quad only (what nft accepts); parsed by hand, this is a hot path.
    const b = typeof v === 'string' ? parse4(v) : undefined;
    if (!b) throw new ValidationError(`invalid ${what} (IPv4 address): ${quote(v)}`);
    return b;
  },
  decode: (b) => [...b.subarray(0, 4)].join('.'),
};

export const ipv6Addr: DataType = {
  name: 'ipv6_addr', id: 8, len: 16, byteorder: 'big',
  encode(v, what) {
    if (typeof v !== 'string' || net.isIP(v) !== 6) throw new ValidationError(`invalid ${what} (IPv6 address): ${quote(v)}`);
    return ip6Bytes(v);
  },
  decode: (b) => ip6Text(b.subarray(0, 16)),
};

export const inetProto: DataType = {
  name: 'inet_proto', id: 12, len: 1, byteorder: 'big',
  encode(v, what) {
    const n = typeof v === 'string' && v in PROTOS ? PROTOS[v] : uint(v, `${what} (protocol)`, 255);
    return Buffer.from([n]);
  },
  decode: (b) => PROTO_NAMES[b[0]] ?? b[0],
};

export const inetService: DataType = {
  name: 'inet_service', id: 13, len: 2, byteorder: 'big',
  encode(v, what) {
    const n = typeof v === 'number' && v >= 0 && v <= 65535 && Number.isInteger(v) ? v : uint(v, `${what} (port)`, 65535);
    const b = Buffer.allocUnsafe(2);
    b[0] = n >> 8;
    b[1] = n & 0xff;
    return b;
  },
  decode: (b) => b.readUInt16BE(0),
};

export const ifname: DataType = {
  name: 'ifname', id: 41, len: 16, byteorder: 'host',
  encode(v, what) {
    if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v) > 15 || v.includes('\0'))
      throw new ValidationError(`invalid ${what} (interface name, 1..15 bytes): ${quote(v)}`);
    const b = Buffer.alloc(16);
    b.write(v, 'utf8');
    return b;
  },
  decode: (b) => { const z = b.indexOf(0); return b.subarray(0, z < 0 ? b.length : z).toString('utf8'); },
};

export const mark: DataType = {
  name: 'mark', id: 19, len: 4, byteorder: 'host',
  encode: (v, what) => hostU32(uint(v, `${what} (mark)`, 0xffffffff)),
  decode: (b) => b.readUInt32LE(0),
};

export const integer: DataType = {
  name: 'integer', id: 4, len: 4, byteorder: 'host',
  encode: (v, what) => hostU32(uint(v, what, 0xffffffff)),
  decode: (b) => b.readUInt32LE(0),
};

export const nfProto: DataType = {
  name: 'nf_proto', id: 2, len: 1, byteorder: 'host',
  encode(v, what) {
    const n = v === 'ipv4' ? 2 : v === 'ipv6' ? 10 : uint(v, `${what} (nfproto)`, 255);
    return Buffer.from([n]);
  },
  decode: (b) => (b[0] === 2 ? 'ipv4' : b[0] === 10 ? 'ipv6' : b[0]),
};

export const ctState: DataType = {
  name: 'ct_state', id: 26, len: 4, byteorder: 'host',
  encode(v, what) {
    const bits = typeof v === 'string' ? CT_STATES[v] : undefined;
    if (bits === undefined) throw new ValidationError(`invalid ${what} (ct state): ${quote(v)}`);
    return hostU32(bits);
  },
  decode(b) {
    const n = b.readUInt32LE(0);
    for (const [k, v] of Object.entries(CT_STATES)) if (v === n) return k;
    return n;
  },
};

export const etherAddr: DataType = {
  name: 'ether_addr', id: 9, len: 6, byteorder: 'big',
  encode(v, what) {
    if (typeof v !== 'string' || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(v)) throw new ValidationError(`invalid ${what} (MAC): ${quote(v)}`);
    return Buffer.from(v.split(':').map((x) => parseInt(x, 16)));
  },
  decode: (b) => [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
};

const ETHER_TYPES: Record<string, number> = { ip: 0x0800, arp: 0x0806, vlan: 0x8100, ip6: 0x86dd };

/** `meta protocol ip`: the frame's EtherType (network byte order), what bridge and netdev tables match on. */
export const etherType: DataType = {
  name: 'ether_type', id: 10, len: 2, byteorder: 'big',
  encode(v, what) {
    const n = typeof v === 'string' && v in ETHER_TYPES ? ETHER_TYPES[v] : uint(v, `${what} (EtherType: ${Object.keys(ETHER_TYPES).join(', ')} or a number)`, 0xffff);
    return Buffer.from([n >> 8, n & 0xff]);
  },
  decode: (b) => {
    const n = b.readUInt16BE(0);
    return Object.entries(ETHER_TYPES).find(([, v]) => v === n)?.[0] ?? n;
  },
};

export const DATATYPES: Record<string, DataType> = Object.fromEntries(
  [ipv4Addr, ipv6Addr, inetProto, inetService, ifname, mark, integer, nfProto, ctState, etherAddr, etherType].map((t) => [t.name, t]));

function parse4(s: string): Buffer | undefined {
  const b = Buffer.allocUnsafe(4);
  let part = 0, n = 0, digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (!digits || part > 3) return undefined;
      b[part++] = n;
      n = 0; digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits && n === 0) return undefined;  // no leading zeros
      n = n * 10 + (c - 48);
      if (++digits > 3 || n > 255) return undefined;
    } else return undefined;
  }
  return part === 4 ? b : undefined;
}

const TYPE_BITS = 6;

/** A set's key or map data type: one type or a concatenation. */
export interface KeyType {
  /** As nft writes it: "ipv4_addr" or "inet_proto . inet_service". */
  name: string;
  fields: DataType[];
  /** NFTA_SET_KEY_TYPE / DATA_TYPE. */
  id: number;
  /** Total bytes (concatenations pad each field to 4). */
  len: number;
  byteorder: number;
}

export function keyType(spec: string | string[], what = 'set type'): KeyType {
  if (typeof spec !== 'string' && !Array.isArray(spec)) throw typeError(what, 'a type name or a list of them', spec);
  if (Array.isArray(spec)) for (const n of spec) if (typeof n !== 'string') throw typeError(`${what} field`, 'a type name', n);
  const names = Array.isArray(spec) ? spec : typeof spec === 'string' ? spec.split('.').map((s) => s.trim()) : [];
  if (!names.length || names.length > 16) throw new ValidationError(`invalid ${what}: ${JSON.stringify(spec)}`);
  const fields = names.map((n) => {
    const t = DATATYPES[n];
    if (!t) throw new ValidationError(`unknown ${what} "${n}" (known: ${Object.keys(DATATYPES).join(', ')})`);
    return t;
  });
  let id = 0;
  for (const f of fields) id = (id << TYPE_BITS) | f.id;
  const concat = fields.length > 1;
  const len = concat ? fields.reduce((n, f) => n + pad4(f.len), 0) : fields[0].len;
  // nft stores the key's byte order; a concatenation has none of its own.
  const byteorder = concat ? BYTEORDER.invalid : BYTEORDER[fields[0].byteorder];
  return { name: names.join(' . '), fields, id: id >>> 0, len, byteorder };
}

/** Inverse of keyType for a kernel id (unknown ids give undefined). */
export function keyTypeFromId(id: number): KeyType | undefined {
  const names: string[] = [];
  let rest = id >>> 0;
  while (rest) {
    const t = Object.values(DATATYPES).find((d) => d.id === (rest & ((1 << TYPE_BITS) - 1)));
    if (!t) return undefined;
    names.unshift(t.name);
    rest = Math.floor(rest / (1 << TYPE_BITS));
  }
  return names.length ? keyType(names) : undefined;
}

export function pad4(n: number): number { return (n + 3) & ~3; }

/** Encodes one key/data value: a scalar for one type, an array for a concatenation. */
export function encodeValue(t: KeyType, v: Value | Value[], what: string): Buffer {
  if (t.fields.length === 1) {
    if (Array.isArray(v)) throw new ValidationError(`${what}: expected one ${t.name} value, got a list`);
    return t.fields[0].encode(v, what);
  }
  if (!Array.isArray(v) || v.length !== t.fields.length)
    throw new ValidationError(`${what}: expected ${t.fields.length} values for ${t.name}, got ${quote(v)}`);
  const out = Buffer.alloc(t.len);
  let off = 0;
  t.fields.forEach((f, i) => {
    f.encode(v[i], what).copy(out, off);
    off += pad4(f.len);
  });
  return out;
}

export function decodeValue(t: KeyType, b: Buffer): Value | Value[] {
  if (t.fields.length === 1) return t.fields[0].decode(b);
  const out: Value[] = [];
  let off = 0;
  for (const f of t.fields) {
    out.push(f.decode(b.subarray(off, off + f.len)));
    off += pad4(f.len);
  }
  return out;
}

export function ip6Bytes(s: string): Buffer {
  // Expand "::" and an embedded IPv4 tail.
  let str = s;
  const v4 = str.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const p = v4[1].split('.').map(Number);
    str = str.slice(0, -v4[1].length) + `${((p[0] << 8) | p[1]).toString(16)}:${((p[2] << 8) | p[3]).toString(16)}`;
  }
  const [head, tail] = str.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const groups = tail !== undefined ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

export function ip6Text(b: Buffer): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i));
  // Longest run of zeros becomes "::" (RFC 5952).
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
