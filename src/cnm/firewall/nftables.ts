// The nftables firewall backend: keeps our two tables (see nft-ruleset.ts for
// their shape, built there without the kernel) in step with the networks and
// published ports, one atomic transaction per change.
import * as fs from 'fs';
import { CnmError } from '../../errors';
import { Nft } from '../../nft';
import type { Firewall, LinkRule, NetworkRules, PortRule } from './index';
import {
  BASE_COMMENT, BRIDGES, FAMS, Fam, OUTPUT6, PORT_SETS, TABLE, TableState, V6, describeRule, dropNetwork, putBase, putNetwork, putPorts, short, tag,
} from './nft-ruleset';
import { BRIDGE_T, LINK_SETS, V4, linkElements, putLinkBase, putLinkSet, putLinks } from './nft-ruleset';

export { TABLE };

/** Changes closer together than this are a burst (see queuePorts). */
const PORT_BURST_MS = 5;
/** How long a change in a burst waits for others. */
const PORT_GATHER_MS = 10;

/** A port change refused because our tables are gone. */
function tablesGoneError(cause: Error): CnmError {
  return new CnmError(`the ${TABLE} nftables tables are gone (an \`nft flush ruleset\` or a firewall reload?): Controller.reconcile() puts them back (${cause.message})`, 'ENOENT', 2);
}

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
      const existed = (await nft.listTables()).some((t) => t.name === TABLE);
      const made = await fw.ensureBase().then(() => true, (e) => { if (e.code === 'EEXIST') return false; throw e; });
      fw.created = made && !existed;
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
  /** Whether this open made the tables (none of ours were there): a failed first open may remove only those. */
  created = false;

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
    // A table made by an earlier version lacks the set of bridges: add it
    // (reconcile puts each network's rules back with its isolation rule).
    const noBridges: Fam[] = [];
    for (const f of FAMS) {
      if (missing.includes(f)) continue;
      if (!(await this.nft.listSets(f.T)).some((x) => x.name === BRIDGES)) noBridges.push(f);
    }
    if (!missing.length && !noBridges.length) return;
    await this.nft.transaction((tx) => {
      for (const f of missing) putBase(tx, f, this.comment, absent.has(f));
      for (const f of noBridges) tx.addSet({ ...f.T, name: BRIDGES, type: 'ifname' });
    });
  }

  /**
   * Rules, chains and verdict-map entries of one network in both tables, in
   * one transaction; what is there of it already is replaced (a bridge made
   * again after an `ip link del` keeps its rules once).
   */
  async addNetwork(n: NetworkRules): Promise<void> {
    // (Tables gone: not made here, which would hide from later joins that
    // the other networks' rules went with them; reconcile() puts all back.)
    const states = await Promise.all(FAMS.map((f) => this.tableState(f))).catch(async (e) => {
      if (e.code === 'ENOENT' && await this.tablesGone()) throw tablesGoneError(e);
      throw e;
    });
    await this.nft.transaction((tx) => FAMS.forEach((f, i) => { dropNetwork(tx, f, n.id, states[i]); putNetwork(tx, n, f); }));
  }

  /** What a network's removal needs to know of one table. */
  private async tableState(f: Fam): Promise<TableState> {
    return {
      post: await this.nft.listRules({ ...f.T, chain: 'postrouting' }),
      vin: await this.nft.listElements({ ...f.T, set: 'fwd_in' }),
      vout: await this.nft.listElements({ ...f.T, set: 'fwd_out' }),
      bridges: await this.nft.listElements({ ...f.T, set: BRIDGES }),
      chains: (await this.nft.listChains(f.T)).map((c) => c.name),
    };
  }

  /** (Nothing to remove from tables that are gone: `nft flush ruleset` took the rules with them.) */
  async removeNetwork(n: NetworkRules): Promise<void> {
    const states = await Promise.all(FAMS.map(async (f) => ((await this.hasTable(f)) ? this.tableState(f) : undefined)));
    await this.nft.transaction((tx) => FAMS.forEach((f, i) => { if (states[i]) dropNetwork(tx, f, n.id, states[i]!); }));
    if (!n.icc) await this.dropLinkBaseIfUnused();
  }

  /**
   * The link set of the IPv4 table and the bridge table go with the last
   * icc-off network. One transaction: while another icc-off network's
   * in-chain still uses the set, the kernel refuses it (EBUSY) and both stay;
   * a network made meanwhile puts the set back in its own transaction.
   */
  private async dropLinkBaseIfUnused(): Promise<void> {
    await this.nft.transaction((tx) => {
      tx.deleteSet({ ...V4.T, name: LINK_SETS.ip }, { ifExists: true });
      tx.deleteTable({ family: 'bridge', name: TABLE }, { ifExists: true });
    }).catch((e) => { if (e.code !== 'EBUSY' && e.code !== 'ENOENT') throw e; });
  }

  /** One element per mapping (plus its container-side twin): O(1) whatever exists. */
  addPorts(rules: PortRule[]): Promise<void> { return this.queuePorts(rules, false); }

  removePorts(rules: PortRule[]): Promise<void> { return this.queuePorts(rules, true); }

  // Port changes made in the same tick (1,000 containers started with one
  // Promise.all) share one transaction: one kernel commit instead of 1,000.
  // If the shared one fails, each change is retried alone so only the bad
  // one fails and its caller gets the kernel's error.
  private pendingPorts: { rules: PortRule[]; del: boolean; resolve: () => void; reject: (e: Error) => void }[] = [];

  // Under load, changes wait a little for others to share their commit:
  // 1,000 joins started at once reach this over seconds, one every few ms,
  // and each transaction costs the loop about 0.25 ms and the kernel a
  // commit whatever it carries (991 transactions for 1,000 joins, measured,
  // before). A change with no other in the last BURST_MS goes at once.
  private lastQueued = -Infinity;
  private flushScheduled = false;

  private queuePorts(rules: PortRule[], del: boolean): Promise<void> {
    if (!rules.length) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pendingPorts.push({ rules, del, resolve, reject });
      const now = performance.now();
      const burst = now - this.lastQueued < PORT_BURST_MS;
      this.lastQueued = now;
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      const go = () => { this.flushScheduled = false; void this.flushPorts(); };
      if (burst) setTimeout(go, PORT_GATHER_MS);
      else setImmediate(go);
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
      // Consecutive changes of one kind as one: a message per set, not per
      // endpoint (order between additions and removals is kept).
      await this.nft.transaction((tx) => {
        for (let i = 0; i < batch.length;) {
          let j = i;
          while (j < batch.length && batch[j].del === batch[i].del) j++;
          putPorts(tx, batch.slice(i, j).flatMap((b) => b.rules), batch[i].del);
          i = j;
        }
      });
      for (const b of batch) b.resolve();
    } catch (e) {
      // Tables gone (`nft flush ruleset`): removals have nothing left to do;
      // additions fail, saying what brings the tables back.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && await this.tablesGone()) {
        for (const b of batch) if (b.del) b.resolve(); else b.reject(tablesGoneError(e as Error));
        return;
      }
      if (batch.length === 1) { batch[0].reject(e as Error); return; }
      for (const b of batch) {
        await this.nft.transaction((tx) => putPorts(tx, b.rules, b.del)).then(b.resolve, b.reject);
      }
    }
  }

  /** Whether our table of that family is there. */
  private async hasTable(f: Fam): Promise<boolean> {
    return (await this.nft.listTables(f.F)).some((t) => t.name === TABLE);
  }

  /** Whether one of our tables is missing (every family's table must be there). */
  private async tablesGone(): Promise<boolean> {
    for (const f of FAMS) if (!(await this.hasTable(f))) return true;
    return false;
  }

  /** Drops our rules, chains and elements whose owner the controller does not know. */
  async reconcile(networks: NetworkRules[], ports: PortRule[]): Promise<void> {
    // Tables gone (`nft flush ruleset`, a firewall reload) are made again; the networks' rules follow below.
    await this.ensureBase();
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
      for (const e of [...st.vin, ...st.vout, ...st.bridges]) fromComment(e.comment);
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
      // (Or whose bridge is not in the set of bridges: rules of an earlier
      // version, without the isolation between networks.)
      const inSet = new Set(st.bridges.filter((e) => known.has(e.comment)).map((e) => e.key));
      const missing = networks.filter((n) => !st.chains.includes(`in-${short(n.id)}`) || !inSet.has(n.bridge));
      if (strayNets.size || stray.length || missing.length) {
        await this.nft.transaction((tx) => {
          for (const id of strayNets.values()) dropNetwork(tx, f, id, st);
          for (const set of PORT_SETS) {
            const keys = stray.filter((s) => s.set === set).map((s) => s.key);
            if (keys.length) tx.deleteElements({ ...f.T, set }, keys);
          }
          for (const n of missing) {
            dropNetwork(tx, f, n.id, st);
            putNetwork(tx, n, f);
          }
        });
      }
    }
    // Adding an element that exists is not an error: this repairs lost ones.
    await this.addPorts(ports);
    if (networks.every((n) => n.icc)) await this.dropLinkBaseIfUnused();
  }

  /** Our tables as `nft list table` would show them, condensed. */
  async describe(): Promise<string> {
    const lines: string[] = [];
    // The bridge table exists once a link was made with icc off.
    const bridge = (await this.nft.listTables('bridge')).some((t) => t.name === TABLE) ? [{ F: 'bridge' as const, T: BRIDGE_T }] : [];
    for (const { F, T } of [...FAMS, ...bridge]) {
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

  // ---- legacy links (see nft-ruleset.ts)

  async setLinks(networkId: string, rules: LinkRule[], between: () => Promise<void>): Promise<void> {
    // Tables gone (`nft flush ruleset`): the bridge ports follow the links;
    // their rules come back with reconcile(), as every other rule.
    if (await this.tablesGone()) { await between(); return; }
    const want = linkElements(networkId, rules);
    const have = await this.linkElementsOf(networkId, rules.length > 0);
    const missing = (a: any[], b: any[]) => { const keys = new Set(b.map((e) => JSON.stringify(e.key))); return a.filter((e) => !keys.has(JSON.stringify(e.key))); };
    const add = { ip: missing(want.ip, have.ip), bridge: missing(want.bridge, have.bridge), ports: missing(want.ports, have.ports) };
    const del = { ip: missing(have.ip, want.ip), bridge: missing(have.bridge, want.bridge), ports: missing(have.ports, want.ports) };
    const any = (e: typeof add) => e.ip.length + e.bridge.length + e.ports.length > 0;
    if (any(add)) await this.nft.transaction((tx) => { putLinkSet(tx); putLinks(tx, add, false); });
    await between();
    if (any(del)) await this.nft.transaction((tx) => putLinks(tx, del, true));
  }

  /** The network's link elements now (the bridge table made first when `make`; absent tables have none). */
  private async linkElementsOf(networkId: string, make: boolean): Promise<{ ip: any[]; bridge: any[]; ports: any[] }> {
    const mine = (els: { comment?: string }[]) => els.filter((e) => e.comment === tag(networkId));
    const list = (T: { family: 'ip' | 'ip6' | 'bridge'; table: string }, set: string) =>
      this.nft.listElements({ ...T, set }).then(mine, (e) => { if (e.code === 'ENOENT') return undefined; throw e; });
    let bridge = await list(BRIDGE_T, LINK_SETS.bridge);
    if (!bridge && make) {
      await this.nft.transaction((tx) => putLinkBase(tx, this.comment));
      bridge = [];
    }
    return { ip: (await list(V4.T, LINK_SETS.ip)) ?? [], bridge: bridge ?? [], ports: (await list(BRIDGE_T, LINK_SETS.ports)) ?? [] };
  }

  async destroy(): Promise<void> {
    await this.nft.transaction((tx) => { tx.deleteTable({ family: 'bridge', name: TABLE }); }).catch((e) => { if (e.code !== 'ENOENT') throw e; });
    for (const { F } of FAMS) {
      await this.nft.transaction((tx) => { tx.deleteTable({ family: F, name: TABLE }); }).catch((e) => { if (e.code !== 'ENOENT') throw e; });
    }
  }

  close(): void { this.nft.close(); }
}
