// Rule statements: a typed, nft-like form (what `nft list ruleset` shows)
// compiled to kernel expressions (what `nft --debug=netlink` shows) and
// decoded back. Anything the decoder does not recognise stays a raw
// `{ expr }` statement that re-encodes to the same bytes.
import * as net from 'net';
import { ValidationError, checkArray, checkKeys, quote, received, typeError } from '../errors';
import {
  CMP, CT_KEYS, CT_STATES, FIB_FLAGS, FIB_RESULT, META_KEYS, NAT_TYPE, NF_ACCEPT, NF_DROP, NF_NAT_RANGE,
  NFT_CONTINUE, NFT_GOTO, NFT_JUMP, NFT_LOOKUP_F_INV, NFT_REG32_00, NFT_REG_1, NFT_REG_VERDICT, NFT_RETURN,
  PAYLOAD_BASE, RTN_TYPES, Family,
} from './constants';
import {
  DataType, KeyType, Value, ctState, etherType, ifname, inetProto, inetService, integer, ipv4Addr, ipv6Addr, keyType, mark, nfProto, pad4,
} from './datatype';

/** A kernel expression as the addon encodes/decodes it (`nft --debug=netlink`). */
export interface LowExpr { type: string; [attr: string]: any }

/** What a rule can match on (nft's left-hand sides). */
export type Field =
  | 'iifname' | 'oifname' | 'iif' | 'oif' | 'meta l4proto' | 'meta nfproto' | 'meta mark' | 'meta protocol'
  | 'ip saddr' | 'ip daddr' | 'ip protocol' | 'ip6 saddr' | 'ip6 daddr' | 'ip6 nexthdr'
  | 'th sport' | 'th dport' | 'tcp sport' | 'tcp dport' | 'udp sport' | 'udp dport'
  | 'ct state' | 'ct status' | 'ct mark' | 'fib daddr type' | 'fib saddr type';

/** `accept`, `drop`, `return`, `continue`, `jump NAME`, `goto NAME`. */
export type Verdict = 'accept' | 'drop' | 'return' | 'continue' | { jump: string } | { goto: string };

export type MatchValue = Value | Value[];

/** `FIELD [!=] VALUE`, e.g. `oifname != "br0"`, `ip saddr 172.18.0.0/16`, `ct state established,related`. */
export interface MatchStmt { match: Field; op?: '==' | '!='; value: MatchValue }
/** `FIELD [. FIELD...] [!=] @set`, e.g. `ip saddr @allowed`. */
export interface LookupStmt { match: Field | Field[]; op?: '==' | '!='; set: string }
/** `FIELD [. FIELD...] vmap @map`. */
export interface VmapStmt { vmap: string; key: Field | Field[] }
export interface VerdictStmt { verdict: Verdict }
/** `counter` (values as read back, a BigInt above 2^53 - 1, never rounded; ignored when adding). */
export interface CounterStmt { counter: { packets?: number | bigint; bytes?: number | bigint } }
export type NatFlag = 'random' | 'fully-random' | 'persistent';
/**
 * `dnat|snat [ip|ip6] to ADDR[:PORT]`, or with a map:
 * `dnat ip to meta l4proto . th dport map @ports` = `{ nat: 'dnat', family: 'ip', map: { key: ['meta l4proto', 'th dport'], set: 'ports' } }`.
 * `map.ports` says the map's data carries a port (`ipv4_addr . inet_service`); inferred when the set is known.
 */
export interface NatStmt {
  nat: 'dnat' | 'snat';
  family?: 'ip' | 'ip6';
  addr?: string;
  addrMax?: string;
  port?: number;
  portMax?: number;
  map?: { key: Field | Field[]; set: string; ports?: boolean };
  flags?: NatFlag[];
}
/** `masquerade [to :PORT]`. */
export interface MasqStmt { masquerade: { port?: number; portMax?: number; flags?: NatFlag[] } }
/** `redirect [to :PORT]`. */
export interface RedirStmt { redirect: { port?: number; portMax?: number; flags?: NatFlag[] } }
/** A kernel expression as is (also what unknown expressions decode to). */
export interface RawStmt { expr: LowExpr }

export type LogLevel = 'emerg' | 'alert' | 'crit' | 'err' | 'warn' | 'notice' | 'info' | 'debug' | 'audit';
/** `log [prefix "..."] [level L] [group N]` (level warn is the kernel's default and reads back as absent). */
export interface LogStmt { log: { prefix?: string; level?: LogLevel; group?: number } }
/** `reject [with tcp reset | icmp CODE | icmpv6 CODE | icmpx CODE]`, e.g. `{ reject: { with: 'icmp host-unreachable' } }`. */
export interface RejectStmt { reject: { with?: string } }
/** `limit rate [over] N/UNIT [burst B packets]`; `bytes: true` counts bytes. */
export interface LimitStmt { limit: { rate: number; per: 'second' | 'minute' | 'hour' | 'day' | 'week'; burst?: number; bytes?: boolean; over?: boolean } }
/** `meta mark set N` / `ct mark set N` (nft JSON calls this "mangle"). */
export interface MangleStmt { mangle: 'meta mark' | 'ct mark'; value: number }
/** `notrack`. */
export interface NotrackStmt { notrack: true }

export type Stmt = MatchStmt | LookupStmt | VmapStmt | VerdictStmt | CounterStmt | NatStmt | MasqStmt | RedirStmt
  | LogStmt | RejectStmt | LimitStmt | MangleStmt | NotrackStmt | RawStmt;

// ---- fields -------------------------------------------------------------

interface FieldDef {
  type: DataType;
  /** Load expression without dreg. */
  load: LowExpr;
  /** Network-layer dependency (inet tables): meta nfproto. */
  nfproto?: 'ipv4' | 'ipv6';
  /** Transport dependency: meta l4proto. */
  l4proto?: 'tcp' | 'udp';
  /** Addresses accept prefixes. */
  prefix?: boolean;
}

const fibAddrType: DataType = {
  name: 'fib_addrtype', id: 38, len: 4, byteorder: 'host',
  encode(v, what) {
    const n = typeof v === 'string' ? RTN_TYPES.indexOf(v) : -1;
    if (n < 0) throw new ValidationError(`invalid ${what} (address type ${RTN_TYPES.join('/')}): ${JSON.stringify(v)}`);
    const b = Buffer.alloc(4); b.writeUInt32LE(n); return b;
  },
  decode: (b) => RTN_TYPES[b.readUInt32LE(0)] ?? b.readUInt32LE(0),
};

const CT_STATUS: Record<string, number> = { expected: 1, 'seen-reply': 2, assured: 4, confirmed: 8, snat: 16, dnat: 32, dying: 512 };
const ctStatus: DataType = {
  name: 'ct_status', id: 28, len: 4, byteorder: 'host',
  encode(v, what) {
    if (typeof v !== 'string' || !(v in CT_STATUS)) throw new ValidationError(`invalid ${what} (${Object.keys(CT_STATUS).join(', ')}): ${JSON.stringify(v)}`);
    const b = Buffer.alloc(4); b.writeUInt32LE(CT_STATUS[v]); return b;
  },
  decode(b) {
    const n = b.readUInt32LE(0);
    for (const [k, v] of Object.entries(CT_STATUS)) if (v === n) return k;
    return n;
  },
};
/** Fields matched as bit tests (`ct state established,related`): flag names -> bits. */
const BITMASKS: Partial<Record<Field, Record<string, number>>> = { 'ct state': CT_STATES, 'ct status': CT_STATUS };

