// The CNM packet path over our nftables layer: a table of our own per IP
// family (`ip cnm-netlink`, `ip6 cnm-netlink`, as Docker has iptables and
// ip6tables), the same shape in both, changed in one atomic transaction per
// operation. (ADDR is ipv4_addr or ipv6_addr.)
//
//   map ports_any  inet_proto . inet_service        : ADDR . inet_service   (-p 8080:80)
//   map ports_ip   ADDR . inet_proto . inet_service : ADDR . inet_service   (-p 127.0.0.1:8080:80)
//   set published  ADDR . inet_proto . inet_service   (container side of every mapping)
//   map fwd_in / fwd_out  ifname : verdict   (jump to the per-network chains)
//   chain prerouting, output (nat): fib daddr type local jump ports
//   chain ports: dnat via ports_ip, then via ports_any
//   chain postrouting (nat): per network masquerade rules, tagged with a comment
//     (IPv4 only: the host's 127.0.0.1 to a published port, via route_localnet;
//     IPv6 has no such thing, so [::1] is not forwarded)
//   chain forward (filter): oifname vmap @fwd_in; iifname vmap @fwd_out
//   chain in-<net>: established accept; ICC; published accept; drop
//   chain out-<net>: internal: oifname != br drop; accept
//
// A published port is one element in each of two maps/sets: adding the
// 10,001st costs what the first did (no rule list grows). Every element
// carries its endpoint's id as comment, every rule its network's.
import * as fs from 'fs';
import { CnmError } from '../errors';
import { Nft } from '../nft';
import type { Rule } from '../nft/rule';
import type { Transaction } from '../nft/transaction';
import type { Firewall, NetworkRules, PortRule } from './firewall';

export const TABLE = 'cnm-netlink';
const BASE_COMMENT = 'cnm-netlink: container networking';

/** What differs between the two tables. */
interface Fam {
  F: 'ip' | 'ip6';
  T: { family: 'ip' | 'ip6'; table: string };
  addr: 'ipv4_addr' | 'ipv6_addr';
  saddr: 'ip saddr' | 'ip6 saddr';
  daddr: 'ip daddr' | 'ip6 daddr';
  any: string;
}
const V4: Fam = { F: 'ip', T: { family: 'ip', table: TABLE }, addr: 'ipv4_addr', saddr: 'ip saddr', daddr: 'ip daddr', any: '0.0.0.0' };
const V6: Fam = { F: 'ip6', T: { family: 'ip6', table: TABLE }, addr: 'ipv6_addr', saddr: 'ip6 saddr', daddr: 'ip6 daddr', any: '::' };
// Without IPv6 in the kernel (ipv6.disable=1) there is no ip6 table to make.
const FAMS = fs.existsSync('/proc/sys/net/ipv6') ? [V4, V6] : [V4];
const famOfAddr = (ip: string): Fam => (ip.includes(':') ? V6 : V4);
const PORT_SETS = ['ports_any', 'ports_ip', 'published'];
// (IPv6 has no route_localnet: a DNATed [::1] would be dropped by the
// container, so it is left alone and refused like any closed port.)
const OUTPUT6 = [{ match: 'ip6 daddr', op: '!=', value: '::1' }, { match: 'fib daddr type', value: 'local' }, { verdict: { jump: 'ports' } }];
const tag = (id: string) => `cnm:${id}`;
const short = (id: string) => id.slice(0, 12);

interface TableState { post: Rule[]; vin: any[]; vout: any[]; chains: string[] }

export class NftFirewall implements Firewall {
  private constructor(private nft: Nft) {}

  /**
   * `owner` (the controller's state directory) is written into the tables'
   * comment: another state directory's controller is refused while that
   * directory exists, since its reconcile would remove everything the first
   * one made (one state directory per network namespace, as one dockerd).
   */
  static async open(owner?: string): Promise<NftFirewall> {
    const nft = await Nft.open();
    const fw = new NftFirewall(nft);
    try {
      await fw.claim(owner);
      const made = await fw.ensureBase().then(() => true, (e) => { if (e.code === 'EEXIST') return false; throw e; });
      // Of two controllers opening at once, the one whose tables were made
      // has its name on them: the other learns it here.
      await fw.claim(owner);
      if (!made) await fw.ensureBase();
    } catch (e) {
      nft.close();
      throw e;
    }
    return fw;
  }

  private comment = BASE_COMMENT;

