// The network's filter and NAT rules, and route_localnet so published ports
// answer on the host's 127.0.0.1 without a userland proxy.
import type { CnmContext } from '../../context';
import type { NetworkRecord } from '../../types';
import { bridgeRules } from './rules';
import type { Undo } from './setup';

export async function setupFirewall(ctx: CnmContext, n: NetworkRecord, undo: Undo[]): Promise<void> {
  await ctx.rt.link.set(n.bridge!, { ipv4Conf: { route_localnet: 1 } });
  const rules = bridgeRules(ctx, n);
  await ctx.fw.addNetwork(rules);
  undo.push(() => ctx.fw.removeNetwork(rules));
}
