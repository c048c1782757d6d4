// Links, like `ip link`. One file per kernel object, as vishvananda/netlink.
import { native } from '../native';
import { NetlinkConnection } from '../netlink/connection';
import {
  NetlinkError, ValidationError, checkBool, checkCString, checkEnum, checkKeys, checkObject, checkOptions, checkString, typeError,
} from '../errors';
import { IFLA_INFO_KIND, IFLA_LINKINFO, NLA_F_NESTED, NLM_F_CREATE, NLM_F_DUMP, NLM_F_ECHO, NLM_F_EXCL, RTM_GETLINK } from '../netlink/constants';
import { parseIp, validateIfname, validateMac, validateU32 } from '../util/ip';
import { Netns } from '../netns';


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

function createOnly(req: CreateAttrs, out: any, p: string): void {
  if (req.numTxQueues !== undefined) out.numTxQueues = validateU32(req.numTxQueues, `${p}numTxQueues`, 1, 4096);
  if (req.numRxQueues !== undefined) out.numRxQueues = validateU32(req.numRxQueues, `${p}numRxQueues`, 1, 4096);
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
  /** Like `ip link add NAME link PARENT type vlan id ID` (802.1q). */
  | { kind: 'vlan'; parent: LinkRef; vlan: { id: number } }
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

const COMMON_KEYS = ['name', 'mtu', 'address', 'group', 'txqlen', 'alias', 'up'] as const;
const CREATE_KEYS = ['numTxQueues', 'numRxQueues'] as const;
const ADD_KEYS: Record<string, readonly string[]> = {
  veth: ['peer'], bridge: ['bridge'], vxlan: ['vxlan'], macvlan: ['parent', 'macvlan'], vlan: ['parent', 'vlan'],
};
const SET_KEYS = [...COMMON_KEYS, 'master', 'nomaster', 'netns', 'bridge', 'bridgePort', 'ipv4Conf', 'addrGenMode'] as const;
const MACVLAN_MODES: MacvlanMode[] = ['private', 'vepa', 'bridge', 'passthru', 'source'];
/** Kinds that take ports (`master`): what a link of another kind answers EOPNOTSUPP for. */
const MASTER_KINDS = ['bridge', 'bond', 'team', 'vrf', 'openvswitch', 'hsr', 'batadv'];
/** A Linux bridge numbers its ports 1..1023 (BR_MAX_PORTS = 1024, port 0 unused). */
const BRIDGE_MAX_PORTS = 1023;

/** Bridge options, checked and copied (`ip link add ... type bridge stp_state 1 ...`). */
function bridgeOptions(v: unknown, what: string): BridgeOptions {
  const b = checkObject<BridgeOptions>(v, what);
  checkKeys(b, ['stp', 'vlanFiltering', 'forwardDelay', 'ageingTime', 'mcastSnooping'], what);
  const out: BridgeOptions = {};
  for (const k of ['stp', 'vlanFiltering', 'mcastSnooping'] as const) if (b[k] !== undefined) out[k] = checkBool(b[k], `${what}.${k}`);
  for (const k of ['forwardDelay', 'ageingTime'] as const) if (b[k] !== undefined) out[k] = validateU32(b[k]!, `${what}.${k}`);
  return out;
}

/** Bridge-port options (`ip link set X type bridge_slave hairpin on cost 5 ...`). */
function bridgePortOptions(v: unknown, what: string): BridgePortOptions {
  const p = checkObject<BridgePortOptions>(v, what);
  checkKeys(p, ['hairpin', 'isolated', 'learning', 'flood', 'neighSuppress', 'cost', 'priority'], what);
  const out: BridgePortOptions = {};
  for (const k of ['hairpin', 'isolated', 'learning', 'flood', 'neighSuppress'] as const) if (p[k] !== undefined) out[k] = checkBool(p[k], `${what}.${k}`);
  if (p.cost !== undefined) out.cost = validateU32(p.cost, `${what}.cost`, 1, 0xffffffff);
  // STP port priority: 6 bits in the kernel (BR_MAX_PORT_PRIORITY 63).
  if (p.priority !== undefined) out.priority = validateU32(p.priority, `${what}.priority`, 0, 63);
  return out;
}

/** Options as the caller named them, for messages: 'bridge.vlanFiltering, master'. */
function optionNames(req: any): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(req ?? {})) {
    if (k === 'kind' || k === 'name' || v === undefined) continue;
    if (v && typeof v === 'object' && !Array.isArray(v) && (k === 'bridge' || k === 'bridgePort' || k === 'vxlan' || k === 'macvlan')) {
      for (const kk of Object.keys(v)) out.push(`${k}.${kk}`);
    } else out.push(k);
  }
  return out;
}

