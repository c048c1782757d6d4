// The bridge driver, Docker's default: a Linux bridge per network holding
// the gateway address, a veth pair per endpoint (the container end born
// inside the sandbox), masquerade out, published ports by DNAT.
import * as crypto from 'crypto';
import { CNM_LINK_GROUP, isOurLink, type CnmContext } from '../../context';
import type { Driver, JoinResult, KernelView } from '../../driver';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../../types';
import { HOST_GATEWAY } from '../../resolv-conf';
import { BRIDGE_NAME, ENABLE_ICC, ENABLE_MASQ, HOST_BINDING, MTU, parseBridgeOptions } from './options';
import { applyBridgeLinks, forgetOpenedPort } from './links';
import { bridgeRules } from './rules';
import { runSetup, type Undo } from './setup';
import { setupDevice, setupDeviceUp } from './setup-device';
import { setupFirewall } from './setup-firewall';
import { setupIPForwarding } from './setup-ip-forwarding';
import { setupIPv4 } from './setup-ipv4';
import { setupIPv6 } from './setup-ipv6';
import { exists, invalid } from '../../errors';
import { randomMac } from '../../mac';

/** In order: the device, its addresses, up, forwarding, the rules. */
const SETUP = [setupDevice, setupIPv4, setupIPv6, setupDeviceUp, setupIPForwarding, setupFirewall];

/** Bridge indexes by network, per controller: joins skip the lookup. */
const indexes = new WeakMap<CnmContext, Map<string, number>>();
const indexesOf = (ctx: CnmContext) => indexes.get(ctx) ?? indexes.set(ctx, new Map()).get(ctx)!;

/**
 * A host end's bridge port: hairpin (a DNATed packet may leave by the port
 * it came in), isolated when the network has icc off.
 */
function portFlags(n: NetworkRecord): { hairpin: boolean; isolated?: boolean } {
  return { hairpin: true, ...(n.icc === false ? { isolated: true } : {}) };
}

/** Whether a sandbox names `host-gateway`: the default bridge holds that address, with or without endpoints. */
const hostGatewayUsed = (ctx: CnmContext): boolean => ctx.store.all<SandboxRecord>('sandbox').some((s) => s.extraHosts?.some((h) => h.ip === HOST_GATEWAY));

/** Creates the bridge, its addresses and rules where missing (`undo` gets the steps on success). */
function ensureBridge(ctx: CnmContext, n: NetworkRecord, undo?: Undo[]): Promise<void> {
  return runSetup(ctx, n, SETUP, undo);
}

/** The bridge's index; the first join of a lazily made bridge (the default one) makes it. */
async function bridgeIndex(ctx: CnmContext, n: NetworkRecord): Promise<number> {
  const cached = indexesOf(ctx).get(n.id);
  if (cached !== undefined) return cached;
  // Several first joins at once: one makes it.
  const index = await ctx.locks.run(`bridge:${n.id}`, async () => {
    // (One lookup: a bridge deleted between two would fail the join.)
    const there = await ctx.rt.link.find(n.bridge!);
    if (there) return there.index;
    await ensureBridge(ctx, n);
    return (await ctx.rt.link.get(n.bridge!)).index;
  });
  indexesOf(ctx).set(n.id, index);
  return index;
}

/**
 * A bridge that vanished (an `ip link del` behind our back) made again, as
 * dockerd brings its bridges back: addresses, rules, and the host ends of
 * joined endpoints attached again. `ifNeeded`: the default bridge without
 * endpoints waits for its first one.
 */
function restoreBridge(ctx: CnmContext, n: NetworkRecord, ifNeeded: boolean): Promise<void> {
  return ctx.locks.run(`bridge:${n.id}`, async () => {
    const eps = ctx.store.by<EndpointRecord>('endpoint', 'network', n.id).filter((e) => e.sandboxId && e.hostIfname);
    indexesOf(ctx).delete(n.id);
    // There or not, every step is checked: a bridge made half-way (a crash
    // between its steps) exists, down or without its address.
    if (ifNeeded && n.builtin && !eps.length && !hostGatewayUsed(ctx) && !(await ctx.rt.link.find(n.bridge!))) return;
    await ensureBridge(ctx, n);
    // (A bridge that exists may still lack ports: one made again meanwhile, by a join repairing another endpoint.)
    if (!eps.length) return;
    // (Isolated again with icc off: a link's next sync opens it anew.)
    const moved = await attachHostEnds(ctx, eps, (await ctx.rt.link.get(n.bridge!)).index, portFlags(n));
    for (const name of moved) forgetOpenedPort(ctx, name);
  });
}

