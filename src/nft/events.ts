// nftables notifications, like `nft monitor`: an EventEmitter that is also
// an async iterator. Each committed transaction ends with a 'generation'
// event. ENOBUFS (events lost) surfaces as 'overrun': re-list to resync.
import { EventStream } from '../netlink/event-stream';
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

export class NftEvents extends EventStream<Exclude<NftEvent, { type: 'overrun' }>> {
  /** @param setInfo how elements of a set are typed (the Nft handle's cache). */
  constructor(netnsFd: number | undefined, private setInfo: (f: Family, t: string, s: string) => SetInfo | undefined, rcvbuf = 32 << 20) {
    super(NETLINK_NETFILTER, netnsFd, [NFNLGRP_NFTABLES], rcvbuf, 'nftables');
  }

  protected onMessage(m: RawMessage): void {
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
          // Decoded when read: the set's type may become known only when the
          // transaction that made it resolves, after this notification.
          const setInfo = this.setInfo;
          let decoded: any[] | undefined;
          const object: any = { family, table: b.table, set: b.set, raw: b.elements };
          Object.defineProperty(object, 'elements', {
            enumerable: true,
            get() {
              if (decoded) return decoded;
              const info = setInfo(family, b.table, b.set);
              if (info) { try { decoded = decodeElements(info, b.elements); } catch { /* keep raw */ } }
              return decoded;
            },
          });
          this.push({ type: 'elements', action, object });
          break;
        }
        default: break;
      }
    } catch {
      // A notification we cannot type is not worth dying for; skip it.
    }
  }
}