const meta = (key: string): LowExpr => ({ type: 'meta', key: META_KEYS[key] });
const payload = (base: keyof typeof PAYLOAD_BASE, offset: number, len: number): LowExpr => ({ type: 'payload', base: PAYLOAD_BASE[base], offset, len });

export const FIELDS: Record<Field, FieldDef> = {
  'iifname': { type: ifname, load: meta('iifname') },
  'oifname': { type: ifname, load: meta('oifname') },
  'iif': { type: integer, load: meta('iif') },
  'oif': { type: integer, load: meta('oif') },
  'meta l4proto': { type: inetProto, load: meta('l4proto') },
  'meta nfproto': { type: nfProto, load: meta('nfproto') },
  'meta mark': { type: mark, load: meta('mark') },
  'meta protocol': { type: etherType, load: meta('protocol') },
  'ip saddr': { type: ipv4Addr, load: payload('network', 12, 4), nfproto: 'ipv4', prefix: true },
  'ip daddr': { type: ipv4Addr, load: payload('network', 16, 4), nfproto: 'ipv4', prefix: true },
  'ip protocol': { type: inetProto, load: payload('network', 9, 1), nfproto: 'ipv4' },
  'ip6 saddr': { type: ipv6Addr, load: payload('network', 8, 16), nfproto: 'ipv6', prefix: true },
  'ip6 daddr': { type: ipv6Addr, load: payload('network', 24, 16), nfproto: 'ipv6', prefix: true },
  'ip6 nexthdr': { type: inetProto, load: payload('network', 6, 1), nfproto: 'ipv6' },
  'th sport': { type: inetService, load: payload('transport', 0, 2) },
  'th dport': { type: inetService, load: payload('transport', 2, 2) },
  'tcp sport': { type: inetService, load: payload('transport', 0, 2), l4proto: 'tcp' },
  'tcp dport': { type: inetService, load: payload('transport', 2, 2), l4proto: 'tcp' },
  'udp sport': { type: inetService, load: payload('transport', 0, 2), l4proto: 'udp' },
  'udp dport': { type: inetService, load: payload('transport', 2, 2), l4proto: 'udp' },
  'ct state': { type: ctState, load: { type: 'ct', key: CT_KEYS.state } },
  'ct status': { type: ctStatus, load: { type: 'ct', key: CT_KEYS.status } },
  'ct mark': { type: mark, load: { type: 'ct', key: CT_KEYS.mark } },
  'fib daddr type': { type: fibAddrType, load: { type: 'fib', result: FIB_RESULT.type, flags: FIB_FLAGS.daddr } },
  'fib saddr type': { type: fibAddrType, load: { type: 'fib', result: FIB_RESULT.type, flags: FIB_FLAGS.saddr } },
};

/** The set key type a field matches (for `ip saddr @set`). */
export function fieldKeyType(fields: Field[]): KeyType {
  return keyType(fields.map((f) => fieldDef(f).type.name));
}

function fieldDef(f: string): FieldDef {
  const d = (FIELDS as Record<string, FieldDef>)[f];
  if (!d) throw new ValidationError(`unknown match field ${quote(f)} (known: ${Object.keys(FIELDS).join(', ')})`);
  return d;
}

const LOG_LEVELS: LogLevel[] = ['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug', 'audit'];
const LIMIT_UNITS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86400, week: 604800 };
const REJECT_CODES: Record<string, Record<string, number>> = {
  icmp: { 'net-unreachable': 0, 'host-unreachable': 1, 'prot-unreachable': 2, 'port-unreachable': 3, 'net-prohibited': 9, 'host-prohibited': 10, 'admin-prohibited': 13 },
  icmpv6: { 'no-route': 0, 'admin-prohibited': 1, 'addr-unreachable': 3, 'port-unreachable': 4, 'policy-fail': 5, 'reject-route': 6 },
  icmpx: { 'no-route': 0, 'port-unreachable': 1, 'host-unreachable': 2, 'admin-prohibited': 3 },
};
const REJECT_ICMP = 0, REJECT_TCP_RST = 1, REJECT_ICMPX = 2;

// ---- encoding -----------------------------------------------------------

/** Facts a rule already established, so dependencies are added once (like nft). */
interface EncCtx {
  family: Family;
  nfproto?: string;
  l4proto?: string;
  /** Data type of a map, when known (for `dnat ... map`). */
  setInfo?: (name: string) => { data?: KeyType } | undefined;
  /** Creates an anonymous set for a list value (`tcp dport { 80, 443 }`); returns its batch name and id. */
  anon?: (field: Field, values: Value[]) => { set: string; setId: number };
}

const VERDICTS: Record<string, number> = { accept: NF_ACCEPT, drop: NF_DROP, return: NFT_RETURN, continue: NFT_CONTINUE };

function verdictExpr(v: Verdict): LowExpr {
  if (typeof v === 'string') {
    if (!(v in VERDICTS)) throw new ValidationError(`invalid verdict ${JSON.stringify(v)}`);
    return { type: 'immediate', dreg: NFT_REG_VERDICT, verdict: VERDICTS[v] };
  }
  // One of them, alone (`{ jump, goto }` took the jump and dropped the goto).
  if (v && typeof v === 'object' && !Array.isArray(v)) checkKeys(v, ['jump' in v ? 'jump' : 'goto'], 'verdict');
  if (v && typeof v === 'object' && 'jump' in v) return { type: 'immediate', dreg: 0, verdict: NFT_JUMP, chain: checkName(v.jump, 'jump target chain') };
  if (v && typeof v === 'object' && 'goto' in v) return { type: 'immediate', dreg: 0, verdict: NFT_GOTO, chain: checkName(v.goto, 'goto target chain') };
  throw new ValidationError(`invalid verdict ${typeof v === 'object' ? `with fields ${Object.keys(v ?? {}).join(', ')}` : String(v)}`);
}

/** Element data of a verdict map. */
export function verdictData(v: Verdict): { verdict: number; chain?: string } {
  const e = verdictExpr(v);
  return e.chain ? { verdict: e.verdict, chain: e.chain } : { verdict: e.verdict };
}
export function verdictFrom(code: number, chain?: string): Verdict | number {
  for (const [k, n] of Object.entries(VERDICTS)) if (n === code) return k as Verdict;
  if (code === NFT_JUMP && chain) return { jump: chain };
  if (code === NFT_GOTO && chain) return { goto: chain };
  return code;
}

export function checkName(s: string, what: string): string {
  if (typeof s !== 'string') throw typeError(what, 'a string', s);
  if (s.length === 0 || Buffer.byteLength(s) > 255 || s.includes('\0'))
    throw new ValidationError(`invalid ${what}: ${JSON.stringify(s)} (1..255 bytes)`);
  return s;
}

// Dependency expressions are constant: built once and shared (the addon only reads them).
const DEPS: Record<string, LowExpr[]> = {
  ipv4: [{ type: 'meta', key: META_KEYS.nfproto, dreg: NFT_REG_1 }, cmpExpr(CMP.eq, nfProto.encode('ipv4', 'nfproto'))],
  ipv6: [{ type: 'meta', key: META_KEYS.nfproto, dreg: NFT_REG_1 }, cmpExpr(CMP.eq, nfProto.encode('ipv6', 'nfproto'))],
  tcp: [{ type: 'meta', key: META_KEYS.l4proto, dreg: NFT_REG_1 }, cmpExpr(CMP.eq, inetProto.encode('tcp', 'l4proto'))],
  udp: [{ type: 'meta', key: META_KEYS.l4proto, dreg: NFT_REG_1 }, cmpExpr(CMP.eq, inetProto.encode('udp', 'l4proto'))],
};