  private async claim(owner?: string): Promise<void> {
    // Userdata holds 256 bytes: a longer path goes unrecorded (no check).
    if (!owner || Buffer.byteLength(owner) > 200) return;
    this.comment = `${BASE_COMMENT} (state: ${owner})`;
    const tables = (await this.nft.listTables()).filter((t) => t.name === TABLE);
    const holder = tables.map((t) => /\(state: (.*)\)$/.exec(t.comment ?? '')?.[1]).find((o) => o !== undefined);
    if (holder === owner) return;
    if (holder === undefined) {
      // Tables of an older version name no owner (a comment cannot be
      // changed): empty of anyone's networks, they are replaced by ours;
      // holding some, they stay as they are, unchecked.
      if (!tables.length) return;
      const chains = (await Promise.all(tables.map((t) => this.nft.listChains({ family: t.family as 'ip' | 'ip6', table: TABLE })))).flat();
      if (chains.some((c) => /^(in|out)-/.test(c.name))) return;
    } else if (fs.existsSync(holder)) {
      throw new CnmError(`the cnm-netlink objects of this network namespace belong to the state directory ${holder}: open that one (--state-dir ${holder}), or destroy it first`, 'EBUSY', 16);
    }
    // The owner's state is gone, so are its records: its objects are nobody's.
    // Fresh tables (with our name on them) replace them in one transaction.
    await this.nft.transaction((tx) => { for (const t of tables) tx.deleteTable({ family: t.family, name: TABLE }); });
  }

