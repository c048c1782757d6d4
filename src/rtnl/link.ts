// Links, like `ip link`. One file per kernel object, as vishvananda/netlink.
import { native } from '../native';
import { NetlinkConnection } from '../netlink/connection';
import { NetlinkError, ValidationError } from '../errors';
import { NLM_F_CREATE, NLM_F_DUMP, NLM_F_ECHO, NLM_F_EXCL } from '../netlink/constants';
import { validateIfname, validateMac, validateU32 } from '../util/ip';
import type { Netns } from '../netns';

export interface LinkStats {
  rxPackets: number; txPackets: number; rxBytes: number; txBytes: number;
  rxErrors: number; txErrors: number; rxDropped: number; txDropped: number;
  multicast: number; collisions: number;
}

export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND: 'veth', 'bridge', 'vxlan', 'macvlan', ... (undefined for plain devices like lo). */
  kind?: string;
  flags: number;
  up: boolean;
  lowerUp: boolean;
  /** Operational state: 'up', 'down', 'unknown', 'lowerlayerdown', ... */
  state: string;
  mtu: number;
  txqlen: number;
  address?: string;
  broadcast?: string;
  /** ifindex of the master (bridge) device. */
  master?: number;
  group: number;
  /** IFLA_LINK: the peer (veth) or parent (macvlan, vxlan) ifindex. */
  link?: number;
  /** netnsid of the namespace `link` lives in, when it is another one. */
  linkNetnsid?: number;
  alias?: string;
  stats: LinkStats;
  slaveKind?: string;
  bridge?: BridgeOptions;
  bridgePort?: BridgePortOptions;
  vxlan?: VxlanOptions;
  macvlan?: { mode: MacvlanMode };
  /** Attributes newer than this library's headers, kept raw. */
  unknown: { type: number; data: Buffer }[];
}

export type LinkRef = string | number | Pick<Link, 'index'>;

export interface BridgeOptions {
  stp?: boolean;
  vlanFiltering?: boolean;
  forwardDelay?: number;
  ageingTime?: number;
  mcastSnooping?: boolean;
}

export interface BridgePortOptions {
  hairpin?: boolean;
  isolated?: boolean;
  learning?: boolean;
  flood?: boolean;
  neighSuppress?: boolean;
  cost?: number;
  priority?: number;
}

export interface VxlanOptions {
  id: number;
  local?: string;
  /** Multicast group. */
  group?: string;
  /** Unicast remote VTEP. */
  remote?: string;
  port?: number;
  learning?: boolean;
  /** Underlay device. */
  dev?: LinkRef;
  ttl?: number;
}

export type MacvlanMode = 'private' | 'vepa' | 'bridge' | 'passthru' | 'source';

interface CommonAttrs {
  mtu?: number;
  address?: string;
  group?: number;
  txqlen?: number;
  alias?: string;
  up?: boolean;
}

/** Set only when a link is created. */
interface CreateAttrs {
  /**
   * Queue counts, like `ip link add ... numtxqueues N numrxqueues N`. A veth
   * made with 1 and 1 skips what the kernel otherwise does under the RTNL
   * lock: shrink its default (one queue per CPU) to 1, waiting for an RCU
   * grace period per device.
   */
  numTxQueues?: number;
  numRxQueues?: number;
}

function createOnly(req: CreateAttrs, out: any, what: string): void {
  if (req.numTxQueues !== undefined) out.numTxQueues = validateU32(req.numTxQueues, `${what} numtxqueues`, 1, 4096);
  if (req.numRxQueues !== undefined) out.numRxQueues = validateU32(req.numRxQueues, `${what} numrxqueues`, 1, 4096);
}

export interface VethPeer extends CommonAttrs, CreateAttrs {
  name: string;
  /** Create the peer directly in this namespace (no later move). */
  netns?: Netns;
}

export type LinkAddRequest = CommonAttrs & CreateAttrs & {
  name: string;
  master?: LinkRef;
  netns?: Netns;
} & (
  | { kind: 'veth'; peer: VethPeer }
  | { kind: 'bridge'; bridge?: BridgeOptions }
  | { kind: 'vxlan'; vxlan: VxlanOptions }
  | { kind: 'macvlan'; parent: LinkRef; macvlan?: { mode?: MacvlanMode } }
  | { kind: string; [k: string]: any }
);

