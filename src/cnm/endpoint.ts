// An endpoint: a network's interface in a sandbox. It owns its verbs, as in
// libnetwork: join (plug it into a sandbox), leave (unplug, keeping its
// addresses), delete (release them).
import type { Netns } from '../netns';
import { newId, now, rollback, type CnmContext, settled } from './context';
import { busy, exists, invalid, invalidType, notFound } from './errors';
import { holdsHostPort, portRules } from './firewall/rules';
import { FIRST_IFINDEX, configureInterface, setDefaultRoute } from './iface';
import { checkLinksAtJoin, linkParentsToRewrite, syncLinks } from './links';
import { macFromIp } from './mac';
import { NetAlloc } from './net-alloc';
import { hostAddresses, parseExposed, portRequests, publishAllRequest, publishedPorts, type PortBinding, type PortRequest, type PublishedPorts } from './ports';
import { writeNamespaceFiles } from './sandbox-files';
import type { EndpointCreateOptions, EndpointRecord, NetworkRecord, SandboxRecord } from './types';
import { validateMac } from '../util/ip';
import { checkFields, snapshot } from './validate';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const ALIAS = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const CREATE_FIELDS = { name: 'string', ip: 'string', ip6: 'string', mac: 'string', aliases: 'string[]', ports: 'any', exposedPorts: 'string[]', publishAll: 'boolean' } as const;

export async function createEndpoint(ctx: CnmContext, n: NetworkRecord, o: EndpointCreateOptions): Promise<EndpointRecord> {
  if (ctx.deleting.has(n.id)) throw notFound('network', n.name);
  o = snapshot(o);
  checkFields(o, 'endpoint options', CREATE_FIELDS);
  if (typeof o.name !== 'string') throw invalidType('endpoint options.name', 'a string', o.name);
  if (!NAME.test(o.name)) throw invalid(`invalid endpoint name: ${JSON.stringify(o.name)}`);
  if (ctx.store.by('endpoint', 'networkName', `${n.id}/${o.name}`).length) throw exists(`endpoint on network ${n.name}`, o.name);
  const aliases = o.aliases ?? [];
  for (const a of aliases) if (!ALIAS.test(a)) throw invalid(`invalid alias: ${JSON.stringify(a)}`);
  if (o.ports !== undefined && !Array.isArray(o.ports)) throw invalidType('endpoint options.ports', 'a list', o.ports);
  // An address, as Docker's IPAMConfig takes it: the prefix is the network's.
  for (const k of ['ip', 'ip6'] as const) {
    if (o[k]?.includes('/')) throw invalid(`endpoint options.${k}: ${JSON.stringify(o[k])} must be an address without a prefix length (the network's is used)`);
  }
  const exposed = [...new Set((o.exposedPorts ?? []).map(parseExposed))];
  const requests = portRequestsOf(o, exposed);
  const caps = ctx.driverOf(n).caps;
  if (requests.length && !caps.ports) throw invalid(`port publishing needs a network whose driver publishes ports (${n.name} is ${n.driver})`);
  if (requests.length && n.internal) throw invalid(`network ${n.name} is internal: ports cannot be published`);
  if (o.mac !== undefined && !caps.iface) throw invalid(`network ${n.name} (${n.driver}) makes no interface: no MAC address`);
  const a = ctx.ipam.get(n.id) ?? new NetAlloc();
  const ep: EndpointRecord = { id: newId(), name: o.name, networkId: n.id, created: now(), aliases: [...aliases], ports: [] };
  const done: (() => void)[] = [];
  try {
    // Addresses and MAC from the driver's own IPAM (a global network's), or
    // the local one; only the former waits (the name check above and the put
    // below stay in one tick for local networks).
    if (!(ctx.driverOf(n).allocateEndpoint && await allocateByDriver(ctx, n, ep, o, done))) {
      // One address per family: a static one from the subnet holding it, else from the first subnet with one free.
      if (a.v4 || o.ip !== undefined) {
        ep.ipv4 = o.ip !== undefined ? a.reserve(4, o.ip, 'IP address', n.name) : a.allocate(4, n.name);
        done.push(() => a.release(ep.ipv4!));
      }
      if (a.v6 || o.ip6 !== undefined) {
        ep.ipv6 = o.ip6 !== undefined ? a.reserve(6, o.ip6, 'IPv6 address', n.name) : a.allocate(6, n.name);
        done.push(() => a.release(ep.ipv6!));
      }
    }
    if (caps.iface && !ep.mac) ep.mac = o.mac !== undefined ? interfaceMac(o.mac) : ep.ipv4 ? macFromIp(ep.ipv4) : undefined;
    // Each request's host addresses, from the families the endpoint got (all checked before any port is taken).
    const has = { v4: !!ep.ipv4, v6: !!ep.ipv6 };
    const plan = requests.map((r) => ({ r, hostIps: hostAddresses(r, has, `network ${n.name}`, n.hostBindingIpv4) }));
    for (const { r, hostIps } of plan) {
      const bs = allocatePorts(ctx, n, r, hostIps);
      ep.ports.push(...bs);
      done.push(() => { for (const b of bs) { ctx.ports.release(b); ctx.reservations.release(b); } });
    }
    if (ep.ports.length) ep.portsPerFamily = true;
    const published = new Set(ep.ports.map((p) => `${p.containerPort}/${p.proto}`));
    const onlyExposed = exposed.filter((k) => !published.has(k));
    if (onlyExposed.length) ep.exposedPorts = onlyExposed;
    // (A driver's allocation waits: the network may have gone meanwhile.)
    if (ctx.deleting.has(n.id) || !ctx.store.get('network', n.id)) throw notFound('network', n.name);
    await ctx.store.put('endpoint', ep.id, ep);
  } catch (e) {
    for (const d of done.reverse()) d();
    throw e;
  }
  return ep;
}

