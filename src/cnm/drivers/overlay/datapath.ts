// The overlay driver's data path on one host, as Docker's overlay builds
// it: per network a bridge and a VXLAN device (VNI, UDP 4789, nolearning,
// local = the advertise address, MTU 50 below the underlay's) as its port,
// and a static peer table for every endpoint on other hosts.
//
// Where the bridge lives: in the host's namespace, holding the network's
// gateway address, rather than libnetwork's per-network namespace with br0
// and vxlan0. Why:
// - the CNM layer's bridge machinery (ports, the embedded DNS server on the
//   gateway address, nftables rules keyed by bridge name, reconciliation by
//   link group) works on it unchanged; in a separate namespace every one of
//   these would need a second form;
// - the gateway is the same address on every host and answers locally only
//   (broadcasts are not flooded into the tunnel: the VXLAN device has no
//   all-zeros FDB entry), so each host is its own containers' gateway and
//   outbound traffic can leave through the host without a second
//   (docker_gwbridge-style) interface if the driver wants that;
// - libnetwork needed the namespace to keep overlay subnets out of the
//   host's routing table; the price here is that the host itself cannot talk
//   to containers on *other* hosts (their replies go to their own host's
//   gateway), which Docker's overlay does not allow either.
//
// Neighbour entries go on the bridge (not the VXLAN device), with
// `neigh_suppress` on the VXLAN bridge port: the bridge then answers the
// containers' ARP/ND requests for remote endpoints itself from those
// entries (br_do_proxy_suppress_arp), and never sends them into the tunnel.
// On the VXLAN device they would only serve with the device's `proxy` flag,
// which this library's vxlan options do not set. Each remote endpoint thus
// costs, like `ip neigh replace IP lladdr MAC dev BR nud permanent`,
// `bridge fdb replace MAC dev VX master static` (the bridge forwards the MAC
// to the tunnel port instead of flooding) and `bridge fdb replace MAC dev VX
// self dst VTEP` (the tunnel endpoint to send to); no learning anywhere.
import * as crypto from 'crypto';
import * as net from 'net';
import { Rtnl, Link, LinkRef, Neigh } from '../../../rtnl';
import { CnmError, errnoOf, NetlinkError } from '../../../errors';
import { validateIfname, validateMac, parseCidr } from '../../../util/ip';

export const VXLAN_PORT = 4789;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;

class OverlayError extends CnmError {
  constructor(message: string, code: string) {
    super(message, code, errnoOf(code));
  }
}
const fail = (code: string, msg: string) => new OverlayError(msg, code);

export interface OverlaySpec {
  vni: number;
  /** IPv4 subnet and gateway, e.g. '10.0.1.0/24' and '10.0.1.1'. */
  subnet: string;
  gateway: string;
  subnet6?: string;
  gateway6?: string;
  /** This host's VTEP address (the cluster advertise address). */
  advertise: string;
  /** The underlay device the VXLAN packets leave by; its MTU minus 50 is the overlay's. */
  underlay: LinkRef;
  /** Default `ov-<vni>` / `vx-<vni>`. */
  bridgeName?: string;
  vxlanName?: string;
  /** Link group for both devices (the CNM layer tags its links). */
  group?: number;
}

/** A remote endpoint, as the cluster store reports it. */
export interface OverlayPeer {
  /** IPv4 address, with or without prefix. */
  ip: string;
  ipv6?: string;
  mac: string;
  /** The remote host's VTEP address. */
  vtep: string;
}

interface NormPeer { ip: string; ipv6?: string; mac: string; vtep: string }