function rewrap(e: NetlinkError, message: string, code = e.code, errno = e.errno): NetlinkError {
  const err = new NetlinkError(message, code, errno);
  err.op = e.op;
  if (e.extack) err.extack = e.extack;
  return err;
}

/** ENODEV for a link named by the caller reads as `link "X" does not exist`. */
function noSuchLink(e: any, ref: LinkRef): any {
  if (!(e instanceof NetlinkError) || e.code !== 'ENODEV' || typeof ref === 'object') return e;
  return rewrap(e, `link "${ref}" does not exist`);
}

/** Checks the common attributes into `out`; `p` prefixes field names in messages ('peer.'). */
function common(req: CommonAttrs & { name?: string }, out: any, p: string): void {
  if (req.name !== undefined) out.name = validateIfname(req.name, `${p}name`);
  if (req.mtu !== undefined) out.mtu = validateU32(req.mtu, `${p}mtu`, 68, 65535);
  if (req.address !== undefined) out.address = validateMac(req.address, `${p}address`);
  if (req.group !== undefined) out.group = validateU32(req.group, `${p}group`);
  if (req.txqlen !== undefined) out.txqlen = validateU32(req.txqlen, `${p}txqlen`);
  if (req.alias !== undefined) out.alias = checkCString(req.alias, `${p}alias`, 255);
  if (req.up !== undefined) out.up = checkBool(req.up, `${p}up`);
}

/** The fd of an open Netns given as `netns` (EBADF once closed, a type error for anything else). */
function netnsFd(ns: unknown, what: string): number {
  return Netns.fdOf(ns, what);
}

/** RTM_GETLINK dump filtered by kind (IFLA_LINKINFO / IFLA_INFO_KIND), built here: the addon's linkGet has no kind. */
function kindDumpMsg(kind: string): Buffer {
  const k = Buffer.from(`${kind}\0`);
  const kindLen = 4 + k.length;
  const infoLen = 4 + ((kindLen + 3) & ~3);
  const buf = Buffer.alloc(16 + 16 + infoLen);
  buf.writeUInt32LE(buf.length, 0);
  buf.writeUInt16LE(RTM_GETLINK, 4);
  buf.writeUInt16LE(infoLen, 32);
  buf.writeUInt16LE(IFLA_LINKINFO | NLA_F_NESTED, 34);
  buf.writeUInt16LE(kindLen, 36);
  buf.writeUInt16LE(IFLA_INFO_KIND, 38);
  k.copy(buf, 40);
  return buf;
}

export class LinkApi {
  /** Kinds this kernel was found to have (true) or lack (false). */
  private kinds = new Map<string, boolean>();

  constructor(private conn: NetlinkConnection) {}

  /**
   * The ifindex when the ref carries it (a number or a Link), else undefined
   * (a name, checked). Requests whose links come this way are sent in call
   * order: nothing is awaited before them.
   */
  indexNow(ref: LinkRef, what = 'link'): number | undefined {
    if (typeof ref === 'number') {
      if (!Number.isInteger(ref) || ref <= 0 || ref > 0x7fffffff) throw new ValidationError(`invalid ${what} ifindex: ${ref}`);
      return ref;
    }
    if (typeof ref === 'string') { validateIfname(ref, `${what} name`); return undefined; }
    if (ref !== null && typeof ref === 'object' && !Array.isArray(ref) && 'index' in ref) return validateU32(ref.index, `${what}.index`, 1, 0x7fffffff);
    throw typeError(what, 'a link name, an ifindex or a Link', ref);
  }

  /** Resolves a name, index or Link to an ifindex in this namespace. */
  async index(ref: LinkRef, what = 'link'): Promise<number> {
    return this.indexNow(ref, what) ?? (await this.get(ref as string)).index;
  }

  /**
   * Whether the kernel has a link kind: a dump filtered by kind returns only
   * links of that kind, but every link (lo included, which every namespace
   * has) when the kernel does not know the kind.
   */
  async hasKind(kind: string): Promise<boolean> {
    if (typeof kind !== 'string') throw typeError('kind', 'a string', kind);
    if (!/^[a-z0-9_]{1,32}$/.test(kind)) throw new ValidationError(`invalid link kind: ${JSON.stringify(kind)}`);
    const known = this.kinds.get(kind);
    if (known !== undefined) return known;
    const res = (await this.conn.request(kindDumpMsg(kind), `link.list kind ${kind}`, { dump: true })) as Link[];
    const has = !res.some((l) => l && l.name !== undefined && l.kind !== kind);
    this.kinds.set(kind, has);
    return has;
  }

