// nftables over netlink, in one network namespace: transactions (one batch,
// all-or-nothing, like `nft -f`), listing, and generation checks.
import { native } from '../native';
import { NetlinkConnection } from '../netlink/connection';
import { NETLINK_NETFILTER } from '../netlink/constants';
import { Netns } from '../netns';
import { NetlinkError, ValidationError, checkBool, checkInt, checkKeys, checkOptions, typeError } from '../errors';
import { Family, NFT_MSG, SET_FLAGS } from './constants';
import { checkArg, checkObjName, familyNum } from './common';
import { Table, parseTable, tableMsg } from './table';
import { Chain, chainMsg, parseChain } from './chain';
import { Rule, parseRule, ruleMsg } from './rule';
import { Element, NftSet, SetInfo, decodeElements, parseSet, setMsg } from './set';
import { Transaction, batchError } from './transaction';
import { NftEvents } from './events';

export interface NftOptions {
  /** Namespace to work in: a Netns, a name under /run/netns, or omitted for the current one. */
  netns?: Netns | string;
  /** Receive buffer in bytes (default 8 MiB; echoes of big transactions land there). */
  rcvbuf?: number;
}

export interface TransactionOptions {
  /** Apply only if the ruleset is still at this generation (from `generation()`); else NftGenerationError. */
  generation?: number;
  /** Ask for new rules' handles (NLM_F_ECHO; default true). */
  echo?: boolean;
}

export interface TransactionResult {
  /** Ruleset generation after the commit. */
  generation: number;
  /** Kernel messages sent (batch delimiters included). */
  messages: number;
}

export interface Ruleset {
  tables: Table[];
  chains: Chain[];
  sets: NftSet[];
  rules: Rule[];
}

const skey = (f: string, t: string, s: string) => `${f}\0${t}\0${s}`;

/** A list call's options: an object of known keys (a table name is checked where it is used). */
function listOpts(opts: unknown, keys: string[]): void {
  checkOptions(opts, 'list options');
  checkKeys(opts as object, keys, 'list options');
}

export class Nft {
  readonly netns?: Netns;
  private conn: NetlinkConnection;
  private ownsNetns: boolean;
  /** Types of sets seen, to encode elements without a lookup each time. */
  private sets = new Map<string, SetInfo>();
  /** Current SO_SNDBUF / SO_RCVBUF (effective sizes, read back when changed). */
  private sndbuf = 4 << 20;
  private rcvbuf: number;

  private constructor(conn: NetlinkConnection, netns: Netns | undefined, owns: boolean) {
    this.conn = conn;
    this.rcvbuf = conn.socket.rcvbuf;
    this.netns = netns;
    this.ownsNetns = owns;
  }

  /**
   * A transaction as the netlink messages it would send (batch begin, the
   * operations, batch end, then a generation request whose reply ends the
   * exchange), for a sender of its own such as `Netns.create({
   * netfilterMessages })`. Only operations that need no set read from the
   * kernel (sets they use are declared in the same transaction).
   */
  static encode(fn: (tx: Transaction) => void): Buffer[] {
    if (typeof fn !== 'function') throw typeError('transaction callback', 'a function', fn);
    const tx = new Transaction({});
    try {
      fn(tx);
    } finally {
      tx.seal();
    }
    const ctx = { set: (f: Family, t: string, n: string) => tx.declared.get(skey(f, t, n)) ?? undefined };
    for (const op of tx.ops) {
      for (const x of op.needs ?? []) if (!ctx.set(x.family, x.table, x.set)) throw new ValidationError(`${op.desc}: set ${x.set} is not declared in the transaction`);
    }
    return [native.nftBatch(true), ...tx.ops.flatMap((op) => op.build(ctx)), native.nftBatch(false), native.nftGetGen()];
  }

