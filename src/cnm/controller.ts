// The CNM controller, like Docker's libnetwork controller: the registry of
// networks, sandboxes and endpoints and their lifecycle. It opens the state
// and the kernel handles, restores and reconciles, makes the default
// networks, and closes or destroys it all. The work itself is done by the
// objects (network.ts, endpoint.ts, sandbox.ts) and the drivers (drivers/).
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Rtnl } from '../rtnl';
import { CnmError } from '../errors';
import { Announcer } from './announce';
import { CnmContext, LEFT_TO_NAMESPACE_MS, STORE_INDEXES } from './context';
import type { Driver } from './driver';
import { Endpoint, deleteEndpoint } from './endpoint';
import { NoopFirewall, type Firewall } from './firewall';
import { holdsHostPort } from './firewall/rules';
import { FreshNetns } from './fresh-netns';
import type { AddressPool } from './ipam';
import { LinkReaper, type LinkReaperStats } from './link-reaper';
import { KeyedLock, OpGate } from './locks';
import { NameService } from './names';
import { Network, createNetwork, upgradeNetworkRecord, type NetworkInspect } from './network';
import { PortReservations } from './port-reservation';
import { PortAllocator, bindingsPerFamily } from './ports';
import { emptyReport, reconcile, type ReconcileReport } from './reconcile';
import { Sandbox, createSandbox, deleteSandbox, type SandboxInspect } from './sandbox';
import { StateLock, Store } from './store';
import type { EndpointCreateOptions, EndpointRecord, NetworkCreateOptions, NetworkRecord, SandboxCreateOptions, SandboxRecord } from './types';
import { BRIDGE_NAME, ENABLE_ICC } from './drivers/bridge/options';
import { busy, invalid, invalidType } from './errors';
import { checkControllerOptions } from './controller-options';
import { defaultBridge } from './links';
import { ClusterService, type ClusterConfig } from './cluster/service';
import { DRIVERS, driverFor } from './drivers';

export { CNM_LINK_GROUP, ALIAS_PREFIX } from './context';
export { macFromIp, linkLocalOf } from './mac';
export { resolveInState, serveSandboxNamesFromState, RESOLVER_ADDRESS } from './names';
export type { ReconcileReport } from './reconcile';
export { Network, Sandbox, Endpoint };

export interface ControllerOptions {
  /** Where state lives (default /var/lib/cnm-netlink). */
  stateDir?: string;
  /**
   * Where per-sandbox runtime files (hosts, resolv.conf) live: they last as
   * long as the namespaces, so tmpfs suits them, as Podman's runroot. Default
   * /run/cnm-netlink with the default stateDir, else a directory of its own
   * there (`/run/cnm-netlink/state-<hash of stateDir>`), or `<stateDir>/run`
   * where /run/cnm-netlink cannot be made.
   */
  runDir?: string;
  /** Docker's default-address-pools. */
  pools?: AddressPool[];
  /** Name of the default bridge (default cnm0; Docker's is docker0). */
  defaultBridge?: string;
  /**
   * dockerd's `--icc`: containers on the default bridge may talk to each
   * other (default true); false: only legacy-linked pairs, on the target's
   * exposed ports. Changing it on reopen needs the default bridge empty.
   */
  icc?: boolean;
  /** Where `ip netns exec` finds per-namespace resolv.conf/hosts (default /etc/netns; null to skip). */
  etcNetnsDir?: string | null;
  /** Firewall backend (default: nftables; null: none, nothing filtered or translated). */
  firewall?: Firewall | null;
  /** The host's resolv.conf: its search and options go to the sandboxes, its servers are the upstreams (default /etc/resolv.conf). */
  resolvConf?: string;
  /** Upstream DNS servers for names we do not know (default: the host's resolv.conf). */
  upstreamDns?: string[];
  /** Start embedded DNS servers (default true). */
  dns?: boolean;
  /**
   * How long to wait for another controller on the same stateDir to close
   * (default 10 s), then EBUSY: one writer per state directory.
   */
  lockTimeoutMs?: number;
  /**
   * The cluster store for global (overlay) networks, like dockerd's
   * --cluster-store and --cluster-advertise. Without it nothing connects.
   */
  cluster?: ClusterConfig;
}

const RUN_DIR_PREFIX = 'state-';
/** The meta record of host ends left to dying namespaces at close (`[name, when][]`). */
const DYING_KEY = 'leftToNamespace';
/** The meta record of this host's id (see CnmContext.hostId). */
const HOST_ID_KEY = 'hostId';