export interface LinkSetRequest extends CommonAttrs {
  name?: string;
  /** Attach to a bridge; `null` (or nomaster: true) detaches, like `ip link set X nomaster`. */
  master?: LinkRef | null;
  nomaster?: boolean;
  /** Move to another namespace. */
  netns?: Netns;
  bridge?: BridgeOptions;
  bridgePort?: BridgePortOptions;
  /** Per-device IPv4 settings, like `sysctl net.ipv4.conf.DEV.KEY=V`, in the same request. */
  ipv4Conf?: Partial<Record<Ipv4ConfKey, number>>;
  /**
   * IPv6 address generation, like `ip link set X addrgenmode none`. Note the
   * kernel applies flags (up) before this: set it before bringing a link up.
   */
  addrGenMode?: 'eui64' | 'none' | 'stable_secret' | 'random';
}

export type Ipv4ConfKey = 'forwarding' | 'arp_notify' | 'route_localnet' | 'proxy_arp' | 'rp_filter' | 'arp_ignore' | 'arp_announce' | 'accept_local';
const IPV4_CONF_KEYS: Ipv4ConfKey[] = ['forwarding', 'arp_notify', 'route_localnet', 'proxy_arp', 'rp_filter', 'arp_ignore', 'arp_announce', 'accept_local'];

/** Kinds this kernel may lack get EOPNOTSUPP rather than a bare EINVAL. */
function kindError(e: any, kind: string): any {
  if (e instanceof NetlinkError && (e.code === 'EOPNOTSUPP' || (e.code === 'EINVAL' && /Unknown device type/i.test(e.extack ?? '')))) {
    const err = new NetlinkError(`link kind "${kind}" is not supported by this kernel${e.extack ? `: ${e.extack}` : ''}`, 'EOPNOTSUPP', 95);
    err.op = e.op;
    err.extack = e.extack;
    return err;
  }
  return e;
}

/** ENODEV for a link named by the caller reads as `link "X" does not exist`. */
function noSuchLink(e: any, ref: LinkRef): any {
  if (!(e instanceof NetlinkError) || e.code !== 'ENODEV' || typeof ref === 'object') return e;
  const err = new NetlinkError(`link "${ref}" does not exist`, 'ENODEV', 19);
  err.op = e.op;
  err.extack = e.extack;
  return err;
}

function common(req: CommonAttrs & { name?: string }, out: any, what: string): void {
  if (req.name !== undefined) out.name = validateIfname(req.name, `${what} name`);
  if (req.mtu !== undefined) out.mtu = validateU32(req.mtu, `${what} MTU`, 68, 65535);
  if (req.address !== undefined) out.address = validateMac(req.address);
  if (req.group !== undefined) out.group = validateU32(req.group, `${what} group`);
  if (req.txqlen !== undefined) out.txqlen = validateU32(req.txqlen, `${what} txqueuelen`);
  if (req.alias !== undefined) {
    if (typeof req.alias !== 'string' || Buffer.byteLength(req.alias) > 255) throw new ValidationError(`invalid alias`);
    out.alias = req.alias;
  }
  if (req.up !== undefined) out.up = !!req.up;
}

export class LinkApi {
  constructor(private conn: NetlinkConnection) {}

  /**
   * The ifindex when the ref carries it (a number or a Link), else undefined.
   * Requests whose links come this way are sent in call order: nothing is
   * awaited before them.
   */
  indexNow(ref: LinkRef): number | undefined {
    if (typeof ref === 'number') {
      if (!Number.isInteger(ref) || ref <= 0) throw new ValidationError(`invalid ifindex: ${ref}`);
      return ref;
    }
    if (typeof ref === 'object' && ref && typeof ref.index === 'number') return ref.index;
    return undefined;
  }

  /** Resolves a name, index or Link to an ifindex in this namespace. */
  async index(ref: LinkRef): Promise<number> {
    return this.indexNow(ref) ?? (await this.get(ref as string)).index;
  }