  /** Creates the tables, maps and base chains if missing (idempotent). */
  private async ensureBase(): Promise<void> {
    const missing: Fam[] = [];
    const absent = new Set<Fam>();
    for (const f of FAMS) {
      const chains = await this.nft.listChains(f.T).catch((e) => { if (e.code === 'ENOENT') { absent.add(f); return []; } throw e; });
      if (!chains.some((c) => c.name === 'forward')) missing.push(f);
    }
    // A table made by an earlier version lacks the [::1] exclusion: put it in.
    if (FAMS.includes(V6) && !missing.includes(V6)) {
      const out = await this.nft.listRules({ ...V6.T, chain: 'output' });
      if (!out.some((r) => JSON.stringify(r.stmts).includes('::1'))) {
        await this.nft.transaction((tx) => {
          tx.flushChain({ ...V6.T, name: 'output' });
          tx.addRule({ ...V6.T, chain: 'output', stmts: OUTPUT6 as any });
        });
      }
    }
    if (!missing.length) return;
    await this.nft.transaction((tx) => {
      for (const f of missing) {
        const { F, T, addr } = f;
        // Exclusive when absent: of two controllers starting at once on
        // different state directories, one makes the tables (see open).
        tx.addTable({ family: F, name: TABLE, comment: this.comment } as any, { create: absent.has(f) });
        tx.addSet({ ...T, name: 'ports_any', type: 'inet_proto . inet_service', map: `${addr} . inet_service` });
        tx.addSet({ ...T, name: 'ports_ip', type: `${addr} . inet_proto . inet_service`, map: `${addr} . inet_service` });
        tx.addSet({ ...T, name: 'published', type: `${addr} . inet_proto . inet_service` });
        tx.addSet({ ...T, name: 'fwd_in', type: 'ifname', map: 'verdict' });
        tx.addSet({ ...T, name: 'fwd_out', type: 'ifname', map: 'verdict' });
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
    });
  }

  private networkRules(n: NetworkRules, f: Fam): { chain: string; rules: Omit<Rule, 'family' | 'table'>[] }[] {
    const br = n.bridge;
    const subnet = f === V4 ? n.subnet4 : n.subnet6;
    const post: Omit<Rule, 'family' | 'table'>[] = [
      // Hairpin: a container reaching a published port (its own or a
      // neighbour's) through a host address. The DNATed packet goes back into
      // the bridge; the source is rewritten so the reply comes back through us.
      ...(subnet ? [{ chain: 'postrouting', stmts: [{ match: 'oifname', value: br }, { match: f.saddr, value: subnet }, { match: 'ct status', value: 'dnat' }, { masquerade: {} }], comment: tag(n.id) } as any] : []),
      // The host's own 127.0.0.1 reaching a published port.
      ...(f === V4 ? [{ chain: 'postrouting', stmts: [{ match: 'oifname', value: br }, { match: 'ip saddr', value: '127.0.0.0/8' }, { masquerade: {} }], comment: tag(n.id) } as any] : []),
    ];
    if (n.masquerade && subnet) {
      post.push({ chain: 'postrouting', comment: tag(n.id), stmts: [
        { match: f.saddr, value: subnet }, { match: 'oifname', op: '!=', value: br },
        f === V4 && n.hostIpv4 ? { nat: 'snat', family: 'ip', addr: n.hostIpv4 } : { masquerade: {} },
      ] } as any);
    }
    const inChain = `in-${short(n.id)}`;
    const outChain = `out-${short(n.id)}`;
    // The filter chains are the same in both families: an IPv4-only network
    // is closed to IPv6 the same way.
    return [
      { chain: 'postrouting', rules: post },
      { chain: inChain, rules: [
        { chain: inChain, stmts: [{ match: 'ct state', value: ['established', 'related'] }, { verdict: 'accept' }], comment: tag(n.id) },
        { chain: inChain, stmts: [{ match: 'iifname', value: br }, { verdict: n.icc ? 'accept' : 'drop' }], comment: tag(n.id) },
        ...(n.internal ? [] : [{ chain: inChain, stmts: [{ match: [f.daddr, 'meta l4proto', 'th dport'], set: 'published' }, { verdict: 'accept' }], comment: tag(n.id) } as any]),
        { chain: inChain, stmts: [{ verdict: 'drop' }], comment: tag(n.id) },
      ] },
      { chain: outChain, rules: [
        ...(n.internal ? [{ chain: outChain, stmts: [{ match: 'oifname', op: '!=', value: br }, { verdict: 'drop' }], comment: tag(n.id) } as any] : []),
        { chain: outChain, stmts: [{ verdict: 'accept' }], comment: tag(n.id) },
      ] },
    ];
  }

  /** Rules, chains and verdict-map entries of one network in both tables, in one transaction. */
  async addNetwork(n: NetworkRules): Promise<void> {
    await this.nft.transaction((tx) => { for (const f of FAMS) this.putNetwork(tx, n, f); });
  }

  private putNetwork(tx: Transaction, n: NetworkRules, f: Fam): void {
    const T = f.T;
    for (const p of this.networkRules(n, f)) {
      if (p.chain !== 'postrouting') tx.addChain({ ...T, name: p.chain, comment: tag(n.id) } as any);
      for (const r of p.rules) tx.addRule({ ...T, ...r });
    }
    tx.addElements({ ...T, set: 'fwd_in' }, [{ key: n.bridge, data: { jump: `in-${short(n.id)}` }, comment: tag(n.id) }]);
    tx.addElements({ ...T, set: 'fwd_out' }, [{ key: n.bridge, data: { jump: `out-${short(n.id)}` }, comment: tag(n.id) }]);
  }

  /** What a network's removal needs to know of one table. */
  private async tableState(f: Fam): Promise<TableState> {
    return {
      post: await this.nft.listRules({ ...f.T, chain: 'postrouting' }),
      vin: await this.nft.listElements({ ...f.T, set: 'fwd_in' }),
      vout: await this.nft.listElements({ ...f.T, set: 'fwd_out' }),
      chains: (await this.nft.listChains(f.T)).map((c) => c.name),
    };
  }

  async removeNetwork(n: NetworkRules): Promise<void> {
    const states = await Promise.all(FAMS.map((f) => this.tableState(f)));
    await this.nft.transaction((tx) => FAMS.forEach((f, i) => this.dropNetwork(tx, f, n.id, states[i])));
  }

  private dropNetwork(tx: Transaction, f: Fam, id: string, st: TableState): void {
    const T = f.T;
    for (const r of st.post) if (r.comment === tag(id)) tx.deleteRule({ ...T, chain: 'postrouting', handle: r.handle! });
    const ins = st.vin.filter((e) => e.comment === tag(id) || (e.data as any)?.jump === `in-${short(id)}`);
    const outs = st.vout.filter((e) => e.comment === tag(id) || (e.data as any)?.jump === `out-${short(id)}`);
    if (ins.length) tx.deleteElements({ ...T, set: 'fwd_in' }, ins.map((e) => e.key));
    if (outs.length) tx.deleteElements({ ...T, set: 'fwd_out' }, outs.map((e) => e.key));
    for (const c of [`in-${short(id)}`, `out-${short(id)}`]) {
      if (!st.chains.includes(c)) continue;
      tx.flushChain({ ...T, name: c });
      tx.deleteChain({ ...T, name: c });
    }
  }

  private elements(p: PortRule) {
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

  /** One element per mapping (plus its container-side twin): O(1) whatever exists. */
  addPorts(rules: PortRule[]): Promise<void> { return this.queuePorts(rules, false); }

  removePorts(rules: PortRule[]): Promise<void> { return this.queuePorts(rules, true); }

  // Port changes made in the same tick (1,000 containers started with one
  // Promise.all) share one transaction: one kernel commit instead of 1,000.
  // If the shared one fails, each change is retried alone so only the bad
  // one fails and its caller gets the kernel's error.
  private pendingPorts: { rules: PortRule[]; del: boolean; resolve: () => void; reject: (e: Error) => void }[] = [];

  private queuePorts(rules: PortRule[], del: boolean): Promise<void> {
    if (!rules.length) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (!this.pendingPorts.length) setImmediate(() => void this.flushPorts());
      this.pendingPorts.push({ rules, del, resolve, reject });
    });
  }

  private flushing: Promise<void> = Promise.resolve();

