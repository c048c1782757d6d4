// A network: a driver instance, like `docker network`. It owns its verbs:
// creating endpoints on it, inspecting it, deleting it.
import { newId, now, rollback, type CnmContext } from './context';
import { ENABLE_IPV4, ENABLE_IPV6, parseBoolOption, type DriverCapabilities } from './driver';
import { driverFor, isDriverName, DRIVER_NAMES } from './drivers';
import { Endpoint, createEndpoint } from './endpoint';
import { busy, exists, invalid, invalidType } from './errors';
import type { SubnetState } from './ipam';
import { allocateSubnets, recordSubnets } from './subnets';
import type { DriverName, EndpointCreateOptions, EndpointRecord, NetworkCreateOptions, NetworkRecord, SandboxRecord } from './types';
import { checkFields, snapshot } from './validate';

// Any text with something besides whitespace, as Docker 28 takes names
// ("_x", "日本", 64 hex digits). Not NUL: a name must survive every C API.
const NAME = /^(?=.*\S)[^\0]+$/su;

const CREATE_FIELDS = {
  name: 'string', driver: 'string', ipam: 'any', subnet: 'string', gateway: 'string', ipRange: 'string', ipv6: 'boolean',
  subnet6: 'string', gateway6: 'string', internal: 'boolean', options: 'record', labels: 'record',
} as const;

/** One entry of IPAM.Config as Docker shows it (empty fields omitted). */
export interface IpamConfigInspect { Subnet: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> }

