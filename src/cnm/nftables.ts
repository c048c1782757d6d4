// The CNM packet path over our nftables layer: one table of our own
// (`ip cnm-netlink`), changed in one atomic transaction per operation.
//
//   map ports_any  inet_proto . inet_service             : ipv4_addr . inet_service   (-p 8080:80)
//   map ports_ip   ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service   (-p 127.0.0.1:8080:80)
//   set published  ipv4_addr . inet_proto . inet_service   (container side of every mapping)
//   map fwd_in / fwd_out  ifname : verdict   (jump to the per-network chains)
//   chain prerouting, output (nat): fib daddr type local jump ports
//   chain ports: dnat via ports_ip, then via ports_any
//   chain postrouting (nat): per network masquerade rules, tagged with a comment
//   chain forward (filter): oifname vmap @fwd_in; iifname vmap @fwd_out
//   chain in-<net>: established accept; ICC; published accept; drop
//   chain out-<net>: internal: oifname != br drop; accept
//
// A published port is one element in each of two maps/sets: adding the
// 10,001st costs what the first did (no rule list grows). Every element
// carries its endpoint's id as comment, every rule its network's.
import { Nft } from '../nft';
import type { Rule } from '../nft/rule';
import type { Transaction } from '../nft/transaction';
import type { Firewall, NetworkRules, PortRule } from './firewall';

const F = 'ip' as const;
export const TABLE = 'cnm-netlink';
const T = { family: F, table: TABLE };
const tag = (id: string) => `cnm:${id}`;
const short = (id: string) => id.slice(0, 12);

export class NftFirewall implements Firewall {
  private constructor(private nft: Nft) {}

  static async open(): Promise<NftFirewall> {
    const nft = await Nft.open();
    const fw = new NftFirewall(nft);
    try {
      await fw.ensureBase();
    } catch (e) {
      nft.close();
      throw e;
    }
    return fw;
  }

