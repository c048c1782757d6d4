// Names, as Docker's embedded DNS gives them: each sandbox has its own
// resolver at 127.0.0.11 inside its namespace, answering for the names and
// aliases of every network the sandbox is on (also NAME.NETWORK, PTR for
// their addresses) and nothing else; other names go to the upstream
// servers, except from sandboxes whose networks are all internal
// (CVE-2024-29018). Its sockets are made inside the namespace, so no NAT
// rule is needed and nothing listens on a network's gateway.
import { Netns } from '../netns';
import * as crypto from 'crypto';
import { Nft } from '../nft';
import type { Transaction } from '../nft/transaction';
import { STORE_INDEXES } from './context';
import { DnsServer, embeddedUpstreams, hostNameservers, isDnsName, isLoopback, type Names } from './dns';
import { driverFor } from './drivers';
import { StateView, type Store } from './store';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from './types';

/** Where every sandbox's resolver listens, inside its namespace (Docker's address). */
export const RESOLVER_ADDRESS = '127.0.0.11';
const RESOLVER_PORT = 53;
/** The namespace's own nftables table redirecting port 53 to the resolver's ports. */
export const RESOLVER_TABLE = 'cnm-dns';

/**
 * Sockets for `Netns.create({ boundSockets })` (random ports: the redirect
 * brings port 53 to them): a new sandbox's resolver costs no second thread.
 */
export const RESOLVER_SOCKETS = [
  { family: 4 as const, type: 'udp' as const, address: RESOLVER_ADDRESS, port: 0 },
  { family: 4 as const, type: 'tcp' as const, address: RESOLVER_ADDRESS, port: 0 },
];

/** What a sandbox adds to the names of its endpoints: its name, hostname and short id (Docker's container name, hostname and ID alias). */
export function sandboxDnsNames(sb: SandboxRecord): string[] {
  return [...new Set([sb.name, sb.hostname, sb.id.length >= 12 ? sb.id.slice(0, 12) : undefined].filter((x): x is string => !!x))];
}

/** A lowercase query without its `.NETWORK` suffix, if it has that network's (Docker answers both forms). */
export function withoutNetwork(n: NetworkRecord, q: string): string {
  const suffix = `.${n.name.toLowerCase()}`;
  return q.endsWith(suffix) ? q.slice(0, -suffix.length) : q;
}

/** Addresses of a name on one network, from the state: a controller's, or a StateView's in another process. */
export function resolveInState(store: Store, networkId: string, name: string, type: 'A' | 'AAAA'): string[] | undefined {
  const net = store.get<NetworkRecord>('network', networkId);
  if (!net) return undefined;
  const q = withoutNetwork(net, name);
  const ips: string[] = [];
  let known = false;
  for (const ep of store.by<EndpointRecord>('endpoint', 'network', networkId)) {
    if (!ep.sandboxId) continue;
    const sb = store.get<SandboxRecord>('sandbox', ep.sandboxId);
    const names = [ep.name, ...ep.aliases, ...(sb ? sandboxDnsNames(sb) : [])].map((x) => x.toLowerCase());
    if (!names.includes(q)) continue;
    known = true;
    const ip = type === 'A' ? ep.ipv4 : ep.ipv6;
    if (ip) ips.push(ip);
  }
  return known ? ips : undefined;
}

/** Whether a network has embedded names: user-defined, of a driver that has names. */
export const hasNames = (n: NetworkRecord): boolean => n.dns && driverFor(n.driver).caps.names;

/** The sandbox owning a namespace, and its networks that have names. */
function namedNetworks(store: Store, rootId: string): { root?: SandboxRecord; nets: NetworkRecord[]; all: NetworkRecord[] } {
  const root = store.get<SandboxRecord>('sandbox', rootId);
  const members = root ? [root, ...store.by<SandboxRecord>('sandbox', 'joinedTo', root.id)] : [];
  const all = members.flatMap((m) => store.by<EndpointRecord>('endpoint', 'sandbox', m.id))
    .map((e) => store.get<NetworkRecord>('network', e.networkId)).filter((n): n is NetworkRecord => !!n);
  return { root, nets: all.filter(hasNames), all };
}

