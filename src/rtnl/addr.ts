// Addresses, like `ip addr`.
import { native } from '../native';
import { NetlinkConnection } from '../netlink/connection';
import { ValidationError, checkArray, checkCString, checkFamily, checkKeys, checkNamedNumber, checkObject, checkOptions, typeError } from '../errors';
import { NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE } from '../netlink/constants';
import { af, parseCidr, parseIp, validateU32 } from '../util/ip';
import type { LinkApi, LinkRef } from './link';

export const IFA_F = {
  secondary: 0x01, nodad: 0x02, optimistic: 0x04, dadfailed: 0x08, homeaddress: 0x10,
  deprecated: 0x20, tentative: 0x40, permanent: 0x80, managetempaddr: 0x100,
  noprefixroute: 0x200, mcautojoin: 0x400, stableprivacy: 0x800,
} as const;
export type AddrFlag = keyof typeof IFA_F;

export const SCOPES: Record<string, number> = { global: 0, site: 200, link: 253, host: 254, nowhere: 255 };

export interface Addr {
  index: number;
  family: 4 | 6;
  /** "10.0.0.2/24" */
  address: string;
  /** "10.0.0.2" */
  local: string;
  prefixlen: number;
  peer?: string;
  broadcast?: string;
  label?: string;
  scope: number;
  flags: AddrFlag[];
  validLft: number;
  preferredLft: number;
  unknown: { type: number; data: Buffer }[];
}

export interface AddrRequest {
  /** "10.0.0.2/24" or "fd00::2/64" */
  address: string;
  peer?: string;
  /** Explicit broadcast, or '+' to derive it from the prefix (like `brd +`). */
  broadcast?: string;
  label?: string;
  scope?: 'global' | 'site' | 'link' | 'host' | number;
  flags?: AddrFlag[];
  /** Seconds; omit for forever. */
  validLft?: number;
  preferredLft?: number;
}

function flagsToNames(f: number): AddrFlag[] {
  return (Object.keys(IFA_F) as AddrFlag[]).filter((k) => f & IFA_F[k]);
}

function broadcastOf(addr: string, prefix: number): string {
  const { ip4ToInt, intToIp4, maskOf } = require('../util/ip');
  return intToIp4((ip4ToInt(addr) | ~maskOf(prefix)) >>> 0);
}

export class AddrApi {
  constructor(private conn: NetlinkConnection, private links: LinkApi) {}

  /** The request without its link (validated first, so bad input fails before any lookup). */
  private build(req: AddrRequest | string): any {
    if (typeof req === 'string') req = { address: req };
    else if (req === null || typeof req !== 'object' || Array.isArray(req)) throw typeError('address', 'a CIDR string or { address, ... }', req);
    checkKeys(req, ['address', 'peer', 'broadcast', 'label', 'scope', 'flags', 'validLft', 'preferredLft'], 'address');
    if (req.address === undefined) throw new ValidationError('address is required');
    const c = parseCidr(req.address);
    // (The kernel takes /0; libnl's builder drops a zero prefix length and then refuses the request.)
    if (c.prefix === 0) throw new ValidationError(`address ${req.address}: a prefix length of 0 is not supported`);
    const r: any = { index: 0, local: `${c.address}/${c.prefix}`, prefixlen: c.prefix };
    if (req.peer !== undefined) r.peer = parseCidr(req.peer, 'peer', c.family).address;
    if (req.broadcast !== undefined) {
      if (c.family !== 4) throw new ValidationError('broadcast is IPv4 only');
      r.broadcast = req.broadcast === '+' ? broadcastOf(c.address, c.prefix) : parseIp(req.broadcast, 'broadcast', 4).address;
    }
    if (req.label !== undefined) r.label = checkCString(req.label, 'label', 15);
    if (req.scope !== undefined) r.scope = checkNamedNumber(req.scope, 'scope', SCOPES);
    if (req.flags !== undefined) {
      let f = 0;
      for (const n of checkArray(req.flags, 'flags')) {
        if (typeof n !== 'string') throw typeError('address flag', 'a string', n);
        if (!Object.prototype.hasOwnProperty.call(IFA_F, n)) throw new ValidationError(`invalid address flag: ${JSON.stringify(n)} (${Object.keys(IFA_F).join(', ')})`);
        f |= IFA_F[n as AddrFlag];
      }
      r.flags = f;
    }
    if (req.validLft !== undefined || req.preferredLft !== undefined) {
      r.validLft = req.validLft === undefined ? 0xffffffff : validateU32(req.validLft, 'validLft');
      r.preferredLft = req.preferredLft === undefined ? r.validLft : validateU32(req.preferredLft, 'preferredLft');
      if (r.preferredLft > r.validLft) throw new ValidationError('preferred_lft is greater than valid_lft');
    }
    return r;
  }

