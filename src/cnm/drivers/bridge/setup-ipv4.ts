// The gateway addresses on the bridge, one per IPv4 subnet (like `ip addr add 172.18.0.1/16 broadcast + dev br-X`).
import type { CnmContext } from '../../context';
import type { NetworkRecord } from '../../types';
import type { Undo } from './setup';

export async function setupIPv4(ctx: CnmContext, n: NetworkRecord, undo: Undo[]): Promise<void> {
  // Isolated: no gateway on the bridge, so no way out through it.
  if (n.gatewayMode4 === 'isolated') return;
  const subnets = (ctx.ipam.get(n.id)?.v4 ?? []).filter((s) => s.gateway);
  if (!subnets.length) return;
  const addrs = await ctx.rt.addr.list({ link: n.bridge!, family: 4 });
  for (const s of subnets) {
    if (addrs.some((x) => x.local === s.gateway)) continue;
    const cidr = s.cidr(s.gateway!);
    await ctx.rt.addr.add(n.bridge!, { address: cidr, broadcast: '+' });
    undo.push(() => ctx.rt.addr.delete(n.bridge!, cidr));
  }
}
