// One nftables transaction: every add/delete/flush recorded here goes to the
// kernel as one nfnetlink batch and applies all-or-nothing, like one
// `nft -f` run.
import { ValidationError, NetlinkError, kernelError, checkBool, checkKeys, checkOptions, typeError } from '../errors';
import { checkArg, checkHandle, checkObjName, familyNum } from './common';
import { NLM_F_APPEND, NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL, NLM_F_REPLACE } from '../netlink/constants';
import { Family, NFT_MSG, SET_FLAGS } from './constants';
import { Field, fieldKeyType } from './expr';
import { Value } from './datatype';
import { Table, tableMsg } from './table';
import { Chain, chainMsg } from './chain';
import { Rule, ruleMsg } from './rule';
import { Element, NftSet, SetInfo, SetRef, elementMsgs, encodeElements, setInfo, setMsg } from './set';

/** A rule added in a transaction; `handle` is filled in once it commits. */
export interface AddedRule { family: Family; table: string; chain: string; handle?: number }

interface Op {
  desc: string;
  /** Set references this op needs resolved before it can be encoded. */
  needs?: SetRef[];
  build(ctx: BuildCtx): Buffer[];
  /** Called with the echoed messages of this op after commit. */
  done?(replies: any[]): void;
}

export interface BuildCtx {
  set(family: Family, table: string, name: string): SetInfo | undefined;
  /** Whether the kernel said the set does not exist (ENOENT), rather than its type being one we cannot encode. */
  absent?(family: Family, table: string, name: string): boolean;
}

const key = (f: string, t: string, s: string) => `${f}\0${t}\0${s}`;

export class Transaction {
  /** @internal */ ops: Op[] = [];
  /** Sets declared in this transaction (their types encode later elements). */
  /** @internal */ declared = new Map<string, SetInfo | null>();
  /** @internal */ echo: boolean;
  private setIds = 0;
  /** @internal */ flushedFamilies: string[] = [];

  constructor(opts: { echo?: boolean } = {}) { this.echo = opts.echo ?? true; }

  private sealed = false;
  /** @internal Once its callback returned: later calls are an error, not silently lost. */
  seal(): void { this.sealed = true; }

  private push(op: Op): void {
    if (this.sealed) throw new ValidationError(`${op.desc}: this transaction is already committed (use it inside its callback)`);
    this.ops.push(op);
  }

  /** Like `nft add table` (no error if it exists); `create: true` is `nft create table`. */
  addTable(t: Table, opts: { create?: boolean } = {}): this {
    checkArg(t, 'table');
    // (Read-back fields pass, so a listed object can be added again.)
    checkKeys(t, ['family', 'name', 'flags', 'comment', 'handle', 'use'], 'table');
    createOpt(opts);
    const msg = tableMsg(NFT_MSG.NEWTABLE, t, NLM_F_CREATE | (opts.create ? NLM_F_EXCL : 0));
    this.push({ desc: `add table ${t.family} ${t.name}`, build: () => [msg] });
    return this;
  }

  /** Like `nft delete table` (by name or handle); deletes everything in it. `ifExists`: `nft destroy table`. */
  deleteTable(t: { family: Family; name?: string; handle?: number }, opts: { ifExists?: boolean } = {}): this {
    checkArg(t, 'table');
    ifExistsOpt(opts);
    checkKeys(t, ['family', 'name', 'handle'], 'delete table');
    if (t.name === undefined && t.handle === undefined) throw new ValidationError('delete table: name or handle is required (flushRuleset deletes all)');
    const msg = tableMsg(opts.ifExists ? NFT_MSG.DESTROYTABLE : NFT_MSG.DELTABLE, t, 0);
    this.push({ desc: `${opts.ifExists ? 'destroy' : 'delete'} table ${t.family} ${t.name ?? `handle ${t.handle}`}`, build: () => [msg] });
    for (const k of [...this.declared.keys()]) if (k.startsWith(`${t.family}\0${t.name}\0`)) this.declared.set(k, null);
    return this;
  }