function dependencies(ctx: EncCtx, def: FieldDef, field: string, out: LowExpr[]): void {
  if (def.nfproto) {
    const fam = ctx.family;
    const want = def.nfproto === 'ipv4' ? 'ip' : 'ip6';
    if (fam === 'inet') {
      if (ctx.nfproto && ctx.nfproto !== def.nfproto) throw new ValidationError(`${field}: conflicting protocols (rule already matches ${ctx.nfproto})`);
      if (!ctx.nfproto) {
        out.push(...DEPS[def.nfproto]);
        ctx.nfproto = def.nfproto;
      }
    } else if (fam !== want) {
      throw new ValidationError(`${field} cannot be matched in a ${fam} table`);
    }
  }
  if (def.l4proto) {
    if (ctx.l4proto && ctx.l4proto !== def.l4proto) throw new ValidationError(`${field}: conflicting protocols (rule already matches ${ctx.l4proto})`);
    if (!ctx.l4proto) {
      out.push(...DEPS[def.l4proto]);
      ctx.l4proto = def.l4proto;
    }
  }
}

/** A field's load into `dreg` (explicit shapes: faster than spreading). */
function loadExpr(l: LowExpr, dreg: number, len?: number): LowExpr {
  switch (l.type) {
    case 'meta': return { type: 'meta', key: l.key, dreg };
    case 'payload': return { type: 'payload', base: l.base, offset: l.offset, len: len ?? l.len, dreg };
    case 'ct': return { type: 'ct', key: l.key, dreg };
    case 'fib': return { type: 'fib', result: l.result, flags: l.flags, dreg };
    default: return { ...l, dreg };
  }
}

function cmpExpr(op: number, data: Buffer, sreg = NFT_REG_1): LowExpr {
  return { type: 'cmp', sreg, op, data };
}

function prefixMask(bits: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = bits >= (i + 1) * 8 ? 0xff : bits > i * 8 ? (0xff << (8 - (bits - i * 8))) & 0xff : 0;
  return b;
}

function encodeMatch(ctx: EncCtx, s: MatchStmt, out: LowExpr[]): void {
  const def = fieldDef(s.match);
  const op = s.op === undefined ? '==' : s.op;
  if (op !== '==' && op !== '!=') throw new ValidationError(`${s.match}: unsupported operator ${JSON.stringify(op)}`);
  dependencies(ctx, def, s.match, out);
  const load = (extra: { len?: number } = {}): LowExpr => loadExpr(def.load, NFT_REG_1, extra.len);
  const what = s.match;
  const flagsOf = BITMASKS[s.match];
  if (flagsOf) {
    // A bit test, like nft: ct state & MASK != 0.
    const names = Array.isArray(s.value) ? s.value : String(s.value).split(',').map((x) => x.trim());
    let bits = 0;
    for (const n of names) {
      if (typeof n !== 'string' || !(n in flagsOf)) throw new ValidationError(`invalid ${s.match} ${JSON.stringify(n)} (${Object.keys(flagsOf).join(', ')})`);
      bits |= flagsOf[n];
    }
    const mask = Buffer.alloc(4); mask.writeUInt32LE(bits);
    out.push(load(), { type: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, len: 4, mask, xor: Buffer.alloc(4) },
      cmpExpr(op === '==' ? CMP.neq : CMP.eq, Buffer.alloc(4)));
    if (op === '==' && bits === 0) throw new ValidationError(`${s.match}: empty`);
    return;
  }
  if (Array.isArray(s.value)) {
    // A list is an anonymous set, as in nft: `tcp dport { 80, 443 }`.
    if (!ctx.anon) throw new ValidationError(`${what}: a list needs a transaction (anonymous set) or a named set`);
    if (!s.value.length) throw new ValidationError(`${what}: empty list`);
    const a = ctx.anon(s.match, s.value);
    out.push(load(), { type: 'lookup', sreg: NFT_REG_1, set: a.set, setId: a.setId, ...(op === '!=' ? { flags: NFT_LOOKUP_F_INV } : {}) });
    return;
  }
  const cmpOp = op === '==' ? CMP.eq : CMP.neq;
  if (def.prefix && typeof s.value === 'string' && s.value.includes('/')) {
    const [addr, lenStr] = s.value.split('/');
    const data = def.type.encode(addr, what);
    const max = data.length * 8;
    if (!/^\d+$/.test(lenStr) || Number(lenStr) > max) throw new ValidationError(`invalid prefix length in ${what}: ${JSON.stringify(s.value)}`);
    const bits = Number(lenStr);
    const mask = prefixMask(bits, data.length);
    for (let i = 0; i < data.length; i++) if (data[i] & ~mask[i]) throw new ValidationError(`${what}: ${s.value} has host bits set`);
    if (bits === max) { out.push(load(), cmpExpr(cmpOp, data)); return; }
    if (bits === 0) throw new ValidationError(`${what}: /0 matches everything`);
    if (bits % 8 === 0) {
      // Byte-aligned: load fewer bytes (what nft does).
      out.push(load({ len: bits / 8 }), cmpExpr(cmpOp, data.subarray(0, bits / 8)));
    } else {
      out.push(load(), { type: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, len: data.length, mask, xor: Buffer.alloc(data.length) },
        cmpExpr(cmpOp, data));
    }
    return;
  }
  if (def.type === ifname && typeof s.value === 'string' && s.value.endsWith('*') && s.value.length > 1) {
    // Wildcard: compare the prefix only, without the terminating NUL.
    const p = s.value.slice(0, -1);
    ifname.encode(p, what);
    out.push(load(), cmpExpr(cmpOp, Buffer.from(p, 'utf8')));
    return;
  }
  if (def.type === inetService && typeof s.value === 'string' && /^\d+-\d+$/.test(s.value)) {
    const [a, b] = s.value.split('-').map((x) => inetService.encode(Number(x), what));
    if (a.readUInt16BE(0) > b.readUInt16BE(0)) throw new ValidationError(`${what}: empty range ${s.value}`);
    // As nft: a match is two compares, a negation one range expression.
    if (op === '==') out.push(load(), cmpExpr(CMP.gte, a), cmpExpr(CMP.lte, b));
    else out.push(load(), { type: 'range', sreg: NFT_REG_1, op: 1, from: a, to: b });
    return;
  }
  if (s.match === 'meta l4proto' && op === '==' && !ctx.l4proto) {
    const v = inetProto.decode(inetProto.encode(s.value, what));
    if (v === 'tcp' || v === 'udp') ctx.l4proto = v;
  }
  if (s.match === 'meta nfproto' && op === '==' && !ctx.nfproto) ctx.nfproto = String(nfProto.decode(nfProto.encode(s.value, what)));
  out.push(load(), cmpExpr(cmpOp, def.type.encode(s.value, what)));
}

