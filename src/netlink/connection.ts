// A request/response connection over one NetlinkSocket: sequence numbers,
// a bounded window of requests in flight, coalesced writes, multipart dumps
// with NLM_F_DUMP_INTR retries, and ENOBUFS recovery. Messages that match no
// request (multicast notifications) go to `onEvent`.
import { native, NativeSocket, RawMessage } from '../native';
import { NetlinkError, checkInt, checkOptions, codeOf, kernelError, typeError } from '../errors';
import { Fifo } from '../util/fifo';
import {
  NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
} from './constants';

export interface ConnectionOptions {
  /** fd of the network namespace to open the socket in (default: current). */
  netnsFd?: number;
  /** A netlink socket fd made elsewhere (see Netns.create's rtnlSocket) to use instead of a new one. */
  adoptFd?: number;
  /** SO_RCVBUF(FORCE) in bytes. */
  rcvbuf?: number;
  /** Most requests in flight at once; keeps the receive queue from overflowing. */
  window?: number;
  /** Called with notifications (messages no request is waiting for). */
  onEvent?: (msg: RawMessage) => void;
  /** Called when the kernel dropped messages for this socket (ENOBUFS). */
  onOverrun?: () => void;
  /** Keep the event loop alive while idle (default false: only while requests wait). */
  keepAlive?: boolean;
  /** sendto() on the loop thread instead of the addon's writer thread. */
  syncWrites?: boolean;
}

interface Request {
  buf: Buffer;
  seq: number;
  dump: boolean;
  op: string;
  results: any[];
  interrupted: boolean;
  retries: number;
  resolve: (v: any[]) => void;
  reject: (e: Error) => void;
}

/** One failed message of a batch (see requestBatch). */
export interface BatchError { index: number; errno: number; code?: string; extack?: string; extackOffset?: number }
/** Outcome of requestBatch: per-message replies (echoes), errors, and the end marker's replies. */
export interface BatchResult { replies: any[][]; errors: BatchError[]; end: any[] }

interface Batch {
  op: string;
  /** seq -> message index. */
  index: Map<number, number>;
  endSeq: number;
  result: BatchResult;
  resolve: (v: BatchResult) => void;
  reject: (e: Error) => void;
}

const MAX_DUMP_RETRIES = 10;
const MAX_WRITE_BYTES = 256 * 1024;

export class NetlinkConnection {
  readonly protocol: number;
  private sock: NativeSocket;
  private seq: number;
  private inflight = new Map<number, Request>();
  private queue = new Fifo<Request>();
  private dumpQueue = new Fifo<Request>();
  private dumpRunning: Request | null = null;
  private batches = new Map<number, Batch>();
  private flushScheduled = false;
  private window: number;
  private closed = false;
  private keepAlive: boolean;
  private syncWrites: boolean;
  private refed = false;
  onEvent?: (msg: RawMessage) => void;
  onOverrun?: () => void;
  /** Counters for diagnostics: dumps restarted after NLM_F_DUMP_INTR. */
  readonly stats = { dumpRetries: 0 };

  constructor(protocol: number, opts: ConnectionOptions = {}) {
    checkInt(protocol, 'netlink protocol', 0, 31);
    opts = checkOptions<ConnectionOptions>(opts, 'connection options');
    if (opts.window !== undefined) checkInt(opts.window, 'window', 1, 1 << 20);
    if (opts.rcvbuf !== undefined) checkInt(opts.rcvbuf, 'rcvbuf', 4096, 0x7fffffff);
    if (opts.netnsFd !== undefined) checkInt(opts.netnsFd, 'netnsFd', 0, 0x7fffffff);
    if (opts.adoptFd !== undefined) checkInt(opts.adoptFd, 'adoptFd', 0, 0x7fffffff);
    this.protocol = protocol;
    this.window = opts.window ?? 256;
    this.onEvent = opts.onEvent;
    this.onOverrun = opts.onOverrun;
    this.keepAlive = !!opts.keepAlive;
    this.syncWrites = opts.syncWrites ?? process.env.CNM_SYNC_WRITES === '1';
    this.sock = new native.NetlinkSocket(protocol, opts.netnsFd ?? -1, opts.rcvbuf ?? 8 << 20, () => this.onReadable(), opts.adoptFd);
    try {
      this.sock.setStrict(true);
    } catch (e) {
      this.sock.close();
      throw e;
    }
    this.refed = true;
    this.updateRef();
    // Random start: a fresh socket's replies never match a stale number.
    this.seq = (Math.random() * 0x7fffffff) >>> 0;
  }

