// The overlay driver on the seam: Docker's classic KV-store overlay. A
// global network lives in the cluster store (etcd), every controller of the
// cluster mirrors it into its registry; addresses come from the store's
// IPAM (one transaction per endpoint); the data path (bridge + VXLAN, see
// datapath.ts) is made on a host at its first joined endpoint and removed
// at its last, and PeerSync keeps its neighbour/FDB table equal to the
// other hosts' endpoints while it exists.
//
// Outbound and published ports: the overlay bridge is in the host's
// namespace and holds the gateway, so the bridge driver's rules (masquerade
// out, DNAT for ports) apply to it as they are; that is what
// docker_gwbridge gives Docker's overlay containers, without a second
// interface per container.
import { CNM_LINK_GROUP, isOurLink, NetAlloc, type CnmContext } from '../../context';
import { isNetworkOption, type Driver, type DriverNames, type JoinResult, type KernelView } from '../../driver';
import { CnmObjectError, SubnetOverlapError, busy, invalid } from '../../errors';
import { SubnetAllocator, overlaps, parsePrefix, prefixText } from '../../ipam';
import { subnetRequests } from '../../ipam-config';
import { recordSubnets } from '../../subnets';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../../types';
import { qualified, sandboxDnsNames, withoutNetwork } from '../../names';
import type { ClusterEndpoint, ClusterNetwork, NetworkEvent } from '../../cluster/store';
import { attachHostEnds, bridgeDriver, renameIfTaken } from '../bridge';
import { bridgeRules } from '../bridge/rules';
import { setupIPForwarding } from '../bridge/setup-ip-forwarding';
import { OverlayDatapath } from './datapath';
import { PeerSync } from './peersync';

export const VXLANID_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';
const OPTIONS = new Set([VXLANID_OPTION]);

/** One network's data path on this host, while it has joined endpoints. */
interface Live { dp: OverlayDatapath; sync: PeerSync }

interface State {
  live: Map<string, Live>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  listeners: { ev: string; fn: (...a: any[]) => void }[];
}

const states = new WeakMap<CnmContext, State>();
const stateOf = (ctx: CnmContext): State => states.get(ctx) ?? states.set(ctx, { live: new Map(), listeners: [] }).get(ctx)!;

const bridgeOf = (vni: number) => `ov-${vni}`;
const vxlanOf = (vni: number) => `vx-${vni}`;

function clusterOf(ctx: CnmContext) {
  if (!ctx.cluster) throw new CnmObjectError('the overlay driver needs a cluster store (Controller.open({ cluster: { store, advertise } }))', 'ENOTCONN');
  return ctx.cluster;
}

/** Makes the data path if this is the network's first joined endpoint on this host (lazily, as Docker does). */
async function acquire(ctx: CnmContext, n: NetworkRecord): Promise<Live> {
  return ctx.locks.run(`overlay:${n.id}`, async () => {
    const st = stateOf(ctx);
    let live = st.live.get(n.id);
    if (!live) {
      const c = clusterOf(ctx);
      const a = ctx.ipam.get(n.id);
      checkLocalOverlap(ctx, n);
      // Adopted after a restart: reconcile has put its rules back already.
      const adopted = !!(await ctx.rt.link.find(bridgeOf(n.vni!)));
      const v4 = a!.v4![0], v6 = a?.v6?.[0];
      const dp = await OverlayDatapath.ensure(ctx.rt, {
        vni: n.vni!, subnet: v4.subnet, gateway: v4.gateway!,
        ...(v6 ? { subnet6: v6.subnet, gateway6: v6.gateway } : {}),
        advertise: c.advertise, underlay: c.underlay.index, group: CNM_LINK_GROUP,
        bridgeName: bridgeOf(n.vni!), vxlanName: vxlanOf(n.vni!),
      });
      const sync = new PeerSync(c.store, dp, n.name);
      sync.on('error', () => { /* the next resync repairs it */ });
      try {
        await setupIPForwarding(ctx, n);
        if (!adopted) await ctx.fw.addNetwork(bridgeRules(ctx, n));
        await sync.start();
      } catch (e) {
        sync.stop();
        if (!adopted) {
          await ctx.fw.removeNetwork(bridgeRules(ctx, n)).catch(() => {});
          await dp.destroy().catch(() => {});
        }
        throw e;
      }
      live = { dp, sync };
      st.live.set(n.id, live);
    }
    return live;
  });
}

