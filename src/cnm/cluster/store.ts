// Cluster state of the overlay driver in etcd v3, as Docker's classic
// `--cluster-store=etcd://...` overlay kept it (libkv), but with etcd v3's
// transactions and leases instead of libkv's CAS loops and TTL refreshes.
//
// Key layout under `prefix` (default `/cnm-netlink/v1/`), values JSON:
//   hosts/<hostId>                 host record, under the host's lease
//   ipam/<netId>/<address>         one key per allocated address, under the
//                                  lease of the host whose endpoint holds it
//   state/net/<name>               global network (name, id, VNI, subnets)
//   state/ep/<netId>/<endpoint>    endpoint (host, VTEP, MAC, addresses,
//                                  aliases), under its host's lease
// Everything a peer must react to lives under `state/`, so one range read
// gives a consistent snapshot and one watch from the revision after it
// follows every change: a host that dies takes its endpoints and addresses
// with its lease, and everyone sees the deletes.
//
// A join is one transaction: compare that the network is the one we know,
// that the endpoint name and the address keys are free, and put all of them.
// Addresses are the lowest free one (as Docker's IPAM) for a lone join; in
// a burst, or after a lost race, a random free one, so hosts allocating at
// the same moment rarely collide.
import * as crypto from 'crypto';
import { EventEmitter } from 'events';
import * as net from 'net';
import type { Etcd3, Lease, Watcher, IKeyValue, ITxnRequest, IRequestOp, ICompare, ITxnResponse, IRangeResponse } from 'etcd3';

// etcd3 (gRPC) takes a quarter of a second to load: only a controller with a
// cluster pays it, not every `cnm` command.
type Etcd3Module = typeof import('etcd3');
type CockatielModule = typeof import('cockatiel');
let etcd3: Etcd3Module | undefined;
const loadEtcd3 = (): Etcd3Module => (etcd3 ??= require('etcd3') as Etcd3Module);
const loadCockatiel = (): CockatielModule => require('cockatiel') as CockatielModule;
import { CnmError, errnoOf } from '../../errors';
import { parsePrefix, prefixText, prefixSize, overlaps, toBig, fromBig, Prefix, pickSubnet, AddressPool } from '../ipam';
import { validateMac } from '../../util/ip';
import { Fifo } from '../../util/fifo';

/** Errors of the cluster store, with a Node-style `code` (and `errno`). */
export class ClusterError extends CnmError {
  constructor(message: string, code: string) {
    super(message, code, errnoOf(code));
  }
}
const err = (code: string, msg: string) => new ClusterError(msg, code);

export interface ClusterOptions {
  /** `etcd://HOST:PORT[,HOST:PORT...]`, like dockerd's --cluster-store. */
  store: string;
  /** This host's underlay address: the VXLAN tunnel endpoint peers send to (--cluster-advertise). */
  advertise: string;
  /** Unique per host; the host record's key. */
  hostId: string;
  /** Key prefix (one cluster per prefix); default `/cnm-netlink/v1/`. */
  prefix?: string;
  /** Host lease TTL in seconds, 1..10 (default 10): how long a dead host's endpoints stay visible. */
  leaseTtl?: number;
  /** Deadline of one etcd request in ms (default 5000): the bound for an etcd that accepts connections but does not answer; one that is down fails at once. */
  requestTimeoutMs?: number;
  /** Address pools for networks created without a subnet (default 10.0.0.0/8 in /24s, as swarm's). */
  pools?: AddressPool[];
}

export interface ClusterNetwork {
  id: string;
  name: string;
  vni: number;
  subnet: string;
  gateway: string;
  subnet6?: string;
  gateway6?: string;
  options: Record<string, string>;
  /** `docker network create --label`: the same on every host's copy. */
  labels?: Record<string, string>;
  /** Always 'global' (Docker's classic KV overlay). */
  scope: 'global';
  createdBy: string;
  created: string;
}

export interface ClusterEndpoint {
  id: string;
  name: string;
  network: string;
  networkId: string;
  host: string;
  /** The host's advertise address: where VXLAN packets for this endpoint go. */
  vtep: string;
  mac: string;
  /** "10.0.0.2/24" */
  ipv4: string;
  ipv6?: string;
  aliases: string[];
  /**
   * The names of the sandbox it is joined to, its name first (the PTR
   * answer), then hostname and short id, as a local sandbox's resolve;
   * absent while it is not joined (then it has no names, as a local one).
   */
  sandbox?: string[];
}

export type NetworkEvent = { type: 'add' | 'remove'; network: ClusterNetwork };
/** 'update': the same endpoint (same id, addresses, MAC, VTEP) with other names (joined, left). */
export type EndpointEvent = { type: 'add' | 'remove' | 'update'; endpoint: ClusterEndpoint };

export interface CreateNetworkOptions {
  name: string;
  subnet?: string;
  gateway?: string;
  subnet6?: string;
  gateway6?: string;
  /** A VNI (Docker's `com.docker.network.driver.overlay.vxlanid_list` option is read too). */
  vni?: number;
  options?: Record<string, string>;
  labels?: Record<string, string>;
  /** The network's id (default: random); a controller gives its own, so the network has one id on every host. */
  id?: string;
}

export interface CreateEndpointOptions {
  network: string;
  name: string;
  /** A static IPv4 address (without prefix), like `docker run --ip`. */
  ipv4?: string;
  ipv6?: string;
  /** Default: 02:42 + the IPv4 address, as Docker derives it. */
  mac?: string;
  aliases?: string[];
  /** Names of the sandbox it is joined to (see ClusterEndpoint.sandbox). */
  sandbox?: string[];
}

/** etcd requests made by this store (not lease keep-alives). */
export interface ClusterStats {
  requests: number;
  txns: number;
  ranges: number;
  /** Transactions whose compare failed (lost races). */
  conflicts: number;
  watchesCreated: number;
  resyncs: number;
}

export const VNI_MIN = 4096;
export const VNI_MAX = 0xffffff;
const OVERLAY_POOLS: AddressPool[] = [{ base: '10.0.0.0/8', size: 24 }];
const VXLANID_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';
const MAX_INFLIGHT = 64;
/** Endpoint updates in one transaction (etcd's --max-txn-ops is 128 by default). */
const UPDATE_BATCH = 64;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
/** Sandbox names and hostnames (RFC 1123 host names, up to 253 characters). */
const SANDBOX_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,252}$/;

/** Parses `etcd://h1:2379,h2:2379` into `http://h1:2379` hosts; EINVAL for anything else. */
export function parseStoreUrl(store: unknown): string[] {
  if (typeof store !== 'string') throw err('ERR_INVALID_ARG_TYPE', `cluster store must be a string, got ${typeof store}`);
  const m = /^etcd:\/\/([^/?#]+)\/?$/.exec(store);
  if (!m) throw err('EINVAL', `cluster store ${JSON.stringify(store)}: expected etcd://HOST:PORT[,HOST:PORT...]`);
  return m[1].split(',').map((hp) => {
    const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(hp);
    const v4 = /^([^:[\]]+):(\d+)$/.exec(hp);
    const [host, port] = v6 ? [v6[1], v6[2]] : v4 ? [v4[1], v4[2]] : [undefined, undefined];
    const p = Number(port);
    const hostOk = host !== undefined && (v6 ? net.isIPv6(host) : net.isIPv4(host) || /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62}))*$/.test(host));
    if (!hostOk || !/^\d{1,5}$/.test(port!) || p < 1 || p > 65535) {
      throw err('EINVAL', `cluster store ${JSON.stringify(store)}: bad HOST:PORT ${JSON.stringify(hp)}`);
    }
    return `http://${v6 ? `[${host}]` : host}:${p}`;
  });
}