function normPeer(p: OverlayPeer): NormPeer {
  if (p === null || typeof p !== 'object') throw fail('ERR_INVALID_ARG_TYPE', 'peer must be an object');
  const ip = typeof p.ip === 'string' ? p.ip.split('/')[0] : p.ip;
  if (typeof ip !== 'string' || !net.isIPv4(ip)) throw fail('EINVAL', `peer ip ${JSON.stringify(p.ip)} is not an IPv4 address`);
  let ipv6: string | undefined;
  if (p.ipv6 !== undefined) {
    ipv6 = typeof p.ipv6 === 'string' ? p.ipv6.split('/')[0] : undefined;
    if (!ipv6 || !net.isIPv6(ipv6)) throw fail('EINVAL', `peer ipv6 ${JSON.stringify(p.ipv6)} is not an IPv6 address`);
  }
  if (typeof p.vtep !== 'string' || !net.isIP(p.vtep)) throw fail('EINVAL', `peer vtep ${JSON.stringify(p.vtep)} is not an IP address`);
  return { ip, ...(ipv6 ? { ipv6: canon6(ipv6) } : {}), mac: validateMac(p.mac), vtep: p.vtep };
}

// The kernel reports IPv6 addresses in inet_ntop form.
function canon6(a: string): string {
  const s = new net.SocketAddress({ address: a, family: 'ipv6' });
  return s.address;
}

const ignore = (...codes: string[]) => (e: unknown) => {
  if (e instanceof Error && codes.includes((e as NetlinkError).code)) return;
  throw e;
};

export class OverlayDatapath {
  readonly bridge: string;
  readonly vxlan: string;
  readonly mtu: number;
  readonly vni: number;
  private peers = new Map<string, NormPeer>(); // by MAC, as programmed by this object

  private constructor(private rt: Rtnl, readonly spec: OverlaySpec, bridge: string, vxlan: string, mtu: number) {
    this.bridge = bridge;
    this.vxlan = vxlan;
    this.mtu = mtu;
    this.vni = spec.vni;
  }

  /**
   * Creates the network's bridge and VXLAN device, or adopts them when they
   * exist with the same settings (a restarted controller); EEXIST when a
   * device of that name is something else. Like
   * `ip link add ov-N type bridge; ip addr add GW/LEN dev ov-N;
   *  ip link add vx-N type vxlan id N local ADV dstport 4789 nolearning dev UNDERLAY;
   *  ip link set vx-N master ov-N mtu M up; bridge link set dev vx-N learning off neigh_suppress on`.
   */
  static async ensure(rt: Rtnl, spec: OverlaySpec): Promise<OverlayDatapath> {
    if (spec === null || typeof spec !== 'object') throw fail('ERR_INVALID_ARG_TYPE', 'overlay spec must be an object');
    const known = new Set(['vni', 'subnet', 'gateway', 'subnet6', 'gateway6', 'advertise', 'underlay', 'bridgeName', 'vxlanName', 'group']);
    for (const k of Object.keys(spec)) if (!known.has(k)) throw fail('EINVAL', `unknown overlay option ${JSON.stringify(k)}`);
    if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > 0xffffff) throw fail('EINVAL', `invalid VNI ${spec.vni}`);
    const sub = parseCidr(spec.subnet, 'subnet');
    if (sub.family !== 4 || !spec.subnet.includes('/')) throw fail('EINVAL', `subnet ${spec.subnet} must be an IPv4 CIDR`);
    if (typeof spec.gateway !== 'string' || !net.isIPv4(spec.gateway)) throw fail('EINVAL', `invalid gateway ${JSON.stringify(spec.gateway)}`);
    let sub6;
    if (spec.subnet6 !== undefined) {
      sub6 = parseCidr(spec.subnet6, 'subnet6');
      if (sub6.family !== 6 || !spec.subnet6.includes('/')) throw fail('EINVAL', `subnet6 ${spec.subnet6} must be an IPv6 CIDR`);
      if (typeof spec.gateway6 !== 'string' || !net.isIPv6(spec.gateway6)) throw fail('EINVAL', `invalid gateway6 ${JSON.stringify(spec.gateway6)}`);
    }
    if (typeof spec.advertise !== 'string' || !net.isIP(spec.advertise)) throw fail('EINVAL', `invalid advertise address ${JSON.stringify(spec.advertise)}`);
    const bridge = validateIfname(spec.bridgeName ?? `ov-${spec.vni}`, 'overlay bridge name');
    const vxlan = validateIfname(spec.vxlanName ?? `vx-${spec.vni}`, 'vxlan device name');
    const under = await rt.link.get(typeof spec.underlay === 'object' && spec.underlay !== null ? spec.underlay.index : spec.underlay);
    const mtu = under.mtu - VXLAN_OVERHEAD;
    if (mtu < 68) throw fail('EINVAL', `underlay ${under.name} MTU ${under.mtu} leaves no room for VXLAN`);
    const group = spec.group !== undefined ? { group: spec.group } : {};

