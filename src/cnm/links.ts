// Legacy links (`docker run --link NAME:ALIAS`), as Docker keeps them: on
// the default bridge, the target's address under the alias, its name and
// hostname in the hosts file, the environment variables a runtime passes to
// the program (daemon/links), and with icc off the only pairs that may talk
// (the driver's applyLinks); on user-defined networks the alias resolves to
// the target through the sandbox's own resolver (names.ts).
import type { CnmContext } from './context';
import type { ActiveLink } from './driver';
import { invalid, invalidType, notFound } from './errors';
import { exposedPorts } from './ports';
import type { EndpointRecord, NetworkRecord, SandboxLink, SandboxRecord } from './types';

const ALIAS = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** Docker's default bridge (`bridge`): the built-in network of a driver with legacy links. */
export const isDefaultBridge = (ctx: CnmContext, n: NetworkRecord): boolean => !!n.builtin && !!ctx.driverOf(n).caps.legacyLinks;

export function defaultBridge(ctx: CnmContext): NetworkRecord | undefined {
  return ctx.store.all<NetworkRecord>('network').find((n) => isDefaultBridge(ctx, n));
}

/**
 * `links` of a sandbox being created, as Docker's ParseLink and
 * registerLinks check them: 'NAME' (alias NAME) or 'NAME:ALIAS', NAME an
 * existing sandbox other than this one; one sharing another's namespace
 * stands for its owner; none in the host's namespace.
 */
export function parseLinks(ctx: CnmContext, v: unknown, self: { id: string; name: string }): SandboxLink[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalidType('sandbox options.links', 'a list of strings', v);
  const out: SandboxLink[] = [];
  for (const s of v as string[]) {
    const parts = s.split(':');
    if (parts.length > 2 || parts.some((p) => p === '')) throw invalid(`sandbox options.links: bad format for links: ${JSON.stringify(s)} (NAME or NAME:ALIAS)`);
    const [ref, alias = parts[0]] = parts;
    if (!ALIAS.test(alias)) throw invalid(`sandbox options.links: invalid alias ${JSON.stringify(alias)} in ${JSON.stringify(s)}`);
    if (ref === self.id || ref === self.name) throw invalid(`sandbox options.links: ${JSON.stringify(s)}: a sandbox cannot link to itself`);
    const found = ctx.findSandbox(ref);
    if (!found) throw notFound('link target sandbox', ref);
    const target = ctx.rootOf(found);
    if (target.mode === 'host') throw invalid(`sandbox options.links: ${JSON.stringify(s)}: ${found.name} uses the host's network namespace (host networking cannot be used with links)`);
    if (out.some((l) => l.alias.toLowerCase() === alias.toLowerCase())) throw invalid(`sandbox options.links: alias ${JSON.stringify(alias)} given twice`);
    out.push({ target: target.id, alias });
  }
  return out.length ? out : undefined;
}

/** `sb`'s endpoint on network `n` (in its namespace), joined and complete. */
function joinedOn(ctx: CnmContext, sb: SandboxRecord, n: NetworkRecord): EndpointRecord | undefined {
  return ctx.namespaceEndpoints(sb).find((e) => e.networkId === n.id && !e.pending);
}

/** The links of `sb`'s namespace (its owner's: a sandbox sharing one has none of its own). */
function linksOf(ctx: CnmContext, sb: SandboxRecord): { owner: SandboxRecord; links: SandboxLink[] } {
  const owner = ctx.store.get<SandboxRecord>('sandbox', sb.joinedTo ?? sb.id) ?? sb;
  return { owner, links: owner.links ?? [] };
}

/** Sandboxes linking to `targetId` (Docker's parents). */
export function parentsOf(ctx: CnmContext, targetId: string): SandboxRecord[] {
  return ctx.store.by<SandboxRecord>('sandbox', 'linking', 'yes').filter((s) => s.links!.some((l) => l.target === targetId));
}

/**
 * Before `sb` joins `n`: on the default bridge every target must be there
 * already (Docker: "Cannot link to a non running container").
 */
export function checkLinksAtJoin(ctx: CnmContext, sb: SandboxRecord, n: NetworkRecord): void {
  if (!isDefaultBridge(ctx, n)) return;
  for (const l of linksOf(ctx, sb).links) {
    const t = ctx.store.get<SandboxRecord>('sandbox', l.target);
    if (!t || !joinedOn(ctx, t, n)) throw invalid(`cannot link to ${t?.name ?? l.target} as ${l.alias}: it is not on the ${n.name} network`);
  }
}

/** The hosts lines of `sb`'s links, as Docker writes them: `IP\tALIAS HOSTNAME NAME` (NAME left out when it is the alias). */
export function linkHosts(ctx: CnmContext, sb: SandboxRecord): string[] {
  const { links } = linksOf(ctx, sb);
  if (!links.length) return [];
  const n = defaultBridge(ctx);
  if (!n || !joinedOn(ctx, sb, n)) return [];
  const out: string[] = [];
  for (const l of links) {
    const t = ctx.store.get<SandboxRecord>('sandbox', l.target);
    const ep = t && joinedOn(ctx, t, n);
    // A target off the bridge has no address of its own: no line, until it is back.
    if (!t || !ep?.ipv4) continue;
    out.push(`${ep.ipv4}\t${[l.alias, t.hostname, ...(l.alias === t.name ? [] : [t.name])].join(' ')}`);
  }
  return out;
}

