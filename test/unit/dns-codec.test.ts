// Unit tier: the DNS wire format and the server's local answers (no sockets:
// DnsServer.answer is called directly, with no upstreams to forward to).
import * as assert from 'assert';
import * as packet from 'dns-packet';
import { DnsServer, Deframer, RCODE, decodeQuery, encodeReply, frame, isDnsName, ptrName, reverseAddress, parseQuery, buildAnswer } from '../../src/cnm/dns';

const data = (a: packet.Answer) => (a as { data?: unknown }).data;
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// id 0x1234, RD, one question: web.mynet A IN (RFC 1035 4.1, byte by byte).
const QUERY = hex('1234 0100 0001 0000 0000 0000  03 776562 05 6d796e6574 00  0001 0001');
// The reply: QR RD RA (not AA: Docker never sets it), the question as asked, one A record, TTL 600, 172.18.0.2.
const REPLY = hex('1234 8180 0001 0001 0000 0000  03 776562 05 6d796e6574 00 0001 0001'
  + '03 776562 05 6d796e6574 00  0001 0001 00000258 0004 ac120002');

function query(name: string, type: string, opts: { id?: number; edns?: { size?: number; version?: number; do?: boolean }; flags?: number } = {}): Buffer {
  return packet.encode({
    id: opts.id ?? 7, type: 'query', flags: opts.flags ?? packet.RECURSION_DESIRED,
    questions: [{ name, type: type as any, class: 'IN' }],
    additionals: opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns.size ?? 4096, extendedRcode: 0, ednsVersion: opts.edns.version ?? 0, flags: opts.edns.do ? packet.DNSSEC_OK : 0, flag_do: !!opts.edns.do, options: [] }] : [],
  });
}

const names = {
  lookup: (name: string, type: 'A' | 'AAAA') => {
    if (name === 'web' || name === 'web.mynet') return type === 'A' ? ['172.18.0.2'] : [];
    if (name === 'db') return type === 'A' ? ['172.18.0.3'] : ['fd00::3'];
    if (name === 'many') return type === 'A' ? Array.from({ length: 40 }, (_, i) => `10.0.0.${i + 1}`) : [];
    return undefined;
  },
  reverse: (ip: string) => (ip === '172.18.0.2' ? ['web.mynet'] : ip === 'fd00::3' ? ['db.mynet'] : undefined),
};
const server = (upstreams: string[] | null = []) => new DnsServer('127.0.0.1', names, upstreams);
const ask = async (msg: Buffer, upstreams: string[] | null = [], tcp = false) => {
  const out = await server(upstreams).answer(msg, { tcp });
  assert.ok(out, 'a reply');
  return { raw: out!, p: packet.decode(out!) as packet.DecodedPacket & { rcode: string; opcode: string } };
};