  get portId(): number { return this.sock.portId; }
  /** Whether close() was called (then every request is EBADF). */
  get isClosed(): boolean { return this.closed; }
  get socket(): NativeSocket { return this.sock; }

  addMembership(group: number): void { this.sock.addMembership(group); }
  dropMembership(group: number): void { this.sock.dropMembership(group); }

  /**
   * Sends one message (built with seq 0) and resolves with the messages the
   * kernel answered with (echoes or dump parts), after its ACK/DONE.
   */
  request(buf: Buffer, op: string, opts: { dump?: boolean } = {}): Promise<any[]> {
    if (!Buffer.isBuffer(buf) || buf.length < 16) return Promise.reject(typeError(`${op}: request`, 'a netlink message (a Buffer of at least 16 bytes)', buf));
    if (this.closed) return Promise.reject(new NetlinkError(`${op}: connection closed`, 'EBADF', 9));
    return new Promise((resolve, reject) => {
      const dump = !!opts.dump;
      const flags = buf.readUInt16LE(6) | NLM_F_REQUEST | (dump ? NLM_F_DUMP : NLM_F_ACK);
      buf.writeUInt16LE(flags, 6);
      const r: Request = { buf, seq: 0, dump, op, results: [], interrupted: false, retries: 0, resolve, reject };
      if (dump) this.dumpQueue.push(r); else this.queue.push(r);
      this.scheduleFlush();
    });
  }

  /** Sends a batch (several messages) as one write; resolves per message. */
  requestMany(bufs: Buffer[], op: string): Promise<any[]>[] {
    return bufs.map((b) => this.request(b, op));
  }

  /**
   * Sends the messages of one batch (e.g. nfnetlink BATCH_BEGIN, ops,
   * BATCH_END) in one write with consecutive sequence numbers, then `end`
   * (a request the kernel ACKs, e.g. NFT_MSG_GETGEN) in a second write. The
   * kernel handles a batch inside sendmsg, so every error and echo of the
   * batch is queued before the reply to `end`, which therefore marks its
   * completion. Resolves with errors by message index; does not reject on
   * them (the caller names the failing operation).
   */
  requestBatch(bufs: Buffer[], op: string, opts: { end: Buffer }): Promise<BatchResult> {
    if (this.closed) return Promise.reject(new NetlinkError(`${op}: connection closed`, 'EBADF', 9));
    return new Promise((resolve, reject) => {
      const b: Batch = {
        op, index: new Map(), endSeq: 0, resolve, reject,
        result: { replies: bufs.map(() => []), errors: [], end: [] },
      };
      bufs.forEach((buf, i) => {
        const seq = this.nextSeq();
        b.index.set(seq, i);
        buf.writeUInt32LE(seq, 8);
        this.batches.set(seq, b);
      });
      const end = opts.end;
      end.writeUInt16LE(end.readUInt16LE(6) | NLM_F_REQUEST | NLM_F_ACK, 6);
      b.endSeq = this.nextSeq();
      end.writeUInt32LE(b.endSeq, 8);
      this.batches.set(b.endSeq, b);
      try {
        this.send(bufs.length === 1 ? bufs[0] : Buffer.concat(bufs));
        this.send(end);
      } catch (e: any) {
        this.endBatch(b, this.wrap(e, op));
        return;
      }
      this.updateRef();
    });
  }

  private endBatch(b: Batch, err?: Error): void {
    for (const seq of b.index.keys()) this.batches.delete(seq);
    this.batches.delete(b.endSeq);
    if (err) b.reject(err); else b.resolve(b.result);
    this.updateRef();
  }

  private batchMessage(b: Batch, m: RawMessage): void {
    if (m.seq === b.endSeq) {
      if (m.type === NLMSG_ERROR) this.endBatch(b, m.error ? kernelError(m.error, `${b.op} (end marker)`, m.extack) : undefined);
      else b.result.end.push(m.body ?? m);
      return;
    }
    const index = b.index.get(m.seq)!;
    if (m.malformed) {
      b.result.errors.push({ index, errno: 74, code: 'EBADMSG', extack: m.malformed.message });
      return;
    }
    if (m.type === NLMSG_ERROR) {
      // The addon's code table is short: name the errno here.
      if (m.error) b.result.errors.push({ index, errno: m.error, code: codeOf(m.error), extack: m.extack, extackOffset: m.extackOffset });
      return;
    }
    b.result.replies[index].push(m.body ?? m);
  }

