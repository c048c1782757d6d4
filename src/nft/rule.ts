// Rules, like `nft add rule` (append), `nft insert rule` (prepend or before
// a handle), `nft replace rule ... handle N`, `nft delete rule ... handle N`.
import { native } from '../native';
import { Family, NFT_MSG, UDATA_RULE_COMMENT } from './constants';
import { checkHandle, checkObjName, famOf, familyNum } from './common';
import { LowExpr, Stmt, decodeStmts, encodeStmts } from './expr';
import { SetInfo } from './set';
import { buildUdata, commentOf, commentUdata } from './udata';

export interface Rule {
  family: Family;
  table: string;
  chain: string;
  /** Statements in order, e.g. `[{ match: 'iifname', value: 'br0' }, { verdict: 'accept' }]`. */
  stmts: Stmt[];
  /** Shown by `nft list` as `comment "..."` (stored in nft's userdata). */
  comment?: string;
  /** Read back / after commit; required for replace and delete. */
  handle?: number;
  /** add: after this rule handle; insert: before it. */
  position?: number;
  /** The kernel expressions as read (only on rules read back). */
  exprs?: LowExpr[];
}

export type RuleRef = { family: Family; table: string; chain: string; handle: number };

export function ruleMsg(cmd: number, r: Partial<Rule> & { family: Family; table: string }, flags: number,
                        sets?: (name: string) => SetInfo | undefined, anon?: Parameters<typeof encodeStmts>[3]): Buffer {
  const fam = familyNum(r.family);
  const o: any = { table: checkObjName(r.table, 'table') };
  if (r.chain !== undefined || cmd === NFT_MSG.NEWRULE) o.chain = checkObjName(r.chain, 'chain');
  if (r.handle !== undefined) o.handle = checkHandle(r.handle, 'rule');
  if (cmd === NFT_MSG.NEWRULE) {
    if (r.position !== undefined) o.position = checkHandle(r.position, 'rule position');
    o.exprs = encodeStmts(r.stmts === undefined ? [] : r.stmts, r.family, sets, anon);
    const ud = commentUdata(UDATA_RULE_COMMENT, r.comment);
    if (ud.length) o.userdata = buildUdata(ud);
  }
  return native.nftRule(cmd, fam, flags, o);
}

export function parseRule(b: any): Rule {
  const family = famOf(b.family);
  const exprs: LowExpr[] = b.exprList ? native.nftRuleExprs(b.exprList) : [];
  const r: Rule = { family, table: b.table, chain: b.chain, handle: b.handle, stmts: decodeStmts(exprs, family) };
  const c = commentOf(b.userdata, UDATA_RULE_COMMENT);
  if (c !== undefined) r.comment = c;
  Object.defineProperty(r, 'exprs', { value: exprs, enumerable: false });
  return r;
}