describe('unit: DNS codec', () => {
  it('decodes a golden query and encodes the golden reply byte for byte', () => {
    const d = decodeQuery(QUERY);
    assert.ok('query' in d);
    const q = d.query;
    assert.deepStrictEqual([q.id, q.name, q.type, q.typeCode, q.class, q.edns], [0x1234, 'web.mynet', 'A', 1, 'IN', undefined]);
    assert.deepStrictEqual(q.question, QUERY.subarray(12));
    assert.strictEqual(encodeReply(q, RCODE.NOERROR, [{ type: 'A', data: '172.18.0.2' }]).toString('hex'), REPLY.toString('hex'));
  });

  it('the server answers the golden query with the golden reply', async () => {
    assert.strictEqual((await server().answer(QUERY))!.toString('hex'), REPLY.toString('hex'));
  });

  it('names are case-insensitive; the question comes back as asked (0x20)', async () => {
    const { raw, p } = await ask(query('WeB.MyNeT', 'A'));
    assert.strictEqual(p.rcode, 'NOERROR');
    assert.deepStrictEqual(p.answers!.map(data), ['172.18.0.2']);
    assert.strictEqual(p.questions![0].name, 'WeB.MyNeT');
    assert.ok(raw.includes(Buffer.from('WeB')));
  });

  it('AAAA of a name known without IPv6 is NOERROR with no data (not authoritative, recursion available, as Docker answers); unknown names with no server to forward to SERVFAIL', async () => {
    const a = await ask(query('web', 'AAAA'));
    assert.deepStrictEqual([a.p.rcode, a.p.answers!.length, a.p.flag_aa, a.p.flag_ra], ['NOERROR', 0, false, true]);
    const b = await ask(query('db', 'AAAA'));
    assert.deepStrictEqual(b.p.answers!.map(data), ['fd00::3']);
    const mx = await ask(query('web', 'MX'));
    assert.deepStrictEqual([mx.p.rcode, mx.p.answers!.length], ['NOERROR', 0]);
    const u = await ask(query('nosuch', 'A'));
    assert.strictEqual(u.p.rcode, 'SERVFAIL');
  });

  it('internal networks (no upstreams at all): unknown names REFUSED, known ones answered', async () => {
    const { p } = await ask(query('example.com', 'A'), null);
    assert.deepStrictEqual([p.rcode, p.flag_aa], ['REFUSED', false]);
    const known = await ask(query('web', 'A'), null);
    assert.deepStrictEqual([known.p.rcode, known.p.flag_ra, known.p.answers!.length], ['NOERROR', true, 1]);
  });

  it('PTR for known addresses, IPv4 and IPv6', async () => {
    assert.strictEqual(ptrName('172.18.0.2'), '2.0.18.172.in-addr.arpa');
    assert.strictEqual(ptrName('fd00::3'), `3.${'0.'.repeat(29)}d.f.ip6.arpa`);
    assert.strictEqual(reverseAddress('2.0.18.172.IN-ADDR.ARPA.'), '172.18.0.2');
    assert.strictEqual(reverseAddress(ptrName('fd00::3')), 'fd00::3');
    for (const bad of ['18.172.in-addr.arpa', '256.0.18.172.in-addr.arpa', '02.0.18.172.in-addr.arpa', 'x.ip6.arpa', 'example.com']) assert.strictEqual(reverseAddress(bad), undefined, bad);
    const v4 = await ask(query(ptrName('172.18.0.2'), 'PTR'));
    assert.deepStrictEqual(v4.p.answers!.map((a) => [a.type, data(a)]), [['PTR', 'web.mynet']]);
    const v6 = await ask(query(ptrName('fd00::3').toUpperCase(), 'PTR'));
    assert.deepStrictEqual(v6.p.answers!.map(data), ['db.mynet']);
    const other = await ask(query(ptrName('172.18.0.99'), 'PTR'));
    assert.strictEqual(other.p.rcode, 'SERVFAIL', 'unknown addresses go the forward path');
  });

  it('the old lookup function form still works (no PTR)', async () => {
    const s = new DnsServer('127.0.0.1', (n, t) => (n === 'a' && t === 'A' ? ['10.1.1.1'] : undefined), []);
    const p = packet.decode((await s.answer(query('A', 'A')))!);
    assert.deepStrictEqual(p.answers!.map(data), ['10.1.1.1']);
    const legacy = parseQuery(query('a', 'A'));
    assert.deepStrictEqual(legacy && [legacy.q.name, legacy.q.type, legacy.q.cls], ['a', 1, 1]);
    assert.strictEqual(packet.decode(buildAnswer(query('a', 'A'), legacy!.q.end, 0, 1, ['10.1.1.1'])).answers!.map(data)[0], '10.1.1.1');
  });

  it('EDNS: an OPT comes back (our size, DO echoed); versions above 0 get BADVERS', async () => {
    const { p } = await ask(query('web', 'A', { edns: { size: 4096, do: true } }));
    const opt = p.additionals!.find((a) => a.type === 'OPT') as packet.OptAnswer;
    assert.ok(opt, 'OPT in the reply');
    assert.deepStrictEqual([opt.udpPayloadSize, opt.ednsVersion, opt.flag_do, p.answers!.length], [1232, 0, true, 1]);
    const none = await ask(query('web', 'A'));
    assert.strictEqual(none.p.additionals!.length, 0, 'no OPT without one asked');
    const v1 = await ask(query('web', 'A', { edns: { version: 1 } }));
    const o1 = v1.p.additionals!.find((a) => a.type === 'OPT') as packet.OptAnswer;
    // BADVERS is 16: 0 in the header, 1 in the OPT's extended rcode.
    assert.deepStrictEqual([v1.p.rcode, o1.extendedRcode, v1.p.answers!.length], ['NOERROR', 1, 0]);
  });

  it('UDP answers over 512 bytes (or the EDNS size) keep as many records as fit, with TC; TCP ones are whole', async () => {
    const plain = await ask(query('many', 'A'));
    // 12 + 9 (question) + 20 per record: 24 fit in 512.
    assert.deepStrictEqual([plain.p.flag_tc, plain.p.answers!.length], [true, 24]);
    assert.ok(plain.raw.length <= 512);
    const small = await ask(query('many', 'A', { edns: { size: 600 } }));
    assert.deepStrictEqual([small.p.flag_tc, small.raw.length <= 600, small.p.answers!.length], [true, true, 28]);
    const edns = await ask(query('many', 'A', { edns: { size: 1232 } }));
    assert.deepStrictEqual([edns.p.flag_tc, edns.p.answers!.length], [false, 40]);
    const tcp = await ask(query('many', 'A'), [], true);
    assert.deepStrictEqual([tcp.p.flag_tc, tcp.p.answers!.length], [false, 40]);
  });

  it('PTR answers carry only names a DNS message can: a label over 63 bytes or 253 in all is left out (a network may be named anything)', async () => {
    assert.deepStrictEqual(['web.mynet', 'a.'.repeat(126) + 'b', 'x'.repeat(63), 'x'.repeat(64), 'a..b', '', 'a.'.repeat(127) + 'b'].map(isDnsName), [true, true, true, false, false, false, false]);
    const long = `web.${'n'.repeat(70)}`;
    const s = new DnsServer('127.0.0.1', { lookup: () => undefined, reverse: () => [long, 'web'] }, []);
    const p = packet.decode((await s.answer(query(ptrName('172.18.0.9'), 'PTR')))!);
    assert.deepStrictEqual(p.answers!.map(data), ['web']);
    const { qualified } = require('../../src/cnm/names');
    assert.deepStrictEqual([qualified('web', 'front'), qualified('web', 'n'.repeat(70))], ['web.front', 'web']);
  });

  it('a label holding a dot (dig web\\.mynet) is not the name web.mynet: nothing local answers it', async () => {
    // One label "web.mynet" (9 bytes): id 9, RD, A IN.
    const q = hex('0009 0100 0001 0000 0000 0000  09 7765622e6d796e6574 00  0001 0001');
    const d = decodeQuery(q);
    assert.ok('query' in d && d.query.dotInLabel);
    const { p } = await ask(q);
    assert.deepStrictEqual([p.rcode, p.answers!.length], ['SERVFAIL', 0], 'forwarded (no server here), not answered as web.mynet');
    assert.strictEqual((await ask(QUERY)).p.answers!.length, 1);
  });

  it('several addresses come in a new order each time (as Docker shuffles them), all of them', async () => {
    const orders = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { p } = await ask(query('many', 'A'), [], true);
      const got = p.answers!.map(data) as string[];
      assert.deepStrictEqual([...got].sort(), names.lookup('many', 'A')!.slice().sort());
      orders.add(got.join());
    }
    assert.ok(orders.size > 1, 'the same order 20 times');
  });

  it('ndots set by the sandbox: a single-label name not known here gets an empty NOERROR, not a forward; dotted ones still go on', async () => {
    const s = new DnsServer('127.0.0.1', names, [], 53, { ndotsSet: true });
    const single = packet.decode((await s.answer(query('nosuch', 'A')))!) as packet.DecodedPacket & { rcode: string };
    assert.deepStrictEqual([single.rcode, single.answers!.length], ['NOERROR', 0]);
    const known = packet.decode((await s.answer(query('web', 'A')))!);
    assert.deepStrictEqual(known.answers!.map(data), ['172.18.0.2']);
    const dotted = packet.decode((await s.answer(query('nosuch.example', 'A')))!) as packet.DecodedPacket & { rcode: string };
    assert.strictEqual(dotted.rcode, 'SERVFAIL', 'forwarded (no server here)');
    const mx = packet.decode((await s.answer(query('nosuch', 'MX')))!) as packet.DecodedPacket & { rcode: string };
    assert.strictEqual(mx.rcode, 'SERVFAIL', 'other types forwarded');
  });

  it('malformed queries get FORMERR with their id; too short or responses get nothing', async () => {
    const formerr = async (msg: Buffer, why: string) => {
      const out = await server().answer(msg);
      assert.ok(out, why);
      assert.strictEqual(out!.readUInt16BE(0), msg.readUInt16BE(0), `${why}: id`);
      assert.strictEqual(out!.readUInt16BE(2) & 0x800f, 0x8001, `${why}: QR + FORMERR`);
    };
    await formerr(QUERY.subarray(0, QUERY.length - 2), 'truncated question');
    await formerr(Buffer.concat([QUERY, Buffer.from([0])]), 'trailing byte');
    const two = Buffer.from(QUERY); two.writeUInt16BE(2, 4);
    await formerr(two, 'two questions announced, one present');
    const zero = Buffer.from(QUERY); zero.writeUInt16BE(0, 4);
    await formerr(zero, 'no question');
    await formerr(hex('1234 0100 0001 0000 0000 0000 c000 0001 0001'), 'compression pointer in the question');
    await formerr(hex('1234 0100 0001 0000 0000 0000 3f 6162 00 0001 0001'), 'label longer than the message');
    await formerr(hex('1234 0100 0001 0000 0000 0000 80 00 0001 0001'), 'reserved label type');
    const twoOpt = packet.encode({ id: 9, type: 'query', questions: [{ name: 'web', type: 'A' }], additionals: [0, 1].map(() => ({ type: 'OPT', name: '.', udpPayloadSize: 512, options: [] }) as any) });
    await formerr(twoOpt, 'two OPT records');
    assert.strictEqual(await server().answer(QUERY.subarray(0, 11)), undefined);
    const resp = Buffer.from(QUERY); resp.writeUInt16BE(0x8100, 2);
    assert.strictEqual(await server().answer(resp), undefined);
  });

  it('opcodes other than QUERY get NOTIMP', async () => {
    for (const opcode of [1, 2, 4, 5]) {
      const m = Buffer.from(QUERY); m.writeUInt16BE((opcode << 11) | 0x0100, 2);
      const out = (await server().answer(m))!;
      assert.strictEqual(out.readUInt16BE(2), 0x8000 | (opcode << 11) | 0x0100 | RCODE.NOTIMP, `opcode ${opcode}`);
    }
  });

  it('TCP framing: a 2-byte length per message, several per chunk, one across chunks', () => {
    const a = query('web', 'A', { id: 1 });
    const b = query('db', 'AAAA', { id: 2 });
    const stream = Buffer.concat([frame(a), frame(b), frame(a)]);
    assert.strictEqual(stream.readUInt16BE(0), a.length);
    const d = new Deframer();
    const cut = frame(a).length + frame(b).length + 3;
    const first = d.push(stream.subarray(0, cut));
    assert.deepStrictEqual(first, [a, b]);
    assert.strictEqual(d.pending, 3);
    assert.deepStrictEqual(d.push(stream.subarray(cut, cut + 1)), []);
    assert.deepStrictEqual(d.push(stream.subarray(cut + 1)), [a]);
    assert.strictEqual(d.pending, 0);
    // dns-packet's own stream encoding agrees.
    assert.deepStrictEqual(frame(a), packet.streamEncode(packet.decode(a)));
  });

  it('refuses bad construction with EINVAL', () => {
    assert.throws(() => new DnsServer('nope', names, []), (e: any) => e.code === 'EINVAL');
    assert.throws(() => new DnsServer('127.0.0.1', names, ['8.8.8']), (e: any) => e.code === 'EINVAL');
    assert.throws(() => new DnsServer('127.0.0.1', names, [], 53, { limits: { tcpIdleMs: 0 } }), (e: any) => e.code === 'EINVAL');
    assert.throws(() => DnsServer.fromSockets({}, names, []), (e: any) => e.code === 'EINVAL');
    assert.throws(() => DnsServer.fromSockets({ udpFd: -1 }, names, []), (e: any) => e.code === 'EINVAL');
  });
});
