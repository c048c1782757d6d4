// DNS wire format through dns-packet: what the embedded server reads from a
// query and how it builds a local answer. Forwarded traffic is never
// re-encoded (the bytes go upstream and back as they are), so every record
// type and EDNS option survives a forward unchanged.
import * as packet from 'dns-packet';
import * as net from 'net';
import { bytesToIp, ipBytes } from '../../util/ip';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

const QR = 0x8000;
const TC = packet.TRUNCATED_RESPONSE;
const RD = packet.RECURSION_DESIRED;
const RA = packet.RECURSION_AVAILABLE;
const CD = packet.CHECKING_DISABLED;

// dns-packet exports its section codecs too; its types do not declare them.
const question = (packet as unknown as { question: { decode: ((b: Buffer) => packet.Question) & { bytes: number } } }).question;

/** UDP payload size this server advertises (the DNS flag day 2020 value). */
export const EDNS_UDP_SIZE = 1232;

export interface Edns {
  udpSize: number;
  version: number;
  /** DNSSEC OK, echoed in the answer (RFC 3225). */
  do: boolean;
}

export interface Query {
  id: number;
  /** Header flags without QR, opcode and rcode bits. */
  flags: number;
  /** The name as asked (case kept, no trailing dot; '' for the root). */
  name: string;
  /** dns-packet's type name ('A', 'PTR', 'UNKNOWN_65280' ...) and number. */
  type: string;
  typeCode: number;
  /** 'IN', 'CH', ... ('UNKNOWN_n' for others). */
  class: string;
  edns?: Edns;
  /** The question section's bytes, echoed as they came. */
  question: Buffer;
  /** A label holds a '.' (dig's `web\.front`): the text name is not what was asked, so nothing local matches it. */
  dotInLabel?: boolean;
}

/** Whether a label of the (uncompressed) question name holds a '.' byte. */
function dotInLabel(question: Buffer): boolean {
  for (let i = 0; i < question.length && question[i] !== 0; i += 1 + question[i]) {
    if (question.subarray(i + 1, i + 1 + question[i]).includes(0x2e)) return true;
  }
  return false;
}

/**
 * A decoded query, or what to do instead: `reply` (FORMERR, NOTIMP) built
 * from the header alone, or nothing at all (too short to carry an id, or a
 * response: answering those would let two servers loop).
 */
export type Decoded = { query: Query } | { reply: Buffer } | { drop: true };

/**
 * Reads a query, as miekg/dns (Docker's resolver) accepts them: opcode
 * QUERY only (others NOTIMP), one question, at most one OPT; anything that
 * does not decode to exactly its length is FORMERR.
 */
export function decodeQuery(msg: Buffer): Decoded {
  if (msg.length < 12) return { drop: true };
  const flags = msg.readUInt16BE(2);
  if (flags & QR) return { drop: true };
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { reply: headerReply(msg, RCODE.NOTIMP) };
  if (msg.readUInt16BE(4) !== 1 || msg.readUInt16BE(6) > 1 || msg.readUInt16BE(8) > 1 || msg.readUInt16BE(10) > 2)
    return { reply: headerReply(msg, RCODE.FORMERR) };
  let p: packet.DecodedPacket;
  let qLen: number;
  try {
    p = packet.decode(msg);
    if (packet.decode.bytes !== msg.length) throw new Error('trailing bytes');
    // Decoded on its own so that a compression pointer in the question
    // (there is nothing before it to point at but the header) is an error.
    question.decode(msg.subarray(12));
    qLen = question.decode.bytes;
  } catch {
    return { reply: headerReply(msg, RCODE.FORMERR) };
  }
  const q = p.questions![0];
  const opts = (p.additionals ?? []).filter((a) => a.type === 'OPT') as packet.OptAnswer[];
  if (opts.length > 1 || (opts[0] && opts[0].name !== '.')) return { reply: headerReply(msg, RCODE.FORMERR) };
  const typeCode = msg.readUInt16BE(12 + qLen - 4);
  const query: Query = {
    id: msg.readUInt16BE(0),
    flags: flags & 0x07f0,
    name: q.name === '.' ? '' : q.name,
    type: q.type,
    typeCode,
    class: String(q.class),
    question: Buffer.from(msg.subarray(12, 12 + qLen)),
  };
  if (opts[0]) query.edns = { udpSize: opts[0].udpPayloadSize, version: opts[0].ednsVersion, do: opts[0].flag_do };
  if (dotInLabel(query.question)) query.dotInLabel = true;
  return { query };
}

/** An answer record of a local reply (A, AAAA, PTR). */
export interface LocalRecord { type: 'A' | 'AAAA' | 'PTR'; data: string; ttl?: number }

export interface ReplyOptions {
  /** Largest reply allowed (UDP: 512 or the client's EDNS size); beyond it, as many answers as fit, with TC. */
  maxSize?: number;
}

