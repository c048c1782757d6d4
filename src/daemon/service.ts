// Docker's network operations, and our sandbox ones, on a Controller: what
// the daemon's routes call and what the CLI calls when no daemon runs. In:
// Docker's request shapes; out: Docker's response shapes; errors typed.
import type { Controller, Network, Sandbox } from '../cnm/controller';
import { driverFor, isDriverName } from '../cnm/drivers';
import { SubnetOverlapError } from '../cnm/errors';
import { ApiError, badInput, forbidden, notFound } from './errors';
import { Filters, matchLabels, matchPattern, oneBool, parseUntil } from './filters';
import { check } from './validate';
import { endpointOptions, NETWORK_CONNECT, NETWORK_DISCONNECT, networkCreateOptions, sandboxPlan } from './mapping';
import type { EndpointSettings } from './mapping';
import type { EndpointCreateOptions } from '../cnm/types';

export const NETWORK_LIST_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'];
export const NETWORK_PRUNE_FILTERS = ['until', 'label', 'label!'];

const isBuiltin = (n: Network) => n.record.builtin === true;

/** Names Docker keeps for itself (`runconfig.IsPreDefinedNetwork`): no network of one can be made. */
const PREDEFINED = ['bridge', 'host', 'none', 'default'];

/** A network by id, name or id prefix, not found as Docker words it. */
function networkOf(ctl: Controller, ref: string): Network {
  try {
    return ctl.network(ref);
  } catch (e: any) {
    if (e.code === 'ENOENT') throw notFound(`network ${ref} not found`);
    throw e;
  }
}

/** The sandbox a connect or disconnect names, as Docker's container. */
function containerOf(ctl: Controller, ref: string): Sandbox {
  try {
    return ctl.sandbox(ref);
  } catch (e: any) {
    if (e.code === 'ENOENT') throw notFound(`No such container: ${ref}`);
    throw e;
  }
}

/** `GET /networks`: Docker's list (its smaller form: no Containers), filtered as Docker filters. */
export function listNetworks(ctl: Controller, f: Filters = new Map()): any[] {
  const dangling = oneBool(f, 'dangling');
  for (const t of f.get('type') ?? []) if (t !== 'custom' && t !== 'builtin') throw badInput(`invalid filter: 'type'='${t}'`);
  const out: any[] = [];
  for (const n of ctl.networks()) {
    const i = n.inspect();
    const any = (k: string, test: (v: string) => boolean) => !f.has(k) || f.get(k)!.some(test);
    if (!any('driver', (v) => v === i.Driver)) continue;
    if (!any('name', (v) => matchPattern(v, i.Name))) continue;
    if (!any('id', (v) => matchPattern(v, i.Id))) continue;
    if (!any('scope', (v) => v === i.Scope)) continue;
    if (f.has('label') && !matchLabels(f.get('label')!, i.Labels ?? {})) continue;
    if (!any('type', (v) => (v === 'builtin') === isBuiltin(n))) continue;
    if (dangling !== undefined) {
      const unused = !isBuiltin(n) && Object.keys(i.Containers ?? {}).length === 0;
      if (unused !== dangling) continue;
    }
    out.push({ ...i, Containers: {} });
  }
  return out;
}

/** `GET /networks/{id}`: by id, name or a unique id prefix. */
export function inspectNetwork(ctl: Controller, ref: string, scope?: string): any {
  const i = networkOf(ctl, ref).inspect();
  if (scope && scope !== i.Scope) throw notFound(`network ${ref} not found in scope ${scope}`);
  return i;
}

/**
 * `POST /networks/create` (201 {Id, Warning}), refused as dockerd refuses:
 * a pre-defined name or a second host/none network 403, a name in use 409,
 * an unknown driver 404 (a plugin not found), overlapping subnets 403.
 */
export async function createNetwork(ctl: Controller, body: unknown, apiVersion?: number): Promise<{ Id: string; Warning: string }> {
  const o = networkCreateOptions(body, 'api', apiVersion);
  if (PREDEFINED.includes(o.name)) throw forbidden(`operation is not permitted on predefined ${o.name} network `);
  if (ctl.networks().some((n) => n.name === o.name)) throw new ApiError(409, `network with name ${o.name} already exists`, 'EEXIST');
  if (!isDriverName(o.driver)) throw new ApiError(404, `plugin ${JSON.stringify(o.driver)} not found`, 'ENOENT');
  if (driverFor(o.driver).caps.builtinOnly) throw forbidden(`only one instance of "${o.driver}" network is allowed`);
  try {
    const n = await ctl.createNetwork(o);
    return { Id: n.id, Warning: '' };
  } catch (e: any) {
    if (e instanceof SubnetOverlapError) throw forbidden('invalid pool request: Pool overlaps with other one on this address space');
    throw e;
  }
}