/**
 * A legacy link's alias on a user-defined network (Docker's endpoint alias
 * from `--link NAME:ALIAS`): the name it stands for, for the linking
 * sandbox's resolver only. `q` is lowercase, with or without `.NETWORK`.
 */
function linkedName(store: Store, root: SandboxRecord | undefined, n: NetworkRecord, q: string): string | undefined {
  if (!root?.links) return undefined;
  const bare = withoutNetwork(n, q);
  const l = root.links.find((x) => x.alias.toLowerCase() === bare);
  return l && (store.get<SandboxRecord>('sandbox', l.target)?.name ?? l.target).toLowerCase();
}

/** Names a driver knows beyond the local records (other hosts' endpoints, for the overlay). */
export type RemoteNames = (n: NetworkRecord) => Names | undefined;

/** What a namespace's resolver knows: the names on its networks (local and, through `remote`, other hosts'), and their addresses back to names. */
export function sandboxNames(store: () => Store, rootId: string, remote?: RemoteNames): Names {
  const merge = (out: string[] | undefined, more: string[] | undefined) => (more ? [...new Set([...(out ?? []), ...more])] : out);
  return {
    lookup: (name, type) => {
      const st = store();
      let out: string[] | undefined;
      const { root, nets } = namedNetworks(st, rootId);
      for (const n of nets) {
        // A link's alias stands for its target, on each network both are on.
        const target = linkedName(st, root, n, name.toLowerCase());
        if (target !== undefined) { out = merge(out, resolveInState(st, n.id, target, type)); continue; }
        out = merge(out, resolveInState(st, n.id, name.toLowerCase(), type));
        out = merge(out, remote?.(n)?.lookup(name, type));
      }
      return out;
    },
    reverse: (ip) => {
      const st = store();
      let out: string[] = [];
      for (const n of namedNetworks(st, rootId).nets) {
        for (const ep of st.by<EndpointRecord>('endpoint', 'network', n.id)) {
          if (!ep.sandboxId || (ep.ipv4 !== ip && ep.ipv6 !== ip)) continue;
          out.push(qualified(st.get<SandboxRecord>('sandbox', ep.sandboxId)?.name ?? ep.name, n.name));
        }
        out = merge(out, remote?.(n)?.reverse?.(ip)) ?? out;
      }
      return out.length ? out : undefined;
    },
  };
}

/**
 * Where a namespace's resolver forwards what it does not know: its `dns`
 * servers, the configured ones, or the host's; when all its networks are
 * internal, its own `dns` servers only (asked from inside it, so only
 * servers on its networks answer: CVE-2024-29018), else nowhere (REFUSED).
 */
export function sandboxUpstreams(store: Store, rootId: string, opts: { upstreamDns?: string[]; resolvConf?: string }): string[] | null {
  const { root, all } = namedNetworks(store, rootId);
  if (all.length && all.every((n) => n.internal)) return root?.dns ?? null;
  if (root?.dns) return root.dns;
  if (opts.upstreamDns) return opts.upstreamDns;
  const host = opts.resolvConf ? hostNameservers(opts.resolvConf) : [];
  return host.length ? host : embeddedUpstreams();
}

/**
 * Queries to 127.0.0.11:53 inside the namespace go to the resolver's own
 * ports (random, so a container may run its own server on port 53), as
 * Docker's DOCKER_OUTPUT chain does; replies are translated back by conntrack.
 */
export async function redirectToResolver(ns: Netns, ports: { udp?: number; tcp?: number }): Promise<void> {
  const nft = await Nft.open({ netns: ns, rcvbuf: 1 << 16 });
  try {
    await nft.transaction((tx) => redirectOps(tx, ports));
  } finally {
    nft.close();
  }
}

