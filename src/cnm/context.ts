// What every part of the CNM layer shares: the state, the kernel handles,
// the allocators and the services, handed to drivers and objects alike (as
// netavark hands its drivers a DriverInfo).
import * as crypto from 'crypto';
import { Netns } from '../netns';
import type { Rtnl } from '../rtnl';
import type { Announcer } from './announce';
import type { ClusterService } from './cluster/service';
import type { ControllerOptions } from './controller';
import type { Driver } from './driver';
import { driverFor } from './drivers';
import { CnmObjectError, invalidType, notFound } from './errors';
import type { Firewall } from './firewall';
import type { FreshNetns } from './fresh-netns';
import { isReaperGroup, type LinkReaper } from './link-reaper';
import type { KeyedLock, OpGate } from './locks';
import { NetAlloc } from './net-alloc';
import type { NameService } from './names';
import type { PortReservations } from './port-reservation';
import type { PortAllocator } from './ports';
import type { IndexSpec, Store } from './store';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from './types';

/** IFLA_GROUP of every link we create: our links can always be found. */
export const CNM_LINK_GROUP = 0xc17;
/** Prefix of IFLA_IFALIAS on our links: `cnm-netlink:<endpoint or network id>`. */
export const ALIAS_PREFIX = 'cnm-netlink:';
/** Prefix of the namespaces we name (`cnm-<sandbox id>`). */
export const NETNS_PREFIX = 'cnm-';

/** Lookups the hot paths make, kept O(1) at thousands of records. */
export const STORE_INDEXES: IndexSpec = {
  sandbox: { name: (s: SandboxRecord) => s.name, joinedTo: (s: SandboxRecord) => s.joinedTo, linking: (s: SandboxRecord) => (s.links?.length ? 'yes' : undefined) },
  endpoint: {
    sandbox: (e: EndpointRecord) => e.sandboxId,
    network: (e: EndpointRecord) => e.networkId,
    networkName: (e: EndpointRecord) => `${e.networkId}/${e.name}`,
    name: (e: EndpointRecord) => e.name,
    hostIfname: (e: EndpointRecord) => e.hostIfname,
  },
};

/** A 64-hex-digit id, like Docker's (random bytes drawn in bulk: one syscall per 128 ids). */
export function newId(): string {
  if (idPool.length - idAt < 32) { idPool = crypto.randomBytes(32 * 128); idAt = 0; }
  idAt += 32;
  return idPool.toString('hex', idAt - 32, idAt);
}
let idPool = Buffer.alloc(0);
let idAt = 0;
export const now = (): string => new Date().toISOString();

/** A network's subnets: addresses handed out, gateways. */
export { NetAlloc };

/** Whether a link is ours: tagged by group or alias, or in a reaper's batch group (a removal cut short). */
export const isOurLink = (l: { alias?: string; group: number }): boolean =>
  l.group === CNM_LINK_GROUP || isReaperGroup(l.group) || !!l.alias?.startsWith(ALIAS_PREFIX);

export interface CnmServices {
  store: Store;
  rt: Rtnl;
  fw: Firewall;
  opts: ControllerOptions;
  runDir: string;
  locks: KeyedLock;
  /** Public operations pass through it; a reconcile of the running controller runs alone. */
  gate: OpGate;
  ports: PortAllocator;
  reservations: PortReservations;
  fresh: FreshNetns;
  /** Removes host links; removals asked for together go as one group deletion. */
  reaper: LinkReaper;
  announcer: Announcer;
  names: NameService;
  /** The cluster store (Controller.open({ cluster })); absent: everything is local. */
  cluster?: ClusterService;
}

/** Longer than a namespace's cleanup takes the kernel (about a second for 1,000). */
export const LEFT_TO_NAMESPACE_MS = 60000;

export class CnmContext implements CnmServices {
  store!: Store;
  rt!: Rtnl;
  fw!: Firewall;
  opts!: ControllerOptions;
  runDir!: string;
  locks!: KeyedLock;
  gate!: OpGate;
  ports!: PortAllocator;
  reservations!: PortReservations;
  fresh!: FreshNetns;
  reaper!: LinkReaper;
  announcer!: Announcer;
  names!: NameService;
  cluster?: ClusterService;
  /** Each network's subnets. */
  readonly ipam: Map<string, NetAlloc>;
  /** Networks being deleted: no new endpoints. */
  readonly deleting = new Set<string>();
  /**
   * Host ends left to their namespace's death (a sandbox deleted first), by
   * name, with when: the kernel removes them within seconds, so a reconcile
   * meanwhile does not take them for leftovers.
   */
  readonly leftToNamespace = new Map<string, number>();

  leaveToNamespace(ifname: string): void {
    const now = Date.now();
    if (this.leftToNamespace.size >= 4096) for (const [k, t] of this.leftToNamespace) if (now - t > LEFT_TO_NAMESPACE_MS) this.leftToNamespace.delete(k);
    this.leftToNamespace.set(ifname, now);
  }
  closed = false;
  /** This host's id (Docker's engine id): its IPv6 ULA /48 comes from it. Made at the first open, kept in the state. */
  hostId = '';

  constructor(s: CnmServices) {
    Object.assign(this, s);
    this.ipam = new Map();
  }

  /** A network's subnets as recorded (the addresses in use come from its endpoints). */
  loadIpam(n: NetworkRecord): void {
    this.ipam.set(n.id, NetAlloc.fromStates(n.subnets ?? []));
  }

  driverOf(n: NetworkRecord): Driver { return driverFor(n.driver); }

  // ------------------------------------------------------------ lookups