  /** Creates the table, maps and base chains if missing (idempotent). */
  private async ensureBase(): Promise<void> {
    const chains = await this.nft.listChains({ family: F, table: TABLE }).catch((e) => { if (e.code === 'ENOENT') return []; throw e; });
    if (chains.some((c) => c.name === 'forward')) return;
    await this.nft.transaction((tx) => {
      tx.addTable({ family: F, name: TABLE, comment: 'cnm-netlink: container networking' } as any);
      tx.addSet({ ...T, name: 'ports_any', type: 'inet_proto . inet_service', map: 'ipv4_addr . inet_service' });
      tx.addSet({ ...T, name: 'ports_ip', type: 'ipv4_addr . inet_proto . inet_service', map: 'ipv4_addr . inet_service' });
      tx.addSet({ ...T, name: 'published', type: 'ipv4_addr . inet_proto . inet_service' });
      tx.addSet({ ...T, name: 'fwd_in', type: 'ifname', map: 'verdict' });
      tx.addSet({ ...T, name: 'fwd_out', type: 'ifname', map: 'verdict' });
      tx.addChain({ ...T, name: 'ports' });
      tx.addRule({ ...T, chain: 'ports', stmts: [{ nat: 'dnat', family: 'ip', map: { key: ['ip daddr', 'meta l4proto', 'th dport'], set: 'ports_ip', ports: true } }] });
      tx.addRule({ ...T, chain: 'ports', stmts: [{ nat: 'dnat', family: 'ip', map: { key: ['meta l4proto', 'th dport'], set: 'ports_any', ports: true } }] });
      tx.addChain({ ...T, name: 'prerouting', type: 'nat', hook: 'prerouting', priority: 'dstnat', policy: 'accept' });
      tx.addRule({ ...T, chain: 'prerouting', stmts: [{ match: 'fib daddr type', value: 'local' }, { verdict: { jump: 'ports' } }] });
      // Host-originated traffic, 127.0.0.1 included (route_localnet is on the bridges).
      tx.addChain({ ...T, name: 'output', type: 'nat', hook: 'output', priority: -100, policy: 'accept' });
      tx.addRule({ ...T, chain: 'output', stmts: [{ match: 'fib daddr type', value: 'local' }, { verdict: { jump: 'ports' } }] });
      tx.addChain({ ...T, name: 'postrouting', type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' });
      tx.addChain({ ...T, name: 'forward', type: 'filter', hook: 'forward', priority: 'filter', policy: 'accept' });
      tx.addRule({ ...T, chain: 'forward', stmts: [{ vmap: 'fwd_in', key: 'oifname' }] });
      tx.addRule({ ...T, chain: 'forward', stmts: [{ vmap: 'fwd_out', key: 'iifname' }] });
    });
  }

  private networkRules(n: NetworkRules): { chain: string; rules: Omit<Rule, 'family' | 'table'>[] }[] {
    const br = n.bridge;
    const post: Omit<Rule, 'family' | 'table'>[] = [
      // Hairpin: a container reaching a published port (its own or a
      // neighbour's) through a host address. The DNATed packet goes back into
      // the bridge; the source is rewritten so the reply comes back through us.
      ...(n.subnet4 ? [{ chain: 'postrouting', stmts: [{ match: 'oifname', value: br }, { match: 'ip saddr', value: n.subnet4 }, { match: 'ct status', value: 'dnat' }, { masquerade: {} }], comment: tag(n.id) } as any] : []),
      // The host's own 127.0.0.1 reaching a published port.
      { chain: 'postrouting', stmts: [{ match: 'oifname', value: br }, { match: 'ip saddr', value: '127.0.0.0/8' }, { masquerade: {} }], comment: tag(n.id) },
    ];
    if (n.masquerade && n.subnet4) {
      post.push({ chain: 'postrouting', comment: tag(n.id), stmts: [
        { match: 'ip saddr', value: n.subnet4 }, { match: 'oifname', op: '!=', value: br },
        n.hostIpv4 ? { nat: 'snat', family: 'ip', addr: n.hostIpv4 } : { masquerade: {} },
      ] });
    }
    const inChain = `in-${short(n.id)}`;
    const outChain = `out-${short(n.id)}`;
    return [
      { chain: 'postrouting', rules: post },
      { chain: inChain, rules: [
        { chain: inChain, stmts: [{ match: 'ct state', value: ['established', 'related'] }, { verdict: 'accept' }], comment: tag(n.id) },
        { chain: inChain, stmts: [{ match: 'iifname', value: br }, { verdict: n.icc ? 'accept' : 'drop' }], comment: tag(n.id) },
        ...(n.internal ? [] : [{ chain: inChain, stmts: [{ match: ['ip daddr', 'meta l4proto', 'th dport'], set: 'published' }, { verdict: 'accept' }], comment: tag(n.id) } as any]),
        { chain: inChain, stmts: [{ verdict: 'drop' }], comment: tag(n.id) },
      ] },
      { chain: outChain, rules: [
        ...(n.internal ? [{ chain: outChain, stmts: [{ match: 'oifname', op: '!=', value: br }, { verdict: 'drop' }], comment: tag(n.id) } as any] : []),
        { chain: outChain, stmts: [{ verdict: 'accept' }], comment: tag(n.id) },
      ] },
    ];
  }

  /** Rules, chains and verdict-map entries of one network, in one transaction. */
  async addNetwork(n: NetworkRules): Promise<void> {
    const parts = this.networkRules(n);
    await this.nft.transaction((tx) => {
      for (const p of parts) {
        if (p.chain !== 'postrouting') tx.addChain({ ...T, name: p.chain, comment: tag(n.id) } as any);
        for (const r of p.rules) tx.addRule({ ...T, ...r });
      }
      tx.addElements({ ...T, set: 'fwd_in' }, [{ key: n.bridge, data: { jump: `in-${short(n.id)}` }, comment: tag(n.id) }]);
      tx.addElements({ ...T, set: 'fwd_out' }, [{ key: n.bridge, data: { jump: `out-${short(n.id)}` }, comment: tag(n.id) }]);
    });
  }

  async removeNetwork(n: NetworkRules): Promise<void> {
    const rules = await this.nft.listRules({ ...T, chain: 'postrouting' });
    const vin = await this.nft.listElements({ ...T, set: 'fwd_in' });
    const vout = await this.nft.listElements({ ...T, set: 'fwd_out' });
    const chains = (await this.nft.listChains(T)).map((c) => c.name);
    await this.nft.transaction((tx) => this.dropNetwork(tx, n.id, rules, vin, vout, chains));
  }

  private dropNetwork(tx: Transaction, id: string, post: Rule[], vin: any[], vout: any[], chains: string[]): void {
    for (const r of post) if (r.comment === tag(id)) tx.deleteRule({ ...T, chain: 'postrouting', handle: r.handle! });
    const ins = vin.filter((e) => e.comment === tag(id) || (e.data as any)?.jump === `in-${short(id)}`);
    const outs = vout.filter((e) => e.comment === tag(id) || (e.data as any)?.jump === `out-${short(id)}`);
    if (ins.length) tx.deleteElements({ ...T, set: 'fwd_in' }, ins.map((e) => e.key));
    if (outs.length) tx.deleteElements({ ...T, set: 'fwd_out' }, outs.map((e) => e.key));
    for (const c of [`in-${short(id)}`, `out-${short(id)}`]) {
      if (!chains.includes(c)) continue;
      tx.flushChain({ ...T, name: c });
      tx.deleteChain({ ...T, name: c });
    }
  }

  private elements(p: PortRule) {
    const key = p.hostIp === '0.0.0.0' ? [p.proto, p.hostPort] : [p.hostIp, p.proto, p.hostPort];
    return {
      set: p.hostIp === '0.0.0.0' ? 'ports_any' : 'ports_ip',
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
    const bySet = new Map<string, any[]>();
    const pub = new Map<string, any>();
    for (const r of rules) {
      const e = this.elements(r);
      bySet.set(e.set, [...(bySet.get(e.set) ?? []), e.mapping]);
      pub.set(JSON.stringify(e.published.key), e.published);
    }
    // Removal tolerates elements already gone (nft's `destroy`), so a leave
    // that failed half-way can be retried.
    for (const [set, els] of bySet) {
      if (del) tx.deleteElements({ ...T, set }, els.map((e) => e.key), { ifExists: true });
      else tx.addElements({ ...T, set }, els);
    }
    // Two mappings can share a container port (several host IPs): keep it
    // published while any remains; the controller passes whole endpoints.
    if (del) tx.deleteElements({ ...T, set: 'published' }, [...pub.values()].map((e) => e.key), { ifExists: true });
    else tx.addElements({ ...T, set: 'published' }, [...pub.values()]);
  }

  /** Drops our rules, chains and elements whose owner the controller does not know. */
  async reconcile(networks: NetworkRules[], ports: PortRule[]): Promise<void> {
    const known = new Set(networks.map((n) => tag(n.id)));
    const post = await this.nft.listRules({ ...T, chain: 'postrouting' });
    const vin = await this.nft.listElements({ ...T, set: 'fwd_in' });
    const vout = await this.nft.listElements({ ...T, set: 'fwd_out' });
    const chains = (await this.nft.listChains(T)).map((c) => c.name);
    const strayNets = new Set<string>();
    for (const r of post) if (r.comment && !known.has(r.comment)) strayNets.add(r.comment.slice(4));
    for (const e of [...vin, ...vout]) if (e.comment && !known.has(e.comment)) strayNets.add(e.comment.slice(4));
    const knownShort = new Set(networks.map((n) => short(n.id)));
    for (const c of chains) {
      const m = /^(in|out)-([0-9a-f]{12})$/.exec(c);
      if (m && !knownShort.has(m[2])) strayNets.add(m[2]);
    }
    const owners = new Set(ports.map((p) => tag(p.owner)));
    const stray: { set: string; key: any }[] = [];
    for (const set of ['ports_any', 'ports_ip', 'published']) {
      for (const e of await this.nft.listElements({ ...T, set })) if (!e.comment || !owners.has(e.comment)) stray.push({ set, key: e.key });
    }
    // Networks the state knows whose rules are missing: put them back.
    const missing = networks.filter((n) => !chains.includes(`in-${short(n.id)}`));
    if (strayNets.size || stray.length) {
      await this.nft.transaction((tx) => {
        for (const id of strayNets) {
          const full = [...post, ...vin, ...vout].map((x: any) => x.comment as string | undefined).find((c) => c?.startsWith(`cnm:${id}`))?.slice(4) ?? id;
          this.dropNetwork(tx, full, post, vin, vout, chains);
        }
        for (const set of ['ports_any', 'ports_ip', 'published']) {
          const keys = stray.filter((s) => s.set === set).map((s) => s.key);
          if (keys.length) tx.deleteElements({ ...T, set }, keys);
        }
      });
    }
    for (const n of missing) await this.addNetwork(n);
    // Adding an element that exists is not an error: this repairs lost ones.
    await this.addPorts(ports);
  }

  /** Our table as `nft list table` would show it, condensed. */
  async describe(): Promise<string> {
    const rs = await this.nft.ruleset(F);
    const lines: string[] = [`table ${F} ${TABLE}`];
    for (const s of rs.sets.filter((x) => x.table === TABLE)) {
      const els = await this.nft.listElements({ ...T, set: s.name });
      const show = (v: any) => (Array.isArray(v) ? v.join(' . ') : typeof v === 'object' ? (v.jump ? `jump ${v.jump}` : JSON.stringify(v)) : String(v));
      lines.push(`  ${s.map ? 'map' : 'set'} ${s.name} { ${els.map((e) => `${show(e.key)}${e.data !== undefined ? ` : ${show(e.data)}` : ''}`).join(', ')} }`);
    }
    for (const c of rs.chains.filter((x) => x.table === TABLE)) {
      lines.push(`  chain ${c.name}${c.hook ? ` (${c.type} hook ${c.hook} priority ${c.priority})` : ''}`);
      for (const r of rs.rules.filter((x) => x.table === TABLE && x.chain === c.name)) lines.push(`    ${describeRule(r)}`);
    }
    return lines.join('\n');
  }

  async destroy(): Promise<void> {
    await this.nft.transaction((tx) => { tx.deleteTable({ family: F, name: TABLE }); }).catch((e) => { if (e.code !== 'ENOENT') throw e; });
  }

  close(): void { this.nft.close(); }
}

function describeRule(r: Rule): string {
  const parts = r.stmts.map((s: any) => {
    if ('match' in s && 'value' in s) return `${s.match} ${s.op === '!=' ? '!= ' : ''}${Array.isArray(s.value) ? s.value.join(',') : s.value}`;
    if ('set' in s && 'match' in s) return `${[].concat(s.match).join(' . ')} ${s.op === '!=' ? '!= ' : ''}@${s.set}`;
    if ('vmap' in s) return `${[].concat(s.key).join(' . ')} vmap @${s.vmap}`;
    if ('verdict' in s) return typeof s.verdict === 'string' ? s.verdict : `${Object.keys(s.verdict)[0]} ${Object.values(s.verdict)[0]}`;
    if ('nat' in s) return s.map ? `${s.nat} ip to ${[].concat(s.map.key).join(' . ')} map @${s.map.set}` : `${s.nat} to ${s.addr}${s.port ? `:${s.port}` : ''}`;
    if ('masquerade' in s) return 'masquerade';
    if ('counter' in s) return 'counter';
    return JSON.stringify(s);
  });
  return parts.join(' ') + (r.comment ? ` comment "${r.comment.slice(0, 16)}…"` : '');
}
