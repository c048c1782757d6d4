// Neighbours, like `ip neigh`, and bridge FDB entries, like `bridge fdb`.
import { native } from '../native';
import { NetlinkConnection } from '../netlink/connection';
import { ValidationError, checkBool, checkEnum, checkFamily, checkKeys, checkObject, checkOptions } from '../errors';
import { AF_BRIDGE, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, RTM_DELNEIGH, RTM_NEWNEIGH } from '../netlink/constants';
import { af, parseIp, validateMac, validateU32 } from '../util/ip';
import type { LinkApi, LinkRef } from './link';

export const NUD: Record<string, number> = {
  incomplete: 0x01, reachable: 0x02, stale: 0x04, delay: 0x08, probe: 0x10, failed: 0x20, noarp: 0x40, permanent: 0x80,
};
export const NTF: Record<string, number> = {
  use: 0x01, self: 0x02, master: 0x04, proxy: 0x08, extern_learn: 0x10, offloaded: 0x20, sticky: 0x40, router: 0x80,
};
export type NeighState = 'incomplete' | 'reachable' | 'stale' | 'delay' | 'probe' | 'failed' | 'noarp' | 'permanent';

export interface Neigh {
  family: 4 | 6 | 'bridge';
  index: number;
  dst?: string;
  lladdr?: string;
  state: NeighState[];
  flags: string[];
  vlan?: number;
  master?: number;
  vni?: number;
  port?: number;
  unknown: { type: number; data: Buffer }[];
}

export interface NeighRequest {
  /** IP address (ARP/NDP entry). */
  dst: string;
  lladdr?: string;
  /** Default 'permanent'. */
  state?: NeighState;
  /** Proxy ARP/NDP entry (`ip neigh add proxy X dev Y`). */
  proxy?: boolean;
  router?: boolean;
}

export interface FdbRequest {
  lladdr: string;
  /** Remote VTEP for vxlan devices (`bridge fdb add ... dst 192.0.2.1`). */
  dst?: string;
  vlan?: number;
  vni?: number;
  port?: number;
  /** 'self' programs the device itself (vxlan), 'master' the bridge it is in. Default master. */
  self?: boolean;
  master?: boolean;
  /** Default 'permanent' (static entries: 'noarp' is `static`). */
  state?: NeighState;
}

const names = (m: Record<string, number>, v: number) => Object.keys(m).filter((k) => v & m[k]);

function decorate(n: any): Neigh {
  return {
    ...n,
    family: n.family === AF_BRIDGE ? 'bridge' : n.family === 10 ? 6 : 4,
    state: names(NUD, n.state) as NeighState[],
    flags: names(NTF, n.flags),
  };
}

export class NeighApi {
  constructor(private conn: NetlinkConnection, private links: LinkApi) {}

  private async build(link: LinkRef, req: NeighRequest): Promise<any> {
    const now = this.links.indexNow(link);
    checkObject(req, 'neighbour');
    checkKeys(req, ['dst', 'lladdr', 'state', 'proxy', 'router'], 'neighbour');
    const d = parseIp(req.dst, 'dst');
    const r: any = { family: af(d.family), dst: d.address };
    const proxy = req.proxy !== undefined && checkBool(req.proxy, 'proxy');
    const router = req.router !== undefined && checkBool(req.router, 'router');
    if (proxy) {
      if (req.state !== undefined || req.lladdr !== undefined || router) throw new ValidationError('a proxy entry has no state, lladdr or router flag');
      r.flags = NTF.proxy;
    } else {
      r.state = NUD[checkEnum(req.state === undefined ? 'permanent' : req.state, 'state', Object.keys(NUD) as NeighState[])];
      if (req.lladdr !== undefined) r.lladdr = validateMac(req.lladdr, 'lladdr');
      if (router) r.flags = NTF.router;
    }
    r.index = now ?? await this.links.index(link);
    return r;
  }

  /** Adds an ARP/NDP entry, like `ip neigh add`. */
  async add(link: LinkRef, req: NeighRequest): Promise<void> {
    const r = await this.build(link, req);
    await this.conn.request(native.neighBuild(r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL), `neigh.add ${req.dst}`);
  }

  /** Like `ip neigh replace`. */
  async replace(link: LinkRef, req: NeighRequest): Promise<void> {
    const r = await this.build(link, req);
    await this.conn.request(native.neighBuild(r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE), `neigh.replace ${req.dst}`);
  }

  /** Like `ip neigh del`. */
  async delete(link: LinkRef, req: Pick<NeighRequest, 'dst' | 'proxy'>): Promise<void> {
    checkObject(req, 'neighbour');
    checkKeys(req, ['dst', 'proxy'], 'neigh.delete');
    const r = await this.build(link, { ...req, state: undefined, lladdr: undefined });
    delete r.state;
    await this.conn.request(native.neighBuild(r, RTM_DELNEIGH, 0), `neigh.delete ${req.dst}`);
  }

