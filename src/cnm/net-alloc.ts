// A network's subnets, as libnetwork keeps them (ipamV4Info, ipamV6Info):
// per family, in the order they were given. An endpoint gets one address
// of each family: a static one from the subnet that contains it, otherwise
// the first subnet with a free address in its range hands one out.
import { parseIp } from '../util/ip';
import { AddressesExhaustedError, invalid } from './errors';
import { SubnetAllocator, type SubnetState } from './ipam';

export class NetAlloc {
  /** The IPv4 subnets, in config order; absent (never empty) when there is none. */
  readonly v4?: SubnetAllocator[];
  /** The IPv6 subnets, likewise. */
  readonly v6?: SubnetAllocator[];

  /** `all`: IPv4 subnets first, then IPv6 ones, each family in config order. */
  constructor(readonly all: SubnetAllocator[] = []) {
    const v4 = all.filter((s) => s.family === 4);
    const v6 = all.filter((s) => s.family === 6);
    if (v4.length) this.v4 = v4;
    if (v6.length) this.v6 = v6;
    this.all = [...v4, ...v6];
  }

  static fromStates(states: SubnetState[]): NetAlloc {
    return new NetAlloc(states.map((s) => new SubnetAllocator(s)));
  }

  family(f: 4 | 6): SubnetAllocator[] { return (f === 4 ? this.v4 : this.v6) ?? []; }

  /** The subnet that contains `addr` (any family), if any. */
  subnetOf(addr: string): SubnetAllocator | undefined {
    // Asked several times per join for the same address; the subnets never change.
    if (this.owners.has(addr)) return this.owners.get(addr);
    const s = this.family(addr.includes(':') ? 6 : 4).find((x) => x.holds(addr));
    if (this.owners.size >= 4096) this.owners.clear();
    this.owners.set(addr, s);
    return s;
  }
  private owners = new Map<string, SubnetAllocator | undefined>();

  /**
   * A static address of family `f` (Docker's --ip / --ip6): from the subnet
   * containing it. EINVAL when it is of another family or in none of the
   * network's subnets (named); EADDRINUSE when taken or auxiliary.
   */
  reserve(f: 4 | 6, addr: string, what: string, network: string): string {
    const c = parseIp(addr, what);
    if (c.family !== f) throw invalid(`${what} ${addr} is not IPv${f}`);
    const list = this.family(f);
    if (!list.length) throw invalid(`network ${network} has no IPv${f} subnet`);
    const s = list.find((x) => x.holds(addr));
    if (!s) throw invalid(`${what} ${addr} is outside every IPv${f} subnet of network ${network} (${list.map((x) => x.subnet).join(', ')})`);
    return s.reserve(addr, what);
  }

  /** An address of family `f` from the first subnet, in config order, with one free (ENOSPC when all are full). */
  allocate(f: 4 | 6, network: string): string {
    const list = this.family(f);
    for (const s of list) {
      const a = s.tryAllocate();
      if (a !== undefined) return a;
    }
    throw new AddressesExhaustedError(`no free IPv${f} address left on network ${network} (${list.map((x) => prefixOrRange(x)).join(', ')})`);
  }

  isUsed(addr: string): boolean { return !!this.subnetOf(addr)?.isUsed(addr); }

  /** Gives an address back to its subnet (one in none, or not in use, is left alone). */
  release(addr: string): void {
    const s = this.subnetOf(addr);
    if (s?.isUsed(addr)) s.release(addr);
  }

  /** Marks an address in use again (restore, a driver's own IPAM); one already used or in no subnet is left alone. */
  restore(addr: string): void {
    const s = this.subnetOf(addr);
    if (s && !s.isUsed(addr)) s.reserve(addr);
  }

  /** "10.0.1.5/24": the address with the prefix length of its subnet. */
  cidr(addr: string): string {
    const s = this.subnetOf(addr);
    if (!s) throw invalid(`address ${addr} is in none of the network's subnets`);
    return s.cidr(addr);
  }

  /** The gateway of the subnet `addr` is in (the next hop of a sandbox's default route). */
  gatewayOf(addr: string): string | undefined { return this.subnetOf(addr)?.gateway; }

  /** What the network record keeps: each subnet with its gateway marked used (endpoints' addresses are theirs). */
  states(): SubnetState[] {
    return this.all.map((x) => ({ ...x.state(), used: x.gateway ? [x.gateway] : [] }));
  }
}

const prefixOrRange = (s: SubnetAllocator) => s.state().range ?? s.subnet;
