// The overlay driver's cluster state against real etcd servers (started
// here, on loopback of the isolated namespace), cross-checked with a plain
// etcd3 client reading the keys.
import * as assert from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Etcd3 } from 'etcd3';
import { ClusterStore, ClusterEndpoint, EndpointEvent, NetworkEvent, parseStoreUrl } from '../src/cnm/cluster';
import { haveEtcd, startEtcd, EtcdCluster, sleep, until } from './etcd-helpers';

const PREFIX = '/cnm-test/';

async function rejects(p: Promise<unknown>, code: string, re?: RegExp): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.strictEqual((e as { code?: string }).code, code, `expected ${code}, got ${(e as Error).message}`);
    if (re) assert.match((e as Error).message, re);
    return e as Error;
  }
  assert.fail(`expected a rejection with ${code}`);
}

function raw(store: string): Etcd3 {
  return new Etcd3({ hosts: parseStoreUrl(store) });
}

async function keys(store: string, sub = ''): Promise<string[]> {
  const c = raw(store);
  try {
    return await c.getAll().prefix(PREFIX + sub).keys();
  } finally {
    c.close();
  }
}

describe('cluster store: validation (no etcd needed)', () => {
  it('rejects store URLs that are not etcd://HOST:PORT with EINVAL, wrong types with ERR_INVALID_ARG_TYPE', async () => {
    const base = { advertise: '10.9.0.1', hostId: 'h1' };
    for (const store of ['http://127.0.0.1:2379', 'etcd://', 'etcd://127.0.0.1', 'etcd://127.0.0.1:0', 'etcd://127.0.0.1:65536', 'etcd://127.0.0.1:2379,', 'etcd://a b:1', 'etcd://[::1:2379', 'etcd://127.0.0.1:2379/x', 'consul://h:8500']) {
      await rejects(ClusterStore.connect({ ...base, store }), 'EINVAL');
    }
    await rejects(ClusterStore.connect({ ...base, store: 42 as never }), 'ERR_INVALID_ARG_TYPE');
    assert.deepStrictEqual(parseStoreUrl('etcd://10.0.0.1:2379,[fd00::1]:2380,etcd-1.local:1'), ['http://10.0.0.1:2379', 'http://[fd00::1]:2380', 'http://etcd-1.local:1']);
  });

  it('rejects a bad advertise address, host id, lease TTL over 10 s and unknown options', async () => {
    const base = { store: 'etcd://127.0.0.1:1', advertise: '10.9.0.1', hostId: 'h1' };
    await rejects(ClusterStore.connect({ ...base, advertise: '10.9.0' }), 'EINVAL', /advertise/);
    await rejects(ClusterStore.connect({ ...base, hostId: 'a/b' }), 'EINVAL', /host id/);
    await rejects(ClusterStore.connect({ ...base, leaseTtl: 11 }), 'EINVAL', /leaseTtl/);
    await rejects(ClusterStore.connect({ ...base, leaseTtl: 2.5 }), 'EINVAL', /leaseTtl/);
    await rejects(ClusterStore.connect({ ...base, bogus: 1 } as never), 'EINVAL', /bogus/);
  });

  it('fails fast with ENOTCONN naming the store when no etcd listens', async () => {
    const t0 = Date.now();
    await rejects(ClusterStore.connect({ store: 'etcd://127.0.0.1:1', advertise: '10.9.0.1', hostId: 'h1' }), 'ENOTCONN', /etcd:\/\/127\.0\.0\.1:1/);
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  });
});