  /**
   * EOPNOTSUPP from RTM_NEWLINK: the kind is missing only when the kernel
   * says so ("Unknown device type") or does not list it; else it refused
   * something in the request, which is what the error says.
   */
  private async addError(e: any, req: any, r: any): Promise<any> {
    if (!(e instanceof NetlinkError)) return e;
    if (e.code === 'EXFULL' && r.master !== undefined) return this.fullBridge(e, req.master);
    const unknownType = /Unknown device type/i.test(e.extack ?? '');
    if (e.code !== 'EOPNOTSUPP' && !(e.code === 'EINVAL' && unknownType)) return e;
    let missing = unknownType;
    if (!missing) missing = !(await this.hasKind(req.kind).catch(() => true));
    if (missing) {
      this.kinds.set(req.kind, false);
      return rewrap(e, `link kind "${req.kind}" is not supported by this kernel${e.extack ? `: ${e.extack}` : ''}`, 'EOPNOTSUPP', 95);
    }
    this.kinds.set(req.kind, true);
    const why = e.extack ? `: ${e.extack}` : '';
    if (r.master !== undefined) {
      const m = await this.get(r.master).catch(() => undefined);
      if (m && !MASTER_KINDS.includes(m.kind ?? '')) {
        return rewrap(e, `${e.op}: EOPNOTSUPP (Operation not supported)${why}: master "${m.name}" (${m.kind ? `kind ${m.kind}` : 'no kind'}) cannot take ports`);
      }
    }
    return rewrap(e, `${e.op}: EOPNOTSUPP (Operation not supported)${why}: the kernel has link kind "${req.kind}" but refused part of the request (${optionNames(req).join(', ') || 'no options'})`);
  }

  /** EXFULL on attaching a port: the bridge's port numbers ran out. */
  private async fullBridge(e: NetlinkError, master: LinkRef | undefined): Promise<NetlinkError> {
    const m = master === undefined ? undefined : await (typeof master === 'string' ? Promise.resolve({ name: master } as Link) : this.get(this.indexNow(master)!)).catch(() => undefined);
    return rewrap(e, `${e.op}: EXFULL (Exchange full): bridge${m ? ` "${m.name}"` : ''} has no free port: a Linux bridge holds at most ${BRIDGE_MAX_PORTS.toLocaleString('en-US')} ports`);
  }