  /** Opens a handle; the socket is created inside the namespace. */
  static async open(opts: NftOptions = {}): Promise<Nft> {
    opts = checkOptions<NftOptions>(opts, 'Nft.open options');
    checkKeys(opts, ['netns', 'rcvbuf'], 'Nft.open');
    if (opts.rcvbuf !== undefined) checkInt(opts.rcvbuf, 'rcvbuf', 4096, 0x7fffffff);
    let ns: Netns | undefined;
    let owns = false;
    if (typeof opts.netns === 'string') { ns = await Netns.open(opts.netns); owns = true; }
    else if (opts.netns !== undefined) { Netns.fdOf(opts.netns, 'netns'); ns = opts.netns; }
    try {
      // Adopts the socket made with a fresh namespace, if it is still there.
      const adoptFd = ns?.takeNftSocket();
      return new Nft(new NetlinkConnection(NETLINK_NETFILTER, { netnsFd: ns?.fd, rcvbuf: opts.rcvbuf ?? 16 << 20, ...(adoptFd !== undefined ? { adoptFd } : {}) }), ns, owns);
    } catch (e) {
      if (owns) ns!.close();
      throw e;
    }
  }

  /** The ruleset generation (NFT_MSG_GETGEN), for `transaction(fn, { generation })`. */
  async generation(): Promise<number> {
    const r = await this.conn.request(native.nftGetGen(), 'nft get generation');
    return r.find((m) => m.kind === 'generation').id;
  }

  /**
   * Runs `fn` to record operations, then commits them as one batch: all
   * apply or none (like one `nft -f` file). Rejects with a NetlinkError naming
   * the failing operation (with the kernel's extack text), a ValidationError
   * for bad input (nothing sent), or NftGenerationError.
   */
  async transaction(fn: (tx: Transaction) => void | Promise<void>, opts: TransactionOptions = {}): Promise<TransactionResult> {
    if (typeof fn !== 'function') throw typeError('transaction callback', 'a function', fn);
    opts = checkOptions<TransactionOptions>(opts, 'transaction options');
    checkKeys(opts, ['generation', 'echo'], 'transaction options');
    if (opts.generation !== undefined) checkInt(opts.generation, 'generation', 0, 0xffffffff);
    if (opts.echo !== undefined) checkBool(opts.echo, 'echo');
    const tx = new Transaction({ echo: opts.echo });
    try {
      await fn(tx);
    } finally {
      tx.seal();
    }
    if (!tx.ops.length) return { generation: await this.generation(), messages: 0 };
    // Sets whose types we need but the transaction does not declare.
    const absent = new Set<string>();
    for (const op of tx.ops) {
      for (const s of op.needs ?? []) {
        const k = skey(s.family, s.table, s.set);
        if (tx.declared.has(k) || this.sets.has(k)) continue;
        try { await this.getSet({ family: s.family, table: s.table, name: s.set }); } catch (e: any) {
          if (e.code !== 'ENOENT') throw e;
          absent.add(k);
        }
      }
    }
    const ctx = { set: (f: Family, t: string, n: string) => tx.declared.get(skey(f, t, n)) ?? this.sets.get(skey(f, t, n)), absent: (f: Family, t: string, n: string) => absent.has(skey(f, t, n)) };
    const bufs: Buffer[] = [native.nftBatch(true, opts.generation)];
    const owner: number[] = [-1];
    tx.ops.forEach((op, i) => {
      for (const b of op.build(ctx)) { bufs.push(b); owner.push(i); }
    });
    bufs.push(native.nftBatch(false));
    owner.push(-2);
    // The batch is one sendmsg: the send buffer must hold it; echoes (about
    // as big as the rules sent) must fit the receive buffer.
    const bytes = bufs.reduce((n, b) => n + b.length, 0);
    const fd = this.conn.socket.fd;
    if (bytes + 65536 > this.sndbuf) this.sndbuf = native.nftSockBuf(fd, true, Math.min(bytes + (1 << 20), 0x3fffffff));
    // Each echo is its own skb: count its overhead (truesize) too.
    const echoes = tx.echo ? tx.ops.filter((op) => op.done).length : 0;
    const rcv = 2 * bytes + echoes * 2048;
    if (echoes && rcv > this.rcvbuf) this.rcvbuf = native.nftSockBuf(fd, false, Math.min(rcv, 0x3fffffff));
    const res = await this.conn.requestBatch(bufs, 'nft transaction', { end: native.nftGetGen() });
    if (res.errors.length) {
      this.sets.clear();
      throw batchError(res.errors, (i) => (owner[i] === -1 ? 'batch begin' : owner[i] === -2 ? 'batch end' : `#${owner[i]} ${tx.ops[owner[i]].desc}`), opts.generation, bufs);
    }
    const replies: any[][] = tx.ops.map(() => []);
    owner.forEach((o, j) => { if (o >= 0 && res.replies[j].length) replies[o].push(...res.replies[j]); });
    tx.ops.forEach((op, i) => op.done?.(replies[i]));
    for (const [k, v] of tx.declared) { if (v) this.sets.set(k, v); else this.sets.delete(k); }
    for (const f of tx.flushedFamilies) for (const k of [...this.sets.keys()]) if (!f || k.startsWith(`${f}\0`)) this.sets.delete(k);
    for (const op of tx.ops) {
      const m = op.desc.match(/^(?:delete|destroy) table (\S+) (\S+)$/);
      if (m) for (const k of [...this.sets.keys()]) if (k.startsWith(skey(m[1], m[2], ''))) this.sets.delete(k);
    }
    const gen = res.end.find((m) => m && m.kind === 'generation');
    return { generation: gen?.id ?? -1, messages: bufs.length };
  }