/** Loads fields into consecutive registers, as nft does for concatenations. */
function loadKey(ctx: EncCtx, fields: Field[], out: LowExpr[]): void {
  // Dependencies first: they use register 1 too, which the key loads fill.
  const defs = fields.map((f) => fieldDef(f));
  defs.forEach((def, i) => dependencies(ctx, def, fields[i], out));
  let words = 0;
  defs.forEach((def, i) => {
    out.push(loadExpr(def.load, i === 0 ? NFT_REG_1 : NFT_REG32_00 + words));
    words += pad4(def.type.len) / 4;
  });
}

function natFlags(flags: NatFlag[] | undefined): number {
  let f = 0;
  for (const x of flags === undefined ? [] : checkArray<NatFlag>(flags, 'nat flags')) {
    if (x === 'random') f |= NF_NAT_RANGE.PROTO_RANDOM;
    else if (x === 'fully-random') f |= NF_NAT_RANGE.PROTO_RANDOM_FULLY;
    else if (x === 'persistent') f |= NF_NAT_RANGE.PERSISTENT;
    else throw new ValidationError(`invalid nat flag ${JSON.stringify(x)}`);
  }
  return f;
}

function natFlagNames(f: number): NatFlag[] {
  const out: NatFlag[] = [];
  if (f & NF_NAT_RANGE.PROTO_RANDOM) out.push('random');
  if (f & NF_NAT_RANGE.PROTO_RANDOM_FULLY) out.push('fully-random');
  if (f & NF_NAT_RANGE.PERSISTENT) out.push('persistent');
  return out;
}

function portRegs(port: number | undefined, portMax: number | undefined, reg: number, out: LowExpr[], what: string): Partial<LowExpr> {
  if (port === undefined) { if (portMax !== undefined) throw new ValidationError(`${what}: portMax without port`); return {}; }
  out.push({ type: 'immediate', dreg: reg, data: inetService.encode(port, `${what} port`) });
  if (portMax === undefined || portMax === port) return { regProtoMin: reg };
  const hi = inetService.encode(portMax, `${what} port`);
  if (portMax < port) throw new ValidationError(`${what}: empty port range ${port}-${portMax}`);
  out.push({ type: 'immediate', dreg: reg + 1, data: hi });
  return { regProtoMin: reg, regProtoMax: reg + 1 };
}

function encodeNat(ctx: EncCtx, s: NatStmt, out: LowExpr[]): void {
  if (s.nat !== 'dnat' && s.nat !== 'snat') throw new ValidationError(`invalid nat type ${JSON.stringify(s.nat)}`);
  if (s.addr !== undefined && typeof s.addr !== 'string') throw typeError(`${s.nat} addr`, 'a string', s.addr);
  if (s.addrMax !== undefined && typeof s.addrMax !== 'string') throw typeError(`${s.nat} addrMax`, 'a string', s.addrMax);
  if (s.map !== undefined && (!s.map || typeof s.map !== 'object' || Array.isArray(s.map))) throw typeError(`${s.nat} map`, 'an object', s.map);
  if (s.map?.ports !== undefined && typeof s.map.ports !== 'boolean') throw typeError(`${s.nat} map.ports`, 'a boolean', s.map.ports);
  const what = s.nat;
  let fam = s.family;
  // (Given is given: '' or null is a wrong family, not an absent one.)
  if (fam !== undefined && fam !== 'ip' && fam !== 'ip6') throw new ValidationError(`${what}: invalid family (${received(fam)})`);
  if (!fam) {
    if (ctx.family === 'ip' || ctx.family === 'ip6') fam = ctx.family;
    else if (s.addr) fam = net.isIP(s.addr) === 6 ? 'ip6' : 'ip';
    else if (s.map) throw new ValidationError(`${what}: family ('ip' or 'ip6') is required with a map in a ${ctx.family} table`);
  }
  if (fam && fam !== 'ip' && fam !== 'ip6') throw new ValidationError(`${what}: invalid family ${JSON.stringify(fam)}`);
  if (fam && (ctx.family === 'ip' || ctx.family === 'ip6') && fam !== ctx.family) throw new ValidationError(`${what} ${fam} in a ${ctx.family} table`);
  const addrType = fam === 'ip6' ? ipv6Addr : ipv4Addr;
  const e: LowExpr = { type: 'nat', natType: NAT_TYPE[s.nat] };
  if (fam) e.family = fam === 'ip6' ? 10 : 2;
  if (s.map) {
    if (s.addr || s.port !== undefined) throw new ValidationError(`${what}: give either map or addr/port`);
    const key = Array.isArray(s.map.key) ? s.map.key : [s.map.key];
    loadKey(ctx, key, out);
    out.push({ type: 'lookup', sreg: NFT_REG_1, dreg: NFT_REG_1, set: checkName(s.map.set, 'map name') });
    let ports = s.map.ports;
    if (ports === undefined) {
      const info = ctx.setInfo?.(s.map.set);
      if (!info?.data) throw new ValidationError(`${what} map @${s.map.set}: say whether its data has a port (map.ports), the map is not known here`);
      ports = info.data.fields.length > 1;
    }
    e.regAddrMin = NFT_REG_1;
    if (ports) e.regProtoMin = NFT_REG32_00 + addrType.len / 4;
  } else {
    if (s.addr !== undefined) {
      out.push({ type: 'immediate', dreg: NFT_REG_1, data: addrType.encode(s.addr, `${what} address`) });
      e.regAddrMin = NFT_REG_1;
      if (s.addrMax !== undefined && s.addrMax !== s.addr) {
        out.push({ type: 'immediate', dreg: 2, data: addrType.encode(s.addrMax, `${what} address`) });
        e.regAddrMax = 2;
      }
    } else if (s.port === undefined) {
      throw new ValidationError(`${what}: needs an address, a port or a map`);
    }
    if (s.port !== undefined && !ctx.l4proto) throw new ValidationError(`${what} to a port needs a transport protocol match first (e.g. tcp dport or meta l4proto tcp)`);
    Object.assign(e, portRegs(s.port, s.portMax, e.regAddrMax ? 3 : s.addr !== undefined ? 2 : NFT_REG_1, out, what));
  }
  const f = natFlags(s.flags) | (e.regProtoMin && !s.map ? NF_NAT_RANGE.PROTO_SPECIFIED : 0);
  if (f) e.flags = f;
  out.push(e);
}

function encodeReject(ctx: EncCtx, how: string | undefined, out: LowExpr[]): void {
  if (how === undefined) {
    // nft's default: ICMP port unreachable of the packet's family.
    const v4 = ctx.family === 'ip' || ctx.nfproto === 'ipv4';
    const v6 = ctx.family === 'ip6' || ctx.nfproto === 'ipv6';
    out.push(v4 ? { type: 'reject', rejectType: REJECT_ICMP, code: 3 } : v6 ? { type: 'reject', rejectType: REJECT_ICMP, code: 4 }
      : { type: 'reject', rejectType: REJECT_ICMPX, code: 1 });
    return;
  }
  if (how === 'tcp reset') {
    if (ctx.l4proto && ctx.l4proto !== 'tcp') throw new ValidationError(`reject with tcp reset after a ${ctx.l4proto} match`);
    // Like nft, the dependency goes first in the rule (and reads back as `meta l4proto tcp`).
    if (!ctx.l4proto) { out.unshift(...DEPS.tcp); ctx.l4proto = 'tcp'; }
    out.push({ type: 'reject', rejectType: REJECT_TCP_RST, code: 0 });
    return;
  }
  const m = typeof how === 'string' ? how.match(/^(icmp|icmpv6|icmpx) (\S+)$/) : null;
  if (!m || !(m[2] in REJECT_CODES[m[1]])) throw new ValidationError(`invalid reject ${JSON.stringify(how)} (tcp reset, icmp|icmpv6|icmpx CODE)`);
  if (m[1] === 'icmp' && (ctx.family === 'ip6' || ctx.nfproto === 'ipv6')) throw new ValidationError(`reject with icmp in an IPv6 context`);
  if (m[1] === 'icmpv6' && (ctx.family === 'ip' || ctx.nfproto === 'ipv4')) throw new ValidationError(`reject with icmpv6 in an IPv4 context`);
  out.push({ type: 'reject', rejectType: m[1] === 'icmpx' ? REJECT_ICMPX : REJECT_ICMP, code: REJECT_CODES[m[1]][m[2]] });
}