describe('cluster store (real etcd)', function () {
  this.timeout(120000);
  let etcd: EtcdCluster;
  const stores: ClusterStore[] = [];
  const open = async (hostId: string, advertise: string, extra: Partial<Parameters<typeof ClusterStore.connect>[0]> = {}) => {
    const s = await ClusterStore.connect({ store: etcd.store, advertise, hostId, prefix: PREFIX, ...extra });
    stores.push(s);
    return s;
  };

  before(async function () {
    if (!haveEtcd()) this.skip();
    etcd = await startEtcd({ basePort: 23790 });
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    const c = raw(etcd.store);
    await c.delete().prefix(PREFIX);
    c.close();
  });
  after(async () => {
    if (etcd) await etcd.destroy();
  });

  it('registers the host under a lease of at most 10 s, and takes over its own previous record', async () => {
    const a = await open('hostA', '10.9.0.1');
    const c = raw(etcd.store);
    try {
      const kv = await c.get(PREFIX + 'hosts/hostA').json() as { advertise: string };
      assert.strictEqual(kv.advertise, '10.9.0.1');
      const lease = (await c.kv.range({ key: Buffer.from(PREFIX + 'hosts/hostA') })).kvs[0].lease;
      const ttl = await c.leaseClient.leaseTimeToLive({ ID: lease });
      assert.ok(Number(ttl.grantedTTL) <= 10 && Number(ttl.grantedTTL) > 0, `TTL ${ttl.grantedTTL}`);
      // Same host id, another address, while the record lives: refused.
      await rejects(ClusterStore.connect({ store: etcd.store, advertise: '10.9.0.99', hostId: 'hostA', prefix: PREFIX }), 'EEXIST', /10\.9\.0\.1/);
      // The same host again (a restarted controller): takes over its endpoints.
      await a.createNetwork({ name: 'ov', subnet: '10.50.0.0/24' });
      const ep = await a.createEndpoint({ network: 'ov', name: 'web' });
      await a.close({ revoke: false });
      const a2 = await open('hostA', '10.9.0.1');
      assert.deepStrictEqual(a2.ownEndpoints().map((e) => e.id), [ep.id]);
      const epLease = (await c.kv.range({ key: Buffer.from(PREFIX + `state/ep/${ep.networkId}/web`) })).kvs[0].lease;
      assert.notStrictEqual(epLease, lease, 'endpoint moved to the new lease');
      // Its old lease is revoked: no waiting for expiry.
      const old = await c.leaseClient.leaseTimeToLive({ ID: lease });
      assert.strictEqual(Number(old.TTL), -1);
      await a2.deleteEndpoint('ov', 'web');
      await a2.deleteNetwork('ov');
    } finally {
      c.close();
    }
  });

  it('global networks: visible on every host by watch, unique name/VNI/subnet, typed errors and nothing left behind', async () => {
    const a = await open('hostA', '10.9.0.1');
    const b = await open('hostB', '10.9.0.2');
    const seen: NetworkEvent[] = [];
    b.on('network', (e: NetworkEvent) => seen.push(e));
    const n1 = await a.createNetwork({ name: 'ov1', subnet: '10.60.0.0/16' });
    assert.strictEqual(n1.vni, 4096);
    assert.strictEqual(n1.scope, 'global');
    assert.strictEqual(n1.gateway, '10.60.0.1');
    const n2 = await a.createNetwork({ name: 'ov2', options: { 'com.docker.network.driver.overlay.vxlanid_list': '4100' } });
    assert.strictEqual(n2.vni, 4100);
    assert.match(n2.subnet, /^10\.\d+\.\d+\.0\/24$/);
    const n3 = await b.createNetwork({ name: 'ov3', subnet: '10.61.0.0/24', subnet6: 'fd11::/64' });
    assert.strictEqual(n3.vni, 4097, 'lowest free VNI from 4096');
    assert.strictEqual(n3.gateway6, 'fd11::1');
    await until(() => seen.filter((e) => e.type === 'add').length === 3, 5000, 'network adds on hostB');
    assert.deepStrictEqual(b.network('ov1'), n1);

    const before = await keys(etcd.store);
    await rejects(b.createNetwork({ name: 'ov1', subnet: '10.99.0.0/24' }), 'EEXIST', /ov1/);
    await rejects(b.createNetwork({ name: 'x1', vni: 4100 }), 'EEXIST', /VNI 4100.*ov2/);
    await rejects(b.createNetwork({ name: 'x2', subnet: '10.60.128.0/20' }), 'EBUSY', /overlaps network "ov1"/);
    await rejects(b.createNetwork({ name: 'x3', subnet: '10.0.0.0/8' }), 'EBUSY', /overlaps/);
    await rejects(b.createNetwork({ name: 'x4', subnet: '10.62.0.0/24', subnet6: 'fd11::/48' }), 'EBUSY', /fd11/);
    await rejects(b.createNetwork({ name: 'x5', subnet: '10.62.0.1/24' }), 'EINVAL', /host bits/);
    await rejects(b.createNetwork({ name: 'x6', vni: 0 }), 'EINVAL', /VNI/);
    await rejects(b.createNetwork({ name: 'x7', vni: 1 << 24 }), 'EINVAL', /VNI/);
    await rejects(b.createNetwork({ name: 'x8', options: { 'com.docker.network.driver.overlay.vxlanid_list': '4200,4201' } }), 'EINVAL');
    await rejects(b.createNetwork({ name: 'bad/name' }), 'EINVAL');
    await rejects(b.createNetwork({ name: 'x9', subnet: 'fd00::/64' }), 'EINVAL', /not IPv4/);
    await rejects(b.createNetwork({ name: 'x10', subnet: '10.63.0.0/24', gateway: '10.64.0.1' }), 'EINVAL', /gateway/);
    await rejects(b.createNetwork({ name: 'x11', color: 'red' } as never), 'EINVAL', /color/);
    assert.deepStrictEqual(await keys(etcd.store), before, 'no residue in etcd');
    assert.strictEqual(b.networks().length, 3);

    // Concurrent creates of overlapping subnets from three hosts: exactly one wins.
    const c = await open('hostC', '10.9.0.3');
    const r = await Promise.allSettled([a, b, c].map((s, i) => s.createNetwork({ name: `race${i}`, subnet: `10.70.0.0/${22 + i}` })));
    const won = r.filter((x) => x.status === 'fulfilled');
    assert.strictEqual(won.length, 1, JSON.stringify(r.map((x) => x.status === 'rejected' ? (x.reason as Error).message : 'ok')));
    for (const x of r) if (x.status === 'rejected') assert.strictEqual((x.reason as { code: string }).code, 'EBUSY');

    await a.deleteNetwork('ov2');
    await until(() => seen.some((e) => e.type === 'remove' && e.network.name === 'ov2'), 5000, 'network remove on hostB');
    await rejects(a.deleteNetwork('ov2'), 'ENOENT');
  });

  it('3 hosts x 100 endpoints at once: no address handed out twice, one transaction per join', async () => {
    const hosts = await Promise.all([1, 2, 3].map((i) => open(`host${i}`, `10.9.0.${i}`)));
    await hosts[0].createNetwork({ name: 'big', subnet: '10.80.0.0/16', subnet6: 'fd80::/64' });
    await Promise.all(hosts.map((h) => until(() => !!h.network('big'), 5000, 'network on every host')));
    const before = hosts.map((h) => h.stats.requests);
    const t0 = Date.now();
    const eps = (await Promise.all(hosts.map((h, i) => Promise.all(Array.from({ length: 100 }, (_, j) => h.createEndpoint({ network: 'big', name: `h${i}-c${j}` })))))).flat();
    const ms = Date.now() - t0;
    assert.strictEqual(eps.length, 300);
    const v4 = new Set(eps.map((e) => e.ipv4));
    const v6 = new Set(eps.map((e) => e.ipv6));
    const macs = new Set(eps.map((e) => e.mac));
    assert.strictEqual(v4.size, 300, 'IPv4 addresses unique');
    assert.strictEqual(v6.size, 300, 'IPv6 addresses unique');
    assert.strictEqual(macs.size, 300, 'MACs unique');
    assert.ok(!v4.has('10.80.0.1/16'), 'gateway not handed out');
    // etcd agrees: 600 address keys, 300 endpoint keys.
    assert.strictEqual((await keys(etcd.store, 'ipam/')).length, 600);
    assert.strictEqual((await keys(etcd.store, 'state/ep/')).length, 300);
    // Every host sees every endpoint through its watch.
    await Promise.all(hosts.map((h) => until(() => h.endpoints({ network: 'big' }).length === 300, 10000, 'all endpoints everywhere')));
    const reqs = hosts.map((h, i) => h.stats.requests - before[i]);
    const conflicts = hosts.reduce((n, h) => n + h.stats.conflicts, 0);
    console.log(`      300 concurrent joins in ${ms} ms; etcd requests per join ${(reqs.reduce((a, b) => a + b) / 300).toFixed(2)} (${conflicts} lost races)`);
    // A quiet join: exactly one transaction.
    const r0 = hosts[0].stats.requests;
    await hosts[0].createEndpoint({ network: 'big', name: 'quiet' });
    assert.strictEqual(hosts[0].stats.requests - r0, 1);
    // Static addresses: taken -> EADDRINUSE; the gateway too; names unique per network.
    await rejects(hosts[1].createEndpoint({ network: 'big', name: 'st1', ipv4: eps[5].ipv4.split('/')[0] }), 'EADDRINUSE');
    await rejects(hosts[1].createEndpoint({ network: 'big', name: 'st2', ipv4: '10.80.0.1' }), 'EADDRINUSE', /gateway/);
    await rejects(hosts[1].createEndpoint({ network: 'big', name: 'st3', ipv4: '10.81.0.1' }), 'EINVAL');
    await rejects(hosts[1].createEndpoint({ network: 'big', name: 'h0-c1' }), 'EEXIST', /host1/);
    await rejects(hosts[1].createEndpoint({ network: 'nope', name: 'x' }), 'ENOENT');
    await rejects(hosts[1].createEndpoint({ network: 'big', name: 'x', mac: 'zz' }), 'EINVAL');
    // Deleting a network with endpoints on any host: EBUSY, nothing removed.
    await rejects(hosts[2].deleteNetwork('big'), 'EBUSY', /301 endpoint/);
    await rejects(hosts[2].deleteEndpoint('big', 'h0-c0'), 'EPERM');
    // Leaves free the addresses (one transaction each).
    const freed = eps[0];
    const r1 = hosts[0].stats.requests;
    await hosts[0].deleteEndpoint('big', freed.name);
    assert.strictEqual(hosts[0].stats.requests - r1, 1);
    const again = await hosts[0].createEndpoint({ network: 'big', name: 'again', ipv4: freed.ipv4.split('/')[0] });
    assert.strictEqual(again.ipv4, freed.ipv4);
    // A full subnet: ENOSPC, and nothing written for the refused one.
    await hosts[0].createNetwork({ name: 'tiny', subnet: '10.79.0.0/29' });
    const tiny = await Promise.all([0, 1, 2, 3, 4].map((i) => hosts[i % 3].createEndpoint({ network: 'tiny', name: `t${i}` })));
    assert.deepStrictEqual(tiny.map((e) => e.ipv4).sort(), ['10.79.0.2/29', '10.79.0.3/29', '10.79.0.4/29', '10.79.0.5/29', '10.79.0.6/29']);
    await rejects(hosts[1].createEndpoint({ network: 'tiny', name: 't5' }), 'ENOSPC');
    assert.strictEqual((await keys(etcd.store, `ipam/${hosts[0].network('tiny')!.id}/`)).length, 5);
  });

  it('sandbox names: published and withdrawn in one transaction each, seen by peers as an update (no remove/add); none when unchanged; typed errors; a withdrawal made while etcd is down is put once it is back; a burst shares transactions', async () => {
    const a = await open('hostA', '10.9.0.1');
    const b = await open('hostB', '10.9.0.2');
    const nw = await a.createNetwork({ name: 'ov', subnet: '10.96.0.0/24', labels: { tier: 'db' } });
    await until(() => !!b.network('ov'), 5000, 'network on hostB');
    assert.deepStrictEqual(b.network('ov')!.labels, { tier: 'db' });
    const ep = await a.createEndpoint({ network: 'ov', name: 'e1', aliases: ['x'] });
    assert.strictEqual(ep.sandbox, undefined, 'not joined: no sandbox names');
    await until(() => b.peers('ov').length === 1, 5000, 'e1 on hostB');
    const events: string[] = [];
    b.on('endpoint', (e: EndpointEvent) => events.push(`${e.type} ${e.endpoint.name} ${(e.endpoint.sandbox ?? []).join(',')}`));
    const r0 = a.stats.requests;
    const up = await a.updateEndpoint('ov', 'e1', { sandbox: ['box', 'h1', '0123456789ab'] });
    assert.strictEqual(a.stats.requests - r0, 1, 'one transaction');
    assert.deepStrictEqual(up.sandbox, ['box', 'h1', '0123456789ab']);
    assert.deepStrictEqual({ ...up, sandbox: undefined }, { ...ep, sandbox: undefined }, 'nothing else changes');
    await a.updateEndpoint('ov', 'e1', { sandbox: ['box', 'h1', '0123456789ab'] });
    assert.strictEqual(a.stats.requests - r0, 1, 'unchanged: no request');
    await until(() => events.length === 1, 5000, 'the update on hostB');
    assert.deepStrictEqual(events, ['update e1 box,h1,0123456789ab']);
    assert.deepStrictEqual(b.peers('ov')[0].sandbox, ['box', 'h1', '0123456789ab']);
    const c = raw(etcd.store);
    try {
      const key = PREFIX + `state/ep/${nw.id}/e1`;
      assert.deepStrictEqual(((await c.get(key).json()) as ClusterEndpoint).sandbox, ['box', 'h1', '0123456789ab']);
      // Still under the host's lease.
      const [epLease, hostLease] = await Promise.all([key, PREFIX + 'hosts/hostA'].map(async (k) => (await c.kv.range({ key: Buffer.from(k) })).kvs[0].lease));
      assert.strictEqual(epLease, hostLease);
    } finally {
      c.close();
    }
    await rejects(a.updateEndpoint('ov', 'e1', { sandbox: [] }), 'ERR_INVALID_ARG_TYPE');
    await rejects(a.updateEndpoint('ov', 'e1', { sandbox: ['bad name'] }), 'EINVAL');
    await rejects(a.updateEndpoint('ov', 'e1', { sandbox: null, more: 1 } as never), 'EINVAL', /more/);
    await rejects(a.updateEndpoint('ov', 'nope', { sandbox: null }), 'ENOENT');
    await rejects(b.updateEndpoint('ov', 'e1', { sandbox: null }), 'EPERM', /hostA/);
    await rejects(a.createNetwork({ name: 'x', labels: { k: 1 } as never }), 'ERR_INVALID_ARG_TYPE', /label k/);
    await rejects(a.createEndpoint({ network: 'ov', name: 'e2', sandbox: ['a b'] }), 'EINVAL');

    // etcd down: the withdrawal fails, but is what the store wants; once etcd is back, the resync puts it.
    await etcd.members[0].stop();
    try {
      await rejects(a.updateEndpoint('ov', 'e1', { sandbox: null }), 'ENOTCONN');
    } finally {
      await etcd.members[0].start();
    }
    await until(() => b.peers('ov')[0]?.sandbox === undefined, 15000, 'the withdrawal on hostB after etcd came back');
    assert.deepStrictEqual(events.slice(1), ['update e1 '], 'an update again, no remove/add');
    // And a delete works in one transaction after all that.
    const r1 = a.stats.requests;
    await a.deleteEndpoint('ov', 'e1');
    assert.strictEqual(a.stats.requests - r1, 1);
    await until(() => b.peers('ov').length === 0, 5000, 'e1 gone on hostB');
    // A burst of joins: the updates queued behind the first go in one transaction.
    await Promise.all(Array.from({ length: 40 }, (_, i) => a.createEndpoint({ network: 'ov', name: `j${i}` })));
    const r2 = a.stats.requests;
    await Promise.all(Array.from({ length: 40 }, (_, i) => a.updateEndpoint('ov', `j${i}`, { sandbox: [`box${i}`] })));
    assert.ok(a.stats.requests - r2 <= 3, `${a.stats.requests - r2} requests for 40 updates`);
    await until(() => b.peers('ov').filter((e) => e.sandbox?.[0] === `box${e.name.slice(1)}`).length === 40, 5000, 'the 40 updates on hostB');
  });

  it('a host whose controller dies (kill -9): its lease expires and the others see its endpoints removed within 15 s', async () => {
    const a = await open('hostA', '10.9.0.1');
    await a.createNetwork({ name: 'ov', subnet: '10.90.0.0/24' });
    const removed: ClusterEndpoint[] = [];
    a.on('endpoint', (e: EndpointEvent) => {
      if (e.type === 'remove') removed.push(e.endpoint);
    });
    // The dying host is its own Node process holding its own lease.
    const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cnm-host-')), 'host.js');
    const mod = path.resolve(__dirname, '../src/cnm/cluster/index.js');
    fs.writeFileSync(script, `
      const { ClusterStore } = require(${JSON.stringify(mod)});
      (async () => {
        const s = await ClusterStore.connect({ store: ${JSON.stringify(etcd.store)}, advertise: '10.9.0.2', hostId: 'hostB', prefix: ${JSON.stringify(PREFIX)} });
        for (let i = 0; i < 5; i++) await s.createEndpoint({ network: 'ov', name: 'b' + i });
        process.stdout.write('ready\\n');
        setInterval(() => {}, 1000);
      })().catch((e) => { console.error(e); process.exit(1); });`);
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
        child.on('exit', (c) => reject(new Error(`host process exited ${c}`)));
      });
      await until(() => a.peers('ov').length === 5, 5000, "hostB's endpoints on hostA");
      assert.ok(a.peers('ov').every((e) => e.host === 'hostB' && e.vtep === '10.9.0.2'));
      const t0 = Date.now();
      child.kill('SIGKILL');
      const ms = await until(() => a.peers('ov').length === 0, 15000, 'endpoints of the dead host removed');
      assert.strictEqual(removed.length, 5);
      console.log(`      dead host's endpoints removed ${Date.now() - t0} ms after kill -9 (lease TTL 10 s)`);
      assert.ok(ms <= 15000);
      // Its addresses were under the lease too: free again.
      assert.deepStrictEqual(await keys(etcd.store, 'ipam/'), []);
      assert.deepStrictEqual(await keys(etcd.store, 'hosts/hostB'), []);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(path.dirname(script), { recursive: true, force: true });
    }
  });

  it('etcd stopped: creates fail fast with ENOTCONN, caches keep serving; restarted: works again and the watch resyncs without missing events', async () => {
    const a = await open('hostA', '10.9.0.1');
    const b = await open('hostB', '10.9.0.2');
    await a.createNetwork({ name: 'ov', subnet: '10.91.0.0/24' });
    await a.createEndpoint({ network: 'ov', name: 'a1' });
    await until(() => b.peers('ov').length === 1, 5000, 'a1 on hostB');
    const status: boolean[] = [];
    b.on('status', (s: { connected: boolean }) => status.push(s.connected));
    const resyncs = b.stats.resyncs;

    await etcd.members[0].stop();
    const took: number[] = [];
    for (const op of [() => a.createEndpoint({ network: 'ov', name: 'a2' }), () => a.createNetwork({ name: 'ov2' }), () => a.deleteNetwork('ov')]) {
      const t0 = Date.now();
      await rejects(op(), 'ENOTCONN', new RegExp(etcd.store.replace(/[.]/g, '\\.')));
      took.push(Date.now() - t0);
      assert.ok(Date.now() - t0 < 3000, `failed after ${Date.now() - t0} ms`);
    }
    console.log(`      with etcd stopped, create endpoint / create network / delete network failed after ${took.join(' / ')} ms`);
    // What is known stays known (the data path keeps its peers).
    assert.strictEqual(b.peers('ov').length, 1);
    assert.ok(a.network('ov'));
    await until(() => !b.isConnected, 5000, 'hostB notices');

    await sleep(1000);
    await etcd.members[0].start();
    // Without reconnecting by hand: the first tries may meet an open breaker, then it works.
    const t1 = Date.now();
    let ep: ClusterEndpoint | undefined;
    while (!ep) {
      try {
        ep = await a.createEndpoint({ network: 'ov', name: 'a2' });
      } catch (e) {
        assert.strictEqual((e as { code: string }).code, 'ENOTCONN');
        if (Date.now() - t1 > 10000) throw e;
        await sleep(200);
      }
    }
    console.log(`      create worked again ${Date.now() - t1} ms after etcd was back`);
    await until(() => b.peers('ov').length === 2, 10000, 'a2 on hostB after the restart');
    assert.ok(b.stats.resyncs > resyncs, 'hostB resynced by listing');
    assert.deepStrictEqual(status, [false, true]);
    // a1 survived the outage (its lease outlived it).
    assert.deepStrictEqual(b.peers('ov').map((e) => e.name).sort(), ['a1', 'a2']);
  });

  it('a lost lease (expired while etcd could not be reached) is replaced and the host puts its endpoints back', async () => {
    const a = await open('hostA', '10.9.0.1');
    const b = await open('hostB', '10.9.0.2');
    await a.createNetwork({ name: 'ov', subnet: '10.94.0.0/24' });
    const ep = await a.createEndpoint({ network: 'ov', name: 'keep' });
    await until(() => b.peers('ov').length === 1, 5000, 'keep on hostB');
    const events: string[] = [];
    b.on('endpoint', (e: EndpointEvent) => events.push(`${e.type} ${e.endpoint.name}`));
    const restored = new Promise((r) => a.once('lease-restored', r));
    const c = raw(etcd.store);
    try {
      // What etcd does to a lease nobody renewed: it goes, and its keys with it.
      const lease = (await c.kv.range({ key: Buffer.from(PREFIX + 'hosts/hostA') })).kvs[0].lease;
      await c.leaseClient.leaseRevoke({ ID: lease });
      await restored;
      await until(() => events.length === 2, 5000, 'remove and add on hostB');
      assert.deepStrictEqual(events, ['remove keep', 'add keep']);
      const back = await c.get(PREFIX + `state/ep/${ep.networkId}/keep`).json() as ClusterEndpoint;
      assert.strictEqual(back.ipv4, ep.ipv4);
      assert.ok(await c.get(PREFIX + 'hosts/hostA').string(), 'host record back');
      const newLease = (await c.kv.range({ key: Buffer.from(PREFIX + 'hosts/hostA') })).kvs[0].lease;
      assert.notStrictEqual(newLease, lease);
      // And it is renewed from then on: a join works under the new lease.
      await a.createEndpoint({ network: 'ov', name: 'after' });
    } finally {
      c.close();
    }
  });

  it('a lease the client gave up on while etcd kept it: the records move to a new lease, peers see no change', async () => {
    const a = await open('hostA', '10.9.0.1');
    const b = await open('hostB', '10.9.0.2');
    await a.createNetwork({ name: 'ov', subnet: '10.95.0.0/24' });
    const ep = await a.createEndpoint({ network: 'ov', name: 'stay' });
    await until(() => b.peers('ov').length === 1, 5000, 'stay on hostB');
    const events: string[] = [];
    b.on('endpoint', (e: EndpointEvent) => events.push(`${e.type} ${e.endpoint.name}`));
    const conflicts: unknown[] = [];
    a.on('conflict', (e) => conflicts.push(e));
    const c = raw(etcd.store);
    try {
      const key = Buffer.from(PREFIX + `state/ep/${ep.networkId}/stay`);
      const before = (await c.kv.range({ key })).kvs[0].lease;
      const restored = new Promise((r) => a.once('lease-restored', r));
      // What the etcd3 client does after 2 TTLs without an answer.
      (a as unknown as { lease: NodeJS.EventEmitter }).lease.emit('lost', new Error('test: lease given up'));
      await restored;
      const after = (await c.kv.range({ key })).kvs[0].lease;
      assert.notStrictEqual(after, before);
      assert.strictEqual(Number((await c.leaseClient.leaseTimeToLive({ ID: before })).TTL), -1, 'old lease revoked');
      assert.deepStrictEqual(conflicts, []);
      await sleep(300);
      assert.deepStrictEqual(events, [], 'no remove/add on the other host');
      assert.deepStrictEqual(a.ownEndpoints().map((e) => e.name), ['stay']);
      await a.deleteEndpoint('ov', 'stay');
    } finally {
      c.close();
    }
  });

  it('a broken watch (compacted history) resynchronises by listing', async () => {
    const a = await open('hostA', '10.9.0.1');
    const b = await open('hostB', '10.9.0.2');
    await a.createNetwork({ name: 'ov', subnet: '10.92.0.0/24' });
    await until(() => !!b.network('ov'), 5000, 'network on hostB');
    await a.createEndpoint({ network: 'ov', name: 'x' });
    const c = raw(etcd.store);
    try {
      const rev = (await c.kv.range({ key: Buffer.from('x') })).header.revision;
      await c.kv.compact({ revision: rev });
      const resynced = new Promise((r) => b.once('resync', r));
      // A watch from before the compaction is cancelled by etcd: the store must list again.
      (b as unknown as { startWatch(from: bigint): void }).startWatch(2n);
      await resynced;
      await until(() => b.peers('ov').length === 1, 5000, 'x on hostB after the resync');
    } finally {
      c.close();
    }
  });
});