  private async dump(buf: Buffer, op: string): Promise<any[]> {
    return (await this.conn.request(buf, op, { dump: true })).filter((m) => m && m.kind);
  }

  /** Like `nft list tables [FAMILY]`. */
  async listTables(family?: Family): Promise<Table[]> {
    const fam = family !== undefined ? familyNum(family) : 0;
    return (await this.dump(native.nftTable(NFT_MSG.GETTABLE, fam, 0, {}), 'nft list tables')).map(parseTable);
  }

  /** Like `nft list chains`, optionally of one table. */
  async listChains(opts: { family?: Family; table?: string } = {}): Promise<Chain[]> {
    listOpts(opts, ['family', 'table']);
    const fam = opts.family !== undefined ? familyNum(opts.family) : 0;
    const o: any = opts.table !== undefined ? { table: checkObjName(opts.table, 'table') } : {};
    const all = (await this.dump(native.nftChain(NFT_MSG.GETCHAIN, fam, 0, o), 'nft list chains')).map(parseChain);
    return all.filter((c) => !opts.table || c.table === opts.table);
  }

  /** Rules with their handles, like `nft -a list chain` / `list table` / `list ruleset`. */
  async listRules(opts: { family?: Family; table?: string; chain?: string } = {}): Promise<Rule[]> {
    listOpts(opts, ['family', 'table', 'chain']);
    const fam = opts.family !== undefined ? familyNum(opts.family) : 0;
    if ((opts.table !== undefined || opts.chain !== undefined) && opts.family === undefined) throw new ValidationError('listRules: family is required with table/chain');
    if (opts.chain !== undefined && opts.table === undefined) throw new ValidationError('listRules: chain needs table');
    const o: any = {};
    if (opts.table !== undefined) o.table = checkObjName(opts.table, 'table');
    if (opts.chain !== undefined) o.chain = checkObjName(opts.chain, 'chain');
    const all = (await this.dump(native.nftRule(NFT_MSG.GETRULE, fam, 0, o), 'nft list rules')).map(parseRule);
    const rules = all.filter((r) => (!opts.table || r.table === opts.table) && (!opts.chain || r.chain === opts.chain));
    await this.inlineAnonymousSets(rules);
    return rules;
  }

  /** Lookups in anonymous sets (`tcp dport { 80, 443 }`) read back as list values, as nft shows them. */
  private async inlineAnonymousSets(rules: Rule[]): Promise<void> {
    const cache = new Map<string, Element['key'][] | null>();
    for (const r of rules) {
      for (let i = 0; i < r.stmts.length; i++) {
        const s = r.stmts[i];
        if (!('set' in s) || !('match' in s) || Array.isArray(s.match) || !s.set.startsWith('__set')) continue;
        const k = `${r.family}\0${r.table}\0${s.set}`;
        if (!cache.has(k)) {
          try {
            cache.set(k, (await this.listElements({ family: r.family, table: r.table, set: s.set })).map((e) => e.key));
          } catch {
            cache.set(k, null);  // gone meanwhile, or a type we cannot decode: keep the lookup
          }
        }
        const values = cache.get(k);
        if (values) r.stmts[i] = { match: s.match, op: s.op ?? '==', value: values as any };
      }
    }
  }