/** Compiles statements to kernel expressions. */
/**
 * A statement's fields, and those of its options object, by kind (the kind
 * found as encodeStmts finds it): a misspelt `opp: '!='` is an error, not a
 * rule that means the opposite.
 */
const STMT_FIELDS: [string, string[], string[]?][] = [
  ['vmap', ['vmap', 'key']], ['verdict', ['verdict']], ['counter', ['counter'], ['packets', 'bytes']],
  ['nat', ['nat', 'family', 'addr', 'addrMax', 'port', 'portMax', 'map', 'flags']],
  ['masquerade', ['masquerade'], ['port', 'portMax', 'flags']], ['redirect', ['redirect'], ['port', 'portMax', 'flags']],
  ['log', ['log'], ['prefix', 'level', 'group']], ['reject', ['reject'], ['with']],
  ['limit', ['limit'], ['rate', 'per', 'burst', 'bytes', 'over']], ['mangle', ['mangle', 'value']], ['notrack', ['notrack']], ['expr', ['expr']],
];

function checkStmtKeys(s: Record<string, any>): void {
  if ('match' in s) {
    checkKeys(s, ['match', 'op', 'set' in s ? 'set' : 'value'], 'set' in s ? 'set lookup statement' : 'match statement');
    return;
  }
  const kind = STMT_FIELDS.find(([k]) => k in s);
  if (!kind) return;  // (unknown: refused below)
  const [name, fields, inner] = kind;
  checkKeys(s, fields, `${name} statement`);
  const o = s[name];
  if (inner && o && typeof o === 'object' && !Array.isArray(o)) checkKeys(o, inner, name);
  if (name === 'nat' && s.map && typeof s.map === 'object') checkKeys(s.map, ['key', 'set', 'ports'], 'nat map');
}

export function encodeStmts(stmts: Stmt[], family: Family, setInfo?: EncCtx['setInfo'], anon?: EncCtx['anon']): LowExpr[] {
  if (!Array.isArray(stmts)) throw typeError('stmts', 'a list of statements', stmts);
  const ctx: EncCtx = { family, setInfo, anon };
  const out: LowExpr[] = [];
  for (const s of stmts) {
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw typeError('statement', 'an object', s);
    checkStmtKeys(s);
    if ('match' in s && 'set' in s) {
      const fields = Array.isArray(s.match) ? s.match : [s.match];
      loadKey(ctx, fields, out);
      const op = s.op === undefined ? '==' : s.op;
      if (op !== '==' && op !== '!=') throw new ValidationError(`set lookup: unsupported operator ${JSON.stringify(op)}`);
      const e: LowExpr = { type: 'lookup', sreg: NFT_REG_1, set: checkName(s.set, 'set name') };
      if (op === '!=') e.flags = NFT_LOOKUP_F_INV;
      out.push(e);
    } else if ('match' in s) {
      encodeMatch(ctx, s, out);
    } else if ('vmap' in s) {
      loadKey(ctx, Array.isArray(s.key) ? s.key : [s.key], out);
      out.push({ type: 'lookup', sreg: NFT_REG_1, dreg: NFT_REG_VERDICT, set: checkName(s.vmap, 'map name') });
    } else if ('verdict' in s) {
      out.push(verdictExpr(s.verdict));
    } else if ('counter' in s) {
      // Values as read back (ignored here), but of their types.
      const c = s.counter;
      if (!c || typeof c !== 'object' || Array.isArray(c)) throw typeError('counter', 'an object ({} or { packets, bytes })', c);
      for (const k of ['packets', 'bytes'] as const) {
        const v = (c as Record<string, unknown>)[k];
        if (v !== undefined && !(typeof v === 'bigint' ? v >= 0n : Number.isSafeInteger(v) && (v as number) >= 0)) throw typeError(`counter.${k}`, 'a count (a non-negative integer or BigInt)', v);
      }
      out.push({ type: 'counter' });
    } else if ('nat' in s) {
      encodeNat(ctx, s, out);
    } else if ('masquerade' in s || 'redirect' in s) {
      const what = 'masquerade' in s ? 'masquerade' : 'redirect';
      const o0 = 'masquerade' in s ? s.masquerade : s.redirect;
      const o = o0 === undefined ? {} : o0;
      if (!o || typeof o !== 'object' || Array.isArray(o)) throw typeError(what, 'an object', o);
      if (o.port !== undefined && !ctx.l4proto) throw new ValidationError(`${what} to a port needs a transport protocol match first`);
      const e: LowExpr = { type: 'masquerade' in s ? 'masq' : 'redir', ...portRegs(o.port, o.portMax, NFT_REG_1, out, what) };
      const f = natFlags(o.flags) | (e.regProtoMin ? NF_NAT_RANGE.PROTO_SPECIFIED : 0);
      if (f) e.flags = f;
      out.push(e);
    } else if ('log' in s) {
      const o = s.log === undefined ? {} : s.log;
      if (!o || typeof o !== 'object' || Array.isArray(o)) throw typeError('log', 'an object', o);
      const e: LowExpr = { type: 'log' };
      if (o.prefix !== undefined) {
        if (typeof o.prefix !== 'string') throw typeError('log prefix', 'a string', o.prefix);
        if (Buffer.byteLength(o.prefix) > 127 || o.prefix.includes('\0')) throw new ValidationError(`log prefix: at most 127 bytes, no NUL`);
        e.prefix = o.prefix;
      }
      if (o.group !== undefined) {
        if (o.level !== undefined) throw new ValidationError('log: level and group exclude each other');
        if (!Number.isInteger(o.group) || o.group < 0 || o.group > 65535) throw new ValidationError(`invalid log group ${o.group}`);
        e.group = o.group;
      }
      if (o.level !== undefined) {
        const l = LOG_LEVELS.indexOf(o.level);
        if (l < 0) throw new ValidationError(`invalid log level ${JSON.stringify(o.level)} (${LOG_LEVELS.join(', ')})`);
        if (o.level !== 'warn') e.level = l;  // the kernel's default, not dumped back
      }
      out.push(e);
    } else if ('reject' in s) {
      if (s.reject !== undefined && (!s.reject || typeof s.reject !== 'object' || Array.isArray(s.reject))) throw typeError('reject', 'an object', s.reject);
      encodeReject(ctx, s.reject?.with, out);
    } else if ('limit' in s) {
      const o = s.limit;
      if (!o || typeof o !== 'object') throw typeError('limit', 'an object', o);
      if (typeof o.rate !== 'number') throw typeError('limit rate', 'a positive integer', o.rate);
      if (!Number.isInteger(o.rate) || o.rate <= 0) throw new ValidationError(`limit: rate must be a positive integer`);
      if (!(o.per in LIMIT_UNITS)) throw new ValidationError(`limit: per must be one of ${Object.keys(LIMIT_UNITS).join(', ')}`);
      if (o.bytes !== undefined && typeof o.bytes !== 'boolean') throw typeError('limit bytes', 'a boolean', o.bytes);
      if (o.over !== undefined && typeof o.over !== 'boolean') throw typeError('limit over', 'a boolean', o.over);
      const burst = o.burst === undefined ? (o.bytes ? 0 : 5) : o.burst;
      if (!Number.isInteger(burst) || burst < 0 || burst > 0xffffffff) throw new ValidationError(`limit: invalid burst ${o.burst} (0..${0xffffffff})`);
      out.push({ type: 'limit', rate: o.rate, unit: LIMIT_UNITS[o.per], burst, limitType: o.bytes ? 1 : 0, flags: o.over ? 1 : 0 });
    } else if ('mangle' in s) {
      if (s.mangle !== 'meta mark' && s.mangle !== 'ct mark') throw new ValidationError(`mangle: only 'meta mark' and 'ct mark' (got ${JSON.stringify(s.mangle)})`);
      out.push({ type: 'immediate', dreg: NFT_REG_1, data: mark.encode(s.value, s.mangle) },
        s.mangle === 'meta mark' ? { type: 'meta', key: META_KEYS.mark, sreg: NFT_REG_1 } : { type: 'ct', key: CT_KEYS.mark, sreg: NFT_REG_1 });
    } else if ('notrack' in s) {
      if (s.notrack !== true) throw typeError('notrack', 'true', s.notrack);
      out.push({ type: 'notrack' });
    } else if ('expr' in s) {
      if (!s.expr || typeof s.expr.type !== 'string') throw new ValidationError('raw expression needs a type');
      out.push(s.expr);
    } else {
      throw new ValidationError(`unknown statement with fields ${Object.keys(s).join(', ')}`);
    }
  }
  return out;
}