/** `DELETE /networks/{id}`: refused for the pre-defined ones and while in use (both 403, as dockerd). */
export async function removeNetwork(ctl: Controller, ref: string): Promise<void> {
  const n = networkOf(ctl, ref);
  if (isBuiltin(n)) throw forbidden(`${n.name} is a pre-defined network and cannot be removed`);
  const eps = n.endpoints();
  if (eps.length) {
    throw forbidden(`error while removing network: network ${n.name} has active endpoints (${eps.map((e) => `name:${JSON.stringify(e.name)} id:${JSON.stringify(e.id.slice(0, 12))}`).join(', ')})`);
  }
  await ctl.deleteNetwork(n.id);
}

/** `POST /networks/prune`: every user-defined network without endpoints, as `docker network prune`. */
export async function pruneNetworks(ctl: Controller, f: Filters = new Map()): Promise<{ NetworksDeleted: string[] }> {
  const until = f.get('until')?.map((v) => parseUntil(v));
  if (until && until.length > 1) throw badInput('more than one until filter');
  const deleted: string[] = [];
  for (const n of ctl.networks()) {
    if (isBuiltin(n) || n.endpoints().length) continue;
    const i = n.inspect();
    if (until && Date.parse(i.Created) >= until[0]) continue;
    if (f.has('label') && !matchLabels(f.get('label')!, i.Labels ?? {})) continue;
    // Kept only when every label! filter matches (Docker's MatchKVList over them).
    if (f.has('label!') && matchLabels(f.get('label!')!, i.Labels ?? {})) continue;
    // One that gained an endpoint meanwhile stays, as in Docker (which logs and goes on).
    try { await ctl.deleteNetwork(n.id); deleted.push(i.Name); } catch { /* in use now */ }
  }
  // Go's nil slice when none went.
  return { NetworksDeleted: deleted.length ? deleted : null as unknown as string[] };
}

/** An endpoint on the network, joined to the sandbox; undone if the join fails. */
async function attach(n: Network, sb: Sandbox, o: EndpointCreateOptions): Promise<void> {
  const ep = await n.createEndpoint(o);
  try {
    await ep.join(sb);
  } catch (e) {
    await ep.delete().catch(() => {});
    throw e;
  }
}

/**
 * What dockerd refuses of an endpoint's settings before it makes anything:
 * static addresses and aliases on the default bridge, a static address of
 * a family the network has no configured subnet of (a picked one may
 * change).
 */
function checkEndpointSettings(n: Network, o: EndpointCreateOptions): void {
  const errs: string[] = [];
  if (isBuiltin(n) && n.capabilities.legacyLinks) {
    if (o.ip !== undefined || o.ip6 !== undefined) errs.push('user specified IP address is supported on user defined networks only');
    if (o.aliases?.length) errs.push('network-scoped alias is supported only for containers in user defined networks');
  } else {
    const subnets = n.record.subnets ?? [];
    for (const [ip, v6] of [[o.ip, false], [o.ip6, true]] as const) {
      if (ip !== undefined && !subnets.some((s) => s.subnet.includes(':') === v6 && !s.picked)) {
        errs.push('user specified IP address is supported only when connecting to networks with user configured subnets');
      }
    }
  }
  if (errs.length) throw badInput(`invalid endpoint settings:\n${errs.join('\n')}`);
}

/** What dockerd refuses of a connect by the container's network mode (host, shared, none). */
function checkNetworkMode(ctl: Controller, n: Network, sb: Sandbox): void {
  const mode = sb.record.mode;
  if (n.capabilities.namespace === 'host' && mode !== 'host') throw badInput('cannot connect container to host network - container must be created in host network mode');
  if (mode === 'host' || mode === 'container') throw badInput('container sharing network namespace with another container or host cannot be connected to any other network');
  const on = sb.inspect().endpoints.map((e) => ctl.network(e.networkId));
  if (on.length && (n.capabilities.exclusive || on.some((x) => x.capabilities.exclusive))) {
    throw badInput('container cannot be connected to multiple networks with one of the networks in private (none) mode');
  }
}

