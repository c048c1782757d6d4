// Makes the kernel match the state after a restart or a crash: half-made
// sandboxes and endpoints are rolled back, state whose kernel objects
// vanished is dropped or repaired, and tagged kernel objects the state does
// not know are removed. The drivers say what of theirs to look for.
import * as fs from 'fs';
import * as path from 'path';
import { Netns } from '../netns';
import { LEFT_TO_NAMESPACE_MS, NETNS_PREFIX, isOurLink, type CnmContext } from './context';
import type { KernelView } from './driver';
import { joinEndpoint, releaseEndpoint, unplugged } from './endpoint';
import type { NetworkRules } from './firewall';
import { portRules } from './firewall/rules';
import { defaultBridge, syncLinks } from './links';
import { removeEtcNetns, removeSandboxFiles } from './sandbox-files';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from './types';

/** What reconcile found and undid: names of links and namespaces, ids of records. */
export interface ReconcileReport {
  removedLinks: string[];
  removedNetns: string[];
  droppedSandboxes: string[];
  droppedEndpoints: string[];
  /** Endpoints whose join a crash cut short: the join undone, the endpoint kept (addresses and ports), as libnetwork keeps it. */
  rolledBackJoins: string[];
  /** Joined endpoints whose interface had vanished, joined again. */
  rejoinedEndpoints: string[];
}

export const emptyReport = (): ReconcileReport => ({ removedLinks: [], removedNetns: [], droppedSandboxes: [], droppedEndpoints: [], rolledBackJoins: [], rejoinedEndpoints: [] });

async function kernelView(ctx: CnmContext): Promise<KernelView> {
  return { links: new Map((await ctx.rt.link.list()).map((l) => [l.name, l])) };
}

async function dropEndpoint(ctx: CnmContext, ep: EndpointRecord, report: ReconcileReport): Promise<void> {
  releaseEndpoint(ctx, ep);
  await ctx.store.del('endpoint', ep.id);
  report.droppedEndpoints.push(ep.id);
}

/** statfs(2) type of the namespace filesystem: a pinned namespace is an nsfs bind mount. */
const NSFS_MAGIC = 0x6e736673;

