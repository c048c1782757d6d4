// Configuring an endpoint's interface inside its sandbox: addresses, up and
// the default route (like `ip addr add`, `ip link set up`, `ip route replace
// default via` run in the namespace).
import type { Netns } from '../netns';
import { Rtnl } from '../rtnl';
import type { LinkSetRequest } from '../rtnl/link';
import { settled, type CnmContext, type NetAlloc } from './context';
import type { JoinResult } from './driver';
import type { EndpointRecord, NetworkRecord } from './types';

/** The default routes through a network's gateways, on `dev` (none through an isolated family's). */
function defaultRoutes(rt: Rtnl, n: NetworkRecord | undefined, a: NetAlloc, dev: number | string): Promise<void>[] {
  const out: Promise<void>[] = [];
  if (a.v4?.gateway && n?.gatewayMode4 !== 'isolated') out.push(rt.route.replace({ dst: 'default', gateway: a.v4.gateway, dev }));
  if (a.v6?.gateway && n?.gatewayMode6 !== 'isolated') out.push(rt.route.replace({ dst: 'default', family: 6, gateway: a.v6.gateway, dev }));
  return out;
}

/**
 * The requests go out together on one socket (the kernel runs them in
 * order), so this waits for two round trips, not one per step: the
 * interface's index (RTM_NEWADDR takes no name), overlapped with the
 * driver's host-side work, then everything else.
 */
export async function configureInterface(ctx: CnmContext, ep: EndpointRecord, ns: Netns, join: JoinResult): Promise<void> {
  const a = ctx.ipam.get(ep.networkId)!;
  // Adopts the socket made with a fresh namespace, if it is still there.
  const rt = await Rtnl.open({ netns: ns });
  try {
    const [link] = await settled([rt.link.get(ep.ifname!), join.ready]);
    const ops: Promise<void>[] = [];
    // Before up: IPv6 link-local only on IPv6 networks (Docker disables
    // IPv6 otherwise); arp_notify, so coming up with the address announces it.
    const conf: LinkSetRequest = { ipv4Conf: { arp_notify: 1 } };
    if (!ep.ipv6) conf.addrGenMode = 'none';
    ops.push(rt.link.set(link.index, conf));
    if (ep.ipv4) ops.push(rt.addr.add(link.index, a.v4!.cidr(ep.ipv4)));
    if (ep.ipv6) ops.push(rt.addr.add(link.index, { address: a.v6!.cidr(ep.ipv6), flags: ['nodad'] }));
    ops.push(rt.link.set(link.index, { up: true }));
    if (ep.gatewayEndpoint) ops.push(...defaultRoutes(rt, ctx.store.get<NetworkRecord>('network', ep.networkId), a, link.index));
    await settled(ops);
    await join.afterUp?.(link.index);
  } finally {
    rt.close();
  }
}

/** Moves the sandbox's default route to `ep`'s network (when the endpoint that had it leaves). */
export async function setDefaultRoute(ctx: CnmContext, ep: EndpointRecord, ns: Netns): Promise<void> {
  const rt = await Rtnl.open({ netns: ns });
  try {
    await settled(defaultRoutes(rt, ctx.store.get<NetworkRecord>('network', ep.networkId), ctx.ipam.get(ep.networkId)!, ep.ifname!));
  } finally {
    rt.close();
  }
}
