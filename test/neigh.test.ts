import * as assert from 'assert';
import { Rtnl } from '../src';
import { bridgej, ip, ipj, rejects } from './helpers';

describe('neigh and fdb', () => {
  let rt: Rtnl;
  before(async () => {
    rt = await Rtnl.open();
    await rt.link.add({ kind: 'veth', name: 'n0', peer: { name: 'n0p' } });
    await rt.link.add({ kind: 'bridge', name: 'nbr0' });
    await rt.link.add({ kind: 'veth', name: 'n1', peer: { name: 'n1p' } });
    await rt.link.set('n1', { master: 'nbr0', up: true });
    await rt.link.add({ kind: 'vxlan', name: 'nvx0', vxlan: { id: 100, port: 4789, local: '10.30.0.1', learning: false } });
    for (const l of ['n0', 'nbr0', 'nvx0']) await rt.link.set(l, { up: true });
    await rt.addr.add('n0', '10.30.0.1/24');
    await rt.addr.add('n0', { address: 'fd30::1/64', flags: ['nodad'] });
  });
  after(async () => {
    for (const l of ['n0', 'n1', 'nbr0', 'nvx0']) await rt.link.delete(l);
    rt.close();
  });

  it('adds permanent ARP/NDP entries that ip reads the same, and back', async () => {
    await rt.neigh.add('n0', { dst: '10.30.0.9', lladdr: '02:00:00:00:30:09' });
    await rt.neigh.add('n0', { dst: 'fd30::9', lladdr: '02:00:00:00:30:19', state: 'reachable' });
    const theirs = ipj(['neigh', 'show', 'dev', 'n0']);
    const v4 = theirs.find((n: any) => n.dst === '10.30.0.9');
    assert.deepStrictEqual([v4.lladdr, v4.state], ['02:00:00:00:30:09', ['PERMANENT']]);
    assert.ok(theirs.some((n: any) => n.dst === 'fd30::9' && n.lladdr === '02:00:00:00:30:19'));
    ip(['neigh', 'add', '10.30.0.10', 'lladdr', '02:00:00:00:30:10', 'dev', 'n0', 'nud', 'noarp']);
    const ours = await rt.neigh.list({ link: 'n0' });
    assert.deepStrictEqual(ours.find((n) => n.dst === '10.30.0.9')!.state, ['permanent']);
    assert.deepStrictEqual(ours.find((n) => n.dst === '10.30.0.10')!.state, ['noarp']);
    assert.strictEqual(ours.find((n) => n.dst === 'fd30::9')!.family, 6);
    await rt.neigh.replace('n0', { dst: '10.30.0.9', lladdr: '02:00:00:00:30:99' });
    assert.strictEqual(ipj(['neigh', 'show', 'dev', 'n0']).find((n: any) => n.dst === '10.30.0.9').lladdr, '02:00:00:00:30:99');
    await rt.neigh.delete('n0', { dst: '10.30.0.9' });
    await rt.neigh.delete('n0', { dst: '10.30.0.10' });
    await rt.neigh.delete('n0', { dst: 'fd30::9' });
    assert.ok(!ipj(['neigh', 'show', 'dev', 'n0']).some((n: any) => ['10.30.0.9', '10.30.0.10'].includes(n.dst)));
  });

  it('adds proxy entries', async () => {
    await rt.neigh.add('n0', { dst: '10.30.0.77', proxy: true });
    assert.ok(ipj(['neigh', 'show', 'proxy']).some((n: any) => n.dst === '10.30.0.77'));
    assert.ok((await rt.neigh.list({ proxy: true })).some((n) => n.dst === '10.30.0.77'));
    await rt.neigh.delete('n0', { dst: '10.30.0.77', proxy: true });
    assert.ok(!ipj(['neigh', 'show', 'proxy']).some((n: any) => n.dst === '10.30.0.77'));
  });

  it('programs bridge and vxlan FDB entries like bridge fdb', async () => {
    await rt.neigh.fdbAdd('n1', { lladdr: '02:00:00:00:31:01', master: true, state: 'noarp' });
    await rt.neigh.fdbAppend('nvx0', { lladdr: '00:00:00:00:00:00', self: true, dst: '10.30.0.2' });
    await rt.neigh.fdbAdd('nvx0', { lladdr: '02:00:00:00:31:02', self: true, dst: '10.30.0.3', vni: 200 });
    const theirs = bridgej(['fdb', 'show']);
    const br = theirs.find((f: any) => f.mac === '02:00:00:00:31:01');
    assert.deepStrictEqual([br.ifname, br.master, br.state], ['n1', 'nbr0', 'static']);
    const vx = theirs.find((f: any) => f.mac === '02:00:00:00:31:02');
    assert.deepStrictEqual([vx.ifname, vx.dst, vx.vni], ['nvx0', '10.30.0.3', 200]);
    assert.ok(theirs.some((f: any) => f.mac === '00:00:00:00:00:00' && f.dst === '10.30.0.2'));
    ip(['link', 'show']);  // keep ip happy
    const ours = await rt.neigh.fdbList({ link: 'nvx0' });
    const o = ours.find((f) => f.lladdr === '02:00:00:00:31:02')!;
    assert.deepStrictEqual([o.dst, o.vni, o.family], ['10.30.0.3', 200, 'bridge']);
    assert.ok(o.flags.includes('self'));
    assert.ok((await rt.neigh.fdbList({ master: 'nbr0' })).some((f) => f.lladdr === '02:00:00:00:31:01'));
    await rt.neigh.fdbDelete('n1', { lladdr: '02:00:00:00:31:01', master: true });
    await rt.neigh.fdbDelete('nvx0', { lladdr: '02:00:00:00:31:02', self: true, dst: '10.30.0.3', vni: 200 });
    assert.ok(!bridgej(['fdb', 'show']).some((f: any) => ['02:00:00:00:31:01', '02:00:00:00:31:02'].includes(f.mac)));
  });

  it('rejects bad neighbours', async () => {
    await rejects(rt.neigh.add('n0', { dst: '10.30.0.500', lladdr: '02:00:00:00:00:01' }), 'EINVAL');
    await rejects(rt.neigh.add('n0', { dst: '10.30.0.5', lladdr: 'zz' }), 'EINVAL');
    await rejects(rt.neigh.add('n0', { dst: '10.30.0.5', state: 'bogus' as any }), 'EINVAL');
    await rejects(rt.neigh.add('nosuch', { dst: '10.30.0.5', lladdr: '02:00:00:00:00:01' }), 'ENODEV');
    await rejects(rt.neigh.delete('n0', { dst: '10.30.0.55' }), 'ENOENT');
    await rejects(rt.neigh.fdbAdd('n1', { lladdr: '03:00:00:00:00:01' }), 'EINVAL');
  });
});
