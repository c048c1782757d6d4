import * as assert from 'assert';
import * as net from 'net';
import { Netns, Nft, Rtnl } from '../src';
import { uniq } from './helpers';

// Real TCP through rules we install: client c1 -- router r -- server c2,
// each a namespace; sockets are made inside them (no processes spawned).
async function tcpGet(ns: Netns, host: string, port: number, timeoutMs = 10000): Promise<string> {
  const fd = ns.socket(4, 'tcp');
  return new Promise((resolve, reject) => {
    const s = new net.Socket({ fd, readable: true, writable: true });
    let data = '';
    const timer = setTimeout(() => { s.destroy(); reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })); }, timeoutMs);
    s.connect(port, host);
    s.on('data', (d) => (data += d));
    s.on('end', () => { clearTimeout(timer); resolve(data); });
    s.on('error', (e) => { clearTimeout(timer); s.destroy(); reject(e); });
  });
}

async function expectFail(p: Promise<string>, code: string): Promise<void> {
  try {
    const got = await p;
    assert.fail(`expected ${code}, got a reply: ${got}`);
  } catch (e: any) {
    if (e.code !== code) throw e;
  }
}

describe('nftables traffic', function () {
  this.timeout(30000);
  let c1: Netns, r: Netns, c2: Netns;
  let server: net.Server;
  let nft: Nft;
  const T = { family: 'ip' as const, table: 'cnm' };

  before(async () => {
    [c1, r, c2] = await Promise.all(['nc1', 'nr', 'nc2'].map((n) => Netns.create(uniq(n))));
    const h = await Rtnl.open({ netns: r });
    try {
      for (const [i, ns] of [c1, c2].entries()) {
        const dev = `v${i + 1}`;
        await h.link.add({ kind: 'veth', name: dev, peer: { name: 'eth0', netns: ns } });
        await h.addr.add(dev, `10.60.${i + 1}.1/24`);
        await h.link.set(dev, { up: true });
        const c = await Rtnl.open({ netns: ns });
        await c.link.set('lo', { up: true });
        await c.addr.add('eth0', `10.60.${i + 1}.2/24`);
        await c.link.set('eth0', { up: true });
        await c.route.add({ dst: 'default', gateway: `10.60.${i + 1}.1` });
        c.close();
      }
      r.sysctl('ipv4.ip_forward', 1);
    } finally {
      h.close();
    }
    server = net.createServer((s) => s.end(`hello ${s.remoteAddress}`));
    await new Promise<void>((res) => server.listen({ fd: c2.socket(4, 'tcp', { address: '10.60.2.2', port: 80 }) }, res));
    nft = await Nft.open({ netns: r });
    await nft.transaction((tx) => {
      tx.addTable({ family: 'ip', name: 'cnm' });
      tx.addChain({ ...T, name: 'prerouting', type: 'nat', hook: 'prerouting', priority: 'dstnat', policy: 'accept' });
      tx.addChain({ ...T, name: 'postrouting', type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' });
      tx.addChain({ ...T, name: 'forward', type: 'filter', hook: 'forward', priority: 'filter', policy: 'accept' });
      tx.addSet({ ...T, name: 'ports', type: 'inet_proto . inet_service', map: 'ipv4_addr . inet_service' });
      tx.addRule({ ...T, chain: 'prerouting', comment: 'published ports', stmts: [
        { match: 'fib daddr type', value: 'local' }, { nat: 'dnat', family: 'ip', map: { key: ['meta l4proto', 'th dport'], set: 'ports' } }] });
    });
  });

  after(async () => {
    server?.close();
    nft?.close();
    for (const ns of [c1, r, c2]) if (ns) await ns.delete();
  });

  it('routes without rules (baseline)', async () => {
    assert.strictEqual(await tcpGet(c1, '10.60.2.2', 80), 'hello 10.60.1.2');
    await expectFail(tcpGet(c1, '10.60.1.1', 8080), 'ECONNREFUSED');
  });

  it('a DNAT rule sends a connection to the router to the server in another namespace', async () => {
    let rule: any;
    await nft.transaction((tx) => {
      rule = tx.addRule({ ...T, chain: 'prerouting', stmts: [
        { match: 'ip daddr', value: '10.60.1.1' }, { match: 'tcp dport', value: 8080 }, { nat: 'dnat', addr: '10.60.2.2', port: 80 }] });
    });
    assert.strictEqual(await tcpGet(c1, '10.60.1.1', 8080), 'hello 10.60.1.2');
    await nft.transaction((tx) => { tx.deleteRule({ ...T, chain: 'prerouting', handle: rule.handle }); });
    await expectFail(tcpGet(c1, '10.60.1.1', 8080), 'ECONNREFUSED');
  });

  it('a DNAT map element publishes a port; deleting it unpublishes', async () => {
    const P = { ...T, set: 'ports' };
    await expectFail(tcpGet(c1, '10.60.1.1', 9090), 'ECONNREFUSED');
    await nft.transaction((tx) => { tx.addElements(P, [{ key: ['tcp', 9090], data: ['10.60.2.2', 80] }]); });
    assert.strictEqual(await tcpGet(c1, '10.60.1.1', 9090), 'hello 10.60.1.2');
    await nft.transaction((tx) => { tx.deleteElements(P, [['tcp', 9090]]); });
    await expectFail(tcpGet(c1, '10.60.1.1', 9090), 'ECONNREFUSED');
  });

  it('masquerade rewrites the source the server sees', async () => {
    let rule: any;
    await nft.transaction((tx) => {
      rule = tx.addRule({ ...T, chain: 'postrouting', stmts: [
        { match: 'oifname', value: 'v2' }, { match: 'ip saddr', value: '10.60.1.0/24' }, { masquerade: {} }] });
    });
    assert.strictEqual(await tcpGet(c1, '10.60.2.2', 80), 'hello 10.60.2.1');
    await nft.transaction((tx) => { tx.deleteRule({ ...T, chain: 'postrouting', handle: rule.handle }); });
    assert.strictEqual(await tcpGet(c1, '10.60.2.2', 80), 'hello 10.60.1.2');
  });

  it('a drop rule blocks, its counter counts, deleting it unblocks', async () => {
    let rule: any;
    await nft.transaction((tx) => {
      rule = tx.addRule({ ...T, chain: 'forward', comment: 'block c1', stmts: [
        { match: 'iifname', value: 'v1' }, { match: 'ip saddr', value: '10.60.1.2' }, { match: 'tcp dport', value: 80 }, { counter: {} }, { verdict: 'drop' }] });
    });
    await expectFail(tcpGet(c1, '10.60.2.2', 80, 800), 'ETIMEDOUT');
    const [listed] = (await nft.listRules({ ...T, chain: 'forward' })).filter((x) => x.handle === rule.handle);
    const c: any = listed.stmts.find((s: any) => s.counter);
    assert.ok(c.counter.packets >= 1, `counter ${JSON.stringify(c)}`);
    assert.strictEqual(listed.comment, 'block c1');
    await nft.transaction((tx) => { tx.deleteRule({ ...T, chain: 'forward', handle: rule.handle }); });
    assert.strictEqual(await tcpGet(c1, '10.60.2.2', 80), 'hello 10.60.1.2');
  });
});
