// A sandbox: one network namespace and its configuration, like the runtime's
// part of `docker run`. It owns its verbs: deleting itself, opening its
// namespace, inspecting it.
import * as path from 'path';
import { Netns, netnsHeldElsewhere, netnsRunDir } from '../netns';
import { Rtnl } from '../rtnl';
import { NETNS_PREFIX, now, type CnmContext } from './context';
import { leaveLocked } from './endpoint';
import { busy, exists, invalid, invalidType, notFound } from './errors';
import { checkDnsOptions, checkDnsSearch, checkDnsServers, checkExtraHosts, HOST_GATEWAY } from './resolv-conf';
import { freshResolverSetup } from './names';
import { dropLinksTo, linkEnv, parseLinks } from './links';
import { publishedPorts, type PublishedPorts } from './ports';
import { ensureHostGateway, removeOwnEtcNetns, removeSandboxFiles, writeNamespaceFiles, writeNewSandboxFiles } from './sandbox-files';
import type { EndpointRecord, NetworkRecord, SandboxCreateOptions, SandboxRecord } from './types';
import { checkFields, isPlainObject, snapshot } from './validate';

const ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-.]{0,61}[a-zA-Z0-9])?$/;
const CREATE_FIELDS = {
  id: 'string', name: 'string', hostname: 'string', key: 'any', joinSandbox: 'any', host: 'boolean',
  dns: 'any', dnsSearch: 'any', dnsOptions: 'any', extraHosts: 'any', links: 'any',
} as const;
const DNS_FIELDS = ['dns', 'dnsSearch', 'dnsOptions', 'extraHosts'] as const;
const given = <T>(list: T[] | undefined): T[] | undefined => (list?.length ? list : undefined);

/** A sandbox as `cnm sandbox inspect` shows it: its record and its endpoints. */
export interface SandboxInspect extends SandboxRecord {
  endpoints: (EndpointRecord & { network?: string })[];
}

/** The namespace a key names: a path, or a pid (a number or { pid }), like a runtime's SetKey. */
function keyTarget(key: unknown): { path: string } | { pid: number } {
  if (typeof key === 'string') return { path: key };
  if (isPlainObject(key)) checkFields(key, 'sandbox options.key', { pid: 'integer' });
  const pid = typeof key === 'number' ? key : isPlainObject(key) ? key.pid : undefined;
  if (typeof pid === 'number' && Number.isInteger(pid) && pid > 0) return { pid };
  throw invalid(`invalid sandbox key: ${JSON.stringify(key)} (a namespace path or a pid)`);
}