/**
 * An interface's own MAC: also not all zeros, which the kernel refuses on
 * an Ethernet device (is_valid_ether_addr) only at join. (An FDB entry may
 * be all zeros: validateMac allows it.)
 */
function interfaceMac(mac: string): string {
  const m = validateMac(mac);
  if (m === '00:00:00:00:00:00') throw invalid(`MAC address is all zeros: ${mac}`);
  return m;
}

/**
 * A driver with its own IPAM allocates the endpoint's addresses (true);
 * undoing goes to `done`. The local allocator records them too (inspect, names).
 */
async function allocateByDriver(ctx: CnmContext, n: NetworkRecord, ep: EndpointRecord, o: EndpointCreateOptions, done: (() => void)[]): Promise<boolean> {
  const driver = ctx.driverOf(n);
  if (!driver.allocateEndpoint) return false;
  await driver.allocateEndpoint(ctx, n, ep, o);
  done.push(() => { void driver.releaseEndpoint?.(ctx, n, ep).catch(() => {}); });
  const a = ctx.ipam.get(n.id);
  for (const ip of [ep.ipv4, ep.ipv6]) {
    if (ip && a?.subnetOf(ip) && !a.isUsed(ip)) { a.restore(ip); done.push(() => a.release(ip)); }
  }
  return true;
}

/** The driver's bookkeeping after any leave (also one that skipped the kernel). */
async function afterLeave(ctx: CnmContext, n: NetworkRecord | undefined, ep: EndpointRecord): Promise<void> {
  if (n) await ctx.driverOf(n).afterLeave?.(ctx, n, ep);
}

/** Gives the addresses back to a driver's own IPAM (before the local release). */
async function releaseByDriver(ctx: CnmContext, ep: EndpointRecord): Promise<void> {
  const n = ctx.store.get<NetworkRecord>('network', ep.networkId);
  if (n) await ctx.driverOf(n).releaseEndpoint?.(ctx, n, ep);
}

/**
 * The requests of an endpoint's options: its `ports`, then with
 * `publishAll` (`docker run -P`) every exposed port not already among them.
 */
function portRequestsOf(o: EndpointCreateOptions, exposed: string[]): PortRequest[] {
  const out = (o.ports ?? []).flatMap((spec) => portRequests(spec));
  if (o.publishAll) {
    const published = new Set(out.map((r) => `${r.containerPort}/${r.proto}`));
    for (const k of exposed) if (!published.has(k)) out.push(publishAllRequest(k));
  }
  return out;
}