  /** Like `nft flush ruleset [FAMILY]`: deletes every table (of one family). */
  flushRuleset(family?: Family): this {
    // Absent is every family; anything else must be one ('' or null wiping them all would be a typo's cost).
    if (family !== undefined) familyNum(family);
    const msg = tableMsg(NFT_MSG.DELTABLE, { family: family ?? ('' as Family) }, 0);
    this.push({ desc: `flush ruleset${family ? ` ${family}` : ''}`, build: () => [msg] });
    for (const k of this.declared.keys()) if (!family || k.startsWith(`${family}\0`)) this.declared.set(k, null);
    this.flushedFamilies.push(family ?? '');
    return this;
  }

  /** Like `nft flush table`: removes all rules of all chains in it. */
  flushTable(t: { family: Family; name: string }): this {
    checkArg(t, 'table');
    checkKeys(t, ['family', 'name'], 'flush table');
    checkObjName(t.name, 'table');
    const msg = ruleMsg(NFT_MSG.DELRULE, { family: t.family, table: t.name }, 0);
    this.push({ desc: `flush table ${t.family} ${t.name}`, build: () => [msg] });
    return this;
  }

  /** Like `nft add chain` (base chain when hook is given); `create: true` is `nft create chain`. */
  addChain(c: Chain, opts: { create?: boolean } = {}): this {
    checkArg(c, 'chain');
    checkKeys(c, ['family', 'table', 'name', 'type', 'hook', 'priority', 'policy', 'device', 'comment', 'handle', 'use'], 'chain');
    createOpt(opts);
    const msg = chainMsg(NFT_MSG.NEWCHAIN, c, NLM_F_CREATE | (opts.create ? NLM_F_EXCL : 0));
    this.push({ desc: `add chain ${c.family} ${c.table} ${c.name}`, build: () => [msg] });
    return this;
  }

  /** Like `nft delete chain` (must be unreferenced; its rules go with it). `ifExists`: `nft destroy chain`. */
  deleteChain(c: { family: Family; table: string; name?: string; handle?: number }, opts: { ifExists?: boolean } = {}): this {
    checkArg(c, 'chain');
    ifExistsOpt(opts);
    checkKeys(c, ['family', 'table', 'name', 'handle'], 'delete chain');
    if (c.name === undefined && c.handle === undefined) throw new ValidationError('delete chain: name or handle is required');
    if (c.name !== undefined) checkObjName(c.name, 'chain');
    else checkHandle(c.handle, 'chain');
    const msg = chainMsg(opts.ifExists ? NFT_MSG.DESTROYCHAIN : NFT_MSG.DELCHAIN, c, 0);
    this.push({ desc: `${opts.ifExists ? 'destroy' : 'delete'} chain ${c.family} ${c.table} ${c.name ?? `handle ${c.handle}`}`, build: () => [msg] });
    return this;
  }

  /** Like `nft flush chain`. */
  flushChain(c: { family: Family; table: string; name: string }): this {
    checkArg(c, 'chain');
    // (Without a name the kernel would flush every chain of the table: required.)
    checkKeys(c, ['family', 'table', 'name'], 'flush chain');
    checkObjName(c.table, 'table');
    checkObjName(c.name, 'chain');
    const msg = ruleMsg(NFT_MSG.DELRULE, { family: c.family, table: c.table, chain: c.name }, 0);
    this.push({ desc: `flush chain ${c.family} ${c.table} ${c.name}`, build: () => [msg] });
    return this;
  }

  /** Like `nft add rule` (append; after `position` if given). The handle arrives on commit. */
  addRule(r: Rule): AddedRule {
    return this.rule(r, NLM_F_CREATE | NLM_F_APPEND, 'add');
  }

