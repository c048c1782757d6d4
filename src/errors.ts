// Error classes. Like Node's system errors: `code` ('EEXIST'), `errno`
// (positive), plus the operation and the kernel's extended-ACK text.

/**
 * Linux errno names by number: asm-generic/errno-base.h and errno.h (1..133;
 * 41 and 58 are unassigned there), plus the kernel-internal values of
 * include/linux/errno.h that can leak out of netlink (ENOTSUPP, 524, mostly).
 * os.constants.errno lacks many (EXFULL, ENOTUNIQ, ...).
 */
export const ERRNO_NAMES: Readonly<Record<number, string>> = Object.freeze({
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 5: 'EIO', 6: 'ENXIO', 7: 'E2BIG', 8: 'ENOEXEC',
  9: 'EBADF', 10: 'ECHILD', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 14: 'EFAULT', 15: 'ENOTBLK',
  16: 'EBUSY', 17: 'EEXIST', 18: 'EXDEV', 19: 'ENODEV', 20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL',
  23: 'ENFILE', 24: 'EMFILE', 25: 'ENOTTY', 26: 'ETXTBSY', 27: 'EFBIG', 28: 'ENOSPC', 29: 'ESPIPE',
  30: 'EROFS', 31: 'EMLINK', 32: 'EPIPE', 33: 'EDOM', 34: 'ERANGE',
  35: 'EDEADLK', 36: 'ENAMETOOLONG', 37: 'ENOLCK', 38: 'ENOSYS', 39: 'ENOTEMPTY', 40: 'ELOOP',
  42: 'ENOMSG', 43: 'EIDRM', 44: 'ECHRNG', 45: 'EL2NSYNC', 46: 'EL3HLT', 47: 'EL3RST', 48: 'ELNRNG',
  49: 'EUNATCH', 50: 'ENOCSI', 51: 'EL2HLT', 52: 'EBADE', 53: 'EBADR', 54: 'EXFULL', 55: 'ENOANO',
  56: 'EBADRQC', 57: 'EBADSLT', 59: 'EBFONT', 60: 'ENOSTR', 61: 'ENODATA', 62: 'ETIME', 63: 'ENOSR',
  64: 'ENONET', 65: 'ENOPKG', 66: 'EREMOTE', 67: 'ENOLINK', 68: 'EADV', 69: 'ESRMNT', 70: 'ECOMM',
  71: 'EPROTO', 72: 'EMULTIHOP', 73: 'EDOTDOT', 74: 'EBADMSG', 75: 'EOVERFLOW', 76: 'ENOTUNIQ',
  77: 'EBADFD', 78: 'EREMCHG', 79: 'ELIBACC', 80: 'ELIBBAD', 81: 'ELIBSCN', 82: 'ELIBMAX',
  83: 'ELIBEXEC', 84: 'EILSEQ', 85: 'ERESTART', 86: 'ESTRPIPE', 87: 'EUSERS', 88: 'ENOTSOCK',
  89: 'EDESTADDRREQ', 90: 'EMSGSIZE', 91: 'EPROTOTYPE', 92: 'ENOPROTOOPT', 93: 'EPROTONOSUPPORT',
  94: 'ESOCKTNOSUPPORT', 95: 'EOPNOTSUPP', 96: 'EPFNOSUPPORT', 97: 'EAFNOSUPPORT', 98: 'EADDRINUSE',
  99: 'EADDRNOTAVAIL', 100: 'ENETDOWN', 101: 'ENETUNREACH', 102: 'ENETRESET', 103: 'ECONNABORTED',
  104: 'ECONNRESET', 105: 'ENOBUFS', 106: 'EISCONN', 107: 'ENOTCONN', 108: 'ESHUTDOWN',
  109: 'ETOOMANYREFS', 110: 'ETIMEDOUT', 111: 'ECONNREFUSED', 112: 'EHOSTDOWN', 113: 'EHOSTUNREACH',
  114: 'EALREADY', 115: 'EINPROGRESS', 116: 'ESTALE', 117: 'EUCLEAN', 118: 'ENOTNAM', 119: 'ENAVAIL',
  120: 'EISNAM', 121: 'EREMOTEIO', 122: 'EDQUOT', 123: 'ENOMEDIUM', 124: 'EMEDIUMTYPE',
  125: 'ECANCELED', 126: 'ENOKEY', 127: 'EKEYEXPIRED', 128: 'EKEYREVOKED', 129: 'EKEYREJECTED',
  130: 'EOWNERDEAD', 131: 'ENOTRECOVERABLE', 132: 'ERFKILL', 133: 'EHWPOISON',
  // Kernel-internal (include/linux/errno.h): never meant for user space, but netlink passes some on.
  512: 'ERESTARTSYS', 513: 'ERESTARTNOINTR', 514: 'ERESTARTNOHAND', 515: 'ENOIOCTLCMD',
  516: 'ERESTART_RESTARTBLOCK', 517: 'EPROBE_DEFER', 518: 'EOPENSTALE', 519: 'ENOPARAM',
  521: 'EBADHANDLE', 522: 'ENOTSYNC', 523: 'EBADCOOKIE', 524: 'ENOTSUPP', 525: 'ETOOSMALL',
  526: 'ESERVERFAULT', 527: 'EBADTYPE', 528: 'EJUKEBOX', 529: 'EIOCBQUEUED', 530: 'ERECALLCONFLICT',
});