const enc = (s: string) => Buffer.from(s);
const rangeEnd = (prefix: string) => {
  const b = Buffer.from(prefix);
  b[b.length - 1]++;
  return b;
};
const randomId = () => crypto.randomBytes(16).toString('hex');

interface Cached<T> { value: T; mod: string; create: string; lease: string }

/**
 * One host's view of the cluster. Events:
 * - 'network' {type: 'add'|'remove', network}, 'endpoint' {type, endpoint}:
 *   every change in etcd, whoever made it (this host's own included); an
 *   endpoint's 'update' is its sandbox names changing (joined, left);
 * - 'resync' {revision}: the caches were rebuilt from a listing (connect, or
 *   after a broken watch); a consumer may re-diff its own state then;
 * - 'status' {connected}: etcd reachable or not (requests and the watch);
 * - 'lease-lost' / 'lease-restored': the host lease expired and was replaced,
 *   its records put back; 'conflict' (endpoint): one could not be put back
 *   because its name or address was taken meanwhile.
 */
export class ClusterStore extends EventEmitter {
  readonly hostId: string;
  readonly advertise: string;
  readonly store: string;
  readonly prefix: string;
  readonly leaseTtl: number;
  readonly stats: ClusterStats = { requests: 0, txns: 0, ranges: 0, conflicts: 0, watchesCreated: 0, resyncs: 0 };
  /** Revision of the snapshot the caches follow. */
  revision = 0;

  private client: Etcd3;
  private timeoutMs: number;
  private pools: AddressPool[];
  private lease!: Lease;
  private leaseId = '0';
  private nets = new Map<string, Cached<ClusterNetwork>>(); // by name
  private eps = new Map<string, Cached<ClusterEndpoint>>(); // by key
  private own = new Map<string, ClusterEndpoint>(); // this host's, by key
  private pending = new Map<string, Set<string>>(); // netId -> addresses being claimed here
  private watcher: Watcher | null = null;
  private resyncing: Promise<void> | null = null;
  private closed = false;
  private connected = true;
  private cleanups = new Map<string, string>(); // key -> endpoint id whose creation outcome is unknown
  private regranting: Promise<void> | null = null;
  private inflight = 0;
  private waiting = new Fifo<() => void>();
  private updates: QueuedUpdate[] = []; // name updates waiting for the one transaction in flight
  private updating = false;

  private constructor(o: Required<Pick<ClusterOptions, 'hostId' | 'advertise' | 'store' | 'prefix' | 'leaseTtl'>>, hosts: string[], timeoutMs: number, pools: AddressPool[]) {
    super();
    this.hostId = o.hostId;
    this.advertise = o.advertise;
    this.store = o.store;
    this.prefix = o.prefix;
    this.leaseTtl = o.leaseTtl;
    this.timeoutMs = timeoutMs;
    this.pools = pools;
    const { Etcd3, isRecoverableError } = loadEtcd3();
    const { circuitBreaker, ConsecutiveBreaker, ConstantBackoff, ExponentialBackoff, handleWhen, retry } = loadCockatiel();
    this.client = new Etcd3({
      hosts,
      dialTimeout: timeoutMs,
      // A deadline per attempt (a retry on another member gets its own).
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      // Fail fast: a down member opens its breaker after three failures and is
      // skipped (another member is tried) until a probe a second later.
      faultHandling: {
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        global: retry(handleWhen(isRecoverableError), { maxAttempts: hosts.length, backoff: new ConstantBackoff(20) }),
        // The manager calls next() on it: a factory, whatever the typing says.
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) as never,
      },
      grpcOptions: { 'grpc.keepalive_time_ms': 5000, 'grpc.keepalive_timeout_ms': 3000, 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
    });
  }