  /** Like `nft insert rule` (prepend; before `position` if given). */
  insertRule(r: Rule): AddedRule {
    return this.rule(r, NLM_F_CREATE, 'insert');
  }

  /** Like `nft replace rule ... handle N`. */
  replaceRule(r: Rule & { handle: number }): AddedRule {
    checkArg(r, 'rule');
    if (r.handle === undefined) throw new ValidationError('replace rule: handle is required');
    return this.rule(r, NLM_F_REPLACE, 'replace');
  }

  private rule(r: Rule, flags: number, verb: string): AddedRule {
    checkArg(r, 'rule');
    checkKeys(r, ['family', 'table', 'chain', 'stmts', 'comment', 'handle', 'position', 'exprs'], 'rule');
    // Named before they are shown (a Symbol would make the description itself throw).
    for (const k of ['family', 'table', 'chain'] as const) if (typeof r[k] !== 'string') throw typeError(`rule.${k}`, 'a string', r[k]);
    if (r.stmts !== undefined && !Array.isArray(r.stmts)) throw typeError('stmts', 'a list of statements', r.stmts);
    // A handle only names the rule to replace (rules read back carry one).
    if (verb !== 'replace' && r.handle !== undefined) { r = { ...r }; delete r.handle; }
    const out: AddedRule = { family: r.family, table: r.table, chain: r.chain };
    const desc = `${verb} rule ${r.family} ${r.table} ${r.chain}${r.handle ? ` handle ${r.handle}` : ''}${r.position ? ` position ${r.position}` : ''}`;
    // Encode now when possible so bad input throws at the call site.
    const needs = natMaps(r);
    const encode = (sets?: (n: string) => SetInfo | undefined): Buffer[] => {
      const pre: Buffer[] = [];
      const m = ruleMsg(NFT_MSG.NEWRULE, r, flags | (this.echo ? NLM_F_ECHO : 0), sets, (field, values) => this.anonSet(r, field, values, pre));
      return [...pre, m];
    };
    let msgs: Buffer[] | undefined;
    if (!needs.length) msgs = encode();
    this.push({
      desc, needs,
      build: (ctx) => msgs ?? encode((n) => ctx.set(r.family, r.table, n)),
      done: (replies) => {
        const echoed = replies.find((m) => m && m.kind === 'rule');
        if (echoed) out.handle = echoed.handle;
        else if (r.handle) out.handle = r.handle;
      },
    });
    return out;
  }

  /** An anonymous constant set for a list value, created in the same batch (like nft's `{ 80, 443 }`). */
  private anonSet(r: Rule, field: Field, values: Value[], out: Buffer[]): { set: string; setId: number } {
    const setId = ++this.setIds;
    const type = fieldKeyType([field]).name;
    const interval = values.some((v) => typeof v === 'string' && (v.includes('/') || /^[^-]+-[^-]+$/.test(v))) && field !== 'iifname' && field !== 'oifname';
    const info = setInfo({ type, flags: interval ? ['interval'] : [] });
    const els = encodeElements(info, values.map((key) => ({ key })), false, `${field} list`);
    const ref = { family: r.family, table: r.table, set: '__set%d' };
    out.push(setMsg(NFT_MSG.NEWSET, { family: r.family, table: r.table, name: '__set%d', type, flags: interval ? ['interval'] : [], size: els.length },
      NLM_F_CREATE, setId, SET_FLAGS.anonymous | SET_FLAGS.constant));
    out.push(...elementMsgs(NFT_MSG.NEWSETELEM, ref, els, NLM_F_CREATE, setId));
    return { set: '__set%d', setId };
  }

