import * as assert from 'assert';
import { Rtnl } from '../src';
import { ip, ipj, rejects } from './helpers';

describe('route', () => {
  let rt: Rtnl;
  before(async () => {
    rt = await Rtnl.open();
    for (const [a, b, addr, addr6] of [['r0', 'r0p', '10.20.0.1/24', 'fd20::1/64'], ['r1', 'r1p', '10.21.0.1/24', 'fd21::1/64']]) {
      await rt.link.add({ kind: 'veth', name: a, peer: { name: b } });
      await rt.link.set(a, { up: true });
      await rt.link.set(b, { up: true });
      await rt.addr.add(a, addr);
      await rt.addr.add(a, { address: addr6, flags: ['nodad'] });
    }
  });
  after(async () => {
    await rt.link.delete('r0');
    await rt.link.delete('r1');
    rt.close();
  });

  const ipRoutes = (args: string[] = []) => ipj(['route', 'show', ...args]);

  it('adds gateway, device, default and typed routes that ip reads the same', async () => {
    await rt.route.add({ dst: '192.168.50.0/24', gateway: '10.20.0.5', metric: 7 });
    await rt.route.add({ dst: '192.168.51.0/24', dev: 'r1', prefsrc: '10.21.0.1' });
    await rt.route.add({ dst: 'default', gateway: '10.20.0.254' });
    await rt.route.add({ dst: '198.51.100.0/24', type: 'blackhole' });
    await rt.route.add({ dst: '198.51.101.0/24', type: 'unreachable' });
    await rt.route.add({ dst: '192.168.52.0/24', gateway: '10.20.0.6', table: 100 });
    await rt.route.add({ dst: 'fd99::/64', gateway: 'fd20::5' });
    await rt.route.add({ dst: '192.168.53.0/24', gateway: '10.20.0.7', mtu: 1400 });
    const theirs = ipRoutes();
    const find = (dst: string) => theirs.find((r: any) => r.dst === dst);
    assert.deepStrictEqual([find('192.168.50.0/24').gateway, find('192.168.50.0/24').dev, find('192.168.50.0/24').metric], ['10.20.0.5', 'r0', 7]);
    assert.deepStrictEqual([find('192.168.51.0/24').dev, find('192.168.51.0/24').prefsrc, find('192.168.51.0/24').scope], ['r1', '10.21.0.1', 'link']);
    assert.strictEqual(find('default').gateway, '10.20.0.254');
    assert.strictEqual(find('198.51.100.0/24').type, 'blackhole');
    assert.strictEqual(find('198.51.101.0/24').type, 'unreachable');
    assert.strictEqual(find('192.168.53.0/24').metrics[0].mtu, 1400);
    assert.strictEqual(ipRoutes(['table', '100'])[0].gateway, '10.20.0.6');
    assert.ok(ipj(['-6', 'route', 'show']).some((r: any) => r.dst === 'fd99::/64' && r.gateway === 'fd20::5'));
    // Ours list the same set.
    const ours = await rt.route.list({ family: 4 });
    assert.deepStrictEqual(ours.map((r) => r.dst).sort(), theirs.map((r: any) => r.dst === 'default' ? 'default' : r.dst.includes('/') ? r.dst : `${r.dst}/32`).sort());
    const def = ours.find((r) => r.dst === 'default')!;
    assert.deepStrictEqual([def.gateway, def.dev, def.protocol], ['10.20.0.254', (await rt.link.get('r0')).index, 'boot']);
    assert.strictEqual(ours.find((r) => r.dst === '198.51.100.0/24')!.type, 'blackhole');
    assert.strictEqual((await rt.route.list({ family: 4, table: 100 }))[0].gateway, '10.20.0.6');
    assert.strictEqual(ours.find((r) => r.dst === '192.168.53.0/24')!.mtu, 1400);
    // Kernel lookup, like `ip route get`.
    const got = await rt.route.get('192.168.50.9');
    assert.deepStrictEqual([got.gateway, got.prefsrc], ['10.20.0.5', '10.20.0.1']);
    const dflt = await rt.route.get('203.0.113.1');
    assert.strictEqual(dflt.gateway, '10.20.0.254');
    for (const dst of ['192.168.50.0/24', '192.168.51.0/24', 'default', '198.51.100.0/24', '198.51.101.0/24', '192.168.53.0/24']) {
      await rt.route.delete({ dst, ...(dst.startsWith('198') ? { type: dst.startsWith('198.51.100') ? 'blackhole' as const : 'unreachable' as const } : {}) });
    }
    await rt.route.delete({ dst: '192.168.52.0/24', table: 100 });
    await rt.route.delete({ dst: 'fd99::/64' });
    assert.deepStrictEqual(ipRoutes().map((r: any) => r.dst).sort(), ['10.20.0.0/24', '10.21.0.0/24']);
  });

  it('replaces routes and does ECMP multipath', async () => {
    await rt.route.add({ dst: '172.31.0.0/16', multipath: [{ gateway: '10.20.0.2', weight: 1 }, { gateway: '10.21.0.2', weight: 3 }] });
    const mp = ipRoutes().find((r: any) => r.dst === '172.31.0.0/16');
    assert.strictEqual(mp.nexthops.length, 2);
    assert.deepStrictEqual(mp.nexthops.map((n: any) => [n.gateway, n.weight]), [['10.20.0.2', 1], ['10.21.0.2', 3]]);
    const ours = (await rt.route.list({ family: 4 })).find((r) => r.dst === '172.31.0.0/16')!;
    assert.deepStrictEqual(ours.multipath!.map((n) => [n.gateway, n.weight]), [['10.20.0.2', 1], ['10.21.0.2', 3]]);
    await rt.route.replace({ dst: '172.31.0.0/16', gateway: '10.21.0.9' });
    const rep = ipRoutes().filter((r: any) => r.dst === '172.31.0.0/16');
    assert.strictEqual(rep.length, 1);
    assert.strictEqual(rep[0].gateway, '10.21.0.9');
    await rt.route.delete({ dst: '172.31.0.0/16' });
  });

  it('reads back what ip creates', async () => {
    ip(['route', 'add', '192.0.2.0/24', 'via', '10.20.0.3', 'metric', '55', 'proto', 'static']);
    ip(['route', 'add', 'blackhole', '192.0.3.0/24']);
    const ours = await rt.route.list({ family: 4 });
    const r = ours.find((x) => x.dst === '192.0.2.0/24')!;
    assert.deepStrictEqual([r.gateway, r.metric, r.protocol], ['10.20.0.3', 55, 'static']);
    assert.strictEqual(ours.find((x) => x.dst === '192.0.3.0/24')!.type, 'blackhole');
    ip(['route', 'del', '192.0.2.0/24']);
    ip(['route', 'del', 'blackhole', '192.0.3.0/24']);
  });

  it('rejects bad routes with typed errors', async () => {
    await rejects(rt.route.add({ dst: '10.0.0.0/99', gateway: '10.20.0.1' }), 'EINVAL');
    await rejects(rt.route.add({ dst: '10.0.0.0/8', gateway: 'fd00::1' }), 'EINVAL');
    await rejects(rt.route.add({ dst: '10.0.0.0/8', gateway: '1.2.3.4' }), 'ENETUNREACH');
    await rejects(rt.route.add({ dst: '10.0.0.0/8', dev: 'nosuch' }), 'ENODEV');
    // Bad input is reported as such, even with a link that does not exist.
    await rejects(rt.route.add({ dst: '10.0.0.0/99', dev: 'nosuch' }), 'EINVAL');
    await rejects(rt.route.replace({ dst: '10.0.0.0/8', gateway: 'fd00::1', dev: 'nosuch' }), 'EINVAL');
    await rejects(rt.route.add({ dst: '10.0.0.0/8', type: 'bogus' as any }), 'EINVAL');
    await rejects(rt.route.delete({ dst: '10.123.0.0/16' }), 'ESRCH');
    // Families that do not match, and what would be dropped, are refused rather than half sent.
    await rejects(rt.route.add({ dst: '10.0.0.0/8', dev: 'lo', prefsrc: 'fd00::1' }), 'EINVAL', /prefsrc fd00::1 is not IPv4/);
    await rejects(rt.route.get('10.0.0.5', { src: 'fd00::1' }), 'EINVAL', /source fd00::1 is not IPv4/);
    await rejects(rt.route.add({ dst: '10.0.0.0/8', gateway: '10.20.0.50', multipath: [{ gateway: '10.20.0.2' }, { gateway: '10.20.0.3' }] }), 'EINVAL', /gateway belongs in each nexthop/);
    await rejects(rt.route.add({ dst: '10.0.0.0/8', multipath: Array.from({ length: 300 }, () => ({ gateway: '10.20.0.2' })) }), 'EINVAL', /at most 256/);
    await rt.route.add({ dst: '10.124.0.0/16', gateway: '10.20.0.9' });
    await rejects(rt.route.add({ dst: '10.124.0.0/16', gateway: '10.20.0.9' }), 'EEXIST');
    await rt.route.delete({ dst: '10.124.0.0/16' });
  });
});