  /**
   * Creates a link, like `ip link add`. A veth peer can be born inside
   * another namespace (`peer.netns`) in the same request. Resolves with
   * the new link as the kernel reports it.
   */
  async add(req: LinkAddRequest, opts: { echo?: boolean } = {}): Promise<Link | undefined> {
    const r: any = { kind: req.kind };
    if (typeof req.kind !== 'string' || !/^[a-z0-9_]{1,32}$/.test(req.kind)) throw new ValidationError(`invalid link kind: ${req.kind}`);
    if (req.name === undefined) throw new ValidationError('link name is required');
    common(req, r, 'link');
    createOnly(req, r, 'link');
    if (req.netns) r.netnsFd = req.netns.fd;
    if (req.master !== undefined) r.master = this.indexNow(req.master as LinkRef) ?? await this.index(req.master as LinkRef);
    const anyReq = req as any;
    switch (req.kind) {
      case 'veth': {
        const p: VethPeer = anyReq.peer;
        if (!p || typeof p !== 'object') throw new ValidationError('veth needs a peer: { name }');
        const peer: any = {};
        common(p, peer, 'peer');
        createOnly(p, peer, 'peer');
        if (peer.name === undefined) throw new ValidationError('veth peer name is required');
        if (p.netns) peer.netnsFd = p.netns.fd;
        r.peer = peer;
        break;
      }
      case 'bridge':
        if (anyReq.bridge) r.bridge = { ...anyReq.bridge };
        break;
      case 'vxlan': {
        const v: VxlanOptions = anyReq.vxlan;
        if (!v) throw new ValidationError('vxlan needs options: { id }');
        r.vxlan = { id: validateU32(v.id, 'VNI', 0, 0xffffff) };
        if (v.port !== undefined) r.vxlan.port = validateU32(v.port, 'vxlan port', 1, 65535);
        for (const k of ['local', 'group', 'remote'] as const) {
          if (v[k] !== undefined) {
            if (require('net').isIP(v[k]) === 0) throw new ValidationError(`invalid vxlan ${k}: ${v[k]}`);
            r.vxlan[k] = v[k];
          }
        }
        if (v.learning !== undefined) r.vxlan.learning = v.learning;
        if (v.ttl !== undefined) r.vxlan.ttl = validateU32(v.ttl, 'ttl', 0, 255);
        if (v.dev !== undefined) r.vxlan.dev = await this.index(v.dev);
        break;
      }
      case 'macvlan':
        if (anyReq.parent === undefined) throw new ValidationError('macvlan needs a parent link');
        r.link = await this.index(anyReq.parent);
        if (anyReq.macvlan?.mode) r.macvlan = { mode: anyReq.macvlan.mode };
        break;
    }
    const echo = opts.echo !== false;
    let buf: Buffer;
    try {
      buf = native.linkAdd(r, NLM_F_CREATE | NLM_F_EXCL | (echo ? NLM_F_ECHO : 0));
    } catch (e: any) {
      throw new ValidationError(e.message);
    }
    let res: any[];
    try {
      res = await this.conn.request(buf, `link.add ${req.name}`);
    } catch (e) {
      throw kindError(e, req.kind);
    }
    // The kernel ignores IFLA_IFALIAS when creating a link: set it after.
    if (r.alias !== undefined && !req.netns) {
      await this.set(req.name, { alias: r.alias });
      if (echo) return this.get(req.name);
    }
    // With the link born elsewhere (req.netns) the echo comes from there.
    return res.find((m) => m && m.name === req.name) as Link | undefined;
  }