/**
 * A sandbox's files on disk cost a journal commit each on a busy state
 * disk (1,000 sandboxes: seconds more to set up and tear down), and outlive
 * their namespaces across a reboot for nothing: they go on /run (tmpfs).
 */
/** `dir` with symlinks resolved (made first when missing, as the lock makes it anyway). */
function realDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return fs.realpathSync(dir);
}

/** What a failed first open made in the state directory goes (the directory too, if it made it). */
function forgetFreshState(stateDir: string, made: boolean, runDir: string): void {
  // (Each step on its own: the error being reported matters more than these.)
  const attempt = (f: () => void) => { try { f(); } catch { /* left as it is */ } };
  // Only its own files; the directory too if it made it and nothing else is there.
  for (const f of ['state.json', 'journal.jsonl', 'lock']) attempt(() => fs.rmSync(path.join(stateDir, f), { force: true }));
  if (made) attempt(() => fs.rmdirSync(stateDir));
  // Its run directory too, while empty (nothing was made in it).
  if (runDir.startsWith(`/run/cnm-netlink/${RUN_DIR_PREFIX}`)) attempt(() => fs.rmdirSync(runDir));
}

function defaultRunDir(stateDir: string, defaultState: boolean): string {
  if (defaultState) return '/run/cnm-netlink';
  const own = path.join('/run/cnm-netlink', `${RUN_DIR_PREFIX}${crypto.createHash('sha256').update(stateDir).digest('hex').slice(0, 12)}`);
  try {
    fs.mkdirSync(own, { recursive: true, mode: 0o755 });
    return own;
  } catch {
    return path.join(stateDir, 'run');
  }
}

export class Controller {
  readonly stateDir: string;
  readonly runDir: string;
  /** What `open` had to undo or repair (after a crash: the half-made objects). */
  recovered: ReconcileReport = emptyReport();
  private ctx: CnmContext;
  private destroying?: boolean;

  private constructor(ctx: CnmContext, private lock: StateLock) {
    this.ctx = ctx;
    this.stateDir = ctx.store.dir;
    this.runDir = ctx.runDir;
  }

  /** Opens the controller: restores state, then reconciles it with the kernel. */
  static async open(options?: ControllerOptions): Promise<Controller> {
    const opts = checkControllerOptions(options);
    // Absolute and without symlinks: paths derived from it end up in
    // /etc/netns links and records, and name the owner of our nft tables
    // (a second spelling of one directory is the same controller's).
    const given = path.resolve(opts.stateDir ?? '/var/lib/cnm-netlink');
    const made = !fs.existsSync(given);
    const stateDir = realDir(given);
    const runDir = path.resolve(opts.runDir ?? defaultRunDir(stateDir, opts.stateDir === undefined));
    const lock = await StateLock.acquire(stateDir, opts.lockTimeoutMs ?? 10000);
    // A first open that fails leaves nothing it made: tables, state files.
    const fresh = !['state.json', 'journal.jsonl'].some((f) => fs.existsSync(path.join(stateDir, f)));
    let store: Store | undefined;
    let rt: Rtnl | undefined;
    let fw: Firewall | undefined;
    let ctx: CnmContext | undefined;
    let cluster: ClusterService | undefined;
    try {
      store = Store.open(stateDir, STORE_INDEXES);
      rt = await Rtnl.open();
      fw = opts.firewall === undefined ? await (await import('./firewall/nftables')).NftFirewall.open(stateDir) : opts.firewall ?? new NoopFirewall();
      cluster = await openCluster(rt, stateDir, opts);
      const openNetns = (sb: SandboxRecord) => ctx!.sandboxNetns(sb);
      // Names of other hosts' endpoints, from drivers that have them (overlay).
      const remoteNames = (n: NetworkRecord) => driverFor(n.driver).names?.(ctx!, n);
      ctx = new CnmContext({
        store, rt, fw, opts, runDir, locks: new KeyedLock(), gate: new OpGate(), ports: new PortAllocator(), reservations: new PortReservations(), fresh: new FreshNetns(), reaper: new LinkReaper(rt),
        announcer: new Announcer(store), names: new NameService(store, openNetns, opts, remoteNames), cluster,
      });
      const c = new Controller(ctx, lock);
      await c.restore();
      await attachCluster(ctx);
      return c;
    } catch (e) {
      if (ctx) await detachCluster(ctx, false).catch(() => {});
      await cluster?.close({ revoke: false }).catch(() => {});
      ctx?.names.close();
      ctx?.reservations.close();
      ctx?.fresh.dropAll();
      rt?.close();
      // (Only tables this open made: ones it adopted may be another controller's.)
      if (fresh && fw && opts.firewall === undefined && (fw as { created?: boolean }).created) await fw.destroy().catch(() => {});
      fw?.close();
      await store?.close().catch(() => {});
      lock.release();
      if (fresh) forgetFreshState(stateDir, made, runDir);
      throw e;
    }
  }