/**
 * The environment variables Docker sets for `sb`'s links (daemon/links'
 * ToEnv), for a runtime to pass to the program: ALIAS_NAME, ALIAS_PORT (the
 * first of the target's exposed ports, TCP ones first), ALIAS_PORT_P_PROTO
 * and its _ADDR, _PORT, _PROTO per port, _START/_END for runs of ports.
 * Empty when `sb` is not on the default bridge; EINVAL when a target is not.
 */
export function linkEnv(ctx: CnmContext, sb: SandboxRecord): Record<string, string> {
  const { owner, links } = linksOf(ctx, sb);
  const n = defaultBridge(ctx);
  if (!links.length || !n || !joinedOn(ctx, sb, n)) return {};
  const env: Record<string, string> = {};
  for (const l of links) {
    const t = ctx.store.get<SandboxRecord>('sandbox', l.target);
    const ep = t && joinedOn(ctx, t, n);
    if (!t || !ep?.ipv4) throw invalid(`cannot link to ${t?.name ?? l.target} as ${l.alias}: it is not on the ${n.name} network`);
    Object.assign(env, envOfLink(`/${owner.name}/${l.alias}`, ep.ipv4, exposedPorts(ep)));
  }
  return env;
}

type Port = { port: number; proto: string };

/** TCP first, then by protocol, then by number (Docker's withTCPPriority). */
const tcpFirst = (a: Port, b: Port): number =>
  a.proto === b.proto ? a.port - b.port : a.proto === 'tcp' ? -1 : b.proto === 'tcp' ? 1 : a.proto.localeCompare(b.proto);

/** One link's variables; `name` is /PARENT/ALIAS. */
export function envOfLink(name: string, ip: string, exposed: Port[]): Record<string, string> {
  const alias = name.slice(name.lastIndexOf('/') + 1).toUpperCase().replace(/-/g, '_');
  const ports = [...exposed].sort(tcpFirst);
  const env: Record<string, string> = {};
  let start: Port | undefined, end: Port | undefined;
  ports.forEach((p, i) => {
    if (i === 0) { start = end = p; env[`${alias}_PORT`] = `${p.proto}://${ip}:${p.port}`; }
    const prefix = `${alias}_PORT_${p.port}_${p.proto.toUpperCase()}`;
    env[prefix] = `${p.proto}://${ip}:${p.port}`;
    env[`${prefix}_ADDR`] = ip;
    env[`${prefix}_PORT`] = String(p.port);
    env[`${prefix}_PROTO`] = p.proto;
    // A run of consecutive ports of one protocol also gets its bounds.
    if (p.port === end!.port + 1 && p.proto === end!.proto) {
      end = p;
      if (i < ports.length - 1) return;
    }
    if (end !== start) {
      const r = `${alias}_PORT_${start!.port}_${start!.proto.toUpperCase()}`;
      env[`${r}_START`] = `${start!.proto}://${ip}:${start!.port}`;
      env[`${r}_PORT_START`] = String(start!.port);
      env[`${r}_END`] = `${end!.proto}://${ip}:${end!.port}`;
      env[`${r}_PORT_END`] = String(end!.port);
    }
    start = end = p;
  });
  env[`${alias}_NAME`] = name;
  return env;
}

/** The links in effect on `n`: parent and target both joined there. */
export function activeLinks(ctx: CnmContext, n: NetworkRecord): ActiveLink[] {
  const out: ActiveLink[] = [];
  for (const p of ctx.store.by<SandboxRecord>('sandbox', 'linking', 'yes')) {
    const parent = joinedOn(ctx, p, n);
    if (!parent) continue;
    for (const l of p.links!) {
      const t = ctx.store.get<SandboxRecord>('sandbox', l.target);
      const child = t && joinedOn(ctx, t, n);
      if (child) out.push({ parent, child, ports: exposedPorts(child) });
    }
  }
  return out;
}

/** After a join or leave on `n` (or a restart: `full`): the driver's packet path follows the links in effect. */
export async function syncLinks(ctx: CnmContext, n: NetworkRecord, o: { full?: boolean } = {}): Promise<void> {
  const driver = ctx.driverOf(n);
  if (!isDefaultBridge(ctx, n) || !driver.applyLinks) return;
  await ctx.locks.run(`links:${n.id}`, () => driver.applyLinks!(ctx, n, () => activeLinks(ctx, n), o));
}

/** Sandboxes whose hosts files name `sb` (its parents, when it comes or goes, as Docker's ParentUpdate). */
export function linkParentsToRewrite(ctx: CnmContext, sb: SandboxRecord, n: NetworkRecord): SandboxRecord[] {
  if (!isDefaultBridge(ctx, n)) return [];
  return parentsOf(ctx, ctx.rootOf(sb).id);
}

/**
 * A target going away leaves its parents' links (Docker drops it from the
 * link graph); their hosts lines went with its leave.
 */
export async function dropLinksTo(ctx: CnmContext, targetId: string): Promise<SandboxRecord[]> {
  const parents = parentsOf(ctx, targetId);
  for (const p of parents) {
    const links = p.links!.filter((l) => l.target !== targetId);
    p.links = links.length ? links : undefined;
    await ctx.store.put('sandbox', p.id, p);
  }
  return parents;
}
