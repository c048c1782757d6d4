// Typed errors of the CNM layer, with Node-style codes.
import { CnmError, errnoOf, typeError } from '../errors';

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

/** A subnet that overlaps another network's (EBUSY): dockerd's "Pool overlaps with other one on this address space". */
export class SubnetOverlapError extends CnmObjectError {
  constructor(message: string, readonly subnet: string, readonly other: string) {
    super(message, 'EBUSY');
  }
}

/** A wrong type, in Node's convention (`ERR_INVALID_ARG_TYPE`), as the lower layers report it. */
export const invalidType = (field: string, expected: string, got: unknown) => typeError(field, expected, got);
