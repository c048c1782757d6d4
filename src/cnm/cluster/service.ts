// A controller's connection to its cluster (Controller.open({ cluster })):
// dockerd's --cluster-store and --cluster-advertise. The store is opened
// only when asked for; without it nothing here runs.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { Rtnl } from '../../rtnl';
import type { Link } from '../../rtnl/link';
import { findUnderlay } from '../drivers/overlay/datapath';
import { invalid, invalidType } from '../errors';
import { ClusterStore, parseStoreUrl } from './store';

export interface ClusterConfig {
  /** `etcd://HOST:PORT[,HOST:PORT...]` (dockerd's --cluster-store). */
  store: string;
  /** This host's underlay address, the VXLAN tunnel endpoint (dockerd's --cluster-advertise); must be an address of this host. */
  advertise: string;
  /** This host's id in the cluster (default: made once and kept in the state directory). */
  hostId?: string;
  /** Key prefix: one cluster per prefix (default /cnm-netlink/v1/). */
  prefix?: string;
  /** Host lease TTL, 1..10 s (default 10): how long a dead host's endpoints stay visible to the others. */
  leaseTtl?: number;
  /** Deadline of one etcd request (default 5000 ms). */
  requestTimeoutMs?: number;
}

const FIELDS: Record<keyof ClusterConfig, 'string' | 'number'> = {
  store: 'string', advertise: 'string', hostId: 'string', prefix: 'string', leaseTtl: 'number', requestTimeoutMs: 'number',
};

export class ClusterService {
  private constructor(readonly store: ClusterStore, readonly underlay: Link, readonly advertise: string) {}

  get hostId(): string { return this.store.hostId; }

  /** The options' shape and the store's URL (EINVAL, ERR_INVALID_ARG_TYPE), before anything connects. */
  static check(c: ClusterConfig): void {
    if (c === null || typeof c !== 'object' || Array.isArray(c)) throw invalidType('cluster', 'an object', c);
    for (const [k, v] of Object.entries(c)) {
      const want = Object.hasOwn(FIELDS, k) ? FIELDS[k as keyof ClusterConfig] : undefined;
      if (!want) throw invalid(`unknown cluster option ${JSON.stringify(k)} (${Object.keys(FIELDS).join(', ')})`);
      if (v !== undefined && typeof v !== want) throw invalidType(`cluster.${k}`, `a ${want}`, v);
    }
    if (c.store === undefined) throw invalid('cluster.store is required (etcd://HOST:PORT)');
    if (c.advertise === undefined) throw invalid('cluster.advertise is required (this host\'s underlay address)');
    parseStoreUrl(c.store);
  }

  /** Checks the options (EINVAL before any connection), then joins the cluster (ENOTCONN when etcd does not answer). */
  static async open(rt: Rtnl, stateDir: string, c: ClusterConfig): Promise<ClusterService> {
    ClusterService.check(c);
    const underlay = await findUnderlay(rt, c.advertise);
    const hostId = c.hostId ?? hostIdOf(stateDir);
    const store = await ClusterStore.connect({
      store: c.store, advertise: c.advertise, hostId,
      ...(c.prefix !== undefined ? { prefix: c.prefix } : {}),
      ...(c.leaseTtl !== undefined ? { leaseTtl: c.leaseTtl } : {}),
      ...(c.requestTimeoutMs !== undefined ? { requestTimeoutMs: c.requestTimeoutMs } : {}),
    });
    return new ClusterService(store, underlay, c.advertise);
  }

  /** `revoke`: peers forget this host's endpoints at once; else they go when the lease expires (a restart within the TTL keeps them). */
  close(o: { revoke: boolean }): Promise<void> { return this.store.close({ revoke: o.revoke }); }
}

/** One id per state directory, kept across restarts (a restart takes over its own host record). */
function hostIdOf(stateDir: string): string {
  const f = path.join(stateDir, 'cluster-host-id');
  try {
    const id = fs.readFileSync(f, 'utf8').trim();
    if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(id)) return id;
  } catch { /* first open */ }
  const id = crypto.randomBytes(8).toString('hex');
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(f, `${id}\n`);
  return id;
}
