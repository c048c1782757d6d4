// Sets and maps, like `nft add set` / `nft add map` and `nft add element`.
// Keys are typed (`ipv4_addr`, `inet_proto . inet_service`, `ifname`...);
// the set carries nft's userdata (key byte order) so `nft list` prints
// values correctly.
import { native } from '../native';
import { ValidationError, checkArray, checkInt, checkKeys, typeError } from '../errors';
import {
  Family, NFT_DATA_VERDICT, NFT_MSG, NFT_SET_ELEM_INTERVAL_END, SET_FLAGS, UDATA_SET_COMMENT,
  UDATA_SET_DATABYTEORDER, UDATA_SET_DATA_INTERVAL, UDATA_SET_KEYBYTEORDER, BYTEORDER,
} from './constants';
import { checkHandle, checkObjName, famOf, familyNum, flagBits, flagNames } from './common';
import { DataType, KeyType, Value, decodeValue, encodeValue, keyType, keyTypeFromId, DATATYPES, pad4 } from './datatype';
import { Verdict, verdictData, verdictFrom } from './expr';
import { buildUdata, commentOf, commentUdata, parseUdata, u32 } from './udata';

export type SetFlag = 'constant' | 'interval' | 'timeout' | 'dynamic';

export interface NftSet {
  family: Family;
  table: string;
  name: string;
  /** Key type as nft writes it: 'ipv4_addr', 'ifname', 'inet_proto . inet_service' (or an array of names). */
  type: string | string[];
  /** Makes it a map: the data type, or 'verdict' for a verdict map. */
  map?: string | string[];
  flags?: SetFlag[];
  comment?: string;
  /** Maximum number of elements. */
  size?: number;
  /** Default element timeout, ms. */
  timeout?: number;
  policy?: 'performance' | 'memory';
  /** Elements to add with the set (read back by listElements). */
  elements?: Element[];
  handle?: number;
}

export type SetRef = { family: Family; table: string; set: string };

/** Key of an element: one value, a list for a concatenation; intervals as "10.0.0.0/8" or "10.0.0.1-10.0.0.9". */
export type ElementKey = Value | Value[];

export interface Element {
  key: ElementKey;
  /** Maps: the value (a list for a concatenation), or a verdict for a verdict map. */
  data?: Value | Value[] | Verdict;
  comment?: string;
  /** ms. */
  timeout?: number;
}

/** What encoding elements of a set needs to know. */
export interface SetInfo {
  key: KeyType;
  data?: KeyType;
  verdict: boolean;
  interval: boolean;
}

const SET_FLAG_BITS: Record<SetFlag, number> = {
  constant: SET_FLAGS.constant, interval: SET_FLAGS.interval, timeout: SET_FLAGS.timeout, dynamic: SET_FLAGS.dynamic,
};
const UDATA_ELEM_COMMENT = 0;

export function setInfo(s: Pick<NftSet, 'type' | 'map' | 'flags'>): SetInfo {
  const key = keyType(s.type, 'set key type');
  const verdict = s.map === 'verdict';
  const data = s.map !== undefined && !verdict ? keyType(s.map, 'map data type') : undefined;
  if (s.flags !== undefined) checkArray(s.flags, 'set flags');
  return { key, data, verdict, interval: !!s.flags?.includes('interval') };
}

