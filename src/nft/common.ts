// Validation shared by the nftables object files.
import { ValidationError, checkArray, checkObject, typeError } from '../errors';
import { FAMILIES, Family, familyName } from './constants';

export function familyNum(f: Family | string, allowAll = false): number {
  if (allowAll && (f === '' || f === undefined)) return 0;  // NFPROTO_UNSPEC: all families (flush ruleset)
  if (typeof f !== 'string') throw typeError('family', `one of ${Object.keys(FAMILIES).join(', ')}`, f);
  const n = (FAMILIES as Record<string, number>)[f as string];
  if (n === undefined) throw new ValidationError(`unknown nftables family ${JSON.stringify(f)} (${Object.keys(FAMILIES).join(', ')})`);
  return n;
}

export function famOf(n: number): Family {
  return familyName(n) as Family;
}

/** Table, chain and set names: 1..255 bytes (NFT_NAME_MAXLEN), no NUL. */
export function checkObjName(s: unknown, what: string): string {
  if (s === undefined || s === '') throw new ValidationError(`${what} name is required`);
  if (typeof s !== 'string') throw typeError(`${what} name`, 'a string', s);
  if (Buffer.byteLength(s) > 255) throw new ValidationError(`${what} name too long (${Buffer.byteLength(s)} bytes, at most 255): ${s.slice(0, 40)}...`);
  if (s.includes('\0')) throw new ValidationError(`invalid ${what} name ${JSON.stringify(s)}`);
  return s;
}

export function checkHandle(h: unknown, what: string): number {
  if (typeof h !== 'number') throw typeError(`${what} handle`, 'an integer', h);
  if (!Number.isInteger(h) || h <= 0 || h > Number.MAX_SAFE_INTEGER) throw new ValidationError(`invalid ${what} handle: ${JSON.stringify(h)}`);
  return h;
}

export function flagBits(names: string[] | undefined, table: Record<string, number>, what: string): number {
  let bits = 0;
  for (const n of names === undefined ? [] : checkArray<string>(names, `${what} flags`)) {
    if (typeof n !== 'string') throw typeError(`${what} flag`, 'a string', n);
    if (!Object.prototype.hasOwnProperty.call(table, n)) throw new ValidationError(`unknown ${what} flag ${JSON.stringify(n)} (${Object.keys(table).join(', ')})`);
    bits |= table[n];
  }
  return bits;
}

export function flagNames<T extends string>(bits: number, table: Record<string, number>): T[] {
  return Object.entries(table).filter(([, v]) => bits & v).map(([k]) => k as T);
}

/** The object argument of a transaction operation or a list call. */
export function checkArg<T>(v: T, what: string): T {
  return checkObject<T>(v, what);
}