/**
 * Joined endpoints' host ends that are off the bridge `master` (it was made
 * again) put back on it, up, with their port flags; their names returned.
 */
export async function attachHostEnds(ctx: CnmContext, eps: EndpointRecord[], master: number, flags: { hairpin: boolean; isolated?: boolean }): Promise<string[]> {
  const links = new Map((await ctx.rt.link.list({ kind: 'veth' })).map((l) => [l.name, l]));
  const moved: string[] = [];
  for (const ep of eps) {
    const l = links.get(ep.hostIfname!);
    if (!l || l.master === master) continue;
    await ctx.rt.link.set(ep.hostIfname!, { master });
    await ctx.rt.link.set(ep.hostIfname!, { up: true, bridgePort: flags });
    moved.push(ep.hostIfname!);
  }
  return moved;
}

/**
 * The host end's name taken by a link that is not ours (EEXIST): another
 * one, free in the kernel too, as libnetwork's GenerateIfaceName looks.
 * False when the name is free (the EEXIST was the peer's, inside).
 */
export async function renameIfTaken(ctx: CnmContext, ep: EndpointRecord): Promise<boolean> {
  if (!(await ctx.rt.link.find(ep.hostIfname!))) return false;
  for (let i = 0; i < 8; i++) {
    const name = `veth${crypto.randomBytes(4).toString('hex').slice(0, 7)}`;
    if (ctx.store.by('endpoint', 'hostIfname', name).length || ctx.leftToNamespace.has(name) || await ctx.rt.link.find(name)) continue;
    ep.hostIfname = name;
    ctx.store.put('endpoint', ep.id, { ...ep }).catch(() => {});
    return true;
  }
  return false;
}