describe('cluster store on a three-member etcd cluster', function () {
  this.timeout(120000);
  let etcd: EtcdCluster;
  const stores: ClusterStore[] = [];
  before(async function () {
    if (!haveEtcd()) this.skip();
    etcd = await startEtcd({ members: 3, basePort: 23890 });
  });
  after(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    if (etcd) await etcd.destroy();
  });

  it('keeps working with one member stopped; a host attached to the stopped member alone catches up on what it missed', async () => {
    const open = async (hostId: string, advertise: string, store = etcd.store) => {
      const s = await ClusterStore.connect({ store, advertise, hostId, prefix: PREFIX });
      stores.push(s);
      return s;
    };
    const a = await open('hostA', '10.9.0.1');
    const b = await open('hostB', '10.9.0.2');
    // hostC talks to member m0 only.
    const c = await open('hostC', '10.9.0.3', `etcd://${etcd.members[0].clientUrl.slice(7)}`);
    await a.createNetwork({ name: 'ov', subnet: '10.93.0.0/24' });
    await until(() => !!c.network('ov') && !!b.network('ov'), 5000, 'network everywhere');

    await etcd.members[0].stop();
    const t0 = Date.now();
    const eps = await Promise.all([a, b].flatMap((s, i) => [0, 1, 2].map((j) => s.createEndpoint({ network: 'ov', name: `e${i}${j}` }))));
    console.log(`      6 joins with one of three members down: ${Date.now() - t0} ms`);
    assert.strictEqual(new Set(eps.map((e) => e.ipv4)).size, 6);
    await until(() => a.peers('ov').length === 3 && b.peers('ov').length === 3, 10000, 'watches on the surviving members');
    await rejects(c.createEndpoint({ network: 'ov', name: 'c0' }), 'ENOTCONN');
    const cAdds: string[] = [];
    c.on('endpoint', (e: EndpointEvent) => e.type === 'add' && cAdds.push(e.endpoint.name));

    await etcd.members[0].start();
    await until(() => c.peers('ov').length === 6, 15000, 'hostC resynced after its member came back');
    assert.deepStrictEqual(cAdds.sort(), ['e00', 'e01', 'e02', 'e10', 'e11', 'e12']);
  });
});
