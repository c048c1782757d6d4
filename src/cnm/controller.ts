// The CNM controller, like Docker's libnetwork controller: it owns the
// drivers, IPAM, the port allocator and the state store, and restores and
// reconciles what it persisted when opened.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Netns, netnsHeldElsewhere, netnsRunDir } from '../netns';
import { Rtnl } from '../rtnl';
import type { LinkSetRequest } from '../rtnl/link';
import { validateIfname, validateMac } from '../util/ip';
import { IndexSpec, StateLock, StateView, Store } from './store';
import { AddressPool, DEFAULT_POOLS, Prefix, SubnetAllocator, overlaps, parsePrefix, pickSubnet, prefixText, toBig, ulaSubnet } from './ipam';
import { PortAllocator, PortBinding, isAnyAddress, parsePublish } from './ports';
import { containerNameservers, DnsServer, embeddedUpstreams, hostNameservers } from './dns';
import { busy, exists, invalid, notFound } from './errors';
import type { Firewall, NetworkRules, PortRule } from './firewall';
import type {
  DriverName, EndpointCreateOptions, EndpointRecord, NetworkCreateOptions, NetworkRecord, SandboxCreateOptions, SandboxRecord,
} from './types';

/** IFLA_GROUP of every link we create: our links can always be found. */
export const CNM_LINK_GROUP = 0xc17;
/** Prefix of IFLA_IFALIAS on our links: `cnm-netlink:<endpoint or network id>`. */
export const ALIAS_PREFIX = 'cnm-netlink:';
const NETNS_PREFIX = 'cnm-';

const BRIDGE_OPT = 'com.docker.network.bridge.name';
const ICC_OPT = 'com.docker.network.bridge.enable_icc';
const MASQ_OPT = 'com.docker.network.bridge.enable_ip_masquerade';
const HOST_BINDING_OPT = 'com.docker.network.bridge.host_binding_ipv4';
const MTU_OPT = 'com.docker.network.driver.mtu';
const HOST_IPV4_OPT = 'com.docker.network.host_ipv4';

export interface ControllerOptions {
  /** Where state lives (default /var/lib/cnm-netlink). */
  stateDir?: string;
  /**
   * Where per-sandbox runtime files (hosts, resolv.conf) live: they last as
   * long as the namespaces, so tmpfs suits them, as Podman's runroot. Default
   * /run/cnm-netlink with the default stateDir, else `<stateDir>/run`.
   */
  runDir?: string;
  /** Docker's default-address-pools. */
  pools?: AddressPool[];
  /** Name of the default bridge (default cnm0; Docker's is docker0). */
  defaultBridge?: string;
  /** Where `ip netns exec` finds per-namespace resolv.conf/hosts (default /etc/netns; null to skip). */
  etcNetnsDir?: string | null;
  /** Firewall implementation (default: nftables). */
  firewall?: Firewall | null;
  /** Upstream DNS servers for names we do not know (default: the host's resolv.conf). */
  upstreamDns?: string[];
  /** Start embedded DNS servers (default true). */
  dns?: boolean;
  /**
   * How long to wait for another controller on the same stateDir to close
   * (default 10 s), then EBUSY: one writer per state directory.
   */
  lockTimeoutMs?: number;
}

/**
 * Names on a network (sandbox names, hostnames, endpoint names, aliases, id
 * prefixes) to addresses, from the state: a controller's, or a StateView's
 * in another process.
 */
export function resolveInState(store: Store, networkId: string, name: string, type: 'A' | 'AAAA'): string[] | undefined {
  const net = store.get<NetworkRecord>('network', networkId);
  if (!net) return undefined;
  const suffix = `.${net.name.toLowerCase()}`;
  const q = name.endsWith(suffix) ? name.slice(0, -suffix.length) : name;
  const ips: string[] = [];
  let known = false;
  for (const ep of store.by<EndpointRecord>('endpoint', 'network', networkId)) {
    if (!ep.sandboxId) continue;
    const sb = store.get<SandboxRecord>('sandbox', ep.sandboxId);
    const names = [ep.name, ...ep.aliases, sb?.name, sb?.hostname, sb && sb.id.length >= 12 ? sb.id.slice(0, 12) : undefined]
      .filter((x): x is string => !!x).map((x) => x.toLowerCase());
    if (!names.includes(q)) continue;
    known = true;
    const ip = type === 'A' ? ep.ipv4 : ep.ipv6;
    if (ip) ips.push(ip);
  }
  return known ? ips : undefined;
}

/**
 * Serves a network's names from the state on disk, in a process that holds no
 * controller (a `cnm run` while its program runs). Undefined for networks
 * without embedded DNS. Several such servers on one gateway answer alike.
 */
export async function serveNamesFromState(stateDir: string, networkRef: string, upstream?: string[]): Promise<DnsServer | undefined> {
  const view = new StateView(stateDir, STORE_INDEXES);
  const st = view.get();
  const n = st.get<NetworkRecord>('network', networkRef) ?? st.all<NetworkRecord>('network').find((x) => x.name === networkRef);
  const gw = n?.ipv4Subnet?.gateway;
  if (!n || !n.dns || n.driver !== 'bridge' || !gw) return undefined;
  const server = new DnsServer(gw, (name, type) => resolveInState(view.get(), n.id, name, type), upstreamsFor(n, upstream));
  await server.start();
  return server;
}

/**
 * Where a network's name server forwards what it does not know: nowhere on
 * internal networks (it runs in the host's namespace, so forwarding would be
 * their way out, CVE-2024-29018), else the configured or the host's servers.
 */
function upstreamsFor(n: NetworkRecord, configured?: string[]): string[] | null {
  return n.internal ? null : configured ?? embeddedUpstreams();
}

const KERNEL_IPV6 = fs.existsSync('/proc/sys/net/ipv6');

/** Waits for all (none is left running unobserved), then throws the first failure. */
async function settled<T extends unknown[]>(ps: { [K in keyof T]: Promise<T[K]> | T[K] }): Promise<T> {
  const rs = await Promise.allSettled(ps as any);
  const bad = rs.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (bad) throw bad.reason;
  return rs.map((r) => (r as PromiseFulfilledResult<any>).value) as T;
}

/** Lookups the hot paths make, kept O(1) at thousands of records. */
const STORE_INDEXES: IndexSpec = {
  sandbox: { name: (s: SandboxRecord) => s.name, joinedTo: (s: SandboxRecord) => s.joinedTo },
  endpoint: {
    sandbox: (e: EndpointRecord) => e.sandboxId,
    network: (e: EndpointRecord) => e.networkId,
    networkName: (e: EndpointRecord) => `${e.networkId}/${e.name}`,
    name: (e: EndpointRecord) => e.name,
    hostIfname: (e: EndpointRecord) => e.hostIfname,
  },
};

const newId = () => crypto.randomBytes(32).toString('hex');
const now = () => new Date().toISOString();
const bool = (v: string | undefined, dflt: boolean) => (v === undefined ? dflt : !['false', '0', 'no', 'off'].includes(v.toLowerCase()));

/** The EUI-64 IPv6 link-local address of a MAC, as the kernel derives it (fe80::/64, U/L bit flipped, ff:fe in the middle). */
export function linkLocalOf(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const w = [(b[0] ^ 2) << 8 | b[1], b[2] << 8 | 0xff, 0xfe << 8 | b[3], b[4] << 8 | b[5]];
  // Canonical text (no zero groups spelled out), as the kernel reports it.
  return new URL(`http://[fe80::${w.map((x) => x.toString(16)).join(':')}]`).hostname.slice(1, -1);
}

/**
 * A host end's bridge port: hairpin (a DNATed packet may leave by the port it
 * came in), isolated when the network has icc off.
 */
function portFlags(n: NetworkRecord): { hairpin: boolean; isolated?: boolean } {
  return { hairpin: true, ...(n.icc === false ? { isolated: true } : {}) };
}