  private async restore(): Promise<void> {
    const ctx = this.ctx;
    let hostId = ctx.store.get<string>('meta', HOST_ID_KEY);
    if (!hostId) {
      hostId = crypto.randomBytes(32).toString('hex');
      await ctx.store.put('meta', HOST_ID_KEY, hostId);
    }
    ctx.hostId = hostId;
    for (const n of ctx.store.all<NetworkRecord>('network')) {
      if (upgradeNetworkRecord(n)) await ctx.store.put('network', n.id, n);
      ctx.loadIpam(n);
    }
    // Endpoints of the version before one port binding per family, upgraded (see EndpointRecord.portsPerFamily).
    for (const e of ctx.store.all<EndpointRecord>('endpoint')) {
      if (e.portsPerFamily || !e.ports.length) continue;
      await ctx.store.put('endpoint', e.id, { ...e, ports: bindingsPerFamily(e.ports, { v4: !!e.ipv4, v6: !!e.ipv6 }), portsPerFamily: true });
    }
    // Addresses in use are the endpoints' own: one source of truth.
    for (const e of ctx.store.all<EndpointRecord>('endpoint')) {
      const a = ctx.ipam.get(e.networkId);
      if (e.ipv4) a?.restore(e.ipv4);
      if (e.ipv6) a?.restore(e.ipv6);
      for (const p of e.ports) ctx.ports.restore(p);
    }
    await this.createDefaults();
    await this.applyDefaultIcc();
    // Host ends the kernel was still removing when the last controller closed
    // (sandboxes deleted first): not leftovers, if they are still there.
    const dying = ctx.store.get<[string, number][]>('meta', DYING_KEY);
    if (dying) {
      for (const [name, t] of dying) ctx.leftToNamespace.set(name, t);
      await ctx.store.del('meta', DYING_KEY);
    }
    this.recovered = await reconcile(ctx);
    // Published ports are held again (one a host process took meanwhile stays DNATed, unheld).
    for (const e of ctx.store.all<EndpointRecord>('endpoint')) {
      const n = ctx.store.get<NetworkRecord>('network', e.networkId);
      if (!n) continue;
      for (const p of e.ports) try { if (holdsHostPort(n, p)) ctx.reservations.reserve(p); } catch { /* see above */ }
    }
  }

  /** Docker's three: bridge (on cnm0, made at its first endpoint), host, none. */
  // Each that is missing: a first open killed half-way may have made only some.
  private async createDefaults(): Promise<void> {
    const icc: Record<string, string> = this.ctx.opts.icc === false ? { [ENABLE_ICC]: 'false' } : {};
    const missing = (name: string) => !this.ctx.store.all<NetworkRecord>('network').some((n) => n.builtin && n.name === name);
    // The gateway given, as dockerd gives docker0's address (its inspect shows it).
    if (missing('bridge')) {
      await createNetwork(this.ctx, { name: 'bridge', driver: 'bridge', subnet: '172.17.0.0/16', gateway: '172.17.0.1',
        options: { [BRIDGE_NAME]: this.ctx.opts.defaultBridge ?? 'cnm0', ...icc } }, true);
    }
    if (missing('host')) await createNetwork(this.ctx, { name: 'host', driver: 'host' }, true);
    if (missing('none')) await createNetwork(this.ctx, { name: 'none', driver: 'null' }, true);
  }

  /**
   * `icc` given on a reopen that differs from the default bridge's: the
   * bridge takes it if it has no endpoints (its rules are replaced by
   * reconcile), else EBUSY, as its containers would change behaviour under them.
   */
  private async applyDefaultIcc(): Promise<void> {
    const ctx = this.ctx;
    const want = ctx.opts.icc;
    const n = defaultBridge(ctx);
    if (want === undefined || !n || (n.icc ?? true) === want) return;
    if (ctx.store.by('endpoint', 'network', n.id).length) throw busy(`the default bridge network has endpoints: icc cannot change to ${want} (remove them first)`);
    const old = ctx.driverOf(n).firewallRules?.(ctx, n);
    if (old) await ctx.fw.removeNetwork(old);
    n.icc = want;
    n.options = { ...n.options, [ENABLE_ICC]: String(want) };
    if (want) delete n.options[ENABLE_ICC];
    await ctx.store.put('network', n.id, n);
  }