/**
 * Takes a host port for a request's addresses and holds it with a socket
 * on each (routed families excepted: nothing is translated, so nothing is
 * held). A port in a range (or an ephemeral one) that a host process holds
 * on one of the addresses is skipped; a given one fails with EADDRINUSE
 * naming it.
 */
function allocatePorts(ctx: CnmContext, n: NetworkRecord, r: PortRequest, hostIps: string[]): PortBinding[] {
  const skipped: PortBinding[] = [];
  try {
    for (;;) {
      const bs = ctx.ports.allocate(r, hostIps);
      const held: PortBinding[] = [];
      try {
        for (const b of bs) {
          if (!holdsHostPort(n, b)) continue;
          ctx.reservations.reserve(b);
          held.push(b);
        }
        return bs;
      } catch (e) {
        for (const b of held) ctx.reservations.release(b);
        if (r.lo === r.hi || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
          for (const b of bs) ctx.ports.release(b);
          throw e;
        }
        // Kept allocated while the search goes on, so the next try gets another.
        skipped.push(...bs);
      }
    }
  } finally {
    for (const x of skipped) ctx.ports.release(x);
  }
}

/** Gives an endpoint's addresses and host ports back. */
export function releaseEndpoint(ctx: CnmContext, ep: EndpointRecord): void {
  const a = ctx.ipam.get(ep.networkId);
  if (ep.ipv4) a?.release(ep.ipv4);
  if (ep.ipv6) a?.release(ep.ipv6);
  for (const p of ep.ports) {
    ctx.ports.release(p);
    ctx.reservations.release(p);
  }
}

/** The record of an endpoint that is in no sandbox. */
export function unplugged(ep: EndpointRecord): void {
  ep.pending = undefined;
  ep.sandboxId = undefined;
  ep.ifname = undefined;
  ep.hostIfname = undefined;
  ep.gatewayEndpoint = undefined;
}

/** The lock of one endpoint: a join and a delete of it take turns (then the namespace's, in that order). */
const endpointLockKey = (epId: string) => `endpoint:${epId}`;

/** Like libnetwork's Join: plugs the endpoint into the sandbox's namespace. */
export async function joinEndpoint(ctx: CnmContext, epId: string, sb: SandboxRecord): Promise<void> {
  await ctx.locks.run(endpointLockKey(epId), () => ctx.locks.run(ctx.nsLockKey(sb), async () => {
    // Either may be gone by now (a delete that went first).
    const ep = ctx.endpoint(epId);
    ctx.sandbox(sb.id);
    if (ep.sandboxId) throw busy(`endpoint ${ep.name} is already joined to sandbox ${ep.sandboxId}`);
    const n = ctx.network(ep.networkId);
    const driver = ctx.driverOf(n);
    const peers = ctx.namespaceEndpoints(sb);
    if (peers.some((p) => p.networkId === n.id)) throw exists(`sandbox ${sb.id} endpoint on network`, n.name);
    // Container mode shares its owner's namespace: the owner's mode decides
    // (a sandbox sharing a host-mode one is in the host's namespace).
    const root = ctx.rootOf(sb);
    if (root.mode === 'host' && driver.caps.namespace !== 'host') throw invalid(`sandbox ${sb.id} uses the host's namespace: it can only join the host network`);
    if (driver.caps.namespace === 'host' && root.mode !== 'host') throw invalid(`the ${n.name} network needs a host-mode sandbox ({ host: true })`);
    if (driver.caps.exclusive && peers.length) throw invalid(`a sandbox on the ${n.name} network cannot join other networks`);
    const exclusive = peers.map((p) => ctx.store.get<NetworkRecord>('network', p.networkId)).find((pn) => pn && ctx.driverOf(pn).caps.exclusive);
    if (exclusive) throw invalid(`sandbox ${sb.id} is on the ${exclusive.name} network`);
    checkLinksAtJoin(ctx, sb, n);
    const undo: (() => Promise<void>)[] = [];
    let ns: Netns | undefined;
    ep.pending = true;
    ep.sandboxId = sb.id;
    try {
      if (driver.caps.iface) {
        const used = new Set(peers.map((p) => p.ifname));
        let i = 0;
        while (used.has(`eth${i}`)) i++;
        ep.ifname = `eth${i}`;
        ep.gatewayEndpoint = !n.internal && !peers.some((p) => p.gatewayEndpoint);
        driver.prepareJoin?.(ctx, n, ep);
        // Recorded as pending first. What most drivers make is tagged, so a
        // crash before this lands leaves something reconcile finds anyway;
        // an untagged join waits for the record.
        const pendingPut = ctx.store.put('endpoint', ep.id, { ...ep });
        if (driver.caps.untaggedJoin) await pendingPut;
        else pendingPut.catch(() => {});
        // Closed after the undo steps, which may need it (see the catch).
        const taken = await ctx.takeNetns(sb);
        ns = taken.ns;
        const made = await driver.join(ctx, n, ep, ns, undo);
        // In a namespace just made here, with nothing joined yet, the new
        // interface is the first after lo.
        await configureInterface(ctx, ep, ns, made, taken.fresh ? FIRST_IFINDEX : undefined);
        if (ep.ports.length) {
          await ctx.fw.addPorts(portRules(ep, n));
          undo.push(() => ctx.fw.removePorts(portRules(ep, n)));
        }
      }
      ep.pending = undefined;
      await ctx.store.put('endpoint', ep.id, ep);
      // Links to and from this sandbox take effect (with icc off, the only pairs that talk).
      await syncLinks(ctx, n);
      // The namespace's resolver at 127.0.0.11 (on the sockets made with the namespace, if fresh).
      await ctx.names.refresh(ctx.rootOf(sb), ns);
      writeNamespaceFiles(ctx, sb);
      for (const p of linkParentsToRewrite(ctx, sb, n)) writeNamespaceFiles(ctx, p);
    } catch (e) {
      await rollback(undo);
      const linked = !ep.pending;
      unplugged(ep);
      await ctx.store.put('endpoint', ep.id, ep);
      // A link rule that went in before the failure goes again.
      if (linked) await syncLinks(ctx, n).catch(() => {});
      throw e;
    } finally {
      ns?.close();
    }
  }));
}

