// The per-sandbox resolver at 127.0.0.11, checked with dig from inside the
// sandboxes (async: the resolver runs on this test's event loop).
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Controller, Netns } from '../src';
import { eventually, hostLinks } from './helpers';
import { dnsServer, run, udpServer, udpAsk } from './net-helpers';

/** `dig` inside a sandbox's namespace: the answer section, and the status. */
async function dig(nsName: string, ...q: string[]): Promise<{ status: string; answers: string[] }> {
  const r = await run('ip', ['netns', 'exec', nsName, 'dig', '+time=2', '+tries=2', '@127.0.0.11', ...q]);
  const status = /status: (\w+)/.exec(r.out)?.[1] ?? `dig failed: ${r.err}${r.out}`;
  const sect = r.out.split(';; ANSWER SECTION:\n')[1]?.split('\n\n')[0] ?? '';
  return { status, answers: sect.split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(3).join(' ')) };
}

describe('cnm: the embedded resolver in each sandbox', function () {
  this.timeout(90000);
  let ctl: Controller;
  before(async () => { ctl = await Controller.open({ stateDir: fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-state-')), upstreamDns: ['192.0.2.53'] }); });
  after(async () => {
    await ctl.destroy();
    await eventually(() => assert.deepStrictEqual(hostLinks(), []));
    assert.deepStrictEqual(Netns.list(), []);
  });

  it('a sandbox on two networks resolves names on both (A, NAME.NETWORK, PTR); one on a single network sees only its own', async () => {
    const front = await ctl.createNetwork({ name: 'front', subnet: '10.71.0.0/24' });
    const back = await ctl.createNetwork({ name: 'back', subnet: '10.72.0.0/24' });
    const join = async (id: string, ...nets: { net: typeof front; aliases?: string[] }[]) => {
      const sb = await ctl.createSandbox({ id });
      for (const { net, aliases } of nets) await (await net.createEndpoint({ name: id, aliases })).join(sb);
      return sb.record.netnsName!;
    };
    const app = await join('app', { net: front }, { net: back });
    const web = await join('web', { net: front, aliases: ['www'] });
    const db = await join('db', { net: back });
    // From the app (on both): both networks' names, qualified names, aliases, PTR.
    assert.deepStrictEqual((await dig(app, 'web')).answers, ['A 10.71.0.3']);
    assert.deepStrictEqual((await dig(app, 'db')).answers, ['A 10.72.0.3']);
    assert.deepStrictEqual((await dig(app, 'WWW.front')).answers, ['A 10.71.0.3']);
    assert.deepStrictEqual((await dig(app, 'db.back')).answers, ['A 10.72.0.3']);
    assert.deepStrictEqual((await dig(app, '-x', '10.72.0.3')).answers, ['PTR db.back.']);
    // Known name, no IPv6 address: NOERROR and no answer, not NXDOMAIN.
    const aaaa = await dig(app, 'db', 'AAAA');
    assert.deepStrictEqual([aaaa.status, aaaa.answers], ['NOERROR', []]);
    // From the web (front only): the back network's names are not there at all.
    assert.strictEqual((await dig(web, 'app')).answers[0], 'A 10.71.0.2');
    for (const q of [['db'], ['db.back'], ['-x', '10.72.0.3']]) {
      const r = await dig(web, ...q);
      assert.ok(r.answers.length === 0, `${q.join(' ')} from web: ${r.answers}`);
    }
    // Nor by asking another network's gateway: nothing listens there.
    const gw = await run('ip', ['netns', 'exec', web, 'dig', '+time=1', '+tries=1', `@${back.gateway}`, 'db']);
    assert.notStrictEqual(gw.code, 0);
    assert.strictEqual((await dig(db, 'app')).answers[0], 'A 10.72.0.2');
    for (const id of ['app', 'web', 'db']) await ctl.sandbox(id).delete();
    for (const e of ctl.endpoints()) await e.delete();
    await front.delete();
    await back.delete();
  });

  it('a resolver starts with its first query, over TCP as well as UDP; each of two sandboxes asked first by another way', async () => {
    const net = await ctl.createNetwork({ name: 'first', subnet: '10.73.0.0/24' });
    const made: string[] = [];
    for (const id of ['tcp-first', 'udp-first']) {
      const sb = await ctl.createSandbox({ id });
      await (await net.createEndpoint({ name: id })).join(sb);
      made.push(sb.record.netnsName!);
    }
    // Nothing asked yet: the very first query of each sandbox, by TCP in one, UDP in the other.
    assert.deepStrictEqual((await dig(made[0], '+tcp', 'udp-first')).answers, ['A 10.73.0.3']);
    assert.deepStrictEqual((await dig(made[1], '+notcp', 'tcp-first')).answers, ['A 10.73.0.2']);
    // Then the other way on the same server.
    assert.deepStrictEqual((await dig(made[0], '+notcp', 'tcp-first')).answers, ['A 10.73.0.2']);
    assert.deepStrictEqual((await dig(made[1], '+tcp', 'udp-first')).answers, ['A 10.73.0.3']);
    for (const id of ['tcp-first', 'udp-first']) await ctl.sandbox(id).delete();
    for (const e of ctl.endpoints()) await e.delete();
    await net.delete();
  });

  it('internal-only sandboxes get REFUSED for outside names, even with a routable gateway of another network; a container can serve port 53 itself', async () => {
    const inside = await ctl.createNetwork({ name: 'vault', subnet: '10.73.0.0/24', internal: true });
    const open = await ctl.createNetwork({ name: 'lobby', subnet: '10.74.0.0/24' });
    const s1 = await ctl.createSandbox({ id: 'locked' });
    await (await inside.createEndpoint({ name: 'locked' })).join(s1);
    const s2 = await ctl.createSandbox({ id: 'free' });
    await (await open.createEndpoint({ name: 'free' })).join(s2);
    const locked = s1.record.netnsName!;
    // A route to the other network's gateway does not change it: no resolver of ours is there.
    await run('ip', ['-n', locked, 'route', 'add', '10.74.0.0/24', 'dev', 'eth0']);
    const r = await dig(locked, 'example.test');
    assert.strictEqual(r.status, 'REFUSED');
    assert.strictEqual((await dig(locked, 'locked')).answers[0], 'A 10.73.0.2');
    // Not internal-only: forwarded (to 192.0.2.53, which does not answer: SERVFAIL, not REFUSED).
    assert.notStrictEqual((await dig(s2.record.netnsName!, 'example.test')).status, 'REFUSED');
    // The container's own port-53 server: the resolver is elsewhere (a random port behind the redirect).
    const srv = await udpServer(s2.record.netnsName!, '0.0.0.0', 53, 'mine');
    try {
      assert.strictEqual(await udpAsk('10.74.0.2', 53), 'mine');
      assert.strictEqual((await dig(s2.record.netnsName!, 'free')).answers[0], 'A 10.74.0.2');
    } finally {
      srv.close();
    }
    await s1.delete();
    await s2.delete();
    for (const e of ctl.endpoints()) await e.delete();
    await inside.delete();
    await open.delete();
  });

  it('forwards leave from inside the sandbox, as Docker dials them: an internal-only sandbox reaches its own dns server on its network, and dns 127.0.0.1 is the sandbox\'s own loopback, not the host\'s', async () => {
    const vault = await ctl.createNetwork({ name: 'vault2', subnet: '10.76.0.0/24', internal: true });
    const srv = await ctl.createSandbox({ id: 'nsrv' });
    await (await vault.createEndpoint({ name: 'nsrv', ip: '10.76.0.50' })).join(srv);
    const client = await ctl.createSandbox({ id: 'ncli', dns: ['10.76.0.50'] });
    await (await vault.createEndpoint({ name: 'ncli' })).join(client);
    const bare = await ctl.createSandbox({ id: 'nbare' });
    await (await vault.createEndpoint({ name: 'nbare' })).join(bare);
    const own = await ctl.createSandbox({ id: 'nown', dns: ['127.0.0.1'] });
    const lobby = await ctl.createNetwork({ name: 'lobby2', subnet: '10.77.0.0/24' });
    await (await lobby.createEndpoint({ name: 'nown' })).join(own);
    const servers = [
      await dnsServer(srv.record.netnsName!, '10.76.0.50', '198.51.100.50'),
      await dnsServer(own.record.netnsName!, '127.0.0.1', '198.51.100.99'),
    ];
    // This process's namespace (the "host") has a server on 127.0.0.1 too: it must not be the one asked.
    const hostSide = await dnsServer('', '127.0.0.1', '198.51.100.1');
    try {
      assert.deepStrictEqual((await dig(client.record.netnsName!, 'far.example')).answers, ['A 198.51.100.50']);
      // Without dns servers of its own, an internal-only sandbox still forwards nowhere.
      assert.strictEqual((await dig(bare.record.netnsName!, 'far.example')).status, 'REFUSED');
      assert.deepStrictEqual((await dig(own.record.netnsName!, 'far.example')).answers, ['A 198.51.100.99']);
    } finally {
      for (const x of servers) x.close();
      hostSide.close();
      for (const sb of [srv, client, bare, own]) await sb.delete();
      for (const e of ctl.endpoints()) await e.delete();
      await vault.delete();
      await lobby.delete();
    }
  });

  it('a sandbox with ndots set (dnsOptions ndots:2): single-label names it does not know get an empty NOERROR at once, not a forward (Docker\'s NdotsSet)', async () => {
    const n = await ctl.createNetwork({ name: 'dots', subnet: '10.75.0.0/24' });
    const sb = await ctl.createSandbox({ id: 'dots1', dnsOptions: ['ndots:2'] });
    await (await n.createEndpoint({ name: 'dots1' })).join(sb);
    const plain = await ctl.createSandbox({ id: 'dots2' });
    await (await n.createEndpoint({ name: 'dots2' })).join(plain);
    try {
      const t0 = Date.now();
      const r = await dig(sb.record.netnsName!, 'nosuchhost');
      assert.deepStrictEqual([r.status, r.answers], ['NOERROR', []]);
      assert.ok(Date.now() - t0 < 1500, 'answered without waiting on the (silent) upstream');
      assert.deepStrictEqual((await dig(sb.record.netnsName!, 'dots2')).answers, ['A 10.75.0.3']);
      // Without it: forwarded (192.0.2.53 never answers: SERVFAIL once the forward's 2 s deadline passes).
      const fwd = await run('ip', ['netns', 'exec', plain.record.netnsName!, 'dig', '+time=6', '+tries=1', '@127.0.0.11', 'nosuchhost']);
      assert.match(fwd.out, /status: SERVFAIL/, fwd.out + fwd.err);
    } finally {
      await sb.delete();
      await plain.delete();
      for (const e of ctl.endpoints(n.id)) await e.delete();
      await n.delete();
    }
  });
});