// ---- decoding -----------------------------------------------------------

/** 16-byte registers 1..4 alias 32-bit registers 8.. (4 words each). */
function reg32(r: number): number { return r >= 1 && r <= 4 ? NFT_REG32_00 + (r - 1) * 4 : r; }

type RegVal =
  | { kind: 'field'; field: Field; len: number; mask?: Buffer; slot: number; extra: number[] }
  | { kind: 'imm'; data: Buffer; slot: number }
  | { kind: 'map'; key: Field[]; set: string; slot: number };

function sameLoad(e: LowExpr, l: LowExpr): boolean {
  if (e.type !== l.type) return false;
  if (e.type === 'meta') return e.key === l.key;
  if (e.type === 'ct') return e.key === l.key && e.dir === undefined;
  if (e.type === 'fib') return e.result === l.result && e.flags === l.flags;
  if (e.type === 'payload') return e.base === l.base && e.offset === l.offset;
  return false;
}

function fieldOfLoad(e: LowExpr, nf: string | undefined): { field: Field; len: number } | undefined {
  if (e.dreg === undefined || e.sreg !== undefined) return undefined;
  for (const [name, def] of Object.entries(FIELDS) as [Field, FieldDef][]) {
    if (def.l4proto) continue;  // tcp/udp fields come from folding th + dependency
    if (def.nfproto && nf && def.nfproto !== nf) continue;
    if (!sameLoad(e, def.load)) continue;
    if (e.type === 'payload') {
      if (e.len === def.load.len || (def.prefix && e.len > 0 && e.len < def.load.len)) return { field: name, len: e.len };
      continue;
    }
    return { field: name, len: def.type.len };
  }
  return undefined;
}

function maskBits(m: Buffer): number | undefined {
  let bits = 0, seenZero = false;
  for (const byte of m) for (let i = 7; i >= 0; i--) {
    if (byte & (1 << i)) { if (seenZero) return undefined; bits++; } else seenZero = true;
  }
  return bits;
}

function decodeCmp(rv: Extract<RegVal, { kind: 'field' }>, e: LowExpr): MatchStmt | undefined {
  const def = FIELDS[rv.field];
  const data: Buffer = e.data;
  const flagsOf = BITMASKS[rv.field];
  if (flagsOf && rv.mask) {
    if (!data.equals(Buffer.alloc(data.length)) || rv.mask.length !== 4) return undefined;
    const bits = rv.mask.readUInt32LE(0);
    const names = Object.entries(flagsOf).filter(([, v]) => bits & v).map(([k]) => k);
    if (names.reduce((n, k) => n | flagsOf[k], 0) !== bits) return undefined;  // unknown bits: keep raw
    if (e.op !== CMP.neq && e.op !== CMP.eq) return undefined;
    return { match: rv.field, op: e.op === CMP.neq ? '==' : '!=', value: names.length === 1 ? names[0] : names };
  }
  if (e.op !== CMP.eq && e.op !== CMP.neq) return undefined;
  const op = e.op === CMP.eq ? '==' : '!=';
  if (def.prefix) {
    const full = def.type.len;
    let bits: number | undefined = rv.len * 8;
    if (rv.mask) bits = maskBits(rv.mask);
    if (bits === undefined) return undefined;
    const padded = Buffer.alloc(full);
    data.copy(padded, 0, 0, Math.min(full, data.length));
    const addr = def.type.decode(padded) as string;
    return { match: rv.field, op, value: bits === full * 8 ? addr : `${addr}/${bits}` };
  }
  if (rv.mask) return undefined;
  if (def.type === ifname && data.length <= 16) {
    return { match: rv.field, op, value: data.includes(0) || data.length === 16 ? ifname.decode(data) : `${data.toString('utf8')}*` };
  }
  if (data.length !== def.type.len) return undefined;
  return { match: rv.field, op, value: def.type.decode(data) };
}