    const made: string[] = [];
    try {
      // Everything checked before anything is changed.
      const br = await rt.link.find(bridge);
      if (br && br.kind !== 'bridge') throw fail('EEXIST', `${bridge} exists and is a ${br.kind ?? 'plain'} device, not a bridge`);
      const vx = await rt.link.find(vxlan);
      if (vx) checkVxlan(vx, spec, under.index);
      // A MAC of its own: a bridge without one takes its lowest port's, and
      // each change of address flushes the device's neighbours, permanent
      // ones included (neigh_changeaddr), i.e. the whole peer table.
      const brMac = bridgeMac(spec.advertise, spec.vni);
      if (!br) {
        await rt.link.add({ kind: 'bridge', name: bridge, bridge: { stp: false }, mtu, address: brMac, ...group });
        made.push(bridge);
      } else if (br.address !== brMac) {
        await rt.link.set(bridge, { address: brMac });
      }
      if (!vx) {
        await rt.link.add({ kind: 'vxlan', name: vxlan, mtu, ...group, vxlan: { id: spec.vni, local: spec.advertise, port: VXLAN_PORT, learning: false, dev: under.index } });
        made.push(vxlan);
      }
      await rt.link.set(vxlan, { master: bridge, mtu });
      await rt.link.set(vxlan, { bridgePort: { learning: false, neighSuppress: true } });
      await rt.link.set(bridge, { mtu });
      await rt.addr.replace(bridge, `${spec.gateway}/${sub.prefix}`);
      if (sub6) await rt.addr.replace(bridge, { address: `${spec.gateway6}/${sub6.prefix}`, flags: ['nodad'] });
      await rt.link.set(vxlan, { up: true });
      await rt.link.set(bridge, { up: true });
    } catch (e) {
      for (const n of made.reverse()) await rt.link.delete(n).catch(() => undefined);
      throw e;
    }
    const dp = new OverlayDatapath(rt, spec, bridge, vxlan, mtu);
    for (const p of await dp.listPeers()) dp.peers.set(p.mac, p);
    return dp;
  }

  /** Settings for a container's host-side veth on this network (MTU 50 below the underlay's). */
  portSettings(): { master: string; mtu: number } {
    return { master: this.bridge, mtu: this.mtu };
  }

  /** Programs one remote endpoint; idempotent (a changed VTEP or MAC replaces the old entries). */
  async addPeer(peer: OverlayPeer): Promise<void> {
    const p = normPeer(peer);
    const old = [...this.peers.values()].find((q) => q.ip === p.ip && q.mac !== p.mac);
    if (old) await this.removePeer(old);
    const ops: Promise<unknown>[] = [
      this.rt.neigh.fdbReplace(this.vxlan, { lladdr: p.mac, dst: p.vtep, self: true, state: 'permanent' }),
      this.rt.neigh.fdbReplace(this.vxlan, { lladdr: p.mac, master: true, state: 'noarp' }),
      this.rt.neigh.replace(this.bridge, { dst: p.ip, lladdr: p.mac, state: 'permanent' }),
    ];
    if (p.ipv6) ops.push(this.rt.neigh.replace(this.bridge, { dst: p.ipv6, lladdr: p.mac, state: 'permanent' }));
    const r = await Promise.allSettled(ops);
    const bad = r.find((x) => x.status === 'rejected') as PromiseRejectedResult | undefined;
    if (bad) {
      await this.removePeer(p).catch(() => undefined);
      throw bad.reason;
    }
    this.peers.set(p.mac, p);
  }

  /** Removes one remote endpoint's entries; idempotent (what is already gone is fine). */
  async removePeer(peer: Pick<OverlayPeer, 'mac'> & Partial<OverlayPeer>): Promise<void> {
    const mac = validateMac(peer.mac);
    const known = this.peers.get(mac);
    const ip = peer.ip?.split('/')[0] ?? known?.ip;
    const ipv6 = peer.ipv6?.split('/')[0] ?? known?.ipv6;
    const gone = ignore('ENOENT', 'ENXIO', 'EADDRNOTAVAIL');
    const ops: Promise<unknown>[] = [
      this.rt.neigh.fdbDelete(this.vxlan, { lladdr: mac, self: true }).catch(gone),
      this.rt.neigh.fdbDelete(this.vxlan, { lladdr: mac, master: true }).catch(gone),
    ];
    if (ip) ops.push(this.rt.neigh.delete(this.bridge, { dst: ip }).catch(gone));
    if (ipv6) ops.push(this.rt.neigh.delete(this.bridge, { dst: ipv6 }).catch(gone));
    await Promise.all(ops);
    this.peers.delete(mac);
  }

  /** The peer table as the kernel has it (permanent neighbours on the bridge joined with the VXLAN FDB). */
  async listPeers(): Promise<OverlayPeer[]> {
    const { neighs, self } = await this.kernelState();
    const byMac = new Map<string, NormPeer>();
    for (const f of self) byMac.set(f.lladdr!, { ip: '', mac: f.lladdr!, vtep: f.dst! });
    for (const n of neighs) {
      const p = byMac.get(n.lladdr!);
      if (!p) continue;
      if (n.family === 4) p.ip = n.dst!;
      else p.ipv6 = n.dst!;
    }
    return [...byMac.values()].filter((p) => p.ip);
  }

  /**
   * Makes the kernel's peer entries equal `peers`: adds what is missing or
   * different, removes every other permanent neighbour on the bridge and
   * every other static FDB entry on the VXLAN device. For a driver after a
   * restart, or after the cluster watch resynchronised.
   */
  async resync(peers: OverlayPeer[]): Promise<{ added: number; removed: number }> {
    if (!Array.isArray(peers)) throw fail('ERR_INVALID_ARG_TYPE', 'peers must be an array');
    const want = new Map<string, NormPeer>();
    for (const p of peers.map(normPeer)) {
      if (want.has(p.mac)) throw fail('EINVAL', `peer MAC ${p.mac} given twice`);
      want.set(p.mac, p);
    }
    const { neighs, self, master } = await this.kernelState();
    const wantIps = new Map<string, string>();
    for (const p of want.values()) {
      wantIps.set(p.ip, p.mac);
      if (p.ipv6) wantIps.set(p.ipv6, p.mac);
    }
    const gone = ignore('ENOENT', 'ENXIO', 'EADDRNOTAVAIL');
    const ops: Promise<unknown>[] = [];
    let removed = 0;
    const staleMacs = new Set<string>();
    for (const f of self) if (!want.has(f.lladdr!) || want.get(f.lladdr!)!.vtep !== f.dst) {
      if (!want.has(f.lladdr!)) staleMacs.add(f.lladdr!);
      ops.push(this.rt.neigh.fdbDelete(this.vxlan, { lladdr: f.lladdr!, self: true, ...(f.dst ? { dst: f.dst } : {}) }).catch(gone));
    }
    for (const f of master) if (!want.has(f.lladdr!)) {
      staleMacs.add(f.lladdr!);
      ops.push(this.rt.neigh.fdbDelete(this.vxlan, { lladdr: f.lladdr!, master: true }).catch(gone));
    }
    for (const n of neighs) if (wantIps.get(n.dst!) !== n.lladdr) {
      if (!wantIps.has(n.dst!)) staleMacs.add(n.lladdr ?? n.dst!);
      ops.push(this.rt.neigh.delete(this.bridge, { dst: n.dst! }).catch(gone));
    }
    await Promise.all(ops);
    removed = staleMacs.size;
    for (const mac of staleMacs) this.peers.delete(mac);
    // What is there and right stays; the rest is (re)programmed.
    const haveSelf = new Map(self.map((f) => [f.lladdr!, f.dst!]));
    const haveMaster = new Set(master.map((f) => f.lladdr!));
    const haveNeigh = new Map(neighs.map((n) => [n.dst!, n.lladdr!]));
    let added = 0;
    await Promise.all([...want.values()].map(async (p) => {
      const ok = haveSelf.get(p.mac) === p.vtep && haveMaster.has(p.mac) && haveNeigh.get(p.ip) === p.mac && (!p.ipv6 || haveNeigh.get(p.ipv6) === p.mac);
      if (ok) {
        this.peers.set(p.mac, p);
        return;
      }
      added++;
      await this.addPeer(p);
    }));
    return { added, removed };
  }

  /** Removes the bridge and the VXLAN device (the kernel drops their entries with them). */
  async destroy(): Promise<void> {
    const gone = ignore('ENODEV', 'ENOENT');
    await this.rt.link.delete(this.vxlan).catch(gone);
    await this.rt.link.delete(this.bridge).catch(gone);
    this.peers.clear();
  }

  private async kernelState(): Promise<{ neighs: Neigh[]; self: Neigh[]; master: Neigh[] }> {
    const [n4, n6, fdb] = await Promise.all([
      this.rt.neigh.list({ link: this.bridge, family: 4 }),
      this.spec.subnet6 ? this.rt.neigh.list({ link: this.bridge, family: 6 }) : Promise.resolve([] as Neigh[]),
      this.rt.neigh.fdbList({ link: this.vxlan }),
    ]);
    const neighs = [...n4, ...n6].filter((n) => n.state.includes('permanent') && n.lladdr);
    // Entries of the VXLAN device itself carry `self` and a remote; the
    // bridge's entries on its tunnel port name the bridge (NDA_MASTER; the
    // kernel does not set NTF_MASTER in dumps): static ones are ours, the
    // permanent one is the port's own MAC.
    const self = fdb.filter((f) => f.flags.includes('self') && f.dst && f.lladdr && f.lladdr !== '00:00:00:00:00:00');
    const master = fdb.filter((f) => !f.flags.includes('self') && (f.master !== undefined || f.flags.includes('master')) && f.state.includes('noarp') && f.lladdr);
    return { neighs, self, master };
  }
}

