// What the firewall needs of an endpoint's published ports.
import type { EndpointRecord, NetworkRecord } from '../types';
import type { PortBinding } from '../ports';
import type { PortRule } from './index';

/**
 * Each binding reaches the container's address of its host address's
 * family (bindings are one per family: a default mapping is one on 0.0.0.0
 * and one on ::, see hostAddresses in ../ports).
 */
export function portRules(e: EndpointRecord, n?: NetworkRecord): PortRule[] {
  const out: PortRule[] = [];
  for (const p of e.ports) {
    const v6 = p.hostIp.includes(':');
    const containerIp = v6 ? e.ipv6 : e.ipv4;
    if (!containerIp) continue;
    // Routed: the container port is reachable as it is; nothing to translate.
    const dnat = n ? holdsHostPort(n, p) : true;
    out.push({ owner: e.id, proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort, containerIp, containerPort: p.containerPort, ...(dnat ? {} : { dnat: false }) });
  }
  return out;
}

/** Whether a binding's host port is translated (its family's gateway mode is not routed): then it is held. */
export const holdsHostPort = (n: NetworkRecord, b: PortBinding): boolean => (b.hostIp.includes(':') ? n.gatewayMode6 : n.gatewayMode4) !== 'routed';