/** A data path whose bridge is gone (an `ip link del`) is forgotten, so the next acquire makes it again. */
function dropIfBridgeGone(ctx: CnmContext, n: NetworkRecord): Promise<void> {
  return ctx.locks.run(`overlay:${n.id}`, async () => {
    const st = stateOf(ctx);
    const cur = st.live.get(n.id);
    if (cur && !(await ctx.rt.link.find(cur.dp.bridge))) {
      cur.sync.stop();
      st.live.delete(n.id);
    }
  });
}

/**
 * The data path made again if its bridge is gone (then with the joined
 * endpoints' host ends attached again), else the one there. Safe to run
 * from several joins at once: the first makes it, the others find it.
 */
async function repair(ctx: CnmContext, n: NetworkRecord): Promise<Live> {
  await dropIfBridgeGone(ctx, n);
  const live = await acquire(ctx, n);
  const joined = localEndpoints(ctx, n).filter((e) => e.sandboxId && e.hostIfname && !e.pending);
  if (joined.length) await attachHostEnds(ctx, joined, (await ctx.rt.link.get(live.dp.bridge)).index, { hairpin: true });
  return live;
}

/**
 * A global network made on another host may overlap a network of this one
 * (the creating host checks only its own): its gateway route would take the
 * local network's traffic, so nothing of it is made here (EBUSY).
 */
function checkLocalOverlap(ctx: CnmContext, n: NetworkRecord): void {
  const mine = recordSubnets(n).map((x) => parsePrefix(x.subnet));
  for (const o of ctx.store.all<NetworkRecord>('network')) {
    if (o.id === n.id) continue;
    const s = recordSubnets(o).find((x) => mine.some((p) => overlaps(parsePrefix(x.subnet), p)));
    if (s) throw busy(`overlay network ${n.name} (${mine.map(prefixText).join(', ')}) overlaps network ${o.name} (${s.subnet}) on this host`);
  }
}

/**
 * The data path goes with the network's last joined endpoint on this host
 * (`except`: one whose join is being undone). Joins in flight count: their
 * records name their sandbox before the driver is asked.
 */
function release(ctx: CnmContext, n: NetworkRecord, except?: string): Promise<void> {
  return ctx.locks.run(`overlay:${n.id}`, async () => {
    if (!stateOf(ctx).live.has(n.id)) return;
    if (localEndpoints(ctx, n).some((e) => e.sandboxId && e.id !== except)) return;
    await teardown(ctx, n);
  });
}

async function teardown(ctx: CnmContext, n: NetworkRecord): Promise<void> {
  const st = stateOf(ctx);
  const live = st.live.get(n.id);
  st.live.delete(n.id);
  live?.sync.stop();
  await ctx.fw.removeNetwork(bridgeRules(ctx, n)).catch(() => {});
  if (live) await live.dp.destroy();
  else {
    // After a restart, nothing adopted: what the kernel still has.
    for (const name of [vxlanOf(n.vni!), bridgeOf(n.vni!)]) {
      const l = await ctx.rt.link.find(name);
      if (l && isOurLink(l)) await ctx.rt.link.delete(l.index).catch(() => {});
    }
  }
}