export function setMsg(cmd: number, s: Partial<NftSet> & { family: Family; table: string }, flags: number, id?: number, extraFlags = 0): Buffer {
  const fam = familyNum(s.family);
  const o: any = { table: checkObjName(s.table, 'table') };
  if (s.name !== undefined || cmd === NFT_MSG.NEWSET) o.name = checkObjName(s.name, 'set');
  if (s.handle !== undefined) o.handle = checkHandle(s.handle, 'set');
  if (cmd === NFT_MSG.NEWSET) {
    const info = setInfo(s as NftSet);
    let bits = flagBits(s.flags, SET_FLAG_BITS, 'set') | extraFlags;
    if (info.interval && info.key.fields.length > 1) {
      // Concatenated intervals: the kernel's pipapo set needs each field's length.
      bits |= SET_FLAGS.concat;
      o.fieldLens = info.key.fields.map((f) => f.len);
    }
    o.keyType = info.key.id;
    o.keyLen = info.key.len;
    const ud = [{ type: UDATA_SET_KEYBYTEORDER, value: u32(info.key.byteorder) }];
    if (s.map !== undefined) {
      bits |= SET_FLAGS.map;
      if (info.verdict) o.dataType = NFT_DATA_VERDICT;
      else { o.dataType = info.data!.id; o.dataLen = info.data!.len; }
      ud.push({ type: UDATA_SET_DATABYTEORDER, value: u32(info.verdict ? BYTEORDER.invalid : info.data!.byteorder) });
      ud.push({ type: UDATA_SET_DATA_INTERVAL, value: u32(0) });
    }
    ud.push(...commentUdata(UDATA_SET_COMMENT, s.comment));
    o.userdata = buildUdata(ud);
    o.flags = bits;
    if (s.size !== undefined) o.size = checkU32(s.size, 'set size');
    if (s.timeout !== undefined) o.timeout = checkU32(s.timeout, 'set timeout');
    if (s.policy !== undefined) {
      if (typeof s.policy !== 'string') throw typeError('set policy', 'performance or memory', s.policy);
      if (s.policy !== 'performance' && s.policy !== 'memory') throw new ValidationError(`invalid set policy ${JSON.stringify(s.policy)}`);
      o.policy = s.policy === 'performance' ? 0 : 1;
    }
    if (id !== undefined) o.id = id;
  }
  return native.nftSet(cmd, fam, flags, o);
}

function checkU32(v: number, what: string): number {
  return checkInt(v, what, 0, 0xffffffff);
}

export function parseSet(b: any): NftSet & { info?: SetInfo } {
  const key = keyTypeFromId(b.keyType);
  const s: NftSet & { info?: SetInfo } = {
    family: famOf(b.family), table: b.table, name: b.name, handle: b.handle,
    type: key?.name ?? `unknown(${b.keyType})`,
  };
  let data: KeyType | undefined;
  const isMap = (b.flags ?? 0) & SET_FLAGS.map;
  if (isMap) {
    if (b.dataType === NFT_DATA_VERDICT) s.map = 'verdict';
    else { data = keyTypeFromId(b.dataType); s.map = data?.name ?? `unknown(${b.dataType})`; }
  }
  const fl = flagNames<SetFlag>(b.flags ?? 0, SET_FLAG_BITS);
  if (fl.length) s.flags = fl;
  const c = commentOf(b.userdata, UDATA_SET_COMMENT);
  if (c !== undefined) s.comment = c;
  if (b.size) s.size = b.size;
  if (b.timeout) s.timeout = b.timeout;
  if (b.policy !== undefined && b.policy !== 0) s.policy = 'memory';
  if (key && (!isMap || s.map === 'verdict' || data)) {
    Object.defineProperty(s, 'info', { value: { key, data, verdict: s.map === 'verdict', interval: !!fl.includes('interval') }, enumerable: false });
  }
  return s;
}

// ---- elements -----------------------------------------------------------

function addOne(b: Buffer): Buffer | undefined {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] === 0xff) { out[i] = 0; continue; }
    out[i]++;
    return out;
  }
  return undefined;  // wrapped: the interval runs to the end of the key space
}

function subOne(b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] === 0) { out[i] = 0xff; continue; }
    out[i]--;
    break;
  }
  return out;
}

/** Inclusive range [start, last] of one field value: "a.b.c.d/len", "a-b" or a single value. */
function fieldRange(t: DataType, v: Value, what: string): { start: Buffer; last: Buffer } {
  if (typeof v === 'string' && v.includes('/') && (t === DATATYPES.ipv4_addr || t === DATATYPES.ipv6_addr)) {
    const [addr, lenStr] = v.split('/');
    const start = t.encode(addr, what);
    const max = start.length * 8;
    if (!/^\d+$/.test(lenStr) || Number(lenStr) > max) throw new ValidationError(`invalid prefix in ${what}: ${v}`);
    const bits = Number(lenStr);
    const last = Buffer.from(start);
    for (let i = 0; i < last.length; i++) {
      const keep = bits >= (i + 1) * 8 ? 0xff : bits > i * 8 ? (0xff << (8 - (bits - i * 8))) & 0xff : 0;
      if (start[i] & ~keep) throw new ValidationError(`${what}: ${v} has host bits set`);
      last[i] = start[i] | (~keep & 0xff);
    }
    return { start, last };
  }
  if (typeof v === 'string' && /^[^-]+-[^-]+$/.test(v) && t !== DATATYPES.ifname) {
    // (A range is text, so its ends are too: "80-90" means 80 to 90.)
    const end = (x: string) => (/^\d+$/.test(x) ? Number(x) : x);
    const [a, b] = v.split('-');
    const start = t.encode(end(a), what);
    const last = t.encode(end(b), what);
    if (Buffer.compare(start, last) > 0) throw new ValidationError(`${what}: empty range ${v}`);
    return { start, last };
  }
  const one = t.encode(v, what);
  return { start: one, last: one };
}