/** MAC from an IPv4 address, as Docker before 28: 02:42 + the address bytes. */
export function macFromIp(ip: string): string {
  return ['02', '42', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** What reconcile found and undid: names of links and namespaces, ids of records. */
export interface ReconcileReport {
  removedLinks: string[];
  removedNetns: string[];
  droppedSandboxes: string[];
  droppedEndpoints: string[];
}

const emptyReport = (): ReconcileReport => ({ removedLinks: [], removedNetns: [], droppedSandboxes: [], droppedEndpoints: [] });

export class Controller {
  readonly stateDir: string;
  readonly runDir: string;
  /** What `open` had to undo or repair (after a crash: the half-made objects). */
  recovered: ReconcileReport = emptyReport();
  private store: Store;
  private rt: Rtnl;
  private fw: Firewall | null;
  private pools: AddressPool[];
  private ipam = new Map<string, { v4?: SubnetAllocator; v6?: SubnetAllocator }>();
  private ports = new PortAllocator();
  private dns = new Map<string, DnsServer>();
  private opts: ControllerOptions;
  private locks = new Map<string, Promise<void>>();
  private bridgeIndex = new Map<string, number>();
  /** Networks being deleted: no new endpoints. */
  private deleting = new Set<string>();
  /** A just-made sandbox's rtnetlink handle, kept for the join that usually follows. */
  /**
   * A just-made sandbox's namespace handle, kept for the join that usually
   * follows: it carries a NETLINK_ROUTE socket made when the namespace was,
   * so the join need not enter the namespace again.
   */
  private fresh = new Map<string, { ns: Netns; timer: NodeJS.Timeout }>();

  private keepFresh(id: string, ns: Netns): void {
    this.dropFresh(id);
    const timer = setTimeout(() => this.dropFresh(id), 2000);
    timer.unref();
    this.fresh.set(id, { ns, timer });
  }

  /** Takes the fresh handle out of the cache (the caller closes it). */
  private takeFresh(id: string): Netns | undefined {
    const f = this.fresh.get(id);
    if (!f) return undefined;
    clearTimeout(f.timer);
    this.fresh.delete(id);
    return f.ns;
  }

  private dropFresh(id: string): void {
    this.takeFresh(id)?.close();
  }
  private closed = false;

  private constructor(store: Store, rt: Rtnl, fw: Firewall | null, opts: ControllerOptions, private lock: StateLock) {
    this.store = store;
    this.stateDir = store.dir;
    this.runDir = path.resolve(opts.runDir ?? (opts.stateDir === undefined ? '/run/cnm-netlink' : path.join(store.dir, 'run')));
    this.rt = rt;
    this.fw = fw;
    this.opts = opts;
    this.pools = opts.pools ?? DEFAULT_POOLS;
  }

  /** Opens the controller: restores state, then reconciles it with the kernel. */
  static async open(opts: ControllerOptions = {}): Promise<Controller> {
    // Absolute: paths derived from it end up in /etc/netns links and records.
    const stateDir = path.resolve(opts.stateDir ?? '/var/lib/cnm-netlink');
    const lock = await StateLock.acquire(stateDir, opts.lockTimeoutMs ?? 10000);
    let store: Store;
    try {
      store = Store.open(stateDir, STORE_INDEXES);
    } catch (e) {
      lock.release();
      throw e;
    }
    let rt: Rtnl | undefined;
    let fw: Firewall | null = null;
    try {
      rt = await Rtnl.open();
      if (opts.firewall !== undefined) fw = opts.firewall;
      else fw = await (await import('./nftables')).NftFirewall.open(stateDir);
      const c = new Controller(store, rt, fw, opts, lock);
      try {
        await c.restore();
      } catch (e) {
        for (const d of c.dns.values()) d.close();
        for (const id of [...c.fresh.keys()]) c.dropFresh(id);
        throw e;
      }
      return c;
    } catch (e) {
      rt?.close();
      fw?.close();
      await store.close().catch(() => {});
      lock.release();
      throw e;
    }
  }

  // ---------------------------------------------------------------- state

  private async restore(): Promise<void> {
    for (const n of this.store.all<NetworkRecord>('network')) this.loadIpam(n);
    // Addresses in use are the endpoints' own: one source of truth.
    for (const e of this.store.all<EndpointRecord>('endpoint')) {
      const a = this.ipam.get(e.networkId);
      if (e.ipv4 && a?.v4 && !a.v4.isUsed(e.ipv4)) a.v4.reserve(e.ipv4);
      if (e.ipv6 && a?.v6 && !a.v6.isUsed(e.ipv6)) a.v6.reserve(e.ipv6);
      for (const p of e.ports) this.ports.restore(p);
    }
    if (!this.findNetwork('bridge')) await this.createDefaults();
    this.recovered = await this.reconcile();
    for (const n of this.store.all<NetworkRecord>('network')) {
      if (n.driver === 'bridge') await this.restoreBridge(n).catch(() => { /* the next join retries, and reports */ });
      await this.startDns(n);
    }
  }

  private loadIpam(n: NetworkRecord): void {
    this.ipam.set(n.id, {
      v4: n.ipv4Subnet ? new SubnetAllocator(n.ipv4Subnet) : undefined,
      v6: n.ipv6Subnet ? new SubnetAllocator(n.ipv6Subnet) : undefined,
    });
  }

  // Only the subnet, range and gateway are the network's; which addresses
  // are used is derived from the endpoints on restore.
  private async saveNetwork(n: NetworkRecord): Promise<void> {
    const a = this.ipam.get(n.id);
    const conf = (x?: SubnetAllocator) => x && { ...x.state(), used: x.gateway ? [x.gateway] : [] };
    n.ipv4Subnet = conf(a?.v4);
    n.ipv6Subnet = conf(a?.v6);
    await this.store.put('network', n.id, n);
  }

  private async createDefaults(): Promise<void> {
    await this.createNetworkRecord({ name: 'bridge', driver: 'bridge', subnet: '172.17.0.0/16',
      options: { [BRIDGE_OPT]: this.opts.defaultBridge ?? 'cnm0' } }, true);
    await this.createNetworkRecord({ name: 'host', driver: 'host' }, true);
    await this.createNetworkRecord({ name: 'none', driver: 'null' }, true);
  }

  /**
   * Makes the kernel match the state after a restart or a crash: half-made
   * sandboxes and endpoints are rolled back, state whose kernel objects
   * vanished is dropped or repaired, and tagged kernel objects the state
   * does not know are removed.
   */
  async reconcile(): Promise<ReconcileReport> {
    const report = emptyReport();
    // Sandboxes: pending or whose namespace is gone.
    for (const sb of this.store.all<SandboxRecord>('sandbox')) {
      const gone = sb.mode === 'own' ? !fs.existsSync(sb.netnsPath!) :
        sb.mode === 'adopted' ? !fs.existsSync(sb.netnsPath!) :
        sb.mode === 'container' ? !this.store.get('sandbox', sb.joinedTo!) : false;
      if (sb.pending || gone) {
        for (const ep of this.store.by<EndpointRecord>('endpoint', 'sandbox', sb.id)) {
          this.releaseEndpoint(ep);
          await this.store.del('endpoint', ep.id);
          report.droppedEndpoints.push(ep.id);
        }
        if (sb.mode === 'own' && fs.existsSync(sb.netnsPath!)) await Netns.delete(sb.netnsName!).catch(() => {});
        this.removeSandboxFiles(sb);
        await this.store.del('sandbox', sb.id);
        report.droppedSandboxes.push(sb.id);
      }
    }
    // Sandbox directories whose record never landed (a crash mid-create).
    const sbDir = path.join(this.runDir, 'sandboxes');
    for (const d of fs.existsSync(sbDir) ? fs.readdirSync(sbDir) : []) {
      if (!this.store.get('sandbox', d)) fs.rmSync(path.join(sbDir, d), { recursive: true, force: true });
    }
    // Endpoints: pending ones are rolled back; joined ones must have their link.
    const links = await this.rt.link.list();
    const byName = new Map(links.map((l) => [l.name, l]));
    for (const ep of this.store.all<EndpointRecord>('endpoint')) {
      if (ep.pending) {
        if (ep.hostIfname && byName.has(ep.hostIfname)) await this.rt.link.delete(ep.hostIfname).catch(() => {});
        // A half-made macvlan lives inside a sandbox that survived the crash.
        const net = this.store.get<NetworkRecord>('network', ep.networkId);
        if (net?.driver === 'macvlan' && ep.ifname && ep.sandboxId && this.store.get('sandbox', ep.sandboxId)) {
          const ns = await this.sandboxNetns(ep.sandboxId).catch(() => undefined);
          if (ns) {
            const rt = await Rtnl.open({ netns: ns }).catch(() => undefined);
            await rt?.link.delete(ep.ifname).catch(() => {});
            rt?.close();
            ns.close();
          }
        }
        this.releaseEndpoint(ep);
        await this.store.del('endpoint', ep.id);
        report.droppedEndpoints.push(ep.id);
        continue;
      }
      const net = this.store.get<NetworkRecord>('network', ep.networkId);
      if (!net) {
        this.releaseEndpoint(ep);
        await this.store.del('endpoint', ep.id);
        report.droppedEndpoints.push(ep.id);
        continue;
      }
      if (ep.sandboxId && ep.hostIfname && net.driver === 'bridge' && !byName.has(ep.hostIfname)) {
        // The sandbox exists but its veth vanished: join again (repair).
        const sb = this.store.get<SandboxRecord>('sandbox', ep.sandboxId);
        ep.sandboxId = undefined;
        ep.ifname = undefined;
        ep.hostIfname = undefined;
        await this.store.put('endpoint', ep.id, ep);
        if (sb) await this.joinEndpoint(ep.id, sb.id).catch(() => {});
      }
    }
    // Tagged links nobody knows.
    const knownIf = new Set(this.store.all<EndpointRecord>('endpoint').map((e) => e.hostIfname).filter(Boolean));
    const knownBridges = new Set(this.store.all<NetworkRecord>('network').map((n) => n.bridge).filter(Boolean));
    for (const l of await this.rt.link.list()) {
      if (!l.alias?.startsWith(ALIAS_PREFIX) && l.group !== CNM_LINK_GROUP) continue;
      if (knownIf.has(l.name) || knownBridges.has(l.name)) continue;
      await this.rt.link.delete(l.index).catch(() => {});
      report.removedLinks.push(l.name);
    }
    // Namespaces we made that no sandbox owns.
    const knownNs = new Set(this.store.all<SandboxRecord>('sandbox').map((s) => s.netnsName).filter(Boolean));
    for (const name of Netns.list()) {
      if (name.startsWith(NETNS_PREFIX) && !knownNs.has(name)) {
        await Netns.delete(name).catch(() => {});
        this.removeEtcNetns(name);
        report.removedNetns.push(name);
      }
    }
    // Rules belong to bridges that exist (the default one waits for its first endpoint).
    if (this.fw) {
      const present = new Set((await this.rt.link.list({ kind: 'bridge' })).map((l) => l.name));
      await this.fw.reconcile(this.allNetworkRules().filter((n) => present.has(n.bridge)), this.allPortRules());
    }
    return report;
  }

  private ours(l: { alias?: string; group: number }): boolean {
    return l.group === CNM_LINK_GROUP || !!l.alias?.startsWith(ALIAS_PREFIX);
  }

  private allNetworkRules(): NetworkRules[] {
    return this.store.all<NetworkRecord>('network').filter((n) => n.driver === 'bridge').map((n) => this.networkRules(n));
  }

  private allPortRules(): PortRule[] {
    return this.store.all<EndpointRecord>('endpoint').filter((e) => e.sandboxId).flatMap((e) => this.portRules(e));
  }

  private networkRules(n: NetworkRecord): NetworkRules {
    return {
      id: n.id, bridge: n.bridge!, subnet4: this.ipam.get(n.id)?.v4?.subnet ?? n.ipv4Subnet?.subnet, gateway4: this.ipam.get(n.id)?.v4?.gateway ?? n.ipv4Subnet?.gateway,
      subnet6: this.ipam.get(n.id)?.v6?.subnet ?? n.ipv6Subnet?.subnet,
      icc: n.icc ?? true, masquerade: (n.masquerade ?? true) && !n.internal, internal: n.internal,
      hostIpv4: n.options[HOST_IPV4_OPT],
    };
  }

  /**
   * A mapping on every address ('0.0.0.0' or '::', as Docker's default)
   * reaches the container over each family it has; one on a host IP, over
   * that IP's family.
   */
  private portRules(e: EndpointRecord): PortRule[] {
    const out: PortRule[] = [];
    for (const p of e.ports) {
      const any = isAnyAddress(p.hostIp);
      const v6 = p.hostIp.includes(':');
      const base = { owner: e.id, proto: p.proto, hostPort: p.hostPort, containerPort: p.containerPort };
      if (e.ipv4 && (any || !v6)) out.push({ ...base, hostIp: any ? '0.0.0.0' : p.hostIp, containerIp: e.ipv4 });
      if (e.ipv6 && (any || v6)) out.push({ ...base, hostIp: any ? '::' : p.hostIp, containerIp: e.ipv6 });
    }
    return out;
  }

  /** Serializes operations on one object (network or sandbox). */
  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chain = prev.then(() => mine);
    this.locks.set(key, chain);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(key) === chain) this.locks.delete(key);
    }
  }

  // ------------------------------------------------------------- networks

  /** By id, then name, then a unique id prefix of 6+ characters (as Docker resolves them). */
  private lookup<T extends { id: string; name: string }>(kind: 'network' | 'sandbox', ref: string): T | undefined {
    const direct = this.store.get<T>(kind, ref);
    if (direct) return direct;
    const byName = kind === 'sandbox' ? this.store.by<T>(kind, 'name', ref)[0] : this.store.all<T>(kind).find((x) => x.name === ref);
    if (byName || ref.length < 6) return byName;
    const m = this.store.all<T>(kind).filter((x) => x.id.startsWith(ref));
    return m.length === 1 ? m[0] : undefined;
  }

  private findNetwork(ref: string): NetworkRecord | undefined { return this.lookup<NetworkRecord>('network', ref); }

  private getNetwork(ref: string): NetworkRecord {
    const n = this.findNetwork(ref);
    if (!n) throw notFound('network', ref);
    return n;
  }

  networks(): Network[] {
    return this.store.all<NetworkRecord>('network').sort((a, b) => a.created.localeCompare(b.created)).map((n) => new Network(this, n.id));
  }

  network(ref: string): Network {
    return new Network(this, this.getNetwork(ref).id);
  }

  /** Like `docker network create`. */
  async createNetwork(o: NetworkCreateOptions): Promise<Network> {
    const rec = await this.createNetworkRecord(o, false);
    return new Network(this, rec.id);
  }

  private takenSubnets(): Prefix[] {
    const taken: Prefix[] = [];
    for (const n of this.store.all<NetworkRecord>('network')) {
      if (n.ipv4Subnet) taken.push(parsePrefix(n.ipv4Subnet.subnet));
      if (n.ipv6Subnet) taken.push(parsePrefix(n.ipv6Subnet.subnet));
    }
    return taken;
  }

  /** On-link routes and nameservers of the host: subnets there are skipped. */
  private async hostPrefixes(): Promise<Prefix[]> {
    const out: Prefix[] = [];
    for (const r of await this.rt.route.list({ table: 'all' })) {
      if (r.dst === 'default' || r.type !== 'unicast') continue;
      const [a, len] = r.dst.split('/');
      const host = BigInt((r.family === 4 ? 32 : 128) - Number(len));
      out.push({ family: r.family, net: (toBig(a, r.family) >> host) << host, len: Number(len) });
    }
    for (const ns of hostNameservers()) {
      const fam = ns.includes(':') ? 6 : 4;
      out.push({ family: fam, net: toBig(ns, fam), len: fam === 4 ? 32 : 128 });
    }
    return out;
  }

  private async createNetworkRecord(o: NetworkCreateOptions, builtin: boolean): Promise<NetworkRecord> {
    if (!o || typeof o.name !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(o.name)) throw invalid(`invalid network name: ${JSON.stringify(o?.name)}`);
    return this.locked('networks', async () => {
      if (this.findNetwork(o.name)) throw exists('network', o.name);
      const driver: DriverName = o.driver ?? 'bridge';
      if (!['bridge', 'host', 'null', 'macvlan'].includes(driver)) throw invalid(`unknown network driver: ${driver}`);
      if (!builtin && (driver === 'host' || driver === 'null')) throw invalid(`only one instance of "${driver}" network is allowed`);
      const options = { ...(o.options ?? {}) };
      const id = newId();
      const rec: NetworkRecord = {
        id, name: o.name, driver, created: now(), internal: !!o.internal, ipv6: !!o.ipv6,
        options, labels: { ...(o.labels ?? {}) }, builtin: builtin || undefined,
        dns: driver !== 'host' && driver !== 'null' && !builtin,
      };
      const alloc: { v4?: SubnetAllocator; v6?: SubnetAllocator } = {};
      if (driver === 'bridge' || driver === 'macvlan') {
        const taken = this.takenSubnets();
        let subnet = o.subnet;
        if (subnet !== undefined) {
          const p = parsePrefix(subnet);
          if (p.family !== 4) throw invalid(`subnet ${subnet} is not IPv4 (use subnet6)`);
          const clash = taken.find((t) => overlaps(t, p));
          if (clash) throw busy(`subnet ${subnet} overlaps with another network (${prefixText(clash)})`);
        } else {
          subnet = pickSubnet(this.pools, [...taken, ...(driver === 'bridge' ? await this.hostPrefixes() : [])]);
        }
        alloc.v4 = new SubnetAllocator({ subnet, range: o.ipRange, used: [] });
        const gw = o.gateway ?? undefined;
        if (driver === 'bridge') alloc.v4.gateway = gw ? alloc.v4.reserve(gw, 'gateway') : alloc.v4.allocate();
        else if (gw) alloc.v4.gateway = alloc.v4.reserve(gw, 'gateway');
        else if (o.gateway === undefined) alloc.v4.gateway = alloc.v4.allocate();
        if (o.ipv6 || o.subnet6) {
          if (!KERNEL_IPV6) throw invalid('IPv6 is disabled in this kernel (ipv6.disable=1): no IPv6 networks');
          rec.ipv6 = true;
          const s6 = o.subnet6 ?? ulaSubnet(`${id}`, taken);
          const p6 = parsePrefix(s6);
          if (p6.family !== 6) throw invalid(`subnet6 ${s6} is not IPv6`);
          const clash6 = taken.find((t) => overlaps(t, p6));
          if (clash6) throw busy(`subnet6 ${s6} overlaps with another network (${prefixText(clash6)})`);
          alloc.v6 = new SubnetAllocator({ subnet: s6, used: [] });
          alloc.v6.gateway = o.gateway6 ? alloc.v6.reserve(o.gateway6, 'gateway6') : alloc.v6.allocate();
        }
      } else if (o.subnet || o.gateway || o.ipv6) {
        throw invalid(`the ${driver} driver takes no IPAM configuration`);
      }
      if (driver === 'bridge') {
        rec.bridge = options[BRIDGE_OPT] ?? `br-${id.slice(0, 12)}`;
        validateIfname(rec.bridge, 'bridge name');
        if (this.store.all<NetworkRecord>('network').some((n) => n.bridge === rec.bridge)) throw exists('bridge', rec.bridge);
        rec.icc = bool(options[ICC_OPT], true);
        rec.masquerade = bool(options[MASQ_OPT], true);
        if (options[HOST_BINDING_OPT]) {
          if (!require('net').isIPv4(options[HOST_BINDING_OPT])) throw invalid(`invalid ${HOST_BINDING_OPT}: ${options[HOST_BINDING_OPT]}`);
          rec.hostBindingIpv4 = options[HOST_BINDING_OPT];
        }
        if (options[MTU_OPT]) {
          const mtu = Number(options[MTU_OPT]);
          if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw invalid(`invalid MTU: ${options[MTU_OPT]}`);
          rec.mtu = mtu;
        }
      }
      if (driver === 'macvlan') {
        rec.parent = options.parent;
        if (!rec.parent) throw invalid('macvlan needs options.parent (the host interface)');
        await this.rt.link.get(rec.parent);  // ENODEV if missing
        rec.macvlanMode = options.macvlan_mode ?? 'bridge';
        if (!['bridge', 'private', 'vepa', 'passthru'].includes(rec.macvlanMode)) throw invalid(`invalid macvlan_mode: ${rec.macvlanMode}`);
      }
      this.ipam.set(id, alloc);
      // Kernel objects: the default bridge waits for its first endpoint.
      const undo: (() => Promise<void>)[] = [];
      try {
        if (driver === 'bridge' && !builtin) await this.ensureBridge(rec, undo);
        await this.saveNetwork(rec);
        await this.startDns(rec);
      } catch (e) {
        for (const u of undo.reverse()) await u().catch(() => {});
        this.ipam.delete(id);
        await this.store.del('network', id).catch(() => {});
        throw e;
      }
      return rec;
    });
  }

  /**
   * Creates the bridge, its gateway address and firewall rules if missing.
   * On failure it undoes what it made (half made, a bridge would look done to
   * the next join); on success the undo steps go to `undo`, for the caller's
   * later steps.
   */
  private async ensureBridge(n: NetworkRecord, undo: (() => Promise<void>)[] = []): Promise<void> {
    const mine: (() => Promise<void>)[] = [];
    try {
      await this.makeBridge(n, mine);
    } catch (e) {
      for (const u of mine.reverse()) await u().catch(() => {});
      throw e;
    }
    undo.push(...mine);
  }

  private async makeBridge(n: NetworkRecord, undo: (() => Promise<void>)[]): Promise<void> {
    const a = this.ipam.get(n.id)!;
    const existing = await this.rt.link.find(n.bridge!);
    if (existing && existing.kind !== 'bridge') throw exists('link (not a bridge)', n.bridge!);
    if (!existing) {
      // A MAC of its own, as Docker gives its bridges: otherwise the kernel
      // takes the lowest port's, and it changes as containers come and go.
      const mac = crypto.randomBytes(6);
      mac[0] = (mac[0] & 0xfe) | 0x02;
      await this.rt.link.add({ kind: 'bridge', name: n.bridge!, mtu: n.mtu, group: CNM_LINK_GROUP, alias: `${ALIAS_PREFIX}${n.id}`, address: [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':'), bridge: { stp: false } }, { echo: false });
      undo.push(() => this.rt.link.delete(n.bridge!));
    }
    const addrs = await this.rt.addr.list({ link: n.bridge! });
    if (a.v4?.gateway && !addrs.some((x) => x.local === a.v4!.gateway)) await this.rt.addr.add(n.bridge!, { address: a.v4.cidr(a.v4.gateway), broadcast: '+' });
    if (a.v6?.gateway && !addrs.some((x) => x.local === a.v6!.gateway)) await this.rt.addr.add(n.bridge!, { address: a.v6.cidr(a.v6.gateway), flags: ['nodad'] });
    if (a.v6) {
      // The bridge's link-local without DAD: until it has one the kernel
      // sends no neighbour solicitation for forwarded packets, so published
      // IPv6 ports stayed unreachable for the first second or two.
      const ll = linkLocalOf((await this.rt.link.get(n.bridge!)).address!);
      if (!addrs.some((x) => x.local === ll)) {
        await this.rt.link.set(n.bridge!, { addrGenMode: 'none' });
        await this.rt.addr.add(n.bridge!, { address: `${ll}/64`, flags: ['nodad'] });
      }
    }
    await this.rt.link.set(n.bridge!, { up: true });
    const host = Netns.current();
    try {
      if (!n.internal) {
        host.sysctl('ipv4.ip_forward', 1);
        if (n.ipv6) host.sysctl('ipv6.conf.all.forwarding', 1);
      }
    } finally {
      host.close();
    }
    // Published ports answer on the host's 127.0.0.1 without a proxy.
    await this.rt.link.set(n.bridge!, { ipv4Conf: { route_localnet: 1 } });
    if (this.fw) {
      await this.fw.addNetwork(this.networkRules(n));
      undo.push(() => this.fw!.removeNetwork(this.networkRules(n)));
    }
  }

  /**
   * A network's bridge comes back if it vanished (a reboot, an `ip link
   * del`), as dockerd brings its bridges back: with its addresses and rules,
   * and the host ends of joined endpoints attached again. (The default
   * bridge waits for its first endpoint, unless it has some.)
   */
  private async restoreBridge(n: NetworkRecord): Promise<void> {
    const eps = this.store.by<EndpointRecord>('endpoint', 'network', n.id).filter((e) => e.sandboxId && e.hostIfname);
    if (await this.rt.link.find(n.bridge!)) return;
    if (n.builtin && !eps.length) return;
    await this.ensureBridge(n);
    const br = await this.rt.link.get(n.bridge!);
    for (const ep of eps) {
      const l = await this.rt.link.find(ep.hostIfname!);
      if (!l || l.master === br.index) continue;
      await this.rt.link.set(ep.hostIfname!, { master: br.index });
      await this.rt.link.set(ep.hostIfname!, { up: true, bridgePort: portFlags(n) });
    }
  }

  private async startDns(n: NetworkRecord): Promise<void> {
    if (this.opts.dns === false || !n.dns || n.driver !== 'bridge' || this.dns.has(n.id)) return;
    const gw = this.ipam.get(n.id)?.v4?.gateway;
    if (!gw) return;
    const server = new DnsServer(gw, (name, type) => this.resolveName(n.id, name, type), upstreamsFor(n, this.opts.upstreamDns));
    try {
      await server.start();
      this.dns.set(n.id, server);
    } catch (e: any) {
      // Another controller process serves it (EADDRINUSE) or the bridge is
      // not up yet (EADDRNOTAVAIL): names still resolve through that one.
      if (e.code !== 'EADDRINUSE' && e.code !== 'EADDRNOTAVAIL') throw e;
    }
  }

  /** Names on a network: sandbox names, hostnames, aliases, id prefixes. */
  resolveName(networkId: string, name: string, type: 'A' | 'AAAA'): string[] | undefined {
    return resolveInState(this.store, networkId, name, type);
  }

  /** Like `docker network rm`: refused while endpoints exist. */
  async deleteNetwork(ref: string): Promise<void> {
    const n = this.getNetwork(ref);
    if (n.builtin) throw invalid(`${n.name} is a pre-defined network and cannot be removed`);
    await this.locked('networks', async () => {
      const eps = this.store.by<EndpointRecord>('endpoint', 'network', n.id);
      if (eps.length) throw busy(`network ${n.name} has active endpoints (${eps.map((e) => e.name).join(', ')})`);
      // From here on no endpoint may be created on it (createEndpoint checks).
      this.deleting.add(n.id);
      this.dns.get(n.id)?.close();
      this.dns.delete(n.id);
      if (n.driver === 'bridge') {
        if (this.fw) await this.fw.removeNetwork(this.networkRules(n));
        const br = await this.rt.link.find(n.bridge!);
        if (br && this.ours(br)) await this.rt.link.delete(br.index);
      }
      this.ipam.delete(n.id);
      this.bridgeIndex.delete(n.id);
      await this.store.del('network', n.id);
    }).finally(() => this.deleting.delete(n.id));
  }

  /** Docker's `network inspect` shape. */
  inspectNetwork(ref: string): any {
    const n = this.getNetwork(ref);
    const config: any[] = [];
    if (n.ipv4Subnet) config.push({ Subnet: n.ipv4Subnet.subnet, Gateway: n.ipv4Subnet.gateway, ...(n.ipv4Subnet.range ? { IPRange: n.ipv4Subnet.range } : {}) });
    if (n.ipv6Subnet) config.push({ Subnet: n.ipv6Subnet.subnet, Gateway: n.ipv6Subnet.gateway });
    const containers: Record<string, any> = {};
    for (const ep of this.store.by<EndpointRecord>('endpoint', 'network', n.id).filter((e) => e.sandboxId)) {
      const sb = this.store.get<SandboxRecord>('sandbox', ep.sandboxId!);
      const a = this.ipam.get(n.id);
      containers[ep.sandboxId!] = {
        Name: sb?.name ?? ep.name, EndpointID: ep.id, MacAddress: ep.mac ?? '',
        IPv4Address: ep.ipv4 && a?.v4 ? a.v4.cidr(ep.ipv4) : '', IPv6Address: ep.ipv6 && a?.v6 ? a.v6.cidr(ep.ipv6) : '',
      };
    }
    const options: Record<string, string> = { ...n.options };
    if (n.driver === 'bridge') options[BRIDGE_OPT] = n.bridge!;
    return {
      Name: n.name, Id: n.id, Created: n.created, Scope: 'local', Driver: n.driver === 'null' ? 'null' : n.driver,
      EnableIPv4: true, EnableIPv6: n.ipv6, IPAM: { Driver: 'default', Options: {}, Config: config }, Internal: n.internal,
      Attachable: false, Ingress: false, Containers: containers, Options: options, Labels: { ...n.labels },
    };
  }

  // ------------------------------------------------------------ sandboxes

  private findSandbox(ref: string): SandboxRecord | undefined { return this.lookup<SandboxRecord>('sandbox', ref); }

  private getSandbox(ref: string): SandboxRecord {
    const s = this.findSandbox(ref);
    if (!s) throw notFound('sandbox', ref);
    return s;
  }

  sandboxes(): Sandbox[] {
    return this.store.all<SandboxRecord>('sandbox').sort((a, b) => a.created.localeCompare(b.created)).map((s) => new Sandbox(this, s.id));
  }

  sandbox(ref: string): Sandbox {
    return new Sandbox(this, this.getSandbox(ref).id);
  }

  /** The namespace a sandbox lives in (its own, shared, adopted or the host's). */
  async sandboxNetns(ref: string): Promise<Netns> {
    let sb = this.getSandbox(ref);
    while (sb.mode === 'container') sb = this.getSandbox(sb.joinedTo!);
    if (sb.mode === 'host') return Netns.current();
    return Netns.open({ path: sb.netnsPath! });
  }

  /**
   * Like the runtime's part of `docker run`: a sandbox is a network
   * namespace (new, adopted by key, shared with another sandbox, or the host's),
   * with loopback up and hosts/resolv.conf files a runtime can bind-mount.
   */
  async createSandbox(o: SandboxCreateOptions): Promise<Sandbox> {
    if (!o || typeof o.id !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(o.id)) throw invalid(`invalid sandbox id: ${JSON.stringify(o?.id)}`);
    const name = o.name ?? o.id;
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(name)) throw invalid(`invalid sandbox name: ${JSON.stringify(name)}`);
    if (o.hostname !== undefined && !/^[a-zA-Z0-9]([a-zA-Z0-9-.]{0,61}[a-zA-Z0-9])?$/.test(o.hostname)) throw invalid(`invalid hostname: ${o.hostname}`);
    const modes = [o.key !== undefined, o.joinSandbox !== undefined, !!o.host].filter(Boolean).length;
    if (modes > 1) throw invalid('key, joinSandbox and host are exclusive');
    // The id and name may not be another sandbox's id or name (a prefix of an id is fine).
    const taken = (x: string) => !!this.store.get('sandbox', x) || this.store.by('sandbox', 'name', x).length > 0;
    if (taken(o.id) || taken(name)) throw exists('sandbox', o.id);
    const dir = path.join(this.runDir, 'sandboxes', o.id);
    const rec: SandboxRecord = {
      id: o.id, name, hostname: o.hostname ?? (o.id.length > 12 ? o.id.slice(0, 12) : o.id), mode: 'own', created: now(),
      hostsPath: path.join(dir, 'hosts'), resolvConfPath: path.join(dir, 'resolv.conf'), pending: true,
    };
    if (o.host) rec.mode = 'host';
    else if (o.joinSandbox !== undefined) {
      const other = this.getSandbox(typeof o.joinSandbox === 'string' ? o.joinSandbox : o.joinSandbox.id);
      rec.mode = 'container';
      rec.joinedTo = other.mode === 'container' ? other.joinedTo : other.id;
    } else if (o.key !== undefined) {
      rec.mode = 'adopted';
      // A path, or a pid (a number or { pid }), like a runtime's SetKey.
      const pid = typeof o.key === 'number' ? o.key : typeof o.key === 'object' && o.key !== null ? (o.key as any).pid : undefined;
      if (typeof o.key !== 'string' && !(Number.isInteger(pid) && pid > 0)) throw invalid(`invalid sandbox key: ${JSON.stringify(o.key)} (a namespace path or a pid)`);
      const ns = await Netns.open(typeof o.key === 'string' ? { path: o.key } : { pid });
      try {
        // Joins there would change the host's own interfaces and routes.
        const host = Netns.current();
        const same = ns.equals(host);
        host.close();
        if (same) throw invalid(`sandbox key ${JSON.stringify(o.key)} is the host's network namespace: use { host: true }`);
      } finally {
        ns.close();
      }
      rec.netnsPath = typeof o.key === 'string' ? o.key : `/proc/${pid}/ns/net`;
    } else {
      // The whole id: ids are unique, so names are (a cut id could collide).
      rec.netnsName = `${NETNS_PREFIX}${o.id}`;
      rec.netnsPath = path.join(netnsRunDir(), rec.netnsName);
    }
    // Recorded as pending first (durability is not awaited: a crash before
    // it lands leaves a tagged namespace that reconcile removes).
    void this.store.put('sandbox', rec.id, { ...rec }).catch(() => {});
    let made = false;
    try {
      if (rec.mode === 'own') {
        // The creating thread brings lo up and makes the rtnetlink socket the
        // join will use. (No sysctls: every /proc/sys/net lookup walks a
        // dentry chain as long as the number of namespaces.)
        const ns = await Netns.create(rec.netnsName, { loUp: true, rtnlSocket: true });
        made = true;
        this.keepFresh(rec.id, ns);
      } else if (rec.mode === 'adopted') {
        const ns = await Netns.open({ path: rec.netnsPath! });
        try {
          const rt = await Rtnl.open({ netns: ns });
          try { await rt.link.set('lo', { up: true }); } finally { rt.close(); }
        } finally {
          ns.close();
        }
      }
      rec.pending = undefined;
      await this.writeSandboxFiles(rec);
      this.linkEtcNetns(rec);
      await this.store.put('sandbox', rec.id, rec);
    } catch (e) {
      this.dropFresh(rec.id);
      // Only what this call made: an existing namespace of that name (EEXIST) is someone else's.
      if (made) await Netns.delete(rec.netnsName!).catch(() => {});
      this.removeSandboxFiles(rec, made || rec.mode !== 'own');
      await this.store.del('sandbox', rec.id);
      throw e;
    }
    return new Sandbox(this, rec.id);
  }

  /** Leaves every network, then removes the namespace (for own sandboxes). */
  async deleteSandbox(ref: string): Promise<void> {
    const sb = this.getSandbox(ref);
    const dependents = this.store.by<SandboxRecord>('sandbox', 'joinedTo', sb.id);
    if (dependents.length) throw busy(`sandbox ${sb.id} is shared by ${dependents.map((d) => d.id).join(', ')}`);
    this.dropFresh(sb.id);
    this.stopAnnouncing(sb.id);
    // Joins lock the namespace's owner (container mode shares it): so does this.
    await this.locked(`sandbox:${sb.mode === 'container' ? sb.joinedTo : sb.id}`, async () => {
      const eps = this.store.by<EndpointRecord>('endpoint', 'sandbox', sb.id);
      // The namespace going away takes the veths with it: only the firewall
      // and the records need work per endpoint. Unless something else keeps
      // it (a daemon the program left, a handle, a mount): then the namespace
      // lives on, and so would its veths, on the bridge with an address handed
      // out again; they are removed one by one (slow: an RCU wait each).
      const quick = sb.mode === 'own' && eps.length > 0 && !(await netnsHeldElsewhere(sb.netnsPath!));
      for (const ep of eps) await this.leaveUnlocked(ep.id, { skipKernel: quick });
      if (sb.mode === 'own') {
        await Netns.delete(sb.netnsName!).catch((e) => { if (e.code !== 'ENOENT') throw e; });
      }
      this.removeSandboxFiles(sb);
      await this.store.del('sandbox', sb.id);
    });
  }

  private sandboxEndpoints(sb: SandboxRecord): EndpointRecord[] {
    // Endpoints in the same namespace (container mode shares it).
    const root = sb.mode === 'container' ? sb.joinedTo! : sb.id;
    const members = [root, ...this.store.by<SandboxRecord>('sandbox', 'joinedTo', root).map((s) => s.id)];
    return members.flatMap((id) => this.store.by<EndpointRecord>('endpoint', 'sandbox', id));
  }

  /** hosts and resolv.conf of every sandbox sharing `sb`'s namespace (container mode): they all see its networks. */
  private async writeNamespaceFiles(sb: SandboxRecord): Promise<void> {
    const root = sb.mode === 'container' ? this.store.get<SandboxRecord>('sandbox', sb.joinedTo!) : sb;
    const members = root ? [root, ...this.store.by<SandboxRecord>('sandbox', 'joinedTo', root.id)] : [sb];
    for (const m of members) await this.writeSandboxFiles(m);
  }

  private async writeSandboxFiles(sb: SandboxRecord): Promise<void> {
    const dir = path.dirname(sb.hostsPath);
    // Small files written synchronously (on tmpfs by default, see runDir):
    // cheaper than queueing behind the journal's fsync on the libuv pool.
    fs.mkdirSync(dir, { recursive: true });
    const eps = this.sandboxEndpoints(sb);
    const hosts = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::\tip6-localnet', 'ff00::\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];
    for (const ep of eps) {
      if (ep.ipv4) hosts.push(`${ep.ipv4}\t${sb.hostname}`);
      if (ep.ipv6) hosts.push(`${ep.ipv6}\t${sb.hostname}`);
    }
    const dnsNets = eps.map((e) => this.store.get<NetworkRecord>('network', e.networkId)).filter((n): n is NetworkRecord => !!n && n.dns && n.driver === 'bridge');
    let resolv: string;
    if (dnsNets.length) {
      const servers = [...new Set(dnsNets.map((n) => this.ipam.get(n.id)?.v4?.gateway).filter(Boolean))];
      resolv = `# generated by cnm-netlink: embedded DNS on the network gateway\n${servers.map((s) => `nameserver ${s}`).join('\n')}\noptions ndots:0\n`;
    } else {
      const up = containerNameservers();
      resolv = `# generated by cnm-netlink from the host's resolv.conf\n${up.map((s) => `nameserver ${s}`).join('\n')}\n`;
    }
    fs.writeFileSync(sb.hostsPath, hosts.join('\n') + '\n');
    fs.writeFileSync(sb.resolvConfPath, resolv);
  }

  /**
   * `ip netns exec` bind-mounts /etc/netns/NAME/* over /etc: a link from there
   * to the sandbox's directory makes names work there too, and stays current.
   */
  private linkEtcNetns(sb: SandboxRecord): void {
    const etc = this.opts.etcNetnsDir === undefined ? '/etc/netns' : this.opts.etcNetnsDir;
    if (!etc || sb.mode !== 'own' || !sb.netnsName) return;
    const at = path.join(etc, sb.netnsName);
    const target = path.dirname(sb.hostsPath);
    try {
      fs.symlinkSync(target, at);
    } catch (e: any) {
      try {
        if (e.code === 'ENOENT') {
          fs.mkdirSync(etc, { recursive: true });
          fs.symlinkSync(target, at);
        } else if (e.code === 'EEXIST') {
          // Left by a crash (reconcile removes ours), or by someone else: replace only a link.
          if (fs.lstatSync(at).isSymbolicLink()) { fs.unlinkSync(at); fs.symlinkSync(target, at); }
        }
      } catch { /* read-only /etc: the paths above still work for runtimes */ }
    }
  }

  private removeEtcNetns(nsName: string): void {
    const etc = this.opts.etcNetnsDir === undefined ? '/etc/netns' : this.opts.etcNetnsDir;
    if (etc && nsName.startsWith(NETNS_PREFIX)) fs.rmSync(path.join(etc, nsName), { recursive: true, force: true });
  }

  private removeSandboxFiles(sb: SandboxRecord, etcLink = true): void {
    fs.rmSync(path.dirname(sb.hostsPath), { recursive: true, force: true });
    if (sb.netnsName && etcLink) this.removeEtcNetns(sb.netnsName);
  }

  inspectSandbox(ref: string): any {
    const sb = this.getSandbox(ref);
    return {
      ...sb,
      endpoints: this.store.by<EndpointRecord>('endpoint', 'sandbox', sb.id).map((e) => ({ ...e, network: this.store.get<NetworkRecord>('network', e.networkId)?.name })),
    };
  }

  // ------------------------------------------------------------ endpoints

  private findEndpoint(ref: string): EndpointRecord | undefined {
    return this.store.get<EndpointRecord>('endpoint', ref) ?? this.store.by<EndpointRecord>('endpoint', 'name', ref)[0];
  }

  private getEndpoint(ref: string): EndpointRecord {
    const e = this.findEndpoint(ref);
    if (!e) throw notFound('endpoint', ref);
    return e;
  }

  endpointRecord(id: string): EndpointRecord { return { ...this.getEndpoint(id) }; }
  networkRecord(id: string): NetworkRecord { return { ...this.getNetwork(id) }; }
  sandboxRecord(id: string): SandboxRecord { return { ...this.getSandbox(id) }; }

  /** Like libnetwork's CreateEndpoint: allocates addresses, MAC and host ports. */
  async createEndpoint(networkRef: string, o: EndpointCreateOptions): Promise<Endpoint> {
    const n = this.getNetwork(networkRef);
    if (this.deleting.has(n.id)) throw notFound('network', networkRef);
    if (!o || typeof o.name !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(o.name)) throw invalid(`invalid endpoint name: ${JSON.stringify(o?.name)}`);
    if (this.store.by('endpoint', 'networkName', `${n.id}/${o.name}`).length) throw exists(`endpoint on network ${n.name}`, o.name);
    const aliases = o.aliases ?? [];
    for (const a of aliases) if (typeof a !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(a)) throw invalid(`invalid alias: ${JSON.stringify(a)}`);
    if (o.ports?.length && n.driver !== 'bridge') throw invalid(`port publishing needs a bridge network (${n.name} is ${n.driver})`);
    if (o.ports?.length && n.internal) throw invalid(`network ${n.name} is internal: ports cannot be published`);
    const a = this.ipam.get(n.id)!;
    const ep: EndpointRecord = { id: newId(), name: o.name, networkId: n.id, created: now(), aliases, ports: [] };
    const done: (() => void)[] = [];
    try {
      if (a.v4) {
        ep.ipv4 = o.ip !== undefined ? a.v4.reserve(o.ip, 'IP address') : a.v4.allocate();
        done.push(() => a.v4!.release(ep.ipv4!));
      } else if (o.ip !== undefined) {
        throw invalid(`network ${n.name} has no IPv4 subnet`);
      }
      if (a.v6) {
        ep.ipv6 = o.ip6 !== undefined ? a.v6.reserve(o.ip6, 'IPv6 address') : a.v6.allocate();
        done.push(() => a.v6!.release(ep.ipv6!));
      } else if (o.ip6 !== undefined) {
        throw invalid(`network ${n.name} has no IPv6 subnet`);
      }
      if (n.driver === 'bridge' || n.driver === 'macvlan') ep.mac = o.mac !== undefined ? validateMac(o.mac) : ep.ipv4 ? macFromIp(ep.ipv4) : undefined;
      for (const spec of o.ports ?? []) {
        const s = typeof spec === 'string' ? parsePublish(spec) : { ...spec };
        if (s.hostIp === undefined && n.hostBindingIpv4) s.hostIp = n.hostBindingIpv4;
        const b = this.ports.allocate(s);
        ep.ports.push(b);
        done.push(() => this.ports.release(b));
        // A host IP of one family needs a container address of that family.
        if (!isAnyAddress(b.hostIp)) {
          const v6 = b.hostIp.includes(':');
          if (v6 ? !a.v6 : !a.v4) throw invalid(`host IP ${b.hostIp} is IPv${v6 ? 6 : 4} but network ${n.name} has no IPv${v6 ? 6 : 4} subnet`);
        }
      }
      await this.store.put('endpoint', ep.id, ep);
    } catch (e) {
      for (const d of done.reverse()) d();
      throw e;
    }
    return new Endpoint(this, ep.id);
  }

  private releaseEndpoint(ep: EndpointRecord): void {
    const a = this.ipam.get(ep.networkId);
    if (ep.ipv4 && a?.v4?.isUsed(ep.ipv4)) a.v4.release(ep.ipv4);
    if (ep.ipv6 && a?.v6?.isUsed(ep.ipv6)) a.v6.release(ep.ipv6);
    for (const p of ep.ports) this.ports.release(p);
  }

  /** Like libnetwork's Join: plugs the endpoint into the sandbox's namespace. */
  async joinEndpoint(epRef: string, sbRef: string): Promise<void> {
    const ep0 = this.getEndpoint(epRef);
    const sb = this.getSandbox(sbRef);
    await this.locked(`sandbox:${sb.mode === 'container' ? sb.joinedTo : sb.id}`, async () => {
      const ep = this.getEndpoint(ep0.id);
      if (ep.sandboxId) throw busy(`endpoint ${ep.name} is already joined to sandbox ${ep.sandboxId}`);
      const n = this.getNetwork(ep.networkId);
      const peers = this.sandboxEndpoints(sb);
      if (peers.some((p) => p.networkId === n.id)) throw exists(`sandbox ${sb.id} endpoint on network`, n.name);
      // Container mode shares its owner's namespace: the owner's mode decides
      // (a sandbox sharing a host-mode one is in the host's namespace).
      const root = sb.mode === 'container' ? this.getSandbox(sb.joinedTo!) : sb;
      if (root.mode === 'host' && n.driver !== 'host') throw invalid(`sandbox ${sb.id} uses the host's namespace: it can only join the host network`);
      if (n.driver === 'host' && root.mode !== 'host') throw invalid(`the host network needs a host-mode sandbox ({ host: true })`);
      if (n.driver === 'null' && peers.length) throw invalid('a sandbox on the none network cannot join other networks');
      if (peers.some((p) => this.store.get<NetworkRecord>('network', p.networkId)?.driver === 'null')) throw invalid(`sandbox ${sb.id} is on the none network`);
      const undo: (() => Promise<void>)[] = [];
      let ns: Netns | undefined;
      ep.pending = true;
      ep.sandboxId = sb.id;
      try {
        if (n.driver === 'bridge' || n.driver === 'macvlan') {
          const used = new Set(peers.map((p) => p.ifname));
          let i = 0;
          while (used.has(`eth${i}`)) i++;
          ep.ifname = `eth${i}`;
          ep.gatewayEndpoint = !n.internal && !peers.some((p) => p.gatewayEndpoint);
          if (n.driver === 'bridge') ep.hostIfname = this.hostIfname(ep);
          // Recorded as pending first. A veth is tagged (its group), so a crash
          // before this lands leaves something reconcile finds anyway; a
          // macvlan lives untagged inside the sandbox: wait for the record.
          const pendingPut = this.store.put('endpoint', ep.id, { ...ep });
          if (n.driver === 'macvlan') await pendingPut;
          else pendingPut.catch(() => {});
          // Closed after the undo steps, which may need it (see the catch).
          const root = sb.mode === 'container' ? sb.joinedTo! : sb.id;
          ns = this.takeFresh(root) ?? await this.sandboxNetns(sb.id);
          if (n.driver === 'bridge') await this.plugBridge(n, ep, ns, undo);
          else await this.plugMacvlan(n, ep, ns, undo);
          if (this.fw && ep.ports.length) {
            await this.fw.addPorts(this.portRules(ep));
            undo.push(() => this.fw!.removePorts(this.portRules(ep)));
          }
        }
        ep.pending = undefined;
        await this.store.put('endpoint', ep.id, ep);
        await this.writeNamespaceFiles(sb);
      } catch (e) {
        for (const u of undo.reverse()) await u().catch(() => {});
        ep.pending = undefined;
        ep.sandboxId = undefined;
        ep.ifname = undefined;
        ep.hostIfname = undefined;
        ep.gatewayEndpoint = undefined;
        await this.store.put('endpoint', ep.id, ep);
        throw e;
      } finally {
        ns?.close();
      }
    });
  }

  /** `veth` + 7 hex, as Docker names the host end; unique among ours. */
  private hostIfname(ep: EndpointRecord): string {
    for (let i = 0; i + 7 <= ep.id.length; i++) {
      const n = `veth${ep.id.slice(i, i + 7)}`;
      if (!this.store.by('endpoint', 'hostIfname', n).length) return n;
    }
    return `veth${crypto.randomBytes(4).toString('hex').slice(0, 7)}`;
  }

  private async plugBridge(n: NetworkRecord, ep: EndpointRecord, ns: Netns, undo: (() => Promise<void>)[]): Promise<void> {
    let bridgeIndex = this.bridgeIndex.get(n.id);
    if (bridgeIndex === undefined) {
      // Several first joins at once (the default bridge is made lazily): one makes it.
      bridgeIndex = await this.locked(`bridge:${n.id}`, async () => {
        if (!(await this.rt.link.find(n.bridge!))) {
          await this.ensureBridge(n);
          // Its name server could not start while the gateway address was missing.
          await this.startDns(n);
        }
        return (await this.rt.link.get(n.bridge!)).index;
      });
      this.bridgeIndex.set(n.id, bridgeIndex);
    }
    // One request: the container end is born inside the sandbox with its
    // final name, MAC and MTU; the host end is attached to the bridge.
    await this.rt.link.add({
      // Tagged by group (the name maps to the endpoint in the state).
      // One queue each way (what a veth ends up with anyway), asked for at
      // creation: shrinking the default one-per-CPU costs an RCU wait under RTNL.
      kind: 'veth', name: ep.hostIfname!, master: bridgeIndex, mtu: n.mtu, group: CNM_LINK_GROUP, numTxQueues: 1, numRxQueues: 1,
      peer: { name: ep.ifname!, netns: ns, address: ep.mac, mtu: n.mtu, numTxQueues: 1, numRxQueues: 1 },
    }, { echo: false });
    undo.push(() => this.rt.link.delete(ep.hostIfname!));
    // No IPv6 link-local on the host end: its DAD and router solicitations
    // would flood every port of the bridge (quadratic work at 1,000 ports).
    // Hairpin: a DNATed packet may have to leave by the port it came in (a
    // container reaching its own published port through the host address).
    const hostEnd = this.rt.link.set(ep.hostIfname!, { addrGenMode: 'none', bridgePort: portFlags(n) });
    hostEnd.catch(() => {});  // awaited in configureInside; observed here in case that fails first
    await this.configureInside(n, ep, ns, hostEnd, async (index) => {
      // The host end comes up last, so the carrier arrives with both ends
      // configured. (Host end first, then the container's, costs the bridge
      // about a third more kernel time per join at 1,000 ports, measured.)
      await this.rt.link.set(ep.hostIfname!, { up: true });
      if (this.needsAnnounce(n, ep)) this.announce(ep.sandboxId!, ns, index, ep.mac!);
    });
  }

  /**
   * Whether a join must announce its MAC. The kernel's own announcement
   * (arp_notify) goes out when the container end comes up, before the host
   * end gives it a carrier, so it is lost. A MAC derived from the address is
   * what any neighbour remembers for it, unless the address last belonged to
   * a given MAC: the network keeps those addresses (customMacIps).
   */
  private needsAnnounce(n: NetworkRecord, ep: EndpointRecord): boolean {
    if (!ep.mac || !ep.ipv4) return false;
    const custom = new Set(n.customMacIps ?? []);
    const derived = ep.mac === macFromIp(ep.ipv4);
    const need = !derived || custom.has(ep.ipv4);
    const changed = derived ? custom.delete(ep.ipv4) : !custom.has(ep.ipv4) && !!custom.add(ep.ipv4);
    if (changed) {
      n.customMacIps = [...custom];
      void this.store.put('network', n.id, n).catch(() => {});
    }
    return need;
  }

  /** Announcements in progress, by sandbox: stopped when it is deleted (they hold its namespace). */
  private announcing = new Map<string, Set<() => void>>();

  private stopAnnouncing(sandboxId?: string): void {
    for (const [id, stops] of [...this.announcing]) if (sandboxId === undefined || id === sandboxId) for (const stop of [...stops]) stop();
  }

  /**
   * Gratuitous ARPs, as Docker sends after a join (three, a second apart):
   * setting the same MAC again makes the kernel announce it (arp_notify).
   */
  private announce(sandboxId: string, ns: Netns, index: number, mac: string): void {
    let stopped = false;
    let rt: Rtnl | undefined;
    let handle: Netns | undefined;
    const stop = () => {
      stopped = true;
      rt?.close();
      handle?.close();
      const stops = this.announcing.get(sandboxId);
      stops?.delete(stop);
      if (stops && !stops.size) this.announcing.delete(sandboxId);
    };
    if (!this.announcing.has(sandboxId)) this.announcing.set(sandboxId, new Set());
    this.announcing.get(sandboxId)!.add(stop);
    void (async () => {
      try {
        handle = await Netns.open(ns);
        if (stopped) return;
        rt = await Rtnl.open({ netns: handle });
        for (let i = 0; i < 3 && !stopped && !this.closed; i++) {
          if (i) await new Promise((r) => setTimeout(r, 1000).unref());
          if (!stopped) await rt.link.set(index, { address: mac });
        }
      } catch { /* stopped, or the sandbox went away meanwhile */ } finally {
        stop();
      }
    })();
  }

  private async plugMacvlan(n: NetworkRecord, ep: EndpointRecord, ns: Netns, undo: (() => Promise<void>)[]): Promise<void> {
    // Born in the sandbox: the parent is resolved in the host namespace.
    await this.rt.link.add({ kind: 'macvlan', name: ep.ifname!, parent: n.parent!, netns: ns, address: ep.mac, macvlan: { mode: n.macvlanMode as any } }, { echo: false });
    undo.push(async () => {
      const rt = await Rtnl.open({ netns: ns });
      try { await rt.link.delete(ep.ifname!); } finally { rt.close(); }
    });
    await this.configureInside(n, ep, ns);
  }

  /**
   * Addresses, link up and default route inside the sandbox. The requests go
   * out together on one socket (the kernel runs them in order), so a join
   * waits for two round trips, not one per step.
   */
  private async configureInside(n: NetworkRecord, ep: EndpointRecord, ns: Netns, before?: Promise<void>, after?: (index: number) => Promise<void>): Promise<void> {
    const a = this.ipam.get(n.id)!;
    // Adopts the socket made with a fresh namespace, if it is still there.
    const rt = await Rtnl.open({ netns: ns });
    try {
      // RTM_NEWADDR takes no name: one lookup, overlapped with the host end's settings.
      const [link] = await settled([rt.link.get(ep.ifname!), before]);
      const ops: Promise<void>[] = [];
      // Before up: IPv6 link-local only on IPv6 networks (Docker disables
      // IPv6 otherwise); arp_notify, so coming up with the address announces it.
      const conf: LinkSetRequest = { ipv4Conf: { arp_notify: 1 } };
      if (!ep.ipv6) conf.addrGenMode = 'none';
      ops.push(rt.link.set(link.index, conf));
      if (ep.ipv4) ops.push(rt.addr.add(link.index, a.v4!.cidr(ep.ipv4)));
      if (ep.ipv6) ops.push(rt.addr.add(link.index, { address: a.v6!.cidr(ep.ipv6), flags: ['nodad'] }));
      ops.push(rt.link.set(link.index, { up: true }));
      if (ep.gatewayEndpoint) {
        if (a.v4?.gateway) ops.push(rt.route.replace({ dst: 'default', gateway: a.v4.gateway, dev: link.index }));
        if (a.v6?.gateway) ops.push(rt.route.replace({ dst: 'default', family: 6, gateway: a.v6.gateway, dev: link.index }));
      }
      await settled(ops);
      await after?.(link.index);
    } finally {
      rt.close();
    }
  }

  /** Like libnetwork's Leave: unplugs, keeps the allocation. */
  async leaveEndpoint(epRef: string, opts: { ifJoined?: boolean } = {}): Promise<void> {
    const ep0 = this.getEndpoint(epRef);
    if (!ep0.sandboxId) {
      if (opts.ifJoined) return;
      throw invalid(`endpoint ${ep0.name} is not joined`);
    }
    // Under the namespace's lock, as joins are: a leave racing a join must
    // not hand the default route to a half-made endpoint.
    const sb = this.store.get<SandboxRecord>('sandbox', ep0.sandboxId);
    await this.locked(`sandbox:${sb?.mode === 'container' ? sb.joinedTo : ep0.sandboxId}`, async () => {
      // A deleteSandbox that held the lock may have made it leave meanwhile.
      if (opts.ifJoined && !this.store.get<EndpointRecord>('endpoint', ep0.id)?.sandboxId) return;
      await this.leaveUnlocked(ep0.id);
    });
  }

  private async leaveUnlocked(epRef: string, opts: { skipKernel?: boolean } = {}): Promise<void> {
    const ep = this.getEndpoint(epRef);
    if (!ep.sandboxId) throw invalid(`endpoint ${ep.name} is not joined`);
    const sb = this.store.get<SandboxRecord>('sandbox', ep.sandboxId);
    const n = this.store.get<NetworkRecord>('network', ep.networkId);
    if (this.fw && ep.ports.length) await this.fw.removePorts(this.portRules(ep));
    if (!opts.skipKernel && n) {
      if (n.driver === 'bridge' && ep.hostIfname) {
        await this.rt.link.delete(ep.hostIfname).catch((e) => { if (e.code !== 'ENODEV') throw e; });
      } else if (n.driver === 'macvlan' && sb) {
        const ns = await this.sandboxNetns(sb.id);
        const rt = await Rtnl.open({ netns: ns });
        try { await rt.link.delete(ep.ifname!).catch(() => {}); } finally { rt.close(); ns.close(); }
      }
    }
    const wasGateway = ep.gatewayEndpoint;
    ep.sandboxId = undefined;
    ep.ifname = undefined;
    ep.hostIfname = undefined;
    ep.gatewayEndpoint = undefined;
    await this.store.put('endpoint', ep.id, ep);
    if (sb && !opts.skipKernel) {
      // Hand the default route to another endpoint, as Docker does.
      if (wasGateway) {
        const next = this.sandboxEndpoints(sb).find((p) => { const pn = this.store.get<NetworkRecord>('network', p.networkId); return pn && !pn.internal && pn.driver !== 'null'; });
        if (next) {
          next.gatewayEndpoint = true;
          await this.store.put('endpoint', next.id, next);
          const ns = await this.sandboxNetns(sb.id);
          try { await this.configureGateway(next, ns); } finally { ns.close(); }
        }
      }
      await this.writeNamespaceFiles(sb);
    }
  }

  private async configureGateway(ep: EndpointRecord, ns: Netns): Promise<void> {
    const a = this.ipam.get(ep.networkId)!;
    const rt = await Rtnl.open({ netns: ns });
    try {
      if (a.v4?.gateway) await rt.route.replace({ dst: 'default', gateway: a.v4.gateway, dev: ep.ifname! });
      if (a.v6?.gateway) await rt.route.replace({ dst: 'default', family: 6, gateway: a.v6.gateway, dev: ep.ifname! });
    } finally {
      rt.close();
    }
  }

  /** Releases the endpoint's addresses and ports (leaves first if joined). */
  async deleteEndpoint(epRef: string): Promise<void> {
    const ep = this.getEndpoint(epRef);
    if (ep.sandboxId) await this.leaveEndpoint(ep.id, { ifJoined: true });
    this.releaseEndpoint(ep);
    await this.store.del('endpoint', ep.id);
  }

  endpoints(networkId?: string): Endpoint[] {
    return (networkId ? this.store.by<EndpointRecord>('endpoint', 'network', networkId) : this.store.all<EndpointRecord>('endpoint')).map((e) => new Endpoint(this, e.id));
  }

  /** Our nftables ruleset, as text. */
  async describeFirewall(): Promise<string> {
    return this.fw ? this.fw.describe() : '';
  }

  /** Stops serving (DNS) and closes handles; kernel objects and state stay, like stopping dockerd. */
  async close(beforeUnlock?: () => void): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.fresh.keys()]) this.dropFresh(id);
    for (const d of this.dns.values()) d.close();
    this.dns.clear();
    this.stopAnnouncing();
    try {
      await this.store.sync();
      await this.store.close();
    } finally {
      this.rt.close();
      this.fw?.close();
      try { beforeUnlock?.(); } finally { this.lock.release(); }
    }
  }

  /** Removes everything this controller made (sandboxes, networks, rules) and its state. */
  async destroy(): Promise<void> {
    for (const sb of this.store.all<SandboxRecord>('sandbox').sort((a, b) => (a.mode === 'container' ? -1 : 0) - (b.mode === 'container' ? -1 : 0))) {
      await this.deleteSandbox(sb.id).catch(() => {});
    }
    for (const ep of this.store.all<EndpointRecord>('endpoint')) await this.deleteEndpoint(ep.id).catch(() => {});
    for (const n of this.store.all<NetworkRecord>('network')) {
      if (n.driver === 'bridge') {
        const br = await this.rt.link.find(n.bridge!);
        if (br && this.ours(br)) await this.rt.link.delete(br.index).catch(() => {});
      }
      await this.store.del('network', n.id);
    }
    if (this.fw) await this.fw.destroy();
    // The state goes while the lock is held (an opener waiting on it then
    // finds its lock file gone and starts over: see StateLock).
    await this.close(() => {
      fs.rmSync(path.join(this.runDir, 'sandboxes'), { recursive: true, force: true });
      fs.rmSync(this.stateDir, { recursive: true, force: true });
    });
  }
}