  // Writes go to the addon's writer thread: the kernel does a request's work
  // inside sendto(), so the loop builds and parses on the other core
  // meanwhile. A failed write comes back as error replies to its requests.
  private send(buf: Buffer): void {
    if (this.syncWrites) this.sock.write(buf);
    else this.sock.writeAsync(buf);
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    if (this.seq === 0) this.seq = 1;
    return this.seq;
  }

  private scheduleFlush(): void {
    this.updateRef();
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Everything queued in this tick (e.g. one Promise.all) goes out together.
    queueMicrotask(() => { this.flushScheduled = false; this.flush(); });
  }

  private flush(): void {
    if (this.closed) return;
    if (!this.dumpRunning && this.dumpQueue.length && this.inflight.size < this.window) {
      this.dumpRunning = this.dumpQueue.shift()!;
      this.queue.unshift(this.dumpRunning);
    }
    while (this.queue.length && this.inflight.size < this.window) {
      const parts: Buffer[] = [];
      let bytes = 0;
      while (this.queue.length && this.inflight.size < this.window && bytes < MAX_WRITE_BYTES) {
        const r = this.queue.shift()!;
        r.seq = this.nextSeq();
        r.buf.writeUInt32LE(r.seq, 8);
        this.inflight.set(r.seq, r);
        parts.push(r.buf);
        bytes += r.buf.length;
      }
      const out = parts.length === 1 ? parts[0] : Buffer.concat(parts, bytes);
      try {
        this.send(out);
      } catch (e: any) {
        // The write failed as a whole: fail the requests it carried.
        for (const p of parts) {
          const seq = p.readUInt32LE(8);
          const r = this.inflight.get(seq);
          if (r) this.finish(r, this.wrap(e, r.op));
        }
      }
    }
  }

  private wrap(e: any, op: string): Error {
    if (e instanceof NetlinkError) { e.op = op; e.message = `${op}: ${e.message}`; }
    return e;
  }

  private finish(r: Request, err?: Error): void {
    this.inflight.delete(r.seq);
    if (r === this.dumpRunning) this.dumpRunning = null;
    if (err) r.reject(err); else r.resolve(r.results);
    if (this.queue.length || this.dumpQueue.length) this.scheduleFlush();
    else this.updateRef();
  }

  private retryDump(r: Request): void {
    this.stats.dumpRetries++;
    this.inflight.delete(r.seq);
    r.results = [];
    r.interrupted = false;
    r.retries++;
    this.queue.unshift(r);  // still the running dump
    this.scheduleFlush();
  }

  private onReadable(): void {
    let msgs: RawMessage[];
    try {
      msgs = this.sock.read(1024);
    } catch (e) {
      for (const r of [...this.inflight.values()]) this.finish(r, this.wrap(e, r.op));
      for (const b of new Set(this.batches.values())) this.endBatch(b, this.wrap(e, b.op));
      return;
    }
    // Replies that did arrive are matched first; several overflow reports
    // in one read are one overrun.
    let overrun = false;
    for (const m of msgs) {
      if (m.overrun) overrun = true;
      else this.dispatch(m);
    }
    if (overrun) this.overrun();
  }

  private dispatch(m: RawMessage): void {
    if (m.overrun) { this.overrun(); return; }
    if (this.barrier && m.seq === this.barrier.seq && m.pid === this.sock.portId) { this.barrierReply(); return; }
    const b = m.seq ? this.batches.get(m.seq) : undefined;
    if (b && m.pid === this.sock.portId) { this.batchMessage(b, m); return; }
    const r = m.seq ? this.inflight.get(m.seq) : undefined;
    if (!r || m.pid !== this.sock.portId) {
      if (this.onEvent) this.onEvent(m);
      return;
    }
    if (m.flags & NLM_F_DUMP_INTR) r.interrupted = true;
    // A reply that failed validation fails its request (a dump is never returned without it).
    if (m.malformed) { this.finish(r, Object.assign(m.malformed, { op: r.op })); return; }
    if (m.type === NLMSG_ERROR) {
      if (m.error) this.finish(r, kernelError(m.error, r.op, m.extack));
      else if (!r.dump) this.finish(r);
      return;
    }
    if (m.type === NLMSG_DONE) {
      if (m.error === 4 /* EINTR */ || (!m.error && r.interrupted)) {
        // The dump raced with a change: its parts are inconsistent. Retry.
        if (r.retries < MAX_DUMP_RETRIES) { this.retryDump(r); return; }
        this.finish(r, kernelError(4, `${r.op} (dump interrupted ${r.retries} times)`));
        return;
      }
      if (m.error) this.finish(r, kernelError(m.error, r.op, m.extack));
      else this.finish(r);
      return;
    }
    r.results.push(m.body ?? m);
  }

