// rtnetlink notifications, like `ip monitor`: an EventEmitter that is also an
// async iterator. ENOBUFS (events lost) surfaces as an 'overrun' event: the
// consumer should re-list what it tracks.
import { EventEmitter } from 'events';
import { NetlinkConnection } from '../netlink/connection';
import { NetlinkError } from '../errors';
import { NETLINK_ROUTE, RTNLGRP, RTM_DELADDR, RTM_DELLINK, RTM_DELNEIGH, RTM_DELROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE } from '../netlink/constants';
import type { RawMessage } from '../native';

export type EventGroup = 'link' | 'addr' | 'route' | 'neigh';

export type RtnlEvent =
  | { type: 'link' | 'addr' | 'route' | 'neigh'; action: 'new' | 'del'; object: any }
  | { type: 'overrun'; error: NetlinkError };

const GROUPS: Record<EventGroup, number[]> = {
  link: [RTNLGRP.link],
  addr: [RTNLGRP.ipv4Addr, RTNLGRP.ipv6Addr],
  route: [RTNLGRP.ipv4Route, RTNLGRP.ipv6Route],
  neigh: [RTNLGRP.neigh],
};

const TYPES: Record<number, [EventGroup, 'new' | 'del']> = {
  [RTM_NEWLINK]: ['link', 'new'], [RTM_DELLINK]: ['link', 'del'],
  [RTM_NEWADDR]: ['addr', 'new'], [RTM_DELADDR]: ['addr', 'del'],
  [RTM_NEWROUTE]: ['route', 'new'], [RTM_DELROUTE]: ['route', 'del'],
  [RTM_NEWNEIGH]: ['neigh', 'new'], [RTM_DELNEIGH]: ['neigh', 'del'],
};

const MAX_BUFFERED = 4096;

export class RtnlEvents extends EventEmitter implements AsyncIterable<RtnlEvent> {
  private conn: NetlinkConnection;
  private buffer: RtnlEvent[] = [];
  private waiters: ((r: IteratorResult<RtnlEvent>) => void)[] = [];
  private closed = false;
  /** Events dropped by the kernel so far (ENOBUFS reports). */
  overruns = 0;

  constructor(netnsFd: number | undefined, groups: EventGroup[], rcvbuf = 32 << 20) {
    super();
    this.conn = new NetlinkConnection(NETLINK_ROUTE, {
      netnsFd, rcvbuf, keepAlive: true,
      onEvent: (m) => this.onMessage(m),
      onOverrun: () => this.onOverrun(),
    });
    for (const g of groups) {
      if (!GROUPS[g]) throw new NetlinkError(`unknown event group: ${g}`, 'EINVAL', 22);
      for (const n of GROUPS[g]) this.conn.addMembership(n);
    }
  }

  private push(ev: RtnlEvent): void {
    this.emit(ev.type, ev);
    this.emit('event', ev);
    const w = this.waiters.shift();
    if (w) { w({ value: ev, done: false }); return; }
    // Kept for the iterator and waitFor; bounded so a listener-only user
    // does not grow memory without end.
    this.buffer.push(ev);
    if (this.buffer.length > MAX_BUFFERED) this.buffer.shift();
  }

  private onMessage(m: RawMessage): void {
    const t = TYPES[m.type];
    if (!t || !m.body) return;
    this.push({ type: t[0], action: t[1], object: m.body });
  }

  private onOverrun(): void {
    this.overruns++;
    const e = new NetlinkError('events lost: receive queue overflowed (ENOBUFS); re-list to resync', 'ENOBUFS', 105);
    this.push({ type: 'overrun', error: e });
  }

  [Symbol.asyncIterator](): AsyncIterator<RtnlEvent> {
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
  waitFor(pred: (ev: RtnlEvent) => boolean, timeoutMs = 5000): Promise<RtnlEvent> {
    return new Promise((resolve, reject) => {
      const found = this.buffer.find(pred);
      if (found) { this.buffer.splice(this.buffer.indexOf(found), 1); return resolve(found); }
      const timer = setTimeout(() => { this.off('event', on); reject(new NetlinkError('timed out waiting for event', 'ETIMEDOUT', 110)); }, timeoutMs);
      const on = (ev: RtnlEvent) => {
        if (!pred(ev)) return;
        // Taken here: an iterator must not get it again.
        clearTimeout(timer);
        this.off('event', on);
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
