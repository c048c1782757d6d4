// Which subnets a new network gets, as Docker's IPAM picks them: the given
// ones if they overlap no other network, else the first free one of the
// address pools that overlaps neither another network nor (for drivers that
// route through the host) the host's routes and name servers.
import * as fs from 'fs';
import type { CnmContext } from './context';
import type { DriverCapabilities } from './driver';
import { hostNameservers } from './dns';
import { SubnetOverlapError, invalid } from './errors';
import { DEFAULT_POOLS, Prefix, SubnetAllocator, overlaps, parsePrefix, pickSubnet, prefixText, toBig, ulaSubnet, type SubnetState } from './ipam';
import { ipamGiven, subnetRequests } from './ipam-config';
import { NetAlloc } from './net-alloc';
import type { NetworkCreateOptions, NetworkRecord } from './types';

const KERNEL_IPV6 = fs.existsSync('/proc/sys/net/ipv6');

/** A network record's subnets (of one family, or all). */
export function recordSubnets(n: NetworkRecord, family?: 4 | 6): SubnetState[] {
  const all = n.subnets ?? [];
  return family === undefined ? all : all.filter((s) => (s.subnet.includes(':') ? 6 : 4) === family);
}

function takenSubnets(ctx: CnmContext): Prefix[] {
  return ctx.store.all<NetworkRecord>('network').flatMap((n) => recordSubnets(n).map((s) => parsePrefix(s.subnet)));
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
  if (clash) throw new SubnetOverlapError(`${what} ${text} overlaps with another network (${prefixText(clash)})`, text, prefixText(clash));
}

/**
 * The new network's subnets and gateways, in config order (nothing is
 * recorded yet). Given subnets must overlap neither each other (EINVAL) nor
 * another network (EBUSY); picked ones avoid both.
 */
export async function allocateSubnets(ctx: CnmContext, rec: NetworkRecord, o: NetworkCreateOptions, caps: DriverCapabilities): Promise<NetAlloc> {
  const ipam = caps.ipam;
  if (!ipam) {
    const given = ipamGiven(o);
    if (given.length) throw invalid(`the ${rec.driver} driver takes no IPAM configuration (${given.join(', ')})`);
    return new NetAlloc();
  }
  const requests = subnetRequests(o);
  const taken = takenSubnets(ctx);
  const mine: { p: Prefix; name: string }[] = [];
  const out: SubnetAllocator[] = [];
  let host: Prefix[] | undefined;
  for (const r of requests) {
    if (r.family === 6) {
      if (!KERNEL_IPV6) throw invalid('IPv6 is disabled in this kernel (ipv6.disable=1): no IPv6 networks');
      rec.ipv6 = true;
    }
    const avoid = [...taken, ...mine.map((m) => m.p)];
    let subnet = r.subnet;
    if (subnet === undefined && r.family === 4) {
      host ??= ipam.avoidHostRoutes ? await hostPrefixes(ctx) : [];
      subnet = pickSubnet(ctx.opts.pools ?? DEFAULT_POOLS, [...avoid, ...host]);
    }
    subnet ??= ulaSubnet(ctx.hostId, avoid);
    const p = parsePrefix(subnet, r.names.subnet);
    const twin = mine.find((m) => overlaps(m.p, p));
    if (twin) throw invalid(`${r.names.subnet} ${subnet} overlaps ${twin.name} ${prefixText(twin.p)} of the same network`);
    checkFree(taken, p, r.names.subnet, subnet);
    mine.push({ p, name: r.names.subnet });
    const s = new SubnetAllocator({ subnet, range: r.ipRange, used: [], ...(r.subnet === undefined ? { picked: true as const } : {}) });
    // An outside router may be given, or none (gateway: null) where the driver needs none.
    if (r.gateway === null && ipam.gateway === 'required') throw invalid(`${r.names.gateway}: the ${rec.driver} driver needs a gateway (null means none)`);
    if (r.gateway) s.gateway = s.reserve(r.gateway, r.names.gateway);
    else if (ipam.gateway === 'required' || r.gateway === undefined) {
      s.gateway = s.allocate();
      if (r.subnet !== undefined) s.gatewayPicked = true;
    }
    for (const [name, addr] of Object.entries(r.auxAddresses ?? {})) s.reserveAux(name, addr);
    out.push(s);
  }
  return new NetAlloc(out);
}
