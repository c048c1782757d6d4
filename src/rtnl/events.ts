// rtnetlink notifications, like `ip monitor` (see netlink/event-stream.ts).
import { EventStream } from '../netlink/event-stream';
import { NetlinkError, ValidationError, checkArray, typeError } from '../errors';
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

export class RtnlEvents extends EventStream<Exclude<RtnlEvent, { type: 'overrun' }>> {
  constructor(netnsFd: number | undefined, groups: EventGroup[], rcvbuf = 32 << 20) {
    checkArray(groups, 'event groups');
    for (const g of groups) {
      if (typeof g !== 'string') throw typeError('event group', `one of ${Object.keys(GROUPS).join(', ')}`, g);
      if (!Object.prototype.hasOwnProperty.call(GROUPS, g)) throw new ValidationError(`unknown event group ${JSON.stringify(g)} (${Object.keys(GROUPS).join(', ')})`);
    }
    super(NETLINK_ROUTE, netnsFd, groups.flatMap((g) => GROUPS[g]), rcvbuf, 'rtnetlink');
  }

  protected onMessage(m: RawMessage): void {
    const t = TYPES[m.type];
    if (!t || !m.body) return;
    this.push({ type: t[0], action: t[1], object: m.body });
  }
}
