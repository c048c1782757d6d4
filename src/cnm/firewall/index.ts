// The packet-path part of the CNM layer: what drivers need from a firewall
// backend (nftables, or none), like netavark's firewall driver trait.
export interface NetworkRules {
  id: string;
  bridge: string;
  /** The network's subnets (its masquerade and hairpin rules match each). */
  subnets4: string[];
  subnets6: string[];
  icc: boolean;
  masquerade: boolean;
  internal: boolean;
  /** SNAT source instead of masquerade (com.docker.network.host_ipv4). */
  hostIpv4?: string;
  /** Docker's gateway_mode_ipv4 / _ipv6 (default nat). */
  gatewayMode4?: GatewayMode;
  gatewayMode6?: GatewayMode;
}

/**
 * How a bridge network meets the outside, per family, as Docker 28's
 * gateway modes: `nat` (masquerade out, DNAT for published ports, nothing
 * else reachable from outside), `nat-unprotected` (the same, but every
 * container port reachable by routing), `routed` (no NAT: published ports
 * reachable directly on the container's address, through a route to this
 * host), `isolated` (no gateway address, no way in or out).
 */
export type GatewayMode = 'nat' | 'nat-unprotected' | 'routed' | 'isolated';
export const GATEWAY_MODES: GatewayMode[] = ['nat', 'nat-unprotected', 'routed', 'isolated'];

export interface PortRule {
  /** Endpoint id that owns the mapping. */
  owner: string;
  proto: 'tcp' | 'udp' | 'sctp';
  /** '0.0.0.0' / '::' for every address of the container address's family. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  /** False in routed mode: the container port is opened, nothing is translated. */
  dnat?: boolean;
}

/**
 * One port of a legacy link with icc off (Docker's `-A DOCKER -i br -o br
 * -s PARENT -d CHILD --dport PORT -j ACCEPT` and its `--sport` reply rule).
 */
export interface LinkRule {
  parentIp: string;
  childIp: string;
  /** Host ends (bridge ports) of the two endpoints. */
  parentIf: string;
  childIf: string;
  proto: 'tcp' | 'udp' | 'sctp';
  port: number;
}

export interface Firewall {
  addNetwork(n: NetworkRules): Promise<void>;
  removeNetwork(n: NetworkRules): Promise<void>;
  addPorts(rules: PortRule[]): Promise<void>;
  removePorts(rules: PortRule[]): Promise<void>;
  /**
   * Makes the network's link rules `rules` (those of other networks stay):
   * the new ones go in, then `between` runs (the driver opens the linked
   * bridge ports), then the old ones go, so no opened port is ever unfiltered.
   */
  setLinks(networkId: string, rules: LinkRule[], between: () => Promise<void>): Promise<void>;
  /** Removes our objects the controller does not know (after a crash). */
  reconcile(networks: NetworkRules[], ports: PortRule[]): Promise<void>;
  /** Text of our ruleset, for people (demo, CLI). */
  describe(): Promise<string>;
  /** Deletes every object of ours. */
  destroy(): Promise<void>;
  close(): void;
}

/**
 * No firewall (`firewall: null`): networks and ports are plumbed, nothing is
 * filtered or translated, like netavark's `none` firewall driver.
 */
export class NoopFirewall implements Firewall {
  async addNetwork(): Promise<void> {}
  async removeNetwork(): Promise<void> {}
  async addPorts(): Promise<void> {}
  async removePorts(): Promise<void> {}
  async setLinks(_id: string, _rules: LinkRule[], between: () => Promise<void>): Promise<void> { await between(); }
  async reconcile(): Promise<void> {}
  async describe(): Promise<string> { return ''; }
  async destroy(): Promise<void> {}
  close(): void {}
}
