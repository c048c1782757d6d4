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
  private chain: Promise<void> = Promise.resolve();
  private onEp = (e: EndpointEvent) => {
    if (e.endpoint.network !== this.network || e.endpoint.host === this.store.hostId) return;
    const p = peerOf(e.endpoint);
    this.enqueue(() => (e.type === 'add' ? this.dp.addPeer(p) : this.dp.removePeer(p)));
  };
  private onResync = () => {
    this.enqueue(async () => {
      await this.dp.resync(this.store.peers(this.network).map(peerOf));
    });
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
  idle(): Promise<void> {
    return this.chain;
  }

  // One queue: updates reach the kernel in the order etcd reported them
  // (an endpoint removed and re-added must not end up removed). Each is a
  // few netlink requests, and the connection pipelines them.
  private enqueue(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).then(
      () => {
        this.applied++;
      },
      (e) => {
        // The queue goes on either way; an unheard error must not stop it.
        if (this.listenerCount('error')) this.emit('error', e);
      },
    );
  }
}