/** Interval [start, end) of a key (end undefined: to the end of the key space). */
function intervalOf(info: SetInfo, key: ElementKey, what: string): { start: Buffer; end?: Buffer } {
  if (Array.isArray(key)) throw new ValidationError(`${what}: expected one ${info.key.name} value, got a list`);
  const r = fieldRange(info.key.fields[0], key, what);
  return { start: r.start, end: addOne(r.last) };
}

/** Concatenated intervals (pipapo sets): key = field starts, keyEnd = field ends (inclusive), each padded to 4 bytes. */
function concatRange(info: SetInfo, key: ElementKey, what: string): { key: Buffer; keyEnd: Buffer } {
  const fields = info.key.fields;
  if (!Array.isArray(key) || key.length !== fields.length) throw new ValidationError(`${what}: expected ${fields.length} values for ${info.key.name}, got ${JSON.stringify(key)}`);
  const k = Buffer.alloc(info.key.len);
  const e = Buffer.alloc(info.key.len);
  let off = 0;
  fields.forEach((f, i) => {
    const r = fieldRange(f, key[i], what);
    r.start.copy(k, off);
    r.last.copy(e, off);
    off += pad4(f.len);
  });
  return { key: k, keyEnd: e };
}

/** A field's [start, last] as nft shows it: a value, a prefix or a range. */
function rangeText(t: DataType, start: Buffer, last: Buffer): Value {
  if (start.equals(last)) return t.decode(start);
  const bits = prefixLen(start, last);
  if (bits !== undefined && (t === DATATYPES.ipv4_addr || t === DATATYPES.ipv6_addr)) return `${t.decode(start)}/${bits}`;
  return `${t.decode(start)}-${t.decode(last)}`;
}

/** Native element objects for add/delete (intervals become start + end elements, as nft sends them). */
export function encodeElements(info: SetInfo, elems: Element[], forDelete: boolean, what: string): any[] {
  const out: any[] = [];
  for (const e of elems) {
    if (!e || typeof e !== 'object' || e.key === undefined) throw new ValidationError(`${what}: element needs a key`);
    checkKeys(e, ['key', 'data', 'comment', 'timeout'], `${what}: element`);
    const x: any = {};
    if (info.interval && info.key.fields.length > 1) {
      const r = concatRange(info, e.key, `${what} key`);
      x.key = r.key;
      if (!forDelete) x.keyEnd = r.keyEnd;
      out.push(x);
    } else if (info.interval) {
      const iv = intervalOf(info, e.key, `${what} key`);
      x.key = iv.start;
      out.push(x);
      if (iv.end) out.push({ key: iv.end, flags: NFT_SET_ELEM_INTERVAL_END });
    } else {
      x.key = encodeValue(info.key, e.key, `${what} key`);
      out.push(x);
    }
    if (!forDelete) {
      if (info.verdict) {
        if (e.data === undefined) throw new ValidationError(`${what}: verdict map element ${JSON.stringify(e.key)} needs data (a verdict)`);
        Object.assign(x, verdictData(e.data as Verdict));
      } else if (info.data) {
        if (e.data === undefined) throw new ValidationError(`${what}: map element ${JSON.stringify(e.key)} needs data`);
        x.data = encodeValue(info.data, e.data as Value | Value[], `${what} data`);
      } else if (e.data !== undefined) {
        throw new ValidationError(`${what}: a set element has no data (the set is not a map)`);
      }
      if (e.comment !== undefined) x.userdata = buildUdata(commentUdata(UDATA_ELEM_COMMENT, e.comment));
      if (e.timeout !== undefined) x.timeout = checkU32(e.timeout, 'element timeout');
    }
  }
  return out;
}