  /**
   * Creates a link, like `ip link add`. A veth peer can be born inside
   * another namespace (`peer.netns`) in the same request. Resolves with
   * the new link as the kernel reports it.
   */
  async add(req: LinkAddRequest, opts: { echo?: boolean } = {}): Promise<Link | undefined> {
    checkObject(req, 'link.add request');
    opts = checkOptions(opts, 'link.add options');
    checkKeys(opts, ['echo'], 'link.add options');
    if (typeof req.kind !== 'string') throw typeError('kind', 'a string', (req as any).kind);
    if (!/^[a-z0-9_]{1,32}$/.test(req.kind)) throw new ValidationError(`invalid link kind: ${JSON.stringify(req.kind)}`);
    const r: any = { kind: req.kind };
    checkKeys(req, ['kind', ...COMMON_KEYS, ...CREATE_KEYS, 'master', 'netns', ...(ADD_KEYS[req.kind] ?? [])], `link.add ${req.kind}`);
    if (req.name === undefined) throw new ValidationError('link name is required');
    common(req, r, '');
    createOnly(req, r, '');
    if (req.netns !== undefined) r.netnsFd = netnsFd(req.netns, 'netns');
    // The kernel ignores IFLA_IFALIAS at creation; it is set by a second
    // request here, which cannot reach a link born in another namespace.
    if (r.alias !== undefined && r.netnsFd !== undefined) throw new ValidationError('alias cannot be given for a link made in another namespace (netns): set it there after');
    const echo = opts.echo === undefined ? true : checkBool(opts.echo, 'echo');
    const anyReq = req as any;
    // Everything is checked before the first lookup: bad input fails as such.
    let peer: any;
    let vx: VxlanOptions | undefined;
    switch (req.kind) {
      case 'veth': {
        const p: VethPeer = anyReq.peer;
        if (p === undefined) throw new ValidationError('veth needs a peer: { name }');
        checkObject(p, 'peer');
        checkKeys(p, [...COMMON_KEYS, ...CREATE_KEYS, 'netns'], 'peer');
        peer = {};
        common(p, peer, 'peer.');
        createOnly(p, peer, 'peer.');
        if (peer.name === undefined) throw new ValidationError('veth peer name is required');
        if (peer.alias !== undefined) throw new ValidationError('veth peer alias cannot be given at creation (the kernel ignores it): set it on the peer after');
        // (The kernel opens the peer before the pair is joined: ENOTCONN, and an up that some requests silently lost.)
        if (peer.up === true) throw new ValidationError('veth peer up cannot be given at creation (the kernel refuses it, ENOTCONN): bring the peer up after');
        if (p.netns !== undefined) peer.netnsFd = netnsFd(p.netns, 'peer.netns');
        r.peer = peer;
        break;
      }
      case 'bridge':
        if (anyReq.bridge !== undefined) r.bridge = bridgeOptions(anyReq.bridge, 'bridge');
        break;
      case 'vxlan': {
        vx = anyReq.vxlan;
        if (vx === undefined) throw new ValidationError('vxlan needs options: { id }');
        checkObject(vx, 'vxlan');
        checkKeys(vx!, ['id', 'local', 'group', 'remote', 'port', 'learning', 'dev', 'ttl'], 'vxlan');
        r.vxlan = { id: validateU32(vx!.id, 'vxlan.id', 0, 0xffffff) };
        if (vx!.port !== undefined) r.vxlan.port = validateU32(vx!.port, 'vxlan.port', 1, 65535);
        for (const k of ['local', 'group', 'remote'] as const) {
          if (vx![k] !== undefined) r.vxlan[k] = parseIp(vx![k]!, `vxlan.${k}`).address;
        }
        if (vx!.group !== undefined && vx!.remote !== undefined) throw new ValidationError('vxlan: group and remote exclude each other');
        if (vx!.learning !== undefined) r.vxlan.learning = checkBool(vx!.learning, 'vxlan.learning');
        if (vx!.ttl !== undefined) r.vxlan.ttl = validateU32(vx!.ttl, 'vxlan.ttl', 0, 255);
        if (vx!.dev !== undefined) this.indexNow(vx!.dev, 'vxlan.dev');
        break;
      }
      case 'vlan':
        if (anyReq.parent === undefined) throw new ValidationError('vlan needs a parent link');
        this.indexNow(anyReq.parent, 'parent');
        if (anyReq.vlan === undefined) throw new ValidationError('vlan needs options: { id }');
        checkObject(anyReq.vlan, 'vlan');
        checkKeys(anyReq.vlan, ['id'], 'vlan');
        r.vlan = { id: validateU32(anyReq.vlan.id, 'vlan.id', 1, 4094) };
        break;
      case 'macvlan':
        if (anyReq.parent === undefined) throw new ValidationError('macvlan needs a parent link');
        this.indexNow(anyReq.parent, 'parent');
        if (anyReq.macvlan !== undefined) {
          checkObject(anyReq.macvlan, 'macvlan');
          checkKeys(anyReq.macvlan, ['mode'], 'macvlan');
          if (anyReq.macvlan.mode !== undefined) r.macvlan = { mode: checkEnum(anyReq.macvlan.mode, 'macvlan.mode', MACVLAN_MODES) };
        }
        break;
    }
    if (req.master !== undefined) r.master = this.indexNow(req.master as LinkRef, 'master') ?? await this.index(req.master as LinkRef, 'master');
    if (vx?.dev !== undefined) r.vxlan.dev = await this.index(vx.dev, 'vxlan.dev');
    if (req.kind === 'macvlan' || req.kind === 'vlan') r.link = await this.index(anyReq.parent, 'parent');
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
      throw await this.addError(e, req, r);
    }
    // The kernel ignores IFLA_IFALIAS when creating a link: set it after
    // (by the name checked and sent: a getter's next value is not another
    // link); if that fails, the link goes, so nothing is left.
    if (r.alias !== undefined) {
      try {
        await this.set(r.name, { alias: r.alias });
      } catch (e) {
        await this.delete(r.name).catch(() => {});
        throw e;
      }
      if (echo) return this.get(r.name);
    }
    // With the link born elsewhere (req.netns) the echo comes from there.
    return res.find((m) => m && m.name === r.name) as Link | undefined;
  }

  /**
   * Changes a link, like `ip link set`. Everything is checked before the
   * first request; attaching to a bridge together with port options takes
   * two (the kernel judges port options by the current master), and when
   * the second fails the link goes back to its previous master.
   */
  async set(link: LinkRef, req: LinkSetRequest): Promise<void> {
    this.indexNow(link);
    checkObject(req, 'link.set request');
    checkKeys(req, SET_KEYS, 'link.set');
    // By name the kernel resolves the link itself (one request, no lookup),
    // unless the request renames it.
    const byName = typeof link === 'string' && req.name === undefined;
    const r: any = {};
    common(req, r, '');
    if (req.nomaster !== undefined && checkBool(req.nomaster, 'nomaster') && req.master !== undefined && req.master !== null) {
      throw new ValidationError('master and nomaster exclude each other');
    }
    const detach = req.nomaster === true || req.master === null;
    if (!detach && req.master !== undefined) this.indexNow(req.master as LinkRef, 'master');
    if (req.netns !== undefined) r.netnsFd = netnsFd(req.netns, 'netns');
    if (req.bridge !== undefined) r.bridge = bridgeOptions(req.bridge, 'bridge');
    const port = req.bridgePort !== undefined ? bridgePortOptions(req.bridgePort, 'bridgePort') : undefined;
    if (req.addrGenMode !== undefined) {
      r.addrGenMode = ['eui64', 'none', 'stable_secret', 'random'].indexOf(checkEnum(req.addrGenMode, 'addrGenMode', ['eui64', 'none', 'stable_secret', 'random']));
    }
    if (req.ipv4Conf !== undefined) {
      checkObject(req.ipv4Conf, 'ipv4Conf');
      r.ipv4Conf = {};
      for (const [k, v] of Object.entries(req.ipv4Conf)) {
        if (!IPV4_CONF_KEYS.includes(k as Ipv4ConfKey)) throw new ValidationError(`unknown ipv4Conf key: ${k}`);
        r.ipv4Conf[k] = validateU32(v as number, `ipv4Conf.${k}`);
      }
    }
    // Lookups only now, after every check.
    const head: any = byName ? { index: 0, ifname: link } : { index: this.indexNow(link) ?? await this.index(link) };
    const target: LinkRef = byName ? link : head.index;
    const opName = `link.set ${typeof link === 'object' ? head.index : link}`;
    if (detach) r.master = 0;
    else if (req.master !== undefined) r.master = this.indexNow(req.master as LinkRef, 'master') ?? await this.index(req.master as LinkRef, 'master');
    const build = (x: any): Buffer => {
      try {
        return native.linkChange({ ...head, ...x }, 0);
      } catch (e: any) {
        throw new ValidationError(e.message);
      }
    };
    const send = (x: any) => this.conn.request(build(x), opName).catch(async (e) => {
      if (e instanceof NetlinkError && e.code === 'EXFULL' && x.master) throw await this.fullBridge(e, req.master as LinkRef);
      throw noSuchLink(e, link);
    });
    if (!port) { await send(r); return; }
    if (r.master === undefined) { await send({ ...r, bridgePort: port }); return; }
    // Port options are judged by the current master: attach first, alone.
    const before = await this.get(typeof target === 'string' ? target : head.index).catch((e) => { throw noSuchLink(e, link); });
    const { master, ...rest } = r;
    await send({ master });
    try {
      await send({ ...rest, bridgePort: port });
    } catch (e) {
      await this.conn.request(build({ master: before.master ?? 0 }), `${opName} (undo master)`).catch(() => {});
      throw e;
    }
  }

  /** Fetches one link by name or index, like `ip link show dev X`. */
  async get(ref: string | number): Promise<Link> {
    const req: any = {};
    if (typeof ref === 'number') req.index = validateU32(ref, 'ifindex', 1, 0x7fffffff);
    else if (typeof ref === 'string') req.name = validateIfname(ref);
    else throw typeError('link', 'a link name or an ifindex', ref);
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
    checkOptions(filter, 'link.list filter');
    checkKeys(filter, ['kind', 'master', 'group'], 'link.list filter');
    if (filter.kind !== undefined) checkString(filter.kind, 'kind');
    if (filter.group !== undefined) validateU32(filter.group, 'group');
    if (filter.master !== undefined) this.indexNow(filter.master, 'master');
    const all = (await this.conn.request(native.linkGet({}, NLM_F_DUMP), 'link.list', { dump: true })) as Link[];
    const master = filter.master !== undefined ? await this.index(filter.master, 'master') : undefined;
    return all.filter((l) => l && l.name !== undefined &&
      (filter.kind === undefined || l.kind === filter.kind) &&
      (master === undefined || l.master === master) &&
      (filter.group === undefined || l.group === filter.group));
  }

  /** Deletes a link, like `ip link delete`. Deleting one end of a veth removes both. */
  async delete(link: LinkRef): Promise<void> {
    const now = this.indexNow(link);
    const r = typeof link === 'string' ? { name: link } : { index: now ?? await this.index(link) };
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
