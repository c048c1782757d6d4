// Errors of the API layer and how they become Docker's status codes.
import { CnmError, errnoOf } from '../errors';
import { AddressesExhaustedError, AddressInUseError, PoolsExhaustedError } from '../cnm/errors';

/** An error whose HTTP status is not the one its code maps to (Docker's 403s). */
export class ApiError extends CnmError {
  constructor(readonly status: number, message: string, code: string) {
    super(message, code, errnoOf(code));
  }
}

const err = (code: string, message: string) => new CnmError(message, code, errnoOf(code));

export const badInput = (message: string) => err('EINVAL', message);
export const badType = (where: string, expected: string) => err('ERR_INVALID_ARG_TYPE', `${where} must be ${expected}`);
export const notFound = (message: string) => err('ENOENT', message);
/** A feature the library has not got yet: refused, never ignored. */
export const notYet = (what: string) => err('ENOTSUP', `${what} is not supported yet`);
/** Something Docker has that this project will not do (swarm, plugins). */
export const unsupported = (what: string) => err('ENOTSUP', `${what} is not supported`);
export const forbidden = (message: string) => new ApiError(403, message, 'EPERM');

/** Docker's status for one of our error codes: 404 unknown, 409 conflict or in use, 400 bad input, else 500. */
export function statusOf(e: unknown): number {
  if (e instanceof ApiError) return e.status;
  // The IPAM's, as libnetwork's ipamapi errors map.
  if (e instanceof AddressInUseError) return 403;
  if (e instanceof AddressesExhaustedError) return 503;
  if (e instanceof PoolsExhaustedError) return 400;
  const code = (e as { code?: unknown })?.code;
  switch (code) {
    case 'ENOENT': return 404;
    case 'EEXIST': case 'EBUSY': case 'EADDRINUSE': case 'ENOSPC': return 409;
    case 'EINVAL': case 'ERR_INVALID_ARG_TYPE': case 'ENOTSUP': case 'ERANGE': case 'ENOTUNIQ': return 400;
    default: return 500;
  }
}

/** The message of an error as the API answers it: the IPAM's with dockerd's words first (clients match them). */
export function messageOf(e: unknown): string {
  const m = String((e as { message?: unknown })?.message ?? e);
  if (e instanceof AddressInUseError) return `Address already in use: ${m}`;
  if (e instanceof AddressesExhaustedError) return `no available addresses on this pool: ${m}`;
  if (e instanceof PoolsExhaustedError) return `all predefined address pools have been fully subnetted: ${m}`;
  return m;
}

/** The code a client gets back for a status (when the body names none). */
export function codeOfStatus(status: number): string {
  switch (status) {
    case 400: return 'EINVAL';
    case 403: return 'EPERM';
    case 404: return 'ENOENT';
    case 409: return 'EEXIST';
    default: return 'EIO';
  }
}