/** Texts for the kernel-internal values (strerror says only "Unknown error 524"). */
const INTERNAL_TEXT: Record<number, string> = {
  512: 'Restart system call', 515: 'No ioctl command', 517: 'Probe deferred', 519: 'Parameter not supported',
  524: 'Operation not supported (kernel-internal ENOTSUPP)', 525: 'Buffer or request is too small',
  527: 'Type not supported by server',
};

const ERRNO_BY_NAME: Record<string, number> = Object.fromEntries(
  [...Object.entries(ERRNO_NAMES).map(([n, k]) => [k, Number(n)]), ['EWOULDBLOCK', 11], ['EDEADLOCK', 35]]);

export class CnmError extends Error {
  code: string;
  // Declared, not defined: the accessor below must not be shadowed.
  declare errno?: number;
  constructor(message: string, code: string, errno?: number) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    if (errno !== undefined) this.errno = errno;
  }
}

// The addon builds its errors as `new NetlinkError(msg)`, then sets `code`
// (from a short table: 'EUNKNOWN' for the rest) and `errno`: naming the
// errno here gives every native error its real code too.
Object.defineProperty(CnmError.prototype, 'errno', {
  configurable: true,
  enumerable: false,
  get() { return undefined; },
  set(this: any, v: number | undefined) {
    Object.defineProperty(this, 'errno', { value: v, writable: true, configurable: true, enumerable: true });
    const name = typeof v === 'number' ? ERRNO_NAMES[v] : undefined;
    if (name && (this.code === 'EUNKNOWN' || this.code === undefined)) {
      if (typeof this.message === 'string') this.message = this.message.replace(/^EUNKNOWN\b/, name).replace(/: EUNKNOWN \(/, `: ${name} (`);
      this.code = name;
    }
  },
});

/** A kernel or syscall error (netlink NLMSG_ERROR, setns, mount, ...). */
export class NetlinkError extends CnmError {
  syscall?: string;
  /** What we were doing, e.g. 'link.add veth0'. */
  op?: string;
  /** The kernel's extended-ACK message, when it sent one. */
  extack?: string;
  constructor(message: string, code = 'EUNKNOWN', errno?: number) {
    super(message, code, errno);
  }
}

/** Bad input caught before anything was sent to the kernel. */
export class ValidationError extends CnmError {
  constructor(message: string, code = 'EINVAL') {
    super(message, code, errnoOf(code));
  }
}

/**
 * An argument of the wrong type (Node's `ERR_INVALID_ARG_TYPE`): a string
 * where a number belongs, null where an object does. Also a ValidationError,
 * so callers that catch bad input catch these too.
 */
export class InvalidArgTypeError extends ValidationError {
  constructor(message: string) {
    super(message, 'ERR_INVALID_ARG_TYPE');
  }
}

export function errnoOf(code: string): number | undefined {
  return ERRNO_BY_NAME[code];
}

/** The errno's name ('EXFULL'); 'EUNKNOWN' only for numbers Linux does not assign. */
export function codeOf(errno: number): string {
  return ERRNO_NAMES[errno] ?? 'EUNKNOWN';
}

/** Builds the error for a failed netlink request. */
export function kernelError(errno: number, op: string, extack?: string): NetlinkError {
  const code = codeOf(errno);
  const text = describe(errno);
  const msg = `${op}: ${code} (${text})${extack ? `: ${extack}` : ''}`;
  const e = new NetlinkError(msg, code, errno);
  e.op = op;
  if (extack) e.extack = extack;
  return e;
}

function describe(errno: number): string {
  if (INTERNAL_TEXT[errno]) return INTERNAL_TEXT[errno];
  // Lazy: native.ts imports this file to register NetlinkError.
  const { native } = require('./native');
  return native.strerror(errno).message;
}

// ---- argument checks ------------------------------------------------------
// Shared by every public entry point: a wrong type is ERR_INVALID_ARG_TYPE,
// a bad value of the right type EINVAL. Nothing is coerced.

/** A value as JSON in a message, or as text where JSON has none (a BigInt, a Symbol): never a throw of its own. */
export function quote(v: unknown): string {
  try { return JSON.stringify(v) ?? String(v); } catch { return typeof v === 'bigint' ? `${v}n` : typeof v === 'symbol' ? v.toString() : Object.prototype.toString.call(v); }
}

/** How a received value reads in a message: `string '0x5dc'`, `null`, `an array`. */
export function received(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  if (typeof v === 'function') return 'a function';
  const c = (v as object).constructor;
  return c && c !== Object ? `an instance of ${c.name}` : 'an object';
}

export function typeError(what: string, expected: string, v: unknown): InvalidArgTypeError {
  return new InvalidArgTypeError(`${what} must be ${expected} (received ${received(v)})`);
}

/** A plain object (not null, not an array). */
export function checkObject<T = Record<string, unknown>>(v: unknown, what: string): T {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw typeError(what, 'an object', v);
  // A plain object: a Date or a Number passed by mistake is not {} with defaults.
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) throw typeError(what, 'a plain object', v);
  return v as T;
}

