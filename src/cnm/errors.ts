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

/** A static address handed out already or reserved (EADDRINUSE): dockerd's 403 "Address already in use". */
export class AddressInUseError extends CnmObjectError {
  constructor(message: string) { super(message, 'EADDRINUSE'); }
}

/** No free address left in a network's subnets (ENOSPC): dockerd's 503 "no available addresses on this pool". */
export class AddressesExhaustedError extends CnmObjectError {
  constructor(message: string) { super(message, 'ENOSPC'); }
}

/** No default pool left for a new network's subnet (ENOSPC): dockerd's 400 "all predefined address pools have been fully subnetted". */
export class PoolsExhaustedError extends CnmObjectError {
  constructor(message: string) { super(message, 'ENOSPC'); }
}

/** A wrong type, in Node's convention (`ERR_INVALID_ARG_TYPE`), as the lower layers report it. */
export const invalidType = (field: string, expected: string, got: unknown) => typeError(field, expected, got);