  /**
   * Runs reconcile again (open does it once): what was removed behind the
   * controller's back comes back (our nftables tables after an `nft flush
   * ruleset` or a firewall reload, a deleted bridge with its ports). It runs
   * alone: operations in flight finish first, those asked for meanwhile wait.
   */
  async reconcile(): Promise<ReconcileReport> { return this.ctx.gate.exclusive(() => reconcile(this.ctx)); }

  // ------------------------------------------------------------- registry

  networks(): Network[] {
    return this.ctx.store.all<NetworkRecord>('network').sort((a, b) => a.created.localeCompare(b.created)).map((n) => new Network(this.ctx, n.id));
  }

  /** By id, name or unique id prefix. ENOENT when unknown. */
  network(ref: string): Network { return new Network(this.ctx, this.ctx.network(ref).id); }

  /** Like `docker network create`. */
  async createNetwork(o: NetworkCreateOptions): Promise<Network> {
    return new Network(this.ctx, (await this.ctx.gate.run(() => createNetwork(this.ctx, o))).id);
  }

  async deleteNetwork(ref: string): Promise<void> { return this.network(ref).delete(); }

  inspectNetwork(ref: string): NetworkInspect { return this.network(ref).inspect(); }

  sandboxes(): Sandbox[] {
    return this.ctx.store.all<SandboxRecord>('sandbox').sort((a, b) => a.created.localeCompare(b.created)).map((s) => new Sandbox(this.ctx, s.id));
  }

  sandbox(ref: string): Sandbox { return new Sandbox(this.ctx, this.ctx.sandbox(ref).id); }

  /**
   * Like the runtime's part of `docker run`: a sandbox is a network
   * namespace (new, adopted by key, shared with another sandbox, or the host's),
   * with loopback up and hosts/resolv.conf files a runtime can bind-mount.
   */
  async createSandbox(o: SandboxCreateOptions): Promise<Sandbox> {
    return new Sandbox(this.ctx, (await this.ctx.gate.run(() => createSandbox(this.ctx, o))).id);
  }

  async deleteSandbox(ref: string): Promise<void> { return this.sandbox(ref).delete(); }

  inspectSandbox(ref: string): SandboxInspect { return this.sandbox(ref).inspect(); }

  endpoints(networkId?: string): Endpoint[] {
    const eps = networkId !== undefined ? this.ctx.store.by<EndpointRecord>('endpoint', 'network', this.ctx.network(networkId).id) : this.ctx.store.all<EndpointRecord>('endpoint');
    return eps.map((e) => new Endpoint(this.ctx, e.id));
  }

  async createEndpoint(networkRef: string, o: EndpointCreateOptions): Promise<Endpoint> { return this.network(networkRef).createEndpoint(o); }
  // (async: a bad reference rejects, as every other failure of these does.)
  async joinEndpoint(epRef: string, sbRef: string): Promise<void> { return this.endpointRef(epRef).join(sbRef); }
  async leaveEndpoint(epRef: string): Promise<void> { return this.endpointRef(epRef).leave(); }
  async deleteEndpoint(epRef: string): Promise<void> { return this.endpointRef(epRef).delete(); }

  private endpointRef(ref: string): Endpoint { return new Endpoint(this.ctx, this.ctx.endpoint(ref).id); }

  /** Names on a network: sandbox names, hostnames, aliases, id prefixes. */
  resolveName(networkRef: string, name: string, type: 'A' | 'AAAA'): string[] | undefined {
    if (typeof name !== 'string') throw invalidType('name', 'a string', name);
    if (typeof type !== 'string') throw invalidType('type', "'A' or 'AAAA'", type);
    if (type !== 'A' && type !== 'AAAA') throw invalid(`record type ${JSON.stringify(type)}: A or AAAA`);
    return this.ctx.names.resolve(this.ctx.network(networkRef).id, name, type);
  }

  /** Counters of the controller's batching (link removals: how many went alone, how many in group deletions). */
  get stats(): { linkRemovals: LinkReaperStats } {
    return { linkRemovals: this.ctx.reaper.stats };
  }

