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
