// The embedded DNS server against real sockets: served on sockets made inside
// a namespace at 127.0.0.11 (queried with dig from inside), forwarding byte
// for byte over UDP and TCP, and its limits: a flood of idle TCP connections
// or of unknown names cannot take the process's file descriptors.
// The server runs on this test's event loop: every client here is async.
import * as assert from 'assert';
import * as dgram from 'dgram';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as packet from 'dns-packet';
import { spawn } from 'child_process';
import { Netns } from '../src';
import { DnsServer, DnsBudget, Deframer, frame } from '../src/cnm/dns';
import { run } from './net-helpers';
import { uniq } from './helpers';

const fds = () => fs.readdirSync('/proc/self/fd').length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const data = (a: packet.Answer) => (a as { data?: unknown }).data;

const names = {
  lookup: (n: string, t: 'A' | 'AAAA') => (n === 'web' || n === 'web.mynet' ? (t === 'A' ? ['172.18.0.2'] : []) : undefined),
  reverse: (ip: string) => (ip === '172.18.0.2' ? ['web.mynet'] : undefined),
};

function q(name: string, type = 'A', id = 1): Buffer {
  return packet.encode({ id, type: 'query', flags: packet.RECURSION_DESIRED, questions: [{ name, type: type as any }] });
}

/** One UDP exchange from a socket (this process's, or one adopted from a namespace). */
function udpAsk(msg: Buffer, host: string, opts: { fd?: number; timeoutMs?: number } = {}): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    // Sent again every 500 ms, as a stub resolver would.
    const again = setInterval(() => send(), 500);
    const done = (m?: Buffer) => { clearTimeout(t); clearInterval(again); try { s.close(); } catch { /* closed */ } resolve(m); };
    const t = setTimeout(() => done(), opts.timeoutMs ?? 3000);
    s.on('message', (m) => done(m));
    s.on('error', () => done());
    const send = () => s.send(msg, 53, host);
    if (opts.fd !== undefined) s.bind({ fd: opts.fd }, send); else send();
  });
}

/** Queries over one TCP connection, answers in order of arrival. */
function tcpAsk(msgs: Buffer[], host: string, timeoutMs = 3000): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const s = net.connect({ host, port: 53 });
    const d = new Deframer();
    const done = () => { clearTimeout(t); s.destroy(); resolve(out); };
    const t = setTimeout(done, timeoutMs);
    s.on('connect', () => s.write(Buffer.concat(msgs.map(frame))));
    s.on('data', (c) => { out.push(...d.push(c)); if (out.length === msgs.length) done(); });
    s.on('error', done);
    s.on('close', done);
  });
}