  /** Like `nft delete rule FAMILY TABLE CHAIN handle N`. `ifExists`: `nft destroy rule`. */
  deleteRule(r: { family: Family; table: string; chain: string; handle: number }, opts: { ifExists?: boolean } = {}): this {
    checkArg(r, 'rule');
    ifExistsOpt(opts);
    checkKeys(r, ['family', 'table', 'chain', 'handle'], 'delete rule');
    if (r.handle === undefined) throw new ValidationError('delete rule: handle is required');
    checkObjName(r.chain, 'chain');
    const msg = ruleMsg(opts.ifExists ? NFT_MSG.DESTROYRULE : NFT_MSG.DELRULE, r, 0);
    this.push({ desc: `${opts.ifExists ? 'destroy' : 'delete'} rule ${r.family} ${r.table} ${r.chain} handle ${r.handle}`, build: () => [msg] });
    return this;
  }

  /** Like `nft add set` / `nft add map` (with its elements, if given). */
  addSet(s: NftSet, opts: { create?: boolean } = {}): this {
    checkArg(s, 'set');
    checkKeys(s, ['family', 'table', 'name', 'type', 'map', 'flags', 'comment', 'size', 'timeout', 'policy', 'elements', 'handle'], 'set');
    createOpt(opts);
    if (s.elements !== undefined && !Array.isArray(s.elements)) throw typeError('elements', 'a list', s.elements);
    const info = setInfo(s);
    // NFTA_SET_ID is mandatory: it names the set within the batch.
    const msg = setMsg(NFT_MSG.NEWSET, s, NLM_F_CREATE | (opts.create ? NLM_F_EXCL : 0), ++this.setIds);
    this.declared.set(key(s.family, s.table, s.name), info);
    this.push({ desc: `add ${s.map ? 'map' : 'set'} ${s.family} ${s.table} ${s.name}`, build: () => [msg] });
    if (s.elements?.length) this.addElements({ family: s.family, table: s.table, set: s.name }, s.elements);
    return this;
  }

  /** Like `nft delete set` / `nft delete map`. `ifExists`: `nft destroy set`. */
  deleteSet(s: { family: Family; table: string; name: string }, opts: { ifExists?: boolean } = {}): this {
    checkArg(s, 'set');
    ifExistsOpt(opts);
    checkKeys(s, ['family', 'table', 'name'], 'delete set');
    checkObjName(s.name, 'set');
    const msg = setMsg(opts.ifExists ? NFT_MSG.DESTROYSET : NFT_MSG.DELSET, s, 0);
    this.declared.set(key(s.family, s.table, s.name), null);
    this.push({ desc: `${opts.ifExists ? 'destroy' : 'delete'} set ${s.family} ${s.table} ${s.name}`, build: () => [msg] });
    return this;
  }

  /** Like `nft flush set`: removes all elements. */
  flushSet(s: SetRef): this {
    checkArg(s, 'set');
    checkKeys(s, ['family', 'table', 'set'], 'flush set');
    checkObjName(s.set, 'set');
    const msgs = elementMsgs(NFT_MSG.DELSETELEM, s, [], 0);
    this.push({ desc: `flush set ${s.family} ${s.table} ${s.set}`, build: () => msgs });
    return this;
  }

  /** Like `nft add element` (`create: true`: `nft create element`, fails on duplicates). */
  addElements(s: SetRef, elements: Element[], opts: { create?: boolean } = {}): this {
    createOpt(opts);
    return this.elements(s, elements, false, NLM_F_CREATE | (opts.create ? NLM_F_EXCL : 0));
  }

  /** Like `nft delete element` (keys are enough). `ifExists`: `nft destroy element` (missing ones are no error). */
  deleteElements(s: SetRef, elements: (Element | Element['key'])[], opts: { ifExists?: boolean } = {}): this {
    checkArg(s, 'set');
    ifExistsOpt(opts);
    if (!Array.isArray(elements)) throw typeError('elements', 'a list', elements);
    const els = elements.map((e) => (e && typeof e === 'object' && !Array.isArray(e) ? e : { key: e as Element['key'] }));
    return this.elements(s, els, true, 0, opts.ifExists);
  }

