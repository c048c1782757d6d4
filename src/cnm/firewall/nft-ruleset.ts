// The CNM packet path over our nftables layer: a table of our own per IP
// family (`ip cnm-netlink`, `ip6 cnm-netlink`, as Docker has iptables and
// ip6tables), the same shape in both, changed in one atomic transaction per
// operation. (ADDR is ipv4_addr or ipv6_addr.)
//
//   map ports_any  inet_proto . inet_service        : ADDR . inet_service   (-p 8080:80)
//   map ports_ip   ADDR . inet_proto . inet_service : ADDR . inet_service   (-p 127.0.0.1:8080:80)
//   set published  ADDR . inet_proto . inet_service   (container side of every mapping)
//   map fwd_in / fwd_out  ifname : verdict   (jump to the per-network chains)
//   set bridges    ifname   (every network's bridge, for the isolation between them)
//   chain prerouting, output (nat): fib daddr type local jump ports
//   chain ports: dnat via ports_ip, then via ports_any
//   chain postrouting (nat): per network masquerade rules, tagged with a comment
//     (IPv4 only: the host's 127.0.0.1 to a published port, via route_localnet;
//     IPv6 has no such thing, so [::1] is not forwarded)
//   chain forward (filter): oifname vmap @fwd_in; iifname vmap @fwd_out
//   chain in-<net>: established accept; ICC; from another network drop;
//     (routed: ICMP accept); published accept (nat: DNATed only); drop
//   chain out-<net>: internal: oifname != br drop; accept
//
// A published port is one element in each of two maps/sets: adding the
// 10,001st costs what the first did (no rule list grows). Every element
// carries its endpoint's id as comment, every rule its network's.
import * as fs from 'fs';
import type { Rule } from '../../nft/rule';
import type { Transaction } from '../../nft/transaction';
import type { LinkRule, NetworkRules, PortRule } from './index';

export const TABLE = 'cnm-netlink';
export const BASE_COMMENT = 'cnm-netlink: container networking';

/** What differs between the two tables. */
export interface Fam {
  F: 'ip' | 'ip6';
  T: { family: 'ip' | 'ip6'; table: string };
  addr: 'ipv4_addr' | 'ipv6_addr';
  saddr: 'ip saddr' | 'ip6 saddr';
  daddr: 'ip daddr' | 'ip6 daddr';
  any: string;
}
export const V4: Fam = { F: 'ip', T: { family: 'ip', table: TABLE }, addr: 'ipv4_addr', saddr: 'ip saddr', daddr: 'ip daddr', any: '0.0.0.0' };
export const V6: Fam = { F: 'ip6', T: { family: 'ip6', table: TABLE }, addr: 'ipv6_addr', saddr: 'ip6 saddr', daddr: 'ip6 daddr', any: '::' };
// Without IPv6 in the kernel (ipv6.disable=1) there is no ip6 table to make.
export const FAMS = fs.existsSync('/proc/sys/net/ipv6') ? [V4, V6] : [V4];
export const famOfAddr = (ip: string): Fam => (ip.includes(':') ? V6 : V4);
export const PORT_SETS = ['ports_any', 'ports_ip', 'published'];
// (IPv6 has no route_localnet: a DNATed [::1] would be dropped by the
// container, so it is left alone and refused like any closed port.)
export const OUTPUT6 = [{ match: 'ip6 daddr', op: '!=', value: '::1' }, { match: 'fib daddr type', value: 'local' }, { verdict: { jump: 'ports' } }];
export const tag = (id: string) => `cnm:${id}`;
/** The set of every network's bridge (a table made before it lacks it: see NftFirewall.ensureBase). */
export const BRIDGES = 'bridges';
/**
 * Traffic from another of our networks, dropped before published ports are
 * accepted, as Docker's DOCKER-ISOLATION chains do: neither a container of
 * another network (an internal one included, whose way out this would be)
 * nor one DNATed there through a host address reaches this network.
 */
export const ISOLATION = [{ match: 'iifname', set: BRIDGES }, { verdict: 'drop' }];
export const short = (id: string) => id.slice(0, 12);

export interface TableState { post: Rule[]; vin: any[]; vout: any[]; bridges: any[]; chains: string[] }

