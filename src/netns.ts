// Network namespaces, like `ip netns`. Named namespaces are pinned by a bind
// mount under /run/netns (so `ip netns` and `ip -n` see them); anonymous
// ones live as long as an fd refers to them.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { native } from './native';
import { Fifo } from './util/fifo';
import { NetlinkError, ValidationError, checkBool, checkCString, checkFamily, checkEnum, checkInt, checkKeys, checkObject, checkOptions, typeError } from './errors';
import { parseIp } from './util/ip';
import { NETLINK_ROUTE } from './netlink/constants';

const MS_BIND = 4096;
const MS_REC = 16384;
const MS_SHARED = 1 << 20;
const MNT_DETACH = 2;

export function netnsRunDir(): string {
  return process.env.NETNS_RUN_DIR || '/run/netns';
}

/** Checks a namespace name the way `ip netns add` does (a file name). */
export function validateNetnsName(name: string): void {
  if (typeof name !== 'string') throw typeError('network namespace name', 'a string', name);
  if (name.length === 0 || name.length > 255 || name.includes('/') ||
      name === '.' || name === '..' || name.includes('\0')) {
    throw new ValidationError(`invalid network namespace name: ${JSON.stringify(name)}`);
  }
}

let runDirReady = false;
// Like iproute2: make the run dir a shared mount point so a namespace pinned
// here is visible to other mount namespaces, and unmounts propagate.
function ensureRunDir(): void {
  if (runDirReady) return;
  const dir = netnsRunDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  try {
    native.mount('none', dir, 'none', MS_SHARED | MS_REC, undefined);
  } catch (e: any) {
    if (e.code !== 'EINVAL') throw e;
    native.mount(dir, dir, 'none', MS_BIND | MS_REC, undefined);
    native.mount('none', dir, 'none', MS_SHARED | MS_REC, undefined);
  }
  runDirReady = true;
}

// Lazy unmount off the loop (it waits for an RCU grace period), then the
// file goes, like `ip netns delete`. Not mounted (EINVAL) is fine. Removals
// asked for in the same tick go to the addon as one call, which spreads
// them over its threads (1,000 sandboxes deleted at once: one call).
let unpinning: { path: string; resolve: () => void; reject: (e: Error) => void }[] = [];
function unpin(p: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!unpinning.length) queueMicrotask(unpinNow);
    unpinning.push({ path: p, resolve, reject });
  });
}

function unpinNow(): void {
  const batch = unpinning;
  unpinning = [];
  native.umountManyAsync(batch.map((b) => b.path), MNT_DETACH, true).then((errs) => {
    batch.forEach((b, i) => (errs[i] ? b.reject(errs[i]!) : b.resolve()));
  }, (e: Error) => { for (const b of batch) b.reject(e); });
}

// Namespace creation takes the RTNL lock inside the kernel (loopback, per-net
// notifiers): a thread per namespace all at once only makes them queue on it
// and on the CPUs. A few at a time keep the cores busy without the convoy
// (1,000 sandboxes: 1,000 threads at once took 1.5x as long as 4, measured here).
const CPUS = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;