  // Flushes run one after another: a later change never overtakes an earlier
  // one (a removal must not commit before the retry of its addition).
  private flushPorts(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushPortsNow());
    return this.flushing;
  }

  private async flushPortsNow(): Promise<void> {
    const batch = this.pendingPorts.splice(0);
    if (!batch.length) return;
    try {
      await this.nft.transaction((tx) => { for (const b of batch) this.putPorts(tx, b.rules, b.del); });
      for (const b of batch) b.resolve();
    } catch (e) {
      if (batch.length === 1) { batch[0].reject(e as Error); return; }
      for (const b of batch) {
        await this.nft.transaction((tx) => this.putPorts(tx, b.rules, b.del)).then(b.resolve, b.reject);
      }
    }
  }

  private putPorts(tx: Transaction, rules: PortRule[], del: boolean): void {
    for (const f of FAMS) {
      const bySet = new Map<string, any[]>();
      const pub = new Map<string, any>();
      for (const r of rules) {
        const e = this.elements(r);
        if (e.f !== f) continue;
        bySet.set(e.set, [...(bySet.get(e.set) ?? []), e.mapping]);
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

  /** Drops our rules, chains and elements whose owner the controller does not know. */
  async reconcile(networks: NetworkRules[], ports: PortRule[]): Promise<void> {
    const known = new Set(networks.map((n) => tag(n.id)));
    const knownShort = new Set(networks.map((n) => short(n.id)));
    const owners = new Set(ports.map((p) => tag(p.owner)));
    for (const f of FAMS) {
      const st = await this.tableState(f);
      // Unknown networks by short id (what chain names carry) -> full id
      // (what comments carry), each dropped once.
      const strayNets = new Map<string, string>();
      const fromComment = (c?: string) => { if (c?.startsWith('cnm:') && !known.has(c)) strayNets.set(short(c.slice(4)), c.slice(4)); };
      for (const r of st.post) fromComment(r.comment);
      for (const e of [...st.vin, ...st.vout]) fromComment(e.comment);
      for (const c of st.chains) {
        const m = /^(in|out)-([0-9a-f]{12})$/.exec(c);
        if (m && !knownShort.has(m[2]) && !strayNets.has(m[2])) strayNets.set(m[2], m[2]);
      }
      const stray: { set: string; key: any }[] = [];
      for (const set of PORT_SETS) {
        for (const e of await this.nft.listElements({ ...f.T, set })) if (!e.comment || !owners.has(e.comment)) stray.push({ set, key: e.key });
      }
      // Networks the state knows whose rules are missing from this table:
      // what is left of them goes and they are put back, in the same
      // transaction as the rest (no moment without their filter rules).
      const missing = networks.filter((n) => !st.chains.includes(`in-${short(n.id)}`));
      if (strayNets.size || stray.length || missing.length) {
        await this.nft.transaction((tx) => {
          for (const id of strayNets.values()) this.dropNetwork(tx, f, id, st);
          for (const set of PORT_SETS) {
            const keys = stray.filter((s) => s.set === set).map((s) => s.key);
            if (keys.length) tx.deleteElements({ ...f.T, set }, keys);
          }
          for (const n of missing) {
            this.dropNetwork(tx, f, n.id, st);
            this.putNetwork(tx, n, f);
          }
        });
      }
    }
    // Adding an element that exists is not an error: this repairs lost ones.
    await this.addPorts(ports);
  }

  /** Our tables as `nft list table` would show them, condensed. */
  async describe(): Promise<string> {
    const lines: string[] = [];
    for (const { F, T } of FAMS) {
      const rs = await this.nft.ruleset(F);
      lines.push(`table ${F} ${TABLE}`);
      for (const s of rs.sets.filter((x) => x.table === TABLE)) {
        const els = await this.nft.listElements({ ...T, set: s.name });
        const show = (v: any) => (Array.isArray(v) ? v.join(' . ') : typeof v === 'object' ? (v.jump ? `jump ${v.jump}` : JSON.stringify(v)) : String(v));
        lines.push(`  ${s.map ? 'map' : 'set'} ${s.name} { ${els.map((e) => `${show(e.key)}${e.data !== undefined ? ` : ${show(e.data)}` : ''}`).join(', ')} }`);
      }
      for (const c of rs.chains.filter((x) => x.table === TABLE)) {
        lines.push(`  chain ${c.name}${c.hook ? ` (${c.type} hook ${c.hook} priority ${c.priority})` : ''}`);
        for (const r of rs.rules.filter((x) => x.table === TABLE && x.chain === c.name)) lines.push(`    ${describeRule(r)}`);
      }
    }
    return lines.join('\n');
  }

  async destroy(): Promise<void> {
    for (const { F } of FAMS) {
      await this.nft.transaction((tx) => { tx.deleteTable({ family: F, name: TABLE }); }).catch((e) => { if (e.code !== 'ENOENT') throw e; });
    }
  }

  close(): void { this.nft.close(); }
}

function describeRule(r: Rule): string {
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
