// Embedded DNS: the server (server.ts), the wire format (codec.ts, over
// dns-packet) and the choice of upstream servers (upstreams.ts).
import { RCODE, decodeQuery, encodeReply } from './codec';

export { DnsServer, DnsBudget, DEFAULT_LIMITS } from './server';
export type { Lookup, Names, DnsLimits, DnsServerOptions, DnsSockets, DnsStats } from './server';
export { hostNameservers, hostResolvConf, containerNameservers, embeddedUpstreams, isLoopback } from './upstreams';
export { RCODE, EDNS_UDP_SIZE, isDnsName, decodeQuery, encodeReply, headerReply, udpLimit, frame, Deframer, reverseAddress, ptrName } from './codec';
export type { Query, Decoded, Edns, LocalRecord, ReplyOptions } from './codec';

const TYPES: Record<string, number> = { A: 1, AAAA: 28 };

/** @deprecated decodeQuery. The first question of a query, and where it ends; undefined if it is none. */
export function parseQuery(buf: Buffer): { id: number; flags: number; q: { name: string; type: number; cls: number; end: number } } | undefined {
  const d = decodeQuery(buf);
  if (!('query' in d)) return undefined;
  const { query } = d;
  return {
    id: query.id,
    flags: buf.readUInt16BE(2),
    q: { name: query.name, type: query.typeCode, cls: query.question.readUInt16BE(query.question.length - 2), end: 12 + query.question.length },
  };
}

/** @deprecated encodeReply. An answer to `query` with A or AAAA records. */
export function buildAnswer(query: Buffer, _qEnd: number, rcode: number, type: number, ips: string[], ttl = 600): Buffer {
  const d = decodeQuery(query);
  if (!('query' in d)) throw new Error('not a query');
  const t = type === TYPES.A ? 'A' : 'AAAA';
  return encodeReply(d.query, rcode, ips.map((data) => ({ type: t, data, ttl })), {});
}
