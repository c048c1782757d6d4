// The gateway address on the bridge (like `ip addr add 172.18.0.1/16 broadcast + dev br-X`).
import type { CnmContext } from '../../context';
import type { NetworkRecord } from '../../types';
import type { Undo } from './setup';

export async function setupIPv4(ctx: CnmContext, n: NetworkRecord, undo: Undo[]): Promise<void> {
  const v4 = ctx.ipam.get(n.id)?.v4;
  // Isolated: no gateway on the bridge, so no way out through it.
  if (!v4?.gateway || n.gatewayMode4 === 'isolated') return;
  const addrs = await ctx.rt.addr.list({ link: n.bridge!, family: 4 });
  if (addrs.some((x) => x.local === v4.gateway)) return;
  const cidr = v4.cidr(v4.gateway);
  await ctx.rt.addr.add(n.bridge!, { address: cidr, broadcast: '+' });
  undo.push(() => ctx.rt.addr.delete(n.bridge!, cidr));
}