export const bridgeDriver: Driver = {
  name: 'bridge',
  caps: {
    ipam: { gateway: 'required', avoidHostRoutes: true },
    iface: true, ports: true, names: true, namespace: 'sandbox', builtinOnly: false, exclusive: false, legacyLinks: true,
  },

  async validate(ctx, n) {
    const opts = parseBridgeOptions(n.options);
    n.bridge = opts.bridge ?? `br-${n.id.slice(0, 12)}`;
    // Recorded: a bridge made again (after an `ip link del`) keeps it, so containers' ARP entries for the gateway stay right.
    n.bridgeMac = randomMac();
    if (ctx.store.all<NetworkRecord>('network').some((x) => x.bridge === n.bridge)) throw exists('bridge', n.bridge);
    n.icc = opts.icc;
    n.masquerade = opts.masquerade;
    n.hostBindingIpv4 = opts.hostBindingIpv4;
    n.mtu = opts.mtu;
    n.gatewayMode4 = opts.gatewayMode4;
    n.gatewayMode6 = opts.gatewayMode6;
    // As Docker 28: no gateway address, so nothing could be published or reached out of it.
    if ((n.gatewayMode4 === 'isolated' || n.gatewayMode6 === 'isolated') && !n.internal) {
      throw invalid("gateway mode 'isolated' can only be used for an internal network");
    }
  },

  // The default bridge waits for its first endpoint, as docker0 is made on demand here.
  async createNetwork(ctx, n) {
    if (!n.builtin) await ensureBridge(ctx, n);
  },

  async deleteNetwork(ctx, n) {
    await ctx.fw.removeNetwork(bridgeRules(ctx, n));
    const br = await ctx.rt.link.find(n.bridge!);
    if (br && isOurLink(br)) await ctx.rt.link.delete(br.index);
    indexesOf(ctx).delete(n.id);
  },

  /**
   * A bridge that vanished comes back, as dockerd brings its bridges back:
   * with its addresses and rules, and the host ends of joined endpoints
   * attached again. (The default bridge waits for its first endpoint, unless
   * it has some.)
   */
  restoreNetwork: (ctx, n) => restoreBridge(ctx, n, true),

  // (Looked up again: the bridge may have been deleted behind our back since it was cached.)
  async materialize(ctx, n) {
    indexesOf(ctx).delete(n.id);
    await bridgeIndex(ctx, n);
  },

  /** `veth` + 7 hex, as Docker names the host end; unique among ours. */
  prepareJoin(ctx, _n, ep) {
    for (let i = 0; i + 7 <= ep.id.length; i++) {
      const name = `veth${ep.id.slice(i, i + 7)}`;
      // (Nor one a deleted sandbox's namespace still holds, for the kernel to remove: EEXIST.)
      if (!ctx.store.by('endpoint', 'hostIfname', name).length && !ctx.leftToNamespace.has(name)) { ep.hostIfname = name; return; }
    }
    ep.hostIfname = `veth${crypto.randomBytes(4).toString('hex').slice(0, 7)}`;
  },

  async join(ctx, n, ep, ns, undo): Promise<JoinResult> {
    // One request: the container end is born inside the sandbox with its
    // final name, MAC and MTU; the host end is attached to the bridge. Tagged
    // by group (the name maps to the endpoint in the state). One queue each
    // way (what a veth ends up with anyway), asked for at creation:
    // shrinking the default one-per-CPU costs an RCU wait under RTNL.
    const addVeth = (master: number) => ctx.rt.link.add({
      kind: 'veth', name: ep.hostIfname!, master, mtu: n.mtu, group: CNM_LINK_GROUP, numTxQueues: 1, numRxQueues: 1,
      peer: { name: ep.ifname!, netns: ns, address: ep.mac, mtu: n.mtu, numTxQueues: 1, numRxQueues: 1 },
    }, { echo: false });
    let master = await bridgeIndex(ctx, n);
    // The bridge deleted behind our back (or made again, so another index):
    // made again with the joined endpoints' ports (this one's among them, as
    // its pending record names it), then the step tried once more.
    const bridgeGone = async () => (await ctx.rt.link.find(n.bridge!))?.index !== master;
    await addVeth(master).catch(async (e) => {
      if (e.code === 'EEXIST' && await renameIfTaken(ctx, ep)) return addVeth(master);
      if (!(await bridgeGone())) throw e;
      await restoreBridge(ctx, n, false);
      master = await bridgeIndex(ctx, n);
      await addVeth(master);
    });
    undo.push(() => ctx.rt.link.delete(ep.hostIfname!));
    // No IPv6 link-local on the host end: its DAD and router solicitations
    // would flood every port of the bridge (quadratic work at 1,000 ports).
    // (Not a bridge port any more, EOPNOTSUPP: the bridge went since the veth was made.)
    const setPort = () => ctx.rt.link.set(ep.hostIfname!, { addrGenMode: 'none', bridgePort: portFlags(n) });
    const ready = setPort().catch(async (e) => {
      if (e.code !== 'EOPNOTSUPP' || !(await bridgeGone())) throw e;
      await restoreBridge(ctx, n, false);
      master = await bridgeIndex(ctx, n);
      if ((await ctx.rt.link.get(ep.hostIfname!)).master !== master) await ctx.rt.link.set(ep.hostIfname!, { master });
      await setPort();
    });
    ready.catch(() => {});  // awaited by the endpoint; observed here in case it fails first
    return {
      ready,
      afterUp: async (index) => {
        // The host end comes up last, so the carrier arrives with both ends
        // configured. (Host end first, then the container's, costs the bridge
        // about a third more kernel time per join at 1,000 ports, measured.)
        await ctx.rt.link.set(ep.hostIfname!, { up: true });
        if (ctx.announcer.needed(n, ep)) ctx.announcer.announce(ep.sandboxId!, ns, index, ep.mac!);
      },
    };
  },

  // Removing the host end takes both ends; leaves of one tick go to the kernel together.
  async leave(ctx, _n, ep) {
    if (ep.hostIfname) await ctx.reaper.remove(ep.hostIfname);
  },

  async rollbackJoin(ctx, _n, ep, k) {
    if (ep.hostIfname && k.links.has(ep.hostIfname)) await ctx.reaper.remove(ep.hostIfname).catch(() => {});
  },

  joinIntact: (_n, ep, k: KernelView) => !ep.hostIfname || k.links.has(ep.hostIfname),

  networkLinks: (n) => [n.bridge!],

  applyLinks: applyBridgeLinks,

  // Rules belong to bridges that exist (the default one waits for its first endpoint).
  firewallRules: (ctx, n, k) => (k && !k.links.has(n.bridge!) ? undefined : bridgeRules(ctx, n)),

  // The default bridge shows its settings, as Docker's does; a user network shows what was given.
  inspectOptions: (n): Record<string, string> => (n.builtin ? {
    'com.docker.network.bridge.default_bridge': 'true',
    [ENABLE_ICC]: String(n.icc ?? true),
    [ENABLE_MASQ]: String(n.masquerade ?? true),
    [HOST_BINDING]: n.hostBindingIpv4 ?? '0.0.0.0',
    [BRIDGE_NAME]: n.bridge!,
    [MTU]: String(n.mtu ?? 1500),
  } : {}),
};