/**
 * A local reply to `q`, as Docker's resolver builds one: the question echoed
 * byte for byte (case kept, as 0x20-randomising resolvers check), RD and CD
 * copied, RA set, not authoritative (Docker never sets AA), an OPT record
 * when the query had one (BADVERS for EDNS versions above 0).
 */
export function encodeReply(q: Query, rcode: number, records: LocalRecord[] = [], opts: ReplyOptions = {}): Buffer {
  if (q.edns && q.edns.version > 0) { rcode = RCODE.BADVERS; records = []; }
  const build = (answers: LocalRecord[], tc: boolean): Buffer => {
    const flags = (q.flags & (RD | CD)) | RA | (tc ? TC : 0) | (rcode & 0xf);
    const additionals: packet.Answer[] = q.edns
      ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, extendedRcode: rcode >> 4, ednsVersion: 0, flags: q.edns.do ? packet.DNSSEC_OK : 0, flag_do: q.edns.do, options: [] }]
      : [];
    const body = packet.encode({
      id: q.id,
      type: 'response',
      flags,
      questions: [],
      answers: answers.map((r) => ({ type: r.type, name: q.name || '.', class: 'IN', ttl: r.ttl ?? 600, data: r.data }) as packet.Answer),
      additionals,
    });
    // dns-packet writes no compression pointers, so the asked question's
    // bytes can go in as they came.
    const out = Buffer.concat([body.subarray(0, 12), q.question, body.subarray(12)]);
    out.writeUInt16BE(1, 4);
    return out;
  };
  const out = build(records, false);
  const max = opts.maxSize;
  if (max === undefined || out.length <= max) return out;
  // Too big: as many answers as fit, with TC (as miekg/dns's Truncate, which
  // Docker uses): a client that does not retry over TCP still gets some.
  let lo = 0;
  let hi = records.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (build(records.slice(0, mid), true).length <= max) lo = mid; else hi = mid - 1;
  }
  return build(records.slice(0, lo), true);
}

/** A reply from the header alone (id, opcode, RD), no sections. */
export function headerReply(msg: Buffer, rcode: number): Buffer {
  const flags = msg.readUInt16BE(2);
  return packet.encode({ id: msg.readUInt16BE(0), type: 'response', flags: (flags & 0x7800) | (flags & RD) | (rcode & 0xf) });
}

/** The largest UDP reply a query allows: 512 bytes, or its EDNS size (RFC 6891), as Docker's resolver takes it. */
export function udpLimit(q: Query): number {
  return q.edns ? Math.max(512, q.edns.udpSize) : 512;
}

// ---- TCP: a 2-byte length before each message (RFC 1035 4.2.2, RFC 7766) ----

export function frame(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
}

/** Splits a TCP stream into messages; several may come in one chunk, one may span chunks. */
export class Deframer {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Buffer[] = [];
    while (this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + len) break;
      out.push(Buffer.from(this.buf.subarray(2, 2 + len)));
      this.buf = this.buf.subarray(2 + len);
    }
    return out;
  }

  /** Bytes of a message not complete yet. */
  get pending(): number { return this.buf.length; }
}

// ---- Reverse names ----

/**
 * The address a PTR name stands for ("5.0.17.172.in-addr.arpa" is
 * 172.17.0.5, 32 nibbles under ip6.arpa an IPv6 address), canonical; or
 * undefined for anything else (a zone such as 17.172.in-addr.arpa, bad labels).
 */
export function reverseAddress(name: string): string | undefined {
  const n = name.toLowerCase().replace(/\.$/, '');
  let m = /^((?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){4})in-addr\.arpa$/.exec(n);
  if (m) return m[1].slice(0, -1).split('.').reverse().join('.');
  m = /^((?:[0-9a-f]\.){32})ip6\.arpa$/.exec(n);
  if (m) {
    const nib = m[1].replace(/\./g, '').split('').reverse();
    const bytes = [];
    for (let i = 0; i < 32; i += 2) bytes.push(parseInt(nib[i] + nib[i + 1], 16));
    return bytesToIp(bytes);
  }
  return undefined;
}

/**
 * Whether `name` can be written as a DNS name: labels of 1 to 63 bytes,
 * 253 in all (a network may be named anything, as in Docker; not every
 * name of it fits a PTR answer).
 */
export function isDnsName(name: string): boolean {
  const n = name.replace(/\.$/, '');
  if (!n || Buffer.byteLength(n) > 253) return false;
  return n.split('.').every((l) => l.length > 0 && Buffer.byteLength(l) <= 63);
}

/** The PTR name of an address, like `dig -x`. */
export function ptrName(ip: string): string {
  const b = ipBytes(ip);
  if (net.isIP(ip) === 4) return `${b.reverse().join('.')}.in-addr.arpa`;
  return `${b.flatMap((x) => [x >> 4, x & 15]).reverse().map((x) => x.toString(16)).join('.')}.ip6.arpa`;
}