/** Decodes kernel expressions back to statements (see encodeStmts). */
export function decodeStmts(exprs: LowExpr[], family: Family | string): Stmt[] {
  // Statements by position; a load's slot is filled with a raw statement
  // unless a later expression consumes it.
  const slots: (Stmt | null)[] = [];
  const regs = new Map<number, RegVal>();
  const raw = (e: LowExpr): Stmt => ({ expr: e });
  const consume = (rv: RegVal) => {
    slots[rv.slot] = null;
    if (rv.kind === 'field') for (const x of rv.extra) slots[x] = null;
  };
  let nf: string | undefined = family === 'ip' ? 'ipv4' : family === 'ip6' ? 'ipv6' : undefined;
  const keyAt = (sreg: number): Extract<RegVal, { kind: 'field' }>[] => {
    const out: Extract<RegVal, { kind: 'field' }>[] = [];
    let r = reg32(sreg);
    for (;;) {
      const rv = regs.get(r);
      if (!rv || rv.kind !== 'field' || rv.mask || slots[rv.slot] === null) break;
      if (out.length && rv.slot < out[out.length - 1].slot) break;
      out.push(rv);
      r += pad4(rv.len) / 4;
    }
    return out;
  };
  for (let i = 0; i < exprs.length; i++) {
    const e = exprs[i];
    const slot = slots.length;
    const f = fieldOfLoad(e, nf);
    if (f) {
      slots.push(raw(e));
      regs.set(reg32(e.dreg), { kind: 'field', field: f.field, len: f.len, slot, extra: [] });
      continue;
    }
    const src = e.sreg !== undefined ? regs.get(reg32(e.sreg)) : undefined;
    if (e.type === 'bitwise' && src?.kind === 'field' && e.sreg === e.dreg && e.mask && e.xor &&
        (e.op === undefined || e.op === 0) && !src.mask && (e.xor as Buffer).equals(Buffer.alloc(e.xor.length))) {
      // Stays raw unless a compare consumes the masked field.
      slots.push(raw(e));
      src.mask = e.mask;
      src.extra.push(slot);
      continue;
    }
    const nx = exprs[i + 1];
    if (e.type === 'cmp' && e.op === CMP.gte && nx?.type === 'cmp' && nx.op === CMP.lte && nx.sreg === e.sreg &&
        src?.kind === 'field' && FIELDS[src.field].type === inetService && !src.mask && slots[src.slot] !== null) {
      consume(src);
      slots.push({ match: src.field, op: '==', value: `${inetService.decode(e.data)}-${inetService.decode(nx.data)}` }, null);
      i++;
      continue;
    }
    if (e.type === 'cmp' && src?.kind === 'field' && slots[src.slot] !== null) {
      const m = decodeCmp(src, e);
      if (m) {
        consume(src);
        regs.delete(reg32(e.sreg));
        if (m.match === 'meta nfproto' && m.op === '==' && typeof m.value === 'string') nf = m.value;
        slots.push(m);
        continue;
      }
    }
    if (e.type === 'range' && src?.kind === 'field' && FIELDS[src.field].type === inetService && !src.mask && slots[src.slot] !== null) {
      consume(src);
      slots.push({ match: src.field, op: e.op === 1 ? '!=' : '==', value: `${inetService.decode(e.from)}-${inetService.decode(e.to)}` });
      continue;
    }
    if (e.type === 'lookup' && e.sreg !== undefined) {
      const key = keyAt(e.sreg);
      if (key.length) {
        const fields = key.map((k) => k.field);
        const k = fields.length === 1 ? fields[0] : fields;
        key.forEach(consume);
        if (e.dreg === undefined) {
          slots.push({ match: k, op: (e.flags ?? 0) & NFT_LOOKUP_F_INV ? '!=' : '==', set: e.set });
          continue;
        }
        if (e.dreg === NFT_REG_VERDICT) { slots.push({ vmap: e.set, key: k }); continue; }
        slots.push(null);
        regs.set(reg32(e.dreg), { kind: 'map', key: fields, set: e.set, slot });
        continue;
      }
    }
    if (e.type === 'immediate' && e.dreg === NFT_REG_VERDICT && e.verdict !== undefined) {
      const v = verdictFrom(e.verdict, e.chain);
      slots.push(typeof v === 'number' ? raw(e) : { verdict: v });
      continue;
    }
    if (e.type === 'immediate' && e.dreg !== NFT_REG_VERDICT && e.data) {
      slots.push(raw(e));
      regs.set(reg32(e.dreg), { kind: 'imm', data: e.data, slot });
      continue;
    }
    if (e.type === 'counter') { slots.push({ counter: { packets: e.packets ?? 0, bytes: e.bytes ?? 0 } }); continue; }
    if (e.type === 'log' && (e.flags ?? 0) === 0) {
      const o: LogStmt['log'] = {};
      if (e.prefix !== undefined) o.prefix = e.prefix;
      if (e.group !== undefined) o.group = e.group;
      if (e.level !== undefined && e.level !== 4) o.level = LOG_LEVELS[e.level];
      if ((e.snaplen ?? 0) === 0 && (e.qthreshold ?? 0) === 0 && (e.level === undefined || LOG_LEVELS[e.level])) { slots.push({ log: o }); continue; }
    }
    if (e.type === 'reject') {
      const r = decodeReject(e, nf);
      slots.push(r ?? raw(e));
      continue;
    }
    if (e.type === 'limit' && (e.flags ?? 0) <= 1 && (e.limitType ?? 0) <= 1) {
      const per = Object.entries(LIMIT_UNITS).find(([, v]) => v === e.unit)?.[0];
      if (per) {
        const o: LimitStmt['limit'] = { rate: e.rate, per: per as LimitStmt['limit']['per'] };
        const bytes = e.limitType === 1;
        if (e.burst !== (bytes ? 0 : 5)) o.burst = e.burst;
        if (bytes) o.bytes = true;
        if (e.flags === 1) o.over = true;
        slots.push({ limit: o });
        continue;
      }
    }
    if ((e.type === 'meta' || e.type === 'ct') && e.sreg !== undefined && e.key === (e.type === 'meta' ? META_KEYS.mark : CT_KEYS.mark) && e.dir === undefined) {
      const src2 = regs.get(reg32(e.sreg));
      if (src2?.kind === 'imm' && src2.data.length === 4) {
        consume(src2);
        slots.push({ mangle: e.type === 'meta' ? 'meta mark' : 'ct mark', value: src2.data.readUInt32LE(0) });
        continue;
      }
    }
    if (e.type === 'notrack') { slots.push({ notrack: true }); continue; }
    if (e.type === 'nat') {
      const s = decodeNat(e, regs, consume);
      slots.push(s ?? raw(e));
      continue;
    }
    if (e.type === 'masq' || e.type === 'redir') {
      const o: { port?: number; portMax?: number; flags?: NatFlag[] } = {};
      const pmin = e.regProtoMin !== undefined ? regs.get(reg32(e.regProtoMin)) : undefined;
      const pmax = e.regProtoMax !== undefined && e.regProtoMax !== e.regProtoMin ? regs.get(reg32(e.regProtoMax)) : undefined;
      if ((e.regProtoMin !== undefined && pmin?.kind !== 'imm') || (pmax && pmax.kind !== 'imm')) { slots.push(raw(e)); continue; }
      if (pmin?.kind === 'imm') { o.port = inetService.decode(pmin.data) as number; consume(pmin); }
      if (pmax?.kind === 'imm') { o.portMax = inetService.decode(pmax.data) as number; consume(pmax); }
      const fl = natFlagNames(e.flags ?? 0);
      if (fl.length) o.flags = fl;
      slots.push(e.type === 'masq' ? { masquerade: o } : { redirect: o });
      continue;
    }
    slots.push(raw(e));
  }
  return foldDependencies(slots.filter((s): s is Stmt => s !== null), family);
}

function decodeReject(e: LowExpr, nf: string | undefined): RejectStmt | undefined {
  if (e.rejectType === REJECT_TCP_RST) return { reject: { with: 'tcp reset' } };
  const kind = e.rejectType === REJECT_ICMPX ? 'icmpx' : e.rejectType === REJECT_ICMP ? (nf === 'ipv6' ? 'icmpv6' : 'icmp') : undefined;
  if (!kind) return undefined;
  const dflt = kind === 'icmpx' ? 1 : kind === 'icmpv6' ? 4 : 3;
  if (e.code === dflt && (kind === 'icmpx' ? nf === undefined : nf !== undefined)) return { reject: {} };
  const name = Object.entries(REJECT_CODES[kind]).find(([, v]) => v === e.code)?.[0];
  return name ? { reject: { with: `${kind} ${name}` } } : undefined;
}

