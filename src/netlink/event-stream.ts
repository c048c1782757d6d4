// The part rtnetlink and nftables notifications share: a multicast netlink
// socket whose messages become typed events, delivered as an EventEmitter
// and as an async iterator. ENOBUFS (events lost) becomes an 'overrun' event
// and the stream goes on: the consumer re-lists to resync.
import { EventEmitter } from 'events';
import { NetlinkConnection } from './connection';
import { NetlinkError, typeError } from '../errors';
import type { RawMessage } from '../native';

const MAX_BUFFERED = 4096;

export interface OverrunEvent { type: 'overrun'; error: NetlinkError }

export abstract class EventStream<E extends { type: string }> extends EventEmitter implements AsyncIterable<E | OverrunEvent> {
  protected conn: NetlinkConnection;
  private buffer: (E | OverrunEvent)[] = [];
  private waiters: ((r: IteratorResult<E | OverrunEvent>) => void)[] = [];
  private closed = false;
  /** Times the kernel dropped events (ENOBUFS reports). */
  overruns = 0;

  constructor(protocol: number, netnsFd: number | undefined, groups: number[], rcvbuf: number, private what: string) {
    super();
    this.conn = new NetlinkConnection(protocol, {
      netnsFd, rcvbuf, keepAlive: true,
      onEvent: (m) => this.onMessage(m),
      onOverrun: () => {
        this.overruns++;
        this.push({ type: 'overrun', error: new NetlinkError(`${what} events lost: receive queue overflowed (ENOBUFS); re-list to resync`, 'ENOBUFS', 105) });
      },
    });
    try {
      for (const g of groups) this.conn.addMembership(g);
    } catch (e) {
      this.conn.close();
      throw e;
    }
  }

  /** Turns one notification into events (calls push). */
  protected abstract onMessage(m: RawMessage): void;

  protected push(ev: E | OverrunEvent): void {
    this.emit(ev.type, ev);
    this.emit('event', ev);
    const w = this.waiters.shift();
    if (w) { w({ value: ev, done: false }); return; }
    // Kept for the iterator and waitFor; bounded so a listener-only user
    // does not grow memory without end.
    this.buffer.push(ev);
    // The oldest go in chunks: one shift per event moves the whole buffer each time.
    if (this.buffer.length > MAX_BUFFERED + (MAX_BUFFERED >> 3)) this.buffer.splice(0, this.buffer.length - MAX_BUFFERED);
  }

  [Symbol.asyncIterator](): AsyncIterator<E | OverrunEvent> {
    return {
      next: () => {
        if (this.buffer.length) return Promise.resolve({ value: this.buffer.shift()!, done: false });
        if (this.closed) return Promise.resolve({ value: undefined as any, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined as any, done: true });
      },
    };
  }

  /** Waits for the first event matching `pred` (with a timeout in ms). */
  waitFor(pred: (ev: E | OverrunEvent) => boolean, timeoutMs = 5000): Promise<E | OverrunEvent> {
    if (typeof pred !== 'function') return Promise.reject(typeError('waitFor predicate', 'a function', pred));
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) return Promise.reject(typeError('waitFor timeout', 'a number of ms (0 or more)', timeoutMs));
    return new Promise((resolve, reject) => {
      const found = this.buffer.find(pred);
      if (found) { this.buffer.splice(this.buffer.indexOf(found), 1); return resolve(found); }
      // Closed, nothing more comes: at once, not after the timeout.
      const closedError = () => new NetlinkError(`${this.what} events: stream closed`, 'EBADF', 9);
      if (this.closed) return reject(closedError());
      const done = () => { clearTimeout(timer); this.off('event', on); this.off('close', onClose); };
      const timer = setTimeout(() => { done(); reject(new NetlinkError(`timed out waiting for ${this.what} event`, 'ETIMEDOUT', 110)); }, timeoutMs);
      const onClose = () => { done(); reject(closedError()); };
      this.once('close', onClose);
      const on = (ev: E | OverrunEvent) => {
        if (!pred(ev)) return;
        done();
        // Taken here: an iterator must not get it again.
        const i = this.buffer.indexOf(ev);
        if (i >= 0) this.buffer.splice(i, 1);
        resolve(ev);
      };
      this.on('event', on);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.close();
    for (const w of this.waiters.splice(0)) w({ value: undefined as any, done: true });
    this.emit('close');
  }
}