/** Docker's `network inspect` JSON for one network. */
export interface NetworkInspect {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local' | 'global';
  Driver: DriverName;
  EnableIPv4: boolean;
  EnableIPv6: boolean;
  /** Options and Config are null where Docker shows null: the built-in networks' options, host's and none's config. */
  IPAM: { Driver: 'default'; Options: Record<string, string> | null; Config: IpamConfigInspect[] | null };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/**
 * Docker's network-level options as dockerd reads them: enable_ipv6 is
 * `ipv6` unless that is given; enable_ipv4=false (no IPv4) is not supported.
 */
function withNetworkOptions(o: NetworkCreateOptions): NetworkCreateOptions {
  const v4 = o.options?.[ENABLE_IPV4];
  if (v4 !== undefined && !parseBoolOption(ENABLE_IPV4, v4)) throw invalid(`${ENABLE_IPV4}=${v4}: networks without IPv4 are not supported`);
  const v6 = o.options?.[ENABLE_IPV6];
  if (v6 === undefined) return o;
  const on = parseBoolOption(ENABLE_IPV6, v6);
  return o.ipv6 === undefined ? { ...o, ipv6: on } : o;
}

/** Like `docker network create`: validates everything, then makes the driver's kernel objects. */
export async function createNetwork(ctx: CnmContext, o: NetworkCreateOptions, builtin = false): Promise<NetworkRecord> {
  o = snapshot(o);
  checkFields(o, 'network options', CREATE_FIELDS, ['gateway']);
  if (typeof o.name !== 'string') throw invalidType('network options.name', 'a string', o.name);
  // ("." and ".." would be path segments a URL resolves away: no API path could name them.)
  if (!NAME.test(o.name) || o.name === '.' || o.name === '..') throw invalid(o.name.trim() ? `invalid network name: ${JSON.stringify(o.name)}` : 'invalid name: name is empty');
  const driverName = o.driver ?? 'bridge';
  if (!isDriverName(driverName)) throw invalid(`unknown network driver: ${JSON.stringify(driverName)} (${DRIVER_NAMES.join(', ')})`);
  const driver = driverFor(driverName);
  if (!builtin && driver.caps.builtinOnly) throw invalid(`only one instance of "${driverName}" network is allowed`);
  o = withNetworkOptions(o);
  return ctx.locks.run('networks', async () => {
    // By name only (a name may look like another network's id prefix, as in Docker).
    if (ctx.store.all<NetworkRecord>('network').some((x) => x.name === o.name)) throw exists('network', o.name);
    const id = newId();
    const rec: NetworkRecord = {
      id, name: o.name, driver: driverName, created: now(), internal: !!o.internal, ipv6: !!o.ipv6,
      options: { ...(o.options ?? {}) }, labels: { ...(o.labels ?? {}) }, builtin: builtin || undefined,
      dns: driver.caps.names && !builtin,
    };
    await driver.validate(ctx, rec, o);
    const alloc = await allocateNetworkSubnets(ctx, rec, o);
    ctx.ipam.set(id, alloc);
    const undo: (() => Promise<void>)[] = [];
    if (driver.releaseNetwork) undo.push(() => driver.releaseNetwork!(ctx, rec));
    try {
      await driver.createNetwork(ctx, rec);
      undo.push(() => driver.deleteNetwork(ctx, rec));
      await saveNetwork(ctx, rec);
    } catch (e) {
      await rollback(undo);
      ctx.ipam.delete(id);
      await ctx.store.del('network', id).catch(() => {});
      throw e;
    }
    return rec;
  });
}

/** The subnets from the driver's own IPAM when it has one (a global network's), else the local pools. */
function allocateNetworkSubnets(ctx: CnmContext, rec: NetworkRecord, o: NetworkCreateOptions) {
  const driver = driverFor(rec.driver);
  return driver.allocateNetwork ? driver.allocateNetwork(ctx, rec, o) : allocateSubnets(ctx, rec, o, driver.caps);
}

/**
 * Only the subnets, ranges, gateways and auxiliary addresses are the
 * network's; which addresses are used is derived from the endpoints on restore.
 */
export async function saveNetwork(ctx: CnmContext, n: NetworkRecord): Promise<void> {
  const a = ctx.ipam.get(n.id);
  n.subnets = a?.all.length ? a.states() : undefined;
  await ctx.store.put('network', n.id, n);
}

/**
 * A record written before networks had several subnets (one `ipv4Subnet`,
 * one `ipv6Subnet`) gets them as its `subnets` list; true when changed (the
 * caller writes it back). Done once on open, so nothing else reads two shapes.
 */
export function upgradeNetworkRecord(n: NetworkRecord): boolean {
  if (!n.ipv4Subnet && !n.ipv6Subnet) return false;
  n.subnets = [...(n.subnets ?? []), ...[n.ipv4Subnet, n.ipv6Subnet].filter((x): x is SubnetState => !!x)];
  delete n.ipv4Subnet;
  delete n.ipv6Subnet;
  return true;
}

export class Network {
  constructor(private ctx: CnmContext, readonly id: string) {}
  get record(): NetworkRecord { return { ...this.ctx.network(this.id) }; }
  get name(): string { return this.record.name; }
  get driver(): DriverName { return this.record.driver; }
  /** Bridge device name (bridge driver). */
  get bridge(): string | undefined { return this.record.bridge; }
  /** The first IPv4 subnet (inspect().IPAM.Config has them all). */
  get subnet(): string | undefined { return recordSubnets(this.record, 4)[0]?.subnet; }
  /** The first IPv4 subnet's gateway. */
  get gateway(): string | undefined { return recordSubnets(this.record, 4)[0]?.gateway; }
  /** What its driver can do (which sandboxes may join, ports, names, ...). */
  get capabilities(): DriverCapabilities { return this.ctx.driverOf(this.ctx.network(this.id)).caps; }

  /** Like libnetwork's CreateEndpoint: allocates addresses, MAC and host ports. */
  async createEndpoint(o: EndpointCreateOptions): Promise<Endpoint> {
    // The record read once the gate lets us in: a delete may have run while we waited.
    const ep = await this.ctx.gate.run(() => createEndpoint(this.ctx, this.ctx.network(this.id), o));
    return new Endpoint(this.ctx, ep.id);
  }

  endpoints(): Endpoint[] {
    return this.ctx.store.by<EndpointRecord>('endpoint', 'network', this.id).map((e) => new Endpoint(this.ctx, e.id));
  }