  /** Our nftables ruleset, as text. */
  describeFirewall(): Promise<string> { return this.ctx.fw.describe(); }

  // ------------------------------------------------------------ lifecycle

  /**
   * Stops serving (DNS) and closes handles; kernel objects and state stay,
   * like stopping dockerd. With a cluster, the host's lease is kept to
   * expire: peers keep reaching its containers for the TTL, and a reopen
   * within it takes the lease over unnoticed (destroy() revokes it).
   */
  close(): Promise<void> {
    // After the operations in flight (and a reconcile) finish; later ones fail with EBADF.
    if (this.ctx.closed) return Promise.resolve();
    return this.ctx.gate.exclusive(() => this.closeNow()).catch((e) => { if (!this.ctx.closed) throw e; });
  }

  private async closeNow(beforeUnlock?: () => void): Promise<void> {
    const ctx = this.ctx;
    if (ctx.closed) return;
    ctx.closed = true;
    ctx.gate.shutDown(() => new CnmError('the controller is closed', 'EBADF', 9));
    ctx.fresh.dropAll();
    ctx.names.close();
    ctx.reservations.close();
    ctx.announcer.close();
    try {
      await detachCluster(ctx, !!this.destroying);
      await ctx.reaper.idle();
      const dying = [...ctx.leftToNamespace].filter(([, t]) => Date.now() - t < LEFT_TO_NAMESPACE_MS);
      if (dying.length && !this.destroying) await ctx.store.put('meta', DYING_KEY, dying).catch(() => {});
      await ctx.store.sync();
      await ctx.store.close();
    } finally {
      ctx.rt.close();
      ctx.fw.close();
      try { beforeUnlock?.(); } finally { this.lock.release(); }
    }
  }

  /** Removes everything this controller made (sandboxes, networks, rules) and its state. */
  destroy(): Promise<void> {
    return this.ctx.gate.exclusive(() => this.destroyNow());
  }

  private async destroyNow(): Promise<void> {
    const ctx = this.ctx;
    this.destroying = true;
    // All in flight (removals batch), container-mode sandboxes first: they hold on to their owners.
    const sandboxes = ctx.store.all<SandboxRecord>('sandbox');
    const ignore = () => {};
    await Promise.all(sandboxes.filter((sb) => sb.mode === 'container').map((sb) => deleteSandbox(ctx, sb.id).catch(ignore)));
    await Promise.all(sandboxes.filter((sb) => sb.mode !== 'container').map((sb) => deleteSandbox(ctx, sb.id).catch(ignore)));
    await Promise.all(ctx.store.all<EndpointRecord>('endpoint').map((ep) => deleteEndpoint(ctx, ep.id).catch(ignore)));
    for (const n of ctx.store.all<NetworkRecord>('network')) {
      await ctx.driverOf(n).deleteNetwork(ctx, n).catch(() => {});
      await ctx.store.del('network', n.id);
    }
    await ctx.fw.destroy();
    // The state goes while the lock is held (an opener waiting on it then
    // finds its lock file gone and starts over: see StateLock).
    await this.closeNow(() => {
      fs.rmSync(path.join(this.runDir, 'sandboxes'), { recursive: true, force: true });
      if (path.basename(this.runDir).startsWith(RUN_DIR_PREFIX)) fs.rmSync(this.runDir, { recursive: true, force: true });
      fs.rmSync(this.stateDir, { recursive: true, force: true });
    });
  }
}

// ------------------------------------------------------------ cluster

function openCluster(rt: Rtnl, stateDir: string, opts: ControllerOptions): Promise<ClusterService | undefined> {
  return opts.cluster === undefined ? Promise.resolve(undefined) : ClusterService.open(rt, stateDir, opts.cluster);
}

/** Lets the drivers follow the cluster store (global networks of other hosts). */
async function attachCluster(ctx: CnmContext): Promise<void> {
  if (!ctx.cluster) return;
  for (const d of Object.values(DRIVERS) as Driver[]) await d.attachCluster?.(ctx);
}

/** Stops following the store and leaves the cluster; a destroy revokes the lease (peers forget this host at once). */
async function detachCluster(ctx: CnmContext, destroy: boolean): Promise<void> {
  const cluster = ctx.cluster;
  if (!cluster) return;
  for (const d of Object.values(DRIVERS) as Driver[]) await d.detachCluster?.(ctx, { destroy })?.catch(() => {});
  ctx.cluster = undefined;
  await cluster.close({ revoke: destroy });
}
