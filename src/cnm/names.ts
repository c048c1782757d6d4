// Names on networks (sandbox names, hostnames, endpoint names, aliases, id
// prefixes) and the embedded name servers that answer for them.
import { DnsServer, embeddedUpstreams } from './dns';
import { driverFor } from './drivers';
import { STORE_INDEXES, type NetAlloc } from './context';
import { StateView, type Store } from './store';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from './types';

/** Addresses of a name on a network, from the state: a controller's, or a StateView's in another process. */
export function resolveInState(store: Store, networkId: string, name: string, type: 'A' | 'AAAA'): string[] | undefined {
  const net = store.get<NetworkRecord>('network', networkId);
  if (!net) return undefined;
  const suffix = `.${net.name.toLowerCase()}`;
  const q = name.endsWith(suffix) ? name.slice(0, -suffix.length) : name;
  const ips: string[] = [];
  let known = false;
  for (const ep of store.by<EndpointRecord>('endpoint', 'network', networkId)) {
    if (!ep.sandboxId) continue;
    const sb = store.get<SandboxRecord>('sandbox', ep.sandboxId);
    const names = [ep.name, ...ep.aliases, sb?.name, sb?.hostname, sb && sb.id.length >= 12 ? sb.id.slice(0, 12) : undefined]
      .filter((x): x is string => !!x).map((x) => x.toLowerCase());
    if (!names.includes(q)) continue;
    known = true;
    const ip = type === 'A' ? ep.ipv4 : ep.ipv6;
    if (ip) ips.push(ip);
  }
  return known ? ips : undefined;
}

/** Whether a network has an embedded name server: user-defined, of a driver that has names. */
export const hasNames = (n: NetworkRecord): boolean => n.dns && driverFor(n.driver).caps.names;

/**
 * Where a network's name server forwards what it does not know: nowhere on
 * internal networks (it runs in the host's namespace, so forwarding would be
 * their way out, CVE-2024-29018), else the configured or the host's servers.
 */
export function upstreamsFor(n: NetworkRecord, configured?: string[]): string[] | null {
  return n.internal ? null : configured ?? embeddedUpstreams();
}

/** The name servers of a controller's networks, one per network on its gateway address. */
export class NameService {
  private servers = new Map<string, DnsServer>();

  constructor(private store: Store, private ipam: Map<string, NetAlloc>, private opts: { dns?: boolean; upstreamDns?: string[] }) {}

  resolve(networkId: string, name: string, type: 'A' | 'AAAA'): string[] | undefined {
    return resolveInState(this.store, networkId, name, type);
  }

  async start(n: NetworkRecord): Promise<void> {
    if (this.opts.dns === false || !hasNames(n) || this.servers.has(n.id)) return;
    const gw = this.ipam.get(n.id)?.v4?.gateway;
    if (!gw) return;
    const server = new DnsServer(gw, (name, type) => this.resolve(n.id, name, type), upstreamsFor(n, this.opts.upstreamDns));
    try {
      await server.start();
      this.servers.set(n.id, server);
    } catch (e) {
      // Another controller process serves it (EADDRINUSE) or the bridge is
      // not up yet (EADDRNOTAVAIL): names still resolve through that one.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' && code !== 'EADDRNOTAVAIL') throw e;
    }
  }

  stop(networkId: string): void {
    this.servers.get(networkId)?.close();
    this.servers.delete(networkId);
  }

  close(): void {
    for (const s of this.servers.values()) s.close();
    this.servers.clear();
  }
}

/**
 * Serves a network's names from the state on disk, in a process that holds no
 * controller (a `cnm run` while its program runs). Undefined for networks
 * without embedded DNS. Several such servers on one gateway answer alike.
 */
export async function serveNamesFromState(stateDir: string, networkRef: string, upstream?: string[]): Promise<DnsServer | undefined> {
  const view = new StateView(stateDir, STORE_INDEXES);
  const st = view.get();
  const n = st.get<NetworkRecord>('network', networkRef) ?? st.all<NetworkRecord>('network').find((x) => x.name === networkRef);
  const gw = n?.ipv4Subnet?.gateway;
  if (!n || !hasNames(n) || !gw) return undefined;
  const server = new DnsServer(gw, (name, type) => resolveInState(view.get(), n.id, name, type), upstreamsFor(n, upstream));
  await server.start();
  return server;
}
