// nft's userdata: a TLV list (type u8, length u8, value) stored opaquely by
// the kernel in tables, chains, rules, sets and elements. `nft list` reads
// comments and set key byte order from it.
import { ValidationError, typeError } from '../errors';

export type Tlv = { type: number; value: Buffer };

export function buildUdata(items: Tlv[]): Buffer {
  const parts: Buffer[] = [];
  for (const it of items) {
    if (it.value.length > 255) throw new ValidationError(`userdata item ${it.type} longer than 255 bytes`);
    parts.push(Buffer.from([it.type, it.value.length]), it.value);
  }
  return Buffer.concat(parts);
}

export function parseUdata(buf: Buffer | undefined): Tlv[] {
  const out: Tlv[] = [];
  if (!buf) return out;
  let off = 0;
  while (off + 2 <= buf.length) {
    const type = buf[off];
    const len = buf[off + 1];
    if (off + 2 + len > buf.length) break;
    out.push({ type, value: buf.subarray(off + 2, off + 2 + len) });
    off += 2 + len;
  }
  return out;
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);  // nftnl_udata_put_u32 stores host order
  return b;
}

/** NUL-terminated string, as nftnl_udata_put_strz. */
export function strz(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

/** Comments: nft caps them at 128 bytes including the NUL. */
export function commentUdata(type: number, comment: string | undefined): Tlv[] {
  if (comment === undefined) return [];
  if (typeof comment !== 'string') throw typeError('comment', 'a string', comment);
  if (Buffer.byteLength(comment) > 127 || comment.includes('\0'))
    throw new ValidationError(`invalid comment (at most 127 bytes, no NUL): ${JSON.stringify(comment)}`);
  return [{ type, value: strz(comment) }];
}

export function commentOf(buf: Buffer | undefined, type: number): string | undefined {
  const t = parseUdata(buf).find((x) => x.type === type);
  if (!t) return undefined;
  const z = t.value.indexOf(0);
  return t.value.subarray(0, z < 0 ? t.value.length : z).toString('utf8');
}
