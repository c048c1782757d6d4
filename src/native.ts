// The addon's surface, typed. Loaded through node-gyp-build (prebuilds first,
// then build/). Everything here is mechanism; policy lives in the callers.
import * as path from 'path';
import { NetlinkError, ValidationError } from './errors';

/** One decoded netlink message as the addon returns it. */
export interface RawMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** NLMSG_ERROR / NLMSG_DONE: positive errno (0 = ACK). */
  error?: number;
  code?: string;
  extack?: string;
  extackOffset?: number;
  missingAttr?: number;
  reqType?: number;
  /** Parsed object for known message types. */
  body?: any;
  /** The whole message, for types no parser knows. */
  raw?: Buffer;
  /** Set on the marker the addon returns when the kernel dropped messages. */
  overrun?: boolean;
  /** Set when the message failed validation (EBADMSG naming the bad attribute); `raw` holds its bytes. */
  malformed?: Error & { code?: string; errno?: number };
}

export interface NativeSocket {
  write(buf: Buffer): number;
  writeAsync(buf: Buffer): number;
  read(maxDatagrams?: number): RawMessage[];
  addMembership(group: number): void;
  dropMembership(group: number): void;
  setStrict(on: boolean): void;
  ref(): void;
  unref(): void;
  close(): void;
  readonly portId: number;
  readonly fd: number;
  readonly rcvbuf: number;
}

export interface Binding {
  setErrorClass(cls: Function, invalid?: Function): void;
  strerror(errno: number): { code: string; message: string };
  /** Decodes one datagram of a protocol as NetlinkSocket.read() does (tests, fuzzing). */
  nlParse(protocol: number, buf: Buffer): RawMessage[];
  NetlinkSocket: new (protocol: number, nsFd: number, rcvbuf: number, onReadable?: () => void, adoptFd?: number) => NativeSocket;
  netnsNewAsync(bindPath?: string, setup?: { sysctls?: [string, string][]; loUp?: boolean; netlinkProtocol?: number; netfilterSocket?: boolean; bound?: { family: number; type: number; address: string; port: number }[] }): Promise<{ fd: number; sockFd?: number; nfSockFd?: number; boundFds?: number[] }>;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string): void;
  /** umount2 of each path (then unlink, with `unlink`: not mounted is fine then) on up to 32 pool threads; one entry per path: undefined or its error. */
  umountManyAsync(targets: string[], flags: number, unlink: boolean): Promise<(Error | undefined)[]>;
  /** Which of these network namespaces (nsfs device, inodes) a thread of any process is in or an fd refers to (walks /proc on a pool thread). */
  procNetnsHoldersAsync(dev: number, inodes: number[]): Promise<number[]>;
  /** Calls `cb` once, when any fd is readable (its polls closed first, so a Node handle may take the fds then); does not keep the loop alive. */
  watchReadable(fds: number[], cb: () => void): number;
  /** Stops a watch (its callback is not called); an unknown id is fine. */
  unwatchReadable(id: number): void;
  procFileInNetns(nsFd: number, path: string, value?: string): string;
  socketInNetns(nsFd: number, family: number, type: number, addr?: string, port?: number, proto?: number, flags?: number): number;
  closeFd(fd: number): void;
  flock(fd: number, lock: boolean): boolean;
  linkAdd(req: object, flags: number): Buffer;
  linkChange(req: object, flags: number): Buffer;
  linkDelete(req: object, flags: number): Buffer;
  linkGet(req: object, flags: number): Buffer;
  addrAdd(req: object, flags: number): Buffer;
  addrDelete(req: object, flags: number): Buffer;
  addrDump(req: object, flags: number): Buffer;
  routeBuild(req: object, type: number, flags: number): Buffer;
  routeDump(req: object, flags: number): Buffer;
  routeGet(req: object, flags: number): Buffer;
  neighBuild(req: object, type: number, flags: number): Buffer;
  neighDump(req: object, flags: number): Buffer;
  [name: string]: any;
}

// eslint-disable-next-line @typescript-eslint/no-var-requires
const load = require('node-gyp-build');

function findRoot(): string {
  // dist/src/native.js or src/native.ts: the package root holds binding.gyp.
  let dir = __dirname;
  for (let i = 0; i < 4; i++) {
    if (require('fs').existsSync(path.join(dir, 'binding.gyp'))) return dir;
    dir = path.dirname(dir);
  }
  return path.join(__dirname, '..', '..');
}

export const native: Binding = load(findRoot());
native.setErrorClass(NetlinkError, ValidationError);