  /**
   * Joins the cluster: registers `hostId` under a lease, loads networks and
   * endpoints and starts the watch. A live record of the same host id with
   * the same advertise address (this host's previous run) is taken over:
   * its endpoints move to the new lease (see `ownEndpoints()` to reconcile).
   */
  static async connect(o: ClusterOptions): Promise<ClusterStore> {
    if (o === null || typeof o !== 'object') throw err('ERR_INVALID_ARG_TYPE', 'cluster options must be an object');
    const known = new Set(['store', 'advertise', 'hostId', 'prefix', 'leaseTtl', 'requestTimeoutMs', 'pools']);
    for (const k of Object.keys(o)) if (!known.has(k)) throw err('EINVAL', `unknown cluster option ${JSON.stringify(k)}`);
    const hosts = parseStoreUrl(o.store);
    if (typeof o.advertise !== 'string' || !net.isIP(o.advertise)) throw err('EINVAL', `cluster advertise address ${JSON.stringify(o.advertise)} is not an IP address`);
    if (typeof o.hostId !== 'string' || !NAME_RE.test(o.hostId)) throw err('EINVAL', `cluster host id ${JSON.stringify(o.hostId)}: expected [a-zA-Z0-9][a-zA-Z0-9_.-]*`);
    const prefix = o.prefix ?? '/cnm-netlink/v1/';
    if (typeof prefix !== 'string' || !prefix.endsWith('/') || prefix.length < 2) throw err('EINVAL', `cluster prefix ${JSON.stringify(prefix)} must end with '/'`);
    const ttl = o.leaseTtl ?? 10;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 10) throw err('EINVAL', `cluster leaseTtl ${ttl}: expected 1..10 seconds`);
    const timeout = o.requestTimeoutMs ?? 5000;
    if (!Number.isInteger(timeout) || timeout < 100 || timeout > 60000) throw err('EINVAL', `cluster requestTimeoutMs ${timeout}: expected 100..60000`);
    const pools = o.pools ?? OVERLAY_POOLS;
    for (const p of pools) parsePrefix(p.base, 'address pool');
    const s = new ClusterStore({ hostId: o.hostId, advertise: o.advertise, store: o.store, prefix, leaseTtl: ttl }, hosts, timeout, pools);
    try {
      await s.register();
      await s.resync();
    } catch (e) {
      s.closed = true;
      s.lease?.release();
      s.client.close();
      throw e;
    }
    return s;
  }

  // ---------------- reads (from the watched caches) ----------------

  networks(): ClusterNetwork[] {
    return [...this.nets.values()].map((c) => c.value);
  }
  network(name: string): ClusterNetwork | undefined {
    return this.nets.get(name)?.value;
  }
  endpoints(filter: { network?: string; host?: string } = {}): ClusterEndpoint[] {
    const out: ClusterEndpoint[] = [];
    for (const c of this.eps.values()) {
      if (filter.network !== undefined && c.value.network !== filter.network) continue;
      if (filter.host !== undefined && c.value.host !== filter.host) continue;
      out.push(c.value);
    }
    return out;
  }
  /** Endpoints of other hosts on a network: the overlay's peer set. */
  peers(network: string): ClusterEndpoint[] {
    return this.endpoints({ network }).filter((e) => e.host !== this.hostId);
  }
  /** This host's endpoints as etcd holds them (after a takeover: the previous run's). */
  ownEndpoints(): ClusterEndpoint[] {
    return [...this.own.values()];
  }
  /** Whether the last etcd request or watch worked. */
  get isConnected(): boolean {
    return this.connected;
  }

  // ---------------- networks ----------------

  /** Like `docker network create -d overlay NAME` against a KV store: one transaction checks name, VNI and subnet against every network. */
  async createNetwork(o: CreateNetworkOptions): Promise<ClusterNetwork> {
    this.alive();
    if (o === null || typeof o !== 'object') throw err('ERR_INVALID_ARG_TYPE', 'network options must be an object');
    const known = new Set(['name', 'subnet', 'gateway', 'subnet6', 'gateway6', 'vni', 'options', 'labels', 'id']);
    for (const k of Object.keys(o)) if (!known.has(k)) throw err('EINVAL', `unknown network option ${JSON.stringify(k)}`);
    if (o.id !== undefined && (typeof o.id !== 'string' || !/^[0-9a-f]{16,64}$/.test(o.id))) throw err('EINVAL', `invalid network id ${JSON.stringify(o.id)}`);
    if (typeof o.name !== 'string' || !NAME_RE.test(o.name)) throw err('EINVAL', `invalid network name ${JSON.stringify(o.name)}`);
    const options = { ...(o.options ?? {}) };
    for (const [k, v] of Object.entries(options)) if (typeof v !== 'string') throw err('ERR_INVALID_ARG_TYPE', `network option ${k} must be a string`);
    if (o.labels !== undefined && (o.labels === null || typeof o.labels !== 'object' || Array.isArray(o.labels))) throw err('ERR_INVALID_ARG_TYPE', 'network labels must be an object');
    const labels = { ...(o.labels ?? {}) };
    for (const [k, v] of Object.entries(labels)) if (typeof v !== 'string') throw err('ERR_INVALID_ARG_TYPE', `network label ${k} must be a string`);
    let vni = o.vni;
    if (options[VXLANID_OPTION] !== undefined) {
      const s = options[VXLANID_OPTION];
      if (!/^\d{1,8}$/.test(s)) throw err('EINVAL', `${VXLANID_OPTION} ${JSON.stringify(s)}: expected one VNI`);
      if (vni !== undefined && vni !== Number(s)) throw err('EINVAL', `vni ${vni} and ${VXLANID_OPTION} ${s} disagree`);
      vni = Number(s);
    }
    if (vni !== undefined && (!Number.isInteger(vni) || vni < 1 || vni > VNI_MAX)) throw err('EINVAL', `invalid VNI ${vni}: expected 1..${VNI_MAX}`);
    const v4 = o.subnet !== undefined ? this.subnetOf(o.subnet, 4) : undefined;
    const v6 = o.subnet6 !== undefined ? this.subnetOf(o.subnet6, 6) : undefined;
    if (o.gateway !== undefined && !v4) throw err('EINVAL', 'gateway given without subnet');
    if (o.gateway6 !== undefined && !v6) throw err('EINVAL', 'gateway6 given without subnet6');
    const gw4 = v4 && o.gateway !== undefined ? this.hostIn(v4, o.gateway, 'gateway') : undefined;
    const gw6 = v6 && o.gateway6 !== undefined ? this.hostIn(v6, o.gateway6, 'gateway6') : undefined;

    const key = enc(this.k(`state/net/${o.name}`));
    let lastId = '';
    for (let attempt = 0; attempt < 20; attempt++) {
      // A fresh read of every network; the transaction then requires that no
      // network key changed since, so the checks below hold at commit time.
      const r = await this.range(this.k('state/net/'));
      const rev = BigInt(r.header.revision);
      const all = r.kvs.map((kv) => JSON.parse(kv.value.toString()) as ClusterNetwork);
      const mine = all.find((n) => n.name === o.name && n.id === lastId);
      if (mine) return mine; // our transaction was applied before a retry of it
      if (all.some((n) => n.name === o.name)) throw err('EEXIST', `network "${o.name}" already exists in ${this.store}`);
      if (vni !== undefined) {
        const holder = all.find((n) => n.vni === vni);
        if (holder) throw err('EEXIST', `VNI ${vni} is in use by network "${holder.name}"`);
      }
      const taken = all.map((n) => parsePrefix(n.subnet));
      const taken6 = all.filter((n) => n.subnet6).map((n) => parsePrefix(n.subnet6!));
      if (v4) {
        const other = all.find((n) => overlaps(parsePrefix(n.subnet), v4));
        if (other) throw err('EBUSY', `subnet ${prefixText(v4)} overlaps network "${other.name}" (${other.subnet})`);
      }
      if (v6) {
        const other = all.find((n) => n.subnet6 && overlaps(parsePrefix(n.subnet6), v6));
        if (other) throw err('EBUSY', `subnet ${prefixText(v6)} overlaps network "${other.name}" (${other.subnet6})`);
      }
      const subnet = v4 ? prefixText(v4) : pickSubnet(this.pools, [...taken, ...taken6]);
      const sub4 = parsePrefix(subnet);
      const rec: ClusterNetwork = {
        id: (lastId = o.id ?? randomId()),
        name: o.name,
        vni: vni ?? this.freeVni(all),
        subnet,
        gateway: gw4 ?? fromBig(sub4.net + 1n, 4),
        ...(v6 ? { subnet6: prefixText(v6), gateway6: gw6 ?? fromBig(v6.net + 1n, 6) } : {}),
        options,
        ...(Object.keys(labels).length ? { labels } : {}),
        scope: 'global',
        createdBy: this.hostId,
        created: new Date().toISOString(),
      };
      const res = await this.txn({
        compare: [
          { key, target: 'Create', result: 'Equal', create_revision: 0 },
          { key: enc(this.k('state/net/')), range_end: rangeEnd(this.k('state/net/')), target: 'Mod', result: 'Less', mod_revision: String(rev + 1n) },
        ],
        success: [{ request_put: { key, value: enc(JSON.stringify(rec)) } }],
        failure: [],
      });
      if (res.succeeded) {
        this.noteNetwork(rec, res.header.revision, res.header.revision, '0');
        return rec;
      }
      // Lost a race with another create: read again (the checks then say why, or we retry).
    }
    throw err('EAGAIN', `network "${o.name}": too many concurrent network changes in ${this.store}`);
  }

  /** Deletes a network cluster-wide, only when no endpoint on any host remains (EBUSY otherwise). */
  async deleteNetwork(name: string): Promise<void> {
    this.alive();
    if (typeof name !== 'string') throw err('ERR_INVALID_ARG_TYPE', 'network name must be a string');
    const keyS = this.k(`state/net/${name}`);
    const key = enc(keyS);
    const r = await this.range(keyS, false);
    if (!r.kvs.length) throw err('ENOENT', `network "${name}" not found in ${this.store}`);
    const rec = JSON.parse(r.kvs[0].value.toString()) as ClusterNetwork;
    const eps = this.k(`state/ep/${rec.id}/`);
    const ipam = this.k(`ipam/${rec.id}/`);
    const res = await this.txn({
      compare: [
        { key, target: 'Mod', result: 'Equal', mod_revision: r.kvs[0].mod_revision },
        // Over a range, Create == 0 holds only when the range is empty.
        { key: enc(eps), range_end: rangeEnd(eps), target: 'Create', result: 'Equal', create_revision: 0 },
      ],
      success: [
        { request_delete_range: { key } },
        { request_delete_range: { key: enc(ipam), range_end: rangeEnd(ipam) } },
      ],
      failure: [{ request_range: { key: enc(eps), range_end: rangeEnd(eps), count_only: true } }, { request_range: { key } }],
    });
    if (!res.succeeded) {
      if (!res.responses[1].response_range.kvs.length) throw err('ENOENT', `network "${name}" not found in ${this.store}`);
      const n = Number(res.responses[0].response_range.count);
      if (n > 0) throw err('EBUSY', `network "${name}" has ${n} endpoint(s) on the cluster`);
      throw err('EAGAIN', `network "${name}" changed while being deleted`);
    }
    const c = this.nets.get(name);
    if (c && c.value.id === rec.id) {
      this.nets.delete(name);
      this.emit('network', { type: 'remove', network: rec } as NetworkEvent);
    }
  }

  // ---------------- endpoints ----------------

  /**
   * Registers an endpoint of this host (Docker: the endpoint's record in
   * the KV store, whose watch drives every peer's neighbour and FDB entries);
   * allocates its addresses in the same transaction.
   */
  async createEndpoint(o: CreateEndpointOptions): Promise<ClusterEndpoint> {
    this.alive();
    if (o === null || typeof o !== 'object') throw err('ERR_INVALID_ARG_TYPE', 'endpoint options must be an object');
    const known = new Set(['network', 'name', 'ipv4', 'ipv6', 'mac', 'aliases', 'sandbox']);
    for (const k of Object.keys(o)) if (!known.has(k)) throw err('EINVAL', `unknown endpoint option ${JSON.stringify(k)}`);
    if (typeof o.name !== 'string' || !NAME_RE.test(o.name)) throw err('EINVAL', `invalid endpoint name ${JSON.stringify(o.name)}`);
    const aliases = o.aliases ?? [];
    if (!Array.isArray(aliases) || aliases.some((a) => typeof a !== 'string' || !NAME_RE.test(a))) throw err('EINVAL', `invalid aliases ${JSON.stringify(o.aliases)}`);
    const sandbox = o.sandbox !== undefined ? sandboxNames(o.sandbox) : undefined;
    const mac = o.mac !== undefined ? validateMac(o.mac) : undefined;
    if (typeof o.network !== 'string') throw err('ERR_INVALID_ARG_TYPE', 'endpoint network must be a string');
    // Not seen by the watch yet (created on another host a moment ago): read it.
    if (!this.nets.has(o.network) && NAME_RE.test(o.network)) {
      const r = await this.range(this.k(`state/net/${o.network}`), false);
      for (const kv of r.kvs) this.noteNetwork(JSON.parse(kv.value.toString()), kv.mod_revision, kv.create_revision, kv.lease);
    }
    const c = this.nets.get(o.network);
    if (!c) throw err('ENOENT', `network "${o.network}" not found in ${this.store}`);
    const nw = c.value;
    const sub4 = parsePrefix(nw.subnet);
    const sub6 = nw.subnet6 ? parsePrefix(nw.subnet6) : undefined;
    const static4 = o.ipv4 !== undefined ? this.addrIn(sub4, o.ipv4, nw, 'ipv4') : undefined;
    if (o.ipv6 !== undefined && !sub6) throw err('EINVAL', `network "${nw.name}" has no IPv6 subnet`);
    const static6 = o.ipv6 !== undefined ? this.addrIn(sub6!, o.ipv6, nw, 'ipv6') : undefined;
    const key = this.k(`state/ep/${nw.id}/${o.name}`);
    const dup = this.eps.get(key);
    if (dup) throw err('EEXIST', `endpoint "${o.name}" already exists on network "${nw.name}" (host ${dup.value.host})`);

    const pend = this.pending.get(nw.id) ?? new Set<string>();
    this.pending.set(nw.id, pend);
    const lost = new Set<string>(); // addresses we saw taken in this call
    // A burst (other joins of this host in flight) is likely to meet other
    // hosts' bursts at the lowest addresses: pick at random from the start.
    let random = pend.size > 0;
    for (let attempt = 0; attempt < 64; attempt++) {
      const ip4 = static4 ?? this.pickAddr(nw, sub4, nw.gateway, pend, lost, random);
      const ip6 = sub6 ? (static6 ?? this.pickAddr(nw, sub6, nw.gateway6!, pend, lost, random)) : undefined;
      pend.add(ip4);
      if (ip6) pend.add(ip6);
      const ep: ClusterEndpoint = {
        id: randomId(),
        name: o.name,
        network: nw.name,
        networkId: nw.id,
        host: this.hostId,
        vtep: this.advertise,
        mac: mac ?? macOf(ip4),
        ipv4: `${ip4}/${sub4.len}`,
        ...(ip6 ? { ipv6: `${ip6}/${sub6!.len}` } : {}),
        aliases: [...aliases],
        ...(sandbox ? { sandbox } : {}),
      };
      const netKey = this.k(`state/net/${nw.name}`);
      const a4 = this.k(`ipam/${nw.id}/${ip4}`);
      const a6 = ip6 ? this.k(`ipam/${nw.id}/${ip6}`) : undefined;
      const compare: ICompare[] = [
        { key: enc(netKey), target: 'Mod', result: 'Equal', mod_revision: c.mod },
        { key: enc(key), target: 'Create', result: 'Equal', create_revision: 0 },
        { key: enc(a4), target: 'Create', result: 'Equal', create_revision: 0 },
      ];
      if (a6) compare.push({ key: enc(a6), target: 'Create', result: 'Equal', create_revision: 0 });
      const value = enc(JSON.stringify(ep));
      const claim = enc(JSON.stringify({ endpoint: ep.id, name: ep.name, host: this.hostId }));
      const success: IRequestOp[] = [
        { request_put: { key: enc(key), value, lease: this.leaseId } },
        { request_put: { key: enc(a4), value: claim, lease: this.leaseId } },
      ];
      if (a6) success.push({ request_put: { key: enc(a6), value: claim, lease: this.leaseId } });
      const failure: IRequestOp[] = [
        { request_range: { key: enc(netKey) } },
        { request_range: { key: enc(key) } },
        { request_range: { key: enc(a4) } },
      ];
      if (a6) failure.push({ request_range: { key: enc(a6) } });
      let res: ITxnResponse;
      try {
        res = await this.txn({ compare, success, failure });
      } catch (e) {
        pend.delete(ip4);
        if (ip6) pend.delete(ip6);
        // Outcome unknown (etcd may have applied it): remove it once etcd answers again.
        if ((e as ClusterError).code === 'ENOTCONN') this.cleanups.set(key, ep.id);
        throw e;
      }
      pend.delete(ip4);
      if (ip6) pend.delete(ip6);
      if (res.succeeded) {
        this.own.set(key, ep);
        this.noteEndpoint(key, ep, res.header.revision, res.header.revision, this.leaseId);
        return ep;
      }
      const got = res.responses.map((r) => r.response_range.kvs[0] as IKeyValue | undefined);
      if (got[1]) {
        const other = JSON.parse(got[1].value.toString()) as ClusterEndpoint;
        if (other.id === ep.id) {
          // Our own transaction, applied before a retry of it (its reply was lost).
          this.own.set(key, ep);
          this.noteEndpoint(key, ep, got[1].mod_revision, got[1].create_revision, this.leaseId);
          return ep;
        }
        throw err('EEXIST', `endpoint "${o.name}" already exists on network "${nw.name}" (host ${other.host})`);
      }
      if (!got[0] || got[0].mod_revision !== c.mod) throw err('ENOENT', `network "${nw.name}" was deleted from ${this.store}`);
      if (got[2]) {
        if (static4) throw err('EADDRINUSE', `address ${static4} is already in use on network "${nw.name}"`);
        lost.add(ip4);
      }
      if (got[3]) {
        if (static6) throw err('EADDRINUSE', `address ${static6} is already in use on network "${nw.name}"`);
        lost.add(ip6!);
      }
      random = true;
    }
    throw err('EAGAIN', `endpoint "${o.name}": no address won after 64 attempts on network "${nw.name}"`);
  }

  /** One of this host's endpoints by network and name: ENOENT, or EPERM when another host's. */
  private ownEndpoint(network: string, name: string): { key: string; ep: ClusterEndpoint } {
    const nw = this.nets.get(network)?.value;
    if (!nw) throw err('ENOENT', `network "${network}" not found in ${this.store}`);
    const key = this.k(`state/ep/${nw.id}/${name}`);
    const ep = this.own.get(key);
    if (!ep) {
      if (this.eps.has(key)) throw err('EPERM', `endpoint "${name}" belongs to host ${this.eps.get(key)!.value.host}`);
      throw err('ENOENT', `endpoint "${name}" not found on network "${network}"`);
    }
    return { key, ep };
  }

  /** Removes one of this host's endpoints and frees its addresses, in one transaction. */
  async deleteEndpoint(network: string, name: string): Promise<void> {
    this.alive();
    if (typeof network !== 'string' || typeof name !== 'string') throw err('ERR_INVALID_ARG_TYPE', 'network and endpoint name must be strings');
    const { key, ep } = this.ownEndpoint(network, name);
    await this.removeOwn(key, ep);
    this.own.delete(key);
  }

  /**
   * Publishes the names of the sandbox one of this host's endpoints joined
   * (`sandbox`: its name first), or withdraws them (`null`: it left); one
   * transaction, none when nothing changes. The wanted record is kept
   * either way: when etcd cannot be reached, the next resync puts it.
   */
  async updateEndpoint(network: string, name: string, o: { sandbox: string[] | null }): Promise<ClusterEndpoint> {
    this.alive();
    if (typeof network !== 'string' || typeof name !== 'string') throw err('ERR_INVALID_ARG_TYPE', 'network and endpoint name must be strings');
    if (o === null || typeof o !== 'object' || !('sandbox' in o)) throw err('ERR_INVALID_ARG_TYPE', 'endpoint update must be { sandbox: string[] | null }');
    for (const k of Object.keys(o)) if (k !== 'sandbox') throw err('EINVAL', `unknown endpoint update ${JSON.stringify(k)}`);
    const sandbox = o.sandbox === null ? undefined : sandboxNames(o.sandbox);
    const { key, ep } = this.ownEndpoint(network, name);
    const { sandbox: _, ...rest } = ep;
    const next: ClusterEndpoint = { ...rest, ...(sandbox ? { sandbox } : {}) };
    this.own.set(key, next);
    if (JSON.stringify(this.eps.get(key)?.value) === JSON.stringify(next)) return next;
    const rev = await new Promise<string | undefined>((resolve, reject) => {
      this.updates.push({ key, value: next, resolve, reject });
      if (!this.updating) void this.drainUpdates();
    });
    if (rev === undefined) throw err('ENOENT', `endpoint "${name}" is no longer in ${this.store}`);
    return next;
  }

  /**
   * Name updates go one transaction at a time: alone when the store is
   * quiet, and those queued meanwhile (a burst of joins) together in the
   * next, so a burst costs about one request per endpoint in all.
   */
  private async drainUpdates(): Promise<void> {
    this.updating = true;
    try {
      while (this.updates.length) {
        // One entry per key in a transaction (etcd refuses a key twice): a later update of a key waits for the next.
        const keys = new Set<string>();
        let n = 0;
        while (n < this.updates.length && n < UPDATE_BATCH && !keys.has(this.updates[n].key)) keys.add(this.updates[n++].key);
        await this.putUpdates(this.updates.splice(0, n));
      }
    } finally {
      this.updating = false;
    }
  }

  private async putUpdates(batch: QueuedUpdate[]): Promise<void> {
    const done = (u: QueuedUpdate, rev: string | undefined) => {
      if (rev !== undefined) this.noteEndpoint(u.key, u.value, rev, this.eps.get(u.key)?.create ?? rev, this.leaseId);
      u.resolve(rev);
    };
    const put = (u: QueuedUpdate): IRequestOp => ({ request_put: { key: enc(u.key), value: enc(JSON.stringify(u.value)), lease: this.leaseId } });
    const known = batch.map((u) => this.eps.get(u.key)).map((c, i) => (c && c.value.id === batch[i].value.id ? c.mod : undefined));
    if (batch.length > 1 && known.every((m) => m !== undefined)) {
      let res: ITxnResponse;
      try {
        res = await this.txn({ compare: batch.map((u, i) => ({ key: enc(u.key), target: 'Mod', result: 'Equal', mod_revision: known[i]! })), success: batch.map(put), failure: [] });
      } catch (e) {
        for (const u of batch) u.reject(e);
        return;
      }
      if (res.succeeded) {
        for (const u of batch) done(u, res.header.revision);
        return;
      }
    }
    // Alone, or one of them changed meanwhile: each on its own.
    await Promise.all(batch.map((u) => this.whileOurs(u.key, u.value.id, [put(u)]).then((rev) => done(u, rev), u.reject)));
  }

  private async removeOwn(key: string, ep: Pick<ClusterEndpoint, 'id' | 'networkId' | 'ipv4' | 'ipv6'>): Promise<void> {
    const ops: IRequestOp[] = [{ request_delete_range: { key: enc(key) } }];
    for (const a of [ep.ipv4, ep.ipv6]) if (a) ops.push({ request_delete_range: { key: enc(this.k(`ipam/${ep.networkId}/${a.split('/')[0]}`)) } });
    if (await this.whileOurs(key, ep.id, ops) === undefined) return;
    const c = this.eps.get(key);
    if (c && c.value.id === ep.id) {
      this.eps.delete(key);
      this.emit('endpoint', { type: 'remove', endpoint: c.value } as EndpointEvent);
    }
  }

  /**
   * Runs `ops` in a transaction while `key` still holds endpoint `id` (an
   * endpoint of that name made again meanwhile is another's), whatever else
   * of it changed: compared on the revision the caches know, read again when
   * that is stale. One request when the caches are current. The
   * transaction's revision, or undefined when the key holds no such endpoint.
   */
  private async whileOurs(key: string, id: string, ops: IRequestOp[]): Promise<string | undefined> {
    const c = this.eps.get(key);
    let mod = c && c.value.id === id ? c.mod : undefined;
    for (let attempt = 0; attempt < 8; attempt++) {
      if (mod === undefined) {
        const kv = (await this.range(key, false)).kvs[0];
        if (!kv || (JSON.parse(kv.value.toString()) as ClusterEndpoint).id !== id) return undefined;
        mod = kv.mod_revision;
      }
      const res = await this.txn({ compare: [{ key: enc(key), target: 'Mod', result: 'Equal', mod_revision: mod }], success: ops, failure: [{ request_range: { key: enc(key) } }] });
      if (res.succeeded) return res.header.revision;
      const kv = res.responses[0].response_range.kvs[0] as IKeyValue | undefined;
      if (!kv || (JSON.parse(kv.value.toString()) as ClusterEndpoint).id !== id) return undefined;
      mod = kv.mod_revision;
    }
    throw err('EAGAIN', `${key}: changed too often while being updated`);
  }

  /** After a listing: this host's records put where etcd holds another version of them (an update that failed, or whose outcome was unknown). */
  private async flushOwn(): Promise<void> {
    for (const [key, want] of [...this.own]) {
      const c = this.eps.get(key);
      if (!c || c.value.id !== want.id || JSON.stringify(c.value) === JSON.stringify(want)) continue;
      const rev = await this.whileOurs(key, want.id, [{ request_put: { key: enc(key), value: enc(JSON.stringify(want)), lease: this.leaseId } }]).catch(() => undefined);
      if (rev !== undefined && this.own.get(key) === want) this.noteEndpoint(key, want, rev, c.create, this.leaseId);
    }
  }

  /** Counter snapshot; `stats.requests` difference around a call = etcd requests it made. */
  requestCount(): number {
    return this.stats.requests;
  }

  /**
   * Leaves the cluster. `revoke: true` (default) revokes the lease, so peers
   * drop this host's endpoints at once; `false` leaves them to expire after
   * the TTL, as a crashed host's do.
   */
  async close(o: { revoke?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.watcher;
    this.watcher = null;
    try {
      if (w) await Promise.race([w.cancel(), sleep(500)]);
      if (o.revoke !== false) await Promise.race([this.lease.revoke({ deadline: Date.now() + this.timeoutMs }), sleep(this.timeoutMs)]).catch(() => undefined);
      else this.lease.release();
    } finally {
      this.client.close();
    }
  }

  // ---------------- lease and host record ----------------

  private async register(): Promise<void> {
    const lease = this.client.lease(this.leaseTtl, { deadline: Date.now() + this.timeoutMs } as never);
    lease.on('lost', () => this.onLeaseLost(lease));
    let id: string;
    try {
      id = await lease.grant();
      this.stats.requests++;
    } catch (e) {
      lease.release();
      throw this.mapError(e, 'lease grant');
    }
    const hostKey = this.k(`hosts/${this.hostId}`);
    const rec = enc(JSON.stringify({ hostId: this.hostId, advertise: this.advertise, since: new Date().toISOString() }));
    const res = await this.txn({
      compare: [{ key: enc(hostKey), target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key: enc(hostKey), value: rec, lease: id } }],
      failure: [{ request_range: { key: enc(hostKey) } }],
    });
    let oldLease: string | undefined;
    if (!res.succeeded) {
      const kv = res.responses[0].response_range.kvs[0];
      const old = JSON.parse(kv.value.toString()) as { advertise: string };
      if (old.advertise !== this.advertise) {
        lease.release();
        throw err('EEXIST', `host id ${this.hostId} is registered by a live host advertising ${old.advertise} in ${this.store}`);
      }
      // This host's previous run, its lease not yet expired: take it over.
      oldLease = kv.lease;
      const again = await this.txn({
        compare: [{ key: enc(hostKey), target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }],
        success: [{ request_put: { key: enc(hostKey), value: rec, lease: id } }],
        failure: [],
      });
      if (!again.succeeded) {
        lease.release();
        throw err('EBUSY', `host record ${this.hostId} changed during takeover`);
      }
    }
    this.lease = lease;
    this.leaseId = id;
    if (oldLease && oldLease !== '0') await this.adopt(oldLease);
  }

  /** Moves the previous run's endpoints (and their addresses) to our lease, then revokes the old lease. */
  private async adopt(oldLease: string): Promise<void> {
    const r = await this.range(this.k('state/ep/'));
    const mine = r.kvs.filter((kv) => kv.lease === oldLease);
    for (let i = 0; i < mine.length; i += 40) {
      const chunk = mine.slice(i, i + 40);
      const compare: ICompare[] = [];
      const success: IRequestOp[] = [];
      for (const kv of chunk) {
        const ep = JSON.parse(kv.value.toString()) as ClusterEndpoint;
        compare.push({ key: kv.key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision });
        success.push({ request_put: { key: kv.key, value: kv.value, lease: this.leaseId } });
        const claim = enc(JSON.stringify({ endpoint: ep.id, name: ep.name, host: this.hostId }));
        for (const a of [ep.ipv4, ep.ipv6]) if (a) success.push({ request_put: { key: enc(this.k(`ipam/${ep.networkId}/${a.split('/')[0]}`)), value: claim, lease: this.leaseId } });
      }
      const res = await this.txn({ compare, success, failure: [] });
      if (res.succeeded) for (const kv of chunk) this.own.set(kv.key.toString(), JSON.parse(kv.value.toString()));
    }
    try {
      this.stats.requests++;
      await this.client.leaseClient.leaseRevoke({ ID: oldLease }, { deadline: Date.now() + this.timeoutMs });
    } catch {
      /* expired meanwhile: fine */
    }
  }

  /** The lease expired (etcd unreachable for longer than the TTL): get a new one and put our records back. */
  private onLeaseLost(lease: Lease): void {
    if (this.closed || lease !== this.lease || this.regranting) return;
    this.emit('lease-lost');
    this.regranting = (async () => {
      for (let delay = 200; !this.closed; delay = Math.min(delay * 2, 2000)) {
        try {
          await this.reclaim();
          return;
        } catch {
          await sleep(delay);
        }
      }
    })().finally(() => {
      this.regranting = null;
    });
  }

  private async reclaim(): Promise<void> {
    const oldLease = this.leaseId;
    const lease = this.client.lease(this.leaseTtl);
    lease.on('lost', () => this.onLeaseLost(lease));
    let id: string;
    try {
      id = await lease.grant();
    } catch (e) {
      lease.release();
      throw e;
    }
    this.lease = lease;
    this.leaseId = id;
    const hostKey = this.k(`hosts/${this.hostId}`);
    await this.txn({ compare: [], success: [{ request_put: { key: enc(hostKey), value: enc(JSON.stringify({ hostId: this.hostId, advertise: this.advertise, since: new Date().toISOString() })), lease: id } }], failure: [] });
    // Our keys may be gone (the lease expired in etcd) or still there (etcd was
    // down, kept the lease, and only the client gave up on it): each endpoint
    // and address goes back if it is free or still ours, and nobody else's.
    const [eps, ipam] = await Promise.all([this.range(this.k('state/ep/')), this.range(this.k('ipam/'))]);
    const now = new Map<string, IKeyValue>([...eps.kvs, ...ipam.kvs].map((kv) => [kv.key.toString(), kv]));
    for (const [key, ep] of [...this.own]) {
      const addrs = [ep.ipv4, ep.ipv6].filter(Boolean).map((a) => this.k(`ipam/${ep.networkId}/${a!.split('/')[0]}`));
      const claim = enc(JSON.stringify({ endpoint: ep.id, name: ep.name, host: this.hostId }));
      const compare: ICompare[] = [];
      let taken = false;
      for (const k of [key, ...addrs]) {
        const kv = now.get(k);
        if (!kv) compare.push({ key: enc(k), target: 'Create', result: 'Equal', create_revision: 0 });
        else {
          const v = JSON.parse(kv.value.toString()) as { id?: string; endpoint?: string };
          if ((v.id ?? v.endpoint) !== ep.id) taken = true;
          compare.push({ key: enc(k), target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision });
        }
      }
      const res = taken ? { succeeded: false } : await this.txn({
        compare,
        success: [{ request_put: { key: enc(key), value: enc(JSON.stringify(ep)), lease: id } }, ...addrs.map((k) => ({ request_put: { key: enc(k), value: claim, lease: id } }))],
        failure: [],
      });
      if (!res.succeeded) {
        this.own.delete(key);
        this.emit('conflict', ep);
      }
    }
    if (oldLease !== '0') await this.client.leaseClient.leaseRevoke({ ID: oldLease }).catch(() => undefined);
    this.emit('lease-restored');
  }

  // ---------------- snapshot + watch ----------------

  /**
   * Lists `state/` and diffs it against the caches (emitting add/remove for
   * what changed), then watches from the revision after the listing. Runs at
   * connect and whenever the watch breaks (etcd restart, compaction).
   */
  resync(): Promise<void> {
    if (!this.resyncing) {
      this.resyncing = this.doResync().finally(() => {
        this.resyncing = null;
      });
    }
    return this.resyncing;
  }

  private async doResync(): Promise<void> {
    const old = this.watcher;
    this.watcher = null;
    if (old) {
      old.removeAllListeners();
      old.on('error', () => undefined);
      void old.cancel().catch(() => undefined);
    }
    const r = await this.range(this.k('state/'));
    this.stats.resyncs++;
    const seenNets = new Set<string>();
    const seenEps = new Set<string>();
    for (const kv of r.kvs) {
      const key = kv.key.toString();
      if (key.startsWith(this.k('state/net/'))) {
        const n = JSON.parse(kv.value.toString()) as ClusterNetwork;
        seenNets.add(n.name);
        this.noteNetwork(n, kv.mod_revision, kv.create_revision, kv.lease);
      } else if (key.startsWith(this.k('state/ep/'))) {
        seenEps.add(key);
        this.noteEndpoint(key, JSON.parse(kv.value.toString()), kv.mod_revision, kv.create_revision, kv.lease);
      }
    }
    // Removes first for endpoints, then networks; adds were emitted above (networks before their endpoints, by key order).
    for (const [key, c] of [...this.eps]) {
      if (!seenEps.has(key)) {
        this.eps.delete(key);
        this.emit('endpoint', { type: 'remove', endpoint: c.value } as EndpointEvent);
      }
    }
    for (const [name, c] of [...this.nets]) {
      if (!seenNets.has(name)) {
        this.nets.delete(name);
        this.emit('network', { type: 'remove', network: c.value } as NetworkEvent);
      }
    }
    this.revision = Number(r.header.revision);
    await this.flushCleanups();
    await this.flushOwn();
    this.startWatch(BigInt(r.header.revision) + 1n);
    this.setConnected(true);
    this.emit('resync', { revision: this.revision });
  }

  private startWatch(from: bigint): void {
    if (this.closed) return;
    const w = this.client.watch().prefix(this.k('state/')).startRevision(String(from)).withPreviousKV().watcher();
    this.stats.watchesCreated++;
    this.stats.requests++;
    this.watcher = w;
    const broken = () => {
      if (this.watcher !== w || this.closed) return;
      this.setConnected(false);
      this.retryResync();
    };
    w.on('put', (kv) => {
      if (this.watcher !== w) return;
      const key = kv.key.toString();
      this.revision = Math.max(this.revision, Number(kv.mod_revision));
      if (key.startsWith(this.k('state/net/'))) this.noteNetwork(JSON.parse(kv.value.toString()), kv.mod_revision, kv.create_revision, kv.lease);
      else if (key.startsWith(this.k('state/ep/'))) {
        const ep = JSON.parse(kv.value.toString()) as ClusterEndpoint;
        this.noteEndpoint(key, ep, kv.mod_revision, kv.create_revision, kv.lease);
        // A create we reported as failed (etcd unreachable) that was applied after all: undo it.
        if (this.cleanups.get(key) === ep.id) void this.flushCleanups().catch(() => undefined);
      }
    });
    w.on('delete', (kv) => {
      if (this.watcher !== w) return;
      const key = kv.key.toString();
      this.revision = Math.max(this.revision, Number(kv.mod_revision));
      if (key.startsWith(this.k('state/net/'))) {
        const name = key.slice(this.k('state/net/').length);
        const c = this.nets.get(name);
        if (c) {
          this.nets.delete(name);
          this.emit('network', { type: 'remove', network: c.value } as NetworkEvent);
        }
      } else {
        const c = this.eps.get(key);
        if (c) {
          // An own endpoint stays in `own`: only its lease's expiry removes it
          // behind our back, and the new lease puts it back (reclaim).
          this.eps.delete(key);
          this.emit('endpoint', { type: 'remove', endpoint: c.value } as EndpointEvent);
        }
      }
    });
    w.on('disconnected', broken);
    w.on('error', broken); // compaction cancels the watch: list again
  }

  private retryResync(): void {
    void (async () => {
      for (let delay = 100; !this.closed; delay = Math.min(delay * 2, 1000)) {
        try {
          await this.resync();
          return;
        } catch {
          await sleep(delay);
        }
      }
    })();
  }

  private async flushCleanups(): Promise<void> {
    for (const [key, id] of [...this.cleanups]) {
      const c = this.eps.get(key);
      if (c && c.value.id === id && c.value.host === this.hostId && !this.own.has(key)) await this.removeOwn(key, c.value).catch(() => undefined);
      this.cleanups.delete(key);
    }
  }

  private noteNetwork(n: ClusterNetwork, mod: string, create: string, lease: string): void {
    const c = this.nets.get(n.name);
    this.nets.set(n.name, { value: n, mod, create, lease });
    if (c && c.value.id === n.id) return;
    if (c) this.emit('network', { type: 'remove', network: c.value } as NetworkEvent);
    this.emit('network', { type: 'add', network: n } as NetworkEvent);
  }

  private noteEndpoint(key: string, ep: ClusterEndpoint, mod: string, create: string, lease: string): void {
    const c = this.eps.get(key);
    this.eps.set(key, { value: ep, mod, create, lease });
    if (c && JSON.stringify(c.value) === JSON.stringify(ep)) return; // e.g. a takeover moving it to a new lease
    // The same endpoint, joined or left: its peer entries stay as they are.
    if (c && c.value.id === ep.id) {
      this.emit('endpoint', { type: 'update', endpoint: ep } as EndpointEvent);
      return;
    }
    if (c) this.emit('endpoint', { type: 'remove', endpoint: c.value } as EndpointEvent);
    this.emit('endpoint', { type: 'add', endpoint: ep } as EndpointEvent);
  }

  private setConnected(v: boolean): void {
    if (this.connected === v) return;
    this.connected = v;
    this.emit('status', { connected: v });
  }

  // ---------------- requests ----------------

  private async range(key: string, prefix = true): Promise<IRangeResponse> {
    this.stats.ranges++;
    return this.call('range', () => this.client.kv.range({ key: enc(key), ...(prefix ? { range_end: rangeEnd(key) } : {}) }));
  }

  private async txn(req: ITxnRequest): Promise<ITxnResponse> {
    this.stats.txns++;
    const res = await this.call('txn', () => this.client.kv.txn(req));
    if (!res.succeeded) this.stats.conflicts++;
    return res;
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.stats.requests++;
    // A bounded number in flight, each deadline from its dispatch: a burst of
    // joins queues here instead of timing out inside gRPC.
    if (this.inflight >= MAX_INFLIGHT) await new Promise<void>((r) => this.waiting.push(r));
    this.inflight++;
    try {
      const r = await fn();
      this.setConnected(true);
      return r;
    } catch (e) {
      throw this.mapError(e, what);
    } finally {
      this.inflight--;
      this.waiting.shift()?.();
    }
  }

  private mapError(e: unknown, what: string): Error {
    const m = e instanceof Error ? e.message : String(e);
    if (e instanceof Error && /lease not found/i.test(m)) {
      this.onLeaseLost(this.lease);
      return err('ENOTCONN', `etcd store ${this.store}: ${what}: host lease expired (re-registering): ${m}`);
    }
    if (e instanceof Error && (loadEtcd3().isRecoverableError(e) || /UNAVAILABLE|DEADLINE|circuit|No connection|Failed to connect|timed out|closed/i.test(m) || (e as { name?: string }).name === 'BrokenCircuitError')) {
      this.setConnected(false);
      return err('ENOTCONN', `etcd store ${this.store} unreachable: ${what}: ${m}`);
    }
    if (e instanceof CnmError) return e;
    return err('EIO', `etcd store ${this.store}: ${what}: ${m}`);
  }

  // ---------------- helpers ----------------

  private k(rest: string): string {
    return this.prefix + rest;
  }

  private alive(): void {
    if (this.closed) throw err('ENOTCONN', `cluster store ${this.store} is closed`);
  }

  private subnetOf(s: string, family: 4 | 6): Prefix {
    if (typeof s !== 'string') throw err('ERR_INVALID_ARG_TYPE', 'subnet must be a string');
    const p = parsePrefix(s);
    if (p.family !== family) throw err('EINVAL', `subnet ${s} is not IPv${family}`);
    if (family === 4 && p.len > 29) throw err('EINVAL', `subnet ${s} is too small`);
    if (family === 6 && p.len > 125) throw err('EINVAL', `subnet ${s} is too small`);
    return p;
  }

  private hostIn(p: Prefix, a: string, what: string): string {
    if (typeof a !== 'string' || net.isIP(a) !== p.family) throw err('EINVAL', `invalid ${what} ${JSON.stringify(a)}`);
    const n = toBig(a, p.family);
    const last = p.net + prefixSize(p) - 1n;
    if (n <= p.net || (p.family === 4 && n >= last) || n > last) throw err('EINVAL', `${what} ${a} is not a usable address of ${prefixText(p)}`);
    return fromBig(n, p.family);
  }

  private addrIn(p: Prefix, a: string, nw: ClusterNetwork, what: string): string {
    const s = this.hostIn(p, a, what);
    if (s === nw.gateway || s === nw.gateway6) throw err('EADDRINUSE', `address ${s} is the gateway of network "${nw.name}"`);
    return s;
  }

  /** Lowest free address (Docker's order), or after a lost race a random free one. */
  private pickAddr(nw: ClusterNetwork, p: Prefix, gateway: string, pend: Set<string>, lost: Set<string>, random: boolean): string {
    const used = new Set<string>([gateway, ...pend, ...lost]);
    for (const c of this.eps.values()) {
      if (c.value.networkId !== nw.id) continue;
      for (const a of [c.value.ipv4, c.value.ipv6]) if (a) used.add(a.split('/')[0]);
    }
    const first = p.net + 1n;
    const size = prefixSize(p);
    const count = p.family === 4 ? size - 2n : size - 1n; // v4: no network/broadcast; v6: no subnet-router anycast
    const start = random ? BigInt('0x' + crypto.randomBytes(16).toString('hex')) % count : 0n;
    const limit = count < 1n << 20n ? count : 1n << 20n;
    for (let i = 0n; i < limit; i++) {
      const a = fromBig(first + ((start + i) % count), p.family);
      if (!used.has(a)) return a;
    }
    throw err('ENOSPC', `no free address in ${prefixText(p)} on network "${nw.name}"`);
  }

  private freeVni(all: ClusterNetwork[]): number {
    const used = new Set(all.map((n) => n.vni));
    for (let v = VNI_MIN; v <= VNI_MAX; v++) if (!used.has(v)) return v;
    throw err('ENOSPC', 'no free VNI');
  }
}

interface QueuedUpdate { key: string; value: ClusterEndpoint; resolve: (rev: string | undefined) => void; reject: (e: unknown) => void }

/** The names of a sandbox as an endpoint record carries them (see ClusterEndpoint.sandbox). */
function sandboxNames(v: unknown): string[] {
  if (!Array.isArray(v) || !v.length || v.length > 8) throw err('ERR_INVALID_ARG_TYPE', `sandbox names must be an array of 1..8 names, got ${JSON.stringify(v)}`);
  for (const x of v) if (typeof x !== 'string' || !SANDBOX_NAME_RE.test(x)) throw err('EINVAL', `invalid sandbox name ${JSON.stringify(x)}`);
  return [...v];
}

/** Docker's MAC for an IPv4 address: 02:42 followed by the address's four bytes. */
export function macOf(ip4: string): string {
  return ['02', '42', ...ip4.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

