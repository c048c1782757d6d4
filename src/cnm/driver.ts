// The driver contract, like libnetwork's driverapi.Driver and netavark's
// NetworkDriver: a driver turns network and endpoint records into kernel
// objects. The controller, networks, endpoints and sandboxes never ask which
// driver they have; they ask what it can do (its capabilities).
import type { Netns } from '../netns';
import type { Link } from '../rtnl/link';
import type { CnmContext } from './context';
import { invalid } from './errors';
import type { NetworkRules } from './firewall';
import type { NetAlloc } from './context';
import type { EndpointCreateOptions, EndpointRecord, NetworkCreateOptions, NetworkRecord } from './types';

export interface DriverCapabilities {
  /**
   * Addresses come from IPAM. `gateway`: 'required' when the gateway address
   * lives on our own device (a bridge), 'optional' when it is an outside
   * router (macvlan; `gateway: null` means none). `avoidHostRoutes`: pool
   * subnets that overlap the host's routes are skipped.
   */
  ipam?: { gateway: 'required' | 'optional'; avoidHostRoutes: boolean };
  /** Joins make an interface inside the sandbox (eth0, eth1, ...) with a MAC. */
  iface: boolean;
  /** Ports can be published (-p), through the firewall. */
  ports: boolean;
  /** User-defined networks of it get the embedded name server. */
  names: boolean;
  /** Whose namespace a joining sandbox must be in: its own, or the host's. */
  namespace: 'sandbox' | 'host';
  /** Only the built-in instance exists (host, none). */
  builtinOnly: boolean;
  /** A sandbox on it can be on no other network (none). */
  exclusive: boolean;
  /**
   * Its kernel objects of a half-made join are not tagged where reconcile
   * looks (a macvlan is born inside the sandbox): the join waits for its
   * pending record to be durable before it makes them.
   */
  untaggedJoin?: boolean;
  /** Its built-in network is Docker's default bridge, where legacy links (`--link`) live. */
  legacyLinks?: boolean;
}

/** A legacy link in effect: both ends joined to the network, the target's exposed ports. */
export interface ActiveLink {
  parent: EndpointRecord;
  child: EndpointRecord;
  ports: { port: number; proto: 'tcp' | 'udp' | 'sctp' }[];
}

/** What the kernel holds, read once per reconcile and shared by the drivers' hooks. */
export interface KernelView {
  links: Map<string, Link>;
}

/**
 * What a join leaves for the endpoint to finish: the endpoint configures
 * the interface inside the sandbox (address, up, routes), as libnetwork's
 * sandbox does with what the driver's Join reported.
 */
export interface JoinResult {
  /** Host-side work still under way that must be done before the interface is configured. */
  ready?: Promise<void>;
  /** Runs once the interface inside is up (index inside the sandbox). */
  afterUp?: (index: number) => Promise<void>;
}

export interface Driver {
  readonly name: string;
  readonly caps: DriverCapabilities;
  /**
   * Checks the network's options and fills the driver's fields of the record
   * (EINVAL naming the option). Runs before anything is made.
   */
  validate(ctx: CnmContext, n: NetworkRecord, o: NetworkCreateOptions): Promise<void>;
  /** Makes the network's kernel objects; on failure undoes its own half-made steps. */
  createNetwork(ctx: CnmContext, n: NetworkRecord): Promise<void>;
  /** Removes the network's kernel objects (its endpoints are gone). */
  deleteNetwork(ctx: CnmContext, n: NetworkRecord): Promise<void>;
  /** After a restart: brings back what vanished meanwhile (a reboot, an `ip link del`). */
  restoreNetwork(ctx: CnmContext, n: NetworkRecord): Promise<void>;
  /**
   * Makes now what a lazily made network (the default bridge, made at its
   * first join) would make at its first join: `host-gateway` needs its
   * gateway address on the host, as Docker's docker0 always has it.
   */
  materialize?(ctx: CnmContext, n: NetworkRecord): Promise<void>;
  /** Before a join's pending record is written: names the host-side objects (so reconcile can find them). */
  prepareJoin?(ctx: CnmContext, n: NetworkRecord, ep: EndpointRecord): void;
  /**
   * Makes the endpoint's interface, named `ep.ifname`, inside the sandbox
   * (`ns`), attached on the host side. Undo steps go to `undo`.
   */
  join(ctx: CnmContext, n: NetworkRecord, ep: EndpointRecord, ns: Netns, undo: (() => Promise<void>)[]): Promise<JoinResult>;
  /** Removes what join made; `ns` is the sandbox's namespace (opened on demand). */
  leave(ctx: CnmContext, n: NetworkRecord, ep: EndpointRecord, ns: () => Promise<Netns>): Promise<void>;
  /**
   * After every leave, once the record says the endpoint is in no sandbox,
   * including a leave whose kernel work was skipped because the namespace
   * dies with its interfaces: network-wide bookkeeping (overlay: the last
   * one removes the data path).
   */
  afterLeave?(ctx: CnmContext, n: NetworkRecord, ep: EndpointRecord): Promise<void>;