  /** Docker's `network inspect` JSON. */
  inspect(): NetworkInspect {
    const n = this.ctx.network(this.id);
    const a = this.ctx.ipam.get(n.id);
    const config = recordSubnets(n).map((s) => ipamConfigEntry(s, n.scope !== 'global'));
    const containers: NetworkInspect['Containers'] = {};
    for (const ep of this.ctx.store.by<EndpointRecord>('endpoint', 'network', n.id)) {
      if (!ep.sandboxId) continue;
      const sb = this.ctx.store.get<SandboxRecord>('sandbox', ep.sandboxId);
      containers[ep.sandboxId] = {
        Name: sb?.name ?? ep.name, EndpointID: ep.id, MacAddress: ep.mac ?? '',
        IPv4Address: ep.ipv4 && a?.v4 ? a.cidr(ep.ipv4) : '', IPv6Address: ep.ipv6 && a?.v6 ? a.cidr(ep.ipv6) : '',
      };
    }
    const driver = this.ctx.driverOf(n);
    return {
      Name: n.name, Id: n.id, Created: n.created, Scope: n.scope ?? 'local', Driver: n.driver,
      // Docker's default (true) for every driver, host and none included (--ipv4=false is not supported).
      EnableIPv4: true, EnableIPv6: n.ipv6,
      IPAM: { Driver: 'default', Options: n.builtin ? null : {}, Config: driver.caps.ipam ? config : null },
      Internal: n.internal, Attachable: false, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false,
      Containers: containers, Options: sortedKeys({ ...n.options, ...driver.inspectOptions?.(n) }), Labels: sortedKeys(n.labels),
    };
  }

  /** Like `docker network rm`: refused while endpoints exist. */
  async delete(): Promise<void> {
    const ctx = this.ctx;
    const n0 = ctx.network(this.id);
    if (n0.builtin) throw invalid(`${n0.name} is a pre-defined network and cannot be removed`);
    await ctx.gate.run(() => ctx.locks.run('networks', async () => {
      // Read again under the lock: a second delete waiting here finds it gone (ENOENT), never a stale record.
      const n = ctx.network(this.id);
      const eps = ctx.store.by<EndpointRecord>('endpoint', 'network', n.id);
      if (eps.length) throw busy(`network ${n.name} has active endpoints (${eps.map((e) => e.name).join(', ')})`);
      // From here on no endpoint may be created on it (createEndpoint checks).
      ctx.deleting.add(n.id);
      await releaseNetwork(ctx, n);
      await ctx.driverOf(n).deleteNetwork(ctx, n);
      ctx.ipam.delete(n.id);
      await ctx.store.del('network', n.id);
    })).finally(() => ctx.deleting.delete(n0.id));
  }
}

/** A map with its keys in order, as Go's JSON encoder writes maps. */
const sortedKeys = (m: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/**
 * A subnet as Docker's inspect shows it: Subnet, IPRange, Gateway,
 * AuxiliaryAddresses, the empty ones omitted. `asConfigured`: a local
 * network's configured subnet shows as configured, without a gateway picked
 * for it (a swarm network, as a global one here, shows the one allocated).
 */
function ipamConfigEntry(s: SubnetState, asConfigured: boolean): IpamConfigInspect {
  const e: IpamConfigInspect = { Subnet: s.subnet };
  if (s.range) e.IPRange = s.range;
  if (s.gateway && !(asConfigured && s.gatewayPicked)) e.Gateway = s.gateway;
  if (s.aux && Object.keys(s.aux).length) e.AuxiliaryAddresses = Object.fromEntries(Object.entries(s.aux));
  return e;
}

/** A network with its own IPAM (global scope) gives it up there first: refused (EBUSY) while other hosts use it. */
async function releaseNetwork(ctx: CnmContext, n: NetworkRecord): Promise<void> {
  await ctx.driverOf(n).releaseNetwork?.(ctx, n);
}
