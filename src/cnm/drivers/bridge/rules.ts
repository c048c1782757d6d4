// What the firewall needs to know of a bridge network.
import type { CnmContext } from '../../context';
import type { NetworkRules } from '../../firewall';
import { recordSubnets } from '../../subnets';
import type { NetworkRecord } from '../../types';
import { HOST_IPV4 } from './options';

export function bridgeRules(ctx: CnmContext, n: NetworkRecord): NetworkRules {
  // Every subnet of the network is its own (from the record when the allocator is not loaded).
  const subnets = (f: 4 | 6) => (ctx.ipam.get(n.id)?.family(f) ?? recordSubnets(n, f)).map((s) => s.subnet);
  return {
    id: n.id, bridge: n.bridge!,
    subnets4: subnets(4), subnets6: subnets(6),
    icc: n.icc ?? true, masquerade: (n.masquerade ?? true) && !n.internal, internal: n.internal,
    hostIpv4: n.options[HOST_IPV4], gatewayMode4: n.gatewayMode4, gatewayMode6: n.gatewayMode6,
  };
}