  // Reconcile hooks: what reconcile must know about the driver's kernel objects.
  /** Undoes a join that a crash left half made. */
  rollbackJoin?(ctx: CnmContext, n: NetworkRecord, ep: EndpointRecord, k: KernelView): Promise<void>;
  /** False when a joined endpoint's kernel objects vanished (reconcile joins it again). */
  joinIntact?(n: NetworkRecord, ep: EndpointRecord, k: KernelView): boolean;
  /** Host links the network itself owns (its bridge), besides its endpoints' host ends. */
  networkLinks?(n: NetworkRecord): string[];
  /** The network's firewall rules, when its kernel objects exist (else none yet). */
  firewallRules?(ctx: CnmContext, n: NetworkRecord, k?: KernelView): NetworkRules | undefined;
  /**
   * Legacy links (caps.legacyLinks): makes the packet path match `links()`,
   * the links in effect on the network: with icc off only these pairs may
   * talk, on the target's exposed ports (libnetwork's bridge link.go).
   * `full`: after a restart, nothing is assumed of the kernel.
   */
  applyLinks?(ctx: CnmContext, n: NetworkRecord, links: () => ActiveLink[], o: { full?: boolean }): Promise<void>;
  /** The driver's entries in `network inspect`'s Options. */
  inspectOptions?(n: NetworkRecord): Record<string, string>;

  // Driver-managed addresses and global scope (overlay: the cluster store's IPAM).
  /**
   * Replaces the local subnet allocation (subnets.ts): the driver's own IPAM
   * picks and records the network's subnets (cluster-wide, for a global
   * network) and sets `n.scope`. Undone by releaseNetwork.
   */
  allocateNetwork?(ctx: CnmContext, n: NetworkRecord, o: NetworkCreateOptions): Promise<NetAlloc>;
  /**
   * Gives the network up in the driver's IPAM (cluster-wide: EBUSY while any
   * host has an endpoint). Called by `network rm` before deleteNetwork, and
   * to undo a failed create; not by a controller's destroy.
   */
  releaseNetwork?(ctx: CnmContext, n: NetworkRecord): Promise<void>;
  /** Replaces the local address allocation: fills `ep.ipv4`, `ep.ipv6`, `ep.mac` from the driver's IPAM. */
  allocateEndpoint?(ctx: CnmContext, n: NetworkRecord, ep: EndpointRecord, o: EndpointCreateOptions): Promise<void>;
  /** Gives the endpoint's addresses back to the driver's IPAM. */
  releaseEndpoint?(ctx: CnmContext, n: NetworkRecord, ep: EndpointRecord): Promise<void>;
  /**
   * Names the driver knows beyond this controller's endpoints (overlay: the
   * endpoints of other hosts, from the cluster store). The name service asks
   * it after its own records: `lookup` answers a name (endpoint name or alias,
   * with or without `.network`) with addresses, undefined when unknown;
   * `reverse` answers an address with names. Undefined: nothing to add.
   */
  names?(ctx: CnmContext, n: NetworkRecord): DriverNames | undefined;
  /**
   * With a cluster store (Controller.open({ cluster })): runs once after
   * restore, so a driver can follow the store (mirror global networks,
   * register its endpoints again). `detachCluster` runs at close.
   */
  attachCluster?(ctx: CnmContext): Promise<void>;
  detachCluster?(ctx: CnmContext, o: { destroy: boolean }): Promise<void>;
}

/** A driver's extra names (see Driver.names). */
export interface DriverNames {
  lookup(name: string, type: 'A' | 'AAAA'): string[] | undefined;
  reverse?(ip: string): string[] | undefined;
}

/** Docker's boolean option parsing (Go's strconv.ParseBool). */
/**
 * Docker's network-level options (dockerd's createNetwork reads them for
 * every driver; the create request's own fields win): drivers pass them by.
 */
export const ENABLE_IPV4 = 'com.docker.network.enable_ipv4';
export const ENABLE_IPV6 = 'com.docker.network.enable_ipv6';
export const isNetworkOption = (k: string): boolean => k === ENABLE_IPV4 || k === ENABLE_IPV6;

/** Go's strconv.ParseBool, which Docker's options and flags go through: undefined for what it refuses. */
export function goParseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

export function parseBoolOption(key: string, v: string): boolean {
  const b = goParseBool(v);
  if (b !== undefined) return b;
  // Docker's words (its parseErr over strconv.ParseBool).
  throw invalid(`failed to parse ${key} value: ${v} (strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax)`);
}

/** The verbs of a driver that makes no kernel objects (host, none): each does nothing. */
export const NO_KERNEL_OBJECTS: Pick<Driver, 'validate' | 'createNetwork' | 'deleteNetwork' | 'restoreNetwork' | 'join' | 'leave'> = {
  async validate() {},
  async createNetwork() {},
  async deleteNetwork() {},
  async restoreNetwork() {},
  async join() { return {}; },
  async leave() {},
};