/** Runs at most `max` of the given jobs at once, in call order. */
function limiter(max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting = new Fifo<() => void>();
  return async (fn) => {
    if (running < max) running++;
    else await new Promise<void>((r) => waiting.push(r));  // the slot is handed over
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

const limited = limiter(Math.min(8, 2 * CPUS));

// Namespaces asked about together share one walk of /proc.
let heldQueries = new Map<string, { dev: number; ino: number; waiting: ((held: boolean) => void)[] }>();

/**
 * Whether anything but its own /run/netns mount keeps the namespace pinned at
 * `nsPath` alive: a process or thread in it, an open handle (also one opened
 * through a bind mount), another bind mount in this mount namespace. Calls
 * made in the same tick share one walk of /proc.
 */
export function netnsHeldElsewhere(nsPath: string): Promise<boolean> {
  let st: fs.Stats;
  try { st = fs.statSync(nsPath); } catch { return Promise.resolve(false); }
  return new Promise((resolve) => {
    if (!heldQueries.size) setImmediate(() => void walkProcForNetns());
    const key = `${st.dev}/${st.ino}`;
    const q = heldQueries.get(key) ?? { dev: st.dev, ino: st.ino, waiting: [] };
    q.waiting.push(resolve);
    heldQueries.set(key, q);
  });
}

async function walkProcForNetns(): Promise<void> {
  const q = heldQueries;
  heldQueries = new Map();
  const held = new Set<string>();
  try {
    // Threads and fds of every process, off the loop (one walk per nsfs device: there is one).
    for (const dev of new Set([...q.values()].map((x) => x.dev))) {
      const inodes = [...q.values()].filter((x) => x.dev === dev).map((x) => x.ino);
      for (const ino of await native.procNetnsHoldersAsync(dev, inodes)) held.add(`${dev}/${ino}`);
    }
  } catch { /* no thread for the walk: the mounts below are still checked */ }
  try {
    // Other bind mounts of it in this mount namespace.
    const inos = new Map([...q.values()].map((x) => [x.ino, `${x.dev}/${x.ino}`]));
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      const m = f[3] && /^net:\[(\d+)\]$/.exec(f[3]);
      if (m && !f[4]?.startsWith(netnsRunDir() + '/') && inos.has(Number(m[1]))) held.add(inos.get(Number(m[1]))!);
    }
  } catch { /* no mountinfo: threads and fds were checked */ }
  for (const [k, x] of q) for (const r of x.waiting) r(held.has(k));
}

export type NetnsSpec = string | { path: string } | { pid: number } | Netns;

/** Set-up done by the thread that creates a namespace, before anyone else sees it. */
export interface NetnsCreateOptions {
  /** Sysctls of the new namespace, like `ip netns exec NS sysctl -w K=V`: { 'ipv6.conf.default.addr_gen_mode': 1 }. */
  sysctls?: Record<string, string | number>;
  /** Bring the loopback up, like `ip -n NS link set lo up`. */
  loUp?: boolean;
  /**
   * Also make a NETLINK_ROUTE socket inside: the first `Rtnl.open({ netns })`
   * on this handle adopts it instead of entering the namespace again.
   */
  rtnlSocket?: boolean;
  /**
   * Sockets made and bound inside by the creating thread (no second thread
   * enters the namespace for them), handed over once by `takeBoundSockets`:
   * e.g. a resolver's UDP and TCP sockets on 127.0.0.11:53.
   */
  boundSockets?: { family: 4 | 6; type: 'tcp' | 'udp'; address: string; port: number }[];
  /** Also a NETLINK_NETFILTER socket, which the first `Nft.open` of this namespace adopts. */
  nftSocket?: boolean;
  /**
   * Netlink messages the creating thread sends on that NETLINK_NETFILTER
   * socket (needs `nftSocket`): all but the last in one sendmsg (a batch),
   * then the last alone, waiting for its ACK: e.g. `Nft.encode(...)` of a ruleset the namespace starts with. A
   * refused message fails the creation.
   */
  netfilterMessages?: Buffer[];
}

function netfilterMessages(v: unknown, socket: boolean): Buffer[] {
  if (!Array.isArray(v) || !v.every((b) => Buffer.isBuffer(b))) throw typeError('netfilterMessages', 'a list of Buffers', v);
  if (!socket) throw new ValidationError('netfilterMessages needs nftSocket: true');
  for (const [i, b] of v.entries()) {
    if (b.length < 16 || b.length % 4 || b.readUInt32LE(0) !== b.length) throw new ValidationError(`netfilterMessages[${i}] is not one netlink message`);
  }
  return v;
}

function boundSocketSpecs(v: unknown): { family: number; type: number; address: string; port: number }[] {
  if (!Array.isArray(v)) throw typeError('boundSockets', 'a list', v);
  return v.map((b, i) => {
    checkObject(b, `boundSockets[${i}]`);
    checkKeys(b, ['family', 'type', 'address', 'port'], `boundSockets[${i}]`);
    if (b.family !== 4 && b.family !== 6) throw new ValidationError(`boundSockets[${i}].family must be 4 or 6`);
    const type = { tcp: 1, udp: 2 }[checkEnum(b.type, `boundSockets[${i}].type`, ['tcp', 'udp'] as const)];
    const a = parseIp(b.address, `boundSockets[${i}].address`, b.family);
    return { family: b.family === 6 ? 10 : 2, type, address: a.address, port: checkInt(b.port, `boundSockets[${i}].port`, 0, 65535) };
  });
}

function sysctlPath(key: string): string {
  if (typeof key !== 'string') throw typeError('sysctl key', 'a string', key);
  if (key.includes('..')) throw new ValidationError(`invalid sysctl key: ${key}`);
  const rel = key.replace(/^\/proc\/sys\//, '').replace(/^net[./]/, '').replace(/\./g, '/');
  if (!/^[A-Za-z0-9_\-/@]+$/.test(rel) || rel.includes('..')) throw new ValidationError(`invalid sysctl key: ${key}`);
  return `/proc/sys/net/${rel}`;
}

/** A sysctl value: a string or an integer, written as is (no booleans, no objects). */
function sysctlValue(v: unknown, key: string): string {
  if (typeof v === 'number') return String(checkInt(v, `sysctl ${key}`, -0x80000000, 0xffffffff));
  const s = checkCString(v, `sysctl ${key}`, 4096);
  // An empty write changes nothing and a newline ends what the kernel reads: neither is what was asked.
  if (!s.trim() || /[\n\r]/.test(s.replace(/\n$/, ''))) throw new ValidationError(`sysctl ${key}: ${JSON.stringify(s)} is not one value (empty, or several lines)`);
  return s;
}

/** A socket's bind options, checked; `required`: address and port must be given. */
function bindArgs(family: 4 | 6, bind: { address?: string; port?: number; reuseAddr?: boolean; v6only?: boolean }, required: boolean): { address?: string; port: number; flags: number } {
  checkObject(bind, 'bind');
  checkKeys(bind, ['address', 'port', 'reuseAddr', 'v6only'], 'bind');
  for (const k of ['reuseAddr', 'v6only'] as const) if (bind[k] !== undefined && typeof bind[k] !== 'boolean') throw typeError(`bind.${k}`, 'a boolean', bind[k]);
  const address = bind.address !== undefined || required ? parseIp(bind.address!, 'bind address', family).address : undefined;
  // The kernel keeps the low 16 bits: 70000 would bind 4464.
  const port = bind.port === undefined && !required ? 0 : checkInt(bind.port, 'port', 0, 65535);
  return { address, port, flags: (bind.reuseAddr === false ? 1 : 0) | (bind.v6only ? 2 : 0) };
}

export class Netns {
  private readonly nsFd: number;
  /** Name under the run dir, for named namespaces. */
  readonly name?: string;
  /** Path the namespace was opened from. */
  readonly path?: string;
  private closed = false;
  /** A NETLINK_ROUTE socket made inside at creation, until someone adopts it. */
  private rtnlFd?: number;

  private constructor(fd: number, name?: string, p?: string) {
    this.nsFd = fd;
    this.name = name;
    this.path = p;
  }

  /**
   * Creates a namespace: named like `ip netns add NAME`, anonymous without a
   * name (it dies when closed and nothing else holds it).
   */
  static async create(name?: string, opts: NetnsCreateOptions = {}): Promise<Netns> {
    opts = checkOptions<NetnsCreateOptions>(opts, 'Netns.create options');
    checkKeys(opts, ['sysctls', 'loUp', 'rtnlSocket', 'boundSockets', 'nftSocket', 'netfilterMessages'], 'Netns.create');
    const sysctls = opts.sysctls === undefined ? {} : checkObject<Record<string, string | number>>(opts.sysctls, 'sysctls');
    // Created on a dedicated thread while the loop goes on (see netns.cc).
    const setup = {
      sysctls: Object.entries(sysctls).map(([k, v]) => [sysctlPath(k), sysctlValue(v, k)] as [string, string]),
      loUp: opts.loUp === undefined ? false : checkBool(opts.loUp, 'loUp'),
      netlinkProtocol: opts.rtnlSocket !== undefined && checkBool(opts.rtnlSocket, 'rtnlSocket') ? NETLINK_ROUTE : undefined,
      bound: opts.boundSockets === undefined ? undefined : boundSocketSpecs(opts.boundSockets),
      netfilterSocket: opts.nftSocket === undefined ? undefined : checkBool(opts.nftSocket, 'nftSocket'),
      nfMessages: opts.netfilterMessages === undefined ? undefined : netfilterMessages(opts.netfilterMessages, opts.nftSocket === true),
    };
    if (name === undefined) return Netns.made(await limited(() => native.netnsNewAsync(undefined, setup)));
    validateNetnsName(name);
    ensureRunDir();
    const p = path.join(netnsRunDir(), name);
    try {
      fs.closeSync(fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0));
    } catch (e: any) {
      if (e.code === 'EEXIST') throw new NetlinkError(`network namespace "${name}" already exists`, 'EEXIST', 17);
      throw e;
    }
    try {
      return Netns.made(await limited(() => native.netnsNewAsync(p, setup)), name, p);
    } catch (e) {
      fs.rmSync(p, { force: true });
      throw e;
    }
  }

  /**
   * fd referring to the namespace (keeps it alive while open). After
   * close() it is EBADF: the number may already name another namespace,
   * and a veth peer sent there would land in the wrong place.
   */
  get fd(): number {
    if (this.closed) throw new NetlinkError(`network namespace ${this.name ? `"${this.name}"` : this.path ?? '(anonymous)'} is closed`, 'EBADF', 9);
    return this.nsFd;
  }

  /** Whether close() was called (then every use is EBADF). */
  get isClosed(): boolean { return this.closed; }

  /** The fd of an open Netns given as an option (`netns:`), else a coded error. */
  static fdOf(ns: unknown, what = 'netns'): number {
    if (!(ns instanceof Netns)) throw typeError(what, 'a Netns', ns);
    return ns.fd;
  }

  private static made(r: { fd: number; sockFd?: number; nfSockFd?: number; boundFds?: number[]; nfSent?: boolean }, name?: string, p?: string): Netns {
    const ns = new Netns(r.fd, name, p);
    ns.netfilterApplied = !!r.nfSent;
    ns.rtnlFd = r.sockFd;
    ns.nftFd = r.nfSockFd;
    ns.boundFds = r.boundFds?.length ? r.boundFds : undefined;
    return ns;
  }

  private boundFds?: number[];
  private nftFd?: number;
  /** Whether the creating thread sent `netfilterMessages` and the kernel took them all. */
  netfilterApplied = false;

  /** Hands over the NETLINK_NETFILTER socket made at creation (once), or undefined. */
  takeNftSocket(): number | undefined {
    void this.fd;  // EBADF once closed
    const fd = this.nftFd;
    this.nftFd = undefined;
    return fd;
  }

  /** Hands over the sockets `boundSockets` made at creation (once, in that order), or undefined. */
  takeBoundSockets(): number[] | undefined {
    void this.fd;  // EBADF once closed
    const fds = this.boundFds;
    this.boundFds = undefined;
    return fds;
  }

  /** Hands over the NETLINK_ROUTE socket made at creation (once), or undefined. */
  takeRtnlSocket(): number | undefined {
    void this.fd;  // EBADF once closed
    const fd = this.rtnlFd;
    this.rtnlFd = undefined;
    return fd;
  }

  /** Opens a named namespace, a path (/proc/PID/ns/net, a bind mount) or a pid's. */
  static async open(spec: NetnsSpec): Promise<Netns> {
    if (spec instanceof Netns) return new Netns(fs.openSync(`/proc/self/fd/${spec.fd}`, 'r'), spec.name, spec.path);
    let p: string;
    let name: string | undefined;
    if (typeof spec === 'string') {
      validateNetnsName(spec);
      name = spec;
      p = path.join(netnsRunDir(), spec);
    } else if (spec !== null && typeof spec === 'object' && 'pid' in spec) {
      checkKeys(spec, ['pid'], 'Netns.open');
      if (checkInt(spec.pid, 'pid', 0, 0x7fffffff) <= 0) throw new ValidationError(`invalid pid: ${spec.pid}`);
      p = `/proc/${spec.pid}/ns/net`;
    } else if (spec !== null && typeof spec === 'object' && 'path' in spec) {
      checkKeys(spec, ['path'], 'Netns.open');
      p = checkCString(spec.path, 'path');
      if (!p) throw new ValidationError('path is empty');
    } else {
      throw typeError('Netns.open argument', 'a name, { path }, { pid } or a Netns', spec);
    }
    let fd: number;
    try {
      fd = fs.openSync(p, fs.constants.O_RDONLY);
    } catch (e: any) {
      if (e.code === 'ENOENT') throw new NetlinkError(`network namespace ${name ? `"${name}"` : p} does not exist`, 'ENOENT', 2);
      throw e;
    }
    const ns = new Netns(fd, name, p);
    // A plain file under the run dir that is not a namespace mount is not one.
    const st = fs.fstatSync(fd);
    const root = fs.statSync('/proc/self/ns/net');
    // (Every namespace file is on nsfs. Opened through /proc, the fd's link
    // names the kind, "net:[4026...]"; through a bind mount it shows the path.)
    let kind = '';
    try { kind = /^([a-z_]+):\[\d+\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`))?.[1] ?? ''; } catch { /* as a path */ }
    if (st.dev !== root.dev || (kind && kind !== 'net')) {
      ns.close();
      throw new NetlinkError(`${p} is not a network namespace`, 'EINVAL', 22);
    }
    return ns;
  }

  /** The calling process's namespace. */
  static current(): Netns {
    return new Netns(fs.openSync('/proc/self/ns/net', 'r'), undefined, '/proc/self/ns/net');
  }

  /** Names of pinned namespaces, like `ip netns list`. */
  static list(): string[] {
    try {
      return fs.readdirSync(netnsRunDir()).sort();
    } catch (e: any) {
      if (e.code === 'ENOENT') return [];
      throw e;
    }
  }

  /** Device and inode of the namespace: equal ids mean the same namespace. */
  id(): { dev: number; ino: number } {
    const st = fs.fstatSync(this.fd);
    return { dev: st.dev, ino: st.ino };
  }

  equals(other: Netns): boolean {
    if (!(other instanceof Netns)) throw typeError('other', 'a Netns', other);
    const a = this.id();
    const b = other.id();
    return a.dev === b.dev && a.ino === b.ino;
  }

  /**
   * Reads (and with a value, writes) a sysctl of this namespace, like
   * `ip netns exec NS sysctl net.ipv4.ip_forward=1`. Key: 'ipv4.ip_forward'
   * or 'net.ipv4.ip_forward' or a path under /proc/sys/net.
   */
  sysctl(key: string, value?: string | number): string {
    const p = sysctlPath(key);
    const v = value === undefined ? undefined : sysctlValue(value, key);
    const out = native.procFileInNetns(this.fd, p, v);
    return v === undefined ? out.trim() : v;
  }

  /**
   * Creates a socket inside this namespace (optionally bound); returns its fd.
   * Node adopts it with `new net.Socket({ fd })` or `server.listen({ fd })`.
   * TCP sockets get SO_REUSEADDR unless `reuseAddr: false` (then a bound one
   * holds its port against every later bind); `v6only` sets IPV6_V6ONLY.
   */
  socket(family: 4 | 6, type: 'tcp' | 'udp' | 'raw', bind?: { address?: string; port?: number; reuseAddr?: boolean; v6only?: boolean }, proto = 0): number {
    checkFamily(family);
    const t = { tcp: 1, udp: 2, raw: 3 }[checkEnum(type, 'socket type', ['tcp', 'udp', 'raw'] as const)];
    checkInt(proto, 'protocol', 0, 255);
    const b = bind === undefined ? { port: -1, flags: 0 } : bindArgs(family, bind, false);
    return native.socketInNetns(this.fd, family === 6 ? 10 : 2, t, b.address, b.port, proto, b.flags);
  }

  /**
   * A socket in this thread's own namespace, made without entering any (no
   * thread): `socket()` of the current namespace, for callers that make many.
   */
  static socketHere(family: 4 | 6, type: 'tcp' | 'udp', bind: { address: string; port: number; reuseAddr?: boolean; v6only?: boolean }): number {
    // Checked as socket() checks (a cheap path, not a lax one); address and port required.
    checkFamily(family);
    checkEnum(type, 'socket type', ['tcp', 'udp'] as const);
    const b = bindArgs(family, bind, true);
    return native.socketInNetns(-1, family === 6 ? 10 : 2, type === 'tcp' ? 1 : 2, b.address, b.port, 0, b.flags);
  }

  /** Removes a named namespace, like `ip netns delete`; closes this handle. */
  async delete(): Promise<void> {
    void this.fd;  // EBADF once closed
    if (!this.name) throw new ValidationError('only named namespaces can be deleted; close() an anonymous one');
    const p = path.join(netnsRunDir(), this.name);
    this.close();
    await unpin(p);
  }

  /** Deletes a pinned namespace by name. */
  static async delete(name: string): Promise<void> {
    validateNetnsName(name);
    const p = path.join(netnsRunDir(), name);
    if (!fs.existsSync(p)) throw new NetlinkError(`network namespace "${name}" does not exist`, 'ENOENT', 2);
    await unpin(p);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.rtnlFd !== undefined) native.closeFd(this.rtnlFd);
    this.rtnlFd = undefined;
    if (this.nftFd !== undefined) native.closeFd(this.nftFd);
    this.nftFd = undefined;
    for (const fd of this.boundFds ?? []) native.closeFd(fd);
    this.boundFds = undefined;
    fs.closeSync(this.nsFd);
  }
}
