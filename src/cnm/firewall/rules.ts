// What the firewall needs of an endpoint's published ports.
import type { EndpointRecord, NetworkRecord } from '../types';
import { isAnyAddress } from '../ports';
import type { PortRule } from './index';

/**
 * A mapping on every address ('0.0.0.0' or '::', as Docker's default)
 * reaches the container over each family it has; one on a host IP, over
 * that IP's family.
 */
export function portRules(e: EndpointRecord, n?: NetworkRecord): PortRule[] {
  const out: PortRule[] = [];
  // Routed: the container port is reachable as it is; nothing to translate.
  const dnat4 = n?.gatewayMode4 !== 'routed';
  const dnat6 = n?.gatewayMode6 !== 'routed';
  for (const p of e.ports) {
    const any = isAnyAddress(p.hostIp);
    const v6 = p.hostIp.includes(':');
    const base = { owner: e.id, proto: p.proto, hostPort: p.hostPort, containerPort: p.containerPort };
    if (e.ipv4 && (any || !v6)) out.push({ ...base, hostIp: any ? '0.0.0.0' : p.hostIp, containerIp: e.ipv4, ...(dnat4 ? {} : { dnat: false }) });
    if (e.ipv6 && (any || v6)) out.push({ ...base, hostIp: any ? '::' : p.hostIp, containerIp: e.ipv6, ...(dnat6 ? {} : { dnat: false }) });
  }
  return out;
}

/** Whether any of a network's families translates host ports (not all routed): then they are held. */
export const translatesHostPorts = (n: NetworkRecord, ipv6: boolean): boolean => n.gatewayMode4 !== 'routed' || (ipv6 && n.gatewayMode6 !== 'routed');