  /** Like `ip neigh show [dev X]` (`proxy: true` for `ip neigh show proxy`). */
  async list(filter: { link?: LinkRef; family?: 4 | 6; proxy?: boolean } = {}): Promise<Neigh[]> {
    checkOptions(filter, 'neigh.list filter');
    checkKeys(filter, ['link', 'family', 'proxy'], 'neigh.list filter');
    if (filter.family !== undefined) checkFamily(filter.family);
    if (filter.proxy !== undefined) checkBool(filter.proxy, 'proxy');
    if (filter.link !== undefined) this.links.indexNow(filter.link);
    const index = filter.link !== undefined ? await this.links.index(filter.link) : undefined;
    const fams = filter.family ? [af(filter.family)] : [2, 10];
    const out: Neigh[] = [];
    for (const family of fams) {
      // Strict dump checking refuses an ifindex in the header: filter here.
      const req: any = { family, proxy: !!filter.proxy };
      const res = await this.conn.request(native.neighDump(req, NLM_F_DUMP), 'neigh.list', { dump: true });
      for (const n of res) {
        if (!n || n.family !== family) continue;
        if (index !== undefined && n.index !== index) continue;
        if (!!filter.proxy !== !!(n.flags & NTF.proxy)) continue;
        out.push(decorate(n));
      }
    }
    return out;
  }

  private async buildFdb(link: LinkRef, req: FdbRequest): Promise<any> {
    const now = this.links.indexNow(link);
    checkObject(req, 'fdb entry');
    checkKeys(req, ['lladdr', 'dst', 'vlan', 'vni', 'port', 'self', 'master', 'state'], 'fdb entry');
    const r: any = { family: AF_BRIDGE, lladdr: validateMac(req.lladdr, 'lladdr') };
    const self = req.self !== undefined && checkBool(req.self, 'self');
    const master = req.master !== undefined && checkBool(req.master, 'master');
    let flags = 0;
    if (self) flags |= NTF.self;
    if (master || !self) flags |= NTF.master;
    r.flags = flags;
    r.state = NUD[checkEnum(req.state === undefined ? 'permanent' : req.state, 'state', Object.keys(NUD) as NeighState[])];
    if (req.dst !== undefined) r.dst = parseIp(req.dst, 'fdb dst').address;
    if (req.vlan !== undefined) r.vlan = validateU32(req.vlan, 'vlan', 1, 4094);
    if (req.vni !== undefined) r.vni = validateU32(req.vni, 'vni', 0, 0xffffff);
    if (req.port !== undefined) r.port = validateU32(req.port, 'port', 1, 65535);
    r.index = now ?? await this.links.index(link);
    return r;
  }

  /** Adds a bridge FDB entry, like `bridge fdb add LLADDR dev X [self|master] [dst IP]`. */
  async fdbAdd(link: LinkRef, req: FdbRequest): Promise<void> {
    const r = await this.buildFdb(link, req);
    await this.conn.request(native.neighBuild(r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL), `fdb.add ${req.lladdr}`);
  }

  /** Like `bridge fdb append` (several remotes for one MAC on vxlan). */
  async fdbAppend(link: LinkRef, req: FdbRequest): Promise<void> {
    const r = await this.buildFdb(link, req);
    await this.conn.request(native.neighBuild(r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND), `fdb.append ${req.lladdr}`);
  }

  /** Like `bridge fdb replace`. */
  async fdbReplace(link: LinkRef, req: FdbRequest): Promise<void> {
    const r = await this.buildFdb(link, req);
    await this.conn.request(native.neighBuild(r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE), `fdb.replace ${req.lladdr}`);
  }

  /** Like `bridge fdb del`. */
  async fdbDelete(link: LinkRef, req: FdbRequest): Promise<void> {
    const r = await this.buildFdb(link, req);
    delete r.state;
    await this.conn.request(native.neighBuild(r, RTM_DELNEIGH, 0), `fdb.delete ${req.lladdr}`);
  }

  /** Like `bridge fdb show [br B | dev X]`. */
  async fdbList(filter: { link?: LinkRef; master?: LinkRef } = {}): Promise<Neigh[]> {
    checkOptions(filter, 'fdb.list filter');
    checkKeys(filter, ['link', 'master'], 'fdb.list filter');
    if (filter.link !== undefined) this.links.indexNow(filter.link);
    if (filter.master !== undefined) this.links.indexNow(filter.master, 'master');
    const index = filter.link !== undefined ? await this.links.index(filter.link) : undefined;
    const master = filter.master !== undefined ? await this.links.index(filter.master) : undefined;
    const res = await this.conn.request(native.neighDump({ family: AF_BRIDGE }, NLM_F_DUMP), 'fdb.list', { dump: true });
    return res
      .filter((n: any) => n && n.family === AF_BRIDGE && (index === undefined || n.index === index) && (master === undefined || n.master === master))
      .map(decorate);
  }
}
