// Typed errors of the CNM layer, with Node-style codes.
import { CnmError, errnoOf } from '../errors';

export class CnmObjectError extends CnmError {
  constructor(message: string, code: string) {
    super(message, code, errnoOf(code));
  }
}

export const notFound = (what: string, name: string) => new CnmObjectError(`${what} "${name}" not found`, 'ENOENT');
export const exists = (what: string, name: string) => new CnmObjectError(`${what} "${name}" already exists`, 'EEXIST');
export const invalid = (msg: string) => new CnmObjectError(msg, 'EINVAL');
export const inUse = (msg: string) => new CnmObjectError(msg, 'EADDRINUSE');
export const busy = (msg: string) => new CnmObjectError(msg, 'EBUSY');
export const exhausted = (msg: string) => new CnmObjectError(msg, 'ENOSPC');

/** What a value is, for messages: `a number (42)`, `null`. */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `a string (${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)})`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v === 'undefined' ? 'undefined' : `a ${typeof v}`}${typeof v === 'number' || typeof v === 'boolean' ? ` (${v})` : ''}`;
}

/** A wrong type, in Node's convention (`ERR_INVALID_ARG_TYPE`). */
export const invalidType = (field: string, expected: string, got: unknown) =>
  new CnmObjectError(`${field} must be ${expected}, got ${kindOf(got)}`, 'ERR_INVALID_ARG_TYPE');