/** Like libnetwork's Leave: unplugs, keeps the allocation. `ifJoined`: a no-op when not joined. */
export async function leaveEndpoint(ctx: CnmContext, epId: string, opts: { ifJoined?: boolean } = {}): Promise<void> {
  const ep0 = ctx.endpoint(epId);
  // Under the endpoint's lock, as joins are: a leave never interleaves with
  // a join of it in flight (to another sandbox, say); then as it is by then.
  await ctx.locks.run(endpointLockKey(ep0.id), () => leaveHoldingEndpoint(ctx, ep0.id, opts));
}

/** leaveEndpoint with the endpoint's lock held (deleteEndpoint holds it already). */
async function leaveHoldingEndpoint(ctx: CnmContext, epId: string, opts: { ifJoined?: boolean }): Promise<void> {
  const ep0 = ctx.endpoint(epId);
  if (!ep0.sandboxId) {
    if (opts.ifJoined) return;
    throw invalid(`endpoint ${ep0.name} is not joined`);
  }
  // Under the namespace's lock, as joins are: a leave racing a join must
  // not hand the default route to a half-made endpoint.
  const sb = ctx.store.get<SandboxRecord>('sandbox', ep0.sandboxId);
  await ctx.locks.run(sb ? ctx.nsLockKey(sb) : `sandbox:${ep0.sandboxId}`, async () => {
    // A sandbox deletion that held the lock may have made it leave meanwhile.
    const now = ctx.store.get<EndpointRecord>('endpoint', ep0.id);
    if (!now?.sandboxId) {
      if (opts.ifJoined) return;
      throw invalid(`endpoint ${ep0.name} is not joined`);
    }
    await leaveLocked(ctx, ep0.id);
  });
}

/**
 * Leave, with the namespace's lock held. `skipKernel`: the namespace is
 * about to die, taking the interfaces with it (only rules and records need work).
 */