/** The local record of a global network (made here, or mirrored from the store). */
function recordOf(cn: ClusterNetwork, localId?: string): NetworkRecord {
  return {
    id: localId ?? cn.id, name: cn.name, driver: 'overlay', created: cn.created, internal: false, ipv6: !!cn.subnet6,
    options: { ...cn.options }, labels: { ...(cn.labels ?? {}) }, dns: true, scope: 'global', vni: cn.vni, bridge: bridgeOf(cn.vni),
    subnets: [
      { subnet: cn.subnet, gateway: cn.gateway, used: [cn.gateway] },
      ...(cn.subnet6 ? [{ subnet: cn.subnet6, gateway: cn.gateway6, used: [cn.gateway6!] }] : []),
    ],
  };
}

const localEndpoints = (ctx: CnmContext, n: NetworkRecord) => ctx.store.by<EndpointRecord>('endpoint', 'network', n.id);

/**
 * A network another controller made: into the registry (no kernel objects
 * until a join). A local network of the same name (made while this host
 * could not see the store, or in the same moment): both are kept, and the
 * name is ambiguous here (ENOTUNIQ naming both ids, as Docker's "network X
 * is ambiguous") until one goes; each still works by id.
 */
async function mirror(ctx: CnmContext, cn: ClusterNetwork): Promise<void> {
  if (ctx.store.get('network', cn.id)) return;
  const rec = recordOf(cn);
  ctx.loadIpam(rec);
  await ctx.store.put('network', rec.id, rec);
}

/** A network deleted cluster-wide: out of the registry (kept while this host still has endpoints on it). */
async function unmirror(ctx: CnmContext, id: string): Promise<void> {
  const n = ctx.store.get<NetworkRecord>('network', id);
  if (!n || n.scope !== 'global' || localEndpoints(ctx, n).length) return;
  await teardown(ctx, n).catch(() => {});
  ctx.ipam.delete(n.id);
  await ctx.store.del('network', n.id);
}

/** The registry's global networks made equal to the store's. */
async function mirrorAll(ctx: CnmContext): Promise<void> {
  const c = ctx.cluster;
  if (!c) return;
  await ctx.locks.run('networks', async () => {
    const ids = new Set<string>();
    for (const cn of c.store.networks()) {
      ids.add(cn.id);
      await mirror(ctx, cn);
    }
    for (const n of ctx.store.all<NetworkRecord>('network')) if (n.scope === 'global' && !ids.has(n.id)) await unmirror(ctx, n.id);
  });
}

/**
 * This host's endpoints in the store made equal to its registry after a
 * restart: the previous run's that etcd lost (its lease expired meanwhile)
 * are registered again with their addresses; ones etcd has but the registry
 * does not (a crash between the two) are removed.
 */
async function reregister(ctx: CnmContext): Promise<void> {
  const c = ctx.cluster!;
  const own = new Map(c.store.ownEndpoints().map((e) => [`${e.network}/${e.name}`, e]));
  for (const n of ctx.store.all<NetworkRecord>('network')) {
    if (n.scope !== 'global' || n.driver !== 'overlay') continue;
    for (const ep of localEndpoints(ctx, n)) {
      if (own.delete(`${n.name}/${ep.name}`)) continue;
      const sandbox = joinedNames(ctx, ep);
      await c.store.createEndpoint({
        network: n.name, name: ep.name, aliases: ep.aliases, ...(sandbox ? { sandbox } : {}),
        ...(ep.ipv4 ? { ipv4: ep.ipv4 } : {}), ...(ep.ipv6 ? { ipv6: ep.ipv6 } : {}), ...(ep.mac ? { mac: ep.mac } : {}),
      })
        .catch(() => { /* its name or address was taken meanwhile: it stays local only */ });
    }
  }
  for (const e of own.values()) await c.store.deleteEndpoint(e.network, e.name).catch(() => {});
}

/** What the store publishes of the sandbox an endpoint is joined to (its names), if it is. */
function joinedNames(ctx: CnmContext, ep: EndpointRecord): string[] | undefined {
  const sb = ep.sandboxId ? ctx.store.get<SandboxRecord>('sandbox', ep.sandboxId) : undefined;
  return sb ? sandboxDnsNames(sb) : undefined;
}