function decodeNat(e: LowExpr, regs: Map<number, RegVal>, consume: (rv: RegVal) => void): NatStmt | undefined {
  const type = e.natType === NAT_TYPE.dnat ? 'dnat' : e.natType === NAT_TYPE.snat ? 'snat' : undefined;
  if (!type) return undefined;
  const s: NatStmt = { nat: type };
  if (e.family === 2) s.family = 'ip'; else if (e.family === 10) s.family = 'ip6';
  const addrType = s.family === 'ip6' ? ipv6Addr : ipv4Addr;
  const amin = e.regAddrMin !== undefined ? regs.get(reg32(e.regAddrMin)) : undefined;
  const amax = e.regAddrMax !== undefined && e.regAddrMax !== e.regAddrMin ? regs.get(reg32(e.regAddrMax)) : undefined;
  const pmin = e.regProtoMin !== undefined ? regs.get(reg32(e.regProtoMin)) : undefined;
  const pmax = e.regProtoMax !== undefined && e.regProtoMax !== e.regProtoMin ? regs.get(reg32(e.regProtoMax)) : undefined;
  if (e.regAddrMin !== undefined && !amin) return undefined;
  if (amin?.kind === 'map') {
    if (amax || pmax) return undefined;
    const ports = e.regProtoMin !== undefined;
    if (ports && reg32(e.regProtoMin) !== reg32(e.regAddrMin) + addrType.len / 4) return undefined;
    consume(amin);
    s.map = { key: amin.key.length === 1 ? amin.key[0] : amin.key, set: amin.set, ports };
  } else {
    if (amin && amin.kind !== 'imm') return undefined;
    if ((amax && amax.kind !== 'imm') || (e.regProtoMin !== undefined && pmin?.kind !== 'imm') || (pmax && pmax.kind !== 'imm')) return undefined;
    if (amin?.kind === 'imm') { s.addr = addrType.decode(amin.data) as string; consume(amin); }
    if (amax?.kind === 'imm') { s.addrMax = addrType.decode(amax.data) as string; consume(amax); }
    if (pmin?.kind === 'imm') { s.port = inetService.decode(pmin.data) as number; consume(pmin); }
    if (pmax?.kind === 'imm') { s.portMax = inetService.decode(pmax.data) as number; consume(pmax); }
  }
  const fl = natFlagNames(e.flags ?? 0);
  if (fl.length) s.flags = fl;
  return s;
}

/** Fields a statement reads (match, lookup, vmap keys; nat map keys). */
function stmtFields(s: Stmt | undefined): string[] {
  if (!s) return [];
  if ('match' in s) return Array.isArray(s.match) ? s.match : [s.match];
  if ('vmap' in s) return Array.isArray(s.key) ? s.key : [s.key];
  return [];
}

function isDep(s: Stmt, family: Family | string): 'l4' | 'nf' | undefined {
  if (!('match' in s) || 'set' in s || (s.op ?? '==') !== '==' || typeof s.value !== 'string') return undefined;
  if (s.match === 'meta l4proto' && (s.value === 'tcp' || s.value === 'udp')) return 'l4';
  if (s.match === 'meta nfproto' && family === 'inet' && (s.value === 'ipv4' || s.value === 'ipv6')) return 'nf';
  return undefined;
}

/**
 * Drops the dependencies nft (and encodeStmts) add, as nft shows rules:
 * `meta l4proto tcp` before `th dport 80` reads as `tcp dport 80`, `meta
 * nfproto ipv4` before `ip saddr` in an inet table disappears. A run of
 * dependencies is folded when the statement right after it needs them.
 */
function foldDependencies(stmts: Stmt[], family: Family | string): Stmt[] {
  const out: Stmt[] = [];
  let l4: string | undefined;
  let nfp: string | undefined;
  for (let i = 0; i < stmts.length; i++) {
    const s = stmts[i];
    const kind = isDep(s, family);
    if (kind) {
      let j = i;
      while (j < stmts.length && isDep(stmts[j], family)) j++;
      const fields = stmtFields(stmts[j]);
      const v = (s as MatchStmt).value as string;
      if (kind === 'l4' && !l4 && fields.some((f) => f.startsWith('th '))) { l4 = v; continue; }
      if (kind === 'nf' && !nfp && fields.some((f) => FIELDS[f as Field]?.nfproto === v)) { nfp = v; continue; }
    }
    if (l4 && ('match' in s || 'vmap' in s)) {
      const ren = (f: Field): Field => (f.startsWith('th ') ? (`${l4} ${f.slice(3)}` as Field) : f);
      if ('vmap' in s) { out.push({ ...s, key: Array.isArray(s.key) ? s.key.map(ren) : ren(s.key) }); continue; }
      if ('set' in s) { out.push({ ...s, match: Array.isArray(s.match) ? s.match.map(ren) : ren(s.match) }); continue; }
      out.push({ ...s, match: ren(s.match) });
      continue;
    }
    out.push(s);
  }
  return out;
}

// ---- builder helpers ----------------------------------------------------

/** Shorthands for statements: `[m.oifname.ne('br0'), m.ip.saddr('172.18.0.0/16'), s.masquerade()]`. */
export const match = (field: Field, value: MatchValue, op: '==' | '!=' = '=='): MatchStmt => ({ match: field, op, value });
export const notMatch = (field: Field, value: MatchValue): MatchStmt => ({ match: field, op: '!=', value });
export const inSet = (field: Field | Field[], set: string, op: '==' | '!=' = '=='): LookupStmt => ({ match: field, op, set });
export const vmap = (key: Field | Field[], map: string): VmapStmt => ({ vmap: map, key });
export const counter = (): CounterStmt => ({ counter: {} });
export const accept = (): VerdictStmt => ({ verdict: 'accept' });
export const drop = (): VerdictStmt => ({ verdict: 'drop' });
export const ret = (): VerdictStmt => ({ verdict: 'return' });
export const jump = (chain: string): VerdictStmt => ({ verdict: { jump: chain } });
export const goTo = (chain: string): VerdictStmt => ({ verdict: { goto: chain } });
export const dnat = (addr: string, port?: number, family?: 'ip' | 'ip6'): NatStmt => ({ nat: 'dnat', addr, port, family });
export const snat = (addr: string, port?: number, family?: 'ip' | 'ip6'): NatStmt => ({ nat: 'snat', addr, port, family });
export const dnatMap = (key: Field | Field[], set: string, family: 'ip' | 'ip6' = 'ip', ports?: boolean): NatStmt =>
  ({ nat: 'dnat', family, map: { key, set, ports } });
export const masquerade = (port?: number): MasqStmt => ({ masquerade: port === undefined ? {} : { port } });
export const redirect = (port?: number): RedirStmt => ({ redirect: port === undefined ? {} : { port } });
export const log = (prefix?: string, level?: LogLevel): LogStmt => ({ log: { ...(prefix !== undefined ? { prefix } : {}), ...(level ? { level } : {}) } });
export const reject = (how?: string): RejectStmt => ({ reject: how === undefined ? {} : { with: how } });
export const limit = (rate: number, per: LimitStmt['limit']['per'], burst?: number): LimitStmt => ({ limit: { rate, per, ...(burst !== undefined ? { burst } : {}) } });
export const setMark = (value: number, on: 'meta mark' | 'ct mark' = 'meta mark'): MangleStmt => ({ mangle: on, value });
