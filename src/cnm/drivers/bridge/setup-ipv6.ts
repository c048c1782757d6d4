// The IPv6 gateway addresses (one per IPv6 subnet) and a link-local without DAD on the bridge.
import type { CnmContext } from '../../context';
import { linkLocalOf } from '../../mac';
import type { NetworkRecord } from '../../types';
import type { Undo } from './setup';

export async function setupIPv6(ctx: CnmContext, n: NetworkRecord, undo: Undo[]): Promise<void> {
  const v6 = ctx.ipam.get(n.id)?.v6;
  if (!v6) return;
  const addrs = await ctx.rt.addr.list({ link: n.bridge!, family: 6 });
  for (const s of v6) {
    if (!s.gateway || n.gatewayMode6 === 'isolated' || addrs.some((x) => x.local === s.gateway)) continue;
    const cidr = s.cidr(s.gateway);
    await ctx.rt.addr.add(n.bridge!, { address: cidr, flags: ['nodad'] });
    undo.push(() => ctx.rt.addr.delete(n.bridge!, cidr));
  }
  // Until the bridge has a link-local the kernel sends no neighbour
  // solicitation for forwarded packets, so published IPv6 ports stayed
  // unreachable for the first second or two: one without DAD, at once.
  const ll = linkLocalOf((await ctx.rt.link.get(n.bridge!)).address!);
  if (!addrs.some((x) => x.local === ll)) {
    await ctx.rt.link.set(n.bridge!, { addrGenMode: 'none' });
    await ctx.rt.addr.add(n.bridge!, { address: `${ll}/64`, flags: ['nodad'] });
  }
}
