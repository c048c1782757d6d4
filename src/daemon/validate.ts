// A strict checker for request bodies: every field known, every type exact
// (no coercion: "1" is not a number, 'www' is not a list).
import { badInput, badType } from './errors';

export type Spec =
  | 'string' | 'boolean' | 'integer' | 'any-empty-object'
  | { object: Record<string, Spec>; required?: string[] }
  | { array: Spec }
  | { map: Spec }
  | { nullable: Spec }
  | { oneOf: Spec[] };

function describe(s: Spec): string {
  if (typeof s === 'string') return s === 'any-empty-object' ? 'an empty object' : s === 'integer' ? 'an integer' : `a ${s}`;
  if ('object' in s) return 'an object';
  if ('array' in s) return 'an array';
  if ('map' in s) return 'an object';
  if ('nullable' in s) return `${describe(s.nullable)} or null`;
  return s.oneOf.map(describe).join(' or ');
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Throws EINVAL (unknown or missing field) or ERR_INVALID_ARG_TYPE naming the field's path. */
export function check(v: unknown, s: Spec, where: string): void {
  if (typeof s === 'string') {
    switch (s) {
      case 'string': if (typeof v !== 'string') throw badType(where, 'a string'); return;
      case 'boolean': if (typeof v !== 'boolean') throw badType(where, 'a boolean'); return;
      case 'integer': if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw badType(where, 'an integer'); return;
      case 'any-empty-object': if (!isPlain(v) || Object.keys(v).length) throw badType(where, 'an empty object ({})'); return;
    }
  }
  if ('nullable' in s) { if (v !== null) check(v, s.nullable, where); return; }
  if ('oneOf' in s) {
    for (const o of s.oneOf) { try { check(v, o, where); return; } catch { /* next */ } }
    throw badType(where, describe(s));
  }
  if ('array' in s) {
    if (!Array.isArray(v)) throw badType(where, 'an array');
    v.forEach((x, i) => check(x, s.array, `${where}[${i}]`));
    return;
  }
  if (!isPlain(v)) throw badType(where, 'an object');
  if ('map' in s) {
    for (const [k, x] of Object.entries(v)) check(x, s.map, `${where}.${k}`);
    return;
  }
  for (const k of Object.keys(v)) if (!Object.hasOwn(s.object, k)) throw badInput(`unknown field ${where ? `${where}.` : ''}${k}`);
  for (const k of s.required ?? []) if (v[k] === undefined) throw badInput(`${where ? `${where}.` : ''}${k} is required`);
  for (const [k, sub] of Object.entries(s.object)) if (v[k] !== undefined) check(v[k], sub, where ? `${where}.${k}` : k);
}