  /**
   * By id, then name, then a unique id prefix, as Docker resolves them: any
   * prefix of a network's id (ENOTUNIQ when several networks have it), 6+
   * characters of a sandbox's (its id is the caller's, not random hex).
   */
  lookup<T extends { id: string; name: string }>(kind: 'network' | 'sandbox', ref: string): T | undefined {
    if (typeof ref !== 'string') throw invalidType(`${kind} reference`, 'a string (an id or a name)', ref);
    const direct = this.store.get<T>(kind, ref);
    if (direct) return direct;
    const byName = kind === 'sandbox' ? this.store.by<T>(kind, 'name', ref)[0] : this.store.all<T>(kind).find((x) => x.name === ref);
    if (byName || ref.length < (kind === 'network' ? 1 : 6)) return byName;
    const m = this.store.all<T>(kind).filter((x) => x.id.startsWith(ref));
    if (m.length > 1 && kind === 'network') throw new CnmObjectError(`network ${ref} is ambiguous (${m.length} matches found based on ID prefix)`, 'ENOTUNIQ');
    return m.length === 1 ? m[0] : undefined;
  }

  findNetwork(ref: string): NetworkRecord | undefined { return this.lookup<NetworkRecord>('network', ref); }

  /** Also ENOTUNIQ for a name two networks have (a global network mirrored beside a local one of its name), as Docker's "network X is ambiguous". */
  network(ref: string): NetworkRecord {
    const n = this.findNetwork(ref);
    if (!n) throw notFound('network', ref);
    if (n.id !== ref && n.name === ref) {
      const same = this.store.all<NetworkRecord>('network').filter((x) => x.name === ref);
      if (same.length > 1) {
        throw new CnmObjectError(`network "${ref}" is ambiguous (${same.length} matches found based on name): use its id (${same.map((x) => `${x.id.slice(0, 12)} ${x.scope ?? 'local'}`).join(', ')})`, 'ENOTUNIQ');
      }
    }
    return n;
  }

  findSandbox(ref: string): SandboxRecord | undefined { return this.lookup<SandboxRecord>('sandbox', ref); }

  sandbox(ref: string): SandboxRecord {
    const s = this.findSandbox(ref);
    if (!s) throw notFound('sandbox', ref);
    return s;
  }

  /** By id, then name; ENOTUNIQ for a name endpoints on several networks have (a sandbox's, as Docker names them). */
  findEndpoint(ref: string): EndpointRecord | undefined {
    if (typeof ref !== 'string') throw invalidType('endpoint reference', 'a string (an id or a name)', ref);
    const direct = this.store.get<EndpointRecord>('endpoint', ref);
    if (direct) return direct;
    const byName = this.store.by<EndpointRecord>('endpoint', 'name', ref);
    if (byName.length > 1) {
      const nets = byName.map((e) => `${this.store.get<NetworkRecord>('network', e.networkId)?.name ?? e.networkId} (${e.id.slice(0, 12)})`);
      throw new CnmObjectError(`endpoint "${ref}" is ambiguous (${byName.length} matches found based on name, on networks ${nets.join(', ')}): use its id`, 'ENOTUNIQ');
    }
    return byName[0];
  }

  endpoint(ref: string): EndpointRecord {
    const e = this.findEndpoint(ref);
    if (!e) throw notFound('endpoint', ref);
    return e;
  }

  // ------------------------------------------------------------ namespaces

  /** The sandbox that owns `sb`'s namespace (container mode shares its owner's). */
  rootOf(sb: SandboxRecord): SandboxRecord {
    return sb.mode === 'container' ? this.sandbox(sb.joinedTo!) : sb;
  }

  /** The lock of a namespace: joins, leaves and deletions in it take turns. */
  nsLockKey(sb: SandboxRecord): string {
    return `sandbox:${sb.mode === 'container' ? sb.joinedTo : sb.id}`;
  }

  /** Every sandbox sharing `sb`'s namespace, its owner first. */
  namespaceMembers(sb: SandboxRecord): SandboxRecord[] {
    const root = sb.mode === 'container' ? this.store.get<SandboxRecord>('sandbox', sb.joinedTo!) : sb;
    return root ? [root, ...this.store.by<SandboxRecord>('sandbox', 'joinedTo', root.id)] : [sb];
  }

  /** Endpoints in `sb`'s namespace (container mode shares it). */
  namespaceEndpoints(sb: SandboxRecord): EndpointRecord[] {
    return this.namespaceMembers(sb).flatMap((m) => this.store.by<EndpointRecord>('endpoint', 'sandbox', m.id));
  }

  /** Opens the namespace a sandbox lives in (its own, shared, adopted or the host's). */
  async sandboxNetns(sb: SandboxRecord): Promise<Netns> {
    const root = this.rootOf(sb);
    if (root.mode === 'host') return Netns.current();
    return Netns.open({ path: root.netnsPath! });
  }

  /** The just-made handle of a sandbox's namespace if still cached, else a new one. */
  async takeNetns(sb: SandboxRecord): Promise<{ ns: Netns; fresh: boolean }> {
    const ns = this.fresh.take(this.rootOf(sb).id);
    return ns ? { ns, fresh: true } : { ns: await this.sandboxNetns(sb), fresh: false };
  }
}

/** Waits for all (none is left running unobserved), then throws the first failure. */
export async function settled<T extends unknown[]>(ps: { [K in keyof T]: Promise<T[K]> | T[K] }): Promise<T> {
  const rs = await Promise.allSettled(ps as unknown as Promise<unknown>[]);
  const bad = rs.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (bad) throw bad.reason;
  return rs.map((r) => (r as PromiseFulfilledResult<unknown>).value) as T;
}

/** Runs undo steps newest first, ignoring their failures (the original error is what matters). */
export async function rollback(undo: (() => Promise<void>)[]): Promise<void> {
  for (const u of undo.reverse()) await u().catch(() => {});
}
