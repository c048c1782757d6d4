// Tables, like `nft add table`, `nft delete table`, `nft list tables`.
import { native } from '../native';
import { Family, NFT_MSG, UDATA_TABLE_COMMENT } from './constants';
import { checkObjName, famOf, familyNum, flagBits, flagNames, checkHandle } from './common';
import { buildUdata, commentOf, commentUdata } from './udata';

export type TableFlag = 'dormant' | 'owner' | 'persist';
const TABLE_FLAGS: Record<TableFlag, number> = { dormant: 1, owner: 2, persist: 4 };

export interface Table {
  family: Family;
  name: string;
  flags?: TableFlag[];
  comment?: string;
  /** Set when read back. */
  handle?: number;
  /** Number of chains, sets... in it (read back). */
  use?: number;
}

export type TableRef = { family: Family; name: string } | { family: Family; handle: number };

export function tableMsg(cmd: number, t: Partial<Table> & { family: Family }, flags: number): Buffer {
  const fam = familyNum(t.family, (cmd === NFT_MSG.DELTABLE || cmd === NFT_MSG.GETTABLE) && t.name === undefined && t.handle === undefined);
  const o: any = {};
  if (t.name !== undefined || cmd === NFT_MSG.NEWTABLE) o.name = checkObjName(t.name, 'table');
  if (t.handle !== undefined) o.handle = checkHandle(t.handle, 'table');
  if (cmd === NFT_MSG.NEWTABLE) {
    if (t.flags !== undefined) o.flags = flagBits(t.flags, TABLE_FLAGS, 'table');
    const ud = commentUdata(UDATA_TABLE_COMMENT, t.comment);
    if (ud.length) o.userdata = buildUdata(ud);
  }
  return native.nftTable(cmd, fam, flags, o);
}

export function parseTable(b: any): Table {
  const t: Table = { family: famOf(b.family), name: b.name, handle: b.handle };
  if (b.flags) t.flags = flagNames<TableFlag>(b.flags, TABLE_FLAGS);
  const c = commentOf(b.userdata, UDATA_TABLE_COMMENT);
  if (c !== undefined) t.comment = c;
  if (b.use !== undefined) t.use = b.use;
  return t;
}
