// Checks of the CNM layer's option objects, before anything is made: wrong
// types are ERR_INVALID_ARG_TYPE, unknown fields EINVAL; nothing is coerced.
import { invalid, invalidType } from './errors';

export type FieldType = 'string' | 'boolean' | 'integer' | 'string[]' | 'record' | 'any';

const TYPES: Record<FieldType, [string, (v: unknown) => boolean]> = {
  string: ['a string', (v) => typeof v === 'string'],
  boolean: ['a boolean', (v) => typeof v === 'boolean'],
  integer: ['an integer', (v) => Number.isInteger(v)],
  'string[]': ['a list of strings', (v) => Array.isArray(v) && v.every((x) => typeof x === 'string')],
  record: ['an object of strings', (v) => isPlainObject(v) && Object.values(v).every((x) => typeof x === 'string')],
  any: ['anything', () => true],
};

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && [Object.prototype, null].includes(Object.getPrototypeOf(v));

/**
 * A copy of an options value, plain objects and arrays deep, each field
 * read once (a getter's second answer cannot differ from what was checked);
 * anything else (a Sandbox, a Netns, a firewall) kept as it is.
 */
export function snapshot<T>(v: T, depth = 0): T {
  if (depth > 32) return v;
  if (Array.isArray(v)) return v.map((x) => snapshot(x, depth + 1)) as T;
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: snapshot(v[k], depth + 1), enumerable: true, writable: true, configurable: true });
  return out as T;
}

/**
 * `o` must be an object whose fields are all in `spec`, each of its type
 * (undefined is absence; `nullable` fields may also be null).
 */
export function checkFields(o: unknown, what: string, spec: Record<string, FieldType>, nullable: string[] = []): void {
  if (!isPlainObject(o)) throw invalidType(what, 'an object', o);
  for (const [k, v] of Object.entries(o)) {
    // (Own fields only: `constructor` or a JSON `__proto__` key is unknown, not Object's.)
    const t = Object.hasOwn(spec, k) ? spec[k] : undefined;
    if (!t) throw invalid(`${what}: unknown field ${JSON.stringify(k)} (${Object.keys(spec).join(', ')})`);
    if (v === undefined || (v === null && nullable.includes(k))) continue;
    const [expected, ok] = TYPES[t];
    if (!ok(v)) throw invalidType(`${what}.${k}`, expected, v);
  }
}