/** A network (a driver instance), like `docker network`. */
export class Network {
  constructor(private ctl: Controller, readonly id: string) {}
  get record(): NetworkRecord { return this.ctl.networkRecord(this.id); }
  get name(): string { return this.record.name; }
  get driver(): DriverName { return this.record.driver; }
  /** Bridge device name (bridge driver). */
  get bridge(): string | undefined { return this.record.bridge; }
  get subnet(): string | undefined { return this.record.ipv4Subnet?.subnet; }
  get gateway(): string | undefined { return this.record.ipv4Subnet?.gateway; }
  createEndpoint(o: EndpointCreateOptions): Promise<Endpoint> { return this.ctl.createEndpoint(this.id, o); }
  endpoints(): Endpoint[] { return this.ctl.endpoints(this.id); }
  /** Docker's `network inspect` JSON. */
  inspect(): any { return this.ctl.inspectNetwork(this.id); }
  delete(): Promise<void> { return this.ctl.deleteNetwork(this.id); }
}

/** A sandbox: one network namespace and its configuration. */
export class Sandbox {
  constructor(private ctl: Controller, readonly id: string) {}
  get record(): SandboxRecord { return this.ctl.sandboxRecord(this.id); }
  get name(): string { return this.record.name; }
  /** Path of the namespace (bind-mount or /proc path); undefined for host mode. */
  get key(): string | undefined {
    const r = this.record;
    return r.mode === 'container' ? this.ctl.sandboxRecord(r.joinedTo!).netnsPath : r.netnsPath;
  }
  get hostsPath(): string { return this.record.hostsPath; }
  get resolvConfPath(): string { return this.record.resolvConfPath; }
  /** Opens the sandbox's namespace (close it when done). */
  netns(): Promise<Netns> { return this.ctl.sandboxNetns(this.id); }
  inspect(): any { return this.ctl.inspectSandbox(this.id); }
  delete(): Promise<void> { return this.ctl.deleteSandbox(this.id); }
}

/** An endpoint: a network's interface in a sandbox. */
export class Endpoint {
  constructor(private ctl: Controller, readonly id: string) {}
  get record(): EndpointRecord { return this.ctl.endpointRecord(this.id); }
  get name(): string { return this.record.name; }
  get ipv4(): string | undefined { return this.record.ipv4; }
  get ipv6(): string | undefined { return this.record.ipv6; }
  get mac(): string | undefined { return this.record.mac; }
  get ports(): PortBinding[] { return this.record.ports; }
  /** Interface name inside the sandbox once joined. */
  get ifname(): string | undefined { return this.record.ifname; }
  join(sandbox: Sandbox | string): Promise<void> { return this.ctl.joinEndpoint(this.id, typeof sandbox === 'string' ? sandbox : sandbox.id); }
  leave(): Promise<void> { return this.ctl.leaveEndpoint(this.id); }
  delete(): Promise<void> { return this.ctl.deleteEndpoint(this.id); }
}