/**
 * Remote endpoints' names on a network, as local ones resolve: a joined
 * endpoint by its name, aliases and its sandbox's name, hostname and short
 * id, with or without `.network`; PTR gives the sandbox's name.
 */
function remoteNames(ctx: CnmContext, n: NetworkRecord): DriverNames | undefined {
  const c = ctx.cluster;
  if (!c) return undefined;
  const namesOf = (e: ClusterEndpoint) => (e.sandbox ? [e.name, ...e.aliases, ...e.sandbox].map((x) => x.toLowerCase()) : []);
  return {
    lookup(name, type) {
      const q = withoutNetwork(n, name.toLowerCase().replace(/\.$/, ''));
      let known = false;
      const ips: string[] = [];
      for (const e of c.store.peers(n.name)) {
        if (!namesOf(e).includes(q)) continue;
        known = true;
        const ip = type === 'A' ? e.ipv4 : e.ipv6;
        if (ip) ips.push(ip.split('/')[0]);
      }
      return known ? ips : undefined;
    },
    reverse(ip) {
      const e = c.store.peers(n.name).find((x) => x.sandbox && (x.ipv4.split('/')[0] === ip || x.ipv6?.split('/')[0] === ip));
      return e ? [qualified(e.sandbox![0], n.name)] : undefined;
    },
  };
}