  private elements(s: SetRef, elements: Element[], del: boolean, flags: number, ifExists = false): this {
    checkArg(s, 'set');
    checkKeys(s, ['family', 'table', 'set'], 'set reference');
    for (const k of ['family', 'table', 'set'] as const) if (typeof s[k] !== 'string') throw typeError(`set reference.${k}`, 'a string', s[k]);
    if (!Array.isArray(elements)) throw typeError('elements', 'a list', elements);
    const desc = `${del ? (ifExists ? 'destroy' : 'delete') : 'add'} element ${s.family} ${s.table} ${s.set} (${elements.length})`;
    const cmd = del ? (ifExists ? NFT_MSG.DESTROYSETELEM : NFT_MSG.DELSETELEM) : NFT_MSG.NEWSETELEM;
    const known = this.declared.get(key(s.family, s.table, s.set));
    if (known === null) throw new ValidationError(`${desc}: the set is deleted earlier in this transaction`);
    const build = (info: SetInfo) => elementMsgs(cmd, s, encodeElements(info, elements, del, desc), flags);
    if (known) {
      const msgs = build(known);
      this.push({ desc, build: () => msgs });
    } else {
      this.push({
        desc, needs: [s],
        build: (ctx) => {
          const info = ctx.set(s.family, s.table, s.set);
          if (!info && ctx.absent?.(s.family, s.table, s.set)) throw new ValidationError(`${desc}: no such set`, 'ENOENT');
          if (!info) throw new ValidationError(`${desc}: no such set (or of a type this library cannot encode)`);
          return build(info);
        },
      });
    }
    return this;
  }
}

function createOpt(opts: unknown): void {
  const o = checkOptions<{ create?: boolean }>(opts, 'options');
  checkKeys(o, ['create'], 'options');
  if (o.create !== undefined) checkBool(o.create, 'create');
}

function ifExistsOpt(opts: unknown): void {
  const o = checkOptions<{ ifExists?: boolean }>(opts, 'options');
  checkKeys(o, ['ifExists'], 'options');
  if (o.ifExists !== undefined) checkBool(o.ifExists, 'ifExists');
}

function natMaps(r: Rule): SetRef[] {
  const out: SetRef[] = [];
  for (const s of r.stmts ?? []) {
    if (s && typeof s === 'object' && 'nat' in s && s.map && s.map.ports === undefined) out.push({ family: r.family, table: r.table, set: s.map.set });
  }
  return out;
}

/** The ruleset changed between reading its generation and committing (the kernel refused the batch). */
export class NftGenerationError extends NetlinkError {
  generation?: number;
}

const ATTR_NAMES: Record<number, string[]> = {
  [NFT_MSG.NEWTABLE]: ['', 'name', 'flags', 'use', 'handle', 'pad', 'userdata', 'owner'],
  [NFT_MSG.DELTABLE]: ['', 'name', 'flags', 'use', 'handle', 'pad', 'userdata', 'owner'],
  [NFT_MSG.NEWCHAIN]: ['', 'table', 'handle', 'name', 'hook', 'policy', 'use', 'type', 'counters', 'pad', 'flags', 'id', 'userdata'],
  [NFT_MSG.DELCHAIN]: ['', 'table', 'handle', 'name', 'hook', 'policy', 'use', 'type', 'counters', 'pad', 'flags', 'id', 'userdata'],
  [NFT_MSG.NEWRULE]: ['', 'table', 'chain', 'handle', 'expressions', 'compat', 'position', 'userdata', 'pad', 'id', 'position id', 'chain id'],
  [NFT_MSG.DELRULE]: ['', 'table', 'chain', 'handle', 'expressions', 'compat', 'position', 'userdata', 'pad', 'id', 'position id', 'chain id'],
  [NFT_MSG.NEWSET]: ['', 'table', 'name', 'flags', 'key type', 'key length', 'data type', 'data length', 'policy', 'desc', 'id', 'timeout', 'gc interval', 'userdata', 'pad', 'object type', 'handle'],
  [NFT_MSG.DELSET]: ['', 'table', 'name', 'flags', 'key type', 'key length', 'data type', 'data length', 'policy', 'desc', 'id', 'timeout', 'gc interval', 'userdata', 'pad', 'object type', 'handle'],
  [NFT_MSG.NEWSETELEM]: ['', 'table', 'set', 'elements', 'set id'],
  [NFT_MSG.DELSETELEM]: ['', 'table', 'set', 'elements', 'set id'],
};
ATTR_NAMES[NFT_MSG.DESTROYTABLE] = ATTR_NAMES[NFT_MSG.DELTABLE];
ATTR_NAMES[NFT_MSG.DESTROYCHAIN] = ATTR_NAMES[NFT_MSG.DELCHAIN];
ATTR_NAMES[NFT_MSG.DESTROYRULE] = ATTR_NAMES[NFT_MSG.DELRULE];
ATTR_NAMES[NFT_MSG.DESTROYSET] = ATTR_NAMES[NFT_MSG.DELSET];
ATTR_NAMES[NFT_MSG.DESTROYSETELEM] = ATTR_NAMES[NFT_MSG.DELSETELEM];

