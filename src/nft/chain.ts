// Chains, like `nft add chain` (base chains: `{ type nat hook prerouting
// priority dstnat; policy accept; }`), `nft delete chain`, `nft flush chain`.
import { native } from '../native';
import { ValidationError, typeError } from '../errors';
import { BRIDGE_PRIORITIES, Family, HOOKS, Hook, NF_ACCEPT, NF_DROP, NFT_MSG, PRIORITIES, UDATA_CHAIN_COMMENT } from './constants';
import { checkHandle, checkObjName, famOf, familyNum } from './common';
import { validateIfname } from '../util/ip';
import { buildUdata, commentOf, commentUdata } from './udata';

export type ChainType = 'filter' | 'nat' | 'route';

export interface Chain {
  family: Family;
  table: string;
  name: string;
  /** Base chains only: type, hook and priority together. */
  type?: ChainType;
  hook?: Hook;
  /** A number or a name: raw, mangle, dstnat, filter, security, srcnat. */
  priority?: number | string;
  policy?: 'accept' | 'drop';
  /** netdev ingress/egress chains. */
  device?: string;
  comment?: string;
  handle?: number;
  use?: number;
}

const HOOKS_BY_FAMILY: Record<string, Hook[]> = {
  ip: ['prerouting', 'input', 'forward', 'output', 'postrouting'],
  ip6: ['prerouting', 'input', 'forward', 'output', 'postrouting'],
  inet: ['prerouting', 'input', 'forward', 'output', 'postrouting', 'ingress'],
  bridge: ['prerouting', 'input', 'forward', 'output', 'postrouting'],
  arp: ['input', 'output'],
  netdev: ['ingress', 'egress'],
};

export function priorityNum(p: number | string, family: Family, what: string): number {
  if (typeof p !== 'number' && typeof p !== 'string') throw typeError(`${what} priority`, 'a number or a name', p);
  if (typeof p === 'number') {
    if (!Number.isInteger(p) || p < -0x80000000 || p > 0x7fffffff) throw new ValidationError(`invalid ${what} priority ${p}`);
    return p;
  }
  // "dstnat", "filter + 10", "srcnat - 5"
  const m = typeof p === 'string' ? p.match(/^\s*([a-z]+)\s*(?:([+-])\s*(\d+))?\s*$/) : null;
  const names = family === 'bridge' ? BRIDGE_PRIORITIES : PRIORITIES;
  if (!m || !(m[1] in names)) throw new ValidationError(`invalid ${what} priority ${JSON.stringify(p)} (a number or ${Object.keys(names).join(', ')})`);
  const n = names[m[1]] + (m[2] ? (m[2] === '+' ? 1 : -1) * Number(m[3]) : 0);
  if (n < -0x80000000 || n > 0x7fffffff) throw new ValidationError(`invalid ${what} priority ${JSON.stringify(p)}: out of the 32-bit range`);
  return n;
}

export function chainMsg(cmd: number, c: Partial<Chain> & { family: Family; table: string }, flags: number): Buffer {
  const fam = familyNum(c.family);
  const o: any = { table: checkObjName(c.table, 'table') };
  if (c.name !== undefined || cmd === NFT_MSG.NEWCHAIN) o.name = checkObjName(c.name, 'chain');
  if (c.handle !== undefined) o.handle = checkHandle(c.handle, 'chain');
  if (cmd === NFT_MSG.NEWCHAIN) {
    const what = `chain ${c.name}`;
    const base = c.hook !== undefined || c.type !== undefined || c.priority !== undefined;
    if (base) {
      if (c.hook === undefined) throw new ValidationError(`${what}: a base chain needs a hook`);
      if (typeof c.hook !== 'string') throw typeError(`${what} hook`, 'a string', c.hook);
      if (!HOOKS_BY_FAMILY[c.family]?.includes(c.hook)) throw new ValidationError(`${what}: hook ${JSON.stringify(c.hook)} is not valid in family ${c.family} (${(HOOKS_BY_FAMILY[c.family] ?? []).join(', ')})`);
      const type = c.type === undefined ? 'filter' : c.type;
      if (typeof type !== 'string') throw typeError(`${what} type`, 'filter, nat or route', type);
      if (!['filter', 'nat', 'route'].includes(type)) throw new ValidationError(`${what}: invalid type ${JSON.stringify(type)}`);
      o.type = type;
      o.hooknum = c.family === 'inet' && c.hook === 'ingress' ? 5 : HOOKS[c.hook];
      o.prio = priorityNum(c.priority === undefined ? 0 : c.priority, c.family, what);
      if (c.device !== undefined) o.dev = validateIfname(c.device, `${what} device`);
      else if (c.family === 'netdev') throw new ValidationError(`${what}: a netdev chain needs a device`);
    }
    if (c.policy !== undefined) {
      if (!base) throw new ValidationError(`${what}: only base chains have a policy`);
      if (typeof c.policy !== 'string') throw typeError(`${what} policy`, 'accept or drop', c.policy);
      if (c.policy !== 'accept' && c.policy !== 'drop') throw new ValidationError(`${what}: invalid policy ${JSON.stringify(c.policy)}`);
      o.policy = c.policy === 'accept' ? NF_ACCEPT : NF_DROP;
    }
    const ud = commentUdata(UDATA_CHAIN_COMMENT, c.comment);
    if (ud.length) o.userdata = buildUdata(ud);
  }
  return native.nftChain(cmd, fam, flags, o);
}

export function parseChain(b: any): Chain {
  const family = famOf(b.family);
  const c: Chain = { family, table: b.table, name: b.name, handle: b.handle };
  if (b.hooknum !== undefined) {
    c.type = b.type;
    c.hook = family === 'netdev' ? (b.hooknum === 0 ? 'ingress' : 'egress') : (HOOKS_BY_FAMILY.ip[b.hooknum] ?? (b.hooknum === 5 ? 'ingress' : b.hooknum)) as Hook;
    c.priority = b.prio;
    if (b.policy !== undefined) c.policy = b.policy === NF_ACCEPT ? 'accept' : 'drop';
    if (b.dev) c.device = b.dev;
  }
  const cm = commentOf(b.userdata, UDATA_CHAIN_COMMENT);
  if (cm !== undefined) c.comment = cm;
  if (b.use !== undefined) c.use = b.use;
  return c;
}