/** Whether `p` is a live namespace (a crash between unmount and unlink leaves a plain file). */
function isNamespace(p: string): boolean {
  try {
    return fs.statfsSync(p).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Sandboxes still pending, or whose namespace is gone, go with their
 * endpoints; one whose deletion a crash cut short (unmounted, not yet
 * unlinked) is deleted the rest of the way.
 */
async function reconcileSandboxes(ctx: CnmContext, report: ReconcileReport): Promise<void> {
  for (const sb of ctx.store.all<SandboxRecord>('sandbox')) {
    const gone = sb.mode === 'own' || sb.mode === 'adopted' ? !isNamespace(sb.netnsPath!) :
      sb.mode === 'container' ? !ctx.store.get('sandbox', sb.joinedTo!) : false;
    if (!sb.pending && !gone) continue;
    for (const ep of ctx.store.by<EndpointRecord>('endpoint', 'sandbox', sb.id)) await dropEndpoint(ctx, ep, report);
    if (sb.mode === 'own' && isNamespace(sb.netnsPath!)) await Netns.delete(sb.netnsName!).catch(() => {});
    else if (sb.mode === 'own') fs.rmSync(sb.netnsPath!, { force: true });
    removeSandboxFiles(ctx, sb);
    await ctx.store.del('sandbox', sb.id);
    report.droppedSandboxes.push(sb.id);
  }
  // Sandbox directories whose record never landed (a crash mid-create).
  const sbDir = path.join(ctx.runDir, 'sandboxes');
  for (const d of fs.existsSync(sbDir) ? fs.readdirSync(sbDir) : []) {
    if (!ctx.store.get('sandbox', d)) fs.rmSync(path.join(sbDir, d), { recursive: true, force: true });
  }
}

/** Pending endpoints are rolled back; joined ones whose kernel objects vanished are joined again. */
async function reconcileEndpoints(ctx: CnmContext, k: KernelView, report: ReconcileReport): Promise<void> {
  // Half-made joins are undone all at once (the drivers' removals batch).
  const pending = ctx.store.all<EndpointRecord>('endpoint').filter((ep) => ep.pending);
  await Promise.all(pending.map(async (ep) => {
    const n = ctx.store.get<NetworkRecord>('network', ep.networkId);
    if (n) await ctx.driverOf(n).rollbackJoin?.(ctx, n, ep, k);
  }));
  for (const ep of pending) {
    unplugged(ep);
    await ctx.store.put('endpoint', ep.id, ep);
    report.rolledBackJoins.push(ep.id);
  }
  for (const ep of ctx.store.all<EndpointRecord>('endpoint')) {
    const n = ctx.store.get<NetworkRecord>('network', ep.networkId);
    if (!n) {
      await dropEndpoint(ctx, ep, report);
      continue;
    }
    const sb = ep.sandboxId ? ctx.store.get<SandboxRecord>('sandbox', ep.sandboxId) : undefined;
    if (!ep.sandboxId || ctx.driverOf(n).joinIntact?.(n, ep, k) !== false) continue;
    // The sandbox exists but the endpoint's interface vanished: join again (repair).
    unplugged(ep);
    await ctx.store.put('endpoint', ep.id, ep);
    if (sb) await joinEndpoint(ctx, ep.id, sb).then(() => { report.rejoinedEndpoints.push(ep.id); }, () => {});
  }
}

/** Tagged links and named namespaces nobody knows. */
async function removeStrays(ctx: CnmContext, report: ReconcileReport): Promise<void> {
  const known = new Set<string>();
  for (const e of ctx.store.all<EndpointRecord>('endpoint')) if (e.hostIfname) known.add(e.hostIfname);
  for (const n of ctx.store.all<NetworkRecord>('network')) for (const l of ctx.driverOf(n).networkLinks?.(n) ?? []) known.add(l);
  // In one batch: 300 veths left by a crash take 0.2 s so, 5.7 s one by one.
  const links = await ctx.rt.link.list();
  const present = new Set(links.map((l) => l.name));
  for (const [name, t] of ctx.leftToNamespace) {
    if (!present.has(name) || Date.now() - t > LEFT_TO_NAMESPACE_MS) ctx.leftToNamespace.delete(name);
    else known.add(name);
  }
  const strays = links.filter((l) => isOurLink(l) && !known.has(l.name));
  const results = await ctx.reaper.removeMany(strays.map((l) => l.index));
  results.forEach((r, i) => { if (r.status !== 'failed') report.removedLinks.push(strays[i].name); });
  const knownNs = new Set(ctx.store.all<SandboxRecord>('sandbox').map((s) => s.netnsName).filter(Boolean));
  for (const name of Netns.list()) {
    if (!name.startsWith(NETNS_PREFIX) || knownNs.has(name)) continue;
    await Netns.delete(name).catch(() => {});
    removeEtcNetns(ctx, name);
    report.removedNetns.push(name);
  }
}

export async function reconcile(ctx: CnmContext): Promise<ReconcileReport> {
  const report = emptyReport();
  await reconcileSandboxes(ctx, report);
  await reconcileEndpoints(ctx, await kernelView(ctx), report);
  await removeStrays(ctx, report);
  const k = await kernelView(ctx);
  ctx.reaper.learn([...k.links.values()]);
  const networks = ctx.store.all<NetworkRecord>('network')
    .map((n) => ctx.driverOf(n).firewallRules?.(ctx, n, k)).filter((r): r is NetworkRules => !!r);
  const ports = ctx.store.all<EndpointRecord>('endpoint').filter((e) => e.sandboxId).flatMap((e) => portRules(e, ctx.store.get<NetworkRecord>('network', e.networkId)));
  await ctx.fw.reconcile(networks, ports);
  await restoreNetworks(ctx);
  return report;
}

/**
 * Bridges that vanished come back with their ports, link rules are put as
 * the records say, and every sandbox on a network with names has its
 * resolver (a second process serving one, such as a `cnm run`, keeps it).
 */
async function restoreNetworks(ctx: CnmContext): Promise<void> {
  for (const n of ctx.store.all<NetworkRecord>('network')) {
    await ctx.driverOf(n).restoreNetwork(ctx, n).catch(() => { /* the next join retries, and reports */ });
  }
  // (A crash may have left them half made.)
  const def = defaultBridge(ctx);
  if (def) await syncLinks(ctx, def, { full: true });
  for (const sb of ctx.store.all<SandboxRecord>('sandbox')) {
    if (sb.mode === 'container' || sb.mode === 'host') continue;
    await ctx.names.refresh(sb).catch(() => {});
  }
}
