// Validation shared by the nftables object files.
import { ValidationError } from '../errors';
import { FAMILIES, Family, familyName } from './constants';

export function familyNum(f: Family | string, allowAll = false): number {
  if (allowAll && (f === '' || f === undefined)) return 0;  // NFPROTO_UNSPEC: all families (flush ruleset)
  const n = (FAMILIES as Record<string, number>)[f as string];
  if (n === undefined) throw new ValidationError(`unknown nftables family ${JSON.stringify(f)} (${Object.keys(FAMILIES).join(', ')})`);
  return n;
}

export function famOf(n: number): Family {
  return familyName(n) as Family;
}

/** Table, chain and set names: 1..255 bytes (NFT_NAME_MAXLEN), no NUL. */
export function checkObjName(s: unknown, what: string): string {
  if (typeof s !== 'string' || s.length === 0) throw new ValidationError(`${what} name is required`);
  if (Buffer.byteLength(s) > 255) throw new ValidationError(`${what} name too long (${Buffer.byteLength(s)} bytes, at most 255): ${s.slice(0, 40)}...`);
  if (s.includes('\0')) throw new ValidationError(`invalid ${what} name ${JSON.stringify(s)}`);
  return s;
}

export function checkHandle(h: unknown, what: string): number {
  if (typeof h !== 'number' || !Number.isInteger(h) || h <= 0) throw new ValidationError(`invalid ${what} handle: ${JSON.stringify(h)}`);
  return h;
}

export function flagBits(names: string[] | undefined, table: Record<string, number>, what: string): number {
  let bits = 0;
  for (const n of names ?? []) {
    if (!(n in table)) throw new ValidationError(`unknown ${what} flag ${JSON.stringify(n)} (${Object.keys(table).join(', ')})`);
    bits |= table[n];
  }
  return bits;
}

export function flagNames<T extends string>(bits: number, table: Record<string, number>): T[] {
  return Object.entries(table).filter(([, v]) => bits & v).map(([k]) => k as T);
}