  /** Like `nft list sets` (without elements; see listElements). Anonymous sets (rules' `{ ... }` lists) only on request. */
  async listSets(opts: { family?: Family; table?: string; anonymous?: boolean } = {}): Promise<NftSet[]> {
    listOpts(opts, ['family', 'table', 'anonymous']);
    if (opts.anonymous !== undefined) checkBool(opts.anonymous, 'anonymous');
    const fam = opts.family !== undefined ? familyNum(opts.family) : 0;
    const o: any = opts.table !== undefined ? { table: checkObjName(opts.table, 'table') } : {};
    const raw = await this.dump(native.nftSet(NFT_MSG.GETSET, fam, 0, o), 'nft list sets');
    const all = raw.filter((b) => opts.anonymous || !((b.flags ?? 0) & SET_FLAGS.anonymous)).map(parseSet);
    for (const s of all) if (s.info) this.sets.set(skey(s.family, s.table, s.name), s.info);
    return all.filter((s) => !opts.table || s.table === opts.table);
  }

  /** One set or map, like `nft list set` (without elements). */
  async getSet(s: { family: Family; table: string; name: string }): Promise<NftSet> {
    checkArg(s, 'set');
    const r = await this.conn.request(setMsg(NFT_MSG.GETSET, s, 0), `nft get set ${s.family} ${s.table} ${s.name}`);
    const set = parseSet(r.find((m) => m.kind === 'set'));
    if (set.info) this.sets.set(skey(set.family, set.table, set.name), set.info);
    return set;
  }

  /** Elements of a set or map, decoded by its type (intervals as prefixes or ranges). */
  async listElements(s: { family: Family; table: string; set: string }): Promise<Element[]> {
    checkArg(s, 'set');
    familyNum(s.family);
    checkObjName(s.table, 'table');
    checkObjName(s.set, 'set');
    const set = await this.getSet({ family: s.family, table: s.table, name: s.set });
    const info = (set as any).info as SetInfo | undefined;
    if (!info) throw new ValidationError(`set ${s.set} has a type this library cannot decode (${set.type})`);
    const msg = native.nftSetElems(NFT_MSG.GETSETELEM, familyNum(s.family), 0, { table: s.table, set: s.set });
    const parts = await this.dump(msg, `nft list set ${s.family} ${s.table} ${s.set}`);
    return decodeElements(info, parts.flatMap((p) => p.elements));
  }

  /** Everything, like `nft list ruleset` (sets with their elements). */
  async ruleset(family?: Family): Promise<Ruleset> {
    const tables = await this.listTables(family);
    const chains = await this.listChains({ family });
    const sets = await this.listSets({ family });
    for (const s of sets) {
      if ((s as any).info) s.elements = await this.listElements({ family: s.family, table: s.table, set: s.name });
    }
    const rules = await this.listRules({ family });
    return { tables, chains, sets, rules };
  }

  /** Notifications of ruleset changes in this namespace, like `nft monitor`. */
  events(): NftEvents {
    if (this.conn.isClosed) throw new NetlinkError('nft events: handle closed', 'EBADF', 9);
    return new NftEvents(this.netns?.fd, (f, t, s) => this.sets.get(skey(f, t, s)));
  }

  /** The underlying connection (for tuning and diagnostics). */
  get connection(): NetlinkConnection { return this.conn; }

  close(): void {
    this.conn.close();
    if (this.ownsNetns) this.netns!.close();
  }
}

export { Transaction, NftGenerationError } from './transaction';
export type { AddedRule } from './transaction';
export * from './table';
export * from './chain';
export * from './rule';
export * from './set';
export * from './expr';
export type { Family, Hook } from './constants';
export { keyType } from './datatype';
export { NftEvents } from './events';
export type { NftEvent } from './events';