/**
 * Names what the kernel's extended ACK offset points at in a message we
 * sent: "chain", "expression #3 (lookup)", "element #12".
 */
export function describeOffset(msg: Buffer | undefined, off: number | undefined): string | undefined {
  if (!msg || off === undefined || msg.length < 20) return undefined;
  const type = msg.readUInt16LE(4) & 0xff;
  for (let p = 20; p + 4 <= msg.length;) {
    const len = msg.readUInt16LE(p);
    const t = msg.readUInt16LE(p + 2) & 0x3fff;
    if (len < 4) break;
    if (off >= p && off < p + len) {
      const name = ATTR_NAMES[type]?.[t] || `attribute ${t}`;
      const list = (type === NFT_MSG.NEWRULE && t === 4) || ((type === NFT_MSG.NEWSETELEM || type === NFT_MSG.DELSETELEM || type === NFT_MSG.DESTROYSETELEM) && t === 3);
      if (!list) return name;
      let idx = 0;
      for (let q = p + 4; q + 4 <= p + len; idx++) {
        const elen = msg.readUInt16LE(q);
        if (elen < 4) break;
        if (off >= q && off < q + elen) {
          if (t !== 4) return `element #${idx}`;
          // NFTA_EXPR_NAME is the first attribute of an expression.
          const nlen = msg.readUInt16LE(q + 4);
          const ename = msg.subarray(q + 8, q + 4 + nlen).toString().replace(/\0.*$/, '');
          return `expression #${idx} (${ename})`;
        }
        q += (elen + 3) & ~3;
      }
      return name;
    }
    p += (len + 3) & ~3;
  }
  return undefined;
}

/** Turns batch errors into one error naming the first failing operation. */
export function batchError(errors: { index: number; errno: number; extack?: string; extackOffset?: number }[], where: (i: number) => string,
                           generation?: number, msgs?: Buffer[]): Error {
  const first = [...errors].sort((a, b) => a.index - b.index)[0];
  if (first.index === 0 && first.errno === 85 /* ERESTART */) {
    const e = new NftGenerationError(`nft transaction: ruleset changed since generation ${generation} was read (kernel refused the batch: ERESTART); re-read and retry`, 'ERESTART', 85);
    e.op = 'nft transaction';
    e.generation = generation;
    return e;
  }
  const at = describeOffset(msgs?.[first.index], first.extackOffset);
  const e = kernelError(first.errno, `nft transaction: ${where(first.index)}`, first.extack) as NetlinkError & { attribute?: string; errors?: any[] };
  if (at) { e.attribute = at; e.message += ` (kernel points at: ${at})`; }
  e.errors = errors.map((x) => ({ ...x, op: where(x.index), attribute: describeOffset(msgs?.[x.index], x.extackOffset) }));
  return e;
}
