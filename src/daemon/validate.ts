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

/** An own property, whatever the key ("__proto__" too: a plain assignment would set the prototype). */
const put = (o: Record<string, unknown>, k: string, v: unknown) => Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The body with its fields under their canonical names, as Go's
 * encoding/json decodes one into a struct: a key matches a field exactly,
 * else without regard to case ("name" is Name; of two spellings, the one
 * JSON.parse lists later wins: an exact repeat keeps its first place). Throws EINVAL (unknown or missing field) or ERR_INVALID_ARG_TYPE
 * naming the field's path. Map keys (Labels, Options) stay as given.
 */
export function check(v: unknown, s: Spec, where: string): unknown {
  const path = (k: string) => (where ? `${where}.${k}` : k);
  if (typeof s === 'string') {
    const what = where || 'the request body';
    switch (s) {
      case 'string': if (typeof v !== 'string') throw badType(what, 'a string'); return v;
      case 'boolean': if (typeof v !== 'boolean') throw badType(what, 'a boolean'); return v;
      case 'integer': if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw badType(what, 'an integer'); return v;
      case 'any-empty-object': if (!isPlain(v) || Object.keys(v).length) throw badType(what, 'an empty object ({})'); return v;
    }
  }
  if ('nullable' in s) return v === null ? null : check(v, s.nullable, where);
  if ('oneOf' in s) {
    for (const o of s.oneOf) { try { return check(v, o, where); } catch { /* next */ } }
    throw badType(where || 'the request body', describe(s));
  }
  if ('array' in s) {
    if (!Array.isArray(v)) throw badType(where || 'the request body', 'an array');
    return v.map((x, i) => check(x, s.array, `${where}[${i}]`));
  }
  if (!isPlain(v)) throw badType(where || 'the request body', 'an object');
  if ('map' in s) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) put(out, k, check(x, s.map, path(k)));
    return out;
  }
  const fields = Object.keys(s.object);
  const given: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const name = Object.hasOwn(s.object, k) ? k : fields.find((f) => f.toLowerCase() === k.toLowerCase());
    if (name === undefined) throw badInput(`unknown field ${path(k)}`);
    given[name] = x;
  }
  for (const k of s.required ?? []) if (given[k] === undefined) throw badInput(`${path(k)} is required`);
  const out: Record<string, unknown> = {};
  for (const [k, sub] of Object.entries(s.object)) if (given[k] !== undefined) out[k] = check(given[k], sub, path(k));
  return out;
}