export async function createSandbox(ctx: CnmContext, o: SandboxCreateOptions): Promise<SandboxRecord> {
  o = snapshot(o);
  checkFields(o, 'sandbox options', CREATE_FIELDS);
  if (typeof o.id !== 'string') throw invalidType('sandbox options.id', 'a string', o.id);
  if (!ID.test(o.id)) throw invalid(`invalid sandbox id: ${JSON.stringify(o.id)}`);
  const name = o.name ?? o.id;
  if (!ID.test(name)) throw invalid(`invalid sandbox name: ${JSON.stringify(name)}`);
  if (o.hostname !== undefined && !HOSTNAME.test(o.hostname)) throw invalid(`invalid hostname: ${JSON.stringify(o.hostname)}`);
  const modes = [o.key !== undefined, o.joinSandbox !== undefined, !!o.host].filter(Boolean).length;
  if (modes > 1) throw invalid('key, joinSandbox and host are exclusive');
  // The id and name may not be another sandbox's id or name (a prefix of an id is fine).
  const taken = (x: string) => !!ctx.store.get('sandbox', x) || ctx.store.by('sandbox', 'name', x).length > 0;
  if (taken(o.id) || taken(name)) throw exists('sandbox', o.id);
  // As Docker's conflicting-options errors: links need a namespace of the sandbox's own.
  if (o.links !== undefined && (o.host || o.joinSandbox !== undefined)) {
    throw invalid(`sandbox options.links cannot be used with ${o.host ? 'host' : 'joinSandbox (container)'} networking`);
  }
  const links = parseLinks(ctx, o.links, { id: o.id, name });
  const dir = path.join(ctx.runDir, 'sandboxes', o.id);
  const rec: SandboxRecord = {
    id: o.id, name, hostname: o.hostname ?? (o.id.length > 12 ? o.id.slice(0, 12) : o.id), mode: 'own', created: now(),
    hostsPath: path.join(dir, 'hosts'), resolvConfPath: path.join(dir, 'resolv.conf'), pending: true,
    // An empty list is not given, as Docker takes `"Dns": []`: the host's servers, search and options then.
    // (Checked whenever present: '' or 0 is a wrong type, not an absent list.)
    dns: given(o.dns !== undefined ? checkDnsServers(o.dns) : undefined), dnsSearch: given(o.dnsSearch !== undefined ? checkDnsSearch(o.dnsSearch) : undefined),
    dnsOptions: given(o.dnsOptions !== undefined ? checkDnsOptions(o.dnsOptions) : undefined), extraHosts: o.extraHosts !== undefined ? checkExtraHosts(o.extraHosts) : undefined,
    links,
  };
  if (o.host) rec.mode = 'host';
  else if (o.joinSandbox !== undefined) {
    // The owner's files are shared, as Docker refuses --dns and friends with --network container:X.
    const set = DNS_FIELDS.filter((k) => o[k] !== undefined && !(Array.isArray(o[k]) && !o[k]!.length));
    if (set.length) throw invalid(`${set.join(', ')} cannot be set on a sandbox sharing another's namespace (joinSandbox): set them on that one`);
    const ref = typeof o.joinSandbox === 'string' ? o.joinSandbox : isPlainObject(o.joinSandbox) ? o.joinSandbox.id : undefined;
    if (typeof ref !== 'string') throw invalidType('sandbox options.joinSandbox', 'a Sandbox or a sandbox id', o.joinSandbox);
    const other = ctx.sandbox(ref);
    rec.mode = 'container';
    rec.joinedTo = other.mode === 'container' ? other.joinedTo : other.id;
  } else if (o.key !== undefined) {
    rec.mode = 'adopted';
    const target = keyTarget(o.key);
    const ns = await Netns.open(target);
    try {
      // Joins there would change the host's own interfaces and routes.
      const host = Netns.current();
      const same = ns.equals(host);
      host.close();
      if (same) throw invalid(`sandbox key ${JSON.stringify(o.key)} is the host's network namespace: use { host: true }`);
    } finally {
      ns.close();
    }
    rec.netnsPath = 'path' in target ? target.path : `/proc/${target.pid}/ns/net`;
  } else {
    // The whole id: ids are unique, so names are (a cut id could collide).
    rec.netnsName = `${NETNS_PREFIX}${o.id}`;
    rec.netnsPath = path.join(netnsRunDir(), rec.netnsName);
  }
  if (rec.extraHosts?.some((h) => h.ip === HOST_GATEWAY)) await ensureHostGateway(ctx);
  // Under the namespace's lock, as joins and deletions of it: a delete
  // asked for meanwhile waits for this to finish (or to fail and undo).
  await ctx.locks.run(ctx.nsLockKey(rec), async () => {
    // Again: another create of this id may have gone first, and what it
    // refers to may have been deleted while it waited (the owner's delete
    // held this lock; a link target's went on beside it).
    if (taken(rec.id) || taken(rec.name)) throw exists('sandbox', rec.id);
    if (rec.joinedTo && !ctx.store.get('sandbox', rec.joinedTo)) throw notFound('sandbox', rec.joinedTo);
    for (const l of rec.links ?? []) if (!ctx.store.get('sandbox', l.target)) throw notFound('link target sandbox', l.target);
    // Recorded as pending first (durability is not awaited: a crash before
    // it lands leaves a tagged namespace that reconcile removes).
    void ctx.store.put('sandbox', rec.id, { ...rec }).catch(() => {});
    let made = false;
    // The files do not depend on the namespace: written while it is made.
    const files = writeNewSandboxFiles(ctx, { ...rec, pending: undefined }).then(() => undefined, (e: unknown) => e);
    try {
      if (rec.mode === 'own') {
        // The creating thread brings lo up and makes the rtnetlink socket the
        // join will use. (No sysctls: every /proc/sys/net lookup walks a
        // dentry chain as long as the number of namespaces.)
        // And the resolver's sockets at 127.0.0.11, for a first join to a network with names.
        const ns = await Netns.create(rec.netnsName, { loUp: true, rtnlSocket: true, ...(ctx.opts.dns === false ? {} : freshResolverSetup()) });
        made = true;
        ctx.fresh.keep(rec.id, ns);
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
      const failed = await files;
      if (failed) throw failed;
      await ctx.store.put('sandbox', rec.id, rec);
    } catch (e) {
      await files;
      ctx.fresh.drop(rec.id);
      // Only what this call made: an existing namespace of that name (EEXIST) is someone else's.
      if (made) await Netns.delete(rec.netnsName!).catch(() => {});
      removeSandboxFiles(ctx, rec, made || rec.mode !== 'own');
      // Its /etc/netns link, made beside the namespace, goes if it is ours.
      if (!made && rec.mode === 'own') removeOwnEtcNetns(ctx, rec);
      await ctx.store.del('sandbox', rec.id);
      throw e;
    }
  });
  return rec;
}

/** Leaves every network, then removes the namespace (for own sandboxes). */
export async function deleteSandbox(ctx: CnmContext, id: string): Promise<void> {
  const first = ctx.sandbox(id);
  await ctx.locks.run(ctx.nsLockKey(first), async () => {
    // As it is now: a create of it still in flight went first (and may have failed).
    const sb = ctx.store.get<SandboxRecord>('sandbox', first.id);
    if (!sb) throw notFound('sandbox', id);
    const dependents = ctx.store.by<SandboxRecord>('sandbox', 'joinedTo', sb.id);
    if (dependents.length) throw busy(`sandbox ${sb.id} is shared by ${dependents.map((d) => d.id).join(', ')}`);
    ctx.fresh.drop(sb.id);
    ctx.announcer.stop(sb.id);
    const eps = ctx.store.by<EndpointRecord>('endpoint', 'sandbox', sb.id);
    // The namespace going away takes the interfaces with it: only the
    // firewall and the records need work per endpoint. Unless something else
    // keeps it (a daemon the program left, a handle, a mount): then the
    // namespace lives on, and so would its veths, on the bridge with an
    // address handed out again; they are removed explicitly.
    const quick = sb.mode === 'own' && eps.length > 0 && !(await netnsHeldElsewhere(sb.netnsPath!));
    // Then the namespace goes at once, beside the leaves (its unmount waits
    // for an RCU grace period); else after them, which remove the veths.
    const unpin = () => Netns.delete(sb.netnsName!).catch((e) => { if (e.code !== 'ENOENT') throw e; });
    const gone = quick ? unpin() : undefined;
    gone?.catch(() => {});  // awaited below; observed here in case a leave fails first
    for (const ep of eps) await leaveLocked(ctx, ep.id, { skipKernel: quick });
    // The namespace's resolver goes with its owner; a member leaving changes what it answers.
    if (sb.mode === 'container') await ctx.names.refresh(ctx.rootOf(sb)).catch(() => {});
    else await ctx.names.stop(sb).catch(() => {});
    if (sb.mode === 'own') await (gone ?? unpin());
    removeSandboxFiles(ctx, sb);
    await ctx.store.del('sandbox', sb.id);
  });
  // Its parents' links to it go (their hosts lines went with its leave).
  for (const p of await dropLinksTo(ctx, first.id)) writeNamespaceFiles(ctx, p);
}

export class Sandbox {
  constructor(private ctx: CnmContext, readonly id: string) {}
  get record(): SandboxRecord { return { ...this.ctx.sandbox(this.id) }; }
  get name(): string { return this.record.name; }
  /** Path of the namespace (bind-mount or /proc path); undefined for host mode. */
  get key(): string | undefined { return this.ctx.rootOf(this.ctx.sandbox(this.id)).netnsPath; }
  get hostsPath(): string { return this.record.hostsPath; }
  get resolvConfPath(): string { return this.record.resolvConfPath; }
  /** Opens the sandbox's namespace (close it when done). */
  netns(): Promise<Netns> { return this.ctx.sandboxNetns(this.ctx.sandbox(this.id)); }
  inspect(): SandboxInspect {
    const sb = this.ctx.sandbox(this.id);
    return {
      ...sb,
      endpoints: this.ctx.store.by<EndpointRecord>('endpoint', 'sandbox', sb.id).map((e) => ({ ...e, network: this.ctx.store.get<NetworkRecord>('network', e.networkId)?.name })),
    };
  }
  /**
   * The published ports of every endpoint of the sandbox, as `docker port
   * SANDBOX [PORT]` (see Endpoint.ports).
   */
  ports(filter?: string): PublishedPorts {
    const sb = this.ctx.sandbox(this.id);
    const bindings = this.ctx.store.by<EndpointRecord>('endpoint', 'sandbox', sb.id).flatMap((e) => e.ports);
    return publishedPorts(bindings, `sandbox ${sb.name}`, filter);
  }

  /**
   * The environment variables Docker sets for the sandbox's links
   * (WEBDB_PORT_5432_TCP_ADDR and the rest), for a runtime to give the
   * program: empty off the default bridge; EINVAL when a target is not there.
   */
  linkEnv(): Record<string, string> { return linkEnv(this.ctx, this.ctx.sandbox(this.id)); }
  delete(): Promise<void> { return this.ctx.gate.run(() => deleteSandbox(this.ctx, this.id)); }
}
