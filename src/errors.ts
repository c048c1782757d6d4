// Error classes. Like Node's system errors: `code` ('EEXIST'), `errno`
// (positive), plus the operation and the kernel's extended-ACK text.
import * as os from 'os';

export class CnmError extends Error {
  code: string;
  errno?: number;
  constructor(message: string, code: string, errno?: number) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    if (errno !== undefined) this.errno = errno;
  }
}

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

export function errnoOf(code: string): number | undefined {
  const n = (os.constants.errno as Record<string, number>)[code];
  return n;
}

export function codeOf(errno: number): string {
  if (errno === 95) return 'EOPNOTSUPP';
  if (errno === 11) return 'EAGAIN';
  for (const [k, v] of Object.entries(os.constants.errno)) if (v === errno) return k;
  return 'EUNKNOWN';
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
  // Lazy: native.ts imports this file to register NetlinkError.
  const { native } = require('./native');
  return native.strerror(errno).message;
}
