// Configuring an endpoint's interface inside its sandbox: addresses, up and
// the default route (like `ip addr add`, `ip link set up`, `ip route replace
// default via` run in the namespace).
import type { Netns } from '../netns';
import { Rtnl } from '../rtnl';
import type { LinkSetRequest } from '../rtnl/link';
import { settled, type CnmContext, type NetAlloc } from './context';
import type { JoinResult } from './driver';
import type { EndpointRecord, NetworkRecord } from './types';

/**
 * The default routes on `dev`, through the gateway of the subnet each of the
 * endpoint's addresses is in (none through an isolated family's).
 */
function defaultRoutes(rt: Rtnl, n: NetworkRecord | undefined, a: NetAlloc, ep: EndpointRecord, dev: number | string): Promise<void>[] {
  const out: Promise<void>[] = [];
  const gw4 = ep.ipv4 && a.gatewayOf(ep.ipv4);
  const gw6 = ep.ipv6 && a.gatewayOf(ep.ipv6);
  if (gw4 && n?.gatewayMode4 !== 'isolated') out.push(rt.route.replace({ dst: 'default', gateway: gw4, dev }));
  if (gw6 && n?.gatewayMode6 !== 'isolated') out.push(rt.route.replace({ dst: 'default', family: 6, gateway: gw6, dev }));
  return out;
}

/**
 * Routes to the network's other subnets through the gateway of the
 * endpoint's own (the bridge routes between them), so neighbours on another
 * subnet of the network are reached whichever network has the default route.
 * None on a network with one subnet per family.
 */
function otherSubnetRoutes(rt: Rtnl, n: NetworkRecord | undefined, a: NetAlloc, ep: EndpointRecord, dev: number): Promise<void>[] {
  const out: Promise<void>[] = [];
  for (const [ip, f, mode] of [[ep.ipv4, 4, n?.gatewayMode4], [ep.ipv6, 6, n?.gatewayMode6]] as const) {
    const list = a.family(f);
    if (!ip || list.length < 2 || mode === 'isolated') continue;
    const own = a.subnetOf(ip);
    if (!own?.gateway) continue;
    for (const s of list) if (s !== own) out.push(rt.route.replace({ dst: s.subnet, family: f, gateway: own.gateway, dev }));
  }
  return out;
}

/** The index the kernel gives the first link made in a new namespace (lo is 1). */
export const FIRST_IFINDEX = 2;

/**
 * The interface's index (RTM_NEWADDR takes no name) and its pre-up settings
 * in one request when the index can be guessed: setting the interface's own
 * name on that index is a no-op if it is ours and fails otherwise (the name
 * is taken by ours; a renamed device that is up is EBUSY; no device,
 * ENODEV), before anything else in the request applies. That saves
 * dumping the whole link back (RTM_GETLINK) on every first join.
 */
async function indexAndConf(rt: Rtnl, ifname: string, conf: LinkSetRequest, guess: number | undefined): Promise<{ index: number; confDone: boolean }> {
  if (guess !== undefined) {
    try {
      await rt.link.set(guess, { ...conf, name: ifname });
      return { index: guess, confDone: true };
    } catch { /* not ours: look it up */ }
  }
  return { index: (await rt.link.get(ifname)).index, confDone: false };
}

/**
 * The requests go out together on one socket (the kernel runs them in
 * order), so this waits for two round trips, not one per step: the
 * interface's index and pre-up settings, overlapped with the driver's
 * host-side work, then everything else. `guessIndex`: the index the
 * interface likely has (FIRST_IFINDEX in a fresh namespace); checked.
 */
export async function configureInterface(ctx: CnmContext, ep: EndpointRecord, ns: Netns, join: JoinResult, guessIndex?: number): Promise<void> {
  const a = ctx.ipam.get(ep.networkId)!;
  // Adopts the socket made with a fresh namespace, if it is still there.
  const rt = await Rtnl.open({ netns: ns });
  try {
    // Before up: IPv6 link-local only on IPv6 networks (Docker disables
    // IPv6 otherwise); arp_notify, so coming up with the address announces it.
    const conf: LinkSetRequest = { ipv4Conf: { arp_notify: 1 } };
    if (!ep.ipv6) conf.addrGenMode = 'none';
    const [{ index, confDone }] = await settled([indexAndConf(rt, ep.ifname!, conf, guessIndex), join.ready]);
    const ops: Promise<void>[] = [];
    if (!confDone) ops.push(rt.link.set(index, conf));
    if (ep.ipv4) ops.push(rt.addr.add(index, a.cidr(ep.ipv4)));
    if (ep.ipv6) ops.push(rt.addr.add(index, { address: a.cidr(ep.ipv6), flags: ['nodad'] }));
    ops.push(rt.link.set(index, { up: true }));
    const n = ctx.store.get<NetworkRecord>('network', ep.networkId);
    ops.push(...otherSubnetRoutes(rt, n, a, ep, index));
    if (ep.gatewayEndpoint) ops.push(...defaultRoutes(rt, n, a, ep, index));
    await settled(ops);
    await join.afterUp?.(index);
  } finally {
    rt.close();
  }
}

/** Moves the sandbox's default route to `ep`'s network (when the endpoint that had it leaves). */
export async function setDefaultRoute(ctx: CnmContext, ep: EndpointRecord, ns: Netns): Promise<void> {
  const rt = await Rtnl.open({ netns: ns });
  try {
    await settled(defaultRoutes(rt, ctx.store.get<NetworkRecord>('network', ep.networkId), ctx.ipam.get(ep.networkId)!, ep, ep.ifname!));
  } finally {
    rt.close();
  }
}