export async function leaveLocked(ctx: CnmContext, epId: string, opts: { skipKernel?: boolean } = {}): Promise<void> {
  const ep = ctx.endpoint(epId);
  if (!ep.sandboxId) throw invalid(`endpoint ${ep.name} is not joined`);
  const sb = ctx.store.get<SandboxRecord>('sandbox', ep.sandboxId);
  const n = ctx.store.get<NetworkRecord>('network', ep.networkId);
  // The rules and the interface go at the same time: a Docker-order
  // teardown of 1,000 then waits for one nft commit and one group deletion
  // side by side, not one after the other. Both can be done again (a leave
  // that failed half-way is retried whole).
  // (The interface first: its removal waits longest in the kernel.)
  const steps: Promise<void>[] = [];
  if (!opts.skipKernel && n) {
    const sbId = ep.sandboxId;
    steps.push(ctx.driverOf(n).leave(ctx, n, ep, () => (sb ? ctx.sandboxNetns(sb) : Promise.reject(notFound('sandbox', sbId)))));
  }
  if (ep.ports.length) steps.push(ctx.fw.removePorts(portRules(ep, n)));
  await settled(steps);
  if (opts.skipKernel && ep.hostIfname) ctx.leaveToNamespace(ep.hostIfname);
  const wasGateway = ep.gatewayEndpoint;
  unplugged(ep);
  await ctx.store.put('endpoint', ep.id, ep);
  await afterLeave(ctx, n, ep);
  // Its links' rules go (also when the namespace dies on its own), and the
  // parents' hosts lines naming it.
  if (n) {
    await syncLinks(ctx, n);
    if (sb) for (const p of linkParentsToRewrite(ctx, sb, n)) if (p.id !== sb.id) writeNamespaceFiles(ctx, p);
  }
  if (!sb || opts.skipKernel) return;
  // Hand the default route to another endpoint, as Docker does.
  if (wasGateway) {
    const next = ctx.namespaceEndpoints(sb).find((p) => {
      const pn = ctx.store.get<NetworkRecord>('network', p.networkId);
      return pn && !pn.internal && ctx.driverOf(pn).caps.iface;
    });
    if (next) {
      next.gatewayEndpoint = true;
      await ctx.store.put('endpoint', next.id, next);
      const ns = await ctx.sandboxNetns(sb);
      try { await setDefaultRoute(ctx, next, ns); } finally { ns.close(); }
    }
  }
  await ctx.names.refresh(ctx.rootOf(sb));
  writeNamespaceFiles(ctx, sb);
}

/** Releases the endpoint's addresses and ports (leaves first if joined); after a join of it in flight, never beside it. */
export async function deleteEndpoint(ctx: CnmContext, epId: string): Promise<void> {
  await ctx.locks.run(endpointLockKey(epId), async () => {
    const ep = ctx.endpoint(epId);
    if (ep.sandboxId) await leaveHoldingEndpoint(ctx, ep.id, { ifJoined: true });
    await releaseByDriver(ctx, ep);
    releaseEndpoint(ctx, ep);
    await ctx.store.del('endpoint', ep.id);
  });
}

export class Endpoint {
  constructor(private ctx: CnmContext, readonly id: string) {}
  get record(): EndpointRecord { return { ...this.ctx.endpoint(this.id) }; }
  get name(): string { return this.record.name; }
  get ipv4(): string | undefined { return this.record.ipv4; }
  get ipv6(): string | undefined { return this.record.ipv6; }
  get mac(): string | undefined { return this.record.mac; }
  /**
   * The published ports, as `docker port` shows them: `{ '80/tcp': [{
   * hostIp: '0.0.0.0', hostPort: 8080 }, { hostIp: '::', hostPort: 8080 }] }`.
   * `filter` ("80", "80/udp"): that port only (ENOENT when not published).
   */
  ports(filter?: string): PublishedPorts { return publishedPorts(this.record.ports, `endpoint ${this.name}`, filter); }
  /** Interface name inside the sandbox once joined. */
  get ifname(): string | undefined { return this.record.ifname; }
  join(sandbox: { id: string } | string): Promise<void> {
    const ref = typeof sandbox === 'string' ? sandbox : sandbox?.id;
    if (typeof ref !== 'string') return Promise.reject(invalidType('sandbox', 'a Sandbox or a sandbox id', sandbox));
    try {
      const sb = this.ctx.sandbox(ref);
      return this.ctx.gate.run(() => joinEndpoint(this.ctx, this.ctx.endpoint(this.id).id, sb));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  leave(): Promise<void> { return this.ctx.gate.run(() => leaveEndpoint(this.ctx, this.id)); }
  delete(): Promise<void> { return this.ctx.gate.run(() => deleteEndpoint(this.ctx, this.id)); }
}