/** `POST /networks/{id}/connect`: Container names one of our sandboxes. */
export async function connect(ctl: Controller, netRef: string, body: unknown): Promise<void> {
  const b = check(body, NETWORK_CONNECT, '') as { Container: string; EndpointConfig?: EndpointSettings | null };
  const n = networkOf(ctl, netRef);
  const sb = containerOf(ctl, b.Container);
  const o = endpointOptions(sb.name, b.EndpointConfig);
  if (n.endpoints().some((e) => e.record.sandboxId === sb.id)) throw forbidden(`endpoint with name ${sb.name} already exists in network ${n.name}`);
  checkNetworkMode(ctl, n, sb);
  checkEndpointSettings(n, o);
  await attach(n, sb, o);
}

/** `POST /networks/{id}/disconnect`; with Force, an endpoint whose sandbox is gone goes too. */
export async function disconnect(ctl: Controller, netRef: string, body: unknown): Promise<void> {
  const b = check(body, NETWORK_DISCONNECT, '') as { Container: string; Force?: boolean };
  const n = networkOf(ctl, netRef);
  let sb: Sandbox | undefined;
  try { sb = containerOf(ctl, b.Container); } catch (e: any) { if (!(b.Force && e.code === 'ENOENT')) throw e; }
  if (sb?.record.mode === 'host' && n.capabilities.namespace === 'host') throw badInput('cannot disconnect container from host network - container was created in host network mode');
  const ep = sb ? n.endpoints().find((e) => e.record.sandboxId === sb!.id) : n.endpoints().find((e) => e.name === b.Container);
  if (!ep) throw notFound(`container ${b.Container} is not connected to network ${n.name}`);
  await ep.delete();
}

// ------------------------------------------------------------ sandboxes

/**
 * A sandbox as our API shows it: the library's inspect plus the namespace to
 * enter, and with links the environment Docker would give its program
 * (while every target is on the default bridge).
 */
export function sandboxView(sb: Sandbox): any {
  const view: any = { ...sb.inspect(), key: sb.key ?? null };
  if (view.links?.length) {
    try { view.linkEnv = sb.linkEnv(); } catch (e: any) { if (e.code !== 'EINVAL') throw e; }
  }
  return view;
}

export function listSandboxes(ctl: Controller): any[] {
  return ctl.sandboxes().map(sandboxView);
}

export function inspectSandbox(ctl: Controller, ref: string): any {
  return sandboxView(ctl.sandbox(ref));
}

/** `POST /cnm/sandboxes`: the sandbox and, with a NetworkMode, its endpoint there; all or nothing. */
export async function createSandbox(ctl: Controller, body: unknown): Promise<any> {
  const plan = sandboxPlan(body);
  // Docker answers a missing link target with 400 (a 404 reads as a missing image to its client).
  for (const l of plan.sandbox.links ?? []) {
    const target = l.split(':')[0];
    try { ctl.sandbox(target); } catch (e: any) { if (e.code === 'ENOENT') throw badInput(`could not get container for ${target}: no such sandbox`); throw e; }
  }
  const n = plan.network !== undefined ? networkOf(ctl, plan.network) : undefined;
  if (n && plan.endpoint) checkEndpointSettings(n, plan.endpoint);
  // A network whose driver joins only the host's namespace makes a host-mode sandbox.
  if (n?.capabilities.namespace === 'host') {
    if (plan.sandbox.key !== undefined) throw badInput('Key and the host network are exclusive');
    plan.sandbox.host = true;
  }
  const sb = await ctl.createSandbox(plan.sandbox);
  if (n) {
    try {
      await attach(n, sb, plan.endpoint!);
    } catch (e) {
      await sb.delete().catch(() => {});
      throw e;
    }
  }
  return sandboxView(sb);
}

/** `DELETE /cnm/sandboxes/{id}`: leaves every network, removes the endpoints and the namespace. */
export async function removeSandbox(ctl: Controller, ref: string): Promise<void> {
  const sb = ctl.sandbox(ref);
  const eps: string[] = sb.inspect().endpoints.map((e: { id: string }) => e.id);
  await sb.delete();
  for (const id of eps) await ctl.endpoints().find((e) => e.id === id)?.delete();
}

/**
 * Docker's NetworkSettings.Ports shape for a sandbox (what `docker port`
 * prints from), from the library's `sandbox.ports()`; `filter` ("80/tcp")
 * as `docker port SANDBOX 80/tcp`.
 */
export function sandboxPorts(ctl: Controller, ref: string, filter?: string): Record<string, { HostIp: string; HostPort: string }[]> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const [k, list] of Object.entries(ctl.sandbox(ref).ports(filter))) out[k] = list.map((b) => ({ HostIp: b.hostIp, HostPort: String(b.hostPort) }));
  return out;
}