  // The kernel dropped messages for us. A running dump goes on (re-sending
  // now would get EBUSY): it is marked interrupted, so its DONE restarts it.
  // Other requests may or may not have lost their reply, and some may not
  // even be sent yet (the writer thread): a barrier (NLMSG_NOOP with ACK)
  // goes out behind them, and whatever has no reply when the barrier's ACK
  // comes back lost it: those fail with ENOBUFS (outcome unknown). One
  // barrier at a time, else their own ACKs feed the overflow.
  private suspects = new Set<Request>();
  private suspectBatches = new Set<Batch>();
  private barrier?: { seq: number; timer: NodeJS.Timeout };
  private barrierDirty = false;

  private overrun(): void {
    for (const r of this.inflight.values()) {
      if (r.dump) r.interrupted = true;
      else this.suspects.add(r);
    }
    for (const b of this.batches.values()) this.suspectBatches.add(b);
    if (this.suspects.size || this.suspectBatches.size) {
      if (this.barrier) this.barrierDirty = true;
      else this.sendBarrier();
    }
    if (this.onOverrun) this.onOverrun();
  }

  private sendBarrier(): void {
    const seq = this.nextSeq();
    const noop = Buffer.alloc(16);
    noop.writeUInt32LE(16, 0);
    noop.writeUInt16LE(NLMSG_NOOP, 4);
    noop.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK, 6);
    noop.writeUInt32LE(seq, 8);
    // Its ACK can be lost too: then another one goes out.
    const timer = setTimeout(() => { this.barrier = undefined; this.sendBarrier(); }, 1000);
    timer.unref();
    this.barrier = { seq, timer };
    this.updateRef();
    try {
      this.send(noop);
    } catch {
      clearTimeout(timer);
      this.barrier = undefined;
      this.barrierDone();
    }
  }

  private barrierReply(): void {
    clearTimeout(this.barrier!.timer);
    this.barrier = undefined;
    if (this.barrierDirty) {
      // More was lost after this barrier went out: wait for a later one.
      this.barrierDirty = false;
      this.sendBarrier();
      return;
    }
    this.barrierDone();
  }

  private barrierDone(): void {
    for (const r of this.suspects) {
      if (this.inflight.get(r.seq) === r) this.finish(r, kernelError(105, `${r.op} (reply lost: receive queue overflowed; outcome unknown)`));
    }
    for (const b of this.suspectBatches) {
      if (this.batches.get(b.endSeq) === b) this.endBatch(b, kernelError(105, `${b.op} (replies lost: receive queue overflowed; outcome unknown)`));
    }
    this.suspects.clear();
    this.suspectBatches.clear();
    this.updateRef();
  }

  private updateRef(): void {
    const want = this.keepAlive || this.inflight.size > 0 || this.batches.size > 0 || this.barrier !== undefined || this.queue.length > 0 || this.dumpQueue.length > 0;
    if (want !== this.refed) {
      this.refed = want;
      if (want) this.sock.ref(); else this.sock.unref();
    }
  }

  setKeepAlive(on: boolean): void { this.keepAlive = on; this.updateRef(); }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Made only when someone waits: a stack trace per closed socket (one per
    // sandbox) was a visible cost on the loop.
    const waiting = [...this.inflight.values(), ...this.queue.toArray(), ...this.dumpQueue.toArray()];
    const batches = new Set(this.batches.values());
    if (waiting.length || batches.size) {
      const err = new NetlinkError('connection closed', 'EBADF', 9);
      for (const r of waiting) r.reject(err);
      for (const b of batches) b.reject(err);
    }
    this.batches.clear();
    this.inflight.clear();
    this.queue = new Fifo();
    this.dumpQueue = new Fifo();
    if (this.barrier) clearTimeout(this.barrier.timer);
    this.barrier = undefined;
    this.suspects.clear();
    this.suspectBatches.clear();
    this.sock.close();
  }
}
