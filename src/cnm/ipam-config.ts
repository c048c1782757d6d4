// A network's IPAM configuration as one list, whichever way it was given:
// Docker's IPAM.Config (`ipam`), or the one-subnet-per-family shorthands
// (subnet, gateway, ipRange, subnet6, gateway6). Only shapes are checked
// here; addresses and overlaps when the subnets are made (subnets.ts).
import { invalid, invalidType } from './errors';
import { contains, overlaps, parsePrefix, type Prefix } from './ipam';
import type { NetworkCreateOptions } from './types';
import { checkFields } from './validate';

/** One subnet the network is to get. */
export interface SubnetRequest {
  family: 4 | 6;
  /** Absent: picked from the address pools (IPv4) or a ULA /64 (IPv6). */
  subnet?: string;
  /** null: none (macvlan's outside router may be absent). Absent: the first usable address. */
  gateway?: string | null;
  ipRange?: string;
  auxAddresses?: Record<string, string>;
  /** How the caller named each field, for errors ("ipam[1].gateway", "gateway6"). */
  names: { subnet: string; gateway: string; ipRange: string };
}

const FLAT = ['subnet', 'gateway', 'ipRange', 'subnet6', 'gateway6'] as const;
const ENTRY_FIELDS = { subnet: 'string', gateway: 'string', ipRange: 'string', auxAddresses: 'record' } as const;

/** Whether any IPAM configuration was given (drivers without IPAM refuse it). */
export function ipamGiven(o: NetworkCreateOptions): string[] {
  const given: string[] = FLAT.filter((k) => o[k] !== undefined);
  if (o.ipv6) given.push('ipv6');
  if (Array.isArray(o.ipam) ? o.ipam.length : o.ipam !== undefined) given.push('ipam');
  return given;
}

/**
 * The subnets to make, IPv4 ones first, each family in the order given; a
 * family with none gets one to be picked (IPv6 only with `ipv6`).
 */
export function subnetRequests(o: NetworkCreateOptions): SubnetRequest[] {
  const out = o.ipam !== undefined ? fromList(o) : fromShorthands(o);
  if (!out.some((r) => r.family === 4)) out.unshift({ family: 4, names: SHORT4 });
  if (o.ipv6 && !out.some((r) => r.family === 6)) out.push({ family: 6, names: SHORT6 });
  return [...out.filter((r) => r.family === 4), ...out.filter((r) => r.family === 6)];
}

const SHORT4 = { subnet: 'subnet', gateway: 'gateway', ipRange: 'ipRange' };
const SHORT6 = { subnet: 'subnet6', gateway: 'gateway6', ipRange: 'ipRange6' };
const entryNames = (where: string) => ({ subnet: `${where}.subnet`, gateway: `${where}.gateway`, ipRange: `${where}.ipRange` });

function fromList(o: NetworkCreateOptions): SubnetRequest[] {
  if (!Array.isArray(o.ipam)) throw invalidType('network options.ipam', 'a list of subnet configurations', o.ipam);
  const flat = FLAT.filter((k) => o[k] !== undefined);
  if (flat.length) throw invalid(`network options: give the subnets either as ipam or as ${FLAT.join('/')}, not both (${flat.join(', ')} given)`);
  return o.ipam.map((e, i) => {
    const where = `network options.ipam[${i}]`;
    checkFields(e, where, ENTRY_FIELDS);
    // Absent is absent; an empty string is not a way to say so (the daemon drops Go's empty fields).
    for (const k of ['subnet', 'gateway', 'ipRange'] as const) if (e[k] === '') throw invalid(`${where}.${k} must not be empty`);
    if (e.subnet === undefined) {
      const rest = (['ipRange', 'gateway', 'auxAddresses'] as const).filter((k) => e[k] !== undefined);
      // Docker: ip-range, gateway and aux addresses need the subnet they belong to.
      throw invalid(rest.length ? `${where}: ${rest.join(', ')} without a subnet` : `${where}: subnet is required`);
    }
    const prefix = parsePrefix(e.subnet, `${where}.subnet`);
    checkIpv6Subnet(prefix, e.subnet, `${where}.subnet`);
    const family = prefix.family;
    if (family === 6 && !o.ipv6) throw invalid(`${where}: invalid subnet ${e.subnet}: IPv6 has not been enabled for this network (ipv6: true)`);
    const r: SubnetRequest = { family, subnet: e.subnet, names: entryNames(where) };
    if (e.gateway !== undefined) r.gateway = e.gateway;
    if (e.ipRange !== undefined) r.ipRange = e.ipRange;
    if (e.auxAddresses !== undefined) r.auxAddresses = Object.fromEntries(Object.entries(e.auxAddresses));
    return r;
  });
}

const LINK_LOCAL = parsePrefix('fe80::/64');
const V4_MAPPED = parsePrefix('::ffff:0:0/96');
const MULTICAST = parsePrefix('ff00::/8');

/** An IPv6 subnet as Docker's validateIPv6Subnet takes one: not IPv4-mapped, not multicast, clear of the link-local /64. */
function checkIpv6Subnet(p: Prefix, text: string, where: string): void {
  if (p.family !== 6) return;
  if (overlaps(p, V4_MAPPED) && p.len >= 96) throw invalid(`${where}: '${text}' is not a valid IPv6 subnet`);
  // (As Docker: the subnet's address multicast; fe80::/64 itself may be a pool, only others overlapping it clash.)
  if (contains(MULTICAST, p.net)) throw invalid(`${where}: multicast subnet '${text}' is not allowed`);
  if (overlaps(p, LINK_LOCAL) && !(p.net === LINK_LOCAL.net && p.len === LINK_LOCAL.len)) throw invalid(`${where}: '${text}' clashes with the Link-Local prefix 'fe80::/64'`);
}

function fromShorthands(o: NetworkCreateOptions): SubnetRequest[] {
  const out: SubnetRequest[] = [{ family: 4, subnet: o.subnet, gateway: o.gateway, ipRange: o.ipRange, names: SHORT4 }];
  if (o.subnet !== undefined && parsePrefix(o.subnet).family !== 4) throw invalid(`subnet ${o.subnet} is not IPv4 (use subnet6, or ipam for a list of subnets)`);
  if (o.subnet6 !== undefined && o.ipv6 === false) throw invalid('subnet6 needs an IPv6 network (ipv6 is false)');
  if (o.ipv6 || o.subnet6 !== undefined) {
    if (o.subnet6 !== undefined) {
      const p6 = parsePrefix(o.subnet6, 'subnet6');
      if (p6.family !== 6) throw invalid(`subnet6 ${o.subnet6} is not IPv6`);
      checkIpv6Subnet(p6, o.subnet6, 'subnet6');
    }
    out.push({ family: 6, subnet: o.subnet6, gateway: o.gateway6, names: SHORT6 });
  } else if (o.gateway6 !== undefined) {
    throw invalid('gateway6 needs an IPv6 network (ipv6 or subnet6)');
  }
  return out;
}