/**
 * The underlay device holding `advertise` in `rt`'s namespace, like
 * `ip -o addr show to ADDR`: dockerd's --cluster-advertise check. EINVAL
 * when no link of this host has the address.
 */
export async function findUnderlay(rt: Rtnl, advertise: string): Promise<Link> {
  if (typeof advertise !== 'string' || !net.isIP(advertise)) throw fail('EINVAL', `invalid advertise address ${JSON.stringify(advertise)}`);
  const want = net.isIPv6(advertise) ? canon6(advertise) : advertise;
  const a = (await rt.addr.list({ family: net.isIPv6(advertise) ? 6 : 4 })).find((x) => x.address.split('/')[0] === want);
  if (!a) throw fail('EINVAL', `advertise address ${advertise} is not an address of this host`);
  return rt.link.get(a.index);
}

/** A locally administered unicast MAC, the same on every run for one host and VNI. */
export function bridgeMac(advertise: string, vni: number): string {
  const h = crypto.createHash('sha256').update(`${advertise}/${vni}`).digest();
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

function checkVxlan(vx: Link, spec: OverlaySpec, underIndex: number): void {
  const v = vx.vxlan;
  const why = vx.kind !== 'vxlan' ? `is a ${vx.kind ?? 'plain'} device`
    : v?.id !== spec.vni ? `has VNI ${v?.id}`
    : (v?.port ?? VXLAN_PORT) !== VXLAN_PORT ? `uses UDP port ${v?.port}`
    : v?.local !== spec.advertise ? `has local ${v?.local ?? 'none'}`
    : v?.learning ? 'learns'
    : v?.dev !== undefined && v.dev !== underIndex ? 'uses another underlay device'
    : '';
  if (why) throw fail('EEXIST', `${vx.name} exists and ${why} (wanted VNI ${spec.vni}, local ${spec.advertise}, port ${VXLAN_PORT}, nolearning)`);
}
