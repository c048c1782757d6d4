// Keeps one network's peer table in the kernel equal to the cluster's view:
// Docker's overlay driver does the same from its KV watch (peerAdd/peerDelete).
// Endpoint events program or remove single peers; after the store has
// resynchronised (its watch broke and it listed again) the whole table is
// made equal to the store's list, so nothing missed while etcd was away stays.
import { EventEmitter } from 'events';
import type { ClusterEndpoint, EndpointEvent } from '../../cluster';
import { OverlayDatapath, OverlayPeer } from './datapath';

/** What PeerSync needs of the cluster store (ClusterStore has it). */
export interface PeerSource {
  readonly hostId: string;
  peers(network: string): ClusterEndpoint[];
  on(event: 'endpoint' | 'resync', fn: (e: EndpointEvent) => void): unknown;
  off(event: 'endpoint' | 'resync', fn: (e: EndpointEvent) => void): unknown;
}

export function peerOf(ep: ClusterEndpoint): OverlayPeer {
  return { ip: ep.ipv4, ...(ep.ipv6 ? { ipv6: ep.ipv6 } : {}), mac: ep.mac, vtep: ep.vtep };
}

export class PeerSync extends EventEmitter {
  /** Kernel updates applied (for tests and benchmarks). */
  applied = 0;
  // Updates of one MAC or one IP run in the order etcd reported them (an
  // endpoint removed and re-added must not end up removed; a new endpoint
  // on a freed address must not lose its neighbour entry to the old one's
  // removal); others run at once, pipelined on the netlink socket. A resync
  // waits for everything before it, and everything after waits for it.
  private chains = new Map<string, Promise<void>>();
  private barrier: Promise<void> = Promise.resolve();
  private onEp = (e: EndpointEvent) => {
    // An update changes names only (an endpoint's addresses, MAC and VTEP are fixed for its id).
    if (e.type === 'update' || e.endpoint.network !== this.network || e.endpoint.host === this.store.hostId) return;
    const p = peerOf(e.endpoint);
    this.enqueue([p.mac, p.ip.split('/')[0]], () => (e.type === 'add' ? this.dp.addPeer(p) : this.dp.removePeer(p)));
  };
  private onResync = () => {
    const before = Promise.all([this.barrier, ...this.chains.values()]);
    this.chains.clear();
    this.barrier = before.then(() => this.dp.resync(this.store.peers(this.network).map(peerOf))).then(this.ok, this.failed);
  };
  private ok = () => {
    this.applied++;
  };
  // The queue goes on either way; an unheard error must not stop it.
  private failed = (e: unknown) => {
    if (this.listenerCount('error')) this.emit('error', e);
  };

  constructor(private store: PeerSource, private dp: OverlayDatapath, readonly network: string) {
    super();
  }

  /** Programs the current peer set, then follows the store's events. */
  async start(): Promise<void> {
    this.store.on('endpoint', this.onEp);
    this.store.on('resync', this.onResync);
    this.onResync();
    await this.idle();
  }

  stop(): void {
    this.store.off('endpoint', this.onEp);
    this.store.off('resync', this.onResync);
  }

  /** Resolves when every queued kernel update is done. */
  async idle(): Promise<void> {
    await Promise.all([this.barrier, ...this.chains.values()]);
  }

  private enqueue(keys: string[], fn: () => Promise<void>): void {
    const prev = Promise.all(keys.map((k) => this.chains.get(k) ?? this.barrier));
    const p = prev.then(fn).then(this.ok, this.failed);
    for (const k of keys) this.chains.set(k, p);
    void p.then(() => {
      for (const k of keys) if (this.chains.get(k) === p) this.chains.delete(k);
    });
  }
}
