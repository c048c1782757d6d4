// Which subnets a new network gets, as Docker's IPAM picks them: the given
// one if it overlaps no other network, else the first free one of the
// address pools that overlaps neither another network nor (for drivers that
// route through the host) the host's routes and name servers.
import * as fs from 'fs';
import type { CnmContext, NetAlloc } from './context';
import type { DriverCapabilities } from './driver';
import { hostNameservers } from './dns';
import { busy, invalid } from './errors';
import { DEFAULT_POOLS, Prefix, SubnetAllocator, overlaps, parsePrefix, pickSubnet, prefixText, toBig, ulaSubnet } from './ipam';
import type { NetworkCreateOptions, NetworkRecord } from './types';

const KERNEL_IPV6 = fs.existsSync('/proc/sys/net/ipv6');

function takenSubnets(ctx: CnmContext): Prefix[] {
  const taken: Prefix[] = [];
  for (const n of ctx.store.all<NetworkRecord>('network')) {
    if (n.ipv4Subnet) taken.push(parsePrefix(n.ipv4Subnet.subnet));
    if (n.ipv6Subnet) taken.push(parsePrefix(n.ipv6Subnet.subnet));
  }
  return taken;
}

/** On-link routes and name servers of the host: subnets there are skipped. */
async function hostPrefixes(ctx: CnmContext): Promise<Prefix[]> {
  const out: Prefix[] = [];
  for (const r of await ctx.rt.route.list({ table: 'all' })) {
    if (r.dst === 'default' || r.type !== 'unicast') continue;
    const [a, len] = r.dst.split('/');
    const host = BigInt((r.family === 4 ? 32 : 128) - Number(len));
    out.push({ family: r.family, net: (toBig(a, r.family) >> host) << host, len: Number(len) });
  }
  for (const ns of hostNameservers()) {
    const fam = ns.includes(':') ? 6 : 4;
    out.push({ family: fam, net: toBig(ns, fam), len: fam === 4 ? 32 : 128 });
  }
  return out;
}

function checkFree(taken: Prefix[], p: Prefix, what: string, text: string): void {
  const clash = taken.find((t) => overlaps(t, p));
  if (clash) throw busy(`${what} ${text} overlaps with another network (${prefixText(clash)})`);
}

/** The new network's subnets and gateways (nothing is recorded yet). */
export async function allocateSubnets(ctx: CnmContext, rec: NetworkRecord, o: NetworkCreateOptions, caps: DriverCapabilities): Promise<NetAlloc> {
  const ipam = caps.ipam;
  if (!ipam) {
    const given = (['subnet', 'gateway', 'ipRange', 'ipv6', 'subnet6', 'gateway6'] as const).filter((k) => o[k] !== undefined && o[k] !== false);
    if (given.length) throw invalid(`the ${rec.driver} driver takes no IPAM configuration (${given.join(', ')})`);
    return {};
  }
  const alloc: NetAlloc = {};
  const taken = takenSubnets(ctx);
  let subnet = o.subnet;
  if (subnet !== undefined) {
    const p = parsePrefix(subnet);
    if (p.family !== 4) throw invalid(`subnet ${subnet} is not IPv4 (use subnet6)`);
    checkFree(taken, p, 'subnet', subnet);
  } else {
    subnet = pickSubnet(ctx.opts.pools ?? DEFAULT_POOLS, [...taken, ...(ipam.avoidHostRoutes ? await hostPrefixes(ctx) : [])]);
  }
  alloc.v4 = new SubnetAllocator({ subnet, range: o.ipRange, used: [] });
  // An outside router may be given, or none (gateway: null).
  if (o.gateway) alloc.v4.gateway = alloc.v4.reserve(o.gateway, 'gateway');
  else if (ipam.gateway === 'required' || o.gateway === undefined) alloc.v4.gateway = alloc.v4.allocate();
  if (o.ipv6 || o.subnet6) {
    if (!KERNEL_IPV6) throw invalid('IPv6 is disabled in this kernel (ipv6.disable=1): no IPv6 networks');
    rec.ipv6 = true;
    const s6 = o.subnet6 ?? ulaSubnet(rec.id, taken);
    const p6 = parsePrefix(s6);
    if (p6.family !== 6) throw invalid(`subnet6 ${s6} is not IPv6`);
    checkFree(taken, p6, 'subnet6', s6);
    alloc.v6 = new SubnetAllocator({ subnet: s6, used: [] });
    alloc.v6.gateway = o.gateway6 ? alloc.v6.reserve(o.gateway6, 'gateway6') : alloc.v6.allocate();
  } else if (o.gateway6 !== undefined) {
    throw invalid('gateway6 needs an IPv6 network (ipv6 or subnet6)');
  }
  return alloc;
}