function redirectOps(tx: Transaction, ports: { udp?: number; tcp?: number }): void {
  const T = { family: 'ip' as const, table: RESOLVER_TABLE };
  tx.addTable({ family: 'ip', name: RESOLVER_TABLE });
  tx.addChain({ ...T, name: 'output', type: 'nat', hook: 'output', priority: -100, policy: 'accept' });
  tx.flushChain({ ...T, name: 'output' });
  for (const proto of ['udp', 'tcp'] as const) {
    const port = ports[proto];
    if (port === undefined) continue;
    tx.addRule({ ...T, chain: 'output', stmts: [
      { match: 'ip daddr', value: RESOLVER_ADDRESS }, { match: `${proto} dport`, value: RESOLVER_PORT },
      { nat: 'dnat', family: 'ip', addr: RESOLVER_ADDRESS, port },
    ] });
  }
}

/**
 * What a new namespace's creating thread does for its resolver: binds its
 * sockets and installs the redirect, so a first join only starts serving.
 * The ports are random, chosen once per process (each namespace is a
 * port space of its own, so they never clash; Docker picks them per
 * container), which makes the redirect the same bytes for every namespace.
 */
export function freshResolverSetup(): { boundSockets: typeof RESOLVER_SOCKETS; nftSocket: true; netfilterMessages: Buffer[] } {
  if (!fresh) {
    const port = 20000 + crypto.randomInt(40000);
    const sockets = RESOLVER_SOCKETS.map((s) => ({ ...s, port }));
    fresh = { boundSockets: sockets, nftSocket: true, netfilterMessages: Nft.encode((tx) => redirectOps(tx, { udp: port, tcp: port })) };
  }
  return fresh;
}
let fresh: ReturnType<typeof freshResolverSetup> | undefined;

/** Removes the redirect (a namespace that lives on without us: adopted). */
async function removeRedirect(ns: Netns): Promise<void> {
  const nft = await Nft.open({ netns: ns, rcvbuf: 1 << 16 });
  try {
    await nft.transaction((tx) => { tx.deleteTable({ family: 'ip', name: RESOLVER_TABLE }); }).catch(() => {});
  } finally {
    nft.close();
  }
}

/** Serves a resolver on sockets made inside the namespace (random ports on 127.0.0.11), redirected from port 53. */
async function serveIn(ns: Netns, names: Names, upstreams: string[] | null, root: SandboxRecord, openNetns: () => Promise<Netns>): Promise<DnsServer> {
  const made = ns.takeBoundSockets();
  const fds = made ?? RESOLVER_SOCKETS.map((s) => ns.socket(s.family, s.type, { address: s.address, port: s.port }));
  // Forwards leave from inside the sandbox, as Docker's do, except to the
  // host's own loopback servers (systemd-resolved's stub), which only the
  // host's namespace reaches; the sandbox's `dns` servers all from inside.
  const override = !!root.dns;
  const server = DnsServer.fromSockets({ udpFd: fds[0], tcpFd: fds[1] }, names, upstreams, {
    ndotsSet: ndotsSet(root),
    dialInside: (s) => override || !isLoopback(s),
    insideSocket: async (family, type) => {
      const inside = await openNetns();
      try { return inside.socket(family, type); } finally { inside.close(); }
    },
  });
  try {
    // A fresh namespace's thread installed the redirect for the sockets it
    // made (the TCP one listening): the server starts with the first query.
    const ready = !!(made && ns.netfilterApplied);
    await server.start({ whenAsked: ready });
    if (!ready) await redirectToResolver(ns, server.ports);
  } catch (e) {
    server.close();
    throw e;
  }
  return server;
}

/** NAME.NETWORK for a PTR answer, or NAME where the network's name makes it no DNS name (a label over 63 bytes). */
export const qualified = (name: string, network: string): string => (isDnsName(`${name}.${network}`) ? `${name}.${network}` : name);

/** Whether the sandbox's own options set ndots above 0 (Docker's NdotsSet; the ndots:0 Docker adds is not the user's). */
export function ndotsSet(root: SandboxRecord): boolean {
  return (root.dnsOptions ?? []).some((o) => /^ndots:(\d+)$/.test(o) && Number(o.slice(6)) > 0);
}

/** One resolver per sandbox namespace that is on a network with names. */
export class NameService {
  private servers = new Map<string, DnsServer>();
  private starting = new Map<string, Promise<void>>();

