// nftables notifications, like `nft monitor`: an EventEmitter that is also
// an async iterator. Each committed transaction ends with a 'generation'
// event. ENOBUFS (events lost) surfaces as 'overrun': re-list to resync.
import { EventEmitter } from 'events';
import { NetlinkConnection } from '../netlink/connection';
import { NETLINK_NETFILTER } from '../netlink/constants';
import { NetlinkError } from '../errors';
import type { RawMessage } from '../native';
import { Family, NFT_MSG } from './constants';
import { famOf } from './common';
import { parseTable } from './table';
import { parseChain } from './chain';
import { parseRule } from './rule';
import { SetInfo, decodeElements, parseSet } from './set';

const NFNLGRP_NFTABLES = 7;
const MAX_BUFFERED = 4096;

export type NftEvent =
  | { type: 'table' | 'chain' | 'rule' | 'set'; action: 'new' | 'del'; object: any }
  /** Elements decoded by the set's type when known (else `raw` as the kernel sent them). */
  | { type: 'elements'; action: 'new' | 'del'; object: { family: Family; table: string; set: string; elements?: any[]; raw: any[] } }
  | { type: 'generation'; id: number }
  | { type: 'overrun'; error: NetlinkError };

const ACTIONS: Record<number, 'new' | 'del'> = {
  [NFT_MSG.NEWTABLE]: 'new', [NFT_MSG.DELTABLE]: 'del', [NFT_MSG.NEWCHAIN]: 'new', [NFT_MSG.DELCHAIN]: 'del',
  [NFT_MSG.NEWRULE]: 'new', [NFT_MSG.DELRULE]: 'del', [NFT_MSG.NEWSET]: 'new', [NFT_MSG.DELSET]: 'del',
  [NFT_MSG.NEWSETELEM]: 'new', [NFT_MSG.DELSETELEM]: 'del',
};

export class NftEvents extends EventEmitter implements AsyncIterable<NftEvent> {
  private conn: NetlinkConnection;
  private buffer: NftEvent[] = [];
  private waiters: ((r: IteratorResult<NftEvent>) => void)[] = [];
  private closed = false;
  overruns = 0;

  /** @param setInfo how elements of a set are typed (the Nft handle's cache). */
  constructor(netnsFd: number | undefined, private setInfo: (f: Family, t: string, s: string) => SetInfo | undefined, rcvbuf = 32 << 20) {
    super();
    this.conn = new NetlinkConnection(NETLINK_NETFILTER, {
      netnsFd, rcvbuf, keepAlive: true,
      onEvent: (m) => this.onMessage(m),
      onOverrun: () => this.onOverrun(),
    });
    this.conn.addMembership(NFNLGRP_NFTABLES);
  }

  private push(ev: NftEvent): void {
    this.emit(ev.type, ev);
    this.emit('event', ev);
    const w = this.waiters.shift();
    if (w) { w({ value: ev, done: false }); return; }
    this.buffer.push(ev);
    if (this.buffer.length > MAX_BUFFERED) this.buffer.shift();
  }

  private onMessage(m: RawMessage): void {
    const b = m.body;
    if (!b) return;
    if (b.kind === 'generation') { this.push({ type: 'generation', id: b.id }); return; }
    const action = ACTIONS[m.type & 0xff];
    if (!action) return;
    try {
      switch (b.kind) {
        case 'table': this.push({ type: 'table', action, object: parseTable(b) }); break;
        case 'chain': this.push({ type: 'chain', action, object: parseChain(b) }); break;
        case 'rule': this.push({ type: 'rule', action, object: parseRule(b) }); break;
        case 'set': this.push({ type: 'set', action, object: parseSet(b) }); break;
        case 'elements': {
          const family = famOf(b.family);
          const info = this.setInfo(family, b.table, b.set);
          const object: any = { family, table: b.table, set: b.set, raw: b.elements };
          if (info) { try { object.elements = decodeElements(info, b.elements); } catch { /* keep raw */ } }
          this.push({ type: 'elements', action, object });
          break;
        }
        default: break;
      }
    } catch {
      // A notification we cannot type is not worth dying for; skip it.
    }
  }

  private onOverrun(): void {
    this.overruns++;
    this.push({ type: 'overrun', error: new NetlinkError('nftables events lost: receive queue overflowed (ENOBUFS); re-list to resync', 'ENOBUFS', 105) });
  }

  [Symbol.asyncIterator](): AsyncIterator<NftEvent> {
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
  waitFor(pred: (ev: NftEvent) => boolean, timeoutMs = 5000): Promise<NftEvent> {
    return new Promise((resolve, reject) => {
      const found = this.buffer.find(pred);
      if (found) { this.buffer.splice(this.buffer.indexOf(found), 1); return resolve(found); }
      const timer = setTimeout(() => { this.off('event', on); reject(new NetlinkError('timed out waiting for nftables event', 'ETIMEDOUT', 110)); }, timeoutMs);
      const on = (ev: NftEvent) => {
        if (!pred(ev)) return;
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