describe('embedded DNS: sockets, forwarding, limits', function () {
  this.timeout(60000);
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

  // A fake upstream at 127.0.0.2:53 (UDP and TCP) that answers every query
  // with records dns-packet's own types do not cover, plus an OPT option.
  async function fakeUpstream(): Promise<{ sent: Buffer[] }> {
    const sent: Buffer[] = [];
    const reply = (m: Buffer) => {
      const p = packet.decode(m);
      const out = packet.encode({
        id: p.id, type: 'response', flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE, questions: p.questions,
        answers: [
          { type: 'UNKNOWN_65280' as any, name: p.questions![0].name, ttl: 5, data: Buffer.from([0, 1, 2, 0xff, 0xfe]) },
          { type: 'CAA', name: p.questions![0].name, ttl: 5, data: { flags: 128, tag: 'issue', value: 'ca.example' } },
          { type: 'TXT', name: p.questions![0].name, ttl: 5, data: [Buffer.from([0, 0x80, 0xc0]), 'two'] },
        ] as any,
        additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1400, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [{ code: 3, data: Buffer.from('upstream-nsid') } as any] }],
      });
      sent.push(out);
      return out;
    };
    const u = dgram.createSocket('udp4');
    u.on('message', (m, r) => u.send(reply(m), r.port, r.address));
    await new Promise<void>((res) => u.bind(53, '127.0.0.2', res));
    const t = net.createServer((s) => { const d = new Deframer(); s.on('data', (c) => { for (const m of d.push(c)) s.write(frame(reply(m))); }); s.on('error', () => {}); });
    await new Promise<void>((res) => t.listen(53, '127.0.0.2', res));
    cleanup.push(() => { u.close(); t.close(); });
    return { sent };
  }

  it('serves on sockets made inside a namespace at 127.0.0.11:53: dig from inside gets names, PTR, AAAA no-data, TCP, forwards', async () => {
    const up = await fakeUpstream();
    const name = uniq('dns');
    const ns = await Netns.create(name, { loUp: true });
    cleanup.push(() => ns.delete());
    const udpFd = ns.socket(4, 'udp', { address: '127.0.0.11', port: 53 });
    const tcpFd = ns.socket(4, 'tcp', { address: '127.0.0.11', port: 53 });
    const server = DnsServer.fromSockets({ udpFd, tcpFd }, names, ['127.0.0.2']);
    cleanup.push(() => server.close());
    await server.start();
    assert.strictEqual(server.address, '127.0.0.11');
    // Nothing listens on 127.0.0.11 out here: the sockets are the namespace's.
    assert.strictEqual(await udpAsk(q('web'), '127.0.0.11', { timeoutMs: 300 }), undefined);

    const dig = async (...args: string[]) => {
      const r = await run('ip', ['netns', 'exec', name, 'dig', '@127.0.0.11', '+time=2', '+tries=1', ...args]);
      assert.strictEqual(r.code, 0, r.err + r.out);
      return r.out;
    };
    assert.strictEqual((await dig('+short', 'WEB.mynet')).trim(), '172.18.0.2');
    assert.strictEqual((await dig('+short', '-x', '172.18.0.2')).trim(), 'web.mynet.');
    const aaaa = await dig('web', 'AAAA');
    assert.match(aaaa, /status: NOERROR/);
    assert.match(aaaa, /ANSWER: 0,/);
    assert.match(await dig('nosuch.mynet.', 'A'), /TYPE65280/, 'unknown names go upstream');
    assert.match(await dig('+opcode=status', 'web'), /status: NOTIMP/);
    // Several queries on one TCP connection (dig +keepopen), then EDNS with NSID through the forward.
    const before = server.stats.tcpAccepted;
    const tcp = await dig('+tcp', '+keepopen', 'web', 'A', 'web', 'AAAA', '-x', '172.18.0.2');
    assert.strictEqual((tcp.match(/status: NOERROR/g) ?? []).length, 3, tcp);
    assert.strictEqual(server.stats.tcpAccepted - before, 1, 'one connection for three queries');
    const viaTcp = await dig('+tcp', '+nsid', 'far.example', 'CAA');
    assert.match(viaTcp, /NSID: .*upstream-nsid|NSID: 75 70 73/i);
    assert.match(viaTcp, /CAA\s+128 issue "ca.example"/);

    // Byte for byte: the upstream's reply comes back unchanged, over UDP and over TCP.
    const raw = await udpAsk(q('x.example', 'TYPE65280' as any, 4242), '127.0.0.11', { fd: ns.socket(4, 'udp', { address: '127.0.0.1', port: 0 }) });
    assert.ok(raw);
    assert.strictEqual(raw!.toString('hex'), up.sent[up.sent.length - 1].toString('hex'));
    assert.deepStrictEqual(packet.decode(raw!).answers!.map((a) => a.type), ['UNKNOWN_65280', 'CAA', 'TXT']);
    assert.deepStrictEqual(data(packet.decode(raw!).answers![0]), Buffer.from([0, 1, 2, 0xff, 0xfe]));
  });

  it('FORMERR for malformed queries over UDP and TCP, and the connection stays usable', async () => {
    const server = new DnsServer('127.0.0.20', names, []);
    cleanup.push(() => server.close());
    await server.start();
    const bad = Buffer.from(q('web')); bad.writeUInt16BE(3, 4);
    const u = await udpAsk(bad, '127.0.0.20');
    assert.strictEqual(u!.readUInt16BE(2) & 0x800f, 0x8001);
    const [t1, t2] = await tcpAsk([bad, q('web', 'A', 9)], '127.0.0.20');
    assert.strictEqual(t1.readUInt16BE(2) & 0x800f, 0x8001);
    assert.deepStrictEqual(packet.decode(t2).answers!.map(data), ['172.18.0.2']);
  });

  it('thousands of idle TCP connections: the server keeps answering and its descriptors stay bounded', async () => {
    const limits = { tcpPerClient: 16, tcpPerServer: 40, tcpFirstQueryMs: 1500 };
    const server = new DnsServer('127.0.0.20', names, [], 53, { limits, budget: new DnsBudget() });
    cleanup.push(() => server.close());
    await server.start();
    const base = fds();
    // The flood comes from another process (its own descriptors are not
    // ours to count): 3,000 connections from 10 addresses, held open, idle.
    const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dnsflood-')), 'flood.js');
    fs.writeFileSync(script, `
      const net = require('net');
      let open = 0, closed = 0, settled = 0;
      const N = 3000;
      for (let i = 0; i < N; i++) {
        const s = net.connect({ host: '127.0.0.20', port: 53, localAddress: '127.0.0.' + (30 + (i % 10)) });
        s.on('connect', () => { open++; if (++settled === N) console.log('ready ' + open); });
        s.on('error', () => { if (++settled === N) console.log('ready ' + open); });
        s.on('close', () => { closed++; });
      }
      setInterval(() => {}, 1000);
    `);
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanup.push(() => { child.kill(); fs.rmSync(path.dirname(script), { recursive: true }); });
    let maxFds = 0, maxTcp = 0;
    const sampler = setInterval(() => { maxFds = Math.max(maxFds, fds() - base); maxTcp = Math.max(maxTcp, server.load.tcp); }, 5);
    cleanup.push(() => clearInterval(sampler));
    const opened = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (d) => { const m = /ready (\d+)/.exec(String(d)); if (m) resolve(Number(m[1])); });
      child.on('exit', (c) => reject(new Error(`flood exited ${c}`)));
    });
    // While the flood's connections sit there: answers over UDP and TCP.
    const u = await udpAsk(q('web'), '127.0.0.20');
    assert.deepStrictEqual(packet.decode(u!).answers!.map(data), ['172.18.0.2']);
    const [t] = await tcpAsk([q('web')], '127.0.0.20');
    assert.ok(t, 'a TCP answer during the flood');
    assert.deepStrictEqual(packet.decode(t).answers!.map(data), ['172.18.0.2']);
    maxFds = Math.max(maxFds, fds() - base);
    console.log(`      flood: ${opened} connections made, server held at most ${maxTcp} (fds +${maxFds}); evicted ${server.stats.tcpEvicted}, refused ${server.stats.tcpRefused}`);
    assert.ok(opened >= 2000, `the flood got through connect (${opened})`);
    assert.ok(maxTcp <= limits.tcpPerServer, `at most ${limits.tcpPerServer} held (${maxTcp})`);
    assert.ok(maxFds <= limits.tcpPerServer + 10, `descriptors bounded: +${maxFds}`);
    // (Connections still in the kernel's accept queue are no descriptors of ours.)
    assert.ok(server.stats.tcpAccepted >= 1000 && server.stats.tcpEvicted + server.stats.tcpRefused >= server.stats.tcpAccepted - limits.tcpPerServer, JSON.stringify(server.stats));
    // Connections refused by the kernel's full accept queue keep coming back
    // (SYN retries) for a while; once the flood ends, all is released.
    child.kill();
    await new Promise((r) => child.once('exit', r));
    for (let i = 0; i < 40 && server.load.tcp > 0; i++) await sleep(50);
    assert.strictEqual(server.load.tcp, 0);
    assert.ok(fds() - base <= 2, `descriptors back (${fds() - base})`);
  });

  it('idle TCP connections are closed: without a query after tcpFirstQueryMs, after one after tcpIdleMs', async () => {
    const limits = { tcpFirstQueryMs: 400, tcpIdleMs: 1200 };
    const server = new DnsServer('127.0.0.20', names, [], 53, { limits, budget: new DnsBudget() });
    cleanup.push(() => server.close());
    await server.start();
    const closedAfter = (query: boolean) => new Promise<number>((resolve) => {
      const s = net.connect({ host: '127.0.0.20', port: 53 });
      let t0 = 0;
      s.on('connect', () => { t0 = Date.now(); if (query) s.write(frame(q('web'))); });
      s.on('data', () => {});
      s.on('error', () => {});
      s.on('close', () => resolve(Date.now() - t0));
    });
    const [silent, asked] = await Promise.all([closedAfter(false), closedAfter(true)]);
    assert.ok(silent >= 350 && silent < 1000, `silent connection closed after ${silent} ms`);
    assert.ok(asked >= 1100 && asked < 2500, `used connection closed after ${asked} ms`);
    assert.strictEqual(server.stats.tcpTimedOut, 2);
  });

  it('a message must be whole within its deadline: a client trickling a byte at a time is closed, not kept', async () => {
    const limits = { tcpFirstQueryMs: 600, tcpIdleMs: 1200 };
    const server = new DnsServer('127.0.0.21', names, [], 53, { limits, budget: new DnsBudget() });
    cleanup.push(() => server.close());
    await server.start();
    const msg = frame(q('web'));
    const closedAfter = await new Promise<number>((resolve) => {
      const s = net.connect({ host: '127.0.0.21', port: 53 });
      let t0 = 0;
      let i = 0;
      // One byte every 150 ms: the whole query would take ~3 s.
      const drip = setInterval(() => { if (i < msg.length) s.write(msg.subarray(i, ++i)); }, 150);
      s.on('connect', () => { t0 = Date.now(); });
      s.on('error', () => {});
      s.on('close', () => { clearInterval(drip); resolve(Date.now() - t0); });
    });
    assert.ok(closedAfter >= 550 && closedAfter < 1500, `trickling connection closed after ${closedAfter} ms`);
    assert.strictEqual(server.stats.tcpTimedOut, 1);
  });

  it('an upstream answering SERVFAIL or REFUSED: the next one is asked, as Docker does; all failing: SERVFAIL', async () => {
    const up = await fakeUpstream();
    const failing = async (addr: string, rcode: number) => {
      const u = dgram.createSocket('udp4');
      let asked = 0;
      u.on('message', (m, r) => {
        asked++;
        const out = Buffer.from(m.subarray(0, 12));
        out.writeUInt16BE(0x8180 | rcode, 2);
        out.writeUInt16BE(0, 4);
        u.send(out, r.port, r.address);
      });
      await new Promise<void>((res) => u.bind(53, addr, res));
      cleanup.push(() => u.close());
      return () => asked;
    };
    const servfail = await failing('127.0.0.3', 2);
    const refused = await failing('127.0.0.4', 5);
    const server = new DnsServer('127.0.0.22', names, ['127.0.0.3', '127.0.0.4', '127.0.0.2'], 53, { budget: new DnsBudget() });
    cleanup.push(() => server.close());
    await server.start();
    const got = packet.decode((await udpAsk(q('far.example', 'TXT', 5), '127.0.0.22'))!) as packet.DecodedPacket & { rcode: string };
    assert.deepStrictEqual([got.rcode, got.answers!.length, servfail(), refused(), up.sent.length], ['NOERROR', 3, 1, 1, 1]);
    server.setUpstreams(['127.0.0.3', '127.0.0.4']);
    const none = packet.decode((await udpAsk(q('far.example', 'TXT', 6), '127.0.0.22'))!) as packet.DecodedPacket & { rcode: string };
    assert.strictEqual(none.rcode, 'SERVFAIL');
  });

  it('a flood of unknown names to a blackhole upstream holds a bounded number of sockets, and ends by the deadline', async () => {
    // The upstream swallows every query.
    const hole = dgram.createSocket('udp4');
    hole.on('message', () => {});
    await new Promise<void>((res) => hole.bind(53, '127.0.0.3', res));
    cleanup.push(() => hole.close());
    const limits = { forwardPerClient: 20, forwardPerServer: 50, forwardTimeoutMs: 1000 };
    const server = new DnsServer('127.0.0.20', names, ['127.0.0.3'], 53, { limits, budget: new DnsBudget() });
    cleanup.push(() => server.close());
    await server.start();
    const clients = await Promise.all(Array.from({ length: 10 }, (_, i) => new Promise<dgram.Socket>((res) => {
      const s = dgram.createSocket('udp4');
      s.bind(0, `127.0.0.${40 + i}`, () => res(s));
    })));
    cleanup.push(() => clients.forEach((c) => c.close()));
    const rcodes = new Map<string, number>();
    for (const c of clients) c.on('message', (m) => { const r = (packet.decode(m) as any).rcode; rcodes.set(r, (rcodes.get(r) ?? 0) + 1); });
    const base = fds();
    let maxFds = 0, maxFwd = 0;
    const sampler = setInterval(() => { maxFds = Math.max(maxFds, fds() - base); maxFwd = Math.max(maxFwd, server.load.forwards); }, 5);
    cleanup.push(() => clearInterval(sampler));
    const t0 = Date.now();
    // In small bursts, so that the kernel's receive buffers drop few of them.
    for (let i = 0; i < 3000; i++) {
      clients[i % 10].send(q(`n${i}.unknown.example`, 'A', i), 53, '127.0.0.20');
      if (i % 25 === 24) await sleep(10);
    }
    // Known names are still answered at once meanwhile.
    const u = await udpAsk(q('web'), '127.0.0.20');
    assert.deepStrictEqual(packet.decode(u!).answers!.map(data), ['172.18.0.2']);
    await sleep(limits.forwardTimeoutMs + 600);
    maxFds = Math.max(maxFds, fds() - base);
    console.log(`      flood: 3000 unknown names, ${maxFwd} forwards in flight at most (fds +${maxFds}); SERVFAIL ${rcodes.get('SERVFAIL') ?? 0}, timeouts ${server.stats.forwardTimeouts} after ${Date.now() - t0} ms`);
    assert.ok(maxFwd <= limits.forwardPerServer, `in flight bounded: ${maxFwd}`);
    assert.ok(maxFds <= limits.forwardPerServer + 10, `descriptors bounded: +${maxFds}`);
    assert.strictEqual(server.load.forwards, 0, 'all forwards ended by their deadline');
    assert.ok(fds() - base <= 2, `descriptors back (${fds() - base})`);
    // Each query the server read got an answer: SERVFAIL at once beyond the
    // caps, SERVFAIL at the deadline within them (on a loaded machine the
    // kernel may drop some datagrams before anyone reads them).
    const read = server.stats.forwarded + server.stats.forwardsRefused;
    assert.deepStrictEqual([...rcodes.keys()], ['SERVFAIL'], JSON.stringify([...rcodes]));
    assert.ok(read >= 1500 && (rcodes.get('SERVFAIL') ?? 0) >= read * 0.95, JSON.stringify([...rcodes, server.stats]));
    assert.strictEqual(server.stats.forwardTimeouts, server.stats.forwarded);
  });

  it('one client cannot take every forward, nor one server the process budget', async () => {
    const hole = dgram.createSocket('udp4');
    hole.on('message', () => {});
    await new Promise<void>((res) => hole.bind(53, '127.0.0.3', res));
    cleanup.push(() => hole.close());
    const budget = new DnsBudget(1024, 30);
    const limits = { forwardPerClient: 20, forwardPerServer: 100, forwardTimeoutMs: 1500 };
    const one = new DnsServer('127.0.0.20', names, ['127.0.0.3'], 53, { limits, budget });
    const two = new DnsServer('127.0.0.21', names, ['127.0.0.3'], 53, { limits, budget });
    cleanup.push(() => { one.close(); two.close(); });
    await one.start();
    await two.start();
    const sock = (addr: string) => new Promise<dgram.Socket>((res) => { const c = dgram.createSocket('udp4'); c.bind(0, addr, () => res(c)); });
    const [a, b, c] = await Promise.all([sock('127.0.0.50'), sock('127.0.0.51'), sock('127.0.0.52')]);
    cleanup.push(() => { a.close(); b.close(); c.close(); });
    const servfail = new Map<dgram.Socket, number>();
    for (const x of [a, b, c]) x.on('message', () => servfail.set(x, (servfail.get(x) ?? 0) + 1));
    const until = async (f: () => boolean, ms = 1000) => { for (let t = 0; t < ms && !f(); t += 10) await sleep(10); };
    for (let i = 0; i < 50; i++) a.send(q(`a${i}.example`, 'A', i), 53, '127.0.0.20');
    await until(() => (servfail.get(a) ?? 0) >= 30);
    assert.deepStrictEqual([one.load.forwards, servfail.get(a)], [20, 30], 'client a: 20 in flight, the rest SERVFAIL at once');
    // Another client of the same server still gets its queries forwarded.
    for (let i = 0; i < 5; i++) b.send(q(`b${i}.example`, 'A', i), 53, '127.0.0.20');
    await until(() => one.load.forwards >= 25);
    assert.deepStrictEqual([one.load.forwards, servfail.get(b) ?? 0], [25, 0]);
    // The process budget (30 here) is shared: the other server has 5 left.
    for (let i = 0; i < 8; i++) c.send(q(`c${i}.example`, 'A', i), 53, '127.0.0.21');
    await until(() => (servfail.get(c) ?? 0) >= 3);
    assert.deepStrictEqual([two.load.forwards, servfail.get(c), budget.forwardsInUse], [5, 3, 30]);
    await until(() => budget.forwardsInUse === 0, limits.forwardTimeoutMs + 1500);
    assert.strictEqual(budget.forwardsInUse, 0, 'all given back after the deadline');
  });

  it('serves IPv6 sockets made inside a namespace ([::1]:53), dig -6 from inside', async () => {
    const name = uniq('dns6');
    const ns = await Netns.create(name, { loUp: true });
    cleanup.push(() => ns.delete());
    const server = DnsServer.fromSockets({ udpFd: ns.socket(6, 'udp', { address: '::1', port: 53 }), tcpFd: ns.socket(6, 'tcp', { address: '::1', port: 53 }), family: 6 }, names, null);
    cleanup.push(() => server.close());
    await server.start();
    assert.strictEqual(server.address, '::1');
    for (const proto of ['+notcp', '+tcp']) {
      const r = await run('ip', ['netns', 'exec', name, 'dig', '@::1', '+time=2', '+tries=1', proto, 'web', 'A']);
      assert.match(r.out, /status: NOERROR/, r.out + r.err);
      assert.match(r.out, /web\.\s+600\s+IN\s+A\s+172\.18\.0\.2/);
    }
    // No upstreams (an internal network): other names REFUSED.
    const r = await run('ip', ['netns', 'exec', name, 'dig', '@::1', '+time=2', '+tries=1', 'example.com']);
    assert.match(r.out, /status: REFUSED/);
  });

  it('a server that is never started closes the sockets it was handed', async () => {
    const ns = await Netns.create(undefined, { loUp: true });
    cleanup.push(() => ns.close());
    const fd = ns.socket(4, 'udp', { address: '127.0.0.11', port: 53 });
    assert.ok(fs.existsSync(`/proc/self/fd/${fd}`));
    DnsServer.fromSockets({ udpFd: fd }, names, null).close();
    assert.ok(!fs.existsSync(`/proc/self/fd/${fd}`));
  });
});