/** An optional options argument: undefined gives {}. */
export function checkOptions<T = Record<string, unknown>>(v: unknown, what: string): T {
  return v === undefined ? ({} as T) : checkObject<T>(v, what);
}

export function checkBool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw typeError(what, 'a boolean', v);
  return v;
}

export function checkString(v: unknown, what: string): string {
  if (typeof v !== 'string') throw typeError(what, 'a string', v);
  return v;
}

/** A string without NUL bytes (C would stop at the first one and use the rest). */
export function checkCString(v: unknown, what: string, maxBytes?: number): string {
  const s = checkString(v, what);
  if (s.includes('\0')) throw new ValidationError(`${what} must not contain a NUL byte: ${JSON.stringify(s)}`);
  if (maxBytes !== undefined && Buffer.byteLength(s) > maxBytes) throw new ValidationError(`${what} is longer than ${maxBytes} bytes: ${JSON.stringify(s)}`);
  return s;
}

/** An integer in [min, max]: a string ('1500', '0x5dc') is a type error, 1.5 a value error. */
export function checkInt(v: unknown, what: string, min = 0, max = 0xffffffff): number {
  if (typeof v !== 'number') throw typeError(what, 'an integer', v);
  if (!Number.isInteger(v) || v < min || v > max) throw new ValidationError(`${what} must be an integer in ${min}..${max} (received ${v})`);
  return v;
}

export function checkArray<T = unknown>(v: unknown, what: string): T[] {
  if (!Array.isArray(v)) throw typeError(what, 'a list', v);
  return v as T[];
}

/** One of the given strings. */
export function checkEnum<T extends string>(v: unknown, what: string, values: readonly T[]): T {
  if (typeof v !== 'string') throw typeError(what, `one of ${values.join(', ')}`, v);
  if (!values.includes(v as T)) throw new ValidationError(`${what} must be one of ${values.join(', ')} (received ${JSON.stringify(v)})`);
  return v as T;
}

/** Refuses keys the request does not know (a misspelt option would be silently ignored). */
export function checkKeys(o: object, known: readonly string[], what: string): void {
  for (const [k, v] of Object.entries(o)) {
    if (v !== undefined && !known.includes(k)) throw new ValidationError(`${what}: unknown option ${JSON.stringify(k)} (known: ${known.join(', ')})`);
  }
}

/** An IP family as the API takes it: 4 or 6 (5 is EINVAL, '4' a type error). */
export function checkFamily(v: unknown, what = 'family'): 4 | 6 {
  if (typeof v !== 'number') throw typeError(what, '4 or 6', v);
  if (v !== 4 && v !== 6) throw new ValidationError(`${what} must be 4 or 6 (received ${v})`);
  return v;
}

/** A number, or a name from `names` (route tables, scopes, protocols...). */
export function checkNamedNumber(v: unknown, what: string, names: Record<string, number>, max = 255): number {
  if (typeof v === 'string') {
    if (!Object.prototype.hasOwnProperty.call(names, v)) throw new ValidationError(`invalid ${what} ${JSON.stringify(v)} (a number or ${Object.keys(names).join(', ')})`);
    return names[v];
  }
  if (typeof v !== 'number') throw typeError(what, `a number or one of ${Object.keys(names).join(', ')}`, v);
  return checkInt(v, what, 0, max);
}