/** The operations nftables transactions are built from (a Transaction, or a recorder in the golden tests). */
export type TxLike = Pick<Transaction, 'addTable' | 'addSet' | 'addChain' | 'addRule' | 'addElements' | 'deleteElements' | 'deleteRule' | 'flushChain' | 'deleteChain' | 'deleteTable'>;

/** One family's table, maps and base chains, as `ensureBase` creates them. */
export function putBase(tx: TxLike, f: Fam, comment: string, create: boolean): void {
  const { F, T, addr } = f;
  // Exclusive when absent: of two controllers starting at once on
  // different state directories, one makes the tables (see NftFirewall.open).
  tx.addTable({ family: F, name: TABLE, comment } as any, { create });
  tx.addSet({ ...T, name: 'ports_any', type: 'inet_proto . inet_service', map: `${addr} . inet_service` });
  tx.addSet({ ...T, name: 'ports_ip', type: `${addr} . inet_proto . inet_service`, map: `${addr} . inet_service` });
  tx.addSet({ ...T, name: 'published', type: `${addr} . inet_proto . inet_service` });
  tx.addSet({ ...T, name: 'fwd_in', type: 'ifname', map: 'verdict' });
  tx.addSet({ ...T, name: 'fwd_out', type: 'ifname', map: 'verdict' });
  tx.addSet({ ...T, name: BRIDGES, type: 'ifname' });
  tx.addChain({ ...T, name: 'ports' });
  tx.addRule({ ...T, chain: 'ports', stmts: [{ nat: 'dnat', family: F, map: { key: [F === 'ip' ? 'ip daddr' : 'ip6 daddr', 'meta l4proto', 'th dport'], set: 'ports_ip', ports: true } }] });
  tx.addRule({ ...T, chain: 'ports', stmts: [{ nat: 'dnat', family: F, map: { key: ['meta l4proto', 'th dport'], set: 'ports_any', ports: true } }] });
  tx.addChain({ ...T, name: 'prerouting', type: 'nat', hook: 'prerouting', priority: 'dstnat', policy: 'accept' });
  tx.addRule({ ...T, chain: 'prerouting', stmts: [{ match: 'fib daddr type', value: 'local' }, { verdict: { jump: 'ports' } }] });
  // Host-originated traffic, 127.0.0.1 included (route_localnet is on the bridges).
  tx.addChain({ ...T, name: 'output', type: 'nat', hook: 'output', priority: -100, policy: 'accept' });
  tx.addRule({ ...T, chain: 'output', stmts: (F === 'ip6' ? OUTPUT6 : [{ match: 'fib daddr type', value: 'local' }, { verdict: { jump: 'ports' } }]) as any });
  tx.addChain({ ...T, name: 'postrouting', type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' });
  tx.addChain({ ...T, name: 'forward', type: 'filter', hook: 'forward', priority: 'filter', policy: 'accept' });
  tx.addRule({ ...T, chain: 'forward', stmts: [{ vmap: 'fwd_in', key: 'oifname' }] });
  tx.addRule({ ...T, chain: 'forward', stmts: [{ vmap: 'fwd_out', key: 'iifname' }] });
}

export function networkRules(n: NetworkRules, f: Fam): { chain: string; rules: Omit<Rule, 'family' | 'table'>[] }[] {
  const br = n.bridge;
  const subnets = f === V4 ? n.subnets4 : n.subnets6;
  const mode = (f === V4 ? n.gatewayMode4 : n.gatewayMode6) ?? 'nat';
  const nat = mode === 'nat' || mode === 'nat-unprotected';
  const internal = n.internal || mode === 'isolated';
  const post: Omit<Rule, 'family' | 'table'>[] = [
    // Hairpin: a container reaching a published port (its own or a
    // neighbour's) through a host address. The DNATed packet goes back into
    // the bridge; the source is rewritten so the reply comes back through us.
    ...subnets.map((subnet) => ({ chain: 'postrouting', stmts: [{ match: 'oifname', value: br }, { match: f.saddr, value: subnet }, { match: 'ct status', value: 'dnat' }, { masquerade: {} }], comment: tag(n.id) } as any)),
    // The host's own 127.0.0.1 reaching a published port.
    ...(f === V4 ? [{ chain: 'postrouting', stmts: [{ match: 'oifname', value: br }, { match: 'ip saddr', value: '127.0.0.0/8' }, { masquerade: {} }], comment: tag(n.id) } as any] : []),
  ];
  // One rule per subnet, as Docker has one MASQUERADE rule per subnet.
  for (const subnet of n.masquerade && nat ? subnets : []) {
    post.push({ chain: 'postrouting', comment: tag(n.id), stmts: [
      { match: f.saddr, value: subnet }, { match: 'oifname', op: '!=', value: br },
      f === V4 && n.hostIpv4 ? { nat: 'snat', family: 'ip', addr: n.hostIpv4 } : { masquerade: {} },
    ] } as any);
  }
  const inChain = `in-${short(n.id)}`;
  const outChain = `out-${short(n.id)}`;
  // An IPv4-only network is closed to IPv6 the same way (nat mode).
  return [
    { chain: 'postrouting', rules: post },
    { chain: inChain, rules: [
      { chain: inChain, stmts: [{ match: 'ct state', value: ['established', 'related'] }, { verdict: 'accept' }], comment: tag(n.id) },
      ...linkAccepts(n, f).map((stmts) => ({ chain: inChain, stmts, comment: tag(n.id) })),
      { chain: inChain, stmts: [{ match: 'iifname', value: br }, { verdict: n.icc ? 'accept' : 'drop' }], comment: tag(n.id) },
      { chain: inChain, stmts: ISOLATION as any, comment: tag(n.id) },
      // Routed: ICMP comes in (errors, ping), as Docker's routed mode lets it.
      ...(mode === 'routed' && !internal ? [{ chain: inChain, stmts: [{ match: 'meta l4proto', value: f === V4 ? 'icmp' : 'ipv6-icmp' }, { verdict: 'accept' }], comment: tag(n.id) } as any] : []),
      // In nat mode a published port is reached through the host port only
      // (DNATed), not at the container's address by a route from another
      // host, as Docker 28 drops such direct access; routed mode is that.
      ...(internal ? [] : [{ chain: inChain, stmts: [...(nat ? [{ match: 'ct status', value: 'dnat' }] : []), { match: [f.daddr, 'meta l4proto', 'th dport'], set: 'published' }, { verdict: 'accept' }], comment: tag(n.id) } as any]),
      { chain: inChain, stmts: [{ verdict: mode === 'nat-unprotected' && !internal ? 'accept' : 'drop' }], comment: tag(n.id) },
    ] },
    { chain: outChain, rules: [
      ...(internal ? [{ chain: outChain, stmts: [{ match: 'oifname', op: '!=', value: br }, { verdict: 'drop' }], comment: tag(n.id) } as any] : []),
      { chain: outChain, stmts: [{ verdict: 'accept' }], comment: tag(n.id) },
    ] },
  ];
}

export function putNetwork(tx: TxLike, n: NetworkRules, f: Fam): void {
  const T = f.T;
  if (linkAccepts(n, f).length) putLinkSet(tx);
  for (const p of networkRules(n, f)) {
    if (p.chain !== 'postrouting') tx.addChain({ ...T, name: p.chain, comment: tag(n.id) } as any);
    for (const r of p.rules) tx.addRule({ ...T, ...r });
  }
  tx.addElements({ ...T, set: 'fwd_in' }, [{ key: n.bridge, data: { jump: `in-${short(n.id)}` }, comment: tag(n.id) }]);
  tx.addElements({ ...T, set: 'fwd_out' }, [{ key: n.bridge, data: { jump: `out-${short(n.id)}` }, comment: tag(n.id) }]);
  tx.addElements({ ...T, set: BRIDGES }, [{ key: n.bridge, comment: tag(n.id) }]);
}

export function dropNetwork(tx: TxLike, f: Fam, id: string, st: TableState): void {
  const T = f.T;
  for (const r of st.post) if (r.comment === tag(id)) tx.deleteRule({ ...T, chain: 'postrouting', handle: r.handle! });
  const ins = st.vin.filter((e) => e.comment === tag(id) || (e.data as any)?.jump === `in-${short(id)}`);
  const outs = st.vout.filter((e) => e.comment === tag(id) || (e.data as any)?.jump === `out-${short(id)}`);
  if (ins.length) tx.deleteElements({ ...T, set: 'fwd_in' }, ins.map((e) => e.key));
  if (outs.length) tx.deleteElements({ ...T, set: 'fwd_out' }, outs.map((e) => e.key));
  const brs = st.bridges.filter((e) => e.comment === tag(id));
  if (brs.length) tx.deleteElements({ ...T, set: BRIDGES }, brs.map((e) => e.key));
  for (const c of [`in-${short(id)}`, `out-${short(id)}`]) {
    if (!st.chains.includes(c)) continue;
    tx.flushChain({ ...T, name: c });
    tx.deleteChain({ ...T, name: c });
  }
}

export function portElements(p: PortRule) {
  const f = famOfAddr(p.containerIp);
  const any = p.hostIp === f.any;
  const key = any ? [p.proto, p.hostPort] : [p.hostIp, p.proto, p.hostPort];
  return {
    f,
    set: any ? 'ports_any' : 'ports_ip',
    mapping: { key, data: [p.containerIp, p.containerPort], comment: tag(p.owner) },
    published: { key: [p.containerIp, p.proto, p.containerPort], comment: tag(p.owner) },
  };
}

export function putPorts(tx: TxLike, rules: PortRule[], del: boolean, fams: Fam[] = FAMS): void {
  for (const f of fams) {
    const bySet = new Map<string, any[]>();
    const pub = new Map<string, any>();
    for (const r of rules) {
      const e = portElements(r);
      if (e.f !== f) continue;
      if (r.dnat !== false) {
        const list = bySet.get(e.set);
        if (list) list.push(e.mapping); else bySet.set(e.set, [e.mapping]);
      }
      pub.set(JSON.stringify(e.published.key), e.published);
    }
    // Removal tolerates elements already gone (nft's `destroy`), so a leave
    // that failed half-way can be retried.
    for (const [set, els] of bySet) {
      if (del) tx.deleteElements({ ...f.T, set }, els.map((e) => e.key), { ifExists: true });
      else tx.addElements({ ...f.T, set }, els);
    }
    // Two mappings can share a container port (several host IPs): keep it
    // published while any remains; the controller passes whole endpoints.
    if (!pub.size) continue;
    if (del) tx.deleteElements({ ...f.T, set: 'published' }, [...pub.values()].map((e) => e.key), { ifExists: true });
    else tx.addElements({ ...f.T, set: 'published' }, [...pub.values()]);
  }
}

/** A rule in one line, condensed, for people (describe). */
export function describeRule(r: Rule): string {
  const parts = r.stmts.map((s: any) => {
    if ('match' in s && 'value' in s) return `${s.match} ${s.op === '!=' ? '!= ' : ''}${Array.isArray(s.value) ? s.value.join(',') : s.value}`;
    if ('set' in s && 'match' in s) return `${[].concat(s.match).join(' . ')} ${s.op === '!=' ? '!= ' : ''}@${s.set}`;
    if ('vmap' in s) return `${[].concat(s.key).join(' . ')} vmap @${s.vmap}`;
    if ('verdict' in s) return typeof s.verdict === 'string' ? s.verdict : `${Object.keys(s.verdict)[0]} ${Object.values(s.verdict)[0]}`;
    if ('nat' in s) return s.map ? `${s.nat} ${s.family ?? 'ip'} to ${[].concat(s.map.key).join(' . ')} map @${s.map.set}` : `${s.nat} to ${s.addr}${s.port ? `:${s.port}` : ''}`;
    if ('masquerade' in s) return 'masquerade';
    if ('counter' in s) return 'counter';
    return JSON.stringify(s);
  });
  return parts.join(' ') + (r.comment ? ` comment "${r.comment.slice(0, 16)}…"` : '');
}

// ---- legacy links (--link with icc off) -----------------------------------
//
// Docker accepts a linked pair's traffic on the target's exposed ports in its
// DOCKER chain, before the icc drop, in both directions (`--dport` one way,
// `--sport` back). Here, in two places, since bridged traffic takes two paths:
//
//   ip cnm-netlink: set links  ADDR . ADDR . inet_proto . inet_service (parent, child, proto, port)
//     in-<net> of an icc-off network: accepts them before `iifname br drop`
//     (the path bridged frames take when br_netfilter hands them to iptables)
//   table bridge cnm-netlink: set links  ifname . ifname . inet_proto . inet_service (parent port, child port, ...)
//     set linked_ports  ifname   (bridge ports opened for a link: isolated otherwise)
//     chain forward (filter): iifname/oifname @linked_ports jump links
//     chain links: the pair's frames accepted, other IPv4/IPv6 dropped (ARP passes)
//
// Elements carry the network's id as comment: a network's links are replaced as a whole.

export const BRIDGE_T = { family: 'bridge' as const, table: TABLE };
export const LINK_SETS = { ip: 'links', bridge: 'links', ports: 'linked_ports' };

/** An icc-off IPv4 in-chain's accepts of linked pairs (none elsewhere: icc on accepts everything anyway). */
export function linkAccepts(n: NetworkRules, f: Fam): any[][] {
  if (n.icc || f !== V4) return [];
  return [
    [{ match: ['ip saddr', 'ip daddr', 'meta l4proto', 'th dport'], set: LINK_SETS.ip }, { verdict: 'accept' }],
    [{ match: ['ip daddr', 'ip saddr', 'meta l4proto', 'th sport'], set: LINK_SETS.ip }, { verdict: 'accept' }],
  ];
}

/** The IPv4 table's link set (adding it again is a no-op). */
export function putLinkSet(tx: TxLike): void {
  tx.addSet({ ...V4.T, name: LINK_SETS.ip, type: 'ipv4_addr . ipv4_addr . inet_proto . inet_service' });
}

/** The bridge table: its sets, base chain and link chain (made once; see NftFirewall.setLinks). */
export function putLinkBase(tx: TxLike, comment: string): void {
  const T = BRIDGE_T;
  tx.addTable({ family: 'bridge', name: TABLE, comment } as any);
  tx.addSet({ ...T, name: LINK_SETS.bridge, type: 'ifname . ifname . inet_proto . inet_service' });
  tx.addSet({ ...T, name: LINK_SETS.ports, type: 'ifname' });
  tx.addChain({ ...T, name: 'forward', type: 'filter', hook: 'forward', priority: 'filter', policy: 'accept' });
  tx.addChain({ ...T, name: 'links' });
  tx.addRule({ ...T, chain: 'forward', stmts: [{ match: 'iifname', set: LINK_SETS.ports }, { verdict: { jump: 'links' } }] });
  tx.addRule({ ...T, chain: 'forward', stmts: [{ match: 'oifname', set: LINK_SETS.ports }, { verdict: { jump: 'links' } }] });
  tx.addRule({ ...T, chain: 'links', stmts: [{ match: ['iifname', 'oifname', 'meta l4proto', 'th dport'], set: LINK_SETS.bridge }, { verdict: 'accept' }] });
  tx.addRule({ ...T, chain: 'links', stmts: [{ match: ['oifname', 'iifname', 'meta l4proto', 'th sport'], set: LINK_SETS.bridge }, { verdict: 'accept' }] });
  tx.addRule({ ...T, chain: 'links', stmts: [{ match: 'meta protocol', value: 'ip' }, { verdict: 'drop' }] });
  tx.addRule({ ...T, chain: 'links', stmts: [{ match: 'meta protocol', value: 'ip6' }, { verdict: 'drop' }] });
}

/** A network's link elements, by set, keyed for comparison. */
export function linkElements(networkId: string, rules: LinkRule[]): { ip: any[]; bridge: any[]; ports: any[] } {
  const comment = tag(networkId);
  const uniq = (els: any[]) => [...new Map(els.map((e) => [JSON.stringify(e.key), e])).values()];
  return {
    ip: uniq(rules.map((r) => ({ key: [r.parentIp, r.childIp, r.proto, r.port], comment }))),
    bridge: uniq(rules.map((r) => ({ key: [r.parentIf, r.childIf, r.proto, r.port], comment }))),
    ports: uniq(rules.flatMap((r) => [{ key: r.parentIf, comment }, { key: r.childIf, comment }])),
  };
}

/** Adds (or with `del`, removes, tolerating absent ones) link elements. */
export function putLinks(tx: TxLike, els: { ip: any[]; bridge: any[]; ports: any[] }, del: boolean): void {
  const sets: [{ family: 'ip' | 'ip6' | 'bridge'; table: string }, string, any[]][] = [
    [V4.T, LINK_SETS.ip, els.ip], [BRIDGE_T, LINK_SETS.bridge, els.bridge], [BRIDGE_T, LINK_SETS.ports, els.ports],
  ];
  for (const [T, set, list] of sets) {
    if (!list.length) continue;
    if (del) tx.deleteElements({ ...T, set }, list.map((e) => e.key), { ifExists: true });
    else tx.addElements({ ...T, set }, list);
  }
}
