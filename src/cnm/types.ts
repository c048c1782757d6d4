// Records the controller persists. Field names follow Docker's where Docker
// has one.
import type { GatewayMode } from './firewall';
import type { SubnetState } from './ipam';
import type { PortBinding, PortSpec } from './ports';

import type { DriverName } from './drivers';
export type { DriverName };

/**
 * One entry of Docker's IPAM.Config: a subnet of either family, its gateway
 * (default: the first usable address), the range addresses are handed out
 * from (default: the subnet) and auxiliary addresses (NAME: IP), reserved
 * and never handed out.
 */
export interface IpamSubnetConfig {
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  auxAddresses?: Record<string, string>;
}

export interface NetworkCreateOptions {
  name: string;
  driver?: DriverName;
  /**
   * Docker's IPAM.Config: several IPv4 and IPv6 subnets (an IPv6 one needs
   * `ipv6: true`). A family with no entry gets one picked, as without it.
   * Not together with the shorthands below.
   */
  ipam?: IpamSubnetConfig[];
  /** Shorthand of one IPv4 entry: "172.20.0.0/16"; picked from the address pools when omitted. */
  subnet?: string;
  /** null: no gateway, for a driver that needs none (macvlan: an outside router, or none). */
  gateway?: string | null;
  ipRange?: string;
  /** Enable IPv6 (a ULA /64 is picked unless an IPv6 subnet is given). */
  ipv6?: boolean;
  /** Shorthand of one IPv6 entry (implies ipv6). */
  subnet6?: string;
  gateway6?: string;
  /** No way out of the network (no masquerade, no forwarding to other interfaces). */
  internal?: boolean;
  /** Docker's driver options, e.g. com.docker.network.bridge.name, .enable_icc, .enable_ip_masquerade, .host_binding_ipv4, com.docker.network.driver.mtu; macvlan: parent, macvlan_mode. */
  options?: Record<string, string>;
  labels?: Record<string, string>;
}

export interface NetworkRecord {
  id: string;
  name: string;
  driver: DriverName;
  created: string;
  internal: boolean;
  ipv6: boolean;
  /** The subnets (IPAM.Config): IPv4 ones first, then IPv6, each family in config order. */
  subnets?: SubnetState[];
  /** @deprecated Before several subnets per network: the one of each family (read once by upgradeNetworkRecord, then moved to `subnets`). */
  ipv4Subnet?: SubnetState;
  ipv6Subnet?: SubnetState;
  options: Record<string, string>;
  labels: Record<string, string>;
  /** Default networks (bridge, host, none) cannot be removed. */
  builtin?: boolean;
  /** User-defined networks get name resolution; the default bridge does not. */
  dns: boolean;
  // bridge
  bridge?: string;
  /** The bridge's MAC (networks made by earlier versions: none, a random one each time it is made). */
  bridgeMac?: string;
  mtu?: number;
  icc?: boolean;
  masquerade?: boolean;
  hostBindingIpv4?: string;
  gatewayMode4?: GatewayMode;
  gatewayMode6?: GatewayMode;
  /** 'global': known to every controller of the cluster (overlay); absent: 'local'. */
  scope?: 'local' | 'global';
  // overlay
  vni?: number;
  // macvlan
  parent?: string;
  macvlanMode?: string;
  /** macvlan: the parent was made for the network (Docker's dm-ID dummy, or PARENT.VLAN), so it goes with it. */
  createdParent?: 'dummy' | 'vlan';
  /** Addresses last held by an endpoint with a given (not derived) MAC: the next holder announces itself. */
  customMacIps?: string[];
}

export type SandboxMode = 'own' | 'host' | 'adopted' | 'container';

export interface SandboxCreateOptions {
  id: string;
  /** Container name, for DNS (defaults to id). */
  name?: string;
  hostname?: string;
  /** Adopt an existing namespace (path like /proc/PID/ns/net or /run/netns/X, or a pid). */
  key?: string | number | { pid: number };
  /** Container mode: share another sandbox's namespace (like a pod). */
  joinSandbox?: string | { id: string };
  /** Host mode: the host's own namespace. */
  host?: boolean;
  /** `--dns`: name servers (with embedded DNS: where it forwards what it does not know). */
  dns?: string[];
  /** `--dns-search`: search domains (default: the host's; ['.'] for none). */
  dnsSearch?: string[];
  /** `--dns-option`: resolv.conf options (default: the host's). */
  dnsOptions?: string[];
  /** `--add-host`: 'NAME:IP' entries for the hosts file; IP may be 'host-gateway'. */
  extraHosts?: string[];
  /**
   * `--link`: 'NAME' or 'NAME:ALIAS', NAME another sandbox (name or id). On
   * the default bridge: hosts entries, `linkEnv()`, and with icc off the
   * only pairs that may talk; on a user-defined network: ALIAS resolves to
   * NAME through this sandbox's own resolver.
   */
  links?: string[];
}

/** A legacy link as recorded: the target sandbox (the namespace's owner) and the alias. */
export interface SandboxLink {
  target: string;
  alias: string;
}

export interface SandboxRecord {
  id: string;
  name: string;
  hostname: string;
  mode: SandboxMode;
  created: string;
  /** Name under /run/netns for own sandboxes. */
  netnsName?: string;
  /** Path of the namespace (own: /run/netns/X; adopted: the key). */
  netnsPath?: string;
  /** The sandbox whose namespace this one shares (container mode). */
  joinedTo?: string;
  hostsPath: string;
  resolvConfPath: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  extraHosts?: { name: string; ip: string }[];
  links?: SandboxLink[];
  /** Set while being created; a record still marked after a crash is rolled back. */
  pending?: boolean;
}

export interface EndpointCreateOptions {
  name: string;
  /** Static IPv4 (free, inside one of the network's subnets: that subnet is the endpoint's). */
  ip?: string;
  ip6?: string;
  mac?: string;
  aliases?: string[];
  ports?: (PortSpec | string)[];
  /** Docker's ExposedPorts ("5432", "53/udp"): what links and `publishAll` see; published ports count as exposed. */
  exposedPorts?: string[];
  /** Like `docker run -P`: every exposed port not in `ports` gets a free host port (ephemeral range). */
  publishAll?: boolean;
}

export interface EndpointRecord {
  id: string;
  name: string;
  networkId: string;
  created: string;
  mac?: string;
  ipv4?: string;
  ipv6?: string;
  aliases: string[];
  /** One binding per host address and family (a default mapping on an IPv6 network: 0.0.0.0 and ::). */
  ports: PortBinding[];
  /**
   * Set when `ports` are one per family. Records of the version before have
   * none: there a binding on 0.0.0.0 (or ::) stood for every family, and
   * the controller rewrites them when it opens (bindingsPerFamily in
   * ports.ts). A marker, because the old 0.0.0.0 and today's IPv4-only
   * 0.0.0.0 look alike.
   */
  portsPerFamily?: true;
  /** Exposed ports, as "PORT/proto", published ones not repeated. */
  exposedPorts?: string[];
  sandboxId?: string;
  /** Interface name inside the sandbox (eth0, eth1, ...). */
  ifname?: string;
  /** Host end of the veth. */
  hostIfname?: string;
  gatewayEndpoint?: boolean;
  pending?: boolean;
}
