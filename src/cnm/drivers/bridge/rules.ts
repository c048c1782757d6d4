// What the firewall needs to know of a bridge network.
import type { CnmContext } from '../../context';
import type { NetworkRules } from '../../firewall';
import type { NetworkRecord } from '../../types';
import { HOST_IPV4 } from './options';

export function bridgeRules(ctx: CnmContext, n: NetworkRecord): NetworkRules {
  const a = ctx.ipam.get(n.id);
  return {
    id: n.id, bridge: n.bridge!,
    subnet4: a?.v4?.subnet ?? n.ipv4Subnet?.subnet, gateway4: a?.v4?.gateway ?? n.ipv4Subnet?.gateway,
    subnet6: a?.v6?.subnet ?? n.ipv6Subnet?.subnet,
    icc: n.icc ?? true, masquerade: (n.masquerade ?? true) && !n.internal, internal: n.internal,
    hostIpv4: n.options[HOST_IPV4], gatewayMode4: n.gatewayMode4, gatewayMode6: n.gatewayMode6,
  };
}