/** Splits elements so each message's element list stays under netlink's 64 KiB attribute limit. */
export function elementMsgs(cmd: number, ref: SetRef, elems: any[], flags: number, setId?: number): Buffer[] {
  const fam = familyNum(ref.family);
  const base: any = { table: checkObjName(ref.table, 'table'), set: checkObjName(ref.set, 'set') };
  if (setId !== undefined) base.setId = setId;
  if (!elems.length) return [native.nftSetElems(cmd, fam, flags, base)];
  const out: Buffer[] = [];
  let chunk: any[] = [];
  let bytes = 0;
  for (const e of elems) {
    const n = 40 + (e.key?.length ?? 0) + (e.data?.length ?? 0) + (e.chain?.length ?? 0) + (e.userdata?.length ?? 0) + 24;
    if (bytes + n > 60000) { out.push(native.nftSetElems(cmd, fam, flags, { ...base, elements: chunk })); chunk = []; bytes = 0; }
    chunk.push(e);
    bytes += n;
  }
  out.push(native.nftSetElems(cmd, fam, flags, { ...base, elements: chunk }));
  return out;
}

/** Decodes dumped elements; interval start/end pairs become prefixes or ranges. */
export function decodeElements(info: SetInfo, raw: any[]): Element[] {
  const one = (x: any): Element => {
    const e: Element = { key: decodeValue(info.key, x.key) };
    if (info.verdict && x.verdict !== undefined) e.data = verdictFrom(x.verdict, x.chain) as Verdict;
    else if (info.data && x.data) e.data = decodeValue(info.data, x.data);
    const c = x.userdata ? parseUdata(x.userdata).find((t) => t.type === UDATA_ELEM_COMMENT) : undefined;
    if (c) e.comment = c.value.subarray(0, c.value.indexOf(0) < 0 ? c.value.length : c.value.indexOf(0)).toString();
    if (x.timeout) e.timeout = x.timeout;
    return e;
  };
  // Sorted by key bytes (addresses and ports in numeric order), as nft prints them.
  if (!info.interval) return [...raw].sort((a, b) => Buffer.compare(a.key, b.key)).map(one);
  if (info.key.fields.length > 1) {
    return [...raw].sort((a, b) => Buffer.compare(a.key, b.key)).map((x) => {
      const e = one(x);
      const end: Buffer = x.keyEnd ?? x.key;
      let off = 0;
      e.key = info.key.fields.map((f) => {
        const v = rangeText(f, x.key.subarray(off, off + f.len), end.subarray(off, off + f.len));
        off += pad4(f.len);
        return v;
      });
      return e;
    });
  }
  const sorted = [...raw].sort((a, b) => Buffer.compare(a.key, b.key) || ((a.flags ?? 0) & 1) - ((b.flags ?? 0) & 1));
  const out: Element[] = [];
  const t = info.key.fields[0];
  for (let i = 0; i < sorted.length; i++) {
    const x = sorted[i];
    if ((x.flags ?? 0) & NFT_SET_ELEM_INTERVAL_END) continue;
    const next = sorted[i + 1];
    const end: Buffer | undefined = next && (next.flags ?? 0) & NFT_SET_ELEM_INTERVAL_END ? next.key : undefined;
    const e = one(x);
    const last = end ? subOne(end) : Buffer.alloc(x.key.length, 0xff);
    if (!last.equals(x.key)) {
      const bits = prefixLen(x.key, last);
      e.key = bits !== undefined && (t === DATATYPES.ipv4_addr || t === DATATYPES.ipv6_addr)
        ? `${t.decode(x.key)}/${bits}` : `${t.decode(x.key)}-${t.decode(last)}`;
    }
    out.push(e);
  }
  return out;
}

/** Prefix length if [start, last] is exactly one prefix. */
function prefixLen(start: Buffer, last: Buffer): number | undefined {
  const n = start.length * 8;
  for (let bits = 0; bits <= n; bits++) {
    let ok = true;
    for (let i = 0; i < start.length && ok; i++) {
      const keep = bits >= (i + 1) * 8 ? 0xff : bits > i * 8 ? (0xff << (8 - (bits - i * 8))) & 0xff : 0;
      if ((start[i] & keep) !== (last[i] & keep) || (start[i] & ~keep & 0xff) !== 0 || (last[i] | keep) !== 0xff) ok = false;
    }
    if (ok) return bits;
  }
  return undefined;
}
