// The macvlan driver: each endpoint is a macvlan of a host interface, born
// inside the sandbox (like `ip link add eth0 link uplink0 type macvlan mode
// bridge netns X`). The gateway is an outside router; nothing is NATed.
import { CNM_LINK_GROUP, isOurLink, type CnmContext } from '../context';
import { Rtnl } from '../../rtnl';
import { isNetworkOption, type Driver } from '../driver';
import { invalid } from '../errors';
import type { NetworkRecord, SandboxRecord } from '../types';

const MODES = ['bridge', 'private', 'vepa', 'passthru'];
const KNOWN = new Set(['parent', 'macvlan_mode']);

/** Deletes an interface inside a namespace. */
async function deleteInside(ns: import('../../netns').Netns, ifname: string): Promise<void> {
  const rt = await Rtnl.open({ netns: ns });
  try {
    await rt.link.delete(ifname).catch((e) => { if (e.code !== 'ENODEV') throw e; });
  } finally {
    rt.close();
  }
}

/** The parent the network makes for itself, up (the kernel's EOPNOTSUPP names the kind where it lacks it). */
async function makeParent(ctx: CnmContext, n: NetworkRecord): Promise<void> {
  if (!n.createdParent) return;
  const name = n.parent!;
  if (n.createdParent === 'dummy') await ctx.rt.link.add({ kind: 'dummy', name, group: CNM_LINK_GROUP }, { echo: false });
  else {
    const m = /^(.+)\.(\d+)$/.exec(name)!;
    await ctx.rt.link.add({ kind: 'vlan', name, parent: m[1], vlan: { id: Number(m[2]) }, group: CNM_LINK_GROUP }, { echo: false });
  }
  try {
    await ctx.rt.link.set(name, { up: true });
  } catch (e) {
    await ctx.rt.link.delete(name).catch(() => {});
    throw e;
  }
}

/** The network's own parent made again if it is gone (several joins at once: one makes it). */
function ensureParent(ctx: CnmContext, n: NetworkRecord): Promise<void> {
  if (!n.createdParent) return Promise.resolve();
  return ctx.locks.run(`macvlan-parent:${n.parent}`, async () => {
    const rec = ctx.store.get<NetworkRecord>('network', n.id) ?? n;
    if (rec.createdParent && !(await ctx.rt.link.find(rec.parent!))) await makeParent(ctx, rec);
  });
}

export const macvlanDriver: Driver = {
  name: 'macvlan',
  caps: {
    ipam: { gateway: 'optional', avoidHostRoutes: false },
    // Names: every sandbox's resolver lives in its own namespace, so a macvlan network has them too.
    iface: true, ports: false, names: true, namespace: 'sandbox', builtinOnly: false, exclusive: false,
    untaggedJoin: true,
  },

  async validate(ctx, n) {
    for (const k of Object.keys(n.options)) {
      if (isNetworkOption(k)) continue;
      if (k.startsWith('com.docker.') || !KNOWN.has(k)) throw invalid(`unknown option for the macvlan driver: ${k}`);
    }
    n.parent = n.options.parent;
    if (n.parent === 'lo') throw invalid('loopback interface is not a valid macvlan parent link');
    if (!n.parent) {
      // As Docker: a dummy parent of the network's own, and so no way out.
      n.parent = `dm-${n.id.slice(0, 12)}`;
      n.createdParent = 'dummy';
      n.internal = true;
    } else if (!(await ctx.rt.link.find(n.parent))) {
      // PARENT.VLAN that is not there: made on PARENT, as Docker's createVlanLink.
      const m = /^(.+)\.(\d+)$/.exec(n.parent);
      if (!m) {
        await ctx.rt.link.get(n.parent);  // ENODEV, naming it (unless it appeared meanwhile)
      } else {
        const id = Number(m[2]);
        if (id < 1 || id > 4094) throw invalid(`vlan id out of range (1..4094): ${m[2]} in parent ${n.parent}`);
        await ctx.rt.link.get(m[1]);
        n.createdParent = 'vlan';
      }
    } else if ((await ctx.rt.link.get(n.parent)).flags & 0x8) {  // IFF_LOOPBACK
      throw invalid('loopback interface is not a valid macvlan parent link');
    }
    n.macvlanMode = n.options.macvlan_mode ?? 'bridge';
    if (!MODES.includes(n.macvlanMode)) throw invalid(`invalid macvlan_mode: ${JSON.stringify(n.macvlanMode)} (${MODES.join(', ')})`);
    // A passthru macvlan takes its parent whole (the kernel refuses a second
    // macvlan on it, and passthru on a parent with one): said at create, as Docker does.
    const sharing = ctx.store.all<NetworkRecord>('network').find((x) => x.driver === 'macvlan' && x.parent === n.parent);
    if (sharing && n.macvlanMode === 'passthru') throw invalid(`cannot use mode passthru, macvlan network ${sharing.name} is already using parent interface ${n.parent}`);
    if (sharing?.macvlanMode === 'passthru') throw invalid(`macvlan network ${sharing.name} is already using parent interface ${n.parent} in mode passthru`);
  },

  async createNetwork(ctx, n) { await makeParent(ctx, n); },
  async deleteNetwork(ctx, n) {
    if (!n.createdParent) return;
    // Another network on the same parent: it keeps it, and removes it when it goes.
    const heir = ctx.store.all<NetworkRecord>('network').find((x) => x.id !== n.id && x.driver === 'macvlan' && x.parent === n.parent);
    if (heir) { await ctx.store.put('network', heir.id, { ...heir, createdParent: n.createdParent }); return; }
    // Only if it is still the one made (an admin's link of that name stays).
    const l = await ctx.rt.link.find(n.parent!);
    if (l && isOurLink(l)) await ctx.rt.link.delete(l.index).catch((e) => { if (e.code !== 'ENODEV') throw e; });
  },
  restoreNetwork: (ctx, n) => ensureParent(ctx, n),

  // A parent made for the network is ours (reconcile keeps it).
  networkLinks: (n) => (n.createdParent ? [n.parent!] : []),

  async join(ctx, n, ep, ns, undo) {
    // A parent of the network's own that went (`ip link del`) is made again, as a bridge would be.
    await ensureParent(ctx, n);
    // The parent is resolved in the host namespace.
    await ctx.rt.link.add({ kind: 'macvlan', name: ep.ifname!, parent: n.parent!, netns: ns, address: ep.mac, macvlan: { mode: n.macvlanMode as 'bridge' } }, { echo: false });
    undo.push(() => deleteInside(ns, ep.ifname!));
    return {};
  },

  async leave(_ctx, _n, ep, ns) {
    if (!ep.ifname) return;
    const h = await ns();
    try { await deleteInside(h, ep.ifname); } finally { h.close(); }
  },

  // A half-made macvlan lives inside a sandbox that survived the crash.
  async rollbackJoin(ctx, _n, ep) {
    const sb = ep.sandboxId ? ctx.store.get<SandboxRecord>('sandbox', ep.sandboxId) : undefined;
    if (!ep.ifname || !sb) return;
    const ns = await ctx.sandboxNetns(sb).catch(() => undefined);
    if (!ns) return;
    try { await deleteInside(ns, ep.ifname).catch(() => {}); } finally { ns.close(); }
  },
};