  /** Changes a link, like `ip link set`. */
  async set(link: LinkRef, req: LinkSetRequest): Promise<void> {
    // By name the kernel resolves the link itself (one request, no lookup),
    // unless the request renames it.
    const byName = typeof link === 'string' && req.name === undefined;
    const r: any = byName ? { index: 0, ifname: validateIfname(link as string) } : { index: this.indexNow(link) ?? await this.index(link) };
    const target: LinkRef = byName ? link : r.index;
    common(req, r, 'link');
    if (req.nomaster || req.master === null) r.master = 0;
    else if (req.master !== undefined) r.master = this.indexNow(req.master) ?? await this.index(req.master);
    if (req.netns) r.netnsFd = req.netns.fd;
    if (req.bridge) r.bridge = { ...req.bridge };
    // Port options are judged by the current master: attach first.
    if (req.bridgePort && r.master !== undefined) {
      const { bridgePort, ...rest } = req;
      await this.set(target, rest);
      await this.set(target, { bridgePort });
      return;
    }
    if (req.bridgePort) r.bridgePort = { ...req.bridgePort };
    if (req.addrGenMode !== undefined) {
      const m = ['eui64', 'none', 'stable_secret', 'random'].indexOf(req.addrGenMode);
      if (m < 0) throw new ValidationError(`invalid addrGenMode: ${req.addrGenMode}`);
      r.addrGenMode = m;
    }
    if (req.ipv4Conf) {
      r.ipv4Conf = {};
      for (const [k, v] of Object.entries(req.ipv4Conf)) {
        if (!IPV4_CONF_KEYS.includes(k as Ipv4ConfKey)) throw new ValidationError(`unknown ipv4Conf key: ${k}`);
        r.ipv4Conf[k] = validateU32(v as number, `ipv4Conf.${k}`);
      }
    }
    let buf: Buffer;
    try {
      buf = native.linkChange(r, 0);
    } catch (e: any) {
      throw new ValidationError(e.message);
    }
    await this.conn.request(buf, `link.set ${typeof link === 'object' ? r.index : link}`).catch((e) => { throw noSuchLink(e, link); });
  }

  /** Fetches one link by name or index, like `ip link show dev X`. */
  async get(ref: string | number): Promise<Link> {
    const req: any = {};
    if (typeof ref === 'number') req.index = validateU32(ref, 'ifindex', 1);
    else req.name = validateIfname(ref);
    try {
      const res = await this.conn.request(native.linkGet(req, 0), `link.get ${ref}`);
      if (!res.length) throw new NetlinkError(`link.get ${ref}: no such device`, 'ENODEV', 19);
      return res[0] as Link;
    } catch (e: any) {
      if (e.code === 'ENODEV') {
        const err = new NetlinkError(`link "${ref}" does not exist`, 'ENODEV', 19);
        err.op = `link.get ${ref}`;
        throw err;
      }
      throw e;
    }
  }

  /** Like get, but undefined when the link does not exist. */
  async find(ref: string | number): Promise<Link | undefined> {
    try {
      return await this.get(ref);
    } catch (e: any) {
      if (e.code === 'ENODEV') return undefined;
      throw e;
    }
  }

  /** All links, like `ip link show`. */
  async list(filter: { kind?: string; master?: LinkRef; group?: number } = {}): Promise<Link[]> {
    const all = (await this.conn.request(native.linkGet({}, NLM_F_DUMP), 'link.list', { dump: true })) as Link[];
    const master = filter.master !== undefined ? await this.index(filter.master) : undefined;
    return all.filter((l) => l && l.name !== undefined &&
      (filter.kind === undefined || l.kind === filter.kind) &&
      (master === undefined || l.master === master) &&
      (filter.group === undefined || l.group === filter.group));
  }

  /** Deletes a link, like `ip link delete`. Deleting one end of a veth removes both. */
  async delete(link: LinkRef): Promise<void> {
    const r = typeof link === 'string' ? { name: validateIfname(link) } : { index: this.indexNow(link) ?? await this.index(link) };
    await this.conn.request(native.linkDelete(r, 0), `link.delete ${typeof link === 'object' ? (r as any).index : link}`)
      .catch((e) => { throw noSuchLink(e, link); });
  }

  /**
   * Deletes every link in a group with one request, like `ip link delete
   * group N`: one unregister for all of them, so thousands go in well under
   * a second. Group 0 (the default group) is refused.
   */
  async deleteGroup(group: number): Promise<void> {
    validateU32(group, 'group', 1);
    try {
      await this.conn.request(native.linkDelete({ group }, 0), `link.deleteGroup ${group}`);
    } catch (e: any) {
      // The kernel answers ENODEV when no link is in the group.
      if (e.code !== 'ENODEV') throw e;
    }
  }
}