  /** Adds an address, like `ip addr add 10.0.0.2/24 dev X`. */
  async add(link: LinkRef, req: AddrRequest | string): Promise<void> {
    const r = this.build(req);
    r.index = this.links.indexNow(link) ?? await this.links.index(link);
    await this.conn.request(native.addrAdd(r, NLM_F_CREATE | NLM_F_EXCL), `addr.add ${r.local}`);
  }

  /** Adds or updates, like `ip addr replace`. */
  async replace(link: LinkRef, req: AddrRequest | string): Promise<void> {
    const r = this.build(req);
    r.index = this.links.indexNow(link) ?? await this.links.index(link);
    await this.conn.request(native.addrAdd(r, NLM_F_CREATE | NLM_F_REPLACE), `addr.replace ${r.local}`);
  }

  /** Removes an address, like `ip addr del`. */
  async delete(link: LinkRef, req: AddrRequest | string): Promise<void> {
    const r = this.build(req);
    r.index = this.links.indexNow(link) ?? await this.links.index(link);
    await this.conn.request(native.addrDelete(r, 0), `addr.delete ${r.local}`);
  }

  /** Lists addresses, like `ip addr show [dev X]`. */
  async list(filter: { link?: LinkRef; family?: 4 | 6 } = {}): Promise<Addr[]> {
    checkOptions(filter, 'addr.list filter');
    checkKeys(filter, ['link', 'family'], 'addr.list filter');
    if (filter.family !== undefined) checkFamily(filter.family);
    if (filter.link !== undefined) this.links.indexNow(filter.link);
    const index = filter.link !== undefined ? await this.links.index(filter.link) : undefined;
    const req: any = {};
    if (filter.family) req.family = af(filter.family);
    if (index !== undefined) req.index = index;
    const all = await this.conn.request(native.addrDump(req, NLM_F_DUMP), 'addr.list', { dump: true });
    return all
      .filter((a: any) => a && a.local !== undefined && (index === undefined || a.index === index))
      .map((a: any) => ({ ...a, family: a.family === 10 ? 6 : 4, flags: flagsToNames(a.flags) }));
  }

  /** Removes all addresses of a link (optionally one family), like `ip addr flush dev X`. */
  async flush(link: LinkRef, family?: 4 | 6): Promise<number> {
    this.links.indexNow(link);
    if (family !== undefined) checkFamily(family);
    const addrs = await this.list({ link, family });
    // Secondaries go away with their primary; ignore the ones already gone.
    let n = 0;
    for (const a of addrs.filter((x) => !x.flags.includes('secondary')).concat(addrs.filter((x) => x.flags.includes('secondary')))) {
      try {
        await this.conn.request(native.addrDelete({ index: a.index, local: a.address, prefixlen: a.prefixlen }, 0), `addr.flush ${a.address}`);
        n++;
      } catch (e: any) {
        if (e.code !== 'EADDRNOTAVAIL') throw e;
      }
    }
    return n;
  }
}