export const overlayDriver: Driver = {
  name: 'overlay',
  caps: {
    ipam: { gateway: 'required', avoidHostRoutes: false },
    iface: true, ports: true, names: true, namespace: 'sandbox', builtinOnly: false, exclusive: false,
  },

  async validate(ctx, n, o) {
    if (!ctx.cluster) throw invalid('the overlay driver needs a cluster store: Controller.open({ cluster: { store, advertise } })');
    // The name is a key in the cluster store (state/net/NAME): no slash, no control characters, as swarm's names.
    if (!/^[^/\p{Cc}]{1,255}$/u.test(n.name)) throw invalid(`invalid overlay network name ${JSON.stringify(n.name)}: 1 to 255 characters, no "/" or control characters (a key in the cluster store)`);
    for (const k of Object.keys(n.options)) if (!OPTIONS.has(k) && !isNetworkOption(k)) throw invalid(`unknown option for the overlay driver: ${k}`);
    // The cluster store's IPAM keeps one subnet per family, no ranges, no reserved addresses.
    const reqs = subnetRequests(o);
    for (const f of [4, 6]) {
      if (reqs.filter((r) => r.family === f).length > 1) throw invalid(`the overlay driver takes one IPv${f} subnet (its cluster IPAM has one per family)`);
    }
    for (const r of reqs) {
      if (r.ipRange !== undefined) throw invalid(`the overlay driver takes no ipRange (${r.names.ipRange})`);
      if (r.auxAddresses && Object.keys(r.auxAddresses).length) throw invalid('the overlay driver takes no auxAddresses');
      if (r.family === 6 && r.subnet === undefined) throw invalid('an IPv6 overlay network needs its IPv6 subnet given (every host must agree on it)');
    }
    if (o.internal) throw invalid('internal overlay networks are not supported');
    // Not overlapping this host's own networks either (the store checks the other overlay networks).
    for (const r of reqs) {
      if (r.subnet === undefined) continue;
      const p = parsePrefix(r.subnet, r.names.subnet);
      for (const x of ctx.store.all<NetworkRecord>('network')) {
        const y = recordSubnets(x).find((s) => overlaps(parsePrefix(s.subnet), p));
        if (y) throw new SubnetOverlapError(`${r.names.subnet} ${r.subnet} overlaps with network ${x.name}`, r.subnet, y.subnet);
      }
    }
  },

  async allocateNetwork(ctx, n, o): Promise<NetAlloc> {
    const reqs = subnetRequests(o);
    const r4 = reqs.find((r) => r.family === 4);
    const r6 = reqs.find((r) => r.family === 6);
    const cn = await clusterOf(ctx).store.createNetwork({
      id: n.id, name: n.name, options: n.options, labels: n.labels,
      ...(r4?.subnet !== undefined ? { subnet: r4.subnet } : {}), ...(r4?.gateway !== undefined ? { gateway: r4.gateway as string } : {}),
      ...(r6?.subnet !== undefined ? { subnet6: r6.subnet } : {}), ...(r6?.gateway !== undefined ? { gateway6: r6.gateway as string } : {}),
    });
    const rec = recordOf(cn, n.id);
    Object.assign(n, { scope: rec.scope, vni: rec.vni, bridge: rec.bridge, ipv6: rec.ipv6 });
    const v4 = new SubnetAllocator({ subnet: cn.subnet, used: [] });
    v4.gateway = v4.reserve(cn.gateway, 'gateway');
    const v6 = cn.subnet6 ? new SubnetAllocator({ subnet: cn.subnet6, used: [] }) : undefined;
    if (v6) v6.gateway = v6.reserve(cn.gateway6!, 'gateway6');
    return new NetAlloc(v6 ? [v4, v6] : [v4]);
  },

  async releaseNetwork(ctx, n) {
    await clusterOf(ctx).store.deleteNetwork(n.name).catch((e) => {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    });
  },

  async allocateEndpoint(ctx, n, ep, o) {
    const c = clusterOf(ctx);
    const ce = await c.store.createEndpoint({
      network: n.name, name: ep.name, aliases: ep.aliases,
      ...(o.ip !== undefined ? { ipv4: o.ip } : {}), ...(o.ip6 !== undefined ? { ipv6: o.ip6 } : {}), ...(o.mac !== undefined ? { mac: o.mac } : {}),
    });
    ep.ipv4 = ce.ipv4.split('/')[0];
    if (ce.ipv6) ep.ipv6 = ce.ipv6.split('/')[0];
    ep.mac = ce.mac;
  },

  async releaseEndpoint(ctx, n, ep) {
    await clusterOf(ctx).store.deleteEndpoint(n.name, ep.name).catch((e) => {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    });
  },

  // Lazily: the data path comes with the first join.
  async createNetwork() {},

  async deleteNetwork(ctx, n) {
    await teardown(ctx, n);
  },

  /** After a restart: the data path adopted (or made again) where endpoints are joined, its peers resynchronised. */
  async restoreNetwork(ctx, n) {
    if (!ctx.cluster) return;
    const joined = localEndpoints(ctx, n).filter((e) => e.sandboxId && e.hostIfname && !e.pending);
    if (!joined.length) {
      if (!stateOf(ctx).live.has(n.id)) await teardown(ctx, n);
      return;
    }
    await repair(ctx, n);
  },

  prepareJoin(ctx, n, ep) { bridgeDriver.prepareJoin!(ctx, n, ep); },

  // The sandbox's names go to the store with the kernel work (other hosts
  // resolve them from then on); a leave withdraws them.
  async join(ctx, n, ep, ns, undo): Promise<JoinResult> {
    const store = clusterOf(ctx).store;
    if (!stateOf(ctx).live.has(n.id)) checkLocalOverlap(ctx, n); // before anything is published
    const published = store.updateEndpoint(n.name, ep.name, { sandbox: joinedNames(ctx, ep) ?? [ep.sandboxId!] });
    published.catch(() => {});
    undo.push(() => store.updateEndpoint(n.name, ep.name, { sandbox: null }).then(() => {}, () => {}));
    let live = await acquire(ctx, n);
    undo.push(() => release(ctx, n, ep.id));
    const addVeth = (l: Live) => ctx.rt.link.add({
      kind: 'veth', name: ep.hostIfname!, master: l.dp.bridge, mtu: l.dp.mtu, group: CNM_LINK_GROUP, numTxQueues: 1, numRxQueues: 1,
      peer: { name: ep.ifname!, netns: ns, address: ep.mac, mtu: l.dp.mtu, numTxQueues: 1, numRxQueues: 1 },
    }, { echo: false });
    await addVeth(live).catch(async (e) => {
      if (e.code === 'EEXIST' && await renameIfTaken(ctx, ep)) return addVeth(live);
      // The bridge deleted behind our back (`ip link del`): the data path
      // made again, with the joined endpoints' ports, as the bridge driver does.
      if (await ctx.rt.link.find(live.dp.bridge)) throw e;
      live = await repair(ctx, n);
      await addVeth(live);
    });
    undo.push(() => ctx.rt.link.delete(ep.hostIfname!));
    // (Not a bridge port any more, EOPNOTSUPP: the bridge went since the veth
    // was made; it is made again and this host end attached, as the bridge driver does.)
    const setPort = () => ctx.rt.link.set(ep.hostIfname!, { addrGenMode: 'none', bridgePort: { hairpin: true } });
    const port = setPort().catch(async (e) => {
      if (e.code !== 'EOPNOTSUPP') throw e;
      const br = await ctx.rt.link.find(live.dp.bridge);
      if (br && (await ctx.rt.link.get(ep.hostIfname!)).master === br.index) throw e;
      live = await repair(ctx, n);
      await ctx.rt.link.set(ep.hostIfname!, { master: (await ctx.rt.link.get(live.dp.bridge)).index });
      await setPort();
    });
    const ready = Promise.all([port, published]).then(() => {});
    ready.catch(() => {});
    return {
      ready,
      afterUp: async () => { await ctx.rt.link.set(ep.hostIfname!, { up: true }); },
    };
  },

  async leave(ctx, _n, ep) {
    if (ep.hostIfname) await ctx.reaper.remove(ep.hostIfname);
  },

  // Also after a leave whose kernel work was skipped (its namespace died).
  // Etcd unreachable does not stop a leave: the store puts the withdrawal
  // when it is back.
  async afterLeave(ctx, n, ep) {
    await ctx.cluster?.store.updateEndpoint(n.name, ep.name, { sandbox: null }).catch(() => {});
    await release(ctx, n);
  },

  async rollbackJoin(ctx, _n, ep, k) {
    if (ep.hostIfname && k.links.has(ep.hostIfname)) await ctx.reaper.remove(ep.hostIfname).catch(() => {});
  },

  joinIntact: (_n, ep, k: KernelView) => !ep.hostIfname || k.links.has(ep.hostIfname),

  networkLinks: (n) => (n.vni !== undefined ? [bridgeOf(n.vni), vxlanOf(n.vni)] : []),

  firewallRules: (ctx, n, k) => (k && !k.links.has(n.bridge!) ? undefined : bridgeRules(ctx, n)),

  inspectOptions: (n): Record<string, string> => (n.vni !== undefined ? { [VXLANID_OPTION]: String(n.vni) } : {}),

  names: remoteNames,

  async attachCluster(ctx) {
    const c = clusterOf(ctx);
    const st = stateOf(ctx);
    const on = (ev: string, fn: (...a: any[]) => void) => {
      c.store.on(ev, fn);
      st.listeners.push({ ev, fn });
    };
    on('network', (e: NetworkEvent) => {
      void ctx.gate.run(() => ctx.locks.run('networks', () => (e.type === 'add' ? mirror(ctx, e.network) : unmirror(ctx, e.network.id)))).catch(() => {});
    });
    // After a broken watch: anything missed meanwhile.
    on('resync', () => { void ctx.gate.run(() => mirrorAll(ctx)).catch(() => {}); });
    await mirrorAll(ctx);
    await reregister(ctx);
  },

  async detachCluster(ctx) {
    const st = stateOf(ctx);
    const c = ctx.cluster;
    for (const l of st.listeners) c?.store.off(l.ev, l.fn);
    st.listeners = [];
    // The kernel objects stay (like stopping dockerd); the next open adopts them.
    for (const live of st.live.values()) live.sync.stop();
    st.live.clear();
  },
};