  constructor(private store: Store, private openNetns: (sb: SandboxRecord) => Promise<Netns>,
    private opts: { dns?: boolean; upstreamDns?: string[]; resolvConf?: string }, private remote?: RemoteNames) {}

  /** Names on a network: sandbox names, hostnames, aliases, id prefixes (and other hosts' endpoints, through the driver). */
  resolve(networkId: string, name: string, type: 'A' | 'AAAA'): string[] | undefined {
    const local = resolveInState(this.store, networkId, name, type);
    const n = this.store.get<NetworkRecord>('network', networkId);
    const more = n ? this.remote?.(n)?.lookup(name, type) : undefined;
    return more ? [...new Set([...(local ?? []), ...more])] : local;
  }

  /** Whether `rootId`'s namespace is on a network with names (so its resolv.conf names the resolver). */
  wanted(rootId: string): boolean {
    return namedNetworks(this.store, rootId).nets.length > 0;
  }

  /**
   * After a join or leave: a resolver runs in the namespace while it is on a
   * network with names, forwarding as its networks allow. `ns`: the
   * namespace, if the caller has it open (a fresh one brings the resolver's
   * sockets, made with it).
   */
  async refresh(root: SandboxRecord, ns?: Netns): Promise<void> {
    if (this.opts.dns === false || root.mode === 'host') return;
    if (!this.wanted(root.id)) { await this.stop(root); return; }
    const running = this.servers.get(root.id);
    if (running) { running.setUpstreams(this.upstreams(root.id)); return; }
    const inFlight = this.starting.get(root.id);
    if (inFlight) return inFlight;
    const start = this.start(root, ns).finally(() => this.starting.delete(root.id));
    this.starting.set(root.id, start);
    return start;
  }

  private upstreams(rootId: string): string[] | null {
    return sandboxUpstreams(this.store, rootId, this.opts);
  }

  private async start(root: SandboxRecord, given?: Netns): Promise<void> {
    const ns = given ?? await this.openNetns(root);
    try {
      this.servers.set(root.id, await serveIn(ns, sandboxNames(() => this.store, root.id, this.remote), this.upstreams(root.id), root, () => this.openNetns(root)));
    } catch (e) {
      // Another process serves this namespace (a `cnm run` answering from the state on disk).
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    } finally {
      if (!given) ns.close();
    }
  }

  /** Stops a namespace's resolver; an adopted namespace, which lives on, loses the redirect too. */
  async stop(root: SandboxRecord): Promise<void> {
    const s = this.servers.get(root.id);
    if (!s) return;
    s.close();
    this.servers.delete(root.id);
    if (root.mode !== 'adopted') return;
    const ns = await this.openNetns(root).catch(() => undefined);
    if (ns) try { await removeRedirect(ns); } finally { ns.close(); }
  }

  close(): void {
    for (const s of this.servers.values()) s.close();
    this.servers.clear();
  }
}

/**
 * Serves a sandbox's names from the state on disk, in a process that holds
 * no controller (a `cnm run` while its program runs). Undefined when the
 * sandbox is on no network with names.
 */
export async function serveSandboxNamesFromState(stateDir: string, sandboxRef: string, upstream?: string[]): Promise<DnsServer | undefined> {
  const view = new StateView(stateDir, STORE_INDEXES);
  const st = view.get();
  let sb: SandboxRecord | undefined = st.get<SandboxRecord>('sandbox', sandboxRef) ?? st.by<SandboxRecord>('sandbox', 'name', sandboxRef)[0];
  if (sb?.mode === 'container') sb = st.get<SandboxRecord>('sandbox', sb.joinedTo!) ?? undefined;
  if (!sb || sb.mode === 'host' || !sb.netnsPath || !namedNetworks(st, sb.id).nets.length) return undefined;
  const ns = await Netns.open({ path: sb.netnsPath });
  try {
    const path = sb.netnsPath;
    return await serveIn(ns, sandboxNames(() => view.get(), sb.id), sandboxUpstreams(st, sb.id, { upstreamDns: upstream }), sb, () => Netns.open({ path }));
  } finally {
    ns.close();
  }
}
